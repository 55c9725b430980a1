/* test_probe.c — `decobench probe` (harness/run/probe.c, harness/cli/cmd_probe.c)
 * and schema version 2 (machine_probe): each figure is exactly its byte or
 * flop count over its best time (counts checked against what the test
 * computes from the options and the kernel; nothing about the machine's speed
 * is asserted), the FMA kernel's result equals a scalar loop's and lies near
 * the recurrence's closed form, the stored row holds what was printed, bad
 * options fail before anything is written, the
 * default array size follows the topology record, and a version-1 database
 * still opens read-only and is upgraded when opened for writing; the probe
 * also stores the machine's devices (machine_device, schema 5; more in
 * test_devices.c). */
#include "test.h"
#include "fixtures.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/cli/cli.h"
#include "harness/run/probe.h"
#include "harness/run/store.h"
#include "harness/run/topology.h"
#include "harness/util/util.h"
#include "reports/report.h"

static char *q1(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s = NULL;
    char *v = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = db_strdup(sqlite3_column_text(s, 0) ? (const char *)sqlite3_column_text(s, 0) : "NULL");
    sqlite3_finalize(s);
    return v ? v : db_strdup("(no row)");
}

#define CHECK_Q(db, sql, expect) do { char *_v = q1(db, sql); CHECK_STR_EQ(_v, expect); free(_v); } while (0)

static char *fresh(const char *name) { return db_test_fresh_db_path(name); }

static void test_probe_measures(void) {
    db_machine m;
    memset(&m, 0, sizeof m);
    char err[512] = "";
    CHECK_INT_EQ(db_machine_probe(&m, err, sizeof err), 0);
    db_probe_opts o = { 2, 2, 8u << 20 };   /* small arrays: a sanity run, not a measurement */
    db_probe_result r;
    CHECK_MSG(db_probe_run(&m, &o, &r, err, sizeof err) == 0, "%s", err);
    CHECK_INT_EQ(r.threads, 2);
    CHECK(r.array_bytes == 8u << 20);
    /* bandwidth: STREAM's count, 3 arrays x 8 bytes x 1 Mi doubles per
     * repetition, over the best repetition's time, in 10^9 bytes/s */
    CHECK(r.triad_elements == 1048576);
    CHECK(r.triad_bytes == 25165824);
    CHECK(isfinite(r.triad_best_s) && r.triad_best_s > 0);
    CHECK(r.bandwidth_gbs == 25165824.0 / r.triad_best_s / 1e9);
    /* FMA: the lane count follows the kernel; 12 chains, 2 flops per FMA */
    int lanes = !r.kernel ? 0 : strcmp(r.kernel, "avx512") == 0 ? 16 : strcmp(r.kernel, "avx2-fma") == 0 ? 8
                : strcmp(r.kernel, "generic") == 0 ? 4 : 0;
    CHECK_MSG(lanes > 0, "kernel %s", r.kernel ? r.kernel : "(null)");
    CHECK_INT_EQ(r.fma_lanes, lanes);
    CHECK_INT_EQ(r.fma_chains, 12);
    CHECK(r.fma_iters >= 1u << 14);
    CHECK(r.fma_flops == r.fma_iters * 12u * (uint64_t)lanes * 2u);
    CHECK(isfinite(r.fma_best_s_1) && r.fma_best_s_1 > 0 && isfinite(r.fma_best_s) && r.fma_best_s > 0);
    CHECK(r.gflops_per_thread == (double)r.fma_flops / r.fma_best_s_1 / 1e9);
    CHECK(r.gflops == 2.0 * (double)r.fma_flops / r.fma_best_s / 1e9);
    /* the kernel computed what a scalar loop computes: every lane of chain c
     * runs x <- x·0.999999 + 1e-6 from 0.01·c; summed over the 12 chains and
     * the lanes.  Each lane moves towards 1 (the fixed point), so the sum lies
     * between its starting value (lanes x 0.66) and lanes x 12, well away from both
     * after >= 16384 iterations */
    CHECK_MSG(r.fma_result == r.fma_reference, "%.9g vs %.9g", (double)r.fma_result, (double)r.fma_reference);
    double x_lo = 0.66 * lanes, x_hi = 12.0 * lanes;
    CHECK_MSG(r.fma_result > x_lo && r.fma_result < x_hi, "%.9g", (double)r.fma_result);
    /* the closed form without rounding: lanes x sum_c (1 - (1 - 0.01c)·m^iters) */
    double mn = pow(0.999999, (double)r.fma_iters), cf = 0;
    for (int c = 0; c < 12; c++) cf += 1.0 - (1.0 - 0.01 * c) * mn;
    cf *= lanes;
    CHECK_MSG(fabs(r.fma_result - cf) < 0.25 * (cf - x_lo), "kernel %.9g, closed form %.9g", (double)r.fma_result, cf);
    char expect[160];
    snprintf(expect, sizeof expect, "STREAM triad 3 x 8 MiB double, 2 threads; FP32 FMA %s, 12 chains; best of 2",
             r.kernel ? r.kernel : "?");
    CHECK_STR_EQ(r.method, expect);
    /* bad options: one line naming the problem */
    db_probe_opts bad = { 5000, 1, 0 };
    CHECK_INT_EQ(db_probe_run(&m, &bad, &r, err, sizeof err), -1);
    CHECK_CONTAINS(err, "5000 threads");
    db_machine_free(&m);
}

