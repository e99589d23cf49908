/* atl counter-based random numbers (Philox-4x32-10).
 *
 * Every random draw in atl goes through this generator, keyed by
 *   key     = experiment seed (64 bit)
 *   counter = (block index: 64 bit, stream: 64 bit)
 * so that a draw depends only on (seed, stream, index) and never on call order, thread count or
 * how work is split.  A stream is a 64-bit id chosen by whoever owns the draws (the compiler
 * assigns stable ids per tile and op; see ARCHITECTURE.md section 3, "Determinism").
 *
 * Two levels:
 *  - stateless bulk functions: atl_rng_*_at(seed, stream, index, n, out) fill n values whose
 *    k-th element is a pure function of (seed, stream, index + k);
 *  - atl_rng_stream: a (seed, stream, position) cursor whose fill functions consume whole
 *    4-word blocks, so its state is three integers and serialises exactly.
 */
#ifndef ATL_RNG_H
#define ATL_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One Philox-4x32-10 block: out = philox(counter ctr[0..3], key[0..1]). */
void atl_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* u32 number `index` of (seed, stream): word index%4 of block index/4. */
uint32_t atl_rng_u32_at(uint64_t seed, uint64_t stream, uint64_t index);

/* Conversions used everywhere (exposed so tests can check the exact mapping). */
static inline float atl_u32_to_unit(uint32_t u) /* [0, 1) with 24-bit resolution */
{
    return (float)(u >> 8) * (1.0f / 16777216.0f);
}
static inline float atl_u32_to_unit_open0(uint32_t u) /* (0, 1] */
{
    return (float)((u >> 8) + 1u) * (1.0f / 16777216.0f);
}

/* Stateless fills. Element k of the output comes from word k%4 of block (block + k/4); a normal
 * pair (2m, 2m+1) is one Box-Muller transform of words (2m%4, 2m%4+1) of that block (see
 * atl_rng_normal_from_words). So a fill of n values consumes ceil(n/4) blocks whatever its kind,
 * and a value does not depend on n, on where the fill starts, or on how it is split. */
void atl_rng_u32_fill_at(uint64_t seed, uint64_t stream, uint64_t block, size_t n, uint32_t *out);
void atl_rng_uniform_fill_at(uint64_t seed, uint64_t stream, uint64_t block, size_t n, float *out);
void atl_rng_normal_fill_at(uint64_t seed, uint64_t stream, uint64_t block, size_t n, float *out);

/* The words of arbitrary blocks of one stream: out[4k + j] = word j of block blocks[k], i.e. the
 * value atl_rng_u32_at(seed, stream, 4 * blocks[k] + j) has. Batches many small scattered draws
 * (one row's noise here, another row's there) into the vectorised generator. */
void atl_rng_u32_blocks_at(uint64_t seed, uint64_t stream, const uint64_t *blocks, size_t n,
                           uint32_t *out);
/* The same with a stream per block: out[4k + j] = word j of block blocks[k] of streams[k]. */
void atl_rng_u32_blocks_streams_at(uint64_t seed, const uint64_t *streams,
                                   const uint64_t *blocks, size_t n, uint32_t *out);

/* The normal deviate(s) of one word pair (a, b): returns z0 = sqrt(-2 ln u1) cos(2 pi u2) with
 * u1 = ((a >> 8) + 1) / 2^24 and u2 = (b >> 8) / 2^24, and stores z1 (the sine partner) in
 * *second if it is not NULL. ln, sin and cos are atl's own polynomial approximations (rng.c), so
 * results do not depend on libm. Every normal fill is defined through this function. */
float atl_rng_normal_from_words(uint32_t a, uint32_t b, float *second);

/* Bulk fills evaluate this many consecutive blocks at once (an implementation detail that never
 * changes values; exposed so that callers can size buffers in multiples of 4*ATL_RNG_LANES). */
#define ATL_RNG_LANES 16

/* Number of 4-word blocks a fill of n values consumes. */
static inline uint64_t atl_rng_blocks_u32(size_t n) { return ((uint64_t)n + 3u) / 4u; }
static inline uint64_t atl_rng_blocks_uniform(size_t n) { return ((uint64_t)n + 3u) / 4u; }
static inline uint64_t atl_rng_blocks_normal(size_t n) { return ((uint64_t)n + 3u) / 4u; }

/* A cursor over one stream. Plain data: copy it, save it, compare it. */
typedef struct atl_rng_stream {
    uint64_t seed;
    uint64_t stream;
    uint64_t block; /* next unused 4-word block */
} atl_rng_stream;

static inline atl_rng_stream atl_rng_stream_make(uint64_t seed, uint64_t stream)
{
    atl_rng_stream s = {seed, stream, 0};
    return s;
}

/* Derive a child stream id from a parent id and a small tag (stable, collision-resistant mix). */
uint64_t atl_rng_derive_stream(uint64_t parent, uint64_t tag);

void atl_rng_u32(atl_rng_stream *s, size_t n, uint32_t *out);
void atl_rng_uniform(atl_rng_stream *s, size_t n, float *out);
void atl_rng_normal(atl_rng_stream *s, size_t n, float *out);
/* out[k] = 1 with probability p, else 0. */
void atl_rng_bernoulli(atl_rng_stream *s, float p, size_t n, uint8_t *out);

/* Single draws (each consumes one whole block; use the fills in hot loops). */
float atl_rng_uniform1(atl_rng_stream *s);
float atl_rng_normal1(atl_rng_stream *s);

#ifdef __cplusplus
}
#endif
#endif
