/* test_metrics.c — events to metrics: #MAT, acceptance per position, TTFT,
 * forwards per role and time shares on a hand-built event log. */
#include "test.h"

#include "harness/run/metrics.h"

static int cur_step;

static void add(db_event_log *log, int kind, int role, int n, int acc, uint32_t mask, int64_t t0_ms, int64_t t1_ms) {
    db_event e = { kind, role, cur_step, n, acc, mask, t0_ms * 1000000, t1_ms * 1000000 };
    db_emit(log, &e);
}

static void speculative_log(void) {
    db_event_log log;
    db_event_log_init(&log);
    db_event_log_start(&log);
    /* prefill: target forward 0-10ms, commit 1 token at 11ms */
    cur_step = 0;
    add(&log, DB_EV_FORWARD, DB_ROLE_TARGET, 5, 0, 0, 0, 10);
    add(&log, DB_EV_COMMIT, DB_ROLE_TARGET, 1, 0, 0, 11, 11);
    cur_step = 1;
    /* step 1: draft 4 (4 draft forwards of 1ms), verify, 2 accepted (+bonus) */
    for (int i = 0; i < 4; i++) add(&log, DB_EV_FORWARD, DB_ROLE_DRAFT, 1, 0, 0, 12 + i, 13 + i);
    add(&log, DB_EV_FORWARD, DB_ROLE_TARGET, 5, 0, 0, 16, 26);
    add(&log, DB_EV_VERIFY, DB_ROLE_TARGET, 4, 2, 0x3, 26, 26);
    add(&log, DB_EV_COMMIT, DB_ROLE_TARGET, 3, 0, 0, 26, 26);
    cur_step = 2;
    /* step 2: draft 2, all accepted + bonus */
    add(&log, DB_EV_FORWARD, DB_ROLE_DRAFT, 1, 0, 0, 27, 28);
    add(&log, DB_EV_FORWARD, DB_ROLE_DRAFT, 1, 0, 0, 28, 29);
    add(&log, DB_EV_FORWARD, DB_ROLE_TARGET, 3, 0, 0, 30, 40);
    add(&log, DB_EV_VERIFY, DB_ROLE_TARGET, 2, 2, 0x3, 40, 40);
    add(&log, DB_EV_COMMIT, DB_ROLE_TARGET, 3, 0, 0, 40, 40);
    db_sample_metrics m;
    db_metrics_from_events(&log, 5, 50 * 1000000LL, &m);
    CHECK_INT_EQ(m.new_tokens, 7);
    CHECK_INT_EQ(m.target_forwards, 3);
    CHECK_INT_EQ(m.draft_forwards, 6);
    CHECK_INT_EQ(m.target_tokens_evaluated, 13);
    CHECK_INT_EQ(m.n_commits, 2);           /* the prefill's token is not a step */
    CHECK_NEAR(m.mat, 6.0 / 2.0, 1e-12);
    CHECK_INT_EQ(m.drafted, 6);
    CHECK_INT_EQ(m.accepted, 4);
    CHECK_NEAR(m.acceptance_rate, 4.0 / 6.0, 1e-12);
    CHECK_INT_EQ(m.drafted_at[0], 2);
    CHECK_INT_EQ(m.accepted_at[0], 2);
    CHECK_INT_EQ(m.drafted_at[2], 1);
    CHECK_INT_EQ(m.accepted_at[2], 0);
    CHECK_NEAR(m.ttft_ms, 11.0, 1e-9);
    CHECK_NEAR(m.latency_ms, 50.0, 1e-9);
    CHECK_NEAR(m.tokens_per_s, 7 / 0.05, 1e-6);
    CHECK_NEAR(m.tpot_ms, (50.0 - 11.0) / 6, 1e-9);
    CHECK_NEAR(m.draft_time_ms, 6.0, 1e-9);
    CHECK_NEAR(m.forward_time_ms, 36.0, 1e-9);
    /* target compute per token: the decoding steps' 5 + 3 target tokens for
     * their 3 + 3 committed tokens (the prefill's 5 left out); drafts 6 / 6 */
    CHECK_INT_EQ(m.target_decode_tokens, 8);
    CHECK_INT_EQ(m.draft_tokens_evaluated, 6);
    CHECK_NEAR(m.target_tokens_per_token, 8.0 / 6.0, 1e-12);
    CHECK_NEAR(m.draft_tokens_per_token, 1.0, 1e-12);
    db_event_log_free(&log);
}

static void autoregressive_log_has_mat_one(void) {
    db_event_log log;
    db_event_log_init(&log);
    db_event_log_start(&log);
    for (int i = 0; i < 10; i++) {
        cur_step = i;
        add(&log, DB_EV_FORWARD, DB_ROLE_TARGET, i == 0 ? 7 : 1, 0, 0, 2 * i, 2 * i + 1);
        add(&log, DB_EV_COMMIT, DB_ROLE_TARGET, 1, 0, 0, 2 * i + 1, 2 * i + 1);
    }
    db_sample_metrics m;
    db_metrics_from_events(&log, 7, 20 * 1000000LL, &m);
    CHECK_NEAR(m.mat, 1.0, 0);
    CHECK_NEAR(m.target_tokens_per_token, 1.0, 0);   /* one target token per token */
    CHECK_NEAR(m.draft_tokens_per_token, 0.0, 0);
    CHECK_INT_EQ(m.new_tokens, 10);
    CHECK_INT_EQ(m.target_forwards, 10);
    CHECK(isnan(m.acceptance_rate));
    CHECK_NEAR(m.ttft_ms, 1.0, 1e-9);
    CHECK_INT_EQ(m.constraint_steps, 0);
    CHECK(isnan(m.mask_p50_us) && isnan(m.compile_ms) && isnan(m.constraint_evals_per_token));
    db_event_log_free(&log);
}

