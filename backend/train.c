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

int atl_params_save(const atl_params *ps, const char *path, const char *const *meta_kv,
                    int n_meta, char *err, size_t errlen)
{
    atl_st_tensor *t = calloc((size_t)(ps->n ? ps->n : 1), sizeof *t);
    atl_st_kv *kv = calloc((size_t)(n_meta ? n_meta : 1), sizeof *kv);
    if (!t || !kv)
        abort();
    for (int i = 0; i < ps->n; i++) {
        t[i].name = ps->names[i];
        t[i].dtype = ATL_ST_F32;
        t[i].ndim = ps->types[i].rank;
        for (int k = 0; k < t[i].ndim; k++)
            t[i].shape[k] = ps->types[i].dims[k];
        t[i].data = ps->data[i];
    }
    for (int k = 0; k < n_meta; k++) {
        kv[k].key = meta_kv[2 * k];
        kv[k].value = meta_kv[2 * k + 1];
    }
    int rc = atl_st_save(path, t, (size_t)ps->n, kv, (size_t)n_meta, err, errlen);
    free(t);
    free(kv);
    return rc;
}

int atl_params_load(atl_params *ps, const char *path, const char *const *skip, int n_skip,
                    char *err, size_t errlen)
{
    atl_st_tensor *t = calloc((size_t)(ps->n ? ps->n : 1), sizeof *t);
    if (!t)
        abort();
    for (int i = 0; i < ps->n; i++) {
        t[i].name = ps->names[i];
        t[i].dtype = ATL_ST_F32;
        t[i].ndim = ps->types[i].rank;
        for (int k = 0; k < t[i].ndim; k++)
            t[i].shape[k] = ps->types[i].dims[k];
        t[i].data = ps->data[i];
    }
    size_t loaded = 0;
    /* a re-initialised head may be absent from or shaped differently in the checkpoint */
    int rc = atl_st_load(path, t, (size_t)ps->n, skip, (size_t)n_skip,
                         n_skip ? ATL_ST_LOAD_ALLOW_UNEXPECTED : 0, &loaded, err, errlen);
    free(t);
    return rc;
}

/* ---- compilation ----------------------------------------------------------------------------- */

