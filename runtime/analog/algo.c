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

static inline float absmax_f(const float *v, int n) { return an_absmax(v, n); }

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

/* Streams of transfer number v (t->tr_counter when the transfer runs). */
static an_pulse_rng transfer_rng_at(const atl_tile *t, uint64_t v)
{
    an_pulse_rng r;
    const uint64_t s = t->cfg.stream;
    r.seed = t->cfg.seed;
    r.s_bx = an_stream(s, AN_TAG_TR_BX, v);
    r.s_bd = an_stream(s, AN_TAG_TR_BD, v);
    r.s_noise = an_stream(s, AN_TAG_TR_PULSE, v);
    r.s_sto = an_stream(s, AN_TAG_TR_STO, v);
    return r;
}

static an_pulse_rng transfer_rng(const atl_tile *t) { return transfer_rng_at(t, t->tr_counter); }

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

/* Analog read of slice i of A's apparent weights through the transfer IO (§5.7) into v, as
 * transfer number trc. */
static void read_slice_at(atl_tile *t, int i, float *v, uint64_t trc)
{
    atl_rng_stream rs =
        atl_rng_stream_make(t->cfg.seed, an_stream(t->cfg.stream, AN_TAG_TR_READ, trc));
    atl_io_counters c = {0, 0};
    if (t->cfg.ap.transfer_columns)
        atl_io_read_column(&t->cfg.io_transfer, t->A.wa, t->d_size, t->x_size, i, v, &rs, &c);
    else
        atl_io_read_row(&t->cfg.io_transfer, t->A.wa, t->d_size, t->x_size, i, v, &rs, &c);
    t->cnt.transfer_reads += 1;
}

static void read_slice(atl_tile *t, int i, float *v) { read_slice_at(t, i, v, t->tr_counter); }

/* Pulsed write of -u (per output) into slice i of `to` via one-hot vectors: columns:
 * x = e_i, d = u; rows: d = e_i, x = u. */
static void write_slice_at(atl_tile *t, an_dev *to, int i, const float *u, float lr, float g,
                           const atl_update_params *up, uint64_t *n_up, uint64_t *n_down,
                           uint64_t trc)
{
    an_pulse_rng r = transfer_rng_at(t, trc);
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

static void write_slice(atl_tile *t, an_dev *to, int i, const float *u, float lr, float g,
                        const atl_update_params *up, uint64_t *n_up, uint64_t *n_down)
{
    write_slice_at(t, to, i, u, lr, g, up, n_up, n_down, t->tr_counter);
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
 * update of chi_x (.) x and chi_d (.) d (negation is exact, probabilities use |x|, |d|); the
 * flips go into the bit lines' signs, no copies. */
static void chopped_a_update(atl_tile *t, const float *x, const float *d, float c)
{
    const int cols = t->cfg.ap.transfer_columns;
    const int8_t *cx = cols ? t->chop_in : t->chop_out;
    const int8_t *cd = cols ? t->chop_out : t->chop_in;
    an_pulse_rng r = main_rng(t);
    an_pulsed_update_flip(&t->A, x, d, cx, cd, fabsf(c), compound_granularity(t), &t->cfg.up, &r,
                          &t->work, t->threads, &t->cnt.pulses_up_a, &t->cnt.pulses_down_a);
}

/* getTransferLRScale (§4.5 step 4) with count_lr_last = c_last */
static float chopped_lr_scale_c(const atl_tile *t, float lr_t, float c_last)
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
        return fabsf(lr_t) / c_last / bg;
    }
    return fabsf(lr_t) / bg;
}

static float chopped_lr_scale(const atl_tile *t, float lr_t)
{
    return chopped_lr_scale_c(t, lr_t, t->count_lr_last);
}

/* lr_t of a transfer (§4.5 step 4) */
static float chopped_lr_t(const atl_tile *t, float lr)
{
    const atl_algo_params *ap = &t->cfg.ap;
    float lr_t = ap->transfer_lr * (ap->scale_transfer_lr ? lr : 1.0f);
    if (t->gamma_vec[0] > 0 && t->gamma_vec[1] > 0)
        lr_t *= t->gamma_vec[0] / t->gamma_vec[1];
    return lr_t;
}

