/* DSL front end: AST dumps of valid programs (every construct of docs/DSL.md), spans, and the
 * exact location and text of syntax and lexical errors, including recovery (several errors in
 * one run), nesting limits and binary input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ast.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers */

typedef struct parsed {
    atl_diag d;
    int id;
    atl_ast *ast;
    char *diag_text; /* everything atl_diag printed */
    char *dump;      /* atl_ast_dump of the result, or NULL */
} parsed;

static void parse_bytes(parsed *p, const char *src, size_t len)
{
    size_t diag_len = 0;
    FILE *out = open_memstream(&p->diag_text, &diag_len);
    assert_non_null(out);
    atl_diag_init(&p->d, out);
    p->id = atl_diag_add_source(&p->d, "t.atl", src, len);
    assert_true(p->id >= 0);
    p->ast = atl_parse(&p->d, p->id);
    fclose(out);
    p->d.out = stderr;
    p->dump = NULL;
    if (p->ast) {
        size_t dump_len = 0;
        FILE *f = open_memstream(&p->dump, &dump_len);
        assert_non_null(f);
        atl_ast_dump(f, p->ast);
        fclose(f);
    }
}

static void parse_str(parsed *p, const char *src)
{
    parse_bytes(p, src, strlen(src));
}

static void parsed_free(parsed *p)
{
    atl_ast_free(p->ast);
    atl_diag_fini(&p->d);
    free(p->diag_text);
    free(p->dump);
}

/* Parse a valid program and compare its dump. */
static void check_dump(const char *src, const char *expected)
{
    parsed p;
    parse_str(&p, src);
    if (!p.ast || strcmp(p.dump, expected) != 0) {
        fprintf(stderr, "source:\n%s\ndiagnostics:\n%s\ndump:\n%s\nexpected:\n%s\n", src,
                p.diag_text, p.dump ? p.dump : "(null)", expected);
        fail();
    }
    assert_int_equal(atl_diag_errors(&p.d), 0);
    parsed_free(&p);
}

/* Parse an invalid program: the result must be NULL, and the first lines of the diagnostics
 * ("t.atl:L:C: error: ...") must be exactly `expected` (NULL-terminated list), in order. */
static void check_errors_n(const char *src, size_t len, const char *const *expected)
{
    parsed p;
    parse_bytes(&p, src, len);
    size_t n_expected = 0;
    while (expected[n_expected])
        n_expected++;
    bool ok = p.ast == NULL && atl_diag_errors(&p.d) == (int)n_expected;
    /* collect the header lines of the diagnostics */
    size_t k = 0;
    for (char *line = p.diag_text; ok && line && *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        if (strncmp(line, "t.atl:", 6) == 0 || strncmp(line, "atlc:", 5) == 0) {
            ok = k < n_expected && strlen(expected[k]) == ll &&
                 memcmp(line, expected[k], ll) == 0;
            k++;
        }
        line = nl ? nl + 1 : NULL;
    }
    ok = ok && k == n_expected;
    if (!ok) {
        fprintf(stderr, "source:\n%.*s\ndiagnostics (%d errors):\n%s\nexpected:\n", (int)len, src,
                atl_diag_errors(&p.d), p.diag_text);
        for (size_t i = 0; i < n_expected; i++)
            fprintf(stderr, "%s\n", expected[i]);
        fail();
    }
    parsed_free(&p);
}

#define CHECK_ERRORS(src, ...)                                                                    \
    check_errors_n((src), strlen(src), (const char *const[]){__VA_ARGS__, NULL})

/* ---------------------------------------------------------------------------------------------
 * Valid programs */

