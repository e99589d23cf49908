/* atlc check | compile | opt */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jit.h"
#include "lower.h"
#include "pass.h"

/* Options shared by compile and opt: the pass pipeline and its instrumentation. */
typedef struct pipe_opts {
    atl_pipeline pl;
    const char *passes;
} pipe_opts;

/* Returns 1 if the current option was a pipeline option, 0 if not, -1 on a usage error. */
static int pipeline_option(cli_args *a, pipe_opts *po)
{
    atl_pipeline *p = &po->pl;
    if (cli_is(a, "--passes")) {
        po->passes = cli_value(a);
        return po->passes ? 1 : -1;
    }
    if (cli_is(a, "--print-after") || cli_is(a, "--print-before")) {
        bool after = cli_is(a, "--print-after");
        const char *v = cli_value(a);
        if (!v)
            return -1;
        /* comma-separated lists are accepted too */
        char *dup = strdup(v), *save = NULL;
        for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            const char **list = after ? p->print_after : p->print_before;
            int *n = after ? &p->n_print_after : &p->n_print_before;
            if (*n == ATL_MAX_PIPELINE)
                break;
            /* names must outlive dup: keep pointers into argv where possible */
            list[(*n)++] = strdup(t);
        }
        free(dup);
        return 1;
    }
    if (cli_is(a, "--print-after-all")) {
        p->print_after_all = true;
        return 1;
    }
    if (cli_is(a, "--print-before-all")) {
        p->print_before_all = true;
        return 1;
    }
    if (cli_is(a, "--time-passes")) {
        p->time_passes = true;
        return 1;
    }
    if (cli_is(a, "--verify-each")) {
        p->verify_each = true;
        return 1;
    }
    return 0;
}

static void pipe_opts_free(pipe_opts *po)
{
    for (int i = 0; i < po->pl.n_print_after; i++)
        free((char *)po->pl.print_after[i]);
    for (int i = 0; i < po->pl.n_print_before; i++)
        free((char *)po->pl.print_before[i]);
}

static bool pipeline_setup(pipe_opts *po, atl_diag *d, bool default_pipeline)
{
    if (po->passes) {
        if (atl_pipeline_parse(&po->pl, po->passes, d))
            return false;
    } else if (default_pipeline) {
        atl_pipeline_default(&po->pl);
    }
    return atl_pipeline_check_names(&po->pl, d) == 0;
}

/* compile-time model options */
typedef struct model_opts {
    atl_lower_opts lo;
    const char *defines[256];
    const char *configs[16];
    int n_configs;
    const char *sets[256];
    int n_sets;
    bool digital;
} model_opts;

static int model_option(cli_args *a, model_opts *mo)
{
    if (cli_is(a, "-D") || cli_is(a, "--define"))
        return cli_push(a, mo->defines, &mo->lo.n_defines, 256);
    if (cli_is(a, "--batch")) {
        long long b;
        if (!cli_int(a, 1, 1 << 20, &b))
            return -1;
        mo->lo.batch = b;
        return 1;
    }
    if (cli_is(a, "--model")) {
        mo->lo.model_name = cli_value(a);
        return mo->lo.model_name ? 1 : -1;
    }
    if (cli_is(a, "--config"))
        return cli_push(a, mo->configs, &mo->n_configs, 16);
    if (cli_is(a, "--set"))
        return cli_push(a, mo->sets, &mo->n_sets, 256);
    if (cli_is(a, "--digital")) {
        mo->digital = true;
        return 1;
    }
    return 0;
}

/* Compile a model file and apply --config / --set / --digital. */
static atl_module *compile_model(atl_diag *d, const char *file, const model_opts *mo)
{
    atl_module *m = atl_compile_file(d, file, &mo->lo);
    if (m && atl_apply_overrides(d, m, mo->configs, mo->n_configs, mo->sets, mo->n_sets,
                                 mo->digital)) {
        atl_module_free(m);
        return NULL;
    }
    return m;
}