/* The data part of a chopped transfer of slice i (read, buffer, C write) as transfer number trc,
 * with the in-chopper sign ci and count_lr_last c_last of its time; snap: the slice's values at
 * that time if A has moved on since (batched updates), else NULL (A's current column). */
static void chopped_transfer_data(atl_tile *t, int i, int8_t ci, float lr, float c_last,
                                  uint64_t trc, const float *snap, size_t stride)
{
    const atl_algo_params *ap = &t->cfg.ap;
    const float lr_t = chopped_lr_t(t, lr);
    const float lr_scale = chopped_lr_scale_c(t, lr_t, c_last);
    const float sub_mom = 1.0f - fmaxf(fminf(ap->momentum, 1.0f), 0.0f);
    const float blt = (float)t->cfg.up_transfer.desired_bl;
    float *v = t->tmp_v, *u = t->tmp_u;
    if (snap) {
        /* the read sees the column as it was: swap it in for the read, then back */
        const int D = t->d_size, X = t->x_size;
        float *col = t->tmp_y;
        for (int j = 0; j < D; j++) {
            float *a = &t->A.wa[(size_t)j * (size_t)X + (size_t)i];
            col[j] = *a;
            *a = snap[(size_t)j * stride];
        }
        read_slice_at(t, i, v, trc);
        for (int j = 0; j < D; j++)
            t->A.wa[(size_t)j * (size_t)X + (size_t)i] = col[j];
    } else {
        read_slice_at(t, i, v, trc);
    }
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
        write_slice_at(t, &t->C, i, u, ap->step * dwc, dwc, &t->cfg.up_transfer,
                       &t->cnt.pulses_up_c, &t->cnt.pulses_down_c, trc);
        t->cnt.c_writes++;
    }
}

/* The bookkeeping part of a chopped transfer of slice i (after its read/write): chopper flips,
 * sweep and transfer counters. Needs no data, so batched updates run it ahead of the reads. */
