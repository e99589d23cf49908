/* atl IR: a module of functions, each a list of nodes in topological order.
 *
 * Table of contents (one section per file of ir/):
 *   arena.c    bump allocator owning every string and array of a module
 *   ops.c      op table queries (names, arity, attribute schemas)
 *   module.c   module / function / parameter / node construction, lookup, cloning
 *   config.c   configuration trees (analog and experiment sections)
 *   shapes.c   shape rules per op (the `shapes` pass and the DSL elaborator use them)
 *   verify.c   structural verifier
 *   print.c    `.atlir` text printer
 *   parse.c    `.atlir` text parser (print(parse(print(m))) == print(m))
 *
 * Like ggml, a node *is* its result value: an op, its source nodes (indices into the same
 * function's node array, always smaller than the node's own index), attributes in the order of
 * the op's schema, and a static result type. Function 0 is `main`, the model; other functions are
 * block specialisations called through `call` nodes until the expand pass inlines them.
 */
#ifndef ATL_IR_H
#define ATL_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"

/* ------------------------------------------------------------------------------------------ */
/* arena.c */
typedef struct atl_arena_chunk atl_arena_chunk;
typedef struct atl_arena {
    atl_arena_chunk *head;
    size_t used_total;
} atl_arena;

void atl_arena_init(atl_arena *a);
void atl_arena_free(atl_arena *a);
void *atl_arena_alloc(atl_arena *a, size_t size);            /* zeroed, 16-byte aligned */
char *atl_arena_strdup(atl_arena *a, const char *s);
char *atl_arena_strndup(atl_arena *a, const char *s, size_t n);
char *atl_arena_printf(atl_arena *a, const char *fmt, ...) ATL_PRINTF(2, 3);
void *atl_arena_memdup(atl_arena *a, const void *p, size_t size);

/* ------------------------------------------------------------------------------------------ */
/* locations: line/column based so that they survive the text round trip */
typedef struct atl_loc {
    int32_t file; /* index into the module's source table, -1 = unknown */
    int32_t line;
    int32_t col;
    int32_t len; /* length of the underlined range, for carets; not printed */
} atl_loc;

#define ATL_NO_LOC ((atl_loc){-1, 0, 0, 0})

/* ------------------------------------------------------------------------------------------ */
/* types */
#define ATL_MAX_RANK 8

typedef enum atl_dtype { ATL_F32 = 0, ATL_I32 = 1, ATL_DTYPE_COUNT } atl_dtype;

typedef struct atl_type {
    atl_dtype dtype;
    int rank;
    int64_t dims[ATL_MAX_RANK];
} atl_type;

const char *atl_dtype_name(atl_dtype t);   /* "f32", "i32" */
int atl_dtype_parse(const char *s);        /* -1 if unknown */
int64_t atl_type_numel(const atl_type *t); /* 1 for a scalar */
bool atl_type_equal(const atl_type *a, const atl_type *b);
/* "f32[8,256,48]" into buf; returns buf */
char *atl_type_str(const atl_type *t, char *buf, size_t n);
atl_type atl_type_make(atl_dtype dt, int rank, const int64_t *dims);

/* ------------------------------------------------------------------------------------------ */
/* ops */
#define ATL_OPF_SOURCE 0x01u   /* no inputs */
#define ATL_OPF_NOCSE 0x02u    /* never merged by cse */
#define ATL_OPF_DIFF 0x04u     /* has a gradient rule */
#define ATL_OPF_ELEMWISE 0x08u /* elementwise (fusable) */
#define ATL_OPF_BCAST 0x10u    /* numpy broadcasting binary op */
#define ATL_OPF_LOSS 0x20u     /* scalar loss */
#define ATL_OPF_EFFECT 0x40u   /* has side effects (parameter updates): never deleted */

typedef enum atl_op {
#define ATL_OP(E, name, mn, mx, flags, attrs) ATL_OP_##E,
#include "ops.def"
#undef ATL_OP
    ATL_OP_COUNT
} atl_op;

