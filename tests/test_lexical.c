/* test_lexical.c — the lexically constrained engines (`lexical` gbs/dba and
 * `astar`) on the exact backend: keyword tokenization and tracking; GBS and
 * DBA with large beams equal the brute-force best constrained sequence;
 * A*esque equals a closed-form reference search (alpha = 0: plain
 * constrained beam search; alpha > 0: with the greedy lookahead); outputs
 * contain every keyword whenever the search reports success; budgets on
 * forwards and evaluated tokens are never exceeded; constraints that cannot
 * fit end in a reported failure. */
#include "test.h"
#include "fixtures.h"

#include <math.h>
#include <stdlib.h>

#include "engines/engine.h"
#include "engines/lexcons.h"
#include "harness/model/model_exact.h"

static db_model *open_exact(const char *spec, int n_seq) { return db_test_open_model("exact", spec, 64, 1024, n_seq); }

typedef struct run_result {
    int rc;
    db_gen_output out;
    int forwards;
    int64_t rows;
    char err[256];
} run_result;

static double stat_of(const db_gen_output *o, const char *name) {
    for (int i = 0; i < o->n_stats; i++)
        if (strcmp(o->stat_name[i], name) == 0) return o->stat_value[i];
    return NAN;
}

/* Run engine `name` with parameters kv (name, value pairs). */
static run_result run_engine(db_model *m, const char *name, const char *const *kv, int n_kv, const db_token *prompt,
                             int n_prompt, int max_new, const char *constraint) {
    run_result r;
    memset(&r, 0, sizeof r);
    const db_engine *e = db_engine_find(name);
    db_params p;
    db_params_defaults(&p, e->params, e->n_params);
    for (int i = 0; i < n_kv; i += 2)
        if (db_params_set(&p, kv[i], kv[i + 1], r.err, sizeof r.err) != 0) {
            db_test_fail(__FILE__, __LINE__, "%s", r.err);
            r.rc = -1;
            return r;
        }
    db_event_log log;
    db_event_log_init(&log);
    db_event_log_start(&log);
    db_gen_request req = { .target = m, .prompt = prompt, .n_prompt = n_prompt, .max_new_tokens = max_new,
                           .stop_at_eog = true, .seed = 1, .params = &p, .constraint_json = constraint,
                           .events = &log };
    db_model_reset(m);
    r.rc = e->generate(&req, &r.out, r.err, sizeof r.err);
    for (int i = 0; i < log.n; i++)
        if (log.ev[i].kind == DB_EV_FORWARD) {
            r.forwards++;
            r.rows += log.ev[i].n_tokens;
        }
    db_event_log_free(&log);
    return r;
}

/* Does the output, as text, contain " wN" for each keyword token sequence? */
static bool text_has(db_model *m, const db_gen_output *o, const char *phrase) {
    char text[4096], needle[256];
    int n = db_model_detokenize(m, o->tokens, o->n_tokens, text + 1, (int)sizeof text - 3);
    if (n < 0) return false;
    text[0] = ' ';
    text[n + 1] = ' ';
    text[n + 2] = 0;
    snprintf(needle, sizeof needle, " %s ", phrase);
    return strstr(text, needle) != NULL;
}

/* ---- tokenization and tracking ---- */

