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
 *  - several vector updates of one device can be applied together (an_batch_apply): each row
 *    takes the vectors in their order, which is the sequential result because the updates of
 *    different rows do not interact; a row's data then stays in cache over the vectors and the
 *    noise of all its vectors comes from one vectorised generator call (decision 1 holds: the
 *    vectors are still applied one after the other, per element);
 *  - within a row the columns are processed in groups of 16; a group runs passes r = 0..max n - 1
 *    and in pass r every column of the group with n_j > r takes one pulse. The linear-family
 *    kernel does this with AVX2 (two 8-lane halves in registers, the normals of a pass
 *    "expanded" into the active lanes) and has a portable twin that is bit-identical (same
 *    operations, same order, no FMA contraction); ExpStep/PowStep use a scalar per-pulse loop;
 *    with BL = 1 every touched column takes exactly one pulse, and a per-column loop is the same
 *    definition;
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
 *            row in column order (normal k from 16-bit half k % 2 of word k / 2, gauss.c);
 *   s_sto: stochastic rounding uniforms (x: derive(s_sto, 0), d: derive(s_sto, 1)). */
#include "analog_internal.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX2__)
#include <immintrin.h>
#include <pthread.h>
#endif

/* Row-chunk noise: the single-pulse vectors of a chunk of rows draw their words in one call of at
 * most this many blocks (a row alone may need more: its vectors' blocks always go together). */
#define AN_CHUNK_BLOCKS 512

/* ------------------------------------------------------------------------------- work buffers */
static void rowbuf_free(an_rowbuf *rb)
{
    an_free(rb->cnt);
    an_free(rb->dn);
    an_free(rb->noise);
    an_free(rb->words);
    an_free(rb->chunks);
    an_free(rb->bwords);
    an_free(rb->bnorm);
    an_free(rb->bblk);
    an_free(rb->bstr);
    an_free(rb->boff);
    memset(rb, 0, sizeof *rb);
}

/* bcap: blocks of a chunk of rows (see AN_CHUNK_BLOCKS); vec_cap: vectors per batch. */
static int rowbuf_init(an_rowbuf *rb, int x_cap, int bl_cap, size_t bcap, int vec_cap)
{
    memset(rb, 0, sizeof *rb);
    size_t X = (size_t)x_cap;
    rb->cnt = an_alloc((X + 16) * sizeof(uint16_t));
    rb->dn = an_alloc(X + 16);
    /* a general row: X*BL pulse and X write-noise normals */
    rb->noise_cap = X * (size_t)bl_cap + X + 16;
    rb->noise = an_alloc(rb->noise_cap * sizeof(float));
    rb->words = an_alloc((rb->noise_cap / 2 + 16) * sizeof(uint32_t));
    rb->chunks = an_alloc((X / AN_GROUP + 2) * sizeof(int));
    rb->bcap = bcap;
    rb->bwords = an_alloc((4 * bcap + 64) * sizeof(uint32_t));
    rb->bnorm = an_alloc((8 * bcap + 64) * sizeof(float));
    rb->bblk = an_alloc((bcap + 16) * sizeof(uint64_t));
    rb->bstr = an_alloc((bcap + 16) * sizeof(uint64_t));
    rb->boff = an_alloc(((size_t)vec_cap * AN_CHUNK_ROWS + 1) * sizeof(uint32_t));
    if (!rb->cnt || !rb->dn || !rb->noise || !rb->words || !rb->chunks || !rb->bwords || !rb->bnorm ||
        !rb->bblk || !rb->bstr || !rb->boff) {
        rowbuf_free(rb);
        return -1;
    }
    return 0;
}

static void vec_free(an_vec *v)
{
    an_free(v->xa);
    an_free(v->mx);
    an_free(v->xs);
    an_free(v->col1);
    an_free(v->xm8);
    an_free(v->dn8[0]);
    an_free(v->dn8[1]);
    an_free(v->md);
    an_free(v->dsg);
    an_free(v->da);
    memset(v, 0, sizeof *v);
}

static int vec_init(an_vec *v, int X, int D, int nw)
{
    memset(v, 0, sizeof *v);
    v->xa = an_alloc(((size_t)X + 8) * sizeof(int));
    v->mx = an_alloc(((size_t)X + 8) * (size_t)nw * sizeof(uint64_t));
    v->xs = an_alloc((size_t)X + 16);
    v->col1 = an_alloc(((size_t)X + 8) * sizeof(an_col1));
    v->xm8 = an_alloc((size_t)X + 32);
    v->dn8[0] = an_alloc((size_t)X + 32);
    v->dn8[1] = an_alloc((size_t)X + 32);
    v->md = an_alloc(((size_t)D + 8) * (size_t)nw * sizeof(uint64_t));
    v->dsg = an_alloc((size_t)D + 16);
    v->da = an_alloc(((size_t)D + 8) * sizeof(int));
    if (!v->xa || !v->mx || !v->xs || !v->col1 || !v->xm8 || !v->dn8[0] || !v->dn8[1] ||
        !v->md || !v->dsg || !v->da) {
        vec_free(v);
        return -1;
    }
    v->snap_col = -1;
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
    an_free(w->xs);
    an_free(w->ds);
    an_free(w->cx);
    an_free(w->cd);
    an_free(w->cxc);
    an_free(w->bits);
    an_free(w->sto);
    an_free(w->pv);
    an_free(w->cand);
    an_free(w->woff);
    an_free(w->blk);
    an_free(w->rowmask);
    an_free(w->snaps);
    for (int k = 0; k < w->n_vec; k++)
        vec_free(&w->vec[k]);
    an_free(w->vec);
    for (int k = 0; k < w->n_rb; k++)
        rowbuf_free(&w->rb[k]);
    an_free(w->rb);
    memset(w, 0, sizeof *w);
}

/* (Re)allocates the buffers for sizes up to x_cap, d_cap, BL up to bl_cap, vec_cap vector slots
 * and nthreads row buffers. Called outside parallel regions only. */
