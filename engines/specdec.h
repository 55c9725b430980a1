/* specdec.h — shared machinery of the speculative engines (spec, spec-tree's
 * chain fallback, pld, lookahead, self-spec): the committed token sequence,
 * bookkeeping of what each model's KV cache holds, and lossless verification
 * of a linear draft in ONE target forward.
 *
 * Verification follows Leviathan et al. 2023 / Chen et al. 2023.  With
 * greedy sampling a draft token is accepted when it equals the target's
 * argmax; otherwise draft token d_i is accepted with probability
 * min(1, p_i(d_i) / q_i(d_i)) and on rejection the token is drawn from
 * normalize(max(0, p_i − q_i)); when all k are accepted a bonus token is
 * drawn from p_{k+1}.  p and q are the *sampling* distributions (after
 * temperature, top-k, top-p), so the output is distributed exactly as the
 * autoregressive sampler's.  A deterministic drafter (prompt lookup,
 * lookahead) passes q = NULL, meaning q_i is one-hot on d_i.
 */
#ifndef DECOBENCH_SPECDEC_H
#define DECOBENCH_SPECDEC_H

#include "engine.h"
#include "sampling_params.h"
#include "harness/model/sample.h"

typedef struct db_spec {
    const db_gen_request *req;
    db_gen_output *out;
    int n_vocab;
    db_sampling sampling;
    db_token *seq;        /* prompt + committed output */
    int n_seq, cap_seq;
    int target_past;      /* positions [0, target_past) are in the target's KV (seq 0) */
    db_sampler_buf buf;   /* scratch for p */
    float *p_rows;        /* (k_max+1) × n_vocab target sampling distributions */
    float *resid;         /* n_vocab scratch */
    int k_max;
    db_batch batch;       /* target batch */
    db_rng rng;           /* target-side draws (acceptance, residual, bonus) */
    int step;
    bool done;            /* length reached, EOG or cancel */
} db_spec;

/* Set up and run the target prefill (one forward over the prompt, commit the
 * first token).  k_max bounds drafts.  Returns 0 or -1 + err. */
int  db_spec_begin(db_spec *s, const db_gen_request *req, db_gen_output *out, int k_max,
                   char *err, size_t errlen);
/* The same, with all_rows: the prefill asks a logits row for every prompt
 * position (db_model_logits(target, i) for i < n_prompt stays valid until
 * the next forward), for drafters that learn from them (token-recycling). */
int  db_spec_begin_rows(db_spec *s, const db_gen_request *req, db_gen_output *out, int k_max,
                        bool all_rows, char *err, size_t errlen);
void db_spec_end(db_spec *s);

/* Tokens committed after the prompt so far, and how many more are allowed. */
int  db_spec_remaining(const db_spec *s);
db_token db_spec_last(const db_spec *s);

/* Verify draft[0..k) (k may be 0: a plain autoregressive step) in one target
 * forward; q_rows: k × n_vocab draft sampling distributions, or NULL for a
 * deterministic drafter.  Commits the accepted tokens plus the correction or
 * bonus token, rolls the target's KV back past the rejected ones, emits
 * VERIFY and COMMIT.  *n_accepted gets the number of draft tokens accepted.
 * Returns 0, 1 when generation is over (length/EOG/cancel), -1 + err. */
int  db_spec_verify(db_spec *s, const db_token *draft, int k, const float *q_rows,
                    int *n_accepted, char *err, size_t errlen);

/* Multi-branch verification of one tree node's children that keeps the
 * target's law (sequential elimination, SpecInfer's rule for a drafter whose
 * tree is a deterministic function of what it has seen: spec-tree,
 * token-recycling): prob is the target's sampling distribution over V
 * tokens at the node, cand[0..n) the children's tokens in the order they
 * are tried.  Each is accepted with probability (its residual mass) / (the
 * mass left), else its mass is removed from the residual.  Returns the index
 * of the accepted child, or -1 with *extra drawn from the residual
 * renormalised (from prob itself when no mass is left).  resid: scratch of V
 * floats; draws come from rng. */
int  db_spec_eliminate(const float *prob, int V, const db_token *cand, int n, db_rng *rng, float *resid,
                       db_token *extra);

/* After a tree verification on one target whose tree nodes were decoded in
 * pre-order after `base` committed cells, one sequence id per leaf (0..n_seq-1):
 * keep the first `kept` accepted cells (they directly follow the committed
 * ones, so the cache stays in single-sequence order — see spec_tree.c) in
 * every sequence, copied from winner_seq (a sequence holding them; ignored
 * when kept is 0), and remove the rest of the step (nothing to remove when
 * had_nodes is false).  Returns 0, -1 with err. */
int  db_tree_keep_chain(db_model *m, int n_seq, int base, int kept, int winner_seq, bool had_nodes, char *err,
                        size_t errlen);

/* Commit a verified step: the a accepted draft tokens and the correction or
 * bonus token `extra`; emits VERIFY (when drafted > 0) and COMMIT.  The
 * caller has already trimmed the target's KV (seq 0) to n_seq + a positions.
 * Returns 0, 1 when generation is over, -1 + err. */
int  db_spec_accept(db_spec *s, const db_token *accepted, int a, db_token extra, int drafted,
                    char *err, size_t errlen);

/* What a helper model (the draft) holds in its KV cache, token by position,
 * so it can be rolled back to the longest prefix that agrees with the
 * committed sequence.  The mirrored cells belong to sequences 0..n_shared-1
 * at once (a tree drafter's branches extend them without copying them). */
typedef struct db_kv_mirror {
    db_model *m;
    db_token *tok;
    int n, cap;
    int n_shared;
    int32_t *shared;        /* 0 .. n_shared-1 */
    db_batch batch;
    db_model_role role;
} db_kv_mirror;

int  db_kv_mirror_init(db_kv_mirror *k, db_model *m, int capacity, int n_shared, db_model_role role);
void db_kv_mirror_free(db_kv_mirror *k);
/* Drop KV positions that disagree with the committed sequence, then evaluate
 * the committed tokens the model has not seen, with logits for the last one.
 * Returns 0 and the logits row in *logits, or -1 + err. */
int  db_kv_sync(db_spec *s, db_kv_mirror *k, const float **logits, char *err, size_t errlen);
/* Evaluate one more (draft) token at the next position; logits in *logits. */
int  db_kv_push(db_spec *s, db_kv_mirror *k, db_token t, const float **logits, char *err, size_t errlen);

#endif