/* constrained decoding: a compile, then per step a mask over the vocabulary
 * (or a single-token check) before the commit */
static void constrained_log(void) {
    db_event_log log;
    db_event_log_init(&log);
    db_event_log_start(&log);
    cur_step = 0;
    add(&log, DB_EV_COMPILE, DB_ROLE_NONE, 0, 0, 0, 0, 3);
    static const int evaluated[4] = { 100, 1, 100, 1 }, dur_us[4] = { 40, 2, 60, 4 };
    int64_t t = 4000;   /* microseconds */
    for (int i = 0; i < 4; i++) {
        cur_step = i;
        add(&log, DB_EV_FORWARD, DB_ROLE_TARGET, i == 0 ? 5 : 1, 0, 0, t / 1000, t / 1000 + 1);
        t += 1000;
        db_event e = { DB_EV_CONSTRAINT, DB_ROLE_NONE, i, evaluated[i], 7, 0, t * 1000, (t + dur_us[i]) * 1000 };
        db_emit(&log, &e);
        t += 100;
        add(&log, DB_EV_COMMIT, DB_ROLE_TARGET, 1, 0, 0, t / 1000, t / 1000);
    }
    db_sample_metrics m;
    db_metrics_from_events(&log, 5, 20 * 1000000LL, &m);
    CHECK_INT_EQ(m.new_tokens, 4);
    CHECK_INT_EQ(m.constraint_steps, 4);
    CHECK_INT_EQ(m.constraint_evals, 202);
    CHECK_NEAR(m.constraint_evals_per_token, 50.5, 1e-12);
    CHECK_NEAR(m.compile_ms, 3.0, 1e-9);
    CHECK_NEAR(m.constraint_time_ms, 0.106, 1e-9);
    CHECK_NEAR(m.mask_p50_us, 22.0, 1e-9);              /* type-7 median of 2,4,40,60 */
    CHECK_NEAR(m.mask_p99_us, 40 + 0.97 * 20, 1e-9);    /* h = 0.99*3 = 2.97 */
    CHECK_NEAR(m.ttft_ms, 5.0, 1e-9);                   /* first commit at 5 ms: compile counts in TTFT */
    db_event_log_free(&log);
}

/* A tree engine (spec-tree k=4): per step one DRAFT event with the tree's
 * node count and one VERIFY with its depth.  α@i by depth, hand-computed:
 *   step 1: 11 nodes, depth 4, path accepted to depth 2  (mask 0b0011)
 *   step 2:  6 nodes, depth 4, accepted to depth 4       (mask 0b1111)
 *   step 3:  4 nodes, depth 4, nothing accepted          (mask 0)
 *   step 4:  3 nodes, depth 3 (k cut by the length limit), depth 1 (0b001)
 * drafted_at = 4,4,4,3; accepted_at = 3,2,1,1 (α@1 = 3/4, α@2 = 2/4,
 * α@3 = 1/4, α@4 = 1/3); nothing at depth 5 and beyond although the trees
 * had up to 11 nodes; acceptance_rate = 7 accepted / 15 positions. */
static void tree_alpha_by_depth(void) {
    db_event_log log;
    db_event_log_init(&log);
    db_event_log_start(&log);
    const int nodes[] = { 11, 6, 4, 3 }, depth[] = { 4, 4, 4, 3 }, acc[] = { 2, 4, 0, 1 };
    cur_step = 0;
    add(&log, DB_EV_FORWARD, DB_ROLE_TARGET, 5, 0, 0, 0, 1);
    add(&log, DB_EV_COMMIT, DB_ROLE_TARGET, 1, 0, 0, 1, 1);
    for (int i = 0; i < 4; i++) {
        cur_step = i + 1;
        add(&log, DB_EV_DRAFT, DB_ROLE_DRAFT, nodes[i], 0, 0, 2 + i, 2 + i);
        add(&log, DB_EV_FORWARD, DB_ROLE_TARGET, nodes[i] + 1, 0, 0, 2 + i, 3 + i);
        add(&log, DB_EV_VERIFY, DB_ROLE_TARGET, depth[i], acc[i], (1u << acc[i]) - 1u, 3 + i, 3 + i);
        add(&log, DB_EV_COMMIT, DB_ROLE_TARGET, acc[i] + 1, 0, 0, 3 + i, 3 + i);
    }
    db_sample_metrics m;
    db_metrics_from_events(&log, 5, 10 * 1000000LL, &m);
    const int want_d[] = { 4, 4, 4, 3, 0 }, want_a[] = { 3, 2, 1, 1, 0 };
    for (int i = 0; i < 5; i++) {
        CHECK_INT_EQ(m.drafted_at[i], want_d[i]);
        CHECK_INT_EQ(m.accepted_at[i], want_a[i]);
    }
    for (int i = 5; i < DB_MAX_DRAFT_POS; i++) CHECK_INT_EQ(m.drafted_at[i], 0);
    CHECK_INT_EQ(m.drafted, 15);
    CHECK_INT_EQ(m.accepted, 7);
    CHECK_NEAR(m.acceptance_rate, 7.0 / 15.0, 1e-12);
    CHECK_NEAR(m.mat, 11.0 / 4.0, 1e-12);
    db_event_log_free(&log);
}

void suite_metrics(void) {
    RUN(tree_alpha_by_depth);
    RUN(speculative_log);
    RUN(autoregressive_log_has_mat_one);
    RUN(constrained_log);
}
