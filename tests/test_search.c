/* test_search.c — the search engines on the exact backend against brute
 * force, and the text metrics against hand-computed values.
 *
 * Brute force enumerates every output up to length L of a small-vocabulary
 * exact model (outputs end at EOS or at length L) and scores each with the
 * closed form (double-precision log-softmax computed here).  `exact` must
 * find the best score and prove it; beam search with width >= V^L must equal
 * it; `lattice` with recombination suffix >= the model's order must hold
 * exactly the brute-force paths with their scores (with a negative control:
 * a too-short suffix gives wrong path scores); budgets are checked against
 * the FORWARD events; diverse beam search must return hypotheses that start
 * differently (control: diversity 0 does not); `report --search` must count
 * the search errors the test counts itself; `export-lattice` must write
 * well-formed DOT (checked by `dot` when installed). */
#include "test.h"
#include "fixtures.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engines/engine.h"
#include "engines/lattice.h"
#include "engines/search_paths.h"
#include "harness/model/model_exact.h"
#include "harness/util/textmetrics.h"

#define MAXL 6

static db_model *open_exact(const char *spec, int n_seq) { return db_test_open_model("exact", spec, 32, 512, n_seq); }

/* ---- brute force ---- */
typedef struct bf_path {
    db_token tok[MAXL];
    int len;
    double score;
} bf_path;

typedef struct bf {
    bf_path *p;
    int n, cap;
    int best;
} bf;

static void bf_rec(const db_exact_spec *spec, db_token *ctx, int n_ctx, int depth, int L, double score, bf *out) {
    float logits[64];
    db_exact_logits(spec, ctx, n_ctx, n_ctx, logits);
    double mx = -1e300, z = 0;
    for (int v = 0; v < spec->vocab; v++) if (logits[v] > -1e29f && logits[v] > mx) mx = logits[v];
    for (int v = 0; v < spec->vocab; v++) if (logits[v] > -1e29f) z += exp(logits[v] - mx);
    for (int v = 0; v < spec->vocab; v++) {
        if (logits[v] <= -1e29f) continue;
        double s = score + (logits[v] - mx - log(z));
        ctx[n_ctx] = v;
        if (v == DB_EXACT_EOS || depth + 1 == L) {
            if (out->n == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 256;
                out->p = realloc(out->p, sizeof *out->p * (size_t)out->cap);
            }
            bf_path *p = &out->p[out->n];
            p->len = depth + 1;
            memcpy(p->tok, ctx + n_ctx - depth, sizeof(db_token) * (size_t)(depth + 1));
            p->score = s;
            if (out->best < 0 || s > out->p[out->best].score) out->best = out->n;
            out->n++;
        } else {
            bf_rec(spec, ctx, n_ctx + 1, depth + 1, L, s, out);
        }
    }
}

static void brute_force(const char *spec_text, const db_token *prompt, int n_prompt, int L, bf *out) {
    db_exact_spec spec;
    db_exact_spec_parse(spec_text, &spec, NULL, 0);
    db_token ctx[32];
    memcpy(ctx, prompt, sizeof(db_token) * (size_t)n_prompt);
    memset(out, 0, sizeof *out);
    out->best = -1;
    bf_rec(&spec, ctx, n_prompt, 0, L, 0.0, out);
}

static const bf_path *bf_find(const bf *b, const db_token *tok, int len) {
    for (int i = 0; i < b->n; i++)
        if (b->p[i].len == len && memcmp(b->p[i].tok, tok, sizeof(db_token) * (size_t)len) == 0) return &b->p[i];
    return NULL;
}

/* ---- running engines ---- */
typedef struct run_result {
    int rc;
    db_gen_output out;
    int target_forwards, draft_forwards;
} run_result;

static void set_params(db_params *p, const db_engine *e, const char *const *kv) {
    char err[256];
    db_params_defaults(p, e->params, e->n_params);
    for (int i = 0; kv && kv[i]; i += 2)
        if (db_params_set(p, kv[i], kv[i + 1], err, sizeof err) != 0) db_test_fail(__FILE__, __LINE__, "%s", err);
}

static run_result run_engine(const char *name, db_model *m, db_model *draft, const db_token *prompt, int n_prompt,
                             int max_new, const char *const *kv) {
    const db_engine *e = db_engine_find(name);
    run_result r;
    memset(&r, 0, sizeof r);
    db_params p;
    set_params(&p, e, kv);
    db_event_log log;
    db_event_log_init(&log);
    db_event_log_start(&log);
    db_gen_request req = { .target = m, .draft = draft, .prompt = prompt, .n_prompt = n_prompt,
                           .max_new_tokens = max_new, .stop_at_eog = true, .seed = 5, .params = &p, .events = &log };
    db_model_reset(m);
    if (draft) db_model_reset(draft);
    char err[256];
    r.rc = e->generate(&req, &r.out, err, sizeof err);
    if (r.rc != 0) db_test_fail(__FILE__, __LINE__, "%s: %s", name, err);
    for (int i = 0; i < log.n; i++)
        if (log.ev[i].kind == DB_EV_FORWARD) {
            if (log.ev[i].role == DB_ROLE_DRAFT) r.draft_forwards++;
            else r.target_forwards++;
        }
    db_event_log_free(&log);
    return r;
}