static void test_probe_array_size(void) {
    db_machine m;
    memset(&m, 0, sizeof m);
    /* 2 L3 instances of 32 MiB in the topology record: 4 × 64 MiB */
    m.topology_json = (char *)"{\"caches\":[{\"level\":\"L2\",\"count\":8,\"size_bytes\":1048576},"
                              "{\"level\":\"L3\",\"count\":2,\"size_bytes\":33554432}]}";
    m.l3_bytes = 33554432;
    m.packages = 1;
    CHECK(db_probe_array_bytes(&m) == 256ull << 20);
    /* without a record: per-instance size × packages; never below 64 MiB */
    m.topology_json = NULL;
    CHECK(db_probe_array_bytes(&m) == 128ull << 20);
    m.l3_bytes = 1 << 20;
    CHECK(db_probe_array_bytes(&m) == 64ull << 20);
    /* at most an eighth of the memory */
    m.l3_bytes = 1ull << 30;
    m.memory_bytes = 4ull << 30;
    CHECK(db_probe_array_bytes(&m) == 512ull << 20);
}

static void test_probe_command_stores(void) {
    char *p = fresh("probe.db");
    char *argv[] = { "probe", "--db", p, "--threads", "2", "--reps", "2", "--array-mib", "8", NULL };
    CHECK_INT_EQ(cmd_probe(9, argv), 0);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(p, &db) == SQLITE_OK);
    CHECK_Q(db, "SELECT COUNT(*) FROM machine_probe", "1");
    CHECK_Q(db, "SELECT bandwidth_gbs > 0 AND gflops > 0 AND gflops_per_thread > 0 AND threads = 2"
                " AND measured_at > 1600000000000 FROM machine_probe", "1");
    CHECK_Q(db, "SELECT method LIKE 'STREAM triad 3 x 8 MiB double, 2 threads; FP32 FMA %, 12 chains; best of 2'"
                " FROM machine_probe", "1");
    CHECK_Q(db, "SELECT p.machine_id = m.id AND length(m.fingerprint) = 64 FROM machine_probe p JOIN machine m", "1");
    /* schema 5: the devices, with the CPU's numbers the probe's own */
    CHECK_Q(db, "SELECT COUNT(*) FROM machine_device d JOIN machine_probe p ON p.machine_id = d.machine_id"
                " AND p.measured_at = d.measured_at WHERE d.type = 'cpu' AND d.name = 'CPU' AND d.memory_bytes > 0"
                " AND d.bandwidth_gbs = p.bandwidth_gbs AND abs(d.peak_fp32_tflops * 1000 - p.gflops) < 1e-9 * p.gflops"
                " AND d.peak_fp16_tflops IS NULL AND d.known IS NULL AND d.source = 'decobench probe'", "1");
    CHECK_Q(db, "SELECT COUNT(*) FROM machine_device WHERE idx < 0 OR type NOT IN ('cpu','gpu','igpu','accel','meta')", "0");
    sqlite3_close(db);
    /* a second probe adds a row to the same machine */
    CHECK_INT_EQ(cmd_probe(9, argv), 0);
    sqlite3_open(p, &db);
    CHECK_Q(db, "SELECT COUNT(*) || '/' || COUNT(DISTINCT machine_id) FROM machine_probe", "2/1");
    sqlite3_close(db);
    free(p);
    /* bad options: exit 2, nothing created */
    p = fresh("probe-bad.db");
    char *bad1[] = { "probe", "--db", p, "--threads", "0", NULL };
    CHECK_INT_EQ(cmd_probe(5, bad1), 2);
    char *bad2[] = { "probe", "--db", p, "--array-mib", "lots", NULL };
    CHECK_INT_EQ(cmd_probe(5, bad2), 2);
    char *bad3[] = { "probe", "--db", p, "extra", NULL };
    CHECK_INT_EQ(cmd_probe(4, bad3), 2);
    CHECK(!db_file_exists(p));
    free(p);
}

