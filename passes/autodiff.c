/* `autodiff`: append the backward graph of the model's loss (reverse mode, graph -> graph).
 *
 * The model function must be expanded (no calls) and have an output named "loss" holding a f32
 * scalar. For every trainable (not frozen) parameter that the loss depends on, the pass appends
 * the ops computing d loss / d parameter and adds an output named "grad.<parameter>". Only nodes
 * on a path from a trainable parameter to the loss get gradients, so unused branches (e.g. the
 * labels, constant masks) cost nothing; contributions of a value used several times are summed.
 *
 * One rule per op (grad_rules[] below, a parallel table to ops.def checked at compile time):
 * a rule receives the node, its output gradient g and emits the gradient of each operand that
 * needs one. Shapes follow the forward op; broadcasting ops reduce with sum_to.
 */
#include "pass.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct ad {
    atl_module *m;
    atl_func *f; /* main; never reallocated during the pass (we only add nodes) */
    atl_diag *d;
    int32_t *grad;      /* accumulated gradient node of each forward node, -1: none yet */
    unsigned char *need; /* node lies on a path parameter -> loss */
    int n_fwd;
    int errors;
    atl_loc loc; /* location of the node whose rule runs (a copy: emitting nodes may move the
                    node array, so rules never take the address of a node across an emit) */
} ad;

static atl_type T(ad *a, int32_t v) { return a->f->nodes[v].type; }

static int32_t emit(ad *a, atl_op op, const int32_t *src, int n, const atl_attr *attrs, int na,
                    atl_type t, atl_loc loc)
{
    int32_t r = atl_func_add_node(a->m, a->f, op, src, n, attrs, na, t, loc);
    char msg[512];
    atl_type inferred;
    if (atl_infer_type(a->m, a->f, &a->f->nodes[r], &inferred, msg, sizeof msg)) {
        atl_ir_report(a->d, a->m, ATL_SEV_ERROR, loc, "autodiff: %s", msg);
        a->errors++;
    } else {
        a->f->nodes[r].type = inferred;
    }
    return r;
}

static int32_t emit1(ad *a, atl_op op, int32_t x, atl_type t, atl_loc loc)
{
    return emit(a, op, &x, 1, NULL, 0, t, loc);
}

static int32_t emit2(ad *a, atl_op op, int32_t x, int32_t y, atl_type t, atl_loc loc)
{
    int32_t s[2] = {x, y};
    return emit(a, op, s, 2, NULL, 0, t, loc);
}

/* Reduce a gradient to the shape of the operand it belongs to (adjoint of broadcasting). */
static int32_t reduce_to(ad *a, int32_t g, atl_type want, atl_loc loc)
{
    atl_type gt = T(a, g);
    if (atl_type_equal(&gt, &want))
        return g;
    return emit1(a, ATL_OP_SUM_TO, g, want, loc);
}

/* Add a contribution to the gradient of node v (reducing broadcast dims first). */
static void accumulate(ad *a, int32_t v, int32_t g, atl_loc loc)
{
    if (!a->need[v])
        return;
    g = reduce_to(a, g, T(a, v), loc);
    if (a->grad[v] < 0)
        a->grad[v] = g;
    else
        a->grad[v] = emit2(a, ATL_OP_ADD, a->grad[v], g, T(a, v), loc);
}

typedef void (*grad_rule)(ad *a, int32_t i, int32_t g);

#define NODE (a->f->nodes[i])
#define SRC(k) (a->f->nodes[i].src[k])
#define NEED(k) (a->need[SRC(k)])
#define LOC (a->loc)

static void g_none(ad *a, int32_t i, int32_t g) { (void)a, (void)i, (void)g; }

static void g_add(ad *a, int32_t i, int32_t g)
{
    accumulate(a, SRC(0), g, LOC);
    accumulate(a, SRC(1), g, LOC);
}

static void g_sub(ad *a, int32_t i, int32_t g)
{
    accumulate(a, SRC(0), g, LOC);
    if (NEED(1))
        accumulate(a, SRC(1), emit1(a, ATL_OP_NEG, g, T(a, g), LOC), LOC);
}

