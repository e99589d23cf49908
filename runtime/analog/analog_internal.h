/* Internal interfaces of the analog runtime (runtime/analog/). One section per file.
 * Not installed; generated code and the CLI use atl/analog.h only. */
#ifndef ATL_ANALOG_INTERNAL_H
#define ATL_ANALOG_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "atl/analog.h"
#include "atl/rng.h"

/* ----------------------------------------------------------------------------- common helpers */
/* Writes a formatted message into err (if not NULL) and returns -1. */
int an_fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void *an_alloc(size_t n);            /* 64-byte aligned, zeroed; NULL on failure */
void an_free(void *p);

/* Stream ids of the draws of one tile: derive(derive(tile, tag), counter) (rng.h). */
enum an_tag {
    AN_TAG_CONSTRUCT = 1, /* + slot: device-to-device draws of array `slot` (0 = A, 1 = C) */
    AN_TAG_SET = 16,      /* weight transfer noise tau and write noise on set */
    AN_TAG_UPD_BX = 17,   /* main update bit lines, x side */
    AN_TAG_UPD_BD = 18,   /* main update bit lines, d side */
    AN_TAG_UPD_PULSE = 19,/* main update per-pulse noise (row-keyed) */
    AN_TAG_UPD_STO = 20,  /* stochastic rounding of probabilities */
    AN_TAG_TR_READ = 21,  /* transfer read IO noise */
    AN_TAG_TR_BX = 22,    /* transfer write bit lines */
    AN_TAG_TR_BD = 23,
    AN_TAG_TR_PULSE = 24,
    AN_TAG_TR_STO = 25,
    AN_TAG_CHOP = 26,     /* chopper flips */
    AN_TAG_RESET = 27,    /* column resets (TT v1 with_reset_prob) */
    AN_TAG_MP = 28,       /* mixed precision: stochastic rounding of x/d, random row */
    AN_TAG_FWD = 29,      /* forward IO cursor */
    AN_TAG_BWD = 30,      /* backward IO cursor */
    AN_TAG_POST = 31,     /* decay/diffusion once per mini-batch */
};
uint64_t an_stream(uint64_t tile_stream, uint64_t tag, uint64_t counter);

/* Little-endian byte buffers for the state format (state.c). */
typedef struct an_wbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} an_wbuf;
typedef struct an_rbuf {
    const uint8_t *p;
    size_t len, pos;
    int bad; /* set on any read past the end or invalid value */
} an_rbuf;
void an_w_bytes(an_wbuf *w, const void *src, size_t n);
void an_w_u32(an_wbuf *w, uint32_t v);
void an_w_u64(an_wbuf *w, uint64_t v);
void an_w_f32(an_wbuf *w, float v);
void an_w_f32s(an_wbuf *w, const float *v, size_t n);
uint32_t an_r_u32(an_rbuf *r);
uint64_t an_r_u64(an_rbuf *r);
float an_r_f32(an_rbuf *r);
void an_r_f32s(an_rbuf *r, float *v, size_t n);
void an_r_bytes(an_rbuf *r, void *dst, size_t n);
/* Parameter structs through the name tables of device.c (kind-tagged fields, table order). */
enum { AN_PT_DEV = 0, AN_PT_UP, AN_PT_ALGO };
void an_params_write(an_wbuf *w, int table, const void *p);
int an_params_read(an_rbuf *r, int table, void *p);

/* ----------------------------------------------------------------------------- gauss.c */
/* Standard normals for the hot paths: each 32-bit Philox word yields two values through a
 * 65536-point inverse-CDF table (midpoint quantiles, |z| <= 4.33, variance 1 - 2e-5). The
 * reference draws these from a table of 32768 random normals (§9); this is the same idea with
 * exact quantiles. Values k of a fill come from word k/2 of the u32 fill at `block`. */
const float *an_gauss_table(void);
void an_gauss_fill(uint64_t seed, uint64_t stream, uint64_t block, size_t n, float *out,
                   uint32_t *words_tmp);
