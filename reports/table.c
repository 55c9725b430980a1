/* table.c — the paper-style results table of one run (see report.h), read
 * from the results database and written as Markdown, CSV (RFC 4180), LaTeX
 * (booktabs) or JSON.
 */
#include "report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../harness/rng.h"
#include "../harness/stats.h"
#include "../harness/util.h"

typedef struct row {
    int64_t case_id;
    char *engine, *label, *dataset, *model;
    int n;                       /* samples */
    int *prompt_idx, *rep;
    double *tps, *ttft, *lat;    /* NaN where NULL */
    int64_t sum_new, sum_commits;
    double *cnt;                 /* n × n_counters, NaN where missing */
    /* results */
    int baseline;                /* row index of its baseline, -1 none */
    double tps_med, tps_lo, tps_hi;
    double sp_med, sp_lo, sp_hi;
    double mat, ttft50, ttft90, lat50;
    double *cnt_med;             /* n_counters */
    bool best;                   /* best tokens/s within its dataset+model */
} row;

typedef struct table {
    int64_t run_id;
    char *suite, *config_json, *llama_commit, *cpu_model, *status;
    int cores;
    char *baseline_key;          /* config "baseline", or label of the first "ar" case */
    char **counters;
    int n_counters;
    row *rows;
    int n_rows;
} table;

static char *col_text(sqlite3_stmt *s, int i) {
    const unsigned char *t = sqlite3_column_text(s, i);
    return db_strdup(t ? (const char *)t : "");
}

static double col_real(sqlite3_stmt *s, int i) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

static void table_free(table *t) {
    free(t->suite);
    free(t->config_json);
    free(t->llama_commit);
    free(t->cpu_model);
    free(t->status);
    free(t->baseline_key);
    for (int i = 0; i < t->n_counters; i++) free(t->counters[i]);
    free(t->counters);
    for (int i = 0; i < t->n_rows; i++) {
        row *r = &t->rows[i];
        free(r->engine);
        free(r->label);
        free(r->dataset);
        free(r->model);
        free(r->prompt_idx);
        free(r->rep);
        free(r->tps);
        free(r->ttft);
        free(r->lat);
        free(r->cnt);
        free(r->cnt_med);
    }
    free(t->rows);
}

static int sql_fail(sqlite3 *db, const char *what, char *err, size_t errlen) {
    return db_errf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
}

/* ---- loading ------------------------------------------------------------ */

static int load_run(sqlite3 *db, int64_t want, table *t, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM run", -1, &s, NULL) != SQLITE_OK)
        return sql_fail(db, "read runs", err, errlen);
    int64_t nruns = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    if (nruns == 0) return db_errf(err, errlen, "no runs in database");
    const char *sql =
        "SELECT r.id, r.suite_name, r.config_json, r.llama_commit, m.cpu_model, m.cores, r.status"
        " FROM run r LEFT JOIN machine m ON m.id = r.machine_id";
    char q[512];
    snprintf(q, sizeof q, "%s %s", sql, want > 0 ? "WHERE r.id = ?" : "ORDER BY r.id DESC LIMIT 1");
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK) return sql_fail(db, "read run", err, errlen);
    if (want > 0) sqlite3_bind_int64(s, 1, want);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        if (rc == SQLITE_DONE) return db_errf(err, errlen, "no run with id %lld", (long long)want);
        return sql_fail(db, "read run", err, errlen);
    }
    t->run_id = sqlite3_column_int64(s, 0);
    t->suite = col_text(s, 1);
    t->config_json = col_text(s, 2);
    t->llama_commit = col_text(s, 3);
    t->cpu_model = col_text(s, 4);
    t->cores = sqlite3_column_int(s, 5);
    t->status = col_text(s, 6);
    sqlite3_finalize(s);
    return 0;
}

