/* Experiments: loading, sweep points, runs, results (see experiment.h, docs/EXPERIMENTS.md). */
#include "experiment.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analog_config.h"

static const char *const method_names[ATL_METHOD_COUNT] = {"analog_tl", "digital_tl",
                                                           "analog_scratch", "digital_scratch"};

const char *atl_method_name(atl_method m)
{
    return (unsigned)m < ATL_METHOD_COUNT ? method_names[m] : "?";
}

/* ---- values ---------------------------------------------------------------------------------- */

static void value_text(const atl_value *v, char *buf, size_t n)
{
    switch (v->kind) {
    case ATL_VAL_INT:
        snprintf(buf, n, "%lld", (long long)v->i);
        break;
    case ATL_VAL_FLOAT: {
        /* shortest text that reads back to the same double */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, n, "%.*g", prec, v->f);
            if (strtod(buf, NULL) == v->f)
                break;
        }
        break;
    }
    case ATL_VAL_BOOL:
        snprintf(buf, n, "%s", v->b ? "true" : "false");
        break;
    case ATL_VAL_STR:
        snprintf(buf, n, "%s", v->s);
        break;
    case ATL_VAL_LIST: {
        size_t k = (size_t)snprintf(buf, n, "[");
        for (int i = 0; i < v->n_items && k < n; i++) {
            char t[256];
            value_text(&v->items[i], t, sizeof t);
            k += (size_t)snprintf(buf + k, n - k, i ? ",%s" : "%s", t);
        }
        if (k < n)
            snprintf(buf + k, n - k, "]");
        break;
    }
    }
}

static bool v_num(const atl_value *v, double *out)
{
    if (v->kind == ATL_VAL_INT)
        *out = (double)v->i;
    else if (v->kind == ATL_VAL_FLOAT)
        *out = v->f;
    else
        return false;
    return true;
}

/* ---- phases ---------------------------------------------------------------------------------- */

static void phase_defaults(atl_phase *p, bool pretrain)
{
    memset(p, 0, sizeof *p);
    p->epochs = 1;
    p->batch = 8;
    p->lr = 0.01;
    p->momentum = pretrain ? 0.9 : 0.0;
    p->augment = pretrain;
    snprintf(p->schedule, sizeof p->schedule, "constant");
    if (!pretrain) {
        snprintf(p->reinit[0], sizeof p->reinit[0], "head");
        p->n_reinit = 1;
    }
}

