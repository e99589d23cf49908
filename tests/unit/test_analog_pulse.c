/* Pulsed update (ANALOG_MODEL.md §1): update management and bit-length management, the mean
 * pulsed update against the ideal -lr d x^T below and beyond the bit-length limit, the dense
 * pulse types, the floating-point update, and bit-exact determinism (same seed, 1 vs 2 threads). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "analog_test_util.h"

static an_dev make_ideal_cs(int d, int x, float dw)
{
    /* ConstantStep without any variation and with far bounds: every pulse is exactly +-dw */
    atl_dev_params p = atl_dev_defaults(ATL_DEV_CONSTANT_STEP);
    p.dw_min = dw;
    p.dw_min_dtod = 0;
    p.up_down_dtod = 0;
    p.dw_min_std = 0;
    p.w_max = 1000.0f;
    p.w_min = -1000.0f;
    p.w_max_dtod = 0;
    p.w_min_dtod = 0;
    an_dev dv;
    char err[200];
    assert_int_equal(an_dev_init(&dv, &p, d, x, 1, 2, 0, err, sizeof err), 0);
    return dv;
}

static an_pulse_rng rng_at(uint64_t c)
{
    an_pulse_rng r = {77, an_stream(5, AN_TAG_UPD_BX, c), an_stream(5, AN_TAG_UPD_BD, c),
                      an_stream(5, AN_TAG_UPD_PULSE, c), an_stream(5, AN_TAG_UPD_STO, c)};
    return r;
}

static void fill_uniform(float *v, int n, uint64_t seed)
{
    atl_rng_uniform_fill_at(seed, 1, 0, (size_t)n, v);
    for (int k = 0; k < n; k++)
        v[k] = 2.0f * v[k] - 1.0f;
}

/* §1.2-1.3: A*B = lr/(g BL), B x_m = A d_m = sqrt(k/BL) <= 1 (balanced), BL = ceil(k) with
 * UBLM; beyond desired_bl the d side is clipped so that B x_m = 1 and A d_m = k/BL. */
static void test_update_management(void **state)
{
    (void)state;
    atl_update_params up = atl_update_defaults();
    float A, B;
    const float g = 0.001f, lr = 0.01f, xm = 2.0f, dm = 0.5f;
    int BL = an_update_bl(&up, lr, g, xm, dm, &A, &B);
    float k = lr * xm * dm / g; /* 10 */
    assert_int_equal(BL, 10);
    assert_true(fabsf(A * B - lr / (g * BL)) < 1e-6f * A * B);
    assert_true(fabsf(B * xm - A * dm) < 1e-5f);
    assert_true(fabsf(B * xm - sqrtf(k / BL)) < 1e-5f);
    /* k = 100 > 31: BL = 31, x saturates at probability 1, d is clipped */
    BL = an_update_bl(&up, 0.1f, g, xm, dm, &A, &B);
    assert_int_equal(BL, 31);
    assert_true(fabsf(B * xm - 1.0f) < 1e-5f);
    assert_true(fabsf(A * dm - 100.0f / 31.0f) < 1e-4f);
    /* UM off (no UBLM): A == B = sqrt(lr/(g BL)) with the fixed BL */
    up.update_bl_management = 0;
    up.update_management = 0;
    BL = an_update_bl(&up, lr, g, xm, dm, &A, &B);
    assert_int_equal(BL, 31);
    assert_true(A == B && fabsf(A - sqrtf(lr / (g * 31))) < 1e-7f);
    /* UM without UBLM balances at the fixed BL */
    up.update_management = 1;
    BL = an_update_bl(&up, lr, g, xm, dm, &A, &B);
    assert_int_equal(BL, 31);
    assert_true(fabsf(B * xm - A * dm) < 1e-5f);
    /* zero vectors and lr = 0: no update */
    up = atl_update_defaults();
    assert_int_equal(an_update_bl(&up, lr, g, 0.0f, dm, &A, &B), 0);
    assert_int_equal(an_update_bl(&up, 0.0f, g, xm, dm, &A, &B), 0);
    /* fixed_bl = false without UBLM: BL = ceil(lr/g) when g*desired_bl < lr, A = B = 1 */
    up.fixed_bl = 0;
    up.update_bl_management = 0;
    up.update_management = 0;
    BL = an_update_bl(&up, 0.05f, g, xm, dm, &A, &B);
    assert_int_equal(BL, 50);
    assert_true(A == 1.0f && B == 1.0f);
}

