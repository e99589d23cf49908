/* Analog MVM with IO non-idealities (ANALOG_MODEL.md section 5): grids and bounds of the
 * converters, noise and bound management, noise statistics, transfer reads, determinism and batch
 * invariance of the RNG position scheme, validation. Statistical checks use fixed seeds and
 * tolerances derived from the sample size (5 sigma). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "atl/analog_io.h"
#include "atl/rng.h"
#include "../../runtime/analog/io_internal.h"

/* ------------------------------------------------------------------------------------------- */
/* helpers */

static float *alloc_f(size_t n)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    assert_non_null(p);
    return p;
}

/* Uniform in [lo, hi) from a fixed test stream. */
static void fill_uniform(float *v, size_t n, float lo, float hi, uint64_t stream)
{
    atl_rng_uniform_fill_at(99, stream, 0, n, v);
    for (size_t q = 0; q < n; q++)
        v[q] = lo + (hi - lo) * v[q];
}

static void fill_normal(float *v, size_t n, float sd, uint64_t stream)
{
    atl_rng_normal_fill_at(98, stream, 0, n, v);
    for (size_t q = 0; q < n; q++)
        v[q] *= sd;
}

/* The noise-free settings most exact checks start from. */
static atl_io_params quiet_params(void)
{
    atl_io_params p = atl_io_defaults();
    p.out_noise = 0.0f;
    p.bound_management = ATL_BM_NONE;
    return p;
}

/* The definition of atl_io_mac_nt for one element (io_internal.h). */
static float dot8_ref(const float *w, const float *x, int n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int b = 0; 8 * b < n; b++)
        for (int l = 0; l < 8; l++) {
            int j = 8 * b + l;
            acc[l] = fmaf(j < n ? w[j] : 0.0f, j < n ? x[j] : 0.0f, acc[l]);
        }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* ------------------------------------------------------------------------------------------- */

static void test_defaults_and_resolution(void **state)
{
    (void)state;
    atl_io_params p = atl_io_defaults();
    assert_int_equal(p.noise_management, ATL_NM_ABS_MAX);
    assert_int_equal(p.bound_management, ATL_BM_ITERATIVE);
    assert_true(p.out_bound == 12.0f && p.out_noise == 0.06f && p.inp_bound == 1.0f);
    assert_true(fabsf(atl_io_res_in(&p) - 2.0f / 126.0f) < 1e-7f);
    assert_true(fabsf(atl_io_res_out(&p) - 24.0f / 510.0f) < 1e-7f);
    /* r(v): a value > 1 is a number of steps, a negative one disables quantisation. */
    p.inp_res = 126.0f;
    assert_true(fabsf(atl_io_res_in(&p) - 2.0f / 126.0f) < 1e-7f);
    p.inp_res = -1.0f;
    assert_true(atl_io_res_in(&p) == 0.0f);
    p = atl_io_defaults();
    assert_int_equal(atl_io_max_passes(&p), 5); /* red = 1..16, max_bm_res/res_in = 15.75 */
    p.bound_management = ATL_BM_ITERATIVE_WORST_CASE;
    assert_int_equal(atl_io_max_passes(&p), 6); /* the restart at red = 1 costs one pass */
    p.bound_management = ATL_BM_NONE;
    assert_int_equal(atl_io_max_passes(&p), 1);
    p = atl_io_defaults();
    p.inp_res = 0.0f; /* no DAC resolution: only max_bm_factor = 1000 stops -> red 1024 */
    assert_int_equal(atl_io_max_passes(&p), 11);
    atl_io_params q = atl_io_preset_defaults();
    assert_true(q.out_bound == 20.0f && q.out_noise == 0.1f);
    assert_true(fabsf(atl_io_res_out(&q) - 40.0f / 510.0f) < 1e-7f);
    /* Blocks: 512x512 defaults, 8 vectors: 5 passes x 128 output-noise blocks each. */
    p = atl_io_defaults();
    assert_int_equal(atl_io_forward_blocks(&p, 512, 512, 8), 8u * 5u * 128u);
    assert_int_equal(atl_io_backward_blocks(&p, 512, 256, 8), 8u * 1u * 64u);
    p.is_perfect = 1;
    assert_int_equal(atl_io_forward_blocks(&p, 512, 512, 8), 0u);
}

