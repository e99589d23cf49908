/* The `analog` section of a model or experiment file, resolved into tile configurations.
 *
 *   analog {
 *     transfer_noise = 0.1;                        // tau, decision 2 of ANALOG_MODEL.md
 *     tile { rows = 512; cols = 512; }             // largest tile (near-equal splits beyond)
 *     device "reram_hfo2" { reference_std = 0.05; } // preset (+ overrides); or device = "name";
 *     algorithm "cttv2" { in_chop_prob = 0.1; }     // algorithm (+ parameters); or algorithm = "..";
 *                                                   // (a labelled section's overrides apply only
 *                                                   // when its label is the chosen preset/algo;
 *                                                   // unlabelled `device { }` ones always)
 *     update { desired_bl = 5; }                    // pulsed update of the fast array
 *     transfer_update { desired_bl = 1; }           // C writes of the transfer compounds
 *     io { out_noise = 0.06; forward { ... } backward { ... } transfer { ... } }
 *     omega = 0.6; columnwise = false;              // weight scaling (section 7.2)
 *     layers "stage*.attn.*" { ... the same keys ...; digital = true; }
 *   }
 *
 * Every key may appear at the top (a default for all rules) and inside a `layers` rule (which
 * wins). Later rules win over earlier ones for the parameters they match (ir/config.c).
 * Defaults: device reram_hfo2, algorithm cttv2 with the reference's build_config values, plain IO
 * parameters, 512 x 512 tiles, tau 0 (decision 3).
 */
#include "analog_config.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define ERRLEN 512
#define MSGLEN 1024

static void report(atl_diag *d, const atl_module *m, atl_loc loc, const char *msg)
{
    if (d)
        atl_ir_report(d, m, ATL_SEV_ERROR, loc, "%s", msg);
}

static bool num_of(const atl_cfg *e, double *v)
{
    if (!e->is_entry)
        return false;
    if (e->value.kind == ATL_VAL_FLOAT)
        *v = e->value.f;
    else if (e->value.kind == ATL_VAL_INT)
        *v = (double)e->value.i;
    else if (e->value.kind == ATL_VAL_BOOL)
        *v = e->value.b ? 1.0 : 0.0;
    else
        return false;
    return true;
}

/* The `layers` rule with index `rule` (counting only `layers` sections). */
static const atl_cfg *rule_section(const atl_cfg *an, int rule)
{
    int k = 0;
    for (int i = 0; an && i < an->n_kids; i++) {
        const atl_cfg *c = &an->kids[i];
        if (!c->is_entry && strcmp(c->key, "layers") == 0) {
            if (k == rule)
                return c;
            k++;
        }
    }
    return NULL;
}

/* The device or algorithm name of a scope: `device = "x";` or `device "x" { ... }` (the last
 * one wins); *where gets the configuration node that names it. */
static const char *scope_name_at(const atl_cfg *scope, const char *key, const atl_cfg **where)
{
    const char *r = NULL;
    for (int i = 0; scope && i < scope->n_kids; i++) {
        const atl_cfg *c = &scope->kids[i];
        if (strcmp(c->key, key) != 0)
            continue;
        if (c->is_entry && c->value.kind == ATL_VAL_STR) {
            r = c->value.s;
            if (where)
                *where = c;
        } else if (!c->is_entry && c->label) {
            r = c->label;
            if (where)
                *where = c;
        }
    }
    return r;
}


static bool check_name_kinds(const atl_module *m, const atl_cfg *scope, const char *key,
                             atl_diag *d)
{
    bool ok = true;
    for (int i = 0; scope && i < scope->n_kids; i++) {
        const atl_cfg *c = &scope->kids[i];
        if (strcmp(c->key, key) == 0 && c->is_entry && c->value.kind != ATL_VAL_STR) {
            char msg[MSGLEN];
            snprintf(msg, sizeof msg, "analog: '%s' must be a name string, e.g. %s = \"%s\";", key,
                     key, strcmp(key, "device") == 0 ? "reram_hfo2" : "cttv2");
            report(d, m, c->loc, msg);
            ok = false;
        }
    }
    return ok;
}

typedef int (*set_fn)(void *target, const char *name, double value, char *err, size_t errlen);

static int set_dev(void *t, const char *n, double v, char *e, size_t l)
{
    return atl_dev_params_set(t, n, v, e, l);
}
static int set_algo(void *t, const char *n, double v, char *e, size_t l)
{
    return atl_algo_params_set(t, n, v, e, l);
}
static int set_up(void *t, const char *n, double v, char *e, size_t l)
{
    return atl_update_params_set(t, n, v, e, l);
}

