/* `atlc report`: plots and the HTML page; see report.h and docs/EXPERIMENTS.md ("Reports"). */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* statistics over seeds */

typedef struct rstat {
    int n;
    double mean, std; /* std: sample standard deviation (n - 1), NaN for n < 2 */
} rstat;

static rstat stats_of(const double *v, int n)
{
    rstat s = {0, NAN, NAN};
    double sum = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            sum += v[i];
            s.n++;
        }
    if (s.n == 0)
        return s;
    s.mean = sum / s.n;
    if (s.n >= 2) {
        double ss = 0;
        for (int i = 0; i < n; i++)
            if (isfinite(v[i]))
                ss += (v[i] - s.mean) * (v[i] - s.mean);
        s.std = sqrt(ss / (s.n - 1));
    }
    return s;
}

/* A growable array of doubles for collecting samples. */
typedef struct dvec {
    double *v;
    int n, cap;
} dvec;

static void dvec_push(dvec *a, double x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 16;
        double *nv = realloc(a->v, (size_t)a->cap * sizeof *nv);
        if (!nv)
            abort();
        a->v = nv;
    }
    a->v[a->n++] = x;
}

static char *xstrdup(const char *s)
{
    char *c = strdup(s ? s : "");
    if (!c)
        abort();
    return c;
}

static char *xprintf(const char *fmt, ...) ATL_PRINTF(1, 2);
static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* figures */

static void sanitize_file(char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            *s = '_';
}

/* Adds a figure; the file name "<base>.svg" is made unique ("-2", "-3", ...). Takes p. */
static rep_figure *add_figure(rep_report *R, rep_plot *p, const char *base, rep_section sec,
                              char *caption)
{
    rep_figure *nf = realloc(R->figs, (size_t)(R->n_figs + 1) * sizeof *nf);
    if (!nf)
        abort();
    R->figs = nf;
    char *b = xstrdup(base);
    sanitize_file(b);
    char *file = xprintf("%s.svg", b);
    for (int k = 2;; k++) {
        bool clash = false;
        for (int i = 0; i < R->n_figs && !clash; i++)
            clash = strcmp(R->figs[i].file, file) == 0;
        if (!clash)
            break;
        free(file);
        file = xprintf("%s-%d.svg", b, k);
    }
    free(b);
    /* the element id follows the file name, so it is unique in the page too */
    free(p->id);
    p->id = xstrdup(file);
    p->id[strlen(p->id) - 4] = '\0';
    for (char *c = p->id; *c; c++)
        if (*c == '.')
            *c = '_';
    rep_figure *f = &R->figs[R->n_figs++];
    f->plot = p;
    f->file = file;
    f->caption = caption;
    f->section = sec;
    return f;
}

static const rep_marker task_markers[] = {REP_MARK_CIRCLE, REP_MARK_SQUARE, REP_MARK_TRIANGLE,
                                          REP_MARK_DIAMOND};

static bool numeric_log_axis(const rep_param *P)
{
    /* a log axis when the values span two decades or more and are all positive */
    if (!P->numeric || P->n_values < 3 || P->nums[0] <= 0)
        return false;
    return P->nums[P->n_values - 1] / P->nums[0] >= 100;
}

static void append(char **s, const char *fmt, ...) ATL_PRINTF(2, 3);
static void append(char **s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *t = NULL;
    if (vasprintf(&t, fmt, ap) < 0)
        abort();
    va_end(ap);
    char *u = xprintf("%s%s", *s ? *s : "", t);
    free(*s);
    free(t);
    *s = u;
}

/* One error-vs-parameter plot: rows whose other parameters match `combo` (combo[p] == -2 means
 * any value; NULL: every row). */
