/* The verifier: everything a pass may rely on, checked after every pass in debug pipelines and
 * always after parsing. It reports every problem it finds (not only the first). */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

static const char *attr_kind_name(atl_attr_kind k)
{
    switch (k) {
    case ATL_ATTR_INT:
        return "int";
    case ATL_ATTR_FLOAT:
        return "float";
    case ATL_ATTR_BOOL:
        return "bool";
    case ATL_ATTR_STR:
        return "string";
    case ATL_ATTR_INTS:
        return "int list";
    default:
        return "none";
    }
}

/* Depth-first search for a cycle in the call graph starting at function fi. */
static bool call_cycle(const atl_module *m, int fi, unsigned char *state)
{
    if (state[fi] == 1)
        return true;
    if (state[fi] == 2)
        return false;
    state[fi] = 1;
    const atl_func *f = &m->funcs[fi];
    for (int i = 0; i < f->n_nodes; i++) {
        if (f->nodes[i].op != ATL_OP_CALL)
            continue;
        const char *callee = atl_node_attr_str(&f->nodes[i], "callee");
        int g = callee ? atl_module_find_func(m, callee) : -1;
        if (g >= 0 && call_cycle(m, g, state))
            return true;
    }
    state[fi] = 2;
    return false;
}

static int verify_func(const atl_module *m, int fi, atl_diag *d)
{
    const atl_func *f = &m->funcs[fi];
    int errs = 0;
    char msg[512];
#define ERR(loc, ...)                                                                          \
    do {                                                                                       \
        atl_ir_report(d, m, ATL_SEV_ERROR, (loc), __VA_ARGS__);                                \
        errs++;                                                                                \
    } while (0)

    for (int i = 0; i < f->n_params; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(f->params[i].name, f->params[j].name) == 0)
                ERR(f->params[i].loc, "duplicate parameter \"%s\" in @%s", f->params[i].name,
                    f->name);

    for (int i = 0; i < f->n_tiles; i++) {
        const atl_tile_decl *t = &f->tiles[i];
        int32_t p = atl_func_find_param(f, t->param);
        if (t->rows <= 0 || t->cols <= 0)
            ERR(t->loc, "tile \"%s\" has an empty shape", t->name);
        else if (p < 0)
            ERR(t->loc, "tile \"%s\" refers to unknown parameter \"%s\"", t->name, t->param);
        else if (f->params[p].type.rank != 2 || t->row0 < 0 || t->col0 < 0 ||
                 t->row0 + t->rows > f->params[p].type.dims[0] ||
                 t->col0 + t->cols > f->params[p].type.dims[1])
            ERR(t->loc, "tile \"%s\" [%lld:%lld, %lld:%lld] lies outside parameter \"%s\"",
                t->name, (long long)t->row0, (long long)(t->row0 + t->rows), (long long)t->col0,
                (long long)(t->col0 + t->cols), t->param);
        for (int j = 0; j < i; j++)
            if (strcmp(f->tiles[j].name, t->name) == 0)
                ERR(t->loc, "duplicate tile \"%s\"", t->name);
    }
    for (int i = 0; i < f->n_nodes; i++) {
        const atl_node *n = &f->nodes[i];
        const atl_op_info *info = atl_op_get(n->op);
        if (!info) {
            ERR(n->loc, "%%%d: invalid op code %d", i, (int)n->op);
            continue;
        }
        if (n->n_src < info->min_inputs || (info->max_inputs >= 0 && n->n_src > info->max_inputs)) {
            if (info->min_inputs == info->max_inputs)
                ERR(n->loc, "%s takes %d operand(s), got %d", info->name, info->min_inputs,
                    n->n_src);
            else if (info->max_inputs < 0)
                ERR(n->loc, "%s takes at least %d operand(s), got %d", info->name,
                    info->min_inputs, n->n_src);
            else
                ERR(n->loc, "%s takes %d to %d operands, got %d", info->name, info->min_inputs,
                    info->max_inputs, n->n_src);
            continue;
        }
        bool bad_src = false;
        for (int k = 0; k < n->n_src; k++)
            if (n->src[k] < 0 || n->src[k] >= i) {
                ERR(n->loc, "%s: operand %d refers to %%%d, which is not defined before it",
                    info->name, k + 1, n->src[k]);
                bad_src = true;
            }
        if (bad_src)
            continue;
        atl_attr_schema s;
        atl_op_schema(n->op, &s);
        bool bad_attr = false;
        if (n->n_attrs != s.n) {
            ERR(n->loc, "%s: expected %d attributes, found %d", info->name, s.n, n->n_attrs);
            continue;
        }
        for (int k = 0; k < s.n; k++) {
            if (n->attrs[k].kind == ATL_ATTR_NONE) {
                ERR(n->loc, "%s: missing attribute '%s'", info->name, s.a[k].name);
                bad_attr = true;
            } else if (n->attrs[k].kind != s.a[k].kind) {
                ERR(n->loc, "%s: attribute '%s' must be %s, got %s", info->name, s.a[k].name,
                    attr_kind_name(s.a[k].kind), attr_kind_name(n->attrs[k].kind));
                bad_attr = true;
            }
        }
        if (bad_attr)
            continue;
        atl_type t;
        if (atl_infer_type(m, f, n, &t, msg, sizeof msg)) {
            ERR(n->loc, "%s", msg);
            continue;
        }
        if (!atl_type_equal(&t, &n->type)) {
            char a[96], b[96];
            ERR(n->loc, "%%%d = %s: declared type %s, but the operands give %s", i, info->name,
                atl_type_str(&n->type, a, sizeof a), atl_type_str(&t, b, sizeof b));
        }
    }
    if (fi == 0 && f->n_outputs == 0)
        ERR(ATL_NO_LOC, "the model @%s returns nothing", f->name);
    for (int k = 0; k < f->n_outputs; k++)
        if (f->outputs[k] < 0 || f->outputs[k] >= f->n_nodes)
            ERR(ATL_NO_LOC, "@%s: output %d refers to an undefined value", f->name, k);
    for (int k = 0; k < f->n_outputs; k++)
        for (int j = 0; j < k; j++)
            if (f->output_names[k] && f->output_names[j] &&
                strcmp(f->output_names[k], f->output_names[j]) == 0)
                ERR(ATL_NO_LOC, "@%s: output name \"%s\" used twice", f->name,
                    f->output_names[k]);
#undef ERR
    return errs;
}

int atl_verify(const atl_module *m, atl_diag *d)
{
    int errs = 0;
    if (m->n_funcs == 0) {
        atl_ir_report(d, m, ATL_SEV_ERROR, ATL_NO_LOC, "module has no functions");
        return 1;
    }
    for (int i = 0; i < m->n_funcs; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(m->funcs[i].name, m->funcs[j].name) == 0) {
                atl_ir_report(d, m, ATL_SEV_ERROR, ATL_NO_LOC, "duplicate function @%s",
                              m->funcs[i].name);
                errs++;
            }
    unsigned char *state = calloc((size_t)m->n_funcs, 1);
    if (!state)
        abort();
    for (int i = 0; i < m->n_funcs; i++)
        if (call_cycle(m, i, state)) {
            atl_ir_report(d, m, ATL_SEV_ERROR, ATL_NO_LOC, "recursive calls between functions");
            errs++;
            break;
        }
    free(state);
    for (int i = 0; i < m->n_funcs; i++)
        errs += verify_func(m, i, d);
    return errs;
}
