/* Device models (ANALOG_MODEL.md §2) and presets (§3.1): closed-form noiseless responses,
 * device-to-device and cycle-to-cycle statistics, write noise, symmetry point and reference
 * subtraction, parameters by name, presets and their number of states. Statistical tolerances
 * are 5 standard errors of the estimator. */
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

static an_dev make_dev(const atl_dev_params *p, int d, int x, uint64_t seed)
{
    an_dev dv;
    char err[200];
    int rc = an_dev_init(&dv, p, d, x, seed, 7, 0, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    return dv;
}

static atl_dev_params quiet(atl_dev_type type)
{
    atl_dev_params p = atl_dev_defaults(type);
    p.dw_min_dtod = 0;
    p.up_down_dtod = 0;
    p.w_max_dtod = 0;
    p.w_min_dtod = 0;
    p.dw_min_std = 0;
    p.write_noise_std = 0;
    return p;
}

/* A noiseless SoftBounds device follows w <- w + dw(1 - w/w_max) up and w <- w - dw(1 + w/|w_min|)
 * down (§2.4) to 1e-6. */
static void test_softbounds_closed_form(void **state)
{
    (void)state;
    atl_dev_params p = quiet(ATL_DEV_SOFT_BOUNDS);
    p.dw_min = 0.02f;
    p.w_max = 1.0f;
    p.w_min = -0.8f;
    an_dev dv = make_dev(&p, 3, 4, 1);
    an_work wk;
    assert_int_equal(an_work_init(&wk, 4, 3, 4), 0);
    double w = 0.0, maxerr = 0.0;
    uint64_t c = 0;
    for (int k = 0; k < 150; k++) {
        at_pulse_all(&dv, &wk, +1, c++);
        w = w + 0.02 * (1.0 - w / 1.0);
        for (int e = 0; e < 12; e++)
            maxerr = fmax(maxerr, fabs(dv.w[e] - w));
    }
    assert_true(w > 0.9); /* close to the soft bound */
    for (int k = 0; k < 250; k++) {
        at_pulse_all(&dv, &wk, -1, c++);
        w = w - 0.02 * (1.0 + w / 0.8);
        for (int e = 0; e < 12; e++)
            maxerr = fmax(maxerr, fabs(dv.w[e] - w));
    }
    assert_true(w < -0.7);
    assert_true(maxerr < 1e-6);
    an_work_free(&wk);
    an_dev_free(&dv);
}

/* PowStep with gamma 2 and ConstantStep follow their noiseless formulas (§2.6, §2.8). */
static void test_powstep_constantstep_closed_form(void **state)
{
    (void)state;
    atl_dev_params p = quiet(ATL_DEV_POW_STEP);
    p.pow_gamma = 2.0f;
    p.pow_gamma_dtod = 0.0f;
    p.dw_min = 0.05f;
    p.w_max = 1.0f;
    p.w_min = -1.0f;
    an_dev dv = make_dev(&p, 2, 2, 1);
    an_work wk;
    assert_int_equal(an_work_init(&wk, 2, 2, 2), 0);
    float w = 0.0f;
    for (int k = 0; k < 40; k++) {
        at_pulse_all(&dv, &wk, +1, (uint64_t)k);
        w += 0.05f * powf((1.0f - w) / 2.0f, 2.0f);
        assert_true(fabsf(dv.w[0] - w) < 1e-6f);
    }
    an_dev_free(&dv);

    atl_dev_params q = quiet(ATL_DEV_CONSTANT_STEP);
    q.dw_min = 0.1f;
    q.w_max = 0.55f;
    dv = make_dev(&q, 2, 2, 1);
    for (int k = 0; k < 8; k++)
        at_pulse_all(&dv, &wk, +1, (uint64_t)k);
    assert_true(fabsf(dv.w[3] - 0.55f) < 1e-7f); /* 5 steps to 0.5, then clipped at the bound */
    at_pulse_all(&dv, &wk, -1, 100);
    assert_true(fabsf(dv.w[3] - 0.45f) < 1e-6f);
    an_work_free(&wk);
    an_dev_free(&dv);
}

/* Device-to-device draws (§2.2): step gain, one-sided up_down, bounds, log-normal option. */
static void test_d2d_statistics(void **state)
{
    (void)state;
    const int D = 150, X = 200;
    const size_t N = (size_t)D * X;
    float *su = malloc(N * sizeof(float)), *sd = malloc(N * sizeof(float));
    float *bmax = malloc(N * sizeof(float)), *bmin = malloc(N * sizeof(float));
    double m, s;

    atl_dev_params p = atl_dev_defaults(ATL_DEV_SOFT_BOUNDS);
    p.dw_min = 0.01f;
    p.dw_min_dtod = 0.2f;
    p.up_down = 0.25f; /* reduces only the down step (one-sided, §2.2) */
    p.up_down_dtod = 0.05f;
    p.w_max = 1.2f;
    p.w_max_dtod = 0.1f;
    p.w_min = -0.8f;
    p.w_min_dtod = 0.15f;
    an_dev dv = make_dev(&p, D, X, 3);
    for (size_t k = 0; k < N; k++) {
        su[k] = AN_C(&dv, k, AN_STU) / p.dw_min;
        sd[k] = -AN_C(&dv, k, AN_STD) / p.dw_min;
        bmax[k] = AN_C(&dv, k, AN_HI);
        bmin[k] = AN_C(&dv, k, AN_LO);
    }
    const double sn = sqrt((double)N);
    /* s_up/dw = gain + r: mean 1, std sqrt(0.2^2 + 0.05^2) */
    double sg = sqrt(0.2 * 0.2 + 0.05 * 0.05);
    at_stats(su, N, &m, &s);
    assert_true(fabs(m - 1.0) < 5 * sg / sn);
    assert_true(fabs(s / sg - 1.0) < 5 / sqrt(2.0 * N));
    /* s_down/dw = gain - r - up_down: mean 0.75 */
    at_stats(sd, N, &m, &s);
    assert_true(fabs(m - 0.75) < 5 * sg / sn);
    assert_true(fabs(s / sg - 1.0) < 5 / sqrt(2.0 * N));
    at_stats(bmax, N, &m, &s);
    assert_true(fabs(m - 1.2) < 5 * 0.12 / sn);
    assert_true(fabs(s / 0.12 - 1.0) < 5 / sqrt(2.0 * N));
    at_stats(bmin, N, &m, &s);
    assert_true(fabs(m + 0.8) < 5 * 0.12 / sn);
    assert_true(fabs(s / 0.12 - 1.0) < 5 / sqrt(2.0 * N));
    an_dev_free(&dv);

    /* log-normal gain: exp(sigma xi) has mean exp(s^2/2) and std mean*sqrt(exp(s^2)-1) */
    p.dw_min_dtod_log_normal = 1;
    p.dw_min_dtod = 0.5f;
    p.up_down = 0.0f;
    p.up_down_dtod = 0.0f;
    dv = make_dev(&p, D, X, 4);
    for (size_t k = 0; k < N; k++)
        su[k] = AN_C(&dv, k, AN_STU) / p.dw_min;
    double lm = exp(0.125), ls = lm * sqrt(exp(0.25) - 1.0);
    at_stats(su, N, &m, &s);
    assert_true(fabs(m - lm) < 5 * ls / sn);
    assert_true(fabs(s / ls - 1.0) < 0.03); /* heavier tail: looser than 5/sqrt(2N) */
    for (size_t k = 0; k < N; k++)
        assert_true(su[k] > 0);
    an_dev_free(&dv);

    /* up_down < 0 reduces the up step instead */
    p = quiet(ATL_DEV_SOFT_BOUNDS);
    p.up_down = -0.3f;
    dv = make_dev(&p, 2, 2, 5);
    assert_true(fabsf(AN_C(&dv, 0, AN_STU) - 0.7f * p.dw_min) < 1e-9f);
    assert_true(fabsf(-AN_C(&dv, 0, AN_STD) - p.dw_min) < 1e-9f);
    an_dev_free(&dv);
    free(su);
    free(sd);
    free(bmax);
    free(bmin);
}

/* enforce_consistency: abs() of the steps and w_min <= 0 <= w_max per device; without it, a
 * device with crossed bounds is dead (both bounds at the midpoint). Corrupt devices are stuck. */
static void test_consistency_and_corruption(void **state)
{
    (void)state;
    const int D = 100, X = 100;
    atl_dev_params p = atl_dev_defaults(ATL_DEV_CONSTANT_STEP);
    p.dw_min_dtod = 1.5f; /* many negative gains */
    p.w_max_dtod = 2.0f;
    p.w_min_dtod = 2.0f;
    an_dev dv = make_dev(&p, D, X, 9);
    for (int k = 0; k < D * X; k++) {
        assert_true(AN_C(&dv, k, AN_STU) >= 0 && AN_C(&dv, k, AN_STD) <= 0);
        assert_true(AN_C(&dv, k, AN_LO) <= 0 && AN_C(&dv, k, AN_HI) >= 0);
    }
    an_dev_free(&dv);
    p.enforce_consistency = 0;
    dv = make_dev(&p, D, X, 9);
    int dead = 0;
    for (int k = 0; k < D * X; k++)
        dead += AN_C(&dv, k, AN_LO) == AN_C(&dv, k, AN_HI);
    assert_true(dead > 100); /* P(b_min > b_max) is a few % with these spreads */
    an_dev_free(&dv);

    p = atl_dev_defaults(ATL_DEV_SOFT_BOUNDS);
    p.corrupt_devices_prob = 0.3f;
    p.corrupt_devices_range = 0.05f;
    dv = make_dev(&p, D, X, 10);
    int stuck = 0;
    for (int k = 0; k < D * X; k++)
        if (AN_C(&dv, k, AN_STU) == 0.0f && AN_C(&dv, k, AN_STD) == 0.0f) {
            stuck++;
            assert_true(AN_C(&dv, k, AN_LO) == AN_C(&dv, k, AN_HI));
            assert_true(fabsf(AN_C(&dv, k, AN_LO)) <= 0.05f);
        }
    double n = D * X, sdv = sqrt(n * 0.3 * 0.7);
    assert_true(fabs(stuck - 0.3 * n) < 5 * sdv);
    an_dev_free(&dv);
}

/* Cycle-to-cycle noise: additive s(1 - w/b) + s sigma xi and multiplicative
 * s(1 - w/b)(1 + sigma xi) (§2.4) have the predicted spreads; write noise gives the apparent
 * weight a spread write_noise_std*dw_min around the persistent one (§2.3). */
static void test_c2c_and_write_noise(void **state)
{
    (void)state;
    const int D = 100, X = 100;
    const size_t N = (size_t)D * X;
    float *dw = malloc(N * sizeof(float));
    double m, s;
    an_work wk;
    assert_int_equal(an_work_init(&wk, X, D, 1), 0);
    const float W0 = 0.5f;
    for (int mult = 0; mult <= 1; mult++) {
        atl_dev_params p = quiet(ATL_DEV_SOFT_BOUNDS);
        p.mult_noise = mult;
        p.dw_min = 0.01f;
        p.dw_min_std = 0.4f;
        p.w_max = 1.0f;
        an_dev dv = make_dev(&p, D, X, 11);
        float *w0 = malloc(N * sizeof(float));
        for (size_t k = 0; k < N; k++)
            w0[k] = W0;
        an_dev_set_weights(&dv, w0, 1, 2);
        at_pulse_all(&dv, &wk, +1, 77);
        for (size_t k = 0; k < N; k++)
            dw[k] = dv.w[k] - W0;
        at_stats(dw, N, &m, &s);
        double mean_exp = 0.01 * (1.0 - W0);
        double std_exp = mult ? 0.01 * (1.0 - W0) * 0.4 : 0.01 * 0.4;
        assert_true(fabs(m - mean_exp) < 5 * std_exp / sqrt((double)N) + 1e-7);
        assert_true(fabs(s / std_exp - 1.0) < 5 / sqrt(2.0 * N) + 1e-3);
        an_dev_free(&dv);
        free(w0);
    }
    /* write noise */
    atl_dev_params p = quiet(ATL_DEV_SOFT_BOUNDS_REF);
    p.dw_min = 0.01f;
    p.write_noise_std = 3.0f; /* sigma_w = 0.03 */
    an_dev dv = make_dev(&p, D, X, 12);
    assert_true(dv.wa != dv.w);
    float *w0 = malloc(N * sizeof(float));
    for (size_t k = 0; k < N; k++)
        w0[k] = 0.2f;
    an_dev_set_weights(&dv, w0, 3, 4);
    for (size_t k = 0; k < N; k++) {
        assert_true(dv.w[k] == 0.2f);
        dw[k] = dv.wa[k] - dv.w[k];
    }
    at_stats(dw, N, &m, &s);
    assert_true(fabs(m) < 5 * 0.03 / sqrt((double)N));
    assert_true(fabs(s / 0.03 - 1.0) < 5 / sqrt(2.0 * N) + 1e-3);
    /* a pulse redraws the apparent weight around the new persistent weight */
    at_pulse_all(&dv, &wk, +1, 5);
    for (size_t k = 0; k < N; k++) {
        assert_true(dv.w[k] > 0.2f);
        dw[k] = dv.wa[k] - dv.w[k];
    }
    at_stats(dw, N, &m, &s);
    assert_true(fabs(s / 0.03 - 1.0) < 5 / sqrt(2.0 * N) + 1e-3);
    /* apply_write_noise_on_set = false: apparent == persistent after set */
    an_dev_free(&dv);
    p.apply_write_noise_on_set = 0;
    dv = make_dev(&p, D, X, 12);
    an_dev_set_weights(&dv, w0, 3, 4);
    for (size_t k = 0; k < N; k++)
        assert_true(dv.wa[k] == dv.w[k]);
    an_dev_free(&dv);
    free(w0);
    free(dw);
    an_work_free(&wk);
}

/* The symmetry point of an asymmetric device is where alternating up/down pulses settle
 * (§2.5: sp = (s_up - s_down)/(s_up/b_max - s_down/b_min)); with subtract_symmetry_point the
 * visible weight settles at -(reference_mean + reference_std xi) instead. */
static void test_symmetry_point(void **state)
{
    (void)state;
    const int D = 20, X = 50;
    const size_t N = (size_t)D * X;
    atl_dev_params p = quiet(ATL_DEV_SOFT_BOUNDS_REF);
    p.dw_min = 0.004f;
    p.dw_min_dtod = 0.15f;
    p.up_down_dtod = 0.15f; /* per-device asymmetry r */
    p.w_max_dtod = 0.2f;
    p.w_min_dtod = 0.2f;
    p.w_max = 1.0f;
    p.w_min = -1.0f;
    an_work wk;
    assert_int_equal(an_work_init(&wk, X, D, 1), 0);
    an_dev dv = make_dev(&p, D, X, 21);
    an_dev_set_weights(&dv, NULL, 1, 1);
    uint64_t c = 0;
    for (int k = 0; k < 4000; k++) {
        at_pulse_all(&dv, &wk, +1, c++);
        at_pulse_all(&dv, &wk, -1, c++);
    }
    double spread = 0;
    for (size_t k = 0; k < N; k++) {
        double s_up = AN_C(&dv, k, AN_STU), s_dn = -AN_C(&dv, k, AN_STD);
        double sp = (s_up - s_dn) / (s_up / AN_C(&dv, k, AN_HI) - s_dn / AN_C(&dv, k, AN_LO));
        spread += sp * sp;
        /* the alternating fixed point differs from sp by at most about one step */
        assert_true(fabs(dv.w[k] - sp) < 2 * s_up + 2 * s_dn);
    }
    assert_true(sqrt(spread / N) > 0.02); /* the devices really are asymmetric */
    an_dev_free(&dv);

    p.subtract_symmetry_point = 1;
    p.reference_mean = 0.15f;
    p.reference_std = 0.05f;
    dv = make_dev(&p, D, X, 21);
    an_dev_set_weights(&dv, NULL, 1, 1);
    for (int k = 0; k < 4000; k++) {
        at_pulse_all(&dv, &wk, +1, c++);
        at_pulse_all(&dv, &wk, -1, c++);
    }
    float *v = malloc(N * sizeof(float));
    for (size_t k = 0; k < N; k++) {
        double s_up = AN_C(&dv, k, AN_STU), s_dn = -AN_C(&dv, k, AN_STD);
        double sp = (s_up - s_dn) / (s_up / AN_C(&dv, k, AN_HI) - s_dn / AN_C(&dv, k, AN_LO));
        /* visible fixed point sp - ref = -(reference_mean + reference_std xi) */
        assert_true(fabs(dv.w[k] - (sp - AN_C(&dv, k, AN_REF))) < 2 * s_up + 2 * s_dn);
        v[k] = dv.w[k];
    }
    double m, s;
    at_stats(v, N, &m, &s);
    assert_true(fabs(m + 0.15) < 5 * 0.05 / sqrt((double)N) + 0.004);
    assert_true(fabs(s - 0.05) < 0.01);
    free(v);
    an_dev_free(&dv);
    an_work_free(&wk);
}

/* Parameters by name (decision 7): set, aliases, clear errors. */
static void test_params_by_name(void **state)
{
    (void)state;
    char err[256];
    atl_dev_params p = atl_dev_defaults(ATL_DEV_SOFT_BOUNDS_REF);
    assert_int_equal(atl_dev_params_set(&p, "dw_min", 0.01, err, sizeof err), 0);
    assert_true(p.dw_min == 0.01f);
    assert_int_equal(atl_dev_params_set(&p, "reference_mean", 0.2, err, sizeof err), 0);
    assert_true(p.reference_mean == 0.2f);
    assert_int_equal(atl_dev_params_set(&p, "no_such_param", 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown device parameter 'no_such_param'"));
    assert_int_equal(atl_dev_params_set(&p, "dw_min_std", -1, err, sizeof err), -1);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(atl_dev_params_set(&p, "w_min", 0.5, err, sizeof err), -1);
    assert_int_equal(atl_dev_params_set(&p, "mult_noise", 0.5, err, sizeof err), -1);
    assert_int_equal(atl_dev_params_set(&p, "pow_gamma", 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not apply"));
    assert_int_equal(atl_dev_params_set_kv(&p, "subtract_symmetry_point=true", err, sizeof err),
                     0);
    assert_int_equal(p.subtract_symmetry_point, 1);
    assert_int_equal(atl_dev_params_set_kv(&p, "w_max=abc", err, sizeof err), -1);
    /* n_states alias: dw_min = (w_max - w_min)/n_states */
    p.w_max = 1.0f;
    p.w_min = -1.0f;
    assert_int_equal(atl_dev_params_set(&p, "n_states", 400, err, sizeof err), 0);
    assert_true(fabsf(p.dw_min - 0.005f) < 1e-9f);
    double v;
    assert_int_equal(atl_dev_params_get(&p, "n_states", &v), 0);
    assert_true(fabs(v - 400) < 1e-3);
    atl_dev_params e = atl_dev_defaults(ATL_DEV_EXP_STEP);
    assert_int_equal(atl_dev_params_set(&e, "n_states", 500, err, sizeof err), 0);
    assert_true(fabs(atl_dev_n_states(&e) - 500) < 0.05);
    atl_dev_params cs = atl_dev_defaults(ATL_DEV_CONSTANT_STEP);
    assert_int_equal(atl_dev_params_set(&cs, "write_noise_std", 1, err, sizeof err), -1);
}

/* Presets carry the reference values and report their number of states (§3.1). */
static void test_presets(void **state)
{
    (void)state;
    char err[256];
    struct { const char *name; double n_states; } ex[] = {
        {"reram_hfo2", 2.0 / 0.4622}, {"reram_om", 2.0 / 0.0949}, {"reram_sb", 1000.0},
        {"idealized", 10000.0}, {"gokmen_vlasov", 1250.0}, {"ecram", 1000.0},
        {"ecram_mo", 2.0 / 2.8214e-4}, {"capacitor", 400.0},
        /* ExpStep: granularity is the down step at w = 0 (§2.8) */
        {"pcm", 2.0 / (0.01 * (1.0 + 2.235))},
        {"reram_es", 2.0 / ((1.0 - 0.259359) * 0.00135 * (1.0 + 0.081404 * exp(2.5)))},
    };
    assert_int_equal(atl_dev_preset_count(), 10);
    for (size_t k = 0; k < sizeof ex / sizeof ex[0]; k++) {
        atl_dev_params p;
        assert_int_equal(atl_dev_preset(ex[k].name, &p, err, sizeof err), 0);
        assert_int_equal(atl_dev_params_validate(&p, err, sizeof err), 0);
        double ns = atl_dev_n_states(&p);
        if (fabs(ns / ex[k].n_states - 1) > 1e-4)
            fprintf(stderr, "%s: %g vs %g\n", ex[k].name, ns, ex[k].n_states);
        assert_true(fabs(ns / ex[k].n_states - 1) < 1e-4);
    }
    atl_dev_params p;
    assert_int_equal(atl_dev_preset("reram_hfo2", &p, err, sizeof err), 0);
    assert_int_equal(p.type, ATL_DEV_SOFT_BOUNDS_REF);
    assert_true(p.dw_min == 0.4622f && p.write_noise_std == 0.5841f && p.reference_std == 0.05f);
    assert_true(p.dw_min_dtod_log_normal && p.subtract_symmetry_point && !p.mult_noise);
    assert_true(p.w_max_dtod == 0.4295f && p.w_min_dtod == 0.5990f && p.dw_min_std == 0.2174f);
    assert_int_equal(atl_dev_preset("reram_sb", &p, err, sizeof err), 0);
    assert_true(p.w_max == 1.25f && p.w_min == -0.75f && p.dw_min_std == 3.75f &&
                p.write_noise_std == 56.0f);
    assert_int_equal(atl_dev_preset("soft_bounds", &p, err, sizeof err), 0);
    assert_int_equal(p.type, ATL_DEV_SOFT_BOUNDS);
    assert_int_equal(atl_dev_preset("nope", &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown device preset 'nope'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softbounds_closed_form),
        cmocka_unit_test(test_powstep_constantstep_closed_form),
        cmocka_unit_test(test_d2d_statistics),
        cmocka_unit_test(test_consistency_and_corruption),
        cmocka_unit_test(test_c2c_and_write_noise),
        cmocka_unit_test(test_symmetry_point),
        cmocka_unit_test(test_params_by_name),
        cmocka_unit_test(test_presets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