static const char example_src[] =
    "// A two-layer perceptron for 32x32 RGB images.\n"
    "block mlp(x, hidden, out) {\n"
    "  h = linear(x, hidden) as \"fc1\";     // parameters fc1.weight, fc1.bias\n"
    "  h = gelu(h);\n"
    "  return linear(h, out) as \"fc2\";\n"
    "}\n"
    "\n"
    "model mlp_cifar(hidden = 256, classes = 10) {\n"
    "  input x: f32[B, 3, 32, 32];          // B is the batch size\n"
    "  input y: i32[B];\n"
    "  h = reshape(x, [B, 3 * 32 * 32]);\n"
    "  logits = mlp(h, hidden, classes) as \"net\";\n"
    "  loss = cross_entropy(logits, y);\n"
    "  return loss, logits;\n"
    "}\n"
    "\n"
    "analog {\n"
    "  layers \"net.*\" { device = \"reram_hfo2\"; algorithm = \"cttv2\"; }\n"
    "  layers \"net.fc2.*\" { digital = true; }  // later rules win\n"
    "}\n";

static void test_dsl_md_example(void **state)
{
    (void)state;
    check_dump(example_src,
               "(block mlp (param x) (param hidden) (param out) (body"
               " (assign h (call linear (ident x) (ident hidden) (as (str \"fc1\"))))"
               " (assign h (call gelu (ident h)))"
               " (return (call linear (ident h) (ident out) (as (str \"fc2\"))))))\n"
               "(model mlp_cifar (param hidden (int 256)) (param classes (int 10)) (body"
               " (input x f32 (ident B) (int 3) (int 32) (int 32))"
               " (input y i32 (ident B))"
               " (assign h (call reshape (ident x)"
               " (list (ident B) (* (* (int 3) (int 32)) (int 32)))))"
               " (assign logits (call mlp (ident h) (ident hidden) (ident classes)"
               " (as (str \"net\"))))"
               " (assign loss (call cross_entropy (ident logits) (ident y)))"
               " (return (ident loss) (ident logits))))\n"
               "(config analog (config layers \"net.*\" (entry device (str \"reram_hfo2\"))"
               " (entry algorithm (str \"cttv2\")))"
               " (config layers \"net.fc2.*\" (entry digital (bool true))))\n");
}

static void test_literals(void **state)
{
    (void)state;
    check_dump("const a = 42; const b = 0x2A; const c = 0.5; const d = 1e-3;\n"
               "const e = 2.5E+4; const f = .5; const g = \"q\\\"\\\\\\n\\t.\";\n"
               "const h = true; const i = false; const j = 9223372036854775807;\n"
               "const k = 0x7fffffffffffffff; const l = [1, [2.5, \"s\"], []]; const m = 007;\n",
               "(const a (int 42))\n(const b (int 42))\n(const c (float 0.5))\n"
               "(const d (float 0.001))\n(const e (float 2.5e+04))\n(const f (float 0.5))\n"
               "(const g (str \"q\\\"\\\\\\n\\t.\"))\n(const h (bool true))\n"
               "(const i (bool false))\n(const j (int 9223372036854775807))\n"
               "(const k (int 9223372036854775807))\n"
               "(const l (list (int 1) (list (float 2.5) (str \"s\")) (list)))\n"
               "(const m (int 7))\n");
    /* the decoded value, not just the dump */
    parsed p;
    parse_str(&p, "const s = \"a\\\"b\\\\c\\nd\\te\";");
    assert_non_null(p.ast);
    assert_string_equal(p.ast->kids[0]->a->str, "a\"b\\c\nd\te");
    parsed_free(&p);
}

