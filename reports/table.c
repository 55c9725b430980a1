/* table.c — the paper-style results table of one run (see report.h), read
 * from the results database and written as Markdown, CSV (RFC 4180), LaTeX
 * (booktabs) or JSON; its loaded and computed form (table_data.h) also
 * feeds the HTML and hardware reports, which db_report_table dispatches to.
 */
#include "report.h"
#include "format.h"
#include "table_data.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../harness/rng.h"
#include "../harness/stats.h"
#include "../harness/util.h"

#define MAX_POS DB_TABLE_MAX_POS

typedef db_table_row row;
typedef db_table table;

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
        free(r->turn);
        free(r->tps);
        free(r->ttft);
        free(r->lat);
        free(r->newt);
        free(r->commits);
        if (r->cat)
            for (int k = 0; k < r->n; k++) free(r->cat[k]);
        free(r->cat);
        free(r->cnt);
        free(r->cnt_med);
    }
    free(t->rows);
}

/* ---- loading ------------------------------------------------------------ */

static int load_run(sqlite3 *db, int64_t want, table *t, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM run", -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(db, "read runs", err, errlen);
    int64_t nruns = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    if (nruns == 0) return db_errf(err, errlen, "no runs in database");
    const char *sql =
        "SELECT r.id, r.suite_name, r.config_json, r.llama_commit, m.cpu_model, m.cores, r.status"
        " FROM run r LEFT JOIN machine m ON m.id = r.machine_id";
    char q[512];
    snprintf(q, sizeof q, "%s %s", sql, want > 0 ? "WHERE r.id = ?" : "ORDER BY r.id DESC LIMIT 1");
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK) return db_sql_fail(db, "read run", err, errlen);
    if (want > 0) sqlite3_bind_int64(s, 1, want);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        if (rc == SQLITE_DONE) return db_errf(err, errlen, "no run with id %lld", (long long)want);
        return db_sql_fail(db, "read run", err, errlen);
    }
    t->run_id = sqlite3_column_int64(s, 0);
    t->suite = db_sql_text(s, 1);
    t->config_json = db_sql_text(s, 2);
    t->llama_commit = db_sql_text(s, 3);
    t->cpu_model = db_sql_text(s, 4);
    t->cores = sqlite3_column_int(s, 5);
    t->status = db_sql_text(s, 6);
    sqlite3_finalize(s);
    return 0;
}

