/* Counter-based RNG: known-answer vectors for Philox-4x32-10, determinism of the fills, and
 * distribution checks of uniform / normal / Bernoulli draws. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "atl/rng.h"

static void test_philox_known_answers(void **state)
{
    (void)state;
    /* Known-answer vectors of the Random123 distribution (kat_vectors, philox4x32 10 rounds). */
    struct { uint32_t ctr[4], key[2], out[4]; } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
        {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu},
         {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
        {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u},
         {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
    };
    for (size_t t = 0; t < sizeof kat / sizeof kat[0]; t++) {
        uint32_t out[4];
        atl_philox4x32_10(kat[t].ctr, kat[t].key, out);
        for (int j = 0; j < 4; j++)
            assert_int_equal(out[j], kat[t].out[j]);
    }
}

static void test_fill_is_position_pure(void **state)
{
    (void)state;
    enum { N = 103 };
    float a[N], b[N];
    atl_rng_normal_fill_at(42, 7, 0, N, a);
    /* Element k lives in block k/4: a fill starting at block 5 equals a[20..]. */
    atl_rng_normal_fill_at(42, 7, 5, N - 20, b);
    assert_memory_equal(a + 20, b, sizeof(float) * (N - 20));
    /* A cursor that fills in pieces of multiples of 4 sees the same numbers. */
    atl_rng_stream s = atl_rng_stream_make(42, 7);
    atl_rng_normal(&s, 40, b);
    atl_rng_normal(&s, N - 40, b + 40);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(s.block, atl_rng_blocks_normal(40) + atl_rng_blocks_normal(N - 40));
    /* Another stream or seed differs. */
    atl_rng_normal_fill_at(43, 7, 0, N, b);
    assert_true(memcmp(a, b, sizeof a) != 0);
    atl_rng_normal_fill_at(42, 8, 0, N, b);
    assert_true(memcmp(a, b, sizeof a) != 0);
}

static void test_uniform_and_normal_moments(void **state)
{
    (void)state;
    enum { N = 1 << 20 };
    float *v = malloc(sizeof(float) * N);
    assert_non_null(v);
    atl_rng_uniform_fill_at(1, 2, 0, N, v);
    double m = 0, m2 = 0, mn = 1, mx = 0;
    for (int k = 0; k < N; k++) {
        m += v[k];
        m2 += (double)v[k] * v[k];
        mn = fmin(mn, v[k]);
        mx = fmax(mx, v[k]);
    }
    m /= N;
    m2 = m2 / N - m * m;
    /* Mean 1/2 +- 5 sigma (sigma = sqrt(1/12/N)); variance 1/12. */
    assert_true(fabs(m - 0.5) < 5 * sqrt(1.0 / 12 / N));
    assert_true(fabs(m2 - 1.0 / 12) < 1e-3);
    assert_true(mn >= 0.0 && mx < 1.0);

    atl_rng_normal_fill_at(1, 3, 0, N, v);
    double s1 = 0, s2 = 0, s4 = 0;
    long tail = 0;
    for (int k = 0; k < N; k++) {
        double x = v[k];
        assert_true(isfinite(x));
        s1 += x;
        s2 += x * x;
        s4 += x * x * x * x;
        tail += fabs(x) > 1.959964;
    }
    s1 /= N;
    s2 /= N;
    s4 /= N;
    assert_true(fabs(s1) < 5.0 / sqrt(N));
    assert_true(fabs(s2 - 1.0) < 5 * sqrt(2.0 / N));
    assert_true(fabs(s4 - 3.0) < 0.05);
    /* Two-sided 5 % tail. */
    double ft = (double)tail / N;
    assert_true(fabs(ft - 0.05) < 5 * sqrt(0.05 * 0.95 / N));
    free(v);
}

static void test_bernoulli_rate(void **state)
{
    (void)state;
    enum { N = 200000 };
    uint8_t *b = malloc(N);
    assert_non_null(b);
    const float ps[] = {0.0f, 0.1f, 0.5f, 1.0f};
    for (size_t t = 0; t < 4; t++) {
        atl_rng_stream s = atl_rng_stream_make(9, t);
        atl_rng_bernoulli(&s, ps[t], N, b);
        long c = 0;
        for (int k = 0; k < N; k++)
            c += b[k];
        double r = (double)c / N, p = ps[t];
        assert_true(fabs(r - p) <= 5 * sqrt(p * (1 - p) / N) + 1e-12);
    }
    free(b);
}

static void test_derive_stream(void **state)
{
    (void)state;
    assert_true(atl_rng_derive_stream(1, 0) != atl_rng_derive_stream(1, 1));
    assert_true(atl_rng_derive_stream(1, 0) != atl_rng_derive_stream(2, 0));
    assert_int_equal(atl_rng_derive_stream(5, 6), atl_rng_derive_stream(5, 6));
}

