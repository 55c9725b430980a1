/* test_engine_ar.c — the `ar` engine on the exact backend: greedy equals the
 * argmax chain of the closed form; sampling draws from the analytic
 * distribution (chi-square over the joint of two tokens, with a negative
 * control); same seed, same tokens; stopping at end-of-generation;
 * no_repeat_ngram: greedy equals the argmax over the tokens that complete
 * no earlier n-gram (brute force), sampled outputs never repeat an n-gram,
 * and a step with every token forbidden stops with "dead_end". */
#include "test.h"
#include "fixtures.h"

#include <stdlib.h>

#include "engines/engine.h"
#include "harness/model/model_exact.h"
#include "harness/model/sample.h"
#include "harness/util/stats.h"

#define SPEC "vocab=16,order=1,seed=11,sharpness=1.5"

static db_model *open_exact(const char *spec) { return db_test_open_model("exact", spec, 128, 64, 0); }

static int generate(db_model *m, const char *const *kv, int n_kv, uint64_t seed, int max_new, bool stop,
                    db_gen_output *out) {
    const db_engine *e = db_engine_find("ar");
    db_params p;
    db_params_defaults(&p, e->params, e->n_params);
    char err[256];
    for (int i = 0; i < n_kv; i += 2)
        if (db_params_set(&p, kv[i], kv[i + 1], err, sizeof err) != 0) {
            db_test_fail(__FILE__, __LINE__, "%s", err);
            return -1;
        }
    db_token prompt[2] = { DB_EXACT_BOS, 7 };
    db_event_log log;
    db_event_log_init(&log);
    db_event_log_start(&log);
    db_gen_request req = { .target = m, .prompt = prompt, .n_prompt = 2, .max_new_tokens = max_new,
                           .stop_at_eog = stop, .seed = seed, .params = &p, .events = &log };
    memset(out, 0, sizeof *out);
    db_model_reset(m);
    int rc = e->generate(&req, out, err, sizeof err);
    if (rc != 0) db_test_fail(__FILE__, __LINE__, "generate: %s", err);
    db_event_log_free(&log);
    return rc;
}

static void greedy_is_argmax_chain(void) {
    db_model *m = open_exact(SPEC);
    if (!m) return;
    db_exact_spec spec;
    db_exact_spec_parse(SPEC, &spec, NULL, 0);
    db_gen_output out;
    CHECK_INT_EQ(generate(m, NULL, 0, 1, 20, false, &out), 0);
    CHECK_INT_EQ(out.n_tokens, 20);
    db_token ctx[32] = { DB_EXACT_BOS, 7 };
    int n = 2;
    float l[16];
    for (int i = 0; i < 20; i++) {
        db_exact_logits(&spec, ctx, n, n, l);
        db_token want = db_argmax(l, 16);
        CHECK_INT_EQ(out.tokens[i], want);
        ctx[n++] = want;
    }
    db_output_free(&out);
    db_model_close(m);
}

/* the sampling distribution computed independently of harness/model/sample.c */
static void reference_probs(const float *logits, int n, double temp, int top_k, double top_p, double *p) {
    double mx = -1e300, z = 0;
    for (int i = 0; i < n; i++) if (logits[i] > mx) mx = logits[i];
    for (int i = 0; i < n; i++) { p[i] = logits[i] < -1e29f ? 0 : exp((logits[i] - mx) / temp); z += p[i]; }
    for (int i = 0; i < n; i++) p[i] /= z;
    int order[64];
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 0; i < n; i++)          /* selection sort, descending */
        for (int j = i + 1; j < n; j++)
            if (p[order[j]] > p[order[i]]) { int t = order[i]; order[i] = order[j]; order[j] = t; }
    int keep = top_k > 0 && top_k < n ? top_k : n;
    double head = 0;
    for (int r = 0; r < keep; r++) head += p[order[r]];
    double cum = 0;
    int kp = 0;
    while (kp < keep) { cum += p[order[kp]] / head; kp++; if (cum >= top_p) break; }
    double kept = 0;
    for (int r = 0; r < kp; r++) kept += p[order[r]];
    for (int r = kp; r < n; r++) p[order[r]] = 0;
    for (int r = 0; r < kp; r++) p[order[r]] /= kept;
}

