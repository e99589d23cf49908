/* The atlc driver: shared helpers of the subcommands.
 *
 *   main.c          dispatch, --help, --version, exit codes
 *   args.c          a small argument scanner (--opt=value, --opt value, -D k=v, -o FILE)
 *   out.c           atomic output files (temp + rename; nothing half-written on failure)
 *   cmd_compile.c   check, compile, opt
 *   cmd_train.c     train, eval
 *   cmd_device.c    device list / show / response
 *   cmd_run.c       run, sweep, merge (experiments)
 *   cmd_report.c    report (HTML + SVG; the parts live in report/)
 */
#ifndef ATL_CLI_H
#define ATL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "diag.h"

/* exit codes */
enum { ATL_EXIT_OK = 0, ATL_EXIT_USER = 1, ATL_EXIT_USAGE = 2, ATL_EXIT_INTERNAL = 3 };

/* Argument scanner. Usage:
 *   cli_args a; cli_args_init(&a, argc, argv);
 *   while (cli_next(&a)) {
 *     if (cli_is(&a, "--batch")) { const char *v = cli_value(&a); ... }
 *     else if (cli_positional(&a)) ...
 *     else return cli_unknown(&a);
 *   }
 * Long options take values as --opt=value or --opt value; short options as -o value or -ovalue. */
typedef struct cli_args {
    int argc;
    char **argv;
    int i;
    const char *cur;    /* current argument */
    const char *inline_value; /* value after '=' or glued to a short option */
    char name[64];      /* option name part of cur */
    bool only_positional; /* after "--" */
    const char *cmd;    /* subcommand name, for messages */
    bool error;
} cli_args;

void cli_args_init(cli_args *a, int argc, char **argv, const char *cmd);
bool cli_next(cli_args *a);
bool cli_is(const cli_args *a, const char *opt);
bool cli_positional(const cli_args *a);
const char *cli_value(cli_args *a); /* NULL after reporting a usage error */
bool cli_int(cli_args *a, long long lo, long long hi, long long *out);
bool cli_double(cli_args *a, double *out);
int cli_unknown(cli_args *a); /* reports, returns ATL_EXIT_USAGE */
/* The option's value appended to list[*n] (at most cap entries): 1, or -1 after a usage error. */
int cli_push(cli_args *a, const char **list, int *n, int cap);
void cli_usage_error(const char *cmd, const char *fmt, ...) ATL_PRINTF(2, 3);

/* Atomic output: open a temp file next to `path` ("-" means stdout). cli_out_commit renames it
 * into place; cli_out_abort removes it. */
typedef struct cli_out {
    FILE *f;
    char *path;
    char *tmp;
    bool is_stdout;
} cli_out;
bool cli_out_open(cli_out *o, const char *path, atl_diag *d);
bool cli_out_commit(cli_out *o, atl_diag *d);
void cli_out_abort(cli_out *o);

int cmd_check(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_opt(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_device(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
