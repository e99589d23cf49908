/* Shape helpers shared by the dense kernels, and OpenBLAS set-up. */
#include "k_internal.h"

#include <cblas.h>
#include <string.h>

void atl_k_init(int n_threads)
{
    /* One thread by default (TOOLCHAIN.md section 3: two threads lose ~2x on small M). */
    openblas_set_num_threads(n_threads < 1 ? 1 : n_threads);
}

int64_t atl_k_numel(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    return n;
}

void atl_k_bcast_strides(int rank, const int64_t *dims, int out_rank, const int64_t *out_dims,
                         int64_t *st)
{
    assert(rank <= out_rank && out_rank <= K_MAX);
    int64_t s = 1;
    for (int i = out_rank - 1; i >= 0; i--) {
        int j = i - (out_rank - rank);
        if (j < 0 || dims[j] == 1) {
            st[i] = 0;
        } else {
            assert(dims[j] == out_dims[i]);
            st[i] = s;
        }
        if (j >= 0)
            s *= dims[j];
    }
}

void atl_k_walk_coalesce(k_walk *w)
{
    int r = 0;
    /* drop size-1 dims */
    for (int i = 0; i < w->rank; i++) {
        if (w->dims[i] == 1)
            continue;
        w->dims[r] = w->dims[i];
        for (int o = 0; o < w->nops; o++)
            w->st[o][r] = w->st[o][i];
        r++;
    }
    /* merge from the inside out: dim i-1 folds into dim i when every operand steps over dim i
     * exactly once per step of dim i-1 */
    if (r > 1) {
        int out = r - 1; /* index of the current (merged) innermost-so-far dim, compacted later */
        int64_t dims[K_MAX], st[3][K_MAX];
        dims[out] = w->dims[r - 1];
        for (int o = 0; o < w->nops; o++)
            st[o][out] = w->st[o][r - 1];
        for (int i = r - 2; i >= 0; i--) {
            bool ok = true;
            for (int o = 0; o < w->nops; o++)
                ok = ok && w->st[o][i] == st[o][out] * dims[out];
            if (ok) {
                dims[out] *= w->dims[i];
            } else {
                out--;
                dims[out] = w->dims[i];
                for (int o = 0; o < w->nops; o++)
                    st[o][out] = w->st[o][i];
            }
        }
        r = r - out;
        for (int i = 0; i < r; i++) {
            w->dims[i] = dims[out + i];
            for (int o = 0; o < w->nops; o++)
                w->st[o][i] = st[o][out + i];
        }
    }
    if (r == 0) {
        r = 1;
        w->dims[0] = 1;
        for (int o = 0; o < w->nops; o++)
            w->st[o][0] = 0;
    }
    w->rank = r;
}

void atl_k_reduce_rows_acc(const float *x, int64_t n, int64_t inner, int64_t ld, float *y)
{
    enum { TILE = 512, BLK = 64 };
    float part[TILE], tot[TILE];
    for (int64_t c0 = 0; c0 < inner; c0 += TILE) {
        int64_t w = K_MIN((int64_t)TILE, inner - c0);
        float *restrict t = tot;
        float *restrict p = part;
        memcpy(t, y + c0, sizeof(float) * (size_t)w);
        for (int64_t j0 = 0; j0 < n; j0 += BLK) {
            int64_t jn = K_MIN(j0 + (int64_t)BLK, n);
            const float *restrict r = x + j0 * ld + c0;
            memcpy(p, r, sizeof(float) * (size_t)w);
            for (int64_t j = j0 + 1; j < jn; j++) {
                r = x + j * ld + c0;
                for (int64_t c = 0; c < w; c++)
                    p[c] += r[c];
            }
            for (int64_t c = 0; c < w; c++)
                t[c] += p[c];
        }
        memcpy(y + c0, t, sizeof(float) * (size_t)w);
    }
}
