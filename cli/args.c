#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_args_init(cli_args *a, int argc, char **argv, const char *cmd)
{
    memset(a, 0, sizeof *a);
    a->argc = argc;
    a->argv = argv;
    a->i = 0;
    a->cmd = cmd;
}

void cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "atlc %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see 'atlc %s --help')\n", cmd);
    va_end(ap);
}

bool cli_next(cli_args *a)
{
    if (a->error)
        return false;
    a->i++;
    if (a->i >= a->argc)
        return false;
    a->cur = a->argv[a->i];
    a->inline_value = NULL;
    a->name[0] = '\0';
    if (!a->only_positional && strcmp(a->cur, "--") == 0) {
        a->only_positional = true;
        return cli_next(a);
    }
    if (a->only_positional || a->cur[0] != '-' || a->cur[1] == '\0')
        return true; /* positional ("-" alone means stdin/stdout) */
    if (a->cur[1] == '-') {
        const char *eq = strchr(a->cur, '=');
        size_t n = eq ? (size_t)(eq - a->cur) : strlen(a->cur);
        if (n >= sizeof a->name)
            n = sizeof a->name - 1;
        memcpy(a->name, a->cur, n);
        a->name[n] = '\0';
        a->inline_value = eq ? eq + 1 : NULL;
    } else {
        a->name[0] = '-';
        a->name[1] = a->cur[1];
        a->name[2] = '\0';
        a->inline_value = a->cur[2] ? a->cur + 2 : NULL;
    }
    return true;
}

bool cli_is(const cli_args *a, const char *opt) { return a->name[0] && strcmp(a->name, opt) == 0; }

bool cli_positional(const cli_args *a) { return a->name[0] == '\0'; }

const char *cli_value(cli_args *a)
{
    if (a->inline_value)
        return a->inline_value;
    if (a->i + 1 >= a->argc) {
        cli_usage_error(a->cmd, "option %s needs a value", a->name);
        a->error = true;
        return NULL;
    }
    return a->argv[++a->i];
}

bool cli_int(cli_args *a, long long lo, long long hi, long long *out)
{
    const char *v = cli_value(a);
    if (!v)
        return false;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        cli_usage_error(a->cmd, "%s expects an integer in [%lld, %lld], got '%s'", a->name, lo,
                        hi, v);
        a->error = true;
        return false;
    }
    *out = x;
    return true;
}

bool cli_double(cli_args *a, double *out)
{
    const char *v = cli_value(a);
    if (!v)
        return false;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v) {
        cli_usage_error(a->cmd, "%s expects a number, got '%s'", a->name, v);
        a->error = true;
        return false;
    }
    *out = x;
    return true;
}

int cli_unknown(cli_args *a)
{
    if (a->error)
        return ATL_EXIT_USAGE;
    cli_usage_error(a->cmd, "unknown option '%s'", a->cur);
    a->error = true;
    return ATL_EXIT_USAGE;
}

int cli_push(cli_args *a, const char **list, int *n, int cap)
{
    char opt[64];
    snprintf(opt, sizeof opt, "%s", a->name);
    const char *v = cli_value(a);
    if (!v)
        return -1;
    if (*n >= cap) {
        cli_usage_error(a->cmd, "too many %s options (at most %d)", opt, cap);
        return -1;
    }
    list[(*n)++] = v;
    return 1;
}