static void test_validation(void **state)
{
    (void)state;
    char err[256];
    atl_io_params p = atl_io_defaults();
    assert_int_equal(atl_io_validate(&p, err, sizeof err), 0);
    p = atl_io_preset_defaults();
    assert_int_equal(atl_io_validate(&p, err, sizeof err), 0);

    p = atl_io_defaults();
    p.inp_bound = 2.0f;
    assert_int_equal(atl_io_validate(&p, err, sizeof err), -1);
    assert_non_null(strstr(err, "inp_bound"));
    assert_non_null(strstr(err, "noise management"));
    p.noise_management = ATL_NM_NONE; /* allowed without NM */
    assert_int_equal(atl_io_validate(&p, err, sizeof err), 0);

    p = atl_io_defaults();
    p.out_noise = -0.1f;
    assert_int_equal(atl_io_validate(&p, err, sizeof err), -1);
    assert_non_null(strstr(err, "out_noise"));
    p = atl_io_defaults();
    p.inp_noise = NAN;
    assert_int_equal(atl_io_validate(&p, err, sizeof err), -1);
    assert_non_null(strstr(err, "inp_noise"));
    p = atl_io_defaults();
    p.w_noise = -1.0f;
    assert_int_equal(atl_io_validate(&p, err, sizeof err), -1);
    p = atl_io_defaults();
    p.out_bound = INFINITY;
    assert_int_equal(atl_io_validate(&p, err, sizeof err), -1);
    p = atl_io_defaults();
    p.max_bm_factor = INFINITY;
    assert_int_equal(atl_io_validate(&p, err, sizeof err), -1);
    assert_non_null(strstr(err, "max_bm_factor"));
    p = atl_io_defaults();
    p.noise_management = (atl_noise_management)42;
    assert_int_equal(atl_io_validate(&p, err, sizeof err), -1);
    p = atl_io_defaults();
    p.ir_drop = 1.0f;
    p.ir_drop_g_ratio = 0.0f;
    assert_int_equal(atl_io_validate(&p, err, sizeof err), -1);
    p = atl_io_defaults();
    p.noise_management = ATL_NM_AVERAGE_ABS_MAX;
    p.nm_decay = 2.0f;
    assert_int_equal(atl_io_validate(&p, err, sizeof err), -1);
    p = atl_io_defaults();
    p.out_asymmetry = 1.5f;
    assert_int_equal(atl_io_validate(&p, err, sizeof err), -1);
    /* out_bound <= 0 means unbounded and is valid. */
    p = atl_io_defaults();
    p.out_bound = 0.0f;
    assert_int_equal(atl_io_validate(&p, err, sizeof err), 0);
}

/* The kernels follow their per-element definitions bit for bit, whatever the grouping. */
static void test_mac_kernels_definition(void **state)
{
    (void)state;
    const int d = 37, n = 29, m = 7;
    float *W = alloc_f((size_t)d * n), *X = alloc_f((size_t)m * n), *D = alloc_f((size_t)m * d);
    float *Y = alloc_f((size_t)m * d), *Z = alloc_f((size_t)m * n), *one = alloc_f(64);
    fill_uniform(W, (size_t)d * n, -1, 1, 1);
    fill_uniform(X, (size_t)m * n, -1, 1, 2);
    fill_uniform(D, (size_t)m * d, -1, 1, 3);
    atl_io_mac_nt(W, d, n, X, (size_t)n, m, Y, (size_t)d);
    for (int k = 0; k < m; k++) {
        for (int i = 0; i < d; i++) {
            float ref = dot8_ref(W + (size_t)i * n, X + (size_t)k * n, n);
            assert_memory_equal(&ref, &Y[(size_t)k * d + i], sizeof(float));
        }
        atl_io_mac_nt(W, d, n, X + (size_t)k * n, (size_t)n, 1, one, (size_t)d);
        assert_memory_equal(one, Y + (size_t)k * d, sizeof(float) * d);
    }
    atl_io_mac_nn(W, d, n, D, (size_t)d, m, Z, (size_t)n);
    for (int k = 0; k < m; k++) {
        for (int j = 0; j < n; j++) {
            float ref = 0.0f;
            for (int i = 0; i < d; i++)
                ref = fmaf(D[(size_t)k * d + i], W[(size_t)i * n + j], ref);
            assert_memory_equal(&ref, &Z[(size_t)k * n + j], sizeof(float));
        }
        atl_io_mac_nn(W, d, n, D + (size_t)k * d, (size_t)d, 1, one, (size_t)n);
        assert_memory_equal(one, Z + (size_t)k * n, sizeof(float) * n);
    }
    free(W);
    free(X);
    free(D);
    free(Y);
    free(Z);
    free(one);
}

static void test_is_perfect(void **state)
{
    (void)state;
    const int d = 24, n = 40, m = 3;
    float *W = alloc_f((size_t)d * n), *x = alloc_f((size_t)m * n), *y = alloc_f((size_t)m * d);
    float *dd = alloc_f((size_t)m * d), *z = alloc_f((size_t)m * n);
    fill_uniform(W, (size_t)d * n, -1, 1, 4);
    fill_normal(x, (size_t)m * n, 3.0f, 5);
    fill_normal(dd, (size_t)m * d, 3.0f, 6);
    atl_io_params p = atl_io_defaults();
    p.is_perfect = 1;
    p.out_scale = 2.5f;
    atl_rng_stream rng = atl_rng_stream_make(1, 1);
    atl_io_forward(&p, NULL, W, d, n, x, m, 0.5f, y, &rng, NULL);
    atl_io_backward(&p, NULL, W, d, n, dd, m, 0.5f, z, &rng, NULL);
    assert_int_equal(rng.block, 0); /* no noise, no draws */
    for (int k = 0; k < m; k++) {
        for (int i = 0; i < d; i++) {
            double s = 0;
            for (int j = 0; j < n; j++)
                s += (double)W[i * n + j] * x[k * n + j];
            s *= 1.25;
            assert_true(fabs(y[k * d + i] - s) <= 1e-5 * (1 + fabs(s)));
        }
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int i = 0; i < d; i++)
                s += (double)W[i * n + j] * dd[k * d + i];
            s *= 1.25;
            assert_true(fabs(z[k * n + j] - s) <= 1e-5 * (1 + fabs(s)));
        }
    }
    free(W);
    free(x);
    free(y);
    free(dd);
    free(z);
}

