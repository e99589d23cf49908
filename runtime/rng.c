/* Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
 * The constants are the published ones; the code is written from the algorithm description.
 *
 * Speed: the bulk fills evaluate ATL_RNG_LANES consecutive blocks at once in structure-of-arrays
 * form (one array per counter word), so that the compiler turns each Philox round into vector
 * instructions (the 32x32->64 multiplies become vpmuludq).  Every value is still a pure function
 * of (seed, stream, block, word): the batched code and the one-block code below compute the same
 * IEEE operations in the same order, so a value does not depend on which path produced it.
 *
 * Normal deviates: Box-Muller on words (a, b) of a block,
 *     u1 = ((a >> 8) + 1) / 2^24 in (0, 1],   theta = 2 pi (b >> 8) / 2^24 in [0, 2 pi),
 *     z0 = sqrt(-2 ln u1) cos theta,           z1 = sqrt(-2 ln u1) sin theta,
 * with our own ln/sin/cos (below) instead of libm, so the numbers are identical across libm
 * versions, and the loops vectorise.  Accuracy: ln has a relative error of a few float ulps, sin
 * and cos an absolute error below 2e-7 (the polynomial truncation is < 2e-9); that is far below
 * what any distribution test over 1e6..1e9 draws can resolve (the 24-bit inputs quantise the
 * distribution more coarsely than that). */
#include "atl/rng.h"

#include <math.h>
#include <string.h>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void philox_round(uint32_t c[4], const uint32_t k[2])
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t n0 = hi1 ^ c[1] ^ k[0];
    uint32_t n1 = lo1;
    uint32_t n2 = hi0 ^ c[3] ^ k[1];
    uint32_t n3 = lo0;
    c[0] = n0;
    c[1] = n1;
    c[2] = n2;
    c[3] = n3;
}

void atl_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    uint32_t k[2] = {key[0], key[1]};
    for (int r = 0; r < 10; r++) {
        philox_round(c, k);
        if (r < 9) {
            k[0] += PHILOX_W0;
            k[1] += PHILOX_W1;
        }
    }
    out[0] = c[0];
    out[1] = c[1];
    out[2] = c[2];
    out[3] = c[3];
}

static inline void block_at(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4])
{
    const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                             (uint32_t)(stream >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    atl_philox4x32_10(ctr, key, out);
}

/* Blocks block .. block+ATL_RNG_LANES-1 at once; w[j][l] is word j of block (block + l). */
#if defined(__AVX2__)
/* Eight blocks per register, one register per counter word. The low product words come from
 * vpmulld, the high words from two vpmuludq (even and odd lanes) merged by a blend; 16 blocks in
 * flight measured fastest on Zen 3 (8 leave the round latency exposed, 24/32 spill). */
static inline __m256i mulhi_u32(__m256i a, __m256i m)
{
    __m256i even = _mm256_srli_epi64(_mm256_mul_epu32(a, m), 32);
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    return _mm256_blend_epi32(even, odd, 0xAA);
}

static void philox_lanes(uint64_t seed, uint64_t stream, uint64_t block,
                         uint32_t w[4][ATL_RNG_LANES])
{
    enum { H = ATL_RNG_LANES / 8 };
    const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
    __m256i c0[H], c1[H], c2[H], c3[H];
    for (int h = 0; h < H; h++) {
        uint32_t lo[8], hi[8];
        for (int l = 0; l < 8; l++) {
            uint64_t b = block + (uint64_t)(8 * h + l);
            lo[l] = (uint32_t)b;
            hi[l] = (uint32_t)(b >> 32);
        }
        c0[h] = _mm256_loadu_si256((const __m256i *)(const void *)lo);
        c1[h] = _mm256_loadu_si256((const __m256i *)(const void *)hi);
        c2[h] = _mm256_set1_epi32((int)(uint32_t)stream);
        c3[h] = _mm256_set1_epi32((int)(uint32_t)(stream >> 32));
    }
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        const __m256i kk0 = _mm256_set1_epi32((int)k0), kk1 = _mm256_set1_epi32((int)k1);
        for (int h = 0; h < H; h++) {
            __m256i hi0 = mulhi_u32(c0[h], m0), lo0 = _mm256_mullo_epi32(c0[h], m0);
            __m256i hi1 = mulhi_u32(c2[h], m1), lo1 = _mm256_mullo_epi32(c2[h], m1);
            c0[h] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[h]), kk0);
            c2[h] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[h]), kk1);
            c1[h] = lo1;
            c3[h] = lo0;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (int h = 0; h < H; h++) {
        _mm256_storeu_si256((__m256i *)(void *)&w[0][8 * h], c0[h]);
        _mm256_storeu_si256((__m256i *)(void *)&w[1][8 * h], c1[h]);
        _mm256_storeu_si256((__m256i *)(void *)&w[2][8 * h], c2[h]);
        _mm256_storeu_si256((__m256i *)(void *)&w[3][8 * h], c3[h]);
    }
}
#else
static void philox_lanes(uint64_t seed, uint64_t stream, uint64_t block,
                         uint32_t w[4][ATL_RNG_LANES])
{
    for (int l = 0; l < ATL_RNG_LANES; l++) {
        uint32_t b[4];
        block_at(seed, stream, block + (uint64_t)l, b);
        for (int j = 0; j < 4; j++)
            w[j][l] = b[j];
    }
}
#endif