static int load_counters(sqlite3 *db, table *t, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    const char *sql =
        "SELECT sc.name FROM sample_counter sc JOIN sample s ON s.id = sc.sample_id"
        " JOIN \"case\" c ON c.id = s.case_id WHERE c.run_id = ?"
        " GROUP BY sc.name ORDER BY MIN(sc.rowid)";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_sql_fail(db, "read counters", err, errlen);
    sqlite3_bind_int64(s, 1, t->run_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char **c = realloc(t->counters, (size_t)(t->n_counters + 1) * sizeof *c);
        if (!c) break;
        t->counters = c;
        t->counters[t->n_counters++] = db_sql_text(s, 0);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return rc == SQLITE_ROW ? db_errf(err, errlen, "out of memory")
                                                   : db_sql_fail(db, "read counters", err, errlen);
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
        return db_sql_fail(db, "read samples", err, errlen);
    sqlite3_bind_int64(s, 1, r->case_id);
    int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_finalize(s);
    size_t cap = n > 0 ? (size_t)n : 1, nc = t->n_counters > 0 ? (size_t)t->n_counters : 1;
    r->prompt_idx = calloc(cap, sizeof *r->prompt_idx);
    r->rep = calloc(cap, sizeof *r->rep);
    r->turn = calloc(cap, sizeof *r->turn);
    r->tps = calloc(cap, sizeof *r->tps);
    r->ttft = calloc(cap, sizeof *r->ttft);
    r->lat = calloc(cap, sizeof *r->lat);
    r->newt = calloc(cap, sizeof *r->newt);
    r->commits = calloc(cap, sizeof *r->commits);
    r->cat = calloc(cap, sizeof *r->cat);
    r->cnt = calloc(cap * nc, sizeof *r->cnt);
    r->cnt_med = calloc(nc, sizeof *r->cnt_med);
    int64_t *ids = calloc(cap, sizeof *ids);
    if (!r->prompt_idx || !r->rep || !r->turn || !r->tps || !r->ttft || !r->lat || !r->newt || !r->commits ||
        !r->cat || !r->cnt || !r->cnt_med || !ids) {
        free(ids);
        return db_errf(err, errlen, "out of memory");
    }
    for (size_t i = 0; i < cap * nc; i++) r->cnt[i] = NAN;
    /* databases written before the turn column read as turn 0 */
    const char *sql =
        "SELECT id, prompt_idx, rep, tokens_per_s, ttft_ms, latency_ms, mat, n_commits,"
        " category, drafted, accepted, draft_forwards, target_forwards, draft_time_ms, forward_time_ms, turn"
        " FROM sample WHERE case_id = ? ORDER BY id";
    const char *sql_noturn =
        "SELECT id, prompt_idx, rep, tokens_per_s, ttft_ms, latency_ms, mat, n_commits,"
        " category, drafted, accepted, draft_forwards, target_forwards, draft_time_ms, forward_time_ms, 0"
        " FROM sample WHERE case_id = ? ORDER BY id";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK &&
        sqlite3_prepare_v2(db, sql_noturn, -1, &s, NULL) != SQLITE_OK) {
        free(ids);
        return db_sql_fail(db, "read samples", err, errlen);
    }
    sqlite3_bind_int64(s, 1, r->case_id);
    int rc;
    while (r->n < n && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int i = r->n++;
        ids[i] = sqlite3_column_int64(s, 0);
        r->prompt_idx[i] = sqlite3_column_int(s, 1);
        r->rep[i] = sqlite3_column_int(s, 2);
        r->tps[i] = db_sql_real(s, 3);
        r->ttft[i] = db_sql_real(s, 4);
        r->lat[i] = db_sql_real(s, 5);
        /* #MAT counts decoding steps only: the tokens of those steps are
         * mat × n_commits (new_tokens also holds the prefill's token) */
        double mat = db_sql_real(s, 6);
        r->commits[i] = sqlite3_column_int64(s, 7);
        r->newt[i] = isfinite(mat) && r->commits[i] > 0 ? llround(mat * (double)r->commits[i]) : 0;
        r->turn[i] = sqlite3_column_int(s, 15);
        r->sum_new += r->newt[i];
        r->sum_commits += r->commits[i];
        r->cat[i] = db_sql_text(s, 8);
        r->sum_drafted += sqlite3_column_int64(s, 9);
        r->sum_accepted += sqlite3_column_int64(s, 10);
        r->sum_dfwd += sqlite3_column_int64(s, 11);
        r->sum_tfwd += sqlite3_column_int64(s, 12);
        double dt = db_sql_real(s, 13), ft = db_sql_real(s, 14);
        if (isfinite(dt)) r->sum_dtime += dt;
        if (isfinite(ft)) r->sum_ftime += ft;
        if (isfinite(r->lat[i])) r->sum_lat += r->lat[i];
    }
    sqlite3_finalize(s);
    /* verification steps and per-position counts from the VERIFY events */
    sql = "SELECT e.n_tokens, e.accepted_mask FROM step_event e JOIN sample s ON s.id = e.sample_id"
          " WHERE s.case_id = ? AND e.kind = 3";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        free(ids);
        return db_sql_fail(db, "read verify events", err, errlen);
    }
    sqlite3_bind_int64(s, 1, r->case_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int d = sqlite3_column_int(s, 0);
        uint64_t mask = (uint64_t)sqlite3_column_int64(s, 1);
        r->n_verify++;
        if (d > MAX_POS) d = MAX_POS;
        for (int k = 0; k < d; k++) {
            r->drafted_at[k]++;
            if (mask & ((uint64_t)1 << k)) r->accepted_at[k]++;
        }
        if (d > r->n_pos) r->n_pos = d;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(ids);
        return db_sql_fail(db, "read verify events", err, errlen);
    }
    if (t->n_counters > 0 && r->n > 0) {
        sql = "SELECT sc.sample_id, sc.name, sc.value FROM sample_counter sc"
              " JOIN sample s ON s.id = sc.sample_id WHERE s.case_id = ?";
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
            free(ids);
            return db_sql_fail(db, "read sample counters", err, errlen);
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
            if (ci >= 0 && at >= 0) r->cnt[(size_t)at * nc + (size_t)ci] = db_sql_real(s, 2);
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
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_sql_fail(db, "read cases", err, errlen);
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
        r->engine = db_sql_text(s, 1);
        r->label = db_sql_text(s, 2);
        r->dataset = db_sql_text(s, 3);
        r->model = db_sql_text(s, 4);
        r->baseline = -1;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return db_sql_fail(db, "read cases", err, errlen);
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

/* Expected speedup of speculative decoding (Leviathan et al. 2023, eq. for
 * the walltime improvement): acceptance rate a, draft length k, draft/target
 * cost ratio c: (1 − a^(k+1)) / ((1 − a)(k·c + 1)); a → 1: (k + 1)/(k·c + 1). */
double db_report_predicted_speedup(double a, double k, double c) {
    if (!isfinite(a) || !isfinite(k) || !isfinite(c) || a < 0 || a > 1 || k < 0 || c < 0) return NAN;
    double den = k * c + 1;
    if (1 - a < 1e-12) return (k + 1) / den;
    return (1 - pow(a, k + 1)) / ((1 - a) * den);
}

/* α, k̄, draft time share, cost ratio c, predicted speedup, α per position */
static void spec_metrics(row *r) {
    r->alpha = r->kbar = r->dshare = r->cost = r->pred = NAN;
    for (int k = 0; k < MAX_POS; k++) r->acc_at[k] = NAN;
    if (r->sum_drafted <= 0) return;
    r->alpha = (double)r->sum_accepted / (double)r->sum_drafted;
    if (r->n_verify > 0) r->kbar = (double)r->sum_drafted / (double)r->n_verify;
    if (r->sum_lat > 0) r->dshare = r->sum_dtime / r->sum_lat;
    double ttime = r->sum_ftime - r->sum_dtime;
    if (r->sum_dfwd == 0 && r->sum_dtime == 0) r->cost = 0;   /* model-free drafting (pld, lookahead) */
    else if (r->sum_dfwd > 0 && r->sum_tfwd > 0 && ttime > 0)
        r->cost = (r->sum_dtime / (double)r->sum_dfwd) / (ttime / (double)r->sum_tfwd);
    r->pred = db_report_predicted_speedup(r->alpha, r->kbar, r->cost);
    for (int k = 0; k < r->n_pos; k++)
        if (r->drafted_at[k] > 0) r->acc_at[k] = (double)r->accepted_at[k] / (double)r->drafted_at[k];
}

/* samples paired for speedups: same prompt, repetition and turn */
static bool same_prompt(const row *a, int i, const row *b, int k) {
    return a->prompt_idx[i] == b->prompt_idx[k] && a->rep[i] == b->rep[k] && a->turn[i] == b->turn[k];
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
                    if (same_prompt(b, j, r, k)) {
                        if (isfinite(b->tps[j]) && b->tps[j] > 0) v[m++] = r->tps[k] / b->tps[j];
                        break;
                    }
            }
            r->sp_med = db_median(v, m);
            db_bootstrap_ci(v, m, DB_STAT_MEDIAN, 0.95, DB_REPORT_BOOTSTRAP, db_mix64(rs + 1),
                            &r->sp_lo, &r->sp_hi);
        }
        free(v);
        spec_metrics(r);
        if (r->sum_drafted > 0) t->spec = true;
        if (r->n_pos > t->max_pos) t->max_pos = r->n_pos;
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