/* Without bound management the output is s * (value on the ADC grid within +-out_bound):
 * y = f * c * res_out with integer c, |c * res_out| <= out_bound, f = 1/(1/s). */
static void test_outputs_on_adc_grid(void **state)
{
    (void)state;
    const int d = 64, n = 96, m = 16;
    float *W = alloc_f((size_t)d * n), *x = alloc_f((size_t)m * n), *y = alloc_f((size_t)m * d);
    /* Positive weights and inputs: outputs near out_bound, so both clipped and unclipped ones. */
    fill_uniform(W, (size_t)d * n, 0.1f, 0.7f, 7);
    fill_normal(x, (size_t)m * n, 2.0f, 8);
    for (size_t q = 0; q < (size_t)m * n; q++)
        x[q] = fabsf(x[q]);
    atl_io_params p = atl_io_defaults();
    p.bound_management = ATL_BM_NONE;
    const float res = atl_io_res_out(&p);
    atl_rng_stream rng = atl_rng_stream_make(2, 2);
    atl_io_forward(&p, NULL, W, d, n, x, m, 1.0f, y, &rng, NULL);
    int saturated = 0;
    for (int k = 0; k < m; k++) {
        float s = 0;
        for (int j = 0; j < n; j++)
            s = fmaxf(s, fabsf(x[k * n + j]));
        const float f = 1.0f / (1.0f / s);
        for (int i = 0; i < d; i++) {
            double c = (double)y[k * d + i] / f / res;
            assert_true(fabs(c - rint(c)) < 1e-3);
            assert_true(fabs((double)y[k * d + i]) <= p.out_bound * f * (1 + 1e-6));
            saturated += fabs((double)y[k * d + i]) >= p.out_bound * f * (1 - 1e-6);
        }
    }
    assert_true(saturated > 0 && saturated < m * d); /* some outputs reach the bound */
    free(W);
    free(x);
    free(y);
}

static void test_nm_scale_invariance(void **state)
{
    (void)state;
    const int d = 48, n = 64, m = 4;
    float *W = alloc_f((size_t)d * n), *x = alloc_f((size_t)m * n), *x2 = alloc_f((size_t)m * n);
    float *y1 = alloc_f((size_t)m * d), *y2 = alloc_f((size_t)m * d);
    fill_uniform(W, (size_t)d * n, -0.3f, 0.3f, 9);
    fill_normal(x, (size_t)m * n, 1.0f, 10);
    atl_io_params p = atl_io_defaults(); /* with noise and BM */
    /* Power-of-two scaling: exact (same noise, same grid, scale factor exact). */
    for (size_t q = 0; q < (size_t)m * n; q++)
        x2[q] = 4.0f * x[q];
    atl_rng_stream r1 = atl_rng_stream_make(3, 3), r2 = atl_rng_stream_make(3, 3);
    atl_io_forward(&p, NULL, W, d, n, x, m, 1.0f, y1, &r1, NULL);
    atl_io_forward(&p, NULL, W, d, n, x2, m, 1.0f, y2, &r2, NULL);
    for (size_t q = 0; q < (size_t)m * d; q++)
        assert_true(y2[q] == 4.0f * y1[q]);
    /* Any other factor: equal up to rounding at the converters (a few steps, times s). */
    for (size_t q = 0; q < (size_t)m * n; q++)
        x2[q] = 37.3f * x[q];
    r1 = atl_rng_stream_make(3, 3);
    r2 = atl_rng_stream_make(3, 3);
    atl_io_forward(&p, NULL, W, d, n, x, m, 1.0f, y1, &r1, NULL);
    atl_io_forward(&p, NULL, W, d, n, x2, m, 1.0f, y2, &r2, NULL);
    const float res = atl_io_res_out(&p);
    for (int k = 0; k < m; k++) {
        float s = 0;
        for (int j = 0; j < n; j++)
            s = fmaxf(s, fabsf(x[k * n + j]));
        for (int i = 0; i < d; i++) {
            /* DAC rounding can flip ~1 input step (res_in * |w| * sqrt(n) worst ~ 0.04) plus one
             * ADC step: allow 3 ADC steps. */
            float diff = fabsf(y2[k * d + i] / 37.3f - y1[k * d + i]);
            assert_true(diff <= 3.0f * res * s);
        }
    }
    free(W);
    free(x);
    free(x2);
    free(y1);
    free(y2);
}

static void test_zero_input_gives_zero(void **state)
{
    (void)state;
    const int d = 8, n = 8;
    float W[64], x[16] = {0}, y[16];
    fill_uniform(W, 64, -1, 1, 11);
    atl_io_params p = atl_io_defaults();
    atl_rng_stream rng = atl_rng_stream_make(4, 4);
    atl_io_counters cnt = {0, 0};
    atl_io_forward(&p, NULL, W, d, n, x, 2, 1.0f, y, &rng, &cnt);
    for (int i = 0; i < 16; i++)
        assert_true(y[i] == 0.0f);
    assert_int_equal(cnt.mvm_vectors, 2);
    assert_int_equal(rng.block, atl_io_forward_blocks(&p, d, n, 2));
}

