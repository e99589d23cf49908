/* safetensors reader and writer (format summary in atl/safetensors.h). JSON through jansson. */
#include "atl/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "atl's safetensors code writes host-order tensors and needs a little-endian host"
#endif

static const struct {
    const char *name;
    size_t size;
} dtype_table[ATL_ST_DTYPE_COUNT] = {
    [ATL_ST_BOOL] = {"BOOL", 1},       [ATL_ST_U8] = {"U8", 1},
    [ATL_ST_I8] = {"I8", 1},           [ATL_ST_F8_E5M2] = {"F8_E5M2", 1},
    [ATL_ST_F8_E4M3] = {"F8_E4M3", 1}, [ATL_ST_I16] = {"I16", 2},
    [ATL_ST_U16] = {"U16", 2},         [ATL_ST_F16] = {"F16", 2},
    [ATL_ST_BF16] = {"BF16", 2},       [ATL_ST_I32] = {"I32", 4},
    [ATL_ST_U32] = {"U32", 4},         [ATL_ST_F32] = {"F32", 4},
    [ATL_ST_F64] = {"F64", 8},         [ATL_ST_I64] = {"I64", 8},
    [ATL_ST_U64] = {"U64", 8},
};
_Static_assert(ATL_ST_DTYPE_COUNT == 15, "fill dtype_table for every atl_st_dtype");

const char *atl_st_dtype_name(atl_st_dtype t)
{
    return (unsigned)t < ATL_ST_DTYPE_COUNT ? dtype_table[t].name : "?";
}

size_t atl_st_dtype_size(atl_st_dtype t)
{
    return (unsigned)t < ATL_ST_DTYPE_COUNT ? dtype_table[t].size : 0;
}

int atl_st_dtype_from_name(const char *name, atl_st_dtype *t)
{
    for (int i = 0; i < ATL_ST_DTYPE_COUNT; i++) {
        if (strcmp(name, dtype_table[i].name) == 0) {
            *t = (atl_st_dtype)i;
            return 0;
        }
    }
    return -1;
}

/* Byte size of (dtype, shape) or -1 on overflow / bad dims. */
static int byte_size(atl_st_dtype t, int ndim, const int64_t *shape, uint64_t *out)
{
    uint64_t n = atl_st_dtype_size(t);
    if (!n || ndim < 0 || ndim > ATL_ST_MAX_DIMS)
        return -1;
    bool zero = false;
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0)
            return -1;
        else if (shape[d] == 0)
            zero = true;
    if (zero) {
        *out = 0;
        return 0;
    }
    for (int d = 0; d < ndim; d++) {
        if ((uint64_t)shape[d] > UINT64_MAX / n)
            return -1;
        n *= (uint64_t)shape[d];
    }
    *out = n;
    return 0;
}

static void format_shape(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t k = 0;
    k += (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, "%s%" PRId64, d ? "," : "", shape[d]);
    if (k < len)
        snprintf(buf + k, len - k, "]");
}

/* ---- writer ---------------------------------------------------------------------------------- */

typedef struct order_item {
    size_t index;
    size_t esize;
} order_item;

static int cmp_order(const void *a, const void *b)
{
    const order_item *x = a, *y = b;
    if (x->esize != y->esize)
        return x->esize > y->esize ? -1 : 1; /* larger elements first: keeps alignment */
    return x->index < y->index ? -1 : x->index > y->index; /* stable */
}

