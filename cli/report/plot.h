/* A small SVG plotting module for `atlc report`: line plots with markers, symmetric error bars
 * and shaded bands, linear / log10 / categorical x axes, "nice" tick selection (steps of 1, 2 or
 * 5 times a power of ten), titles, axis labels, vertical marker lines and a legend to the right of
 * the plot area. The SVG uses presentation attributes only (no CSS, no scripts), so the same text
 * is a standalone .svg file and an inline <svg> element of an HTML page.
 *
 * Element classes, for tests and styling: one <path class="series"> per series (absent when a
 * series has no finite point), <path class="band">, <path class="errbar">, <path class="markers">
 * per series where present, <g class="legend-entry"> per labelled series, <text class="title">,
 * <g class="tick"> per axis tick. */
#ifndef ATL_REPORT_PLOT_H
#define ATL_REPORT_PLOT_H

#include <stdbool.h>
#include <stdio.h>

typedef enum rep_axis { REP_AXIS_LINEAR, REP_AXIS_LOG, REP_AXIS_CATEGORY } rep_axis;

typedef enum rep_marker {
    REP_MARK_NONE,
    REP_MARK_CIRCLE,
    REP_MARK_SQUARE,
    REP_MARK_TRIANGLE,
    REP_MARK_DIAMOND,
} rep_marker;

typedef struct rep_series {
    char *label;       /* legend text; NULL: not in the legend */
    char color[8];     /* "#rrggbb" */
    int dash;          /* 0 solid, 1 dashed, 2 dotted, 3 dash-dot */
    rep_marker marker;
    double width;      /* stroke width in px */
    int n;
    double *x, *y;     /* NaN y: a gap */
    double *err;       /* symmetric error bars, or NULL */
    double *lo, *hi;   /* a band from lo to hi, or NULL */
    char *band_label;  /* legend text of the band (a swatch after the line's entry), or NULL */
} rep_series;

typedef struct rep_vline {
    double x;
    char *label;
} rep_vline;

typedef struct rep_plot {
    char *id;    /* unique in a page; [A-Za-z0-9_-] */
    char *title, *subtitle, *xlabel, *ylabel;
    rep_axis xaxis, yaxis;
    char **xcats; /* REP_AXIS_CATEGORY: labels of x = 0 .. n_xcats-1 */
    int n_xcats;
    double ylim_lo, ylim_hi; /* the y axis never extends beyond these (NaN: no limit) */
    int width, height;       /* of the plot area (without margins and legend) */
    rep_series *series;
    int n_series, cap_series;
    rep_vline *vlines;
    int n_vlines;
} rep_plot;

/* A plot with default sizes and no limits; strings are copied. NULL when out of memory. */
rep_plot *rep_plot_new(const char *id, const char *title, const char *xlabel, const char *ylabel);
void rep_plot_free(rep_plot *p);
void rep_plot_set_subtitle(rep_plot *p, const char *subtitle);
int rep_plot_set_categories(rep_plot *p, char *const *labels, int n);
/* Adds a series of n points with copies of the arrays (err/lo/hi may be NULL). */
rep_series *rep_plot_add(rep_plot *p, const char *label, const char *color, int dash,
                         rep_marker marker, int n, const double *x, const double *y,
                         const double *err, const double *lo, const double *hi);
int rep_plot_add_vline(rep_plot *p, double x, const char *label);

/* Writes the plot as one <svg> element (with the SVG namespace, so it stands alone as a file).
 * Returns 0, or -1 on a write error. */
int rep_plot_write_svg(const rep_plot *p, FILE *f);

/* Tick selection for [lo, hi] with about `target` ticks: first tick, step and count. Exposed for
 * tests. */
void rep_nice_ticks(double lo, double hi, int target, double *first, double *step, int *count);
/* XML text escaping (&, <, >, ", '). */
void rep_xml_escape(FILE *f, const char *s);

/* Colour-blind safe palette (Okabe & Ito) for categorical series. */
const char *rep_palette(int i);

#endif
