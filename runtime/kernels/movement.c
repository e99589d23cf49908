/* Data movement: permute, slice, roll, concat, gather. Everything is reduced to contiguous chunk
 * copies (memcpy) over the fewest dims; only a permute that moves the innermost axis needs
 * element-wise work, done as cache-blocked 2-D transposes. */
#include "k_internal.h"

#include <string.h>

#define K_FBYTES(n) (sizeof(float) * (size_t)(n))

/* Copy of n floats. Chunks of a permute are often short (16 or 48 floats in Swin), where a libc
 * memcpy call costs more than the copy: constant-size pieces are inlined as vector moves. */
static inline void k_copy(float *restrict d, const float *restrict s, int64_t n)
{
    if (n > 256) {
        memcpy(d, s, K_FBYTES(n));
        return;
    }
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        memcpy(d + i, s + i, K_FBYTES(16));
    for (; i + 4 <= n; i += 4)
        memcpy(d + i, s + i, K_FBYTES(4));
    for (; i < n; i++)
        d[i] = s[i];
}

/* ---- permute --------------------------------------------------------------------------------- */

/* dst[i*ld_dst + j] = src[i + j*ld_src] for i < ni, j < nj, in T x T blocks (both sides stay in
 * cache lines within a block). */
static void transpose_2d(const float *restrict src, int64_t ld_src, float *restrict dst,
                         int64_t ld_dst, int64_t ni, int64_t nj)
{
    enum { T = 16 };
    for (int64_t i0 = 0; i0 < ni; i0 += T) {
        const int64_t i1 = K_MIN(i0 + (int64_t)T, ni);
        for (int64_t j0 = 0; j0 < nj; j0 += T) {
            const int64_t j1 = K_MIN(j0 + (int64_t)T, nj);
            for (int64_t i = i0; i < i1; i++)
                for (int64_t j = j0; j < j1; j++)
                    dst[i * ld_dst + j] = src[i + j * ld_src];
        }
    }
}

void atl_k_permute(const float *x, int rank, const int64_t *x_dims, const int64_t *perm, float *y)
{
    assert(rank >= 0 && rank <= K_MAX);
    /* 1. drop size-1 dims (they do not move data) */
    int64_t xd[K_MAX];
    int map[K_MAX], p[K_MAX], r = 0, pr = 0;
    int64_t total = 1;
    for (int i = 0; i < rank; i++) {
        total *= x_dims[i];
        map[i] = x_dims[i] == 1 ? -1 : r;
        if (x_dims[i] != 1)
            xd[r++] = x_dims[i];
    }
    for (int k = 0; k < rank; k++) {
        assert(perm[k] >= 0 && perm[k] < rank);
        if (map[perm[k]] >= 0)
            p[pr++] = map[perm[k]];
    }
    assert(pr == r);
    /* 2. merge input dims i, i+1 that stay neighbours in the output */
    for (bool merged = true; merged;) {
        merged = false;
        for (int k = 0; k + 1 < r; k++) {
            if (p[k + 1] != p[k] + 1)
                continue;
            const int i = p[k];
            xd[i] *= xd[i + 1];
            for (int t = i + 1; t + 1 < r; t++)
                xd[t] = xd[t + 1];
            for (int t = k + 1; t + 1 < r; t++)
                p[t] = p[t + 1];
            r--;
            for (int t = 0; t < r; t++)
                if (p[t] > i)
                    p[t]--;
            merged = true;
            break;
        }
    }
    if (r <= 1) {
        memcpy(y, x, K_FBYTES(total));
        return;
    }
    /* 3. strides: input contiguous over xd; output dim k is input dim p[k] */
    int64_t xs[K_MAX], yd[K_MAX], ys[K_MAX];
    xs[r - 1] = 1;
    for (int i = r - 2; i >= 0; i--)
        xs[i] = xs[i + 1] * xd[i + 1];
    for (int k = 0; k < r; k++)
        yd[k] = xd[p[k]];
    ys[r - 1] = 1;
    for (int k = r - 2; k >= 0; k--)
        ys[k] = ys[k + 1] * yd[k + 1];
    int64_t idx[K_MAX] = {0}, off[2] = {0, 0};
    if (p[r - 1] == r - 1) {
        /* innermost axis stays: copy chunks of yd[r-1] */
        k_walk w = {.rank = r, .nops = 2};
        for (int k = 0; k < r; k++) {
            w.dims[k] = yd[k];
            w.st[0][k] = ys[k];
            w.st[1][k] = xs[p[k]];
        }
        const int64_t rows = k_walk_rows(&w), n = yd[r - 1];
        for (int64_t it = 0; it < rows; it++) {
            k_copy(y + off[0], x + off[1], n);
            k_walk_next(&w, idx, off);
        }
        return;
    }
    /* innermost axis moves: 2-D transposes between output position kin (the input's innermost
     * dim) and the output's innermost (input dim p[r-1]), over all other dims */
    int kin = 0;
    while (p[kin] != r - 1)
        kin++;
    k_walk w = {.rank = 0, .nops = 2};
    for (int k = 0; k < r - 1; k++) {
        if (k == kin)
            continue;
        w.dims[w.rank] = yd[k];
        w.st[0][w.rank] = ys[k];
        w.st[1][w.rank] = xs[p[k]];
        w.rank++;
    }
    /* a trailing dummy dim: the odometer walks dims 0 .. rank-2 */
    w.dims[w.rank] = 1;
    w.st[0][w.rank] = w.st[1][w.rank] = 0;
    w.rank++;
    const int64_t rows = k_walk_rows(&w);
    for (int64_t it = 0; it < rows; it++) {
        transpose_2d(x + off[1], xs[p[r - 1]], y + off[0], ys[kin], yd[kin], yd[r - 1]);
        k_walk_next(&w, idx, off);
    }
}

