/* Device arrays: device-to-device sampling at construction (§2.2 and the model-specific loops of
 * §2.4, §2.5, §2.7, §2.8), setting weights (§2.3), resets, decay and diffusion (§2.9).
 *
 * Draw structure. The reference draws from one sequential construction stream, j (input) outer
 * and i (output) inner: 4 normals (b_max, b_min, gain, r), 1 uniform (corruption test), 1 more
 * uniform if corrupted, 2 normals (diffusion, reset), 1 normal if lifetime > 0; then a second
 * loop with the model-specific normals. atl keeps exactly these draws but gives every device
 * fixed slots in three counter-based streams (so construction is order-free):
 *   normals  n[0..7] = elements 8e..8e+7 of stream derive(c, 1)   (b_max, b_min, gain, r,
 *                                                                   diffusion, reset, lifetime)
 *   uniforms u[0..3] = elements 4e..4e+3 of stream derive(c, 2)   (corruption test, value)
 *   normals  m[0..3] = elements 4e..4e+3 of stream derive(c, 3)   (model-specific loop)
 * with e = j*d_size + i and c the construction stream of the array. */
#include "analog_internal.h"

#include <math.h>
#include <string.h>

size_t an_dev_elems(const an_dev *dv) { return (size_t)dv->d_size * (size_t)dv->x_size; }

void an_dev_free(an_dev *dv)
{
    if (!dv)
        return;
    if (dv->wa != dv->w)
        an_free(dv->wa);
    an_free(dv->w);
    an_free(dv->cst);
    an_free(dv->reset_bias);
    an_free(dv->decay_scale);
    an_free(dv->diffusion_rate);
    an_free(dv->pg_up);
    an_free(dv->pg_dn);
    memset(dv, 0, sizeof *dv);
}

/* LinearStep slopes (reference form: up w += slope_up*w + s_up, down w -= slope_dn*w + s_down).
 * SoftBounds is LinearStep with gamma = 1, no dtod, per-device bound reference (§2.4). */
static void linear_slopes(const atl_dev_params *p, float b_min, float b_max, float s_up,
                          float s_down, float m0, float m1, float *slope_up, float *slope_dn)
{
    int sb = p->type == ATL_DEV_SOFT_BOUNDS;
    float g_up = sb ? 1.0f : p->gamma_up + p->gamma_up_dtod * m0;
    float g_dn = sb ? 1.0f : p->gamma_down + p->gamma_down_dtod * m1;
    int allow_inc = sb ? 0 : p->allow_increasing;
    int mbr = sb ? 0 : p->mean_bound_reference;
    if (!allow_inc) {
        g_up = fabsf(g_up);
        g_dn = fabsf(g_dn);
    }
    float ref_up, ref_dn;
    if (mbr) {
        ref_up = p->reverse_up ? p->w_min - p->reverse_offset : p->w_max;
        ref_dn = p->reverse_down ? p->w_max + p->reverse_offset : p->w_min;
    } else {
        ref_up = p->reverse_up ? b_min - p->reverse_offset : b_max;
        ref_dn = p->reverse_down ? b_max + p->reverse_offset : b_min;
    }
    *slope_up = ref_up != 0.0f ? -g_up * s_up / ref_up : 0.0f;
    *slope_dn = ref_dn != 0.0f ? -g_dn * s_down / ref_dn : 0.0f;
}

