/* Batched vector updates (an_batch_apply, algo.c "batches") against the vector-by-vector path:
 * for every batchable algorithm and a range of devices and settings (write noise, nonlinear
 * devices, gamma > 0, deterministic choppers, transfer periods, mapping scales, slices that
 * wrap inside one batch, batches longer than AN_MAX_VEC, 1 vs 2 threads) the complete tile
 * state after several updates is identical byte for byte; also the settings that are not
 * batched (out-chopper flips) still agree, trivially. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "analog_test_util.h"

typedef void (*tweak_fn)(atl_tile_config *);

static atl_tile *make(const char *algo, const char *preset, int D, int X, tweak_fn tweak,
                      int threads, int no_batch)
{
    atl_dev_params dev;
    atl_tile_config cfg;
    char err[256];
    assert_int_equal(atl_dev_preset(preset, &dev, err, sizeof err), 0);
    assert_int_equal(atl_tile_config_build(&cfg, algo, &dev, err, sizeof err), 0);
    cfg.d_size = D;
    cfg.x_size = X;
    cfg.seed = 77;
    cfg.stream = 5;
    cfg.threads = threads;
    if (tweak)
        tweak(&cfg);
    atl_tile *t = atl_tile_create(&cfg, err, sizeof err);
    if (!t)
        fprintf(stderr, "%s\n", err);
    assert_non_null(t);
    t->no_batch = no_batch;
    return t;
}

static uint8_t *state_of(const atl_tile *t, size_t *len)
{
    char err[256];
    size_t cap = atl_tile_state_size(t);
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    assert_int_equal(atl_tile_save(t, buf, cap, len, err, sizeof err), 0);
    return buf;
}

/* Runs the same updates on a batched and a vector-by-vector tile and compares their states. */
static void same_both_ways(const char *algo, const char *preset, int D, int X, tweak_fn tweak,
                           int threads)
{
    atl_tile *a = make(algo, preset, D, X, tweak, threads, 0);
    atl_tile *b = make(algo, preset, D, X, tweak, threads, 1);
    atl_tile_set_threads(b, 1); /* the state keeps the configured count: same for both */
    float *W = malloc(sizeof(float) * (size_t)D * (size_t)X);
    atl_rng_normal_fill_at(3, 4, 0, (size_t)D * (size_t)X, W);
    for (int k = 0; k < D * X; k++)
        W[k] *= 0.1f;
    assert_int_equal(atl_tile_set_weights(a, W, 0.05f), 0);
    assert_int_equal(atl_tile_set_weights(b, W, 0.05f), 0);
    const int ms[] = {1, 5, 70, 64, 3};
    const float lrs[] = {0.05f, 0.01f, 0.02f, 0.1f, 0.03f};
    for (int s = 0; s < 5; s++) {
        const int m = ms[s];
        float *x = malloc(sizeof(float) * (size_t)m * (size_t)X);
        float *d = malloc(sizeof(float) * (size_t)m * (size_t)D);
        atl_rng_normal_fill_at(9, (uint64_t)s, 0, (size_t)m * (size_t)X, x);
        atl_rng_normal_fill_at(10, (uint64_t)s, 0, (size_t)m * (size_t)D, d);
        for (int k = 0; k < m * X; k += 3)
            x[k] = 0.0f; /* inactive inputs too */
        for (int k = 0; k < m * D; k++)
            d[k] *= (k % 7 == 0) ? 5.0f : 0.3f; /* a few large gradients: BL > 1 as well */
        assert_int_equal(atl_tile_update(a, x, d, m, lrs[s]), 0);
        assert_int_equal(atl_tile_update(b, x, d, m, lrs[s]), 0);
        free(x);
        free(d);
    }
    size_t la, lb;
    uint8_t *sa = state_of(a, &la), *sb = state_of(b, &lb);
    assert_int_equal(la, lb);
    if (memcmp(sa, sb, la) != 0)
        fprintf(stderr, "states differ: %s on %s, %d x %d\n", algo, preset, D, X);
    assert_memory_equal(sa, sb, la);
    atl_tile_counters ca, cb;
    atl_tile_get_counters(a, &ca);
    atl_tile_get_counters(b, &cb);
    assert_memory_equal(&ca, &cb, sizeof ca);
    assert_true(ca.pulses_up_a + ca.pulses_down_a > 100); /* the updates did something */
    free(sa);
    free(sb);
    free(W);
    atl_tile_destroy(a);
    atl_tile_destroy(b);
}

