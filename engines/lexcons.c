/* lexcons.c — keyword constraints, their tracking, and the multi-sequence
 * beam search shared by the lexical and astar engines (see lexcons.h). */
#include "lexcons.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

/* ---- phrases ------------------------------------------------------------ */

/* tokens of text without specials; malloc'd into *out */
static int tokenize_plain(db_model *m, const char *text, db_token **out) {
    size_t len = strlen(text);
    int cap = (int)len + 8;
    db_token *t = malloc(sizeof *t * (size_t)cap);
    if (!t) return -1;
    int n = db_model_tokenize(m, text, len, false, false, t, cap);
    if (n < 0) {
        cap = -n;
        db_token *t2 = realloc(t, sizeof *t * (size_t)cap);
        if (!t2) { free(t); return -1; }
        t = t2;
        n = db_model_tokenize(m, text, len, false, false, t, cap);
    }
    if (n < 0) { free(t); return -1; }
    *out = t;
    return n;
}

/* The mid-sentence tokens of keyword kw (see lexcons.h). */
static int phrase_tokens(db_model *m, const char *kw, lex_phrase *p, char *err, size_t errlen) {
    size_t n = strlen(kw);
    char *a = malloc(n + 3), *sp = malloc(n + 2);
    db_token *ta = NULL, *tb = NULL, *tc = NULL;
    int rc = -1;
    if (!a || !sp) { db_errf(err, errlen, "out of memory"); goto out; }
    snprintf(a, n + 3, "a %s", kw);
    snprintf(sp, n + 2, " %s", kw);
    int na = tokenize_plain(m, a, &ta), nb = tokenize_plain(m, "a", &tb);
    if (na < 0 || nb < 0) { db_errf(err, errlen, "out of memory"); goto out; }
    const db_token *src = NULL;
    int ns = 0;
    if (na > nb && memcmp(ta, tb, sizeof *ta * (size_t)nb) == 0) {
        src = ta + nb;
        ns = na - nb;
    } else {
        ns = tokenize_plain(m, sp, &tc);
        if (ns < 0) { db_errf(err, errlen, "out of memory"); goto out; }
        src = tc;
    }
    if (ns < 1) { db_errf(err, errlen, "constraint \"keywords\": '%s' has no tokens", kw); goto out; }
    if (ns > LEX_MAX_PHRASE_TOKENS) {
        db_errf(err, errlen, "constraint \"keywords\": '%s' is %d tokens (at most %d)", kw, ns, LEX_MAX_PHRASE_TOKENS);
        goto out;
    }
    memcpy(p->tok, src, sizeof *src * (size_t)ns);
    p->n = ns;
    rc = 0;
out:
    free(a); free(sp); free(ta); free(tb); free(tc);
    return rc;
}

int lex_parse(const char *constraint_json, db_model *m, lex_constraints *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    if (!constraint_json) return 0;
    cJSON *root = cJSON_Parse(constraint_json);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return db_errf(err, errlen, "constraint: expected a JSON object");
    }
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(root, "keywords");
    int rc = 0;
    if (kw) {
        if (!cJSON_IsArray(kw) || cJSON_GetArraySize(kw) == 0)
            rc = db_errf(err, errlen, "constraint \"keywords\": expected a non-empty array of strings");
        for (const cJSON *k = rc == 0 ? kw->child : NULL; k; k = k->next) {
            if (!cJSON_IsString(k) || !k->valuestring[0]) {
                rc = db_errf(err, errlen, "constraint \"keywords\": expected non-empty strings");
                break;
            }
            lex_phrase p;
            if (phrase_tokens(m, k->valuestring, &p, err, errlen) != 0) { rc = -1; break; }
            bool dup = false;
            for (int i = 0; i < c->n && !dup; i++)
                dup = c->ph[i].n == p.n && memcmp(c->ph[i].tok, p.tok, sizeof *p.tok * (size_t)p.n) == 0;
            if (dup) continue;
            if (c->n == LEX_MAX_PHRASES) {
                rc = db_errf(err, errlen, "constraint \"keywords\": more than %d distinct keywords", LEX_MAX_PHRASES);
                break;
            }
            c->ph[c->n++] = p;
            c->total_tokens += p.n;
        }
    }
    cJSON_Delete(root);
    c->all = c->n == 32 ? 0xffffffffu : (1u << c->n) - 1u;
    return rc;
}