int atl_st_save(const char *path, const atl_st_tensor *tensors, size_t n, const atl_st_kv *meta,
                size_t n_meta, char *err, size_t err_len)
{
    int rc = 0;
    order_item *order = NULL;
    uint64_t *sizes = NULL;
    json_t *root = NULL;
    char *text = NULL;
    char shape_buf[160];

    /* Validate everything before touching the file system. */
    for (size_t i = 0; i < n; i++) {
        const atl_st_tensor *t = &tensors[i];
        uint64_t b;
        if (!t->name || !*t->name)
            return atl_data_err(err, err_len, "%s: tensor %zu has an empty name", path, i);
        if (strcmp(t->name, "__metadata__") == 0)
            return atl_data_err(err, err_len, "%s: '__metadata__' is reserved, not a tensor name",
                                path);
        if ((unsigned)t->dtype >= ATL_ST_DTYPE_COUNT)
            return atl_data_err(err, err_len, "%s: tensor '%s' has an invalid dtype %d", path,
                                t->name, (int)t->dtype);
        if (byte_size(t->dtype, t->ndim, t->shape, &b) != 0) {
            format_shape(shape_buf, sizeof shape_buf, t->ndim > 0 && t->ndim <= ATL_ST_MAX_DIMS
                                                          ? t->ndim : 0, t->shape);
            return atl_data_err(err, err_len,
                                "%s: tensor '%s' has an invalid shape %s (ndim %d, at most %d)",
                                path, t->name, shape_buf, t->ndim, ATL_ST_MAX_DIMS);
        }
        if (b > 0 && !t->data)
            return atl_data_err(err, err_len, "%s: tensor '%s' has no data", path, t->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(tensors[j].name, t->name) == 0)
                return atl_data_err(err, err_len, "%s: duplicate tensor name '%s'", path,
                                    t->name);
    }
    for (size_t i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value)
            return atl_data_err(err, err_len, "%s: metadata entry %zu has a NULL key or value",
                                path, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(meta[j].key, meta[i].key) == 0)
                return atl_data_err(err, err_len, "%s: duplicate metadata key '%s'", path,
                                    meta[i].key);
    }

    order = malloc((n ? n : 1) * sizeof *order);
    sizes = malloc((n ? n : 1) * sizeof *sizes);
    root = json_object();
    if (!order || !sizes || !root) {
        rc = atl_data_err(err, err_len, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        order[i].index = i;
        order[i].esize = atl_st_dtype_size(tensors[i].dtype);
        byte_size(tensors[i].dtype, tensors[i].ndim, tensors[i].shape, &sizes[i]);
    }
    qsort(order, n, sizeof *order, cmp_order);

    if (n_meta > 0) {
        json_t *m = json_object();
        if (!m || json_object_set_new(root, "__metadata__", m) != 0) {
            rc = atl_data_err(err, err_len, "%s: out of memory", path);
            goto done;
        }
        for (size_t i = 0; i < n_meta; i++) {
            json_t *v = json_string(meta[i].value);
            if (!v || json_object_set_new(m, meta[i].key, v) != 0) {
                rc = atl_data_err(err, err_len,
                                  "%s: metadata '%s' is not valid UTF-8 (or out of memory)", path,
                                  meta[i].key);
                goto done;
            }
        }
    }
    uint64_t offset = 0;
    for (size_t k = 0; k < n; k++) {
        const atl_st_tensor *t = &tensors[order[k].index];
        json_t *entry = json_object(), *shape = json_array(), *offs = json_array();
        /* set_new steals shape/offs even on failure, so only entry needs cleanup. */
        bool ok = entry && shape && offs &&
                  json_object_set_new(entry, "dtype", json_string(atl_st_dtype_name(t->dtype))) == 0;
        if (entry) {
            ok = json_object_set_new(entry, "shape", shape) == 0 && ok;
            ok = json_object_set_new(entry, "data_offsets", offs) == 0 && ok;
        } else {
            json_decref(shape);
            json_decref(offs);
        }
        for (int d = 0; ok && d < t->ndim; d++)
            ok = json_array_append_new(shape, json_integer((json_int_t)t->shape[d])) == 0;
        uint64_t end = offset + sizes[order[k].index];
        ok = ok && json_array_append_new(offs, json_integer((json_int_t)offset)) == 0 &&
             json_array_append_new(offs, json_integer((json_int_t)end)) == 0;
        if (!ok) {
            json_decref(entry);
            rc = atl_data_err(err, err_len, "%s: out of memory", path);
            goto done;
        }
        if (json_object_set_new(root, t->name, entry) != 0) {
            rc = atl_data_err(err, err_len,
                              "%s: tensor name '%s' is not valid UTF-8 (or out of memory)", path,
                              t->name);
            goto done;
        }
        offset = end;
    }
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) {
        rc = atl_data_err(err, err_len, "%s: cannot serialise the header", path);
        goto done;
    }
    size_t len = strlen(text);
    uint64_t hlen = (len + 7u) / 8u * 8u; /* data section 8-byte aligned: 8 + hlen */
    uint8_t lenbuf[8];
    for (int b = 0; b < 8; b++)
        lenbuf[b] = (uint8_t)(hlen >> (8 * b));

    atl_atomic_file af;
    if (atl_atomic_begin(&af, path, err, err_len) != 0) {
        rc = -1;
        goto done;
    }
    bool ok = fwrite(lenbuf, 1, 8, af.f) == 8 && fwrite(text, 1, len, af.f) == len;
    for (uint64_t p = len; ok && p < hlen; p++)
        ok = fputc(' ', af.f) != EOF;
    for (size_t k = 0; ok && k < n; k++) {
        const atl_st_tensor *t = &tensors[order[k].index];
        size_t b = (size_t)sizes[order[k].index];
        ok = b == 0 || fwrite(t->data, 1, b, af.f) == b;
    }
    if (!ok) {
        int e = errno;
        atl_atomic_abort(&af);
        rc = atl_data_err(err, err_len, "%s: write failed: %s", path, strerror(e));
        goto done;
    }
    rc = atl_atomic_commit(&af, err, err_len);
