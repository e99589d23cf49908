/* Fast standard normals for per-pulse and write noise (see analog_internal.h, gauss.c section).
 *
 * The table holds the 65536 midpoint quantiles z_k = Phi^-1((k + 1/2)/65536), so a 16-bit
 * uniform index gives a normal whose distribution differs from N(0,1) only by the 2^-16
 * discretisation (tails cut at 4.33 sigma, variance 1 - 2e-5). One Philox word gives two such
 * normals, which is what makes the 31-pulse SoftBounds update cheap. The quantiles are computed
 * once per process (Halley iterations on erfc, exact to double rounding) and never change. */
#include "analog_internal.h"

#include <math.h>
#include <pthread.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#define AN_GAUSS_N 65536

static float gauss_table[AN_GAUSS_N];
static pthread_once_t gauss_once = PTHREAD_ONCE_INIT;

/* Phi^-1(p) for 0 < p < 1/2 (negative values): Abramowitz-Stegun 26.2.23 start, then Halley
 * steps on Phi(x) = erfc(-x/sqrt2)/2. */
static double inv_phi_lower(double p)
{
    double t = sqrt(-2.0 * log(p));
    double x = -(t - (2.515517 + 0.802853 * t + 0.010328 * t * t) /
                         (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t));
    for (int it = 0; it < 4; it++) {
        double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
        double u = e * sqrt(2.0 * M_PI) * exp(x * x / 2.0);
        x = x - u / (1.0 + x * u / 2.0);
    }
    return x;
}

static void gauss_init(void)
{
    for (int k = 0; k < AN_GAUSS_N / 2; k++) {
        double z = inv_phi_lower(((double)k + 0.5) / AN_GAUSS_N);
        gauss_table[k] = (float)z;
        gauss_table[AN_GAUSS_N - 1 - k] = (float)-z; /* exact symmetry: zero mean */
    }
}

const float *an_gauss_table(void)
{
    pthread_once(&gauss_once, gauss_init);
    return gauss_table;
}

/* Value k of the table from its lower half only: T[65535 - k] = -T[k] exactly (gauss_init), and
 * 65535 - k = k ^ 0xFFFF, so an index of the upper half reads its mirror and flips the sign.
 * The values are the table's; only half of it is ever touched (128 KiB, friendlier to L2 next
 * to the weights of a tile). */
void an_gauss_from_words(const uint32_t *w, size_t n, float *out)
{
    const float *T = an_gauss_table();
    size_t k = 0;
#if defined(__AVX2__)
    const __m256i lo16 = _mm256_set1_epi32(0xFFFF), m15 = _mm256_set1_epi32(0x7FFF);
    for (; k + 16 <= n; k += 16) {
        const __m256i u = _mm256_loadu_si256((const __m256i *)(const void *)(w + k / 2));
        __m256 z[2];
        for (int h = 0; h < 2; h++) {
            const __m256i idx = h ? _mm256_srli_epi32(u, 16) : _mm256_and_si256(u, lo16);
            const __m256i s = _mm256_srli_epi32(idx, 15); /* 1 for the upper half */
            const __m256i fold =
                _mm256_and_si256(_mm256_xor_si256(idx, _mm256_sub_epi32(_mm256_setzero_si256(), s)),
                                 m15);
            const __m256 v = _mm256_i32gather_ps(T, fold, 4);
            z[h] = _mm256_castsi256_ps(
                _mm256_xor_si256(_mm256_castps_si256(v), _mm256_slli_epi32(s, 31)));
        }
        /* element 2m is the low half of word m, 2m + 1 its high half */
        const __m256 a = _mm256_unpacklo_ps(z[0], z[1]), b = _mm256_unpackhi_ps(z[0], z[1]);
        _mm256_storeu_ps(out + k, _mm256_permute2f128_ps(a, b, 0x20));
        _mm256_storeu_ps(out + k + 8, _mm256_permute2f128_ps(a, b, 0x31));
    }
#endif
    for (; k + 1 < n; k += 2) {
        const uint32_t u = w[k / 2];
        out[k] = T[u & 0xFFFFu];
        out[k + 1] = T[u >> 16];
    }
    if (k < n)
        out[k] = T[w[k / 2] & 0xFFFFu];
}

void an_gauss_fill(uint64_t seed, uint64_t stream, uint64_t block, size_t n, float *out,
                   uint32_t *words_tmp)
{
    if (n == 0)
        return;
    atl_rng_u32_fill_at(seed, stream, block, (n + 1) / 2, words_tmp);
    an_gauss_from_words(words_tmp, n, out);
}