int lex_check_constraint(const char *constraint_json, db_model *m, char *err, size_t errlen) {
    lex_constraints c;
    return lex_parse(constraint_json, m, &c, err, errlen);
}

/* ---- tracking ----------------------------------------------------------- */

lex_state lex_advance(const lex_constraints *c, lex_state s, db_token t) {
    if (s.cur >= 0) {
        const lex_phrase *p = &c->ph[s.cur];
        if (p->tok[s.prog] == t) {
            if (++s.prog == p->n) {
                s.met |= 1u << s.cur;
                s.cur = -1;
                s.prog = 0;
            }
            return s;
        }
        s.cur = -1;              /* abandoned: its tokens no longer count */
        s.prog = 0;
    }
    for (int i = 0; i < c->n; i++) {
        if ((s.met >> i) & 1u || c->ph[i].tok[0] != t) continue;
        if (c->ph[i].n == 1) s.met |= 1u << i;
        else {
            s.cur = (int8_t)i;
            s.prog = 1;
        }
        break;
    }
    return s;
}

int lex_phrases_met(lex_state s) { return __builtin_popcount(s.met); }

int lex_tokens_met(const lex_constraints *c, lex_state s) {
    int n = s.prog;
    for (int i = 0; i < c->n; i++)
        if ((s.met >> i) & 1u) n += c->ph[i].n;
    return n;
}

int lex_allowed(const lex_constraints *c, lex_state s, db_token *out) {
    if (s.cur >= 0) {
        out[0] = c->ph[s.cur].tok[s.prog];
        return 1;
    }
    int n = 0;
    for (int i = 0; i < c->n; i++) {
        if ((s.met >> i) & 1u) continue;
        bool seen = false;
        for (int j = 0; j < n && !seen; j++) seen = out[j] == c->ph[i].tok[0];
        if (!seen) out[n++] = c->ph[i].tok[0];
    }
    return n;
}

/* ---- rows --------------------------------------------------------------- */

void lex_log_softmax(const float *logits, int n, float *out) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        if (logits[i] > -1e29f) sum += exp((double)logits[i] - mx);
    float lz = (float)(mx + log(sum));
    for (int i = 0; i < n; i++) out[i] = logits[i] > -1e29f ? logits[i] - lz : (float)LEX_NEG_INF;
}

int lex_topk(const float *lp, int n, int k, db_token skip, db_token *out) {
    int m = 0;
    for (int v = 0; v < n; v++) {
        if (v == skip || lp[v] <= (float)LEX_NEG_INF * 0.5f) continue;
        if (m == k && lp[v] <= lp[out[m - 1]]) continue;
        int j = m < k ? m++ : m - 1;
        while (j > 0 && lp[out[j - 1]] < lp[v]) {    /* strict: earlier (lower) ids win ties */
            out[j] = out[j - 1];
            j--;
        }
        out[j] = v;
    }
    return m;
}

/* ---- candidates --------------------------------------------------------- */

static int cmp_score(const void *a, const void *b) {
    const lex_cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->parent != y->parent) return x->parent < y->parent ? -1 : 1;
    return (x->tok > y->tok) - (x->tok < y->tok);
}

static int cmp_parent_tok(const void *a, const void *b) {
    const lex_cand *x = a, *y = b;
    if (x->parent != y->parent) return x->parent < y->parent ? -1 : 1;
    return (x->tok > y->tok) - (x->tok < y->tok);
}

void lex_cands_sort_score(lex_cand *c, int n) {
    if (n > 1) qsort(c, (size_t)n, sizeof *c, cmp_score);
}

