/* Tile arrays for layers larger than one tile (§7.1): near-equal splits, a grid of independent
 * tiles (own devices, counters, buffers, choppers and RNG streams), digital partial sums over the
 * input pieces, concatenation over the output pieces and a digital bias added last. */
#include "analog_internal.h"

#include <stdlib.h>
#include <string.h>

struct atl_tile_array {
    int out_size, in_size;
    int n_out, n_in;
    int *out_sizes, *out_off, *in_sizes, *in_off;
    atl_tile **tiles; /* [b * n_in + a]: output piece b, input piece a */
    float *bias;      /* NULL when there is no bias */
    float *xs, *ds, *ys, *zs; /* slices of one call */
    int scratch_m;
};

int atl_split_sizes(int size, int max, int *sizes)
{
    if (size <= 0)
        return 0;
    int n = (max <= 0 || size <= max) ? 1 : (size + max - 1) / max;
    if (sizes)
        for (int k = 0; k < n; k++)
            sizes[k] = size / n + (k < size % n ? 1 : 0);
    return n;
}

void atl_tile_array_destroy(atl_tile_array *a)
{
    if (!a)
        return;
    if (a->tiles)
        for (int k = 0; k < a->n_out * a->n_in; k++)
            atl_tile_destroy(a->tiles[k]);
    free(a->tiles);
    free(a->out_sizes);
    free(a->out_off);
    free(a->in_sizes);
    free(a->in_off);
    free(a->bias);
    free(a->xs);
    free(a->ds);
    free(a->ys);
    free(a->zs);
    free(a);
}

atl_tile_array *atl_tile_array_create(const atl_tile_config *cfg, int out_size, int in_size,
                                      int max_out, int max_in, int has_bias, char *err,
                                      size_t err_len)
{
    if (out_size <= 0 || in_size <= 0) {
        an_fail(err, err_len, "tile array needs positive sizes (got %d x %d)", out_size, in_size);
        return NULL;
    }
    atl_tile_array *a = calloc(1, sizeof *a);
    if (!a)
        goto oom;
    a->out_size = out_size;
    a->in_size = in_size;
    a->n_out = atl_split_sizes(out_size, max_out, NULL);
    a->n_in = atl_split_sizes(in_size, max_in, NULL);
    a->out_sizes = calloc((size_t)a->n_out, sizeof(int));
    a->out_off = calloc((size_t)a->n_out, sizeof(int));
    a->in_sizes = calloc((size_t)a->n_in, sizeof(int));
    a->in_off = calloc((size_t)a->n_in, sizeof(int));
    a->tiles = calloc((size_t)a->n_out * (size_t)a->n_in, sizeof(atl_tile *));
    if (has_bias)
        a->bias = calloc((size_t)out_size, sizeof(float));
    if (!a->out_sizes || !a->out_off || !a->in_sizes || !a->in_off || !a->tiles ||
        (has_bias && !a->bias))
        goto oom;
    atl_split_sizes(out_size, max_out, a->out_sizes);
    atl_split_sizes(in_size, max_in, a->in_sizes);
    for (int b = 1; b < a->n_out; b++)
        a->out_off[b] = a->out_off[b - 1] + a->out_sizes[b - 1];
    for (int k = 1; k < a->n_in; k++)
        a->in_off[k] = a->in_off[k - 1] + a->in_sizes[k - 1];
    for (int b = 0; b < a->n_out; b++)
        for (int k = 0; k < a->n_in; k++) {
            atl_tile_config c = *cfg;
            c.d_size = a->out_sizes[b];
            c.x_size = a->in_sizes[k];
            /* every tile its own stream (and so its own device population, unless the device
             * parameters pin a construction_seed, §7.1 caveat) */
            c.stream = an_stream(cfg->stream, 0x7117, ((uint64_t)b << 32) | (uint64_t)k);
            char sub[200];
            a->tiles[b * a->n_in + k] = atl_tile_create(&c, sub, sizeof sub);
            if (!a->tiles[b * a->n_in + k]) {
                an_fail(err, err_len, "tile (%d, %d): %s", b, k, sub);
                atl_tile_array_destroy(a);
                return NULL;
            }
        }
    return a;
oom:
    atl_tile_array_destroy(a);
    an_fail(err, err_len, "out of memory");
    return NULL;
}

