/* Tiles: configuration (build_config, §3.4), creation, weights in and out (decisions 2 and 6,
 * §4.7, §7.2), forward/backward through the IO model (§5), the per-vector update driver (decision
 * 1) and counters. The algorithms themselves are in algo.c. */
#include "analog_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------- config */
static int name_in(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(name, *list) == 0)
            return 1;
    return 0;
}

int atl_tile_config_build(atl_tile_config *cfg, const char *algo_name, const atl_dev_params *dev,
                          char *err, size_t err_len)
{
    static const char *const n_sgd[] = {"sgd", "analog-sgd", NULL};
    static const char *const n_mp[] = {"mp", "mixed-precision", NULL};
    static const char *const n_tt[] = {"tt", "tiki-taka", "ttv1", NULL};
    static const char *const n_buf[] = {"ttv2-buffered", "buffered", NULL};
    static const char *const n_ttv2[] = {"ttv2", NULL};
    static const char *const n_ctt[] = {"cttv2", "c-ttv2", "chopped-ttv2", "ttv3", NULL};
    static const char *const n_agad[] = {"agad", "ttv4", NULL};

    memset(cfg, 0, sizeof *cfg);
    cfg->dev_a = *dev;
    cfg->dev_c = *dev;
    cfg->io_fwd = atl_io_defaults();
    cfg->io_bwd = atl_io_defaults();
    cfg->io_transfer = atl_io_defaults();
    cfg->io_transfer.noise_management = ATL_NM_NONE;
    cfg->io_transfer.bound_management = ATL_BM_NONE;
    cfg->up = atl_update_defaults();
    cfg->up_transfer = atl_update_defaults();
    /* the transfer write of the buffered family: UP(desired_bl=1, UBLM=F, UM=F) */
    atl_update_params up1 = atl_update_defaults();
    up1.desired_bl = 1;
    up1.update_bl_management = 0;
    up1.update_management = 0;

    if (name_in(algo_name, n_sgd)) {
        cfg->algo = ATL_ALGO_SGD;
    } else if (name_in(algo_name, n_mp)) {
        cfg->algo = ATL_ALGO_MP;
    } else if (name_in(algo_name, n_tt)) {
        cfg->algo = ATL_ALGO_TT;
    } else if (name_in(algo_name, n_buf)) {
        cfg->algo = ATL_ALGO_TTV2_BUFFERED;
        cfg->up_transfer = up1;
    } else if (name_in(algo_name, n_ttv2)) {
        cfg->algo = ATL_ALGO_CHOPPED;
        cfg->up_transfer = up1;
        cfg->up.desired_bl = 5;
    } else if (name_in(algo_name, n_ctt)) {
        cfg->algo = ATL_ALGO_CHOPPED;
        cfg->up_transfer = up1;
        cfg->up.desired_bl = 5;
    } else if (name_in(algo_name, n_agad)) {
        cfg->algo = ATL_ALGO_AGAD;
        cfg->up_transfer = up1;
        cfg->up_transfer.update_bl_management = 1;
        cfg->up_transfer.update_management = 1;
        cfg->up.desired_bl = 5;
    } else {
        return an_fail(err, err_len,
                       "unknown algorithm '%s' (sgd, mp, tt, ttv2-buffered, ttv2, cttv2, agad)",
                       algo_name);
    }
    cfg->ap = atl_algo_defaults(cfg->algo);
    if (name_in(algo_name, n_ttv2)) {
        cfg->ap.in_chop_prob = 0.0f;
        cfg->ap.units_in_mbatch = 0;
        cfg->ap.auto_scale = 0;
    } else if (name_in(algo_name, n_ctt)) {
        cfg->ap.units_in_mbatch = 0;
        cfg->ap.fast_lr = 0.1f;
        cfg->ap.auto_scale = 1;
    } else if (cfg->algo == ATL_ALGO_AGAD) {
        cfg->ap.auto_scale = 1;
        cfg->ap.fast_lr = 0.1f;
        cfg->ap.units_in_mbatch = 0;
    }
    return 0;
}

static int is_transfer(atl_algo a)
{
    return a == ATL_ALGO_TT || a == ATL_ALGO_TTV2_BUFFERED || a == ATL_ALGO_CHOPPED ||
           a == ATL_ALGO_AGAD;
}