int lex_cands_unique(lex_cand *c, int n) {
    if (n < 2) return n;
    qsort(c, (size_t)n, sizeof *c, cmp_parent_tok);
    int m = 1;
    for (int i = 1; i < n; i++)
        if (c[i].parent != c[m - 1].parent || c[i].tok != c[m - 1].tok) c[m++] = c[i];
    return m;
}

/* ---- search ------------------------------------------------------------- */

void lex_search_free(lex_search *s) {
    free(s->hyp);
    free(s->next);
    free(s->tok);
    free(s->tok_next);
    free(s->lp);
    free(s->slot_used);
    free(s->best_tok);
    free(s->fb_tok);
    db_batch_free(&s->batch);
    memset(s, 0, sizeof *s);
}

bool lex_budget_fits(const lex_search *s, int n_rows, int reserve_calls, int reserve_rows) {
    if (s->o.max_forwards > 0 && s->forwards + 1 + reserve_calls > s->o.max_forwards) return false;
    if (s->o.max_eval_tokens > 0 && s->eval_tokens + n_rows + (int64_t)reserve_rows > s->o.max_eval_tokens)
        return false;
    return true;
}

int lex_forward(lex_search *s, const db_batch *b, char *err, size_t errlen) {
    if (db_forward(s->m, b, s->req->events, DB_ROLE_TARGET, s->step) != 0)
        return db_errf(err, errlen, "forward at step %d (%d rows): %s", s->step, b->n_tokens,
                       db_model_last_error(s->m));
    s->forwards++;
    s->eval_tokens += b->n_tokens;
    return 0;
}

static double final_key(const lex_search *s, double score, int len) {
    if (s->o.len_norm == 0.0 || len <= 0) return score;
    return score / pow((double)len, s->o.len_norm);
}

/* A finished hypothesis: tokens[0..n), ended by EOS or not. */
static void record(lex_search *s, const db_token *tokens, int n, lex_state st, double score, bool eos) {
    if (lex_complete(&s->con, st)) {
        double key = final_key(s, score, n + (eos ? 1 : 0));
        if (!s->have_best || key > s->best_key) {
            memcpy(s->best_tok, tokens, sizeof *tokens * (size_t)n);
            s->best_len = n;
            s->best_key = key;
            s->best_score = score;
            s->best_st = st;
            s->best_eos = eos;
            s->have_best = true;
        }
    }
    int cov = lex_tokens_met(&s->con, st);
    if (!s->have_fb || cov > s->fb_cov || (cov == s->fb_cov && score > s->fb_score)) {
        memcpy(s->fb_tok, tokens, sizeof *tokens * (size_t)n);
        s->fb_len = n;
        s->fb_cov = cov;
        s->fb_score = score;
        s->fb_st = st;
        s->have_fb = true;
    }
}

void lex_search_finish_eos(lex_search *s, int i) {
    if (!lex_complete(&s->con, s->hyp[i].st) || s->eos == DB_TOKEN_NULL) return;
    float le = lex_row(s, i)[s->eos];
    if (le <= (float)LEX_NEG_INF * 0.5f) return;
    record(s, lex_hyp_tokens(s, i), s->t, s->hyp[i].st, s->hyp[i].score + le, true);
}