done:
    free(text);
    json_decref(root);
    free(order);
    free(sizes);
    return rc;
}

/* ---- reader ---------------------------------------------------------------------------------- */

struct atl_st_file {
    char *path;
    void *map;
    size_t map_len;
    const uint8_t *data;
    uint64_t data_len;
    atl_st_info *t;
    size_t n;
    const atl_st_info **by_name; /* sorted by name for atl_st_find */
    atl_st_kv *meta;
    size_t n_meta;
};

void atl_st_close(atl_st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free((char *)f->t[i].name);
    for (size_t i = 0; i < f->n_meta; i++) {
        free((char *)f->meta[i].key);
        free((char *)f->meta[i].value);
    }
    free(f->t);
    free(f->by_name);
    free(f->meta);
    if (f->map)
        munmap(f->map, f->map_len);
    free(f->path);
    free(f);
}

static int cmp_by_name(const void *a, const void *b)
{
    const atl_st_info *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static int cmp_by_offset(const void *a, const void *b)
{
    const atl_st_info *const *x = a, *const *y = b;
    if ((*x)->begin != (*y)->begin)
        return (*x)->begin < (*y)->begin ? -1 : 1;
    if ((*x)->end != (*y)->end)
        return (*x)->end < (*y)->end ? -1 : 1;
    return 0;
}

/* Parse one tensor entry of the header into info (name already set). */
static int parse_entry(const char *path, const char *name, json_t *v, atl_st_info *info,
                       char *err, size_t err_len)
{
    if (!json_is_object(v))
        return atl_data_err(err, err_len, "%s: header entry '%s' is not an object", path, name);
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
           *of = json_object_get(v, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(of))
        return atl_data_err(err, err_len,
                            "%s: tensor '%s' needs \"dtype\" (string), \"shape\" (array) and "
                            "\"data_offsets\" (array)",
                            path, name);
    if (atl_st_dtype_from_name(json_string_value(dt), &info->dtype) != 0)
        return atl_data_err(err, err_len, "%s: tensor '%s' has unknown dtype \"%s\"", path, name,
                            json_string_value(dt));
    size_t nd = json_array_size(sh);
    if (nd > ATL_ST_MAX_DIMS)
        return atl_data_err(err, err_len, "%s: tensor '%s' has %zu dimensions (at most %d)",
                            path, name, nd, ATL_ST_MAX_DIMS);
    info->ndim = (int)nd;
    for (size_t d = 0; d < nd; d++) {
        json_t *e = json_array_get(sh, d);
        if (!json_is_integer(e) || json_integer_value(e) < 0)
            return atl_data_err(err, err_len,
                                "%s: tensor '%s': shape entries must be non-negative integers",
                                path, name);
        info->shape[d] = (int64_t)json_integer_value(e);
    }
    if (json_array_size(of) != 2 || !json_is_integer(json_array_get(of, 0)) ||
        !json_is_integer(json_array_get(of, 1)) || json_integer_value(json_array_get(of, 0)) < 0 ||
        json_integer_value(json_array_get(of, 1)) < 0)
        return atl_data_err(err, err_len,
                            "%s: tensor '%s': data_offsets must be [BEGIN, END] with "
                            "non-negative integers",
                            path, name);
    info->begin = (uint64_t)json_integer_value(json_array_get(of, 0));
    info->end = (uint64_t)json_integer_value(json_array_get(of, 1));
    uint64_t bytes;
    char sbuf[160];
    format_shape(sbuf, sizeof sbuf, info->ndim, info->shape);
    if (byte_size(info->dtype, info->ndim, info->shape, &bytes) != 0)
        return atl_data_err(err, err_len, "%s: tensor '%s': shape %s overflows", path, name,
                            sbuf);
    if (info->end < info->begin || info->end - info->begin != bytes)
        return atl_data_err(err, err_len,
                            "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                            "] span %" PRId64 " bytes but %s %s needs %" PRIu64,
                            path, name, info->begin, info->end,
                            (int64_t)(info->end - info->begin), atl_st_dtype_name(info->dtype),
                            sbuf, bytes);
    return 0;
}

