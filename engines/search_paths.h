/* search_paths.h — shared machinery of the search engines (beam, lattice, exact,
 * astar-decoding): a KV cache of search paths spread over sequence ids, and
 * log-probability helpers.
 *
 * Path KV.  A search evaluates many token paths that share prefixes.  The
 * prompt is evaluated once into every sequence id ("slot"); each slot then
 * holds one path (the tokens generated after the prompt).  To get the
 * next-token logits after a set of paths in ONE forward, db_pathkv_eval
 * places every path in a slot: the slot whose held path shares the longest
 * prefix with it (kept in place when no other path of the batch claims it,
 * else its prefix is copied with seq_cp into a free slot, least recently
 * used first), drops the rest of that slot and evaluates only the missing
 * tokens.  A depth-first rollout therefore costs one token per call and a
 * beam step one token per hypothesis.  Copies read from slots before any
 * slot is truncated, so paths of one batch never clobber each other.
 *
 * Scores: a path's score is the sum of its tokens' log-probabilities under
 * the model (natural log, softmax at temperature 1); an end-of-generation
 * token ends a path and its log-probability counts.
 */
#ifndef DECOBENCH_SEARCH_PATHS_H
#define DECOBENCH_SEARCH_PATHS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_pathkv {
    db_model *m;
    db_model_role role;
    db_event_log *events;
    int n_slots, n_prompt, max_len, n_vocab;
    db_token **slot_tok;     /* n_slots × max_len: the path each slot holds */
    int *slot_len;
    uint64_t *slot_used;     /* LRU tick */
    uint64_t tick;
    float *root_logits;      /* logits after the prompt */
    db_batch batch;
    int *scratch;            /* 4 × n_slots */
    int64_t n_calls;         /* forwards made (prefill included) */
    int64_t n_tokens;        /* tokens evaluated (prompt included) */
} db_pathkv;

/* One path to evaluate: tokens after the prompt.  Logits are returned after
 * every token index j >= need_from (need_from in [0, len-1]; usually len-1):
 * the row of index j is row0 + (j - first). */
typedef struct db_path_eval {
    const db_token *tok;
    int len;                 /* >= 1, <= max_len */
    int need_from;
    int row0, first;         /* out */
} db_path_eval;

/* Evaluate the prompt into n_slots sequence ids (one forward).  max_len is
 * the longest path; max_rows the most batch rows one db_pathkv_eval may need.
 * Returns 0 or -1 + err. */
int  db_pathkv_init(db_pathkv *kv, db_model *m, db_model_role role, db_event_log *events,
                    const db_token *prompt, int n_prompt, int n_slots, int max_len, int max_rows,
                    char *err, size_t errlen);
void db_pathkv_free(db_pathkv *kv);
/* One forward for paths p[0..n) (n <= n_slots); then read logits with
 * db_model_logits(kv->m, row).  Returns 0 or -1 + err. */
int  db_pathkv_eval(db_pathkv *kv, db_path_eval *p, int n, int step, char *err, size_t errlen);
/* Logits after path index j of an evaluated path (j = -1: after the prompt). */
const float *db_pathkv_logits(db_pathkv *kv, const db_path_eval *p, int j);

/* log-softmax of logits into out (n values; -inf logits give -INFINITY). */
void db_log_softmax(const float *logits, int n, float *out);
/* Indices of the k largest values of v (descending; ties: lower index first),
 * skipping -INFINITY; returns how many (<= k). */
int  db_top_k(const float *v, int n, int k, int *idx);

/* Length-normalised score: score / len^alpha (len >= 1; alpha 0 = raw). */
double db_length_norm(double score, int len, double alpha);

/* ---- internal APIs shared with tests and `decobench export-lattice` ---- */

/* A finished hypothesis: tokens (EOS included when it ended one) and scores. */
typedef struct db_hyp {
    db_token *tok;
    int len;
    bool eog;                /* ended by an end-of-generation token */
    double score;            /* sum of log-probabilities */
    double norm;             /* the engine's ranking score */
    bool partial;            /* not complete (a budget ran out): no search_score */
} db_hyp;

typedef struct db_hyp_list {
    db_hyp *h;
    int n, cap;
} db_hyp_list;

void db_hyp_list_free(db_hyp_list *l);
/* Append a copy of tok[0..len); returns 0 or -1 (out of memory). */
int  db_hyp_list_add(db_hyp_list *l, const db_token *tok, int len, bool eog, double score, double norm);

/* Write hypothesis h as the engine's output: its tokens without the final
 * end-of-generation token, stop reason "eog" or "length", one COMMIT event
 * per token (search engines commit only when the search ends), and the
 * outcomes "search_score" (sum of log-probabilities, the EOS's included) and
 * "search_norm_score" — for a complete hypothesis only (h->partial false:
 * a partial one's score is not comparable), plus "search_complete" (0/1).
 * Returns 0 or -1 + err. */
int  db_search_emit(const db_gen_request *req, db_gen_output *out, const db_hyp *h, char *err, size_t errlen);

/* Beam search (beam.c): the final n-best list, best first. */
int db_beam_search(const db_gen_request *req, db_hyp_list *nbest, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
