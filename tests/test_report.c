/* test_report.c — golden tests of the results table (reports/table.c) and of
 * `decobench report` (harness/cli/cmd_report.c) on a small DB built here:
 * a 2-case run (ar baseline, spec) with 3 samples each, and a speculative
 * run (ar, spec, pld) with VERIFY events and prompt categories for the
 * speculative columns and the --by category pivot; expected output derived
 * by hand. */
#include "test.h"
#include "fixtures.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/cli/cli.h"
#include "harness/run/store.h"
#include "harness/util/util.h"
#include "reports/report.h"

typedef struct { double tps, ttft, lat; int commits; int64_t ins, pf; } fx_sample;

static int add_case(db_store *st, int64_t run_id, int idx, const char *engine, const char *label,
                    const char *dataset, const fx_sample *fx, int n) {
    db_case_record c = { idx, engine, label, "{}", "tiny", "/m/tiny.gguf", "00", "tiny", 1, 1,
                         NULL, NULL, NULL, dataset, n, "completed", 1700000000000, 1700000001000 };
    db_sample_record s[8];
    const char *names[] = { "PAPI_TOT_INS", "perf::PAGE-FAULTS" };
    int64_t vals[8][2];
    memset(s, 0, sizeof s);
    for (int i = 0; i < n; i++) {
        s[i].prompt_idx = i;
        s[i].prompt_id = "p";
        s[i].category = "c";
        s[i].rep = 0;
        s[i].seed = 1;
        s[i].m.new_tokens = 10;
        s[i].m.n_commits = fx[i].commits;
        s[i].m.mat = 10.0 / fx[i].commits;
        s[i].m.tokens_per_s = fx[i].tps;
        s[i].m.ttft_ms = fx[i].ttft;
        s[i].m.latency_ms = fx[i].lat;
        s[i].stop_reason = "length";
        vals[i][0] = fx[i].ins;
        vals[i][1] = fx[i].pf;
        s[i].counter_names = names;
        s[i].counter_values = vals[i];
        s[i].n_counters = 2;
    }
    int64_t cid;
    return db_store_case(st, run_id, &c, s, n, &cid);
}

static int64_t add_run(db_store *st, int64_t mid, const char *config) {
    db_run_record r = { mid, "smoke", "suites/smoke.json", config, "decobench run", "rev", "abc1234",
                        "gcc", "-O2", "7.1", 4, NULL, 0 };
    int64_t id = 0;
    db_store_run_begin(st, &r, &id);
    return id;
}

static const fx_sample AR[3] = {
    { 10, 50, 1000, 10, 100, 5 }, { 12, 70, 1200, 10, 300, 7 }, { 11, 60, 1100, 10, 200, 6 } };
static const fx_sample SPEC[3] = {
    { 20, 40, 500, 4, 1000, 8 }, { 30, 44, 400, 5, 1500, 8 }, { 22, 42, 450, 4, 1200, 9 } };

/* builds the fixture DB; run 1 = the golden 2-case run (baseline from config),
 * run 2 = same data without a "baseline" key, run 3 = baseline "spec" (prefix),
 * run 4 = one case with a label full of special characters */
static char *build_db(void) {
    char *path = db_test_fresh_db_path("report.db");
    int64_t mid = 0;
    db_store *st = db_test_open_store(path, "fp", &mid);
    if (!st) {
        free(path);
        return NULL;
    }
    int rc = 0;
    const char *configs[3] = { "{\"name\":\"smoke\",\"baseline\":\"ar\"}", "{\"name\":\"smoke\"}",
                               "{\"baseline\":\"spec\"}" };
    for (int r = 0; r < 3; r++) {
        int64_t run = add_run(st, mid, configs[r]);
        rc |= add_case(st, run, 0, "ar", "ar", "mt", AR, 3);
        rc |= add_case(st, run, 1, "spec", "spec k=4", "mt", SPEC, 3);
        rc |= db_store_run_finish(st, run, "completed");
    }
    int64_t run4 = add_run(st, mid, "{}");
    rc |= add_case(st, run4, 0, "ar", "a_b & \"c\", 50% {x}", "d$#", AR, 1);
    db_store_close(st);
    CHECK_INT_EQ(rc, 0);
    return path;
}

static char *report(db_store *st, int64_t run, const char *fmt, int *rc, char *err, size_t errlen) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    db_report_opts o = { run, fmt, 1, NULL, NULL, NULL };
    *rc = db_report_table(st, &o, f, err, errlen);
    fclose(f);
    return buf;
}

static const char *GOLDEN_MD =
    "**decobench run 1** — suite: smoke — machine: Test CPU, 4 cores — llama.cpp: abc1234\n"
    "\n"
    "| label | dataset | model | n | tok/s [95% CI] | speedup [95% CI] | #MAT | TTFT p50 (ms) | TTFT p90 (ms) "
    "| latency p50 (ms) | PAPI_TOT_INS | perf::PAGE-FAULTS |\n"
    "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
    "| ar | mt | tiny | 3 | 11.0 [10.0, 12.0] | 1.00 | 1.00 | 60.0 | 68.0 | 1100.0 | 200 | 6 |\n"
    "| spec k=4 | mt | tiny | 3 | 22.0 [20.0, 30.0] | 2.00 [2.00, 2.50] | 2.31 | 42.0 | 43.6 | 450.0 | 1200 | 8 |\n";

static const char *GOLDEN_CSV =
    "run_id,label,dataset,model,n,tokens_per_s,tokens_per_s_lo,tokens_per_s_hi,speedup,speedup_lo,"
    "speedup_hi,mat,ttft_p50_ms,ttft_p90_ms,latency_p50_ms,drafted,accepted,verify_steps,acceptance_rate,"
    "mean_draft_len,draft_time_share,draft_cost_ratio,predicted_speedup,PAPI_TOT_INS,perf::PAGE-FAULTS\r\n"
    "1,ar,mt,tiny,3,11,10,12,1,1,1,1,60,68,1100,,,,,,,,,200,6\r\n"
    "1,spec k=4,mt,tiny,3,22,20,30,2,2,2.5,2.3076923076923075,42,43.6,450,,,,,,,,,1200,8\r\n";

