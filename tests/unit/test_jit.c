/* The LLVM backend against its oracle, the interpreter (differential tests), and the fuse pass
 * against the unfused interpreter.
 *
 * Each case compiles a model file twice (training step: autodiff + optimizer; evaluation step),
 * creates two parameter stores from the same seed, runs N training steps on the same batches
 * with the interpreter and with the JIT, and compares every step's loss and logits and, at the
 * end, every parameter and momentum buffer; then one evaluation step. The JIT's elementwise
 * kernels evaluate exactly the kernels' IEEE operations and every other op calls the same
 * runtime function, so the results are expected to be equal bit for bit; the tolerances of the
 * issue (relative 1e-5 on losses, 1e-5 relative + 1e-7 absolute on values) are what is asserted,
 * and the number of bitwise differences is printed.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "atl/kernels.h"
#include "atl/rng.h"
#include "backend.h"
#include "exec.h"
#include "fused_exec.h"
#include "jit.h"
#include "lower.h"
#include "pass.h"

/* the configuration file of the analog cases (NULL: digital) */
static const char *g_config;

static atl_module *compile(const char *model, const char **defines, int n_defines, int64_t batch,
                           const char *passes)
{
    atl_diag d;
    atl_diag_init(&d, stderr);
    atl_lower_opts o = {.batch = batch, .defines = defines, .n_defines = n_defines};
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", ATL_SOURCE_DIR, model);
    atl_module *m = atl_compile_file(&d, path, &o);
    assert_non_null(m);
    if (g_config)
        assert_int_equal(atl_lower_config_file(&d, m, g_config), 0);
    if (strstr(passes, "optimizer")) {
        atl_cfg *opt = atl_cfg_add_section(m, NULL, "optimizer", NULL, ATL_NO_LOC);
        atl_cfg_add_entry(m, opt, "momentum", (atl_value){.kind = ATL_VAL_FLOAT, .f = 0.9},
                          ATL_NO_LOC);
        atl_cfg_add_entry(m, opt, "weight_decay", (atl_value){.kind = ATL_VAL_FLOAT, .f = 1e-4},
                          ATL_NO_LOC);
    }
    atl_pipeline pl;
    atl_pipeline_init(&pl);
    assert_int_equal(atl_pipeline_parse(&pl, passes, &d), 0);
    assert_int_equal(atl_pipeline_run(&pl, m, &d), 0);
    atl_diag_fini(&d);
    return m;
}

#define TRAIN_PASSES "expand,shapes,verify,dce,cse,autodiff,analog-map,noise,optimizer,dce,cse,"
#define EVAL_PASSES "expand,shapes,verify,dce,cse,analog-map,noise,dce,cse,"

/* a deterministic batch: x ~ N(0, 1), labels in [0, classes) */
static void make_batch(const atl_module *m, uint64_t step, float **x, int32_t **y)
{
    const atl_func *f = &m->funcs[0];
    for (int i = 0; i < f->n_nodes; i++) {
        const atl_node *n = &f->nodes[i];
        if (n->op != ATL_OP_INPUT)
            continue;
        const char *nm = atl_node_attr_str(n, "name");
        int64_t cnt = atl_type_numel(&n->type);
        if (strcmp(nm, "x") == 0) {
            *x = realloc(*x, sizeof(float) * (size_t)cnt);
            atl_rng_normal_fill_at(7, step, 0, (size_t)cnt, *x);
        } else if (strcmp(nm, "y") == 0) {
            *y = realloc(*y, sizeof(int32_t) * (size_t)cnt);
            for (int64_t k = 0; k < cnt; k++)
                (*y)[k] = (int32_t)((step * 7 + (uint64_t)k * 3) % 10);
        }
    }
}

typedef struct diffstat {
    int64_t n, bitdiff;
    double max_rel;
    int bad;
} diffstat;

/* |a - b| <= rtol max(|a|, |b|) + atol elementwise */
static void compare(diffstat *s, const float *a, const float *b, int64_t n, double rtol,
                    double atol)
{
    for (int64_t i = 0; i < n; i++) {
        double x = a[i], y = b[i];
        if (memcmp(&a[i], &b[i], 4) != 0)
            s->bitdiff++;
        double d = fabs(x - y), sc = fmax(fabs(x), fabs(y));
        if (sc > 0 && d / sc > s->max_rel)
            s->max_rel = d / sc;
        if (!(d <= rtol * sc + atol)) {
            if (s->bad < 5)
                print_message("  mismatch at %lld: %.9g vs %.9g\n", (long long)i, x, y);
            s->bad++;
        }
    }
    s->n += n;
}

