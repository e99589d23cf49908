/* NumPy .npy files (format versions 1.0, 2.0 and 3.0) and the "npy:X.npy,Y.npy" data source.
 *
 * Layout of a .npy file: the magic "\x93NUMPY", a major and a minor version byte, the header
 * length (uint16 little-endian for 1.0, uint32 for 2.0 and 3.0), then the header: a Python dict
 * literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, C, H, W), } padded with spaces
 * and ending in '\n' so that the data starts at a multiple of 64 bytes (16 in old writers; only
 * the stated length matters when reading). Version 3.0 differs from 2.0 only in allowing UTF-8
 * in the header. The data follows in C order. */
#include "data_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

size_t atl_npy_dtype_size(atl_npy_dtype t)
{
    switch (t) {
    case ATL_NPY_U8: return 1;
    case ATL_NPY_I32: return 4;
    case ATL_NPY_I64: return 8;
    case ATL_NPY_F32: return 4;
    case ATL_NPY_F64: return 8;
    }
    return 0;
}

const char *atl_npy_dtype_descr(atl_npy_dtype t)
{
    switch (t) {
    case ATL_NPY_U8: return "|u1";
    case ATL_NPY_I32: return "<i4";
    case ATL_NPY_I64: return "<i8";
    case ATL_NPY_F32: return "<f4";
    case ATL_NPY_F64: return "<f8";
    }
    return "?";
}

void atl_npy_free(atl_npy *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- header parser: the subset of Python literal syntax numpy writes -------------------------- */

typedef struct hdr_cursor {
    const char *p, *end;
} hdr_cursor;

static void skip_ws(hdr_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(hdr_cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A quoted string ('...' or "..."; no escapes needed for the keys and dtypes we accept). */
static bool parse_str(hdr_cursor *c, char *buf, size_t len)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return false;
    char q = *c->p++;
    size_t k = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || k + 1 >= len)
            return false;
        buf[k++] = *c->p++;
    }
    if (c->p >= c->end)
        return false;
    c->p++;
    buf[k] = '\0';
    return true;
}

static bool parse_word(hdr_cursor *c, const char *w)
{
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return true;
    }
    return false;
}

static bool parse_shape(hdr_cursor *c, int *ndim, int64_t *shape)
{
    if (!eat(c, '('))
        return false;
    *ndim = 0;
    for (;;) {
        skip_ws(c);
        if (eat(c, ')'))
            return true;
        if (*ndim == ATL_NPY_MAX_DIMS)
            return false;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return false;
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return false;
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p < c->end && *c->p == 'L') /* Python 2 long literal */
            c->p++;
        shape[(*ndim)++] = v;
        skip_ws(c);
        if (eat(c, ','))
            continue;
        return eat(c, ')');
    }
}

static int parse_descr(const char *d, atl_npy_dtype *t, const char *path, char *err,
                       size_t err_len)
{
    static const struct {
        const char *name;
        atl_npy_dtype t;
    } ok[] = {{"|u1", ATL_NPY_U8}, {"<u1", ATL_NPY_U8},  {"u1", ATL_NPY_U8},
              {"<i4", ATL_NPY_I32}, {"<i8", ATL_NPY_I64}, {"<f4", ATL_NPY_F32},
              {"<f8", ATL_NPY_F64}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (strcmp(d, ok[i].name) == 0) {
            *t = ok[i].t;
            return 0;
        }
    }
    if (d[0] == '>')
        return atl_data_err(err, err_len,
                            "%s: big-endian dtype '%s' is not supported (save with "
                            "arr.astype(arr.dtype.newbyteorder('<')))",
                            path, d);
    return atl_data_err(err, err_len,
                        "%s: unsupported dtype '%s' (supported: uint8 |u1, int32 <i4, int64 <i8, "
                        "float32 <f4, float64 <f8)",
                        path, d);
}

