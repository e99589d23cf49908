/* Pulse-response curves of a device model (for `atlc device response`): N devices of the model
 * (device-to-device variation as in a 1 x N tile), set to w = 0 through the normal set path, then
 * n_up up pulses followed by n_down down pulses, one pulse per device at a time. Per pulse the
 * mean, standard deviation, minimum and maximum over the devices are recorded for the apparent
 * weight (cycle-to-cycle and write noise included) and for the noise-free weight: the same devices
 * (identical device-to-device draws) pulsed with dw_min_std = 0 and write_noise_std = 0. */
#include "analog_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void atl_dev_response_free(atl_dev_response *r)
{
    if (!r)
        return;
    free(r->mean);
    free(r->std);
    free(r->min);
    free(r->max);
    free(r->mean_nf);
    free(r->std_nf);
    free(r->min_nf);
    free(r->max_nf);
    memset(r, 0, sizeof *r);
}

static void row_stats(const float *v, int n, double *mean, double *std, double *mn, double *mx)
{
    double s = 0, lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < n; k++) {
        s += v[k];
        lo = fmin(lo, v[k]);
        hi = fmax(hi, v[k]);
    }
    double m = s / n, s2 = 0;
    for (int k = 0; k < n; k++)
        s2 += ((double)v[k] - m) * ((double)v[k] - m);
    *mean = m;
    *std = sqrt(s2 / n);
    *mn = lo;
    *mx = hi;
}

int atl_dev_response_compute(const atl_dev_params *p, int n_devices, int n_up, int n_down,
                             uint64_t seed, atl_dev_response *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    if (n_devices <= 0 || n_up < 0 || n_down < 0 || n_up + n_down <= 0)
        return an_fail(err, err_len, "device response needs devices > 0 and up + down > 0");
    if ((size_t)n_devices > (size_t)1 << 24 || n_up + n_down > 1000000)
        return an_fail(err, err_len, "device response: too many devices or pulses");
    atl_dev_params q = *p;
    q.dw_min_std = 0.0f;
    q.write_noise_std = 0.0f;
    const uint64_t stream = 0x5e5ull;
    an_dev dv, nf;
    char sub[200];
    if (an_dev_init(&dv, p, 1, n_devices, seed, stream, 0, sub, sizeof sub) != 0)
        return an_fail(err, err_len, "device response: %s", sub);
    if (an_dev_init(&nf, &q, 1, n_devices, seed, stream, 0, sub, sizeof sub) != 0) {
        an_dev_free(&dv);
        return an_fail(err, err_len, "device response: %s", sub);
    }
    an_work wk;
    const int rows = n_up + n_down + 1;
    float *x = malloc((size_t)n_devices * sizeof(float));
    out->n_devices = n_devices;
    out->n_up = n_up;
    out->n_down = n_down;
    out->n_pulses = n_up + n_down;
    double **cols[8] = {&out->mean, &out->std, &out->min, &out->max,
                        &out->mean_nf, &out->std_nf, &out->min_nf, &out->max_nf};
    int oom = !x || an_work_init(&wk, n_devices, 1, 1) != 0;
    for (int c = 0; c < 8 && !oom; c++)
        oom = !(*cols[c] = calloc((size_t)rows, sizeof(double)));
    if (oom) {
        free(x);
        an_work_free(&wk);
        an_dev_free(&dv);
        an_dev_free(&nf);
        atl_dev_response_free(out);
        return an_fail(err, err_len, "out of memory");
    }
    for (int j = 0; j < n_devices; j++)
        x[j] = 1.0f;
    an_dev_set_weights(&dv, NULL, seed, an_stream(stream, AN_TAG_SET, 0));
    an_dev_set_weights(&nf, NULL, seed, an_stream(stream, AN_TAG_SET, 0));
    /* one pulse per device: BL 1 and probability 1 on both sides (lr = granularity, no UM) */
    atl_update_params up = atl_update_defaults();
    up.desired_bl = 1;
    up.update_bl_management = 0;
    up.update_management = 0;
    for (int r = 0; r < rows; r++) {
        if (r > 0) {
            float d = r <= n_up ? -1.0f : 1.0f; /* sign(x) sign(d) < 0: up pulse (§0.2) */
            uint64_t c = (uint64_t)r;
            an_pulse_rng pr = {seed, an_stream(stream, AN_TAG_UPD_BX, c),
                               an_stream(stream, AN_TAG_UPD_BD, c),
                               an_stream(stream, AN_TAG_UPD_PULSE, c),
                               an_stream(stream, AN_TAG_UPD_STO, c)};
            uint64_t nu = 0, nd = 0;
            an_pulsed_update(&dv, x, &d, dv.granularity, dv.granularity, &up, &pr, &wk, 1, &nu,
                             &nd);
            an_pulsed_update(&nf, x, &d, nf.granularity, nf.granularity, &up, &pr, &wk, 1, &nu,
                             &nd);
        }
        row_stats(dv.wa, n_devices, &out->mean[r], &out->std[r], &out->min[r], &out->max[r]);
        row_stats(nf.w, n_devices, &out->mean_nf[r], &out->std_nf[r], &out->min_nf[r],
                  &out->max_nf[r]);
    }
    free(x);
    an_work_free(&wk);
    an_dev_free(&dv);
    an_dev_free(&nf);
    return 0;
}

