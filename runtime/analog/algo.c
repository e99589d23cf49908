/* Training algorithms as tile update rules (§4), one vector at a time (decision 1):
 *   sgd            pulsed update of the single device (§1.7)
 *   mp             MixedPrecisionCompound: digital rank update into chi, row-wise pulsed transfer
 *   tt             TransferCompound (Tiki-Taka v1, §4.3)
 *   ttv2-buffered  BufferedTransferCompound (§4.4)
 *   chopped        ChoppedTransferCompound: c-TTv2 (§4.5, step order followed exactly) and the
 *                  `ttv2` build config (the same compound without choppers and auto-scale)
 *   agad           DynamicTransferCompound (§4.6)
 *
 * RNG positions: the main update of vector number u (t->upd_counter) draws from streams
 * an_stream(tile, AN_TAG_UPD_*, u); transfer number v (t->tr_counter) from AN_TAG_TR_* with v;
 * chopper flips of transfer v from an_stream(tile, AN_TAG_CHOP, v): element 0 for the in-chopper,
 * element 1 + j for out-chopper j. */
#include "analog_internal.h"

#include <math.h>
#include <string.h>

static inline float absmax_f(const float *v, int n)
{
    float m = 0.0f;
    for (int k = 0; k < n; k++) {
        float a = fabsf(v[k]);
        m = a > m ? a : m;
    }
    return m;
}

static an_pulse_rng main_rng(const atl_tile *t)
{
    an_pulse_rng r;
    const uint64_t s = t->cfg.stream, u = t->upd_counter;
    r.seed = t->cfg.seed;
    r.s_bx = an_stream(s, AN_TAG_UPD_BX, u);
    r.s_bd = an_stream(s, AN_TAG_UPD_BD, u);
    r.s_noise = an_stream(s, AN_TAG_UPD_PULSE, u);
    r.s_sto = an_stream(s, AN_TAG_UPD_STO, u);
    return r;
}

static an_pulse_rng transfer_rng(const atl_tile *t)
{
    an_pulse_rng r;
    const uint64_t s = t->cfg.stream, v = t->tr_counter;
    r.seed = t->cfg.seed;
    r.s_bx = an_stream(s, AN_TAG_TR_BX, v);
    r.s_bd = an_stream(s, AN_TAG_TR_BD, v);
    r.s_noise = an_stream(s, AN_TAG_TR_PULSE, v);
    r.s_sto = an_stream(s, AN_TAG_TR_STO, v);
    return r;
}

static inline float chop_uniform(const atl_tile *t, uint64_t k)
{
    return atl_u32_to_unit(atl_rng_u32_at(t->cfg.seed, an_stream(t->cfg.stream, AN_TAG_CHOP,
                                                                  t->tr_counter),
                                          k));
}

/* Granularity of the compound (§2.10, §4.2): the mean of the sub-device granularities. */
static inline float compound_granularity(const atl_tile *t)
{
    return t->has_c ? 0.5f * (t->A.granularity + t->C.granularity) : t->A.granularity;
}

/* TransferRPUDevice::getPulseCountLearningRate (§4.3). */
static inline float transfer_fast_lr(const atl_algo_params *ap, float lr)
{
    return ap->fast_lr > 0 ? (ap->scale_fast_lr ? ap->fast_lr * lr : ap->fast_lr) : lr;
}

/* Transfer period in vector updates (§4.3, §4.5 automatic transfer_every). */
static int64_t transfer_every(const atl_tile *t, int m_batch)
{
    const atl_algo_params *ap = &t->cfg.ap;
    float te = ap->transfer_every;
    if (te < 0) {
        double ns = atl_dev_n_states(&t->cfg.dev_a);
        double e = rint(ns / (double)t->in_size * fabs((double)te));
        return e < 1 ? 1 : (int64_t)e;
    }
    if (ap->units_in_mbatch) {
        double e = ceil((double)te * (double)m_batch);
        return e > 0 ? (int64_t)e : 0;
    }
    double e = rint((double)te);
    return e > 0 ? (int64_t)e : 0;
}

