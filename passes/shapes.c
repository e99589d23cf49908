/* `shapes` infers and sets every node's result type (so a module written by hand or produced by
 * a transformation gets consistent types); `verify` runs the structural verifier. */
#include "pass.h"

int atl_pass_shapes(atl_module *m, atl_pass_ctx *ctx)
{
    int errs = 0;
    char msg[512];
    /* callees first: a call's type is its callee's output type */
    for (int fi = m->n_funcs - 1; fi >= 0; fi--) {
        atl_func *f = &m->funcs[fi];
        for (int i = 0; i < f->n_nodes; i++) {
            atl_node *n = &f->nodes[i];
            atl_type t;
            if (atl_infer_type(m, f, n, &t, msg, sizeof msg)) {
                atl_ir_report(ctx->diag, m, ATL_SEV_ERROR, n->loc, "%s", msg);
                errs++;
                continue;
            }
            n->type = t;
        }
    }
    return errs;
}

int atl_pass_verify(atl_module *m, atl_pass_ctx *ctx) { return atl_verify(m, ctx->diag); }