static void g_mul(ad *a, int32_t i, int32_t g)
{
    int32_t x = SRC(0), y = SRC(1);
    if (a->need[x])
        accumulate(a, x, emit2(a, ATL_OP_MUL, g, y, T(a, g), LOC), LOC);
    if (a->need[y])
        accumulate(a, y, emit2(a, ATL_OP_MUL, g, x, T(a, g), LOC), LOC);
}

/* d(x/y)/dx = 1/y; d(x/y)/dy = -(x/y)/y */
static void g_div(ad *a, int32_t i, int32_t g)
{
    int32_t x = SRC(0), y = SRC(1);
    if (a->need[x])
        accumulate(a, x, emit2(a, ATL_OP_DIV, g, y, T(a, g), LOC), LOC);
    if (a->need[y]) {
        int32_t q = emit2(a, ATL_OP_MUL, g, i, T(a, g), LOC);
        q = emit2(a, ATL_OP_DIV, q, y, T(a, g), LOC);
        accumulate(a, y, emit1(a, ATL_OP_NEG, q, T(a, g), LOC), LOC);
    }
}

static void g_neg(ad *a, int32_t i, int32_t g)
{
    accumulate(a, SRC(0), emit1(a, ATL_OP_NEG, g, T(a, g), LOC), LOC);
}

static void g_scale(ad *a, int32_t i, int32_t g)
{
    atl_attr s = atl_attr_float(atl_node_attr_float(&NODE, "s"));
    accumulate(a, SRC(0), emit(a, ATL_OP_SCALE, &g, 1, &s, 1, T(a, g), LOC), LOC);
}

static void g_identity(ad *a, int32_t i, int32_t g) { accumulate(a, SRC(0), g, LOC); }

/* rules of the form dx = op(x_or_y, g) */
static void g_act(ad *a, int32_t i, int32_t g, atl_op op, bool use_output)
{
    accumulate(a, SRC(0), emit2(a, op, use_output ? i : SRC(0), g, T(a, g), LOC), LOC);
}
static void g_gelu(ad *a, int32_t i, int32_t g) { g_act(a, i, g, ATL_OP_GELU_GRAD, false); }
static void g_relu(ad *a, int32_t i, int32_t g) { g_act(a, i, g, ATL_OP_RELU_GRAD, false); }
static void g_tanh(ad *a, int32_t i, int32_t g) { g_act(a, i, g, ATL_OP_TANH_GRAD, true); }
static void g_sigmoid(ad *a, int32_t i, int32_t g) { g_act(a, i, g, ATL_OP_SIGMOID_GRAD, true); }
static void g_exp(ad *a, int32_t i, int32_t g)
{
    accumulate(a, SRC(0), emit2(a, ATL_OP_MUL, g, i, T(a, g), LOC), LOC);
}

static void g_softmax(ad *a, int32_t i, int32_t g)
{
    int32_t s[2] = {i, g};
    atl_attr ax = atl_attr_int(atl_node_attr_int(&NODE, "axis"));
    accumulate(a, SRC(0), emit(a, ATL_OP_SOFTMAX_GRAD, s, 2, &ax, 1, T(a, g), LOC), LOC);
}

static void g_layernorm(ad *a, int32_t i, int32_t g)
{
    atl_attr eps = atl_attr_float(atl_node_attr_float(&NODE, "eps"));
    int32_t x = SRC(0);
    bool affine = NODE.n_src == 3;
    if (a->need[x]) {
        int32_t s[3] = {x, g, affine ? SRC(1) : 0};
        accumulate(a, x, emit(a, ATL_OP_LAYERNORM_GRAD_X, s, affine ? 3 : 2, &eps, 1, T(a, x), LOC),
                   LOC);
    }
    if (affine && NEED(1)) {
        int32_t s[2] = {x, g};
        accumulate(a, SRC(1), emit(a, ATL_OP_LAYERNORM_GRAD_W, s, 2, &eps, 1, T(a, SRC(1)), LOC),
                   LOC);
    }
    if (affine && NEED(2))
        accumulate(a, SRC(2), g, LOC); /* reduce_to sums the rows */
}

