/* lexical.c — lexically constrained beam search: the output must contain
 * every phrase of the prompt's constraint "keywords".  Two algorithms:
 *
 *   gbs  Grid Beam Search (Hokamp & Liu, ACL 2017): a grid of beams indexed
 *        by the number c of constraint tokens covered, 0..C.  Every
 *        hypothesis proposes its `beam` most likely tokens and every token
 *        that makes progress on a phrase (starts an unmet one, or continues
 *        the one in progress).  Each candidate lands in the beam of its new
 *        coverage (leaving a phrase half-written moves it down: see below),
 *        each of the C+1 beams keeps its `beam` best: up to beam·(C+1) live
 *        hypotheses, so the work per step grows linearly with C.
 *   dba  Dynamic Beam Allocation (Post & Vilar, NAACL 2018): one beam of
 *        fixed size `beam`.  Candidates are the global top-`beam`
 *        continuations, every constraint token that makes progress from
 *        each hypothesis, and each hypothesis' best token; the beam is split
 *        into C+1 banks by constraint tokens met (beam/(C+1) each, the
 *        remainder to the top bank, unused room passed down to lower
 *        banks), each bank filled with its best candidates.  The work per
 *        step does not depend on C.
 *
 * Unlike Hokamp & Liu's grid, where only "start/continue constraint" moves
 * count and an open phrase must be continued, both algorithms here share
 * one tracker (lexcons.h): any token that starts a phrase counts, and a
 * hypothesis may leave a phrase half-written, which undoes its progress (as
 * Post & Vilar's sockeye implementation does).  So no path is lost to a
 * freely generated token that happens to start a phrase, and with beams
 * large enough both searches are exhaustive.
 *
 * Both: scores are sums of log-probabilities; a hypothesis may end (EOS)
 * only once it meets every constraint, and then it leaves the beam as a
 * finished hypothesis; the search stops at max_new_tokens, when no live
 * hypothesis can beat the best finished one (len_norm = 0), or when a
 * budget (max_forwards, max_eval_tokens) would be exceeded.  The output is
 * the best finished hypothesis meeting every constraint, else the one with
 * the most constraint tokens (constraint_success = 0).  All live
 * hypotheses are evaluated in ONE forward per step, each on its own KV
 * sequence (engines/lexcons.c).
 */
#include "lexcons.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

#define MAX_SEQS 256     /* llama.cpp's LLAMA_MAX_SEQ */

static const db_param_def lexical_params[] = {
    { "algo",  DB_PARAM_ENUM, "dba", 0, 0, "gbs|dba", "gbs: Grid Beam Search (Hokamp & Liu 2017); dba: Dynamic Beam Allocation (Post & Vilar 2018)" },
    { "beam",  DB_PARAM_INT,  "4", 1, 256, NULL, "beam width (gbs: per grid cell)" },
    { "max_constraint_tokens", DB_PARAM_INT, "16", 1, 255, NULL, "gbs: largest total of constraint tokens a prompt may have (sizes the grid's sequence ids)" },
    { "len_norm", DB_PARAM_FLOAT, "0", 0.0, 4.0, NULL, "rank finished hypotheses by score / length^len_norm (0: raw log-probability, allows early stop)" },
    { "max_forwards", DB_PARAM_INT, "0", 0, 1e9, NULL, "budget: most model forwards per sample, prompt included (0 = unlimited)" },
    { "max_eval_tokens", DB_PARAM_INT, "0", 0, 1e12, NULL, "budget: most tokens evaluated per sample, prompt included (0 = unlimited)" },
};

static bool is_gbs(const db_params *p) { return db_params_int(p, "algo") == 0; }

static int lexical_n_seq(const db_params *p) {
    int k = db_params_int(p, "beam");
    return is_gbs(p) ? k * (db_params_int(p, "max_constraint_tokens") + 1) : k;
}

static int lexical_validate(const db_params *p, char *err, size_t errlen) {
    if (lexical_n_seq(p) > MAX_SEQS)
        return db_errf(err, errlen, "parameters 'beam' x ('max_constraint_tokens' + 1) = %d: at most %d sequences (algo=gbs)",
                       lexical_n_seq(p), MAX_SEQS);
    return 0;
}

/* Candidates of every live hypothesis: its per_row_k most likely tokens and
 * its constraint tokens; finished ones (EOS) are recorded. */
static int gather(lex_search *s, int per_row_k, lex_cand *c) {
    db_token top[256 + LEX_MAX_PHRASES];
    int n = 0;
    for (int i = 0; i < s->n_hyp; i++) {
        const lex_hyp *h = &s->hyp[i];
        const float *lp = lex_row(s, i);
        lex_search_finish_eos(s, i);
        int m = lex_topk(lp, s->V, per_row_k, s->eos, top);
        m += lex_allowed(&s->con, h->st, top + m);
        for (int j = 0; j < m; j++) {
            db_token t = top[j];
            if (t == s->eos || lp[t] <= (float)LEX_NEG_INF * 0.5f) continue;
            c[n++] = (lex_cand){ i, t, h->score + lp[t], lex_advance(&s->con, h->st, t), 0.0, LEX_NEG_INF };
        }
    }
    return lex_cands_unique(c, n);
}

static int cmp_bank(const void *a, const void *b) {
    const lex_cand *x = a, *y = b;
    if (x->rank != y->rank) return x->rank > y->rank ? -1 : 1;   /* rank holds the bank / cell */
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->parent != y->parent) return x->parent < y->parent ? -1 : 1;
    return (x->tok > y->tok) - (x->tok < y->tok);
}

