/* The data behind `atlc report`: fine-tuning results (from a sweep's results.csv, a run's
 * results.json, or the per-run result.json files), training curves (metrics.jsonl of every
 * phase) and the analog device of the experiment (experiment.json's analog section). Formats:
 * docs/EXPERIMENTS.md. */
#ifndef ATL_REPORT_DATA_H
#define ATL_REPORT_DATA_H

#include <stdbool.h>

#include "atl/analog.h"
#include "diag.h"

/* A swept parameter: a CSV column whose name contains '.', or a key of a result's "params". */
typedef struct rep_param {
    char *name;
    bool numeric;   /* every value is a finite number: sorted numerically, drawn on a number axis */
    int n_values;
    char **values;  /* distinct values as displayed, sorted (numbers ascending) */
    double *nums;   /* numeric values (numeric parameters) */
} rep_param;

/* One fine-tuning run (one task, method, seed and sweep point). */
typedef struct rep_result {
    char *task, *method;
    long long seed;
    double final_acc, best_acc, final_loss; /* NaN when absent */
    int *pv; /* per parameter: index into rep_param.values, -1 when the run does not have it */
} rep_result;

/* One phase's metrics.jsonl: values per epoch (NaN when a line lacks them). */
typedef struct rep_curve {
    char *phase;  /* "pretrain" or a task name */
    char *method; /* NULL for pretraining */
    long long seed;
    int n;
    double *epoch, *train_loss, *train_acc, *test_acc, *test_loss;
} rep_curve;

typedef struct rep_device {
    char *name;         /* preset name */
    atl_dev_params params; /* the preset with the experiment's overrides */
    char *note;         /* where it came from, e.g. "experiment.json analog.device" */
} rep_device;

typedef struct rep_data {
    char *source;      /* the path given */
    char *name;        /* experiment name, or NULL */
    char *results_from; /* the file(s) the results came from, for the page */
    char *curves_from;  /* the directory the training curves came from, or NULL */
    rep_param *params;
    int n_params;
    rep_result *res;
    int n_res;
    rep_curve *curves;
    int n_curves;
    char **tasks; /* display order: experiment.json's task order, then first appearance */
    int n_tasks;
    char **methods; /* digital_tl, analog_tl, analog_scratch, digital_scratch, then others */
    int n_methods;
    long long *seeds; /* ascending */
    int n_seeds;
    rep_device *devices; /* at least one */
    int n_devices;
} rep_data;

/* Loads a run directory, a sweep directory, a results CSV or a results.json. Returns 0, or -1
 * after reporting to d (missing files, malformed JSON/CSV with file and line, no data). */
int rep_data_load(const char *path, atl_diag *d, rep_data *out);
void rep_data_free(rep_data *data);

int rep_data_task_index(const rep_data *data, const char *task);
int rep_data_method_index(const rep_data *data, const char *method);
/* "digital TL" for digital_tl etc.; other method names as they are. */
const char *rep_method_label(const char *method);

#endif
