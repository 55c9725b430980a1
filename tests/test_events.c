/* test_events.c — compact step events (schema version 6): the codec's
 * round trip (random events, extremes, malformed blobs), and the same run
 * written as step_event rows and as sample_events blobs giving
 * byte-identical reports (md, csv, json, html), compare and history
 * outputs and serving inter-token latencies; the version 5 -> 6 upgrade
 * (rows converted into blobs in place; read-only opens read the rows) and
 * merge of both layouts. */
#include "test.h"
#include "fixtures.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/engine.h"
#include "harness/run/events_codec.h"
#include "harness/run/identity.h"
#include "harness/run/store.h"
#include "harness/run/store_merge.h"
#include "harness/run/store_read.h"
#include "harness/run/store_serve.h"
#include "harness/util/rng.h"
#include "harness/util/util.h"
#include "reports/compare.h"
#include "reports/report.h"
#include "reports/table_data.h"

static int rows_equal(const db_event_row *a, const db_event_row *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i].kind != b[i].kind || a[i].role != b[i].role || a[i].step != b[i].step ||
            a[i].n_tokens != b[i].n_tokens || a[i].n_accepted != b[i].n_accepted ||
            a[i].accepted_mask != b[i].accepted_mask || a[i].t_start_us != b[i].t_start_us ||
            a[i].t_end_us != b[i].t_end_us)
            return 0;
    return 1;
}

static void roundtrip(const db_event_row *ev, int n, size_t *bytes) {
    uint8_t *b = NULL;
    size_t len = 0;
    char err[256];
    CHECK_INT_EQ(db_events_encode(ev, n, &b, &len, err, sizeof err), 0);
    db_event_row *back = NULL;
    int m = -1;
    CHECK_INT_EQ(db_events_decode(b, len, n, &back, &m, err, sizeof err), 0);
    CHECK_INT_EQ(m, n);
    if (m == n) CHECK(rows_equal(ev, back, n));
    if (bytes) *bytes = len;
    free(b);
    free(back);
}

/* random events (values near the limits included) and typical decoding traces */
static void test_codec_roundtrip(void) {
    db_rng r = db_rng_make(42, 7);
    db_event_row ev[300];
    for (int t = 0; t < 400; t++) {
        int n = (int)(db_rng_u64(&r) % 300);
        for (int i = 0; i < n; i++) {
            uint64_t u = db_rng_u64(&r);
            db_event_row *e = &ev[i];
            int wild = (u & 7) == 0;   /* one in 8: anything 32/64-bit */
            e->kind = wild ? (int32_t)db_rng_u64(&r) : (int32_t)(1 + u % 8);
            e->role = wild ? (int32_t)db_rng_u64(&r) : (int32_t)(u >> 8) % 3;
            e->step = wild ? (int32_t)db_rng_u64(&r) : (int32_t)i / 3;
            e->n_tokens = wild ? (int32_t)db_rng_u64(&r) : (int32_t)(u >> 16) % 9;
            e->n_accepted = (u >> 20) & 1 ? (wild ? (int32_t)db_rng_u64(&r) : (int32_t)(u >> 24) % 9) : 0;
            e->accepted_mask = (u >> 21) & 1 ? (wild ? db_rng_u64(&r) : (u >> 32) & 0xff) : 0;
            e->t_start_us = wild ? (int64_t)db_rng_u64(&r) : (int64_t)(i * 1000 + (u >> 40) % 500) - 200;
            e->t_end_us = wild ? (int64_t)db_rng_u64(&r) : e->t_start_us + (int64_t)((u >> 48) % 3000) - 100;
        }
        roundtrip(ev, n, NULL);
    }
    /* the extremes, in both orders (deltas wrap around modulo 2^64) */
    db_event_row x[4] = {
        { INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, UINT64_MAX, INT64_MIN, INT64_MAX },
        { INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, 1ull << 63, INT64_MAX, INT64_MIN },
        { 0, -1, 0, 0, 0, 0, 0, 0 },
        { 3, 2, -5, 1 << 30, -1, 0xffffffffull, -1, -2 },
    };
    roundtrip(x, 4, NULL);
    db_event_row y[4] = { x[3], x[1], x[2], x[0] };
    roundtrip(y, 4, NULL);
    roundtrip(NULL, 0, NULL);
    /* an autoregressive trace: forward, sampling, commit per token: 5 bytes an event */
    int n = 0;
    for (int i = 0; i < 100; i++) {
        int64_t t = 1000 + i * 3000;
        db_event_row f = { DB_EV_FORWARD, DB_ROLE_TARGET, i, 1, 0, 0, t, t + 2800 };
        db_event_row s = { DB_EV_SAMPLE, DB_ROLE_NONE, i, 1, 0, 0, t + 2800, t + 2900 };
        db_event_row c = { DB_EV_COMMIT, DB_ROLE_NONE, i, 1, 0, 0, t + 2900, t + 2900 };
        ev[n++] = f;
        ev[n++] = s;
        ev[n++] = c;
    }
    size_t bytes = 0;
    roundtrip(ev, n, &bytes);
    CHECK(bytes <= 1 + 7 * (size_t)n);
    /* from engine events: times truncated to microseconds as the rows were */
    db_event e = { DB_EV_VERIFY, DB_ROLE_TARGET, 3, 4, 2, 3, 1999, -1999 };
    db_event_row er = db_event_to_row(&e);
    CHECK_INT_EQ(er.t_start_us, 1);
    CHECK_INT_EQ(er.t_end_us, -1);
    CHECK_INT_EQ((int64_t)er.accepted_mask, 3);
}