/* The same mapping from given words: value k from 16-bit half k % 2 of word k / 2. */
void an_gauss_from_words(const uint32_t *w, size_t n, float *out);

/* ----------------------------------------------------------------------------- device.c */
enum {
    AN_T_CS = 1 << ATL_DEV_CONSTANT_STEP,
    AN_T_LS = 1 << ATL_DEV_LINEAR_STEP,
    AN_T_SB = 1 << ATL_DEV_SOFT_BOUNDS,
    AN_T_SBR = 1 << ATL_DEV_SOFT_BOUNDS_REF,
    AN_T_ES = 1 << ATL_DEV_EXP_STEP,
    AN_T_PS = 1 << ATL_DEV_POW_STEP,
    AN_T_ALL = (1 << ATL_DEV_TYPE_COUNT) - 1,
};
/* Whether the type keeps a persistent weight when write_noise_std > 0. */
int an_dev_type_has_write_noise(atl_dev_type t);

/* ----------------------------------------------------------------------------- devarray.c */
/* Per-element device constants, stored in blocks of 8 columns: the block of row i, columns
 * 8b..8b+7 holds 8 floats of each constant (b_min, b_max, up step, down step, up slope, down
 * slope, reference), 256 contiguous bytes. The pulse kernels load a constant for 8 consecutive
 * columns at once, and a sparse update touches 4 adjacent cache lines per 8 columns instead of 7
 * scattered ones. Pulses act in conductance space g = w + ref (ref = 0 except
 * SoftBoundsReference):
 *   up:   g += sl_up*g + st_up (+ noise),  down: g += sl_dn*g + st_dn (+ noise), clip [lo, hi]
 * with st_dn = -s_down and sl_* the signed slopes, so both directions share one formula. */

typedef struct an_dev {
    atl_dev_params p;
    int d_size, x_size;
    float *cst; /* constant blocks, see above (fields AN_LO ... AN_REF) */
    int nchk;   /* blocks per row = ceil(x_size / 8) */
    float *w;  /* persistent weight (the only weight without write noise) */
    float *wa; /* apparent weight; aliases w when there is no write noise */
    float *reset_bias, *decay_scale, *diffusion_rate;
    float *pg_up, *pg_dn; /* PowStep exponents */
    float granularity;
    float wn_sigma; /* write_noise_std*dw_min; > 0 iff persistent */
} an_dev;

enum {
    AN_LO = 0, /* b_min */
    AN_HI,     /* b_max */
    AN_STU,    /* s_up */
    AN_STD,    /* -s_down */
    AN_SLU,    /* signed up slope (0 for ConstantStep, ExpStep, PowStep) */
    AN_SLD,    /* signed down slope */
    AN_REF,    /* SoftBoundsReference reference, else 0 */
    AN_NCST
};
static inline size_t an_cst_index(const an_dev *dv, int i, int j, int f)
{
    return (((size_t)i * (size_t)dv->nchk + (size_t)(j >> 3)) << 6) + ((size_t)f << 3) +
           (size_t)(j & 7);
}
/* Constant f of flat element k = i*x_size + j. */
#define AN_C(dv, k, f)                                                                           \
    ((dv)->cst[an_cst_index((dv), (int)((k) / (size_t)(dv)->x_size),                               \
                            (int)((k) % (size_t)(dv)->x_size), (f))])
static inline size_t an_cst_size(const an_dev *dv)
{
    return (size_t)dv->d_size * (size_t)dv->nchk * 64u;
}

/* Allocates and draws the device-to-device constants (§2.2, §2.4-2.5, §2.7-2.8). Weights 0. */
int an_dev_init(an_dev *dv, const atl_dev_params *p, int d_size, int x_size, uint64_t seed,
                uint64_t tile_stream, int slot, char *err, size_t err_len);