typedef struct runner {
    const atl_exec_ops *ops;
    void *ctx;
    void *train, *eval;
    atl_params *ps;
    atl_analog *an; /* the tiles of analog cases (same seed: the same devices and noise) */
} runner;

static void runner_init(runner *r, const atl_exec_ops *ops, void *ctx, const atl_module *mt,
                        const atl_module *me)
{
    char err[512];
    r->ops = ops;
    r->ctx = ctx;
    r->ps = atl_params_create(me, 3);
    r->an = NULL;
    r->train = ops->create(ctx, mt, r->ps, err, sizeof err);
    if (!r->train)
        print_error("%s create (train): %s\n", ops->name, err);
    assert_non_null(r->train);
    r->eval = ops->create(ctx, me, r->ps, err, sizeof err);
    if (!r->eval)
        print_error("%s create (eval): %s\n", ops->name, err);
    assert_non_null(r->eval);
    if (mt->funcs[0].n_tiles > 0) {
        r->an = atl_analog_create(mt, 11, err, sizeof err);
        if (!r->an)
            print_error("%s\n", err);
        assert_non_null(r->an);
        assert_int_equal(atl_analog_program(r->an, r->ps, 0.05, err, sizeof err), 0);
        assert_int_equal(ops->set_analog(r->train, r->an, err, sizeof err), 0);
        assert_int_equal(ops->set_analog(r->eval, r->an, err, sizeof err), 0);
    }
}

static void runner_fini(runner *r)
{
    r->ops->destroy(r->train);
    r->ops->destroy(r->eval);
    atl_analog_free(r->an);
    atl_params_free(r->ps);
}

