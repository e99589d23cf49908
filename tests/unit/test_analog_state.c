/* Tiles as objects: bit-exact determinism (same seed, 1 vs 2 threads), state save/load/continue
 * for every algorithm, corrupt state input, counters, omega output scaling, tile arrays (§7.1)
 * and pulse-response curves. */
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

#include "analog_test_util.h"

static atl_tile *make(const char *algo, const char *preset, int d, int x, uint64_t seed,
                      void (*tweak)(atl_tile_config *))
{
    atl_dev_params dev;
    char err[256];
    assert_int_equal(atl_dev_preset(preset, &dev, err, sizeof err), 0);
    atl_tile_config cfg;
    assert_int_equal(atl_tile_config_build(&cfg, algo, &dev, err, sizeof err), 0);
    cfg.d_size = d;
    cfg.x_size = x;
    cfg.seed = seed;
    cfg.stream = 42;
    if (tweak)
        tweak(&cfg);
    atl_tile *t = atl_tile_create(&cfg, err, sizeof err);
    if (!t)
        fprintf(stderr, "%s\n", err);
    assert_non_null(t);
    return t;
}

/* A training-like sequence: forward, backward, update with batch 4 from a fixed data stream. */
static void drive(atl_tile *t, int step0, int steps, float *y_last)
{
    const int D = t->d_size, X = t->x_size, B = 4;
    float *x = malloc((size_t)B * X * sizeof(float)), *d = malloc((size_t)B * D * sizeof(float));
    float *y = malloc((size_t)B * D * sizeof(float)), *z = malloc((size_t)B * X * sizeof(float));
    for (int s = step0; s < step0 + steps; s++) {
        atl_rng_normal_fill_at(7, 1, (uint64_t)s * 4096, (size_t)B * X, x);
        atl_tile_forward(t, x, B, y);
        for (int k = 0; k < B * D; k++)
            d[k] = 0.05f * y[k] + 0.1f * sinf((float)(k + s));
        atl_tile_backward(t, d, B, z);
        assert_int_equal(atl_tile_update(t, x, d, B, 0.02f), 0);
        if (s % 7 == 0)
            atl_tile_post_batch(t);
    }
    if (y_last)
        memcpy(y_last, y, (size_t)B * D * sizeof(float));
    free(x);
    free(d);
    free(y);
    free(z);
}

/* Bitwise comparison of everything observable. */
static void assert_same(const atl_tile *a, const atl_tile *b)
{
    size_t n = (size_t)a->d_size * (size_t)a->x_size;
    float *u = malloc(n * sizeof(float)), *v = malloc(n * sizeof(float));
    const atl_tile_array_id ids[] = {ATL_ARR_VISIBLE, ATL_ARR_A, ATL_ARR_A_HIDDEN, ATL_ARR_C,
                                     ATL_ARR_C_HIDDEN, ATL_ARR_H, ATL_ARR_CHI};
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
        int ra = atl_tile_get_array(a, ids[k], u), rb = atl_tile_get_array(b, ids[k], v);
        assert_int_equal(ra, rb);
        if (ra == 0)
            assert_memory_equal(u, v, n * sizeof(float));
    }
    atl_tile_counters ca, cb;
    atl_tile_get_counters(a, &ca);
    atl_tile_get_counters(b, &cb);
    assert_memory_equal(&ca, &cb, sizeof ca);
    if (a->chop_in) {
        assert_memory_equal(a->chop_in, b->chop_in, (size_t)a->in_size);
        assert_memory_equal(a->chop_out, b->chop_out, (size_t)a->out_size);
    }
    assert_true(a->m_x == b->m_x && a->m_d == b->m_d && a->slice == b->slice);
    free(u);
    free(v);
}

static void tweak_gamma(atl_tile_config *c)
{
    c->ap.gamma = 0.3f;
    c->ap.out_chop_prob = 0.1f;
}

static void tweak_omega(atl_tile_config *c)
{
    c->weight_scaling_omega = 0.6f;
    c->weight_scaling_columnwise = 1;
    c->weight_scaling_lr_compensation = 1;
}

static void tweak_threads2(atl_tile_config *c) { c->threads = 2; }
static void tweak_threads1(atl_tile_config *c) { c->threads = 1; }

static void set_initial(atl_tile *t, float tau)
{
    size_t n = (size_t)t->d_size * (size_t)t->x_size;
    float *w = malloc(n * sizeof(float));
    for (size_t k = 0; k < n; k++)
        w[k] = 0.4f * sinf(0.3f * (float)k);
    assert_int_equal(atl_tile_set_weights(t, w, tau), 0);
    free(w);
}