static void chopped_transfer_book(atl_tile *t, int i)
{
    const atl_algo_params *ap = &t->cfg.ap;
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

static void chopped_transfer(atl_tile *t, float lr)
{
    const int i = t->slice;
    if (chopped_lr_t(t, lr) != 0.0f) {
        chopped_transfer_data(t, i, t->chop_in[i], lr, t->count_lr_last, t->tr_counter, NULL, 0);
        chopped_transfer_book(t, i);
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

/* ------------------------------------------------------------------------------- batches
 * SGD and chopped TTv2 (c-TTv2, ttv2) apply up to AN_MAX_VEC vector updates of A together
 * (an_batch_apply: row by row, the vectors in order per row), with identical results:
 *  1. per vector, in order, everything that needs no weight: auto-scale statistics, the count
 *     learning rate, the bit lines (with the chopper signs of that moment), the transfer
 *     schedule and its bookkeeping (chopper flips and counters draw from their own streams and
 *     never look at weights); a transfer marks its vector to record A's column after it;
 *  2. the pulses on A for all vectors;
 *  3. per transfer, in order, the data part: the read of the recorded column, the buffer and the
 *     C write (C is only read by transfers, the choppers of each transfer were recorded).
 * Conditions: a stochastic pulse type with BL bounded by desired_bl (fixed_bl or UBLM, main and
 * transfer updates), column transfers, no out-chopper flips (they would change H's signs
 * between transfers of one batch). */
static int batchable(const atl_tile *t)
{
    if (t->no_batch)
        return 0;
    const atl_update_params *up = &t->cfg.up;
    if (up->pulse_type != ATL_PULSE_STOCHASTIC_COMPRESSED && up->pulse_type != ATL_PULSE_STOCHASTIC)
        return 0;
    if ((!up->fixed_bl && !up->update_bl_management) || up->desired_bl > t->work.bl_cap)
        return 0;
    if (t->cfg.algo == ATL_ALGO_SGD)
        return 1;
    if (t->cfg.algo != ATL_ALGO_CHOPPED)
        return 0;
    const atl_algo_params *ap = &t->cfg.ap;
    const atl_update_params *ut = &t->cfg.up_transfer;
    return ap->transfer_columns && !(ap->out_chop_prob > 0) &&
           (ut->fixed_bl || ut->update_bl_management);
}

typedef struct tr_rec {
    int v, slice;
    int8_t ci;
    float lr, c_last;
    uint64_t trc;
} tr_rec;

/* n vector updates (n <= AN_MAX_VEC); dk(k) gives vector k's d (scaled by the tile). */
static void update_batch(atl_tile *t, const float *x, const float *d, int n, float lr, int m_batch,
                         const float *(*dk)(atl_tile *, const float *), int *done)
{
    an_work *wk = &t->work;
    *done = 0;
    if (an_work_reserve(wk, n) != 0)
        return; /* no memory: the caller goes vector by vector */
    const int X = t->x_size, D = t->d_size;
    const atl_algo_params *ap = &t->cfg.ap;
    const int chopped = t->cfg.algo == ATL_ALGO_CHOPPED;
    tr_rec rec[AN_MAX_VEC];
    int nrec = 0;
    for (int v = 0; v < n; v++) {
        const float *xv = x + (size_t)v * (size_t)X;
        const float *dv = dk(t, d + (size_t)v * (size_t)D);
        an_pulse_rng r = main_rng(t);
        int ok;
        if (!chopped) {
            ok = an_vec_prepare(wk, v, &t->A, xv, dv, NULL, NULL, -1.0f, -1.0f, lr,
                                t->A.granularity, &t->cfg.up, &r);
        } else {
            float xm = -1.0f, dm = -1.0f;
            if (ap->auto_scale) {
                xm = absmax_f(xv, X);
                dm = absmax_f(dv, D);
                auto_scale_ema(&t->m_x, xm, ap->auto_momentum, m_batch);
                auto_scale_ema(&t->m_d, dm, ap->auto_momentum, m_batch);
            }
            const float c = chopped_count_lr(t, lr);
            const int8_t *cx = t->chop_in, *cd = t->chop_out; /* column transfers */
            ok = an_vec_prepare(wk, v, &t->A, xv, dv, cx, cd, xm, dm, fabsf(c),
                                compound_granularity(t), &t->cfg.up, &r);
            if (ok >= 0) {
                t->current_update_idx++;
                const int64_t every = transfer_every(t, m_batch);
                if (every > 0 && t->current_update_idx % (uint64_t)every == 0) {
                    const int i = t->slice;
                    if (chopped_lr_t(t, lr) != 0.0f) {
                        rec[nrec++] = (tr_rec){v, i, t->chop_in[i], lr, t->count_lr_last,
                                               t->tr_counter};
                        wk->vec[v].snap_col = i;
                        chopped_transfer_book(t, i);
                    }
                    t->slice = (i + 1) % t->in_size;
                }
            }
        }
        (void)ok; /* BL <= desired_bl <= the buffers' cap (batchable), so never -1 */
        t->upd_counter++;
        t->cnt.updates++;
    }
    an_batch_apply(&t->A, wk, n, t->cfg.seed, t->threads, &t->cnt.pulses_up_a,
                   &t->cnt.pulses_down_a);
    /* transfers in order (the C writes use the work's slot 0 but leave the snapshots alone) */
    for (int k = 0; k < nrec; k++)
        chopped_transfer_data(t, rec[k].slice, rec[k].ci, rec[k].lr, rec[k].c_last, rec[k].trc,
                              wk->snaps + rec[k].v, (size_t)wk->vec_cap);
    if (chopped)
        an_tile_reduce(t);
    *done = n;
}

int an_algo_update(atl_tile *t, const float *x, const float *d, int m, float lr,
                   const float *(*dk)(atl_tile *, const float *))
{
    const int X = t->x_size, D = t->d_size;
    int k = 0;
    if (batchable(t)) {
        while (k < m) {
            const int n = m - k < AN_MAX_VEC ? m - k : AN_MAX_VEC;
            int done;
            update_batch(t, x + (size_t)k * (size_t)X, d + (size_t)k * (size_t)D, n, lr, m, dk,
                         &done);
            k += done;
            if (done < n)
                break;
        }
    }
    for (; k < m; k++)
        an_algo_update_vector(t, x + (size_t)k * (size_t)X, dk(t, d + (size_t)k * (size_t)D), lr,
                              m);
    return 0;
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