/* N training steps and one evaluation with executors a and b; everything compared. */
static void differential(const atl_exec_ops *oa, void *cxa, const atl_module *ta,
                         const atl_module *ea, const atl_exec_ops *ob, void *cxb,
                         const atl_module *tb, const atl_module *eb, int steps)
{
    runner A, B;
    runner_init(&A, oa, cxa, ta, ea);
    runner_init(&B, ob, cxb, tb, eb);
    float *x = NULL, lr = 0.05f;
    int32_t *y = NULL;
    char err[512];
    diffstat vals = {0}, params = {0};
    for (int s = 0; s < steps; s++) {
        make_batch(ta, (uint64_t)s, &x, &y);
        runner *rs[2] = {&A, &B};
        for (int k = 0; k < 2; k++) {
            rs[k]->ops->bind(rs[k]->train, "x", x);
            rs[k]->ops->bind(rs[k]->train, "y", y);
            rs[k]->ops->bind(rs[k]->train, "lr", &lr);
            assert_int_equal(rs[k]->ops->run(rs[k]->train, err, sizeof err), 0);
        }
        atl_type lt;
        const float *la = oa->output(A.train, "loss", NULL),
                    *lb = ob->output(B.train, "loss", NULL);
        const float *za = oa->output(A.train, "logits", &lt),
                    *zb = ob->output(B.train, "logits", NULL);
        double rel = fabs((double)*la - *lb) / fmax(fabs((double)*la), 1e-30);
        print_message("  step %d: loss %s %.9g, %s %.9g (rel %.2g)\n", s, oa->name, (double)*la,
                      ob->name, (double)*lb, rel);
        assert_true(isfinite(*la));
        assert_true(rel <= 1e-5);
        compare(&vals, za, zb, atl_type_numel(&lt), 1e-5, 1e-6);
        if (A.an && s == 0) {
            /* as the trainer does around evaluations: restoring a snapshot replaces the tile
             * objects, which the executors must pick up */
            for (int k = 0; k < 2; k++) {
                atl_analog_snapshot *snap = atl_analog_snapshot_take(rs[k]->an);
                assert_non_null(snap);
                assert_int_equal(atl_analog_snapshot_restore(rs[k]->an, snap, err, sizeof err), 0);
                atl_analog_snapshot_free(snap);
            }
        }
    }
    for (int k = 0; k < A.ps->n; k++) {
        int64_t n = atl_type_numel(&A.ps->types[k]);
        compare(&params, A.ps->data[k], B.ps->data[k], n, 1e-5, 1e-7);
        assert_true((A.ps->momentum[k] == NULL) == (B.ps->momentum[k] == NULL));
        assert_int_equal(A.ps->mom_started[k], B.ps->mom_started[k]);
        if (A.ps->momentum[k])
            compare(&params, A.ps->momentum[k], B.ps->momentum[k], n, 1e-5, 1e-7);
    }
    /* analog tiles: identical pulse counts and identical device states (counter-based RNG) */
    assert_true((A.an == NULL) == (B.an == NULL));
    for (int t = 0; A.an && t < atl_analog_count(A.an); t++) {
        atl_tile *ta_ = atl_analog_tile(A.an, t), *tb_ = atl_analog_tile(B.an, t);
        atl_tile_counters ca, cb;
        atl_tile_get_counters(ta_, &ca);
        atl_tile_get_counters(tb_, &cb);
        assert_true(ca.updates > 0);
        assert_memory_equal(&ca, &cb, sizeof ca);
        const atl_tile_config *cfg = atl_tile_get_config(ta_);
        size_t nw = (size_t)cfg->d_size * (size_t)cfg->x_size;
        float *wa = malloc(nw * 4), *wb = malloc(nw * 4);
        assert_true(wa && wb);
        atl_tile_get_weights(ta_, wa);
        atl_tile_get_weights(tb_, wb);
        assert_memory_equal(wa, wb, nw * 4);
        if (t == 0)
            print_message("  tile %s: %llu updates, %llu + %llu pulses on A, %llu on C: equal\n",
                          atl_analog_name(A.an, t), (unsigned long long)ca.updates,
                          (unsigned long long)ca.pulses_up_a, (unsigned long long)ca.pulses_down_a,
                          (unsigned long long)(ca.pulses_up_c + ca.pulses_down_c));
        free(wa);
        free(wb);
    }
    /* evaluation with the trained parameters */
    make_batch(ea, 1000, &x, &y);
    runner *rs[2] = {&A, &B};
    for (int k = 0; k < 2; k++) {
        rs[k]->ops->bind(rs[k]->eval, "x", x);
        rs[k]->ops->bind(rs[k]->eval, "y", y);
        assert_int_equal(rs[k]->ops->run(rs[k]->eval, err, sizeof err), 0);
    }
    atl_type lt;
    const float *za = oa->output(A.eval, "logits", &lt), *zb = ob->output(B.eval, "logits", NULL);
    compare(&vals, za, zb, atl_type_numel(&lt), 1e-5, 1e-6);
    const float *la = oa->output(A.eval, "loss", NULL), *lb = ob->output(B.eval, "loss", NULL);
    assert_true(fabs((double)*la - *lb) <= 1e-5 * fabs((double)*la));
    print_message("  %s vs %s: logits %lld values (%lld bitwise different, max rel %.2g); "
                  "parameters+momentum %lld values (%lld bitwise different, max rel %.2g)\n",
                  oa->name, ob->name, (long long)vals.n, (long long)vals.bitdiff, vals.max_rel,
                  (long long)params.n, (long long)params.bitdiff, params.max_rel);
    assert_int_equal(vals.bad, 0);
    assert_int_equal(params.bad, 0);
    free(x);
    free(y);
    runner_fini(&A);
    runner_fini(&B);
}

static atl_jit_session *session(void)
{
    char err[512];
    atl_jit_session *s = atl_jit_session_create(NULL, err, sizeof err);
    if (!s)
        print_error("%s\n", err);
    assert_non_null(s);
    return s;
}

/* interpreter (unfused) vs JIT (fused) */
static void jit_case(const char *model, const char **defs, int nd, int64_t batch, int steps)
{
    atl_module *ti = compile(model, defs, nd, batch, TRAIN_PASSES "schedule,verify");
    atl_module *ei = compile(model, defs, nd, batch, EVAL_PASSES "schedule,verify");
    atl_module *tj = compile(model, defs, nd, batch, TRAIN_PASSES "fuse,schedule,verify");
    atl_module *ej = compile(model, defs, nd, batch, EVAL_PASSES "fuse,schedule,verify");
    atl_jit_session *s = session();
    differential(atl_exec_interp_ops(), NULL, ti, ei, atl_exec_jit_ops(), s, tj, ej, steps);
    atl_jit_session_free(s);
    atl_module_free(ti);
    atl_module_free(ei);
    atl_module_free(tj);
    atl_module_free(ej);
}

static void test_jit_mlp(void **state)
{
    (void)state;
    const char *defs[] = {"hidden=64"};
    jit_case("mlp.atl", defs, 1, 4, 3);
}

static void test_jit_swin_tiny(void **state)
{
    (void)state;
    const char *defs[] = {"dim=16", "heads=[1, 2]", "mlp_ratio=2"};
    jit_case("swin_tiny.atl", defs, 3, 2, 3);
}