static int sweep_plot(const rep_data *D, rep_report *R, int a, const int *combo,
                      const char *subtitle, const char *file, const char *caption)
{
    const rep_param *P = &D->params[a];
    char *title = xprintf("Test error vs %s", P->name);
    rep_plot *p = rep_plot_new(file, title, P->name, "test error (1 \xE2\x88\x92 final accuracy)");
    free(title);
    if (!p)
        abort();
    rep_plot_set_subtitle(p, subtitle);
    p->ylim_lo = 0;
    p->ylim_hi = 1;
    if (!P->numeric) {
        if (rep_plot_set_categories(p, P->values, P->n_values))
            abort();
    } else if (numeric_log_axis(P)) {
        p->xaxis = REP_AXIS_LOG;
    }
    int nv = P->n_values;
    double *x = malloc((size_t)nv * sizeof *x), *y = malloc((size_t)nv * sizeof *y);
    double *e = malloc((size_t)nv * sizeof *e);
    if (!x || !y || !e)
        abort();
    dvec samples = {0};
    for (int t = 0; t < D->n_tasks; t++)
        for (int m = 0; m < D->n_methods; m++) {
            int finite = 0;
            for (int k = 0; k < nv; k++) {
                samples.n = 0;
                for (int i = 0; i < D->n_res; i++) {
                    const rep_result *r = &D->res[i];
                    if (r->pv[a] != k || strcmp(r->task, D->tasks[t]) ||
                        strcmp(r->method, D->methods[m]))
                        continue;
                    bool match = true;
                    for (int q = 0; combo && q < D->n_params && match; q++)
                        match = q == a || combo[q] == -2 || r->pv[q] == combo[q];
                    if (match)
                        dvec_push(&samples, 1.0 - r->final_acc);
                }
                rstat s = stats_of(samples.v, samples.n);
                x[k] = P->numeric ? P->nums[k] : k;
                y[k] = s.mean;
                e[k] = s.std;
                finite += s.n > 0;
            }
            if (!finite)
                continue;
            char *label = xprintf("%s \xC2\xB7 %s", D->tasks[t], rep_method_label(D->methods[m]));
            if (!rep_plot_add(p, label, rep_palette(m), t % 4, task_markers[t % 4], nv, x, y, e,
                              NULL, NULL))
                abort();
            free(label);
        }
    free(samples.v);
    free(x);
    free(y);
    free(e);
    add_figure(R, p, file, REP_SEC_SWEEP, xstrdup(caption));
    return 0;
}

static char *combo_text(const rep_data *D, int a, const int *combo)
{
    char *s = NULL;
    for (int q = 0; q < D->n_params; q++) {
        if (q == a || combo[q] < 0)
            continue;
        append(&s, "%s%s = %s", s ? ", " : "", D->params[q].name,
               D->params[q].values[combo[q]]);
    }
    return s ? s : xstrdup("");
}

enum { MAX_HELD_PLOTS = 8 };