static void g_linear(ad *a, int32_t i, int32_t g)
{
    int32_t x = SRC(0), w = SRC(1);
    if (a->need[x])
        accumulate(a, x, emit2(a, ATL_OP_LINEAR_GRAD_X, g, w, T(a, x), LOC), LOC);
    if (a->need[w])
        accumulate(a, w, emit2(a, ATL_OP_LINEAR_GRAD_W, g, x, T(a, w), LOC), LOC);
    if (NODE.n_src == 3 && NEED(2))
        accumulate(a, SRC(2), g, LOC);
}

/* y = op(A) @ op(B). With G = dL/dy:
 *   ta=0 tb=0: dA = G B^T,      dB = A^T G
 *   ta=0 tb=1: dA = G B,        dB = G^T A
 *   ta=1 tb=0: dA = B G^T,      dB = A G
 *   ta=1 tb=1: dA = B^T G^T,    dB = G^T A^T
 * Broadcast batch dims are reduced by accumulate(). */
static void g_matmul(ad *a, int32_t i, int32_t g)
{
    int32_t A = SRC(0), B = SRC(1);
    bool ta = atl_node_attr_bool(&NODE, "ta"), tb = atl_node_attr_bool(&NODE, "tb");
    atl_type zero;
    memset(&zero, 0, sizeof zero);
    if (a->need[A]) {
        int32_t s[2];
        bool t0, t1;
        if (!ta) {
            s[0] = g;
            s[1] = B;
            t0 = false;
            t1 = !tb;
        } else {
            s[0] = B;
            s[1] = g;
            t0 = tb;
            t1 = true;
        }
        atl_attr at[2] = {atl_attr_bool(t0), atl_attr_bool(t1)};
        accumulate(a, A, emit(a, ATL_OP_MATMUL, s, 2, at, 2, zero, LOC), LOC);
    }
    if (a->need[B]) {
        int32_t s[2];
        bool t0, t1;
        if (!tb) {
            s[0] = A;
            s[1] = g;
            t0 = !ta;
            t1 = false;
        } else {
            s[0] = g;
            s[1] = A;
            t0 = true;
            t1 = ta;
        }
        atl_attr at[2] = {atl_attr_bool(t0), atl_attr_bool(t1)};
        accumulate(a, B, emit(a, ATL_OP_MATMUL, s, 2, at, 2, zero, LOC), LOC);
    }
}

static void g_reshape(ad *a, int32_t i, int32_t g)
{
    accumulate(a, SRC(0), emit1(a, ATL_OP_RESHAPE, g, T(a, SRC(0)), LOC), LOC);
}

static void g_permute(ad *a, int32_t i, int32_t g)
{
    const atl_attr *p = atl_node_attr(&NODE, "perm");
    int64_t inv[ATL_MAX_RANK];
    int r = p->n;
    for (int k = 0; k < r; k++) {
        int64_t ax = p->v.ints[k] < 0 ? p->v.ints[k] + r : p->v.ints[k];
        inv[ax] = k;
    }
    atl_attr at = atl_attr_ints(inv, r);
    accumulate(a, SRC(0), emit(a, ATL_OP_PERMUTE, &g, 1, &at, 1, T(a, SRC(0)), LOC), LOC);
}

static void g_concat(ad *a, int32_t i, int32_t g)
{
    int rank = NODE.type.rank;
    int64_t axis = atl_node_attr_int(&NODE, "axis");
    if (axis < 0)
        axis += rank;
    int64_t start = 0;
    for (int k = 0; k < NODE.n_src; k++) {
        int32_t x = SRC(k);
        int64_t len = a->f->nodes[x].type.dims[axis];
        if (a->need[x]) {
            atl_attr at[4] = {atl_attr_int(axis), atl_attr_int(start), atl_attr_int(start + len),
                              atl_attr_int(1)};
            accumulate(a, x, emit(a, ATL_OP_SLICE, &g, 1, at, 4, T(a, x), LOC), LOC);
        }
        start += len;
    }
}

static void g_slice(ad *a, int32_t i, int32_t g)
{
    atl_attr at[4] = {atl_attr_int(atl_node_attr_int(&NODE, "axis")),
                      atl_attr_int(atl_node_attr_int(&NODE, "start")),
                      atl_attr_int(atl_node_attr_int(&NODE, "end")),
                      atl_attr_int(atl_node_attr_int(&NODE, "step"))};
    accumulate(a, SRC(0), emit(a, ATL_OP_SLICE_GRAD, &g, 1, at, 4, T(a, SRC(0)), LOC), LOC);
}