static void test_jit_swin_cifar(void **state)
{
    (void)state;
    jit_case("swin_cifar.atl", NULL, 0, 2, 2);
}

/* Analog and hybrid configurations: mlp on 8x8 images with every linear layer on tiles, for
 * each training algorithm, and with only the first layer analog. */
static void analog_case(const char *config_text)
{
    char path[] = "/tmp/atl_test_jit_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(config_text, f);
    fclose(f);
    g_config = path;
    const char *defs[] = {"hidden=16", "img=8"};
    jit_case("mlp.atl", defs, 2, 4, 3);
    g_config = NULL;
    unlink(path);
}

static void test_jit_analog_algorithms(void **state)
{
    (void)state;
    static const char *const algos[] = {"sgd", "mp", "tt", "ttv2-buffered", "ttv2", "cttv2",
                                        "agad"};
    for (size_t k = 0; k < sizeof algos / sizeof algos[0]; k++) {
        char cfg[512];
        snprintf(cfg, sizeof cfg,
                 "analog {\n  device \"reram_sb\" { }\n  algorithm \"%s\" { }\n"
                 "  layers \"net.*\" { }\n}\n",
                 algos[k]);
        print_message(" algorithm %s\n", algos[k]);
        analog_case(cfg);
    }
}

static void test_jit_hybrid(void **state)
{
    (void)state;
    analog_case("analog {\n  algorithm \"cttv2\" { in_chop_prob = 0.1; }\n"
                "  layers \"net.fc1.*\" { }\n}\n");
}

/* the fuse pass changes nothing the interpreter computes: fused vs unfused, bit for bit */
static void test_fuse_interp_bitexact(void **state)
{
    (void)state;
    const char *defs[] = {"dim=16", "heads=[1, 2]", "mlp_ratio=2"};
    atl_module *t0 = compile("swin_tiny.atl", defs, 3, 2, TRAIN_PASSES "schedule");
    atl_module *e0 = compile("swin_tiny.atl", defs, 3, 2, EVAL_PASSES "schedule");
    atl_module *t1 = compile("swin_tiny.atl", defs, 3, 2, TRAIN_PASSES "fuse,schedule,verify");
    atl_module *e1 = compile("swin_tiny.atl", defs, 3, 2, EVAL_PASSES "fuse,schedule,verify");
    int fused = 0;
    for (int i = 0; i < t1->funcs[0].n_nodes; i++)
        fused += t1->funcs[0].nodes[i].op == ATL_OP_FUSED;
    assert_true(fused > 0);
    differential(atl_exec_interp_ops(), NULL, t0, e0, atl_exec_interp_ops(), NULL, t1, e1, 2);
    atl_module_free(t0);
    atl_module_free(e0);
    atl_module_free(t1);
    atl_module_free(e1);
}

/* kernels compiled by one step are reused by the next in the same session */
static void test_jit_dedup(void **state)
{
    (void)state;
    const char *defs[] = {"hidden=64"};
    atl_module *m = compile("mlp.atl", defs, 1, 4, TRAIN_PASSES "fuse,schedule");
    atl_jit_session *s = session();
    atl_params *ps = atl_params_create(m, 1);
    char err[512];
    atl_jit *a = atl_jit_create(s, m, ps, err, sizeof err);
    assert_non_null(a);
    atl_jit *b = atl_jit_create(s, m, ps, err, sizeof err);
    assert_non_null(b);
    atl_jit_stats sa, sb;
    atl_jit_get_stats(a, &sa);
    atl_jit_get_stats(b, &sb);
    assert_true(sa.kernels_defined > 0);
    assert_int_equal(sb.kernels_defined, 0);
    assert_int_equal(sa.kernel_calls, sb.kernel_calls);
    assert_string_not_equal(sa.entry, sb.entry);
    atl_jit_free(a);
    atl_jit_free(b);
    atl_params_free(ps);
    atl_jit_session_free(s);
    atl_module_free(m);
}

/* The JIT's exp, tanh, sigmoid, gelu and gelu' (k_math.h written out in LLVM IR) against the
 * interpreter's kernels, bit for bit, on a sweep of float bit patterns (every exponent, 2^20
 * values) plus the special values. */
