/* Reductions and broadcasts: axis sums and means, broadcast along an axis, and the general pair
 * broadcast_to / sum_to (each other's adjoint).
 *
 * Accuracy: float accumulation in a fixed order. Contiguous sums use 16 interleaved partial sums
 * (k_sum); sums across rows go through atl_k_reduce_rows_acc, which sums blocks of 64 rows before
 * adding them to the total. Both keep the error far below the n * eps of a sequential float sum for
 * the sizes atl sees (thousands of rows), without double buffers. */
#include "k_internal.h"

#include <string.h>

void atl_k_sum_axis(const float *x, float *y, int64_t outer, int64_t n, int64_t inner)
{
    if (inner == 1) {
        for (int64_t o = 0; o < outer; o++)
            y[o] = k_sum(x + o * n, n);
        return;
    }
    memset(y, 0, sizeof(float) * (size_t)(outer * inner));
    for (int64_t o = 0; o < outer; o++)
        atl_k_reduce_rows_acc(x + o * n * inner, n, inner, inner, y + o * inner);
}

void atl_k_mean_axis(const float *x, float *y, int64_t outer, int64_t n, int64_t inner)
{
    atl_k_sum_axis(x, y, outer, n, inner);
    const float fn = (float)n;
    for (int64_t i = 0; i < outer * inner; i++)
        y[i] = y[i] / fn;
}

void atl_k_broadcast_axis(const float *x, float *y, int64_t outer, int64_t n, int64_t inner,
                          float s)
{
    for (int64_t o = 0; o < outer; o++) {
        const float *restrict xr = x + o * inner;
        for (int64_t j = 0; j < n; j++) {
            float *restrict yr = y + (o * n + j) * inner;
            if (s == 1.0f)
                memcpy(yr, xr, sizeof(float) * (size_t)inner);
            else
                for (int64_t c = 0; c < inner; c++)
                    yr[c] = s * xr[c];
        }
    }
}

void atl_k_sum_to(const float *x, int x_rank, const int64_t *x_dims, float *y, int y_rank,
                  const int64_t *y_dims)
{
    /* walk x's index space; y has stride 0 on the reduced dims */
    k_walk w = {.rank = x_rank, .nops = 2};
    for (int i = 0; i < x_rank; i++)
        w.dims[i] = x_dims[i];
    atl_k_bcast_strides(x_rank, x_dims, x_rank, x_dims, w.st[0]);
    atl_k_bcast_strides(y_rank, y_dims, x_rank, x_dims, w.st[1]);
    atl_k_walk_coalesce(&w);
    memset(y, 0, sizeof(float) * (size_t)atl_k_numel(y_rank, y_dims));
    /* After coalescing, kept (y stride != 0) and reduced (y stride 0) dims alternate. */
    const int r = w.rank;
    const int64_t n = w.dims[r - 1];
    int64_t idx[K_MAX] = {0}, off[2] = {0, 0};
    if (w.st[1][r - 1] != 0) {
        /* innermost kept: [..., R, K] -> blocked row sums of K-vectors */
        if (r == 1) {
            memcpy(y, x, sizeof(float) * (size_t)n);
            return;
        }
        k_walk outer = w;
        outer.rank = r - 1; /* odometer over dims 0 .. r-3 */
        const int64_t rows = k_walk_rows(&outer);
        for (int64_t it = 0; it < rows; it++) {
            atl_k_reduce_rows_acc(x + off[0], w.dims[r - 2], n, n, y + off[1]);
            k_walk_next(&outer, idx, off);
        }
    } else {
        /* innermost reduced: contiguous sums added to one y element each */
        const int64_t rows = k_walk_rows(&w);
        for (int64_t it = 0; it < rows; it++) {
            y[off[1]] += k_sum(x + off[0], n);
            k_walk_next(&w, idx, off);
        }
    }
}

void atl_k_broadcast_to(const float *x, int x_rank, const int64_t *x_dims, float *y, int y_rank,
                        const int64_t *y_dims)
{
    k_walk w = {.rank = y_rank, .nops = 2};
    for (int i = 0; i < y_rank; i++)
        w.dims[i] = y_dims[i];
    atl_k_bcast_strides(y_rank, y_dims, y_rank, y_dims, w.st[0]);
    atl_k_bcast_strides(x_rank, x_dims, y_rank, y_dims, w.st[1]);
    atl_k_walk_coalesce(&w);
    const int64_t n = w.dims[w.rank - 1];
    const bool inner_x = w.st[1][w.rank - 1] != 0;
    const int64_t rows = k_walk_rows(&w);
    int64_t idx[K_MAX] = {0}, off[2] = {0, 0};
    for (int64_t it = 0; it < rows; it++) {
        if (inner_x)
            memcpy(y + off[0], x + off[1], sizeof(float) * (size_t)n);
        else
            atl_k_fill(y + off[0], n, x[off[1]]);
        k_walk_next(&w, idx, off);
    }
}