static void test_precedence(void **state)
{
    (void)state;
    check_dump("const p = a || b && c == d + e * f;", "(const p (|| (ident a) (&& (ident b) (== "
                                                      "(ident c) (+ (ident d) (* (ident e) "
                                                      "(ident f)))))))\n");
    check_dump("const p = a * b + c < d - e / f && g || h;",
               "(const p (|| (&& (< (+ (* (ident a) (ident b)) (ident c)) (- (ident d) (/ (ident "
               "e) (ident f)))) (ident g)) (ident h)))\n");
    /* left associativity */
    check_dump("const p = a - b - c; const q = a / b % c @ d; const r = a || b || c;",
               "(const p (- (- (ident a) (ident b)) (ident c)))\n"
               "(const q (@ (% (/ (ident a) (ident b)) (ident c)) (ident d)))\n"
               "(const r (|| (|| (ident a) (ident b)) (ident c)))\n");
    /* unary binds tighter than binary, looser than postfix */
    check_dump("const p = -x.shape[0] * !y; const q = - -1; const r = -(a + b);",
               "(const p (* (neg (index (member (ident x) shape) (int 0))) (not (ident y))))\n"
               "(const q (neg (neg (int 1))))\n"
               "(const r (neg (+ (ident a) (ident b))))\n");
    /* ternary is lowest and right associative; its branches are full expressions */
    check_dump("const t = a ? b : c ? d : e; const u = a || b ? c + 1 : d ? e : f;",
               "(const t (?: (ident a) (ident b) (?: (ident c) (ident d) (ident e))))\n"
               "(const u (?: (|| (ident a) (ident b)) (+ (ident c) (int 1)) (?: (ident d) "
               "(ident e) (ident f))))\n");
    check_dump("const c = [a == b, a != b, a < b, a <= b, a > b, a >= b];",
               "(const c (list (== (ident a) (ident b)) (!= (ident a) (ident b)) (< (ident a) "
               "(ident b)) (<= (ident a) (ident b)) (> (ident a) (ident b)) (>= (ident a) "
               "(ident b))))\n");
    check_dump("const m = xs[i][j].rank; const n = x.shape[x.rank - 1];",
               "(const m (member (index (index (ident xs) (ident i)) (ident j)) rank))\n"
               "(const n (index (member (ident x) shape) (- (member (ident x) rank) (int 1))))\n");
}

static void test_statements(void **state)
{
    (void)state;
    check_dump("model m(depths = [2, 2], dim = 48,) {\n"
               "  input x: f32[B, 3, 32, 32];\n"
               "  input s: i32[];\n"
               "  for i in 0..len(depths) { x = stage(x, dim * 2) as \"stage{i}\"; }\n"
               "  for j in 1..n+1 { }\n"
               "  if dim > 32 { y = 1; } else if dim > 16 { y = 2; } else { y = 3; }\n"
               "  if ok { }\n"
               "  assert dim % 4 == 0, \"dim must be a multiple of 4\";\n"
               "  assert ok;\n"
               "  return;\n"
               "  return x, y;\n"
               "}\n",
               "(model m (param depths (list (int 2) (int 2))) (param dim (int 48)) (body"
               " (input x f32 (ident B) (int 3) (int 32) (int 32))"
               " (input s i32)"
               " (for i (int 0) (call len (ident depths)) (body (assign x (call stage (ident x)"
               " (* (ident dim) (int 2)) (as (str \"stage{i}\"))))))"
               " (for j (int 1) (+ (ident n) (int 1)) (body))"
               " (if (> (ident dim) (int 32)) (body (assign y (int 1))) (if (> (ident dim) "
               "(int 16)) (body (assign y (int 2))) (body (assign y (int 3)))))"
               " (if (ident ok) (body))"
               " (assert (== (% (ident dim) (int 4)) (int 0)) (str \"dim must be a multiple of "
               "4\"))"
               " (assert (ident ok))"
               " (return)"
               " (return (ident x) (ident y))))\n");
    check_dump("block empty() {}\nmodel n() {}\n", "(block empty (body))\n(model n (body))\n");
}

static void test_calls(void **state)
{
    (void)state;
    check_dump("const c = f();\n"
               "const d = conv2d(x, 96, kernel = 4, stride = 4,) as \"patch\";\n"
               "const e = f(g(h(1)), [a, b]) as name;\n"
               "const f2 = f(x) as (\"blk\" + i);\n"
               "const g2 = f(x)[0];\n"
               "const h2 = f(a = 1);\n",
               "(const c (call f))\n"
               "(const d (call conv2d (ident x) (int 96) (kw kernel (int 4)) (kw stride (int 4)) "
               "(as (str \"patch\"))))\n"
               "(const e (call f (call g (call h (int 1))) (list (ident a) (ident b)) "
               "(as (ident name))))\n"
               "(const f2 (call f (ident x) (as (+ (str \"blk\") (ident i)))))\n"
               "(const g2 (index (call f (ident x)) (int 0)))\n"
               "(const h2 (call f (kw a (int 1))))\n");
}

