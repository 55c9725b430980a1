/* test_store.c — tests of harness/run/store.c: schema creation, a full round trip
 * of machine/run/case/samples/counters/events read back with SQL, refusal of
 * non-database and foreign SQLite files, transactions, read-only opening;
 * and the read API the reports use (harness/run/store_read.h). */
#include "test.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/run/store.h"
#include "harness/run/store_read.h"
#include "harness/util/util.h"

static char *tmp_path(const char *name) {
    char *p = db_path_join(db_test_tmpdir(), name);
    unlink(p);
    char side[1024];
    snprintf(side, sizeof side, "%s-wal", p);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", p);
    unlink(side);
    return p;
}

/* one value of a query as text (NULL -> "(null)"), malloc'd */
static char *q1(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_strdup(sqlite3_errmsg(db));
    char *r = NULL;
    if (sqlite3_step(s) == SQLITE_ROW)
        r = db_strdup(sqlite3_column_type(s, 0) == SQLITE_NULL ? "(null)" : (const char *)sqlite3_column_text(s, 0));
    else r = db_strdup("(no row)");
    sqlite3_finalize(s);
    return r;
}

#define CHECK_Q(db, sql, expect) do { char *_v = q1(db, sql); CHECK_STR_EQ(_v, expect); free(_v); } while (0)

