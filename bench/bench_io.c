/* Benchmark of the analog IO (ANALOG_MODEL.md section 5) against a bare single-threaded sgemm of
 * the same shape, plus the normal generator. Prints one JSON object per line; best-of-N and
 * median times (the host is noisy: compare best with best).
 *
 *   bench_io [reps]      (default 300 repetitions per measurement)
 *
 * Shapes: a 512x512 tile and m = 8 vectors (the study's largest tile). Data: W ~ U(-0.25, 0.25),
 * x ~ N(0, 1), so with the default IO (ABS_MAX noise management) outputs stay within out_bound
 * and no bound-management re-pass is needed ("fwd_io"); "fwd_io_bm" uses W ~ U(-1, 1), where
 * most vectors saturate and are recomputed. */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atl/analog_io.h"
#include "atl/rng.h"
#include "../runtime/analog/io_internal.h"

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

typedef struct stats {
    double best, median;
} stats;

static stats summarise(double *t, int n)
{
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    stats s = {t[0], n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2])};
    return s;
}

typedef struct ctx {
    int d, n, m;
    const float *W, *x, *dvec;
    float *y;
    atl_io_params p;
    atl_rng_stream rng;
    atl_io_counters cnt;
} ctx;

enum { K_SGEMM, K_MAC, K_FWD, K_BWD, K_READ };

static void run_kernel(ctx *c, int kind)
{
    switch (kind) {
    case K_SGEMM:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c->m, c->d, c->n, 1.0f, c->x, c->n,
                    c->W, c->n, 0.0f, c->y, c->d);
        break;
    case K_MAC:
        atl_io_mac_nt(c->W, c->d, c->n, c->x, (size_t)c->n, c->m, c->y, (size_t)c->d);
        break;
    case K_FWD:
        atl_io_forward(&c->p, NULL, c->W, c->d, c->n, c->x, c->m, 1.0f, c->y, &c->rng, &c->cnt);
        break;
    case K_BWD:
        atl_io_backward(&c->p, NULL, c->W, c->d, c->n, c->dvec, c->m, 1.0f, c->y, &c->rng,
                        &c->cnt);
        break;
    case K_READ:
        atl_io_read_column(&c->p, c->W, c->d, c->n, 17, c->y, &c->rng, &c->cnt);
        break;
    }
}

/* Interleave the kernels rep by rep so that a noisy phase of the host hits all of them alike. */
static void measure(ctx *c, const int *kinds, int nk, int reps, stats *out)
{
    double *t = malloc(sizeof(double) * (size_t)reps * (size_t)nk);
    if (!t)
        abort();
    for (int w = 0; w < 20; w++)
        for (int q = 0; q < nk; q++)
            run_kernel(c, kinds[q]);
    for (int r = 0; r < reps; r++)
        for (int q = 0; q < nk; q++) {
            double t0 = now_s();
            run_kernel(c, kinds[q]);
            t[(size_t)q * (size_t)reps + (size_t)r] = now_s() - t0;
        }
    for (int q = 0; q < nk; q++)
        out[q] = summarise(t + (size_t)q * (size_t)reps, reps);
    free(t);
}

static void print_line(const char *name, const char *shape, stats s, const char *extra)
{
    printf("{\"bench\":\"%s\",\"shape\":\"%s\",\"best_us\":%.2f,\"median_us\":%.2f%s}\n", name,
           shape, s.best * 1e6, s.median * 1e6, extra ? extra : "");
}

