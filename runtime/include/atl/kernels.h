/* atl dense kernels: forward and backward of every op of the IR's op table, as plain C functions
 * with explicit shapes (no IR types here). The reference interpreter and the JIT call them.
 *
 * Conventions
 *  - All tensors are dense, row-major (C order), float32 unless the name says i32.
 *  - Shapes are passed as (rank, dims) or as the minimal (outer, n, inner) split that the op
 *    needs; "axis" reductions are expressed as outer x n x inner with the reduced axis of length n.
 *  - Outputs never alias inputs unless a comment says so. Outputs are fully overwritten (no
 *    accumulation) unless the name ends in _acc.
 *  - Single-threaded and deterministic: the same inputs give the same bits on every call (no
 *    data-dependent reduction order). GEMMs go through OpenBLAS cblas_sgemm (pinned to one thread
 *    by atl_k_init).
 *  - Sums are accumulated in float in a fixed order that depends only on the shapes: 16
 *    interleaved partial sums along contiguous rows, blocks of 64 rows across rows (error ~
 *    (n/16) eps resp. (64 + n/64) eps instead of n eps). Batch means of the losses use double.
 *  - Rank 0 (a scalar: rank 0, one element) is accepted wherever (rank, dims) is passed.
 */
#ifndef ATL_KERNELS_H
#define ATL_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATL_K_MAX_RANK 8

/* Pin OpenBLAS to n threads (atl's default is 1; n < 1 means 1). OpenBLAS's sgemm bits depend on
 * its thread count (measured: 300x48x144 differs between 1 and 2 threads), so results are
 * reproducible only for a fixed count; keep 1 for runs that must match each other. */
void atl_k_init(int n_threads);

/* ---- constants --------------------------------------------------------------------------- */
void atl_k_fill(float *y, int64_t n, float value);
/* Swin's shifted-window attention mask for an h x w token grid split into win x win windows and
 * cyclically shifted by `shift` (0 < shift < win): out[nw, win*win, win*win] with 0 where two
 * tokens of a window come from the same region and -100 where they do not. The regions are the
 * three slices [0, h-win), [h-win, h-shift), [h-shift, h) per axis, labelled row-major; windows
 * are taken in row-major order (nw = (h/win) * (w/win); h and w are multiples of win). shift == 0
 * gives all zeros. */
void atl_k_attn_mask(int64_t h, int64_t w, int64_t win, int64_t shift, float *out);
/* Relative position index of a win x win window: out[i*N + j] (N = win*win) is
 * (dy + win-1) * (2*win-1) + (dx + win-1) with (dy, dx) = pos(i) - pos(j), pos(k) = (k/win, k%win). */
void atl_k_rel_pos_index(int64_t win, int32_t *out);

/* ---- elementwise ----------------------------------------------------------------------------- */
typedef enum atl_k_binop { ATL_K_ADD, ATL_K_SUB, ATL_K_MUL, ATL_K_DIV } atl_k_binop;
/* y = a (op) b with numpy broadcasting: a and b have their own shapes (right-aligned against the
 * output shape of the given rank; missing leading dims and dims of size 1 broadcast). */
void atl_k_binary(atl_k_binop op, const float *a, int a_rank, const int64_t *a_dims,
                  const float *b, int b_rank, const int64_t *b_dims, float *y, int y_rank,
                  const int64_t *y_dims);
void atl_k_scale(const float *x, float *y, int64_t n, float s);      /* y = s x */
void atl_k_add_scalar(const float *x, float *y, int64_t n, float s); /* y = x + s */
void atl_k_neg(const float *x, float *y, int64_t n);
/* gelu with erf: y = x/2 (1 + erf(x/sqrt 2)) = x Phi(x) (computed without the cancellation of
 * 1 + erf for x < 0) */
