/* Normalisation kernels: softmax along an axis and layernorm over rows, forward and backward.
 *
 * softmax subtracts the maximum along the axis before exponentiating (no overflow; the largest
 * term is exactly 1, so the sum is >= 1). Layernorm computes the mean and then the biased variance
 * as the mean of squared deviations (two passes over the row, in float with the 16-lane sums of
 * k_internal.h): no cancellation as in E[x^2] - E[x]^2, and rows are short (<= a few hundred), so
 * float accumulation is accurate to a few ulps. When the axis is not innermost (inner > 1), the
 * running max/sum live in stack tiles of K_TILE columns so that every loop is unit-stride. */
#include "k_internal.h"
#include "k_math.h"

#include <math.h>
#include <string.h>

enum { K_TILE = 256 };

/* Rows along the contiguous axis (inner == 1), in blocks of SM_ROWS rows and in phases (row maxima,
 * shift, one long exp loop over the block, row sums, division): the exp loop, the costly part,
 * then runs at full vector width even for the 16-token rows of window attention (1.6x faster
 * than row by row). Each element sees the same operations either way. */
enum { SM_ROWS = 64 };

static void softmax_rows(const float *x, float *y, int64_t outer, int64_t n)
{
    float mx[SM_ROWS], sm[SM_ROWS];
    for (int64_t o0 = 0; o0 < outer; o0 += SM_ROWS) {
        const int64_t ob = K_MIN((int64_t)SM_ROWS, outer - o0);
        const float *xb = x + o0 * n;
        float *yb = y + o0 * n;
        for (int64_t o = 0; o < ob; o++)
            mx[o] = k_max(xb + o * n, n);
        for (int64_t o = 0; o < ob; o++) {
            const float *restrict xr = xb + o * n;
            float *restrict yr = yb + o * n;
            const float m = mx[o];
            for (int64_t j = 0; j < n; j++)
                yr[j] = xr[j] - m;
        }
        float *restrict yy = yb;
        for (int64_t i = 0; i < ob * n; i++)
            yy[i] = k_expf(yy[i]);
        for (int64_t o = 0; o < ob; o++)
            sm[o] = k_sum(yb + o * n, n);
        for (int64_t o = 0; o < ob; o++) {
            float *restrict yr = yb + o * n;
            const float s = sm[o];
            for (int64_t j = 0; j < n; j++)
                yr[j] = yr[j] / s;
        }
    }
}

void atl_k_softmax(const float *x, float *y, int64_t outer, int64_t n, int64_t inner)
{
    if (inner == 1) {
        softmax_rows(x, y, outer, n);
        return;
    }
    float mx[K_TILE], sm[K_TILE];
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t c0 = 0; c0 < inner; c0 += K_TILE) {
            const int64_t w = K_MIN((int64_t)K_TILE, inner - c0);
            const float *xb = x + o * n * inner + c0;
            float *yb = y + o * n * inner + c0;
            float *restrict m = mx, *restrict s = sm;
            memcpy(m, xb, sizeof(float) * (size_t)w);
            for (int64_t j = 1; j < n; j++) {
                const float *restrict xr = xb + j * inner;
                for (int64_t c = 0; c < w; c++)
                    m[c] = xr[c] > m[c] ? xr[c] : m[c];
            }
            memset(s, 0, sizeof(float) * (size_t)w);
            for (int64_t j = 0; j < n; j++) {
                const float *restrict xr = xb + j * inner;
                float *restrict yr = yb + j * inner;
                for (int64_t c = 0; c < w; c++) {
                    yr[c] = k_expf(xr[c] - m[c]);
                    s[c] += yr[c];
                }
            }
            for (int64_t j = 0; j < n; j++) {
                float *restrict yr = yb + j * inner;
                for (int64_t c = 0; c < w; c++)
                    yr[c] = yr[c] / s[c];
            }
        }
    }
}

void atl_k_softmax_bwd(const float *y, const float *dy, float *dx, int64_t outer, int64_t n,
                       int64_t inner)
{
    if (inner == 1) {
        for (int64_t o = 0; o < outer; o++) {
            const float *restrict yr = y + o * n, *restrict gr = dy + o * n;
            float *restrict dr = dx + o * n;
            const float s = k_dot(gr, yr, n);
            for (int64_t j = 0; j < n; j++)
                dr[j] = yr[j] * (gr[j] - s);
        }
        return;
    }
    float sm[K_TILE];
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t c0 = 0; c0 < inner; c0 += K_TILE) {
            const int64_t w = K_MIN((int64_t)K_TILE, inner - c0);
            const int64_t base = o * n * inner + c0;
            float *restrict s = sm;
            memset(s, 0, sizeof(float) * (size_t)w);
            for (int64_t j = 0; j < n; j++) {
                const float *restrict yr = y + base + j * inner, *restrict gr = dy + base + j * inner;
                for (int64_t c = 0; c < w; c++)
                    s[c] += gr[c] * yr[c];
            }
            for (int64_t j = 0; j < n; j++) {
                const float *restrict yr = y + base + j * inner, *restrict gr = dy + base + j * inner;
                float *restrict dr = dx + base + j * inner;
                for (int64_t c = 0; c < w; c++)
                    dr[c] = yr[c] * (gr[c] - s[c]);
            }
        }
    }
}

