/* Dense kernels (runtime/kernels, include/atl/kernels.h) against naive double-precision
 * references written here, central finite differences of every backward kernel, adjoint
 * identities, the Swin constants against their definitions, hand-computed SGD steps, and
 * determinism.
 *
 * Tolerances are derived from float rounding: a sum of n products in float is within
 * about n * 2^-24 * sum|terms| of the exact value (first order), so reductions are checked against
 * c * n * eps * sum|terms|; single correctly rounded float ops are checked for equality with the
 * double result rounded to float. Finite differences use float forwards with h ~ 1e-2: truncation
 * error O(h^2) and rounding error ~ eps * |L| / h, both well below the 1e-2 relative tolerance. */
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "atl/kernels.h"

#define EPS_F 5.9604644775390625e-08 /* 2^-24 */
#define MAXR ATL_K_MAX_RANK

/* ---- deterministic random numbers (splitmix64) ------------------------------------------------ */

static uint64_t rng_s = 0x243f6a8885a308d3ull;

static uint64_t rnd_u64(void)
{
    uint64_t z = (rng_s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rnd_unit(void) { return (double)(rnd_u64() >> 11) * 0x1.0p-53; }
static float rnd_f(double lo, double hi) { return (float)(lo + (hi - lo) * rnd_unit()); }
static int rnd_int(int lo, int hi) { return lo + (int)(rnd_u64() % (uint64_t)(hi - lo + 1)); }

static float *rnd_vec(int64_t n, double lo, double hi)
{
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++)
        v[i] = rnd_f(lo, hi);
    return v;
}
static float *fvec(int64_t n)
{
    float *v = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    assert_non_null(v);
    return v;
}
static double *dvec(int64_t n)
{
    double *v = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    assert_non_null(v);
    return v;
}

/* ---- shape helpers ---------------------------------------------------------------------------- */

static int64_t numel(int rank, const int64_t *d)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= d[i];
    return n;
}
static void unravel(int64_t lin, int rank, const int64_t *d, int64_t *idx)
{
    for (int i = rank - 1; i >= 0; i--) {
        idx[i] = lin % d[i];
        lin /= d[i];
    }
}
/* linear index into an operand of rank ra (right-aligned, broadcasting) for output index idx */
static int64_t bcast_index(int ry, const int64_t *idx, int ra, const int64_t *ad)
{
    int64_t lin = 0;
    for (int j = 0; j < ra; j++) {
        const int i = j + ry - ra;
        lin = lin * ad[j] + (ad[j] == 1 ? 0 : idx[i]);
    }
    return lin;
}
static int64_t ravel(int rank, const int64_t *d, const int64_t *idx)
{
    int64_t lin = 0;
    for (int i = 0; i < rank; i++)
        lin = lin * d[i] + idx[i];
    return lin;
}
static void shape_str(int rank, const int64_t *d, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < rank && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)d[i]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
}

/* An operand shape that broadcasts to y: a suffix of y's dims (leading dims missing with
 * probability 1/3 each) with some dims set to 1. */
static int bcast_operand(int ry, const int64_t *yd, int64_t *ad)
{
    int drop = 0;
    while (drop < ry && rnd_int(0, 2) == 0)
        drop++;
    const int ra = ry - drop;
    for (int j = 0; j < ra; j++)
        ad[j] = rnd_int(0, 2) == 0 ? 1 : yd[j + drop];
    return ra;
}
static int bcast_shape(int ra, const int64_t *ad, int rb, const int64_t *bd, int64_t *yd)
{
    const int r = ra > rb ? ra : rb;
    for (int i = 0; i < r; i++) {
        const int ia = i - (r - ra), ib = i - (r - rb);
        const int64_t da = ia >= 0 ? ad[ia] : 1, db = ib >= 0 ? bd[ib] : 1;
        yd[i] = da == 1 ? db : da;
    }
    return r;
}

/* equal bits, or both NaN */
static bool k_same(float a, float b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static void check_close(double got, double want, double tol, const char *what, int64_t i)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("%s[%lld]: got %.9g want %.9g (|diff| %.3g > tol %.3g)", what, (long long)i, got,
                 want, fabs(got - want), tol);
}

/* Per-element central differences of L(x) = <dy, F(x)> against an analytic gradient. */
typedef void (*fwd_fn)(const float *x, float *y, const void *ctx);

static void fd_check(fwd_fn f, const void *ctx, float *x, int64_t nx, int64_t ny, const float *dy,
                     const float *grad, float h, double atol, double rtol, const char *what)
{
    float *y = fvec(ny);
    for (int64_t i = 0; i < nx; i++) {
        const float x0 = x[i];
        const float xp = x0 + h, xm = x0 - h;
        double lp = 0, lm = 0;
        x[i] = xp;
        f(x, y, ctx);
        for (int64_t j = 0; j < ny; j++)
            lp += (double)dy[j] * y[j];
        x[i] = xm;
        f(x, y, ctx);
        for (int64_t j = 0; j < ny; j++)
            lm += (double)dy[j] * y[j];
        x[i] = x0;
        const double fd = (lp - lm) / ((double)xp - (double)xm);
        check_close(grad[i], fd, atol + rtol * fabs(fd), what, i);
    }
    free(y);
}

/* ---- constants ------------------------------------------------------------------------------- */

static void test_fill(void **state)
{
    (void)state;
    float y[37];
    atl_k_fill(y, 37, -2.5f);
    for (int i = 0; i < 37; i++)
        assert_true(y[i] == -2.5f);
}

/* Swin's construction: label regions of the shifted image by three slices per axis, partition
 * into windows row-major, -100 where labels differ. */
static void ref_attn_mask(int h, int w, int win, int shift, float *out)
{
    int *img = calloc((size_t)(h * w), sizeof(int));
    assert_non_null(img);
    int hs[3][2] = {{0, h - win}, {h - win, h - shift}, {h - shift, h}};
    int ws[3][2] = {{0, w - win}, {w - win, w - shift}, {w - shift, w}};
    int cnt = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++, cnt++)
            for (int y = hs[a][0]; y < hs[a][1]; y++)
                for (int x = ws[b][0]; x < ws[b][1]; x++)
                    img[y * w + x] = cnt;
    const int n = win * win;
    int *win_lab = calloc((size_t)n, sizeof(int));
    assert_non_null(win_lab);
    int wi = 0;
    for (int wy = 0; wy < h / win; wy++)
        for (int wx = 0; wx < w / win; wx++, wi++) {
            for (int iy = 0; iy < win; iy++)
                for (int ix = 0; ix < win; ix++)
                    win_lab[iy * win + ix] = img[(wy * win + iy) * w + wx * win + ix];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    out[((int64_t)wi * n + i) * n + j] = win_lab[i] != win_lab[j] ? -100.0f : 0.0f;
        }
    free(win_lab);
    free(img);
}