static double qd(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s = NULL;
    double v = NAN;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_double(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void fill_machine(db_machine *m, const char *fp) {
    memset(m, 0, sizeof *m);
    snprintf(m->hostname, sizeof m->hostname, "host1");
    snprintf(m->cpu_model, sizeof m->cpu_model, "Test CPU @ 3.0GHz");
    snprintf(m->arch, sizeof m->arch, "x86_64");
    snprintf(m->os, sizeof m->os, "Linux 6.1");
    m->packages = 1;
    m->cores = 4;
    m->pus = 8;
    m->numa_nodes = 1;
    m->memory_bytes = 17179869184ull;
    m->l1d_bytes = 49152;
    m->l2_bytes = 1310720;
    m->l3_bytes = 12582912;
    snprintf(m->fingerprint, sizeof m->fingerprint, "%s", fp);
    m->topology_json = (char *)"{\"cores\":4}";
}

static void test_store_roundtrip(void) {
    char *path = tmp_path("roundtrip.db");
    char err[512] = "";
    db_store *st = NULL;
    int64_t t_before = db_unix_ms();
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (!st) { printf("    %s\n", err); free(path); return; }
    sqlite3 *db = db_store_handle(st);
    CHECK_Q(db, "PRAGMA journal_mode", "wal");
    CHECK_Q(db, "PRAGMA foreign_keys", "1");
    CHECK_Q(db, "SELECT value FROM meta WHERE key='schema_version'", "8");
    CHECK_Q(db, "SELECT COUNT(*) FROM sqlite_master WHERE name='machine_probe'", "1");
    CHECK_Q(db, "SELECT COUNT(*) FROM sqlite_master WHERE name='machine_device'", "1");   /* version 5 */
    CHECK_Q(db, "SELECT COUNT(*) FROM sqlite_master WHERE name='run_shard'", "1");   /* version 4 */
    CHECK_Q(db, "SELECT COUNT(*) FROM pragma_table_info('run') WHERE name IN ('shard_index', 'shard_count', 'shard_group')",
            "3");
    CHECK_Q(db, "SELECT COUNT(*) FROM sqlite_master WHERE type='index' AND name IN ('case_run_id','sample_case_id')", "2");
    /* version 8: a case's counter values come from an index alone (the
     * query of db_store_for_case_counters) */
    {
        sqlite3_stmt *s = NULL;
        char plan[1024] = "";
        if (sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT sc.sample_id, sc.name, sc.value, sc.rowid"
                                   " FROM sample_counter sc JOIN sample s ON s.id = sc.sample_id WHERE s.case_id = ?",
                               -1, &s, NULL) == SQLITE_OK)
            while (sqlite3_step(s) == SQLITE_ROW) {
                size_t l = strlen(plan);
                snprintf(plan + l, sizeof plan - l, "%s; ", (const char *)sqlite3_column_text(s, 3));
            }
        sqlite3_finalize(s);
        CHECK_CONTAINS(plan, "USING COVERING INDEX sample_counter_value");
        plan[0] = 0;
        if (sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT i.name, i.value, i.text FROM interference i"
                                   " JOIN \"case\" c ON c.run_id = i.run_id AND c.idx = i.case_idx WHERE c.id = ?"
                                   " ORDER BY i.rowid", -1, &s, NULL) == SQLITE_OK)
            while (sqlite3_step(s) == SQLITE_ROW) {
                size_t l = strlen(plan);
                snprintf(plan + l, sizeof plan - l, "%s; ", (const char *)sqlite3_column_text(s, 3));
            }
        sqlite3_finalize(s);
        CHECK_CONTAINS(plan, "USING INDEX interference_run_case");
    }

    db_machine m;
    fill_machine(&m, "abc123");
    int64_t mid = 0, mid2 = 0;
    CHECK_INT_EQ(db_store_machine(st, &m, &mid), 0);
    CHECK_INT_EQ(db_store_machine(st, &m, &mid2), 0);
    CHECK(mid > 0 && mid == mid2);
    CHECK_Q(db, "SELECT COUNT(*) FROM machine", "1");
    CHECK_Q(db, "SELECT fingerprint||'|'||hostname||'|'||cpu_model||'|'||arch||'|'||os||'|'||packages||'|'||"
                "cores||'|'||pus||'|'||numa_nodes||'|'||memory_bytes||'|'||l1d_bytes||'|'||l2_bytes||'|'||"
                "l3_bytes||'|'||topology_json FROM machine",
            "abc123|host1|Test CPU @ 3.0GHz|x86_64|Linux 6.1|1|4|8|1|17179869184|49152|1310720|12582912|{\"cores\":4}");
    CHECK(qd(db, "SELECT first_seen FROM machine") >= (double)t_before);

    db_counter_status cs[2];
    memset(cs, 0, sizeof cs);
    snprintf(cs[0].name, sizeof cs[0].name, "PAPI_TOT_CYC");
    snprintf(cs[0].reason, sizeof cs[0].reason, "no PMU");
    snprintf(cs[1].name, sizeof cs[1].name, "perf::TASK-CLOCK");
    cs[1].available = true;
    cs[1].fallback = true;
    db_run_record rr = { mid, "smoke", "suites/smoke.json", "{\"baseline\":\"ar\"}", "decobench run",
                         "rev1", "llama42", "gcc 12", "-O2", "7.1.0", 4, cs, 2 };
    int64_t run_id = 0;
    CHECK_INT_EQ(db_store_run_begin(st, &rr, &run_id), 0);
    CHECK(run_id > 0);
    CHECK_Q(db, "SELECT machine_id||'|'||suite_name||'|'||suite_path||'|'||config_json||'|'||argv||'|'||"
                "decobench_rev||'|'||llama_commit||'|'||compiler||'|'||build_flags||'|'||papi_version||'|'||"
                "threads||'|'||status||'|'||(finished_at IS NULL) FROM run",
            "1|smoke|suites/smoke.json|{\"baseline\":\"ar\"}|decobench run|rev1|llama42|gcc 12|-O2|7.1.0|4|running|1");
    CHECK(qd(db, "SELECT started_at FROM run") >= (double)t_before);
    CHECK_Q(db, "SELECT group_concat(name||':'||available||':'||fallback||':'||reason, ';') FROM "
                "(SELECT * FROM run_counter ORDER BY name)",
            "PAPI_TOT_CYC:0:0:no PMU;perf::TASK-CLOCK:1:1:");

    db_case_record cr = { 0, "spec", "spec k=4", "{\"k\":4}", "target", "/m/t.gguf", "aa11", "tiny llama",
                          1000000, 2000000, "draft", "/m/d.gguf", "bb22", "mt", 2, "completed",
                          1700000000000, 1700000005000 };
    db_sample_record s[2];
    memset(s, 0, sizeof s);
    const int32_t toks0[] = { 5, 6, 7 };
    const char *cn[] = { "perf::TASK-CLOCK", "PAPI_TOT_INS" };
    const int64_t cv0[] = { 1234567, 9876543210 }, cv1[] = { 7, 8 };
    db_event ev[3] = {
        { DB_EV_FORWARD, DB_ROLE_TARGET, 0, 5, 0, 0, 1000, 251999 },
        { DB_EV_VERIFY, DB_ROLE_TARGET, 1, 4, 2, 0x3, 300000, 300000 },
        { DB_EV_COMMIT, DB_ROLE_NONE, 1, 3, 0, 0, 300000, 300000 },
    };
    s[0].prompt_idx = 0;
    s[0].prompt_id = "p0";
    s[0].category = "writing";
    s[0].rep = 0;
    s[0].seed = 1234;
    db_sample_metrics *mm = &s[0].m;
    mm->n_prompt_tokens = 5;
    mm->new_tokens = 3;
    mm->ttft_ms = 252.0;
    mm->latency_ms = 300.5;
    mm->tokens_per_s = 3 / 0.3005;
    mm->tpot_ms = 24.25;
    mm->target_forwards = 2;
    mm->draft_forwards = 4;
    mm->target_tokens_evaluated = 10;
    mm->n_commits = 2;
    mm->mat = 1.5;
    mm->drafted = 6;
    mm->accepted = 3;
    mm->acceptance_rate = 0.5;
    mm->drafted_at[0] = 3; mm->accepted_at[0] = 2;
    mm->drafted_at[1] = 0;
    mm->drafted_at[2] = 3; mm->accepted_at[2] = 1;
    mm->draft_time_ms = 10.25;
    mm->forward_time_ms = 280.125;
    mm->sample_time_ms = 1.5;
    s[0].peak_rss_kib = 123456;
    s[0].stop_reason = "length";
    s[0].output_tokens = toks0;
    s[0].n_output_tokens = 3;
    s[0].output_text = "a \"quoted\"\nline";
    s[0].counter_names = cn;
    s[0].counter_values = cv0;
    s[0].n_counters = 2;
    s[0].events = ev;
    s[0].n_events = 3;
    const char *mn[] = { "schema_valid", "mask_p50_us" };
    const double mv[] = { 1, 12.5 };
    s[0].metric_names = mn;
    s[0].metric_values = mv;
    s[0].n_metrics = 2;
    s[1] = s[0];
    s[1].n_metrics = 0;
    s[1].prompt_idx = 1;
    s[1].prompt_id = "p1";
    s[1].rep = 1;
    s[1].seed = UINT64_MAX;               /* stored as -1 (two's complement) */
    memset(&s[1].m, 0, sizeof s[1].m);
    s[1].m.acceptance_rate = NAN;         /* nothing drafted -> NULL */
    s[1].m.tpot_ms = NAN;
    s[1].output_tokens = NULL;
    s[1].n_output_tokens = 0;
    s[1].output_text = "";
    s[1].counter_values = cv1;
    s[1].n_events = 0;
    int64_t case_id = 0;
    db_store_set_events_rows(st, true);   /* version 6: the step_event row layout on request */
    CHECK_INT_EQ(db_store_case(st, run_id, &cr, s, 2, &case_id), 0);
    CHECK(case_id > 0);
    CHECK_Q(db, "SELECT run_id||'|'||idx||'|'||engine||'|'||label||'|'||params_json||'|'||model_name||'|'||"
                "model_path||'|'||model_sha256||'|'||model_desc||'|'||model_params||'|'||model_bytes||'|'||"
                "draft_name||'|'||draft_path||'|'||draft_sha256||'|'||dataset||'|'||n_prompts||'|'||status||'|'||"
                "started_at||'|'||finished_at FROM \"case\"",
            "1|0|spec|spec k=4|{\"k\":4}|target|/m/t.gguf|aa11|tiny llama|1000000|2000000|draft|/m/d.gguf|bb22|"
            "mt|2|completed|1700000000000|1700000005000");
    CHECK_Q(db, "SELECT COUNT(*) FROM sample", "2");
    CHECK_Q(db, "SELECT case_id||'|'||prompt_idx||'|'||prompt_id||'|'||category||'|'||rep||'|'||seed||'|'||"
                "n_prompt_tokens||'|'||new_tokens||'|'||ttft_ms||'|'||latency_ms||'|'||tpot_ms||'|'||"
                "target_forwards||'|'||draft_forwards||'|'||target_tokens_evaluated||'|'||n_commits||'|'||"
                "mat||'|'||drafted||'|'||accepted||'|'||acceptance_rate||'|'||accept_at_json||'|'||"
                "draft_time_ms||'|'||forward_time_ms||'|'||sample_time_ms||'|'||peak_rss_kib||'|'||"
                "stop_reason||'|'||output_tokens_json FROM sample WHERE prompt_idx=0",
            "1|0|p0|writing|0|1234|5|3|252.0|300.5|24.25|2|4|10|2|1.5|6|3|0.5|"
            "[0.6666666666666666,null,0.3333333333333333]|10.25|280.125|1.5|123456|length|[5,6,7]");
    CHECK_NEAR(qd(db, "SELECT tokens_per_s FROM sample WHERE prompt_idx=0"), 3 / 0.3005, 0);
    CHECK_Q(db, "SELECT output_text FROM sample WHERE prompt_idx=0", "a \"quoted\"\nline");
    CHECK_Q(db, "SELECT group_concat(m.name||'='||m.value, ';') FROM (SELECT * FROM sample_metric ORDER BY name) m"
                " JOIN sample s ON s.id = m.sample_id WHERE s.prompt_idx = 0",
            "mask_p50_us=12.5;schema_valid=1.0");
    CHECK_Q(db, "SELECT COUNT(*) FROM sample_metric", "2");
    CHECK_Q(db, "SELECT seed||'|'||rep||'|'||(acceptance_rate IS NULL)||'|'||(tpot_ms IS NULL)||'|'||"
                "accept_at_json||'|'||output_tokens_json||'|'||output_text FROM sample WHERE prompt_idx=1",
            "-1|1|1|1|[]|[]|");
    CHECK_Q(db, "SELECT group_concat(v, ';') FROM (SELECT s.prompt_idx||':'||c.name||'='||c.value AS v "
                "FROM sample_counter c JOIN sample s ON s.id=c.sample_id ORDER BY s.prompt_idx, c.name)",
            "0:PAPI_TOT_INS=9876543210;0:perf::TASK-CLOCK=1234567;1:PAPI_TOT_INS=8;1:perf::TASK-CLOCK=7");
    CHECK_Q(db, "SELECT group_concat(v, ';') FROM (SELECT seq||','||kind||','||role||','||step||','||n_tokens||','||"
                "n_accepted||','||accepted_mask||','||t_start_us||','||t_end_us AS v FROM step_event e "
                "JOIN sample s ON s.id=e.sample_id WHERE s.prompt_idx=0 ORDER BY seq)",
            "0,1,0,0,5,0,0,1,251;1,3,0,1,4,2,3,300,300;2,4,2,1,3,0,0,300,300");
    CHECK_Q(db, "SELECT COUNT(*) FROM step_event", "3");

    CHECK_INT_EQ(db_store_run_finish(st, run_id, "completed"), 0);
    CHECK_Q(db, "SELECT status||'|'||(finished_at >= started_at) FROM run", "completed|1");
    CHECK_INT_EQ(db_store_run_finish(st, 999, "completed"), -1);
    CHECK_CONTAINS(db_store_errmsg(st), "no run with id 999");

    /* a failing sample rolls the whole case back (duplicate counter name) */
    const char *dup[] = { "X", "X" };
    db_sample_record bad = s[0];
    bad.counter_names = dup;
    CHECK_INT_EQ(db_store_case(st, run_id, &cr, &bad, 1, &case_id), -1);
    CHECK_CONTAINS(db_store_errmsg(st), path);
    CHECK_Q(db, "SELECT COUNT(*) FROM \"case\"", "1");
    CHECK_Q(db, "SELECT COUNT(*) FROM sample", "2");
    CHECK_Q(db, "SELECT COUNT(*) FROM step_event", "3");
    /* and the store remains usable */
    CHECK_INT_EQ(db_store_case(st, run_id, &cr, s, 1, &case_id), 0);
    CHECK_Q(db, "SELECT COUNT(*) FROM \"case\"", "2");
    db_store_close(st);

    /* reopening keeps the data; read-only refuses writes */
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (st) {
        CHECK_Q(db_store_handle(st), "SELECT COUNT(*) FROM sample", "3");
        db_store_close(st);
    }
    st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    if (st) {
        CHECK_Q(db_store_handle(st), "SELECT COUNT(*) FROM run", "1");
        CHECK_INT_EQ(db_store_run_finish(st, run_id, "failed"), -1);
        CHECK_CONTAINS(db_store_errmsg(st), "read-only");
        db_store_close(st);
    }
    free(path);
}

