/* The elaborator: AST -> IR.
 *
 * A model file is executed at compile time: integers, floats, booleans, strings and lists are
 * compile-time values; tensor operations append nodes to the IR function being built. Loops and
 * conditionals therefore unroll, and every shape is static. Each distinct block specialisation
 * (block, compile-time arguments, tensor argument types) becomes one IR function that `call`
 * nodes invoke with an instance name; the `expand` pass inlines them and gives parameters their
 * hierarchical names.
 */
#ifndef ATL_LOWER_H
#define ATL_LOWER_H

#include "ast.h"
#include "ir.h"

typedef struct atl_lower_opts {
    int64_t batch;          /* value of the builtin `B` (default 8) */
    const char *model_name; /* which model of the file; NULL: the only one */
    const char **defines;   /* "name=value" overrides of model parameters (-D) */
    int n_defines;
} atl_lower_opts;

/* Elaborate `file` (parsed from source_id). Returns NULL after reporting errors. */
atl_module *atl_lower(atl_diag *d, const atl_ast *file, int source_id, const atl_lower_opts *o);

/* Merge the configuration sections of another file into m (replacing sections of the same
 * names). Returns 0 or -1 after reporting errors. */
int atl_lower_config_file(atl_diag *d, atl_module *m, const char *path);

/* The command-line view of a module's configuration: sections of --config files replace the
 * model's, --digital drops the analog section, --set PATH=VALUE entries are applied last. */
int atl_apply_overrides(atl_diag *d, atl_module *m, const char *const *configs, int n_configs,
                        const char *const *sets, int n_sets, bool digital);

/* Load + parse + elaborate a model file. Returns NULL after reporting errors. */
atl_module *atl_compile_file(atl_diag *d, const char *path, const atl_lower_opts *o);

#endif
