/* Device parameters: defaults per model, names (decision 7), validation, granularity and number
 * of states (§2.1, §2.8), presets (§3.1 and the reference toolkit's presets/devices.py). */
#include "analog_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int an_fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void *an_alloc(size_t n)
{
    if (n == 0)
        n = 64;
    size_t sz = (n + 63u) & ~(size_t)63u;
    void *p = aligned_alloc(64, sz);
    if (p)
        memset(p, 0, sz);
    return p;
}

void an_free(void *p) { free(p); }

uint64_t an_stream(uint64_t tile_stream, uint64_t tag, uint64_t counter)
{
    return atl_rng_derive_stream(atl_rng_derive_stream(tile_stream, tag), counter);
}

/* ------------------------------------------------------------------------------- type names */
static const char *const type_names[ATL_DEV_TYPE_COUNT] = {
    [ATL_DEV_CONSTANT_STEP] = "constant_step",
    [ATL_DEV_LINEAR_STEP] = "linear_step",
    [ATL_DEV_SOFT_BOUNDS] = "soft_bounds",
    [ATL_DEV_SOFT_BOUNDS_REF] = "soft_bounds_reference",
    [ATL_DEV_EXP_STEP] = "exp_step",
    [ATL_DEV_POW_STEP] = "pow_step",
};

const char *atl_dev_type_name(atl_dev_type type)
{
    return ((unsigned)type < ATL_DEV_TYPE_COUNT) ? type_names[type] : "?";
}

int atl_dev_type_from_name(const char *name, atl_dev_type *out)
{
    for (int i = 0; i < ATL_DEV_TYPE_COUNT; i++)
        if (strcmp(name, type_names[i]) == 0) {
            *out = (atl_dev_type)i;
            return 0;
        }
    return -1;
}

int an_dev_type_has_write_noise(atl_dev_type t) { return t != ATL_DEV_CONSTANT_STEP; }

/* ------------------------------------------------------------------------------- defaults */
atl_dev_params atl_dev_defaults(atl_dev_type type)
{
    atl_dev_params p;
    memset(&p, 0, sizeof p);
    p.type = type;
    /* PulsedDevice Python defaults (§2.1; Python wins over C++, §0.3) */
    p.corrupt_devices_prob = 0.0f;
    p.corrupt_devices_range = 0.1f;
    p.dw_min = 0.001f;
    p.dw_min_dtod = 0.3f;
    p.dw_min_std = 0.3f;
    p.enforce_consistency = 1;
    p.reset_std = 0.01f;
    p.up_down_dtod = 0.01f;
    p.w_max = 0.6f;
    p.w_max_dtod = 0.3f;
    p.w_min = -0.6f;
    p.w_min_dtod = 0.3f;
    p.apply_write_noise_on_set = 1;
    p.reverse_offset = 0.01f;
    switch (type) {
    case ATL_DEV_LINEAR_STEP:
        p.gamma_up = 0.0f;
        p.gamma_down = 0.0f;
        p.gamma_up_dtod = 0.05f;
        p.gamma_down_dtod = 0.05f;
        p.mean_bound_reference = 1;
        p.mult_noise = 1;
        break;
    case ATL_DEV_SOFT_BOUNDS:
        p.mult_noise = 1;
        break;
    case ATL_DEV_SOFT_BOUNDS_REF:
        p.mult_noise = 0;
        break;
    case ATL_DEV_EXP_STEP:
        p.A_up = 0.00081f;
        p.A_down = 0.36833f;
        p.gamma_up = 12.44625f;
        p.gamma_down = 12.78785f;
        p.a = 0.244f;
        p.b = 0.2425f;
        break;
    case ATL_DEV_POW_STEP:
        p.pow_gamma = 1.0f;
        p.pow_gamma_dtod = 0.1f;
        break;
    default:
        break;
    }
    return p;
}

/* ------------------------------------------------------------------------------- name table */
enum { K_F, K_I, K_B, K_U };