static const char *GOLDEN_TEX =
    "% decobench run 1 -- suite: smoke -- machine: Test CPU, 4 cores -- llama.cpp: abc1234\n"
    "% bold: best per column; tok/s and speedup: median $\\pm$ half-width of the 95% CI (order statistics)\n"
    "% requires \\usepackage{booktabs}\n"
    "\\begin{tabular}{lllrrrrrrrrr}\n"
    "\\toprule\n"
    "Label & Dataset & Model & $n$ & tok/s & Speedup & \\#MAT & TTFT p50 (ms) & "
    "TTFT p90 (ms) & Latency p50 (ms) & PAPI\\_TOT\\_INS & perf::PAGE-FAULTS \\\\\n"
    "\\midrule\n"
    "ar & mt & tiny & 3 & 11.0 $\\pm$ 1.0 & 1.00 & 1.00 & 60.0 & 68.0 & 1100.0 & 200 & 6 \\\\\n"
    /* CI [20.0, 30.0] and [2.00, 2.50]: half-widths 5.0 and 0.25; latency and TTFT: lower is better */
    "spec k=4 & mt & tiny & 3 & \\textbf{22.0} $\\pm$ 5.0 & \\textbf{2.00} $\\pm$ 0.25 & \\textbf{2.31} & "
    "\\textbf{42.0} & \\textbf{43.6} & \\textbf{450.0} & 1200 & 8 \\\\\n"
    "\\bottomrule\n"
    "\\end{tabular}\n";

