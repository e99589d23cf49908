/* Shape rules, one per op (a parallel table to ops.def, checked against ATL_OP_COUNT). Each rule
 * sees the node (attributes, declared type) and its operand types and either fills the result
 * type or explains, in a message fit for a user, why the operands do not fit. */
#include "ir.h"
#include "fused.h"

#include <assert.h>
#include <stdarg.h>
#include <string.h>

typedef struct shape_ctx {
    const atl_module *m;
    const atl_func *f;
    const atl_node *n;
    const atl_type *in[64]; /* operand types (first 64) */
    int n_in;
    char *err;
    size_t errlen;
} shape_ctx;

typedef int (*shape_fn)(shape_ctx *c, atl_type *out);

static int fail(shape_ctx *c, const char *fmt, ...) ATL_PRINTF(2, 3);
static int fail(shape_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

#define TS(t, buf) atl_type_str((t), (buf), sizeof(buf))

static int need_f32(shape_ctx *c, int k)
{
    if (c->in[k]->dtype != ATL_F32) {
        char b[96];
        return fail(c, "operand %d of %s must be f32, got %s", k + 1, atl_op_name(c->n->op),
                    TS(c->in[k], b));
    }
    return 0;
}

/* Normalise a possibly negative axis against rank; -1 if out of range. */
static int norm_axis(int64_t axis, int rank)
{
    if (axis < 0)
        axis += rank;
    if (axis < 0 || axis >= rank)
        return -1;
    return (int)axis;
}

int atl_broadcast(const atl_type *a, const atl_type *b, atl_type *out)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    atl_type t;
    memset(&t, 0, sizeof t);
    t.dtype = a->dtype;
    t.rank = r;
    for (int i = 0; i < r; i++) {
        int ia = a->rank - r + i, ib = b->rank - r + i;
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return -1;
        t.dims[i] = da == 1 ? db : da;
    }
    *out = t;
    return 0;
}

/* ---- sources ---- */

static int declared_valid(shape_ctx *c, atl_type *out)
{
    if (out->rank < 0 || out->rank > ATL_MAX_RANK)
        return fail(c, "rank %d out of range", out->rank);
    for (int i = 0; i < out->rank; i++)
        if (out->dims[i] <= 0)
            return fail(c, "dimension %d of the declared type must be positive, got %lld", i,
                        (long long)out->dims[i]);
    return 0;
}

static int shape_input(shape_ctx *c, atl_type *out) { return declared_valid(c, out); }

static int shape_param(shape_ctx *c, atl_type *out)
{
    const char *name = atl_node_attr_str(c->n, "name");
    if (!name)
        return fail(c, "param needs a name");
    int32_t k = atl_func_find_param(c->f, name);
    if (k < 0)
        return fail(c, "unknown parameter \"%s\" in function @%s", name, c->f->name);
    *out = c->f->params[k].type;
    return 0;
}

static int shape_full(shape_ctx *c, atl_type *out)
{
    if (out->dtype != ATL_F32)
        return fail(c, "full produces f32");
    return declared_valid(c, out);
}

static int shape_attn_mask(shape_ctx *c, atl_type *out)
{
    int64_t h = atl_node_attr_int(c->n, "height"), w = atl_node_attr_int(c->n, "width");
    int64_t win = atl_node_attr_int(c->n, "window"), s = atl_node_attr_int(c->n, "shift");
    if (h <= 0 || w <= 0 || win <= 0)
        return fail(c, "attn_mask: height, width and window must be positive");
    if (h % win || w % win)
        return fail(c, "attn_mask: a %lldx%lld grid does not split into %lldx%lld windows",
                    (long long)h, (long long)w, (long long)win, (long long)win);
    if (s < 0 || s >= win)
        return fail(c, "attn_mask: shift must be in [0, window), got %lld", (long long)s);
    int64_t nw = (h / win) * (w / win), n = win * win;
    int64_t d[3] = {nw, n, n};
    *out = atl_type_make(ATL_F32, 3, d);
    return 0;
}

