/* Epoch permutations, augmentation and the batch iterator.
 *
 * Reproducibility contract: batch b of epoch e is a pure function of (data set, options, e, b).
 * The order of epoch e is a Fisher-Yates shuffle driven by the stream (seed,
 * derive(SHUFFLE, e)); the augmentation of data set image i in epoch e comes from block i of the
 * stream (seed, derive(AUGMENT, e)), so it does not depend on where the image lands in the
 * epoch, on the batch size, or on how many threads fill the batch. */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

#include "atl/rng.h"

/* ---- permutations ---------------------------------------------------------------------------- */

typedef struct u32_source {
    atl_rng_stream s;
    uint32_t buf[256];
    int pos;
} u32_source;

static uint32_t next_u32(u32_source *src)
{
    if (src->pos == 256) {
        atl_rng_u32(&src->s, 256, src->buf);
        src->pos = 0;
    }
    return src->buf[src->pos++];
}

/* Uniform integer in [0, range) without bias (Lemire's multiply-and-reject). */
static uint32_t bounded(u32_source *src, uint32_t range)
{
    uint64_t m = (uint64_t)next_u32(src) * range;
    uint32_t low = (uint32_t)m;
    if (low < range) {
        uint32_t threshold = (uint32_t)(-range) % range;
        while (low < threshold) {
            m = (uint64_t)next_u32(src) * range;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void atl_data_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = i;
    u32_source src;
    src.s = atl_rng_stream_make(seed, atl_rng_derive_stream(ATL_DATA_STREAM_SHUFFLE, epoch));
    src.pos = 256;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = bounded(&src, (uint32_t)(i + 1));
        int64_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}

/* ---- augmentation ---------------------------------------------------------------------------- */

atl_aug atl_data_aug_draw(uint64_t seed, uint64_t epoch, int64_t index, int pad, bool crop,
                          bool flip)
{
    atl_aug a = {0, 0, false};
    uint32_t w[4];
    atl_rng_u32_fill_at(seed, atl_rng_derive_stream(ATL_DATA_STREAM_AUGMENT, epoch),
                        (uint64_t)index, 4, w);
    if (crop && pad > 0) {
        /* Offsets uniform in [-pad, pad] (2*pad+1 values; a multiply-shift with a negligible
         * 2^-32-scale bias, keeping one block per image). */
        uint32_t span = 2u * (uint32_t)pad + 1u;
        a.dy = (int)(((uint64_t)w[0] * span) >> 32) - pad;
        a.dx = (int)(((uint64_t)w[1] * span) >> 32) - pad;
    }
    if (flip)
        a.flip = (w[2] >> 31) != 0;
    return a;
}

void atl_data_aug_apply(const float *in, float *out, int c, int h, int w, atl_aug a)
{
    for (int ch = 0; ch < c; ch++) {
        const float *src = in + (size_t)ch * h * w;
        float *dst = out + (size_t)ch * h * w;
        for (int y = 0; y < h; y++) {
            int sy = y + a.dy;
            for (int x = 0; x < w; x++) {
                int sx = (a.flip ? w - 1 - x : x) + a.dx;
                dst[(size_t)y * w + x] =
                    (sy >= 0 && sy < h && sx >= 0 && sx < w) ? src[(size_t)sy * w + sx] : 0.0f;
            }
        }
    }
}

/* ---- loader ---------------------------------------------------------------------------------- */

atl_loader_opts atl_loader_opts_train(int64_t batch, uint64_t seed)
{
    atl_loader_opts o = {batch, true, true, true, 4, false, seed, 1};
    return o;
}

atl_loader_opts atl_loader_opts_eval(int64_t batch)
{
    atl_loader_opts o = {batch, false, false, false, 4, false, 0, 1};
    return o;
}

int atl_loader_init(atl_loader *l, const atl_dataset *ds, const atl_loader_opts *o, char *err,
                    size_t err_len)
{
    memset(l, 0, sizeof *l);
    if (o->batch < 1)
        return atl_data_err(err, err_len, "loader: batch size %lld must be >= 1",
                            (long long)o->batch);
    if (o->crop && (o->crop_pad < 0 || o->crop_pad >= ds->h || o->crop_pad >= ds->w))
        return atl_data_err(err, err_len, "loader: crop padding %d does not fit %dx%d images",
                            o->crop_pad, ds->h, ds->w);
    if (ds->n >= ((int64_t)1 << 32))
        return atl_data_err(err, err_len, "loader: %lld images (at most 2^32-1)",
                            (long long)ds->n);
    l->ds = ds;
    l->o = *o;
    if (l->o.n_threads < 1)
        l->o.n_threads = 1;
    l->order = malloc((size_t)(ds->n ? ds->n : 1) * sizeof *l->order);
    if (!l->order)
        return atl_data_err(err, err_len, "loader: out of memory");
    atl_loader_set_epoch(l, 0);
    return 0;
}

void atl_loader_fini(atl_loader *l)
{
    free(l->order);
    memset(l, 0, sizeof *l);
}

void atl_loader_set_epoch(atl_loader *l, uint64_t epoch)
{
    l->epoch = epoch;
    l->next_batch = 0;
    if (l->o.shuffle) {
        atl_data_permutation(l->o.seed, epoch, l->ds->n, l->order);
    } else {
        for (int64_t i = 0; i < l->ds->n; i++)
            l->order[i] = i;
    }
}

int64_t atl_loader_num_batches(const atl_loader *l)
{
    int64_t n = l->ds->n, b = l->o.batch;
    return l->o.drop_last ? n / b : (n + b - 1) / b;
}

typedef struct fill_job {
    const atl_loader *l;
    int64_t first; /* position in the epoch order of slot 0 */
    float *x;
    int32_t *y;
} fill_job;

/* Raw pixel (channel ch, row sy, column sx) of image i, or 0 outside the image (zero padding). */
static inline float raw_pixel(const atl_dataset *ds, int64_t i, int ch, int sy, int sx)
{
    if (sy < 0 || sy >= ds->h || sx < 0 || sx >= ds->w)
        return 0.0f;
    size_t k = (((size_t)i * (size_t)ds->c + (size_t)ch) * (size_t)ds->h + (size_t)sy) *
                   (size_t)ds->w + (size_t)sx;
    return ds->pixel_type == ATL_PIXEL_U8 ? (float)((const uint8_t *)ds->pixels)[k] * ds->pixel_scale
                                          : ((const float *)ds->pixels)[k] * ds->pixel_scale;
}

static void fill_range(void *ctx, int64_t begin, int64_t end)
{
    fill_job *j = ctx;
    const atl_loader *l = j->l;
    const atl_dataset *ds = l->ds;
    size_t m = atl_dataset_image_elems(ds);
    /* Augmentation is applied while reading (same mapping as atl_data_aug_apply), so no
     * per-image buffers are needed. */
    for (int64_t s = begin; s < end; s++) {
        int64_t i = l->order[j->first + s];
        float *dst = j->x + (size_t)s * m;
        j->y[s] = ds->labels[i];
        atl_aug a = {0, 0, false};
        if (l->o.crop || l->o.flip)
            a = atl_data_aug_draw(l->o.seed, l->epoch, i, l->o.crop_pad, l->o.crop, l->o.flip);
        for (int c = 0; c < ds->c; c++) {
            float mu = ds->mean[c], inv = 1.0f / ds->std[c];
            for (int yy = 0; yy < ds->h; yy++) {
                float *row = dst + ((size_t)c * (size_t)ds->h + (size_t)yy) * (size_t)ds->w;
                for (int xx = 0; xx < ds->w; xx++) {
                    int sx = (a.flip ? ds->w - 1 - xx : xx) + a.dx;
                    row[xx] = (raw_pixel(ds, i, c, yy + a.dy, sx) - mu) * inv;
                }
            }
        }
    }
}

int64_t atl_loader_fill(const atl_loader *l, int64_t b, float *x, int32_t *y)
{
    int64_t nb = atl_loader_num_batches(l);
    if (b < 0 || b >= nb)
        return 0;
    int64_t first = b * l->o.batch, count = l->ds->n - first;
    if (count > l->o.batch)
        count = l->o.batch;
    fill_job job = {l, first, x, y};
    atl_data_parallel_for(l->o.n_threads, count, fill_range, &job);
    size_t m = atl_dataset_image_elems(l->ds);
    for (int64_t s = count; s < l->o.batch; s++) {
        memset(x + (size_t)s * m, 0, m * sizeof *x);
        y[s] = -1;
    }
    return count;
}

int64_t atl_loader_next(atl_loader *l, float *x, int32_t *y)
{
    int64_t got = atl_loader_fill(l, l->next_batch, x, y);
    if (got > 0)
        l->next_batch++;
    return got;
}
