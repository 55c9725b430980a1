/* test_kv.c — the KV cache cell by cell after speculative decoding.
 *
 * model.h's KV ledger records, for every (sequence, position), how many
 * cells the engine put in the cache and which token it decoded into each.
 * After each lossless engine decodes greedily, every sequence it used must
 * hold exactly one cell per position of prompt + output (minus the last
 * token, not yet evaluated, and for spec-tree, lookahead and token-recycling minus the last
 * step's accepted tokens when they were placed out of order: those are
 * evaluated again at the next forward), each with the right token, and
 * nothing past it; the backend's own largest position must agree.  Unlike the logits check
 * of test_spec.c (a tolerance that cells 30-60 positions back slip under),
 * this sees a wrong cell at any distance: planted bugs — a cell removed, a
 * wrong token written, a stale duplicate left — at 2, 10, 30 and 60
 * positions back must each fail the check.
 *
 *   ledger_follows_kv_operations     the ledger itself, by hand, on the exact backend
 *   engines_leave_exact_history      exact backend: spec, spec-tree, pld,
 *                                    lookahead, token-recycling (small and
 *                                    paper trees), ar over 8 seeds
 *   bundled_engines_leave_exact_history  llama.cpp, bundled target + draft,
 *                                    prose / scripture / code prompts,
 *                                    plus the planted-bug controls
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
#include "harness/model/model.h"

#define N_POS 512
#define N_SEQ 40

static int run_engine(const char *name, db_model *target, db_model *draft, const char *const *kv, int n_kv,
                      const db_token *prompt, int n_prompt, int max_new, db_gen_output *out) {
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
    db_model_reset(target);
    if (draft) db_model_reset(draft);
    db_gen_request req = { .target = target, .draft = draft, .prompt = prompt, .n_prompt = n_prompt,
                           .max_new_tokens = max_new, .stop_at_eog = false, .seed = 1, .params = &p };
    memset(out, 0, sizeof *out);
    int rc = e->generate(&req, out, err, sizeof err);
    if (rc != 0) db_test_fail(__FILE__, __LINE__, "%s generate: %s", name, err);
    return rc;
}

/* prompt + output minus its last token */
static db_token *history_of(const db_token *prompt, int n, const db_gen_output *o, int *len) {
    db_token *h = malloc(sizeof *h * (size_t)(n + o->n_tokens + 1));
    if (!h) return NULL;
    memcpy(h, prompt, sizeof *h * (size_t)n);
    if (o->n_tokens > 0) memcpy(h + n, o->tokens, sizeof *h * (size_t)(o->n_tokens - 1));
    *len = n + (o->n_tokens > 0 ? o->n_tokens - 1 : 0);
    return h;
}

/* How much of the history the cache holds: engines that keep the target's
 * cells in single-sequence order (spec-tree, lookahead) drop accepted cells
 * that do not directly follow the committed ones and evaluate them again at
 * the head of the next forward, so after the last step the cache may end up
 * to MAX_TAIL tokens short of prompt + output - 1.  Anything else is a bug. */
#define MAX_TAIL 8
static int held_length(db_model *m, int n_prompt, int len, const char *what) {
    int held = (int)db_model_seq_pos_max(m, 0) + 1;
    CHECK_MSG(held <= len && held >= len - MAX_TAIL && held > n_prompt,
              "%s: the cache holds %d positions, the history %d (prompt %d)", what, held, len, n_prompt);
    return held;
}

/* every sequence 0..n_seq-1 holds exactly the first `held` tokens of the
 * history, each once, and nothing past them; returns failures */
static int check_sequences(db_model *m, int n_seq, const db_token *h, int held, const char *what) {
    int bad = 0;
    char err[512];
    for (int q = 0; q < n_seq; q++)
        if (db_model_kv_ledger_check(m, q, h, held, err, sizeof err) != 0) {
            db_test_fail(__FILE__, __LINE__, "%s: %s", what, err);
            bad++;
        }
    return bad;
}

