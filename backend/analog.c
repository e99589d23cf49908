/* The analog side of an executable module: one runtime tile per tile declaration.
 *
 * Configuration of a tile: device, algorithm, update parameters from its rule of the `analog`
 * section (passes/analog_config.c); forward/backward IO from the attributes of its
 * analog_mvm_io / analog_mvm_t_io ops (what a dump shows is what runs; an ideal analog_mvm means
 * is_perfect); sizes from the declaration; the Philox key is the run seed and the stream the
 * declaration's stable id, so every tile draws its own reproducible noise.
 */
#include <stdlib.h>
#include <string.h>

#include "analog_config.h"
#include "backend.h"

struct atl_analog {
    int n;
    atl_tile **tiles;
    char **names;
    char **params;
    int64_t *row0, *col0, *rows, *cols;
};

static void io_from_attrs(atl_io_params *io, const atl_node *n)
{
    if (n->op == ATL_OP_ANALOG_MVM || n->op == ATL_OP_ANALOG_MVM_T) {
        io->is_perfect = 1;
        return;
    }
    io->is_perfect = 0;
    io->inp_res = (float)atl_node_attr_float(n, "inp_res");
    io->inp_bound = (float)atl_node_attr_float(n, "inp_bound");
    io->inp_noise = (float)atl_node_attr_float(n, "inp_noise");
    io->out_res = (float)atl_node_attr_float(n, "out_res");
    io->out_bound = (float)atl_node_attr_float(n, "out_bound");
    io->out_noise = (float)atl_node_attr_float(n, "out_noise");
    io->w_noise = (float)atl_node_attr_float(n, "w_noise");
    static const char *const nm[] = {"none", "abs_max", "max", "constant", "abs_max_np_sum",
                                     "average_abs_max"};
    static const char *const bm[] = {"none", "iterative", "iterative_worst_case"};
    const char *s = atl_node_attr_str(n, "nm");
    for (int i = 0; i < 6; i++)
        if (s && strcmp(s, nm[i]) == 0)
            io->noise_management = (atl_noise_management)i;
    s = atl_node_attr_str(n, "bm");
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, bm[i]) == 0)
            io->bound_management = (atl_bound_management)i;
}

atl_analog *atl_analog_create(const atl_module *m, uint64_t seed, char *err, size_t errlen)
{
    const atl_func *f = &m->funcs[0];
    atl_analog *a = calloc(1, sizeof *a);
    if (!a)
        abort();
    a->n = f->n_tiles;
    size_t n = (size_t)(a->n ? a->n : 1);
    a->tiles = calloc(n, sizeof *a->tiles);
    a->names = calloc(n, sizeof *a->names);
    a->params = calloc(n, sizeof *a->params);
    a->row0 = calloc(n, sizeof *a->row0);
    a->col0 = calloc(n, sizeof *a->col0);
    a->rows = calloc(n, sizeof *a->rows);
    a->cols = calloc(n, sizeof *a->cols);
    if (!a->tiles || !a->names || !a->params || !a->row0 || !a->col0 || !a->rows || !a->cols)
        abort();
    atl_diag d;
    char *msgbuf = NULL;
    size_t msglen = 0;
    FILE *msgs = open_memstream(&msgbuf, &msglen);
    atl_diag_init(&d, msgs);
    for (int t = 0; t < a->n; t++) {
        const atl_tile_decl *td = &f->tiles[t];
        a->names[t] = strdup(td->name);
        a->params[t] = strdup(td->param);
        a->row0[t] = td->row0;
        a->col0[t] = td->col0;
        a->rows[t] = td->rows;
        a->cols[t] = td->cols;
        atl_analog_rule rule;
        if (atl_analog_rule_resolve(m, td->rule, &rule, &d)) {
            fflush(msgs);
            snprintf(err, errlen, "tile \"%s\": %s", td->name, msgbuf ? msgbuf : "bad rule");
            goto fail;
        }
        atl_tile_config cfg = rule.cfg;
        cfg.d_size = (int)td->rows;
        cfg.x_size = (int)td->cols;
        cfg.seed = seed;
        cfg.stream = td->stream;
        for (int i = 0; i < f->n_nodes; i++) {
            const atl_node *nd = &f->nodes[i];
            bool fwd = nd->op == ATL_OP_ANALOG_MVM || nd->op == ATL_OP_ANALOG_MVM_IO;
            bool bwd = nd->op == ATL_OP_ANALOG_MVM_T || nd->op == ATL_OP_ANALOG_MVM_T_IO;
            if ((fwd || bwd) && strcmp(atl_node_attr_str(nd, "tile"), td->name) == 0)
                io_from_attrs(fwd ? &cfg.io_fwd : &cfg.io_bwd, nd);
        }
        char e2[512];
        a->tiles[t] = atl_tile_create(&cfg, e2, sizeof e2);
        if (!a->tiles[t]) {
            snprintf(err, errlen, "tile \"%s\": %s", td->name, e2);
            goto fail;
        }
    }
    atl_diag_fini(&d);
    fclose(msgs);
    free(msgbuf);
    return a;
fail:
    atl_diag_fini(&d);
    fclose(msgs);
    free(msgbuf);
    atl_analog_free(a);
    return NULL;
}