static void test_report_golden(void) {
    char *path = build_db();
    if (!path) return;
    char err[512] = "";
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    if (!st) { free(path); return; }
    int rc;
    char *s = report(st, 1, "md", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(s, GOLDEN_MD);
    free(s);
    s = report(st, 1, "csv", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(s, GOLDEN_CSV);
    free(s);
    s = report(st, 1, "latex", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(s, GOLDEN_TEX);
    free(s);
    /* run 2: no "baseline" key -> the first "ar" case; same table but the id */
    s = report(st, 2, "csv", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "2,ar,mt,tiny,3,11,10,12,1,1,1,1,");
    CHECK_CONTAINS(s, "2,spec k=4,mt,tiny,3,22,20,30,2,2,2.5,");
    free(s);
    /* run 3: baseline "spec" matches "spec k=4" by prefix; ar ratios 0.5, 0.4, 0.5 */
    s = report(st, 3, "md", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "| ar | mt | tiny | 3 | 11.0 [10.0, 12.0] | 0.50 [0.40, 0.50] |");
    CHECK_CONTAINS(s, "| spec k=4 | mt | tiny | 3 | 22.0 [20.0, 30.0] | 1.00 |");
    free(s);
    /* json */
    s = report(st, 1, "json", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    cJSON *j = cJSON_Parse(s);
    CHECK(j != NULL);
    if (j) {
        const cJSON *rows = cJSON_GetObjectItem(j, "rows");
        CHECK_INT_EQ(cJSON_GetArraySize(rows), 2);
        const cJSON *r1 = cJSON_GetArrayItem(rows, 1);
        CHECK_NEAR(cJSON_GetObjectItem(r1, "speedup")->valuedouble, 2.0, 0);
        CHECK_NEAR(cJSON_GetObjectItem(r1, "mat")->valuedouble, 30.0 / 13.0, 1e-12);
        CHECK_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(r1, "counters"), "PAPI_TOT_INS")->valuedouble, 1200, 0);
        CHECK_STR_EQ(cJSON_GetObjectItem(j, "baseline")->valuestring, "ar");
        cJSON_Delete(j);
    }
    free(s);
    /* determinism: same seed, same output */
    char *a = report(st, 1, "csv", &rc, err, sizeof err);
    char *b = report(st, 1, "csv", &rc, err, sizeof err);
    CHECK_STR_EQ(a, b);
    free(a);
    free(b);
    db_store_close(st);
    free(path);
}

static void test_report_escaping_and_latest(void) {
    char *path = build_db();
    if (!path) return;
    char err[512] = "";
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    if (!st) { free(path); return; }
    int rc;
    /* run 4 (still running); one sample: no CI; no ar case on its dataset
     * other than itself -> it is its own baseline */
    char *s = report(st, 4, "csv", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "\r\n4,\"a_b & \"\"c\"\", 50% {x}\",d$#,tiny,1,10,10,10,1,1,1,1,50,50,1000,,,,,,,,,100,5\r\n");
    free(s);
    s = report(st, 4, "latex", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "\na\\_b \\& \"c\", 50\\% \\{x\\} & d\\$\\# & tiny & 1 & 10.0 $\\pm$ 0.0 & 1.00 &");
    free(s);
    s = report(st, 4, "md", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "**decobench run 4** — suite: smoke");
    CHECK_CONTAINS(s, "— status: running");
    free(s);
    /* run 0 = the latest run that ended (S7): run 3, not the running run 4 */
    s = report(st, 0, "md", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "**decobench run 3** — suite:");
    free(s);
    /* errors */
    s = report(st, 99, "md", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, -1);
    CHECK_STR_EQ(err, "no run with id 99");
    free(s);
    s = report(st, 1, "xml", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, -1);
    CHECK_CONTAINS(err, "unknown format 'xml'");
    free(s);
    db_store_close(st);

    /* a DB without runs */
    char *empty = db_path_join(db_test_tmpdir(), "empty-report.db");
    unlink(empty);
    CHECK_INT_EQ(db_store_open(empty, &st, err, sizeof err), 0);
    if (st) {
        s = report(st, 0, "md", &rc, err, sizeof err);
        CHECK_INT_EQ(rc, -1);
        CHECK_STR_EQ(err, "no runs in database");
        free(s);
        db_store_close(st);
    }
    free(empty);
    free(path);
}

/* ---- speculative columns and the category pivot -------------------------- */

/* One speculative fixture run (baseline "ar"), 6 prompts whose categories
 * cover the MT-bench merge (writing, Coding -> multi-turn), fixed Spec-Bench
 * columns (translation, math_reasoning; no summarization/qa/rag) and two
 * other categories (zeta, alpha -> sorted after them):
 *
 *   prompt  category        ar tps  spec tps (ratio)  spec new/commits
 *   0       writing         10      20 (2.0)          10/4
 *   1       Coding          10      15 (1.5)          10/5
 *   2       translation     10      30 (3.0)          12/4
 *   3       math_reasoning  10      12 (1.2)          10/5
 *   4       zeta            10      25 (2.5)          10/8
 *   5       alpha           10      10 (1.0)          10/10
 *   0 turn 1  writing       20      50 (2.5)          10/5
 *
 * (decode-step tokens/commits: the stored mat; new_tokens is one more, the
 * prefill's token, which #MAT must not count).  Second turns pair with the
 * baseline's second turn: pairing prompt 0's turns crosswise would give 5.0.
 * multi-turn: ratios 2.0 1.5 2.5 -> 2.00, MAT 30/14 = 2.14; overall: median
 * of 1.0 1.2 1.5 2.0 2.5 2.5 3.0 = 2.00, MAT 72/41 = 1.76.
 *
 * "spec k=4": 2 VERIFY events per sample, each drafting 4, masks
 * 1111 1111 | 0111 0111 | 0011 0011 | 0011 0011 | 0001 0001 | 0000 0000 |
 * 1111 0000: Σ drafted 56, Σ accepted 28 -> α = 0.5; 14 verifications ->
 * k̄ = 4; per position accepted 11, 9, 5, 3 of 14 -> 0.79/0.64/0.36/0.21.
 * Per sample 8 draft forwards in 8 ms, 3 target forwards, forward time
 * 38 ms -> c = (56/56) / ((266 − 56)/21) = 0.1; latency 100 ms -> draft
 * share 56/700 = 8.0%; predicted speedup (1 − 0.5^5)/(0.5·1.4) = 1.3839.
 * A COMMIT event per sample (n_tokens 99) must not count as a verification.
 *
 * "pld": prompts 0 and 2 only, tps 11 and 13 (ratios 1.1, 1.3), new/commits
 * 10/8 and 10/5; VERIFY (2 drafted, mask 01), (1, 1) and (3, 000): Σ drafted 6,
 * Σ accepted 2 -> α = 1/3, k̄ = 2, per position 2/3, 0/2, 0/1; no draft
 * forwards or draft time -> c = 0, predicted (1 − 1/27)/(2/3) = 1.4444. */
typedef struct { int prompt, turn; const char *cat; double tps; int newt, commits; const uint32_t *masks; int nv, kv; } sx;

static int add_spec_case(db_store *st, int64_t run_id, int idx, const char *engine, const char *label,
                         const sx *fx, int n, bool draft_model) {
    db_case_record c = { idx, engine, label, "{}", "tiny", "/m/tiny.gguf", "00", "tiny", 1, 1,
                         NULL, NULL, NULL, "mt", 6, "completed", 1700000000000, 1700000001000 };
    db_sample_record s[7];
    db_event ev[7][4];
    memset(s, 0, sizeof s);
    memset(ev, 0, sizeof ev);
    for (int i = 0; i < n; i++) {
        s[i].prompt_idx = fx[i].prompt;
        s[i].turn = fx[i].turn;
        s[i].prompt_id = "p";
        s[i].category = fx[i].cat;
        s[i].seed = 1;
        s[i].m.new_tokens = fx[i].newt;
        s[i].m.n_commits = fx[i].commits;
        s[i].m.mat = (double)fx[i].newt / fx[i].commits;   /* new_tokens + 1 holds the prefill's token */
        s[i].m.new_tokens = fx[i].newt + 1;
        s[i].m.tokens_per_s = fx[i].tps;
        s[i].m.ttft_ms = fx[i].nv ? 40 : 50;
        s[i].m.latency_ms = fx[i].nv ? 100 : 1000;
        s[i].stop_reason = "length";
        int ne = 0;
        for (int v = 0; v < fx[i].nv; v++) {
            /* kv > 0: every verification drafts kv; kv == 0: drafted = masks[2v], mask = masks[2v+1] */
            int d = fx[i].kv ? fx[i].kv : (int)fx[i].masks[2 * v];
            uint32_t mask = fx[i].kv ? fx[i].masks[v] : fx[i].masks[2 * v + 1];
            int acc = 0;
            for (int b = 0; b < d; b++) acc += (int)((mask >> b) & 1u);
            ev[i][ne++] = (db_event){ .kind = DB_EV_VERIFY, .role = DB_ROLE_NONE, .step = v + 1,
                                      .n_tokens = d, .n_accepted = acc, .accepted_mask = mask };
            s[i].m.drafted += d;
            s[i].m.accepted += acc;
        }
        if (fx[i].nv) ev[i][ne++] = (db_event){ .kind = DB_EV_COMMIT, .role = DB_ROLE_TARGET, .n_tokens = 99 };
        s[i].m.acceptance_rate = s[i].m.drafted ? (double)s[i].m.accepted / s[i].m.drafted : NAN;
        s[i].m.target_forwards = fx[i].nv ? 3 : fx[i].newt;
        s[i].m.draft_forwards = draft_model ? 8 : 0;
        s[i].m.draft_time_ms = draft_model ? 8 : 0;
        s[i].m.forward_time_ms = draft_model ? 38 : 30;
        s[i].events = ev[i];
        s[i].n_events = ne;
    }
    int64_t cid;
    return db_store_case(st, run_id, &c, s, n, &cid);
}

static const uint32_t M_SPEC[7][2] = { { 15, 15 }, { 7, 7 }, { 3, 3 }, { 3, 3 }, { 1, 1 }, { 0, 0 }, { 15, 0 } };
static const uint32_t M_PLD0[4] = { 2, 1, 1, 1 }, M_PLD1[2] = { 3, 0 };
static const char *const CATS[6] = { "writing", "Coding", "translation", "math_reasoning", "zeta", "alpha" };

static char *build_spec_db(void) {
    char *path = db_test_fresh_db_path("report-spec.db");
    int64_t mid = 0;
    db_store *st = db_test_open_store(path, "fp", &mid);
    if (!st) {
        free(path);
        return NULL;
    }
    int rc = 0;
    int64_t run = add_run(st, mid, "{\"baseline\":\"ar\"}");
    sx ar[7], sp[7], pld[2];
    const double tps[6] = { 20, 15, 30, 12, 25, 10 };
    const int newt[6] = { 10, 10, 12, 10, 10, 10 }, com[6] = { 4, 5, 4, 5, 8, 10 };
    for (int i = 0; i < 6; i++) {
        ar[i] = (sx){ i, 0, CATS[i], 10, 10, 10, NULL, 0, 0 };
        sp[i] = (sx){ i, 0, CATS[i], tps[i], newt[i], com[i], M_SPEC[i], 2, 4 };
    }
    /* the second turn of prompt 0: paired with ar's second turn (20), not its first (10) */
    ar[6] = (sx){ 0, 1, CATS[0], 20, 10, 10, NULL, 0, 0 };
    sp[6] = (sx){ 0, 1, CATS[0], 50, 10, 5, M_SPEC[6], 2, 4 };
    pld[0] = (sx){ 0, 0, CATS[0], 11, 10, 8, M_PLD0, 2, 0 };
    pld[1] = (sx){ 2, 0, CATS[2], 13, 10, 5, M_PLD1, 1, 0 };
    rc |= add_spec_case(st, run, 0, "ar", "ar", ar, 7, false);
    rc |= add_spec_case(st, run, 1, "spec", "spec k=4", sp, 7, true);
    rc |= add_spec_case(st, run, 2, "pld", "pld", pld, 2, false);
    rc |= db_store_run_finish(st, run, "completed");
    db_store_close(st);
    CHECK_INT_EQ(rc, 0);
    return path;
}

static char *report_by(db_store *st, const char *fmt, const char *by, int *rc, char *err, size_t errlen) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    db_report_opts o = { 1, fmt, 1, by, NULL, NULL };
    *rc = db_report_table(st, &o, f, err, errlen);
    fclose(f);
    return buf;
}

static char *report_o(db_store *st, const char *fmt, const char *by, const char *columns, const char *cell, int *rc,
                      char *err, size_t errlen) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    db_report_opts o = { 1, fmt, 1, by, columns, cell };
    err[0] = '\0';
    *rc = db_report_table(st, &o, f, err, errlen);
    fclose(f);
    return buf;
}

