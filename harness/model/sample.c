/* sample.c — greedy / temperature / top-k / top-p selection (see sample.h). */
#include "sample.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int db_sampler_buf_init(db_sampler_buf *b, int n_vocab) {
    b->n_vocab = n_vocab;
    b->prob = malloc(sizeof(float) * (size_t)n_vocab);
    b->idx = malloc(sizeof(int) * (size_t)n_vocab);
    if (!b->prob || !b->idx) {
        db_sampler_buf_free(b);
        return -1;
    }
    return 0;
}

void db_sampler_buf_free(db_sampler_buf *b) {
    free(b->prob);
    free(b->idx);
    b->prob = NULL;
    b->idx = NULL;
}

/* The largest of x[0..n), -INFINITY when n <= 0: a maximum over 8 lanes the
 * compiler vectorises (a one-pass `if (x[i] > m) m = x[i]` is a serial
 * dependency chain). */
float db_max_value(const float *x, int n) {
    float lane[8];
    for (int j = 0; j < 8; j++) lane[j] = -INFINITY;
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
    float mx = -INFINITY;
    for (int j = 0; j < 8; j++) mx = lane[j] > mx ? lane[j] : mx;
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    return mx;
}

/* The lowest id with the largest logit.  Two passes: the lane-wise maximum,
 * then the first index holding it.  The one-pass loop (`if (l[i] > l[best])
 * best = i`) is a serial dependency chain: ~14 µs on a 4,096-token
 * vocabulary here against ~0.4 µs, which was most of the per-token time
 * greedy decoding spent outside model forwards. */
db_token db_argmax(const float *logits, int n_vocab) {
    if (n_vocab <= 0) return 0;
    const float mx = db_max_value(logits, n_vocab);
    for (int k = 0; k < n_vocab; k++)
        if (logits[k] == mx) return k;
    return 0;   /* only when every logit is NaN */
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Is token a ranked before token b (higher probability, then lower id)? */
static inline int ranks_before(const float *p, int a, int b) {
    return p[a] > p[b] || (p[a] == p[b] && a < b);
}

static void sift_down(const float *p, int *h, int n, int i) {
    /* min-heap on rank: the root is the worst of the kept tokens */
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && ranks_before(p, h[w], h[l])) w = l;
        if (r < n && ranks_before(p, h[w], h[r])) w = r;
        if (w == i) return;
        int t = h[i]; h[i] = h[w]; h[w] = t;
        i = w;
    }
}

/* The m best tokens by probability into idx[0..m), best first: O(n log m)
 * instead of sorting the whole vocabulary. */
static void select_top(const float *p, int n, int m, int *idx) {
    for (int i = 0; i < m; i++) idx[i] = i;
    for (int i = m / 2 - 1; i >= 0; i--) sift_down(p, idx, m, i);
    for (int i = m; i < n; i++) {
        if (ranks_before(p, i, idx[0])) {
            idx[0] = i;
            sift_down(p, idx, m, 0);
        }
    }
    /* heap sort: repeatedly move the worst to the end */
    for (int end = m - 1; end > 0; end--) {
        int t = idx[0]; idx[0] = idx[end]; idx[end] = t;
        sift_down(p, idx, end, 0);
    }
}

/* ---- softmax ----
 * The full-vocabulary softmax is the per-token cost of every stochastic
 * verifier and of spec-tree's p_split rule (4,096 exponentials per draft
 * row on the bundled vocabulary).  libm's expf is scalar and the obvious
 * loop also serialises on its double-precision sum, so this is written with
 * GCC / Clang vector extensions (4-lane SSE2 / NEON vectors, two per
 * iteration; an AVX2 + FMA variant where the CPU has it) and the exp of the
 * Cephes library's expf (S. Moshier; its range reduction and polynomial
 * coefficients): round-to-nearest x = n ln2 + r, a degree-6 polynomial on
 * |r| <= ln2/2, 2^n by exponent bits (relative error ~2e-7, tested against
 * double precision).  Inputs below -87.3 (exp underflows) give exactly 0,
 * so masked (-inf) logits stay 0.  A library was considered: glibc's
 * libmvec needs -ffast-math (which drops the -inf handling above) and
 * ggml's vectorised softmax is not public API. */