int atl_tile_config_validate(const atl_tile_config *cfg, char *err, size_t err_len)
{
    char sub[200];
    if (cfg->d_size <= 0 || cfg->x_size <= 0)
        return an_fail(err, err_len, "tile sizes must be positive (got %d x %d)", cfg->d_size,
                       cfg->x_size);
    if ((unsigned)cfg->algo >= ATL_ALGO_COUNT)
        return an_fail(err, err_len, "unknown algorithm %d", (int)cfg->algo);
    if (atl_dev_params_validate(&cfg->dev_a, sub, sizeof sub) != 0)
        return an_fail(err, err_len, "device A: %s", sub);
    if (is_transfer(cfg->algo) && atl_dev_params_validate(&cfg->dev_c, sub, sizeof sub) != 0)
        return an_fail(err, err_len, "device C: %s", sub);
    if (atl_update_params_validate(&cfg->up, sub, sizeof sub) != 0)
        return an_fail(err, err_len, "update: %s", sub);
    if (atl_update_params_validate(&cfg->up_transfer, sub, sizeof sub) != 0)
        return an_fail(err, err_len, "transfer update: %s", sub);
    if (!(cfg->up.um_grad_scale > 0) || !(cfg->up_transfer.um_grad_scale > 0))
        return an_fail(err, err_len, "um_grad_scale must be > 0");
    if (atl_io_validate(&cfg->io_fwd, sub, sizeof sub) != 0)
        return an_fail(err, err_len, "forward IO: %s", sub);
    if (atl_io_validate(&cfg->io_bwd, sub, sizeof sub) != 0)
        return an_fail(err, err_len, "backward IO: %s", sub);
    const atl_algo_params *ap = &cfg->ap;
    if (!(cfg->weight_scaling_omega >= 0))
        return an_fail(err, err_len, "weight_scaling_omega must be >= 0");
    if (is_transfer(cfg->algo)) {
        if (!(ap->gamma >= 0))
            return an_fail(err, err_len, "gamma must be >= 0");
        if (ap->n_reads_per_transfer != 1)
            return an_fail(err, err_len, "only n_reads_per_transfer = 1 is supported");
        if (isnan(ap->transfer_every))
            return an_fail(err, err_len, "transfer_every is NaN");
        if (ap->transfer_every < 0 && cfg->algo != ATL_ALGO_CHOPPED &&
            cfg->algo != ATL_ALGO_AGAD)
            return an_fail(err, err_len, "transfer_every < 0 (automatic) needs chopped/agad");
    }
    if ((cfg->algo == ATL_ALGO_CHOPPED || cfg->algo == ATL_ALGO_AGAD) && ap->with_reset_prob > 0)
        return an_fail(err, err_len, "with_reset_prob must be 0 for chopped transfer (§4.1)");
    if (cfg->algo == ATL_ALGO_AGAD) {
        if (!(ap->in_chop_prob > 0))
            return an_fail(err, err_len, "agad needs in_chop_prob > 0");
        if (!(ap->auto_momentum > 0 && ap->auto_momentum < 1))
            return an_fail(err, err_len, "agad needs 0 < auto_momentum < 1");
    }
    if (cfg->algo == ATL_ALGO_MP) {
        if (ap->transfer_every < 0 || ap->transfer_every != floorf(ap->transfer_every))
            return an_fail(err, err_len, "mixed precision transfer_every must be an integer >= 0");
        double g = ap->granularity > 0 ? ap->granularity : atl_dev_granularity(&cfg->dev_a);
        if (!(g > 0))
            return an_fail(err, err_len, "mixed precision granularity must be > 0");
    }
    return 0;
}

/* ------------------------------------------------------------------------------- state */
int an_tile_alloc_state(atl_tile *t, char *err, size_t err_len)
{
    const atl_algo a = t->cfg.algo;
    size_t n = (size_t)t->d_size * (size_t)t->x_size;
    int need_h = a == ATL_ALGO_TTV2_BUFFERED || a == ATL_ALGO_CHOPPED || a == ATL_ALGO_AGAD;
    int need_chop = a == ATL_ALGO_CHOPPED || a == ATL_ALGO_AGAD;
    if (need_h && !(t->H = an_alloc(n * sizeof(float))))
        return an_fail(err, err_len, "out of memory");
    if (need_chop) {
        t->chop_in = an_alloc((size_t)t->in_size);
        t->chop_out = an_alloc((size_t)t->out_size);
        if (!t->chop_in || !t->chop_out)
            return an_fail(err, err_len, "out of memory");
    }
    if (a == ATL_ALGO_AGAD) {
        t->M = an_alloc(n * sizeof(float));
        t->P = an_alloc(n * sizeof(float));
        t->switched = an_alloc((size_t)t->in_size);
        if (!t->M || !t->P || !t->switched)
            return an_fail(err, err_len, "out of memory");
    }
    if (a == ATL_ALGO_MP && !(t->chi = an_alloc(n * sizeof(float))))
        return an_fail(err, err_len, "out of memory");
    return 0;
}

