/* Dense algebra through OpenBLAS: linear layers (one sgemm each) and batched matmul with
 * broadcast batch dims (one sgemm per matrix, or fewer when batch dims fold into M).
 *
 * Determinism: OpenBLAS with one thread computes each product in a fixed order for given shapes
 * (the order may depend on M, see runtime/analog/io_mac.c, but the same call gives the same
 * bits). atl_k_init pins the thread count. */
#include "k_internal.h"

#include <cblas.h>
#include <limits.h>

static int blas_int(int64_t v)
{
    assert(v >= 0 && v <= INT_MAX);
    return (int)v;
}

void atl_k_linear(const float *x, const float *w, const float *b, float *y, int64_t m, int64_t k,
                  int64_t n)
{
    float beta = 0.0f;
    if (b) {
        /* y = b, then y += x w^T inside the gemm: no second pass over y */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                y[i * n + j] = b[j];
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(m), blas_int(n), blas_int(k),
                1.0f, x, blas_int(k), w, blas_int(k), beta, y, blas_int(n));
}

void atl_k_linear_bwd_x(const float *dy, const float *w, float *dx, int64_t m, int64_t k,
                        int64_t n)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas_int(m), blas_int(k), blas_int(n),
                1.0f, dy, blas_int(n), w, blas_int(k), 0.0f, dx, blas_int(k));
}

void atl_k_linear_bwd_w(const float *dy, const float *x, float *dw, int64_t m, int64_t k,
                        int64_t n)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blas_int(n), blas_int(k), blas_int(m),
                1.0f, dy, blas_int(n), x, blas_int(k), 0.0f, dw, blas_int(k));
}

/* Element strides of the batch dims of a [..., R, C] operand right-aligned against nb output
 * batch dims (0 where broadcast). */
static void batch_strides(int rank, const int64_t *dims, int nb, const int64_t *y_dims,
                          int64_t *st)
{
    int64_t s = dims[rank - 2] * dims[rank - 1];
    for (int i = nb - 1; i >= 0; i--) {
        const int j = i - (nb - (rank - 2));
        if (j < 0 || dims[j] == 1) {
            st[i] = 0;
        } else {
            assert(dims[j] == y_dims[i]);
            (void)y_dims;
            st[i] = s;
        }
        if (j >= 0)
            s *= dims[j];
    }
}

void atl_k_matmul(const float *a, int a_rank, const int64_t *a_dims, bool ta, const float *b,
                  int b_rank, const int64_t *b_dims, bool tb, float *y, int y_rank,
                  const int64_t *y_dims)
{
    assert(a_rank >= 2 && b_rank >= 2 && y_rank >= 2 && y_rank <= K_MAX);
    const int nb = y_rank - 2;
    const int64_t m = y_dims[y_rank - 2], n = y_dims[y_rank - 1];
    const int64_t k = ta ? a_dims[a_rank - 2] : a_dims[a_rank - 1];
    assert(m == (ta ? a_dims[a_rank - 1] : a_dims[a_rank - 2]));
    assert(k == (tb ? b_dims[b_rank - 1] : b_dims[b_rank - 2]));
    assert(n == (tb ? b_dims[b_rank - 2] : b_dims[b_rank - 1]));
    k_walk w = {.rank = nb, .nops = 3};
    for (int i = 0; i < nb; i++)
        w.dims[i] = y_dims[i];
    batch_strides(y_rank, y_dims, nb, y_dims, w.st[0]);
    batch_strides(a_rank, a_dims, nb, y_dims, w.st[1]);
    batch_strides(b_rank, b_dims, nb, y_dims, w.st[2]);
    /* Fold trailing batch dims into M where b is broadcast and a's matrices are consecutive
     * (not transposed): y[.., Mf, N] = a[.., Mf, K] b[K, N] is one gemm. */
    int64_t mf = m;
    int keep = nb;
    while (keep > 0 && !ta) {
        const int i = keep - 1;
        if (w.dims[i] != 1 && !(w.st[2][i] == 0 && w.st[1][i] == mf * k))
            break;
        mf *= w.dims[i];
        keep--;
    }
    w.rank = keep;
    atl_k_walk_coalesce(&w); /* drop size-1 dims, merge the rest (rank >= 1 after) */
    /* a trailing dummy dim: the odometer walks dims 0 .. rank-2, i.e. every batch dim */
    w.dims[w.rank] = 1;
    for (int o = 0; o < 3; o++)
        w.st[o][w.rank] = 0;
    w.rank++;
    const int64_t count = k_walk_rows(&w);
    const int lda = blas_int(ta ? m : k), ldb = blas_int(tb ? k : n);
    int64_t idx[K_MAX + 1] = {0}, off[3] = {0, 0, 0};
    for (int64_t it = 0; it < count; it++) {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    blas_int(mf), blas_int(n), blas_int(k), 1.0f, a + off[1], lda, b + off[2],
                    ldb, 0.0f, y + off[0], blas_int(n));
        k_walk_next(&w, idx, off);
    }
}
