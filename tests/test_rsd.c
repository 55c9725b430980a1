/* test_rsd.c — Recursive Speculative Decoding (engines/rsd.c) is lossless.
 *
 *   rsd_node_law_and_planted_fault   one tree node: children drawn without
 *       replacement + recursive rejection sampling emit p exactly (chi-square,
 *       several p, q, k); the planted fault — children drawn WITH replacement
 *       into the same verifier — must be rejected by the same test
 *   rsd_greedy_identical_to_ar_exact exact backend: greedy output equals ar's
 *       token for token, 25 prompts x configurations x drafts (noisy, self,
 *       unrelated), RSD-C and RSD-S; the RSD-C self draft accepts every
 *       depth
 *   rsd_sampled_law_exact            exact backend: the law of the first
 *       drafted token (token 1; token 0 is the prefill's), the joint of
 *       tokens 1-2 and the 4-token joint of sampled outputs against the
 *       target's analytic law (chi-square), RSD-C and RSD-S
 *   rsd_kv_ledger_exact              every leaf sequence holds exactly prompt
 *       + output (minus the last step's out-of-order tokens) after greedy and
 *       sampled decoding
 *   rsd_params_and_events            k^depth > 64 refused; VERIFY drafts depth
 *   rsd_bundled_identity_and_kv      llama.cpp bundled target + draft and self
 *       draft: greedy identical to ar on 3 prompts, KV ledger exact
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "test.h"
#include "fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engines/engine.h"
#include "engines/rsd.h"
#include "harness/model/model.h"
#include "harness/model/model_exact.h"
#include "harness/model/sample.h"
#include "harness/util/rng.h"
#include "harness/util/stats.h"

static db_model *open_model(const char *backend, const char *spec_or_path) {
    return db_test_open_model(backend, spec_or_path, 512, 512, 64);
}

typedef struct gen_stats { int drafted, accepted, commits, tokens, verifies, max_drafted; } gen_stats;

static int run_engine(const char *name, db_model *target, db_model *draft, const char *const *kv, int n_kv,
                      const db_token *prompt, int n_prompt, int max_new, uint64_t seed, bool stop_eog,
                      db_gen_output *out, gen_stats *st) {
    const db_engine *e = db_engine_find(name);
    if (!e) { db_test_fail(__FILE__, __LINE__, "no engine %s", name); return -1; }
    db_params p;
    db_params_defaults(&p, e->params, e->n_params);
    char err[512];
    for (int i = 0; i < n_kv; i += 2)
        if (db_params_set(&p, kv[i], kv[i + 1], err, sizeof err) != 0) {
            db_test_fail(__FILE__, __LINE__, "%s: %s", name, err);
            return -1;
        }
    if (e->validate && e->validate(&p, err, sizeof err) != 0) {
        db_test_fail(__FILE__, __LINE__, "%s: %s", name, err);
        return -1;
    }
    db_event_log log;
    db_event_log_init(&log);
    db_event_log_start(&log);
    db_model_reset(target);
    if (draft) db_model_reset(draft);
    db_gen_request req = { .target = target, .draft = draft, .prompt = prompt, .n_prompt = n_prompt,
                           .max_new_tokens = max_new, .stop_at_eog = stop_eog, .seed = seed, .params = &p,
                           .events = &log };
    memset(out, 0, sizeof *out);
    int rc = e->generate(&req, out, err, sizeof err);
    if (rc != 0) db_test_fail(__FILE__, __LINE__, "%s generate: %s", name, err);
    if (st) {
        memset(st, 0, sizeof *st);
        for (int i = 0; i < log.n; i++) {
            if (log.ev[i].kind == DB_EV_VERIFY) {
                st->drafted += log.ev[i].n_tokens;
                st->accepted += log.ev[i].n_accepted;
                st->verifies++;
                if (log.ev[i].n_tokens > st->max_drafted) st->max_drafted = log.ev[i].n_tokens;
            }
            if (log.ev[i].kind == DB_EV_COMMIT) { st->commits++; st->tokens += log.ev[i].n_tokens; }
        }
    }
    db_event_log_free(&log);
    return rc;
}

static int same_tokens(const db_gen_output *a, const db_gen_output *b) {
    return a->n_tokens == b->n_tokens && memcmp(a->tokens, b->tokens, sizeof(db_token) * (size_t)a->n_tokens) == 0;
}

/* ---- one node ---- */

