/* Losses (cross entropy via log-sum-exp, mean squared error) and the SGD step.
 *
 * The batch means are accumulated in double: they are single scalars that training curves are
 * made of, and the cost is one double add per row (cross entropy) or element (mse). */
#include "k_internal.h"
#include "k_math.h"

#include <math.h>

/* sum_j exp(x_j - m), 16 lanes */
static float sum_exp_shifted(const float *restrict x, int64_t n, float m)
{
    float acc[K_LANES] = {0};
    int64_t j = 0;
    for (; j + K_LANES <= n; j += K_LANES)
        for (int l = 0; l < K_LANES; l++)
            acc[l] += k_expf(x[j + l] - m);
    for (int l = 0; j + l < n; l++)
        acc[l] += k_expf(x[j + l] - m);
    return k_lanes_combine(acc);
}

float atl_k_cross_entropy(const float *logits, const int32_t *labels, int64_t batch,
                          int64_t classes)
{
    double total = 0.0;
    for (int64_t i = 0; i < batch; i++) {
        const float *x = logits + i * classes;
        assert(labels[i] >= 0 && labels[i] < classes);
        const float m = k_max(x, classes);
        /* -log softmax(x)[y] = log sum_j exp(x_j) - x_y = (m - x_y) + log sum_j exp(x_j - m).
         * m - x_y first: forming m + log(...) would round at the scale of |m| and lose digits
         * when the logits are large and the loss is small. */
        const float s = sum_exp_shifted(x, classes, m);
        total += (double)(m - x[labels[i]]) + (double)logf(s);
    }
    return (float)(total / (double)batch);
}

void atl_k_cross_entropy_bwd(const float *logits, const int32_t *labels, int64_t batch,
                             int64_t classes, float dloss, float *dlogits)
{
    const float scale = dloss / (float)batch;
    for (int64_t i = 0; i < batch; i++) {
        const float *restrict x = logits + i * classes;
        float *restrict d = dlogits + i * classes;
        assert(labels[i] >= 0 && labels[i] < classes);
        const float m = k_max(x, classes);
        for (int64_t j = 0; j < classes; j++)
            d[j] = k_expf(x[j] - m);
        const float s = k_sum(d, classes);
        const int64_t y = labels[i];
        const float py = d[y] / s;
        for (int64_t j = 0; j < classes; j++)
            d[j] = d[j] / s * scale;
        d[y] = (py - 1.0f) * scale;
    }
}

float atl_k_mse(const float *p, const float *t, int64_t n)
{
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)p[i] - (double)t[i];
        total += d * d;
    }
    return (float)(total / (double)n);
}

void atl_k_mse_bwd(const float *restrict p, const float *restrict t, int64_t n, float dloss,
                   float *restrict dp)
{
    const float c = 2.0f * dloss / (float)n;
    for (int64_t i = 0; i < n; i++)
        dp[i] = c * (p[i] - t[i]);
}

void atl_k_sgd(float *restrict p, const float *restrict grad, float *restrict v, int64_t n,
               float lr, float momentum, bool nesterov, float weight_decay, bool first_step)
{
    if (momentum == 0.0f) {
        for (int64_t i = 0; i < n; i++)
            p[i] -= lr * (grad[i] + weight_decay * p[i]);
        return;
    }
    if (first_step) {
        for (int64_t i = 0; i < n; i++) {
            const float g = grad[i] + weight_decay * p[i];
            v[i] = g;
            p[i] -= lr * (nesterov ? g + momentum * g : g);
        }
        return;
    }
    if (nesterov) {
        for (int64_t i = 0; i < n; i++) {
            const float g = grad[i] + weight_decay * p[i];
            const float vi = momentum * v[i] + g;
            v[i] = vi;
            p[i] -= lr * (g + momentum * vi);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            const float g = grad[i] + weight_decay * p[i];
            const float vi = momentum * v[i] + g;
            v[i] = vi;
            p[i] -= lr * vi;
        }
    }
}
