/* Elementwise kernels: fill, broadcasting binary ops, unary ops and their backward.
 *
 * Binary ops coalesce the three shapes into the fewest dims (k_walk) and run one of four unit-stride
 * inner loops (vector-vector, vector-scalar, scalar-vector, scalar-scalar) chosen once per row; the
 * op is chosen once per call. exp, tanh, sigmoid and gelu use the vectorisable functions of
 * k_math.h (libm's are scalar calls, 10-50x slower here); their scalar forms are exported so
 * that generated code can reproduce the same bits. */
#include "k_internal.h"
#include "k_math.h"

void atl_k_fill(float *restrict y, int64_t n, float value)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = value;
}

/* One row of n outputs; sa/sb are 1 (operand walks the row) or 0 (operand is broadcast). */
#define K_BIN_ROW(E)                                                                              \
    do {                                                                                          \
        if (sa && sb) {                                                                           \
            for (int64_t i = 0; i < n; i++) {                                                     \
                const float u = a[i], v = b[i];                                                   \
                y[i] = (E);                                                                       \
            }                                                                                     \
        } else if (sa) {                                                                          \
            const float v = b[0];                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                     \
                const float u = a[i];                                                             \
                y[i] = (E);                                                                       \
            }                                                                                     \
        } else if (sb) {                                                                          \
            const float u = a[0];                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                     \
                const float v = b[i];                                                             \
                y[i] = (E);                                                                       \
            }                                                                                     \
        } else {                                                                                  \
            const float u = a[0], v = b[0];                                                       \
            const float r = (E);                                                                  \
            for (int64_t i = 0; i < n; i++)                                                       \
                y[i] = r;                                                                         \
        }                                                                                         \
    } while (0)

static void bin_add(const float *restrict a, int64_t sa, const float *restrict b, int64_t sb,
                    float *restrict y, int64_t n)
{
    K_BIN_ROW(u + v);
}
static void bin_sub(const float *restrict a, int64_t sa, const float *restrict b, int64_t sb,
                    float *restrict y, int64_t n)
{
    K_BIN_ROW(u - v);
}
static void bin_mul(const float *restrict a, int64_t sa, const float *restrict b, int64_t sb,
                    float *restrict y, int64_t n)
{
    K_BIN_ROW(u * v);
}
static void bin_div(const float *restrict a, int64_t sa, const float *restrict b, int64_t sb,
                    float *restrict y, int64_t n)
{
    K_BIN_ROW(u / v);
}

/* The row function is chosen once per call (not per element), so the call below is a direct
 * call per row of the coalesced shape. */
#define K_BIN_WALK(ROWFN)                                                                         \
    do {                                                                                          \
        for (int64_t r = 0; r < rows; r++) {                                                      \
            ROWFN(a + off[1], sa, b + off[2], sb, y + off[0], n);                                 \
            k_walk_next(&w, idx, off);                                                            \
        }                                                                                         \
    } while (0)

void atl_k_binary(atl_k_binop op, const float *a, int a_rank, const int64_t *a_dims,
                  const float *b, int b_rank, const int64_t *b_dims, float *y, int y_rank,
                  const int64_t *y_dims)
{
    k_walk w = {.rank = y_rank, .nops = 3};
    for (int i = 0; i < y_rank; i++)
        w.dims[i] = y_dims[i];
    atl_k_bcast_strides(y_rank, y_dims, y_rank, y_dims, w.st[0]);
    atl_k_bcast_strides(a_rank, a_dims, y_rank, y_dims, w.st[1]);
    atl_k_bcast_strides(b_rank, b_dims, y_rank, y_dims, w.st[2]);
    atl_k_walk_coalesce(&w);
    const int64_t n = w.dims[w.rank - 1];
    const int64_t sa = w.st[1][w.rank - 1], sb = w.st[2][w.rank - 1];
    assert(w.st[0][w.rank - 1] == 1 || n == 1);
    assert(sa == 0 || sa == 1);
    assert(sb == 0 || sb == 1);
    const int64_t rows = k_walk_rows(&w);
    int64_t idx[K_MAX] = {0}, off[3] = {0, 0, 0};
    switch (op) {
    case ATL_K_ADD:
        K_BIN_WALK(bin_add);
        break;
    case ATL_K_SUB:
        K_BIN_WALK(bin_sub);
        break;
    case ATL_K_MUL:
        K_BIN_WALK(bin_mul);
        break;
    case ATL_K_DIV:
        K_BIN_WALK(bin_div);
        break;
    }
}

void atl_k_scale(const float *restrict x, float *restrict y, int64_t n, float s)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = s * x[i];
}

void atl_k_add_scalar(const float *restrict x, float *restrict y, int64_t n, float s)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] + s;
}

void atl_k_neg(const float *restrict x, float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = -x[i];
}

/* Scalar forms: the array kernels below evaluate exactly these per element. */
float atl_k_expf(float x)
{
    return k_expf(x);
}
float atl_k_tanhf(float x)
{
    return k_tanhf(x);
}
float atl_k_sigmoidf(float x)
{
    return k_sigmoidf(x);
}
float atl_k_geluf(float x)
{
    return k_gelu(x);
}
float atl_k_gelu_gradf(float x)
{
    return k_gelu_grad(x);
}

void atl_k_gelu(const float *restrict x, float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = k_gelu(x[i]);
}

void atl_k_gelu_bwd(const float *restrict x, const float *restrict dy, float *restrict dx,
                    int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = dy[i] * k_gelu_grad(x[i]);
}

void atl_k_relu(const float *restrict x, float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i] + 0.0f;
}

/* subgradient 0 at x == 0 (as PyTorch) */
void atl_k_relu_bwd(const float *restrict x, const float *restrict dy, float *restrict dx,
                    int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

void atl_k_tanh(const float *restrict x, float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = k_tanhf(x[i]);
}

void atl_k_tanh_bwd(const float *restrict y, const float *restrict dy, float *restrict dx,
                    int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

void atl_k_sigmoid(const float *restrict x, float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = k_sigmoidf(x[i]);
}

void atl_k_sigmoid_bwd(const float *restrict y, const float *restrict dy, float *restrict dx,
                       int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

void atl_k_exp(const float *restrict x, float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = k_expf(x[i]);
}

void atl_k_acc(float *restrict y, const float *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}