typedef enum atl_attr_kind {
    ATL_ATTR_NONE = 0,
    ATL_ATTR_INT,
    ATL_ATTR_FLOAT,
    ATL_ATTR_BOOL,
    ATL_ATTR_STR,
    ATL_ATTR_INTS,
} atl_attr_kind;

typedef struct atl_attr {
    atl_attr_kind kind;
    int32_t n; /* length of ints */
    union {
        int64_t i;
        double f;
        bool b;
        const char *s;
        const int64_t *ints;
    } v;
} atl_attr;

#define ATL_MAX_ATTRS 16

typedef struct atl_attr_schema {
    int n;
    struct {
        char name[24];
        atl_attr_kind kind;
        bool has_default;
        atl_attr def; /* default value (strings/lists point into static storage or are empty) */
    } a[ATL_MAX_ATTRS];
} atl_attr_schema;

typedef struct atl_op_info {
    const char *name;
    int min_inputs, max_inputs; /* max -1: variadic */
    unsigned flags;
    const char *schema_text;
} atl_op_info;

const atl_op_info *atl_op_get(atl_op op);
const char *atl_op_name(atl_op op);
int atl_op_lookup(const char *name); /* -1 if unknown */
/* Parse the op's schema (pure function of the static text; no caching, no global state). */
void atl_op_schema(atl_op op, atl_attr_schema *out);
int atl_op_attr_index(atl_op op, const char *attr_name); /* -1 if not in the schema */

/* ------------------------------------------------------------------------------------------ */
/* nodes, parameters, functions, module */
typedef struct atl_node {
    atl_op op;
    int32_t n_src;
    int32_t *src;    /* node indices within the same function */
    atl_attr *attrs; /* schema order; NULL when the schema is empty */
    int32_t n_attrs;
    atl_type type;
    atl_loc loc;
    int64_t arena; /* byte offset planned by the schedule pass; -1: none (unscheduled, or the
                      value lives outside the arena: inputs, parameters, reshape views) */
} atl_node;

typedef enum atl_init_kind {
    ATL_INIT_ZEROS = 0,
    ATL_INIT_ONES,
    ATL_INIT_CONST,        /* a */
    ATL_INIT_NORMAL,       /* std a */
    ATL_INIT_TRUNC_NORMAL, /* std a, truncated at +-2 std */
    ATL_INIT_UNIFORM,      /* [a, b] */
    ATL_INIT_FAN_IN,       /* uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's linear default */
} atl_init_kind;

typedef struct atl_init {
    atl_init_kind kind;
    double a, b;
} atl_init;

/* "trunc_normal(0.02)", "zeros", ... into buf */
char *atl_init_str(const atl_init *in, char *buf, size_t n);
/* Parses the same syntax; returns 0 or -1 (with message in err). */
int atl_init_parse(const char *s, atl_init *out, char *err, size_t errlen);

typedef struct atl_param {
    const char *name;
    atl_type type;
    atl_init init;
    bool frozen;     /* excluded from training */
    int32_t analog;  /* index of the winning `layers` rule of the analog config, -1: digital */
    atl_loc loc;
} atl_param;

/* An analog tile: a rows x cols block of a linear layer's weight parameter living on a simulated
 * crossbar (passes/analog_map.c). Rows are outputs, columns inputs. */
typedef struct atl_tile_decl {
    const char *name;
    int64_t rows, cols;
    const char *param;  /* the digital weight it holds a block of */
    int64_t row0, col0; /* the block's position in the weight matrix */
    int32_t rule;       /* index of the `layers` rule of the analog section that configures it */
    uint64_t stream;    /* RNG stream id (stable: derived from the name) */
    atl_loc loc;
} atl_tile_decl;

typedef struct atl_func {
    const char *name;
    atl_node *nodes;
    int32_t n_nodes, cap_nodes;
    atl_param *params; /* parameters declared in this function (main: the module's) */
    int32_t n_params, cap_params;
    atl_tile_decl *tiles; /* analog tiles (after analog-map) */
    int32_t n_tiles, cap_tiles;
    int32_t *outputs;
    const char **output_names; /* may contain NULL */
    int32_t n_outputs;
} atl_func;