/* Same seed -> identical bits; another seed -> different bits. */
static void test_same_seed(void **state)
{
    (void)state;
    atl_tile *a = make("cttv2", "reram_hfo2", 24, 40, 5, NULL);
    atl_tile *b = make("cttv2", "reram_hfo2", 24, 40, 5, NULL);
    atl_tile *c = make("cttv2", "reram_hfo2", 24, 40, 6, NULL);
    set_initial(a, 0.05f);
    set_initial(b, 0.05f);
    set_initial(c, 0.05f);
    float ya[4 * 24], yb[4 * 24], yc[4 * 24];
    drive(a, 0, 60, ya);
    drive(b, 0, 60, yb);
    drive(c, 0, 60, yc);
    assert_same(a, b);
    assert_memory_equal(ya, yb, sizeof ya);
    assert_true(memcmp(ya, yc, sizeof ya) != 0);
    atl_tile_destroy(a);
    atl_tile_destroy(b);
    atl_tile_destroy(c);
}

/* 1 vs 2 threads -> identical bits (updates are parallel over rows, every draw row-keyed). */
static void test_threads(void **state)
{
    (void)state;
    const char *algos[] = {"sgd", "cttv2"};
    for (int k = 0; k < 2; k++) {
        atl_tile *a = make(algos[k], "reram_sb", 96, 128, 3, tweak_threads1);
        atl_tile *b = make(algos[k], "reram_sb", 96, 128, 3, tweak_threads2);
        set_initial(a, 0.0f);
        set_initial(b, 0.0f);
        drive(a, 0, 12, NULL);
        drive(b, 0, 12, NULL);
        atl_tile_counters c;
        atl_tile_get_counters(a, &c);
        assert_true(c.pulses_up_a + c.pulses_down_a > 10000);
        assert_same(a, b);
        atl_tile_destroy(a);
        atl_tile_destroy(b);
    }
}

/* Save after N steps, load into a fresh tile, run M more: equals N + M uninterrupted, bitwise,
 * for every algorithm (and gamma > 0, omega scaling). */
static void test_save_load_continue(void **state)
{
    (void)state;
    struct { const char *algo, *preset; void (*tweak)(atl_tile_config *); } cases[] = {
        {"sgd", "reram_sb", NULL},          {"mp", "gokmen_vlasov", NULL},
        {"tt", "reram_om", NULL},           {"ttv2-buffered", "ecram", NULL},
        {"ttv2", "reram_hfo2", NULL},       {"cttv2", "reram_hfo2", NULL},
        {"cttv2", "pcm", tweak_gamma},      {"agad", "reram_es", NULL},
        {"cttv2", "capacitor", tweak_omega},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        atl_tile *ref = make(cases[k].algo, cases[k].preset, 12, 20, 9, cases[k].tweak);
        atl_tile *a = make(cases[k].algo, cases[k].preset, 12, 20, 9, cases[k].tweak);
        set_initial(ref, 0.1f);
        set_initial(a, 0.1f);
        drive(ref, 0, 45, NULL);
        drive(a, 0, 25, NULL);
        char err[256];
        size_t len = atl_tile_state_size(a);
        assert_true(len > 0);
        void *buf = malloc(len);
        size_t got = 0;
        assert_int_equal(atl_tile_save(a, buf, len, &got, err, sizeof err), 0);
        assert_int_equal(got, len);
        atl_tile *b = atl_tile_load(buf, len, err, sizeof err);
        if (!b)
            fprintf(stderr, "%s: %s\n", cases[k].algo, err);
        assert_non_null(b);
        assert_same(a, b);
        float ya[4 * 12], yb[4 * 12], yr[4 * 12];
        drive(a, 25, 20, ya);
        drive(b, 25, 20, yb);
        assert_same(a, b);
        assert_same(a, ref);
        drive(ref, 45, 1, yr);
        drive(b, 45, 1, ya);
        assert_memory_equal(ya, yr, sizeof ya);
        (void)yb;
        free(buf);
        atl_tile_destroy(a);
        atl_tile_destroy(b);
        atl_tile_destroy(ref);
    }
}