static void test_store_open_errors(void) {
    char err[512];
    db_store *st = NULL;
    /* a text file */
    char *p = tmp_path("not-a-db.txt");
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f) {
        for (int i = 0; i < 200; i++) fputs("this is not a database\n", f);
        fclose(f);
    }
    err[0] = 0;
    CHECK_INT_EQ(db_store_open(p, &st, err, sizeof err), -1);
    CHECK(st == NULL);
    CHECK_CONTAINS(err, p);
    CHECK_CONTAINS(err, "not a SQLite database");
    CHECK(strchr(err, '\n') == NULL);
    err[0] = 0;
    CHECK_INT_EQ(db_store_open_readonly(p, &st, err, sizeof err), -1);
    CHECK_CONTAINS(err, "not a SQLite database");
    free(p);

    /* a foreign SQLite database: refused, and left without new tables */
    p = tmp_path("foreign.db");
    sqlite3 *db = NULL;
    CHECK_INT_EQ(sqlite3_open(p, &db), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(db, "CREATE TABLE foo(x); INSERT INTO foo VALUES(1);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    err[0] = 0;
    CHECK_INT_EQ(db_store_open(p, &st, err, sizeof err), -1);
    CHECK_CONTAINS(err, p);
    CHECK_CONTAINS(err, "not a decobench results database");
    db = NULL;
    CHECK_INT_EQ(sqlite3_open(p, &db), SQLITE_OK);
    char *v = q1(db, "SELECT group_concat(name) FROM sqlite_master");
    CHECK_STR_EQ(v, "foo");
    free(v);
    /* a foreign DB with its own "meta" table is still foreign */
    sqlite3_exec(db, "CREATE TABLE meta(key, value)", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK_INT_EQ(db_store_open(p, &st, err, sizeof err), -1);
    CHECK_CONTAINS(err, "not a decobench results database");
    free(p);

    /* a newer schema version */
    p = tmp_path("future.db");
    CHECK_INT_EQ(db_store_open(p, &st, err, sizeof err), 0);
    if (st) {
        sqlite3_exec(db_store_handle(st), "UPDATE meta SET value='99' WHERE key='schema_version'", NULL, NULL, NULL);
        db_store_close(st);
    }
    st = NULL;
    CHECK_INT_EQ(db_store_open(p, &st, err, sizeof err), -1);
    CHECK_CONTAINS(err, "schema version 99");
    free(p);

    /* cannot be created */
    err[0] = 0;
    CHECK_INT_EQ(db_store_open("/nonexistent-dir/x/results.db", &st, err, sizeof err), -1);
    CHECK_CONTAINS(err, "/nonexistent-dir/x/results.db");
    CHECK(db_file_exists("/nonexistent-dir/x/results.db") == false);
    /* read-only open of a missing file does not create it */
    p = tmp_path("missing.db");
    err[0] = 0;
    CHECK_INT_EQ(db_store_open_readonly(p, &st, err, sizeof err), -1);
    CHECK_CONTAINS(err, p);
    CHECK(!db_file_exists(p));
    free(p);
}

/* A version-1 database (before sample_metric) opens: read-only with the new
 * tables as TEMP (queries work, nothing written), writable upgraded in place. */
static void test_store_upgrade_v1(void) {
    char *path = tmp_path("v1.db");
    char err[512] = "";
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (!st) { free(path); return; }
    sqlite3 *db = db_store_handle(st);
    CHECK_INT_EQ(sqlite3_exec(db, "DROP TABLE sample_metric; DROP TABLE machine_probe; DROP TABLE identity; "
                              "DROP TABLE interference; DROP TABLE run_shard; DROP TABLE machine_device; "
                              "UPDATE meta SET value='1' WHERE key='schema_version'",
                              NULL, NULL, NULL), SQLITE_OK);
    db_store_close(st);

    st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    if (st) {
        db = db_store_handle(st);
        CHECK_Q(db, "SELECT COUNT(*) FROM sample_metric", "0");
        CHECK_Q(db, "SELECT COUNT(*) FROM identity", "0");   /* S7 identity: TEMP on read-only */
        CHECK_Q(db, "SELECT value FROM meta WHERE key='schema_version'", "1");
        CHECK_Q(db, "SELECT COUNT(*) FROM main.sqlite_master WHERE name='sample_metric'", "0");
        db_store_close(st);
    }
    st = NULL;
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (st) {
        db = db_store_handle(st);
        CHECK_Q(db, "SELECT value FROM meta WHERE key='schema_version'", "8");
        CHECK_Q(db, "SELECT COUNT(*) FROM main.sqlite_master WHERE name='sample_metric'", "1");
        CHECK_Q(db, "SELECT COUNT(*) FROM main.sqlite_master WHERE name='run_shard'", "1");
        CHECK_Q(db, "SELECT COUNT(*) FROM main.sqlite_master WHERE name='machine_device'", "1");
        CHECK_Q(db, "SELECT COUNT(*) FROM main.sqlite_master WHERE name='identity'", "1");
        db_store_close(st);
    }
    /* a future version is refused with its number */
    st = NULL;
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (st) {
        sqlite3_exec(db_store_handle(st), "UPDATE meta SET value='99' WHERE key='schema_version'", NULL, NULL, NULL);
        db_store_close(st);
    }
    st = NULL;
    err[0] = 0;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), -1);
    CHECK_CONTAINS(err, "schema version 99");
    free(path);
}