static void test_math_bitexact(void **state)
{
    (void)state;
    enum { N = (1 << 20) + 16 };
    atl_module *m = atl_module_new("math", 1);
    atl_func *f = atl_module_add_func(m, "main");
    int64_t dims[1] = {N};
    atl_type t = atl_type_make(ATL_F32, 1, dims);
    atl_attr nm = atl_attr_str("x");
    int32_t x = atl_func_add_node(m, f, ATL_OP_INPUT, NULL, 0, &nm, 1, t, ATL_NO_LOC);
    const atl_op ops[] = {ATL_OP_GELU, ATL_OP_GELU_GRAD, ATL_OP_TANH, ATL_OP_SIGMOID, ATL_OP_EXP,
                          ATL_OP_TANH_GRAD, ATL_OP_SIGMOID_GRAD, ATL_OP_RELU, ATL_OP_RELU_GRAD};
    const char *names[] = {"gelu", "gelu_grad", "tanh", "sigmoid", "exp",
                           "tanh_grad", "sigmoid_grad", "relu", "relu_grad"};
    enum { NOPS = sizeof ops / sizeof ops[0] };
    int32_t outs[NOPS];
    for (int k = 0; k < NOPS; k++) {
        int32_t src[2] = {x, x};
        int ns = atl_fexpr_op_arity(ops[k], NULL);
        outs[k] = atl_func_add_node(m, f, ops[k], src, ns, NULL, 0, t, ATL_NO_LOC);
    }
    atl_func_set_outputs(m, f, outs, names, NOPS);
    atl_diag d;
    atl_diag_init(&d, stderr);
    atl_pipeline pl;
    atl_pipeline_init(&pl);
    assert_int_equal(atl_pipeline_parse(&pl, "verify,schedule", &d), 0);
    assert_int_equal(atl_pipeline_run(&pl, m, &d), 0);
    atl_diag_fini(&d);
    float *in = malloc(sizeof(float) * N);
    assert_non_null(in);
    for (uint32_t i = 0; i < (1u << 20); i++) {
        uint32_t u = i * 4099u + (i >> 9); /* all exponents, both signs */
        memcpy(&in[i], &u, 4);
    }
    const float special[16] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1e-45f, -1e-45f,
                               88.72f, -103.9f, 0.8f, -0.8f, 0.625f, 20.0f, -0.75f, 1e30f};
    memcpy(in + (1 << 20), special, sizeof special);
    atl_params *ps = atl_params_create(m, 1);
    char err[512];
    atl_interp *ip = atl_interp_create(m, ps, err, sizeof err);
    assert_non_null(ip);
    atl_jit_session *s = session();
    atl_jit *j = atl_jit_create(s, m, ps, err, sizeof err);
    if (!j)
        print_error("%s\n", err);
    assert_non_null(j);
    atl_interp_bind(ip, "x", in);
    atl_jit_bind(j, "x", in);
    assert_int_equal(atl_interp_run(ip, err, sizeof err), 0);
    assert_int_equal(atl_jit_run(j, err, sizeof err), 0);
    for (int k = 0; k < NOPS; k++) {
        const float *a = atl_interp_output(ip, names[k], NULL), *b = atl_jit_output(j, names[k], NULL);
        int64_t bad = 0;
        for (int64_t i = 0; i < N; i++)
            if (memcmp(&a[i], &b[i], 4) != 0 && !(isnan(a[i]) && isnan(b[i]))) {
                if (bad++ < 3)
                    print_message("  %s(%.9g): interp %.9g jit %.9g\n", names[k], (double)in[i],
                                  (double)a[i], (double)b[i]);
            }
        print_message("  %-12s %d values, %lld differ\n", names[k], N, (long long)bad);
        assert_int_equal(bad, 0);
    }
    atl_jit_free(j);
    atl_jit_session_free(s);
    atl_interp_free(ip);
    atl_params_free(ps);
    atl_module_free(m);
    free(in);
}

/* every elementwise op has a scalar form in both executors, every op a lowering row */
static void test_op_tables(void **state)
{
    (void)state;
    for (int op = 0; op < ATL_OP_COUNT; op++) {
        if (atl_fexpr_op_arity((atl_op)op, NULL) >= 0) {
            assert_true(atl_fused_op_supported((atl_op)op));
        }
    }
}

int main(void)
{
    atl_k_init(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_tables),
        cmocka_unit_test(test_math_bitexact),
        cmocka_unit_test(test_fuse_interp_bitexact),
        cmocka_unit_test(test_jit_dedup),
        cmocka_unit_test(test_jit_mlp),
        cmocka_unit_test(test_jit_swin_tiny),
        cmocka_unit_test(test_jit_swin_cifar),
        cmocka_unit_test(test_jit_analog_algorithms),
        cmocka_unit_test(test_jit_hybrid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
