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

/* 16 blocks whose counters are (lo, hi, stream): on return c[h][j] lane l is word j of block
 * 8h + l. */
static inline void philox16s(const __m256i lo[2], const __m256i hi[2], const __m256i slo[2],
                             const __m256i shi[2], uint64_t seed, __m256i c[2][4])
{
    const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
    __m256i c0[2], c1[2], c2[2], c3[2];
    for (int h = 0; h < 2; h++) {
        c0[h] = lo[h];
        c1[h] = hi[h];
        c2[h] = slo[h];
        c3[h] = shi[h];
    }
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        const __m256i kk0 = _mm256_set1_epi32((int)k0), kk1 = _mm256_set1_epi32((int)k1);
        for (int h = 0; h < 2; h++) {
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
    for (int h = 0; h < 2; h++) {
        c[h][0] = c0[h];
        c[h][1] = c1[h];
        c[h][2] = c2[h];
        c[h][3] = c3[h];
    }
}

/* 16 blocks of one stream. */
static inline void philox16(const __m256i lo[2], const __m256i hi[2], uint64_t seed,
                            uint64_t stream, __m256i c[2][4])
{
    const __m256i sl = _mm256_set1_epi32((int)(uint32_t)stream),
                  sh = _mm256_set1_epi32((int)(uint32_t)(stream >> 32));
    const __m256i slo[2] = {sl, sl}, shi[2] = {sh, sh};
    philox16s(lo, hi, slo, shi, seed, c);
}

/* Counters of the consecutive blocks block .. block + 15. */
static inline void consecutive_ctr(uint64_t block, __m256i lo[2], __m256i hi[2])
{
    for (int h = 0; h < 2; h++) {
        uint32_t l32[8], h32[8];
        for (int l = 0; l < 8; l++) {
            uint64_t b = block + (uint64_t)(8 * h + l);
            l32[l] = (uint32_t)b;
            h32[l] = (uint32_t)(b >> 32);
        }
        lo[h] = _mm256_loadu_si256((const __m256i *)(const void *)l32);
        hi[h] = _mm256_loadu_si256((const __m256i *)(const void *)h32);
    }
}

/* Stores the words of 8 blocks (one register per word, lane = block) in block order: 32 words,
 * out[4l + j] = word j of block l (a 4x8 transpose by unpacks). */
static inline void store_interleaved(const __m256i c[4], uint32_t *out)
{
    __m256i t0 = _mm256_unpacklo_epi32(c[0], c[1]), t1 = _mm256_unpacklo_epi32(c[2], c[3]);
    __m256i t2 = _mm256_unpackhi_epi32(c[0], c[1]), t3 = _mm256_unpackhi_epi32(c[2], c[3]);
    __m256i r0 = _mm256_unpacklo_epi64(t0, t1), r1 = _mm256_unpackhi_epi64(t0, t1);
    __m256i r2 = _mm256_unpacklo_epi64(t2, t3), r3 = _mm256_unpackhi_epi64(t2, t3);
    __m256i *o = (__m256i *)(void *)out;
    _mm256_storeu_si256(o + 0, _mm256_permute2x128_si256(r0, r1, 0x20));
    _mm256_storeu_si256(o + 1, _mm256_permute2x128_si256(r2, r3, 0x20));
    _mm256_storeu_si256(o + 2, _mm256_permute2x128_si256(r0, r1, 0x31));
    _mm256_storeu_si256(o + 3, _mm256_permute2x128_si256(r2, r3, 0x31));
}

static void philox_lanes(uint64_t seed, uint64_t stream, uint64_t block,
                         uint32_t w[4][ATL_RNG_LANES])
{
    __m256i lo[2], hi[2], c[2][4];
    consecutive_ctr(block, lo, hi);
    philox16(lo, hi, seed, stream, c);
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            _mm256_storeu_si256((__m256i *)(void *)&w[j][8 * h], c[h][j]);
}

/* 16 consecutive blocks in block order (64 words). */
static inline void philox_words16(uint64_t seed, uint64_t stream, uint64_t block, uint32_t *out)
{
    __m256i lo[2], hi[2], c[2][4];
    consecutive_ctr(block, lo, hi);
    philox16(lo, hi, seed, stream, c);
    store_interleaved(c[0], out);
    store_interleaved(c[1], out + 32);
}

/* Up to 16 listed blocks in list order (4n words; n <= 16), of one stream or (streams != NULL)
 * each of its own. */
static inline void philox_words_list(uint64_t seed, uint64_t stream, const uint64_t *streams,
                                     const uint64_t *blocks, size_t n, uint32_t *out)
{
    uint32_t l32[16] = {0}, h32[16] = {0}, sl32[16], sh32[16];
    for (size_t l = 0; l < n; l++) {
        l32[l] = (uint32_t)blocks[l];
        h32[l] = (uint32_t)(blocks[l] >> 32);
    }
    for (size_t l = 0; l < 16; l++) {
        const uint64_t st = streams && l < n ? streams[l] : stream;
        sl32[l] = (uint32_t)st;
        sh32[l] = (uint32_t)(st >> 32);
    }
    __m256i lo[2], hi[2], slo[2], shi[2], c[2][4];
    for (int h = 0; h < 2; h++) {
        lo[h] = _mm256_loadu_si256((const __m256i *)(const void *)(l32 + 8 * h));
        hi[h] = _mm256_loadu_si256((const __m256i *)(const void *)(h32 + 8 * h));
        slo[h] = _mm256_loadu_si256((const __m256i *)(const void *)(sl32 + 8 * h));
        shi[h] = _mm256_loadu_si256((const __m256i *)(const void *)(sh32 + 8 * h));
    }
    philox16s(lo, hi, slo, shi, seed, c);
    if (n == 16) {
        store_interleaved(c[0], out);
        store_interleaved(c[1], out + 32);
        return;
    }
    uint32_t tmp[64];
    store_interleaved(c[0], tmp);
    if (n > 8)
        store_interleaved(c[1], tmp + 32);
    memcpy(out, tmp, 4 * n * sizeof(uint32_t));
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

static inline void philox_words16(uint64_t seed, uint64_t stream, uint64_t block, uint32_t *out)
{
    for (int l = 0; l < 16; l++)
        block_at(seed, stream, block + (uint64_t)l, out + 4 * l);
}

static inline void philox_words_list(uint64_t seed, uint64_t stream, const uint64_t *streams,
                                     const uint64_t *blocks, size_t n, uint32_t *out)
{
    for (size_t l = 0; l < n; l++)
        block_at(seed, streams ? streams[l] : stream, blocks[l], out + 4 * l);
}
#endif

void atl_rng_u32_blocks_at(uint64_t seed, uint64_t stream, const uint64_t *blocks, size_t n,
                           uint32_t *out)
{
    for (size_t k = 0; k < n; k += 16)
        philox_words_list(seed, stream, NULL, blocks + k, n - k < 16 ? n - k : 16, out + 4 * k);
}

void atl_rng_u32_blocks_streams_at(uint64_t seed, const uint64_t *streams,
                                   const uint64_t *blocks, size_t n, uint32_t *out)
{
    for (size_t k = 0; k < n; k += 16)
        philox_words_list(seed, 0, streams + k, blocks + k, n - k < 16 ? n - k : 16,
                          out + 4 * k);
}

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
    for (; k + 64 <= n; k += 64, block += 16)
        philox_words16(seed, stream, block, out + k);
    if (k >= n)
        return;
    size_t nb = (n - k + 3) / 4;
    if (nb >= 3) {
        /* a short tail: 16 blocks in SIMD beat 3 or more one at a time */
        uint32_t tmp[64];
        philox_words16(seed, stream, block, tmp);
        memcpy(out + k, tmp, (n - k) * sizeof(uint32_t));
        return;
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
    /* words in chunks of 16 blocks (vectorised), then the exact conversion */
    uint32_t w[64];
    for (size_t k = 0; k < n; k += 64, block += 16) {
        size_t c = n - k < 64 ? n - k : 64;
        atl_rng_u32_fill_at(seed, stream, block, c, w);
        for (size_t j = 0; j < c; j++)
            out[k + j] = atl_u32_to_unit(w[j]);
    }
}

#if defined(__AVX2__)
/* bm_radius and bm_angle on 8 lanes: the same IEEE operations in the same order (no FMA, the
 * integer selects as masks), so every lane equals the scalar code bit for bit. */
static inline __m256 bm_radius8(__m256i a)
{
    const __m256i one = _mm256_set1_epi32(1);
    __m256 n = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_srli_epi32(a, 8), one));
    __m256i bits = _mm256_castps_si256(n);
    __m256i mbits = _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)),
                                    _mm256_set1_epi32(0x3F800000));
    __m256i big = _mm256_cmpgt_epi32(mbits, _mm256_set1_epi32(0x3FB504F3)); /* -1 or 0 */
    __m256 m = _mm256_castsi256_ps(
        _mm256_sub_epi32(mbits, _mm256_and_si256(big, _mm256_set1_epi32(1 << 23))));
    __m256i e = _mm256_sub_epi32(
        _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127)), big);
    __m256 f = _mm256_sub_ps(m, _mm256_set1_ps(1.0f));
    __m256 s = _mm256_div_ps(f, _mm256_add_ps(_mm256_set1_ps(2.0f), f));
    __m256 z = _mm256_mul_ps(s, s);
    __m256 t = _mm256_mul_ps(_mm256_set1_ps(-4.0f), s);
    __m256 poly = _mm256_mul_ps(
        z, _mm256_add_ps(_mm256_set1_ps(0.333333881f),
                         _mm256_mul_ps(z, _mm256_add_ps(_mm256_set1_ps(0.199887798f),
                                                        _mm256_mul_ps(z, _mm256_set1_ps(
                                                                             0.149356792f))))));
    __m256 k = _mm256_cvtepi32_ps(_mm256_sub_epi32(e, _mm256_set1_epi32(24)));
    __m256 lo = _mm256_add_ps(_mm256_mul_ps(k, _mm256_set1_ps(4.24388880e-4f)),
                              _mm256_add_ps(t, _mm256_mul_ps(t, poly)));
    return _mm256_sqrt_ps(_mm256_add_ps(_mm256_mul_ps(k, _mm256_set1_ps(-1.38671875f)), lo));
}