/* a version-1 database: what decobench wrote before machine_probe */
static char *make_v1(const char *name) {
    char *p = fresh(name);
    char err[512];
    db_store *st = NULL;
    if (db_store_open(p, &st, err, sizeof err) != 0) return p;
    db_machine m;
    memset(&m, 0, sizeof m);
    snprintf(m.fingerprint, sizeof m.fingerprint, "fp-v1");
    snprintf(m.cpu_model, sizeof m.cpu_model, "Old CPU");
    int64_t mid = 0, run = 0;
    db_store_machine(st, &m, &mid);
    db_run_record rr = { mid, "old", "old.json", "{}", "decobench run", "r", "c", "gcc", "-O2", "7", 1, NULL, 0 };
    db_store_run_begin(st, &rr, &run);
    db_case_record c = { 0, "ar", "ar", "{}", "m", "/m", "00", "m", 1, 1000, NULL, NULL, NULL, "d", 1,
                         "completed", 1, 2 };
    db_sample_record s;
    memset(&s, 0, sizeof s);
    s.prompt_id = "p";
    s.m.new_tokens = 4;
    s.m.n_commits = 3;
    s.m.mat = 1;
    s.m.tokens_per_s = 10;
    s.m.latency_ms = 400;
    s.m.target_forwards = 4;
    s.m.forward_time_ms = 300;
    s.m.acceptance_rate = NAN;
    db_store_case(st, run, &c, &s, 1, NULL);
    db_store_run_finish(st, run, "completed");
    sqlite3_exec(db_store_handle(st), "DROP TABLE machine_probe; DROP TABLE sample_metric; UPDATE meta SET value = '1'", NULL, NULL, NULL);
    db_store_close(st);
    return p;
}

static void test_schema_v1_upgrade(void) {
    char *p = make_v1("v1.db");
    char err[512] = "";
    db_store *st = NULL;
    /* read-only: opens as it is, reports work without machine_probe */
    CHECK_MSG(db_store_open_readonly(p, &st, err, sizeof err) == 0, "%s", err);
    if (st) {
        sqlite3 *db = db_store_handle(st);
        CHECK_Q(db, "SELECT value FROM meta WHERE key = 'schema_version'", "1");
        CHECK_Q(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'machine_probe'", "0");
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        db_report_opts o = { 0, "md", 1, "machine", NULL, NULL };
        CHECK_MSG(db_report_table(st, &o, f, err, sizeof err) == 0, "%s", err);
        o.by = NULL;
        o.format = "html";
        CHECK_MSG(db_report_table(st, &o, f, err, sizeof err) == 0, "%s", err);
        fclose(f);
        CHECK_CONTAINS(buf, "n/a — run decobench probe");
        CHECK_CONTAINS(buf, "run <code>decobench probe</code>");
        free(buf);
        db_store_close(st);
    }
    /* read-write: upgraded in place, data kept */
    st = NULL;
    CHECK_MSG(db_store_open(p, &st, err, sizeof err) == 0, "%s", err);
    if (st) {
        sqlite3 *db = db_store_handle(st);
        CHECK_Q(db, "SELECT value FROM meta WHERE key = 'schema_version'", "8");
        CHECK_Q(db, "SELECT COUNT(*) FROM machine_probe", "0");
        CHECK_Q(db, "SELECT COUNT(*) FROM sample", "1");
        db_probe_record pr = { 1700000000000, 12.5, 100, 50, 2, "test" };
        CHECK_INT_EQ(db_store_probe(st, 1, &pr), 0);
        CHECK_Q(db, "SELECT bandwidth_gbs FROM machine_probe", "12.5");
        db_store_close(st);
    }
    free(p);
}

void suite_probe(void) {
    RUN(test_probe_measures);
    RUN(test_probe_array_size);
    RUN(test_probe_command_stores);
    RUN(test_schema_v1_upgrade);
}
