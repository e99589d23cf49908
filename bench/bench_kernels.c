/* Benchmark of the dense kernels (runtime/kernels) at the shapes of the study's Swin model
 * (models/swin_cifar.atl, batch 8: stage 1 has 8 x 256 tokens of 48 channels, 128 windows of
 * 4x4 tokens, 3 heads of 16; stage 2 has 8 x 64 tokens of 96 channels). Prints one JSON object
 * per line: median and best time per call over `samples` samples (each sample times enough calls
 * to last >= 1 ms), and GFLOP/s (GEMM-shaped kernels) or GB/s (bytes read + written once, the
 * minimum traffic) computed from the median.
 *
 *   bench_kernels [samples]     (default 15)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atl/kernels.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *rnd(int64_t n, uint64_t seed)
{
    float *v = malloc(sizeof(float) * (size_t)n);
    if (!v) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v[i] = (float)((double)(s >> 11) * 0x1.0p-53 * 2.0 - 1.0);
    }
    return v;
}

/* Buffers shared by the cases (large enough for every shape below). */
enum { BUF = 1 << 21 };
typedef struct bufs {
    float *a, *b, *c, *d, *w, *bias, *y;
    int32_t idx[256], lab[256];
    const float *xs[4];
} bufs;

typedef struct bench_case {
    const char *kernel, *shape;
    double flops, bytes; /* per call; one of them is 0 */
    void (*run)(bufs *);
} bench_case;

#define F 4.0 /* bytes per float */