static void keywords_tokenize_and_track(void) {
    db_model *m = open_exact("vocab=16,order=1,seed=3", 1);
    if (!m) return;
    lex_constraints c;
    char err[256];
    CHECK_INT_EQ(lex_parse("{\"keywords\":[\"w5\",\"w6 w7\",\"w5\"]}", m, &c, err, sizeof err), 0);
    CHECK_INT_EQ(c.n, 2);                    /* the duplicate merged */
    CHECK_INT_EQ(c.ph[0].n, 1);
    CHECK_INT_EQ(c.ph[0].tok[0], 5);
    CHECK_INT_EQ(c.ph[1].n, 2);
    CHECK_INT_EQ(c.ph[1].tok[0], 6);
    CHECK_INT_EQ(c.ph[1].tok[1], 7);
    CHECK_INT_EQ(c.total_tokens, 3);
    lex_state s = lex_state_start();
    s = lex_advance(&c, s, 6);               /* starts "w6 w7" */
    CHECK_INT_EQ(s.cur, 1);
    CHECK_INT_EQ(lex_tokens_met(&c, s), 1);
    db_token allowed[LEX_MAX_PHRASES];
    CHECK_INT_EQ(lex_allowed(&c, s, allowed), 1);
    CHECK_INT_EQ(allowed[0], 7);
    s = lex_advance(&c, s, 6);               /* abandoned, and started again */
    CHECK_INT_EQ(s.cur, 1);
    CHECK_INT_EQ(s.prog, 1);
    s = lex_advance(&c, s, 3);               /* abandoned */
    CHECK_INT_EQ(s.cur, -1);
    CHECK_INT_EQ(lex_tokens_met(&c, s), 0);
    s = lex_advance(&c, lex_advance(&c, s, 6), 7);
    CHECK_INT_EQ(s.met, 2u);
    CHECK_INT_EQ(lex_allowed(&c, s, allowed), 1);
    CHECK_INT_EQ(allowed[0], 5);
    s = lex_advance(&c, s, 5);
    CHECK(lex_complete(&c, s));
    CHECK_INT_EQ(lex_tokens_met(&c, s), 3);
    CHECK_INT_EQ(lex_parse("{\"keywords\":[]}", m, &c, err, sizeof err), -1);
    CHECK_CONTAINS(err, "keywords");
    CHECK_INT_EQ(lex_parse("{\"keywords\":[\"w5\", 3]}", m, &c, err, sizeof err), -1);
    CHECK_INT_EQ(lex_parse(NULL, m, &c, err, sizeof err), 0);
    CHECK_INT_EQ(c.n, 0);
    db_model_close(m);
}

/* ---- brute force ---- */

typedef struct brute {
    const db_exact_spec *spec;
    const db_token *prompt;
    int n_prompt, L, lo, hi;           /* real tokens lo..hi */
    const db_token *const *phrases;
    const int *plen;
    int n_phr;
    db_token best[16], cur[16];
    int best_n;
    double best_score;
} brute;

static double brute_lp(const brute *b, int n, db_token t) {
    db_token ctx[64];
    memcpy(ctx, b->prompt, sizeof *ctx * (size_t)b->n_prompt);
    memcpy(ctx + b->n_prompt, b->cur, sizeof *ctx * (size_t)n);
    int total = b->n_prompt + n;
    float l[64], lp[64];
    db_exact_logits(b->spec, ctx, total, total, l);
    lex_log_softmax(l, b->spec->vocab, lp);
    return lp[t];
}

static bool brute_ok(const brute *b, int n) {
    for (int p = 0; p < b->n_phr; p++) {
        bool found = false;
        for (int i = 0; i + b->plen[p] <= n && !found; i++)
            found = memcmp(b->cur + i, b->phrases[p], sizeof(db_token) * (size_t)b->plen[p]) == 0;
        if (!found) return false;
    }
    return true;
}

static void brute_walk(brute *b, int n, double score) {
    if (brute_ok(b, n)) {
        double s = n < b->L ? score + brute_lp(b, n, DB_EXACT_EOS) : score;
        if (s > b->best_score) {
            b->best_score = s;
            b->best_n = n;
            memcpy(b->best, b->cur, sizeof *b->cur * (size_t)n);
        }
    }
    if (n == b->L) return;
    for (db_token t = (db_token)b->lo; t <= b->hi; t++) {
        double lp = brute_lp(b, n, t);
        b->cur[n] = t;
        brute_walk(b, n + 1, score + lp);
    }
}