static void test_attn_mask(void **state)
{
    (void)state;
    const int cases[][4] = {{16, 16, 4, 2}, {8, 8, 4, 2}, {8, 16, 4, 1}, {8, 8, 4, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int h = cases[c][0], w = cases[c][1], win = cases[c][2], sh = cases[c][3];
        const int64_t sz = (int64_t)(h / win) * (w / win) * win * win * win * win;
        float *got = fvec(sz), *want = fvec(sz);
        atl_k_attn_mask(h, w, win, sh, got);
        if (sh > 0)
            ref_attn_mask(h, w, win, sh, want);
        assert_memory_equal(got, want, sizeof(float) * (size_t)sz);
        /* sanity: the first window never straddles a seam; the last does (shift > 0) */
        int64_t n2 = (int64_t)win * win * win * win, neg_last = 0;
        for (int64_t i = 0; i < n2; i++) {
            assert_true(got[i] == 0.0f);
            neg_last += got[sz - n2 + i] != 0.0f;
        }
        assert_true(sh == 0 ? neg_last == 0 : neg_last > 0);
        free(got);
        free(want);
    }
}

static void test_rel_pos_index(void **state)
{
    (void)state;
    const int wins[] = {1, 2, 4, 7};
    for (size_t c = 0; c < sizeof wins / sizeof wins[0]; c++) {
        const int win = wins[c], n = win * win;
        int32_t *got = calloc((size_t)(n * n), sizeof(int32_t));
        assert_non_null(got);
        atl_k_rel_pos_index(win, got);
        /* Swin's construction: coords [2, N], relative coords [N, N, 2] shifted by win-1, the
         * row coordinate scaled by 2*win-1, summed. */
        int coords[2][49];
        for (int y = 0; y < win; y++)
            for (int x = 0; x < win; x++) {
                coords[0][y * win + x] = y;
                coords[1][y * win + x] = x;
            }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                int rel0 = coords[0][i] - coords[0][j] + win - 1;
                int rel1 = coords[1][i] - coords[1][j] + win - 1;
                rel0 *= 2 * win - 1;
                assert_int_equal(got[i * n + j], rel0 + rel1);
                assert_true(got[i * n + j] >= 0 && got[i * n + j] < (2 * win - 1) * (2 * win - 1));
            }
        if (win == 2) {
            assert_int_equal(got[0], 4); /* same token: the centre of the 3x3 table */
            assert_int_equal(got[3], 0); /* pos(0) - pos(3) = (-1, -1) */
            assert_int_equal(got[3 * 4 + 0], 8);
        }
        free(got);
    }
}

/* ---- elementwise ----------------------------------------------------------------------------- */

static void test_binary_broadcast(void **state)
{
    (void)state;
    char sa[96], sb[96];
    for (int trial = 0; trial < 300; trial++) {
        int64_t full[MAXR], ad[MAXR], bd[MAXR], yd[MAXR];
        const int rf = rnd_int(0, 6);
        for (int i = 0; i < rf; i++)
            full[i] = rnd_int(1, 5);
        int ra = bcast_operand(rf, full, ad), rb = bcast_operand(rf, full, bd);
        if (trial % 7 == 0) { /* same shapes: the pure vector path */
            rb = ra;
            memcpy(bd, ad, sizeof ad);
        }
        const int ry = bcast_shape(ra, ad, rb, bd, yd);
        const int64_t na = numel(ra, ad), nb = numel(rb, bd), ny = numel(ry, yd);
        float *a = rnd_vec(na, -2, 2), *b = rnd_vec(nb, 0.5, 2), *y = fvec(ny);
        for (int64_t i = 0; i < nb; i++)
            if (rnd_int(0, 1))
                b[i] = -b[i];
        shape_str(ra, ad, sa, sizeof sa);
        shape_str(rb, bd, sb, sizeof sb);
        for (int op = ATL_K_ADD; op <= ATL_K_DIV; op++) {
            atl_k_binary((atl_k_binop)op, a, ra, ad, b, rb, bd, y, ry, yd);
            int64_t idx[MAXR];
            for (int64_t i = 0; i < ny; i++) {
                unravel(i, ry, yd, idx);
                const double u = a[bcast_index(ry, idx, ra, ad)], v = b[bcast_index(ry, idx, rb, bd)];
                const double r = op == ATL_K_ADD ? u + v : op == ATL_K_SUB ? u - v
                                                     : op == ATL_K_MUL ? u * v : u / v;
                /* one correctly rounded float op: equal to the double result rounded */
                if (y[i] != (float)r)
                    fail_msg("op %d %s x %s at %lld: %.9g vs %.9g", op, sa, sb, (long long)i,
                             (double)y[i], r);
            }
        }
        free(a);
        free(b);
        free(y);
    }
}

static void test_unary(void **state)
{
    (void)state;
    enum { N = 1000 };
    float *x = rnd_vec(N, -6, 6), *y = fvec(N), *z = fvec(N);
    x[0] = 0.0f;
    x[1] = -0.0f;
    x[2] = -100.0f;
    x[3] = 100.0f;
    atl_k_scale(x, y, N, 0.37f);
    for (int i = 0; i < N; i++)
        assert_true(y[i] == (float)(0.37f * (double)x[i]));
    atl_k_add_scalar(x, y, N, 1.25f);
    for (int i = 0; i < N; i++)
        assert_true(y[i] == (float)((double)x[i] + 1.25));
    atl_k_neg(x, y, N);
    for (int i = 0; i < N; i++)
        assert_true(y[i] == -x[i]);
    atl_k_relu(x, y, N);
    for (int i = 0; i < N; i++)
        assert_true(y[i] == (x[i] > 0 ? x[i] : 0.0f) && !signbit(y[i]));
    memcpy(z, x, sizeof(float) * N);
    atl_k_acc(z, y, N);
    for (int i = 0; i < N; i++)
        assert_true(z[i] == x[i] + y[i]);
    free(x);
    free(y);
    free(z);
}

/* ---- exp, tanh, sigmoid, gelu (runtime/kernels/k_math.h) ----------------------------------- */

static double ref_gelu(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static double ref_gelu_grad(double x) { return ref_cdf(x) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI); }
/* the scale against which gelu' is measured: it has a root near -0.75, so relative error is
 * meaningless there; |Phi| + |x phi| is the size of the terms that cancel */
static double ref_gelu_grad_scale(double x)
{
    return ref_cdf(x) + fabs(x) * exp(-0.5 * x * x) / sqrt(2 * M_PI);
}
static double ulp_of(double r)
{
    const double a = fabs(r);
    if (a < 0x1p-126)
        return 0x1p-149;
    int e;
    frexp(a, &e);
    return ldexp(1.0, e - 24);
}
static float f_of_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Errors in ulp over every 4099th float of [lo, hi] (both signs), against double references. The
 * bounds are the maxima measured on every 17th float during development (exp 0.95, tanh 1.30,
 * sigmoid 2.34, gelu 4.38, gelu' 3.66 in units of its terms) rounded up. */
typedef struct sweep_fn {
    const char *name;
    float (*f)(float);
    double (*ref)(double);
    double (*scale)(double); /* NULL: relative to the result */
    double lo, hi, max_ulp;
} sweep_fn;

static void test_transcendental_sweep(void **state)
{
    (void)state;
    const sweep_fn fns[] = {
        {"exp", atl_k_expf, exp, NULL, -104.0, 88.72, 1.5},
        {"tanh", atl_k_tanhf, tanh, NULL, -30.0, 30.0, 2.0},
        {"sigmoid", atl_k_sigmoidf, ref_sigmoid, NULL, -100.0, 30.0, 3.0},
        {"gelu", atl_k_geluf, ref_gelu, NULL, -14.0, 20.0, 6.0},
        {"gelu_grad", atl_k_gelu_gradf, ref_gelu_grad, ref_gelu_grad_scale, -14.0, 20.0, 6.0},
    };
    for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++) {
        double worst = 0, at = 0;
        for (uint32_t sg = 0; sg < 2; sg++)
            for (uint32_t u = 0; u < 0x7f800000u; u += 4099) {
                const float x = f_of_bits(u | sg << 31);
                if (x < fns[k].lo || x > fns[k].hi)
                    continue;
                const double r = fns[k].ref(x);
                const double sc = fns[k].scale ? fns[k].scale(x) : r;
                /* results and intermediates below 2^-126 are rounded on the subnormal grid:
                 * allow 16 * 2^-149 absolute on top (|x| <= 14 times one such rounding) */
                const double e =
                    fmax(0.0, fabs((double)fns[k].f(x) - r) - 16 * 0x1p-149) / ulp_of(sc);
                if (!(e <= worst)) {
                    worst = e;
                    at = x;
                }
            }
        if (!(worst <= fns[k].max_ulp))
            fail_msg("%s: %.2f ulp at x = %.9g (bound %.1f)", fns[k].name, worst, at,
                     fns[k].max_ulp);
    }
}

