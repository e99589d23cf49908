/* The pulsed update (§1): bit-length and update management (§1.2-1.3), stochastic compressed bit
 * lines and coincidences (§1.4), the dense MeanCount / DeterministicImplicit types (§1.5), the
 * floating-point fallbacks (§1.6), and the device pulse kernels (§2.4-2.8).
 *
 * How a vector update is computed (equivalent to the reference's slot-by-slot loop, §1.4):
 *  - every active x_j and d_i gets its BL Bernoulli bits packed into 64-bit masks, so the number
 *    of coincidences at (i, j) is n_ij = popcount(mx_j & md_i); all n_ij pulses of one element
 *    have the same sign and elements do not interact, so applying them element by element is the
 *    reference's result;
 *  - rows are independent and run in parallel; every draw of row i is keyed by (update stream,
 *    row i), so the result does not depend on the number of threads;
 *  - within a row the touched elements are sorted by n (descending), and the pulses are applied
 *    in rounds r = 0..max n - 1 over the contiguous prefix of elements with n > r: the kernels are
 *    branch-free loops over packed arrays (auto-vectorised);
 *  - the write noise of the apparent weight (§2.3) is drawn once per touched element after its
 *    last pulse. The reference redraws it after every pulse, but only the last draw is ever
 *    visible (nothing reads the apparent weight between pulses of one vector update), so the
 *    distributions are identical.
 *
 * RNG layout of one vector update (streams from an_pulse_rng):
 *   s_bx: word j*BL + k is the uniform of bit k of x_j;  s_bd: likewise for d_i;
 *   s_noise: row i, block (i << 32): the cycle-to-cycle normals of the row in round-major order
 *            (fast kernels) or element-major order (ExpStep/PowStep); block (i << 32) | 2^31: the
 *            write-noise normals of the row's touched elements in sorted order;
 *   s_sto: stochastic rounding uniforms (x: derive(s_sto, 0), d: derive(s_sto, 1)). */
#include "analog_internal.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------------------------- work buffers */
static void rowbuf_free(an_rowbuf *rb)
{
    an_free(rb->ej);
    an_free(rb->en);
    an_free(rb->edn);
    an_free(rb->sidx);
    an_free(rb->sg);
    an_free(rb->sst_up);
    an_free(rb->sst_dn);
    an_free(rb->ssl_up);
    an_free(rb->ssl_dn);
    an_free(rb->slo);
    an_free(rb->shi);
    an_free(rb->sref);
    an_free(rb->sdn);
    an_free(rb->hist);
    an_free(rb->noise);
    an_free(rb->words);
    memset(rb, 0, sizeof *rb);
}

static int rowbuf_init(an_rowbuf *rb, int x_cap, int bl_cap)
{
    memset(rb, 0, sizeof *rb);
    size_t X = (size_t)x_cap;
    rb->ej = an_alloc(X * sizeof(int));
    rb->en = an_alloc(X * sizeof(uint16_t));
    rb->edn = an_alloc(X);
    rb->sidx = an_alloc(X * sizeof(int));
    rb->sg = an_alloc(X * sizeof(float));
    rb->sst_up = an_alloc(X * sizeof(float));
    rb->sst_dn = an_alloc(X * sizeof(float));
    rb->ssl_up = an_alloc(X * sizeof(float));
    rb->ssl_dn = an_alloc(X * sizeof(float));
    rb->slo = an_alloc(X * sizeof(float));
    rb->shi = an_alloc(X * sizeof(float));
    rb->sref = an_alloc(X * sizeof(float));
    rb->sdn = an_alloc(X);
    rb->hist = an_alloc(2 * ((size_t)bl_cap + 2) * sizeof(int));
    rb->noise_cap = X * (size_t)bl_cap + X + 4;
    rb->noise = an_alloc(rb->noise_cap * sizeof(float));
    rb->words = an_alloc((rb->noise_cap / 2 + 4) * sizeof(uint32_t));
    if (!rb->ej || !rb->en || !rb->edn || !rb->sidx || !rb->sg || !rb->sst_up || !rb->sst_dn ||
        !rb->ssl_up || !rb->ssl_dn || !rb->slo || !rb->shi || !rb->sref || !rb->sdn ||
        !rb->hist || !rb->noise || !rb->words) {
        rowbuf_free(rb);
        return -1;
    }
    return 0;
}

