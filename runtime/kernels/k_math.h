/* Vectorisable float exp, tanh and normal CDF for the dense kernels (internal).
 *
 * Why not libm: glibc's expf/erfcf/tanhf are scalar calls of 5-25 ns each on this machine, so gelu
 * on a [2048, 192] activation took 4.4 ms (8x the fc1 GEMM before it). These functions are
 * branch-free straight-line float code (selects instead of branches, integer bit operations for
 * 2^n) that GCC vectorises inside the kernels' loops: ~0.1-0.5 ns per element.
 *
 * Determinism: only IEEE-754 single-precision +, -, *, / and exact bit operations, compiled with
 * -ffp-contract=off, so the result of each element is the same in a vector lane, in a scalar tail,
 * and on any x86-64 ISA level.
 *
 * Accuracy, measured against double precision on every 17th float of the relevant ranges (a
 * development sweep; tests/unit/test_kernels.c repeats it with a coarser stride and asserts
 * bounds): expf 0.95 ulp, tanh 1.30, sigmoid 2.34, normal CDF 4.8, gelu 4.38 ulp; gelu' 3.66 ulp
 * of |Phi| + |x phi| (it has a root near x = -0.75, so its relative error is unbounded there,
 * as for any float evaluation). Below 2^-126 errors are on the subnormal grid instead. The
 * polynomial coefficients are our own near-minimax fits (Lawson-weighted least squares in double,
 * rounded to float, checked in float arithmetic); runtime/kernels/fit_k_math.py reproduces them.
 */
#ifndef ATL_K_MATH_H
#define ATL_K_MATH_H

#include <math.h>
#include <stdint.h>

typedef union k_fbits {
    float f;
    uint32_t u;
} k_fbits;

static inline float k_from_bits(uint32_t u)
{
    k_fbits b;
    b.u = u;
    return b.f;
}

static inline uint32_t k_to_bits(float f)
{
    k_fbits b;
    b.f = f;
    return b.u;
}

#define K_LOG2E 1.44269504088896341f
/* ln 2 = K_LN2_HI + K_LN2_LO with K_LN2_HI = 355/512 (9 significant bits: n * K_LN2_HI is exact
 * for |n| <= 2^15) */
#define K_LN2_HI 0.693359375f
#define K_LN2_LO -2.12194440e-4f
#define K_1_SQRT2PI 0.398942280401432678f

/* e^x. Overflows to inf above ~88.72, underflows through the subnormals to 0 below ~-103.9,
 * NaN stays NaN. */
static inline float k_expf(float x)
{
    float xc = x > -104.0f ? x : -104.0f; /* also maps NaN to -104 (fixed up below) */
    xc = xc < 89.0f ? xc : 89.0f;
    /* n = round(x / ln 2) by the 1.5 * 2^23 trick (|x / ln 2| < 2^22), r = x - n ln 2 with
     * |r| <= ln(2)/2 (Cody-Waite: x - n*K_LN2_HI is exact) */
    const float kf = (xc * K_LOG2E + 12582912.0f) - 12582912.0f;
    const float r = (xc - kf * K_LN2_HI) - kf * K_LN2_LO;
    /* e^r = 1 + r + r^2 P(r) */
    float p = 1.97903268e-4f;
    p = p * r + 1.39446545e-3f;
    p = p * r + 8.33349675e-3f;
    p = p * r + 4.16662954e-2f;
    p = p * r + 1.66666657e-1f;
    p = p * r + 0.5f;
    const float er = 1.0f + (r + r * r * p);
    /* times 2^n in two exact-or-once-rounded steps so that n in [-150, 128] needs no special
     * case: 2^n1 and 2^n2 are normal floats and only the last product can round (subnormal
     * results) or overflow */
    const int32_t n = (int32_t)kf;
    const int32_t n1 = n / 2, n2 = n - n1;
    const float s1 = k_from_bits((uint32_t)(n1 + 127) << 23);
    const float s2 = k_from_bits((uint32_t)(n2 + 127) << 23);
    const float y = (er * s1) * s2;
    return x == x ? y : x;
}

/* exp(-a^2 / 2) for a >= 0 (or NaN), without the error a^2 * eps / 2 that rounding a^2 would
 * cause: a = ah + al with ah holding the top 12 significant bits, so ah^2 is exact and
 * a^2 / 2 = ah^2 / 2 + d with d = al (a + ah) / 2 < 2^-6 for a < 16 (the result underflows
 * from a = 14.4 on), and e^-d is a degree-5 Taylor polynomial (error d^6/720 < 1e-13). Inputs
 * above 20 give 0 (e^-200). */
static inline float k_exp_neg_half_sq(float a)
{
    const float ac = a < 20.0f ? a : 20.0f; /* NaN -> 20 */
    const float ah = k_from_bits(k_to_bits(ac) & 0xfffff000u);
    const float d = 0.5f * ((ac - ah) * (ac + ah));
    float p = 1.0f - d * 0.2f;
    p = 1.0f - d * 0.25f * p;
    p = 1.0f - d * (1.0f / 3.0f) * p;
    p = 1.0f - d * 0.5f * p;
    p = 1.0f - d * p;
    return k_expf(-0.5f * (ah * ah)) * p;
}