static void test_transcendental_special(void **state)
{
    (void)state;
    const float inf = INFINITY;
    assert_true(atl_k_expf(0.0f) == 1.0f && atl_k_expf(-0.0f) == 1.0f);
    assert_true(atl_k_expf(89.0f) == inf && atl_k_expf(inf) == inf);
    assert_true(atl_k_expf(-104.0f) == 0.0f && atl_k_expf(-inf) == 0.0f);
    assert_true(atl_k_expf(88.7f) < inf && atl_k_expf(88.7f) > 3.3e38f);
    /* the subnormal range: e^-100 = 3.72e-44 (26 * 2^-149) */
    check_close(atl_k_expf(-100.0f), exp(-100.0), 0x1p-149, "exp subnormal", 0);
    assert_true(isnan(atl_k_expf(NAN)) && isnan(atl_k_tanhf(NAN)) && isnan(atl_k_geluf(NAN)));
    assert_true(isnan(atl_k_sigmoidf(NAN)) && isnan(atl_k_gelu_gradf(NAN)));
    assert_true(atl_k_tanhf(inf) == 1.0f && atl_k_tanhf(-inf) == -1.0f);
    assert_true(atl_k_tanhf(0.0f) == 0.0f && !signbit(atl_k_tanhf(0.0f)) &&
                signbit(atl_k_tanhf(-0.0f)));
    assert_true(atl_k_tanhf(1e-30f) == 1e-30f);
    assert_true(atl_k_sigmoidf(inf) == 1.0f && atl_k_sigmoidf(-inf) == 0.0f);
    assert_true(atl_k_sigmoidf(0.0f) == 0.5f);
    assert_true(atl_k_geluf(inf) == inf && atl_k_geluf(-inf) == 0.0f);
    assert_true(atl_k_geluf(0.0f) == 0.0f && atl_k_gelu_gradf(0.0f) == 0.5f);
    assert_true(atl_k_gelu_gradf(inf) == 1.0f && atl_k_gelu_gradf(-inf) == 0.0f);
    /* the array kernels evaluate exactly the scalar forms (vector lanes and tails alike) */
    enum { N = 203 };
    float *x = rnd_vec(N, -12, 12), *y = fvec(N), *g = rnd_vec(N, -1, 1), *d = fvec(N);
    x[0] = inf;
    x[1] = -inf;
    x[2] = NAN;
    x[3] = 0.8f; /* the branch points of the CDF and tanh */
    x[4] = -0.8f;
    x[5] = 0.625f;
    x[6] = -0.625f;
    atl_k_exp(x, y, N);
    for (int i = 0; i < N; i++)
        assert_true(k_same(y[i], atl_k_expf(x[i])));
    atl_k_tanh(x, y, N);
    for (int i = 0; i < N; i++)
        assert_true(k_same(y[i], atl_k_tanhf(x[i])));
    atl_k_sigmoid(x, y, N);
    for (int i = 0; i < N; i++)
        assert_true(k_same(y[i], atl_k_sigmoidf(x[i])));
    atl_k_gelu(x, y, N);
    for (int i = 0; i < N; i++)
        assert_true(k_same(y[i], atl_k_geluf(x[i])));
    atl_k_gelu_bwd(x, g, d, N);
    for (int i = 0; i < N; i++)
        assert_true(k_same(d[i], g[i] * atl_k_gelu_gradf(x[i])));
    free(x);
    free(y);
    free(g);
    free(d);
}

typedef void (*unary_fn)(const float *, float *, int64_t);
static void unary_fwd(const float *x, float *y, const void *ctx)
{
    const unary_fn *f = ctx;
    (*f)(x, y, 64);
}

static void test_unary_bwd(void **state)
{
    (void)state;
    enum { N = 64 };
    float *x = rnd_vec(N, -3, 3), *dy = rnd_vec(N, -1, 1), *y = fvec(N), *dx = fvec(N);
    for (int i = 0; i < N; i++) /* keep relu's kink out of the finite-difference stencil */
        if (fabsf(x[i]) < 0.05f)
            x[i] = 0.3f;
    unary_fn f;
    /* gelu: FD of the forward kernel, and the double formula */
    atl_k_gelu_bwd(x, dy, dx, N);
    f = atl_k_gelu;
    fd_check(unary_fwd, &f, x, N, N, dy, dx, 1e-2f, 1e-3, 1e-2, "gelu_bwd fd");
    for (int i = 0; i < N; i++) {
        const double v = x[i];
        const double d = ref_gelu_grad(v);
        check_close(dx[i], dy[i] * d, 8 * EPS_F * fabs(dy[i]) * (ref_gelu_grad_scale(v) + 1),
                    "gelu_bwd", i);
    }
    atl_k_relu_bwd(x, dy, dx, N);
    f = atl_k_relu;
    fd_check(unary_fwd, &f, x, N, N, dy, dx, 1e-2f, 1e-4, 1e-3, "relu_bwd fd");
    atl_k_tanh(x, y, N);
    atl_k_tanh_bwd(y, dy, dx, N);
    f = atl_k_tanh;
    fd_check(unary_fwd, &f, x, N, N, dy, dx, 1e-2f, 1e-3, 1e-2, "tanh_bwd fd");
    atl_k_sigmoid(x, y, N);
    atl_k_sigmoid_bwd(y, dy, dx, N);
    f = atl_k_sigmoid;
    fd_check(unary_fwd, &f, x, N, N, dy, dx, 1e-2f, 1e-3, 1e-2, "sigmoid_bwd fd");
    free(x);
    free(dy);
    free(y);
    free(dx);
}

/* ---- reductions and broadcasts ----------------------------------------------------------------- */

static void test_sum_mean_axis(void **state)
{
    (void)state;
    const int64_t cases[][3] = {{1, 1, 1},   {3, 7, 1},  {2, 3000, 1}, {5, 17, 4},  {1, 1000, 33},
                                {2, 130, 600}, {4, 1, 9}, {1, 65, 1},   {3, 64, 513}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t o = cases[c][0], n = cases[c][1], in = cases[c][2];
        float *x = rnd_vec(o * n * in, -1, 1), *y = fvec(o * in), *m = fvec(o * in);
        atl_k_sum_axis(x, y, o, n, in);
        atl_k_mean_axis(x, m, o, n, in);
        for (int64_t a = 0; a < o; a++)
            for (int64_t b = 0; b < in; b++) {
                double s = 0, sa = 0;
                for (int64_t j = 0; j < n; j++) {
                    s += x[(a * n + j) * in + b];
                    sa += fabs(x[(a * n + j) * in + b]);
                }
                /* blocked / 16-lane summation: error <= (n/16 + n/64 + 80) eps sum|x| */
                const double tol = ((double)n / 16 + (double)n / 64 + 80) * EPS_F * sa + 1e-30;
                check_close(y[a * in + b], s, tol, "sum_axis", a * in + b);
                check_close(m[a * in + b], s / (double)n, tol / (double)n + EPS_F * fabs(s) / n,
                            "mean_axis", a * in + b);
            }
        free(x);
        free(y);
        free(m);
    }
}

/* 10^5 copies of 0.1f: a sequential float sum is off by ~1e-4 relative; the blocked sums of
 * k_internal.h stay within (n/16 + 4) eps resp. (64 + n/64) eps of the exact value. */
static void test_long_sums(void **state)
{
    (void)state;
    const int64_t n = 100000;
    float *x = fvec(n * 4), y[4];
    for (int64_t i = 0; i < n * 4; i++)
        x[i] = 0.1f;
    const double want = (double)n * 0.1f;
    atl_k_sum_axis(x, y, 1, n, 1);
    check_close(y[0], want, ((double)n / 16 + 4) * EPS_F * want, "long sum_axis inner=1", 0);
    atl_k_sum_axis(x, y, 1, n, 4);
    for (int c = 0; c < 4; c++)
        check_close(y[c], want, ((double)n / 64 + 64) * EPS_F * want, "long sum_axis", c);
    const int64_t xd[] = {n, 4}, yd[] = {4};
    atl_k_sum_to(x, 2, xd, y, 1, yd);
    for (int c = 0; c < 4; c++)
        check_close(y[c], want, ((double)n / 64 + 64) * EPS_F * want, "long sum_to", c);
    free(x);
}