#define INF HUGE_VAL
/* X(name, field, kind, min, max, types) */
#define AN_DEV_PARAMS(X)                                                                         \
    X(construction_seed, construction_seed, K_U, 0, 1.8446744073709552e19, AN_T_ALL)             \
    X(corrupt_devices_prob, corrupt_devices_prob, K_F, 0, 1, AN_T_ALL)                           \
    X(corrupt_devices_range, corrupt_devices_range, K_F, 0, INF, AN_T_ALL)                       \
    X(diffusion, diffusion, K_F, 0, INF, AN_T_ALL)                                               \
    X(diffusion_dtod, diffusion_dtod, K_F, 0, INF, AN_T_ALL)                                     \
    X(dw_min, dw_min, K_F, 1e-12, INF, AN_T_ALL)                                                 \
    X(dw_min_dtod, dw_min_dtod, K_F, 0, INF, AN_T_ALL)                                           \
    X(dw_min_dtod_log_normal, dw_min_dtod_log_normal, K_B, 0, 1, AN_T_ALL)                       \
    X(dw_min_std, dw_min_std, K_F, 0, INF, AN_T_ALL)                                             \
    X(enforce_consistency, enforce_consistency, K_B, 0, 1, AN_T_ALL)                             \
    X(lifetime, lifetime, K_F, 0, INF, AN_T_ALL)                                                 \
    X(lifetime_dtod, lifetime_dtod, K_F, 0, INF, AN_T_ALL)                                       \
    X(perfect_bias, perfect_bias, K_B, 0, 1, AN_T_ALL)                                           \
    X(reset, reset, K_F, -INF, INF, AN_T_ALL)                                                    \
    X(reset_dtod, reset_dtod, K_F, 0, INF, AN_T_ALL)                                             \
    X(reset_std, reset_std, K_F, 0, INF, AN_T_ALL)                                               \
    X(up_down, up_down, K_F, -INF, INF, AN_T_ALL)                                                \
    X(up_down_dtod, up_down_dtod, K_F, 0, INF, AN_T_ALL)                                         \
    X(w_max, w_max, K_F, 0, INF, AN_T_ALL)                                                       \
    X(w_max_dtod, w_max_dtod, K_F, 0, INF, AN_T_ALL)                                             \
    X(w_min, w_min, K_F, -INF, 0, AN_T_ALL)                                                      \
    X(w_min_dtod, w_min_dtod, K_F, 0, INF, AN_T_ALL)                                             \
    X(write_noise_std, write_noise_std, K_F, 0, INF, AN_T_ALL & ~AN_T_CS)                        \
    X(apply_write_noise_on_set, apply_write_noise_on_set, K_B, 0, 1, AN_T_ALL & ~AN_T_CS)        \
    X(mult_noise, mult_noise, K_B, 0, 1, AN_T_LS | AN_T_SB | AN_T_SBR)                           \
    X(gamma_up, gamma_up, K_F, -INF, INF, AN_T_LS | AN_T_ES)                                     \
    X(gamma_down, gamma_down, K_F, -INF, INF, AN_T_LS | AN_T_ES)                                 \
    X(gamma_up_dtod, gamma_up_dtod, K_F, 0, INF, AN_T_LS)                                        \
    X(gamma_down_dtod, gamma_down_dtod, K_F, 0, INF, AN_T_LS)                                    \
    X(allow_increasing, allow_increasing, K_B, 0, 1, AN_T_LS)                                    \
    X(mean_bound_reference, mean_bound_reference, K_B, 0, 1, AN_T_LS)                            \
    X(reverse_up, reverse_up, K_B, 0, 1, AN_T_LS | AN_T_SB)                                      \
    X(reverse_down, reverse_down, K_B, 0, 1, AN_T_LS | AN_T_SB)                                  \
    X(reverse_offset, reverse_offset, K_F, -INF, INF, AN_T_LS | AN_T_SB)                         \
    X(slope_up_dtod, slope_up_dtod, K_F, 0, INF, AN_T_SBR)                                       \
    X(slope_down_dtod, slope_down_dtod, K_F, 0, INF, AN_T_SBR)                                   \
    X(reference_mean, reference_mean, K_F, -INF, INF, AN_T_SBR)                                  \
    X(reference_std, reference_std, K_F, 0, INF, AN_T_SBR)                                       \
    X(subtract_symmetry_point, subtract_symmetry_point, K_B, 0, 1, AN_T_SBR)                     \
    X(A_up, A_up, K_F, -INF, INF, AN_T_ES)                                                       \
    X(A_down, A_down, K_F, -INF, INF, AN_T_ES)                                                   \
    X(a, a, K_F, -INF, INF, AN_T_ES)                                                             \
    X(b, b, K_F, -INF, INF, AN_T_ES)                                                             \
    X(dw_min_std_add, dw_min_std_add, K_F, 0, INF, AN_T_ES)                                      \
    X(dw_min_std_slope, dw_min_std_slope, K_F, 0, INF, AN_T_ES)                                  \
    X(pow_gamma, pow_gamma, K_F, 0, INF, AN_T_PS)                                                \
    X(pow_gamma_dtod, pow_gamma_dtod, K_F, 0, INF, AN_T_PS)                                      \
    X(pow_up_down, pow_up_down, K_F, -INF, INF, AN_T_PS)                                         \
    X(pow_up_down_dtod, pow_up_down_dtod, K_F, 0, INF, AN_T_PS)

typedef struct pdesc {
    const char *name;
    size_t off;
    int kind;
    double lo, hi;
    unsigned types;
} pdesc;