static void check_equals_brute(const char *spec_text, int L, const char *constraint, const db_token *const *phrases,
                               const int *plen, int n_phr, const char *algo, const char *beam, const char *mct,
                               int n_seq) {
    db_exact_spec spec;
    db_exact_spec_parse(spec_text, &spec, NULL, 0);
    db_token prompt[2] = { DB_EXACT_BOS, 4 };
    brute b = { &spec, prompt, 2, L, 3, spec.vocab - 1, phrases, plen, n_phr, { 0 }, { 0 }, -1, -INFINITY };
    brute_walk(&b, 0, 0.0);
    CHECK(b.best_n >= 0);
    db_model *m = open_exact(spec_text, n_seq);
    if (!m) return;
    const char *kv[] = { "algo", algo, "beam", beam, "max_constraint_tokens", mct };
    run_result r = run_engine(m, "lexical", kv, 6, prompt, 2, L, constraint);
    CHECK_INT_EQ(r.rc, 0);
    CHECK_MSG(r.out.n_tokens == b.best_n, "%s: %d tokens, brute force %d", algo, r.out.n_tokens, b.best_n);
    for (int i = 0; i < r.out.n_tokens && i < b.best_n; i++) CHECK_INT_EQ(r.out.tokens[i], b.best[i]);
    CHECK_NEAR(stat_of(&r.out, "search_score"), b.best_score, 1e-4);
    CHECK_NEAR(stat_of(&r.out, "constraint_success"), 1.0, 0);
    CHECK_STR_EQ(r.out.stop_reason, b.best_n < L ? "eog" : "length");
    db_output_free(&r.out);
    db_model_close(m);
}

static void gbs_dba_equal_brute_force_single_token(void) {
    static const db_token w5[] = { 5 };
    const db_token *ph[] = { w5 };
    int plen[] = { 1 };
    const char *specs[] = { "vocab=8,order=2,seed=5,eos_bias=0", "vocab=8,order=1,seed=9,eos_bias=-1",
                            "vocab=8,order=2,seed=12,eos_bias=1,sharpness=3" };
    for (int i = 0; i < 3; i++) {
        check_equals_brute(specs[i], 3, "{\"keywords\":[\"w5\"]}", ph, plen, 1, "gbs", "128", "1", 256);
        check_equals_brute(specs[i], 3, "{\"keywords\":[\"w5\"]}", ph, plen, 1, "dba", "256", "1", 256);
    }
}

/* GBS's cells of 256 hold every hypothesis of 4 tokens over 4 real tokens:
 * exhaustive with a phrase and a word */
static void gbs_equals_brute_force_phrase(void) {
    static const db_token w4[] = { 4 }, w56[] = { 5, 6 };
    const db_token *ph[] = { w4, w56 };
    int plen[] = { 1, 2 };
    check_equals_brute("vocab=7,order=2,seed=21,eos_bias=0", 4, "{\"keywords\":[\"w4\",\"w5 w6\"]}", ph, plen, 2,
                       "gbs", "256", "3", 1024);
}

/* ---- A*esque against a closed-form reference ---- */

typedef struct ref_hyp {
    db_token tok[32];
    lex_state st;
    double score;
} ref_hyp;

typedef struct ref_search {
    const db_exact_spec *spec;
    const lex_constraints *con;
    const db_token *prompt;
    int n_prompt, L;
    double best_score;
    db_token best[32], fb[32];
    int best_n, fb_n, fb_cov;
    double fb_score;
    bool have_best, have_fb;
} ref_search;

static void ref_lp(const ref_search *r, const db_token *toks, int n, float *lp) {
    db_token ctx[128];
    memcpy(ctx, r->prompt, sizeof *ctx * (size_t)r->n_prompt);
    memcpy(ctx + r->n_prompt, toks, sizeof *ctx * (size_t)n);
    int total = r->n_prompt + n;
    float l[64];
    db_exact_logits(r->spec, ctx, total, total, l);
    lex_log_softmax(l, r->spec->vocab, lp);
}

static void ref_record(ref_search *r, const db_token *toks, int n, lex_state st, double score) {
    if (lex_complete(r->con, st) && (!r->have_best || score > r->best_score)) {
        r->have_best = true;
        r->best_score = score;
        r->best_n = n;
        memcpy(r->best, toks, sizeof *toks * (size_t)n);
    }
    int cov = lex_tokens_met(r->con, st);
    if (!r->have_fb || cov > r->fb_cov || (cov == r->fb_cov && score > r->fb_score)) {
        r->have_fb = true;
        r->fb_cov = cov;
        r->fb_score = score;
        r->fb_n = n;
        memcpy(r->fb, toks, sizeof *toks * (size_t)n);
    }
}

