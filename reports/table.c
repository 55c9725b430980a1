/* table.c — the paper-style results table of one run (see report.h), read
 * from the results database and written as Markdown, CSV (RFC 4180), LaTeX
 * (booktabs) or JSON through one column table (COLS: names, headers with
 * units, which way is better; --columns picks from it), and its pivots
 * (--by category, engine, model, dataset, param:NAME) through one pivot
 * writer; its loaded and computed form (table_data.h) also feeds the HTML
 * and hardware reports, which db_report_table dispatches to.
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

#include "harness/run/identity.h"
#include "harness/util/rng.h"
#include "harness/util/stats.h"
#include "harness/util/util.h"

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
    free(t->noise);
    for (int i = 0; i < t->n_counters; i++) free(t->counters[i]);
    free(t->counters);
    for (int i = 0; i < t->n_rows; i++) {
        row *r = &t->rows[i];
        free(r->engine);
        free(r->label);
        free(r->dataset);
        free(r->model);
        free(r->params);
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
        free(r->noise);
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
    /* "latest": the latest run that ended (harness/run/store.h) */
    if (want <= 0 && db_store_pick_run(db, 0, &want, NULL, 0, err, errlen) != 0) return -1;
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
    const char *sql = "SELECT id, engine, label, dataset, model_name, params_json FROM \"case\""
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
        r->params = db_sql_text(s, 5);
        r->baseline = -1;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return db_sql_fail(db, "read cases", err, errlen);
    for (int i = 0; i < t->n_rows; i++)
        if (load_samples(db, t, &t->rows[i], err, errlen) != 0) return -1;
    /* S7 identity: the stored greedy-identity result of each case */
    for (int i = 0; i < t->n_rows; i++) {
        int nc = 0, ni = 0, f = db_identity_get(db, t->rows[i].case_id, &nc, &ni);
        if (f < 0) return db_sql_fail(db, "read identity", err, errlen);
        db_identity_format(t->rows[i].ident, sizeof t->rows[i].ident, f, nc, ni);
        if (f == 1) t->ident = true;
    }
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

/* the decimals fmt_sig3 prints v with (3 below 1) */
static int sig3_decimals(double v) {
    double a = fabs(v);
    return a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
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

/* ---- titles ---------------------------------------------------------------- */

static void title_parts(const table *t, char *machine, size_t len) {
    if (t->cpu_model[0] && t->cores > 0) snprintf(machine, len, "%s, %d cores", t->cpu_model, t->cores);
    else if (t->cpu_model[0]) snprintf(machine, len, "%s", t->cpu_model);
    else snprintf(machine, len, "unknown");
}

/* ---- JSON ------------------------------------------------------------------ */

static cJSON *jnum(double v) {
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

/* The run's identity that every JSON table starts with. */
static cJSON *json_run_header(const table *t) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
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
    db_noise_json(root, t->noise_recorded, t->noise);   /* S7 interference */
    return root;
}

static int write_json(const table *t, FILE *out, char *err, size_t errlen) {
    cJSON *root = json_run_header(t);
    if (!root) return db_errf(err, errlen, "out of memory");
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
        /* S7 identity: only for cases compared with the greedy ar baseline */
        if (r->ident[0]) cJSON_AddStringToObject(o, "identical", r->ident);
        cJSON *cc = cJSON_AddObjectToObject(o, "counters");
        for (int c = 0; c < t->n_counters && cc; c++) cJSON_AddItemToObject(cc, t->counters[c], jnum(r->cnt_med[c]));
        db_noise_json(o, t->noise_recorded, r->noise);   /* S7 interference */
    }
    return db_json_print(root, out, err, errlen);
}

/* ---- the per-case table as Markdown, CSV and LaTeX (its columns: the
 * defaults or --columns); JSON's default layout is write_json above ---------- */

/* The per-case table's columns, in default order: name (CSV/JSON key and
 * --columns name), Markdown and LaTeX headers with units, and which way is
 * better (bold in LaTeX: +1 higher, -1 lower, 0 not ranked).  Counters of
 * the run are columns too, by their names. */
typedef enum {
    C_LABEL, C_ENGINE, C_DATASET, C_MODEL, C_N, C_TPS, C_SPEEDUP, C_PRED, C_MAT, C_ALPHA, C_KBAR, C_ACC_AT,
    C_COST, C_DSHARE, C_TTFT50, C_TTFT90, C_LAT50, C_DRAFTED, C_ACCEPTED, C_VERIFY, C_NOISE, C_COUNTER,
    C_IDENT
} col_id;

typedef struct col_spec {
    col_id id;
    const char *name, *md, *tex;
    int better;
    bool spec;      /* speculative: in the default Markdown/LaTeX table only when some case drafted */
    bool dflt;      /* in the default Markdown and LaTeX tables */
} col_spec;

static const col_spec COLS[] = {
    { C_LABEL, "label", "label", "Label", 0, false, true },
    { C_ENGINE, "engine", "engine", "Engine", 0, false, false },
    { C_DATASET, "dataset", "dataset", "Dataset", 0, false, true },
    { C_MODEL, "model", "model", "Model", 0, false, true },
    { C_N, "n", "n", "$n$", 0, false, true },
    { C_TPS, "tokens_per_s", "tok/s [95% CI]", "tok/s", +1, false, true },
    { C_SPEEDUP, "speedup", "speedup [95% CI]", "Speedup", +1, false, true },
    { C_PRED, "predicted_speedup", "pred. speedup", "Pred.\\ speedup", +1, true, true },
    { C_MAT, "mat", "#MAT", "\\#MAT", +1, false, true },
    { C_ALPHA, "acceptance_rate", "α", "$\\alpha$", +1, true, true },
    { C_KBAR, "mean_draft_len", "k̄", "$\\bar{k}$", 0, true, true },
    { C_ACC_AT, "accept_at", "α@1..k", "$\\alpha_{1..k}$", 0, true, true },
    { C_COST, "draft_cost_ratio", "c", "$c$", 0, true, true },
    { C_DSHARE, "draft_time_share", "draft time", "Draft time", 0, true, true },
    { C_TTFT50, "ttft_p50_ms", "TTFT p50 (ms)", "TTFT p50 (ms)", -1, false, true },
    { C_TTFT90, "ttft_p90_ms", "TTFT p90 (ms)", "TTFT p90 (ms)", -1, false, true },
    { C_LAT50, "latency_p50_ms", "latency p50 (ms)", "Latency p50 (ms)", -1, false, true },
    { C_DRAFTED, "drafted", "drafted", "Drafted", 0, true, false },
    { C_ACCEPTED, "accepted", "accepted", "Accepted", 0, true, false },
    { C_VERIFY, "verify_steps", "verify steps", "Verify steps", 0, true, false },
    /* S7 identity: in the default tables when some case was compared */
    { C_IDENT, "identical", "identical", "Identical", 0, false, true },
    /* S7: the reasons a case was measured under interference ("" when quiet) */
    { C_NOISE, "interference", "interference", "Interference", 0, false, false },
};
#define N_COLS ((int)(sizeof COLS / sizeof COLS[0]))

/* one chosen column: a COLS entry, or counter `counter` of the run */
typedef struct col_pick {
    const col_spec *spec;
    int counter;
} col_pick;

static const col_spec COUNTER_COL = { C_COUNTER, "", "", "", 0, false, true };

static const col_spec *col_find(const char *name) {
    for (int i = 0; i < N_COLS; i++)
        if (!strcmp(COLS[i].name, name)) return &COLS[i];
    return NULL;
}

