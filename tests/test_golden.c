/* test_golden.c — golden-file tests of every report format on a fixed
 * results database built here with fixed numbers (no measurement): the
 * per-case table as Markdown, CSV, LaTeX, JSON and HTML
 * (tests/golden/report.*), and the hardware report (--by machine) of two
 * machines' databases merged into one (tests/golden/hardware.*), with its
 * numbers checked by hand too: roofline fraction, #MAT marks, "n/a" without
 * a probe; and every pivot (--by category, engine, model, dataset,
 * param:k, --cell) and --columns choice in md, csv, LaTeX and JSON
 * (tests/golden/pivot-*, columns.*) on a fixture of two models and two
 * datasets.
 *
 * Regenerate the golden files after an intended change with
 *     DB_UPDATE_GOLDEN=1 tests/unit_tests golden
 * (DB_SRCDIR pointing at the source tree) and review the diff.
 */
#include "test.h"
#include "fixtures.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engines/engine.h"
#include "harness/run/store.h"
#include "harness/util/outfile.h"
#include "harness/util/util.h"
#include "harness/run/store_merge.h"
#include "reports/report.h"

#define NS 4                      /* samples per case */
#define STEPS 6                   /* decoding steps of a speculative sample */
#define T0 1700000000000LL        /* fixed unix ms of every stored time */

static const char *const PROMPT_IDS[NS] = { "<script>alert(1)</script>", "p2", "p3", "p4" };
static const char *const CATEGORIES[NS] = { "prose & <b>bold</b>", "prose", "code", "code" };

typedef struct fx_case {
    const char *engine, *label, *params;
    int k;                        /* draft length; 0: autoregressive */
    double tps0;                  /* tokens/s of sample 0 */
    int accept_shift;             /* acceptance pattern offset */
    int cap;                      /* at most this many accepted per step (0: k) */
    bool tweak;                   /* one token fewer accepted in sample 0's first step */
    const char *model, *dataset;  /* NULL: "target", "mixed" */
} fx_case;

/* one case's samples with fixed numbers: ar commits one token per step,
 * speculative cases verify k drafts per step with (i + j + shift) mod (k+1)
 * accepted */