static void test_broadcast_axis(void **state)
{
    (void)state;
    const int64_t o = 3, n = 5, in = 7;
    float *x = rnd_vec(o * in, -1, 1), *y = fvec(o * n * in);
    for (int s = 0; s < 2; s++) {
        const float sc = s ? 0.2f : 1.0f;
        atl_k_broadcast_axis(x, y, o, n, in, sc);
        for (int64_t a = 0; a < o; a++)
            for (int64_t j = 0; j < n; j++)
                for (int64_t b = 0; b < in; b++)
                    assert_true(y[(a * n + j) * in + b] == sc * x[a * in + b]);
    }
    free(x);
    free(y);
}

/* broadcast_to exactly against the definition; sum_to against a double reference; and the
 * adjoint identity <broadcast_to(u), z> == <u, sum_to(z)>. */
static void test_sum_to_broadcast_to(void **state)
{
    (void)state;
    char buf[96];
    for (int trial = 0; trial < 300; trial++) {
        int64_t xd[MAXR], sd[MAXR];
        const int rx = rnd_int(0, 6);
        for (int i = 0; i < rx; i++)
            xd[i] = rnd_int(1, 5);
        if (trial % 10 == 0 && rx >= 1) /* long reductions: past the 64-row blocks */
            xd[0] = rnd_int(60, 200);
        const int rs = bcast_operand(rx, xd, sd);
        const int64_t nx = numel(rx, xd), ns = numel(rs, sd);
        shape_str(rs, sd, buf, sizeof buf);
        float *z = rnd_vec(nx, -1, 1), *u = rnd_vec(ns, -1, 1);
        float *s = fvec(ns), *bz = fvec(nx);
        double *ref = dvec(ns), *abs_ref = dvec(ns);
        int64_t cnt_per = ns ? nx / ns : 0;
        atl_k_sum_to(z, rx, xd, s, rs, sd);
        atl_k_broadcast_to(u, rs, sd, bz, rx, xd);
        int64_t idx[MAXR];
        for (int64_t i = 0; i < nx; i++) {
            unravel(i, rx, xd, idx);
            const int64_t k = bcast_index(rx, idx, rs, sd);
            ref[k] += z[i];
            abs_ref[k] += fabs(z[i]);
            if (bz[i] != u[k])
                fail_msg("broadcast_to %s at %lld", buf, (long long)i);
        }
        for (int64_t k = 0; k < ns; k++)
            /* any order of summing cnt terms: within (cnt - 1) eps sum|terms| */
            check_close(s[k], ref[k], (double)(cnt_per + 2) * EPS_F * abs_ref[k] + 1e-30,
                        "sum_to", k);
        double l = 0, r = 0, la = 0;
        for (int64_t i = 0; i < nx; i++) {
            l += (double)bz[i] * z[i];
            la += fabs((double)bz[i] * z[i]);
        }
        for (int64_t k = 0; k < ns; k++)
            r += (double)u[k] * s[k];
        check_close(r, l, (double)(cnt_per + 2) * EPS_F * la + 1e-30, "adjoint sum_to", trial);
        free(z);
        free(u);
        free(s);
        free(bz);
        free(ref);
        free(abs_ref);
    }
}

/* ---- normalisation ----------------------------------------------------------------------------- */

typedef struct sm_ctx {
    int64_t o, n, in;
} sm_ctx;
static void softmax_fwd(const float *x, float *y, const void *ctx)
{
    const sm_ctx *c = ctx;
    atl_k_softmax(x, y, c->o, c->n, c->in);
}

static void test_softmax(void **state)
{
    (void)state;
    const int64_t cases[][3] = {{4, 16, 1}, {3, 5, 4}, {2, 7, 300}, {1, 33, 1}, {2, 1, 3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t o = cases[c][0], n = cases[c][1], in = cases[c][2], tot = o * n * in;
        float *x = rnd_vec(tot, -5, 5), *y = fvec(tot), *dy = rnd_vec(tot, -1, 1), *dx = fvec(tot);
        if (c == 0)
            for (int64_t i = 0; i < tot; i++)
                x[i] += 1000.0f; /* would overflow without the max subtraction */
        atl_k_softmax(x, y, o, n, in);
        atl_k_softmax_bwd(y, dy, dx, o, n, in);
        for (int64_t a = 0; a < o; a++)
            for (int64_t b = 0; b < in; b++) {
                double m = -INFINITY, s = 0, sg = 0;
                for (int64_t j = 0; j < n; j++)
                    m = fmax(m, x[(a * n + j) * in + b]);
                for (int64_t j = 0; j < n; j++)
                    s += exp(x[(a * n + j) * in + b] - m);
                for (int64_t j = 0; j < n; j++) {
                    const int64_t i = (a * n + j) * in + b;
                    sg += dy[i] * exp(x[i] - m) / s;
                }
                for (int64_t j = 0; j < n; j++) {
                    const int64_t i = (a * n + j) * in + b;
                    const double p = exp(x[i] - m) / s;
                    /* exp, sum and division: (n + 8) eps relative on y; dx adds the error of
                     * sum(dy y) on top */
                    const double ty = (double)(n + 8) * EPS_F * p;
                    check_close(y[i], p, ty, "softmax", i);
                    check_close(dx[i], p * (dy[i] - sg),
                                (double)(n + 16) * 4 * EPS_F * p * (fabs(dy[i]) + fabs(sg)) + 1e-12,
                                "softmax_bwd", i);
                }
            }
        if (tot <= 200) {
            sm_ctx ctx = {o, n, in};
            /* the FD needs inputs whose float spacing is small relative to h */
            for (int64_t i = 0; i < tot; i++)
                x[i] = rnd_f(-3, 3);
            atl_k_softmax(x, y, o, n, in);
            atl_k_softmax_bwd(y, dy, dx, o, n, in);
            fd_check(softmax_fwd, &ctx, x, tot, tot, dy, dx, 1e-2f, 1e-4, 1e-2, "softmax_bwd fd");
        }
        free(x);
        free(y);
        free(dy);
        free(dx);
    }
}

typedef struct ln_ctx {
    const float *w, *b, *x;
    int64_t rows, cols;
    float eps;
} ln_ctx;
static void ln_fwd_x(const float *x, float *y, const void *ctx)
{
    const ln_ctx *c = ctx;
    atl_k_layernorm(x, c->w, c->b, y, c->rows, c->cols, c->eps);
}
static void ln_fwd_w(const float *w, float *y, const void *ctx)
{
    const ln_ctx *c = ctx;
    atl_k_layernorm(c->x, w, c->b, y, c->rows, c->cols, c->eps);
}

static void ref_layernorm(const float *x, const float *w, const float *b, int64_t rows,
                          int64_t cols, double eps, double *y, double *xhat)
{
    for (int64_t r = 0; r < rows; r++) {
        double m = 0, v = 0;
        for (int64_t c = 0; c < cols; c++)
            m += x[r * cols + c];
        m /= (double)cols;
        for (int64_t c = 0; c < cols; c++)
            v += (x[r * cols + c] - m) * (x[r * cols + c] - m);
        v /= (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            const double h = (x[r * cols + c] - m) / sqrt(v + eps);
            xhat[r * cols + c] = h;
            y[r * cols + c] = h * (w ? w[c] : 1.0) + (b ? b[c] : 0.0);
        }
    }
}

static void test_layernorm(void **state)
{
    (void)state;
    const int64_t cases[][2] = {{3, 48}, {70, 5}, {2, 300}, {1, 1000}, {5, 17}, {66, 260}, {4, 8}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int affine = 0; affine < 4; affine++) {
            const int64_t rows = cases[c][0], cols = cases[c][1], tot = rows * cols;
            const float eps = 1e-5f;
            float *x = rnd_vec(tot, -2, 2), *w = rnd_vec(cols, 0.5, 1.5), *b = rnd_vec(cols, -1, 1);
            float *dy = rnd_vec(tot, -1, 1), *y = fvec(tot), *dx = fvec(tot), *dw = fvec(cols);
            if (c == 0) /* a large common offset: the two-pass variance keeps it stable */
                for (int64_t i = 0; i < tot; i++)
                    x[i] += 100.0f;
            const float *wp = affine & 1 ? w : NULL, *bp = affine & 2 ? b : NULL;
            double *ry = dvec(tot), *xh = dvec(tot);
            ref_layernorm(x, wp, bp, rows, cols, eps, ry, xh);
            atl_k_layernorm(x, wp, bp, y, rows, cols, eps);
            atl_k_layernorm_bwd_x(x, wp, dy, dx, rows, cols, eps);
            atl_k_layernorm_bwd_w(x, dy, dw, rows, cols, eps);
            /* float mean of values ~100 carries an absolute error ~ 100 * cols/16 * eps, which
             * becomes a relative error of xhat of that over the row's std (~1.15) */
            const double off = c == 0 ? 100.0 : 2.0;
            const double tol_h = ((double)cols / 16 + 16) * EPS_F * off * 2 + 1e-6;
            for (int64_t i = 0; i < tot; i++)
                check_close(y[i], ry[i], tol_h * 2 * (1 + fabs(ry[i])), "layernorm", i);
            for (int64_t r = 0; r < rows; r++) {
                /* dx = rstd (g - mean g - xhat mean(g xhat)), g = dy w */
                double mg = 0, mgx = 0, m = 0, v = 0;
                for (int64_t k = 0; k < cols; k++)
                    m += x[r * cols + k];
                m /= (double)cols;
                for (int64_t k = 0; k < cols; k++)
                    v += (x[r * cols + k] - m) * (x[r * cols + k] - m);
                const double rs = 1 / sqrt(v / (double)cols + eps);
                for (int64_t k = 0; k < cols; k++) {
                    const double g = dy[r * cols + k] * (wp ? wp[k] : 1.0);
                    mg += g;
                    mgx += g * xh[r * cols + k];
                }
                mg /= (double)cols;
                mgx /= (double)cols;
                for (int64_t k = 0; k < cols; k++) {
                    const int64_t i = r * cols + k;
                    const double g = dy[i] * (wp ? wp[k] : 1.0);
                    const double want = rs * (g - mg - xh[i] * mgx);
                    check_close(dx[i], want, tol_h * 4 * rs * (2 + fabs(g)), "layernorm_bwd_x", i);
                }
            }
            for (int64_t k = 0; k < cols; k++) {
                double s = 0, sa = 0, se = 0;
                for (int64_t r = 0; r < rows; r++) {
                    s += dy[r * cols + k] * xh[r * cols + k];
                    sa += fabs(dy[r * cols + k] * xh[r * cols + k]);
                    se += fabs(dy[r * cols + k]) * (1 + fabs(xh[r * cols + k]));
                }
                /* xhat's error is absolute (the mean's), as in the forward check */
                check_close(dw[k], s, tol_h * 2 * se + ((double)rows / 64 + 80) * EPS_F * sa,
                            "layernorm_bwd_w", k);
            }
            if (tot <= 300 && c != 0) {
                ln_ctx ctx = {wp, bp, x, rows, cols, eps};
                fd_check(ln_fwd_x, &ctx, x, tot, tot, dy, dx, 1e-2f, 2e-3, 1e-2,
                         "layernorm_bwd_x fd");
                float *wv = rnd_vec(cols, 0.5, 1.5);
                /* dL/dw for y = xhat * w + b: FD over w, against bwd_w */
                fd_check(ln_fwd_w, &ctx, wv, cols, tot, dy, dw, 1e-2f, 1e-3, 1e-2,
                         "layernorm_bwd_w fd");
                free(wv);
            }
            free(x);
            free(w);
            free(b);
            free(dy);
            free(y);
            free(dx);
            free(dw);
            free(ry);
            free(xh);
        }
    }
}