/* α per draft position, "0.81/0.66/0.52" ("-" without drafting) */
static void fmt_acc_at(char *buf, size_t len, const row *r) {
    size_t o = 0;
    buf[0] = '\0';
    for (int k = 0; k < r->n_pos && o + 8 < len; k++) {
        char a[16];
        fmt_fixed(a, sizeof a, r->acc_at[k], 2);
        o += (size_t)snprintf(buf + o, len - o, "%s%s", k ? "/" : "", a);
    }
    if (!buf[0]) snprintf(buf, len, "-");
}

static void fmt_percent(char *buf, size_t len, double v, const char *pct) {
    if (!isfinite(v)) snprintf(buf, len, "-");
    else snprintf(buf, len, "%.1f%s", 100 * v, pct);
}

/* ---- Markdown ------------------------------------------------------------ */

static void title_parts(const table *t, char *machine, size_t len) {
    if (t->cpu_model[0] && t->cores > 0) snprintf(machine, len, "%s, %d cores", t->cpu_model, t->cores);
    else if (t->cpu_model[0]) snprintf(machine, len, "%s", t->cpu_model);
    else snprintf(machine, len, "unknown");
}

static void write_md(const table *t, FILE *out) {
    char machine[256], buf[512];
    title_parts(t, machine, sizeof machine);
    fprintf(out, "**decobench run %lld** — suite: %s — machine: %s — llama.cpp: %s",
            (long long)t->run_id, t->suite[0] ? t->suite : "?", machine,
            t->llama_commit[0] ? t->llama_commit : "?");
    if (strcmp(t->status, "completed") != 0) fprintf(out, " — status: %s", t->status);
    fputs("\n\n|", out);
    /* the speculative columns (only when some case drafted): predicted
     * speedup beside the measured one, the rest after #MAT */
    const char *heads[] = { "label", "dataset", "model", "n", "tok/s [95% CI]", "speedup [95% CI]",
                            "pred. speedup", "#MAT", "α", "k̄", "α@1..k", "c", "draft time",
                            "TTFT p50 (ms)", "TTFT p90 (ms)", "latency p50 (ms)" };
    const int nh = (int)(sizeof heads / sizeof heads[0]);
    int shown = 0;
    for (int i = 0; i < nh; i++) {
        bool sp = i == 6 || (i >= 8 && i <= 12);
        if (sp && !t->spec) continue;
        db_md_cell(out, heads[i]);
        shown++;
    }
    for (int c = 0; c < t->n_counters; c++) db_md_cell(out, t->counters[c]);
    fputs("\n|", out);
    for (int i = 0; i < shown + t->n_counters; i++) fputs(i < 3 ? "---|" : "--:|", out);
    fputc('\n', out);
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        fputc('|', out);
        db_md_cell(out, r->label);
        db_md_cell(out, r->dataset);
        db_md_cell(out, r->model);
        snprintf(buf, sizeof buf, "%d", r->n);
        db_md_cell(out, buf);
        fmt_ci_sig3(buf, sizeof buf, r->tps_med, r->tps_lo, r->tps_hi);
        db_md_cell(out, buf);
        fmt_speedup(buf, sizeof buf, r, r->baseline == i);
        db_md_cell(out, buf);
        if (t->spec) {
            fmt_fixed(buf, sizeof buf, r->pred, 2);
            db_md_cell(out, buf);
        }
        fmt_fixed(buf, sizeof buf, r->mat, 2);
        db_md_cell(out, buf);
        if (t->spec) {
            fmt_fixed(buf, sizeof buf, r->alpha, 2);
            db_md_cell(out, buf);
            fmt_fixed(buf, sizeof buf, r->kbar, 2);
            db_md_cell(out, buf);
            fmt_acc_at(buf, sizeof buf, r);
            db_md_cell(out, buf);
            fmt_fixed(buf, sizeof buf, r->cost, 3);
            db_md_cell(out, buf);
            fmt_percent(buf, sizeof buf, r->dshare, "%");
            db_md_cell(out, buf);
        }
        fmt_fixed(buf, sizeof buf, r->ttft50, 1);
        db_md_cell(out, buf);
        fmt_fixed(buf, sizeof buf, r->ttft90, 1);
        db_md_cell(out, buf);
        fmt_fixed(buf, sizeof buf, r->lat50, 1);
        db_md_cell(out, buf);
        for (int c = 0; c < t->n_counters; c++) {
            fmt_counter(buf, sizeof buf, r->cnt_med[c]);
            db_md_cell(out, buf);
        }
        fputc('\n', out);
    }
}