static int add_case(db_store *st, int64_t run, int idx, const fx_case *fc) {
    db_case_record c = { idx, fc->engine, fc->label, fc->params, fc->model ? fc->model : "target", "/m/target.gguf",
                         "ab12", "tiny llama", 1000000, 1000000000ull, fc->k ? "draft" : NULL,
                         fc->k ? "/m/draft.gguf" : NULL, fc->k ? "cd34" : NULL, fc->dataset ? fc->dataset : "mixed",
                         NS, "completed",
                         T0, T0 + 1000 };
    db_sample_record s[NS];
    db_event ev[NS][2 * STEPS];
    static const char *const names[] = { "PAPI_TOT_INS", "rusage::MINOR-FAULTS" };
    int64_t vals[NS][2];
    memset(s, 0, sizeof s);
    for (int i = 0; i < NS; i++) {
        db_sample_record *r = &s[i];
        r->prompt_idx = i;
        r->prompt_id = PROMPT_IDS[i];
        r->category = CATEGORIES[i];
        r->seed = 1;
        r->stop_reason = "length";
        r->output_text = i == 0 ? "out <b>bold</b> & \"quoted\" 'x' \xff end" : "plain output";
        r->m.n_prompt_tokens = 8;
        r->m.tokens_per_s = fc->tps0 * (1 + 0.125 * i);
        r->m.ttft_ms = 5 + i;
        int n_ev = 0;
        if (fc->k == 0) {
            r->m.n_commits = 15;
            r->m.new_tokens = 16;
            r->m.mat = 1.0;
            r->m.target_forwards = 16;
            r->m.target_tokens_evaluated = 8 + 15;
            r->m.latency_ms = 1000 + 10 * i;
            r->m.forward_time_ms = 800;   /* 16 forwards of 1e9 bytes in 0.8 s: 20 GB/s */
            r->m.acceptance_rate = NAN;
        } else {
            int tokens = 0;
            for (int j = 0; j < STEPS; j++) {
                int a = (i + j + fc->accept_shift) % (fc->k + 1);
                if (fc->cap > 0 && a > fc->cap) a = fc->cap;
                if (fc->tweak && i == 0 && j == 0 && a > 0) a--;
                db_event v = { DB_EV_VERIFY, DB_ROLE_TARGET, j + 1, fc->k, a, (1u << a) - 1, 0, 0 };
                ev[i][n_ev++] = v;
                r->m.drafted += fc->k;
                r->m.accepted += a;
                tokens += a + 1;
            }
            r->m.n_commits = STEPS;
            r->m.new_tokens = tokens + 1;
            r->m.mat = (double)tokens / STEPS;
            r->m.target_forwards = STEPS + 1;
            r->m.draft_forwards = STEPS * fc->k;
            r->m.target_tokens_evaluated = 8 + STEPS * (fc->k + 1);
            r->m.acceptance_rate = (double)r->m.accepted / r->m.drafted;
            r->m.latency_ms = 1000.0 * r->m.new_tokens / r->m.tokens_per_s;
            r->m.forward_time_ms = 0.9 * r->m.latency_ms;
            r->m.draft_time_ms = 0.25 * r->m.latency_ms;
        }
        r->m.tpot_ms = (r->m.latency_ms - r->m.ttft_ms) / (r->m.new_tokens - 1);
        r->events = ev[i];
        r->n_events = n_ev;
        vals[i][0] = 1000000 * (idx + 1) + 1000 * i;
        vals[i][1] = 10 + i;
        r->counter_names = names;
        r->counter_values = vals[i];
        r->n_counters = 2;
    }
    int64_t cid;
    return db_store_case(st, run, &c, s, NS, &cid);
}