static int work_ensure(an_work *w, int x_cap, int d_cap, int bl_cap, int vec_cap, int nthreads)
{
    if (x_cap > w->x_cap || d_cap > w->d_cap || bl_cap > w->bl_cap || vec_cap > w->vec_cap) {
        int X = x_cap > w->x_cap ? x_cap : w->x_cap;
        int D = d_cap > w->d_cap ? d_cap : w->d_cap;
        int BL = bl_cap > w->bl_cap ? bl_cap : w->bl_cap;
        int V = vec_cap > w->vec_cap ? vec_cap : w->vec_cap;
        int nrb = w->n_rb;
        an_work_free(w);
        w->x_cap = X;
        w->d_cap = D;
        w->bl_cap = BL;
        w->vec_cap = V;
        w->nw_cap = (BL + 63) / 64;
        size_t nw = (size_t)w->nw_cap;
        size_t mx = (size_t)X > (size_t)D ? (size_t)X : (size_t)D;
        w->mx = an_alloc((mx + 8) * nw * sizeof(uint64_t));
        w->md = an_alloc((mx + 8) * nw * sizeof(uint64_t));
        w->da = an_alloc((mx + 8) * sizeof(int));
        w->xa = an_alloc((mx + 8) * sizeof(int));
        w->xs = an_alloc(mx + 16);
        w->ds = an_alloc(mx + 16);
        w->cx = an_alloc((size_t)X * sizeof(float));
        w->cd = an_alloc((size_t)D * sizeof(float));
        w->cxc = an_alloc((size_t)X * sizeof(float));
        /* bit-line words: a dense fill needs mx*BL, a block list at most BL/4 + 2 blocks per
         * index (used when at most a quarter of the indices draw) */
        size_t nblk = mx * ((size_t)BL / 4 + 2) + 16;
        w->bits = an_alloc((4 * nblk + mx * (size_t)BL + 64) * sizeof(uint32_t));
        w->blk = an_alloc(nblk * sizeof(uint64_t));
        w->sto = an_alloc((mx + 8) * sizeof(float));
        w->pv = an_alloc((mx + 8) * sizeof(float));
        w->cand = an_alloc((mx + 8) * sizeof(int));
        w->woff = an_alloc((mx + 8) * sizeof(int));
        w->rowmask = an_alloc(((size_t)D + 8) * sizeof(uint64_t));
        w->snaps = an_alloc(((size_t)D + 8) * (size_t)V * sizeof(float));
        if (!w->mx || !w->md || !w->da || !w->xa || !w->xs || !w->ds || !w->cx || !w->cd ||
            !w->cxc || !w->bits || !w->blk || !w->sto || !w->pv || !w->cand || !w->woff ||
            !w->rowmask || !w->snaps)
            return -1;
        w->vec = an_alloc((size_t)V * sizeof(an_vec));
        if (!w->vec)
            return -1;
        for (int k = 0; k < V; k++) {
            if (vec_init(&w->vec[k], X, D, (int)nw) != 0)
                return -1;
            w->n_vec = k + 1;
        }
        if (nthreads < nrb)
            nthreads = nrb;
    }
    if (nthreads > w->n_rb) {
        an_rowbuf *rb = an_alloc((size_t)nthreads * sizeof(an_rowbuf));
        if (!rb)
            return -1;
        for (int k = 0; k < w->n_rb; k++)
            rowbuf_free(&w->rb[k]);
        an_free(w->rb);
        w->rb = rb;
        w->n_rb = 0;
        /* a chunk holds at least one row of every vector: X/4 + 1 blocks per single-pulse
         * vector, at most AN_GEN_BLOCKS per general one */
        size_t per = (size_t)w->x_cap / 4 + 2;
        if (per < AN_GEN_BLOCKS + 1)
            per = AN_GEN_BLOCKS + 1;
        size_t bcap = (size_t)w->vec_cap * per;
        if (bcap < AN_CHUNK_BLOCKS)
            bcap = AN_CHUNK_BLOCKS;
        for (int k = 0; k < nthreads; k++) {
            if (rowbuf_init(&w->rb[k], w->x_cap, w->bl_cap, bcap, w->vec_cap) != 0)
                return -1;
            w->n_rb = k + 1;
        }
    }
    return 0;
}

int an_work_init(an_work *w, int x_cap, int d_cap, int bl_cap)
{
    memset(w, 0, sizeof *w);
    return work_ensure(w, x_cap, d_cap, bl_cap, 1, 1);
}

int an_work_reserve(an_work *w, int vec_cap)
{
    return work_ensure(w, w->x_cap, w->d_cap, w->bl_cap, vec_cap, 1);
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

/* max |v_k| (0 for n = 0; NaNs are skipped, as the sequential a > m ? a : m does). Lanes keep
 * their own maxima: max is exact, so the order does not matter. */
float an_absmax(const float *v, int n)
{
    int k = 0;
    float m = 0.0f;
#if defined(__AVX2__)
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
    for (; k + 16 <= n; k += 16) {
        /* maxps(a, m) = a > m ? a : m, per lane */
        m0 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(v + k)), m0);
        m1 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(v + k + 8)), m1);
    }
    float lane[16];
    _mm256_storeu_ps(lane, m0);
    _mm256_storeu_ps(lane + 8, m1);
    for (int l = 0; l < 16; l++)
        m = lane[l] > m ? lane[l] : m;
#endif
    for (; k < n; k++) {
        float a = fabsf(v[k]);
        m = a > m ? a : m;
    }
    return m;
}

/* Builds the masks of one side, compacted to the active indices: act[c] (ascending), the mask
 * masks[c*nw ..] and neg[c] = 1 for a negative value (flipped where flip[j] is set: the chopped
 * sign). Bit k of index j is set iff p_j > u_jk, p_j = quant(|v_j| * scale) (§1.4), with p_j >= 1
 * setting all bits without a draw; u_jk is the uniform of word j*BL + k of s_bits. The words come
 * from one vectorised fill of all n*BL when many indices need them, else from a list of just the
 * blocks the random indices need (the same words either way). Returns the number of active
 * indices. */
#if defined(__AVX2__)
/* make_bits for BL = 1 without quantisation, when more than a quarter of the indices draw (the
 * dense fill): the same comparisons 8 lanes at a time, returns -1 if the fill is not dense. */
static int make_bits1_avx2(const float *v, const int8_t *flip, int n, float scale, uint64_t seed,
                           uint64_t s_bits, an_work *wk, int *act, uint8_t *neg, uint64_t *masks)
{
    const __m256 sgn = _mm256_set1_ps(-0.0f), vs = _mm256_set1_ps(scale),
                 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f),
                 two24 = _mm256_set1_ps(16777216.0f);
    int nrand = 0, j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 p = _mm256_mul_ps(_mm256_andnot_ps(sgn, _mm256_loadu_ps(v + j)), vs);
        const __m256 r = _mm256_and_ps(_mm256_cmp_ps(p, zero, _CMP_GT_OQ),
                                       _mm256_cmp_ps(p, one, _CMP_LT_OQ));
        nrand += __builtin_popcount((unsigned)_mm256_movemask_ps(r));
    }
    for (; j < n; j++) {
        const float p = fabsf(v[j]) * scale;
        nrand += p > 0.0f && p < 1.0f;
    }
    if (!((size_t)nrand * 4 > (size_t)n))
        return -1;
    uint32_t *words = wk->bits;
    atl_rng_u32_fill_at(seed, s_bits, 0, (size_t)n, words);
    int na = 0;
    j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 x = _mm256_loadu_ps(v + j);
        const __m256 p = _mm256_mul_ps(_mm256_andnot_ps(sgn, x), vs);
        const __m256 u = _mm256_cvtepi32_ps(_mm256_srli_epi32(
            _mm256_loadu_si256((const __m256i *)(const void *)(words + j)), 8));
        /* p >= 1, or uniform < p (p <= 0 and NaN never pass) */
        const __m256 bit = _mm256_or_ps(_mm256_cmp_ps(p, one, _CMP_GE_OQ),
                                        _mm256_cmp_ps(u, _mm256_mul_ps(p, two24), _CMP_LT_OQ));
        unsigned m = (unsigned)_mm256_movemask_ps(bit);
        if (!m)
            continue;
        unsigned ng = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, zero, _CMP_LT_OQ));
        if (flip) {
            const __m128i f8 = _mm_loadl_epi64((const __m128i *)(const void *)(flip + j));
            ng ^= 0xFFu & ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(f8, _mm_setzero_si128()));
        }
        for (; m; m &= m - 1) {
            const int l = __builtin_ctz(m);
            masks[na] = 1;
            neg[na] = (uint8_t)((ng >> l) & 1u);
            act[na++] = j + l;
        }
    }
    for (; j < n; j++) {
        const float p = fabsf(v[j]) * scale;
        if (p >= 1.0f || (float)(words[j] >> 8) < p * 16777216.0f) {
            masks[na] = 1;
            neg[na] = (uint8_t)((v[j] < 0.0f) ^ (flip ? flip[j] != 0 : 0));
            act[na++] = j;
        }
    }
    return na;
}
#endif

