/* beam.c — beam search and diverse beam search.
 *
 * Standard beam search keeps `width` live hypotheses, each in its own KV
 * sequence (search_paths.h's path KV), and extends all of them with ONE target
 * forward per step.  Candidates are ranked by their summed log-probability;
 * of the 2·width best candidates, those ending in an end-of-generation token
 * that rank within the first `width` become finished hypotheses, and the
 * best `width` others stay live (the Hugging Face / fairseq rule).  A
 * hypothesis that reaches max_new_tokens is finished as well.  Finished
 * hypotheses are ranked by score / length^length_penalty (length counts the
 * EOS token; 0 = the raw model score, the MAP objective).  The search stops
 * early when `width` hypotheses are finished and no live one scores (at its
 * current length) above the width-th finished one — exact for
 * length_penalty 0, since scores only decrease, a heuristic otherwise.
 *
 * Diverse beam search (Vijayakumar et al. 2016, "Diverse Beam Search"):
 * with groups = G > 1 the width is split into G groups of width/G.  Each
 * step the groups choose in order; group g ranks its candidates by
 * log-probability minus `diversity` × (how many times earlier groups chose
 * that token at this step) — the Hamming diversity term — while hypotheses
 * keep their true log-probability as score.  Every group keeps its own
 * finished list and early-stopping test.  The output is the best finished
 * hypothesis of all groups.
 *
 * Outcomes: search_score, search_norm_score (search_paths.h), beam_finished, and
 * the diversity of the best `width` finished hypotheses: nbest_distinct2
 * (distinct bigrams / bigrams) and nbest_self_bleu.
 */
#include "engine.h"
#include "search_paths.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/textmetrics.h"
#include "harness/util/util.h"

#define MAX_WIDTH 256

static const db_param_def beam_params[] = {
    { "width",          DB_PARAM_INT,   "4", 1, MAX_WIDTH, NULL, "live hypotheses (KV sequences); all extended in one forward per step" },
    { "length_penalty", DB_PARAM_FLOAT, "0", 0.0, 5.0, NULL, "rank finished hypotheses by score / length^this (0 = raw log-probability)" },
    { "groups",         DB_PARAM_INT,   "1", 1, 64, NULL, "diverse beam search groups (1 = standard beam search); must divide width" },
    { "diversity",      DB_PARAM_FLOAT, "0.5", 0.0, 100.0, NULL, "Hamming diversity penalty per earlier-group choice of a token (groups > 1)" },
};

static int beam_validate(const db_params *p, char *err, size_t errlen) {
    int w = db_params_int(p, "width"), g = db_params_int(p, "groups");
    if (w % g != 0) return db_errf(err, errlen, "parameter 'groups': %d does not divide width %d", g, w);
    return 0;
}

static int beam_n_seq(const db_params *p) { return db_params_int(p, "width"); }

typedef struct live_hyp {
    db_token *tok;
    int len, group;
    double score;
} live_hyp;

static int cmp_norm_desc(const void *a, const void *b) {
    const db_hyp *x = a, *y = b;
    return x->norm < y->norm ? 1 : x->norm > y->norm ? -1 : 0;
}

/* The k-th best (0-based) normalised score among finished hypotheses of
 * group g; -INFINITY when fewer than k+1. */
static double kth_finished(const db_hyp_list *fin, const int *fin_group, int g, int k, double *scratch) {
    int n = 0;
    for (int i = 0; i < fin->n; i++)
        if (fin_group[i] == g) scratch[n++] = fin->h[i].norm;
    if (n <= k) return -INFINITY;
    for (int a = 0; a <= k; a++)          /* partial selection sort, k is small */
        for (int b = a + 1; b < n; b++)
            if (scratch[b] > scratch[a]) { double t = scratch[a]; scratch[a] = scratch[b]; scratch[b] = t; }
    return scratch[k];
}

