/* SVG line plots for `atlc report`; see plot.h. */
#include "plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                      "#E69F00", "#56B4E9", "#000000", "#999999"};

const char *rep_palette(int i)
{
    int n = (int)(sizeof palette / sizeof palette[0]);
    return palette[((i % n) + n) % n];
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

rep_plot *rep_plot_new(const char *id, const char *title, const char *xlabel, const char *ylabel)
{
    rep_plot *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->id = strdup(id ? id : "plot");
    if (p->id)
        for (char *c = p->id; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
                *c = '_';
    p->title = dup_or_null(title);
    p->xlabel = dup_or_null(xlabel);
    p->ylabel = dup_or_null(ylabel);
    p->ylim_lo = p->ylim_hi = NAN;
    p->width = 520;
    p->height = 300;
    if (!p->id || (title && !p->title) || (xlabel && !p->xlabel) || (ylabel && !p->ylabel)) {
        rep_plot_free(p);
        return NULL;
    }
    return p;
}

void rep_plot_free(rep_plot *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_series; i++) {
        rep_series *s = &p->series[i];
        free(s->label);
        free(s->band_label);
        free(s->x);
        free(s->y);
        free(s->err);
        free(s->lo);
        free(s->hi);
    }
    for (int i = 0; i < p->n_xcats; i++)
        free(p->xcats[i]);
    for (int i = 0; i < p->n_vlines; i++)
        free(p->vlines[i].label);
    free(p->xcats);
    free(p->vlines);
    free(p->series);
    free(p->id);
    free(p->title);
    free(p->subtitle);
    free(p->xlabel);
    free(p->ylabel);
    free(p);
}

void rep_plot_set_subtitle(rep_plot *p, const char *subtitle)
{
    free(p->subtitle);
    p->subtitle = dup_or_null(subtitle);
}

int rep_plot_set_categories(rep_plot *p, char *const *labels, int n)
{
    p->xcats = calloc((size_t)(n > 0 ? n : 1), sizeof *p->xcats);
    if (!p->xcats)
        return -1;
    for (int i = 0; i < n; i++)
        if (!(p->xcats[i] = strdup(labels[i])))
            return -1;
    p->n_xcats = n;
    p->xaxis = REP_AXIS_CATEGORY;
    return 0;
}

static double *dup_arr(const double *a, int n)
{
    if (!a)
        return NULL;
    double *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
    if (c && n > 0)
        memcpy(c, a, (size_t)n * sizeof *c);
    return c;
}

rep_series *rep_plot_add(rep_plot *p, const char *label, const char *color, int dash,
                         rep_marker marker, int n, const double *x, const double *y,
                         const double *err, const double *lo, const double *hi)
{
    if (p->n_series == p->cap_series) {
        int cap = p->cap_series ? 2 * p->cap_series : 8;
        rep_series *ns = realloc(p->series, (size_t)cap * sizeof *ns);
        if (!ns)
            return NULL;
        p->series = ns;
        p->cap_series = cap;
    }
    rep_series *s = &p->series[p->n_series];
    memset(s, 0, sizeof *s);
    s->label = dup_or_null(label);
    snprintf(s->color, sizeof s->color, "%s", color ? color : "#000000");
    s->dash = dash;
    s->marker = marker;
    s->width = 2.0;
    s->n = n;
    s->x = dup_arr(x, n);
    s->y = dup_arr(y, n);
    s->err = dup_arr(err, n);
    s->lo = dup_arr(lo, n);
    s->hi = dup_arr(hi, n);
    p->n_series++;
    if ((label && !s->label) || !s->x || !s->y || (err && !s->err) || (lo && !s->lo) ||
        (hi && !s->hi))
        return NULL; /* freed with the plot */
    return s;
}

int rep_plot_add_vline(rep_plot *p, double x, const char *label)
{
    rep_vline *nv = realloc(p->vlines, (size_t)(p->n_vlines + 1) * sizeof *nv);
    if (!nv)
        return -1;
    p->vlines = nv;
    p->vlines[p->n_vlines].x = x;
    p->vlines[p->n_vlines].label = dup_or_null(label);
    p->n_vlines++;
    return 0;
}

void rep_xml_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            /* control characters are not allowed in XML 1.0 text */
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                fputc(' ', f);
            else
                fputc(*s, f);
        }
    }
}