/* Apply the numeric entries of the `key` sections of scope to target: unlabelled ones, and
 * labelled ones whose label is `chosen` (overrides of `device "reram_hfo2" { ... }` belong to
 * that preset and are ignored when a sweep picks another device). */
static bool apply_section(const atl_module *m, const atl_cfg *scope, const char *key,
                          const char *chosen, void *target, set_fn fn, atl_diag *d)
{
    bool ok = true;
    for (int i = 0; scope && i < scope->n_kids; i++) {
        const atl_cfg *sec = &scope->kids[i];
        if (sec->is_entry || strcmp(sec->key, key) != 0)
            continue;
        if (sec->label && chosen && strcmp(sec->label, chosen) != 0)
            continue;
        for (int k = 0; k < sec->n_kids; k++) {
            const atl_cfg *e = &sec->kids[k];
            char err[ERRLEN], msg[MSGLEN];
            double v;
            if (!e->is_entry) {
                snprintf(msg, sizeof msg, "analog: unexpected section '%s' inside '%s'", e->key,
                         key);
                report(d, m, e->loc, msg);
                ok = false;
                continue;
            }
            if (!num_of(e, &v)) {
                snprintf(msg, sizeof msg, "analog: %s.%s must be a number or a boolean", key,
                         e->key);
                report(d, m, e->loc, msg);
                ok = false;
                continue;
            }
            if (fn(target, e->key, v, err, sizeof err)) {
                snprintf(msg, sizeof msg, "analog: %s: %s", key, err);
                report(d, m, e->loc, msg);
                ok = false;
            }
        }
    }
    return ok;
}

/* ---- IO parameters by name ---- */

static int io_enum(const char *key, const char *v, atl_io_params *p)
{
    static const char *const nm[] = {"none", "abs_max", "max", "constant", "abs_max_np_sum",
                                     "average_abs_max"};
    static const char *const bm[] = {"none", "iterative", "iterative_worst_case"};
    static const char *const wn[] = {"none", "additive_constant", "pcm_read"};
    if (strcmp(key, "noise_management") == 0) {
        for (int i = 0; i < 6; i++)
            if (strcmp(v, nm[i]) == 0) {
                p->noise_management = (atl_noise_management)i;
                return 0;
            }
    } else if (strcmp(key, "bound_management") == 0) {
        for (int i = 0; i < 3; i++)
            if (strcmp(v, bm[i]) == 0) {
                p->bound_management = (atl_bound_management)i;
                return 0;
            }
    } else if (strcmp(key, "w_noise_type") == 0) {
        for (int i = 0; i < 3; i++)
            if (strcmp(v, wn[i]) == 0) {
                p->w_noise_type = (atl_w_noise_type)i;
                return 0;
            }
    }
    return -1;
}

const char *atl_nm_name(atl_noise_management nm)
{
    static const char *const n[] = {"none", "abs_max", "max", "constant", "abs_max_np_sum",
                                    "average_abs_max"};
    return (unsigned)nm < 6 ? n[nm] : "none";
}

const char *atl_bm_name(atl_bound_management bm)
{
    static const char *const n[] = {"none", "iterative", "iterative_worst_case"};
    return (unsigned)bm < 3 ? n[bm] : "none";
}

int atl_io_params_set(atl_io_params *p, const char *name, double v, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        size_t off;
        int is_int;
    } fields[] = {
#define F(n) {#n, offsetof(atl_io_params, n), 0}
#define I(n) {#n, offsetof(atl_io_params, n), 1}
        I(is_perfect),   F(inp_bound),     F(inp_res),        I(inp_sto_round), F(inp_noise),
        F(inp_asymmetry), F(out_bound),    F(out_noise),      F(out_noise_std), F(out_res),
        I(out_sto_round), F(out_scale),    F(out_asymmetry),  F(w_noise),       F(ir_drop),
        F(ir_drop_g_ratio), F(max_bm_factor), F(max_bm_res),  I(bm_test_negative_bound),
        F(nm_thres),      F(nm_assumed_wmax), F(nm_decay),
#undef F
#undef I
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (strcmp(fields[i].name, name) != 0)
            continue;
        if (!isfinite(v)) {
            snprintf(err, errlen, "io parameter '%s' must be finite", name);
            return -1;
        }
        if (fields[i].is_int)
            *(int *)((char *)p + fields[i].off) = (int)v;
        else
            *(float *)((char *)p + fields[i].off) = (float)v;
        return 0;
    }
    snprintf(err, errlen,
             "unknown io parameter '%s' (is_perfect, inp_res, inp_bound, inp_noise, out_res, "
             "out_bound, out_noise, w_noise, noise_management, bound_management, ...)",
             name);
    return -1;
}

