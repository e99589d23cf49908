/* The LLVM backend: JIT-compiled training and evaluation steps (LLVM 19 C API + ORC LLJIT).
 *
 * A session owns one LLJIT, the explicit table of host symbols JIT'd code may call and the set
 * of kernels compiled so far; steps compiled in one session share their kernels (deduplicated by
 * expression and shape). A step (atl_jit) is one scheduled module compiled to a function
 * ENTRY(arena, slots) plus its arena; its interface mirrors the interpreter's (bind inputs, run,
 * read outputs) and it updates the same parameter store, so the interpreter is its oracle.
 *
 * This is the only part of atl that links libLLVM (library atl_backend_llvm).
 */
#ifndef ATL_JIT_H
#define ATL_JIT_H

#include <stdbool.h>
#include <stdio.h>

#include "backend.h"
#include "exec.h"

typedef struct atl_jit_opts {
    bool time_passes; /* report the compile phases of every step (like --time-passes) */
    FILE *timing;     /* where the report goes (stderr when NULL) */
    /* write what the JIT compiles (optimised LLVM IR and assembly, one pair per step) into this
     * directory; NULL: the ATL_DUMP_DIR environment variable, if set */
    const char *dump_dir;
    /* time every op of the steps (calls around each node's code; ~50 ns per node): see
     * atl_jit_print_profile. The ATL_PROFILE environment variable switches it on too. */
    bool profile;
} atl_jit_opts;

typedef struct atl_jit_session atl_jit_session;
atl_jit_session *atl_jit_session_create(const atl_jit_opts *o, char *err, size_t errlen);
/* Frees the JIT'd code: every step of the session must be freed first. */
void atl_jit_session_free(atl_jit_session *s);

typedef struct atl_jit atl_jit;
/* Compile a scheduled module (m and ps must outlive the step). The entry function is named
 * train_step for modules with parameter updates and eval_step otherwise (made unique within the
 * session). NULL with a message on failure. */
atl_jit *atl_jit_create(atl_jit_session *s, const atl_module *m, atl_params *ps, char *err,
                        size_t errlen);
void atl_jit_free(atl_jit *j);
int atl_jit_bind(atl_jit *j, const char *input, const void *data);
int atl_jit_run(atl_jit *j, char *err, size_t errlen);
/* Attach the runtime tiles of the module's analog ops (required when it has some). */
int atl_jit_set_analog(atl_jit *j, atl_analog *a, char *err, size_t errlen);
const void *atl_jit_output(const atl_jit *j, const char *name, atl_type *type);
/* the value of node i after a run (tests) */
const void *atl_jit_value(const atl_jit *j, int32_t node);

typedef struct atl_jit_stats {
    double build_s, opt_s, codegen_s, total_s; /* IR construction, default<O3>, codegen + link */
    int kernels_defined;  /* elementwise kernels compiled for this step */
    int kernel_calls;     /* kernel calls in the step (the rest reused earlier kernels) */
    int host_calls;       /* calls of runtime functions */
    const char *entry;
} atl_jit_stats;
void atl_jit_get_stats(const atl_jit *j, atl_jit_stats *st);
/* The per-op time table of a step compiled with profiling (the interpreter's format). */
void atl_jit_print_profile(const atl_jit *j, FILE *out);

/* atlc compile --emit=llvm|asm: the optimised LLVM IR or the host assembly of a scheduled
 * module's step, written to out. */
typedef enum atl_llvm_emit { ATL_EMIT_LLVM_IR, ATL_EMIT_ASM } atl_llvm_emit;
int atl_llvm_emit_module(const atl_module *m, atl_llvm_emit kind, FILE *out, char *err,
                         size_t errlen);

/* The JIT as an executor (exec.h); ctx is an atl_jit_session. */
const atl_exec_ops *atl_exec_jit_ops(void);

#endif
