/* CSV reader for sweep results; see csv.h. */
#include "csv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rep_csv_free(rep_csv *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_cols; i++)
        free(c->header ? c->header[i] : NULL);
    if (c->cells)
        for (size_t i = 0; i < (size_t)c->n_rows * (size_t)c->n_cols; i++)
            free(c->cells[i]);
    free(c->header);
    free(c->cells);
    free(c->cell_off);
    free(c->row_line);
    free(c->path);
    memset(c, 0, sizeof *c);
}

int rep_csv_col(const rep_csv *c, const char *name)
{
    for (int i = 0; i < c->n_cols; i++)
        if (strcmp(c->header[i], name) == 0)
            return i;
    return -1;
}

static void report_at(atl_diag *d, int file, uint32_t off, uint32_t len, const char *fmt, ...)
    ATL_PRINTF(5, 6);
static void report_at(atl_diag *d, int file, uint32_t off, uint32_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    atl_diag_vreport(d, ATL_SEV_ERROR, (atl_span){file, off, off + (len ? len : 1)}, fmt, ap);
    va_end(ap);
}

void rep_csv_cell_error(const rep_csv *c, atl_diag *d, int row, int col, const char *fmt, ...)
{
    size_t k = (size_t)row * (size_t)c->n_cols + (size_t)col;
    uint32_t off = c->cell_off[k];
    size_t len = strlen(c->cells[k]);
    va_list ap;
    va_start(ap, fmt);
    atl_diag_vreport(d, ATL_SEV_ERROR,
                     (atl_span){c->file, off, off + (uint32_t)(len ? len : 1)}, fmt, ap);
    va_end(ap);
}

/* One record's fields while it is parsed. */
typedef struct fields {
    char **v;
    uint32_t *off;
    int n, cap;
} fields;

static bool fields_push(fields *f, char *s, uint32_t off)
{
    if (f->n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 16;
        char **v = realloc(f->v, (size_t)cap * sizeof *v);
        if (!v)
            return false;
        f->v = v;
        uint32_t *o = realloc(f->off, (size_t)cap * sizeof *o);
        if (!o)
            return false;
        f->off = o;
        f->cap = cap;
    }
    f->v[f->n] = s;
    f->off[f->n] = off;
    f->n++;
    return true;
}

static void fields_clear(fields *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->v[i]);
    f->n = 0;
}

static bool is_blank(char ch) { return ch == ' ' || ch == '\t'; }

/* Parses one record starting at *pos (not at a blank line, not at the end). On success *pos is
 * after the record's line end and *line counts the newlines consumed. */
static int parse_record(const char *t, size_t len, size_t *pos, int *line, int file, atl_diag *d,
                        fields *f)
{
    size_t p = *pos;
    for (;;) {
        size_t start = p;
        char *val = NULL;
        uint32_t val_off = (uint32_t)p;
        if (p < len && t[p] == '"') {
            /* quoted field: "" is a quote; commas and newlines are data */
            size_t cap = 16, n = 0;
            val = malloc(cap);
            if (!val)
                goto oom;
            p++;
            val_off = (uint32_t)p;
            for (;;) {
                if (p >= len) {
                    free(val);
                    report_at(d, file, (uint32_t)start, 1,
                              "unterminated quoted field (the quote opened here is never closed)");
                    return -1;
                }
                char ch = t[p];
                if (ch == '"') {
                    if (p + 1 < len && t[p + 1] == '"') {
                        p += 2;
                    } else {
                        p++;
                        break;
                    }
                } else {
                    if (ch == '\n')
                        (*line)++;
                    p++;
                }
                if (n + 2 > cap) {
                    cap *= 2;
                    char *nv = realloc(val, cap);
                    if (!nv) {
                        free(val);
                        goto oom;
                    }
                    val = nv;
                }
                val[n++] = ch;
            }
            val[n] = '\0';
            size_t q = p;
            while (q < len && is_blank(t[q]))
                q++;
            if (q < len && t[q] != ',' && t[q] != '\n' && t[q] != '\r') {
                free(val);
                report_at(d, file, (uint32_t)q, 1,
                          "unexpected character after a closing quote (expected ',' or a line end)");
                return -1;
            }
            p = q;
        } else {
            size_t e = p;
            while (e < len && t[e] != ',' && t[e] != '\n' && t[e] != '\r') {
                if (t[e] == '"') {
                    report_at(d, file, (uint32_t)e, 1,
                              "quote inside an unquoted field (quote the whole field and double "
                              "the quote)");
                    return -1;
                }
                e++;
            }
            size_t b = p, z = e;
            while (b < z && is_blank(t[b]))
                b++;
            while (z > b && is_blank(t[z - 1]))
                z--;
            val = malloc(z - b + 1);
            if (!val)
                goto oom;
            memcpy(val, t + b, z - b);
            val[z - b] = '\0';
            val_off = (uint32_t)b;
            p = e;
        }
        if (!fields_push(f, val, val_off)) {
            free(val);
            goto oom;
        }
        if (p < len && t[p] == ',') {
            p++;
            continue;
        }
        /* line end or end of text */
        if (p < len && t[p] == '\r')
            p++;
        if (p < len && t[p] == '\n')
            p++;
        (*line)++;
        *pos = p;
        return 0;
    }
oom:
    atl_diag_error(d, ATL_NO_SPAN, "out of memory reading CSV");
    return -1;
}