void an_work_free(an_work *w)
{
    if (!w)
        return;
    an_free(w->mx);
    an_free(w->md);
    an_free(w->xa);
    an_free(w->da);
    an_free(w->xs);
    an_free(w->ds);
    an_free(w->cx);
    an_free(w->cd);
    an_free(w->bits);
    an_free(w->sto);
    for (int k = 0; k < w->n_rb; k++)
        rowbuf_free(&w->rb[k]);
    an_free(w->rb);
    memset(w, 0, sizeof *w);
}

/* (Re)allocates the per-update buffers for BL up to bl_cap and nthreads row buffers. Called
 * outside parallel regions only. */
static int work_ensure(an_work *w, int x_cap, int d_cap, int bl_cap, int nthreads)
{
    int nw = (bl_cap + 63) / 64;
    if (x_cap > w->x_cap || d_cap > w->d_cap || bl_cap > w->bl_cap) {
        int X = x_cap > w->x_cap ? x_cap : w->x_cap;
        int D = d_cap > w->d_cap ? d_cap : w->d_cap;
        int BL = bl_cap > w->bl_cap ? bl_cap : w->bl_cap;
        int n_rb = w->n_rb;
        an_work_free(w);
        w->x_cap = X;
        w->d_cap = D;
        w->bl_cap = BL;
        w->nw_cap = (BL + 63) / 64;
        nw = w->nw_cap;
        size_t mx = (size_t)X > (size_t)D ? (size_t)X : (size_t)D;
        w->mx = an_alloc((size_t)X * (size_t)nw * sizeof(uint64_t));
        w->md = an_alloc((size_t)D * (size_t)nw * sizeof(uint64_t));
        w->xa = an_alloc((size_t)X * sizeof(int));
        w->da = an_alloc((size_t)D * sizeof(int));
        w->xs = an_alloc((size_t)X);
        w->ds = an_alloc((size_t)D);
        w->cx = an_alloc((size_t)X * sizeof(float));
        w->cd = an_alloc((size_t)D * sizeof(float));
        w->bits = an_alloc((mx * (size_t)BL + 8) * sizeof(uint32_t));
        w->sto = an_alloc((mx + 8) * sizeof(float));
        if (!w->mx || !w->md || !w->xa || !w->da || !w->xs || !w->ds || !w->cx || !w->cd ||
            !w->bits || !w->sto)
            return -1;
        w->n_rb = 0;
        (void)n_rb;
    }
    if (nthreads > w->n_rb) {
        an_rowbuf *rb = an_alloc((size_t)nthreads * sizeof(an_rowbuf));
        if (!rb)
            return -1;
        for (int k = 0; k < w->n_rb; k++)
            rowbuf_free(&w->rb[k]);
        an_free(w->rb);
        w->rb = rb;
        w->n_rb = nthreads;
        for (int k = 0; k < nthreads; k++)
            if (rowbuf_init(&w->rb[k], w->x_cap, w->bl_cap) != 0)
                return -1;
    }
    return 0;
}

int an_work_init(an_work *w, int x_cap, int d_cap, int bl_cap)
{
    memset(w, 0, sizeof *w);
    return work_ensure(w, x_cap, d_cap, bl_cap, 1);
}

