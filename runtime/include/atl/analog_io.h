/* Analog MVM with IO non-idealities: ANALOG_MODEL.md section 5.
 *
 * A tile's forward pass computes, for each of m input vectors x (length x_size), the noisy,
 * quantised, bounded product y = f(W x) with W a d_size x x_size row-major matrix of *apparent*
 * conductances; the backward pass does the same with W^T on error vectors d (length d_size).
 * Every vector is processed on its own (noise and bound management act per sample, decision 1),
 * but implementations are free to batch the arithmetic as long as results are bit-identical to
 * the per-vector definition for a given RNG position (atl's implementation guarantees this: the
 * MAC has a fixed per-element summation order, see runtime/analog/io_internal.h).
 */
#ifndef ATL_ANALOG_IO_H
#define ATL_ANALOG_IO_H

#include <stddef.h>
#include <stdint.h>

#include "atl/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum atl_noise_management {
    ATL_NM_NONE = 0,
    ATL_NM_ABS_MAX,
    ATL_NM_MAX,
    ATL_NM_CONSTANT,
    ATL_NM_ABS_MAX_NP_SUM,
    ATL_NM_AVERAGE_ABS_MAX,
} atl_noise_management;

typedef enum atl_bound_management {
    ATL_BM_NONE = 0,
    ATL_BM_ITERATIVE,
    ATL_BM_ITERATIVE_WORST_CASE,
} atl_bound_management;

typedef enum atl_w_noise_type {
    ATL_WNOISE_NONE = 0,
    ATL_WNOISE_ADDITIVE_CONSTANT,
    ATL_WNOISE_PCM_READ,
} atl_w_noise_type;

/* IOParameters (section 5.1). Field names follow the reference; resolutions are given as in the
 * reference (a value > 1 is a number of steps, see section 5.1 "resolution conversion"). */
typedef struct atl_io_params {
    int is_perfect;
    float inp_bound;
    float inp_res;
    int inp_sto_round;
    float inp_noise;
    float inp_asymmetry;
    float out_bound; /* <= 0: unbounded */
    float out_noise;
    float out_noise_std;
    float out_res;
    int out_sto_round;
    float out_scale;
    float out_asymmetry;
    atl_bound_management bound_management;
    atl_noise_management noise_management;
    float w_noise;
    atl_w_noise_type w_noise_type;
    float ir_drop;
    float ir_drop_g_ratio;
    float max_bm_factor;
    float max_bm_res;
    int bm_test_negative_bound;
    float nm_thres;
    float nm_assumed_wmax;
    float nm_decay;
} atl_io_params;

/* The plain IOParameters defaults (section 3.2): 7-bit DAC, 9-bit ADC, out_bound 12,
 * out_noise 0.06, ABS_MAX noise management, iterative bound management. */
atl_io_params atl_io_defaults(void);
/* PresetIOParameters (section 3.2): out_bound 20, out_noise 0.1. */
atl_io_params atl_io_preset_defaults(void);
/* Returns 0 if the parameters are consistent, else -1 and a message in err (e.g. inp_bound != 1
 * with noise management on). */
int atl_io_validate(const atl_io_params *p, char *err, size_t err_len);

/* Per-direction mutable state of an IO channel (AverageAbsMax running value). Zero-initialise.
 * The reference shares one running value between forward and backward (5.3); pass the same state
 * to both calls to get that behaviour.
 * out_noise_values: per-output noise stds sigma_i = |out_noise (1 + out_noise_std xi_i)| (5.1),
 * drawn once at construction with atl_io_draw_out_noise_values and owned by the caller (length =
 * output size of the direction: d_size forward, x_size backward). Used only when
 * out_noise_std > 0; if it is NULL then, out_noise is used for every output. */
typedef struct atl_io_state {
    float aux_nm_value;
    int aux_nm_init;
    const float *out_noise_values;
} atl_io_state;

/* Counters an IO call adds to (may be NULL). */
typedef struct atl_io_counters {
    uint64_t mvm_vectors;     /* vectors processed */
    uint64_t bm_extra_passes; /* additional bound-management passes */
} atl_io_counters;