void an_tile_reset_state(atl_tile *t)
{
    size_t n = (size_t)t->d_size * (size_t)t->x_size;
    if (t->H)
        memset(t->H, 0, n * sizeof(float));
    if (t->M)
        memset(t->M, 0, n * sizeof(float));
    if (t->P)
        memset(t->P, 0, n * sizeof(float));
    if (t->chi)
        memset(t->chi, 0, n * sizeof(float));
    if (t->chop_in)
        memset(t->chop_in, 0, (size_t)t->in_size);
    if (t->chop_out)
        memset(t->chop_out, 0, (size_t)t->out_size);
    if (t->switched)
        memset(t->switched, 0, (size_t)t->in_size);
    t->m_x = t->m_d = 0.0f;
    t->count_lr_last = 0.0f;
    t->current_update_idx = 0;
    t->transfer_counter = 0;
    t->slice = 0;
}

void an_tile_reduce(atl_tile *t)
{
    if (!t->w_owned)
        return;
    /* §4.7 / decision 5: W = gamma * (chi_d chi_x^T) (.) A + C with the current choppers */
    const int D = t->d_size, X = t->x_size;
    const float gm = t->gamma_vec[0], gc = t->gamma_vec[1];
    const int8_t *cx = NULL, *cd = NULL;
    if (t->chop_in) {
        cx = t->cfg.ap.transfer_columns ? t->chop_in : t->chop_out;
        cd = t->cfg.ap.transfer_columns ? t->chop_out : t->chop_in;
    }
    for (int i = 0; i < D; i++) {
        const float *a = t->A.wa + (size_t)i * (size_t)X;
        const float *c = t->C.wa + (size_t)i * (size_t)X;
        float *w = t->W + (size_t)i * (size_t)X;
        float gi = (cd && cd[i]) ? -gm : gm;
        for (int j = 0; j < X; j++) {
            float g = (cx && cx[j]) ? -gi : gi;
            w[j] = g * a[j] + gc * c[j];
        }
    }
}

/* ------------------------------------------------------------------------------- create */
void atl_tile_destroy(atl_tile *t)
{
    if (!t)
        return;
    an_dev_free(&t->A);
    if (t->has_c)
        an_dev_free(&t->C);
    if (t->w_owned)
        an_free(t->W);
    an_free(t->H);
    an_free(t->M);
    an_free(t->P);
    an_free(t->switched);
    an_free(t->chop_in);
    an_free(t->chop_out);
    an_free(t->chi);
    an_free(t->scales);
    an_free(t->tmp_x);
    an_free(t->tmp_d);
    an_free(t->tmp_v);
    an_free(t->tmp_u);
    an_free(t->tmp_y);
    an_free(t->tmp_ds);
    an_work_free(&t->work);
    free(t);
}

static void set_devices(atl_tile *t, const float *Wset);