/* ---- CSV (RFC 4180: CRLF, quoted when needed) ----------------------------- */

static void write_csv(const table *t, FILE *out) {
    const char *heads[] = { "run_id", "label", "dataset", "model", "n", "tokens_per_s",
                            "tokens_per_s_lo", "tokens_per_s_hi", "speedup", "speedup_lo",
                            "speedup_hi", "mat", "ttft_p50_ms", "ttft_p90_ms", "latency_p50_ms",
                            "drafted", "accepted", "verify_steps", "acceptance_rate", "mean_draft_len",
                            "draft_time_share", "draft_cost_ratio", "predicted_speedup" };
    const int nh = (int)(sizeof heads / sizeof heads[0]);
    for (int i = 0; i < nh; i++) db_csv_field(out, heads[i], i == 0);
    for (int k = 0; k < t->max_pos; k++) {
        char h[32];
        snprintf(h, sizeof h, "accept_at_%d", k + 1);
        db_csv_field(out, h, 0);
    }
    for (int c = 0; c < t->n_counters; c++) db_csv_field(out, t->counters[c], 0);
    fputs("\r\n", out);
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)t->run_id);
        db_csv_field(out, buf, 1);
        db_csv_field(out, r->label, 0);
        db_csv_field(out, r->dataset, 0);
        db_csv_field(out, r->model, 0);
        snprintf(buf, sizeof buf, "%d", r->n);
        db_csv_field(out, buf, 0);
        db_csv_num(out, r->tps_med);
        db_csv_num(out, r->tps_lo);
        db_csv_num(out, r->tps_hi);
        db_csv_num(out, r->sp_med);
        db_csv_num(out, r->sp_lo);
        db_csv_num(out, r->sp_hi);
        db_csv_num(out, r->mat);
        db_csv_num(out, r->ttft50);
        db_csv_num(out, r->ttft90);
        db_csv_num(out, r->lat50);
        bool sp = r->sum_drafted > 0;
        for (int k = 0; k < 3; k++) {
            int64_t x = k == 0 ? r->sum_drafted : k == 1 ? r->sum_accepted : r->n_verify;
            snprintf(buf, sizeof buf, "%lld", (long long)x);
            db_csv_field(out, sp ? buf : "", 0);
        }
        db_csv_num(out, r->alpha);
        db_csv_num(out, r->kbar);
        db_csv_num(out, r->dshare);
        db_csv_num(out, r->cost);
        db_csv_num(out, r->pred);
        for (int k = 0; k < t->max_pos; k++) db_csv_num(out, k < r->n_pos ? r->acc_at[k] : NAN);
        for (int c = 0; c < t->n_counters; c++) db_csv_num(out, r->cnt_med[c]);
        fputs("\r\n", out);
    }
}

/* ---- LaTeX (booktabs) ------------------------------------------------------ */