static void ledger_follows_kv_operations(void) {
    db_model *m = db_test_open_model("exact", "vocab=16,order=1,seed=3", 64, 64, 4);
    if (!m) return;
    char err[512];
    CHECK(db_model_kv_ledger_check(m, 0, NULL, 0, err, sizeof err) != 0);   /* off */
    CHECK_CONTAINS(err, "not enabled");
    CHECK_INT_EQ(db_model_kv_ledger_enable(m, 64, 4), 0);
    db_batch b;
    db_batch_init(&b, 16, 4);
    const db_token h[6] = { 0, 5, 6, 7, 8, 9 };
    int32_t both[2] = { 0, 1 };
    for (int p = 0; p < 4; p++) db_batch_add(&b, h[p], p, both, 2, p == 3);
    CHECK_INT_EQ(db_model_decode(m, &b), 0);
    CHECK_INT_EQ(db_model_kv_ledger_check(m, 0, h, 4, err, sizeof err), 0);
    CHECK_INT_EQ(db_model_kv_ledger_check(m, 1, h, 4, err, sizeof err), 0);
    CHECK(db_model_kv_ledger_check(m, 0, h, 3, err, sizeof err) != 0);     /* a cell past the history */
    CHECK_CONTAINS(err, "position 3");
    CHECK(db_model_kv_ledger_check(m, 0, h, 5, err, sizeof err) != 0);     /* a missing cell */
    CHECK_CONTAINS(err, "position 4: no cell");
    const db_token wrong[4] = { 0, 5, 11, 7 };
    CHECK(db_model_kv_ledger_check(m, 0, wrong, 4, err, sizeof err) != 0); /* a wrong token */
    CHECK_CONTAINS(err, "position 2: cell holds token 6, history has 11");
    /* rollback of seq 1, copy from 0, keep */
    CHECK_INT_EQ(db_model_seq_rm(m, 1, 2, -1), 0);
    CHECK_INT_EQ(db_model_kv_ledger_check(m, 1, h, 2, err, sizeof err), 0);
    CHECK_INT_EQ(db_model_seq_cp(m, 0, 2, -1, -1), 0);
    CHECK_INT_EQ(db_model_kv_ledger_check(m, 2, h, 4, err, sizeof err), 0);
    CHECK_INT_EQ(db_model_seq_keep(m, 2), 0);
    CHECK_INT_EQ(db_model_kv_ledger_check(m, 2, h, 4, err, sizeof err), 0);
    CHECK_INT_EQ(db_model_kv_ledger_check(m, 0, h, 0, err, sizeof err), 0);
    /* a copy, then one more position on the copy only */
    CHECK_INT_EQ(db_model_seq_cp(m, 2, 3, -1, -1), 0);
    db_batch_clear(&b);
    db_batch_add1(&b, h[4], 4, 3, false);
    CHECK_INT_EQ(db_model_decode(m, &b), 0);
    CHECK_INT_EQ(db_model_kv_ledger_check(m, 3, h, 5, err, sizeof err), 0);
    db_model_reset(m);
    CHECK_INT_EQ(db_model_kv_ledger_check(m, 3, h, 0, err, sizeof err), 0);
    db_batch_free(&b);
    db_model_close(m);
}

