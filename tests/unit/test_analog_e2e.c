/* Analog training end to end through the DSL: models/linreg.atl (one linear layer, MSE loss)
 * compiled with the training pipeline (autodiff, analog-map, noise, optimizer, schedule), run by
 * the interpreter on runtime tiles; the teacher, inputs, batch and error signal are those of the
 * runtime-level experiment in test_analog_algos.
 *
 * On reram_om with the build_config defaults the DSL path reproduces the runtime-level numbers
 * (c-TTv2 ~0.5 vs analog SGD ~1.0). On reram_sb (1000 states, dw_min 0.002) the build_config
 * defaults of c-TTv2 learn far too slowly: the transfer moves C by lr * (pulses in A) per read, so
 * its effective learning rate scales with dw_min, and with the read noise clamped to one pulse per
 * transfer the signal drowns (the same happens at the runtime level; measured: ~1.1 vs SGD ~0.66).
 * With the reference toolkit's own ReRamSB preset configurations for both algorithms
 * (ChoppedTTv2ReRamSBPreset: in_chop_prob 0.01, fast_lr 0.5, auto_granularity 1000, update BL 31,
 * symmetry point subtracted, preset IO; ReRamSBPreset for SGD), each at its best learning rate of
 * a small grid, c-TTv2 is clearly better. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "atl/kernels.h"
#include "atl/rng.h"
#include "backend.h"
#include "lower.h"
#include "pass.h"

enum { D = 16, X = 32, B = 8 };

/* Train for `steps` and return the mean relative weight error over the last 200 steps. */
static double regress_cfg(const char *device, const char *algo, const char *extra, float lr,
                          int steps, uint64_t seed)
{
    char cfgpath[] = "/tmp/atl_e2e_XXXXXX";
    int fd = mkstemp(cfgpath);
    assert_true(fd >= 0);
    FILE *cf = fdopen(fd, "w");
    fprintf(cf, "analog {\n  device \"%s\" { }\n  algorithm \"%s\" { }\n  %s\n  layers \"w.*\" { }\n}\n",
            device, algo, extra ? extra : "");
    fclose(cf);

    atl_diag d;
    atl_diag_init(&d, stderr);
    atl_lower_opts lo = {.batch = B};
    atl_module *m = atl_compile_file(&d, ATL_SOURCE_DIR "/models/linreg.atl", &lo);
    assert_non_null(m);
    const char *configs[] = {cfgpath};
    assert_int_equal(atl_apply_overrides(&d, m, configs, 1, NULL, 0, false), 0);
    unlink(cfgpath);
    atl_pipeline pl;
    atl_pipeline_init(&pl);
    assert_int_equal(atl_pipeline_parse(&pl, "expand,shapes,verify,dce,cse,autodiff,analog-map,"
                                             "noise,optimizer,dce,cse,schedule,verify",
                                        &d),
                     0);
    assert_int_equal(atl_pipeline_run(&pl, m, &d), 0);
    assert_int_equal(m->funcs[0].n_tiles, 1);

    char err[512];
    atl_params *ps = atl_params_create(m, seed);
    atl_analog *an = atl_analog_create(m, seed, err, sizeof err);
    assert_non_null(an);
    assert_int_equal(atl_analog_program(an, ps, 0.0, err, sizeof err), 0);
    atl_interp *ip = atl_interp_create(m, ps, err, sizeof err);
    assert_non_null(ip);
    assert_int_equal(atl_interp_set_analog(ip, an, err, sizeof err), 0);

    float Wt[D * X], x[B * X], t[B * D];
    atl_rng_uniform_fill_at(seed, 100, 0, D * X, Wt);
    for (int k = 0; k < D * X; k++)
        Wt[k] = 0.5f * (2.0f * Wt[k] - 1.0f);
    double nw = 0;
    for (int k = 0; k < D * X; k++)
        nw += (double)Wt[k] * Wt[k];
    atl_interp_bind(ip, "x", x);
    atl_interp_bind(ip, "t", t);
    atl_interp_bind(ip, "lr", &lr);
    int w = atl_params_find(ps, "w.weight");
    assert_true(w >= 0);
    double acc = 0;
    int nacc = 0;
    for (int s = 0; s < steps; s++) {
        atl_rng_normal_fill_at(seed, 200, (uint64_t)s * 64, B * X, x);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < D; i++) {
                float v = 0;
                for (int j = 0; j < X; j++)
                    v += Wt[i * X + j] * x[b * X + j];
                t[b * D + i] = v;
            }
        assert_int_equal(atl_interp_run(ip, err, sizeof err), 0);
        if (s >= steps - 200) {
            atl_analog_read_back(an, ps);
            double e = 0;
            for (int k = 0; k < D * X; k++) {
                double dd = (double)ps->data[w][k] - Wt[k];
                e += dd * dd;
            }
            acc += sqrt(e / nw);
            nacc++;
        }
    }
    atl_interp_free(ip);
    atl_analog_free(an);
    atl_params_free(ps);
    atl_module_free(m);
    atl_diag_fini(&d);
    return acc / nacc;
}

