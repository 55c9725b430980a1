/* test_inject.c — hostile stored text in every report format (S7 finding 9).
 *
 * A results database whose suite name, case labels, dataset and model
 * names, prompt ids and categories, model outputs, CPU model, llama.cpp
 * commit and baseline key are attacks on the formats decobench writes:
 * spreadsheet formulas (= + - @ tab, CSV injection), HTML/script in
 * Markdown, a line break that ends a LaTeX % comment followed by
 * \input{...}, XML in JUnit.  Every writer is run on it — report in md,
 * csv, latex, json and html, every pivot (--by category, engine, model,
 * dataset, param:k, machine), compare in md, csv and junit, history in md
 * and csv — and each output is checked: every CSV cell that starts like a
 * formula is a plain number or carries the quote guard, decobench's own
 * negative numbers stay numbers, Markdown holds no HTML tag, LaTeX no live
 * \input and no line break inside a comment, JSON parses and keeps the
 * strings, HTML and XML hold no element from the data.
 */
#include "test.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/store.h"
#include "harness/util/util.h"
#include "reports/compare.h"
#include "reports/report.h"

#define NS 3
#define T0 1700000000000LL

static const char *const SUITE = "evil\n\\input{/etc/passwd}\r<script>alert('suite')</script>";
static const char *const DATASET = "@SUM(1+1)*cmd|' /C calc'!A0<script>alert(1)</script>\n\\input{ds}";
static const char *const MODEL = "-2+3+cmd|' /C calc'!A0<iframe src=x>";
static const char *const LABELS[] = {
    "ar",                                            /* the baseline */
    "=HYPERLINK(\"http://x\",\"y\")<img src=x onerror=alert(1)>",
    "+1+cmd|' /C calc'!A0 & \"q\" | pipe\n\\input{lbl}",
    "\t=1+1<svg onload=alert(1)>",
};
static const char *const PROMPT_ID = "<script>alert('prompt')</script>";
static const char *const CATEGORY = "=cmd|' /C calc'!A0\n<b onmouseover=alert(1)>x</b>";
static const char *const OUTPUT = "<script>alert('output')</script><img src=x onerror=alert(2)>\n\\input{out}";
static const char *const CPU = "CPU <img src=x onerror=alert(3)>\n\\input{cpu}";
static const char *const COMMIT = "abc\n\\input{commit}<script>";
static const char *const REV = "v1<script>alert('rev')</script>";

/* run `tps` scales the tokens/s so that a second run can be slower */
static int add_run(db_store *st, int64_t mid, double tps, int64_t t0) {
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{\"name\":\"x\",\"baseline\":\"ar\"}");
    db_run_record rr = { mid, SUITE, "suites/evil.json", cfg, "decobench run evil.json", REV, COMMIT, "gcc", "-O2",
                         "7.0.0", 4, NULL, 0 };
    int64_t run = 0;
    int rc = db_store_run_begin(st, &rr, &run);
    for (int c = 0; c < 4; c++) {
        int k = c == 0 ? 0 : 2;
        char params[64];
        snprintf(params, sizeof params, k ? "{\"k\":%d}" : "{\"mode\":\"greedy\"}", c + 1);
        db_case_record cr = { c, c == 0 ? "ar" : "spec", LABELS[c], params, MODEL, "/m/t.gguf", "ab12", "tiny",
                              1000000, 1000000000ull, k ? "draft" : NULL, k ? "/m/d.gguf" : NULL, k ? "cd34" : NULL,
                              DATASET, NS, "completed", t0, t0 + 1000 };
        db_sample_record s[NS];
        db_event ev[NS][4];
        memset(s, 0, sizeof s);
        for (int i = 0; i < NS; i++) {
            db_sample_record *r = &s[i];
            r->prompt_idx = i;
            r->prompt_id = i == 0 ? PROMPT_ID : "p";
            r->category = CATEGORY;
            r->seed = 1;
            r->stop_reason = "length";
            r->output_text = OUTPUT;
            r->m.n_prompt_tokens = 8;
            r->m.tokens_per_s = tps * (1 + 0.25 * c) * (1 + 0.1 * i);
            r->m.ttft_ms = 5 + i;
            r->m.latency_ms = 1000 + 10 * i;
            r->m.new_tokens = 16;
            r->m.target_forwards = k ? 8 : 16;
            r->m.forward_time_ms = 800;
            r->m.n_commits = k ? 6 : 15;
            r->m.mat = k ? 2.5 : 1.0;
            r->m.acceptance_rate = NAN;
            r->m.tpot_ms = 60;
            if (k) {
                r->m.drafted = 12;
                r->m.accepted = 9;
                r->m.acceptance_rate = 0.75;
                r->m.draft_forwards = 12;
                r->m.draft_time_ms = 200;
                for (int j = 0; j < 4; j++) {
                    db_event v = { DB_EV_VERIFY, DB_ROLE_TARGET, j + 1, 2, j % 3, (1u << (j % 3)) - 1, 0, 0 };
                    ev[i][j] = v;
                }
                r->events = ev[i];
                r->n_events = 4;
            }
        }
        int64_t cid;
        rc |= db_store_case(st, run, &cr, s, NS, &cid);
    }
    rc |= db_store_run_finish(st, run, "completed");
    return rc;
}

