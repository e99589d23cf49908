#include "backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "atl/rng.h"

/* FNV-1a of a parameter name: its RNG stream, so that initial values depend on (seed, name). */
static uint64_t name_stream(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return atl_rng_derive_stream(h, 0x1D1717ull);
}

void atl_params_init_one(atl_params *ps, int i, uint64_t seed)
{
    float *d = ps->data[i];
    const atl_type *t = &ps->types[i];
    const atl_init *in = &ps->inits[i];
    int64_t n = atl_type_numel(t);
    atl_rng_stream r = atl_rng_stream_make(seed, name_stream(ps->names[i]));
    switch (in->kind) {
    case ATL_INIT_ZEROS:
        memset(d, 0, sizeof(float) * (size_t)n);
        break;
    case ATL_INIT_ONES:
    case ATL_INIT_CONST:
        for (int64_t k = 0; k < n; k++)
            d[k] = in->kind == ATL_INIT_ONES ? 1.0f : (float)in->a;
        break;
    case ATL_INIT_NORMAL:
        atl_rng_normal(&r, (size_t)n, d);
        for (int64_t k = 0; k < n; k++)
            d[k] *= (float)in->a;
        break;
    case ATL_INIT_TRUNC_NORMAL: {
        /* N(0, std^2) truncated at +-2 std by redrawing (from the same stream, in order) */
        atl_rng_normal(&r, (size_t)n, d);
        for (int64_t k = 0; k < n; k++) {
            float z = d[k];
            while (fabsf(z) > 2.0f)
                z = atl_rng_normal1(&r);
            d[k] = z * (float)in->a;
        }
        break;
    }
    case ATL_INIT_UNIFORM:
    case ATL_INIT_FAN_IN: {
        double lo = in->a, hi = in->b;
        if (in->kind == ATL_INIT_FAN_IN) {
            int64_t fan_in = t->rank >= 2 ? n / t->dims[0] : (t->rank == 1 ? t->dims[0] : 1);
            double b = 1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1));
            lo = -b;
            hi = b;
        }
        atl_rng_uniform(&r, (size_t)n, d);
        for (int64_t k = 0; k < n; k++)
            d[k] = (float)(lo + (hi - lo) * (double)d[k]);
        break;
    }
    }
}

atl_params *atl_params_create(const atl_module *m, uint64_t seed)
{
    const atl_func *f = &m->funcs[0];
    atl_params *ps = calloc(1, sizeof *ps);
    if (!ps)
        abort();
    ps->n = f->n_params;
    size_t n = (size_t)(ps->n ? ps->n : 1);
    ps->names = calloc(n, sizeof *ps->names);
    ps->types = calloc(n, sizeof *ps->types);
    ps->inits = calloc(n, sizeof *ps->inits);
    ps->frozen = calloc(n, sizeof *ps->frozen);
    ps->data = calloc(n, sizeof *ps->data);
    ps->momentum = calloc(n, sizeof *ps->momentum);
    ps->mom_started = calloc(n, sizeof *ps->mom_started);
    if (!ps->names || !ps->types || !ps->inits || !ps->frozen || !ps->data || !ps->momentum ||
        !ps->mom_started)
        abort();
    for (int i = 0; i < ps->n; i++) {
        ps->names[i] = strdup(f->params[i].name);
        ps->types[i] = f->params[i].type;
        ps->inits[i] = f->params[i].init;
        ps->frozen[i] = f->params[i].frozen;
        size_t bytes = sizeof(float) * (size_t)atl_type_numel(&ps->types[i]);
        ps->data[i] = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        if (!ps->names[i] || !ps->data[i])
            abort();
        atl_params_init_one(ps, i, seed);
    }
    return ps;
}

void atl_params_free(atl_params *ps)
{
    if (!ps)
        return;
    for (int i = 0; i < ps->n; i++) {
        free(ps->names[i]);
        free(ps->data[i]);
        free(ps->momentum[i]);
    }
    free(ps->names);
    free(ps->types);
    free(ps->inits);
    free(ps->frozen);
    free(ps->data);
    free(ps->momentum);
    free(ps->mom_started);
    free(ps);
}

int atl_params_find(const atl_params *ps, const char *name)
{
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->names[i], name) == 0)
            return i;
    return -1;
}

int64_t atl_params_count(const atl_params *ps)
{
    int64_t t = 0;
    for (int i = 0; i < ps->n; i++)
        t += atl_type_numel(&ps->types[i]);
    return t;
}
