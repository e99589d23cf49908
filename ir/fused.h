/* Fused elementwise expressions: the `expr` attribute of `fused` nodes.
 *
 * The fuse pass (passes/fuse.c) replaces a group of elementwise nodes by one `fused` node whose
 * operands are the group's inputs and whose `expr` says how to combine them. The text form is a
 * list of instructions separated by "; ":
 *
 *     %9 = fused(%3, %7) {expr = "add($0, $1); gelu(#0)"} : f32[8,256,192]
 *
 * Each instruction is `OP(ARG, ...)`, OP an op of the op table with ATL_OPF_ELEMWISE; its
 * arguments are first the tensor operands of OP, each `$k` (operand k of the fused node) or `#j`
 * (the result of instruction j, j smaller than the instruction's own index), then OP's float
 * attributes in schema order as numbers (`scale(#0, 0.5)`). The last instruction is the
 * result. Every operand and every instruction but the last is used at least once, so the text
 * has one canonical form (atl_fexpr_format) and the result shape is the broadcast of the operand
 * shapes (every elementwise op's result is the broadcast of its arguments, and elementwise
 * functions commute with broadcasting). Evaluating the expression at each output index, with
 * each operand read at its broadcast index, therefore computes exactly what the unfused nodes
 * computed: the interpreter and the JIT give the same bits for fused and unfused modules.
 */
#ifndef ATL_IR_FUSED_H
#define ATL_IR_FUSED_H

#include <stddef.h>
#include <stdint.h>

#include "ir.h"

#define ATL_FEXPR_MAX_INS 64      /* instructions per expression */
#define ATL_FEXPR_MAX_OPERANDS 32 /* operands of a fused node */
#define ATL_FEXPR_MAX_CONSTS 2    /* float attributes per instruction */

/* an argument: operand k is k (>= 0), the result of instruction j is ATL_FEXPR_TMP(j) (< 0) */
#define ATL_FEXPR_TMP(j) (-1 - (j))
#define ATL_FEXPR_IS_TMP(a) ((a) < 0)
#define ATL_FEXPR_TMP_INDEX(a) (-1 - (a))

typedef struct atl_fins {
    atl_op op;
    int n_args;
    int n_consts;
    int32_t arg[2];
    double c[ATL_FEXPR_MAX_CONSTS];
} atl_fins;

typedef struct atl_fexpr {
    int n_ins;
    int n_operands; /* the highest operand index used + 1 */
    atl_fins ins[ATL_FEXPR_MAX_INS];
} atl_fexpr;

/* Parse and validate against a node with n_operands operands. Returns 0, or -1 with a message
 * in err. */
int atl_fexpr_parse(const char *text, int n_operands, atl_fexpr *out, char *err, size_t errlen);
/* Validate a constructed expression (the same rules as the parser). */
int atl_fexpr_check(const atl_fexpr *e, int n_operands, char *err, size_t errlen);
/* The canonical text into buf (truncated if too small); returns the length it needs (without the
 * terminating NUL), like snprintf. */
size_t atl_fexpr_format(const atl_fexpr *e, char *buf, size_t n);
/* The number of tensor arguments and float attributes of an elementwise op (-1 if op is not
 * elementwise or has attributes of other kinds). */
int atl_fexpr_op_arity(atl_op op, int *n_consts);

/* The parsed expression of a `fused` node (its `expr` attribute), or -1 with a message. */
int atl_node_fexpr(const atl_node *n, atl_fexpr *out, char *err, size_t errlen);

/* ---- broadcast index plans, shared by the interpreter and the code generator ---------------- */
/* The output of a fused node iterated as a row-major loop nest over `rank` coalesced dims; each
 * operand advances by st[k][d] elements per step of dim d (0: broadcast). Adjacent dims are
 * merged when every operand is either contiguous across both or broadcast along both, so the
 * common cases become one dim (all operands of the output's shape) or two (a bias row). */
typedef struct atl_bcast_plan {
    int rank;
    int n_operands;
    int64_t dims[ATL_MAX_RANK];
    int64_t st[ATL_FEXPR_MAX_OPERANDS][ATL_MAX_RANK];
} atl_bcast_plan;

/* out: the result type; in[k]: the operand types (each broadcastable to out). */
void atl_bcast_plan_make(atl_bcast_plan *p, const atl_type *out, const atl_type *const *in,
                         int n_in);

#endif
