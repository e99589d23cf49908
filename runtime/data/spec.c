/* Spec strings: "KIND[:ARG][:key=value]..." (grammar in docs/DATA.md). */
#include "data_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLASS_LIST 100000

void atl_data_spec_free(atl_data_spec *s)
{
    if (!s)
        return;
    free(s->dir);
    free(s->x_path);
    free(s->y_path);
    free(s->xt_path);
    free(s->yt_path);
    free(s->classes);
    memset(s, 0, sizeof *s);
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!*s)
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* "a,b,c" floats (1..ATL_DATA_MAX_CHANNELS of them). */
static int parse_floats(const char *s, float *out, int *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        if (*n == ATL_DATA_MAX_CHANNELS)
            return -1;
        char *end;
        errno = 0;
        float v = strtof(p, &end);
        if (end == p || errno)
            return -1;
        out[(*n)++] = v;
        if (*end == ',')
            p = end + 1;
        else if (*end == '\0')
            p = end;
        else
            return -1;
        if (*end == ',' && !*p)
            return -1;
    }
    return *n > 0 ? 0 : -1;
}

/* classes=K (count: 0..K-1), or a list of ids and ranges "3,42" / "10-11" / "0-4,7". */
static int parse_classes(const char *v, atl_data_spec *s, const char *spec, char *err,
                         size_t err_len)
{
    if (!strchr(v, ',') && !strchr(v, '-')) {
        int64_t k;
        if (parse_i64(v, 1, MAX_CLASS_LIST, &k) != 0)
            return atl_data_err(err, err_len,
                                "%s: classes=%s: expected a class count >= 1, a list (3,42) "
                                "or a range (10-11)",
                                spec, v);
        s->classes = malloc((size_t)k * sizeof *s->classes);
        if (!s->classes)
            return atl_data_err(err, err_len, "%s: out of memory", spec);
        for (int64_t i = 0; i < k; i++)
            s->classes[i] = (int32_t)i;
        s->n_classes = (int)k;
        return 0;
    }
    int cap = 16, n = 0;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    char *copy = atl_data_strdup(v);
    if (!ids || !copy) {
        free(ids);
        free(copy);
        return atl_data_err(err, err_len, "%s: out of memory", spec);
    }
    int rc = 0;
    char *save = NULL;
    if (v[0] == ',' || v[strlen(v) - 1] == ',' || strstr(v, ",,")) {
        rc = atl_data_err(err, err_len, "%s: classes=%s: empty item in the class list", spec, v);
        goto done;
    }
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        int64_t a, b;
        char *dash = strchr(item, '-');
        if (dash) {
            *dash = '\0';
            if (parse_i64(item, 0, INT32_MAX, &a) != 0 ||
                parse_i64(dash + 1, 0, INT32_MAX, &b) != 0 || b < a) {
                *dash = '-';
                rc = atl_data_err(err, err_len,
                                  "%s: classes: bad range '%s' (expected A-B with 0 <= A <= B)",
                                  spec, item);
                goto done;
            }
        } else if (parse_i64(item, 0, INT32_MAX, &a) == 0) {
            b = a;
        } else {
            rc = atl_data_err(err, err_len, "%s: classes: bad class id '%s'", spec, item);
            goto done;
        }
        for (int64_t c = a; c <= b; c++) {
            if (n == MAX_CLASS_LIST) {
                rc = atl_data_err(err, err_len, "%s: classes: more than %d classes", spec,
                                  MAX_CLASS_LIST);
                goto done;
            }
            for (int j = 0; j < n; j++) {
                if (ids[j] == c) {
                    rc = atl_data_err(err, err_len, "%s: classes: class %" PRId64
                                      " listed twice", spec, c);
                    goto done;
                }
            }
            if (n == cap) {
                cap *= 2;
                int32_t *t = realloc(ids, (size_t)cap * sizeof *ids);
                if (!t) {
                    rc = atl_data_err(err, err_len, "%s: out of memory", spec);
                    goto done;
                }
                ids = t;
            }
            ids[n++] = (int32_t)c;
        }
    }