/* ---- slice ----------------------------------------------------------------------------------- */

static void axis_split(int rank, const int64_t *dims, int axis, int64_t *outer, int64_t *inner)
{
    assert(axis >= 0 && axis < rank);
    *outer = atl_k_numel(axis, dims);
    *inner = atl_k_numel(rank - axis - 1, dims + axis + 1);
}

static int64_t slice_count(int64_t d, int64_t start, int64_t end, int64_t step)
{
    assert(step >= 1 && start >= 0 && start < end && end <= d);
    (void)d;
    return (end - start + step - 1) / step;
}

void atl_k_slice(const float *x, int rank, const int64_t *x_dims, int axis, int64_t start,
                 int64_t end, int64_t step, float *y)
{
    int64_t outer, inner;
    axis_split(rank, x_dims, axis, &outer, &inner);
    const int64_t d = x_dims[axis], cnt = slice_count(d, start, end, step);
    for (int64_t o = 0; o < outer; o++) {
        const float *xo = x + (o * d + start) * inner;
        float *yo = y + o * cnt * inner;
        if (step == 1) {
            memcpy(yo, xo, K_FBYTES(cnt * inner));
        } else if (inner == 1) {
            for (int64_t k = 0; k < cnt; k++)
                yo[k] = xo[k * step];
        } else {
            for (int64_t k = 0; k < cnt; k++)
                memcpy(yo + k * inner, xo + k * step * inner, K_FBYTES(inner));
        }
    }
}

void atl_k_slice_bwd(const float *dy, int rank, const int64_t *x_dims, int axis, int64_t start,
                     int64_t end, int64_t step, float *dx)
{
    int64_t outer, inner;
    axis_split(rank, x_dims, axis, &outer, &inner);
    const int64_t d = x_dims[axis], cnt = slice_count(d, start, end, step);
    if (step == 1) {
        /* write every element once: zeros, the slice, zeros */
        const int64_t tail = d - start - cnt;
        for (int64_t o = 0; o < outer; o++) {
            float *xo = dx + o * d * inner;
            memset(xo, 0, K_FBYTES(start * inner));
            memcpy(xo + start * inner, dy + o * cnt * inner, K_FBYTES(cnt * inner));
            memset(xo + (start + cnt) * inner, 0, K_FBYTES(tail * inner));
        }
        return;
    }
    memset(dx, 0, K_FBYTES(outer * d * inner));
    for (int64_t o = 0; o < outer; o++) {
        float *xo = dx + (o * d + start) * inner;
        const float *yo = dy + o * cnt * inner;
        if (inner == 1) {
            for (int64_t k = 0; k < cnt; k++)
                xo[k * step] = yo[k];
        } else {
            for (int64_t k = 0; k < cnt; k++)
                memcpy(xo + k * step * inner, yo + k * inner, K_FBYTES(inner));
        }
    }
}

