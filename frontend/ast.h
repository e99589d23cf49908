/* The atl DSL abstract syntax tree.
 *
 * One node type with a kind tag; the meaning of the generic fields per kind is listed below and
 * is the contract between the parser (frontend/parser.y) and the elaborator (frontend/lower.c).
 * Every node carries the byte span of the text it came from, so that every later error can point
 * at the DSL source.
 *
 *  kind            fields used
 *  --------------  ------------------------------------------------------------------------
 *  expressions
 *  INT             ival
 *  FLOAT           fval
 *  STRING          str (escapes already decoded)
 *  BOOL            bval
 *  IDENT           name
 *  LIST            kids = elements
 *  UNARY           op (ATL_AST_OP_NEG, ATL_AST_OP_NOT), a = operand
 *  BINARY          op, a = lhs, b = rhs
 *  TERNARY         a = cond, b = then value, c = else value        (cond ? x : y)
 *  CALL            name = callee, name_span, kids = arguments (exprs, then KWARG nodes),
 *                  c = name expression of `as ...` or NULL          (f(x, 3, axis = 1) as "fc1")
 *  KWARG           name, a = value                                   (only inside CALL.kids)
 *  INDEX           a = base, b = index                               (xs[i])
 *  MEMBER          a = base, name = member                           (x.shape)
 *  statements
 *  ASSIGN          name = target, a = value                          (h = gelu(h);)
 *  INPUT           name, str = element type ("f32", "i32"), kids = dimension exprs
 *                                                                    (input x: f32[B, 3, 32, 32];)
 *  FOR             name = loop variable, a = lo, b = hi (exclusive), c = BODY
 *                                                                    (for i in 0..n { ... })
 *  IF              a = cond, b = then BODY, c = else: BODY, IF (else if) or NULL
 *  RETURN          kids = values
 *  ASSERT          a = cond, b = message expr or NULL                (assert d % h == 0, "...";)
 *  BODY            kids = statements
 *  top-level items
 *  PARAM           name, a = default value or NULL                   (block/model parameters)
 *  BLOCKDEF        name, kids = PARAMs, b = BODY                     (block mlp(x, dim) { ... })
 *  MODEL           name, kids = PARAMs, b = BODY                     (model swin(dim = 48) { ... })
 *  CONST           name, a = value                                   (const eps = 1e-5;)
 *  CONFIG          name = section name, str = optional label or NULL, kids = CONFIG and ENTRY
 *                                                                    (analog { layers "*.qkv" { ... } })
 *  ENTRY           name = dotted key ("io.out_noise"), a = value     (key = expr;)
 *  IMPORT          str = path as written, str_span                   (import "swin_cifar.atl";)
 *  FILE            kids = items
 */
#ifndef ATL_AST_H
#define ATL_AST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"

typedef enum atl_ast_kind {
    ATL_AST_INT,
    ATL_AST_FLOAT,
    ATL_AST_STRING,
    ATL_AST_BOOL,
    ATL_AST_IDENT,
    ATL_AST_LIST,
    ATL_AST_UNARY,
    ATL_AST_BINARY,
    ATL_AST_TERNARY,
    ATL_AST_CALL,
    ATL_AST_KWARG,
    ATL_AST_INDEX,
    ATL_AST_MEMBER,
    ATL_AST_ASSIGN,
    ATL_AST_INPUT,
    ATL_AST_FOR,
    ATL_AST_IF,
    ATL_AST_RETURN,
    ATL_AST_ASSERT,
    ATL_AST_BODY,
    ATL_AST_PARAM,
    ATL_AST_BLOCKDEF,
    ATL_AST_MODEL,
    ATL_AST_CONST,
    ATL_AST_CONFIG,
    ATL_AST_ENTRY,
    ATL_AST_FILE,
    ATL_AST_IMPORT,
    ATL_AST_KIND_COUNT
} atl_ast_kind;

typedef enum atl_ast_op {
    ATL_AST_OP_NONE = 0,
    ATL_AST_OP_ADD,    /* + */
    ATL_AST_OP_SUB,    /* - */
    ATL_AST_OP_MUL,    /* * */
    ATL_AST_OP_DIV,    /* / */
    ATL_AST_OP_MOD,    /* % */
    ATL_AST_OP_MATMUL, /* @ */
    ATL_AST_OP_LT,
    ATL_AST_OP_LE,
    ATL_AST_OP_GT,
    ATL_AST_OP_GE,
    ATL_AST_OP_EQ,
    ATL_AST_OP_NE,
    ATL_AST_OP_AND, /* && */
    ATL_AST_OP_OR,  /* || */
    ATL_AST_OP_NEG, /* unary - */
    ATL_AST_OP_NOT, /* unary ! */
} atl_ast_op;

typedef struct atl_ast atl_ast;
struct atl_ast {
    atl_ast_kind kind;
    atl_span span;
    atl_ast_op op;
    char *name;
    atl_span name_span; /* span of `name` where it is an identifier in the source */
    char *str;
    atl_span str_span; /* span of `str` where it is source text (INPUT element type, CONFIG label) */
    int64_t ival;
    double fval;
    bool bval;
    atl_ast *a, *b, *c;
    atl_ast **kids;
    int n_kids;
    /* Height of the subtree (1 for a leaf). The parser keeps it <= ATL_AST_MAX_DEPTH so that
     * recursive walks (free, dump, elaboration) have a bounded C stack depth. */
    int depth;
};

/* Nesting limits enforced by the parser (with a located error): the height of any AST, and the
 * number of simultaneously open brackets ( [ { in the source. */
#define ATL_AST_MAX_DEPTH 1000
#define ATL_FE_MAX_BRACKETS 256

/* Parse one registered source. Returns a FILE node, or NULL if there were syntax errors (all of
 * them reported to d, with recovery at statement boundaries). */
atl_ast *atl_parse(atl_diag *d, int source_id);

void atl_ast_free(atl_ast *n);

/* Constructors used by the parser (exposed for tests and for building ASTs in code). */
atl_ast *atl_ast_new(atl_ast_kind kind, atl_span span);
void atl_ast_push(atl_ast *list, atl_ast *kid); /* append to kids (updates depth) */
/* Recompute n->depth from a, b, c and kids (atl_ast_push keeps it current for kids). */
void atl_ast_update_depth(atl_ast *n);

const char *atl_ast_kind_name(atl_ast_kind k);
const char *atl_ast_op_name(atl_ast_op op); /* "+", "&&", ... */

/* A compact S-expression dump, one item per line, used by the parser tests:
 *   (model swin (param dim (int 48)) (body (assign h (call gelu (ident x)))))           */
void atl_ast_dump(FILE *out, const atl_ast *n);

#endif
