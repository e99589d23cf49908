/* `noise`: make the IO non-idealities of every analog MVM explicit (ANALOG_MODEL.md section 5).
 *
 * Each ideal analog_mvm / analog_mvm_t of a tile becomes analog_mvm_io / analog_mvm_t_io whose
 * attributes carry the tile's forward / backward IO settings from the `analog` section: DAC
 * resolution and bound, input noise, ADC resolution and bound, output noise, weight noise, noise
 * management and bound management (which the reference forces off for the backward pass). A dump
 * therefore shows where every non-ideality enters, and the executors take the IO settings from
 * these attributes. A direction with `is_perfect = true` keeps the ideal op (the exact product).
 */
#include "analog_config.h"
#include "pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shortest decimal that rounds to the same float: dumps show 0.06, not 0.0599999987. */
static double pretty(float v)
{
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if ((float)strtod(buf, NULL) == v)
            return strtod(buf, NULL);
    }
    return (double)v;
}

int atl_pass_noise(atl_module *m, atl_pass_ctx *ctx)
{
    if (m->n_funcs != 1)
        return 0;
    atl_func *f = &m->funcs[0];
    int errors = 0;
    for (int i = 0; i < f->n_nodes; i++) {
        atl_node *n = &f->nodes[i];
        bool fwd = n->op == ATL_OP_ANALOG_MVM, bwd = n->op == ATL_OP_ANALOG_MVM_T;
        if (!fwd && !bwd)
            continue;
        const char *tile = atl_node_attr_str(n, "tile");
        int32_t t = atl_func_find_tile(f, tile);
        atl_analog_rule rule;
        if (t < 0 || atl_analog_rule_resolve(m, f->tiles[t].rule, &rule, ctx->diag)) {
            errors++;
            continue;
        }
        const atl_io_params *io = fwd ? &rule.cfg.io_fwd : &rule.cfg.io_bwd;
        if (io->is_perfect)
            continue;
        atl_attr at[10] = {
            atl_attr_str(tile),
            atl_attr_float(pretty(io->inp_res)),
            atl_attr_float(pretty(io->inp_bound)),
            atl_attr_float(pretty(io->inp_noise)),
            atl_attr_float(pretty(io->out_res)),
            atl_attr_float(pretty(io->out_bound)),
            atl_attr_float(pretty(io->out_noise)),
            atl_attr_float(pretty(io->w_noise)),
            atl_attr_str(atl_nm_name(io->noise_management)),
            /* the reference never applies bound management to the backward pass */
            atl_attr_str(bwd ? "none" : atl_bm_name(io->bound_management)),
        };
        atl_op op = fwd ? ATL_OP_ANALOG_MVM_IO : ATL_OP_ANALOG_MVM_T_IO;
        int32_t x = n->src[0];
        atl_type ty = n->type;
        atl_loc loc = n->loc;
        /* replace in place: build the node with the new op and copy it over */
        int32_t k = atl_func_add_node(m, f, op, &x, 1, at, 10, ty, loc);
        f->nodes[i] = f->nodes[k];
        f->n_nodes--;
    }
    return errors;
}
