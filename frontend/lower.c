/* The elaborator: executes a model file at compile time and builds IR (see lower.h).
 *
 * Errors: every problem is reported at the DSL span that caused it; the faulty expression then
 * evaluates to a "poison" value that silently propagates, so one run reports several independent
 * mistakes without cascades.
 */
#include "lower.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* values and environments */

typedef enum vkind { V_POISON = 0, V_INT, V_FLOAT, V_BOOL, V_STR, V_LIST, V_TENSOR } vkind;

typedef struct val val;
struct val {
    vkind k;
    int64_t i;
    double f;
    bool b;
    const char *s;
    val *items;
    int n;
    int32_t node; /* V_TENSOR: node index in the function of the evaluating context */
};

static const val POISON = {.k = V_POISON};

typedef struct binding {
    const char *name;
    val v;
} binding;

typedef struct frame {
    binding *b;
    int n, cap;
    struct frame *parent;
} frame;

typedef struct spec {
    char *key;
    int func; /* -1: elaboration failed */
} spec;

#define MAX_CALL_DEPTH 64

typedef struct L {
    atl_diag *d;
    atl_module *m;
    int src;      /* diag source id of the model file */
    int mod_file; /* module source index */
    atl_arena tmp;
    const atl_ast *file;
    frame globals;
    spec *specs;
    int n_specs, cap_specs;
    const char *stack[MAX_CALL_DEPTH];
    int depth;
    /* files whose blocks and consts are visible: imports (in load order), then the main file */
    const atl_ast *files[64];
    char *file_paths[64]; /* resolved paths, for cycle detection */
    int n_files;
    atl_ast *owned[64]; /* parsed imports, freed at the end */
    int n_owned;
} L;

typedef struct ctx {
    L *l;
    int fi; /* function being built */
    frame *fr;
    bool is_model;
    bool returned;
    val ret;
    int32_t outs[64];
    const char *out_names[64];
    int n_outs;
    const atl_ast *return_stmt;
} ctx;

#define F(c) (&(c)->l->m->funcs[(c)->fi])

static void err(L *l, atl_span sp, const char *fmt, ...) ATL_PRINTF(3, 4);
static void err(L *l, atl_span sp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    atl_diag_vreport(l->d, ATL_SEV_ERROR, sp, fmt, ap);
    va_end(ap);
}

static atl_loc loc_of(L *l, atl_span sp)
{
    if (sp.file < 0)
        return ATL_NO_LOC;
    int line, col;
    atl_diag_line_col(l->d, sp.file, sp.begin, &line, &col);
    atl_loc r = {l->mod_file, line, col, (int32_t)(sp.end > sp.begin ? sp.end - sp.begin : 1)};
    if (sp.file != l->src) {
        const atl_source *s = atl_diag_source(l->d, sp.file);
        r.file = s ? atl_module_add_source(l->m, s->path) : -1;
    }
    return r;
}

static void frame_set(L *l, frame *fr, const char *name, val v)
{
    for (int i = 0; i < fr->n; i++)
        if (strcmp(fr->b[i].name, name) == 0) {
            fr->b[i].v = v;
            return;
        }
    if (fr->n == fr->cap) {
        int nc = fr->cap ? 2 * fr->cap : 16;
        binding *p = realloc(fr->b, sizeof *p * (size_t)nc);
        if (!p)
            abort();
        fr->b = p;
        fr->cap = nc;
    }
    fr->b[fr->n].name = atl_arena_strdup(&l->tmp, name);
    fr->b[fr->n].v = v;
    fr->n++;
}

static const val *frame_get(const frame *fr, const char *name)
{
    for (; fr; fr = fr->parent)
        for (int i = fr->n - 1; i >= 0; i--)
            if (strcmp(fr->b[i].name, name) == 0)
                return &fr->b[i].v;
    return NULL;
}

static val v_int(int64_t i) { return (val){.k = V_INT, .i = i}; }
static val v_float(double f) { return (val){.k = V_FLOAT, .f = f}; }
static val v_bool(bool b) { return (val){.k = V_BOOL, .b = b}; }
static val v_str(const char *s) { return (val){.k = V_STR, .s = s}; }
static val v_tensor(int32_t n) { return (val){.k = V_TENSOR, .node = n}; }

static const char *kind_name(vkind k)
{
    switch (k) {
    case V_INT:
        return "an integer";
    case V_FLOAT:
        return "a float";
    case V_BOOL:
        return "a boolean";
    case V_STR:
        return "a string";
    case V_LIST:
        return "a list";
    case V_TENSOR:
        return "a tensor";
    default:
        return "an invalid value";
    }
}

static bool is_num(const val *v) { return v->k == V_INT || v->k == V_FLOAT; }
static double num(const val *v) { return v->k == V_INT ? (double)v->i : v->f; }

/* Text of a compile-time value (names, messages). */
static void val_text(const val *v, char *buf, size_t n)
{
    switch (v->k) {
    case V_INT:
        snprintf(buf, n, "%lld", (long long)v->i);
        break;
    case V_FLOAT:
        snprintf(buf, n, "%g", v->f);
        break;
    case V_BOOL:
        snprintf(buf, n, "%s", v->b ? "true" : "false");
        break;
    case V_STR:
        snprintf(buf, n, "%s", v->s);
        break;
    case V_LIST: {
        size_t k = (size_t)snprintf(buf, n, "[");
        for (int i = 0; i < v->n && k < n; i++) {
            char t[64];
            val_text(&v->items[i], t, sizeof t);
            k += (size_t)snprintf(buf + k, n - k, i ? ", %s" : "%s", t);
        }
        if (k < n)
            snprintf(buf + k, n - k, "]");
        break;
    }
    case V_TENSOR:
        snprintf(buf, n, "<tensor>");
        break;
    default:
        snprintf(buf, n, "<invalid>");
    }
}

