/* `analog-map`: put the linear layers that the `analog` section selects onto crossbar tiles.
 *
 * For a linear op y = x W^T + b whose weight W (out x in) is bound to a `layers` rule:
 *  - W is split into a grid of tiles of at most rows x cols (near-equal pieces, ANALOG_MODEL.md
 *    section 7.1); each tile is declared in the function (`tile "W.t<b>_<a>" ...`) with its
 *    block position, its rule and a stable RNG stream id;
 *  - forward:  x is sliced per input piece a, each tile computes analog_mvm(x_a), the partial sums
 *    of one output piece are added digitally, output pieces are concatenated, the bias is added
 *    digitally (the reference's digital_bias);
 *  - backward: linear_grad_x(g, W) becomes the transposed MVMs analog_mvm_t(g_b) summed over the
 *    output pieces and concatenated over the input pieces;
 *  - update:   the digital gradient linear_grad_w(g, x) of W becomes one analog_grad(x_a, g_b) per
 *    tile (the factors of the rank update a tile consumes vector by vector, decision 1) and the
 *    output grad.W becomes grad.<tile> outputs, which the optimizer turns into analog_update ops.
 * The weight parameter stays in the module: it is what gets programmed into the tiles (with the
 * transfer noise tau) and what the tiles are read back into for checkpoints.
 * The activation x activation matmuls of attention are not parameterised and stay digital, as in
 * the reference toolkit.
 */
#include "analog_config.h"
#include "pass.h"

#include <stdlib.h>
#include <string.h>

typedef struct wmap {
    int32_t param;       /* parameter index */
    int n_out, n_in;     /* grid */
    int64_t out_off[257], in_off[257];
    int32_t first_tile;  /* index of tile (0,0); tile (b,a) = first + b*n_in + a */
} wmap;

typedef struct am {
    atl_module *m;
    atl_diag *d;
    int dst;
    wmap *w;  /* per parameter, NULL entries are digital */
    int errors;
} am;

static atl_func *DF(am *c) { return &c->m->funcs[c->dst]; }

static int32_t add(am *c, atl_op op, const int32_t *src, int n, const atl_attr *at, int na,
                   atl_loc loc)
{
    atl_func *f = DF(c);
    atl_type t;
    memset(&t, 0, sizeof t);
    int32_t r = atl_func_add_node(c->m, f, op, src, n, at, na, t, loc);
    char msg[512];
    if (atl_infer_type(c->m, f, &f->nodes[r], &t, msg, sizeof msg)) {
        atl_ir_report(c->d, c->m, ATL_SEV_ERROR, loc, "analog-map: %s", msg);
        c->errors++;
    } else
        f->nodes[r].type = t;
    return r;
}

/* x[..., lo:hi] on the last axis (or x itself when it is the whole axis) */
static int32_t last_axis_slice(am *c, int32_t x, int64_t lo, int64_t hi, atl_loc loc)
{
    const atl_type *t = &DF(c)->nodes[x].type;
    if (lo == 0 && hi == t->dims[t->rank - 1])
        return x;
    atl_attr at[4] = {atl_attr_int(t->rank - 1), atl_attr_int(lo), atl_attr_int(hi),
                      atl_attr_int(1)};
    return add(c, ATL_OP_SLICE, &x, 1, at, 4, loc);
}

static int32_t concat_last(am *c, const int32_t *parts, int n, atl_loc loc)
{
    if (n == 1)
        return parts[0];
    atl_attr at = atl_attr_int(DF(c)->nodes[parts[0]].type.rank - 1);
    return add(c, ATL_OP_CONCAT, parts, n, &at, 1, loc);
}

static const char *tile_name(am *c, const wmap *w, int b, int a)
{
    return DF(c)->tiles[w->first_tile + b * w->n_in + a].name;
}

static int32_t mvm(am *c, atl_op op, const wmap *w, int b, int a, int32_t x, atl_loc loc)
{
    atl_attr at = atl_attr_str(tile_name(c, w, b, a));
    return add(c, op, &x, 1, &at, 1, loc);
}

