#include "ir.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static const atl_op_info op_table[] = {
#define ATL_OP(E, nm, mn, mx, fl, at) [ATL_OP_##E] = {nm, mn, mx, fl, at},
#include "ops.def"
#undef ATL_OP
};
static_assert(sizeof op_table / sizeof op_table[0] == ATL_OP_COUNT, "op table out of sync");

const atl_op_info *atl_op_get(atl_op op)
{
    if ((unsigned)op >= ATL_OP_COUNT)
        return NULL;
    return &op_table[op];
}

const char *atl_op_name(atl_op op)
{
    const atl_op_info *i = atl_op_get(op);
    return i ? i->name : "<bad-op>";
}

int atl_op_lookup(const char *name)
{
    for (int i = 0; i < ATL_OP_COUNT; i++)
        if (strcmp(op_table[i].name, name) == 0)
            return i;
    return -1;
}

/* Default values of list and string attributes: only empty ones exist in the table. */
void atl_op_schema(atl_op op, atl_attr_schema *out)
{
    memset(out, 0, sizeof *out);
    const char *p = op_table[op].schema_text;
    while (*p) {
        assert(out->n < ATL_MAX_ATTRS);
        size_t k = 0;
        while (*p && *p != ':' && k + 1 < sizeof out->a[0].name)
            out->a[out->n].name[k++] = *p++;
        assert(*p == ':');
        p++;
        char kc = *p++;
        atl_attr_kind kind = kc == 'i'   ? ATL_ATTR_INT
                             : kc == 'f' ? ATL_ATTR_FLOAT
                             : kc == 'b' ? ATL_ATTR_BOOL
                             : kc == 's' ? ATL_ATTR_STR
                                         : ATL_ATTR_INTS;
        out->a[out->n].kind = kind;
        if (*p == '=') {
            p++;
            char buf[32];
            size_t j = 0;
            while (*p && *p != ',' && j + 1 < sizeof buf)
                buf[j++] = *p++;
            buf[j] = '\0';
            atl_attr d = {.kind = kind};
            switch (kind) {
            case ATL_ATTR_INT:
                d.v.i = strtoll(buf, NULL, 10);
                break;
            case ATL_ATTR_FLOAT:
                d.v.f = strtod(buf, NULL);
                break;
            case ATL_ATTR_BOOL:
                d.v.b = strcmp(buf, "true") == 0;
                break;
            case ATL_ATTR_STR:
                d.v.s = "";
                break;
            default:
                d.v.ints = NULL;
                d.n = 0;
                break;
            }
            out->a[out->n].has_default = true;
            out->a[out->n].def = d;
        }
        out->n++;
        if (*p == ',')
            p++;
    }
}

int atl_op_attr_index(atl_op op, const char *attr_name)
{
    atl_attr_schema s;
    atl_op_schema(op, &s);
    for (int i = 0; i < s.n; i++)
        if (strcmp(s.a[i].name, attr_name) == 0)
            return i;
    return -1;
}