static double stat_of(const db_gen_output *o, const char *name) {
    for (int i = 0; i < o->n_stats; i++)
        if (strcmp(o->stat_name[i], name) == 0) return o->stat_value[i];
    return NAN;
}

/* The output (plus EOS when it stopped there) as a brute-force path. */
static int output_path(const db_gen_output *o, db_token *tok) {
    int n = o->n_tokens;
    if (n > 0) memcpy(tok, o->tokens, sizeof(db_token) * (size_t)n);
    if (strcmp(o->stop_reason, "eog") == 0) tok[n++] = DB_EXACT_EOS;
    return n;
}

#define SPEC_FMT "vocab=6,order=2,seed=%d,sharpness=1.5,eos_bias=-0.5"

static void exact_equals_brute_force(void) {
    const char *batch[] = { "1", "3" };
    int reexpanded = 0;
    for (int seed = 1; seed <= 6; seed++) {
        char spec[128];
        snprintf(spec, sizeof spec, SPEC_FMT, seed);
        db_model *m = open_exact(spec, 8);
        if (!m) return;
        db_token prompt[3] = { DB_EXACT_BOS, 3 + seed % 3, 4 };
        for (int L = 1; L <= 5; L++) {
            bf b;
            brute_force(spec, prompt, 3, L, &b);
            for (int bi = 0; bi < 2; bi++) {
                char Ls[16];
                snprintf(Ls, sizeof Ls, "%d", L);
                const char *kv[] = { "max_len", Ls, "max_nodes", "100000", "batch", batch[bi], NULL };
                run_result r = run_engine("exact", m, NULL, prompt, 3, L, kv);
                CHECK_INT_EQ(stat_of(&r.out, "search_optimal"), 1);
                CHECK_NEAR(stat_of(&r.out, "search_score"), b.p[b.best].score, 1e-4);
                db_token tok[MAXL + 1];
                int n = output_path(&r.out, tok);
                const bf_path *p = bf_find(&b, tok, n);
                CHECK_MSG(p != NULL, "seed %d L %d: exact output is not a complete path", seed, L);
                if (p) CHECK_NEAR(p->score, b.p[b.best].score, 1e-4);
                db_output_free(&r.out);
            }
            /* one stored child per node: re-expansions, same optimum */
            char Ls[16];
            snprintf(Ls, sizeof Ls, "%d", L);
            const char *kv2[] = { "max_len", Ls, "max_nodes", "100000", "children", "1", NULL };
            const char *kv3[] = { "max_len", Ls, "max_nodes", "100000", NULL };
            run_result r = run_engine("exact", m, NULL, prompt, 3, L, kv2);
            run_result r3 = run_engine("exact", m, NULL, prompt, 3, L, kv3);
            CHECK_INT_EQ(stat_of(&r.out, "search_optimal"), 1);
            CHECK_NEAR(stat_of(&r.out, "search_score"), b.p[b.best].score, 1e-4);
            reexpanded += stat_of(&r.out, "search_nodes") > stat_of(&r3.out, "search_nodes");
            db_output_free(&r.out);
            db_output_free(&r3.out);
            free(b.p);
        }
        db_model_close(m);
    }
    CHECK_MSG(reexpanded > 0, "children=1 never needed a re-expansion");
}

static void exact_respects_node_budget(void) {
    char spec[128];
    snprintf(spec, sizeof spec, SPEC_FMT, 2);
    db_model *m = open_exact(spec, 8);
    if (!m) return;
    db_token prompt[2] = { DB_EXACT_BOS, 5 };
    for (int budget = 1; budget <= 9; budget += 2) {
        char bs[16];
        snprintf(bs, sizeof bs, "%d", budget);
        const char *kv[] = { "max_len", "6", "max_nodes", bs, NULL };
        run_result r = run_engine("exact", m, NULL, prompt, 2, 6, kv);
        CHECK(r.target_forwards <= budget + 1);
        CHECK(stat_of(&r.out, "search_nodes") <= budget);
        db_output_free(&r.out);
    }
    db_model_close(m);
}