static void engines_leave_exact_history(void) {
    const char *spec_kv[] = { "k", "4" };
    const char *tree_kv[] = { "k", "3", "branches", "3", "p_split", "0.2" };
    const char *pld_kv[] = { "k", "4" };
    const char *la_kv[] = { "W", "5", "N", "3", "G", "5" };
    const char *rc_kv[] = { "tree", "paper" };
    struct { const char *name; const char *const *kv; int n_kv, n_seq, draft; } E[] = {
        { "ar", NULL, 0, 1, 0 },          { "spec", spec_kv, 2, 1, 1 }, { "spec-tree", tree_kv, 6, 3, 1 },
        { "pld", pld_kv, 2, 1, 0 },       { "lookahead", la_kv, 6, 9, 0 },
        { "token-recycling", NULL, 0, 22, 0 }, { "token-recycling", rc_kv, 2, 40, 0 },
    };
    int checked = 0;
    for (int seed = 1; seed <= 8; seed++) {
        char ts[128], ds[160];
        snprintf(ts, sizeof ts, "vocab=24,order=2,seed=%d,sharpness=2.5", seed);
        snprintf(ds, sizeof ds, "%s,noise=0.4", ts);
        db_model *t = db_test_open_model("exact", ts, N_POS, N_POS, N_SEQ);
        db_model *d = db_test_open_model("exact", ds, N_POS, N_POS, N_SEQ);
        if (!t || !d) return;
        CHECK_INT_EQ(db_model_kv_ledger_enable(t, N_POS, N_SEQ), 0);
        const db_token prompt[4] = { 0, 3 + seed % 5, 4, 3 + seed % 7 };
        for (size_t e = 0; e < sizeof E / sizeof E[0]; e++) {
            db_gen_output o;
            if (run_engine(E[e].name, t, E[e].draft ? d : NULL, E[e].kv, E[e].n_kv, prompt, 4, 48, &o) == 0) {
                int len;
                db_token *h = history_of(prompt, 4, &o, &len);
                check_sequences(t, E[e].n_seq, h, held_length(t, 4, len, E[e].name), E[e].name);
                checked++;
                free(h);
            }
            db_output_free(&o);
        }
        db_model_close(t);
        db_model_close(d);
    }
    CHECK_INT_EQ(checked, 56);
}

/* Plant one bug `back` positions before the end of sequence 0's history and
 * return whether the ledger check caught it: kind 0 removes that cell, 1
 * writes a different token there (the tail re-decoded after it, as llama.cpp
 * wants positions to follow on), 2 leaves a stale second cell there (copied
 * in from a scratch sequence, as a tree engine's forgotten branch would). */
static int planted_caught(db_model *t, const db_token *h, int len, int back, int kind) {
    char err[512];
    const int p = len - back, V = db_model_n_vocab(t), scratch = N_SEQ - 1;
    db_batch b;
    db_batch_init(&b, len, 1);
    int ok = 1;
    if (kind == 0) {
        ok = db_model_seq_rm(t, 0, p, p + 1) == 0;
    } else if (kind == 1) {
        ok = db_model_seq_rm(t, 0, p, -1) == 0;
        for (int q = p; q < len; q++) db_batch_add1(&b, q == p ? (h[q] + 1) % V : h[q], q, 0, false);
        ok = ok && db_model_decode(t, &b) == 0;
    } else {
        db_batch_add1(&b, (h[p] + 1) % V, p, scratch, false);
        ok = db_model_decode(t, &b) == 0 && db_model_seq_cp(t, scratch, 0, p, p + 1) == 0 &&
             db_model_seq_rm(t, scratch, -1, -1) == 0;
    }
    db_batch_free(&b);
    if (!ok) { db_test_fail(__FILE__, __LINE__, "could not plant bug %d at %d: %s", kind, p, db_model_last_error(t)); return 0; }
    int caught = db_model_kv_ledger_check(t, 0, h, len, err, sizeof err) != 0;
    char want[32];
    snprintf(want, sizeof want, "position %d", p);
    if (caught) CHECK_MSG(strstr(err, want) != NULL, "planted at %d, reported: %s", p, err);
    return caught;
}

