/* Gradient checks: every differentiable op of the op table, one table row each, against central
 * finite differences of the interpreter's forward pass; then a whole Swin (one stage with a
 * shifted-window block) compiled from the DSL.
 *
 * Each row builds a module  loss = mse(op(P0, P1, ...), target)  (or the op itself when it is a
 * loss), runs shapes, autodiff, dce and schedule, and compares grad.P* with
 * (L(p + h) - L(p - h)) / 2h on a sample of elements. Tolerances: the forward is float, so
 * |fd - g| <= 2e-2 * max(|fd|, |g|) + 2e-3 with h = 1e-2 for values of order one.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "atl/kernels.h"
#include "atl/rng.h"
#include "backend.h"
#include "lower.h"
#include "pass.h"

enum { MAXOP = 4 };

typedef struct opcase {
    const char *label;
    atl_op op;
    int n_in;
    /* operand shapes; dtype i32 marks a non-differentiable input (labels / indices) */
    atl_dtype dt[MAXOP];
    int rank[MAXOP];
    int64_t dims[MAXOP][ATL_MAX_RANK];
    atl_attr attrs[ATL_MAX_ATTRS];
    int n_attrs;
    /* declared result type for ops that need it (reshape), rank -1 otherwise */
    int out_rank;
    int64_t out_dims[ATL_MAX_RANK];
    /* operand value shaping: 0 normal(0,1), 1 positive (0.5 .. 1.5), 2 away from 0 */
    int value_kind[MAXOP];
    int32_t imax; /* i32 operands: values in [0, imax) */
} opcase;

static const int64_t perm_3120[4] = {3, 1, 2, 0};
static const int64_t roll_shifts[2] = {-1, 2};
static const int64_t roll_axes[2] = {1, 2};

#define SH(...) {__VA_ARGS__}

static opcase cases[64];
static int n_cases;

static void add_case(opcase c)
{
    cases[n_cases++] = c;
}

static opcase mk(const char *label, atl_op op, int n_in)
{
    opcase c;
    memset(&c, 0, sizeof c);
    c.label = label;
    c.op = op;
    c.n_in = n_in;
    c.out_rank = -1;
    return c;
}

static void shape(opcase *c, int k, atl_dtype dt, int rank, const int64_t *d)
{
    c->dt[k] = dt;
    c->rank[k] = rank;
    for (int i = 0; i < rank; i++)
        c->dims[k][i] = d[i];
}