static inline void bm_angle8(__m256i b, __m256 *cs, __m256 *sn)
{
    __m256i j = _mm256_srli_epi32(b, 8);
    __m256i q = _mm256_srli_epi32(j, 22);
    __m256i rem = _mm256_and_si256(j, _mm256_set1_epi32(0x3FFFFF));
    __m256i fold = _mm256_cmpgt_epi32(rem, _mm256_set1_epi32(0x200000)); /* -1 or 0 */
    __m256i r2 = _mm256_blendv_epi8(rem, _mm256_sub_epi32(_mm256_set1_epi32(0x400000), rem), fold);
    __m256 phi = _mm256_mul_ps(_mm256_cvtepi32_ps(r2), _mm256_set1_ps(3.74507028e-7f));
    __m256 x2 = _mm256_mul_ps(phi, phi);
    __m256 sp = _mm256_add_ps(
        phi,
        _mm256_mul_ps(
            _mm256_mul_ps(phi, x2),
            _mm256_add_ps(_mm256_set1_ps(-0.166666546f),
                          _mm256_mul_ps(x2, _mm256_add_ps(_mm256_set1_ps(8.33216077e-3f),
                                                          _mm256_mul_ps(x2, _mm256_set1_ps(
                                                                                -1.95152838e-4f)))))));
    __m256 cp = _mm256_add_ps(
        _mm256_set1_ps(1.0f),
        _mm256_mul_ps(
            x2, _mm256_add_ps(_mm256_set1_ps(-0.499998847f),
                              _mm256_mul_ps(x2, _mm256_add_ps(_mm256_set1_ps(4.16557771e-2f),
                                                              _mm256_mul_ps(x2, _mm256_set1_ps(
                                                                                    -1.35918541e-3f)))))));
    __m256i one = _mm256_set1_epi32(1), two = _mm256_set1_epi32(2);
    /* swap where fold ^ (q & 1): fold is a mask, q & 1 becomes one by negation */
    __m256i swap = _mm256_xor_si256(fold, _mm256_sub_epi32(_mm256_setzero_si256(),
                                                           _mm256_and_si256(q, one)));
    __m256 c = _mm256_blendv_ps(cp, sp, _mm256_castsi256_ps(swap));
    __m256 s = _mm256_blendv_ps(sp, cp, _mm256_castsi256_ps(swap));
    __m256i csign = _mm256_slli_epi32(_mm256_and_si256(_mm256_add_epi32(q, one), two), 30);
    __m256i ssign = _mm256_slli_epi32(_mm256_and_si256(q, two), 30);
    *cs = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(c), csign));
    *sn = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(s), ssign));
}