/* Analog read of slice i of A's apparent weights through the transfer IO (§5.7) into v. */
static void read_slice(atl_tile *t, int i, float *v)
{
    atl_rng_stream rs = atl_rng_stream_make(
        t->cfg.seed, an_stream(t->cfg.stream, AN_TAG_TR_READ, t->tr_counter));
    atl_io_counters c = {0, 0};
    if (t->cfg.ap.transfer_columns)
        atl_io_read_column(&t->cfg.io_transfer, t->A.wa, t->d_size, t->x_size, i, v, &rs, &c);
    else
        atl_io_read_row(&t->cfg.io_transfer, t->A.wa, t->d_size, t->x_size, i, v, &rs, &c);
    t->cnt.transfer_reads += 1;
}

/* Pulsed write of -u (per output) into slice i of `to` via one-hot vectors: columns:
 * x = e_i, d = u; rows: d = e_i, x = u. */
static void write_slice(atl_tile *t, an_dev *to, int i, const float *u, float lr, float g,
                        const atl_update_params *up, uint64_t *n_up, uint64_t *n_down)
{
    an_pulse_rng r = transfer_rng(t);
    if (t->cfg.ap.transfer_columns) {
        t->tmp_x[i] = 1.0f;
        an_pulsed_update(to, t->tmp_x, u, lr, g, up, &r, &t->work, t->threads, n_up, n_down);
        t->tmp_x[i] = 0.0f;
    } else {
        t->tmp_d[i] = 1.0f;
        an_pulsed_update(to, u, t->tmp_d, lr, g, up, &r, &t->work, t->threads, n_up, n_down);
        t->tmp_d[i] = 0.0f;
    }
}

static inline size_t h_index(const atl_tile *t, int slice, int j)
{
    return t->cfg.ap.transfer_columns ? (size_t)j * (size_t)t->x_size + (size_t)slice
                                      : (size_t)slice * (size_t)t->x_size + (size_t)j;
}

/* ------------------------------------------------------------------------------- sgd */
static void sgd_update(atl_tile *t, const float *x, const float *d, float lr)
{
    an_pulse_rng r = main_rng(t);
    an_pulsed_update(&t->A, x, d, lr, t->A.granularity, &t->cfg.up, &r, &t->work, t->threads,
                     &t->cnt.pulses_up_a, &t->cnt.pulses_down_a);
}

/* ------------------------------------------------------------------------------- mixed precision
 * MixedPrecisionCompound (reference rpu_mixedprec_device*.cpp):
 *  1. chi += lr * q(d) q(x)^T (digital rank update; optional symmetric binning of x and d by
 *     their abs-max into n_x_bins / n_d_bins levels, with optional stochastic rounding);
 *  2. if the update counter (vectors since the last set) is > 0 and a multiple of
 *     transfer_every * m_batch: transfer n_rows_per_transfer rows (-1: all) starting at the row
 *     pointer (or a random row): for each row r, n = trunc(chi_r / g), chi_r -= n g, and the
 *     device row receives the pulsed update x = n, d = e_r, lr = g * transfer_lr with update
 *     management and bit-length management forced on (so each n_j becomes ~|n_j| pulses);
 *  3. the counter advances.
 * g is `granularity` or the device granularity. The reference writes the binned d into the x
 * buffer index in one branch (qd_[i]); atl uses the d index. */
static void mp_quantize(const float *v, int n, int bins, int sto, uint64_t seed, uint64_t stream,
                        float *out)
{
    if (bins <= 0) {
        memcpy(out, v, (size_t)n * sizeof(float));
        return;
    }
    float half = (float)(bins / 2);
    float amax = absmax_f(v, n);
    float width = amax / half;
    if (width == 0.0f || !(half > 0))
        width = 1.0f;
    for (int k = 0; k < n; k++) {
        float s = sto ? atl_u32_to_unit(atl_rng_u32_at(seed, stream, (uint64_t)k)) - 0.5f : 0.0f;
        float q = rintf(v[k] / width + s);
        q = fminf(fmaxf(q, -half), half);
        out[k] = q * width;
    }
}