static int make_bits_p(const float *v, const int8_t *flip, int n, float scale, int BL, int nw,
                       const atl_update_params *up, uint64_t seed, uint64_t s_bits,
                       uint64_t s_sto, an_work *wk, int *act, uint8_t *neg, uint64_t *masks,
                       int portable)
{
    const float res = up->res;
    const int sto_round = up->sto_round && res > 0.0f;
#if defined(__AVX2__)
    if (BL == 1 && !sto_round && !(res > 0.0f) && !portable) {
        const int na = make_bits1_avx2(v, flip, n, scale, seed, s_bits, wk, act, neg, masks);
        if (na >= 0)
            return na;
    }
#endif
    float *restrict pv = wk->pv;
    int *restrict cand = wk->cand;
    if (sto_round)
        atl_rng_uniform_fill_at(seed, s_sto, 0, (size_t)n, wk->sto);
    int nc = 0, nrand = 0;
    if (!sto_round && !(res > 0.0f)) {
        for (int j = 0; j < n; j++) {
            const float p = fabsf(v[j]) * scale;
            pv[j] = p;
            cand[nc] = j;
            nc += p > 0.0f;
            nrand += p > 0.0f && p < 1.0f;
        }
    } else {
        for (int j = 0; j < n; j++) {
            const float p =
                quant_p(fabsf(v[j]) * scale, res, sto_round, sto_round ? wk->sto[j] : 0.0f);
            pv[j] = p;
            cand[nc] = j;
            nc += p > 0.0f;
            nrand += p > 0.0f && p < 1.0f;
        }
    }
    if (nc == 0)
        return 0;
    uint32_t *restrict words = wk->bits;
    int *restrict woff = wk->woff; /* per candidate: its first word in `words` */
    /* one contiguous fill when many indices need words, else just their blocks */
    const int dense = (size_t)nrand * 4 > (size_t)n;
    if (dense) {
        atl_rng_u32_fill_at(seed, s_bits, 0, (size_t)n * (size_t)BL, words);
    } else if (nrand > 0) {
        /* the blocks the random indices need, ascending; neighbours may share one block */
        uint64_t *restrict blk = wk->blk;
        size_t nb = 0;
        for (int c = 0; c < nc; c++) {
            const int j = cand[c];
            if (!(pv[j] < 1.0f))
                continue;
            const uint64_t s0 = (uint64_t)j * (uint64_t)BL, b0 = s0 >> 2,
                           b1 = (s0 + (uint64_t)BL - 1u) >> 2;
            const int shared = nb > 0 && blk[nb - 1] == b0;
            woff[c] = (int)(4 * (nb - (size_t)shared) + (size_t)(s0 & 3u));
            for (uint64_t b = b0 + (uint64_t)shared; b <= b1; b++)
                blk[nb++] = b;
        }
        atl_rng_u32_blocks_at(seed, s_bits, blk, nb, words);
    }
    int na = 0;
    if (BL == 1) {
        /* one bit: branch-free (the common case of c-TTv2 updates and transfer writes) */
        for (int c = 0; c < nc; c++) {
            const int j = cand[c];
            const float p = pv[j];
            const uint64_t bit =
                p >= 1.0f ? 1u
                          : (uint64_t)((float)((dense ? words[j] : words[woff[c]]) >> 8) <
                                       p * 16777216.0f);
            masks[na] = bit;
            neg[na] = (uint8_t)((v[j] < 0.0f) ^ (flip ? flip[j] != 0 : 0));
            act[na] = j;
            na += (int)bit;
        }
        return na;
    }
    for (int c = 0; c < nc; c++) {
        const int j = cand[c];
        const float p = pv[j];
        uint64_t *m = masks + (size_t)na * (size_t)nw;
        for (int w = 0; w < nw; w++)
            m[w] = 0;
        if (p >= 1.0f) {
            for (int k = 0; k < BL; k++)
                m[k >> 6] |= 1ull << (k & 63);
        } else {
            const uint32_t *u = dense ? words + (size_t)j * (size_t)BL : words + woff[c];
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
        neg[na] = (uint8_t)((v[j] < 0.0f) ^ (flip ? flip[j] != 0 : 0));
        act[na] = j;
        na += nz;
    }
    return na;
}

static int make_bits(const float *v, const int8_t *flip, int n, float scale, int BL, int nw,
                     const atl_update_params *up, uint64_t seed, uint64_t s_bits, uint64_t s_sto,
                     an_work *wk, int *act, uint8_t *neg, uint64_t *masks)
{
    return make_bits_p(v, flip, n, scale, BL, nw, up, seed, s_bits, s_sto, wk, act, neg, masks,
                       0);
}

int an_make_bits(const float *v, const int8_t *flip, int n, float scale, int BL,
                 const atl_update_params *up, uint64_t seed, uint64_t s_bits, uint64_t s_sto,
                 an_work *wk, int *act, uint8_t *neg, uint64_t *masks, int portable)
{
    return make_bits_p(v, flip, n, scale, BL, (BL + 63) / 64, up, seed, s_bits, s_sto, wk, act,
                       neg, masks, portable);
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

/* pulse1 with the noise switch known at compile time (sig > 0 iff noisy). */
static inline __attribute__((always_inline)) float pulse1c(const int noisy, const int mult,
                                                           float g, float st, float sl, float sig,
                                                           float z)
{
    if (noisy) {
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

/* One 16-column group in registers: two 8-lane halves, each an independent dependency chain per
 * pass. The row kernel runs two groups in lockstep (four chains, which hides the latency of a
 * pass: mul, add, mul, add, max, min, blend), each group consuming its own stretch of the row's
 * normals, so the order of the definition (group by group) is kept. `noisy` and `mult` are
 * compile-time constants at each call. */
typedef struct grp {
    __m256i cv[2];
    __m256 g[2], st[2], sl[2], lo[2], hi[2];
    const float *nz; /* next pulse normal of this group */
    int maxn, tot, ntouch, c0;
} grp;

static inline __attribute__((always_inline)) void grp_load(grp *G, const float *cb, const float *w,
                                                           const uint16_t *cnt, const uint8_t *dn,
                                                           int c0)
{
    const __m256i zero = _mm256_setzero_si256();
    const __m256i c16 = _mm256_loadu_si256((const __m256i *)(const void *)(cnt + c0));
    const __m128i inv = _mm_sub_epi16(_mm_set1_epi16(-1),
                                      _mm_max_epu16(_mm256_castsi256_si128(c16),
                                                    _mm256_extracti128_si256(c16, 1)));
    G->maxn = 0xFFFF - (_mm_cvtsi128_si32(_mm_minpos_epu16(inv)) & 0xFFFF);
    G->c0 = c0;
    /* pulses and touched columns of the group (where the next group's normals start) */
    __m256i s32 = _mm256_madd_epi16(c16, _mm256_set1_epi16(1));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    G->tot = _mm_cvtsi128_si32(s4);
    const __m256i nzm = _mm256_cmpeq_epi16(c16, zero);
    G->ntouch = 16 - __builtin_popcount((unsigned)_mm256_movemask_epi8(nzm)) / 2;
    for (int h = 0; h < 2; h++) {
        const int c = c0 + 8 * h;
        const float *bp = cb + ((size_t)c << 3);
        G->cv[h] = _mm256_cvtepu16_epi32(h ? _mm256_extracti128_si256(c16, 1)
                                           : _mm256_castsi256_si128(c16));
        const __m256 dm = _mm256_castsi256_ps(_mm256_cmpgt_epi32(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(dn + c))), zero));
        G->g[h] = _mm256_add_ps(_mm256_loadu_ps(w + c), _mm256_load_ps(bp + AN_REF * 8));
        G->st[h] = _mm256_blendv_ps(_mm256_load_ps(bp + AN_STU * 8),
                                    _mm256_load_ps(bp + AN_STD * 8), dm);
        G->sl[h] = _mm256_blendv_ps(_mm256_load_ps(bp + AN_SLU * 8),
                                    _mm256_load_ps(bp + AN_SLD * 8), dm);
        G->lo[h] = _mm256_load_ps(bp + AN_LO * 8);
        G->hi[h] = _mm256_load_ps(bp + AN_HI * 8);
    }
}

static inline __attribute__((always_inline)) void grp_pass(const int noisy, const int mult,
                                                           grp *G, int r, __m256 vsig)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256i vr = _mm256_set1_epi32(r);
    for (int h = 0; h < 2; h++) {
        const __m256 act = _mm256_castsi256_ps(_mm256_cmpgt_epi32(G->cv[h], vr));
        const __m256 g = G->g[h], st = G->st[h], sl = G->sl[h];
        __m256 v;
        if (noisy) {
            const int m = _mm256_movemask_ps(act);
            const __m256 z = expand_load(G->nz, m);
            G->nz += __builtin_popcount((unsigned)m);
            const __m256 f = _mm256_add_ps(one, _mm256_mul_ps(vsig, z));
            if (mult)
                v = _mm256_add_ps(g, _mm256_mul_ps(_mm256_add_ps(_mm256_mul_ps(sl, g), st), f));
            else
                v = _mm256_add_ps(_mm256_add_ps(g, _mm256_mul_ps(sl, g)), _mm256_mul_ps(st, f));
        } else {
            v = _mm256_add_ps(g, _mm256_add_ps(_mm256_mul_ps(sl, g), st));
        }
        v = _mm256_min_ps(_mm256_max_ps(v, G->lo[h]), G->hi[h]);
        G->g[h] = _mm256_blendv_ps(g, v, act);
    }
}

static inline __attribute__((always_inline)) void grp_store(const grp *G, const float *cb,
                                                            float *w, float *wa, const int pers,
                                                            const float *wz, __m256 vsw)
{
    const __m256i zero = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const int c = G->c0 + 8 * h;
        const float *bp = cb + ((size_t)c << 3);
        const __m256 touched = _mm256_castsi256_ps(_mm256_cmpgt_epi32(G->cv[h], zero));
        const __m256 wn = _mm256_sub_ps(G->g[h], _mm256_load_ps(bp + AN_REF * 8));
        _mm256_storeu_ps(w + c, _mm256_blendv_ps(_mm256_loadu_ps(w + c), wn, touched));
        if (pers) {
            const int m = _mm256_movemask_ps(touched);
            const __m256 z = expand_load(wz, m);
            wz += __builtin_popcount((unsigned)m);
            const __m256 nv = _mm256_add_ps(wn, _mm256_mul_ps(vsw, z));
            _mm256_storeu_ps(wa + c, _mm256_blendv_ps(_mm256_loadu_ps(wa + c), nv, touched));
        }
    }
}