static int load_counters(sqlite3 *db, table *t, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    const char *sql =
        "SELECT sc.name FROM sample_counter sc JOIN sample s ON s.id = sc.sample_id"
        " JOIN \"case\" c ON c.id = s.case_id WHERE c.run_id = ?"
        " GROUP BY sc.name ORDER BY MIN(sc.rowid)";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return sql_fail(db, "read counters", err, errlen);
    sqlite3_bind_int64(s, 1, t->run_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char **c = realloc(t->counters, (size_t)(t->n_counters + 1) * sizeof *c);
        if (!c) break;
        t->counters = c;
        t->counters[t->n_counters++] = col_text(s, 0);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return rc == SQLITE_ROW ? db_errf(err, errlen, "out of memory")
                                                   : sql_fail(db, "read counters", err, errlen);
    return 0;
}

static int counter_index(const table *t, const char *name) {
    for (int i = 0; i < t->n_counters; i++)
        if (strcmp(t->counters[i], name) == 0) return i;
    return -1;
}

static int load_samples(sqlite3 *db, table *t, row *r, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM sample WHERE case_id = ?", -1, &s, NULL) != SQLITE_OK)
        return sql_fail(db, "read samples", err, errlen);
    sqlite3_bind_int64(s, 1, r->case_id);
    int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_finalize(s);
    size_t cap = n > 0 ? (size_t)n : 1, nc = t->n_counters > 0 ? (size_t)t->n_counters : 1;
    r->prompt_idx = calloc(cap, sizeof *r->prompt_idx);
    r->rep = calloc(cap, sizeof *r->rep);
    r->tps = calloc(cap, sizeof *r->tps);
    r->ttft = calloc(cap, sizeof *r->ttft);
    r->lat = calloc(cap, sizeof *r->lat);
    r->cnt = calloc(cap * nc, sizeof *r->cnt);
    r->cnt_med = calloc(nc, sizeof *r->cnt_med);
    int64_t *ids = calloc(cap, sizeof *ids);
    if (!r->prompt_idx || !r->rep || !r->tps || !r->ttft || !r->lat || !r->cnt || !r->cnt_med || !ids) {
        free(ids);
        return db_errf(err, errlen, "out of memory");
    }
    for (size_t i = 0; i < cap * nc; i++) r->cnt[i] = NAN;
    const char *sql =
        "SELECT id, prompt_idx, rep, tokens_per_s, ttft_ms, latency_ms, new_tokens, n_commits"
        " FROM sample WHERE case_id = ? ORDER BY id";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        free(ids);
        return sql_fail(db, "read samples", err, errlen);
    }
    sqlite3_bind_int64(s, 1, r->case_id);
    int rc;
    while (r->n < n && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int i = r->n++;
        ids[i] = sqlite3_column_int64(s, 0);
        r->prompt_idx[i] = sqlite3_column_int(s, 1);
        r->rep[i] = sqlite3_column_int(s, 2);
        r->tps[i] = col_real(s, 3);
        r->ttft[i] = col_real(s, 4);
        r->lat[i] = col_real(s, 5);
        r->sum_new += sqlite3_column_int64(s, 6);
        r->sum_commits += sqlite3_column_int64(s, 7);
    }
    sqlite3_finalize(s);
    if (t->n_counters > 0 && r->n > 0) {
        sql = "SELECT sc.sample_id, sc.name, sc.value FROM sample_counter sc"
              " JOIN sample s ON s.id = sc.sample_id WHERE s.case_id = ?";
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
            free(ids);
            return sql_fail(db, "read sample counters", err, errlen);
        }
        sqlite3_bind_int64(s, 1, r->case_id);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            int64_t sid = sqlite3_column_int64(s, 0);
            int ci = counter_index(t, (const char *)sqlite3_column_text(s, 1));
            /* ids are ascending: binary search */
            int lo = 0, hi = r->n - 1, at = -1;
            while (lo <= hi) {
                int mid = (lo + hi) / 2;
                if (ids[mid] == sid) { at = mid; break; }
                if (ids[mid] < sid) lo = mid + 1; else hi = mid - 1;
            }
            if (ci >= 0 && at >= 0) r->cnt[(size_t)at * nc + (size_t)ci] = col_real(s, 2);
        }
        sqlite3_finalize(s);
    }
    free(ids);
    return 0;
}

