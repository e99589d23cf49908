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
 *  - within a row the columns are processed in groups of 16; a group runs passes r = 0..max n - 1
 *    and in pass r every column of the group with n_j > r takes one pulse. The linear-family
 *    kernel does this with AVX2 (two 8-lane halves in registers, the normals of a pass
 *    "expanded" into the active lanes) and has a portable twin that is bit-identical (same
 *    operations, same order, no FMA contraction); ExpStep/PowStep use a scalar per-pulse loop;
 *  - the write noise of the apparent weight (§2.3) is drawn once per touched element after its
 *    last pulse. The reference redraws it after every pulse, but only the last draw is ever
 *    visible (nothing reads the apparent weight between pulses of one vector update), so the
 *    distributions are identical.
 *
 * RNG layout of one vector update (streams from an_pulse_rng):
 *   s_bx: word j*BL + k is the uniform of bit k of x_j;  s_bd: likewise for d_i;
 *   s_noise: row i, from block (i << 32): the cycle-to-cycle normals of the row, one per pulse,
 *            in the order (group, pass, column) for the linear family and (column, pulse) for
 *            ExpStep/PowStep, followed by the write-noise normals of the touched elements of the
 *            row in column order (one fill per row);
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
    an_free(rb->cnt);
    an_free(rb->dn);
    an_free(rb->noise);
    an_free(rb->wnoise);
    an_free(rb->words);
    an_free(rb->chunks);
    an_free(rb->gflag);
    memset(rb, 0, sizeof *rb);
}