static void test_config_grammar(void **state)
{
    (void)state;
    /* DSL.md: `config := IDENT STRING? "{" ... "}"`; the label may also be a bare name
     * (`experiment NAME { ... }`, see the grammar notes there). */
    check_dump("experiment \"train\" {\n"
               "  optimizer { lr = 0.1; momentum = 0.9; }\n"
               "  io.out_noise = 0.06;\n"
               "  a.b.c = [1, 2];\n"
               "  phase \"warmup\" { epochs = 2; nested { deep = -1; } }\n"
               "}\n"
               "analog { }\n",
               "(config experiment \"train\""
               " (config optimizer (entry lr (float 0.1)) (entry momentum (float 0.9)))"
               " (entry io.out_noise (float 0.06))"
               " (entry a.b.c (list (int 1) (int 2)))"
               " (config phase \"warmup\" (entry epochs (int 2)) (config nested (entry deep "
               "(neg (int 1))))))\n"
               "(config analog)\n");
    check_dump("experiment sweep1 { lr = 1; }", "(config experiment \"sweep1\" (entry lr (int 1)))\n");
}

static void test_lexing_ranges_and_floats(void **state)
{
    (void)state;
    /* `0..n` is INT DOTDOT IDENT, not the float `0.` */
    check_dump("model m() { for i in 0..n { } for j in 2..5 { } for k in a..b { } x = 1.5; }",
               "(model m (body (for i (int 0) (ident n) (body)) (for j (int 2) (int 5) (body)) "
               "(for k (ident a) (ident b) (body)) (assign x (float 1.5))))\n");
    check_dump("const a = x.shape; const b = 1.25e2; const c = 3e0;",
               "(const a (member (ident x) shape))\n(const b (float 125))\n(const c (float 3))\n");
}

static void test_empty_and_comments(void **state)
{
    (void)state;
    check_dump("", "");
    check_dump("// only a comment\n/* and a\n   block comment */\n   \n", "");
    check_dump("/**/ /* * ** / */ const /* in between */ a = 1; // end", "(const a (int 1))\n");
    check_dump("const a = 1;\r\nconst b = 2;\r\n", "(const a (int 1))\n(const b (int 2))\n");
}

static void test_spans(void **state)
{
    (void)state;
    static const char src[] = "model m(d = 2) {\n"
                              "  h = linear(x, d) as \"fc\";\n"
                              "  input x: f32[B];\n"
                              "}\n"
                              "analog \"lbl\" { io.noise = a + b; }\n";
    parsed p;
    parse_str(&p, src);
    assert_non_null(p.ast);
    const atl_ast *file = p.ast;
    assert_int_equal(file->kind, ATL_AST_FILE);
    assert_int_equal(file->span.begin, 0);
    assert_int_equal(file->span.end, sizeof src - 1);

#define TEXT(sp) ((int)((sp).end - (sp).begin)), (src + (sp).begin)
    char buf[128];
    const atl_ast *model = file->kids[0];
    assert_int_equal(model->kind, ATL_AST_MODEL);
    snprintf(buf, sizeof buf, "%.*s", TEXT(model->name_span));
    assert_string_equal(buf, "m");
    snprintf(buf, sizeof buf, "%.*s", TEXT(model->kids[0]->span));
    assert_string_equal(buf, "d = 2");
    const atl_ast *assign = model->b->kids[0];
    snprintf(buf, sizeof buf, "%.*s", TEXT(assign->span));
    assert_string_equal(buf, "h = linear(x, d) as \"fc\";");
    snprintf(buf, sizeof buf, "%.*s", TEXT(assign->name_span));
    assert_string_equal(buf, "h");
    const atl_ast *call = assign->a;
    assert_int_equal(call->kind, ATL_AST_CALL);
    snprintf(buf, sizeof buf, "%.*s", TEXT(call->span));
    assert_string_equal(buf, "linear(x, d) as \"fc\"");
    snprintf(buf, sizeof buf, "%.*s", TEXT(call->name_span));
    assert_string_equal(buf, "linear");
    snprintf(buf, sizeof buf, "%.*s", TEXT(call->c->span));
    assert_string_equal(buf, "\"fc\"");
    int line, col;
    atl_diag_line_col(&p.d, call->span.file, call->span.begin, &line, &col);
    assert_int_equal(line, 2);
    assert_int_equal(col, 7);
    const atl_ast *input = model->b->kids[1];
    snprintf(buf, sizeof buf, "%.*s", TEXT(input->str_span));
    assert_string_equal(buf, "f32");
    snprintf(buf, sizeof buf, "%.*s", TEXT(input->name_span));
    assert_string_equal(buf, "x");
    const atl_ast *cfg = file->kids[1];
    snprintf(buf, sizeof buf, "%.*s", TEXT(cfg->str_span));
    assert_string_equal(buf, "\"lbl\"");
    const atl_ast *entry = cfg->kids[0];
    snprintf(buf, sizeof buf, "%.*s", TEXT(entry->name_span));
    assert_string_equal(buf, "io.noise");
    snprintf(buf, sizeof buf, "%.*s", TEXT(entry->a->span));
    assert_string_equal(buf, "a + b");
    assert_int_equal(entry->a->depth, 2);
#undef TEXT
    parsed_free(&p);
}

