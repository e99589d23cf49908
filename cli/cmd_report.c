/* atlc report: one self-contained HTML page (inline SVG plots, no scripts) from a run directory,
 * a sweep directory or a results CSV: results tables, test error against each swept parameter,
 * training curves and the device response (docs/EXPERIMENTS.md, "Reports"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "report/data.h"
#include "report/report.h"

#ifndef ATL_VERSION
#define ATL_VERSION "0.0.0"
#endif

static const char *report_help =
    "usage: atlc report RUNDIR_OR_CSV [-o report.html] [--svg DIR] [--title TEXT]\n"
    "                   [--devices N] [--seed S]\n"
    "\n"
    "Writes one self-contained HTML page (inline SVG plots, no scripts, no external files):\n"
    "  - tables of final and best test accuracy per task and method (mean +- std over seeds);\n"
    "  - test error (1 - final accuracy) against each swept parameter, one line per task and\n"
    "    method with error bars (mean +- std over seeds);\n"
    "  - training curves of every phase (test accuracy and train loss per epoch);\n"
    "  - the pulse response of the experiment's analog device (experiment.json, else\n"
    "    reram_hfo2).\n"
    "\n"
    "RUNDIR_OR_CSV  a run directory of 'atlc run', a sweep directory of 'atlc sweep', or a\n"
    "               results CSV (experiment.json and curves are read from its directory)\n"
    "-o FILE        the page (default: report.html in the run directory or next to the CSV;\n"
    "               '-' for standard output)\n"
    "--svg DIR      also write every plot as DIR/NAME.svg (sweep-PARAM.svg,\n"
    "               curves-PHASE-acc.svg, curves-PHASE-loss.svg, device-PRESET.svg)\n"
    "--title TEXT   the page title (default: 'atl report: EXPERIMENT')\n"
    "--devices N    devices in the device response (default 100)\n"
    "--seed S       seed of the device response (default 1)\n";

static char *default_output(const char *in)
{
    struct stat st;
    const char *dir = in;
    char *tmp = NULL;
    if (stat(in, &st) == 0 && !S_ISDIR(st.st_mode)) {
        tmp = strdup(in);
        if (!tmp)
            abort();
        char *slash = strrchr(tmp, '/');
        if (slash)
            *slash = '\0';
        dir = slash ? tmp : ".";
    }
    size_t n = strlen(dir) + 16;
    char *out = malloc(n);
    if (!out)
        abort();
    snprintf(out, n, "%s/report.html", dir);
    free(tmp);
    return out;
}

int cmd_report(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, argc, argv, "report");
    const char *input = NULL, *out = NULL, *svg_dir = NULL, *title = NULL;
    long long devices = 100, seed = 1;
    while (cli_next(&a)) {
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) {
            fputs(report_help, stdout);
            return ATL_EXIT_OK;
        } else if (cli_is(&a, "-o") || cli_is(&a, "--output")) {
            if (!(out = cli_value(&a)))
                return ATL_EXIT_USAGE;
        } else if (cli_is(&a, "--svg")) {
            if (!(svg_dir = cli_value(&a)))
                return ATL_EXIT_USAGE;
        } else if (cli_is(&a, "--title")) {
            if (!(title = cli_value(&a)))
                return ATL_EXIT_USAGE;
        } else if (cli_is(&a, "--devices")) {
            if (!cli_int(&a, 1, 100000, &devices))
                return ATL_EXIT_USAGE;
        } else if (cli_is(&a, "--seed")) {
            if (!cli_int(&a, 0, INT64_MAX, &seed))
                return ATL_EXIT_USAGE;
        } else if (cli_positional(&a) && !input) {
            input = a.cur;
        } else {
            return cli_unknown(&a);
        }
    }
    if (a.error)
        return ATL_EXIT_USAGE;
    if (!input) {
        cli_usage_error("report", "needs a run directory or a results CSV");
        return ATL_EXIT_USAGE;
    }

    atl_diag d;
    atl_diag_init(&d, stderr);
    rep_data data;
    rep_report rep;
    int rc = ATL_EXIT_USER;
    bool have_rep = false, have_data = false;
    char *out_owned = NULL;
    cli_out html = {0};
    cli_out *svgs = NULL;
    int n_svgs = 0;
    if (rep_data_load(input, &d, &data))
        goto done;
    have_data = true;
    rep_options o = {.title = title, .version = ATL_VERSION, .device_count = (int)devices,
                     .device_seed = (uint64_t)seed};
    if (rep_report_build(&data, &o, &rep, &d))
        goto done;
    have_rep = true;
    if (!out)
        out = out_owned = default_output(input);
    if (svg_dir && mkdir(svg_dir, 0755) != 0 && errno != EEXIST) {
        atl_diag_error(&d, ATL_NO_SPAN, "cannot create '%s': %s", svg_dir, strerror(errno));
        goto done;
    }
    /* every file goes to a temporary first; nothing is renamed into place unless all were
     * written */
    if (!cli_out_open(&html, out, &d))
        goto done;
    if (rep_report_write_html(&rep, &data, &o, html.f)) {
        atl_diag_error(&d, ATL_NO_SPAN, "cannot write '%s'", out);
        cli_out_abort(&html);
        goto done;
    }
    if (svg_dir) {
        svgs = calloc((size_t)(rep.n_figs ? rep.n_figs : 1), sizeof *svgs);
        if (!svgs)
            abort();
        for (int i = 0; i < rep.n_figs; i++) {
            size_t n = strlen(svg_dir) + strlen(rep.figs[i].file) + 2;
            char *path = malloc(n);
            if (!path)
                abort();
            snprintf(path, n, "%s/%s", svg_dir, rep.figs[i].file);
            bool ok = cli_out_open(&svgs[i], path, &d);
            if (ok) {
                n_svgs = i + 1;
                fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", svgs[i].f);
                if (rep_plot_write_svg(rep.figs[i].plot, svgs[i].f)) {
                    atl_diag_error(&d, ATL_NO_SPAN, "cannot write '%s'", path);
                    ok = false;
                }
            }
            free(path);
            if (!ok) {
                for (int k = 0; k < n_svgs; k++)
                    cli_out_abort(&svgs[k]);
                cli_out_abort(&html);
                goto done;
            }
        }
    }
    bool ok = cli_out_commit(&html, &d);
    for (int i = 0; i < n_svgs; i++) {
        if (ok)
            ok = cli_out_commit(&svgs[i], &d);
        else
            cli_out_abort(&svgs[i]);
    }
    if (!ok)
        goto done;
    if (strcmp(out, "-") != 0) {
        printf("atlc report: %d plots, %d results -> %s", rep.n_figs, data.n_res, out);
        if (svg_dir)
            printf(" (SVG files in %s)", svg_dir);
        putchar('\n');
    }
    rc = ATL_EXIT_OK;
done:
    free(svgs);
    free(out_owned);
    if (have_rep)
        rep_report_free(&rep);
    if (have_data)
        rep_data_free(&data);
    atl_diag_fini(&d);
    return rc;
}
