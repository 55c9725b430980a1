/* lexcons.h — lexical (keyword) constraints for the constrained beam
 * searches: the `lexical` engine (Grid Beam Search, Dynamic Beam
 * Allocation; engines/lexical.c) and the `astar` engine (NeuroLogic
 * A*esque; engines/lexical_astar.c).
 *
 * Three layers:
 *
 *   phrases     the prompt's "keywords" turned into token sequences with the
 *               model's tokenizer (lex_parse; the mid-sentence form, see
 *               docs/lexical.md);
 *   tracking    a hypothesis' progress over the phrases (lex_state,
 *               lex_advance): which phrases are met and which one is in
 *               progress, after Post & Vilar (2018)'s ConstraintTracker;
 *   search      one beam search over many KV sequences (lex_search): the
 *               prompt is evaluated once, every live hypothesis owns a
 *               sequence id, one forward per step evaluates every
 *               hypothesis' newest token, children of a hypothesis share
 *               its cache by seq_cp; finished hypotheses, budgets on
 *               forwards and evaluated tokens, and the output.
 *
 * The engines only choose, at each step, which (hypothesis, token) pairs
 * survive.
 */
#ifndef DECOBENCH_LEXCONS_H
#define DECOBENCH_LEXCONS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

#define LEX_MAX_PHRASES 32
#define LEX_MAX_PHRASE_TOKENS 16
#define LEX_NEG_INF (-1e30)

typedef struct lex_phrase {
    db_token tok[LEX_MAX_PHRASE_TOKENS];
    int n;
} lex_phrase;

typedef struct lex_constraints {
    lex_phrase ph[LEX_MAX_PHRASES];
    int n;                 /* phrases (0: unconstrained beam search) */
    int total_tokens;      /* Σ phrase lengths */
    uint32_t all;          /* bit mask of every phrase */
} lex_constraints;

/* Token sequences of constraint_json's "keywords" (NULL, or no "keywords"
 * key: no phrases).  A keyword is tokenized as it appears after a space in
 * running text: tokens("a " + kw) minus tokens("a"), or tokens(" " + kw)
 * when the first is not a strict extension of tokens("a").  Phrases with
 * identical tokens are merged.  Returns 0, or -1 with one line in err. */
int lex_parse(const char *constraint_json, db_model *m, lex_constraints *c, char *err, size_t errlen);

/* The keyword engines' db_engine.check_constraint: lex_parse succeeds on
 * model m (every keyword tokenizes, at most LEX_MAX_PHRASES distinct). */
int lex_check_constraint(const char *constraint_json, db_model *m, char *err, size_t errlen);

/* Progress of one hypothesis. */
typedef struct lex_state {
    uint32_t met;          /* phrases fully produced */
    int8_t cur;            /* phrase in progress (its first prog tokens are the latest tokens), -1 none */
    int8_t prog;
} lex_state;

static inline lex_state lex_state_start(void) { return (lex_state){ 0, -1, 0 }; }
/* The state after appending token t.  A token that continues the phrase in
 * progress advances it; any other token abandons it (its tokens no longer
 * count) and may start a phrase.  A token that starts an unmet phrase
 * starts the first such phrase in keyword order (a one-token phrase is met
 * at once). */
lex_state lex_advance(const lex_constraints *c, lex_state s, db_token t);
/* Constraint tokens produced: Σ lengths of met phrases + progress. */
int  lex_tokens_met(const lex_constraints *c, lex_state s);
int  lex_phrases_met(lex_state s);
static inline bool lex_complete(const lex_constraints *c, lex_state s) { return s.met == c->all; }
/* Tokens that make constraint progress from s: the next token of the phrase
 * in progress, else the first token of every unmet phrase (distinct).
 * out needs LEX_MAX_PHRASES entries; returns their number. */
int  lex_allowed(const lex_constraints *c, lex_state s, db_token *out);

/* Log-softmax of one logits row (entries below -1e29 stay impossible). */
void lex_log_softmax(const float *logits, int n, float *out);
/* The k most likely tokens of a log-prob row, most likely first (ties: lower
 * id), skipping `skip` (DB_TOKEN_NULL: none) and impossible tokens; returns
 * how many (≤ k). */
int  lex_topk(const float *lp, int n, int k, db_token skip, db_token *out);

/* ---- candidates --------------------------------------------------------- */
typedef struct lex_cand {
    int parent;            /* index of the hypothesis it extends */
    db_token tok;
    double score;          /* parent's score + log p(tok) */
    lex_state st;          /* state after tok */
    double rank;           /* engine-specific ordering key */
    double h;              /* A*esque heuristic (LEX_NEG_INF: none) */
} lex_cand;

/* Sort by score (descending), then parent, then token: the deterministic
 * order every selection starts from. */
void lex_cands_sort_score(lex_cand *c, int n);
/* Sort by (parent, tok) and drop duplicates; returns the new count. */
int  lex_cands_unique(lex_cand *c, int n);