#define AN_PD(nm, field, kind, lo, hi, types)                                                    \
    {#nm, offsetof(atl_dev_params, field), kind, lo, hi, types},
static const pdesc dev_pd[] = {AN_DEV_PARAMS(AN_PD)};
#undef AN_PD
#define N_DEV_PD (sizeof dev_pd / sizeof dev_pd[0])

static double pd_get(const void *base, const pdesc *d)
{
    const char *p = (const char *)base + d->off;
    switch (d->kind) {
    case K_F: return *(const float *)p;
    case K_U: return (double)*(const uint64_t *)p;
    default: return *(const int *)p;
    }
}

/* Shared by the device, update and algorithm name tables. */
static int pd_set(void *base, const pdesc *d, double v, const char *what, char *err,
                  size_t err_len)
{
    if (isnan(v))
        return an_fail(err, err_len, "%s parameter '%s': value is NaN", what, d->name);
    if (v < d->lo || v > d->hi) {
        if (d->kind == K_B)
            return an_fail(err, err_len, "%s parameter '%s' is a boolean (0/1 or true/false)",
                           what, d->name);
        return an_fail(err, err_len, "%s parameter '%s' = %g is out of range [%g, %g]", what,
                       d->name, v, d->lo, d->hi);
    }
    char *p = (char *)base + d->off;
    switch (d->kind) {
    case K_F:
        if (fabs(v) > 3.4e38 && !isinf(v))
            return an_fail(err, err_len, "%s parameter '%s' = %g does not fit a float", what,
                           d->name, v);
        *(float *)p = (float)v;
        break;
    case K_U:
        if (v != floor(v))
            return an_fail(err, err_len, "%s parameter '%s' must be an integer", what, d->name);
        *(uint64_t *)p = (uint64_t)v;
        break;
    case K_B:
        if (v != 0.0 && v != 1.0)
            return an_fail(err, err_len, "%s parameter '%s' is a boolean (0/1 or true/false)",
                           what, d->name);
        *(int *)p = (int)v;
        break;
    default:
        if (v != floor(v))
            return an_fail(err, err_len, "%s parameter '%s' must be an integer", what, d->name);
        *(int *)p = (int)v;
        break;
    }
    return 0;
}

int atl_dev_params_set(atl_dev_params *p, const char *name, double value, char *err,
                       size_t err_len)
{
    if (strcmp(name, "n_states") == 0) {
        if (!(value > 0) || isinf(value))
            return an_fail(err, err_len, "device parameter 'n_states' = %g must be > 0", value);
        double range = (double)p->w_max - (double)p->w_min;
        if (!(range > 0))
            return an_fail(err, err_len, "'n_states' needs w_max > w_min");
        /* n_states = (w_max - w_min)/granularity; the granularity is dw_min except for ExpStep
         * and PowStep, where it scales linearly with dw_min. */
        double g = atl_dev_granularity(p);
        double target = range / value;
        p->dw_min = (float)((double)p->dw_min * target / g);
        return 0;
    }
    for (size_t i = 0; i < N_DEV_PD; i++) {
        if (strcmp(dev_pd[i].name, name) != 0)
            continue;
        if (!(dev_pd[i].types & (1u << p->type)))
            return an_fail(err, err_len, "device parameter '%s' does not apply to %s devices",
                           name, atl_dev_type_name(p->type));
        return pd_set(p, &dev_pd[i], value, "device", err, err_len);
    }
    return an_fail(err, err_len, "unknown device parameter '%s'", name);
}

/* Parses a number or a boolean word. */
static int parse_value(const char *s, double *v)
{
    while (isspace((unsigned char)*s))
        s++;
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "on") == 0) {
        *v = 1;
        return 0;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "off") == 0) {
        *v = 0;
        return 0;
    }
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    if (end == s || errno == ERANGE)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    return *end ? -1 : 0;
}

int atl_dev_params_set_kv(atl_dev_params *p, const char *kv, char *err, size_t err_len)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return an_fail(err, err_len, "expected NAME=VALUE, got '%s'", kv);
    char name[64];
    size_t n = (size_t)(eq - kv);
    if (n >= sizeof name)
        return an_fail(err, err_len, "parameter name too long in '%s'", kv);
    memcpy(name, kv, n);
    name[n] = 0;
    double v;
    if (parse_value(eq + 1, &v) != 0)
        return an_fail(err, err_len, "bad value '%s' for device parameter '%s'", eq + 1, name);
    return atl_dev_params_set(p, name, v, err, err_len);
}

int atl_dev_params_get(const atl_dev_params *p, const char *name, double *value)
{
    if (strcmp(name, "n_states") == 0) {
        *value = atl_dev_n_states(p);
        return 0;
    }
    for (size_t i = 0; i < N_DEV_PD; i++)
        if (strcmp(dev_pd[i].name, name) == 0) {
            if (!(dev_pd[i].types & (1u << p->type)))
                return -1;
            *value = pd_get(p, &dev_pd[i]);
            return 0;
        }
    return -1;
}

void atl_dev_params_foreach(const atl_dev_params *p,
                            void (*cb)(const char *name, double value, int is_bool, void *ud),
                            void *ud)
{
    for (size_t i = 0; i < N_DEV_PD; i++)
        if (dev_pd[i].types & (1u << p->type))
            cb(dev_pd[i].name, pd_get(p, &dev_pd[i]), dev_pd[i].kind == K_B, ud);
    cb("n_states", atl_dev_n_states(p), 0, ud);
}