/* "label, engine, ..." and the run's counters, for error messages */
static void col_names(const table *t, char *buf, size_t len) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_COLS + t->n_counters && o + 1 < len; i++) {
        const char *s = i < N_COLS ? COLS[i].name : t->counters[i - N_COLS];
        int w = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", s);
        if (w < 0) break;
        o += (size_t)w < len - o ? (size_t)w : len - o - 1;
    }
}

/* Parse comma-separated column names into picks (malloc'd); 0, or -1 with
 * one line naming the bad name and listing the valid ones. */
static int parse_columns(const table *t, const char *csv, col_pick **out, int *n, char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    size_t cap = 1;
    for (const char *p = csv; *p; p++) cap += *p == ',';
    col_pick *picks = calloc(cap, sizeof *picks);
    if (!picks) return db_errf(err, errlen, "out of memory");
    const char *p = csv;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char name[128];
        if (l == 0 || l >= sizeof name) {
            free(picks);
            return db_errf(err, errlen, "--columns '%s': empty or over-long column name", csv);
        }
        memcpy(name, p, l);
        name[l] = '\0';
        col_pick *k = &picks[*n];
        k->spec = col_find(name);
        k->counter = k->spec ? -1 : counter_index(t, name);
        if (!k->spec && k->counter >= 0) k->spec = &COUNTER_COL;
        if (!k->spec) {
            char names[2048];
            col_names(t, names, sizeof names);
            free(picks);
            return db_errf(err, errlen, "--columns: unknown column '%s' (valid: %s)", name, names);
        }
        ++*n;
        if (!e) break;
        p = e + 1;
    }
    *out = picks;
    return 0;
}

/* CSV's default columns: every column but engine, the speculative ones always */
static const col_id CSV_DEFAULT[] = {
    C_LABEL, C_DATASET, C_MODEL, C_N, C_TPS, C_SPEEDUP, C_MAT, C_TTFT50, C_TTFT90, C_LAT50, C_DRAFTED,
    C_ACCEPTED, C_VERIFY, C_ALPHA, C_KBAR, C_DSHARE, C_COST, C_PRED, C_ACC_AT, C_IDENT,
};

/* the default columns of fmt (md, latex: those marked dflt, speculative
 * ones when some case drafted; csv: CSV_DEFAULT), then the counters */
static col_pick *default_columns(const table *t, const char *fmt, int *n) {
    col_pick *picks = calloc((size_t)(N_COLS + t->n_counters), sizeof *picks);
    *n = 0;
    if (!picks) return NULL;
    if (!strcmp(fmt, "csv")) {
        for (size_t k = 0; k < sizeof CSV_DEFAULT / sizeof CSV_DEFAULT[0]; k++)
            for (int i = 0; i < N_COLS; i++)
                if (COLS[i].id == CSV_DEFAULT[k] && (COLS[i].id != C_IDENT || t->ident))
                    picks[(*n)++] = (col_pick){ &COLS[i], -1 };
        if (t->noise_recorded) picks[(*n)++] = (col_pick){ col_find("interference"), -1 };   /* S7 */
    } else {
        for (int i = 0; i < N_COLS; i++)
            if (COLS[i].dflt && (!COLS[i].spec || t->spec) && (COLS[i].id != C_IDENT || t->ident))
                picks[(*n)++] = (col_pick){ &COLS[i], -1 };
    }
    for (int c = 0; c < t->n_counters; c++) picks[(*n)++] = (col_pick){ &COUNTER_COL, c };
    return picks;
}

static const char *col_name(const table *t, const col_pick *k) {
    return k->spec->id == C_COUNTER ? t->counters[k->counter] : k->spec->name;
}

/* a numeric column's value in row i, with its 95% CI where it has one */
static double col_value(const table *t, int i, const col_pick *k, double *lo, double *hi) {
    const row *r = &t->rows[i];
    bool sp = r->sum_drafted > 0;
    *lo = *hi = NAN;
    switch (k->spec->id) {
    case C_N: return r->n;
    case C_TPS: *lo = r->tps_lo; *hi = r->tps_hi; return r->tps_med;
    case C_SPEEDUP:
        if (r->baseline == i) return 1.0;
        *lo = r->sp_lo; *hi = r->sp_hi;
        return r->sp_med;
    case C_PRED: return r->pred;
    case C_MAT: return r->mat;
    case C_ALPHA: return r->alpha;
    case C_KBAR: return r->kbar;
    case C_COST: return r->cost;
    case C_DSHARE: return r->dshare;
    case C_TTFT50: return r->ttft50;
    case C_TTFT90: return r->ttft90;
    case C_LAT50: return r->lat50;
    case C_DRAFTED: return sp ? (double)r->sum_drafted : NAN;
    case C_ACCEPTED: return sp ? (double)r->sum_accepted : NAN;
    case C_VERIFY: return sp ? (double)r->n_verify : NAN;
    case C_COUNTER: return r->cnt_med[k->counter];
    default: return NAN;
    }
}

static bool col_is_text(col_id id) {
    return id == C_LABEL || id == C_ENGINE || id == C_DATASET || id == C_MODEL || id == C_IDENT || id == C_NOISE;
}

static const char *col_text(const row *r, col_id id) {
    if (id == C_NOISE) return r->noise ? r->noise : "";
    return id == C_LABEL ? r->label : id == C_ENGINE ? r->engine : id == C_DATASET ? r->dataset
         : id == C_IDENT ? r->ident : r->model;
}

/* a cell as the Markdown table prints it ("-" where not applicable) */
static void col_cell(const table *t, int i, const col_pick *k, char *buf, size_t len) {
    const row *r = &t->rows[i];
    double lo, hi, v = col_value(t, i, k, &lo, &hi);
    switch (k->spec->id) {
    case C_N: case C_DRAFTED: case C_ACCEPTED: case C_VERIFY:
        if (isfinite(v)) snprintf(buf, len, "%.0f", v);
        else snprintf(buf, len, "-");
        break;
    case C_TPS: fmt_ci_sig3(buf, len, v, lo, hi); break;
    case C_SPEEDUP: fmt_speedup(buf, len, r, r->baseline == i); break;
    case C_COST: fmt_fixed(buf, len, v, 3); break;
    case C_DSHARE: fmt_percent(buf, len, v, "%"); break;
    case C_ACC_AT: fmt_acc_at(buf, len, r); break;
    case C_TTFT50: case C_TTFT90: case C_LAT50: fmt_fixed(buf, len, v, 1); break;
    case C_COUNTER: fmt_counter(buf, len, v); break;
    default: fmt_fixed(buf, len, v, 2); break;
    }
}

static void title_line(const table *t, const char *by, FILE *out) {
    char machine[256];
    title_parts(t, machine, sizeof machine);
    /* stored text is escaped (db_md_text): a suite name is no Markdown or HTML */
    fprintf(out, "**decobench run %lld** — suite: ", (long long)t->run_id);
    db_md_text(out, t->suite[0] ? t->suite : "?");
    fputs(" — machine: ", out);
    db_md_text(out, machine);
    fputs(" — llama.cpp: ", out);
    db_md_text(out, t->llama_commit[0] ? t->llama_commit : "?");
    if (by) {
        fputs(" — by ", out);
        db_md_text(out, by);
    }
    if (strcmp(t->status, "completed") != 0) {
        fputs(" — status: ", out);
        db_md_text(out, t->status);
    }
    if (t->noise) fputs(" — " DB_NOISE_MARK " measured under interference", out);   /* S7 */
}

