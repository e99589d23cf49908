/* atl analog-device runtime: devices, presets, pulsed update, training algorithms, tiles.
 *
 * The numerical contract is ../shared/docs/ANALOG_MODEL.md ("§n" below refers to its sections).
 * A tile simulates one resistive crossbar (d_size rows = outputs, x_size columns = inputs,
 * row-major) trained by one of the algorithms of §4 (analog SGD, mixed precision, Tiki-Taka v1,
 * buffered TTv2, chopped TTv2 = c-TTv2, AGAD). Forward and backward passes go through the IO
 * model of atl/analog_io.h (§5).
 *
 * Determinism: every random draw comes from atl/rng.h keyed by (seed, stream derived from the
 * tile's stream id, what the draw is for, the tile's update counter, row/element), so a run is
 * bit-identical for a given seed whatever the number of threads, and a saved tile resumes
 * bit-exactly (atl_tile_save / atl_tile_load).
 *
 * Errors: functions that can fail return 0 on success and -1 on failure, writing a one-line
 * message into (err, err_len) when err is not NULL.
 */
#ifndef ATL_ANALOG_H
#define ATL_ANALOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "atl/analog_io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Device models (§2)
 */
typedef enum atl_dev_type {
    ATL_DEV_CONSTANT_STEP = 0, /* §2.6 */
    ATL_DEV_LINEAR_STEP,       /* §2.7 */
    ATL_DEV_SOFT_BOUNDS,       /* §2.4: LinearStep with slope 1/b at the bounds */
    ATL_DEV_SOFT_BOUNDS_REF,   /* §2.5: SoftBoundsReference (reference / symmetry point) */
    ATL_DEV_EXP_STEP,          /* §2.8 */
    ATL_DEV_POW_STEP,          /* §2.8 */
    ATL_DEV_TYPE_COUNT
} atl_dev_type;

/* All device parameters in one flat struct; which ones apply depends on `type` (a parameter that
 * does not apply to the type is rejected by atl_dev_params_set). Names follow the reference
 * (decision 7). Defaults per type come from atl_dev_defaults(). */
typedef struct atl_dev_params {
    atl_dev_type type;
    /* PulsedDevice (§2.1) */
    uint64_t construction_seed; /* 0: device-to-device draws keyed by the tile seed/stream;
                                   else by this seed only (identical devices per shape, §7.1) */
    float corrupt_devices_prob, corrupt_devices_range;
    float diffusion, diffusion_dtod;
    float dw_min, dw_min_dtod, dw_min_std;
    int dw_min_dtod_log_normal;
    int enforce_consistency;
    float lifetime, lifetime_dtod;
    int perfect_bias;
    float reset, reset_dtod, reset_std;
    float up_down, up_down_dtod;
    float w_max, w_max_dtod, w_min, w_min_dtod;
    float write_noise_std; /* in units of dw_min */
    int apply_write_noise_on_set;
    /* LinearStep / SoftBounds / SoftBoundsReference */
    int mult_noise;
    float gamma_up, gamma_down;         /* LinearStep slopes; ExpStep exponents */
    float gamma_up_dtod, gamma_down_dtod; /* LinearStep */
    int allow_increasing, mean_bound_reference;
    int reverse_up, reverse_down;
    float reverse_offset;
    /* SoftBoundsReference */
    float slope_up_dtod, slope_down_dtod;
    float reference_mean, reference_std;
    int subtract_symmetry_point;
    /* ExpStep */
    float A_up, A_down, a, b;
    float dw_min_std_add, dw_min_std_slope;
    /* PowStep */
    float pow_gamma, pow_gamma_dtod, pow_up_down, pow_up_down_dtod;
} atl_dev_params;

atl_dev_params atl_dev_defaults(atl_dev_type type);
const char *atl_dev_type_name(atl_dev_type type); /* "soft_bounds_reference", ... */
int atl_dev_type_from_name(const char *name, atl_dev_type *out);

/* Set/get one parameter by its reference name; `n_states` is an alias that sets
 * dw_min = (w_max - w_min)/n_states (decision 7). Unknown names, names that do not apply to the
 * device type and out-of-range values are errors. Booleans are 0/1. */
int atl_dev_params_set(atl_dev_params *p, const char *name, double value, char *err,
                       size_t err_len);
/* Parses "name=value" (value: number, true/false). */
int atl_dev_params_set_kv(atl_dev_params *p, const char *kv, char *err, size_t err_len);
int atl_dev_params_get(const atl_dev_params *p, const char *name, double *value);
/* Calls cb for every parameter that applies to p->type, in a stable order (for `device show`). */
void atl_dev_params_foreach(const atl_dev_params *p,
                            void (*cb)(const char *name, double value, int is_bool, void *ud),
                            void *ud);