int atl_dev_params_validate(const atl_dev_params *p, char *err, size_t err_len)
{
    if ((unsigned)p->type >= ATL_DEV_TYPE_COUNT)
        return an_fail(err, err_len, "unknown device type %d", (int)p->type);
    for (size_t i = 0; i < N_DEV_PD; i++) {
        double v = pd_get(p, &dev_pd[i]);
        if (isnan(v) || v < dev_pd[i].lo || v > dev_pd[i].hi)
            return an_fail(err, err_len, "device parameter '%s' = %g is out of range [%g, %g]",
                           dev_pd[i].name, v, dev_pd[i].lo, dev_pd[i].hi);
    }
    /* §2.2: w_min <= 0 <= w_max is required by the populate routine */
    if (p->w_min > 0 || p->w_max < 0)
        return an_fail(err, err_len, "device needs w_min <= 0 <= w_max (got %g, %g)",
                       (double)p->w_min, (double)p->w_max);
    if (p->type == ATL_DEV_CONSTANT_STEP && p->write_noise_std > 0)
        return an_fail(err, err_len, "constant_step devices do not support write noise");
    if ((p->type == ATL_DEV_LINEAR_STEP || p->type == ATL_DEV_SOFT_BOUNDS) &&
        (p->reverse_up || p->reverse_down) && !p->mult_noise)
        return an_fail(err, err_len, "reverse_up/reverse_down need mult_noise");
    return 0;
}

/* ------------------------------------------------------------------------------- granularity */
double atl_dev_granularity(const atl_dev_params *p)
{
    double dw = p->dw_min;
    switch (p->type) {
    case ATL_DEV_EXP_STEP: {
        /* §2.8: the down step at w = 0 without device-to-device variation (the reference
         * averages dw_down with itself, i.e. uses dw_down). */
        double ud = p->up_down;
        double down_bias = ud > 0 ? -ud : 0.0;
        double scale_down = (down_bias + 1.0) * dw;
        double z = p->b; /* z = 2 a w/(w_max - w_min) + b at w = 0 */
        double y = 1.0 - (double)p->A_down * exp((double)p->gamma_down * (-z));
        double g = scale_down * (y > 0 ? y : 0.0);
        return g > 0 ? g : dw;
    }
    case ATL_DEV_POW_STEP:
        return dw * pow(0.5, (double)p->pow_gamma);
    default:
        return dw;
    }
}

double atl_dev_n_states(const atl_dev_params *p)
{
    return ((double)p->w_max - (double)p->w_min) / atl_dev_granularity(p);
}

/* ------------------------------------------------------------------------------- presets */
static void preset_reram_es(atl_dev_params *p)
{
    *p = atl_dev_defaults(ATL_DEV_EXP_STEP);
    p->dw_min = 0.00135f;
    p->up_down = 0.259359f;
    p->w_max = 1.0f;
    p->w_min = -1.0f;
    p->a = -0.5f;
    p->b = -0.5f;
    p->gamma_up = 5.0f;
    p->gamma_down = 5.0f;
    p->A_up = -1.18445f;
    p->A_down = -0.081404f;
    p->dw_min_dtod = 0.2f;
    p->up_down_dtod = 0.05f;
    p->w_max_dtod = 0.3f;
    p->w_min_dtod = 0.3f;
    p->dw_min_std = 5.0f;
    p->write_noise_std = 75.0f;
}

static void preset_reram_sb(atl_dev_params *p)
{
    *p = atl_dev_defaults(ATL_DEV_SOFT_BOUNDS_REF);
    p->dw_min = 0.002f;
    p->up_down = 0.0f;
    p->w_max = 1.25f;
    p->w_min = -0.75f;
    p->mult_noise = 0;
    p->dw_min_dtod = 0.3f;
    p->up_down_dtod = 0.01f;
    p->w_max_dtod = 0.3f / 1.25f;
    p->w_min_dtod = 0.3f / 0.75f;
    p->dw_min_std = 3.75f;
    p->write_noise_std = 56.0f;
}

static void preset_capacitor(atl_dev_params *p)
{
    *p = atl_dev_defaults(ATL_DEV_LINEAR_STEP);
    p->dw_min = 0.005f;
    p->up_down = 0.0f;
    p->w_max = 1.0f;
    p->w_min = -1.0f;
    p->mult_noise = 0;
    p->gamma_up = 0.05f;
    p->gamma_down = 0.05f;
    p->dw_min_dtod = 0.1f;
    p->up_down_dtod = 0.06f;
    p->w_max_dtod = 0.07f;
    p->w_min_dtod = 0.07f;
    p->gamma_up_dtod = 0.01f;
    p->gamma_down_dtod = 0.01f;
    p->dw_min_std = 0.3f;
    p->write_noise_std = 0.0f;
    p->mean_bound_reference = 1;
    p->lifetime = 1.0e6f;
    p->lifetime_dtod = 0.3f;
}

static void preset_ecram(atl_dev_params *p)
{
    *p = atl_dev_defaults(ATL_DEV_LINEAR_STEP);
    p->dw_min = 0.002f;
    p->up_down = 0.0f;
    p->w_max = 1.1724f;
    p->w_min = -0.8276f;
    p->mult_noise = 1;
    p->gamma_up = 0.1153f;
    p->gamma_down = 0.5085f;
    p->dw_min_dtod = 0.1f;
    p->up_down_dtod = 0.01f;
    p->w_max_dtod = 0.05f;
    p->w_min_dtod = 0.05f;
    p->gamma_up_dtod = 0.05f;
    p->gamma_down_dtod = 0.05f;
    p->dw_min_std = 0.3f;
    p->write_noise_std = 0.0f;
    p->mean_bound_reference = 1;
}