#if defined(__GNUC__) || defined(__clang__)
#define DB_HAVE_VEC 1
typedef float db_v4f __attribute__((vector_size(16)));
typedef int32_t db_v4i __attribute__((vector_size(16)));

static inline db_v4f v4_load(const float *p) { db_v4f v; memcpy(&v, p, sizeof v); return v; }
static inline void v4_store(float *p, db_v4f v) { memcpy(p, &v, sizeof v); }
static inline db_v4f v4_splat(float x) { return (db_v4f){ x, x, x, x }; }
static inline db_v4f v4_select(db_v4i m, db_v4f a, db_v4f b) {  /* m ? a : b, m all-ones or 0 */
    return (db_v4f)(((db_v4i)a & m) | ((db_v4i)b & ~m));
}
static inline db_v4f v4_max(db_v4f a, db_v4f b) { return v4_select(a > b, a, b); }

/* exp(x) lane-wise; 0 below -87.3 (and for -inf), x clamped at 88 (2^127) */
static inline db_v4f v4_exp(db_v4f x) {
    const db_v4i live = x >= v4_splat(-87.33654f);
    x = v4_max(x, v4_splat(-87.33654f));
    x = v4_select(x > v4_splat(88.0f), v4_splat(88.0f), x);
    const db_v4f magic = v4_splat(12582912.0f);                 /* 1.5 * 2^23: rounds to an integer */
    const db_v4f t = x * v4_splat(1.44269504088896341f) + magic;
    const db_v4f n = t - magic;
    const db_v4f r = x - n * v4_splat(0.693359375f) + n * v4_splat(2.12194440e-4f);
    db_v4f y = v4_splat(1.9875691500e-4f);
    y = y * r + v4_splat(1.3981999507e-3f);
    y = y * r + v4_splat(8.3334519073e-3f);
    y = y * r + v4_splat(4.1665795894e-2f);
    y = y * r + v4_splat(1.6666665459e-1f);
    y = y * r + v4_splat(5.0000001201e-1f);
    y = y * (r * r) + r + v4_splat(1.0f);
    /* 2^n: n sits in t's low mantissa bits */
    const db_v4i pow2 = ((db_v4i)t - (db_v4i)magic + 127) << 23;
    return (db_v4f)((db_v4i)(y * (db_v4f)pow2) & live);
}
#endif

#if DB_HAVE_VEC && defined(__x86_64__)
#include <immintrin.h>
#define DB_HAVE_AVX2_PATH 1
/* The same exp with AVX2 + FMA (8 lanes, fused range reduction and
 * polynomial), chosen at run time on CPUs that have them.  Writes
 * p[0..n8) (unless p is NULL), n8 a multiple of 8, returns their sum. */
__attribute__((target("avx2,fma"))) static double exp_sum_avx2(const float *x, int n8, float mx, float inv_t, float *p) {
    const __m256 lo = _mm256_set1_ps(-87.33654f), hi = _mm256_set1_ps(88.0f);
    const __m256 magic = _mm256_set1_ps(12582912.0f), log2e = _mm256_set1_ps(1.44269504088896341f);
    const __m256 c1 = _mm256_set1_ps(0.693359375f), c2 = _mm256_set1_ps(2.12194440e-4f);
    const __m256 shift = _mm256_set1_ps(mx), scale = _mm256_set1_ps(inv_t), one = _mm256_set1_ps(1.0f);
    double sum = 0.0;
    int i = 0;
    while (i < n8) {
        __m256 acc = _mm256_setzero_ps();
        for (int blk = 0; blk < 16 && i < n8; blk++, i += 8) {
            __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), shift), scale);
            const __m256 live = _mm256_cmp_ps(v, lo, _CMP_GE_OQ);
            v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
            const __m256 t = _mm256_fmadd_ps(v, log2e, magic);
            const __m256 nn = _mm256_sub_ps(t, magic);
            const __m256 r = _mm256_fmadd_ps(nn, c2, _mm256_fnmadd_ps(nn, c1, v));
            __m256 y = _mm256_set1_ps(1.9875691500e-4f);
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
            y = _mm256_add_ps(_mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r), one);
            const __m256i e = _mm256_slli_epi32(
                _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(magic)), _mm256_set1_epi32(127)), 23);
            const __m256 out = _mm256_and_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(e)), live);
            if (p) _mm256_storeu_ps(p + i, out);
            acc = _mm256_add_ps(acc, out);
        }
        float l[8];
        _mm256_storeu_ps(l, acc);
        sum += (double)l[0] + l[1] + l[2] + l[3] + l[4] + l[5] + l[6] + l[7];
    }
    return sum;
}

