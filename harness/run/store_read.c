/* store_read.c — the readers of the results database (store_read.h):
 * which run "latest" means (db_store_pick_run, store.h: the latest run
 * that ended, with a note when the run shown is incomplete), and the runs,
 * cases, samples, counters, events, metrics, probes, records and
 * interference rows the report writers read.
 */
#include "store_read.h"
#include "store_int.h"

#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "harness/util/util.h"

static bool run_ended(const char *status) {
    return status && strcmp(status, "running") != 0 && strcmp(status, "interrupted") != 0 &&
           strcmp(status, "crashed") != 0;
}

/* "running" for a run whose process is gone reads "crashed (not yet marked)" */
static const char *run_state(sqlite3 *db, int64_t id, const char *status) {
    if (!status) return "?";
    if (strcmp(status, "running") != 0) return status;
    sqlite3_stmt *s = NULL;
    const char *r = status;
    if (sqlite3_prepare_v2(db, "SELECT hostname, pid, COALESCE(heartbeat_at, started_at) FROM run WHERE id=?", -1,
                           &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, id);
        if (sqlite3_step(s) == SQLITE_ROW &&
            db_run_is_dead((const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1),
                           sqlite3_column_int64(s, 2), db_unix_ms()))
            r = "crashed (its process is gone)";
    }
    sqlite3_finalize(s);
    return r;
}

int db_store_pick_run(struct sqlite3 *db, int64_t want, int64_t *run_id, char *note, size_t notelen,
                      char *err, size_t errlen) {
    if (note && notelen) note[0] = 0;
    sqlite3_stmt *s = NULL;
    const char *sql = want > 0 ? "SELECT id, status FROM run WHERE id = ?" : "SELECT id, status FROM run ORDER BY id DESC";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_errf(err, errlen, "read run: %s", sqlite3_errmsg(db));
    if (want > 0) sqlite3_bind_int64(s, 1, want);
    int64_t first = 0, pick = 0;
    char first_status[64] = "", skipped[200] = "";
    int n_skipped = 0, rc;
    bool first_ended = false;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        const char *st = (const char *)sqlite3_column_text(s, 1);
        if (!first) {
            first = id;
            first_ended = run_ended(st);
            snprintf(first_status, sizeof first_status, "%s", run_state(db, id, st));
        }
        if (want > 0 || run_ended(st)) {
            pick = id;
            break;
        }
        size_t l = strlen(skipped);
        if (n_skipped++ < 8 && l < sizeof skipped - 40)
            snprintf(skipped + l, sizeof skipped - l, "%s%lld (%s)", l ? ", " : "", (long long)id,
                     run_state(db, id, st));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_errf(err, errlen, "read run: %s", sqlite3_errmsg(db));
    if (!first) {
        if (want > 0) return db_errf(err, errlen, "no run with id %lld", (long long)want);
        return db_errf(err, errlen, "no runs in database");
    }
    if (want > 0) {
        if (note && !first_ended)
            snprintf(note, notelen, "run %lld is %s: its results are incomplete", (long long)pick, first_status);
    } else if (!pick) {
        pick = first;
        if (note)
            snprintf(note, notelen, "run %lld is %s and no run has ended: its results are incomplete",
                     (long long)pick, first_status);
    } else if (n_skipped && note) {
        snprintf(note, notelen, "showing run %lld, the latest that ended; newer run%s %s%s not finished "
                 "(decobench run --resume ID continues one)", (long long)pick, n_skipped > 1 ? "s" : "", skipped,
                 n_skipped > 1 ? " are" : " is");
    }
    *run_id = pick;
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

/* Grow *arr (of *cap elements of size sz) to hold n + 1; -1 when out of memory. */
static int grow(void **arr, int *cap, int n, size_t sz) {
    if (n < *cap) return 0;
    int nc = *cap ? 2 * *cap : 16;
    void *a = realloc(*arr, (size_t)nc * sz);
    if (!a) return -1;
    *arr = a;
    *cap = nc;
    return 0;
}

static int oom(char *err, size_t errlen) {
    return db_errf(err, errlen, "out of memory");
}

/* ---- runs --------------------------------------------------------------------- */

#define RUN_COLS                                                                                        \
    "SELECT r.id, COALESCE(r.machine_id, 0), r.started_at, r.suite_name, r.config_json, r.llama_commit," \
    " r.decobench_rev, r.status, m.hostname, m.cpu_model, m.cores FROM run r"                           \
    " LEFT JOIN machine m ON m.id = r.machine_id"

static int run_row(sqlite3_stmt *s, db_run_info *r) {
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, 0);
    r->machine_id = sqlite3_column_int64(s, 1);
    r->started_at = sqlite3_column_int64(s, 2);
    r->suite_name = db_sql_text(s, 3);
    r->config_json = db_sql_text(s, 4);
    r->llama_commit = db_sql_text(s, 5);
    r->decobench_rev = db_sql_text(s, 6);
    r->status = db_sql_text(s, 7);
    r->hostname = db_sql_text(s, 8);
    r->cpu_model = db_sql_text(s, 9);
    r->cores = sqlite3_column_int(s, 10);
    return r->suite_name && r->config_json && r->llama_commit && r->decobench_rev && r->status && r->hostname &&
                   r->cpu_model
               ? 0
               : -1;
}