/* every truncation is refused, as are a wrong count and an unknown format */
static void test_codec_malformed(void) {
    db_event_row ev[3] = {
        { DB_EV_VERIFY, 0, 1, 4, 2, 3, 100, 2000 },
        { DB_EV_COMMIT, 2, 1, 3, 0, 0, 2000, 2000 },
        { 9, 5, 1000000, 1, 7, UINT64_MAX, -5, 1LL << 40 },
    };
    uint8_t *b = NULL;
    size_t len = 0;
    char err[256];
    CHECK_INT_EQ(db_events_encode(ev, 3, &b, &len, err, sizeof err), 0);
    db_event_row *out = NULL;
    int n = 0;
    for (size_t k = 0; k < len; k++) {
        int rc = db_events_decode(b, k, 3, &out, &n, err, sizeof err);
        CHECK_INT_EQ(rc, -1);
        CHECK(out == NULL);
    }
    CHECK_INT_EQ(db_events_decode(b, len, 2, &out, &n, err, sizeof err), -1);
    CHECK_CONTAINS(err, "holds 3 events, its row says 2");
    CHECK_INT_EQ(db_events_decode(b, len, -1, &out, &n, err, sizeof err), 0);
    CHECK_INT_EQ(n, 3);
    free(out);
    b[0] = 2;
    CHECK_INT_EQ(db_events_decode(b, len, 3, &out, &n, err, sizeof err), -1);
    CHECK_CONTAINS(err, "format 2");
    uint8_t eleven[12] = { 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
    CHECK_INT_EQ(db_events_decode(eleven, sizeof eleven, -1, &out, &n, err, sizeof err), -1);
    free(b);
}

/* ---- the same run both ways --------------------------------------------- */

#define NS 5
#define NSTEP 7

/* a spec case (VERIFY/DRAFT/FORWARD/COMMIT events), an ar case and a
 * serving case (ARRIVAL events); rows: the step_event layout */
static int build(const char *path, int rows, double tps_scale) {
    int64_t mid = 0;
    db_store *st = db_test_open_store(path, "fpE", &mid);
    if (!st) return -1;
    db_store_set_events_rows(st, rows);
    db_run_record rr = { mid, "ev", "suites/ev.json", "{\"name\":\"ev\",\"baseline\":\"ar\"}", "decobench run",
                         "v1", "abc", "cc", "-O2", "", 4, NULL, 0 };
    int64_t run = 0;
    char err[512];
    if (db_store_run_begin(st, &rr, &run) != 0) goto fail;
    static const char *const engines[3] = { "ar", "spec", "serve" };
    for (int c = 0; c < 3; c++) {
        db_case_record cr = { c, engines[c], c == 1 ? "spec-k4" : engines[c], "{}", "target", "/m/t.gguf", "ab",
                              "tiny", 1000, 1000, c == 1 ? "draft" : NULL, NULL, NULL, "mixed", NS, "completed",
                              1700000000000LL, 1700000001000LL };
        db_sample_record s[NS];
        db_event ev[NS][4 * NSTEP + 2];
        int32_t toks[NS][4];
        /* counters in a stored order that is not sorted, with negative and 64-bit values */
        static const char *const cnames[3] = { "perf::TASK-CLOCK", "rusage::MINOR-FAULTS", "PAPI_TOT_INS" };
        int64_t cvals[NS][3];
        memset(s, 0, sizeof s);
        for (int i = 0; i < NS; i++) {
            db_sample_record *r = &s[i];
            int n = 0, acc = 0, drafted = 0;
            int64_t t = 1000 * (i + 1);
            for (int j = 0; j < NSTEP; j++) {
                int a = (i * 3 + j) % 5;
                if (c == 0) {
                    db_event f = { DB_EV_FORWARD, DB_ROLE_TARGET, j, 1, 0, 0, t, t + 2345678 };
                    db_event k = { DB_EV_COMMIT, DB_ROLE_NONE, j, 1, 0, 0, t + 2345678, t + 2345678 };
                    ev[i][n++] = f;
                    ev[i][n++] = k;
                } else if (c == 1) {
                    db_event d = { DB_EV_DRAFT, DB_ROLE_DRAFT, j, 4, 0, 0, t, t + 900123 };
                    db_event v = { DB_EV_VERIFY, DB_ROLE_TARGET, j, 4, a, (1u << a) - 1, t + 900123, t + 3000456 };
                    db_event k = { DB_EV_COMMIT, DB_ROLE_NONE, j, a + 1, 0, 0, t + 3000456, t + 3000456 };
                    ev[i][n++] = d;
                    ev[i][n++] = v;
                    ev[i][n++] = k;
                    acc += a;
                    drafted += 4;
                } else {
                    /* arrivals with jitter, one going back in time */
                    int64_t at = t + (j == 3 ? -500000 : 1234567 * j + 1000 * i);
                    db_event v = { DB_EV_ARRIVAL, DB_ROLE_NONE, j, 1 + j % 2, 0, 0, at, at };
                    ev[i][n++] = v;
                }
                t += 3100000 + 17 * i;
            }
            r->prompt_idx = i;
            r->prompt_id = "p";
            r->category = i % 2 ? "code" : "prose";
            r->stop_reason = "length";
            r->output_text = "text";
            for (int k = 0; k < 4; k++) toks[i][k] = k + (c == 1 && i == 2);
            r->output_tokens = toks[i];
            r->n_output_tokens = 4;
            r->m.new_tokens = c == 1 ? acc + NSTEP : NSTEP;
            r->m.n_commits = NSTEP;
            r->m.tokens_per_s = tps_scale * (20 + 3 * c + 0.5 * i);
            r->m.latency_ms = 1000.0 * r->m.new_tokens / r->m.tokens_per_s;
            r->m.ttft_ms = 4 + i;
            r->m.tpot_ms = 3 + 0.1 * i;
            r->m.target_forwards = NSTEP;
            r->m.drafted = drafted;
            r->m.accepted = acc;
            r->m.acceptance_rate = drafted ? (double)acc / drafted : NAN;
            r->m.mat = c == 1 ? (double)(acc + NSTEP) / NSTEP : 1.0;
            r->events = ev[i];
            r->n_events = n;
            cvals[i][0] = 1000 + 7 * i + c;
            cvals[i][1] = -5 * i;
            cvals[i][2] = INT64_MAX - i;
            r->counter_names = cnames;
            r->counter_values = cvals[i];
            r->n_counters = c == 2 ? 2 : 3;
        }
        int64_t cid;
        if (db_store_case(st, run, &cr, s, NS, &cid) != 0) goto fail;
    }
    if (db_store_run_finish(st, run, "completed") != 0) goto fail;
    /* fixed times, so that two builds print the same */
    sqlite3_exec(db_store_handle(st), "UPDATE run SET started_at = 1700000000000, finished_at = 1700000005000;"
                 " UPDATE machine SET first_seen = 1700000000000",
                 NULL, NULL, NULL);
    db_store_close(st);
    return 0;
fail:
    snprintf(err, sizeof err, "%s", db_store_errmsg(st));
    printf("    build %s: %s\n", path, err);
    db_store_close(st);
    return -1;
}

static char *q1(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    char *v = NULL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = db_strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v ? v : db_strdup("?");
}
#define CHECK_Q(path, sql, expect) do { char *_v = q1(path, sql); CHECK_STR_EQ(_v, expect); free(_v); } while (0)

static int exec_sql(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    sqlite3_close(db);
    return rc;
}


/* everything the reports print of path (read-only): the table in four
 * formats, the html report, the serving report, the verify events and
 * inter-token latencies of each case, compare against other, history */
static char *everything(const char *path, const char *other) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    char err[512] = "";
    db_store *st = NULL, *ot = NULL;
    if (db_store_open_readonly(path, &st, err, sizeof err) != 0 ||
        (other && db_store_open_readonly(other, &ot, err, sizeof err) != 0)) {
        fprintf(f, "open: %s\n", err);
        goto out;
    }
    static const char *const fmts[] = { "md", "csv", "json", "html" };
    for (int i = 0; i < 4; i++) {
        db_report_opts o = { 0, fmts[i], 1, NULL, NULL, NULL };
        if (db_report_table(st, &o, f, err, sizeof err) != 0) fprintf(f, "report %s: %s\n", fmts[i], err);
    }
    for (int64_t c = 1; c <= 3; c++) {
        db_event_info *ev = NULL;
        int n = 0;
        if (db_store_read_events(st, c, DB_EV_VERIFY, &ev, &n, err, sizeof err) != 0) fprintf(f, "ev: %s\n", err);
        for (int i = 0; i < n; i++)
            fprintf(f, "%lld %d %d %llu\n", (long long)ev[i].sample_id, ev[i].n_tokens, ev[i].n_accepted,
                    (unsigned long long)ev[i].accepted_mask);
        free(ev);
        db_serve_request_info *q = NULL;
        if (db_store_read_serve_requests(st, c, &q, &n, err, sizeof err) != 0) fprintf(f, "serve: %s\n", err);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < q[i].n_itl; k++) fprintf(f, "itl %d %d %.17g\n", i, k, q[i].itl_ms[k]);
        db_serve_requests_free(q, n);
    }
    if (ot) {
        db_compare_opts co;
        memset(&co, 0, sizeof co);
        co.alpha = 0.05;
        co.min_effect = 0.02;
        co.seed = 1;
        db_compare_result res;
        memset(&res, 0, sizeof res);
        if (db_compare_runs(ot, 0, st, 0, &co, &res, err, sizeof err) != 0) fprintf(f, "compare: %s\n", err);
        else db_compare_write(&res, "md", f);
        db_compare_result_free(&res);
    }
    db_history_opts ho = { "mat", NULL, "md", 0, 0, 0, 1 };
    if (db_history(st, &ho, f, NULL, err, sizeof err) != 0) fprintf(f, "history: %s\n", err);