uint32_t atl_rng_u32_at(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint32_t w[4];
    block_at(seed, stream, index / 4u, w);
    return w[index % 4u];
}

/* ---------------------------------------------------------------------------------------------
 * Box-Muller pieces, written once and used by the batched loops and the one-block path. */

static inline float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* sqrt(-2 ln u1) with u1 = ((a >> 8) + 1) / 2^24.  n = (a >> 8) + 1 is exact in float; write
 * n = 2^e * m with m in [sqrt(1/2), sqrt(2)), then ln u1 = (e - 24) ln 2 + ln m and
 * ln m = 2 atanh(s) = 2s + 2s z P(z), s = (m - 1)/(m + 1), z = s^2, |s| <= 0.1716, P a degree-2
 * minimax fit (relative error < 1e-9). The factor -2 is folded into the constants (exact). */
static inline float bm_radius(uint32_t a)
{
    float n = (float)(int32_t)((a >> 8) + 1u); /* <= 2^24: exact, signed convert */
    uint32_t bits = f32_bits(n);
    uint32_t mbits = (bits & 0x007FFFFFu) | 0x3F800000u; /* m in [1, 2) */
    uint32_t big = mbits > 0x3FB504F3u;                  /* m > sqrt(2): use m/2, e+1 */
    float m = f32_from_bits(mbits - (big << 23));
    int32_t e = (int32_t)(bits >> 23) - 127 + (int32_t)big;
    float f = m - 1.0f;
    float s = f / (2.0f + f);
    float z = s * s;
    float t = -4.0f * s; /* -2 * 2s */
    float poly = z * (0.333333881f + z * (0.199887798f + z * 0.149356792f));
    float k = (float)(e - 24);
    /* -2 ln 2 split so that k * HI is exact for |k| <= 24 (HI has 9 significant bits). */
    float m2ln_u = k * -1.38671875f + (k * 4.24388880e-4f + (t + t * poly));
    return sqrtf(m2ln_u);
}

/* cos and sin of theta = 2 pi j / 2^24 with j = b >> 8: the top two bits of j give the quadrant,
 * the rest an angle in [0, pi/2) that is folded to phi in [0, pi/4] (swapping sin and cos), where
 * minimax polynomials of degree 7 (sin, relative error < 4e-9) and 6 (cos, < 4e-8) suffice. */
