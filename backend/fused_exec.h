/* The interpreter's evaluation of `fused` nodes (fused_exec.c).
 *
 * A fused expression (ir/fused.h) is evaluated over whole tensors in chunks of
 * ATL_FUSED_CHUNK output elements: each instruction runs as one array operation over the chunk
 * (the same dense kernels of atl/kernels.h that the unfused nodes call, or plain loops of one
 * IEEE operation for + - * /), so a fused module gives the interpreter's unfused results bit for
 * bit, while intermediate values stay in cache instead of going through the arena.
 */
#ifndef ATL_FUSED_EXEC_H
#define ATL_FUSED_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "fused.h"
#include "ir.h"

#define ATL_FUSED_CHUNK 512

typedef struct atl_fused_prog {
    atl_fexpr e;
    atl_bcast_plan plan;
} atl_fused_prog;

/* Prepare node `node` of f (a fused node, or any elementwise node run as a one-instruction
 * expression). Returns 0, or -1 with a message. */
int atl_fused_prog_init(atl_fused_prog *p, const atl_func *f, int32_t node, char *err,
                        size_t errlen);
/* y = the expression over operands in[k] (laid out as the node's operand types); y must not
 * overlap an operand (the arena plan never lets a result share storage with its operands). */
void atl_fused_prog_run(const atl_fused_prog *p, const float *const *in, float *y);
/* Whether an elementwise op can run inside a fused expression in the interpreter (tests: every
 * op with ATL_OPF_ELEMWISE must). */
bool atl_fused_op_supported(atl_op op);

#endif