static int shape_rel_pos_index(shape_ctx *c, atl_type *out)
{
    int64_t w = atl_node_attr_int(c->n, "window");
    if (w <= 0 || w > 64)
        return fail(c, "rel_pos_index: window must be in [1, 64], got %lld", (long long)w);
    int64_t d[1] = {w * w * w * w};
    *out = atl_type_make(ATL_I32, 1, d);
    return 0;
}

/* ---- structure ---- */

static int shape_call(shape_ctx *c, atl_type *out)
{
    const char *callee = atl_node_attr_str(c->n, "callee");
    int32_t fi = callee ? atl_module_find_func(c->m, callee) : -1;
    if (fi < 0)
        return fail(c, "call to unknown function @%s", callee ? callee : "?");
    if (fi == 0)
        return fail(c, "cannot call the model function @%s", callee);
    const atl_func *g = &c->m->funcs[fi];
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op != ATL_OP_INPUT)
            continue;
        if (k >= c->n_in)
            return fail(c, "call to @%s passes %d argument(s), the function takes more", callee,
                        c->n_in);
        if (!atl_type_equal(&g->nodes[i].type, c->in[k])) {
            char a[96], b[96];
            return fail(c, "argument %d of call to @%s has type %s, expected %s", k + 1, callee,
                        TS(c->in[k], a), TS(&g->nodes[i].type, b));
        }
        k++;
    }
    if (k != c->n_in)
        return fail(c, "call to @%s passes %d argument(s), the function takes %d", callee,
                    c->n_in, k);
    if (g->n_outputs != 1)
        return fail(c, "function @%s must return exactly one value to be called", callee);
    int32_t o = g->outputs[0];
    if (o < 0 || o >= g->n_nodes)
        return fail(c, "function @%s has an invalid output", callee);
    *out = g->nodes[o].type;
    return 0;
}

/* ---- dense ---- */

static int shape_linear(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    for (int k = 0; k < c->n_in; k++)
        if (need_f32(c, k))
            return -1;
    const atl_type *x = c->in[0], *w = c->in[1];
    if (x->rank < 1)
        return fail(c, "linear: input must have rank >= 1");
    if (w->rank != 2)
        return fail(c, "linear: weight must be a matrix [out, in], got %s", TS(w, a));
    if (w->dims[1] != x->dims[x->rank - 1])
        return fail(c, "linear: input %s has %lld features but the weight %s expects %lld",
                    TS(x, a), (long long)x->dims[x->rank - 1], TS(w, b), (long long)w->dims[1]);
    if (c->n_in == 3) {
        const atl_type *bias = c->in[2];
        if (bias->rank != 1 || bias->dims[0] != w->dims[0])
            return fail(c, "linear: bias %s does not match %lld outputs", TS(bias, a),
                        (long long)w->dims[0]);
    }
    *out = *x;
    out->dims[x->rank - 1] = w->dims[0];
    return 0;
}

static int shape_matmul(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    if (need_f32(c, 0) || need_f32(c, 1))
        return -1;
    const atl_type *x = c->in[0], *y = c->in[1];
    if (x->rank < 2 || y->rank < 2)
        return fail(c, "matmul: operands must have rank >= 2, got %s and %s", TS(x, a), TS(y, b));
    bool ta = atl_node_attr_bool(c->n, "ta"), tb = atl_node_attr_bool(c->n, "tb");
    int64_t m = ta ? x->dims[x->rank - 1] : x->dims[x->rank - 2];
    int64_t ka = ta ? x->dims[x->rank - 2] : x->dims[x->rank - 1];
    int64_t kb = tb ? y->dims[y->rank - 1] : y->dims[y->rank - 2];
    int64_t n = tb ? y->dims[y->rank - 2] : y->dims[y->rank - 1];
    if (ka != kb)
        return fail(c, "matmul: inner dimensions differ (%lld vs %lld) for %s%s @ %s%s",
                    (long long)ka, (long long)kb, TS(x, a), ta ? "^T" : "", TS(y, b),
                    tb ? "^T" : "");
    atl_type bx = *x, by = *y, bt;
    bx.rank -= 2;
    by.rank -= 2;
    if (atl_broadcast(&bx, &by, &bt))
        return fail(c, "matmul: batch dimensions of %s and %s do not broadcast", TS(x, a),
                    TS(y, b));
    if (bt.rank + 2 > ATL_MAX_RANK)
        return fail(c, "matmul: rank too large");
    bt.dims[bt.rank] = m;
    bt.dims[bt.rank + 1] = n;
    bt.rank += 2;
    bt.dtype = ATL_F32;
    *out = bt;
    return 0;
}