static inline __attribute__((always_inline)) void prefetch_group(const float *cb, const float *w,
                                                                 const float *wa, int pers, int c)
{
    const char *bp = (const char *)(cb + ((size_t)c << 3));
    for (int k = 0; k < 8; k++)
        _mm_prefetch(bp + 64 * k, _MM_HINT_T0);
    _mm_prefetch((const char *)(w + c), _MM_HINT_T0);
    if (pers)
        _mm_prefetch((const char *)(wa + c), _MM_HINT_T0);
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
    int q = 0;
    for (; q + 1 < rb->nch; q += 2) {
        if (q + 3 < rb->nch) {
            /* sparse rows touch scattered groups: fetch ahead (no effect on results) */
            prefetch_group(cb, w, wa, pers, rb->chunks[q + 2]);
            prefetch_group(cb, w, wa, pers, rb->chunks[q + 3]);
        }
        grp A, B;
        grp_load(&A, cb, w, cnt, dn, rb->chunks[q]);
        grp_load(&B, cb, w, cnt, dn, rb->chunks[q + 1]);
        A.nz = noise + pos;
        B.nz = A.nz + A.tot;
        const int both = A.maxn < B.maxn ? A.maxn : B.maxn;
        int r = 0;
        for (; r < both; r++) {
            grp_pass(noisy, mult, &A, r, vsig);
            grp_pass(noisy, mult, &B, r, vsig);
        }
        for (int ra = r; ra < A.maxn; ra++)
            grp_pass(noisy, mult, &A, ra, vsig);
        for (int rb2 = r; rb2 < B.maxn; rb2++)
            grp_pass(noisy, mult, &B, rb2, vsig);
        grp_store(&A, cb, w, wa, pers, wnoise + wpos, vsw);
        grp_store(&B, cb, w, wa, pers, wnoise + wpos + (size_t)A.ntouch, vsw);
        pos += (size_t)A.tot + (size_t)B.tot;
        wpos += (size_t)A.ntouch + (size_t)B.ntouch;
    }
    if (q < rb->nch) {
        grp A;
        grp_load(&A, cb, w, cnt, dn, rb->chunks[q]);
        A.nz = noise + pos;
        for (int r = 0; r < A.maxn; r++)
            grp_pass(noisy, mult, &A, r, vsig);
        grp_store(&A, cb, w, wa, pers, wnoise + wpos, vsw);
        pos += (size_t)A.tot;
        wpos += (size_t)A.ntouch;
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
 * DeterministicImplicit sign*clip(quant_res(scale|v|), 0, 1); the sign is flipped where flip[j]
 * is set. */
static void dense_side(const float *v, const int8_t *flip, int n, float scale, int BL, int mc,
                       float res_mc, float res_di, float *out)
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
        const int neg = (v[j] < 0.0f) ^ (flip ? flip[j] != 0 : 0);
        out[j] = neg ? -c : c;
    }
}

/* Touched full groups of a row's count array into rb->chunks (four 64-bit words per group). */
static void row_chunks(const uint16_t *cnt, int X, an_rowbuf *rb)
{
    const int ng = X / AN_GROUP;
    int nch = 0;
    for (int gi = 0; gi < ng; gi++) {
        uint64_t c4[4];
        memcpy(c4, cnt + gi * AN_GROUP, sizeof c4);
        rb->chunks[nch] = gi * AN_GROUP;
        nch += (c4[0] | c4[1] | c4[2] | c4[3]) != 0;
    }
    rb->nch = nch;
}