static void g_roll(ad *a, int32_t i, int32_t g)
{
    const atl_attr *sh = atl_node_attr(&NODE, "shifts"), *ax = atl_node_attr(&NODE, "axes");
    int64_t neg[ATL_MAX_RANK * 2];
    for (int k = 0; k < sh->n; k++)
        neg[k] = -sh->v.ints[k];
    atl_attr at[2] = {atl_attr_ints(neg, sh->n), atl_attr_ints(ax->v.ints, ax->n)};
    accumulate(a, SRC(0), emit(a, ATL_OP_ROLL, &g, 1, at, 2, T(a, g), LOC), LOC);
}

static void g_gather(ad *a, int32_t i, int32_t g)
{
    accumulate(a, SRC(0), emit2(a, ATL_OP_GATHER_GRAD, g, SRC(1), T(a, SRC(0)), LOC), LOC);
}

/* mean/sum over an axis: broadcast the gradient back (times 1/n for mean) */
static void g_reduce(ad *a, int32_t i, int32_t g)
{
    atl_type xt = T(a, SRC(0));
    int64_t axis = atl_node_attr_int(&NODE, "axis");
    if (axis < 0)
        axis += xt.rank;
    atl_type kt = xt;
    kt.dims[axis] = 1;
    int32_t k = emit1(a, ATL_OP_RESHAPE, g, kt, LOC);
    int32_t b = emit1(a, ATL_OP_BROADCAST_TO, k, xt, LOC);
    if (NODE.op == ATL_OP_MEAN) {
        atl_attr s = atl_attr_float(1.0 / (double)xt.dims[axis]);
        b = emit(a, ATL_OP_SCALE, &b, 1, &s, 1, xt, LOC);
    }
    accumulate(a, SRC(0), b, LOC);
}

static void g_cross_entropy(ad *a, int32_t i, int32_t g)
{
    int32_t s[3] = {SRC(0), SRC(1), g};
    accumulate(a, SRC(0), emit(a, ATL_OP_CROSS_ENTROPY_GRAD, s, 3, NULL, 0, T(a, SRC(0)), LOC),
               LOC);
}

static void g_mse(ad *a, int32_t i, int32_t g)
{
    int32_t s[3] = {SRC(0), SRC(1), g};
    int32_t dp = emit(a, ATL_OP_MSE_GRAD, s, 3, NULL, 0, T(a, SRC(0)), LOC);
    accumulate(a, SRC(0), dp, LOC);
    if (NEED(1))
        accumulate(a, SRC(1), emit1(a, ATL_OP_NEG, dp, T(a, dp), LOC), LOC);
}

static void g_unsupported(ad *a, int32_t i, int32_t g)
{
    (void)g;
    atl_ir_report(a->d, a->m, ATL_SEV_ERROR, LOC, "autodiff: no gradient rule for %s%s",
                  atl_op_name(NODE.op),
                  NODE.op == ATL_OP_CALL ? " (run the expand pass first)" : "");
    a->errors++;
}

