/* Internal helpers of the dense kernels (runtime/kernels): shape canonicalisation for strided
 * iteration and fixed-order summation primitives. Not part of the public interface.
 *
 * Table of contents
 *   k_shape.c      shape coalescing, odometer iteration, atl_k_init
 *   elementwise.c  fill, broadcasting binary ops, unary ops and their backward
 *   reduce.c       axis sums/means, broadcast_axis, sum_to, broadcast_to
 *   norm.c         softmax, layernorm (forward and backward)
 *   movement.c     permute, slice, roll, concat, gather
 *   blas.c         linear, batched matmul (OpenBLAS)
 *   loss_optim.c   cross entropy, mse, sgd
 *   constants.c    Swin attention mask, relative position index
 */
#ifndef ATL_K_INTERNAL_H
#define ATL_K_INTERNAL_H

#include "atl/kernels.h"

#include <assert.h>
#include <stdint.h>

#define K_MAX ATL_K_MAX_RANK
#define K_MIN(a, b) ((a) < (b) ? (a) : (b))

/* Up to three operands walked over one index space: dims[] and, per operand, an element stride per
 * dim (0 where the operand is broadcast). */
typedef struct k_walk {
    int rank;
    int nops;
    int64_t dims[K_MAX];
    int64_t st[3][K_MAX];
} k_walk;

/* Drop dims of size 1 and merge neighbouring dims that every operand walks contiguously
 * (st[i] == st[i+1] * dims[i+1]). The result has rank >= 1 (a scalar walk is one dim of size 1).
 * Merging never changes the element order an operand sees, so results do not depend on it. */
void atl_k_walk_coalesce(k_walk *w);

/* Right-align `rank`/`dims` of a contiguous operand against an output of rank `out_rank` with dims
 * `out_dims` and write its strides into st[] (0 for missing leading dims and dims of size 1). */
void atl_k_bcast_strides(int rank, const int64_t *dims, int out_rank, const int64_t *out_dims,
                         int64_t *st);

int64_t atl_k_numel(int rank, const int64_t *dims);

/* Odometer over dims[0 .. rank-1) of a walk (the last dim is the caller's inner loop): advance idx
 * and the operand offsets by one step. */
static inline void k_walk_next(const k_walk *w, int64_t *idx, int64_t *off)
{
    for (int d = w->rank - 2; d >= 0; d--) {
        idx[d]++;
        for (int o = 0; o < w->nops; o++)
            off[o] += w->st[o][d];
        if (idx[d] < w->dims[d])
            return;
        for (int o = 0; o < w->nops; o++)
            off[o] -= w->st[o][d] * w->dims[d];
        idx[d] = 0;
    }
}

/* Number of inner rows of a walk (product of all dims but the last). */
static inline int64_t k_walk_rows(const k_walk *w)
{
    int64_t r = 1;
    for (int d = 0; d + 1 < w->rank; d++)
        r *= w->dims[d];
    return r;
}

/* Fixed-order float sums. Sixteen interleaved partial sums (lane l takes elements l, l+16, ...),
 * combined by a fixed tree: vectorisable without reassociation by the compiler, the order depends
 * only on n, and the error grows like n/16 instead of n. */
enum { K_LANES = 16 };

static inline float k_lanes_combine(float *acc)
{
    for (int w = K_LANES / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; l++)
            acc[l] += acc[l + w];
    return acc[0];
}

static inline float k_sum(const float *restrict x, int64_t n)
{
    float acc[K_LANES] = {0};
    int64_t j = 0;
    for (; j + K_LANES <= n; j += K_LANES)
        for (int l = 0; l < K_LANES; l++)
            acc[l] += x[j + l];
    for (int l = 0; j + l < n; l++)
        acc[l] += x[j + l];
    return k_lanes_combine(acc);
}

static inline float k_dot(const float *restrict x, const float *restrict y, int64_t n)
{
    float acc[K_LANES] = {0};
    int64_t j = 0;
    for (; j + K_LANES <= n; j += K_LANES)
        for (int l = 0; l < K_LANES; l++)
            acc[l] += x[j + l] * y[j + l];
    for (int l = 0; j + l < n; l++)
        acc[l] += x[j + l] * y[j + l];
    return k_lanes_combine(acc);
}

/* sum of g * (x - c) */
static inline float k_dot_dev(const float *restrict g, const float *restrict x, float c, int64_t n)
{
    float acc[K_LANES] = {0};
    int64_t j = 0;
    for (; j + K_LANES <= n; j += K_LANES)
        for (int l = 0; l < K_LANES; l++)
            acc[l] += g[j + l] * (x[j + l] - c);
    for (int l = 0; j + l < n; l++)
        acc[l] += g[j + l] * (x[j + l] - c);
    return k_lanes_combine(acc);
}

/* sum of (x - c)^2 */
static inline float k_sumsq_dev(const float *restrict x, float c, int64_t n)
{
    float acc[K_LANES] = {0};
    int64_t j = 0;
    for (; j + K_LANES <= n; j += K_LANES)
        for (int l = 0; l < K_LANES; l++) {
            float d = x[j + l] - c;
            acc[l] += d * d;
        }
    for (int l = 0; j + l < n; l++) {
        float d = x[j + l] - c;
        acc[l] += d * d;
    }
    return k_lanes_combine(acc);
}

/* max over n >= 1 elements (lane-wise like k_sum; max is exact, so only NaN handling depends on
 * the order: a NaN is ignored unless it is x[0]; callers propagate NaN through exp anyway). */
static inline float k_max(const float *restrict x, int64_t n)
{
    float acc[K_LANES];
    for (int l = 0; l < K_LANES; l++)
        acc[l] = x[0];
    int64_t j = 0;
    for (; j + K_LANES <= n; j += K_LANES)
        for (int l = 0; l < K_LANES; l++)
            acc[l] = x[j + l] > acc[l] ? x[j + l] : acc[l];
    for (int l = 0; j + l < n; l++)
        acc[l] = x[j + l] > acc[l] ? x[j + l] : acc[l];
    for (int w = K_LANES / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; l++)
            acc[l] = acc[l + w] > acc[l] ? acc[l + w] : acc[l];
    return acc[0];
}

/* y[0:inner] += sum_{j<n} x[j*ld + 0:inner]. Rows are summed in blocks of K_ROW_BLOCK into a
 * partial that is then added to the running total, so the float error grows like
 * n/K_ROW_BLOCK + K_ROW_BLOCK rather than n (this is the bias gradient of a linear layer: n is
 * the number of tokens, thousands). The order depends only on n and inner. */
void atl_k_reduce_rows_acc(const float *x, int64_t n, int64_t inner, int64_t ld, float *y);

#endif