/* 16 consecutive blocks -> 64 normals in element order. */
static void normal16(uint64_t seed, uint64_t stream, uint64_t block, float *out)
{
    __m256i lo[2], hi[2], c[2][4];
    consecutive_ctr(block, lo, hi);
    philox16(lo, hi, seed, stream, c);
    for (int h = 0; h < 2; h++) {
        __m256 r0 = bm_radius8(c[h][0]), r1 = bm_radius8(c[h][2]);
        __m256 c0, s0, c1, s1;
        bm_angle8(c[h][1], &c0, &s0);
        bm_angle8(c[h][3], &c1, &s1);
        __m256i z[4] = {_mm256_castps_si256(_mm256_mul_ps(r0, c0)),
                        _mm256_castps_si256(_mm256_mul_ps(r0, s0)),
                        _mm256_castps_si256(_mm256_mul_ps(r1, c1)),
                        _mm256_castps_si256(_mm256_mul_ps(r1, s1))};
        store_interleaved(z, (uint32_t *)(void *)(out + 32 * h));
    }
}
#else
/* One group of ATL_RNG_LANES blocks -> 4*ATL_RNG_LANES normals in element order. */
static void normal16(uint64_t seed, uint64_t stream, uint64_t block, float *out)
{
    uint32_t w[4][ATL_RNG_LANES];
    philox_lanes(seed, stream, block, w);
    for (int l = 0; l < ATL_RNG_LANES; l++) {
        box_muller(w[0][l], w[1][l], &out[4 * l], &out[4 * l + 1]);
        box_muller(w[2][l], w[3][l], &out[4 * l + 2], &out[4 * l + 3]);
    }
}
#endif

void atl_rng_normal_fill_at(uint64_t seed, uint64_t stream, uint64_t block, size_t n, float *out)
{
    size_t k = 0;
    for (; k + GROUP_VALUES <= n; k += GROUP_VALUES, block += ATL_RNG_LANES)
        normal16(seed, stream, block, out + k);
    if (k >= n)
        return;
    if ((n - k + 3) / 4 >= 3) {
        /* a short tail: one vector group beats 3 or more blocks one at a time */
        float tmp[GROUP_VALUES];
        normal16(seed, stream, block, tmp);
        memcpy(out + k, tmp, (n - k) * sizeof(float));
        return;
    }
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