static inline void bm_angle(uint32_t b, float *cs, float *sn)
{
    uint32_t j = b >> 8;
    uint32_t q = j >> 22;
    uint32_t rem = j & 0x3FFFFFu;
    uint32_t fold = rem > 0x200000u;
    uint32_t r2 = fold ? 0x400000u - rem : rem;
    float phi = (float)(int32_t)r2 * 3.74507028e-7f; /* (pi/2) / 2^22 */
    float x2 = phi * phi;
    float sp = phi + (phi * x2) * (-0.166666546f + x2 * (8.33216077e-3f + x2 * -1.95152838e-4f));
    float cp = 1.0f + x2 * (-0.499998847f + x2 * (4.16557771e-2f + x2 * -1.35918541e-3f));
    /* theta = q pi/2 + alpha, alpha = fold ? pi/2 - phi : phi. Both the fold and an odd quadrant
     * swap sin and cos; quadrants 1, 2 negate cos and 2, 3 negate sin. Integer selects keep the
     * loop branch-free so that it vectorises. */
    uint32_t swap = 0u - (fold ^ (q & 1u));
    uint32_t spb = f32_bits(sp), cpb = f32_bits(cp);
    uint32_t cb = (spb & swap) | (cpb & ~swap);
    uint32_t sb = (cpb & swap) | (spb & ~swap);
    *cs = f32_from_bits(cb ^ (((q + 1u) & 2u) << 30));
    *sn = f32_from_bits(sb ^ ((q & 2u) << 30));
}

static inline void box_muller(uint32_t a, uint32_t b, float *z0, float *z1)
{
    float r = bm_radius(a);
    float c, s;
    bm_angle(b, &c, &s);
    *z0 = r * c;
    *z1 = r * s;
}

/* ---------------------------------------------------------------------------------------------
 * Fills.  Element k of an n-element fill starting at block B is word k%4 of block B + k/4. Whole
 * groups of ATL_RNG_LANES blocks go through the batched code, the rest through block_at. */

#define GROUP_VALUES (4 * ATL_RNG_LANES)

void atl_rng_u32_fill_at(uint64_t seed, uint64_t stream, uint64_t block, size_t n, uint32_t *out)
{
    size_t k = 0;
    uint32_t w[4][ATL_RNG_LANES];
    for (; k + GROUP_VALUES <= n; k += GROUP_VALUES, block += ATL_RNG_LANES) {
        philox_lanes(seed, stream, block, w);
        for (int l = 0; l < ATL_RNG_LANES; l++)
            for (int j = 0; j < 4; j++)
                out[k + 4 * (size_t)l + (size_t)j] = w[j][l];
    }
    uint32_t b[4];
    for (; k < n; k += 4, block++) {
        block_at(seed, stream, block, b);
        for (size_t j = 0; j < 4 && k + j < n; j++)
            out[k + j] = b[j];
    }
}

void atl_rng_uniform_fill_at(uint64_t seed, uint64_t stream, uint64_t block, size_t n, float *out)
{
    size_t k = 0;
    uint32_t w[4][ATL_RNG_LANES];
    for (; k + GROUP_VALUES <= n; k += GROUP_VALUES, block += ATL_RNG_LANES) {
        philox_lanes(seed, stream, block, w);
        for (int l = 0; l < ATL_RNG_LANES; l++)
            for (int j = 0; j < 4; j++)
                out[k + 4 * (size_t)l + (size_t)j] = atl_u32_to_unit(w[j][l]);
    }
    uint32_t b[4];
    for (; k < n; k += 4, block++) {
        block_at(seed, stream, block, b);
        for (size_t j = 0; j < 4 && k + j < n; j++)
            out[k + j] = atl_u32_to_unit(b[j]);
    }
}