/* n draws through one node; counts[V] of the emitted token */
static void node_counts(const float *p, const float *q, int V, int k, bool with_replacement, int n, uint64_t seed,
                        uint64_t *counts) {
    db_rng r = db_rng_make(seed, 0), rv = db_rng_make(seed, 1);
    double *resid = malloc(sizeof(double) * (size_t)V);
    memset(counts, 0, sizeof *counts * (size_t)V);
    for (int s = 0; s < n; s++) {
        db_token kids[8];
        int m;
        if (with_replacement) {                /* the planted fault */
            for (m = 0; m < k; m++) kids[m] = db_draw(q, V, db_rng_uniform(&r));
        } else {
            m = db_rsd_draw_children(q, V, k, &r, kids);
        }
        db_token extra = -1;
        int i = db_rsd_verify_node(p, q, V, kids, m, &rv, resid, &extra);
        counts[i >= 0 ? kids[i] : extra]++;
    }
    free(resid);
}

static void rand_dist(db_rng *r, float *x, int V, double sharp, int zeros) {
    double z = 0;
    for (int v = 0; v < V; v++) { x[v] = (float)exp(sharp * (db_rng_uniform(r) * 2 - 1)); z += x[v]; }
    for (int v = 0; v < zeros; v++) { z -= x[v]; x[v] = 0; }
    for (int v = 0; v < V; v++) x[v] = (float)(x[v] / z);
}

static void rsd_node_law_and_planted_fault(void) {
    enum { V = 12, N = 200000 };
    float p[V], q[V];
    double pe[V];
    uint64_t counts[V];
    db_rng r = db_rng_make(77, 0);
    int caught = 0, trials = 0;
    for (int c = 0; c < 6; c++) {
        const int k = 2 + c % 3;
        rand_dist(&r, p, V, 1.5, c == 4 ? 2 : 0);       /* c=4: p has zeros q does not */
        rand_dist(&r, q, V, 3.0, c == 5 ? 3 : 0);       /* c=5: q misses tokens p has */
        for (int v = 0; v < V; v++) pe[v] = p[v];
        /* children: distinct, and every draw counted */
        db_token kids[8];
        db_rng rk = db_rng_make(c, 0);
        int m = db_rsd_draw_children(q, V, k, &rk, kids);
        CHECK_INT_EQ(m, k);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < i; j++) CHECK(kids[i] != kids[j]);
        int df;
        double pv;
        node_counts(p, q, V, k, false, N, 100 + (uint64_t)c, counts);
        db_chi_square(counts, pe, V, 5.0, &df, &pv);
        printf("    node %d (k=%d): chi2 df %d, p = %.4f", c, k, df, pv);
        CHECK_MSG(pv > 1e-4, "node config %d: p = %g", c, pv);
        node_counts(p, q, V, k, true, N, 100 + (uint64_t)c, counts);
        db_chi_square(counts, pe, V, 5.0, &df, &pv);
        printf("; with replacement (planted): p = %.3g\n", pv);
        caught += pv < 1e-6;
        trials++;
    }
    /* the planted fault changes the law wherever q makes duplicate children
     * likely (sharp q): the chi-square must see it in most configurations */
    CHECK_MSG(caught >= 4, "children drawn with replacement caught in only %d of %d node configurations", caught, trials);
    /* without-replacement draws: the law of the first child is q, of the
     * second q(x) * sum_y q(y) / (1 - q(y)) [y != x] */
    {
        rand_dist(&r, q, V, 2.0, 0);
        uint64_t c1[V], c2[V];
        double e1[V], e2[V];
        memset(c1, 0, sizeof c1);
        memset(c2, 0, sizeof c2);
        db_rng rk = db_rng_make(9, 0);
        for (int s = 0; s < N; s++) {
            db_token kids[2];
            db_rsd_draw_children(q, V, 2, &rk, kids);
            c1[kids[0]]++;
            c2[kids[1]]++;
        }
        for (int x = 0; x < V; x++) {
            e1[x] = q[x];
            e2[x] = 0;
            for (int y = 0; y < V; y++)
                if (y != x) e2[x] += q[y] * q[x] / (1.0 - q[y]);
        }
        int df1, df2;
        double p1, p2;
        db_chi_square(c1, e1, V, 5.0, &df1, &p1);
        db_chi_square(c2, e2, V, 5.0, &df2, &p2);
        printf("    draws without replacement: first child p = %.4f, second child p = %.4f\n", p1, p2);
        CHECK(p1 > 1e-4 && p2 > 1e-4);
    }
    /* greedy tree: top-k in order, ties toward the lower id */
    {
        const float x[6] = { 0.5f, 2.0f, 1.0f, 2.0f, -1.0f, 1.0f };
        db_token kids[6];
        CHECK_INT_EQ(db_rsd_top_k(x, 6, 5, kids), 5);
        CHECK(kids[0] == 1 && kids[1] == 3 && kids[2] == 2 && kids[3] == 5 && kids[4] == 0);
    }
}