static void build_cases(void)
{
    n_cases = 0;
    opcase c;
#define S(k, dt, ...)                                                                          \
    do {                                                                                       \
        const int64_t d_[] = {__VA_ARGS__};                                                     \
        shape(&c, k, dt, (int)(sizeof d_ / sizeof d_[0]), d_);                                  \
    } while (0)
    c = mk("linear", ATL_OP_LINEAR, 3);
    S(0, ATL_F32, 2, 3, 5);
    S(1, ATL_F32, 4, 5);
    S(2, ATL_F32, 4);
    add_case(c);
    c = mk("linear_nobias", ATL_OP_LINEAR, 2);
    S(0, ATL_F32, 3, 5);
    S(1, ATL_F32, 4, 5);
    add_case(c);
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        static const char *lab[] = {"matmul", "matmul_ta", "matmul_tb", "matmul_ta_tb"};
        c = mk(lab[t], ATL_OP_MATMUL, 2);
        /* a: [2, M=3, K=4] (or [2, 4, 3]); b: [K=4, N=5] (or [5, 4]) broadcast over the batch */
        if (ta)
            S(0, ATL_F32, 2, 4, 3);
        else
            S(0, ATL_F32, 2, 3, 4);
        if (tb)
            S(1, ATL_F32, 5, 4);
        else
            S(1, ATL_F32, 4, 5);
        c.attrs[0] = atl_attr_bool(ta);
        c.attrs[1] = atl_attr_bool(tb);
        c.n_attrs = 2;
        add_case(c);
    }
    c = mk("matmul_batch_bcast", ATL_OP_MATMUL, 2);
    S(0, ATL_F32, 3, 1, 2, 4);
    S(1, ATL_F32, 2, 4, 3);
    add_case(c);
    static const atl_op bins[] = {ATL_OP_ADD, ATL_OP_SUB, ATL_OP_MUL, ATL_OP_DIV};
    static const char *binl[] = {"add_bcast", "sub_bcast", "mul_bcast", "div_bcast"};
    for (int k = 0; k < 4; k++) {
        c = mk(binl[k], bins[k], 2);
        S(0, ATL_F32, 2, 3, 4);
        S(1, ATL_F32, 3, 1);
        if (bins[k] == ATL_OP_DIV)
            c.value_kind[1] = 1;
        add_case(c);
    }
    c = mk("mul_lead_bcast", ATL_OP_MUL, 2);
    S(0, ATL_F32, 4);
    S(1, ATL_F32, 2, 3, 4);
    add_case(c);
    static const atl_op un[] = {ATL_OP_NEG, ATL_OP_GELU, ATL_OP_RELU, ATL_OP_TANH,
                                ATL_OP_SIGMOID, ATL_OP_EXP};
    static const char *unl[] = {"neg", "gelu", "relu", "tanh", "sigmoid", "exp"};
    for (int k = 0; k < 6; k++) {
        c = mk(unl[k], un[k], 1);
        S(0, ATL_F32, 3, 5);
        if (un[k] == ATL_OP_RELU)
            c.value_kind[0] = 2;
        add_case(c);
    }
    c = mk("scale", ATL_OP_SCALE, 1);
    S(0, ATL_F32, 3, 5);
    c.attrs[0] = atl_attr_float(-1.75);
    c.n_attrs = 1;
    add_case(c);
    c = mk("add_scalar", ATL_OP_ADD_SCALAR, 1);
    S(0, ATL_F32, 3, 5);
    c.attrs[0] = atl_attr_float(0.5);
    c.n_attrs = 1;
    add_case(c);
    c = mk("softmax_last", ATL_OP_SOFTMAX, 1);
    S(0, ATL_F32, 2, 3, 6);
    c.attrs[0] = atl_attr_int(-1);
    c.n_attrs = 1;
    add_case(c);
    c = mk("softmax_mid", ATL_OP_SOFTMAX, 1);
    S(0, ATL_F32, 2, 5, 3);
    c.attrs[0] = atl_attr_int(1);
    c.n_attrs = 1;
    add_case(c);
    c = mk("layernorm_affine", ATL_OP_LAYERNORM, 3);
    S(0, ATL_F32, 2, 3, 8);
    S(1, ATL_F32, 8);
    S(2, ATL_F32, 8);
    c.attrs[0] = atl_attr_float(1e-5);
    c.n_attrs = 1;
    add_case(c);
    c = mk("layernorm_plain", ATL_OP_LAYERNORM, 1);
    S(0, ATL_F32, 4, 6);
    c.attrs[0] = atl_attr_float(1e-5);
    c.n_attrs = 1;
    add_case(c);
    c = mk("reshape", ATL_OP_RESHAPE, 1);
    S(0, ATL_F32, 2, 3, 4);
    c.out_rank = 2;
    c.out_dims[0] = 6;
    c.out_dims[1] = 4;
    add_case(c);
    c = mk("permute", ATL_OP_PERMUTE, 1);
    S(0, ATL_F32, 2, 3, 4, 5);
    c.attrs[0] = atl_attr_ints(perm_3120, 4);
    c.n_attrs = 1;
    add_case(c);
    c = mk("concat_mid", ATL_OP_CONCAT, 3);
    S(0, ATL_F32, 2, 1, 3);
    S(1, ATL_F32, 2, 4, 3);
    S(2, ATL_F32, 2, 2, 3);
    c.attrs[0] = atl_attr_int(1);
    c.n_attrs = 1;
    add_case(c);
    c = mk("slice_step", ATL_OP_SLICE, 1);
    S(0, ATL_F32, 3, 9, 2);
    c.attrs[0] = atl_attr_int(1);
    c.attrs[1] = atl_attr_int(1);
    c.attrs[2] = atl_attr_int(8);
    c.attrs[3] = atl_attr_int(3);
    c.n_attrs = 4;
    add_case(c);
    c = mk("roll", ATL_OP_ROLL, 1);
    S(0, ATL_F32, 2, 4, 5, 3);
    c.attrs[0] = atl_attr_ints(roll_shifts, 2);
    c.attrs[1] = atl_attr_ints(roll_axes, 2);
    c.n_attrs = 2;
    add_case(c);
    c = mk("gather", ATL_OP_GATHER, 2);
    S(0, ATL_F32, 7, 3);
    S(1, ATL_I32, 4, 5);
    c.imax = 7;
    add_case(c);
    c = mk("mean", ATL_OP_MEAN, 1);
    S(0, ATL_F32, 2, 5, 3);
    c.attrs[0] = atl_attr_int(1);
    c.attrs[1] = atl_attr_bool(false);
    c.n_attrs = 2;
    add_case(c);
    c = mk("sum_keepdim", ATL_OP_SUM, 1);
    S(0, ATL_F32, 2, 5, 3);
    c.attrs[0] = atl_attr_int(-1);
    c.attrs[1] = atl_attr_bool(true);
    c.n_attrs = 2;
    add_case(c);
    c = mk("cross_entropy", ATL_OP_CROSS_ENTROPY, 2);
    S(0, ATL_F32, 4, 6);
    S(1, ATL_I32, 4);
    c.imax = 6;
    add_case(c);
    c = mk("mse", ATL_OP_MSE, 2);
    S(0, ATL_F32, 3, 4);
    S(1, ATL_F32, 3, 4);
    add_case(c);