static void mp_update(atl_tile *t, const float *x, const float *d, float lr, int m_batch)
{
    const atl_algo_params *ap = &t->cfg.ap;
    const int D = t->d_size, X = t->x_size;
    const uint64_t s = an_stream(t->cfg.stream, AN_TAG_MP, t->upd_counter);
    float *qx = t->tmp_v, *qd = t->tmp_u;
    mp_quantize(x, X, ap->n_x_bins, ap->stoc_round_x, t->cfg.seed, atl_rng_derive_stream(s, 0),
                qx);
    mp_quantize(d, D, ap->n_d_bins, ap->stoc_round_d, t->cfg.seed, atl_rng_derive_stream(s, 1),
                qd);
    for (int i = 0; i < D; i++) {
        float a = lr * qd[i];
        if (a == 0.0f)
            continue;
        float *c = t->chi + (size_t)i * (size_t)X;
        for (int j = 0; j < X; j++)
            c[j] = c[j] + a * qx[j];
    }
    int64_t every = (int64_t)ap->transfer_every * (int64_t)m_batch;
    if (every > 0 && t->current_update_idx > 0 && t->current_update_idx % (uint64_t)every == 0 &&
        ap->n_rows_per_transfer != 0 && ap->transfer_lr != 0.0f) {
        const float g = ap->granularity > 0 ? ap->granularity : t->A.granularity;
        int n_rows = ap->n_rows_per_transfer < 0 ? D : ap->n_rows_per_transfer;
        if (n_rows > D)
            n_rows = D;
        int row = t->slice;
        if (ap->random_row && n_rows < D) {
            float u = atl_u32_to_unit(atl_rng_u32_at(t->cfg.seed, atl_rng_derive_stream(s, 2), 0));
            row = (int)floorf(u * (float)D);
            row = row < 0 ? 0 : (row > D - 1 ? D - 1 : row);
        }
        atl_update_params up = t->cfg.up;
        up.update_management = 1;
        up.update_bl_management = 1;
        float *cnt = t->tmp_v; /* x buffer of the row write */
        for (int k = 0; k < n_rows; k++) {
            int r = (row + k) % D;
            float *c = t->chi + (size_t)r * (size_t)X;
            int any = 0;
            for (int j = 0; j < X; j++) {
                float dw = truncf(c[j] / g);
                cnt[j] = dw;
                c[j] = c[j] - dw * g;
                any |= dw != 0.0f;
            }
            if (any) {
                an_pulse_rng rr = transfer_rng(t);
                t->tmp_d[r] = 1.0f;
                an_pulsed_update(&t->A, cnt, t->tmp_d, g * ap->transfer_lr, g, &up, &rr, &t->work,
                                 t->threads, &t->cnt.pulses_up_a, &t->cnt.pulses_down_a);
                t->tmp_d[r] = 0.0f;
            }
            t->tr_counter++;
        }
        t->slice = (row + n_rows) % D;
        t->cnt.transfers += 1;
    }
    t->current_update_idx++;
}