void an_dev_free(an_dev *dv);
/* onSetWeights (§2.3): clip W to [b_min, b_max] (w-space, as the reference), copy into the
 * persistent weight and, if apply_write_noise_on_set, draw w_a = w + sigma_w xi for all
 * elements from (seed, stream). W == NULL sets zeros. */
void an_dev_set_weights(an_dev *dv, const float *W, uint64_t seed, uint64_t stream);
/* Column reset (§2.9): w = reset_bias + reset_std xi, clip; redraw apparent weights. */
void an_dev_reset_col(an_dev *dv, int col, uint64_t seed, uint64_t stream);
/* After a floating-point change of w: clip (if clip) and mirror w into wa (no noise redraw). */
void an_dev_sync_apparent(an_dev *dv, int clip);
/* Decay (lifetime) and diffusion once per mini-batch (§2.9), then all w_a are redrawn. */
void an_dev_post_batch(an_dev *dv, uint64_t seed, uint64_t stream);
size_t an_dev_elems(const an_dev *dv);

/* ----------------------------------------------------------------------------- pulse.c */
#define AN_GROUP 16
#define AN_CHUNK_ROWS 16 /* rows per task of a batch (and per noise sub-chunk at most) */
#define AN_MAX_VEC 64    /* vector updates applied together at most */
#define AN_GEN_BLOCKS 64 /* noise blocks of a general row drawn with its chunk at most */

typedef struct an_rowbuf {
    uint16_t *cnt;   /* pulses per column of the current row */
    uint8_t *dn;     /* 1 = down */
    float *noise;    /* normals of a general row (pulse, then write noise) */
    uint32_t *words; /* Philox words behind them */
    int *chunks;     /* touched full AN_GROUP-column groups of the row (first column, ascending) */
    int nch;
    size_t noise_cap;
    /* single-pulse rows of a chunk: their words, blocks, streams, and per (row, vector) the
     * offset of the row's words */
    uint32_t *bwords;
    float *bnorm;      /* their normals (8 per block) */
    uint64_t *bblk, *bstr;
    uint32_t *boff;
    size_t bcap;       /* blocks */
    uint64_t up, down; /* pulses applied (this thread, this call) */
} an_rowbuf;

/* An active column of a single-pulse (BL = 1) vector: its index, the offset of its constants in
 * a row's blocks and of its step field for d positive / negative (the slope is 16 further). */
typedef struct an_col1 {
    int j, coff, soff[2];
} an_col1;

/* One prepared vector update (§1.3-1.4): what the rows need of it. */
typedef struct an_vec {
    int BL, nw;        /* BL 0: no update */
    int nxa, nneg;     /* active columns, the negative ones among them (with flips) */
    int *xa;           /* active columns (ascending) */
    uint64_t *mx;      /* their masks (nxa * nw) */
    uint8_t *xs;       /* 1 = negative */
    struct an_col1 *col1; /* BL = 1: per active column its constant offsets (an_col1) */
    uint64_t *md;      /* d masks per row (D * nw, zero: inactive row) */
    uint8_t *dsg;      /* d sign per row (1 = negative, with flips) */
    int *da, nda;      /* active rows (ascending) */
    uint64_t s_noise;  /* stream of the per-row noise */
    int bitcnt[64];    /* BL > 1, one-word masks: active columns with bit b set */
    int bc_pos[64], bc_neg[64]; /* ... among the positive / negative ones */
    int xm8on;         /* 1 < BL <= 8: the byte masks below are set */
    uint8_t *xm8;      /* mask per column (dense, zero where inactive, 16 bytes of padding) */
    uint8_t *dn8[2];   /* down flag per column for d positive / negative */
    int snap_col;      /* >= 0: record this column of the apparent weights after the vector
                        * (an_work.snaps) */
} an_vec;