/* One group of ATL_RNG_LANES blocks -> 4*ATL_RNG_LANES normals in element order. */
static void normal_group(uint64_t seed, uint64_t stream, uint64_t block, float *out)
{
    uint32_t w[4][ATL_RNG_LANES];
    float z[4][ATL_RNG_LANES];
    philox_lanes(seed, stream, block, w);
    for (int l = 0; l < ATL_RNG_LANES; l++) {
        float r0 = bm_radius(w[0][l]);
        float r1 = bm_radius(w[2][l]);
        float c0, s0, c1, s1;
        bm_angle(w[1][l], &c0, &s0);
        bm_angle(w[3][l], &c1, &s1);
        z[0][l] = r0 * c0;
        z[1][l] = r0 * s0;
        z[2][l] = r1 * c1;
        z[3][l] = r1 * s1;
    }
    for (int l = 0; l < ATL_RNG_LANES; l++)
        for (int j = 0; j < 4; j++)
            out[4 * l + j] = z[j][l];
}

void atl_rng_normal_fill_at(uint64_t seed, uint64_t stream, uint64_t block, size_t n, float *out)
{
    size_t k = 0;
    for (; k + GROUP_VALUES <= n; k += GROUP_VALUES, block += ATL_RNG_LANES)
        normal_group(seed, stream, block, out + k);
    uint32_t b[4];
    float z[4];
    for (; k < n; k += 4, block++) {
        block_at(seed, stream, block, b);
        box_muller(b[0], b[1], &z[0], &z[1]);
        box_muller(b[2], b[3], &z[2], &z[3]);
        for (size_t j = 0; j < 4 && k + j < n; j++)
            out[k + j] = z[j];
    }
}

/* splitmix64 finaliser: a bijective mix, so distinct (parent, tag) pairs rarely collide. */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

uint64_t atl_rng_derive_stream(uint64_t parent, uint64_t tag)
{
    return mix64(parent ^ mix64(tag + 0x9E3779B97F4A7C15ull));
}

void atl_rng_u32(atl_rng_stream *s, size_t n, uint32_t *out)
{
    atl_rng_u32_fill_at(s->seed, s->stream, s->block, n, out);
    s->block += atl_rng_blocks_u32(n);
}

void atl_rng_uniform(atl_rng_stream *s, size_t n, float *out)
{
    atl_rng_uniform_fill_at(s->seed, s->stream, s->block, n, out);
    s->block += atl_rng_blocks_uniform(n);
}

void atl_rng_normal(atl_rng_stream *s, size_t n, float *out)
{
    atl_rng_normal_fill_at(s->seed, s->stream, s->block, n, out);
    s->block += atl_rng_blocks_normal(n);
}

void atl_rng_bernoulli(atl_rng_stream *s, float p, size_t n, uint8_t *out)
{
    /* Compare in the integer domain: P(u < t) = t / 2^32 exactly. */
    uint32_t t;
    if (!(p > 0.0f))
        t = 0;
    else if (p >= 1.0f)
        t = UINT32_MAX;
    else
        t = (uint32_t)((double)p * 4294967296.0);
    const int all = p >= 1.0f;
    size_t k = 0;
    uint32_t w[4][ATL_RNG_LANES];
    for (; k + GROUP_VALUES <= n; k += GROUP_VALUES, s->block += ATL_RNG_LANES) {
        philox_lanes(s->seed, s->stream, s->block, w);
        for (int l = 0; l < ATL_RNG_LANES; l++)
            for (int j = 0; j < 4; j++)
                out[k + 4 * (size_t)l + (size_t)j] = all ? 1u : (uint8_t)(w[j][l] < t);
    }
    uint32_t b[4];
    for (; k < n; k += 4) {
        block_at(s->seed, s->stream, s->block++, b);
        for (size_t j = 0; j < 4 && k + j < n; j++)
            out[k + j] = all ? 1u : (uint8_t)(b[j] < t);
    }
}

float atl_rng_uniform1(atl_rng_stream *s)
{
    float v;
    atl_rng_uniform(s, 1, &v);
    return v;
}

float atl_rng_normal1(atl_rng_stream *s)
{
    float v;
    atl_rng_normal(s, 1, &v);
    return v;
}

float atl_rng_normal_from_words(uint32_t a, uint32_t b, float *second)
{
    float z0, z1;
    box_muller(a, b, &z0, &z1);
    if (second)
        *second = z1;
    return z0;
}
