/* atlc train | eval */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "jit.h"
#include "train.h"

static const char *train_help =
    "usage: atlc train MODEL.atl [options]\n"
    "\n"
    "Train a model digitally with SGD on a data set; evaluate on its test split after every\n"
    "epoch. The model needs inputs x: f32[B,C,H,W], y: i32[B] and outputs loss, logits.\n"
    "\n"
    "data:\n"
    "  --data SPEC          training data (default synthetic:classes=10):\n"
    "                       synthetic:classes=10 | cifar10:DIR | cifar100:DIR:classes=3,42 |\n"
    "                       npy:X.npy,Y.npy   (options: per_class=N, n=N, seed=S, ...)\n"
    "  --eval-data SPEC     evaluation data (default: the test split of --data)\n"
    "  --no-eval            do not evaluate\n"
    "  --no-augment         no random crop / flip on training batches\n"
    "optimisation:\n"
    "  --epochs N           (default 1)          --max-steps N    stop after N steps\n"
    "  --batch N            batch size B (default 8)\n"
    "  --lr X               learning rate (default 0.01)\n"
    "  --momentum X         (default 0.9)        --nesterov\n"
    "  --weight-decay X     (default 0)\n"
    "  --schedule S         constant (default) | cosine | step:EPOCHS:GAMMA\n"
    "  --warmup N           linear warm-up over N steps\n"
    "  --seed S             initialisation, shuffling, augmentation (default 1)\n"
    "checkpoints and logs:\n"
    "  --init CKPT          start from a safetensors checkpoint (analog layers are programmed\n"
    "                       from its digital weights with analog.transfer_noise)\n"
    "  --resume CKPT        continue the run saved in CKPT (with its optimiser and analog tile\n"
    "                       state and step) bit-exactly; give the same options as the first run\n"
    "  --reinit PATTERN     re-initialise these parameters instead of loading them (e.g. head;\n"
    "                       repeatable): the transfer-learning step\n"
    "  --save CKPT          write the trained parameters (atomically)\n"
    "  --log FILE           metrics as JSON lines, one per epoch\n"
    "model:\n"
    "  -D NAME=VALUE        override a model parameter (e.g. -D classes=2)\n"
    "  --config FILE        take the configuration sections (e.g. `analog { ... }`) of FILE;\n"
    "                       they replace the model's (repeatable)\n"
    "  --set PATH=VALUE     override a configuration entry, e.g. --set analog.transfer_noise=0.1,\n"
    "                       --set analog.device=reram_sb, --set analog.io.out_noise=0.1\n"
    "  --digital            ignore the model's analog section (all layers digital)\n"
    "  --model NAME         which model of the file\n"
    "other:\n"
    "  --threads N          threads for BLAS and data loading (results do not depend on it)\n"
    "  --backend B          jit (default): the LLVM-compiled step; interp: the reference\n"
    "                       interpreter (both give the same results)\n"
    "  --time-passes        time the pass pipelines and the JIT's compilation (stderr);\n"
    "                       ATL_DUMP_DIR=DIR writes what the JIT compiles (.ll, .s)\n"
    "  --quiet              no progress output\n";

static const char *eval_help =
    "usage: atlc eval MODEL.atl --init CKPT [options]\n"
    "\n"
    "Evaluate a checkpoint on the test split of a data set: accuracy, loss, confusion counts.\n"
    "\n"
    "An analog model is evaluated on its tiles (with their IO noise; the tiles' saved state when\n"
    "the checkpoint has one) and also with the same weights read back and run digitally.\n"
    "\n"
    "options: --data SPEC, --eval-data SPEC, --batch N, -D NAME=VALUE, --model NAME,\n"
    "         --config FILE, --set PATH=VALUE, --digital, --threads N, --json,\n"
    "         --backend jit|interp, --time-passes\n";

