/* store_read.c — the readers of the results database (store_read.h):
 * which run "latest" means (db_store_pick_run, store.h: the latest run
 * that ended, with a note when the run shown is incomplete), and the runs,
 * cases, samples, counters, events, metrics, probes, records and
 * interference rows the report writers read.
 */
#include "store_read.h"
#include "store_int.h"
#include "events_codec.h"

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

static int oom(char *err, size_t errlen) {
    return db_errf(err, errlen, "out of memory");
}

/* Prepare sql on the store; -1 with "WHAT: sqlite message" in err. */
static int prep(db_store *st, const char *sql, const char *what, sqlite3_stmt **s, char *err, size_t errlen) {
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) == SQLITE_OK) return 0;
    return db_sql_fail(st->db, what, err, errlen);
}

/* Reads one row into the (zeroed) element e; -1 when out of memory. */
typedef int (*row_reader)(sqlite3_stmt *s, void *e);
/* Frees what an element holds (not the element). */
typedef void (*elem_free)(void *e);

/* Frees an array of n sz-byte elements and what each holds (efree). */
static void free_array(void *arr, int n, size_t sz, elem_free efree) {
    for (int i = 0; arr && efree && i < n; i++) efree((char *)arr + (size_t)i * sz);
    free(arr);
}

/* Frees the n strings of f. */
static void free_strs(char *const *f, size_t n) {
    for (size_t i = 0; i < n; i++) free(f[i]);
}

/* Steps s (prepared and bound) to its end, each row read by row into a
 * grown array of sz-byte elements, and finalizes it; out is the address of
 * the caller's T * (set to the array, NULL when empty) and *n its length.
 * On failure the elements read are freed with efree (NULL: nothing to
 * free) and -1 returned with "WHAT: sqlite message" or "out of memory" in
 * err. */
static int read_rows(db_store *st, sqlite3_stmt *s, const char *what, size_t sz, row_reader row, elem_free efree,
                     void *out, int *n, char *err, size_t errlen) {
    char *arr = NULL;
    int rc, cap = 0, k = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            int nc = cap ? 2 * cap : 16;
            char *a = realloc(arr, (size_t)nc * sz);
            if (!a) {
                rc = SQLITE_NOMEM;
                break;
            }
            arr = a;
            cap = nc;
        }
        void *e = arr + (size_t)k++ * sz;
        memset(e, 0, sz);
        if (row(s, e) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_NOMEM) oom(err, errlen);
        else db_sql_fail(st->db, what, err, errlen);
        free_array(arr, k, sz, efree);
        arr = NULL;
        k = 0;
    }
    memcpy(out, &arr, sizeof arr);   /* into the caller's T * */
    *n = k;
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- runs --------------------------------------------------------------------- */

#define RUN_COLS                                                                                        \
    "SELECT r.id, COALESCE(r.machine_id, 0), r.started_at, r.suite_name, r.config_json, r.llama_commit," \
    " r.decobench_rev, r.status, m.hostname, m.cpu_model, m.cores FROM run r"                           \
    " LEFT JOIN machine m ON m.id = r.machine_id"

static int run_row(sqlite3_stmt *s, void *e) {
    db_run_info *r = e;
    r->id = sqlite3_column_int64(s, 0);
    r->machine_id = sqlite3_column_int64(s, 1);
    r->started_at = sqlite3_column_int64(s, 2);
    char **f[] = { &r->suite_name, &r->config_json, &r->llama_commit, &r->decobench_rev, &r->status,
                   &r->hostname, &r->cpu_model };
    int bad = 0;
    for (int i = 0; i < 7; i++) bad |= !(*f[i] = db_sql_text(s, 3 + i));
    r->cores = sqlite3_column_int(s, 10);
    return bad ? -1 : 0;
}

static void run_free(void *e) {
    db_run_info *r = e;
    char *f[] = { r->suite_name, r->config_json, r->llama_commit, r->decobench_rev, r->status, r->hostname,
                  r->cpu_model };
    free_strs(f, sizeof f / sizeof f[0]);
    memset(r, 0, sizeof *r);
}