static int rowbuf_init(an_rowbuf *rb, int x_cap, int bl_cap)
{
    memset(rb, 0, sizeof *rb);
    size_t X = (size_t)x_cap;
    rb->cnt = an_alloc((X + 16) * sizeof(uint16_t));
    rb->dn = an_alloc(X + 16);
    rb->noise_cap = X * (size_t)bl_cap + X + 16;
    rb->noise = an_alloc(rb->noise_cap * sizeof(float));
    rb->wnoise = an_alloc((X + 16) * sizeof(float));
    rb->words = an_alloc((rb->noise_cap / 2 + 16) * sizeof(uint32_t));
    rb->chunks = an_alloc((X / AN_GROUP + 2) * sizeof(int));
    rb->gflag = an_alloc((size_t)X / AN_GROUP + 2);
    if (!rb->cnt || !rb->dn || !rb->noise || !rb->wnoise || !rb->words || !rb->chunks ||
        !rb->gflag) {
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
    an_free(w->da);
    an_free(w->xa);
    an_free(w->mxc);
    an_free(w->xsc);
    an_free(w->cxc);
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
    if (x_cap > w->x_cap || d_cap > w->d_cap || bl_cap > w->bl_cap) {
        int X = x_cap > w->x_cap ? x_cap : w->x_cap;
        int D = d_cap > w->d_cap ? d_cap : w->d_cap;
        int BL = bl_cap > w->bl_cap ? bl_cap : w->bl_cap;
        an_work_free(w);
        w->x_cap = X;
        w->d_cap = D;
        w->bl_cap = BL;
        w->nw_cap = (BL + 63) / 64;
        size_t nw = (size_t)w->nw_cap;
        size_t mx = (size_t)X > (size_t)D ? (size_t)X : (size_t)D;
        w->mx = an_alloc((size_t)X * nw * sizeof(uint64_t));
        w->md = an_alloc((size_t)D * nw * sizeof(uint64_t));
        w->da = an_alloc((size_t)D * sizeof(int));
        w->xa = an_alloc((size_t)X * sizeof(int));
        w->mxc = an_alloc((size_t)X * nw * sizeof(uint64_t));
        w->xsc = an_alloc((size_t)X + 16);
        w->cxc = an_alloc((size_t)X * sizeof(float));
        w->xs = an_alloc((size_t)X + 16);
        w->ds = an_alloc((size_t)D + 16);
        w->cx = an_alloc((size_t)X * sizeof(float));
        w->cd = an_alloc((size_t)D * sizeof(float));
        w->bits = an_alloc((mx * (size_t)BL + 8) * sizeof(uint32_t));
        w->sto = an_alloc((mx + 8) * sizeof(float));
        if (!w->mx || !w->md || !w->da || !w->xa || !w->mxc || !w->xsc || !w->cxc || !w->xs || !w->ds || !w->cx || !w->cd || !w->bits ||
            !w->sto)
            return -1;
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


/* Builds the masks of one side for all n indices (zero masks for inactive ones): bit k of index
 * j is set iff p_j > u_jk, p_j = quant(|v_j| * scale) (§1.4), with p_j >= 1 setting all bits
 * without a draw. neg[j] = 1 for negative values. Returns the number of active indices. */
static int make_bits(const float *v, int n, float scale, int BL, int nw,
                     const atl_update_params *up, uint64_t seed, uint64_t s_bits, uint64_t s_sto,
                     float *sto, uint32_t *bits, uint8_t *neg, uint64_t *masks)
{
    const float res = up->res;
    const int sto_round = up->sto_round && res > 0.0f;
    if (sto_round)
        atl_rng_uniform_fill_at(seed, s_sto, 0, (size_t)n, sto);
    int nrand = 0;
    for (int j = 0; j < n; j++) {
        float p = quant_p(fabsf(v[j]) * scale, res, sto_round, sto_round ? sto[j] : 0.0f);
        nrand += p > 0.0f && p < 1.0f;
    }
    /* dense fill when many indices need random bits (identical values either way) */
    const int dense = (size_t)nrand * 4 > (size_t)n;
    if (dense)
        atl_rng_u32_fill_at(seed, s_bits, 0, (size_t)n * (size_t)BL, bits);
    uint32_t tmp[ATL_MAX_BL + 8];
    int na = 0;
    for (int j = 0; j < n; j++) {
        float p = quant_p(fabsf(v[j]) * scale, res, sto_round, sto_round ? sto[j] : 0.0f);
        uint64_t *m = masks + (size_t)j * (size_t)nw;
        for (int w = 0; w < nw; w++)
            m[w] = 0;
        neg[j] = v[j] < 0.0f;
        if (!(p > 0.0f))
            continue;
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
            /* bit k iff p > uniform_k, uniform = (u >> 8) * 2^-24 (atl_u32_to_unit) */
            const float thr = p * 16777216.0f;
            if (nw == 1) {
                uint64_t mm = 0;
                for (int k = 0; k < BL; k++)
                    mm |= (uint64_t)((float)(u[k] >> 8) < thr) << k;
                m[0] = mm;
            } else {
                for (int k = 0; k < BL; k++)
                    if ((float)(u[k] >> 8) < thr)
                        m[k >> 6] |= 1ull << (k & 63);
            }
        }
        int nz = 0;
        for (int w = 0; w < nw; w++)
            nz |= m[w] != 0;
        na += nz;
    }
    return na;
}

/* ------------------------------------------------------------------------------- row kernels */
/* Clip in the form max(v, lo) then min(v, hi) with the operand order of the AVX2 max/min
 * instructions, so the portable and the vector kernels agree bit for bit (signed zeros too). */
static inline float clampf(float v, float lo, float hi)
{
    v = v > lo ? v : lo;
    return v < hi ? v : hi;
}

/* Constant f of column j in the row's constant blocks cb (analog_internal.h). */
#define CST(cb, j, f) ((cb)[(((size_t)(j) >> 3) << 6) + ((size_t)(f) << 3) + ((size_t)(j) & 7)])

/* One pulse on g (§2.4-2.7 in conductance space), portable form of the vector code. */
static inline float pulse1(float g, float st, float sl, float sig, int mult, float z)
{
    if (sig > 0.0f) {
        if (mult)
            return g + (sl * g + st) * (1.0f + sig * z);
        return g + sl * g + st * (1.0f + sig * z);
    }
    return g + (sl * g + st);
}

/* The portable kernel on the columns [c0, c1) of one group (see an_row_linear_scalar). */
static void group_scalar(an_dev *dv, int i, const uint16_t *cnt, const uint8_t *dn,
                         const float *noise, size_t *pos, const float *wnoise, size_t *wpos, int c0,
                         int c1)
{
    const size_t base = (size_t)i * (size_t)dv->x_size;
    float *w = dv->w + base, *wa = dv->wa + base;
    const float *cb = dv->cst + (((size_t)i * (size_t)dv->nchk) << 6);
    const float sig = dv->p.dw_min_std;
    const int mult = dv->p.mult_noise || dv->p.type == ATL_DEV_CONSTANT_STEP;
    float g[AN_GROUP], st[AN_GROUP], sl[AN_GROUP];
    int maxn = 0;
    for (int j = c0; j < c1; j++) {
        const int l = j - c0;
        maxn = cnt[j] > maxn ? cnt[j] : maxn;
        g[l] = w[j] + CST(cb, j, AN_REF);
        st[l] = dn[j] ? CST(cb, j, AN_STD) : CST(cb, j, AN_STU);
        sl[l] = dn[j] ? CST(cb, j, AN_SLD) : CST(cb, j, AN_SLU);
    }
    for (int r = 0; r < maxn; r++)
        for (int j = c0; j < c1; j++)
            if (cnt[j] > r) {
                const int l = j - c0;
                const float z = sig > 0.0f ? noise[(*pos)++] : 0.0f;
                g[l] = clampf(pulse1(g[l], st[l], sl[l], sig, mult, z), CST(cb, j, AN_LO),
                              CST(cb, j, AN_HI));
            }
    for (int j = c0; j < c1; j++)
        if (cnt[j]) {
            const float v = g[j - c0] - CST(cb, j, AN_REF);
            w[j] = v;
            if (wa != w)
                wa[j] = v + dv->wn_sigma * wnoise[(*wpos)++];
        }
}

void an_row_linear_scalar(an_dev *dv, int i, const uint16_t *cnt, const uint8_t *dn,
                          const float *noise, const float *wnoise, an_rowbuf *rb)
{
    (void)rb;
    const int X = dv->x_size;
    size_t pos = 0, wpos = 0;
    for (int c0 = 0; c0 < X; c0 += AN_GROUP)
        group_scalar(dv, i, cnt, dn, noise, &pos, wnoise, &wpos, c0,
                     X - c0 < AN_GROUP ? X : c0 + AN_GROUP);
}

#if defined(__AVX2__)
#include <immintrin.h>
#include <pthread.h>

/* expand_tab[m]: lane l of the result takes element (number of set bits of m below l) */
static int32_t expand_tab[256][8];
static pthread_once_t expand_once = PTHREAD_ONCE_INIT;
static void expand_init(void)
{
    for (int m = 0; m < 256; m++) {
        int k = 0;
        for (int l = 0; l < 8; l++)
            expand_tab[m][l] = (m >> l) & 1 ? k++ : 0;
    }
}

static inline __m256 expand_load(const float *p, int m)
{
    __m256i idx = _mm256_loadu_si256((const __m256i *)(const void *)expand_tab[m]);
    return _mm256_permutevar8x32_ps(_mm256_loadu_ps(p), idx);
}

/* One 16-column group in registers: two 8-lane halves, so two independent dependency chains
 * per pass. `noisy` and `mult` are compile-time constants at each call. */
static inline __attribute__((always_inline)) void
group_simd(const int noisy, const int mult, const float *cb, float *w, float *wa, const int pers,
           const uint16_t *cnt, const uint8_t *dn, const float *noise, size_t *pos,
           const float *wnoise, size_t *wpos, int c0, __m256 vsig, __m256 vsw)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256i zero = _mm256_setzero_si256();
    __m256i cv[2];
    __m256 g[2], st[2], sl[2], lo[2], hi[2], ref[2];
    const __m256i c16 = _mm256_loadu_si256((const __m256i *)(const void *)(cnt + c0));
    const __m128i inv = _mm_sub_epi16(_mm_set1_epi16(-1),
                                      _mm_max_epu16(_mm256_castsi256_si128(c16),
                                                    _mm256_extracti128_si256(c16, 1)));
    const int maxn = 0xFFFF - (_mm_cvtsi128_si32(_mm_minpos_epu16(inv)) & 0xFFFF);
    for (int h = 0; h < 2; h++) {
        const int c = c0 + 8 * h;
        const float *bp = cb + ((size_t)c << 3);
        cv[h] = _mm256_cvtepu16_epi32(h ? _mm256_extracti128_si256(c16, 1) : _mm256_castsi256_si128(c16));
        const __m256 dm = _mm256_castsi256_ps(_mm256_cmpgt_epi32(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(dn + c))), zero));
        ref[h] = _mm256_load_ps(bp + AN_REF * 8);
        g[h] = _mm256_add_ps(_mm256_loadu_ps(w + c), ref[h]);
        st[h] = _mm256_blendv_ps(_mm256_load_ps(bp + AN_STU * 8), _mm256_load_ps(bp + AN_STD * 8), dm);
        sl[h] = _mm256_blendv_ps(_mm256_load_ps(bp + AN_SLU * 8), _mm256_load_ps(bp + AN_SLD * 8), dm);
        lo[h] = _mm256_load_ps(bp + AN_LO * 8);
        hi[h] = _mm256_load_ps(bp + AN_HI * 8);
    }
    const float *nz = noise + *pos;
    for (int r = 0; r < maxn; r++) {
        const __m256i vr = _mm256_set1_epi32(r);
        for (int h = 0; h < 2; h++) {
            const __m256 act = _mm256_castsi256_ps(_mm256_cmpgt_epi32(cv[h], vr));
            __m256 v;
            if (noisy) {
                const int m = _mm256_movemask_ps(act);
                const __m256 z = expand_load(nz, m);
                nz += __builtin_popcount((unsigned)m);
                const __m256 f = _mm256_add_ps(one, _mm256_mul_ps(vsig, z));
                if (mult)
                    v = _mm256_add_ps(g[h], _mm256_mul_ps(_mm256_add_ps(_mm256_mul_ps(sl[h], g[h]), st[h]), f));
                else
                    v = _mm256_add_ps(_mm256_add_ps(g[h], _mm256_mul_ps(sl[h], g[h])), _mm256_mul_ps(st[h], f));
            } else {
                v = _mm256_add_ps(g[h], _mm256_add_ps(_mm256_mul_ps(sl[h], g[h]), st[h]));
            }
            v = _mm256_min_ps(_mm256_max_ps(v, lo[h]), hi[h]);
            g[h] = _mm256_blendv_ps(g[h], v, act);
        }
    }
    *pos = (size_t)(nz - noise);
    for (int h = 0; h < 2; h++) {
        const int c = c0 + 8 * h;
        const __m256 touched = _mm256_castsi256_ps(_mm256_cmpgt_epi32(cv[h], zero));
        const __m256 wn = _mm256_sub_ps(g[h], ref[h]);
        _mm256_storeu_ps(w + c, _mm256_blendv_ps(_mm256_loadu_ps(w + c), wn, touched));
        if (pers) {
            const int m = _mm256_movemask_ps(touched);
            const __m256 z = expand_load(wnoise + *wpos, m);
            *wpos += (size_t)__builtin_popcount((unsigned)m);
            const __m256 nv = _mm256_add_ps(wn, _mm256_mul_ps(vsw, z));
            _mm256_storeu_ps(wa + c, _mm256_blendv_ps(_mm256_loadu_ps(wa + c), nv, touched));
        }
    }
}

