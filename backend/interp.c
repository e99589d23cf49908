/* The reference interpreter: executes a scheduled module op by op.
 *
 * Storage: every arena value lives at the offset the schedule pass chose; parameters point into
 * the parameter store, inputs at caller memory, reshapes at their operand's storage. Each op is
 * one call into the dense kernels of runtime/kernels (atl/kernels.h) over whole tensors — no
 * per-element dispatch — so the oracle is simple and still fast enough to train with.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atl/kernels.h"
#include "backend.h"
#include "fused_exec.h"
#include "pass.h"

struct atl_interp {
    const atl_module *m;
    const atl_func *f;
    atl_params *ps;
    unsigned char *arena;
    void **ptr;         /* storage of each node */
    int32_t *param_idx; /* PARAM and SGD_UPDATE nodes: index into the store */
    bool *bound;        /* INPUT nodes */
    atl_analog *an;     /* tiles of analog ops */
    int32_t *tile_idx;  /* analog ops: index into an */
    atl_fused_prog **fprog; /* FUSED nodes: the prepared expression (fused_exec.c) */
    bool profile;
    double op_time[ATL_OP_COUNT];
    int64_t op_calls[ATL_OP_COUNT];
    int64_t runs;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void atl_interp_set_profile(atl_interp *ip, bool on) { ip->profile = on; }

void atl_interp_print_profile(const atl_interp *ip, FILE *out)
{
    double total = 0;
    for (int op = 0; op < ATL_OP_COUNT; op++)
        total += ip->op_time[op];
    fprintf(out, "interpreter profile: %lld runs, %.3f ms per run\n", (long long)ip->runs,
            ip->runs ? 1e3 * total / (double)ip->runs : 0.0);
    for (;;) {
        int best = -1;
        for (int op = 0; op < ATL_OP_COUNT; op++)
            if (ip->op_calls[op] > 0 && (best < 0 || ip->op_time[op] > ip->op_time[best]))
                best = op;
        if (best < 0 || ip->op_time[best] < 0)
            break;
        fprintf(out, "  %-20s %8.3f ms/run %5.1f%%  %lld calls/run\n", atl_op_name((atl_op)best),
                1e3 * ip->op_time[best] / (double)(ip->runs ? ip->runs : 1),
                total > 0 ? 100.0 * ip->op_time[best] / total : 0.0,
                (long long)(ip->op_calls[best] / (ip->runs ? ip->runs : 1)));
        ((atl_interp *)ip)->op_time[best] = -1; /* printed */
    }
}

atl_interp *atl_interp_create(const atl_module *m, atl_params *ps, char *err, size_t errlen)
{
    if (m->n_funcs != 1 || m->arena_size <= 0) {
        snprintf(err, errlen, "the module must be expanded and scheduled (schedule pass)");
        return NULL;
    }
    const atl_func *f = &m->funcs[0];
    atl_interp *ip = calloc(1, sizeof *ip);
    if (!ip)
        abort();
    ip->m = m;
    ip->f = f;
    ip->ps = ps;
    size_t n = (size_t)(f->n_nodes ? f->n_nodes : 1);
    ip->arena = aligned_alloc(64, ((size_t)m->arena_size + 63) & ~(size_t)63);
    ip->ptr = calloc(n, sizeof *ip->ptr);
    ip->param_idx = malloc(n * sizeof *ip->param_idx);
    ip->bound = calloc(n, sizeof *ip->bound);
    ip->tile_idx = malloc(n * sizeof *ip->tile_idx);
    ip->fprog = calloc(n, sizeof *ip->fprog);
    if (!ip->arena || !ip->ptr || !ip->param_idx || !ip->bound || !ip->tile_idx || !ip->fprog)
        abort();
    for (size_t i = 0; i < n; i++)
        ip->tile_idx[i] = -1;
    memset(ip->arena, 0, (size_t)m->arena_size);
    for (int32_t i = 0; i < f->n_nodes; i++) {
        const atl_node *nd = &f->nodes[i];
        ip->param_idx[i] = -1;
        if (nd->op == ATL_OP_PARAM || nd->op == ATL_OP_SGD_UPDATE) {
            const char *name = atl_node_attr_str(nd, nd->op == ATL_OP_PARAM ? "name" : "param");
            int k = atl_params_find(ps, name);
            if (k < 0 || !atl_type_equal(&ps->types[k], nd->op == ATL_OP_PARAM
                                                            ? &nd->type
                                                            : &f->nodes[nd->src[0]].type)) {
                snprintf(err, errlen, "parameter \"%s\" is missing from the store or has another "
                                      "shape",
                         name);
                atl_interp_free(ip);
                return NULL;
            }
            ip->param_idx[i] = k;
            if (nd->op == ATL_OP_PARAM)
                ip->ptr[i] = ps->data[k];
        }
        if (nd->op == ATL_OP_FUSED) {
            if (!(ip->fprog[i] = malloc(sizeof *ip->fprog[i])))
                abort();
            if (atl_fused_prog_init(ip->fprog[i], f, i, err, errlen)) {
                atl_interp_free(ip);
                return NULL;
            }
        }
        if (atl_node_in_arena(nd)) {
            if (nd->arena < 0 ||
                nd->arena + atl_type_numel(&nd->type) * 4 > m->arena_size) {
                snprintf(err, errlen, "node %%%d has no valid arena offset", i);
                atl_interp_free(ip);
                return NULL;
            }
            ip->ptr[i] = ip->arena + nd->arena;
        }
    }
    return ip;
}