int atl_dev_params_validate(const atl_dev_params *p, char *err, size_t err_len);

/* Weight granularity (§2.1, §2.8) and the mean number of states (w_max - w_min)/granularity. */
double atl_dev_granularity(const atl_dev_params *p);
double atl_dev_n_states(const atl_dev_params *p);

/* Presets (§3.1 and the reference toolkit's presets/devices.py). */
int atl_dev_preset_count(void);
const char *atl_dev_preset_name(int index);
const char *atl_dev_preset_description(int index);
int atl_dev_preset(const char *name, atl_dev_params *out, char *err, size_t err_len);

/* ---------------------------------------------------------------------------------------------
 * Pulsed update parameters (§1.1)
 */
typedef enum atl_pulse_type {
    ATL_PULSE_NONE = 0,            /* ideal floating-point W -= lr d x^T (§1.6) */
    ATL_PULSE_STOCHASTIC_COMPRESSED,
    ATL_PULSE_STOCHASTIC,          /* same statistics as compressed (§1.4); same code path */
    ATL_PULSE_NONE_WITH_DEVICE,    /* FP update followed by the device bound clip (§1.6) */
    ATL_PULSE_MEAN_COUNT,          /* §1.5 */
    ATL_PULSE_DETERMINISTIC_IMPLICIT,
} atl_pulse_type;

typedef struct atl_update_params {
    int desired_bl;
    int fixed_bl;
    atl_pulse_type pulse_type;
    float res;
    int sto_round;
    int update_bl_management;
    int update_management; /* forced on when update_bl_management is on (§1.1) */
    float um_grad_scale;
    float x_res_implicit, d_res_implicit;
} atl_update_params;

#define ATL_MAX_BL 1024

atl_update_params atl_update_defaults(void); /* UpdateParameters: BL 31, UBLM, UM */
int atl_update_params_set(atl_update_params *p, const char *name, double value, char *err,
                          size_t err_len);
int atl_update_params_validate(const atl_update_params *p, char *err, size_t err_len);

/* ---------------------------------------------------------------------------------------------
 * Training algorithms (§4)
 */
typedef enum atl_algo {
    ATL_ALGO_SGD = 0,     /* analog SGD on a single device */
    ATL_ALGO_MP,          /* MixedPrecisionCompound (digital rank update + pulsed transfer) */
    ATL_ALGO_TT,          /* TransferCompound (Tiki-Taka v1, §4.3) */
    ATL_ALGO_TTV2_BUFFERED, /* BufferedTransferCompound (§4.4) */
    ATL_ALGO_CHOPPED,     /* ChoppedTransferCompound (§4.5): `ttv2` and `cttv2` build configs */
    ATL_ALGO_AGAD,        /* DynamicTransferCompound (§4.6) */
    ATL_ALGO_COUNT
} atl_algo;

const char *atl_algo_name(atl_algo a);

typedef struct atl_algo_params {
    /* transfer compounds (table §4.1) */
    float gamma;
    float transfer_every;
    int units_in_mbatch;
    int n_reads_per_transfer; /* only 1 supported */
    int transfer_columns;
    float with_reset_prob;    /* Tiki-Taka v1 only */
    float fast_lr, transfer_lr;
    int scale_transfer_lr, scale_fast_lr;
    float thres_scale, step, momentum;
    int forget_buffer;
    float in_chop_prob;
    int in_chop_random;
    float out_chop_prob;
    float buffer_granularity, auto_granularity;
    int no_buffer, auto_scale;
    float auto_momentum;
    int correct_gradient_magnitudes;
    float tail_weightening, buffer_cap;
    int experimental_correct_accumulation;
    /* mixed precision (uses transfer_every as an integer number of m_batch units, transfer_lr) */
    int n_rows_per_transfer, random_row;
    float granularity;
    int n_x_bins, n_d_bins, stoc_round_x, stoc_round_d;
} atl_algo_params;

/* Python-dataclass defaults of the compound behind each algorithm (§4.1 table, MP defaults). */
atl_algo_params atl_algo_defaults(atl_algo a);
int atl_algo_params_set(atl_algo_params *p, const char *name, double value, char *err,
                        size_t err_len);

/* ---------------------------------------------------------------------------------------------
 * Tiles
 */