/* ---- data movement --------------------------------------------------------------------------- */

static void ref_permute(const float *x, int rank, const int64_t *xd, const int64_t *perm, float *y)
{
    int64_t yd[MAXR], idx[MAXR], xi[MAXR];
    for (int k = 0; k < rank; k++)
        yd[k] = xd[perm[k]];
    const int64_t n = numel(rank, xd);
    for (int64_t i = 0; i < n; i++) {
        unravel(i, rank, yd, idx);
        for (int k = 0; k < rank; k++)
            xi[perm[k]] = idx[k];
        y[i] = x[ravel(rank, xd, xi)];
    }
}

static void check_permute(int rank, const int64_t *xd, const int64_t *perm)
{
    const int64_t n = numel(rank, xd);
    float *x = rnd_vec(n, -1, 1), *y = fvec(n), *r = fvec(n);
    atl_k_permute(x, rank, xd, perm, y);
    ref_permute(x, rank, xd, perm, r);
    if (memcmp(y, r, sizeof(float) * (size_t)n) != 0) {
        char b[96];
        shape_str(rank, xd, b, sizeof b);
        fail_msg("permute %s perm %lld %lld %lld ...", b, (long long)perm[0],
                 (long long)(rank > 1 ? perm[1] : -1), (long long)(rank > 2 ? perm[2] : -1));
    }
    free(x);
    free(y);
    free(r);
}