static bool val_equal(const val *a, const val *b)
{
    if (is_num(a) && is_num(b))
        return a->k == V_INT && b->k == V_INT ? a->i == b->i : num(a) == num(b);
    if (a->k != b->k)
        return false;
    switch (a->k) {
    case V_BOOL:
        return a->b == b->b;
    case V_STR:
        return strcmp(a->s, b->s) == 0;
    case V_LIST:
        if (a->n != b->n)
            return false;
        for (int i = 0; i < a->n; i++)
            if (!val_equal(&a->items[i], &b->items[i]))
                return false;
        return true;
    default:
        return false;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* IR construction */

/* Append a node, infer its type; on a shape error report at sp and return poison. */
static val add_op(ctx *c, atl_op op, const int32_t *src, int nsrc, const atl_attr *attrs,
                  int nattrs, const atl_type *declared, atl_span sp)
{
    atl_type t;
    memset(&t, 0, sizeof t);
    if (declared)
        t = *declared;
    atl_module *m = c->l->m;
    int32_t idx = atl_func_add_node(m, F(c), op, src, nsrc, attrs, nattrs, t, loc_of(c->l, sp));
    atl_node *n = &F(c)->nodes[idx];
    atl_attr_schema s;
    atl_op_schema(op, &s);
    for (int k = 0; k < s.n; k++)
        if (n->attrs[k].kind == ATL_ATTR_NONE) {
            err(c->l, sp, "%s: missing argument '%s'", atl_op_name(op), s.a[k].name);
            F(c)->n_nodes--;
            return POISON;
        }
    char msg[512];
    if (atl_infer_type(m, F(c), n, &t, msg, sizeof msg)) {
        err(c->l, sp, "%s", msg);
        F(c)->n_nodes--;
        return POISON;
    }
    F(c)->nodes[idx].type = t;
    return v_tensor(idx);
}

static const atl_type *tensor_type(ctx *c, const val *v) { return &F(c)->nodes[v->node].type; }

static val add_param(ctx *c, const char *name, atl_type t, atl_init init, atl_span sp)
{
    atl_func *f = F(c);
    if (atl_func_add_param(c->l->m, f, name, t, init, loc_of(c->l, sp)) < 0) {
        err(c->l, sp,
            "parameter \"%s\" already exists; give this call a distinct name with `as \"...\"`",
            name);
        return POISON;
    }
    atl_attr a = atl_attr_str(name);
    return add_op(c, ATL_OP_PARAM, NULL, 0, &a, 1, &t, sp);
}

/* ------------------------------------------------------------------------------------------ */
/* expressions */

static val eval(ctx *c, const atl_ast *e);
static val eval_call(ctx *c, const atl_ast *e, const char *default_name);
static void exec_body(ctx *c, const atl_ast *body);

static val eval_list(ctx *c, const atl_ast *e)
{
    val r = {.k = V_LIST, .n = e->n_kids};
    r.items = e->n_kids ? atl_arena_alloc(&c->l->tmp, sizeof(val) * (size_t)e->n_kids) : NULL;
    bool poison = false;
    for (int i = 0; i < e->n_kids; i++) {
        r.items[i] = eval(c, e->kids[i]);
        if (r.items[i].k == V_POISON)
            poison = true;
    }
    return poison ? POISON : r;
}

static val arith_int(ctx *c, atl_ast_op op, int64_t a, int64_t b, atl_span sp)
{
    int64_t r = 0;
    bool ovf = false;
    switch (op) {
    case ATL_AST_OP_ADD:
        ovf = __builtin_add_overflow(a, b, &r);
        break;
    case ATL_AST_OP_SUB:
        ovf = __builtin_sub_overflow(a, b, &r);
        break;
    case ATL_AST_OP_MUL:
        ovf = __builtin_mul_overflow(a, b, &r);
        break;
    case ATL_AST_OP_DIV:
    case ATL_AST_OP_MOD:
        if (b == 0) {
            err(c->l, sp, "integer %s by zero", op == ATL_AST_OP_DIV ? "division" : "remainder");
            return POISON;
        }
        if (a == INT64_MIN && b == -1) {
            ovf = true;
            break;
        }
        r = op == ATL_AST_OP_DIV ? a / b : a % b;
        break;
    default:
        break;
    }
    if (ovf) {
        err(c->l, sp, "integer overflow in compile-time arithmetic");
        return POISON;
    }
    return v_int(r);
}

static val tensor_binary(ctx *c, atl_ast_op op, val a, val b, atl_span sp)
{
    static const atl_op ops[] = {[ATL_AST_OP_ADD] = ATL_OP_ADD,
                                 [ATL_AST_OP_SUB] = ATL_OP_SUB,
                                 [ATL_AST_OP_MUL] = ATL_OP_MUL,
                                 [ATL_AST_OP_DIV] = ATL_OP_DIV};
    if (op == ATL_AST_OP_MATMUL) {
        if (a.k != V_TENSOR || b.k != V_TENSOR) {
            err(c->l, sp, "'@' needs two tensors");
            return POISON;
        }
        int32_t s[2] = {a.node, b.node};
        return add_op(c, ATL_OP_MATMUL, s, 2, NULL, 0, NULL, sp);
    }
    if (op != ATL_AST_OP_ADD && op != ATL_AST_OP_SUB && op != ATL_AST_OP_MUL &&
        op != ATL_AST_OP_DIV) {
        err(c->l, sp, "operator '%s' is not defined on tensors", atl_ast_op_name(op));
        return POISON;
    }
    if (a.k == V_TENSOR && b.k == V_TENSOR) {
        int32_t s[2] = {a.node, b.node};
        return add_op(c, ops[op], s, 2, NULL, 0, NULL, sp);
    }
    /* tensor with number: scale / shift */
    bool tensor_left = a.k == V_TENSOR;
    val t = tensor_left ? a : b, k = tensor_left ? b : a;
    if (!is_num(&k)) {
        err(c->l, sp, "cannot combine a tensor with %s using '%s'", kind_name(k.k),
            atl_ast_op_name(op));
        return POISON;
    }
    double x = num(&k);
    atl_attr at;
    switch (op) {
    case ATL_AST_OP_ADD:
        at = atl_attr_float(x);
        return add_op(c, ATL_OP_ADD_SCALAR, &t.node, 1, &at, 1, NULL, sp);
    case ATL_AST_OP_MUL:
        at = atl_attr_float(x);
        return add_op(c, ATL_OP_SCALE, &t.node, 1, &at, 1, NULL, sp);
    case ATL_AST_OP_SUB:
        if (tensor_left) {
            at = atl_attr_float(-x);
            return add_op(c, ATL_OP_ADD_SCALAR, &t.node, 1, &at, 1, NULL, sp);
        } else {
            val neg = add_op(c, ATL_OP_NEG, &t.node, 1, NULL, 0, NULL, sp);
            if (neg.k == V_POISON)
                return neg;
            at = atl_attr_float(x);
            return add_op(c, ATL_OP_ADD_SCALAR, &neg.node, 1, &at, 1, NULL, sp);
        }
    case ATL_AST_OP_DIV:
        if (!tensor_left) {
            err(c->l, sp, "dividing a number by a tensor is not supported");
            return POISON;
        }
        if (x == 0) {
            err(c->l, sp, "division of a tensor by zero");
            return POISON;
        }
        at = atl_attr_float(1.0 / x);
        return add_op(c, ATL_OP_SCALE, &t.node, 1, &at, 1, NULL, sp);
    default:
        return POISON;
    }
}

static val eval_binary(ctx *c, const atl_ast *e)
{
    atl_ast_op op = e->op;
    if (op == ATL_AST_OP_AND || op == ATL_AST_OP_OR) {
        val a = eval(c, e->a);
        if (a.k == V_POISON)
            return POISON;
        if (a.k != V_BOOL) {
            err(c->l, e->a->span, "'%s' needs booleans, got %s", atl_ast_op_name(op),
                kind_name(a.k));
            return POISON;
        }
        if (op == ATL_AST_OP_AND ? !a.b : a.b)
            return a; /* short circuit */
        val b = eval(c, e->b);
        if (b.k == V_POISON)
            return POISON;
        if (b.k != V_BOOL) {
            err(c->l, e->b->span, "'%s' needs booleans, got %s", atl_ast_op_name(op),
                kind_name(b.k));
            return POISON;
        }
        return b;
    }
    val a = eval(c, e->a), b = eval(c, e->b);
    if (a.k == V_POISON || b.k == V_POISON)
        return POISON;
    if (a.k == V_TENSOR || b.k == V_TENSOR)
        return tensor_binary(c, op, a, b, e->span);
    switch (op) {
    case ATL_AST_OP_EQ:
    case ATL_AST_OP_NE: {
        bool eq = val_equal(&a, &b);
        return v_bool(op == ATL_AST_OP_EQ ? eq : !eq);
    }
    case ATL_AST_OP_LT:
    case ATL_AST_OP_LE:
    case ATL_AST_OP_GT:
    case ATL_AST_OP_GE: {
        if (!is_num(&a) || !is_num(&b)) {
            err(c->l, e->span, "'%s' compares numbers, got %s and %s", atl_ast_op_name(op),
                kind_name(a.k), kind_name(b.k));
            return POISON;
        }
        double x = num(&a), y = num(&b);
        bool r = op == ATL_AST_OP_LT ? x < y : op == ATL_AST_OP_LE ? x <= y : op == ATL_AST_OP_GT ? x > y : x >= y;
        return v_bool(r);
    }
    case ATL_AST_OP_ADD:
        if (a.k == V_STR || b.k == V_STR) {
            if (a.k == V_LIST || b.k == V_LIST || a.k == V_BOOL || b.k == V_BOOL) {
                err(c->l, e->span, "cannot add %s and %s", kind_name(a.k), kind_name(b.k));
                return POISON;
            }
            char x[256], y[256];
            val_text(&a, x, sizeof x);
            val_text(&b, y, sizeof y);
            return v_str(atl_arena_printf(&c->l->tmp, "%s%s", x, y));
        }
        if (a.k == V_LIST && b.k == V_LIST) {
            val r = {.k = V_LIST, .n = a.n + b.n};
            r.items = atl_arena_alloc(&c->l->tmp, sizeof(val) * (size_t)(r.n ? r.n : 1));
            for (int i = 0; i < a.n; i++)
                r.items[i] = a.items[i];
            for (int i = 0; i < b.n; i++)
                r.items[a.n + i] = b.items[i];
            return r;
        }
        /* fall through */
    case ATL_AST_OP_SUB:
    case ATL_AST_OP_MUL:
    case ATL_AST_OP_DIV:
    case ATL_AST_OP_MOD:
        if (!is_num(&a) || !is_num(&b)) {
            err(c->l, e->span, "operator '%s' is not defined on %s and %s", atl_ast_op_name(op),
                kind_name(a.k), kind_name(b.k));
            return POISON;
        }
        if (a.k == V_INT && b.k == V_INT)
            return arith_int(c, op, a.i, b.i, e->span);
        {
            double x = num(&a), y = num(&b), r;
            if ((op == ATL_AST_OP_DIV || op == ATL_AST_OP_MOD) && y == 0) {
                err(c->l, e->span, "division by zero");
                return POISON;
            }
            r = op == ATL_AST_OP_ADD   ? x + y
                : op == ATL_AST_OP_SUB ? x - y
                : op == ATL_AST_OP_MUL ? x * y
                : op == ATL_AST_OP_DIV ? x / y
                                       : fmod(x, y);
            return v_float(r);
        }
    case ATL_AST_OP_MATMUL:
        err(c->l, e->span, "'@' needs two tensors");
        return POISON;
    default:
        err(c->l, e->span, "unsupported operator");
        return POISON;
    }
}

static val eval_index(ctx *c, const atl_ast *e)
{
    val base = eval(c, e->a), idx = eval(c, e->b);
    if (base.k == V_POISON || idx.k == V_POISON)
        return POISON;
    if (base.k != V_LIST) {
        err(c->l, e->a->span, "only lists can be indexed, this is %s%s", kind_name(base.k),
            base.k == V_TENSOR ? " (use slice(...))" : "");
        return POISON;
    }
    if (idx.k != V_INT) {
        err(c->l, e->b->span, "a list index must be an integer, got %s", kind_name(idx.k));
        return POISON;
    }
    int64_t i = idx.i < 0 ? idx.i + base.n : idx.i;
    if (i < 0 || i >= base.n) {
        err(c->l, e->b->span, "index %lld out of range for a list of length %d",
            (long long)idx.i, base.n);
        return POISON;
    }
    return base.items[i];
}

static val eval_member(ctx *c, const atl_ast *e)
{
    val base = eval(c, e->a);
    if (base.k == V_POISON)
        return POISON;
    if (base.k == V_TENSOR) {
        const atl_type *t = tensor_type(c, &base);
        if (strcmp(e->name, "shape") == 0) {
            val r = {.k = V_LIST, .n = t->rank};
            r.items = atl_arena_alloc(&c->l->tmp, sizeof(val) * (size_t)(t->rank ? t->rank : 1));
            for (int i = 0; i < t->rank; i++)
                r.items[i] = v_int(t->dims[i]);
            return r;
        }
        if (strcmp(e->name, "rank") == 0)
            return v_int(t->rank);
        if (strcmp(e->name, "dtype") == 0)
            return v_str(atl_dtype_name(t->dtype));
        err(c->l, e->name_span.file >= 0 ? e->name_span : e->span,
            "tensors have no member '%s' (members: shape, rank, dtype)", e->name);
        return POISON;
    }
    if (base.k == V_LIST && strcmp(e->name, "len") == 0)
        return v_int(base.n);
    err(c->l, e->span, "%s has no member '%s'", kind_name(base.k), e->name);
    return POISON;
}

static val eval(ctx *c, const atl_ast *e)
{
    switch (e->kind) {
    case ATL_AST_INT:
        return v_int(e->ival);
    case ATL_AST_FLOAT:
        return v_float(e->fval);
    case ATL_AST_STRING:
        return v_str(e->str);
    case ATL_AST_BOOL:
        return v_bool(e->bval);
    case ATL_AST_IDENT: {
        const val *v = frame_get(c->fr, e->name);
        if (!v) {
            err(c->l, e->span, "undefined name '%s'", e->name);
            return POISON;
        }
        return *v;
    }
    case ATL_AST_LIST:
        return eval_list(c, e);
    case ATL_AST_UNARY: {
        val a = eval(c, e->a);
        if (a.k == V_POISON)
            return POISON;
        if (e->op == ATL_AST_OP_NOT) {
            if (a.k != V_BOOL) {
                err(c->l, e->span, "'!' needs a boolean, got %s", kind_name(a.k));
                return POISON;
            }
            return v_bool(!a.b);
        }
        if (a.k == V_TENSOR)
            return add_op(c, ATL_OP_NEG, &a.node, 1, NULL, 0, NULL, e->span);
        if (a.k == V_INT) {
            if (a.i == INT64_MIN) {
                err(c->l, e->span, "integer overflow in compile-time arithmetic");
                return POISON;
            }
            return v_int(-a.i);
        }
        if (a.k == V_FLOAT)
            return v_float(-a.f);
        err(c->l, e->span, "unary '-' needs a number or a tensor, got %s", kind_name(a.k));
        return POISON;
    }
    case ATL_AST_BINARY:
        return eval_binary(c, e);
    case ATL_AST_TERNARY: {
        val cond = eval(c, e->a);
        if (cond.k == V_POISON)
            return POISON;
        if (cond.k != V_BOOL) {
            err(c->l, e->a->span, "a condition must be a boolean, got %s", kind_name(cond.k));
            return POISON;
        }
        return eval(c, cond.b ? e->b : e->c);
    }
    case ATL_AST_CALL:
        return eval_call(c, e, NULL);
    case ATL_AST_INDEX:
        return eval_index(c, e);
    case ATL_AST_MEMBER:
        return eval_member(c, e);
    default:
        err(c->l, e->span, "not an expression");
        return POISON;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* calls */

typedef struct args {
    val pos[32];
    atl_span pos_span[32];
    int n_pos;
    const char *kw[32];
    val kwv[32];
    atl_span kw_span[32];
    bool kw_used[32];
    int n_kw;
    atl_span span; /* the whole call */
    const char *callee;
} args;

static const val *kwarg(args *a, const char *name)
{
    for (int i = 0; i < a->n_kw; i++)
        if (strcmp(a->kw[i], name) == 0) {
            a->kw_used[i] = true;
            return &a->kwv[i];
        }
    return NULL;
}

/* Report keyword arguments nobody consumed. Returns false if there were any. */
static bool check_kwargs(ctx *c, args *a)
{
    bool ok = true;
    for (int i = 0; i < a->n_kw; i++)
        if (!a->kw_used[i]) {
            err(c->l, a->kw_span[i], "%s() has no argument '%s'", a->callee, a->kw[i]);
            ok = false;
        }
    return ok;
}

static bool want_int(ctx *c, const val *v, atl_span sp, const char *what, int64_t *out)
{
    if (v->k != V_INT) {
        err(c->l, sp, "%s must be an integer, got %s", what, kind_name(v->k));
        return false;
    }
    *out = v->i;
    return true;
}

static bool want_tensor(ctx *c, const val *v, atl_span sp, const char *what)
{
    if (v->k != V_TENSOR) {
        err(c->l, sp, "%s must be a tensor, got %s", what, kind_name(v->k));
        return false;
    }
    return true;
}

/* A list of ints (or a single int) as attribute storage in tmp. */
static bool want_ints(ctx *c, const val *v, atl_span sp, const char *what, int64_t *out, int max,
                      int *n)
{
    if (v->k == V_INT) {
        out[0] = v->i;
        *n = 1;
        return true;
    }
    if (v->k != V_LIST) {
        err(c->l, sp, "%s must be a list of integers, got %s", what, kind_name(v->k));
        return false;
    }
    if (v->n > max) {
        err(c->l, sp, "%s has more than %d entries", what, max);
        return false;
    }
    for (int i = 0; i < v->n; i++) {
        if (v->items[i].k != V_INT) {
            err(c->l, sp, "%s must contain only integers, entry %d is %s", what, i,
                kind_name(v->items[i].k));
            return false;
        }
        out[i] = v->items[i].i;
    }
    *n = v->n;
    return true;
}

/* Shape list with at most one -1 entry inferred from numel (reshape). */
static bool shape_from_list(ctx *c, const val *v, atl_span sp, int64_t numel, atl_type *t,
                            atl_dtype dt)
{
    int64_t dims[ATL_MAX_RANK];
    int n;
    if (!want_ints(c, v, sp, "a shape", dims, ATL_MAX_RANK, &n))
        return false;
    int infer = -1;
    int64_t prod = 1;
    for (int i = 0; i < n; i++) {
        if (dims[i] == -1 && numel >= 0) {
            if (infer >= 0) {
                err(c->l, sp, "a shape may contain at most one -1");
                return false;
            }
            infer = i;
            continue;
        }
        if (dims[i] <= 0) {
            err(c->l, sp, "shape dimensions must be positive, got %lld", (long long)dims[i]);
            return false;
        }
        prod *= dims[i];
    }
    if (infer >= 0) {
        if (prod == 0 || numel % prod) {
            err(c->l, sp, "cannot infer the -1 dimension: %lld elements do not divide by %lld",
                (long long)numel, (long long)prod);
            return false;
        }
        dims[infer] = numel / prod;
    }
    *t = atl_type_make(dt, n, dims);
    return true;
}

static bool parse_init_arg(ctx *c, args *a, const char *key, atl_init *out, atl_init def)
{
    const val *v = kwarg(a, key);
    *out = def;
    if (!v)
        return true;
    if (v->k != V_STR) {
        err(c->l, a->span, "%s must be a string such as \"trunc_normal(0.02)\"", key);
        return false;
    }
    char msg[256];
    if (atl_init_parse(v->s, out, msg, sizeof msg)) {
        err(c->l, a->span, "%s", msg);
        return false;
    }
    return true;
}

static char *join(ctx *c, const char *a, const char *b)
{
    return *a ? atl_arena_printf(&c->l->tmp, "%s.%s", a, b) : atl_arena_strdup(&c->l->tmp, b);
}

/* linear(x, out, bias = true, init = "fan_in", bias_init = "zeros") */
static val builtin_linear(ctx *c, args *a, const char *name)
{
    int64_t out;
    if (a->n_pos != 2) {
        err(c->l, a->span, "linear(x, out_features) takes 2 positional arguments, got %d",
            a->n_pos);
        return POISON;
    }
    if (!want_tensor(c, &a->pos[0], a->pos_span[0], "linear's input") ||
        !want_int(c, &a->pos[1], a->pos_span[1], "out_features", &out))
        return POISON;
    if (out <= 0) {
        err(c->l, a->pos_span[1], "out_features must be positive, got %lld", (long long)out);
        return POISON;
    }
    const val *bv = kwarg(a, "bias");
    bool bias = true;
    if (bv) {
        if (bv->k != V_BOOL) {
            err(c->l, a->span, "bias must be true or false");
            return POISON;
        }
        bias = bv->b;
    }
    atl_init wi, bi;
    if (!parse_init_arg(c, a, "init", &wi, (atl_init){ATL_INIT_FAN_IN, 0, 0}) ||
        !parse_init_arg(c, a, "bias_init", &bi, (atl_init){ATL_INIT_ZEROS, 0, 0}) ||
        !check_kwargs(c, a))
        return POISON;
    const atl_type *xt = tensor_type(c, &a->pos[0]);
    if (xt->rank < 1 || xt->dtype != ATL_F32) {
        err(c->l, a->pos_span[0], "linear's input must be an f32 tensor of rank >= 1");
        return POISON;
    }
    int64_t in = xt->dims[xt->rank - 1];
    int64_t wd[2] = {out, in}, bd[1] = {out};
    int32_t x = a->pos[0].node;
    val w = add_param(c, join(c, name, "weight"), atl_type_make(ATL_F32, 2, wd), wi, a->span);
    if (w.k == V_POISON)
        return POISON;
    int32_t src[3] = {x, w.node, 0};
    if (bias) {
        val b = add_param(c, join(c, name, "bias"), atl_type_make(ATL_F32, 1, bd), bi, a->span);
        if (b.k == V_POISON)
            return POISON;
        src[2] = b.node;
    }
    return add_op(c, ATL_OP_LINEAR, src, bias ? 3 : 2, NULL, 0, NULL, a->span);
}

/* layernorm(x, eps = 1e-5, affine = true) */
static val builtin_layernorm(ctx *c, args *a, const char *name)
{
    if (a->n_pos != 1 || !want_tensor(c, &a->pos[0], a->pos_span[0], "layernorm's input"))
        return a->n_pos != 1 ? (err(c->l, a->span, "layernorm(x) takes one tensor"), POISON)
                             : POISON;
    double eps = 1e-5;
    bool affine = true;
    const val *v;
    if ((v = kwarg(a, "eps"))) {
        if (!is_num(v) || num(v) <= 0) {
            err(c->l, a->span, "eps must be a positive number");
            return POISON;
        }
        eps = num(v);
    }
    if ((v = kwarg(a, "affine"))) {
        if (v->k != V_BOOL) {
            err(c->l, a->span, "affine must be true or false");
            return POISON;
        }
        affine = v->b;
    }
    if (!check_kwargs(c, a))
        return POISON;
    const atl_type *xt = tensor_type(c, &a->pos[0]);
    atl_attr at = atl_attr_float(eps);
    int32_t src[3] = {a->pos[0].node, 0, 0};
    if (!affine)
        return add_op(c, ATL_OP_LAYERNORM, src, 1, &at, 1, NULL, a->span);
    if (xt->rank < 1) {
        err(c->l, a->pos_span[0], "layernorm's input must have rank >= 1");
        return POISON;
    }
    int64_t ch[1] = {xt->dims[xt->rank - 1]};
    val w = add_param(c, join(c, name, "weight"), atl_type_make(ATL_F32, 1, ch),
                      (atl_init){ATL_INIT_ONES, 0, 0}, a->span);
    val b = add_param(c, join(c, name, "bias"), atl_type_make(ATL_F32, 1, ch),
                      (atl_init){ATL_INIT_ZEROS, 0, 0}, a->span);
    if (w.k == V_POISON || b.k == V_POISON)
        return POISON;
    src[1] = w.node;
    src[2] = b.node;
    return add_op(c, ATL_OP_LAYERNORM, src, 3, &at, 1, NULL, a->span);
}

static val reshape_to(ctx *c, int32_t x, const int64_t *dims, int rank, atl_span sp)
{
    atl_type t = atl_type_make(F(c)->nodes[x].type.dtype, rank, dims);
    return add_op(c, ATL_OP_RESHAPE, &x, 1, NULL, 0, &t, sp);
}

static val permute_by(ctx *c, int32_t x, const int64_t *perm, int rank, atl_span sp)
{
    atl_attr at = atl_attr_ints(perm, rank);
    return add_op(c, ATL_OP_PERMUTE, &x, 1, &at, 1, NULL, sp);
}

/* patch_embed(x, dim, patch, init = "fan_in"): a stride-`patch` convolution written as
 * im2col (reshape + permute) followed by a linear layer, so it can be mapped onto tiles like any
 * linear layer: [B, C, H, W] -> [B, (H/p)*(W/p), dim]. */
static val builtin_patch_embed(ctx *c, args *a, const char *name)
{
    int64_t dim, p;
    if (a->n_pos != 3) {
        err(c->l, a->span, "patch_embed(x, dim, patch) takes 3 positional arguments, got %d",
            a->n_pos);
        return POISON;
    }
    if (!want_tensor(c, &a->pos[0], a->pos_span[0], "patch_embed's input") ||
        !want_int(c, &a->pos[1], a->pos_span[1], "dim", &dim) ||
        !want_int(c, &a->pos[2], a->pos_span[2], "patch", &p))
        return POISON;
    atl_init wi, bi;
    if (!parse_init_arg(c, a, "init", &wi, (atl_init){ATL_INIT_FAN_IN, 0, 0}) ||
        !parse_init_arg(c, a, "bias_init", &bi, (atl_init){ATL_INIT_ZEROS, 0, 0}) ||
        !check_kwargs(c, a))
        return POISON;
    const atl_type *xt = tensor_type(c, &a->pos[0]);
    if (xt->rank != 4) {
        err(c->l, a->pos_span[0], "patch_embed expects an image batch [B, C, H, W]");
        return POISON;
    }
    int64_t b = xt->dims[0], ch = xt->dims[1], h = xt->dims[2], w = xt->dims[3];
    if (dim <= 0 || p <= 0 || h % p || w % p) {
        err(c->l, a->span, "patch_embed: a %lldx%lld image does not split into %lldx%lld patches",
            (long long)h, (long long)w, (long long)p, (long long)p);
        return POISON;
    }
    int64_t d6[6] = {b, ch, h / p, p, w / p, p};
    int64_t perm[6] = {0, 2, 4, 1, 3, 5};
    int64_t d3[3] = {b, (h / p) * (w / p), ch * p * p};
    val t = reshape_to(c, a->pos[0].node, d6, 6, a->span);
    if (t.k == V_POISON)
        return t;
    t = permute_by(c, t.node, perm, 6, a->span);
    if (t.k == V_POISON)
        return t;
    t = reshape_to(c, t.node, d3, 3, a->span);
    if (t.k == V_POISON)
        return t;
    int64_t wd[2] = {dim, ch * p * p}, bd[1] = {dim};
    val wv = add_param(c, join(c, name, "weight"), atl_type_make(ATL_F32, 2, wd), wi, a->span);
    val bv = add_param(c, join(c, name, "bias"), atl_type_make(ATL_F32, 1, bd), bi, a->span);
    if (wv.k == V_POISON || bv.k == V_POISON)
        return POISON;
    int32_t src[3] = {t.node, wv.node, bv.node};
    return add_op(c, ATL_OP_LINEAR, src, 3, NULL, 0, NULL, a->span);
}

/* rel_pos_bias(window, heads): the learnt relative-position bias of window attention,
 * [(2w-1)^2, heads] table gathered by the relative index -> [heads, w*w, w*w]. */
static val builtin_rel_pos_bias(ctx *c, args *a, const char *name)
{
    int64_t win, heads;
    if (a->n_pos != 2) {
        err(c->l, a->span, "rel_pos_bias(window, heads) takes 2 arguments, got %d", a->n_pos);
        return POISON;
    }
    if (!want_int(c, &a->pos[0], a->pos_span[0], "window", &win) ||
        !want_int(c, &a->pos[1], a->pos_span[1], "heads", &heads))
        return POISON;
    atl_init ti;
    if (!parse_init_arg(c, a, "init", &ti, (atl_init){ATL_INIT_TRUNC_NORMAL, 0.02, 0}) ||
        !check_kwargs(c, a))
        return POISON;
    if (win <= 0 || win > 64 || heads <= 0) {
        err(c->l, a->span, "rel_pos_bias: window must be in [1, 64] and heads positive");
        return POISON;
    }
    int64_t td[2] = {(2 * win - 1) * (2 * win - 1), heads};
    val table = add_param(c, join(c, name, "table"), atl_type_make(ATL_F32, 2, td), ti, a->span);
    if (table.k == V_POISON)
        return POISON;
    atl_attr wa = atl_attr_int(win);
    val idx = add_op(c, ATL_OP_REL_POS_INDEX, NULL, 0, &wa, 1, NULL, a->span);
    if (idx.k == V_POISON)
        return POISON;
    int32_t gs[2] = {table.node, idx.node};
    val g = add_op(c, ATL_OP_GATHER, gs, 2, NULL, 0, NULL, a->span);
    if (g.k == V_POISON)
        return g;
    int64_t n = win * win, d3[3] = {n, n, heads}, perm[3] = {2, 0, 1};
    val r = reshape_to(c, g.node, d3, 3, a->span);
    if (r.k == V_POISON)
        return r;
    return permute_by(c, r.node, perm, 3, a->span);
}

/* param(shape, init = "zeros"): a free parameter tensor named after the call. */
static val builtin_param(ctx *c, args *a, const char *name)
{
    if (a->n_pos != 1) {
        err(c->l, a->span, "param(shape) takes one argument");
        return POISON;
    }
    atl_type t;
    atl_init in;
    if (!shape_from_list(c, &a->pos[0], a->pos_span[0], -1, &t, ATL_F32) ||
        !parse_init_arg(c, a, "init", &in, (atl_init){ATL_INIT_ZEROS, 0, 0}) ||
        !check_kwargs(c, a))
        return POISON;
    return add_param(c, name, t, in, a->span);
}

static val builtin_reshape(ctx *c, args *a)
{
    if (a->n_pos != 2 || !check_kwargs(c, a)) {
        if (a->n_pos != 2)
            err(c->l, a->span, "reshape(x, shape) takes 2 arguments");
        return POISON;
    }
    if (!want_tensor(c, &a->pos[0], a->pos_span[0], "reshape's input"))
        return POISON;
    const atl_type *xt = tensor_type(c, &a->pos[0]);
    atl_type t;
    if (!shape_from_list(c, &a->pos[1], a->pos_span[1], atl_type_numel(xt), &t, xt->dtype))
        return POISON;
    return add_op(c, ATL_OP_RESHAPE, &a->pos[0].node, 1, NULL, 0, &t, a->span);
}

static val builtin_full(ctx *c, args *a)
{
    if (a->n_pos != 2 || !check_kwargs(c, a)) {
        if (a->n_pos != 2)
            err(c->l, a->span, "full(shape, value) takes 2 arguments");
        return POISON;
    }
    atl_type t;
    if (!shape_from_list(c, &a->pos[0], a->pos_span[0], -1, &t, ATL_F32))
        return POISON;
    if (!is_num(&a->pos[1])) {
        err(c->l, a->pos_span[1], "full's value must be a number");
        return POISON;
    }
    atl_attr at = atl_attr_float(num(&a->pos[1]));
    return add_op(c, ATL_OP_FULL, NULL, 0, &at, 1, &t, a->span);
}

/* transpose(x, a, b): swap two axes */
static val builtin_transpose(ctx *c, args *a)
{
    int64_t x0, x1;
    if (a->n_pos != 3 || !check_kwargs(c, a)) {
        if (a->n_pos != 3)
            err(c->l, a->span, "transpose(x, axis_a, axis_b) takes 3 arguments");
        return POISON;
    }
    if (!want_tensor(c, &a->pos[0], a->pos_span[0], "transpose's input") ||
        !want_int(c, &a->pos[1], a->pos_span[1], "axis", &x0) ||
        !want_int(c, &a->pos[2], a->pos_span[2], "axis", &x1))
        return POISON;
    int r = tensor_type(c, &a->pos[0])->rank;
    if (x0 < 0)
        x0 += r;
    if (x1 < 0)
        x1 += r;
    if (x0 < 0 || x0 >= r || x1 < 0 || x1 >= r) {
        err(c->l, a->span, "transpose: axis out of range for rank %d", r);
        return POISON;
    }
    int64_t perm[ATL_MAX_RANK];
    for (int i = 0; i < r; i++)
        perm[i] = i;
    perm[x0] = x1;
    perm[x1] = x0;
    return permute_by(c, a->pos[0].node, perm, r, a->span);
}

/* concat([a, b, ...], axis) */
static val builtin_concat(ctx *c, args *a)
{
    const val *axv = a->n_pos >= 2 ? &a->pos[1] : kwarg(a, "axis");
    if (a->n_pos < 1 || a->n_pos > 2 || !axv || a->pos[0].k != V_LIST) {
        err(c->l, a->span, "concat takes a list of tensors and an axis: concat([a, b], axis)");
        return POISON;
    }
    if (!check_kwargs(c, a))
        return POISON;
    int64_t axis;
    if (!want_int(c, axv, a->span, "axis", &axis))
        return POISON;
    const val *l = &a->pos[0];
    if (l->n < 1 || l->n > 256) {
        err(c->l, a->pos_span[0], "concat needs 1 to 256 tensors");
        return POISON;
    }
    int32_t src[256];
    for (int i = 0; i < l->n; i++) {
        if (!want_tensor(c, &l->items[i], a->pos_span[0], "every concat operand"))
            return POISON;
        src[i] = l->items[i].node;
    }
    atl_attr at = atl_attr_int(axis);
    return add_op(c, ATL_OP_CONCAT, src, l->n, &at, 1, NULL, a->span);
}

/* A primitive op of the op table: tensors first, then attributes positionally or by keyword. */
static val generic_op(ctx *c, atl_op op, args *a)
{
    const atl_op_info *info = atl_op_get(op);
    atl_attr_schema s;
    atl_op_schema(op, &s);
    int32_t src[32];
    int n_src = 0, k = 0;
    while (k < a->n_pos && a->pos[k].k == V_TENSOR)
        src[n_src++] = a->pos[k++].node;
    if (n_src < info->min_inputs || (info->max_inputs >= 0 && n_src > info->max_inputs)) {
        if (info->min_inputs == info->max_inputs)
            err(c->l, a->span, "%s takes %d tensor operand(s), got %d", info->name,
                info->min_inputs, n_src);
        else
            err(c->l, a->span, "%s takes %d to %d tensor operands, got %d", info->name,
                info->min_inputs, info->max_inputs, n_src);
        return POISON;
    }
    atl_attr attrs[ATL_MAX_ATTRS];
    memset(attrs, 0, sizeof attrs);
    int64_t intbuf[ATL_MAX_ATTRS][ATL_MAX_RANK * 2];
    int ai = 0;
    for (; k < a->n_pos; k++, ai++) {
        if (a->pos[k].k == V_TENSOR) {
            err(c->l, a->pos_span[k], "%s: tensor operands must come first", info->name);
            return POISON;
        }
        if (ai >= s.n) {
            err(c->l, a->pos_span[k], "%s takes %d attribute argument(s), got more", info->name,
                s.n);
            return POISON;
        }
    }
    ai = 0;
    for (int i = 0; i < s.n; i++) {
        const val *v = NULL;
        atl_span sp = a->span;
        int p = n_src + i;
        if (p < a->n_pos) {
            v = &a->pos[p];
            sp = a->pos_span[p];
        }
        const val *kv = kwarg(a, s.a[i].name);
        if (kv && v) {
            err(c->l, sp, "%s: argument '%s' given twice", info->name, s.a[i].name);
            return POISON;
        }
        if (kv) {
            v = kv;
            sp = a->kw_span[kv - a->kwv];
        }
        if (!v)
            continue; /* default, or reported as missing by add_op */
        char what[64];
        snprintf(what, sizeof what, "%s's argument '%s'", info->name, s.a[i].name);
        switch (s.a[i].kind) {
        case ATL_ATTR_INT: {
            int64_t x;
            if (!want_int(c, v, sp, what, &x))
                return POISON;
            attrs[i] = atl_attr_int(x);
            break;
        }
        case ATL_ATTR_FLOAT:
            if (!is_num(v)) {
                err(c->l, sp, "%s must be a number, got %s", what, kind_name(v->k));
                return POISON;
            }
            attrs[i] = atl_attr_float(num(v));
            break;
        case ATL_ATTR_BOOL:
            if (v->k != V_BOOL) {
                err(c->l, sp, "%s must be true or false, got %s", what, kind_name(v->k));
                return POISON;
            }
            attrs[i] = atl_attr_bool(v->b);
            break;
        case ATL_ATTR_STR:
            if (v->k != V_STR) {
                err(c->l, sp, "%s must be a string, got %s", what, kind_name(v->k));
                return POISON;
            }
            attrs[i] = atl_attr_str(v->s);
            break;
        case ATL_ATTR_INTS: {
            int n;
            if (!want_ints(c, v, sp, what, intbuf[i], ATL_MAX_RANK * 2, &n))
                return POISON;
            /* normalise negative axes of permutations so later folds compose them safely */
            if (op == ATL_OP_PERMUTE && n_src == 1) {
                int r = F(c)->nodes[src[0]].type.rank;
                for (int j = 0; j < n; j++)
                    if (intbuf[i][j] < 0)
                        intbuf[i][j] += r;
            }
            attrs[i] = atl_attr_ints(intbuf[i], n);
            break;
        }
        default:
            break;
        }
    }
    if (!check_kwargs(c, a))
        return POISON;
    return add_op(c, op, src, n_src, attrs, s.n, NULL, a->span);
}

/* Compile-time builtins. Returns true if `name` is one (result in *out). */
static bool ct_builtin(ctx *c, const char *name, args *a, val *out)
{
    *out = POISON;
    if (strcmp(name, "len") == 0) {
        if (a->n_pos != 1 || a->n_kw) {
            err(c->l, a->span, "len(list) takes one argument");
        } else if (a->pos[0].k == V_LIST) {
            *out = v_int(a->pos[0].n);
        } else if (a->pos[0].k == V_STR) {
            *out = v_int((int64_t)strlen(a->pos[0].s));
        } else {
            err(c->l, a->pos_span[0], "len() needs a list or a string, got %s",
                kind_name(a->pos[0].k));
        }
        return true;
    }
    if (strcmp(name, "min") == 0 || strcmp(name, "max") == 0) {
        bool mx = name[1] == 'a';
        const val *items = a->pos;
        int n = a->n_pos;
        if (n == 1 && a->pos[0].k == V_LIST) {
            items = a->pos[0].items;
            n = a->pos[0].n;
        }
        if (n == 0 || a->n_kw) {
            err(c->l, a->span, "%s() needs numbers", name);
            return true;
        }
        val best = items[0];
        for (int i = 0; i < n; i++) {
            if (!is_num(&items[i])) {
                err(c->l, a->span, "%s() needs numbers, got %s", name, kind_name(items[i].k));
                return true;
            }
            if (mx ? num(&items[i]) > num(&best) : num(&items[i]) < num(&best))
                best = items[i];
        }
        *out = best;
        return true;
    }
    if (strcmp(name, "range") == 0) {
        if (a->n_pos < 1 || a->n_pos > 3 || a->n_kw) {
            err(c->l, a->span, "range(stop), range(start, stop) or range(start, stop, step)");
            return true;
        }
        for (int i = 0; i < a->n_pos; i++)
            if (!is_num(&a->pos[i])) {
                err(c->l, a->pos_span[i], "range() needs numbers");
                return true;
            }
        bool all_int = true;
        for (int i = 0; i < a->n_pos; i++)
            all_int &= a->pos[i].k == V_INT;
        double lo = a->n_pos > 1 ? num(&a->pos[0]) : 0, hi = num(&a->pos[a->n_pos > 1 ? 1 : 0]);
        double st = a->n_pos > 2 ? num(&a->pos[2]) : 1;
        if (st <= 0) {
            err(c->l, a->span, "range() step must be positive");
            return true;
        }
        /* small epsilon so float ranges like range(0, 0.2, 0.05) include values that are
         * meant to be below the stop but land on it by rounding */
        double cnt = ceil((hi - lo) / st - (all_int ? 0 : 1e-9));
        if (cnt > 100000) {
            err(c->l, a->span, "range() with more than 100000 values");
            return true;
        }
        int n = cnt > 0 ? (int)cnt : 0;
        val r = {.k = V_LIST, .n = n};
        r.items = atl_arena_alloc(&c->l->tmp, sizeof(val) * (size_t)(n ? n : 1));
        for (int i = 0; i < n; i++)
            r.items[i] = all_int ? v_int((int64_t)lo + (int64_t)i * (int64_t)st)
                                 : v_float(lo + i * st);
        *out = r;
        return true;
    }
    if (strcmp(name, "int") == 0 || strcmp(name, "float") == 0 || strcmp(name, "sqrt") == 0 ||
        strcmp(name, "str") == 0) {
        if (a->n_pos != 1 || a->n_kw) {
            err(c->l, a->span, "%s() takes one argument", name);
            return true;
        }
        const val *v = &a->pos[0];
        if (name[0] == 's' && name[1] == 't') {
            char buf[512];
            if (v->k == V_TENSOR) {
                err(c->l, a->span, "str() of a tensor");
                return true;
            }
            val_text(v, buf, sizeof buf);
            *out = v_str(atl_arena_strdup(&c->l->tmp, buf));
            return true;
        }
        if (!is_num(v)) {
            err(c->l, a->pos_span[0], "%s() needs a number, got %s", name, kind_name(v->k));
            return true;
        }
        if (name[0] == 'i') {
            double x = num(v);
            if (!(x > -9.2e18 && x < 9.2e18)) {
                err(c->l, a->span, "int() of an out-of-range value");
                return true;
            }
            *out = v_int((int64_t)x);
        } else if (name[0] == 'f') {
            *out = v_float(num(v));
        } else {
            if (num(v) < 0) {
                err(c->l, a->span, "sqrt() of a negative number");
                return true;
            }
            *out = v_float(sqrt(num(v)));
        }
        return true;
    }
    return false;
}

/* `as "block{i}"`: replace {ident} with the value of the compile-time variable. */
static const char *interpolate(ctx *c, const char *s, atl_span sp)
{
    char out[512];
    size_t k = 0;
    for (const char *p = s; *p;) {
        if (*p == '{') {
            const char *q = strchr(p, '}');
            if (!q) {
                err(c->l, sp, "unclosed '{' in name \"%s\"", s);
                return NULL;
            }
            char id[64];
            size_t n = (size_t)(q - p - 1);
            if (n == 0 || n >= sizeof id) {
                err(c->l, sp, "bad '{...}' in name \"%s\"", s);
                return NULL;
            }
            memcpy(id, p + 1, n);
            id[n] = '\0';
            const val *v = frame_get(c->fr, id);
            if (!v) {
                err(c->l, sp, "undefined name '%s' in name \"%s\"", id, s);
                return NULL;
            }
            if (v->k != V_INT && v->k != V_STR) {
                err(c->l, sp, "'{%s}' in a name must be an integer or string, got %s", id,
                    kind_name(v->k));
                return NULL;
            }
            char t[256];
            val_text(v, t, sizeof t);
            k += (size_t)snprintf(out + k, k < sizeof out ? sizeof out - k : 0, "%s", t);
            p = q + 1;
            continue;
        }
        if (k + 1 < sizeof out)
            out[k++] = *p;
        p++;
    }
    if (k >= sizeof out) {
        err(c->l, sp, "name too long");
        return NULL;
    }
    out[k] = '\0';
    return atl_arena_strdup(&c->l->tmp, out);
}

/* "" is allowed: the call adds no level to the parameter names */
static bool valid_name(const char *s)
{
    if (!*s)
        return true;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-'))
            return false;
    return s[0] != '.' && s[strlen(s) - 1] != '.';
}

static const atl_ast *find_block(L *l, const char *name)
{
    for (int f = l->n_files - 1; f >= 0; f--)
        for (int i = 0; i < l->files[f]->n_kids; i++) {
            const atl_ast *it = l->files[f]->kids[i];
            if (it->kind == ATL_AST_BLOCKDEF && strcmp(it->name, name) == 0)
                return it;
        }
    return NULL;
}

/* Resolve `import "p"` against the directory of the importing source. */
static char *resolve_import(const char *from, const char *p)
{
    if (p[0] == '/')
        return strdup(p);
    const char *slash = strrchr(from, '/');
    size_t dl = slash ? (size_t)(slash - from + 1) : 0;
    char *r = malloc(dl + strlen(p) + 1);
    if (!r)
        abort();
    memcpy(r, from, dl);
    strcpy(r + dl, p);
    return r;
}

/* Load the imports of `file` (depth first), so that imported files precede their importers in
 * l->files. */
static void load_imports(L *l, const atl_ast *file, int src_id, int depth)
{
    const atl_source *src = atl_diag_source(l->d, src_id);
    for (int i = 0; i < file->n_kids; i++) {
        const atl_ast *it = file->kids[i];
        if (it->kind != ATL_AST_IMPORT)
            continue;
        atl_span sp = it->str_span.file >= 0 ? it->str_span : it->span;
        char *path = resolve_import(src ? src->path : "", it->str);
        char *canon = realpath(path, NULL);
        if (!canon) {
            err(l, sp, "cannot import \"%s\": no such file", path);
            free(path);
            continue;
        }
        bool seen = false;
        for (int f = 0; f < l->n_files; f++)
            if (l->file_paths[f] && strcmp(l->file_paths[f], canon) == 0)
                seen = true;
        if (seen || depth > 16) {
            if (depth > 16)
                err(l, sp, "imports nested more than 16 deep");
            free(canon);
            free(path);
            continue; /* each file is imported once; an import cycle is harmless */
        }
        if (l->n_files >= 63) {
            err(l, sp, "too many imported files");
            free(canon);
            free(path);
            continue;
        }
        int id = atl_diag_load_file(l->d, path);
        atl_ast *ast = id >= 0 ? atl_parse(l->d, id) : NULL;
        free(path);
        if (!ast) {
            free(canon);
            continue;
        }
        l->owned[l->n_owned++] = ast;
        /* mark as loading before recursing so that cycles stop */
        int slot = l->n_files++;
        l->files[slot] = NULL;
        l->file_paths[slot] = canon;
        load_imports(l, ast, id, depth + 1);
        l->files[slot] = ast;
    }
}

static val call_block(ctx *c, const atl_ast *def, args *a, const char *inst, atl_span sp);

static const char *const composite_builtins[] = {"linear", "layernorm", "patch_embed",
                                                 "rel_pos_bias", "param", "reshape", "full",
                                                 "transpose", "concat"};
static const char *const ct_builtins[] = {"len", "min", "max", "range", "int", "float", "sqrt",
                                          "str"};

static int edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 40 || m > 40)
        return 99;
    int d[41][41];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int x = d[i - 1][j] + 1, y = d[i][j - 1] + 1, z = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            d[i][j] = x < y ? (x < z ? x : z) : (y < z ? y : z);
        }
    return d[n][m];
}

static void suggest(ctx *c, const char *name, char *buf, size_t n)
{
    const char *best = NULL;
    int bd = 3;
#define TRY(s)                                                                                 \
    do {                                                                                       \
        int dd = edit_distance(name, (s));                                                     \
        if (dd < bd) {                                                                         \
            bd = dd;                                                                           \
            best = (s);                                                                        \
        }                                                                                      \
    } while (0)
    for (int op = 0; op < ATL_OP_COUNT; op++)
        TRY(atl_op_name((atl_op)op));
    for (size_t i = 0; i < sizeof composite_builtins / sizeof *composite_builtins; i++)
        TRY(composite_builtins[i]);
    for (size_t i = 0; i < sizeof ct_builtins / sizeof *ct_builtins; i++)
        TRY(ct_builtins[i]);
    for (int f = 0; f < c->l->n_files; f++)
        for (int i = 0; i < c->l->files[f]->n_kids; i++)
            if (c->l->files[f]->kids[i]->kind == ATL_AST_BLOCKDEF)
                TRY(c->l->files[f]->kids[i]->name);
#undef TRY
    if (best)
        snprintf(buf, n, "; did you mean '%s'?", best);
    else
        buf[0] = '\0';
}

static val eval_call(ctx *c, const atl_ast *e, const char *default_name)
{
    args *a = calloc(1, sizeof *a);
    if (!a)
        abort();
    a->span = e->span;
    a->callee = e->name;
    val result = POISON;
    bool poison = false;
    for (int i = 0; i < e->n_kids; i++) {
        const atl_ast *k = e->kids[i];
        if (k->kind == ATL_AST_KWARG) {
            if (a->n_kw == 32) {
                err(c->l, k->span, "too many keyword arguments");
                goto done;
            }
            for (int j = 0; j < a->n_kw; j++)
                if (strcmp(a->kw[j], k->name) == 0) {
                    err(c->l, k->span, "keyword argument '%s' given twice", k->name);
                    poison = true;
                }
            a->kw[a->n_kw] = k->name;
            a->kw_span[a->n_kw] = k->span;
            a->kwv[a->n_kw] = eval(c, k->a);
            if (a->kwv[a->n_kw].k == V_POISON)
                poison = true;
            a->n_kw++;
        } else {
            if (a->n_pos == 32) {
                err(c->l, k->span, "too many arguments");
                goto done;
            }
            a->pos_span[a->n_pos] = k->span;
            a->pos[a->n_pos] = eval(c, k);
            if (a->pos[a->n_pos].k == V_POISON)
                poison = true;
            a->n_pos++;
        }
    }
    if (poison)
        goto done;

    /* instance name: `as NAME`, else the assigned variable, else the callee */
    const char *inst = default_name ? default_name : e->name;
    if (e->c) {
        val nv = eval(c, e->c);
        if (nv.k == V_POISON)
            goto done;
        if (nv.k != V_STR) {
            err(c->l, e->c->span, "a call name must be a string, got %s", kind_name(nv.k));
            goto done;
        }
        inst = interpolate(c, nv.s, e->c->span);
        if (!inst)
            goto done;
        if (!valid_name(inst)) {
            err(c->l, e->c->span,
                "invalid call name \"%s\" (letters, digits, '_', '-' and inner dots only)", inst);
            goto done;
        }
    }

    const atl_ast *blk = find_block(c->l, e->name);
    if (blk) {
        result = call_block(c, blk, a, inst, e->span);
        goto done;
    }
    if (ct_builtin(c, e->name, a, &result))
        goto done;
    const char *n = e->name;
    bool second_is_tensor = a->n_pos >= 2 && a->pos[1].k == V_TENSOR;
    if (strcmp(n, "linear") == 0 && !second_is_tensor) {
        result = builtin_linear(c, a, inst);
    } else if (strcmp(n, "layernorm") == 0 && a->n_pos == 1) {
        result = builtin_layernorm(c, a, inst);
    } else if (strcmp(n, "patch_embed") == 0) {
        result = builtin_patch_embed(c, a, inst);
    } else if (strcmp(n, "rel_pos_bias") == 0) {
        result = builtin_rel_pos_bias(c, a, inst);
    } else if (strcmp(n, "param") == 0) {
        result = builtin_param(c, a, inst);
    } else if (strcmp(n, "reshape") == 0) {
        result = builtin_reshape(c, a);
    } else if (strcmp(n, "full") == 0) {
        result = builtin_full(c, a);
    } else if (strcmp(n, "transpose") == 0) {
        result = builtin_transpose(c, a);
    } else if (strcmp(n, "concat") == 0) {
        result = builtin_concat(c, a);
    } else {
        int op = atl_op_lookup(n);
        if (op < 0 || op == ATL_OP_INPUT || op == ATL_OP_CALL) {
            char hint[96];
            suggest(c, n, hint, sizeof hint);
            err(c->l, e->name_span.file >= 0 ? e->name_span : e->span,
                "unknown op or block '%s'%s", n, hint);
        } else {
            result = generic_op(c, (atl_op)op, a);
        }
    }
done:
    free(a);
    return result;
}

/* ------------------------------------------------------------------------------------------ */
/* blocks */

static void key_append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap)
            *cap = *cap ? 2 * *cap : 256;
        char *p = realloc(*buf, *cap);
        if (!p)
            abort();
        *buf = p;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