static void test_long_and_moderately_deep_programs(void **state)
{
    (void)state;
    /* 200 levels of brackets and a 900-term sum are fine; 20000 statements parse linearly. */
    enum { N_STMTS = 20000 };
    size_t cap = 64 + (size_t)N_STMTS * 16 + 4096 * 4;
    char *src = malloc(cap);
    assert_non_null(src);
    size_t n = (size_t)snprintf(src, cap, "const a = ");
    for (int i = 0; i < 200; i++)
        src[n++] = '(';
    src[n++] = '1';
    for (int i = 0; i < 200; i++)
        src[n++] = ')';
    n += (size_t)snprintf(src + n, cap - n, "; const b = 1");
    for (int i = 0; i < 900; i++)
        n += (size_t)snprintf(src + n, cap - n, "+1");
    n += (size_t)snprintf(src + n, cap - n, "; model m() {");
    for (int i = 0; i < N_STMTS; i++)
        n += (size_t)snprintf(src + n, cap - n, " x = x + 1;");
    n += (size_t)snprintf(src + n, cap - n, " }");
    parsed p;
    parse_bytes(&p, src, n);
    assert_non_null(p.ast);
    assert_int_equal(p.ast->n_kids, 3);
    assert_int_equal(p.ast->kids[1]->a->depth, 901);
    assert_int_equal(p.ast->kids[2]->b->n_kids, N_STMTS);
    parsed_free(&p);
    free(src);
}

static void test_names_and_constructors(void **state)
{
    (void)state;
    for (int k = 0; k < ATL_AST_KIND_COUNT; k++)
        assert_string_not_equal(atl_ast_kind_name((atl_ast_kind)k), "?");
    assert_string_equal(atl_ast_kind_name(ATL_AST_KIND_COUNT), "?");
    assert_string_equal(atl_ast_op_name(ATL_AST_OP_MATMUL), "@");
    assert_string_equal(atl_ast_op_name(ATL_AST_OP_NE), "!=");
    assert_string_equal(atl_ast_op_name(ATL_AST_OP_OR), "||");
    /* building by hand: depth follows pushes and update_depth */
    atl_ast *list = atl_ast_new(ATL_AST_LIST, ATL_NO_SPAN);
    for (int i = 0; i < 100; i++) {
        atl_ast *e = atl_ast_new(ATL_AST_INT, ATL_NO_SPAN);
        e->ival = i;
        atl_ast_push(list, e);
    }
    assert_int_equal(list->n_kids, 100);
    assert_int_equal(list->kids[99]->ival, 99);
    assert_int_equal(list->depth, 2);
    atl_ast *neg = atl_ast_new(ATL_AST_UNARY, ATL_NO_SPAN);
    neg->op = ATL_AST_OP_NEG;
    neg->a = list;
    atl_ast_update_depth(neg);
    assert_int_equal(neg->depth, 3);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    atl_ast_dump(f, neg->a->kids[7]);
    fclose(f);
    assert_string_equal(text, "(int 7)\n");
    free(text);
    atl_ast_free(neg);
}