static void columns_md(const table *t, const col_pick *cols, int n, FILE *out) {
    char buf[512];
    title_line(t, NULL, out);
    fputs("\n\n|", out);
    for (int c = 0; c < n; c++) db_md_cell(out, cols[c].spec->id == C_COUNTER ? col_name(t, &cols[c]) : cols[c].spec->md);
    fputs("\n|", out);
    for (int c = 0; c < n; c++) fputs(col_is_text(cols[c].spec->id) ? "---|" : "--:|", out);
    fputc('\n', out);
    for (int i = 0; i < t->n_rows; i++) {
        fputc('|', out);
        for (int c = 0; c < n; c++) {
            if (cols[c].spec->id == C_LABEL && t->rows[i].noise) {   /* S7: marked, footnote below */
                snprintf(buf, sizeof buf, "%s " DB_NOISE_MARK, t->rows[i].label);
                db_md_cell(out, buf);
            } else if (col_is_text(cols[c].spec->id)) db_md_cell(out, col_text(&t->rows[i], cols[c].spec->id));
            else {
                col_cell(t, i, &cols[c], buf, sizeof buf);
                db_md_cell(out, buf);
            }
        }
        fputc('\n', out);
    }
    db_noise_footnote_md(t, out);   /* S7 interference */
}

/* CSV: full precision; a column with a CI adds NAME_lo and NAME_hi, accept_at
 * one column per draft position */
static void columns_csv(const table *t, const col_pick *cols, int n, FILE *out) {
    char h[160];
    db_csv_field(out, "run_id", 1);
    for (int c = 0; c < n; c++) {
        col_id id = cols[c].spec->id;
        if (id == C_ACC_AT) {
            for (int k = 0; k < t->max_pos; k++) {
                snprintf(h, sizeof h, "accept_at_%d", k + 1);
                db_csv_field(out, h, 0);
            }
            continue;
        }
        db_csv_field(out, col_name(t, &cols[c]), 0);
        if (id == C_TPS || id == C_SPEEDUP) {
            snprintf(h, sizeof h, "%s_lo", cols[c].spec->name);
            db_csv_field(out, h, 0);
            snprintf(h, sizeof h, "%s_hi", cols[c].spec->name);
            db_csv_field(out, h, 0);
        }
    }
    fputs("\r\n", out);
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        snprintf(h, sizeof h, "%lld", (long long)t->run_id);
        db_csv_field(out, h, 1);
        for (int c = 0; c < n; c++) {
            col_id id = cols[c].spec->id;
            double lo, hi;
            if (col_is_text(id)) db_csv_field(out, col_text(r, id), 0);
            else if (id == C_ACC_AT)
                for (int k = 0; k < t->max_pos; k++) db_csv_num(out, k < r->n_pos ? r->acc_at[k] : NAN);
            else if (id == C_SPEEDUP) {   /* as the default CSV: the baseline's own CI is [1, 1] */
                db_csv_num(out, r->sp_med);
                db_csv_num(out, r->sp_lo);
                db_csv_num(out, r->sp_hi);
            } else {
                db_csv_num(out, col_value(t, i, &cols[c], &lo, &hi));
                if (id == C_TPS) {
                    db_csv_num(out, lo);
                    db_csv_num(out, hi);
                }
            }
        }
        fputs("\r\n", out);
    }
}

static int columns_json(const table *t, const col_pick *cols, int n, FILE *out, char *err, size_t errlen) {
    cJSON *root = json_run_header(t);
    if (!root) return db_errf(err, errlen, "out of memory");
    cJSON *cn = cJSON_AddArrayToObject(root, "columns");
    for (int c = 0; c < n && cn; c++) cJSON_AddItemToArray(cn, cJSON_CreateString(col_name(t, &cols[c])));
    cJSON *rows = cJSON_AddArrayToObject(root, "rows");
    for (int i = 0; i < t->n_rows && rows; i++) {
        const row *r = &t->rows[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(rows, o);
        cJSON_AddNumberToObject(o, "case_id", (double)r->case_id);
        bool noise_col = false;   /* S7 interference: the object, unless chosen as a text column */
        for (int c = 0; c < n; c++) noise_col |= cols[c].spec->id == C_NOISE;
        if (!noise_col) db_noise_json(o, t->noise_recorded, r->noise);
        for (int c = 0; c < n; c++) {
            col_id id = cols[c].spec->id;
            const char *key = col_name(t, &cols[c]);
            double lo, hi;
            if (col_is_text(id)) cJSON_AddStringToObject(o, key, col_text(r, id));
            else if (id == C_ACC_AT) {
                if (r->sum_drafted > 0) {
                    cJSON *aa = cJSON_AddArrayToObject(o, key);
                    for (int k = 0; k < r->n_pos && aa; k++) cJSON_AddItemToArray(aa, jnum(r->acc_at[k]));
                } else cJSON_AddNullToObject(o, key);
            } else {
                double v = col_value(t, i, &cols[c], &lo, &hi);
                if (id == C_SPEEDUP) v = r->sp_med, lo = r->sp_lo, hi = r->sp_hi;
                cJSON_AddItemToObject(o, key, jnum(v));
                if (id == C_TPS || id == C_SPEEDUP) {
                    char k2[64];
                    snprintf(k2, sizeof k2, "%s_ci", key);
                    if (isfinite(lo) && isfinite(hi))
                        cJSON_AddItemToObject(o, k2, cJSON_CreateDoubleArray((double[]){ lo, hi }, 2));
                    else cJSON_AddNullToObject(o, k2);
                }
            }
        }
    }
    return db_json_print(root, out, err, errlen);
}

/* a numeric LaTeX cell's value text, without CI ("-" when not applicable) */
static void latex_value(const table *t, int i, const col_pick *k, char *buf, size_t len) {
    double lo, hi, v = col_value(t, i, k, &lo, &hi);
    switch (k->spec->id) {
    case C_TPS: fmt_sig3(buf, len, v); break;
    case C_SPEEDUP: fmt_fixed(buf, len, v, 2); break;
    case C_DSHARE: fmt_percent(buf, len, v, "\\%"); break;
    default: col_cell(t, i, k, buf, len); break;
    }
}

/* the row holding the best finite value of a ranked column, -1 when none */
static int col_best_row(const table *t, const col_pick *k) {
    double best = NAN, lo, hi;
    int at = -1;
    if (k->spec->better == 0) return -1;
    for (int i = 0; i < t->n_rows; i++) {
        double v = col_value(t, i, k, &lo, &hi);
        if (!isfinite(v)) continue;
        if (at < 0 || (k->spec->better > 0 ? v > best : v < best)) best = v, at = i;
    }
    return at;
}

/* whether some row of the column prints other than best (else nothing to mark) */
static bool col_ranks(const table *t, const col_pick *k, const char *best) {
    char buf[512];
    for (int i = 0; i < t->n_rows; i++) {
        latex_value(t, i, k, buf, sizeof buf);
        if (strcmp(buf, "-") && strcmp(buf, best)) return true;
    }
    return false;
}

/* LaTeX (booktabs): per ranked column the best value in bold (compared as
 * printed, so ties are all bold); tokens/s and speedup with "± half-width"
 * of their 95% CI */
static void columns_latex(const table *t, const col_pick *cols, int n, FILE *out) {
    char machine[256], buf[512], best[512];
    title_parts(t, machine, sizeof machine);
    db_tex_commentf(out, "%% decobench run %lld -- suite: %s -- machine: %s -- llama.cpp: %s",
                    (long long)t->run_id, t->suite, machine, t->llama_commit);
    fputs("% bold: best per column; tok/s and speedup: median $\\pm$ half-width of the 95% bootstrap CI\n", out);
    fputs("% requires \\usepackage{booktabs}\n\\begin{tabular}{", out);
    for (int c = 0; c < n; c++) fputc(col_is_text(cols[c].spec->id) ? 'l' : 'r', out);
    fputs("}\n\\toprule\n", out);
    for (int c = 0; c < n; c++) {
        if (c) fputs(" & ", out);
        if (cols[c].spec->id == C_COUNTER) db_tex_text(out, col_name(t, &cols[c]));
        else fputs(cols[c].spec->tex, out);
    }
    fputs(" \\\\\n\\midrule\n", out);
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        for (int c = 0; c < n; c++) {
            const col_pick *k = &cols[c];
            col_id id = k->spec->id;
            if (c) fputs(" & ", out);
            if (col_is_text(id)) {
                db_tex_text(out, col_text(r, id));
                if (id == C_LABEL && r->noise) fputs("$^\\dagger$", out);   /* S7 interference */
                continue;
            }
            latex_value(t, i, k, buf, sizeof buf);
            if (!strcmp(buf, "-")) {
                fputs("--", out);
                continue;
            }
            int b = col_best_row(t, k);
            if (b >= 0) latex_value(t, b, k, best, sizeof best);
            if (b >= 0 && !strcmp(buf, best) && col_ranks(t, k, best)) fprintf(out, "\\textbf{%s}", buf);
            else fputs(buf, out);
            double lo, hi, v = col_value(t, i, k, &lo, &hi);
            if ((id == C_TPS || id == C_SPEEDUP) && isfinite(lo) && isfinite(hi)) {
                char hw[32];
                fmt_fixed(hw, sizeof hw, (hi - lo) / 2, id == C_TPS ? sig3_decimals(v) : 2);
                fprintf(out, " $\\pm$ %s", hw);
            }
        }
        fputs(" \\\\\n", out);
    }
    fputs("\\bottomrule\n\\end{tabular}\n", out);
    db_noise_footnote_tex(t, out);   /* S7 interference */
}

