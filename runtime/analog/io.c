/* Analog MVM with IO non-idealities: ANALOG_MODEL.md section 5 (forward 5.2, backward 5.3, noise
 * management 5.4, input preparation 5.5, non-idealities 5.6, transfer reads 5.7).
 *
 * Per vector (decision 1), forward:
 *   s = NM(x); if NM != NONE and s <= 0 and inp_noise <= 0: y = 0
 *   red = 1, 2, 4, ... (bound management; at most passes_max passes, see io_passes):
 *     scale = (1/s if NM and s > 0) / red (if BM)
 *     xq_j = asym(clip(q_in(scale x_j), +-inp_bound) + inp_noise xi)             (5.5)
 *     y = W xq; IR drop; weight noise (additive constant or PCM read)             (5.6)
 *     y_i = clip(q_out(asym_out(y_i) + sigma_i xi_i), +-out_bound), noting saturation
 *     stop if no saturation, or red > max_bm_factor, or (res_in > 0 and red > max_bm_res/res_in)
 *   y *= out_scale alpha / scale
 * Backward is the same on W^T without bound management, y *= out_scale alpha s.  The arithmetic of
 * the MAC is defined per element (io_internal.h), so batching never changes a result.
 *
 * RNG positions.  A call starting at stream position B (rng->block on entry) gives vector k
 * (0-based within the call) the block range
 *     [B + k*V, B + (k+1)*V),   V = passes_max * P,
 * and within it pass p (0-based) the range [B + k*V + p*P, B + k*V + (p+1)*P).  Inside a pass the
 * regions are laid out in this order, each present only if the parameters use it (sizes in blocks
 * of 4 words, n_in/n_out = input/output length of the direction):
 *     input noise normals       ceil(n_in/4)    if inp_noise > 0
 *     input rounding uniforms   ceil(n_in/4)    if inp_sto_round and res_in > 0
 *     weight-noise normals      ceil(n_out/4)   if w_noise_type != NONE and w_noise > 0
 *     output noise normals      ceil(n_out/4)   always (the reference always draws them, 5.2)
 *     output rounding uniforms  ceil(n_out/4)   if out_sto_round and res_out > 0
 * passes_max is 1 without bound management (and always for backward and reads); a call advances
 * rng->block by exactly m*V (0 for is_perfect).  Consequences, all tested:
 *   - results are a pure function of (seed, stream, B, inputs, params, AverageAbsMax state);
 *   - one call with m vectors is bit-identical to m successive calls with one vector each on the
 *     same cursor (the cursor advances by V per vector either way), for every parameter set;
 *   - a vector's noise does not depend on how many bound-management passes other vectors need.
 * Output noise is generated only when some sigma is > 0 (adding 0 * xi changes nothing), but its
 * blocks are reserved in any case, so positions never depend on the noise values.
 *
 * Memory: scratch buffers are malloc'ed per call (a few rows); allocation failure aborts. */
#include "atl/analog_io.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"

/* ---------------------------------------------------------------------------------------------
 * Parameters */

atl_io_params atl_io_defaults(void)
{
    atl_io_params p;
    memset(&p, 0, sizeof p);
    p.is_perfect = 0;
    p.inp_bound = 1.0f;
    p.inp_res = 1.0f / 126.0f;
    p.inp_sto_round = 0;
    p.inp_noise = 0.0f;
    p.inp_asymmetry = 0.0f;
    p.out_bound = 12.0f;
    p.out_noise = 0.06f;
    p.out_noise_std = 0.0f;
    p.out_res = 1.0f / 510.0f;
    p.out_sto_round = 0;
    p.out_scale = 1.0f;
    p.out_asymmetry = 0.0f;
    p.bound_management = ATL_BM_ITERATIVE;
    p.noise_management = ATL_NM_ABS_MAX;
    p.w_noise = 0.0f;
    p.w_noise_type = ATL_WNOISE_NONE;
    p.ir_drop = 0.0f;
    p.ir_drop_g_ratio = (float)(1.0 / 0.35 / 5e-6);
    p.max_bm_factor = 1000.0f;
    p.max_bm_res = 0.25f;
    p.bm_test_negative_bound = 1;
    p.nm_thres = 0.0f;
    p.nm_assumed_wmax = 0.6f;
    p.nm_decay = 1e-3f;
    return p;
}

atl_io_params atl_io_preset_defaults(void)
{
    atl_io_params p = atl_io_defaults();
    p.out_bound = 20.0f;
    p.out_noise = 0.1f;
    return p;
}

/* Resolution conversion r(v) of section 5.1: 0 if v < 0, 1/v if v > 1 (a number of steps). */
static float res_convert(float v)
{
    float r = v < 0.0f ? 0.0f : v;
    return r > 1.0f ? 1.0f / r : r;
}

float atl_io_res_in(const atl_io_params *p)
{
    return res_convert(p->inp_res) * (2.0f * p->inp_bound);
}

float atl_io_res_out(const atl_io_params *p)
{
    return res_convert(p->out_res) * (2.0f * p->out_bound);
}

