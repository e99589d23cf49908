/* `expand`: inline every block call into the model function.
 *
 * The elaborator emits one IR function per block specialisation and `call` nodes naming each
 * instance (`stage1.block0`). Inlining gives each parameter its hierarchical name — call-path
 * prefix + the block-local name — so `attn.qkv.weight` inside the call `stage1.block0` becomes
 * `stage1.block0.attn.qkv.weight`. After expansion the module has one function.
 *
 * Trivial ops are folded while copying: scale by 1, add 0, reshape to the same type, reshape of
 * a reshape, identity permutes, permute of a permute, scale of a scale, neg of a neg. Finally the
 * analog rules are resolved against the now-final parameter names (ir/config.c). */
#include "pass.h"

#include <stdlib.h>
#include <string.h>

typedef struct expand_ctx {
    atl_module *m;
    int dst; /* index of the function being built */
    atl_diag *d;
    int errors;
} expand_ctx;

static atl_func *dstf(expand_ctx *c) { return &c->m->funcs[c->dst]; }

static bool is_identity_perm(const int64_t *p, int n)
{
    for (int i = 0; i < n; i++)
        if (p[i] != i)
            return false;
    return true;
}

/* Emit a copy of `tmpl` with operands `src` into the destination, folding where possible. */
static int32_t emit(expand_ctx *c, const atl_node *tmpl, const int32_t *src)
{
    atl_func *f = dstf(c);
    const atl_node *s0 = tmpl->n_src ? &f->nodes[src[0]] : NULL;
    switch (tmpl->op) {
    case ATL_OP_SCALE: {
        double s = atl_node_attr_float(tmpl, "s");
        if (s == 1.0)
            return src[0];
        if (s0->op == ATL_OP_SCALE) {
            atl_attr a = atl_attr_float(s * atl_node_attr_float(s0, "s"));
            int32_t x = s0->src[0];
            return atl_func_add_node(c->m, f, ATL_OP_SCALE, &x, 1, &a, 1, tmpl->type, tmpl->loc);
        }
        break;
    }
    case ATL_OP_ADD_SCALAR:
        if (atl_node_attr_float(tmpl, "s") == 0.0)
            return src[0];
        break;
    case ATL_OP_NEG:
        if (s0->op == ATL_OP_NEG)
            return s0->src[0];
        break;
    case ATL_OP_RESHAPE:
        if (atl_type_equal(&s0->type, &tmpl->type))
            return src[0];
        if (s0->op == ATL_OP_RESHAPE) {
            int32_t x = s0->src[0];
            if (atl_type_equal(&f->nodes[x].type, &tmpl->type))
                return x;
            return atl_func_add_node(c->m, f, ATL_OP_RESHAPE, &x, 1, NULL, 0, tmpl->type,
                                     tmpl->loc);
        }
        break;
    case ATL_OP_PERMUTE: {
        const atl_attr *p2 = atl_node_attr(tmpl, "perm");
        if (p2 && p2->kind == ATL_ATTR_INTS && is_identity_perm(p2->v.ints, p2->n))
            return src[0];
        if (p2 && s0->op == ATL_OP_PERMUTE) {
            const atl_attr *p1 = atl_node_attr(s0, "perm");
            int64_t comb[ATL_MAX_RANK];
            int n = p2->n;
            for (int i = 0; i < n; i++)
                comb[i] = p1->v.ints[p2->v.ints[i]];
            int32_t x = s0->src[0];
            if (is_identity_perm(comb, n))
                return x;
            atl_attr a = atl_attr_ints(comb, n);
            return atl_func_add_node(c->m, f, ATL_OP_PERMUTE, &x, 1, &a, 1, tmpl->type,
                                     tmpl->loc);
        }
        break;
    }
    default:
        break;
    }
    return atl_func_add_node(c->m, f, tmpl->op, src, tmpl->n_src, tmpl->attrs, tmpl->n_attrs,
                             tmpl->type, tmpl->loc);
}

static char *join_name(const char *prefix, const char *name)
{
    size_t a = strlen(prefix), b = strlen(name);
    char *r = malloc(a + b + 2);
    if (!r)
        abort();
    if (a) {
        memcpy(r, prefix, a);
        r[a] = '.';
        memcpy(r + a + 1, name, b + 1);
    } else {
        memcpy(r, name, b + 1);
    }
    return r;
}

static int32_t inline_func(expand_ctx *c, int fi, const int32_t *args, int n_args,
                           const char *prefix, atl_loc call_loc, int depth);

/* Copy the nodes of function fi into the destination. For main, args is NULL (inputs are copied
 * as inputs). Returns the value of the first output (callees have exactly one). */