/* ------------------------------------------------------------------------------- tiki-taka v1 */
static void tt_transfer(atl_tile *t, float lr)
{
    const atl_algo_params *ap = &t->cfg.ap;
    const int i = t->slice;
    const float lr_t = ap->transfer_lr * (ap->scale_transfer_lr ? lr : 1.0f);
    if (lr_t != 0.0f) {
        float *v = t->tmp_v;
        read_slice(t, i, v);
        for (int j = 0; j < t->out_size; j++)
            v[j] = -v[j]; /* read with alpha = -1 */
        if (ap->with_reset_prob > 0 && chop_uniform(t, 0) < ap->with_reset_prob) {
            if (ap->transfer_columns) {
                an_dev_reset_col(&t->A, i, t->cfg.seed,
                                 an_stream(t->cfg.stream, AN_TAG_RESET, t->tr_counter));
            } else {
                /* row reset: the same rule applied to row i */
                const int X = t->x_size;
                for (int j = 0; j < X; j++) {
                    size_t k = (size_t)i * (size_t)X + (size_t)j;
                    float z[2];
                    atl_rng_normal_fill_at(t->cfg.seed,
                                           an_stream(t->cfg.stream, AN_TAG_RESET, t->tr_counter),
                                           (uint64_t)j, 2, z);
                    float w = t->A.reset_bias[k] + t->A.p.reset_std * z[0];
                    w = fminf(fmaxf(w, AN_C(&t->A, k, AN_LO)), AN_C(&t->A, k, AN_HI));
                    t->A.w[k] = w;
                    if (t->A.wa != t->A.w)
                        t->A.wa[k] = w + t->A.wn_sigma * z[1];
                }
            }
        }
        uint64_t before = t->cnt.pulses_up_c + t->cnt.pulses_down_c;
        write_slice(t, &t->C, i, v, lr_t, t->C.granularity, &t->cfg.up_transfer,
                    &t->cnt.pulses_up_c, &t->cnt.pulses_down_c);
        if (t->cnt.pulses_up_c + t->cnt.pulses_down_c != before)
            t->cnt.c_writes++;
        t->cnt.transfers++;
        t->tr_counter++;
    }
    t->slice = (i + 1) % t->in_size;
}

static void tt_update(atl_tile *t, const float *x, const float *d, float lr, int m_batch)
{
    const atl_algo_params *ap = &t->cfg.ap;
    float c = transfer_fast_lr(ap, lr);
    an_pulse_rng r = main_rng(t);
    an_pulsed_update(&t->A, x, d, fabsf(c), compound_granularity(t), &t->cfg.up, &r, &t->work,
                     t->threads, &t->cnt.pulses_up_a, &t->cnt.pulses_down_a);
    t->current_update_idx++;
    int64_t every = transfer_every(t, m_batch);
    if (every > 0 && t->current_update_idx % (uint64_t)every == 0)
        tt_transfer(t, lr);
    an_tile_reduce(t);
}

/* ------------------------------------------------------------------------------- buffered TTv2 */
static void buffered_transfer(atl_tile *t, float lr)
{
    const atl_algo_params *ap = &t->cfg.ap;
    const int i = t->slice;
    float lr_t = ap->transfer_lr * (ap->scale_transfer_lr ? lr : 1.0f);
    if (t->gamma_vec[0] > 0 && t->gamma_vec[1] > 0)
        lr_t *= t->gamma_vec[0] / t->gamma_vec[1];
    if (lr_t != 0.0f) {
        const float dwc = t->C.granularity;
        const float thr = ap->thres_scale * dwc;
        const float blt = (float)t->cfg.up_transfer.desired_bl;
        float *v = t->tmp_v, *u = t->tmp_u;
        read_slice(t, i, v);
        int nz = 0;
        for (int j = 0; j < t->out_size; j++) {
            size_t k = h_index(t, i, j);
            float h = t->H[k] + fabsf(lr_t) * v[j];
            float n = fminf(fmaxf(truncf(h / thr), -blt), blt);
            if (n != 0.0f) {
                h = ap->forget_buffer ? h * ap->momentum : h - (1.0f - ap->momentum) * n * thr;
                nz = 1;
            }
            t->H[k] = h;
            u[j] = -n;
        }
        if (nz) {
            write_slice(t, &t->C, i, u, ap->step * dwc, dwc, &t->cfg.up_transfer,
                        &t->cnt.pulses_up_c, &t->cnt.pulses_down_c);
            t->cnt.c_writes++;
        }
        t->cnt.transfers++;
        t->tr_counter++;
    }
    t->slice = (i + 1) % t->in_size;
}

static void buffered_update(atl_tile *t, const float *x, const float *d, float lr, int m_batch)
{
    const atl_algo_params *ap = &t->cfg.ap;
    float c = transfer_fast_lr(ap, lr);
    an_pulse_rng r = main_rng(t);
    an_pulsed_update(&t->A, x, d, fabsf(c), compound_granularity(t), &t->cfg.up, &r, &t->work,
                     t->threads, &t->cnt.pulses_up_a, &t->cnt.pulses_down_a);
    t->current_update_idx++;
    int64_t every = transfer_every(t, m_batch);
    if (every > 0 && t->current_update_idx % (uint64_t)every == 0)
        buffered_transfer(t, lr);
    an_tile_reduce(t);
}