static void write_latex(const table *t, FILE *out) {
    char machine[256], buf[128];
    title_parts(t, machine, sizeof machine);
    fprintf(out, "%% decobench run %lld -- suite: %s -- machine: %s -- llama.cpp: %s\n",
            (long long)t->run_id, t->suite, machine, t->llama_commit);
    fputs("% requires \\usepackage{booktabs}\n\\begin{tabular}{lll", out);
    for (int i = 0; i < 7 + (t->spec ? 6 : 0) + t->n_counters; i++) fputc('r', out);
    fputs("}\n\\toprule\n", out);
    fputs("Label & Dataset & Model & $n$ & tok/s [95\\% CI] & Speedup [95\\% CI]", out);
    if (t->spec) fputs(" & Pred.\\ speedup", out);
    fputs(" & \\#MAT", out);
    if (t->spec) fputs(" & $\\alpha$ & $\\bar{k}$ & $\\alpha_{1..k}$ & $c$ & Draft time", out);
    fputs(" & TTFT p50 (ms) & TTFT p90 (ms) & Latency p50 (ms)", out);
    for (int c = 0; c < t->n_counters; c++) {
        fputs(" & ", out);
        db_tex_text(out, t->counters[c]);
    }
    fputs(" \\\\\n\\midrule\n", out);
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        db_tex_text(out, r->label);
        fputs(" & ", out);
        db_tex_text(out, r->dataset);
        fputs(" & ", out);
        db_tex_text(out, r->model);
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
        if (t->spec) {
            fmt_fixed(buf, sizeof buf, r->pred, 2);
            fprintf(out, " & %s", strcmp(buf, "-") ? buf : "--");
        }
        fmt_fixed(buf, sizeof buf, r->mat, 2);
        fprintf(out, " & %s", strcmp(buf, "-") ? buf : "--");
        if (t->spec) {
            char sb[5][512];
            fmt_fixed(sb[0], sizeof sb[0], r->alpha, 2);
            fmt_fixed(sb[1], sizeof sb[1], r->kbar, 2);
            fmt_acc_at(sb[2], sizeof sb[2], r);
            fmt_fixed(sb[3], sizeof sb[3], r->cost, 3);
            fmt_percent(sb[4], sizeof sb[4], r->dshare, "\\%");
            for (int k = 0; k < 5; k++) fprintf(out, " & %s", strcmp(sb[k], "-") ? sb[k] : "--");
        }
        double fx[3] = { r->ttft50, r->ttft90, r->lat50 };
        for (int k = 0; k < 3; k++) {
            fmt_fixed(buf, sizeof buf, fx[k], 1);
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
        bool sp = r->sum_drafted > 0;
        cJSON_AddItemToObject(o, "drafted", sp ? cJSON_CreateNumber((double)r->sum_drafted) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "accepted", sp ? cJSON_CreateNumber((double)r->sum_accepted) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "verify_steps", sp ? cJSON_CreateNumber((double)r->n_verify) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "acceptance_rate", jnum(r->alpha));
        cJSON_AddItemToObject(o, "mean_draft_len", jnum(r->kbar));
        cJSON_AddItemToObject(o, "draft_time_share", jnum(r->dshare));
        cJSON_AddItemToObject(o, "draft_cost_ratio", jnum(r->cost));
        cJSON_AddItemToObject(o, "predicted_speedup", jnum(r->pred));
        if (sp) {
            cJSON *aa = cJSON_AddArrayToObject(o, "accept_at");
            for (int k = 0; k < r->n_pos && aa; k++) cJSON_AddItemToArray(aa, jnum(r->acc_at[k]));
        } else cJSON_AddNullToObject(o, "accept_at");
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

/* ---- pivot by category (Spec-Bench layout) ---------------------------------- */

/* Spec-Bench's columns: the 8 MT-bench categories merged into "multi-turn",
 * then its other task categories, in this order */
static const char *const MT_BENCH[] = { "writing", "roleplay", "reasoning", "math",
                                        "coding", "extraction", "stem", "humanities" };
static const char *const SPEC_BENCH_COLS[] = { "multi-turn", "translation", "summarization",
                                               "qa", "math_reasoning", "rag" };
#define N_FIXED ((int)(sizeof SPEC_BENCH_COLS / sizeof SPEC_BENCH_COLS[0]))
#define OVERALL "overall"

static bool ieq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y) return false;
    }
    return *a == *b;
}

/* the column a sample category belongs to */
static const char *category_column(const char *cat) {
    for (size_t i = 0; i < sizeof MT_BENCH / sizeof MT_BENCH[0]; i++)
        if (ieq(cat, MT_BENCH[i])) return SPEC_BENCH_COLS[0];
    for (int i = 0; i < N_FIXED; i++)
        if (ieq(cat, SPEC_BENCH_COLS[i])) return SPEC_BENCH_COLS[i];
    if (!cat[0]) return "(none)";
    if (ieq(cat, OVERALL)) return "(" OVERALL ")";
    return cat;
}

typedef struct cell {
    int n;
    double sp, lo, hi, mat;
} cell;