/* Set one phase setting from a value. Returns 0 or -1 with a message. */
static int phase_set(atl_phase *p, const char *key, const atl_value *v, char *err, size_t errlen)
{
    double x;
    struct {
        const char *key;
        char *dst;
        size_t n;
    } strs[] = {{"data", p->data, sizeof p->data},
                {"eval_data", p->eval_data, sizeof p->eval_data},
                {"schedule", p->schedule, sizeof p->schedule},
                {"checkpoint", p->checkpoint, sizeof p->checkpoint}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (strcmp(key, strs[i].key) == 0) {
            if (v->kind != ATL_VAL_STR) {
                snprintf(err, errlen, "'%s' must be a string", key);
                return -1;
            }
            snprintf(strs[i].dst, strs[i].n, "%s", v->s);
            if (strcmp(key, "schedule") == 0) {
                atl_schedule s;
                char e2[256];
                if (atl_schedule_parse(v->s, &s, e2, sizeof e2)) {
                    snprintf(err, errlen, "%s", e2);
                    return -1;
                }
            }
            return 0;
        }
    if (strcmp(key, "nesterov") == 0 || strcmp(key, "augment") == 0) {
        if (v->kind != ATL_VAL_BOOL) {
            snprintf(err, errlen, "'%s' must be true or false", key);
            return -1;
        }
        *(key[0] == 'n' ? &p->nesterov : &p->augment) = v->b;
        return 0;
    }
    if (strcmp(key, "reinit") == 0) {
        p->n_reinit = 0;
        const atl_value *items = v->kind == ATL_VAL_LIST ? v->items : v;
        int n = v->kind == ATL_VAL_LIST ? v->n_items : 1;
        for (int i = 0; i < n; i++) {
            if (items[i].kind != ATL_VAL_STR || p->n_reinit == 8) {
                snprintf(err, errlen, "'reinit' must be a list of at most 8 name patterns");
                return -1;
            }
            snprintf(p->reinit[p->n_reinit++], sizeof p->reinit[0], "%s", items[i].s);
        }
        return 0;
    }
    if (!v_num(v, &x)) {
        snprintf(err, errlen, "'%s' must be a number", key);
        return -1;
    }
    if (strcmp(key, "lr") == 0 || strcmp(key, "momentum") == 0 ||
        strcmp(key, "weight_decay") == 0) {
        if (!(x >= 0) || (key[0] == 'l' && x == 0) || (key[0] == 'm' && x >= 1)) {
            snprintf(err, errlen, "'%s' out of range: %g", key, x);
            return -1;
        }
        *(key[0] == 'l' ? &p->lr : key[0] == 'm' ? &p->momentum : &p->weight_decay) = x;
        return 0;
    }
    struct {
        const char *key;
        double lo, hi;
    } ints[] = {{"epochs", 1, 1e6}, {"max_steps", 0, 1e15}, {"batch", 1, 65536},
                {"warmup", 0, 1e15}, {"classes", 1, 1e6}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (strcmp(key, ints[i].key) == 0) {
            if (x != floor(x) || x < ints[i].lo || x > ints[i].hi) {
                snprintf(err, errlen, "'%s' must be a whole number in [%g, %g]", key, ints[i].lo,
                         ints[i].hi);
                return -1;
            }
            if (i == 0)
                p->epochs = (int)x;
            else if (i == 1)
                p->max_steps = (int64_t)x;
            else if (i == 2)
                p->batch = (int64_t)x;
            else if (i == 3)
                p->warmup = (int64_t)x;
            else
                p->classes = (int)x;
            return 0;
        }
    snprintf(err, errlen,
             "unknown setting '%s' (data, eval_data, epochs, max_steps, batch, lr, momentum, "
             "nesterov, weight_decay, schedule, warmup, augment, classes, reinit, checkpoint)",
             key);
    return -1;
}

static int phase_apply_section(atl_phase *p, const atl_cfg *sec, const atl_module *m, atl_diag *d)
{
    int errs = 0;
    for (int i = 0; sec && i < sec->n_kids; i++) {
        const atl_cfg *c = &sec->kids[i];
        char err[512];
        if (!c->is_entry) {
            atl_ir_report(d, m, ATL_SEV_ERROR, c->loc, "unexpected section '%s' in '%s'", c->key,
                          sec->key);
            errs++;
        } else if (phase_set(p, c->key, &c->value, err, sizeof err)) {
            atl_ir_report(d, m, ATL_SEV_ERROR, c->loc, "%s.%s: %s", sec->key, c->key, err);
            errs++;
        }
    }
    return errs ? -1 : 0;
}

/* ---- overrides -------------------------------------------------------------------------------- */

typedef struct ovr {
    char path[256];
    atl_value v;
} ovr;

/* The experiment with a list of overrides applied: what a run actually uses. */
typedef struct built {
    char defines[80][300];
    int n_defines;
    atl_phase pretrain;
    atl_phase tasks[ATL_EXP_MAX_TASKS];
    char analog_sets[32][600];
    int n_analog_sets;
} built;

static const atl_cfg *exp_section(const atl_experiment *e)
{
    return atl_cfg_find(e->cfg, "experiment");
}

static const atl_cfg *child_section(const atl_cfg *sec, const char *key, const char *label)
{
    const atl_cfg *r = NULL;
    for (int i = 0; sec && i < sec->n_kids; i++) {
        const atl_cfg *c = &sec->kids[i];
        if (!c->is_entry && strcmp(c->key, key) == 0 &&
            (!label || (c->label && strcmp(c->label, label) == 0)))
            r = c;
    }
    return r;
}

static void set_define(built *b, const char *name, const char *text)
{
    size_t nl = strlen(name);
    for (int i = 0; i < b->n_defines; i++)
        if (strncmp(b->defines[i], name, nl) == 0 && b->defines[i][nl] == '=') {
            snprintf(b->defines[i], sizeof b->defines[i], "%.60s=%.200s", name, text);
            return;
        }
    if (b->n_defines < 80)
        snprintf(b->defines[b->n_defines++], sizeof b->defines[0], "%.60s=%.200s", name, text);
}

/* Apply one override path. Phase overrides of `finetune` reach every task (tasks re-apply their
 * own entries afterwards in build()). */
static int apply_ovr(const atl_experiment *e, built *b, const ovr *o, atl_phase *finetune,
                     char *err, size_t errlen)
{
    char text[512];
    value_text(&o->v, text, sizeof text);
    if (strncmp(o->path, "analog.", 7) == 0) {
        if (b->n_analog_sets == 32) {
            snprintf(err, errlen, "too many analog overrides");
            return -1;
        }
        snprintf(b->analog_sets[b->n_analog_sets++], sizeof b->analog_sets[0], "%s=%s", o->path,
                 text);
        return 0;
    }
    if (strncmp(o->path, "defines.", 8) == 0) {
        set_define(b, o->path + 8, text);
        return 0;
    }
    if (strncmp(o->path, "pretrain.", 9) == 0)
        return phase_set(&b->pretrain, o->path + 9, &o->v, err, errlen);
    if (strncmp(o->path, "finetune.", 9) == 0)
        return phase_set(finetune, o->path + 9, &o->v, err, errlen);
    if (strncmp(o->path, "task.", 5) == 0) {
        const char *dot = strchr(o->path + 5, '.');
        for (int t = 0; dot && t < e->n_tasks; t++)
            if (strlen(e->task_names[t]) == (size_t)(dot - o->path - 5) &&
                strncmp(e->task_names[t], o->path + 5, (size_t)(dot - o->path - 5)) == 0)
                return 0; /* applied per task in build() */
        snprintf(err, errlen, "'%s': no such task", o->path);
        return -1;
    }
    snprintf(err, errlen,
             "'%s' is not a parameter path (analog.*, defines.NAME, pretrain.KEY, finetune.KEY, "
             "task.NAME.KEY)",
             o->path);
    return -1;
}

static int build(const atl_experiment *e, const ovr *extra, int n_extra, built *b, atl_diag *d)
{
    memset(b, 0, sizeof *b);
    const atl_cfg *sec = exp_section(e);
    for (int i = 0; i < e->n_defines; i++)
        snprintf(b->defines[b->n_defines++], sizeof b->defines[0], "%s", e->defines[i]);
    b->pretrain = e->pretrain;
    atl_phase finetune = e->finetune;
    char err[512];
    for (int k = 0; k < n_extra; k++)
        if (apply_ovr(e, b, &extra[k], &finetune, err, sizeof err)) {
            atl_diag_error(d, ATL_NO_SPAN, "%s", err);
            return -1;
        }
    for (int t = 0; t < e->n_tasks; t++) {
        b->tasks[t] = finetune;
        if (phase_apply_section(&b->tasks[t], child_section(sec, "task", e->task_names[t]), e->cfg,
                                d))
            return -1;
        size_t nl = strlen(e->task_names[t]);
        for (int k = 0; k < n_extra; k++)
            if (strncmp(extra[k].path, "task.", 5) == 0 &&
                strncmp(extra[k].path + 5, e->task_names[t], nl) == 0 &&
                extra[k].path[5 + nl] == '.' &&
                phase_set(&b->tasks[t], extra[k].path + 6 + nl, &extra[k].v, err, sizeof err)) {
                atl_diag_error(d, ATL_NO_SPAN, "%s: %s", extra[k].path, err);
                return -1;
            }
        if (!b->tasks[t].data[0]) {
            atl_diag_error(d, ATL_NO_SPAN, "task '%s' has no data", e->task_names[t]);
            return -1;
        }
    }
    return 0;
}

/* ---- loading --------------------------------------------------------------------------------- */

int atl_experiment_load(atl_diag *d, const char *path, const char *const *overrides,
                        int n_overrides, atl_experiment *e)
{
    memset(e, 0, sizeof *e);
    int errs0 = atl_diag_errors(d);
    e->cfg = atl_module_new("experiment", 8);
    if (atl_lower_config_file(d, e->cfg, path))
        return -1;
    snprintf(e->file, sizeof e->file, "%s", path);
    const atl_cfg *sec = NULL;
    int n_sec = 0;
    for (int i = 0; i < e->cfg->n_configs; i++)
        if (strcmp(e->cfg->configs[i].key, "experiment") == 0) {
            sec = &e->cfg->configs[i];
            n_sec++;
        }
    if (n_sec != 1) {
        atl_diag_error(d, ATL_NO_SPAN, "%s: expected one `experiment NAME { ... }` section, found %d",
                       path, n_sec);
        return -1;
    }
    snprintf(e->name, sizeof e->name, "%s", sec->label ? sec->label : "experiment");
    phase_defaults(&e->pretrain, true);
    phase_defaults(&e->finetune, false);
    e->seeds[e->n_seeds++] = 1;
    for (int m = 0; m < ATL_METHOD_COUNT; m++)
        e->methods[m] = true;
    bool have_model = false;
    for (int i = 0; i < sec->n_kids; i++) {
        const atl_cfg *c = &sec->kids[i];
#define BAD(...)                                                                               \
    do {                                                                                       \
        atl_ir_report(d, e->cfg, ATL_SEV_ERROR, c->loc, __VA_ARGS__);                           \
        continue;                                                                              \
    } while (0)
        if (c->is_entry && strcmp(c->key, "name") == 0) {
            if (c->value.kind != ATL_VAL_STR || !c->value.s[0])
                BAD("'name' must be a non-empty string");
            snprintf(e->name, sizeof e->name, "%s", c->value.s);
        } else if (c->is_entry && strcmp(c->key, "model") == 0) {
            if (c->value.kind != ATL_VAL_STR)
                BAD("'model' must be a path string");
            /* relative to the file that says it (an imported experiment's own directory) */
            const char *where = c->loc.file >= 0 ? e->cfg->sources[c->loc.file] : path;
            const char *slash = strrchr(where, '/');
            if (c->value.s[0] == '/' || !slash)
                snprintf(e->model, sizeof e->model, "%s", c->value.s);
            else
                snprintf(e->model, sizeof e->model, "%.*s/%s", (int)(slash - where), where,
                         c->value.s);
            have_model = true;
        } else if (c->is_entry && strcmp(c->key, "seeds") == 0) {
            const atl_value *items = c->value.kind == ATL_VAL_LIST ? c->value.items : &c->value;
            int n = c->value.kind == ATL_VAL_LIST ? c->value.n_items : 1;
            if (n < 1 || n > ATL_EXP_MAX_SEEDS)
                BAD("'seeds' needs 1 to %d seeds", ATL_EXP_MAX_SEEDS);
            e->n_seeds = 0;
            for (int k = 0; k < n; k++) {
                if (items[k].kind != ATL_VAL_INT || items[k].i < 0) {
                    atl_ir_report(d, e->cfg, ATL_SEV_ERROR, c->loc,
                                  "'seeds' must be non-negative integers");
                    break;
                }
                e->seeds[e->n_seeds++] = (uint64_t)items[k].i;
            }
        } else if (c->is_entry && strcmp(c->key, "methods") == 0) {
            if (c->value.kind != ATL_VAL_LIST || c->value.n_items == 0)
                BAD("'methods' must be a list such as [\"analog_tl\", \"digital_tl\"]");
            for (int m = 0; m < ATL_METHOD_COUNT; m++)
                e->methods[m] = false;
            for (int k = 0; k < c->value.n_items; k++) {
                const atl_value *v = &c->value.items[k];
                int found = -1;
                for (int m = 0; m < ATL_METHOD_COUNT; m++)
                    if (v->kind == ATL_VAL_STR && strcmp(v->s, method_names[m]) == 0)
                        found = m;
                if (found < 0) {
                    atl_ir_report(d, e->cfg, ATL_SEV_ERROR, c->loc,
                                  "unknown method (analog_tl, digital_tl, analog_scratch, "
                                  "digital_scratch)");
                    break;
                }
                e->methods[found] = true;
            }
        } else if (!c->is_entry && strcmp(c->key, "defines") == 0) {
            for (int k = 0; k < c->n_kids && e->n_defines < 64; k++) {
                char t[200];
                if (!c->kids[k].is_entry) {
                    atl_ir_report(d, e->cfg, ATL_SEV_ERROR, c->kids[k].loc,
                                  "defines holds NAME = VALUE entries");
                    continue;
                }
                value_text(&c->kids[k].value, t, sizeof t);
                snprintf(e->defines[e->n_defines++], sizeof e->defines[0], "%s=%s", c->kids[k].key,
                         t);
            }
        } else if (!c->is_entry && strcmp(c->key, "pretrain") == 0) {
            e->has_pretrain = true;
            phase_apply_section(&e->pretrain, c, e->cfg, d);
        } else if (!c->is_entry && strcmp(c->key, "finetune") == 0) {
            phase_apply_section(&e->finetune, c, e->cfg, d);
        } else if (!c->is_entry && strcmp(c->key, "task") == 0) {
            if (!c->label)
                BAD("a task needs a name: task \"2class\" { ... }");
            if (e->n_tasks == ATL_EXP_MAX_TASKS)
                BAD("at most %d tasks", ATL_EXP_MAX_TASKS);
            for (int t = 0; t < e->n_tasks; t++)
                if (strcmp(e->task_names[t], c->label) == 0)
                    atl_ir_report(d, e->cfg, ATL_SEV_ERROR, c->loc, "task '%s' defined twice",
                                  c->label);
            snprintf(e->task_names[e->n_tasks++], sizeof e->task_names[0], "%s", c->label);
        } else if (!c->is_entry && strcmp(c->key, "sweep") == 0) {
            for (int k = 0; k < c->n_kids; k++) {
                const atl_cfg *s = &c->kids[k];
                if (!s->is_entry) {
                    atl_ir_report(d, e->cfg, ATL_SEV_ERROR, s->loc,
                                  "a sweep holds PATH = [values]; entries");
                    continue;
                }
                if (strcmp(s->key, "mode") == 0) {
                    if (s->value.kind != ATL_VAL_STR ||
                        (strcmp(s->value.s, "grid") && strcmp(s->value.s, "zip")))
                        atl_ir_report(d, e->cfg, ATL_SEV_ERROR, s->loc,
                                      "sweep mode must be \"grid\" or \"zip\"");
                    else
                        e->zip = strcmp(s->value.s, "zip") == 0;
                    continue;
                }
                if (e->n_sweep == ATL_EXP_MAX_SWEEP) {
                    atl_ir_report(d, e->cfg, ATL_SEV_ERROR, s->loc, "at most %d swept parameters",
                                  ATL_EXP_MAX_SWEEP);
                    continue;
                }
                atl_sweep_param *sp = &e->sweep[e->n_sweep++];
                snprintf(sp->path, sizeof sp->path, "%s", s->key);
                if (s->value.kind == ATL_VAL_LIST) {
                    sp->values = s->value.items;
                    sp->n = s->value.n_items;
                } else {
                    sp->values = (atl_value *)&s->value;
                    sp->n = 1;
                }
                if (sp->n < 1)
                    atl_ir_report(d, e->cfg, ATL_SEV_ERROR, s->loc, "sweep '%s' has no values",
                                  s->key);
            }
        } else {
            BAD("unknown %s '%s' in experiment (name, model, defines, seeds, pretrain, finetune, "
                "task, methods, sweep)",
                c->is_entry ? "key" : "section", c->key);
        }
#undef BAD
    }
    if (!have_model)
        atl_ir_report(d, e->cfg, ATL_SEV_ERROR, sec->loc, "experiment needs `model = \"...\";`");
    for (const char *p = e->name; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.')) {
            atl_ir_report(d, e->cfg, ATL_SEV_ERROR, sec->loc,
                          "experiment name '%s' must be letters, digits, '_', '-', '.'", e->name);
            return -1;
        }
    if (e->n_tasks == 0)
        atl_ir_report(d, e->cfg, ATL_SEV_ERROR, sec->loc,
                      "experiment needs at least one `task \"NAME\" { data = \"...\"; }`");
    if (e->zip)
        for (int k = 1; k < e->n_sweep; k++)
            if (e->sweep[k].n != e->sweep[0].n)
                atl_diag_error(d, ATL_NO_SPAN,
                               "zip sweep: '%s' has %d values but '%s' has %d", e->sweep[k].path,
                               e->sweep[k].n, e->sweep[0].path, e->sweep[0].n);
    if ((e->methods[ATL_METHOD_ANALOG_TL] || e->methods[ATL_METHOD_DIGITAL_TL]) &&
        !e->has_pretrain)
        atl_diag_error(d, ATL_NO_SPAN,
                       "%s: the transfer-learning methods need a `pretrain { ... }` section", path);
    if (e->has_pretrain && !e->pretrain.data[0] && !e->pretrain.checkpoint[0])
        atl_diag_error(d, ATL_NO_SPAN, "%s: pretrain needs `data` or `checkpoint`", path);
    if (atl_diag_errors(d) > errs0)
        return -1;
    /* command-line overrides: folded into the experiment as if written in the file */
    for (int k = 0; k < n_overrides; k++) {
        const char *eq = strchr(overrides[k], '=');
        if (!eq || eq == overrides[k] || (size_t)(eq - overrides[k]) >= 256) {
            atl_diag_error(d, ATL_NO_SPAN, "--set expects PATH=VALUE, got '%s'", overrides[k]);
            return -1;
        }
        char p[256];
        memcpy(p, overrides[k], (size_t)(eq - overrides[k]));
        p[eq - overrides[k]] = '\0';
        atl_value v = atl_value_parse(&e->cfg->arena, eq + 1);
        char err[512];
        if (strncmp(p, "analog.", 7) == 0) {
            if (atl_cfg_set_path(e->cfg, p, v, err, sizeof err)) {
                atl_diag_error(d, ATL_NO_SPAN, "--set %s: %s", overrides[k], err);
                return -1;
            }
        } else if (strncmp(p, "defines.", 8) == 0) {
            char t[256];
            value_text(&v, t, sizeof t);
            if (e->n_defines < 64)
                snprintf(e->defines[e->n_defines++], sizeof e->defines[0], "%.60s=%.180s", p + 8, t);
        } else if (strncmp(p, "pretrain.", 9) == 0) {
            if (phase_set(&e->pretrain, p + 9, &v, err, sizeof err)) {
                atl_diag_error(d, ATL_NO_SPAN, "--set %s: %s", overrides[k], err);
                return -1;
            }
        } else if (strncmp(p, "finetune.", 9) == 0) {
            if (phase_set(&e->finetune, p + 9, &v, err, sizeof err)) {
                atl_diag_error(d, ATL_NO_SPAN, "--set %s: %s", overrides[k], err);
                return -1;
            }
        } else if (strcmp(p, "seeds") == 0 && v.kind == ATL_VAL_INT && v.i >= 0) {
            e->seeds[0] = (uint64_t)v.i;
            e->n_seeds = 1;
        } else {
            atl_diag_error(d, ATL_NO_SPAN,
                           "--set %s: not an experiment parameter (analog.*, defines.NAME, "
                           "pretrain.KEY, finetune.KEY, seeds)",
                           overrides[k]);
            return -1;
        }
    }
    /* the phases must resolve for every point */
    built b;
    if (build(e, NULL, 0, &b, d))
        return -1;
    return 0;
}

void atl_experiment_free(atl_experiment *e)
{
    atl_module_free(e->cfg);
    e->cfg = NULL;
}

int atl_experiment_points(const atl_experiment *e)
{
    if (e->n_sweep == 0)
        return 1;
    if (e->zip)
        return e->sweep[0].n;
    int n = 1;
    for (int k = 0; k < e->n_sweep; k++)
        n *= e->sweep[k].n;
    return n;
}

/* index of parameter k's value at point p (grid: the last parameter varies fastest) */
static int point_index(const atl_experiment *e, int p, int k)
{
    if (e->zip)
        return p;
    int stride = 1;
    for (int j = e->n_sweep - 1; j > k; j--)
        stride *= e->sweep[j].n;
    return (p / stride) % e->sweep[k].n;
}

void atl_experiment_point_value(const atl_experiment *e, int p, int k, char *buf, size_t n)
{
    value_text(&e->sweep[k].values[point_index(e, p, k)], buf, n);
}

static int point_ovrs(const atl_experiment *e, int point, ovr *o)
{
    int n = 0;
    for (int k = 0; point >= 0 && k < e->n_sweep; k++) {
        snprintf(o[n].path, sizeof o[n].path, "%s", e->sweep[k].path);
        o[n].v = e->sweep[k].values[point_index(e, point, k)];
        n++;
    }
    return n;
}

/* ---- files ------------------------------------------------------------------------------------ */

static int mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir(buf, 0755) && errno != EEXIST)
        return -1;
    return 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Write a JSON value atomically (temp + rename). */
static int write_json(json_t *j, const char *path, atl_diag *d)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    if (json_dump_file(j, tmp, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) || rename(tmp, path)) {
        remove(tmp);
        atl_diag_error(d, ATL_NO_SPAN, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

void atl_experiment_dir(const atl_experiment *e, const atl_run_opts *o, int point, char *buf,
                        size_t n)
{
    const char *runs = o && o->runs ? o->runs : "runs";
    if (point < 0)
        snprintf(buf, n, "%s/%s", runs, e->name);
    else
        snprintf(buf, n, "%s/%s/points/P%03d", runs, e->name, point);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ---- running ---------------------------------------------------------------------------------- */

static void opts_from_phase(atl_train_opts *t, const atl_experiment *e, const built *b,
                            const atl_phase *p, const char **defs, const char **reinit,
                            const char **sets, const char **configs)
{
    atl_train_opts_default(t);
    t->model = e->model;
    t->lower.batch = p->batch;
    int nd = 0;
    for (int i = 0; i < b->n_defines; i++)
        defs[nd++] = b->defines[i];
    t->lower.defines = defs;
    t->lower.n_defines = nd;
    t->data = p->data;
    t->eval_data = p->eval_data[0] ? p->eval_data : NULL;
    t->epochs = p->epochs;
    t->max_steps = p->max_steps;
    t->lr = p->lr;
    t->momentum = p->momentum;
    t->weight_decay = p->weight_decay;
    t->nesterov = p->nesterov;
    t->augment = p->augment;
    atl_schedule_parse(p->schedule, &t->sched, NULL, 0);
    t->sched.warmup = p->warmup;
    for (int i = 0; i < p->n_reinit; i++)
        reinit[i] = p->reinit[i];
    t->reinit = reinit;
    t->n_reinit = 0;
    for (int i = 0; i < b->n_analog_sets; i++)
        sets[i] = b->analog_sets[i];
    t->sets = sets;
    t->n_sets = b->n_analog_sets;
    configs[0] = e->file;
    t->configs = configs;
    t->n_configs = 1;
}

static json_t *phase_json(const atl_phase *p)
{
    json_t *r = json_pack("{s:s, s:s, s:i, s:I, s:I, s:f, s:f, s:f, s:b, s:b, s:s, s:I}", "data",
                          p->data, "eval_data", p->eval_data, "epochs", p->epochs, "max_steps",
                          (json_int_t)p->max_steps, "batch", (json_int_t)p->batch, "lr", p->lr,
                          "momentum", p->momentum, "weight_decay", p->weight_decay, "nesterov",
                          p->nesterov, "augment", p->augment, "schedule", p->schedule, "warmup",
                          (json_int_t)p->warmup);
    if (p->classes)
        json_object_set_new(r, "classes", json_integer(p->classes));
    return r;
}

static void device_param_cb(const char *name, double value, int is_bool, void *ud)
{
    json_object_set_new((json_t *)ud, name, is_bool ? json_boolean(value != 0) : json_real(value));
}

static int write_experiment_json(const atl_experiment *e, const built *b, int point,
                                 const char *dir, atl_diag *d)
{
    json_t *j = json_object();
    json_object_set_new(j, "experiment", json_string(e->name));
    json_object_set_new(j, "file", json_string(e->file));
    json_object_set_new(j, "model", json_string(e->model));
    json_t *defs = json_array();
    for (int i = 0; i < b->n_defines; i++)
        json_array_append_new(defs, json_string(b->defines[i]));
    json_object_set_new(j, "defines", defs);
    json_t *seeds = json_array();
    for (int i = 0; i < e->n_seeds; i++)
        json_array_append_new(seeds, json_integer((json_int_t)e->seeds[i]));
    json_object_set_new(j, "seeds", seeds);
    if (e->has_pretrain)
        json_object_set_new(j, "pretrain", phase_json(&b->pretrain));
    json_t *tasks = json_object();
    for (int t = 0; t < e->n_tasks; t++)
        json_object_set_new(tasks, e->task_names[t], phase_json(&b->tasks[t]));
    json_object_set_new(j, "tasks", tasks);
    json_t *methods = json_array();
    for (int m = 0; m < ATL_METHOD_COUNT; m++)
        if (e->methods[m])
            json_array_append_new(methods, json_string(method_names[m]));
    json_object_set_new(j, "methods", methods);
    json_t *params = json_object();
    for (int k = 0; point >= 0 && k < e->n_sweep; k++) {
        char t[256];
        atl_experiment_point_value(e, point, k, t, sizeof t);
        json_object_set_new(params, e->sweep[k].path, json_string(t));
    }
    json_object_set_new(j, "params", params);
    /* the analog set-up the analog methods use (first rule, after the overrides) */
    atl_module *m = atl_module_clone(e->cfg);
    for (int i = 0; i < b->n_analog_sets; i++) {
        char p[256], err[256];
        const char *eq = strchr(b->analog_sets[i], '=');
        snprintf(p, sizeof p, "%.*s", (int)(eq - b->analog_sets[i]), b->analog_sets[i]);
        atl_cfg_set_path(m, p, atl_value_parse(&m->arena, eq + 1), err, sizeof err);
    }
    atl_analog_rule rule;
    double tau = 0;
    if (atl_cfg_find(m, "analog") && atl_analog_rule_resolve(m, 0, &rule, NULL) == 0) {
        atl_analog_transfer_noise(m, &tau, NULL);
        json_t *an = json_pack("{s:s, s:s, s:f, s:I, s:I}", "device", rule.device,
                                      "algorithm", rule.algorithm, "transfer_noise", tau, "tile_rows",
                                      (json_int_t)rule.rows, "tile_cols", (json_int_t)rule.cols);
        /* the device as resolved (preset + overrides), for the report's device plot */
        json_t *dp = json_object();
        atl_dev_params_foreach(&rule.cfg.dev_a, device_param_cb, dp);
        json_object_set_new(an, "device_params", dp);
        json_object_set_new(j, "analog", an);
    }
    atl_module_free(m);
    char path[4200];
    snprintf(path, sizeof path, "%s/experiment.json", dir);
    int rc = write_json(j, path, d);
    json_decref(j);
    return rc;
}

static int run_phase(atl_train_opts *t, const char *what, const atl_run_opts *o,
                     atl_train_result *r, atl_diag *d)
{
    FILE *out = o->out ? o->out : stdout;
    t->quiet = o->quiet;
    t->progress = o->progress;
    t->backend = o->backend;
    t->out = out;
    if (!o->quiet)
        fprintf(out, "\n== %s\n", what);
    return atl_train(t, r, d);
}

int atl_experiment_run(const atl_experiment *e, int point, uint64_t seed, const atl_run_opts *o,
                       atl_diag *d)
{
    ovr ov[ATL_EXP_MAX_SWEEP];
    int nov = point_ovrs(e, point, ov);
    built b;
    if (build(e, ov, nov, &b, d))
        return 1;
    char dir[2048], top[2048];
    atl_experiment_dir(e, o, point, dir, sizeof dir);
    atl_experiment_dir(e, o, -1, top, sizeof top);
    if (mkdirs(dir)) {
        atl_diag_error(d, ATL_NO_SPAN, "cannot create '%s': %s", dir, strerror(errno));
        return 1;
    }
    if (write_experiment_json(e, &b, point, dir, d))
        return 1;
    const char *defs[80], *reinit[8], *sets[32], *configs[1];
    char pre_ckpt[4200] = "";
    /* 1. pretraining, shared by every point that has the same model, defines, settings, seed */
    if (e->has_pretrain) {
        if (b.pretrain.checkpoint[0]) {
            snprintf(pre_ckpt, sizeof pre_ckpt, "%s", b.pretrain.checkpoint);
        } else {
            uint64_t h = 1469598103934665603ull;
            h = fnv(h, e->model, strlen(e->model));
            for (int i = 0; i < b.n_defines; i++)
                h = fnv(h, b.defines[i], strlen(b.defines[i]));
            h = fnv(h, &b.pretrain, sizeof b.pretrain);
            char pdir[3000], done[4200], metrics[4200];
            snprintf(pdir, sizeof pdir, "%s/pretrain-%08llx-s%llu", top,
                     (unsigned long long)(h & 0xffffffffu), (unsigned long long)seed);
            snprintf(pre_ckpt, sizeof pre_ckpt, "%s/checkpoint.safetensors", pdir);
            snprintf(done, sizeof done, "%s/done.json", pdir);
            snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", pdir);
            if (!exists(done)) {
                if (mkdirs(pdir)) {
                    atl_diag_error(d, ATL_NO_SPAN, "cannot create '%s'", pdir);
                    return 1;
                }
                atl_train_opts t;
                opts_from_phase(&t, e, &b, &b.pretrain, defs, reinit, sets, configs);
                t.digital = true;
                t.n_sets = 0;
                t.seed = seed;
                t.save = pre_ckpt;
                t.log = metrics;
                atl_train_result r;
                char what[256];
                snprintf(what, sizeof what, "pretrain (seed %llu)", (unsigned long long)seed);
                int rc = run_phase(&t, what, o, &r, d);
                if (rc)
                    return rc;
                json_t *j = json_pack("{s:f, s:f, s:f, s:I, s:f}", "final_acc", r.test_acc,
                                      "best_acc", r.best_test_acc, "final_loss", r.test_loss,
                                      "steps", (json_int_t)r.steps, "seconds", r.seconds);
                rc = write_json(j, done, d);
                json_decref(j);
                if (rc)
                    return 1;
            } else if (!o->quiet) {
                fprintf(o->out ? o->out : stdout, "\n== pretrain (seed %llu): done before, %s\n",
                        (unsigned long long)seed, pre_ckpt);
            }
        }
    }
    /* 2. every task with every method */
    for (int t = 0; t < e->n_tasks; t++)
        for (int m = 0; m < ATL_METHOD_COUNT; m++) {
            if (!e->methods[m])
                continue;
            char rdir[3000], result[4200], metrics[4200], pulses[4200];
            snprintf(rdir, sizeof rdir, "%s/s%llu/%s/%s", dir, (unsigned long long)seed,
                     e->task_names[t], method_names[m]);
            snprintf(result, sizeof result, "%s/result.json", rdir);
            snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", rdir);
            snprintf(pulses, sizeof pulses, "%s/pulses.json", rdir);
            if (exists(result)) {
                if (!o->quiet)
                    fprintf(o->out ? o->out : stdout, "\n== %s / %s (seed %llu): done before\n",
                            e->task_names[t], method_names[m], (unsigned long long)seed);
                continue;
            }
            if (mkdirs(rdir)) {
                atl_diag_error(d, ATL_NO_SPAN, "cannot create '%s'", rdir);
                return 1;
            }
            const atl_phase *p = &b.tasks[t];
            atl_train_opts to;
            opts_from_phase(&to, e, &b, p, defs, reinit, sets, configs);
            char cls[64];
            if (p->classes) {
                snprintf(cls, sizeof cls, "classes=%d", p->classes);
                defs[to.lower.n_defines++] = cls;
            }
            bool analog = m == ATL_METHOD_ANALOG_TL || m == ATL_METHOD_ANALOG_SCRATCH;
            bool tl = m == ATL_METHOD_ANALOG_TL || m == ATL_METHOD_DIGITAL_TL;
            to.digital = !analog;
            if (!analog)
                to.n_sets = 0;
            if (tl) {
                to.init = pre_ckpt;
                to.n_reinit = p->n_reinit;
            }
            to.seed = seed;
            to.log = metrics;
            to.pulses_json = analog ? pulses : NULL;
            atl_train_result r;
            char what[512];
            snprintf(what, sizeof what, "%s / %s (seed %llu)", e->task_names[t], method_names[m],
                     (unsigned long long)seed);
            /* a failed earlier attempt may have left a partial metrics file: start it anew */
            remove(metrics);
            int rc = run_phase(&to, what, o, &r, d);
            if (rc)
                return rc;
            json_t *j = json_pack("{s:s, s:s, s:I, s:f, s:f, s:f, s:I, s:f}", "task",
                                  e->task_names[t], "method", method_names[m], "seed",
                                  (json_int_t)seed, "final_acc", r.test_acc, "best_acc",
                                  r.best_test_acc, "final_loss", r.test_loss, "steps",
                                  (json_int_t)r.steps, "seconds", r.seconds);
            json_t *params = json_object();
            for (int k = 0; k < nov; k++) {
                char v[256];
                value_text(&ov[k].v, v, sizeof v);
                json_object_set_new(params, ov[k].path, json_string(v));
            }
            json_object_set_new(j, "params", params);
            rc = write_json(j, result, d);
            json_decref(j);
            if (rc)
                return 1;
        }
    return 0;
}

/* ---- results ----------------------------------------------------------------------------------- */

typedef struct row {
    char task[64];
    const char *method;
    uint64_t seed;
    double final_acc, best_acc, final_loss, seconds;
    int64_t steps;
} row;

static int read_rows(const atl_experiment *e, int point, const atl_run_opts *o, row *rows,
                     int cap, int *n, atl_diag *d)
{
    char dir[2048];
    atl_experiment_dir(e, o, point, dir, sizeof dir);
    *n = 0;
    for (int s = 0; s < e->n_seeds; s++)
        for (int t = 0; t < e->n_tasks; t++)
            for (int m = 0; m < ATL_METHOD_COUNT; m++) {
                if (!e->methods[m])
                    continue;
                char path[4200];
                snprintf(path, sizeof path, "%s/s%llu/%s/%s/result.json", dir,
                         (unsigned long long)e->seeds[s], e->task_names[t], method_names[m]);
                json_error_t je;
                json_t *j = json_load_file(path, 0, &je);
                if (!j) {
                    atl_diag_error(d, ATL_NO_SPAN, "missing or unreadable result '%s': %s", path,
                                   je.text);
                    return -1;
                }
                if (*n == cap) {
                    json_decref(j);
                    return -1;
                }
                row *r = &rows[(*n)++];
                snprintf(r->task, sizeof r->task, "%s", e->task_names[t]);
                r->method = method_names[m];
                r->seed = e->seeds[s];
                r->final_acc = json_number_value(json_object_get(j, "final_acc"));
                r->best_acc = json_number_value(json_object_get(j, "best_acc"));
                r->final_loss = json_number_value(json_object_get(j, "final_loss"));
                r->seconds = json_number_value(json_object_get(j, "seconds"));
                r->steps = json_integer_value(json_object_get(j, "steps"));
                json_decref(j);
            }
    return 0;
}

int atl_experiment_gather(const atl_experiment *e, int point, const atl_run_opts *o,
                          bool print_table, atl_diag *d)
{
    int cap = e->n_seeds * e->n_tasks * ATL_METHOD_COUNT;
    row *rows = calloc((size_t)cap, sizeof *rows);
    int n = 0;
    if (!rows)
        abort();
    if (read_rows(e, point, o, rows, cap, &n, d)) {
        free(rows);
        return 1;
    }
    char dir[2048], path[4200];
    atl_experiment_dir(e, o, point, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/results.json", dir);
    json_t *j = json_object();
    json_object_set_new(j, "experiment", json_string(e->name));
    json_t *params = json_object();
    for (int k = 0; point >= 0 && k < e->n_sweep; k++) {
        char t[256];
        atl_experiment_point_value(e, point, k, t, sizeof t);
        json_object_set_new(params, e->sweep[k].path, json_string(t));
    }
    json_object_set_new(j, "params", params);
    json_t *runs = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(
            runs, json_pack("{s:s, s:s, s:I, s:f, s:f, s:f, s:I, s:f}", "task", rows[i].task,
                            "method", rows[i].method, "seed", (json_int_t)rows[i].seed,
                            "final_acc", rows[i].final_acc, "best_acc", rows[i].best_acc,
                            "final_loss", rows[i].final_loss, "steps", (json_int_t)rows[i].steps,
                            "seconds", rows[i].seconds));
    json_object_set_new(j, "runs", runs);
    int rc = write_json(j, path, d);
    json_decref(j);
    if (rc == 0 && print_table) {
        FILE *out = o->out ? o->out : stdout;
        fprintf(out, "\nresults of %s (test accuracy, mean +- std over %d seed%s)\n", e->name,
                e->n_seeds, e->n_seeds == 1 ? "" : "s");
        fprintf(out, "  %-12s %-16s %16s %16s\n", "task", "method", "final", "best");
        for (int t = 0; t < e->n_tasks; t++)
            for (int m = 0; m < ATL_METHOD_COUNT; m++) {
                if (!e->methods[m])
                    continue;
                double s1 = 0, s2 = 0, b1 = 0, b2 = 0;
                int k = 0;
                for (int i = 0; i < n; i++)
                    if (strcmp(rows[i].task, e->task_names[t]) == 0 &&
                        rows[i].method == method_names[m]) {
                        s1 += rows[i].final_acc;
                        s2 += rows[i].final_acc * rows[i].final_acc;
                        b1 += rows[i].best_acc;
                        b2 += rows[i].best_acc * rows[i].best_acc;
                        k++;
                    }
                double mf = s1 / k, mb = b1 / k;
                double sf = k > 1 ? sqrt(fmax(0, (s2 - k * mf * mf) / (k - 1))) : 0;
                double sb = k > 1 ? sqrt(fmax(0, (b2 - k * mb * mb) / (k - 1))) : 0;
                fprintf(out, "  %-12s %-16s %7.4f +- %-6.4f %7.4f +- %-6.4f\n", e->task_names[t],
                        method_names[m], mf, sf, mb, sb);
            }
        fprintf(out, "written %s\n", path);
    }
    free(rows);
    return rc ? 1 : 0;
}

static void csv_field(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
}

void atl_experiment_csv_header(const atl_experiment *e, FILE *f)
{
    fputs("point,seed", f);
    for (int k = 0; k < e->n_sweep; k++) {
        fputc(',', f);
        csv_field(f, e->sweep[k].path);
    }
    fputs(",task,method,final_acc,best_acc,final_loss,steps,seconds\n", f);
}

int atl_experiment_csv(const atl_experiment *e, int point, const atl_run_opts *o, FILE *f,
                       bool header, atl_diag *d)
{
    if (header)
        atl_experiment_csv_header(e, f);
    int cap = e->n_seeds * e->n_tasks * ATL_METHOD_COUNT;
    row *rows = calloc((size_t)cap, sizeof *rows);
    int n = 0;
    if (!rows)
        abort();
    if (read_rows(e, point, o, rows, cap, &n, d)) {
        free(rows);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        fprintf(f, "%d,%llu", point < 0 ? 0 : point, (unsigned long long)rows[i].seed);
        for (int k = 0; k < e->n_sweep; k++) {
            char t[256];
            atl_experiment_point_value(e, point < 0 ? 0 : point, k, t, sizeof t);
            fputc(',', f);
            csv_field(f, t);
        }
        fputc(',', f);
        csv_field(f, rows[i].task);
        fprintf(f, ",%s,%.6g,%.6g,%.6g,%lld,%.3f\n", rows[i].method, rows[i].final_acc,
                rows[i].best_acc, rows[i].final_loss, (long long)rows[i].steps, rows[i].seconds);
    }
    free(rows);
    return 0;
}
