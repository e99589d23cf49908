/* `optimizer`: turn the gradient outputs of autodiff into parameter update ops.
 *
 * Every output "grad.P" becomes `sgd_update(grad, lr) {param = "P", momentum, nesterov,
 * weight_decay}` and leaves the output list; the learning rate is a new scalar model input "lr"
 * (the driver computes the schedule: constant, step, cosine, warm-up). Hyper-parameters come from
 * the module's `optimizer { momentum = 0.9; nesterov = false; weight_decay = 5e-4; }` section
 * (the trainer writes it from its command line); absent keys take PyTorch's SGD defaults (0).
 * Analog tiles later get their own update ops in the same place (issue: analog passes).
 */
#include "analog_config.h"
#include "pass.h"

#include <stdlib.h>
#include <string.h>

static bool cfg_num(const atl_cfg *sec, const char *key, double *out, atl_pass_ctx *ctx,
                    const atl_module *m)
{
    const atl_cfg *e = atl_cfg_child(sec, key);
    if (!e)
        return true;
    if (!e->is_entry || (e->value.kind != ATL_VAL_FLOAT && e->value.kind != ATL_VAL_INT)) {
        atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, e->loc, "optimizer.%s must be a number", key);
        return false;
    }
    *out = e->value.kind == ATL_VAL_INT ? (double)e->value.i : e->value.f;
    return true;
}

int atl_pass_optimizer(atl_module *m, atl_pass_ctx *ctx)
{
    if (m->n_funcs != 1) {
        atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, ATL_NO_LOC,
                      "optimizer needs an expanded module");
        return 1;
    }
    atl_func *f = &m->funcs[0];
    double momentum = 0, wd = 0;
    bool nesterov = false;
    const atl_cfg *sec = atl_cfg_find(m, "optimizer");
    if (sec) {
        if (!cfg_num(sec, "momentum", &momentum, ctx, m) ||
            !cfg_num(sec, "weight_decay", &wd, ctx, m))
            return 1;
        const atl_cfg *e = atl_cfg_child(sec, "nesterov");
        if (e) {
            if (!e->is_entry || e->value.kind != ATL_VAL_BOOL) {
                atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, e->loc,
                              "optimizer.nesterov must be true or false");
                return 1;
            }
            nesterov = e->value.b;
        }
        if (momentum < 0 || momentum >= 1 || wd < 0) {
            atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, sec->loc,
                          "optimizer: momentum must be in [0, 1) and weight_decay >= 0");
            return 1;
        }
        if (nesterov && momentum == 0) {
            atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, sec->loc,
                          "optimizer: nesterov needs a momentum > 0");
            return 1;
        }
    }
    bool any = false;
    for (int k = 0; k < f->n_outputs; k++)
        if (f->output_names[k] && strncmp(f->output_names[k], "grad.", 5) == 0)
            any = true;
    if (!any) {
        atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, ATL_NO_LOC,
                      "optimizer: no gradients to apply (run autodiff first)");
        return 1;
    }
    for (int i = 0; i < f->n_nodes; i++)
        if (f->nodes[i].op == ATL_OP_INPUT &&
            strcmp(atl_node_attr_str(&f->nodes[i], "name"), "lr") == 0) {
            atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, f->nodes[i].loc,
                          "optimizer: the model already has an input named \"lr\"");
            return 1;
        }
    atl_attr lname = atl_attr_str("lr");
    int32_t lr = atl_func_add_node(m, f, ATL_OP_INPUT, NULL, 0, &lname, 1,
                                   atl_type_make(ATL_F32, 0, NULL), ATL_NO_LOC);
    int32_t outs[1024];
    const char *names[1024];
    int n = 0;
    /* copy the output arrays first: adding nodes does not move them, but keep it simple */
    int32_t n_old = f->n_outputs;
    int32_t *old_outs = malloc(sizeof(int32_t) * (size_t)(n_old ? n_old : 1));
    const char **old_names = malloc(sizeof(char *) * (size_t)(n_old ? n_old : 1));
    if (!old_outs || !old_names)
        abort();
    memcpy(old_outs, f->outputs, sizeof(int32_t) * (size_t)n_old);
    memcpy(old_names, f->output_names, sizeof(char *) * (size_t)n_old);
    for (int k = 0; k < n_old; k++) {
        const char *nm = old_names[k];
        if (!nm || strncmp(nm, "grad.", 5) != 0) {
            if (n < 1024) {
                outs[n] = old_outs[k];
                names[n++] = nm;
            }
            continue;
        }
        const atl_node *g = &f->nodes[old_outs[k]];
        if (g->op == ATL_OP_ANALOG_GRAD) {
            /* a tile: the algorithm of its rule consumes the rank-update factors */
            const char *tname = atl_node_attr_str(g, "tile");
            int32_t t = atl_func_find_tile(f, tname);
            atl_analog_rule rule;
            if (t < 0 || atl_analog_rule_resolve(m, f->tiles[t].rule, &rule, ctx->diag)) {
                free(old_outs);
                free(old_names);
                return 1;
            }
            char params[512];
            atl_analog_algo_summary(&rule.cfg, params, sizeof params);
            int32_t src3[3] = {g->src[0], g->src[1], lr};
            atl_attr at3[3] = {atl_attr_str(tname), atl_attr_str(rule.algorithm),
                               atl_attr_str(params)};
            atl_func_add_node(m, f, ATL_OP_ANALOG_UPDATE, src3, 3, at3, 3,
                              atl_type_make(ATL_F32, 0, NULL), f->tiles[t].loc);
            continue;
        }
        int32_t src[2] = {old_outs[k], lr};
        atl_attr at[4] = {atl_attr_str(nm + 5), atl_attr_float(momentum),
                          atl_attr_bool(nesterov), atl_attr_float(wd)};
        int32_t p = atl_func_find_param(f, nm + 5);
        atl_loc loc = p >= 0 ? f->params[p].loc : ATL_NO_LOC;
        atl_func_add_node(m, f, ATL_OP_SGD_UPDATE, src, 2, at, 4, atl_type_make(ATL_F32, 0, NULL),
                          loc);
    }
    atl_func_set_outputs(m, f, outs, names, n);
    free(old_outs);
    free(old_names);
    return 0;
}