int db_beam_search(const db_gen_request *req, db_hyp_list *nbest, char *err, size_t errlen) {
    const db_params *P = req->params;
    const int W = db_params_int(P, "width"), G = db_params_int(P, "groups");
    const int gw = W / G;
    const double alpha = db_params_num(P, "length_penalty"), lambda = db_params_num(P, "diversity");
    const int L = req->max_new_tokens;
    db_model *m = req->target;
    const int V = db_model_n_vocab(m);
    memset(nbest, 0, sizeof *nbest);
    if (L < 1) return 0;

    db_pathkv kv;
    if (db_pathkv_init(&kv, m, DB_ROLE_TARGET, req->events, req->prompt, req->n_prompt, W, L, W * L, err, errlen) != 0)
        return -1;
    live_hyp *live = calloc((size_t)W, sizeof *live), *next = calloc((size_t)W, sizeof *next);
    db_token *tokbuf = malloc(sizeof(db_token) * (size_t)W * 2 * (size_t)L);
    float *lp = malloc(sizeof(float) * (size_t)W * (size_t)V);
    float *sel = malloc(sizeof(float) * (size_t)W * (size_t)V);
    int *idx = malloc(sizeof(int) * 2 * (size_t)W);
    int *count = calloc((size_t)V, sizeof(int));
    int *members = malloc(sizeof(int) * (size_t)W);
    db_path_eval *pe = malloc(sizeof *pe * (size_t)W);
    int *fin_group = NULL;
    double *scratch = NULL;
    int fin_cap = 0, rc = 0;
    db_hyp_list fin = { 0 };
    if (!live || !next || !tokbuf || !lp || !sel || !idx || !count || !members || !pe) {
        rc = db_errf(err, errlen, "out of memory");
        goto done;
    }
    for (int i = 0; i < W; i++) {
        live[i].tok = tokbuf + (size_t)i * L;
        next[i].tok = tokbuf + (size_t)(W + i) * L;
    }
    /* one empty hypothesis per group */
    int n_live = G;
    for (int g = 0; g < G; g++) live[g] = (live_hyp){ live[g].tok, 0, g, 0.0 };

    for (int t = 0; t < L && n_live > 0; t++) {
        if (req->cancel && *req->cancel) { rc = 1; break; }
        if (t > 0) {
            for (int i = 0; i < n_live; i++) pe[i] = (db_path_eval){ live[i].tok, live[i].len, live[i].len - 1, 0, 0 };
            if (db_pathkv_eval(&kv, pe, n_live, t, err, errlen) != 0) { rc = -1; break; }
        }
        memset(count, 0, sizeof(int) * (size_t)V);
        int n_next = 0;
        for (int g = 0; g < G; g++) {
            int nm = 0;
            for (int i = 0; i < n_live; i++)
                if (live[i].group == g) members[nm++] = i;
            if (nm == 0) continue;
            for (int k = 0; k < nm; k++) {
                const live_hyp *h = &live[members[k]];
                const float *logits = t == 0 ? kv.root_logits : db_pathkv_logits(&kv, &pe[members[k]], h->len - 1);
                float *row = lp + (size_t)k * V, *srow = sel + (size_t)k * V;
                db_log_softmax(logits, V, row);
                for (int v = 0; v < V; v++)
                    srow[v] = row[v] == -INFINITY ? -INFINITY
                                                  : (float)(h->score + row[v] - (g > 0 ? lambda * count[v] : 0.0));
            }
            int nc = db_top_k(sel, nm * V, 2 * gw, idx);
            int kept = 0;
            for (int r = 0; r < nc && kept < gw; r++) {
                int k = idx[r] / V;
                db_token v = (db_token)(idx[r] % V);
                const live_hyp *h = &live[members[k]];
                double raw = h->score + lp[(size_t)k * V + v];
                bool eog = req->stop_at_eog && db_model_is_eog(m, v);
                if (eog && r >= gw) continue;
                count[v]++;
                if (eog || h->len + 1 == L) {
                    memcpy(next[n_next].tok, h->tok, sizeof(db_token) * (size_t)h->len);
                    next[n_next].tok[h->len] = v;
                    if (db_hyp_list_add(&fin, next[n_next].tok, h->len + 1, eog, raw, db_length_norm(raw, h->len + 1, alpha)) != 0) {
                        rc = db_errf(err, errlen, "out of memory");
                        goto done;
                    }
                    if (fin.n > fin_cap) {
                        fin_cap = fin.cap;
                        int *fg = realloc(fin_group, sizeof(int) * (size_t)fin_cap);
                        double *sc = realloc(scratch, sizeof(double) * (size_t)fin_cap);
                        if (fg) fin_group = fg;
                        if (sc) scratch = sc;
                        if (!fg || !sc) { rc = db_errf(err, errlen, "out of memory"); goto done; }
                    }
                    fin_group[fin.n - 1] = g;
                    if (!eog) kept++;
                    continue;
                }
                live_hyp *nh = &next[n_next++];
                memcpy(nh->tok, h->tok, sizeof(db_token) * (size_t)h->len);
                nh->tok[h->len] = v;
                nh->len = h->len + 1;
                nh->group = g;
                nh->score = raw;
                kept++;
            }
        }
        /* early stopping, per group */
        int n_keep = 0;
        for (int g = 0; g < G; g++) {
            double worst_fin = fin.n ? kth_finished(&fin, fin_group, g, gw - 1, scratch) : -INFINITY;
            double best_live = -INFINITY;
            for (int i = 0; i < n_next; i++)
                if (next[i].group == g) {
                    double nrm = db_length_norm(next[i].score, next[i].len, alpha);
                    if (nrm > best_live) best_live = nrm;
                }
            bool done_g = worst_fin > -INFINITY && !(best_live > worst_fin);
            for (int i = 0; i < n_next; i++)
                if (next[i].group == g && !done_g) {
                    live_hyp tmp = live[n_keep];
                    live[n_keep] = next[i];
                    next[i] = tmp;   /* keep the token buffers distinct */
                    n_keep++;
                }
        }
        n_live = n_keep;
    }
    if (rc == 0) {
        qsort(fin.h, (size_t)fin.n, sizeof *fin.h, cmp_norm_desc);
        *nbest = fin;
        memset(&fin, 0, sizeof fin);
    }
done:
    db_hyp_list_free(&fin);
    free(fin_group);
    free(scratch);
    free(live);
    free(next);
    free(tokbuf);
    free(lp);
    free(sel);
    free(idx);
    free(count);
    free(members);
    free(pe);
    db_pathkv_free(&kv);
    return rc;
}

