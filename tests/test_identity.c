/* test_identity.c — the run-time greedy identity check (harness/run/identity.c)
 * on a hand-built results database: which cases are compared with which
 * baseline, the stored counts and first differences, re-running replaces
 * the rows, and `report` shows "n/n" with a DIFF mark in every format.  The
 * differing sample planted in one case is the control the check must catch.
 */
#include "test.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/identity.h"
#include "harness/run/store.h"
#include "reports/compare.h"
#include "reports/report.h"

static char *q1(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s = NULL;
    char *r = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        r = strdup(t ? (const char *)t : "NULL");
    }
    sqlite3_finalize(s);
    return r ? r : strdup("<no row>");
}

#define CHECK_SQL(db, sql, want) do { char *got_ = q1(db, sql); CHECK_STR_EQ(got_, want); free(got_); } while (0)

static void exec_ok(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) db_test_fail(__FILE__, __LINE__, "%s: %s", sql, msg);
    sqlite3_free(msg);
}

static void add_case(sqlite3 *db, int id, const char *engine, const char *params, const char *sha, const char *dataset,
                     const char *status) {
    char *sql = sqlite3_mprintf("INSERT INTO \"case\"(id, run_id, idx, engine, label, params_json, model_name,"
                                " model_sha256, dataset, status) VALUES(%d, 1, %d, %Q, '%q #%d', %Q, 'target', %Q, %Q, %Q)",
                                id, id, engine, engine, id, params, sha, dataset, status);
    exec_ok(db, sql);
    sqlite3_free(sql);
}

static void add_sample(sqlite3 *db, int case_id, int prompt, int rep, const char *toks) {
    char *sql = sqlite3_mprintf("INSERT INTO sample(case_id, prompt_idx, prompt_id, rep, turn, tokens_per_s, latency_ms,"
                                " ttft_ms, new_tokens, mat, n_commits, output_tokens_json) VALUES(%d, %d, 'p%d', %d, 0,"
                                " 10, 100, 5, 3, 1, 3, %Q)", case_id, prompt, prompt, rep, toks);
    exec_ok(db, sql);
    sqlite3_free(sql);
}

#define G "{\"mode\":\"greedy\",\"temp\":1,\"top_k\":0,\"top_p\":1"

static char *build_db(void) {
    char *path = malloc(600);
    snprintf(path, 600, "%s/identity.db", db_test_tmpdir());
    db_store_remove_files(path);
    db_store *st = NULL;
    char err[512];
    if (db_store_open(path, &st, err, sizeof err) != 0) {
        db_test_fail(__FILE__, __LINE__, "%s", err);
        free(path);
        return NULL;
    }
    sqlite3 *db = db_store_handle(st);
    exec_ok(db, "INSERT INTO run(id, suite_name, config_json, started_at, status) VALUES(1, 'id', '{}', 1, 'completed')");
    const char *base[] = { "[1,2,3]", "[4,5,6]", "[7,8,9]" };
    add_case(db, 1, "ar", G ",\"no_repeat_ngram\":0}", "aa", "d", "completed");
    /* spec: prompt 2 differs at position 1 (the planted difference) */
    add_case(db, 2, "spec", G ",\"k\":4}", "aa", "d", "completed");
    /* spec-tree: identical; self-spec: reps 0 and 1 both compared with ar's rep 0 */
    add_case(db, 3, "spec-tree", G ",\"k\":4}", "aa", "d", "completed");
    add_case(db, 4, "spec", "{\"mode\":\"sample\",\"temp\":1,\"top_k\":0,\"top_p\":1}", "aa", "d", "completed");
    add_case(db, 5, "ar", G ",\"no_repeat_ngram\":3}", "aa", "e", "completed");   /* no baseline: blocking */
    add_case(db, 6, "lookahead", G "}", "aa", "e", "completed");                   /* ... so not compared */
    add_case(db, 7, "lookahead", G "}", "bb", "d", "completed");                   /* other model */
    add_case(db, 8, "beam", "{\"width\":4}", "aa", "d", "completed");              /* not lossless */
    add_case(db, 9, "pld", G "}", "aa", "d", "failed: x");                         /* failed case */
    add_case(db, 10, "self-spec", G "}", "aa", "d", "completed");
    /* pld shorter at the end: stops one token early */
    add_case(db, 11, "pld", G ",\"k\":10}", "aa", "d", "completed");
    for (int p = 0; p < 3; p++) {
        add_sample(db, 1, p, 0, base[p]);
        add_sample(db, 2, p, 0, p == 2 ? "[7,1,9]" : base[p]);
        add_sample(db, 3, p, 0, base[p]);
        add_sample(db, 4, p, 0, "[1,1,1]");
        add_sample(db, 5, p, 0, base[p]);
        add_sample(db, 6, p, 0, "[0]");
        add_sample(db, 7, p, 0, "[0]");
        add_sample(db, 8, p, 0, "[0]");
        add_sample(db, 9, p, 0, "[0]");
        add_sample(db, 10, p, 0, base[p]);
        add_sample(db, 10, p, 1, base[p]);
        add_sample(db, 11, p, 0, p == 0 ? "[1,2]" : base[p]);
    }
    db_store_close(st);
    return path;
}