atl_tile *atl_tile_create(const atl_tile_config *cfg, char *err, size_t err_len)
{
    if (atl_tile_config_validate(cfg, err, err_len) != 0)
        return NULL;
    atl_tile *t = calloc(1, sizeof *t);
    if (!t) {
        an_fail(err, err_len, "out of memory");
        return NULL;
    }
    t->cfg = *cfg;
    t->d_size = cfg->d_size;
    t->x_size = cfg->x_size;
    t->threads = cfg->threads;
    int cols = cfg->ap.transfer_columns;
    t->in_size = cols ? cfg->x_size : cfg->d_size;
    t->out_size = cols ? cfg->d_size : cfg->x_size;
    if (an_dev_init(&t->A, &cfg->dev_a, cfg->d_size, cfg->x_size, cfg->seed, cfg->stream, 0, err,
                    err_len) != 0)
        goto fail;
    if (is_transfer(cfg->algo)) {
        char sub[200];
        if (an_dev_init(&t->C, &cfg->dev_c, cfg->d_size, cfg->x_size, cfg->seed, cfg->stream, 1,
                        sub, sizeof sub) != 0) {
            an_fail(err, err_len, "device C: %s", sub);
            goto fail;
        }
        t->has_c = 1;
        t->gamma_vec[0] = cfg->ap.gamma;
        t->gamma_vec[1] = 1.0f;
    }
    size_t n = (size_t)cfg->d_size * (size_t)cfg->x_size;
    if (t->has_c && cfg->ap.gamma > 0) {
        t->W = an_alloc(n * sizeof(float));
        t->w_owned = 1;
        if (!t->W) {
            an_fail(err, err_len, "out of memory");
            goto fail;
        }
    } else {
        t->W = t->has_c ? t->C.wa : t->A.wa;
    }
    if (an_tile_alloc_state(t, err, err_len) != 0)
        goto fail;
    int bl = cfg->up.desired_bl > cfg->up_transfer.desired_bl ? cfg->up.desired_bl
                                                                : cfg->up_transfer.desired_bl;
    int mx = cfg->x_size > cfg->d_size ? cfg->x_size : cfg->d_size;
    t->tmp_x = an_alloc((size_t)cfg->x_size * sizeof(float));
    t->tmp_d = an_alloc((size_t)cfg->d_size * sizeof(float));
    t->tmp_v = an_alloc((size_t)mx * sizeof(float));
    t->tmp_u = an_alloc((size_t)mx * sizeof(float));
    t->tmp_y = an_alloc((size_t)mx * sizeof(float));
    t->tmp_ds = an_alloc((size_t)cfg->d_size * sizeof(float));
    if (!t->tmp_x || !t->tmp_d || !t->tmp_v || !t->tmp_u || !t->tmp_y || !t->tmp_ds ||
        an_work_init(&t->work, cfg->x_size, cfg->d_size, bl) != 0) {
        an_fail(err, err_len, "out of memory");
        goto fail;
    }
    t->rng_fwd = atl_rng_stream_make(cfg->seed, an_stream(cfg->stream, AN_TAG_FWD, 0));
    t->rng_bwd = atl_rng_stream_make(cfg->seed, an_stream(cfg->stream, AN_TAG_BWD, 0));
    /* initial conductances: zero, through the normal set path (clip + write noise) */
    set_devices(t, NULL);
    t->set_counter++;
    return t;
fail:
    atl_tile_destroy(t);
    return NULL;
}

const atl_tile_config *atl_tile_get_config(const atl_tile *t) { return &t->cfg; }

void atl_tile_set_threads(atl_tile *t, int threads) { t->threads = threads; }

/* ------------------------------------------------------------------------------- weights */
/* The device part of set_weights (§4.7 "Setting weights"), analog units. */
static void set_devices(atl_tile *t, const float *Wset)
{
    const uint64_t s = an_stream(t->cfg.stream, AN_TAG_SET, t->set_counter);
    const uint64_t seed = t->cfg.seed;
    if (!t->has_c) {
        an_dev_set_weights(&t->A, Wset, seed, atl_rng_derive_stream(s, 1));
    } else if (!t->w_owned) {
        /* fully hidden: A := 0 (no write noise), C.onSetWeights(W) */
        memset(t->A.w, 0, an_dev_elems(&t->A) * sizeof(float));
        an_dev_sync_apparent(&t->A, 0);
        an_dev_set_weights(&t->C, Wset, seed, atl_rng_derive_stream(s, 2));
    } else {
        /* gamma > 0: C = W / gamma_vec[1], every device's onSetWeights, then reduce */
        an_dev_set_weights(&t->A, NULL, seed, atl_rng_derive_stream(s, 1));
        size_t n = an_dev_elems(&t->C);
        if (Wset) {
            float *tmp = malloc(n * sizeof(float));
            if (tmp) {
                for (size_t k = 0; k < n; k++)
                    tmp[k] = Wset[k] / t->gamma_vec[1];
                an_dev_set_weights(&t->C, tmp, seed, atl_rng_derive_stream(s, 2));
                free(tmp);
            }
        } else {
            an_dev_set_weights(&t->C, NULL, seed, atl_rng_derive_stream(s, 2));
        }
    }
    an_tile_reset_state(t);
    an_tile_reduce(t);
}