static int parse_header(const char *text, size_t len, atl_npy *out, const char *path, char *err,
                        size_t err_len)
{
    hdr_cursor c = {text, text + len};
    bool have_descr = false, have_fortran = false, have_shape = false;
    if (!eat(&c, '{'))
        return atl_data_err(err, err_len, "%s: malformed .npy header (expected a dict)", path);
    for (;;) {
        if (eat(&c, '}'))
            break;
        char key[32];
        if (!parse_str(&c, key, sizeof key) || !eat(&c, ':'))
            return atl_data_err(err, err_len, "%s: malformed .npy header near '%.20s'", path,
                                c.p);
        if (strcmp(key, "descr") == 0 && !have_descr) {
            char d[32];
            skip_ws(&c);
            if (c.p < c.end && *c.p == '[')
                return atl_data_err(err, err_len, "%s: structured dtypes are not supported",
                                    path);
            if (!parse_str(&c, d, sizeof d))
                return atl_data_err(err, err_len, "%s: malformed 'descr' in .npy header", path);
            if (parse_descr(d, &out->dtype, path, err, err_len) != 0)
                return -1;
            have_descr = true;
        } else if (strcmp(key, "fortran_order") == 0 && !have_fortran) {
            if (parse_word(&c, "True"))
                return atl_data_err(err, err_len,
                                    "%s: Fortran-order arrays are not supported (save "
                                    "np.ascontiguousarray(a))",
                                    path);
            if (!parse_word(&c, "False"))
                return atl_data_err(err, err_len, "%s: malformed 'fortran_order' in .npy header",
                                    path);
            have_fortran = true;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (!parse_shape(&c, &out->ndim, out->shape))
                return atl_data_err(err, err_len,
                                    "%s: malformed 'shape' in .npy header (or more than %d "
                                    "dimensions)",
                                    path, ATL_NPY_MAX_DIMS);
            have_shape = true;
        } else {
            return atl_data_err(err, err_len, "%s: unexpected or repeated key '%s' in .npy header",
                                path, key);
        }
        if (eat(&c, ','))
            continue;
        if (eat(&c, '}'))
            break;
        return atl_data_err(err, err_len, "%s: malformed .npy header near '%.20s'", path, c.p);
    }
    skip_ws(&c);
    if (c.p != c.end)
        return atl_data_err(err, err_len, "%s: trailing characters after the .npy header dict",
                            path);
    if (!have_descr || !have_fortran || !have_shape)
        return atl_data_err(err, err_len,
                            "%s: .npy header lacks one of 'descr', 'fortran_order', 'shape'",
                            path);
    return 0;
}

int atl_npy_read(const char *path, atl_npy *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return atl_data_err(err, err_len, "cannot open %s: %s", path, strerror(errno));
    int rc = 0;
    char *hdr = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        rc = atl_data_err(err, err_len, "%s: stat: %s", path, strerror(errno));
        goto done;
    }
    unsigned char pre[12];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, npy_magic, 6) != 0) {
        rc = atl_data_err(err, err_len, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    unsigned major = pre[6], minor = pre[7];
    uint64_t hlen, hstart;
    if (major == 1 && minor == 0) {
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
        hstart = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            rc = atl_data_err(err, err_len, "%s: truncated .npy header", path);
            goto done;
        }
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 |
               (uint64_t)pre[11] << 24;
        hstart = 12;
    } else {
        rc = atl_data_err(err, err_len, "%s: unsupported .npy format version %u.%u", path, major,
                          minor);
        goto done;
    }
    if (hstart + hlen > (uint64_t)st.st_size || hlen > (1u << 24)) {
        rc = atl_data_err(err, err_len, "%s: header length %llu runs past the end of the file",
                          path, (unsigned long long)hlen);
        goto done;
    }
    hdr = malloc(hlen + 1);
    if (!hdr || fread(hdr, 1, hlen, f) != hlen) {
        rc = atl_data_err(err, err_len, "%s: cannot read the .npy header", path);
        goto done;
    }
    hdr[hlen] = '\0';
    if (parse_header(hdr, hlen, out, path, err, err_len) != 0) {
        rc = -1;
        goto done;
    }
    size_t es = atl_npy_dtype_size(out->dtype);
    uint64_t count = 1;
    for (int d = 0; d < out->ndim; d++) {
        uint64_t s = (uint64_t)out->shape[d];
        if (s != 0 && count > UINT64_MAX / es / s) {
            rc = atl_data_err(err, err_len, "%s: shape too large", path);
            goto done;
        }
        count *= s;
    }
    uint64_t need = count * es, have = (uint64_t)st.st_size - hstart - hlen;
    if (need != have) {
        rc = atl_data_err(err, err_len,
                          "%s: the shape needs %llu data bytes but the file has %llu after the "
                          "header (truncated?)",
                          path, (unsigned long long)need, (unsigned long long)have);
        goto done;
    }
    out->nbytes = (size_t)need;
    out->data = malloc(need ? need : 1);
    if (!out->data) {
        rc = atl_data_err(err, err_len, "%s: out of memory (%llu bytes)", path,
                          (unsigned long long)need);
        goto done;
    }
    if (need && fread(out->data, 1, need, f) != need) {
        rc = atl_data_err(err, err_len, "%s: read error: %s", path, strerror(errno));
        goto done;
    }
done:
    fclose(f);
    free(hdr);
    if (rc != 0)
        atl_npy_free(out);
    return rc;
}