done:
    free(copy);
    if (rc != 0) {
        free(ids);
        return rc;
    }
    s->classes = ids;
    s->n_classes = n;
    return 0;
}

/* "X,Y" -> two owned strings. */
static int parse_pair(const char *v, char **a, char **b)
{
    const char *comma = strchr(v, ',');
    if (!comma || comma == v || !comma[1] || strchr(comma + 1, ','))
        return -1;
    *a = malloc((size_t)(comma - v) + 1);
    *b = atl_data_strdup(comma + 1);
    if (!*a || !*b) {
        free(*a);
        free(*b);
        *a = *b = NULL;
        return -1;
    }
    memcpy(*a, v, (size_t)(comma - v));
    (*a)[comma - v] = '\0';
    return 0;
}

enum {
    OPT_CLASSES = 1u << 0,
    OPT_PER_CLASS = 1u << 1,
    OPT_N = 1u << 2,
    OPT_SEED = 1u << 3,
    OPT_SIZE = 1u << 4,
    OPT_LABEL = 1u << 5,
    OPT_LAYOUT = 1u << 6,
    OPT_NORM = 1u << 7,
    OPT_MEAN = 1u << 8,
    OPT_STD = 1u << 9,
    OPT_TEST = 1u << 10,
};

static const struct {
    const char *name;
    unsigned bit;
} opt_names[] = {
    {"classes", OPT_CLASSES}, {"per_class", OPT_PER_CLASS}, {"n", OPT_N},
    {"seed", OPT_SEED},       {"size", OPT_SIZE},           {"label", OPT_LABEL},
    {"layout", OPT_LAYOUT},   {"norm", OPT_NORM},           {"mean", OPT_MEAN},
    {"std", OPT_STD},         {"test", OPT_TEST},
};

static unsigned allowed_opts(atl_data_kind k)
{
    unsigned common = OPT_CLASSES | OPT_PER_CLASS | OPT_NORM | OPT_MEAN | OPT_STD;
    switch (k) {
    case ATL_DATA_SYNTHETIC: return common | OPT_N | OPT_SEED | OPT_SIZE;
    case ATL_DATA_CIFAR10: return common;
    case ATL_DATA_CIFAR100: return common | OPT_LABEL;
    case ATL_DATA_NPY: return common | OPT_LAYOUT | OPT_TEST;
    }
    return common;
}

static const char *kind_name(atl_data_kind k)
{
    switch (k) {
    case ATL_DATA_SYNTHETIC: return "synthetic";
    case ATL_DATA_CIFAR10: return "cifar10";
    case ATL_DATA_CIFAR100: return "cifar100";
    case ATL_DATA_NPY: return "npy";
    }
    return "?";
}

static void list_opts(unsigned allowed, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < sizeof opt_names / sizeof opt_names[0]; i++) {
        if (!(allowed & opt_names[i].bit))
            continue;
        int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", opt_names[i].name);
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
}