static void key_val(ctx *c, const val *v, char **buf, size_t *len, size_t *cap)
{
    char t[256];
    switch (v->k) {
    case V_TENSOR:
        key_append(buf, len, cap, "T");
        key_append(buf, len, cap, atl_type_str(tensor_type(c, v), t, sizeof t));
        break;
    case V_LIST:
        key_append(buf, len, cap, "[");
        for (int i = 0; i < v->n; i++) {
            key_val(c, &v->items[i], buf, len, cap);
            key_append(buf, len, cap, ",");
        }
        key_append(buf, len, cap, "]");
        break;
    case V_FLOAT:
        snprintf(t, sizeof t, "F%.17g", v->f);
        key_append(buf, len, cap, t);
        break;
    case V_STR:
        key_append(buf, len, cap, "S");
        key_append(buf, len, cap, v->s);
        key_append(buf, len, cap, "\x01");
        break;
    default:
        val_text(v, t, sizeof t);
        key_append(buf, len, cap, v->k == V_INT ? "I" : "B");
        key_append(buf, len, cap, t);
    }
}

static bool contains_tensor(const val *v)
{
    if (v->k == V_TENSOR)
        return true;
    if (v->k == V_LIST)
        for (int i = 0; i < v->n; i++)
            if (contains_tensor(&v->items[i]))
                return true;
    return false;
}

