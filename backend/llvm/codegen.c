/* Code generation: a scheduled atl module -> one LLVM module (llvm_internal.h).
 *
 * The module holds the step function (ENTRY(arena, slots), the ABI is described in
 * llvm_internal.h) and one kernel function per distinct elementwise loop. The step function is
 * the schedule, straight-line: for every node, a call. What each op becomes is one row of
 * `lowerings` below, a parallel table to ops.def:
 *
 *   NONE    nothing to run: inputs, parameters and reshape views only name storage;
 *   CALL    a call of a host function (symbols.c) whose arguments are described by a small
 *           template (see `spec` below): operand/result pointers, shapes, attributes, tiles;
 *   KERNEL  elementwise ops and fused nodes: a loop nest over the result, generated here, with
 *           the expression's scalar IR (scalar.c) as the body;
 *   CUSTOM  the few ops whose arguments need computing (slices, concat, SGD);
 *   UNSUPPORTED  ops the JIT cannot run (codegen reports them).
 *
 * An op that lowers to "call runtime function F with these pointers and constants" (every analog
 * op will) is one CALL row. Arena offsets and shapes are constants; the kernels are named by a
 * hash of (expression, loop shape, strides), so equal kernels are emitted once per module and,
 * through the session's kernel set, once per JIT session.
 */
#include <assert.h>
#include <llvm-c/Analysis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llvm_internal.h"
#include "pass.h"

/* ---- small sets ----------------------------------------------------------------------------- */

const char *atl_kernel_set_sig(const atl_kernel_set *s, const char *name)
{
    for (int i = 0; s && i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return s->sigs[i];
    return NULL;
}

void atl_kernel_set_add(atl_kernel_set *s, const char *name, const char *sig)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->names = realloc(s->names, sizeof *s->names * (size_t)s->cap);
        s->sigs = realloc(s->sigs, sizeof *s->sigs * (size_t)s->cap);
        if (!s->names || !s->sigs)
            abort();
    }
    s->names[s->n] = strdup(name);
    s->sigs[s->n] = strdup(sig);
    if (!s->names[s->n] || !s->sigs[s->n])
        abort();
    s->n++;
}

void atl_kernel_set_free(atl_kernel_set *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->names[i]);
        free(s->sigs[i]);
    }
    free(s->names);
    free(s->sigs);
    memset(s, 0, sizeof *s);
}

void atl_cg_layout_free(atl_cg_layout *l)
{
    free(l->slots);
    atl_kernel_set_free(&l->new_kernels);
    memset(l, 0, sizeof *l);
}

/* ---- code generation state ------------------------------------------------------------------- */

typedef struct cg {
    const atl_llvm_host *host;
    atl_llvm_types t;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    const atl_module *m;
    const atl_func *f;
    const atl_kernel_set *known;
    bool profile;
    atl_cg_layout *layout;
    LLVMValueRef arena, slots; /* entry arguments */
    int cap_slots;
    int n_consts;
    char *err;
    size_t errlen;
    int failed;
} cg;

static void cg_fail(cg *c, const char *fmt, ...) ATL_PRINTF(2, 3);
static void cg_fail(cg *c, const char *fmt, ...)
{
    if (c->failed++)
        return; /* keep the first message */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
}

static LLVMValueRef i64c(cg *c, int64_t v) { return LLVMConstInt(c->t.i64, (unsigned long long)v, 1); }
static LLVMValueRef i32c(cg *c, int64_t v) { return LLVMConstInt(c->t.i32, (unsigned long long)v, 1); }

/* index of a slot (kind, name), added on first use */
static int slot_index(cg *c, atl_slot_kind kind, const char *name)
{
    atl_cg_layout *l = c->layout;
    for (int i = 0; i < l->n_slots; i++)
        if (l->slots[i].kind == kind && strcmp(l->slots[i].name, name) == 0)
            return i;
    if (l->n_slots == c->cap_slots) {
        c->cap_slots = c->cap_slots ? 2 * c->cap_slots : 64;
        l->slots = realloc(l->slots, sizeof *l->slots * (size_t)c->cap_slots);
        if (!l->slots)
            abort();
    }
    l->slots[l->n_slots] = (atl_cg_slot){kind, name};
    return l->n_slots++;
}

static LLVMValueRef load_slot(cg *c, atl_slot_kind kind, const char *name)
{
    LLVMValueRef idx = i64c(c, slot_index(c, kind, name));
    LLVMValueRef p = LLVMBuildGEP2(c->b, c->t.ptr, c->slots, &idx, 1, "");
    return LLVMBuildLoad2(c->b, c->t.ptr, p, name);
}

/* The storage of node i: a parameter, a bound input, or arena + offset (reshapes are views). */
static LLVMValueRef node_ptr(cg *c, int32_t i)
{
    int32_t r = atl_node_storage_root(c->f, i);
    const atl_node *nd = &c->f->nodes[r];
    if (nd->op == ATL_OP_PARAM)
        return load_slot(c, ATL_SLOT_PARAM, atl_node_attr_str(nd, "name"));
    if (nd->op == ATL_OP_INPUT)
        return load_slot(c, ATL_SLOT_INPUT, atl_node_attr_str(nd, "name"));
    if (nd->arena < 0) {
        cg_fail(c, "node %%%d (%s) has no arena offset: run the schedule pass", r,
                atl_op_name(nd->op));
        return LLVMConstNull(c->t.ptr);
    }
    LLVMValueRef off = i64c(c, nd->arena);
    return LLVMBuildInBoundsGEP2(c->b, c->t.i8, c->arena, &off, 1, "");
}