/* Stage 2 of a general row: its normals (pulse, then write noise: one fill from block i << 32),
 * the kernel, the counters, and the count array cleared again. */
static inline void normals_from_words(const uint32_t *w, size_t n, float *out)
{
    an_gauss_from_words(w, n, out);
}

/* zs: the row's normals if already drawn (batched), else NULL (drawn here). */
static void row_apply_counts(an_dev *dv, int i, uint64_t seed, uint64_t s_noise, size_t ptot,
                             size_t nnz, uint64_t dd, const float *zs, const uint8_t *dn,
                             an_rowbuf *rb)
{
    const int X = dv->x_size, XG = X - X % AN_GROUP;
    uint16_t *cnt = rb->cnt;
    if (ptot > 0) {
        const int pers = dv->wa != dv->w;
        const size_t npulse = dv->p.dw_min_std > 0.0f ? ptot : 0;
        const size_t nn = npulse + (pers ? nnz : 0);
        const float *z = zs;
        if (!z) {
            an_gauss_fill(seed, s_noise, (uint64_t)i << 32, nn, rb->noise, rb->words);
            z = rb->noise;
        }
        const float *wz = z + npulse;
        if (dv->p.type != ATL_DEV_EXP_STEP && dv->p.type != ATL_DEV_POW_STEP)
            an_row_linear_simd(dv, i, cnt, dn, z, wz, rb);
        else
            row_nonlinear(dv, i, cnt, dn, z, wz);
        rb->up += ptot - dd;
        rb->down += dd;
    }
    for (int k = 0; k < rb->nch; k++)
        memset(cnt + rb->chunks[k], 0, AN_GROUP * sizeof(uint16_t));
    for (int j = XG; j < X; j++)
        cnt[j] = 0;
}

/* Stage 1 of a general row of vector v (stochastic compressed): the pulses
 * n_j = popcount(mx_j & md_i) and directions of the active columns into the row's dense count
 * array (all-zero elsewhere), then stage 2. */
static void row_general(an_dev *dv, const an_vec *v, int i, uint64_t seed, const float *words,
                        an_rowbuf *rb)
{
    const int X = dv->x_size, nw = v->nw, nxa = v->nxa;
    const int *restrict xa = v->xa;
    const uint64_t *restrict mxc = v->mx;
    const uint8_t *restrict xsc = v->xs;
    uint16_t *restrict cnt = rb->cnt;
    uint8_t *restrict dnf = rb->dn;
    const uint64_t *md = v->md + (size_t)i * (size_t)nw;
    const uint8_t sd = v->dsg[i];
    size_t ptot = 0, nz = 0;
    uint64_t down_tot = 0;
    if (nw == 1) {
        const uint64_t m0 = md[0];
        for (int k = 0; k < nxa; k++) {
            const unsigned n = (unsigned)__builtin_popcountll(mxc[k] & m0);
            const unsigned down = xsc[k] == sd; /* same signs: down (§0.2) */
            const int j = xa[k];
            cnt[j] = (uint16_t)n;
            dnf[j] = (uint8_t)down;
            ptot += n;
            nz += n != 0;
            down_tot += n & (0u - down);
        }
    } else {
        for (int k = 0; k < nxa; k++) {
            const uint64_t *mx = mxc + (size_t)k * (size_t)nw;
            unsigned n = 0;
            for (int w = 0; w < nw; w++)
                n += (unsigned)__builtin_popcountll(mx[w] & md[w]);
            const unsigned down = xsc[k] == sd;
            const int j = xa[k];
            cnt[j] = (uint16_t)n;
            dnf[j] = (uint8_t)down;
            ptot += n;
            nz += n != 0;
            down_tot += n & (0u - down);
        }
    }
    row_chunks(cnt, X, rb);
    row_apply_counts(dv, i, seed, v->s_noise, ptot, nz, down_tot, words, rb->dn, rb);
}

/* popcount of each byte (nibble table) */
#if defined(__AVX2__)
static inline __m128i popcnt8x16(__m128i a)
{
    const __m128i lut = _mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m128i lo = _mm_and_si128(a, _mm_set1_epi8(0x0F));
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(a, 4), _mm_set1_epi8(0x0F));
    return _mm_add_epi8(_mm_shuffle_epi8(lut, lo), _mm_shuffle_epi8(lut, hi));
}
#endif

/* Stage 1 of a general row of a vector with byte masks (BL <= 8): the counts of all columns
 * (dense masks, zero where inactive) in 16-column steps, the touched groups from the same
 * pass, the directions straight from the vector's per-sign arrays; the totals from the per-bit
 * column counts. The same counts as row_general, only computed another way. */
static void row_general8(an_dev *dv, const an_vec *v, int i, uint64_t seed, const float *words,
                         an_rowbuf *rb)
{
    const int X = dv->x_size;
    const unsigned md8 = (unsigned)v->md[i];
    const int sd = v->dsg[i];
    size_t ptot = 0;
    uint64_t dd = 0;
    for (unsigned m = md8; m; m &= m - 1) {
        const int b = __builtin_ctz(m);
        ptot += (size_t)(v->bc_pos[b] + v->bc_neg[b]);
        dd += (uint64_t)(sd ? v->bc_neg[b] : v->bc_pos[b]); /* down where the signs agree */
    }
    uint16_t *restrict cnt = rb->cnt;
    const uint8_t *restrict xm = v->xm8;
    size_t nz = 0;
    int nch = 0;
    int c = 0;
#if defined(__AVX2__)
    const __m128i vmd = _mm_set1_epi8((char)md8);
    for (; c < X; c += 16) {
        const __m128i pc = popcnt8x16(
            _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)(xm + c)), vmd));
        _mm256_storeu_si256((__m256i *)(void *)(cnt + c), _mm256_cvtepu8_epi16(pc));
        const unsigned tz =
            (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(pc, _mm_setzero_si128())) ^ 0xFFFFu;
        nz += (size_t)__builtin_popcount(tz);
        rb->chunks[nch] = c;
        nch += tz != 0 && c + AN_GROUP <= X;
    }
#else
    for (; c < X; c += 16) {
        unsigned any = 0;
        for (int l = 0; l < 16; l++) {
            const unsigned n = (unsigned)__builtin_popcount(xm[c + l] & md8);
            cnt[c + l] = (uint16_t)n;
            nz += n != 0;
            any |= n;
        }
        rb->chunks[nch] = c;
        nch += any != 0 && c + AN_GROUP <= X;
    }
#endif
    rb->nch = nch;
    row_apply_counts(dv, i, seed, v->s_noise, ptot, nz, dd, words, v->dn8[sd], rb);
}

/* Normal k of a row's words: 16-bit half k % 2 of word k / 2 (gauss.c). */
static inline uint32_t half16(const uint32_t *w, size_t k)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint16_t h; /* half 0 is the low half: byte offset 2k */
    memcpy(&h, (const unsigned char *)w + 2 * k, sizeof h);
    return h;