/* Runs R pulsed updates with the same x, d on an ideal device and returns the regression slope
 * of the accumulated change against R*(-lr d x^T), plus the change at the element of largest
 * |x_j d_i|. */
static double run_slope(int pulse_type, float lr, int R, double *dw_max, double *se)
{
    const int D = 24, X = 40;
    const float dw = 0.001f;
    an_dev dv = make_ideal_cs(D, X, dw);
    an_work wk;
    assert_int_equal(an_work_init(&wk, X, D, 31), 0);
    float x[40], d[24];
    fill_uniform(x, X, 3);
    fill_uniform(d, D, 4);
    atl_update_params up = atl_update_defaults();
    up.pulse_type = (atl_pulse_type)pulse_type;
    uint64_t nu = 0, nd = 0;
    for (int r = 0; r < R; r++) {
        an_pulse_rng rr = rng_at((uint64_t)r);
        an_pulsed_update(&dv, x, d, lr, dw, &up, &rr, &wk, 1, &nu, &nd);
    }
    double sxy = 0, sxx = 0, best = -1;
    int kbest = 0;
    for (int i = 0; i < D; i++)
        for (int j = 0; j < X; j++) {
            double e = -(double)R * lr * d[i] * x[j];
            double a = dv.w[i * X + j];
            sxy += a * e;
            sxx += e * e;
            if (fabs(e) > best) {
                best = fabs(e);
                kbest = i * X + j;
            }
        }
    double slope = sxy / sxx;
    /* standard error: Var(count) <= E(count) = |e|/dw per element, each pulse dw */
    double v = 0;
    for (int i = 0; i < D; i++)
        for (int j = 0; j < X; j++) {
            double e = -(double)R * lr * d[i] * x[j];
            v += e * e * fabs(e) * dw;
        }
    *se = sqrt(v) / sxx;
    *dw_max = fabs(dv.w[kbest]) / R;
    assert_int_equal(nu + nd > 0, 1);
    an_work_free(&wk);
    an_dev_free(&dv);
    return slope;
}

/* The mean pulsed update equals -lr d x^T (slope 1 +- 0.02) below the bit-length limit and
 * saturates beyond it (§1.3-1.4). */
static void test_mean_update_slope(void **state)
{
    (void)state;
    double dwm, se;
    /* k = lr x_m d_m / dw ~ 12 < 31 */
    double s = run_slope(ATL_PULSE_STOCHASTIC_COMPRESSED, 0.0125f, 300, &dwm, &se);
    print_message("slope below the BL limit: %.4f (se %.4f)\n", s, se);
    assert_true(fabs(s - 1.0) < 0.02);
    assert_true(fabs(s - 1.0) < 5 * se + 1e-3);
    /* k ~ 124 > 31: at most BL = 31 pulses per element and update */
    s = run_slope(ATL_PULSE_STOCHASTIC_COMPRESSED, 0.125f, 50, &dwm, &se);
    print_message("slope beyond the BL limit: %.4f, max element %.4f per update\n", s, dwm);
    assert_true(s < 0.5);
    assert_true(dwm <= 31 * 0.001 + 1e-6);
    assert_true(dwm > 25 * 0.001);
    /* dense pulse types have the same mean within their rounding */
    s = run_slope(ATL_PULSE_MEAN_COUNT, 0.0125f, 20, &dwm, &se);
    assert_true(fabs(s - 1.0) < 0.1);
    s = run_slope(ATL_PULSE_DETERMINISTIC_IMPLICIT, 0.0125f, 20, &dwm, &se);
    assert_true(fabs(s - 1.0) < 0.1);
}