static void t_gamma(atl_tile_config *c) { c->ap.gamma = 0.2f; }
static void t_det_chop(atl_tile_config *c)
{
    c->ap.in_chop_random = 0;
    c->ap.in_chop_prob = 0.3f;
}
static void t_every(atl_tile_config *c)
{
    c->ap.transfer_every = 3;
    c->ap.units_in_mbatch = 1;
}
static void t_every_auto(atl_tile_config *c) { c->ap.transfer_every = -2; }
static void t_scales(atl_tile_config *c)
{
    c->weight_scaling_omega = 0.6f;
    c->weight_scaling_lr_compensation = 1;
}
static void t_cgm(atl_tile_config *c)
{
    c->ap.correct_gradient_magnitudes = 1;
    c->ap.momentum = 0.2f;
    c->ap.forget_buffer = 0;
}
static void t_fixed_bl(atl_tile_config *c)
{
    c->up.update_bl_management = 0;
    c->up.update_management = 1;
    c->up.desired_bl = 7;
}
static void t_out_chop(atl_tile_config *c) { c->ap.out_chop_prob = 0.2f; }
static void t_res(atl_tile_config *c)
{
    c->up.res = 0.05f;
    c->up.sto_round = 1;
}

static void test_sgd(void **state)
{
    (void)state;
    same_both_ways("sgd", "soft_bounds", 24, 40, NULL, 1);  /* BL 31, multiplicative noise */
    same_both_ways("sgd", "reram_hfo2", 33, 17, NULL, 1);   /* write noise, reference */
    same_both_ways("sgd", "pcm", 16, 20, NULL, 1);          /* ExpStep: nonlinear rows */
    same_both_ways("sgd", "reram_sb", 20, 36, t_fixed_bl, 1);
    same_both_ways("sgd", "reram_sb", 20, 36, t_res, 1);    /* quantised, rounded probabilities */
}

static void test_chopped(void **state)
{
    (void)state;
    same_both_ways("cttv2", "reram_hfo2", 20, 12, NULL, 1); /* slices wrap inside a batch */
    same_both_ways("cttv2", "reram_sb", 48, 40, NULL, 1);
    same_both_ways("ttv2", "reram_sb", 30, 20, NULL, 1);
    same_both_ways("cttv2", "reram_sb", 18, 22, t_gamma, 1);
    same_both_ways("cttv2", "reram_hfo2", 18, 22, t_det_chop, 1);
    same_both_ways("cttv2", "reram_sb", 18, 22, t_every, 1);
    same_both_ways("cttv2", "reram_om", 18, 22, t_every_auto, 1);
    same_both_ways("cttv2", "reram_hfo2", 18, 22, t_scales, 1);
    same_both_ways("cttv2", "reram_sb", 18, 22, t_cgm, 1);
    same_both_ways("cttv2", "soft_bounds", 18, 22, t_fixed_bl, 1);
    same_both_ways("cttv2", "reram_sb", 18, 22, t_out_chop, 1); /* not batched */
}

static void test_threads(void **state)
{
    (void)state;
    same_both_ways("cttv2", "reram_hfo2", 200, 96, NULL, 2);
    same_both_ways("sgd", "soft_bounds", 96, 64, NULL, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd),
        cmocka_unit_test(test_chopped),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