static int load_cases(sqlite3 *db, table *t, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    const char *sql = "SELECT id, engine, label, dataset, model_name FROM \"case\""
                      " WHERE run_id = ? ORDER BY idx, id";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return sql_fail(db, "read cases", err, errlen);
    sqlite3_bind_int64(s, 1, t->run_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        row *rs = realloc(t->rows, (size_t)(t->n_rows + 1) * sizeof *rs);
        if (!rs) {
            sqlite3_finalize(s);
            return db_errf(err, errlen, "out of memory");
        }
        t->rows = rs;
        row *r = &t->rows[t->n_rows++];
        memset(r, 0, sizeof *r);
        r->case_id = sqlite3_column_int64(s, 0);
        r->engine = col_text(s, 1);
        r->label = col_text(s, 2);
        r->dataset = col_text(s, 3);
        r->model = col_text(s, 4);
        r->baseline = -1;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return sql_fail(db, "read cases", err, errlen);
    for (int i = 0; i < t->n_rows; i++)
        if (load_samples(db, t, &t->rows[i], err, errlen) != 0) return -1;
    return 0;
}

/* ---- computing ---------------------------------------------------------- */

static void pick_baselines(table *t) {
    cJSON *cfg = t->config_json && *t->config_json ? cJSON_Parse(t->config_json) : NULL;
    const cJSON *b = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "baseline") : NULL;
    if (cJSON_IsString(b) && b->valuestring[0]) t->baseline_key = db_strdup(b->valuestring);
    cJSON_Delete(cfg);
    if (!t->baseline_key) {
        for (int i = 0; i < t->n_rows; i++)
            if (strcmp(t->rows[i].engine, "ar") == 0) {
                t->baseline_key = db_strdup(t->rows[i].label);
                break;
            }
    }
    if (!t->baseline_key) return;
    size_t kl = strlen(t->baseline_key);
    for (int i = 0; i < t->n_rows; i++) {
        row *r = &t->rows[i];
        int exact = -1, prefix = -1;
        for (int j = 0; j < t->n_rows; j++) {
            const row *c = &t->rows[j];
            if (strcmp(c->dataset, r->dataset) != 0 || strcmp(c->model, r->model) != 0) continue;
            if (exact < 0 && strcmp(c->label, t->baseline_key) == 0) exact = j;
            if (prefix < 0 && strncmp(c->label, t->baseline_key, kl) == 0) prefix = j;
        }
        r->baseline = exact >= 0 ? exact : prefix;
    }
}

/* finite values of x[0..n) into out; returns how many */
static size_t finite_of(const double *x, int n, size_t stride, double *out) {
    size_t m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[(size_t)i * stride])) out[m++] = x[(size_t)i * stride];
    return m;
}

static int compute(table *t, uint64_t seed, char *err, size_t errlen) {
    size_t nc = t->n_counters > 0 ? (size_t)t->n_counters : 1;
    for (int i = 0; i < t->n_rows; i++) {
        row *r = &t->rows[i];
        double *v = malloc(((size_t)r->n + 1) * sizeof *v);
        if (!v) return db_errf(err, errlen, "out of memory");
        uint64_t rs = db_mix64(seed ^ db_mix64((uint64_t)i));
        size_t m = finite_of(r->tps, r->n, 1, v);
        r->tps_med = db_median(v, m);
        r->tps_lo = r->tps_hi = NAN;
        db_bootstrap_ci(v, m, DB_STAT_MEDIAN, 0.95, DB_REPORT_BOOTSTRAP, rs, &r->tps_lo, &r->tps_hi);
        m = finite_of(r->ttft, r->n, 1, v);
        r->ttft50 = db_quantile(v, m, 0.5);
        r->ttft90 = db_quantile(v, m, 0.9);
        m = finite_of(r->lat, r->n, 1, v);
        r->lat50 = db_quantile(v, m, 0.5);
        r->mat = r->sum_commits > 0 ? (double)r->sum_new / (double)r->sum_commits : NAN;
        for (int c = 0; c < t->n_counters; c++) {
            m = finite_of(r->cnt + c, r->n, nc, v);
            r->cnt_med[c] = db_median(v, m);
        }
        /* paired speedup */
        r->sp_med = r->sp_lo = r->sp_hi = NAN;
        if (r->baseline == i) {
            r->sp_med = r->sp_lo = r->sp_hi = 1.0;
        } else if (r->baseline >= 0) {
            const row *b = &t->rows[r->baseline];
            m = 0;
            for (int k = 0; k < r->n; k++) {
                if (!isfinite(r->tps[k])) continue;
                for (int j = 0; j < b->n; j++)
                    if (b->prompt_idx[j] == r->prompt_idx[k] && b->rep[j] == r->rep[k]) {
                        if (isfinite(b->tps[j]) && b->tps[j] > 0) v[m++] = r->tps[k] / b->tps[j];
                        break;
                    }
            }
            r->sp_med = db_median(v, m);
            db_bootstrap_ci(v, m, DB_STAT_MEDIAN, 0.95, DB_REPORT_BOOTSTRAP, db_mix64(rs + 1),
                            &r->sp_lo, &r->sp_hi);
        }
        free(v);
    }
    /* best tokens/s within each dataset+model */
    for (int i = 0; i < t->n_rows; i++) {
        row *r = &t->rows[i];
        if (!isfinite(r->tps_med)) continue;
        bool best = true;
        for (int j = 0; j < t->n_rows && best; j++) {
            const row *c = &t->rows[j];
            if (j == i || strcmp(c->dataset, r->dataset) || strcmp(c->model, r->model)) continue;
            if (isfinite(c->tps_med) && (c->tps_med > r->tps_med || (c->tps_med == r->tps_med && j < i)))
                best = false;
        }
        r->best = best;
    }
    return 0;
}

