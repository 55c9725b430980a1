/* sample.c — greedy / temperature / top-k / top-p selection (see sample.h). */
#include "sample.h"

#include <math.h>
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

/* The lowest id with the largest logit.  Two passes: a max over 8 lanes the
 * compiler vectorises, then the first index holding it.  The one-pass loop
 * (`if (l[i] > l[best]) best = i`) is a serial dependency chain: ~14 µs on
 * a 4,096-token vocabulary here against ~0.4 µs, which was most of the
 * per-token time greedy decoding spent outside model forwards. */
db_token db_argmax(const float *logits, int n_vocab) {
    if (n_vocab <= 0) return 0;
    float lane[8];
    for (int j = 0; j < 8; j++) lane[j] = logits[0];
    int i = 0;
    for (; i + 8 <= n_vocab; i += 8)
        for (int j = 0; j < 8; j++) lane[j] = logits[i + j] > lane[j] ? logits[i + j] : lane[j];
    float mx = lane[0];
    for (int j = 1; j < 8; j++) mx = lane[j] > mx ? lane[j] : mx;
    for (; i < n_vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
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

void db_sampling_probs(const db_sampling *s, const float *logits, db_sampler_buf *b) {
    const int n = b->n_vocab;
    float *p = b->prob;
    if (s->greedy || s->temperature <= 0.0f) {
        memset(p, 0, sizeof(float) * (size_t)n);
        p[db_argmax(logits, n)] = 1.0f;
        return;
    }
    /* single-precision exponentials (the bulk of the per-token cost on
     * large vocabularies), double-precision sum */
    const float inv_t = 1.0f / s->temperature;
    float mx = logits[0];
    for (int i = 1; i < n; i++) if (logits[i] > mx) mx = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        float e = expf((logits[i] - mx) * inv_t);
        p[i] = e;
        sum += e;
    }
    const float inv_sum = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) p[i] *= inv_sum;

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