/* ---- exact backend ---- */
#define TARGET    "vocab=40,order=2,seed=21,sharpness=2.5"
#define DRAFT     "vocab=40,order=2,seed=21,sharpness=2.5,noise=0.35"
#define UNRELATED "vocab=40,order=2,seed=99,sharpness=2.5"

static void rsd_greedy_identical_to_ar_exact(void) {
    db_model *t = open_model("exact", TARGET), *d = open_model("exact", DRAFT);
    db_model *self = open_model("exact", TARGET), *other = open_model("exact", UNRELATED);
    if (!t || !d || !self || !other) return;
    const char *cfg[][6] = { { "depth", "4", "k", "2" }, { "depth", "3", "k", "3" }, { "depth", "1", "k", "4" },
                             { "depth", "6", "k", "2" }, { "depth", "2", "k", "8" }, { "depth", "5", "k", "1" },
                             { "depth", "4", "tree", "beam", "width", "4" }, { "depth", "6", "tree", "beam", "width", "2" },
                             { "depth", "3", "tree", "beam", "width", "8" } };
    const int n_cfg = (int)(sizeof cfg / sizeof cfg[0]);
    db_model *drafts[3] = { d, self, other };
    const char *dname[3] = { "noisy", "self", "unrelated" };
    long acc[3] = { 0 }, drafted[3] = { 0 }, toks[3] = { 0 }, commits[3] = { 0 }, beam_acc[3] = { 0 }, beam_drafted[3] = { 0 };
    int mism = 0, cases = 0;
    db_rng r = db_rng_make(3, 0);
    for (int prompt_i = 0; prompt_i < 25; prompt_i++) {
        db_token prompt[12] = { DB_EXACT_BOS };
        int n = 2 + (int)db_rng_below(&r, 10);
        for (int i = 1; i < n; i++) prompt[i] = 3 + (db_token)db_rng_below(&r, 37);
        db_gen_output ref;
        run_engine("ar", t, NULL, NULL, 0, prompt, n, 48, 1, true, &ref, NULL);
        for (int c = 0; c < n_cfg; c++)
            for (int w = 0; w < 3; w++) {
                db_gen_output o;
                gen_stats st;
                run_engine("rsd", t, drafts[w], cfg[c], cfg[c][4] ? 6 : 4, prompt, n, 48, 1, true, &o, &st);
                if (!same_tokens(&o, &ref)) {
                    mism++;
                    printf("    prompt %d depth %s %s %s %s draft differs from ar\n", prompt_i, cfg[c][1], cfg[c][2], cfg[c][3], dname[w]);
                }
                if (cfg[c][4]) {               /* beam search may prune the greedy path */
                    beam_acc[w] += st.accepted;
                    beam_drafted[w] += st.drafted;
                    db_output_free(&o);
                    cases++;
                    continue;
                }
                acc[w] += st.accepted;
                drafted[w] += st.drafted;
                toks[w] += st.tokens;
                commits[w] += st.commits;
                cases++;
                db_output_free(&o);
            }
        db_output_free(&ref);
    }
    CHECK_MSG(mism == 0, "%d of %d runs differ from ar", mism, cases);
    for (int w = 0; w < 3; w++)
        printf("    greedy %s draft: accepted %ld of %ld depths, MAT %.2f\n", dname[w], acc[w], drafted[w],
               commits[w] ? (double)toks[w] / commits[w] : 0);
    for (int w = 0; w < 3; w++)
        printf("    greedy %s draft, tree=beam: accepted %ld of %ld depths\n", dname[w], beam_acc[w], beam_drafted[w]);
    CHECK_MSG(beam_acc[1] > beam_drafted[1] / 2 && beam_acc[0] > 0, "beam: self draft accepted %ld of %ld", beam_acc[1], beam_drafted[1]);
    CHECK_MSG(acc[1] == drafted[1] && drafted[1] > 0, "self draft accepted %ld of %ld", acc[1], drafted[1]);
    CHECK_MSG(acc[0] > drafted[0] / 5 && acc[0] < drafted[0], "noisy draft accepted %ld of %ld", acc[0], drafted[0]);
    CHECK_MSG(acc[2] < drafted[2] / 2, "unrelated draft accepted %ld of %ld", acc[2], drafted[2]);
    printf("    greedy: %d runs identical to ar\n", cases);
    db_model_close(t);
    db_model_close(d);
    db_model_close(self);
    db_model_close(other);
}

