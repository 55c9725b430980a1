/* store_int.h — internals the files of the results database share
 * (store.c, store_sql.c, store_write.c, store_lifecycle.c, store_read.c,
 * store_merge.c, store_serve.c) and the run layer's other SQL readers (identity.c):
 * the store's handle, its SQL helpers and column readers, and the sample
 * writer both case writers use.  Private to harness/run (and tests/).
 */
#ifndef DECOBENCH_STORE_INT_H
#define DECOBENCH_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct db_store {
    sqlite3 *db;
    char *path;
    bool readonly;
    bool events_rows;   /* write step_event rows, not sample_events blobs */
    char err[512];
    /* S7 run lifecycle: the heartbeat thread (db_store_heartbeat_start) */
    bool hb_running;
    bool hb_stop;
    int64_t hb_run;
    pthread_t hb_thread;
    pthread_mutex_t hb_mu;
    pthread_cond_t hb_cv;
    /* the next run's resume keys (db_store_set_run_lifecycle) */
    bool next_lc_set;
    db_run_lifecycle next_lc;
    char next_suite_sha[65], next_config_sha[65], next_shard_group[128];
};

/* ---- store_sql.c ---------------------------------------------------------- */

/* st->err = "PATH: WHAT: sqlite message"; returns -1. */
int  db_st_err(db_store *st, const char *what);
/* Bind text (NULL: SQL NULL) / a double (non-finite: SQL NULL). */
int  db_st_bind_text(sqlite3_stmt *s, int i, const char *v);
int  db_st_bind_real(sqlite3_stmt *s, int i, double v);
/* Run SQL / prepare a statement; -1 with st->err set. */
int  db_st_exec(db_store *st, const char *sql);
int  db_st_prepare(db_store *st, const char *sql, sqlite3_stmt **s);
/* Step a statement that returns no rows; reset it for reuse. */
int  db_st_step_done(db_store *st, sqlite3_stmt *s, const char *what);
/* -1 with st->err set when the store was opened read-only. */
int  db_st_check_writable(db_store *st);
/* This host's name ("?" when unknown). */
void db_st_this_host(char *buf, size_t len);
/* Column i as a malloc'd string, NULL for SQL NULL. */
char *db_st_col_dup(sqlite3_stmt *s, int i);

/* Column i as a malloc'd string ("" for NULL) / a double (NaN for NULL). */
char  *db_sql_text(sqlite3_stmt *s, int i);
double db_sql_real(sqlite3_stmt *s, int i);
/* Whether the database has a table of that name (tables added by later
 * schema versions may be absent from older databases). */
bool   db_sql_has_table(sqlite3 *db, const char *name);
/* One-line error "WHAT: sqlite message"; returns -1. */
int    db_sql_fail(sqlite3 *db, const char *what, char *err, size_t errlen);

/* ---- store_write.c -------------------------------------------------------- */

/* Insert one sample with its counters (sc), metrics (sm) and step events
 * (se) through the prepared statements of the case writers. */
int db_st_insert_sample(db_store *st, sqlite3_stmt *s, sqlite3_stmt *sc, sqlite3_stmt *sm, sqlite3_stmt *se,
                        int64_t case_id, const db_sample_record *r);
/* Binds run_id and a case record's fields up to n_prompts (the columns
 * both case writers share, in their order); returns the next index. */
int db_st_bind_case_fields(sqlite3_stmt *s, int64_t run_id, const db_case_record *c);

/* ---- store_events.c ------------------------------------------------------- */

/* Calls fn(ctx, sample_id, event) for each step event of kind (0: every
 * kind) of the samples of case case_id (case_id < 0: of sample -case_id
 * only), in sample id then event order, from the sample_events blobs and
 * the step_event rows alike; fn returns nonzero to stop with that value.
 * -1 with err set on a database or blob error. */
struct db_event_row;
int db_st_for_events(db_store *st, int64_t case_id, int kind,
                     int (*fn)(void *ctx, int64_t sample_id, const struct db_event_row *e), void *ctx, char *err,
                     size_t errlen);
/* Schema version 6 upgrade: the step_event rows become sample_events
 * blobs (inside the caller's transaction); *n_samples converted. */
int db_st_events_to_blobs(sqlite3 *db, int64_t *n_samples, char *err, size_t errlen);
/* Schema version 7: the packed counters (sample_counter_pack) of the
 * samples of one case, run or sample (scope, id), in sample id order and
 * each sample's stored order; fn returns nonzero to stop with that value.
 * 0, -1 on a database error, -2 on a malformed blob (or a name id
 * counter_name lacks).  A database without the tables has none. */
enum { DB_PACKED_CASE, DB_PACKED_RUN, DB_PACKED_SAMPLE };
int db_st_for_packed_counters(sqlite3 *db, int scope, int64_t id,
                              int (*fn)(void *ctx, int64_t sample_id, const char *name, bool is_null, int64_t value),
                              void *ctx);

/* ---- store_lifecycle.c ---------------------------------------------------- */

/* Set the heartbeat of row id (sql: "UPDATE ... SET heartbeat_at=? WHERE id=?") to now. */
int db_st_heartbeat_now(db_store *st, const char *sql, int64_t id);

/* ---- store_read.c ---------------------------------------------------------- */

/* Steps s (prepared and bound) to its end, each row read by row(s, e) into
 * a zeroed element of a grown array of sz-byte elements (row returns -1
 * when out of memory), and finalizes s.  out is the address of the
 * caller's T * (the array, NULL when empty), *n its length.  On failure
 * the elements read are freed with efree (NULL: nothing to free), *out is
 * NULL, and -1 is returned with "WHAT: sqlite message" or "out of memory"
 * in err. */
int db_st_read_rows(db_store *st, sqlite3_stmt *s, const char *what, size_t sz, int (*row)(sqlite3_stmt *, void *),
                    void (*efree)(void *), void *out, int *n, char *err, size_t errlen);

#endif