/* --columns picks and orders columns; --cell changes a pivot's cells; bad
 * names are one error naming the name and the valid ones */
static void test_report_columns_and_cell(void) {
    char *path = build_spec_db();
    if (!path) return;
    char err[2048] = "";
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    if (!st) { free(path); return; }
    int rc;
    char *s = report_o(st, "md", NULL, "mat,label,acceptance_rate,ttft_p50_ms", NULL, &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "\n\n| #MAT | label | α | TTFT p50 (ms) |\n|--:|---|--:|--:|\n"
                      "| 1.00 | ar | - | 50.0 |\n| 1.76 | spec k=4 | 0.50 | 40.0 |\n| 1.54 | pld | 0.33 | 40.0 |\n");
    free(s);
    s = report_o(st, "csv", NULL, "label,accept_at,speedup", NULL, &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "run_id,label,accept_at_1,accept_at_2,accept_at_3,accept_at_4,speedup,speedup_lo,speedup_hi\r\n"
                      "1,ar,,,,,1,1,1\r\n");
    free(s);
    s = report_o(st, "json", NULL, "label,tokens_per_s", NULL, &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    cJSON *j = cJSON_Parse(s);
    CHECK(j != NULL);
    if (j) {
        const cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "rows"), 0);
        CHECK_STR_EQ(cJSON_GetObjectItem(r0, "label")->valuestring, "ar");
        CHECK_NEAR(cJSON_GetObjectItem(r0, "tokens_per_s")->valuedouble, 10, 0);
        CHECK(cJSON_GetObjectItem(r0, "mat") == NULL);
        CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(j, "columns")), 2);
        cJSON_Delete(j);
    }
    free(s);
    /* LaTeX: lower TTFT is better: spec and pld tie at 40.0, both bold; higher #MAT: spec */
    s = report_o(st, "latex", NULL, "label,mat,ttft_p50_ms", NULL, &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "\\begin{tabular}{lrr}\n\\toprule\nLabel & \\#MAT & TTFT p50 (ms) \\\\\n\\midrule\n"
                      "ar & 1.00 & 50.0 \\\\\nspec k=4 & \\textbf{1.76} & \\textbf{40.0} \\\\\n"
                      "pld & 1.54 & \\textbf{40.0} \\\\\n\\bottomrule\n");
    free(s);
    s = report_o(st, "md", NULL, "label,tok_s", NULL, &rc, err, sizeof err);
    CHECK_INT_EQ(rc, -1);
    CHECK_CONTAINS(err, "--columns: unknown column 'tok_s' (valid: label, engine, dataset, model, n, tokens_per_s,");
    CHECK_CONTAINS(err, "ttft_p90_ms, latency_p50_ms, drafted, accepted, verify_steps, identical, interference)");
    free(s);
    s = report_o(st, "md", NULL, "label,,mat", NULL, &rc, err, sizeof err);
    CHECK_INT_EQ(rc, -1);
    CHECK_CONTAINS(err, "--columns 'label,,mat': empty");
    free(s);
    s = report_o(st, "md", "category", "label", NULL, &rc, err, sizeof err);
    CHECK_INT_EQ(rc, -1);
    free(s);
    /* --cell: category pivot of tokens/s medians: multi-turn ar 10, 10, 20; spec 20, 15, 50 */
    s = report_o(st, "md", "category", NULL, "tokens_per_s", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "| ar | 10.0 [10.0, 20.0] | 10.0 [10.0, 10.0] |");
    CHECK_CONTAINS(s, "| spec k=4 | 20.0 [15.0, 50.0] | 30.0 [30.0, 30.0] | 12.0 [12.0, 12.0] |");
    CHECK_CONTAINS(s, "\nCell: tok/s (median) [95% CI].\n");
    free(s);
    /* --cell speedup: the CI beside the median, none for the baseline (1 by definition) */
    s = report_o(st, "md", "category", NULL, "speedup", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "| ar | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 |\n");
    CHECK_CONTAINS(s, "| spec k=4 | 2.00 [1.50, 2.50] | 3.00 [3.00, 3.00] |");
    free(s);
    s = report_o(st, "md", "category", NULL, "mat", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "| spec k=4 | 2.14 | 3.00 | 2.00 | 1.00 | 1.25 | 1.76 |\n");
    free(s);
    s = report_o(st, "md", "category", NULL, "accuracy", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, -1);
    CHECK_CONTAINS(err, "--cell: unknown metric 'accuracy' (valid: speedup, mat, tokens_per_s,");
    free(s);
    s = report_o(st, "md", NULL, NULL, "mat", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, -1);
    CHECK_CONTAINS(err, "--cell");
    free(s);
    /* a parameter no case has */
    s = report_o(st, "md", "param:temperature", NULL, NULL, &rc, err, sizeof err);
    CHECK_INT_EQ(rc, -1);
    CHECK_CONTAINS(err, "--by param:temperature: no case of run 1 has parameter 'temperature'");
    free(s);
    s = report_o(st, "md", "param:", NULL, NULL, &rc, err, sizeof err);
    CHECK_INT_EQ(rc, -1);
    CHECK_CONTAINS(err, "unknown grouping 'param:'");
    free(s);
    db_store_close(st);
    free(path);
}