int atl_npy_write(const char *path, atl_npy_dtype dtype, int ndim, const int64_t *shape,
                  const void *data, char *err, size_t err_len)
{
    if (ndim < 0 || ndim > ATL_NPY_MAX_DIMS)
        return atl_data_err(err, err_len, "%s: %d dimensions (at most %d)", path, ndim,
                            ATL_NPY_MAX_DIMS);
    size_t es = atl_npy_dtype_size(dtype);
    if (!es)
        return atl_data_err(err, err_len, "%s: unknown dtype %d", path, (int)dtype);
    char dict[64 + ATL_NPY_MAX_DIMS * 24];
    int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     atl_npy_dtype_descr(dtype));
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return atl_data_err(err, err_len, "%s: negative dimension %lld", path,
                                (long long)shape[d]);
        k += snprintf(dict + k, sizeof dict - (size_t)k, "%s%lld", d ? ", " : "",
                      (long long)shape[d]);
        count *= (uint64_t)shape[d];
    }
    k += snprintf(dict + k, sizeof dict - (size_t)k, "%s), }", ndim == 1 ? "," : "");
    /* Version 1.0 has a 16-bit header length; the dict is far below that for <= 8 dims. */
    size_t pre = 10, total = pre + (size_t)k + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t hlen = padded - pre;
    char hdr[256 + ATL_NPY_MAX_DIMS * 24];
    memcpy(hdr, npy_magic, 6);
    hdr[6] = 1;
    hdr[7] = 0;
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    memcpy(hdr + pre, dict, (size_t)k);
    memset(hdr + pre + k, ' ', hlen - (size_t)k - 1);
    hdr[padded - 1] = '\n';

    atl_atomic_file af;
    if (atl_atomic_begin(&af, path, err, err_len) != 0)
        return -1;
    size_t nbytes = (size_t)count * es;
    if (fwrite(hdr, 1, padded, af.f) != padded ||
        (nbytes && fwrite(data, 1, nbytes, af.f) != nbytes)) {
        int e = errno;
        atl_atomic_abort(&af);
        return atl_data_err(err, err_len, "%s: write failed: %s", path, strerror(e));
    }
    return atl_atomic_commit(&af, err, err_len);
}

/* ---- the npy data source --------------------------------------------------------------------- */

static int label_at(const atl_npy *y, int64_t i, int64_t *v)
{
    switch (y->dtype) {
    case ATL_NPY_U8: *v = ((const uint8_t *)y->data)[i]; return 0;
    case ATL_NPY_I32: *v = ((const int32_t *)y->data)[i]; return 0;
    case ATL_NPY_I64: *v = ((const int64_t *)y->data)[i]; return 0;
    default: return -1;
    }
}

