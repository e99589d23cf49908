/* Configuration trees: the `analog { ... }` and `experiment { ... }` sections of a model file,
 * kept in the module so that passes (analog-map, optimizer) and the experiment runner read them
 * from IR as well as from the DSL. */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static atl_cfg *push_kid(atl_cfg **arr, int32_t *n, int32_t *cap)
{
    if (*n == *cap) {
        int32_t nc = *cap ? 2 * *cap : 4;
        atl_cfg *p = realloc(*arr, (size_t)nc * sizeof *p);
        if (!p)
            abort();
        *arr = p;
        *cap = nc;
    }
    atl_cfg *c = &(*arr)[(*n)++];
    memset(c, 0, sizeof *c);
    return c;
}

atl_cfg *atl_cfg_add_section(atl_module *m, atl_cfg *parent, const char *key, const char *label,
                             atl_loc loc)
{
    atl_cfg *c = parent ? push_kid(&parent->kids, &parent->n_kids, &parent->cap_kids)
                        : push_kid(&m->configs, &m->n_configs, &m->cap_configs);
    c->key = atl_arena_strdup(&m->arena, key);
    c->label = label ? atl_arena_strdup(&m->arena, label) : NULL;
    c->is_entry = false;
    c->loc = loc;
    return c;
}

atl_cfg *atl_cfg_add_entry(atl_module *m, atl_cfg *parent, const char *key, atl_value v,
                           atl_loc loc)
{
    atl_cfg *c = push_kid(&parent->kids, &parent->n_kids, &parent->cap_kids);
    c->key = atl_arena_strdup(&m->arena, key);
    c->is_entry = true;
    c->value = atl_value_copy(&m->arena, &v);
    c->loc = loc;
    return c;
}

void atl_cfg_free_tree(atl_cfg *c)
{
    for (int i = 0; i < c->n_kids; i++)
        atl_cfg_free_tree(&c->kids[i]);
    free(c->kids);
    c->kids = NULL;
    c->n_kids = c->cap_kids = 0;
}

const atl_cfg *atl_cfg_find(const atl_module *m, const char *section)
{
    for (int i = 0; i < m->n_configs; i++)
        if (strcmp(m->configs[i].key, section) == 0)
            return &m->configs[i];
    return NULL;
}

const atl_cfg *atl_cfg_child(const atl_cfg *c, const char *key)
{
    const atl_cfg *r = NULL;
    for (int i = 0; c && i < c->n_kids; i++)
        if (strcmp(c->kids[i].key, key) == 0)
            r = &c->kids[i];
    return r;
}

atl_value atl_value_copy(atl_arena *a, const atl_value *v)
{
    atl_value r = *v;
    if (v->kind == ATL_VAL_STR)
        r.s = atl_arena_strdup(a, v->s);
    else if (v->kind == ATL_VAL_LIST) {
        r.items = v->n_items ? atl_arena_alloc(a, sizeof(atl_value) * (size_t)v->n_items) : NULL;
        for (int i = 0; i < v->n_items; i++)
            r.items[i] = atl_value_copy(a, &v->items[i]);
    }
    return r;
}

void atl_cfg_copy_into(atl_module *dst, atl_cfg *dst_parent, const atl_cfg *src)
{
    if (src->is_entry) {
        atl_cfg_add_entry(dst, dst_parent, src->key, src->value, src->loc);
        return;
    }
    atl_cfg *c = atl_cfg_add_section(dst, dst_parent, src->key, src->label, src->loc);
    for (int i = 0; i < src->n_kids; i++)
        atl_cfg_copy_into(dst, c, &src->kids[i]);
}

bool atl_value_equal(const atl_value *a, const atl_value *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case ATL_VAL_INT:
        return a->i == b->i;
    case ATL_VAL_FLOAT:
        return a->f == b->f;
    case ATL_VAL_BOOL:
        return a->b == b->b;
    case ATL_VAL_STR:
        return strcmp(a->s, b->s) == 0;
    case ATL_VAL_LIST:
        if (a->n_items != b->n_items)
            return false;
        for (int i = 0; i < a->n_items; i++)
            if (!atl_value_equal(&a->items[i], &b->items[i]))
                return false;
        return true;
    }
    return false;
}

