/* Passes: IR -> IR transformations with names, run by a pipeline with LLVM-style
 * instrumentation (--passes, --print-before, --print-after, --print-after-all, --time-passes).
 *
 * Table of contents (one file per pass):
 *   manager.c   registry, pipeline parsing and running, instrumentation
 *   rebuild.c   shared helper: compact a function after nodes were replaced or deleted
 *   expand.c    `expand`: inline block calls (hierarchical parameter names), fold trivial ops
 *   shapes.c    `shapes`: infer every node's result type; `verify`: the IR verifier
 *   dce.c       `dce`: delete values no output depends on
 *   cse.c       `cse`: merge identical pure nodes
 *   autodiff.c  `autodiff`: reverse-mode gradients of the "loss" output (one rule per op)
 *   optimizer.c `optimizer`: gradients -> parameter update ops (SGD, momentum, weight decay;
 *               analog tiles: analog_update with the tile's algorithm)
 *   analog_map.c `analog-map`: analog-bound linear layers -> tiles (analog_config.c: the
 *               `analog` section resolved into runtime tile configurations)
 *   noise.c     `noise`: IO non-idealities of analog MVMs as explicit op attributes
 *   fuse.c      `fuse`: elementwise groups -> fused nodes (expressions in ir/fused.h)
 *   schedule.c  `schedule`: arena plan (buffer liveness and reuse) for the executors
 */
#ifndef ATL_PASS_H
#define ATL_PASS_H

#include <stdbool.h>
#include <stdio.h>

#include "ir.h"

typedef struct atl_pass_ctx {
    atl_diag *diag;
} atl_pass_ctx;

/* A pass returns 0 on success, non-zero when it reported errors (the pipeline stops). */
typedef int (*atl_pass_fn)(atl_module *m, atl_pass_ctx *ctx);

typedef struct atl_pass_info {
    const char *name;
    const char *description;
    atl_pass_fn run;
} atl_pass_info;

const atl_pass_info *atl_pass_lookup(const char *name);
/* The registry, for --help listings: returns the i-th pass or NULL past the end. */
const atl_pass_info *atl_pass_at(int i);

#define ATL_MAX_PIPELINE 64

typedef struct atl_pipeline {
    const atl_pass_info *passes[ATL_MAX_PIPELINE];
    int n;
    /* instrumentation */
    const char *print_before[ATL_MAX_PIPELINE];
    int n_print_before;
    const char *print_after[ATL_MAX_PIPELINE];
    int n_print_after;
    bool print_after_all;
    bool print_before_all;
    bool time_passes;
    bool verify_each; /* run the verifier after every pass (tests, debugging) */
    FILE *dump;       /* where --print-* dumps go (stdout by default) */
    FILE *timing;     /* where --time-passes goes (stderr by default) */
} atl_pipeline;

void atl_pipeline_init(atl_pipeline *p);
/* Append passes from a comma-separated list; unknown names are reported. Returns 0 or -1. */
int atl_pipeline_parse(atl_pipeline *p, const char *list, atl_diag *d);
/* The default front-end pipeline: expand, shapes, verify, dce, cse. */
void atl_pipeline_default(atl_pipeline *p);
/* Check that the --print-before/after names exist; reports unknown ones. */
int atl_pipeline_check_names(const atl_pipeline *p, atl_diag *d);
/* Run. Returns 0, or non-zero after the first failing pass. */
int atl_pipeline_run(const atl_pipeline *p, atl_module *m, atl_diag *d);

/* Compact function f: repl[i] == i keeps node i, repl[i] == j < i replaces all uses of i by j
 * (and deletes i), repl[i] == -1 deletes i (it must have no uses left). Outputs are remapped. */
void atl_func_rebuild(atl_module *m, atl_func *f, const int32_t *repl);

/* The individual passes (also reachable through the registry). */
int atl_pass_expand(atl_module *m, atl_pass_ctx *ctx);
int atl_pass_shapes(atl_module *m, atl_pass_ctx *ctx);
int atl_pass_verify(atl_module *m, atl_pass_ctx *ctx);
int atl_pass_dce(atl_module *m, atl_pass_ctx *ctx);
int atl_pass_cse(atl_module *m, atl_pass_ctx *ctx);
int atl_pass_autodiff(atl_module *m, atl_pass_ctx *ctx);
int atl_pass_optimizer(atl_module *m, atl_pass_ctx *ctx);
int atl_pass_analog_map(atl_module *m, atl_pass_ctx *ctx);
int atl_pass_noise(atl_module *m, atl_pass_ctx *ctx);
int atl_pass_schedule(atl_module *m, atl_pass_ctx *ctx);
int atl_pass_fuse(atl_module *m, atl_pass_ctx *ctx);

/* autodiff.c: whether an op has a real gradient rule (for tests) */
bool atl_op_has_grad_rule(atl_op op);
/* schedule.c: storage helpers shared with the executors */
bool atl_node_in_arena(const atl_node *n);
int32_t atl_node_storage_root(const atl_func *f, int32_t i);

#endif
