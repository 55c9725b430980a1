/* test_interference.c — S7 finding 11, noisy machines: the interference
 * measurement (harness/run/interference.c) on fabricated /proc and /sys trees
 * (values computed by hand, exact verdicts and reasons, a quiet machine not
 * flagged, the thresholds' boundaries, unreadable files unknown), its
 * storage (schema 3, table interference), the marker and footnote of every
 * report format (reports/noise.c), and `compare` warning or refusing
 * (--strict-quiet, exit 3) when a side was flagged.  No timing: every value
 * comes from the fabricated files.
 */
#include "test.h"
#include "fixtures.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <sqlite3.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/cli/cli.h"
#include "harness/run/interference.h"
#include "harness/run/store.h"
#include "harness/util/util.h"
#include "harness/run/store_merge.h"
#include "reports/report.h"

/* mkdir -p of path's directory, then write text to root/rel */
static void put(const char *root, const char *rel, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "w");
    CHECK_MSG(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void fresh_root(char *root, size_t len, const char *name) {
    snprintf(root, len, "%s/noise-%s", db_test_tmpdir(), name);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    mkdir(root, 0755);
}

/* a /proc/self/stat line with utime, stime (a command name with spaces and ')') */
static void self_stat(const char *root, int utime, int stime) {
    char buf[512];
    snprintf(buf, sizeof buf, "4242 (decobench (x) y) R 1 4242 4242 0 -1 4194560 100 0 0 0 %d %d 0 0 20 0 3 0\n",
             utime, stime);
    put(root, "/proc/self/stat", buf);
}

/* the before/after pair used by the busy test:
 * total jiffies +2000 on 2 CPUs: busy +400 (user 300, system 100), idle +1400,
 * steal +200; this process +180 (utime 150, stime 30).
 * others = 400 - 180 = 220 jiffies → 220 · 2 / 2000 = 0.22 CPUs;
 * self = 180 · 2 / 2000 = 0.18 CPUs; steal = 200 / 2000 = 10%. */
static void busy_before(const char *root) {
    put(root, "/proc/stat",
        "cpu  1000 0 500 8000 100 0 0 400 0 0\n"
        "cpu0 500 0 250 4000 50 0 0 200 0 0\n"
        "cpu1 500 0 250 4000 50 0 0 200 0 0\n"
        "intr 1 2 3\nctxt 99\n");
    self_stat(root, 300, 100);
    put(root, "/proc/loadavg", "0.50 0.40 0.30 2/100 4242\n");
    put(root, "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "performance\n");
    put(root, "/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor", "powersave\n");
    put(root, "/sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "4\n");
    put(root, "/sys/devices/system/cpu/cpu0/thermal_throttle/package_throttle_count", "1\n");
    put(root, "/sys/devices/system/cpu/cpu1/thermal_throttle/core_throttle_count", "0\n");
    put(root, "/sys/devices/system/cpu/cpufreq/boost", "1\n");
    put(root, "/sys/devices/system/cpu/isolated", "1-2,4\n");
    put(root, "/proc/sys/kernel/randomize_va_space", "2\n");
    put(root, "/proc/sys/kernel/perf_event_max_sample_rate", "100000\n");
    put(root, "/proc/irq/default_smp_affinity", "f,0000000d\n");
}

static void busy_after(const char *root) {
    put(root, "/proc/stat",
        "cpu  1300 0 600 9400 100 0 0 600 0 0\n"
        "cpu0 650 0 300 4700 50 0 0 300 0 0\n"
        "cpu1 650 0 300 4700 50 0 0 300 0 0\n");
    self_stat(root, 450, 130);
    put(root, "/proc/loadavg", "1.75 0.90 0.40 3/101 4243\n");
    put(root, "/sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "6\n");
    put(root, "/sys/devices/system/cpu/cpu1/thermal_throttle/core_throttle_count", "1\n");
}

static void test_busy_machine_values_and_verdict(void) {
    char root[600];
    fresh_root(root, sizeof root, "busy");
    busy_before(root);
    db_noise_snap s;
    db_noise_begin_at(&s, root);
    CHECK(s.have_stat);
    CHECK_INT_EQ(s.n_cpus, 2);
    CHECK_INT_EQ(s.total, 1000 + 500 + 8000 + 100 + 400);
    CHECK_INT_EQ(s.busy, 1500);
    CHECK_INT_EQ(s.self, 400);
    CHECK_INT_EQ(s.throttle, 5);
    busy_after(root);
    db_noise n;
    db_noise_end(&s, &n);
    CHECK_INT_EQ(n.n_cpus, 2);
    CHECK_NEAR(n.others_cpus, 0.22, 1e-12);
    CHECK_INT_EQ(n.others_jiffies, 220);
    CHECK_NEAR(n.self_cpus, 0.18, 1e-12);
    CHECK_NEAR(n.steal_share, 0.10, 1e-12);
    CHECK_NEAR(n.load1_before, 0.50, 1e-12);
    CHECK_NEAR(n.load1_after, 1.75, 1e-12);
    CHECK_INT_EQ(n.throttle_events, 3);   /* 4+1+0 → 6+1+1 */
    CHECK_STR_EQ(n.governor, "powersave");
    CHECK_INT_EQ(n.boost, 1);
    CHECK_INT_EQ(n.isolated_cpus, 3);
    CHECK_INT_EQ(n.aslr, 2);
    CHECK_INT_EQ(n.perf_max_sample_rate, 100000);
    CHECK_INT_EQ(n.irq_default_cpus, 4 + 3);   /* f: 4 CPUs, d: 3 */
    CHECK(n.flagged);
    CHECK_INT_EQ(n.n_reasons, 4);
    CHECK_STR_EQ(n.reason[0], "other processes used 0.22 CPUs (limit 0.20)");
    CHECK_STR_EQ(n.reason[1], "CPU steal 10.0% (limit 2%)");
    CHECK_STR_EQ(n.reason[2], "CPU frequency governor powersave (not performance)");
    CHECK_STR_EQ(n.reason[3], "thermal throttling: 3 events");
    char txt[512];
    db_noise_reasons_text(&n, txt, sizeof txt);
    CHECK_STR_EQ(txt, "other processes used 0.22 CPUs (limit 0.20); CPU steal 10.0% (limit 2%); "
                      "CPU frequency governor powersave (not performance); thermal throttling: 3 events");
}

/* the same machine with nothing else running: busy jiffies are all ours */
static void test_quiet_machine_not_flagged(void) {
    char root[600];
    fresh_root(root, sizeof root, "quiet");
    put(root, "/proc/stat", "cpu  1000 0 500 8000 100 0 0 400 0 0\ncpu0 1 1 1 1\ncpu1 1 1 1 1\ncpu2 1 1 1 1\ncpu3 1 1 1 1\n");
    self_stat(root, 300, 100);
    put(root, "/proc/loadavg", "0.00 0.00 0.00 1/90 1\n");
    put(root, "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "performance\n");
    put(root, "/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor", "performance\n");
    put(root, "/sys/devices/system/cpu/intel_pstate/no_turbo", "1\n");
    put(root, "/sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "7\n");
    db_noise_snap s;
    db_noise_begin_at(&s, root);
    /* +4000 jiffies on 4 CPUs; busy +1000, all of it this process's */
    put(root, "/proc/stat", "cpu  1800 0 700 11000 100 0 0 400 0 0\ncpu0 1 1 1 1\ncpu1 1 1 1 1\ncpu2 1 1 1 1\ncpu3 1 1 1 1\n");
    self_stat(root, 1100, 300);
    db_noise n;
    db_noise_end(&s, &n);
    CHECK_INT_EQ(n.n_cpus, 4);
    CHECK_NEAR(n.others_cpus, 0.0, 0);
    CHECK_NEAR(n.self_cpus, 1.0, 1e-12);
    CHECK_NEAR(n.steal_share, 0.0, 0);
    CHECK_INT_EQ(n.throttle_events, 0);
    CHECK_STR_EQ(n.governor, "performance");
    CHECK_INT_EQ(n.boost, 0);                 /* no_turbo = 1 */
    CHECK_INT_EQ(n.isolated_cpus, -1);        /* no file */
    CHECK_INT_EQ(n.aslr, -1);
    CHECK_INT_EQ(n.irq_default_cpus, -1);
    CHECK(!n.flagged);
    CHECK_INT_EQ(n.n_reasons, 0);
}

/* thresholds: strictly above flags, at the limit does not */
static void test_thresholds(void) {
    db_noise n;
    memset(&n, 0, sizeof n);
    n.steal_share = NAN;
    n.others_cpus = DB_NOISE_MAX_OTHER_CPUS;
    n.others_jiffies = 1000;
    n.throttle_events = -1;
    db_noise_judge(&n);
    CHECK(!n.flagged);
    n.others_cpus = 0.21;
    db_noise_judge(&n);
    CHECK(n.flagged);
    CHECK_INT_EQ(n.n_reasons, 1);
    /* too few jiffies to tell from the accounting's granularity: not flagged */
    n.others_jiffies = DB_NOISE_MIN_OTHER_JIFFIES - 1;
    n.others_cpus = 0.9;
    db_noise_judge(&n);
    CHECK(!n.flagged);
    n.others_jiffies = DB_NOISE_MIN_OTHER_JIFFIES;
    db_noise_judge(&n);
    CHECK(n.flagged);
    n.others_cpus = NAN;
    n.steal_share = 0.02;
    db_noise_judge(&n);
    CHECK(!n.flagged);
    n.steal_share = 0.025;
    db_noise_judge(&n);
    CHECK(n.flagged);
    CHECK_STR_EQ(n.reason[0], "CPU steal 2.5% (limit 2%)");
    n.steal_share = NAN;
    snprintf(n.governor, sizeof n.governor, "schedutil");
    db_noise_judge(&n);
    CHECK(n.flagged);
    CHECK_STR_EQ(n.reason[0], "CPU frequency governor schedutil (not performance)");
}

/* nothing readable: every value unknown, nothing flagged (a machine without
 * cpufreq or thermal_throttle, a container without /proc) */
static void test_unreadable_is_unknown(void) {
    char root[600];
    fresh_root(root, sizeof root, "empty");
    db_noise_snap s;
    db_noise_begin_at(&s, root);
    CHECK(!s.have_stat);
    db_noise n;
    db_noise_end(&s, &n);
    CHECK(isnan(n.others_cpus) && isnan(n.steal_share) && isnan(n.self_cpus));
    CHECK(isnan(n.load1_before) && isnan(n.load1_after));
    CHECK_INT_EQ(n.throttle_events, -1);
    CHECK_INT_EQ(n.boost, -1);
    CHECK_STR_EQ(n.governor, "");
    CHECK(!n.flagged);
    /* the environment variable sets the default root */
    fresh_root(root, sizeof root, "env");
    busy_before(root);
    setenv("DECOBENCH_PROC_ROOT", root, 1);
    db_noise_begin(&s);
    unsetenv("DECOBENCH_PROC_ROOT");
    CHECK_STR_EQ(s.root, root);
    CHECK_INT_EQ(s.self, 400);
}

/* ---- storage, reports, compare -------------------------------------------- */

static int add_case(db_store *st, int64_t run_id, int idx, const char *label) {
    db_case_record c = { idx, "ar", label, "{}", "tiny", "/m/tiny.gguf", "00", "tiny", 1, 1,
                         NULL, NULL, NULL, "mixed", 3, "completed", 1700000000000, 1700000001000 };
    db_sample_record s[3];
    static const int32_t toks[2] = { 5, 6 };
    memset(s, 0, sizeof s);
    for (int i = 0; i < 3; i++) {
        s[i].prompt_idx = i;
        s[i].prompt_id = "p";
        s[i].category = "c";
        s[i].seed = 1;
        s[i].m.new_tokens = 10;
        s[i].m.n_commits = 10;
        s[i].m.mat = 1.0;
        s[i].m.tokens_per_s = 10 + i;
        s[i].m.ttft_ms = 50;
        s[i].m.latency_ms = 1000;
        s[i].stop_reason = "length";
        s[i].output_tokens = toks;
        s[i].n_output_tokens = 2;
        s[i].output_text = "ab";
    }
    int64_t cid;
    return db_store_case(st, run_id, &c, s, 3, &cid);
}

static int64_t add_run(db_store *st, int64_t mid) {
    db_run_record r = { mid, "noise", "suites/noise.json", "{\"baseline\": \"quiet\"}", "decobench run", "rev",
                        "abc1234", "gcc", "-O2", "7.1", 1, NULL, 0 };
    int64_t id = 0;
    db_store_run_begin(st, &r, &id);
    db_store_run_finish(st, id, "completed");
    return id;
}

static char *report(db_store *st, int64_t run, const char *fmt, const char *by, const char *columns) {
    char *buf = NULL, err[512] = "";
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    db_report_opts o = { run, fmt, 1, by, columns, NULL };
    int rc = db_report_table(st, &o, f, err, sizeof err);
    fclose(f);
    CHECK_MSG(rc == 0, "report %s: %s", fmt, err);
    return buf;
}

/* run 1: case "quiet" quiet, case "noisy" flagged (with a reason holding
 * markup); run 2: nothing recorded (as before schema 3) */
static db_store *noise_db(char **path_out) {
    char *path = db_test_fresh_db_path("noise.db");
    int64_t mid = 0;
    db_store *st = db_test_open_store(path, "noisefp", &mid);
    *path_out = path;
    if (!st) return NULL;
    int64_t run = add_run(st, mid);
    CHECK(add_case(st, run, 0, "quiet") == 0);
    CHECK(add_case(st, run, 1, "noisy") == 0);
    db_noise q, b;
    memset(&q, 0, sizeof q);
    q.others_cpus = 0.01;
    q.steal_share = q.self_cpus = 0;
    q.throttle_events = 0;
    q.boost = q.isolated_cpus = q.aslr = -1;
    db_noise_judge(&q);
    b = q;
    b.others_cpus = 0.93;
    b.others_jiffies = 93;
    snprintf(b.governor, sizeof b.governor, "<b>x|y</b>");
    db_noise_judge(&b);
    char err[256];
    CHECK(db_noise_store(st, run, 0, &q, err, sizeof err) == 0);
    CHECK(db_noise_store(st, run, 1, &b, err, sizeof err) == 0);
    CHECK(db_noise_store(st, run, 1, &b, err, sizeof err) == 0);   /* a resumed case: two parts, reasons once */
    db_noise rn = q;
    snprintf(rn.reason[rn.n_reasons++], sizeof rn.reason[0], "1 of 2 cases measured under interference");
    rn.flagged = true;
    CHECK(db_noise_store(st, run, -1, &rn, err, sizeof err) == 0);
    int64_t run2 = add_run(st, mid);
    CHECK(add_case(st, run2, 0, "quiet") == 0);
    CHECK(add_case(st, run2, 1, "noisy") == 0);
    return st;
}

static void test_stored_and_reported(void) {
    char *path = NULL;
    db_store *st = noise_db(&path);
    if (!st) return;
    sqlite3 *db = db_store_handle(st);
    sqlite3_stmt *s = NULL;
    CHECK(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &s, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == DB_STORE_SCHEMA_VERSION);
    sqlite3_finalize(s);
    CHECK(sqlite3_prepare_v2(db, "SELECT value FROM interference WHERE run_id = 1 AND case_idx = 1 AND name = "
                                 "'others_cpus' LIMIT 1", -1, &s, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(s) == SQLITE_ROW && sqlite3_column_double(s, 0) == 0.93);
    sqlite3_finalize(s);
    CHECK(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM interference WHERE name = 'flagged' AND value = 1", -1, &s,
                             NULL) == SQLITE_OK);
    CHECK(sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 3);
    sqlite3_finalize(s);

    const char *reason = "other processes used 0.93 CPUs (limit 0.20)";
    char *md = report(st, 1, "md", NULL, NULL);
    CHECK_CONTAINS(md, "— \xE2\x80\xA0 measured under interference\n");   /* title line */
    CHECK_CONTAINS(md, "| noisy \xE2\x80\xA0 |");
    CHECK(md && !strstr(md, "| quiet \xE2\x80\xA0"));
    CHECK_CONTAINS(md, "\xE2\x80\xA0 measured under interference (docs/metrics.md, \"Interference\"): run: "
                       "1 of 2 cases measured under interference\n- noisy (mixed): other processes used 0.93 CPUs");
    CHECK_CONTAINS(md, "x\\|y");   /* '|' escaped: the reason cannot end the Markdown cell */
    CHECK(md && !strstr(md, "x|y"));
    free(md);
    char *csv = report(st, 1, "csv", NULL, NULL);
    CHECK_CONTAINS(csv, ",interference\r\n");
    CHECK_CONTAINS(csv, reason);
    CHECK(csv && !strstr(csv, "noisy \xE2\x80\xA0"));   /* CSV keeps the label as data */
    free(csv);
    char *tex = report(st, 1, "latex", NULL, NULL);
    CHECK_CONTAINS(tex, "noisy$^\\dagger$ &");
    CHECK_CONTAINS(tex, "\\par\\smallskip{\\footnotesize $^\\dagger$ measured under interference (run: 1 of 2 cases");
    CHECK_CONTAINS(tex, "; noisy (mixed): other processes used 0.93 CPUs (limit 0.20); CPU frequency governor ");
    free(tex);
    char *js = report(st, 1, "json", NULL, NULL);
    cJSON *j = cJSON_Parse(js ? js : "");
    CHECK(j != NULL);
    cJSON *ri = cJSON_GetObjectItem(j, "interference");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(ri, "flagged")));
    cJSON *rows = cJSON_GetObjectItem(j, "rows");
    CHECK_INT_EQ(cJSON_GetArraySize(rows), 2);
    cJSON *q = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "interference");
    cJSON *b = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 1), "interference");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(q, "flagged")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(b, "flagged")));
    cJSON *br = cJSON_GetObjectItem(b, "reasons");
    CHECK_INT_EQ(cJSON_GetArraySize(br), 2);   /* stored twice (resume), listed once */
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetArrayItem(br, 0)), reason);
    cJSON_Delete(j);
    free(js);
    /* --columns interference: the reasons as a text column (JSON: one key, a string) */
    js = report(st, 1, "json", NULL, "label,interference");
    j = cJSON_Parse(js ? js : "");
    cJSON *r1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "rows"), 1);
    CHECK_INT_EQ(cJSON_GetArraySize(r1), 3);   /* case_id, label, interference */
    CHECK_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItem(r1, "interference")), reason);
    cJSON_Delete(j);
    free(js);
    md = report(st, 1, "md", NULL, "label,interference");
    CHECK_CONTAINS(md, "| quiet |  |\n| noisy \xE2\x80\xA0 | other processes used 0.93 CPUs");
    free(md);
    char *html = report(st, 1, "html", NULL, NULL);
    CHECK_CONTAINS(html, "noisy <a href=\"#interference\">\xE2\x80\xA0</a></td>");
    CHECK_CONTAINS(html, "<li>noisy (mixed): other processes used 0.93 CPUs (limit 0.20); CPU frequency governor "
                         "&lt;b&gt;x|y&lt;/b&gt; (not performance)</li>");
    free(html);
    char *pv = report(st, 1, "md", "engine", NULL);
    CHECK_CONTAINS(pv, "\n- noisy (mixed): other processes used 0.93 CPUs");
    CHECK_CONTAINS(pv, "| noisy \xE2\x80\xA0 |");   /* the pivot row of a flagged case is marked */
    CHECK(pv && !strstr(pv, "| quiet \xE2\x80\xA0"));
    free(pv);
    /* pivot CSV: an interference column, the cell's cases' reasons */
    pv = report(st, 1, "csv", "engine", NULL);
    CHECK_CONTAINS(pv, ",mat,interference\r\n");
    const char *nl = pv ? strstr(pv, "\r\n1,ar,noisy,") : NULL, *ql = pv ? strstr(pv, "\r\n1,ar,quiet,") : NULL;
    CHECK(nl && ql);
    if (nl && ql) {
        const char *ne = strstr(nl + 2, "\r\n"), *qe = strstr(ql + 2, "\r\n");
        char *noisy_line = db_strndup(nl + 2, ne ? (size_t)(ne - nl - 2) : strlen(nl + 2));
        CHECK_CONTAINS(noisy_line, reason);
        CHECK(qe && qe[-1] == ',');   /* quiet: an empty last field */
        free(noisy_line);
    }
    free(pv);
    pv = report(st, 1, "latex", "engine", NULL);
    CHECK_CONTAINS(pv, "noisy$^\\dagger$");
    CHECK(pv && !strstr(pv, "quiet$^\\dagger$"));
    free(pv);
    pv = report(st, 1, "json", "engine", NULL);
    j = cJSON_Parse(pv ? pv : "");
    rows = cJSON_GetObjectItem(j, "rows");
    for (int i = 0; i < cJSON_GetArraySize(rows); i++) {
        cJSON *r = cJSON_GetArrayItem(rows, i);
        bool is_noisy = !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(r, "label")), "noisy");
        cJSON *f = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "interference"), "flagged");
        CHECK(is_noisy ? cJSON_IsTrue(f) : cJSON_IsFalse(f));
    }
    CHECK_INT_EQ(cJSON_GetArraySize(rows), 2);
    cJSON_Delete(j);
    free(pv);
    /* the hardware report (--by machine): the run's machine and the case's cells marked ‡ */
    pv = report(st, 1, "md", "machine", NULL);
    CHECK_CONTAINS(pv, "measured under interference \xE2\x80\xA1\n");
    CHECK_CONTAINS(pv, " \xE2\x80\xA1 |");
    CHECK_CONTAINS(pv, ", the run: 1 of 2 cases measured under interference\n");
    CHECK_CONTAINS(pv, ", noisy (mixed): other processes used 0.93 CPUs");
    /* only noisy's tok/s and speedup cells carry the mark */
    int marks = 0;
    for (const char *at = pv; at && (at = strstr(at, " \xE2\x80\xA1 |")); at++) marks++;
    CHECK_INT_EQ(marks, 2);
    free(pv);
    pv = report(st, 1, "csv", "machine", NULL);
    CHECK_CONTAINS(pv, ",mat_differs,interference\r\n");
    CHECK_CONTAINS(pv, reason);
    free(pv);
    pv = report(st, 1, "latex", "machine", NULL);
    CHECK_CONTAINS(pv, "$^\\ddagger$");
    CHECK_CONTAINS(pv, "% double dagger: measured under interference");
    free(pv);
    pv = report(st, 1, "json", "machine", NULL);
    j = cJSON_Parse(pv ? pv : "");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "machines"), 0),
                                                               "interference"), "flagged")));
    cJSON *hc = cJSON_GetObjectItem(j, "cases");
    CHECK_INT_EQ(cJSON_GetArraySize(hc), 2);
    for (int i = 0; i < cJSON_GetArraySize(hc); i++) {
        cJSON *c = cJSON_GetArrayItem(hc, i);
        bool is_noisy = !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "label")), "noisy");
        cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "machines"), 0);
        cJSON *f = cJSON_GetObjectItem(cJSON_GetObjectItem(m0, "interference"), "flagged");
        CHECK(is_noisy ? cJSON_IsTrue(f) : cJSON_IsFalse(f));
    }
    cJSON_Delete(j);
    free(pv);
    /* run 2 recorded nothing: the pivot and the hardware report unchanged */
    pv = report(st, 2, "csv", "engine", NULL);
    CHECK(pv && !strstr(pv, "interference"));
    free(pv);
    pv = report(st, 2, "md", "machine", NULL);
    CHECK(pv && !strstr(pv, "\xE2\x80\xA1") && !strstr(pv, "interference"));
    free(pv);
    /* run 2 recorded nothing: no marker, no column, no footnote, no JSON key */
    md = report(st, 2, "md", NULL, NULL);
    CHECK(md && !strstr(md, "\xE2\x80\xA0") && !strstr(md, "interference"));
    free(md);
    csv = report(st, 2, "csv", NULL, NULL);
    CHECK(csv && !strstr(csv, "interference"));
    free(csv);
    js = report(st, 2, "json", NULL, NULL);
    CHECK(js && !strstr(js, "interference"));
    free(js);
    db_store_close(st);
    free(path);
}