int atl_tile_set_weights(atl_tile *t, const float *W, float tau)
{
    const int D = t->d_size, X = t->x_size;
    size_t n = (size_t)D * (size_t)X;
    if (!(tau >= 0))
        return -1;
    float *ws = malloc(n * sizeof(float));
    if (!ws)
        return -1;
    memcpy(ws, W, n * sizeof(float));
    const uint64_t s = an_stream(t->cfg.stream, AN_TAG_SET, t->set_counter);
    if (tau > 0) {
        /* decision 2: W + tau * max|W_tile| * xi */
        float amax = 0.0f;
        for (size_t k = 0; k < n; k++)
            amax = fmaxf(amax, fabsf(W[k]));
        float *z = malloc(n * sizeof(float));
        if (!z) {
            free(ws);
            return -1;
        }
        atl_rng_normal_fill_at(t->cfg.seed, atl_rng_derive_stream(s, 0), 0, n, z);
        const float sc = tau * amax;
        for (size_t k = 0; k < n; k++)
            ws[k] = ws[k] + sc * z[k];
        free(z);
    }
    if (t->cfg.weight_scaling_omega > 0) {
        /* §7.2 mapping scales: alpha = max|W|/omega (per row if columnwise), 1 where max is 0 */
        int ns = t->cfg.weight_scaling_columnwise ? D : 1;
        if (!t->scales) {
            t->scales = an_alloc((size_t)ns * sizeof(float));
            if (!t->scales) {
                free(ws);
                return -1;
            }
        }
        t->n_scales = ns;
        for (int r = 0; r < ns; r++) {
            size_t k0 = ns == 1 ? 0 : (size_t)r * (size_t)X;
            size_t k1 = ns == 1 ? n : k0 + (size_t)X;
            float amax = 0.0f;
            for (size_t k = k0; k < k1; k++)
                amax = fmaxf(amax, fabsf(ws[k]));
            float alpha = amax > 0 ? amax / t->cfg.weight_scaling_omega : 1.0f;
            t->scales[r] = alpha;
            for (size_t k = k0; k < k1; k++)
                ws[k] = ws[k] / alpha;
        }
    }
    set_devices(t, ws);
    free(ws);
    t->set_counter++;
    t->cnt.weight_sets++;
    return 0;
}

static inline float row_scale(const atl_tile *t, int i)
{
    if (!t->scales)
        return 1.0f;
    return t->n_scales == 1 ? t->scales[0] : t->scales[i];
}

void atl_tile_get_weights(const atl_tile *t, float *W)
{
    const int D = t->d_size, X = t->x_size;
    for (int i = 0; i < D; i++) {
        float s = row_scale(t, i);
        const float *src = t->W + (size_t)i * (size_t)X;
        float *dst = W + (size_t)i * (size_t)X;
        for (int j = 0; j < X; j++)
            dst[j] = src[j] * s;
    }
}

const float *atl_tile_get_scales(const atl_tile *t, int *n)
{
    if (n)
        *n = t->scales ? t->n_scales : 0;
    return t->scales;
}

int atl_tile_get_array(const atl_tile *t, atl_tile_array_id id, float *out)
{
    size_t n = (size_t)t->d_size * (size_t)t->x_size;
    const float *src = NULL;
    switch (id) {
    case ATL_ARR_VISIBLE: src = t->W; break;
    case ATL_ARR_A: src = t->A.wa; break;
    case ATL_ARR_A_HIDDEN: src = t->A.w; break;
    case ATL_ARR_C: src = t->has_c ? t->C.wa : NULL; break;
    case ATL_ARR_C_HIDDEN: src = t->has_c ? t->C.w : NULL; break;
    case ATL_ARR_H: src = t->H; break;
    case ATL_ARR_CHI: src = t->chi; break;
    case ATL_ARR_REF_A:
    case ATL_ARR_BMIN_A:
    case ATL_ARR_BMAX_A:
        for (size_t k = 0; k < n; k++)
            out[k] = AN_C(&t->A, k,
                          id == ATL_ARR_REF_A ? AN_REF : (id == ATL_ARR_BMIN_A ? AN_LO : AN_HI));
        return 0;
    }
    if (!src)
        return -1;
    memcpy(out, src, n * sizeof(float));
    return 0;
}