/* Phi(x) for the goodness-of-fit tests. */
static double norm_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Kolmogorov-Smirnov and binned chi-square against N(0, 1) over 2^20 draws, plus the far tails
 * (where the log approximation matters). Thresholds: KS at alpha = 1e-6
 * (sqrt(-ln(alpha/2)/2)/sqrt(N)); chi-square mean + 5 sd; tail counts 5 Poisson sd. */
static void test_normal_goodness_of_fit(void **state)
{
    (void)state;
    enum { N = 1 << 20, BINS = 200 };
    float *v = malloc(sizeof(float) * N);
    assert_non_null(v);
    atl_rng_normal_fill_at(2024, 11, 0, N, v);
    long tail4 = 0;
    float vmax = 0;
    for (int k = 0; k < N; k++) {
        tail4 += fabsf(v[k]) > 4.0f;
        vmax = fmaxf(vmax, fabsf(v[k]));
    }
    /* |z| <= sqrt(-2 ln 2^-24) = 5.77 by construction. */
    assert_true(vmax <= 5.78f);
    const double e4 = 2.0 * N * norm_cdf(-4.0);
    assert_true(fabs((double)tail4 - e4) < 5 * sqrt(e4));

    qsort(v, N, sizeof(float), cmp_float);
    double dmax = 0;
    long counts[BINS] = {0};
    for (int k = 0; k < N; k++) {
        double f = norm_cdf(v[k]);
        double lo = f - (double)k / N, hi = (double)(k + 1) / N - f;
        dmax = fmax(dmax, fmax(lo, hi));
        int b = (int)(f * BINS);
        counts[b < BINS ? b : BINS - 1]++;
    }
    assert_true(dmax < sqrt(-0.5 * log(1e-6 / 2)) / sqrt((double)N));
    double chi = 0, e = (double)N / BINS;
    for (int b = 0; b < BINS; b++)
        chi += (counts[b] - e) * (counts[b] - e) / e;
    assert_true(chi < (BINS - 1) + 5 * sqrt(2.0 * (BINS - 1)));
    /* Sensitivity check of the same statistic: sd 1.01 must be rejected. */
    double dbad = 0;
    for (int k = 0; k < N; k++) {
        double f = norm_cdf(v[k] * (1.0 / 1.01));
        dbad = fmax(dbad, fmax(f - (double)k / N, (double)(k + 1) / N - f));
    }
    assert_true(dbad > sqrt(-0.5 * log(1e-6 / 2)) / sqrt((double)N));
    free(v);
}

/* The Box-Muller transform against libm in double over structured word pairs: extreme radii,
 * quadrant and fold boundaries. */
static void test_normal_transform_accuracy(void **state)
{
    (void)state;
    const uint32_t ks[] = {0u, 1u, 2u, 3u, 255u, 4095u, 65535u, 1u << 20, (1u << 23) - 1u,
                           1u << 23, (1u << 23) + 1u, 11863283u, (1u << 24) - 2u, (1u << 24) - 1u};
    double maxerr = 0;
    for (size_t ia = 0; ia < sizeof ks / sizeof ks[0]; ia++) {
        for (uint32_t jb = 0; jb < (1u << 24); jb += 4099u) {
            const uint32_t js[3] = {jb, (jb & ~0x3FFFFFu) | 0x200000u, (jb | 0x3FFFFFu)};
            for (int t = 0; t < 3; t++) {
                uint32_t a = ks[ia] << 8, b = js[t] << 8;
                float z1;
                float z0 = atl_rng_normal_from_words(a, b, &z1);
                double u1 = (ks[ia] + 1.0) / 16777216.0, u2 = js[t] / 16777216.0;
                double r = sqrt(-2.0 * log(u1));
                double e0 = fabs(z0 - r * cos(2 * M_PI * u2)), e1 = fabs(z1 - r * sin(2 * M_PI * u2));
                maxerr = fmax(maxerr, fmax(e0, e1) / fmax(r, 1.0));
            }
        }
    }
    assert_true(maxerr < 5e-7);
}

