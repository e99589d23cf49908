/* Diagnostics: one renderer for every stage of atl.
 *
 *   models/swin.atl:12:9: error: unknown op 'lienar'
 *      12 |   h = lienar(x, dim);
 *         |       ^~~~~~
 *
 * Sources are registered with a context and referred to by a small integer id; a span is a
 * [begin, end) byte range in one source. Errors are counted, never fatal: callers check
 * atl_diag_errors() at phase boundaries. There is no global state: the CLI owns one context per
 * invocation.
 */
#ifndef ATL_DIAG_H
#define ATL_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct atl_span {
    int32_t file; /* source id, or -1 for "no location" */
    uint32_t begin;
    uint32_t end; /* exclusive; == begin for a point */
} atl_span;

#define ATL_NO_SPAN ((atl_span){-1, 0, 0})

typedef enum atl_severity { ATL_SEV_NOTE, ATL_SEV_WARNING, ATL_SEV_ERROR } atl_severity;

typedef struct atl_source {
    char *path; /* as given by the user (printed in messages) */
    char *text; /* NUL-terminated contents */
    size_t len;
    uint32_t *line_starts; /* byte offset of each line start */
    size_t n_lines;
} atl_source;

typedef struct atl_diag {
    atl_source **sources;
    int n_sources, cap_sources;
    int n_errors, n_warnings;
    int max_errors; /* stop printing (not counting) after this many errors; 0 = unlimited */
    FILE *out;      /* where messages go (stderr by default) */
    bool color;
    bool warnings_as_errors;
} atl_diag;

void atl_diag_init(atl_diag *d, FILE *out);
void atl_diag_fini(atl_diag *d);

/* Register a source from memory (copied) or from a file. Returns the id, or -1 (after reporting
 * an error without location) if the file cannot be read. */
int atl_diag_add_source(atl_diag *d, const char *path, const char *text, size_t len);
int atl_diag_load_file(atl_diag *d, const char *path);
const atl_source *atl_diag_source(const atl_diag *d, int id);

/* The id of the source registered under path; if none, the file is read quietly (an unreadable
 * file registers as empty text, so messages still name it). -1 only when out of memory. */
int atl_diag_source_for_path(atl_diag *d, const char *path);

/* Report at a 1-based line/column of a source (len: characters to underline, >= 1). Falls back to
 * `path:line:col:` without an excerpt when the source text does not have that line. */
void atl_diag_report_linecol(atl_diag *d, atl_severity sev, int file, int line, int col, int len,
                             const char *fmt, va_list ap);

/* 1-based line and column of a byte offset. */
void atl_diag_line_col(const atl_diag *d, int file, uint32_t offset, int *line, int *col);

#if defined(__GNUC__)
#define ATL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ATL_PRINTF(a, b)
#endif

void atl_diag_report(atl_diag *d, atl_severity sev, atl_span span, const char *fmt, ...)
    ATL_PRINTF(4, 5);
void atl_diag_vreport(atl_diag *d, atl_severity sev, atl_span span, const char *fmt, va_list ap);
void atl_diag_error(atl_diag *d, atl_span span, const char *fmt, ...) ATL_PRINTF(3, 4);
void atl_diag_warning(atl_diag *d, atl_span span, const char *fmt, ...) ATL_PRINTF(3, 4);
void atl_diag_note(atl_diag *d, atl_span span, const char *fmt, ...) ATL_PRINTF(3, 4);

static inline int atl_diag_errors(const atl_diag *d) { return d->n_errors; }

/* A span covering both a and b (same file), or a if they differ in file. */
atl_span atl_span_join(atl_span a, atl_span b);

#endif