static void wide_beam_equals_exact(void) {
    for (int seed = 1; seed <= 6; seed++) {
        char spec[128];
        snprintf(spec, sizeof spec, SPEC_FMT, seed);
        db_model *m = open_exact(spec, 64);
        if (!m) return;
        db_token prompt[2] = { DB_EXACT_BOS, 3 + seed % 3 };
        /* 4 generable tokens (EOS, w3..w5), L = 3: 4^3 = 64 <= width */
        bf b;
        brute_force(spec, prompt, 2, 3, &b);
        const char *kv[] = { "width", "64", NULL };
        run_result r = run_engine("beam", m, NULL, prompt, 2, 3, kv);
        CHECK_NEAR(stat_of(&r.out, "search_score"), b.p[b.best].score, 1e-4);
        db_token tok[MAXL + 1];
        int n = output_path(&r.out, tok);
        const bf_path *p = bf_find(&b, tok, n);
        CHECK(p != NULL);
        if (p) CHECK_NEAR(p->score, stat_of(&r.out, "search_score"), 1e-4);
        /* one prompt forward + one per step after the first */
        CHECK(r.target_forwards <= 3);
        db_output_free(&r.out);
        free(b.p);
        db_model_close(m);
    }
}

/* Greedy (width 1) beam and width-2 beam: their scores are scores of real
 * paths, never above the optimum, and width 1 errs on some prompts. */
static void beam_search_errors(void) {
    int errors1 = 0, n = 0;
    for (int seed = 1; seed <= 12; seed++) {
        char spec[128];
        snprintf(spec, sizeof spec, "vocab=8,order=2,seed=%d,sharpness=1,eos_bias=-1", seed);
        db_model *m = open_exact(spec, 8);
        if (!m) return;
        db_token prompt[2] = { DB_EXACT_BOS, 3 };
        bf b;
        brute_force(spec, prompt, 2, 4, &b);
        const char *w1[] = { "width", "1", NULL }, *w2[] = { "width", "2", NULL };
        run_result r1 = run_engine("beam", m, NULL, prompt, 2, 4, w1);
        run_result r2 = run_engine("beam", m, NULL, prompt, 2, 4, w2);
        double best = b.p[b.best].score;
        double s1 = stat_of(&r1.out, "search_score"), s2 = stat_of(&r2.out, "search_score");
        CHECK(s1 <= best + 1e-6);
        CHECK(s2 <= best + 1e-6);
        db_token tok[MAXL + 1];
        int len = output_path(&r1.out, tok);
        const bf_path *p = bf_find(&b, tok, len);
        CHECK(p != NULL);
        if (p) CHECK_NEAR(p->score, s1, 1e-4);
        errors1 += s1 < best - 1e-6;
        n++;
        db_output_free(&r1.out);
        db_output_free(&r2.out);
        free(b.p);
        db_model_close(m);
    }
    CHECK_MSG(errors1 > 0 && errors1 < n, "greedy search errors %d of %d: expected some but not all", errors1, n);
}

static void diverse_beam_distinct(void) {
    char spec[128];
    snprintf(spec, sizeof spec, "vocab=12,order=2,seed=4,sharpness=3,eos_bias=-2");
    db_model *m = open_exact(spec, 8);
    if (!m) return;
    db_token prompt[2] = { DB_EXACT_BOS, 6 };
    const char *lam[] = { "0", "5" };
    int distinct_first[2] = { 0, 0 };
    for (int li = 0; li < 2; li++) {
        const db_engine *e = db_engine_find("beam");
        db_params p;
        const char *kv[] = { "width", "4", "groups", "4", "diversity", lam[li], NULL };
        set_params(&p, e, kv);
        db_event_log log;
        db_event_log_init(&log);
        db_event_log_start(&log);
        db_gen_request req = { .target = m, .prompt = prompt, .n_prompt = 2, .max_new_tokens = 5,
                               .stop_at_eog = true, .seed = 1, .params = &p, .events = &log };
        db_model_reset(m);
        db_hyp_list nb;
        char err[256];
        CHECK_INT_EQ(db_beam_search(&req, &nb, err, sizeof err), 0);
        db_token firsts[64];
        int nf = 0;
        for (int i = 0; i < nb.n; i++) {
            bool seen = false;
            for (int j = 0; j < nf; j++) seen |= firsts[j] == nb.h[i].tok[0];
            if (!seen && nf < 64) firsts[nf++] = nb.h[i].tok[0];
            for (int j = 0; j < i && li == 1; j++)
                CHECK(!(nb.h[i].len == nb.h[j].len && memcmp(nb.h[i].tok, nb.h[j].tok, sizeof(db_token) * (size_t)nb.h[i].len) == 0));
        }
        distinct_first[li] = nf;
        db_hyp_list_free(&nb);
        db_event_log_free(&log);
    }
    /* the engine's n-best diversity outcomes agree: more distinct bigrams, lower self-BLEU */
    double d2[2], sb[2];
    for (int li = 0; li < 2; li++) {
        const char *kv[] = { "width", "4", "groups", "4", "diversity", lam[li], NULL };
        run_result r = run_engine("beam", m, NULL, prompt, 2, 5, kv);
        d2[li] = stat_of(&r.out, "nbest_distinct2");
        sb[li] = stat_of(&r.out, "nbest_self_bleu");
        db_output_free(&r.out);
    }
    CHECK(d2[1] > d2[0]);
    CHECK(sb[1] < sb[0]);
    CHECK_INT_EQ(distinct_first[0], 1);   /* no diversity: every group picks the same token */
    CHECK_INT_EQ(distinct_first[1], 4);   /* Hamming penalty: four groups, four first tokens */
    db_model_close(m);
}