int lex_search_begin(lex_search *s, const db_gen_request *req, const lex_search_opts *o, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->req = req;
    s->m = req->target;
    s->o = *o;
    s->V = db_model_n_vocab(s->m);
    s->L = req->max_new_tokens;
    s->n_prompt = req->n_prompt;
    s->eos = req->stop_at_eog ? db_model_eos(s->m) : DB_TOKEN_NULL;
    if (req->n_prompt < 1) return db_errf(err, errlen, "empty prompt");
    if (s->L < 1) return db_errf(err, errlen, "max_new_tokens must be at least 1");
    int64_t t0 = db_now_ns();
    if (lex_parse(req->constraint_json, s->m, &s->con, err, errlen) != 0) return -1;
    db_emit_compile(req->events, t0, db_now_ns());
    const int H = o->max_hyps, L = s->L;
    s->hyp = malloc(sizeof *s->hyp * (size_t)H);
    s->next = malloc(sizeof *s->next * (size_t)H);
    s->tok = malloc(sizeof *s->tok * (size_t)H * (size_t)L);
    s->tok_next = malloc(sizeof *s->tok * (size_t)H * (size_t)L);
    s->lp = malloc(sizeof *s->lp * (size_t)H * (size_t)s->V);
    s->slot_used = calloc((size_t)H, sizeof *s->slot_used);
    s->best_tok = malloc(sizeof *s->tok * (size_t)L);
    s->fb_tok = malloc(sizeof *s->tok * (size_t)L);
    int bcap = req->n_prompt > H ? req->n_prompt : H;
    if (!s->hyp || !s->next || !s->tok || !s->tok_next || !s->lp || !s->slot_used || !s->best_tok || !s->fb_tok ||
        db_batch_init(&s->batch, bcap, 1) != 0) {
        lex_search_free(s);
        return db_errf(err, errlen, "out of memory (%d hypotheses of %d tokens)", H, L);
    }
    for (int i = 0; i < req->n_prompt; i++)
        db_batch_add1(&s->batch, req->prompt[i], i, 0, i == req->n_prompt - 1);
    if (!lex_budget_fits(s, req->n_prompt, 0, 0)) {
        s->out_of_budget = true;
        return 1;
    }
    if (lex_forward(s, &s->batch, err, errlen) != 0) {
        lex_search_free(s);
        return -1;
    }
    lex_log_softmax(db_model_logits(s->m, s->batch.n_tokens - 1), s->V, s->lp);
    s->hyp[0] = (lex_hyp){ 0, lex_state_start(), 0.0 };
    s->n_hyp = 1;
    s->slot_used[0] = 1;
    return 0;
}

/* Every live hypothesis counts as finished where it stands (cut short). */
static void record_live(lex_search *s) {
    for (int i = 0; i < s->n_hyp; i++) record(s, lex_hyp_tokens(s, i), s->t, s->hyp[i].st, s->hyp[i].score, false);
}