static int write_columns(const table *t, const char *fmt, const char *names, FILE *out, char *err, size_t errlen) {
    col_pick *cols = NULL;
    int n = 0;
    if (names) {
        if (parse_columns(t, names, &cols, &n, err, errlen) != 0) return -1;
    } else if (!(cols = default_columns(t, fmt, &n))) return db_errf(err, errlen, "out of memory");
    int rc = 0;
    if (!strcmp(fmt, "md")) columns_md(t, cols, n, out);
    else if (!strcmp(fmt, "csv")) columns_csv(t, cols, n, out);
    else if (!strcmp(fmt, "latex")) columns_latex(t, cols, n, out);
    else rc = columns_json(t, cols, n, out, err, errlen);
    free(cols);
    return rc;
}

/* ---- pivots (--by category|engine|model|dataset|param:NAME) ------------------ */

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

/* what the columns are: sample categories (category, engine) or a property
 * of the case (model, dataset, a parameter) */
typedef enum { BY_CATEGORY, BY_ENGINE, BY_MODEL, BY_DATASET, BY_PARAM } by_kind;

/* what a cell shows besides "speedup× / #MAT" (--cell) */
typedef enum { CELL_DEFAULT, CELL_SPEEDUP, CELL_MAT, CELL_TPS, CELL_TTFT, CELL_LAT } cell_kind;

static const struct {
    const char *name;   /* a column name of COLS */
    cell_kind kind;
} CELL_METRICS[] = {
    { "speedup", CELL_SPEEDUP }, { "mat", CELL_MAT }, { "tokens_per_s", CELL_TPS },
    { "ttft_p50_ms", CELL_TTFT }, { "latency_p50_ms", CELL_LAT },
};
#define N_CELL_METRICS ((int)(sizeof CELL_METRICS / sizeof CELL_METRICS[0]))

typedef struct cell {
    int n;
    bool baseline;             /* every case of the cell is its own baseline */
    double sp, lo, hi, mat;    /* speedup with its CI, pooled #MAT */
    double v, vlo, vhi;        /* the --cell metric (NaN CI where it has none) */
} cell;

typedef struct prow {
    char *label;          /* row label: case label, or engine + other parameters */
    const char *dataset, *model, *engine;
    int first;            /* first case of the row (bootstrap seed, baseline flag) */
    bool baseline;
} prow;

typedef struct pivot {
    by_kind by;
    const char *param;    /* BY_PARAM: the parameter */
    const char *dim;      /* the columns' name: "category", "model", "dataset" or the parameter */
    cell_kind ck;
    const col_spec *cspec;   /* the --cell metric's column (header, direction) */
    char **cols;          /* display order; OVERALL last for categories */
    int n_cols;
    prow *rows;
    int n_rows;
    int *case_row, *case_col;   /* per case: its pivot row; its column (-1: per sample, categories) */
    cell *cells;          /* n_rows × n_cols */
    bool show_dataset, show_model;
    char **row_noise;     /* S7: per row, the interference reasons of its cases (NULL: quiet) */
} pivot;

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void pivot_free(pivot *p) {
    for (int c = 0; c < p->n_cols; c++) free(p->cols[c]);
    free(p->cols);
    for (int i = 0; i < p->n_rows; i++) free(p->rows[i].label);
    free(p->rows);
    free(p->case_row);
    free(p->case_col);
    free(p->cells);
    for (int i = 0; p->row_noise && i < p->n_rows; i++) free(p->row_noise[i]);
    free(p->row_noise);
}

/* S7 interference: the reasons of the cases in pivot row pr and, for c >= 0,
 * in its column c ("; "-joined, malloc'd; NULL when none was flagged) */
static int pivot_cell_noise(const table *t, const pivot *p, int pr, int c, char **out) {
    *out = NULL;
    for (int i = 0; i < t->n_rows; i++) {
        if (p->case_row[i] != pr || !t->rows[i].noise) continue;
        if (c >= 0 && p->case_col[i] >= 0 && p->case_col[i] != c) continue;
        if (db_noise_union(out, t->rows[i].noise) != 0) {
            free(*out);
            *out = NULL;
            return -1;
        }
    }
    return 0;
}

static int pivot_noise(const table *t, pivot *p, char *err, size_t errlen) {
    if (!t->noise_recorded || p->n_rows == 0) return 0;
    p->row_noise = calloc((size_t)p->n_rows, sizeof *p->row_noise);
    if (!p->row_noise) return db_errf(err, errlen, "out of memory");
    for (int i = 0; i < p->n_rows; i++)
        if (pivot_cell_noise(t, p, i, -1, &p->row_noise[i]) != 0) return db_errf(err, errlen, "out of memory");
    return 0;
}

static const char *pivot_row_noise(const pivot *p, int i) {
    return p->row_noise ? p->row_noise[i] : NULL;
}

static int col_index(const pivot *p, const char *name) {
    for (int c = 0; c < p->n_cols; c++)
        if (strcmp(p->cols[c], name) == 0) return c;
    return -1;
}

/* a parameter value as text: strings bare, numbers shortest, else JSON */
static char *param_text(const cJSON *v) {
    if (!v) return db_strdup("(unset)");
    if (cJSON_IsString(v)) return db_strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        char b[40];
        db_fmt_full(b, sizeof b, v->valuedouble);
        return db_strdup(b);
    }
    char *s = cJSON_PrintUnformatted(v);
    return s ? s : db_strdup("?");
}