static int shape_bcast(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    if (need_f32(c, 0) || need_f32(c, 1))
        return -1;
    if (atl_broadcast(c->in[0], c->in[1], out))
        return fail(c, "%s: shapes %s and %s do not broadcast", atl_op_name(c->n->op),
                    TS(c->in[0], a), TS(c->in[1], b));
    return 0;
}

static int shape_unary(shape_ctx *c, atl_type *out)
{
    if (need_f32(c, 0))
        return -1;
    *out = *c->in[0];
    return 0;
}

/* ---- normalisation ---- */

static int shape_softmax(shape_ctx *c, atl_type *out)
{
    if (need_f32(c, 0))
        return -1;
    int64_t ax = atl_node_attr_int(c->n, "axis");
    if (norm_axis(ax, c->in[0]->rank) < 0)
        return fail(c, "softmax: axis %lld out of range for rank %d", (long long)ax,
                    c->in[0]->rank);
    *out = *c->in[0];
    return 0;
}

static int shape_layernorm(shape_ctx *c, atl_type *out)
{
    char a[96];
    for (int k = 0; k < c->n_in; k++)
        if (need_f32(c, k))
            return -1;
    const atl_type *x = c->in[0];
    if (x->rank < 1)
        return fail(c, "layernorm: input must have rank >= 1");
    if (c->n_in == 2)
        return fail(c, "layernorm takes the input alone or with both weight and bias");
    int64_t ch = x->dims[x->rank - 1];
    for (int k = 1; k < c->n_in; k++)
        if (c->in[k]->rank != 1 || c->in[k]->dims[0] != ch)
            return fail(c, "layernorm: %s %s does not match %lld features",
                        k == 1 ? "weight" : "bias", TS(c->in[k], a), (long long)ch);
    if (atl_node_attr_float(c->n, "eps") <= 0)
        return fail(c, "layernorm: eps must be positive");
    *out = *x;
    return 0;
}

/* ---- data movement ---- */

static int shape_reshape(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    if (declared_valid(c, out))
        return -1;
    if (out->dtype != c->in[0]->dtype)
        return fail(c, "reshape cannot change the element type");
    if (atl_type_numel(out) != atl_type_numel(c->in[0]))
        return fail(c, "reshape: cannot reshape %s (%lld elements) to %s (%lld elements)",
                    TS(c->in[0], a), (long long)atl_type_numel(c->in[0]), TS(out, b),
                    (long long)atl_type_numel(out));
    return 0;
}

static int shape_permute(shape_ctx *c, atl_type *out)
{
    const atl_attr *p = atl_node_attr(c->n, "perm");
    const atl_type *x = c->in[0];
    if (!p || p->kind != ATL_ATTR_INTS || p->n != x->rank)
        return fail(c, "permute: perm must list all %d axes", x->rank);
    bool seen[ATL_MAX_RANK] = {0};
    *out = *x;
    for (int i = 0; i < p->n; i++) {
        int ax = norm_axis(p->v.ints[i], x->rank);
        if (ax < 0 || seen[ax])
            return fail(c, "permute: perm is not a permutation of 0..%d", x->rank - 1);
        seen[ax] = true;
        out->dims[i] = x->dims[ax];
    }
    return 0;
}