typedef struct pivot {
    const char **cols;   /* display order, OVERALL last; strings owned by the table */
    int n_cols;
    cell *cells;         /* n_rows × n_cols */
    bool multi;          /* more than one dataset/model: show those columns */
} pivot;

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void pivot_free(pivot *p) {
    free(p->cols);
    free(p->cells);
}

static int col_index(const pivot *p, const char *name) {
    for (int c = 0; c < p->n_cols; c++)
        if (strcmp(p->cols[c], name) == 0) return c;
    return -1;
}

static int compute_pivot(const table *t, uint64_t seed, pivot *p, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    size_t total = 0;
    for (int i = 0; i < t->n_rows; i++) total += (size_t)t->rows[i].n;
    const char **extra = calloc(total + 1, sizeof *extra);
    p->cols = calloc((size_t)N_FIXED + total + 1, sizeof *p->cols);
    if (!extra || !p->cols) {
        free(extra);
        return db_errf(err, errlen, "out of memory");
    }
    bool fixed[N_FIXED] = { false };
    size_t n_extra = 0;
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        if (strcmp(r->dataset, t->rows[0].dataset) || strcmp(r->model, t->rows[0].model)) p->multi = true;
        for (int k = 0; k < r->n; k++) {
            const char *c = category_column(r->cat[k]);
            bool f = false;
            for (int j = 0; j < N_FIXED && !f; j++)
                if (c == SPEC_BENCH_COLS[j]) fixed[j] = f = true;
            if (f) continue;
            size_t j = 0;
            while (j < n_extra && strcmp(extra[j], c) != 0) j++;
            if (j == n_extra) extra[n_extra++] = c;
        }
    }
    qsort(extra, n_extra, sizeof *extra, str_cmp);
    for (int j = 0; j < N_FIXED; j++)
        if (fixed[j]) p->cols[p->n_cols++] = SPEC_BENCH_COLS[j];
    for (size_t j = 0; j < n_extra; j++) p->cols[p->n_cols++] = extra[j];
    free(extra);
    if (total > 0) p->cols[p->n_cols++] = OVERALL;
    size_t ncell = (size_t)t->n_rows * (size_t)(p->n_cols > 0 ? p->n_cols : 1);
    p->cells = calloc(ncell, sizeof *p->cells);
    double *v = malloc((total + 1) * sizeof *v);
    if (!p->cells || !v) {
        free(v);
        return db_errf(err, errlen, "out of memory");
    }
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        const row *b = r->baseline >= 0 ? &t->rows[r->baseline] : NULL;
        uint64_t rs = db_mix64(seed ^ db_mix64((uint64_t)i));
        for (int c = 0; c < p->n_cols; c++) {
            cell *x = &p->cells[(size_t)i * (size_t)p->n_cols + (size_t)c];
            bool overall = c == p->n_cols - 1;
            int64_t sn = 0, sc = 0;
            size_t m = 0;
            x->sp = x->lo = x->hi = x->mat = NAN;
            for (int k = 0; k < r->n; k++) {
                if (!overall && col_index(p, category_column(r->cat[k])) != c) continue;
                x->n++;
                sn += r->newt[k];
                sc += r->commits[k];
                if (!b || r->baseline == i || !isfinite(r->tps[k])) continue;
                for (int j = 0; j < b->n; j++)
                    if (same_prompt(b, j, r, k)) {
                        if (isfinite(b->tps[j]) && b->tps[j] > 0) v[m++] = r->tps[k] / b->tps[j];
                        break;
                    }
            }
            if (x->n == 0) continue;
            if (sc > 0) x->mat = (double)sn / (double)sc;
            if (r->baseline == i) x->sp = x->lo = x->hi = 1.0;
            else if (m > 0) {
                x->sp = db_median(v, m);
                db_bootstrap_ci(v, m, DB_STAT_MEDIAN, 0.95, DB_REPORT_BOOTSTRAP, db_mix64(rs + 1), &x->lo, &x->hi);
            }
        }
    }
    free(v);
    return 0;
}

static const cell *cell_at(const table *t, const pivot *p, int i, int c) {
    (void)t;
    return &p->cells[(size_t)i * (size_t)p->n_cols + (size_t)c];
}

/* "1.85× / 2.31"; times is "×" or "$\times$", dash "-" or "--" */
static void fmt_cell(char *buf, size_t len, const cell *x, const char *times, const char *dash) {
    if (x->n == 0) {
        snprintf(buf, len, "%s", dash);
        return;
    }
    char a[32], b[32];
    if (isfinite(x->sp)) snprintf(a, sizeof a, "%.2f%s", x->sp, times);
    else snprintf(a, sizeof a, "%s", dash);
    if (isfinite(x->mat)) snprintf(b, sizeof b, "%.2f", x->mat);
    else snprintf(b, sizeof b, "%s", dash);
    snprintf(buf, len, "%s / %s", a, b);
}