static void test_permute(void **state)
{
    (void)state;
    /* Swin's permutes and some transposes that move the innermost axis */
    {
        const int64_t d[] = {2, 4, 4, 4, 4, 8}, p[] = {0, 1, 3, 2, 4, 5};
        check_permute(6, d, p);
    }
    {
        const int64_t d[] = {4, 16, 3, 3, 16}, p[] = {2, 0, 3, 1, 4};
        check_permute(5, d, p);
    }
    {
        const int64_t d[] = {2, 3, 16, 16}, p[] = {0, 2, 1, 3};
        check_permute(4, d, p);
    }
    {
        const int64_t d[] = {37, 45}, p[] = {1, 0};
        check_permute(2, d, p);
    }
    {
        const int64_t d[] = {3, 1, 20, 1, 33}, p[] = {4, 3, 0, 2, 1};
        check_permute(5, d, p);
    }
    for (int trial = 0; trial < 300; trial++) {
        int64_t d[MAXR], p[MAXR];
        const int rank = rnd_int(1, 6);
        for (int i = 0; i < rank; i++) {
            d[i] = rnd_int(1, 5);
            p[i] = i;
        }
        for (int i = rank - 1; i > 0; i--) { /* Fisher-Yates */
            const int j = rnd_int(0, i);
            const int64_t t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        check_permute(rank, d, p);
    }
}

static void test_slice(void **state)
{
    (void)state;
    for (int trial = 0; trial < 300; trial++) {
        int64_t d[MAXR];
        const int rank = rnd_int(1, 6);
        for (int i = 0; i < rank; i++)
            d[i] = rnd_int(1, 5);
        const int axis = rnd_int(0, rank - 1);
        d[axis] = rnd_int(1, 9);
        const int64_t start = rnd_int(0, (int)d[axis] - 1);
        const int64_t end = rnd_int((int)start + 1, (int)d[axis]);
        const int64_t step = rnd_int(1, 3);
        const int64_t cnt = (end - start + step - 1) / step;
        int64_t yd[MAXR];
        memcpy(yd, d, sizeof d);
        yd[axis] = cnt;
        const int64_t nx = numel(rank, d), ny = numel(rank, yd);
        float *x = rnd_vec(nx, -1, 1), *y = fvec(ny), *dy = rnd_vec(ny, -1, 1);
        float *dx = rnd_vec(nx, 5, 6); /* garbage: slice_bwd must overwrite everything */
        atl_k_slice(x, rank, d, axis, start, end, step, y);
        atl_k_slice_bwd(dy, rank, d, axis, start, end, step, dx);
        int64_t idx[MAXR];
        for (int64_t i = 0; i < ny; i++) {
            unravel(i, rank, yd, idx);
            idx[axis] = start + idx[axis] * step;
            assert_true(y[i] == x[ravel(rank, d, idx)]);
        }
        for (int64_t i = 0; i < nx; i++) {
            unravel(i, rank, d, idx);
            const int64_t a = idx[axis];
            float want = 0.0f;
            if (a >= start && a < end && (a - start) % step == 0) {
                idx[axis] = (a - start) / step;
                want = dy[ravel(rank, yd, idx)];
            }
            assert_true(dx[i] == want);
        }
        /* adjoint: <slice(x), dy> == <x, slice_bwd(dy)> (same products, exact in double) */
        double l = 0, r = 0;
        for (int64_t i = 0; i < ny; i++)
            l += (double)y[i] * dy[i];
        for (int64_t i = 0; i < nx; i++)
            r += (double)x[i] * dx[i];
        check_close(l, r, 1e-12, "slice adjoint", trial);
        free(x);
        free(y);
        free(dy);
        free(dx);
    }
}

static void test_roll(void **state)
{
    (void)state;
    for (int trial = 0; trial < 300; trial++) {
        int64_t d[MAXR], axes[4], shifts[4];
        const int rank = rnd_int(1, 6);
        for (int i = 0; i < rank; i++)
            d[i] = rnd_int(1, 6);
        const int na = rnd_int(1, 3);
        for (int a = 0; a < na; a++) {
            axes[a] = rnd_int(-rank, rank - 1); /* negative axes count from the end */
            shifts[a] = rnd_int(-13, 13);
        }
        if (trial == 0 && rank >= 2) { /* Swin: both grid axes by -2 */
            axes[0] = rank - 2;
            axes[1] = rank - 1;
            shifts[0] = shifts[1] = -2;
        }
        const int64_t n = numel(rank, d);
        float *x = rnd_vec(n, -1, 1), *y = fvec(n);
        atl_k_roll(x, rank, d, na, axes, shifts, y);
        int64_t s[MAXR] = {0}, idx[MAXR];
        for (int a = 0; a < na; a++) {
            const int ax = (int)(axes[a] < 0 ? axes[a] + rank : axes[a]);
            s[ax] += shifts[a];
        }
        for (int64_t i = 0; i < n; i++) {
            unravel(i, rank, d, idx);
            /* y[(i + shift) mod d] = x[i] */
            int64_t j[MAXR];
            for (int k = 0; k < rank; k++)
                j[k] = (((idx[k] + s[k]) % d[k]) + d[k]) % d[k];
            assert_true(y[ravel(rank, d, j)] == x[i]);
        }
        free(x);
        free(y);
    }
}

static void test_concat(void **state)
{
    (void)state;
    for (int trial = 0; trial < 200; trial++) {
        int64_t d[MAXR];
        const int rank = rnd_int(1, 6);
        for (int i = 0; i < rank; i++)
            d[i] = rnd_int(1, 4);
        /* middle axes mostly; the first and last too */
        const int axis = rank > 2 && trial % 4 ? rnd_int(1, rank - 2) : rnd_int(0, rank - 1);
        int64_t sizes[3];
        float *xs[3];
        int64_t yd[MAXR];
        memcpy(yd, d, sizeof d);
        yd[axis] = 0;
        for (int k = 0; k < 3; k++) {
            sizes[k] = rnd_int(1, 4);
            yd[axis] += sizes[k];
            int64_t xd[MAXR];
            memcpy(xd, d, sizeof d);
            xd[axis] = sizes[k];
            xs[k] = rnd_vec(numel(rank, xd), -1, 1);
        }
        const int64_t ny = numel(rank, yd);
        float *y = fvec(ny);
        atl_k_concat((const float *const *)xs, sizes, 3, rank, yd, axis, y);
        int64_t idx[MAXR];
        for (int64_t i = 0; i < ny; i++) {
            unravel(i, rank, yd, idx);
            int k = 0;
            while (idx[axis] >= sizes[k]) {
                idx[axis] -= sizes[k];
                k++;
            }
            int64_t xd[MAXR];
            memcpy(xd, d, sizeof d);
            xd[axis] = sizes[k];
            assert_true(y[i] == xs[k][ravel(rank, xd, idx)]);
        }
        for (int k = 0; k < 3; k++)
            free(xs[k]);
        free(y);
    }
}

static void test_gather(void **state)
{
    (void)state;
    const int64_t rows = 49, row = 3, n = 256;
    float *t = rnd_vec(rows * row, -1, 1), *y = fvec(n * row), *dy = rnd_vec(n * row, -1, 1);
    float *dt = rnd_vec(rows * row, 7, 8);
    int32_t idx[256];
    for (int i = 0; i < n; i++)
        idx[i] = i < 10 ? 5 : (int32_t)rnd_int(0, (int)rows - 2); /* 5 repeated; row 48 unused */
    atl_k_gather(t, rows, row, idx, n, y);
    atl_k_gather_bwd(dy, idx, n, rows, row, dt);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < row; c++)
            assert_true(y[i * row + c] == t[idx[i] * row + c]);
    double l = 0, r = 0, la = 0;
    for (int64_t k = 0; k < rows; k++)
        for (int64_t c = 0; c < row; c++) {
            double s = 0, sa = 0;
            int cnt = 0;
            for (int64_t i = 0; i < n; i++)
                if (idx[i] == k) {
                    s += dy[i * row + c];
                    sa += fabs(dy[i * row + c]);
                    cnt++;
                }
            check_close(dt[k * row + c], s, cnt * EPS_F * sa, "gather_bwd", k * row + c);
            r += (double)t[k * row + c] * dt[k * row + c];
        }
    for (int64_t k = 48 * row; k < 49 * row; k++)
        assert_true(dt[k] == 0.0f);
    for (int64_t i = 0; i < n * row; i++) {
        l += (double)y[i] * dy[i];
        la += fabs((double)y[i] * dy[i]);
    }
    check_close(r, l, n * EPS_F * la, "gather adjoint", 0);
    free(t);
    free(y);
    free(dy);
    free(dt);
}

/* ---- dense algebra ------------------------------------------------------------------------- */

typedef struct lin_ctx {
    const float *x, *w, *b;
    int64_t m, k, n;
} lin_ctx;
static void lin_fwd_x(const float *x, float *y, const void *ctx)
{
    const lin_ctx *c = ctx;
    atl_k_linear(x, c->w, c->b, y, c->m, c->k, c->n);
}
static void lin_fwd_w(const float *w, float *y, const void *ctx)
{
    const lin_ctx *c = ctx;
    atl_k_linear(c->x, w, c->b, y, c->m, c->k, c->n);
}

static void test_linear(void **state)
{
    (void)state;
    const int64_t cases[][3] = {{1, 1, 1}, {5, 7, 3}, {64, 48, 144}, {33, 100, 17}, {4, 3, 5}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t m = cases[c][0], k = cases[c][1], n = cases[c][2];
        float *x = rnd_vec(m * k, -1, 1), *w = rnd_vec(n * k, -1, 1), *b = rnd_vec(n, -1, 1);
        float *y = fvec(m * n), *y0 = fvec(m * n), *dy = rnd_vec(m * n, -1, 1);
        float *dx = fvec(m * k), *dw = fvec(n * k);
        atl_k_linear(x, w, b, y, m, k, n);
        atl_k_linear(x, w, NULL, y0, m, k, n);
        atl_k_linear_bwd_x(dy, w, dx, m, k, n);
        atl_k_linear_bwd_w(dy, x, dw, m, k, n);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0, sa = 0;
                for (int64_t l = 0; l < k; l++) {
                    s += (double)x[i * k + l] * w[j * k + l];
                    sa += fabs((double)x[i * k + l] * w[j * k + l]);
                }
                const double tol = (double)(k + 2) * EPS_F * (sa + fabs(b[j]));
                check_close(y0[i * n + j], s, tol, "linear", i * n + j);
                check_close(y[i * n + j], s + b[j], tol, "linear+b", i * n + j);
            }
        for (int64_t i = 0; i < m; i++)
            for (int64_t l = 0; l < k; l++) {
                double s = 0, sa = 0;
                for (int64_t j = 0; j < n; j++) {
                    s += (double)dy[i * n + j] * w[j * k + l];
                    sa += fabs((double)dy[i * n + j] * w[j * k + l]);
                }
                check_close(dx[i * k + l], s, (double)(n + 2) * EPS_F * sa, "linear_bwd_x", i);
            }
        for (int64_t j = 0; j < n; j++)
            for (int64_t l = 0; l < k; l++) {
                double s = 0, sa = 0;
                for (int64_t i = 0; i < m; i++) {
                    s += (double)dy[i * n + j] * x[i * k + l];
                    sa += fabs((double)dy[i * n + j] * x[i * k + l]);
                }
                check_close(dw[j * k + l], s, (double)(m + 2) * EPS_F * sa, "linear_bwd_w", j);
            }
        if (m * k * n <= 200) {
            lin_ctx ctx = {x, w, b, m, k, n};
            fd_check(lin_fwd_x, &ctx, x, m * k, m * n, dy, dx, 1e-2f, 1e-4, 1e-3, "linear_bwd_x fd");
            fd_check(lin_fwd_w, &ctx, w, n * k, m * n, dy, dw, 1e-2f, 1e-4, 1e-3, "linear_bwd_w fd");
        }
        free(x);
        free(w);
        free(b);
        free(y);
        free(y0);
        free(dy);
        free(dx);
        free(dw);
    }
}