/* ------------------------------------------------------------------------------- chopped (c-TTv2) */
/* §4.5 step 1: updateAutoScale */
static inline void auto_scale_ema(float *m, float v, float auto_momentum, int m_batch)
{
    if (*m <= 0.0f) {
        *m = v;
        return;
    }
    if (v <= 0.0f)
        return;
    float tau = (1.0f - auto_momentum) / (float)m_batch;
    *m = (1.0f - tau) * *m + tau * v;
}

/* §4.5 step 2 (shared by AGAD) */
static float chopped_count_lr(atl_tile *t, float lr)
{
    const atl_algo_params *ap = &t->cfg.ap;
    float c;
    if (ap->auto_scale && ap->fast_lr > 0) {
        c = ap->fast_lr * (float)t->cfg.up.desired_bl * t->A.granularity;
        if (t->m_x > 0 && t->m_d > 0)
            c /= t->m_x * t->m_d;
        if (ap->scale_fast_lr)
            c *= lr;
    } else {
        c = transfer_fast_lr(ap, lr);
    }
    t->count_lr_last = c;
    return c;
}

/* §4.5 step 3: the A update with the pulse signs multiplied by the choppers, i.e. the pulsed
 * update of chi_x (.) x and chi_d (.) d (negation is exact, probabilities use |x|, |d|). */
static void chopped_a_update(atl_tile *t, const float *x, const float *d, float c)
{
    const int cols = t->cfg.ap.transfer_columns;
    const int8_t *cx = cols ? t->chop_in : t->chop_out;
    const int8_t *cd = cols ? t->chop_out : t->chop_in;
    float *xc = t->tmp_x, *dc = t->tmp_d;
    /* tmp_x / tmp_d are all-zero between uses (one-hot writes restore them) */
    for (int j = 0; j < t->x_size; j++)
        xc[j] = cx[j] ? -x[j] : x[j];
    for (int i = 0; i < t->d_size; i++)
        dc[i] = cd[i] ? -d[i] : d[i];
    an_pulse_rng r = main_rng(t);
    an_pulsed_update(&t->A, xc, dc, fabsf(c), compound_granularity(t), &t->cfg.up, &r, &t->work,
                     t->threads, &t->cnt.pulses_up_a, &t->cnt.pulses_down_a);
    memset(xc, 0, (size_t)t->x_size * sizeof(float));
    memset(dc, 0, (size_t)t->d_size * sizeof(float));
}

/* getTransferLRScale (§4.5 step 4) */
static float chopped_lr_scale(const atl_tile *t, float lr_t)
{
    const atl_algo_params *ap = &t->cfg.ap;
    const float dwa = t->A.granularity, dwc = t->C.granularity;
    float bg = ap->buffer_granularity > 0 ? ap->buffer_granularity : 1.0f;
    if (ap->auto_granularity > 0)
        bg *= dwa * ap->auto_granularity / ((float)t->in_size * fabsf(ap->transfer_every));
    else
        bg *= dwa;
    if (ap->correct_gradient_magnitudes) {
        bg *= dwc / dwa;
        return fabsf(lr_t) / t->count_lr_last / bg;
    }
    return fabsf(lr_t) / bg;
}