int atl_tile_array_grid(const atl_tile_array *a, int *n_out, int *n_in)
{
    if (n_out)
        *n_out = a->n_out;
    if (n_in)
        *n_in = a->n_in;
    return a->n_out * a->n_in;
}

atl_tile *atl_tile_array_tile(atl_tile_array *a, int out_piece, int in_piece)
{
    if (out_piece < 0 || out_piece >= a->n_out || in_piece < 0 || in_piece >= a->n_in)
        return NULL;
    return a->tiles[out_piece * a->n_in + in_piece];
}

static int ensure_scratch(atl_tile_array *a, int m)
{
    if (m <= a->scratch_m)
        return 0;
    size_t mx = (size_t)m * (size_t)(a->in_size > a->out_size ? a->in_size : a->out_size);
    float *xs = realloc(a->xs, mx * sizeof(float)), *ds, *ys, *zs;
    if (!xs)
        return -1;
    a->xs = xs;
    if (!(ds = realloc(a->ds, mx * sizeof(float))))
        return -1;
    a->ds = ds;
    if (!(ys = realloc(a->ys, mx * sizeof(float))))
        return -1;
    a->ys = ys;
    if (!(zs = realloc(a->zs, mx * sizeof(float))))
        return -1;
    a->zs = zs;
    a->scratch_m = m;
    return 0;
}

/* Copies columns [off, off+n) of an m x ld row-major matrix into a dense m x n block. */
static void slice_cols(const float *src, int m, int ld, int off, int n, float *dst)
{
    for (int r = 0; r < m; r++)
        memcpy(dst + (size_t)r * (size_t)n, src + (size_t)r * (size_t)ld + (size_t)off,
               (size_t)n * sizeof(float));
}

int atl_tile_array_set_weights(atl_tile_array *a, const float *W, const float *bias, float tau)
{
    for (int b = 0; b < a->n_out; b++)
        for (int k = 0; k < a->n_in; k++) {
            int ro = a->out_off[b], co = a->in_off[k], nr = a->out_sizes[b], nc = a->in_sizes[k];
            float *blk = malloc((size_t)nr * (size_t)nc * sizeof(float));
            if (!blk)
                return -1;
            slice_cols(W + (size_t)ro * (size_t)a->in_size, nr, a->in_size, co, nc, blk);
            int rc = atl_tile_set_weights(a->tiles[b * a->n_in + k], blk, tau);
            free(blk);
            if (rc != 0)
                return -1;
        }
    if (a->bias && bias)
        memcpy(a->bias, bias, (size_t)a->out_size * sizeof(float));
    return 0;
}

void atl_tile_array_get_weights(const atl_tile_array *a, float *W, float *bias)
{
    for (int b = 0; b < a->n_out; b++)
        for (int k = 0; k < a->n_in; k++) {
            int ro = a->out_off[b], co = a->in_off[k], nr = a->out_sizes[b], nc = a->in_sizes[k];
            float *blk = malloc((size_t)nr * (size_t)nc * sizeof(float));
            if (!blk)
                return;
            atl_tile_get_weights(a->tiles[b * a->n_in + k], blk);
            for (int r = 0; r < nr; r++)
                memcpy(W + (size_t)(ro + r) * (size_t)a->in_size + (size_t)co,
                       blk + (size_t)r * (size_t)nc, (size_t)nc * sizeof(float));
            free(blk);
        }
    if (bias && a->bias)
        memcpy(bias, a->bias, (size_t)a->out_size * sizeof(float));
}