static int shape_concat(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    const atl_type *x = c->in[0];
    int ax = norm_axis(atl_node_attr_int(c->n, "axis"), x->rank);
    if (ax < 0)
        return fail(c, "concat: axis out of range for rank %d", x->rank);
    *out = *x;
    for (int k = 1; k < c->n_in; k++) {
        const atl_type *y = c->in[k];
        bool ok = y->rank == x->rank && y->dtype == x->dtype;
        for (int i = 0; ok && i < x->rank; i++)
            if (i != ax && y->dims[i] != x->dims[i])
                ok = false;
        if (!ok)
            return fail(c, "concat: operand %d %s does not match %s except along axis %d", k + 1,
                        TS(y, a), TS(x, b), ax);
        out->dims[ax] += y->dims[ax];
    }
    return 0;
}

static int shape_slice(shape_ctx *c, atl_type *out)
{
    const atl_type *x = c->in[0];
    int ax = norm_axis(atl_node_attr_int(c->n, "axis"), x->rank);
    if (ax < 0)
        return fail(c, "slice: axis out of range for rank %d", x->rank);
    int64_t d = x->dims[ax];
    int64_t s = atl_node_attr_int(c->n, "start"), e = atl_node_attr_int(c->n, "end");
    int64_t st = atl_node_attr_int(c->n, "step");
    if (s < 0)
        s += d;
    if (e < 0)
        e += d;
    if (st <= 0)
        return fail(c, "slice: step must be positive");
    if (s < 0 || e > d || s >= e)
        return fail(c, "slice: range [%lld, %lld) is empty or outside [0, %lld)",
                    (long long)atl_node_attr_int(c->n, "start"),
                    (long long)atl_node_attr_int(c->n, "end"), (long long)d);
    *out = *x;
    out->dims[ax] = (e - s + st - 1) / st;
    return 0;
}

static int shape_roll(shape_ctx *c, atl_type *out)
{
    const atl_attr *sh = atl_node_attr(c->n, "shifts"), *ax = atl_node_attr(c->n, "axes");
    const atl_type *x = c->in[0];
    if (!sh || !ax || sh->kind != ATL_ATTR_INTS || ax->kind != ATL_ATTR_INTS || sh->n != ax->n ||
        sh->n == 0)
        return fail(c, "roll: shifts and axes must be non-empty lists of equal length");
    for (int i = 0; i < ax->n; i++)
        if (norm_axis(ax->v.ints[i], x->rank) < 0)
            return fail(c, "roll: axis %lld out of range for rank %d", (long long)ax->v.ints[i],
                        x->rank);
    *out = *x;
    return 0;
}

static int shape_gather(shape_ctx *c, atl_type *out)
{
    char a[96];
    const atl_type *t = c->in[0], *idx = c->in[1];
    if (need_f32(c, 0))
        return -1;
    if (idx->dtype != ATL_I32)
        return fail(c, "gather: indices must be i32, got %s", TS(idx, a));
    if (t->rank < 1 || idx->rank + t->rank - 1 > ATL_MAX_RANK)
        return fail(c, "gather: bad ranks");
    atl_type r;
    memset(&r, 0, sizeof r);
    r.dtype = t->dtype;
    r.rank = idx->rank + t->rank - 1;
    for (int i = 0; i < idx->rank; i++)
        r.dims[i] = idx->dims[i];
    for (int i = 1; i < t->rank; i++)
        r.dims[idx->rank + i - 1] = t->dims[i];
    *out = r;
    return 0;
}

/* ---- reductions ---- */

static int shape_reduce(shape_ctx *c, atl_type *out)
{
    if (need_f32(c, 0))
        return -1;
    const atl_type *x = c->in[0];
    int ax = norm_axis(atl_node_attr_int(c->n, "axis"), x->rank);
    if (ax < 0)
        return fail(c, "%s: axis %lld out of range for rank %d", atl_op_name(c->n->op),
                    (long long)atl_node_attr_int(c->n, "axis"), x->rank);
    *out = *x;
    if (atl_node_attr_bool(c->n, "keepdim")) {
        out->dims[ax] = 1;
    } else {
        for (int i = ax; i + 1 < x->rank; i++)
            out->dims[i] = x->dims[i + 1];
        out->rank--;
    }
    return 0;
}

/* ---- losses ---- */

