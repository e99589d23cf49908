/* AST construction, destruction and the S-expression dump used by the parser tests. */
#include "ast.h"
#include "ir.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Out of memory while building an AST is not recoverable in a compiler front end: report and
 * stop, rather than thread a failure path through every grammar action. */
static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("atlc: out of memory while building the syntax tree\n", stderr);
        abort();
    }
    return q;
}

atl_ast *atl_ast_new(atl_ast_kind kind, atl_span span)
{
    atl_ast *n = xrealloc(NULL, sizeof *n);
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->span = span;
    n->name_span = ATL_NO_SPAN;
    n->str_span = ATL_NO_SPAN;
    n->depth = 1;
    return n;
}

void atl_ast_push(atl_ast *list, atl_ast *kid)
{
    /* The capacity is implicit: max(4, next power of two >= n_kids). */
    int n = list->n_kids;
    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
        size_t cap = n == 0 ? 4 : 2 * (size_t)n;
        list->kids = xrealloc(list->kids, cap * sizeof *list->kids);
    }
    list->kids[list->n_kids++] = kid;
    if (kid && kid->depth + 1 > list->depth)
        list->depth = kid->depth + 1;
}

void atl_ast_update_depth(atl_ast *n)
{
    int d = 0;
    const atl_ast *sub[3] = {n->a, n->b, n->c};
    for (int i = 0; i < 3; i++)
        if (sub[i] && sub[i]->depth > d)
            d = sub[i]->depth;
    for (int i = 0; i < n->n_kids; i++)
        if (n->kids[i] && n->kids[i]->depth > d)
            d = n->kids[i]->depth;
    n->depth = d + 1;
}

void atl_ast_free(atl_ast *n)
{
    if (!n)
        return;
    free(n->name);
    free(n->str);
    atl_ast_free(n->a);
    atl_ast_free(n->b);
    atl_ast_free(n->c);
    for (int i = 0; i < n->n_kids; i++)
        atl_ast_free(n->kids[i]);
    free(n->kids);
    free(n);
}

static const char *const kind_names[] = {
    [ATL_AST_INT] = "int",       [ATL_AST_FLOAT] = "float",     [ATL_AST_STRING] = "str",
    [ATL_AST_BOOL] = "bool",     [ATL_AST_IDENT] = "ident",     [ATL_AST_LIST] = "list",
    [ATL_AST_UNARY] = "unary",   [ATL_AST_BINARY] = "binary",   [ATL_AST_TERNARY] = "?:",
    [ATL_AST_CALL] = "call",     [ATL_AST_KWARG] = "kw",        [ATL_AST_INDEX] = "index",
    [ATL_AST_MEMBER] = "member", [ATL_AST_ASSIGN] = "assign",   [ATL_AST_INPUT] = "input",
    [ATL_AST_FOR] = "for",       [ATL_AST_IF] = "if",           [ATL_AST_RETURN] = "return",
    [ATL_AST_ASSERT] = "assert", [ATL_AST_BODY] = "body",       [ATL_AST_PARAM] = "param",
    [ATL_AST_BLOCKDEF] = "block", [ATL_AST_MODEL] = "model",    [ATL_AST_CONST] = "const",
    [ATL_AST_CONFIG] = "config", [ATL_AST_ENTRY] = "entry",     [ATL_AST_FILE] = "file",
    [ATL_AST_IMPORT] = "import",
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == ATL_AST_KIND_COUNT,
               "every AST kind needs a name");

const char *atl_ast_kind_name(atl_ast_kind k)
{
    if ((unsigned)k >= ATL_AST_KIND_COUNT || !kind_names[k])
        return "?";
    return kind_names[k];
}

static const char *const op_names[] = {
    [ATL_AST_OP_NONE] = "?", [ATL_AST_OP_ADD] = "+",  [ATL_AST_OP_SUB] = "-",
    [ATL_AST_OP_MUL] = "*",  [ATL_AST_OP_DIV] = "/",  [ATL_AST_OP_MOD] = "%",
    [ATL_AST_OP_MATMUL] = "@", [ATL_AST_OP_LT] = "<", [ATL_AST_OP_LE] = "<=",
    [ATL_AST_OP_GT] = ">",   [ATL_AST_OP_GE] = ">=", [ATL_AST_OP_EQ] = "==",
    [ATL_AST_OP_NE] = "!=",  [ATL_AST_OP_AND] = "&&", [ATL_AST_OP_OR] = "||",
    [ATL_AST_OP_NEG] = "-",  [ATL_AST_OP_NOT] = "!",
};
_Static_assert(sizeof op_names / sizeof op_names[0] == ATL_AST_OP_NOT + 1,
               "every AST operator needs a name");

const char *atl_ast_op_name(atl_ast_op op)
{
    if ((unsigned)op > ATL_AST_OP_NOT)
        return "?";
    return op_names[op];
}

/* ---------------------------------------------------------------------------------------------
 * Dump */

static void dump_string(FILE *out, const char *s)
{
    atl_print_string_literal(out, s);
}