/* ------------------------------------------------------------------------------- §1.2-1.3 */
int an_update_bl(const atl_update_params *up, float lr, float g, float x_m, float d_m, float *A,
                 float *B)
{
    *A = *B = 0.0f;
    if (!(lr > 0.0f) || !(g > 0.0f))
        return 0;
    const int dbl = up->desired_bl;
    const int ublm = up->update_bl_management;
    const int um = up->update_management || ublm; /* UM forced on by UBLM (§1.1) */
    int BL;
    float a;
    if (up->fixed_bl || ublm || !(g * (float)dbl < lr)) {
        BL = dbl;
        a = sqrtf(lr / (g * (float)BL));
    } else {
        double bl = ceil((double)lr / (double)g);
        /* atl caps the bit length (documented); probabilities then clip at 1 */
        BL = bl < 1 ? 1 : (bl > ATL_MAX_BL ? ATL_MAX_BL : (int)bl);
        a = 1.0f;
    }
    float sa = a, sb = a;
    if (um) {
        if (x_m == 0.0f || d_m == 0.0f || !(x_m == x_m) || !(d_m == d_m))
            return 0;
        float dv = up->um_grad_scale * d_m;
        float k = lr * x_m * dv / g;
        if (ublm) {
            float kc = ceilf(k);
            BL = kc < (float)dbl ? (int)kc : dbl;
            if (BL < 1)
                BL = 1;
            sa = sb = sqrtf(lr / (g * (float)BL));
        }
        if (k > (float)dbl)
            dv = dv * (float)dbl / k; /* clips d (§1.3) */
        sa = sa * sqrtf(x_m / dv);
        sb = sb * sqrtf(dv / x_m);
    }
    *A = sa;
    *B = sb;
    return BL;
}

/* ------------------------------------------------------------------------------- bit lines */
static inline float quant_p(float v, float res, int sto, float u)
{
    if (res > 0.0f)
        return sto ? rintf(v / res + u - 0.5f) * res : rintf(v / res) * res;
    return v;
}

static inline float absmax(const float *v, int n)
{
    float m = 0.0f;
    for (int k = 0; k < n; k++) {
        float a = fabsf(v[k]);
        m = a > m ? a : m;
    }
    return m;
}

/* Builds the masks of one side. v: values (size n), scale: A or B. Writes the active indices,
 * their sign flags (1 = negative) and masks (nw words each, compacted). Returns the count. */
static int make_bits(const float *v, int n, float scale, int BL, int nw, const atl_update_params *up,
                     uint64_t seed, uint64_t s_bits, uint64_t s_sto, float *sto, uint32_t *bits,
                     int *act, uint8_t *sgn, uint64_t *masks)
{
    const float res = up->res;
    const int sto_round = up->sto_round && res > 0.0f;
    if (sto_round)
        atl_rng_uniform_fill_at(seed, s_sto, 0, (size_t)n, sto);
    int na = 0, nrand = 0;
    /* first pass: probabilities (kept in sto[] reuse is not possible: use act as scratch) */
    for (int j = 0; j < n; j++) {
        float p = quant_p(fabsf(v[j]) * scale, res, sto_round, sto_round ? sto[j] : 0.0f);
        if (p > 0.0f) {
            act[na++] = j;
            if (p < 1.0f)
                nrand++;
        }
    }
    /* dense fill when many indices need random bits (identical values either way) */
    int dense = (size_t)nrand * 4 > (size_t)n;
    if (dense && nrand)
        atl_rng_u32_fill_at(seed, s_bits, 0, (size_t)n * (size_t)BL, bits);
    uint32_t tmp[ATL_MAX_BL + 8];
    int out = 0;
    for (int q = 0; q < na; q++) {
        int j = act[q];
        float p = quant_p(fabsf(v[j]) * scale, res, sto_round, sto_round ? sto[j] : 0.0f);
        uint64_t *m = masks + (size_t)out * (size_t)nw;
        for (int w = 0; w < nw; w++)
            m[w] = 0;
        if (p >= 1.0f) {
            for (int k = 0; k < BL; k++)
                m[k >> 6] |= 1ull << (k & 63);
        } else {
            const uint32_t *u;
            if (dense) {
                u = bits + (size_t)j * (size_t)BL;
            } else {
                uint64_t s = (uint64_t)j * (uint64_t)BL;
                unsigned off = (unsigned)(s & 3u);
                atl_rng_u32_fill_at(seed, s_bits, s >> 2, (size_t)off + (size_t)BL, tmp);
                u = tmp + off;
            }
            /* bit k iff p > uniform_k with uniform = (u >> 8) * 2^-24 (atl_u32_to_unit) */
            const float thr = p * 16777216.0f;
            for (int k = 0; k < BL; k++)
                if ((float)(u[k] >> 8) < thr)
                    m[k >> 6] |= 1ull << (k & 63);
        }
        int nz = 0;
        for (int w = 0; w < nw; w++)
            nz |= m[w] != 0;
        if (!nz)
            continue;
        act[out] = j;
        sgn[out] = v[j] < 0.0f;
        out++;
    }
    return out;
}

