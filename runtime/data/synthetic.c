/* The built-in synthetic image set (docs/DATA.md, "Synthetic generator").
 *
 * Each class id maps to a recipe drawn from one shared vocabulary of visual primitives:
 *   shape       disk, square, triangle, ring, cross          (id mod 5)
 *   fill        solid, stripes, dots                         (id mod 3)
 *   background  smooth gradient, clouds, grating, checker    (id mod 4)
 *   palette     7 foreground hue families                    (id mod 7)
 * plus continuous class parameters (stripe/dot orientation and period, background orientation and
 * period, size, base rotation, hue offset) hashed from the id. The moduli are coprime, so ids
 * 0..419 have distinct discrete tuples, and any two of the classes 0..9 differ in at least three
 * of the four discrete attributes. New ids recombine the same primitives, so features learnt on
 * one set of classes (oriented edges, stripes, blobs, colours, corners) transfer to another.
 *
 * Each sample draws its own jitter (position, scale, rotation, stripe phase, orientation jitter,
 * colours, background hue and texture, lighting, a distractor blob, pixel noise) from Philox keyed
 * by (seed, stream(split, class), block(index)); background hue is independent of the class, so
 * neither one pixel nor the mean colour identifies a class. */
#include "data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "atl/rng.h"

#define PI_F 3.14159265358979f
#define RECIPE_KEY 0x5EC1BE5A11CE5ull /* fixed: class appearance never depends on the seed */
#define PARAM_WORDS 80                /* per-sample jitter words (20 Philox blocks) */
#define LATTICE 6                     /* clouds: value-noise lattice LATTICE x LATTICE */

/* Raw per-channel statistics of the generator: measured with atl_dataset_raw_stats over classes
 * 0..99, 100 training images each, seed 0, size 32 (tests/unit/test_data.c re-measures them). */
const float atl_synth_mean[3] = {0.3561f, 0.3550f, 0.3550f};
const float atl_synth_std[3] = {0.1787f, 0.1782f, 0.1785f};

enum { SHAPE_DISK, SHAPE_SQUARE, SHAPE_TRIANGLE, SHAPE_RING, SHAPE_CROSS, N_SHAPES };
enum { FILL_SOLID, FILL_STRIPES, FILL_DOTS, N_FILLS };
enum { BG_GRADIENT, BG_CLOUDS, BG_GRATING, BG_CHECKER, N_BGS };
#define N_PALETTES 7

static const char *const shape_names[N_SHAPES] = {"disk", "square", "triangle", "ring", "cross"};
static const char *const fill_names[N_FILLS] = {"solid", "stripes", "dots"};
static const char *const bg_names[N_BGS] = {"gradient", "clouds", "grating", "checker"};

typedef struct recipe {
    int shape, fill, bg, palette;
    float hue;                      /* foreground hue in [0, 1) */
    float fill_angle, fill_period;  /* stripes/dots orientation (rad) and period (half-widths) */
    float bg_angle, bg_period;      /* grating/checker orientation and period */
    float size;                     /* shape radius in half-image units */
    float rot;                      /* base rotation of the shape */
} recipe;

static float unit_at(uint64_t seed, uint64_t stream, uint64_t k)
{
    return atl_u32_to_unit(atl_rng_u32_at(seed, stream, k));
}

static recipe class_recipe(int32_t id)
{
    recipe r;
    uint64_t s = atl_rng_derive_stream(ATL_DATA_STREAM_SYNTH, (uint64_t)(uint32_t)id);
    r.shape = id % N_SHAPES;
    r.fill = id % N_FILLS;
    r.bg = id % N_BGS;
    r.palette = id % N_PALETTES;
    r.hue = ((float)r.palette + 0.3f * (unit_at(RECIPE_KEY, s, 0) - 0.5f)) / N_PALETTES;
    r.fill_angle = unit_at(RECIPE_KEY, s, 1) * PI_F;
    r.fill_period = 0.30f + 0.16f * unit_at(RECIPE_KEY, s, 2);
    r.bg_angle = unit_at(RECIPE_KEY, s, 3) * PI_F;
    r.bg_period = 0.40f + 0.30f * unit_at(RECIPE_KEY, s, 4);
    r.size = 0.46f + 0.14f * unit_at(RECIPE_KEY, s, 5);
    r.rot = unit_at(RECIPE_KEY, s, 6) * 2.0f * PI_F;
    return r;
}