static void identity_check_pairs_and_counts(void) {
    char *path = build_db();
    if (!path) return;
    db_store *st = NULL;
    char err[512];
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (!st) { free(path); return; }
    sqlite3 *db = db_store_handle(st);
    int nc = -1, nd = -1;
    for (int pass = 0; pass < 2; pass++) {       /* a second check (resume) replaces the rows */
        CHECK_INT_EQ(db_identity_check_run(db, 1, &nc, &nd, err, sizeof err), 0);
        CHECK_INT_EQ(nc, 4);
        CHECK_INT_EQ(nd, 2);
        CHECK_SQL(db, "SELECT group_concat(case_id||':'||baseline_case_id||':'||n_identical||'/'||n_compared, ' ')"
                      " FROM (SELECT * FROM identity ORDER BY case_id)",
                  "2:1:2/3 3:1:3/3 10:1:6/6 11:1:2/3");
    }
    CHECK_SQL(db, "SELECT first_diff_json FROM identity WHERE case_id = 2",
              "[{\"prompt_idx\":2,\"prompt_id\":\"p2\",\"turn\":0,\"rep\":0,\"position\":1,\"token\":1,\"baseline_token\":8}]");
    CHECK_SQL(db, "SELECT first_diff_json FROM identity WHERE case_id = 11",
              "[{\"prompt_idx\":0,\"prompt_id\":\"p0\",\"turn\":0,\"rep\":0,\"position\":2,\"token\":null,\"baseline_token\":3}]");
    CHECK_SQL(db, "SELECT COALESCE(first_diff_json, 'NULL') FROM identity WHERE case_id = 3", "NULL");
    int a = 0, b = 0;
    CHECK_INT_EQ(db_identity_get(db, 2, &a, &b), 1);
    CHECK(a == 3 && b == 2);
    CHECK_INT_EQ(db_identity_get(db, 6, &a, &b), 0);
    char buf[48];
    db_identity_format(buf, sizeof buf, 1, 3, 2);
    CHECK_STR_EQ(buf, "2/3 DIFF");
    db_identity_format(buf, sizeof buf, 1, 40, 40);
    CHECK_STR_EQ(buf, "40/40");
    db_identity_format(buf, sizeof buf, 0, 0, 0);
    CHECK_STR_EQ(buf, "");
    db_store_close(st);

    /* report: the identical column in every format */
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    const char *fmts[] = { "md", "csv", "latex", "json" };
    const char *want[] = { "| 2/3 DIFF |", ",2/3 DIFF", "2/3 DIFF \\\\", "\"identical\":\t\"2/3 DIFF\"" };
    for (int f = 0; f < 4 && st; f++) {
        char *out = NULL;
        size_t len = 0;
        FILE *mf = open_memstream(&out, &len);
        db_report_opts o = { 1, fmts[f], 1, NULL, NULL, NULL };
        int rc = db_report_table(st, &o, mf, err, sizeof err);
        fclose(mf);
        CHECK_INT_EQ(rc, 0);
        CHECK_MSG(out && strstr(out, want[f]), "%s report lacks '%s':\n%s", fmts[f], want[f], out ? out : "");
        CHECK_MSG(out && strstr(out, "dentical"), "%s report has no identical column", fmts[f]);
        free(out);
    }
    if (st) db_store_close(st);
    db_store_remove_files(path);
    free(path);
}

/* compare's identical_to_ar: run 2 is run 1 with the planted difference,
 * run 1 has it fixed; BASE 1 -> NEW 2 regresses for that case only, and the
 * same run against itself is unchanged with a note. */
static void identity_in_compare(void) {
    char *path = build_db();
    if (!path) return;
    db_store *st = NULL;
    char err[512];
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (!st) { free(path); return; }
    sqlite3 *db = db_store_handle(st);
    exec_ok(db, "INSERT INTO run(id, suite_name, config_json, started_at, status) VALUES(2, 'id', '{}', 2, 'completed');"
                "INSERT INTO \"case\"(id, run_id, idx, engine, label, params_json, model_name, model_sha256, dataset, status)"
                " SELECT id + 100, 2, idx, engine, label, params_json, model_name, model_sha256, dataset, status"
                " FROM \"case\" WHERE run_id = 1;"
                "INSERT INTO sample(case_id, prompt_idx, prompt_id, rep, turn, tokens_per_s, latency_ms, ttft_ms,"
                " new_tokens, mat, n_commits, output_tokens_json) SELECT case_id + 100, prompt_idx, prompt_id, rep, turn,"
                " tokens_per_s, latency_ms, ttft_ms, new_tokens, mat, n_commits, output_tokens_json FROM sample;"
                "UPDATE sample SET output_tokens_json = '[7,8,9]' WHERE case_id = 2 AND prompt_idx = 2;");
    CHECK_INT_EQ(db_identity_check_run(db, 1, NULL, NULL, err, sizeof err), 0);
    CHECK_INT_EQ(db_identity_check_run(db, 2, NULL, NULL, err, sizeof err), 0);
    for (int same = 0; same < 2; same++) {
        db_compare_result res;
        CHECK_INT_EQ(db_compare_runs(st, same ? 2 : 1, st, 2, NULL, &res, err, sizeof err), 0);
        int n_rows = 0, regressed = 0;
        for (int i = 0; i < res.n_rows; i++) {
            const db_compare_row *r = &res.rows[i];
            if (strcmp(r->metric, "identical_to_ar") != 0) continue;
            n_rows++;
            if (r->verdict == DB_VERDICT_REGRESSED) {
                regressed++;
                CHECK_STR_EQ(r->label, "spec #2");
                CHECK_NEAR(r->base, 1.0, 0);
                CHECK_NEAR(r->new_, 2.0 / 3.0, 1e-12);
            }
            if (same && !strcmp(r->label, "spec #2")) CHECK_STR_EQ(r->note ? r->note : "", "differs from ar in both runs");
        }
        CHECK_INT_EQ(n_rows, 4);              /* the four compared cases only */
        CHECK_INT_EQ(regressed, same ? 0 : 1);
        db_compare_result_free(&res);
    }
    db_store_close(st);
    db_store_remove_files(path);
    free(path);
}

void suite_identity(void) {
    RUN(identity_check_pairs_and_counts);
    RUN(identity_in_compare);
}
