/* Experiments (docs/EXPERIMENTS.md): an `experiment` section names a model, a digital pretraining
 * phase, transfer tasks, the methods to compare, seeds and an optional sweep; this module turns
 * it into training runs (train.h) and writes the run directories `atlc report` reads. */
#ifndef ATL_EXPERIMENT_H
#define ATL_EXPERIMENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "exec.h"
#include "train.h"

#define ATL_EXP_MAX_TASKS 16
#define ATL_EXP_MAX_SEEDS 64
#define ATL_EXP_MAX_SWEEP 8

typedef struct atl_phase {
    char data[1024], eval_data[1024];
    int epochs;
    int64_t max_steps;
    int64_t batch;
    double lr, momentum, weight_decay;
    bool nesterov, augment;
    char schedule[64];
    int64_t warmup;
    int classes; /* tasks: the model's `classes` (0: the model's default) */
    char reinit[8][128];
    int n_reinit;
    char checkpoint[1024]; /* pretrain: use this checkpoint instead of training */
} atl_phase;

typedef enum atl_method {
    ATL_METHOD_ANALOG_TL,
    ATL_METHOD_DIGITAL_TL,
    ATL_METHOD_ANALOG_SCRATCH,
    ATL_METHOD_DIGITAL_SCRATCH,
    ATL_METHOD_COUNT
} atl_method;

const char *atl_method_name(atl_method m);

typedef struct atl_sweep_param {
    char path[256];
    atl_value *values; /* in the experiment's arena */
    int n;
} atl_sweep_param;

typedef struct atl_experiment {
    char name[128];
    char file[1024];  /* the experiment file */
    char model[1024]; /* resolved model path */
    char defines[64][256];
    int n_defines;
    uint64_t seeds[ATL_EXP_MAX_SEEDS];
    int n_seeds;
    bool has_pretrain;
    atl_phase pretrain, finetune;
    char task_names[ATL_EXP_MAX_TASKS][64];
    atl_phase tasks[ATL_EXP_MAX_TASKS];
    int n_tasks;
    bool methods[ATL_METHOD_COUNT];
    atl_sweep_param sweep[ATL_EXP_MAX_SWEEP];
    int n_sweep;
    bool zip;
    atl_module *cfg; /* the file's configuration sections (experiment, analog) */
} atl_experiment;

/* Load and validate an experiment file; `overrides` ("path=value", the sweep's path syntax) are
 * applied on top (e.g. finetune.epochs=1 for a quick check). Returns 0 or reports errors. */
int atl_experiment_load(atl_diag *d, const char *path, const char *const *overrides,
                        int n_overrides, atl_experiment *e);
void atl_experiment_free(atl_experiment *e);

/* Number of sweep points (1 without a sweep). */
int atl_experiment_points(const atl_experiment *e);
/* Text of the value of sweep parameter k at point p. */
void atl_experiment_point_value(const atl_experiment *e, int p, int k, char *buf, size_t n);

typedef struct atl_run_opts {
    const char *runs;  /* parent of the experiment's run directory (default "runs") */
    atl_backend backend; /* executor of the steps (ops NULL: the interpreter) */
    bool quiet;
    bool progress;
    FILE *out;
} atl_run_opts;

/* The run directory of a point (-1: the plain run). */
void atl_experiment_dir(const atl_experiment *e, const atl_run_opts *o, int point, char *buf,
                        size_t n);

/* Run one point for one seed: pretraining (shared, skipped when done), then every task and
 * method (each skipped when its result.json exists). Returns 0, 1 (user error) or 3. */
int atl_experiment_run(const atl_experiment *e, int point, uint64_t seed, const atl_run_opts *o,
                       atl_diag *d);

/* Gather the result.json files of a point into its results.json and print a table. */
int atl_experiment_gather(const atl_experiment *e, int point, const atl_run_opts *o,
                          bool print_table, atl_diag *d);

void atl_experiment_csv_header(const atl_experiment *e, FILE *f);
/* Append the CSV rows of a point (all seeds, tasks, methods) to f; header when `header`. */
int atl_experiment_csv(const atl_experiment *e, int point, const atl_run_opts *o, FILE *f,
                       bool header, atl_diag *d);

#endif