/* One case of two samples (or one) with counters, a VERIFY event and metrics. */
static int64_t read_api_case(db_store *st, int64_t run, int idx, const char *label, int n) {
    db_case_record cr = { idx, "spec", label, "{\"k\":4}", "target", "/m/t.gguf", "aa11", "tiny", 1, 4096,
                          NULL, NULL, NULL, "mt", n, "completed", 1, 2 };
    const char *cn[] = { "perf::TASK-CLOCK", "PAPI_TOT_INS" };
    const int64_t cv[] = { 100, 200 };
    const char *mn[] = { "schema_valid", "mask_p50_us" };
    const double mv0[] = { 1, 12.5 }, mv1[] = { 0, 13.5 };
    db_event ev = { DB_EV_VERIFY, DB_ROLE_TARGET, 1, 4, 2, 0x3, 10, 20 };
    db_sample_record s[2];
    memset(s, 0, sizeof s);
    for (int i = 0; i < 2; i++) {
        s[i].prompt_idx = i;
        s[i].prompt_id = i ? "p1" : "p0";
        s[i].category = "writing";
        s[i].seed = 7;
        s[i].m.tokens_per_s = 10 + i;
        s[i].m.target_forwards = 2 + 2 * i;
        s[i].m.draft_forwards = 1;
        s[i].m.n_commits = 3;
        s[i].m.mat = 1.5;
        s[i].m.acceptance_rate = i ? NAN : 0.5;
        s[i].m.tpot_ms = 20 + i;
        s[i].stop_reason = "length";
        s[i].output_text = i ? "second" : "first";
        s[i].counter_names = cn;
        s[i].counter_values = cv;
        s[i].n_counters = 2;
        s[i].metric_names = mn;
        s[i].metric_values = i ? mv1 : mv0;
        s[i].n_metrics = 2;
    }
    s[0].events = &ev;
    s[0].n_events = 1;
    int64_t id = 0;
    CHECK_INT_EQ(db_store_case(st, run, &cr, s, n, &id), 0);
    return id;
}