void atl_analog_free(atl_analog *a)
{
    if (!a)
        return;
    for (int t = 0; t < a->n; t++) {
        atl_tile_destroy(a->tiles[t]);
        free(a->names[t]);
        free(a->params[t]);
    }
    free(a->tiles);
    free(a->names);
    free(a->params);
    free(a->row0);
    free(a->col0);
    free(a->rows);
    free(a->cols);
    free(a);
}

int atl_analog_count(const atl_analog *a) { return a ? a->n : 0; }
const char *atl_analog_name(const atl_analog *a, int t) { return a->names[t]; }
const char *atl_analog_param(const atl_analog *a, int t) { return a->params[t]; }
atl_tile *atl_analog_tile(atl_analog *a, int t) { return a->tiles[t]; }

int atl_analog_find(const atl_analog *a, const char *name)
{
    for (int t = 0; a && t < a->n; t++)
        if (strcmp(a->names[t], name) == 0)
            return t;
    return -1;
}

/* Weight transfer (decision 2): each tile gets its block of the digital weight, perturbed by
 * tau * max|block| * N(0,1) inside the runtime, then clipped and written with the device's
 * write noise. */
int atl_analog_program(atl_analog *a, const atl_params *ps, double tau, char *err, size_t errlen)
{
    for (int t = 0; t < a->n; t++) {
        int p = atl_params_find(ps, a->params[t]);
        if (p < 0) {
            snprintf(err, errlen, "tile \"%s\": no parameter \"%s\"", a->names[t], a->params[t]);
            return -1;
        }
        int64_t C = ps->types[p].dims[1], r = a->rows[t], c = a->cols[t];
        float *blk = malloc(sizeof(float) * (size_t)(r * c));
        if (!blk)
            abort();
        for (int64_t i = 0; i < r; i++)
            memcpy(blk + i * c, ps->data[p] + (a->row0[t] + i) * C + a->col0[t],
                   sizeof(float) * (size_t)c);
        int rc = atl_tile_set_weights(a->tiles[t], blk, (float)tau);
        free(blk);
        if (rc) {
            snprintf(err, errlen, "tile \"%s\": cannot set weights", a->names[t]);
            return -1;
        }
    }
    return 0;
}

/* The tiles' visible (apparent) weights, written back into the digital parameters. */
void atl_analog_read_back(const atl_analog *a, atl_params *ps)
{
    for (int t = 0; t < a->n; t++) {
        int p = atl_params_find(ps, a->params[t]);
        if (p < 0)
            continue;
        int64_t C = ps->types[p].dims[1], r = a->rows[t], c = a->cols[t];
        float *blk = malloc(sizeof(float) * (size_t)(r * c));
        if (!blk)
            abort();
        atl_tile_get_weights(a->tiles[t], blk);
        for (int64_t i = 0; i < r; i++)
            memcpy(ps->data[p] + (a->row0[t] + i) * C + a->col0[t], blk + i * c,
                   sizeof(float) * (size_t)c);
        free(blk);
    }
}

int atl_analog_replace_tile(atl_analog *a, int t, atl_tile *tile, char *err, size_t errlen)
{
    const atl_tile_config *c = atl_tile_get_config(tile);
    if (c->d_size != a->rows[t] || c->x_size != a->cols[t]) {
        snprintf(err, errlen, "tile \"%s\": saved state is %dx%d, the model's tile is %lldx%lld",
                 a->names[t], c->d_size, c->x_size, (long long)a->rows[t], (long long)a->cols[t]);
        return -1;
    }
    atl_tile_destroy(a->tiles[t]);
    a->tiles[t] = tile;
    return 0;
}

/* Evaluation must not change training: an analog forward pass draws IO noise from the tile's
 * stream, so evaluating more or less often would shift the noise of every later training step.
 * The driver snapshots the tiles before an evaluation and restores them after. */
struct atl_analog_snapshot {
    int n;
    void **blobs;
    size_t *lens;
};

atl_analog_snapshot *atl_analog_snapshot_take(const atl_analog *a)
{
    atl_analog_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->n = a ? a->n : 0;
    s->blobs = calloc((size_t)(s->n ? s->n : 1), sizeof *s->blobs);
    s->lens = calloc((size_t)(s->n ? s->n : 1), sizeof *s->lens);
    if (!s->blobs || !s->lens)
        abort();
    for (int t = 0; t < s->n; t++) {
        size_t cap = atl_tile_state_size(a->tiles[t]);
        s->blobs[t] = malloc(cap ? cap : 1);
        if (!s->blobs[t] || atl_tile_save(a->tiles[t], s->blobs[t], cap, &s->lens[t], NULL, 0))
            abort(); /* the state of a live tile always serialises */
    }
    return s;
}

int atl_analog_snapshot_restore(atl_analog *a, const atl_analog_snapshot *s, char *err,
                                size_t errlen)
{
    for (int t = 0; t < s->n; t++) {
        char e2[256];
        atl_tile *tile = atl_tile_load(s->blobs[t], s->lens[t], e2, sizeof e2);
        if (!tile) {
            snprintf(err, errlen, "tile \"%s\": %s", a->names[t], e2);
            return -1;
        }
        atl_tile_set_threads(tile, 0);
        if (atl_analog_replace_tile(a, t, tile, err, errlen)) {
            atl_tile_destroy(tile);
            return -1;
        }
    }
    return 0;
}

void atl_analog_snapshot_free(atl_analog_snapshot *s)
{
    if (!s)
        return;
    for (int t = 0; t < s->n; t++)
        free(s->blobs[t]);
    free(s->blobs);
    free(s->lens);
    free(s);
}
