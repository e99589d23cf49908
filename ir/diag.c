#include "diag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void atl_diag_init(atl_diag *d, FILE *out)
{
    memset(d, 0, sizeof *d);
    d->out = out ? out : stderr;
}

static void source_free(atl_source *s)
{
    if (!s)
        return;
    free(s->path);
    free(s->text);
    free(s->line_starts);
    free(s);
}

void atl_diag_fini(atl_diag *d)
{
    for (int i = 0; i < d->n_sources; i++)
        source_free(d->sources[i]);
    free(d->sources);
    d->sources = NULL;
    d->n_sources = d->cap_sources = 0;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int atl_diag_add_source(atl_diag *d, const char *path, const char *text, size_t len)
{
    atl_source *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->path = dup_str(path);
    s->text = malloc(len + 1);
    if (!s->path || !s->text)
        goto fail;
    memcpy(s->text, text, len);
    s->text[len] = '\0';
    s->len = len;
    size_t cap = 64;
    s->line_starts = malloc(cap * sizeof *s->line_starts);
    if (!s->line_starts)
        goto fail;
    s->line_starts[s->n_lines++] = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            if (s->n_lines == cap) {
                cap *= 2;
                uint32_t *p = realloc(s->line_starts, cap * sizeof *p);
                if (!p)
                    goto fail;
                s->line_starts = p;
            }
            s->line_starts[s->n_lines++] = (uint32_t)(i + 1);
        }
    }
    if (d->n_sources == d->cap_sources) {
        int nc = d->cap_sources ? 2 * d->cap_sources : 8;
        atl_source **p = realloc(d->sources, (size_t)nc * sizeof *p);
        if (!p)
            goto fail;
        d->sources = p;
        d->cap_sources = nc;
    }
    d->sources[d->n_sources] = s;
    return d->n_sources++;
fail:
    source_free(s);
    return -1;
}

int atl_diag_load_file(atl_diag *d, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        atl_diag_error(d, ATL_NO_SPAN, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                atl_diag_error(d, ATL_NO_SPAN, "out of memory reading '%s'", path);
                return -1;
            }
            buf = p;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        atl_diag_error(d, ATL_NO_SPAN, "cannot read '%s'", path);
        return -1;
    }
    if (memchr(buf, '\0', len)) {
        free(buf);
        atl_diag_error(d, ATL_NO_SPAN, "'%s' is not a text file (contains NUL bytes)", path);
        return -1;
    }
    int id = atl_diag_add_source(d, path, buf ? buf : "", len);
    free(buf);
    if (id < 0)
        atl_diag_error(d, ATL_NO_SPAN, "out of memory reading '%s'", path);
    return id;
}

static const char *sev_name(atl_severity s)
{
    switch (s) {
    case ATL_SEV_NOTE:
        return "note";
    case ATL_SEV_WARNING:
        return "warning";
    default:
        return "error";
    }
}

int atl_diag_source_for_path(atl_diag *d, const char *path)
{
    for (int i = 0; i < d->n_sources; i++)
        if (strcmp(d->sources[i]->path, path) == 0)
            return i;
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    if (f) {
        size_t cap = 0;
        for (;;) {
            if (len + 4096 > cap) {
                cap = cap ? 2 * cap : 8192;
                char *p = realloc(buf, cap);
                if (!p)
                    break;
                buf = p;
            }
            size_t n = fread(buf + len, 1, cap - len, f);
            len += n;
            if (n == 0)
                break;
        }
        fclose(f);
        if (buf && memchr(buf, '\0', len))
            len = 0;
    }
    int id = atl_diag_add_source(d, path, buf ? buf : "", buf ? len : 0);
    free(buf);
    return id;
}

void atl_diag_report_linecol(atl_diag *d, atl_severity sev, int file, int line, int col, int len,
                             const char *fmt, va_list ap)
{
    const atl_source *s = atl_diag_source(d, file);
    if (s && line >= 1 && (size_t)line <= s->n_lines && col >= 1) {
        uint32_t ls = s->line_starts[line - 1];
        uint32_t le = ls;
        while (le < s->len && s->text[le] != '\n')
            le++;
        if (ls + (uint32_t)(col - 1) <= le) {
            atl_span sp = {file, ls + (uint32_t)(col - 1), ls + (uint32_t)(col - 1)};
            sp.end = sp.begin + (uint32_t)(len > 1 ? len : 1);
            atl_diag_vreport(d, sev, sp, fmt, ap);
            return;
        }
    }
    if (sev == ATL_SEV_WARNING && d->warnings_as_errors)
        sev = ATL_SEV_ERROR;
    if (sev == ATL_SEV_ERROR)
        d->n_errors++;
    else if (sev == ATL_SEV_WARNING)
        d->n_warnings++;
    fprintf(d->out, "%s:%d:%d: %s: ", s ? s->path : "<unknown>", line, col, sev_name(sev));
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    fflush(d->out);
}

