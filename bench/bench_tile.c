/* Benchmark of analog tiles (ANALOG_MODEL.md §1, §4, §5): a 512 x 512 tile and m = 8 vectors,
 * single thread, against a bare OpenBLAS sgemm of the same shape. Prints one JSON object per
 * line with the median and best time, the ratio to sgemm and the target of issue 3.
 *
 *   bench_tile [reps]      (default 100 repetitions per measurement)
 *
 * Data: x, d ~ N(0, 1). Forward/backward: SoftBounds tile with weights U(-0.25, 0.25) and the
 * default IO parameters. Analog SGD: default SoftBounds device (dw_min 0.001, multiplicative
 * cycle-to-cycle noise 0.3), UpdateParameters (desired_bl 31, UBLM, UM) and lr 0.01, so that
 * k = lr max|x| max|d| / dw_min ~ 90 > 31 and every update runs at BL = 31. c-TTv2:
 * build_config('c-ttv2') on reram_hfo2 (the study default, decision 3) and on reram_sb. */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "atl/analog.h"
#include "atl/rng.h"

void openblas_set_num_threads(int);

enum { D = 512, X = 512, M = 8 };

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void summarise(double *t, int n, double *best, double *median)
{
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    *best = t[0];
    *median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static atl_tile *make_tile(const char *algo, const char *preset)
{
    atl_dev_params dev;
    atl_tile_config cfg;
    char err[256];
    if (atl_dev_preset(preset, &dev, err, sizeof err) != 0 ||
        atl_tile_config_build(&cfg, algo, &dev, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    cfg.d_size = D;
    cfg.x_size = X;
    cfg.seed = 1;
    cfg.stream = 2;
    cfg.threads = 1;
    atl_tile *t = atl_tile_create(&cfg, err, sizeof err);
    if (!t) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    float *w = malloc((size_t)D * X * sizeof(float));
    atl_rng_uniform_fill_at(5, 6, 0, (size_t)D * X, w);
    for (size_t k = 0; k < (size_t)D * X; k++)
        w[k] = 0.5f * w[k] - 0.25f;
    atl_tile_set_weights(t, w, 0.0f);
    free(w);
    return t;
}

static void emit(const char *name, double *t, int reps, double sgemm_med, double target_ms,
                 double pulses)
{
    double best, med;
    summarise(t, reps, &best, &med);
    printf("{\"bench\":\"%s\",\"shape\":\"%dx%d\",\"m\":%d,\"threads\":1,\"reps\":%d,"
           "\"median_ms\":%.4f,\"best_ms\":%.4f",
           name, D, X, M, reps, med * 1e3, best * 1e3);
    if (sgemm_med > 0)
        printf(",\"ratio_vs_sgemm\":%.2f", med / sgemm_med);
    if (target_ms > 0)
        printf(",\"target_ms\":%.2f,\"meets_target\":%s", target_ms,
               med * 1e3 <= target_ms ? "true" : "false");
    if (pulses >= 0)
        printf(",\"pulses_per_call\":%.0f", pulses);
    printf("}\n");
    fflush(stdout);
}

static double bench_update(atl_tile *t, const float *x, const float *d, int reps, double *tm,
                           float lr)
{
    atl_tile_counters c0, c1;
    for (int w = 0; w < 3; w++)
        atl_tile_update(t, x + (size_t)w * M * X, d + (size_t)w * M * D, M, lr);
    atl_tile_get_counters(t, &c0);
    for (int r = 0; r < reps; r++) {
        const float *xr = x + (size_t)(r % 16) * M * X, *dr = d + (size_t)(r % 16) * M * D;
        double t0 = now_s();
        atl_tile_update(t, xr, dr, M, lr);
        tm[r] = now_s() - t0;
    }
    atl_tile_get_counters(t, &c1);
    double p = (double)(c1.pulses_up_a + c1.pulses_down_a + c1.pulses_up_c + c1.pulses_down_c) -
               (double)(c0.pulses_up_a + c0.pulses_down_a + c0.pulses_up_c + c0.pulses_down_c);
    return p / reps;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 100;
    if (reps < 5)
        reps = 5;
    openblas_set_num_threads(1);
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    double *tm = malloc((size_t)reps * sizeof(double));
    /* 16 batches of inputs, cycled */
    float *x = malloc((size_t)16 * M * X * sizeof(float));
    float *d = malloc((size_t)16 * M * D * sizeof(float));
    float *y = malloc((size_t)M * D * sizeof(float)), *z = malloc((size_t)M * X * sizeof(float));
    atl_rng_normal_fill_at(9, 1, 0, (size_t)16 * M * X, x);
    atl_rng_normal_fill_at(9, 2, 0, (size_t)16 * M * D, d);

    /* bare sgemm: y (M x D) = x (M x X) W^T */
    float *W = malloc((size_t)D * X * sizeof(float));
    atl_rng_uniform_fill_at(5, 6, 0, (size_t)D * X, W);
    for (int r = 0; r < 5; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, D, X, 1.0f, x, X, W, X, 0.0f, y,
                    D);
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, D, X, 1.0f, x, X, W, X, 0.0f, y,
                    D);
        tm[r] = now_s() - t0;
    }
    double best, sgemm_med;
    summarise(tm, reps, &best, &sgemm_med);
    emit("sgemm", tm, reps, 0, 0, -1);

    atl_tile *t = make_tile("sgd", "soft_bounds");
    for (int r = 0; r < 5; r++)
        atl_tile_forward(t, x, M, y);
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        atl_tile_forward(t, x + (size_t)(r % 16) * M * X, M, y);
        tm[r] = now_s() - t0;
    }
    emit("forward_io", tm, reps, sgemm_med, 1.15 * sgemm_med * 1e3, -1);
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        atl_tile_backward(t, d + (size_t)(r % 16) * M * D, M, z);
        tm[r] = now_s() - t0;
    }
    emit("backward_io", tm, reps, sgemm_med, 0, -1);

    double p = bench_update(t, x, d, reps, tm, 0.01f);
    emit("update_sgd_softbounds_bl31", tm, reps, sgemm_med, 6.0, p);
    atl_tile_destroy(t);

    t = make_tile("cttv2", "reram_hfo2");
    p = bench_update(t, x, d, reps, tm, 0.01f);
    emit("update_cttv2_reram_hfo2", tm, reps, sgemm_med, 1.5, p);
    atl_tile_destroy(t);

    t = make_tile("cttv2", "reram_sb");
    p = bench_update(t, x, d, reps, tm, 0.01f);
    emit("update_cttv2_reram_sb", tm, reps, sgemm_med, 1.5, p);
    atl_tile_destroy(t);

    free(tm);
    free(x);
    free(d);
    free(y);
    free(z);
    free(W);
    return 0;
}