out:
    db_store_close(st);
    db_store_close(ot);
    fclose(f);
    return buf;
}

static void test_rows_and_blobs_agree(void) {
    char *rows = db_test_fresh_db_path("ev-rows.db"), *blobs = db_test_fresh_db_path("ev-blobs.db"),
         *other = db_test_fresh_db_path("ev-other.db");
    CHECK_INT_EQ(build(rows, 1, 1.0), 0);
    CHECK_INT_EQ(build(blobs, 0, 1.0), 0);
    CHECK_INT_EQ(build(other, 0, 0.8), 0);
    CHECK_Q(rows, "SELECT COUNT(*) FROM step_event", "210");   /* 5 x (14 + 21 + 7) */
    CHECK_Q(rows, "SELECT COUNT(*) FROM sample_events", "0");
    CHECK_Q(blobs, "SELECT COUNT(*) FROM step_event", "0");
    CHECK_Q(blobs, "SELECT COUNT(*) || ' ' || SUM(n) FROM sample_events", "15 210");
    char *a = everything(rows, other), *b = everything(blobs, other);
    CHECK(a && b && strlen(a) > 2000);
    CHECK_STR_EQ(a, b);
    CHECK_CONTAINS(a, "itl 0 2 ");
    free(a);
    free(b);
    db_store_remove_files(rows);
    db_store_remove_files(blobs);
    db_store_remove_files(other);
    free(rows);
    free(blobs);
    free(other);
}

/* what fn writes for every case of a (one-run) database, in case order, then
 * what tail writes (NULL: nothing), as one string */