static int apply_option(atl_data_spec *s, char *opt, unsigned *seen, const char *spec, char *err,
                        size_t err_len)
{
    char *eq = strchr(opt, '=');
    if (!eq || eq == opt)
        return atl_data_err(err, err_len, "%s: expected key=value, got '%s'", spec, opt);
    *eq = '\0';
    const char *key = opt, *v = eq + 1;
    unsigned bit = 0;
    for (size_t i = 0; i < sizeof opt_names / sizeof opt_names[0]; i++)
        if (strcmp(key, opt_names[i].name) == 0)
            bit = opt_names[i].bit;
    unsigned allowed = allowed_opts(s->kind);
    if (!bit || !(allowed & bit)) {
        char names[160];
        list_opts(allowed, names, sizeof names);
        return atl_data_err(err, err_len, "%s: unknown option '%s' for %s (valid: %s)", spec,
                            key, kind_name(s->kind), names);
    }
    if (*seen & bit)
        return atl_data_err(err, err_len, "%s: option '%s' given twice", spec, key);
    *seen |= bit;
    if (!*v)
        return atl_data_err(err, err_len, "%s: option '%s' has an empty value", spec, key);
    int64_t i64;
    switch (bit) {
    case OPT_CLASSES:
        return parse_classes(v, s, spec, err, err_len);
    case OPT_PER_CLASS:
        if (parse_i64(v, 1, INT64_MAX, &i64) != 0)
            return atl_data_err(err, err_len, "%s: per_class=%s: expected an integer >= 1",
                                spec, v);
        s->per_class = i64;
        return 0;
    case OPT_N:
        if (parse_i64(v, 1, 100000000, &i64) != 0)
            return atl_data_err(err, err_len, "%s: n=%s: expected images per class >= 1", spec,
                                v);
        s->n_per_class = i64;
        return 0;
    case OPT_SEED:
        if (parse_u64(v, &s->seed) != 0)
            return atl_data_err(err, err_len, "%s: seed=%s: expected an unsigned integer", spec,
                                v);
        return 0;
    case OPT_SIZE:
        if (parse_i64(v, 8, 512, &i64) != 0)
            return atl_data_err(err, err_len, "%s: size=%s: expected an image size in 8..512",
                                spec, v);
        s->size = (int)i64;
        return 0;
    case OPT_LABEL:
        if (strcmp(v, "coarse") == 0)
            s->coarse = true;
        else if (strcmp(v, "fine") == 0)
            s->coarse = false;
        else
            return atl_data_err(err, err_len, "%s: label=%s: expected coarse or fine", spec, v);
        return 0;
    case OPT_LAYOUT:
        if (strcmp(v, "nhwc") == 0)
            s->nhwc = true;
        else if (strcmp(v, "nchw") == 0)
            s->nhwc = false;
        else
            return atl_data_err(err, err_len, "%s: layout=%s: expected nchw or nhwc", spec, v);
        return 0;
    case OPT_NORM: {
        static const struct {
            const char *name;
            atl_data_norm norm;
        } norms[] = {{"default", ATL_NORM_DEFAULT},   {"none", ATL_NORM_NONE},
                     {"cifar10", ATL_NORM_CIFAR10},   {"cifar100", ATL_NORM_CIFAR100},
                     {"synthetic", ATL_NORM_SYNTHETIC}};
        for (size_t i = 0; i < sizeof norms / sizeof norms[0]; i++) {
            if (strcmp(v, norms[i].name) == 0) {
                s->norm = norms[i].norm;
                return 0;
            }
        }
        return atl_data_err(err, err_len,
                            "%s: norm=%s: expected default, none, cifar10, cifar100 or "
                            "synthetic (or mean=...:std=...)",
                            spec, v);
    }
    case OPT_MEAN:
    case OPT_STD: {
        float *dst = bit == OPT_MEAN ? s->mean : s->std;
        int *n = bit == OPT_MEAN ? &s->n_mean : &s->n_std;
        if (parse_floats(v, dst, n) != 0)
            return atl_data_err(err, err_len,
                                "%s: %s=%s: expected 1 to %d comma-separated numbers", spec,
                                key, v, ATL_DATA_MAX_CHANNELS);
        if (bit == OPT_STD)
            for (int i = 0; i < *n; i++)
                if (!(dst[i] > 0.0f))
                    return atl_data_err(err, err_len, "%s: std=%s: values must be > 0", spec,
                                        v);
        return 0;
    }
    case OPT_TEST:
        if (parse_pair(v, &s->xt_path, &s->yt_path) != 0)
            return atl_data_err(err, err_len, "%s: test=%s: expected XT.npy,YT.npy", spec, v);
        return 0;
    default:
        return atl_data_err(err, err_len, "%s: internal error: option %s", spec, key);
    }
}