void db_run_info_free(db_run_info *r) { if (r) run_free(r); }
void db_run_infos_free(db_run_info *r, int n) { free_array(r, n, sizeof *r, run_free); }

int db_store_resolve_run(db_store *st, int64_t want, int64_t *run_id, char *note, size_t notelen, char *err,
                         size_t errlen) {
    return db_store_pick_run(st->db, want, run_id, note, notelen, err, errlen);
}

int db_store_count_runs(db_store *st, int64_t *n, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    *n = 0;
    if (prep(st, "SELECT COUNT(*) FROM run", "read runs", &s, err, errlen) != 0) return -1;
    if (sqlite3_step(s) == SQLITE_ROW) *n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return 0;
}

int db_store_read_run(db_store *st, int64_t want, db_run_info *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    /* "latest": the latest run that ended */
    if (want <= 0 && db_store_pick_run(st->db, 0, &want, NULL, 0, err, errlen) != 0) return -1;
    sqlite3_stmt *s = NULL;
    if (prep(st, RUN_COLS " WHERE r.id = ?", "read run", &s, err, errlen) != 0) return -1;
    sqlite3_bind_int64(s, 1, want);
    db_run_info *r = NULL;
    int n = 0;
    if (read_rows(st, s, "read run", sizeof *r, run_row, run_free, &r, &n, err, errlen) != 0) return -1;
    if (n == 0) return db_errf(err, errlen, "no run with id %lld", (long long)want);
    *out = r[0];
    free(r);
    return 0;
}

int db_store_read_runs(db_store *st, const char *suite, bool ended, db_run_info **out, int *n, char *err,
                       size_t errlen) {
    char sql[1024];
    snprintf(sql, sizeof sql, "%s WHERE %s AND %s ORDER BY r.id", RUN_COLS, suite ? "r.suite_name IS ?1" : "1",
             ended ? "r." DB_RUN_ENDED_SQL : "1");
    sqlite3_stmt *s = NULL;
    *out = NULL;
    *n = 0;
    if (prep(st, sql, "read runs", &s, err, errlen) != 0) return -1;
    if (suite) sqlite3_bind_text(s, 1, suite, -1, SQLITE_TRANSIENT);
    return read_rows(st, s, "read runs", sizeof **out, run_row, run_free, out, n, err, errlen);
}

static int run_counter_row(sqlite3_stmt *s, void *e) {
    db_run_counter_info *c = e;
    c->name = db_sql_text(s, 0);
    c->available = sqlite3_column_int(s, 1) != 0;
    c->fallback = sqlite3_column_int(s, 2) != 0;
    c->reason = db_sql_text(s, 3);
    return c->name && c->reason ? 0 : -1;
}

static void run_counter_free(void *e) {
    db_run_counter_info *c = e;
    free(c->name);
    free(c->reason);
}

void db_run_counters_free(db_run_counter_info *c, int n) { free_array(c, n, sizeof *c, run_counter_free); }