void atl_tile_array_forward(atl_tile_array *a, const float *x, int m, float *y)
{
    if (m <= 0 || ensure_scratch(a, m) != 0)
        return;
    memset(y, 0, (size_t)m * (size_t)a->out_size * sizeof(float));
    for (int k = 0; k < a->n_in; k++) {
        slice_cols(x, m, a->in_size, a->in_off[k], a->in_sizes[k], a->xs);
        for (int b = 0; b < a->n_out; b++) {
            int nr = a->out_sizes[b], ro = a->out_off[b];
            atl_tile_forward(a->tiles[b * a->n_in + k], a->xs, m, a->ys);
            /* digital partial sums over the input pieces */
            for (int r = 0; r < m; r++)
                for (int i = 0; i < nr; i++)
                    y[(size_t)r * (size_t)a->out_size + (size_t)(ro + i)] +=
                        a->ys[(size_t)r * (size_t)nr + (size_t)i];
        }
    }
    if (a->bias)
        for (int r = 0; r < m; r++)
            for (int i = 0; i < a->out_size; i++)
                y[(size_t)r * (size_t)a->out_size + (size_t)i] += a->bias[i];
}

void atl_tile_array_backward(atl_tile_array *a, const float *d, int m, float *z)
{
    if (m <= 0 || ensure_scratch(a, m) != 0)
        return;
    memset(z, 0, (size_t)m * (size_t)a->in_size * sizeof(float));
    for (int b = 0; b < a->n_out; b++) {
        slice_cols(d, m, a->out_size, a->out_off[b], a->out_sizes[b], a->ds);
        for (int k = 0; k < a->n_in; k++) {
            int nc = a->in_sizes[k], co = a->in_off[k];
            atl_tile_backward(a->tiles[b * a->n_in + k], a->ds, m, a->zs);
            for (int r = 0; r < m; r++)
                for (int j = 0; j < nc; j++)
                    z[(size_t)r * (size_t)a->in_size + (size_t)(co + j)] +=
                        a->zs[(size_t)r * (size_t)nc + (size_t)j];
        }
    }
}

int atl_tile_array_update(atl_tile_array *a, const float *x, const float *d, int m, float lr)
{
    if (m <= 0)
        return 0;
    if (ensure_scratch(a, m) != 0)
        return -1;
    for (int b = 0; b < a->n_out; b++) {
        slice_cols(d, m, a->out_size, a->out_off[b], a->out_sizes[b], a->ds);
        for (int k = 0; k < a->n_in; k++) {
            slice_cols(x, m, a->in_size, a->in_off[k], a->in_sizes[k], a->xs);
            if (atl_tile_update(a->tiles[b * a->n_in + k], a->xs, a->ds, m, lr) != 0)
                return -1;
        }
    }
    if (a->bias)
        for (int r = 0; r < m; r++)
            for (int i = 0; i < a->out_size; i++)
                a->bias[i] -= lr * d[(size_t)r * (size_t)a->out_size + (size_t)i];
    return 0;
}

void atl_tile_array_get_counters(const atl_tile_array *a, atl_tile_counters *sum)
{
    memset(sum, 0, sizeof *sum);
    for (int k = 0; k < a->n_out * a->n_in; k++) {
        atl_tile_counters c;
        atl_tile_get_counters(a->tiles[k], &c);
        sum->updates += c.updates;
        sum->pulses_up_a += c.pulses_up_a;
        sum->pulses_down_a += c.pulses_down_a;
        sum->pulses_up_c += c.pulses_up_c;
        sum->pulses_down_c += c.pulses_down_c;
        sum->transfers += c.transfers;
        sum->transfer_reads += c.transfer_reads;
        sum->c_writes += c.c_writes;
        sum->chopper_flips += c.chopper_flips;
        sum->forward_vectors += c.forward_vectors;
        sum->backward_vectors += c.backward_vectors;
        sum->bm_extra_passes += c.bm_extra_passes;
        sum->weight_sets += c.weight_sets;
    }
}