int an_dev_init(an_dev *dv, const atl_dev_params *pin, int d_size, int x_size, uint64_t seed,
                uint64_t tile_stream, int slot, char *err, size_t err_len)
{
    memset(dv, 0, sizeof *dv);
    if (atl_dev_params_validate(pin, err, err_len) != 0)
        return -1;
    if (d_size <= 0 || x_size <= 0)
        return an_fail(err, err_len, "device array needs positive sizes (got %d x %d)", d_size,
                       x_size);
    const atl_dev_params *p = &dv->p;
    dv->p = *pin;
    dv->d_size = d_size;
    dv->x_size = x_size;
    size_t n = (size_t)d_size * (size_t)x_size;
    dv->granularity = (float)atl_dev_granularity(p);
    dv->wn_sigma = (an_dev_type_has_write_noise(p->type) && p->write_noise_std > 0)
                       ? p->write_noise_std * p->dw_min
                       : 0.0f;
    dv->nchk = (x_size + 7) / 8;
    dv->cst = an_alloc(an_cst_size(dv) * sizeof(float));
    int cfail = !dv->cst;
    dv->w = an_alloc(n * sizeof(float));
    dv->wa = dv->wn_sigma > 0 ? an_alloc(n * sizeof(float)) : dv->w;
    dv->reset_bias = an_alloc(n * sizeof(float));
    dv->decay_scale = an_alloc(n * sizeof(float));
    dv->diffusion_rate = an_alloc(n * sizeof(float));
    if (p->type == ATL_DEV_POW_STEP) {
        dv->pg_up = an_alloc(n * sizeof(float));
        dv->pg_dn = an_alloc(n * sizeof(float));
    }
    if (cfail || !dv->w || !dv->wa || !dv->reset_bias || !dv->decay_scale ||
        !dv->diffusion_rate || (p->type == ATL_DEV_POW_STEP && (!dv->pg_up || !dv->pg_dn))) {
        an_dev_free(dv);
        return an_fail(err, err_len, "out of memory for a %d x %d device array", d_size, x_size);
    }

    uint64_t key = p->construction_seed ? p->construction_seed : seed;
    uint64_t base = p->construction_seed ? 0 : tile_stream;
    uint64_t cs = an_stream(base, AN_TAG_CONSTRUCT + (uint64_t)slot, 0);
    uint64_t sN = atl_rng_derive_stream(cs, 1), sU = atl_rng_derive_stream(cs, 2),
             sM = atl_rng_derive_stream(cs, 3);

    float *nb = an_alloc((size_t)d_size * 8 * sizeof(float));
    float *ub = an_alloc((size_t)d_size * 4 * sizeof(float));
    float *mb = an_alloc((size_t)d_size * 4 * sizeof(float));
    if (!nb || !ub || !mb) {
        an_free(nb);
        an_free(ub);
        an_free(mb);
        an_dev_free(dv);
        return an_fail(err, err_len, "out of memory");
    }

    const float up_bias = p->up_down > 0 ? 0.0f : p->up_down;
    const float down_bias = p->up_down > 0 ? -p->up_down : 0.0f;
    const float pg_up_bias = p->pow_up_down > 0 ? 0.0f : p->pow_up_down;
    const float pg_down_bias = p->pow_up_down > 0 ? -p->pow_up_down : 0.0f;
    const float range = fabsf(p->corrupt_devices_range);

    for (int j = 0; j < x_size; j++) {
        uint64_t e0 = (uint64_t)j * (uint64_t)d_size;
        atl_rng_normal_fill_at(key, sN, e0 * 2, (size_t)d_size * 8, nb);
        atl_rng_uniform_fill_at(key, sU, e0, (size_t)d_size * 4, ub);
        atl_rng_normal_fill_at(key, sM, e0, (size_t)d_size * 4, mb);
        for (int i = 0; i < d_size; i++) {
            const float *nn = nb + 8 * i, *uu = ub + 4 * i, *mm = mb + 4 * i;
            size_t k = (size_t)i * (size_t)x_size + (size_t)j;
            /* §2.2 */
            float b_max = p->w_max * (1.0f + p->w_max_dtod * nn[0]);
            float b_min = p->w_min * (1.0f + p->w_min_dtod * nn[1]);
            float gain = p->dw_min_dtod_log_normal ? expf(p->dw_min_dtod * nn[2])
                                                   : 1.0f + p->dw_min_dtod * nn[2];
            float r = p->up_down_dtod * nn[3];
            float s_up = (up_bias + gain + r) * p->dw_min;
            float s_down = (down_bias + gain - r) * p->dw_min;
            if (p->enforce_consistency) {
                s_up = fabsf(s_up);
                s_down = fabsf(s_down);
                if (b_min > b_max) {
                    float tmp = b_min;
                    b_min = b_max;
                    b_max = tmp;
                }
                b_max = fabsf(b_max);
                b_min = -fabsf(b_min);
            } else if (b_min > b_max) {
                b_min = b_max = 0.5f * (b_min + b_max); /* dead device */
            }
            if (p->corrupt_devices_prob > uu[0]) {
                float lo = fmaxf(fminf(b_max, b_min), -range);
                float hi = fminf(fmaxf(b_max, b_min), range);
                float v = lo + (hi - lo) * uu[1];
                b_max = b_min = v;
                s_up = s_down = 0.0f;
            }
            if (p->perfect_bias && j == x_size - 1) {
                s_up = s_down = p->dw_min;
                b_min = 100.0f * p->w_min;
                b_max = 100.0f * p->w_max;
            }
            dv->diffusion_rate[k] = fabsf(p->diffusion * (1.0f + p->diffusion_dtod * nn[4]));
            float reset_bias = p->reset + p->reset_dtod * nn[5];
            float decay = 1.0f;
            if (p->lifetime > 0) {
                float t = p->lifetime * (1.0f + p->lifetime_dtod * nn[6]);
                decay = t > 1.0f ? 1.0f - 1.0f / t : 0.0f;
            }
            dv->decay_scale[k] = decay;

            struct {
                float lo, hi, st_up, st_dn, sl_up, sl_dn, ref;
            } c;
            memset(&c, 0, sizeof c);
            c.st_up = s_up;
            c.st_dn = -s_down;
            switch (p->type) {
            case ATL_DEV_LINEAR_STEP:
            case ATL_DEV_SOFT_BOUNDS: {
                float su, sd;
                linear_slopes(p, b_min, b_max, s_up, s_down, mm[0], mm[1], &su, &sd);
                c.sl_up = su;
                c.sl_dn = -sd;
                break;
            }
            case ATL_DEV_SOFT_BOUNDS_REF: {
                /* §2.5: slope variation realised by moving the bounds */
                if (b_max > 0 && b_min < 0) {
                    float sdn = (s_down / fabsf(b_min)) * fabsf(1.0f + p->slope_down_dtod * mm[0]);
                    float sup = (s_up / b_max) * fabsf(1.0f + p->slope_up_dtod * mm[1]);
                    if (sup > 0)
                        b_max = s_up / sup;
                    if (sdn > 0)
                        b_min = -s_down / sdn;
                }
                float ref = p->reference_mean + p->reference_std * mm[2];
                if (p->subtract_symmetry_point && b_max > 0 && b_min < 0) {
                    float den = s_up / b_max - s_down / b_min;
                    float sp = den != 0.0f ? (s_up - s_down) / den : 0.0f;
                    ref += sp;
                    reset_bias += sp;
                }
                c.ref = ref;
                c.sl_up = b_max > 0 ? -s_up / b_max : 0.0f;
                c.sl_dn = b_min < 0 ? s_down / b_min : 0.0f;
                break;
            }
            case ATL_DEV_POW_STEP: {
                float pgain = 1.0f + p->pow_gamma_dtod * mm[0];
                float pr = p->pow_up_down_dtod * mm[1];
                float gu = (pg_up_bias + pgain + pr) * p->pow_gamma;
                float gd = (pg_down_bias + pgain - pr) * p->pow_gamma;
                if (p->enforce_consistency) {
                    gu = fabsf(gu);
                    gd = fabsf(gd);
                }
                dv->pg_up[k] = gu;
                dv->pg_dn[k] = gd;
                break;
            }
            default:
                break;
            }
            c.lo = b_min;
            c.hi = b_max;
            float *cb = dv->cst + an_cst_index(dv, i, j, 0);
            cb[AN_LO * 8] = c.lo;
            cb[AN_HI * 8] = c.hi;
            cb[AN_STU * 8] = c.st_up;
            cb[AN_STD * 8] = c.st_dn;
            cb[AN_SLU * 8] = c.sl_up;
            cb[AN_SLD * 8] = c.sl_dn;
            cb[AN_REF * 8] = c.ref;
            dv->reset_bias[k] = reset_bias;
        }
    }
    an_free(nb);
    an_free(ub);
    an_free(mb);
    return 0;
}

