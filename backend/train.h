/* Training and evaluation drivers: compile a model file into a training step (autodiff +
 * optimizer + schedule) and an evaluation step, feed them batches, keep metrics, write
 * checkpoints. `atlc train`, `atlc eval` and the experiment runner are thin layers over this.
 */
#ifndef ATL_TRAIN_H
#define ATL_TRAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "exec.h"
#include "lower.h"

/* ---- learning-rate schedules ---------------------------------------------------------------- */
typedef enum atl_sched_kind { ATL_SCHED_CONSTANT, ATL_SCHED_STEP, ATL_SCHED_COSINE } atl_sched_kind;

typedef struct atl_schedule {
    atl_sched_kind kind;
    double step_epochs; /* step: decay every step_epochs epochs ... */
    double gamma;       /* ... by this factor */
    int64_t warmup;     /* linear warm-up over this many steps (0: none) */
} atl_schedule;

/* "constant", "step:EPOCHS:GAMMA", "cosine". Returns 0 or -1 with a message. */
int atl_schedule_parse(const char *s, atl_schedule *out, char *err, size_t errlen);
/* Learning rate of step `step` (0-based) of `total` steps, `per_epoch` steps an epoch. */
double atl_schedule_lr(const atl_schedule *s, double base, int64_t step, int64_t per_epoch,
                       int64_t total);

/* ---- training -------------------------------------------------------------------------------- */
typedef struct atl_train_opts {
    const char *model;   /* model file */
    atl_lower_opts lower; /* batch, -D overrides, model name */
    const char *data;    /* training data spec (train split) */
    const char *eval_data; /* evaluation spec (test split); NULL: the training spec */
    bool no_eval;
    int epochs;
    int64_t max_steps; /* stop after this many steps (0: no limit) */
    double lr, momentum, weight_decay;
    bool nesterov;
    atl_schedule sched;
    bool augment; /* random crop (pad 4) + horizontal flip on training batches */
    uint64_t seed;
    int threads;
    const char *init;         /* checkpoint to start from (NULL: fresh initialisation) */
    const char *const *reinit; /* parameter name patterns re-initialised instead of loaded */
    int n_reinit;
    const char *resume;       /* continue a run from its checkpoint (parameters, optimiser state,
                                 analog tile state, step) bit-exactly */
    const char *const *sets;  /* configuration overrides "analog.transfer_noise=0.1" */
    int n_sets;
    bool digital;             /* ignore the model's analog section (digital baseline) */
    const char *const *configs; /* files whose configuration sections replace the model's */
    int n_configs;
    const char *save; /* checkpoint written at the end (atomically) */
    const char *log;  /* metrics as JSON lines (NULL: none) */
    const char *pulses_json; /* analog models: per-layer pulse counters as JSON (NULL: none) */
    FILE *out;        /* progress and summaries (stdout when NULL) */
    bool progress;    /* redraw a progress line (a TTY) instead of printing log lines */
    bool quiet;
    atl_backend backend; /* executor of the steps (ops NULL: the interpreter) */
    bool time_passes;    /* pass pipeline timing (a JIT backend reports its own compile time) */
} atl_train_opts;

void atl_train_opts_default(atl_train_opts *o);

typedef struct atl_eval_result {
    double loss, acc;
    double ideal_loss, ideal_acc; /* analog models: the same weights evaluated digitally (NaN:
                                     no analog layers) */
    int64_t n;
    int classes;
    int64_t *confusion; /* classes x classes, row = true label; malloc'd */
} atl_eval_result;

typedef struct atl_train_result {
    int64_t steps;
    int epochs;
    double train_loss, train_acc; /* last epoch */
    double test_loss, test_acc;   /* last evaluation (NaN without) */
    double best_test_acc;
    double seconds, images_per_s;
} atl_train_result;

/* Returns 0, or 1 after reporting user errors (bad model, data, checkpoint) to d. */
int atl_train(const atl_train_opts *o, atl_train_result *r, atl_diag *d);

/* Evaluate a model (fresh or from o->init) on o->eval_data (or o->data), test split. */
int atl_eval(const atl_train_opts *o, atl_eval_result *r, atl_diag *d);
void atl_eval_result_free(atl_eval_result *r);

/* Checkpoints (safetensors): parameters under their DSL names, then (optionally) the optimiser's
 * momentum buffers as "optim.momentum.<name>" and every analog tile's full state as a U8 tensor
 * "analog.state.<tile>"; metadata strings. Written atomically. */
int atl_params_save(const atl_params *ps, const char *path, const char *const *meta_kv,
                    int n_meta, char *err, size_t errlen);
int atl_checkpoint_save(const atl_params *ps, const atl_analog *an, bool with_optim,
                        const char *path, const char *const *meta_kv, int n_meta, char *err,
                        size_t errlen);
int atl_params_load(atl_params *ps, const char *path, const char *const *skip, int n_skip,
                    char *err, size_t errlen);

#endif