static void joint_expected(const db_exact_spec *spec, double temp, int top_k, double top_p, double *joint) {
    float l[16];
    double p1[16], p2[16];
    db_token ctx[3] = { DB_EXACT_BOS, 7, 0 };
    db_exact_logits(spec, ctx, 2, 2, l);
    reference_probs(l, 16, temp, top_k, top_p, p1);
    for (int a = 0; a < 16; a++) {
        ctx[2] = a;
        db_exact_logits(spec, ctx, 3, 3, l);
        reference_probs(l, 16, temp, top_k, top_p, p2);
        for (int b = 0; b < 16; b++) joint[a * 16 + b] = p1[a] * p2[b];
    }
}

static void sampling_matches_analytic_distribution(void) {
    db_model *m = open_exact(SPEC);
    if (!m) return;
    db_exact_spec spec;
    db_exact_spec_parse(SPEC, &spec, NULL, 0);
    const char *kv[] = { "mode", "sample", "temp", "0.7", "top_k", "8", "top_p", "0.95" };
    enum { N = 40000 };
    uint64_t *counts = calloc(256, sizeof *counts);
    for (int s = 0; s < N; s++) {
        db_gen_output out;
        if (generate(m, kv, 8, (uint64_t)s + 1, 2, false, &out) != 0) break;
        counts[out.tokens[0] * 16 + out.tokens[1]]++;
        db_output_free(&out);
    }
    double joint[256];
    joint_expected(&spec, 0.7, 8, 0.95, joint);
    int df;
    double p;
    double chi = db_chi_square(counts, joint, 256, 5.0, &df, &p);
    CHECK_MSG(p > 1e-3, "chi2 %.1f df %d p %g", chi, df, p);
    CHECK(df > 10);
    /* negative control: the same samples against the untruncated temperature-1 distribution */
    joint_expected(&spec, 1.0, 0, 1.0, joint);
    for (int i = 0; i < 256; i++) if (joint[i] == 0) joint[i] = 1e-12;
    db_chi_square(counts, joint, 256, 5.0, &df, &p);
    CHECK_MSG(p < 1e-6, "negative control not rejected: p %g", p);
    free(counts);
    db_model_close(m);
}

static void same_seed_same_tokens(void) {
    db_model *m = open_exact(SPEC);
    if (!m) return;
    const char *kv[] = { "mode", "sample", "temp", "1.0" };
    db_gen_output a, b, c;
    generate(m, kv, 4, 42, 30, false, &a);
    generate(m, kv, 4, 42, 30, false, &b);
    generate(m, kv, 4, 43, 30, false, &c);
    CHECK_INT_EQ(a.n_tokens, 30);
    CHECK_INT_EQ(b.n_tokens, 30);
    CHECK(memcmp(a.tokens, b.tokens, sizeof(db_token) * 30) == 0);
    CHECK(memcmp(a.tokens, c.tokens, sizeof(db_token) * 30) != 0);
    db_output_free(&a);
    db_output_free(&b);
    db_output_free(&c);
    db_model_close(m);
}

static void stops_at_end_of_generation(void) {
    db_model *m = open_exact("vocab=16,order=1,seed=11,sharpness=1,eos_bias=3");
    if (!m) return;
    const char *kv[] = { "mode", "sample" };
    int stopped = 0;
    for (int s = 0; s < 20; s++) {
        db_gen_output out;
        generate(m, kv, 2, (uint64_t)s, 200, true, &out);
        if (strcmp(out.stop_reason, "eog") == 0) {
            stopped++;
            for (int i = 0; i < out.n_tokens; i++) CHECK(out.tokens[i] != DB_EXACT_EOS);
        }
        db_output_free(&out);
    }
    CHECK_INT_EQ(stopped, 20);
    db_model_close(m);
}

/* n-gram blocking: the brute-force chain — at each step the argmax over the
 * tokens x such that (last n-1 tokens, x) occurs nowhere earlier in the
 * prompt and output; when no token is left the engine stops ("dead_end") */
static bool ngram_seen(const db_token *ctx, int n_ctx, int n, db_token x) {
    for (int s = 0; s + n <= n_ctx; s++) {
        bool eq = ctx[s + n - 1] == x;
        for (int q = 0; q < n - 1 && eq; q++) eq = ctx[s + q] == ctx[n_ctx - (n - 1) + q];
        if (eq) return true;
    }
    return false;
}

static bool has_repeated_ngram(const db_token *ctx, int n_ctx, int n) {
    for (int a = 0; a + n <= n_ctx; a++)
        for (int b = a + 1; b + n <= n_ctx; b++)
            if (memcmp(ctx + a, ctx + b, (size_t)n * sizeof *ctx) == 0) return true;
    return false;
}