/* 64-byte aligned, as a tile should allocate its weights (see analog_io.h). */
static float *falloc(size_t n)
{
    return aligned_alloc(64, (sizeof(float) * n + 63u) & ~(size_t)63u);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 300;
    if (reps < 3)
        reps = 3;
    openblas_set_num_threads(1);
    const int d = 512, n = 512, m = 8;
    float *W = falloc((size_t)d * n), *Wbig = falloc((size_t)d * n);
    float *x = falloc((size_t)m * n), *dv = falloc((size_t)m * d);
    float *y = falloc((size_t)m * (d > n ? d : n));
    if (!W || !Wbig || !x || !dv || !y)
        return 1;
    atl_rng_uniform_fill_at(1, 1, 0, (size_t)d * n, W);
    for (int q = 0; q < d * n; q++) {
        Wbig[q] = 2.0f * W[q] - 1.0f;
        W[q] = 0.5f * W[q] - 0.25f;
    }
    atl_rng_normal_fill_at(1, 2, 0, (size_t)m * n, x);
    atl_rng_normal_fill_at(1, 3, 0, (size_t)m * d, dv);

    ctx c = {d, n, m, W, x, dv, y, atl_io_defaults(), atl_rng_stream_make(7, 7), {0, 0}};
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d", m, d, n);

    const int kinds[] = {K_SGEMM, K_MAC, K_FWD, K_BWD};
    stats s[4];
    measure(&c, kinds, 4, reps, s);
    print_line("sgemm", shape, s[0], ",\"note\":\"cblas_sgemm NT, 1 thread\"");
    print_line("atl_mac_nt", shape, s[1], ",\"note\":\"atl's batch-invariant MAC kernel alone\"");
    char extra[160];
    snprintf(extra, sizeof extra, ",\"bm_extra_passes_per_call\":%.3f",
             (double)c.cnt.bm_extra_passes / (double)(c.cnt.mvm_vectors / (uint64_t)m));
    print_line("fwd_io", shape, s[2], extra);
    print_line("bwd_io", shape, s[3], "");
    printf("{\"bench\":\"ratio_forward_sgemm\",\"best\":%.3f,\"median\":%.3f}\n",
           s[2].best / s[0].best, s[2].median / s[0].median);

    /* Bound management heavy case. */
    c.W = Wbig;
    c.cnt = (atl_io_counters){0, 0};
    const int kinds_bm[] = {K_SGEMM, K_FWD};
    stats sb[2];
    measure(&c, kinds_bm, 2, reps, sb);
    snprintf(extra, sizeof extra, ",\"bm_extra_passes_per_call\":%.3f,\"ratio_best\":%.3f",
             (double)c.cnt.bm_extra_passes / (double)(c.cnt.mvm_vectors / (uint64_t)m),
             sb[1].best / sb[0].best);
    print_line("fwd_io_bm", shape, sb[1], extra);

    /* Transfer read of one column (c-TTv2 does one per vector). */
    c.W = W;
    const int kinds_rd[] = {K_READ};
    stats sr[1];
    measure(&c, kinds_rd, 1, reps, sr);
    snprintf(shape, sizeof shape, "%dx%d", d, n);
    print_line("read_column", shape, sr[0], "");

    /* MAC throughput at larger batches (forward NT and backward NN layouts), against sgemm. */
    {
        const int mb = 256;
        float *xb = falloc((size_t)mb * n), *yb = falloc((size_t)mb * d);
        if (!xb || !yb)
            return 1;
        atl_rng_normal_fill_at(1, 5, 0, (size_t)mb * n, xb);
        const int ms[] = {64, 256};
        for (int q = 0; q < 2; q++) {
            const int mm = ms[q];
            const int r = reps / 10 > 5 ? reps / 10 : 5;
            double *t = malloc(sizeof(double) * 4 * (size_t)r);
            if (!t)
                return 1;
            for (int i = 0; i < r; i++) {
                double t0 = now_s();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mm, d, n, 1.0f, xb, n, W, n,
                            0.0f, yb, d);
                double t1 = now_s();
                atl_io_mac_nt(W, d, n, xb, (size_t)n, mm, yb, (size_t)d);
                double t2 = now_s();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mm, n, d, 1.0f, xb, d, W, n,
                            0.0f, yb, n);
                double t3 = now_s();
                atl_io_mac_nn(W, d, n, xb, (size_t)d, mm, yb, (size_t)n);
                double t4 = now_s();
                t[i] = t1 - t0;
                t[r + i] = t2 - t1;
                t[2 * r + i] = t3 - t2;
                t[3 * r + i] = t4 - t3;
            }
            const double gf = 2.0 * mm * d * n * 1e-9;
            stats a = summarise(t, r), b = summarise(t + r, r), c2 = summarise(t + 2 * r, r),
                  e = summarise(t + 3 * r, r);
            printf("{\"bench\":\"mac_gflops\",\"shape\":\"%dx%dx%d\",\"sgemm_nt\":%.1f,"
                   "\"atl_nt\":%.1f,\"sgemm_nn\":%.1f,\"atl_nn\":%.1f}\n",
                   mm, d, n, gf / a.best, gf / b.best, gf / c2.best, gf / e.best);
            free(t);
        }
        free(xb);
        free(yb);
    }

    /* Normal generation. */
    const size_t sizes[] = {4096, (size_t)1 << 20};
    for (int q = 0; q < 2; q++) {
        size_t nv = sizes[q];
        float *v = malloc(sizeof(float) * nv);
        if (!v)
            return 1;
        int r = nv > 100000 ? 15 : reps;
        double *t = malloc(sizeof(double) * (size_t)r);
        if (!t)
            return 1;
        for (int i = 0; i < r; i++) {
            double t0 = now_s();
            atl_rng_normal_fill_at(3, 4, (uint64_t)i * nv, nv, v);
            t[i] = now_s() - t0;
        }
        stats sn = summarise(t, r);
        printf("{\"bench\":\"normal_fill\",\"n\":%zu,\"best_ns_per_value\":%.3f,"
               "\"median_ns_per_value\":%.3f}\n",
               nv, sn.best * 1e9 / (double)nv, sn.median * 1e9 / (double)nv);
        free(t);
        free(v);
    }
    free(W);
    free(Wbig);
    free(x);
    free(dv);
    free(y);
    return 0;
}