/* ---- roll ------------------------------------------------------------------------------------ */

void atl_k_roll(const float *x, int rank, const int64_t *dims, int n_axes, const int64_t *axes,
                const int64_t *shifts, float *y)
{
    /* net shift per axis in [0, d) (repeated axes add up, as in torch.roll) */
    int64_t s[K_MAX] = {0};
    for (int a = 0; a < n_axes; a++) {
        int ax = (int)axes[a];
        if (ax < 0)
            ax += rank;
        assert(ax >= 0 && ax < rank);
        const int64_t d = dims[ax];
        s[ax] = ((s[ax] + shifts[a]) % d + d) % d;
    }
    int last = -1;
    for (int i = 0; i < rank; i++)
        if (s[i] != 0)
            last = i;
    const int64_t total = atl_k_numel(rank, dims);
    if (last < 0) {
        memcpy(y, x, K_FBYTES(total));
        return;
    }
    /* dims after `last` are not shifted: they form contiguous chunks of `inner` elements; the
     * rolled axis `last` becomes two block copies per outer index */
    const int64_t inner = atl_k_numel(rank - last - 1, dims + last + 1);
    const int64_t d = dims[last], sl = s[last];
    int64_t xs[K_MAX];
    xs[last] = inner;
    for (int i = last - 1; i >= 0; i--)
        xs[i] = xs[i + 1] * dims[i + 1];
    const int64_t outer = atl_k_numel(last, dims);
    int64_t idx[K_MAX] = {0};
    for (int64_t o = 0; o < outer; o++) {
        /* output index i on dim k reads input index (i - s_k) mod d_k */
        int64_t src = 0;
        for (int k = 0; k < last; k++) {
            int64_t i = idx[k] - s[k];
            src += (i < 0 ? i + dims[k] : i) * xs[k];
        }
        float *yo = y + o * d * inner;
        const float *xo = x + src;
        /* y[sl:d] = x[0:d-sl], y[0:sl] = x[d-sl:d] */
        memcpy(yo + sl * inner, xo, K_FBYTES((d - sl) * inner));
        memcpy(yo, xo + (d - sl) * inner, K_FBYTES(sl * inner));
        for (int k = last - 1; k >= 0; k--) {
            if (++idx[k] < dims[k])
                break;
            idx[k] = 0;
        }
    }
}

/* ---- concat ---------------------------------------------------------------------------------- */

void atl_k_concat(const float *const *xs, const int64_t *axis_sizes, int n, int rank,
                  const int64_t *y_dims, int axis, float *y)
{
    int64_t outer, inner;
    axis_split(rank, y_dims, axis, &outer, &inner);
#ifndef NDEBUG
    int64_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += axis_sizes[i];
    assert(sum == y_dims[axis]);
#endif
    float *yo = y;
    for (int64_t o = 0; o < outer; o++) {
        for (int i = 0; i < n; i++) {
            const int64_t chunk = axis_sizes[i] * inner;
            memcpy(yo, xs[i] + o * chunk, K_FBYTES(chunk));
            yo += chunk;
        }
    }
}

/* ---- gather ---------------------------------------------------------------------------------- */

void atl_k_gather(const float *table, int64_t rows, int64_t row, const int32_t *idx, int64_t n_idx,
                  float *y)
{
    (void)rows;
    for (int64_t i = 0; i < n_idx; i++) {
        assert(idx[i] >= 0 && idx[i] < rows);
        memcpy(y + i * row, table + (int64_t)idx[i] * row, K_FBYTES(row));
    }
}

void atl_k_gather_bwd(const float *dy, const int32_t *idx, int64_t n_idx, int64_t rows,
                      int64_t row, float *dtable)
{
    memset(dtable, 0, K_FBYTES(rows * row));
    for (int64_t i = 0; i < n_idx; i++) {
        assert(idx[i] >= 0 && idx[i] < rows);
        atl_k_acc(dtable + (int64_t)idx[i] * row, dy + i * row, row);
    }
}
