/* diffusion.c — masked-diffusion decoding (LLaDA, Dream, Fast-dLLM) with
 * optional regex constraints (DINGO).
 *
 * The response starts as gen_length mask tokens after the prompt.  Each step
 * runs one forward over the whole sequence with bidirectional attention
 * (the KV cache is emptied first: no cache, as in the references) and
 * commits some masked positions of the current block:
 *
 *   schedule=llada     LLaDA's generate(): blocks of block_length, steps split
 *                      evenly over the blocks, get_num_transfer_tokens() (the
 *                      block's masks / steps, remainder to the first steps);
 *   schedule=dream     Dream's _sample(): timesteps linspace(1, eps, steps+1),
 *                      int(M · (1 − s/t)) tokens per step (M = masks left), all
 *                      the rest at the last step;
 *   schedule=fastdllm  Fast-dLLM's parallel decoding: every masked position of
 *                      the block whose confidence is >= threshold, at least the
 *                      most confident one, until the block is done (no step
 *                      budget: `steps` is not used).
 *
 * The positions committed are the most confident under `remasking`:
 * low_confidence (LLaDA: probability of the chosen token under the model's
 * softmax), random (LLaDA: uniform scores), or Dream's algs maskgit_plus
 * (probability of the chosen token under the sampling distribution),
 * topk_margin (p1 − p2), entropy (Σ p log p, i.e. the LOWEST entropy first,
 * as Dream's generation_utils.py; llama.cpp's examples/diffusion ranks the
 * other way), and origin (Dream: each masked position independently with
 * probability 1 − s/t; under llada, k/M).  Ties go to the leftmost position.
 * Tokens are the argmax (mode=greedy) or drawn from softmax(logits/temp)
 * with top-k/top-p (mode=sample; LLaDA's Gumbel-max draws from the same
 * distribution).  The mask token itself is never chosen.
 *
 * End of generation: with stop_at_eog the output ends before the first
 * end-of-generation token (tokens after it are dropped, as the references
 * do), and decoding stops as soon as that token and every position before
 * it are committed.  A block also ends early once it has no masks left, so
 * the number of forwards is `steps` unless that happens.
 *
 * Constraint (key "regex" of req->constraint_json): DINGO (Suresh et al.,
 * 2025).  The positions to commit are chosen as above; their tokens are
 * then chosen jointly by dynamic programming over the block's positions ×
 * DFA states, maximising the sum of log-probabilities of the committed
 * tokens such that the block, with committed tokens fixed and still-masked
 * positions standing for one arbitrary future token each, leaves the
 * automaton in a live state, i.e. the output stays a valid prefix of the
 * regex language.  An end-of-generation token is allowed only where the
 * text so far matches completely (and is then followed only by more
 * end-of-generation tokens).  DINGO lets a mask stand for any string; here
 * it stands for exactly one token, which is what it will become, so a later
 * step can always complete what an earlier one allowed.  With mode=sample
 * the DP maximises under the sampling distribution (top-k/top-p/temp).
 *
 * Events: one FORWARD per step; per step one COMMIT with the number of
 * output tokens committed at that step (emitted after the last step with the
 * step's time, because only then is it known which committed positions lie
 * before the first end-of-generation token), SAMPLE for token/position
 * choice, CONSTRAINT for the DP, COMPILE for the regex and token table.
 */
#include "diffusion.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sampling_params.h"
#include "harness/constraint/regex_dfa.h"
#include "harness/model/sample.h"
#include "harness/util/util.h"

enum { SCHED_LLADA, SCHED_DREAM, SCHED_FASTDLLM };
enum { RULE_LOW_CONFIDENCE, RULE_RANDOM, RULE_ORIGIN, RULE_MASKGIT_PLUS, RULE_TOPK_MARGIN, RULE_ENTROPY };