/* a fixed results database of one machine; probe_gbs <= 0: no probe */
static int build_fixture(const char *path, const char *host, const char *fp, const fx_case *cases, int n_cases,
                         double probe_gbs, bool quality) {
    db_store_remove_files(path);
    char err[512];
    db_store *st = NULL;
    if (db_store_open(path, &st, err, sizeof err) != 0) {
        printf("    %s\n", err);
        return -1;
    }
    db_machine m;
    memset(&m, 0, sizeof m);
    snprintf(m.hostname, sizeof m.hostname, "%s", host);
    snprintf(m.cpu_model, sizeof m.cpu_model, "Test CPU <x86>");
    snprintf(m.arch, sizeof m.arch, "x86_64");
    snprintf(m.os, sizeof m.os, "Linux 6.1");
    snprintf(m.fingerprint, sizeof m.fingerprint, "%s", fp);
    m.packages = 1;
    m.cores = 4;
    m.pus = 8;
    m.numa_nodes = 1;
    m.memory_bytes = 17179869184ull;
    m.l1d_bytes = 49152;
    m.l2_bytes = 1310720;
    m.l3_bytes = 12582912;
    m.topology_json = (char *)"{}";
    int64_t mid = 0, run = 0;
    int rc = db_store_machine(st, &m, &mid);
    db_run_record rr = { mid, "golden", "suites/golden.json",
                         "{\"name\":\"golden\",\"baseline\":\"ar\",\"max_new_tokens\":16}",
                         "decobench run suites/golden.json", "v1-test", "0123456789abcdef", "gcc 12", "-O2",
                         "7.0.0", 4, NULL, 0 };
    rc |= db_store_run_begin(st, &rr, &run);
    for (int c = 0; c < n_cases; c++) rc |= add_case(st, run, c, &cases[c]);
    rc |= db_store_run_finish(st, run, "completed");
    if (probe_gbs > 0) {
        db_probe_record p = { T0, probe_gbs, 400.0, 110.0, 4, "STREAM triad 3 x 64 MiB double, 4 threads" };
        rc |= db_store_probe(st, mid, &p);
    }
    sqlite3 *db = db_store_handle(st);
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE run SET started_at = %lld, finished_at = %lld; UPDATE machine SET first_seen = %lld",
             T0, T0 + 5000, T0);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) rc = -1;
    /* a quality metric per sample, as a task-accuracy table would hold it */
    if (quality &&
        sqlite3_exec(db,
                     "CREATE TABLE IF NOT EXISTS sample_metric(sample_id INTEGER NOT NULL, name TEXT NOT NULL,"
                     " value REAL, PRIMARY KEY(sample_id, name));"
                     "INSERT INTO sample_metric(sample_id, name, value)"
                     " SELECT id, 'accuracy', (case_id % 3 + prompt_idx % 2) / 4.0 FROM sample;",
                     NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    db_store_close(st);
    if (rc != 0) printf("    fixture %s: rc %d\n", path, rc);
    return rc;
}

static const fx_case CASES_A[] = {
    { "ar", "ar", "{\"mode\":\"greedy\"}", 0, 20.0, 0, 0, false, NULL, NULL },
    { "spec", "spec k=2", "{\"k\":2,\"mode\":\"greedy\"}", 2, 30.0, 0, 0, false, NULL, NULL },
    { "spec", "spec k=4", "{\"k\":4,\"mode\":\"greedy\"}", 4, 26.0, 0, 0, false, NULL, NULL },
    { "pld", "pld", "{\"k\":8}", 3, 24.0, 1, 0, false, NULL, NULL },
};

/* report of run 1 in fmt (by: NULL or a grouping; columns, cell: NULL or as --columns, --cell) */
static char *report_opts(const char *path, const char *fmt, const char *by, const char *columns, const char *cell) {
    char err[512] = "";
    db_store *st = NULL;
    if (db_store_open_readonly(path, &st, err, sizeof err) != 0) {
        printf("    %s\n", err);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    db_report_opts o = { 1, fmt, 1, by, columns, cell };
    int rc = db_report_table(st, &o, f, err, sizeof err);
    fclose(f);
    db_store_close(st);
    if (rc != 0) {
        printf("    report %s: %s\n", fmt, err);
        free(buf);
        return NULL;
    }
    return buf;
}

static char *report(const char *path, const char *fmt, const char *by) {
    return report_opts(path, fmt, by, NULL, NULL);
}

/* compare text with tests/golden/NAME, or rewrite it under DB_UPDATE_GOLDEN=1 */
static void check_golden(const char *name, const char *text) {
    CHECK(text != NULL);
    if (!text) return;
    char *dir = db_path_join(db_test_srcdir(), "tests/golden");
    char *path = db_path_join(dir, name);
    const char *upd = getenv("DB_UPDATE_GOLDEN");
    char err[512];
    if (upd && !strcmp(upd, "1")) {
        CHECK_MSG(db_write_file_atomic(path, text, strlen(text), err, sizeof err) == 0, "%s", err);
        printf("    updated %s\n", path);
    } else {
        size_t len = 0;
        char *want = db_read_file(path, &len, err, sizeof err);
        CHECK_MSG(want != NULL, "%s (regenerate with DB_UPDATE_GOLDEN=1)", err);
        if (want && strcmp(want, text) != 0) {
            /* the first differing line, whole */
            const char *a = want, *b = text, *la = want, *lb = text;
            int line = 1;
            while (*a && *a == *b) {
                if (*a == '\n') {
                    line++;
                    la = a + 1;
                    lb = b + 1;
                }
                a++, b++;
            }
            const char *ea = strchr(la, '\n'), *eb = strchr(lb, '\n');
            db_test_fail(__FILE__, __LINE__, "%s differs at line %d:\n      want: %.*s\n      got:  %.*s\n"
                         "      (DB_UPDATE_GOLDEN=1 regenerates after an intended change)",
                         name, line, (int)(ea ? ea - la : (long)strlen(la)), la,
                         (int)(eb ? eb - lb : (long)strlen(lb)), lb);
        }
        free(want);
    }
    free(path);
    free(dir);
}

static char *fixture_path(const char *name) {
    return db_path_join(db_test_tmpdir(), name);
}

static void test_golden_formats(void) {
    char *path = fixture_path("golden.db");
    CHECK_INT_EQ(build_fixture(path, "alpha", "fp-alpha", CASES_A, 4, 40.0, true), 0);
    static const struct { const char *fmt, *file; } F[] = {
        { "md", "report.md" }, { "csv", "report.csv" }, { "latex", "report.tex" },
        { "json", "report.json" }, { "html", "report.html" },
    };
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++) {
        char *text = report(path, F[i].fmt, NULL);
        check_golden(F[i].file, text);
        free(text);
    }
    free(path);
}

/* the pivot fixture: CASES_A, plus ar and spec k=2 on a second model
 * ("target-q4", faster) and on a second dataset ("chat") */
static const fx_case CASES_P[] = {
    { "ar", "ar", "{\"mode\":\"greedy\"}", 0, 20.0, 0, 0, false, NULL, NULL },
    { "spec", "spec k=2", "{\"k\":2,\"mode\":\"greedy\"}", 2, 30.0, 0, 0, false, NULL, NULL },
    { "spec", "spec k=4", "{\"k\":4,\"mode\":\"greedy\"}", 4, 26.0, 0, 0, false, NULL, NULL },
    { "pld", "pld", "{\"k\":8}", 3, 24.0, 1, 0, false, NULL, NULL },
    { "ar", "ar", "{\"mode\":\"greedy\"}", 0, 40.0, 0, 0, false, "target-q4", NULL },
    { "spec", "spec k=2", "{\"k\":2,\"mode\":\"greedy\"}", 2, 50.0, 0, 0, false, "target-q4", NULL },
    { "ar", "ar", "{\"mode\":\"greedy\"}", 0, 20.0, 0, 0, false, NULL, "chat" },
    { "spec", "spec k=2", "{\"k\":2,\"mode\":\"greedy\"}", 2, 35.0, 0, 0, false, NULL, "chat" },
};

/* every pivot and --columns in every format (tests/golden/pivot-*, columns.*) */
static void test_golden_pivots(void) {
    char *path = fixture_path("golden-pivot.db");
    CHECK_INT_EQ(build_fixture(path, "alpha", "fp-alpha", CASES_P, 8, 40.0, false), 0);
    static const struct { const char *by, *cell, *stem; } P[] = {
        { "category", NULL, "pivot-category" }, { "engine", NULL, "pivot-engine" },
        { "model", NULL, "pivot-model" }, { "dataset", NULL, "pivot-dataset" },
        { "param:k", NULL, "pivot-param-k" }, { "model", "tokens_per_s", "pivot-model-tps" },
    };
    static const struct { const char *fmt, *ext; } F[] = {
        { "md", "md" }, { "csv", "csv" }, { "latex", "tex" }, { "json", "json" },
    };
    char name[64];
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++)
        for (size_t f = 0; f < sizeof F / sizeof F[0]; f++) {
            char *text = report_opts(path, F[f].fmt, P[i].by, NULL, P[i].cell);
            snprintf(name, sizeof name, "%s.%s", P[i].stem, F[f].ext);
            check_golden(name, text);
            free(text);
        }
    for (size_t f = 0; f < sizeof F / sizeof F[0]; f++) {
        char *text = report_opts(path, F[f].fmt, NULL, "label,model,tokens_per_s,speedup,mat,ttft_p50_ms,PAPI_TOT_INS",
                                 NULL);
        snprintf(name, sizeof name, "columns.%s", F[f].ext);
        check_golden(name, text);
        free(text);
    }
    free(path);
}

