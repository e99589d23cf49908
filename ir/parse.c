/* The `.atlir` parser (the printer's inverse, see print.c for the format). Hand-written: the
 * format is regular and line oriented, and a recursive-descent reader gives precise messages.
 * Errors are reported with the span of the offending token; after an error the parser skips to
 * the next line and goes on, so one run reports several problems. */
#include "ir.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum tok_kind {
    T_EOF,
    T_IDENT,  /* keywords, op names, attribute names, dtypes */
    T_VALUE,  /* %N */
    T_SYMBOL, /* @name */
    T_STRING,
    T_INT,
    T_FLOAT,
    T_PUNCT, /* one of { } ( ) [ ] , : = ; */
    T_ERROR,
} tok_kind;

typedef struct tok {
    tok_kind kind;
    uint32_t begin, end;
    bool line_start; /* first token on its line */
    char punct;
    int64_t ival;
    double fval;
    char *text; /* identifiers, symbols, decoded strings (malloc'd) */
} tok;

typedef struct parser {
    atl_diag *d;
    int file;
    const char *src;
    size_t len, pos;
    tok t;
    atl_module *m;
    int errors;
    int32_t *vmap; /* printed value number -> node index, per function */
    int32_t vmap_cap;
    bool skipping; /* recovering: the rest of the line is not reported again */
} parser;

static void p_error(parser *p, uint32_t b, uint32_t e, const char *fmt, ...) ATL_PRINTF(4, 5);
static void p_error(parser *p, uint32_t b, uint32_t e, const char *fmt, ...)
{
    p->errors++;
    if (p->skipping)
        return;
    va_list ap;
    va_start(ap, fmt);
    atl_diag_vreport(p->d, ATL_SEV_ERROR, (atl_span){p->file, b, e}, fmt, ap);
    va_end(ap);
}

static bool is_name_char(int c) { return isalnum(c) || c == '_' || c == '.' || c == '$' || c == '-'; }