void atl_synth_describe(int32_t class_id, char *buf, size_t len)
{
    if (class_id < 0) {
        snprintf(buf, len, "invalid");
        return;
    }
    recipe r = class_recipe(class_id);
    snprintf(buf, len, "%s/%s on %s, hue %d", shape_names[r.shape], fill_names[r.fill],
             bg_names[r.bg], r.palette);
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }
static float lerpf(float a, float b, float t) { return a + (b - a) * t; }
static float smooth01(float t) { return t * t * (3.0f - 2.0f * t); }

static void hsv_to_rgb(float h, float s, float v, float rgb[3])
{
    h -= floorf(h);
    s = clampf(s, 0.0f, 1.0f);
    v = clampf(v, 0.0f, 1.0f);
    float h6 = h * 6.0f;
    int sector = (int)h6;
    float f = h6 - (float)sector;
    float p = v * (1.0f - s), q = v * (1.0f - s * f), t = v * (1.0f - s * (1.0f - f));
    switch (sector % 6) {
    case 0: rgb[0] = v; rgb[1] = t; rgb[2] = p; break;
    case 1: rgb[0] = q; rgb[1] = v; rgb[2] = p; break;
    case 2: rgb[0] = p; rgb[1] = v; rgb[2] = t; break;
    case 3: rgb[0] = p; rgb[1] = q; rgb[2] = v; break;
    case 4: rgb[0] = t; rgb[1] = p; rgb[2] = v; break;
    default: rgb[0] = v; rgb[1] = p; rgb[2] = q; break;
    }
}

/* Signed distance (in radius units, negative inside) of point q in the shape's own frame.
 * Polygons use the max of their edge half-planes: exact inside and on the edges, which is all
 * the one-pixel antialiasing ramp needs. */
static float shape_sdf(int shape, float x, float y)
{
    switch (shape) {
    case SHAPE_DISK: return sqrtf(x * x + y * y) - 1.0f;
    case SHAPE_SQUARE: return fmaxf(fabsf(x), fabsf(y)) - 0.82f;
    case SHAPE_TRIANGLE: {
        /* Equilateral, circumradius 1.25 (apothem 0.625), one vertex up. */
        float d = -1e9f;
        for (int k = 0; k < 3; k++) {
            float a = -PI_F / 2.0f + 2.0f * PI_F * (float)k / 3.0f + PI_F / 3.0f;
            d = fmaxf(d, x * cosf(a) + y * sinf(a) - 0.625f);
        }
        return d;
    }
    case SHAPE_RING: return fabsf(sqrtf(x * x + y * y) - 0.74f) - 0.26f;
    default: { /* cross */
        float h = fmaxf(fabsf(x) - 1.0f, fabsf(y) - 0.32f);
        float v = fmaxf(fabsf(x) - 0.32f, fabsf(y) - 1.0f);
        return fminf(h, v);
    }
    }
}

typedef struct sample_params {
    float cx, cy, scale, rot, cosr, sinr;
    float fill_nx, fill_ny, fill_phase, fill_period;
    float bg_nx, bg_ny, bg_phase, bg_period;
    float fg_a[3], fg_b[3], bg_c[3], bg_d[3];
    float light_x, light_y;
    float grad_x, grad_y;
    bool distractor;
    float dx, dy, dr, dcol[3];
    float noise_sigma, gain;
    float lattice[LATTICE * LATTICE];
} sample_params;