void db_run_info_free(db_run_info *r) {
    if (!r) return;
    free(r->suite_name);
    free(r->config_json);
    free(r->llama_commit);
    free(r->decobench_rev);
    free(r->status);
    free(r->hostname);
    free(r->cpu_model);
    memset(r, 0, sizeof *r);
}

void db_run_infos_free(db_run_info *r, int n) {
    for (int i = 0; r && i < n; i++) db_run_info_free(&r[i]);
    free(r);
}

int db_store_resolve_run(db_store *st, int64_t want, int64_t *run_id, char *note, size_t notelen, char *err,
                         size_t errlen) {
    return db_store_pick_run(st->db, want, run_id, note, notelen, err, errlen);
}

int db_store_count_runs(db_store *st, int64_t *n, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(st->db, "SELECT COUNT(*) FROM run", -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read runs", err, errlen);
    if (sqlite3_step(s) == SQLITE_ROW) *n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return 0;
}

int db_store_read_run(db_store *st, int64_t want, db_run_info *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    /* "latest": the latest run that ended */
    if (want <= 0 && db_store_pick_run(st->db, 0, &want, NULL, 0, err, errlen) != 0) return -1;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, RUN_COLS " WHERE r.id = ?", -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read run", err, errlen);
    sqlite3_bind_int64(s, 1, want);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        if (rc == SQLITE_DONE) return db_errf(err, errlen, "no run with id %lld", (long long)want);
        return db_sql_fail(st->db, "read run", err, errlen);
    }
    int bad = run_row(s, out);
    sqlite3_finalize(s);
    if (bad) {
        db_run_info_free(out);
        return oom(err, errlen);
    }
    return 0;
}

int db_store_read_runs(db_store *st, const char *suite, bool ended, db_run_info **out, int *n, char *err,
                       size_t errlen) {
    *out = NULL;
    *n = 0;
    char sql[1024];
    snprintf(sql, sizeof sql, "%s WHERE %s AND %s ORDER BY r.id", RUN_COLS, suite ? "r.suite_name IS ?1" : "1",
             ended ? "r." DB_RUN_ENDED_SQL : "1");
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read runs", err, errlen);
    if (suite) sqlite3_bind_text(s, 1, suite, -1, SQLITE_TRANSIENT);
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow((void **)out, &cap, *n, sizeof **out) != 0 || run_row(s, &(*out)[(*n)++]) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc == SQLITE_NOMEM) oom(err, errlen);
    else db_sql_fail(st->db, "read runs", err, errlen);
    db_run_infos_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