/* "engine k1=v1 k2=v2": the case's parameters other than skip, keys sorted */
static char *param_row_label(const row *r, const cJSON *params, const char *skip) {
    const char *keys[64];
    int nk = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, params) {
        if (nk < 64 && it->string && strcmp(it->string, skip) != 0) keys[nk++] = it->string;
    }
    qsort(keys, (size_t)nk, sizeof *keys, str_cmp);
    char *out = db_strdup(r->engine);
    for (int i = 0; i < nk && out; i++) {
        char *v = param_text(cJSON_GetObjectItemCaseSensitive(params, keys[i]));
        size_t l = strlen(out) + strlen(keys[i]) + strlen(v) + 3;
        char *o2 = malloc(l);
        if (o2) snprintf(o2, l, "%s %s=%s", out, keys[i], v);
        free(v);
        free(out);
        out = o2;
    }
    return out;
}

static int add_col(pivot *p, const char *name) {
    int c = col_index(p, name);
    if (c >= 0) return c;
    char *s = db_strdup(name);
    if (!s) return -1;
    p->cols[p->n_cols] = s;
    return p->n_cols++;
}

/* category columns: Spec-Bench's first, then others alphabetically, then overall */
static int category_columns(const table *t, pivot *p, size_t total) {
    const char **extra = calloc(total + 1, sizeof *extra);
    if (!extra) return -1;
    bool fixed[N_FIXED] = { false };
    size_t n_extra = 0;
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
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
    int rc = 0;
    for (int j = 0; j < N_FIXED && rc == 0; j++)
        if (fixed[j] && add_col(p, SPEC_BENCH_COLS[j]) < 0) rc = -1;
    for (size_t j = 0; j < n_extra && rc == 0; j++)
        if (add_col(p, extra[j]) < 0) rc = -1;
    if (rc == 0 && total > 0 && add_col(p, OVERALL) < 0) rc = -1;
    free(extra);
    return rc;
}

/* numeric parameter values sort as numbers */
static int num_text_cmp(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    double u = strtod(x, NULL), v = strtod(y, NULL);
    return u < v ? -1 : u > v;
}

static bool is_numeric(const char *s) {
    char *e;
    strtod(s, &e);
    return e != s && !*e;
}

/* rows and columns of the pivot; each case belongs to one row */
static int pivot_layout(const table *t, pivot *p, char *err, size_t errlen) {
    size_t total = 0;
    for (int i = 0; i < t->n_rows; i++) total += (size_t)t->rows[i].n;
    size_t nr = t->n_rows > 0 ? (size_t)t->n_rows : 1;
    p->cols = calloc((size_t)N_FIXED + total + nr + 1, sizeof *p->cols);
    p->rows = calloc(nr, sizeof *p->rows);
    p->case_row = calloc(nr, sizeof *p->case_row);
    p->case_col = calloc(nr, sizeof *p->case_col);
    int *order = calloc(nr, sizeof *order);
    char **keys = calloc(nr, sizeof *keys);
    if (!p->cols || !p->rows || !p->case_row || !p->case_col || !order || !keys) {
        free(order);
        free(keys);
        return db_errf(err, errlen, "out of memory");
    }
    int rc = 0, with_param = 0;
    bool multi_ds = false, multi_model = false;
    for (int i = 0; i < t->n_rows; i++) {
        if (strcmp(t->rows[i].dataset, t->rows[0].dataset)) multi_ds = true;
        if (strcmp(t->rows[i].model, t->rows[0].model)) multi_model = true;
    }
    /* case order; grouped by engine (first appearance, stable) for BY_ENGINE */
    int no = 0;
    for (int i = 0; i < t->n_rows; i++) {
        if (p->by != BY_ENGINE) {
            order[no++] = i;
            continue;
        }
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(t->rows[j].engine, t->rows[i].engine);
        if (seen) continue;
        for (int j = i; j < t->n_rows; j++)
            if (!strcmp(t->rows[j].engine, t->rows[i].engine)) order[no++] = j;
    }
    for (int oi = 0; oi < no && rc == 0; oi++) {
        int i = order[oi];
        const row *r = &t->rows[i];
        char *key = NULL, *label = NULL, *colv = NULL;
        p->case_col[i] = -1;
        switch (p->by) {
        case BY_CATEGORY: case BY_ENGINE:
            key = malloc(24);
            if (key) snprintf(key, 24, "#%d", i);
            label = db_strdup(r->label);
            break;
        case BY_MODEL: case BY_DATASET: {
            const char *other = p->by == BY_MODEL ? r->dataset : r->model;
            size_t l = strlen(r->label) + strlen(other) + 2;
            key = malloc(l);
            if (key) snprintf(key, l, "%s\x1f%s", r->label, other);
            label = db_strdup(r->label);
            colv = db_strdup(p->by == BY_MODEL ? r->model : r->dataset);
            break;
        }
        case BY_PARAM: {
            cJSON *params = r->params && *r->params ? cJSON_Parse(r->params) : NULL;
            const cJSON *v = params ? cJSON_GetObjectItemCaseSensitive(params, p->param) : NULL;
            if (v) with_param++;
            colv = param_text(v);
            label = param_row_label(r, params, p->param);
            cJSON_Delete(params);
            size_t l = (label ? strlen(label) : 0) + strlen(r->dataset) + strlen(r->model) + 3;
            key = malloc(l);
            if (key && label) snprintf(key, l, "%s\x1f%s\x1f%s", label, r->dataset, r->model);
            break;
        }
        }
        if (!key || !label || (p->by >= BY_MODEL && !colv)) {
            free(key);
            free(label);
            free(colv);
            rc = db_errf(err, errlen, "out of memory");
            break;
        }
        int row_at = -1;
        for (int j = 0; j < p->n_rows && row_at < 0; j++)
            if (!strcmp(keys[j], key)) row_at = j;
        if (row_at < 0) {
            row_at = p->n_rows++;
            keys[row_at] = key;
            prow *pr = &p->rows[row_at];
            pr->label = label;
            pr->dataset = r->dataset;
            pr->model = r->model;
            pr->engine = r->engine;
            pr->first = i;
            pr->baseline = r->baseline == i;
        } else {
            free(key);
            free(label);
        }
        p->case_row[i] = row_at;
        if (colv) {
            if ((p->case_col[i] = add_col(p, colv)) < 0) rc = db_errf(err, errlen, "out of memory");
            free(colv);
        }
    }
    for (int j = 0; j < p->n_rows; j++) free(keys[j]);
    free(keys);
    free(order);
    if (rc != 0) return rc;
    if (p->by == BY_PARAM && with_param == 0)
        return db_errf(err, errlen, "--by param:%s: no case of run %lld has parameter '%s'", p->param,
                       (long long)t->run_id, p->param);
    if (p->by <= BY_ENGINE) {
        if (category_columns(t, p, total) != 0) return db_errf(err, errlen, "out of memory");
    } else if (p->by == BY_PARAM) {
        /* numeric values first, in numeric order; the others after, as they came */
        char **sorted = malloc((size_t)p->n_cols * sizeof *sorted);
        if (!sorted) return db_errf(err, errlen, "out of memory");
        int ns = 0;
        for (int c = 0; c < p->n_cols; c++)
            if (is_numeric(p->cols[c])) sorted[ns++] = p->cols[c];
        qsort(sorted, (size_t)ns, sizeof *sorted, num_text_cmp);
        for (int c = 0; c < p->n_cols; c++)
            if (!is_numeric(p->cols[c])) sorted[ns++] = p->cols[c];
        for (int i = 0; i < t->n_rows; i++) {
            const char *name = p->cols[p->case_col[i]];
            for (int c = 0; c < p->n_cols; c++)
                if (sorted[c] == name) p->case_col[i] = c;
        }
        memcpy(p->cols, sorted, (size_t)p->n_cols * sizeof *sorted);
        free(sorted);
    }
    p->show_dataset = multi_ds && p->by != BY_DATASET;
    p->show_model = multi_model && p->by != BY_MODEL;
    return 0;
}