static inline __attribute__((always_inline)) void
groups_simd(const int noisy, const int mult, an_dev *dv, int i, const uint16_t *cnt,
            const uint8_t *dn, const float *noise, const float *wnoise, const an_rowbuf *rb)
{
    const int X = dv->x_size, XG = X - X % AN_GROUP;
    const size_t base = (size_t)i * (size_t)X;
    float *w = dv->w + base, *wa = dv->wa + base;
    const int pers = wa != w;
    const float *cb = dv->cst + (((size_t)i * (size_t)dv->nchk) << 6);
    const __m256 vsig = _mm256_set1_ps(dv->p.dw_min_std), vsw = _mm256_set1_ps(dv->wn_sigma);
    size_t pos = 0, wpos = 0;
    for (int q = 0; q < rb->nch; q++) {
        const int c0 = rb->chunks[q];
        if (q + 2 < rb->nch) {
            /* sparse rows touch scattered groups: fetch ahead (no effect on results) */
            const int cp = rb->chunks[q + 2];
            const char *bp = (const char *)(cb + ((size_t)cp << 3));
            for (int k = 0; k < 8; k++)
                _mm_prefetch(bp + 64 * k, _MM_HINT_T0);
            _mm_prefetch((const char *)(w + cp), _MM_HINT_T0);
            if (pers)
                _mm_prefetch((const char *)(wa + cp), _MM_HINT_T0);
        }
        group_simd(noisy, mult, cb, w, wa, pers, cnt, dn, noise, &pos, wnoise, &wpos, c0, vsig,
                   vsw);
    }
    if (XG < X)
        group_scalar(dv, i, cnt, dn, noise, &pos, wnoise, &wpos, XG, X);
}

