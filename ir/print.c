/* The `.atlir` printer. The format is line oriented and parseable (parse.c):
 *
 *   module @mlp batch=8
 *   source 0 "models/mlp.atl"
 *   config analog {
 *     layers "net.*" {
 *       device = "reram_hfo2";
 *     }
 *   }
 *
 *   func @main {
 *     param "fc1.weight" : f32[256,3072] init=fan_in loc(0:3:7)
 *     %0 = input {name = "x"} : f32[8,3,32,32] loc(0:9:3)
 *     %1 = param {name = "fc1.weight"} : f32[256,3072] loc(0:3:7)
 *     %2 = linear(%0, %1) : f32[8,256] loc(0:3:7)
 *     return %2 "logits"
 *   }
 *
 * Values are numbered per function in order; every attribute is printed (defaults too), so a
 * dump says exactly what a pass will see. */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

void atl_print_double(FILE *out, double v);             /* config.c */

static void print_loc(FILE *out, atl_loc l)
{
    if (l.file >= 0)
        fprintf(out, " loc(%d:%d:%d)", l.file, l.line, l.col);
}

static void print_type(FILE *out, const atl_type *t)
{
    char b[160];
    fputs(atl_type_str(t, b, sizeof b), out);
}

static void print_attr_value(FILE *out, const atl_attr *a)
{
    switch (a->kind) {
    case ATL_ATTR_INT:
        fprintf(out, "%lld", (long long)a->v.i);
        break;
    case ATL_ATTR_FLOAT:
        atl_print_double(out, a->v.f);
        break;
    case ATL_ATTR_BOOL:
        fputs(a->v.b ? "true" : "false", out);
        break;
    case ATL_ATTR_STR:
        atl_print_string_literal(out, a->v.s);
        break;
    case ATL_ATTR_INTS:
        fputc('[', out);
        for (int i = 0; i < a->n; i++)
            fprintf(out, i ? ", %lld" : "%lld", (long long)a->v.ints[i]);
        fputc(']', out);
        break;
    default:
        fputs("<none>", out);
    }
}

static void print_cfg(FILE *out, const atl_cfg *c, int indent)
{
    fprintf(out, "%*s", indent, "");
    if (c->is_entry) {
        fprintf(out, "%s = ", c->key);
        atl_value_print(out, &c->value);
        fputs(";\n", out);
        return;
    }
    fputs(c->key, out);
    if (c->label) {
        fputc(' ', out);
        atl_print_string_literal(out, c->label);
    }
    fputs(" {\n", out);
    for (int i = 0; i < c->n_kids; i++)
        print_cfg(out, &c->kids[i], indent + 2);
    fprintf(out, "%*s}\n", indent, "");
}

static void print_func(FILE *out, const atl_func *f)
{
    fprintf(out, "\nfunc @%s {\n", f->name);
    for (int i = 0; i < f->n_params; i++) {
        const atl_param *p = &f->params[i];
        char ib[128];
        fputs("  param ", out);
        atl_print_string_literal(out, p->name);
        fputs(" : ", out);
        print_type(out, &p->type);
        fprintf(out, " init=%s", atl_init_str(&p->init, ib, sizeof ib));
        if (p->frozen)
            fputs(" frozen", out);
        if (p->analog >= 0)
            fprintf(out, " analog=%d", p->analog);
        print_loc(out, p->loc);
        fputc('\n', out);
    }
    for (int i = 0; i < f->n_tiles; i++) {
        const atl_tile_decl *t = &f->tiles[i];
        fputs("  tile ", out);
        atl_print_string_literal(out, t->name);
        fprintf(out, " : f32[%lld,%lld] param=", (long long)t->rows, (long long)t->cols);
        atl_print_string_literal(out, t->param);
        fprintf(out, " at=[%lld,%lld] rule=%d stream=%llu", (long long)t->row0, (long long)t->col0,
                t->rule, (unsigned long long)t->stream);
        print_loc(out, t->loc);
        fputc('\n', out);
    }
    for (int i = 0; i < f->n_nodes; i++) {
        const atl_node *n = &f->nodes[i];
        fprintf(out, "  %%%d = %s", i, atl_op_name(n->op));
        if (n->n_src) {
            fputc('(', out);
            for (int k = 0; k < n->n_src; k++)
                fprintf(out, k ? ", %%%d" : "%%%d", n->src[k]);
            fputc(')', out);
        }
        if (n->n_attrs) {
            atl_attr_schema s;
            atl_op_schema(n->op, &s);
            fputs(" {", out);
            for (int k = 0; k < n->n_attrs; k++) {
                fprintf(out, k ? ", %s = " : "%s = ", s.a[k].name);
                print_attr_value(out, &n->attrs[k]);
            }
            fputc('}', out);
        }
        fputs(" : ", out);
        print_type(out, &n->type);
        if (n->arena >= 0)
            fprintf(out, " arena=%lld", (long long)n->arena);
        print_loc(out, n->loc);
        fputc('\n', out);
    }
    fputs("  return", out);
    for (int k = 0; k < f->n_outputs; k++) {
        fprintf(out, k ? ", %%%d" : " %%%d", f->outputs[k]);
        if (f->output_names[k]) {
            fputc(' ', out);
            atl_print_string_literal(out, f->output_names[k]);
        }
    }
    fputs("\n}\n", out);
}