typedef struct path_check {
    const bf *b;
    int found, wrong;
    db_token seen[4096][MAXL];
    int seen_len[4096];
    int n_seen;
    int dup;
} path_check;

static int check_path(void *ctx, const db_token *tok, int len, double score) {
    path_check *c = ctx;
    const bf_path *p = bf_find(c->b, tok, len);
    if (!p) { c->wrong++; return 0; }
    c->found++;
    if (fabs(p->score - score) > 1e-4) c->wrong++;
    for (int i = 0; i < c->n_seen; i++)
        if (c->seen_len[i] == len && memcmp(c->seen[i], tok, sizeof(db_token) * (size_t)len) == 0) c->dup++;
    if (c->n_seen < 4096) {
        memcpy(c->seen[c->n_seen], tok, sizeof(db_token) * (size_t)len);
        c->seen_len[c->n_seen++] = len;
    }
    return 0;
}

static int build_lattice(db_model *m, const db_token *prompt, int n_prompt, int L, const char *const *kv,
                         db_lattice *lat, int *forwards) {
    const db_engine *e = db_engine_find("lattice");
    db_params p;
    set_params(&p, e, kv);
    db_event_log log;
    db_event_log_init(&log);
    db_event_log_start(&log);
    db_gen_request req = { .target = m, .prompt = prompt, .n_prompt = n_prompt, .max_new_tokens = L,
                           .stop_at_eog = true, .seed = 1, .params = &p, .events = &log };
    db_model_reset(m);
    char err[256];
    int rc = db_lattice_build(&req, lat, err, sizeof err);
    if (rc != 0) db_test_fail(__FILE__, __LINE__, "lattice: %s", err);
    *forwards = 0;
    for (int i = 0; i < log.n; i++) *forwards += log.ev[i].kind == DB_EV_FORWARD;
    db_event_log_free(&log);
    return rc;
}

static void lattice_reproduces_brute_force(void) {
    for (int seed = 1; seed <= 4; seed++) {
        char spec[128];
        snprintf(spec, sizeof spec, SPEC_FMT, seed);
        db_model *m = open_exact(spec, 4);
        if (!m) return;
        db_token prompt[3] = { DB_EXACT_BOS, 4, 5 };
        const int L = 4;
        bf b;
        brute_force(spec, prompt, 3, L, &b);
        const char *kv[] = { "ngram", "2", "expand_k", "100", "budget", "100000", "length_norm", "0", NULL };
        db_lattice lat;
        int fw;
        if (build_lattice(m, prompt, 3, L, kv, &lat, &fw) != 0) return;
        path_check *c = calloc(1, sizeof *c);
        c->b = &b;
        int n = db_lattice_each_path(&lat, 1000000, check_path, c);
        CHECK_INT_EQ(n, b.n);
        CHECK_INT_EQ(c->found, b.n);
        CHECK_INT_EQ(c->wrong, 0);
        CHECK_INT_EQ(c->dup, 0);
        CHECK_NEAR(lat.n_complete_paths, b.n, 0);
        CHECK(lat.merges > 0);                          /* recombination did happen */
        CHECK_NEAR(lat.nodes[lat.best_terminal].best, b.p[b.best].score, 1e-4);
        CHECK_INT_EQ(fw, lat.calls + 1);
        free(c);
        db_lattice_free(&lat);
        free(b.p);
        db_model_close(m);
    }
}

/* Under a budget the lattice is a subset with true scores (ngram >= order),
 * within the budget; a suffix shorter than the order breaks the scores. */