typedef struct atl_tile_config {
    int d_size, x_size;
    atl_algo algo;
    atl_algo_params ap;
    atl_dev_params dev_a; /* the device (sgd/mp) or the fast array A */
    atl_dev_params dev_c; /* the slow array C of the transfer compounds */
    atl_io_params io_fwd, io_bwd, io_transfer;
    atl_update_params up;          /* main update (pulses onto A) */
    atl_update_params up_transfer; /* C writes */
    uint64_t seed;   /* experiment seed (the Philox key) */
    uint64_t stream; /* this tile's stream id */
    /* output scaling / mapping (§7.2) */
    float weight_scaling_omega;    /* > 0: scale weights so max|W| maps to omega at set time */
    int weight_scaling_columnwise; /* one scale per output row */
    int weight_scaling_lr_compensation;
    int threads; /* OpenMP threads for updates (0: runtime default); never changes results */
} atl_tile_config;

/* build_config (§3.4): name is one of sgd, mp (mixed-precision), tt (tiki-taka, ttv1),
 * ttv2-buffered (buffered), ttv2, cttv2 (c-ttv2, chopped-ttv2, ttv3), agad (ttv4). Sets the
 * algorithm, its parameters, the update and IO parameters and both devices to *dev; leaves sizes,
 * seed and stream to the caller (zeroed). */
int atl_tile_config_build(atl_tile_config *cfg, const char *algo_name, const atl_dev_params *dev,
                          char *err, size_t err_len);
int atl_tile_config_validate(const atl_tile_config *cfg, char *err, size_t err_len);

typedef struct atl_tile atl_tile;

typedef struct atl_tile_counters {
    uint64_t updates;             /* vector updates (calls x m) */
    uint64_t pulses_up_a, pulses_down_a; /* pulses on the single device or the fast array A */
    uint64_t pulses_up_c, pulses_down_c; /* pulses on the slow array C (transfer writes) */
    uint64_t transfers;           /* transfer events (one column/row read each) */
    uint64_t transfer_reads;      /* analog vector reads done by transfers */
    uint64_t c_writes;            /* transfers that wrote at least one pulse sequence into C */
    uint64_t chopper_flips;       /* in + out chopper sign changes */
    uint64_t forward_vectors, backward_vectors;
    uint64_t bm_extra_passes;     /* bound-management repetitions (forward) */
    uint64_t weight_sets;
} atl_tile_counters;

atl_tile *atl_tile_create(const atl_tile_config *cfg, char *err, size_t err_len);
void atl_tile_destroy(atl_tile *t);
const atl_tile_config *atl_tile_get_config(const atl_tile *t);

/* Threads used by updates (OpenMP over rows; results never depend on it). 0 = default. */
void atl_tile_set_threads(atl_tile *t, int threads);

/* Decision 2 and 6: W_set = W + tau*max|W|*xi (xi ~ N(0,1) per element, a fresh draw per call),
 * then (omega scaling, §7.2) and the normal set path: clip to the device bounds and draw the write
 * noise; A := 0 and H, choppers, auto-scale statistics, read pointer are reset. W is d x x. */
int atl_tile_set_weights(atl_tile *t, const float *W, float tau);
/* Visible apparent weights, in the caller's units (the omega scale applied). */
void atl_tile_get_weights(const atl_tile *t, float *W);
/* Mapping scales alpha (1 value, or d_size values when columnwise); NULL if omega is off. */
const float *atl_tile_get_scales(const atl_tile *t, int *n);

/* Internal arrays for tests and reports (NULL when the algorithm has none). */
typedef enum atl_tile_array_id {
    ATL_ARR_VISIBLE = 0, /* what forward/backward read (analog units) */
    ATL_ARR_A,           /* apparent weights of the device / fast array */
    ATL_ARR_A_HIDDEN,    /* persistent (noise-free) weights of A */
    ATL_ARR_C,           /* apparent weights of C */
    ATL_ARR_C_HIDDEN,
    ATL_ARR_H,           /* transfer buffer (TTv2/c-TTv2/AGAD) */
    ATL_ARR_CHI,         /* mixed-precision digital accumulator */
    ATL_ARR_REF_A,       /* SoftBoundsReference references of A (g = w + ref) */
    ATL_ARR_BMIN_A,
    ATL_ARR_BMAX_A,
} atl_tile_array_id;
/* Copies the array into out (d_size*x_size floats). Returns -1 if it does not exist. */
int atl_tile_get_array(const atl_tile *t, atl_tile_array_id id, float *out);
/* Chopper signs (+1/-1) into in (in_size) and out (out_size); -1 if the algorithm has none. */
int atl_tile_get_choppers(const atl_tile *t, int8_t *in, int *in_size, int8_t *out,
                          int *out_size);