#undef S
}

/* ------------------------------------------------------------------------------------------ */

typedef struct harness {
    atl_module *m;
    atl_params *ps;
    atl_interp *ip;
    int32_t *i32data[MAXOP];
} harness;

static void fill_param(atl_params *ps, int k, int kind, uint64_t seed)
{
    int64_t n = atl_type_numel(&ps->types[k]);
    atl_rng_stream r = atl_rng_stream_make(seed, 100 + (uint64_t)k);
    atl_rng_normal(&r, (size_t)n, ps->data[k]);
    for (int64_t i = 0; i < n; i++) {
        float v = ps->data[k][i];
        if (kind == 1)
            v = 1.0f + 0.5f * tanhf(v);
        else if (kind == 2)
            v = (v >= 0 ? 0.3f : -0.3f) + v;
        ps->data[k][i] = v;
    }
}

static atl_module *build_module(const opcase *c)
{
    atl_module *m = atl_module_new(c->label, 1);
    atl_func *f = atl_module_add_func(m, "main");
    int32_t src[MAXOP];
    char name[16];
    for (int k = 0; k < c->n_in; k++) {
        atl_type t = atl_type_make(c->dt[k], c->rank[k], c->dims[k]);
        if (c->dt[k] == ATL_I32) {
            snprintf(name, sizeof name, "i%d", k);
            atl_attr a = atl_attr_str(name);
            src[k] = atl_func_add_node(m, f, ATL_OP_INPUT, NULL, 0, &a, 1, t, ATL_NO_LOC);
        } else {
            snprintf(name, sizeof name, "p%d", k);
            atl_func_add_param(m, f, name, t, (atl_init){ATL_INIT_ZEROS, 0, 0}, ATL_NO_LOC);
            atl_attr a = atl_attr_str(name);
            src[k] = atl_func_add_node(m, f, ATL_OP_PARAM, NULL, 0, &a, 1, t, ATL_NO_LOC);
        }
    }
    atl_type out;
    memset(&out, 0, sizeof out);
    if (c->out_rank >= 0)
        out = atl_type_make(ATL_F32, c->out_rank, c->out_dims);
    int32_t y = atl_func_add_node(m, f, c->op, src, c->n_in, c->attrs, c->n_attrs, out,
                                  ATL_NO_LOC);
    char msg[256];
    atl_type t;
    if (atl_infer_type(m, f, &f->nodes[y], &t, msg, sizeof msg)) {
        fprintf(stderr, "%s: %s\n", c->label, msg);
        return NULL;
    }
    f->nodes[y].type = t;
    int32_t loss = y;
    if (!(atl_op_get(c->op)->flags & ATL_OPF_LOSS)) {
        atl_func_add_param(m, f, "target", t, (atl_init){ATL_INIT_ZEROS, 0, 0}, ATL_NO_LOC);
        f->params[f->n_params - 1].frozen = true;
        atl_attr a = atl_attr_str("target");
        int32_t tg = atl_func_add_node(m, f, ATL_OP_PARAM, NULL, 0, &a, 1, t, ATL_NO_LOC);
        int32_t s2[2] = {y, tg};
        loss = atl_func_add_node(m, f, ATL_OP_MSE, s2, 2, NULL, 0, atl_type_make(ATL_F32, 0, NULL),
                                 ATL_NO_LOC);
    }
    const char *on = "loss";
    atl_func_set_outputs(m, f, &loss, &on, 1);
    return m;
}