/* Bulk fills (vectorised groups of ATL_RNG_LANES blocks) equal the one-block definitions. */
static void test_bulk_equals_scalar(void **state)
{
    (void)state;
    enum { N = 333 };
    const uint64_t seed = 0x1234567890ABCDEFull, stream = 0xFEDCBA0987654321ull;
    /* Start just below a 2^32 block boundary so that the block counter carries inside a group. */
    const uint64_t b0 = (1ull << 32) - 7;
    uint32_t u[N];
    float f[N], z[N];
    atl_rng_u32_fill_at(seed, stream, b0, N, u);
    atl_rng_uniform_fill_at(seed, stream, b0, N, f);
    atl_rng_normal_fill_at(seed, stream, b0, N, z);
    for (int k = 0; k < N; k++) {
        uint32_t w = atl_rng_u32_at(seed, stream, 4 * b0 + (uint64_t)k);
        assert_int_equal(u[k], w);
        assert_true(f[k] == atl_u32_to_unit(w));
    }
    for (int k = 0; k + 1 < N; k += 2) {
        float second;
        float first = atl_rng_normal_from_words(u[k], u[k + 1], &second);
        assert_memory_equal(&first, &z[k], sizeof(float));
        assert_memory_equal(&second, &z[k + 1], sizeof(float));
    }
    /* Single draws use word 0 of their block. */
    atl_rng_stream s = {seed, stream, b0};
    for (int k = 0; k < N / 4; k++) {
        float one = atl_rng_normal1(&s);
        assert_memory_equal(&one, &z[4 * k], sizeof(float));
    }
    s.block = b0;
    for (int k = 0; k < N / 4; k++)
        assert_true(atl_rng_uniform1(&s) == f[4 * k]);
    /* Bernoulli through the grouped path equals the integer comparison. */
    uint8_t bern[N];
    s.block = b0;
    atl_rng_bernoulli(&s, 0.3f, N, bern);
    const uint32_t t = (uint32_t)(0.3 * 4294967296.0);
    for (int k = 0; k < N; k++)
        assert_int_equal(bern[k], u[k] < t);
    assert_int_equal(s.block, b0 + atl_rng_blocks_u32(N));
}

/* Fills of every short length (the vectorised tails) and block lists equal the one-block
 * definitions. */
static void test_fill_tails_and_block_lists(void **state)
{
    (void)state;
    const uint64_t seed = 77, stream = 0xABCDEF12345ull;
    for (size_t n = 1; n <= 140; n++) {
        const uint64_t b0 = 1000 + n;
        uint32_t u[140];
        float f[140], z[140];
        atl_rng_u32_fill_at(seed, stream, b0, n, u);
        atl_rng_uniform_fill_at(seed, stream, b0, n, f);
        atl_rng_normal_fill_at(seed, stream, b0, n, z);
        for (size_t k = 0; k < n; k++) {
            uint32_t w = atl_rng_u32_at(seed, stream, 4 * b0 + (uint64_t)k);
            assert_int_equal(u[k], w);
            assert_true(f[k] == atl_u32_to_unit(w));
            float second, first = atl_rng_normal_from_words(
                              atl_rng_u32_at(seed, stream, 4 * b0 + (k & ~(size_t)1)),
                              atl_rng_u32_at(seed, stream, 4 * b0 + (k | 1)), &second);
            assert_memory_equal(k & 1 ? &second : &first, &z[k], sizeof(float));
        }
    }
    /* scattered blocks (high counter words too), any count */
    uint64_t blocks[37];
    for (int k = 0; k < 37; k++)
        blocks[k] = ((uint64_t)(k * 7919) << 32) + (uint64_t)(k * 13);
    for (size_t n = 0; n <= 37; n++) {
        uint32_t out[4 * 37 + 1];
        out[4 * n] = 0xDEADBEEFu;
        atl_rng_u32_blocks_at(seed, stream, blocks, n, out);
        for (size_t k = 0; k < 4 * n; k++)
            assert_int_equal(out[k], atl_rng_u32_at(seed, stream, 4 * blocks[k / 4] + k % 4));
        assert_int_equal(out[4 * n], 0xDEADBEEFu); /* nothing written past the end */
        /* a stream per block */
        uint64_t streams[37];
        for (size_t k = 0; k < n; k++)
            streams[k] = stream + 1000003u * (uint64_t)(k % 5) + ((uint64_t)k << 40);
        atl_rng_u32_blocks_streams_at(seed, streams, blocks, n, out);
        for (size_t k = 0; k < 4 * n; k++)
            assert_int_equal(out[k], atl_rng_u32_at(seed, streams[k / 4], 4 * blocks[k / 4] + k % 4));
        assert_int_equal(out[4 * n], 0xDEADBEEFu);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_known_answers),
        cmocka_unit_test(test_fill_is_position_pure),
        cmocka_unit_test(test_uniform_and_normal_moments),
        cmocka_unit_test(test_bernoulli_rate),
        cmocka_unit_test(test_derive_stream),
        cmocka_unit_test(test_normal_goodness_of_fit),
        cmocka_unit_test(test_normal_transform_accuracy),
        cmocka_unit_test(test_bulk_equals_scalar),
        cmocka_unit_test(test_fill_tails_and_block_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