/* every cell: the samples of the row's cases that fall in the column */
static int pivot_cells(const table *t, uint64_t seed, pivot *p, char *err, size_t errlen) {
    size_t total = 0;
    for (int i = 0; i < t->n_rows; i++) total += (size_t)t->rows[i].n;
    size_t ncell = (size_t)(p->n_rows > 0 ? p->n_rows : 1) * (size_t)(p->n_cols > 0 ? p->n_cols : 1);
    p->cells = calloc(ncell, sizeof *p->cells);
    double *v = malloc((total + 1) * sizeof *v), *w = malloc((total + 1) * sizeof *w);
    if (!p->cells || !v || !w) {
        free(v);
        free(w);
        return db_errf(err, errlen, "out of memory");
    }
    bool overall = p->by <= BY_ENGINE;   /* the last category column holds every sample */
    for (int pr = 0; pr < p->n_rows; pr++) {
        uint64_t rs = db_mix64(seed ^ db_mix64((uint64_t)p->rows[pr].first));
        for (int c = 0; c < p->n_cols; c++) {
            cell *x = &p->cells[(size_t)pr * (size_t)p->n_cols + (size_t)c];
            bool all = overall && c == p->n_cols - 1, self = true;
            int64_t sn = 0, sc = 0;
            size_t m = 0, mw = 0;
            x->sp = x->lo = x->hi = x->mat = x->v = x->vlo = x->vhi = NAN;
            for (int i = 0; i < t->n_rows; i++) {
                if (p->case_row[i] != pr || (p->case_col[i] >= 0 && p->case_col[i] != c)) continue;
                const row *r = &t->rows[i];
                const row *b = r->baseline >= 0 ? &t->rows[r->baseline] : NULL;
                for (int k = 0; k < r->n; k++) {
                    if (p->case_col[i] < 0 && !all && col_index(p, category_column(r->cat[k])) != c) continue;
                    x->n++;
                    sn += r->newt[k];
                    sc += r->commits[k];
                    double s = p->ck == CELL_TPS ? r->tps[k] : p->ck == CELL_TTFT ? r->ttft[k]
                             : p->ck == CELL_LAT ? r->lat[k] : NAN;
                    if (isfinite(s)) w[mw++] = s;
                    if (r->baseline != i) self = false;
                    if (!b || !isfinite(r->tps[k])) continue;
                    if (r->baseline == i) {
                        v[m++] = 1.0;
                        continue;
                    }
                    for (int j = 0; j < b->n; j++)
                        if (same_prompt(b, j, r, k)) {
                            if (isfinite(b->tps[j]) && b->tps[j] > 0) v[m++] = r->tps[k] / b->tps[j];
                            break;
                        }
                }
            }
            if (x->n == 0) continue;
            if (sc > 0) x->mat = (double)sn / (double)sc;
            x->baseline = self;
            if (self) x->sp = x->lo = x->hi = 1.0;
            else if (m > 0) {
                x->sp = db_median(v, m);
                db_bootstrap_ci(v, m, DB_STAT_MEDIAN, 0.95, DB_REPORT_BOOTSTRAP, db_mix64(rs + 1), &x->lo, &x->hi);
            }
            switch (p->ck) {
            case CELL_DEFAULT: case CELL_SPEEDUP: x->v = x->sp, x->vlo = x->lo, x->vhi = x->hi; break;
            case CELL_MAT: x->v = x->mat; break;
            case CELL_TPS:
                x->v = db_median(w, mw);
                db_bootstrap_ci(w, mw, DB_STAT_MEDIAN, 0.95, DB_REPORT_BOOTSTRAP, rs, &x->vlo, &x->vhi);
                break;
            case CELL_TTFT: case CELL_LAT: x->v = db_quantile(w, mw, 0.5); break;
            }
        }
    }
    free(v);
    free(w);
    return 0;
}

static const cell *cell_at(const pivot *p, int i, int c) {
    return &p->cells[(size_t)i * (size_t)p->n_cols + (size_t)c];
}

/* the --cell metric's value text (no CI); dash where not applicable */
static void fmt_metric(char *buf, size_t len, const pivot *p, const cell *x, const char *dash) {
    double v = x->v;
    if (x->n == 0 || !isfinite(v)) snprintf(buf, len, "%s", dash);
    else if (p->ck == CELL_TPS) fmt_sig3(buf, len, v);
    else if (p->ck == CELL_TTFT || p->ck == CELL_LAT) fmt_fixed(buf, len, v, 1);
    else fmt_fixed(buf, len, v, 2);
}

/* "1.85× / 2.31" (times "×" or "$\times$"), or the --cell metric with
 * " [lo, hi]" (Markdown) / " $\pm$ half-width" (LaTeX) where it has a CI;
 * bold wraps the leading number */
static void fmt_cell(char *buf, size_t len, const pivot *p, const cell *x, bool latex, bool bold) {
    const char *dash = latex ? "--" : "-";
    char a[64], b[64];
    if (x->n == 0) {
        snprintf(buf, len, "%s", dash);
        return;
    }
    fmt_metric(a, sizeof a, p, x, dash);
    char lead[96];
    if (bold && strcmp(a, dash)) snprintf(lead, sizeof lead, "\\textbf{%s}", a);
    else snprintf(lead, sizeof lead, "%s", a);
    if (p->ck == CELL_DEFAULT) {
        const char *times = latex ? "$\\times$" : "×";
        fmt_fixed(b, sizeof b, x->mat, 2);
        snprintf(buf, len, "%s%s / %s", lead, strcmp(a, dash) ? times : "", strcmp(b, "-") ? b : dash);
        return;
    }
    /* a baseline's speedup is 1 by definition: no CI */
    bool ci = isfinite(x->vlo) && isfinite(x->vhi) && strcmp(a, dash) && !(p->ck == CELL_SPEEDUP && x->baseline);
    if (!ci) snprintf(buf, len, "%s", lead);
    else if (latex) {
        fmt_fixed(b, sizeof b, (x->vhi - x->vlo) / 2, p->ck == CELL_TPS ? sig3_decimals(x->v) : 2);
        snprintf(buf, len, "%s $\\pm$ %s", lead, b);
    } else {
        char lo[32], hi[32];
        if (p->ck == CELL_TPS) fmt_sig3(lo, sizeof lo, x->vlo), fmt_sig3(hi, sizeof hi, x->vhi);
        else fmt_fixed(lo, sizeof lo, x->vlo, 2), fmt_fixed(hi, sizeof hi, x->vhi, 2);
        snprintf(buf, len, "%s [%s, %s]", lead, lo, hi);
    }
}

