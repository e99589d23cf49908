/* libFuzzer entry for the DSL front end: the input bytes are registered as a source and parsed.
 * Besides "no crash, leak or hang" (ASan/UBSan, libFuzzer's timeouts), it checks the parser's
 * contract: a tree is returned exactly when no error was reported, every span of the tree lies
 * inside the source, and the tree height respects ATL_AST_MAX_DEPTH. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_span(atl_span s, int file, size_t len, bool optional)
{
    if (optional && s.file == -1)
        return;
    if (s.file != file || s.begin > s.end || s.end > len)
        abort();
}

static int check_tree(const atl_ast *n, int file, size_t len)
{
    if (!n)
        return 0;
    check_span(n->span, file, len, false);
    check_span(n->name_span, file, len, true);
    check_span(n->str_span, file, len, true);
    int h = 0, k;
    if ((k = check_tree(n->a, file, len)) > h)
        h = k;
    if ((k = check_tree(n->b, file, len)) > h)
        h = k;
    if ((k = check_tree(n->c, file, len)) > h)
        h = k;
    for (int i = 0; i < n->n_kids; i++)
        if ((k = check_tree(n->kids[i], file, len)) > h)
            h = k;
    if (h + 1 != n->depth || n->depth > ATL_AST_MAX_DEPTH)
        abort();
    return h + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Messages are rendered (that code runs too) into a sink that is opened once. */
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    if (!sink)
        abort();
    atl_diag d;
    atl_diag_init(&d, sink);
    int id = atl_diag_add_source(&d, "fuzz.atl", (const char *)data, size);
    if (id < 0)
        abort();
    atl_ast *ast = atl_parse(&d, id);
    if ((ast != NULL) != (atl_diag_errors(&d) == 0))
        abort();
    if (ast) {
        check_tree(ast, id, size);
        atl_ast_dump(sink, ast);
        atl_ast_free(ast);
    }
    atl_diag_fini(&d);
    return 0;
}
