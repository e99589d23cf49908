/* The atl DSL grammar (docs/DSL.md). A pure, reentrant LALR(1) parser with byte-offset
 * locations; it builds the AST of frontend/ast.h and reports every problem through atl_diag.
 *
 * Error handling: syntax errors are reported by yyreport_syntax_error (below) with the span of
 * the offending token. Recovery happens at statement, config entry and item boundaries
 * (`error ";"`, `error "}"`), so one run reports several errors; bison's rule that three tokens
 * must be shifted after an error before the next one is reported keeps cascades quiet. The
 * scanner reports its own errors (bad characters, numbers, strings) and returns the `error`
 * token where the token is unusable, which enters recovery without a second message. Every
 * owned semantic value has a %destructor, so error paths do not leak. */

%require "3.8"
%define api.pure full
%define api.prefix {atl_yy}
%define api.token.prefix {TOK_}
%define api.location.type {atl_span}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {yyscan_t scanner}
%parse-param {atl_fe_parser *ps}

%code requires {
#include <stdbool.h>
#include <stdint.h>

#include "ast.h"
#include "diag.h"

#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

/* State shared by the scanner (as yyextra) and the parser (as the parse parameter). */
typedef struct atl_fe_parser {
    atl_diag *diag;
    int file;         /* source id; goes into every span */
    const char *text; /* the source text, for quoting tokens in messages */
    uint32_t len;
    uint32_t offset;  /* scanner position (bytes) */
    int brackets;     /* currently open ( [ { */
    bool fatal;       /* a nesting limit was hit: stop (the scanner returns end of file) */
    atl_ast *root;    /* the FILE node, once parsed */
} atl_fe_parser;
}

%code provides {
/* flex's bison bridge spells the types without the api.prefix */
#define YYSTYPE ATL_YYSTYPE
#define YYLTYPE ATL_YYLTYPE
}

