/* Training and evaluation drivers (see train.h). */
#include "train.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atl/data.h"
#include "atl/kernels.h"
#include "atl/safetensors.h"
#include "analog_config.h"
#include "exec.h"
#include "pass.h"

/* ---- schedules ------------------------------------------------------------------------------ */

int atl_schedule_parse(const char *s, atl_schedule *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (strcmp(s, "constant") == 0) {
        out->kind = ATL_SCHED_CONSTANT;
        return 0;
    }
    if (strcmp(s, "cosine") == 0) {
        out->kind = ATL_SCHED_COSINE;
        return 0;
    }
    if (strncmp(s, "step:", 5) == 0) {
        char *end;
        out->kind = ATL_SCHED_STEP;
        out->step_epochs = strtod(s + 5, &end);
        if (*end == ':') {
            out->gamma = strtod(end + 1, &end);
            if (*end == '\0' && out->step_epochs > 0 && out->gamma > 0 && out->gamma <= 1)
                return 0;
        }
    }
    snprintf(err, errlen,
             "unknown schedule '%s' (constant, cosine, or step:EPOCHS:GAMMA with EPOCHS > 0 and "
             "0 < GAMMA <= 1)",
             s);
    return -1;
}

double atl_schedule_lr(const atl_schedule *s, double base, int64_t step, int64_t per_epoch,
                       int64_t total)
{
    double lr = base;
    switch (s->kind) {
    case ATL_SCHED_CONSTANT:
        break;
    case ATL_SCHED_STEP: {
        double epoch = per_epoch > 0 ? (double)step / (double)per_epoch : 0;
        lr = base * pow(s->gamma, floor(epoch / s->step_epochs));
        break;
    }
    case ATL_SCHED_COSINE: {
        int64_t t = step - s->warmup, T = total - s->warmup;
        if (T > 0 && t >= 0)
            lr = base * 0.5 * (1.0 + cos(M_PI * (double)t / (double)T));
        break;
    }
    }
    if (s->warmup > 0 && step < s->warmup)
        lr = base * (double)(step + 1) / (double)s->warmup;
    return lr;
}

/* ---- checkpoints ----------------------------------------------------------------------------- */

int atl_checkpoint_save(const atl_params *ps, const atl_analog *an, bool with_optim,
                        const char *path, const char *const *meta_kv, int n_meta, char *err,
                        size_t errlen)
{
    int n_an = atl_analog_count(an);
    size_t cap = (size_t)ps->n * 2 + (size_t)n_an + 1;
    atl_st_tensor *t = calloc(cap, sizeof *t);
    atl_st_kv *kv = calloc((size_t)(n_meta ? n_meta : 1), sizeof *kv);
    char **names = calloc(cap, sizeof *names);
    void **blobs = calloc((size_t)(n_an ? n_an : 1), sizeof *blobs);
    if (!t || !kv || !names || !blobs)
        abort();
    size_t n = 0;
    int rc = -1;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < ps->n; i++) {
            if (pass == 1 && (!with_optim || !ps->momentum[i]))
                continue;
            if (pass == 1) {
                size_t len = strlen(ps->names[i]) + 32;
                names[n] = malloc(len);
                snprintf(names[n], len, "optim.momentum.%s", ps->names[i]);
            }
            t[n].name = pass ? names[n] : ps->names[i];
            t[n].dtype = ATL_ST_F32;
            t[n].ndim = ps->types[i].rank;
            for (int k = 0; k < t[n].ndim; k++)
                t[n].shape[k] = ps->types[i].dims[k];
            t[n].data = pass ? ps->momentum[i] : ps->data[i];
            n++;
        }
    for (int k = 0; k < n_an; k++) {
        atl_tile *tile = atl_analog_tile((atl_analog *)an, k);
        size_t size = atl_tile_state_size(tile), len = 0;
        blobs[k] = malloc(size ? size : 1);
        if (!blobs[k])
            abort();
        if (atl_tile_save(tile, blobs[k], size, &len, err, errlen))
            goto out;
        size_t nl = strlen(atl_analog_name(an, k)) + 32;
        names[n] = malloc(nl);
        snprintf(names[n], nl, "analog.state.%s", atl_analog_name(an, k));
        t[n].name = names[n];
        t[n].dtype = ATL_ST_U8;
        t[n].ndim = 1;
        t[n].shape[0] = (int64_t)len;
        t[n].data = blobs[k];
        n++;
    }
    for (int k = 0; k < n_meta; k++) {
        kv[k].key = meta_kv[2 * k];
        kv[k].value = meta_kv[2 * k + 1];
    }
    rc = atl_st_save(path, t, n, kv, (size_t)n_meta, err, errlen);
out:
    for (size_t i = 0; i < cap; i++)
        free(names[i]);
    for (int k = 0; k < n_an; k++)
        free(blobs[k]);
    free(names);
    free(blobs);
    free(t);
    free(kv);
    return rc;
}

