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

void an_gauss_fill(uint64_t seed, uint64_t stream, uint64_t block, size_t n, float *out,
                   uint32_t *words_tmp)
{
    if (n == 0)
        return;
    const float *T = an_gauss_table();
    size_t nw = (n + 1) / 2;
    atl_rng_u32_fill_at(seed, stream, block, nw, words_tmp);
    size_t k = 0;
    for (; k + 1 < n; k += 2) {
        uint32_t w = words_tmp[k / 2];
        out[k] = T[w & 0xFFFFu];
        out[k + 1] = T[w >> 16];
    }
    if (k < n)
        out[k] = T[words_tmp[k / 2] & 0xFFFFu];
}
