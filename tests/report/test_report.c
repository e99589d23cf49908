/* Unit tests of atlc report's parts: the CSV reader (cli/report/csv.c) and the SVG plotting
 * module (cli/report/plot.c): quoting, line numbers, located errors, tick selection, gaps. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"
#include "plot.h"

/* Parses text; returns 0/-1 and the diagnostics in *msg (caller frees). */
static int parse(const char *text, rep_csv *c, char **msg)
{
    size_t n = 0;
    FILE *f = open_memstream(msg, &n);
    assert_non_null(f);
    atl_diag d;
    atl_diag_init(&d, f);
    int rc = rep_csv_parse("t.csv", text, strlen(text), &d, c);
    atl_diag_fini(&d);
    fclose(f);
    return rc;
}

static void csv_quoting_and_lines(void **state)
{
    (void)state;
    const char *text = "\xEF\xBB\xBF"
                       "a,b,c\r\n"
                       "1,\"x,y\",\"say \"\"hi\"\"\"\r\n"
                       "\n"
                       "   \n"
                       "2,\"two\nlines\", spaced \n"
                       "3,,last";
    rep_csv c;
    char *msg = NULL;
    assert_int_equal(parse(text, &c, &msg), 0);
    assert_string_equal(msg, "");
    assert_int_equal(c.n_cols, 3);
    assert_string_equal(c.header[0], "a");
    assert_int_equal(rep_csv_col(&c, "c"), 2);
    assert_int_equal(rep_csv_col(&c, "d"), -1);
    assert_int_equal(c.n_rows, 3);
    assert_string_equal(rep_csv_cell(&c, 0, 1), "x,y");
    assert_string_equal(rep_csv_cell(&c, 0, 2), "say \"hi\"");
    assert_string_equal(rep_csv_cell(&c, 1, 1), "two\nlines");
    assert_string_equal(rep_csv_cell(&c, 1, 2), "spaced"); /* unquoted fields are trimmed */
    assert_string_equal(rep_csv_cell(&c, 2, 1), "");
    assert_string_equal(rep_csv_cell(&c, 2, 2), "last"); /* no final newline */
    /* rows start on lines 2, 5 (after two blank lines) and 7 (the quoted newline counts) */
    assert_int_equal(c.row_line[0], 2);
    assert_int_equal(c.row_line[1], 5);
    assert_int_equal(c.row_line[2], 7);
    rep_csv_free(&c);
    free(msg);
}

static void expect_error(const char *text, const char *want)
{
    rep_csv c;
    char *msg = NULL;
    assert_int_equal(parse(text, &c, &msg), -1);
    if (!strstr(msg, want))
        fail_msg("expected '%s' in:\n%s", want, msg);
    free(msg);
}

static void csv_errors(void **state)
{
    (void)state;
    expect_error("a,b\n1,2\n\n1,2,3\n", "t.csv:4:1: error: expected 2 fields (as in the header row), found 3");
    expect_error("a,b\n1,\"open\n2,3\n", "t.csv:2:3: error: unterminated quoted field");
    expect_error("a,b\n1,\"x\"y\n", "t.csv:2:6: error: unexpected character after a closing quote");
    expect_error("a,b\n1,x\"y\n", "t.csv:2:4: error: quote inside an unquoted field");
    expect_error("a,,b\n", "t.csv:1:3: error: empty column name");
    expect_error("a,b,a\n", "t.csv:1:5: error: duplicate column 'a'");
    expect_error("\n\n", "t.csv: empty file (no header row)");
    /* the line shown under the message is the offending one */
    expect_error("a,b\n1,2\n7\n", "    3 | 7");
}

static void ticks(void **state)
{
    (void)state;
    double first, step;
    int n;
    rep_nice_ticks(0, 1, 5, &first, &step, &n);
    assert_true(fabs(first) < 1e-12 && fabs(step - 0.2) < 1e-12 && n == 6);
    rep_nice_ticks(1, 4, 6, &first, &step, &n);
    assert_true(fabs(first - 1) < 1e-12 && fabs(step - 0.5) < 1e-12 && n == 7);
    /* invariants over many ranges: steps are 1, 2 or 5 times a power of ten; ticks stay inside
     * the range and cover it to within one step; about the requested number of them */
    uint64_t s = 88172645463325252ull;
    for (int it = 0; it < 20000; it++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double u1 = (double)(s >> 11) / 9007199254740992.0;
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double u2 = (double)(s >> 11) / 9007199254740992.0;
        double lo = (u1 - 0.5) * pow(10.0, (int)(u2 * 12) - 6);
        double hi = lo + pow(10.0, u2 * 12 - 6) * (0.01 + u1);
        rep_nice_ticks(lo, hi, 6, &first, &step, &n);
        double m = step / pow(10.0, floor(log10(step) + 1e-9));
        assert_true(fabs(m - 1) < 1e-6 || fabs(m - 2) < 1e-6 || fabs(m - 5) < 1e-6);
        assert_true(first >= lo - 1e-9 * step && first - step < lo);
        double last = first + (n - 1) * step;
        assert_true(last <= hi + 1e-9 * step && last + step > hi);
        assert_true(n >= 3 && n <= 13);
    }
}