/* Bound management: y = W x with W = w0 everywhere and x = 1 gives n*w0 per output. */
static void bm_case(float w0, int n, atl_io_params p, float *y_out, atl_io_counters *cnt)
{
    const int d = 4;
    float *W = alloc_f((size_t)d * n), *x = alloc_f((size_t)n);
    for (int q = 0; q < d * n; q++)
        W[q] = w0;
    for (int j = 0; j < n; j++)
        x[j] = 1.0f;
    atl_rng_stream rng = atl_rng_stream_make(5, 5);
    atl_io_forward(&p, NULL, W, d, n, x, 1, 1.0f, y_out, &rng, cnt);
    assert_int_equal(rng.block, atl_io_forward_blocks(&p, d, n, 1));
    free(W);
    free(x);
}

static void test_bound_management(void **state)
{
    (void)state;
    float y[4];
    atl_io_params p = atl_io_defaults();
    const float res = atl_io_res_out(&p);
    /* 256 * 0.1 = 25.6 saturates at red 1 and 2 (12.8 > 12), passes at red 4. */
    atl_io_counters cnt = {0, 0};
    bm_case(0.1f, 256, p, y, &cnt);
    assert_int_equal(cnt.bm_extra_passes, 2);
    for (int i = 0; i < 4; i++) /* 4 * (6.4 + noise), noise sd 0.06 -> 5 sd + a step */
        assert_true(fabsf(y[i] - 25.6f) <= 4.0f * (5 * 0.06f + res));
    /* Without BM the same input is clipped at out_bound. */
    atl_io_params pn = p;
    pn.bound_management = ATL_BM_NONE;
    cnt = (atl_io_counters){0, 0};
    bm_case(0.1f, 256, pn, y, &cnt);
    assert_int_equal(cnt.bm_extra_passes, 0);
    for (int i = 0; i < 4; i++)
        assert_true(y[i] == 12.0f);
    /* 256: needs red 32 > max_bm_res/res_in = 15.75: stops after red 16 (4 extra passes),
     * still saturated: 12 * 16. */
    cnt = (atl_io_counters){0, 0};
    bm_case(1.0f, 256, p, y, &cnt);
    assert_int_equal(cnt.bm_extra_passes, 4);
    for (int i = 0; i < 4; i++)
        assert_true(y[i] == 192.0f);
    /* Negative saturation triggers BM only with bm_test_negative_bound. */
    cnt = (atl_io_counters){0, 0};
    bm_case(-0.1f, 256, p, y, &cnt);
    assert_int_equal(cnt.bm_extra_passes, 2);
    atl_io_params pneg = p;
    pneg.bm_test_negative_bound = 0;
    cnt = (atl_io_counters){0, 0};
    bm_case(-0.1f, 256, pneg, y, &cnt);
    assert_int_equal(cnt.bm_extra_passes, 0);
    for (int i = 0; i < 4; i++)
        assert_true(y[i] == -12.0f);
    /* max_bm_factor caps too: factor 2 stops after red 4 (2 extra passes, 4 > 2). */
    atl_io_params pf = p;
    pf.max_bm_factor = 2.0f;
    cnt = (atl_io_counters){0, 0};
    bm_case(1.0f, 256, pf, y, &cnt);
    assert_int_equal(cnt.bm_extra_passes, 2);
    assert_true(y[0] == 48.0f);
    /* Worst case: the second pass uses the NPSum scale with red reset to 1: NPSum =
     * max(1, min(256 * 0.6 / 12, (1 / res_in) * 0.25)) = 12.8, so x -> q(1/12.8) = 5 res_in and
     * y = 25.6 * 5 res_in = 2.03 passes; the output is 12.8 * (2.03 + noise). */
    atl_io_params pw = p;
    pw.bound_management = ATL_BM_ITERATIVE_WORST_CASE;
    cnt = (atl_io_counters){0, 0};
    bm_case(0.1f, 256, pw, y, &cnt);
    assert_int_equal(cnt.bm_extra_passes, 1);
    const float ri = atl_io_res_in(&p);
    for (int i = 0; i < 4; i++)
        assert_true(fabsf(y[i] - 25.6f * 5.0f * ri * 12.8f) <= 12.8f * (5 * 0.06f + res));
}