static double regress(const char *device, const char *algo, int steps, uint64_t seed)
{
    return regress_cfg(device, algo, NULL, 0.01f, steps, seed);
}

static void test_cttv2_beats_sgd_reram_sb(void **state)
{
    (void)state;
    static const char *sgd_preset = "update { desired_bl = 31; } "
                                    "io { out_bound = 20; out_noise = 0.1; }";
    static const char *ctt_preset = "device { subtract_symmetry_point = 1; } "
                                    "algorithm { in_chop_prob = 0.01; fast_lr = 0.5; "
                                    "auto_granularity = 1000; } update { desired_bl = 31; } "
                                    "io { out_bound = 20; out_noise = 0.1; }";
    const float sgd_lrs[] = {0.003f, 0.01f, 0.03f}, ctt_lrs[] = {0.1f, 1.0f};
    double sgd = INFINITY, ctt = INFINITY;
    for (int k = 0; k < 3; k++)
        sgd = fmin(sgd, regress_cfg("reram_sb", "sgd", sgd_preset, sgd_lrs[k], 3000, 3));
    for (int k = 0; k < 2; k++)
        ctt = fmin(ctt, regress_cfg("reram_sb", "cttv2", ctt_preset, ctt_lrs[k], 3000, 3));
    print_message("reram_sb (reference presets) weight error: analog sgd %.3f, c-ttv2 %.3f\n",
                  sgd, ctt);
    assert_true(isfinite(sgd) && isfinite(ctt));
    assert_true(ctt < 0.85 * sgd);
    /* and the build_config defaults, for the record (not asserted: see the header comment) */
    print_message("reram_sb (build_config defaults): analog sgd %.3f, c-ttv2 %.3f\n",
                  regress("reram_sb", "sgd", 3000, 3), regress("reram_sb", "cttv2", 3000, 3));
}

static void test_cttv2_beats_sgd_reram_om(void **state)
{
    (void)state;
    double sgd = regress("reram_om", "sgd", 3000, 3);
    double ctt = regress("reram_om", "cttv2", 3000, 3);
    print_message("reram_om weight error: analog sgd %.3f, c-ttv2 %.3f\n", sgd, ctt);
    assert_true(ctt < 0.75 * sgd);
}

int main(int argc, char **argv)
{
    if (argc > 4) { /* exploration: DEVICE ALGO "extra config" LR [STEPS] */
        atl_k_init(1);
        printf("%s %s [%s] lr %s: %.3f\n", argv[1], argv[2], argv[3], argv[4],
               regress_cfg(argv[1], argv[2], argv[3], (float)atof(argv[4]),
                           argc > 5 ? atoi(argv[5]) : 3000, 3));
        return 0;
    }
    atl_k_init(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cttv2_beats_sgd_reram_sb),
        cmocka_unit_test(test_cttv2_beats_sgd_reram_om),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