static atl_module *compile_step(const atl_train_opts *o, bool training, atl_diag *d)
{
    atl_module *m = atl_compile_file(d, o->model, &o->lower);
    if (!m)
        return NULL;
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
    const char *passes = training ? "expand,shapes,verify,dce,cse,autodiff,optimizer,dce,schedule,"
                                    "verify"
                                  : "expand,shapes,verify,dce,cse,schedule,verify";
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

/* ---- evaluation ------------------------------------------------------------------------------ */

/* Loss (mean cross entropy) and accuracy over a whole split, computed on the host from the
 * logits of the valid rows of each batch (the last batch is padded). */
static int eval_loop(atl_interp *ip, const model_io *io, const atl_dataset *ds, int threads,
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
    atl_interp_bind(ip, "x", x);
    atl_interp_bind(ip, "y", y);
    double loss = 0;
    int64_t correct = 0, n = 0;
    for (int64_t b = 0; b < atl_loader_num_batches(&l); b++) {
        int64_t valid = atl_loader_fill(&l, b, x, y);
        for (int64_t i = valid; i < B; i++)
            y[i] = 0; /* padding rows: any valid label; they are not counted */
        if (atl_interp_run(ip, err, errlen)) {
            atl_loader_fini(&l);
            free(x);
            free(y);
            return -1;
        }
        const float *z = atl_interp_output(ip, "logits", NULL);
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

static int setup(const atl_train_opts *o, bool training, atl_module **mt, atl_module **me,
                 model_io *io, atl_params **ps, atl_dataset **train, atl_dataset **test,
                 atl_diag *d)
{
    char err[1024];
    *mt = *me = NULL;
    *ps = NULL;
    *train = *test = NULL;
    if (training && !(*mt = compile_step(o, true, d)))
        return 1;
    if (!(*me = compile_step(o, false, d)))
        return 1;
    if (!find_io(*me, io, d))
        return 1;
    if (training && atl_dataset_open(o->data, ATL_SPLIT_TRAIN, o->threads, train, err,
                                     sizeof err)) {
        atl_diag_error(d, ATL_NO_SPAN, "%s", err);
        return 1;
    }
    if (training && !check_data(*train, io, "training", d))
        return 1;
    if (!training || !o->no_eval) {
        const char *spec = o->eval_data ? o->eval_data : o->data;
        if (atl_dataset_open(spec, ATL_SPLIT_TEST, o->threads, test, err, sizeof err)) {
            atl_diag_error(d, ATL_NO_SPAN, "%s", err);
            return 1;
        }
        if (!check_data(*test, io, "evaluation", d))
            return 1;
    }
    *ps = atl_params_create(*me, o->seed);
    if (o->init && atl_params_load(*ps, o->init, o->reinit, o->n_reinit, err, sizeof err)) {
        atl_diag_error(d, ATL_NO_SPAN, "%s", err);
        return 1;
    }
    return 0;
}

static json_t *eval_json(const atl_eval_result *r)
{
    return json_pack("{s:f, s:f, s:I}", "loss", r->loss, "acc", r->acc, "n", (json_int_t)r->n);
}

/* ---- training -------------------------------------------------------------------------------- */

int atl_train(const atl_train_opts *o, atl_train_result *res, atl_diag *d)
{
    FILE *out = o->out ? o->out : stdout;
    atl_module *mt = NULL, *me = NULL;
    atl_params *ps = NULL;
    atl_dataset *train = NULL, *test = NULL;
    atl_interp *it = NULL, *ie = NULL;
    FILE *log = NULL;
    float *x = NULL;
    int32_t *y = NULL;
    atl_loader l;
    bool loader_ok = false;
    model_io io;
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
    if (setup(o, true, &mt, &me, &io, &ps, &train, &test, d))
        goto done;
    if (!(it = atl_interp_create(mt, ps, err, sizeof err)) ||
        !(ie = atl_interp_create(me, ps, err, sizeof err))) {
        atl_diag_error(d, ATL_NO_SPAN, "internal error: %s", err);
        rc = 3;
        goto done;
    }
    int64_t B = io.x.dims[0];
    atl_loader_opts lo = atl_loader_opts_train(B, o->seed);
    lo.crop = lo.flip = o->augment;
    lo.n_threads = o->threads;
    lo.drop_last = true;
    if (atl_loader_init(&l, train, &lo, err, sizeof err)) {
        atl_diag_error(d, ATL_NO_SPAN, "%s", err);
        goto done;
    }
    loader_ok = true;
    int64_t per_epoch = atl_loader_num_batches(&l);
    if (per_epoch < 1) {
        atl_diag_error(d, ATL_NO_SPAN, "the training data has fewer images (%lld) than a batch "
                                       "(%lld)",
                       (long long)train->n, (long long)B);
        goto done;
    }
    int64_t total = per_epoch * o->epochs;
    if (o->max_steps > 0 && o->max_steps < total)
        total = o->max_steps;
    if (o->log && !(log = fopen(o->log, "w"))) {
        atl_diag_error(d, ATL_NO_SPAN, "cannot write '%s'", o->log);
        goto done;
    }
    x = aligned_alloc(64, ((size_t)atl_type_numel(&io.x) * 4 + 63) & ~(size_t)63);
    y = malloc(sizeof(int32_t) * (size_t)B);
    if (!x || !y)
        abort();
    float lr_value = 0;
    if (getenv("ATL_PROFILE"))
        atl_interp_set_profile(it, true);
    atl_interp_bind(it, "x", x);
    atl_interp_bind(it, "y", y);
    atl_interp_bind(it, "lr", &lr_value);
    if (!o->quiet)
        fprintf(out, "training %s on %s: %lld parameters, %lld steps/epoch, batch %lld, lr %g\n",
                mt->name, train->name, (long long)atl_params_count(ps), (long long)per_epoch,
                (long long)B, o->lr);
    double t0 = now_s(), last_draw = 0;
    int64_t step = 0;
    int epoch = 0;
    for (epoch = 0; epoch < o->epochs && step < total; epoch++) {
        atl_loader_set_epoch(&l, (uint64_t)epoch);
        double loss_sum = 0;
        int64_t correct = 0, seen = 0;
        double te = now_s();
        for (int64_t b = 0; b < per_epoch && step < total; b++, step++) {
            atl_loader_fill(&l, b, x, y);
            lr_value = (float)atl_schedule_lr(&o->sched, o->lr, step, per_epoch, total);
            if (atl_interp_run(it, err, sizeof err)) {
                atl_diag_error(d, ATL_NO_SPAN, "internal error: %s", err);
                rc = 3;
                goto done;
            }
            float loss = *(const float *)atl_interp_output(it, "loss", NULL);
            if (!isfinite(loss)) {
                atl_diag_error(d, ATL_NO_SPAN,
                               "training diverged at epoch %d step %lld (loss %g); try a smaller "
                               "--lr",
                               epoch + 1, (long long)step, (double)loss);
                goto done;
            }
            const float *z = atl_interp_output(it, "logits", NULL);
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
                double ips = (double)(step + 1) * (double)B / (now - t0);
                char eta[32];
                fmt_eta(eta, sizeof eta, (double)(total - step - 1) * (double)B / ips);
                int w = 20, done_w = (int)((b + 1) * w / per_epoch);
                fprintf(out, "\repoch %d/%d [%.*s%*s] %lld/%lld loss %.4f acc %.3f %.0f img/s ETA %s ",
                        epoch + 1, o->epochs, done_w, "====================", w - done_w, "",
                        (long long)(b + 1), (long long)per_epoch, loss_sum / (double)(b + 1),
                        (double)correct / (double)seen, ips, eta);
                fflush(out);
            }
        }
        int64_t nb = seen / B;
        res->train_loss = nb ? loss_sum / (double)nb : NAN;
        res->train_acc = seen ? (double)correct / (double)seen : NAN;
        atl_eval_result er = {0};
        bool have_eval = false;
        if (test) {
            if (eval_loop(ie, &io, test, o->threads, &er, err, sizeof err)) {
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
        atl_interp_print_profile(it, stderr);
    res->steps = step;
    res->epochs = epoch;
    res->seconds = now_s() - t0;
    res->images_per_s = res->seconds > 0 ? (double)step * (double)B / res->seconds : 0;
    if (o->save) {
        const atl_source *src = NULL;
        for (int i = 0; i < d->n_sources; i++)
            if (strcmp(d->sources[i]->path, o->model) == 0)
                src = d->sources[i];
        char hash[32], st[32], ep[32], cfg[512];
        snprintf(hash, sizeof hash, "%016llx",
                 (unsigned long long)(src ? fnv1a(src->text, src->len) : 0));
        snprintf(st, sizeof st, "%lld", (long long)step);
        snprintf(ep, sizeof ep, "%d", epoch);
        snprintf(cfg, sizeof cfg,
                 "{\"data\": \"%s\", \"batch\": %lld, \"lr\": %g, \"momentum\": %g, "
                 "\"weight_decay\": %g, \"seed\": %llu}",
                 o->data, (long long)B, o->lr, o->momentum, o->weight_decay,
                 (unsigned long long)o->seed);
        const char *meta[] = {"format", "atl", "model", o->model, "model_name", mt->name,
                              "model_hash_fnv1a64", hash, "step", st, "epoch", ep,
                              "config", cfg};
        if (atl_params_save(ps, o->save, meta, 7, err, sizeof err)) {
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
    atl_interp_free(it);
    atl_interp_free(ie);
    atl_params_free(ps);
    atl_dataset_free(train);
    atl_dataset_free(test);
    atl_module_free(mt);
    atl_module_free(me);
    return rc;
}

int atl_eval(const atl_train_opts *o, atl_eval_result *r, atl_diag *d)
{
    atl_module *mt = NULL, *me = NULL;
    atl_params *ps = NULL;
    atl_dataset *train = NULL, *test = NULL;
    atl_interp *ie = NULL;
    model_io io;
    char err[1024];
    int rc = 1;
    memset(r, 0, sizeof *r);
    /* BLAS stays single-threaded whatever --threads says: a threaded sgemm may split sums
     * differently and break bit-reproducibility (threads go to data loading) */
    atl_k_init(1);
    if (setup(o, false, &mt, &me, &io, &ps, &train, &test, d))
        goto done;
    if (!(ie = atl_interp_create(me, ps, err, sizeof err))) {
        atl_diag_error(d, ATL_NO_SPAN, "internal error: %s", err);
        rc = 3;
        goto done;
    }
    if (eval_loop(ie, &io, test, o->threads, r, err, sizeof err)) {
        atl_diag_error(d, ATL_NO_SPAN, "%s", err);
        goto done;
    }
    rc = 0;
done:
    atl_interp_free(ie);
    atl_params_free(ps);
    atl_dataset_free(train);
    atl_dataset_free(test);
    atl_module_free(mt);
    atl_module_free(me);
    return rc;
}