/* Output noise: W = 0, no quantisation, no NM: y = out_noise * xi exactly. */
static void test_out_noise_statistics(void **state)
{
    (void)state;
    const int d = 512, n = 16, m = 64;
    float *W = calloc((size_t)d * n, sizeof(float)), *x = alloc_f((size_t)m * n);
    float *y = alloc_f((size_t)m * d);
    assert_non_null(W);
    fill_normal(x, (size_t)m * n, 1.0f, 12);
    atl_io_params p = atl_io_defaults();
    p.noise_management = ATL_NM_NONE;
    p.bound_management = ATL_BM_NONE;
    p.out_res = -1.0f;
    atl_rng_stream rng = atl_rng_stream_make(6, 6);
    atl_io_forward(&p, NULL, W, d, n, x, m, 1.0f, y, &rng, NULL);
    const double N = (double)m * d, sig = p.out_noise;
    double s1 = 0, s2 = 0;
    for (int q = 0; q < m * d; q++) {
        s1 += y[q];
        s2 += (double)y[q] * y[q];
    }
    s1 /= N;
    s2 = s2 / N - s1 * s1;
    assert_true(fabs(s1) < 5 * sig / sqrt(N));
    assert_true(fabs(s2 / (sig * sig) - 1) < 5 * sqrt(2 / N));
    /* A second call continues the stream: new noise. */
    float *y2 = alloc_f((size_t)m * d);
    atl_io_forward(&p, NULL, W, d, n, x, m, 1.0f, y2, &rng, NULL);
    assert_true(memcmp(y, y2, sizeof(float) * (size_t)m * d) != 0);
    /* Per-output stds (out_noise_std): sigma_i = 0 for even i, 0.2 for odd i. */
    float *sigma = alloc_f((size_t)d);
    for (int i = 0; i < d; i++)
        sigma[i] = (i % 2) ? 0.2f : 0.0f;
    p.out_noise_std = 0.5f;
    atl_io_state st = {0.0f, 0, sigma};
    atl_io_forward(&p, &st, W, d, n, x, m, 1.0f, y, &rng, NULL);
    s2 = 0;
    for (int k = 0; k < m; k++)
        for (int i = 0; i < d; i++) {
            if (i % 2 == 0)
                assert_true(y[k * d + i] == 0.0f);
            else
                s2 += (double)y[k * d + i] * y[k * d + i];
        }
    s2 /= N / 2;
    assert_true(fabs(s2 / 0.04 - 1) < 5 * sqrt(2 / (N / 2)));
    /* The drawn values follow |out_noise (1 + out_noise_std xi)|. */
    atl_io_draw_out_noise_values(&p, d, sigma, &rng);
    double m1 = 0;
    for (int i = 0; i < d; i++) {
        assert_true(sigma[i] >= 0.0f);
        m1 += sigma[i];
    }
    m1 /= d; /* E|0.06 (1 + 0.5 xi)| ~ 0.06 (P(xi < -2) is tiny) */
    assert_true(fabs(m1 - 0.06) < 5 * 0.03 / sqrt(d));
    free(W);
    free(x);
    free(y);
    free(y2);
    free(sigma);
}

/* DAC: identity weights and no output effects show the prepared input itself. */
static void test_dac_quantisation_ramp(void **state)
{
    (void)state;
    enum { N = 256 };
    float *W = calloc((size_t)N * N, sizeof(float));
    assert_non_null(W);
    for (int i = 0; i < N; i++)
        W[i * N + i] = 1.0f;
    float x[N], y[N];
    for (int j = 0; j < N; j++)
        x[j] = -1.3f + 2.6f * (float)j / (N - 1);
    atl_io_params p = quiet_params();
    p.noise_management = ATL_NM_NONE;
    p.out_res = -1.0f;
    p.out_bound = 0.0f; /* unbounded */
    const float res = atl_io_res_in(&p);
    atl_rng_stream rng = atl_rng_stream_make(7, 7);
    atl_io_forward(&p, NULL, W, N, N, x, 1, 1.0f, y, &rng, NULL);
    int levels = 0;
    for (int j = 0; j < N; j++) {
        float e = rintf(x[j] / res) * res;
        e = e > 1.0f ? 1.0f : (e < -1.0f ? -1.0f : e);
        assert_true(y[j] == e);
        if (j == 0 || y[j] != y[j - 1])
            levels++;
        assert_true(fabsf(y[j]) <= 1.0f);
    }
    /* 2 * 63 + 1 levels in [-1, 1], and the ramp (step 0.0102 < res) hits all of them. */
    assert_int_equal(levels, 127);
    /* Round half to even: with 128 steps (res_in = 1/64, exact) 2.5 steps go to 2, 3.5 to 4. */
    float xh[N];
    memset(xh, 0, sizeof xh);
    atl_io_params ph = p;
    ph.inp_res = 128.0f;
    assert_true(atl_io_res_in(&ph) == 1.0f / 64.0f);
    xh[0] = 2.5f / 64.0f;
    xh[1] = 3.5f / 64.0f;
    xh[2] = -2.5f / 64.0f;
    atl_io_forward(&ph, NULL, W, N, N, xh, 1, 1.0f, y, &rng, NULL);
    assert_true(y[0] == 2.0f / 64.0f && y[1] == 4.0f / 64.0f && y[2] == -2.0f / 64.0f);
    /* Stochastic rounding is unbiased: 0.3 steps averages to 0.3 steps. */
    p.inp_sto_round = 1;
    for (int j = 0; j < N; j++)
        xh[j] = 0.3f * res;
    double s = 0;
    const int reps = 40;
    for (int r = 0; r < reps; r++) {
        atl_io_forward(&p, NULL, W, N, N, xh, 1, 1.0f, y, &rng, NULL);
        for (int j = 0; j < N; j++) {
            assert_true(y[j] == 0.0f || y[j] == res);
            s += y[j] / res;
        }
    }
    s /= (double)reps * N;
    assert_true(fabs(s - 0.3) < 5 * sqrt(0.3 * 0.7 / ((double)reps * N)));
    /* Input asymmetry halves negative inputs. */
    p.inp_sto_round = 0;
    p.inp_asymmetry = 0.5f;
    atl_io_forward(&p, NULL, W, N, N, x, 1, 1.0f, y, &rng, NULL);
    for (int j = 0; j < N; j++) {
        float e = rintf(x[j] / res) * res;
        e = e > 1.0f ? 1.0f : (e < -1.0f ? -1.0f : e);
        assert_true(y[j] == (e < 0 ? e * 0.5f : e));
    }
    free(W);
}

