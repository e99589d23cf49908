/* Elementwise ops as scalar LLVM IR: the bodies of fused loops (llvm_internal.h).
 *
 * Each case computes exactly what the dense kernel of the unfused op computes per element, in
 * the same order of IEEE operations and without fast-math flags, so a JIT'd fused loop gives
 * the interpreter's bits (runtime/kernels/elementwise.c is the reference for every line here).
 * Loops of pure arithmetic vectorise without reassociation; so do exp, tanh, sigmoid and gelu,
 * which are k_math.h's branch-free float code written out in IR (below).
 */
#include <math.h>
#include <string.h>

#include "llvm_internal.h"

void atl_llvm_types_init(atl_llvm_types *t, LLVMContextRef ctx)
{
    t->ctx = ctx;
    t->v = LLVMVoidTypeInContext(ctx);
    t->f32 = LLVMFloatTypeInContext(ctx);
    t->i1 = LLVMInt1TypeInContext(ctx);
    t->i8 = LLVMInt8TypeInContext(ctx);
    t->i32 = LLVMInt32TypeInContext(ctx);
    t->i64 = LLVMInt64TypeInContext(ctx);
    t->ptr = LLVMPointerTypeInContext(ctx, 0);
}

LLVMValueRef atl_llvm_host_fn(LLVMModuleRef mod, const char *name, LLVMTypeRef fty)
{
    LLVMValueRef fn = LLVMGetNamedFunction(mod, name);
    if (fn)
        return fn;
    fn = LLVMAddFunction(mod, name, fty);
    LLVMContextRef ctx = LLVMGetModuleContext(mod);
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(ctx, nounwind, 0));
    return fn;
}

/* ---- atl's float math as IR: runtime/kernels/k_math.h, operation for operation ------------------
 *
 * The array kernels of the interpreter evaluate k_math.h's functions (compiled by GCC with
 * -ffp-contract=off: plain IEEE + - * / and bit operations, selects instead of branches). The
 * same sequence of operations in LLVM IR, without fast-math flags (no reassociation, no
 * contraction), gives the same bits in every vector lane, and LLVM vectorises it inside the fused
 * loops. Every constant below is k_math.h's float literal. test_jit compares these functions
 * with the runtime's scalar forms (atl_k_expf, ...) bit for bit over a sweep of float patterns,
 * so a change of k_math.h without the same change here fails a test. */

typedef struct fb {
    LLVMBuilderRef b;
    LLVMModuleRef mod;
    const atl_llvm_types *t;
} fb;

static LLVMValueRef K(fb *f, float v) { return LLVMConstReal(f->t->f32, (double)v); }
static LLVMValueRef fad(fb *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(f->b, a, b, ""); }
static LLVMValueRef fsb(fb *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(f->b, a, b, ""); }
static LLVMValueRef fml(fb *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(f->b, a, b, ""); }
static LLVMValueRef fdv(fb *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(f->b, a, b, ""); }
static LLVMValueRef cmp(fb *f, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildFCmp(f->b, p, a, b, "");
}
static LLVMValueRef sel(fb *f, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(f->b, c, a, b, "");
}
/* p * v + c, Horner's step as k_math.h writes it */
static LLVMValueRef horner(fb *f, LLVMValueRef p, LLVMValueRef v, LLVMValueRef c)
{
    return fad(f, fml(f, p, v), c);
}

static LLVMValueRef intrinsic1(fb *f, const char *name, LLVMValueRef x)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef ty = f->t->f32;
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(f->mod, id, &ty, 1);
    return LLVMBuildCall2(f->b, LLVMIntrinsicGetType(f->t->ctx, id, &ty, 1), fn, &x, 1, "");
}
static LLVMValueRef fabs_(fb *f, LLVMValueRef x) { return intrinsic1(f, "llvm.fabs", x); }
static LLVMValueRef copysign_(fb *f, LLVMValueRef mag, LLVMValueRef sgn)
{
    unsigned id = LLVMLookupIntrinsicID("llvm.copysign", 13);
    LLVMTypeRef ty = f->t->f32;
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(f->mod, id, &ty, 1);
    LLVMValueRef a[2] = {mag, sgn};
    return LLVMBuildCall2(f->b, LLVMIntrinsicGetType(f->t->ctx, id, &ty, 1), fn, a, 2, "");
}