int atl_tile_get_choppers(const atl_tile *t, int8_t *in, int *in_size, int8_t *out,
                          int *out_size)
{
    if (!t->chop_in)
        return -1;
    if (in_size)
        *in_size = t->in_size;
    if (out_size)
        *out_size = t->out_size;
    if (in)
        for (int k = 0; k < t->in_size; k++)
            in[k] = t->chop_in[k] ? -1 : 1;
    if (out)
        for (int k = 0; k < t->out_size; k++)
            out[k] = t->chop_out[k] ? -1 : 1;
    return 0;
}

/* ------------------------------------------------------------------------------- fwd / bwd */
void atl_tile_forward(atl_tile *t, const float *x, int m, float *y)
{
    if (m <= 0)
        return;
    atl_io_counters c = {0, 0};
    atl_io_forward(&t->cfg.io_fwd, &t->io_fwd_state, t->W, t->d_size, t->x_size, x, m, 1.0f, y,
                   &t->rng_fwd, &c);
    if (t->scales) {
        const int D = t->d_size;
        for (int k = 0; k < m; k++)
            for (int i = 0; i < D; i++)
                y[(size_t)k * (size_t)D + (size_t)i] *= row_scale(t, i);
    }
    t->cnt.forward_vectors += (uint64_t)m;
    t->cnt.bm_extra_passes += c.bm_extra_passes;
}

void atl_tile_backward(atl_tile *t, const float *d, int m, float *z)
{
    if (m <= 0)
        return;
    const int D = t->d_size;
    const float *din = d;
    float *tmp = NULL;
    if (t->scales) {
        /* §7.2: the analog backward gets alpha * d */
        tmp = malloc((size_t)m * (size_t)D * sizeof(float));
        if (!tmp)
            return;
        for (int k = 0; k < m; k++)
            for (int i = 0; i < D; i++) {
                size_t q = (size_t)k * (size_t)D + (size_t)i;
                tmp[q] = d[q] * row_scale(t, i);
            }
        din = tmp;
    }
    atl_io_counters c = {0, 0};
    atl_io_backward(&t->cfg.io_bwd, &t->io_bwd_state, t->W, t->d_size, t->x_size, din, m, 1.0f,
                    z, &t->rng_bwd, &c);
    free(tmp);
    t->cnt.backward_vectors += (uint64_t)m;
}

/* ------------------------------------------------------------------------------- update */
/* The d a vector update uses: §7.2, with mapping scales the tile update gets d/(alpha * mlr)
 * (lr_eff = lr * mlr); into tmp_ds, valid until the next call. */
static const float *scaled_d(atl_tile *t, const float *dk)
{
    if (!t->scales)
        return dk;
    const float mlr = t->upd_mlr;
    for (int i = 0; i < t->d_size; i++)
        t->tmp_ds[i] = dk[i] / (row_scale(t, i) * mlr);
    return t->tmp_ds;
}

int atl_tile_update(atl_tile *t, const float *x, const float *d, int m, float lr)
{
    if (!(lr >= 0) || isinf(lr) || m < 0)
        return -1;
    if (lr == 0 || m == 0)
        return 0; /* the reference returns before anything when lr == 0 (§1.7) */
    float lr_eff = lr;
    if (t->scales && t->cfg.weight_scaling_lr_compensation) {
        double s = 0;
        for (int k = 0; k < t->n_scales; k++)
            s += t->scales[k];
        float mean = (float)(s / t->n_scales);
        if (mean > 0)
            lr_eff = lr / mean; /* mlr = 1/mean(alpha) */
    }
    t->upd_mlr = lr_eff / lr;
    return an_algo_update(t, x, d, m, lr_eff, scaled_d);
}

void atl_tile_post_batch(atl_tile *t)
{
    /* §2.9: decay and diffusion once per mini-batch, then the write noise is redrawn */
    uint64_t sb = an_stream(t->cfg.stream, AN_TAG_POST, t->post_counter++);
    an_dev_post_batch(&t->A, t->cfg.seed, atl_rng_derive_stream(sb, 1));
    if (t->has_c)
        an_dev_post_batch(&t->C, t->cfg.seed, atl_rng_derive_stream(sb, 2));
    an_tile_reduce(t);
}

void atl_tile_get_counters(const atl_tile *t, atl_tile_counters *out) { *out = t->cnt; }

void atl_tile_reset_counters(atl_tile *t) { memset(&t->cnt, 0, sizeof t->cnt); }