static char *build_db(void) {
    char *path = db_path_join(db_test_tmpdir(), "inject.db");
    db_store_remove_files(path);
    char err[512];
    db_store *st = NULL;
    if (db_store_open(path, &st, err, sizeof err) != 0) {
        printf("    %s\n", err);
        free(path);
        return NULL;
    }
    db_machine m;
    memset(&m, 0, sizeof m);
    snprintf(m.hostname, sizeof m.hostname, "host<script>");
    snprintf(m.cpu_model, sizeof m.cpu_model, "%s", CPU);
    snprintf(m.arch, sizeof m.arch, "x86_64");
    snprintf(m.os, sizeof m.os, "Linux");
    snprintf(m.fingerprint, sizeof m.fingerprint, "fp-inject");
    m.packages = 1;
    m.cores = 4;
    m.pus = 8;
    m.numa_nodes = 1;
    m.memory_bytes = 1ull << 34;
    m.topology_json = (char *)"{}";
    int64_t mid = 0;
    int rc = db_store_machine(st, &m, &mid);
    rc |= add_run(st, mid, 20.0, T0);
    rc |= add_run(st, mid, 10.0, T0 + 10000);   /* run 2: half as fast, so changes are negative */
    sqlite3 *db = db_store_handle(st);
    if (sqlite3_exec(db,
                     "UPDATE run SET started_at = 1700000000000 + id * 10000, finished_at = 1700000005000 + id * 10000;",
                     NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    db_store_close(st);
    if (rc != 0) {
        printf("    fixture: rc %d\n", rc);
        free(path);
        return NULL;
    }
    return path;
}

/* ---- output checks ------------------------------------------------------ */

static bool csv_number(const char *s) {
    const char *p = s;
    if (*p == '-' || *p == '+') p++;
    bool d = false;
    while (isdigit((unsigned char)*p)) p++, d = true;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) p++, d = true;
    }
    if (!d) return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+') p++;
        while (isdigit((unsigned char)*p)) p++;
    }
    return *p == 0;
}

/* RFC 4180: every cell that a spreadsheet would treat as a formula is a
 * number or starts with the ' guard inside quotes; counts the guarded cells
 * and the unquoted negative numbers */
static void check_csv(const char *what, const char *text, int *n_guarded, int *n_negative) {
    const char *p = text;
    char cell[4096];
    *n_guarded = *n_negative = 0;
    while (*p) {
        size_t n = 0;
        bool quoted = false;
        if (*p == '"') {
            quoted = true;
            p++;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"') p++;
                if (n < sizeof cell - 1) cell[n++] = *p;
                p++;
            }
            if (*p == '"') p++;
        } else {
            while (*p && *p != ',' && *p != '\n' && *p != '\r') {
                if (n < sizeof cell - 1) cell[n++] = *p;
                p++;
            }
        }
        cell[n] = 0;
        const char *c = cell;
        while (*c == ' ') c++;
        bool risky = *c == '=' || *c == '+' || *c == '-' || *c == '@' || *c == '\t' || *c == '\r';
        if (risky && !csv_number(cell))
            CHECK_MSG(false, "%s: CSV cell %s\"%.60s\" would run as a formula", what, quoted ? "(quoted) " : "", cell);
        if (cell[0] == '\'' && quoted) (*n_guarded)++;
        if (!quoted && cell[0] == '-' && csv_number(cell)) (*n_negative)++;
        if (*p == ',') p++;
        else {
            if (*p == '\r') p++;
            if (*p == '\n') p++;
        }
    }
}