int db_store_read_run_counters(db_store *st, int64_t run_id, db_run_counter_info **out, int *n, char *err,
                               size_t errlen) {
    sqlite3_stmt *s = NULL;
    *out = NULL;
    *n = 0;
    if (prep(st, "SELECT name, available, fallback, reason FROM run_counter WHERE run_id = ? ORDER BY rowid",
             "read run counters", &s, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, run_id);
    return read_rows(st, s, "read run counters", sizeof **out, run_counter_row, run_counter_free, out, n, err,
                     errlen);
}

/* ---- cases -------------------------------------------------------------------- */

#define CASE_COLS                                                                                       \
    "SELECT c.id, c.run_id, c.idx, c.engine, c.label, c.dataset, c.model_name, c.model_sha256,"        \
    " c.params_json, c.status, c.model_bytes, (SELECT COUNT(*) FROM sample x WHERE x.case_id = c.id),"  \
    " c.draft_name FROM \"case\" c"

static int case_row(sqlite3_stmt *s, void *e) {
    db_case_info *c = e;
    c->id = sqlite3_column_int64(s, 0);
    c->run_id = sqlite3_column_int64(s, 1);
    c->idx = sqlite3_column_int(s, 2);
    char **f[] = { &c->engine, &c->label, &c->dataset, &c->model_name, &c->model_sha256, &c->params_json,
                   &c->status };
    int bad = 0;
    for (int i = 0; i < 7; i++) bad |= !(*f[i] = db_sql_text(s, 3 + i));
    c->model_bytes = sqlite3_column_int64(s, 10);
    c->n_samples = sqlite3_column_int(s, 11);
    c->draft_name = sqlite3_column_type(s, 12) == SQLITE_NULL ? NULL : db_sql_text(s, 12);
    if (sqlite3_column_type(s, 12) != SQLITE_NULL && !c->draft_name) bad = 1;
    return bad ? -1 : 0;
}

static void case_free(void *e) {
    db_case_info *c = e;
    char *f[] = { c->engine, c->label, c->dataset, c->model_name, c->model_sha256, c->params_json, c->status,
                  c->draft_name };
    free_strs(f, sizeof f / sizeof f[0]);
    memset(c, 0, sizeof *c);
}

void db_case_info_free(db_case_info *c) { if (c) case_free(c); }
void db_case_infos_free(db_case_info *c, int n) { free_array(c, n, sizeof *c, case_free); }

int db_store_read_cases(db_store *st, int64_t run_id, const char *label, db_case_info **out, int *n, char *err,
                        size_t errlen) {
    char sql[1024];
    snprintf(sql, sizeof sql, "%s WHERE %s AND %s ORDER BY c.idx, c.id", CASE_COLS, run_id > 0 ? "c.run_id = ?1" : "1",
             label ? "c.label = ?2" : "1");
    sqlite3_stmt *s = NULL;
    *out = NULL;
    *n = 0;
    if (prep(st, sql, "read cases", &s, err, errlen) != 0) return -1;
    if (run_id > 0) sqlite3_bind_int64(s, 1, run_id);
    if (label) sqlite3_bind_text(s, 2, label, -1, SQLITE_TRANSIENT);
    return read_rows(st, s, "read cases", sizeof **out, case_row, case_free, out, n, err, errlen);
}

int db_store_read_case(db_store *st, int64_t case_id, db_case_info *out, bool *found, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    *found = false;
    sqlite3_stmt *s = NULL;
    if (prep(st, CASE_COLS " WHERE c.id = ?", "read cases", &s, err, errlen) != 0) return -1;
    sqlite3_bind_int64(s, 1, case_id);
    db_case_info *c = NULL;
    int n = 0;
    if (read_rows(st, s, "read cases", sizeof *c, case_row, case_free, &c, &n, err, errlen) != 0) return -1;
    if (n > 0) {
        *found = true;
        *out = c[0];
    }
    free(c);
    return 0;
}

/* ---- samples ------------------------------------------------------------------ */

/* printf format: the turn column, then the output columns */
#define SAMPLE_COLS                                                                                         \
    "SELECT id, prompt_idx, rep, %s, seed, prompt_id, category, stop_reason, %s,"                           \
    " n_prompt_tokens, new_tokens, target_forwards, draft_forwards, target_tokens_evaluated,"               \
    " n_commits, drafted, accepted, ttft_ms, latency_ms, tokens_per_s, tpot_ms, mat, acceptance_rate,"      \
    " draft_time_ms, forward_time_ms, peak_rss_kib FROM sample WHERE case_id = ?1"                         \
    " AND (stop_reason IS NULL OR stop_reason NOT LIKE 'error:%%') ORDER BY id LIMIT ?2" /* DB_SAMPLE_OK_SQL */

static int sample_row(sqlite3_stmt *s, void *e) {
    db_sample_info *x = e;
    x->id = sqlite3_column_int64(s, 0);
    x->prompt_idx = sqlite3_column_int(s, 1);
    x->rep = sqlite3_column_int(s, 2);
    x->turn = sqlite3_column_int(s, 3);
    x->has_seed = sqlite3_column_type(s, 4) != SQLITE_NULL;
    x->seed = sqlite3_column_int64(s, 4);
    x->has_new_tokens = sqlite3_column_type(s, 11) != SQLITE_NULL;
    char **f[] = { &x->prompt_id, &x->category, &x->stop_reason, &x->output_tokens_json, &x->output_text };
    int bad = 0;
    for (int i = 0; i < 5; i++) bad |= !(*f[i] = db_sql_text(s, 5 + i));
    int64_t *iv[] = { &x->n_prompt_tokens, &x->new_tokens, &x->target_forwards, &x->draft_forwards,
                      &x->target_tokens_evaluated, &x->n_commits, &x->drafted, &x->accepted };
    for (int k = 0; k < 8; k++) *iv[k] = sqlite3_column_int64(s, 10 + k);
    double *dv[] = { &x->ttft_ms, &x->latency_ms, &x->tokens_per_s, &x->tpot_ms, &x->mat, &x->acceptance_rate,
                     &x->draft_time_ms, &x->forward_time_ms, &x->peak_rss_kib };
    for (int k = 0; k < 9; k++) *dv[k] = db_sql_real(s, 18 + k);
    return bad ? -1 : 0;
}

static void sample_free(void *e) {
    db_sample_info *x = e;
    char *f[] = { x->prompt_id, x->category, x->stop_reason, x->output_tokens_json, x->output_text };
    free_strs(f, sizeof f / sizeof f[0]);
}

void db_sample_infos_free(db_sample_info *s, int n) { free_array(s, n, sizeof *s, sample_free); }

int db_store_read_samples(db_store *st, int64_t case_id, int limit, bool outputs, db_sample_info **out, int *n,
                          char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    /* a pruned run's outputs are in the output table (version 7) */
    const char *outs = outputs ? DB_SAMPLE_OUTPUT_SQL("sample") : "'', ''";
    const char *outs_v6 = outputs ? "output_tokens_json, output_text" : "'', ''";
    char sql[3][1536];
    snprintf(sql[0], sizeof sql[0], SAMPLE_COLS, "turn", outs);
    /* read-only opens of version 6 and older files have no output_id */
    snprintf(sql[1], sizeof sql[1], SAMPLE_COLS, "turn", outs_v6);
    /* databases written before the turn column read as turn 0 */
    snprintf(sql[2], sizeof sql[2], SAMPLE_COLS, "0", outs_v6);
    if (sqlite3_prepare_v2(st->db, sql[0], -1, &s, NULL) != SQLITE_OK &&
        sqlite3_prepare_v2(st->db, sql[1], -1, &s, NULL) != SQLITE_OK &&
        prep(st, sql[2], "read samples", &s, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, case_id);
    sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
    return read_rows(st, s, "read samples", sizeof **out, sample_row, sample_free, out, n, err, errlen);
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

static void counter_value_free(void *e) {
    free(((db_counter_value *)e)->name);
}

void db_counter_values_free(db_counter_value *v, int n) { free_array(v, n, sizeof *v, counter_value_free); }

/* the error line of a failed db_st_for_packed_counters (pr: its result) */
static int packed_error(db_store *st, int pr, const char *what, char *err, size_t errlen) {
    return db_errf(err, errlen, "%s: %s: %s", st->path, what,
                   pr == -2 ? "a malformed sample_counter_pack blob" : sqlite3_errmsg(st->db));
}

/* the order key of a packed counter: after every row counter, by sample
 * and then by place in the sample's blob */
#define PACKED_ORDER0 ((int64_t)1 << 62)

typedef struct {
    db_counter_fn fn;
    void *ctx;
    int64_t last_sample;
    int64_t pos;
} packed_ctx;

static int packed_to_fn(void *ctx, int64_t sample_id, const char *name, bool is_null, int64_t value) {
    packed_ctx *p = ctx;
    p->pos = sample_id == p->last_sample ? p->pos + 1 : 0;
    p->last_sample = sample_id;
    int64_t pos = p->pos < 1023 ? p->pos : 1023;
    int64_t order = PACKED_ORDER0 + (sample_id & (((int64_t)1 << 51) - 1)) * 1024 + pos;
    return p->fn(p->ctx, sample_id, name, is_null ? NAN : (double)value, order) ? -3 : 0;
}

int db_store_for_case_counters(db_store *st, int64_t case_id, db_counter_fn fn, void *ctx, char *err,
                               size_t errlen) {
    sqlite3_stmt *s = NULL;
    if (prep(st, "SELECT sc.sample_id, sc.name, sc.value, sc.rowid FROM sample_counter sc"
                 " JOIN sample s ON s.id = sc.sample_id WHERE s.case_id = ?", "read sample counters", &s, err,
             errlen) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, case_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 1);
        if (!name) {
            rc = SQLITE_NOMEM;
            break;
        }
        if (fn(ctx, sqlite3_column_int64(s, 0), name, db_sql_real(s, 2), sqlite3_column_int64(s, 3)) != 0) {
            sqlite3_finalize(s);
            return db_errf(err, errlen, "out of memory");
        }
    }
    if (rc != SQLITE_DONE) {
        db_sql_fail(st->db, "read sample counters", err, errlen);
        sqlite3_finalize(s);
        return -1;
    }
    sqlite3_finalize(s);
    packed_ctx p = { fn, ctx, -1, 0 };
    int pr = db_st_for_packed_counters(st->db, DB_PACKED_CASE, case_id, packed_to_fn, &p);
    if (pr == -3) return db_errf(err, errlen, "out of memory");
    if (pr != 0) return packed_error(st, pr, "read packed sample counters", err, errlen);
    return 0;
}

/* counter values gathered into a grown array */
typedef struct {
    db_counter_value *v;
    int n, cap;
} counter_acc;

static int counter_add(void *ctx, int64_t sample_id, const char *name, double value, int64_t order) {
    (void)order;
    counter_acc *a = ctx;
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 64;
        db_counter_value *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    db_counter_value *x = &a->v[a->n];
    if (!(x->name = db_strdup(name))) return -1;
    x->sample_id = sample_id;
    x->value = value;
    a->n++;
    return 0;
}

int db_store_read_sample_counters(db_store *st, int64_t case_id, db_counter_value **out, int *n, char *err,
                                  size_t errlen) {
    counter_acc a = { NULL, 0, 0 };
    *out = NULL;
    *n = 0;
    if (db_store_for_case_counters(st, case_id, counter_add, &a, err, errlen) != 0) {
        db_counter_values_free(a.v, a.n);
        return -1;
    }
    *out = a.v;
    *n = a.n;
    return 0;
}

static int name_row(sqlite3_stmt *s, void *e) {
    return (*(char **)e = db_sql_text(s, 0)) ? 0 : -1;
}

static void name_free(void *e) {
    free(*(char **)e);
}

void db_names_free(char **names, int n) { free_array(names, n, sizeof *names, name_free); }

typedef struct {
    char **v;
    int n, cap;
} name_acc;

/* adds name unless present (a run has a handful of counter names) */
static int name_add(void *ctx, int64_t sample_id, const char *name, bool is_null, int64_t value) {
    (void)sample_id;
    (void)is_null;
    (void)value;
    name_acc *a = ctx;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->v[i], name) == 0) return 0;
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 16;
        char **v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    if (!(a->v[a->n] = db_strdup(name))) return -1;
    a->n++;
    return 0;
}