void atl_interp_free(atl_interp *ip)
{
    if (!ip)
        return;
    free(ip->arena);
    free(ip->ptr);
    free(ip->param_idx);
    free(ip->bound);
    free(ip->tile_idx);
    if (ip->fprog)
        for (int32_t i = 0; i < ip->f->n_nodes; i++)
            free(ip->fprog[i]);
    free(ip->fprog);
    free(ip);
}

static bool is_analog_op(atl_op op)
{
    return op == ATL_OP_ANALOG_MVM || op == ATL_OP_ANALOG_MVM_T || op == ATL_OP_ANALOG_MVM_IO ||
           op == ATL_OP_ANALOG_MVM_T_IO || op == ATL_OP_ANALOG_UPDATE || op == ATL_OP_ANALOG_GRAD;
}

int atl_interp_set_analog(atl_interp *ip, atl_analog *a, char *err, size_t errlen)
{
    for (int32_t i = 0; i < ip->f->n_nodes; i++) {
        const atl_node *nd = &ip->f->nodes[i];
        if (!is_analog_op(nd->op))
            continue;
        const char *name = atl_node_attr_str(nd, "tile");
        int t = atl_analog_find(a, name);
        if (t < 0) {
            snprintf(err, errlen, "no runtime tile \"%s\"", name);
            return -1;
        }
        ip->tile_idx[i] = t;
    }
    ip->an = a;
    return 0;
}

int atl_interp_bind(atl_interp *ip, const char *input, const void *data)
{
    int found = -1;
    for (int32_t i = 0; i < ip->f->n_nodes; i++) {
        const atl_node *nd = &ip->f->nodes[i];
        if (nd->op == ATL_OP_INPUT && strcmp(atl_node_attr_str(nd, "name"), input) == 0) {
            ip->ptr[i] = (void *)data;
            ip->bound[i] = true;
            found = 0;
        }
    }
    return found;
}

static int norm_axis(int64_t a, int rank) { return (int)(a < 0 ? a + rank : a); }

static void split(const atl_type *t, int axis, int64_t *outer, int64_t *n, int64_t *inner)
{
    int64_t o = 1, in = 1;
    for (int i = 0; i < axis; i++)
        o *= t->dims[i];
    for (int i = axis + 1; i < t->rank; i++)
        in *= t->dims[i];
    *outer = o;
    *n = t->dims[axis];
    *inner = in;
}

#define X(k) ((const float *)ip->ptr[nd->src[k]])
#define XT(k) (&f->nodes[nd->src[k]].type)
#define XI(k) ((const int32_t *)ip->ptr[nd->src[k]])