#define SV 9
#define S_TARGET "vocab=9,order=1,seed=5,sharpness=1.3"
#define S_DRAFT  "vocab=9,order=1,seed=5,sharpness=1.3,noise=0.9"
#define S_OTHER  "vocab=9,order=1,seed=6,sharpness=1.3"

static void reference_probs(const float *logits, int n, double temp, int top_k, double *p) {
    double mx = -1e300, z = 0;
    for (int i = 0; i < n; i++) if (logits[i] > mx) mx = logits[i];
    for (int i = 0; i < n; i++) { p[i] = logits[i] < -1e29f ? 0 : exp((logits[i] - mx) / temp); z += p[i]; }
    for (int i = 0; i < n; i++) p[i] /= z;
    if (top_k > 0) {
        for (int i = 0; i < n; i++) {
            int better = 0;
            for (int j = 0; j < n; j++) better += p[j] > p[i] || (p[j] == p[i] && j < i);
            if (better >= top_k) p[i] = 0;
        }
        double s = 0;
        for (int i = 0; i < n; i++) s += p[i];
        for (int i = 0; i < n; i++) p[i] /= s;
    }
}

/* joint law of 4 generated tokens after prompt [BOS, 4] (order-1 target) */
static void joint4(double temp, int top_k, double *joint) {
    db_exact_spec spec;
    db_exact_spec_parse(S_TARGET, &spec, NULL, 0);
    float l[SV];
    double p[4][SV];
    db_token ctx[6] = { DB_EXACT_BOS, 4 };
    db_exact_logits(&spec, ctx, 2, 2, l);
    reference_probs(l, SV, temp, top_k, p[0]);
    for (int a = 0; a < SV; a++) {
        ctx[2] = a;
        db_exact_logits(&spec, ctx, 3, 3, l);
        reference_probs(l, SV, temp, top_k, p[1]);
        for (int b = 0; b < SV; b++) {
            ctx[3] = b;
            db_exact_logits(&spec, ctx, 4, 4, l);
            reference_probs(l, SV, temp, top_k, p[2]);
            for (int c = 0; c < SV; c++) {
                ctx[4] = c;
                db_exact_logits(&spec, ctx, 5, 5, l);
                reference_probs(l, SV, temp, top_k, p[3]);
                for (int d = 0; d < SV; d++)
                    joint[((a * SV + b) * SV + c) * SV + d] = p[0][a] * p[1][b] * p[2][c] * p[3][d];
            }
        }
    }
}

