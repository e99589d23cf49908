/* Fused elementwise expressions (fused.h): parser, validator, canonical printer, broadcast
 * index plans. */
#include "fused.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) ATL_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int atl_fexpr_op_arity(atl_op op, int *n_consts)
{
    const atl_op_info *info = atl_op_get(op);
    if (!info || !(info->flags & ATL_OPF_ELEMWISE) || info->min_inputs != info->max_inputs ||
        info->min_inputs < 1 || info->min_inputs > 2)
        return -1;
    atl_attr_schema s;
    atl_op_schema(op, &s);
    if (s.n > ATL_FEXPR_MAX_CONSTS)
        return -1;
    for (int i = 0; i < s.n; i++)
        if (s.a[i].kind != ATL_ATTR_FLOAT)
            return -1;
    if (n_consts)
        *n_consts = s.n;
    return info->min_inputs;
}

int atl_fexpr_check(const atl_fexpr *e, int n_operands, char *err, size_t errlen)
{
    if (e->n_ins < 1 || e->n_ins > ATL_FEXPR_MAX_INS)
        return fail(err, errlen, "fused: expected 1 to %d instructions, got %d",
                    ATL_FEXPR_MAX_INS, e->n_ins);
    if (n_operands < 1 || n_operands > ATL_FEXPR_MAX_OPERANDS)
        return fail(err, errlen, "fused: expected 1 to %d operands, got %d",
                    ATL_FEXPR_MAX_OPERANDS, n_operands);
    bool used_op[ATL_FEXPR_MAX_OPERANDS] = {false};
    bool used_tmp[ATL_FEXPR_MAX_INS] = {false};
    for (int i = 0; i < e->n_ins; i++) {
        const atl_fins *in = &e->ins[i];
        int nc = 0;
        int na = atl_fexpr_op_arity(in->op, &nc);
        if (na < 0)
            return fail(err, errlen, "fused: instruction %d: %s is not a fusable elementwise op",
                        i, atl_op_name(in->op));
        if (in->n_args != na || in->n_consts != nc)
            return fail(err, errlen,
                        "fused: instruction %d: %s takes %d tensor argument(s) and %d number(s), "
                        "got %d and %d",
                        i, atl_op_name(in->op), na, nc, in->n_args, in->n_consts);
        for (int k = 0; k < in->n_args; k++) {
            int32_t a = in->arg[k];
            if (ATL_FEXPR_IS_TMP(a)) {
                int j = ATL_FEXPR_TMP_INDEX(a);
                if (j >= i)
                    return fail(err, errlen,
                                "fused: instruction %d uses #%d, which is not computed before it",
                                i, j);
                used_tmp[j] = true;
            } else {
                if (a >= n_operands)
                    return fail(err, errlen,
                                "fused: instruction %d uses $%d, but the node has %d operand(s)",
                                i, (int)a, n_operands);
                used_op[a] = true;
            }
        }
    }
    for (int k = 0; k < n_operands; k++)
        if (!used_op[k])
            return fail(err, errlen, "fused: operand $%d is not used by the expression", k);
    for (int j = 0; j + 1 < e->n_ins; j++)
        if (!used_tmp[j])
            return fail(err, errlen, "fused: the result of instruction #%d is not used", j);
    return 0;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int atl_fexpr_parse(const char *text, int n_operands, atl_fexpr *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->n_operands = n_operands;
    const char *p = skip_ws(text);
    for (;;) {
        if (out->n_ins == ATL_FEXPR_MAX_INS)
            return fail(err, errlen, "fused: more than %d instructions", ATL_FEXPR_MAX_INS);
        atl_fins *in = &out->ins[out->n_ins];
        char name[32];
        size_t k = 0;
        while ((isalnum((unsigned char)*p) || *p == '_') && k + 1 < sizeof name)
            name[k++] = *p++;
        name[k] = '\0';
        if (k == 0)
            return fail(err, errlen, "fused: expected an op name at offset %d of \"%s\"",
                        (int)(p - text), text);
        int op = atl_op_lookup(name);
        if (op < 0)
            return fail(err, errlen, "fused: unknown op '%s'", name);
        in->op = (atl_op)op;
        p = skip_ws(p);
        if (*p != '(')
            return fail(err, errlen, "fused: expected '(' after '%s'", name);
        p = skip_ws(p + 1);
        for (;;) {
            char *end;
            if (*p == '$' || *p == '#') {
                char kind = *p;
                long v = strtol(p + 1, &end, 10);
                if (end == p + 1 || v < 0 || v >= 1000)
                    return fail(err, errlen, "fused: bad reference '%c' in '%s'", kind, name);
                if (in->n_consts > 0)
                    return fail(err, errlen, "fused: in '%s', tensor arguments come before numbers",
                                name);
                if (in->n_args == 2)
                    return fail(err, errlen, "fused: too many arguments to '%s'", name);
                in->arg[in->n_args++] = kind == '$' ? (int32_t)v : ATL_FEXPR_TMP((int32_t)v);
                p = end;
            } else {
                double v = strtod(p, &end);
                if (end == p)
                    return fail(err, errlen, "fused: expected $N, #N or a number in '%s'", name);
                if (in->n_consts == ATL_FEXPR_MAX_CONSTS)
                    return fail(err, errlen, "fused: too many numbers in '%s'", name);
                in->c[in->n_consts++] = v;
                p = end;
            }
            p = skip_ws(p);
            if (*p == ',') {
                p = skip_ws(p + 1);
                continue;
            }
            if (*p == ')')
                break;
            return fail(err, errlen, "fused: expected ',' or ')' in '%s'", name);
        }
        out->n_ins++;
        p = skip_ws(p + 1);
        if (*p == '\0')
            break;
        if (*p != ';')
            return fail(err, errlen, "fused: expected ';' between instructions");
        p = skip_ws(p + 1);
    }
    return atl_fexpr_check(out, n_operands, err, errlen);
}

/* shortest %g form that reads back as the same double */
static void fmt_double(char *buf, size_t n, double v)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

size_t atl_fexpr_format(const atl_fexpr *e, char *buf, size_t n)
{
    size_t len = 0;
#define PUT(...)                                                                               \
    do {                                                                                       \
        int w_ = snprintf(len < n ? buf + len : NULL, len < n ? n - len : 0, __VA_ARGS__);     \
        if (w_ > 0)                                                                            \
            len += (size_t)w_;                                                                 \
    } while (0)
    if (n)
        buf[0] = '\0';
    for (int i = 0; i < e->n_ins; i++) {
        const atl_fins *in = &e->ins[i];
        PUT("%s%s(", i ? "; " : "", atl_op_name(in->op));
        for (int k = 0; k < in->n_args; k++) {
            int32_t a = in->arg[k];
            if (ATL_FEXPR_IS_TMP(a))
                PUT("%s#%d", k ? ", " : "", (int)ATL_FEXPR_TMP_INDEX(a));
            else
                PUT("%s$%d", k ? ", " : "", (int)a);
        }
        for (int k = 0; k < in->n_consts; k++) {
            char b[40];
            fmt_double(b, sizeof b, in->c[k]);
            PUT(", %s", b);
        }
        PUT(")");
    }
#undef PUT
    return len;
}

int atl_node_fexpr(const atl_node *n, atl_fexpr *out, char *err, size_t errlen)
{
    const char *text = n->op == ATL_OP_FUSED ? atl_node_attr_str(n, "expr") : NULL;
    if (!text)
        return fail(err, errlen, "not a fused node with an expr attribute");
    return atl_fexpr_parse(text, n->n_src, out, err, errlen);
}

void atl_bcast_plan_make(atl_bcast_plan *p, const atl_type *out, const atl_type *const *in,
                         int n_in)
{
    memset(p, 0, sizeof *p);
    p->n_operands = n_in;
    int r = out->rank;
    int64_t st[ATL_FEXPR_MAX_OPERANDS][ATL_MAX_RANK];
    for (int k = 0; k < n_in; k++) {
        const atl_type *t = in[k];
        int64_t s = 1;
        for (int d = r - 1; d >= 0; d--) {
            int j = d - (r - t->rank);
            int64_t dim = j >= 0 ? t->dims[j] : 1;
            st[k][d] = dim == 1 ? 0 : s;
            s *= dim;
        }
    }
    /* drop size-1 output dims, then merge neighbours */
    int q = 0;
    for (int d = 0; d < r; d++) {
        if (out->dims[d] == 1)
            continue;
        if (q > 0) {
            bool merge = true;
            for (int k = 0; k < n_in && merge; k++) {
                int64_t outer = p->st[k][q - 1], inner = st[k][d];
                merge = (outer == 0 && inner == 0) || (outer == inner * out->dims[d] && inner != 0);
            }
            if (merge) {
                p->dims[q - 1] *= out->dims[d];
                for (int k = 0; k < n_in; k++)
                    p->st[k][q - 1] = st[k][d];
                continue;
            }
        }
        p->dims[q] = out->dims[d];
        for (int k = 0; k < n_in; k++)
            p->st[k][q] = st[k][d];
        q++;
    }
    if (q == 0) { /* a scalar, or all dims 1 */
        p->dims[0] = 1;
        for (int k = 0; k < n_in; k++)
            p->st[k][0] = 0;
        q = 1;
    }
    p->rank = q;
}