/* a private constant i64 array (shapes, permutations) */
static LLVMValueRef const_i64s(cg *c, const int64_t *v, int n)
{
    LLVMValueRef el[ATL_MAX_RANK * 2 + 1];
    if (n > (int)(sizeof el / sizeof el[0])) {
        cg_fail(c, "constant array too long");
        n = 0;
    }
    for (int i = 0; i < n; i++)
        el[i] = i64c(c, v[i]);
    if (n == 0)
        el[n++] = i64c(c, 0); /* rank 0: a valid pointer to nothing used */
    LLVMValueRef init = LLVMConstArray2(c->t.i64, el, (uint64_t)n);
    char name[32];
    snprintf(name, sizeof name, ".c%d", c->n_consts++);
    LLVMValueRef g = LLVMAddGlobal(c->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    return g;
}

/* ---- host calls -------------------------------------------------------------------------------- */

#define MAX_ARGS 16

typedef struct call {
    LLVMValueRef v[MAX_ARGS];
    LLVMTypeRef t[MAX_ARGS];
    unsigned zext[MAX_ARGS]; /* bool arguments: i1 zeroext (the C ABI of _Bool) */
    int n;
} call;

static void arg(cg *c, call *k, LLVMValueRef v, LLVMTypeRef t)
{
    if (k->n == MAX_ARGS) {
        cg_fail(c, "too many call arguments");
        return;
    }
    k->zext[k->n] = t == c->t.i1;
    k->v[k->n] = v;
    k->t[k->n++] = t;
}

static LLVMValueRef emit_call(cg *c, const char *fn, LLVMTypeRef ret, call *k)
{
    if (!atl_jit_symbol_find(fn)) {
        cg_fail(c, "internal: %s is not in the JIT's host symbol table (symbols.c)", fn);
        return NULL;
    }
    LLVMTypeRef fty = LLVMFunctionType(ret, k->t, (unsigned)k->n, 0);
    LLVMValueRef f = LLVMGetNamedFunction(c->mod, fn);
    if (f && LLVMGlobalGetValueType(f) != fty) {
        cg_fail(c, "internal: %s called with two different signatures", fn);
        return NULL;
    }
    if (!f) {
        f = atl_llvm_host_fn(c->mod, fn, fty);
        unsigned zx = LLVMGetEnumAttributeKindForName("zeroext", 7);
        for (int i = 0; i < k->n; i++)
            if (k->zext[i])
                LLVMAddAttributeAtIndex(f, (LLVMAttributeIndex)(i + 1),
                                        LLVMCreateEnumAttribute(c->t.ctx, zx, 0));
    }
    LLVMValueRef r = LLVMBuildCall2(c->b, fty, f, k->v, (unsigned)k->n, "");
    c->layout->n_host_calls++;
    return r;
}

static int norm_axis(int64_t a, int rank) { return (int)(a < 0 ? a + rank : a); }

static const atl_type *spec_type(cg *c, const atl_node *nd, const char *which)
{
    if (which[0] == 'y')
        return &nd->type;
    int k = which[1] - '0';
    if (which[0] != 'x' || k < 0 || k >= nd->n_src) {
        cg_fail(c, "internal: bad spec operand '%s' for %s", which, atl_op_name(nd->op));
        return &nd->type;
    }
    return &c->f->nodes[nd->src[k]].type;
}

/* Argument templates of CALL rows: space-separated items, each one or more arguments:
 *   y, xK        result / operand K pointer           xK/N?   operand K if the node has N
 *   n, nK        i64 element count                               operands, else NULL
 *   rank:T       i32 rank of T (T = y or xK)          dims:T  pointer to T's dims (const i64[])
 *   rows:T       i64 elements / last dim              last:T  i64 last dim
 *   irows:T      i32 elements / last dim (the C `int m` of the tile API)
 *   tile:A       the runtime tile named by string attribute A (a slot)
 *   dim0:T dim1:T  i64 dims                           rowlen:T  i64 elements / dim 0
 *   split:T      3 x i64 (outer, n, inner) of T around the node's `axis` attribute
 *   f:A i:A b:A  float / i64 / bool attribute A       load:xK  float value of operand K
 *   axes:A       pointer to list attribute A with negative axes normalised by the result rank
 *   ints:A       pointer to list attribute A as is    nattr:A  i32 length of list attribute A
 */
static void spec_args(cg *c, const atl_node *nd, int32_t i, const char *spec, call *k)
{
    char item[48];
    const char *p = spec;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == 0)
            break;
        if (len >= sizeof item) {
            cg_fail(c, "internal: spec item too long");
            return;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        p += len;
        char *colon = strchr(item, ':');
        const char *a = colon ? colon + 1 : NULL;
        if (colon)
            *colon = '\0';
        if (strcmp(item, "y") == 0) {
            arg(c, k, node_ptr(c, i), c->t.ptr);
        } else if (item[0] == 'x' && item[1] >= '0' && item[1] <= '9' && item[2] == '\0') {
            int s = item[1] - '0';
            if (s >= nd->n_src) {
                cg_fail(c, "internal: %s has no operand %d", atl_op_name(nd->op), s);
                return;
            }
            arg(c, k, node_ptr(c, nd->src[s]), c->t.ptr);
        } else if (item[0] == 'x' && item[2] == '/' && item[4] == '?') {
            int s = item[1] - '0', want = item[3] - '0';
            arg(c, k, nd->n_src == want ? node_ptr(c, nd->src[s]) : LLVMConstNull(c->t.ptr),
                c->t.ptr);
        } else if (item[0] == 'n' && (item[1] == '\0' || item[2] == '\0')) {
            const atl_type *t = item[1] ? spec_type(c, nd, (char[]){'x', item[1], 0}) : &nd->type;
            arg(c, k, i64c(c, atl_type_numel(t)), c->t.i64);
        } else if (strcmp(item, "rank") == 0) {
            arg(c, k, i32c(c, spec_type(c, nd, a)->rank), c->t.i32);
        } else if (strcmp(item, "dims") == 0) {
            const atl_type *t = spec_type(c, nd, a);
            arg(c, k, const_i64s(c, t->dims, t->rank), c->t.ptr);
        } else if (strcmp(item, "rows") == 0 || strcmp(item, "last") == 0) {
            const atl_type *t = spec_type(c, nd, a);
            int64_t last = t->rank ? t->dims[t->rank - 1] : 1;
            arg(c, k, i64c(c, item[0] == 'r' ? atl_type_numel(t) / last : last), c->t.i64);
        } else if (strcmp(item, "irows") == 0) {
            const atl_type *t = spec_type(c, nd, a);
            int64_t last = t->rank ? t->dims[t->rank - 1] : 1;
            arg(c, k, i32c(c, atl_type_numel(t) / last), c->t.i32);
        } else if (strcmp(item, "tile") == 0) {
            const char *name = atl_node_attr_str(nd, a);
            if (!name) {
                cg_fail(c, "internal: %s has no string attribute %s", atl_op_name(nd->op), a);
                return;
            }
            arg(c, k, load_slot(c, ATL_SLOT_TILE, name), c->t.ptr);
        } else if (strcmp(item, "dim0") == 0 || strcmp(item, "dim1") == 0) {
            const atl_type *t = spec_type(c, nd, a);
            int d = item[3] - '0';
            arg(c, k, i64c(c, d < t->rank ? t->dims[d] : 1), c->t.i64);
        } else if (strcmp(item, "rowlen") == 0) {
            const atl_type *t = spec_type(c, nd, a);
            arg(c, k, i64c(c, atl_type_numel(t) / (t->rank ? t->dims[0] : 1)), c->t.i64);
        } else if (strcmp(item, "split") == 0) {
            const atl_type *t = spec_type(c, nd, a);
            int axis = norm_axis(atl_node_attr_int(nd, "axis"), t->rank);
            int64_t o = 1, in = 1;
            for (int d = 0; d < axis; d++)
                o *= t->dims[d];
            for (int d = axis + 1; d < t->rank; d++)
                in *= t->dims[d];
            arg(c, k, i64c(c, o), c->t.i64);
            arg(c, k, i64c(c, t->dims[axis]), c->t.i64);
            arg(c, k, i64c(c, in), c->t.i64);
        } else if (strcmp(item, "f") == 0) {
            arg(c, k, LLVMConstReal(c->t.f32, (double)(float)atl_node_attr_float(nd, a)),
                c->t.f32);
        } else if (strcmp(item, "i") == 0) {
            arg(c, k, i64c(c, atl_node_attr_int(nd, a)), c->t.i64);
        } else if (strcmp(item, "b") == 0) {
            arg(c, k, LLVMConstInt(c->t.i1, atl_node_attr_bool(nd, a), 0), c->t.i1);
        } else if (strcmp(item, "load") == 0) {
            LLVMValueRef ptr = node_ptr(c, nd->src[a[1] - '0']);
            arg(c, k, LLVMBuildLoad2(c->b, c->t.f32, ptr, ""), c->t.f32);
        } else if (strcmp(item, "axes") == 0 || strcmp(item, "ints") == 0 ||
                   strcmp(item, "nattr") == 0) {
            const atl_attr *at = atl_node_attr(nd, a);
            if (!at || at->kind != ATL_ATTR_INTS || at->n > ATL_MAX_RANK * 2) {
                cg_fail(c, "internal: %s has no list attribute %s", atl_op_name(nd->op), a);
                return;
            }
            if (item[0] == 'n') {
                arg(c, k, i32c(c, at->n), c->t.i32);
            } else {
                int64_t v[ATL_MAX_RANK * 2];
                for (int j = 0; j < at->n; j++)
                    v[j] = item[0] == 'a' ? norm_axis(at->v.ints[j], nd->type.rank)
                                          : at->v.ints[j];
                arg(c, k, const_i64s(c, v, at->n), c->t.ptr);
            }
        } else {
            cg_fail(c, "internal: unknown spec item '%s' (%s)", item, atl_op_name(nd->op));
            return;
        }
    }
}