static const db_param_def diffusion_params[] = {
    { "schedule", DB_PARAM_ENUM, "llada", 0, 0, "llada|dream|fastdllm",
      "tokens per step: LLaDA even split per block, Dream timesteps, Fast-dLLM confidence threshold" },
    { "steps", DB_PARAM_INT, "32", 1, 65536, NULL, "forwards in all (llada, dream); a multiple of the block count" },
    { "gen_length", DB_PARAM_INT, "0", 0, 65536, NULL, "response length in mask tokens; 0 = max_new_tokens" },
    { "block_length", DB_PARAM_INT, "0", 0, 65536, NULL, "semi-autoregressive block; 0 = gen_length (one block)" },
    { "remasking", DB_PARAM_ENUM, "low_confidence", 0, 0,
      "low_confidence|random|origin|maskgit_plus|topk_margin|entropy",
      "which masked positions to commit first (LLaDA remasking / Dream alg)" },
    { "threshold", DB_PARAM_FLOAT, "0.9", 0.0, 10.0, NULL,
      "fastdllm: commit every masked position with confidence >= threshold (at least one)" },
    { "eps", DB_PARAM_FLOAT, "0.001", 0.0, 0.999, NULL, "dream: last timestep of linspace(1, eps, steps+1)" },
    DB_SAMPLING_PARAMS("argmax tokens or sampling", DB_HELP_TOP_K_KEEP, DB_HELP_TOP_P_NUCLEUS),
};

static int diffusion_validate(const db_params *p, char *err, size_t errlen) {
    if (db_sampling_params_check(p, " when mode=sample (use mode=greedy for argmax)", err, errlen) != 0) return -1;
    if (db_params_int(p, "schedule") == SCHED_FASTDLLM && db_params_int(p, "remasking") == RULE_ORIGIN)
        return db_errf(err, errlen, "parameter 'remasking': origin has no confidence for schedule=fastdllm's threshold");
    int L = db_params_int(p, "gen_length"), B = db_params_int(p, "block_length");
    if (L > 0 && B > 0) {
        if (L % B != 0)
            return db_errf(err, errlen, "parameter 'block_length': gen_length %d is not a multiple of block_length %d", L, B);
        if (db_params_int(p, "schedule") != SCHED_FASTDLLM && db_params_int(p, "steps") % (L / B) != 0)
            return db_errf(err, errlen, "parameter 'steps': %d is not a multiple of the %d blocks", db_params_int(p, "steps"), L / B);
    }
    return 0;
}

/* ---- regex constraint (DINGO) -------------------------------------------- */
typedef struct regex_con {
    db_regex_dfa *dfa;
    int nq;           /* DFA states + 1: state nq-1 = DONE (after end-of-generation) */
    int V;
    int32_t *next;    /* nq × V: state after the token, -1 dead */
    int **reach1;     /* per state: distinct states one token away */
    int *n_reach1;
    /* DP scratch: (B+1) × nq */
    double *W;
    int32_t *back_state;
    db_token *back_tok;
    double *lp;       /* V log-probabilities */
    unsigned char *seen_tok;
} regex_con;

static void regex_con_free(regex_con *c) {
    if (!c) return;
    db_regex_dfa_free(c->dfa);
    free(c->next);
    if (c->reach1)
        for (int q = 0; q < c->nq; q++) free(c->reach1[q]);
    free(c->reach1);
    free(c->n_reach1);
    free(c->W);
    free(c->back_state);
    free(c->back_tok);
    free(c->lp);
    free(c->seen_tok);
    free(c);
}