static val call_block(ctx *c, const atl_ast *def, args *a, const char *inst, atl_span sp)
{
    L *l = c->l;
    int np = def->n_kids;
    if (a->n_pos > np) {
        err(l, a->pos_span[np], "block '%s' takes %d argument(s), got %d", def->name, np,
            a->n_pos);
        return POISON;
    }
    for (int d = 0; d < l->depth; d++)
        if (strcmp(l->stack[d], def->name) == 0) {
            err(l, sp, "recursive block call: '%s' calls itself (blocks are expanded at compile "
                       "time, so recursion cannot terminate)",
                def->name);
            return POISON;
        }
    if (l->depth == MAX_CALL_DEPTH) {
        err(l, sp, "blocks nested more than %d deep", MAX_CALL_DEPTH);
        return POISON;
    }
    /* bind parameters in a fresh frame whose parent is the globals */
    frame fr = {.parent = &l->globals};
    val *bound = calloc((size_t)(np ? np : 1), sizeof *bound);
    if (!bound)
        abort();
    bool ok = true;
    for (int i = 0; i < np && ok; i++) {
        const atl_ast *p = def->kids[i];
        const val *kv = NULL;
        for (int j = 0; j < a->n_kw; j++)
            if (strcmp(a->kw[j], p->name) == 0) {
                kv = &a->kwv[j];
                a->kw_used[j] = true;
            }
        if (i < a->n_pos && kv) {
            err(l, sp, "argument '%s' of block '%s' given twice", p->name, def->name);
            ok = false;
        } else if (i < a->n_pos) {
            bound[i] = a->pos[i];
        } else if (kv) {
            bound[i] = *kv;
        } else if (p->a) {
            /* defaults see the globals and the parameters before them */
            ctx dc = {.l = l, .fi = c->fi, .fr = &fr};
            bound[i] = eval(&dc, p->a);
            if (bound[i].k == V_POISON)
                ok = false;
            else if (bound[i].k == V_TENSOR) {
                err(l, p->a->span, "a parameter default cannot be a tensor");
                ok = false;
            }
        } else {
            err(l, sp, "block '%s' needs argument '%s'", def->name, p->name);
            ok = false;
        }
        if (ok && bound[i].k == V_LIST && contains_tensor(&bound[i])) {
            err(l, sp, "argument '%s': lists of tensors cannot be passed to blocks", p->name);
            ok = false;
        }
        if (ok)
            frame_set(l, &fr, p->name, bound[i]);
    }
    for (int j = 0; j < a->n_kw && ok; j++)
        if (!a->kw_used[j]) {
            err(l, a->kw_span[j], "block '%s' has no parameter '%s'", def->name, a->kw[j]);
            ok = false;
        }
    val result = POISON;
    if (!ok)
        goto out;

    /* specialisation key */
    char *key = NULL;
    size_t klen = 0, kcap = 0;
    key_append(&key, &klen, &kcap, def->name);
    for (int i = 0; i < np; i++) {
        key_append(&key, &klen, &kcap, "|");
        key_val(c, &bound[i], &key, &klen, &kcap);
    }
    int fi = -2;
    for (int s = 0; s < l->n_specs; s++)
        if (strcmp(l->specs[s].key, key) == 0) {
            fi = l->specs[s].func;
            break;
        }
    if (fi == -2) {
        /* elaborate the body into a new function */
        int count = 0;
        for (int k = 0; k < l->m->n_funcs; k++) {
            const char *fn = l->m->funcs[k].name;
            size_t bl = strlen(def->name);
            if (strncmp(fn, def->name, bl) == 0 && (fn[bl] == '\0' || fn[bl] == '.'))
                count++;
        }
        const char *fname = count ? atl_arena_printf(&l->tmp, "%s.%d", def->name, count)
                                  : def->name;
        atl_module_add_func(l->m, fname);
        int nf = l->m->n_funcs - 1;
        ctx bc = {.l = l, .fi = nf, .fr = &fr};
        /* tensor parameters become the function's inputs */
        for (int i = 0; i < np; i++) {
            if (bound[i].k != V_TENSOR)
                continue;
            atl_attr at = atl_attr_str(def->kids[i]->name);
            atl_type t = *tensor_type(c, &bound[i]);
            val in = add_op(&bc, ATL_OP_INPUT, NULL, 0, &at, 1, &t, def->kids[i]->span);
            frame_set(l, &fr, def->kids[i]->name, in);
        }
        l->stack[l->depth++] = def->name;
        int errs = atl_diag_errors(l->d);
        exec_body(&bc, def->b);
        l->depth--;
        fi = nf;
        if (atl_diag_errors(l->d) > errs) {
            fi = -1;
        } else if (!bc.returned || bc.ret.k != V_TENSOR) {
            err(l, def->name_span.file >= 0 ? def->name_span : def->span,
                "block '%s' must end with `return` of one tensor%s", def->name,
                bc.returned ? "" : " (it returns nothing)");
            fi = -1;
        } else {
            int32_t o = bc.ret.node;
            atl_func_set_outputs(l->m, &l->m->funcs[nf], &o, NULL, 1);
        }
        if (l->n_specs == l->cap_specs) {
            l->cap_specs = l->cap_specs ? 2 * l->cap_specs : 16;
            spec *p = realloc(l->specs, sizeof *p * (size_t)l->cap_specs);
            if (!p)
                abort();
            l->specs = p;
        }
        l->specs[l->n_specs].key = key;
        l->specs[l->n_specs].func = fi;
        l->n_specs++;
        key = NULL;
    }
    free(key);
    if (fi >= 0) {
        int32_t src[64];
        int ns = 0;
        for (int i = 0; i < np; i++)
            if (bound[i].k == V_TENSOR) {
                if (ns == 64) {
                    err(l, sp, "too many tensor arguments");
                    goto out;
                }
                src[ns++] = bound[i].node;
            }
        atl_attr at[2] = {atl_attr_str(l->m->funcs[fi].name), atl_attr_str(inst)};
        result = add_op(c, ATL_OP_CALL, src, ns, at, 2, NULL, sp);
    }
out:
    free(fr.b);
    free(bound);
    return result;
}