int atl_dev_response_write_csv(const atl_dev_response *r, FILE *f)
{
    if (fprintf(f, "pulse,direction,mean,std,min,max,mean_nf,std_nf,min_nf,max_nf\n") < 0)
        return -1;
    for (int p = 0; p <= r->n_pulses; p++) {
        const char *dir = p == 0 ? "start" : (p <= r->n_up ? "up" : "down");
        if (fprintf(f, "%d,%s,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n", p, dir, r->mean[p],
                    r->std[p], r->min[p], r->max[p], r->mean_nf[p], r->std_nf[p], r->min_nf[p],
                    r->max_nf[p]) < 0)
            return -1;
    }
    return ferror(f) ? -1 : 0;
}

static void xml_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

int atl_dev_response_write_svg(const atl_dev_response *r, const char *title, FILE *f)
{
    const double W = 800, H = 480, L = 70, R = 20, T = 50, B = 60;
    const int n = r->n_pulses;
    double lo = INFINITY, hi = -INFINITY;
    for (int p = 0; p <= n; p++) {
        lo = fmin(lo, fmin(r->min[p], r->min_nf[p]));
        hi = fmax(hi, fmax(r->max[p], r->max_nf[p]));
    }
    if (!(hi > lo)) {
        hi = lo + 1;
        lo -= 1;
    }
    double pad = 0.05 * (hi - lo);
    lo -= pad;
    hi += pad;
#define PX(p) (L + (W - L - R) * (double)(p) / (double)(n > 0 ? n : 1))
#define PY(v) (T + (H - T - B) * (1.0 - ((v) - lo) / (hi - lo)))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.1f\" y=\"28\" font-size=\"16\" text-anchor=\"middle\">", W / 2);
    xml_text(f, title ? title : "pulse response");
    fprintf(f, "</text>\n");
    /* axes, ticks and grid */
    fprintf(f, "<g stroke=\"#888\" stroke-width=\"1\">\n");
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L, H - B, W - R, H - B);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L, T, L, H - B);
    fprintf(f, "</g>\n");
    for (int k = 0; k <= 5; k++) {
        double v = lo + (hi - lo) * k / 5.0, y = PY(v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", L,
                y, W - R, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 6, y + 4,
                v);
        int p = (int)llround((double)n * k / 5.0);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", PX(p),
                H - B + 18, p);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">pulse number (%d up, %d down, "
               "%d devices)</text>\n",
            (L + W - R) / 2, H - 15, r->n_up, r->n_down, r->n_devices);
    fprintf(f, "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 18 %.1f)\">"
               "weight</text>\n",
            (T + H - B) / 2, (T + H - B) / 2);
    /* min/max bands */
    const double *bmin[2] = {r->min, r->min_nf}, *bmax[2] = {r->max, r->max_nf};
    const double *mean[2] = {r->mean, r->mean_nf};
    const char *col[2] = {"#1f77b4", "#d62728"};
    for (int s = 0; s < 2; s++) {
        fprintf(f, "<polygon fill=\"%s\" fill-opacity=\"0.15\" stroke=\"none\" points=\"", col[s]);
        for (int p = 0; p <= n; p++)
            fprintf(f, "%.1f,%.1f ", PX(p), PY(bmax[s][p]));
        for (int p = n; p >= 0; p--)
            fprintf(f, "%.1f,%.1f ", PX(p), PY(bmin[s][p]));
        fprintf(f, "\"/>\n");
    }
    for (int s = 0; s < 2; s++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", col[s],
                s ? " stroke-dasharray=\"6 3\"" : "");
        for (int p = 0; p <= n; p++)
            fprintf(f, "%.1f,%.1f ", PX(p), PY(mean[s][p]));
        fprintf(f, "\"/>\n");
    }
    /* legend */
    fprintf(f, "<g font-size=\"12\">\n");
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
               "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">mean apparent weight "
               "(band: min..max)</text>\n",
            L + 10, T + 10, L + 40, T + 10, col[0], L + 46, T + 14);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
               "stroke-width=\"2\" stroke-dasharray=\"6 3\"/><text x=\"%.1f\" y=\"%.1f\">mean "
               "noise-free weight (band: min..max)</text>\n",
            L + 10, T + 28, L + 40, T + 28, col[1], L + 46, T + 32);
    fprintf(f, "</g>\n</svg>\n");
#undef PX
#undef PY
    return ferror(f) ? -1 : 0;
}