/* NeuroLogic (A*esque) search recomputing every distribution from the closed
 * form, the lookahead included; the per-step selection is the engine's pure
 * functions.  Output in r->best / r->fb. */
static void ref_astar(ref_search *r, int k, int ell, double alpha, int tol) {
    const int V = r->spec->vocab;
    ref_hyp hyp[64], nh[64];
    int n_hyp = 1;
    memset(&hyp[0], 0, sizeof hyp[0]);
    hyp[0].st = lex_state_start();
    static float lp[64 * 64];
    lex_state st[64];
    double score[64];
    static lex_cand c[64 * (64 + LEX_MAX_PHRASES)];
    for (int t = 0;; t++) {
        for (int i = 0; i < n_hyp; i++) {
            ref_lp(r, hyp[i].tok, t, lp + (size_t)i * V);
            st[i] = hyp[i].st;
            score[i] = hyp[i].score;
            float le = lp[(size_t)i * V + DB_EXACT_EOS];
            if (lex_complete(r->con, st[i]) && le > -1e29f) ref_record(r, hyp[i].tok, t, st[i], score[i] + le);
        }
        int n = lex_nl_gather(r->con, n_hyp, st, score, lp, V, DB_EXACT_EOS, k, 500000, c);
        int nc = 0;
        n = lex_nl_split(r->con, c, n, k, tol, &nc);
        if (alpha > 0 && ell > 0 && n > nc && t + 1 < r->L) {
            for (int j = nc; j < n; j++) {
                db_token seq[64];
                memcpy(seq, hyp[c[j].parent].tok, sizeof *seq * (size_t)t);
                seq[t] = c[j].tok;
                int len = t + 1;
                float la[64];
                for (int step = 0; step < ell; step++) {
                    ref_lp(r, seq, len, la);
                    double v = lex_lookahead_score(r->con, c[j].st, step, la);
                    if (v > c[j].h) c[j].h = v;
                    db_token g;
                    if (lex_topk(la, V, 1, DB_TOKEN_NULL, &g) != 1 || g == DB_EXACT_EOS) break;
                    seq[len++] = g;
                }
            }
        }
        n = lex_nl_select(c, n, nc, alpha, t, k);
        for (int j = 0; j < n; j++) {
            memcpy(nh[j].tok, hyp[c[j].parent].tok, sizeof(db_token) * (size_t)t);
            nh[j].tok[t] = c[j].tok;
            nh[j].st = c[j].st;
            nh[j].score = c[j].score;
        }
        if (t + 1 >= r->L || n == 0) {
            for (int j = 0; j < n; j++) ref_record(r, nh[j].tok, t + 1, nh[j].st, nh[j].score);
            return;
        }
        if (r->have_best) {
            double top = -1e300;
            for (int j = 0; j < n; j++) if (nh[j].score > top) top = nh[j].score;
            if (top <= r->best_score) return;
        }
        memcpy(hyp, nh, sizeof *nh * (size_t)n);
        n_hyp = n;
    }
}