static int sweep_plots(const rep_data *D, rep_report *R)
{
    int np = D->n_params;
    for (int a = 0; a < np; a++) {
        const rep_param *P = &D->params[a];
        if (P->n_values < 2)
            continue;
        /* combinations of the other parameters, and how many values of this one each has */
        int *combos = NULL, n_combos = 0;
        unsigned char *seen = NULL; /* n_combos x n_values */
        for (int i = 0; i < D->n_res; i++) {
            const rep_result *r = &D->res[i];
            if (r->pv[a] < 0)
                continue;
            int c = 0;
            for (; c < n_combos; c++) {
                bool eq = true;
                for (int q = 0; q < np && eq; q++)
                    eq = q == a || combos[c * np + q] == r->pv[q];
                if (eq)
                    break;
            }
            if (c == n_combos) {
                combos = realloc(combos, (size_t)(n_combos + 1) * (size_t)np * sizeof *combos);
                seen = realloc(seen, (size_t)(n_combos + 1) * (size_t)P->n_values);
                if (!combos || !seen)
                    abort();
                memcpy(combos + c * np, r->pv, (size_t)np * sizeof *combos);
                combos[c * np + a] = -2;
                memset(seen + (size_t)c * (size_t)P->n_values, 0, (size_t)P->n_values);
                n_combos++;
            }
            seen[(size_t)c * (size_t)P->n_values + (size_t)r->pv[a]] = 1;
        }
        int *held = malloc((size_t)(n_combos ? n_combos : 1) * sizeof *held), n_held = 0;
        if (!held)
            abort();
        for (int c = 0; c < n_combos; c++) {
            int nvals = 0;
            for (int k = 0; k < P->n_values; k++)
                nvals += seen[(size_t)c * (size_t)P->n_values + (size_t)k];
            if (nvals >= 2)
                held[n_held++] = c;
        }
        char *others = NULL;
        for (int q = 0; q < np; q++)
            if (q != a && D->params[q].n_values > 1)
                append(&others, "%s%s", others ? ", " : "", D->params[q].name);
        char *base = xprintf("sweep-%s", P->name);
        const char *agg = D->n_seeds > 1 ? "; mean \xC2\xB1 sample std over seeds (error bars)"
                                         : "";
        const char *seeds_txt = D->n_seeds > 1 ? "mean \xC2\xB1 std over seeds"
                                               : "one seed (no error bars)";
        if (!others || n_held == 0 || n_held > MAX_HELD_PLOTS) {
            /* one plot: no other varying parameter; or they vary together with this one (a zip
             * sweep); or too many combinations to draw one plot each (pooled) */
            char *sub, *cap;
            if (!others) {
                char *fixed = n_combos ? combo_text(D, a, combos) : xstrdup("");
                sub = fixed[0] ? xprintf("%s; %s", seeds_txt, fixed) : xstrdup(seeds_txt);
                free(fixed);
                cap = xprintf("Test error (1 \xE2\x88\x92 final accuracy) against %s, one "
                              "line per task and method%s.", P->name, agg);
            } else if (n_held == 0) {
                sub = xprintf("%s; varies with it: %s", seeds_txt, others);
                cap = xprintf("Test error against %s; %s change together with it (a zipped "
                              "sweep), so each point is one setting of all of them%s.", P->name,
                              others, agg);
            } else {
                sub = xprintf("pooled over %s", others);
                cap = xprintf("Test error against %s, pooled over the %d combinations of %s "
                              "(too many for one plot each): mean \xC2\xB1 sample std over "
                              "seeds and those settings.", P->name, n_combos, others);
            }
            sweep_plot(D, R, a, NULL, sub, base, cap);
            free(sub);
            free(cap);
        } else {
            for (int h = 0; h < n_held; h++) {
                const int *combo = combos + held[h] * np;
                char *fixed = combo_text(D, a, combo);
                char *sub = xprintf("%s; %s", seeds_txt, fixed);
                char *cap = xprintf("Test error against %s with %s%s.", P->name, fixed, agg);
                char *file = xprintf("%s-%d", base, h + 1);
                sweep_plot(D, R, a, combo, sub, file, cap);
                free(fixed);
                free(sub);
                free(cap);
                free(file);
            }
        }
        free(base);
        free(others);
        free(held);
        free(combos);
        free(seen);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* training curves */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Mean and std over seeds per epoch of one (phase, method) for a metric (offset into rep_curve). */
static void curve_series(const rep_data *D, const char *phase, const char *method, int which,
                         int *n_out, double **xo, double **yo, double **lo, double **hi,
                         int *n_seeds)
{
    dvec ep = {0};
    *n_seeds = 0;
    for (int i = 0; i < D->n_curves; i++) {
        const rep_curve *c = &D->curves[i];
        if (strcmp(c->phase, phase) || (method ? !c->method || strcmp(c->method, method)
                                               : c->method != NULL))
            continue;
        (*n_seeds)++;
        for (int k = 0; k < c->n; k++) {
            bool have = false;
            for (int q = 0; q < ep.n && !have; q++)
                have = ep.v[q] == c->epoch[k];
            if (!have)
                dvec_push(&ep, c->epoch[k]);
        }
    }
    if (ep.n > 1)
        qsort(ep.v, (size_t)ep.n, sizeof *ep.v, cmp_d);
    int n = ep.n;
    double *y = malloc((size_t)(n ? n : 1) * sizeof *y), *l = malloc((size_t)(n ? n : 1) * sizeof *l);
    double *h = malloc((size_t)(n ? n : 1) * sizeof *h);
    if (!y || !l || !h)
        abort();
    dvec s = {0};
    for (int k = 0; k < n; k++) {
        s.n = 0;
        for (int i = 0; i < D->n_curves; i++) {
            const rep_curve *c = &D->curves[i];
            if (strcmp(c->phase, phase) || (method ? !c->method || strcmp(c->method, method)
                                                   : c->method != NULL))
                continue;
            for (int q = 0; q < c->n; q++)
                if (c->epoch[q] == ep.v[k]) {
                    const double *src = which == 0 ? c->test_acc : c->train_loss;
                    dvec_push(&s, src[q]);
                    break;
                }
        }
        rstat st = stats_of(s.v, s.n);
        y[k] = st.mean;
        l[k] = st.n >= 2 ? st.mean - st.std : NAN;
        h[k] = st.n >= 2 ? st.mean + st.std : NAN;
    }
    free(s.v);
    *n_out = n;
    *xo = ep.v ? ep.v : malloc(sizeof(double));
    *yo = y;
    *lo = l;
    *hi = h;
}

static int curve_plots(const rep_data *D, rep_report *R)
{
    /* phases: pretraining (one per distinct pretraining set-up, "pretrain-HASH"), then tasks */
    const char **phases = malloc((size_t)(D->n_curves + D->n_tasks + 1) * sizeof *phases);
    if (!phases)
        abort();
    int n_pre = 0;
    for (int i = 0; i < D->n_curves; i++) {
        bool have = D->curves[i].method != NULL;
        for (int k = 0; k < n_pre && !have; k++)
            have = strcmp(phases[k], D->curves[i].phase) == 0;
        if (!have)
            phases[n_pre++] = D->curves[i].phase;
    }
    int n_phases = n_pre;
    for (int t = 0; t < D->n_tasks; t++)
        phases[n_phases++] = D->tasks[t];
    for (int ph = 0; ph < n_phases; ph++) {
        const char *phase = phases[ph];
        bool pre = ph < n_pre;
        /* "pretrain-HASH": the hash only matters when there are several set-ups */
        const char *pre_id = n_pre > 1 && strncmp(phase, "pretrain-", 9) == 0 ? phase + 9 : NULL;
        for (int which = 0; which < 2; which++) {
            const char *what = which == 0 ? "test accuracy" : "train loss";
            char *title = pre ? pre_id ? xprintf("Pretraining %s: %s", pre_id, what)
                                       : xprintf("Pretraining: %s", what)
                              : xprintf("Task %s: %s", phase, what);
            rep_plot *p = rep_plot_new("c", title, "epoch", what);
            free(title);
            if (!p)
                abort();
            if (which == 0) {
                p->ylim_lo = 0;
                p->ylim_hi = 1;
            } else {
                p->ylim_lo = 0;
            }
            int max_seeds = 0, n_series = 0;
            int nm = pre ? 1 : D->n_methods;
            for (int m = 0; m < nm; m++) {
                int n, ns;
                double *x, *y, *lo, *hi;
                curve_series(D, phase, pre ? NULL : D->methods[m], which, &n, &x, &y, &lo, &hi,
                             &ns);
                bool any = false;
                for (int k = 0; k < n; k++)
                    any |= isfinite(y[k]);
                if (any) {
                    const char *label = pre ? "pretraining" : rep_method_label(D->methods[m]);
                    rep_series *s = rep_plot_add(p, label, rep_palette(pre ? 0 : m), 0,
                                                 n <= 12 ? REP_MARK_CIRCLE : REP_MARK_NONE, n, x,
                                                 y, NULL, lo, hi);
                    if (!s)
                        abort();
                    n_series++;
                    max_seeds = ns > max_seeds ? ns : max_seeds;
                }
                free(x);
                free(y);
                free(lo);
                free(hi);
            }
            if (n_series == 0) {
                rep_plot_free(p);
                continue;
            }
            char *sub = max_seeds > 1
                            ? xprintf("mean over %d seeds; band: \xC2\xB1 1 std", max_seeds)
                            : xprintf("1 seed");
            rep_plot_set_subtitle(p, sub);
            free(sub);
            char *file = pre ? xprintf("curves-pretrain%s%s-%s", pre_id ? "-" : "",
                                       pre_id ? pre_id : "", which == 0 ? "acc" : "loss")
                             : xprintf("curves-%s-%s", phase, which == 0 ? "acc" : "loss");
            const char *agg = max_seeds > 1 ? "; mean over seeds with a \xC2\xB1 1 std band" : "";
            char *cap = which == 0
                            ? xprintf("Test accuracy after each epoch of %s%s, one line per "
                                      "method%s.",
                                      pre ? "pretraining" : "task ", pre ? "" : phase, agg)
                            : xprintf("Mean training loss of each epoch of %s%s%s.",
                                      pre ? "pretraining" : "task ", pre ? "" : phase, agg);
            add_figure(R, p, file, REP_SEC_CURVES, cap);
            free(file);
        }
    }
    free(phases);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* device response */

static int device_plots(const rep_data *D, const rep_options *o, rep_report *R, atl_diag *d)
{
    for (int i = 0; i < D->n_devices; i++) {
        const rep_device *dv = &D->devices[i];
        /* enough pulses to saturate: about five times the number of states, 20 .. 2000 */
        double states = atl_dev_n_states(&dv->params);
        int pulses = (int)ceil(5 * (isfinite(states) ? states : 400));
        pulses = pulses < 20 ? 20 : pulses > 2000 ? 2000 : pulses;
        int ndev = o->device_count > 0 ? o->device_count : 100;
        atl_dev_response r;
        char err[256];
        if (atl_dev_response_compute(&dv->params, ndev, pulses, pulses, o->device_seed, &r, err,
                                     sizeof err)) {
            atl_diag_error(d, ATL_NO_SPAN, "device %s: %s", dv->name, err);
            return -1;
        }
        int n = r.n_pulses + 1;
        double *x = malloc((size_t)n * sizeof *x);
        if (!x)
            abort();
        for (int k = 0; k < n; k++)
            x[k] = k;
        char *title = xprintf("Device response: %s", dv->name);
        rep_plot *p = rep_plot_new("d", title, "pulse number (up, then down)", "weight");
        free(title);
        if (!p)
            abort();
        char *sub = xprintf("%s, %.1f states; %d devices, %d up then %d down pulses",
                            atl_dev_type_name(dv->params.type), states, ndev, pulses, pulses);
        rep_plot_set_subtitle(p, sub);
        free(sub);
        if (!rep_plot_add(p, "mean (with noise)", rep_palette(1), 0, REP_MARK_NONE, n, x, r.mean,
                          NULL, r.min, r.max) ||
            !rep_plot_add(p, "mean (noise-free)", rep_palette(0), 1, REP_MARK_NONE, n, x,
                          r.mean_nf, NULL, NULL, NULL) ||
            rep_plot_add_vline(p, pulses, "down pulses \xE2\x86\x92"))
            abort();
        p->series[0].band_label = xstrdup("min \xE2\x80\xA6 max over devices");
        p->series[0].width = 1.8;
        p->series[1].width = 1.6;
        char *file = xprintf("device-%s", dv->name);
        char *cap = xprintf("Pulse response of %s (%s): %d devices drawn with device-to-device "
                            "variation start at w = 0 and get %d up pulses, then %d down pulses. "
                            "Line: mean over the devices with cycle-to-cycle and write noise; "
                            "band: their minimum and maximum; dashed: the mean of the same "
                            "devices without cycle-to-cycle and write noise.",
                            dv->name, dv->note, ndev, pulses, pulses);
        add_figure(R, p, file, REP_SEC_DEVICE, cap);
        free(file);
        free(x);
        atl_dev_response_free(&r);
    }
    return 0;
}

int rep_report_build(const rep_data *D, const rep_options *o, rep_report *R, atl_diag *d)
{
    memset(R, 0, sizeof *R);
    if (o->title)
        R->title = xstrdup(o->title);
    else if (D->name)
        R->title = xprintf("atl report: %s", D->name);
    else
        R->title = xprintf("atl report: %s", D->source);
    if (sweep_plots(D, R) || curve_plots(D, R) || device_plots(D, o, R, d)) {
        rep_report_free(R);
        return -1;
    }
    return 0;
}

void rep_report_free(rep_report *R)
{
    for (int i = 0; i < R->n_figs; i++) {
        rep_plot_free(R->figs[i].plot);
        free(R->figs[i].file);
        free(R->figs[i].caption);
    }
    free(R->figs);
    free(R->title);
    free(R->notes);
    memset(R, 0, sizeof *R);
}

/* ------------------------------------------------------------------------------------------ */
/* HTML */

static const char *css =
    "body{font-family:'DejaVu Sans','Liberation Sans',Arial,Helvetica,sans-serif;color:#222;"
    "background:#fff;max-width:1560px;margin:20px auto;padding:0 18px;line-height:1.4}\n"
    "h1{font-size:1.55em;margin-bottom:.3em}\n"
    "h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:1.8em}\n"
    "h3{font-size:1.02em;margin:1.1em 0 .4em}\n"
    "table{border-collapse:collapse;font-size:.92em}\n"
    "th,td{border:1px solid #cfcfcf;padding:3px 10px;text-align:left}\n"
    "th{background:#f3f3f3}\n"
    "td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\n"
    "td.top{font-weight:bold}\n"
    "table.meta th{background:none;border:none;padding:1px 12px 1px 0;font-weight:normal;"
    "color:#666}\n"
    "table.meta td{border:none;padding:1px 0}\n"
    /* plots keep their size on narrow windows (scrolling) and sit two per row, scaled to fit,
     * on wide ones */
    "figure{display:inline-block;vertical-align:top;margin:8px 14px 18px 0;max-width:100%}\n"
    "figcaption{font-size:.84em;color:#555;margin-top:4px}\n"
    "svg.atl-plot{display:block;height:auto;border:1px solid #e6e6e6}\n"
    "@media (min-width:1100px){figure{width:calc(50% - 18px)}svg.atl-plot{width:100%}}\n"
    "nav a{margin-right:14px}\n"
    "p.note{color:#555;font-size:.9em}\n"
    "footer{margin-top:2.5em;color:#888;font-size:.8em}\n";

static void esc(FILE *f, const char *s) { rep_xml_escape(f, s); }

static void write_cell(FILE *f, rstat s, bool top)
{
    if (s.n == 0) {
        fputs("<td class=\"num\">\xE2\x80\x93</td>", f);
        return;
    }
    fprintf(f, "<td class=\"num%s\" title=\"n = %d\">%.1f", top ? " top" : "", s.n,
            100.0 * s.mean);
    if (s.n >= 2)
        fprintf(f, " \xC2\xB1 %.1f", 100.0 * s.std);
    fputs("</td>", f);
}

/* Distinct parameter vectors of one task's results, in value order. */
static int task_combos(const rep_data *D, const char *task, int **out)
{
    int np = D->n_params, n = 0;
    int *v = NULL;
    for (int i = 0; i < D->n_res; i++) {
        const rep_result *r = &D->res[i];
        if (strcmp(r->task, task))
            continue;
        bool have = false;
        for (int c = 0; c < n && !have; c++)
            have = memcmp(v + c * np, r->pv, (size_t)np * sizeof *v) == 0;
        if (have)
            continue;
        v = realloc(v, (size_t)(n + 1) * (size_t)(np ? np : 1) * sizeof *v);
        if (!v)
            abort();
        memcpy(v + n * np, r->pv, (size_t)np * sizeof *v);
        n++;
    }
    /* insertion sort, lexicographic by value index */
    for (int i = 1; i < n && np; i++)
        for (int j = i; j > 0; j--) {
            int *a = v + (j - 1) * np, *b = v + j * np;
            int c = 0;
            for (int q = 0; q < np && !c; q++)
                c = (a[q] > b[q]) - (a[q] < b[q]);
            if (c <= 0)
                break;
            for (int q = 0; q < np; q++) {
                int t = a[q];
                a[q] = b[q];
                b[q] = t;
            }
        }
    *out = v;
    return n;
}

static int write_table(FILE *f, const rep_data *D, int which, const char *id)
{
    int rows = 0;
    int np = D->n_params;
    fprintf(f, "<table class=\"results\" id=\"%s\">\n<thead><tr><th>task</th>", id);
    for (int q = 0; q < np; q++) {
        fputs("<th>", f);
        esc(f, D->params[q].name);
        fputs("</th>", f);
    }
    for (int m = 0; m < D->n_methods; m++) {
        fputs("<th>", f);
        esc(f, rep_method_label(D->methods[m]));
        fputs("</th>", f);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
    dvec s = {0};
    rstat *cells = malloc((size_t)(D->n_methods ? D->n_methods : 1) * sizeof *cells);
    if (!cells)
        abort();
    for (int t = 0; t < D->n_tasks; t++) {
        int *combos;
        int nc = task_combos(D, D->tasks[t], &combos);
        for (int c = 0; c < nc; c++) {
            const int *pv = combos + c * np;
            double best = -INFINITY;
            for (int m = 0; m < D->n_methods; m++) {
                s.n = 0;
                for (int i = 0; i < D->n_res; i++) {
                    const rep_result *r = &D->res[i];
                    if (strcmp(r->task, D->tasks[t]) || strcmp(r->method, D->methods[m]) ||
                        (np && memcmp(r->pv, pv, (size_t)np * sizeof *pv)))
                        continue;
                    dvec_push(&s, which == 0 ? r->final_acc : r->best_acc);
                }
                cells[m] = stats_of(s.v, s.n);
                if (cells[m].n && cells[m].mean > best)
                    best = cells[m].mean;
            }
            fputs("<tr class=\"row\"><td>", f);
            esc(f, D->tasks[t]);
            fputs("</td>", f);
            for (int q = 0; q < np; q++) {
                fputs(D->params[q].numeric ? "<td class=\"num\">" : "<td>", f);
                esc(f, pv[q] >= 0 ? D->params[q].values[pv[q]] : "\xE2\x80\x93");
                fputs("</td>", f);
            }
            for (int m = 0; m < D->n_methods; m++)
                write_cell(f, cells[m], cells[m].n && cells[m].mean == best && D->n_methods > 1);
            fputs("</tr>\n", f);
            rows++;
        }
        free(combos);
    }
    free(cells);
    free(s.v);
    fputs("</tbody>\n</table>\n", f);
    return rows;
}

static void write_figures(FILE *f, const rep_report *R, rep_section sec)
{
    for (int i = 0; i < R->n_figs; i++) {
        const rep_figure *g = &R->figs[i];
        if (g->section != sec)
            continue;
        fprintf(f, "<figure id=\"fig-%s\" data-file=\"%s\">\n", g->plot->id, g->file);
        rep_plot_write_svg(g->plot, f);
        fputs("<figcaption>", f);
        esc(f, g->caption);
        fprintf(f, " <span class=\"file\">(%s)</span></figcaption>\n</figure>\n", g->file);
    }
}

static void meta_row(FILE *f, const char *k, const char *v)
{
    fputs("<tr><th>", f);
    esc(f, k);
    fputs("</th><td>", f);
    esc(f, v);
    fputs("</td></tr>\n", f);
}

static void dev_param_cb(const char *name, double value, int is_bool, void *ud)
{
    FILE *f = ud;
    fputs("<tr><td>", f);
    esc(f, name);
    if (is_bool)
        fprintf(f, "</td><td class=\"num\">%s</td></tr>\n", value != 0 ? "true" : "false");
    else
        fprintf(f, "</td><td class=\"num\">%.7g</td></tr>\n", value);
}

static int count_sec(const rep_report *R, rep_section s)
{
    int n = 0;
    for (int i = 0; i < R->n_figs; i++)
        n += R->figs[i].section == s;
    return n;
}

int rep_report_write_html(const rep_report *R, const rep_data *D, const rep_options *o, FILE *f)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n", f);
    fprintf(f, "<meta name=\"generator\" content=\"atlc %s report\"/>\n<title>",
            o->version ? o->version : "");
    esc(f, R->title);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", css);
    esc(f, R->title);
    fputs("</h1>\n<table class=\"meta\">\n", f);
    if (D->name)
        meta_row(f, "experiment", D->name);
    meta_row(f, "source", D->source);
    if (D->results_from)
        meta_row(f, "results from", D->results_from);
    if (D->curves_from)
        meta_row(f, "training curves from", D->curves_from);
    char *s = xprintf("%d", D->n_res);
    meta_row(f, "results", s);
    free(s);
    s = NULL;
    for (int i = 0; i < D->n_seeds; i++)
        append(&s, "%s%lld", s ? ", " : "", D->seeds[i]);
    meta_row(f, "seeds", s ? s : "\xE2\x80\x93");
    free(s);
    s = NULL;
    for (int i = 0; i < D->n_tasks; i++)
        append(&s, "%s%s", s ? ", " : "", D->tasks[i]);
    meta_row(f, "tasks", s ? s : "\xE2\x80\x93");
    free(s);
    s = NULL;
    for (int i = 0; i < D->n_methods; i++)
        append(&s, "%s%s", s ? ", " : "", D->methods[i]);
    meta_row(f, "methods", s ? s : "\xE2\x80\x93");
    free(s);
    for (int q = 0; q < D->n_params; q++) {
        s = NULL;
        for (int k = 0; k < D->params[q].n_values; k++)
            append(&s, "%s%s", s ? ", " : "", D->params[q].values[k]);
        char *k = xprintf("swept: %s", D->params[q].name);
        meta_row(f, k, s ? s : "");
        free(k);
        free(s);
    }
    fputs("</table>\n<nav><a href=\"#results\">Results</a>", f);
    if (count_sec(R, REP_SEC_SWEEP))
        fputs("<a href=\"#sweeps\">Test error vs swept parameters</a>", f);
    if (count_sec(R, REP_SEC_CURVES))
        fputs("<a href=\"#curves\">Training curves</a>", f);
    fputs("<a href=\"#device\">Device response</a></nav>\n", f);

    fputs("<section id=\"results\">\n<h2>Results</h2>\n", f);
    if (D->n_res == 0) {
        fputs("<p class=\"note\">No finished fine-tuning runs yet (no result files).</p>\n", f);
    } else {
        fputs("<p class=\"note\">Test accuracy in percent, mean \xC2\xB1 sample standard "
              "deviation over seeds (hover a cell for the number of seeds); the best method of "
              "each row in bold.</p>\n<h3>Final test accuracy (%)</h3>\n", f);
        write_table(f, D, 0, "table-final");
        fputs("<h3>Best test accuracy over the epochs (%)</h3>\n", f);
        write_table(f, D, 1, "table-best");
    }
    fputs("</section>\n", f);
    if (count_sec(R, REP_SEC_SWEEP)) {
        fputs("<section id=\"sweeps\">\n<h2>Test error vs swept parameters</h2>\n", f);
        write_figures(f, R, REP_SEC_SWEEP);
        fputs("</section>\n", f);
    }
    if (count_sec(R, REP_SEC_CURVES)) {
        fputs("<section id=\"curves\">\n<h2>Training curves</h2>\n", f);
        if (D->curves_from) {
            fputs("<p class=\"note\">From ", f);
            esc(f, D->curves_from);
            fputs(".</p>\n", f);
        }
        write_figures(f, R, REP_SEC_CURVES);
        fputs("</section>\n", f);
    }
    fputs("<section id=\"device\">\n<h2>Device response</h2>\n", f);
    write_figures(f, R, REP_SEC_DEVICE);
    for (int i = 0; i < D->n_devices; i++) {
        fputs("<details><summary>parameters of ", f);
        esc(f, D->devices[i].name);
        fputs("</summary>\n<table class=\"device-params\">\n", f);
        atl_dev_params_foreach(&D->devices[i].params, dev_param_cb, f);
        fputs("</table>\n</details>\n", f);
    }
    fputs("</section>\n", f);
    fprintf(f, "<footer>written by atlc %s report</footer>\n</body>\n</html>\n",
            o->version ? o->version : "");
    return ferror(f) ? -1 : 0;
}