static int run_compare(const char *const *args, int n) {
    char *argv[16];
    argv[0] = (char *)"compare";
    for (int i = 0; i < n; i++) argv[i + 1] = (char *)args[i];
    return cmd_compare(n + 1, argv);
}

static void test_compare_warns_or_refuses(void) {
    char *path = NULL;
    db_store *st = noise_db(&path);
    if (!st) return;
    db_store_close(st);
    char out[700], a1[700];
    snprintf(out, sizeof out, "%s/noise-compare.md", db_test_tmpdir());
    snprintf(a1, sizeof a1, "%s:1", path);
    char a2[700];
    snprintf(a2, sizeof a2, "%s:2", path);
    unlink(out);
    /* flagged BASE: refused with --strict-quiet (exit 3, nothing written) */
    const char *strict[] = { a1, a2, "--strict-quiet", "-o", out };
    CHECK_INT_EQ(run_compare(strict, 5), 3);
    CHECK(!db_file_exists(out));
    /* default: compared, with the warning below the table */
    const char *warn[] = { a1, a2, "-o", out };
    CHECK_INT_EQ(run_compare(warn, 4), 0);
    char e[256];
    size_t tl = 0;
    char *text = db_read_file(out, &tl, e, sizeof e);
    CHECK_CONTAINS(text, "Warning: BASE run 1 was measured under interference: 1 of 2 cases measured under "
                         "interference");
    free(text);
    /* two runs that recorded nothing: no warning, --strict-quiet accepts them */
    const char *quiet[] = { a2, a2, "--strict-quiet", "-o", out };
    CHECK_INT_EQ(run_compare(quiet, 5), 0);
    text = db_read_file(out, &tl, e, sizeof e);
    CHECK(text && !strstr(text, "interference"));
    free(text);
    free(path);
}