/* The regex of req->constraint_json, or NULL (*pattern = NULL) when there is none. */
static int constraint_regex(const char *json, char **pattern, char *err, size_t errlen) {
    *pattern = NULL;
    if (!json) return 0;
    cJSON *c = cJSON_Parse(json);
    if (!c || !cJSON_IsObject(c)) {
        cJSON_Delete(c);
        return db_errf(err, errlen, "constraint: expected a JSON object");
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(c, "regex");
    int rc = 0;
    if (r && !cJSON_IsString(r)) rc = db_errf(err, errlen, "constraint \"regex\": expected a string");
    else if (r && !(*pattern = db_strdup(r->valuestring))) rc = db_errf(err, errlen, "out of memory");
    cJSON_Delete(c);
    return rc;
}

/* db_engine.check_constraint: the prompt's regex (when it has one) compiles
 * to an automaton that matches some text. */
static int diffusion_check_constraint(const char *constraint_json, db_model *target, char *err, size_t errlen) {
    char *pattern = NULL, why[512];
    if (constraint_regex(constraint_json, &pattern, why, sizeof why) != 0 || !pattern) return 0;
    db_regex_dfa *d = NULL;
    int rc = 0;
    if (db_regex_dfa_compile(pattern, &d, why, sizeof why) != 0) rc = db_errf(err, errlen, "$.constraint.regex: %s", why);
    else if (db_regex_dfa_start(d) == DB_DFA_DEAD)
        rc = db_errf(err, errlen, "$.constraint.regex /%s/: matches no text", pattern);
    db_regex_dfa_free(d);
    free(pattern);
    return rc;
}

/* Compile the regex and the token-level transition table. */
static int regex_con_build(db_model *m, const char *pattern, int block, regex_con **out, char *err, size_t errlen) {
    char e2[512];
    regex_con *c = calloc(1, sizeof *c);
    if (!c) return db_errf(err, errlen, "out of memory");
    *out = c;
    if (db_regex_dfa_compile(pattern, &c->dfa, e2, sizeof e2) != 0) return db_errf(err, errlen, "constraint \"regex\": %s", e2);
    if (db_regex_dfa_start(c->dfa) == DB_DFA_DEAD)
        return db_errf(err, errlen, "constraint \"regex\" /%s/: matches no text", pattern);
    const int ns = db_regex_dfa_n_states(c->dfa), V = db_model_n_vocab(m), done = ns;
    c->nq = ns + 1;
    c->V = V;
    if ((double)c->nq * V > 64e6)
        return db_errf(err, errlen, "constraint \"regex\": %d automaton states × %d tokens is too large a table", c->nq, V);
    c->next = malloc(sizeof *c->next * (size_t)c->nq * (size_t)V);
    c->reach1 = calloc((size_t)c->nq, sizeof *c->reach1);
    c->n_reach1 = calloc((size_t)c->nq, sizeof *c->n_reach1);
    c->W = malloc(sizeof *c->W * (size_t)(block + 1) * (size_t)c->nq);
    c->back_state = malloc(sizeof *c->back_state * (size_t)(block + 1) * (size_t)c->nq);
    c->back_tok = malloc(sizeof *c->back_tok * (size_t)(block + 1) * (size_t)c->nq);
    c->lp = malloc(sizeof *c->lp * (size_t)V);
    c->seen_tok = malloc((size_t)V);
    int *mark = malloc(sizeof *mark * (size_t)c->nq);
    if (!c->next || !c->reach1 || !c->n_reach1 || !c->W || !c->back_state || !c->back_tok || !c->lp || !c->seen_tok || !mark) {
        free(mark);
        return db_errf(err, errlen, "out of memory");
    }
    const db_token mask = db_model_mask(m), bos = db_model_bos(m);
    char buf[256];
    for (int t = 0; t < V; t++) {
        int32_t *col = c->next + t;   /* column t, stride V */
        bool never = t == mask || t == bos;
        bool eog = !never && db_model_is_eog(m, t);
        int n = 0;
        if (!never && !eog) {
            n = db_model_token_piece(m, t, buf, sizeof buf);
            if (n < 0) never = true;   /* a piece over 256 bytes: not allowed under a regex */
        }
        for (int q = 0; q < c->nq; q++) {
            int32_t to;
            if (never) to = -1;
            else if (eog) to = (q == done || db_regex_dfa_accepting(c->dfa, q)) ? done : -1;
            else if (q == done) to = -1;
            else to = db_regex_dfa_run(c->dfa, q, buf, (size_t)n);
            col[(size_t)q * (size_t)V] = to;
        }
    }
    for (int q = 0; q < c->nq; q++) mark[q] = -1;
    for (int q = 0; q < c->nq; q++) {
        int cnt = 0;
        const int32_t *row = c->next + (size_t)q * (size_t)V;
        for (int t = 0; t < V; t++)
            if (row[t] >= 0 && mark[row[t]] != q) { mark[row[t]] = q; cnt++; }
        c->reach1[q] = malloc(sizeof(int) * (size_t)(cnt ? cnt : 1));
        if (!c->reach1[q]) { free(mark); return db_errf(err, errlen, "out of memory"); }
        for (int k = 0; k < c->nq; k++) if (mark[k] == q) c->reach1[q][c->n_reach1[q]++] = k;
    }
    free(mark);
    return 0;
}

/* ---- decoding state ------------------------------------------------------- */
typedef struct dstate {
    const db_gen_request *req;
    db_model *m;
    int V, L, B, n_blocks, spb, sched, rule;
    double threshold, eps;
    db_sampling s;
    db_token mask;
    db_token *x;          /* response, mask where not committed */
    int *commit_step;     /* 1-based, 0 = masked */
    db_token *x0;         /* chosen token per response position (this step) */
    float *conf;          /* its confidence */
    int *cand;            /* masked positions of the block */
    unsigned char *chosen;
    float *lg;            /* V: logits with the mask token excluded */
    float *p;             /* V: softmax of lg */
    db_sampler_buf sb;
    db_rng rng_tok, rng_pos;
    int *ntt;             /* llada: tokens per step of the current block */
    int64_t *step_t;      /* time of each step's commit */
    int n_steps, cap_steps;
    regex_con *con;
} dstate;

static void softmax(const float *lg, int V, float *p) { db_softmax(lg, V, 1.0f, p); }

/* The distribution tokens are chosen from: the plain softmax when greedy,
 * else the sampling distribution (temperature, top-k, top-p). */
static const float *choice_probs(dstate *D, const float *logits) {
    memcpy(D->lg, logits, sizeof *D->lg * (size_t)D->V);
    if (D->mask >= 0 && D->mask < D->V) D->lg[D->mask] = -1e30f;
    softmax(D->lg, D->V, D->p);
    if (D->s.greedy) return D->p;
    db_sampling_probs(&D->s, D->lg, &D->sb);
    return D->sb.prob;
}

/* Token and confidence of one masked position. */
static void position_choice(dstate *D, const float *logits, db_token *tok, float *conf) {
    const float *q = choice_probs(D, logits);
    const int V = D->V;
    db_token t = D->s.greedy ? db_argmax(D->lg, V) : db_draw(q, V, db_rng_uniform(&D->rng_tok));
    *tok = t;
    switch (D->rule) {
    case RULE_LOW_CONFIDENCE: *conf = D->p[t]; break;
    case RULE_RANDOM: *conf = (float)db_rng_uniform(&D->rng_pos); break;
    case RULE_ORIGIN: *conf = 0.0f; break;
    case RULE_MASKGIT_PLUS: *conf = q[t]; break;
    case RULE_TOPK_MARGIN: {
        float a = -1.0f, b = -1.0f;
        for (int v = 0; v < V; v++) {
            if (q[v] > a) { b = a; a = q[v]; }
            else if (q[v] > b) b = q[v];
        }
        *conf = a - (b < 0.0f ? 0.0f : b);
        break;
    }
    case RULE_ENTROPY: {
        double h = 0.0;
        for (int v = 0; v < V; v++) h += (double)q[v] * log((double)q[v] + 1e-10);
        *conf = (float)h;   /* negative entropy: the most certain position ranks first */
        break;
    }
    }
}

static const dstate *g_sort_state;   /* qsort has no context argument in C11 */
static int by_confidence(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    float ci = g_sort_state->conf[i], cj = g_sort_state->conf[j];
    if (ci != cj) return ci > cj ? -1 : 1;
    return (i > j) - (i < j);
}

/* Choose the positions to commit among D->cand[0..nc); step i of the block. */
static void choose_positions(dstate *D, int i, int nc) {
    memset(D->chosen, 0, (size_t)D->L);
    if (nc == 0) return;
    int k;
    double t = 1.0 - (double)i * (1.0 - D->eps) / D->spb, s = 1.0 - (double)(i + 1) * (1.0 - D->eps) / D->spb;
    if (D->rule == RULE_ORIGIN) {
        double p = D->sched == SCHED_DREAM ? (i < D->spb - 1 ? 1.0 - s / t : 1.0) : (double)D->ntt[i] / nc;
        for (int c = 0; c < nc; c++)
            if (db_rng_uniform(&D->rng_pos) < p) D->chosen[D->cand[c]] = 1;
        return;
    }
    if (D->sched == SCHED_LLADA) {
        k = D->ntt[i];
    } else if (D->sched == SCHED_DREAM) {
        k = i < D->spb - 1 ? (int)(nc * (1.0 - s / t)) : nc;
    } else {
        k = 0;
        for (int c = 0; c < nc; c++) k += D->conf[D->cand[c]] >= D->threshold;
        if (k < 1) k = 1;
    }
    if (k > nc) k = nc;
    if (k <= 0) return;
    g_sort_state = D;
    qsort(D->cand, (size_t)nc, sizeof *D->cand, by_confidence);
    for (int c = 0; c < k; c++) D->chosen[D->cand[c]] = 1;
}

/* DINGO: tokens for the chosen positions of block [b0, b1) by DP over
 * positions × automaton states.  Returns 0 (D->x0 of chosen positions set),
 * 1 when no choice keeps the output a valid prefix. */
static int constrain_block(dstate *D, int b0, int b1, int step) {
    regex_con *c = D->con;
    const int nq = c->nq, V = c->V, d = b1 - b0;
    int64_t t0 = db_now_ns();
    /* state after the committed blocks before b0 */
    int q0 = db_regex_dfa_start(c->dfa);
    for (int j = 0; j < b0 && q0 >= 0; j++) q0 = c->next[(size_t)q0 * (size_t)V + (size_t)D->x[j]];
    if (q0 < 0) return 1;
    for (size_t k = 0; k < (size_t)(d + 1) * (size_t)nq; k++) c->W[k] = -INFINITY;
    c->W[q0] = 0.0;
    long evaluated = 0, allowed = 0;
    for (int j = 0; j < d; j++) {
        const int pos = b0 + j;
        const double *W = c->W + (size_t)j * (size_t)nq;
        double *Wn = c->W + (size_t)(j + 1) * (size_t)nq;
        int32_t *bs = c->back_state + (size_t)(j + 1) * (size_t)nq;
        db_token *bt = c->back_tok + (size_t)(j + 1) * (size_t)nq;
        if (D->x[pos] != D->mask) {                    /* committed: fixed token */
            const db_token t = D->x[pos];
            for (int q = 0; q < nq; q++) {
                if (W[q] == -INFINITY) continue;
                int32_t to = c->next[(size_t)q * (size_t)V + (size_t)t];
                if (to >= 0 && W[q] > Wn[to]) { Wn[to] = W[q]; bs[to] = q; bt[to] = t; }
            }
        } else if (D->chosen[pos]) {                   /* to commit: every token, weighted */
            const float *logits = db_model_logits(D->m, D->req->n_prompt + pos);
            const float *q = choice_probs(D, logits);
            for (int v = 0; v < V; v++) c->lp[v] = q[v] > 0.0f ? log((double)q[v]) : -INFINITY;
            memset(c->seen_tok, 0, (size_t)(unsigned)V);
            evaluated += V;
            for (int qs = 0; qs < nq; qs++) {
                if (W[qs] == -INFINITY) continue;
                const int32_t *row = c->next + (size_t)qs * (size_t)V;
                for (int v = 0; v < V; v++) {
                    if (row[v] < 0 || c->lp[v] == -INFINITY) continue;
                    c->seen_tok[v] = 1;
                    double w = W[qs] + c->lp[v];
                    if (w > Wn[row[v]]) { Wn[row[v]] = w; bs[row[v]] = qs; bt[row[v]] = v; }
                }
            }
            for (int v = 0; v < V; v++) allowed += c->seen_tok[v];
        } else {                                       /* still masked: one future token */
            for (int qs = 0; qs < nq; qs++) {
                if (W[qs] == -INFINITY) continue;
                for (int k = 0; k < c->n_reach1[qs]; k++) {
                    int to = c->reach1[qs][k];
                    if (W[qs] > Wn[to]) { Wn[to] = W[qs]; bs[to] = qs; bt[to] = DB_TOKEN_NULL; }
                }
            }
        }
    }
    const double *Wd = c->W + (size_t)d * (size_t)nq;
    int best = -1;
    for (int q = 0; q < nq; q++)
        if (Wd[q] > -INFINITY && (best < 0 || Wd[q] > Wd[best])) best = q;
    if (best >= 0) {
        for (int j = d, q = best; j > 0; j--) {
            const int pos = b0 + j - 1;
            if (D->x[pos] == D->mask && D->chosen[pos]) D->x0[pos] = c->back_tok[(size_t)j * (size_t)nq + (size_t)q];
            q = c->back_state[(size_t)j * (size_t)nq + (size_t)q];
        }
    }
    db_emit_constraint(D->req->events, step, (int)(evaluated > 2147483647L ? 2147483647L : evaluated),
                       (int)(allowed > 2147483647L ? 2147483647L : allowed), t0, db_now_ns());
    return best >= 0 ? 0 : 1;
}

/* First end-of-generation position among committed ones, or L. */
static int first_eog(const dstate *D) {
    for (int j = 0; j < D->L; j++)
        if (D->x[j] != D->mask && db_model_is_eog(D->m, D->x[j])) return j;
    return D->L;
}

static bool output_settled(const dstate *D) {
    int e = D->req->stop_at_eog ? first_eog(D) : D->L;
    for (int j = 0; j < e; j++)
        if (D->x[j] == D->mask) return false;
    return true;
}

static int record_step(dstate *D) {
    if (D->n_steps == D->cap_steps) {
        int cap = D->cap_steps ? D->cap_steps * 2 : 64;
        int64_t *t = realloc(D->step_t, sizeof *t * (size_t)cap);
        if (!t) return -1;
        D->step_t = t;
        D->cap_steps = cap;
    }
    D->step_t[D->n_steps++] = db_now_ns();
    return 0;
}

static void dstate_free(dstate *D) {
    free(D->x);
    free(D->commit_step);
    free(D->x0);
    free(D->conf);
    free(D->cand);
    free(D->chosen);
    free(D->lg);
    free(D->p);
    free(D->ntt);
    free(D->step_t);
    db_sampler_buf_free(&D->sb);
    regex_con_free(D->con);
}

int db_diffusion_generate(const db_gen_request *req, db_gen_output *out, db_diffusion_trace *trace,
                          char *err, size_t errlen) {
    const db_params *P = req->params;
    db_model *m = req->target;
    dstate D;
    memset(&D, 0, sizeof D);
    D.req = req;
    D.m = m;
    D.V = db_model_n_vocab(m);
    D.sched = db_params_int(P, "schedule");
    D.rule = db_params_int(P, "remasking");
    D.threshold = db_params_num(P, "threshold");
    D.eps = db_params_num(P, "eps");
    D.s = db_sampling_from_params(P);
    D.mask = db_model_mask(m);
    D.rng_tok = db_rng_make(req->seed, 0);
    D.rng_pos = db_rng_make(req->seed, 1);
    snprintf(out->stop_reason, sizeof out->stop_reason, "length");

    if (req->n_prompt < 1) return db_errf(err, errlen, "empty prompt");
    if (D.mask == DB_TOKEN_NULL) return db_errf(err, errlen, "the model has no mask token (not a masked-diffusion model)");
    int L = db_params_int(P, "gen_length");
    if (L == 0) L = req->max_new_tokens;
    if (L > req->max_new_tokens)
        return db_errf(err, errlen, "parameter 'gen_length': %d exceeds max_new_tokens %d", L, req->max_new_tokens);
    if (L < 1) return db_errf(err, errlen, "nothing to generate (max_new_tokens %d)", req->max_new_tokens);
    int B = db_params_int(P, "block_length");
    if (B == 0 || B > L) B = L;
    if (L % B != 0)
        return db_errf(err, errlen, "parameter 'block_length': gen_length %d is not a multiple of block_length %d", L, B);
    D.L = L;
    D.B = B;
    D.n_blocks = L / B;
    const int steps = db_params_int(P, "steps");
    if (D.sched != SCHED_FASTDLLM && steps % D.n_blocks != 0)
        return db_errf(err, errlen, "parameter 'steps': %d is not a multiple of the %d blocks (gen_length %d / block_length %d)",
                       steps, D.n_blocks, L, B);
    D.spb = D.sched == SCHED_FASTDLLM ? B : steps / D.n_blocks;

    int rc = 0;
    db_batch b;
    memset(&b, 0, sizeof b);
    D.x = malloc(sizeof *D.x * (size_t)L);
    D.commit_step = calloc((size_t)L, sizeof *D.commit_step);
    D.x0 = malloc(sizeof *D.x0 * (size_t)L);
    D.conf = malloc(sizeof *D.conf * (size_t)L);
    D.cand = malloc(sizeof *D.cand * (size_t)L);
    D.chosen = malloc((size_t)L);
    D.lg = malloc(sizeof *D.lg * (size_t)D.V);
    D.p = malloc(sizeof *D.p * (size_t)D.V);
    D.ntt = malloc(sizeof *D.ntt * (size_t)D.spb);
    if (!D.x || !D.commit_step || !D.x0 || !D.conf || !D.cand || !D.chosen || !D.lg || !D.p || !D.ntt ||
        db_sampler_buf_init(&D.sb, D.V) != 0 || db_batch_init(&b, req->n_prompt + L, 1) != 0) {
        rc = db_errf(err, errlen, "out of memory");
        goto done;
    }
    for (int j = 0; j < L; j++) D.x[j] = D.mask;

    char *pattern = NULL;
    if (constraint_regex(req->constraint_json, &pattern, err, errlen) != 0) { rc = -1; goto done; }
    if (pattern) {
        int64_t c0 = db_now_ns();
        rc = regex_con_build(m, pattern, B, &D.con, err, errlen);
        free(pattern);
        if (rc != 0) goto done;
        db_emit_compile(req->events, c0, db_now_ns());
    }
    if (db_model_set_causal(m, false) != 0) {
        rc = db_errf(err, errlen, "bidirectional attention: %s", db_model_last_error(m));
        goto done;
    }

    int step = 0;
    bool stop = false;
    for (int blk = 0; blk < D.n_blocks && !stop; blk++) {
        const int b0 = blk * B, b1 = b0 + B;
        int masked = 0;
        for (int j = b0; j < b1; j++) masked += D.x[j] == D.mask;
        for (int i = 0; i < D.spb; i++) D.ntt[i] = masked / D.spb + (i < masked % D.spb);
        for (int i = 0; D.sched == SCHED_FASTDLLM || i < D.spb; i++) {
            int nc = 0;
            for (int j = b0; j < b1; j++) if (D.x[j] == D.mask) D.cand[nc++] = j;
            if (nc == 0) break;
            if (req->cancel && *req->cancel) {
                snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
                rc = 1;
                goto done;
            }
            step++;
            db_batch_clear(&b);
            for (int j = 0; j < req->n_prompt; j++) db_batch_add1(&b, req->prompt[j], j, 0, false);
            for (int j = 0; j < L; j++)
                db_batch_add1(&b, D.x[j], req->n_prompt + j, 0, j >= b0 && j < b1 && D.x[j] == D.mask);
            if (db_model_seq_rm(m, -1, -1, -1) != 0 || db_forward(m, &b, req->events, DB_ROLE_TARGET, step) != 0) {
                rc = db_errf(err, errlen, "forward at step %d: %s", step, db_model_last_error(m));
                snprintf(out->stop_reason, sizeof out->stop_reason, "error");
                goto done;
            }
            int64_t s0 = db_now_ns();
            for (int c = 0; c < nc; c++) {
                const int j = D.cand[c];
                const float *row = db_model_logits(m, req->n_prompt + j);
                if (!row) {
                    rc = db_errf(err, errlen, "no logits for response position %d at step %d", j, step);
                    goto done;
                }
                position_choice(&D, row, &D.x0[j], &D.conf[j]);
            }
            choose_positions(&D, i, nc);
            db_emit_sample(req->events, step, s0, db_now_ns());
            if (D.con && constrain_block(&D, b0, b1, step) != 0) {
                snprintf(out->stop_reason, sizeof out->stop_reason, "constraint");
                stop = true;
                if (record_step(&D) != 0) { rc = db_errf(err, errlen, "out of memory"); goto done; }
                break;
            }
            for (int j = b0; j < b1; j++)
                if (D.chosen[j]) {
                    D.x[j] = D.x0[j];
                    D.commit_step[j] = step;
                }
            if (record_step(&D) != 0) { rc = db_errf(err, errlen, "out of memory"); goto done; }
            if (output_settled(&D) && (req->stop_at_eog && first_eog(&D) < L)) { stop = true; break; }
        }
    }

    /* output: up to the first end-of-generation token, or up to the first
     * position left masked (a constraint dead end) */
    int n_out = 0;
    while (n_out < L && D.x[n_out] != D.mask && !(req->stop_at_eog && db_model_is_eog(m, D.x[n_out]))) n_out++;
    if (n_out < L && D.x[n_out] != D.mask && req->stop_at_eog)
        snprintf(out->stop_reason, sizeof out->stop_reason, "eog");
    for (int j = 0; j < n_out; j++)
        if (db_output_push(out, D.x[j]) != 0) { rc = db_errf(err, errlen, "out of memory"); goto done; }
    /* positions committed at the busiest step, end tokens and what follows
     * them included: 1 exactly when the sample was decoded one token per
     * step, which makes its case a reference for agreement (reports/agreement.h) */
    int max_commit = 0;
    for (int s = 1; s <= D.n_steps; s++) {
        int n = 0;
        for (int j = 0; j < L; j++) n += D.commit_step[j] == s;
        if (n > max_commit) max_commit = n;
    }
    if (db_output_stat(out, "diffusion_max_commit", max_commit) != 0) {
        rc = db_errf(err, errlen, "too many output stats");
        goto done;
    }
    for (int s = 0; s < D.n_steps; s++) {
        int n = 0;
        for (int j = 0; j < n_out; j++) n += D.commit_step[j] == s + 1;
        db_event e = { DB_EV_COMMIT, DB_ROLE_TARGET, s + 1, n, 0, 0, 0, 0 };
        if (req->events) e.t_start_ns = e.t_end_ns = D.step_t[s] - req->events->t0_ns;
        db_emit(req->events, &e);
    }
done:
    if (trace && trace->cap >= L && D.x && D.commit_step) {
        trace->gen_length = L;
        memcpy(trace->commit_step, D.commit_step, sizeof(int) * (size_t)L);
        memcpy(trace->tokens, D.x, sizeof(db_token) * (size_t)L);
    }
    db_model_set_causal(m, true);
    db_batch_free(&b);
    dstate_free(&D);
    return rc;
}

static int diffusion_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    return db_diffusion_generate(req, out, NULL, err, errlen);
}

const db_engine db_engine_diffusion = {
    .name = "diffusion",
    .summary = "masked-diffusion decoding (LLaDA / Dream / Fast-dLLM schedules; regex constraints by DINGO's DP)",
    .params = diffusion_params,
    .n_params = (int)(sizeof diffusion_params / sizeof diffusion_params[0]),
    .constraints = DB_CONSTRAINT_REGEX,
    .check_constraint = diffusion_check_constraint,
    .validate = diffusion_validate,
    .generate = diffusion_generate,
};