/* ---------------------------------------------------------------------------------------------
 * Errors */

static void test_err_missing_semicolon(void **state)
{
    (void)state;
    CHECK_ERRORS("model m() {\n  x = 1\n  foo = 2;\n}\n",
                 "t.atl:3:3: error: syntax error: unexpected identifier \"foo\", expected \";\"");
    CHECK_ERRORS("const k = 3",
                 "t.atl:1:12: error: syntax error: unexpected end of file, expected \";\"");
}

static void test_err_several_in_one_run(void **state)
{
    (void)state;
    CHECK_ERRORS("model m() {\n"
                 "  x = ;\n"
                 "  y = 1 +;\n"
                 "  if x { z = 1 }\n"
                 "  ok = 1;\n"
                 "}\n"
                 "block b( { return 1; }\n"
                 "const c = 1 2;\n"
                 "analog { layers \"x\" { device = ; } }\n",
                 "t.atl:2:7: error: syntax error: unexpected \";\", expected expression",
                 "t.atl:3:10: error: syntax error: unexpected \";\", expected expression",
                 "t.atl:4:16: error: syntax error: unexpected \"}\", expected \";\"",
                 "t.atl:7:10: error: syntax error: unexpected \"{\", expected identifier or \")\"",
                 "t.atl:8:13: error: syntax error: unexpected integer \"2\", expected \";\"",
                 "t.atl:9:32: error: syntax error: unexpected \";\", expected expression");
}

static void test_err_unterminated_string(void **state)
{
    (void)state;
    CHECK_ERRORS("model m() {\n  x = \"abc;\n  y = 1;\n}\n",
                 "t.atl:2:7: error: unterminated string literal");
    CHECK_ERRORS("const s = \"abc\\", "t.atl:1:11: error: unterminated string literal");
}

static void test_err_unterminated_comment(void **state)
{
    (void)state;
    CHECK_ERRORS("const a = 1;\n/* not closed *\nconst b = 2;\n",
                 "t.atl:2:1: error: unterminated comment");
    CHECK_ERRORS("model m() { x = 1; /* inside", "t.atl:1:20: error: unterminated comment");
}

static void test_err_bad_numbers(void **state)
{
    (void)state;
    CHECK_ERRORS("const a = 1e; const b = 0x;\nconst c = 2x + 1.5e+;",
                 "t.atl:1:11: error: invalid number '1e'",
                 "t.atl:1:25: error: invalid number '0x'",
                 "t.atl:2:11: error: invalid number '2x'",
                 "t.atl:2:16: error: invalid number '1.5e+'");
    CHECK_ERRORS("const a = 9223372036854775808; const b = 0x8000000000000000; const c = 1e999;",
                 "t.atl:1:11: error: integer literal out of range",
                 "t.atl:1:42: error: integer literal out of range",
                 "t.atl:1:72: error: float literal out of range");
}

static void test_err_bad_escape(void **state)
{
    (void)state;
    CHECK_ERRORS("const s = \"a\\qb\"; const t = \"\\x41\";",
                 "t.atl:1:13: error: unknown escape sequence '\\q' in string literal (known: \\\" "
                 "\\\\ \\n \\t)",
                 "t.atl:1:30: error: unknown escape sequence '\\x' in string literal (known: \\\" "
                 "\\\\ \\n \\t)");
}

static void test_err_stray_characters(void **state)
{
    (void)state;
    CHECK_ERRORS("const s = $3;\nconst t = a & b;\nconst u = λ;\nconst v = 1 #@! 2;",
                 "t.atl:1:11: error: invalid character '$'",
                 "t.atl:2:13: error: invalid character '&'",
                 "t.atl:3:11: error: invalid character 'λ'",
                 "t.atl:4:13: error: invalid character '#'");
    CHECK_ERRORS("const s = 1 $$$ 2;",
                 "t.atl:1:13: error: invalid characters (3 bytes, starting with '$')");
}

