/* The explicit table of host functions that JIT'd code may call (llvm_internal.h).
 *
 * JIT'd code reaches the process only through this table, registered with the JIT as absolute
 * symbols (LLVMOrcAbsoluteSymbols): no -rdynamic, no search of the process's symbols, and the
 * table shows exactly what generated code can call. Add a row when a lowering row of codegen.c
 * names a new function (codegen refuses names that are missing here). */
#include <string.h>

#include "atl/analog.h"
#include "atl/kernels.h"
#include "llvm_internal.h"

#define SYM(f) {#f, (atl_jit_fn)(f)}

static const atl_jit_symbol table[] = {
    /* constants */
    SYM(atl_k_fill),
    SYM(atl_k_attn_mask),
    SYM(atl_k_rel_pos_index),
    /* reductions, normalisation, data movement */
    SYM(atl_k_sum_axis),
    SYM(atl_k_mean_axis),
    SYM(atl_k_sum_to),
    SYM(atl_k_broadcast_to),
    SYM(atl_k_softmax),
    SYM(atl_k_softmax_bwd),
    SYM(atl_k_layernorm),
    SYM(atl_k_layernorm_bwd_x),
    SYM(atl_k_layernorm_bwd_w),
    SYM(atl_k_permute),
    SYM(atl_k_slice),
    SYM(atl_k_slice_bwd),
    SYM(atl_k_roll),
    SYM(atl_k_concat),
    SYM(atl_k_gather),
    SYM(atl_k_gather_bwd),
    /* dense algebra (OpenBLAS underneath) */
    SYM(atl_k_linear),
    SYM(atl_k_linear_bwd_x),
    SYM(atl_k_linear_bwd_w),
    SYM(atl_k_matmul),
    /* losses and the optimiser */
    SYM(atl_k_cross_entropy),
    SYM(atl_k_cross_entropy_bwd),
    SYM(atl_k_mse),
    SYM(atl_k_mse_bwd),
    SYM(atl_k_sgd),
    /* analog tiles (atl/analog.h) */
    SYM(atl_tile_forward),
    SYM(atl_tile_backward),
    SYM(atl_tile_update),
    /* the op timer of profiling builds (jit.c) */
    SYM(atl_jit_prof_mark),
};

const atl_jit_symbol *atl_jit_symbols(size_t *n)
{
    *n = sizeof table / sizeof table[0];
    return table;
}

const atl_jit_symbol *atl_jit_symbol_find(const char *name)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}