int db_store_read_counter_names(db_store *st, int64_t run_id, char ***names, int *n, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    *names = NULL;
    *n = 0;
    if (prep(st, "SELECT sc.name FROM sample_counter sc JOIN sample s ON s.id = sc.sample_id"
                 " JOIN \"case\" c ON c.id = s.case_id WHERE c.run_id = ?"
                 " GROUP BY sc.name ORDER BY MIN(sc.rowid)", "read counters", &s, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, run_id);
    if (read_rows(st, s, "read counters", sizeof **names, name_row, name_free, names, n, err, errlen) != 0)
        return -1;
    /* a pruned run's counters are packed: their names in the order first stored */
    name_acc a = { *names, *n, *n };
    int pr = db_st_for_packed_counters(st->db, DB_PACKED_RUN, run_id, name_add, &a);
    if (pr != 0) {
        db_names_free(a.v, a.n);
        *names = NULL;
        *n = 0;
        return packed_error(st, pr, "read packed counters", err, errlen);
    }
    *names = a.v;
    *n = a.n;
    return 0;
}

/* the events of one kind gathered into a grown array */
typedef struct {
    db_event_info *v;
    int n, cap;
} event_acc;

static int event_add(void *ctx, int64_t sample_id, const db_event_row *e) {
    event_acc *a = ctx;
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 256;
        db_event_info *g = realloc(a->v, (size_t)cap * sizeof *g);
        if (!g) return -2;
        a->v = g;
        a->cap = cap;
    }
    db_event_info *ev = &a->v[a->n++];
    ev->sample_id = sample_id;
    ev->n_tokens = e->n_tokens;
    ev->n_accepted = e->n_accepted;
    ev->accepted_mask = e->accepted_mask;
    return 0;
}