static void draw_params(const recipe *r, const float *u, sample_params *sp)
{
    sp->cx = (u[0] - 0.5f) * 0.6f;
    sp->cy = (u[1] - 0.5f) * 0.6f;
    sp->scale = 0.75f + 0.5f * u[2];
    sp->rot = r->rot + (u[3] - 0.5f) * 0.7f;
    sp->cosr = cosf(sp->rot);
    sp->sinr = sinf(sp->rot);
    float fa = r->fill_angle + (u[4] - 0.5f) * 0.4f;
    sp->fill_nx = cosf(fa);
    sp->fill_ny = sinf(fa);
    sp->fill_phase = u[5];
    sp->fill_period = r->fill_period * (0.88f + 0.24f * u[23]);
    float ba = r->bg_angle + (u[6] - 0.5f) * 0.5f;
    sp->bg_nx = cosf(ba);
    sp->bg_ny = sinf(ba);
    sp->bg_phase = u[7];
    sp->bg_period = r->bg_period * (0.85f + 0.3f * u[24]);

    /* The class hue is a cue, not a label: 40% of samples take a random foreground hue, so a
     * model has to use shape and texture too (which is what transfers between class sets). */
    float hue = u[64] < 0.4f ? u[65] : r->hue + (u[8] - 0.5f) * 0.07f;
    float sat = 0.55f + 0.4f * u[9], val = 0.62f + 0.38f * u[10];
    hsv_to_rgb(hue, sat, val, sp->fg_a);
    hsv_to_rgb(hue + 0.04f, sat * 0.8f, val * 0.38f, sp->fg_b);

    /* Background hue is independent of the class. */
    float bh = u[11], bs = 0.08f + 0.37f * u[12], bv = 0.38f + 0.47f * u[13];
    float contrast = 0.15f + 0.3f * u[14];
    hsv_to_rgb(bh, bs, bv, sp->bg_c);
    hsv_to_rgb(bh + 0.08f, bs * 1.1f, bv - contrast, sp->bg_d);

    float la = u[15] * 2.0f * PI_F;
    sp->light_x = cosf(la);
    sp->light_y = sinf(la);
    sp->distractor = u[16] < 0.5f;
    sp->dx = (u[17] - 0.5f) * 1.7f;
    sp->dy = (u[18] - 0.5f) * 1.7f;
    sp->dr = 0.10f + 0.12f * u[19];
    hsv_to_rgb(u[20], 0.3f + 0.5f * u[25], 0.3f + 0.6f * u[22], sp->dcol);
    sp->noise_sigma = 0.015f + 0.035f * u[21];
    float ga = u[62] * 2.0f * PI_F;
    sp->grad_x = cosf(ga);
    sp->grad_y = sinf(ga);
    sp->gain = 0.88f + 0.24f * u[63];
    for (int k = 0; k < LATTICE * LATTICE; k++)
        sp->lattice[k] = u[26 + k];
}

static float value_noise(const float *lat, float x, float y)
{
    /* x, y in [-1, 1] -> lattice coordinates in [0, LATTICE-1]; smoothstep interpolation. */
    float gx = (x + 1.0f) * 0.5f * (LATTICE - 1), gy = (y + 1.0f) * 0.5f * (LATTICE - 1);
    gx = clampf(gx, 0.0f, LATTICE - 1.001f);
    gy = clampf(gy, 0.0f, LATTICE - 1.001f);
    int ix = (int)gx, iy = (int)gy;
    float fx = smooth01(gx - (float)ix), fy = smooth01(gy - (float)iy);
    float a = lat[iy * LATTICE + ix], b = lat[iy * LATTICE + ix + 1];
    float c = lat[(iy + 1) * LATTICE + ix], d = lat[(iy + 1) * LATTICE + ix + 1];
    return lerpf(lerpf(a, b, fx), lerpf(c, d, fx), fy);
}

static float background_t(const recipe *r, const sample_params *sp, float x, float y)
{
    switch (r->bg) {
    case BG_GRADIENT: return clampf(0.5f + 0.55f * (x * sp->grad_x + y * sp->grad_y), 0.0f, 1.0f);
    case BG_CLOUDS: return value_noise(sp->lattice, x, y);
    case BG_GRATING: {
        float a = (x * sp->bg_nx + y * sp->bg_ny) / sp->bg_period + sp->bg_phase;
        return 0.5f + 0.5f * sinf(2.0f * PI_F * a);
    }
    default: { /* checker */
        float a = (x * sp->bg_nx + y * sp->bg_ny) / sp->bg_period + sp->bg_phase;
        float b = (-x * sp->bg_ny + y * sp->bg_nx) / sp->bg_period + sp->bg_phase;
        return 0.5f + 0.5f * clampf(2.5f * sinf(PI_F * a) * sinf(PI_F * b), -1.0f, 1.0f);
    }
    }
}