/* ------------------------------------------------------------------------------- row kernels */
/* Linear family (ConstantStep, LinearStep, SoftBounds, SoftBoundsReference). */
static void row_linear(an_dev *dv, int i, an_rowbuf *rb, int ne, size_t ptot, int maxn,
                       const an_pulse_rng *r)
{
    const int X = dv->x_size;
    const an_cell *cells = dv->cell + (size_t)i * (size_t)X;
    float *w = dv->w + (size_t)i * (size_t)X;
    float *wa = dv->wa + (size_t)i * (size_t)X;
    int *cnt_gt = rb->hist;          /* cnt_gt[r] = #elements with n > r */
    int *next = rb->hist + maxn + 2; /* placement cursor per n */
    for (int k = 0; k <= maxn + 1; k++)
        next[k] = 0;
    for (int e = 0; e < ne; e++)
        next[rb->en[e]]++;
    cnt_gt[maxn] = 0;
    for (int k = maxn - 1; k >= 0; k--)
        cnt_gt[k] = cnt_gt[k + 1] + next[k + 1];
    for (int k = 1; k <= maxn; k++)
        next[k] = cnt_gt[k]; /* elements with count k start after all with count > k */
    uint64_t up = 0, down = 0;
    float *sg = rb->sg, *sst = rb->sst_up, *ssl = rb->ssl_up, *slo = rb->slo, *shi = rb->shi,
          *sref = rb->sref;
    int *sidx = rb->sidx;
    for (int e = 0; e < ne; e++) {
        int j = rb->ej[e];
        int n = rb->en[e];
        int pos = next[n]++;
        const an_cell c = cells[j];
        int dn = rb->edn[e];
        sidx[pos] = j;
        sref[pos] = c.ref;
        sg[pos] = w[j] + c.ref;
        sst[pos] = dn ? c.st_dn : c.st_up;
        ssl[pos] = dn ? c.sl_dn : c.sl_up;
        slo[pos] = c.lo;
        shi[pos] = c.hi;
        if (dn)
            down += (uint64_t)n;
        else
            up += (uint64_t)n;
    }
    const float sig = dv->p.dw_min_std;
    const int mult = dv->p.mult_noise || dv->p.type == ATL_DEV_CONSTANT_STEP;
    if (sig > 0.0f) {
        an_gauss_fill(r->seed, r->s_noise, (uint64_t)i << 32, ptot, rb->noise, rb->words);
        const float *z = rb->noise;
        for (int rr = 0; rr < maxn; rr++) {
            const int A = cnt_gt[rr];
            if (mult) {
                for (int e = 0; e < A; e++) {
                    float g = sg[e];
                    float dg = ssl[e] * g + sst[e];
                    g = g + dg * (1.0f + sig * z[e]);
                    g = fminf(fmaxf(g, slo[e]), shi[e]);
                    sg[e] = g;
                }
            } else {
                for (int e = 0; e < A; e++) {
                    float g = sg[e];
                    g = g + ssl[e] * g + sst[e] * (1.0f + sig * z[e]);
                    g = fminf(fmaxf(g, slo[e]), shi[e]);
                    sg[e] = g;
                }
            }
            z += A;
        }
    } else {
        for (int rr = 0; rr < maxn; rr++) {
            const int A = cnt_gt[rr];
            for (int e = 0; e < A; e++) {
                float g = sg[e];
                g = g + (ssl[e] * g + sst[e]);
                g = fminf(fmaxf(g, slo[e]), shi[e]);
                sg[e] = g;
            }
        }
    }
    if (wa != w) {
        float *zw = rb->noise;
        an_gauss_fill(r->seed, r->s_noise, ((uint64_t)i << 32) | (1ull << 31), (size_t)ne, zw,
                      rb->words);
        const float sw = dv->wn_sigma;
        for (int e = 0; e < ne; e++) {
            float v = sg[e] - sref[e];
            w[sidx[e]] = v;
            wa[sidx[e]] = v + sw * zw[e];
        }
    } else {
        for (int e = 0; e < ne; e++)
            w[sidx[e]] = sg[e] - sref[e];
    }
    rb->up += up;
    rb->down += down;
}

