/* atl_dataset: construction, opening by spec, class maps, normalisation and statistics. */
#include "data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Widely published per-channel statistics of the CIFAR training sets (raw pixels in [0, 1]). */
static const float cifar10_mean[3] = {0.4914f, 0.4822f, 0.4465f};
static const float cifar10_std[3] = {0.2470f, 0.2435f, 0.2616f};
static const float cifar100_mean[3] = {0.5071f, 0.4865f, 0.4409f};
static const float cifar100_std[3] = {0.2673f, 0.2564f, 0.2762f};

atl_dataset *atl_dataset_create(int64_t n, int c, int h, int w, atl_pixel_type type,
                                int num_classes)
{
    if (n < 0 || c < 1 || c > ATL_DATA_MAX_CHANNELS || h < 1 || w < 1 || num_classes < 1)
        return NULL;
    atl_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return NULL;
    ds->n = n;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    ds->pixel_type = type;
    ds->pixel_scale = type == ATL_PIXEL_U8 ? 1.0f / 255.0f : 1.0f;
    ds->num_classes = num_classes;
    size_t elems = (size_t)n * (size_t)c * (size_t)h * (size_t)w;
    size_t esize = type == ATL_PIXEL_U8 ? 1 : sizeof(float);
    ds->pixels = calloc(elems ? elems : 1, esize);
    ds->labels = calloc(n ? (size_t)n : 1, sizeof *ds->labels);
    ds->class_ids = malloc((size_t)num_classes * sizeof *ds->class_ids);
    if (!ds->pixels || !ds->labels || !ds->class_ids) {
        atl_dataset_free(ds);
        return NULL;
    }
    for (int k = 0; k < num_classes; k++)
        ds->class_ids[k] = k;
    for (int k = 0; k < ATL_DATA_MAX_CHANNELS; k++) {
        ds->mean[k] = 0.0f;
        ds->std[k] = 1.0f;
    }
    return ds;
}

void atl_dataset_free(atl_dataset *ds)
{
    if (!ds)
        return;
    if (ds->class_names) {
        for (int k = 0; k < ds->num_classes; k++)
            free(ds->class_names[k]);
        free(ds->class_names);
    }
    free(ds->pixels);
    free(ds->labels);
    free(ds->class_ids);
    free(ds->name);
    free(ds);
}

void atl_dataset_get_raw(const atl_dataset *ds, int64_t i, float *out)
{
    size_t m = atl_dataset_image_elems(ds);
    if (ds->pixel_type == ATL_PIXEL_U8) {
        const uint8_t *p = (const uint8_t *)ds->pixels + (size_t)i * m;
        for (size_t k = 0; k < m; k++)
            out[k] = (float)p[k] * ds->pixel_scale;
    } else {
        const float *p = (const float *)ds->pixels + (size_t)i * m;
        for (size_t k = 0; k < m; k++)
            out[k] = p[k] * ds->pixel_scale;
    }
}

void atl_dataset_get(const atl_dataset *ds, int64_t i, float *out)
{
    atl_dataset_get_raw(ds, i, out);
    size_t plane = (size_t)ds->h * (size_t)ds->w;
    for (int c = 0; c < ds->c; c++) {
        float m = ds->mean[c], inv = 1.0f / ds->std[c];
        float *p = out + (size_t)c * plane;
        for (size_t k = 0; k < plane; k++)
            p[k] = (p[k] - m) * inv;
    }
}

void atl_dataset_class_counts(const atl_dataset *ds, int64_t *counts)
{
    memset(counts, 0, (size_t)ds->num_classes * sizeof *counts);
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->labels[i] >= 0 && ds->labels[i] < ds->num_classes)
            counts[ds->labels[i]]++;
}

void atl_dataset_raw_stats(const atl_dataset *ds, float *mean, float *std)
{
    size_t plane = (size_t)ds->h * (size_t)ds->w, m = atl_dataset_image_elems(ds);
    double s[ATL_DATA_MAX_CHANNELS] = {0}, s2[ATL_DATA_MAX_CHANNELS] = {0};
    float *img = malloc(m * sizeof *img);
    if (!img) {
        for (int c = 0; c < ds->c; c++) {
            mean[c] = NAN;
            std[c] = NAN;
        }
        return;
    }
    for (int64_t i = 0; i < ds->n; i++) {
        atl_dataset_get_raw(ds, i, img);
        for (int c = 0; c < ds->c; c++) {
            const float *p = img + (size_t)c * plane;
            double a = 0, a2 = 0;
            for (size_t k = 0; k < plane; k++) {
                a += p[k];
                a2 += (double)p[k] * p[k];
            }
            s[c] += a;
            s2[c] += a2;
        }
    }
    free(img);
    double cnt = (double)ds->n * (double)plane;
    for (int c = 0; c < ds->c; c++) {
        double mu = cnt > 0 ? s[c] / cnt : 0.0;
        double var = cnt > 0 ? s2[c] / cnt - mu * mu : 0.0;
        mean[c] = (float)mu;
        std[c] = (float)sqrt(var > 0 ? var : 0.0);
    }
}