/* k_expf */
static LLVMValueRef ir_expf(fb *f, LLVMValueRef x)
{
    LLVMValueRef xc = sel(f, cmp(f, LLVMRealOGT, x, K(f, -104.0f)), x, K(f, -104.0f));
    xc = sel(f, cmp(f, LLVMRealOLT, xc, K(f, 89.0f)), xc, K(f, 89.0f));
    LLVMValueRef shifter = K(f, 12582912.0f);
    LLVMValueRef kf = fsb(f, fad(f, fml(f, xc, K(f, 1.44269504088896341f)), shifter), shifter);
    LLVMValueRef r = fsb(f, fsb(f, xc, fml(f, kf, K(f, 0.693359375f))),
                         fml(f, kf, K(f, -2.12194440e-4f)));
    LLVMValueRef p = K(f, 1.97903268e-4f);
    p = horner(f, p, r, K(f, 1.39446545e-3f));
    p = horner(f, p, r, K(f, 8.33349675e-3f));
    p = horner(f, p, r, K(f, 4.16662954e-2f));
    p = horner(f, p, r, K(f, 1.66666657e-1f));
    p = horner(f, p, r, K(f, 0.5f));
    LLVMValueRef er = fad(f, K(f, 1.0f), fad(f, r, fml(f, fml(f, r, r), p)));
    LLVMTypeRef i32 = f->t->i32;
    LLVMValueRef n = LLVMBuildFPToSI(f->b, kf, i32, "");
    LLVMValueRef n1 = LLVMBuildSDiv(f->b, n, LLVMConstInt(i32, 2, 0), "");
    LLVMValueRef n2 = LLVMBuildSub(f->b, n, n1, "");
    LLVMValueRef b127 = LLVMConstInt(i32, 127, 0), sh = LLVMConstInt(i32, 23, 0);
    LLVMValueRef s1 = LLVMBuildBitCast(
        f->b, LLVMBuildShl(f->b, LLVMBuildAdd(f->b, n1, b127, ""), sh, ""), f->t->f32, "");
    LLVMValueRef s2 = LLVMBuildBitCast(
        f->b, LLVMBuildShl(f->b, LLVMBuildAdd(f->b, n2, b127, ""), sh, ""), f->t->f32, "");
    LLVMValueRef y = fml(f, fml(f, er, s1), s2);
    return sel(f, cmp(f, LLVMRealOEQ, x, x), y, x);
}

/* k_exp_neg_half_sq: exp(-a^2/2) for a >= 0 */
static LLVMValueRef ir_exp_neg_half_sq(fb *f, LLVMValueRef a)
{
    LLVMValueRef ac = sel(f, cmp(f, LLVMRealOLT, a, K(f, 20.0f)), a, K(f, 20.0f));
    LLVMTypeRef i32 = f->t->i32;
    LLVMValueRef bits = LLVMBuildBitCast(f->b, ac, i32, "");
    LLVMValueRef ah = LLVMBuildBitCast(
        f->b, LLVMBuildAnd(f->b, bits, LLVMConstInt(i32, 0xfffff000u, 0), ""), f->t->f32, "");
    LLVMValueRef d = fml(f, K(f, 0.5f), fml(f, fsb(f, ac, ah), fad(f, ac, ah)));
    LLVMValueRef one = K(f, 1.0f);
    LLVMValueRef p = fsb(f, one, fml(f, d, K(f, 0.2f)));
    p = fsb(f, one, fml(f, fml(f, d, K(f, 0.25f)), p));
    p = fsb(f, one, fml(f, fml(f, d, K(f, 1.0f / 3.0f)), p));
    p = fsb(f, one, fml(f, fml(f, d, K(f, 0.5f)), p));
    p = fsb(f, one, fml(f, d, p));
    return fml(f, ir_expf(f, fml(f, K(f, -0.5f), fml(f, ah, ah))), p);
}

typedef struct ir_cdf {
    LLVMValueRef small, q, u, e, is_small;
} ir_cdf;