static void next(parser *p)
{
    free(p->t.text);
    memset(&p->t, 0, sizeof p->t);
    bool nl = p->pos == 0;
    for (;;) {
        while (p->pos < p->len && isspace((unsigned char)p->src[p->pos])) {
            if (p->src[p->pos] == '\n')
                nl = true;
            p->pos++;
        }
        if (p->pos + 1 < p->len && p->src[p->pos] == '/' && p->src[p->pos + 1] == '/') {
            while (p->pos < p->len && p->src[p->pos] != '\n')
                p->pos++;
            continue;
        }
        break;
    }
    tok *t = &p->t;
    t->line_start = nl;
    t->begin = (uint32_t)p->pos;
    if (p->pos >= p->len) {
        t->kind = T_EOF;
        t->end = t->begin;
        return;
    }
    const char *s = p->src;
    size_t i = p->pos;
    char c = s[i];
    if (c == '%') {
        size_t j = i + 1;
        while (j < p->len && isdigit((unsigned char)s[j]))
            j++;
        if (j == i + 1) {
            t->kind = T_ERROR;
            t->end = (uint32_t)(i + 1);
            p->pos = i + 1;
            p_error(p, t->begin, t->end, "expected a value number after '%%'");
            return;
        }
        t->kind = T_VALUE;
        t->ival = strtoll(s + i + 1, NULL, 10);
        p->pos = j;
    } else if (c == '@') {
        size_t j = i + 1;
        while (j < p->len && is_name_char((unsigned char)s[j]))
            j++;
        t->kind = T_SYMBOL;
        t->text = strndup(s + i + 1, j - i - 1);
        p->pos = j;
    } else if (c == '"') {
        size_t j = i + 1;
        char *buf = malloc(p->len - i + 1);
        size_t k = 0;
        bool ok = false;
        while (j < p->len && s[j] != '\n') {
            if (s[j] == '"') {
                ok = true;
                j++;
                break;
            }
            if (s[j] == '\\' && j + 1 < p->len) {
                char e = s[j + 1];
                if (e == 'x' && j + 3 < p->len && isxdigit((unsigned char)s[j + 2]) &&
                    isxdigit((unsigned char)s[j + 3])) {
                    char hex[3] = {s[j + 2], s[j + 3], 0};
                    buf[k++] = (char)strtol(hex, NULL, 16);
                    j += 4;
                    continue;
                }
                buf[k++] = e == 'n' ? '\n' : e == 't' ? '\t' : e;
                j += 2;
                continue;
            }
            buf[k++] = s[j++];
        }
        buf[k] = '\0';
        p->pos = j;
        if (!ok) {
            free(buf);
            t->kind = T_ERROR;
            t->end = (uint32_t)j;
            p_error(p, t->begin, t->end, "unterminated string");
            return;
        }
        t->kind = T_STRING;
        t->text = buf;
    } else if (isdigit((unsigned char)c) || ((c == '-' || c == '+') && i + 1 < p->len &&
                                              (isdigit((unsigned char)s[i + 1]) || s[i + 1] == '.'))) {
        char *e1, *e2;
        errno = 0;
        long long iv = strtoll(s + i, &e1, 10);
        bool int_overflow = errno == ERANGE;
        double fv = strtod(s + i, &e2);
        if (e1 == s + i && e2 == s + i) { /* "-." and the like: not a number */
            t->kind = T_ERROR;
            p->pos = i + 1;
            t->end = (uint32_t)p->pos;
            p_error(p, t->begin, t->end, "malformed number");
            return;
        }
        if (e2 > e1) {
            t->kind = T_FLOAT;
            t->fval = fv;
            p->pos = (size_t)(e2 - s);
        } else {
            t->kind = T_INT;
            t->ival = iv;
            p->pos = (size_t)(e1 - s);
            if (int_overflow) {
                t->end = (uint32_t)p->pos;
                p_error(p, t->begin, t->end, "integer out of range");
            }
        }
    } else if (isalpha((unsigned char)c) || c == '_') {
        size_t j = i;
        while (j < p->len && (isalnum((unsigned char)s[j]) || s[j] == '_' || s[j] == '.'))
            j++;
        t->kind = T_IDENT;
        t->text = strndup(s + i, j - i);
        p->pos = j;
        if (strcmp(t->text, "inf") == 0 || strcmp(t->text, "nan") == 0) {
            t->kind = T_FLOAT;
            t->fval = t->text[0] == 'i' ? INFINITY : NAN;
        }
    } else if (c == '-' && i + 3 < p->len && strncmp(s + i, "-inf", 4) == 0) {
        t->kind = T_FLOAT;
        t->fval = -INFINITY;
        p->pos = i + 4;
    } else if (strchr("{}()[],:=;", c)) {
        t->kind = T_PUNCT;
        t->punct = c;
        p->pos = i + 1;
    } else {
        t->kind = T_ERROR;
        p->pos = i + 1;
        t->end = (uint32_t)p->pos;
        p_error(p, t->begin, t->end, "unexpected character '%c'", isprint((unsigned char)c) ? c : '?');
        return;
    }
    t->end = (uint32_t)p->pos;
}

static const char *tok_desc(const tok *t, char *buf, size_t n)
{
    switch (t->kind) {
    case T_EOF:
        return "end of file";
    case T_IDENT:
        snprintf(buf, n, "'%s'", t->text);
        return buf;
    case T_VALUE:
        snprintf(buf, n, "%%%lld", (long long)t->ival);
        return buf;
    case T_SYMBOL:
        snprintf(buf, n, "@%s", t->text);
        return buf;
    case T_STRING:
        return "a string";
    case T_INT:
        return "an integer";
    case T_FLOAT:
        return "a number";
    case T_PUNCT:
        snprintf(buf, n, "'%c'", t->punct);
        return buf;
    default:
        return "an invalid token";
    }
}

static void expected(parser *p, const char *what)
{
    char b[96];
    if (p->t.kind == T_ERROR)
        return; /* already reported by the lexer */
    p_error(p, p->t.begin, p->t.end > p->t.begin ? p->t.end : p->t.begin + 1,
            "expected %s, found %s", what, tok_desc(&p->t, b, sizeof b));
}