static void rsd_sampled_law_exact(void) {
    db_model *t = open_model("exact", S_TARGET), *d = open_model("exact", S_DRAFT), *o2 = open_model("exact", S_OTHER);
    if (!t || !d || !o2) return;
    const int cells = SV * SV * SV * SV;
    uint64_t *c4 = calloc((size_t)cells, sizeof *c4), c1[SV], c2[SV * SV];
    double *j4 = malloc(sizeof(double) * (size_t)cells), j1[SV], j2[SV * SV];
    struct { const char *kv[10]; int n_kv; double temp; int top_k; int n; int other; } cfg[] = {
        { { "mode", "sample", "depth", "3", "k", "2" }, 6, 1.0, 0, 30000, 0 },
        { { "mode", "sample", "depth", "2", "k", "3", "temp", "0.7", "top_k", "4" }, 10, 0.7, 4, 25000, 0 },
        { { "mode", "sample", "depth", "3", "k", "4" }, 6, 1.0, 0, 20000, 1 },
        { { "mode", "sample", "depth", "1", "k", "1" }, 6, 1.0, 0, 20000, 0 },
        { { "mode", "sample", "depth", "3", "tree", "beam", "width", "4" }, 8, 1.0, 0, 30000, 0 },
        { { "mode", "sample", "depth", "2", "tree", "beam", "width", "3", "top_k", "4" }, 10, 1.0, 4, 25000, 1 },
    };
    db_token prompt[2] = { DB_EXACT_BOS, 4 };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        memset(c4, 0, sizeof *c4 * (size_t)cells);
        memset(c1, 0, sizeof c1);
        memset(c2, 0, sizeof c2);
        long drafted = 0, accepted = 0, toks = 0, commits = 0;
        for (int s = 0; s < cfg[c].n; s++) {
            db_gen_output o;
            gen_stats st;
            if (run_engine("rsd", t, cfg[c].other ? o2 : d, cfg[c].kv, cfg[c].n_kv, prompt, 2, 4, 1000 + (uint64_t)s,
                           true, &o, &st) != 0) break;
            if (o.n_tokens == 4) {
                c4[((o.tokens[0] * SV + o.tokens[1]) * SV + o.tokens[2]) * SV + o.tokens[3]]++;
                c2[o.tokens[1] * SV + o.tokens[2]]++;
                c1[o.tokens[1]]++;
            } else db_test_fail(__FILE__, __LINE__, "sample %d: %d tokens", s, o.n_tokens);
            drafted += st.drafted;
            accepted += st.accepted;
            toks += st.tokens;
            commits += st.commits;
            db_output_free(&o);
        }
        joint4(cfg[c].temp, cfg[c].top_k, j4);
        memset(j1, 0, sizeof j1);
        memset(j2, 0, sizeof j2);
        /* token 0 comes from the prefill: the first drafted token is
         * token 1, the first step's 2-token joint tokens 1 and 2 */
        for (int x = 0; x < cells; x++) { j2[(x / SV) % (SV * SV)] += j4[x]; j1[(x / (SV * SV)) % SV] += j4[x]; }
        int df1, df2, df4;
        double p1, p2, p4;
        db_chi_square(c1, j1, SV, 5.0, &df1, &p1);
        db_chi_square(c2, j2, SV * SV, 5.0, &df2, &p2);
        db_chi_square(c4, j4, (size_t)cells, 5.0, &df4, &p4);
        printf("    rsd %s=%s %s=%s%s: %d samples, acceptance %.3f, MAT %.2f; chi2 p: token 1 %.4f (df %d), "
               "tokens 1-2 %.4f (df %d), 4-joint %.4f (df %d)\n", cfg[c].kv[2], cfg[c].kv[3], cfg[c].kv[4], cfg[c].kv[5],
               cfg[c].other ? " unrelated draft" : "", cfg[c].n, drafted ? (double)accepted / drafted : 0,
               commits ? (double)toks / commits : 0, p1, df1, p2, df2, p4, df4);
        CHECK_MSG(p1 > 1e-4 && p2 > 1e-4 && p4 > 1e-4, "config %zu: p = %g %g %g", c, p1, p2, p4);
        CHECK_MSG(drafted > 0 && accepted > 0 && accepted < drafted, "config %zu: drafted %ld accepted %ld", c, drafted,
                  accepted);
    }
    free(c4);
    free(j4);
    db_model_close(t);
    db_model_close(d);
    db_model_close(o2);
}

