/* Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
 * The constants are the published ones; the code is written from the algorithm description. */
#include "atl/rng.h"

#include <math.h>

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

uint32_t atl_rng_u32_at(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint32_t w[4];
    block_at(seed, stream, index / 4u, w);
    return w[index % 4u];
}

void atl_rng_u32_fill_at(uint64_t seed, uint64_t stream, uint64_t block, size_t n, uint32_t *out)
{
    size_t k = 0;
    uint32_t w[4];
    for (; k + 4 <= n; k += 4, block++) {
        block_at(seed, stream, block, w);
        out[k] = w[0];
        out[k + 1] = w[1];
        out[k + 2] = w[2];
        out[k + 3] = w[3];
    }
    if (k < n) {
        block_at(seed, stream, block, w);
        for (size_t j = 0; k < n; k++, j++)
            out[k] = w[j];
    }
}

void atl_rng_uniform_fill_at(uint64_t seed, uint64_t stream, uint64_t block, size_t n, float *out)
{
    size_t k = 0;
    uint32_t w[4];
    for (; k + 4 <= n; k += 4, block++) {
        block_at(seed, stream, block, w);
        for (int j = 0; j < 4; j++)
            out[k + j] = atl_u32_to_unit(w[j]);
    }
    if (k < n) {
        block_at(seed, stream, block, w);
        for (size_t j = 0; k < n; k++, j++)
            out[k] = atl_u32_to_unit(w[j]);
    }
}

/* Box-Muller on one pair of words. */
static inline void box_muller(uint32_t a, uint32_t b, float *z0, float *z1)
{
    const float two_pi = 6.283185307179586f;
    float u1 = atl_u32_to_unit_open0(a);
    float u2 = atl_u32_to_unit(b);
    float r = sqrtf(-2.0f * logf(u1));
    float t = two_pi * u2;
    *z0 = r * cosf(t);
    *z1 = r * sinf(t);
}

void atl_rng_normal_fill_at(uint64_t seed, uint64_t stream, uint64_t block, size_t n, float *out)
{
    size_t k = 0;
    uint32_t w[4];
    float z[4];
    for (; k + 4 <= n; k += 4, block++) {
        block_at(seed, stream, block, w);
        box_muller(w[0], w[1], &out[k], &out[k + 1]);
        box_muller(w[2], w[3], &out[k + 2], &out[k + 3]);
    }
    if (k < n) {
        block_at(seed, stream, block, w);
        box_muller(w[0], w[1], &z[0], &z[1]);
        box_muller(w[2], w[3], &z[2], &z[3]);
        for (size_t j = 0; k < n; k++, j++)
            out[k] = z[j];
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
    size_t k = 0;
    uint32_t w[4];
    for (; k < n; k += 4) {
        block_at(s->seed, s->stream, s->block++, w);
        for (size_t j = 0; j < 4 && k + j < n; j++)
            out[k + j] = (p >= 1.0f) ? 1u : (uint8_t)(w[j] < t);
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