/* the best printed value of column c (its cells' leading numbers), "" when none */
static void pivot_best(const pivot *p, int c, char *buf, size_t len) {
    int dir = p->cspec->better, at = -1;
    buf[0] = '\0';
    for (int i = 0; i < p->n_rows; i++) {
        const cell *x = cell_at(p, i, c);
        if (x->n == 0 || !isfinite(x->v)) continue;
        if (at < 0 || (dir > 0 ? x->v > cell_at(p, at, c)->v : x->v < cell_at(p, at, c)->v)) at = i;
    }
    if (at < 0 || dir == 0) return;
    fmt_metric(buf, len, p, cell_at(p, at, c), "--");
    for (int i = 0; i < p->n_rows; i++) {   /* nothing to mark when every cell prints the best */
        char other[64];
        if (cell_at(p, i, c)->n == 0) continue;
        fmt_metric(other, sizeof other, p, cell_at(p, i, c), "--");
        if (strcmp(other, "--") && strcmp(other, buf)) return;
    }
    buf[0] = '\0';
}

/* what a cell holds, in words (latex: TeX-escaped) */
static void cell_caption(const table *t, const pivot *p, bool latex, char *buf, size_t len) {
    const char *base = t->baseline_key ? t->baseline_key : "no baseline";
    switch (p->ck) {
    case CELL_DEFAULT:
        snprintf(buf, len, "speedup (median of per-prompt tokens/s ratios against %s) / %sMAT", base, latex ? "\\#" : "#");
        break;
    case CELL_SPEEDUP:
        snprintf(buf, len, "speedup (median of per-prompt tokens/s ratios against %s)%s", base,
                 latex ? " $\\pm$ half-width of its 95\\% CI" : " [95% CI]");
        break;
    case CELL_MAT: snprintf(buf, len, "%sMAT", latex ? "\\#" : "#"); break;
    case CELL_TPS:
        snprintf(buf, len, "tok/s (median)%s", latex ? " $\\pm$ half-width of its 95\\% CI" : " [95% CI]");
        break;
    case CELL_TTFT: snprintf(buf, len, "TTFT p50 (ms)"); break;
    case CELL_LAT: snprintf(buf, len, "latency p50 (ms)"); break;
    }
}

static void pivot_md(const table *t, const pivot *p, FILE *out) {
    char buf[256];
    char by[160];
    snprintf(by, sizeof by, "%s%s", p->by == BY_PARAM ? "param:" : "", p->by == BY_PARAM ? p->param
                                    : p->by == BY_ENGINE ? "engine" : p->dim);
    title_line(t, by, out);
    fputs("\n\n|", out);
    int lead = 1 + p->show_dataset + p->show_model;
    db_md_cell(out, "label");
    if (p->show_dataset) db_md_cell(out, "dataset");
    if (p->show_model) db_md_cell(out, "model");
    for (int c = 0; c < p->n_cols; c++) db_md_cell(out, p->cols[c]);
    fputs("\n|", out);
    for (int i = 0; i < lead + p->n_cols; i++) fputs(i < lead ? "---|" : "--:|", out);
    fputc('\n', out);
    for (int i = 0; i < p->n_rows; i++) {
        const prow *r = &p->rows[i];
        if (p->by == BY_ENGINE && (i == 0 || strcmp(r->engine, p->rows[i - 1].engine))) {
            fputs("| **", out);
            db_md_text(out, r->engine);
            fputs("** |", out);
            for (int k = 1; k < lead + p->n_cols; k++) fputs(" |", out);
            fputc('\n', out);
        }
        fputc('|', out);
        if (pivot_row_noise(p, i)) {   /* S7: marked, footnote below */
            snprintf(buf, sizeof buf, "%s " DB_NOISE_MARK, r->label);
            db_md_cell(out, buf);
        } else db_md_cell(out, r->label);
        if (p->show_dataset) db_md_cell(out, r->dataset);
        if (p->show_model) db_md_cell(out, r->model);
        for (int c = 0; c < p->n_cols; c++) {
            fmt_cell(buf, sizeof buf, p, cell_at(p, i, c), false, false);
            db_md_cell(out, buf);
        }
        fputc('\n', out);
    }
    cell_caption(t, p, false, buf, sizeof buf);
    fputs("\nCell: ", out);
    db_md_text(out, buf);   /* holds the baseline key of the run's config */
    fputs(".\n", out);
    db_noise_footnote_md(t, out);   /* S7 interference */
}

static void pivot_csv(const table *t, const pivot *p, FILE *out) {
    bool dim_col = p->by != BY_MODEL && p->by != BY_DATASET;
    bool metric = p->ck == CELL_TPS || p->ck == CELL_TTFT || p->ck == CELL_LAT;
    db_csv_field(out, "run_id", 1);
    if (p->by == BY_ENGINE) db_csv_field(out, "engine", 0);
    const char *heads[] = { "label", "dataset", "model" };
    for (int i = 0; i < 3; i++) db_csv_field(out, heads[i], 0);
    if (dim_col) db_csv_field(out, p->dim, 0);
    const char *tail[] = { "n", "speedup", "speedup_lo", "speedup_hi", "mat" };
    for (int i = 0; i < 5; i++) db_csv_field(out, tail[i], 0);
    if (metric) {
        char h[80];
        db_csv_field(out, p->cspec->name, 0);
        if (p->ck == CELL_TPS) {
            snprintf(h, sizeof h, "%s_lo", p->cspec->name);
            db_csv_field(out, h, 0);
            snprintf(h, sizeof h, "%s_hi", p->cspec->name);
            db_csv_field(out, h, 0);
        }
    }
    if (p->row_noise) db_csv_field(out, "interference", 0);   /* S7: the cell's cases' reasons */
    fputs("\r\n", out);
    for (int i = 0; i < p->n_rows; i++) {
        const prow *r = &p->rows[i];
        for (int c = 0; c < p->n_cols; c++) {
            const cell *x = cell_at(p, i, c);
            if (x->n == 0) continue;
            char buf[32];
            snprintf(buf, sizeof buf, "%lld", (long long)t->run_id);
            db_csv_field(out, buf, 1);
            if (p->by == BY_ENGINE) db_csv_field(out, r->engine, 0);
            db_csv_field(out, r->label, 0);
            db_csv_field(out, p->by == BY_DATASET ? p->cols[c] : r->dataset, 0);
            db_csv_field(out, p->by == BY_MODEL ? p->cols[c] : r->model, 0);
            if (dim_col) db_csv_field(out, p->cols[c], 0);
            snprintf(buf, sizeof buf, "%d", x->n);
            db_csv_field(out, buf, 0);
            db_csv_num(out, x->sp);
            db_csv_num(out, x->lo);
            db_csv_num(out, x->hi);
            db_csv_num(out, x->mat);
            if (metric) {
                db_csv_num(out, x->v);
                if (p->ck == CELL_TPS) {
                    db_csv_num(out, x->vlo);
                    db_csv_num(out, x->vhi);
                }
            }
            if (p->row_noise) {
                char *why = NULL;
                if (pivot_row_noise(p, i) && pivot_cell_noise(t, p, i, c, &why) != 0) why = NULL;
                db_csv_field(out, why ? why : "", 0);
                free(why);
            }
            fputs("\r\n", out);
        }
    }
}