static bool is_punct(parser *p, char c) { return p->t.kind == T_PUNCT && p->t.punct == c; }
static bool is_ident(parser *p, const char *s)
{
    return p->t.kind == T_IDENT && strcmp(p->t.text, s) == 0;
}

static bool accept_punct(parser *p, char c)
{
    if (is_punct(p, c)) {
        next(p);
        return true;
    }
    return false;
}

static bool expect_punct(parser *p, char c)
{
    if (accept_punct(p, c))
        return true;
    char w[8] = {'\'', c, '\'', 0};
    expected(p, w);
    return false;
}

/* skip to the first token of the next line (error recovery) */
static void skip_line(parser *p)
{
    p->skipping = true;
    do
        next(p);
    while (p->t.kind != T_EOF && !p->t.line_start);
    p->skipping = false;
}

static bool parse_type(parser *p, atl_type *t)
{
    if (p->t.kind != T_IDENT || atl_dtype_parse(p->t.text) < 0) {
        expected(p, "a type such as f32[8,3]");
        return false;
    }
    memset(t, 0, sizeof *t);
    t->dtype = (atl_dtype)atl_dtype_parse(p->t.text);
    next(p);
    if (!expect_punct(p, '['))
        return false;
    if (!is_punct(p, ']')) {
        for (;;) {
            if (p->t.kind != T_INT) {
                expected(p, "a dimension");
                return false;
            }
            if (t->rank == ATL_MAX_RANK) {
                p_error(p, p->t.begin, p->t.end, "rank larger than %d", ATL_MAX_RANK);
                return false;
            }
            t->dims[t->rank++] = p->t.ival;
            next(p);
            if (!accept_punct(p, ','))
                break;
        }
    }
    return expect_punct(p, ']');
}

static bool parse_loc(parser *p, atl_loc *l)
{
    *l = ATL_NO_LOC;
    if (!is_ident(p, "loc"))
        return true;
    next(p);
    if (!expect_punct(p, '('))
        return false;
    int64_t v[3];
    for (int i = 0; i < 3; i++) {
        if (p->t.kind != T_INT) {
            expected(p, "loc(FILE:LINE:COL)");
            return false;
        }
        v[i] = p->t.ival;
        if (i == 0 && (v[0] < 0 || v[0] >= p->m->n_sources)) {
            p_error(p, p->t.begin, p->t.end, "source %lld is not declared", (long long)v[0]);
            return false;
        }
        next(p);
        if (i < 2 && !expect_punct(p, ':'))
            return false;
    }
    if (!expect_punct(p, ')'))
        return false;
    l->file = (int32_t)v[0];
    l->line = (int32_t)v[1];
    l->col = (int32_t)v[2];
    l->len = 1;
    return true;
}

/* config values: int, float, string, bool, list */
static bool parse_cvalue(parser *p, atl_value *v)
{
    memset(v, 0, sizeof *v);
    switch (p->t.kind) {
    case T_INT:
        v->kind = ATL_VAL_INT;
        v->i = p->t.ival;
        next(p);
        return true;
    case T_FLOAT:
        v->kind = ATL_VAL_FLOAT;
        v->f = p->t.fval;
        next(p);
        return true;
    case T_STRING:
        v->kind = ATL_VAL_STR;
        v->s = atl_arena_strdup(&p->m->arena, p->t.text);
        next(p);
        return true;
    case T_IDENT:
        if (is_ident(p, "true") || is_ident(p, "false")) {
            v->kind = ATL_VAL_BOOL;
            v->b = p->t.text[0] == 't';
            next(p);
            return true;
        }
        break;
    case T_PUNCT:
        if (p->t.punct == '[') {
            next(p);
            v->kind = ATL_VAL_LIST;
            atl_value tmp[256];
            int n = 0;
            if (!is_punct(p, ']')) {
                for (;;) {
                    if (n == 256) {
                        p_error(p, p->t.begin, p->t.end, "list longer than 256 items");
                        return false;
                    }
                    if (!parse_cvalue(p, &tmp[n++]))
                        return false;
                    if (!accept_punct(p, ','))
                        break;
                }
            }
            if (!expect_punct(p, ']'))
                return false;
            v->n_items = n;
            v->items = n ? atl_arena_memdup(&p->m->arena, tmp, sizeof(atl_value) * (size_t)n)
                         : NULL;
            return true;
        }
        break;
    default:
        break;
    }
    expected(p, "a value");
    return false;
}

