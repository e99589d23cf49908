/* A small CSV reader for sweep results (docs/EXPERIMENTS.md): RFC 4180 fields (quoted fields with
 * "" escapes and embedded commas/newlines), a header row, CRLF or LF line ends, an optional UTF-8
 * byte-order mark. Blank lines are skipped. Every data row must have as many fields as the header;
 * errors are reported through the diagnostics module with the file, line and column, and the
 * offending line underneath. */
#ifndef ATL_REPORT_CSV_H
#define ATL_REPORT_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

typedef struct rep_csv {
    char *path;
    int file;           /* diagnostics source id of the text */
    int n_cols;
    char **header;      /* n_cols names */
    int n_rows;
    char **cells;       /* n_rows * n_cols, row-major, each NUL-terminated */
    uint32_t *cell_off; /* byte offset of each cell's first character (for located errors) */
    int *row_line;      /* 1-based line where each row starts */
} rep_csv;

/* Reads and parses `path`; 0 on success, -1 after reporting to d. */
int rep_csv_read(const char *path, atl_diag *d, rep_csv *out);
/* Parses text registered as a diagnostics source under `path`. */
int rep_csv_parse(const char *path, const char *text, size_t len, atl_diag *d, rep_csv *out);
void rep_csv_free(rep_csv *c);

/* Column index by exact name, or -1. */
int rep_csv_col(const rep_csv *c, const char *name);
static inline const char *rep_csv_cell(const rep_csv *c, int row, int col)
{
    return c->cells[(size_t)row * (size_t)c->n_cols + (size_t)col];
}
/* Reports an error located at a cell (file:line:col with the line shown). */
void rep_csv_cell_error(const rep_csv *c, atl_diag *d, int row, int col, const char *fmt, ...)
    ATL_PRINTF(5, 6);

#endif