static int shape_cross_entropy(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    const atl_type *z = c->in[0], *y = c->in[1];
    if (need_f32(c, 0))
        return -1;
    if (z->rank != 2)
        return fail(c, "cross_entropy: logits must be [batch, classes], got %s", TS(z, a));
    if (y->dtype != ATL_I32 || y->rank != 1 || y->dims[0] != z->dims[0])
        return fail(c, "cross_entropy: labels must be i32[%lld], got %s", (long long)z->dims[0],
                    TS(y, b));
    *out = atl_type_make(ATL_F32, 0, NULL);
    return 0;
}

static int shape_mse(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    if (need_f32(c, 0) || need_f32(c, 1))
        return -1;
    if (!atl_type_equal(c->in[0], c->in[1]))
        return fail(c, "mse: prediction %s and target %s differ in shape", TS(c->in[0], a),
                    TS(c->in[1], b));
    *out = atl_type_make(ATL_F32, 0, NULL);
    return 0;
}


/* ---- gradient ops ---- */

static int shape_linear_grad_x(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    const atl_type *dy = c->in[0], *w = c->in[1];
    if (need_f32(c, 0) || need_f32(c, 1))
        return -1;
    if (w->rank != 2 || dy->rank < 1 || dy->dims[dy->rank - 1] != w->dims[0])
        return fail(c, "linear_grad_x: dy %s does not match weight %s", TS(dy, a), TS(w, b));
    *out = *dy;
    out->dims[dy->rank - 1] = w->dims[1];
    return 0;
}

static int shape_linear_grad_w(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    const atl_type *dy = c->in[0], *x = c->in[1];
    if (need_f32(c, 0) || need_f32(c, 1))
        return -1;
    if (dy->rank < 1 || x->rank < 1 ||
        atl_type_numel(dy) / dy->dims[dy->rank - 1] != atl_type_numel(x) / x->dims[x->rank - 1])
        return fail(c, "linear_grad_w: dy %s and input %s have different row counts", TS(dy, a),
                    TS(x, b));
    int64_t d[2] = {dy->dims[dy->rank - 1], x->dims[x->rank - 1]};
    *out = atl_type_make(ATL_F32, 2, d);
    return 0;
}

static int shape_sum_to(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    atl_type bt;
    if (declared_valid(c, out))
        return -1;
    if (atl_broadcast(out, c->in[0], &bt) || !atl_type_equal(&bt, c->in[0]) ||
        out->rank > c->in[0]->rank)
        return fail(c, "sum_to: %s does not broadcast to %s", TS(out, a), TS(c->in[0], b));
    return 0;
}

static int shape_broadcast_to(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    atl_type bt;
    if (declared_valid(c, out))
        return -1;
    if (atl_broadcast(c->in[0], out, &bt) || !atl_type_equal(&bt, out) ||
        c->in[0]->rank > out->rank)
        return fail(c, "broadcast_to: %s does not broadcast to %s", TS(c->in[0], a), TS(out, b));
    return 0;
}

static int shape_same2(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    if (need_f32(c, 0) || need_f32(c, 1))
        return -1;
    if (!atl_type_equal(c->in[0], c->in[1]))
        return fail(c, "%s: operands %s and %s differ in shape", atl_op_name(c->n->op),
                    TS(c->in[0], a), TS(c->in[1], b));
    *out = *c->in[0];
    return 0;
}

static int shape_softmax_grad(shape_ctx *c, atl_type *out)
{
    if (shape_same2(c, out))
        return -1;
    if (norm_axis(atl_node_attr_int(c->n, "axis"), out->rank) < 0)
        return fail(c, "softmax_grad: axis out of range");
    return 0;
}

static int shape_layernorm_grad_x(shape_ctx *c, atl_type *out)
{
    char a[96];
    if (shape_same2(c, out))
        return -1;
    if (out->rank < 1)
        return fail(c, "layernorm_grad_x: rank must be >= 1");
    if (c->n_in == 3 && (c->in[2]->rank != 1 || c->in[2]->dims[0] != out->dims[out->rank - 1]))
        return fail(c, "layernorm_grad_x: weight %s does not match", TS(c->in[2], a));
    return 0;
}