static void model_opts_init(model_opts *mo)
{
    memset(mo, 0, sizeof *mo);
    mo->lo.batch = 8;
    mo->lo.defines = mo->defines;
}

static const char *check_help =
    "usage: atlc check [options] FILE...\n"
    "\n"
    "Parse and elaborate model files, expand them and verify the IR; print located\n"
    "diagnostics. Exit status 0 if every file is correct, 1 otherwise.\n"
    "\n"
    "options:\n"
    "  -D NAME=VALUE    override a model parameter (repeatable)\n"
    "  --batch=N        batch size B (default 8)\n"
    "  --model=NAME     which model of the file (default: the only one)\n"
    "  --werror         treat warnings as errors\n";

int cmd_check(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, argc, argv, "check");
    model_opts mo;
    model_opts_init(&mo);
    const char *files[256];
    int nf = 0;
    bool werror = false;
    while (cli_next(&a)) {
        int r;
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) {
            fputs(check_help, stdout);
            return ATL_EXIT_OK;
        }
        if ((r = model_option(&a, &mo)) != 0) {
            if (r < 0)
                return ATL_EXIT_USAGE;
        } else if (cli_is(&a, "--werror")) {
            werror = true;
        } else if (cli_positional(&a)) {
            if (nf == 256) {
                cli_usage_error("check", "too many files");
                return ATL_EXIT_USAGE;
            }
            files[nf++] = a.cur;
        } else {
            return cli_unknown(&a);
        }
    }
    if (a.error)
        return ATL_EXIT_USAGE;
    if (nf == 0) {
        cli_usage_error("check", "no input files");
        return ATL_EXIT_USAGE;
    }
    int failed = 0;
    for (int i = 0; i < nf; i++) {
        atl_diag d;
        atl_diag_init(&d, stderr);
        d.warnings_as_errors = werror;
        atl_module *m = compile_model(&d, files[i], &mo);
        if (m) {
            atl_pipeline pl;
            atl_pipeline_init(&pl);
            static const char *const names[] = {"expand", "shapes", "verify"};
            for (size_t k = 0; k < 3; k++)
                pl.passes[pl.n++] = atl_pass_lookup(names[k]);
            atl_pipeline_run(&pl, m, &d);
        }
        if (m && atl_diag_errors(&d) == 0) {
            const atl_func *f = &m->funcs[0];
            int64_t np = 0;
            for (int p = 0; p < f->n_params; p++)
                np += atl_type_numel(&f->params[p].type);
            printf("%s: ok (model %s: %d parameter tensors, %lld values, %d ops)\n", files[i],
                   m->name, f->n_params, (long long)np, f->n_nodes);
        } else {
            failed++;
        }
        atl_module_free(m);
        atl_diag_fini(&d);
    }
    return failed ? ATL_EXIT_USER : ATL_EXIT_OK;
}

static const char *compile_help =
    "usage: atlc compile [options] FILE.atl\n"
    "\n"
    "Elaborate a model file into IR, run the pass pipeline and print the result.\n"
    "\n"
    "options:\n"
    "  -D NAME=VALUE        override a model parameter (repeatable), e.g. -D dim=96\n"
    "  --batch=N            batch size B (default 8)\n"
    "  --model=NAME         which model of the file (default: the only one)\n"
    "  --config FILE        use the configuration sections (e.g. analog { ... }) of FILE\n"
    "  --set PATH=VALUE     override a configuration entry (e.g. analog.io.out_noise=0.1)\n"
    "  --digital            drop the analog section\n"
    "  --emit=KIND          ir (default): the .atlir text; summary: a short report;\n"
    "                       llvm: the step's LLVM IR after default<O3>; asm: its host\n"
    "                       assembly (both schedule the module first if --passes did not)\n"
    "  -o FILE              write the output to FILE (atomically) instead of stdout\n"
    "  --passes=LIST        run these passes instead of the default pipeline\n"
    "                       (default: expand,shapes,verify,dce,cse)\n"
    "  --print-before=PASS  dump the IR before PASS (repeatable, comma lists allowed)\n"
    "  --print-after=PASS   dump the IR after PASS\n"
    "  --print-before-all, --print-after-all\n"
    "  --time-passes        report the time spent in each pass\n"
    "  --verify-each        run the verifier after every pass\n"
    "  --werror             treat warnings as errors\n"
    "\n"
    "passes:\n";