void db_run_counters_free(db_run_counter_info *c, int n) {
    for (int i = 0; c && i < n; i++) {
        free(c[i].name);
        free(c[i].reason);
    }
    free(c);
}

int db_store_read_run_counters(db_store *st, int64_t run_id, db_run_counter_info **out, int *n, char *err,
                               size_t errlen) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT name, available, fallback, reason FROM run_counter WHERE run_id = ?"
                                   " ORDER BY rowid", -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read run counters", err, errlen);
    sqlite3_bind_int64(s, 1, run_id);
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow((void **)out, &cap, *n, sizeof **out) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        db_run_counter_info *c = &(*out)[(*n)++];
        c->name = db_sql_text(s, 0);
        c->available = sqlite3_column_int(s, 1) != 0;
        c->fallback = sqlite3_column_int(s, 2) != 0;
        c->reason = db_sql_text(s, 3);
        if (!c->name || !c->reason) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc == SQLITE_NOMEM) oom(err, errlen);
    else db_sql_fail(st->db, "read run counters", err, errlen);
    db_run_counters_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

/* ---- cases -------------------------------------------------------------------- */

#define CASE_COLS                                                                                       \
    "SELECT c.id, c.run_id, c.idx, c.engine, c.label, c.dataset, c.model_name, c.model_sha256,"        \
    " c.params_json, c.status, c.model_bytes, (SELECT COUNT(*) FROM sample x WHERE x.case_id = c.id)" \
    " FROM \"case\" c"

static int case_row(sqlite3_stmt *s, db_case_info *c) {
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(s, 0);
    c->run_id = sqlite3_column_int64(s, 1);
    c->idx = sqlite3_column_int(s, 2);
    c->engine = db_sql_text(s, 3);
    c->label = db_sql_text(s, 4);
    c->dataset = db_sql_text(s, 5);
    c->model_name = db_sql_text(s, 6);
    c->model_sha256 = db_sql_text(s, 7);
    c->params_json = db_sql_text(s, 8);
    c->status = db_sql_text(s, 9);
    c->model_bytes = sqlite3_column_int64(s, 10);
    c->n_samples = sqlite3_column_int(s, 11);
    return c->engine && c->label && c->dataset && c->model_name && c->model_sha256 && c->params_json && c->status
               ? 0
               : -1;
}

void db_case_info_free(db_case_info *c) {
    if (!c) return;
    free(c->engine);
    free(c->label);
    free(c->dataset);
    free(c->model_name);
    free(c->model_sha256);
    free(c->params_json);
    free(c->status);
    memset(c, 0, sizeof *c);
}

void db_case_infos_free(db_case_info *c, int n) {
    for (int i = 0; c && i < n; i++) db_case_info_free(&c[i]);
    free(c);
}

int db_store_read_cases(db_store *st, int64_t run_id, const char *label, db_case_info **out, int *n, char *err,
                        size_t errlen) {
    *out = NULL;
    *n = 0;
    char sql[1024];
    snprintf(sql, sizeof sql, "%s WHERE %s AND %s ORDER BY c.idx, c.id", CASE_COLS, run_id > 0 ? "c.run_id = ?1" : "1",
             label ? "c.label = ?2" : "1");
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read cases", err, errlen);
    if (run_id > 0) sqlite3_bind_int64(s, 1, run_id);
    if (label) sqlite3_bind_text(s, 2, label, -1, SQLITE_TRANSIENT);
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow((void **)out, &cap, *n, sizeof **out) != 0 || case_row(s, &(*out)[(*n)++]) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc == SQLITE_NOMEM) oom(err, errlen);
    else db_sql_fail(st->db, "read cases", err, errlen);
    db_case_infos_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