/* io { common...; forward { ... } backward { ... } transfer { ... } } */
static bool apply_io(const atl_module *m, const atl_cfg *scope, atl_io_params *fwd,
                     atl_io_params *bwd, atl_io_params *tr, atl_diag *d)
{
    bool ok = true;
    for (int i = 0; scope && i < scope->n_kids; i++) {
        const atl_cfg *io = &scope->kids[i];
        if (io->is_entry || strcmp(io->key, "io") != 0)
            continue;
        /* common entries first, then the direction sections */
        for (int pass = 0; pass < 2; pass++)
            for (int k = 0; k < io->n_kids; k++) {
                const atl_cfg *e = &io->kids[k];
                atl_io_params *targets[3] = {fwd, bwd, NULL};
                int nt = 2;
                const atl_cfg *entries = NULL;
                int n_entries = 0;
                if (e->is_entry) {
                    if (pass)
                        continue;
                    entries = e;
                    n_entries = 1;
                } else {
                    if (!pass)
                        continue;
                    if (strcmp(e->key, "forward") == 0)
                        targets[0] = fwd, nt = 1;
                    else if (strcmp(e->key, "backward") == 0)
                        targets[0] = bwd, nt = 1;
                    else if (strcmp(e->key, "transfer") == 0)
                        targets[0] = tr, nt = 1;
                    else {
                        char msg[MSGLEN];
                        snprintf(msg, sizeof msg,
                                 "analog: unknown io section '%s' (forward, backward, transfer)",
                                 e->key);
                        report(d, m, e->loc, msg);
                        ok = false;
                        continue;
                    }
                    entries = e->kids;
                    n_entries = e->n_kids;
                }
                for (int j = 0; j < n_entries; j++) {
                    const atl_cfg *en = &entries[j];
                    char err[ERRLEN], msg[MSGLEN];
                    for (int t = 0; t < nt; t++) {
                        int rc;
                        if (!en->is_entry) {
                            snprintf(msg, sizeof msg, "analog: unexpected section '%s' in io",
                                     en->key);
                            report(d, m, en->loc, msg);
                            ok = false;
                            break;
                        }
                        if (en->value.kind == ATL_VAL_STR)
                            rc = io_enum(en->key, en->value.s, targets[t]);
                        else {
                            double v;
                            rc = num_of(en, &v) ? atl_io_params_set(targets[t], en->key, v, err,
                                                                    sizeof err)
                                                : -1;
                            if (rc)
                                snprintf(msg, sizeof msg, "analog: io: %s", err);
                        }
                        if (rc) {
                            if (en->value.kind == ATL_VAL_STR)
                                snprintf(msg, sizeof msg, "analog: io.%s: bad value \"%s\"",
                                         en->key, en->value.s);
                            report(d, m, en->loc, msg);
                            ok = false;
                            break;
                        }
                    }
                }
            }
    }
    return ok;
}

/* ---- top-level entries ---- */

static const atl_cfg *entry(const atl_cfg *scope, const char *key)
{
    const atl_cfg *r = NULL;
    for (int i = 0; scope && i < scope->n_kids; i++)
        if (scope->kids[i].is_entry && strcmp(scope->kids[i].key, key) == 0)
            r = &scope->kids[i];
    return r;
}

static const atl_cfg *section(const atl_cfg *scope, const char *key)
{
    const atl_cfg *r = NULL;
    for (int i = 0; scope && i < scope->n_kids; i++)
        if (!scope->kids[i].is_entry && strcmp(scope->kids[i].key, key) == 0)
            r = &scope->kids[i];
    return r;
}

static bool scope_num(const atl_module *m, const atl_cfg *scope, const char *key, double *v,
                      atl_diag *d)
{
    const atl_cfg *e = entry(scope, key);
    if (!e)
        return true;
    if (!num_of(e, v)) {
        char msg[MSGLEN];
        snprintf(msg, sizeof msg, "analog: '%s' must be a number", key);
        report(d, m, e->loc, msg);
        return false;
    }
    return true;
}