static void check_astar_reference(const char *spec_text, const char *constraint, int L, int k, int ell, double alpha,
                                  int *n_success) {
    db_exact_spec spec;
    db_exact_spec_parse(spec_text, &spec, NULL, 0);
    db_model *m = open_exact(spec_text, 64);
    if (!m) return;
    db_token prompt[3] = { DB_EXACT_BOS, 9, 4 };
    lex_constraints con;
    char err[256];
    CHECK_INT_EQ(lex_parse(constraint, m, &con, err, sizeof err), 0);
    ref_search r;
    memset(&r, 0, sizeof r);
    r.spec = &spec;
    r.con = &con;
    r.prompt = prompt;
    r.n_prompt = 3;
    r.L = L;
    ref_astar(&r, k, ell, alpha, 2);
    char ks[16], ls[16], as[32];
    snprintf(ks, sizeof ks, "%d", k);
    snprintf(ls, sizeof ls, "%d", ell);
    snprintf(as, sizeof as, "%g", alpha);
    const char *kv[] = { "beam", ks, "lookahead", ls, "alpha", as, "la_batch", "7" };
    run_result e = run_engine(m, "astar", kv, 8, prompt, 3, L, constraint);
    CHECK_INT_EQ(e.rc, 0);
    const db_token *want = r.have_best ? r.best : r.fb;
    int want_n = r.have_best ? r.best_n : r.fb_n;
    CHECK_MSG(e.out.n_tokens == want_n, "%s %s alpha=%g: %d tokens, reference %d", spec_text, constraint, alpha,
              e.out.n_tokens, want_n);
    for (int i = 0; i < e.out.n_tokens && i < want_n; i++) CHECK_INT_EQ(e.out.tokens[i], want[i]);
    CHECK_NEAR(stat_of(&e.out, "constraint_success"), r.have_best ? 1.0 : 0.0, 0);
    if (alpha == 0) CHECK_NEAR(stat_of(&e.out, "lookahead_forwards"), 0, 0);
    else if (e.out.n_tokens > 1) CHECK(stat_of(&e.out, "lookahead_forwards") > 0);
    *n_success += r.have_best;
    db_output_free(&e.out);
    db_model_close(m);
}

static const char *const REF_SPECS[] = { "vocab=24,order=2,seed=31,eos_bias=0", "vocab=32,order=1,seed=8,eos_bias=-2",
                                         "vocab=24,order=3,seed=77,eos_bias=1,sharpness=3" };
static const char *const REF_CONS[] = { "{\"keywords\":[\"w5\",\"w11\"]}", "{\"keywords\":[\"w7 w8\",\"w3\",\"w20\"]}",
                                        "{\"keywords\":[\"w13 w14 w15\"]}" };

static void astar_alpha0_equals_constrained_beam_search(void) {
    int ok = 0;
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < 3; c++) check_astar_reference(REF_SPECS[s], REF_CONS[c], 12, 4, 3, 0.0, &ok);
    CHECK(ok > 0);      /* some searches succeed */
}

static void astar_lookahead_equals_reference(void) {
    int ok = 0;
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < 3; c++) {
            check_astar_reference(REF_SPECS[s], REF_CONS[c], 12, 4, 2, 0.5, &ok);
            check_astar_reference(REF_SPECS[s], REF_CONS[c], 10, 3, 4, 2.0, &ok);
        }
    CHECK(ok > 0);
}

/* ---- success means every keyword is in the text ---- */

static void success_means_keywords_present(void) {
    static const char *const cons[] = { "{\"keywords\":[\"w5\",\"w11\",\"w17\"]}",
                                        "{\"keywords\":[\"w7 w8\",\"w3\"]}",
                                        "{\"keywords\":[\"w13 w14 w15\",\"w6\",\"w9\",\"w21\"]}" };
    static const char *const kw[3][4] = { { "w5", "w11", "w17" }, { "w7 w8", "w3" }, { "w13 w14 w15", "w6", "w9", "w21" } };
    static const int nkw[3] = { 3, 2, 4 };
    static const char *const cfg[][6] = {
        { "lexical", "algo", "gbs", "beam", "3", NULL },
        { "lexical", "algo", "dba", "beam", "6", NULL },
        { "astar", "beam", "4", "alpha", "0.3", NULL },
        { "astar", "beam", "4", "alpha", "0", NULL },
    };
    int successes = 0;
    for (int seed = 0; seed < 4; seed++) {
        char spec[96];
        snprintf(spec, sizeof spec, "vocab=24,order=2,seed=%d,eos_bias=0", 100 + seed);
        db_model *m = open_exact(spec, 128);
        if (!m) return;
        db_token prompt[2] = { DB_EXACT_BOS, 3 };
        for (int c = 0; c < 3; c++)
            for (int e = 0; e < 4; e++) {
                const char *kv[] = { cfg[e][1], cfg[e][2], cfg[e][3], cfg[e][4] };
                run_result r = run_engine(m, cfg[e][0], kv, 4, prompt, 2, 20, cons[c]);
                CHECK_INT_EQ(r.rc, 0);
                bool success = stat_of(&r.out, "constraint_success") == 1.0;
                CHECK_NEAR(stat_of(&r.out, "constraints_total"), nkw[c], 0);
                if (success) {
                    successes++;
                    CHECK_NEAR(stat_of(&r.out, "constraints_met"), nkw[c], 0);
                    for (int k = 0; k < nkw[c]; k++)
                        CHECK_MSG(text_has(m, &r.out, kw[c][k]), "%s %s: '%s' missing", cfg[e][0], cfg[e][2], kw[c][k]);
                } else {
                    CHECK(stat_of(&r.out, "constraints_met") < nkw[c]);
                }
                CHECK(r.out.n_tokens <= 20);
                db_output_free(&r.out);
            }
        db_model_close(m);
    }
    CHECK(successes >= 24);   /* GBS and DBA succeed whenever the keywords fit; most runs do */
}

