/* Internal interfaces of the LLVM backend (backend/llvm). One section per file:
 *
 *   llvm_util.c  target set-up (host CPU name and features, one target machine recipe), error
 *                helpers that consume every LLVMErrorRef
 *   symbols.c    the explicit table of host functions JIT'd code may call
 *   scalar.c     elementwise ops as scalar LLVM IR (the bodies of fused loops)
 *   codegen.c    a scheduled atl module -> one LLVM module: the step function and its kernels
 *   jit.c        ORC LLJIT sessions, executable steps, --emit=llvm|asm, dumps, timing
 *
 * Ownership conventions follow LLVM's ORC C-API examples: every call that transfers ownership
 * has a comment saying who owns what afterwards; cleanup is a goto ladder.
 */
#ifndef ATL_LLVM_INTERNAL_H
#define ATL_LLVM_INTERNAL_H

#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fused.h"
#include "ir.h"

/* ---- llvm_util.c ------------------------------------------------------------------------------ */
/* Consume err (may be NULL). Returns 0 for NULL, else -1 with "what: message" in buf. */
int atl_llvm_take_error(LLVMErrorRef e, const char *what, char *buf, size_t n);
/* Initialise the native target and asm printer (LLVM's registry: idempotent). */
int atl_llvm_init(char *err, size_t errlen);

/* The host target: triple, CPU name and feature string (LLVM-allocated, freed by
 * atl_llvm_host_fini). Decided once per session and used for the pass pipeline's TM, the JIT's
 * TM and the attributes of every function, so that optimiser and code generator agree. */
typedef struct atl_llvm_host {
    char *triple, *cpu, *features;
} atl_llvm_host;
int atl_llvm_host_init(atl_llvm_host *h, char *err, size_t errlen);
void atl_llvm_host_fini(atl_llvm_host *h);
/* A fresh target machine for the host (O3 codegen, PIC, JIT code model); NULL on error. The
 * caller owns it (LLVMDisposeTargetMachine) unless it hands it to an ORC builder. */
LLVMTargetMachineRef atl_llvm_host_tm(const atl_llvm_host *h, char *err, size_t errlen);
/* Stamp "target-cpu"/"target-features" and nounwind on a function. */
void atl_llvm_fn_attrs(LLVMValueRef fn, const atl_llvm_host *h);
/* Run default<O3> with loop and SLP vectorisation. */
int atl_llvm_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, char *err, size_t errlen);

/* ---- symbols.c -------------------------------------------------------------------------------- */
typedef void (*atl_jit_fn)(void);
typedef struct atl_jit_symbol {
    const char *name;
    atl_jit_fn fn;
} atl_jit_symbol;
/* The host functions JIT'd code may call (the dense kernels, their scalar math, later the analog
 * runtime's public API). Nothing else of the process is visible to it. */
const atl_jit_symbol *atl_jit_symbols(size_t *n);
const atl_jit_symbol *atl_jit_symbol_find(const char *name);

/* ---- scalar.c --------------------------------------------------------------------------------- */
typedef struct atl_llvm_types {
    LLVMContextRef ctx;
    LLVMTypeRef v, f32, i1, i8, i32, i64, ptr;
} atl_llvm_types;
void atl_llvm_types_init(atl_llvm_types *t, LLVMContextRef ctx);
/* The value of one instruction of a fused expression at one element: a and b are the argument
 * values (b NULL for unary ops). Host math (exp, tanh, sigmoid, gelu) is called through
 * declared functions of mod. Returns NULL if the op has no scalar form. */
LLVMValueRef atl_llvm_scalar(LLVMBuilderRef b, LLVMModuleRef mod, const atl_llvm_types *t,
                             const atl_fins *in, LLVMValueRef x, LLVMValueRef y);
/* Whether an op has a scalar form (tests: every elementwise op must). */
bool atl_llvm_scalar_supported(atl_op op);
/* Declare (once per module) a host function of the symbol table with the given type. */
LLVMValueRef atl_llvm_host_fn(LLVMModuleRef mod, const char *name, LLVMTypeRef fty);

/* ---- codegen.c -------------------------------------------------------------------------------- */
/* Entry-point ABI of a compiled step:
 *
 *     void ENTRY(uint8_t *arena, void *const *slots);
 *
 * `arena` is the step's arena (module->arena_size bytes, 64-byte aligned); every intermediate
 * value lives at the offset the schedule pass gave it, baked into the code as a constant, as are
 * all shapes. `slots` is a table of pointers that can change between runs, laid out by the code
 * generator and described by atl_cg_slot: parameter values, bound inputs, momentum buffers,
 * first-step flags of the momentum updates, analog tiles. */
typedef enum atl_slot_kind {
    ATL_SLOT_PARAM,    /* float *: the parameter's values */
    ATL_SLOT_INPUT,    /* the bound input's memory */
    ATL_SLOT_MOMENTUM, /* float *: the parameter's momentum buffer (momentum > 0) */
    ATL_SLOT_FIRST,    /* uint8_t *: 1 if this update is the parameter's first momentum step */
    ATL_SLOT_TILE,     /* atl_tile *: the runtime tile of that name (atl_jit_set_analog) */
    ATL_SLOT_PROFILE,  /* atl_jit_profile *: the step's op timer (profiling builds) */
} atl_slot_kind;

/* Per-op times of a step compiled with profiling: the step calls atl_jit_prof_mark(p, op)
 * before each node's code and atl_jit_prof_mark(p, -1) at the end. */
typedef struct atl_jit_profile {
    double t_last;
    int32_t last; /* op being timed, -1: none */
    double time[ATL_OP_COUNT];
    int64_t calls[ATL_OP_COUNT];
    int64_t runs;
} atl_jit_profile;
void atl_jit_prof_mark(atl_jit_profile *p, int32_t op);

typedef struct atl_cg_slot {
    atl_slot_kind kind;
    const char *name; /* parameter, input or tile name (points into the atl module) */
} atl_cg_slot;

/* Kernels by name with the signature they compute (expression, loop shape, strides). Names are
 * a hash of the signature; the signature is kept to tell a hash collision from a reuse. */
typedef struct atl_kernel_set {
    char **names, **sigs;
    int n, cap;
} atl_kernel_set;
const char *atl_kernel_set_sig(const atl_kernel_set *s, const char *name); /* NULL: absent */
void atl_kernel_set_add(atl_kernel_set *s, const char *name, const char *sig);
void atl_kernel_set_free(atl_kernel_set *s);

typedef struct atl_cg_layout {
    atl_cg_slot *slots; /* malloc'd */
    int n_slots;
    atl_kernel_set new_kernels; /* the kernels this module defines */
    int n_kernel_calls, n_host_calls;
} atl_cg_layout;
void atl_cg_layout_free(atl_cg_layout *l);

/* Lower a scheduled module into a new LLVM module in ctx with entry function `entry`. known: the
 * kernels compiled into the JIT session so far, which the module declares instead of defining
 * them again (deduplication within a session); NULL: define every kernel. Returns the module (owned by the caller) or NULL with a message. */
LLVMModuleRef atl_codegen(LLVMContextRef ctx, const atl_llvm_host *h, LLVMTargetMachineRef tm,
                          const atl_module *m, const char *entry, const atl_kernel_set *known,
                          bool profile, atl_cg_layout *layout, char *err, size_t errlen);
/* Whether every op of the op table has a lowering row that is not "unsupported" (tests). */
bool atl_codegen_op_supported(atl_op op);

#endif