/* Corrupt input: clear errors, never a tile. File round trip. */
static void test_state_errors_and_files(void **state)
{
    (void)state;
    atl_tile *a = make("cttv2", "reram_sb", 8, 8, 1, NULL);
    drive(a, 0, 5, NULL);
    char err[256];
    size_t len = atl_tile_state_size(a);
    uint8_t *buf = malloc(len);
    assert_int_equal(atl_tile_save(a, buf, len, NULL, err, sizeof err), 0);
    assert_int_equal(atl_tile_save(a, buf, 10, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "needs"));
    assert_null(atl_tile_load(buf, 10, err, sizeof err));
    assert_non_null(strstr(err, "truncated"));
    assert_null(atl_tile_load(buf, len - 1, err, sizeof err));
    assert_non_null(strstr(err, "length"));
    buf[0] ^= 1;
    assert_null(atl_tile_load(buf, len, err, sizeof err));
    assert_non_null(strstr(err, "magic"));
    buf[0] ^= 1;
    buf[8] = 99;
    assert_null(atl_tile_load(buf, len, err, sizeof err));
    assert_non_null(strstr(err, "version"));
    buf[8] = 1;
    buf[len / 2] ^= 0x40;
    assert_null(atl_tile_load(buf, len, err, sizeof err));
    assert_non_null(strstr(err, "checksum"));
    buf[len / 2] ^= 0x40;
    atl_tile *b = atl_tile_load(buf, len, err, sizeof err);
    assert_non_null(b);
    atl_tile_destroy(b);

    char path[] = "/tmp/atl_tile_state_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(atl_tile_save_file(a, path, err, sizeof err), 0);
    b = atl_tile_load_file(path, err, sizeof err);
    assert_non_null(b);
    assert_same(a, b);
    atl_tile_destroy(b);
    FILE *f = fopen(path, "wb");
    fputs("not a tile", f);
    fclose(f);
    assert_null(atl_tile_load_file(path, err, sizeof err));
    assert_non_null(strstr(err, path));
    remove(path);
    assert_null(atl_tile_load_file("/nonexistent/dir/x", err, sizeof err));
    assert_non_null(strstr(err, "cannot open"));
    free(buf);
    atl_tile_destroy(a);
}

static void tweak_ideal(atl_tile_config *c)
{
    c->dev_a.dw_min_dtod = 0;
    c->dev_a.up_down_dtod = 0;
    c->dev_a.dw_min_std = 0;
    c->dev_a.w_max = 100;
    c->dev_a.w_min = -100;
    c->dev_a.w_max_dtod = 0;
    c->dev_a.w_min_dtod = 0;
    c->io_fwd.is_perfect = 1;
    c->io_bwd.is_perfect = 1;
}

/* Counters: pulses on an ideal constant-step device equal sum |dW|/dw_min; vectors counted. */
static void test_counters(void **state)
{
    (void)state;
    atl_tile *t = make("sgd", "idealized", 10, 14, 1, tweak_ideal);
    float z[140];
    memset(z, 0, sizeof z);
    assert_int_equal(atl_tile_set_weights(t, z, 0), 0);
    drive(t, 0, 30, NULL);
    float w[140];
    atl_tile_get_weights(t, w);
    double s = 0;
    for (int k = 0; k < 140; k++)
        s += fabs(w[k]) / 0.0002;
    atl_tile_counters c;
    atl_tile_get_counters(t, &c);
    /* |net| <= total pulses, equal parity; the walk is mostly one-signed per element here */
    assert_true(s <= (double)(c.pulses_up_a + c.pulses_down_a) + 1e-3);
    assert_true(c.pulses_up_a + c.pulses_down_a > 0);
    assert_int_equal(c.updates, 120);
    assert_int_equal(c.forward_vectors, 120);
    assert_int_equal(c.backward_vectors, 120);
    assert_int_equal(c.weight_sets, 1);
    /* exact accounting on a single element: x = e_0, d = -e_0 -> only up pulses at (0, 0) */
    float x[14] = {1}, d[10] = {-1};
    atl_tile_reset_counters(t);
    float before = t->A.w[0];
    assert_int_equal(atl_tile_update(t, x, d, 1, 0.0002f * 7), 0);
    atl_tile_get_counters(t, &c);
    /* k = lr/dw = 7 < 31: BL 7 with probability 1 on both sides, exactly 7 up pulses */
    assert_true(c.pulses_down_a == 0 && c.pulses_up_a == 7);
    assert_true(fabsf(t->A.w[0] - before - 0.0002f * (float)c.pulses_up_a) < 1e-6f);
    atl_tile_destroy(t);
}

/* Output scaling (§7.2): alpha = max|W_row|/omega; the analog array holds W/alpha; get_weights
 * and forward are in the caller's units. */