int db_store_read_events(db_store *st, int64_t case_id, int kind, db_event_info **out, int *n, char *err,
                         size_t errlen) {
    *out = NULL;
    *n = 0;
    /* from the sample_events blobs and the step_event rows alike */
    event_acc a = { NULL, 0, 0 };
    int rc = db_st_for_events(st, case_id, kind, event_add, &a, err, errlen);
    if (rc != 0) {
        free(a.v);
        if (rc == -2) return db_errf(err, errlen, "out of memory");
        return -1;
    }
    *out = a.v;
    *n = a.n;
    return 0;
}

/* ---- named per-sample metrics ------------------------------------------------- */

int db_store_read_metric_names(db_store *st, int64_t run_id, char ***names, int *n, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    *names = NULL;
    *n = 0;
    if (!db_sql_has_table(st->db, "sample_metric")) return 0;
    if (prep(st, "SELECT DISTINCT m.name FROM sample_metric m JOIN sample s ON s.id = m.sample_id"
                 " JOIN \"case\" c ON c.id = s.case_id WHERE c.run_id = ? AND m.value IS NOT NULL ORDER BY m.name",
             "read sample metrics", &s, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, run_id);
    return read_rows(st, s, "read sample metrics", sizeof **names, name_row, name_free, names, n, err, errlen);
}

/* Steps s (bound, one row expected) and reads its REAL column 0 into *v
 * (NaN for NULL or no row); finalizes s. */
static int one_real(db_store *st, sqlite3_stmt *s, const char *what, double *v, char *err, size_t errlen) {
    int rc = sqlite3_step(s);
    *v = rc == SQLITE_ROW ? db_sql_real(s, 0) : NAN;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_sql_fail(st->db, what, err, errlen);
}

int db_store_metric_stored(db_store *st, const char *name, bool *found, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    double one = NAN;
    *found = false;
    if (prep(st, "SELECT 1 FROM sample_metric WHERE name = ? LIMIT 1", "read sample metrics", &s, err, errlen) != 0)
        return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    if (one_real(st, s, "read sample metrics", &one, err, errlen) != 0) return -1;
    *found = one == 1;
    return 0;
}

int db_store_case_metric_mean(db_store *st, int64_t case_id, const char *name, double *mean, char *err,
                              size_t errlen) {
    sqlite3_stmt *s = NULL;
    *mean = NAN;
    if (prep(st, "SELECT AVG(m.value) FROM sample_metric m JOIN sample s ON s.id = m.sample_id"
                 " WHERE s.case_id = ? AND m.name = ?", "read sample metrics", &s, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, case_id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    return one_real(st, s, "read sample metrics", mean, err, errlen);
}

int db_store_case_metric_count(db_store *st, int64_t case_id, const char *name, double value, int *count,
                               char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    double c = NAN;
    *count = 0;
    if (prep(st, "SELECT COUNT(*) FROM sample x JOIN sample_metric m ON m.sample_id = x.id"
                 " AND m.name = ? AND m.value = ? WHERE x.case_id = ?", "read sample metrics", &s, err, errlen) != 0)
        return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 2, value);
    sqlite3_bind_int64(s, 3, case_id);
    if (one_real(st, s, "read sample metrics", &c, err, errlen) != 0) return -1;
    *count = isfinite(c) ? (int)c : 0;
    return 0;
}

int db_store_case_means(db_store *st, int64_t case_id, db_case_means *out, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    out->target_forwards = out->forwards = out->target_tokens_evaluated = NAN;
    if (prep(st, "SELECT AVG(target_forwards), AVG(target_forwards + draft_forwards), AVG(target_tokens_evaluated)"
                 " FROM sample WHERE case_id = ?", "read samples", &s, err, errlen) != 0)
        return -1;
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

static int search_error_row(sqlite3_stmt *s, void *e) {
    db_search_error_row *r = e;
    char **f[] = { &r->label, &r->exact_label, &r->dataset, &r->model_name };
    int bad = 0;
    for (int i = 0; i < 4; i++) bad |= !(*f[i] = db_sql_text(s, i));
    r->pairs = sqlite3_column_int(s, 4);
    r->errors = sqlite3_column_int(s, 5);
    r->above = sqlite3_column_int(s, 6);
    r->mean_gap = db_sql_real(s, 7);
    return bad ? -1 : 0;
}

static void search_error_free(void *e) {
    db_search_error_row *r = e;
    char *f[] = { r->label, r->exact_label, r->dataset, r->model_name };
    free_strs(f, sizeof f / sizeof f[0]);
}

void db_search_error_rows_free(db_search_error_row *r, int n) {
    free_array(r, n, sizeof *r, search_error_free);
}

int db_store_read_search_errors(db_store *st, int64_t run_id, double tol, db_search_error_row **out, int *n,
                                char *err, size_t errlen) {
    /* SAME: the two samples have the same output (in their columns, or the same output row once pruned) */
#define SEARCH_ERRORS_SQL(SAME)                                                                               \
        "SELECT c.label, ec.label, c.dataset, c.model_name, COUNT(*),"                                        \
        " SUM(CASE WHEN " SAME " AND b.stop_reason IS e.stop_reason THEN 0"                                   \
        "          WHEN bs.value < es.value - ?2 THEN 1 ELSE 0 END),"                                         \
        " SUM(CASE WHEN " SAME " AND b.stop_reason IS e.stop_reason THEN 0"                                   \
        "          WHEN bs.value > es.value + ?2 THEN 1 ELSE 0 END),"                                         \
        " AVG(CASE WHEN " SAME " AND b.stop_reason IS e.stop_reason THEN 0"                                   \
        "          ELSE es.value - bs.value END)"                                                             \
        " FROM \"case\" c JOIN sample b ON b.case_id = c.id"                                                  \
        " JOIN sample_metric bs ON bs.sample_id = b.id AND bs.name = 'search_score'"                          \
        " JOIN \"case\" ec ON ec.run_id = c.run_id AND ec.engine = 'exact' AND ec.id <> c.id"                 \
        "   AND ec.dataset IS c.dataset AND ec.model_name IS c.model_name"                                    \
        " JOIN sample e ON e.case_id = ec.id AND e.prompt_idx = b.prompt_idx AND e.rep = b.rep AND e.turn = b.turn"\
        " JOIN sample_metric es ON es.sample_id = e.id AND es.name = 'search_score'"                          \
        " JOIN sample_metric eo ON eo.sample_id = e.id AND eo.name = 'search_optimal' AND eo.value = 1"       \
        " WHERE c.run_id = ?1 AND c.engine <> 'exact'"                                                        \
        " GROUP BY c.id, ec.id ORDER BY c.idx, ec.idx"
    static const char *sql =
        SEARCH_ERRORS_SQL("b.output_tokens_json IS e.output_tokens_json AND b.output_id IS e.output_id");
    static const char *sql_v6 = SEARCH_ERRORS_SQL("b.output_tokens_json IS e.output_tokens_json");
#undef SEARCH_ERRORS_SQL
    sqlite3_stmt *s = NULL;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK &&
        prep(st, sql_v6, "search errors", &s, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, run_id);
    sqlite3_bind_double(s, 2, tol);
    return read_rows(st, s, "search errors", sizeof **out, search_error_row, search_error_free, out, n, err, errlen);
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
    *found = sqlite3_step(s) == SQLITE_ROW;
    double *dv[] = { &out->bandwidth_gbs, &out->gflops, &out->gflops_per_thread };
    for (int k = 0; *found && k < 3; k++) *dv[k] = db_sql_real(s, k);
    out->threads = *found ? sqlite3_column_int(s, 3) : 0;
    out->measured_at_ms = *found ? sqlite3_column_int64(s, 4) : 0;
    sqlite3_finalize(s);
    return 0;
}

static int device_row(sqlite3_stmt *s, void *e) {
    db_device_info *d = e;
    d->idx = sqlite3_column_int(s, 0);
    d->measured_at_ms = sqlite3_column_int64(s, 1);
    char **str[] = { &d->name, &d->description, &d->type, &d->backend, &d->known, &d->source };
    static const int col[] = { 2, 3, 4, 5, 7, 11 };
    for (int k = 0; k < 6; k++) {
        const char *t = (const char *)sqlite3_column_text(s, col[k]);
        if (!(*str[k] = db_strdup(t ? t : ""))) return -1;
    }
    sqlite3_int64 mem = sqlite3_column_int64(s, 6);
    d->memory_bytes = mem > 0 ? (uint64_t)mem : 0;
    d->bandwidth_gbs = db_sql_real(s, 8);
    d->peak_fp32_tflops = db_sql_real(s, 9);
    d->peak_fp16_tflops = db_sql_real(s, 10);
    return 0;
}

static void device_free(void *e) {
    db_device_info *d = e;
    char *f[] = { d->name, d->description, d->type, d->backend, d->known, d->source };
    free_strs(f, 6);
}

void db_device_infos_free(db_device_info *d, int n) {
    free_array(d, n, sizeof *d, device_free);
}

int db_store_read_devices(db_store *st, int64_t machine_id, db_device_info **out, int *n, char *err,
                          size_t errlen) {
    *out = NULL;
    *n = 0;
    if (!db_sql_has_table(st->db, "machine_device")) return 0;
    sqlite3_stmt *s = NULL;
    if (prep(st,
             "SELECT idx, measured_at, name, description, type, backend, memory_bytes, known, bandwidth_gbs,"
             " peak_fp32_tflops, peak_fp16_tflops, source FROM machine_device WHERE machine_id = ?1 AND measured_at ="
             " (SELECT MAX(measured_at) FROM machine_device WHERE machine_id = ?1) ORDER BY idx",
             "read machine_device", &s, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, machine_id);
    return read_rows(st, s, "read machine_device", sizeof **out, device_row, device_free, out, n, err, errlen);
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
        /* the type before any conversion (column_text converts numbers) */
        int type = sqlite3_column_type(s, c);
        f[c].is_text = type == SQLITE_TEXT;
        f[c].int_value = sqlite3_column_int64(s, c);
        const char *t = type == SQLITE_NULL ? NULL : (const char *)sqlite3_column_text(s, c);
        f[c].name = db_strdup(sqlite3_column_name(s, c));
        f[c].text = t ? db_strdup(t) : NULL;
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

static int noise_row(sqlite3_stmt *s, void *e) {
    db_noise_row *r = e;
    const char *name = (const char *)sqlite3_column_text(s, 0), *text = (const char *)sqlite3_column_text(s, 2);
    r->name = name ? db_strdup(name) : NULL;
    r->value = db_sql_real(s, 1);
    r->text = text ? db_strdup(text) : NULL;
    return (name && !r->name) || (text && !r->text) ? -1 : 0;
}

static void noise_free(void *e) {
    db_noise_row *r = e;
    free(r->name);
    free(r->text);
}

void db_noise_rows_free(db_noise_row *r, int n) { free_array(r, n, sizeof *r, noise_free); }

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
    return read_rows(st, s, "read interference", sizeof **out, noise_row, noise_free, out, n, err, errlen);
}

int db_st_read_rows(db_store *st, sqlite3_stmt *s, const char *what, size_t sz, int (*row)(sqlite3_stmt *, void *),
                    void (*efree)(void *), void *out, int *n, char *err, size_t errlen) {
    return read_rows(st, s, what, sz, row, efree, out, n, err, errlen);
}
