/* atlc: the atl compiler driver, with git-style subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef ATL_VERSION
#define ATL_VERSION "0.0.0"
#endif

typedef struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"check", "parse, elaborate and verify model files", cmd_check},
    {"compile", "compile a model to IR (with pass dumps)", cmd_compile},
    {"opt", "run passes on IR text", cmd_opt},
    {"train", "train a model (digital SGD) on a data set", cmd_train},
    {"eval", "evaluate a checkpoint: accuracy, loss, confusion", cmd_eval},
    {"run", "run an experiment: pretraining, transfer tasks, methods, seeds", cmd_run},
    {"sweep", "run an experiment's parameter sweep (parallel, shardable)", cmd_sweep},
    {"merge", "merge sweep result shards", cmd_merge},
    {"report", "write an HTML report: tables, sweep plots, training curves, device", cmd_report},
    {"device", "analog device presets: list, show parameters, pulse-response curves", cmd_device},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: atlc [--version] [--help] COMMAND [ARGS]\n\n"
               "atl compiles models written in the atl DSL for analog in-memory training\n"
               "experiments.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'atlc COMMAND --help' describes a command's options.\n"
               "exit status: 0 success, 1 error in the input, 2 usage error, 3 internal error\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return ATL_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (strcmp(cmd, "help") == 0 && argc > 2) {
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(commands[i].name, argv[2]) == 0 && commands[i].run) {
                    char *args[] = {argv[2], "--help", NULL};
                    return commands[i].run(2, args);
                }
        }
        usage(stdout);
        return ATL_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
#ifdef ATL_HAVE_MPI
        printf("atlc %s (mpi)\n", ATL_VERSION);
#else
        printf("atlc %s\n", ATL_VERSION);
#endif
        return ATL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, cmd) != 0)
            continue;
        if (!commands[i].run) {
            fprintf(stderr, "atlc: '%s' is not available in this build yet\n", cmd);
            return ATL_EXIT_USAGE;
        }
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "atlc: '%s' is not an atlc command (see 'atlc --help')\n", cmd);
    return ATL_EXIT_USAGE;
}