int atl_params_save(const atl_params *ps, const char *path, const char *const *meta_kv,
                    int n_meta, char *err, size_t errlen)
{
    return atl_checkpoint_save(ps, NULL, false, path, meta_kv, n_meta, err, errlen);
}

static bool skipped(const char *name, const char *const *skip, int n_skip)
{
    for (int k = 0; k < n_skip; k++)
        if (atl_st_name_matches(name, skip[k]))
            return true;
    return false;
}

/* Load parameters (all but the skipped ones) from a checkpoint; with `resume`, also the
 * optimiser state and the analog tiles' states, and the step. Every problem is listed. */
static int checkpoint_load(atl_params *ps, atl_analog *an, const char *path,
                           const char *const *skip, int n_skip, bool resume, int64_t *step,
                           char *err, size_t errlen)
{
    atl_st_file *f = NULL;
    if (atl_st_open(path, &f, err, errlen))
        return -1;
    char *msg = NULL;
    size_t msglen = 0;
    FILE *ms = open_memstream(&msg, &msglen);
    int problems = 0;
    for (int i = 0; i < ps->n; i++) {
        if (skipped(ps->names[i], skip, n_skip))
            continue;
        const atl_st_info *ti = atl_st_find(f, ps->names[i]);
        if (!ti) {
            fprintf(ms, "%s\n  missing tensor \"%s\"", problems++ ? "" : "", ps->names[i]);
            continue;
        }
        bool shape_ok = ti->dtype == ATL_ST_F32 && ti->ndim == ps->types[i].rank;
        for (int k = 0; shape_ok && k < ti->ndim; k++)
            shape_ok = ti->shape[k] == ps->types[i].dims[k];
        if (!shape_ok) {
            char a[96];
            fprintf(ms, "\n  \"%s\": the model wants %s, the checkpoint has %s[", ps->names[i],
                    atl_type_str(&ps->types[i], a, sizeof a), atl_st_dtype_name(ti->dtype));
            for (int k = 0; k < ti->ndim; k++)
                fprintf(ms, k ? ",%lld" : "%lld", (long long)ti->shape[k]);
            fputc(']', ms);
            problems++;
        }
    }
    for (size_t j = 0; j < atl_st_count(f); j++) {
        const char *nm = atl_st_at(f, j)->name;
        if (strncmp(nm, "optim.", 6) == 0 || strncmp(nm, "analog.state.", 13) == 0)
            continue;
        if (atl_params_find(ps, nm) < 0 && !skipped(nm, skip, n_skip) && n_skip == 0) {
            fprintf(ms, "\n  unexpected tensor \"%s\" (not a parameter of this model)", nm);
            problems++;
        }
    }
    fclose(ms);
    if (problems) {
        snprintf(err, errlen, "%s does not fit the model:%s%s", path, msg ? msg : "",
                 n_skip ? "" : "\n  (to start a new head from a checkpoint, use --reinit head)");
        free(msg);
        atl_st_close(f);
        return -1;
    }
    free(msg);
    for (int i = 0; i < ps->n; i++) {
        if (skipped(ps->names[i], skip, n_skip))
            continue;
        const atl_st_info *ti = atl_st_find(f, ps->names[i]);
        if (atl_st_read(f, ti, ps->data[i], sizeof(float) * (size_t)atl_type_numel(&ps->types[i]),
                        err, errlen))
            goto fail;
    }
    if (resume) {
        for (int i = 0; i < ps->n; i++) {
            char nm[600];
            snprintf(nm, sizeof nm, "optim.momentum.%s", ps->names[i]);
            const atl_st_info *ti = atl_st_find(f, nm);
            if (!ti)
                continue;
            size_t bytes = sizeof(float) * (size_t)atl_type_numel(&ps->types[i]);
            if (!ps->momentum[i]) {
                ps->momentum[i] = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
                if (!ps->momentum[i])
                    abort();
            }
            if (atl_st_read(f, ti, ps->momentum[i], bytes, err, errlen))
                goto fail;
            ps->mom_started[i] = true;
        }
        for (int t = 0; t < atl_analog_count(an); t++) {
            char nm[600];
            snprintf(nm, sizeof nm, "analog.state.%s", atl_analog_name(an, t));
            const atl_st_info *ti = atl_st_find(f, nm);
            if (!ti) {
                snprintf(err, errlen, "%s: no state for analog tile \"%s\" (not a checkpoint of "
                                      "this analog model)",
                         path, atl_analog_name(an, t));
                goto fail;
            }
            size_t len = (size_t)atl_st_numel(ti);
            void *buf = malloc(len ? len : 1);
            if (!buf)
                abort();
            if (atl_st_read(f, ti, buf, len, err, errlen)) {
                free(buf);
                goto fail;
            }
            char e2[512];
            atl_tile *tile = atl_tile_load(buf, len, e2, sizeof e2);
            free(buf);
            if (!tile) {
                snprintf(err, errlen, "%s: analog tile \"%s\": %s", path, atl_analog_name(an, t),
                         e2);
                goto fail;
            }
            if (atl_analog_replace_tile(an, t, tile, err, errlen)) {
                atl_tile_destroy(tile);
                goto fail;
            }
        }
        const char *st = atl_st_meta_get(f, "step");
        *step = st ? strtoll(st, NULL, 10) : 0;
    }
    atl_st_close(f);
    return 0;
fail:
    atl_st_close(f);
    return -1;
}