/* ---- number formatting --------------------------------------------------- */

/* about 3 significant digits, never an exponent for ordinary magnitudes */
static void fmt_sig3(char *buf, size_t len, double v) {
    double a = fabs(v);
    if (!isfinite(v)) snprintf(buf, len, "-");
    else if (a >= 100) snprintf(buf, len, "%.0f", v);
    else if (a >= 10) snprintf(buf, len, "%.1f", v);
    else if (a >= 1) snprintf(buf, len, "%.2f", v);
    else snprintf(buf, len, "%.3g", v);
}

static void fmt_fixed(char *buf, size_t len, double v, int decimals) {
    if (!isfinite(v)) snprintf(buf, len, "-");
    else snprintf(buf, len, "%.*f", decimals, v);
}

/* shortest text that reads back as v; "" for non-finite */
static void fmt_full(char *buf, size_t len, double v) {
    if (!isfinite(v)) {
        snprintf(buf, len, "%s", "");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void fmt_ci_sig3(char *buf, size_t len, double med, double lo, double hi) {
    char a[32], b[32], c[32];
    fmt_sig3(a, sizeof a, med);
    if (!isfinite(med)) snprintf(buf, len, "-");
    else if (!isfinite(lo) || !isfinite(hi)) snprintf(buf, len, "%s", a);
    else {
        fmt_sig3(b, sizeof b, lo);
        fmt_sig3(c, sizeof c, hi);
        snprintf(buf, len, "%s [%s, %s]", a, b, c);
    }
}

static void fmt_speedup(char *buf, size_t len, const row *r, int self) {
    if (self) snprintf(buf, len, "1.00");
    else if (!isfinite(r->sp_med)) snprintf(buf, len, "-");
    else if (!isfinite(r->sp_lo)) snprintf(buf, len, "%.2f", r->sp_med);
    else snprintf(buf, len, "%.2f [%.2f, %.2f]", r->sp_med, r->sp_lo, r->sp_hi);
}

/* counters are integers: medians print exactly when integral */
static void fmt_counter(char *buf, size_t len, double v) {
    if (isfinite(v) && v == floor(v) && fabs(v) < 1e15) snprintf(buf, len, "%.0f", v);
    else fmt_sig3(buf, len, v);
}

/* ---- Markdown ------------------------------------------------------------ */

static void md_cell(FILE *out, const char *s) {
    fputs(" ", out);
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", out);
        else if (*s == '\n' || *s == '\r') fputc(' ', out);
        else fputc(*s, out);
    }
    fputs(" |", out);
}

static void title_parts(const table *t, char *machine, size_t len) {
    if (t->cpu_model[0] && t->cores > 0) snprintf(machine, len, "%s, %d cores", t->cpu_model, t->cores);
    else if (t->cpu_model[0]) snprintf(machine, len, "%s", t->cpu_model);
    else snprintf(machine, len, "unknown");
}

static void write_md(const table *t, FILE *out) {
    char machine[256], buf[128];
    title_parts(t, machine, sizeof machine);
    fprintf(out, "**decobench run %lld** — suite: %s — machine: %s — llama.cpp: %s",
            (long long)t->run_id, t->suite[0] ? t->suite : "?", machine,
            t->llama_commit[0] ? t->llama_commit : "?");
    if (strcmp(t->status, "completed") != 0) fprintf(out, " — status: %s", t->status);
    fputs("\n\n|", out);
    const char *heads[] = { "label", "dataset", "model", "n", "tok/s [95% CI]", "speedup [95% CI]",
                            "#MAT", "TTFT p50 (ms)", "TTFT p90 (ms)", "latency p50 (ms)" };
    const int nh = (int)(sizeof heads / sizeof heads[0]);
    for (int i = 0; i < nh; i++) md_cell(out, heads[i]);
    for (int c = 0; c < t->n_counters; c++) md_cell(out, t->counters[c]);
    fputs("\n|", out);
    for (int i = 0; i < nh + t->n_counters; i++) fputs(i < 3 ? "---|" : "--:|", out);
    fputc('\n', out);
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        fputc('|', out);
        md_cell(out, r->label);
        md_cell(out, r->dataset);
        md_cell(out, r->model);
        snprintf(buf, sizeof buf, "%d", r->n);
        md_cell(out, buf);
        fmt_ci_sig3(buf, sizeof buf, r->tps_med, r->tps_lo, r->tps_hi);
        md_cell(out, buf);
        fmt_speedup(buf, sizeof buf, r, r->baseline == i);
        md_cell(out, buf);
        fmt_fixed(buf, sizeof buf, r->mat, 2);
        md_cell(out, buf);
        fmt_fixed(buf, sizeof buf, r->ttft50, 1);
        md_cell(out, buf);
        fmt_fixed(buf, sizeof buf, r->ttft90, 1);
        md_cell(out, buf);
        fmt_fixed(buf, sizeof buf, r->lat50, 1);
        md_cell(out, buf);
        for (int c = 0; c < t->n_counters; c++) {
            fmt_counter(buf, sizeof buf, r->cnt_med[c]);
            md_cell(out, buf);
        }
        fputc('\n', out);
    }
}