static void print_pass_list(FILE *f)
{
    for (int i = 0; atl_pass_at(i); i++)
        fprintf(f, "  %-10s %s\n", atl_pass_at(i)->name, atl_pass_at(i)->description);
}

static int emit_module(atl_module *m, const char *emit, const char *out_path, atl_diag *d)
{
    cli_out o;
    bool native = strcmp(emit, "llvm") == 0 || strcmp(emit, "asm") == 0;
    if (native && m->arena_size <= 0) {
        /* the code generator needs the arena plan */
        atl_pipeline pl;
        atl_pipeline_init(&pl);
        if (atl_pipeline_parse(&pl, "schedule", d) || atl_pipeline_run(&pl, m, d))
            return ATL_EXIT_USER;
    }
    if (!cli_out_open(&o, out_path, d))
        return ATL_EXIT_USER;
    if (native) {
        char err[1024];
        if (atl_llvm_emit_module(m, strcmp(emit, "llvm") == 0 ? ATL_EMIT_LLVM_IR : ATL_EMIT_ASM,
                                 o.f, err, sizeof err)) {
            atl_diag_error(d, ATL_NO_SPAN, "%s", err);
            cli_out_abort(&o);
            return ATL_EXIT_USER;
        }
    } else if (strcmp(emit, "summary") == 0)
        atl_print_summary(o.f, m);
    else
        atl_print_module(o.f, m);
    return cli_out_commit(&o, d) ? ATL_EXIT_OK : ATL_EXIT_USER;
}

/* -o, --emit (one of the NULL-terminated kinds) and the one positional input file of compile and
 * opt: 1 consumed, 0 not ours, -1 error. */
static int io_option(cli_args *a, const char **out, const char **emit, const char *const *kinds,
                     const char *kinds_text, const char **file)
{
    if (cli_is(a, "-o") || cli_is(a, "--output"))
        return (*out = cli_value(a)) ? 1 : -1;
    if (cli_is(a, "--emit")) {
        const char *v = cli_value(a);
        if (!v)
            return -1;
        for (int i = 0; kinds[i]; i++)
            if (strcmp(v, kinds[i]) == 0) {
                *emit = v;
                return 1;
            }
        cli_usage_error(a->cmd, "--emit must be %s, got '%s'", kinds_text, v);
        return -1;
    }
    if (!cli_positional(a))
        return 0;
    if (*file) {
        cli_usage_error(a->cmd, "only one input file, got '%s' and '%s'", *file, a->cur);
        return -1;
    }
    *file = a->cur;
    return 1;
}