/* ---- KV ledger (as tests/test_kv.c) ---- */

/* prompt + output minus its last token */
static db_token *history_of(const db_token *prompt, int n, const db_gen_output *o, int *len) {
    db_token *h = malloc(sizeof *h * (size_t)(n + o->n_tokens + 1));
    memcpy(h, prompt, sizeof *h * (size_t)n);
    if (o->n_tokens > 0) memcpy(h + n, o->tokens, sizeof *h * (size_t)(o->n_tokens - 1));
    *len = n + (o->n_tokens > 0 ? o->n_tokens - 1 : 0);
    return h;
}

/* every leaf sequence holds exactly the first `held` tokens of the history
 * (held: sequence 0's length, at most one step short of the history when
 * the last accepted path was out of order), each once, nothing past them */
static int ledger_ok(db_model *m, int n_seq, const db_token *prompt, int n, const db_gen_output *o, int max_tail,
                     const char *what) {
    int len;
    db_token *h = history_of(prompt, n, o, &len);
    const int held = (int)db_model_seq_pos_max(m, 0) + 1;
    int bad = 0;
    if (!(held <= len && held >= len - max_tail && held > n)) {
        db_test_fail(__FILE__, __LINE__, "%s: the cache holds %d positions, the history %d", what, held, len);
        bad++;
    }
    char err[512];
    for (int q = 0; q < n_seq && !bad; q++)
        if (db_model_kv_ledger_check(m, q, h, held, err, sizeof err) != 0) {
            db_test_fail(__FILE__, __LINE__, "%s: sequence %d: %s", what, q, err);
            bad++;
        }
    free(h);
    return bad;
}

static void rsd_kv_ledger_exact(void) {
    struct { const char *kv[8]; int n_kv, n_seq; } E[] = {
        { { "depth", "3", "k", "2" }, 4, 8 },
        { { "depth", "2", "k", "4" }, 4, 16 },
        { { "depth", "4", "k", "2", "mode", "sample" }, 6, 16 },
        { { "depth", "2", "k", "3", "mode", "sample", "temp", "1.5" }, 8, 9 },
        { { "depth", "4", "tree", "beam", "width", "4" }, 6, 16 },
        { { "depth", "3", "tree", "beam", "width", "5", "mode", "sample" }, 8, 15 },
    };
    int checked = 0, bad = 0;
    for (int seed = 1; seed <= 8; seed++) {
        char ts[128], ds[160];
        snprintf(ts, sizeof ts, "vocab=24,order=2,seed=%d,sharpness=2.5", seed);
        snprintf(ds, sizeof ds, "%s,noise=0.4", ts);
        db_model *t = open_model("exact", ts), *d = open_model("exact", ds);
        if (!t || !d) return;
        CHECK_INT_EQ(db_model_kv_ledger_enable(t, 512, 64), 0);
        const db_token prompt[4] = { 0, 3 + seed % 5, 4, 3 + seed % 7 };
        for (size_t e = 0; e < sizeof E / sizeof E[0]; e++) {
            db_gen_output o;
            if (run_engine("rsd", t, d, E[e].kv, E[e].n_kv, prompt, 4, 48, (uint64_t)seed, false, &o, NULL) == 0) {
                bad += ledger_ok(t, E[e].n_seq, prompt, 4, &o, 8, "rsd");
                checked++;
            }
            db_output_free(&o);
        }
        db_model_close(t);
        db_model_close(d);
    }
    CHECK_INT_EQ(checked, 48);
    CHECK_INT_EQ(bad, 0);
}