#else
    return (w[k >> 1] >> ((k & 1) << 4)) & 0xFFFFu;
#endif
}

/* The single-pulse rule on the active columns k0 .. k1-1 of vector vv in row i (cb, w, wa: the
 * row's constants and weights; wr its words; npulse = nxa if noisy, else 0). */
static inline __attribute__((always_inline)) void
single_elems(const int noisy, const int pers, const int mult, const float *restrict cb,
             float *restrict w, float *restrict wa, const an_col1 *restrict col, int k0, int k1,
             int sd, const float *restrict zr, size_t npulse, float sig, float sw)
{
    for (int k = k0; k < k1; k++) {
        const int j = col[k].j, c = col[k].coff, o = col[k].soff[sd];
        const float ref = cb[c + AN_REF * 8];
        const float st = cb[o], sl = cb[o + 16]; /* AN_SL* = AN_ST* + 2 */
        const float z = noisy ? zr[k] : 0.0f;
        const float gv = clampf(pulse1c(noisy, mult, w[j] + ref, st, sl, sig, z),
                                cb[c + AN_LO * 8], cb[c + AN_HI * 8]);
        const float v = gv - ref;
        w[j] = v;
        if (pers)
            wa[j] = v + sw * zr[npulse + (size_t)k];
    }
}

/* Single-pulse row (BL = 1, linear family): the row takes exactly one pulse at every active
 * column (n_ij = 1), down where the signs of x_j and d_i agree. The general definition then
 * reads: normal k of the row (k < nxa) is the pulse normal of the k-th active column (group
 * order with one pass is column order), normal nxa + k its write-noise normal (without c2c
 * noise: normal k), taken from the table straight from the row's words. (A 16-lane version of
 * this loop over the groups of active columns measured slower: the rows are sparse.) */
static inline __attribute__((always_inline)) void
row_single_elems(const int noisy, const int pers, const int mult, const an_dev *dv,
                 const an_vec *vv, int i, const float *restrict zr)
{
    const int X = dv->x_size, sd = vv->dsg[i];
    const size_t base = (size_t)i * (size_t)X;
    float *w = dv->w + base;
    float *wa = dv->wa + base;
    const float *cb = dv->cst + (((size_t)i * (size_t)dv->nchk) << 6);
    const float sig = dv->p.dw_min_std, sw = dv->wn_sigma;
    const size_t npulse = noisy ? (size_t)vv->nxa : 0;
    single_elems(noisy, pers, mult, cb, w, wa, vv->col1, 0, vv->nxa, sd, zr, npulse, sig, sw);
}

static void row_single(const an_dev *dv, const an_vec *vv, int i, const float *wr,
                       an_rowbuf *rb)
{
    const int pers = dv->wa != dv->w;
    const int mult = dv->p.mult_noise || dv->p.type == ATL_DEV_CONSTANT_STEP;
    if (dv->p.dw_min_std > 0.0f) {
        if (pers)
            mult ? row_single_elems(1, 1, 1, dv, vv, i, wr) : row_single_elems(1, 1, 0, dv, vv, i, wr);
        else
            mult ? row_single_elems(1, 0, 1, dv, vv, i, wr) : row_single_elems(1, 0, 0, dv, vv, i, wr);
    } else {
        pers ? row_single_elems(0, 1, 0, dv, vv, i, wr) : row_single_elems(0, 0, 0, dv, vv, i, wr);
    }
    const int dd = vv->dsg[i] ? vv->nneg : vv->nxa - vv->nneg; /* down where signs agree */
    rb->down += (uint64_t)dd;
    rb->up += (uint64_t)(vv->nxa - dd);
}

static inline int vec_row_active(const an_vec *v, int i)
{
    if (v->BL <= 0)
        return 0;
    if (v->nw == 1)
        return v->md[i] != 0;
    uint64_t a = 0;
    for (int w = 0; w < v->nw; w++)
        a |= v->md[(size_t)i * (size_t)v->nw + (size_t)w];
    return a != 0;
}

/* Normals (pulse + write noise) a single-pulse row of vector v needs, 0 if it takes the general
 * path. */
static inline size_t single_normals(const an_dev *dv, const an_vec *v, int linear)
{
    if (v->BL != 1 || !linear)
        return 0;
    return (dv->p.dw_min_std > 0.0f ? (size_t)v->nxa : 0) +
           (dv->wa != dv->w ? (size_t)v->nxa : 0);
}

/* Rows rows[r0 .. r1) (NULL: rows r0 .. r1) of the batch: in sub-chunks whose single-pulse rows
 * draw their words in one call, then row by row the vectors in order, with the snapshots: the
 * ns snapshot vectors sv[] (ascending) and their columns sc[]; vector sv[p]'s value of row i is
 * taken before the row's first active vector after sv[p] (or at the end), which is the value
 * right after vector sv[p]. rowmask[i]: bit v set iff vector v is active in row i (NULL: the
 * lone vector 0); single: the single-pulse vectors, nbr[v] blocks per row; gen1: the general
 * vectors with one-word masks (their blocks per row follow from bitcnt). */
static void batch_rows(an_dev *dv, an_work *wk, int nvec, uint64_t seed, const int *rows,
                       int r0, int r1, const uint64_t *rowmask, const int *sv, const int *sc,
                       int ns, uint64_t single, uint64_t gen1, const size_t *nbr, an_rowbuf *rb)
{
    const int X = dv->x_size;
    const int noisy = dv->p.dw_min_std > 0.0f, pers = dv->wa != dv->w;
    const size_t sstride = (size_t)wk->vec_cap;
    int k = r0;
    while (k < r1) {
        /* sub-chunk [k, e): its single-pulse words in one generator call */
        int e = k;
        size_t nb = 0;
        while (e < r1 && e - k < AN_CHUNK_ROWS) {
            const int i = rows ? rows[e] : e;
            const uint64_t m = rowmask ? rowmask[i] : 1u;
            /* blocks per active vector: single-pulse ones nbr[v]; general ones (one-word
             * masks) from their pulse total sum_b bitcnt[b] over the row's d bits, at most
             * AN_GEN_BLOCKS (larger ones draw in the row kernel) */
            size_t need = 0, nbv[AN_MAX_VEC];
            for (uint64_t b = m; b; b &= b - 1) {
                const int v = __builtin_ctzll(b);
                size_t n = 0;
                if ((single >> v) & 1u) {
                    n = nbr[v];
                } else if ((gen1 >> v) & 1u) {
                    const an_vec *vv = &wk->vec[v];
                    size_t ptot = 0;
                    for (uint64_t dbit = vv->md[i]; dbit; dbit &= dbit - 1)
                        ptot += (size_t)vv->bitcnt[__builtin_ctzll(dbit)];
                    const size_t nnz = ptot < (size_t)vv->nxa ? ptot : (size_t)vv->nxa;
                    n = ((noisy ? ptot : 0) + (pers ? nnz : 0) + 7) / 8;
                    if (n > AN_GEN_BLOCKS)
                        n = 0;
                }
                nbv[v] = n;
                need += n;
            }
            if (e > k && nb + need > rb->bcap)
                break;
            for (uint64_t b = m; b; b &= b - 1) {
                const int v = __builtin_ctzll(b);
                uint32_t *bo = &rb->boff[(size_t)(e - k) * (size_t)nvec + (size_t)v];
                if (!nbv[v]) {
                    *bo = UINT32_MAX;
                    continue;
                }
                *bo = (uint32_t)(4 * nb);
                const uint64_t st = wk->vec[v].s_noise, blk0 = (uint64_t)i << 32;
                for (size_t q = 0; q < nbv[v]; q++) {
                    rb->bblk[nb] = blk0 + q;
                    rb->bstr[nb] = st;
                    nb++;
                }
            }
            e++;
        }
        if (nb) {
            /* the words, then all their normals in one tight loop (many table loads in
             * flight; the row loops then read floats) */
            atl_rng_u32_blocks_streams_at(seed, rb->bstr, rb->bblk, nb, rb->bwords);
            normals_from_words(rb->bwords, 8 * nb, rb->bnorm);
        }
        for (int q = k; q < e; q++) {
            const int i = rows ? rows[q] : q;
            const uint64_t m = rowmask ? rowmask[i] : 1u;
            const float *war = dv->wa + (size_t)i * (size_t)X;
            float *srow = wk->snaps + (size_t)i * sstride;
            int p = 0;
            for (uint64_t b = m; b; b &= b - 1) {
                const int v = __builtin_ctzll(b);
                for (; p < ns && sv[p] < v; p++)
                    srow[sv[p]] = war[sc[p]];
                const an_vec *vv = &wk->vec[v];
                const uint32_t bo = rb->boff[(size_t)(q - k) * (size_t)nvec + (size_t)v];
                const float *words = bo == UINT32_MAX ? NULL : rb->bnorm + 2 * (size_t)bo;
                if ((single >> v) & 1u)
                    row_single(dv, vv, i, words, rb); /* NULL only without any noise */
                else
                    (vv->xm8on ? row_general8 : row_general)(dv, vv, i, seed, words, rb);
            }
            for (; p < ns; p++)
                srow[sv[p]] = war[sc[p]];
        }
        k = e;
    }
}