/* Diversity of the best `width` finished hypotheses as text: distinct
 * bigrams and self-BLEU (harness/util/textmetrics.h). */
static int nbest_diversity(const db_gen_request *req, const db_hyp_list *nb, db_gen_output *out) {
    int n = nb->n < db_params_int(req->params, "width") ? nb->n : db_params_int(req->params, "width");
    if (n < 2) return 0;
    char **text = calloc((size_t)n, sizeof *text);
    if (!text) return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        int len = nb->h[i].eog ? nb->h[i].len - 1 : nb->h[i].len;
        int need = db_model_detokenize(req->target, nb->h[i].tok, len, NULL, 0);
        if (need < 0) need = -need;
        text[i] = malloc((size_t)need + 1);
        if (!text[i]) { rc = -1; break; }
        int got = db_model_detokenize(req->target, nb->h[i].tok, len, text[i], need);
        text[i][got < 0 ? 0 : got] = 0;
    }
    if (rc == 0) {
        db_output_stat(out, "nbest_distinct2", db_distinct_n((const char *const *)text, n, 2));
        db_output_stat(out, "nbest_self_bleu", db_self_bleu((const char *const *)text, n));
    }
    for (int i = 0; i < n; i++) free(text[i]);
    free(text);
    return rc;
}

static int beam_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    db_hyp_list nbest;
    int rc = db_beam_search(req, &nbest, err, errlen);
    if (rc == 1) snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
    if (rc == 0 && nbest.n > 0) {
        rc = db_search_emit(req, out, &nbest.h[0], err, errlen);
        db_output_stat(out, "beam_finished", nbest.n);
        if (rc == 0 && nbest_diversity(req, &nbest, out) != 0) rc = db_errf(err, errlen, "out of memory");
    } else if (rc == 0) {
        snprintf(out->stop_reason, sizeof out->stop_reason, "length");
    }
    db_hyp_list_free(&nbest);
    return rc;
}

const db_engine db_engine_beam = {
    .name = "beam",
    .summary = "beam search (width, length penalty) and diverse beam search (groups, Hamming diversity); one forward per step",
    .params = beam_params,
    .n_params = (int)(sizeof beam_params / sizeof beam_params[0]),
    .n_seq_max = beam_n_seq,
    .validate = beam_validate,
    .generate = beam_generate,
};