static void preset_ecram_mo(atl_dev_params *p)
{
    *p = atl_dev_defaults(ATL_DEV_LINEAR_STEP);
    p->dw_min = 2.8214e-4f;
    p->up_down = 0.0f;
    p->w_max = 1.1714f;
    p->w_min = -0.8286f;
    p->mult_noise = 1;
    p->gamma_up = 0.4152f;
    p->gamma_down = 0.7342f;
    p->dw_min_dtod = 0.1f;
    p->up_down_dtod = 0.01f;
    p->w_max_dtod = 0.05f;
    p->w_min_dtod = 0.05f;
    p->gamma_up_dtod = 0.05f;
    p->gamma_down_dtod = 0.05f;
    p->dw_min_std = 2.0f;
    p->write_noise_std = 0.0f;
    p->mean_bound_reference = 1;
}

static void preset_idealized(atl_dev_params *p)
{
    *p = atl_dev_defaults(ATL_DEV_CONSTANT_STEP);
    p->dw_min = 0.0002f;
    p->dw_min_dtod = 0.3f;
    p->dw_min_std = 0.3f;
    p->up_down = 0.0f;
    p->up_down_dtod = 0.0f;
    p->w_max = 1.0f;
    p->w_min = -1.0f;
    p->w_max_dtod = 0.3f;
    p->w_min_dtod = 0.3f;
}

static void preset_gokmen_vlasov(atl_dev_params *p)
{
    *p = atl_dev_defaults(ATL_DEV_CONSTANT_STEP);
    p->dw_min = 0.0016f;
    p->dw_min_dtod = 0.3f;
    p->dw_min_std = 0.3f;
    p->up_down = 0.0f;
    p->up_down_dtod = 0.01f;
    p->w_max = 1.0f;
    p->w_min = -1.0f;
    p->w_max_dtod = 0.3f;
    p->w_min_dtod = 0.3f;
}

static void preset_pcm(atl_dev_params *p)
{
    *p = atl_dev_defaults(ATL_DEV_EXP_STEP);
    p->dw_min = 0.01f;
    p->up_down = 0.0f;
    p->w_max = 2.0f;
    p->w_min = 0.0f;
    p->a = -1.0f;
    p->b = 0.0f;
    p->gamma_up = 2.5f;
    p->gamma_down = 2.5f;
    p->A_up = -27.235f;
    p->A_down = -2.235f;
    p->dw_min_dtod = 0.2f;
    p->up_down_dtod = 0.05f;
    p->w_max_dtod = 0.1f;
    p->w_min_dtod = 0.0f;
    p->dw_min_std = 0.6f;
    p->dw_min_std_add = 0.042f;
    p->dw_min_std_slope = 0.108f;
    p->write_noise_std = 0.0f;
    p->reset = 0.01f;
    p->reset_dtod = 0.02f;
}

static void preset_reram_om(atl_dev_params *p)
{
    *p = atl_dev_defaults(ATL_DEV_SOFT_BOUNDS_REF);
    p->enforce_consistency = 1;
    p->dw_min_dtod_log_normal = 1;
    p->dw_min = 0.0949f;
    p->up_down = 0.0f;
    p->w_max = 1.0f;
    p->w_min = -1.0f;
    p->mult_noise = 0;
    p->dw_min_dtod = 0.7829f;
    p->up_down_dtod = 0.01f;
    p->w_max_dtod = 0.3499f;
    p->w_min_dtod = 0.5695f;
    p->dw_min_std = 0.4158f;
    p->write_noise_std = 1.4113f;
    p->corrupt_devices_range = 0.01f;
    p->corrupt_devices_prob = 0.0f;
    p->subtract_symmetry_point = 1;
    p->reference_std = 0.05f;
}

static void preset_reram_hfo2(atl_dev_params *p)
{
    *p = atl_dev_defaults(ATL_DEV_SOFT_BOUNDS_REF);
    p->enforce_consistency = 1;
    p->dw_min_dtod_log_normal = 1;
    p->dw_min = 0.4622f;
    p->up_down = 0.0f;
    p->w_max = 1.0f;
    p->w_min = -1.0f;
    p->mult_noise = 0;
    p->dw_min_dtod = 0.7125f;
    p->up_down_dtod = 0.01f;
    p->w_max_dtod = 0.4295f;
    p->w_min_dtod = 0.5990f;
    p->dw_min_std = 0.2174f;
    p->write_noise_std = 0.5841f;
    p->corrupt_devices_range = 0.01f;
    p->corrupt_devices_prob = 0.0f;
    p->subtract_symmetry_point = 1;
    p->reference_std = 0.05f;
}

typedef struct preset {
    const char *name;
    const char *desc;
    void (*fill)(atl_dev_params *);
} preset;