/* Groups of 16 columns, each with all its passes in registers (two independent 8-lane chains);
 * only the touched groups listed in rb->chunks are visited (cnt is zero elsewhere); the last
 * partial group is done by the portable code. */
void an_row_linear_simd(an_dev *dv, int i, const uint16_t *cnt, const uint8_t *dn,
                        const float *noise, const float *wnoise, an_rowbuf *rb)
{
    pthread_once(&expand_once, expand_init);
    const int mult = dv->p.mult_noise || dv->p.type == ATL_DEV_CONSTANT_STEP;
    if (dv->p.dw_min_std > 0.0f && mult)
        groups_simd(1, 1, dv, i, cnt, dn, noise, wnoise, rb);
    else if (dv->p.dw_min_std > 0.0f)
        groups_simd(1, 0, dv, i, cnt, dn, noise, wnoise, rb);
    else
        groups_simd(0, 0, dv, i, cnt, dn, noise, wnoise, rb);
}
#else
void an_row_linear_simd(an_dev *dv, int i, const uint16_t *cnt, const uint8_t *dn,
                        const float *noise, const float *wnoise, an_rowbuf *rb)
{
    an_row_linear_scalar(dv, i, cnt, dn, noise, wnoise, rb);
}
#endif

/* ExpStep / PowStep: scalar per pulse (§2.8); normals in (column, pulse) order. */
static void row_nonlinear(an_dev *dv, int i, const uint16_t *cnt, const uint8_t *dn,
                          const float *noise, const float *wnoise)
{
    const int X = dv->x_size;
    const atl_dev_params *p = &dv->p;
    const size_t base = (size_t)i * (size_t)X;
    float *w = dv->w + base, *wa = dv->wa + base;
    const float *cb = dv->cst + (((size_t)i * (size_t)dv->nchk) << 6);
    const float sig = p->dw_min_std;
    const int complex_noise =
        sig > 0.0f && (p->dw_min_std_add != 0.0f || p->dw_min_std_slope != 0.0f);
    size_t pos = 0, wpos = 0;
    for (int j = 0; j < X; j++) {
        const int n = cnt[j];
        if (!n)
            continue;
        const int down = dn[j];
        const float s_up = CST(cb, j, AN_STU), s_down = -CST(cb, j, AN_STD);
        const float blo = CST(cb, j, AN_LO), bhi = CST(cb, j, AN_HI);
        float v = w[j];
        for (int k = 0; k < n; k++) {
            const float xi = sig > 0.0f ? noise[pos++] : 0.0f;
            if (p->type == ATL_DEV_EXP_STEP) {
                const float bd = bhi - blo;
                if (bd > 0.0f) {
                    const float zz = 2.0f * v / bd * p->a + p->b;
                    if (complex_noise) {
                        float dw;
                        if (down)
                            dw = -fmaxf(1.0f - p->A_down * expf(p->gamma_down * (-zz)), 0.0f) *
                                 s_down;
                        else
                            dw = fmaxf(1.0f - p->A_up * expf(p->gamma_up * zz), 0.0f) * s_up;
                        const float dstd =
                            sig * (fabsf(dw) + p->dw_min_std_add + p->dw_min_std_slope * fabsf(v));
                        v += dw + dstd * xi;
                    } else if (down) {
                        const float y = fmaxf(1.0f - p->A_down * expf(p->gamma_down * (-zz)), 0.0f);
                        v -= y * (1.0f + sig * xi) * s_down;
                    } else {
                        const float y = fmaxf(1.0f - p->A_up * expf(p->gamma_up * zz), 0.0f);
                        v += y * (1.0f + sig * xi) * s_up;
                    }
                    v = clampf(v, blo, bhi);
                }
            } else { /* PowStep */
                const float range = bhi - blo;
                if (range != 0.0f) {
                    const size_t kk = base + (size_t)j;
                    if (down)
                        v -= s_down * powf((v - blo) / range, dv->pg_dn[kk]) * (1.0f + sig * xi);
                    else
                        v += s_up * powf((bhi - v) / range, dv->pg_up[kk]) * (1.0f + sig * xi);
                    v = clampf(v, blo, bhi);
                }
            }
        }
        w[j] = v;
        if (wa != w)
            wa[j] = v + dv->wn_sigma * wnoise[wpos++];
    }
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

/* §1.5 dense counts of one side: MeanCount sign*clip(rint(BL quant(scale|v|)), 0, BL),
 * DeterministicImplicit sign*clip(quant_res(scale|v|), 0, 1). */
static void dense_side(const float *v, int n, float scale, int BL, int mc, float res_mc,
                       float res_di, float *out)
{
    for (int j = 0; j < n; j++) {
        float a = fabsf(v[j]) * scale, c;
        if (mc) {
            c = rintf((float)BL * quant_p(a, res_mc, 0, 0.0f));
            c = c < 0.0f ? 0.0f : (c > (float)BL ? (float)BL : c);
        } else {
            c = quant_p(a, res_di, 0, 0.0f);
            c = c < 0.0f ? 0.0f : (c > 1.0f ? 1.0f : c);
        }
        out[j] = v[j] < 0.0f ? -c : c;
    }
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
    const int dense = up->pulse_type == ATL_PULSE_MEAN_COUNT ||
                      up->pulse_type == ATL_PULSE_DETERMINISTIC_IMPLICIT;
    const int mc = up->pulse_type == ATL_PULSE_MEAN_COUNT;
    int nda = 0;
    if (!dense) {
        if (make_bits(x, X, B, BL, nw, up, r->seed, r->s_bx, atl_rng_derive_stream(r->s_sto, 0),
                      wk->sto, wk->bits, wk->xs, wk->mx) == 0)
            return;
        int nx = 0;
        for (int j = 0; j < X; j++) {
            const uint64_t *m = wk->mx + (size_t)j * (size_t)nw;
            int nz = 0;
            for (int w = 0; w < nw; w++)
                nz |= m[w] != 0;
            if (!nz)
                continue;
            for (int w = 0; w < nw; w++)
                wk->mxc[(size_t)nx * (size_t)nw + (size_t)w] = m[w];
            wk->xsc[nx] = wk->xs[j];
            wk->xa[nx++] = j;
        }
        wk->nxa = nx;
        /* d side: full masks into a scratch area, then compacted to the active rows */
        uint64_t *md = wk->md;
        make_bits(d, D, A, BL, nw, up, r->seed, r->s_bd, atl_rng_derive_stream(r->s_sto, 1),
                  wk->sto, wk->bits, wk->ds, md);
        for (int i = 0; i < D; i++) {
            const uint64_t *m = md + (size_t)i * (size_t)nw;
            int nz = 0;
            for (int w = 0; w < nw; w++)
                nz |= m[w] != 0;
            if (!nz)
                continue;
            /* compaction in place: nda <= i */
            uint64_t *dst = md + (size_t)nda * (size_t)nw;
            for (int w = 0; w < nw; w++)
                dst[w] = m[w];
            wk->ds[nda] = wk->ds[i];
            wk->da[nda++] = i;
        }
    } else {
        dense_side(x, X, B, BL, mc, up->res, up->x_res_implicit, wk->cx);
        dense_side(d, D, A, BL, mc, up->res, up->d_res_implicit, wk->cd);
        int nx = 0;
        for (int j = 0; j < X; j++)
            if (wk->cx[j] != 0.0f) {
                wk->cxc[nx] = wk->cx[j];
                wk->xa[nx++] = j;
            }
        wk->nxa = nx;
        for (int i = 0; i < D; i++)
            if (wk->cd[i] != 0.0f)
                wk->da[nda++] = i;
    }
    if (nda == 0)
        return;
    for (int k = 0; k < nt; k++)
        wk->rb[k].up = wk->rb[k].down = 0;
    const int linear = dv->p.type != ATL_DEV_EXP_STEP && dv->p.type != ATL_DEV_POW_STEP;
    const float sig = dv->p.dw_min_std;
    const int pers = dv->wa != dv->w;

#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1 && (size_t)nda * (size_t)X > 4096)
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
            uint16_t *cnt = rb->cnt;
            uint8_t *dnf = rb->dn;
            size_t ptot = 0, nnz = 0;
            uint64_t u = 0, dd = 0;
            /* stage 1: pulses and directions of the active columns of row i (cnt is all-zero
             * outside the touched columns; it is cleared again after the row) */
            const int XG = X - X % AN_GROUP, nxa = wk->nxa;
            const int *xa = wk->xa;
            int nch = 0;
            uint8_t *gf = rb->gflag; /* groups with a pulse (all zero between rows) */
            if (!dense) {
                const uint64_t *md = wk->md + (size_t)q * (size_t)nw;
                const uint8_t sd = wk->ds[q];
                const uint64_t m0 = md[0];
                for (int k = 0; k < nxa; k++) {
                    unsigned n;
                    if (nw == 1) {
                        n = (unsigned)__builtin_popcountll(wk->mxc[k] & m0);
                    } else {
                        const uint64_t *mx = wk->mxc + (size_t)k * (size_t)nw;
                        n = 0;
                        for (int w = 0; w < nw; w++)
                            n += (unsigned)__builtin_popcountll(mx[w] & md[w]);
                    }
                    const int j = xa[k];
                    const unsigned down = wk->xsc[k] == sd; /* same signs: down (§0.2) */
                    cnt[j] = (uint16_t)n;
                    dnf[j] = (uint8_t)down;
                    ptot += n;
                    nnz += n != 0;
                    dd += n & (0u - down);
                    gf[j / AN_GROUP] |= (uint8_t)(n != 0);
                }
            } else {
                const float cdv = wk->cd[i];
                for (int k = 0; k < nxa; k++) {
                    const float c = mc ? rintf(cdv / (float)BL * wk->cxc[k])
                                       : rintf((float)BL * cdv * wk->cxc[k]);
                    unsigned n = (unsigned)fabsf(c);
                    n = n > ATL_MAX_BL ? ATL_MAX_BL : n;
                    const int j = xa[k];
                    cnt[j] = (uint16_t)n;
                    dnf[j] = (uint8_t)(c > 0.0f);
                    ptot += n;
                    nnz += n != 0;
                    dd += c > 0.0f ? n : 0;
                    gf[j / AN_GROUP] |= (uint8_t)(n != 0);
                }
            }
            const int ng = XG / AN_GROUP;
            for (int gi = 0; gi < ng; gi++)
                if (gf[gi]) {
                    rb->chunks[nch++] = gi * AN_GROUP;
                    gf[gi] = 0;
                }
            gf[ng] = 0;
            rb->nch = nch;
            if (ptot == 0)
                continue;
            u = ptot - dd;
            /* stage 2: the row's normals, then the kernel */
            /* one fill per row: the pulse normals, then the write-noise normals */
            const size_t npulse = sig > 0.0f ? ptot : 0;
            an_gauss_fill(r->seed, r->s_noise, (uint64_t)i << 32, npulse + (pers ? nnz : 0),
                          rb->noise, rb->words);
            const float *wz = rb->noise + npulse;
            if (linear)
                an_row_linear_simd(dv, i, cnt, dnf, rb->noise, wz, rb);
            else
                row_nonlinear(dv, i, cnt, dnf, rb->noise, wz);
            rb->up += u;
            rb->down += dd;
            for (int k = 0; k < nch; k++)
                memset(cnt + rb->chunks[k], 0, AN_GROUP * sizeof(uint16_t));
            for (int j = XG; j < X; j++)
                cnt[j] = 0;
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