typedef void (*case_dump_fn)(db_store *st, int64_t case_id, FILE *f);
static char *dump_cases(const char *path, case_dump_fn fn, void (*tail)(db_store *st, FILE *f)) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    char err[512] = "";
    db_store *st = NULL;
    if (db_store_open_readonly(path, &st, err, sizeof err) != 0) fprintf(f, "open: %s\n", err);
    sqlite3_stmt *q = NULL;
    if (st && sqlite3_prepare_v2(db_store_handle(st), "SELECT id FROM \"case\" ORDER BY idx", -1, &q, NULL) == SQLITE_OK)
        while (sqlite3_step(q) == SQLITE_ROW) fn(st, sqlite3_column_int64(q, 0), f);
    sqlite3_finalize(q);
    if (st && tail) tail(st, f);
    db_store_close(st);
    fclose(f);
    return buf;
}

/* a case's outputs as db_store_read_samples gives them */
static void outputs_of_case(db_store *st, int64_t case_id, FILE *f) {
    char err[512] = "";
    db_sample_info *x = NULL;
    int n = 0;
    if (db_store_read_samples(st, case_id, 0, true, &x, &n, err, sizeof err) != 0) fprintf(f, "read: %s\n", err);
    for (int i = 0; i < n; i++) fprintf(f, "%d %s %s\n", x[i].prompt_idx, x[i].output_tokens_json, x[i].output_text);
    db_sample_infos_free(x, n);
}

static char *outputs_of(const char *path) { return dump_cases(path, outputs_of_case, NULL); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* a case's counters (db_store_read_sample_counters) as sorted "name=value" lines */
static void counters_of_case(db_store *st, int64_t case_id, FILE *f) {
    char err[512] = "";
    db_counter_value *v = NULL;
    int n = 0;
    if (db_store_read_sample_counters(st, case_id, &v, &n, err, sizeof err) != 0) fprintf(f, "read: %s\n", err);
    char **line = calloc((size_t)n + 1, sizeof *line);
    for (int i = 0; line && i < n; i++) {
        char tmp[160];
        snprintf(tmp, sizeof tmp, "%s=%.17g", v[i].name, v[i].value);
        line[i] = db_strdup(tmp);
    }
    if (line) qsort(line, (size_t)n, sizeof *line, cmp_str);
    fprintf(f, "case: %d counters\n", n);
    for (int i = 0; line && i < n; i++) {
        fprintf(f, "%s\n", line[i]);
        free(line[i]);
    }
    free(line);
    db_counter_values_free(v, n);
}

/* the run's counter names in their order */
static void counter_names_of(db_store *st, FILE *f) {
    char err[512] = "";
    char **names = NULL;
    int nn = 0;
    if (db_store_read_counter_names(st, 1, &names, &nn, err, sizeof err) != 0) fprintf(f, "names: %s\n", err);
    for (int i = 0; i < nn; i++) fprintf(f, "name %s\n", names[i]);
    db_names_free(names, nn);
}

static char *counters_of(const char *path) { return dump_cases(path, counters_of_case, counter_names_of); }

/* make path a version-5 database as the old writer left it: step_event
 * rows, no version-6 or version-7 tables or columns */
static int to_v5(const char *path) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db) == SQLITE_OK &&
             sqlite3_exec(db, "DROP TABLE sample_events; DROP TABLE run_prune; DROP TABLE output;"
                              " ALTER TABLE sample DROP COLUMN output_id;"
                              " UPDATE meta SET value = '5' WHERE key = 'schema_version'", NULL, NULL, NULL) == SQLITE_OK
                 ? 0 : -1;
    sqlite3_close(db);
    return rc;
}

/* version 5 -> 6: read-only opens read the rows (TEMP sample_events);
 * a read-write open converts them into blobs in place; reports identical */
static void test_upgrade_v5(void) {
    char *old = db_test_fresh_db_path("ev-v5.db"), *ref = db_test_fresh_db_path("ev-ref.db");
    CHECK_INT_EQ(build(old, 1, 1.0), 0);
    CHECK_INT_EQ(build(ref, 0, 1.0), 0);
    CHECK_INT_EQ(to_v5(old), 0);
    char *want = everything(ref, NULL);
    char *before = everything(old, NULL);
    CHECK_STR_EQ(before, want);
    CHECK_Q(old, "SELECT value FROM meta WHERE key = 'schema_version'", "5");
    CHECK_Q(old, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sample_events'", "0");
    /* read-only, the old file has no output_id: outputs from the sample's columns */
    char *o5 = outputs_of(old), *oref = outputs_of(ref);
    CHECK_CONTAINS(oref, "[0,1,2,3] text");
    CHECK_STR_EQ(o5, oref);
    free(o5);
    free(oref);
    char err[512] = "";
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open(old, &st, err, sizeof err), 0);
    db_store_close(st);
    CHECK_Q(old, "SELECT value FROM meta WHERE key = 'schema_version'", "8");
    CHECK_Q(old, "SELECT COUNT(*) FROM step_event", "0");
    CHECK_Q(old, "SELECT COUNT(*) || ' ' || SUM(n) FROM sample_events", "15 210");
    /* the same bytes as the new writer's */
    char *hex = q1(ref, "SELECT group_concat(hex(data), '') FROM (SELECT data FROM sample_events ORDER BY sample_id)");
    CHECK(strlen(hex) > 100);
    CHECK_Q(old, "SELECT group_concat(hex(data), '') FROM (SELECT data FROM sample_events ORDER BY sample_id)", hex);
    free(hex);
    char *after = everything(old, NULL);
    CHECK_STR_EQ(after, want);
    free(want);
    free(before);
    free(after);
    db_store_remove_files(old);
    db_store_remove_files(ref);
    free(old);
    free(ref);
}

/* version 7 -> 8 (the covering index of counter values): a read-only open
 * reads the file as it is and leaves it so; a read-write open adds the
 * index; the reports are the same throughout */