/* the HTML report's content, beyond the golden file: escaping and charts */
static void test_html_content(void) {
    char *path = fixture_path("golden-html.db");
    CHECK_INT_EQ(build_fixture(path, "alpha", "fp-alpha", CASES_A, 4, 40.0, true), 0);
    char *h = report(path, "html", NULL);
    CHECK(h != NULL);
    if (h) {
        CHECK(strstr(h, "<script") == NULL);
        CHECK_CONTAINS(h, "&lt;script&gt;alert(1)&lt;/script&gt;");
        CHECK_CONTAINS(h, "prose &amp; &lt;b&gt;bold&lt;/b&gt;");
        CHECK_CONTAINS(h, "&quot;quoted&quot; &#39;x&#39; \xEF\xBF\xBD end");   /* invalid byte replaced */
        CHECK_CONTAINS(h, "Test CPU &lt;x86&gt;");
        static const char *const ids[] = { "chart-speedup", "chart-accept-hist", "chart-accept-pos", "chart-mat-k",
                                           "chart-latency-cdf", "chart-pareto-0" };
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
            char want[64];
            snprintf(want, sizeof want, "<svg id=\"%s\"", ids[i]);
            CHECK_CONTAINS(h, want);
        }
        CHECK_CONTAINS(h, "default-src 'none'");
        CHECK(strstr(h, "http://") == NULL || strstr(h, "http://") == strstr(h, "http://www.w3.org/2000/svg"));
        CHECK_CONTAINS(h, "40.0");                                 /* the probe's bandwidth */
        CHECK_CONTAINS(h, "Quality against budget: accuracy");
        /* acceptance histogram of spec k=2: a = (i + j) mod 3 over 4 samples × 6 steps: 8 of each */
        CHECK_CONTAINS(h, "spec k=2, 0: 0.333");
    }
    free(h);
    /* the same run without speculative cases, probe or quality metrics */
    CHECK_INT_EQ(build_fixture(path, "alpha", "fp-alpha", CASES_A, 1, 0, false), 0);
    h = report(path, "html", NULL);
    CHECK(h != NULL);
    if (h) {
        CHECK_CONTAINS(h, "no speculative cases");
        CHECK(strstr(h, "<svg id=\"chart-accept-hist\"") == NULL);
        CHECK_CONTAINS(h, "<p class=\"empty\" id=\"chart-mat-k\">");
        CHECK_CONTAINS(h, "no quality metrics recorded");
        CHECK_CONTAINS(h, "run <code>decobench probe</code>");
        CHECK_CONTAINS(h, "<svg id=\"chart-latency-cdf\"");
    }
    free(h);
    free(path);
}

