/* Loading the data of `atlc report`; see data.h and docs/EXPERIMENTS.md. */
#include "data.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csv.h"

/* ------------------------------------------------------------------------------------------ */
/* small helpers */

static char *xstrdup(const char *s)
{
    char *c = strdup(s ? s : "");
    if (!c)
        abort(); /* out of memory: nothing sensible to report mid-way */
    return c;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

static char *path_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = xrealloc(NULL, na + nb + 2);
    memcpy(p, a, na);
    size_t k = na;
    if (na && a[na - 1] != '/')
        p[k++] = '/';
    memcpy(p + k, b, nb + 1);
    return p;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of a directory that are directories (dirs) or files. */
static char **list_dir(const char *dir, bool dirs, int *n)
{
    *n = 0;
    DIR *dp = opendir(dir);
    if (!dp)
        return NULL;
    char **v = NULL;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.')
            continue;
        char *full = path_join(dir, e->d_name);
        bool ok = dirs ? is_dir(full) : is_file(full);
        free(full);
        if (!ok)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            v = xrealloc(v, (size_t)cap * sizeof *v);
        }
        v[(*n)++] = xstrdup(e->d_name);
    }
    closedir(dp);
    if (*n > 1)
        qsort(v, (size_t)*n, sizeof *v, cmp_str);
    return v;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* "s12" -> 12; "pretrain-s3" with prefix "pretrain-s" -> 3 */
static bool parse_seed_name(const char *name, const char *prefix, long long *seed)
{
    size_t k = strlen(prefix);
    if (strncmp(name, prefix, k) != 0 || !isdigit((unsigned char)name[k]))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(name + k, &end, 10);
    if (*end || errno)
        return false;
    *seed = v;
    return true;
}

/* "pretrain-s3" or "pretrain-HASH-s3" (atlc run names shared pretraining by a hash of its
 * settings) -> seed 3 and the hash ("" when absent). */
static bool parse_pretrain_name(const char *name, long long *seed, char *hash, size_t hash_len)
{
    if (strncmp(name, "pretrain-", 9) != 0)
        return false;
    const char *s = strrchr(name, '-');
    if (!s || s[1] != 's' || !parse_seed_name(s + 1, "s", seed))
        return false;
    size_t n = s >= name + 9 ? (size_t)(s - (name + 9)) : 0;
    if (s == name + 8) /* "pretrain-sN" */
        n = 0;
    snprintf(hash, hash_len, "%.*s", (int)n, name + 9);
    return true;
}

/* A full-string number (surrounding blanks allowed); "nan" parses (a diverged run). */
static bool parse_num(const char *s, double *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end || errno == ERANGE)
        return false;
    *out = v;
    return true;
}

static void report_file_line(atl_diag *d, const char *path, int line, int col, const char *fmt,
                             ...) ATL_PRINTF(5, 6);
static void report_file_line(atl_diag *d, const char *path, int line, int col, const char *fmt,
                             ...)
{
    int id = atl_diag_source_for_path(d, path);
    va_list ap;
    va_start(ap, fmt);
    atl_diag_report_linecol(d, ATL_SEV_ERROR, id, line, col > 0 ? col : 1, 1, fmt, ap);
    va_end(ap);
}