/* Backward equals the forward of W^T: same noise positions, MAC order aside. */
static void test_backward_is_forward_of_transpose(void **state)
{
    (void)state;
    const int d = 96, n = 80, m = 8;
    float *W = alloc_f((size_t)d * n), *Wt = alloc_f((size_t)d * n);
    float *dv = alloc_f((size_t)m * d), *z = alloc_f((size_t)m * n), *zt = alloc_f((size_t)m * n);
    fill_uniform(W, (size_t)d * n, -0.5f, 0.5f, 13);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < n; j++)
            Wt[j * d + i] = W[i * n + j];
    fill_normal(dv, (size_t)m * d, 1.0f, 14);
    atl_io_params p = atl_io_defaults();
    atl_io_params pf = p;
    pf.bound_management = ATL_BM_NONE;
    atl_rng_stream r1 = atl_rng_stream_make(8, 8), r2 = atl_rng_stream_make(8, 8);
    atl_io_counters c1 = {0, 0};
    atl_io_backward(&p, NULL, W, d, n, dv, m, 1.0f, z, &r1, &c1);
    atl_io_forward(&pf, NULL, Wt, n, d, dv, m, 1.0f, zt, &r2, NULL);
    assert_int_equal(r1.block, r2.block);
    const float res = atl_io_res_out(&p);
    int equal = 0;
    for (int k = 0; k < m; k++) {
        float s = 0;
        for (int i = 0; i < d; i++)
            s = fmaxf(s, fabsf(dv[k * d + i]));
        for (int j = 0; j < n; j++) {
            float diff = fabsf(z[k * n + j] - zt[k * n + j]);
            assert_true(diff <= 1.001f * res * s); /* at most one ADC step (MAC rounding) */
            equal += diff == 0.0f;
        }
    }
    assert_true(equal >= m * n * 95 / 100);
    /* Backward never uses bound management, even when the outputs saturate. */
    for (int q = 0; q < d * n; q++)
        W[q] = 0.5f;
    for (int q = 0; q < m * d; q++)
        dv[q] = 1.0f;
    c1 = (atl_io_counters){0, 0};
    uint64_t before = r1.block;
    atl_io_backward(&p, NULL, W, d, n, dv, m, 1.0f, z, &r1, &c1);
    assert_int_equal(c1.bm_extra_passes, 0);
    assert_int_equal(c1.mvm_vectors, m);
    assert_int_equal(r1.block - before, atl_io_backward_blocks(&p, d, n, m));
    for (int q = 0; q < m * n; q++)
        assert_true(z[q] == 12.0f);
    free(W);
    free(Wt);
    free(dv);
    free(z);
    free(zt);
}

static void test_read_column_and_row(void **state)
{
    (void)state;
    const int d = 40, n = 24;
    float *W = alloc_f((size_t)d * n), v[64], e[64], ref[64];
    fill_uniform(W, (size_t)d * n, -1.0f, 1.0f, 15);
    atl_io_params p = atl_io_defaults();
    p.out_noise = 0.0f;
    p.out_bound = 0.5f; /* some entries clip */
    p.out_scale = 2.0f;
    const float ri = atl_io_res_in(&p), ro = atl_io_res_out(&p);
    float a = rintf(1.0f / ri) * ri;
    a = a > 1.0f ? 1.0f : a;
    atl_rng_stream rng = atl_rng_stream_make(9, 9);
    const int col = 5, row = 7;
    atl_io_read_column(&p, W, d, n, col, v, &rng, NULL);
    for (int i = 0; i < d; i++) {
        float q = rintf(W[i * n + col] * a / ro) * ro;
        q = q > 0.5f ? 0.5f : (q < -0.5f ? -0.5f : q);
        assert_true(v[i] == q * 2.0f);
    }
    atl_io_read_row(&p, W, d, n, row, v, &rng, NULL);
    for (int j = 0; j < n; j++) {
        float q = rintf(W[row * n + j] * a / ro) * ro;
        q = q > 0.5f ? 0.5f : (q < -0.5f ? -0.5f : q);
        assert_true(v[j] == q * 2.0f);
    }
    /* With noise, the fast read equals the general forward with NM/BM off on e_col, bit for bit,
     * and consumes the same blocks. */
    p = atl_io_defaults();
    atl_io_params pg = p;
    pg.noise_management = ATL_NM_NONE;
    pg.bound_management = ATL_BM_NONE;
    memset(e, 0, sizeof e);
    e[col] = 1.0f;
    atl_rng_stream r1 = atl_rng_stream_make(10, 10), r2 = r1;
    atl_io_read_column(&p, W, d, n, col, v, &r1, NULL);
    atl_io_forward(&pg, NULL, W, d, n, e, 1, 1.0f, ref, &r2, NULL);
    assert_memory_equal(v, ref, sizeof(float) * d);
    assert_int_equal(r1.block, r2.block);
    assert_int_equal(r1.block - 0, atl_io_read_blocks(&p, d, n, 0));
    memset(e, 0, sizeof e);
    e[row] = 1.0f;
    atl_io_read_row(&p, W, d, n, row, v, &r1, NULL);
    atl_io_backward(&pg, NULL, W, d, n, e, 1, 1.0f, ref, &r2, NULL);
    assert_memory_equal(v, ref, sizeof(float) * n);
    assert_int_equal(r1.block, r2.block);
    /* Read noise: sd out_noise * out_scale around the column. */
    free(W);
}

