/* Sample grids as binary PPM (P6): a way for a human to look at a data set without dependencies. */
#include "data_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int atl_dataset_write_grid_ppm(const atl_dataset *ds, const char *path, int per_class, int zoom,
                               char *err, size_t err_len)
{
    if (per_class < 1 || zoom < 1 || zoom > 64)
        return atl_data_err(err, err_len, "%s: per_class must be >= 1 and zoom in 1..64", path);
    const int gap = 2, k = ds->num_classes;
    const int tw = ds->w * zoom, th = ds->h * zoom;
    const int64_t W = (int64_t)per_class * (tw + gap) + gap, H = (int64_t)k * (th + gap) + gap;
    if (W * H > ((int64_t)1 << 28))
        return atl_data_err(err, err_len, "%s: grid of %lldx%lld pixels is too large", path,
                            (long long)W, (long long)H);
    uint8_t *img = malloc((size_t)(W * H * 3));
    float *raw = malloc(atl_dataset_image_elems(ds) * sizeof *raw);
    int *col = calloc((size_t)k, sizeof *col);
    if (!img || !raw || !col) {
        free(img);
        free(raw);
        free(col);
        return atl_data_err(err, err_len, "%s: out of memory", path);
    }
    memset(img, 64, (size_t)(W * H * 3));
    const size_t plane = (size_t)ds->h * (size_t)ds->w;
    for (int64_t i = 0; i < ds->n; i++) {
        int lab = ds->labels[i];
        if (lab < 0 || lab >= k || col[lab] >= per_class)
            continue;
        atl_dataset_get_raw(ds, i, raw);
        int64_t ox = gap + (int64_t)col[lab] * (tw + gap), oy = gap + (int64_t)lab * (th + gap);
        col[lab]++;
        for (int y = 0; y < th; y++) {
            for (int x = 0; x < tw; x++) {
                size_t src = (size_t)(y / zoom) * (size_t)ds->w + (size_t)(x / zoom);
                uint8_t *dst = img + ((oy + y) * W + ox + x) * 3;
                for (int c = 0; c < 3; c++) {
                    float v = raw[(ds->c == 3 ? (size_t)c : 0) * plane + src];
                    v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                    dst[c] = (uint8_t)(v * 255.0f + 0.5f);
                }
            }
        }
    }
    free(raw);
    free(col);
    atl_atomic_file af;
    if (atl_atomic_begin(&af, path, err, err_len) != 0) {
        free(img);
        return -1;
    }
    fprintf(af.f, "P6\n%lld %lld\n255\n", (long long)W, (long long)H);
    size_t bytes = (size_t)(W * H * 3);
    if (fwrite(img, 1, bytes, af.f) != bytes) {
        int e = errno;
        atl_atomic_abort(&af);
        free(img);
        return atl_data_err(err, err_len, "%s: write failed: %s", path, strerror(e));
    }
    free(img);
    return atl_atomic_commit(&af, err, err_len);
}