__attribute__((noinline)) static char *render(const rep_plot *p)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(rep_plot_write_svg(p, f), 0);
    fclose(f);
    return buf;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static void plot_gaps_and_escaping(void **state)
{
    (void)state;
    rep_plot *p = rep_plot_new("a.b c", "x < y & \"z\"", "epoch", NULL);
    assert_non_null(p);
    assert_string_equal(p->id, "a_b_c");
    double x[5] = {1, 2, 3, 4, 5}, y[5] = {0.1, 0.2, NAN, 0.4, NAN};
    double e[5] = {0.01, 0, 0.02, 0.03, 0.01};
    assert_non_null(rep_plot_add(p, "one", rep_palette(0), 1, REP_MARK_SQUARE, 5, x, y, e, NULL,
                                 NULL));
    assert_non_null(rep_plot_add(p, NULL, rep_palette(1), 0, REP_MARK_NONE, 5, x, y, NULL, NULL,
                                 NULL));
    char *svg = render(p);
    assert_non_null(strstr(svg, "<title>x &lt; y &amp; &quot;z&quot;</title>"));
    assert_int_equal(count(svg, "class=\"series\""), 2);
    assert_int_equal(count(svg, "class=\"legend-entry\""), 1); /* the unlabelled line has none */
    assert_int_equal(count(svg, "class=\"markers\""), 1);
    assert_int_equal(count(svg, "class=\"errbar\""), 1);
    assert_non_null(strstr(svg, "stroke-dasharray=\"7 4\""));
    /* the gap at x = 3 starts a new subpath; the lone point at x = 4 is drawn as a dot */
    const char *d = strstr(svg, "class=\"series\"");
    d = strstr(d, " d=\"");
    const char *end = strchr(d + 4, '"');
    int moves = 0;
    for (const char *c = d + 4; c < end; c++)
        moves += *c == 'M';
    assert_int_equal(moves, 2);
    assert_non_null(strstr(d, "h0\""));
    /* error bars: only where err > 0 and y is finite (x = 1, 4): two bars, four caps */
    const char *eb = strstr(svg, "class=\"errbar\"");
    eb = strstr(eb, " d=\"");
    end = strchr(eb + 4, '"');
    int m = 0;
    for (const char *c = eb + 4; c < end; c++)
        m += *c == 'M';
    assert_int_equal(m, 6);
    free(svg);
    rep_plot_free(p);
}

static void plot_log_and_categories(void **state)
{
    (void)state;
    rep_plot *p = rep_plot_new("log", "t", "x", "y");
    p->xaxis = REP_AXIS_LOG;
    double x[3] = {0.001, 0.1, 10}, y[3] = {1, 2, 3};
    assert_non_null(rep_plot_add(p, "s", rep_palette(2), 0, REP_MARK_CIRCLE, 3, x, y, NULL, NULL,
                                 NULL));
    char *svg = render(p);
    /* decade ticks 0.001 .. 10 */
    assert_non_null(strstr(svg, ">0.001</text>"));
    assert_non_null(strstr(svg, ">0.01</text>"));
    assert_non_null(strstr(svg, ">10</text>"));
    free(svg);
    rep_plot_free(p);

    p = rep_plot_new("cat", "t", "device", "y");
    char *cats[3] = {"reram_hfo2", "pcm", "ecram"};
    assert_int_equal(rep_plot_set_categories(p, cats, 3), 0);
    double cx[3] = {0, 1, 2};
    assert_non_null(rep_plot_add(p, "s", rep_palette(0), 0, REP_MARK_CIRCLE, 3, cx, y, NULL, NULL,
                                 NULL));
    svg = render(p);
    assert_non_null(strstr(svg, ">reram_hfo2</text>"));
    assert_non_null(strstr(svg, ">ecram</text>"));
    /* 3 categories; y: 1 .. 3 with 3 % room snaps to 0.5 .. 3.5 by 0.5 */
    assert_int_equal(count(svg, "<g class=\"tick\">"), 3 + 7);
    free(svg);
    rep_plot_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv_quoting_and_lines),
        cmocka_unit_test(csv_errors),
        cmocka_unit_test(ticks),
        cmocka_unit_test(plot_gaps_and_escaping),
        cmocka_unit_test(plot_log_and_categories),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