/* ---- cases (one function each, so the timed loop makes one direct call per kernel call) ---- */
static void c_lin_qkv(bufs *u) { atl_k_linear(u->a, u->w, u->bias, u->y, 2048, 48, 144); }
static void c_lin_qkv_bx(bufs *u) { atl_k_linear_bwd_x(u->a, u->w, u->y, 2048, 48, 144); }
static void c_lin_qkv_bw(bufs *u) { atl_k_linear_bwd_w(u->a, u->b, u->y, 2048, 48, 144); }
static void c_lin_fc1(bufs *u) { atl_k_linear(u->a, u->w, u->bias, u->y, 2048, 48, 192); }
static void c_lin_fc2(bufs *u) { atl_k_linear(u->a, u->w, u->bias, u->y, 2048, 192, 48); }
static void c_lin_proj(bufs *u) { atl_k_linear(u->a, u->w, u->bias, u->y, 2048, 48, 48); }
static void c_lin_merge(bufs *u) { atl_k_linear(u->a, u->w, NULL, u->y, 512, 192, 96); }
static const int64_t att_d[] = {128, 3, 16, 16};
static void c_qk(bufs *u) { atl_k_matmul(u->a, 4, att_d, false, u->b, 4, att_d, true, u->y, 4, att_d); }
static void c_av(bufs *u) { atl_k_matmul(u->a, 4, att_d, false, u->b, 4, att_d, false, u->y, 4, att_d); }
static void c_av_bwd_a(bufs *u) { atl_k_matmul(u->a, 4, att_d, false, u->b, 4, att_d, true, u->y, 4, att_d); }
static void c_av_bwd_b(bufs *u) { atl_k_matmul(u->a, 4, att_d, true, u->b, 4, att_d, false, u->y, 4, att_d); }
static const int64_t att2_d[] = {32, 6, 16, 16};
static void c_qk2(bufs *u) { atl_k_matmul(u->a, 4, att2_d, false, u->b, 4, att2_d, true, u->y, 4, att2_d); }
static void c_softmax(bufs *u) { atl_k_softmax(u->a, u->y, 128 * 3 * 16, 16, 1); }
static void c_softmax_bwd(bufs *u) { atl_k_softmax_bwd(u->a, u->b, u->y, 128 * 3 * 16, 16, 1); }
static void c_ln(bufs *u) { atl_k_layernorm(u->a, u->w, u->bias, u->y, 2048, 48, 1e-5f); }
static void c_ln_bx(bufs *u) { atl_k_layernorm_bwd_x(u->a, u->w, u->b, u->y, 2048, 48, 1e-5f); }
static void c_ln_bw(bufs *u) { atl_k_layernorm_bwd_w(u->a, u->b, u->y, 2048, 48, 1e-5f); }
static void c_ln_merge(bufs *u) { atl_k_layernorm(u->a, u->w, u->bias, u->y, 512, 192, 1e-5f); }
static const int64_t mask_y[] = {8, 16, 3, 16, 16}, mask_b[] = {16, 1, 16, 16};
static void c_add_mask(bufs *u) { atl_k_binary(ATL_K_ADD, u->a, 5, mask_y, u->b, 4, mask_b, u->y, 5, mask_y); }
static const int64_t bias_y[] = {2048, 144}, bias_b[] = {144};
static void c_add_bias(bufs *u) { atl_k_binary(ATL_K_ADD, u->a, 2, bias_y, u->b, 1, bias_b, u->y, 2, bias_y); }
static const int64_t tok_d[] = {8, 256, 48};
static void c_add_res(bufs *u) { atl_k_binary(ATL_K_ADD, u->a, 3, tok_d, u->b, 3, tok_d, u->y, 3, tok_d); }
static const int64_t rpb_y[] = {128, 3, 16, 16}, rpb_b[] = {3, 16, 16};
static void c_add_rpb(bufs *u) { atl_k_binary(ATL_K_ADD, u->a, 4, rpb_y, u->b, 3, rpb_b, u->y, 4, rpb_y); }
static void c_mul_scalar(bufs *u) { atl_k_binary(ATL_K_MUL, u->a, 4, att_d, u->b, 0, NULL, u->y, 4, att_d); }
static void c_gelu(bufs *u) { atl_k_gelu(u->a, u->y, 2048 * 192); }
static void c_gelu_bwd(bufs *u) { atl_k_gelu_bwd(u->a, u->b, u->y, 2048 * 192); }
static void c_exp(bufs *u) { atl_k_exp(u->a, u->y, 2048 * 192); }
static void c_acc(bufs *u) { atl_k_acc(u->y, u->a, 2048 * 48); }
static const int64_t wp_d[] = {8, 4, 4, 4, 4, 48}, wp_p[] = {0, 1, 3, 2, 4, 5};
static void c_perm_window(bufs *u) { atl_k_permute(u->a, 6, wp_d, wp_p, u->y); }
static const int64_t qkv_d[] = {128, 16, 3, 3, 16}, qkv_p[] = {2, 0, 3, 1, 4};
static void c_perm_qkv(bufs *u) { atl_k_permute(u->a, 5, qkv_d, qkv_p, u->y); }
static const int64_t hm_p[] = {0, 2, 1, 3};
static void c_perm_heads(bufs *u) { atl_k_permute(u->a, 4, att_d, hm_p, u->y); }
static const int64_t pm_d[] = {8, 8, 2, 8, 2, 48}, pm_p[] = {0, 1, 3, 4, 2, 5};
static void c_perm_merge(bufs *u) { atl_k_permute(u->a, 6, pm_d, pm_p, u->y); }
static const int64_t tr_d[] = {8, 256, 48}, tr_p[] = {0, 2, 1};
static void c_perm_transpose(bufs *u) { atl_k_permute(u->a, 3, tr_d, tr_p, u->y); }
static const int64_t roll_d[] = {8, 16, 16, 48}, roll_ax[] = {1, 2}, roll_sh[] = {-2, -2};
static void c_roll(bufs *u) { atl_k_roll(u->a, 4, roll_d, 2, roll_ax, roll_sh, u->y); }
static const int64_t sl_d[] = {3, 128, 3, 16, 16};
static void c_slice(bufs *u) { atl_k_slice(u->a, 5, sl_d, 0, 1, 2, 1, u->y); }
static void c_slice_bwd(bufs *u) { atl_k_slice_bwd(u->a, 5, sl_d, 0, 1, 2, 1, u->y); }
static const int64_t cat_d[] = {8, 8, 8, 192}, cat_s[] = {48, 48, 48, 48};
static void c_concat(bufs *u) { atl_k_concat(u->xs, cat_s, 4, 4, cat_d, 3, u->y); }
static void c_gather(bufs *u) { atl_k_gather(u->a, 49, 3, u->idx, 256, u->y); }
static void c_gather_bwd(bufs *u) { atl_k_gather_bwd(u->a, u->idx, 256, 49, 3, u->y); }
static const int64_t st_x[] = {2048, 144}, st_y[] = {144};
static void c_sum_to(bufs *u) { atl_k_sum_to(u->a, 2, st_x, u->y, 1, st_y); }
static const int64_t st2_x[] = {8, 16, 3, 16, 16}, st2_y[] = {16, 1, 16, 16};
static void c_sum_to_mask(bufs *u) { atl_k_sum_to(u->a, 5, st2_x, u->y, 4, st2_y); }
static void c_broadcast_to(bufs *u) { atl_k_broadcast_to(u->b, 1, st_y, u->y, 2, st_x); }
static void c_mean_tokens(bufs *u) { atl_k_mean_axis(u->a, u->y, 8, 256, 48); }
static void c_sum_rows(bufs *u) { atl_k_sum_axis(u->a, u->y, 2048, 48, 1); }
static void c_ce(bufs *u) { u->y[0] = atl_k_cross_entropy(u->a, u->lab, 256, 100); }
static void c_ce_bwd(bufs *u) { atl_k_cross_entropy_bwd(u->a, u->lab, 256, 100, 1.0f, u->y); }
static void c_sgd(bufs *u) { atl_k_sgd(u->d, u->a, u->c, 1 << 20, 1e-3f, 0.9f, true, 1e-4f, false); }
static void c_mask(bufs *u) { atl_k_attn_mask(16, 16, 4, 2, u->y); }