static void test_store_read_api(void) {
    char *path = tmp_path("read_api.db");
    char err[512] = "", note[512] = "";
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (!st) { printf("    %s\n", err); free(path); return; }
    db_machine m;
    fill_machine(&m, "read-api");
    int64_t mid = 0, run1 = 0, run2 = 0;
    CHECK_INT_EQ(db_store_machine(st, &m, &mid), 0);
    db_run_record rr = { mid, "smoke", "suites/smoke.json", "{}", "decobench run", "rev1", "llama42", "gcc", "-O2",
                         "", 4, NULL, 0 };
    CHECK_INT_EQ(db_store_run_begin(st, &rr, &run1), 0);
    int64_t cb = read_api_case(st, run1, 1, "b", 1);   /* written first, shown second (idx order) */
    int64_t ca = read_api_case(st, run1, 0, "a", 2);
    CHECK_INT_EQ(db_store_run_finish(st, run1, "completed"), 0);
    CHECK_INT_EQ(db_store_run_begin(st, &rr, &run2), 0);   /* still running: not "latest" */

    /* runs: run 0 is the latest run that ended, with a note naming the newer one */
    int64_t n_runs = 0, id = 0;
    CHECK_INT_EQ(db_store_count_runs(st, &n_runs, err, sizeof err), 0);
    CHECK_INT_EQ(n_runs, 2);
    CHECK_INT_EQ(db_store_resolve_run(st, 0, &id, note, sizeof note, err, sizeof err), 0);
    CHECK_INT_EQ(id, run1);
    CHECK_CONTAINS(note, "the latest that ended");
    db_run_info ri;
    CHECK_INT_EQ(db_store_read_run(st, 0, &ri, err, sizeof err), 0);
    CHECK_INT_EQ(ri.id, run1);
    CHECK_INT_EQ(ri.machine_id, mid);
    CHECK_STR_EQ(ri.suite_name, "smoke");
    CHECK_STR_EQ(ri.status, "completed");
    CHECK_STR_EQ(ri.decobench_rev, "rev1");
    CHECK_STR_EQ(ri.cpu_model, "Test CPU @ 3.0GHz");
    CHECK_STR_EQ(ri.hostname, "host1");
    CHECK_INT_EQ(ri.cores, 4);
    db_run_info_free(&ri);
    CHECK_INT_EQ(db_store_read_run(st, 99, &ri, err, sizeof err), -1);
    CHECK_STR_EQ(err, "no run with id 99");
    db_run_info *runs = NULL;
    int n = 0;
    CHECK_INT_EQ(db_store_read_runs(st, NULL, true, &runs, &n, err, sizeof err), 0);
    CHECK_INT_EQ(n, 1);
    if (n == 1) CHECK_INT_EQ(runs[0].id, run1);
    db_run_infos_free(runs, n);
    CHECK_INT_EQ(db_store_read_runs(st, "smoke", false, &runs, &n, err, sizeof err), 0);
    CHECK_INT_EQ(n, 2);
    if (n == 2) CHECK(runs[0].id == run1 && runs[1].id == run2 && !strcmp(runs[1].status, "running"));
    db_run_infos_free(runs, n);
    CHECK_INT_EQ(db_store_read_runs(st, "other", false, &runs, &n, err, sizeof err), 0);
    CHECK_INT_EQ(n, 0);
    db_run_infos_free(runs, n);

    /* cases in idx order, with their sample counts */
    db_case_info *cs = NULL;
    CHECK_INT_EQ(db_store_read_cases(st, run1, NULL, &cs, &n, err, sizeof err), 0);
    CHECK_INT_EQ(n, 2);
    if (n == 2) {
        CHECK(cs[0].id == ca && cs[1].id == cb);
        CHECK_STR_EQ(cs[0].label, "a");
        CHECK_INT_EQ(cs[0].n_samples, 2);
        CHECK_INT_EQ(cs[1].n_samples, 1);
        CHECK_INT_EQ(cs[0].model_bytes, 4096);
        CHECK_STR_EQ(cs[0].params_json, "{\"k\":4}");
    }
    db_case_infos_free(cs, n);
    CHECK_INT_EQ(db_store_read_cases(st, 0, "b", &cs, &n, err, sizeof err), 0);
    CHECK(n == 1 && cs[0].id == cb);
    db_case_infos_free(cs, n);
    db_case_info one;
    bool found = true;
    CHECK_INT_EQ(db_store_read_case(st, 9999, &one, &found, err, sizeof err), 0);
    CHECK(!found);

    /* samples in id order: NULL reals read as NaN, outputs only when asked */
    db_sample_info *sm = NULL;
    CHECK_INT_EQ(db_store_read_samples(st, ca, 0, true, &sm, &n, err, sizeof err), 0);
    CHECK_INT_EQ(n, 2);
    if (n == 2) {
        CHECK(sm[0].id < sm[1].id && sm[0].prompt_idx == 0 && sm[1].prompt_idx == 1);
        CHECK_NEAR(sm[0].tokens_per_s, 10, 0);
        CHECK_NEAR(sm[0].acceptance_rate, 0.5, 0);
        CHECK(isnan(sm[1].acceptance_rate));
        CHECK_INT_EQ(sm[1].target_forwards, 4);
        CHECK(sm[0].has_seed && sm[0].seed == 7);
        CHECK_STR_EQ(sm[1].output_text, "second");
        CHECK_STR_EQ(sm[0].prompt_id, "p0");
        CHECK_NEAR(db_sample_value(&sm[1], "tpot_ms"), 21, 0);
        CHECK(isnan(db_sample_value(&sm[1], "no_such_column")));
    }
    db_sample_infos_free(sm, n);
    CHECK_INT_EQ(db_store_read_samples(st, ca, 1, false, &sm, &n, err, sizeof err), 0);
    CHECK(n == 1 && !strcmp(sm[0].output_text, "") && sm[0].prompt_idx == 0);
    db_sample_infos_free(sm, n);

    /* counters, events, metrics */
    char **names = NULL;
    CHECK_INT_EQ(db_store_read_counter_names(st, run1, &names, &n, err, sizeof err), 0);
    CHECK(n == 2 && !strcmp(names[0], "perf::TASK-CLOCK") && !strcmp(names[1], "PAPI_TOT_INS"));
    db_names_free(names, n);
    db_counter_value *cv = NULL;
    CHECK_INT_EQ(db_store_read_sample_counters(st, ca, &cv, &n, err, sizeof err), 0);
    CHECK_INT_EQ(n, 4);
    for (int i = 0; i < n; i++)
        CHECK(!strcmp(cv[i].name, "PAPI_TOT_INS") ? cv[i].value == 200 : cv[i].value == 100);
    db_counter_values_free(cv, n);
    db_event_info *ev = NULL;
    CHECK_INT_EQ(db_store_read_events(st, ca, DB_EV_VERIFY, &ev, &n, err, sizeof err), 0);
    CHECK(n == 1 && ev[0].n_tokens == 4 && ev[0].n_accepted == 2 && ev[0].accepted_mask == 3);
    free(ev);
    CHECK_INT_EQ(db_store_read_metric_names(st, run1, &names, &n, err, sizeof err), 0);
    CHECK(n == 2 && !strcmp(names[0], "mask_p50_us") && !strcmp(names[1], "schema_valid"));
    db_names_free(names, n);
    double mean = 0;
    int count = -1;
    CHECK_INT_EQ(db_store_case_metric_mean(st, ca, "mask_p50_us", &mean, err, sizeof err), 0);
    CHECK_NEAR(mean, 13, 1e-12);
    CHECK_INT_EQ(db_store_case_metric_mean(st, ca, "absent", &mean, err, sizeof err), 0);
    CHECK(isnan(mean));
    CHECK_INT_EQ(db_store_case_metric_count(st, ca, "schema_valid", 1, &count, err, sizeof err), 0);
    CHECK_INT_EQ(count, 1);
    CHECK_INT_EQ(db_store_metric_stored(st, "schema_valid", &found, err, sizeof err), 0);
    CHECK(found);
    CHECK_INT_EQ(db_store_metric_stored(st, "absent", &found, err, sizeof err), 0);
    CHECK(!found);
    db_case_means means;
    CHECK_INT_EQ(db_store_case_means(st, ca, &means, err, sizeof err), 0);
    CHECK_NEAR(means.target_forwards, 3, 0);
    CHECK_NEAR(means.forwards, 4, 0);

    /* probes, records, interference */
    db_probe_record pr;
    CHECK_INT_EQ(db_store_read_probe(st, mid, &pr, &found, err, sizeof err), 0);
    CHECK(!found && isnan(pr.bandwidth_gbs));
    db_probe_record pw = { 1700000000000, 12.5, 100, 50, 2, "test" };
    CHECK_INT_EQ(db_store_probe(st, mid, &pw), 0);
    CHECK_INT_EQ(db_store_read_probe(st, mid, &pr, &found, err, sizeof err), 0);
    CHECK(found && pr.bandwidth_gbs == 12.5 && pr.gflops == 100 && pr.threads == 2);
    db_field *f = NULL;
    CHECK_INT_EQ(db_store_read_record(st, DB_RECORD_RUN, run1, &f, &n), 0);
    CHECK(n > 2 && !strcmp(f[1].name, "suite_name") && !strcmp(f[1].text, "smoke") && f[1].is_text);
    if (n > 0) CHECK(!strcmp(f[0].name, "run") && !f[0].is_text && f[0].int_value == run1);
    db_fields_free(f, n);
    CHECK_INT_EQ(db_store_read_record(st, DB_RECORD_MACHINE, 9999, &f, &n), 0);
    CHECK_INT_EQ(n, 0);
    db_noise_row *nr = NULL;
    CHECK_INT_EQ(db_store_read_interference(st, run1, 0, &nr, &n, err, sizeof err), 0);
    CHECK_INT_EQ(n, 0);
    db_noise_rows_free(nr, n);
    db_store_close(st);
    db_store_remove_files(path);
    free(path);
}

void suite_store(void) {
    RUN(test_store_roundtrip);
    RUN(test_store_upgrade_v1);
    RUN(test_store_open_errors);
    RUN(test_store_read_api);
}