/* ---- CSV (RFC 4180: CRLF, quoted when needed) ----------------------------- */

static void csv_field(FILE *out, const char *s, int first) {
    if (!first) fputc(',', out);
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void csv_num(FILE *out, double v) {
    char buf[40];
    fmt_full(buf, sizeof buf, v);
    csv_field(out, buf, 0);
}

static void write_csv(const table *t, FILE *out) {
    const char *heads[] = { "run_id", "label", "dataset", "model", "n", "tokens_per_s",
                            "tokens_per_s_lo", "tokens_per_s_hi", "speedup", "speedup_lo",
                            "speedup_hi", "mat", "ttft_p50_ms", "ttft_p90_ms", "latency_p50_ms" };
    const int nh = (int)(sizeof heads / sizeof heads[0]);
    for (int i = 0; i < nh; i++) csv_field(out, heads[i], i == 0);
    for (int c = 0; c < t->n_counters; c++) csv_field(out, t->counters[c], 0);
    fputs("\r\n", out);
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)t->run_id);
        csv_field(out, buf, 1);
        csv_field(out, r->label, 0);
        csv_field(out, r->dataset, 0);
        csv_field(out, r->model, 0);
        snprintf(buf, sizeof buf, "%d", r->n);
        csv_field(out, buf, 0);
        csv_num(out, r->tps_med);
        csv_num(out, r->tps_lo);
        csv_num(out, r->tps_hi);
        csv_num(out, r->sp_med);
        csv_num(out, r->sp_lo);
        csv_num(out, r->sp_hi);
        csv_num(out, r->mat);
        csv_num(out, r->ttft50);
        csv_num(out, r->ttft90);
        csv_num(out, r->lat50);
        for (int c = 0; c < t->n_counters; c++) csv_num(out, r->cnt_med[c]);
        fputs("\r\n", out);
    }
}

/* ---- LaTeX (booktabs) ------------------------------------------------------ */