/* Loads a JSON file (an object); reports "FILE:LINE:COL: error: ..." on a syntax error. */
static json_t *load_json_object(const char *path, atl_diag *d)
{
    if (!is_file(path)) {
        atl_diag_error(d, ATL_NO_SPAN, "cannot read '%s': %s", path,
                       is_dir(path) ? "is a directory" : strerror(ENOENT));
        return NULL;
    }
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (je.line > 0)
            report_file_line(d, path, je.line, je.column, "malformed JSON: %s", je.text);
        else
            atl_diag_error(d, ATL_NO_SPAN, "%s: malformed JSON: %s", path, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        atl_diag_error(d, ATL_NO_SPAN, "%s: expected a JSON object at the top level", path);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* ------------------------------------------------------------------------------------------ */
/* the loader: results with raw parameter strings until every source is read */

typedef struct raw_res {
    rep_result r;
    char **pstr; /* per parameter name index; NULL = absent */
    int n_pstr;
    char *where; /* for messages: "FILE:LINE" or a result.json path */
} raw_res;

typedef struct loader {
    atl_diag *d;
    rep_data *data;
    raw_res *raw;
    int n_raw, cap_raw;
    char **pnames;
    int n_pnames;
    char **exp_tasks; /* experiment.json's task order */
    int n_exp_tasks;
} loader;

static int param_id(loader *L, const char *name)
{
    for (int i = 0; i < L->n_pnames; i++)
        if (strcmp(L->pnames[i], name) == 0)
            return i;
    L->pnames = xrealloc(L->pnames, (size_t)(L->n_pnames + 1) * sizeof *L->pnames);
    L->pnames[L->n_pnames] = xstrdup(name);
    return L->n_pnames++;
}

static raw_res *new_raw(loader *L, const char *task, const char *method, long long seed,
                        const char *where)
{
    if (L->n_raw == L->cap_raw) {
        L->cap_raw = L->cap_raw ? 2 * L->cap_raw : 64;
        L->raw = xrealloc(L->raw, (size_t)L->cap_raw * sizeof *L->raw);
    }
    raw_res *r = &L->raw[L->n_raw++];
    memset(r, 0, sizeof *r);
    r->r.task = xstrdup(task);
    r->r.method = xstrdup(method);
    r->r.seed = seed;
    r->r.final_acc = r->r.best_acc = r->r.final_loss = NAN;
    r->where = xstrdup(where);
    return r;
}

static void raw_set_param(loader *L, raw_res *r, const char *name, const char *value)
{
    int id = param_id(L, name);
    if (id >= r->n_pstr) {
        r->pstr = xrealloc(r->pstr, (size_t)(id + 1) * sizeof *r->pstr);
        for (int i = r->n_pstr; i <= id; i++)
            r->pstr[i] = NULL;
        r->n_pstr = id + 1;
    }
    free(r->pstr[id]);
    r->pstr[id] = xstrdup(value);
}

static void add_unique(char ***v, int *n, const char *s)
{
    for (int i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0)
            return;
    *v = xrealloc(*v, (size_t)(*n + 1) * sizeof **v);
    (*v)[(*n)++] = xstrdup(s);
}

/* JSON scalar as parameter text: numbers with up to 15 significant digits, strings verbatim. */
static bool json_scalar_text(const json_t *v, char *buf, size_t n)
{
    if (json_is_string(v))
        snprintf(buf, n, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, n, "%.15g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, n, "%s", json_is_true(v) ? "true" : "false");
    else
        return false;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* results: CSV */

static int load_results_csv(loader *L, const char *path)
{
    atl_diag *d = L->d;
    rep_csv c;
    if (rep_csv_read(path, d, &c))
        return -1;
    int rc = -1;
    int c_task = rep_csv_col(&c, "task"), c_method = rep_csv_col(&c, "method");
    int c_seed = rep_csv_col(&c, "seed"), c_final = rep_csv_col(&c, "final_acc");
    int c_best = rep_csv_col(&c, "best_acc"), c_loss = rep_csv_col(&c, "final_loss");
    const char *need[] = {"seed", "task", "method", "final_acc"};
    int have[] = {c_seed, c_task, c_method, c_final};
    for (int i = 0; i < 4; i++)
        if (have[i] < 0) {
            report_file_line(d, path, 1, 1, "missing column '%s' in the header row", need[i]);
            goto done;
        }
    if (c.n_rows == 0) {
        atl_diag_error(d, ATL_NO_SPAN, "%s: no data rows (only a header)", path);
        goto done;
    }
    for (int row = 0; row < c.n_rows; row++) {
        char where[1200];
        snprintf(where, sizeof where, "%s:%d", path, c.row_line[row]);
        const char *task = rep_csv_cell(&c, row, c_task), *method = rep_csv_cell(&c, row, c_method);
        if (!task[0] || !method[0]) {
            rep_csv_cell_error(&c, d, row, task[0] ? c_method : c_task, "empty %s",
                               task[0] ? "method" : "task");
            goto done;
        }
        double seed;
        const char *s = rep_csv_cell(&c, row, c_seed);
        if (!parse_num(s, &seed) || seed != floor(seed) || fabs(seed) > 9e15) {
            rep_csv_cell_error(&c, d, row, c_seed, "seed: '%s' is not an integer", s);
            goto done;
        }
        raw_res *r = new_raw(L, task, method, (long long)seed, where);
        const char *fa = rep_csv_cell(&c, row, c_final);
        if (!parse_num(fa, &r->r.final_acc)) {
            rep_csv_cell_error(&c, d, row, c_final, "final_acc: '%s' is not a number", fa);
            goto done;
        }
        int opt_cols[2] = {c_best, c_loss};
        double *opt_dst[2] = {&r->r.best_acc, &r->r.final_loss};
        for (int k = 0; k < 2; k++) {
            if (opt_cols[k] < 0)
                continue;
            const char *v = rep_csv_cell(&c, row, opt_cols[k]);
            if (v[0] && !parse_num(v, opt_dst[k])) {
                rep_csv_cell_error(&c, d, row, opt_cols[k], "%s: '%s' is not a number",
                                   c.header[opt_cols[k]], v);
                goto done;
            }
        }
        for (int col = 0; col < c.n_cols; col++)
            if (strchr(c.header[col], '.') && rep_csv_cell(&c, row, col)[0])
                raw_set_param(L, r, c.header[col], rep_csv_cell(&c, row, col));
    }
    rc = 0;
done:
    rep_csv_free(&c);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* results: JSON */

static bool get_num(json_t *o, const char *key, double *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return false;
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

/* One result object; hints come from the directory layout (NULL / -1 when unknown). */
static int add_result_json(loader *L, json_t *o, const char *where, const char *task_hint,
                           const char *method_hint, long long seed_hint, json_t *top_params)
{
    atl_diag *d = L->d;
    if (!json_is_object(o)) {
        atl_diag_error(d, ATL_NO_SPAN, "%s: expected a result object", where);
        return -1;
    }
    json_t *jt = json_object_get(o, "task"), *jm = json_object_get(o, "method");
    json_t *js = json_object_get(o, "seed");
    const char *task = json_is_string(jt) ? json_string_value(jt) : task_hint;
    const char *method = json_is_string(jm) ? json_string_value(jm) : method_hint;
    long long seed = json_is_integer(js) ? (long long)json_integer_value(js) : seed_hint;
    if (!task || !method || (!js && seed_hint < 0) || (js && !json_is_integer(js))) {
        atl_diag_error(d, ATL_NO_SPAN, "%s: a result needs \"task\", \"method\" (strings) and "
                       "\"seed\" (an integer)", where);
        return -1;
    }
    raw_res *r = new_raw(L, task, method, seed, where);
    json_t *fa = json_object_get(o, "final_acc");
    if (!json_is_number(fa) && !json_is_null(fa)) {
        atl_diag_error(d, ATL_NO_SPAN, "%s: a result needs \"final_acc\" (a number)", where);
        return -1;
    }
    get_num(o, "final_acc", &r->r.final_acc);
    get_num(o, "best_acc", &r->r.best_acc);
    get_num(o, "final_loss", &r->r.final_loss);
    json_t *sets[2] = {top_params, json_object_get(o, "params")};
    for (int k = 0; k < 2; k++) {
        if (!sets[k] || json_is_null(sets[k]))
            continue;
        if (!json_is_object(sets[k])) {
            atl_diag_error(d, ATL_NO_SPAN, "%s: \"params\" must be an object", where);
            return -1;
        }
        const char *key;
        json_t *v;
        json_object_foreach(sets[k], key, v)
        {
            char buf[256];
            if (!json_scalar_text(v, buf, sizeof buf)) {
                atl_diag_error(d, ATL_NO_SPAN, "%s: params.%s must be a number, string or "
                               "boolean", where, key);
                return -1;
            }
            raw_set_param(L, r, key, buf);
        }
    }
    return 0;
}

static int load_results_json(loader *L, const char *path)
{
    json_t *j = load_json_object(path, L->d);
    if (!j)
        return -1;
    int rc = -1;
    json_t *runs = json_object_get(j, "runs");
    if (!json_is_array(runs)) {
        atl_diag_error(L->d, ATL_NO_SPAN, "%s: expected \"runs\": [ ... ] (see "
                       "docs/EXPERIMENTS.md)", path);
        goto done;
    }
    json_t *top = json_object_get(j, "params");
    json_t *name = json_object_get(j, "experiment");
    if (json_is_string(name) && !L->data->name)
        L->data->name = xstrdup(json_string_value(name));
    size_t i;
    json_t *o;
    json_array_foreach(runs, i, o)
    {
        char where[1100];
        snprintf(where, sizeof where, "%s: runs[%zu]", path, i);
        if (add_result_json(L, o, where, NULL, NULL, -1, top))
            goto done;
    }
    rc = 0;
done:
    json_decref(j);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* curves: metrics.jsonl */

static int load_metrics(loader *L, const char *path, const char *phase, const char *method,
                        long long seed)
{
    atl_diag *d = L->d;
    FILE *f = fopen(path, "rb");
    if (!f) {
        atl_diag_error(d, ATL_NO_SPAN, "cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    rep_curve c = {.phase = xstrdup(phase), .method = method ? xstrdup(method) : NULL,
                   .seed = seed};
    int cap = 0, line = 0, rc = -1;
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t len;
    while ((len = getline(&buf, &bcap, f)) >= 0) {
        line++;
        bool blank = true;
        for (ssize_t k = 0; k < len && blank; k++)
            blank = isspace((unsigned char)buf[k]);
        if (blank)
            continue;
        json_error_t je;
        json_t *o = json_loadb(buf, (size_t)len, 0, &je);
        if (!o || !json_is_object(o)) {
            if (o)
                report_file_line(d, path, line, 1, "expected one JSON object per line");
            else
                report_file_line(d, path, line, je.column, "malformed JSON: %s", je.text);
            json_decref(o);
            goto done;
        }
        if (c.n == cap) {
            cap = cap ? 2 * cap : 32;
            c.epoch = xrealloc(c.epoch, (size_t)cap * sizeof(double));
            c.train_loss = xrealloc(c.train_loss, (size_t)cap * sizeof(double));
            c.train_acc = xrealloc(c.train_acc, (size_t)cap * sizeof(double));
            c.test_acc = xrealloc(c.test_acc, (size_t)cap * sizeof(double));
            c.test_loss = xrealloc(c.test_loss, (size_t)cap * sizeof(double));
        }
        int k = c.n;
        c.epoch[k] = c.train_loss[k] = c.train_acc[k] = c.test_acc[k] = c.test_loss[k] = NAN;
        if (!get_num(o, "epoch", &c.epoch[k]))
            c.epoch[k] = k + 1;
        get_num(o, "train_loss", &c.train_loss[k]);
        get_num(o, "train_acc", &c.train_acc[k]);
        json_t *t = json_object_get(o, "test");
        if (json_is_object(t)) {
            get_num(t, "acc", &c.test_acc[k]);
            get_num(t, "loss", &c.test_loss[k]);
        }
        json_decref(o);
        c.n++;
    }
    if (ferror(f)) {
        atl_diag_error(d, ATL_NO_SPAN, "cannot read '%s': read error", path);
        goto done;
    }
    rc = 0;
done:
    free(buf);
    fclose(f);
    if (rc == 0 && c.n > 0) {
        rep_data *D = L->data;
        D->curves = xrealloc(D->curves, (size_t)(D->n_curves + 1) * sizeof *D->curves);
        D->curves[D->n_curves++] = c;
    } else {
        free(c.phase);
        free(c.method);
        free(c.epoch);
        free(c.train_loss);
        free(c.train_acc);
        free(c.test_acc);
        free(c.test_loss);
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* run directories */

/* Scans DIR/pretrain-s*, DIR/s<SEED>/<TASK>/<METHOD>/ for metrics.jsonl (curves) and result.json
 * (results, when want_results). Counts what it found. */
static int scan_run_dir(loader *L, const char *dir, bool want_curves, bool want_results,
                        int *n_curves, int *n_results)
{
    int n;
    char **ents = list_dir(dir, true, &n);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        long long seed;
        char hash[64];
        if (parse_pretrain_name(ents[i], &seed, hash, sizeof hash)) {
            char *sub = path_join(dir, ents[i]);
            char *m = path_join(sub, "metrics.jsonl");
            if (want_curves && is_file(m)) {
                int before = L->data->n_curves;
                char phase[80];
                snprintf(phase, sizeof phase, "pretrain%s%s", hash[0] ? "-" : "", hash);
                rc = load_metrics(L, m, phase, NULL, seed);
                *n_curves += L->data->n_curves - before;
            }
            free(m);
            free(sub);
            continue;
        }
        if (!parse_seed_name(ents[i], "s", &seed))
            continue;
        char *sdir = path_join(dir, ents[i]);
        int nt;
        char **tasks = list_dir(sdir, true, &nt);
        for (int t = 0; t < nt && rc == 0; t++) {
            char *tdir = path_join(sdir, tasks[t]);
            int nm;
            char **methods = list_dir(tdir, true, &nm);
            for (int k = 0; k < nm && rc == 0; k++) {
                char *mdir = path_join(tdir, methods[k]);
                char *m = path_join(mdir, "metrics.jsonl");
                char *r = path_join(mdir, "result.json");
                if (want_curves && is_file(m)) {
                    int before = L->data->n_curves;
                    rc = load_metrics(L, m, tasks[t], methods[k], seed);
                    *n_curves += L->data->n_curves - before;
                }
                if (rc == 0 && want_results && is_file(r)) {
                    json_t *j = load_json_object(r, L->d);
                    rc = j ? add_result_json(L, j, r, tasks[t], methods[k], seed, NULL) : -1;
                    json_decref(j);
                    *n_results += rc == 0;
                }
                free(m);
                free(r);
                free(mdir);
            }
            free_list(methods, nm);
            free(tdir);
        }
        free_list(tasks, nt);
        free(sdir);
    }
    free_list(ents, n);
    return rc;
}

/* points/P<k> directories in k order */
static int cmp_point(const void *a, const void *b)
{
    long long x = strtoll(*(char *const *)a + 1, NULL, 10), y = strtoll(*(char *const *)b + 1, NULL, 10);
    return (x > y) - (x < y);
}

static char **list_points(const char *dir, int *n)
{
    char *pdir = path_join(dir, "points");
    int m;
    char **ents = list_dir(pdir, true, &m);
    char **out = NULL;
    *n = 0;
    for (int i = 0; i < m; i++) {
        long long k;
        if (ents[i][0] == 'P' && parse_seed_name(ents[i], "P", &k)) {
            out = xrealloc(out, (size_t)(*n + 1) * sizeof *out);
            out[(*n)++] = xstrdup(ents[i]);
        }
    }
    free_list(ents, m);
    free(pdir);
    if (*n > 1)
        qsort(out, (size_t)*n, sizeof *out, cmp_point);
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* experiment.json: name, task order, the device */

/* Applies every number/boolean member of o as a device parameter override (skipping `skip`). */
static int apply_overrides(atl_dev_params *p, json_t *o, const char *path, const char *what,
                           atl_diag *d)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "name") == 0 || strcmp(key, "preset") == 0 || strcmp(key, "type") == 0 ||
            strcmp(key, "model") == 0)
            continue;
        if (json_is_object(v) && (strcmp(key, "params") == 0 || strcmp(key, "overrides") == 0 ||
                                  strcmp(key, "set") == 0)) {
            if (apply_overrides(p, v, path, what, d))
                return -1;
            continue;
        }
        double x;
        if (json_is_boolean(v))
            x = json_is_true(v);
        else if (json_is_number(v))
            x = json_number_value(v);
        else
            continue; /* descriptive strings (e.g. "description") */
        char err[256];
        if (atl_dev_params_set(p, key, x, err, sizeof err)) {
            atl_diag_error(d, ATL_NO_SPAN, "%s: %s.%s: %s", path, what, key, err);
            return -1;
        }
    }
    return 0;
}

static bool is_preset(const char *name)
{
    atl_dev_params p;
    return atl_dev_preset(name, &p, NULL, 0) == 0;
}

static void add_device(rep_data *D, const char *name, const atl_dev_params *p, const char *note)
{
    D->devices = xrealloc(D->devices, (size_t)(D->n_devices + 1) * sizeof *D->devices);
    rep_device *v = &D->devices[D->n_devices++];
    v->name = xstrdup(name);
    v->params = *p;
    v->note = xstrdup(note);
}

/* The device of an `analog` object. Accepted forms (docs/EXPERIMENTS.md):
 *   "device": "reram_hfo2"
 *   "device": {"name" | "preset": "reram_hfo2", PARAM: value, ..., "params": {PARAM: value}}
 *   "device": {"reram_hfo2": {PARAM: value, ...}}        (the DSL's device "x" { ... })
 *   "layers": [{"device": ...}, ...] or {"PATTERN": {"device": ...}}: the first rule with one.
 * Returns 1 when found (p and name set), 0 when absent, -1 after an error. */
static int device_of(json_t *dev, const char *path, const char *what, atl_diag *d,
                     char *name, size_t name_len, atl_dev_params *p)
{
    char err[256];
    if (json_is_string(dev)) {
        snprintf(name, name_len, "%s", json_string_value(dev));
        if (atl_dev_preset(name, p, err, sizeof err)) {
            atl_diag_error(d, ATL_NO_SPAN, "%s: %s: %s", path, what, err);
            return -1;
        }
        return 1;
    }
    if (!json_is_object(dev))
        return 0;
    json_t *jn = json_object_get(dev, "preset");
    if (!json_is_string(jn))
        jn = json_object_get(dev, "name");
    if (json_is_string(jn)) {
        snprintf(name, name_len, "%s", json_string_value(jn));
        if (atl_dev_preset(name, p, err, sizeof err)) {
            atl_diag_error(d, ATL_NO_SPAN, "%s: %s: %s", path, what, err);
            return -1;
        }
        return apply_overrides(p, dev, path, what, d) ? -1 : 1;
    }
    if (json_object_size(dev) == 1) {
        const char *key = json_object_iter_key(json_object_iter(dev));
        json_t *v = json_object_get(dev, key);
        if (json_is_object(v) && is_preset(key)) {
            snprintf(name, name_len, "%s", key);
            atl_dev_preset(name, p, NULL, 0);
            return apply_overrides(p, v, path, what, d) ? -1 : 1;
        }
    }
    atl_diag_error(d, ATL_NO_SPAN, "%s: %s: cannot tell the device preset (expected a preset "
                   "name, {\"preset\": NAME, ...} or {NAME: {...}})", path, what);
    return -1;
}

static int load_experiment(loader *L, const char *path)
{
    atl_diag *d = L->d;
    rep_data *D = L->data;
    json_t *j = load_json_object(path, d);
    if (!j)
        return -1;
    int rc = -1;
    json_t *name = json_object_get(j, "name");
    if (!json_is_string(name))
        name = json_object_get(j, "experiment");
    if (json_is_string(name) && !D->name)
        D->name = xstrdup(json_string_value(name));
    json_t *tasks = json_object_get(j, "tasks");
    if (json_is_array(tasks)) {
        size_t i;
        json_t *t;
        json_array_foreach(tasks, i, t)
        {
            json_t *tn = json_is_object(t) ? json_object_get(t, "name") : t;
            if (json_is_string(tn))
                add_unique(&L->exp_tasks, &L->n_exp_tasks, json_string_value(tn));
        }
    } else if (json_is_object(tasks)) {
        const char *key;
        json_t *v;
        json_object_foreach(tasks, key, v) add_unique(&L->exp_tasks, &L->n_exp_tasks, key);
    }
    json_t *an = json_object_get(j, "analog");
    char dname[64] = "";
    atl_dev_params p;
    int found = 0;
    if (json_is_object(an)) {
        found = device_of(json_object_get(an, "device"), path, "analog.device", d, dname,
                          sizeof dname, &p);
        json_t *layers = json_object_get(an, "layers");
        if (found == 0 && (json_is_array(layers) || json_is_object(layers))) {
            size_t n = json_is_array(layers) ? json_array_size(layers) : 0;
            void *it = json_is_object(layers) ? json_object_iter(layers) : NULL;
            for (size_t i = 0; found == 0 && (i < n || it);) {
                json_t *rule = n ? json_array_get(layers, i++) : json_object_iter_value(it);
                if (!n)
                    it = json_object_iter_next(layers, it);
                if (json_is_object(rule))
                    found = device_of(json_object_get(rule, "device"), path,
                                      "analog.layers[].device", d, dname, sizeof dname, &p);
            }
        }
    }
    if (found < 0)
        goto done;
    json_t *dp = json_is_object(an) ? json_object_get(an, "device_params") : NULL;
    if (found && json_is_object(dp) &&
        apply_overrides(&p, dp, path, "analog.device_params", d))
        goto done;
    if (found) {
        char err[256];
        if (atl_dev_params_validate(&p, err, sizeof err)) {
            atl_diag_error(d, ATL_NO_SPAN, "%s: analog device %s: %s", path, dname, err);
            goto done;
        }
        /* a sweep's points may use different devices: each distinct one is drawn */
        bool have = false;
        for (int i = 0; i < D->n_devices && !have; i++)
            have = strcmp(D->devices[i].name, dname) == 0 &&
                   memcmp(&D->devices[i].params, &p, sizeof p) == 0;
        if (!have)
            add_device(D, dname, &p, "the analog section of experiment.json");
    }
    rc = 0;
done:
    json_decref(j);
    return rc;
}

/* A sweep directory has no experiment.json of its own: every point has one (with the point's
 * parameter values applied), so each distinct device of the sweep is found. */
enum { MAX_POINT_EXPERIMENTS = 64 };

static int load_point_experiments(loader *L, const char *dir)
{
    int np, rc = 0;
    char **pts = list_points(dir, &np);
    char *pdir = path_join(dir, "points");
    for (int i = 0; i < np && i < MAX_POINT_EXPERIMENTS && rc == 0; i++) {
        char *pp = path_join(pdir, pts[i]);
        char *exp = path_join(pp, "experiment.json");
        if (is_file(exp))
            rc = load_experiment(L, exp);
        free(exp);
        free(pp);
    }
    free(pdir);
    free_list(pts, np);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* finishing: parameters, orders, seeds */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int finish(loader *L)
{
    rep_data *D = L->data;
    /* parameters: numeric when every value parses; distinct values sorted */
    D->params = calloc((size_t)(L->n_pnames ? L->n_pnames : 1), sizeof *D->params);
    if (!D->params)
        abort();
    D->n_params = L->n_pnames;
    for (int p = 0; p < L->n_pnames; p++) {
        rep_param *P = &D->params[p];
        P->name = xstrdup(L->pnames[p]);
        P->numeric = true;
        for (int i = 0; i < L->n_raw; i++) {
            double x;
            const char *s = p < L->raw[i].n_pstr ? L->raw[i].pstr[p] : NULL;
            if (s && !(parse_num(s, &x) && isfinite(x)))
                P->numeric = false;
        }
        for (int i = 0; i < L->n_raw; i++) {
            const char *s = p < L->raw[i].n_pstr ? L->raw[i].pstr[p] : NULL;
            if (!s)
                continue;
            bool seen = false;
            double x = 0;
            if (P->numeric)
                parse_num(s, &x);
            for (int k = 0; k < P->n_values && !seen; k++)
                seen = P->numeric ? P->nums[k] == x : strcmp(P->values[k], s) == 0;
            if (seen)
                continue;
            P->values = xrealloc(P->values, (size_t)(P->n_values + 1) * sizeof *P->values);
            P->nums = xrealloc(P->nums, (size_t)(P->n_values + 1) * sizeof *P->nums);
            if (P->numeric) {
                /* numbers as numbers: "0.15000000000000002" (a range() step) shows as 0.15 */
                char buf[64];
                snprintf(buf, sizeof buf, "%.10g", x);
                P->values[P->n_values] = xstrdup(buf);
            } else {
                P->values[P->n_values] = xstrdup(s);
            }
            P->nums[P->n_values] = x;
            P->n_values++;
        }
        if (P->numeric && P->n_values > 1) {
            /* sort values and their display strings together */
            double *sorted = xrealloc(NULL, (size_t)P->n_values * sizeof *sorted);
            memcpy(sorted, P->nums, (size_t)P->n_values * sizeof *sorted);
            qsort(sorted, (size_t)P->n_values, sizeof *sorted, cmp_double);
            char **vs = xrealloc(NULL, (size_t)P->n_values * sizeof *vs);
            for (int k = 0; k < P->n_values; k++)
                for (int q = 0; q < P->n_values; q++)
                    if (P->nums[q] == sorted[k]) {
                        vs[k] = P->values[q];
                        break;
                    }
            free(P->values);
            free(P->nums);
            P->values = vs;
            P->nums = sorted;
        }
    }
    D->res = calloc((size_t)(L->n_raw ? L->n_raw : 1), sizeof *D->res);
    if (!D->res)
        abort();
    for (int i = 0; i < L->n_raw; i++) {
        raw_res *r = &L->raw[i];
        rep_result *o = &D->res[D->n_res++];
        *o = r->r;
        r->r.task = r->r.method = NULL;
        o->pv = xrealloc(NULL, (size_t)(D->n_params ? D->n_params : 1) * sizeof *o->pv);
        for (int p = 0; p < D->n_params; p++) {
            const rep_param *P = &D->params[p];
            const char *s = p < r->n_pstr ? r->pstr[p] : NULL;
            o->pv[p] = -1;
            double x = 0;
            if (s && P->numeric)
                parse_num(s, &x);
            for (int k = 0; s && k < P->n_values; k++)
                if (P->numeric ? P->nums[k] == x : strcmp(P->values[k], s) == 0) {
                    o->pv[p] = k;
                    break;
                }
        }
    }
    /* a (task, method, seed, parameters) combination may appear once */
    for (int i = 0; i < D->n_res; i++)
        for (int j = 0; j < i; j++) {
            const rep_result *a = &D->res[i], *b = &D->res[j];
            if (a->seed != b->seed || strcmp(a->task, b->task) || strcmp(a->method, b->method) ||
                memcmp(a->pv, b->pv, (size_t)D->n_params * sizeof *a->pv))
                continue;
            atl_diag_error(L->d, ATL_NO_SPAN, "%s: duplicate result for task %s, method %s, "
                           "seed %lld (first at %s)", L->raw[i].where, a->task, a->method,
                           a->seed, L->raw[j].where);
            return -1;
        }
    /* task order: experiment.json's, then first appearance */
    for (int i = 0; i < L->n_exp_tasks; i++)
        add_unique(&D->tasks, &D->n_tasks, L->exp_tasks[i]);
    for (int i = 0; i < D->n_res; i++)
        add_unique(&D->tasks, &D->n_tasks, D->res[i].task);
    for (int i = 0; i < D->n_curves; i++)
        if (D->curves[i].method)
            add_unique(&D->tasks, &D->n_tasks, D->curves[i].phase);
    /* drop tasks of experiment.json that have no data at all */
    int w = 0;
    for (int t = 0; t < D->n_tasks; t++) {
        bool used = false;
        for (int i = 0; i < D->n_res && !used; i++)
            used = strcmp(D->res[i].task, D->tasks[t]) == 0;
        for (int i = 0; i < D->n_curves && !used; i++)
            used = D->curves[i].method && strcmp(D->curves[i].phase, D->tasks[t]) == 0;
        if (used)
            D->tasks[w++] = D->tasks[t];
        else
            free(D->tasks[t]);
    }
    D->n_tasks = w;
    /* methods: the study's order first */
    static const char *const canon[] = {"digital_tl", "analog_tl", "analog_scratch",
                                        "digital_scratch"};
    char **seen = NULL;
    int n_seen = 0;
    for (int i = 0; i < D->n_res; i++)
        add_unique(&seen, &n_seen, D->res[i].method);
    for (int i = 0; i < D->n_curves; i++)
        if (D->curves[i].method)
            add_unique(&seen, &n_seen, D->curves[i].method);
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < n_seen; i++)
            if (strcmp(seen[i], canon[c]) == 0)
                add_unique(&D->methods, &D->n_methods, canon[c]);
    for (int i = 0; i < n_seen; i++)
        add_unique(&D->methods, &D->n_methods, seen[i]);
    free_list(seen, n_seen);
    /* seeds */
    for (int i = 0; i < D->n_res + D->n_curves; i++) {
        long long s = i < D->n_res ? D->res[i].seed : D->curves[i - D->n_res].seed;
        bool have = false;
        for (int k = 0; k < D->n_seeds && !have; k++)
            have = D->seeds[k] == s;
        if (!have) {
            D->seeds = xrealloc(D->seeds, (size_t)(D->n_seeds + 1) * sizeof *D->seeds);
            int k = D->n_seeds++;
            while (k > 0 && D->seeds[k - 1] > s) {
                D->seeds[k] = D->seeds[k - 1];
                k--;
            }
            D->seeds[k] = s;
        }
    }
    /* a sweep over analog.device draws every preset it names */
    for (int p = 0; p < D->n_params; p++) {
        if (strcmp(D->params[p].name, "analog.device") != 0)
            continue;
        for (int k = 0; k < D->params[p].n_values; k++) {
            const char *nm = D->params[p].values[k];
            bool have = false;
            for (int i = 0; i < D->n_devices && !have; i++)
                have = strcmp(D->devices[i].name, nm) == 0;
            atl_dev_params dp;
            if (!have && atl_dev_preset(nm, &dp, NULL, 0) == 0)
                add_device(D, nm, &dp, "swept parameter analog.device");
        }
    }
    if (D->n_devices == 0) {
        atl_dev_params dp;
        atl_dev_preset("reram_hfo2", &dp, NULL, 0);
        add_device(D, "reram_hfo2", &dp, "the default device (no analog device in experiment.json)");
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    char *d = xstrdup(path);
    d[slash - path] = '\0';
    return d;
}

/* Curves of a run or sweep directory: its own phases, else those of its first point that has
 * any (pretraining is shared, so it may sit at the top while tasks sit under points/). */
static int load_curves(loader *L, const char *dir)
{
    rep_data *D = L->data;
    int nc = 0, nr = 0;
    if (scan_run_dir(L, dir, true, false, &nc, &nr))
        return -1;
    bool have_tasks = false;
    for (int i = 0; i < D->n_curves; i++)
        have_tasks |= D->curves[i].method != NULL;
    if (nc > 0)
        D->curves_from = xstrdup(dir);
    if (have_tasks)
        return 0;
    int np;
    char **pts = list_points(dir, &np);
    int rc = 0;
    for (int i = 0; i < np && rc == 0; i++) {
        char *pdir = path_join(dir, "points");
        char *pp = path_join(pdir, pts[i]);
        int before = D->n_curves;
        rc = scan_run_dir(L, pp, true, false, &nc, &nr);
        bool found = false;
        for (int k = before; k < D->n_curves; k++)
            found |= D->curves[k].method != NULL;
        if (found) {
            /* say which point the task curves are from (its parameter values) */
            char *where = xstrdup(pp);
            char *exp = path_join(pp, "experiment.json");
            json_t *j = is_file(exp) ? json_load_file(exp, 0, NULL) : NULL;
            json_t *params = json_is_object(j) ? json_object_get(j, "params") : NULL;
            if (json_is_object(params) && json_object_size(params) > 0) {
                size_t n = strlen(where) + 8;
                const char *key;
                json_t *v;
                json_object_foreach(params, key, v) n += strlen(key) + 300;
                char *w = xrealloc(NULL, n);
                size_t k = (size_t)snprintf(w, n, "%s (", where);
                bool first = true;
                json_object_foreach(params, key, v)
                {
                    char buf[256];
                    if (!json_scalar_text(v, buf, sizeof buf))
                        continue;
                    k += (size_t)snprintf(w + k, n - k, "%s%s = %s", first ? "" : ", ", key, buf);
                    first = false;
                }
                snprintf(w + k, n - k, ")");
                free(where);
                where = w;
            }
            json_decref(j);
            free(exp);
            char *old = D->curves_from;
            D->curves_from = old ? xrealloc(NULL, strlen(old) + strlen(where) + 40) : where;
            if (old) {
                sprintf(D->curves_from, "%s (pretraining), %s (tasks)", old, where);
                free(old);
                free(where);
            }
        } else if (rc == 0) {
            /* only pretraining there: keep looking for a point with tasks */
            for (int k = before; k < D->n_curves; k++) {
                rep_curve *c = &D->curves[k];
                free(c->phase);
                free(c->method);
                free(c->epoch);
                free(c->train_loss);
                free(c->train_acc);
                free(c->test_acc);
                free(c->test_loss);
            }
            D->n_curves = before;
        }
        free(pp);
        free(pdir);
        if (found)
            break;
    }
    free_list(pts, np);
    return rc;
}

int rep_data_load(const char *path, atl_diag *d, rep_data *out)
{
    memset(out, 0, sizeof *out);
    loader L = {.d = d, .data = out};
    out->source = xstrdup(path);
    int rc = -1;
    struct stat st;
    if (stat(path, &st) != 0) {
        atl_diag_error(d, ATL_NO_SPAN, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    char *dir = NULL;
    if (S_ISDIR(st.st_mode)) {
        dir = xstrdup(path);
        char *exp = path_join(dir, "experiment.json");
        char *csv = path_join(dir, "results.csv");
        char *rj = path_join(dir, "results.json");
        int bad = is_file(exp) ? load_experiment(&L, exp) : load_point_experiments(&L, dir);
        if (!bad && is_file(csv)) {
            bad = load_results_csv(&L, csv);
            out->results_from = xstrdup(csv);
        } else if (!bad && is_file(rj)) {
            bad = load_results_json(&L, rj);
            out->results_from = xstrdup(rj);
        } else if (!bad) {
            int nc = 0, nr = 0;
            bad = scan_run_dir(&L, dir, false, true, &nc, &nr);
            if (!bad && nr > 0) {
                char buf[1100];
                snprintf(buf, sizeof buf, "%s/s*/TASK/METHOD/result.json", path);
                out->results_from = xstrdup(buf);
            }
            /* an unmerged or unfinished sweep: every point's results */
            int np;
            char **pts = list_points(dir, &np);
            for (int i = 0; i < np && !bad && nr == 0; i++) {
                char *pdir = path_join(dir, "points");
                char *pp = path_join(pdir, pts[i]);
                char *prj = path_join(pp, "results.json");
                if (is_file(prj))
                    bad = load_results_json(&L, prj);
                else
                    bad = scan_run_dir(&L, pp, false, true, &nc, &nr);
                free(prj);
                free(pp);
                free(pdir);
            }
            if (!bad && np > 0 && L.n_raw > 0 && !out->results_from) {
                char buf[1100];
                snprintf(buf, sizeof buf, "%s/points/P*", path);
                out->results_from = xstrdup(buf);
            }
            free_list(pts, np);
        }
        free(exp);
        free(csv);
        free(rj);
        if (!bad)
            bad = load_curves(&L, dir);
        free(dir);
        if (bad)
            goto done;
        if (L.n_raw == 0 && out->n_curves == 0) {
            atl_diag_error(d, ATL_NO_SPAN, "no results in '%s' (expected results.csv, "
                           "results.json, s<SEED>/<TASK>/<METHOD>/result.json or metrics.jsonl "
                           "files; see docs/EXPERIMENTS.md)", path);
            goto done;
        }
    } else {
        /* a results file; experiment.json and curves from its directory when it is a run's */
        dir = dir_of(path);
        char *exp = path_join(dir, "experiment.json");
        int bad = is_file(exp) ? load_experiment(&L, exp) : load_point_experiments(&L, dir);
        free(exp);
        if (!bad) {
            bad = ends_with(path, ".json") ? load_results_json(&L, path)
                                           : load_results_csv(&L, path);
            out->results_from = xstrdup(path);
        }
        if (!bad && is_dir(dir))
            bad = load_curves(&L, dir);
        free(dir);
        if (bad)
            goto done;
        if (L.n_raw == 0) {
            atl_diag_error(d, ATL_NO_SPAN, "%s: no results", path);
            goto done;
        }
    }
    rc = finish(&L);
done:
    for (int i = 0; i < L.n_raw; i++) {
        raw_res *r = &L.raw[i];
        free(r->r.task);
        free(r->r.method);
        for (int k = 0; k < r->n_pstr; k++)
            free(r->pstr[k]);
        free(r->pstr);
        free(r->where);
    }
    free(L.raw);
    free_list(L.pnames, L.n_pnames);
    free_list(L.exp_tasks, L.n_exp_tasks);
    if (rc)
        rep_data_free(out);
    return rc;
}

void rep_data_free(rep_data *D)
{
    if (!D)
        return;
    for (int p = 0; p < D->n_params; p++) {
        free(D->params[p].name);
        free_list(D->params[p].values, D->params[p].n_values);
        free(D->params[p].nums);
    }
    free(D->params);
    for (int i = 0; i < D->n_res; i++) {
        free(D->res[i].task);
        free(D->res[i].method);
        free(D->res[i].pv);
    }
    free(D->res);
    for (int i = 0; i < D->n_curves; i++) {
        rep_curve *c = &D->curves[i];
        free(c->phase);
        free(c->method);
        free(c->epoch);
        free(c->train_loss);
        free(c->train_acc);
        free(c->test_acc);
        free(c->test_loss);
    }
    free(D->curves);
    free_list(D->tasks, D->n_tasks);
    free_list(D->methods, D->n_methods);
    free(D->seeds);
    for (int i = 0; i < D->n_devices; i++) {
        free(D->devices[i].name);
        free(D->devices[i].note);
    }
    free(D->devices);
    free(D->source);
    free(D->name);
    free(D->results_from);
    free(D->curves_from);
    memset(D, 0, sizeof *D);
}

int rep_data_task_index(const rep_data *D, const char *task)
{
    for (int i = 0; i < D->n_tasks; i++)
        if (strcmp(D->tasks[i], task) == 0)
            return i;
    return -1;
}

int rep_data_method_index(const rep_data *D, const char *method)
{
    for (int i = 0; i < D->n_methods; i++)
        if (strcmp(D->methods[i], method) == 0)
            return i;
    return -1;
}

const char *rep_method_label(const char *m)
{
    if (strcmp(m, "digital_tl") == 0)
        return "digital TL";
    if (strcmp(m, "analog_tl") == 0)
        return "analog TL";
    if (strcmp(m, "analog_scratch") == 0)
        return "analog scratch";
    if (strcmp(m, "digital_scratch") == 0)
        return "digital scratch";
    return m;
}