/* ---- budgets ---- */

static void budgets_never_exceeded(void) {
    db_model *m = open_exact("vocab=24,order=2,seed=41,eos_bias=0", 128);
    if (!m) return;
    db_token prompt[4] = { DB_EXACT_BOS, 3, 9, 10 };
    const char *con = "{\"keywords\":[\"w5\",\"w11 w12\"]}";
    static const char *const cfg[][8] = {
        { "lexical", "algo", "gbs", "beam", "3", "max_constraint_tokens", "3" },
        { "lexical", "algo", "dba", "beam", "5", "max_constraint_tokens", "3" },
        { "astar", "beam", "4", "alpha", "0.5", "lookahead", "3" },
    };
    int cut = 0;
    for (int e = 0; e < 3; e++) {
        const char *kv0[] = { cfg[e][1], cfg[e][2], cfg[e][3], cfg[e][4], cfg[e][5], cfg[e][6] };
        run_result free_run = run_engine(m, cfg[e][0], kv0, 6, prompt, 4, 16, con);
        CHECK_INT_EQ(free_run.rc, 0);
        for (int f = 1; f <= free_run.forwards + 1; f += 2) {
            char fs[16];
            snprintf(fs, sizeof fs, "%d", f);
            const char *kv[] = { cfg[e][1], cfg[e][2], cfg[e][3], cfg[e][4], cfg[e][5], cfg[e][6], "max_forwards", fs };
            run_result r = run_engine(m, cfg[e][0], kv, 8, prompt, 4, 16, con);
            CHECK_INT_EQ(r.rc, 0);
            CHECK_MSG(r.forwards <= f, "%s %s: %d forwards, budget %d", cfg[e][0], cfg[e][2], r.forwards, f);
            if (f >= free_run.forwards) {     /* enough: the same search */
                CHECK_INT_EQ(r.out.n_tokens, free_run.out.n_tokens);
                for (int i = 0; i < r.out.n_tokens && i < free_run.out.n_tokens; i++)
                    CHECK_INT_EQ(r.out.tokens[i], free_run.out.tokens[i]);
            } else if (strcmp(r.out.stop_reason, "budget") == 0) {
                cut++;
            }
            db_output_free(&r.out);
        }
        for (int64_t b = 3; b <= free_run.rows + 4; b += 7) {
            char bs[32];
            snprintf(bs, sizeof bs, "%lld", (long long)b);
            const char *kv[] = { cfg[e][1], cfg[e][2], cfg[e][3], cfg[e][4], cfg[e][5], cfg[e][6], "max_eval_tokens", bs };
            run_result r = run_engine(m, cfg[e][0], kv, 8, prompt, 4, 16, con);
            CHECK_INT_EQ(r.rc, 0);
            CHECK_MSG(r.rows <= b, "%s %s: %lld tokens evaluated, budget %lld", cfg[e][0], cfg[e][2],
                      (long long)r.rows, (long long)b);
            if (b < 4) CHECK_INT_EQ(r.out.n_tokens, 0);    /* not even the prompt fits */
            db_output_free(&r.out);
        }
        db_output_free(&free_run.out);
    }
    CHECK(cut > 0);
    db_model_close(m);
}