static bool parse_cfg_body(parser *p, atl_cfg *c, int depth)
{
    if (depth > 64) {
        p_error(p, p->t.begin, p->t.end, "configuration nested too deeply");
        return false;
    }
    while (!is_punct(p, '}')) {
        if (p->t.kind != T_IDENT) {
            expected(p, "a key or '}'");
            return false;
        }
        char *key = strdup(p->t.text);
        next(p);
        if (accept_punct(p, '=')) {
            atl_value v;
            atl_loc l = ATL_NO_LOC;
            bool ok = parse_cvalue(p, &v) && expect_punct(p, ';');
            if (ok)
                atl_cfg_add_entry(p->m, c, key, v, l);
            free(key);
            if (!ok)
                return false;
            continue;
        }
        char *label = NULL;
        if (p->t.kind == T_STRING) {
            label = strdup(p->t.text);
            next(p);
        }
        bool ok = expect_punct(p, '{');
        if (ok) {
            atl_cfg *sub = atl_cfg_add_section(p->m, c, key, label, ATL_NO_LOC);
            ok = parse_cfg_body(p, sub, depth + 1) && expect_punct(p, '}');
        }
        free(key);
        free(label);
        if (!ok)
            return false;
    }
    return true;
}

static bool parse_attr_value(parser *p, atl_attr_kind want, atl_attr *a)
{
    memset(a, 0, sizeof *a);
    switch (want) {
    case ATL_ATTR_INT:
        if (p->t.kind != T_INT)
            break;
        *a = atl_attr_int(p->t.ival);
        next(p);
        return true;
    case ATL_ATTR_FLOAT:
        if (p->t.kind == T_FLOAT)
            *a = atl_attr_float(p->t.fval);
        else if (p->t.kind == T_INT)
            *a = atl_attr_float((double)p->t.ival);
        else
            break;
        next(p);
        return true;
    case ATL_ATTR_BOOL:
        if (!is_ident(p, "true") && !is_ident(p, "false"))
            break;
        *a = atl_attr_bool(p->t.text[0] == 't');
        next(p);
        return true;
    case ATL_ATTR_STR:
        if (p->t.kind != T_STRING)
            break;
        *a = atl_attr_str(atl_arena_strdup(&p->m->arena, p->t.text));
        next(p);
        return true;
    case ATL_ATTR_INTS: {
        if (!is_punct(p, '['))
            break;
        next(p);
        int64_t tmp[ATL_MAX_RANK * 4];
        int n = 0;
        if (!is_punct(p, ']')) {
            for (;;) {
                if (p->t.kind != T_INT) {
                    expected(p, "an integer");
                    return false;
                }
                if (n == (int)(sizeof tmp / sizeof tmp[0])) {
                    p_error(p, p->t.begin, p->t.end, "integer list too long");
                    return false;
                }
                tmp[n++] = p->t.ival;
                next(p);
                if (!accept_punct(p, ','))
                    break;
            }
        }
        if (!expect_punct(p, ']'))
            return false;
        *a = atl_attr_ints(atl_arena_memdup(&p->m->arena, tmp, sizeof(int64_t) * (size_t)n), n);
        return true;
    }
    default:
        break;
    }
    static const char *names[] = {"", "an integer", "a number", "true or false", "a string",
                                  "a list of integers"};
    expected(p, names[want]);
    return false;
}

static int32_t lookup_value(parser *p, const tok *t, int32_t n_nodes)
{
    if (t->ival < 0 || t->ival >= p->vmap_cap || p->vmap[t->ival] < 0 ||
        p->vmap[t->ival] >= n_nodes) {
        p_error(p, t->begin, t->end, "use of undefined value %%%lld", (long long)t->ival);
        return -1;
    }
    return p->vmap[t->ival];
}