static void pivot_md(const table *t, const pivot *p, FILE *out) {
    char machine[256], buf[128];
    title_parts(t, machine, sizeof machine);
    fprintf(out, "**decobench run %lld** — suite: %s — machine: %s — llama.cpp: %s — by category",
            (long long)t->run_id, t->suite[0] ? t->suite : "?", machine,
            t->llama_commit[0] ? t->llama_commit : "?");
    if (strcmp(t->status, "completed") != 0) fprintf(out, " — status: %s", t->status);
    fputs("\n\n|", out);
    int lead = p->multi ? 3 : 1;
    db_md_cell(out, "label");
    if (p->multi) {
        db_md_cell(out, "dataset");
        db_md_cell(out, "model");
    }
    for (int c = 0; c < p->n_cols; c++) db_md_cell(out, p->cols[c]);
    fputs("\n|", out);
    for (int i = 0; i < lead + p->n_cols; i++) fputs(i < lead ? "---|" : "--:|", out);
    fputc('\n', out);
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        fputc('|', out);
        db_md_cell(out, r->label);
        if (p->multi) {
            db_md_cell(out, r->dataset);
            db_md_cell(out, r->model);
        }
        for (int c = 0; c < p->n_cols; c++) {
            fmt_cell(buf, sizeof buf, cell_at(t, p, i, c), "×", "-");
            db_md_cell(out, buf);
        }
        fputc('\n', out);
    }
    fprintf(out, "\nCell: speedup (median of per-prompt tokens/s ratios against %s) / #MAT.\n",
            t->baseline_key ? t->baseline_key : "no baseline");
}

static void pivot_csv(const table *t, const pivot *p, FILE *out) {
    const char *heads[] = { "run_id", "label", "dataset", "model", "category", "n", "speedup",
                            "speedup_lo", "speedup_hi", "mat" };
    for (int i = 0; i < (int)(sizeof heads / sizeof heads[0]); i++) db_csv_field(out, heads[i], i == 0);
    fputs("\r\n", out);
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        for (int c = 0; c < p->n_cols; c++) {
            const cell *x = cell_at(t, p, i, c);
            if (x->n == 0) continue;
            char buf[32];
            snprintf(buf, sizeof buf, "%lld", (long long)t->run_id);
            db_csv_field(out, buf, 1);
            db_csv_field(out, r->label, 0);
            db_csv_field(out, r->dataset, 0);
            db_csv_field(out, r->model, 0);
            db_csv_field(out, p->cols[c], 0);
            snprintf(buf, sizeof buf, "%d", x->n);
            db_csv_field(out, buf, 0);
            db_csv_num(out, x->sp);
            db_csv_num(out, x->lo);
            db_csv_num(out, x->hi);
            db_csv_num(out, x->mat);
            fputs("\r\n", out);
        }
    }
}

static void pivot_latex(const table *t, const pivot *p, FILE *out) {
    char machine[256], buf[128];
    title_parts(t, machine, sizeof machine);
    fprintf(out, "%% decobench run %lld -- suite: %s -- machine: %s -- llama.cpp: %s -- by category\n",
            (long long)t->run_id, t->suite, machine, t->llama_commit);
    fprintf(out, "%% cell: speedup against %s / \\#MAT\n", t->baseline_key ? t->baseline_key : "no baseline");
    fputs("% requires \\usepackage{booktabs}\n\\begin{tabular}{", out);
    fputs(p->multi ? "lll" : "l", out);
    for (int c = 0; c < p->n_cols; c++) fputc('r', out);
    fputs("}\n\\toprule\nLabel", out);
    if (p->multi) fputs(" & Dataset & Model", out);
    for (int c = 0; c < p->n_cols; c++) {
        fputs(" & ", out);
        db_tex_text(out, p->cols[c]);
    }
    fputs(" \\\\\n\\midrule\n", out);
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        db_tex_text(out, r->label);
        if (p->multi) {
            fputs(" & ", out);
            db_tex_text(out, r->dataset);
            fputs(" & ", out);
            db_tex_text(out, r->model);
        }
        for (int c = 0; c < p->n_cols; c++) {
            fmt_cell(buf, sizeof buf, cell_at(t, p, i, c), "$\\times$", "--");
            fprintf(out, " & %s", buf);
        }
        fputs(" \\\\\n", out);
    }
    fputs("\\bottomrule\n\\end{tabular}\n", out);
}