/* (libgcc / compiler-rt fill the CPU model before main; two loads here) */
static int cpu_has_avx2_fma(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

/* p[i] = exp((x[i] - max) * inv_t) / sum; returns the maximum */
/* sum of exp((x[i] - mx) * inv_t), each term also written to p unless NULL */
static double exp_sum(const float *x, int n, float mx, float inv_t, float *p, bool allow_avx2) {
    double sum = 0.0;
    int i = 0;
#ifdef DB_HAVE_AVX2_PATH
    if (allow_avx2 && cpu_has_avx2_fma()) {
        sum = exp_sum_avx2(x, n & ~7, mx, inv_t, p);
        i = n & ~7;
    }
#else
    (void)allow_avx2;
#endif
#ifdef DB_HAVE_VEC
    const db_v4f vshift = v4_splat(mx), vscale = v4_splat(inv_t);
    while (i + 8 <= n) {
        /* lanes sum at most 16 terms in float, then join the double sum */
        db_v4f a0 = v4_splat(0.0f), a1 = a0;
        for (int blk = 0; blk < 16 && i + 8 <= n; blk++, i += 8) {
            db_v4f e0 = v4_exp((v4_load(x + i) - vshift) * vscale);
            db_v4f e1 = v4_exp((v4_load(x + i + 4) - vshift) * vscale);
            if (p) {
                v4_store(p + i, e0);
                v4_store(p + i + 4, e1);
            }
            a0 += e0;
            a1 += e1;
        }
        a0 += a1;
        sum += (double)a0[0] + a0[1] + a0[2] + a0[3];
    }
    for (; i < n; i += 4) {            /* the tail, padded with lanes that give 0 */
        float pad[4];
        for (int j = 0; j < 4; j++) pad[j] = i + j < n ? (x[i + j] - mx) * inv_t : -INFINITY;
        db_v4f e = v4_exp(v4_load(pad));
        for (int j = 0; j < 4 && i + j < n; j++) {
            if (p) p[i + j] = e[j];
            sum += e[j];
        }
    }
#else
    for (; i < n; i++) {
        float e = expf((x[i] - mx) * inv_t);
        if (p) p[i] = e;
        sum += e;
    }
#endif
    return sum;
}

static float softmax_impl(const float *x, int n, float inv_t, float *p, bool allow_avx2) {
    if (n <= 0) return 0.0f;
    const float mx = db_max_value(x, n);
    const float inv_sum = (float)(1.0 / exp_sum(x, n, mx, inv_t, p, allow_avx2));
    int i = 0;
#ifdef DB_HAVE_VEC
    const db_v4f vinv = v4_splat(inv_sum);
    for (; i + 4 <= n; i += 4) v4_store(p + i, v4_load(p + i) * vinv);
#endif
    for (; i < n; i++) p[i] *= inv_sum;
    return mx;
}

float db_softmax(const float *x, int n, float inv_t, float *p) { return softmax_impl(x, n, inv_t, p, true); }
float db_softmax_portable(const float *x, int n, float inv_t, float *p) { return softmax_impl(x, n, inv_t, p, false); }

double db_softmax_denominator(const float *x, int n, float mx) {
    return n > 0 ? exp_sum(x, n, mx, 1.0f, NULL, true) : 0.0;
}

void db_sampling_probs(const db_sampling *s, const float *logits, db_sampler_buf *b) {
    const int n = b->n_vocab;
    float *p = b->prob;
    if (s->greedy || s->temperature <= 0.0f) {
        memset(p, 0, sizeof(float) * (size_t)n);
        p[db_argmax(logits, n)] = 1.0f;
        return;
    }
    db_softmax(logits, n, 1.0f / s->temperature, p);

    const bool use_k = s->top_k > 0 && s->top_k < n;
    const bool use_p = s->top_p > 0.0f && s->top_p < 1.0f;
    if (!use_k && !use_p) return;

    /* rank the head of the distribution: top-k exactly, or for top-p alone a
     * growing head until it holds the nucleus */
    int keep = use_k ? s->top_k : n;
    int m = use_k ? keep : (n < 64 ? n : 64);
    for (;;) {
        select_top(p, n, m, b->idx);
        if (!use_p || use_k || m == n) break;
        double mass = 0.0;
        for (int r = 0; r < m; r++) mass += p[b->idx[r]];
        if (mass >= s->top_p) break;
        m = m * 4 < n ? m * 4 : n;
    }
    if (use_p) {
        /* smallest prefix whose mass, renormalised after top-k (as llama.cpp's
         * sampler chain does), reaches top_p; at least one token */
        double head = 0.0;
        if (use_k) for (int r = 0; r < keep; r++) head += p[b->idx[r]];
        else head = 1.0;
        double cum = 0.0;
        int kp = 0;
        while (kp < m) {
            cum += p[b->idx[kp]] / head;
            kp++;
            if (cum >= s->top_p) break;
        }
        keep = kp;
    }
    /* zero everything outside the kept head, renormalise the head */
    double kept = 0.0;
    for (int r = 0; r < keep; r++) kept += p[b->idx[r]];
    qsort(b->idx, (size_t)keep, sizeof(int), cmp_int);
    for (int i = 0, r = 0; i < n; i++) {
        if (r < keep && b->idx[r] == i) {
            p[i] = (float)(p[i] / kept);
            r++;
        } else {
            p[i] = 0.0f;
        }
    }
}

db_token db_draw(const float *prob, int n_vocab, double u) {
    double cum = 0.0;
    int last = -1;
    for (int i = 0; i < n_vocab; i++) {
        if (prob[i] <= 0.0f) continue;
        cum += prob[i];
        last = i;
        if (u < cum) return i;
    }
    return last >= 0 ? last : 0; /* rounding: u above the float sum */
}

/* Top-k sampling without the full-vocabulary softmax: rank the k best
 * logits (the same order as probabilities), exponentiate only those, apply
 * top-p inside them and draw in token-id order, as db_sampling_probs +
 * db_draw do (the distribution is the same: both renormalise over the kept
 * tokens; only float rounding differs). */
static db_token sample_top_k(const db_sampling *s, const float *logits, db_sampler_buf *b, double u) {
    const int k = s->top_k;
    int *idx = b->idx;
    float *e = b->prob;                 /* e[r]: weight of the r-th best token */
    select_top(logits, b->n_vocab, k, idx);
    const float inv_t = 1.0f / s->temperature, mx = logits[idx[0]];
    double sum = 0.0;
    for (int r = 0; r < k; r++) {
        e[r] = expf((logits[idx[r]] - mx) * inv_t);
        sum += e[r];
    }
    int keep = k;
    if (s->top_p > 0.0f && s->top_p < 1.0f) {
        double cum = 0.0;
        int kp = 0;
        while (kp < k) {
            cum += e[kp] / sum;
            kp++;
            if (cum >= s->top_p) break;
        }
        keep = kp;
    }
    double kept = 0.0;
    for (int r = 0; r < keep; r++) kept += e[r];
    /* draw in token-id order over the kept tokens (insertion sort: keep is small) */
    for (int i = 1; i < keep; i++) {
        int t = idx[i];
        float w = e[i];
        int j = i - 1;
        while (j >= 0 && idx[j] > t) { idx[j + 1] = idx[j]; e[j + 1] = e[j]; j--; }
        idx[j + 1] = t;
        e[j + 1] = w;
    }
    double cum = 0.0;
    for (int r = 0; r < keep; r++) {
        cum += (float)(e[r] / kept);
        if (u < cum) return idx[r];
    }
    return idx[keep - 1];
}

db_token db_sample_token(const db_sampling *s, const float *logits, db_sampler_buf *b, db_rng *rng) {
    if (s->greedy || s->temperature <= 0.0f) return db_argmax(logits, b->n_vocab);
    if (s->top_k > 0 && s->top_k < b->n_vocab) return sample_top_k(s, logits, b, db_rng_uniform(rng));
    db_sampling_probs(s, logits, b);
    return db_draw(b->prob, b->n_vocab, db_rng_uniform(rng));
}