/* merge copies a new run's interference rows; merging again adds none */
static void test_merge_keeps_flags(void) {
    char *path = NULL;
    db_store *st = noise_db(&path);
    if (!st) return;
    db_store_close(st);
    char *dpath = db_test_fresh_db_path("noise-merged.db");
    db_store *src = NULL, *dst = NULL;
    char err[512];
    CHECK(db_store_open_readonly(path, &src, err, sizeof err) == 0);
    CHECK(db_store_open(dpath, &dst, err, sizeof err) == 0);
    if (!src || !dst) goto out;
    db_merge_stats ms = { 0 };
    CHECK_MSG(db_merge(dst, src, &ms, err, sizeof err) == 0, "merge: %s", err);
    CHECK(db_merge(dst, src, &ms, err, sizeof err) == 0);
    sqlite3_stmt *s = NULL;
    CHECK(sqlite3_prepare_v2(db_store_handle(dst), "SELECT COUNT(*) FROM interference", -1, &s, NULL) == SQLITE_OK);
    /* run 1: 17 rows per stored verdict + reasons (quiet 0, noisy 2 × 2, run 1) */
    CHECK(sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 4 * 17 + 0 + 2 * 2 + 1);
    sqlite3_finalize(s);
    char *md = report(dst, 1, "md", NULL, NULL);
    CHECK_CONTAINS(md, "| noisy \xE2\x80\xA0 |");
    free(md);
out:
    db_store_close(src);
    db_store_close(dst);
    free(dpath);
    free(path);
}