/* The shortest %g form that reads back as the same double, so dumps are exact and stable. */
static void dump_double(FILE *out, double v)
{
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, out);
}

static void dump_name(FILE *out, const char *name)
{
    fputs(name ? name : "?", out);
}

static void dump_node(FILE *out, const atl_ast *n);

static void dump_kids(FILE *out, const atl_ast *n)
{
    for (int i = 0; i < n->n_kids; i++) {
        fputc(' ', out);
        dump_node(out, n->kids[i]);
    }
}

static void dump_opt(FILE *out, const atl_ast *n)
{
    if (n) {
        fputc(' ', out);
        dump_node(out, n);
    }
}

static void dump_node(FILE *out, const atl_ast *n)
{
    if (!n) {
        fputs("()", out);
        return;
    }
    switch (n->kind) {
    case ATL_AST_INT:
        fprintf(out, "(int %" PRId64 ")", n->ival);
        return;
    case ATL_AST_FLOAT:
        fputs("(float ", out);
        dump_double(out, n->fval);
        fputc(')', out);
        return;
    case ATL_AST_STRING:
        fputs("(str ", out);
        dump_string(out, n->str);
        fputc(')', out);
        return;
    case ATL_AST_BOOL:
        fputs(n->bval ? "(bool true)" : "(bool false)", out);
        return;
    case ATL_AST_IDENT:
        fputs("(ident ", out);
        dump_name(out, n->name);
        fputc(')', out);
        return;
    case ATL_AST_UNARY:
        /* neg/not, so unary minus is not confused with binary minus */
        fputs(n->op == ATL_AST_OP_NOT ? "(not" : "(neg", out);
        dump_opt(out, n->a);
        break;
    case ATL_AST_BINARY:
        fprintf(out, "(%s", atl_ast_op_name(n->op));
        dump_opt(out, n->a);
        dump_opt(out, n->b);
        break;
    case ATL_AST_TERNARY:
    case ATL_AST_INDEX:
        fprintf(out, "(%s", atl_ast_kind_name(n->kind));
        dump_opt(out, n->a);
        dump_opt(out, n->b);
        dump_opt(out, n->c);
        break;
    case ATL_AST_CALL:
        fputs("(call ", out);
        dump_name(out, n->name);
        dump_kids(out, n);
        if (n->c) {
            fputs(" (as ", out);
            dump_node(out, n->c);
            fputc(')', out);
        }
        break;
    case ATL_AST_MEMBER:
        fputs("(member", out);
        dump_opt(out, n->a);
        fputc(' ', out);
        dump_name(out, n->name);
        break;
    case ATL_AST_KWARG:
    case ATL_AST_ASSIGN:
    case ATL_AST_PARAM:
    case ATL_AST_CONST:
    case ATL_AST_ENTRY:
        fprintf(out, "(%s ", atl_ast_kind_name(n->kind));
        dump_name(out, n->name);
        dump_opt(out, n->a);
        break;
    case ATL_AST_INPUT:
        fputs("(input ", out);
        dump_name(out, n->name);
        fputc(' ', out);
        dump_name(out, n->str);
        dump_kids(out, n);
        break;
    case ATL_AST_FOR:
        fputs("(for ", out);
        dump_name(out, n->name);
        dump_opt(out, n->a);
        dump_opt(out, n->b);
        dump_opt(out, n->c);
        break;
    case ATL_AST_IF:
        fputs("(if", out);
        dump_opt(out, n->a);
        dump_opt(out, n->b);
        dump_opt(out, n->c);
        break;
    case ATL_AST_ASSERT:
        fputs("(assert", out);
        dump_opt(out, n->a);
        dump_opt(out, n->b);
        break;
    case ATL_AST_LIST:
    case ATL_AST_RETURN:
    case ATL_AST_BODY:
        fprintf(out, "(%s", atl_ast_kind_name(n->kind));
        dump_kids(out, n);
        break;
    case ATL_AST_BLOCKDEF:
    case ATL_AST_MODEL:
        fprintf(out, "(%s ", atl_ast_kind_name(n->kind));
        dump_name(out, n->name);
        dump_kids(out, n);
        dump_opt(out, n->b);
        break;
    case ATL_AST_CONFIG:
        fputs("(config ", out);
        dump_name(out, n->name);
        if (n->str) {
            fputc(' ', out);
            dump_string(out, n->str);
        }
        dump_kids(out, n);
        break;
    case ATL_AST_IMPORT:
        fputs("(import ", out);
        dump_string(out, n->str);
        break;
    case ATL_AST_FILE:
        /* only reached for a FILE nested in something else; atl_ast_dump handles the root */
        fputs("(file", out);
        dump_kids(out, n);
        break;
    default:
        fprintf(out, "(?%d", (int)n->kind);
        break;
    }
    fputc(')', out);
}

void atl_ast_dump(FILE *out, const atl_ast *n)
{
    if (n && n->kind == ATL_AST_FILE) {
        for (int i = 0; i < n->n_kids; i++) {
            dump_node(out, n->kids[i]);
            fputc('\n', out);
        }
        return;
    }
    dump_node(out, n);
    fputc('\n', out);
}