/* ExpStep / PowStep: scalar per pulse (§2.8); noise in element-major order. */
static void row_nonlinear(an_dev *dv, int i, an_rowbuf *rb, int ne, size_t ptot,
                          const an_pulse_rng *r)
{
    const int X = dv->x_size;
    const atl_dev_params *p = &dv->p;
    const an_cell *cells = dv->cell + (size_t)i * (size_t)X;
    float *w = dv->w + (size_t)i * (size_t)X;
    float *wa = dv->wa + (size_t)i * (size_t)X;
    const float sig = p->dw_min_std;
    if (sig > 0.0f)
        an_gauss_fill(r->seed, r->s_noise, (uint64_t)i << 32, ptot, rb->noise, rb->words);
    const float *z = rb->noise;
    const int complex_noise =
        sig > 0.0f && (p->dw_min_std_add != 0.0f || p->dw_min_std_slope != 0.0f);
    uint64_t up = 0, down = 0;
    for (int e = 0; e < ne; e++) {
        int j = rb->ej[e];
        int n = rb->en[e];
        int dn = rb->edn[e];
        const an_cell c = cells[j];
        const float s_up = c.st_up, s_down = -c.st_dn;
        float v = w[j];
        for (int k = 0; k < n; k++) {
            float xi = sig > 0.0f ? *z++ : 0.0f;
            if (p->type == ATL_DEV_EXP_STEP) {
                float bd = c.hi - c.lo;
                if (bd > 0.0f) {
                    float zz = 2.0f * v / bd * p->a + p->b;
                    if (complex_noise) {
                        float dw;
                        if (dn)
                            dw = -fmaxf(1.0f - p->A_down * expf(p->gamma_down * (-zz)), 0.0f) *
                                 s_down;
                        else
                            dw = fmaxf(1.0f - p->A_up * expf(p->gamma_up * zz), 0.0f) * s_up;
                        float dstd =
                            sig * (fabsf(dw) + p->dw_min_std_add + p->dw_min_std_slope * fabsf(v));
                        v += dw + dstd * xi;
                    } else if (dn) {
                        float y = fmaxf(1.0f - p->A_down * expf(p->gamma_down * (-zz)), 0.0f);
                        v -= y * (1.0f + sig * xi) * s_down;
                    } else {
                        float y = fmaxf(1.0f - p->A_up * expf(p->gamma_up * zz), 0.0f);
                        v += y * (1.0f + sig * xi) * s_up;
                    }
                    v = fminf(fmaxf(v, c.lo), c.hi);
                }
            } else { /* PowStep */
                float range = c.hi - c.lo;
                if (range != 0.0f) {
                    size_t kk = (size_t)i * (size_t)X + (size_t)j;
                    if (dn)
                        v -= s_down * powf((v - c.lo) / range, dv->pg_dn[kk]) * (1.0f + sig * xi);
                    else
                        v += s_up * powf((c.hi - v) / range, dv->pg_up[kk]) * (1.0f + sig * xi);
                    v = fmaxf(v, c.lo);
                    v = fminf(v, c.hi);
                }
            }
        }
        w[j] = v;
        if (dn)
            down += (uint64_t)n;
        else
            up += (uint64_t)n;
    }
    if (wa != w) {
        float *zw = rb->noise;
        an_gauss_fill(r->seed, r->s_noise, ((uint64_t)i << 32) | (1ull << 31), (size_t)ne, zw,
                      rb->words);
        for (int e = 0; e < ne; e++) {
            int j = rb->ej[e];
            wa[j] = w[j] + dv->wn_sigma * zw[e];
        }
    }
    rb->up += up;
    rb->down += down;
}