int atl_params_load(atl_params *ps, const char *path, const char *const *skip, int n_skip,
                    char *err, size_t errlen)
{
    int64_t step;
    return checkpoint_load(ps, NULL, path, skip, n_skip, false, &step, err, errlen);
}

/* ---- compilation ----------------------------------------------------------------------------- */

static atl_module *compile_step(const atl_train_opts *o, bool training, bool digital,
                                atl_diag *d)
{
    atl_module *m = atl_compile_file(d, o->model, &o->lower);
    if (!m)
        return NULL;
    if (atl_apply_overrides(d, m, o->configs, o->n_configs, o->sets, o->n_sets, digital)) {
        atl_module_free(m);
        return NULL;
    }
    if (training) {
        atl_cfg *opt = atl_cfg_add_section(m, NULL, "optimizer", NULL, ATL_NO_LOC);
        atl_cfg_add_entry(m, opt, "momentum", (atl_value){.kind = ATL_VAL_FLOAT, .f = o->momentum},
                          ATL_NO_LOC);
        atl_cfg_add_entry(m, opt, "nesterov", (atl_value){.kind = ATL_VAL_BOOL, .b = o->nesterov},
                          ATL_NO_LOC);
        atl_cfg_add_entry(m, opt, "weight_decay",
                          (atl_value){.kind = ATL_VAL_FLOAT, .f = o->weight_decay}, ATL_NO_LOC);
    }
    atl_pipeline pl;
    atl_pipeline_init(&pl);
    pl.time_passes = o->time_passes;
    const char *passes = training ? "expand,shapes,verify,dce,cse,autodiff,analog-map,noise,"
                                    "optimizer,dce,cse,fuse,schedule,verify"
                                  : "expand,shapes,verify,dce,cse,analog-map,noise,dce,cse,"
                                    "fuse,schedule,verify";
    if (atl_pipeline_parse(&pl, passes, d) || atl_pipeline_run(&pl, m, d)) {
        atl_module_free(m);
        return NULL;
    }
    return m;
}

typedef struct model_io {
    atl_type x, y, logits;
    int classes;
} model_io;

static bool find_io(const atl_module *m, model_io *io, atl_diag *d)
{
    const atl_func *f = &m->funcs[0];
    bool hx = false, hy = false, hl = false, hloss = false;
    for (int i = 0; i < f->n_nodes; i++) {
        const atl_node *n = &f->nodes[i];
        if (n->op != ATL_OP_INPUT)
            continue;
        const char *nm = atl_node_attr_str(n, "name");
        if (strcmp(nm, "x") == 0) {
            io->x = n->type;
            hx = true;
        } else if (strcmp(nm, "y") == 0) {
            io->y = n->type;
            hy = true;
        }
    }
    for (int k = 0; k < f->n_outputs; k++) {
        if (!f->output_names[k])
            continue;
        if (strcmp(f->output_names[k], "logits") == 0) {
            io->logits = f->nodes[f->outputs[k]].type;
            hl = true;
        } else if (strcmp(f->output_names[k], "loss") == 0)
            hloss = true;
    }
    if (!hx || !hy || !hl || !hloss) {
        atl_diag_error(d, ATL_NO_SPAN,
                       "%s: a trainable classifier needs inputs `x` (images) and `y` (labels) and "
                       "outputs `loss` and `logits`",
                       m->sources[0]);
        return false;
    }
    if (io->x.dtype != ATL_F32 || io->x.rank != 4 || io->y.dtype != ATL_I32 || io->y.rank != 1 ||
        io->logits.rank != 2 || io->logits.dims[0] != io->x.dims[0] ||
        io->y.dims[0] != io->x.dims[0]) {
        char a[96], b[96], c[96];
        atl_diag_error(d, ATL_NO_SPAN,
                       "%s: expected x: f32[B,C,H,W], y: i32[B], logits: f32[B,classes]; got x: "
                       "%s, y: %s, logits: %s",
                       m->sources[0], atl_type_str(&io->x, a, sizeof a),
                       atl_type_str(&io->y, b, sizeof b), atl_type_str(&io->logits, c, sizeof c));
        return false;
    }
    io->classes = (int)io->logits.dims[1];
    return true;
}

static bool check_data(const atl_dataset *ds, const model_io *io, const char *what, atl_diag *d)
{
    if (ds->c != io->x.dims[1] || ds->h != io->x.dims[2] || ds->w != io->x.dims[3]) {
        atl_diag_error(d, ATL_NO_SPAN,
                       "%s data '%s' has %dx%dx%d images but the model expects %lldx%lldx%lld",
                       what, ds->name, ds->c, ds->h, ds->w, (long long)io->x.dims[1],
                       (long long)io->x.dims[2], (long long)io->x.dims[3]);
        return false;
    }
    if (ds->num_classes > io->classes) {
        atl_diag_error(d, ATL_NO_SPAN,
                       "%s data '%s' has %d classes but the model has only %d outputs (set "
                       "-D classes=%d)",
                       what, ds->name, ds->num_classes, io->classes, ds->num_classes);
        return false;
    }
    return true;
}