static int run_passes(atl_module *m, const char *list)
{
    atl_diag d;
    atl_diag_init(&d, stderr);
    atl_pipeline pl;
    atl_pipeline_init(&pl);
    int rc = atl_pipeline_parse(&pl, list, &d);
    if (!rc)
        rc = atl_pipeline_run(&pl, m, &d);
    atl_diag_fini(&d);
    return rc;
}

static float loss_of(harness *h)
{
    char err[256];
    assert_int_equal(atl_interp_run(h->ip, err, sizeof err), 0);
    const float *l = atl_interp_output(h->ip, "loss", NULL);
    assert_non_null(l);
    return *l;
}

/* Compare analytic and numerical gradients of every trainable parameter on up to `sample`
 * elements (spread over the tensor). Returns the number of mismatches. */
static int check_grads(harness *h, const char *label, int sample, float hstep, float rtol,
                       float atol)
{
    int bad = 0;
    atl_params *ps = h->ps;
    float base = loss_of(h);
    (void)base;
    for (int k = 0; k < ps->n; k++) {
        if (ps->frozen[k])
            continue;
        char gname[300];
        snprintf(gname, sizeof gname, "grad.%s", ps->names[k]);
        atl_type gt;
        const float *g = atl_interp_output(h->ip, gname, &gt);
        int64_t n = atl_type_numel(&ps->types[k]);
        float *gcopy = NULL;
        if (g) {
            assert_true(atl_type_equal(&gt, &ps->types[k]));
            gcopy = malloc(sizeof(float) * (size_t)n);
            memcpy(gcopy, g, sizeof(float) * (size_t)n);
        }
        int64_t stride = n > sample ? n / sample : 1;
        for (int64_t e = 0; e < n; e += stride) {
            float *p = &ps->data[k][e];
            float old = *p;
            *p = old + hstep;
            double lp = loss_of(h);
            *p = old - hstep;
            double lm = loss_of(h);
            *p = old;
            double fd = (lp - lm) / (2.0 * hstep);
            double an = gcopy ? gcopy[e] : 0.0;
            double tol = rtol * fmax(fabs(fd), fabs(an)) + atol;
            if (fabs(fd - an) > tol) {
                if (bad < 8)
                    fprintf(stderr, "%s: d/d %s[%lld]: autodiff %.6g, finite difference %.6g\n",
                            label, ps->names[k], (long long)e, an, fd);
                bad++;
            }
        }
        free(gcopy);
    }
    return bad;
}

static void test_every_op_has_a_case(void **state)
{
    (void)state;
    build_cases();
    for (int op = 0; op < ATL_OP_COUNT; op++) {
        if (!(atl_op_get((atl_op)op)->flags & ATL_OPF_DIFF))
            continue;
        assert_true(atl_op_has_grad_rule((atl_op)op));
        bool found = false;
        for (int k = 0; k < n_cases; k++)
            found |= cases[k].op == (atl_op)op;
        if (!found)
            fprintf(stderr, "no gradient check for differentiable op %s\n",
                    atl_op_name((atl_op)op));
        assert_true(found);
    }
}