static void test_omega_scaling(void **state)
{
    (void)state;
    atl_tile *t = make("sgd", "idealized", 6, 9, 1, tweak_ideal);
    t->cfg.weight_scaling_omega = 0.5f;
    t->cfg.weight_scaling_columnwise = 1;
    float w[54], v[54], x[9], y[6];
    for (int k = 0; k < 54; k++)
        w[k] = (float)(k % 7) - 2.5f;
    assert_int_equal(atl_tile_set_weights(t, w, 0), 0);
    int ns;
    const float *sc = atl_tile_get_scales(t, &ns);
    assert_int_equal(ns, 6);
    for (int i = 0; i < 6; i++) {
        float amax = 0;
        for (int j = 0; j < 9; j++)
            amax = fmaxf(amax, fabsf(w[i * 9 + j]));
        assert_true(fabsf(sc[i] - amax / 0.5f) < 1e-6f);
        float vmax = 0;
        for (int j = 0; j < 9; j++)
            vmax = fmaxf(vmax, fabsf(t->W[i * 9 + j]));
        assert_true(fabsf(vmax - 0.5f) < 1e-6f);
    }
    atl_tile_get_weights(t, v);
    for (int k = 0; k < 54; k++)
        assert_true(fabsf(v[k] - w[k]) < 1e-5f);
    for (int j = 0; j < 9; j++)
        x[j] = 0.1f * (float)j - 0.3f;
    atl_tile_forward(t, x, 1, y);
    for (int i = 0; i < 6; i++) {
        float e = 0;
        for (int j = 0; j < 9; j++)
            e += w[i * 9 + j] * x[j];
        assert_true(fabsf(y[i] - e) < 1e-4f);
    }
    atl_tile_destroy(t);
}

static void tweak_fp(atl_tile_config *c)
{
    tweak_ideal(c);
    c->up.pulse_type = ATL_PULSE_NONE;
}

/* §7.1: near-equal splits, grid, digital partial sums, digital bias; each tile gets its slices. */
static void test_tile_array(void **state)
{
    (void)state;
    int s[8];
    assert_int_equal(atl_split_sizes(1000, 512, s), 2);
    assert_true(s[0] == 500 && s[1] == 500);
    assert_int_equal(atl_split_sizes(1025, 512, s), 3);
    assert_true(s[0] == 342 && s[1] == 342 && s[2] == 341);
    assert_int_equal(atl_split_sizes(512, 512, s), 1);
    assert_int_equal(atl_split_sizes(77, 0, s), 1);

    atl_dev_params dev;
    assert_int_equal(atl_dev_preset("idealized", &dev, NULL, 0), 0);
    atl_tile_config cfg;
    assert_int_equal(atl_tile_config_build(&cfg, "sgd", &dev, NULL, 0), 0);
    cfg.seed = 3;
    cfg.stream = 5;
    tweak_fp(&cfg);
    enum { O = 23, I = 37, M = 3 };
    char err[256];
    atl_tile_array *a = atl_tile_array_create(&cfg, O, I, 10, 16, 1, err, sizeof err);
    assert_non_null(a);
    int no, ni;
    assert_int_equal(atl_tile_array_grid(a, &no, &ni), 9);
    assert_true(no == 3 && ni == 3);
    assert_int_equal(atl_tile_array_tile(a, 2, 2)->d_size, 7);
    assert_int_equal(atl_tile_array_tile(a, 0, 0)->x_size, 13);
    float W[O * I], b[O], x[M * I], y[M * O], d[M * O], z[M * I], W2[O * I], b2[O];
    for (int k = 0; k < O * I; k++)
        W[k] = 0.5f * sinf(0.7f * (float)k);
    for (int k = 0; k < O; k++)
        b[k] = 0.1f * (float)k;
    assert_int_equal(atl_tile_array_set_weights(a, W, b, 0.0f), 0);
    atl_tile_array_get_weights(a, W2, b2);
    assert_memory_equal(W, W2, sizeof W);
    for (int k = 0; k < M * I; k++)
        x[k] = cosf(0.3f * (float)k);
    atl_tile_array_forward(a, x, M, y);
    for (int r = 0; r < M; r++)
        for (int i = 0; i < O; i++) {
            double e = b[i];
            for (int j = 0; j < I; j++)
                e += (double)W[i * I + j] * x[r * I + j];
            assert_true(fabs(y[r * O + i] - e) < 1e-4);
        }
    for (int k = 0; k < M * O; k++)
        d[k] = sinf(0.9f * (float)k);
    atl_tile_array_backward(a, d, M, z);
    for (int r = 0; r < M; r++)
        for (int j = 0; j < I; j++) {
            double e = 0;
            for (int i = 0; i < O; i++)
                e += (double)W[i * I + j] * d[r * O + i];
            assert_true(fabs(z[r * I + j] - e) < 1e-4);
        }
    assert_int_equal(atl_tile_array_update(a, x, d, M, 0.1f), 0);
    atl_tile_array_get_weights(a, W2, b2);
    for (int i = 0; i < O; i++) {
        double eb = b[i];
        for (int r = 0; r < M; r++)
            eb -= 0.1 * d[r * O + i];
        assert_true(fabs(b2[i] - eb) < 1e-5);
        for (int j = 0; j < I; j++) {
            double e = W[i * I + j];
            for (int r = 0; r < M; r++)
                e -= 0.1 * d[r * O + i] * x[r * I + j];
            assert_true(fabs(W2[i * I + j] - e) < 1e-5);
        }
    }
    atl_tile_counters c;
    atl_tile_array_get_counters(a, &c);
    assert_int_equal(c.updates, 9 * M);
    /* tiles have their own streams: their device populations differ */
    assert_true(atl_tile_array_tile(a, 0, 0)->cfg.stream != atl_tile_array_tile(a, 0, 1)->cfg.stream);
    atl_tile_array_destroy(a);
    assert_null(atl_tile_array_create(&cfg, 0, 5, 4, 4, 0, err, sizeof err));
}

