#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- types ---------------------------------------------------------------------------------- */

const char *atl_dtype_name(atl_dtype t)
{
    switch (t) {
    case ATL_F32:
        return "f32";
    case ATL_I32:
        return "i32";
    default:
        return "?";
    }
}

int atl_dtype_parse(const char *s)
{
    if (strcmp(s, "f32") == 0)
        return ATL_F32;
    if (strcmp(s, "i32") == 0)
        return ATL_I32;
    return -1;
}

int64_t atl_type_numel(const atl_type *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

bool atl_type_equal(const atl_type *a, const atl_type *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

char *atl_type_str(const atl_type *t, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "%s[", atl_dtype_name(t->dtype));
    for (int i = 0; i < t->rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)t->dims[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}

atl_type atl_type_make(atl_dtype dt, int rank, const int64_t *dims)
{
    atl_type t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.rank = rank;
    for (int i = 0; i < rank && i < ATL_MAX_RANK; i++)
        t.dims[i] = dims[i];
    return t;
}

/* ---- initialisers ---------------------------------------------------------------------------- */

/* Shortest decimal that reads back to the same double. */
static void fmt_double(char *buf, size_t n, double v)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
}

char *atl_init_str(const atl_init *in, char *buf, size_t n)
{
    char a[40], b[40];
    fmt_double(a, sizeof a, in->a);
    fmt_double(b, sizeof b, in->b);
    switch (in->kind) {
    case ATL_INIT_ZEROS:
        snprintf(buf, n, "zeros");
        break;
    case ATL_INIT_ONES:
        snprintf(buf, n, "ones");
        break;
    case ATL_INIT_CONST:
        snprintf(buf, n, "const(%s)", a);
        break;
    case ATL_INIT_NORMAL:
        snprintf(buf, n, "normal(%s)", a);
        break;
    case ATL_INIT_TRUNC_NORMAL:
        snprintf(buf, n, "trunc_normal(%s)", a);
        break;
    case ATL_INIT_UNIFORM:
        snprintf(buf, n, "uniform(%s,%s)", a, b);
        break;
    case ATL_INIT_FAN_IN:
        snprintf(buf, n, "fan_in");
        break;
    }
    return buf;
}

int atl_init_parse(const char *s, atl_init *out, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        atl_init_kind kind;
        int nargs;
    } kinds[] = {
        {"zeros", ATL_INIT_ZEROS, 0},         {"ones", ATL_INIT_ONES, 0},
        {"const", ATL_INIT_CONST, 1},         {"normal", ATL_INIT_NORMAL, 1},
        {"trunc_normal", ATL_INIT_TRUNC_NORMAL, 1}, {"uniform", ATL_INIT_UNIFORM, 2},
        {"fan_in", ATL_INIT_FAN_IN, 0},
    };
    size_t nl = strcspn(s, "(");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (strlen(kinds[k].name) != nl || strncmp(kinds[k].name, s, nl) != 0)
            continue;
        atl_init r = {kinds[k].kind, 0, 0};
        const char *p = s + nl;
        if (kinds[k].nargs == 0) {
            if (*p == '\0' || strcmp(p, "()") == 0) {
                *out = r;
                return 0;
            }
            snprintf(err, errlen, "initialiser '%s' takes no arguments", kinds[k].name);
            return -1;
        }
        if (*p != '(')
            goto args;
        p++;
        double v[2] = {0, 0};
        for (int i = 0; i < kinds[k].nargs; i++) {
            char *e;
            while (*p == ' ')
                p++;
            v[i] = strtod(p, &e);
            if (e == p || !isfinite(v[i]))
                goto args;
            p = e;
            while (*p == ' ')
                p++;
            if (i + 1 < kinds[k].nargs) {
                if (*p != ',')
                    goto args;
                p++;
            }
        }
        if (strcmp(p, ")") != 0)
            goto args;
        r.a = v[0];
        r.b = v[1];
        if ((r.kind == ATL_INIT_NORMAL || r.kind == ATL_INIT_TRUNC_NORMAL) && r.a < 0) {
            snprintf(err, errlen, "initialiser '%s': standard deviation must be >= 0", s);
            return -1;
        }
        if (r.kind == ATL_INIT_UNIFORM && r.b < r.a) {
            snprintf(err, errlen, "initialiser '%s': upper bound below lower bound", s);
            return -1;
        }
        *out = r;
        return 0;
    args:
        snprintf(err, errlen, "initialiser '%s': expected %s(%s)", s, kinds[k].name,
                 kinds[k].nargs == 1 ? "number" : "number, number");
        return -1;
    }
    snprintf(err, errlen,
             "unknown initialiser '%s' (expected zeros, ones, const(v), normal(std), "
             "trunc_normal(std), uniform(lo,hi) or fan_in)",
             s);
    return -1;
}

/* ---- module ---------------------------------------------------------------------------------- */