static void test_err_unbalanced_braces(void **state)
{
    (void)state;
    CHECK_ERRORS("model m() {\n  if a {\n    x = 1;\n}\n",
                 "t.atl:5:1: error: syntax error: unexpected end of file, expected statement, "
                 "\"else\" or \"}\"");
    CHECK_ERRORS("model m() { x = 1; }\n}\nconst a = 1;",
                 "t.atl:2:1: error: syntax error: unexpected \"}\", expected item (model, "
                 "block, const, import, section) or end of file");
    CHECK_ERRORS("const a = f(1, (2);",
                 "t.atl:1:19: error: syntax error: unexpected \";\", expected \",\" or \")\"");
}

static void test_err_keyword_misuse(void **state)
{
    (void)state;
    CHECK_ERRORS("model m() {\n  model = 3;\n}",
                 "t.atl:2:3: error: syntax error: unexpected keyword \"model\", expected "
                 "statement or \"}\"");
    CHECK_ERRORS("const in = 1;",
                 "t.atl:1:7: error: syntax error: unexpected keyword \"in\", expected identifier");
    CHECK_ERRORS("model m() { for i in 0 5 { } }",
                 "t.atl:1:24: error: syntax error: unexpected integer \"5\", expected \"..\"");
    CHECK_ERRORS("model m() { input x f32[B]; }",
                 "t.atl:1:21: error: syntax error: unexpected identifier \"f32\", expected \":\"");
}

static void test_err_kwarg_before_positional(void **state)
{
    (void)state;
    CHECK_ERRORS("model m() { y = linear(x, bias = true, 96); }",
                 "t.atl:1:40: error: positional argument after keyword argument (keyword "
                 "arguments come last)");
}

static void test_err_chained_comparison(void **state)
{
    (void)state;
    CHECK_ERRORS("const c = a < b < c;",
                 "t.atl:1:17: error: comparisons cannot be chained; write 'a < b && b < c' "
                 "instead");
    CHECK_ERRORS("const c = a == b != c >= d;",
                 "t.atl:1:18: error: comparisons cannot be chained; write 'a < b && b < c' "
                 "instead");
}

static void test_err_call_on_expression(void **state)
{
    (void)state;
    CHECK_ERRORS("const c = x.f(1);",
                 "t.atl:1:11: error: only a named block or op can be called (this is a member "
                 "expression)");
}

static void test_err_deep_nesting(void **state)
{
    (void)state;
    enum { N = 30000 };
    char *src = malloc(2 * N + 64);
    assert_non_null(src);
    /* brackets: the scanner stops at the limit */
    size_t n = (size_t)sprintf(src, "const a = ");
    for (int i = 0; i < N; i++)
        src[n++] = '(';
    check_errors_n(src, n,
                   (const char *const[]){"t.atl:1:267: error: brackets nested too deeply (limit "
                                         "256)",
                                         NULL});
    /* a long prefix chain exhausts the parser stack before anything is reduced */
    n = (size_t)sprintf(src, "const a = ");
    for (int i = 0; i < N; i++)
        src[n++] = '-';
    n += (size_t)sprintf(src + n, "1;");
    check_errors_n(src, n,
                   (const char *const[]){"t.atl:1:10005: error: input nested too deeply (parser "
                                         "stack exhausted)",
                                         NULL});
    /* a shorter one builds a tree deeper than the limit */
    n = (size_t)sprintf(src, "const a = ");
    for (int i = 0; i < 2000; i++)
        src[n++] = '!';
    n += (size_t)sprintf(src + n, "x;");
    check_errors_n(src, n,
                   (const char *const[]){"t.atl:1:1011: error: expression or statement nested "
                                         "too deeply (limit 1000)",
                                         NULL});
    /* a left-associative chain is deep in the tree but flat on the parser stack */
    n = (size_t)sprintf(src, "const a = x");
    for (int i = 0; i < 5000; i++)
        n += (size_t)sprintf(src + n, "*2");
    n += (size_t)sprintf(src + n, ";");
    check_errors_n(src, n,
                   (const char *const[]){"t.atl:1:11: error: expression or statement nested too "
                                         "deeply (limit 1000)",
                                         NULL});
    free(src);
}