/* §1.6: pulse_type None is the exact W -= lr d x^T; NoneWithDevice also clips to the bounds. */
static void test_fp_update(void **state)
{
    (void)state;
    const int D = 5, X = 7;
    an_dev dv = make_ideal_cs(D, X, 0.01f);
    an_work wk;
    assert_int_equal(an_work_init(&wk, X, D, 31), 0);
    float x[7], d[5];
    fill_uniform(x, X, 8);
    fill_uniform(d, D, 9);
    atl_update_params up = atl_update_defaults();
    up.pulse_type = ATL_PULSE_NONE;
    uint64_t nu = 0, nd = 0;
    an_pulse_rng r = rng_at(0);
    an_pulsed_update(&dv, x, d, 0.3f, 0.01f, &up, &r, &wk, 1, &nu, &nd);
    for (int i = 0; i < D; i++)
        for (int j = 0; j < X; j++)
            assert_true(dv.w[i * X + j] == 0.0f - (0.3f * d[i]) * x[j]);
    assert_int_equal(nu + nd, 0);
    an_dev_free(&dv);
    atl_dev_params p = atl_dev_defaults(ATL_DEV_SOFT_BOUNDS);
    p.w_max_dtod = p.w_min_dtod = 0;
    assert_int_equal(an_dev_init(&dv, &p, D, X, 1, 2, 0, NULL, 0), 0);
    up.pulse_type = ATL_PULSE_NONE_WITH_DEVICE;
    an_pulsed_update(&dv, x, d, 100.0f, 0.01f, &up, &r, &wk, 1, &nu, &nd);
    for (int k = 0; k < D * X; k++)
        assert_true(fabsf(dv.w[k]) <= 0.6f + 1e-7f);
    an_work_free(&wk);
    an_dev_free(&dv);
}

/* Bit-exact determinism at the device level: same RNG positions give identical bits, other
 * positions differ, and 1 vs 2 threads give identical bits (every draw is keyed by the row). */
static void test_pulse_determinism(void **state)
{
    (void)state;
    const int D = 128, X = 96;
    atl_dev_params p;
    assert_int_equal(atl_dev_preset("reram_sb", &p, NULL, 0), 0);
    an_dev a, b, c;
    assert_int_equal(an_dev_init(&a, &p, D, X, 5, 6, 0, NULL, 0), 0);
    assert_int_equal(an_dev_init(&b, &p, D, X, 5, 6, 0, NULL, 0), 0);
    assert_int_equal(an_dev_init(&c, &p, D, X, 5, 6, 0, NULL, 0), 0);
    an_work wk;
    assert_int_equal(an_work_init(&wk, X, D, 31), 0);
    float *x = malloc(X * sizeof(float)), *d = malloc(D * sizeof(float));
    atl_rng_normal_fill_at(1, 2, 0, X, x);
    atl_rng_normal_fill_at(1, 3, 0, D, d);
    atl_update_params up = atl_update_defaults();
    uint64_t n1u = 0, n1d = 0, n2u = 0, n2d = 0, n3u = 0, n3d = 0;
    for (int r = 0; r < 6; r++) {
        an_pulse_rng rr = rng_at((uint64_t)r);
        an_pulsed_update(&a, x, d, 0.05f, a.granularity, &up, &rr, &wk, 1, &n1u, &n1d);
        an_pulsed_update(&b, x, d, 0.05f, b.granularity, &up, &rr, &wk, 2, &n2u, &n2d);
        an_pulse_rng rc = rng_at((uint64_t)r + 1000);
        an_pulsed_update(&c, x, d, 0.05f, c.granularity, &up, &rc, &wk, 1, &n3u, &n3d);
    }
    size_t n = (size_t)D * X;
    assert_memory_equal(a.w, b.w, n * sizeof(float));
    assert_memory_equal(a.wa, b.wa, n * sizeof(float));
    assert_true(n1u == n2u && n1d == n2d);
    assert_true(n1u > 1000 && n1d > 1000);
    assert_true(memcmp(a.w, c.w, n * sizeof(float)) != 0);
    free(x);
    free(d);
    an_work_free(&wk);
    an_dev_free(&a);
    an_dev_free(&b);
    an_dev_free(&c);
}

