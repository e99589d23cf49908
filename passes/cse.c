/* Common subexpression elimination: two nodes with the same op, operands (after replacement),
 * attributes and type compute the same value, unless the op is marked NOCSE (inputs, calls).
 * Open-addressing hash table keyed on a structural hash. */
#include "pass.h"

#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t hash_attr(uint64_t h, const atl_attr *a)
{
    h = mix(h, (uint64_t)a->kind);
    switch (a->kind) {
    case ATL_ATTR_INT:
        return mix(h, (uint64_t)a->v.i);
    case ATL_ATTR_FLOAT: {
        uint64_t u;
        memcpy(&u, &a->v.f, sizeof u);
        return mix(h, u);
    }
    case ATL_ATTR_BOOL:
        return mix(h, a->v.b);
    case ATL_ATTR_STR:
        for (const char *s = a->v.s; *s; s++)
            h = mix(h, (unsigned char)*s);
        return h;
    case ATL_ATTR_INTS:
        for (int i = 0; i < a->n; i++)
            h = mix(h, (uint64_t)a->v.ints[i]);
        return h;
    default:
        return h;
    }
}

static uint64_t hash_node(const atl_node *n, const int32_t *repl)
{
    uint64_t h = mix(0, (uint64_t)n->op);
    for (int s = 0; s < n->n_src; s++)
        h = mix(h, (uint64_t)repl[n->src[s]]);
    for (int a = 0; a < n->n_attrs; a++)
        h = hash_attr(h, &n->attrs[a]);
    h = mix(h, (uint64_t)n->type.dtype);
    for (int d = 0; d < n->type.rank; d++)
        h = mix(h, (uint64_t)n->type.dims[d]);
    return h;
}

static bool same_node(const atl_node *a, const atl_node *b, const int32_t *repl)
{
    if (a->op != b->op || a->n_src != b->n_src || a->n_attrs != b->n_attrs ||
        !atl_type_equal(&a->type, &b->type))
        return false;
    for (int s = 0; s < a->n_src; s++)
        if (repl[a->src[s]] != repl[b->src[s]])
            return false;
    for (int k = 0; k < a->n_attrs; k++)
        if (!atl_attr_equal(&a->attrs[k], &b->attrs[k]))
            return false;
    return true;
}

static int cse_func(atl_module *m, atl_func *f)
{
    int n = f->n_nodes, merged = 0;
    if (!n)
        return 0;
    size_t cap = 16;
    while (cap < (size_t)n * 2)
        cap *= 2;
    int32_t *table = malloc(sizeof(int32_t) * cap);
    int32_t *repl = malloc(sizeof(int32_t) * (size_t)n);
    if (!table || !repl)
        abort();
    for (size_t i = 0; i < cap; i++)
        table[i] = -1;
    for (int i = 0; i < n; i++) {
        repl[i] = i;
        const atl_node *nd = &f->nodes[i];
        if (atl_op_get(nd->op)->flags & ATL_OPF_NOCSE)
            continue;
        size_t h = (size_t)hash_node(nd, repl) & (cap - 1);
        for (;;) {
            int32_t j = table[h];
            if (j < 0) {
                table[h] = i;
                break;
            }
            if (same_node(&f->nodes[j], nd, repl)) {
                repl[i] = j;
                merged++;
                break;
            }
            h = (h + 1) & (cap - 1);
        }
    }
    if (merged)
        atl_func_rebuild(m, f, repl);
    free(table);
    free(repl);
    return merged;
}

int atl_pass_cse(atl_module *m, atl_pass_ctx *ctx)
{
    (void)ctx;
    for (int fi = 0; fi < m->n_funcs; fi++)
        cse_func(m, &m->funcs[fi]);
    return 0;
}