/* Configuration tree: a section with an optional label and ordered children (entries or nested
 * sections). Values are compile-time constants. */
typedef enum atl_value_kind {
    ATL_VAL_INT = 1,
    ATL_VAL_FLOAT,
    ATL_VAL_BOOL,
    ATL_VAL_STR,
    ATL_VAL_LIST,
} atl_value_kind;

typedef struct atl_value atl_value;
struct atl_value {
    atl_value_kind kind;
    int64_t i;
    double f;
    bool b;
    const char *s;
    atl_value *items;
    int32_t n_items;
};

typedef struct atl_cfg atl_cfg;
struct atl_cfg {
    const char *key;   /* section name or entry key (dotted) */
    const char *label; /* section label or NULL */
    bool is_entry;
    atl_value value; /* entries */
    atl_cfg *kids;   /* sections */
    int32_t n_kids, cap_kids;
    atl_loc loc;
};

typedef struct atl_module {
    atl_arena arena;
    const char *name;
    int64_t batch;
    const char **sources; /* source paths; atl_loc.file indexes this */
    int32_t n_sources, cap_sources;
    atl_func *funcs; /* funcs[0] is main */
    int32_t n_funcs, cap_funcs;
    atl_cfg *configs; /* top-level sections (analog, experiment, ...) */
    int32_t n_configs, cap_configs;
    int64_t arena_size; /* bytes, set by the schedule pass; 0: not scheduled */
} atl_module;

atl_module *atl_module_new(const char *name, int64_t batch);
void atl_module_free(atl_module *m);
atl_module *atl_module_clone(const atl_module *m);
int32_t atl_module_add_source(atl_module *m, const char *path); /* dedups by path */
atl_func *atl_module_add_func(atl_module *m, const char *name);  /* may move funcs[] */
int32_t atl_module_find_func(const atl_module *m, const char *name);
static inline atl_func *atl_module_main(atl_module *m) { return m->n_funcs ? &m->funcs[0] : NULL; }

/* Node construction: copies src and attrs into the arena. Attributes not given (kind NONE) take
 * the schema default. Returns the new node's index. */
int32_t atl_func_add_node(atl_module *m, atl_func *f, atl_op op, const int32_t *src, int n_src,
                          const atl_attr *attrs, int n_attrs, atl_type type, atl_loc loc);
int32_t atl_func_add_param(atl_module *m, atl_func *f, const char *name, atl_type type,
                           atl_init init, atl_loc loc); /* -1 if the name exists */
int32_t atl_func_find_param(const atl_func *f, const char *name);
int32_t atl_func_add_tile(atl_module *m, atl_func *f, const atl_tile_decl *t); /* -1: duplicate */
int32_t atl_func_find_tile(const atl_func *f, const char *name);
void atl_func_set_outputs(atl_module *m, atl_func *f, const int32_t *outs, const char **names,
                          int n);

/* Attribute helpers */
static inline atl_attr atl_attr_int(int64_t i) { return (atl_attr){.kind = ATL_ATTR_INT, .v.i = i}; }
static inline atl_attr atl_attr_float(double f) { return (atl_attr){.kind = ATL_ATTR_FLOAT, .v.f = f}; }
static inline atl_attr atl_attr_bool(bool b) { return (atl_attr){.kind = ATL_ATTR_BOOL, .v.b = b}; }
static inline atl_attr atl_attr_str(const char *s) { return (atl_attr){.kind = ATL_ATTR_STR, .v.s = s}; }
static inline atl_attr atl_attr_ints(const int64_t *v, int n)
{
    return (atl_attr){.kind = ATL_ATTR_INTS, .n = n, .v.ints = v};
}
const atl_attr *atl_node_attr(const atl_node *n, const char *name); /* NULL if absent */
int64_t atl_node_attr_int(const atl_node *n, const char *name);
double atl_node_attr_float(const atl_node *n, const char *name);
bool atl_node_attr_bool(const atl_node *n, const char *name);
const char *atl_node_attr_str(const atl_node *n, const char *name);
bool atl_attr_equal(const atl_attr *a, const atl_attr *b);

