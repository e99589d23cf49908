/* Internal interface of the analog IO code (runtime/analog/io*.c); not installed, not public.
 *
 * The analog MAC kernels compute every output element with one fixed sequence of IEEE
 * operations that depends only on the element's own operands, never on how many vectors or rows
 * are computed together, on the CPU's vector width, or on thread count.  That is what makes an
 * IO call with m vectors bit-identical to m calls with one vector (ANALOG_MODEL.md decision 1:
 * per-vector semantics), which a BLAS sgemm does not give (OpenBLAS picks different kernels, and
 * so different summation orders, for different m).  Definitions:
 *
 *   atl_io_mac_nt:  Y[k*ldy + i] = dot8(W[i, :], X[k, :])  where dot8 keeps 8 partial sums,
 *                   lane l accumulating fmaf(W[i, 8b+l], X[k, 8b+l], acc_l) for b = 0, 1, ...
 *                   (missing tail elements count as +0 * +0), and returns
 *                   ((acc0+acc1)+(acc2+acc3)) + ((acc4+acc5)+(acc6+acc7)).
 *   atl_io_mac_nn:  Z[k*ldz + j] = fmaf chain over i = 0 .. d-1 of D[k, i] * W[i, j], from +0.
 *
 * With AVX2+FMA the kernels use 8-wide registers; without, a scalar loop with fmaf computes the
 * same bits (fma is exactly rounded everywhere). */
#ifndef ATL_ANALOG_IO_INTERNAL_H
#define ATL_ANALOG_IO_INTERNAL_H

#include <stddef.h>

/* Y (m x d, row stride ldy) = X (m x n, row stride ldx) * W^T, W is d x n row-major. */
void atl_io_mac_nt(const float *W, int d, int n, const float *X, size_t ldx, int m, float *Y,
                   size_t ldy);
/* Z (m x n, row stride ldz) = D (m x d, row stride ldd) * W, W is d x n row-major. */
void atl_io_mac_nn(const float *W, int d, int n, const float *D, size_t ldd, int m, float *Z,
                   size_t ldz);

#endif