/* Same stream -> same bits; one call with m vectors == m calls with one vector on the cursor. */
static void batch_invariance_case(atl_io_params p, int backward, uint64_t seed, int m)
{
    const int d = 72, n = 56;
    const int nin = backward ? d : n, nout = backward ? n : d;
    float *W = alloc_f((size_t)d * n), *x = alloc_f((size_t)m * nin);
    float *y1 = alloc_f((size_t)m * nout), *y2 = alloc_f((size_t)m * nout);
    fill_uniform(W, (size_t)d * n, -0.8f, 0.8f, seed);
    fill_normal(x, (size_t)m * nin, 1.0f, seed + 1);
    if (!backward) /* vector 3 = sign of a strong row 0: output 0 saturates at red 1 */
        for (int j = 0; j < nin; j++) {
            W[j] = W[j] < 0.0f ? -0.8f : 0.8f;
            x[3 * nin + j] = W[j] < 0.0f ? -1.0f : 1.0f;
        }
    for (int j = 0; j < nin; j++) /* vector 5: zero */
        x[5 * nin + j] = 0.0f;
    atl_rng_stream r1 = atl_rng_stream_make(seed, 77), r2 = r1;
    atl_io_state s1 = {0.0f, 0, NULL}, s2 = {0.0f, 0, NULL};
    atl_io_counters c1 = {0, 0}, c2 = {0, 0};
    if (backward)
        atl_io_backward(&p, &s1, W, d, n, x, m, 0.7f, y1, &r1, &c1);
    else
        atl_io_forward(&p, &s1, W, d, n, x, m, 0.7f, y1, &r1, &c1);
    for (int k = 0; k < m; k++) {
        if (backward)
            atl_io_backward(&p, &s2, W, d, n, x + (size_t)k * nin, 1, 0.7f, y2 + (size_t)k * nout,
                            &r2, &c2);
        else
            atl_io_forward(&p, &s2, W, d, n, x + (size_t)k * nin, 1, 0.7f, y2 + (size_t)k * nout,
                           &r2, &c2);
    }
    assert_memory_equal(y1, y2, sizeof(float) * (size_t)m * nout);
    assert_int_equal(r1.block, r2.block);
    assert_int_equal(c1.bm_extra_passes, c2.bm_extra_passes);
    assert_int_equal(c1.mvm_vectors, (uint64_t)m);
    assert_true(s1.aux_nm_value == s2.aux_nm_value);
    if (!backward && p.bound_management != ATL_BM_NONE)
        assert_true(c1.bm_extra_passes > 0); /* the case exercises bound management */
    assert_int_equal(r1.block, (backward ? atl_io_backward_blocks(&p, d, n, m)
                                         : atl_io_forward_blocks(&p, d, n, m)));
    /* Repeat: identical bits; another stream: different. */
    atl_rng_stream r3 = atl_rng_stream_make(seed, 77), r4 = atl_rng_stream_make(seed, 78);
    atl_io_state s3 = {0.0f, 0, NULL}, s4 = {0.0f, 0, NULL};
    if (backward) {
        atl_io_backward(&p, &s3, W, d, n, x, m, 0.7f, y2, &r3, NULL);
        assert_memory_equal(y1, y2, sizeof(float) * (size_t)m * nout);
        atl_io_backward(&p, &s4, W, d, n, x, m, 0.7f, y2, &r4, NULL);
    } else {
        atl_io_forward(&p, &s3, W, d, n, x, m, 0.7f, y2, &r3, NULL);
        assert_memory_equal(y1, y2, sizeof(float) * (size_t)m * nout);
        atl_io_forward(&p, &s4, W, d, n, x, m, 0.7f, y2, &r4, NULL);
    }
    assert_true(memcmp(y1, y2, sizeof(float) * (size_t)m * nout) != 0);
    free(W);
    free(x);
    free(y1);
    free(y2);
}

static void test_determinism_and_batch_invariance(void **state)
{
    (void)state;
    atl_io_params p = atl_io_defaults();
    batch_invariance_case(p, 0, 20, 9);
    batch_invariance_case(p, 1, 21, 9);
    /* Every random source on at once. */
    p.inp_noise = 0.01f;
    p.inp_sto_round = 1;
    p.out_sto_round = 1;
    p.w_noise = 0.02f;
    p.w_noise_type = ATL_WNOISE_ADDITIVE_CONSTANT;
    p.out_asymmetry = 0.1f;
    batch_invariance_case(p, 0, 22, 9);
    batch_invariance_case(p, 1, 23, 9);
    p.w_noise_type = ATL_WNOISE_PCM_READ;
    p.ir_drop = 0.5f;
    p.bound_management = ATL_BM_ITERATIVE_WORST_CASE;
    batch_invariance_case(p, 0, 24, 9);
    p = atl_io_defaults();
    p.noise_management = ATL_NM_AVERAGE_ABS_MAX;
    p.nm_decay = 0.2f;
    batch_invariance_case(p, 0, 25, 9);
    p.noise_management = ATL_NM_ABS_MAX_NP_SUM;
    batch_invariance_case(p, 0, 26, 9);
    p.noise_management = ATL_NM_MAX;
    batch_invariance_case(p, 1, 27, 9);
    /* More vectors than one internal chunk (64): chunk boundaries change nothing. */
    p = atl_io_defaults();
    p.inp_sto_round = 1;
    batch_invariance_case(p, 0, 28, 130);
    batch_invariance_case(p, 1, 29, 130);
}