static void rsd_params_and_events(void) {
    const db_engine *e = db_engine_find("rsd");
    CHECK(e != NULL);
    if (!e) return;
    CHECK(e->needs_draft && e->lossless_greedy && e->n_seq_max);
    db_params p;
    db_params_defaults(&p, e->params, e->n_params);
    char err[256];
    CHECK_INT_EQ(e->validate(&p, err, sizeof err), 0);
    CHECK_INT_EQ(e->n_seq_max(&p), 16);
    db_params_set(&p, "k", "3", err, sizeof err);
    CHECK_INT_EQ(e->validate(&p, err, sizeof err), -1);          /* 3^4 = 81 leaves */
    CHECK_CONTAINS(err, "parameter 'k'");
    db_params_set(&p, "depth", "3", err, sizeof err);
    CHECK_INT_EQ(e->validate(&p, err, sizeof err), 0);
    CHECK_INT_EQ(e->n_seq_max(&p), 27);
    db_params_set(&p, "tree", "beam", err, sizeof err);
    CHECK_INT_EQ(e->validate(&p, err, sizeof err), 0);
    CHECK_INT_EQ(e->n_seq_max(&p), 12);                          /* width 4 x depth 3 tips */
    db_params_set(&p, "width", "16", err, sizeof err);
    db_params_set(&p, "depth", "5", err, sizeof err);
    CHECK_INT_EQ(e->validate(&p, err, sizeof err), -1);
    CHECK_CONTAINS(err, "parameter 'width'");
    db_params_set(&p, "depth", "4", err, sizeof err);
    CHECK_INT_EQ(e->validate(&p, err, sizeof err), 0);
    db_params_set(&p, "mode", "sample", err, sizeof err);
    db_params_set(&p, "temp", "0", err, sizeof err);
    CHECK_INT_EQ(e->validate(&p, err, sizeof err), -1);
    /* VERIFY drafts `depth` positions per step (fewer only at the length
     * limit), and commits = verifies + the prefill */
    db_model *t = open_model("exact", TARGET), *d = open_model("exact", DRAFT);
    if (!t || !d) return;
    const char *kv[] = { "depth", "3", "k", "2" };
    const db_token prompt[3] = { DB_EXACT_BOS, 5, 6 };
    db_gen_output o;
    gen_stats st;
    run_engine("rsd", t, d, kv, 4, prompt, 3, 40, 1, false, &o, &st);
    CHECK_INT_EQ(o.n_tokens, 40);
    CHECK_INT_EQ(st.max_drafted, 3);
    CHECK_INT_EQ(st.commits, st.verifies + 1);
    CHECK_INT_EQ(st.tokens, 40);
    CHECK(st.drafted >= 3 * (st.verifies - 1));
    db_output_free(&o);
    /* cancelled: returns 1 with stop reason "cancel", both trees */
    for (int b = 0; b < 2; b++) {
        db_params pc;
        db_params_defaults(&pc, e->params, e->n_params);
        if (b) db_params_set(&pc, "tree", "beam", err, sizeof err);
        volatile int cancel = 1;
        db_model_reset(t);
        db_model_reset(d);
        db_gen_request rq = { .target = t, .draft = d, .prompt = prompt, .n_prompt = 3, .max_new_tokens = 20,
                              .params = &pc, .cancel = &cancel };
        memset(&o, 0, sizeof o);
        CHECK_INT_EQ(e->generate(&rq, &o, err, sizeof err), 1);
        CHECK_STR_EQ(o.stop_reason, "cancel");
        CHECK(o.n_tokens <= 1);
        db_output_free(&o);
    }
    /* no draft model: an error, not a crash */
    db_params_defaults(&p, e->params, e->n_params);
    db_gen_request req = { .target = t, .prompt = prompt, .n_prompt = 3, .max_new_tokens = 4, .params = &p };
    memset(&o, 0, sizeof o);
    CHECK_INT_EQ(e->generate(&req, &o, err, sizeof err), -1);
    CHECK_CONTAINS(err, "draft");
    db_output_free(&o);
    db_model_close(t);
    db_model_close(d);
}