/* Speed note: the MAC kernels stream W with 32-byte loads; allocate W 64-byte aligned (e.g.
 * aligned_alloc(64, ...)) with x_size a multiple of 16 if possible: a misaligned W costs up to a
 * third of the MAC throughput. Results do not depend on alignment.
 *
 * Forward: y[k*d_size + i] for k < m. x is m x x_size row-major. alpha is the tile's forward
 * scale (1 normally). Bound management as configured (iterative). rng supplies all noise.
 * st may be NULL unless noise_management is AVERAGE_ABS_MAX (then a NULL state starts afresh).
 *
 * Determinism (the RNG position scheme is documented in runtime/analog/io.c): the call reserves
 * atl_io_forward_blocks(p, d_size, x_size, m) blocks of rng, m equal ranges one per vector in
 * order, and advances rng->block by exactly that; results are a pure function of (rng position,
 * inputs, params, state). One call with m vectors is bit-identical to m calls with one vector each
 * on the same cursor, and results do not depend on the CPU's vector width or thread count. */
void atl_io_forward(const atl_io_params *p, atl_io_state *st, const float *W, int d_size,
                    int x_size, const float *x, int m, float alpha, float *y, atl_rng_stream *rng,
                    atl_io_counters *cnt);

/* Backward: z[k*x_size + j] = f(W^T d_k). d is m x d_size. Bound management is never applied
 * (forced off for backward in the reference). */
void atl_io_backward(const atl_io_params *p, atl_io_state *st, const float *W, int d_size,
                     int x_size, const float *d, int m, float alpha, float *z, atl_rng_stream *rng,
                     atl_io_counters *cnt);

/* Transfer read of one column of W (section 5.7): v[i] = read of W[:, col] with the one-hot
 * input e_col, using p with noise management and bound management forced off (input/output
 * noise, quantisation, clipping and out_scale of p still apply; alpha is 1). Consumes
 * atl_io_read_blocks(p, d_size, x_size, 0) blocks. */
void atl_io_read_column(const atl_io_params *p, const float *W, int d_size, int x_size, int col,
                        float *v, atl_rng_stream *rng, atl_io_counters *cnt);
/* Same for one row (transfer_columns = false): v[j] = read of W[row, :] via the backward path.
 * Consumes atl_io_read_blocks(p, d_size, x_size, 1) blocks. */
void atl_io_read_row(const atl_io_params *p, const float *W, int d_size, int x_size, int row,
                     float *v, atl_rng_stream *rng, atl_io_counters *cnt);

/* Effective resolutions (section 5.1): res_in = r(inp_res)*2*inp_bound, res_out likewise. */
float atl_io_res_in(const atl_io_params *p);
float atl_io_res_out(const atl_io_params *p);

/* RNG blocks one call consumes (rng->block advances by exactly this; 0 for is_perfect). They
 * depend only on the parameters and sizes, never on the data. */
uint64_t atl_io_forward_blocks(const atl_io_params *p, int d_size, int x_size, int m);
uint64_t atl_io_backward_blocks(const atl_io_params *p, int d_size, int x_size, int m);
/* For atl_io_read_column (backward = 0) or atl_io_read_row (backward = 1). */
uint64_t atl_io_read_blocks(const atl_io_params *p, int d_size, int x_size, int backward);

/* Largest number of forward passes bound management can take (1 without BM; 5 with the defaults:
 * red = 1, 2, 4, 8, 16 because max_bm_res/res_in = 15.75). */
int atl_io_max_passes(const atl_io_params *p);

/* Draw the per-output noise stds of out_noise_std (see atl_io_state): values[i] =
 * |out_noise (1 + out_noise_std xi_i)| for i < out_size, xi from rng (advances it). */
void atl_io_draw_out_noise_values(const atl_io_params *p, int out_size, float *values,
                                  atl_rng_stream *rng);

#ifdef __cplusplus
}
#endif
#endif