static void check_matmul(int ra, const int64_t *ad, bool ta, int rb, const int64_t *bd, bool tb)
{
    int64_t yd[MAXR];
    const int nb = bcast_shape(ra - 2, ad, rb - 2, bd, yd);
    const int64_t m = ta ? ad[ra - 1] : ad[ra - 2], k = ta ? ad[ra - 2] : ad[ra - 1];
    const int64_t n = tb ? bd[rb - 2] : bd[rb - 1];
    yd[nb] = m;
    yd[nb + 1] = n;
    const int ry = nb + 2;
    const int64_t na = numel(ra, ad), nbn = numel(rb, bd), ny = numel(ry, yd);
    float *a = rnd_vec(na, -1, 1), *b = rnd_vec(nbn, -1, 1), *y = rnd_vec(ny, 9, 10);
    atl_k_matmul(a, ra, ad, ta, b, rb, bd, tb, y, ry, yd);
    int64_t idx[MAXR];
    const int64_t mats = numel(nb, yd);
    for (int64_t q = 0; q < mats; q++) {
        unravel(q, nb, yd, idx);
        const int64_t ao = bcast_index(nb, idx, ra - 2, ad) * m * k;
        const int64_t bo = bcast_index(nb, idx, rb - 2, bd) * k * n;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0, sa = 0;
                for (int64_t l = 0; l < k; l++) {
                    const double u = a[ao + (ta ? l * m + i : i * k + l)];
                    const double v = b[bo + (tb ? j * k + l : l * n + j)];
                    s += u * v;
                    sa += fabs(u * v);
                }
                const int64_t yi = (q * m + i) * n + j;
                if (!(fabs(y[yi] - s) <= (double)(k + 2) * EPS_F * sa)) {
                    char s1[96], s2[96];
                    shape_str(ra, ad, s1, sizeof s1);
                    shape_str(rb, bd, s2, sizeof s2);
                    fail_msg("matmul %s%s @ %s%s at %lld: %.9g vs %.9g", s1, ta ? "^T" : "", s2,
                             tb ? "^T" : "", (long long)yi, (double)y[yi], s);
                }
            }
    }
    free(a);
    free(b);
    free(y);
}

static void test_matmul(void **state)
{
    (void)state;
    {   /* folds into one gemm: b broadcast over a's batch */
        const int64_t a[] = {2, 3, 5, 4}, b[] = {4, 6}, b1[] = {1, 1, 4, 6};
        check_matmul(4, a, false, 2, b, false);
        check_matmul(4, a, false, 4, b1, false);
        const int64_t b2[] = {5, 6};
        check_matmul(4, a, true, 2, b2, false); /* ta: no fold */
    }
    {   /* partial fold: b broadcast over the inner batch dim only */
        const int64_t a[] = {2, 3, 5, 4}, b[] = {2, 1, 4, 6};
        check_matmul(4, a, false, 4, b, false);
    }
    {   /* a broadcast, b full; leading dims missing on a */
        const int64_t a[] = {3, 5, 4}, b[] = {2, 1, 6, 4};
        check_matmul(3, a, false, 4, b, true);
    }
    {   /* Swin attention: [bw, heads, n, hd] @ [bw, heads, n, hd]^T */
        const int64_t q[] = {4, 3, 16, 16};
        check_matmul(4, q, false, 4, q, true);
        check_matmul(4, q, false, 4, q, false);
        check_matmul(4, q, true, 4, q, false);
    }
    for (int trial = 0; trial < 200; trial++) {
        int64_t full[MAXR], ad[MAXR], bd[MAXR];
        const int nbat = rnd_int(0, 4);
        for (int i = 0; i < nbat; i++)
            full[i] = rnd_int(1, 3);
        const int ra = bcast_operand(nbat, full, ad) + 2, rb = bcast_operand(nbat, full, bd) + 2;
        const int64_t m = rnd_int(1, 7), k = trial % 9 ? rnd_int(1, 7) : 40, n = rnd_int(1, 7);
        const bool ta = rnd_int(0, 1), tb = rnd_int(0, 1);
        ad[ra - 2] = ta ? k : m;
        ad[ra - 1] = ta ? m : k;
        bd[rb - 2] = tb ? n : k;
        bd[rb - 1] = tb ? k : n;
        check_matmul(ra, ad, ta, rb, bd, tb);
    }
}

/* ---- losses ---------------------------------------------------------------------------------- */

typedef struct ce_ctx {
    const int32_t *lab;
    int64_t b, c;
} ce_ctx;
static void ce_fwd(const float *x, float *y, const void *ctx)
{
    const ce_ctx *c = ctx;
    y[0] = atl_k_cross_entropy(x, c->lab, c->b, c->c);
}
typedef struct mse_ctx {
    const float *t;
    int64_t n;
} mse_ctx;
static void mse_fwd(const float *p, float *y, const void *ctx)
{
    const mse_ctx *c = ctx;
    y[0] = atl_k_mse(p, c->t, c->n);
}

static void test_losses(void **state)
{
    (void)state;
    const int64_t cases[][2] = {{4, 10}, {3, 37}, {1, 1}, {64, 100}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t b = cases[c][0], k = cases[c][1];
        float *x = rnd_vec(b * k, -4, 4), *dx = fvec(b * k);
        int32_t lab[64];
        for (int64_t i = 0; i < b; i++)
            lab[i] = (int32_t)rnd_int(0, (int)k - 1);
        const float dl = 0.7f;
        const float loss = atl_k_cross_entropy(x, lab, b, k);
        atl_k_cross_entropy_bwd(x, lab, b, k, dl, dx);
        double want = 0;
        for (int64_t i = 0; i < b; i++) {
            double m = -INFINITY, s = 0;
            for (int64_t j = 0; j < k; j++)
                m = fmax(m, x[i * k + j]);
            for (int64_t j = 0; j < k; j++)
                s += exp(x[i * k + j] - m);
            want += m + log(s) - x[i * k + lab[i]];
            for (int64_t j = 0; j < k; j++) {
                const double p = exp(x[i * k + j] - m) / s;
                const double g = (p - (j == lab[i])) * dl / (double)b;
                /* p carries (k/16 + 8) eps relative error (exp, 16-lane sum, division) */
                check_close(dx[i * k + j], g,
                            ((double)k / 16 + 10) * 2 * EPS_F * (p * dl / (double)b + fabs(g)) +
                                1e-12,
                            "cross_entropy_bwd", i);
            }
        }
        want /= (double)b;
        /* per row: max, log of the sum and two subtractions, each within a few eps of
         * |x| <= 4 or log(k) */
        check_close(loss, want, 8 * EPS_F * (4 + log((double)k) + 1), "cross_entropy",
                    (int64_t)c);
        if (b * k <= 200) {
            ce_ctx ctx = {lab, b, k};
            float dlv = dl;
            fd_check(ce_fwd, &ctx, x, b * k, 1, &dlv, dx, 1e-2f, 1e-4, 1e-2, "cross_entropy fd");
        }
        free(x);
        free(dx);
    }
    /* stable for huge logits */
    {
        float x[3] = {1000.0f, -1000.0f, 999.0f}, dx[3];
        int32_t l = 2;
        const float loss = atl_k_cross_entropy(x, &l, 1, 3);
        check_close(loss, 1.0 + log1p(exp(-1.0)), 1e-6, "cross_entropy large", 0);
        atl_k_cross_entropy_bwd(x, &l, 1, 3, 1.0f, dx);
        for (int j = 0; j < 3; j++)
            assert_true(isfinite(dx[j]));
    }
    {
        const int64_t n = 50;
        float *p = rnd_vec(n, -2, 2), *t = rnd_vec(n, -2, 2), *dp = fvec(n);
        const float dl = 1.3f;
        const float l = atl_k_mse(p, t, n);
        atl_k_mse_bwd(p, t, n, dl, dp);
        double want = 0;
        for (int64_t i = 0; i < n; i++) {
            const double d = (double)p[i] - t[i];
            want += d * d;
            check_close(dp[i], 2 * d * dl / (double)n, 4 * EPS_F * fabs(2 * d * dl / n) + 1e-12,
                        "mse_bwd", i);
        }
        check_close(l, want / (double)n, 2 * EPS_F * want / (double)n, "mse", 0);
        mse_ctx ctx = {t, n};
        float dlv = dl;
        fd_check(mse_fwd, &ctx, p, n, 1, &dlv, dp, 1e-2f, 1e-4, 1e-2, "mse fd");
        free(p);
        free(t);
        free(dp);
    }
}

