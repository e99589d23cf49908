/* Tile state save/load: everything a tile holds, so that a loaded tile continues bit-exactly.
 *
 * Format (all integers and floats little-endian):
 *   "ATLTILE\0"            8-byte magic
 *   u32 version            (1)
 *   u64 payload length
 *   payload:
 *     configuration: sizes, algorithm, algorithm/update/device parameters (tagged by the name
 *       tables, in table order), the three IO parameter sets, seed, stream, mapping options
 *     per device array (A, then C for the transfer compounds): the per-element constants
 *       (blocks of b_min, b_max, steps, slopes, reference), persistent and apparent weights, reset bias, decay scale, diffusion rate,
 *       PowStep exponents, granularity, write-noise sigma
 *     the visible weights when they are a separate array (gamma > 0)
 *     the algorithm state: H, AGAD running/past means and switch flags, choppers, the
 *       mixed-precision accumulator, auto-scale statistics, last count LR, update/transfer
 *       counters, read pointer
 *     RNG positions: the monotonic update/transfer/set/post counters, the forward and backward
 *       IO cursors (seed, stream, block) and IO states; the omega mapping scales; the counters
 *   u64 FNV-1a checksum of everything before it. */
#include "analog_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AN_STATE_MAGIC "ATLTILE"
#define AN_STATE_VERSION 1u

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t k = 0; k < n; k++) {
        h ^= p[k];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ------------------------------------------------------------------------------- io params */
static void w_io(an_wbuf *w, const atl_io_params *p)
{
    an_w_u32(w, 25);
    an_w_u32(w, (uint32_t)p->is_perfect);
    an_w_f32(w, p->inp_bound);
    an_w_f32(w, p->inp_res);
    an_w_u32(w, (uint32_t)p->inp_sto_round);
    an_w_f32(w, p->inp_noise);
    an_w_f32(w, p->inp_asymmetry);
    an_w_f32(w, p->out_bound);
    an_w_f32(w, p->out_noise);
    an_w_f32(w, p->out_noise_std);
    an_w_f32(w, p->out_res);
    an_w_u32(w, (uint32_t)p->out_sto_round);
    an_w_f32(w, p->out_scale);
    an_w_f32(w, p->out_asymmetry);
    an_w_u32(w, (uint32_t)p->bound_management);
    an_w_u32(w, (uint32_t)p->noise_management);
    an_w_f32(w, p->w_noise);
    an_w_u32(w, (uint32_t)p->w_noise_type);
    an_w_f32(w, p->ir_drop);
    an_w_f32(w, p->ir_drop_g_ratio);
    an_w_f32(w, p->max_bm_factor);
    an_w_f32(w, p->max_bm_res);
    an_w_u32(w, (uint32_t)p->bm_test_negative_bound);
    an_w_f32(w, p->nm_thres);
    an_w_f32(w, p->nm_assumed_wmax);
    an_w_f32(w, p->nm_decay);
}

static int r_io(an_rbuf *r, atl_io_params *p)
{
    if (an_r_u32(r) != 25)
        return -1;
    memset(p, 0, sizeof *p);
    p->is_perfect = (int)an_r_u32(r);
    p->inp_bound = an_r_f32(r);
    p->inp_res = an_r_f32(r);
    p->inp_sto_round = (int)an_r_u32(r);
    p->inp_noise = an_r_f32(r);
    p->inp_asymmetry = an_r_f32(r);
    p->out_bound = an_r_f32(r);
    p->out_noise = an_r_f32(r);
    p->out_noise_std = an_r_f32(r);
    p->out_res = an_r_f32(r);
    p->out_sto_round = (int)an_r_u32(r);
    p->out_scale = an_r_f32(r);
    p->out_asymmetry = an_r_f32(r);
    uint32_t bm = an_r_u32(r), nm = an_r_u32(r);
    if (bm > ATL_BM_ITERATIVE_WORST_CASE || nm > ATL_NM_AVERAGE_ABS_MAX)
        return -1;
    p->bound_management = (atl_bound_management)bm;
    p->noise_management = (atl_noise_management)nm;
    p->w_noise = an_r_f32(r);
    uint32_t wt = an_r_u32(r);
    if (wt > ATL_WNOISE_PCM_READ)
        return -1;
    p->w_noise_type = (atl_w_noise_type)wt;
    p->ir_drop = an_r_f32(r);
    p->ir_drop_g_ratio = an_r_f32(r);
    p->max_bm_factor = an_r_f32(r);
    p->max_bm_res = an_r_f32(r);
    p->bm_test_negative_bound = (int)an_r_u32(r);
    p->nm_thres = an_r_f32(r);
    p->nm_assumed_wmax = an_r_f32(r);
    p->nm_decay = an_r_f32(r);
    return r->bad ? -1 : 0;
}

/* ------------------------------------------------------------------------------- config */
static void w_config(an_wbuf *w, const atl_tile_config *c)
{
    an_w_u32(w, (uint32_t)c->d_size);
    an_w_u32(w, (uint32_t)c->x_size);
    an_w_u32(w, (uint32_t)c->algo);
    an_params_write(w, AN_PT_ALGO, &c->ap);
    an_params_write(w, AN_PT_DEV, &c->dev_a);
    an_params_write(w, AN_PT_DEV, &c->dev_c);
    w_io(w, &c->io_fwd);
    w_io(w, &c->io_bwd);
    w_io(w, &c->io_transfer);
    an_params_write(w, AN_PT_UP, &c->up);
    an_params_write(w, AN_PT_UP, &c->up_transfer);
    an_w_u64(w, c->seed);
    an_w_u64(w, c->stream);
    an_w_f32(w, c->weight_scaling_omega);
    an_w_u32(w, (uint32_t)c->weight_scaling_columnwise);
    an_w_u32(w, (uint32_t)c->weight_scaling_lr_compensation);
    an_w_u32(w, (uint32_t)c->threads);
}

static int r_config(an_rbuf *r, atl_tile_config *c)
{
    memset(c, 0, sizeof *c);
    c->d_size = (int)an_r_u32(r);
    c->x_size = (int)an_r_u32(r);
    uint32_t a = an_r_u32(r);
    if (a >= ATL_ALGO_COUNT)
        return -1;
    c->algo = (atl_algo)a;
    if (an_params_read(r, AN_PT_ALGO, &c->ap) || an_params_read(r, AN_PT_DEV, &c->dev_a) ||
        an_params_read(r, AN_PT_DEV, &c->dev_c) || r_io(r, &c->io_fwd) || r_io(r, &c->io_bwd) ||
        r_io(r, &c->io_transfer) || an_params_read(r, AN_PT_UP, &c->up) ||
        an_params_read(r, AN_PT_UP, &c->up_transfer))
        return -1;
    c->seed = an_r_u64(r);
    c->stream = an_r_u64(r);
    c->weight_scaling_omega = an_r_f32(r);
    c->weight_scaling_columnwise = (int)an_r_u32(r);
    c->weight_scaling_lr_compensation = (int)an_r_u32(r);
    c->threads = (int)an_r_u32(r);
    return r->bad ? -1 : 0;
}

/* ------------------------------------------------------------------------------- devices */
static void w_dev(an_wbuf *w, const an_dev *dv)
{
    size_t n = an_dev_elems(dv);
    an_w_u32(w, dv->wa != dv->w);
    an_w_u32(w, dv->pg_up != NULL);
    an_w_f32(w, dv->granularity);
    an_w_f32(w, dv->wn_sigma);
    an_w_f32s(w, dv->cst, an_cst_size(dv));
    an_w_f32s(w, dv->w, n);
    if (dv->wa != dv->w)
        an_w_f32s(w, dv->wa, n);
    an_w_f32s(w, dv->reset_bias, n);
    an_w_f32s(w, dv->decay_scale, n);
    an_w_f32s(w, dv->diffusion_rate, n);
    if (dv->pg_up) {
        an_w_f32s(w, dv->pg_up, n);
        an_w_f32s(w, dv->pg_dn, n);
    }
}

static int r_dev(an_rbuf *r, an_dev *dv)
{
    size_t n = an_dev_elems(dv);
    uint32_t pers = an_r_u32(r), pow = an_r_u32(r);
    if (pers != (uint32_t)(dv->wa != dv->w) || pow != (uint32_t)(dv->pg_up != NULL))
        return -1;
    dv->granularity = an_r_f32(r);
    dv->wn_sigma = an_r_f32(r);
    an_r_f32s(r, dv->cst, an_cst_size(dv));
    an_r_f32s(r, dv->w, n);
    if (pers)
        an_r_f32s(r, dv->wa, n);
    an_r_f32s(r, dv->reset_bias, n);
    an_r_f32s(r, dv->decay_scale, n);
    an_r_f32s(r, dv->diffusion_rate, n);
    if (pow) {
        an_r_f32s(r, dv->pg_up, n);
        an_r_f32s(r, dv->pg_dn, n);
    }
    return r->bad ? -1 : 0;
}

/* ------------------------------------------------------------------------------- tile */
static void w_bytes_opt(an_wbuf *w, const void *p, size_t n)
{
    an_w_u32(w, p != NULL);
    if (p)
        an_w_bytes(w, p, n);
}

static int r_bytes_opt(an_rbuf *r, void *p, size_t n)
{
    uint32_t has = an_r_u32(r);
    if (has != (uint32_t)(p != NULL))
        return -1;
    if (p)
        an_r_bytes(r, p, n);
    return r->bad ? -1 : 0;
}

static void w_f32s_opt(an_wbuf *w, const float *p, size_t n)
{
    an_w_u32(w, p != NULL);
    if (p)
        an_w_f32s(w, p, n);
}

static int r_f32s_opt(an_rbuf *r, float *p, size_t n)
{
    uint32_t has = an_r_u32(r);
    if (has != (uint32_t)(p != NULL))
        return -1;
    if (p)
        an_r_f32s(r, p, n);
    return r->bad ? -1 : 0;
}

static void w_counters(an_wbuf *w, const atl_tile_counters *c)
{
    const uint64_t v[] = {c->updates, c->pulses_up_a, c->pulses_down_a, c->pulses_up_c,
                          c->pulses_down_c, c->transfers, c->transfer_reads, c->c_writes,
                          c->chopper_flips, c->forward_vectors, c->backward_vectors,
                          c->bm_extra_passes, c->weight_sets};
    an_w_u32(w, (uint32_t)(sizeof v / sizeof v[0]));
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
        an_w_u64(w, v[k]);
}

static int r_counters(an_rbuf *r, atl_tile_counters *c)
{
    uint64_t *v[] = {&c->updates, &c->pulses_up_a, &c->pulses_down_a, &c->pulses_up_c,
                     &c->pulses_down_c, &c->transfers, &c->transfer_reads, &c->c_writes,
                     &c->chopper_flips, &c->forward_vectors, &c->backward_vectors,
                     &c->bm_extra_passes, &c->weight_sets};
    if (an_r_u32(r) != (uint32_t)(sizeof v / sizeof v[0]))
        return -1;
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
        *v[k] = an_r_u64(r);
    return r->bad ? -1 : 0;
}

static void serialize(const atl_tile *t, an_wbuf *w)
{
    an_w_bytes(w, AN_STATE_MAGIC, 8); /* includes the terminating NUL */
    an_w_u32(w, AN_STATE_VERSION);
    size_t len_pos = w->len;
    an_w_u64(w, 0); /* payload length, patched below */
    size_t start = w->len;
    w_config(w, &t->cfg);
    const size_t n = (size_t)t->d_size * (size_t)t->x_size;
    w_dev(w, &t->A);
    if (t->has_c)
        w_dev(w, &t->C);
    w_f32s_opt(w, t->w_owned ? t->W : NULL, n);
    w_f32s_opt(w, t->H, n);
    w_f32s_opt(w, t->M, n);
    w_f32s_opt(w, t->P, n);
    w_f32s_opt(w, t->chi, n);
    w_bytes_opt(w, t->switched, (size_t)t->in_size);
    w_bytes_opt(w, t->chop_in, (size_t)t->in_size);
    w_bytes_opt(w, t->chop_out, (size_t)t->out_size);
    an_w_f32(w, t->m_x);
    an_w_f32(w, t->m_d);
    an_w_f32(w, t->count_lr_last);
    an_w_u64(w, t->current_update_idx);
    an_w_u64(w, t->transfer_counter);
    an_w_u32(w, (uint32_t)t->slice);
    an_w_u64(w, t->upd_counter);
    an_w_u64(w, t->tr_counter);
    an_w_u64(w, t->set_counter);
    an_w_u64(w, t->post_counter);
    const atl_rng_stream *rs[2] = {&t->rng_fwd, &t->rng_bwd};
    for (int k = 0; k < 2; k++) {
        an_w_u64(w, rs[k]->seed);
        an_w_u64(w, rs[k]->stream);
        an_w_u64(w, rs[k]->block);
    }
    const atl_io_state *is[2] = {&t->io_fwd_state, &t->io_bwd_state};
    for (int k = 0; k < 2; k++) {
        an_w_f32(w, is[k]->aux_nm_value);
        an_w_u32(w, (uint32_t)is[k]->aux_nm_init);
    }
    an_w_u32(w, (uint32_t)(t->scales ? t->n_scales : 0));
    if (t->scales)
        an_w_f32s(w, t->scales, (size_t)t->n_scales);
    w_counters(w, &t->cnt);
    if (w->oom)
        return;
    uint64_t plen = (uint64_t)(w->len - start);
    for (int k = 0; k < 8; k++)
        w->p[len_pos + (size_t)k] = (uint8_t)(plen >> (8 * k));
    an_w_u64(w, fnv1a(w->p, w->len));
}

size_t atl_tile_state_size(const atl_tile *t)
{
    an_wbuf w = {0};
    serialize(t, &w);
    size_t n = w.oom ? 0 : w.len;
    free(w.p);
    return n;
}

int atl_tile_save(const atl_tile *t, void *buf, size_t cap, size_t *len, char *err,
                  size_t err_len)
{
    an_wbuf w = {0};
    serialize(t, &w);
    if (w.oom) {
        free(w.p);
        return an_fail(err, err_len, "out of memory while saving the tile state");
    }
    if (len)
        *len = w.len;
    if (!buf || cap < w.len) {
        free(w.p);
        return an_fail(err, err_len, "tile state needs %zu bytes, buffer has %zu", w.len, cap);
    }
    memcpy(buf, w.p, w.len);
    free(w.p);
    return 0;
}

atl_tile *atl_tile_load(const void *buf, size_t len, char *err, size_t err_len)
{
    const uint8_t *p = buf;
    if (!buf || len < 8 + 4 + 8 + 8) {
        an_fail(err, err_len, "tile state: truncated (%zu bytes)", len);
        return NULL;
    }
    if (memcmp(p, AN_STATE_MAGIC, 8) != 0) {
        an_fail(err, err_len, "tile state: bad magic (not an atl tile state)");
        return NULL;
    }
    an_rbuf r = {p, len, 8, 0};
    uint32_t ver = an_r_u32(&r);
    if (ver != AN_STATE_VERSION) {
        an_fail(err, err_len, "tile state: unsupported version %u (expected %u)", ver,
                AN_STATE_VERSION);
        return NULL;
    }
    uint64_t plen = an_r_u64(&r);
    if (plen > len || len - r.pos < plen + 8 || len - r.pos - 8 != plen) {
        an_fail(err, err_len,
                "tile state: length mismatch (header says %llu payload bytes, data has %zu)",
                (unsigned long long)plen, len - 28);
        return NULL;
    }
    an_rbuf ck = {p, len, len - 8, 0};
    if (an_r_u64(&ck) != fnv1a(p, len - 8)) {
        an_fail(err, err_len, "tile state: checksum mismatch (corrupt data)");
        return NULL;
    }
    r.len = len - 8;
    atl_tile_config cfg;
    if (r_config(&r, &cfg) != 0) {
        an_fail(err, err_len, "tile state: unreadable configuration");
        return NULL;
    }
    char sub[200];
    atl_tile *t = atl_tile_create(&cfg, sub, sizeof sub);
    if (!t) {
        an_fail(err, err_len, "tile state: invalid configuration: %s", sub);
        return NULL;
    }
    const size_t n = (size_t)t->d_size * (size_t)t->x_size;
    int bad = r_dev(&r, &t->A) || (t->has_c && r_dev(&r, &t->C)) ||
              r_f32s_opt(&r, t->w_owned ? t->W : NULL, n) || r_f32s_opt(&r, t->H, n) ||
              r_f32s_opt(&r, t->M, n) || r_f32s_opt(&r, t->P, n) || r_f32s_opt(&r, t->chi, n) ||
              r_bytes_opt(&r, t->switched, (size_t)t->in_size) ||
              r_bytes_opt(&r, t->chop_in, (size_t)t->in_size) ||
              r_bytes_opt(&r, t->chop_out, (size_t)t->out_size);
    if (!bad) {
        t->m_x = an_r_f32(&r);
        t->m_d = an_r_f32(&r);
        t->count_lr_last = an_r_f32(&r);
        t->current_update_idx = an_r_u64(&r);
        t->transfer_counter = an_r_u64(&r);
        uint32_t sl = an_r_u32(&r);
        t->slice = (int)sl;
        bad = (t->cfg.algo == ATL_ALGO_MP) ? sl >= (uint32_t)t->d_size
                                            : sl >= (uint32_t)(t->in_size > 0 ? t->in_size : 1);
        t->upd_counter = an_r_u64(&r);
        t->tr_counter = an_r_u64(&r);
        t->set_counter = an_r_u64(&r);
        t->post_counter = an_r_u64(&r);
        atl_rng_stream *rs[2] = {&t->rng_fwd, &t->rng_bwd};
        for (int k = 0; k < 2; k++) {
            rs[k]->seed = an_r_u64(&r);
            rs[k]->stream = an_r_u64(&r);
            rs[k]->block = an_r_u64(&r);
        }
        atl_io_state *is[2] = {&t->io_fwd_state, &t->io_bwd_state};
        for (int k = 0; k < 2; k++) {
            is[k]->aux_nm_value = an_r_f32(&r);
            is[k]->aux_nm_init = (int)an_r_u32(&r);
        }
        uint32_t ns = an_r_u32(&r);
        uint32_t expect_ns = t->cfg.weight_scaling_columnwise ? (uint32_t)t->d_size : 1u;
        if (ns) {
            if (ns != expect_ns || t->cfg.weight_scaling_omega <= 0) {
                bad = 1;
            } else {
                t->scales = an_alloc(ns * sizeof(float));
                t->n_scales = (int)ns;
                if (!t->scales)
                    bad = 1;
                else
                    an_r_f32s(&r, t->scales, ns);
            }
        }
        if (!bad)
            bad = r_counters(&r, &t->cnt);
    }
    if (bad || r.bad || r.pos != r.len) {
        atl_tile_destroy(t);
        an_fail(err, err_len, "tile state: inconsistent data (sizes do not match the "
                              "configuration)");
        return NULL;
    }
    if (!t->w_owned)
        t->W = t->has_c ? t->C.wa : t->A.wa;
    return t;
}

int atl_tile_save_file(const atl_tile *t, const char *path, char *err, size_t err_len)
{
    an_wbuf w = {0};
    serialize(t, &w);
    if (w.oom) {
        free(w.p);
        return an_fail(err, err_len, "out of memory while saving the tile state");
    }
    /* write to a temporary name and rename, so a crash never leaves a partial file */
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 8);
    if (!tmp) {
        free(w.p);
        return an_fail(err, err_len, "out of memory");
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    int rc = 0;
    if (!f) {
        rc = an_fail(err, err_len, "cannot write %s: %s", tmp, strerror(errno));
    } else {
        if (fwrite(w.p, 1, w.len, f) != w.len)
            rc = an_fail(err, err_len, "cannot write %s: %s", tmp, strerror(errno));
        if (fclose(f) != 0 && rc == 0)
            rc = an_fail(err, err_len, "cannot write %s: %s", tmp, strerror(errno));
        if (rc == 0 && rename(tmp, path) != 0)
            rc = an_fail(err, err_len, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        if (rc != 0)
            remove(tmp);
    }
    free(tmp);
    free(w.p);
    return rc;
}

atl_tile *atl_tile_load_file(const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        an_fail(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                an_fail(err, err_len, "out of memory reading %s", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        an_fail(err, err_len, "cannot read %s", path);
        return NULL;
    }
    char sub[256];
    atl_tile *t = atl_tile_load(buf, len, sub, sizeof sub);
    free(buf);
    if (!t)
        an_fail(err, err_len, "%s: %s", path, sub);
    return t;
}