/* ---- elementwise kernels ------------------------------------------------------------------------ */

static uint64_t fnv1a(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* The loop nest of a kernel: for every plan dim an index; operand k is read at
 * sum_d idx_d * st[k][d], the result written at the row-major linear index. */
static void kernel_body(cg *c, LLVMValueRef fn, const atl_fexpr *e, const atl_bcast_plan *pl)
{
    LLVMBuilderRef b = c->b;
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(c->t.ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(b, entry);
    const int R = pl->rank, no = pl->n_operands;
    LLVMValueRef off[ATL_FEXPR_MAX_OPERANDS], yoff = i64c(c, 0);
    for (int k = 0; k < no; k++)
        off[k] = i64c(c, 0);
    LLVMValueRef idx[ATL_MAX_RANK], next[ATL_MAX_RANK];
    LLVMBasicBlockRef head[ATL_MAX_RANK];
    LLVMBasicBlockRef pre = entry;
    /* open the loops (trip counts >= 1: do-while form) */
    for (int d = 0; d < R; d++) {
        head[d] = LLVMAppendBasicBlockInContext(c->t.ctx, fn, "loop");
        LLVMBuildBr(b, head[d]);
        LLVMPositionBuilderAtEnd(b, head[d]);
        idx[d] = LLVMBuildPhi(b, c->t.i64, "i");
        LLVMValueRef z = i64c(c, 0);
        LLVMAddIncoming(idx[d], &z, &pre, 1);
        for (int k = 0; k < no; k++)
            if (pl->st[k][d]) {
                LLVMValueRef t = LLVMBuildNUWMul(b, idx[d], i64c(c, pl->st[k][d]), "");
                off[k] = LLVMBuildNUWAdd(b, off[k], t, "");
            }
        yoff = LLVMBuildNUWAdd(b, LLVMBuildNUWMul(b, yoff, i64c(c, pl->dims[d]), ""), idx[d], "");
        pre = head[d];
    }
    /* the body: load operands, evaluate, store */
    LLVMValueRef args_fn[ATL_FEXPR_MAX_OPERANDS];
    for (int k = 0; k < no; k++) {
        LLVMValueRef p = LLVMGetParam(fn, (unsigned)k + 1);
        LLVMValueRef q = LLVMBuildInBoundsGEP2(b, c->t.f32, p, &off[k], 1, "");
        args_fn[k] = LLVMBuildLoad2(b, c->t.f32, q, "");
        LLVMSetAlignment(args_fn[k], 4);
    }
    LLVMValueRef tmp[ATL_FEXPR_MAX_INS];
    for (int i = 0; i < e->n_ins; i++) {
        const atl_fins *in = &e->ins[i];
        LLVMValueRef a[2] = {NULL, NULL};
        for (int j = 0; j < in->n_args; j++)
            a[j] = ATL_FEXPR_IS_TMP(in->arg[j]) ? tmp[ATL_FEXPR_TMP_INDEX(in->arg[j])]
                                                 : args_fn[in->arg[j]];
        tmp[i] = atl_llvm_scalar(b, c->mod, &c->t, in, a[0], a[1]);
        if (!tmp[i]) {
            cg_fail(c, "the JIT has no scalar form of %s", atl_op_name(in->op));
            tmp[i] = LLVMConstReal(c->t.f32, 0.0);
        }
    }
    LLVMValueRef yp = LLVMBuildInBoundsGEP2(b, c->t.f32, LLVMGetParam(fn, 0), &yoff, 1, "");
    LLVMSetAlignment(LLVMBuildStore(b, tmp[e->n_ins - 1], yp), 4);
    /* close the loops, innermost first */
    for (int d = R - 1; d >= 0; d--) {
        LLVMBasicBlockRef cur = LLVMGetInsertBlock(b);
        next[d] = LLVMBuildNUWAdd(b, idx[d], i64c(c, 1), "");
        LLVMAddIncoming(idx[d], &next[d], &cur, 1);
        LLVMValueRef more = LLVMBuildICmp(b, LLVMIntULT, next[d], i64c(c, pl->dims[d]), "");
        LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(c->t.ctx, fn, "done");
        LLVMBuildCondBr(b, more, head[d], after);
        LLVMPositionBuilderAtEnd(b, after);
    }
    LLVMBuildRetVoid(b);
}

/* Get (define or declare) the kernel computing expression e over plan pl. */
static LLVMValueRef kernel_fn(cg *c, const atl_fexpr *e, const atl_bcast_plan *pl)
{
    char sig[4096 + 512];
    size_t len = atl_fexpr_format(e, sig, 4096);
    if (len >= 4096) {
        cg_fail(c, "internal: expression too long");
        return NULL;
    }
    for (int d = 0; d < pl->rank; d++) {
        len += (size_t)snprintf(sig + len, sizeof sig - len, "|%lld", (long long)pl->dims[d]);
        for (int k = 0; k < pl->n_operands && len < sizeof sig; k++)
            len += (size_t)snprintf(sig + len, sizeof sig - len, ",%lld",
                                    (long long)pl->st[k][d]);
        if (len >= sizeof sig) {
            cg_fail(c, "internal: kernel signature too long");
            return NULL;
        }
    }
    /* the name hashes the signature; a collision (another signature under the name, in this
     * module or in the session) moves on to the next salt */
    char name[64];
    const char *have = NULL;
    for (uint64_t salt = 0;; salt++) {
        snprintf(name, sizeof name, "atl.ew.%016llx",
                 (unsigned long long)fnv1a(sig, 1469598103934665603ull + salt));
        have = atl_kernel_set_sig(&c->layout->new_kernels, name);
        if (!have)
            have = atl_kernel_set_sig(c->known, name);
        if (!have || strcmp(have, sig) == 0)
            break;
    }
    LLVMTypeRef params[ATL_FEXPR_MAX_OPERANDS + 1];
    for (int k = 0; k <= pl->n_operands; k++)
        params[k] = c->t.ptr;
    LLVMTypeRef fty = LLVMFunctionType(c->t.v, params, (unsigned)pl->n_operands + 1, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(c->mod, name);
    if (fn)
        return fn; /* defined or declared earlier in this module */
    fn = LLVMAddFunction(c->mod, name, fty);
    atl_llvm_fn_attrs(fn, c->host);
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    unsigned nocapture = LLVMGetEnumAttributeKindForName("nocapture", 9);
    unsigned readonly = LLVMGetEnumAttributeKindForName("readonly", 8);
    for (int k = 0; k <= pl->n_operands; k++) {
        LLVMAddAttributeAtIndex(fn, (LLVMAttributeIndex)(k + 1),
                                LLVMCreateEnumAttribute(c->t.ctx, noalias, 0));
        LLVMAddAttributeAtIndex(fn, (LLVMAttributeIndex)(k + 1),
                                LLVMCreateEnumAttribute(c->t.ctx, nocapture, 0));
        if (k > 0)
            LLVMAddAttributeAtIndex(fn, (LLVMAttributeIndex)(k + 1),
                                    LLVMCreateEnumAttribute(c->t.ctx, readonly, 0));
    }
    if (have)
        return fn; /* compiled by an earlier module of the session: a declaration */
    LLVMBasicBlockRef saved = LLVMGetInsertBlock(c->b);
    kernel_body(c, fn, e, pl);
    LLVMPositionBuilderAtEnd(c->b, saved);
    atl_kernel_set_add(&c->layout->new_kernels, name, sig);
    return fn;
}

static void lower_kernel(cg *c, int32_t i)
{
    const atl_node *nd = &c->f->nodes[i];
    atl_fexpr e;
    if (nd->op == ATL_OP_FUSED) {
        if (atl_node_fexpr(nd, &e, c->err, c->errlen)) {
            c->failed++;
            return;
        }
    } else {
        memset(&e, 0, sizeof e);
        int nc = 0;
        e.n_ins = 1;
        e.n_operands = nd->n_src;
        e.ins[0].op = nd->op;
        e.ins[0].n_args = atl_fexpr_op_arity(nd->op, &nc);
        for (int k = 0; k < nd->n_src; k++)
            e.ins[0].arg[k] = k;
        e.ins[0].n_consts = nc;
        for (int k = 0; k < nc; k++)
            e.ins[0].c[k] = nd->attrs[k].v.f;
    }
    const atl_type *in_t[ATL_FEXPR_MAX_OPERANDS];
    for (int k = 0; k < nd->n_src; k++)
        in_t[k] = &c->f->nodes[nd->src[k]].type;
    atl_bcast_plan pl;
    atl_bcast_plan_make(&pl, &nd->type, in_t, nd->n_src);
    LLVMValueRef fn = kernel_fn(c, &e, &pl);
    if (!fn)
        return;
    LLVMValueRef a[ATL_FEXPR_MAX_OPERANDS + 1];
    a[0] = node_ptr(c, i);
    for (int k = 0; k < nd->n_src; k++)
        a[k + 1] = node_ptr(c, nd->src[k]);
    LLVMBuildCall2(c->b, LLVMGlobalGetValueType(fn), fn, a, (unsigned)nd->n_src + 1, "");
    c->layout->n_kernel_calls++;
}

/* ---- custom lowerings -------------------------------------------------------------------------- */

static void lower_slice(cg *c, int32_t i)
{
    const atl_node *nd = &c->f->nodes[i];
    bool fwd = nd->op == ATL_OP_SLICE;
    const atl_type *xt = fwd ? &c->f->nodes[nd->src[0]].type : &nd->type;
    int axis = norm_axis(atl_node_attr_int(nd, "axis"), xt->rank);
    int64_t d = xt->dims[axis], s = atl_node_attr_int(nd, "start"),
            e = atl_node_attr_int(nd, "end"), st = atl_node_attr_int(nd, "step");
    if (s < 0)
        s += d;
    if (e < 0)
        e += d;
    call k = {0};
    arg(c, &k, node_ptr(c, nd->src[0]), c->t.ptr);
    arg(c, &k, i32c(c, xt->rank), c->t.i32);
    arg(c, &k, const_i64s(c, xt->dims, xt->rank), c->t.ptr);
    arg(c, &k, i32c(c, axis), c->t.i32);
    arg(c, &k, i64c(c, s), c->t.i64);
    arg(c, &k, i64c(c, e), c->t.i64);
    arg(c, &k, i64c(c, st), c->t.i64);
    arg(c, &k, node_ptr(c, i), c->t.ptr);
    emit_call(c, fwd ? "atl_k_slice" : "atl_k_slice_bwd", c->t.v, &k);
}

static void lower_concat(cg *c, int32_t i)
{
    const atl_node *nd = &c->f->nodes[i];
    const atl_type *t = &nd->type;
    int axis = norm_axis(atl_node_attr_int(nd, "axis"), t->rank);
    int n = nd->n_src;
    /* the operand pointers go into a stack array (they are not all constants) */
    LLVMTypeRef arr_t = LLVMArrayType2(c->t.ptr, (uint64_t)n);
    LLVMValueRef xs = LLVMBuildAlloca(c->b, arr_t, "xs");
    int64_t sizes[256];
    if (n > 256) {
        cg_fail(c, "concat of more than 256 operands");
        return;
    }
    for (int k = 0; k < n; k++) {
        LLVMValueRef idx[2] = {i64c(c, 0), i64c(c, k)};
        LLVMValueRef slot = LLVMBuildInBoundsGEP2(c->b, arr_t, xs, idx, 2, "");
        LLVMBuildStore(c->b, node_ptr(c, nd->src[k]), slot);
        sizes[k] = c->f->nodes[nd->src[k]].type.dims[axis];
    }
    LLVMValueRef sz_el[256];
    for (int k = 0; k < n; k++)
        sz_el[k] = i64c(c, sizes[k]);
    LLVMValueRef init = LLVMConstArray2(c->t.i64, sz_el, (uint64_t)n);
    LLVMValueRef g = LLVMAddGlobal(c->mod, LLVMTypeOf(init), "");
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    call k = {0};
    arg(c, &k, xs, c->t.ptr);
    arg(c, &k, g, c->t.ptr);
    arg(c, &k, i32c(c, n), c->t.i32);
    arg(c, &k, i32c(c, t->rank), c->t.i32);
    arg(c, &k, const_i64s(c, t->dims, t->rank), c->t.ptr);
    arg(c, &k, i32c(c, axis), c->t.i32);
    arg(c, &k, node_ptr(c, i), c->t.ptr);
    emit_call(c, "atl_k_concat", c->t.v, &k);
}

/* sgd_update: the parameter, its momentum buffer and the first-step flag come from slots the
 * executor fills (the parameter store owns them, as for the interpreter); the result (a dummy
 * scalar 0) is stored like the interpreter's. */
static void lower_sgd(cg *c, int32_t i)
{
    const atl_node *nd = &c->f->nodes[i];
    const char *pname = atl_node_attr_str(nd, "param");
    int32_t pk = atl_func_find_param(c->f, pname);
    if (pk < 0) {
        cg_fail(c, "sgd_update of unknown parameter \"%s\"", pname);
        return;
    }
    float mom = (float)atl_node_attr_float(nd, "momentum");
    call k = {0};
    arg(c, &k, load_slot(c, ATL_SLOT_PARAM, pname), c->t.ptr);
    arg(c, &k, node_ptr(c, nd->src[0]), c->t.ptr);
    arg(c, &k, mom > 0 ? load_slot(c, ATL_SLOT_MOMENTUM, pname) : LLVMConstNull(c->t.ptr),
        c->t.ptr);
    arg(c, &k, i64c(c, atl_type_numel(&c->f->params[pk].type)), c->t.i64);
    arg(c, &k, LLVMBuildLoad2(c->b, c->t.f32, node_ptr(c, nd->src[1]), "lr"), c->t.f32);
    arg(c, &k, LLVMConstReal(c->t.f32, (double)mom), c->t.f32);
    arg(c, &k, LLVMConstInt(c->t.i1, atl_node_attr_bool(nd, "nesterov"), 0), c->t.i1);
    arg(c, &k, LLVMConstReal(c->t.f32, (double)(float)atl_node_attr_float(nd, "weight_decay")),
        c->t.f32);
    LLVMValueRef first = LLVMConstInt(c->t.i1, 0, 0);
    if (mom > 0) {
        LLVMValueRef flag = LLVMBuildLoad2(c->b, c->t.i8, load_slot(c, ATL_SLOT_FIRST, pname), "");
        first = LLVMBuildICmp(c->b, LLVMIntNE, flag, LLVMConstInt(c->t.i8, 0, 0), "first");
    }
    arg(c, &k, first, c->t.i1);
    emit_call(c, "atl_k_sgd", c->t.v, &k);
    LLVMBuildStore(c->b, LLVMConstReal(c->t.f32, 0.0), node_ptr(c, i));
}

/* a value that only orders effects (the interpreter writes 0 too) */
static void lower_token(cg *c, int32_t i)
{
    LLVMBuildStore(c->b, LLVMConstReal(c->t.f32, 0.0), node_ptr(c, i));
}

/* ---- the lowering table (a parallel table to ops.def) ---------------------------------------- */

/* L_UNSUPPORTED is 0: an op appended to ops.def without a row here is refused, not skipped */
typedef enum lower_kind { L_UNSUPPORTED = 0, L_NONE, L_CALL, L_KERNEL, L_CUSTOM } lower_kind;

/* what a CALL row does with the function's result */
typedef enum lower_ret {
    R_VOID,  /* nothing returned */
    R_FLOAT, /* a float: the node's (scalar) value */
    R_TOKEN, /* an int status the interpreter ignores too; the node's value is a 0 token */
} lower_ret;

typedef struct lower_row {
    lower_kind kind;
    const char *fn;   /* CALL: host function */
    const char *spec; /* CALL: argument template (spec_args) */
    lower_ret ret;    /* CALL: what the result is */
    void (*custom)(cg *c, int32_t i);
} lower_row;

#define NONE {L_NONE, NULL, NULL, R_VOID, NULL}
#define CALL(fn, spec) {L_CALL, fn, spec, R_VOID, NULL}
#define CALLF(fn, spec) {L_CALL, fn, spec, R_FLOAT, NULL}
#define CALLT(fn, spec) {L_CALL, fn, spec, R_TOKEN, NULL}
#define KERNEL {L_KERNEL, NULL, NULL, R_VOID, NULL}
#define CUSTOM(f) {L_CUSTOM, NULL, NULL, R_VOID, f}
#define UNSUPPORTED {L_UNSUPPORTED, NULL, NULL, R_VOID, NULL}

static const lower_row lowerings[] = {
    [ATL_OP_INPUT] = NONE,
    [ATL_OP_PARAM] = NONE,
    [ATL_OP_FULL] = CALL("atl_k_fill", "y n f:value"),
    [ATL_OP_ATTN_MASK] = CALL("atl_k_attn_mask", "i:height i:width i:window i:shift y"),
    [ATL_OP_REL_POS_INDEX] = CALL("atl_k_rel_pos_index", "i:window y"),
    [ATL_OP_CALL] = UNSUPPORTED, /* removed by expand */
    [ATL_OP_LINEAR] = CALL("atl_k_linear", "x0 x1 x2/3? y rows:y last:x0 last:y"),
    [ATL_OP_MATMUL] = CALL("atl_k_matmul", "x0 rank:x0 dims:x0 b:ta x1 rank:x1 dims:x1 b:tb "
                                           "y rank:y dims:y"),
    [ATL_OP_ADD] = KERNEL,
    [ATL_OP_SUB] = KERNEL,
    [ATL_OP_MUL] = KERNEL,
    [ATL_OP_DIV] = KERNEL,
    [ATL_OP_NEG] = KERNEL,
    [ATL_OP_SCALE] = KERNEL,
    [ATL_OP_ADD_SCALAR] = KERNEL,
    [ATL_OP_GELU] = KERNEL,
    [ATL_OP_RELU] = KERNEL,
    [ATL_OP_TANH] = KERNEL,
    [ATL_OP_SIGMOID] = KERNEL,
    [ATL_OP_EXP] = KERNEL,
    [ATL_OP_SOFTMAX] = CALL("atl_k_softmax", "x0 y split:y"),
    [ATL_OP_LAYERNORM] = CALL("atl_k_layernorm", "x0 x1/3? x2/3? y rows:y last:y f:eps"),
    [ATL_OP_RESHAPE] = NONE,
    [ATL_OP_PERMUTE] = CALL("atl_k_permute", "x0 rank:x0 dims:x0 axes:perm y"),
    [ATL_OP_CONCAT] = CUSTOM(lower_concat),
    [ATL_OP_SLICE] = CUSTOM(lower_slice),
    [ATL_OP_ROLL] = CALL("atl_k_roll", "x0 rank:y dims:y nattr:axes axes:axes ints:shifts y"),
    [ATL_OP_GATHER] = CALL("atl_k_gather", "x0 dim0:x0 rowlen:x0 x1 n1 y"),
    [ATL_OP_MEAN] = CALL("atl_k_mean_axis", "x0 y split:x0"),
    [ATL_OP_SUM] = CALL("atl_k_sum_axis", "x0 y split:x0"),
    [ATL_OP_CROSS_ENTROPY] = CALLF("atl_k_cross_entropy", "x0 x1 dim0:x0 dim1:x0"),
    [ATL_OP_MSE] = CALLF("atl_k_mse", "x0 x1 n0"),
    [ATL_OP_LINEAR_GRAD_X] = CALL("atl_k_linear_bwd_x", "x0 x1 y rows:y last:y last:x0"),
    [ATL_OP_LINEAR_GRAD_W] = CALL("atl_k_linear_bwd_w", "x0 x1 y rows:x0 dim1:y dim0:y"),
    [ATL_OP_SUM_TO] = CALL("atl_k_sum_to", "x0 rank:x0 dims:x0 y rank:y dims:y"),
    [ATL_OP_BROADCAST_TO] = CALL("atl_k_broadcast_to", "x0 rank:x0 dims:x0 y rank:y dims:y"),
    [ATL_OP_GELU_GRAD] = KERNEL,
    [ATL_OP_RELU_GRAD] = KERNEL,
    [ATL_OP_TANH_GRAD] = KERNEL,
    [ATL_OP_SIGMOID_GRAD] = KERNEL,
    [ATL_OP_SOFTMAX_GRAD] = CALL("atl_k_softmax_bwd", "x0 x1 y split:y"),
    [ATL_OP_LAYERNORM_GRAD_X] = CALL("atl_k_layernorm_bwd_x", "x0 x2/3? x1 y rows:y last:y f:eps"),
    [ATL_OP_LAYERNORM_GRAD_W] = CALL("atl_k_layernorm_bwd_w", "x0 x1 y rows:x0 dim0:y f:eps"),
    [ATL_OP_SLICE_GRAD] = CUSTOM(lower_slice),
    [ATL_OP_GATHER_GRAD] = CALL("atl_k_gather_bwd", "x0 x1 n1 dim0:y rowlen:y y"),
    [ATL_OP_CROSS_ENTROPY_GRAD] = CALL("atl_k_cross_entropy_bwd", "x0 x1 dim0:y dim1:y load:x2 y"),
    [ATL_OP_MSE_GRAD] = CALL("atl_k_mse_bwd", "x0 x1 n load:x2 y"),
    [ATL_OP_SGD_UPDATE] = CUSTOM(lower_sgd),
    /* analog tiles through the runtime's public API (atl/analog.h), the tile from a slot */
    [ATL_OP_ANALOG_MVM] = CALL("atl_tile_forward", "tile:tile x0 irows:x0 y"),
    [ATL_OP_ANALOG_MVM_T] = CALL("atl_tile_backward", "tile:tile x0 irows:x0 y"),
    [ATL_OP_ANALOG_MVM_IO] = CALL("atl_tile_forward", "tile:tile x0 irows:x0 y"),
    [ATL_OP_ANALOG_MVM_T_IO] = CALL("atl_tile_backward", "tile:tile x0 irows:x0 y"),
    [ATL_OP_ANALOG_GRAD] = CUSTOM(lower_token), /* its factors are analog_update's operands */
    [ATL_OP_ANALOG_UPDATE] = CALLT("atl_tile_update", "tile:tile x0 x1 irows:x0 load:x2"),
    [ATL_OP_FUSED] = KERNEL,
};
static_assert(sizeof lowerings / sizeof lowerings[0] == ATL_OP_COUNT,
              "every op needs a lowering row (UNSUPPORTED if the JIT cannot run it)");

bool atl_codegen_op_supported(atl_op op)
{
    return (unsigned)op < ATL_OP_COUNT && lowerings[op].kind != L_UNSUPPORTED;
}

static void lower_node(cg *c, int32_t i)
{
    const atl_node *nd = &c->f->nodes[i];
    const lower_row *r = &lowerings[nd->op];
    switch (r->kind) {
    case L_NONE:
        break;
    case L_KERNEL:
        lower_kernel(c, i);
        break;
    case L_CUSTOM:
        r->custom(c, i);
        break;
    case L_CALL: {
        call k = {0};
        spec_args(c, nd, i, r->spec, &k);
        if (c->failed)
            return;
        LLVMTypeRef rt = r->ret == R_FLOAT ? c->t.f32 : r->ret == R_TOKEN ? c->t.i32 : c->t.v;
        LLVMValueRef v = emit_call(c, r->fn, rt, &k);
        if (r->ret == R_FLOAT && v)
            LLVMBuildStore(c->b, v, node_ptr(c, i));
        if (r->ret == R_TOKEN)
            LLVMBuildStore(c->b, LLVMConstReal(c->t.f32, 0.0), node_ptr(c, i));
        break;
    }
    case L_UNSUPPORTED:
        cg_fail(c, "the JIT cannot run %s (node %%%d)", atl_op_name(nd->op), i);
        break;
    }
}

/* profiling builds: atl_jit_prof_mark(profile slot, op) */
static void prof_mark(cg *c, int32_t op)
{
    call k = {0};
    arg(c, &k, load_slot(c, ATL_SLOT_PROFILE, "profile"), c->t.ptr);
    arg(c, &k, i32c(c, op), c->t.i32);
    emit_call(c, "atl_jit_prof_mark", c->t.v, &k);
    c->layout->n_host_calls--; /* not a runtime call of the step */
}

LLVMModuleRef atl_codegen(LLVMContextRef ctx, const atl_llvm_host *h, LLVMTargetMachineRef tm,
                          const atl_module *m, const char *entry, const atl_kernel_set *known,
                          bool profile, atl_cg_layout *layout, char *err, size_t errlen)
{
    memset(layout, 0, sizeof *layout);
    if (m->n_funcs != 1 || m->arena_size <= 0) {
        snprintf(err, errlen, "the module must be expanded and scheduled (schedule pass)");
        return NULL;
    }
    cg c = {.host = h, .m = m, .f = &m->funcs[0], .known = known, .profile = profile,
            .layout = layout, .err = err, .errlen = errlen};
    atl_llvm_types_init(&c.t, ctx);
    c.mod = LLVMModuleCreateWithNameInContext(m->name ? m->name : "atl", ctx);
    LLVMSetTarget(c.mod, h->triple);
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm); /* ours: disposed below */
    LLVMSetModuleDataLayout(c.mod, dl);
    LLVMDisposeTargetData(dl);
    c.b = LLVMCreateBuilderInContext(ctx);

    LLVMTypeRef ps[2] = {c.t.ptr, c.t.ptr};
    LLVMValueRef fn = LLVMAddFunction(c.mod, entry, LLVMFunctionType(c.t.v, ps, 2, 0));
    atl_llvm_fn_attrs(fn, h);
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    LLVMAddAttributeAtIndex(fn, 1, LLVMCreateEnumAttribute(ctx, noalias, 0));
    LLVMPositionBuilderAtEnd(c.b, LLVMAppendBasicBlockInContext(ctx, fn, "entry"));
    c.arena = LLVMGetParam(fn, 0);
    c.slots = LLVMGetParam(fn, 1);
    LLVMSetValueName2(c.arena, "arena", 5);
    LLVMSetValueName2(c.slots, "slots", 5);
    for (int32_t i = 0; i < c.f->n_nodes && !c.failed; i++) {
        if (profile && lowerings[c.f->nodes[i].op].kind != L_NONE)
            prof_mark(&c, (int32_t)c.f->nodes[i].op);
        lower_node(&c, i);
    }
    if (profile)
        prof_mark(&c, -1);
    LLVMBuildRetVoid(c.b);
    LLVMDisposeBuilder(c.b);
    if (!c.failed) {
        char *msg = NULL;
        if (LLVMVerifyModule(c.mod, LLVMReturnStatusAction, &msg)) {
            snprintf(err, errlen, "internal: generated LLVM IR does not verify: %s",
                     msg ? msg : "?");
            c.failed++;
        }
        LLVMDisposeMessage(msg);
    }
    if (c.failed) {
        LLVMDisposeModule(c.mod);
        atl_cg_layout_free(layout);
        return NULL;
    }
    return c.mod;
}
