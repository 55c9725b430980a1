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

db_token db_argmax(const float *logits, int n_vocab) {
    int best = 0;
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

static const float *g_sort_keys; /* qsort has no context argument in C11 */

static int cmp_desc(const void *a, const void *b) {
    int ia = *(const int *)a, ib = *(const int *)b;
    float fa = g_sort_keys[ia], fb = g_sort_keys[ib];
    if (fa > fb) return -1;
    if (fa < fb) return 1;
    return (ia > ib) - (ia < ib);
}

void db_sampling_probs(const db_sampling *s, const float *logits, db_sampler_buf *b) {
    const int n = b->n_vocab;
    float *p = b->prob;
    if (s->greedy || s->temperature <= 0.0f) {
        memset(p, 0, sizeof(float) * (size_t)n);
        p[db_argmax(logits, n)] = 1.0f;
        return;
    }
    const double inv_t = 1.0 / s->temperature;
    float mx = logits[0];
    for (int i = 1; i < n; i++) if (logits[i] > mx) mx = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        double e = exp(((double)logits[i] - mx) * inv_t);
        p[i] = (float)e;
        sum += e;
    }
    for (int i = 0; i < n; i++) p[i] = (float)(p[i] / sum);

    const bool use_k = s->top_k > 0 && s->top_k < n;
    const bool use_p = s->top_p > 0.0f && s->top_p < 1.0f;
    if (!use_k && !use_p) return;

    /* order ids by probability (ties: lower id first), keep the head */
    for (int i = 0; i < n; i++) b->idx[i] = i;
    g_sort_keys = p;
    qsort(b->idx, (size_t)n, sizeof(int), cmp_desc);
    int keep = use_k ? s->top_k : n;
    if (use_p) {
        /* smallest prefix whose mass, renormalised after top-k (as llama.cpp's
         * sampler chain does), reaches top_p; at least one token */
        double head = 0.0;
        for (int r = 0; r < keep; r++) head += p[b->idx[r]];
        double cum = 0.0;
        int kp = 0;
        while (kp < keep) {
            cum += p[b->idx[kp]] / head;
            kp++;
            if (cum >= s->top_p) break;
        }
        keep = kp;
    }
    double kept = 0.0;
    for (int r = 0; r < keep; r++) kept += p[b->idx[r]];
    for (int r = keep; r < n; r++) p[b->idx[r]] = 0.0f;
    for (int r = 0; r < keep; r++) p[b->idx[r]] = (float)(p[b->idx[r]] / kept);
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

db_token db_sample_token(const db_sampling *s, const float *logits, db_sampler_buf *b, db_rng *rng) {
    if (s->greedy || s->temperature <= 0.0f) return db_argmax(logits, b->n_vocab);
    db_sampling_probs(s, logits, b);
    return db_draw(b->prob, b->n_vocab, db_rng_uniform(rng));
}