static void apply_row(an_dev *dv, int i, an_rowbuf *rb, int ne, size_t ptot, int maxn,
                      const an_pulse_rng *r)
{
    if (ne == 0)
        return;
    if (dv->p.type == ATL_DEV_EXP_STEP || dv->p.type == ATL_DEV_POW_STEP)
        row_nonlinear(dv, i, rb, ne, ptot, r);
    else
        row_linear(dv, i, rb, ne, ptot, maxn, r);
}

/* ------------------------------------------------------------------------------- driver */
static void fp_update(an_dev *dv, const float *x, const float *d, float lr, int clip)
{
    /* §1.6: W -= lr d x^T on the (persistent) weights, then the bound clip for NoneWithDevice;
     * the apparent weights mirror the result (no write-noise redraw). */
    const int X = dv->x_size, D = dv->d_size;
    for (int i = 0; i < D; i++) {
        float s = lr * d[i];
        if (s == 0.0f)
            continue;
        float *w = dv->w + (size_t)i * (size_t)X;
        for (int j = 0; j < X; j++)
            w[j] = w[j] - s * x[j];
    }
    an_dev_sync_apparent(dv, clip);
}

void an_pulsed_update(an_dev *dv, const float *x, const float *d, float lr, float g,
                      const atl_update_params *up, const an_pulse_rng *r, an_work *wk,
                      int nthreads, uint64_t *n_up, uint64_t *n_down)
{
    if (!(lr > 0.0f))
        return;
    const int X = dv->x_size, D = dv->d_size;
    if (up->pulse_type == ATL_PULSE_NONE || up->pulse_type == ATL_PULSE_NONE_WITH_DEVICE) {
        fp_update(dv, x, d, lr, up->pulse_type == ATL_PULSE_NONE_WITH_DEVICE);
        return;
    }
    const float x_m = absmax(x, X), d_m = absmax(d, D);
    float A, B;
    const int BL = an_update_bl(up, lr, g, x_m, d_m, &A, &B);
    if (BL <= 0)
        return;
#ifdef _OPENMP
    int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
#else
    int nt = 1;
    (void)nthreads;
#endif
    if (nt < 1)
        nt = 1;
    if (work_ensure(wk, X, D, BL, nt) != 0)
        return; /* out of memory: no update (cannot happen after a successful tile creation) */
    const int nw = (BL + 63) / 64;
    int nxa, nda;
    const int dense = up->pulse_type == ATL_PULSE_MEAN_COUNT ||
                      up->pulse_type == ATL_PULSE_DETERMINISTIC_IMPLICIT;
    if (!dense) {
        nxa = make_bits(x, X, B, BL, nw, up, r->seed, r->s_bx, atl_rng_derive_stream(r->s_sto, 0),
                        wk->sto, wk->bits, wk->xa, wk->xs, wk->mx);
        if (nxa == 0)
            return;
        nda = make_bits(d, D, A, BL, nw, up, r->seed, r->s_bd, atl_rng_derive_stream(r->s_sto, 1),
                        wk->sto, wk->bits, wk->da, wk->ds, wk->md);
    } else {
        /* §1.5 signed counts (MeanCount) or clipped values (DeterministicImplicit) */
        const int mc = up->pulse_type == ATL_PULSE_MEAN_COUNT;
        nxa = nda = 0;
        for (int j = 0; j < X; j++) {
            float v = mc ? fminf(fmaxf(rintf((float)BL * quant_p(B * fabsf(x[j]), up->res, 0, 0)),
                                       0.0f),
                                 (float)BL)
                         : fminf(fmaxf(quant_p(B * fabsf(x[j]), up->x_res_implicit, 0, 0), 0.0f),
                                 1.0f);
            if (v > 0.0f) {
                wk->xa[nxa] = j;
                wk->cx[nxa] = x[j] < 0.0f ? -v : v;
                nxa++;
            }
        }
        for (int i = 0; i < D; i++) {
            float v = mc ? fminf(fmaxf(rintf((float)BL * quant_p(A * fabsf(d[i]), up->res, 0, 0)),
                                       0.0f),
                                 (float)BL)
                         : fminf(fmaxf(quant_p(A * fabsf(d[i]), up->d_res_implicit, 0, 0), 0.0f),
                                 1.0f);
            if (v > 0.0f) {
                wk->da[nda] = i;
                wk->cd[nda] = d[i] < 0.0f ? -v : v;
                nda++;
            }
        }
    }
    if (nxa == 0 || nda == 0)
        return;
    for (int k = 0; k < nt; k++)
        wk->rb[k].up = wk->rb[k].down = 0;

#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1 && (size_t)nda * (size_t)nxa > 4096)
#endif
    {
#ifdef _OPENMP
        an_rowbuf *rb = &wk->rb[omp_get_thread_num()];
#else
        an_rowbuf *rb = &wk->rb[0];
#endif
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 8)
#endif
        for (int q = 0; q < nda; q++) {
            const int i = wk->da[q];
            int ne = 0, maxn = 0;
            size_t ptot = 0;
            if (!dense) {
                const uint64_t *md = wk->md + (size_t)q * (size_t)nw;
                const uint8_t sd = wk->ds[q];
                if (nw == 1) {
                    const uint64_t m0 = md[0];
                    for (int k = 0; k < nxa; k++) {
                        int n = __builtin_popcountll(wk->mx[k] & m0);
                        if (n) {
                            rb->ej[ne] = wk->xa[k];
                            rb->en[ne] = (uint16_t)n;
                            rb->edn[ne] = (uint8_t)(wk->xs[k] == sd); /* same signs: down */
                            ne++;
                            ptot += (size_t)n;
                            maxn = n > maxn ? n : maxn;
                        }
                    }
                } else {
                    for (int k = 0; k < nxa; k++) {
                        const uint64_t *mx = wk->mx + (size_t)k * (size_t)nw;
                        int n = 0;
                        for (int w = 0; w < nw; w++)
                            n += __builtin_popcountll(mx[w] & md[w]);
                        if (n) {
                            rb->ej[ne] = wk->xa[k];
                            rb->en[ne] = (uint16_t)n;
                            rb->edn[ne] = (uint8_t)(wk->xs[k] == sd);
                            ne++;
                            ptot += (size_t)n;
                            maxn = n > maxn ? n : maxn;
                        }
                    }
                }
            } else {
                const float cdv = wk->cd[q];
                const int mc = up->pulse_type == ATL_PULSE_MEAN_COUNT;
                for (int k = 0; k < nxa; k++) {
                    float c = mc ? rintf(cdv / (float)BL * wk->cx[k])
                                 : rintf((float)BL * cdv * wk->cx[k]);
                    int n = (int)fabsf(c);
                    if (n > 0) {
                        if (n > ATL_MAX_BL)
                            n = ATL_MAX_BL;
                        rb->ej[ne] = wk->xa[k];
                        rb->en[ne] = (uint16_t)n;
                        rb->edn[ne] = (uint8_t)(c > 0.0f);
                        ne++;
                        ptot += (size_t)n;
                        maxn = n > maxn ? n : maxn;
                    }
                }
            }
            apply_row(dv, i, rb, ne, ptot, maxn, r);
        }
    }
    uint64_t su = 0, sdn = 0;
    for (int k = 0; k < nt; k++) {
        su += wk->rb[k].up;
        sdn += wk->rb[k].down;
    }
    *n_up += su;
    *n_down += sdn;
}
