/* The interpreter's evaluation of fused expressions (fused_exec.h). */
#include "fused_exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atl/kernels.h"

bool atl_fused_op_supported(atl_op op)
{
    switch (op) {
    case ATL_OP_ADD:
    case ATL_OP_SUB:
    case ATL_OP_MUL:
    case ATL_OP_DIV:
    case ATL_OP_NEG:
    case ATL_OP_SCALE:
    case ATL_OP_ADD_SCALAR:
    case ATL_OP_GELU:
    case ATL_OP_RELU:
    case ATL_OP_TANH:
    case ATL_OP_SIGMOID:
    case ATL_OP_EXP:
    case ATL_OP_GELU_GRAD:
    case ATL_OP_RELU_GRAD:
    case ATL_OP_TANH_GRAD:
    case ATL_OP_SIGMOID_GRAD:
        return true;
    default:
        return false;
    }
}

int atl_fused_prog_init(atl_fused_prog *p, const atl_func *f, int32_t node, char *err,
                        size_t errlen)
{
    const atl_node *nd = &f->nodes[node];
    memset(p, 0, sizeof *p);
    if (nd->op == ATL_OP_FUSED) {
        if (atl_node_fexpr(nd, &p->e, err, errlen))
            return -1;
    } else {
        int nc = 0;
        if (atl_fexpr_op_arity(nd->op, &nc) != nd->n_src) {
            snprintf(err, errlen, "%s is not an elementwise op", atl_op_name(nd->op));
            return -1;
        }
        p->e.n_ins = 1;
        p->e.n_operands = nd->n_src;
        atl_fins *in = &p->e.ins[0];
        in->op = nd->op;
        in->n_args = nd->n_src;
        for (int k = 0; k < nd->n_src; k++)
            in->arg[k] = k; /* add(%x, %x) reads operand 0 twice: fine for evaluation */
        in->n_consts = nc;
        for (int k = 0; k < nc; k++)
            in->c[k] = nd->attrs[k].v.f;
    }
    for (int i = 0; i < p->e.n_ins; i++)
        if (!atl_fused_op_supported(p->e.ins[i].op)) {
            snprintf(err, errlen, "fused: the interpreter cannot evaluate %s",
                     atl_op_name(p->e.ins[i].op));
            return -1;
        }
    const atl_type *in_t[ATL_FEXPR_MAX_OPERANDS];
    for (int k = 0; k < nd->n_src; k++)
        in_t[k] = &f->nodes[nd->src[k]].type;
    atl_bcast_plan_make(&p->plan, &nd->type, in_t, nd->n_src);
    return 0;
}

/* One instruction over n elements. Binary ops are single IEEE operations (what atl_k_binary
 * computes per element); everything else calls the kernel the unfused node calls. */
static void apply(const atl_fins *in, const float *a, const float *b, float *y, int64_t n)
{
    switch (in->op) {
    case ATL_OP_ADD:
        for (int64_t i = 0; i < n; i++)
            y[i] = a[i] + b[i];
        break;
    case ATL_OP_SUB:
        for (int64_t i = 0; i < n; i++)
            y[i] = a[i] - b[i];
        break;
    case ATL_OP_MUL:
        for (int64_t i = 0; i < n; i++)
            y[i] = a[i] * b[i];
        break;
    case ATL_OP_DIV:
        for (int64_t i = 0; i < n; i++)
            y[i] = a[i] / b[i];
        break;
    case ATL_OP_NEG:
        atl_k_neg(a, y, n);
        break;
    case ATL_OP_SCALE:
        atl_k_scale(a, y, n, (float)in->c[0]);
        break;
    case ATL_OP_ADD_SCALAR:
        atl_k_add_scalar(a, y, n, (float)in->c[0]);
        break;
    case ATL_OP_GELU:
        atl_k_gelu(a, y, n);
        break;
    case ATL_OP_RELU:
        atl_k_relu(a, y, n);
        break;
    case ATL_OP_TANH:
        atl_k_tanh(a, y, n);
        break;
    case ATL_OP_SIGMOID:
        atl_k_sigmoid(a, y, n);
        break;
    case ATL_OP_EXP:
        atl_k_exp(a, y, n);
        break;
    case ATL_OP_GELU_GRAD:
        atl_k_gelu_bwd(a, b, y, n);
        break;
    case ATL_OP_RELU_GRAD:
        atl_k_relu_bwd(a, b, y, n);
        break;
    case ATL_OP_TANH_GRAD:
        atl_k_tanh_bwd(a, b, y, n);
        break;
    case ATL_OP_SIGMOID_GRAD:
        atl_k_sigmoid_bwd(a, b, y, n);
        break;
    default: /* rejected by atl_fused_prog_init */
        break;
    }
}

void atl_fused_prog_run(const atl_fused_prog *p, const float *const *in, float *y)
{
    enum { CH = ATL_FUSED_CHUNK };
    const atl_fexpr *e = &p->e;
    const atl_bcast_plan *pl = &p->plan;
    const int R = pl->rank, no = pl->n_operands;
    const int64_t L = pl->dims[R - 1];
    float *buf = aligned_alloc(64, sizeof(float) * CH * (size_t)(e->n_ins + no));
    if (!buf)
        abort();
    float *tmp = buf, *opbuf = buf + (size_t)CH * (size_t)e->n_ins;
    int64_t rows = 1;
    for (int d = 0; d + 1 < R; d++)
        rows *= pl->dims[d];
    int64_t idx[ATL_MAX_RANK] = {0}, off[ATL_FEXPR_MAX_OPERANDS] = {0};
    const float *src[ATL_FEXPR_MAX_OPERANDS];
    for (int64_t r = 0; r < rows; r++) {
        float *yrow = y + r * L;
        for (int64_t j0 = 0; j0 < L; j0 += CH) {
            const int64_t n = L - j0 < CH ? L - j0 : CH;
            for (int k = 0; k < no; k++) {
                if (pl->st[k][R - 1]) {
                    src[k] = in[k] + off[k] + j0;
                } else {
                    float *ob = opbuf + (size_t)k * CH;
                    atl_k_fill(ob, n, in[k][off[k]]);
                    src[k] = ob;
                }
            }
            for (int i = 0; i < e->n_ins; i++) {
                const atl_fins *ins = &e->ins[i];
                const float *args[2] = {NULL, NULL};
                for (int a = 0; a < ins->n_args; a++)
                    args[a] = ATL_FEXPR_IS_TMP(ins->arg[a])
                                  ? tmp + (size_t)ATL_FEXPR_TMP_INDEX(ins->arg[a]) * CH
                                  : src[ins->arg[a]];
                float *dst = i + 1 == e->n_ins ? yrow + j0 : tmp + (size_t)i * CH;
                apply(ins, args[0], args[1], dst, n);
            }
        }
        /* odometer over the outer dims */
        for (int d = R - 2; d >= 0; d--) {
            idx[d]++;
            for (int k = 0; k < no; k++)
                off[k] += pl->st[k][d];
            if (idx[d] < pl->dims[d])
                break;
            for (int k = 0; k < no; k++)
                off[k] -= pl->st[k][d] * pl->dims[d];
            idx[d] = 0;
        }
    }
    free(buf);
}
