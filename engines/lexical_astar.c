/* lexical_astar.c — NeuroLogic A*esque decoding (Lu et al., NAACL 2022): beam
 * search under lexical constraints where each candidate is ranked by
 *
 *     f = score / (t + 1) + alpha · h,
 *
 * score its log-probability, t the step, and h a lookahead estimate of
 * future constraint satisfaction: from the candidate, `lookahead` tokens
 * are decoded greedily (all candidates in one batch per lookahead step,
 * each on its own KV sequence), and h is the best log-probability that the
 * next token of an unmet phrase receives at any lookahead position (the
 * phrase in progress only right after the candidate).  With alpha = 0 the
 * lookahead is skipped and this is NeuroLogic decoding (Lu et al., NAACL
 * 2021) without its in-progress bonus: plain constrained beam search.
 *
 * One step (the selection follows the authors' topK.py):
 *   candidates   global top-`beam` continuations, plus per hypothesis its
 *                top-`beam` tokens and its constraint tokens ranked below
 *                `prune_factor` in its distribution;
 *   finished     a hypothesis that meets every constraint may end (EOS) and
 *                leaves the beam;
 *   complete     candidates meeting every constraint take beam places first;
 *   prune        others must meet at least (most met − sat_tolerance) phrases;
 *   group        by the set of phrases met, each group sorted by f; the beam
 *                is filled round-robin: the best of every group (in order of
 *                f), then the second best of every group, ...
 * Budgets (max_forwards, max_eval_tokens) cap the model work of a sample,
 * lookahead included; the lookahead is cut short before the budget would
 * leave no room for the step's own forward.
 */
#include "lexcons.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

#define MAX_SEQS 256     /* llama.cpp's LLAMA_MAX_SEQ */

static const db_param_def astar_params[] = {
    { "beam",          DB_PARAM_INT,   "5", 1, 128, NULL, "beam width" },
    { "lookahead",     DB_PARAM_INT,   "3", 0, 32, NULL, "greedy lookahead tokens per candidate (ℓ)" },
    { "alpha",         DB_PARAM_FLOAT, "0.2", 0.0, 100.0, NULL, "weight of the lookahead heuristic; 0 = NeuroLogic beam search (no lookahead)" },
    { "prune_factor",  DB_PARAM_INT,   "500000", 1, 1e9, NULL, "a row's tokens of rank prune_factor or worse (1 = most likely) are not proposed (global top-beam excepted)" },
    { "sat_tolerance", DB_PARAM_INT,   "2", 0, 32, NULL, "keep candidates meeting at least (most met - sat_tolerance) phrases" },
    { "la_batch",      DB_PARAM_INT,   "32", 1, 200, NULL, "candidates looked ahead together (sequence ids for the lookahead)" },
    { "len_norm",      DB_PARAM_FLOAT, "0", 0.0, 4.0, NULL, "rank finished hypotheses by score / length^len_norm (0: raw log-probability, allows early stop)" },
    { "max_forwards",  DB_PARAM_INT,   "0", 0, 1e9, NULL, "budget: most model forwards per sample, prompt and lookahead included (0 = unlimited)" },
    { "max_eval_tokens", DB_PARAM_INT, "0", 0, 1e12, NULL, "budget: most tokens evaluated per sample, prompt and lookahead included (0 = unlimited)" },
};

static int astar_n_seq(const db_params *p) {
    int n = db_params_int(p, "beam");
    if (db_params_num(p, "alpha") > 0.0 && db_params_int(p, "lookahead") > 0) n += db_params_int(p, "la_batch");
    return n;
}

static int astar_validate(const db_params *p, char *err, size_t errlen) {
    if (astar_n_seq(p) > MAX_SEQS)
        return db_errf(err, errlen, "parameters 'beam' + 'la_batch' = %d: at most %d sequences", astar_n_seq(p), MAX_SEQS);
    return 0;
}

/* ---- selection (pure) --------------------------------------------------- */