/* ------------------------------------------------------------------------------------------ */
/* statements */

static void exec_stmt(ctx *c, const atl_ast *s)
{
    L *l = c->l;
    switch (s->kind) {
    case ATL_AST_ASSIGN: {
        if (strcmp(s->name, "B") == 0) {
            err(l, s->name_span.file >= 0 ? s->name_span : s->span,
                "'B' is the batch size and cannot be assigned");
            return;
        }
        val v = s->a->kind == ATL_AST_CALL ? eval_call(c, s->a, s->name) : eval(c, s->a);
        frame_set(l, c->fr, s->name, v);
        break;
    }
    case ATL_AST_INPUT: {
        if (!c->is_model) {
            err(l, s->span, "'input' is only allowed in a model, not in a block");
            return;
        }
        int dt = atl_dtype_parse(s->str);
        if (dt < 0) {
            err(l, s->span, "unknown element type '%s' (f32 or i32)", s->str);
            frame_set(l, c->fr, s->name, POISON);
            return;
        }
        if (s->n_kids > ATL_MAX_RANK) {
            err(l, s->span, "inputs can have at most %d dimensions", ATL_MAX_RANK);
            return;
        }
        int64_t dims[ATL_MAX_RANK];
        bool ok = true;
        for (int i = 0; i < s->n_kids; i++) {
            val v = eval(c, s->kids[i]);
            if (v.k == V_POISON) {
                ok = false;
                continue;
            }
            if (v.k != V_INT || v.i <= 0) {
                err(l, s->kids[i]->span, "an input dimension must be a positive integer");
                ok = false;
                continue;
            }
            dims[i] = v.i;
        }
        if (frame_get(c->fr, s->name) && c->fr->n) {
            for (int i = 0; i < c->fr->n; i++)
                if (strcmp(c->fr->b[i].name, s->name) == 0 && c->fr->b[i].v.k == V_TENSOR) {
                    err(l, s->name_span.file >= 0 ? s->name_span : s->span,
                        "input '%s' declared twice", s->name);
                    ok = false;
                }
        }
        if (!ok) {
            frame_set(l, c->fr, s->name, POISON);
            return;
        }
        atl_type t = atl_type_make((atl_dtype)dt, s->n_kids, dims);
        atl_attr at = atl_attr_str(s->name);
        frame_set(l, c->fr, s->name, add_op(c, ATL_OP_INPUT, NULL, 0, &at, 1, &t, s->span));
        break;
    }
    case ATL_AST_FOR: {
        val lo = eval(c, s->a), hi = eval(c, s->b);
        if (lo.k == V_POISON || hi.k == V_POISON)
            return;
        if (lo.k != V_INT || hi.k != V_INT) {
            err(l, atl_span_join(s->a->span, s->b->span), "loop bounds must be integers");
            return;
        }
        if (hi.i - lo.i > 100000) {
            err(l, atl_span_join(s->a->span, s->b->span), "loop of more than 100000 iterations");
            return;
        }
        for (int64_t i = lo.i; i < hi.i && !c->returned; i++) {
            frame_set(l, c->fr, s->name, v_int(i));
            int errs = atl_diag_errors(l->d);
            exec_body(c, s->c);
            if (atl_diag_errors(l->d) > errs)
                break; /* report a loop body's errors once, not once per iteration */
        }
        break;
    }
    case ATL_AST_IF: {
        val cond = eval(c, s->a);
        if (cond.k == V_POISON)
            return;
        if (cond.k != V_BOOL) {
            err(l, s->a->span, "a condition must be a boolean, got %s", kind_name(cond.k));
            return;
        }
        if (cond.b)
            exec_body(c, s->b);
        else if (s->c)
            s->c->kind == ATL_AST_IF ? exec_stmt(c, s->c) : exec_body(c, s->c);
        break;
    }
    case ATL_AST_RETURN: {
        c->returned = true;
        c->return_stmt = s;
        if (!c->is_model) {
            if (s->n_kids != 1) {
                err(l, s->span, "a block returns exactly one tensor");
                c->ret = POISON;
                return;
            }
            c->ret = eval(c, s->kids[0]);
            if (c->ret.k != V_TENSOR && c->ret.k != V_POISON) {
                err(l, s->kids[0]->span, "a block must return a tensor, this is %s",
                    kind_name(c->ret.k));
                c->ret = POISON;
            }
            return;
        }
        if (s->n_kids == 0 || s->n_kids > 64) {
            err(l, s->span, "a model returns 1 to 64 tensors (e.g. `return loss, logits;`)");
            return;
        }
        for (int i = 0; i < s->n_kids; i++) {
            val v = eval(c, s->kids[i]);
            if (v.k == V_POISON)
                continue;
            if (v.k != V_TENSOR) {
                err(l, s->kids[i]->span, "a model returns tensors, this is %s", kind_name(v.k));
                continue;
            }
            const char *name = s->kids[i]->kind == ATL_AST_IDENT
                                   ? s->kids[i]->name
                                   : atl_arena_printf(&l->tmp, "out%d", i);
            for (int j = 0; j < c->n_outs; j++)
                if (strcmp(c->out_names[j], name) == 0)
                    err(l, s->kids[i]->span, "output '%s' returned twice", name);
            c->outs[c->n_outs] = v.node;
            c->out_names[c->n_outs++] = name;
        }
        break;
    }
    case ATL_AST_ASSERT: {
        val cond = eval(c, s->a);
        if (cond.k == V_POISON)
            return;
        if (cond.k != V_BOOL) {
            err(l, s->a->span, "assert needs a boolean condition, got %s", kind_name(cond.k));
            return;
        }
        if (!cond.b) {
            char msg[512] = "assertion failed";
            if (s->b) {
                val m = eval(c, s->b);
                if (m.k == V_STR)
                    snprintf(msg, sizeof msg, "assertion failed: %s", m.s);
                else if (m.k != V_POISON) {
                    char t[400];
                    val_text(&m, t, sizeof t);
                    snprintf(msg, sizeof msg, "assertion failed: %s", t);
                }
            }
            err(l, s->span, "%s", msg);
        }
        break;
    }
    case ATL_AST_BODY:
        exec_body(c, s);
        break;
    default:
        err(l, s->span, "unexpected %s in a body", atl_ast_kind_name(s->kind));
    }
}