/* no HTML tag from the data: "<" followed by a letter, '/' or '!' */
static void check_no_tags(const char *what, const char *text) {
    for (const char *p = text; (p = strchr(p, '<')); p++)
        if (isalpha((unsigned char)p[1]) || p[1] == '/' || p[1] == '!') {
            CHECK_MSG(false, "%s: raw tag \"%.30s\"", what, p);
            return;
        }
}

/* HTML page / SVG: its own tags are fine, the data's are not */
static void check_no_data_tags(const char *what, const char *text) {
    static const char *const bad[] = { "<script", "<img", "<iframe", "<svg onload", "<b onmouseover", NULL };
    for (int i = 0; bad[i]; i++) CHECK_MSG(!strstr(text, bad[i]), "%s: raw %s", what, bad[i]);
}

/* LaTeX: no \input outside comments, and no comment ends early (a line
 * right after a comment line that starts with \input or a data fragment) */
static void check_latex(const char *what, const char *text) {
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        /* the part before an unescaped % */
        size_t live = len;
        for (size_t i = 0; i < len; i++)
            if (line[i] == '%' && (i == 0 || line[i - 1] != '\\')) {
                live = i;
                break;
            }
        char buf[4096];
        snprintf(buf, sizeof buf, "%.*s", (int)(live < sizeof buf - 1 ? live : sizeof buf - 1), line);
        CHECK_MSG(!strstr(buf, "\\input"), "%s: live \\input in line \"%.80s\"", what, buf);
        CHECK_MSG(memchr(line, '\r', len) == NULL, "%s: CR inside a line", what);
        if (!end) break;
        line = end + 1;
    }
}

static char *report_run(const char *db, const char *fmt, const char *by) {
    char err[512] = "";
    db_store *st = NULL;
    if (db_store_open_readonly(db, &st, err, sizeof err) != 0) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    db_report_opts o = { 1, fmt, 1, by, NULL, NULL };
    int rc = db_report_table(st, &o, f, err, sizeof err);
    fclose(f);
    db_store_close(st);
    if (rc != 0) {
        printf("    report %s by %s: %s\n", fmt, by ? by : "-", err);
        free(buf);
        return NULL;
    }
    return buf;
}

static void check_format(const char *what, const char *fmt, const char *text) {
    CHECK_MSG(text != NULL, "%s: no output", what);
    if (!text) return;
    if (!strcmp(fmt, "csv")) {
        int g, neg;
        check_csv(what, text, &g, &neg);
    } else if (!strcmp(fmt, "md")) {
        check_no_tags(what, text);
        /* no line of the data's own: each begins as decobench's lines do */
        for (const char *l = text; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            CHECK_MSG(strncmp(l, "\\input", 6) != 0, "%s: a line starts with \\input", what);
            if (!*l) break;
        }
    } else if (!strcmp(fmt, "latex")) {
        check_latex(what, text);
    } else if (!strcmp(fmt, "json")) {
        cJSON *j = cJSON_Parse(text);
        CHECK_MSG(j != NULL, "%s: not valid JSON", what);
        cJSON_Delete(j);
    } else if (!strcmp(fmt, "html") || !strcmp(fmt, "junit")) {
        check_no_data_tags(what, text);
    }
}