void an_dev_sync_apparent(an_dev *dv, int clip)
{
    size_t n = an_dev_elems(dv);
    if (clip)
        for (size_t k = 0; k < n; k++)
            dv->w[k] = fminf(fmaxf(dv->w[k], AN_C(dv, k, AN_LO)), AN_C(dv, k, AN_HI));
    if (dv->wa != dv->w)
        memcpy(dv->wa, dv->w, n * sizeof(float));
}

/* Redraws every apparent weight: w_a = w + sigma_w xi (§2.3). */
static void redraw_all(an_dev *dv, uint64_t seed, uint64_t stream)
{
    if (dv->wa == dv->w)
        return;
    size_t n = an_dev_elems(dv);
    atl_rng_normal_fill_at(seed, stream, 0, n, dv->wa);
    const float s = dv->wn_sigma;
    for (size_t k = 0; k < n; k++)
        dv->wa[k] = dv->w[k] + s * dv->wa[k];
}

void an_dev_set_weights(an_dev *dv, const float *W, uint64_t seed, uint64_t stream)
{
    size_t n = an_dev_elems(dv);
    /* onSetWeights: clip in w-space to [b_min, b_max] (the reference's choice also for
     * SoftBoundsReference, §2.5 quirk), then the write noise on the apparent weight. */
    for (size_t k = 0; k < n; k++) {
        float v = W ? W[k] : 0.0f;
        dv->w[k] = fminf(fmaxf(v, AN_C(dv, k, AN_LO)), AN_C(dv, k, AN_HI));
    }
    if (dv->wa != dv->w) {
        if (dv->p.apply_write_noise_on_set)
            redraw_all(dv, seed, stream);
        else
            memcpy(dv->wa, dv->w, n * sizeof(float));
    }
}