static void exec_node(atl_interp *ip, int32_t i)
{
    const atl_func *f = ip->f;
    const atl_node *nd = &f->nodes[i];
    const atl_type *t = &nd->type;
    float *y = ip->ptr[i];
    int64_t n = atl_type_numel(t);
    switch (nd->op) {
    case ATL_OP_INPUT:
    case ATL_OP_PARAM:
    case ATL_OP_CALL: /* rejected by create (modules are expanded) */
        break;
    case ATL_OP_RESHAPE:
        ip->ptr[i] = ip->ptr[nd->src[0]];
        break;
    case ATL_OP_FULL:
        atl_k_fill(y, n, (float)atl_node_attr_float(nd, "value"));
        break;
    case ATL_OP_ATTN_MASK:
        atl_k_attn_mask(atl_node_attr_int(nd, "height"), atl_node_attr_int(nd, "width"),
                        atl_node_attr_int(nd, "window"), atl_node_attr_int(nd, "shift"), y);
        break;
    case ATL_OP_REL_POS_INDEX:
        atl_k_rel_pos_index(atl_node_attr_int(nd, "window"), (int32_t *)y);
        break;
    case ATL_OP_LINEAR: {
        const atl_type *xt = XT(0);
        int64_t k = xt->dims[xt->rank - 1], nout = t->dims[t->rank - 1];
        atl_k_linear(X(0), X(1), nd->n_src == 3 ? X(2) : NULL, y, n / nout, k, nout);
        break;
    }
    case ATL_OP_MATMUL:
        atl_k_matmul(X(0), XT(0)->rank, XT(0)->dims, atl_node_attr_bool(nd, "ta"), X(1),
                     XT(1)->rank, XT(1)->dims, atl_node_attr_bool(nd, "tb"), y, t->rank, t->dims);
        break;
    case ATL_OP_ADD:
    case ATL_OP_SUB:
    case ATL_OP_MUL:
    case ATL_OP_DIV: {
        atl_k_binop op = nd->op == ATL_OP_ADD   ? ATL_K_ADD
                         : nd->op == ATL_OP_SUB ? ATL_K_SUB
                         : nd->op == ATL_OP_MUL ? ATL_K_MUL
                                                : ATL_K_DIV;
        atl_k_binary(op, X(0), XT(0)->rank, XT(0)->dims, X(1), XT(1)->rank, XT(1)->dims, y,
                     t->rank, t->dims);
        break;
    }
    case ATL_OP_NEG:
        atl_k_neg(X(0), y, n);
        break;
    case ATL_OP_SCALE:
        atl_k_scale(X(0), y, n, (float)atl_node_attr_float(nd, "s"));
        break;
    case ATL_OP_ADD_SCALAR:
        atl_k_add_scalar(X(0), y, n, (float)atl_node_attr_float(nd, "s"));
        break;
    case ATL_OP_GELU:
        atl_k_gelu(X(0), y, n);
        break;
    case ATL_OP_RELU:
        atl_k_relu(X(0), y, n);
        break;
    case ATL_OP_TANH:
        atl_k_tanh(X(0), y, n);
        break;
    case ATL_OP_SIGMOID:
        atl_k_sigmoid(X(0), y, n);
        break;
    case ATL_OP_EXP:
        atl_k_exp(X(0), y, n);
        break;
    case ATL_OP_SOFTMAX:
    case ATL_OP_SOFTMAX_GRAD: {
        int64_t o, len, in;
        split(t, norm_axis(atl_node_attr_int(nd, "axis"), t->rank), &o, &len, &in);
        if (nd->op == ATL_OP_SOFTMAX)
            atl_k_softmax(X(0), y, o, len, in);
        else
            atl_k_softmax_bwd(X(0), X(1), y, o, len, in);
        break;
    }
    case ATL_OP_LAYERNORM: {
        int64_t c = t->dims[t->rank - 1];
        atl_k_layernorm(X(0), nd->n_src == 3 ? X(1) : NULL, nd->n_src == 3 ? X(2) : NULL, y,
                        n / c, c, (float)atl_node_attr_float(nd, "eps"));
        break;
    }
    case ATL_OP_PERMUTE: {
        const atl_attr *p = atl_node_attr(nd, "perm");
        int64_t perm[ATL_MAX_RANK];
        for (int k = 0; k < p->n; k++)
            perm[k] = norm_axis(p->v.ints[k], p->n);
        atl_k_permute(X(0), XT(0)->rank, XT(0)->dims, perm, y);
        break;
    }
    case ATL_OP_CONCAT: {
        const float *xs[256];
        int64_t sizes[256];
        int axis = norm_axis(atl_node_attr_int(nd, "axis"), t->rank);
        for (int k = 0; k < nd->n_src && k < 256; k++) {
            xs[k] = X(k);
            sizes[k] = XT(k)->dims[axis];
        }
        atl_k_concat(xs, sizes, nd->n_src, t->rank, t->dims, axis, y);
        break;
    }
    case ATL_OP_SLICE:
    case ATL_OP_SLICE_GRAD: {
        const atl_type *xt = nd->op == ATL_OP_SLICE ? XT(0) : t;
        int axis = norm_axis(atl_node_attr_int(nd, "axis"), xt->rank);
        int64_t d = xt->dims[axis], s = atl_node_attr_int(nd, "start"),
                e = atl_node_attr_int(nd, "end"), st = atl_node_attr_int(nd, "step");
        if (s < 0)
            s += d;
        if (e < 0)
            e += d;
        if (nd->op == ATL_OP_SLICE)
            atl_k_slice(X(0), xt->rank, xt->dims, axis, s, e, st, y);
        else
            atl_k_slice_bwd(X(0), xt->rank, xt->dims, axis, s, e, st, y);
        break;
    }
    case ATL_OP_ROLL: {
        const atl_attr *sh = atl_node_attr(nd, "shifts"), *ax = atl_node_attr(nd, "axes");
        int64_t axes[ATL_MAX_RANK * 2];
        for (int k = 0; k < ax->n; k++)
            axes[k] = norm_axis(ax->v.ints[k], t->rank);
        atl_k_roll(X(0), t->rank, t->dims, ax->n, axes, sh->v.ints, y);
        break;
    }
    case ATL_OP_GATHER: {
        const atl_type *tt = XT(0);
        int64_t rows = tt->dims[0], row = atl_type_numel(tt) / rows;
        atl_k_gather(X(0), rows, row, XI(1), atl_type_numel(XT(1)), y);
        break;
    }
    case ATL_OP_GATHER_GRAD: {
        int64_t rows = t->dims[0], row = n / rows;
        atl_k_gather_bwd(X(0), XI(1), atl_type_numel(XT(1)), rows, row, y);
        break;
    }
    case ATL_OP_MEAN:
    case ATL_OP_SUM: {
        int64_t o, len, in;
        split(XT(0), norm_axis(atl_node_attr_int(nd, "axis"), XT(0)->rank), &o, &len, &in);
        if (nd->op == ATL_OP_MEAN)
            atl_k_mean_axis(X(0), y, o, len, in);
        else
            atl_k_sum_axis(X(0), y, o, len, in);
        break;
    }
    case ATL_OP_CROSS_ENTROPY: {
        const atl_type *zt = XT(0);
        *y = atl_k_cross_entropy(X(0), XI(1), zt->dims[0], zt->dims[1]);
        break;
    }
    case ATL_OP_CROSS_ENTROPY_GRAD:
        atl_k_cross_entropy_bwd(X(0), XI(1), t->dims[0], t->dims[1], *X(2), y);
        break;
    case ATL_OP_MSE:
        *y = atl_k_mse(X(0), X(1), atl_type_numel(XT(0)));
        break;
    case ATL_OP_MSE_GRAD:
        atl_k_mse_bwd(X(0), X(1), n, *X(2), y);
        break;
    case ATL_OP_LINEAR_GRAD_X: {
        const atl_type *dyt = XT(0);
        int64_t nout = dyt->dims[dyt->rank - 1], k = t->dims[t->rank - 1];
        atl_k_linear_bwd_x(X(0), X(1), y, n / k, k, nout);
        break;
    }
    case ATL_OP_LINEAR_GRAD_W: {
        int64_t nout = t->dims[0], k = t->dims[1];
        atl_k_linear_bwd_w(X(0), X(1), y, atl_type_numel(XT(0)) / nout, k, nout);
        break;
    }
    case ATL_OP_SUM_TO:
        atl_k_sum_to(X(0), XT(0)->rank, XT(0)->dims, y, t->rank, t->dims);
        break;
    case ATL_OP_BROADCAST_TO:
        atl_k_broadcast_to(X(0), XT(0)->rank, XT(0)->dims, y, t->rank, t->dims);
        break;
    case ATL_OP_GELU_GRAD:
        atl_k_gelu_bwd(X(0), X(1), y, n);
        break;
    case ATL_OP_RELU_GRAD:
        atl_k_relu_bwd(X(0), X(1), y, n);
        break;
    case ATL_OP_TANH_GRAD:
        atl_k_tanh_bwd(X(0), X(1), y, n);
        break;
    case ATL_OP_SIGMOID_GRAD:
        atl_k_sigmoid_bwd(X(0), X(1), y, n);
        break;
    case ATL_OP_LAYERNORM_GRAD_X: {
        int64_t c = t->dims[t->rank - 1];
        atl_k_layernorm_bwd_x(X(0), nd->n_src == 3 ? X(2) : NULL, X(1), y, n / c, c,
                              (float)atl_node_attr_float(nd, "eps"));
        break;
    }
    case ATL_OP_LAYERNORM_GRAD_W: {
        int64_t c = t->dims[0], rows = atl_type_numel(XT(0)) / c;
        atl_k_layernorm_bwd_w(X(0), X(1), y, rows, c, (float)atl_node_attr_float(nd, "eps"));
        break;
    }
    case ATL_OP_SGD_UPDATE: {
        atl_params *ps = ip->ps;
        int k = ip->param_idx[i];
        int64_t np = atl_type_numel(&ps->types[k]);
        float mom = (float)atl_node_attr_float(nd, "momentum");
        if (mom > 0 && !ps->momentum[k]) {
            ps->momentum[k] = aligned_alloc(64, ((size_t)np * 4 + 63) & ~(size_t)63);
            if (!ps->momentum[k])
                abort();
            memset(ps->momentum[k], 0, (size_t)np * 4);
        }
        atl_k_sgd(ps->data[k], X(0), ps->momentum[k], np, *X(1), mom,
                  atl_node_attr_bool(nd, "nesterov"), (float)atl_node_attr_float(nd, "weight_decay"),
                  mom > 0 && !ps->mom_started[k]);
        if (mom > 0)
            ps->mom_started[k] = true;
        *y = 0.0f;
        break;
    }
    case ATL_OP_ANALOG_MVM:
    case ATL_OP_ANALOG_MVM_IO: {
        atl_tile *tl = atl_analog_tile(ip->an, ip->tile_idx[i]);
        int64_t cols = XT(0)->dims[XT(0)->rank - 1];
        atl_tile_forward(tl, X(0), (int)(atl_type_numel(XT(0)) / cols), y);
        break;
    }
    case ATL_OP_ANALOG_MVM_T:
    case ATL_OP_ANALOG_MVM_T_IO: {
        atl_tile *tl = atl_analog_tile(ip->an, ip->tile_idx[i]);
        int64_t rows = XT(0)->dims[XT(0)->rank - 1];
        atl_tile_backward(tl, X(0), (int)(atl_type_numel(XT(0)) / rows), y);
        break;
    }
    case ATL_OP_ANALOG_GRAD:
        *y = 0.0f; /* a token: the factors are consumed by analog_update */
        break;
    case ATL_OP_ANALOG_UPDATE: {
        atl_tile *tl = atl_analog_tile(ip->an, ip->tile_idx[i]);
        int64_t cols = XT(0)->dims[XT(0)->rank - 1];
        atl_tile_update(tl, X(0), X(1), (int)(atl_type_numel(XT(0)) / cols), *X(2));
        *y = 0.0f;
        break;
    }
    case ATL_OP_FUSED: {
        const float *in[ATL_FEXPR_MAX_OPERANDS];
        for (int k = 0; k < nd->n_src; k++)
            in[k] = X(k);
        atl_fused_prog_run(ip->fprog[i], in, y);
        break;
    }
    case ATL_OP_COUNT:
        break;
    }
}