int atl_data_spec_parse(const char *spec, atl_data_spec *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    out->per_class = -1;
    out->n_per_class = -1;
    out->size = 32;
    out->norm = ATL_NORM_DEFAULT;
    if (!spec || !*spec)
        return atl_data_err(err, err_len,
                            "empty data spec (expected synthetic:..., cifar10:DIR, "
                            "cifar100:DIR, or npy:X.npy,Y.npy)");
    char *copy = atl_data_strdup(spec);
    if (!copy)
        return atl_data_err(err, err_len, "%s: out of memory", spec);
    int rc = 0;
    char *fields[64];
    int nf = 0;
    /* Split on ':' by hand: strtok would merge empty fields, which should be errors. */
    for (char *p = copy;;) {
        if (nf == 64) {
            rc = atl_data_err(err, err_len, "%s: too many ':'-separated fields", spec);
            goto done;
        }
        fields[nf++] = p;
        char *c = strchr(p, ':');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    const char *kind = fields[0];
    int first_opt = 1;
    if (strcmp(kind, "synthetic") == 0) {
        out->kind = ATL_DATA_SYNTHETIC;
    } else if (strcmp(kind, "cifar10") == 0 || strcmp(kind, "cifar100") == 0) {
        out->kind = strcmp(kind, "cifar10") == 0 ? ATL_DATA_CIFAR10 : ATL_DATA_CIFAR100;
        if (nf < 2 || !*fields[1] || strchr(fields[1], '=')) {
            rc = atl_data_err(err, err_len, "%s: missing directory (expected %s:DIR[:options])",
                              spec, kind);
            goto done;
        }
        out->dir = atl_data_strdup(fields[1]);
        first_opt = 2;
    } else if (strcmp(kind, "npy") == 0) {
        out->kind = ATL_DATA_NPY;
        if (nf < 2 || parse_pair(fields[1], &out->x_path, &out->y_path) != 0) {
            rc = atl_data_err(err, err_len,
                              "%s: expected npy:X.npy,Y.npy[:options] (two files, one comma)",
                              spec);
            goto done;
        }
        first_opt = 2;
    } else {
        rc = atl_data_err(err, err_len,
                          "%s: unknown data source '%s' (expected synthetic, cifar10, cifar100 "
                          "or npy)",
                          spec, kind);
        goto done;
    }
    unsigned seen = 0;
    for (int i = first_opt; i < nf; i++) {
        if (!*fields[i]) {
            rc = atl_data_err(err, err_len, "%s: empty field between ':'", spec);
            goto done;
        }
        if ((rc = apply_option(out, fields[i], &seen, spec, err, err_len)) != 0)
            goto done;
    }
    if ((seen & (OPT_MEAN | OPT_STD)) != 0) {
        if ((seen & (OPT_MEAN | OPT_STD)) != (OPT_MEAN | OPT_STD) || (seen & OPT_NORM)) {
            rc = atl_data_err(err, err_len,
                              "%s: custom normalisation needs both mean= and std= (and no "
                              "norm=)",
                              spec);
            goto done;
        }
        if (out->n_mean != out->n_std) {
            rc = atl_data_err(err, err_len, "%s: mean= has %d values but std= has %d", spec,
                              out->n_mean, out->n_std);
            goto done;
        }
        out->norm = ATL_NORM_CUSTOM;
    }
    if (out->kind == ATL_DATA_SYNTHETIC && !out->classes) {
        rc = atl_data_err(err, err_len,
                          "%s: synthetic needs classes= (a count like classes=10, a list "
                          "classes=3,42 or a range classes=10-11)",
                          spec);
        goto done;
    }
done:
    free(copy);
    if (rc != 0)
        atl_data_spec_free(out);
    return rc;
}