/* Weight noise statistics (5.6 item 3) and IR drop against the formulas. */
static void test_weight_noise_and_ir_drop(void **state)
{
    (void)state;
    const int d = 256, n = 32, m = 64;
    float *W = alloc_f((size_t)d * n), *x = alloc_f((size_t)n * m), *y = alloc_f((size_t)m * d);
    float *y0 = alloc_f((size_t)m * d);
    fill_uniform(W, (size_t)d * n, -0.5f, 0.5f, 30);
    fill_uniform(x, (size_t)n * m, -1.0f, 1.0f, 31);
    atl_io_params p = atl_io_defaults();
    p.noise_management = ATL_NM_NONE;
    p.bound_management = ATL_BM_NONE;
    p.inp_res = -1.0f;
    p.out_res = -1.0f;
    p.out_bound = 0.0f;
    p.out_noise = 0.0f;
    atl_rng_stream rng = atl_rng_stream_make(11, 11);
    atl_io_forward(&p, NULL, W, d, n, x, m, 1.0f, y0, &rng, NULL); /* noiseless W x */
    /* Additive constant: sd = w_noise * ||x||. */
    p.w_noise = 0.1f;
    p.w_noise_type = ATL_WNOISE_ADDITIVE_CONSTANT;
    atl_io_forward(&p, NULL, W, d, n, x, m, 1.0f, y, &rng, NULL);
    double chi = 0;
    for (int k = 0; k < m; k++) {
        double nx = 0;
        for (int j = 0; j < n; j++)
            nx += (double)x[k * n + j] * x[k * n + j];
        double sd = 0.1 * sqrt(nx);
        for (int i = 0; i < d; i++) {
            double e = (y[k * d + i] - y0[k * d + i]) / sd;
            chi += e * e;
        }
    }
    double N = (double)m * d;
    assert_true(fabs(chi / N - 1) < 5 * sqrt(2 / N));
    /* PCM read: sd_i = w_noise * sqrt(sum_j |w_ij| x_j^2). */
    p.w_noise_type = ATL_WNOISE_PCM_READ;
    atl_io_forward(&p, NULL, W, d, n, x, m, 1.0f, y, &rng, NULL);
    chi = 0;
    for (int k = 0; k < m; k++)
        for (int i = 0; i < d; i++) {
            double s = 0;
            for (int j = 0; j < n; j++)
                s += fabs((double)W[i * n + j]) * x[k * n + j] * x[k * n + j];
            double e = (y[k * d + i] - y0[k * d + i]) / (0.1 * sqrt(s));
            chi += e * e;
        }
    assert_true(fabs(chi / N - 1) < 5 * sqrt(2 / N));
    /* IR drop against the formula in double. */
    p.w_noise = 0.0f;
    p.w_noise_type = ATL_WNOISE_NONE;
    p.ir_drop = 1.0f;
    p.ir_drop_g_ratio = 200.0f; /* strong enough to matter: a ~ n/200 * sum|w||x| ~ 1 */
    atl_io_forward(&p, NULL, W, d, n, x, m, 1.0f, y, &rng, NULL);
    int reduced = 0;
    for (int k = 0; k < m; k++)
        for (int i = 0; i < d; i++) {
            double cur = 0, yp = 0, yi = 0;
            for (int j = 0; j < n; j++) {
                double w = W[i * n + j], xv = x[k * n + j], q = 1.0 - (double)j / n;
                cur += fabs(w) * fabs(xv);
                yp += w * xv * (1 - q * q);
                yi += w * xv;
            }
            double a = n / 200.0 * cur;
            double c = a * (0.05 * a * a - 0.2 * a + 0.5);
            double e = yi - c * 1.0 * yp;
            assert_true(fabs(y[k * d + i] - e) < 1e-4 * (1 + fabs(e)));
            reduced += fabs(e - yi) > 1e-3;
        }
    assert_true(reduced > m * d / 2);
    free(W);
    free(x);
    free(y);
    free(y0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_resolution),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_mac_kernels_definition),
        cmocka_unit_test(test_is_perfect),
        cmocka_unit_test(test_outputs_on_adc_grid),
        cmocka_unit_test(test_nm_scale_invariance),
        cmocka_unit_test(test_zero_input_gives_zero),
        cmocka_unit_test(test_bound_management),
        cmocka_unit_test(test_out_noise_statistics),
        cmocka_unit_test(test_dac_quantisation_ramp),
        cmocka_unit_test(test_backward_is_forward_of_transpose),
        cmocka_unit_test(test_read_column_and_row),
        cmocka_unit_test(test_determinism_and_batch_invariance),
        cmocka_unit_test(test_weight_noise_and_ir_drop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