/* ---- executors ----------------------------------------------------------------------------- */

/* A step's executor: the interpreter or the backend of the options (exec.h). */
typedef struct exe {
    const atl_exec_ops *ops;
    void *e;
} exe;

static int exe_create(exe *x, const atl_train_opts *o, const atl_module *m, atl_params *ps,
                      atl_analog *an, char *err, size_t errlen)
{
    x->ops = o->backend.ops ? o->backend.ops : atl_exec_interp_ops();
    if (!(x->e = x->ops->create(o->backend.ctx, m, ps, err, errlen)))
        return -1;
    return an ? x->ops->set_analog(x->e, an, err, errlen) : 0;
}

static void exe_free(exe *x)
{
    if (x->e)
        x->ops->destroy(x->e);
    x->e = NULL;
}

/* ---- evaluation ------------------------------------------------------------------------------ */

/* Loss (mean cross entropy) and accuracy over a whole split, computed on the host from the
 * logits of the valid rows of each batch (the last batch is padded). */
static int eval_loop(exe *ip, const model_io *io, const atl_dataset *ds, int threads,
                     atl_eval_result *r, char *err, size_t errlen)
{
    int64_t B = io->x.dims[0];
    int classes = io->classes;
    memset(r, 0, sizeof *r);
    r->classes = classes;
    r->confusion = calloc((size_t)classes * (size_t)classes, sizeof *r->confusion);
    float *x = aligned_alloc(64, ((size_t)atl_type_numel(&io->x) * 4 + 63) & ~(size_t)63);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)B);
    if (!r->confusion || !x || !y)
        abort();
    atl_loader l;
    atl_loader_opts lo = atl_loader_opts_eval(B);
    lo.n_threads = threads;
    if (atl_loader_init(&l, ds, &lo, err, errlen)) {
        free(x);
        free(y);
        return -1;
    }
    ip->ops->bind(ip->e, "x", x);
    ip->ops->bind(ip->e, "y", y);
    double loss = 0;
    int64_t correct = 0, n = 0;
    for (int64_t b = 0; b < atl_loader_num_batches(&l); b++) {
        int64_t valid = atl_loader_fill(&l, b, x, y);
        for (int64_t i = valid; i < B; i++)
            y[i] = 0; /* padding rows: any valid label; they are not counted */
        if (ip->ops->run(ip->e, err, errlen)) {
            atl_loader_fini(&l);
            free(x);
            free(y);
            return -1;
        }
        const float *z = ip->ops->output(ip->e, "logits", NULL);
        for (int64_t i = 0; i < valid; i++) {
            const float *zi = z + i * classes;
            int arg = 0;
            double mx = zi[0];
            for (int c = 1; c < classes; c++)
                if (zi[c] > mx) {
                    mx = zi[c];
                    arg = c;
                }
            double s = 0;
            for (int c = 0; c < classes; c++)
                s += exp((double)zi[c] - mx);
            loss += mx + log(s) - (double)zi[y[i]];
            correct += arg == y[i];
            r->confusion[(size_t)y[i] * (size_t)classes + (size_t)arg]++;
            n++;
        }
    }
    atl_loader_fini(&l);
    free(x);
    free(y);
    r->n = n;
    r->loss = n ? loss / (double)n : NAN;
    r->acc = n ? (double)correct / (double)n : NAN;
    return 0;
}

void atl_eval_result_free(atl_eval_result *r)
{
    free(r->confusion);
    r->confusion = NULL;
}

/* ---- helpers --------------------------------------------------------------------------------- */