static int shape_layernorm_grad_w(shape_ctx *c, atl_type *out)
{
    if (shape_same2(c, out))
        return -1;
    if (out->rank < 1)
        return fail(c, "layernorm_grad_w: rank must be >= 1");
    int64_t d[1] = {out->dims[out->rank - 1]};
    *out = atl_type_make(ATL_F32, 1, d);
    return 0;
}

static int shape_slice_grad(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    if (declared_valid(c, out))
        return -1;
    /* the declared type is the sliced input's; slicing it must give dy's shape */
    atl_type x = *out, sl;
    const atl_type *saved = c->in[0];
    c->in[0] = &x;
    int r = shape_slice(c, &sl);
    c->in[0] = saved;
    if (r)
        return -1;
    if (!atl_type_equal(&sl, c->in[0])) {
        char d[96];
        return fail(c, "slice_grad: slicing %s gives %s, not the gradient's %s", TS(out, a),
                    TS(&sl, b), TS(c->in[0], d));
    }
    return 0;
}

static int shape_gather_grad(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    if (declared_valid(c, out))
        return -1;
    atl_type t = *out, g;
    const atl_type *saved0 = c->in[0], *idx = c->in[1];
    const atl_type *dy = c->in[0];
    c->in[0] = &t;
    int r = shape_gather(c, &g);
    c->in[0] = saved0;
    (void)idx;
    if (r)
        return -1;
    if (!atl_type_equal(&g, dy)) {
        char d[96];
        return fail(c, "gather_grad: gathering from %s gives %s, not the gradient's %s",
                    TS(out, a), TS(&g, b), TS(dy, d));
    }
    return 0;
}

static int shape_loss_grad(shape_ctx *c, atl_type *out)
{
    char a[96];
    const atl_type *dl = c->in[2];
    if (dl->dtype != ATL_F32 || dl->rank != 0)
        return fail(c, "%s: the upstream gradient must be a scalar, got %s",
                    atl_op_name(c->n->op), TS(dl, a));
    atl_type tmp;
    int r = c->n->op == ATL_OP_CROSS_ENTROPY_GRAD ? shape_cross_entropy(c, &tmp)
                                                   : shape_mse(c, &tmp);
    if (r)
        return -1;
    *out = *c->in[0];
    return 0;
}

static int shape_sgd_update(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    const char *name = atl_node_attr_str(c->n, "param");
    int32_t k = name ? atl_func_find_param(c->f, name) : -1;
    if (k < 0)
        return fail(c, "sgd_update of unknown parameter \"%s\"", name ? name : "?");
    if (!atl_type_equal(&c->f->params[k].type, c->in[0]))
        return fail(c, "sgd_update: gradient %s does not match parameter %s", TS(c->in[0], a),
                    TS(&c->f->params[k].type, b));
    if (c->in[1]->dtype != ATL_F32 || c->in[1]->rank != 0)
        return fail(c, "sgd_update: the learning rate must be an f32 scalar");
    *out = atl_type_make(ATL_F32, 0, NULL);
    return 0;
}

/* ---- analog tiles ---- */

static const atl_tile_decl *tile_of(shape_ctx *c)
{
    const char *name = atl_node_attr_str(c->n, "tile");
    int32_t k = name ? atl_func_find_tile(c->f, name) : -1;
    if (k < 0) {
        fail(c, "%s: unknown tile \"%s\"", atl_op_name(c->n->op), name ? name : "?");
        return NULL;
    }
    return &c->f->tiles[k];
}