int atl_dataset_set_norm(atl_dataset *ds, atl_data_kind kind, atl_data_norm norm,
                         const float *mean, const float *std, char *err, size_t err_len)
{
    if (norm == ATL_NORM_DEFAULT) {
        switch (kind) {
        case ATL_DATA_CIFAR10:
        case ATL_DATA_CIFAR100:
            /* CIFAR-10 statistics for CIFAR-100 too: the study pretrains on CIFAR-10 and
             * fine-tunes on CIFAR-100 subsets, and the pretrained features expect the
             * pretraining input distribution. */
            norm = ATL_NORM_CIFAR10;
            break;
        case ATL_DATA_SYNTHETIC: norm = ATL_NORM_SYNTHETIC; break;
        case ATL_DATA_NPY: norm = ATL_NORM_NONE; break;
        }
    }
    const float *m = NULL, *s = NULL;
    int n = 3;
    switch (norm) {
    case ATL_NORM_DEFAULT:
    case ATL_NORM_NONE:
        for (int c = 0; c < ATL_DATA_MAX_CHANNELS; c++) {
            ds->mean[c] = 0.0f;
            ds->std[c] = 1.0f;
        }
        return 0;
    case ATL_NORM_CIFAR10: m = cifar10_mean; s = cifar10_std; break;
    case ATL_NORM_CIFAR100: m = cifar100_mean; s = cifar100_std; break;
    case ATL_NORM_SYNTHETIC: m = atl_synth_mean; s = atl_synth_std; break;
    case ATL_NORM_CUSTOM:
        m = mean;
        s = std;
        n = -1; /* checked by the caller against ds->c */
        break;
    }
    if (n == 3 && ds->c != 3)
        return atl_data_err(err, err_len,
                            "%s: this normalisation has 3 channel constants but the images have "
                            "%d channels (use norm=none or mean=...:std=...)",
                            ds->name ? ds->name : "data", ds->c);
    for (int c = 0; c < ds->c; c++) {
        ds->mean[c] = m[c];
        ds->std[c] = s[c];
    }
    return 0;
}

int atl_data_class_map(const atl_data_spec *spec, int n_source, const char *what, int32_t *map,
                       char *err, size_t err_len)
{
    if (!spec->classes) {
        for (int k = 0; k < n_source; k++)
            map[k] = k;
        return 0;
    }
    for (int k = 0; k < n_source; k++)
        map[k] = -1;
    for (int j = 0; j < spec->n_classes; j++) {
        int32_t id = spec->classes[j];
        if (id < 0 || id >= n_source)
            return atl_data_err(err, err_len, "%s: class id %d out of range 0..%d", what,
                                (int)id, n_source - 1);
        map[id] = j;
    }
    return 0;
}

int atl_dataset_open_spec(const atl_data_spec *spec, atl_split split, int n_threads,
                          atl_dataset **out, char *err, size_t err_len)
{
    *out = NULL;
    atl_dataset *ds = NULL;
    int rc;
    switch (spec->kind) {
    case ATL_DATA_SYNTHETIC:
        rc = atl_data_load_synthetic(spec, split, n_threads, &ds, err, err_len);
        break;
    case ATL_DATA_CIFAR10:
    case ATL_DATA_CIFAR100:
        rc = atl_data_load_cifar(spec, split, &ds, err, err_len);
        break;
    case ATL_DATA_NPY:
        rc = atl_data_load_npy(spec, split, &ds, err, err_len);
        break;
    default:
        rc = atl_data_err(err, err_len, "unknown data source kind %d", (int)spec->kind);
        break;
    }
    if (rc != 0)
        return rc;
    if (spec->norm == ATL_NORM_CUSTOM && spec->n_mean != ds->c) {
        rc = atl_data_err(err, err_len, "%s: mean=/std= give %d values but the images have %d "
                          "channels", ds->name ? ds->name : "data", spec->n_mean, ds->c);
        atl_dataset_free(ds);
        return rc;
    }
    if (atl_dataset_set_norm(ds, spec->kind, spec->norm, spec->mean, spec->std, err, err_len)) {
        atl_dataset_free(ds);
        return -1;
    }
    *out = ds;
    return 0;
}

int atl_dataset_open(const char *spec, atl_split split, int n_threads, atl_dataset **out,
                     char *err, size_t err_len)
{
    *out = NULL;
    atl_data_spec s;
    if (atl_data_spec_parse(spec, &s, err, err_len) != 0)
        return -1;
    int rc = atl_dataset_open_spec(&s, split, n_threads, out, err, err_len);
    if (rc == 0) {
        free((*out)->name);
        (*out)->name = atl_data_strdup(spec);
    }
    atl_data_spec_free(&s);
    return rc;
}