int rep_csv_parse(const char *path, const char *text, size_t len, atl_diag *d, rep_csv *out)
{
    memset(out, 0, sizeof *out);
    out->file = atl_diag_add_source(d, path, text, len);
    out->path = strdup(path);
    if (out->file < 0 || !out->path) {
        atl_diag_error(d, ATL_NO_SPAN, "out of memory reading '%s'", path);
        rep_csv_free(out);
        return -1;
    }
    const char *t = atl_diag_source(d, out->file)->text;
    size_t pos = 0;
    int line = 1;
    if (len >= 3 && memcmp(t, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* UTF-8 byte-order mark (spreadsheet exports) */
    fields f = {0};
    size_t rows_cap = 0;
    bool have_header = false;
    int rc = -1;
    while (pos < len) {
        /* skip blank lines (only spaces/tabs) */
        size_t q = pos;
        while (q < len && is_blank(t[q]))
            q++;
        if (q >= len)
            break;
        if (t[q] == '\n' || t[q] == '\r') {
            if (t[q] == '\r' && q + 1 < len && t[q + 1] == '\n')
                q++;
            pos = q + 1;
            line++;
            continue;
        }
        int rec_line = line;
        uint32_t rec_off = (uint32_t)pos;
        fields_clear(&f);
        if (parse_record(t, len, &pos, &line, out->file, d, &f))
            goto done;
        if (!have_header) {
            for (int i = 0; i < f.n; i++) {
                if (!f.v[i][0]) {
                    report_at(d, out->file, f.off[i], 1, "empty column name in the header row");
                    goto done;
                }
                for (int j = 0; j < i; j++)
                    if (strcmp(f.v[i], f.v[j]) == 0) {
                        report_at(d, out->file, f.off[i], (uint32_t)strlen(f.v[i]),
                                  "duplicate column '%s' in the header row", f.v[i]);
                        goto done;
                    }
            }
            out->n_cols = f.n;
            out->header = f.v; /* the header takes the field strings */
            f.v = NULL;
            free(f.off);
            f.off = NULL;
            f.n = f.cap = 0;
            have_header = true;
            continue;
        }
        if (f.n != out->n_cols) {
            report_at(d, out->file, rec_off, 1,
                      "expected %d fields (as in the header row), found %d", out->n_cols, f.n);
            goto done;
        }
        if ((size_t)out->n_rows == rows_cap) {
            size_t cap = rows_cap ? 2 * rows_cap : 64;
            char **cells = realloc(out->cells, cap * (size_t)out->n_cols * sizeof *cells);
            if (cells)
                out->cells = cells;
            uint32_t *offs = realloc(out->cell_off, cap * (size_t)out->n_cols * sizeof *offs);
            if (offs)
                out->cell_off = offs;
            int *rl = realloc(out->row_line, cap * sizeof *rl);
            if (rl)
                out->row_line = rl;
            if (!cells || !offs || !rl) {
                atl_diag_error(d, ATL_NO_SPAN, "out of memory reading '%s'", path);
                goto done;
            }
            rows_cap = cap;
        }
        size_t base = (size_t)out->n_rows * (size_t)out->n_cols;
        for (int i = 0; i < f.n; i++) {
            out->cells[base + (size_t)i] = f.v[i];
            out->cell_off[base + (size_t)i] = f.off[i];
        }
        f.n = 0; /* the row owns the strings now */
        out->row_line[out->n_rows++] = rec_line;
    }
    if (!have_header) {
        atl_diag_error(d, ATL_NO_SPAN, "%s: empty file (no header row)", path);
        goto done;
    }
    rc = 0;
done:
    fields_clear(&f);
    free(f.v);
    free(f.off);
    if (rc)
        rep_csv_free(out);
    return rc;
}

int rep_csv_read(const char *path, atl_diag *d, rep_csv *out)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        atl_diag_error(d, ATL_NO_SPAN, "cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? 2 * cap : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(fp);
                atl_diag_error(d, ATL_NO_SPAN, "out of memory reading '%s'", path);
                return -1;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, fp);
        len += n;
        if (n == 0)
            break;
    }
    bool err = ferror(fp);
    fclose(fp);
    if (err) {
        free(buf);
        atl_diag_error(d, ATL_NO_SPAN, "cannot read '%s': read error", path);
        return -1;
    }
    if (memchr(buf, '\0', len)) {
        free(buf);
        atl_diag_error(d, ATL_NO_SPAN, "'%s' is not a text file (contains NUL bytes)", path);
        return -1;
    }
    int rc = rep_csv_parse(path, buf, len, d, out);
    free(buf);
    return rc;
}