static void test_predicted_speedup(void) {
    CHECK_NEAR(db_report_predicted_speedup(0.5, 4, 0.1), 0.96875 / 0.7, 1e-12);   /* 1.3839 */
    CHECK_NEAR(db_report_predicted_speedup(1.0, 4, 0.1), 5 / 1.4, 1e-12);         /* α = 1 limit */
    CHECK_NEAR(db_report_predicted_speedup(0.0, 4, 0.5), 1 / 3.0, 1e-12);         /* all rejected */
    CHECK_NEAR(db_report_predicted_speedup(0.8, 3, 0), (1 - 0.4096) / 0.2, 1e-12); /* free drafts */
    CHECK(isnan(db_report_predicted_speedup(1.5, 4, 0.1)));
    CHECK(isnan(db_report_predicted_speedup(NAN, 4, 0.1)));
    CHECK(isnan(db_report_predicted_speedup(0.5, 4, NAN)));
}

static const char *SPEC_MD_HEAD =
    "**decobench run 1** — suite: smoke — machine: Test CPU, 4 cores — llama.cpp: abc1234\n"
    "\n"
    "| label | dataset | model | n | tok/s [95% CI] | speedup [95% CI] | pred. speedup | #MAT | α | k̄ "
    "| α@1..k | c | draft time | TTFT p50 (ms) | TTFT p90 (ms) | latency p50 (ms) |\n"
    "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
    "| ar | mt | tiny | 7 | 10.0 [10.0, 12.7] | 1.00 | - | 1.00 | - | - | - | - | - | 50.0 | 50.0 | 1000.0 |\n"
    "| spec k=4 | mt | tiny | 7 | 20.0 [";

static void test_report_spec_columns(void) {
    char *path = build_spec_db();
    if (!path) return;
    char err[512] = "";
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    if (!st) { free(path); return; }
    int rc;
    char *s = report_by(st, "md", NULL, &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK(s && strncmp(s, SPEC_MD_HEAD, strlen(SPEC_MD_HEAD)) == 0);
    CHECK_CONTAINS(s, "| 2.00 [");
    CHECK_CONTAINS(s, "| 1.38 | 1.76 | 0.50 | 4.00 | 0.79/0.64/0.36/0.21 | 0.100 | 8.0% | 40.0 | 40.0 | 100.0 |\n");
    CHECK_CONTAINS(s, "| pld | mt | tiny | 2 | 12.0 [11.0, 13.0] | 1.20 [1.10, 1.30] | 1.44 | 1.54 | 0.33 | 2.00 "
                      "| 0.67/0.00/0.00 | 0.000 | 0.0% | 40.0 | 40.0 | 100.0 |\n");
    free(s);
    s = report_by(st, "latex", NULL, &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "\\begin{tabular}{lllrrrrrrrrrrrrr}\n");
    CHECK_CONTAINS(s, "Speedup & Pred.\\ speedup & \\#MAT & $\\alpha$ & $\\bar{k}$ & $\\alpha_{1..k}$ & $c$ "
                      "& Draft time & TTFT p50 (ms)");
    CHECK_CONTAINS(s, "\nar & mt & tiny & 7 & 10.0 $\\pm$ 1.3 & 1.00 & -- & 1.00 & -- & -- & -- & -- & -- & 50.0 &");
    CHECK_CONTAINS(s, " & 1.38 & \\textbf{1.76} & \\textbf{0.50} & 4.00 & 0.79/0.64/0.36/0.21 & 0.100 & 8.0\\% & "
                      "\\textbf{40.0} & \\textbf{40.0} & \\textbf{100.0} \\\\\n");
    /* predicted speedup: pld's 1.44 beats spec's 1.38; ar has none */
    CHECK_CONTAINS(s, "\npld & mt & tiny & 2 & 12.0 $\\pm$ 1.0 & 1.20 $\\pm$ 0.10 & \\textbf{1.44} & 1.54 &");
    free(s);
    s = report_by(st, "csv", NULL, &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "latency_p50_ms,drafted,accepted,verify_steps,acceptance_rate,mean_draft_len,draft_time_share,"
                      "draft_cost_ratio,predicted_speedup,accept_at_1,accept_at_2,accept_at_3,accept_at_4\r\n");
    CHECK_CONTAINS(s, "\r\n1,ar,mt,tiny,7,10,10,12.66666666666666");   /* order-statistic CI (S13); last digit: rounding */
    CHECK_CONTAINS(s, ",1,1,1,1,50,50,1000,,,,,,,,,,,,\r\n");
    CHECK_CONTAINS(s, ",40,40,100,56,28,14,0.5,4,0.08,0.1,1.38392857142857");   /* last digit: rounding */
    CHECK_CONTAINS(s, ",0.7857142857142857,0.6428571428571429,0.35714285714285715,0.21428571428571427\r\n");
    CHECK_CONTAINS(s, ",40,40,100,6,2,3,0.3333333333333333,2,0,0,1.4444444444444444,0.6666666666666666,0,0,\r\n");
    free(s);
    s = report_by(st, "json", NULL, &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    cJSON *j = cJSON_Parse(s);
    CHECK(j != NULL);
    if (j) {
        const cJSON *rows = cJSON_GetObjectItem(j, "rows");
        const cJSON *r0 = cJSON_GetArrayItem(rows, 0), *r1 = cJSON_GetArrayItem(rows, 1),
                    *r2 = cJSON_GetArrayItem(rows, 2);
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(r0, "acceptance_rate")));
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(r0, "predicted_speedup")));
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(r0, "accept_at")));
        CHECK_NEAR(cJSON_GetObjectItem(r1, "acceptance_rate")->valuedouble, 0.5, 0);
        CHECK_NEAR(cJSON_GetObjectItem(r1, "mean_draft_len")->valuedouble, 4, 0);
        CHECK_NEAR(cJSON_GetObjectItem(r1, "draft_cost_ratio")->valuedouble, 0.1, 1e-15);
        CHECK_NEAR(cJSON_GetObjectItem(r1, "draft_time_share")->valuedouble, 0.08, 1e-15);
        CHECK_NEAR(cJSON_GetObjectItem(r1, "predicted_speedup")->valuedouble, 0.96875 / 0.7, 1e-12);
        CHECK_NEAR(cJSON_GetObjectItem(r1, "verify_steps")->valuedouble, 14, 0);
        CHECK_NEAR(cJSON_GetObjectItem(r1, "mat")->valuedouble, 72 / 41.0, 1e-15);
        const cJSON *aa = cJSON_GetObjectItem(r1, "accept_at");
        CHECK_INT_EQ(cJSON_GetArraySize(aa), 4);
        const double want[4] = { 11 / 14.0, 9 / 14.0, 5 / 14.0, 3 / 14.0 };
        for (int k = 0; k < 4; k++) CHECK_NEAR(cJSON_GetArrayItem(aa, k)->valuedouble, want[k], 1e-15);
        aa = cJSON_GetObjectItem(r2, "accept_at");
        CHECK_INT_EQ(cJSON_GetArraySize(aa), 3);
        CHECK_NEAR(cJSON_GetArrayItem(aa, 0)->valuedouble, 2 / 3.0, 1e-15);
        CHECK_NEAR(cJSON_GetObjectItem(r2, "draft_cost_ratio")->valuedouble, 0, 0);
        CHECK_NEAR(cJSON_GetObjectItem(r2, "predicted_speedup")->valuedouble, 26 / 18.0, 1e-12);
        cJSON_Delete(j);
    }
    free(s);
    db_store_close(st);
    free(path);
}