static void chopped_transfer(atl_tile *t, float lr)
{
    const atl_algo_params *ap = &t->cfg.ap;
    const int i = t->slice;
    float lr_t = ap->transfer_lr * (ap->scale_transfer_lr ? lr : 1.0f);
    if (t->gamma_vec[0] > 0 && t->gamma_vec[1] > 0)
        lr_t *= t->gamma_vec[0] / t->gamma_vec[1];
    if (lr_t != 0.0f) {
        const float lr_scale = chopped_lr_scale(t, lr_t);
        const float sub_mom = 1.0f - fmaxf(fminf(ap->momentum, 1.0f), 0.0f);
        const float blt = (float)t->cfg.up_transfer.desired_bl;
        float *v = t->tmp_v, *u = t->tmp_u;
        read_slice(t, i, v);
        const int8_t ci = t->chop_in[i];
        int nz = 0;
        for (int j = 0; j < t->out_size; j++) {
            size_t k = h_index(t, i, j);
            float h = ap->no_buffer ? 0.0f : t->H[k];
            float val = v[j] * lr_scale;
            h += (ci != t->chop_out[j]) ? -val : val;
            float n = 0.0f;
            if (fabsf(h) >= 1.0f) {
                n = fmaxf(fminf(truncf(h), blt), -blt);
                h = ap->forget_buffer ? h * ap->momentum : h - sub_mom * n;
                nz++;
            }
            t->H[k] = h;
            u[j] = -n;
        }
        if (nz > 0) {
            const float dwc = t->C.granularity;
            write_slice(t, &t->C, i, u, ap->step * dwc, dwc, &t->cfg.up_transfer,
                        &t->cnt.pulses_up_c, &t->cnt.pulses_down_c);
            t->cnt.c_writes++;
        }
        /* chopper bookkeeping after the read/write of slice i */
        if (ap->in_chop_prob > 0) {
            if (ap->in_chop_random) {
                if (chop_uniform(t, 0) < ap->in_chop_prob) {
                    t->chop_in[i] ^= 1;
                    t->cnt.chopper_flips++;
                }
            } else {
                uint64_t P = (uint64_t)fmax(ceil(1.0 / (double)ap->in_chop_prob), 2.0);
                if ((t->transfer_counter % P) + 1 == P) {
                    t->chop_in[i] ^= 1;
                    t->cnt.chopper_flips++;
                }
            }
        }
        if (i == t->in_size - 1 && ap->out_chop_prob > 0) {
            for (int j = 0; j < t->out_size; j++)
                if (chop_uniform(t, 1 + (uint64_t)j) < ap->out_chop_prob) {
                    t->chop_out[j] ^= 1;
                    t->cnt.chopper_flips++;
                }
        }
        if (i == t->in_size - 1)
            t->transfer_counter++;
        t->cnt.transfers++;
        t->tr_counter++;
    }
    t->slice = (i + 1) % t->in_size;
}

static void chopped_update(atl_tile *t, const float *x, const float *d, float lr, int m_batch)
{
    const atl_algo_params *ap = &t->cfg.ap;
    /* 1. auto-scale EMAs */
    if (ap->auto_scale) {
        auto_scale_ema(&t->m_x, absmax_f(x, t->x_size), ap->auto_momentum, m_batch);
        auto_scale_ema(&t->m_d, absmax_f(d, t->d_size), ap->auto_momentum, m_batch);
    }
    /* 2. pulse-count learning rate */
    float c = chopped_count_lr(t, lr);
    /* 3. chopped A update */
    chopped_a_update(t, x, d, c);
    /* 4. transfer */
    t->current_update_idx++;
    int64_t every = transfer_every(t, m_batch);
    if (every > 0 && t->current_update_idx % (uint64_t)every == 0)
        chopped_transfer(t, lr);
    /* 5. visible weights */
    an_tile_reduce(t);
}