void an_dev_reset_col(an_dev *dv, int col, uint64_t seed, uint64_t stream)
{
    /* §2.9 reset: w = reset_bias + reset_std xi, clip. Only the reset column's apparent weights
     * are redrawn (the reference redraws all of them; untouched elements keep their draw). */
    int d = dv->d_size, x = dv->x_size;
    float z[2];
    for (int i = 0; i < d; i++) {
        size_t k = (size_t)i * (size_t)x + (size_t)col;
        atl_rng_normal_fill_at(seed, stream, (uint64_t)i, 2, z);
        float v = dv->reset_bias[k] + dv->p.reset_std * z[0];
        v = fminf(fmaxf(v, AN_C(dv, k, AN_LO)), AN_C(dv, k, AN_HI));
        dv->w[k] = v;
        if (dv->wa != dv->w)
            dv->wa[k] = v + dv->wn_sigma * z[1];
    }
}

/* Decay and diffusion once per mini-batch (§2.9), then all apparent weights are redrawn. */
void an_dev_post_batch(an_dev *dv, uint64_t seed, uint64_t stream)
{
    size_t n = an_dev_elems(dv);
    int changed = 0;
    if (dv->p.lifetime > 0) {
        for (size_t k = 0; k < n; k++) {
            float v = (dv->w[k] - dv->reset_bias[k]) * dv->decay_scale[k] + dv->reset_bias[k];
            dv->w[k] = fminf(fmaxf(v, AN_C(dv, k, AN_LO)), AN_C(dv, k, AN_HI));
        }
        changed = 1;
    }
    if (dv->p.diffusion > 0) {
        float z[256];
        for (size_t k0 = 0; k0 < n; k0 += 256) {
            size_t m = n - k0 < 256 ? n - k0 : 256;
            atl_rng_normal_fill_at(seed, atl_rng_derive_stream(stream, 1), k0 / 4, m, z);
            for (size_t q = 0; q < m; q++) {
                size_t k = k0 + q;
                float v = dv->w[k] + dv->diffusion_rate[k] * z[q];
                dv->w[k] = fminf(fmaxf(v, AN_C(dv, k, AN_LO)), AN_C(dv, k, AN_HI));
            }
        }
        changed = 1;
    }
    if (changed) {
        if (dv->wa != dv->w)
            redraw_all(dv, seed, atl_rng_derive_stream(stream, 2));
    }
}