/* mean and 1/sqrt(biased var + eps) of one row */
static inline void ln_stats(const float *restrict x, int64_t cols, float eps, float *mean,
                            float *rstd)
{
    const float fc = (float)cols;
    const float mu = k_sum(x, cols) / fc;
    const float var = k_sumsq_dev(x, mu, cols) / fc;
    *mean = mu;
    *rstd = 1.0f / sqrtf(var + eps);
}

void atl_k_layernorm(const float *x, const float *w, const float *b, float *y, int64_t rows,
                     int64_t cols, float eps)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * cols;
        float *restrict yr = y + r * cols;
        float mu, rs;
        ln_stats(xr, cols, eps, &mu, &rs);
        if (w && b) {
            const float *restrict wr = w, *restrict br = b;
            for (int64_t c = 0; c < cols; c++)
                yr[c] = (xr[c] - mu) * rs * wr[c] + br[c];
        } else if (w) {
            const float *restrict wr = w;
            for (int64_t c = 0; c < cols; c++)
                yr[c] = (xr[c] - mu) * rs * wr[c];
        } else if (b) {
            const float *restrict br = b;
            for (int64_t c = 0; c < cols; c++)
                yr[c] = (xr[c] - mu) * rs + br[c];
        } else {
            for (int64_t c = 0; c < cols; c++)
                yr[c] = (xr[c] - mu) * rs;
        }
    }
}

/* With g = dy * w and xhat = (x - mean) * rstd:
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)). */
void atl_k_layernorm_bwd_x(const float *x, const float *w, const float *dy, float *dx,
                           int64_t rows, int64_t cols, float eps)
{
    const float fc = (float)cols;
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * cols, *restrict gr = dy + r * cols;
        float *restrict dr = dx + r * cols;
        float mu, rs;
        ln_stats(xr, cols, eps, &mu, &rs);
        if (w) {
            const float *restrict wr = w;
            for (int64_t c = 0; c < cols; c++)
                dr[c] = gr[c] * wr[c];
        } else {
            memcpy(dr, gr, sizeof(float) * (size_t)cols);
        }
        /* two single-accumulator passes: GCC keeps one 16-lane accumulator in registers but
         * spills two (measured 6x slower) */
        const float mg = k_sum(dr, cols) / fc;
        const float mgx = k_dot_dev(dr, xr, mu, cols) * rs / fc;
        for (int64_t c = 0; c < cols; c++)
            dr[c] = rs * (dr[c] - mg - (xr[c] - mu) * rs * mgx);
    }
}

void atl_k_layernorm_bwd_w(const float *x, const float *dy, float *dw, int64_t rows, int64_t cols,
                           float eps)
{
    /* Rows in blocks of BLK (stats once per row), columns in tiles: each block's partial sum is
     * added to dw, as in atl_k_reduce_rows_acc. */
    enum { BLK = 64 };
    float mean[BLK], rstd[BLK], part[K_TILE];
    memset(dw, 0, sizeof(float) * (size_t)cols);
    for (int64_t r0 = 0; r0 < rows; r0 += BLK) {
        const int64_t rn = K_MIN((int64_t)BLK, rows - r0);
        for (int64_t r = 0; r < rn; r++)
            ln_stats(x + (r0 + r) * cols, cols, eps, &mean[r], &rstd[r]);
        for (int64_t c0 = 0; c0 < cols; c0 += K_TILE) {
            const int64_t w = K_MIN((int64_t)K_TILE, cols - c0);
            float *restrict p = part;
            memset(p, 0, sizeof(float) * (size_t)w);
            for (int64_t r = 0; r < rn; r++) {
                const float *restrict xr = x + (r0 + r) * cols + c0;
                const float *restrict gr = dy + (r0 + r) * cols + c0;
                const float mu = mean[r], rs = rstd[r];
                for (int64_t c = 0; c < w; c++)
                    p[c] += gr[c] * ((xr[c] - mu) * rs);
            }
            float *restrict d = dw + c0;
            for (int64_t c = 0; c < w; c++)
                d[c] += p[c];
        }
    }
}