static const char *PIVOT_MD =
    "**decobench run 1** — suite: smoke — machine: Test CPU, 4 cores — llama.cpp: abc1234 — by category\n"
    "\n"
    "| label | multi-turn | translation | math_reasoning | alpha | zeta | overall |\n"
    "|---|--:|--:|--:|--:|--:|--:|\n"
    "| ar | 1.00× / 1.00 | 1.00× / 1.00 | 1.00× / 1.00 | 1.00× / 1.00 | 1.00× / 1.00 | 1.00× / 1.00 |\n"
    "| spec k=4 | 2.00× / 2.14 | 3.00× / 3.00 | 1.20× / 2.00 | 1.00× / 1.00 | 2.50× / 1.25 | 2.00× / 1.76 |\n"
    "| pld | 1.10× / 1.25 | 1.30× / 2.00 | - | - | - | 1.20× / 1.54 |\n"
    "\n"
    "Cell: speedup (median of per-prompt tokens/s ratios against ar) / #MAT.\n";

static const char *PIVOT_TEX =
    "% decobench run 1 -- suite: smoke -- machine: Test CPU, 4 cores -- llama.cpp: abc1234 -- by category\n"
    "% cell: speedup against ar / \\#MAT; bold: best speedup per column\n"
    "% requires \\usepackage{booktabs}\n"
    "\\begin{tabular}{lrrrrrr}\n"
    "\\toprule\n"
    "Label & multi-turn & translation & math\\_reasoning & alpha & zeta & overall \\\\\n"
    "\\midrule\n"
    "ar & 1.00$\\times$ / 1.00 & 1.00$\\times$ / 1.00 & 1.00$\\times$ / 1.00 & 1.00$\\times$ / 1.00 & "
    "1.00$\\times$ / 1.00 & 1.00$\\times$ / 1.00 \\\\\n"
    "spec k=4 & \\textbf{2.00}$\\times$ / 2.14 & \\textbf{3.00}$\\times$ / 3.00 & \\textbf{1.20}$\\times$ / 2.00 & "
    "1.00$\\times$ / 1.00 & \\textbf{2.50}$\\times$ / 1.25 & \\textbf{2.00}$\\times$ / 1.76 \\\\\n"
    "pld & 1.10$\\times$ / 1.25 & 1.30$\\times$ / 2.00 & -- & -- & -- & 1.20$\\times$ / 1.54 \\\\\n"
    "\\bottomrule\n"
    "\\end{tabular}\n";