int atl_st_open(const char *path, atl_st_file **out, char *err, size_t err_len)
{
    *out = NULL;
    int rc = 0;
    json_t *root = NULL;
    const atl_st_info **by_off = NULL;
    atl_st_file *f = calloc(1, sizeof *f);
    if (!f)
        return atl_data_err(err, err_len, "%s: out of memory", path);
    f->path = atl_data_strdup(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = atl_data_err(err, err_len, "cannot open %s: %s", path, strerror(errno));
        goto done;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        rc = atl_data_err(err, err_len, "%s: not a regular file", path);
        goto done;
    }
    if (st.st_size < 8) {
        close(fd);
        rc = atl_data_err(err, err_len,
                          "%s: %lld bytes is too short for a safetensors file (8-byte header "
                          "length first)",
                          path, (long long)st.st_size);
        goto done;
    }
    f->map_len = (size_t)st.st_size;
    f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        rc = atl_data_err(err, err_len, "%s: mmap: %s", path, strerror(errno));
        goto done;
    }
    const uint8_t *base = f->map;
    uint64_t hlen = 0;
    for (int b = 0; b < 8; b++)
        hlen |= (uint64_t)base[b] << (8 * b);
    if (hlen < 2 || hlen > ATL_ST_MAX_HEADER || hlen > (uint64_t)st.st_size - 8) {
        rc = atl_data_err(err, err_len,
                          "%s: header length %" PRIu64 " is invalid (file has %lld bytes; at "
                          "most %" PRIu64 " accepted)",
                          path, hlen, (long long)st.st_size, (uint64_t)ATL_ST_MAX_HEADER);
        goto done;
    }
    if (base[8] != '{') {
        rc = atl_data_err(err, err_len, "%s: the header does not start with '{'", path);
        goto done;
    }
    json_error_t jerr;
    root = json_loadb((const char *)base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = atl_data_err(err, err_len, "%s: bad JSON header at byte %d: %s", path,
                          jerr.position, jerr.text);
        goto done;
    }
    if (!json_is_object(root)) {
        rc = atl_data_err(err, err_len, "%s: the header is not a JSON object", path);
        goto done;
    }
    f->data = base + 8 + hlen;
    f->data_len = (uint64_t)st.st_size - 8 - hlen;
    size_t cap = json_object_size(root);
    f->t = calloc(cap ? cap : 1, sizeof *f->t);
    if (!f->t) {
        rc = atl_data_err(err, err_len, "%s: out of memory", path);
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                rc = atl_data_err(err, err_len, "%s: __metadata__ is not an object", path);
                goto done;
            }
            f->meta = calloc(json_object_size(v) ? json_object_size(v) : 1, sizeof *f->meta);
            if (!f->meta) {
                rc = atl_data_err(err, err_len, "%s: out of memory", path);
                goto done;
            }
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv)
            {
                if (!json_is_string(mv)) {
                    rc = atl_data_err(err, err_len,
                                      "%s: __metadata__ value of '%s' is not a string", path, mk);
                    goto done;
                }
                f->meta[f->n_meta].key = atl_data_strdup(mk);
                f->meta[f->n_meta].value = atl_data_strdup(json_string_value(mv));
                f->n_meta++;
            }
            continue;
        }
        atl_st_info *info = &f->t[f->n];
        info->name = atl_data_strdup(key);
        f->n++;
        if (!info->name) {
            rc = atl_data_err(err, err_len, "%s: out of memory", path);
            goto done;
        }
        if (parse_entry(path, key, v, info, err, err_len) != 0) {
            rc = -1;
            goto done;
        }
        if (info->end > f->data_len) {
            rc = atl_data_err(err, err_len,
                              "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                              "] run past the data section (%" PRIu64 " bytes)",
                              path, key, info->begin, info->end, f->data_len);
            goto done;
        }
        info->data = f->data + info->begin;
    }
    /* The tensors must tile the data section exactly: no overlaps, no holes. */
    by_off = malloc((f->n ? f->n : 1) * sizeof *by_off);
    f->by_name = malloc((f->n ? f->n : 1) * sizeof *f->by_name);
    if (!by_off || !f->by_name) {
        rc = atl_data_err(err, err_len, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < f->n; i++)
        by_off[i] = f->by_name[i] = &f->t[i];
    qsort(by_off, f->n, sizeof *by_off, cmp_by_offset);
    qsort(f->by_name, f->n, sizeof *f->by_name, cmp_by_name);
    uint64_t expect = 0;
    for (size_t i = 0; i < f->n; i++) {
        const atl_st_info *t = by_off[i];
        if (t->begin < expect) {
            rc = atl_data_err(err, err_len,
                              "%s: tensor '%s' [%" PRIu64 ", %" PRIu64
                              ") overlaps '%s' which ends at %" PRIu64,
                              path, t->name, t->begin, t->end, by_off[i - 1]->name, expect);
            goto done;
        }
        if (t->begin > expect) {
            rc = atl_data_err(err, err_len,
                              "%s: data bytes [%" PRIu64 ", %" PRIu64
                              ") belong to no tensor (hole before '%s')",
                              path, expect, t->begin, t->name);
            goto done;
        }
        expect = t->end;
    }
    if (expect != f->data_len) {
        rc = atl_data_err(err, err_len,
                          "%s: the data section has %" PRIu64 " bytes but the tensors cover %" PRIu64
                          " (trailing bytes or truncated header)",
                          path, f->data_len, expect);
        goto done;
    }
done:
    free(by_off);
    json_decref(root);
    if (rc != 0) {
        atl_st_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

size_t atl_st_count(const atl_st_file *f) { return f->n; }

const atl_st_info *atl_st_at(const atl_st_file *f, size_t i) { return i < f->n ? &f->t[i] : NULL; }

const atl_st_info *atl_st_find(const atl_st_file *f, const char *name)
{
    atl_st_info key = {0};
    key.name = name;
    const atl_st_info *kp = &key;
    const atl_st_info **hit = bsearch(&kp, f->by_name, f->n, sizeof *f->by_name, cmp_by_name);
    return hit ? *hit : NULL;
}

int64_t atl_st_numel(const atl_st_info *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

size_t atl_st_meta_count(const atl_st_file *f) { return f->n_meta; }

atl_st_kv atl_st_meta_at(const atl_st_file *f, size_t i)
{
    atl_st_kv kv = {NULL, NULL};
    if (i < f->n_meta)
        kv = f->meta[i];
    return kv;
}

const char *atl_st_meta_get(const atl_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    return NULL;
}

int atl_st_read(const atl_st_file *f, const atl_st_info *t, void *dst, size_t dst_bytes,
                char *err, size_t err_len)
{
    uint64_t bytes = t->end - t->begin;
    if (bytes != dst_bytes)
        return atl_data_err(err, err_len, "%s: tensor '%s' has %" PRIu64 " bytes, destination %zu",
                            f->path, t->name, bytes, dst_bytes);
    if (bytes)
        memcpy(dst, t->data, (size_t)bytes);
    return 0;
}

bool atl_st_name_matches(const char *name, const char *pattern)
{
    size_t pl = strlen(pattern);
    if (pl > 0 && pattern[pl - 1] == '*')
        return strncmp(name, pattern, pl - 1) == 0;
    if (strncmp(name, pattern, pl) != 0)
        return false;
    return name[pl] == '\0' || name[pl] == '.';
}

static bool skipped(const char *name, const char *const *skip, size_t n_skip)
{
    for (size_t i = 0; i < n_skip; i++)
        if (skip[i] && atl_st_name_matches(name, skip[i]))
            return true;
    return false;
}

/* A growing message with one section per kind of mismatch. */
typedef struct msgbuf {
    char *s;
    size_t len, cap;
    int count;
} msgbuf;

static void msg_add(msgbuf *m, const char *fmt, ...) ATL_DATA_PRINTF(2, 3);
static void msg_add(msgbuf *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0)
        return;
    if (m->len + (size_t)need + 1 > m->cap) {
        size_t cap = (m->cap ? m->cap * 2 : 256) + (size_t)need;
        char *s = realloc(m->s, cap);
        if (!s)
            return;
        m->s = s;
        m->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(m->s + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    m->len += (size_t)need;
}

int atl_st_load_into(const atl_st_file *f, const atl_st_tensor *dst, size_t n,
                     const char *const *skip, size_t n_skip, unsigned flags, size_t *n_loaded,
                     char *err, size_t err_len)
{
    if (n_loaded)
        *n_loaded = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(dst[i].name, dst[j].name) == 0)
                return atl_data_err(err, err_len, "%s: destination '%s' listed twice", f->path,
                                    dst[i].name);
    const atl_st_info **src = calloc(n ? n : 1, sizeof *src);
    bool *wanted = calloc(f->n ? f->n : 1, sizeof *wanted);
    if (!src || !wanted) {
        free(src);
        free(wanted);
        return atl_data_err(err, err_len, "%s: out of memory", f->path);
    }
    msgbuf missing = {0}, unexpected = {0}, shape = {0}, dtype = {0};
    for (size_t i = 0; i < n; i++) {
        if (skipped(dst[i].name, skip, n_skip))
            continue;
        const atl_st_info *t = atl_st_find(f, dst[i].name);
        if (!t) {
            if (!(flags & ATL_ST_LOAD_ALLOW_MISSING))
                msg_add(&missing, "%s%s", missing.count++ ? ", " : "", dst[i].name);
            continue;
        }
        wanted[t - f->t] = true;
        bool same = t->ndim == dst[i].ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = t->shape[d] == dst[i].shape[d];
        if (!same) {
            char a[160], b[160];
            format_shape(a, sizeof a, t->ndim, t->shape);
            format_shape(b, sizeof b, dst[i].ndim > 0 && dst[i].ndim <= ATL_ST_MAX_DIMS
                                          ? dst[i].ndim : 0, dst[i].shape);
            msg_add(&shape, "%s%s %s in file, %s expected", shape.count++ ? ", " : "",
                    dst[i].name, a, b);
            continue;
        }
        if (t->dtype != dst[i].dtype) {
            msg_add(&dtype, "%s%s %s in file, %s expected", dtype.count++ ? ", " : "",
                    dst[i].name, atl_st_dtype_name(t->dtype), atl_st_dtype_name(dst[i].dtype));
            continue;
        }
        if (t->end > t->begin && !dst[i].data) {
            msg_add(&dtype, "%s%s has no destination buffer", dtype.count++ ? ", " : "",
                    dst[i].name);
            continue;
        }
        src[i] = t;
    }
    if (!(flags & ATL_ST_LOAD_ALLOW_UNEXPECTED))
        for (size_t k = 0; k < f->n; k++)
            if (!wanted[k] && !skipped(f->t[k].name, skip, n_skip))
                msg_add(&unexpected, "%s%s", unexpected.count++ ? ", " : "", f->t[k].name);
    int problems = missing.count + unexpected.count + shape.count + dtype.count;
    int rc = 0;
    if (problems) {
        msgbuf all = {0};
        msg_add(&all, "%s: checkpoint does not match (%d problem%s):", f->path, problems,
                problems == 1 ? "" : "s");
        if (missing.count)
            msg_add(&all, " missing: %s;", missing.s ? missing.s : "?");
        if (unexpected.count)
            msg_add(&all, " unexpected: %s;", unexpected.s ? unexpected.s : "?");
        if (shape.count)
            msg_add(&all, " wrong shape: %s;", shape.s ? shape.s : "?");
        if (dtype.count)
            msg_add(&all, " wrong dtype: %s;", dtype.s ? dtype.s : "?");
        if (all.len && all.s[all.len - 1] == ';')
            all.s[--all.len] = '\0';
        rc = atl_data_err(err, err_len, "%s", all.s ? all.s : "checkpoint does not match");
        if (err && err_len > 4 && all.len >= err_len)
            memcpy(err + err_len - 4, "...", 4); /* say that the list was cut */
        free(all.s);
    } else {
        size_t loaded = 0;
        for (size_t i = 0; i < n; i++) {
            if (!src[i])
                continue;
            uint64_t bytes = src[i]->end - src[i]->begin;
            if (bytes)
                memcpy(dst[i].data, src[i]->data, (size_t)bytes);
            loaded++;
        }
        if (n_loaded)
            *n_loaded = loaded;
    }
    free(missing.s);
    free(unexpected.s);
    free(shape.s);
    free(dtype.s);
    free(src);
    free(wanted);
    return rc;
}

int atl_st_load(const char *path, const atl_st_tensor *dst, size_t n, const char *const *skip,
                size_t n_skip, unsigned flags, size_t *n_loaded, char *err, size_t err_len)
{
    atl_st_file *f;
    if (atl_st_open(path, &f, err, err_len) != 0)
        return -1;
    int rc = atl_st_load_into(f, dst, n, skip, n_skip, flags, n_loaded, err, err_len);
    atl_st_close(f);
    return rc;
}