int lex_nl_gather(const lex_constraints *c, int n_hyp, const lex_state *st, const double *score,
                  const float *lp, int V, db_token eos, int k, int prune_factor, lex_cand *out) {
    db_token top[128 + LEX_MAX_PHRASES];
    int n = 0;
    /* every row's top-k: a superset of the global top-k */
    for (int i = 0; i < n_hyp; i++) {
        const float *row = lp + (size_t)i * (size_t)V;
        int m = lex_topk(row, V, k, eos, top);
        for (int j = 0; j < m; j++)   /* rank: j + 1 (ties in a row go to the lower id) */
            out[n++] = (lex_cand){ i, top[j], score[i] + row[top[j]], lex_advance(c, st[i], top[j]), j + 1, LEX_NEG_INF };
    }
    lex_cands_sort_score(out, n);
    int keep = n < k ? n : k;       /* the global top-k, unconditionally */
    /* the rest of the row top-k tokens and the constraint tokens, when ranked
     * below prune_factor */
    int m = keep;
    for (int j = keep; j < n; j++)
        if (out[j].rank < prune_factor) out[m++] = out[j];
    n = m;
    for (int i = 0; i < n_hyp; i++) {
        const float *row = lp + (size_t)i * (size_t)V;
        int na = lex_allowed(c, st[i], top);
        for (int a = 0; a < na; a++) {
            db_token t = top[a];
            if (t == eos || row[t] <= (float)LEX_NEG_INF * 0.5f) continue;
            int rank = 1;
            for (int v = 0; v < V && rank < prune_factor; v++) rank += row[v] > row[t];
            if (rank >= prune_factor) continue;
            out[n++] = (lex_cand){ i, t, score[i] + row[t], lex_advance(c, st[i], t), rank, LEX_NEG_INF };
        }
    }
    return lex_cands_unique(out, n);
}

int lex_nl_split(const lex_constraints *c, lex_cand *cands, int n, int k, int sat_tolerance, int *n_complete) {
    lex_cands_sort_score(cands, n);
    lex_cand *tmp = malloc(sizeof *tmp * (size_t)(n > 0 ? n : 1));
    if (!tmp) return -1;
    int m = 0, best_met = 0;
    for (int j = 0; j < n; j++)
        if (lex_complete(c, cands[j].st) && m < k) tmp[m++] = cands[j];
    *n_complete = m;
    for (int j = 0; j < n; j++)
        if (!lex_complete(c, cands[j].st) && lex_phrases_met(cands[j].st) > best_met)
            best_met = lex_phrases_met(cands[j].st);
    for (int j = 0; j < n; j++)
        if (!lex_complete(c, cands[j].st) && lex_phrases_met(cands[j].st) >= best_met - sat_tolerance)
            tmp[m++] = cands[j];
    memcpy(cands, tmp, sizeof *tmp * (size_t)m);
    free(tmp);
    return m;
}

double lex_lookahead_score(const lex_constraints *c, lex_state st, int j, const float *lp) {
    double best = LEX_NEG_INF;
    if (st.cur >= 0) {
        if (j == 0) best = lp[c->ph[st.cur].tok[st.prog]];
    }
    for (int i = 0; i < c->n; i++) {
        if ((st.met >> i) & 1u || i == st.cur) continue;
        double v = lp[c->ph[i].tok[0]];
        if (v > best) best = v;
    }
    return best <= LEX_NEG_INF * 0.5 ? LEX_NEG_INF : best;
}

static int cmp_rank(const void *a, const void *b) {
    const lex_cand *x = a, *y = b;
    if (x->st.met != y->st.met) return x->st.met < y->st.met ? -1 : 1;       /* group */
    if (x->rank != y->rank) return x->rank > y->rank ? -1 : 1;
    if (x->parent != y->parent) return x->parent < y->parent ? -1 : 1;
    return (x->tok > y->tok) - (x->tok < y->tok);
}

