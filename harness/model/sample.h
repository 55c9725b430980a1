/* sample.h — token selection from a logits row: greedy, temperature,
 * top-k, top-p, and exact probability vectors for verification.
 *
 * Every engine samples through these functions so that "sampling with
 * temperature 0.8, top-k 40" means the same distribution everywhere, and so
 * that speculative verifiers can get the exact distribution p that a plain
 * autoregressive sampler would draw from.
 */
#ifndef DECOBENCH_SAMPLE_H
#define DECOBENCH_SAMPLE_H

#include <stdbool.h>
#include "model.h"
#include "harness/util/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_sampling {
    bool greedy;        /* argmax (ties: lowest token id) */
    float temperature;  /* > 0 when !greedy */
    int top_k;          /* <= 0: no limit */
    float top_p;        /* >= 1: no limit */
} db_sampling;

/* Scratch space reused across calls (avoids allocation per token). */
typedef struct db_sampler_buf {
    int n_vocab;
    float *prob;        /* n_vocab: the final distribution */
    int *idx;           /* n_vocab: sort scratch */
} db_sampler_buf;

int  db_sampler_buf_init(db_sampler_buf *b, int n_vocab);
void db_sampler_buf_free(db_sampler_buf *b);

/* The largest of x[0..n) (vectorised); -INFINITY when n <= 0. */
float db_max_value(const float *x, int n);

/* Argmax, ties broken toward the lowest id (as llama.cpp's greedy sampler). */
db_token db_argmax(const float *logits, int n_vocab);

/* Softmax of x[0..n) at inverse temperature inv_t into p (vectorised; a
 * masked -inf logit gives exactly 0).  Returns max(x). */
float db_softmax(const float *x, int n, float inv_t, float *p);
/* sum of exp(x[i] - mx) over x[0..n) (the softmax denominator given the
 * maximum mx), without writing the probabilities. */
double db_softmax_denominator(const float *x, int n, float mx);
/* The same without the AVX2 path (what CPUs without AVX2 + FMA run; tests). */
float db_softmax_portable(const float *x, int n, float inv_t, float *p);

/* The distribution the sampler draws from, written to b->prob (sums to 1;
 * zeros outside top-k/top-p).  Greedy gives a one-hot vector. */
void db_sampling_probs(const db_sampling *s, const float *logits, db_sampler_buf *b);

/* Draw one token from b->prob with uniform u in [0,1) (inverse CDF in id order). */
db_token db_draw(const float *prob, int n_vocab, double u);

/* Convenience: probs + draw (or argmax when greedy; no random draw consumed).
 * With top-k it ranks and exponentiates only the k best logits (same
 * distribution, no full softmax); b->prob is scratch afterwards. */
db_token db_sample_token(const db_sampling *s, const float *logits, db_sampler_buf *b, db_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