static void lattice_budget_and_control(void) {
    int wrong_control = 0;
    for (int seed = 1; seed <= 4; seed++) {
        char spec[128];
        snprintf(spec, sizeof spec, "vocab=8,order=2,seed=%d,sharpness=1.5,eos_bias=-1", seed);
        db_model *m = open_exact(spec, 4);
        if (!m) return;
        db_token prompt[3] = { DB_EXACT_BOS, 4, 5 };
        const int L = 5;
        bf b;
        brute_force(spec, prompt, 3, L, &b);
        for (int budget = 3; budget <= 40; budget += 9) {
            char bs[16];
            snprintf(bs, sizeof bs, "%d", budget);
            const char *kv[] = { "ngram", "2", "budget", bs, NULL };
            db_lattice lat;
            int fw;
            if (build_lattice(m, prompt, 3, L, kv, &lat, &fw) != 0) return;
            CHECK(fw <= budget + 1);
            CHECK(lat.calls <= budget);
            path_check *c = calloc(1, sizeof *c);
            c->b = &b;
            int n = db_lattice_each_path(&lat, 1000000, check_path, c);
            CHECK_INT_EQ(c->wrong, 0);
            CHECK_NEAR(n, lat.n_complete_paths, 0);
            free(c);
            db_lattice_free(&lat);
        }
        const char *kv1[] = { "ngram", "1", "budget", "60", NULL };
        db_lattice lat;
        int fw;
        if (build_lattice(m, prompt, 3, L, kv1, &lat, &fw) != 0) return;
        path_check *c = calloc(1, sizeof *c);
        c->b = &b;
        db_lattice_each_path(&lat, 1000000, check_path, c);
        wrong_control += c->wrong;
        free(c);
        db_lattice_free(&lat);
        free(b.p);
        db_model_close(m);
    }
    CHECK_MSG(wrong_control > 0, "ngram 1 < order 2 should give some wrong path scores");
}

static void lattice_engine_outcomes(void) {
    db_model *m = open_exact("vocab=16,order=2,seed=9,sharpness=2,eos_bias=-1", 4);
    if (!m) return;
    db_token prompt[2] = { DB_EXACT_BOS, 7 };
    const char *kv[] = { "budget", "20", NULL };
    const char *reference = "w5 w9 w3 w12 w4 w9 w3";
    const db_engine *e = db_engine_find("lattice");
    db_params p;
    set_params(&p, e, kv);
    db_event_log log;
    db_event_log_init(&log);
    db_event_log_start(&log);
    db_gen_request req = { .target = m, .prompt = prompt, .n_prompt = 2, .max_new_tokens = 8, .stop_at_eog = true,
                           .seed = 1, .params = &p, .reference = reference, .events = &log };
    db_model_reset(m);
    db_gen_output out;
    memset(&out, 0, sizeof out);
    char err[256];
    CHECK_INT_EQ(e->generate(&req, &out, err, sizeof err), 0);
    int fw = 0;
    for (int i = 0; i < log.n; i++) fw += log.ev[i].kind == DB_EV_FORWARD;
    CHECK(fw <= 21);
    CHECK(stat_of(&out, "lattice_paths") >= 2);
    CHECK(stat_of(&out, "lattice_calls") <= 20);
    CHECK_INT_EQ(stat_of(&out, "lattice_calls") + 1, fw);
    CHECK(stat_of(&out, "search_score") < 0);
    /* the oracle scored every path (fewer than oracle_paths), the output's among them */
    CHECK_NEAR(stat_of(&out, "lattice_oracle_paths"), stat_of(&out, "lattice_paths"), 0);
    char text[256];
    int n = db_model_detokenize(m, out.tokens, out.n_tokens, text, sizeof text - 1);
    text[n < 0 ? 0 : n] = 0;
    double own = db_rouge2_f(text, reference), oracle = stat_of(&out, "lattice_oracle_rouge2");
    CHECK(oracle >= own);
    CHECK(oracle >= 0 && oracle <= 1);
    db_output_free(&out);
    db_event_log_free(&log);
    db_model_close(m);
}

static void astar_budget(void) {
    db_model *m = open_exact("vocab=16,order=2,seed=9,sharpness=2,eos_bias=-1", 4);
    db_model *v = open_exact("vocab=16,order=2,seed=9,sharpness=2,eos_bias=-1,noise=0.5", 4);
    if (!m || !v) return;
    db_token prompt[2] = { DB_EXACT_BOS, 7 };
    for (int budget = 5; budget <= 65; budget += 20) {
        char bs[16];
        snprintf(bs, sizeof bs, "%d", budget);
        const char *kv[] = { "token_budget", bs, "k", "3", "step_tokens", "4", NULL };
        run_result r = run_engine("astar-decoding", m, v, prompt, 2, 12, kv);
        CHECK(stat_of(&r.out, "astar_tokens") <= budget);
        CHECK_INT_EQ(stat_of(&r.out, "astar_prm_calls") + 1, r.draft_forwards);
        /* one policy forward per lockstep token, at most one per sampled token */
        CHECK(r.target_forwards <= 1 + stat_of(&r.out, "astar_tokens"));
        CHECK(r.out.n_tokens <= 12);
        double rw = stat_of(&r.out, "astar_reward");
        CHECK(rw > 0 && rw <= 1);
        db_output_free(&r.out);
    }
    /* deterministic for a seed */
    const char *kv[] = { "token_budget", "40", "k", "3", NULL };
    run_result a = run_engine("astar-decoding", m, v, prompt, 2, 12, kv);
    run_result b = run_engine("astar-decoding", m, v, prompt, 2, 12, kv);
    CHECK_INT_EQ(a.out.n_tokens, b.out.n_tokens);
    CHECK(a.out.n_tokens == b.out.n_tokens && memcmp(a.out.tokens, b.out.tokens, sizeof(db_token) * (size_t)a.out.n_tokens) == 0);
    db_output_free(&a.out);
    db_output_free(&b.out);
    db_model_close(m);
    db_model_close(v);
}