atl_module *atl_module_new(const char *name, int64_t batch)
{
    atl_module *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    atl_arena_init(&m->arena);
    m->name = atl_arena_strdup(&m->arena, name ? name : "module");
    m->batch = batch;
    return m;
}

static void func_free(atl_func *f)
{
    free(f->nodes);
    free(f->params);
    free(f->tiles);
}

void atl_module_free(atl_module *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_funcs; i++)
        func_free(&m->funcs[i]);
    free(m->funcs);
    free(m->sources);
    for (int i = 0; i < m->n_configs; i++)
        atl_cfg_free_tree(&m->configs[i]);
    free(m->configs);
    atl_arena_free(&m->arena);
    free(m);
}

int32_t atl_module_add_source(atl_module *m, const char *path)
{
    for (int i = 0; i < m->n_sources; i++)
        if (strcmp(m->sources[i], path) == 0)
            return i;
    if (m->n_sources == m->cap_sources) {
        int nc = m->cap_sources ? 2 * m->cap_sources : 4;
        const char **p = realloc(m->sources, (size_t)nc * sizeof *p);
        if (!p)
            abort();
        m->sources = p;
        m->cap_sources = nc;
    }
    m->sources[m->n_sources] = atl_arena_strdup(&m->arena, path);
    return m->n_sources++;
}

atl_func *atl_module_add_func(atl_module *m, const char *name)
{
    if (m->n_funcs == m->cap_funcs) {
        int nc = m->cap_funcs ? 2 * m->cap_funcs : 4;
        atl_func *p = realloc(m->funcs, (size_t)nc * sizeof *p);
        if (!p)
            abort();
        m->funcs = p;
        m->cap_funcs = nc;
    }
    atl_func *f = &m->funcs[m->n_funcs++];
    memset(f, 0, sizeof *f);
    f->name = atl_arena_strdup(&m->arena, name);
    return f;
}

int32_t atl_module_find_func(const atl_module *m, const char *name)
{
    for (int i = 0; i < m->n_funcs; i++)
        if (strcmp(m->funcs[i].name, name) == 0)
            return i;
    return -1;
}

static atl_attr attr_copy(atl_arena *a, const atl_attr *x)
{
    atl_attr r = *x;
    if (x->kind == ATL_ATTR_STR)
        r.v.s = atl_arena_strdup(a, x->v.s ? x->v.s : "");
    else if (x->kind == ATL_ATTR_INTS)
        r.v.ints = atl_arena_memdup(a, x->v.ints, sizeof(int64_t) * (size_t)x->n);
    return r;
}