/* GBS: each coverage cell keeps its k best. */
static int select_gbs(lex_search *s, lex_cand *c, int n, int k) {
    for (int j = 0; j < n; j++) c[j].rank = lex_tokens_met(&s->con, c[j].st);
    qsort(c, (size_t)n, sizeof *c, cmp_bank);
    int m = 0, in_cell = 0;
    for (int j = 0; j < n; j++) {
        if (j > 0 && c[j].rank != c[j - 1].rank) in_cell = 0;
        if (in_cell++ < k) c[m++] = c[j];
    }
    return m;
}

/* DBA: candidates are the global top-k plus each row's constraint tokens
 * and best token (gather with per_row_k = k gives a superset of the global
 * top-k; keep from it only the global top-k and the rest). */
static int select_dba(lex_search *s, lex_cand *c, int n, int k) {
    const int C = s->con.total_tokens, banks = C + 1;
    /* which candidates are admissible: global top-k, a constraint token, or
     * the row's best token */
    lex_cands_sort_score(c, n);
    db_token allowed[LEX_MAX_PHRASES];
    int m = 0;
    for (int j = 0; j < n; j++) {
        bool keep = j < k;
        if (!keep) {
            const lex_hyp *h = &s->hyp[c[j].parent];
            int na = lex_allowed(&s->con, h->st, allowed);
            for (int a = 0; a < na && !keep; a++) keep = allowed[a] == c[j].tok;
            db_token best;
            if (!keep && lex_topk(lex_row(s, c[j].parent), s->V, 1, s->eos, &best) == 1) keep = best == c[j].tok;
        }
        if (keep) c[m++] = c[j];
    }
    n = m;
    int *count = calloc((size_t)banks, sizeof *count), *size = calloc((size_t)banks, sizeof *size);
    if (!count || !size) {
        free(count);
        free(size);
        return -1;
    }
    for (int j = 0; j < n; j++) {
        c[j].rank = lex_tokens_met(&s->con, c[j].st);
        count[(int)c[j].rank]++;
    }
    for (int b = 0; b < banks; b++) size[b] = k / banks;
    size[banks - 1] += k - (k / banks) * banks;
    for (int b = banks - 1; b >= 0; b--) {         /* pass unused room down (wrapping) */
        int over = size[b] - count[b];
        if (over > 0) {
            size[b] -= over;
            size[(b - 1 + banks) % banks] += over;
        }
    }
    qsort(c, (size_t)n, sizeof *c, cmp_bank);
    m = 0;
    int in_bank = 0;
    for (int j = 0; j < n; j++) {
        if (j > 0 && c[j].rank != c[j - 1].rank) in_bank = 0;
        if (in_bank++ < size[(int)c[j].rank]) c[m++] = c[j];
    }
    free(count);
    free(size);
    return m;
}

static int lexical_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    const db_params *P = req->params;
    const bool gbs = is_gbs(P);
    const int k = db_params_int(P, "beam");
    lex_search_opts o = {
        .max_hyps = lexical_n_seq(P),
        .extra_seqs = 0,
        .max_forwards = db_params_int(P, "max_forwards"),
        .max_eval_tokens = (int64_t)db_params_num(P, "max_eval_tokens"),
        .len_norm = db_params_num(P, "len_norm"),
    };
    lex_search s;
    int rc = lex_search_begin(&s, req, &o, err, errlen);
    if (rc < 0) return -1;
    if (gbs && s.con.total_tokens > db_params_int(P, "max_constraint_tokens")) {
        int total = s.con.total_tokens;
        lex_search_free(&s);
        return db_errf(err, errlen, "constraint \"keywords\": %d constraint tokens exceed max_constraint_tokens %d (algo=gbs)",
                       total, db_params_int(P, "max_constraint_tokens"));
    }
    const int cap_per_hyp = k + LEX_MAX_PHRASES + 1;
    lex_cand *c = malloc(sizeof *c * (size_t)o.max_hyps * (size_t)cap_per_hyp);
    if (!c) {
        lex_search_free(&s);
        return db_errf(err, errlen, "out of memory");
    }
    while (rc == 0) {
        int64_t t0 = db_now_ns();
        int n = gather(&s, k, c);
        int n_eval = n;
        n = gbs ? select_gbs(&s, c, n, k) : select_dba(&s, c, n, k);
        if (n < 0) {
            rc = db_errf(err, errlen, "out of memory");
            break;
        }
        lex_cands_sort_score(c, n);
        db_emit_constraint(req->events, s.step, n_eval, n, t0, db_now_ns());
        rc = lex_search_advance(&s, c, n, err, errlen);
    }
    free(c);
    if (rc < 0) {
        lex_search_free(&s);
        snprintf(out->stop_reason, sizeof out->stop_reason, "error");
        return -1;
    }
    if (lex_search_end(&s, out, err, errlen) != 0) return -1;
    return req->cancel && *req->cancel ? 1 : 0;
}

const db_engine db_engine_lexical = {
    .name = "lexical",
    .summary = "lexically constrained beam search: Grid Beam Search or Dynamic Beam Allocation over the prompt's keywords",
    .params = lexical_params,
    .n_params = (int)(sizeof lexical_params / sizeof lexical_params[0]),
    .constraints = DB_CONSTRAINT_KEYWORDS,
    .check_constraint = lex_check_constraint,
    .n_seq_max = lexical_n_seq,
    .validate = lexical_validate,
    .generate = lexical_generate,
};