static bool parse_param_line(parser *p, atl_func *f)
{
    next(p); /* param */
    if (p->t.kind != T_STRING) {
        expected(p, "a parameter name string");
        return false;
    }
    char *name = strdup(p->t.text);
    uint32_t nb = p->t.begin, ne = p->t.end;
    next(p);
    atl_type t;
    atl_init init = {ATL_INIT_ZEROS, 0, 0};
    bool frozen = false;
    int64_t analog = -1;
    bool ok = expect_punct(p, ':') && parse_type(p, &t);
    if (ok && is_ident(p, "init")) {
        next(p);
        ok = expect_punct(p, '=');
        if (ok && p->t.kind == T_IDENT) {
            /* re-assemble the initialiser text: name [ '(' num [',' num] ')' ] */
            char spec[160];
            uint32_t b = p->t.begin, e = p->t.end;
            snprintf(spec, sizeof spec, "%s", p->t.text);
            next(p);
            if (is_punct(p, '(')) {
                size_t k = strlen(spec);
                while (ok && !is_punct(p, ')') && p->t.kind != T_EOF && k + 40 < sizeof spec) {
                    if (is_punct(p, '('))
                        spec[k++] = '(';
                    else if (is_punct(p, ','))
                        spec[k++] = ',';
                    else if (p->t.kind == T_INT)
                        k += (size_t)snprintf(spec + k, sizeof spec - k, "%lld",
                                              (long long)p->t.ival);
                    else if (p->t.kind == T_FLOAT)
                        k += (size_t)snprintf(spec + k, sizeof spec - k, "%.17g", p->t.fval);
                    else {
                        expected(p, "a number");
                        ok = false;
                        break;
                    }
                    spec[k] = '\0';
                    e = p->t.end;
                    next(p);
                }
                if (ok && expect_punct(p, ')')) {
                    spec[k++] = ')';
                    spec[k] = '\0';
                } else
                    ok = false;
            }
            char err[256];
            if (ok && atl_init_parse(spec, &init, err, sizeof err)) {
                p_error(p, b, e, "%s", err);
                ok = false;
            }
        } else if (ok) {
            expected(p, "an initialiser");
            ok = false;
        }
    }
    while (ok && (is_ident(p, "frozen") || is_ident(p, "analog"))) {
        if (is_ident(p, "frozen")) {
            frozen = true;
            next(p);
        } else {
            next(p);
            ok = expect_punct(p, '=');
            if (ok && p->t.kind == T_INT && p->t.ival >= 0) {
                analog = p->t.ival;
                next(p);
            } else if (ok) {
                expected(p, "a rule index");
                ok = false;
            }
        }
    }
    atl_loc loc;
    if (ok)
        ok = parse_loc(p, &loc);
    if (ok) {
        int32_t k = atl_func_add_param(p->m, f, name, t, init, loc);
        if (k < 0) {
            p_error(p, nb, ne, "duplicate parameter \"%s\"", name);
            ok = false;
        } else {
            f->params[k].frozen = frozen;
            f->params[k].analog = (int32_t)analog;
        }
    }
    free(name);
    return ok;
}