/* Foreground pattern: 0 -> colour A, 1 -> colour B. (x, y) relative to the shape centre. */
static float fill_t(const recipe *r, const sample_params *sp, float x, float y, float px)
{
    float period = sp->fill_period * sp->scale;
    switch (r->fill) {
    case FILL_STRIPES: {
        float a = (x * sp->fill_nx + y * sp->fill_ny) / period + sp->fill_phase;
        return 0.5f + 0.5f * clampf(2.2f * sinf(2.0f * PI_F * a), -1.0f, 1.0f);
    }
    case FILL_DOTS: {
        float p = period * 0.8f;
        float a = (x * sp->fill_nx + y * sp->fill_ny) / p + sp->fill_phase;
        float b = (-x * sp->fill_ny + y * sp->fill_nx) / p + sp->fill_phase;
        float fa = a - floorf(a) - 0.5f, fb = b - floorf(b) - 0.5f;
        float dist = sqrtf(fa * fa + fb * fb) * p; /* half-image units */
        return clampf(0.5f - (dist - 0.3f * p) / px, 0.0f, 1.0f);
    }
    default: return 0.0f;
    }
}

void atl_synth_render(uint64_t seed, atl_split split, int32_t class_id, int64_t index, int size,
                      float *out)
{
    recipe r = class_recipe(class_id < 0 ? 0 : class_id);
    uint64_t stream = atl_rng_derive_stream(
        atl_rng_derive_stream(ATL_DATA_STREAM_SYNTH, 1000u + (uint64_t)split),
        (uint64_t)(uint32_t)class_id);
    float u[PARAM_WORDS];
    atl_rng_uniform_fill_at(seed, stream, (uint64_t)index * (PARAM_WORDS / 4), PARAM_WORDS, u);
    sample_params sp;
    draw_params(&r, u, &sp);

    const size_t plane = (size_t)size * (size_t)size;
    const float px = 2.0f / (float)size; /* one pixel in half-image units */
    const float radius = r.size * sp.scale;
    /* Shadow: the shape's silhouette displaced away from the light, with a soft 3-pixel edge. */
    const float sh_x = -sp.light_x * 0.07f, sh_y = -sp.light_y * 0.07f;

    for (int iy = 0; iy < size; iy++) {
        for (int ix = 0; ix < size; ix++) {
            float x = ((float)ix + 0.5f) * px - 1.0f, y = ((float)iy + 0.5f) * px - 1.0f;
            float col[3];
            float t = background_t(&r, &sp, x, y);
            float vign = 1.0f - 0.18f * (x * x + y * y);
            for (int c = 0; c < 3; c++)
                col[c] = lerpf(sp.bg_c[c], sp.bg_d[c], t) * vign;

            if (sp.distractor) {
                float ddx = x - sp.dx, ddy = y - sp.dy;
                float a = 0.75f * expf(-(ddx * ddx + ddy * ddy) / (2.0f * sp.dr * sp.dr));
                for (int c = 0; c < 3; c++)
                    col[c] = lerpf(col[c], sp.dcol[c], a);
            }

            /* Shape frame: rotate into the shape's axes and scale by the radius. */
            float rx = x - sp.cx, ry = y - sp.cy;
            float qx = (sp.cosr * rx + sp.sinr * ry) / radius;
            float qy = (-sp.sinr * rx + sp.cosr * ry) / radius;
            float sx = x - sp.cx - sh_x, sy = y - sp.cy - sh_y;
            float sqx = (sp.cosr * sx + sp.sinr * sy) / radius;
            float sqy = (-sp.sinr * sx + sp.cosr * sy) / radius;
            float ds = shape_sdf(r.shape, sqx, sqy) * radius;
            float shadow = 0.45f * clampf(0.5f - ds / (3.0f * px), 0.0f, 1.0f);
            for (int c = 0; c < 3; c++)
                col[c] *= 1.0f - shadow;

            float d = shape_sdf(r.shape, qx, qy) * radius;
            float alpha = clampf(0.5f - d / px, 0.0f, 1.0f);
            if (alpha > 0.0f) {
                float ft = fill_t(&r, &sp, rx, ry, px);
                float lx = rx / radius, ly = ry / radius;
                float shade = 1.0f + 0.28f * clampf(lx * sp.light_x + ly * sp.light_y, -1.0f, 1.0f);
                for (int c = 0; c < 3; c++) {
                    float fg = lerpf(sp.fg_a[c], sp.fg_b[c], ft) * shade;
                    col[c] = lerpf(col[c], fg, alpha);
                }
            }
            for (int c = 0; c < 3; c++)
                out[(size_t)c * plane + (size_t)iy * (size_t)size + (size_t)ix] = col[c] * sp.gain;
        }
    }

    /* Pixel noise from its own stream so its length (3*size*size) never shifts other draws. */
    float *noise = malloc(3 * plane * sizeof *noise);
    if (noise) {
        uint64_t nstream = atl_rng_derive_stream(stream, 0x4E4F495345ull /* "NOISE" */);
        atl_rng_normal_fill_at(seed, nstream, (uint64_t)index * atl_rng_blocks_normal(3 * plane),
                               3 * plane, noise);
    }
    for (size_t k = 0; k < 3 * plane; k++) {
        float v = out[k] + (noise ? sp.noise_sigma * noise[k] : 0.0f);
        out[k] = clampf(v, 0.0f, 1.0f);
    }
    free(noise);
}