/* k_cdf_parts */
static ir_cdf ir_cdf_parts(fb *f, LLVMValueRef x)
{
    static const float near_c[10] = {-2.48090131e-3f, -2.92675663e-2f, 6.32221475e-2f,
                                     -7.93524012e-2f, 8.22418556e-2f,  -6.12824559e-2f,
                                     -2.48464965e-3f, 1.31798312e-1f,  -3.56265277e-1f,
                                     7.14048922e-1f};
    static const float far_c[10] = {35.077007f,     -13.9409704f,   -4.18931246f,  5.39200115f,
                                    -1.96624029f,   -4.72285479e-1f, 1.06873703f,  -5.19071639e-1f,
                                    -3.25268239e-1f, 9.64040518e-1f};
    ir_cdf c;
    LLVMValueRef a = fabs_(f, x);
    LLVMValueRef t = fml(f, x, x);
    LLVMValueRef s = K(f, -8.13032329e-6f);
    s = horner(f, s, t, K(f, 1.14376104e-4f));
    s = horner(f, s, t, K(f, -1.18690962e-3f));
    s = horner(f, s, t, K(f, 9.97347478e-3f));
    s = horner(f, s, t, K(f, -6.64903745e-2f));
    s = horner(f, s, t, K(f, 3.98942292e-1f));
    c.small = fml(f, x, s);
    c.e = ir_exp_neg_half_sq(f, a);
    c.u = fdv(f, K(f, 1.0f), sel(f, cmp(f, LLVMRealOGT, a, K(f, 0.5f)), a, K(f, 0.5f)));
    LLVMValueRef far = cmp(f, LLVMRealOLT, c.u, K(f, 0.4f));
    LLVMValueRef v = fsb(f, c.u, sel(f, far, K(f, 0.2f), K(f, 0.825f)));
    LLVMValueRef g = sel(f, far, K(f, far_c[0]), K(f, near_c[0]));
    for (int i = 1; i < 10; i++)
        g = horner(f, g, v, sel(f, far, K(f, far_c[i]), K(f, near_c[i])));
    c.q = fml(f, fml(f, c.e, K(f, 0.398942280401432678f)), g);
    c.is_small = cmp(f, LLVMRealOLE, a, K(f, 0.8f));
    return c;
}

/* k_gelu */
static LLVMValueRef ir_gelu(fb *f, LLVMValueRef x)
{
    ir_cdf c = ir_cdf_parts(f, x);
    LLVMValueRef big = sel(f, cmp(f, LLVMRealOLT, x, K(f, 0.0f)), LLVMBuildFNeg(f->b, c.q, ""),
                           fsb(f, x, c.q));
    return sel(f, c.is_small, fml(f, x, fad(f, K(f, 0.5f), c.small)), big);
}

/* k_gelu_grad */
static LLVMValueRef ir_gelu_grad(fb *f, LLVMValueRef x)
{
    ir_cdf c = ir_cdf_parts(f, x);
    LLVMValueRef tail = fml(f, c.q, c.u);
    LLVMValueRef big = sel(f, cmp(f, LLVMRealOLT, x, K(f, 0.0f)), tail, fsb(f, K(f, 1.0f), tail));
    LLVMValueRef cdf = sel(f, c.is_small, fad(f, K(f, 0.5f), c.small), big);
    LLVMValueRef d = fml(f, x, fml(f, c.e, K(f, 0.398942280401432678f)));
    LLVMValueRef inf = LLVMBuildOr(f->b, cmp(f, LLVMRealOEQ, x, K(f, -INFINITY)),
                                   cmp(f, LLVMRealOEQ, x, K(f, INFINITY)), "");
    LLVMValueRef r = fad(f, cdf, sel(f, inf, K(f, 0.0f), d));
    return sel(f, cmp(f, LLVMRealOEQ, x, x), r, x);
}

/* k_tanhf */
static LLVMValueRef ir_tanhf(fb *f, LLVMValueRef x)
{
    LLVMValueRef a = fabs_(f, x);
    LLVMValueRef t = fml(f, x, x);
    LLVMValueRef p = K(f, -5.70502831e-3f);
    p = horner(f, p, t, K(f, 2.06391234e-2f));
    p = horner(f, p, t, K(f, -5.37397265e-2f));
    p = horner(f, p, t, K(f, 1.33314416e-1f));
    p = horner(f, p, t, K(f, -3.33332807e-1f));
    LLVMValueRef small = copysign_(f, fad(f, x, fml(f, x, fml(f, t, p))), x);
    LLVMValueRef ac = sel(f, cmp(f, LLVMRealOLT, a, K(f, 20.0f)), a, K(f, 20.0f));
    LLVMValueRef e = ir_expf(f, fml(f, K(f, 2.0f), ac));
    LLVMValueRef big =
        copysign_(f, fsb(f, K(f, 1.0f), fdv(f, K(f, 2.0f), fad(f, e, K(f, 1.0f)))), x);
    return sel(f, cmp(f, LLVMRealOLT, a, K(f, 0.625f)), small,
               sel(f, cmp(f, LLVMRealOEQ, x, x), big, x));
}