int an_vec_prepare(an_work *wk, int slot, const an_dev *dv, const float *x, const float *d,
                   const int8_t *flip_x, const int8_t *flip_d, float x_m, float d_m, float lr,
                   float g, const atl_update_params *up, const an_pulse_rng *r)
{
    an_vec *v = &wk->vec[slot];
    v->BL = 0;
    v->nda = 0;
    v->snap_col = -1;
    if (!(lr > 0.0f))
        return 0;
    const int X = dv->x_size, D = dv->d_size;
    if (!(x_m >= 0.0f))
        x_m = an_absmax(x, X);
    if (!(d_m >= 0.0f))
        d_m = an_absmax(d, D);
    float A, B;
    const int BL = an_update_bl(up, lr, g, x_m, d_m, &A, &B);
    if (BL <= 0)
        return 0;
    if (BL > wk->bl_cap)
        return -1;
    const int nw = (BL + 63) / 64;
    v->nxa = make_bits(x, flip_x, X, B, BL, nw, up, r->seed, r->s_bx,
                       atl_rng_derive_stream(r->s_sto, 0), wk, v->xa, v->xs, v->mx);
    if (v->nxa == 0)
        return 0;
    const int nda = make_bits(d, flip_d, D, A, BL, nw, up, r->seed, r->s_bd,
                              atl_rng_derive_stream(r->s_sto, 1), wk, wk->da, wk->ds, wk->md);
    if (nda == 0)
        return 0;
    memset(v->md, 0, (size_t)D * (size_t)nw * sizeof(uint64_t));
    for (int q = 0; q < nda; q++) {
        const int i = wk->da[q];
        memcpy(v->md + (size_t)i * (size_t)nw, wk->md + (size_t)q * (size_t)nw,
               (size_t)nw * sizeof(uint64_t));
        v->dsg[i] = wk->ds[q];
        v->da[q] = i;
    }
    v->nda = nda;
    v->nw = nw;
    v->BL = BL;
    v->s_noise = r->s_noise;
    v->xm8on = 0;
    if (nw == 1 && BL > 1) {
        /* bit b's number of active columns: a row's pulse total is the sum over its d bits */
        for (int b = 0; b < BL; b++)
            v->bitcnt[b] = v->bc_pos[b] = v->bc_neg[b] = 0;
        for (int k = 0; k < v->nxa; k++)
            for (uint64_t m = v->mx[k]; m; m &= m - 1) {
                const int b = __builtin_ctzll(m);
                v->bitcnt[b]++;
                if (v->xs[k])
                    v->bc_neg[b]++;
                else
                    v->bc_pos[b]++;
            }
        if (BL <= 8) {
            /* dense byte masks (zero where inactive, padded) and the down flags by d sign */
            v->xm8on = 1;
            memset(v->xm8, 0, (size_t)X + 16);
            for (int k = 0; k < v->nxa; k++) {
                const int j = v->xa[k];
                v->xm8[j] = (uint8_t)v->mx[k];
                v->dn8[1][j] = v->xs[k];                 /* d negative: down where x is */
                v->dn8[0][j] = (uint8_t)(v->xs[k] ^ 1u); /* d positive: down where x is not */
            }
        }
    }
    if (BL == 1) {
        int nneg = 0;
        for (int k = 0; k < v->nxa; k++) {
            /* constant offsets of the active columns in a row's blocks; step field by sign */
            const int j = v->xa[k], neg = v->xs[k];
            const int c = ((j >> 3) << 6) + (j & 7);
            an_col1 *cl = &v->col1[k];
            cl->j = j;
            cl->coff = c;
            cl->soff[1] = c + 8 * (neg ? AN_STD : AN_STU); /* d negative: down where x is */
            cl->soff[0] = c + 8 * (neg ? AN_STU : AN_STD); /* d positive: down where x is not */
            nneg += neg;
        }
        v->nneg = nneg;
    }
    return 1;
}