/* Pulse-response curves: the noise-free mean follows the SoftBounds recursion of the mean device
 * closely, the apparent spread exceeds the noise-free one, CSV and SVG are well formed. */
static void test_response(void **state)
{
    (void)state;
    atl_dev_params p;
    assert_int_equal(atl_dev_preset("reram_sb", &p, NULL, 0), 0);
    atl_dev_response r;
    char err[256];
    assert_int_equal(atl_dev_response_compute(&p, 400, 300, 300, 1, &r, err, sizeof err), 0);
    assert_int_equal(r.n_pulses, 600);
    assert_true(r.mean_nf[0] == 0.0 && r.std_nf[0] == 0.0);
    assert_true(r.std[0] > 0.05); /* write noise on set: 56 * 0.002 */
    for (int k = 1; k <= 300; k++)
        assert_true(r.mean_nf[k] > r.mean_nf[k - 1]);
    for (int k = 301; k <= 600; k++)
        assert_true(r.mean_nf[k] < r.mean_nf[k - 1]);
    /* mean device: w_k = 1.25 (1 - (1 - 0.002/1.25)^k) after k up pulses */
    double w300 = 1.25 * (1 - pow(1 - 0.002 / 1.25, 300));
    assert_true(fabs(r.mean_nf[300] - w300) < 0.05 * w300);
    for (int k = 1; k <= 600; k++)
        assert_true(r.std[k] > r.std_nf[k]);
    char *cbuf = NULL;
    size_t clen = 0;
    FILE *f = open_memstream(&cbuf, &clen);
    assert_int_equal(atl_dev_response_write_csv(&r, f), 0);
    fclose(f);
    assert_true(strncmp(cbuf, "pulse,direction,mean,std,min,max,mean_nf,std_nf,min_nf,max_nf\n",
                        62) == 0);
    int lines = 0;
    for (size_t k = 0; k < clen; k++)
        lines += cbuf[k] == '\n';
    assert_int_equal(lines, 602);
    assert_non_null(strstr(cbuf, "\n1,up,"));
    assert_non_null(strstr(cbuf, "\n301,down,"));
    free(cbuf);
    f = open_memstream(&cbuf, &clen);
    assert_int_equal(atl_dev_response_write_svg(&r, "reram_sb <test>", f), 0);
    fclose(f);
    assert_true(strncmp(cbuf, "<svg", 4) == 0);
    assert_non_null(strstr(cbuf, "</svg>"));
    assert_non_null(strstr(cbuf, "reram_sb &lt;test&gt;"));
    assert_non_null(strstr(cbuf, "<polyline"));
    free(cbuf);
    atl_dev_response_free(&r);
    assert_int_equal(atl_dev_response_compute(&p, 0, 3, 3, 1, &r, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_save_load_continue),
        cmocka_unit_test(test_state_errors_and_files),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_omega_scaling),
        cmocka_unit_test(test_tile_array),
        cmocka_unit_test(test_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