static void test_upgrade_v7(void) {
    char *path = db_test_fresh_db_path("ev-v7.db");
    CHECK_INT_EQ(build(path, 0, 1.0), 0);
    char *want = everything(path, NULL);
    CHECK_INT_EQ(exec_sql(path, "DROP INDEX sample_counter_value; DROP INDEX interference_run_case;"
                                " UPDATE meta SET value = '7' WHERE key = 'schema_version'"), 0);
    char *before = everything(path, NULL);
    CHECK_STR_EQ(before, want);
    CHECK_Q(path, "SELECT value FROM meta WHERE key = 'schema_version'", "7");
    CHECK_Q(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sample_counter_value'", "0");
    char err[512] = "";
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    db_store_close(st);
    CHECK_Q(path, "SELECT value FROM meta WHERE key = 'schema_version'", "8");
    CHECK_Q(path, "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('sample_counter_value', 'interference_run_case')",
            "2");
    char *after = everything(path, NULL);
    CHECK_STR_EQ(after, want);
    free(want);
    free(before);
    free(after);
    db_store_remove_files(path);
    free(path);
}

/* merge copies blobs and rows (a read-only version-5 source included) */
static void test_merge_both(void) {
    char *rows = db_test_fresh_db_path("ev-m-rows.db"), *blobs = db_test_fresh_db_path("ev-m-blobs.db"),
         *dst = db_test_fresh_db_path("ev-m-dst.db"), *dst2 = db_test_fresh_db_path("ev-m-dst2.db");
    CHECK_INT_EQ(build(rows, 1, 1.0), 0);
    CHECK_INT_EQ(to_v5(rows), 0);
    CHECK_INT_EQ(build(blobs, 0, 1.0), 0);
    char *want = everything(blobs, NULL);
    const struct { char **src; char **dst; } M[] = { { &rows, &dst }, { &blobs, &dst2 } };
    for (int i = 0; i < 2; i++) {
        char err[512] = "";
        db_store *s = NULL, *d = NULL;
        CHECK_INT_EQ(db_store_open_readonly(*M[i].src, &s, err, sizeof err), 0);
        CHECK_INT_EQ(db_store_open(*M[i].dst, &d, err, sizeof err), 0);
        if (s && d) CHECK_INT_EQ(db_merge(d, s, NULL, err, sizeof err), 0);
        db_store_close(s);
        db_store_close(d);
        char *got = everything(*M[i].dst, NULL);
        CHECK_STR_EQ(got, want);
        free(got);
    }
    CHECK_Q(dst, "SELECT COUNT(*) FROM step_event", "210");
    CHECK_Q(dst2, "SELECT COUNT(*) || ' ' || SUM(n) FROM sample_events", "15 210");
    CHECK_Q(dst2, "SELECT COUNT(*) FROM sample_events e LEFT JOIN sample s ON s.id = e.sample_id WHERE s.id IS NULL",
            "0");
    free(want);
    char **all[] = { &rows, &blobs, &dst, &dst2 };
    for (int i = 0; i < 4; i++) {
        db_store_remove_files(*all[i]);
        free(*all[i]);
    }
}

static char *history_of(const char *path, const char *metric) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    char err[512] = "";
    db_store *st = NULL;
    if (db_store_open_readonly(path, &st, err, sizeof err) != 0) fprintf(f, "open: %s\n", err);
    db_history_opts ho = { metric, NULL, "csv", 0, 0, 0, 1 };
    if (st && db_history(st, &ho, f, NULL, err, sizeof err) != 0) fprintf(f, "history: %s\n", err);
    db_store_close(st);
    fclose(f);
    return buf;
}

static char *report_of(const char *path, const char *fmt) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    char err[512] = "";
    db_store *st = NULL;
    if (db_store_open_readonly(path, &st, err, sizeof err) != 0) fprintf(f, "open: %s\n", err);
    db_report_opts o = { 0, fmt, 1, NULL, "label,tokens_per_s,mat,drafted,verify_steps,acceptance_rate", NULL };
    if (st && db_report_table(st, &o, f, err, sizeof err) != 0) fprintf(f, "report: %s\n", err);
    db_store_close(st);
    fclose(f);
    return buf;
}

/* prune: the events go, history stays the same, the report has no
 * verification steps (null, not 0) but every summary; the outputs move to
 * the table of distinct outputs and read the same (also after a merge) */