/* Shared option parsing. Returns 1 if consumed, 0 if not an option of ours, -1 on error. */
static int train_option(cli_args *a, atl_train_opts *o, const char **defines, const char **reinit,
                        const char **sets, const char **configs)
{
    if (cli_is(a, "--config"))
        return cli_push(a, configs, &o->n_configs, 16);
    if (cli_is(a, "--set"))
        return cli_push(a, sets, &o->n_sets, 256);
    if (cli_is(a, "--digital")) {
        o->digital = true;
        return 1;
    }
    long long v;
    double f;
    if (cli_is(a, "--data"))
        return (o->data = cli_value(a)) ? 1 : -1;
    if (cli_is(a, "--eval-data"))
        return (o->eval_data = cli_value(a)) ? 1 : -1;
    if (cli_is(a, "--init"))
        return (o->init = cli_value(a)) ? 1 : -1;
    if (cli_is(a, "--model"))
        return (o->lower.model_name = cli_value(a)) ? 1 : -1;
    if (cli_is(a, "--batch")) {
        if (!cli_int(a, 1, 1 << 16, &v))
            return -1;
        o->lower.batch = v;
        return 1;
    }
    if (cli_is(a, "--threads")) {
        if (!cli_int(a, 1, 256, &v))
            return -1;
        o->threads = (int)v;
        return 1;
    }
    if (cli_is(a, "-D") || cli_is(a, "--define"))
        return cli_push(a, defines, &o->lower.n_defines, 256);
    if (cli_is(a, "--epochs")) {
        if (!cli_int(a, 1, 1000000, &v))
            return -1;
        o->epochs = (int)v;
        return 1;
    }
    if (cli_is(a, "--max-steps")) {
        if (!cli_int(a, 1, INT64_MAX / 2, &v))
            return -1;
        o->max_steps = v;
        return 1;
    }
    if (cli_is(a, "--seed")) {
        if (!cli_int(a, 0, INT64_MAX, &v))
            return -1;
        o->seed = (uint64_t)v;
        return 1;
    }
    if (cli_is(a, "--lr") || cli_is(a, "--momentum") || cli_is(a, "--weight-decay")) {
        bool is_lr = cli_is(a, "--lr"), is_m = cli_is(a, "--momentum");
        if (!cli_double(a, &f))
            return -1;
        if (!isfinite(f) || f < 0 || (is_lr && f == 0) || (is_m && f >= 1)) {
            cli_usage_error(a->cmd, "%s out of range: %g", a->name, f);
            return -1;
        }
        *(is_lr ? &o->lr : is_m ? &o->momentum : &o->weight_decay) = f;
        return 1;
    }
    if (cli_is(a, "--schedule")) {
        const char *s = cli_value(a);
        char err[256];
        if (!s)
            return -1;
        int64_t warm = o->sched.warmup;
        if (atl_schedule_parse(s, &o->sched, err, sizeof err)) {
            cli_usage_error(a->cmd, "%s", err);
            return -1;
        }
        o->sched.warmup = warm;
        return 1;
    }
    if (cli_is(a, "--warmup")) {
        if (!cli_int(a, 0, INT64_MAX / 2, &v))
            return -1;
        o->sched.warmup = v;
        return 1;
    }
    if (cli_is(a, "--reinit"))
        return cli_push(a, reinit, &o->n_reinit, 64);
    if (cli_is(a, "--nesterov")) {
        o->nesterov = true;
        return 1;
    }
    if (cli_is(a, "--no-augment")) {
        o->augment = false;
        return 1;
    }
    if (cli_is(a, "--no-eval")) {
        o->no_eval = true;
        return 1;
    }
    if (cli_is(a, "--quiet")) {
        o->quiet = true;
        return 1;
    }
    if (cli_is(a, "--backend")) {
        const char *s = cli_value(a);
        if (!s)
            return -1;
        if (strcmp(s, "jit") && strcmp(s, "interp")) {
            cli_usage_error(a->cmd, "--backend must be jit or interp, got '%s'", s);
            return -1;
        }
        o->backend.ops = strcmp(s, "jit") == 0 ? atl_exec_jit_ops() : atl_exec_interp_ops();
        return 1;
    }
    if (cli_is(a, "--time-passes")) {
        o->time_passes = true;
        return 1;
    }
    return 0;
}

/* The JIT backend (the default) needs a session for the run's steps; it shares their kernels. */
static atl_jit_session *backend_start(atl_train_opts *o, atl_diag *d)
{
    if (!o->backend.ops)
        o->backend.ops = atl_exec_jit_ops();
    if (o->backend.ops != atl_exec_jit_ops())
        return NULL;
    char err[1024];
    atl_jit_opts jo = {.time_passes = o->time_passes};
    atl_jit_session *s = atl_jit_session_create(&jo, err, sizeof err);
    if (!s) {
        atl_diag_error(d, ATL_NO_SPAN, "%s (use --backend=interp)", err);
        return NULL;
    }
    o->backend.ctx = s;
    return s;
}

/* The option lists an atl_train_opts points into. */
typedef struct {
    const char *defines[256], *reinit[64], *sets[256], *configs[16];
} train_lists;

/* Options only one command takes: 1 consumed, 0 not ours, -1 error. */
typedef int (*extra_option_fn)(cli_args *a, atl_train_opts *o, void *ctx);

/* The shared scan of train and eval: --help, the common options, the extras, one model file.
 * Returns -1 to go on, or the exit code. */
static int scan_args(int argc, char **argv, const char *cmd, const char *help, atl_train_opts *o,
                     train_lists *l, extra_option_fn extra, void *ctx)
{
    cli_args a;
    cli_args_init(&a, argc, argv, cmd);
    atl_train_opts_default(o);
    o->lower.defines = l->defines;
    o->reinit = l->reinit;
    o->sets = l->sets;
    o->configs = l->configs;
    while (cli_next(&a)) {
        int r;
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) {
            fputs(help, stdout);
            return ATL_EXIT_OK;
        }
        if ((r = train_option(&a, o, l->defines, l->reinit, l->sets, l->configs)) == 0)
            r = extra(&a, o, ctx);
        if (r < 0)
            return ATL_EXIT_USAGE;
        if (r > 0)
            continue;
        if (!cli_positional(&a))
            return cli_unknown(&a);
        if (o->model) {
            cli_usage_error(cmd, "only one model file");
            return ATL_EXIT_USAGE;
        }
        o->model = a.cur;
    }
    if (a.error)
        return ATL_EXIT_USAGE;
    if (!o->model) {
        cli_usage_error(cmd, "no model file");
        return ATL_EXIT_USAGE;
    }
    return -1;
}