static void pivot_latex(const table *t, const pivot *p, FILE *out) {
    char machine[256], buf[256];
    title_parts(t, machine, sizeof machine);
    db_tex_commentf(out, "%% decobench run %lld -- suite: %s -- machine: %s -- llama.cpp: %s -- by %s%s",
                    (long long)t->run_id, t->suite, machine, t->llama_commit, p->by == BY_PARAM ? "param:" : "",
                    p->by == BY_PARAM ? p->param : p->by == BY_ENGINE ? "engine" : p->dim);
    if (p->ck == CELL_DEFAULT)
        db_tex_commentf(out, "%% cell: speedup against %s / \\#MAT; bold: best speedup per column",
                        t->baseline_key ? t->baseline_key : "no baseline");
    else {
        cell_caption(t, p, true, buf, sizeof buf);
        db_tex_commentf(out, "%% cell: %s; bold: best per column", buf);
    }
    int lead = 1 + p->show_dataset + p->show_model;
    fputs("% requires \\usepackage{booktabs}\n\\begin{tabular}{", out);
    for (int c = 0; c < lead; c++) fputc('l', out);
    for (int c = 0; c < p->n_cols; c++) fputc('r', out);
    fputs("}\n\\toprule\nLabel", out);
    if (p->show_dataset) fputs(" & Dataset", out);
    if (p->show_model) fputs(" & Model", out);
    for (int c = 0; c < p->n_cols; c++) {
        fputs(" & ", out);
        db_tex_text(out, p->cols[c]);
    }
    fputs(" \\\\\n\\midrule\n", out);
    char (*best)[64] = calloc((size_t)(p->n_cols > 0 ? p->n_cols : 1), sizeof *best);
    for (int c = 0; c < p->n_cols && best; c++) pivot_best(p, c, best[c], sizeof best[c]);
    for (int i = 0; i < p->n_rows; i++) {
        const prow *r = &p->rows[i];
        if (p->by == BY_ENGINE && (i == 0 || strcmp(r->engine, p->rows[i - 1].engine))) {
            if (i > 0) fputs("\\midrule\n", out);
            fprintf(out, "\\multicolumn{%d}{l}{\\textit{", lead + p->n_cols);
            db_tex_text(out, r->engine);
            fputs("}} \\\\\n", out);
        }
        db_tex_text(out, r->label);
        if (pivot_row_noise(p, i)) fputs("$^\\dagger$", out);   /* S7 interference */
        if (p->show_dataset) {
            fputs(" & ", out);
            db_tex_text(out, r->dataset);
        }
        if (p->show_model) {
            fputs(" & ", out);
            db_tex_text(out, r->model);
        }
        for (int c = 0; c < p->n_cols; c++) {
            const cell *x = cell_at(p, i, c);
            char a[64];
            fmt_metric(a, sizeof a, p, x, "--");
            bool bold = best && best[c][0] && x->n > 0 && !strcmp(a, best[c]);
            fmt_cell(buf, sizeof buf, p, x, true, bold);
            fprintf(out, " & %s", buf);
        }
        fputs(" \\\\\n", out);
    }
    free(best);
    fputs("\\bottomrule\n\\end{tabular}\n", out);
    db_noise_footnote_tex(t, out);   /* S7 interference */
}

static int pivot_json(const table *t, const pivot *p, FILE *out, char *err, size_t errlen) {
    cJSON *root = json_run_header(t);
    if (!root) return db_errf(err, errlen, "out of memory");
    char by[160];
    snprintf(by, sizeof by, "%s%s", p->by == BY_PARAM ? "param:" : "",
             p->by == BY_PARAM ? p->param : p->by == BY_ENGINE ? "engine" : p->dim);
    cJSON_AddStringToObject(root, "by", by);
    if (p->ck != CELL_DEFAULT) cJSON_AddStringToObject(root, "cell", p->cspec->name);
    cJSON *cols = cJSON_AddArrayToObject(root, "columns");
    for (int c = 0; c < p->n_cols && cols; c++) cJSON_AddItemToArray(cols, cJSON_CreateString(p->cols[c]));
    cJSON *rows = cJSON_AddArrayToObject(root, "rows");
    bool metric = p->ck == CELL_TPS || p->ck == CELL_TTFT || p->ck == CELL_LAT;
    for (int i = 0; i < p->n_rows && rows; i++) {
        const prow *r = &p->rows[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(rows, o);
        cJSON *ids = cJSON_AddArrayToObject(o, "case_ids");
        for (int k = 0; k < t->n_rows && ids; k++)
            if (p->case_row[k] == i) cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)t->rows[k].case_id));
        cJSON_AddStringToObject(o, "label", r->label);
        cJSON_AddStringToObject(o, "engine", r->engine);
        if (p->by != BY_DATASET) cJSON_AddStringToObject(o, "dataset", r->dataset);
        if (p->by != BY_MODEL) cJSON_AddStringToObject(o, "model", r->model);
        cJSON_AddBoolToObject(o, "is_baseline", r->baseline);
        db_noise_json(o, p->row_noise != NULL, pivot_row_noise(p, i));   /* S7 interference */
        cJSON *cells = cJSON_AddObjectToObject(o, "cells");
        for (int c = 0; c < p->n_cols && cells; c++) {
            const cell *x = cell_at(p, i, c);
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
            if (metric) {
                cJSON_AddItemToObject(e, p->cspec->name, jnum(x->v));
                if (p->ck == CELL_TPS) {
                    char k2[64];
                    snprintf(k2, sizeof k2, "%s_ci", p->cspec->name);
                    if (isfinite(x->vlo))
                        cJSON_AddItemToObject(e, k2, cJSON_CreateDoubleArray((double[]){ x->vlo, x->vhi }, 2));
                    else cJSON_AddNullToObject(e, k2);
                }
            }
        }
    }
    return db_json_print(root, out, err, errlen);
}

/* by: category, engine, model, dataset or param:NAME; cell: NULL or a CELL_METRICS name */
static int write_pivot(const table *t, const char *fmt, const char *by, const char *cellm, uint64_t seed, FILE *out,
                       char *err, size_t errlen) {
    pivot p;
    memset(&p, 0, sizeof p);
    if (!strcmp(by, "category")) p.by = BY_CATEGORY, p.dim = "category";
    else if (!strcmp(by, "engine")) p.by = BY_ENGINE, p.dim = "category";
    else if (!strcmp(by, "model")) p.by = BY_MODEL, p.dim = "model";
    else if (!strcmp(by, "dataset")) p.by = BY_DATASET, p.dim = "dataset";
    else if (!strncmp(by, "param:", 6) && by[6]) p.by = BY_PARAM, p.param = p.dim = by + 6;
    else return db_errf(err, errlen, "unknown grouping '%s'", by);
    p.ck = CELL_DEFAULT;
    p.cspec = col_find("speedup");
    if (cellm) {
        int k = 0;
        while (k < N_CELL_METRICS && strcmp(CELL_METRICS[k].name, cellm) != 0) k++;
        if (k == N_CELL_METRICS)
            return db_errf(err, errlen, "--cell: unknown metric '%s' (valid: speedup, mat, tokens_per_s, "
                           "ttft_p50_ms, latency_p50_ms)", cellm);
        p.ck = CELL_METRICS[k].kind;
        p.cspec = col_find(cellm);
    }
    int rc = pivot_layout(t, &p, err, errlen);
    if (rc == 0) rc = pivot_cells(t, seed, &p, err, errlen);
    if (rc == 0) rc = pivot_noise(t, &p, err, errlen);
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
        load_cases(db, t, err, errlen) != 0 || db_table_load_noise(db, t, err, errlen) != 0)
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

int db_table_write(const db_table *t, const char *fmt, const char *by, const char *columns, const char *cellm,
                   uint64_t seed, FILE *out, char *err, size_t errlen) {
    if (by) return write_pivot(t, fmt, by, cellm, seed, out, err, errlen);
    if (columns || strcmp(fmt, "json") != 0) return write_columns(t, fmt, columns, out, err, errlen);
    return write_json(t, out, err, errlen);
}