static void exec_body(ctx *c, const atl_ast *body)
{
    if (!body)
        return;
    for (int i = 0; i < body->n_kids && !c->returned; i++)
        exec_stmt(c, body->kids[i]);
}

/* ------------------------------------------------------------------------------------------ */
/* configuration sections */

static bool to_cfg_value(L *l, const val *v, atl_value *out, atl_span sp)
{
    memset(out, 0, sizeof *out);
    switch (v->k) {
    case V_INT:
        out->kind = ATL_VAL_INT;
        out->i = v->i;
        return true;
    case V_FLOAT:
        out->kind = ATL_VAL_FLOAT;
        out->f = v->f;
        return true;
    case V_BOOL:
        out->kind = ATL_VAL_BOOL;
        out->b = v->b;
        return true;
    case V_STR:
        out->kind = ATL_VAL_STR;
        out->s = v->s;
        return true;
    case V_LIST:
        out->kind = ATL_VAL_LIST;
        out->n_items = v->n;
        out->items = atl_arena_alloc(&l->tmp, sizeof(atl_value) * (size_t)(v->n ? v->n : 1));
        for (int i = 0; i < v->n; i++)
            if (!to_cfg_value(l, &v->items[i], &out->items[i], sp))
                return false;
        return true;
    case V_TENSOR:
        err(l, sp, "configuration values must be compile-time constants, not tensors");
        return false;
    default:
        return false;
    }
}

