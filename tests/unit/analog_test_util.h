/* Helpers shared by the analog runtime tests (device-level access through the internal header). */
#ifndef ATL_ANALOG_TEST_UTIL_H
#define ATL_ANALOG_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/analog/analog_internal.h"

/* Mean and (population) standard deviation of n values. */
static inline void at_stats(const float *v, size_t n, double *mean, double *std)
{
    double s = 0, s2 = 0;
    for (size_t k = 0; k < n; k++)
        s += v[k];
    double m = s / (double)n;
    for (size_t k = 0; k < n; k++)
        s2 += ((double)v[k] - m) * ((double)v[k] - m);
    *mean = m;
    *std = sqrt(s2 / (double)n);
}

/* One deterministic pulse on every element of dv (up: dir > 0): BL 1, no management, lr = g
 * gives probability 1 on both sides. `counter` keys the noise draws. */
static inline void at_pulse_all(an_dev *dv, an_work *wk, int dir, uint64_t counter)
{
    atl_update_params up = atl_update_defaults();
    up.desired_bl = 1;
    up.update_bl_management = 0;
    up.update_management = 0;
    float *x = malloc((size_t)dv->x_size * sizeof(float));
    float *d = malloc((size_t)dv->d_size * sizeof(float));
    for (int j = 0; j < dv->x_size; j++)
        x[j] = 1.0f;
    for (int i = 0; i < dv->d_size; i++)
        d[i] = dir > 0 ? -1.0f : 1.0f; /* sign(x) sign(d) < 0: up pulse (§0.2) */
    an_pulse_rng r = {12345, an_stream(99, AN_TAG_UPD_BX, counter),
                      an_stream(99, AN_TAG_UPD_BD, counter), an_stream(99, AN_TAG_UPD_PULSE, counter),
                      an_stream(99, AN_TAG_UPD_STO, counter)};
    uint64_t nu = 0, nd = 0;
    an_pulsed_update(dv, x, d, dv->granularity, dv->granularity, &up, &r, wk, 1, &nu, &nd);
    free(x);
    free(d);
}

#endif