/* ---- optimiser ------------------------------------------------------------------------------- */

static void test_sgd(void **state)
{
    (void)state;
    /* p = 1, grad = 0.5 both steps, lr = 0.1, weight decay 0.1 (hand-computed in decimal) */
    float p, v;
    const float g = 0.5f;
    /* plain SGD: v unused (NULL is fine) */
    p = 1.0f;
    atl_k_sgd(&p, &g, NULL, 1, 0.1f, 0.0f, false, 0.1f, true);
    check_close(p, 0.94, 1e-6, "sgd plain", 0);
    /* momentum 0.9: step 1 g = 0.6, v = 0.6, p = 0.94; step 2 g = 0.5 + 0.094 = 0.594,
     * v = 0.54 + 0.594 = 1.134, p = 0.94 - 0.1134 = 0.8266 */
    p = 1.0f;
    v = 123.0f; /* ignored on the first step */
    atl_k_sgd(&p, &g, &v, 1, 0.1f, 0.9f, false, 0.1f, true);
    check_close(p, 0.94, 1e-6, "sgd momentum 1", 0);
    check_close(v, 0.6, 1e-6, "sgd momentum v1", 0);
    atl_k_sgd(&p, &g, &v, 1, 0.1f, 0.9f, false, 0.1f, false);
    check_close(v, 1.134, 1e-6, "sgd momentum v2", 0);
    check_close(p, 0.8266, 1e-6, "sgd momentum 2", 0);
    /* Nesterov: step 1 v = 0.6, p = 1 - 0.1 (0.6 + 0.54) = 0.886; step 2 g = 0.5 + 0.0886 =
     * 0.5886, v = 0.54 + 0.5886 = 1.1286, p = 0.886 - 0.1 (0.5886 + 1.01574) = 0.725566 */
    p = 1.0f;
    atl_k_sgd(&p, &g, &v, 1, 0.1f, 0.9f, true, 0.1f, true);
    check_close(p, 0.886, 1e-6, "sgd nesterov 1", 0);
    atl_k_sgd(&p, &g, &v, 1, 0.1f, 0.9f, true, 0.1f, false);
    check_close(v, 1.1286, 1e-6, "sgd nesterov v2", 0);
    check_close(p, 0.725566, 1e-6, "sgd nesterov 2", 0);
    /* no weight decay, vector of 40 (vector loops and tails) against the formula */
    enum { N = 40 };
    float pv[N], gv[N], vv[N], pr[N];
    for (int i = 0; i < N; i++) {
        pv[i] = pr[i] = rnd_f(-1, 1);
        gv[i] = rnd_f(-1, 1);
        vv[i] = 0;
    }
    atl_k_sgd(pv, gv, vv, N, 0.05f, 0.5f, false, 0.0f, true);
    atl_k_sgd(pv, gv, vv, N, 0.05f, 0.5f, false, 0.0f, false);
    for (int i = 0; i < N; i++) {
        const double want = pr[i] - 0.05 * gv[i] - 0.05 * (0.5 * gv[i] + gv[i]);
        check_close(pv[i], want, 1e-6, "sgd vector", i);
        check_close(vv[i], 1.5 * gv[i], 1e-6, "sgd vector v", i);
    }
}

/* ---- determinism ----------------------------------------------------------------------------- */

static void test_determinism(void **state)
{
    (void)state;
    const int64_t m = 300, k = 48, n = 144;
    float *x = rnd_vec(m * k, -1, 1), *w = rnd_vec(n * k, -1, 1), *b = rnd_vec(n, -1, 1);
    float *y1 = fvec(m * n), *y2 = fvec(m * n), *s1 = fvec(n), *s2 = fvec(n);
    float *l1 = fvec(m * k), *l2 = fvec(m * k), *g1 = fvec(k), *g2 = fvec(k);
    for (int rep = 0; rep < 2; rep++) {
        float *y = rep ? y2 : y1, *s = rep ? s2 : s1, *l = rep ? l2 : l1, *g = rep ? g2 : g1;
        atl_k_linear(x, w, b, y, m, k, n);
        const int64_t yd[] = {m, n}, sd[] = {n};
        atl_k_sum_to(y, 2, yd, s, 1, sd);
        atl_k_layernorm(x, NULL, NULL, l, m, k, 1e-5f);
        atl_k_layernorm_bwd_w(x, x, g, m, k, 1e-5f);
    }
    assert_memory_equal(y1, y2, sizeof(float) * (size_t)(m * n));
    assert_memory_equal(s1, s2, sizeof(float) * (size_t)n);
    assert_memory_equal(l1, l2, sizeof(float) * (size_t)(m * k));
    assert_memory_equal(g1, g2, sizeof(float) * (size_t)k);
    /* softmax and gelu (k_math.h) */
    atl_k_softmax(x, l1, m, k, 1);
    atl_k_softmax(x, l2, m, k, 1);
    assert_memory_equal(l1, l2, sizeof(float) * (size_t)(m * k));
    atl_k_gelu(x, l1, m * k);
    atl_k_gelu(x, l2, m * k);
    assert_memory_equal(l1, l2, sizeof(float) * (size_t)(m * k));
    /* the batched matmul (many small gemms). Not tested: other OpenBLAS thread counts, which
     * change sgemm's bits (measured for 300x48x144); see atl_k_init. */
    const int64_t ad[] = {16, 3, 16, 16};
    const int64_t yd[] = {16, 3, 16, 16};
    float *a = rnd_vec(16 * 3 * 256, -1, 1), *o1 = fvec(16 * 3 * 256), *o2 = fvec(16 * 3 * 256);
    atl_k_matmul(a, 4, ad, false, a, 4, ad, true, o1, 4, yd);
    atl_k_matmul(a, 4, ad, false, a, 4, ad, true, o2, 4, yd);
    assert_memory_equal(o1, o2, sizeof(float) * 16 * 3 * 256);
    free(a);
    free(o1);
    free(o2);
    free(x);
    free(w);
    free(b);
    free(y1);
    free(y2);
    free(s1);
    free(s2);
    free(l1);
    free(l2);
    free(g1);
    free(g2);
}

int main(void)
{
    atl_k_init(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill),
        cmocka_unit_test(test_attn_mask),
        cmocka_unit_test(test_rel_pos_index),
        cmocka_unit_test(test_binary_broadcast),
        cmocka_unit_test(test_unary),
        cmocka_unit_test(test_unary_bwd),
        cmocka_unit_test(test_transcendental_sweep),
        cmocka_unit_test(test_transcendental_special),
        cmocka_unit_test(test_sum_mean_axis),
        cmocka_unit_test(test_long_sums),
        cmocka_unit_test(test_broadcast_axis),
        cmocka_unit_test(test_sum_to_broadcast_to),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_permute),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_roll),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_sgd),
        cmocka_unit_test(test_determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
