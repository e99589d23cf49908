#include "pass.h"

#include <string.h>
#include <time.h>

static const atl_pass_info registry[] = {
    {"expand", "inline block calls into the model, naming parameters by call path; fold "
               "trivial ops", atl_pass_expand},
    {"shapes", "infer the result type of every op", atl_pass_shapes},
    {"verify", "check the IR's structural invariants", atl_pass_verify},
    {"dce", "delete values that no output depends on", atl_pass_dce},
    {"cse", "merge identical pure operations", atl_pass_cse},
    {"autodiff", "append the backward graph of the \"loss\" output (grad.* outputs)",
     atl_pass_autodiff},
    {"analog-map", "put analog-bound linear layers onto tiles (mvm, transposed mvm, rank updates)",
     atl_pass_analog_map},
    {"noise", "make the IO non-idealities of analog MVMs explicit (is_perfect keeps them ideal)",
     atl_pass_noise},
    {"optimizer", "turn gradients into update ops (SGD for digital parameters, the configured "
                  "algorithm for analog tiles)",
     atl_pass_optimizer},
    {"fuse", "group elementwise ops into fused nodes (one loop each)", atl_pass_fuse},
    {"schedule", "plan the arena: buffer offsets with liveness-based reuse", atl_pass_schedule},
};

const atl_pass_info *atl_pass_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (strcmp(registry[i].name, name) == 0)
            return &registry[i];
    return NULL;
}

const atl_pass_info *atl_pass_at(int i)
{
    if (i < 0 || (size_t)i >= sizeof registry / sizeof registry[0])
        return NULL;
    return &registry[i];
}

void atl_pipeline_init(atl_pipeline *p)
{
    memset(p, 0, sizeof *p);
    p->dump = stdout;
    p->timing = stderr;
}

int atl_pipeline_parse(atl_pipeline *p, const char *list, atl_diag *d)
{
    char buf[64];
    const char *s = list;
    int rc = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n == 0 || n >= sizeof buf) {
            atl_diag_error(d, ATL_NO_SPAN, "invalid pass list '%s'", list);
            return -1;
        }
        memcpy(buf, s, n);
        buf[n] = '\0';
        const atl_pass_info *pi = atl_pass_lookup(buf);
        if (!pi) {
            atl_diag_error(d, ATL_NO_SPAN, "unknown pass '%s'", buf);
            rc = -1;
        } else if (p->n == ATL_MAX_PIPELINE) {
            atl_diag_error(d, ATL_NO_SPAN, "too many passes (at most %d)", ATL_MAX_PIPELINE);
            return -1;
        } else {
            p->passes[p->n++] = pi;
        }
        s += n;
        if (*s == ',')
            s++;
    }
    return rc;
}

void atl_pipeline_default(atl_pipeline *p)
{
    static const char *const names[] = {"expand", "shapes", "verify", "dce", "cse"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        p->passes[p->n++] = atl_pass_lookup(names[i]);
}

int atl_pipeline_check_names(const atl_pipeline *p, atl_diag *d)
{
    int rc = 0;
    for (int i = 0; i < p->n_print_after; i++)
        if (!atl_pass_lookup(p->print_after[i])) {
            atl_diag_error(d, ATL_NO_SPAN, "--print-after: unknown pass '%s'", p->print_after[i]);
            rc = -1;
        }
    for (int i = 0; i < p->n_print_before; i++)
        if (!atl_pass_lookup(p->print_before[i])) {
            atl_diag_error(d, ATL_NO_SPAN, "--print-before: unknown pass '%s'",
                           p->print_before[i]);
            rc = -1;
        }
    return rc;
}

static bool listed(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int atl_pipeline_run(const atl_pipeline *p, atl_module *m, atl_diag *d)
{
    atl_pass_ctx ctx = {.diag = d};
    double times[ATL_MAX_PIPELINE] = {0};
    int rc = 0, ran = 0;
    for (int i = 0; i < p->n; i++) {
        const atl_pass_info *pi = p->passes[i];
        if (p->print_before_all || listed(p->print_before, p->n_print_before, pi->name)) {
            fprintf(p->dump, "// -----// IR Dump Before %s //----- //\n", pi->name);
            atl_print_module(p->dump, m);
        }
        double t0 = now_s();
        int errs_before = atl_diag_errors(d);
        rc = pi->run(m, &ctx);
        if (!rc && atl_diag_errors(d) > errs_before)
            rc = 1;
        if (!rc && p->verify_each && pi->run != atl_pass_verify)
            rc = atl_verify(m, d) ? 1 : 0;
        times[i] = now_s() - t0;
        ran = i + 1;
        if (rc)
            break;
        if (p->print_after_all || listed(p->print_after, p->n_print_after, pi->name)) {
            fprintf(p->dump, "// -----// IR Dump After %s //----- //\n", pi->name);
            atl_print_module(p->dump, m);
        }
    }
    if (p->time_passes) {
        double total = 0;
        for (int i = 0; i < ran; i++)
            total += times[i];
        fprintf(p->timing, "===-------------------------------------------------------------===\n");
        fprintf(p->timing, "                      ... Pass execution timing report ...\n");
        fprintf(p->timing, "===-------------------------------------------------------------===\n");
        fprintf(p->timing, "  Total Execution Time: %.6f seconds\n\n", total);
        fprintf(p->timing, "   ---Wall Time---  --- Name ---\n");
        for (int i = 0; i < ran; i++)
            fprintf(p->timing, "   %.6f (%5.1f%%)  %s\n", times[i],
                    total > 0 ? 100.0 * times[i] / total : 0.0, p->passes[i]->name);
        fprintf(p->timing, "   %.6f (100.0%%)  Total\n", total);
    }
    return rc;
}