/* On llama.cpp (the bundled target): beam width 1 and the lattice's first
 * rollout are greedy decoding, so their outputs equal `ar` greedy's token
 * for token — the path KV cache keeps llama.cpp's cache consistent. */
static void llama_greedy_paths_agree(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/data/models/target.gguf", db_test_srcdir());
    if (access(path, R_OK) != 0) { db_test_skip("data/models/target.gguf not built"); return; }
    db_model_params p = db_model_default_params();
    p.path = path;
    p.n_ctx = 512;
    p.n_batch = 512;
    p.n_threads = 1;
    p.n_seq_max = 4;
    db_model *m = NULL;
    char err[512];
    db_llama_set_quiet(true);
    if (db_model_open(&p, &m, err, sizeof err) != 0) {
        if (strstr(err, "built without llama.cpp")) { db_test_skip(err); return; }
        db_test_fail(__FILE__, __LINE__, "open %s: %s", path, err);
        return;
    }
    const char *texts[] = { "The committee said that the", "And God said unto Moses,", "def parse(self, text):\n    " };
    const int L = 24;
    for (int i = 0; i < 3; i++) {
        db_token prompt[64];
        int n = db_model_tokenize(m, texts[i], strlen(texts[i]), true, true, prompt, 64);
        CHECK(n > 0);
        if (n <= 0) continue;
        const char *ar_kv[] = { "mode", "greedy", NULL }, *b1[] = { "width", "1", NULL };
        const char *lat[] = { "budget", "23", "slots", "4", NULL };
        run_result a = run_engine("ar", m, NULL, prompt, n, L, ar_kv);
        run_result b = run_engine("beam", m, NULL, prompt, n, L, b1);
        run_result c = run_engine("lattice", m, NULL, prompt, n, L, lat);
        CHECK_INT_EQ(a.out.n_tokens, b.out.n_tokens);
        CHECK_INT_EQ(a.out.n_tokens, c.out.n_tokens);
        CHECK(a.out.n_tokens == b.out.n_tokens && memcmp(a.out.tokens, b.out.tokens, sizeof(db_token) * (size_t)a.out.n_tokens) == 0);
        CHECK(a.out.n_tokens == c.out.n_tokens && memcmp(a.out.tokens, c.out.tokens, sizeof(db_token) * (size_t)a.out.n_tokens) == 0);
        db_output_free(&a.out);
        db_output_free(&b.out);
        db_output_free(&c.out);
    }
    db_model_close(m);
}