void atl_k_gelu(const float *x, float *y, int64_t n);
void atl_k_gelu_bwd(const float *x, const float *dy, float *dx, int64_t n);
void atl_k_relu(const float *x, float *y, int64_t n); /* NaN stays NaN; dx = 0 at x == 0 */
void atl_k_relu_bwd(const float *x, const float *dy, float *dx, int64_t n);
void atl_k_tanh(const float *x, float *y, int64_t n);
void atl_k_tanh_bwd(const float *y, const float *dy, float *dx, int64_t n); /* uses the output */
void atl_k_sigmoid(const float *x, float *y, int64_t n);
void atl_k_sigmoid_bwd(const float *y, const float *dy, float *dx, int64_t n);
void atl_k_exp(const float *x, float *y, int64_t n);
/* y += x (n elements) */
void atl_k_acc(float *y, const float *x, int64_t n);
/* exp, tanh, sigmoid and gelu are atl's own vectorisable float functions (runtime/kernels/
 * k_math.h; within ~1 ulp for exp/tanh and ~5 ulp for gelu of the exact value), not libm's. Their
 * scalar forms give the same bits as the array kernels, element for element, so generated code
 * that calls them reproduces the interpreter exactly. */
float atl_k_expf(float x);
float atl_k_tanhf(float x);
float atl_k_sigmoidf(float x);
float atl_k_geluf(float x);
float atl_k_gelu_gradf(float x); /* d gelu / dx */

/* ---- reductions and broadcasts ---------------------------------------------------------------- */
/* x viewed as [outer, n, inner]: y[outer, inner] = sum (or mean) over n */
void atl_k_sum_axis(const float *x, float *y, int64_t outer, int64_t n, int64_t inner);
void atl_k_mean_axis(const float *x, float *y, int64_t outer, int64_t n, int64_t inner);
/* y[outer, n, inner] = x[outer, inner] (times s) */
void atl_k_broadcast_axis(const float *x, float *y, int64_t outer, int64_t n, int64_t inner,
                          float s);
/* Reduce x (shape x_dims) to y (shape y_dims, same rank after left-padding y with 1s) by summing
 * over every axis where y has size 1 and x does not: the adjoint of broadcasting. */
void atl_k_sum_to(const float *x, int x_rank, const int64_t *x_dims, float *y, int y_rank,
                  const int64_t *y_dims);
/* The forward broadcast: y (y_dims) = x (x_dims) broadcast. */
void atl_k_broadcast_to(const float *x, int x_rank, const int64_t *x_dims, float *y, int y_rank,
                        const int64_t *y_dims);

/* ---- normalisation ----------------------------------------------------------------------------- */
/* softmax over the middle axis of x viewed as [outer, n, inner]; max-subtracted */
void atl_k_softmax(const float *x, float *y, int64_t outer, int64_t n, int64_t inner);
/* dx = y * (dy - sum(dy * y)) along the axis */
void atl_k_softmax_bwd(const float *y, const float *dy, float *dx, int64_t outer, int64_t n,
                       int64_t inner);
/* layernorm over the last axis of x [rows, cols]; w, b may be NULL (no affine).
 * y = (x - mean) / sqrt(var + eps) * w + b, with the biased variance. */
void atl_k_layernorm(const float *x, const float *w, const float *b, float *y, int64_t rows,
                     int64_t cols, float eps);
void atl_k_layernorm_bwd_x(const float *x, const float *w, const float *dy, float *dx,
                           int64_t rows, int64_t cols, float eps); /* w may be NULL */
/* dw[cols] = sum_rows dy * xhat */
void atl_k_layernorm_bwd_w(const float *x, const float *dy, float *dw, int64_t rows, int64_t cols,
                           float eps);

/* ---- data movement --------------------------------------------------------------------------- */
/* y = permute(x): y.dims[i] = x.dims[perm[i]] */
void atl_k_permute(const float *x, int rank, const int64_t *x_dims, const int64_t *perm,
                   float *y);
/* along `axis`: y takes x[start:end:step] (end exclusive). Indices are already normalised by the
 * caller: 0 <= start < end <= x_dims[axis], step >= 1 (as the shape rule requires). */
void atl_k_slice(const float *x, int rank, const int64_t *x_dims, int axis, int64_t start,
                 int64_t end, int64_t step, float *y);