static uint64_t name_stream(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    return h & 0x7FFFFFFFFFFFFFFFull; /* printable as a non-negative integer */
}

int atl_pass_analog_map(atl_module *m, atl_pass_ctx *ctx)
{
    if (m->n_funcs != 1) {
        atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, ATL_NO_LOC,
                      "analog-map needs an expanded module");
        return 1;
    }
    if (m->funcs[0].n_tiles > 0)
        return 0; /* already mapped */
    atl_analog_resolve(m, NULL); /* bindings from the analog section (no warnings twice) */
    const atl_func *f0 = &m->funcs[0];
    bool any = false;
    for (int p = 0; p < f0->n_params; p++)
        any |= f0->params[p].analog >= 0;
    if (!any)
        return 0; /* a digital-only rule set leaves the IR unchanged */

    am c = {.m = m, .d = ctx->diag};
    c.w = calloc((size_t)f0->n_params, sizeof *c.w);
    int32_t *map = malloc(sizeof(int32_t) * (size_t)(f0->n_nodes ? f0->n_nodes : 1));
    int32_t *grad_first = malloc(sizeof(int32_t) * (size_t)(f0->n_nodes ? f0->n_nodes : 1));
    if (!c.w || !map || !grad_first)
        abort();
    /* which parameter nodes feed which ops: an analog weight may only be a linear weight */
    for (int i = 0; i < f0->n_nodes; i++) {
        const atl_node *n = &f0->nodes[i];
        for (int s = 0; s < n->n_src; s++) {
            const atl_node *src = &f0->nodes[n->src[s]];
            if (src->op != ATL_OP_PARAM)
                continue;
            int32_t p = atl_func_find_param(f0, atl_node_attr_str(src, "name"));
            if (p < 0 || f0->params[p].analog < 0)
                continue;
            bool ok = (n->op == ATL_OP_LINEAR || n->op == ATL_OP_LINEAR_GRAD_X) && s == 1;
            if (!ok) {
                atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, n->loc,
                              "analog-map: %s uses the analog weight \"%s\"; only linear layers "
                              "can be mapped onto tiles",
                              atl_op_name(n->op), f0->params[p].name);
                c.errors++;
            }
        }
    }
    /* new function; parameters and tiles first */
    atl_module_add_func(m, f0->name);
    c.dst = m->n_funcs - 1;
    f0 = &m->funcs[0];
    for (int p = 0; p < f0->n_params; p++) {
        const atl_param *pp = &f0->params[p];
        int32_t k = atl_func_add_param(m, DF(&c), pp->name, pp->type, pp->init, pp->loc);
        DF(&c)->params[k].frozen = pp->frozen;
        DF(&c)->params[k].analog = pp->analog;
        if (pp->analog < 0 || c.errors)
            continue;
        atl_analog_rule rule;
        if (atl_analog_rule_resolve(m, pp->analog, &rule, ctx->diag)) {
            c.errors++;
            continue;
        }
        wmap *w = &c.w[p];
        w->param = p;
        int outs[257], ins[257];
        int64_t R = pp->type.dims[0], C = pp->type.dims[1];
        w->n_out = atl_split_sizes((int)R, (int)rule.rows, NULL);
        w->n_in = atl_split_sizes((int)C, (int)rule.cols, NULL);
        if (w->n_out > 256 || w->n_in > 256) {
            atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, pp->loc,
                          "analog-map: \"%s\" would need more than 256 tiles per side", pp->name);
            c.errors++;
            continue;
        }
        atl_split_sizes((int)R, (int)rule.rows, outs);
        atl_split_sizes((int)C, (int)rule.cols, ins);
        w->out_off[0] = w->in_off[0] = 0;
        for (int b = 0; b < w->n_out; b++)
            w->out_off[b + 1] = w->out_off[b] + outs[b];
        for (int a = 0; a < w->n_in; a++)
            w->in_off[a + 1] = w->in_off[a] + ins[a];
        w->first_tile = DF(&c)->n_tiles;
        for (int b = 0; b < w->n_out; b++)
            for (int a = 0; a < w->n_in; a++) {
                char name[512];
                snprintf(name, sizeof name, "%s.t%d_%d", pp->name, b, a);
                atl_tile_decl t = {.name = name,
                                   .rows = outs[b],
                                   .cols = ins[a],
                                   .param = pp->name,
                                   .row0 = w->out_off[b],
                                   .col0 = w->in_off[a],
                                   .rule = pp->analog,
                                   .stream = name_stream(name),
                                   .loc = pp->loc};
                atl_func_add_tile(m, DF(&c), &t);
            }
    }
    /* nodes */
    for (int i = 0; i < f0->n_nodes && !c.errors; i++) {
        const atl_node *n = &m->funcs[0].nodes[i];
        grad_first[i] = -1;
        const wmap *w = NULL;
        if ((n->op == ATL_OP_LINEAR || n->op == ATL_OP_LINEAR_GRAD_X) && n->n_src >= 2) {
            const atl_node *wn = &m->funcs[0].nodes[n->src[1]];
            int32_t p = wn->op == ATL_OP_PARAM
                            ? atl_func_find_param(&m->funcs[0], atl_node_attr_str(wn, "name"))
                            : -1;
            if (p >= 0 && m->funcs[0].params[p].analog >= 0)
                w = &c.w[p];
        }
        if (n->op == ATL_OP_LINEAR_GRAD_W) {
            /* is it the gradient of an analog weight? find the output that carries it */
            const atl_func *f = &m->funcs[0];
            for (int k = 0; k < f->n_outputs; k++) {
                if (f->outputs[k] != i || !f->output_names[k] ||
                    strncmp(f->output_names[k], "grad.", 5) != 0)
                    continue;
                int32_t p = atl_func_find_param(f, f->output_names[k] + 5);
                if (p >= 0 && f->params[p].analog >= 0)
                    w = &c.w[p];
            }
        }
        atl_loc loc = n->loc;
        int32_t src[256];
        for (int s = 0; s < n->n_src && s < 256; s++)
            src[s] = map[n->src[s]];
        if (!w) {
            map[i] = atl_func_add_node(m, DF(&c), n->op, src, n->n_src, n->attrs, n->n_attrs,
                                       n->type, n->loc);
            continue;
        }
        if (n->op == ATL_OP_LINEAR) {
            int32_t parts[256];
            int32_t xs[256];
            for (int a = 0; a < w->n_in; a++)
                xs[a] = last_axis_slice(&c, src[0], w->in_off[a], w->in_off[a + 1], loc);
            for (int b = 0; b < w->n_out; b++) {
                int32_t acc = -1;
                for (int a = 0; a < w->n_in; a++) {
                    int32_t y = mvm(&c, ATL_OP_ANALOG_MVM, w, b, a, xs[a], loc);
                    if (acc < 0)
                        acc = y;
                    else {
                        int32_t s2[2] = {acc, y};
                        acc = add(&c, ATL_OP_ADD, s2, 2, NULL, 0, loc);
                    }
                }
                parts[b] = acc;
            }
            int32_t y = concat_last(&c, parts, w->n_out, loc);
            if (n->n_src == 3) {
                int32_t s2[2] = {y, src[2]};
                y = add(&c, ATL_OP_ADD, s2, 2, NULL, 0, loc);
            }
            map[i] = y;
        } else if (n->op == ATL_OP_LINEAR_GRAD_X) {
            int32_t gs[256], parts[256];
            for (int b = 0; b < w->n_out; b++)
                gs[b] = last_axis_slice(&c, src[0], w->out_off[b], w->out_off[b + 1], loc);
            for (int a = 0; a < w->n_in; a++) {
                int32_t acc = -1;
                for (int b = 0; b < w->n_out; b++) {
                    int32_t z = mvm(&c, ATL_OP_ANALOG_MVM_T, w, b, a, gs[b], loc);
                    if (acc < 0)
                        acc = z;
                    else {
                        int32_t s2[2] = {acc, z};
                        acc = add(&c, ATL_OP_ADD, s2, 2, NULL, 0, loc);
                    }
                }
                parts[a] = acc;
            }
            map[i] = concat_last(&c, parts, w->n_in, loc);
        } else { /* LINEAR_GRAD_W(g, x) of an analog weight */
            int32_t xs[256], gs[256];
            for (int a = 0; a < w->n_in; a++)
                xs[a] = last_axis_slice(&c, src[1], w->in_off[a], w->in_off[a + 1], loc);
            for (int b = 0; b < w->n_out; b++)
                gs[b] = last_axis_slice(&c, src[0], w->out_off[b], w->out_off[b + 1], loc);
            for (int b = 0; b < w->n_out; b++)
                for (int a = 0; a < w->n_in; a++) {
                    atl_attr at = atl_attr_str(tile_name(&c, w, b, a));
                    int32_t s2[2] = {xs[a], gs[b]};
                    int32_t g = add(&c, ATL_OP_ANALOG_GRAD, s2, 2, &at, 1, loc);
                    if (b == 0 && a == 0)
                        grad_first[i] = g;
                }
            map[i] = grad_first[i]; /* placeholder; the outputs are rewritten below */
        }
    }
    /* outputs: grad.W of an analog weight becomes one grad.<tile> per tile */
    if (!c.errors) {
        const atl_func *f = &m->funcs[0];
        int cap = f->n_outputs + DF(&c)->n_tiles + 1;
        int32_t *outs = malloc(sizeof(int32_t) * (size_t)cap);
        const char **names = malloc(sizeof(char *) * (size_t)cap);
        if (!outs || !names)
            abort();
        int no = 0;
        for (int k = 0; k < f->n_outputs; k++) {
            const char *nm = f->output_names[k];
            int32_t p = nm && strncmp(nm, "grad.", 5) == 0 ? atl_func_find_param(f, nm + 5) : -1;
            if (p >= 0 && f->params[p].analog >= 0) {
                int32_t g0 = grad_first[f->outputs[k]];
                if (g0 < 0) {
                    atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, f->params[p].loc,
                                  "analog-map: the gradient of \"%s\" is not a single linear "
                                  "layer's (is the weight shared?)",
                                  f->params[p].name);
                    c.errors++;
                    break;
                }
                const wmap *w = &c.w[p];
                int nt = w->n_out * w->n_in;
                /* the analog_grad nodes of one weight were emitted consecutively */
                for (int t = 0; t < nt; t++) {
                    int32_t node = g0;
                    int seen = 0;
                    for (int32_t q = g0; q < DF(&c)->n_nodes; q++)
                        if (DF(&c)->nodes[q].op == ATL_OP_ANALOG_GRAD && seen++ == t) {
                            node = q;
                            break;
                        }
                    const char *tn = atl_node_attr_str(&DF(&c)->nodes[node], "tile");
                    outs[no] = node;
                    names[no++] = atl_arena_printf(&m->arena, "grad.%s", tn);
                }
                continue;
            }
            outs[no] = map[f->outputs[k]];
            names[no++] = nm;
        }
        if (!c.errors)
            atl_func_set_outputs(m, DF(&c), outs, names, no);
        free(outs);
        free(names);
    }
    free(map);
    free(grad_first);
    free(c.w);
    if (c.errors) {
        atl_func *f = DF(&c);
        free(f->nodes);
        free(f->params);
        free(f->tiles);
        m->n_funcs--;
        return c.errors;
    }
    atl_func built = m->funcs[c.dst];
    free(m->funcs[0].nodes);
    free(m->funcs[0].params);
    free(m->funcs[0].tiles);
    m->funcs[0] = built;
    m->n_funcs = 1;
    return 0;
}