static const grad_rule grad_rules[] = {
    [ATL_OP_INPUT] = g_none,
    [ATL_OP_PARAM] = g_none,
    [ATL_OP_FULL] = g_none,
    [ATL_OP_ATTN_MASK] = g_none,
    [ATL_OP_REL_POS_INDEX] = g_none,
    [ATL_OP_CALL] = g_unsupported,
    [ATL_OP_LINEAR] = g_linear,
    [ATL_OP_MATMUL] = g_matmul,
    [ATL_OP_ADD] = g_add,
    [ATL_OP_SUB] = g_sub,
    [ATL_OP_MUL] = g_mul,
    [ATL_OP_DIV] = g_div,
    [ATL_OP_NEG] = g_neg,
    [ATL_OP_SCALE] = g_scale,
    [ATL_OP_ADD_SCALAR] = g_identity,
    [ATL_OP_GELU] = g_gelu,
    [ATL_OP_RELU] = g_relu,
    [ATL_OP_TANH] = g_tanh,
    [ATL_OP_SIGMOID] = g_sigmoid,
    [ATL_OP_EXP] = g_exp,
    [ATL_OP_SOFTMAX] = g_softmax,
    [ATL_OP_LAYERNORM] = g_layernorm,
    [ATL_OP_RESHAPE] = g_reshape,
    [ATL_OP_PERMUTE] = g_permute,
    [ATL_OP_CONCAT] = g_concat,
    [ATL_OP_SLICE] = g_slice,
    [ATL_OP_ROLL] = g_roll,
    [ATL_OP_GATHER] = g_gather,
    [ATL_OP_MEAN] = g_reduce,
    [ATL_OP_SUM] = g_reduce,
    [ATL_OP_CROSS_ENTROPY] = g_cross_entropy,
    [ATL_OP_MSE] = g_mse,
    /* second-order rules are not needed: the backward ops are never differentiated */
    [ATL_OP_LINEAR_GRAD_X] = g_unsupported,
    [ATL_OP_LINEAR_GRAD_W] = g_unsupported,
    [ATL_OP_SUM_TO] = g_unsupported,
    [ATL_OP_BROADCAST_TO] = g_unsupported,
    [ATL_OP_GELU_GRAD] = g_unsupported,
    [ATL_OP_RELU_GRAD] = g_unsupported,
    [ATL_OP_TANH_GRAD] = g_unsupported,
    [ATL_OP_SIGMOID_GRAD] = g_unsupported,
    [ATL_OP_SOFTMAX_GRAD] = g_unsupported,
    [ATL_OP_LAYERNORM_GRAD_X] = g_unsupported,
    [ATL_OP_LAYERNORM_GRAD_W] = g_unsupported,
    [ATL_OP_SLICE_GRAD] = g_unsupported,
    [ATL_OP_GATHER_GRAD] = g_unsupported,
    [ATL_OP_CROSS_ENTROPY_GRAD] = g_unsupported,
    [ATL_OP_MSE_GRAD] = g_unsupported,
    [ATL_OP_SGD_UPDATE] = g_unsupported,
    [ATL_OP_ANALOG_MVM] = g_unsupported,
    [ATL_OP_ANALOG_MVM_T] = g_unsupported,
    [ATL_OP_ANALOG_MVM_IO] = g_unsupported,
    [ATL_OP_ANALOG_MVM_T_IO] = g_unsupported,
    [ATL_OP_ANALOG_GRAD] = g_unsupported,
    [ATL_OP_ANALOG_UPDATE] = g_unsupported,
    [ATL_OP_FUSED] = g_unsupported, /* rejected up front (see atl_pass_autodiff) */
};
static_assert(sizeof grad_rules / sizeof grad_rules[0] == ATL_OP_COUNT,
              "every op needs a gradient rule (g_none or g_unsupported if it has none)");

bool atl_op_has_grad_rule(atl_op op)
{
    return (unsigned)op < ATL_OP_COUNT && grad_rules[op] != g_unsupported;
}