void rep_nice_ticks(double lo, double hi, int target, double *first, double *step, int *count)
{
    if (!(hi > lo)) {
        *first = lo;
        *step = 1;
        *count = 1;
        return;
    }
    double raw = (hi - lo) / (target > 1 ? target : 1);
    double mag = pow(10.0, floor(log10(raw)));
    double norm = raw / mag;
    double st = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
    double f0 = ceil(lo / st - 1e-9) * st;
    int n = (int)floor((hi - f0) / st + 1e-9) + 1;
    *first = f0;
    *step = st;
    *count = n > 0 ? n : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Layout */

typedef struct axis_map {
    rep_axis kind;
    double lo, hi; /* in axis units (log10 for log axes) */
    double px0, px1;
} axis_map;

static double axis_t(const axis_map *a, double v)
{
    return a->kind == REP_AXIS_LOG ? (v > 0 ? log10(v) : NAN) : v;
}

static double axis_px(const axis_map *a, double v)
{
    double t = axis_t(a, v);
    return a->px0 + (t - a->lo) / (a->hi - a->lo) * (a->px1 - a->px0);
}

/* Approximate rendered width of UTF-8 text at a font size (sans-serif average advance). */
static double text_width(const char *s, double font)
{
    int n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n * font * 0.56;
}

static void fmt_tick(char *buf, size_t n, double v, double step)
{
    if (fabs(v) < step * 1e-6)
        v = 0;
    double av = fabs(v);
    if ((av >= 1e5 || (av > 0 && av < 1e-4)) || step < 1e-4) {
        snprintf(buf, n, "%.3g", v);
        return;
    }
    int dec = (int)-floor(log10(step) + 1e-9);
    if (dec < 0)
        dec = 0;
    /* 2.5-type steps need one more digit than their magnitude */
    double scaled = step * pow(10.0, dec);
    if (fabs(scaled - floor(scaled + 0.5)) > 1e-6)
        dec++;
    snprintf(buf, n, "%.*f", dec, v);
}

typedef struct tick {
    double v;
    char label[48];
} tick;

/* Ticks of a numeric axis (axis units: log10 for log axes). */
static int make_ticks(const axis_map *a, bool integer, tick *out, int max)
{
    int n = 0;
    if (a->kind == REP_AXIS_LOG) {
        /* decades, then 2 and 5 multiples when fewer than three decades show */
        int d0 = (int)floor(a->lo), d1 = (int)ceil(a->hi);
        int decades = 0;
        for (int d = d0; d <= d1; d++)
            decades += d >= a->lo - 1e-9 && d <= a->hi + 1e-9;
        static const double mult_dense[] = {1, 2, 5};
        int nm = decades >= 3 ? 1 : 3;
        for (int d = d0; d <= d1 && n < max; d++)
            for (int k = 0; k < nm && n < max; k++) {
                double v = mult_dense[k] * pow(10.0, d);
                double t = log10(v);
                if (t < a->lo - 1e-9 || t > a->hi + 1e-9)
                    continue;
                out[n].v = v;
                snprintf(out[n].label, sizeof out[n].label, "%g", v);
                n++;
            }
        return n;
    }
    double first, step;
    int count;
    rep_nice_ticks(a->lo, a->hi, 6, &first, &step, &count);
    if (integer && step < 1) {
        step = 1;
        first = ceil(a->lo - 1e-9);
        count = (int)floor(a->hi - first + 1e-9) + 1;
    }
    for (int i = 0; i < count && n < max; i++) {
        double v = first + i * step;
        out[n].v = v;
        fmt_tick(out[n].label, sizeof out[n].label, v, step);
        n++;
    }
    return n;
}

static void num(FILE *f, double v) { fprintf(f, "%.2f", fabs(v) < 0.005 ? 0.0 : v); }

static const char *dash_array(int dash)
{
    switch (dash) {
    case 1:
        return "7 4";
    case 2:
        return "2 3";
    case 3:
        return "9 3 2 3";
    default:
        return NULL;
    }
}

static void marker_path(FILE *f, rep_marker m, double x, double y, double r)
{
    switch (m) {
    case REP_MARK_CIRCLE:
        fprintf(f, "M%.2f %.2fa%.2f %.2f 0 1 0 %.2f 0a%.2f %.2f 0 1 0 %.2f 0Z", x - r, y, r, r,
                2 * r, r, r, -2 * r);
        break;
    case REP_MARK_SQUARE:
        r *= 0.9;
        fprintf(f, "M%.2f %.2fh%.2fv%.2fh%.2fZ", x - r, y - r, 2 * r, 2 * r, -2 * r);
        break;
    case REP_MARK_TRIANGLE:
        r *= 1.2;
        fprintf(f, "M%.2f %.2fL%.2f %.2fL%.2f %.2fZ", x, y - r, x + r * 0.866, y + r * 0.5,
                x - r * 0.866, y + r * 0.5);
        break;
    case REP_MARK_DIAMOND:
        r *= 1.25;
        fprintf(f, "M%.2f %.2fL%.2f %.2fL%.2f %.2fL%.2f %.2fZ", x, y - r, x + r, y, x, y + r,
                x - r, y);
        break;
    default:
        break;
    }
}

static bool finite_pt(const rep_series *s, const axis_map *ax, int i)
{
    return isfinite(s->x[i]) && isfinite(s->y[i]) && isfinite(axis_t(ax, s->x[i]));
}

/* Data ranges over every series (x in axis units). */
static void data_range(const rep_plot *p, const axis_map *ax, double *xlo, double *xhi,
                       double *ylo, double *yhi)
{
    *xlo = *ylo = INFINITY;
    *xhi = *yhi = -INFINITY;
    for (int k = 0; k < p->n_series; k++) {
        const rep_series *s = &p->series[k];
        for (int i = 0; i < s->n; i++) {
            double tx = axis_t(ax, s->x[i]);
            if (!isfinite(tx))
                continue;
            double ys[5] = {s->y[i], NAN, NAN, NAN, NAN};
            if (s->err && isfinite(s->err[i])) {
                ys[1] = s->y[i] - s->err[i];
                ys[2] = s->y[i] + s->err[i];
            }
            if (s->lo)
                ys[3] = s->lo[i];
            if (s->hi)
                ys[4] = s->hi[i];
            bool any = false;
            for (int j = 0; j < 5; j++)
                if (isfinite(ys[j])) {
                    *ylo = fmin(*ylo, ys[j]);
                    *yhi = fmax(*yhi, ys[j]);
                    any = true;
                }
            if (any) {
                *xlo = fmin(*xlo, tx);
                *xhi = fmax(*xhi, tx);
            }
        }
    }
    for (int i = 0; i < p->n_vlines; i++) {
        double tx = axis_t(ax, p->vlines[i].x);
        if (isfinite(tx)) {
            *xlo = fmin(*xlo, tx);
            *xhi = fmax(*xhi, tx);
        }
    }
}

int rep_plot_write_svg(const rep_plot *p, FILE *f)
{
    const double font = 12, tick_font = 11;
    axis_map xa = {.kind = p->xaxis}, ya = {.kind = p->yaxis == REP_AXIS_LOG ? REP_AXIS_LOG
                                                                            : REP_AXIS_LINEAR};
    double xlo, xhi, ylo, yhi;
    data_range(p, &xa, &xlo, &xhi, &ylo, &yhi);
    if (ya.kind == REP_AXIS_LOG) {
        ylo = ylo > 0 ? log10(ylo) : NAN;
        yhi = yhi > 0 ? log10(yhi) : NAN;
    }
    if (!isfinite(xlo)) {
        xlo = 0;
        xhi = 1;
    }
    if (!isfinite(ylo) || !isfinite(yhi)) {
        ylo = 0;
        yhi = 1;
    }
    /* x: categories sit at integer positions; numbers get 3 % padding so markers stay inside */
    if (xa.kind == REP_AXIS_CATEGORY) {
        xa.lo = -0.5;
        xa.hi = (p->n_xcats > 0 ? p->n_xcats : 1) - 0.5;
    } else {
        if (xhi - xlo < 1e-12) {
            double w = xa.kind == REP_AXIS_LOG ? 0.5 : fmax(fabs(xlo) * 0.1, 0.5);
            xlo -= w;
            xhi += w;
        }
        double pad = 0.03 * (xhi - xlo);
        xa.lo = xlo - pad;
        xa.hi = xhi + pad;
    }
    /* y: extend to whole tick steps, then keep within the limits */
    if (yhi - ylo < 1e-12) {
        double w = ya.kind == REP_AXIS_LOG ? 0.5 : fmax(fabs(ylo) * 0.1, 0.05);
        ylo -= w;
        yhi += w;
    }
    if (ya.kind == REP_AXIS_LINEAR) {
        /* 3 % room, so that points on a whole tick do not sit on the frame */
        double first, step, room = 0.03 * (yhi - ylo);
        int count;
        ylo -= room;
        yhi += room;
        rep_nice_ticks(ylo, yhi, 5, &first, &step, &count);
        ylo = floor(ylo / step + 1e-9) * step;
        yhi = ceil(yhi / step - 1e-9) * step;
        if (isfinite(p->ylim_lo) && ylo < p->ylim_lo)
            ylo = p->ylim_lo;
        if (isfinite(p->ylim_hi) && yhi > p->ylim_hi)
            yhi = p->ylim_hi;
        if (!(yhi > ylo))
            yhi = ylo + step;
    } else {
        double pad = 0.04 * (yhi - ylo);
        ylo -= pad;
        yhi += pad;
    }
    ya.lo = ylo;
    ya.hi = yhi;

    /* x tick labels: rotate categorical labels that would overlap */
    tick xt[64], yt[64];
    int nxt = 0, nyt;
    double max_xlab = 0;
    if (xa.kind == REP_AXIS_CATEGORY) {
        for (int i = 0; i < p->n_xcats && nxt < 64; i++) {
            xt[nxt].v = i;
            snprintf(xt[nxt].label, sizeof xt[nxt].label, "%s", p->xcats[i]);
            max_xlab = fmax(max_xlab, text_width(xt[nxt].label, tick_font));
            nxt++;
        }
    } else {
        nxt = make_ticks(&xa, false, xt, 64);
        bool integer = true;
        for (int k = 0; k < p->n_series && integer; k++)
            for (int i = 0; i < p->series[k].n; i++)
                if (isfinite(p->series[k].x[i]) && p->series[k].x[i] != floor(p->series[k].x[i])) {
                    integer = false;
                    break;
                }
        if (integer && xa.kind == REP_AXIS_LINEAR)
            nxt = make_ticks(&xa, true, xt, 64);
    }
    nyt = make_ticks(&ya, false, yt, 64);
    if (ya.kind == REP_AXIS_LOG)
        for (int i = 0; i < nyt; i++)
            yt[i].v = log10(yt[i].v);
    double max_ylab = 0;
    for (int i = 0; i < nyt; i++)
        max_ylab = fmax(max_ylab, text_width(yt[i].label, tick_font));

    const double pw = p->width, ph = p->height;
    double slot = xa.kind == REP_AXIS_CATEGORY ? pw / (p->n_xcats > 0 ? p->n_xcats : 1) : 1e9;
    bool rotate = max_xlab > slot - 4;
    double L = 30 + max_ylab + 14, T = p->subtitle ? 50 : 34;
    double B = rotate ? 34 + max_xlab * 0.6 + 8 : 48;
    /* legend */
    int n_leg = 0;
    double leg_w = 0;
    for (int k = 0; k < p->n_series; k++) {
        if (p->series[k].label) {
            n_leg++;
            leg_w = fmax(leg_w, text_width(p->series[k].label, font));
        }
        if (p->series[k].band_label && p->series[k].lo) {
            n_leg++;
            leg_w = fmax(leg_w, text_width(p->series[k].band_label, font));
        }
    }
    double R = n_leg ? 16 + 34 + leg_w + 12 : 20;
    double leg_h = n_leg * 19.0 + 10;
    double W = ceil(L + pw + R);
    double H = ceil(T + fmax(ph, leg_h) + B);
    xa.px0 = L;
    xa.px1 = L + pw;
    ya.px0 = T + ph;
    ya.px1 = T;

    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s\" class=\"atl-plot\" "
               "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif\" "
               "font-size=\"%.0f\">\n",
            p->id, W, H, W, H, font);
    fputs("<title>", f);
    rep_xml_escape(f, p->title ? p->title : p->id);
    fputs("</title>\n", f);
    fprintf(f, "<rect class=\"bg\" x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" "
               "fill=\"#ffffff\"/>\n", W, H);
    if (p->title) {
        fprintf(f, "<text class=\"title\" x=\"%.1f\" y=\"22\" text-anchor=\"middle\" "
                   "font-size=\"15\" font-weight=\"bold\" fill=\"#222222\">", L + pw / 2);
        rep_xml_escape(f, p->title);
        fputs("</text>\n", f);
    }
    if (p->subtitle) {
        fprintf(f, "<text class=\"subtitle\" x=\"%.1f\" y=\"40\" text-anchor=\"middle\" "
                   "font-size=\"11.5\" fill=\"#555555\">", L + pw / 2);
        rep_xml_escape(f, p->subtitle);
        fputs("</text>\n", f);
    }
    fprintf(f, "<defs><clipPath id=\"%s-clip\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
               "height=\"%.1f\"/></clipPath></defs>\n",
            p->id, L - 6, T - 6, pw + 12, ph + 12);

    /* grid */
    fputs("<path class=\"grid\" fill=\"none\" stroke=\"#e4e4e4\" stroke-width=\"1\" d=\"", f);
    for (int i = 0; i < nyt; i++) {
        double y = ya.px0 + (yt[i].v - ya.lo) / (ya.hi - ya.lo) * (ya.px1 - ya.px0);
        fprintf(f, "M%.1f %.1fH%.1f", L, y, L + pw);
    }
    for (int i = 0; i < nxt; i++) {
        fprintf(f, "M%.1f %.1fV%.1f", axis_px(&xa, xt[i].v), T, T + ph);
    }
    fputs("\"/>\n", f);

    /* axes with ticks and labels */
    fputs("<g class=\"axis x-axis\" fill=\"#333333\">\n", f);
    for (int i = 0; i < nxt; i++) {
        double x = axis_px(&xa, xt[i].v);
        fprintf(f, "<g class=\"tick\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                   "stroke=\"#444444\"/>",
                x, T + ph, x, T + ph + 5);
        if (rotate)
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" text-anchor=\"end\" "
                       "transform=\"rotate(-35 %.1f %.1f)\">",
                    x, T + ph + 16, tick_font, x, T + ph + 16);
        else
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" text-anchor=\"middle\">",
                    x, T + ph + 18, tick_font);
        rep_xml_escape(f, xt[i].label);
        fputs("</text></g>\n", f);
    }
    if (p->xlabel) {
        fprintf(f, "<text class=\"axis-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                L + pw / 2, H - 10);
        rep_xml_escape(f, p->xlabel);
        fputs("</text>\n", f);
    }
    fputs("</g>\n<g class=\"axis y-axis\" fill=\"#333333\">\n", f);
    for (int i = 0; i < nyt; i++) {
        double y = ya.px0 + (yt[i].v - ya.lo) / (ya.hi - ya.lo) * (ya.px1 - ya.px0);
        fprintf(f, "<g class=\"tick\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                   "stroke=\"#444444\"/><text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" "
                   "text-anchor=\"end\">",
                L - 5, y, L, y, L - 8, y + 4, tick_font);
        rep_xml_escape(f, yt[i].label);
        fputs("</text></g>\n", f);
    }
    if (p->ylabel) {
        double cx = 16, cy = T + ph / 2;
        fprintf(f, "<text class=\"axis-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                   "transform=\"rotate(-90 %.1f %.1f)\">",
                cx, cy, cx, cy);
        rep_xml_escape(f, p->ylabel);
        fputs("</text>\n", f);
    }
    fputs("</g>\n", f);
    fprintf(f, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
               "fill=\"none\" stroke=\"#444444\"/>\n",
            L, T, pw, ph);

    for (int i = 0; i < p->n_vlines; i++) {
        double x = axis_px(&xa, p->vlines[i].x);
        if (!isfinite(x))
            continue;
        fprintf(f, "<g class=\"vline\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                   "stroke=\"#777777\" stroke-dasharray=\"5 4\"/>",
                x, T, x, T + ph);
        if (p->vlines[i].label) {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#555555\">", x + 4,
                    T + 14);
            rep_xml_escape(f, p->vlines[i].label);
            fputs("</text>", f);
        }
        fputs("</g>\n", f);
    }

    /* data, clipped to the plot area */
    fprintf(f, "<g class=\"data\" clip-path=\"url(#%s-clip)\">\n", p->id);
    for (int k = 0; k < p->n_series; k++) {
        const rep_series *s = &p->series[k];
        fprintf(f, "<g class=\"series-group\" data-series=\"%d\">\n", k);
        if (s->lo && s->hi) {
            /* one closed polygon per run of points with a finite band */
            bool any = false;
            for (int i = 0; i < s->n;) {
                while (i < s->n && !(isfinite(s->lo[i]) && isfinite(s->hi[i]) &&
                                     isfinite(axis_t(&xa, s->x[i]))))
                    i++;
                int j = i;
                while (j < s->n && isfinite(s->lo[j]) && isfinite(s->hi[j]) &&
                       isfinite(axis_t(&xa, s->x[j])))
                    j++;
                if (j - i >= 2) {
                    if (!any)
                        fprintf(f, "<path class=\"band\" fill=\"%s\" fill-opacity=\"0.18\" "
                                   "stroke=\"none\" d=\"", s->color);
                    any = true;
                    for (int q = i; q < j; q++) {
                        double yy = ya.px0 + (axis_t(&ya, s->hi[q]) - ya.lo) / (ya.hi - ya.lo) *
                                                 (ya.px1 - ya.px0);
                        fprintf(f, "%c%.2f %.2f", q == i ? 'M' : 'L', axis_px(&xa, s->x[q]), yy);
                    }
                    for (int q = j - 1; q >= i; q--) {
                        double yy = ya.px0 + (axis_t(&ya, s->lo[q]) - ya.lo) / (ya.hi - ya.lo) *
                                                 (ya.px1 - ya.px0);
                        fprintf(f, "L%.2f %.2f", axis_px(&xa, s->x[q]), yy);
                    }
                    fputc('Z', f);
                }
                i = j;
            }
            if (any)
                fputs("\"/>\n", f);
        }
        if (s->err) {
            bool any = false;
            for (int i = 0; i < s->n; i++) {
                if (!finite_pt(s, &xa, i) || !isfinite(s->err[i]) || s->err[i] <= 0)
                    continue;
                if (!any)
                    fprintf(f, "<path class=\"errbar\" fill=\"none\" stroke=\"%s\" "
                               "stroke-width=\"1.3\" d=\"", s->color);
                any = true;
                double x = axis_px(&xa, s->x[i]);
                double y0 = ya.px0 + (axis_t(&ya, s->y[i] - s->err[i]) - ya.lo) /
                                         (ya.hi - ya.lo) * (ya.px1 - ya.px0);
                double y1 = ya.px0 + (axis_t(&ya, s->y[i] + s->err[i]) - ya.lo) /
                                         (ya.hi - ya.lo) * (ya.px1 - ya.px0);
                if (!isfinite(y0)) /* a log axis cannot show y - err <= 0 */
                    y0 = ya.px0 + 6;
                fprintf(f, "M%.2f %.2fV%.2fM%.2f %.2fh8M%.2f %.2fh8", x, y0, y1, x - 4, y0,
                        x - 4, y1);
            }
            if (any)
                fputs("\"/>\n", f);
        }
        int npts = 0;
        for (int i = 0; i < s->n; i++)
            npts += finite_pt(s, &xa, i);
        if (npts > 0) {
            const char *da = dash_array(s->dash);
            fprintf(f, "<path class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" "
                       "stroke-linejoin=\"round\" stroke-linecap=\"round\"%s%s%s d=\"",
                    s->color, s->width, da ? " stroke-dasharray=\"" : "", da ? da : "",
                    da ? "\"" : "");
            bool pen = false;
            for (int i = 0; i < s->n; i++) {
                if (!finite_pt(s, &xa, i)) {
                    pen = false; /* a gap */
                    continue;
                }
                double x = axis_px(&xa, s->x[i]);
                double y = ya.px0 + (axis_t(&ya, s->y[i]) - ya.lo) / (ya.hi - ya.lo) *
                                        (ya.px1 - ya.px0);
                fprintf(f, "%c", pen ? 'L' : 'M');
                num(f, x);
                fputc(' ', f);
                num(f, y);
                if (!pen && (i + 1 >= s->n || !finite_pt(s, &xa, i + 1)))
                    fputs("h0", f); /* a lone point still renders (round cap) */
                pen = true;
            }
            fputs("\"/>\n", f);
        }
        if (s->marker != REP_MARK_NONE && npts > 0) {
            fprintf(f, "<path class=\"markers\" fill=\"%s\" stroke=\"#ffffff\" "
                       "stroke-width=\"0.8\" d=\"", s->color);
            for (int i = 0; i < s->n; i++) {
                if (!finite_pt(s, &xa, i))
                    continue;
                double y = ya.px0 + (axis_t(&ya, s->y[i]) - ya.lo) / (ya.hi - ya.lo) *
                                        (ya.px1 - ya.px0);
                marker_path(f, s->marker, axis_px(&xa, s->x[i]), y, 3.8);
            }
            fputs("\"/>\n", f);
        }
        fputs("</g>\n", f);
    }
    fputs("</g>\n", f);

    if (n_leg) {
        double x0 = L + pw + 16, y = T + 12;
        fputs("<g class=\"legend\">\n", f);
        for (int k = 0; k < p->n_series; k++) {
            const rep_series *s = &p->series[k];
            if (!s->label)
                continue;
            const char *da = dash_array(s->dash);
            fprintf(f, "<g class=\"legend-entry\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                       "y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"%s%s%s/>",
                    x0, y, x0 + 28, y, s->color, s->width, da ? " stroke-dasharray=\"" : "",
                    da ? da : "", da ? "\"" : "");
            if (s->marker != REP_MARK_NONE) {
                fprintf(f, "<path fill=\"%s\" stroke=\"#ffffff\" stroke-width=\"0.8\" d=\"",
                        s->color);
                marker_path(f, s->marker, x0 + 14, y, 3.8);
                fputs("\"/>", f);
            }
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#222222\">", x0 + 34, y + 4);
            rep_xml_escape(f, s->label);
            fputs("</text></g>\n", f);
            y += 19;
            if (s->band_label && s->lo) {
                fprintf(f, "<g class=\"legend-entry\"><rect x=\"%.1f\" y=\"%.1f\" width=\"28\" "
                           "height=\"10\" fill=\"%s\" fill-opacity=\"0.18\"/><text x=\"%.1f\" "
                           "y=\"%.1f\" fill=\"#222222\">",
                        x0, y - 5, s->color, x0 + 34, y + 4);
                rep_xml_escape(f, s->band_label);
                fputs("</text></g>\n", f);
                y += 19;
            }
        }
        fputs("</g>\n", f);
    }
    fputs("</svg>\n", f);
    return ferror(f) ? -1 : 0;
}