int32_t atl_func_add_node(atl_module *m, atl_func *f, atl_op op, const int32_t *src, int n_src,
                          const atl_attr *attrs, int n_attrs, atl_type type, atl_loc loc)
{
    if (f->n_nodes == f->cap_nodes) {
        int nc = f->cap_nodes ? 2 * f->cap_nodes : 64;
        atl_node *p = realloc(f->nodes, (size_t)nc * sizeof *p);
        if (!p)
            abort();
        f->nodes = p;
        f->cap_nodes = nc;
    }
    atl_node *n = &f->nodes[f->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->n_src = n_src;
    n->src = n_src ? atl_arena_memdup(&m->arena, src, sizeof(int32_t) * (size_t)n_src) : NULL;
    atl_attr_schema s;
    atl_op_schema(op, &s);
    n->n_attrs = s.n;
    if (s.n) {
        n->attrs = atl_arena_alloc(&m->arena, sizeof(atl_attr) * (size_t)s.n);
        for (int i = 0; i < s.n; i++) {
            if (i < n_attrs && attrs[i].kind != ATL_ATTR_NONE)
                n->attrs[i] = attr_copy(&m->arena, &attrs[i]);
            else if (s.a[i].has_default)
                n->attrs[i] = s.a[i].def;
            else
                n->attrs[i].kind = ATL_ATTR_NONE; /* the verifier reports it */
        }
    }
    n->type = type;
    n->loc = loc;
    n->arena = -1;
    return f->n_nodes++;
}

int32_t atl_func_find_param(const atl_func *f, const char *name)
{
    for (int i = 0; i < f->n_params; i++)
        if (strcmp(f->params[i].name, name) == 0)
            return i;
    return -1;
}

int32_t atl_func_add_param(atl_module *m, atl_func *f, const char *name, atl_type type,
                           atl_init init, atl_loc loc)
{
    if (atl_func_find_param(f, name) >= 0)
        return -1;
    if (f->n_params == f->cap_params) {
        int nc = f->cap_params ? 2 * f->cap_params : 16;
        atl_param *p = realloc(f->params, (size_t)nc * sizeof *p);
        if (!p)
            abort();
        f->params = p;
        f->cap_params = nc;
    }
    atl_param *p = &f->params[f->n_params];
    memset(p, 0, sizeof *p);
    p->name = atl_arena_strdup(&m->arena, name);
    p->type = type;
    p->init = init;
    p->analog = -1;
    p->loc = loc;
    return f->n_params++;
}

int32_t atl_func_find_tile(const atl_func *f, const char *name)
{
    for (int i = 0; i < f->n_tiles; i++)
        if (strcmp(f->tiles[i].name, name) == 0)
            return i;
    return -1;
}

int32_t atl_func_add_tile(atl_module *m, atl_func *f, const atl_tile_decl *t)
{
    if (atl_func_find_tile(f, t->name) >= 0)
        return -1;
    if (f->n_tiles == f->cap_tiles) {
        int nc = f->cap_tiles ? 2 * f->cap_tiles : 16;
        atl_tile_decl *p = realloc(f->tiles, (size_t)nc * sizeof *p);
        if (!p)
            abort();
        f->tiles = p;
        f->cap_tiles = nc;
    }
    atl_tile_decl *d = &f->tiles[f->n_tiles];
    *d = *t;
    d->name = atl_arena_strdup(&m->arena, t->name);
    d->param = atl_arena_strdup(&m->arena, t->param ? t->param : "");
    return f->n_tiles++;
}

void atl_func_set_outputs(atl_module *m, atl_func *f, const int32_t *outs, const char **names,
                          int n)
{
    f->n_outputs = n;
    f->outputs = n ? atl_arena_memdup(&m->arena, outs, sizeof(int32_t) * (size_t)n) : NULL;
    f->output_names = n ? atl_arena_alloc(&m->arena, sizeof(char *) * (size_t)n) : NULL;
    for (int i = 0; i < n; i++)
        f->output_names[i] = names && names[i] ? atl_arena_strdup(&m->arena, names[i]) : NULL;
}

/* ---- attributes ------------------------------------------------------------------------------ */

const atl_attr *atl_node_attr(const atl_node *n, const char *name)
{
    int i = atl_op_attr_index(n->op, name);
    if (i < 0 || i >= n->n_attrs)
        return NULL;
    return &n->attrs[i];
}

int64_t atl_node_attr_int(const atl_node *n, const char *name)
{
    const atl_attr *a = atl_node_attr(n, name);
    return a && a->kind == ATL_ATTR_INT ? a->v.i : 0;
}

double atl_node_attr_float(const atl_node *n, const char *name)
{
    const atl_attr *a = atl_node_attr(n, name);
    return a && a->kind == ATL_ATTR_FLOAT ? a->v.f : 0.0;
}

bool atl_node_attr_bool(const atl_node *n, const char *name)
{
    const atl_attr *a = atl_node_attr(n, name);
    return a && a->kind == ATL_ATTR_BOOL ? a->v.b : false;
}

const char *atl_node_attr_str(const atl_node *n, const char *name)
{
    const atl_attr *a = atl_node_attr(n, name);
    return a && a->kind == ATL_ATTR_STR ? a->v.s : NULL;
}

bool atl_attr_equal(const atl_attr *a, const atl_attr *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case ATL_ATTR_NONE:
        return true;
    case ATL_ATTR_INT:
        return a->v.i == b->v.i;
    case ATL_ATTR_FLOAT:
        return a->v.f == b->v.f || (isnan(a->v.f) && isnan(b->v.f));
    case ATL_ATTR_BOOL:
        return a->v.b == b->v.b;
    case ATL_ATTR_STR:
        return strcmp(a->v.s, b->v.s) == 0;
    case ATL_ATTR_INTS:
        return a->n == b->n &&
               (a->n == 0 || memcmp(a->v.ints, b->v.ints, sizeof(int64_t) * (size_t)a->n) == 0);
    }
    return false;
}

/* ---- cloning --------------------------------------------------------------------------------- */

atl_module *atl_module_clone(const atl_module *m)
{
    atl_module *r = atl_module_new(m->name, m->batch);
    for (int i = 0; i < m->n_sources; i++)
        atl_module_add_source(r, m->sources[i]);
    for (int fi = 0; fi < m->n_funcs; fi++) {
        const atl_func *f = &m->funcs[fi];
        atl_func *g = atl_module_add_func(r, f->name);
        for (int p = 0; p < f->n_params; p++) {
            int32_t k = atl_func_add_param(r, g, f->params[p].name, f->params[p].type,
                                           f->params[p].init, f->params[p].loc);
            g->params[k].frozen = f->params[p].frozen;
            g->params[k].analog = f->params[p].analog;
        }
        for (int t = 0; t < f->n_tiles; t++)
            atl_func_add_tile(r, g, &f->tiles[t]);
        for (int ni = 0; ni < f->n_nodes; ni++) {
            const atl_node *n = &f->nodes[ni];
            int32_t k = atl_func_add_node(r, g, n->op, n->src, n->n_src, n->attrs, n->n_attrs,
                                          n->type, n->loc);
            g->nodes[k].arena = n->arena;
        }
        atl_func_set_outputs(r, g, f->outputs, f->output_names, f->n_outputs);
    }
    for (int i = 0; i < m->n_configs; i++)
        atl_cfg_copy_into(r, NULL, &m->configs[i]);
    r->arena_size = m->arena_size;
    return r;
}