/* ------------------------------------------------------------------------------- AGAD */
static void agad_transfer(atl_tile *t, float lr)
{
    const atl_algo_params *ap = &t->cfg.ap;
    const int i = t->slice;
    float lr_t = ap->transfer_lr * (ap->scale_transfer_lr ? lr : 1.0f);
    if (t->gamma_vec[0] > 0 && t->gamma_vec[1] > 0)
        lr_t *= t->gamma_vec[0] / t->gamma_vec[1];
    if (lr_t != 0.0f) {
        const uint64_t N = (uint64_t)fmax(ceil(1.0 / (double)ap->in_chop_prob), 2.0);
        const uint64_t cur = (t->transfer_counter % N) + 1;
        const float beta = fminf(ap->tail_weightening / (float)N, 1.0f);
        const int prev_switched = t->switched[i];
        t->switched[i] = 0;
        float lr_scale = chopped_lr_scale(t, lr_t);
        if (ap->experimental_correct_accumulation)
            lr_scale /= fminf((float)cur, 1.0f / t->A.granularity);
        const float blt = (float)t->cfg.up_transfer.desired_bl;
        const float cap = blt * ap->buffer_cap;
        float *v = t->tmp_v, *u = t->tmp_u;
        read_slice(t, i, v);
        const int8_t ci = t->chop_in[i];
        int nz = 0;
        for (int j = 0; j < t->out_size; j++) {
            size_t k = h_index(t, i, j);
            float val = v[j];
            float omega = t->H[k];
            float mu_past = t->P[k];
            if (prev_switched) {
                mu_past = t->M[k];
                t->P[k] = mu_past;
            }
            float dw = val - mu_past;
            if (ci != t->chop_out[j])
                dw = -dw;
            omega += dw * lr_scale;
            float n = 0.0f;
            if (fabsf(omega) >= 1.0f) {
                n = fmaxf(fminf(truncf(omega), blt), -blt);
                if (ap->forget_buffer) {
                    omega *= ap->momentum;
                } else {
                    omega -= (1.0f - ap->momentum) * n;
                    if (cap > 0)
                        omega = fminf(fmaxf(omega, -cap), cap);
                }
                nz++;
            }
            t->H[k] = omega;
            u[j] = -n;
            t->M[k] = t->M[k] * (1.0f - beta) + val * beta;
        }
        if (nz > 0 && t->transfer_counter > N) {
            const float dwc = t->C.granularity;
            write_slice(t, &t->C, i, u, ap->step * dwc, dwc, &t->cfg.up_transfer,
                        &t->cnt.pulses_up_c, &t->cnt.pulses_down_c);
            t->cnt.c_writes++;
        }
        int sw = cur == N;
        if (ap->in_chop_random && chop_uniform(t, 0) < ap->in_chop_prob)
            sw = 1;
        if (sw) {
            t->chop_in[i] ^= 1;
            t->switched[i] = 1;
            t->cnt.chopper_flips++;
        }
        if (i == t->in_size - 1)
            t->transfer_counter++;
        t->cnt.transfers++;
        t->tr_counter++;
    }
    t->slice = (i + 1) % t->in_size;
}

static void agad_update(atl_tile *t, const float *x, const float *d, float lr, int m_batch)
{
    const atl_algo_params *ap = &t->cfg.ap;
    if (ap->auto_scale) {
        auto_scale_ema(&t->m_x, absmax_f(x, t->x_size), ap->auto_momentum, m_batch);
        auto_scale_ema(&t->m_d, absmax_f(d, t->d_size), ap->auto_momentum, m_batch);
    }
    float c = chopped_count_lr(t, lr);
    chopped_a_update(t, x, d, c);
    t->current_update_idx++;
    int64_t every = transfer_every(t, m_batch);
    if (every > 0 && t->current_update_idx % (uint64_t)every == 0)
        agad_transfer(t, lr);
    an_tile_reduce(t);
}

/* ------------------------------------------------------------------------------- dispatch */
void an_algo_update_vector(atl_tile *t, const float *x, const float *d, float lr, int m_batch)
{
    switch (t->cfg.algo) {
    case ATL_ALGO_SGD: sgd_update(t, x, d, lr); break;
    case ATL_ALGO_MP: mp_update(t, x, d, lr, m_batch); break;
    case ATL_ALGO_TT: tt_update(t, x, d, lr, m_batch); break;
    case ATL_ALGO_TTV2_BUFFERED: buffered_update(t, x, d, lr, m_batch); break;
    case ATL_ALGO_CHOPPED: chopped_update(t, x, d, lr, m_batch); break;
    case ATL_ALGO_AGAD: agad_update(t, x, d, lr, m_batch); break;
    default: break;
    }
    t->upd_counter++;
    t->cnt.updates++;
}
