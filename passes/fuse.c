/* `fuse`: groups of elementwise nodes become single `fused` nodes (ir/fused.h).
 *
 * Why: every elementwise node of the unfused step reads and writes whole tensors (the bias add
 * after a GEMM, gelu, the residual add, the gradient sums of autodiff, the activation gradients
 * and the products of the chain rule). A fused node reads each of its operands once and writes
 * one result, in one loop the JIT vectorises; the interpreter evaluates it in cache-sized chunks.
 *
 * Grouping, from the last node backwards: an elementwise node that no group has taken yet
 * starts a group (its root, the value the fused node computes). A producer joins the group of
 * its consumers when it is elementwise too, every one of its uses lies inside that group (so no
 * one else needs its value and nothing is computed twice), it is not a function output, and it
 * has as many elements as the root (so that evaluating it at every output index does not
 * multiply its work: a bias row stays an operand). Producers are visited in decreasing index
 * order, so all consumers of a node have been decided before the node itself. Groups are
 * limited to ATL_FEXPR_MAX_INS instructions and ATL_FEXPR_MAX_OPERANDS operands. A group of a
 * single node stays as it is (the executors run lone elementwise nodes as well as fused ones).
 * `fused` nodes are fusable too (their expressions are inlined), so fuse,fuse == fuse.
 *
 * The pass runs after autodiff and optimizer (autodiff rejects fused nodes) and before schedule;
 * it clears an existing arena plan.
 */
#include "fused.h"
#include "pass.h"

#include <stdlib.h>
#include <string.h>

static bool fusable(const atl_node *n)
{
    if (n->type.dtype != ATL_F32)
        return false;
    if (n->op == ATL_OP_FUSED)
        return true;
    return atl_fexpr_op_arity(n->op, NULL) >= 0;
}

/* instruction count of a node inside a group */
static int node_ins(const atl_node *n, const atl_fexpr *fx)
{
    return n->op == ATL_OP_FUSED ? fx->n_ins : 1;
}

typedef struct fuse_state {
    atl_module *m;
    atl_func *f;
    atl_diag *d;
    int32_t n;
    int32_t *n_uses;  /* uses of each node (operand slots + outputs) */
    int32_t *group;   /* root of the node's group, -1: none */
    int32_t *in_grp;  /* uses of the node that lie in its candidate group */
    atl_fexpr *fx;    /* parsed expressions of fused nodes (indexed by node) */
    bool *has_fx;
    int errors;
} fuse_state;

/* Build the expression of group `root` (members: group[i] == root) and rewrite the root. */
static int emit_group(fuse_state *s, int32_t root, int32_t lo)
{
    atl_func *f = s->f;
    atl_fexpr e;
    memset(&e, 0, sizeof e);
    int32_t operands[ATL_FEXPR_MAX_OPERANDS];
    int n_operands = 0;
    /* the instruction holding each member's result */
    int32_t *res = malloc(sizeof(int32_t) * (size_t)(root - lo + 1));
    if (!res)
        abort();
    for (int32_t i = lo; i <= root; i++) {
        if (s->group[i] != root)
            continue;
        const atl_node *nd = &f->nodes[i];
        /* map each source of the member to an expression argument */
        int32_t args[ATL_FEXPR_MAX_OPERANDS];
        for (int k = 0; k < nd->n_src; k++) {
            int32_t u = nd->src[k];
            if (u >= lo && s->group[u] == root) {
                args[k] = ATL_FEXPR_TMP(res[u - lo]);
                continue;
            }
            int j = 0;
            while (j < n_operands && operands[j] != u)
                j++;
            if (j == n_operands)
                operands[n_operands++] = u; /* capacity was checked while grouping */
            args[k] = j;
        }
        if (nd->op == ATL_OP_FUSED) {
            const atl_fexpr *sub = &s->fx[i];
            int base = e.n_ins;
            for (int t = 0; t < sub->n_ins; t++) {
                atl_fins in = sub->ins[t];
                for (int k = 0; k < in.n_args; k++)
                    in.arg[k] = ATL_FEXPR_IS_TMP(in.arg[k])
                                    ? ATL_FEXPR_TMP(base + ATL_FEXPR_TMP_INDEX(in.arg[k]))
                                    : args[in.arg[k]];
                e.ins[e.n_ins++] = in;
            }
        } else {
            atl_fins in;
            memset(&in, 0, sizeof in);
            in.op = nd->op;
            in.n_args = nd->n_src;
            for (int k = 0; k < nd->n_src; k++)
                in.arg[k] = args[k];
            atl_attr_schema sc;
            atl_op_schema(nd->op, &sc);
            in.n_consts = sc.n;
            for (int k = 0; k < sc.n; k++)
                in.c[k] = nd->attrs[k].v.f;
            e.ins[e.n_ins++] = in;
        }
        res[i - lo] = e.n_ins - 1;
    }
    free(res);
    e.n_operands = n_operands;
    char err[256];
    if (atl_fexpr_check(&e, n_operands, err, sizeof err)) {
        atl_ir_report(s->d, s->m, ATL_SEV_ERROR, f->nodes[root].loc, "fuse (internal): %s", err);
        s->errors++;
        return -1;
    }
    size_t len = atl_fexpr_format(&e, NULL, 0);
    char *text = atl_arena_alloc(&s->m->arena, len + 1);
    atl_fexpr_format(&e, text, len + 1);
    atl_node *r = &f->nodes[root];
    r->op = ATL_OP_FUSED;
    r->n_src = n_operands;
    r->src = atl_arena_memdup(&s->m->arena, operands, sizeof(int32_t) * (size_t)n_operands);
    r->n_attrs = 1;
    r->attrs = atl_arena_alloc(&s->m->arena, sizeof(atl_attr));
    r->attrs[0] = atl_attr_str(text);
    return 0;
}

