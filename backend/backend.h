/* Executors of scheduled modules.
 *
 *   params.c   parameter store: values, optimiser state, deterministic initialisation,
 *              safetensors checkpoints
 *   interp.c   the reference interpreter: runs a scheduled module op by op on one arena (the
 *              oracle the JIT is checked against)
 *   analog.c   the module's analog tiles (runtime objects), weight transfer in and out
 *   train.c    training / evaluation drivers (train.h)
 */
#ifndef ATL_BACKEND_H
#define ATL_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "atl/analog.h"
#include "ir.h"

/* ---- parameters ----------------------------------------------------------------------------- */
typedef struct atl_params {
    int n;
    char **names;
    atl_type *types;
    atl_init *inits;
    bool *frozen;
    float **data;     /* values */
    float **momentum; /* SGD momentum buffers, allocated on first use */
    bool *mom_started;
} atl_params;

/* A store for the parameters of a module's main function, initialised from (seed, name): the
 * values of a parameter do not depend on which other parameters exist. */
atl_params *atl_params_create(const atl_module *m, uint64_t seed);
void atl_params_free(atl_params *ps);
int atl_params_find(const atl_params *ps, const char *name);
void atl_params_init_one(atl_params *ps, int i, uint64_t seed);
int64_t atl_params_count(const atl_params *ps); /* total values */

/* ---- analog tiles ----------------------------------------------------------------------------- */
typedef struct atl_analog atl_analog;

/* One runtime tile per tile declaration of m (configured from its rule and its ops' IO
 * attributes, keyed by the run seed and the declaration's stream). NULL + message on error. */
atl_analog *atl_analog_create(const atl_module *m, uint64_t seed, char *err, size_t errlen);
void atl_analog_free(atl_analog *a);
int atl_analog_count(const atl_analog *a);
const char *atl_analog_name(const atl_analog *a, int t);
const char *atl_analog_param(const atl_analog *a, int t); /* the weight it holds a block of */
atl_tile *atl_analog_tile(atl_analog *a, int t);
int atl_analog_find(const atl_analog *a, const char *name);
/* Program every tile from its block of the digital weights with transfer noise tau. */
int atl_analog_program(atl_analog *a, const atl_params *ps, double tau, char *err, size_t errlen);
/* Write the tiles' apparent weights back into the digital parameters. */
void atl_analog_read_back(const atl_analog *a, atl_params *ps);
/* Swap in a tile restored from a saved state (takes ownership). */
int atl_analog_replace_tile(atl_analog *a, int t, atl_tile *tile, char *err, size_t errlen);

/* Snapshot / restore of every tile's full state (evaluations run between the two, so they do
 * not shift the training noise). */
typedef struct atl_analog_snapshot atl_analog_snapshot;
atl_analog_snapshot *atl_analog_snapshot_take(const atl_analog *a);
int atl_analog_snapshot_restore(atl_analog *a, const atl_analog_snapshot *s, char *err,
                                size_t errlen);
void atl_analog_snapshot_free(atl_analog_snapshot *s);

/* ---- interpreter ---------------------------------------------------------------------------- */
typedef struct atl_interp atl_interp;

/* m must be expanded and scheduled (arena_size > 0); ps must hold m's parameters. Returns NULL
 * with a message in err on a mismatch. The module and the store must outlive the interpreter. */
atl_interp *atl_interp_create(const atl_module *m, atl_params *ps, char *err, size_t errlen);
void atl_interp_free(atl_interp *ip);
/* Attach the tiles that the module's analog ops run on (required when the module has tiles).
 * Returns 0, or -1 with a message if a tile is missing. */
int atl_interp_set_analog(atl_interp *ip, atl_analog *a, char *err, size_t errlen);
/* Bind a model input by name to caller memory (read during run). Returns 0 or -1. */
int atl_interp_bind(atl_interp *ip, const char *input, const void *data);
/* Execute the step. Returns 0, or -1 if an input is unbound (message in err). */
int atl_interp_run(atl_interp *ip, char *err, size_t errlen);
/* An output by name after a run (points into the arena or parameter store), NULL if absent. */
const void *atl_interp_output(const atl_interp *ip, const char *name, atl_type *type);
/* Time every op (per op kind) and print the table (slowest first). */
void atl_interp_set_profile(atl_interp *ip, bool on);
void atl_interp_print_profile(const atl_interp *ip, FILE *out);
/* The value of node i after a run (tests). */
const void *atl_interp_value(const atl_interp *ip, int32_t node);

#endif