static void lower_config(L *l, ctx *gc, const atl_ast *sec, atl_cfg *parent)
{
    atl_cfg *c = atl_cfg_add_section(l->m, parent, sec->name, sec->str, loc_of(l, sec->span));
    for (int i = 0; i < sec->n_kids; i++) {
        const atl_ast *k = sec->kids[i];
        if (k->kind == ATL_AST_CONFIG) {
            lower_config(l, gc, k, c);
            continue;
        }
        val v = eval(gc, k->a);
        atl_value cv;
        if (v.k != V_POISON && to_cfg_value(l, &v, &cv, k->a->span))
            atl_cfg_add_entry(l->m, c, k->name, cv, loc_of(l, k->span));
    }
}

/* ------------------------------------------------------------------------------------------ */
/* command-line overrides */

static bool parse_define(L *l, const char *def, char *name, size_t nlen, val *out)
{
    const char *eq = strchr(def, '=');
    size_t n = eq ? (size_t)(eq - def) : 0;
    if (!eq || n == 0 || n >= nlen) {
        atl_diag_error(l->d, ATL_NO_SPAN, "-D expects NAME=VALUE, got '%s'", def);
        return false;
    }
    memcpy(name, def, n);
    name[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)name[i]) || name[i] == '_') || isdigit((unsigned char)name[0])) {
            atl_diag_error(l->d, ATL_NO_SPAN, "-D: '%s' is not a parameter name", name);
            return false;
        }
    /* parse "const NAME = VALUE;" with the real parser so the value is an expression */
    char *text = NULL;
    size_t tl = 0;
    FILE *f = open_memstream(&text, &tl);
    if (!f)
        abort();
    fprintf(f, "const %s = %s;\n", name, eq + 1);
    fclose(f);
    char path[160];
    snprintf(path, sizeof path, "<-D %s>", name);
    int sid = atl_diag_add_source(l->d, path, text, tl);
    free(text);
    atl_ast *ast = sid >= 0 ? atl_parse(l->d, sid) : NULL;
    if (!ast)
        return false;
    bool ok = false;
    if (ast->n_kids != 1 || ast->kids[0]->kind != ATL_AST_CONST) {
        atl_diag_error(l->d, ATL_NO_SPAN, "-D %s: the value must be a single expression", name);
    } else {
        ctx gc = {.l = l, .fi = 0, .fr = &l->globals};
        *out = eval(&gc, ast->kids[0]->a);
        if (out->k == V_TENSOR) {
            atl_diag_error(l->d, ATL_NO_SPAN, "-D %s: the value must be a constant", name);
        } else if (out->k != V_POISON) {
            /* strings live in the AST, which we free: copy into the arena */
            if (out->k == V_STR)
                out->s = atl_arena_strdup(&l->tmp, out->s);
            ok = true;
            /* lists of strings are rare in -D; deep-copy strings inside lists too */
            if (out->k == V_LIST) {
                for (int i = 0; i < out->n; i++)
                    if (out->items[i].k == V_STR)
                        out->items[i].s = atl_arena_strdup(&l->tmp, out->items[i].s);
            }
        }
    }
    atl_ast_free(ast);
    return ok;
}

/* ------------------------------------------------------------------------------------------ */