/* ---- search ------------------------------------------------------------- */
typedef struct lex_search_opts {
    int max_hyps;          /* live hypotheses (sequence ids 0..max_hyps-1) */
    int extra_seqs;        /* further sequence ids for the engine (lookahead), after them */
    int max_forwards;      /* budget of model forwards, 0 = none */
    int64_t max_eval_tokens; /* budget of evaluated tokens (batch rows), 0 = none */
    double len_norm;       /* final ranking by score / length^len_norm */
} lex_search_opts;

typedef struct lex_hyp {
    int slot;              /* KV sequence id */
    lex_state st;
    double score;
} lex_hyp;

typedef struct lex_search {
    const db_gen_request *req;
    db_model *m;
    lex_constraints con;
    lex_search_opts o;
    int V, L, n_prompt;
    db_token eos;
    int t;                 /* tokens in every live hypothesis */
    int step;              /* event step */
    lex_hyp *hyp, *next;
    int n_hyp;
    db_token *tok, *tok_next; /* max_hyps × L */
    float *lp;             /* max_hyps × V: next-token log-probs of each live hypothesis */
    int *slot_used;
    db_batch batch;
    int forwards;
    int64_t eval_tokens;
    /* best finished hypotheses: all constraints met; and the best by coverage */
    db_token *best_tok, *fb_tok;
    int best_len, fb_len;
    double best_key, best_score, fb_score;
    int fb_cov;
    lex_state best_st, fb_st;
    bool have_best, have_fb, best_eos;
    bool out_of_budget;
} lex_search;

/* Parse the constraints, evaluate the prompt (one forward) and start with
 * one hypothesis.  Returns 0, 1 when the budget does not allow the prompt,
 * or -1 with err set (the search is then already ended). */
int  lex_search_begin(lex_search *s, const db_gen_request *req, const lex_search_opts *o, char *err, size_t errlen);
/* log-prob row of live hypothesis i */
static inline const float *lex_row(const lex_search *s, int i) { return s->lp + (size_t)i * (size_t)s->V; }
static inline const db_token *lex_hyp_tokens(const lex_search *s, int i) { return s->tok + (size_t)i * (size_t)s->L; }
/* Record hypothesis i followed by EOS (score includes the EOS log-prob) as
 * finished; only hypotheses that meet every constraint may end. */
void lex_search_finish_eos(lex_search *s, int i);
/* Would a forward of n_rows more rows fit the budgets, keeping
 * reserve_calls further forwards of reserve_rows rows possible? */
bool lex_budget_fits(const lex_search *s, int n_rows, int reserve_calls, int reserve_rows);
/* Timed forward that also counts the budgets (the caller checked them). */
int  lex_forward(lex_search *s, const db_batch *b, char *err, size_t errlen);
/* Replace the beam by cands[0..n) (each extends its parent by one token):
 * fork and drop KV sequences, evaluate the new tokens in one forward.
 * Returns 0 when the search goes on, 1 when it is over (length reached, no
 * hypothesis left, nothing can beat the best finished one, out of budget,
 * cancelled), -1 on error. */
int  lex_search_advance(lex_search *s, const lex_cand *cands, int n, char *err, size_t errlen);
/* Write the best hypothesis to out (tokens, commit events, stop reason,
 * stats constraints_total / constraints_met / constraint_success /
 * search_score) and free everything. */
int  lex_search_end(lex_search *s, db_gen_output *out, char *err, size_t errlen);
/* Free without output (after an error). */
void lex_search_free(lex_search *s);

/* ---- NeuroLogic selection (engines/lexical_astar.c) --------------------------
 * Pure functions of one step, shared by the astar engine and its test
 * reference (which recomputes every model quantity in closed form).     */

/* Candidates of n_hyp hypotheses (states st, scores score, log-prob rows
 * lp, n_hyp × V): the global top-k continuations, and from each row its
 * top-k tokens and its constraint tokens whose rank in the row (1 + tokens
 * more likely) is below prune_factor; EOS excluded, duplicates merged.
 * out needs n_hyp·(k + LEX_MAX_PHRASES) entries.  Returns the count. */
int lex_nl_gather(const lex_constraints *c, int n_hyp, const lex_state *st, const double *score,
                  const float *lp, int V, db_token eos, int k, int prune_factor, lex_cand *out);
/* Order cands: first those that meet every constraint (best score first, at
 * most k of them: *n_complete), then the others whose phrase count is within
 * sat_tolerance of the best one's (the rest dropped).  Returns the count. */
int lex_nl_split(const lex_constraints *c, lex_cand *cands, int n, int k, int sat_tolerance, int *n_complete);
/* The lookahead's evidence at lookahead step j (0 = the distribution right
 * after the candidate token) for a candidate in state st: the largest
 * log-prob of a token that makes progress on an unmet phrase (the phrase
 * in progress counts at j = 0 only); LEX_NEG_INF when none. */
double lex_lookahead_score(const lex_constraints *c, lex_state st, int j, const float *lp);
/* Fill the beam: complete candidates first, then the others ranked by
 * score/(t+1) + alpha·h (h where finite), grouped by the set of phrases
 * met and taken round-robin over the groups (best of each group first).
 * Leaves the chosen ones in cands[0..m), sorted by score; returns m ≤ k. */
int lex_nl_select(lex_cand *cands, int n, int n_complete, double alpha, int t, int k);

#endif