typedef struct an_work {
    int x_cap, d_cap, bl_cap, nw_cap, vec_cap; /* nw = 64-bit words per mask */
    /* staging of one side (make_bits) and of the dense pulse types */
    uint64_t *mx, *md;
    int *xa, *da;
    uint8_t *xs, *ds;
    float *cx, *cd, *cxc;
    uint32_t *bits;    /* bit-line words */
    float *sto;        /* stochastic-rounding uniforms */
    float *pv;         /* bit-line probabilities of one side */
    int *cand, *woff;  /* indices with p > 0 and their first bit-line word */
    uint64_t *blk;     /* bit-line blocks of the random indices */
    uint64_t *rowmask; /* per row: bit v set iff prepared vector v is active there */
    float *snaps;      /* snapshot of vector v, row i: snaps[i * vec_cap + v] */
    an_vec *vec;       /* vec_cap prepared vector updates */
    int n_vec;
    an_rowbuf *rb;     /* one per thread */
    int n_rb;
} an_work;

int an_work_init(an_work *w, int x_cap, int d_cap, int bl_cap);
/* Room for vec_cap (<= AN_MAX_VEC) prepared vectors; discards prepared ones when it grows. */
int an_work_reserve(an_work *w, int vec_cap);
void an_work_free(an_work *w);

typedef struct an_pulse_rng {
    uint64_t seed;
    uint64_t s_bx, s_bd, s_noise, s_sto; /* streams of this vector update */
} an_pulse_rng;

/* max |v_k| over n values (NaNs skipped), vectorised. */
float an_absmax(const float *v, int n);
/* The bit lines of one side (§1.4), compacted to the active indices (act ascending, neg: sign
 * with the flip, masks: (BL + 63)/64 words each); returns their number. portable = 1 skips the
 * vector code, which must give the same result (exposed for the tests). */
int an_make_bits(const float *v, const int8_t *flip, int n, float scale, int BL,
                 const atl_update_params *up, uint64_t seed, uint64_t s_bits, uint64_t s_sto,
                 an_work *wk, int *act, uint8_t *neg, uint64_t *masks, int portable);

/* calculateBlAB + performUpdateManagement (§1.2-1.3). Returns BL (0: no update), scales A (for
 * d) and B (for x). */
int an_update_bl(const atl_update_params *up, float lr, float g, float x_m, float d_m, float *A,
                 float *B);

/* One vector update W -= lr d x^T realised with pulses on dv (§1.4-1.7): lr >= 0, g = the
 * granularity used for the probabilities. x: x_size, d: d_size (dense; zeros are inactive).
 * Adds the applied pulses to the counters n_up and n_down. nthreads <= 0: OpenMP default. */
void an_pulsed_update(an_dev *dv, const float *x, const float *d, float lr, float g,
                      const atl_update_params *up, const an_pulse_rng *r, an_work *wk,
                      int nthreads, uint64_t *n_up, uint64_t *n_down);
/* The same for the signed vectors (flip_x[j] ? -x_j : x_j) and (flip_d[i] ? -d_i : d_i) (the
 * choppers, §4.5; NULL: no flips), without copying them. */
void an_pulsed_update_flip(an_dev *dv, const float *x, const float *d, const int8_t *flip_x,
                           const int8_t *flip_d, float lr, float g, const atl_update_params *up,
                           const an_pulse_rng *r, an_work *wk, int nthreads, uint64_t *n_up,
                           uint64_t *n_down);
/* Several vector updates of one device at once (bit-identical to applying them in order):
 * an_vec_prepare draws the bit lines of a stochastic (compressed) update into slot `slot`
 * (x_m, d_m: the abs-maxima if known, else < 0), returning 1 if it pulses, 0 if not, -1 if its
 * BL exceeds the buffers (grow with an_work_init-sized caps first). an_batch_apply then applies
 * slots 0 .. nvec-1 row by row, in slot order per row, and fills the snapshots. */
int an_vec_prepare(an_work *wk, int slot, const an_dev *dv, const float *x, const float *d,
                   const int8_t *flip_x, const int8_t *flip_d, float x_m, float d_m, float lr,
                   float g, const atl_update_params *up, const an_pulse_rng *r);
void an_batch_apply(an_dev *dv, an_work *wk, int nvec, uint64_t seed, int nthreads,
                    uint64_t *n_up, uint64_t *n_down);