/* tile "NAME" : f32[R,C] param="P" at=[R0,C0] rule=K stream=S [loc(...)] */
static bool parse_tile_line(parser *p, atl_func *f)
{
    next(p); /* tile */
    if (p->t.kind != T_STRING) {
        expected(p, "a tile name string");
        return false;
    }
    atl_tile_decl t;
    memset(&t, 0, sizeof t);
    char *name = strdup(p->t.text), *param = NULL;
    uint32_t nb = p->t.begin, ne = p->t.end;
    next(p);
    atl_type ty;
    bool ok = expect_punct(p, ':') && parse_type(p, &ty);
    if (ok && (ty.rank != 2 || ty.dtype != ATL_F32)) {
        p_error(p, nb, ne, "a tile is an f32 matrix [rows, cols]");
        ok = false;
    }
    static const char *const keys[] = {"param", "at", "rule", "stream"};
    for (int k = 0; ok && k < 4; k++) {
        if (!is_ident(p, keys[k])) {
            char w[32];
            snprintf(w, sizeof w, "'%s='", keys[k]);
            expected(p, w);
            ok = false;
            break;
        }
        next(p);
        if (!(ok = expect_punct(p, '=')))
            break;
        if (k == 0) {
            if (p->t.kind != T_STRING) {
                expected(p, "a parameter name string");
                ok = false;
                break;
            }
            param = strdup(p->t.text);
            next(p);
        } else if (k == 1) {
            int64_t v[2];
            ok = expect_punct(p, '[');
            for (int j = 0; ok && j < 2; j++) {
                if (p->t.kind != T_INT || p->t.ival < 0) {
                    expected(p, "a row/column offset");
                    ok = false;
                    break;
                }
                v[j] = p->t.ival;
                next(p);
                if (j == 0)
                    ok = expect_punct(p, ',');
            }
            if (ok)
                ok = expect_punct(p, ']');
            t.row0 = v[0];
            t.col0 = v[1];
        } else {
            if (p->t.kind != T_INT || p->t.ival < 0) {
                expected(p, "a non-negative integer");
                ok = false;
                break;
            }
            if (k == 2)
                t.rule = (int32_t)p->t.ival;
            else
                t.stream = (uint64_t)p->t.ival;
            next(p);
        }
    }
    if (ok)
        ok = parse_loc(p, &t.loc);
    if (ok) {
        t.name = name;
        t.param = param;
        t.rows = ty.dims[0];
        t.cols = ty.dims[1];
        if (atl_func_add_tile(p->m, f, &t) < 0) {
            p_error(p, nb, ne, "duplicate tile \"%s\"", name);
            ok = false;
        }
    }
    free(name);
    free(param);
    return ok;
}

static bool parse_node_line(parser *p, int fi)
{
    atl_func *f = &p->m->funcs[fi];
    int64_t vnum = p->t.ival;
    uint32_t vb = p->t.begin, ve = p->t.end;
    next(p);
    if (!expect_punct(p, '='))
        return false;
    if (p->t.kind != T_IDENT) {
        expected(p, "an op name");
        return false;
    }
    int op = atl_op_lookup(p->t.text);
    if (op < 0) {
        p_error(p, p->t.begin, p->t.end, "unknown op '%s'", p->t.text);
        return false;
    }
    next(p);
    int32_t src[256];
    int n_src = 0;
    if (accept_punct(p, '(')) {
        if (!is_punct(p, ')')) {
            for (;;) {
                if (p->t.kind != T_VALUE) {
                    expected(p, "an operand such as %3");
                    return false;
                }
                if (n_src == 256) {
                    p_error(p, p->t.begin, p->t.end, "too many operands");
                    return false;
                }
                int32_t v = lookup_value(p, &p->t, f->n_nodes);
                if (v < 0)
                    return false;
                src[n_src++] = v;
                next(p);
                if (!accept_punct(p, ','))
                    break;
            }
        }
        if (!expect_punct(p, ')'))
            return false;
    }
    atl_attr_schema s;
    atl_op_schema((atl_op)op, &s);
    atl_attr attrs[ATL_MAX_ATTRS];
    memset(attrs, 0, sizeof attrs);
    if (accept_punct(p, '{')) {
        if (!is_punct(p, '}')) {
            for (;;) {
                if (p->t.kind != T_IDENT) {
                    expected(p, "an attribute name");
                    return false;
                }
                int k = atl_op_attr_index((atl_op)op, p->t.text);
                if (k < 0) {
                    p_error(p, p->t.begin, p->t.end, "op %s has no attribute '%s'",
                            atl_op_name((atl_op)op), p->t.text);
                    return false;
                }
                if (attrs[k].kind != ATL_ATTR_NONE) {
                    p_error(p, p->t.begin, p->t.end, "attribute '%s' given twice", p->t.text);
                    return false;
                }
                next(p);
                if (!expect_punct(p, '=') || !parse_attr_value(p, s.a[k].kind, &attrs[k]))
                    return false;
                if (!accept_punct(p, ','))
                    break;
            }
        }
        if (!expect_punct(p, '}'))
            return false;
    }
    atl_type t;
    atl_loc loc;
    int64_t arena = -1;
    if (!expect_punct(p, ':') || !parse_type(p, &t))
        return false;
    if (is_ident(p, "arena")) {
        next(p);
        if (!expect_punct(p, '='))
            return false;
        if (p->t.kind != T_INT || p->t.ival < 0) {
            expected(p, "an arena offset");
            return false;
        }
        arena = p->t.ival;
        next(p);
    }
    if (!parse_loc(p, &loc))
        return false;
    /* attributes left out take their defaults; required ones left out are the verifier's */
    int32_t idx = atl_func_add_node(p->m, f, (atl_op)op, src, n_src, attrs, s.n, t, loc);
    p->m->funcs[fi].nodes[idx].arena = arena;
    if (vnum < 0 || vnum > 100000000) {
        p_error(p, vb, ve, "value number out of range");
        return false;
    }
    if (vnum >= p->vmap_cap) {
        int32_t nc = p->vmap_cap ? p->vmap_cap : 256;
        while (nc <= vnum)
            nc *= 2;
        int32_t *nm = realloc(p->vmap, sizeof(int32_t) * (size_t)nc);
        if (!nm)
            abort();
        for (int32_t i = p->vmap_cap; i < nc; i++)
            nm[i] = -1;
        p->vmap = nm;
        p->vmap_cap = nc;
    }
    if (p->vmap[vnum] >= 0) {
        p_error(p, vb, ve, "value %%%lld defined twice", (long long)vnum);
        return false;
    }
    p->vmap[vnum] = idx;
    return true;
}