%code {
#include <stdlib.h>
#include <string.h>

#include "lexer.h"

/* Spans are byte ranges: a rule covers its first to its last symbol; an empty rule is the point
 * after the previous symbol. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                                               \
    do {                                                                                          \
        if (N) {                                                                                  \
            (Cur).file = YYRHSLOC(Rhs, 1).file;                                                   \
            (Cur).begin = YYRHSLOC(Rhs, 1).begin;                                                 \
            (Cur).end = YYRHSLOC(Rhs, N).end;                                                     \
        } else {                                                                                  \
            (Cur).file = YYRHSLOC(Rhs, 0).file;                                                   \
            (Cur).begin = (Cur).end = YYRHSLOC(Rhs, 0).end;                                       \
        }                                                                                         \
    } while (0)

static void yyerror(YYLTYPE *loc, yyscan_t scanner, atl_fe_parser *ps, const char *msg);

static atl_ast *mk(atl_ast_kind kind, atl_span span)
{
    return atl_ast_new(kind, span);
}

/* A node named by an identifier token; takes ownership of name. */
static atl_ast *mk_named(atl_ast_kind kind, atl_span span, char *name, atl_span name_span)
{
    atl_ast *n = atl_ast_new(kind, span);
    n->name = name;
    n->name_span = name_span;
    return n;
}

static atl_ast *mk_op(atl_ast_kind kind, atl_ast_op op, atl_span span, atl_ast *a, atl_ast *b)
{
    atl_ast *n = atl_ast_new(kind, span);
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

/* Move the elements of a temporary LIST into dst and free the list. */
static void take_kids(atl_ast *dst, atl_ast *list)
{
    for (int i = 0; i < list->n_kids; i++)
        atl_ast_push(dst, list->kids[i]);
    list->n_kids = 0;
    atl_ast_free(list);
}

/* Bound the height of the tree (see ATL_AST_MAX_DEPTH): long operator chains build deep trees
 * with a shallow parser stack, and every later pass walks the tree recursively. */
static bool depth_ok(atl_fe_parser *ps, atl_ast *n, bool recompute)
{
    if (recompute)
        atl_ast_update_depth(n);
    if (n->depth <= ATL_AST_MAX_DEPTH)
        return true;
    if (!ps->fatal)
        atl_diag_error(ps->diag, n->span, "expression or statement nested too deeply (limit %d)",
                       ATL_AST_MAX_DEPTH);
    ps->fatal = true;
    return false;
}

/* Finish a node built in an action: check its height, else free it and stop the parse. Only
 * used where $$ owns everything the action took from the right-hand side. FIN recomputes the
 * height from all children; FIN_PUSHED is for a list that just grew by atl_ast_push (which keeps
 * the height current), so long lists stay linear. */
#define FIN(n) FIN_(n, true)
#define FIN_PUSHED(n) FIN_(n, false)
#define FIN_(n, recompute)                                                                        \
    do {                                                                                          \
        if (!depth_ok(ps, (n), (recompute))) {                                                    \
            atl_ast_free(n);                                                                      \
            (n) = NULL;                                                                           \
            YYABORT;                                                                              \
        }                                                                                         \
    } while (0)

static atl_ast *mk_call(atl_fe_parser *ps, atl_span span, atl_ast *callee, atl_ast *args,
                        atl_ast *as_name)
{
    atl_ast *n = atl_ast_new(ATL_AST_CALL, span);
    if (callee->kind == ATL_AST_IDENT) {
        n->name = callee->name;
        callee->name = NULL;
        n->name_span = callee->span;
    } else {
        atl_diag_error(ps->diag, callee->span,
                       "only a named block or op can be called (this is a %s expression)",
                       atl_ast_kind_name(callee->kind));
        n->name_span = callee->span;
    }
    atl_ast_free(callee);
    take_kids(n, args);
    n->c = as_name;
    return n;
}

/* `x = 1` inside an argument list is a keyword argument; they must come after the positional
 * ones. The temporary LIST remembers in bval whether it has seen one. */
static void push_arg(atl_fe_parser *ps, atl_ast *list, atl_ast *arg, atl_span arg_span)
{
    if (arg->kind == ATL_AST_KWARG)
        list->bval = true;
    else if (list->bval)
        atl_diag_error(ps->diag, arg_span,
                       "positional argument after keyword argument (keyword arguments come last)");
    atl_ast_push(list, arg);
}

static char *dup_cstr(const char *a)
{
    size_t n = strlen(a) + 1;
    char *s = malloc(n);
    if (!s) {
        fputs("atlc: out of memory\n", stderr);
        abort();
    }
    memcpy(s, a, n);
    return s;
}

static char *join_key(char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = realloc(a, la + lb + 2);
    if (!s) {
        fputs("atlc: out of memory\n", stderr);
        abort();
    }
    s[la] = '.';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}
}

%union {
    atl_ast *node;
    char *str;
    int64_t ival;
    double fval;
    atl_ast_op op;
}

%destructor { atl_ast_free($$); } <node>
%destructor { free($$); } <str>

%token <str>  IDENT   "identifier"
%token <str>  STRING  "string"
%token <ival> INT     "integer"
%token <fval> FLOAT   "float"

%token MODEL "model" BLOCK "block" INPUT "input" RETURN "return" FOR "for" IN "in" IF "if"
       ELSE "else" CONST "const" ASSERT "assert" AS "as" TRUE "true" FALSE "false"
       IMPORT "import"

%token PLUS "+" MINUS "-" STAR "*" SLASH "/" PERCENT "%" AT "@"
       EQ "==" NE "!=" LT "<" LE "<=" GT ">" GE ">=" ANDAND "&&" OROR "||" BANG "!"
       QUESTION "?" COLON ":" ASSIGN "=" DOTDOT ".." DOT "." COMMA "," SEMI ";"
       LPAREN "(" RPAREN ")" LBRACK "[" RBRACK "]" LBRACE "{" RBRACE "}"

%type <node> items item definition const config config_items config_item import
%type <node> body stmts stmt if_stmt params_opt params param
%type <node> expr ternary or and cmp chain add mul unary postfix primary
%type <node> args_opt args arg exprs_opt exprs
%type <str> key key_first label_opt
%type <op> cmpop

%initial-action { @$ = (atl_span){ps->file, 0, 0}; }

%start file

%%

file:
  items {
      $1->span = (atl_span){ps->file, 0, ps->len};
      ps->root = $1;
  }
;

items:
  %empty              { $$ = mk(ATL_AST_FILE, @$); }
| items item          { $$ = $1; atl_ast_push($$, $2); FIN_PUSHED($$); }
| items error ";"     { $$ = $1; }
| items error "}"     { $$ = $1; }
;

item: definition | const | config | import ;

/* `import "file.atl";` makes the blocks and consts of another file available (models and
 * configuration sections of the imported file are ignored). */
import:
  "import" STRING ";" {
      $$ = mk(ATL_AST_IMPORT, @$);
      $$->str = $2;
      $$->str_span = @2;
      FIN($$);
  }
;

definition:
  "model" IDENT "(" params_opt ")" body {
      $$ = mk_named(ATL_AST_MODEL, @$, $2, @2);
      take_kids($$, $4);
      $$->b = $6;
      FIN($$);
  }
| "block" IDENT "(" params_opt ")" body {
      $$ = mk_named(ATL_AST_BLOCKDEF, @$, $2, @2);
      take_kids($$, $4);
      $$->b = $6;
      FIN($$);
  }
;

params_opt:
  %empty              { $$ = mk(ATL_AST_LIST, @$); }
| params
| params ","
;

params:
  param               { $$ = mk(ATL_AST_LIST, @$); atl_ast_push($$, $1); }
| params "," param    { $$ = $1; atl_ast_push($$, $3); }
;

param:
  IDENT               { $$ = mk_named(ATL_AST_PARAM, @$, $1, @1); }
| IDENT "=" expr      { $$ = mk_named(ATL_AST_PARAM, @$, $1, @1); $$->a = $3; FIN($$); }
;

const:
  "const" IDENT "=" expr ";" {
      $$ = mk_named(ATL_AST_CONST, @$, $2, @2);
      $$->a = $4;
      FIN($$);
  }
;

/* A configuration section: `analog { ... }`, `layers "net.*" { ... }`. */
config:
  IDENT label_opt "{" config_items "}" {
      $$ = mk_named(ATL_AST_CONFIG, @$, $1, @1);
      $$->str = $2;
      if ($2)
          $$->str_span = @2;
      take_kids($$, $4);
      FIN($$);
  }
| IDENT label_opt "{" config_items error "}" {
      $$ = mk_named(ATL_AST_CONFIG, @$, $1, @1);
      $$->str = $2;
      if ($2)
          $$->str_span = @2;
      take_kids($$, $4);
      FIN($$);
  }
;

/* The label of a section: a string (DSL.md grammar) or a bare name (`experiment NAME {`). */
label_opt:
  %empty              { $$ = NULL; }
| STRING
| IDENT
;

config_items:
  %empty                      { $$ = mk(ATL_AST_LIST, @$); }
| config_items config_item    { $$ = $1; atl_ast_push($$, $2); FIN_PUSHED($$); }
| config_items error ";"      { $$ = $1; }
;

config_item:
  key "=" expr ";" {
      $$ = mk_named(ATL_AST_ENTRY, @$, $1, @1);
      $$->a = $3;
      FIN($$);
  }
| config
;

key:
  key_first
| key "." IDENT       { $$ = join_key($1, $3); free($3); }
;

/* Inside configuration sections a key may also be a keyword (`model = "swin.atl";`). */
key_first:
  IDENT
| "model"             { $$ = dup_cstr("model"); }
| "input"             { $$ = dup_cstr("input"); }
| "block"             { $$ = dup_cstr("block"); }
| "import"            { $$ = dup_cstr("import"); }
;

/* ------------------------------------------------------------------------------------------ */
/* Statements */

body:
  "{" stmts "}"           { $$ = $2; $$->span = @$; }
| "{" stmts error "}"     { $$ = $2; $$->span = @$; }
;

stmts:
  %empty              { $$ = mk(ATL_AST_BODY, @$); }
| stmts stmt          { $$ = $1; atl_ast_push($$, $2); FIN_PUSHED($$); }
| stmts error ";"     { $$ = $1; }
;

stmt:
  IDENT "=" expr ";" {
      $$ = mk_named(ATL_AST_ASSIGN, @$, $1, @1);
      $$->a = $3;
      FIN($$);
  }
| "input" IDENT ":" IDENT "[" exprs_opt "]" ";" {
      $$ = mk_named(ATL_AST_INPUT, @$, $2, @2);
      $$->str = $4;
      $$->str_span = @4;
      take_kids($$, $6);
      FIN($$);
  }
| "for" IDENT "in" expr ".." expr body {
      $$ = mk_named(ATL_AST_FOR, @$, $2, @2);
      $$->a = $4;
      $$->b = $6;
      $$->c = $7;
      FIN($$);
  }
| if_stmt
| "return" exprs_opt ";" {
      $$ = mk(ATL_AST_RETURN, @$);
      take_kids($$, $2);
      FIN($$);
  }
| "assert" expr ";" {
      $$ = mk(ATL_AST_ASSERT, @$);
      $$->a = $2;
      FIN($$);
  }
| "assert" expr "," expr ";" {
      $$ = mk(ATL_AST_ASSERT, @$);
      $$->a = $2;
      $$->b = $4;
      FIN($$);
  }
;

if_stmt:
  "if" expr body                  { $$ = mk_op(ATL_AST_IF, ATL_AST_OP_NONE, @$, $2, $3); FIN($$); }
| "if" expr body "else" body      {
      $$ = mk_op(ATL_AST_IF, ATL_AST_OP_NONE, @$, $2, $3);
      $$->c = $5;
      FIN($$);
  }
| "if" expr body "else" if_stmt   {
      $$ = mk_op(ATL_AST_IF, ATL_AST_OP_NONE, @$, $2, $3);
      $$->c = $5;
      FIN($$);
  }
;

/* ------------------------------------------------------------------------------------------ */
/* Expressions, lowest precedence first */

expr: ternary ;

ternary:
  or
| or "?" expr ":" expr {
      $$ = mk_op(ATL_AST_TERNARY, ATL_AST_OP_NONE, @$, $1, $3);
      $$->c = $5;
      FIN($$);
  }
;

or:
  and
| or "||" and         { $$ = mk_op(ATL_AST_BINARY, ATL_AST_OP_OR, @$, $1, $3); FIN($$); }
;

and:
  cmp
| and "&&" cmp        { $$ = mk_op(ATL_AST_BINARY, ATL_AST_OP_AND, @$, $1, $3); FIN($$); }
;

/* Comparisons do not associate. `a < b < c` parses (so the message can say what is wrong) but
 * is an error. */
cmp:
  add
| add cmpop add       { $$ = mk_op(ATL_AST_BINARY, $2, @$, $1, $3); FIN($$); }
| chain
;

chain:
  add cmpop add cmpop add {
      atl_diag_error(ps->diag, @4,
                     "comparisons cannot be chained; write 'a < b && b < c' instead");
      atl_ast *lhs = mk_op(ATL_AST_BINARY, $2, atl_span_join(@1, @3), $1, $3);
      atl_ast_update_depth(lhs);
      $$ = mk_op(ATL_AST_BINARY, $4, @$, lhs, $5);
      FIN($$);
  }
| chain cmpop add     { $$ = mk_op(ATL_AST_BINARY, $2, @$, $1, $3); FIN($$); }
;

cmpop:
  "=="                { $$ = ATL_AST_OP_EQ; }
| "!="                { $$ = ATL_AST_OP_NE; }
| "<"                 { $$ = ATL_AST_OP_LT; }
| "<="                { $$ = ATL_AST_OP_LE; }
| ">"                 { $$ = ATL_AST_OP_GT; }
| ">="                { $$ = ATL_AST_OP_GE; }
;

add:
  mul
| add "+" mul         { $$ = mk_op(ATL_AST_BINARY, ATL_AST_OP_ADD, @$, $1, $3); FIN($$); }
| add "-" mul         { $$ = mk_op(ATL_AST_BINARY, ATL_AST_OP_SUB, @$, $1, $3); FIN($$); }
;

mul:
  unary
| mul "*" unary       { $$ = mk_op(ATL_AST_BINARY, ATL_AST_OP_MUL, @$, $1, $3); FIN($$); }
| mul "/" unary       { $$ = mk_op(ATL_AST_BINARY, ATL_AST_OP_DIV, @$, $1, $3); FIN($$); }
| mul "%" unary       { $$ = mk_op(ATL_AST_BINARY, ATL_AST_OP_MOD, @$, $1, $3); FIN($$); }
| mul "@" unary       { $$ = mk_op(ATL_AST_BINARY, ATL_AST_OP_MATMUL, @$, $1, $3); FIN($$); }
;

unary:
  "-" unary           { $$ = mk_op(ATL_AST_UNARY, ATL_AST_OP_NEG, @$, $2, NULL); FIN($$); }
| "!" unary           { $$ = mk_op(ATL_AST_UNARY, ATL_AST_OP_NOT, @$, $2, NULL); FIN($$); }
| postfix
;

postfix:
  primary
| postfix "(" args_opt ")" {
      $$ = mk_call(ps, @$, $1, $3, NULL);
      FIN($$);
  }
| postfix "(" args_opt ")" "as" primary {
      $$ = mk_call(ps, @$, $1, $3, $6);
      FIN($$);
  }
| postfix "[" expr "]"    { $$ = mk_op(ATL_AST_INDEX, ATL_AST_OP_NONE, @$, $1, $3); FIN($$); }
| postfix "." IDENT {
      $$ = mk_named(ATL_AST_MEMBER, @$, $3, @3);
      $$->a = $1;
      FIN($$);
  }
;

primary:
  INT                 { $$ = mk(ATL_AST_INT, @$); $$->ival = $1; }
| FLOAT               { $$ = mk(ATL_AST_FLOAT, @$); $$->fval = $1; }
| STRING              { $$ = mk(ATL_AST_STRING, @$); $$->str = $1; }
| "true"              { $$ = mk(ATL_AST_BOOL, @$); $$->bval = true; }
| "false"             { $$ = mk(ATL_AST_BOOL, @$); $$->bval = false; }
| IDENT               { $$ = mk_named(ATL_AST_IDENT, @$, $1, @1); }
| "[" exprs_opt "]"   { $$ = mk(ATL_AST_LIST, @$); take_kids($$, $2); FIN($$); }
| "(" expr ")"        { $$ = $2; }
;

args_opt:
  %empty              { $$ = mk(ATL_AST_LIST, @$); }
| args
| args ","
;

args:
  arg                 { $$ = mk(ATL_AST_LIST, @$); push_arg(ps, $$, $1, @1); }
| args "," arg        { $$ = $1; push_arg(ps, $$, $3, @3); }
;

arg:
  expr
| IDENT "=" expr      { $$ = mk_named(ATL_AST_KWARG, @$, $1, @1); $$->a = $3; FIN($$); }
;

exprs_opt:
  %empty              { $$ = mk(ATL_AST_LIST, @$); }
| exprs
;

exprs:
  expr                { $$ = mk(ATL_AST_LIST, @$); atl_ast_push($$, $1); }
| exprs "," expr      { $$ = $1; atl_ast_push($$, $3); }
;

%%

/* ---------------------------------------------------------------------------------------------
 * Messages */

static void yyerror(YYLTYPE *loc, yyscan_t scanner, atl_fe_parser *ps, const char *msg)
{
    (void)scanner;
    if (ps->fatal)
        return;
    /* With parse.error custom, bison only calls this when its stack overflows. */
    if (strcmp(msg, "memory exhausted") == 0)
        atl_diag_error(ps->diag, *loc, "input nested too deeply (parser stack exhausted)");
    else
        atl_diag_error(ps->diag, *loc, "%s", msg);
}

/* Append the source text of a token, quoted and made printable, shortened if long. */
static void quote_source(char *buf, size_t cap, const atl_fe_parser *ps, atl_span loc,
                         bool add_quotes)
{
    size_t n = strlen(buf);
    const size_t max_chars = 40;
    uint32_t end = loc.end <= ps->len ? loc.end : ps->len;
    uint32_t begin = loc.begin <= end ? loc.begin : end;
    bool cut = end - begin > max_chars;
    if (cut)
        end = begin + (uint32_t)max_chars;
    if (add_quotes && n + 1 < cap)
        buf[n++] = '"';
    for (uint32_t i = begin; i < end && n + 8 < cap; i++) {
        unsigned char c = (unsigned char)ps->text[i];
        if (c >= 0x20 && c < 0x7f)
            buf[n++] = (char)c;
        else if (c >= 0x80)
            buf[n++] = (char)c; /* UTF-8 inside strings stays readable */
        else
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", c);
    }
    if (cut && n + 4 < cap) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    if (add_quotes && n + 1 < cap)
        buf[n++] = '"';
    buf[n] = '\0';
}

static bool is_keyword(yysymbol_kind_t t)
{
    return t >= YYSYMBOL_MODEL && t <= YYSYMBOL_FALSE;
}

/* Append how a token kind is named in messages: words for token classes, the quoted spelling for
 * keywords and punctuation (`expected ";"`). bison's own names are unquoted. */
static void append_token_name(char *buf, size_t cap, yysymbol_kind_t t)
{
    size_t n = strlen(buf);
    switch (t) {
    case YYSYMBOL_YYEOF:
    case YYSYMBOL_IDENT:
    case YYSYMBOL_STRING:
    case YYSYMBOL_INT:
    case YYSYMBOL_FLOAT:
    case YYSYMBOL_YYerror:
    case YYSYMBOL_YYUNDEF:
        snprintf(buf + n, cap - n, "%s", yysymbol_name(t));
        break;
    default:
        snprintf(buf + n, cap - n, "\"%s\"", yysymbol_name(t));
        break;
    }
}

static void describe_unexpected(char *buf, size_t cap, const atl_fe_parser *ps,
                                yysymbol_kind_t t, atl_span loc)
{
    buf[0] = '\0';
    switch (t) {
    case YYSYMBOL_IDENT:
    case YYSYMBOL_INT:
    case YYSYMBOL_FLOAT:
        snprintf(buf, cap, "%s ", yysymbol_name(t));
        quote_source(buf, cap, ps, loc, true);
        return;
    case YYSYMBOL_STRING:
        snprintf(buf, cap, "string ");
        quote_source(buf, cap, ps, loc, false);
        return;
    default:
        break;
    }
    if (is_keyword(t))
        snprintf(buf, cap, "keyword ");
    append_token_name(buf, cap, t);
}

/* Tokens that mean "close this construct": when the full list of expected tokens is too long to
 * be useful, these are the ones worth naming (`expected ";"` after an expression). */
static bool is_closer(yysymbol_kind_t t)
{
    switch (t) {
    case YYSYMBOL_SEMI:
    case YYSYMBOL_RPAREN:
    case YYSYMBOL_RBRACK:
    case YYSYMBOL_RBRACE:
    case YYSYMBOL_COMMA:
    case YYSYMBOL_COLON:
    case YYSYMBOL_DOTDOT:
    case YYSYMBOL_LBRACE:
    case YYSYMBOL_ASSIGN:
        return true;
    default:
        return false;
    }
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, atl_fe_parser *ps)
{
    (void)scanner;
    if (ps->fatal)
        return 0;
    yysymbol_kind_t la = yypcontext_token(ctx);
    atl_span loc = *yypcontext_location(ctx);

    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    if (n < 0)
        n = 0;
    bool have[YYNTOKENS] = {0};
    for (int i = 0; i < n; i++)
        have[exp[i]] = true;

    /* Name whole groups rather than list their first tokens. */
    static const yysymbol_kind_t stmt_start[] = {YYSYMBOL_IDENT, YYSYMBOL_INPUT, YYSYMBOL_FOR,
                                                 YYSYMBOL_IF, YYSYMBOL_RETURN, YYSYMBOL_ASSERT};
    static const yysymbol_kind_t expr_start[] = {
        YYSYMBOL_IDENT, YYSYMBOL_INT,    YYSYMBOL_FLOAT,  YYSYMBOL_STRING, YYSYMBOL_TRUE,
        YYSYMBOL_FALSE, YYSYMBOL_LPAREN, YYSYMBOL_LBRACK, YYSYMBOL_MINUS,  YYSYMBOL_BANG};
    static const yysymbol_kind_t item_start[] = {YYSYMBOL_IDENT, YYSYMBOL_MODEL, YYSYMBOL_BLOCK,
                                                 YYSYMBOL_CONST, YYSYMBOL_IMPORT};
    /* An item is a token kind, or a negative group index - 1. */
    int items[YYNTOKENS + 2];
    int n_items = 0;
    static const struct {
        const yysymbol_kind_t *toks;
        size_t n;
        const char *name;
    } groups[] = {
        {stmt_start, sizeof stmt_start / sizeof stmt_start[0], "statement"},
        {expr_start, sizeof expr_start / sizeof expr_start[0], "expression"},
        {item_start, sizeof item_start / sizeof item_start[0],
         "item (model, block, const, import, section)"},
    };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        bool all = true;
        for (size_t i = 0; i < groups[g].n; i++)
            all = all && have[groups[g].toks[i]];
        if (!all)
            continue;
        for (size_t i = 0; i < groups[g].n; i++)
            have[groups[g].toks[i]] = false;
        items[n_items++] = -(int)g - 1;
    }
    for (int t = 0; t < YYNTOKENS; t++)
        if (have[t])
            items[n_items++] = t;
    if (n_items > 5) {
        int k = 0;
        for (int i = 0; i < n_items; i++)
            if (items[i] >= 0 && is_closer((yysymbol_kind_t)items[i]))
                items[k++] = items[i];
        n_items = k <= 5 ? k : 0;
    }

    char unexpected[160];
    describe_unexpected(unexpected, sizeof unexpected, ps, la, loc);
    char expected[512] = "";
    for (int i = 0; i < n_items; i++) {
        size_t len = strlen(expected);
        const char *sep = i == 0 ? ", expected " : i == n_items - 1 ? " or " : ", ";
        snprintf(expected + len, sizeof expected - len, "%s", sep);
        if (items[i] < 0) {
            len = strlen(expected);
            snprintf(expected + len, sizeof expected - len, "%s", groups[-items[i] - 1].name);
        } else {
            append_token_name(expected, sizeof expected, (yysymbol_kind_t)items[i]);
        }
    }
    atl_diag_error(ps->diag, loc, "syntax error: unexpected %s%s", unexpected, expected);
    return 0;
}