int atl_interp_run(atl_interp *ip, char *err, size_t errlen)
{
    if (ip->f->n_tiles > 0 && !ip->an) {
        snprintf(err, errlen, "the module has analog tiles but no tiles are attached");
        return -1;
    }
    for (int32_t i = 0; i < ip->f->n_nodes; i++)
        if (ip->f->nodes[i].op == ATL_OP_INPUT && !ip->bound[i]) {
            snprintf(err, errlen, "input \"%s\" is not bound",
                     atl_node_attr_str(&ip->f->nodes[i], "name"));
            return -1;
        }
    if (!ip->profile) {
        for (int32_t i = 0; i < ip->f->n_nodes; i++)
            exec_node(ip, i);
        return 0;
    }
    for (int32_t i = 0; i < ip->f->n_nodes; i++) {
        double t0 = now_s();
        exec_node(ip, i);
        atl_op op = ip->f->nodes[i].op;
        ip->op_time[op] += now_s() - t0;
        ip->op_calls[op]++;
    }
    ip->runs++;
    return 0;
}

const void *atl_interp_output(const atl_interp *ip, const char *name, atl_type *type)
{
    const atl_func *f = ip->f;
    for (int k = 0; k < f->n_outputs; k++)
        if (f->output_names[k] && strcmp(f->output_names[k], name) == 0) {
            if (type)
                *type = f->nodes[f->outputs[k]].type;
            return ip->ptr[f->outputs[k]];
        }
    return NULL;
}

const void *atl_interp_value(const atl_interp *ip, int32_t node)
{
    if (node < 0 || node >= ip->f->n_nodes)
        return NULL;
    return ip->ptr[node];
}
