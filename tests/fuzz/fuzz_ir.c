/* libFuzzer entry for the `.atlir` parser and the passes behind it. For every input:
 *  - parsing must not crash, leak or hang, and returns a module exactly when no error was
 *    reported;
 *  - a module that verifies must survive the round trip: print(parse(print(m))) == print(m);
 *  - the default pipeline (expand, shapes, verify, dce, cse) must run on it without crashing,
 *    and whatever it produces must verify and print;
 *  - fuse must then succeed, produce IR that verifies, and change nothing when run again. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "pass.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    if (!sink)
        abort();
    atl_diag d;
    atl_diag_init(&d, sink);
    int id = atl_diag_add_source(&d, "fuzz.atlir", (const char *)data, size);
    if (id < 0)
        abort();
    atl_module *m = atl_parse_ir(&d, id);
    if ((m != NULL) != (atl_diag_errors(&d) == 0))
        abort();
    if (m && atl_verify(m, &d) == 0) {
        char *a = atl_print_module_to_string(m);
        int id2 = atl_diag_add_source(&d, "printed.atlir", a, strlen(a));
        atl_module *m2 = atl_parse_ir(&d, id2);
        if (!m2)
            abort();
        char *b = atl_print_module_to_string(m2);
        if (strcmp(a, b) != 0)
            abort();
        free(a);
        free(b);
        atl_module_free(m2);

        atl_pipeline pl;
        atl_pipeline_init(&pl);
        pl.dump = sink;
        atl_pipeline_default(&pl);
        int errs = atl_diag_errors(&d);
        if (atl_pipeline_run(&pl, m, &d) == 0) {
            if (atl_diag_errors(&d) != errs || atl_verify(m, &d) != 0)
                abort();
            atl_print_module(sink, m);
            atl_pipeline pf;
            atl_pipeline_init(&pf);
            pf.dump = sink;
            if (atl_pipeline_parse(&pf, "fuse,verify", &d) || atl_pipeline_run(&pf, m, &d))
                abort();
            char *f1 = atl_print_module_to_string(m);
            if (atl_pipeline_run(&pf, m, &d))
                abort();
            char *f2 = atl_print_module_to_string(m);
            if (strcmp(f1, f2) != 0)
                abort();
            free(f1);
            free(f2);
        }
    }
    atl_module_free(m);
    atl_diag_fini(&d);
    return 0;
}