int atl_pass_autodiff(atl_module *m, atl_pass_ctx *ctx)
{
    if (m->n_funcs != 1) {
        atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, ATL_NO_LOC,
                      "autodiff needs an expanded module (run the expand pass first)");
        return 1;
    }
    atl_func *f = &m->funcs[0];
    int32_t loss = -1;
    for (int k = 0; k < f->n_outputs; k++)
        if (f->output_names[k] && strcmp(f->output_names[k], "loss") == 0)
            loss = f->outputs[k];
    if (loss < 0) {
        atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, ATL_NO_LOC,
                      "autodiff: the model has no output named \"loss\"");
        return 1;
    }
    if (f->nodes[loss].type.rank != 0 || f->nodes[loss].type.dtype != ATL_F32) {
        atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, f->nodes[loss].loc,
                      "autodiff: the loss must be an f32 scalar");
        return 1;
    }
    for (int k = 0; k < f->n_outputs; k++)
        if (f->output_names[k] && strncmp(f->output_names[k], "grad.", 5) == 0) {
            atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, ATL_NO_LOC,
                          "autodiff: the module already has gradient outputs");
            return 1;
        }
    /* fused nodes come from the fuse pass, which runs after autodiff; they carry no DIFF flag,
     * so without this check their operands would silently get no gradient */
    for (int i = 0; i < f->n_nodes; i++)
        if (f->nodes[i].op == ATL_OP_FUSED) {
            atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, f->nodes[i].loc,
                          "autodiff: cannot differentiate fused node %%%d (run fuse after "
                          "autodiff and optimizer)",
                          i);
            return 1;
        }

    int n = f->n_nodes;
    ad a = {.m = m, .f = f, .d = ctx->diag, .n_fwd = n};
    a.grad = malloc(sizeof(int32_t) * (size_t)n);
    a.need = calloc((size_t)n, 1);
    unsigned char *from_param = calloc((size_t)n, 1), *to_loss = calloc((size_t)n, 1);
    if (!a.grad || !a.need || !from_param || !to_loss)
        abort();
    for (int i = 0; i < n; i++)
        a.grad[i] = -1;
    /* forward: depends on a trainable parameter through differentiable ops */
    for (int i = 0; i < n; i++) {
        const atl_node *nd = &f->nodes[i];
        if (nd->op == ATL_OP_PARAM) {
            int32_t p = atl_func_find_param(f, atl_node_attr_str(nd, "name"));
            from_param[i] = p >= 0 && !f->params[p].frozen && nd->type.dtype == ATL_F32;
            continue;
        }
        if (!(atl_op_get(nd->op)->flags & ATL_OPF_DIFF))
            continue;
        for (int s = 0; s < nd->n_src; s++)
            if (from_param[nd->src[s]])
                from_param[i] = 1;
    }
    /* backward: the loss depends on it */
    to_loss[loss] = 1;
    for (int i = loss; i >= 0; i--) {
        if (!to_loss[i])
            continue;
        for (int s = 0; s < f->nodes[i].n_src; s++)
            to_loss[f->nodes[i].src[s]] = 1;
    }
    for (int i = 0; i < n; i++)
        a.need[i] = from_param[i] && to_loss[i];
    free(from_param);
    free(to_loss);

    int32_t outs[1024];
    const char *names[1024];
    char *owned[1024];
    int n_out = 0, n_grads = 0;
    if (a.need[loss]) {
        atl_attr one = atl_attr_float(1.0);
        a.grad[loss] = emit(&a, ATL_OP_FULL, NULL, 0, &one, 1, f->nodes[loss].type,
                            f->nodes[loss].loc);
        for (int i = loss; i >= 0 && !a.errors; i--) {
            if (!a.need[i] || a.grad[i] < 0 || f->nodes[i].op == ATL_OP_PARAM)
                continue;
            a.loc = f->nodes[i].loc;
            grad_rules[f->nodes[i].op](&a, i, a.grad[i]);
        }
    }
    /* outputs: keep the forward ones, then one gradient per trainable parameter in declaration
     * order (several param nodes of one parameter are summed) */
    for (int k = 0; k < f->n_outputs && n_out < 1024; k++) {
        outs[n_out] = f->outputs[k];
        names[n_out] = f->output_names[k];
        owned[n_out++] = NULL;
    }
    for (int p = 0; p < f->n_params && !a.errors; p++) {
        int32_t total = -1;
        for (int i = 0; i < n; i++) {
            const atl_node *nd = &f->nodes[i];
            if (nd->op != ATL_OP_PARAM || !a.need[i] || a.grad[i] < 0 ||
                strcmp(atl_node_attr_str(nd, "name"), f->params[p].name) != 0)
                continue;
            total = total < 0 ? a.grad[i]
                              : emit2(&a, ATL_OP_ADD, total, a.grad[i], f->params[p].type,
                                      f->params[p].loc);
        }
        if (total < 0)
            continue;
        if (n_out == 1024) {
            atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, ATL_NO_LOC, "too many parameters");
            a.errors++;
            break;
        }
        size_t len = strlen(f->params[p].name) + 6;
        owned[n_out] = malloc(len);
        if (!owned[n_out])
            abort();
        snprintf(owned[n_out], len, "grad.%s", f->params[p].name);
        outs[n_out] = total;
        names[n_out] = owned[n_out];
        n_out++;
        n_grads++;
    }
    if (!a.errors)
        atl_func_set_outputs(m, f, outs, names, n_out);
    for (int k = 0; k < n_out; k++)
        free(owned[k]);
    free(a.grad);
    free(a.need);
    (void)n_grads;
    return a.errors;
}