static const preset presets[] = {
    {"reram_hfo2", "ReRAM HfO2 array fit (Gong & Rasch et al., IEDM 2022), SoftBoundsReference",
     preset_reram_hfo2},
    {"reram_om", "ReRAM optimized-material array fit (Gong & Rasch et al., IEDM 2022)",
     preset_reram_om},
    {"reram_sb", "ReRAM soft-bounds loose fit (Gong et al., Nat. Commun. 2018)",
     preset_reram_sb},
    {"reram_es", "ReRAM exponential-step fit (Gong et al., Nat. Commun. 2018)",
     preset_reram_es},
    {"capacitor", "capacitor cell, linear step with leakage (Li et al., VLSI 2018)",
     preset_capacitor},
    {"ecram", "Li-based ECRAM, linear step (Tang et al., IEDM 2018)", preset_ecram},
    {"ecram_mo", "metal-oxide ECRAM, linear step (Kim et al., IEDM 2019)", preset_ecram_mo},
    {"idealized", "idealized constant step, ~10000 states (Rasch et al. 2019)",
     preset_idealized},
    {"gokmen_vlasov", "constant step after Gokmen & Vlasov, Front. Neurosci. 2016",
     preset_gokmen_vlasov},
    {"pcm", "GST phase-change memory, exponential step, uni-directional (Nandakumar et al. 2020)",
     preset_pcm},
};
#define N_PRESETS ((int)(sizeof presets / sizeof presets[0]))

int atl_dev_preset_count(void) { return N_PRESETS; }
const char *atl_dev_preset_name(int index)
{
    return (index >= 0 && index < N_PRESETS) ? presets[index].name : NULL;
}
const char *atl_dev_preset_description(int index)
{
    return (index >= 0 && index < N_PRESETS) ? presets[index].desc : NULL;
}