/* Keys a scope (the analog section or one of its rules) may hold. */
static bool check_keys(const atl_module *m, const atl_cfg *scope, bool top, atl_diag *d)
{
    static const char *const entries[] = {"device", "algorithm", "omega", "columnwise",
                                          "lr_compensation", "digital", "transfer_noise"};
    static const char *const sections[] = {"device", "algorithm", "update", "transfer_update",
                                           "io", "tile", "layers"};
    bool ok = true;
    for (int i = 0; scope && i < scope->n_kids; i++) {
        const atl_cfg *c = &scope->kids[i];
        bool known = false;
        const char *const *list = c->is_entry ? entries : sections;
        size_t n = c->is_entry ? sizeof entries / sizeof entries[0]
                               : sizeof sections / sizeof sections[0];
        for (size_t k = 0; k < n; k++)
            known |= strcmp(c->key, list[k]) == 0;
        if (known && !top && (strcmp(c->key, "layers") == 0 || strcmp(c->key, "transfer_noise") == 0))
            known = false;
        if (known && top && strcmp(c->key, "digital") == 0)
            known = false;
        if (!known) {
            char msg[MSGLEN];
            snprintf(msg, sizeof msg, "analog: unknown %s '%s'%s", c->is_entry ? "key" : "section",
                     c->key, top ? "" : " in a layers rule");
            report(d, m, c->loc, msg);
            ok = false;
        }
    }
    return ok;
}

int atl_analog_rule_resolve(const atl_module *m, int rule, atl_analog_rule *out, atl_diag *d)
{
    memset(out, 0, sizeof *out);
    const atl_cfg *an = atl_cfg_find(m, "analog");
    const atl_cfg *r = rule_section(an, rule);
    if (!an || !r) {
        if (d)
            atl_ir_report(d, m, ATL_SEV_ERROR, ATL_NO_LOC, "analog rule %d does not exist", rule);
        return -1;
    }
    bool ok = check_keys(m, an, true, d) & check_keys(m, r, false, d);
    ok &= check_name_kinds(m, an, "device", d) & check_name_kinds(m, r, "device", d);
    ok &= check_name_kinds(m, an, "algorithm", d) & check_name_kinds(m, r, "algorithm", d);
    const atl_cfg *dev_at = r, *algo_at = r;
    const char *dev = scope_name_at(r, "device", &dev_at);
    if (!dev)
        dev = scope_name_at(an, "device", &dev_at);
    if (!dev)
        dev = "reram_hfo2";
    const char *algo = scope_name_at(r, "algorithm", &algo_at);
    if (!algo)
        algo = scope_name_at(an, "algorithm", &algo_at);
    if (!algo)
        algo = "cttv2";
    snprintf(out->device, sizeof out->device, "%s", dev);
    snprintf(out->algorithm, sizeof out->algorithm, "%s", algo);
    char err[ERRLEN], msg[MSGLEN];
    atl_dev_params dp;
    if (atl_dev_preset(dev, &dp, err, sizeof err)) {
        snprintf(msg, sizeof msg, "analog: %s", err);
        report(d, m, dev_at->loc, msg);
        return -1;
    }
    /* device overrides: top level, then the rule */
    ok &= apply_section(m, an, "device", dev, &dp, set_dev, d);
    ok &= apply_section(m, r, "device", dev, &dp, set_dev, d);
    if (ok && atl_dev_params_validate(&dp, err, sizeof err)) {
        snprintf(msg, sizeof msg, "analog: device %s: %s", dev, err);
        report(d, m, r->loc, msg);
        ok = false;
    }
    if (!ok)
        return -1;
    if (atl_tile_config_build(&out->cfg, algo, &dp, err, sizeof err)) {
        snprintf(msg, sizeof msg, "analog: %s", err);
        report(d, m, algo_at->loc, msg);
        return -1;
    }
    ok &= apply_section(m, an, "algorithm", algo, &out->cfg.ap, set_algo, d);
    ok &= apply_section(m, r, "algorithm", algo, &out->cfg.ap, set_algo, d);
    ok &= apply_section(m, an, "update", NULL, &out->cfg.up, set_up, d);
    ok &= apply_section(m, r, "update", NULL, &out->cfg.up, set_up, d);
    ok &= apply_section(m, an, "transfer_update", NULL, &out->cfg.up_transfer, set_up, d);
    ok &= apply_section(m, r, "transfer_update", NULL, &out->cfg.up_transfer, set_up, d);
    ok &= apply_io(m, an, &out->cfg.io_fwd, &out->cfg.io_bwd, &out->cfg.io_transfer, d);
    ok &= apply_io(m, r, &out->cfg.io_fwd, &out->cfg.io_bwd, &out->cfg.io_transfer, d);
    double omega = 0, colw = 0, lrc = 0, rows = 512, cols = 512;
    ok &= scope_num(m, an, "omega", &omega, d) && scope_num(m, r, "omega", &omega, d);
    ok &= scope_num(m, an, "columnwise", &colw, d) && scope_num(m, r, "columnwise", &colw, d);
    ok &= scope_num(m, an, "lr_compensation", &lrc, d) &&
          scope_num(m, r, "lr_compensation", &lrc, d);
    for (int s = 0; s < 2; s++) {
        const atl_cfg *t = section(s ? r : an, "tile");
        ok &= scope_num(m, t, "rows", &rows, d) && scope_num(m, t, "cols", &cols, d);
        for (int k = 0; t && k < t->n_kids; k++)
            if (strcmp(t->kids[k].key, "rows") && strcmp(t->kids[k].key, "cols")) {
                snprintf(msg, sizeof msg, "analog: unknown tile key '%s' (rows, cols)",
                         t->kids[k].key);
                report(d, m, t->kids[k].loc, msg);
                ok = false;
            }
    }
    if (ok && (rows < 1 || cols < 1 || rows > 1 << 16 || cols > 1 << 16 || rows != floor(rows) ||
               cols != floor(cols))) {
        report(d, m, r->loc, "analog: tile rows and cols must be whole numbers in [1, 65536]");
        ok = false;
    }
    if (ok && omega < 0) {
        report(d, m, r->loc, "analog: omega must be >= 0");
        ok = false;
    }
    out->rows = (int64_t)rows;
    out->cols = (int64_t)cols;
    out->cfg.weight_scaling_omega = (float)omega;
    out->cfg.weight_scaling_columnwise = colw != 0;
    out->cfg.weight_scaling_lr_compensation = lrc != 0;
    if (!ok)
        return -1;
    const char *checks[3] = {"forward", "backward", "transfer"};
    atl_io_params *ios[3] = {&out->cfg.io_fwd, &out->cfg.io_bwd, &out->cfg.io_transfer};
    for (int k = 0; k < 3; k++)
        if (atl_io_validate(ios[k], err, sizeof err)) {
            snprintf(msg, sizeof msg, "analog: io %s: %s", checks[k], err);
            report(d, m, r->loc, msg);
            return -1;
        }
    if (atl_update_params_validate(&out->cfg.up, err, sizeof err)) {
        snprintf(msg, sizeof msg, "analog: update: %s", err);
        report(d, m, r->loc, msg);
        return -1;
    }
    return 0;
}