static bool parse_return(parser *p, int fi)
{
    atl_func *f = &p->m->funcs[fi];
    next(p); /* return */
    int32_t outs[64];
    const char *names[64];
    char *owned[64];
    int n = 0;
    bool ok = true;
    if (p->t.kind == T_VALUE && !p->t.line_start) {
        for (;;) {
            if (p->t.kind != T_VALUE) {
                expected(p, "a value");
                ok = false;
                break;
            }
            if (n == 64) {
                p_error(p, p->t.begin, p->t.end, "too many outputs");
                ok = false;
                break;
            }
            int32_t v = lookup_value(p, &p->t, f->n_nodes);
            if (v < 0) {
                ok = false;
                break;
            }
            outs[n] = v;
            owned[n] = NULL;
            names[n] = NULL;
            next(p);
            if (p->t.kind == T_STRING) {
                owned[n] = strdup(p->t.text);
                names[n] = owned[n];
                next(p);
            }
            n++;
            if (!accept_punct(p, ','))
                break;
        }
    }
    if (ok)
        atl_func_set_outputs(p->m, f, outs, names, n);
    for (int i = 0; i < n; i++)
        free(owned[i]);
    return ok;
}

static void parse_func(parser *p)
{
    next(p); /* func */
    if (p->t.kind != T_SYMBOL) {
        expected(p, "a function name such as @main");
        skip_line(p);
        return;
    }
    if (atl_module_find_func(p->m, p->t.text) >= 0) {
        p_error(p, p->t.begin, p->t.end, "function @%s defined twice", p->t.text);
    }
    atl_module_add_func(p->m, p->t.text);
    int fi = p->m->n_funcs - 1;
    next(p);
    if (!expect_punct(p, '{')) {
        skip_line(p);
        return;
    }
    for (int32_t i = 0; i < p->vmap_cap; i++)
        p->vmap[i] = -1;
    bool returned = false;
    while (p->t.kind != T_EOF && !is_punct(p, '}')) {
        bool ok;
        if (returned) {
            expected(p, "'}' after return");
            ok = false;
        } else if (is_ident(p, "param"))
            ok = parse_param_line(p, &p->m->funcs[fi]);
        else if (is_ident(p, "tile"))
            ok = parse_tile_line(p, &p->m->funcs[fi]);
        else if (p->t.kind == T_VALUE)
            ok = parse_node_line(p, fi);
        else if (is_ident(p, "return")) {
            ok = parse_return(p, fi);
            returned = true;
        } else {
            expected(p, "'param', 'tile', a value definition, 'return' or '}'");
            ok = false;
        }
        if (!ok) {
            skip_line(p);
        } else if (p->t.kind != T_EOF && !p->t.line_start && !is_punct(p, '}')) {
            expected(p, "end of line");
            skip_line(p);
        }
    }
    if (!returned && p->errors == 0)
        p_error(p, p->t.begin, p->t.end, "function @%s has no return", p->m->funcs[fi].name);
    expect_punct(p, '}');
}