/* Config helpers (config.c) */
atl_cfg *atl_cfg_add_section(atl_module *m, atl_cfg *parent, const char *key, const char *label,
                             atl_loc loc); /* parent NULL: top level */
atl_cfg *atl_cfg_add_entry(atl_module *m, atl_cfg *parent, const char *key, atl_value v,
                           atl_loc loc);
const atl_cfg *atl_cfg_find(const atl_module *m, const char *section); /* first top-level match */
const atl_cfg *atl_cfg_child(const atl_cfg *c, const char *key);       /* last match wins */
void atl_value_print(FILE *out, const atl_value *v);
/* "..." with \" \\ \n \t and \xNN escapes (the IR parser and the DSL lexer read them back). */
void atl_print_string_literal(FILE *out, const char *s);
bool atl_value_equal(const atl_value *a, const atl_value *b);
atl_value atl_value_copy(atl_arena *a, const atl_value *v);
void atl_cfg_copy_into(atl_module *dst, atl_cfg *dst_parent, const atl_cfg *src);
void atl_cfg_free_tree(atl_cfg *c); /* frees the kids arrays (strings live in the arena) */
/* Command-line overrides: `--set analog.io.out_noise=0.1`. The value text is an integer, float,
 * true/false or a (quoted or bare) string. Sections on the path are created as needed; an
 * existing entry of that name is replaced, else the entry is appended (later entries win). */
atl_value atl_value_parse(atl_arena *a, const char *text);
int atl_cfg_set_path(atl_module *m, const char *path, atl_value v, char *err, size_t errlen);
void atl_cfg_remove(atl_module *m, const char *section); /* every top-level section of that name */
/* Merge src into dst (parent NULL: top level): an entry replaces the last entry of its key, a
 * section merges into the last section of the same key and label, anything else is appended.
 * file_map maps src's loc.file to dst's (NULL: same table). */
void atl_cfg_merge(atl_module *dst, atl_cfg *parent, const atl_cfg *src, const int32_t *file_map);
/* Copy every top-level section of src into dst: merged, or replacing dst's sections of the same
 * key. Source locations are remapped. */
void atl_cfg_copy_sections(atl_module *dst, const atl_module *src, bool merge);
/* Glob match with '*' (any run, also across dots) and '?' (one character). */
bool atl_glob_match(const char *pattern, const char *text);
/* Resolve analog bindings of main's parameters from the `analog` section's `layers "GLOB"`
 * rules (later rules win; a rule with `digital = true` makes a parameter digital). Reports a
 * warning for every rule that matches no parameter when d is not NULL. */
void atl_analog_resolve(atl_module *m, atl_diag *d);

/* ------------------------------------------------------------------------------------------ */
/* shapes.c: infer a node's result type from its inputs and attributes. Returns 0 and sets *out,
 * or -1 with a message in err. For ops that take the declared type (input, param, full,
 * reshape), *out must hold the declared type on entry; it is validated. */
int atl_infer_type(const atl_module *m, const atl_func *f, const atl_node *n, atl_type *out,
                   char *err, size_t errlen);
/* Broadcast two shapes (numpy rules); -1 if incompatible. */
int atl_broadcast(const atl_type *a, const atl_type *b, atl_type *out);

/* verify.c: structural checks (operand indices, arity, attribute kinds, dtypes, types equal to
 * the inferred ones, call targets, outputs). Reports every problem; returns the error count. */
int atl_verify(const atl_module *m, atl_diag *d);

/* print.c */
void atl_print_module(FILE *out, const atl_module *m);
char *atl_print_module_to_string(const atl_module *m); /* malloc'd */
/* A short human summary: parameter count/size, op histogram, functions. */
void atl_print_summary(FILE *out, const atl_module *m);

/* parse.c: parse `.atlir` text registered in d as source_id. NULL on error (reported). */
atl_module *atl_parse_ir(atl_diag *d, int source_id);

/* diagnostics at an IR location (loads the source file into d if needed) */
void atl_ir_report(atl_diag *d, const atl_module *m, atl_severity sev, atl_loc loc,
                   const char *fmt, ...) ATL_PRINTF(5, 6);

#endif
