/* Dead code elimination: keep what the outputs and the side-effecting ops (parameter updates)
 * depend on, plus every model input (inputs define the step's interface even when, e.g., labels
 * are unused by an inference graph). Parameters no
 * node reads any more are dropped from the function's parameter table. */
#include "pass.h"

#include <stdlib.h>
#include <string.h>

static void dce_func(atl_module *m, atl_func *f)
{
    if (f->n_nodes == 0)
        return;
    unsigned char *live = calloc((size_t)f->n_nodes, 1);
    int32_t *repl = malloc(sizeof(int32_t) * (size_t)f->n_nodes);
    if (!live || !repl)
        abort();
    for (int i = 0; i < f->n_outputs; i++)
        live[f->outputs[i]] = 1;
    for (int i = f->n_nodes - 1; i >= 0; i--) {
        if (f->nodes[i].op == ATL_OP_INPUT || (atl_op_get(f->nodes[i].op)->flags & ATL_OPF_EFFECT))
            live[i] = 1;
        if (!live[i])
            continue;
        for (int s = 0; s < f->nodes[i].n_src; s++)
            live[f->nodes[i].src[s]] = 1;
    }
    for (int i = 0; i < f->n_nodes; i++)
        repl[i] = live[i] ? i : -1;
    atl_func_rebuild(m, f, repl);
    /* drop unreferenced parameters, keeping declaration order (a parameter held by analog tiles
     * stays: it is programmed into and read back from the tiles) */
    int k = 0;
    for (int p = 0; p < f->n_params; p++) {
        bool used = false;
        for (int t = 0; t < f->n_tiles && !used; t++)
            if (strcmp(f->tiles[t].param, f->params[p].name) == 0)
                used = true;
        for (int i = 0; i < f->n_nodes && !used; i++)
            if (f->nodes[i].op == ATL_OP_PARAM &&
                strcmp(atl_node_attr_str(&f->nodes[i], "name"), f->params[p].name) == 0)
                used = true;
        if (used)
            f->params[k++] = f->params[p];
    }
    f->n_params = k;
    free(live);
    free(repl);
}

int atl_pass_dce(atl_module *m, atl_pass_ctx *ctx)
{
    (void)ctx;
    for (int fi = 0; fi < m->n_funcs; fi++)
        dce_func(m, &m->funcs[fi]);
    return 0;
}