static void test_prune(void) {
    char *path = db_test_fresh_db_path("ev-prune.db"), *ref = db_test_fresh_db_path("ev-prune-ref.db");
    CHECK_INT_EQ(build(path, 0, 1.0), 0);
    CHECK_INT_EQ(build(ref, 0, 1.0), 0);
    char err[512] = "";
    db_store *st = NULL;
    db_prune_stats ps;
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (!st) return;
    /* runs that ended after the cutoff are kept */
    CHECK_INT_EQ(db_store_prune(st, 1700000005000, false, &ps, err, sizeof err), 0);
    CHECK_INT_EQ(ps.runs, 0);
    CHECK_INT_EQ(db_store_prune(st, db_unix_ms() + 1000, true, &ps, err, sizeof err), 0);
    CHECK_INT_EQ(ps.runs, 1);
    CHECK_INT_EQ(ps.samples, 15);
    CHECK_INT_EQ(ps.events, 210);
    CHECK_INT_EQ(ps.bytes_after, ps.bytes_before);
    CHECK_INT_EQ(ps.outputs_moved, 15);
    CHECK_INT_EQ(db_store_prune(st, db_unix_ms() + 1000, false, &ps, err, sizeof err), 0);
    CHECK_INT_EQ(ps.runs, 1);
    CHECK_INT_EQ(ps.events, 210);
    /* 15 outputs: "text" with tokens 0..3, and once (spec-k4, prompt 2) 1..4 */
    CHECK_INT_EQ(ps.outputs_moved, 15);
    CHECK_INT_EQ(ps.outputs_distinct, 2);
    CHECK_INT_EQ(ps.counters_packed, 15);
    CHECK(ps.bytes_after > 0 && ps.bytes_after <= ps.bytes_before);   /* one page a table at this size */
    /* a second prune finds nothing new */
    CHECK_INT_EQ(db_store_prune(st, db_unix_ms() + 1000, false, &ps, err, sizeof err), 0);
    CHECK_INT_EQ(ps.runs, 0);
    db_store_close(st);
    CHECK_Q(path, "SELECT COUNT(*) FROM sample_events", "0");
    CHECK_Q(path, "SELECT COUNT(*) || ' ' || samples FROM run_prune", "1 15");
    CHECK_Q(path, "SELECT COUNT(*) FROM sample", "15");
    CHECK_Q(path, "SELECT COUNT(*) FROM output", "2");
    /* counters: packed, one blob a sample, read back the same and in the same order */
    CHECK_Q(path, "SELECT COUNT(*) FROM sample_counter", "0");
    CHECK_Q(path, "SELECT COUNT(*) FROM sample_counter_pack", "15");
    CHECK_Q(path, "SELECT group_concat(name, ',') FROM (SELECT name FROM counter_name ORDER BY id)",
            "perf::TASK-CLOCK,rusage::MINOR-FAULTS,PAPI_TOT_INS");
    char *ca = counters_of(path), *cb = counters_of(ref);
    CHECK_CONTAINS(cb, "case: 15 counters\nPAPI_TOT_INS=9.2233720368547758e+18\n");
    CHECK_CONTAINS(cb, "rusage::MINOR-FAULTS=-20\n");
    CHECK_CONTAINS(cb, "name perf::TASK-CLOCK\nname rusage::MINOR-FAULTS\nname PAPI_TOT_INS\n");
    CHECK_STR_EQ(ca, cb);
    free(ca);
    CHECK_Q(path, "SELECT COUNT(*) FROM sample WHERE output_id IS NOT NULL AND output_text IS NULL"
                  " AND output_tokens_json IS NULL", "15");
    char *oa = outputs_of(path), *ob = outputs_of(ref);
    CHECK_CONTAINS(ob, "2 [1,2,3,4] text");
    CHECK_STR_EQ(oa, ob);
    free(oa);
    /* the identity check reads a pruned run's outputs from the output table:
     * the same verdicts as on the unpruned copy */
    {
        db_store *w = NULL, *wr = NULL;
        int nc = 0, nd = 0, rc_ = 0, rd = 0;
        CHECK_INT_EQ(db_store_open(path, &w, err, sizeof err), 0);
        CHECK_INT_EQ(db_store_open(ref, &wr, err, sizeof err), 0);
        if (w) CHECK_INT_EQ(db_identity_check_run(db_store_handle(w), 1, &nc, &nd, err, sizeof err), 0);
        if (wr) CHECK_INT_EQ(db_identity_check_run(db_store_handle(wr), 1, &rc_, &rd, err, sizeof err), 0);
        db_store_close(w);
        db_store_close(wr);
        CHECK(nc > 0);
        CHECK_INT_EQ(nc, rc_);
        CHECK_INT_EQ(nd, rd);
        static const char *IDQ = "SELECT group_concat(case_id || ':' || n_identical || '/' || n_compared || ':' ||"
                                 " COALESCE(first_diff_json, ''), ' ') FROM identity";
        char *ia = q1(path, IDQ), *ib = q1(ref, IDQ);
        CHECK_STR_EQ(ia, ib);
        CHECK(strstr(ib, "/") != NULL);
        free(ia);
        free(ib);
    }
    /* merged into another database, a pruned run's outputs come along */
    char *merged = db_test_fresh_db_path("ev-prune-merged.db");
    db_store *src = NULL, *dst = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &src, err, sizeof err), 0);
    CHECK_INT_EQ(db_store_open(merged, &dst, err, sizeof err), 0);
    if (src && dst) CHECK_INT_EQ(db_merge(dst, src, NULL, err, sizeof err), 0);
    db_store_close(src);
    db_store_close(dst);
    oa = outputs_of(merged);
    CHECK_STR_EQ(oa, ob);
    ca = counters_of(merged);
    CHECK_STR_EQ(ca, cb);
    free(ca);
    free(cb);
    CHECK_Q(merged, "SELECT COUNT(*) FROM sample_counter", "40");
    CHECK_Q(merged, "SELECT COUNT(*) FROM sample WHERE output_id IS NULL AND output_text = 'text'", "15");
    /* and stays pruned: verify steps missing, not 0 (the report as before the merge) */
    CHECK_Q(merged, "SELECT COUNT(*) || ' ' || samples FROM run_prune", "1 15");
    char *ra = report_of(merged, "csv"), *rb = report_of(path, "csv");
    CHECK_STR_EQ(ra, rb);
    free(ra);
    free(rb);
    free(oa);
    free(ob);
    db_store_remove_files(merged);
    db_store_remove_files(merged);
    free(merged);
    static const char *const metrics[] = { "tokens_per_s", "mat", "latency_ms" };
    for (int i = 0; i < 3; i++) {
        char *a = history_of(path, metrics[i]), *b = history_of(ref, metrics[i]);
        CHECK_STR_EQ(a, b);
        free(a);
        free(b);
    }
    char *a = report_of(path, "csv"), *b = report_of(ref, "csv");
    /* spec-k4's verify_steps: 35 before, empty after; the rest equal */
    CHECK_CONTAINS(b, "spec-k4");
    CHECK_CONTAINS(b, ",35,");
    CHECK(strstr(a, ",35,") == NULL);
    CHECK(strstr(a, "report:") == NULL);
    free(a);
    free(b);
    a = report_of(path, "json");
    CHECK_CONTAINS(a, "\"drafted\":\t140,\n\t\t\t\"verify_steps\":\tnull");
    free(a);
    char *merged2 = db_test_fresh_db_path("ev-prune-merged2.db");
    /* a damaged blob: one clear error from the readers and from merge, nothing half-merged */
    sqlite3 *raw = NULL;
    CHECK(sqlite3_open(path, &raw) == SQLITE_OK);
    CHECK(sqlite3_exec(raw, "UPDATE sample_counter_pack SET data = x'01ff' WHERE sample_id = (SELECT MIN(sample_id)"
                            " FROM sample_counter_pack)", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(raw);
    CHECK_INT_EQ(db_store_open_readonly(path, &src, err, sizeof err), 0);
    db_counter_value *cv = NULL;
    int ncv = 0;
    if (src) {
        CHECK_INT_EQ(db_store_read_sample_counters(src, 1, &cv, &ncv, err, sizeof err), -1);
        CHECK_CONTAINS(err, "read packed sample counters: a malformed sample_counter_pack blob");
        CHECK_INT_EQ(db_store_open(merged2, &dst, err, sizeof err), 0);
        err[0] = 0;
        if (dst) CHECK_INT_EQ(db_merge(dst, src, NULL, err, sizeof err), -1);
        CHECK_CONTAINS(err, "a malformed sample_counter_pack blob");
        db_store_close(dst);
        CHECK_Q(merged2, "SELECT COUNT(*) FROM sample", "0");
    }
    db_store_close(src);
    db_store_remove_files(merged2);
    free(merged2);
    db_store_remove_files(path);
    db_store_remove_files(ref);
    free(path);
    free(ref);
}

/* "" when the report table of path's run 1 (db_table_load, which reads each
 * case's counters once and orders the names itself) holds the counter names
 * of db_store_read_counter_names in their order and, for every sample, the
 * values db_store_read_sample_counters gives, and each case's histogram of
 * accepted draft tokens per VERIFY event (the html chart) matches the
 * events; else what differs */
static char *table_differs_from_store(const char *path) {
    char err[512] = "", *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    db_store *st = NULL;
    db_table t;
    memset(&t, 0, sizeof t);
    char **names = NULL;
    int nn = 0;
    if (db_store_open_readonly(path, &st, err, sizeof err) != 0 || db_table_load(st, 1, 1, &t, err, sizeof err) != 0 ||
        db_store_read_counter_names(st, 1, &names, &nn, err, sizeof err) != 0) {
        fprintf(f, "load: %s\n", err);
        goto out;
    }
    if (t.n_counters != nn) fprintf(f, "%d names, want %d\n", t.n_counters, nn);
    for (int i = 0; i < nn && i < t.n_counters; i++)
        if (strcmp(t.counters[i], names[i])) fprintf(f, "name %d: %s, want %s\n", i, t.counters[i], names[i]);
    size_t nc = t.n_counters > 0 ? (size_t)t.n_counters : 1;
    for (int r = 0; r < t.n_rows; r++) {
        const db_table_row *row = &t.rows[r];
        db_sample_info *smp = NULL;
        db_counter_value *cv = NULL;
        int ns = 0, ncv = 0;
        if (db_store_read_samples(st, row->case_id, 0, false, &smp, &ns, err, sizeof err) != 0 ||
            db_store_read_sample_counters(st, row->case_id, &cv, &ncv, err, sizeof err) != 0) {
            fprintf(f, "read: %s\n", err);
            ns = ncv = 0;
        }
        if (ns != row->n) fprintf(f, "case %lld: %d samples, want %d\n", (long long)row->case_id, row->n, ns);
        for (int k = 0; k < ns && k < row->n; k++)
            for (int c = 0; c < t.n_counters; c++) {
                double want = NAN;
                for (int x = 0; x < ncv; x++)
                    if (cv[x].sample_id == smp[k].id && !strcmp(cv[x].name, t.counters[c])) want = cv[x].value;
                double got = row->cnt[(size_t)k * nc + (size_t)c];
                if (!(got == want || (isnan(got) && isnan(want))))
                    fprintf(f, "case %lld sample %d %s: %.17g, want %.17g\n", (long long)row->case_id, k,
                            t.counters[c], got, want);
            }
        db_sample_infos_free(smp, ns);
        db_counter_values_free(cv, ncv);
        /* the accepted-length histogram (html) from the case's VERIFY events */
        db_event_info *ev = NULL;
        int nev = 0;
        int64_t hist[DB_TABLE_MAX_POS + 1] = { 0 }, nh = 0;
        if (db_store_read_events(st, row->case_id, DB_EV_VERIFY, &ev, &nev, err, sizeof err) != 0)
            fprintf(f, "events: %s\n", err);
        for (int e = 0; e < nev; e++)
            if (ev[e].n_accepted >= 0) {
                hist[ev[e].n_accepted > DB_TABLE_MAX_POS ? DB_TABLE_MAX_POS : ev[e].n_accepted]++;
                nh++;
            }
        free(ev);
        if (nh != row->n_accepted_hist)
            fprintf(f, "case %lld: %lld accepted counts, want %lld\n", (long long)row->case_id,
                    (long long)row->n_accepted_hist, (long long)nh);
        for (int a = 0; a <= DB_TABLE_MAX_POS; a++)
            if (hist[a] != row->accepted_hist[a])
                fprintf(f, "case %lld: %lld steps accepted %d, want %lld\n", (long long)row->case_id,
                        (long long)row->accepted_hist[a], a, (long long)hist[a]);
        if (row->sum_drafted > 0 && nh == 0 && row->n_verify >= 0)
            fprintf(f, "case %lld drafted but has no VERIFY events\n", (long long)row->case_id);
    }
out:
    db_names_free(names, nn);
    db_table_free(&t);
    db_store_close(st);
    fclose(f);
    return buf;
}

/* "" when loading path's run 1 without keeping samples (db_table_load_ex:
 * each row computed as it is read, its samples freed) gives every computed
 * field of db_table_load, bit for bit; else what differs */
static char *streamed_differs(const char *path) {
    char err[512] = "", *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    db_store *st = NULL;
    db_table a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (db_store_open_readonly(path, &st, err, sizeof err) != 0 || db_table_load(st, 1, 1, &a, err, sizeof err) != 0 ||
        db_table_load_ex(st, 1, 1, DB_TABLE_KEEP_NONE, &b, err, sizeof err) != 0) {
        fprintf(f, "load: %s\n", err);
        goto out;
    }
    if (a.n_rows != b.n_rows || a.n_counters != b.n_counters || a.spec != b.spec || a.max_pos != b.max_pos ||
        a.ident != b.ident)
        fprintf(f, "table: rows %d/%d counters %d/%d\n", a.n_rows, b.n_rows, a.n_counters, b.n_counters);
    for (int i = 0; i < a.n_rows && i < b.n_rows; i++) {
        const db_table_row *x = &a.rows[i], *y = &b.rows[i];
#define SAME_D(fld) if (memcmp(&x->fld, &y->fld, sizeof x->fld)) fprintf(f, "row %d " #fld ": %.17g vs %.17g\n", i, (double)x->fld, (double)y->fld)
        SAME_D(n); SAME_D(tps_med); SAME_D(tps_lo); SAME_D(tps_hi); SAME_D(sp_med); SAME_D(sp_lo); SAME_D(sp_hi);
        SAME_D(mat); SAME_D(ttft50); SAME_D(ttft90); SAME_D(lat50); SAME_D(alpha); SAME_D(kbar); SAME_D(dshare);
        SAME_D(cost); SAME_D(pred); SAME_D(n_verify); SAME_D(baseline); SAME_D(best); SAME_D(n_accepted_hist);
#undef SAME_D
        for (int c = 0; c < a.n_counters && c < b.n_counters; c++)
            if (memcmp(&x->cnt_med[c], &y->cnt_med[c], sizeof(double)))
                fprintf(f, "row %d counter %d: %.17g vs %.17g\n", i, c, x->cnt_med[c], y->cnt_med[c]);
        if (strcmp(x->ident, y->ident)) fprintf(f, "row %d ident %s vs %s\n", i, x->ident, y->ident);
        if (y->tps || y->prompt_idx || y->cnt || y->cat || y->pair)
            fprintf(f, "row %d: per-sample arrays kept\n", i);
        if (!x->tps && x->n > 0) fprintf(f, "row %d: db_table_load kept no samples\n", i);
    }
out:
    db_table_free(&a);
    db_table_free(&b);
    db_store_close(st);
    fclose(f);
    return buf;
}

/* the report's counter columns (read once per case, names ordered as first
 * stored) against the store's two reference readers: as written, with the
 * rows stored in reverse case order and a counter only the last case has,
 * and pruned (packed counters) */
static void test_table_counters(void) {
    char *path = db_test_fresh_db_path("ev-tcnt.db");
    CHECK_INT_EQ(build(path, 0, 1.0), 0);
    char *d = table_differs_from_store(path);
    CHECK_STR_EQ(d, "");
    free(d);
    d = streamed_differs(path);
    CHECK_STR_EQ(d, "");
    free(d);
    /* the last case's counters stored first, with a name of its own: the
     * loader meets names in case order but must give the stored order */
    CHECK_INT_EQ(exec_sql(path, "CREATE TEMP TABLE x AS SELECT sc.sample_id, sc.name, sc.value FROM sample_counter sc"
                                " JOIN sample s ON s.id = sc.sample_id ORDER BY s.case_id DESC, sc.rowid;"
                                " DELETE FROM sample_counter;"
                                " INSERT INTO sample_counter(sample_id, name, value) SELECT s.id, 'late', s.id * 3"
                                "  FROM sample s WHERE s.case_id = (SELECT MAX(case_id) FROM sample) AND s.id % 2 = 0;"
                                " INSERT INTO sample_counter(sample_id, name, value) SELECT * FROM x;"),
                 0);
    char *names = q1(path, "SELECT group_concat(name, ',') FROM (SELECT name FROM sample_counter GROUP BY name"
                           " ORDER BY MIN(rowid))");
    CHECK_STR_EQ(names, "late,perf::TASK-CLOCK,rusage::MINOR-FAULTS,PAPI_TOT_INS");
    free(names);
    d = table_differs_from_store(path);
    CHECK_STR_EQ(d, "");
    free(d);
    /* pruned: the same through the packed blobs */
    char err[512] = "";
    db_store *st = NULL;
    db_prune_stats ps;
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (st) {
        CHECK_INT_EQ(db_store_prune(st, db_unix_ms() + 1000, false, &ps, err, sizeof err), 0);
        CHECK_INT_EQ(ps.runs, 1);
        db_store_close(st);
    }
    CHECK_Q(path, "SELECT COUNT(*) FROM sample_counter", "0");
    d = table_differs_from_store(path);
    CHECK_STR_EQ(d, "");
    free(d);
    d = streamed_differs(path);
    CHECK_STR_EQ(d, "");
    free(d);
    free(path);
}

void suite_events(void) {
    RUN(test_codec_roundtrip);
    RUN(test_codec_malformed);
    RUN(test_rows_and_blobs_agree);
    RUN(test_upgrade_v5);
    RUN(test_upgrade_v7);
    RUN(test_merge_both);
    RUN(test_prune);
    RUN(test_table_counters);
}