/* The linear-family row kernel: applies cnt[j] pulses (direction dn[j]) to every column j of
 * row i, in groups of AN_GROUP columns (ascending); a group runs passes r = 0, 1, ...: pass r
 * gives one pulse to each column of the group with cnt[j] > r, in column order, consuming
 * noise[] in that order; then the group's touched columns take wnoise[] in column order. The
 * portable version is the definition; the AVX2 version must equal it bitwise (the tests compare
 * them). rb->chunks lists the touched full groups. Exposed for the tests. */
void an_row_linear_scalar(an_dev *dv, int i, const uint16_t *cnt, const uint8_t *dn,
                          const float *noise, const float *wnoise, an_rowbuf *rb);
void an_row_linear_simd(an_dev *dv, int i, const uint16_t *cnt, const uint8_t *dn,
                        const float *noise, const float *wnoise, an_rowbuf *rb);

/* ----------------------------------------------------------------------------- tile.c */
struct atl_tile {
    atl_tile_config cfg;
    int d_size, x_size;
    int in_size, out_size; /* transfer slice geometry (§4.2) */
    an_dev A, C;           /* C unused for sgd/mp */
    int has_c;
    float *W;              /* visible weights (analog units); aliases A.wa / C.wa when hidden */
    int w_owned;           /* W is a separate array (gamma > 0) */
    float gamma_vec[2];
    float *H;              /* transfer buffer (d x x) */
    float *M, *P;          /* AGAD running / past mean */
    uint8_t *switched;     /* AGAD per in-slice */
    int8_t *chop_in, *chop_out; /* 1 = flipped (-1) */
    float *chi;            /* mixed precision accumulator */
    float m_x, m_d, count_lr_last;
    uint64_t current_update_idx; /* vector updates since the last set (reference semantics) */
    uint64_t transfer_counter;   /* completed sweeps */
    int slice;                   /* current_slice_index / MP row index */
    uint64_t upd_counter;        /* monotonic vector-update counter (RNG positions) */
    uint64_t tr_counter;         /* monotonic transfer counter (RNG positions) */
    uint64_t set_counter;        /* monotonic weight-set counter */
    uint64_t post_counter;       /* post-batch (decay/diffusion) calls */
    atl_rng_stream rng_fwd, rng_bwd;
    atl_io_state io_fwd_state, io_bwd_state;
    float *scales; int n_scales;  /* omega mapping scales (NULL: off) */
    atl_tile_counters cnt;
    int threads;
    int no_batch;   /* 1: vector by vector (the tests compare both ways) */
    float upd_mlr;  /* mapping-scale factor of the update in progress (§7.2) */
    /* scratch */
    an_work work;
    float *tmp_x, *tmp_d;   /* all-zero between uses (one-hot and chopped copies) */
    float *tmp_v, *tmp_u, *tmp_y, *tmp_ds;
};

/* Recomputes the visible weights for gamma > 0 (§4.7, decision 5). */
void an_tile_reduce(atl_tile *t);
/* Allocates the algorithm state for t->cfg (after the devices). */
int an_tile_alloc_state(atl_tile *t, char *err, size_t err_len);
/* Resets the algorithm state as on set_weights (decision 6). */
void an_tile_reset_state(atl_tile *t);

/* ----------------------------------------------------------------------------- algo.c */
/* One vector update of the tile's algorithm (§4), x: x_size, d: d_size. */
void an_algo_update_vector(atl_tile *t, const float *x, const float *d, float lr, int m_batch);
/* m vector updates (x: m x x_size, d: m x d_size, m_batch = m), in batches where the algorithm
 * allows (bit-identical to m calls of an_algo_update_vector); dk(t, d_k) returns the d the tile
 * updates with (mapping scales, §7.2). */
int an_algo_update(atl_tile *t, const float *x, const float *d, int m, float lr,
                   const float *(*dk)(atl_tile *, const float *));

#endif