static int train_extra(cli_args *a, atl_train_opts *o, void *ctx)
{
    (void)ctx;
    const char **dst = cli_is(a, "--resume") ? &o->resume
                       : cli_is(a, "--save") ? &o->save
                       : cli_is(a, "--log")  ? &o->log
                                             : NULL;
    if (!dst)
        return 0;
    return (*dst = cli_value(a)) ? 1 : -1;
}

static int eval_extra(cli_args *a, atl_train_opts *o, void *ctx)
{
    (void)o;
    if (!cli_is(a, "--json"))
        return 0;
    *(bool *)ctx = true;
    return 1;
}

int cmd_train(int argc, char **argv)
{
    atl_train_opts o;
    train_lists l;
    int ec = scan_args(argc, argv, "train", train_help, &o, &l, train_extra, NULL);
    if (ec >= 0)
        return ec;
    if (o.nesterov && o.momentum == 0) {
        cli_usage_error("train", "--nesterov needs --momentum > 0");
        return ATL_EXIT_USAGE;
    }
    o.progress = isatty(fileno(stdout));
    atl_diag d;
    atl_diag_init(&d, stderr);
    atl_train_result r;
    atl_jit_session *js = backend_start(&o, &d);
    int rc = o.backend.ops == atl_exec_jit_ops() && !js ? 1 : atl_train(&o, &r, &d);
    atl_jit_session_free(js);
    if (rc == 0 && !o.quiet)
        printf("done: %lld steps in %.1f s (%.0f img/s); final train loss %.4f acc %.4f%s\n",
               (long long)r.steps, r.seconds, r.images_per_s, r.train_loss, r.train_acc,
               isnan(r.test_acc) ? "" : "");
    if (rc == 0 && !o.quiet && !isnan(r.test_acc))
        printf("test accuracy %.4f (best %.4f), test loss %.4f\n", r.test_acc, r.best_test_acc,
               r.test_loss);
    atl_diag_fini(&d);
    return rc == 0 ? ATL_EXIT_OK : rc == 3 ? ATL_EXIT_INTERNAL : ATL_EXIT_USER;
}

int cmd_eval(int argc, char **argv)
{
    atl_train_opts o;
    train_lists l;
    bool as_json = false;
    int ec = scan_args(argc, argv, "eval", eval_help, &o, &l, eval_extra, &as_json);
    if (ec >= 0)
        return ec;
    if (!o.init) {
        cli_usage_error("eval", "--init CKPT is required");
        return ATL_EXIT_USAGE;
    }
    atl_diag d;
    atl_diag_init(&d, stderr);
    atl_eval_result r;
    memset(&r, 0, sizeof r);
    atl_jit_session *js = backend_start(&o, &d);
    int rc = o.backend.ops == atl_exec_jit_ops() && !js ? 1 : atl_eval(&o, &r, &d);
    atl_jit_session_free(js);
    if (rc == 0) {
        if (as_json) {
            printf("{\"n\": %lld, \"acc\": %.6f, \"loss\": %.6f, ", (long long)r.n, r.acc, r.loss);
            if (!isnan(r.ideal_acc))
                printf("\"ideal_acc\": %.6f, \"ideal_loss\": %.6f, ", r.ideal_acc, r.ideal_loss);
            printf("\"confusion\": [");
            for (int i = 0; i < r.classes; i++) {
                printf(i ? ", [" : "[");
                for (int j = 0; j < r.classes; j++)
                    printf(j ? ", %lld" : "%lld", (long long)r.confusion[i * r.classes + j]);
                printf("]");
            }
            printf("]}\n");
        } else {
            printf("evaluated %lld images: accuracy %.4f, loss %.4f\n", (long long)r.n, r.acc,
                   r.loss);
            if (!isnan(r.ideal_acc))
                printf("with ideal (digital) read-out of the analog weights: accuracy %.4f, loss "
                       "%.4f\n",
                       r.ideal_acc, r.ideal_loss);
            printf("confusion (rows: true class, columns: predicted):\n");
            for (int i = 0; i < r.classes; i++) {
                int64_t row = 0;
                for (int j = 0; j < r.classes; j++)
                    row += r.confusion[i * r.classes + j];
                if (!row)
                    continue;
                printf("  %3d:", i);
                for (int j = 0; j < r.classes; j++)
                    printf(" %5lld", (long long)r.confusion[i * r.classes + j]);
                printf("\n");
            }
        }
    }
    atl_eval_result_free(&r);
    atl_diag_fini(&d);
    return rc == 0 ? ATL_EXIT_OK : rc == 3 ? ATL_EXIT_INTERNAL : ATL_EXIT_USER;
}