static bool io_names_ok(shape_ctx *c)
{
    static const char *const nms[] = {"none", "abs_max", "max", "constant", "abs_max_np_sum",
                                      "average_abs_max"};
    static const char *const bms[] = {"none", "iterative", "iterative_worst_case"};
    const char *nm = atl_node_attr_str(c->n, "nm"), *bm = atl_node_attr_str(c->n, "bm");
    bool okn = false, okb = false;
    for (size_t i = 0; nm && i < sizeof nms / sizeof nms[0]; i++)
        okn |= strcmp(nm, nms[i]) == 0;
    for (size_t i = 0; bm && i < sizeof bms / sizeof bms[0]; i++)
        okb |= strcmp(bm, bms[i]) == 0;
    if (!okn)
        return fail(c, "%s: unknown noise management '%s'", atl_op_name(c->n->op), nm ? nm : ""),
               false;
    if (!okb)
        return fail(c, "%s: unknown bound management '%s'", atl_op_name(c->n->op), bm ? bm : ""),
               false;
    return true;
}

static int shape_analog_mvm(shape_ctx *c, atl_type *out)
{
    char a[96];
    const atl_tile_decl *t = tile_of(c);
    if (!t || need_f32(c, 0))
        return -1;
    bool back = c->n->op == ATL_OP_ANALOG_MVM_T || c->n->op == ATL_OP_ANALOG_MVM_T_IO;
    if ((c->n->op == ATL_OP_ANALOG_MVM_IO || c->n->op == ATL_OP_ANALOG_MVM_T_IO) &&
        !io_names_ok(c))
        return -1;
    int64_t in = back ? t->rows : t->cols, outd = back ? t->cols : t->rows;
    const atl_type *x = c->in[0];
    if (x->rank < 1 || x->dims[x->rank - 1] != in)
        return fail(c, "%s: input %s does not end in the tile's %lld %s", atl_op_name(c->n->op),
                    TS(x, a), (long long)in, back ? "rows" : "columns");
    *out = *x;
    out->dims[x->rank - 1] = outd;
    return 0;
}

static int shape_analog_grad(shape_ctx *c, atl_type *out)
{
    char a[96], b[96];
    const atl_tile_decl *t = tile_of(c);
    if (!t || need_f32(c, 0) || need_f32(c, 1))
        return -1;
    const atl_type *x = c->in[0], *d = c->in[1];
    if (x->rank < 1 || d->rank < 1 || x->dims[x->rank - 1] != t->cols ||
        d->dims[d->rank - 1] != t->rows ||
        atl_type_numel(x) / t->cols != atl_type_numel(d) / t->rows)
        return fail(c, "%s: inputs %s and errors %s do not fit the %lldx%lld tile",
                    atl_op_name(c->n->op), TS(x, a), TS(d, b), (long long)t->rows,
                    (long long)t->cols);
    if (c->n->op == ATL_OP_ANALOG_UPDATE && (c->in[2]->dtype != ATL_F32 || c->in[2]->rank != 0))
        return fail(c, "analog_update: the learning rate must be an f32 scalar");
    *out = atl_type_make(ATL_F32, 0, NULL);
    return 0;
}

/* fused: the broadcast of every operand (ir/fused.h explains why that is the group's shape) */
static int shape_fused(shape_ctx *c, atl_type *out)
{
    atl_fexpr e;
    if (atl_node_fexpr(c->n, &e, c->err, c->errlen))
        return -1;
    if (c->n_in > 64)
        return fail(c, "fused: too many operands");
    atl_type t = *c->in[0];
    for (int k = 0; k < c->n_in; k++) {
        char a[96], b[96];
        if (need_f32(c, k))
            return -1;
        if (atl_broadcast(&t, c->in[k], &t))
            return fail(c, "fused: operand $%d %s does not broadcast against %s", k,
                        TS(c->in[k], a), TS(&t, b));
    }
    *out = t;
    return 0;
}