void atl_print_string_literal(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\x%02x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

void atl_print_double(FILE *out, double v);

/* Shortest round-tripping form that always reads back as a float (has '.', 'e', inf or nan). */
void atl_print_double(FILE *out, double v)
{
    char buf[48];
    if (isinf(v)) {
        fputs(v > 0 ? "inf" : "-inf", out);
        return;
    }
    if (isnan(v)) {
        fputs("nan", out);
        return;
    }
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eE"))
        strcat(buf, ".0");
    fputs(buf, out);
}

void atl_value_print(FILE *out, const atl_value *v)
{
    switch (v->kind) {
    case ATL_VAL_INT:
        fprintf(out, "%lld", (long long)v->i);
        break;
    case ATL_VAL_FLOAT:
        atl_print_double(out, v->f);
        break;
    case ATL_VAL_BOOL:
        fputs(v->b ? "true" : "false", out);
        break;
    case ATL_VAL_STR:
        atl_print_string_literal(out, v->s);
        break;
    case ATL_VAL_LIST:
        fputc('[', out);
        for (int i = 0; i < v->n_items; i++) {
            if (i)
                fputs(", ", out);
            atl_value_print(out, &v->items[i]);
        }
        fputc(']', out);
        break;
    }
}

bool atl_glob_match(const char *pat, const char *txt)
{
    /* iterative matcher with single backtrack point for '*' */
    const char *star = NULL, *resume = NULL;
    while (*txt) {
        if (*pat == '?' || (*pat && *pat != '*' && *pat == *txt)) {
            pat++;
            txt++;
        } else if (*pat == '*') {
            star = pat++;
            resume = txt;
        } else if (star) {
            pat = star + 1;
            txt = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

static bool cfg_truthy(const atl_cfg *c, const char *key)
{
    const atl_cfg *e = atl_cfg_child(c, key);
    return e && e->is_entry && e->value.kind == ATL_VAL_BOOL && e->value.b;
}

void atl_analog_resolve(atl_module *m, atl_diag *d)
{
    atl_func *mainf = atl_module_main(m);
    if (!mainf)
        return;
    for (int p = 0; p < mainf->n_params; p++)
        mainf->params[p].analog = -1;
    const atl_cfg *an = atl_cfg_find(m, "analog");
    if (!an)
        return;
    /* Only weights of linear layers (operand 2 of a `linear` op) can live on crossbar tiles;
     * biases stay digital as in the reference toolkit (digital_bias). */
    bool *is_weight = calloc((size_t)(mainf->n_params ? mainf->n_params : 1), sizeof *is_weight);
    if (!is_weight)
        abort();
    for (int i = 0; i < mainf->n_nodes; i++) {
        const atl_node *n = &mainf->nodes[i];
        if (n->op != ATL_OP_LINEAR || n->n_src < 2)
            continue;
        const atl_node *w = &mainf->nodes[n->src[1]];
        if (w->op != ATL_OP_PARAM)
            continue;
        int32_t k = atl_func_find_param(mainf, atl_node_attr_str(w, "name"));
        if (k >= 0)
            is_weight[k] = true;
    }
    int rule = 0;
    for (int k = 0; k < an->n_kids; k++) {
        const atl_cfg *r = &an->kids[k];
        if (r->is_entry || strcmp(r->key, "layers") != 0)
            continue;
        int matched = 0;
        bool digital = cfg_truthy(r, "digital");
        for (int p = 0; p < mainf->n_params; p++) {
            if (is_weight[p] && r->label && atl_glob_match(r->label, mainf->params[p].name)) {
                mainf->params[p].analog = digital ? -1 : rule;
                matched++;
            }
        }
        if (!matched && d)
            atl_ir_report(d, m, ATL_SEV_WARNING, r->loc,
                          "analog rule \"%s\" matches no linear-layer weight",
                          r->label ? r->label : "");
        rule++;
    }
    free(is_weight);
}

/* Parse a command-line value: integer, float, true/false, "quoted" or bare string. */
atl_value atl_value_parse(atl_arena *a, const char *text)
{
    atl_value v;
    memset(&v, 0, sizeof v);
    char *end;
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
        v.kind = ATL_VAL_BOOL;
        v.b = text[0] == 't';
        return v;
    }
    long long i = strtoll(text, &end, 10);
    if (*text && *end == '\0') {
        v.kind = ATL_VAL_INT;
        v.i = i;
        return v;
    }
    double f = strtod(text, &end);
    if (*text && *end == '\0') {
        v.kind = ATL_VAL_FLOAT;
        v.f = f;
        return v;
    }
    size_t n = strlen(text);
    v.kind = ATL_VAL_STR;
    if (n >= 2 && text[0] == '"' && text[n - 1] == '"')
        v.s = atl_arena_strndup(a, text + 1, n - 2);
    else
        v.s = atl_arena_strdup(a, text);
    return v;
}

int atl_cfg_set_path(atl_module *m, const char *path, atl_value v, char *err, size_t errlen)
{
    char buf[256];
    if (strlen(path) >= sizeof buf || !strchr(path, '.')) {
        snprintf(err, errlen, "'%s' is not a SECTION.KEY path (e.g. analog.transfer_noise)", path);
        return -1;
    }
    strcpy(buf, path);
    char *parts[16];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ".", &save); t && n < 16;
         t = strtok_r(NULL, ".", &save))
        parts[n++] = t;
    if (n < 2) {
        snprintf(err, errlen, "'%s' is not a SECTION.KEY path", path);
        return -1;
    }
    /* top-level section */
    atl_cfg *c = NULL;
    for (int i = 0; i < m->n_configs; i++)
        if (strcmp(m->configs[i].key, parts[0]) == 0)
            c = &m->configs[i];
    if (!c)
        c = atl_cfg_add_section(m, NULL, parts[0], NULL, ATL_NO_LOC);
    for (int k = 1; k + 1 < n; k++) {
        atl_cfg *sub = NULL;
        for (int i = 0; i < c->n_kids; i++)
            if (!c->kids[i].is_entry && strcmp(c->kids[i].key, parts[k]) == 0)
                sub = &c->kids[i];
        if (!sub)
            sub = atl_cfg_add_section(m, c, parts[k], NULL, ATL_NO_LOC);
        c = sub;
    }
    /* replace the last entry of that name, or append */
    for (int i = c->n_kids - 1; i >= 0; i--)
        if (c->kids[i].is_entry && strcmp(c->kids[i].key, parts[n - 1]) == 0) {
            c->kids[i].value = atl_value_copy(&m->arena, &v);
            return 0;
        }
    atl_cfg_add_entry(m, c, parts[n - 1], v, ATL_NO_LOC);
    return 0;
}

void atl_cfg_remove(atl_module *m, const char *section)
{
    int k = 0;
    for (int i = 0; i < m->n_configs; i++) {
        if (strcmp(m->configs[i].key, section) == 0) {
            atl_cfg_free_tree(&m->configs[i]);
            continue;
        }
        m->configs[k++] = m->configs[i];
    }
    m->n_configs = k;
}

static atl_loc remap_loc(atl_loc l, const int32_t *file_map)
{
    if (file_map && l.file >= 0)
        l.file = file_map[l.file];
    return l;
}

static void copy_remap(atl_module *dst, atl_cfg *parent, const atl_cfg *src, const int32_t *map)
{
    if (src->is_entry) {
        atl_cfg_add_entry(dst, parent, src->key, src->value, remap_loc(src->loc, map));
        return;
    }
    atl_cfg *c = atl_cfg_add_section(dst, parent, src->key, src->label, remap_loc(src->loc, map));
    for (int i = 0; i < src->n_kids; i++)
        copy_remap(dst, c, &src->kids[i], map);
}

static bool same_label(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

void atl_cfg_merge(atl_module *dst, atl_cfg *parent, const atl_cfg *src, const int32_t *file_map)
{
    atl_cfg *kids = parent ? parent->kids : dst->configs;
    int32_t n = parent ? parent->n_kids : dst->n_configs;
    if (src->is_entry) {
        for (int32_t i = n - 1; i >= 0; i--)
            if (kids[i].is_entry && strcmp(kids[i].key, src->key) == 0) {
                kids[i].value = atl_value_copy(&dst->arena, &src->value);
                kids[i].loc = remap_loc(src->loc, file_map);
                return;
            }
        if (parent)
            atl_cfg_add_entry(dst, parent, src->key, src->value, remap_loc(src->loc, file_map));
        return;
    }
    for (int32_t i = n - 1; i >= 0; i--)
        if (!kids[i].is_entry && strcmp(kids[i].key, src->key) == 0 &&
            same_label(kids[i].label, src->label)) {
            for (int k = 0; k < src->n_kids; k++) {
                /* kids may move when the target grows: index afresh each time */
                atl_cfg *target = parent ? &parent->kids[i] : &dst->configs[i];
                atl_cfg_merge(dst, target, &src->kids[k], file_map);
            }
            return;
        }
    copy_remap(dst, parent, src, file_map);
}

void atl_cfg_copy_sections(atl_module *dst, const atl_module *src, bool merge)
{
    int32_t *map = malloc(sizeof(int32_t) * (size_t)(src->n_sources ? src->n_sources : 1));
    if (!map)
        abort();
    for (int i = 0; i < src->n_sources; i++)
        map[i] = atl_module_add_source(dst, src->sources[i]);
    for (int i = 0; i < src->n_configs; i++) {
        if (merge) {
            atl_cfg_merge(dst, NULL, &src->configs[i], map);
        } else {
            atl_cfg_remove(dst, src->configs[i].key);
            copy_remap(dst, NULL, &src->configs[i], map);
        }
    }
    free(map);
}