static void hostile_report_every_format(void) {
    char *db = build_db();
    CHECK(db != NULL);
    if (!db) return;
    static const char *const fmts[] = { "md", "csv", "latex", "json", "html" };
    static const char *const bys[] = { NULL, "category", "engine", "model", "dataset", "param:k", "machine" };
    for (size_t b = 0; b < sizeof bys / sizeof bys[0]; b++)
        for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
            if (bys[b] && !strcmp(fmts[f], "html")) continue;   /* html has no grouping */
            char what[96];
            snprintf(what, sizeof what, "report --format %s --by %s", fmts[f], bys[b] ? bys[b] : "-");
            char *text = report_run(db, fmts[f], bys[b]);
            check_format(what, fmts[f], text);
            if (text && !bys[b] && !strcmp(fmts[f], "csv")) {
                int g, neg;
                check_csv(what, text, &g, &neg);
                /* the three formula labels and the model, dataset names: guarded, not dropped */
                CHECK_MSG(g >= 4, "%s: %d guarded cells, expected the hostile labels, model and dataset", what, g);
                CHECK_CONTAINS(text, "\"'=HYPERLINK(\"\"http://x\"\"");
            }
            if (text && !bys[b] && !strcmp(fmts[f], "md")) {
                CHECK_CONTAINS(text, "&lt;img src=x onerror=alert(1)&gt;");
                CHECK_CONTAINS(text, "\\| pipe");
            }
            if (text && !bys[b] && !strcmp(fmts[f], "json")) {
                cJSON *j = cJSON_Parse(text);
                char *again = j ? cJSON_PrintUnformatted(j) : NULL;
                CHECK_MSG(again && strstr(again, "onerror=alert(1)"), "%s: the label's text was lost", what);
                free(again);
                cJSON_Delete(j);
            }
            if (text && !bys[b] && !strcmp(fmts[f], "latex")) CHECK_CONTAINS(text, "% decobench run 1 -- suite: evil \\input{/etc/passwd} ");
            free(text);
        }
    db_store_remove_files(db);
    free(db);
}

static void hostile_compare_and_history(void) {
    char *db = build_db();
    CHECK(db != NULL);
    if (!db) return;
    char err[512] = "";
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(db, &st, err, sizeof err), 0);
    if (!st) {
        free(db);
        return;
    }
    db_compare_opts co;
    memset(&co, 0, sizeof co);
    co.min_effect = DB_COMPARE_MIN_EFFECT;
    co.alpha = DB_COMPARE_ALPHA;
    co.seed = 1;
    db_compare_result res;
    memset(&res, 0, sizeof res);
    int rc = db_compare_runs(st, 1, st, 2, &co, &res, err, sizeof err);
    CHECK_MSG(rc == 0, "compare: %s", err);
    if (rc == 0) {
        static const char *const fmts[] = { "md", "csv", "junit" };
        for (size_t f = 0; f < 3; f++) {
            char *buf = NULL;
            size_t len = 0;
            FILE *out = open_memstream(&buf, &len);
            CHECK_INT_EQ(db_compare_write(&res, fmts[f], out), 0);
            fclose(out);
            char what[64];
            snprintf(what, sizeof what, "compare --format %s", fmts[f]);
            check_format(what, fmts[f], buf);
            if (!strcmp(fmts[f], "csv")) {
                int g, neg;
                check_csv(what, buf, &g, &neg);
                CHECK_MSG(g >= 3, "%s: %d guarded cells", what, g);
                /* run 2 is slower: its relative changes are negative numbers, unguarded */
                CHECK_MSG(neg >= 1, "%s: no negative number left numeric", what);
            }
            if (!strcmp(fmts[f], "junit")) CHECK_CONTAINS(buf, "&lt;img src=x onerror=alert(1)&gt;");
            free(buf);
        }
        db_compare_result_free(&res);
    }
    static const char *const hf[] = { "md", "csv" };
    for (int f = 0; f < 2; f++) {
        db_history_opts ho = { "tokens_per_s", NULL, hf[f], 0, 0, 0, 1 };
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        rc = db_history(st, &ho, out, NULL, err, sizeof err);
        fclose(out);
        CHECK_MSG(rc == 0, "history: %s", err);
        char what[64];
        snprintf(what, sizeof what, "history --format %s", hf[f]);
        if (rc == 0) check_format(what, hf[f], buf);
        free(buf);
    }
    db_store_close(st);
    db_store_remove_files(db);
    free(db);
}

void suite_inject(void) {
    RUN(hostile_report_every_format);
    RUN(hostile_compare_and_history);
}