atl_module *atl_lower(atl_diag *d, const atl_ast *file, int source_id, const atl_lower_opts *o)
{
    atl_lower_opts defaults = {.batch = 8};
    if (!o)
        o = &defaults;
    int errs0 = atl_diag_errors(d);
    const atl_source *src = atl_diag_source(d, source_id);
    L l = {.d = d, .src = source_id, .file = file};
    atl_arena_init(&l.tmp);

    /* choose the model */
    const atl_ast *model = NULL;
    int n_models = 0;
    for (int i = 0; i < file->n_kids; i++) {
        const atl_ast *it = file->kids[i];
        if (it->kind != ATL_AST_MODEL)
            continue;
        n_models++;
        if (o->model_name ? strcmp(it->name, o->model_name) == 0 : !model)
            model = it;
    }
    /* imported files first, then this one */
    {
        const atl_source *ms = atl_diag_source(d, source_id);
        char *canon = ms ? realpath(ms->path, NULL) : NULL;
        l.file_paths[0] = canon;
        l.files[0] = NULL;
        l.n_files = 1;
        load_imports(&l, file, source_id, 0);
        /* the main file goes last: rotate slot 0 to the end */
        for (int f = 0; f + 1 < l.n_files; f++) {
            l.files[f] = l.files[f + 1];
            l.file_paths[f] = l.file_paths[f + 1];
        }
        l.files[l.n_files - 1] = file;
        l.file_paths[l.n_files - 1] = canon;
    }
    /* duplicate definitions (over all visible files) */
    const atl_ast *defs[4096];
    int n_defs = 0;
    for (int f = 0; f < l.n_files; f++)
        for (int i = 0; i < l.files[f]->n_kids && n_defs < 4096; i++) {
            const atl_ast *it = l.files[f]->kids[i];
            if (it->kind == ATL_AST_BLOCKDEF || it->kind == ATL_AST_CONST ||
                (it->kind == ATL_AST_MODEL && l.files[f] == file))
                defs[n_defs++] = it;
        }
    for (int i = 0; i < n_defs; i++)
        for (int j = 0; j < i; j++) {
            const atl_ast *a = defs[i], *b = defs[j];
            bool named = a->kind == ATL_AST_BLOCKDEF || a->kind == ATL_AST_MODEL ||
                         a->kind == ATL_AST_CONST;
            bool named_b = b->kind == ATL_AST_BLOCKDEF || b->kind == ATL_AST_MODEL ||
                           b->kind == ATL_AST_CONST;
            if (named && named_b && strcmp(a->name, b->name) == 0) {
                atl_diag_error(d, a->name_span.file >= 0 ? a->name_span : a->span,
                               "'%s' is defined twice", a->name);
                atl_diag_note(d, b->name_span.file >= 0 ? b->name_span : b->span,
                              "first definition is here");
            }
        }
    for (int i = 0; i < n_defs; i++) {
        const atl_ast *it = defs[i];
        if (it->kind != ATL_AST_BLOCKDEF && it->kind != ATL_AST_MODEL)
            continue;
        for (int p = 0; p < it->n_kids; p++)
            for (int q = 0; q < p; q++)
                if (strcmp(it->kids[p]->name, it->kids[q]->name) == 0)
                    atl_diag_error(d, it->kids[p]->span, "parameter '%s' listed twice",
                                   it->kids[p]->name);
        if (it->kind == ATL_AST_BLOCKDEF && atl_op_lookup(it->name) >= 0)
            atl_diag_error(d, it->name_span.file >= 0 ? it->name_span : it->span,
                           "block '%s' has the name of a built-in op", it->name);
    }
    if (!model) {
        if (o->model_name)
            atl_diag_error(d, (atl_span){source_id, 0, 0}, "no model named '%s' in %s",
                           o->model_name, src ? src->path : "input");
        else
            atl_diag_error(d, (atl_span){source_id, 0, 0}, "%s defines no model",
                           src ? src->path : "input");
        goto fail;
    }
    if (n_models > 1 && !o->model_name)
        atl_diag_warning(d, model->name_span.file >= 0 ? model->name_span : model->span,
                         "%s defines %d models; using '%s' (choose with --model)",
                         src ? src->path : "input", n_models, model->name);
    if (o->batch <= 0) {
        atl_diag_error(d, ATL_NO_SPAN, "batch size must be positive");
        goto fail;
    }
    l.m = atl_module_new(model->name, o->batch);
    l.mod_file = atl_module_add_source(l.m, src ? src->path : "<input>");

    /* globals: B, then consts in order */
    frame_set(&l, &l.globals, "B", v_int(o->batch));
    ctx gc = {.l = &l, .fi = 0, .fr = &l.globals};
    for (int i = 0; i < n_defs; i++) {
        const atl_ast *it = defs[i];
        if (it->kind != ATL_AST_CONST)
            continue;
        if (strcmp(it->name, "B") == 0) {
            atl_diag_error(d, it->span, "'B' is the batch size and cannot be redefined");
            continue;
        }
        val v = eval(&gc, it->a);
        if (v.k == V_TENSOR) {
            atl_diag_error(d, it->a->span, "a const must be a compile-time value");
            v = POISON;
        }
        frame_set(&l, &l.globals, it->name, v);
    }

    /* model parameters: defaults, then -D overrides */
    frame mf = {.parent = &l.globals};
    atl_module_add_func(l.m, model->name);
    ctx mc = {.l = &l, .fi = 0, .fr = &mf, .is_model = true};
    bool *used = calloc((size_t)(o->n_defines ? o->n_defines : 1), sizeof *used);
    val *dv = calloc((size_t)(o->n_defines ? o->n_defines : 1), sizeof *dv);
    char (*dn)[64] = calloc((size_t)(o->n_defines ? o->n_defines : 1), sizeof *dn);
    if (!used || !dv || !dn)
        abort();
    bool defines_ok = true;
    for (int k = 0; k < o->n_defines; k++)
        if (!parse_define(&l, o->defines[k], dn[k], sizeof dn[k], &dv[k]))
            defines_ok = false;
    for (int p = 0; p < model->n_kids; p++) {
        const atl_ast *pa = model->kids[p];
        val v = POISON;
        bool set = false;
        for (int k = 0; k < o->n_defines; k++)
            if (dv[k].k != V_POISON && strcmp(dn[k], pa->name) == 0) {
                v = dv[k];
                used[k] = true;
                set = true;
            }
        if (!set) {
            if (!pa->a) {
                atl_diag_error(d, pa->span,
                               "model parameter '%s' needs a default value (or -D %s=...)",
                               pa->name, pa->name);
            } else {
                v = eval(&mc, pa->a);
                if (v.k == V_TENSOR) {
                    atl_diag_error(d, pa->a->span, "a model parameter must be a constant");
                    v = POISON;
                }
            }
        }
        frame_set(&l, &mf, pa->name, v);
    }
    for (int k = 0; k < o->n_defines; k++)
        if (dv[k].k != V_POISON && !used[k])
            atl_diag_error(d, ATL_NO_SPAN, "-D %s: model '%s' has no parameter '%s'", dn[k],
                           model->name, dn[k]);
    free(used);
    free(dv);
    free(dn);

    if (defines_ok && atl_diag_errors(d) == errs0) {
        exec_body(&mc, model->b);
        if (!mc.returned && atl_diag_errors(d) == errs0)
            atl_diag_error(d, model->name_span.file >= 0 ? model->name_span : model->span,
                           "model '%s' has no `return` (return the loss and outputs, e.g. "
                           "`return loss, logits;`)",
                           model->name);
        else if (mc.n_outs)
            atl_func_set_outputs(l.m, &l.m->funcs[0], mc.outs, mc.out_names, mc.n_outs);
    }
    free(mf.b);

    for (int i = 0; i < file->n_kids; i++)
        if (file->kids[i]->kind == ATL_AST_CONFIG)
            lower_config(&l, &gc, file->kids[i], NULL);

    free(l.globals.b);
    for (int f = 0; f < l.n_files; f++)
        free(l.file_paths[f]);
    for (int k = 0; k < l.n_owned; k++)
        atl_ast_free(l.owned[k]);
    for (int s = 0; s < l.n_specs; s++)
        free(l.specs[s].key);
    free(l.specs);
    if (atl_diag_errors(d) > errs0) {
        atl_module_free(l.m);
        atl_arena_free(&l.tmp);
        return NULL;
    }
    atl_arena_free(&l.tmp);
    return l.m;
fail:
    for (int f = 0; f < l.n_files; f++)
        free(l.file_paths[f]);
    for (int k = 0; k < l.n_owned; k++)
        atl_ast_free(l.owned[k]);
    atl_arena_free(&l.tmp);
    return NULL;
}

atl_module *atl_compile_file(atl_diag *d, const char *path, const atl_lower_opts *o)
{
    int id = atl_diag_load_file(d, path);
    if (id < 0)
        return NULL;
    atl_ast *ast = atl_parse(d, id);
    if (!ast)
        return NULL;
    atl_module *m = atl_lower(d, ast, id, o);
    atl_ast_free(ast);
    return m;
}

/* Configuration sections of another file (e.g. an analog set-up shared by experiments) replace the
 * module's sections of the same names. The file's consts are visible to its sections. Within the
 * file, the sections of the files it imports come first and its own sections merge over them:
 * an entry replaces the imported entry, a section with the same name and label merges, anything
 * else is added (so `import "quickstart.atl"; experiment quickstart { name = "x"; sweep {...} }`
 * is the quickstart with a sweep). */
static int lower_config_file(atl_diag *d, atl_module *m, const char *path, int depth);

int atl_lower_config_file(atl_diag *d, atl_module *m, const char *path)
{
    atl_module *scratch = atl_module_new("config", m->batch);
    int rc = lower_config_file(d, scratch, path, 0);
    if (rc == 0)
        atl_cfg_copy_sections(m, scratch, false);
    atl_module_free(scratch);
    return rc;
}

/* Lower path's imports and then its own sections into m, merging. */
static int lower_config_file(atl_diag *d, atl_module *m, const char *path, int depth)
{
    int errs0 = atl_diag_errors(d);
    int id = atl_diag_load_file(d, path);
    if (id < 0)
        return -1;
    atl_ast *file = atl_parse(d, id);
    if (!file)
        return -1;
    atl_module *own = atl_module_new("config", m->batch);
    L l = {.d = d, .src = id, .file = file, .m = own};
    atl_arena_init(&l.tmp);
    l.mod_file = atl_module_add_source(own, atl_diag_source(d, id)->path);
    l.files[0] = file;
    l.n_files = 1;
    frame_set(&l, &l.globals, "B", v_int(m->batch));
    ctx gc = {.l = &l, .fi = 0, .fr = &l.globals};
    for (int i = 0; i < file->n_kids; i++) {
        const atl_ast *it = file->kids[i];
        if (it->kind == ATL_AST_CONST)
            frame_set(&l, &l.globals, it->name, eval(&gc, it->a));
        else if (it->kind == ATL_AST_IMPORT) {
            atl_span sp = it->str_span.file >= 0 ? it->str_span : it->span;
            if (depth >= 16) {
                atl_diag_error(d, sp, "imports nested more than 16 deep");
                continue;
            }
            char *ip = resolve_import(path, it->str);
            if (access(ip, R_OK) != 0)
                atl_diag_error(d, sp, "cannot import \"%s\": no such file", ip);
            else
                lower_config_file(d, m, ip, depth + 1);
            free(ip);
        } else if (it->kind == ATL_AST_MODEL || it->kind == ATL_AST_BLOCKDEF)
            atl_diag_error(d, it->span, "a configuration file holds only consts, imports and "
                                        "sections");
    }
    if (atl_diag_errors(d) == errs0) {
        for (int i = 0; i < file->n_kids; i++)
            if (file->kids[i]->kind == ATL_AST_CONFIG)
                lower_config(&l, &gc, file->kids[i], NULL);
        atl_cfg_copy_sections(m, own, true);
    }
    free(l.globals.b);
    atl_arena_free(&l.tmp);
    atl_ast_free(file);
    atl_module_free(own);
    return atl_diag_errors(d) > errs0 ? -1 : 0;
}

int atl_apply_overrides(atl_diag *d, atl_module *m, const char *const *configs, int n_configs,
                        const char *const *sets, int n_sets, bool digital)
{
    for (int k = 0; k < n_configs; k++)
        if (atl_lower_config_file(d, m, configs[k]))
            return -1;
    if (digital)
        atl_cfg_remove(m, "analog");
    for (int k = 0; k < n_sets; k++) {
        char path[256], err[300];
        const char *eq = strchr(sets[k], '=');
        size_t n = eq ? (size_t)(eq - sets[k]) : 0;
        if (!eq || n == 0 || n >= sizeof path) {
            atl_diag_error(d, ATL_NO_SPAN, "--set expects SECTION.KEY=VALUE, got '%s'", sets[k]);
            return -1;
        }
        memcpy(path, sets[k], n);
        path[n] = '\0';
        if (digital && strncmp(path, "analog.", 7) == 0)
            continue;
        if (atl_cfg_set_path(m, path, atl_value_parse(&m->arena, eq + 1), err, sizeof err)) {
            atl_diag_error(d, ATL_NO_SPAN, "--set: %s", err);
            return -1;
        }
    }
    return 0;
}