/* The AVX2 row kernel equals its portable definition bit for bit (w and apparent w), for
 * multiplicative and additive noise, without noise, with write noise, and with a row length
 * that is not a multiple of 8. */
static void test_simd_kernel_equals_scalar(void **state)
{
    (void)state;
    enum { D = 3, X = 77 };
    const char *presets[] = {"soft_bounds", "reram_sb", "idealized", "ecram", "reram_hfo2"};
    for (size_t pk = 0; pk < sizeof presets / sizeof presets[0]; pk++)
        for (int quiet = 0; quiet <= 1; quiet++) {
            atl_dev_params p;
            assert_int_equal(atl_dev_preset(presets[pk], &p, NULL, 0), 0);
            if (quiet)
                p.dw_min_std = 0;
            an_dev a, b;
            assert_int_equal(an_dev_init(&a, &p, D, X, 3, 4, 0, NULL, 0), 0);
            assert_int_equal(an_dev_init(&b, &p, D, X, 3, 4, 0, NULL, 0), 0);
            float w0[D * X];
            atl_rng_uniform_fill_at(5, 5, 0, D * X, w0);
            for (int k = 0; k < D * X; k++)
                w0[k] = 0.8f * w0[k] - 0.4f;
            an_dev_set_weights(&a, w0, 1, 2);
            an_dev_set_weights(&b, w0, 1, 2);
            an_work wk;
            assert_int_equal(an_work_init(&wk, X, D, 31), 0);
            an_rowbuf *rb = &wk.rb[0];
            uint16_t cnt[X + 16];
            uint8_t dn[X + 16];
            float *noise = calloc((size_t)X * 32 + 16, sizeof(float));
            float wnz[X + 16];
            uint32_t u[X];
            for (int it = 0; it < 20; it++) {
                const int i = it % D;
                atl_rng_u32_fill_at(9, (uint64_t)it, 0, X, u);
                memset(cnt, 0, sizeof cnt);
                size_t tot = 0;
                for (int j = 0; j < X; j++) {
                    /* a third of the columns untouched, the rest 1..31 pulses */
                    cnt[j] = (u[j] % 3 == 0) ? 0 : (uint16_t)(1 + (u[j] >> 8) % 31);
                    dn[j] = (u[j] >> 20) & 1;
                    tot += cnt[j];
                }
                atl_rng_normal_fill_at(10, (uint64_t)it, 0, tot, noise);
                atl_rng_normal_fill_at(11, (uint64_t)it, 0, X, wnz);
                rb->nch = 0;
                for (int c = 0; c + AN_GROUP <= X; c += AN_GROUP) {
                    int any = 0;
                    for (int l = 0; l < AN_GROUP; l++)
                        any |= cnt[c + l];
                    if (any)
                        rb->chunks[rb->nch++] = c;
                }
                an_row_linear_simd(&a, i, cnt, dn, noise, wnz, rb);
                an_row_linear_scalar(&b, i, cnt, dn, noise, wnz, rb);
                assert_memory_equal(a.w, b.w, sizeof(float) * D * X);
                assert_memory_equal(a.wa, b.wa, sizeof(float) * D * X);
            }
            assert_true(memcmp(a.w, w0, sizeof w0) != 0);
            free(noise);
            an_work_free(&wk);
            an_dev_free(&a);
            an_dev_free(&b);
        }
}

/* The vector bit-line code (BL = 1) and the vectorised abs-max equal their portable loops:
 * active indices, signs with chopper flips and masks, over lengths with tails, zeros, values
 * with p >= 1, NaNs, and both the dense fill and the sparse block list. */