static void bundled_engines_leave_exact_history(void) {
#ifndef HAVE_LLAMA
    db_test_skip("built without llama.cpp");
#else
    char tp[4096], dp[4096];
    snprintf(tp, sizeof tp, "%s/data/models/target.gguf", db_test_srcdir());
    snprintf(dp, sizeof dp, "%s/data/models/draft.gguf", db_test_srcdir());
    struct stat st;
    if (stat(tp, &st) != 0 || stat(dp, &st) != 0) { db_test_fail(__FILE__, __LINE__, "bundled models missing"); return; }
    db_llama_set_quiet(true);
    db_model *t = db_test_open_model("llama", tp, N_POS, N_POS, N_SEQ);
    db_model *d = db_test_open_model("llama", dp, N_POS, N_POS, N_SEQ);
    if (!t || !d) return;
    CHECK_INT_EQ(db_model_kv_ledger_enable(t, N_POS, N_SEQ), 0);
    CHECK_INT_EQ(db_model_kv_ledger_enable(d, N_POS, N_SEQ), 0);
    const char *texts[] = { "The committee said that the city would", "And the LORD spake unto Moses, saying,",
                            "def read_config(path):\n    with open(path) as f:\n" };
    const char *la_kv[] = { "W", "15", "N", "5", "G", "15" };
    const char *tree_kv[] = { "k", "4", "branches", "3", "p_split", "0.1" };
    const char *spec_kv[] = { "k", "4" };
    const char *pld_kv[] = { "k", "4" };
    struct { const char *name; const char *const *kv; int n_kv, n_seq, draft; } E[] = {
        { "ar", NULL, 0, 1, 0 },        { "spec", spec_kv, 2, 1, 1 }, { "spec-tree", tree_kv, 6, 3, 1 },
        { "lookahead", la_kv, 6, 31, 0 }, { "pld", pld_kv, 2, 1, 0 },
        { "token-recycling", NULL, 0, 22, 0 },
    };
    int checked = 0, planted = 0, caught = 0, tail_max = 0;
    for (int i = 0; i < 3; i++) {
        db_token prompt[128];
        int n = db_model_tokenize(t, texts[i], strlen(texts[i]), true, true, prompt, 128);
        for (size_t e = 0; e < sizeof E / sizeof E[0]; e++) {
            db_gen_output o;
            if (run_engine(E[e].name, t, E[e].draft ? d : NULL, E[e].kv, E[e].n_kv, prompt, n, 96, &o) == 0) {
                int len;
                db_token *h = history_of(prompt, n, &o, &len);
                const int held = held_length(t, n, len, E[e].name);
                check_sequences(t, E[e].n_seq, h, held, E[e].name);
                tail_max = held < len && len - held > tail_max ? len - held : tail_max;
                checked++;
                /* the planted bugs, on ar's and spec-tree's caches */
                if ((e == 0 || e == 2) && held > 70) {
                    const int backs[] = { 2, 10, 30, 60 };
                    for (int k = 0; k < 3; k++)
                        for (int j = 0; j < 4; j++) {
                            db_gen_output o2;
                            /* a fresh correct cache for each planted bug */
                            run_engine(E[e].name, t, E[e].draft ? d : NULL, E[e].kv, E[e].n_kv, prompt, n, 96, &o2);
                            db_output_free(&o2);
                            planted++;
                            caught += planted_caught(t, h, (int)db_model_seq_pos_max(t, 0) + 1, backs[j], k);
                        }
                }
                free(h);
            }
            db_output_free(&o);
        }
    }
    printf("    cache short of the history by at most %d tokens (accepted cells re-evaluated at the next forward)\n",
           tail_max);
    printf("    %d generations checked cell by cell; planted bugs caught: %d of %d (2, 10, 30, 60 back; removed, "
           "wrong token, stale duplicate)\n", checked, caught, planted);
    CHECK_INT_EQ(checked, 18);
    CHECK(planted >= 24);
    CHECK_INT_EQ(caught, planted);
    db_model_close(t);
    db_model_close(d);
#endif
}

void suite_kv(void) {
    RUN(ledger_follows_kv_operations);
    RUN(engines_leave_exact_history);
    RUN(bundled_engines_leave_exact_history);
}