/* Forward y = f(W x) for m vectors (x: m x x_size, y: m x d_size). */
void atl_tile_forward(atl_tile *t, const float *x, int m, float *y);
/* Backward z = f(W^T d) (d: m x d_size, z: m x x_size). */
void atl_tile_backward(atl_tile *t, const float *d, int m, float *z);
/* Update with m vectors in order (per-vector semantics, decision 1): SGD-like W -= lr d x^T
 * realised by the configured algorithm. lr >= 0. Returns -1 on invalid input. */
int atl_tile_update(atl_tile *t, const float *x, const float *d, int m, float lr);

/* Once per mini-batch (§0.4 post_update_step): decay (lifetime > 0) and diffusion (> 0). */
void atl_tile_post_batch(atl_tile *t);

void atl_tile_get_counters(const atl_tile *t, atl_tile_counters *out);
void atl_tile_reset_counters(atl_tile *t);

/* State save/load: the format holds the configuration and everything the tile holds (arrays,
 * device constants, choppers, statistics, counters, RNG positions). Little-endian, versioned,
 * with a magic number and a checksum. */
size_t atl_tile_state_size(const atl_tile *t);
int atl_tile_save(const atl_tile *t, void *buf, size_t cap, size_t *len, char *err,
                  size_t err_len);
atl_tile *atl_tile_load(const void *buf, size_t len, char *err, size_t err_len);
int atl_tile_save_file(const atl_tile *t, const char *path, char *err, size_t err_len);
atl_tile *atl_tile_load_file(const char *path, char *err, size_t err_len);

/* ---------------------------------------------------------------------------------------------
 * Tile arrays for layers larger than one tile (§7.1)
 */
typedef struct atl_tile_array atl_tile_array;

/* Splits out_size x in_size into a grid of near-equal pieces of at most max_out x max_in
 * (0 = unlimited); every tile gets cfg (sizes replaced) and its own stream derived from
 * cfg->stream and its grid position. has_bias: a digital bias added after the partial sums. */
atl_tile_array *atl_tile_array_create(const atl_tile_config *cfg, int out_size, int in_size,
                                      int max_out, int max_in, int has_bias, char *err,
                                      size_t err_len);
void atl_tile_array_destroy(atl_tile_array *a);
/* Near-equal split sizes (§7.1): n = ceil(size/max) pieces, piece k has floor(size/n) + (k <
 * size mod n) elements. Returns n; writes the sizes into sizes (if not NULL). */
int atl_split_sizes(int size, int max, int *sizes);
int atl_tile_array_grid(const atl_tile_array *a, int *n_out, int *n_in);
atl_tile *atl_tile_array_tile(atl_tile_array *a, int out_piece, int in_piece);
int atl_tile_array_set_weights(atl_tile_array *a, const float *W, const float *bias, float tau);
void atl_tile_array_get_weights(const atl_tile_array *a, float *W, float *bias);
void atl_tile_array_forward(atl_tile_array *a, const float *x, int m, float *y);
void atl_tile_array_backward(atl_tile_array *a, const float *d, int m, float *z);
/* Analog update of every tile with its slices; the digital bias gets bias -= lr*sum_k d_k. */
int atl_tile_array_update(atl_tile_array *a, const float *x, const float *d, int m, float lr);
void atl_tile_array_get_counters(const atl_tile_array *a, atl_tile_counters *sum);

/* ---------------------------------------------------------------------------------------------
 * Pulse-response curves (for `atlc device response`)
 */
typedef struct atl_dev_response {
    int n_devices, n_up, n_down, n_pulses; /* n_pulses = n_up + n_down; row 0 = before pulsing */
    /* per row p (0..n_pulses): statistics over the devices */
    double *mean, *std, *min, *max;             /* apparent weight (all noise) */
    double *mean_nf, *std_nf, *min_nf, *max_nf; /* same devices, c2c and write noise off */
} atl_dev_response;

/* N devices drawn from p (device-to-device variation as in a tile of 1 x N), set to w = 0, then
 * n_up up pulses and n_down down pulses, one pulse at a time. */
int atl_dev_response_compute(const atl_dev_params *p, int n_devices, int n_up, int n_down,
                             uint64_t seed, atl_dev_response *out, char *err, size_t err_len);
void atl_dev_response_free(atl_dev_response *r);
/* CSV with a header row: pulse,direction,mean,std,min,max,mean_nf,std_nf,min_nf,max_nf */
int atl_dev_response_write_csv(const atl_dev_response *r, FILE *f);
/* Plain SVG plot of both mean curves with min/max bands. */
int atl_dev_response_write_svg(const atl_dev_response *r, const char *title, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