int atl_dev_preset(const char *name, atl_dev_params *out, char *err, size_t err_len)
{
    for (int i = 0; i < N_PRESETS; i++)
        if (strcmp(name, presets[i].name) == 0) {
            presets[i].fill(out);
            return 0;
        }
    atl_dev_type t;
    if (atl_dev_type_from_name(name, &t) == 0) {
        *out = atl_dev_defaults(t);
        return 0;
    }
    char list[512];
    size_t k = 0;
    list[0] = 0;
    for (int i = 0; i < N_PRESETS && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", presets[i].name);
    return an_fail(err, err_len, "unknown device preset '%s' (presets: %s; or a device type)",
                   name, list);
}

/* ------------------------------------------------------------------------------- update params */
atl_update_params atl_update_defaults(void)
{
    atl_update_params u;
    memset(&u, 0, sizeof u);
    u.desired_bl = 31;
    u.fixed_bl = 1;
    u.pulse_type = ATL_PULSE_STOCHASTIC_COMPRESSED;
    u.res = 0.0f;
    u.sto_round = 0;
    u.update_bl_management = 1;
    u.update_management = 1;
    u.um_grad_scale = 1.0f;
    return u;
}

#define AN_UP_PARAMS(X)                                                                          \
    X(desired_bl, desired_bl, K_I, 1, ATL_MAX_BL)                                                \
    X(fixed_bl, fixed_bl, K_B, 0, 1)                                                             \
    X(pulse_type, pulse_type, K_I, 0, 5)                                                         \
    X(res, res, K_F, 0, 1)                                                                       \
    X(sto_round, sto_round, K_B, 0, 1)                                                           \
    X(update_bl_management, update_bl_management, K_B, 0, 1)                                    \
    X(update_management, update_management, K_B, 0, 1)                                          \
    X(um_grad_scale, um_grad_scale, K_F, 0, INF)                                                 \
    X(x_res_implicit, x_res_implicit, K_F, 0, 1)                                                 \
    X(d_res_implicit, d_res_implicit, K_F, 0, 1)

#define AN_UPD(nm, field, kind, lo, hi) {#nm, offsetof(atl_update_params, field), kind, lo, hi, 0},
static const pdesc up_pd[] = {AN_UP_PARAMS(AN_UPD)};
#undef AN_UPD

int atl_update_params_set(atl_update_params *p, const char *name, double value, char *err,
                          size_t err_len)
{
    for (size_t i = 0; i < sizeof up_pd / sizeof up_pd[0]; i++)
        if (strcmp(up_pd[i].name, name) == 0) {
            if (up_pd[i].off == offsetof(atl_update_params, pulse_type)) {
                if (value != floor(value) || value < 0 || value > 5)
                    return an_fail(err, err_len, "update parameter 'pulse_type' must be 0..5");
                p->pulse_type = (atl_pulse_type)(int)value;
                return 0;
            }
            return pd_set(p, &up_pd[i], value, "update", err, err_len);
        }
    return an_fail(err, err_len, "unknown update parameter '%s'", name);
}

int atl_update_params_validate(const atl_update_params *p, char *err, size_t err_len)
{
    if (p->desired_bl < 1 || p->desired_bl > ATL_MAX_BL)
        return an_fail(err, err_len, "desired_bl = %d must be in [1, %d]", p->desired_bl,
                       ATL_MAX_BL);
    if ((unsigned)p->pulse_type > ATL_PULSE_DETERMINISTIC_IMPLICIT)
        return an_fail(err, err_len, "unknown pulse_type %d", (int)p->pulse_type);
    /* §1.8: res > 1 is not converted on CPU; keep it in (0, 1] or 0 */
    if (!(p->res >= 0 && p->res <= 1))
        return an_fail(err, err_len, "update res = %g must be in [0, 1]", (double)p->res);
    if (!(p->um_grad_scale >= 0))
        return an_fail(err, err_len, "um_grad_scale must be >= 0");
    return 0;
}

/* ------------------------------------------------------------------------------- algo params */
static const char *const algo_names[ATL_ALGO_COUNT] = {
    [ATL_ALGO_SGD] = "sgd",
    [ATL_ALGO_MP] = "mp",
    [ATL_ALGO_TT] = "tt",
    [ATL_ALGO_TTV2_BUFFERED] = "ttv2-buffered",
    [ATL_ALGO_CHOPPED] = "chopped",
    [ATL_ALGO_AGAD] = "agad",
};

const char *atl_algo_name(atl_algo a)
{
    return ((unsigned)a < ATL_ALGO_COUNT) ? algo_names[a] : "?";
}

atl_algo_params atl_algo_defaults(atl_algo a)
{
    atl_algo_params p;
    memset(&p, 0, sizeof p);
    /* TransferCompound column of table §4.1 */
    p.gamma = 0.0f;
    p.transfer_every = 1.0f;
    p.units_in_mbatch = 1;
    p.n_reads_per_transfer = 1;
    p.transfer_columns = 1;
    p.with_reset_prob = 0.0f;
    p.fast_lr = 1.0f;
    p.transfer_lr = 1.0f;
    p.scale_transfer_lr = 1;
    p.scale_fast_lr = 1;
    p.thres_scale = 1.0f;
    p.step = 1.0f;
    p.momentum = 0.0f;
    p.forget_buffer = 1;
    p.in_chop_prob = 0.1f;
    p.in_chop_random = 1;
    p.out_chop_prob = 0.0f;
    p.buffer_granularity = 1.0f;
    p.auto_granularity = 0.0f;
    p.no_buffer = 0;
    p.auto_scale = 0;
    p.auto_momentum = 0.99f;
    p.correct_gradient_magnitudes = 0;
    p.tail_weightening = 5.0f;
    p.buffer_cap = 0.0f;
    /* MixedPrecisionCompound */
    p.n_rows_per_transfer = -1;
    p.random_row = 0;
    p.granularity = 0.0f;
    p.n_x_bins = 0;
    p.n_d_bins = 0;
    switch (a) {
    case ATL_ALGO_TTV2_BUFFERED:
        p.momentum = 0.1f;
        break;
    case ATL_ALGO_CHOPPED:
        p.units_in_mbatch = 0;
        p.scale_fast_lr = 0;
        break;
    case ATL_ALGO_AGAD:
        p.units_in_mbatch = 0;
        p.scale_fast_lr = 0;
        p.in_chop_random = 0;
        break;
    default:
        break;
    }
    return p;
}

#define AN_ALGO_PARAMS(X)                                                                        \
    X(gamma, gamma, K_F, 0, INF)                                                                 \
    X(transfer_every, transfer_every, K_F, -INF, INF)                                            \
    X(units_in_mbatch, units_in_mbatch, K_B, 0, 1)                                               \
    X(n_reads_per_transfer, n_reads_per_transfer, K_I, 1, 1)                                     \
    X(transfer_columns, transfer_columns, K_B, 0, 1)                                             \
    X(with_reset_prob, with_reset_prob, K_F, 0, 1)                                               \
    X(fast_lr, fast_lr, K_F, 0, INF)                                                             \
    X(transfer_lr, transfer_lr, K_F, 0, INF)                                                     \
    X(scale_transfer_lr, scale_transfer_lr, K_B, 0, 1)                                           \
    X(scale_fast_lr, scale_fast_lr, K_B, 0, 1)                                                   \
    X(thres_scale, thres_scale, K_F, 0, INF)                                                     \
    X(step, step, K_F, 0, INF)                                                                   \
    X(momentum, momentum, K_F, 0, 1)                                                             \
    X(forget_buffer, forget_buffer, K_B, 0, 1)                                                   \
    X(in_chop_prob, in_chop_prob, K_F, 0, 1)                                                     \
    X(in_chop_random, in_chop_random, K_B, 0, 1)                                                 \
    X(out_chop_prob, out_chop_prob, K_F, 0, 1)                                                   \
    X(buffer_granularity, buffer_granularity, K_F, 0, INF)                                       \
    X(auto_granularity, auto_granularity, K_F, 0, INF)                                           \
    X(no_buffer, no_buffer, K_B, 0, 1)                                                           \
    X(auto_scale, auto_scale, K_B, 0, 1)                                                         \
    X(auto_momentum, auto_momentum, K_F, 0, 1)                                                   \
    X(correct_gradient_magnitudes, correct_gradient_magnitudes, K_B, 0, 1)                       \
    X(tail_weightening, tail_weightening, K_F, 0, INF)                                           \
    X(buffer_cap, buffer_cap, K_F, 0, INF)                                                       \
    X(experimental_correct_accumulation, experimental_correct_accumulation, K_B, 0, 1)           \
    X(n_rows_per_transfer, n_rows_per_transfer, K_I, -1, 1e9)                                    \
    X(random_row, random_row, K_B, 0, 1)                                                         \
    X(granularity, granularity, K_F, 0, INF)                                                     \
    X(n_x_bins, n_x_bins, K_I, 0, 1e9)                                                           \
    X(n_d_bins, n_d_bins, K_I, 0, 1e9)                                                           \
    X(stoc_round_x, stoc_round_x, K_B, 0, 1)                                                     \
    X(stoc_round_d, stoc_round_d, K_B, 0, 1)

#define AN_APD(nm, field, kind, lo, hi) {#nm, offsetof(atl_algo_params, field), kind, lo, hi, 0},
static const pdesc algo_pd[] = {AN_ALGO_PARAMS(AN_APD)};
#undef AN_APD

int atl_algo_params_set(atl_algo_params *p, const char *name, double value, char *err,
                        size_t err_len)
{
    for (size_t i = 0; i < sizeof algo_pd / sizeof algo_pd[0]; i++)
        if (strcmp(algo_pd[i].name, name) == 0)
            return pd_set(p, &algo_pd[i], value, "algorithm", err, err_len);
    return an_fail(err, err_len, "unknown algorithm parameter '%s'", name);
}

/* ------------------------------------------------------------------------------- byte buffers */
void an_w_bytes(an_wbuf *w, const void *src, size_t n)
{
    if (w->oom)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *p = realloc(w->p, cap);
        if (!p) {
            w->oom = 1;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

void an_w_u32(an_wbuf *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    an_w_bytes(w, b, 4);
}

void an_w_u64(an_wbuf *w, uint64_t v)
{
    an_w_u32(w, (uint32_t)v);
    an_w_u32(w, (uint32_t)(v >> 32));
}

void an_w_f32(an_wbuf *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    an_w_u32(w, u);
}

void an_w_f32s(an_wbuf *w, const float *v, size_t n)
{
    for (size_t k = 0; k < n; k++)
        an_w_f32(w, v[k]);
}

uint32_t an_r_u32(an_rbuf *r)
{
    if (r->bad || r->len - r->pos < 4) {
        r->bad = 1;
        return 0;
    }
    const uint8_t *b = r->p + r->pos;
    r->pos += 4;
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

uint64_t an_r_u64(an_rbuf *r)
{
    uint64_t lo = an_r_u32(r);
    uint64_t hi = an_r_u32(r);
    return lo | (hi << 32);
}

float an_r_f32(an_rbuf *r)
{
    uint32_t u = an_r_u32(r);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

void an_r_f32s(an_rbuf *r, float *v, size_t n)
{
    if (r->bad || (r->len - r->pos) / 4 < n) {
        r->bad = 1;
        return;
    }
    for (size_t k = 0; k < n; k++)
        v[k] = an_r_f32(r);
}

void an_r_bytes(an_rbuf *r, void *dst, size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = 1;
        return;
    }
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
}

static void table_of(int table, const pdesc **t, size_t *n)
{
    switch (table) {
    case AN_PT_DEV: *t = dev_pd; *n = N_DEV_PD; break;
    case AN_PT_UP: *t = up_pd; *n = sizeof up_pd / sizeof up_pd[0]; break;
    default: *t = algo_pd; *n = sizeof algo_pd / sizeof algo_pd[0]; break;
    }
}

void an_params_write(an_wbuf *w, int table, const void *p)
{
    const pdesc *t;
    size_t n;
    table_of(table, &t, &n);
    an_w_u32(w, (uint32_t)n);
    if (table == AN_PT_DEV)
        an_w_u32(w, (uint32_t)((const atl_dev_params *)p)->type);
    for (size_t k = 0; k < n; k++) {
        const char *f = (const char *)p + t[k].off;
        switch (t[k].kind) {
        case K_F: an_w_f32(w, *(const float *)f); break;
        case K_U: an_w_u64(w, *(const uint64_t *)f); break;
        default: an_w_u32(w, (uint32_t) * (const int *)f); break;
        }
    }
}

int an_params_read(an_rbuf *r, int table, void *p)
{
    const pdesc *t;
    size_t n;
    table_of(table, &t, &n);
    if (an_r_u32(r) != (uint32_t)n)
        return -1;
    if (table == AN_PT_DEV) {
        *(atl_dev_params *)p = atl_dev_defaults(ATL_DEV_CONSTANT_STEP);
        uint32_t ty = an_r_u32(r);
        if (ty >= ATL_DEV_TYPE_COUNT)
            return -1;
        ((atl_dev_params *)p)->type = (atl_dev_type)ty;
    }
    for (size_t k = 0; k < n; k++) {
        char *f = (char *)p + t[k].off;
        switch (t[k].kind) {
        case K_F: *(float *)f = an_r_f32(r); break;
        case K_U: *(uint64_t *)f = an_r_u64(r); break;
        default: *(int *)f = (int)an_r_u32(r); break;
        }
    }
    return r->bad ? -1 : 0;
}