void an_batch_apply(an_dev *dv, an_work *wk, int nvec, uint64_t seed, int nthreads,
                    uint64_t *n_up, uint64_t *n_down)
{
    int any = 0;
    for (int v = 0; v < nvec; v++)
        any |= wk->vec[v].BL > 0 || wk->vec[v].snap_col >= 0;
    if (!any)
        return;
#ifdef _OPENMP
    int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
#else
    int nt = 1;
    (void)nthreads;
#endif
    if (nt < 1)
        nt = 1;
    if (work_ensure(wk, dv->x_size, dv->d_size, wk->bl_cap, wk->vec_cap, nt) != 0)
        return; /* out of memory: no update (cannot happen after a successful tile creation) */
#if defined(__AVX2__)
    pthread_once(&expand_once, expand_init);
#endif
    const int linear = dv->p.type != ATL_DEV_EXP_STEP && dv->p.type != ATL_DEV_POW_STEP;
    size_t nbr[AN_MAX_VEC];
    int sv[AN_MAX_VEC], sc[AN_MAX_VEC], ns = 0;
    uint64_t single = 0, gen1 = 0;
    size_t work = 0;
    for (int v = 0; v < nvec; v++) {
        const an_vec *vv = &wk->vec[v];
        nbr[v] = (single_normals(dv, vv, linear) + 7) / 8;
        if (vv->BL == 1 && linear)
            single |= 1ull << v;
        else if (vv->BL > 1 && vv->nw == 1)
            gen1 |= 1ull << v;
        if (vv->snap_col >= 0) {
            sv[ns] = v;
            sc[ns++] = vv->snap_col;
        }
        work += (size_t)vv->nda * (size_t)vv->nxa * (size_t)(vv->BL > 0 ? vv->BL : 0);
    }
    /* rows: the active ones of a lone vector, else all rows with a mask of their active
     * vectors (the snapshots need every row) */
    const int *rows = NULL;
    const uint64_t *rowmask = NULL;
    int nrows = dv->d_size;
    if (nvec == 1 && ns == 0) {
        rows = wk->vec[0].da;
        nrows = wk->vec[0].nda;
    } else {
        memset(wk->rowmask, 0, (size_t)dv->d_size * sizeof(uint64_t));
        for (int v = 0; v < nvec; v++) {
            const an_vec *vv = &wk->vec[v];
            if (vv->BL > 0)
                for (int q = 0; q < vv->nda; q++)
                    wk->rowmask[vv->da[q]] |= 1ull << v;
        }
        rowmask = wk->rowmask;
    }
    for (int k = 0; k < nt; k++)
        wk->rb[k].up = wk->rb[k].down = 0;
    const int ntask = (nrows + AN_CHUNK_ROWS - 1) / AN_CHUNK_ROWS;
    if (nt > 1 && work > 16384 && ntask > 1) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int b = 0; b < ntask; b++) {
            const int r0 = b * AN_CHUNK_ROWS, r1 = r0 + AN_CHUNK_ROWS < nrows ? r0 + AN_CHUNK_ROWS : nrows;
            batch_rows(dv, wk, nvec, seed, rows, r0, r1, rowmask, sv, sc, ns, single, gen1, nbr,
                       &wk->rb[omp_get_thread_num()]);
        }
#endif
    } else {
        batch_rows(dv, wk, nvec, seed, rows, 0, nrows, rowmask, sv, sc, ns, single, gen1, nbr,
                   &wk->rb[0]);
    }
    uint64_t su = 0, sdn = 0;
    for (int k = 0; k < nt; k++) {
        su += wk->rb[k].up;
        sdn += wk->rb[k].down;
    }
    *n_up += su;
    *n_down += sdn;
}

/* MeanCount / DeterministicImplicit (§1.5): counts from the dense sides, rows one by one. */
static void dense_types_update(an_dev *dv, const float *x, const float *d, const int8_t *flip_x,
                               const int8_t *flip_d, float lr, float g,
                               const atl_update_params *up, const an_pulse_rng *r, an_work *wk,
                               uint64_t *n_up, uint64_t *n_down)
{
    const int X = dv->x_size, D = dv->d_size;
    const float x_m = an_absmax(x, X), d_m = an_absmax(d, D);
    float A, B;
    const int BL = an_update_bl(up, lr, g, x_m, d_m, &A, &B);
    if (BL <= 0 || work_ensure(wk, X, D, BL, 1, 1) != 0)
        return;
    const int mc = up->pulse_type == ATL_PULSE_MEAN_COUNT;
    dense_side(x, flip_x, X, B, BL, mc, up->res, up->x_res_implicit, wk->cx);
    dense_side(d, flip_d, D, A, BL, mc, up->res, up->d_res_implicit, wk->cd);
    int nx = 0;
    for (int j = 0; j < X; j++)
        if (wk->cx[j] != 0.0f) {
            wk->cxc[nx] = wk->cx[j];
            wk->xa[nx++] = j;
        }
    an_rowbuf *rb = &wk->rb[0];
    rb->up = rb->down = 0;
    for (int i = 0; i < D; i++) {
        const float cdv = wk->cd[i];
        if (cdv == 0.0f)
            continue;
        size_t ptot = 0, nnz = 0;
        uint64_t dd = 0;
        for (int k = 0; k < nx; k++) {
            const float c = mc ? rintf(cdv / (float)BL * wk->cxc[k])
                               : rintf((float)BL * cdv * wk->cxc[k]);
            unsigned n = (unsigned)fabsf(c);
            n = n > ATL_MAX_BL ? ATL_MAX_BL : n;
            const int j = wk->xa[k];
            rb->cnt[j] = (uint16_t)n;
            rb->dn[j] = (uint8_t)(c > 0.0f);
            ptot += n;
            nnz += n != 0;
            dd += c > 0.0f ? n : 0;
        }
        row_chunks(rb->cnt, X, rb);
        row_apply_counts(dv, i, r->seed, r->s_noise, ptot, nnz, dd, NULL, rb->dn, rb);
    }
    *n_up += rb->up;
    *n_down += rb->down;
}

void an_pulsed_update_flip(an_dev *dv, const float *x, const float *d, const int8_t *flip_x,
                           const int8_t *flip_d, float lr, float g, const atl_update_params *up,
                           const an_pulse_rng *r, an_work *wk, int nthreads, uint64_t *n_up,
                           uint64_t *n_down)
{
    if (!(lr > 0.0f))
        return;
    if (up->pulse_type == ATL_PULSE_NONE || up->pulse_type == ATL_PULSE_NONE_WITH_DEVICE) {
        /* the signed copies are only needed here (rare): x and d with the flips applied */
        const int X = dv->x_size, D = dv->d_size;
        float *xc = wk->cx, *dc = wk->cd;
        for (int j = 0; j < X; j++)
            xc[j] = flip_x && flip_x[j] ? -x[j] : x[j];
        for (int i = 0; i < D; i++)
            dc[i] = flip_d && flip_d[i] ? -d[i] : d[i];
        fp_update(dv, xc, dc, lr, up->pulse_type == ATL_PULSE_NONE_WITH_DEVICE);
        return;
    }
    if (up->pulse_type == ATL_PULSE_MEAN_COUNT ||
        up->pulse_type == ATL_PULSE_DETERMINISTIC_IMPLICIT) {
        dense_types_update(dv, x, d, flip_x, flip_d, lr, g, up, r, wk, n_up, n_down);
        return;
    }
    int ok = an_vec_prepare(wk, 0, dv, x, d, flip_x, flip_d, -1.0f, -1.0f, lr, g, up, r);
    if (ok < 0) {
        /* BL beyond the buffers (fixed_bl off, UBLM off: BL = ceil(lr/g)): grow, retry */
        float A, B;
        const int BL = an_update_bl(up, lr, g, an_absmax(x, dv->x_size), an_absmax(d, dv->d_size),
                                    &A, &B);
        if (work_ensure(wk, dv->x_size, dv->d_size, BL, 1, 1) != 0)
            return;
        ok = an_vec_prepare(wk, 0, dv, x, d, flip_x, flip_d, -1.0f, -1.0f, lr, g, up, r);
    }
    if (ok > 0)
        an_batch_apply(dv, wk, 1, r->seed, nthreads, n_up, n_down);
}

void an_pulsed_update(an_dev *dv, const float *x, const float *d, float lr, float g,
                      const atl_update_params *up, const an_pulse_rng *r, an_work *wk,
                      int nthreads, uint64_t *n_up, uint64_t *n_down)
{
    an_pulsed_update_flip(dv, x, d, NULL, NULL, lr, g, up, r, wk, nthreads, n_up, n_down);
}