static int count_rows(db_store *st, const char *sql) {
    sqlite3_stmt *s = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(db_store_handle(st), sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* a run merged, then given another case (merged while it ran, or resumed):
 * merging again copies the new case's verdict and the run's, once */
static void test_merge_into_present_run(void) {
    char *path = db_test_fresh_db_path("noise-grow.db");
    char *dpath = db_test_fresh_db_path("noise-grow-merged.db");
    int64_t mid = 0;
    db_store *st = db_test_open_store(path, "growfp", &mid), *src = NULL, *dst = NULL;
    char err[512];
    if (!st) goto out;
    int64_t run = add_run(st, mid);
    CHECK(add_case(st, run, 0, "quiet") == 0);
    db_noise q;
    memset(&q, 0, sizeof q);
    q.others_cpus = 0.01;
    q.boost = q.isolated_cpus = q.aslr = -1;
    db_noise_judge(&q);
    CHECK(db_noise_store(st, run, 0, &q, err, sizeof err) == 0);
    db_store_close(st);
    st = NULL;
    CHECK(db_store_open(dpath, &dst, err, sizeof err) == 0);
    CHECK(db_store_open_readonly(path, &src, err, sizeof err) == 0);
    if (!src || !dst) goto out;
    db_merge_stats ms = { 0 };
    CHECK_MSG(db_merge(dst, src, &ms, err, sizeof err) == 0, "merge: %s", err);
    db_store_close(src);
    src = NULL;
    const int per = count_rows(dst, "SELECT COUNT(*) FROM interference WHERE case_idx = 0");
    CHECK(per > 0);
    /* the source run grows: a flagged case and the run's verdict */
    CHECK(db_store_open(path, &st, err, sizeof err) == 0);
    if (!st) goto out;
    CHECK(add_case(st, run, 1, "noisy") == 0);
    db_noise b = q;
    b.others_cpus = 0.93;
    b.others_jiffies = 93;
    db_noise_judge(&b);
    CHECK(db_noise_store(st, run, 1, &b, err, sizeof err) == 0);
    CHECK(db_noise_store(st, run, -1, &b, err, sizeof err) == 0);
    db_store_close(st);
    st = NULL;
    for (int round = 0; round < 2; round++) {   /* the second merge adds nothing */
        CHECK(db_store_open_readonly(path, &src, err, sizeof err) == 0);
        if (!src) goto out;
        memset(&ms, 0, sizeof ms);
        CHECK_MSG(db_merge(dst, src, &ms, err, sizeof err) == 0, "merge: %s", err);
        CHECK_INT_EQ((int)ms.runs_added, 0);
        CHECK_INT_EQ((int)ms.cases_added, round == 0 ? 1 : 0);
        db_store_close(src);
        src = NULL;
        CHECK_INT_EQ(count_rows(dst, "SELECT COUNT(*) FROM interference WHERE case_idx = 0"), per);
        CHECK(count_rows(dst, "SELECT COUNT(*) FROM interference WHERE case_idx = 1") >= per);
        CHECK_INT_EQ(count_rows(dst, "SELECT COUNT(*) FROM interference WHERE case_idx = 1"),
                     count_rows(dst, "SELECT COUNT(*) FROM interference WHERE case_idx = -1"));
    }
    char *md = report(dst, 1, "md", NULL, NULL);
    CHECK_CONTAINS(md, "| noisy \xE2\x80\xA0 |");
    CHECK_CONTAINS(md, "— \xE2\x80\xA0 measured under interference\n");
    free(md);
out:
    db_store_close(st);
    db_store_close(src);
    db_store_close(dst);
    free(dpath);
    free(path);
}

/* utime + stime of a process, jiffies; -1 unreadable */
static long long proc_ticks(int pid) {
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    return (long long)(ut + st);
}

/* A child that burns CPU (a server of a serving case): adopted, its CPU time
 * is this process's own, not other processes'; released, what it used stays
 * counted.  Checked in jiffies against the child's own accounting, not time. */
static void test_adopted_process_is_self(void) {
    int go[2];
    if (pipe(go) != 0) { db_test_skip("pipe failed"); return; }
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1) _exit(1);
        volatile unsigned long x = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        do {   /* 0.4 CPU-seconds of its own, however loaded the machine is */
            for (int i = 0; i < 1000000; i++) x += (unsigned long)i;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
        } while ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 < 0.4);
        pause();
        _exit(0);
    }
    close(go[0]);
    CHECK(pid > 0);
    if (pid <= 0) return;
    db_noise_adopt_pid((int)pid);
    long long c0 = proc_ticks((int)pid);
    db_noise_snap b;
    db_noise_begin_at(&b, "");
    CHECK(write(go[1], "g", 1) == 1);
    long long c1 = c0;
    for (int i = 0; i < 600; i++) {   /* until the child has burnt its 0.4 s (at most 60 s) */
        usleep(100000);
        c1 = proc_ticks((int)pid);
        FILE *f;
        char path[64], st[512] = "";
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        if ((f = fopen(path, "r"))) {
            if (!fgets(st, sizeof st, f)) st[0] = 0;
            fclose(f);
        }
        const char *p = strrchr(st, ')');
        if (p && p[2] == 'S') break;   /* sleeping in pause() */
    }
    db_noise_release_pid((int)pid);
    db_noise n;
    db_noise_end(&b, &n);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(go[1]);
    long long child = c1 - c0;
    CHECK_MSG(child >= 30, "the child burnt %lld jiffies", child);
    /* this process's own jiffies include the child's; other processes' do not */
    double self_j = n.self_cpus * n.wall_s * 100.0;   /* USER_HZ 100 */
    CHECK_MSG(self_j + 3 >= (double)child, "self %.1f jiffies < the adopted child's %lld", self_j, child);
    CHECK_MSG(n.others_jiffies <= (int64_t)(n.wall_s * 100.0 * n.n_cpus) - child + 3,
              "others %lld jiffies include the child's %lld", (long long)n.others_jiffies, child);
}

void suite_interference(void) {
    RUN(test_adopted_process_is_self);
    RUN(test_busy_machine_values_and_verdict);
    RUN(test_quiet_machine_not_flagged);
    RUN(test_thresholds);
    RUN(test_unreadable_is_unknown);
    RUN(test_stored_and_reported);
    RUN(test_merge_into_present_run);
    RUN(test_compare_warns_or_refuses);
    RUN(test_merge_keeps_flags);
}