static int fail_msg(char *err, size_t err_len, const char *msg, const char *field, double value)
{
    if (err && err_len > 0)
        snprintf(err, err_len, "%s (%s = %g)", msg, field, value);
    return -1;
}

#define CHECK_FINITE(f)                                                                            \
    do {                                                                                           \
        if (!isfinite(p->f))                                                                       \
            return fail_msg(err, err_len, "IO parameter must be finite", #f, (double)p->f);       \
    } while (0)
#define CHECK_NONNEG(f)                                                                            \
    do {                                                                                           \
        CHECK_FINITE(f);                                                                           \
        if (p->f < 0.0f)                                                                           \
            return fail_msg(err, err_len, "IO parameter must be >= 0", #f, (double)p->f);         \
    } while (0)

int atl_io_validate(const atl_io_params *p, char *err, size_t err_len)
{
    if (err && err_len > 0)
        err[0] = '\0';
    if (!p)
        return fail_msg(err, err_len, "no IO parameters", "p", 0.0);
    CHECK_FINITE(out_scale);
    if (p->is_perfect)
        return 0;
    if ((unsigned)p->noise_management > (unsigned)ATL_NM_AVERAGE_ABS_MAX)
        return fail_msg(err, err_len, "unknown noise management type", "noise_management",
                        (double)p->noise_management);
    if ((unsigned)p->bound_management > (unsigned)ATL_BM_ITERATIVE_WORST_CASE)
        return fail_msg(err, err_len, "unknown bound management type", "bound_management",
                        (double)p->bound_management);
    if ((unsigned)p->w_noise_type > (unsigned)ATL_WNOISE_PCM_READ)
        return fail_msg(err, err_len, "unknown weight noise type", "w_noise_type",
                        (double)p->w_noise_type);
    CHECK_FINITE(inp_bound);
    CHECK_FINITE(out_bound);
    CHECK_FINITE(inp_res);
    CHECK_FINITE(out_res);
    CHECK_NONNEG(inp_noise);
    CHECK_NONNEG(out_noise);
    CHECK_NONNEG(out_noise_std);
    CHECK_NONNEG(w_noise);
    CHECK_NONNEG(ir_drop);
    CHECK_NONNEG(nm_thres);
    CHECK_FINITE(inp_asymmetry);
    CHECK_FINITE(out_asymmetry);
    if (p->inp_asymmetry > 1.0f)
        return fail_msg(err, err_len, "inp_asymmetry must be <= 1 (negative inputs are scaled by 1-a)",
                        "inp_asymmetry", (double)p->inp_asymmetry);
    if (p->out_asymmetry > 1.0f)
        return fail_msg(err, err_len, "out_asymmetry must be <= 1 (negative outputs are scaled by 1-a)",
                        "out_asymmetry", (double)p->out_asymmetry);
    if (p->noise_management != ATL_NM_NONE && p->inp_bound != 1.0f)
        return fail_msg(err, err_len, "inp_bound must be 1 when noise management is on",
                        "inp_bound", (double)p->inp_bound);
    if (p->ir_drop > 0.0f && !(p->ir_drop_g_ratio > 0.0f && isfinite(p->ir_drop_g_ratio)))
        return fail_msg(err, err_len, "ir_drop_g_ratio must be > 0 and finite when ir_drop > 0",
                        "ir_drop_g_ratio", (double)p->ir_drop_g_ratio);
    if (p->bound_management != ATL_BM_NONE) {
        CHECK_NONNEG(max_bm_factor);
        CHECK_NONNEG(max_bm_res);
    }
    if (p->noise_management == ATL_NM_AVERAGE_ABS_MAX &&
        !(p->nm_decay >= 0.0f && p->nm_decay <= 1.0f))
        return fail_msg(err, err_len, "nm_decay must lie in [0, 1]", "nm_decay",
                        (double)p->nm_decay);
    if ((p->noise_management == ATL_NM_ABS_MAX_NP_SUM ||
         p->bound_management == ATL_BM_ITERATIVE_WORST_CASE) &&
        !(p->nm_assumed_wmax > 0.0f && isfinite(p->nm_assumed_wmax)))
        return fail_msg(err, err_len, "nm_assumed_wmax must be > 0 and finite", "nm_assumed_wmax",
                        (double)p->nm_assumed_wmax);
    return 0;
}

/* Number of passes after which bound management stops whatever the outputs (5.2): the sequence
 * red = 1, 2, 4, ... is the same for every vector (with ITERATIVE_WORST_CASE it restarts at 1 in
 * pass 2), so the last possible pass is known before any data is seen. */
static int io_passes(const atl_io_params *p, atl_bound_management bm, float res_in)
{
    if (p->is_perfect)
        return 0;
    if (bm == ATL_BM_NONE)
        return 1;
    float red = 0.5f;
    for (int pass = 1;; pass++) {
        red *= 2.0f;
        if (bm == ATL_BM_ITERATIVE_WORST_CASE && pass == 2 &&
            p->noise_management != ATL_NM_ABS_MAX_NP_SUM)
            red = 1.0f;
        if (red > p->max_bm_factor || (res_in > 0.0f && red > p->max_bm_res / res_in))
            return pass;
        if (pass >= 1000) /* unreachable for validated parameters (red overflows to inf) */
            return pass;
    }
}

/* ---------------------------------------------------------------------------------------------
 * One direction (forward, backward, or a transfer read) with derived constants. */

typedef struct io_dir {
    const atl_io_params *p;
    int backward;  /* MAC on W^T (inputs of length d_size) */
    int in_size, out_size;
    int d_size, x_size;
    atl_noise_management nm;
    atl_bound_management bm;
    float res_in, res_out;
    float in_bound, out_bound; /* +inf when unbounded */
    int passes;
    size_t ldi, ldo; /* row strides of the internal buffers: multiples of 16 floats (64 bytes) */
    /* RNG layout, in blocks relative to the start of a pass (-1: region absent). */
    int64_t off_inp_noise, off_inp_sto, off_w_noise, off_out_noise, off_out_sto;
    uint64_t pass_blocks, vec_blocks;
    const float *out_sigma; /* per-output sigma (out_noise_std), or NULL */
} io_dir;

static uint64_t blocks_for(int n) { return ((uint64_t)n + 3u) / 4u; }

static void dir_init(io_dir *io, const atl_io_params *p, int backward, int d_size, int x_size,
                     atl_noise_management nm, atl_bound_management bm, const float *out_sigma)
{
    memset(io, 0, sizeof *io);
    io->p = p;
    io->backward = backward;
    io->d_size = d_size;
    io->x_size = x_size;
    io->in_size = backward ? d_size : x_size;
    io->out_size = backward ? x_size : d_size;
    io->nm = nm;
    io->bm = backward ? ATL_BM_NONE : bm;
    io->res_in = atl_io_res_in(p);
    io->res_out = atl_io_res_out(p);
    io->in_bound = p->inp_bound > 0.0f ? p->inp_bound : INFINITY;
    io->out_bound = p->out_bound > 0.0f ? p->out_bound : INFINITY;
    io->passes = io_passes(p, io->bm, io->res_in);
    io->ldi = ((size_t)io->in_size + 15u) & ~(size_t)15u;
    io->ldo = ((size_t)io->out_size + 15u) & ~(size_t)15u;
    io->out_sigma = (p->out_noise_std > 0.0f) ? out_sigma : NULL;

    uint64_t off = 0;
    const uint64_t bin = blocks_for(io->in_size), bout = blocks_for(io->out_size);
    io->off_inp_noise = io->off_inp_sto = io->off_w_noise = io->off_out_sto = -1;
    if (p->inp_noise > 0.0f) {
        io->off_inp_noise = (int64_t)off;
        off += bin;
    }
    if (p->inp_sto_round && io->res_in > 0.0f) {
        io->off_inp_sto = (int64_t)off;
        off += bin;
    }
    if (p->w_noise_type != ATL_WNOISE_NONE && p->w_noise > 0.0f) {
        io->off_w_noise = (int64_t)off;
        off += bout;
    }
    io->off_out_noise = (int64_t)off;
    off += bout;
    if (p->out_sto_round && io->res_out > 0.0f) {
        io->off_out_sto = (int64_t)off;
        off += bout;
    }
    io->pass_blocks = p->is_perfect ? 0 : off;
    io->vec_blocks = (uint64_t)io->passes * io->pass_blocks;
}

/* ---------------------------------------------------------------------------------------------
 * Noise management (5.4) */

/* max_j |x_j|, ignoring NaNs. Non-negative floats order like their bit patterns, so the maximum
 * is taken over integers (exact, and it vectorises, unlike a float compare-select chain). */
static float absmax_of(const float *x, int n)
{
    uint32_t a = 0;
    for (int j = 0; j < n; j++) {
        uint32_t b;
        memcpy(&b, &x[j], sizeof b);
        b &= 0x7FFFFFFFu;
        b = b > 0x7F800000u ? 0u : b; /* NaN */
        a = b > a ? b : a;
    }
    float r;
    memcpy(&r, &a, sizeof r);
    return r;
}

static float nm_npsum(const io_dir *io, const float *x, int n)
{
    const atl_io_params *p = io->p;
    float amax = absmax_of(x, n);
    float psum = 0.0f, nsum = 0.0f;
    for (int j = 0; j < n; j++) {
        psum += x[j] > 0.0f ? x[j] : 0.0f;
        nsum += x[j] < 0.0f ? x[j] : 0.0f;
    }
    float sum = psum > -nsum ? psum : -nsum;
    if (p->nm_thres > 0.0f && amax > p->nm_thres)
        amax = p->nm_thres;
    float bound = isinf(io->out_bound) ? 1.0f : io->out_bound;
    float npsum = sum * p->nm_assumed_wmax / bound;
    if (io->res_in > 0.0f) {
        float cap = amax / io->res_in * p->max_bm_res;
        npsum = cap < npsum ? cap : npsum;
    }
    return amax > npsum ? amax : npsum;
}

static float nm_scale(const io_dir *io, atl_noise_management nm, atl_io_state *st, const float *x,
                      int n)
{
    const atl_io_params *p = io->p;
    switch (nm) {
    case ATL_NM_NONE:
        return 1.0f;
    case ATL_NM_ABS_MAX: {
        float a = absmax_of(x, n);
        return (p->nm_thres > 0.0f && a > p->nm_thres) ? p->nm_thres : a;
    }
    case ATL_NM_MAX: {
        float a = n > 0 ? x[0] : 0.0f;
        for (int j = 1; j < n; j++)
            a = x[j] > a ? x[j] : a;
        return (p->nm_thres > 0.0f && a > p->nm_thres) ? p->nm_thres : a;
    }
    case ATL_NM_CONSTANT:
        return p->nm_thres > 0.0f ? p->nm_thres : 1.0f;
    case ATL_NM_AVERAGE_ABS_MAX: {
        float a = absmax_of(x, n);
        if (!st->aux_nm_init) {
            st->aux_nm_value = a;
            st->aux_nm_init = 1;
        } else {
            st->aux_nm_value = st->aux_nm_value * (1.0f - p->nm_decay) + p->nm_decay * a;
        }
        return st->aux_nm_value;
    }
    case ATL_NM_ABS_MAX_NP_SUM:
        return nm_npsum(io, x, n);
    }
    return 1.0f;
}

/* ---------------------------------------------------------------------------------------------
 * Input preparation (5.5) and output stage (5.6 item 4), one vector row at a time. */

static uint64_t region_block(uint64_t base, const io_dir *io, int k, int pass, int64_t off)
{
    return base + (uint64_t)k * io->vec_blocks + (uint64_t)pass * io->pass_blocks + (uint64_t)off;
}

typedef struct io_scratch {
    float *nz_in;  /* in_size normals / uniforms */
    float *u_in;
    float *nz_out; /* out_size */
    float *u_out;
    float *nz_w;
} io_scratch;

/* DAC of one input value (5.5 steps 1-3): scale, quantise (optionally stochastically with the
 * uniform u), clip. Shared by the vector loops and the one-hot read. */
static inline float dac_value(float x, float scale, float res, float bound, const int sto, float u)
{
    float v;
    if (sto)
        v = rintf(x * scale / res + (u - 0.5f)) * res;
    else if (res > 0.0f)
        v = rintf(x * scale / res) * res;
    else
        v = x * scale;
    v = v > bound ? bound : v;
    return v < -bound ? -bound : v;
}

static void prepare_input(const io_dir *io, const float *restrict x, float scale,
                          float *restrict xq, const atl_rng_stream *rng, uint64_t base, int k,
                          int pass, io_scratch *sc)
{
    const atl_io_params *p = io->p;
    const int n = io->in_size;
    const float res = io->res_in, bound = io->in_bound;
    if (io->off_inp_sto >= 0) {
        float *restrict u = sc->u_in;
        atl_rng_uniform_fill_at(rng->seed, rng->stream,
                                region_block(base, io, k, pass, io->off_inp_sto), (size_t)n, u);
        for (int j = 0; j < n; j++)
            xq[j] = dac_value(x[j], scale, res, bound, 1, u[j]);
    } else if (res > 0.0f) {
        for (int j = 0; j < n; j++)
            xq[j] = dac_value(x[j], scale, res, bound, 0, 0.0f);
    } else {
        for (int j = 0; j < n; j++)
            xq[j] = dac_value(x[j], scale, 0.0f, bound, 0, 0.0f);
    }
    if (io->off_inp_noise >= 0) {
        float *restrict z = sc->nz_in;
        const float sig = p->inp_noise;
        atl_rng_normal_fill_at(rng->seed, rng->stream,
                               region_block(base, io, k, pass, io->off_inp_noise), (size_t)n, z);
        for (int j = 0; j < n; j++)
            xq[j] += sig * z[j];
    }
    if (p->inp_asymmetry != 0.0f) {
        const float a = 1.0f - p->inp_asymmetry;
        for (int j = 0; j < n; j++) {
            const float va = xq[j] * a;
            xq[j] = xq[j] < 0.0f ? va : xq[j];
        }
    }
}

/* Output stage of one vector: noise, ADC quantisation, clip in one pass (the flags are
 * compile-time constants in each instantiation, so every variant vectorises; the asymmetry, a
 * select that gcc will not if-convert together with the rest under -ftrapping-math, runs first
 * in its own loop when it is on). Returns whether the bound test failed (positive saturation,
 * or negative saturation with bm_test_negative_bound). */
static inline __attribute__((always_inline)) int
out_loop(float *restrict y, int n, const float *restrict sig_v, float sig,
         const float *restrict z, const float *restrict u, float res, float bound, int neg_test,
         const int noise, const int per_output, const int sto, const int quant)
{
    int pos = 0, neg = 0;
    for (int i = 0; i < n; i++) {
        float v = y[i];
        if (noise)
            v += (per_output ? sig_v[i] : sig) * z[i];
        if (sto)
            v = rintf(v / res + (u[i] - 0.5f)) * res;
        else if (quant)
            v = rintf(v / res) * res;
        pos |= v > bound;
        neg |= v < -bound;
        v = v > bound ? bound : v;
        y[i] = v < -bound ? -bound : v;
    }
    return pos || (neg && neg_test);
}

static int output_stage(const io_dir *io, float *restrict y, const atl_rng_stream *rng,
                        uint64_t base, int k, int pass, io_scratch *sc)
{
    const atl_io_params *p = io->p;
    const int n = io->out_size;
    const float res = io->res_out, bound = io->out_bound;
    if (p->out_asymmetry != 0.0f) {
        const float asym = 1.0f - p->out_asymmetry;
        for (int i = 0; i < n; i++) {
            const float va = y[i] * asym;
            y[i] = y[i] < 0.0f ? va : y[i];
        }
    }
    const int per_output = io->out_sigma != NULL;
    const int noise = per_output || p->out_noise > 0.0f;
    const int sto = io->off_out_sto >= 0;
    const int quant = res > 0.0f;
    const int neg_test = p->bm_test_negative_bound != 0;
    if (noise)
        atl_rng_normal_fill_at(rng->seed, rng->stream,
                               region_block(base, io, k, pass, io->off_out_noise), (size_t)n,
                               sc->nz_out);
    if (sto)
        atl_rng_uniform_fill_at(rng->seed, rng->stream,
                                region_block(base, io, k, pass, io->off_out_sto), (size_t)n,
                                sc->u_out);
    const float *sv = io->out_sigma, *z = sc->nz_out, *u = sc->u_out;
    const float sg = p->out_noise;
#define OUT_CASE(NO, PO, ST, QU)                                                                   \
    out_loop(y, n, sv, sg, z, u, res, bound, neg_test, NO, PO, ST, QU)
    if (!noise)
        return sto ? OUT_CASE(0, 0, 1, 1) : quant ? OUT_CASE(0, 0, 0, 1) : OUT_CASE(0, 0, 0, 0);
    if (per_output)
        return sto ? OUT_CASE(1, 1, 1, 1) : quant ? OUT_CASE(1, 1, 0, 1) : OUT_CASE(1, 1, 0, 0);
    return sto ? OUT_CASE(1, 0, 1, 1) : quant ? OUT_CASE(1, 0, 0, 1) : OUT_CASE(1, 0, 0, 0);
#undef OUT_CASE
}

/* ---------------------------------------------------------------------------------------------
 * MAC and the non-idealities between MAC and ADC (5.6 items 1 and 3). */

static void *xmalloc(size_t n)
{
    void *q = malloc(n ? n : 1);
    if (!q) {
        fprintf(stderr, "atl analog io: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

/* 64-byte aligned scratch: the MAC kernels are load-bound, and a 32-byte load that straddles
 * two cache lines costs about a third of their throughput (measured: 68 vs 46 GFLOP/s). */
static float *falloc(size_t n)
{
    size_t bytes = (sizeof(float) * (n ? n : 1) + 63u) & ~(size_t)63u;
    float *q = aligned_alloc(64, bytes);
    if (!q) {
        fprintf(stderr, "atl analog io: out of memory (%zu bytes)\n", bytes);
        abort();
    }
    return q;
}

/* Y (m x out, row stride ldy) = Xq (m x in, row stride ldx) through W (forward) or W^T. */
static void mac(const io_dir *io, const float *W, const float *X, size_t ldx, int m, float *Y,
                size_t ldy)
{
    if (io->backward)
        atl_io_mac_nn(W, io->d_size, io->x_size, X, ldx, m, Y, ldy);
    else
        atl_io_mac_nt(W, io->d_size, io->x_size, X, ldx, m, Y, ldy);
}

typedef struct io_aux {
    float *absW; /* |W|, only for IR drop and PCM read noise */
    float *tmp_in, *tmp_out, *tmp_out2;
} io_aux;

/* IR drop and weight noise for m prepared rows Xq with MAC results Y (rows in the same order as
 * the vectors ks[0..m-1], which fix the RNG positions). */
static void nonidealities(const io_dir *io, const float *W, const io_aux *aux, const float *Xq,
                          int m, float *Y, const int *ks, int pass, const atl_rng_stream *rng,
                          uint64_t base, io_scratch *sc)
{
    const atl_io_params *p = io->p;
    const int nin = io->in_size, nout = io->out_size;
    if (p->ir_drop > 0.0f) {
        /* a_i = (n_in / g) sum_j |w_ij||xq_j|; c_i = a_i (0.05 a_i^2 - 0.2 a_i + 0.5);
         * y_i -= c_i * ir_drop * sum_j w_ij xq_j (1 - (1 - j/n_in)^2). */
        const float a_scale = (float)nin / p->ir_drop_g_ratio;
        for (int t = 0; t < m; t++) {
            const float *xq = Xq + (size_t)t * io->ldi;
            float *ab = aux->tmp_in, *xp = aux->tmp_in + io->ldi;
            for (int j = 0; j < nin; j++) {
                ab[j] = fabsf(xq[j]);
                float q = 1.0f - (float)j / (float)nin;
                xp[j] = xq[j] * (1.0f - q * q);
            }
            mac(io, aux->absW, ab, 0, 1, aux->tmp_out, 0);
            mac(io, W, xp, 0, 1, aux->tmp_out2, 0);
            float *y = Y + (size_t)t * io->ldo;
            for (int i = 0; i < nout; i++) {
                float a = a_scale * aux->tmp_out[i];
                float c = a * (a * (0.05f * a - 0.2f) + 0.5f);
                y[i] -= c * (p->ir_drop * aux->tmp_out2[i]);
            }
        }
    }
    if (io->off_w_noise >= 0) {
        for (int t = 0; t < m; t++) {
            const float *xq = Xq + (size_t)t * io->ldi;
            float *y = Y + (size_t)t * io->ldo;
            float *z = sc->nz_w;
            atl_rng_normal_fill_at(rng->seed, rng->stream,
                                   region_block(base, io, ks[t], pass, io->off_w_noise),
                                   (size_t)nout, z);
            if (p->w_noise_type == ATL_WNOISE_ADDITIVE_CONSTANT) {
                double ss = 0.0;
                for (int j = 0; j < nin; j++)
                    ss += (double)xq[j] * (double)xq[j];
                const float sd = p->w_noise * (float)sqrt(ss);
                for (int i = 0; i < nout; i++)
                    y[i] += sd * z[i];
            } else { /* PCM read: sigma_i = w_noise sqrt(sum_j |w_ij| xq_j^2) */
                float *x2 = aux->tmp_in;
                for (int j = 0; j < nin; j++)
                    x2[j] = xq[j] * xq[j];
                mac(io, aux->absW, x2, 0, 1, aux->tmp_out, 0);
                for (int i = 0; i < nout; i++)
                    y[i] += p->w_noise * sqrtf(aux->tmp_out[i]) * z[i];
            }
        }
    }
}

static int needs_absW(const atl_io_params *p)
{
    return p->ir_drop > 0.0f ||
           (p->w_noise_type == ATL_WNOISE_PCM_READ && p->w_noise > 0.0f);
}

static void aux_init(io_aux *aux, const io_dir *io, const float *W)
{
    memset(aux, 0, sizeof *aux);
    aux->tmp_in = falloc(2 * io->ldi);
    aux->tmp_out = falloc(2 * io->ldo);
    aux->tmp_out2 = aux->tmp_out + io->ldo;
    if (needs_absW(io->p)) {
        const size_t sz = (size_t)io->d_size * (size_t)io->x_size;
        aux->absW = falloc(sz);
        for (size_t q = 0; q < sz; q++)
            aux->absW[q] = fabsf(W[q]);
    }
}

static void aux_free(io_aux *aux)
{
    free(aux->absW);
    free(aux->tmp_in);
    free(aux->tmp_out);
}

/* ---------------------------------------------------------------------------------------------
 * The per-vector algorithm of 5.2/5.3 for m vectors. Vectors are processed in chunks; within a
 * chunk, pass 0 of all vectors shares one MAC call, later passes recompute only the vectors whose
 * bound test failed (each with its own scale), again in one MAC call. */

enum { IO_CHUNK = 64 };

typedef struct vec_state {
    float s;      /* NM scale */
    float red;    /* current bound-management reduction */
    float scale;  /* input scale of the current pass */
    int nm_scale; /* NM scaling active */
    int zero;     /* output is 0 (NM shortcut) */
} vec_state;

static void set_scale(const io_dir *io, vec_state *v)
{
    const int nm_on = io->nm != ATL_NM_NONE;
    float scale = 1.0f;
    v->nm_scale = 0;
    if (nm_on && v->s > 0.0f) {
        scale /= v->s;
        v->nm_scale = 1;
    }
    if (io->bm != ATL_BM_NONE)
        scale /= v->red;
    v->scale = scale;
}

static void run(const io_dir *io, atl_io_state *st, const float *W, const float *in, int m,
                float alpha, float *out, atl_rng_stream *rng, atl_io_counters *cnt)
{
    const atl_io_params *p = io->p;
    const int nin = io->in_size, nout = io->out_size;
    if (m <= 0 || nin <= 0 || nout <= 0)
        return;
    if (cnt)
        cnt->mvm_vectors += (uint64_t)m;
    const float osa = p->out_scale * alpha;
    if (p->is_perfect) {
        mac(io, W, in, (size_t)nin, m, out, (size_t)nout);
        for (size_t q = 0; q < (size_t)m * (size_t)nout; q++)
            out[q] *= osa;
        return;
    }
    const uint64_t base = rng->block;
    atl_io_state local_state = {0.0f, 0, NULL};
    if (!st)
        st = &local_state;

    const size_t ldi = io->ldi, ldo = io->ldo;
    const int chunk = m < IO_CHUNK ? m : IO_CHUNK;
    float *xq = falloc((size_t)chunk * ldi);
    float *xq2 = falloc((size_t)chunk * ldi);
    float *Y = falloc((size_t)chunk * ldo);
    float *y2 = falloc((size_t)chunk * ldo);
    float *scbuf = falloc(2 * ldi + 3 * ldo);
    vec_state *vs = xmalloc(sizeof(vec_state) * (size_t)chunk);
    int *pend = xmalloc(sizeof(int) * (size_t)chunk);
    int *ks = xmalloc(sizeof(int) * (size_t)chunk);
    io_scratch sc = {scbuf, scbuf + ldi, scbuf + 2 * ldi, scbuf + 2 * ldi + ldo,
                     scbuf + 2 * ldi + 2 * ldo};
    io_aux aux;
    aux_init(&aux, io, W);
    const int nm_on = io->nm != ATL_NM_NONE;

    for (int k0 = 0; k0 < m; k0 += chunk) {
        const int mc = m - k0 < chunk ? m - k0 : chunk;
        const float *X = in + (size_t)k0 * (size_t)nin;
        /* Pass 0 for every vector of the chunk. */
        for (int t = 0; t < mc; t++) {
            vec_state *v = &vs[t];
            const float *x = X + (size_t)t * (size_t)nin;
            v->s = nm_scale(io, io->nm, st, x, nin);
            v->red = 1.0f;
            v->zero = nm_on && v->s <= 0.0f && (io->backward || p->inp_noise <= 0.0f);
            ks[t] = k0 + t;
            if (v->zero) {
                memset(xq + (size_t)t * ldi, 0, sizeof(float) * (size_t)nin);
                continue;
            }
            set_scale(io, v);
            prepare_input(io, x, v->scale, xq + (size_t)t * ldi, rng, base, k0 + t, 0, &sc);
        }
        mac(io, W, xq, ldi, mc, Y, ldo);
        nonidealities(io, W, &aux, xq, mc, Y, ks, 0, rng, base, &sc);
        int npend = 0;
        for (int t = 0; t < mc; t++) {
            if (vs[t].zero)
                continue;
            int fail = output_stage(io, Y + (size_t)t * ldo, rng, base, k0 + t, 0, &sc);
            if (fail && io->passes > 1)
                pend[npend++] = t;
        }
        /* Later bound-management passes for the vectors that saturated. */
        for (int pass = 1; pass < io->passes && npend > 0; pass++) {
            for (int q = 0; q < npend; q++) {
                const int t = pend[q];
                vec_state *v = &vs[t];
                const float *x = X + (size_t)t * (size_t)nin;
                v->red *= 2.0f;
                if (io->bm == ATL_BM_ITERATIVE_WORST_CASE && pass == 1 &&
                    io->nm != ATL_NM_ABS_MAX_NP_SUM) {
                    v->s = nm_npsum(io, x, nin);
                    v->red = 1.0f;
                }
                set_scale(io, v);
                ks[q] = k0 + t;
                prepare_input(io, x, v->scale, xq2 + (size_t)q * ldi, rng, base, k0 + t, pass,
                              &sc);
            }
            mac(io, W, xq2, ldi, npend, y2, ldo);
            nonidealities(io, W, &aux, xq2, npend, y2, ks, pass, rng, base, &sc);
            if (cnt)
                cnt->bm_extra_passes += (uint64_t)npend;
            int nnext = 0;
            for (int q = 0; q < npend; q++) {
                const int t = pend[q];
                float *yr = y2 + (size_t)q * ldo;
                int fail = output_stage(io, yr, rng, base, k0 + t, pass, &sc);
                memcpy(Y + (size_t)t * ldo, yr, sizeof(float) * (size_t)nout);
                const float red = vs[t].red;
                const int stop = red > p->max_bm_factor ||
                                 (io->res_in > 0.0f && red > p->max_bm_res / io->res_in);
                if (fail && !stop)
                    pend[nnext++] = t;
            }
            npend = nnext;
        }
        /* Digital output scaling into the caller's buffer. Forward: out_scale alpha / scale
         * (= out_scale alpha s red); backward: out_scale alpha s. */
        for (int t = 0; t < mc; t++) {
            float *restrict yo = out + (size_t)(k0 + t) * (size_t)nout;
            const float *restrict yi = Y + (size_t)t * ldo;
            if (vs[t].zero) {
                memset(yo, 0, sizeof(float) * (size_t)nout);
                continue;
            }
            float f;
            if (io->backward)
                f = vs[t].nm_scale ? osa * vs[t].s : osa;
            else
                f = osa / vs[t].scale;
            for (int i = 0; i < nout; i++)
                yo[i] = yi[i] * f;
        }
    }
    rng->block = base + (uint64_t)m * io->vec_blocks;
    aux_free(&aux);
    free(xq);
    free(xq2);
    free(Y);
    free(y2);
    free(scbuf);
    free(vs);
    free(pend);
    free(ks);
}

/* ---------------------------------------------------------------------------------------------
 * Public entry points */

void atl_io_forward(const atl_io_params *p, atl_io_state *st, const float *W, int d_size,
                    int x_size, const float *x, int m, float alpha, float *y, atl_rng_stream *rng,
                    atl_io_counters *cnt)
{
    io_dir io;
    dir_init(&io, p, 0, d_size, x_size, p->noise_management, p->bound_management,
             st ? st->out_noise_values : NULL);
    run(&io, st, W, x, m, alpha, y, rng, cnt);
}

void atl_io_backward(const atl_io_params *p, atl_io_state *st, const float *W, int d_size,
                     int x_size, const float *d, int m, float alpha, float *z, atl_rng_stream *rng,
                     atl_io_counters *cnt)
{
    io_dir io;
    dir_init(&io, p, 1, d_size, x_size, p->noise_management, ATL_BM_NONE,
             st ? st->out_noise_values : NULL);
    run(&io, st, W, d, m, alpha, z, rng, cnt);
}

uint64_t atl_io_forward_blocks(const atl_io_params *p, int d_size, int x_size, int m)
{
    io_dir io;
    dir_init(&io, p, 0, d_size, x_size, p->noise_management, p->bound_management, NULL);
    return m > 0 ? (uint64_t)m * io.vec_blocks : 0;
}

uint64_t atl_io_backward_blocks(const atl_io_params *p, int d_size, int x_size, int m)
{
    io_dir io;
    dir_init(&io, p, 1, d_size, x_size, p->noise_management, ATL_BM_NONE, NULL);
    return m > 0 ? (uint64_t)m * io.vec_blocks : 0;
}

int atl_io_max_passes(const atl_io_params *p)
{
    return io_passes(p, p->bound_management, atl_io_res_in(p));
}

/* Transfer reads (5.7): one-hot input, NM and BM off, alpha 1. Without input noise or IR drop
 * the MAC of a one-hot vector is the column (row) times the prepared input value, which is what
 * the general kernels compute too (all other products are zero; equal up to the sign of zero),
 * so the read costs O(out_size) instead of a full matrix-vector product. */
static void read_line(const atl_io_params *p, const float *W, int d_size, int x_size, int backward,
                      int idx, float *v, atl_rng_stream *rng, atl_io_counters *cnt)
{
    io_dir io;
    dir_init(&io, p, backward, d_size, x_size, ATL_NM_NONE, ATL_BM_NONE, NULL);
    const int nin = io.in_size, nout = io.out_size;
    if (idx < 0 || idx >= nin || nout <= 0)
        return;
    const int general = p->is_perfect || p->inp_noise > 0.0f || p->ir_drop > 0.0f ||
                        (p->w_noise_type != ATL_WNOISE_NONE && p->w_noise > 0.0f);
    if (general) {
        float *e = xmalloc(sizeof(float) * (size_t)nin);
        memset(e, 0, sizeof(float) * (size_t)nin);
        e[idx] = 1.0f;
        run(&io, NULL, W, e, 1, 1.0f, v, rng, cnt);
        free(e);
        return;
    }
    if (cnt)
        cnt->mvm_vectors += 1;
    const uint64_t base = rng->block;
    /* The prepared one-hot input: the zeros stay zero through the DAC, so only line idx needs
     * computing; with stochastic rounding its uniform is element idx of the region. */
    float a;
    if (io.off_inp_sto >= 0) {
        float u4[4];
        atl_rng_uniform_fill_at(rng->seed, rng->stream,
                                region_block(base, &io, 0, 0, io.off_inp_sto) + (uint64_t)idx / 4u,
                                4, u4);
        a = dac_value(1.0f, 1.0f, io.res_in, io.in_bound, 1, u4[idx % 4]);
    } else {
        a = dac_value(1.0f, 1.0f, io.res_in, io.in_bound, 0, 0.0f);
    }
    if (p->inp_asymmetry != 0.0f && a < 0.0f)
        a *= 1.0f - p->inp_asymmetry;
    if (backward) {
        const float *row = W + (size_t)idx * (size_t)x_size;
        for (int j = 0; j < nout; j++)
            v[j] = row[j] * a;
    } else {
        for (int i = 0; i < nout; i++)
            v[i] = W[(size_t)i * (size_t)x_size + (size_t)idx] * a;
    }
    float *scbuf = falloc(2 * io.ldo);
    io_scratch sc = {NULL, NULL, scbuf, scbuf + io.ldo, NULL};
    output_stage(&io, v, rng, base, 0, 0, &sc);
    const float f = p->out_scale;
    for (int i = 0; i < nout; i++)
        v[i] *= f;
    rng->block = base + io.vec_blocks;
    free(scbuf);
}

void atl_io_read_column(const atl_io_params *p, const float *W, int d_size, int x_size, int col,
                        float *v, atl_rng_stream *rng, atl_io_counters *cnt)
{
    read_line(p, W, d_size, x_size, 0, col, v, rng, cnt);
}

void atl_io_read_row(const atl_io_params *p, const float *W, int d_size, int x_size, int row,
                     float *v, atl_rng_stream *rng, atl_io_counters *cnt)
{
    read_line(p, W, d_size, x_size, 1, row, v, rng, cnt);
}

uint64_t atl_io_read_blocks(const atl_io_params *p, int d_size, int x_size, int backward)
{
    io_dir io;
    dir_init(&io, p, backward != 0, d_size, x_size, ATL_NM_NONE, ATL_BM_NONE, NULL);
    return io.vec_blocks;
}

void atl_io_draw_out_noise_values(const atl_io_params *p, int out_size, float *values,
                                  atl_rng_stream *rng)
{
    if (out_size <= 0)
        return;
    atl_rng_normal(rng, (size_t)out_size, values);
    for (int i = 0; i < out_size; i++)
        values[i] = fabsf(p->out_noise * (1.0f + p->out_noise_std * values[i]));
}
