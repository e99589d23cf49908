/* atl_parse: run the scanner and parser over one registered source. */
#include <limits.h>
#include <stdlib.h>

#include "ast.h"
#include "parser.h"
#include "lexer.h"

atl_ast *atl_parse(atl_diag *d, int source_id)
{
    /* A failed atl_diag_load_file returns -1 and has already said why. */
    if (source_id < 0 && atl_diag_errors(d) > 0)
        return NULL;
    const atl_source *src = atl_diag_source(d, source_id);
    if (!src) {
        atl_diag_error(d, ATL_NO_SPAN, "internal error: no source with id %d to parse", source_id);
        return NULL;
    }
    /* flex takes the buffer length as an int, and spans are 32-bit offsets. */
    if (src->len > (size_t)INT_MAX - 2) {
        atl_diag_error(d, ATL_NO_SPAN, "'%s' is too large to parse (%zu bytes)", src->path,
                       src->len);
        return NULL;
    }
    int errors_before = atl_diag_errors(d);
    atl_fe_parser ps = {
        .diag = d,
        .file = source_id,
        .text = src->text,
        .len = (uint32_t)src->len,
    };
    yyscan_t scanner;
    if (atl_yylex_init_extra(&ps, &scanner) != 0) {
        atl_diag_error(d, ATL_NO_SPAN, "out of memory starting the scanner");
        return NULL;
    }
    /* scan_bytes copies the text, so embedded NUL bytes are scanned (and rejected) as
     * characters rather than ending the input early. */
    YY_BUFFER_STATE buf = atl_yy_scan_bytes(src->text, (int)src->len, scanner);
    int rc = atl_yyparse(scanner, &ps);
    atl_yy_delete_buffer(buf, scanner);
    atl_yylex_destroy(scanner);

    if (rc != 0 && atl_diag_errors(d) == errors_before)
        atl_diag_error(d, ATL_NO_SPAN, "internal error: the parser stopped without a message");
    if (rc != 0 || atl_diag_errors(d) != errors_before || !ps.root) {
        atl_ast_free(ps.root);
        return NULL;
    }
    return ps.root;
}