const atl_source *atl_diag_source(const atl_diag *d, int id)
{
    if (id < 0 || id >= d->n_sources)
        return NULL;
    return d->sources[id];
}

void atl_diag_line_col(const atl_diag *d, int file, uint32_t offset, int *line, int *col)
{
    const atl_source *s = atl_diag_source(d, file);
    if (!s) {
        *line = *col = 0;
        return;
    }
    if (offset > s->len)
        offset = (uint32_t)s->len;
    /* binary search for the last line start <= offset */
    size_t lo = 0, hi = s->n_lines;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s->line_starts[mid] <= offset)
            lo = mid;
        else
            hi = mid;
    }
    *line = (int)lo + 1;
    *col = (int)(offset - s->line_starts[lo]) + 1;
}

void atl_diag_vreport(atl_diag *d, atl_severity sev, atl_span span, const char *fmt, va_list ap)
{
    if (sev == ATL_SEV_WARNING && d->warnings_as_errors)
        sev = ATL_SEV_ERROR;
    if (sev == ATL_SEV_ERROR)
        d->n_errors++;
    else if (sev == ATL_SEV_WARNING)
        d->n_warnings++;
    if (sev == ATL_SEV_ERROR && d->max_errors > 0 && d->n_errors > d->max_errors) {
        if (d->n_errors == d->max_errors + 1)
            fprintf(d->out, "atlc: too many errors, stopping output\n");
        return;
    }
    const atl_source *s = atl_diag_source(d, span.file);
    FILE *o = d->out;
    if (s) {
        int line, col;
        atl_diag_line_col(d, span.file, span.begin, &line, &col);
        fprintf(o, "%s:%d:%d: %s: ", s->path, line, col, sev_name(sev));
        vfprintf(o, fmt, ap);
        fputc('\n', o);
        /* the source line, then a caret under the span (clipped to the line) */
        uint32_t ls = s->line_starts[line - 1];
        uint32_t le = ls;
        while (le < s->len && s->text[le] != '\n' && s->text[le] != '\r')
            le++;
        fprintf(o, "%5d | %.*s\n", line, (int)(le - ls), s->text + ls);
        fprintf(o, "      | ");
        for (uint32_t i = ls; i < span.begin && i < le; i++)
            fputc(s->text[i] == '\t' ? '\t' : ' ', o);
        fputc('^', o);
        uint32_t end = span.end < le ? span.end : le;
        for (uint32_t i = span.begin + 1; i < end; i++)
            fputc('~', o);
        fputc('\n', o);
    } else {
        fprintf(o, "atlc: %s: ", sev_name(sev));
        vfprintf(o, fmt, ap);
        fputc('\n', o);
    }
    fflush(o);
}

void atl_diag_report(atl_diag *d, atl_severity sev, atl_span span, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    atl_diag_vreport(d, sev, span, fmt, ap);
    va_end(ap);
}

void atl_diag_error(atl_diag *d, atl_span span, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    atl_diag_vreport(d, ATL_SEV_ERROR, span, fmt, ap);
    va_end(ap);
}

void atl_diag_warning(atl_diag *d, atl_span span, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    atl_diag_vreport(d, ATL_SEV_WARNING, span, fmt, ap);
    va_end(ap);
}

void atl_diag_note(atl_diag *d, atl_span span, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    atl_diag_vreport(d, ATL_SEV_NOTE, span, fmt, ap);
    va_end(ap);
}

atl_span atl_span_join(atl_span a, atl_span b)
{
    if (a.file != b.file || a.file < 0)
        return a;
    atl_span r = a;
    if (b.begin < r.begin)
        r.begin = b.begin;
    if (b.end > r.end)
        r.end = b.end;
    return r;
}
