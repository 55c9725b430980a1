/* test_report.c — golden tests of the results table (reports/table.c) and of
 * `decobench report` (harness/cmd_report.c) on a small DB built here:
 * a 2-case run (ar baseline, spec) with 3 samples each, expected output
 * derived by hand. */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../harness/cli.h"
#include "../harness/store.h"
#include "../harness/util.h"
#include "../reports/report.h"

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
    char *path = db_path_join(db_test_tmpdir(), "report.db");
    char side[1024];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    char err[512];
    db_store *st = NULL;
    if (db_store_open(path, &st, err, sizeof err) != 0) {
        printf("    %s\n", err);
        free(path);
        return NULL;
    }
    db_machine m;
    memset(&m, 0, sizeof m);
    snprintf(m.cpu_model, sizeof m.cpu_model, "Test CPU");
    snprintf(m.fingerprint, sizeof m.fingerprint, "fp");
    m.cores = 4;
    int64_t mid = 0;
    int rc = db_store_machine(st, &m, &mid);
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
    db_report_opts o = { run, fmt, 1 };
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
    "speedup_hi,mat,ttft_p50_ms,ttft_p90_ms,latency_p50_ms,PAPI_TOT_INS,perf::PAGE-FAULTS\r\n"
    "1,ar,mt,tiny,3,11,10,12,1,1,1,1,60,68,1100,200,6\r\n"
    "1,spec k=4,mt,tiny,3,22,20,30,2,2,2.5,2.3076923076923075,42,43.6,450,1200,8\r\n";

static const char *GOLDEN_TEX =
    "% decobench run 1 -- suite: smoke -- machine: Test CPU, 4 cores -- llama.cpp: abc1234\n"
    "% requires \\usepackage{booktabs}\n"
    "\\begin{tabular}{lllrrrrrrrrr}\n"
    "\\toprule\n"
    "Label & Dataset & Model & $n$ & tok/s [95\\% CI] & Speedup [95\\% CI] & \\#MAT & TTFT p50 (ms) & "
    "TTFT p90 (ms) & Latency p50 (ms) & PAPI\\_TOT\\_INS & perf::PAGE-FAULTS \\\\\n"
    "\\midrule\n"
    "ar & mt & tiny & 3 & 11.0 {[}10.0, 12.0{]} & 1.00 & 1.00 & 60.0 & 68.0 & 1100.0 & 200 & 6 \\\\\n"
    "spec k=4 & mt & tiny & 3 & \\textbf{22.0} {[}20.0, 30.0{]} & 2.00 {[}2.00, 2.50{]} & 2.31 & 42.0 & "
    "43.6 & 450.0 & 1200 & 8 \\\\\n"
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
    /* run 0 = latest (run 4); one sample: no CI; no ar case on its dataset
     * other than itself -> it is its own baseline */
    char *s = report(st, 0, "csv", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "\r\n4,\"a_b & \"\"c\"\", 50% {x}\",d$#,tiny,1,10,10,10,1,1,1,1,50,50,1000,100,5\r\n");
    free(s);
    s = report(st, 0, "latex", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "\na\\_b \\& \"c\", 50\\% \\{x\\} & d\\$\\# & tiny & 1 & \\textbf{10.0} {[}10.0, 10.0{]} & 1.00 &");
    free(s);
    s = report(st, 0, "md", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(s, "**decobench run 4** — suite: smoke");
    CHECK_CONTAINS(s, "— status: running");
    free(s);
    /* errors */
    s = report(st, 99, "md", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, -1);
    CHECK_STR_EQ(err, "no run with id 99");
    free(s);
    s = report(st, 1, "html", &rc, err, sizeof err);
    CHECK_INT_EQ(rc, -1);
    CHECK_CONTAINS(err, "unknown format 'html'");
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
    const char *a4[] = { "report", "--db", path, "--format", "html" };
    CHECK_INT_EQ(run_cmd(5, a4), 2);
    const char *a5[] = { "report", "--db", path, "--run", "abc" };
    CHECK_INT_EQ(run_cmd(5, a5), 2);
    const char *a6[] = { "report", "--db", path, "--run", "77" };
    CHECK_INT_EQ(run_cmd(5, a6), 2);
    const char *a7[] = { "report", "--db", path, "extra" };
    CHECK_INT_EQ(run_cmd(4, a7), 2);
    free(missing);
    free(out);
    free(path);
}

void suite_report(void) {
    RUN(test_report_golden);
    RUN(test_report_escaping_and_latest);
    RUN(test_cmd_report);
}