static void test_simd_bits_equal_portable(void **state)
{
    (void)state;
    enum { N = 203 };
    an_work wk;
    assert_int_equal(an_work_init(&wk, N, N, 31), 0);
    float v[N];
    int8_t flip[N];
    int act_a[N], act_b[N];
    uint8_t neg_a[N], neg_b[N];
    uint64_t m_a[N], m_b[N];
    atl_update_params up = atl_update_defaults();
    int tested_dense = 0, tested_sparse = 0;
    for (int it = 0; it < 60; it++) {
        const int n = 1 + (it * 37) % N;
        atl_rng_normal_fill_at(21, (uint64_t)it, 0, (size_t)n, v);
        uint32_t u[N];
        atl_rng_u32_fill_at(22, (uint64_t)it, 0, (size_t)n, u);
        const int sparse = it % 3 == 0;
        for (int j = 0; j < n; j++) {
            flip[j] = (int8_t)(u[j] & 1u);
            if (sparse ? (u[j] >> 4) % 8 != 0 : (u[j] >> 4) % 5 == 0)
                v[j] = (u[j] >> 8) & 1u ? 0.0f : -0.0f; /* inactive */
            if ((u[j] >> 12) % 97 == 0)
                v[j] = NAN;
        }
        const float scale = it % 4 == 0 ? 0.9f : 0.3f; /* some p >= 1 */
        const int8_t *fl = it % 2 ? flip : NULL;
        const int na = an_make_bits(v, fl, n, scale, 1, &up, 5, 100 + (uint64_t)it, 7, &wk, act_a,
                                    neg_a, m_a, 0);
        const int nb = an_make_bits(v, fl, n, scale, 1, &up, 5, 100 + (uint64_t)it, 7, &wk, act_b,
                                    neg_b, m_b, 1);
        assert_int_equal(na, nb);
        assert_memory_equal(act_a, act_b, sizeof(int) * (size_t)na);
        assert_memory_equal(neg_a, neg_b, (size_t)na);
        assert_memory_equal(m_a, m_b, sizeof(uint64_t) * (size_t)na);
        tested_dense += !sparse && na > 0;
        tested_sparse += sparse && na > 0;
        float ref = 0.0f;
        for (int j = 0; j < n; j++) {
            const float a = fabsf(v[j]);
            ref = a > ref ? a : ref;
        }
        const float am = an_absmax(v, n);
        assert_memory_equal(&am, &ref, sizeof ref);
    }
    assert_true(tested_dense > 10 && tested_sparse > 5);
    an_work_free(&wk);
}

/* The vectorised table mapping (gathers from the lower half with the mirror sign) gives exactly
 * the table's value for every 16-bit index, and the scalar tail agrees at every length. */
static void test_gauss_from_words(void **state)
{
    (void)state;
    enum { N = 65536 };
    uint32_t *w = malloc(sizeof(uint32_t) * (N / 2));
    float *z = malloc(sizeof(float) * (N + 1));
    for (uint32_t m = 0; m < N / 2; m++)
        w[m] = (2u * m) | ((2u * m + 1u) << 16);
    an_gauss_from_words(w, N, z);
    const float *T = an_gauss_table();
    assert_memory_equal(z, T, sizeof(float) * N);
    for (size_t n = 1; n <= 40; n++) {
        float y[41];
        an_gauss_from_words(w + 1000, n, y);
        assert_memory_equal(y, T + 2000, sizeof(float) * n);
    }
    free(w);
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_management),
        cmocka_unit_test(test_mean_update_slope),
        cmocka_unit_test(test_fp_update),
        cmocka_unit_test(test_pulse_determinism),
        cmocka_unit_test(test_simd_kernel_equals_scalar),
        cmocka_unit_test(test_simd_bits_equal_portable),
        cmocka_unit_test(test_gauss_from_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