typedef struct synth_job {
    atl_dataset *ds;
    const int32_t *ids;
    int k;
    uint64_t seed;
    atl_split split;
    int size;
} synth_job;

static void synth_range(void *ctx, int64_t begin, int64_t end)
{
    synth_job *j = ctx;
    size_t m = atl_dataset_image_elems(j->ds);
    float *img = malloc(m * sizeof *img);
    if (!img)
        return; /* caller checks the sentinel labels */
    uint8_t *pix = j->ds->pixels;
    for (int64_t i = begin; i < end; i++) {
        int cls = (int)(i % j->k);
        int64_t idx = i / j->k;
        atl_synth_render(j->seed, j->split, j->ids[cls], idx, j->size, img);
        for (size_t e = 0; e < m; e++)
            pix[(size_t)i * m + e] = (uint8_t)lrintf(img[e] * 255.0f);
        j->ds->labels[i] = cls;
    }
    free(img);
}

int atl_data_load_synthetic(const atl_data_spec *spec, atl_split split, int n_threads,
                            atl_dataset **out, char *err, size_t err_len)
{
    *out = NULL;
    int k = spec->n_classes;
    int64_t n = spec->n_per_class > 0 ? spec->n_per_class : split == ATL_SPLIT_TRAIN ? 500 : 100;
    if (spec->per_class > 0 && spec->per_class < n)
        n = spec->per_class;
    if (k < 1)
        return atl_data_err(err, err_len, "synthetic: no classes selected");
    if (n > INT64_MAX / k || n * k > ((int64_t)1 << 31))
        return atl_data_err(err, err_len, "synthetic: %lld images per class x %d classes is too "
                            "many", (long long)n, k);
    atl_dataset *ds = atl_dataset_create(n * k, 3, spec->size, spec->size, ATL_PIXEL_U8, k);
    if (!ds)
        return atl_data_err(err, err_len, "synthetic: out of memory for %lld images",
                            (long long)(n * k));
    /* Sentinel labels: a worker that failed to allocate leaves -1 behind. */
    for (int64_t i = 0; i < ds->n; i++)
        ds->labels[i] = -1;
    synth_job job = {ds, spec->classes, k, spec->seed, split, spec->size};
    atl_data_parallel_for(n_threads, ds->n, synth_range, &job);
    for (int64_t i = 0; i < ds->n; i++) {
        if (ds->labels[i] < 0) {
            atl_dataset_free(ds);
            return atl_data_err(err, err_len, "synthetic: out of memory while rendering");
        }
    }
    ds->class_names = calloc((size_t)k, sizeof *ds->class_names);
    for (int j = 0; j < k; j++) {
        ds->class_ids[j] = spec->classes[j];
        if (ds->class_names) {
            char buf[96];
            atl_synth_describe(spec->classes[j], buf, sizeof buf);
            ds->class_names[j] = atl_data_strdup(buf);
        }
    }
    ds->name = atl_data_strdup("synthetic");
    *out = ds;
    return 0;
}