static int cmp_chunk(const void *a, const void *b) {
    const lex_cand *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;                           /* h holds the chunk here */
    if (x->rank != y->rank) return x->rank > y->rank ? -1 : 1;
    if (x->parent != y->parent) return x->parent < y->parent ? -1 : 1;
    return (x->tok > y->tok) - (x->tok < y->tok);
}

int lex_nl_select(lex_cand *cands, int n, int n_complete, double alpha, int t, int k) {
    lex_cand *o = cands + n_complete;
    int no = n - n_complete;
    for (int j = 0; j < no; j++) {
        o[j].rank = o[j].score / (t + 1);
        if (alpha > 0.0 && o[j].h > LEX_NEG_INF * 0.5) o[j].rank += alpha * o[j].h;
    }
    if (no > 1) qsort(o, (size_t)no, sizeof *o, cmp_rank);
    /* position within its group = its chunk */
    for (int j = 0, pos = 0; j < no; j++) {
        pos = j > 0 && o[j].st.met == o[j - 1].st.met ? pos + 1 : 0;
        o[j].h = pos;
    }
    if (no > 1) qsort(o, (size_t)no, sizeof *o, cmp_chunk);
    int m = n_complete + no < k ? n_complete + no : k;
    if (m < n_complete) m = n_complete;
    lex_cands_sort_score(cands, m);
    return m;
}

/* ---- engine ------------------------------------------------------------- */

/* h of cands[0..n) by greedy lookahead of ell tokens, la_batch at a time on
 * sequence ids base.. (after the hypotheses').  Returns 0 or -1. */
static int lookahead(lex_search *s, lex_cand *cands, int n, int ell, int la_batch, int base, int k,
                     float *lp_buf, int *la_forwards, char *err, size_t errlen) {
    db_batch b;
    if (db_batch_init(&b, la_batch, 1) != 0) return db_errf(err, errlen, "out of memory");
    db_token *cur = malloc(sizeof *cur * (size_t)la_batch);
    int *row = malloc(sizeof *row * (size_t)la_batch);
    if (!cur || !row) {
        free(cur); free(row); db_batch_free(&b);
        return db_errf(err, errlen, "out of memory");
    }
    const int32_t P = s->n_prompt + s->t;      /* position of the candidate token */
    int rc = 0;
    bool budget_left = true;
    for (int c0 = 0; c0 < n && rc == 0 && budget_left; c0 += la_batch) {
        int nc = n - c0 < la_batch ? n - c0 : la_batch;
        for (int i = 0; i < nc && rc == 0; i++) {
            int q = base + i;
            cur[i] = cands[c0 + i].tok;
            row[i] = 0;
            if (db_model_seq_rm(s->m, q, -1, -1) != 0 ||
                db_model_seq_cp(s->m, s->hyp[cands[c0 + i].parent].slot, q, -1, -1) != 0)
                rc = db_errf(err, errlen, "lookahead KV fork: %s", db_model_last_error(s->m));
        }
        for (int j = 0; j < ell && rc == 0; j++) {
            db_batch_clear(&b);
            for (int i = 0; i < nc; i++)
                row[i] = cur[i] == DB_TOKEN_NULL ? -1 : db_batch_add1(&b, cur[i], P + j, base + i, true);
            if (b.n_tokens == 0) break;
            if (!lex_budget_fits(s, b.n_tokens, 1, k)) {
                budget_left = false;
                break;
            }
            if (lex_forward(s, &b, err, errlen) != 0) { rc = -1; break; }
            (*la_forwards)++;
            for (int i = 0; i < nc; i++) {
                if (row[i] < 0) continue;
                lex_log_softmax(db_model_logits(s->m, row[i]), s->V, lp_buf);
                lex_cand *c = &cands[c0 + i];
                double v = lex_lookahead_score(&s->con, c->st, j, lp_buf);
                if (v > c->h) c->h = v;
                db_token g;
                cur[i] = lex_topk(lp_buf, s->V, 1, DB_TOKEN_NULL, &g) == 1 && g != s->eos ? g : DB_TOKEN_NULL;
            }
        }
        for (int i = 0; i < nc && rc == 0; i++)
            if (db_model_seq_rm(s->m, base + i, -1, -1) != 0)
                rc = db_errf(err, errlen, "lookahead KV drop: %s", db_model_last_error(s->m));
    }
    free(cur);
    free(row);
    db_batch_free(&b);
    return rc;
}

