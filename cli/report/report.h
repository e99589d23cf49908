/* `atlc report`: plots and the HTML page built from the loaded data (data.h). */
#ifndef ATL_REPORT_REPORT_H
#define ATL_REPORT_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "data.h"
#include "plot.h"

typedef enum rep_section { REP_SEC_SWEEP, REP_SEC_CURVES, REP_SEC_DEVICE, REP_SEC_COUNT } rep_section;

typedef struct rep_figure {
    rep_plot *plot;
    char *file;    /* the --svg file name, unique within a report */
    char *caption;
    rep_section section;
} rep_figure;

typedef struct rep_options {
    const char *title;  /* NULL: "atl report: NAME" */
    const char *version; /* atlc version for the footer */
    int device_count;   /* devices drawn in the device response (100) */
    uint64_t device_seed;
} rep_options;

typedef struct rep_report {
    char *title;
    rep_figure *figs;
    int n_figs;
    char *notes;      /* remarks shown on the page (e.g. how sweep plots aggregate) */
} rep_report;

/* Builds every plot. Returns 0, or -1 after reporting to d. */
int rep_report_build(const rep_data *D, const rep_options *o, rep_report *r, atl_diag *d);
void rep_report_free(rep_report *r);
/* The self-contained page: inline CSS and SVG, no scripts, well-formed XML (XHTML syntax). */
int rep_report_write_html(const rep_report *r, const rep_data *D, const rep_options *o, FILE *f);

#endif