static void test_report_by_category(void) {
    char *path = build_spec_db();
    if (!path) return;
    char err[512] = "";
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    if (!st) { free(path); return; }
    int rc;
    char *s = report_by(st, "md", "category", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(s, PIVOT_MD);
    free(s);
    s = report_by(st, "latex", "category", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(s, PIVOT_TEX);
    free(s);
    s = report_by(st, "csv", "category", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "run_id,label,dataset,model,category,n,speedup,speedup_lo,speedup_hi,mat\r\n"
                      "1,ar,mt,tiny,multi-turn,3,1,1,1,1\r\n1,ar,mt,tiny,translation,1,1,1,1,1\r\n");
    CHECK_CONTAINS(s, "\r\n1,spec k=4,mt,tiny,multi-turn,3,2,1.5,2.5,2.142857142857143\r\n"
                      "1,spec k=4,mt,tiny,translation,1,3,3,3,3\r\n"
                      "1,spec k=4,mt,tiny,math_reasoning,1,1.2,1.2,1.2,2\r\n"
                      "1,spec k=4,mt,tiny,alpha,1,1,1,1,1\r\n"
                      "1,spec k=4,mt,tiny,zeta,1,2.5,2.5,2.5,1.25\r\n"
                      "1,spec k=4,mt,tiny,overall,7,2,");
    CHECK_CONTAINS(s, "\r\n1,pld,mt,tiny,multi-turn,1,1.1,1.1,1.1,1.25\r\n"
                      "1,pld,mt,tiny,translation,1,1.3,1.3,1.3,2\r\n"
                      "1,pld,mt,tiny,overall,2,1.2000000000000002,1.1,1.3,1.5384615384615385\r\n");
    CHECK(s && !strstr(s, "pld,mt,tiny,math_reasoning"));
    free(s);
    s = report_by(st, "json", "category", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    cJSON *j = cJSON_Parse(s);
    CHECK(j != NULL);
    if (j) {
        CHECK_STR_EQ(cJSON_GetObjectItem(j, "by")->valuestring, "category");
        const cJSON *cols = cJSON_GetObjectItem(j, "columns");
        const char *want[] = { "multi-turn", "translation", "math_reasoning", "alpha", "zeta", "overall" };
        CHECK_INT_EQ(cJSON_GetArraySize(cols), 6);
        for (int k = 0; k < 6 && k < cJSON_GetArraySize(cols); k++)
            CHECK_STR_EQ(cJSON_GetArrayItem(cols, k)->valuestring, want[k]);
        const cJSON *rows = cJSON_GetObjectItem(j, "rows");
        const cJSON *c1 = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 1), "cells");
        const cJSON *mt = cJSON_GetObjectItem(c1, "multi-turn");
        CHECK_NEAR(cJSON_GetObjectItem(mt, "n")->valuedouble, 3, 0);
        CHECK_NEAR(cJSON_GetObjectItem(mt, "speedup")->valuedouble, 2.0, 0);
        CHECK_NEAR(cJSON_GetObjectItem(mt, "mat")->valuedouble, 30 / 14.0, 1e-15);
        const cJSON *c2 = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 2), "cells");
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(c2, "alpha")));
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "is_baseline")));
        cJSON_Delete(j);
    }
    free(s);
    s = report_by(st, "md", "method", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, -1);
    CHECK_CONTAINS(err, "unknown grouping 'method' (expected category, engine, model, dataset, param:NAME or machine)");
    free(s);
    /* the golden 2-case DB has one category "c": one extra column and overall */
    db_store_close(st);
    free(path);
    path = build_db();
    if (!path) return;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    if (st) {
        s = report_by(st, "md", "category", &rc, err, sizeof err);
        CHECK_INT_EQ(rc, 0);
        CHECK_CONTAINS(s, "| label | c | overall |\n|---|--:|--:|\n| ar | 1.00× / 1.00 | 1.00× / 1.00 |\n"
                          "| spec k=4 | 2.00× / 2.31 | 2.00× / 2.31 |\n");
        free(s);
        db_store_close(st);
    }
    free(path);
}

static int run_cmd(int n, const char **args) {
    char *argv[16];
    for (int i = 0; i < n; i++) argv[i] = (char *)args[i];
    argv[n] = NULL;
    return cmd_report(n, argv);
}

static void test_cmd_report(void) {
    char *path = build_db();
    if (!path) return;
    char *out = db_path_join(db_test_tmpdir(), "table.md");
    unlink(out);
    const char *a1[] = { "report", "--db", path, "--run", "1", "-o", out };
    CHECK_INT_EQ(run_cmd(7, a1), 0);
    char err[256];
    char *s = db_read_file(out, NULL, err, sizeof err);
    CHECK_STR_EQ(s, GOLDEN_MD);
    free(s);
    const char *a2[] = { "report", "--db", path, "--run", "1", "--format", "csv", "--output", out };
    CHECK_INT_EQ(run_cmd(9, a2), 0);
    s = db_read_file(out, NULL, err, sizeof err);
    CHECK_STR_EQ(s, GOLDEN_CSV);
    free(s);
    /* bad usage / input: exit 2 */
    char *missing = db_path_join(db_test_tmpdir(), "no-such.db");
    const char *a3[] = { "report", "--db", missing };
    CHECK_INT_EQ(run_cmd(3, a3), 2);
    CHECK(!db_file_exists(missing));
    const char *a4[] = { "report", "--db", path, "--format", "xml" };
    CHECK_INT_EQ(run_cmd(5, a4), 2);
    const char *a4b[] = { "report", "--db", path, "--format", "html", "--by", "category" };
    CHECK_INT_EQ(run_cmd(7, a4b), 2);
    const char *a5[] = { "report", "--db", path, "--run", "abc" };
    CHECK_INT_EQ(run_cmd(5, a5), 2);
    const char *a6[] = { "report", "--db", path, "--run", "77" };
    CHECK_INT_EQ(run_cmd(5, a6), 2);
    const char *a7[] = { "report", "--db", path, "extra" };
    CHECK_INT_EQ(run_cmd(4, a7), 2);
    const char *a8[] = { "report", "--db", path, "--by", "prompt" };
    CHECK_INT_EQ(run_cmd(5, a8), 2);
    const char *a8b[] = { "report", "--db", path, "--columns", "label,nope" };
    CHECK_INT_EQ(run_cmd(5, a8b), 2);
    const char *a8c[] = { "report", "--db", path, "--columns", "label", "--by", "model" };
    CHECK_INT_EQ(run_cmd(7, a8c), 2);
    const char *a8d[] = { "report", "--db", path, "--cell", "mat" };
    CHECK_INT_EQ(run_cmd(5, a8d), 2);
    const char *a8e[] = { "report", "--db", path, "--by", "model", "--cell", "nope" };
    CHECK_INT_EQ(run_cmd(7, a8e), 2);
    const char *a8f[] = { "report", "--db", path, "--columns", "label,n", "--format", "html" };
    CHECK_INT_EQ(run_cmd(7, a8f), 2);
    const char *a8g[] = { "report", "--db", path, "--run", "1", "--columns", "label,n", "-o", out };
    CHECK_INT_EQ(run_cmd(9, a8g), 0);
    s = db_read_file(out, NULL, err, sizeof err);
    CHECK_CONTAINS(s, "\n\n| label | n |\n|---|--:|\n| ar | 3 |\n| spec k=4 | 3 |\n");
    free(s);
    free(missing);
    free(path);
    path = build_spec_db();
    if (!path) { free(out); return; }
    const char *a9[] = { "report", "--db", path, "--by", "category", "-o", out };
    CHECK_INT_EQ(run_cmd(7, a9), 0);
    s = db_read_file(out, NULL, err, sizeof err);
    CHECK_STR_EQ(s, PIVOT_MD);
    free(s);
    free(out);
    free(path);
}