static void no_repeat_ngram_greedy_is_brute_force(void) {
    db_model *m = db_test_open_model("exact", SPEC, 512, 64, 0);
    if (!m) return;
    db_exact_spec spec;
    db_exact_spec_parse(SPEC, &spec, NULL, 0);
    enum { MAX_NEW = 400 };
    int dead_ends = 0;
    for (int n = 2; n <= 4; n++) {
        char nbuf[16];
        snprintf(nbuf, sizeof nbuf, "%d", n);
        const char *kv[] = { "no_repeat_ngram", nbuf };
        db_gen_output out;
        CHECK_INT_EQ(generate(m, kv, 2, 1, MAX_NEW, false, &out), 0);
        db_token ctx[MAX_NEW + 2] = { DB_EXACT_BOS, 7 };
        int n_ctx = 2, produced = 0;
        bool dead = false;
        float l[16];
        while (produced < MAX_NEW) {
            db_exact_logits(&spec, ctx, n_ctx, n_ctx, l);
            int best = -1;
            for (int x = 0; x < 16; x++)
                if (!ngram_seen(ctx, n_ctx, n, x) && (best < 0 || l[x] > l[best])) best = x;
            if (best < 0) { dead = true; break; }
            ctx[n_ctx++] = best;
            produced++;
        }
        CHECK_INT_EQ(out.n_tokens, produced);
        for (int i = 0; i < out.n_tokens && i < produced; i++) CHECK_INT_EQ(out.tokens[i], ctx[2 + i]);
        CHECK_MSG(strcmp(out.stop_reason, dead ? "dead_end" : "length") == 0, "n=%d: stop_reason %s", n, out.stop_reason);
        CHECK(!has_repeated_ngram(ctx, n_ctx, n));
        dead_ends += dead;
        db_output_free(&out);
    }
    /* 400 tokens of a 16-token vocabulary cannot avoid every repeated
     * bigram (at most 256 exist): bigram blocking ends in a dead end */
    CHECK(dead_ends >= 1);
    /* without blocking the same greedy chain repeats bigrams (it loops) */
    db_gen_output plain;
    CHECK_INT_EQ(generate(m, NULL, 0, 1, 40, false, &plain), 0);
    db_token all[64] = { DB_EXACT_BOS, 7 };
    memcpy(all + 2, plain.tokens, (size_t)plain.n_tokens * sizeof *all);
    CHECK(has_repeated_ngram(all, 2 + plain.n_tokens, 2));
    db_output_free(&plain);
    db_model_close(m);
}

static void no_repeat_ngram_sampling_never_repeats(void) {
    db_model *m = open_exact(SPEC);
    if (!m) return;
    const char *kv[] = { "mode", "sample", "temp", "1.5", "no_repeat_ngram", "3" };
    int repeats_without = 0;
    for (int s = 0; s < 20; s++) {
        db_gen_output out, plain;
        generate(m, kv, 6, (uint64_t)s, 60, false, &out);
        generate(m, kv, 4, (uint64_t)s, 60, false, &plain);
        db_token all[64] = { DB_EXACT_BOS, 7 };
        memcpy(all + 2, out.tokens, (size_t)out.n_tokens * sizeof *all);
        CHECK_MSG(!has_repeated_ngram(all, 2 + out.n_tokens, 3), "seed %d repeats a 3-gram", s);
        CHECK(out.n_tokens == 60 || strcmp(out.stop_reason, "dead_end") == 0);
        memcpy(all + 2, plain.tokens, (size_t)plain.n_tokens * sizeof *all);
        repeats_without += has_repeated_ngram(all, 2 + plain.n_tokens, 3);
        db_output_free(&out);
        db_output_free(&plain);
    }
    CHECK(repeats_without >= 10);   /* negative control: the option is what prevents them */
    db_model_close(m);
}

static void no_repeat_ngram_of_one_is_an_error(void) {
    const db_engine *e = db_engine_find("ar");
    db_params p;
    db_params_defaults(&p, e->params, e->n_params);
    char err[256] = "";
    CHECK_INT_EQ(db_params_set(&p, "no_repeat_ngram", "1", err, sizeof err), 0);
    CHECK(e->validate(&p, err, sizeof err) != 0);
    CHECK(strstr(err, "no_repeat_ngram") != NULL);
}

void suite_engine_ar(void) {
    RUN(greedy_is_argmax_chain);
    RUN(sampling_matches_analytic_distribution);
    RUN(same_seed_same_tokens);
    RUN(stops_at_end_of_generation);
    RUN(no_repeat_ngram_greedy_is_brute_force);
    RUN(no_repeat_ngram_sampling_never_repeats);
    RUN(no_repeat_ngram_of_one_is_an_error);
}