int atl_analog_transfer_noise(const atl_module *m, double *tau, atl_diag *d)
{
    *tau = 0;
    const atl_cfg *an = atl_cfg_find(m, "analog");
    if (!scope_num(m, an, "transfer_noise", tau, d))
        return -1;
    if (*tau < 0 || !isfinite(*tau)) {
        const atl_cfg *e = entry(an, "transfer_noise");
        report(d, m, e ? e->loc : ATL_NO_LOC, "analog: transfer_noise must be >= 0");
        return -1;
    }
    return 0;
}

/* Canonical "k=v" list of the algorithm parameters (for the analog_update op's attribute, so a
 * dump shows what the tile does). Only the parameters the algorithm uses are listed. */
void atl_analog_algo_summary(const atl_tile_config *cfg, char *buf, size_t n)
{
    const atl_algo_params *a = &cfg->ap;
    size_t k = 0;
#define P(...) k += (size_t)snprintf(buf + k, k < n ? n - k : 0, __VA_ARGS__)
    P("desired_bl=%d", cfg->up.desired_bl);
    if (cfg->algo == ATL_ALGO_SGD || cfg->algo == ATL_ALGO_MP) {
        /* single device: the update parameters are all there is */
    } else {
        P(",fast_lr=%g,transfer_lr=%g,transfer_every=%g,gamma=%g", (double)a->fast_lr,
          (double)a->transfer_lr, (double)a->transfer_every, (double)a->gamma);
        if (cfg->algo == ATL_ALGO_CHOPPED || cfg->algo == ATL_ALGO_AGAD)
            P(",in_chop_prob=%g,auto_scale=%d,buffer_granularity=%g,auto_granularity=%g",
              (double)a->in_chop_prob, a->auto_scale, (double)a->buffer_granularity,
              (double)a->auto_granularity);
    }
#undef P
    if (k >= n && n)
        buf[n - 1] = '\0';
}