/* Would adding node u to the group (with n_ins instructions, operand list ops) fit the limits?
 * Counts u's own external operands conservatively (each source not in the group is new). */
static bool fits(fuse_state *s, int32_t u, int n_ins, int n_ops)
{
    const atl_node *nd = &s->f->nodes[u];
    int add_ins = node_ins(nd, &s->fx[u]);
    return n_ins + add_ins <= ATL_FEXPR_MAX_INS && n_ops + nd->n_src <= ATL_FEXPR_MAX_OPERANDS;
}

int atl_pass_fuse(atl_module *m, atl_pass_ctx *ctx)
{
    if (m->n_funcs != 1) {
        atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, ATL_NO_LOC,
                      "fuse needs an expanded module (run the expand pass first)");
        return 1;
    }
    atl_func *f = &m->funcs[0];
    int32_t n = f->n_nodes;
    if (n == 0)
        return 0;
    fuse_state s = {.m = m, .f = f, .d = ctx->diag, .n = n};
    s.n_uses = calloc((size_t)n, sizeof *s.n_uses);
    s.group = malloc(sizeof *s.group * (size_t)n);
    s.in_grp = calloc((size_t)n, sizeof *s.in_grp);
    s.fx = malloc(sizeof *s.fx * (size_t)n);
    s.has_fx = calloc((size_t)n, sizeof *s.has_fx);
    bool *is_output = calloc((size_t)n, sizeof *is_output);
    int32_t *members = malloc(sizeof *members * (size_t)n);
    int32_t *effects_before = malloc(sizeof *effects_before * (size_t)n);
    if (!s.n_uses || !s.group || !s.in_grp || !s.fx || !s.has_fx || !is_output || !members ||
        !effects_before)
        abort();
    for (int32_t i = 0, c = 0; i < n; i++) {
        effects_before[i] = c;
        if (atl_op_get(f->nodes[i].op)->flags & ATL_OPF_EFFECT)
            c++;
    }
    for (int32_t i = 0; i < n; i++) {
        s.group[i] = -1;
        const atl_node *nd = &f->nodes[i];
        for (int k = 0; k < nd->n_src; k++)
            s.n_uses[nd->src[k]]++;
        if (nd->op == ATL_OP_FUSED) {
            char err[256];
            if (atl_node_fexpr(nd, &s.fx[i], err, sizeof err)) {
                atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, nd->loc, "%s", err);
                s.errors++;
            }
            s.has_fx[i] = true;
        }
    }
    for (int k = 0; k < f->n_outputs; k++) {
        is_output[f->outputs[k]] = true;
        s.n_uses[f->outputs[k]]++;
    }
    int fused_groups = 0;
    for (int32_t root = n - 1; root >= 0 && !s.errors; root--) {
        const atl_node *rn = &f->nodes[root];
        if (s.group[root] >= 0 || !fusable(rn))
            continue;
        int64_t numel = atl_type_numel(&rn->type);
        s.group[root] = root;
        int n_members = 0;
        members[n_members++] = root;
        int n_ins = node_ins(rn, &s.fx[root]);
        int n_ops = rn->n_src;
        int32_t lo = root;
        /* candidates: sources of members; visit in decreasing index order */
        int pending = 0;
        for (int k = 0; k < rn->n_src; k++)
            if (s.in_grp[rn->src[k]]++ == 0)
                pending++;
        for (int32_t u = root - 1; u >= 0 && pending > 0; u--) {
            if (s.in_grp[u] == 0)
                continue;
            pending--;
            const atl_node *un = &f->nodes[u];
            /* a parameter update between u and the root would change what u reads */
            if (s.group[u] >= 0 || !fusable(un) || is_output[u] ||
                s.in_grp[u] != s.n_uses[u] || atl_type_numel(&un->type) != numel ||
                !fits(&s, u, n_ins, n_ops) || effects_before[root] != effects_before[u])
                continue;
            s.group[u] = root;
            members[n_members++] = u;
            n_ins += node_ins(un, &s.fx[u]);
            n_ops += un->n_src;
            lo = u;
            for (int k = 0; k < un->n_src; k++)
                if (s.in_grp[un->src[k]]++ == 0)
                    pending++;
        }
        /* reset the use counts of this round (members and their sources) */
        for (int j = 0; j < n_members; j++) {
            const atl_node *mn = &f->nodes[members[j]];
            for (int k = 0; k < mn->n_src; k++)
                s.in_grp[mn->src[k]] = 0;
        }
        if (n_members == 1 && rn->op != ATL_OP_FUSED) {
            s.group[root] = -1; /* a lone elementwise node stays as it is */
            continue;
        }
        if (n_members == 1)
            continue; /* a lone fused node: already in canonical form */
        if (emit_group(&s, root, lo) == 0)
            fused_groups++;
    }
    if (fused_groups > 0 && !s.errors) {
        int32_t *repl = malloc(sizeof *repl * (size_t)n);
        if (!repl)
            abort();
        for (int32_t i = 0; i < n; i++)
            repl[i] = s.group[i] >= 0 && s.group[i] != i ? -1 : i;
        atl_func_rebuild(m, f, repl);
        free(repl);
        for (int32_t i = 0; i < f->n_nodes; i++)
            f->nodes[i].arena = -1;
        m->arena_size = 0;
    }
    int errors = s.errors;
    free(s.n_uses);
    free(s.group);
    free(s.in_grp);
    free(s.fx);
    free(s.has_fx);
    free(is_output);
    free(members);
    free(effects_before);
    return errors ? 1 : 0;
}