/* k_sigmoidf */
static LLVMValueRef ir_sigmoidf(fb *f, LLVMValueRef x)
{
    LLVMValueRef e = ir_expf(f, LLVMBuildFNeg(f->b, fabs_(f, x), ""));
    LLVMValueRef d = fad(f, K(f, 1.0f), e);
    return sel(f, cmp(f, LLVMRealOLT, x, K(f, 0.0f)), fdv(f, e, d), fdv(f, K(f, 1.0f), d));
}

bool atl_llvm_scalar_supported(atl_op op)
{
    switch (op) {
    case ATL_OP_ADD:
    case ATL_OP_SUB:
    case ATL_OP_MUL:
    case ATL_OP_DIV:
    case ATL_OP_NEG:
    case ATL_OP_SCALE:
    case ATL_OP_ADD_SCALAR:
    case ATL_OP_GELU:
    case ATL_OP_RELU:
    case ATL_OP_TANH:
    case ATL_OP_SIGMOID:
    case ATL_OP_EXP:
    case ATL_OP_GELU_GRAD:
    case ATL_OP_RELU_GRAD:
    case ATL_OP_TANH_GRAD:
    case ATL_OP_SIGMOID_GRAD:
        return true;
    default:
        return false;
    }
}

LLVMValueRef atl_llvm_scalar(LLVMBuilderRef b, LLVMModuleRef mod, const atl_llvm_types *t,
                             const atl_fins *in, LLVMValueRef x, LLVMValueRef y)
{
    LLVMValueRef zero = LLVMConstReal(t->f32, 0.0), one = LLVMConstReal(t->f32, 1.0);
    fb f = {b, mod, t};
    switch (in->op) {
    case ATL_OP_ADD:
        return LLVMBuildFAdd(b, x, y, "");
    case ATL_OP_SUB:
        return LLVMBuildFSub(b, x, y, "");
    case ATL_OP_MUL:
        return LLVMBuildFMul(b, x, y, "");
    case ATL_OP_DIV:
        return LLVMBuildFDiv(b, x, y, "");
    case ATL_OP_NEG:
        return LLVMBuildFNeg(b, x, "");
    case ATL_OP_SCALE: /* s * x */
        return LLVMBuildFMul(b, LLVMConstReal(t->f32, (double)(float)in->c[0]), x, "");
    case ATL_OP_ADD_SCALAR: /* x + s */
        return LLVMBuildFAdd(b, x, LLVMConstReal(t->f32, (double)(float)in->c[0]), "");
    case ATL_OP_RELU: /* x < 0 ? 0 : x + 0 (maps -0 to +0, NaN stays NaN) */
        return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, zero, ""), zero,
                               LLVMBuildFAdd(b, x, zero, ""), "");
    case ATL_OP_RELU_GRAD: /* x > 0 ? dy : 0 */
        return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, zero, ""), y, zero, "");
    case ATL_OP_TANH_GRAD: /* dy * (1 - y y), y the forward output */
        return LLVMBuildFMul(b, y, LLVMBuildFSub(b, one, LLVMBuildFMul(b, x, x, ""), ""), "");
    case ATL_OP_SIGMOID_GRAD: /* dy * y * (1 - y) */
        return LLVMBuildFMul(b, LLVMBuildFMul(b, y, x, ""), LLVMBuildFSub(b, one, x, ""), "");
    case ATL_OP_GELU:
        return ir_gelu(&f, x);
    case ATL_OP_GELU_GRAD: /* dy * gelu'(x) */
        return LLVMBuildFMul(b, y, ir_gelu_grad(&f, x), "");
    case ATL_OP_TANH:
        return ir_tanhf(&f, x);
    case ATL_OP_SIGMOID:
        return ir_sigmoidf(&f, x);
    case ATL_OP_EXP:
        return ir_expf(&f, x);
    default:
        return NULL;
    }
}