static int32_t inline_func(expand_ctx *c, int fi, const int32_t *args, int n_args,
                           const char *prefix, atl_loc call_loc, int depth)
{
    if (depth > 256) {
        atl_ir_report(c->d, c->m, ATL_SEV_ERROR, call_loc, "block calls nested too deeply "
                                                           "(recursion?)");
        c->errors++;
        return -1;
    }
    const atl_func *f = &c->m->funcs[fi];
    int32_t *map = malloc(sizeof(int32_t) * (size_t)(f->n_nodes ? f->n_nodes : 1));
    int32_t *pmap = malloc(sizeof(int32_t) * (size_t)(f->n_params ? f->n_params : 1));
    if (!map || !pmap)
        abort();
    for (int p = 0; p < f->n_params; p++)
        pmap[p] = -1;
    int arg = 0;
    int32_t result = -1;
    int32_t srcbuf[256];
    for (int i = 0; i < f->n_nodes && !c->errors; i++) {
        const atl_node *n = &f->nodes[i];
        if (n->op == ATL_OP_INPUT && args) {
            if (arg >= n_args) {
                atl_ir_report(c->d, c->m, ATL_SEV_ERROR, call_loc,
                              "call to @%s passes too few arguments", f->name);
                c->errors++;
                break;
            }
            map[i] = args[arg++];
            continue;
        }
        if (n->op == ATL_OP_PARAM && args) {
            const char *local = atl_node_attr_str(n, "name");
            int32_t lp = atl_func_find_param(f, local);
            if (lp < 0) {
                atl_ir_report(c->d, c->m, ATL_SEV_ERROR, n->loc, "unknown parameter \"%s\"",
                              local);
                c->errors++;
                break;
            }
            char *full = join_name(prefix, local);
            if (pmap[lp] < 0) {
                const atl_param *sp = &f->params[lp];
                int32_t k = atl_func_add_param(c->m, dstf(c), full, sp->type, sp->init, sp->loc);
                if (k < 0) {
                    atl_ir_report(c->d, c->m, ATL_SEV_ERROR, call_loc,
                                  "parameter \"%s\" is created twice; give the calls distinct "
                                  "names with `as \"...\"`",
                                  full);
                    c->errors++;
                    free(full);
                    break;
                }
                dstf(c)->params[k].frozen = sp->frozen;
                pmap[lp] = k;
            }
            atl_attr a = atl_attr_str(full);
            map[i] = atl_func_add_node(c->m, dstf(c), ATL_OP_PARAM, NULL, 0, &a, 1, n->type,
                                       n->loc);
            free(full);
            continue;
        }
        if (n->n_src > 256) {
            atl_ir_report(c->d, c->m, ATL_SEV_ERROR, n->loc, "too many operands");
            c->errors++;
            break;
        }
        for (int s = 0; s < n->n_src; s++)
            srcbuf[s] = map[n->src[s]];
        if (n->op == ATL_OP_CALL) {
            const char *callee = atl_node_attr_str(n, "callee");
            const char *name = atl_node_attr_str(n, "name");
            int g = callee ? atl_module_find_func(c->m, callee) : -1;
            if (g <= 0 || g == c->dst) {
                atl_ir_report(c->d, c->m, ATL_SEV_ERROR, n->loc, "call to unknown function @%s",
                              callee ? callee : "?");
                c->errors++;
                break;
            }
            char *sub = join_name(prefix, name ? name : "");
            if (!name || !*name) {
                free(sub);
                sub = strdup(prefix);
            }
            map[i] = inline_func(c, g, srcbuf, n->n_src, sub, n->loc, depth + 1);
            free(sub);
            continue;
        }
        map[i] = emit(c, n, srcbuf);
    }
    if (!c->errors && f->n_outputs > 0)
        result = map[f->outputs[0]];
    if (!args && !c->errors) {
        /* main: carry the outputs over */
        int32_t outs[64];
        int no = f->n_outputs < 64 ? f->n_outputs : 64;
        for (int k = 0; k < no; k++)
            outs[k] = map[f->outputs[k]];
        atl_func_set_outputs(c->m, dstf(c), outs, f->output_names, no);
    }
    if (args && arg != n_args && !c->errors) {
        atl_ir_report(c->d, c->m, ATL_SEV_ERROR, call_loc, "call to @%s passes too many arguments",
                      f->name);
        c->errors++;
    }
    free(map);
    free(pmap);
    return result;
}

int atl_pass_expand(atl_module *m, atl_pass_ctx *ctx)
{
    if (m->n_funcs == 0)
        return 0;
    expand_ctx c = {.m = m, .d = ctx->diag};
    const char *main_name = m->funcs[0].name;
    atl_module_add_func(m, main_name);
    c.dst = m->n_funcs - 1;
    /* main's own parameters keep their names and order */
    {
        const atl_func *f0 = &m->funcs[0];
        for (int p = 0; p < f0->n_params; p++) {
            int32_t k = atl_func_add_param(m, dstf(&c), f0->params[p].name, f0->params[p].type,
                                           f0->params[p].init, f0->params[p].loc);
            dstf(&c)->params[k].frozen = f0->params[p].frozen;
        }
    }
    inline_func(&c, 0, NULL, 0, "", ATL_NO_LOC, 0);
    if (c.errors) {
        /* drop the partial function, leave the module as it was */
        atl_func *f = dstf(&c);
        free(f->nodes);
        free(f->params);
        m->n_funcs--;
        return c.errors;
    }
    atl_func built = m->funcs[c.dst];
    for (int i = 0; i < m->n_funcs - 1; i++) {
        free(m->funcs[i].nodes);
        free(m->funcs[i].params);
    }
    m->funcs[0] = built;
    m->n_funcs = 1;
    atl_analog_resolve(m, ctx->diag);
    return 0;
}