static int pivot_json(const table *t, const pivot *p, FILE *out, char *err, size_t errlen) {
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
    cJSON_AddStringToObject(root, "by", "category");
    cJSON *cols = cJSON_AddArrayToObject(root, "columns");
    for (int c = 0; c < p->n_cols && cols; c++) cJSON_AddItemToArray(cols, cJSON_CreateString(p->cols[c]));
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
        cJSON_AddBoolToObject(o, "is_baseline", r->baseline == i);
        cJSON *cells = cJSON_AddObjectToObject(o, "cells");
        for (int c = 0; c < p->n_cols && cells; c++) {
            const cell *x = cell_at(t, p, i, c);
            if (x->n == 0) {
                cJSON_AddNullToObject(cells, p->cols[c]);
                continue;
            }
            cJSON *e = cJSON_AddObjectToObject(cells, p->cols[c]);
            if (!e) break;
            cJSON_AddNumberToObject(e, "n", x->n);
            cJSON_AddItemToObject(e, "speedup", jnum(x->sp));
            if (isfinite(x->lo))
                cJSON_AddItemToObject(e, "speedup_ci", cJSON_CreateDoubleArray((double[]){ x->lo, x->hi }, 2));
            else cJSON_AddNullToObject(e, "speedup_ci");
            cJSON_AddItemToObject(e, "mat", jnum(x->mat));
        }
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return db_errf(err, errlen, "out of memory");
    fputs(text, out);
    fputc('\n', out);
    free(text);
    return 0;
}

static int write_pivot(const table *t, const char *fmt, uint64_t seed, FILE *out, char *err, size_t errlen) {
    pivot p;
    int rc = compute_pivot(t, seed, &p, err, errlen);
    if (rc == 0) {
        if (!strcmp(fmt, "md")) pivot_md(t, &p, out);
        else if (!strcmp(fmt, "csv")) pivot_csv(t, &p, out);
        else if (!strcmp(fmt, "latex")) pivot_latex(t, &p, out);
        else rc = pivot_json(t, &p, out, err, errlen);
    }
    pivot_free(&p);
    return rc;
}

/* ---- for the other writers (table_data.h) ----------------------------------- */

int db_table_load(sqlite3 *db, int64_t run_id, uint64_t seed, db_table *t, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    if (load_run(db, run_id, t, err, errlen) != 0 || load_counters(db, t, err, errlen) != 0 ||
        load_cases(db, t, err, errlen) != 0)
        return -1;
    pick_baselines(t);
    return compute(t, seed, err, errlen);
}

void db_table_free(db_table *t) {
    table_free(t);
    memset(t, 0, sizeof *t);
}

void db_table_fmt_sig3(char *buf, size_t len, double v) { fmt_sig3(buf, len, v); }
void db_table_fmt_fixed(char *buf, size_t len, double v, int decimals) { fmt_fixed(buf, len, v, decimals); }
void db_table_fmt_ci(char *buf, size_t len, double med, double lo, double hi) { fmt_ci_sig3(buf, len, med, lo, hi); }
void db_table_fmt_speedup(char *buf, size_t len, const db_table_row *r, int is_baseline) {
    fmt_speedup(buf, len, r, is_baseline);
}
void db_table_fmt_counter(char *buf, size_t len, double v) { fmt_counter(buf, len, v); }
void db_table_fmt_acc_at(char *buf, size_t len, const db_table_row *r) { fmt_acc_at(buf, len, r); }
void db_table_fmt_percent(char *buf, size_t len, double v) { fmt_percent(buf, len, v, "%"); }
void db_table_machine_title(const db_table *t, char *buf, size_t len) { title_parts(t, buf, len); }

/* ---- entry ------------------------------------------------------------------ */

int db_report_format_ok(const char *name) {
    return name && (!strcmp(name, "md") || !strcmp(name, "csv") || !strcmp(name, "latex") ||
                    !strcmp(name, "json") || !strcmp(name, "html"));
}

int db_report_by_ok(const char *name) {
    return name && (!strcmp(name, "category") || !strcmp(name, "machine"));
}

int db_report_table(db_store *st, const db_report_opts *o, FILE *out, char *err, size_t errlen) {
    const char *fmt = o && o->format ? o->format : "md";
    const char *by = o ? o->by : NULL;
    if (!db_report_format_ok(fmt))
        return db_errf(err, errlen, "unknown format '%s' (expected md, csv, latex, json or html)", fmt);
    if (by && !db_report_by_ok(by))
        return db_errf(err, errlen, "unknown grouping '%s' (expected category or machine)", by);
    if (by && !strcmp(fmt, "html"))
        return db_errf(err, errlen, "format html is the whole report of a run: it takes no --by %s", by);
    sqlite3 *db = db_store_handle(st);
    if (!db) return db_errf(err, errlen, "no results database");
    uint64_t seed = o ? o->seed : DB_REPORT_DEFAULT_SEED;
    int64_t run_id = o ? o->run_id : 0;
    if (by && !strcmp(by, "machine")) return db_report_hardware(db, run_id, fmt, seed, out, err, errlen);
    if (!strcmp(fmt, "html")) return db_report_html(db, run_id, seed, out, err, errlen);
    table t;
    memset(&t, 0, sizeof t);
    int rc = -1;
    if (db_table_load(db, run_id, seed, &t, err, errlen) != 0) goto done;
    if (by) {
        if (write_pivot(&t, fmt, seed, out, err, errlen) != 0) goto done;
    } else if (!strcmp(fmt, "md")) write_md(&t, out);
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