/* machine B, same suite, no probe: spec k=2 with a shifted acceptance
 * pattern of the same multiset (same #MAT), spec k=4 accepting at most one
 * token per step (#MAT far lower: beyond noise), pld one token short in one
 * step of 24 (within noise) */
static const fx_case CASES_B[] = {
    { "ar", "ar", "{\"mode\":\"greedy\"}", 0, 25.0, 0, 0, false, NULL, NULL },
    { "spec", "spec k=2", "{\"k\":2,\"mode\":\"greedy\"}", 2, 33.0, 2, 0, false, NULL, NULL },
    { "spec", "spec k=4", "{\"k\":4,\"mode\":\"greedy\"}", 4, 27.0, 0, 1, false, NULL, NULL },
    { "pld", "pld", "{\"k\":8}", 3, 23.0, 2, 0, true, NULL, NULL },
};

static void test_hardware_report(void) {
    char *a = fixture_path("hw-a.db"), *b = fixture_path("hw-b.db"), *all = fixture_path("hw-all.db");
    CHECK_INT_EQ(build_fixture(a, "alpha", "fp-alpha", CASES_A, 4, 40.0, false), 0);
    CHECK_INT_EQ(build_fixture(b, "beta", "fp-beta", CASES_B, 4, 0, false), 0);
    db_store_remove_files(all);
    char err[512] = "";
    db_store *dst = NULL, *src = NULL;
    CHECK_INT_EQ(db_store_open(all, &dst, err, sizeof err), 0);
    for (int i = 0; i < 2 && dst; i++) {
        CHECK_INT_EQ(db_store_open_readonly(i ? b : a, &src, err, sizeof err), 0);
        if (src) CHECK_MSG(db_merge(dst, src, NULL, err, sizeof err) == 0, "%s", err);
        db_store_close(src);
        src = NULL;
    }
    /* merging again adds no probe twice */
    CHECK_INT_EQ(db_store_open_readonly(a, &src, err, sizeof err), 0);
    if (src && dst) CHECK_INT_EQ(db_merge(dst, src, NULL, err, sizeof err), 0);
    db_store_close(src);
    if (dst) {
        sqlite3_stmt *s = NULL;
        sqlite3_prepare_v2(db_store_handle(dst),
                           "SELECT COUNT(*), MAX(m.hostname), MAX(p.bandwidth_gbs) FROM machine_probe p"
                           " JOIN machine m ON m.id = p.machine_id", -1, &s, NULL);
        CHECK(s && sqlite3_step(s) == SQLITE_ROW);
        if (s) {
            CHECK_INT_EQ(sqlite3_column_int(s, 0), 1);
            CHECK_STR_EQ((const char *)sqlite3_column_text(s, 1), "alpha");
            CHECK_NEAR(sqlite3_column_double(s, 2), 40.0, 0);
        }
        sqlite3_finalize(s);
    }
    db_store_close(dst);

    char *md = report(all, "md", "machine");
    check_golden("hardware.md", md);
    if (md) {
        /* machine A: 16 forwards × 1e9 bytes / 0.8 s = 20 GB/s of a 40 GB/s STREAM: 0.50 */
        CHECK_CONTAINS(md, "| ar | roofline (weight GB/s / STREAM GB/s) | 0.50 (20.0 / 40.0 GB/s) | "
                           "n/a — run decobench probe (20.0 GB/s) |");
        CHECK_CONTAINS(md, "| ar | #MAT | 1.00 | 1.00 |");
        /* spec k=2: A accepts (i+j) mod 3 per step, 6 per sample: (24 + 24) / 24 = 2.00;
         * B (i+j+2) mod 3, the same sums */
        CHECK_CONTAINS(md, "| spec k=2 | #MAT | 2.00 | 2.00 |");
        /* spec k=4: A Σ_j (i+j) mod 5 = 10 + i → 46 accepted, (46 + 24) / 24 = 2.92;
         * B capped at 1: 4 + 5 + 5 + 5 = 19, (19 + 24) / 24 = 1.79, every sample lower: marked */
        CHECK_CONTAINS(md, "| spec k=4 | #MAT | 2.92 | 1.79 † |");
        /* pld: A (i+j+1) mod 4 → 9+11+9+7 = 36, (36 + 24) / 24 = 2.50; B one fewer: 59 / 24 = 2.46,
         * samples 7..11 apart: within noise, unmarked */
        CHECK_CONTAINS(md, "| pld | #MAT | 2.50 | 2.46 |");
        CHECK_CONTAINS(md, "† #MAT differs from the first machine");
    }
    free(md);
    char *csv = report(all, "csv", "machine");
    check_golden("hardware.csv", csv);
    free(csv);
    char *json = report(all, "json", "machine");
    check_golden("hardware.json", json);
    free(json);
    free(a);
    free(b);
    free(all);
}

void suite_golden(void) {
    RUN(test_golden_formats);
    RUN(test_golden_pivots);
    RUN(test_html_content);
    RUN(test_hardware_report);
}