int cmd_compile(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, argc, argv, "compile");
    model_opts mo;
    model_opts_init(&mo);
    pipe_opts po;
    memset(&po, 0, sizeof po);
    atl_pipeline_init(&po.pl);
    const char *file = NULL, *out = NULL, *emit = "ir";
    bool werror = false;
    int rc = ATL_EXIT_OK;
    while (cli_next(&a)) {
        int r;
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) {
            fputs(compile_help, stdout);
            print_pass_list(stdout);
            pipe_opts_free(&po);
            return ATL_EXIT_OK;
        }
        static const char *const kinds[] = {"ir", "summary", "llvm", "asm", NULL};
        if ((r = model_option(&a, &mo)) != 0 || (r = pipeline_option(&a, &po)) != 0 ||
            (r = io_option(&a, &out, &emit, kinds, "ir, summary, llvm or asm", &file)) != 0) {
            if (r < 0) {
                rc = ATL_EXIT_USAGE;
                goto out;
            }
        } else if (cli_is(&a, "--werror")) {
            werror = true;
        } else {
            rc = cli_unknown(&a);
            goto out;
        }
    }
    if (a.error) {
        rc = ATL_EXIT_USAGE;
        goto out;
    }
    if (!file) {
        cli_usage_error("compile", "no input file");
        rc = ATL_EXIT_USAGE;
        goto out;
    }
    {
        atl_diag d;
        atl_diag_init(&d, stderr);
        d.warnings_as_errors = werror;
        atl_module *m = NULL;
        if (pipeline_setup(&po, &d, true))
            m = compile_model(&d, file, &mo);
        if (m && atl_pipeline_run(&po.pl, m, &d) == 0 && atl_diag_errors(&d) == 0)
            rc = emit_module(m, emit, out, &d);
        else
            rc = ATL_EXIT_USER;
        atl_module_free(m);
        atl_diag_fini(&d);
    }
out:
    pipe_opts_free(&po);
    return rc;
}

static const char *opt_help =
    "usage: atlc opt [options] FILE.atlir\n"
    "\n"
    "Parse IR text, verify it, run passes and print the result (like mlir-opt).\n"
    "print(parse(print(m))) == print(m): with no passes, the output equals the input\n"
    "when the input was printed by atlc.\n"
    "\n"
    "options:\n"
    "  --passes=LIST        passes to run (default: none); the IR is verified before\n"
    "  -o FILE              write the output to FILE (atomically) instead of stdout\n"
    "  --emit=KIND          ir (default) or summary\n"
    "  --no-verify          do not verify the input before the passes (e.g. to let the\n"
    "                       shapes pass recompute placeholder types)\n"
    "  --print-before=PASS, --print-after=PASS, --print-before-all, --print-after-all\n"
    "  --time-passes, --verify-each\n"
    "\n"
    "passes:\n";

int cmd_opt(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, argc, argv, "opt");
    pipe_opts po;
    memset(&po, 0, sizeof po);
    atl_pipeline_init(&po.pl);
    const char *file = NULL, *out = NULL, *emit = "ir";
    bool verify_input = true;
    int rc = ATL_EXIT_OK;
    while (cli_next(&a)) {
        int r;
        if (cli_is(&a, "--help") || cli_is(&a, "-h")) {
            fputs(opt_help, stdout);
            print_pass_list(stdout);
            pipe_opts_free(&po);
            return ATL_EXIT_OK;
        }
        static const char *const kinds[] = {"ir", "summary", NULL};
        if ((r = pipeline_option(&a, &po)) != 0 ||
            (r = io_option(&a, &out, &emit, kinds, "ir or summary", &file)) != 0) {
            if (r < 0) {
                rc = ATL_EXIT_USAGE;
                goto out;
            }
        } else if (cli_is(&a, "--no-verify")) {
            verify_input = false;
        } else {
            rc = cli_unknown(&a);
            goto out;
        }
    }
    if (a.error) {
        rc = ATL_EXIT_USAGE;
        goto out;
    }
    if (!file) {
        cli_usage_error("opt", "no input file");
        rc = ATL_EXIT_USAGE;
        goto out;
    }
    {
        atl_diag d;
        atl_diag_init(&d, stderr);
        atl_module *m = NULL;
        int id = -1;
        if (pipeline_setup(&po, &d, false))
            id = atl_diag_load_file(&d, file);
        if (id >= 0)
            m = atl_parse_ir(&d, id);
        if (m && (!verify_input || atl_verify(m, &d) == 0) &&
            atl_pipeline_run(&po.pl, m, &d) == 0 &&
            atl_diag_errors(&d) == 0)
            rc = emit_module(m, emit, out, &d);
        else
            rc = ATL_EXIT_USER;
        atl_module_free(m);
        atl_diag_fini(&d);
    }
out:
    pipe_opts_free(&po);
    return rc;
}