int db_store_read_case(db_store *st, int64_t case_id, db_case_info *out, bool *found, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    *found = false;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, CASE_COLS " WHERE c.id = ?", -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read cases", err, errlen);
    sqlite3_bind_int64(s, 1, case_id);
    int rc = sqlite3_step(s), bad = 0;
    if (rc == SQLITE_ROW) {
        *found = true;
        bad = case_row(s, out);
    }
    sqlite3_finalize(s);
    if (bad) {
        db_case_info_free(out);
        *found = false;
        return oom(err, errlen);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_sql_fail(st->db, "read cases", err, errlen);
    return 0;
}

/* ---- samples ------------------------------------------------------------------ */

/* printf format: the turn column, then the output columns */
#define SAMPLE_COLS                                                                                         \
    "SELECT id, prompt_idx, rep, %s, seed, prompt_id, category, stop_reason, %s,"                           \
    " n_prompt_tokens, new_tokens, target_forwards, draft_forwards, target_tokens_evaluated,"               \
    " n_commits, drafted, accepted, ttft_ms, latency_ms, tokens_per_s, tpot_ms, mat, acceptance_rate,"      \
    " draft_time_ms, forward_time_ms, peak_rss_kib FROM sample WHERE case_id = ?1 ORDER BY id LIMIT ?2"

static int sample_row(sqlite3_stmt *s, db_sample_info *x) {
    memset(x, 0, sizeof *x);
    x->id = sqlite3_column_int64(s, 0);
    x->prompt_idx = sqlite3_column_int(s, 1);
    x->rep = sqlite3_column_int(s, 2);
    x->turn = sqlite3_column_int(s, 3);
    x->has_seed = sqlite3_column_type(s, 4) != SQLITE_NULL;
    x->seed = sqlite3_column_int64(s, 4);
    x->prompt_id = db_sql_text(s, 5);
    x->category = db_sql_text(s, 6);
    x->stop_reason = db_sql_text(s, 7);
    x->output_tokens_json = db_sql_text(s, 8);
    x->output_text = db_sql_text(s, 9);
    int64_t *iv[] = { &x->n_prompt_tokens, &x->new_tokens, &x->target_forwards, &x->draft_forwards,
                      &x->target_tokens_evaluated, &x->n_commits, &x->drafted, &x->accepted };
    for (int k = 0; k < 8; k++) *iv[k] = sqlite3_column_int64(s, 10 + k);
    double *dv[] = { &x->ttft_ms, &x->latency_ms, &x->tokens_per_s, &x->tpot_ms, &x->mat, &x->acceptance_rate,
                     &x->draft_time_ms, &x->forward_time_ms, &x->peak_rss_kib };
    for (int k = 0; k < 9; k++) *dv[k] = db_sql_real(s, 18 + k);
    return x->prompt_id && x->category && x->stop_reason && x->output_tokens_json && x->output_text ? 0 : -1;
}

static void sample_free(db_sample_info *x) {
    free(x->prompt_id);
    free(x->category);
    free(x->stop_reason);
    free(x->output_tokens_json);
    free(x->output_text);
}

void db_sample_infos_free(db_sample_info *s, int n) {
    for (int i = 0; s && i < n; i++) sample_free(&s[i]);
    free(s);
}

int db_store_read_samples(db_store *st, int64_t case_id, int limit, bool outputs, db_sample_info **out, int *n,
                          char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    const char *outs = outputs ? "output_tokens_json, output_text" : "'', ''";
    char sql[2][1024];
    snprintf(sql[0], sizeof sql[0], SAMPLE_COLS, "turn", outs);
    /* databases written before the turn column read as turn 0 */
    snprintf(sql[1], sizeof sql[1], SAMPLE_COLS, "0", outs);
    if (sqlite3_prepare_v2(st->db, sql[0], -1, &s, NULL) != SQLITE_OK &&
        sqlite3_prepare_v2(st->db, sql[1], -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read samples", err, errlen);
    sqlite3_bind_int64(s, 1, case_id);
    sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow((void **)out, &cap, *n, sizeof **out) != 0 || sample_row(s, &(*out)[(*n)++]) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc == SQLITE_NOMEM) oom(err, errlen);
    else db_sql_fail(st->db, "read samples", err, errlen);
    db_sample_infos_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

double db_sample_value(const db_sample_info *s, const char *column) {
    static const struct {
        const char *name;
        size_t off;
    } cols[] = {
        { "tokens_per_s", offsetof(db_sample_info, tokens_per_s) },
        { "latency_ms", offsetof(db_sample_info, latency_ms) },
        { "ttft_ms", offsetof(db_sample_info, ttft_ms) },
        { "mat", offsetof(db_sample_info, mat) },
        { "tpot_ms", offsetof(db_sample_info, tpot_ms) },
        { "acceptance_rate", offsetof(db_sample_info, acceptance_rate) },
        { "peak_rss_kib", offsetof(db_sample_info, peak_rss_kib) },
        { "draft_time_ms", offsetof(db_sample_info, draft_time_ms) },
        { "forward_time_ms", offsetof(db_sample_info, forward_time_ms) },
    };
    for (size_t i = 0; column && i < sizeof cols / sizeof cols[0]; i++)
        if (!strcmp(cols[i].name, column)) return *(const double *)((const char *)s + cols[i].off);
    return NAN;
}

void db_counter_values_free(db_counter_value *v, int n) {
    for (int i = 0; v && i < n; i++) free(v[i].name);
    free(v);
}

int db_store_read_sample_counters(db_store *st, int64_t case_id, db_counter_value **out, int *n, char *err,
                                  size_t errlen) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT sc.sample_id, sc.name, sc.value FROM sample_counter sc"
                                   " JOIN sample s ON s.id = sc.sample_id WHERE s.case_id = ?", -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read sample counters", err, errlen);
    sqlite3_bind_int64(s, 1, case_id);
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow((void **)out, &cap, *n, sizeof **out) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        db_counter_value *v = &(*out)[(*n)++];
        v->sample_id = sqlite3_column_int64(s, 0);
        v->name = db_sql_text(s, 1);
        v->value = db_sql_real(s, 2);
        if (!v->name) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc == SQLITE_NOMEM) oom(err, errlen);
    else db_sql_fail(st->db, "read sample counters", err, errlen);
    db_counter_values_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

void db_names_free(char **names, int n) {
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

/* The text column 0 of every row of s (bound by the caller). */
static int read_names(db_store *st, sqlite3_stmt *s, const char *what, char ***names, int *n, char *err,
                      size_t errlen) {
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow((void **)names, &cap, *n, sizeof **names) != 0 || !((*names)[*n] = db_sql_text(s, 0))) {
            rc = SQLITE_NOMEM;
            break;
        }
        (*n)++;
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc == SQLITE_NOMEM) oom(err, errlen);
    else db_sql_fail(st->db, what, err, errlen);
    db_names_free(*names, *n);
    *names = NULL;
    *n = 0;
    return -1;
}

int db_store_read_counter_names(db_store *st, int64_t run_id, char ***names, int *n, char *err, size_t errlen) {
    *names = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT sc.name FROM sample_counter sc JOIN sample s ON s.id = sc.sample_id"
                           " JOIN \"case\" c ON c.id = s.case_id WHERE c.run_id = ?"
                           " GROUP BY sc.name ORDER BY MIN(sc.rowid)", -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read counters", err, errlen);
    sqlite3_bind_int64(s, 1, run_id);
    return read_names(st, s, "read counters", names, n, err, errlen);
}

int db_store_read_events(db_store *st, int64_t case_id, int kind, db_event_info **out, int *n, char *err,
                         size_t errlen) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT e.sample_id, e.n_tokens, e.n_accepted, e.accepted_mask FROM step_event e"
                                   " JOIN sample s ON s.id = e.sample_id WHERE s.case_id = ? AND e.kind = ?",
                           -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read verify events", err, errlen);
    sqlite3_bind_int64(s, 1, case_id);
    sqlite3_bind_int(s, 2, kind);
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow((void **)out, &cap, *n, sizeof **out) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        db_event_info *e = &(*out)[(*n)++];
        e->sample_id = sqlite3_column_int64(s, 0);
        e->n_tokens = sqlite3_column_int(s, 1);
        e->n_accepted = sqlite3_column_int(s, 2);
        e->accepted_mask = (uint64_t)sqlite3_column_int64(s, 3);
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc == SQLITE_NOMEM) oom(err, errlen);
    else db_sql_fail(st->db, "read verify events", err, errlen);
    free(*out);
    *out = NULL;
    *n = 0;
    return -1;
}

