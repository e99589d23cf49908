/* Executors of scheduled modules behind one interface: the reference interpreter (interp.c) and
 * the LLVM JIT (llvm/jit.h). Drivers (the trainer, tests, benchmarks) take an atl_backend and
 * do not link LLVM themselves; only what creates a JIT session does. */
#ifndef ATL_EXEC_H
#define ATL_EXEC_H

#include <stddef.h>

#include "backend.h"

typedef struct atl_exec_ops {
    const char *name; /* "interp", "jit" */
    /* ctx: the backend's context (the JIT session; unused by the interpreter) */
    void *(*create)(void *ctx, const atl_module *m, atl_params *ps, char *err, size_t errlen);
    void (*destroy)(void *e);
    int (*bind)(void *e, const char *input, const void *data);
    int (*run)(void *e, char *err, size_t errlen);
    const void *(*output)(const void *e, const char *name, atl_type *type);
    /* attach the runtime tiles of the module's analog ops */
    int (*set_analog)(void *e, atl_analog *a, char *err, size_t errlen);
    /* time every op (ATL_PROFILE): switch on before the first run; print the table (slowest op
     * first). The JIT decides at compile time (its session's option), so its switch is a no-op. */
    void (*set_profile)(void *e, bool on);
    void (*print_profile)(const void *e, FILE *out);
} atl_exec_ops;

typedef struct atl_backend {
    const atl_exec_ops *ops; /* NULL: the interpreter */
    void *ctx;
} atl_backend;

const atl_exec_ops *atl_exec_interp_ops(void);

#endif
