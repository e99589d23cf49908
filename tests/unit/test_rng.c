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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_known_answers),
        cmocka_unit_test(test_fill_is_position_pure),
        cmocka_unit_test(test_uniform_and_normal_moments),
        cmocka_unit_test(test_bernoulli_rate),
        cmocka_unit_test(test_derive_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