static void tex_escape(FILE *out, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': case '%': case '$': case '#': case '_': case '{': case '}':
            fputc('\\', out);
            fputc(*s, out);
            break;
        case '~': fputs("\\textasciitilde{}", out); break;
        case '^': fputs("\\textasciicircum{}", out); break;
        case '\\': fputs("\\textbackslash{}", out); break;
        case '[': fputs("{[}", out); break;      /* never an optional argument of \\ */
        case ']': fputs("{]}", out); break;
        case '\n': case '\r': fputc(' ', out); break;
        default: fputc(*s, out);
        }
    }
}

static void write_latex(const table *t, FILE *out) {
    char machine[256], buf[128];
    title_parts(t, machine, sizeof machine);
    fprintf(out, "%% decobench run %lld -- suite: %s -- machine: %s -- llama.cpp: %s\n",
            (long long)t->run_id, t->suite, machine, t->llama_commit);
    fputs("% requires \\usepackage{booktabs}\n\\begin{tabular}{lll", out);
    for (int i = 0; i < 7 + t->n_counters; i++) fputc('r', out);
    fputs("}\n\\toprule\n", out);
    fputs("Label & Dataset & Model & $n$ & tok/s [95\\% CI] & Speedup [95\\% CI] & \\#MAT & "
          "TTFT p50 (ms) & TTFT p90 (ms) & Latency p50 (ms)", out);
    for (int c = 0; c < t->n_counters; c++) {
        fputs(" & ", out);
        tex_escape(out, t->counters[c]);
    }
    fputs(" \\\\\n\\midrule\n", out);
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        tex_escape(out, r->label);
        fputs(" & ", out);
        tex_escape(out, r->dataset);
        fputs(" & ", out);
        tex_escape(out, r->model);
        fprintf(out, " & %d & ", r->n);
        char a[32], lo[32], hi[32];
        fmt_sig3(a, sizeof a, r->tps_med);
        if (!isfinite(r->tps_med)) fputs("--", out);
        else {
            if (r->best) fprintf(out, "\\textbf{%s}", a);
            else fputs(a, out);
            if (isfinite(r->tps_lo) && isfinite(r->tps_hi)) {
                fmt_sig3(lo, sizeof lo, r->tps_lo);
                fmt_sig3(hi, sizeof hi, r->tps_hi);
                fprintf(out, " {[}%s, %s{]}", lo, hi);
            }
        }
        fputs(" & ", out);
        if (r->baseline == i) fputs("1.00", out);
        else if (!isfinite(r->sp_med)) fputs("--", out);
        else if (!isfinite(r->sp_lo)) fprintf(out, "%.2f", r->sp_med);
        else fprintf(out, "%.2f {[}%.2f, %.2f{]}", r->sp_med, r->sp_lo, r->sp_hi);
        double fx[4] = { r->mat, r->ttft50, r->ttft90, r->lat50 };
        int dec[4] = { 2, 1, 1, 1 };
        for (int k = 0; k < 4; k++) {
            fmt_fixed(buf, sizeof buf, fx[k], dec[k]);
            fprintf(out, " & %s", strcmp(buf, "-") ? buf : "--");
        }
        for (int c = 0; c < t->n_counters; c++) {
            fmt_counter(buf, sizeof buf, r->cnt_med[c]);
            fprintf(out, " & %s", strcmp(buf, "-") ? buf : "--");
        }
        fputs(" \\\\\n", out);
    }
    fputs("\\bottomrule\n\\end{tabular}\n", out);
}

/* ---- JSON ------------------------------------------------------------------ */