int lex_search_advance(lex_search *s, const lex_cand *cands, int n, char *err, size_t errlen) {
    const int L = s->L, H = s->o.max_hyps;
    if (n > H) n = H;
    /* the children's token histories */
    for (int j = 0; j < n; j++) {
        db_token *dst = s->tok_next + (size_t)j * (size_t)L;
        memcpy(dst, lex_hyp_tokens(s, cands[j].parent), sizeof *dst * (size_t)s->t);
        dst[s->t] = cands[j].tok;
    }
    s->t++;
    s->step++;
    db_token *swap = s->tok;
    s->tok = s->tok_next;
    s->tok_next = swap;
    if (s->t >= L || n == 0) {          /* length reached: all finished */
        for (int j = 0; j < n; j++)
            record(s, lex_hyp_tokens(s, j), s->t, cands[j].st, cands[j].score, false);
        s->n_hyp = 0;
        return 1;
    }
    /* nothing can beat the best finished hypothesis any more (scores only fall) */
    if (s->have_best && s->o.len_norm == 0.0) {
        double top = LEX_NEG_INF;
        for (int j = 0; j < n; j++)
            if (cands[j].score > top) top = cands[j].score;
        if (top <= s->best_score) {
            s->n_hyp = 0;
            return 1;
        }
    }
    if (s->req->cancel && *s->req->cancel) {
        for (int j = 0; j < n; j++) s->next[j] = (lex_hyp){ -1, cands[j].st, cands[j].score };
        memcpy(s->hyp, s->next, sizeof *s->hyp * (size_t)n);
        s->n_hyp = n;
        record_live(s);
        return 1;
    }
    if (!lex_budget_fits(s, n, 0, 0)) {
        for (int j = 0; j < n; j++) s->next[j] = (lex_hyp){ -1, cands[j].st, cands[j].score };
        memcpy(s->hyp, s->next, sizeof *s->hyp * (size_t)n);
        s->n_hyp = n;
        record_live(s);
        s->out_of_budget = true;
        return 1;
    }
    /* sequence ids: a parent's first child keeps its sequence; further
     * children get free ones, forked from the parent's cache */
    bool *inherited = calloc((size_t)s->n_hyp, sizeof *inherited);
    if (!inherited) return db_errf(err, errlen, "out of memory");
    for (int i = 0; i < H; i++) s->slot_used[i] = 0;
    for (int j = 0; j < n; j++) {
        int p = cands[j].parent;
        s->next[j] = (lex_hyp){ -1, cands[j].st, cands[j].score };
        if (!inherited[p]) {
            inherited[p] = true;
            s->next[j].slot = s->hyp[p].slot;
            s->slot_used[s->hyp[p].slot] = 1;
        }
    }
    int rc = 0, free_at = 0;
    for (int j = 0; j < n && rc == 0; j++) {
        if (s->next[j].slot >= 0) continue;
        while (s->slot_used[free_at]) free_at++;
        int q = free_at;
        s->slot_used[q] = 1;
        s->next[j].slot = q;
        if (db_model_seq_rm(s->m, q, -1, -1) != 0 ||
            db_model_seq_cp(s->m, s->hyp[cands[j].parent].slot, q, -1, -1) != 0)
            rc = db_errf(err, errlen, "KV fork %d -> %d: %s", s->hyp[cands[j].parent].slot, q,
                         db_model_last_error(s->m));
    }
    free(inherited);
    for (int q = 0; q < H && rc == 0; q++)      /* drop the caches of dead hypotheses */
        if (!s->slot_used[q] && db_model_seq_rm(s->m, q, -1, -1) != 0)
            rc = db_errf(err, errlen, "KV drop %d: %s", q, db_model_last_error(s->m));
    if (rc) return -1;
    const int32_t pos = s->n_prompt + s->t - 1;
    db_batch_clear(&s->batch);
    for (int j = 0; j < n; j++) db_batch_add1(&s->batch, cands[j].tok, pos, s->next[j].slot, true);
    memcpy(s->hyp, s->next, sizeof *s->hyp * (size_t)n);
    s->n_hyp = n;
    if (lex_forward(s, &s->batch, err, errlen) != 0) return -1;
    for (int j = 0; j < n; j++)
        lex_log_softmax(db_model_logits(s->m, j), s->V, s->lp + (size_t)j * (size_t)s->V);
    return 0;
}

int lex_search_end(lex_search *s, db_gen_output *out, char *err, size_t errlen) {
    if (s->n_hyp > 0) record_live(s);    /* stopped early with live hypotheses */
    const db_token *tokens = NULL;
    int n = 0;
    lex_state st = lex_state_start();
    double score = 0.0;
    bool success = s->have_best;
    if (s->have_best) {
        tokens = s->best_tok;
        n = s->best_len;
        st = s->best_st;
        score = s->best_score;
    } else if (s->have_fb) {
        tokens = s->fb_tok;
        n = s->fb_len;
        st = s->fb_st;
        score = s->fb_score;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (db_output_push(out, tokens[i]) != 0) rc = db_errf(err, errlen, "out of memory");
        else db_emit_commit(s->req->events, i, 1);
    }
    const char *why = s->req->cancel && *s->req->cancel ? "cancel"
                      : s->out_of_budget               ? "budget"
                      : success && s->best_eos          ? "eog"
                                                        : "length";
    snprintf(out->stop_reason, sizeof out->stop_reason, "%s", why);
    db_output_stat(out, "constraints_total", s->con.n);
    db_output_stat(out, "constraints_met", lex_phrases_met(st));
    db_output_stat(out, "constraint_success", success ? 1.0 : 0.0);
    db_output_stat(out, "search_score", score);
    lex_search_free(s);
    return rc;
}