/* ---- text metrics ---- */
static void text_metrics(void) {
    CHECK_NEAR(db_rouge2_f("the cat sat on the mat", "the cat is on the mat"), 0.6, 1e-12);
    CHECK_NEAR(db_rouge2_f("a a a a", "a a"), 0.5, 1e-12);          /* clipped: P 1/3, R 1 */
    CHECK_NEAR(db_rouge2_f("The cat's mat.", "the cat ' s mat ."), 1.0, 1e-12);
    CHECK_NEAR(db_rouge2_f("cat", "the cat"), 0.0, 0);
    /* p1 5/6, p2 3/5, p3 1/4, p4 0 -> 0.1/3; equal lengths */
    CHECK_NEAR(db_sentence_bleu("the cat sat on the mat", (const char *[]){ "the cat is on the mat" }, 1),
               pow(5.0 / 6 * 3.0 / 5 * 1.0 / 4 * (0.1 / 3), 0.25), 1e-12);
    CHECK_NEAR(db_sentence_bleu("the cat sat on", (const char *[]){ "the cat sat on the mat" }, 1), exp(1 - 6.0 / 4), 1e-12);
    /* closest reference length: 3 and 5 tie for a 4-token candidate -> the shorter (no penalty) */
    CHECK_NEAR(db_sentence_bleu("a b c d", (const char *[]){ "a b c", "a b c d e" }, 2), 1.0, 1e-12);
    CHECK_NEAR(db_sentence_bleu("a b", (const char *[]){ "a b" }, 1), 0.0, 0);
    CHECK_NEAR(db_distinct_n((const char *[]){ "a b a b", "a b c" }, 2, 1), 3.0 / 7, 1e-12);
    CHECK_NEAR(db_distinct_n((const char *[]){ "a b a b", "a b c" }, 2, 2), 3.0 / 5, 1e-12);
    CHECK_NEAR(db_self_bleu((const char *[]){ "a b c d", "a b c d" }, 2), 1.0, 1e-12);
    CHECK_NEAR(db_self_bleu((const char *[]){ "a b c d", "e f g h" }, 2), 0.1 / pow(24.0, 0.25), 1e-12);
    CHECK(isnan(db_self_bleu((const char *[]){ "a" }, 1)));
    CHECK_INT_EQ(db_answer_match("so the answer is 1,234.", "work\n#### 1234"), 1);
    CHECK_INT_EQ(db_answer_match("it is -3", "#### -3"), 1);
    CHECK_INT_EQ(db_answer_match("18 dollars", "9 * 2 = 18\n#### 18"), 1);
    CHECK_INT_EQ(db_answer_match("17", "#### 18"), 0);
    CHECK_INT_EQ(db_answer_match("no number", "#### 18"), 0);
    CHECK_INT_EQ(db_answer_match("5", "no number here"), -1);
    CHECK_INT_EQ(db_answer_match("5", "there were 5 apples"), -1);   /* no final-answer line */
    CHECK_INT_EQ(db_answer_match("7", "#### 7 then 9 #### 8"), 0);   /* the last #### counts */
}

/* ---- the CLI: report --search and export-lattice ---- */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

static void report_search_counts_errors(void) {
    char bin[1024], suite[1024], db[1024], csv[1024], data[1024], cmd[8192];
    snprintf(bin, sizeof bin, "%s/decobench", db_test_builddir());
    if (access(bin, X_OK) != 0) { db_test_skip("decobench binary not built"); return; }
    const char *spec = "vocab=8,order=2,seed=3,sharpness=1,eos_bias=-1";
    const char *prompts[] = { "w3", "w4", "w5", "w6", "w7", "w3 w4", "w5 w6", "w7 w3" };
    const int NP = 8, L = 4;
    snprintf(data, sizeof data, "%s/search_prompts.jsonl", db_test_tmpdir());
    FILE *f = fopen(data, "w");
    for (int i = 0; i < NP; i++) fprintf(f, "{\"id\": \"p%d\", \"prompt\": \"%s\"}\n", i, prompts[i]);
    fclose(f);
    snprintf(suite, sizeof suite, "%s/search_suite.json", db_test_tmpdir());
    f = fopen(suite, "w");
    fprintf(f, "{\"name\": \"search-test\", \"models\": {\"target\": {\"backend\": \"exact\", \"spec\": \"%s\", \"n_ctx\": 32}},"
               " \"datasets\": {\"p\": {\"path\": \"%s\"}},"
               " \"engines\": [{\"engine\": \"beam\", \"label\": \"greedy\", \"params\": {\"width\": 1}},"
               "  {\"engine\": \"exact\", \"label\": \"exact\", \"params\": {\"max_len\": %d}}],"
               " \"max_new_tokens\": %d, \"warmup\": 0, \"threads\": 1, \"papi_events\": []}\n", spec, data, L, L);
    fclose(f);
    snprintf(db, sizeof db, "%s/search.db", db_test_tmpdir());
    snprintf(csv, sizeof csv, "%s/search.csv", db_test_tmpdir());
    unlink(db);
    snprintf(cmd, sizeof cmd, "'%s' run '%s' --db '%s' --no-progress >/dev/null 2>&1 && '%s' report --db '%s' --search --format csv -o '%s'",
             bin, suite, db, bin, db, csv);
    CHECK_INT_EQ(system(cmd), 0);
    /* the errors counted here */
    db_model *m = open_exact(spec, 8);
    if (!m) return;
    int errors = 0;
    for (int i = 0; i < NP; i++) {
        db_token prompt[8];
        int n = db_model_tokenize(m, prompts[i], strlen(prompts[i]), true, true, prompt, 8);
        bf b;
        brute_force(spec, prompt, n, L, &b);
        const char *w1[] = { "width", "1", NULL };
        run_result r = run_engine("beam", m, NULL, prompt, n, L, w1);
        errors += stat_of(&r.out, "search_score") < b.p[b.best].score - 1e-4;
        db_output_free(&r.out);
        free(b.p);
    }
    db_model_close(m);
    char *text = slurp(csv);
    CHECK(text != NULL);
    if (!text) return;
    char want[256];
    snprintf(want, sizeof want, "search_errors,greedy,exact,p,target,%d,%d,", NP, errors);
    CHECK_CONTAINS(text, want);
    CHECK_CONTAINS(text, "quality_vs_budget,exact,exact,p,target,8,");
    CHECK(errors > 0);
    /* Pareto: greedy is cheapest, exact scores best; both on the score front */
    for (char *line = strstr(text, "quality_vs_budget,"); line; line = strstr(line + 1, "quality_vs_budget,")) {
        char *fld[20];
        int nf = 0;
        char buf[512];
        size_t len = strcspn(line, "\n");
        if (len >= sizeof buf) len = sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = 0;
        for (char *t = buf; t && nf < 20;) {   /* fields, empty ones kept */
            fld[nf++] = t;
            t = strchr(t, ',');
            if (t) *t++ = 0;
        }
        CHECK(nf >= 10);
        if (nf >= 10) CHECK_STR_EQ(fld[9], "1");
    }
    free(text);
}