static cJSON *jnum(double v) {
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static int write_json(const table *t, FILE *out, char *err, size_t errlen) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return db_errf(err, errlen, "out of memory");
    cJSON_AddNumberToObject(root, "run_id", (double)t->run_id);
    cJSON_AddStringToObject(root, "suite", t->suite);
    cJSON_AddStringToObject(root, "status", t->status);
    cJSON *m = cJSON_AddObjectToObject(root, "machine");
    if (m) {
        cJSON_AddStringToObject(m, "cpu_model", t->cpu_model);
        cJSON_AddNumberToObject(m, "cores", t->cores);
    }
    cJSON_AddStringToObject(root, "llama_commit", t->llama_commit);
    if (t->baseline_key) cJSON_AddStringToObject(root, "baseline", t->baseline_key);
    else cJSON_AddNullToObject(root, "baseline");
    cJSON *cn = cJSON_AddArrayToObject(root, "counters");
    for (int c = 0; c < t->n_counters && cn; c++) cJSON_AddItemToArray(cn, cJSON_CreateString(t->counters[c]));
    cJSON *rows = cJSON_AddArrayToObject(root, "rows");
    for (int i = 0; i < t->n_rows && rows; i++) {
        const row *r = &t->rows[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(rows, o);
        cJSON_AddNumberToObject(o, "case_id", (double)r->case_id);
        cJSON_AddStringToObject(o, "label", r->label);
        cJSON_AddStringToObject(o, "engine", r->engine);
        cJSON_AddStringToObject(o, "dataset", r->dataset);
        cJSON_AddStringToObject(o, "model", r->model);
        cJSON_AddNumberToObject(o, "n", r->n);
        cJSON_AddItemToObject(o, "tokens_per_s", jnum(r->tps_med));
        if (isfinite(r->tps_lo))
            cJSON_AddItemToObject(o, "tokens_per_s_ci", cJSON_CreateDoubleArray((double[]){ r->tps_lo, r->tps_hi }, 2));
        else cJSON_AddNullToObject(o, "tokens_per_s_ci");
        cJSON_AddItemToObject(o, "speedup", jnum(r->sp_med));
        if (isfinite(r->sp_lo))
            cJSON_AddItemToObject(o, "speedup_ci", cJSON_CreateDoubleArray((double[]){ r->sp_lo, r->sp_hi }, 2));
        else cJSON_AddNullToObject(o, "speedup_ci");
        cJSON_AddBoolToObject(o, "is_baseline", r->baseline == i);
        cJSON_AddItemToObject(o, "mat", jnum(r->mat));
        cJSON_AddItemToObject(o, "ttft_p50_ms", jnum(r->ttft50));
        cJSON_AddItemToObject(o, "ttft_p90_ms", jnum(r->ttft90));
        cJSON_AddItemToObject(o, "latency_p50_ms", jnum(r->lat50));
        cJSON *cc = cJSON_AddObjectToObject(o, "counters");
        for (int c = 0; c < t->n_counters && cc; c++) cJSON_AddItemToObject(cc, t->counters[c], jnum(r->cnt_med[c]));
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return db_errf(err, errlen, "out of memory");
    fputs(text, out);
    fputc('\n', out);
    free(text);
    return 0;
}

/* ---- entry ------------------------------------------------------------------ */

int db_report_format_ok(const char *name) {
    return name && (!strcmp(name, "md") || !strcmp(name, "csv") || !strcmp(name, "latex") ||
                    !strcmp(name, "json"));
}

int db_report_table(db_store *st, const db_report_opts *o, FILE *out, char *err, size_t errlen) {
    const char *fmt = o && o->format ? o->format : "md";
    if (!db_report_format_ok(fmt))
        return db_errf(err, errlen, "unknown format '%s' (expected md, csv, latex or json)", fmt);
    sqlite3 *db = db_store_handle(st);
    if (!db) return db_errf(err, errlen, "no results database");
    table t;
    memset(&t, 0, sizeof t);
    int rc = -1;
    if (load_run(db, o ? o->run_id : 0, &t, err, errlen) != 0) goto done;
    if (load_counters(db, &t, err, errlen) != 0) goto done;
    if (load_cases(db, &t, err, errlen) != 0) goto done;
    pick_baselines(&t);
    if (compute(&t, o ? o->seed : DB_REPORT_DEFAULT_SEED, err, errlen) != 0) goto done;
    if (!strcmp(fmt, "md")) write_md(&t, out);
    else if (!strcmp(fmt, "csv")) write_csv(&t, out);
    else if (!strcmp(fmt, "latex")) write_latex(&t, out);
    else if (write_json(&t, out, err, errlen) != 0) goto done;
    if (ferror(out)) {
        db_errf(err, errlen, "write error");
        goto done;
    }
    rc = 0;
done:
    table_free(&t);
    return rc;
}