static int astar_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    const db_params *P = req->params;
    const int k = db_params_int(P, "beam"), ell = db_params_int(P, "lookahead");
    const int prune = db_params_int(P, "prune_factor"), tol = db_params_int(P, "sat_tolerance");
    const int la_batch = db_params_int(P, "la_batch");
    const double alpha = db_params_num(P, "alpha");
    const bool use_la = alpha > 0.0 && ell > 0;
    lex_search_opts o = {
        .max_hyps = k,
        .extra_seqs = use_la ? la_batch : 0,
        .max_forwards = db_params_int(P, "max_forwards"),
        .max_eval_tokens = (int64_t)db_params_num(P, "max_eval_tokens"),
        .len_norm = db_params_num(P, "len_norm"),
    };
    lex_search s;
    int rc = lex_search_begin(&s, req, &o, err, errlen);
    if (rc < 0) return -1;
    const int V = s.V;
    lex_cand *c = malloc(sizeof *c * (size_t)k * (size_t)(k + LEX_MAX_PHRASES));
    lex_state *st = malloc(sizeof *st * (size_t)k);
    double *score = malloc(sizeof *score * (size_t)k);
    float *lp_buf = malloc(sizeof *lp_buf * (size_t)V);
    int la_forwards = 0;
    if (!c || !st || !score || !lp_buf) rc = db_errf(err, errlen, "out of memory");
    while (rc == 0) {
        int64_t t0 = db_now_ns();
        for (int i = 0; i < s.n_hyp; i++) {
            lex_search_finish_eos(&s, i);
            st[i] = s.hyp[i].st;
            score[i] = s.hyp[i].score;
        }
        int n = lex_nl_gather(&s.con, s.n_hyp, st, score, s.lp, V, s.eos, k, prune, c);
        int n_eval = n, n_complete = 0;
        n = lex_nl_split(&s.con, c, n, k, tol, &n_complete);
        if (n < 0) { rc = db_errf(err, errlen, "out of memory"); break; }
        int64_t t1 = db_now_ns();
        if (use_la && n > n_complete && s.t + 1 < s.L &&
            lookahead(&s, c + n_complete, n - n_complete, ell, la_batch, k, k, lp_buf, &la_forwards, err, errlen) != 0) {
            rc = -1;
            break;
        }
        int64_t t2 = db_now_ns();
        n = lex_nl_select(c, n, n_complete, alpha, s.t, k);
        db_emit_constraint(req->events, s.step, n_eval, n, t0, t1);
        db_emit_sample(req->events, s.step, t2, db_now_ns());
        rc = lex_search_advance(&s, c, n, err, errlen);
    }
    free(c);
    free(st);
    free(score);
    free(lp_buf);
    if (rc < 0) {
        lex_search_free(&s);
        snprintf(out->stop_reason, sizeof out->stop_reason, "error");
        return -1;
    }
    db_output_stat(out, "lookahead_forwards", la_forwards);
    if (lex_search_end(&s, out, err, errlen) != 0) return -1;
    return req->cancel && *req->cancel ? 1 : 0;
}

const db_engine db_engine_astar = {
    .name = "astar",
    .summary = "NeuroLogic A*esque: constrained beam search over the prompt's keywords ranked with a greedy-lookahead heuristic",
    .params = astar_params,
    .n_params = (int)(sizeof astar_params / sizeof astar_params[0]),
    .constraints = DB_CONSTRAINT_KEYWORDS,
    .check_constraint = lex_check_constraint,
    .n_seq_max = astar_n_seq,
    .validate = astar_validate,
    .generate = astar_generate,
};