/* adjoint of slice: dx = 0 except dx[start:end:step] = dy */
void atl_k_slice_bwd(const float *dy, int rank, const int64_t *x_dims, int axis, int64_t start,
                     int64_t end, int64_t step, float *dx);
/* cyclic shift: y[..., (i + shift) mod d, ...] = x[..., i, ...] on each listed axis (torch.roll).
 * Shifts may be negative or exceed d; axes may be negative (from the end); an axis listed twice
 * is shifted by the sum. */
void atl_k_roll(const float *x, int rank, const int64_t *dims, int n_axes, const int64_t *axes,
                const int64_t *shifts, float *y);
/* concatenate n inputs along axis; the inputs differ only in that axis's size */
void atl_k_concat(const float *const *xs, const int64_t *axis_sizes, int n, int rank,
                  const int64_t *y_dims, int axis, float *y);
/* y[i, :] = table[idx[i], :] for i < n_idx, row length `row`; indices out of [0, rows) are a
 * caller bug (checked with assert in debug builds) */
void atl_k_gather(const float *table, int64_t rows, int64_t row, const int32_t *idx, int64_t n_idx,
                  float *y);
/* adjoint: dtable = 0; dtable[idx[i], :] += dy[i, :] (in index order: deterministic) */
void atl_k_gather_bwd(const float *dy, const int32_t *idx, int64_t n_idx, int64_t rows,
                      int64_t row, float *dtable);

/* ---- dense algebra (OpenBLAS) ---------------------------------------------------------------- */
/* y[M, N] = x[M, K] w[N, K]^T (+ b[N] if b) */
void atl_k_linear(const float *x, const float *w, const float *b, float *y, int64_t m, int64_t k,
                  int64_t n);
/* dx[M, K] = dy[M, N] w[N, K] */
void atl_k_linear_bwd_x(const float *dy, const float *w, float *dx, int64_t m, int64_t k,
                        int64_t n);
/* dw[N, K] = dy[M, N]^T x[M, K] */
void atl_k_linear_bwd_w(const float *dy, const float *x, float *dw, int64_t m, int64_t k,
                        int64_t n);
/* Batched matmul with broadcast batch dims: a [..., M, K] (or [..., K, M] if ta), b [..., K, N]
 * (or [..., N, K] if tb), y [..., M, N] where the batch dims of y are the broadcast of a's and
 * b's (each given with its own rank; batch ranks may differ). */
void atl_k_matmul(const float *a, int a_rank, const int64_t *a_dims, bool ta, const float *b,
                  int b_rank, const int64_t *b_dims, bool tb, float *y, int y_rank,
                  const int64_t *y_dims);

/* ---- losses ---------------------------------------------------------------------------------- */
/* mean over the batch of -log softmax(logits)[label]; labels in [0, classes). Per row
 * (max - logit[label]) + log sum exp(logits - max): stable for large logits. */
float atl_k_cross_entropy(const float *logits, const int32_t *labels, int64_t batch,
                          int64_t classes);
/* dlogits = (softmax(logits) - onehot(labels)) * dloss / batch */
void atl_k_cross_entropy_bwd(const float *logits, const int32_t *labels, int64_t batch,
                             int64_t classes, float dloss, float *dlogits);
/* mean of (p - t)^2 over n elements */
float atl_k_mse(const float *p, const float *t, int64_t n);
void atl_k_mse_bwd(const float *p, const float *t, int64_t n, float dloss, float *dp);

/* ---- optimiser ------------------------------------------------------------------------------- */
/* SGD with momentum / Nesterov / weight decay (PyTorch's formulation):
 *   g = grad + wd * p;  v = momentum * v + g (v = g on the first step: first_step true);
 *   p -= lr * (nesterov ? g + momentum * v : v)     (momentum == 0: p -= lr * g, v unused) */
void atl_k_sgd(float *p, const float *grad, float *v, int64_t n, float lr, float momentum,
               bool nesterov, float weight_decay, bool first_step); /* v may be NULL if momentum == 0 */

#ifdef __cplusplus
}
#endif
#endif
