/* store_events.c — step events in the results database (schema version 6):
 * reading them from the compact per-sample blobs (sample_events) and from
 * step_event rows alike, converting the rows of older databases into blobs,
 * and pruning old runs' raw per-sample data (`decobench prune`). */
#include "store_int.h"
#include "events_codec.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

/* whether table `name` (main or temp) has at least one row */
static int has_rows(sqlite3 *db, const char *name, bool *yes) {
    *yes = false;
    if (!db_sql_has_table(db, name)) return 0;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s LIMIT 1", name);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return -1;
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return -1;
    *yes = rc == SQLITE_ROW;
    return 0;
}

int db_st_for_events(db_store *st, int64_t case_id, int kind,
                     int (*fn)(void *ctx, int64_t sample_id, const struct db_event_row *e), void *ctx, char *err,
                     size_t errlen) {
    sqlite3 *db = st->db;
    bool any_rows = false, any_blobs = false;
    if (has_rows(db, "step_event", &any_rows) != 0 || has_rows(db, "sample_events", &any_blobs) != 0)
        return db_sql_fail(db, "read step events", err, errlen);
    if (!any_rows && !any_blobs) return 0;
    sqlite3_stmt *s = NULL, *r = NULL;
    const char *sql = any_blobs ? "SELECT s.id, e.n, e.data FROM sample s LEFT JOIN sample_events e"
                                  " ON e.sample_id = s.id WHERE s.case_id = ? ORDER BY s.id"
                                : "SELECT s.id, NULL, NULL FROM sample s WHERE s.case_id = ? ORDER BY s.id";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_sql_fail(db, "read step events", err, errlen);
    if (any_rows &&
        sqlite3_prepare_v2(db,
                           "SELECT kind, role, step, n_tokens, n_accepted, accepted_mask, t_start_us, t_end_us"
                           " FROM step_event WHERE sample_id = ?1 AND (?2 = 0 OR kind = ?2) ORDER BY seq",
                           -1, &r, NULL) != SQLITE_OK) {
        sqlite3_finalize(s);
        return db_sql_fail(db, "read step events", err, errlen);
    }
    sqlite3_bind_int64(s, 1, case_id);
    int rc, ret = 0;
    while (ret == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (sqlite3_column_type(s, 2) != SQLITE_NULL) {
            db_event_row *ev = NULL;
            int n = 0;
            const void *b = sqlite3_column_blob(s, 2);
            int len = sqlite3_column_bytes(s, 2);
            if (db_events_decode(b, (size_t)len, sqlite3_column_int(s, 1), &ev, &n, err, errlen) != 0) {
                char m[256];
                snprintf(m, sizeof m, "%s", err);
                db_errf(err, errlen, "sample %lld: %s", (long long)id, m);
                ret = -1;
                break;
            }
            for (int i = 0; i < n && ret == 0; i++)
                if (kind == 0 || ev[i].kind == kind) ret = fn(ctx, id, &ev[i]);
            free(ev);
            continue;
        }
        if (!r) continue;
        sqlite3_reset(r);
        sqlite3_bind_int64(r, 1, id);
        sqlite3_bind_int(r, 2, kind);
        int r2;
        while (ret == 0 && (r2 = sqlite3_step(r)) == SQLITE_ROW) {
            db_event_row e;
            e.kind = sqlite3_column_int(r, 0);
            e.role = sqlite3_column_int(r, 1);
            e.step = sqlite3_column_int(r, 2);
            e.n_tokens = sqlite3_column_int(r, 3);
            e.n_accepted = sqlite3_column_int(r, 4);
            e.accepted_mask = (uint64_t)sqlite3_column_int64(r, 5);
            e.t_start_us = sqlite3_column_int64(r, 6);
            e.t_end_us = sqlite3_column_int64(r, 7);
            ret = fn(ctx, id, &e);
        }
        if (ret == 0 && r2 != SQLITE_DONE) {
            rc = r2;
            break;
        }
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = db_sql_fail(db, "read step events", err, errlen);
    sqlite3_finalize(s);
    sqlite3_finalize(r);
    return ret;
}

/* encode the rows gathered for one sample and store them */
static int flush_sample(sqlite3 *db, sqlite3_stmt *ins, int64_t id, const db_event_row *ev, int n, char *err,
                        size_t errlen) {
    uint8_t *blob = NULL;
    size_t len = 0;
    if (db_events_encode(ev, n, &blob, &len, err, errlen) != 0) return -1;
    sqlite3_reset(ins);
    sqlite3_bind_int64(ins, 1, id);
    sqlite3_bind_int(ins, 2, n);
    sqlite3_bind_blob(ins, 3, blob, (int)len, free);
    if (sqlite3_step(ins) != SQLITE_DONE) return db_sql_fail(db, "store step event blob", err, errlen);
    return 0;
}

int db_st_events_to_blobs(sqlite3 *db, int64_t *n_samples, char *err, size_t errlen) {
    *n_samples = 0;
    sqlite3_stmt *s = NULL, *ins = NULL;
    db_event_row *ev = NULL;
    int n = 0, cap = 0, ret = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT sample_id, kind, role, step, n_tokens, n_accepted, accepted_mask, t_start_us,"
                           " t_end_us FROM step_event ORDER BY sample_id, seq", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO sample_events(sample_id, n, data) VALUES(?,?,?)", -1, &ins,
                           NULL) != SQLITE_OK) {
        db_sql_fail(db, "convert step events", err, errlen);
        goto out;
    }
    int64_t cur = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (n > 0 && id != cur) {
            if (flush_sample(db, ins, cur, ev, n, err, errlen) != 0) goto out;
            (*n_samples)++;
            n = 0;
        }
        cur = id;
        if (n == cap) {
            int c2 = cap ? 2 * cap : 256;
            db_event_row *g = realloc(ev, (size_t)c2 * sizeof *g);
            if (!g) {
                db_errf(err, errlen, "out of memory");
                goto out;
            }
            ev = g;
            cap = c2;
        }
        db_event_row *e = &ev[n++];
        e->kind = sqlite3_column_int(s, 1);
        e->role = sqlite3_column_int(s, 2);
        e->step = sqlite3_column_int(s, 3);
        e->n_tokens = sqlite3_column_int(s, 4);
        e->n_accepted = sqlite3_column_int(s, 5);
        e->accepted_mask = (uint64_t)sqlite3_column_int64(s, 6);
        e->t_start_us = sqlite3_column_int64(s, 7);
        e->t_end_us = sqlite3_column_int64(s, 8);
    }
    if (rc != SQLITE_DONE) {
        db_sql_fail(db, "convert step events", err, errlen);
        goto out;
    }
    if (n > 0) {
        if (flush_sample(db, ins, cur, ev, n, err, errlen) != 0) goto out;
        (*n_samples)++;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_exec(db, "DELETE FROM step_event", NULL, NULL, NULL) != SQLITE_OK) {
        db_sql_fail(db, "convert step events", err, errlen);
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(s);
    sqlite3_finalize(ins);
    free(ev);
    return ret;
}