/* ---- named per-sample metrics ------------------------------------------------- */

int db_store_read_metric_names(db_store *st, int64_t run_id, char ***names, int *n, char *err, size_t errlen) {
    *names = NULL;
    *n = 0;
    if (!db_sql_has_table(st->db, "sample_metric")) return 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT DISTINCT m.name FROM sample_metric m JOIN sample s ON s.id = m.sample_id"
                           " JOIN \"case\" c ON c.id = s.case_id WHERE c.run_id = ? AND m.value IS NOT NULL"
                           " ORDER BY m.name", -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read sample metrics", err, errlen);
    sqlite3_bind_int64(s, 1, run_id);
    return read_names(st, s, "read sample metrics", names, n, err, errlen);
}

int db_store_metric_stored(db_store *st, const char *name, bool *found, char *err, size_t errlen) {
    *found = false;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM sample_metric WHERE name = ? LIMIT 1", -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read sample metrics", err, errlen);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(s);
    sqlite3_finalize(s);
    if (step != SQLITE_ROW && step != SQLITE_DONE) return db_sql_fail(st->db, "read sample metrics", err, errlen);
    *found = step == SQLITE_ROW;
    return 0;
}

int db_store_case_metric_mean(db_store *st, int64_t case_id, const char *name, double *mean, char *err,
                              size_t errlen) {
    *mean = NAN;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT AVG(m.value) FROM sample_metric m JOIN sample s ON s.id = m.sample_id"
                                   " WHERE s.case_id = ? AND m.name = ?", -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read sample metrics", err, errlen);
    sqlite3_bind_int64(s, 1, case_id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *mean = db_sql_real(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_sql_fail(st->db, "read sample metrics", err, errlen);
}

int db_store_case_metric_count(db_store *st, int64_t case_id, const char *name, double value, int *count,
                               char *err, size_t errlen) {
    *count = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT COUNT(*) FROM sample x JOIN sample_metric m ON m.sample_id = x.id"
                                   " AND m.name = ? AND m.value = ? WHERE x.case_id = ?", -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read sample metrics", err, errlen);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 2, value);
    sqlite3_bind_int64(s, 3, case_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *count = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : db_sql_fail(st->db, "read sample metrics", err, errlen);
}

int db_store_case_means(db_store *st, int64_t case_id, db_case_means *out, char *err, size_t errlen) {
    out->target_forwards = out->forwards = out->target_tokens_evaluated = NAN;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT AVG(target_forwards), AVG(target_forwards + draft_forwards),"
                                   " AVG(target_tokens_evaluated) FROM sample WHERE case_id = ?", -1, &s, NULL) !=
        SQLITE_OK)
        return db_sql_fail(st->db, "read samples", err, errlen);
    sqlite3_bind_int64(s, 1, case_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->target_forwards = db_sql_real(s, 0);
        out->forwards = db_sql_real(s, 1);
        out->target_tokens_evaluated = db_sql_real(s, 2);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : db_sql_fail(st->db, "read samples", err, errlen);
}

void db_search_error_rows_free(db_search_error_row *r, int n) {
    for (int i = 0; r && i < n; i++) {
        free(r[i].label);
        free(r[i].exact_label);
        free(r[i].dataset);
        free(r[i].model_name);
    }
    free(r);
}

int db_store_read_search_errors(db_store *st, int64_t run_id, double tol, db_search_error_row **out, int *n,
                                char *err, size_t errlen) {
    static const char *sql =
        "SELECT c.label, ec.label, c.dataset, c.model_name, COUNT(*),"
        " SUM(CASE WHEN b.output_tokens_json IS e.output_tokens_json AND b.stop_reason IS e.stop_reason THEN 0"
        "          WHEN bs.value < es.value - ?2 THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN b.output_tokens_json IS e.output_tokens_json AND b.stop_reason IS e.stop_reason THEN 0"
        "          WHEN bs.value > es.value + ?2 THEN 1 ELSE 0 END),"
        " AVG(CASE WHEN b.output_tokens_json IS e.output_tokens_json AND b.stop_reason IS e.stop_reason THEN 0"
        "          ELSE es.value - bs.value END)"
        " FROM \"case\" c JOIN sample b ON b.case_id = c.id"
        " JOIN sample_metric bs ON bs.sample_id = b.id AND bs.name = 'search_score'"
        " JOIN \"case\" ec ON ec.run_id = c.run_id AND ec.engine = 'exact' AND ec.id <> c.id"
        "   AND ec.dataset IS c.dataset AND ec.model_name IS c.model_name"
        " JOIN sample e ON e.case_id = ec.id AND e.prompt_idx = b.prompt_idx AND e.rep = b.rep AND e.turn = b.turn"
        " JOIN sample_metric es ON es.sample_id = e.id AND es.name = 'search_score'"
        " JOIN sample_metric eo ON eo.sample_id = e.id AND eo.name = 'search_optimal' AND eo.value = 1"
        " WHERE c.run_id = ?1 AND c.engine <> 'exact'"
        " GROUP BY c.id, ec.id ORDER BY c.idx, ec.idx";
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "search errors", err, errlen);
    sqlite3_bind_int64(s, 1, run_id);
    sqlite3_bind_double(s, 2, tol);
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow((void **)out, &cap, *n, sizeof **out) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        db_search_error_row *r = &(*out)[(*n)++];
        r->label = db_sql_text(s, 0);
        r->exact_label = db_sql_text(s, 1);
        r->dataset = db_sql_text(s, 2);
        r->model_name = db_sql_text(s, 3);
        r->pairs = sqlite3_column_int(s, 4);
        r->errors = sqlite3_column_int(s, 5);
        r->above = sqlite3_column_int(s, 6);
        r->mean_gap = db_sql_real(s, 7);
        if (!r->label || !r->exact_label || !r->dataset || !r->model_name) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc == SQLITE_NOMEM) oom(err, errlen);
    else db_sql_fail(st->db, "search errors", err, errlen);
    db_search_error_rows_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

/* ---- machines, probes, identity, interference --------------------------------- */

int db_store_read_probe(db_store *st, int64_t machine_id, db_probe_record *out, bool *found, char *err,
                        size_t errlen) {
    memset(out, 0, sizeof *out);
    out->bandwidth_gbs = out->gflops = out->gflops_per_thread = NAN;
    *found = false;
    if (!db_sql_has_table(st->db, "machine_probe")) return 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT bandwidth_gbs, gflops, gflops_per_thread, threads, measured_at"
                                   " FROM machine_probe WHERE machine_id = ? ORDER BY measured_at DESC LIMIT 1",
                           -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read machine_probe", err, errlen);
    sqlite3_bind_int64(s, 1, machine_id);
    if (sqlite3_step(s) == SQLITE_ROW) {
        *found = true;
        out->bandwidth_gbs = db_sql_real(s, 0);
        out->gflops = db_sql_real(s, 1);
        out->gflops_per_thread = db_sql_real(s, 2);
        out->threads = sqlite3_column_int(s, 3);
        out->measured_at_ms = sqlite3_column_int64(s, 4);
    }
    sqlite3_finalize(s);
    return 0;
}

void db_fields_free(db_field *f, int n) {
    for (int i = 0; f && i < n; i++) {
        free(f[i].name);
        free(f[i].text);
    }
    free(f);
}

int db_store_read_record(db_store *st, db_record_kind kind, int64_t id, db_field **out, int *n) {
    static const char *const sql[] = {
        [DB_RECORD_MACHINE] = "SELECT hostname, cpu_model, arch, os, packages, cores, pus, numa_nodes, memory_bytes,"
                              " l1d_bytes, l2_bytes, l3_bytes, fingerprint, first_seen FROM machine WHERE id = ?",
        [DB_RECORD_PROBE] =
            "SELECT bandwidth_gbs AS \"memory bandwidth (GB/s)\", gflops AS \"FP32 peak, all threads (GFLOP/s)\","
            " gflops_per_thread AS \"FP32 peak, one thread (GFLOP/s)\", threads, method, measured_at"
            " FROM machine_probe WHERE machine_id = ? ORDER BY measured_at DESC LIMIT 1",
        [DB_RECORD_RUN] = "SELECT id AS run, suite_name, suite_path, status, argv, decobench_rev, llama_commit, compiler,"
                          " build_flags, papi_version, threads, started_at, finished_at FROM run WHERE id = ?",
    };
    *out = NULL;
    *n = 0;
    if (kind == DB_RECORD_PROBE && !db_sql_has_table(st->db, "machine_probe")) return 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql[kind], -1, &s, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int64(s, 1, id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return 0;
    }
    int nc = sqlite3_column_count(s);
    db_field *f = calloc((size_t)(nc > 0 ? nc : 1), sizeof *f);
    int bad = !f;
    for (int c = 0; !bad && c < nc; c++) {
        const char *t = (const char *)sqlite3_column_text(s, c);
        f[c].name = db_strdup(sqlite3_column_name(s, c));
        f[c].text = t ? db_strdup(t) : NULL;
        f[c].is_text = sqlite3_column_type(s, c) == SQLITE_TEXT;
        f[c].int_value = sqlite3_column_int64(s, c);
        bad = !f[c].name || (t && !f[c].text);
    }
    sqlite3_finalize(s);
    if (bad) {
        db_fields_free(f, nc);
        return -1;
    }
    *out = f;
    *n = nc;
    return 0;
}

int db_store_read_identity(db_store *st, int64_t case_id, int *n_compared, int *n_identical, char *err,
                           size_t errlen) {
    int f = db_identity_get(st->db, case_id, n_compared, n_identical);
    return f < 0 ? db_sql_fail(st->db, "read identity", err, errlen) : f;
}

void db_noise_rows_free(db_noise_row *r, int n) {
    for (int i = 0; r && i < n; i++) {
        free(r[i].name);
        free(r[i].text);
    }
    free(r);
}

int db_store_read_interference(db_store *st, int64_t run_id, int64_t case_id, db_noise_row **out, int *n,
                               char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    const char *sql =
        case_id > 0 ? "SELECT i.name, i.value, i.text FROM interference i JOIN \"case\" c ON c.run_id = i.run_id"
                      " AND c.idx = i.case_idx WHERE c.id = ? ORDER BY i.rowid"
                    : "SELECT i.name, i.value, i.text FROM interference i WHERE i.run_id = ? AND i.case_idx = -1"
                      " ORDER BY i.rowid";
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) return 0;   /* no such table: not recorded */
    sqlite3_bind_int64(s, 1, case_id > 0 ? case_id : run_id);
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow((void **)out, &cap, *n, sizeof **out) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        db_noise_row *r = &(*out)[(*n)++];
        const char *name = (const char *)sqlite3_column_text(s, 0), *text = (const char *)sqlite3_column_text(s, 2);
        r->name = name ? db_strdup(name) : NULL;
        r->value = db_sql_real(s, 1);
        r->text = text ? db_strdup(text) : NULL;
        if ((name && !r->name) || (text && !r->text)) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc == SQLITE_NOMEM) oom(err, errlen);
    else db_sql_fail(st->db, "read interference", err, errlen);
    db_noise_rows_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}