/* `report --regret` (reports/regret.h) on a run built by hand: fixed k = 1,
 * 2, 4 and an adaptive case with arms 1..4; per prompt the rounds (commits)
 * are known, so the best fixed k and the regret are too.  Not arms: k = 8
 * (above the adaptive case's 4), a sampling case, another draft.  A label
 * with Markdown and CSV metacharacters is escaped. */
static void test_regret_report(void) {
    char *path = db_test_fresh_db_path("regret.db");
    int64_t mid = 0;
    db_store *st = db_test_open_store(path, "fpR", &mid);
    if (!st) return;
    db_run_record rr = { mid, "rg", "suites/rg.json", "{}", "decobench run", "v1", "abc", "cc", "-O2", "", 1, NULL, 0 };
    int64_t run = 0;
    CHECK_INT_EQ(db_store_run_begin(st, &rr, &run), 0);
#define P(MODE, K, AD) "{\"mode\":\"" MODE "\",\"k\":" #K ",\"p_min\":0,\"adaptive\":\"" AD "\",\"ucb_c\":0.5}"
    static const struct { const char *label, *params, *draft; int rounds[3]; double lat[3]; } cs[] = {
        { "k=1", P("greedy", 1, "off"), "draft", { 10, 10, 10 }, { 100, 100, 100 } },
        { "k=2", P("greedy", 2, "off"), "draft", { 6, 7, 5 }, { 80, 90, 70 } },          /* 18 rounds: best */
        { "k=4", P("greedy", 4, "off"), "draft", { 5, 9, 6 }, { 60, 100, 60 } },         /* 20 rounds, 220 ms: best latency */
        { "k=8", P("greedy", 8, "off"), "draft", { 1, 1, 1 }, { 1, 1, 1 } },             /* not an arm: k > 4 */
        { "sample", P("sample", 2, "off"), "draft", { 1, 1, 1 }, { 1, 1, 1 } },          /* not an arm: mode */
        { "other draft", P("greedy", 2, "off"), "d2", { 1, 1, 1 }, { 1, 1, 1 } },        /* not an arm: draft */
        { "ucb |*<b>,=x", P("greedy", 4, "ucb"), "draft", { 6, 6, 6 }, { 110, 110, 110 } }, /* 18 rounds, 330 ms */
        { "exp3 alone", P("sample", 4, "exp3"), "d3", { 4, 4, 4 }, { 9, 9, 9 } },         /* no arm at all */
    };
#undef P
    for (int c = 0; c < (int)(sizeof cs / sizeof cs[0]); c++) {
        db_case_record cr = { c, "spec", cs[c].label, cs[c].params, "target", "/m/t.gguf", "ab", "tiny", 1000, 1000,
                              cs[c].draft, NULL, NULL, "prose", 3, "completed", 1700000000000LL, 1700000001000LL };
        db_sample_record smp[3];
        memset(smp, 0, sizeof smp);
        for (int i = 0; i < 3; i++) {
            smp[i].prompt_idx = i;
            smp[i].prompt_id = "p";
            smp[i].category = "prose";
            smp[i].stop_reason = "length";
            smp[i].m.n_commits = cs[c].rounds[i];
            smp[i].m.latency_ms = cs[c].lat[i];
            smp[i].m.new_tokens = 16;
        }
        int64_t cid;
        CHECK_INT_EQ(db_store_case(st, run, &cr, smp, 3, &cid), 0);
    }
    CHECK_INT_EQ(db_store_run_finish(st, run, "completed"), 0);
    db_store_close(st);
    char *out = db_test_fresh_db_path("regret.md"), *csv = db_test_fresh_db_path("regret.csv");
    const char *a1[] = { "report", "--db", path, "--regret", "-o", out };
    CHECK_INT_EQ(run_cmd(6, a1), 0);
    char rerr[256];
    char *md = db_read_file(out, NULL, rerr, sizeof rerr);
    CHECK_CONTAINS(md, "| ucb \\|*&lt;b&gt;,=x | prose | target | 3 | 3 | 18 | k=2 | 18 | +0 | +0.0% | k=4 | +50.0% |\n");
    CHECK_CONTAINS(md, "| exp3 alone | prose | target | 0 | 0 | – | – | – | – | – | – | – |\n");
    const char *a2[] = { "report", "--db", path, "--regret", "--format", "csv", "-o", csv };
    CHECK_INT_EQ(run_cmd(8, a2), 0);
    char *c = db_read_file(csv, NULL, rerr, sizeof rerr);
    CHECK_CONTAINS(c, "regret,\"ucb |*<b>,=x\",prose,target,3,3,18,k=2,18,0,0,k=4,0.5\n");
    CHECK_CONTAINS(c, "regret,exp3 alone,prose,target,0,0,,,,,,,\n");
    const char *a3[] = { "report", "--db", path, "--regret", "--format", "latex" };
    CHECK_INT_EQ(run_cmd(6, a3), 2);
    free(md);
    free(c);
    unlink(out);
    unlink(csv);
    free(out);
    free(csv);
    db_store_remove_files(path);
    free(path);
}

void suite_report(void) {
    RUN(test_regret_report);
    RUN(test_report_golden);
    RUN(test_report_escaping_and_latest);
    RUN(test_cmd_report);
    RUN(test_predicted_speedup);
    RUN(test_report_spec_columns);
    RUN(test_report_by_category);
    RUN(test_report_columns_and_cell);
}