int main(int argc, char **argv)
{
    const int samples = argc > 1 ? atoi(argv[1]) : 15;
    if (samples < 1 || samples > 1000) {
        fprintf(stderr, "usage: bench_kernels [samples 1..1000]\n");
        return 2;
    }
    atl_k_init(1);
    bufs u;
    u.a = rnd(BUF, 1);
    u.b = rnd(BUF, 2);
    u.c = rnd(BUF, 3);
    u.d = rnd(BUF, 4);
    u.w = rnd(BUF, 5);
    u.bias = rnd(BUF, 6);
    u.y = rnd(BUF, 7);
    for (int i = 0; i < 256; i++) {
        u.idx[i] = (i * 7) % 49;
        u.lab[i] = (i * 13) % 100;
    }
    for (int i = 0; i < 4; i++)
        u.xs[i] = u.a + i * 8 * 8 * 8 * 48;

    const double att = 128.0 * 3 * 16 * 16; /* elements of one attention tensor */
    const double tok = 2048.0 * 48, hid = 2048.0 * 192;
    const bench_case cases[] = {
        {"linear", "2048x48x144 +b (qkv)", 2.0 * 2048 * 48 * 144, 0, c_lin_qkv},
        {"linear_bwd_x", "2048x48x144", 2.0 * 2048 * 48 * 144, 0, c_lin_qkv_bx},
        {"linear_bwd_w", "2048x48x144", 2.0 * 2048 * 48 * 144, 0, c_lin_qkv_bw},
        {"linear", "2048x48x192 +b (fc1)", 2.0 * 2048 * 48 * 192, 0, c_lin_fc1},
        {"linear", "2048x192x48 +b (fc2)", 2.0 * 2048 * 192 * 48, 0, c_lin_fc2},
        {"linear", "2048x48x48 +b (proj)", 2.0 * 2048 * 48 * 48, 0, c_lin_proj},
        {"linear", "512x192x96 (merge)", 2.0 * 512 * 192 * 96, 0, c_lin_merge},
        {"matmul", "[128,3,16,16]@[128,3,16,16]^T (q k^T)", 2.0 * 384 * 16 * 16 * 16, 0, c_qk},
        {"matmul", "[128,3,16,16]@[128,3,16,16] (attn v)", 2.0 * 384 * 16 * 16 * 16, 0, c_av},
        {"matmul", "[128,3,16,16]@[..]^T (bwd dA)", 2.0 * 384 * 16 * 16 * 16, 0, c_av_bwd_a},
        {"matmul", "[128,3,16,16]^T@[..] (bwd dB)", 2.0 * 384 * 16 * 16 * 16, 0, c_av_bwd_b},
        {"matmul", "[32,6,16,16]@[32,6,16,16]^T (stage 2)", 2.0 * 192 * 16 * 16 * 16, 0, c_qk2},
        {"softmax", "[6144,16]", 0, 2 * att * F, c_softmax},
        {"softmax_bwd", "[6144,16]", 0, 3 * att * F, c_softmax_bwd},
        {"layernorm", "[2048,48] affine", 0, 2 * tok * F, c_ln},
        {"layernorm_bwd_x", "[2048,48] affine", 0, 3 * tok * F, c_ln_bx},
        {"layernorm_bwd_w", "[2048,48]", 0, 2 * tok * F, c_ln_bw},
        {"layernorm", "[512,192] affine", 0, 2 * 512 * 192 * F, c_ln_merge},
        {"binary_add", "[8,16,3,16,16]+[16,1,16,16] (mask)", 0, 2 * att * F, c_add_mask},
        {"binary_add", "[2048,144]+[144] (bias)", 0, 2 * 2048 * 144 * F, c_add_bias},
        {"binary_add", "[8,256,48]+[8,256,48] (residual)", 0, 3 * tok * F, c_add_res},
        {"binary_add", "[128,3,16,16]+[3,16,16] (rel pos bias)", 0, 2 * att * F, c_add_rpb},
        {"binary_mul", "[128,3,16,16]*scalar", 0, 2 * att * F, c_mul_scalar},
        {"gelu", "[2048,192]", 0, 2 * hid * F, c_gelu},
        {"gelu_bwd", "[2048,192]", 0, 3 * hid * F, c_gelu_bwd},
        {"exp", "[2048,192]", 0, 2 * hid * F, c_exp},
        {"acc", "[2048,48]", 0, 3 * tok * F, c_acc},
        {"permute", "[8,4,4,4,4,48] (0,1,3,2,4,5) window", 0, 2 * tok * F, c_perm_window},
        {"permute", "[128,16,3,3,16] (2,0,3,1,4) qkv", 0, 2 * 3 * att * F, c_perm_qkv},
        {"permute", "[128,3,16,16] (0,2,1,3) heads", 0, 2 * att * F, c_perm_heads},
        {"permute", "[8,8,2,8,2,48] (0,1,3,4,2,5) merge", 0, 2 * tok * F, c_perm_merge},
        {"permute", "[8,256,48] (0,2,1) transpose", 0, 2 * tok * F, c_perm_transpose},
        {"roll", "[8,16,16,48] axes (1,2) by -2", 0, 2 * tok * F, c_roll},
        {"slice", "[3,128,3,16,16] axis 0 [1:2]", 0, 2 * att * F, c_slice},
        {"slice_bwd", "[3,128,3,16,16] axis 0 [1:2]", 0, 4 * att * F, c_slice_bwd},
        {"concat", "4 x [8,8,8,48] axis 3", 0, 2 * 4 * 8 * 8 * 8 * 48 * F, c_concat},
        {"gather", "[49,3] x 256", 0, 2 * 256 * 3 * F, c_gather},
        {"gather_bwd", "[49,3] x 256", 0, (2 * 256 * 3 + 49 * 3) * F, c_gather_bwd},
        {"sum_to", "[2048,144]->[144] (bias grad)", 0, 2048 * 144 * F, c_sum_to},
        {"sum_to", "[8,16,3,16,16]->[16,1,16,16]", 0, att * F, c_sum_to_mask},
        {"broadcast_to", "[144]->[2048,144]", 0, 2048 * 144 * F, c_broadcast_to},
        {"mean_axis", "[8,256,48] axis 1", 0, tok * F, c_mean_tokens},
        {"sum_axis", "[2048,48] axis 1", 0, tok * F, c_sum_rows},
        {"cross_entropy", "[256,100]", 0, 256 * 100 * F, c_ce},
        {"cross_entropy_bwd", "[256,100]", 0, 2 * 256 * 100 * F, c_ce_bwd},
        {"sgd", "2^20 nesterov wd", 0, 5.0 * (1 << 20) * F, c_sgd},
        {"attn_mask", "16x16 win 4 shift 2", 0, 16 * 256 * F, c_mask},
    };
    double *t = malloc(sizeof(double) * (size_t)samples);
    if (!t)
        return 1;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const bench_case *bc = &cases[k];
        /* calibrate: calls per sample so that a sample lasts >= 1 ms */
        long calls = 1;
        for (;;) {
            double t0 = now_s();
            for (long i = 0; i < calls; i++)
                bc->run(&u);
            if (now_s() - t0 >= 1e-3 || calls >= (1L << 24))
                break;
            calls *= 2;
        }
        for (int s = 0; s < samples; s++) {
            double t0 = now_s();
            for (long i = 0; i < calls; i++)
                bc->run(&u);
            t[s] = (now_s() - t0) / (double)calls;
        }
        qsort(t, (size_t)samples, sizeof(double), cmp_double);
        const double med = samples % 2 ? t[samples / 2] : 0.5 * (t[samples / 2 - 1] + t[samples / 2]);
        printf("{\"kernel\": \"%s\", \"shape\": \"%s\", \"median_us\": %.2f, \"best_us\": %.2f", bc->kernel,
               bc->shape, med * 1e6, t[0] * 1e6);
        if (bc->flops > 0)
            printf(", \"gflops\": %.1f", bc->flops / med * 1e-9);
        else
            printf(", \"gbps\": %.1f", bc->bytes / med * 1e-9);
        printf("}\n");
        fflush(stdout);
    }
    free(t);
    free(u.a);
    free(u.b);
    free(u.c);
    free(u.d);
    free(u.w);
    free(u.bias);
    free(u.y);
    return 0;
}