static void test_err_nul_and_binary(void **state)
{
    (void)state;
    /* From memory, NUL bytes are scanned as invalid characters. */
    static const char with_nul[] = "const a = 1;\0 const b = \"x\0y\";";
    check_errors_n(with_nul, sizeof with_nul - 1,
                   (const char *const[]){"t.atl:1:13: error: invalid character '\\x00'",
                                         "t.atl:1:27: error: NUL character in string literal",
                                         NULL});
    /* From a file, atl_diag_load_file refuses them, and atl_parse accepts the failed id. */
    char path[] = "/tmp/atl_test_parser_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, with_nul, sizeof with_nul - 1), (ssize_t)(sizeof with_nul - 1));
    close(fd);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    atl_diag d;
    atl_diag_init(&d, out);
    int id = atl_diag_load_file(&d, path);
    assert_int_equal(id, -1);
    assert_null(atl_parse(&d, id));
    assert_int_equal(atl_diag_errors(&d), 1);
    atl_diag_fini(&d);
    fclose(out);
    assert_non_null(strstr(text, "contains NUL bytes"));
    free(text);
    unlink(path);

    /* Pseudo-random bytes (fixed seed) and random token soup: no crash, and the result is NULL
     * exactly when errors were reported. */
    static const char *const pieces[] = {
        "model", "block", "input", "return", "for", "in", "if", "else", "const", "assert",
        "as", "true", "false", "x", "f32", "1", "2.5", "0x1f", "\"s\"", "\"\\q\"", "+", "-",
        "*", "/", "%", "@", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "!", "?", ":",
        "=", "..", ".", ",", ";", "(", ")", "[", "]", "{", "}", " ", "\n", "/*", "*/", "//",
        "\"", "$", "\xce\xbb", "1e", "\x00", "\xff",
    };
    uint64_t s = 0x9e3779b97f4a7c15u;
    char buf[512];
    for (int iter = 0; iter < 600; iter++) {
        size_t n = 0;
        size_t target = 1 + (size_t)(iter % 97) * 4;
        while (n < target) {
            s = s * 6364136223846793005u + 1442695040888963407u;
            unsigned r = (unsigned)(s >> 33);
            if (iter % 3 == 0) {
                buf[n++] = (char)(r & 0xff);
            } else {
                const char *pc = pieces[r % (sizeof pieces / sizeof pieces[0])];
                size_t pl = pc[0] ? strlen(pc) : 1;
                if (n + pl > sizeof buf)
                    break;
                memcpy(buf + n, pc, pl);
                n += pl;
            }
        }
        parsed p;
        parse_bytes(&p, buf, n);
        assert_true((p.ast != NULL) == (atl_diag_errors(&p.d) == 0));
        parsed_free(&p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dsl_md_example),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_statements),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_config_grammar),
        cmocka_unit_test(test_lexing_ranges_and_floats),
        cmocka_unit_test(test_empty_and_comments),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_long_and_moderately_deep_programs),
        cmocka_unit_test(test_names_and_constructors),
        cmocka_unit_test(test_err_missing_semicolon),
        cmocka_unit_test(test_err_several_in_one_run),
        cmocka_unit_test(test_err_unterminated_string),
        cmocka_unit_test(test_err_unterminated_comment),
        cmocka_unit_test(test_err_bad_numbers),
        cmocka_unit_test(test_err_bad_escape),
        cmocka_unit_test(test_err_stray_characters),
        cmocka_unit_test(test_err_unbalanced_braces),
        cmocka_unit_test(test_err_keyword_misuse),
        cmocka_unit_test(test_err_kwarg_before_positional),
        cmocka_unit_test(test_err_chained_comparison),
        cmocka_unit_test(test_err_call_on_expression),
        cmocka_unit_test(test_err_deep_nesting),
        cmocka_unit_test(test_err_nul_and_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