/* ---- constraints that cannot fit ---- */

static void unreachable_constraint_reports_failure(void) {
    db_model *m = open_exact("vocab=24,order=2,seed=7,eos_bias=0", 128);
    if (!m) return;
    db_token prompt[2] = { DB_EXACT_BOS, 3 };
    const char *con = "{\"keywords\":[\"w5 w6 w7\",\"w8 w9\"]}";    /* 5 tokens */
    static const char *const cfg[][4] = { { "lexical", "algo", "gbs" }, { "lexical", "algo", "dba" },
                                          { "astar", "alpha", "0.5" }, { "astar", "alpha", "0" } };
    for (int e = 0; e < 4; e++) {
        const char *kv[] = { cfg[e][1], cfg[e][2] };
        run_result r = run_engine(m, cfg[e][0], kv, 2, prompt, 2, 4, con);
        CHECK_INT_EQ(r.rc, 0);
        CHECK_NEAR(stat_of(&r.out, "constraint_success"), 0, 0);
        CHECK(stat_of(&r.out, "constraints_met") < 2);
        CHECK(r.out.n_tokens <= 4);
        CHECK_STR_EQ(r.out.stop_reason, "length");
        db_output_free(&r.out);
    }
    /* GBS sized for fewer constraint tokens than the prompt has: an error, no output */
    const char *kv[] = { "algo", "gbs", "max_constraint_tokens", "4" };
    run_result r = run_engine(m, "lexical", kv, 4, prompt, 2, 8, con);
    CHECK_INT_EQ(r.rc, -1);
    CHECK_CONTAINS(r.err, "max_constraint_tokens");
    db_output_free(&r.out);
    db_model_close(m);
}

/* GBS grows with the number of constraint tokens, DBA does not */
static void gbs_rows_grow_dba_rows_flat(void) {
    db_model *m = open_exact("vocab=40,order=2,seed=3,eos_bias=-3", 256);
    if (!m) return;
    db_token prompt[2] = { DB_EXACT_BOS, 3 };
    const char *cons[] = { "{\"keywords\":[\"w5\"]}", "{\"keywords\":[\"w5\",\"w9\",\"w13\",\"w17\",\"w21\",\"w25\"]}" };
    int64_t rows[2][2];
    for (int c = 0; c < 2; c++)
        for (int a = 0; a < 2; a++) {
            const char *kv[] = { "algo", a == 0 ? "gbs" : "dba", "beam", "4" };
            run_result r = run_engine(m, "lexical", kv, 4, prompt, 2, 12, cons[c]);
            CHECK_INT_EQ(r.rc, 0);
            rows[a][c] = r.rows / (r.forwards > 0 ? r.forwards : 1);
            CHECK(r.rows - 2 <= (int64_t)(r.forwards - 1) * (a == 0 ? 4 * (c == 0 ? 2 : 7) : 4));
            db_output_free(&r.out);
        }
    CHECK(rows[0][1] > 2 * rows[0][0]);     /* gbs: many more rows per forward with 6 constraints */
    CHECK(rows[1][1] <= 4);                 /* dba: never more than the beam */
    db_model_close(m);
}

void suite_lexical(void) {
    RUN(keywords_tokenize_and_track);
    RUN(gbs_dba_equal_brute_force_single_token);
    RUN(gbs_equals_brute_force_phrase);
    RUN(astar_alpha0_equals_constrained_beam_search);
    RUN(astar_lookahead_equals_reference);
    RUN(success_means_keywords_present);
    RUN(budgets_never_exceeded);
    RUN(unreachable_constraint_reports_failure);
    RUN(gbs_rows_grow_dba_rows_flat);
}