void atl_train_opts_default(atl_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->lower.batch = 8;
    o->data = "synthetic:classes=10";
    o->epochs = 1;
    o->lr = 0.01;
    o->momentum = 0.9;
    o->augment = true;
    o->seed = 1;
    o->threads = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void fmt_eta(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 359999)
        s = 0;
    long t = (long)(s + 0.5);
    snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

/* Everything a run needs: the compiled steps, data, parameters (fresh, from --init, or from
 * --resume) and the analog tiles (programmed from the digital weights with the transfer noise, or
 * restored). */
typedef struct run {
    atl_module *mt, *me;
    model_io io;
    atl_params *ps;
    atl_analog *an;
    atl_dataset *train, *test;
    int64_t start_step;
    double tau;
} run;

static void run_free(run *r)
{
    atl_analog_free(r->an);
    atl_params_free(r->ps);
    atl_dataset_free(r->train);
    atl_dataset_free(r->test);
    atl_module_free(r->mt);
    atl_module_free(r->me);
    memset(r, 0, sizeof *r);
}

static int setup(const atl_train_opts *o, bool training, run *r, atl_diag *d)
{
    char err[4096];
    memset(r, 0, sizeof *r);
    if (training && !(r->mt = compile_step(o, true, o->digital, d)))
        return 1;
    if (!(r->me = compile_step(o, false, o->digital, d)))
        return 1;
    if (!find_io(r->me, &r->io, d))
        return 1;
    if (training && atl_dataset_open(o->data, ATL_SPLIT_TRAIN, o->threads, &r->train, err,
                                     sizeof err)) {
        atl_diag_error(d, ATL_NO_SPAN, "%s", err);
        return 1;
    }
    if (training && !check_data(r->train, &r->io, "training", d))
        return 1;
    if (!training || !o->no_eval) {
        const char *spec = o->eval_data ? o->eval_data : o->data;
        if (atl_dataset_open(spec, ATL_SPLIT_TEST, o->threads, &r->test, err, sizeof err)) {
            atl_diag_error(d, ATL_NO_SPAN, "%s", err);
            return 1;
        }
        if (!check_data(r->test, &r->io, "evaluation", d))
            return 1;
    }
    const atl_module *shape = r->mt ? r->mt : r->me;
    r->ps = atl_params_create(shape, o->seed);
    if (shape->funcs[0].n_tiles > 0) {
        if (atl_analog_transfer_noise(shape, &r->tau, d))
            return 1;
        if (!(r->an = atl_analog_create(shape, o->seed, err, sizeof err))) {
            atl_diag_error(d, ATL_NO_SPAN, "%s", err);
            return 1;
        }
    }
    const char *ck = o->resume ? o->resume : o->init;
    if (ck && checkpoint_load(r->ps, r->an, ck, o->resume ? NULL : o->reinit,
                              o->resume ? 0 : o->n_reinit, o->resume != NULL, &r->start_step, err,
                              sizeof err)) {
        atl_diag_error(d, ATL_NO_SPAN, "%s", err);
        return 1;
    }
    /* weight transfer: digital weights -> tiles, with tau (decision 2); a resumed run has the
     * tiles' own state instead */
    if (r->an && !o->resume && atl_analog_program(r->an, r->ps, r->tau, err, sizeof err)) {
        atl_diag_error(d, ATL_NO_SPAN, "%s", err);
        return 1;
    }
    return 0;
}

static json_t *eval_json(const atl_eval_result *r)
{
    return json_pack("{s:f, s:f, s:I}", "loss", r->loss, "acc", r->acc, "n", (json_int_t)r->n);
}

/* Per analog weight: its tiles, device and algorithm (before) or pulse counts (after). */
static void analog_summary(const run *r, FILE *out, bool after)
{
    const atl_func *f = &r->mt->funcs[0];
    for (int p = 0; p < f->n_params; p++) {
        int n_tiles = 0, rule = -1;
        atl_tile_counters sum;
        memset(&sum, 0, sizeof sum);
        for (int t = 0; t < f->n_tiles; t++) {
            if (strcmp(f->tiles[t].param, f->params[p].name) != 0)
                continue;
            n_tiles++;
            rule = f->tiles[t].rule;
            if (after) {
                atl_tile_counters c;
                atl_tile_get_counters(atl_analog_tile(r->an, atl_analog_find(r->an, f->tiles[t].name)),
                                      &c);
                sum.updates += c.updates;
                sum.pulses_up_a += c.pulses_up_a;
                sum.pulses_down_a += c.pulses_down_a;
                sum.pulses_up_c += c.pulses_up_c;
                sum.pulses_down_c += c.pulses_down_c;
                sum.transfers += c.transfers;
            }
        }
        if (!n_tiles)
            continue;
        char shp[64];
        atl_type_str(&f->params[p].type, shp, sizeof shp);
        if (!after) {
            atl_analog_rule ar;
            if (atl_analog_rule_resolve(r->mt, rule, &ar, NULL))
                continue;
            fprintf(out, "  analog %-40s %s: %d tile%s, %s (%.0f states), %s\n", f->params[p].name,
                    shp + 3, n_tiles, n_tiles == 1 ? "" : "s", ar.device,
                    atl_dev_n_states(&ar.cfg.dev_a), ar.algorithm);
        } else {
            fprintf(out, "  pulses %-40s A +%llu -%llu  C +%llu -%llu  transfers %llu\n",
                    f->params[p].name, (unsigned long long)sum.pulses_up_a,
                    (unsigned long long)sum.pulses_down_a, (unsigned long long)sum.pulses_up_c,
                    (unsigned long long)sum.pulses_down_c, (unsigned long long)sum.transfers);
        }
    }
}

/* Per analog weight: tiles and summed counters, as a JSON object (docs/EXPERIMENTS.md). */
static int write_pulses_json(const run *r, const char *path, char *err, size_t errlen)
{
    const atl_func *f = &r->mt->funcs[0];
    json_t *root = json_object();
    for (int p = 0; p < f->n_params; p++) {
        atl_tile_counters sum;
        memset(&sum, 0, sizeof sum);
        int n = 0;
        for (int t = 0; t < f->n_tiles; t++) {
            if (strcmp(f->tiles[t].param, f->params[p].name) != 0)
                continue;
            atl_tile_counters c;
            atl_tile_get_counters(atl_analog_tile(r->an, atl_analog_find(r->an, f->tiles[t].name)),
                                  &c);
            sum.updates += c.updates;
            sum.pulses_up_a += c.pulses_up_a;
            sum.pulses_down_a += c.pulses_down_a;
            sum.pulses_up_c += c.pulses_up_c;
            sum.pulses_down_c += c.pulses_down_c;
            sum.transfers += c.transfers;
            sum.c_writes += c.c_writes;
            n++;
        }
        if (!n)
            continue;
        json_object_set_new(
            root, f->params[p].name,
            json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "tiles", n, "updates",
                      (json_int_t)sum.updates, "pulses_up_a", (json_int_t)sum.pulses_up_a,
                      "pulses_down_a", (json_int_t)sum.pulses_down_a, "pulses_up_c",
                      (json_int_t)sum.pulses_up_c, "pulses_down_c", (json_int_t)sum.pulses_down_c,
                      "transfers", (json_int_t)sum.transfers, "c_writes",
                      (json_int_t)sum.c_writes));
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = json_dump_file(root, tmp, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(root);
    if (rc || rename(tmp, path)) {
        remove(tmp);
        snprintf(err, errlen, "cannot write '%s'", path);
        return -1;
    }
    return 0;
}

/* ---- training -------------------------------------------------------------------------------- */

int atl_train(const atl_train_opts *o, atl_train_result *res, atl_diag *d)
{
    FILE *out = o->out ? o->out : stdout;
    run R;
    exe it = {0}, ie = {0};
    FILE *log = NULL;
    float *x = NULL;
    int32_t *y = NULL;
    atl_loader l;
    bool loader_ok = false;
    char err[1024];
    int rc = 1;
    memset(res, 0, sizeof *res);
    res->test_loss = res->test_acc = res->best_test_acc = NAN;
    /* BLAS stays single-threaded whatever --threads says: a threaded sgemm may split sums
     * differently and break bit-reproducibility (threads go to data loading) */
    atl_k_init(1);
    if (o->epochs < 1 && o->max_steps <= 0) {
        atl_diag_error(d, ATL_NO_SPAN, "nothing to train: --epochs must be >= 1");
        return 1;
    }
    if (setup(o, true, &R, d))
        goto done;
    if (exe_create(&it, o, R.mt, R.ps, R.an, err, sizeof err) ||
        exe_create(&ie, o, R.me, R.ps, R.an, err, sizeof err)) {
        atl_diag_error(d, ATL_NO_SPAN, "internal error: %s", err);
        rc = 3;
        goto done;
    }
    model_io io = R.io;
    int64_t B = io.x.dims[0];
    atl_loader_opts lo = atl_loader_opts_train(B, o->seed);
    lo.crop = lo.flip = o->augment;
    lo.n_threads = o->threads;
    lo.drop_last = true;
    if (atl_loader_init(&l, R.train, &lo, err, sizeof err)) {
        atl_diag_error(d, ATL_NO_SPAN, "%s", err);
        goto done;
    }
    loader_ok = true;
    int64_t per_epoch = atl_loader_num_batches(&l);
    if (per_epoch < 1) {
        atl_diag_error(d, ATL_NO_SPAN, "the training data has fewer images (%lld) than a batch "
                                       "(%lld)",
                       (long long)R.train->n, (long long)B);
        goto done;
    }
    int64_t total = per_epoch * o->epochs;
    if (o->max_steps > 0 && o->max_steps < total)
        total = o->max_steps;
    if (R.start_step > total) {
        atl_diag_error(d, ATL_NO_SPAN, "the checkpoint is at step %lld, past the %lld steps of "
                                       "this run",
                       (long long)R.start_step, (long long)total);
        goto done;
    }
    if (o->log && !(log = fopen(o->log, o->resume ? "a" : "w"))) {
        atl_diag_error(d, ATL_NO_SPAN, "cannot write '%s'", o->log);
        goto done;
    }
    x = aligned_alloc(64, ((size_t)atl_type_numel(&io.x) * 4 + 63) & ~(size_t)63);
    y = malloc(sizeof(int32_t) * (size_t)B);
    if (!x || !y)
        abort();
    float lr_value = 0;
    if (getenv("ATL_PROFILE"))
        it.ops->set_profile(it.e, true);
    it.ops->bind(it.e, "x", x);
    it.ops->bind(it.e, "y", y);
    it.ops->bind(it.e, "lr", &lr_value);
    if (!o->quiet) {
        fprintf(out, "training %s on %s: %lld parameters, %lld steps/epoch, batch %lld, lr %g\n",
                R.mt->name, R.train->name, (long long)atl_params_count(R.ps),
                (long long)per_epoch, (long long)B, o->lr);
        if (R.an) {
            fprintf(out, "analog layers (transfer noise %g):\n", R.tau);
            analog_summary(&R, out, false);
        }
        if (R.start_step)
            fprintf(out, "resuming at step %lld\n", (long long)R.start_step);
    }
    double t0 = now_s(), last_draw = 0;
    int64_t step = R.start_step, first = R.start_step;
    int epoch = (int)(step / per_epoch);
    for (; epoch < o->epochs && step < total; epoch++) {
        atl_loader_set_epoch(&l, (uint64_t)epoch);
        double loss_sum = 0;
        int64_t correct = 0, seen = 0;
        double te = now_s();
        for (int64_t b = step - (int64_t)epoch * per_epoch; b < per_epoch && step < total;
             b++, step++) {
            atl_loader_fill(&l, b, x, y);
            lr_value = (float)atl_schedule_lr(&o->sched, o->lr, step, per_epoch, total);
            if (it.ops->run(it.e, err, sizeof err)) {
                atl_diag_error(d, ATL_NO_SPAN, "internal error: %s", err);
                rc = 3;
                goto done;
            }
            float loss = *(const float *)it.ops->output(it.e, "loss", NULL);
            if (!isfinite(loss)) {
                atl_diag_error(d, ATL_NO_SPAN,
                               "training diverged at epoch %d step %lld (loss %g); try a smaller "
                               "--lr",
                               epoch + 1, (long long)step, (double)loss);
                goto done;
            }
            const float *z = it.ops->output(it.e, "logits", NULL);
            for (int64_t i = 0; i < B; i++) {
                const float *zi = z + i * io.classes;
                int arg = 0;
                for (int c = 1; c < io.classes; c++)
                    if (zi[c] > zi[arg])
                        arg = c;
                correct += arg == y[i];
            }
            loss_sum += loss;
            seen += B;
            double now = now_s();
            if (o->progress && !o->quiet && (now - last_draw > 0.2 || b + 1 == per_epoch)) {
                last_draw = now;
                double ips = (double)(step + 1 - first) * (double)B / (now - t0);
                char eta[32];
                fmt_eta(eta, sizeof eta, (double)(total - step - 1) * (double)B / ips);
                int w = 20, done_w = (int)((b + 1) * w / per_epoch);
                fprintf(out, "\repoch %d/%d [%.*s%*s] %lld/%lld loss %.4f acc %.3f %.0f img/s ETA %s ",
                        epoch + 1, o->epochs, done_w, "====================", w - done_w, "",
                        (long long)(b + 1), (long long)per_epoch, loss_sum / (double)(seen / B),
                        (double)correct / (double)seen, ips, eta);
                fflush(out);
            }
        }
        int64_t nb = seen / B;
        res->train_loss = nb ? loss_sum / (double)nb : NAN;
        res->train_acc = seen ? (double)correct / (double)seen : NAN;
        atl_eval_result er = {0};
        bool have_eval = false;
        if (R.test) {
            atl_analog_snapshot *snap = R.an ? atl_analog_snapshot_take(R.an) : NULL;
            int erc = eval_loop(&ie, &io, R.test, o->threads, &er, err, sizeof err);
            if (snap && erc == 0)
                erc = atl_analog_snapshot_restore(R.an, snap, err, sizeof err);
            atl_analog_snapshot_free(snap);
            if (erc) {
                atl_diag_error(d, ATL_NO_SPAN, "%s", err);
                atl_eval_result_free(&er);
                goto done;
            }
            have_eval = true;
            res->test_loss = er.loss;
            res->test_acc = er.acc;
            if (!(er.acc <= res->best_test_acc))
                res->best_test_acc = er.acc;
        }
        double el = now_s() - te;
        if (o->progress && !o->quiet)
            fputc('\n', out);
        if (!o->quiet) {
            fprintf(out, "epoch %d/%d: train loss %.4f acc %.4f", epoch + 1, o->epochs,
                    res->train_loss, res->train_acc);
            if (have_eval)
                fprintf(out, " | test loss %.4f acc %.4f", er.loss, er.acc);
            fprintf(out, " | %.1f s, %.0f img/s\n", el, (double)seen / el);
            fflush(out);
        }
        if (log) {
            json_t *j = json_pack("{s:i, s:I, s:f, s:f, s:f, s:f, s:f}", "epoch", epoch + 1,
                                  "step", (json_int_t)step, "lr",
                                  atl_schedule_lr(&o->sched, o->lr, step > 0 ? step - 1 : 0,
                                                  per_epoch, total),
                                  "train_loss", res->train_loss, "train_acc", res->train_acc,
                                  "time_s", el, "images_per_s", (double)seen / el);
            if (have_eval)
                json_object_set_new(j, "test", eval_json(&er));
            json_dumpf(j, log, JSON_COMPACT | JSON_REAL_PRECISION(17));
            fputc('\n', log);
            fflush(log);
            json_decref(j);
        }
        atl_eval_result_free(&er);
    }
    if (getenv("ATL_PROFILE"))
        it.ops->print_profile(it.e, stderr);
    res->steps = step;
    res->epochs = epoch;
    res->seconds = now_s() - t0;
    res->images_per_s = res->seconds > 0 ? (double)(step - first) * (double)B / res->seconds : 0;
    if (R.an && !o->quiet) {
        fprintf(out, "analog pulses:\n");
        analog_summary(&R, out, true);
    }
    if (R.an && o->pulses_json && write_pulses_json(&R, o->pulses_json, err, sizeof err)) {
        atl_diag_error(d, ATL_NO_SPAN, "%s", err);
        goto done;
    }
    if (o->save) {
        const atl_source *src = NULL;
        for (int i = 0; i < d->n_sources; i++)
            if (strcmp(d->sources[i]->path, o->model) == 0)
                src = d->sources[i];
        char hash[32], st[32], ep[32], cfg[1024], tau[32];
        snprintf(hash, sizeof hash, "%016llx",
                 (unsigned long long)(src ? fnv1a(src->text, src->len) : 0));
        snprintf(st, sizeof st, "%lld", (long long)step);
        snprintf(ep, sizeof ep, "%d", epoch);
        snprintf(tau, sizeof tau, "%g", R.tau);
        snprintf(cfg, sizeof cfg,
                 "{\"data\": \"%s\", \"batch\": %lld, \"lr\": %g, \"momentum\": %g, "
                 "\"weight_decay\": %g, \"seed\": %llu, \"analog_tiles\": %d}",
                 o->data, (long long)B, o->lr, o->momentum, o->weight_decay,
                 (unsigned long long)o->seed, atl_analog_count(R.an));
        const char *meta[] = {"format", "atl", "model", o->model, "model_name", R.mt->name,
                              "model_hash_fnv1a64", hash, "step", st, "epoch", ep,
                              "transfer_noise", tau, "config", cfg};
        /* the digital tensors of analog weights hold what the tiles hold (apparent weights) */
        if (R.an)
            atl_analog_read_back(R.an, R.ps);
        if (atl_checkpoint_save(R.ps, R.an, true, o->save, meta, 8, err, sizeof err)) {
            atl_diag_error(d, ATL_NO_SPAN, "%s", err);
            goto done;
        }
        if (!o->quiet)
            fprintf(out, "saved %s\n", o->save);
    }
    rc = 0;
done:
    if (log)
        fclose(log);
    if (loader_ok)
        atl_loader_fini(&l);
    free(x);
    free(y);
    exe_free(&it);
    exe_free(&ie);
    run_free(&R);
    return rc;
}

int atl_eval(const atl_train_opts *o, atl_eval_result *r, atl_diag *d)
{
    run R;
    exe ie = {0}, idl = {0};
    atl_module *mdig = NULL;
    char err[1024];
    int rc = 1;
    memset(r, 0, sizeof *r);
    r->ideal_loss = r->ideal_acc = NAN;
    atl_k_init(1);
    /* an analog checkpoint evaluates the analog forward path with the tiles it saved */
    atl_train_opts oo = *o;
    if (o->init && !o->resume) {
        atl_st_file *f = NULL;
        if (atl_st_open(o->init, &f, err, sizeof err) == 0) {
            for (size_t j = 0; j < atl_st_count(f); j++)
                if (strncmp(atl_st_at(f, j)->name, "analog.state.", 13) == 0 && !o->digital) {
                    oo.resume = o->init;
                    break;
                }
            atl_st_close(f);
        }
    }
    if (setup(&oo, false, &R, d))
        goto done;
    if (exe_create(&ie, &oo, R.me, R.ps, R.an, err, sizeof err)) {
        atl_diag_error(d, ATL_NO_SPAN, "internal error: %s", err);
        rc = 3;
        goto done;
    }
    if (eval_loop(&ie, &R.io, R.test, o->threads, r, err, sizeof err)) {
        atl_diag_error(d, ATL_NO_SPAN, "%s", err);
        goto done;
    }
    r->ideal_loss = r->ideal_acc = NAN;
    if (R.an) {
        /* the same weights, read back from the tiles, evaluated digitally (no IO noise) */
        atl_eval_result ideal;
        atl_analog_read_back(R.an, R.ps);
        if (!(mdig = compile_step(o, false, true, d)))
            goto done;
        if (exe_create(&idl, o, mdig, R.ps, NULL, err, sizeof err)) {
            atl_diag_error(d, ATL_NO_SPAN, "internal error: %s", err);
            rc = 3;
            goto done;
        }
        if (eval_loop(&idl, &R.io, R.test, o->threads, &ideal, err, sizeof err)) {
            atl_diag_error(d, ATL_NO_SPAN, "%s", err);
            goto done;
        }
        r->ideal_loss = ideal.loss;
        r->ideal_acc = ideal.acc;
        atl_eval_result_free(&ideal);
    }
    rc = 0;
done:
    exe_free(&ie);
    exe_free(&idl);
    atl_module_free(mdig);
    run_free(&R);
    return rc;
}