/* llama.cpp: the bundled target with its distilled draft and with itself as
 * draft: greedy output identical to ar's on 3 prompts (trees under 64 batch
 * rows: the flash-attention kernel ar uses), KV ledger exact afterwards. */
static void rsd_bundled_identity_and_kv(void) {
#ifndef HAVE_LLAMA
    db_test_skip("built without llama.cpp");
#else
    char tp[4096], dp[4096];
    snprintf(tp, sizeof tp, "%s/data/models/target.gguf", db_test_srcdir());
    snprintf(dp, sizeof dp, "%s/data/models/draft-distilled.gguf", db_test_srcdir());
    struct stat sb;
    if (stat(tp, &sb) != 0 || stat(dp, &sb) != 0) { db_test_fail(__FILE__, __LINE__, "bundled models missing"); return; }
    db_llama_set_quiet(true);
    db_model *t = open_model("llama", tp), *d = open_model("llama", dp), *self = open_model("llama", tp);
    if (!t || !d || !self) return;
    CHECK_INT_EQ(db_model_kv_ledger_enable(t, 512, 64), 0);
    const char *texts[] = { "The committee said that the city would", "And the LORD spake unto Moses, saying,",
                            "def read_config(path):\n    with open(path) as f:\n" };
    const char *cfg[][6] = { { "depth", "4", "k", "2" }, { "depth", "3", "k", "3" }, { "depth", "4", "tree", "beam", "width", "4" } };
    const int cfg_seq[] = { 16, 27, 16 };
    int diff = 0, bad = 0;
    long acc = 0, rej = 0, self_acc = 0, self_drafted = 0;
    for (int i = 0; i < 3; i++) {
        db_token prompt[128];
        int n = db_model_tokenize(t, texts[i], strlen(texts[i]), true, true, prompt, 128);
        db_gen_output ref, o;
        gen_stats st;
        run_engine("ar", t, NULL, NULL, 0, prompt, n, 64, 1, false, &ref, NULL);
        for (int c = 0; c < 3; c++) {
            run_engine("rsd", t, d, cfg[c], cfg[c][4] ? 6 : 4, prompt, n, 64, 1, false, &o, &st);
            CHECK_MSG(same_tokens(&o, &ref), "rsd depth %s %s %s differs from ar on prompt %d", cfg[c][1], cfg[c][2], cfg[c][3], i);
            diff += !same_tokens(&o, &ref);
            bad += ledger_ok(t, cfg_seq[c], prompt, n, &o, 8, "rsd bundled");
            acc += st.accepted;
            rej += st.drafted - st.accepted;
            db_output_free(&o);
        }
        run_engine("rsd", t, self, cfg[0], 4, prompt, n, 64, 1, false, &o, &st);
        CHECK_MSG(same_tokens(&o, &ref), "rsd self draft differs from ar on prompt %d", i);
        diff += !same_tokens(&o, &ref);
        self_acc += st.accepted;
        self_drafted += st.drafted;
        db_output_free(&o);
        db_output_free(&ref);
    }
    CHECK_INT_EQ(diff, 0);
    CHECK_INT_EQ(bad, 0);
    CHECK_MSG(acc > 10 && rej > 10, "rsd accepted %ld, rejected %ld draft depths", acc, rej);
    CHECK_MSG(self_acc == self_drafted, "self draft accepted %ld of %ld", self_acc, self_drafted);
    printf("    bundled: rsd identical to ar on 3 of 3 prompts x 4 runs; distilled draft accepted %ld, rejected %ld "
           "depths; self draft %ld of %ld\n", acc, rej, self_acc, self_drafted);
    db_model_close(t);
    db_model_close(d);
    db_model_close(self);
#endif
}

void suite_rsd(void) {
    RUN(rsd_node_law_and_planted_fault);
    RUN(rsd_params_and_events);
    RUN(rsd_greedy_identical_to_ar_exact);
    RUN(rsd_sampled_law_exact);
    RUN(rsd_kv_ledger_exact);
    RUN(rsd_bundled_identity_and_kv);
}