atl_module *atl_parse_ir(atl_diag *d, int source_id)
{
    const atl_source *s = atl_diag_source(d, source_id);
    if (!s)
        return NULL;
    parser p = {.d = d, .file = source_id, .src = s->text, .len = s->len};
    next(&p);
    if (!is_ident(&p, "module")) {
        expected(&p, "'module' at the start of an IR file");
        free(p.t.text);
        return NULL;
    }
    next(&p);
    char *name = NULL;
    int64_t batch = 0;
    if (p.t.kind == T_SYMBOL) {
        name = strdup(p.t.text);
        next(&p);
    } else
        expected(&p, "a module name such as @mlp");
    if (is_ident(&p, "batch")) {
        next(&p);
        if (expect_punct(&p, '=')) {
            if (p.t.kind == T_INT && p.t.ival > 0) {
                batch = p.t.ival;
                next(&p);
            } else
                expected(&p, "a positive batch size");
        }
    } else
        expected(&p, "'batch=N'");
    int64_t arena_size = 0;
    if (is_ident(&p, "arena")) {
        next(&p);
        if (expect_punct(&p, '=')) {
            if (p.t.kind == T_INT && p.t.ival > 0) {
                arena_size = p.t.ival;
                next(&p);
            } else
                expected(&p, "a positive arena size");
        }
    }
    p.m = atl_module_new(name ? name : "module", batch > 0 ? batch : 1);
    p.m->arena_size = arena_size;
    free(name);
    while (p.t.kind != T_EOF) {
        if (is_ident(&p, "source")) {
            next(&p);
            if (p.t.kind != T_INT || p.t.ival != p.m->n_sources) {
                expected(&p, "the next source number");
                skip_line(&p);
                continue;
            }
            next(&p);
            if (p.t.kind != T_STRING) {
                expected(&p, "a path string");
                skip_line(&p);
                continue;
            }
            int32_t before = p.m->n_sources;
            if (atl_module_add_source(p.m, p.t.text) != before)
                p_error(&p, p.t.begin, p.t.end, "source \"%s\" declared twice", p.t.text);
            next(&p);
        } else if (is_ident(&p, "func")) {
            parse_func(&p);
        } else if (p.t.kind == T_IDENT) {
            char *key = strdup(p.t.text);
            next(&p);
            char *label = NULL;
            if (p.t.kind == T_STRING) {
                label = strdup(p.t.text);
                next(&p);
            }
            bool ok = expect_punct(&p, '{');
            if (ok) {
                atl_cfg *c = atl_cfg_add_section(p.m, NULL, key, label, ATL_NO_LOC);
                ok = parse_cfg_body(&p, c, 0) && expect_punct(&p, '}');
            }
            free(key);
            free(label);
            if (!ok)
                skip_line(&p);
        } else {
            expected(&p, "'source', 'func' or a configuration section");
            skip_line(&p);
        }
    }
    free(p.t.text);
    free(p.vmap);
    if (p.errors) {
        atl_module_free(p.m);
        return NULL;
    }
    if (p.m->n_funcs == 0) {
        atl_diag_error(d, (atl_span){source_id, 0, 0}, "IR file defines no function");
        atl_module_free(p.m);
        return NULL;
    }
    return p.m;
}