void atl_print_module(FILE *out, const atl_module *m)
{
    fprintf(out, "module @%s batch=%lld", m->name, (long long)m->batch);
    if (m->arena_size > 0)
        fprintf(out, " arena=%lld", (long long)m->arena_size);
    fputc('\n', out);
    for (int i = 0; i < m->n_sources; i++) {
        fprintf(out, "source %d ", i);
        atl_print_string_literal(out, m->sources[i]);
        fputc('\n', out);
    }
    for (int i = 0; i < m->n_configs; i++)
        print_cfg(out, &m->configs[i], 0);
    for (int i = 0; i < m->n_funcs; i++)
        print_func(out, &m->funcs[i]);
}

char *atl_print_module_to_string(const atl_module *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    atl_print_module(f, m);
    fclose(f);
    return buf;
}

void atl_print_summary(FILE *out, const atl_module *m)
{
    const atl_func *mainf = m->n_funcs ? &m->funcs[0] : NULL;
    fprintf(out, "module @%s (batch %lld): %d function(s)\n", m->name, (long long)m->batch,
            m->n_funcs);
    if (!mainf)
        return;
    int64_t total = 0, analog = 0;
    int n_analog = 0;
    for (int i = 0; i < mainf->n_params; i++) {
        int64_t n = atl_type_numel(&mainf->params[i].type);
        total += n;
        if (mainf->params[i].analog >= 0) {
            analog += n;
            n_analog++;
        }
    }
    fprintf(out, "  parameters: %d tensors, %lld values (%.2f MB f32)\n", mainf->n_params,
            (long long)total, (double)total * 4.0 / 1e6);
    if (n_analog)
        fprintf(out, "  analog-bound: %d tensors, %lld values\n", n_analog, (long long)analog);
    int counts[ATL_OP_COUNT] = {0};
    for (int fi = 0; fi < m->n_funcs; fi++)
        for (int i = 0; i < m->funcs[fi].n_nodes; i++)
            counts[m->funcs[fi].nodes[i].op]++;
    fputs("  ops:", out);
    int col = 0;
    for (int op = 0; op < ATL_OP_COUNT; op++) {
        if (!counts[op])
            continue;
        fprintf(out, "%s %s=%d", col % 8 == 0 && col ? "\n      " : "", atl_op_name(op),
                counts[op]);
        col++;
    }
    fputc('\n', out);
    for (int k = 0; k < mainf->n_outputs; k++) {
        char b[160];
        fprintf(out, "  output %s: %s\n", mainf->output_names[k] ? mainf->output_names[k] : "?",
                atl_type_str(&mainf->nodes[mainf->outputs[k]].type, b, sizeof b));
    }
}

void atl_ir_report(atl_diag *d, const atl_module *m, atl_severity sev, atl_loc loc,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (loc.file >= 0 && loc.file < m->n_sources) {
        int id = atl_diag_source_for_path(d, m->sources[loc.file]);
        atl_diag_report_linecol(d, sev, id, loc.line, loc.col, loc.len, fmt, ap);
    } else {
        atl_diag_vreport(d, sev, ATL_NO_SPAN, fmt, ap);
    }
    va_end(ap);
}