int atl_data_load_npy(const atl_data_spec *spec, atl_split split, atl_dataset **out, char *err,
                      size_t err_len)
{
    *out = NULL;
    const char *xp = spec->x_path, *yp = spec->y_path;
    if (split == ATL_SPLIT_TEST && spec->xt_path) {
        xp = spec->xt_path;
        yp = spec->yt_path;
    }
    atl_npy x = {0}, y = {0};
    atl_dataset *ds = NULL;
    int32_t *map = NULL;
    int64_t *taken = NULL;
    int rc = 0;
    if (atl_npy_read(xp, &x, err, err_len) != 0 || atl_npy_read(yp, &y, err, err_len) != 0) {
        rc = -1;
        goto done;
    }
    if (x.dtype != ATL_NPY_U8 && x.dtype != ATL_NPY_F32 && x.dtype != ATL_NPY_F64) {
        rc = atl_data_err(err, err_len, "%s: images must be uint8, float32 or float64, not %s",
                          xp, atl_npy_dtype_descr(x.dtype));
        goto done;
    }
    if (y.dtype != ATL_NPY_U8 && y.dtype != ATL_NPY_I32 && y.dtype != ATL_NPY_I64) {
        rc = atl_data_err(err, err_len, "%s: labels must be int64, int32 or uint8, not %s", yp,
                          atl_npy_dtype_descr(y.dtype));
        goto done;
    }
    if (x.ndim != 4 && x.ndim != 3) {
        rc = atl_data_err(err, err_len,
                          "%s: images must have shape [N,C,H,W] (or [N,H,W,C] with "
                          "layout=nhwc, or [N,H,W]); got %d dimensions",
                          xp, x.ndim);
        goto done;
    }
    int64_t n = x.shape[0], c, h, w;
    if (x.ndim == 3) {
        c = 1;
        h = x.shape[1];
        w = x.shape[2];
    } else if (spec->nhwc) {
        h = x.shape[1];
        w = x.shape[2];
        c = x.shape[3];
    } else {
        c = x.shape[1];
        h = x.shape[2];
        w = x.shape[3];
    }
    if (c < 1 || c > ATL_DATA_MAX_CHANNELS || h < 1 || w < 1 || h > 65536 || w > 65536) {
        rc = atl_data_err(err, err_len, "%s: %lld channels of %lldx%lld pixels: expected 1..%d "
                          "channels%s", xp, (long long)c, (long long)h, (long long)w,
                          ATL_DATA_MAX_CHANNELS,
                          !spec->nhwc && x.ndim == 4 && x.shape[3] <= ATL_DATA_MAX_CHANNELS
                              ? " (channels last? use layout=nhwc)"
                              : "");
        goto done;
    }
    bool y_ok = y.ndim == 1 || (y.ndim == 2 && y.shape[1] == 1);
    if (!y_ok || y.shape[0] != n) {
        rc = atl_data_err(err, err_len, "%s: labels must have shape [%lld] to match %s", yp,
                          (long long)n, xp);
        goto done;
    }
    int64_t max_label = -1;
    for (int64_t i = 0; i < n; i++) {
        int64_t v;
        label_at(&y, i, &v);
        if (v < 0 || v > 100000) {
            rc = atl_data_err(err, err_len, "%s: label %lld at index %lld out of range 0..100000",
                              yp, (long long)v, (long long)i);
            goto done;
        }
        if (v > max_label)
            max_label = v;
    }
    int n_source = (int)max_label + 1;
    if (n_source < 1) {
        rc = atl_data_err(err, err_len, "%s: no labels", yp);
        goto done;
    }
    if (spec->classes) /* explicit ids may name classes beyond those present */
        for (int j = 0; j < spec->n_classes; j++)
            if (spec->classes[j] + 1 > n_source)
                n_source = spec->classes[j] + 1;
    map = malloc((size_t)n_source * sizeof *map);
    taken = calloc((size_t)n_source, sizeof *taken);
    if (!map || !taken) {
        rc = atl_data_err(err, err_len, "%s: out of memory", yp);
        goto done;
    }
    if (atl_data_class_map(spec, n_source, yp, map, err, err_len) != 0) {
        rc = -1;
        goto done;
    }
    int n_out = spec->classes ? spec->n_classes : n_source;
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v;
        label_at(&y, i, &v);
        if (map[v] >= 0 && (spec->per_class < 0 || taken[v] < spec->per_class)) {
            taken[v]++;
            kept++;
        }
    }
    ds = atl_dataset_create(kept, (int)c, (int)h, (int)w,
                            x.dtype == ATL_NPY_U8 ? ATL_PIXEL_U8 : ATL_PIXEL_F32, n_out);
    if (!ds) {
        rc = atl_data_err(err, err_len, "%s: out of memory for %lld images", xp, (long long)kept);
        goto done;
    }
    memset(taken, 0, (size_t)n_source * sizeof *taken);
    size_t m = (size_t)(c * h * w), plane = (size_t)(h * w);
    int64_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v;
        label_at(&y, i, &v);
        if (map[v] < 0 || (spec->per_class >= 0 && taken[v] >= spec->per_class))
            continue;
        taken[v]++;
        ds->labels[o] = map[v];
        for (size_t e = 0; e < m; e++) {
            /* Destination CHW index e; source index depends on the layout. */
            size_t s = e;
            if (spec->nhwc && x.ndim == 4) {
                size_t ch = e / plane, pix = e % plane;
                s = pix * (size_t)c + ch;
            }
            s += (size_t)i * m;
            if (x.dtype == ATL_NPY_U8) {
                ((uint8_t *)ds->pixels)[(size_t)o * m + e] = ((const uint8_t *)x.data)[s];
            } else {
                float fv = x.dtype == ATL_NPY_F32 ? ((const float *)x.data)[s]
                                                  : (float)((const double *)x.data)[s];
                if (!isfinite(fv)) {
                    rc = atl_data_err(err, err_len, "%s: image %lld contains NaN or Inf", xp,
                                      (long long)i);
                    goto done;
                }
                ((float *)ds->pixels)[(size_t)o * m + e] = fv;
            }
        }
        o++;
    }
    if (spec->classes) {
        for (int j = 0; j < spec->n_classes; j++) {
            if (taken[spec->classes[j]] == 0) {
                rc = atl_data_err(err, err_len, "%s: no images of class %d", yp,
                                  (int)spec->classes[j]);
                goto done;
            }
        }
    }
    for (int j = 0; j < n_out; j++)
        ds->class_ids[j] = spec->classes ? spec->classes[j] : j;
    ds->name = atl_data_strdup(xp);
done:
    atl_npy_free(&x);
    atl_npy_free(&y);
    free(map);
    free(taken);
    if (rc != 0) {
        atl_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return 0;
}