static void export_lattice_dot(void) {
    char bin[1024], dotf[1024], errf[1024], cmd[4096];
    snprintf(bin, sizeof bin, "%s/decobench", db_test_builddir());
    if (access(bin, X_OK) != 0) { db_test_skip("decobench binary not built"); return; }
    snprintf(dotf, sizeof dotf, "%s/lattice.dot", db_test_tmpdir());
    snprintf(errf, sizeof errf, "%s/lattice.err", db_test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' export-lattice --exact vocab=12,order=2,seed=5,eos_bias=-1 --prompt 'w3 w4' "
                              "-p budget=15 -p ngram=2 --max-new-tokens 6 -o '%s' 2>'%s'", bin, dotf, errf);
    CHECK_INT_EQ(system(cmd), 0);
    char *dot = slurp(dotf), *err = slurp(errf);
    CHECK(dot && err);
    if (!dot || !err) { free(dot); free(err); return; }
    int nodes = 0, edges = 0, paths = 0, calls = 0, merges = 0;
    CHECK_INT_EQ(sscanf(err, "lattice: %d nodes, %d edges, %d complete paths, %d model calls, %d merges",
                        &nodes, &edges, &paths, &calls, &merges), 5);
    CHECK(strncmp(dot, "digraph lattice {\n", 18) == 0);
    CHECK(calls <= 15 && paths >= 1);
    /* every node declared once, every edge between declared nodes, braces closed */
    int declared = 0, arrows = 0;
    char *save = NULL;
    char *copy = strdup(dot);
    bool *seen = calloc((size_t)nodes + 1, 1);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int a, b;
        if (sscanf(line, "  n%d -> n%d [", &a, &b) == 2) {
            arrows++;
            CHECK(a >= 0 && a < nodes && b > 0 && b < nodes);
        } else if (sscanf(line, "  n%d [label=", &a) == 1) {
            CHECK(a >= 0 && a < nodes && !seen[a]);
            if (a >= 0 && a < nodes) seen[a] = true;
            declared++;
        }
    }
    CHECK_INT_EQ(declared, nodes);
    CHECK_INT_EQ(arrows, edges);
    CHECK(strstr(dot, "color=red") != NULL);
    size_t len = strlen(dot);
    CHECK(len > 2 && strcmp(dot + len - 2, "}\n") == 0);
    free(seen);
    free(copy);
    /* bad input: one line naming the problem, exit status 2, nothing written */
    snprintf(cmd, sizeof cmd, "'%s' export-lattice --exact vocab=12 -o '%s.bad' 2>'%s'", bin, dotf, errf);
    int st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    CHECK(access(strcat(strcpy(cmd, dotf), ".bad"), F_OK) != 0);
    snprintf(cmd, sizeof cmd, "'%s' export-lattice --exact vocab=12 --prompt w3 -p budget=0 2>'%s'", bin, errf);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    char *msg = slurp(errf);
    CHECK_CONTAINS(msg, "parameter 'budget'");
    free(msg);
    if (system("command -v dot >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd, "dot -Tcanon '%s' >/dev/null 2>&1", dotf);
        CHECK_INT_EQ(system(cmd), 0);
    }
    free(dot);
    free(err);
}

void suite_search(void) {
    RUN(text_metrics);
    RUN(exact_equals_brute_force);
    RUN(exact_respects_node_budget);
    RUN(wide_beam_equals_exact);
    RUN(beam_search_errors);
    RUN(diverse_beam_distinct);
    RUN(lattice_reproduces_brute_force);
    RUN(lattice_budget_and_control);
    RUN(lattice_engine_outcomes);
    RUN(astar_budget);
    RUN(llama_greedy_paths_agree);
    RUN(report_search_counts_errors);
    RUN(export_lattice_dot);
}