/* The normal CDF pieces shared by gelu and its derivative. For a = |x|:
 *   |x| <= 0.8: Phi(x) = 1/2 + x S(x^2)                         (S: odd Taylor-like part)
 *   |x| >  0.8: a Phi(-a) = q = exp(-a^2/2) / sqrt(2 pi) * g(1/a), g(u) = Mills ratio / u,
 *               Phi(x) = q/a (x < 0) or 1 - q/a (x > 0).
 * g is fitted on u in [0, 0.4] (a >= 2.5) and [0.4, 1.25] (0.8 < a < 2.5) as two degree-9
 * polynomials in u - centre, selected per element. */
typedef struct k_cdf {
    float small; /* x S(x^2): Phi(x) - 1/2 for |x| <= 0.8 */
    float q;     /* a Phi(-a) for |x| > 0.8 */
    float u;     /* 1/a (clamped) */
    float e;     /* exp(-x^2/2) */
    int is_small;
} k_cdf;

static inline k_cdf k_cdf_parts(float x)
{
    k_cdf c;
    const float a = fabsf(x);
    const float t = x * x;
    float s = -8.13032329e-6f;
    s = s * t + 1.14376104e-4f;
    s = s * t - 1.18690962e-3f;
    s = s * t + 9.97347478e-3f;
    s = s * t - 6.64903745e-2f;
    s = s * t + 3.98942292e-1f;
    c.small = x * s;
    c.e = k_exp_neg_half_sq(a);
    c.u = 1.0f / (a > 0.5f ? a : 0.5f);
    const int far = c.u < 0.4f;
    const float v = c.u - (far ? 0.2f : 0.825f);
    float g = far ? 35.077007f : -2.48090131e-3f;
    g = g * v + (far ? -13.9409704f : -2.92675663e-2f);
    g = g * v + (far ? -4.18931246f : 6.32221475e-2f);
    g = g * v + (far ? 5.39200115f : -7.93524012e-2f);
    g = g * v + (far ? -1.96624029f : 8.22418556e-2f);
    g = g * v + (far ? -4.72285479e-1f : -6.12824559e-2f);
    g = g * v + (far ? 1.06873703f : -2.48464965e-3f);
    g = g * v + (far ? -5.19071639e-1f : 1.31798312e-1f);
    g = g * v + (far ? -3.25268239e-1f : -3.56265277e-1f);
    g = g * v + (far ? 9.64040518e-1f : 7.14048922e-1f);
    c.q = (c.e * K_1_SQRT2PI) * g;
    c.is_small = a <= 0.8f;
    return c;
}

/* normal CDF Phi(x) */
static inline float k_normcdf(float x)
{
    const k_cdf c = k_cdf_parts(x);
    const float tail = c.q * c.u; /* Phi(-|x|) */
    const float big = x < 0.0f ? tail : 1.0f - tail;
    return c.is_small ? 0.5f + c.small : (x == x ? big : x);
}

/* gelu(x) = x Phi(x); for |x| > 0.8 as -q (x < 0) or x - q (x > 0), which avoids a second
 * rounding through Phi. gelu(-inf) = -0, gelu(inf) = inf, NaN stays NaN. */
static inline float k_gelu(float x)
{
    const k_cdf c = k_cdf_parts(x);
    const float big = x < 0.0f ? -c.q : x - c.q;
    return c.is_small ? x * (0.5f + c.small) : big;
}

/* gelu'(x) = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi) */
static inline float k_gelu_grad(float x)
{
    const k_cdf c = k_cdf_parts(x);
    const float tail = c.q * c.u;
    const float big = x < 0.0f ? tail : 1.0f - tail;
    const float cdf = c.is_small ? 0.5f + c.small : big;
    const float d = x * (c.e * K_1_SQRT2PI);
    return x == x ? cdf + (x == -INFINITY || x == INFINITY ? 0.0f : d) : x;
}

/* tanh: x + x^3 P(x^2) for |x| < 0.625, else sign(x) (1 - 2 / (e^{2|x|} + 1)) (no cancellation:
 * tanh >= 0.55 there). */
static inline float k_tanhf(float x)
{
    const float a = fabsf(x);
    const float t = x * x;
    float p = -5.70502831e-3f;
    p = p * t + 2.06391234e-2f;
    p = p * t - 5.37397265e-2f;
    p = p * t + 1.33314416e-1f;
    p = p * t - 3.33332807e-1f;
    const float small = copysignf(x + x * (t * p), x); /* tanh(-0) = -0 */
    const float ac = a < 20.0f ? a : 20.0f; /* tanh(20) rounds to 1; NaN -> 20 */
    const float big = copysignf(1.0f - 2.0f / (k_expf(2.0f * ac) + 1.0f), x);
    return a < 0.625f ? small : (x == x ? big : x);
}

/* 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0: the exponential never overflows, and
 * for x < -88.7 (where e^-x would be inf) the result keeps its tiny value instead of 0. */
static inline float k_sigmoidf(float x)
{
    const float e = k_expf(-fabsf(x));
    const float d = 1.0f + e;
    return x < 0.0f ? e / d : 1.0f / d;
}

#endif