static void test_op_gradients(void **state)
{
    (void)state;
    build_cases();
    int failures = 0;
    for (int ci = 0; ci < n_cases; ci++) {
        const opcase *c = &cases[ci];
        harness h;
        memset(&h, 0, sizeof h);
        h.m = build_module(c);
        assert_non_null(h.m);
        if (run_passes(h.m, "shapes,verify,autodiff,verify,dce,schedule,verify")) {
            fprintf(stderr, "%s: passes failed\n", c->label);
            failures++;
            atl_module_free(h.m);
            continue;
        }
        h.ps = atl_params_create(h.m, 7);
        for (int k = 0; k < h.ps->n; k++) {
            int kind = 0;
            if (strncmp(h.ps->names[k], "p", 1) == 0)
                kind = c->value_kind[atoi(h.ps->names[k] + 1)];
            fill_param(h.ps, k, kind, 1234 + (uint64_t)ci);
        }
        char err[256];
        h.ip = atl_interp_create(h.m, h.ps, err, sizeof err);
        assert_non_null(h.ip);
        for (int k = 0; k < c->n_in; k++) {
            if (c->dt[k] != ATL_I32)
                continue;
            int64_t n = 1;
            for (int i = 0; i < c->rank[k]; i++)
                n *= c->dims[k][i];
            h.i32data[k] = malloc(sizeof(int32_t) * (size_t)n);
            for (int64_t i = 0; i < n; i++)
                h.i32data[k][i] = (int32_t)((i * 5 + 3) % c->imax);
            char nm[16];
            snprintf(nm, sizeof nm, "i%d", k);
            assert_int_equal(atl_interp_bind(h.ip, nm, h.i32data[k]), 0);
        }
        /* every trainable parameter must have a gradient output */
        for (int k = 0; k < h.ps->n; k++) {
            if (h.ps->frozen[k])
                continue;
            char gname[64];
            snprintf(gname, sizeof gname, "grad.%s", h.ps->names[k]);
            loss_of(&h);
            if (!atl_interp_output(h.ip, gname, NULL)) {
                fprintf(stderr, "%s: no gradient for %s\n", c->label, h.ps->names[k]);
                failures++;
            }
        }
        failures += check_grads(&h, c->label, 24, 1e-2f, 2e-2f, 2e-3f);
        atl_interp_free(h.ip);
        atl_params_free(h.ps);
        atl_module_free(h.m);
        for (int k = 0; k < MAXOP; k++)
            free(h.i32data[k]);
    }
    assert_int_equal(failures, 0);
}

/* A whole Swin stage (two blocks, the second with shifted windows and the attention mask,
 * relative position bias, patch embedding, head) from the DSL: every parameter tensor's
 * gradient is checked on a few elements. */
static void test_swin_gradients(void **state)
{
    (void)state;
    atl_diag d;
    atl_diag_init(&d, stderr);
    const char *defs[] = {"depths=[2]", "heads=[2]", "dim=8", "classes=3", "mlp_ratio=2"};
    atl_lower_opts o = {.batch = 2, .defines = defs, .n_defines = 5};
    atl_module *m = atl_compile_file(&d, ATL_SOURCE_DIR "/models/swin_tiny.atl", &o);
    assert_non_null(m);
    atl_diag_fini(&d);
    assert_int_equal(run_passes(m, "expand,shapes,verify,dce,cse,autodiff,verify,dce,schedule,"
                                   "verify"),
                     0);
    harness h;
    memset(&h, 0, sizeof h);
    h.m = m;
    h.ps = atl_params_create(m, 3);
    /* larger random weights than the init so that every path carries signal */
    for (int k = 0; k < h.ps->n; k++) {
        int64_t n = atl_type_numel(&h.ps->types[k]);
        atl_rng_stream r = atl_rng_stream_make(99, (uint64_t)k);
        float *tmp = malloc(sizeof(float) * (size_t)n);
        atl_rng_normal(&r, (size_t)n, tmp);
        for (int64_t i = 0; i < n; i++)
            h.ps->data[k][i] += 0.3f * tmp[i];
        free(tmp);
    }
    char err[256];
    h.ip = atl_interp_create(m, h.ps, err, sizeof err);
    assert_non_null(h.ip);
    float x[2 * 3 * 32 * 32];
    atl_rng_normal_fill_at(5, 5, 0, sizeof x / sizeof x[0], x);
    int32_t y[2] = {0, 2};
    assert_int_equal(atl_interp_bind(h.ip, "x", x), 0);
    assert_int_equal(atl_interp_bind(h.ip, "y", y), 0);
    int bad = check_grads(&h, "swin", 3, 1e-2f, 5e-2f, 5e-4f);
    atl_interp_free(h.ip);
    atl_params_free(h.ps);
    atl_module_free(m);
    assert_int_equal(bad, 0);
}

int main(void)
{
    atl_k_init(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_has_a_case),
        cmocka_unit_test(test_op_gradients),
        cmocka_unit_test(test_swin_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
