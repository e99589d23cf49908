/* Analog MAC kernels with a batch-independent result per element (definitions in io_internal.h).
 *
 * Why not cblas_sgemm: OpenBLAS computes row k of an m-row product with a summation order that
 * depends on m (measured: rows of an 8x512x512 product differ in the last bits from the same rows
 * computed alone), so an IO call with m vectors would not equal m calls with one vector, and the
 * bits would also change with the CPU (DYNAMIC_ARCH picks the kernel at run time).  These kernels
 * fix the order per element.  On the shapes of the study (d, n <= 512, m = 8..64) they run at
 * roughly the speed of the single-threaded sgemm (see bench/bench_io.c). */
#include "io_internal.h"

#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define IO_MAC_SIMD 1
#else
#define IO_MAC_SIMD 0
#endif

/* Vectors per outer block: X/D rows of one block stay in L2 while W streams through once. */
enum { MAC_KC = 64 };

#if IO_MAC_SIMD

#define MAC_INLINE static inline __attribute__((always_inline))

/* ((a0+a1)+(a2+a3)) + ((a4+a5)+(a6+a7)) */
MAC_INLINE float hsum1(__m256 a)
{
    __m128 h = _mm_hadd_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_hadd_ps(h, h);
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/* The same tree for four accumulators at once: returns {sum(a), sum(b), sum(c), sum(d)}. */
MAC_INLINE __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* R rows of W (R <= 3) times V vectors (V == 1 or 4). */
MAC_INLINE void nt_tile(const float *W, size_t ldw, int n, const float *X, size_t ldx, float *Y,
                        size_t ldy, const int R, const int V, __m256i tail)
{
    __m256 acc[3][4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++)
            acc[r][v] = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 w[3];
        for (int r = 0; r < R; r++)
            w[r] = _mm256_loadu_ps(W + (size_t)r * ldw + j);
        for (int v = 0; v < V; v++) {
            __m256 x = _mm256_loadu_ps(X + (size_t)v * ldx + j);
            for (int r = 0; r < R; r++)
                acc[r][v] = _mm256_fmadd_ps(w[r], x, acc[r][v]);
        }
    }
    if (j < n) {
        __m256 w[3];
        for (int r = 0; r < R; r++)
            w[r] = _mm256_maskload_ps(W + (size_t)r * ldw + j, tail);
        for (int v = 0; v < V; v++) {
            __m256 x = _mm256_maskload_ps(X + (size_t)v * ldx + j, tail);
            for (int r = 0; r < R; r++)
                acc[r][v] = _mm256_fmadd_ps(w[r], x, acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++) {
        if (V == 4) {
            float s[4];
            _mm_storeu_ps(s, hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
            for (int v = 0; v < 4; v++)
                Y[(size_t)v * ldy + (size_t)r] = s[v];
        } else {
            for (int v = 0; v < V; v++)
                Y[(size_t)v * ldy + (size_t)r] = hsum1(acc[r][v]);
        }
    }
}

void atl_io_mac_nt(const float *W, int d, int n, const float *X, size_t ldx, int m, float *Y,
                   size_t ldy)
{
    const int rem = n % 8;
    const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const size_t ldw = (size_t)n;
    for (int k0 = 0; k0 < m; k0 += MAC_KC) {
        const int k1 = k0 + MAC_KC < m ? k0 + MAC_KC : m;
        int i = 0;
        for (; i + 3 <= d; i += 3) {
            const float *Wi = W + (size_t)i * ldw;
            int k = k0;
            for (; k + 4 <= k1; k += 4)
                nt_tile(Wi, ldw, n, X + (size_t)k * ldx, ldx, Y + (size_t)k * ldy + (size_t)i, ldy,
                        3, 4, tail);
            for (; k < k1; k++)
                nt_tile(Wi, ldw, n, X + (size_t)k * ldx, ldx, Y + (size_t)k * ldy + (size_t)i, ldy,
                        3, 1, tail);
        }
        for (; i < d; i++) {
            const float *Wi = W + (size_t)i * ldw;
            int k = k0;
            for (; k + 4 <= k1; k += 4)
                nt_tile(Wi, ldw, n, X + (size_t)k * ldx, ldx, Y + (size_t)k * ldy + (size_t)i, ldy,
                        1, 4, tail);
            for (; k < k1; k++)
                nt_tile(Wi, ldw, n, X + (size_t)k * ldx, ldx, Y + (size_t)k * ldy + (size_t)i, ldy,
                        1, 1, tail);
        }
    }
}

/* Z rows (V of them, V <= 2) += D[., i..i+R-1] * W[i..i+R-1, :], one fma per row in row order. */
MAC_INLINE void nn_tile(const float *W, size_t ldw, int n, const float *D, size_t ldd, float *Z,
                        size_t ldz, const int R, const int V)
{
    __m256 a[2][4];
    float as[2][4];
    for (int v = 0; v < V; v++)
        for (int r = 0; r < R; r++) {
            as[v][r] = D[(size_t)v * ldd + (size_t)r];
            a[v][r] = _mm256_set1_ps(as[v][r]);
        }
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 w[4];
        for (int r = 0; r < R; r++)
            w[r] = _mm256_loadu_ps(W + (size_t)r * ldw + j);
        for (int v = 0; v < V; v++) {
            float *z = Z + (size_t)v * ldz + j;
            __m256 s = _mm256_loadu_ps(z);
            for (int r = 0; r < R; r++)
                s = _mm256_fmadd_ps(a[v][r], w[r], s);
            _mm256_storeu_ps(z, s);
        }
    }
    for (; j < n; j++)
        for (int v = 0; v < V; v++) {
            float s = Z[(size_t)v * ldz + (size_t)j];
            for (int r = 0; r < R; r++)
                s = fmaf(as[v][r], W[(size_t)r * ldw + (size_t)j], s);
            Z[(size_t)v * ldz + (size_t)j] = s;
        }
}

void atl_io_mac_nn(const float *W, int d, int n, const float *D, size_t ldd, int m, float *Z,
                   size_t ldz)
{
    const size_t ldw = (size_t)n;
    for (int k0 = 0; k0 < m; k0 += MAC_KC) {
        const int k1 = k0 + MAC_KC < m ? k0 + MAC_KC : m;
        for (int k = k0; k < k1; k++)
            memset(Z + (size_t)k * ldz, 0, sizeof(float) * (size_t)n);
        int i = 0;
        for (; i + 4 <= d; i += 4) {
            const float *Wi = W + (size_t)i * ldw;
            int k = k0;
            for (; k + 2 <= k1; k += 2)
                nn_tile(Wi, ldw, n, D + (size_t)k * ldd + (size_t)i, ldd, Z + (size_t)k * ldz, ldz,
                        4, 2);
            for (; k < k1; k++)
                nn_tile(Wi, ldw, n, D + (size_t)k * ldd + (size_t)i, ldd, Z + (size_t)k * ldz, ldz,
                        4, 1);
        }
        for (; i < d; i++) {
            const float *Wi = W + (size_t)i * ldw;
            int k = k0;
            for (; k + 2 <= k1; k += 2)
                nn_tile(Wi, ldw, n, D + (size_t)k * ldd + (size_t)i, ldd, Z + (size_t)k * ldz, ldz,
                        1, 2);
            for (; k < k1; k++)
                nn_tile(Wi, ldw, n, D + (size_t)k * ldd + (size_t)i, ldd, Z + (size_t)k * ldz, ldz,
                        1, 1);
        }
    }
}

#else /* portable fallback: the same definitions with scalar fmaf */

void atl_io_mac_nt(const float *W, int d, int n, const float *X, size_t ldx, int m, float *Y,
                   size_t ldy)
{
    for (int k = 0; k < m; k++) {
        const float *x = X + (size_t)k * ldx;
        for (int i = 0; i < d; i++) {
            const float *w = W + (size_t)i * (size_t)n;
            float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int b = 0; 8 * b < n; b++)
                for (int l = 0; l < 8; l++) {
                    int j = 8 * b + l;
                    acc[l] = fmaf(j < n ? w[j] : 0.0f, j < n ? x[j] : 0.0f, acc[l]);
                }
            Y[(size_t)k * ldy + (size_t)i] =
                ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        }
    }
}

void atl_io_mac_nn(const float *W, int d, int n, const float *D, size_t ldd, int m, float *Z,
                   size_t ldz)
{
    for (int k = 0; k < m; k++) {
        float *z = Z + (size_t)k * ldz;
        memset(z, 0, sizeof(float) * (size_t)n);
        for (int i = 0; i < d; i++) {
            const float a = D[(size_t)k * ldd + (size_t)i];
            const float *w = W + (size_t)i * (size_t)n;
            for (int j = 0; j < n; j++)
                z[j] = fmaf(a, w[j], z[j]);
        }
    }
}

#endif