static const shape_fn shape_rules[] = {
    [ATL_OP_INPUT] = shape_input,
    [ATL_OP_PARAM] = shape_param,
    [ATL_OP_FULL] = shape_full,
    [ATL_OP_ATTN_MASK] = shape_attn_mask,
    [ATL_OP_REL_POS_INDEX] = shape_rel_pos_index,
    [ATL_OP_CALL] = shape_call,
    [ATL_OP_LINEAR] = shape_linear,
    [ATL_OP_MATMUL] = shape_matmul,
    [ATL_OP_ADD] = shape_bcast,
    [ATL_OP_SUB] = shape_bcast,
    [ATL_OP_MUL] = shape_bcast,
    [ATL_OP_DIV] = shape_bcast,
    [ATL_OP_NEG] = shape_unary,
    [ATL_OP_SCALE] = shape_unary,
    [ATL_OP_ADD_SCALAR] = shape_unary,
    [ATL_OP_GELU] = shape_unary,
    [ATL_OP_RELU] = shape_unary,
    [ATL_OP_TANH] = shape_unary,
    [ATL_OP_SIGMOID] = shape_unary,
    [ATL_OP_EXP] = shape_unary,
    [ATL_OP_SOFTMAX] = shape_softmax,
    [ATL_OP_LAYERNORM] = shape_layernorm,
    [ATL_OP_RESHAPE] = shape_reshape,
    [ATL_OP_PERMUTE] = shape_permute,
    [ATL_OP_CONCAT] = shape_concat,
    [ATL_OP_SLICE] = shape_slice,
    [ATL_OP_ROLL] = shape_roll,
    [ATL_OP_GATHER] = shape_gather,
    [ATL_OP_MEAN] = shape_reduce,
    [ATL_OP_SUM] = shape_reduce,
    [ATL_OP_CROSS_ENTROPY] = shape_cross_entropy,
    [ATL_OP_MSE] = shape_mse,
    [ATL_OP_LINEAR_GRAD_X] = shape_linear_grad_x,
    [ATL_OP_LINEAR_GRAD_W] = shape_linear_grad_w,
    [ATL_OP_SUM_TO] = shape_sum_to,
    [ATL_OP_BROADCAST_TO] = shape_broadcast_to,
    [ATL_OP_GELU_GRAD] = shape_same2,
    [ATL_OP_RELU_GRAD] = shape_same2,
    [ATL_OP_TANH_GRAD] = shape_same2,
    [ATL_OP_SIGMOID_GRAD] = shape_same2,
    [ATL_OP_SOFTMAX_GRAD] = shape_softmax_grad,
    [ATL_OP_LAYERNORM_GRAD_X] = shape_layernorm_grad_x,
    [ATL_OP_LAYERNORM_GRAD_W] = shape_layernorm_grad_w,
    [ATL_OP_SLICE_GRAD] = shape_slice_grad,
    [ATL_OP_GATHER_GRAD] = shape_gather_grad,
    [ATL_OP_CROSS_ENTROPY_GRAD] = shape_loss_grad,
    [ATL_OP_MSE_GRAD] = shape_loss_grad,
    [ATL_OP_SGD_UPDATE] = shape_sgd_update,
    [ATL_OP_ANALOG_MVM] = shape_analog_mvm,
    [ATL_OP_ANALOG_MVM_T] = shape_analog_mvm,
    [ATL_OP_ANALOG_MVM_IO] = shape_analog_mvm,
    [ATL_OP_ANALOG_MVM_T_IO] = shape_analog_mvm,
    [ATL_OP_ANALOG_GRAD] = shape_analog_grad,
    [ATL_OP_ANALOG_UPDATE] = shape_analog_grad,
    [ATL_OP_FUSED] = shape_fused,
};
static_assert(sizeof shape_rules / sizeof shape_rules[0] == ATL_OP_COUNT,
              "every op needs a shape rule");

int atl_infer_type(const atl_module *m, const atl_func *f, const atl_node *n, atl_type *out,
                   char *err, size_t errlen)
{
    shape_ctx c = {.m = m, .f = f, .n = n, .err = err, .errlen = errlen};
    if ((unsigned)n->op >= ATL_OP_COUNT || !shape_rules[n->op]) {
        snprintf(err, errlen, "op %d has no shape rule", (int)n->op);
        return -1;
    }
    c.n_in = n->n_src;
    if (c.n_in > 64) {
        snprintf(err, errlen, "too many operands (%d)", c.n_in);
        return -1;
    }
    for (int k = 0; k < n->n_src; k++)
        c.in[k] = &f->nodes[n->src[k]].type;
    *out = n->type; /* the declared type, for the ops that take it */
    return shape_rules[n->op](&c, out);
}
