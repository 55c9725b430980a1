/* store_events.c — step events in the results database (schema version 6):
 * reading them from the compact per-sample blobs (sample_events) and from
 * step_event rows alike, converting the rows of older databases into blobs,
 * and pruning old runs' raw per-sample data (`decobench prune`), which also
 * moves their outputs into the table of distinct outputs and packs their
 * counters into one blob per sample (version 7; read back through
 * db_st_for_packed_counters). */
#include "store_int.h"
#include "events_codec.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/sha256.h"
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

/* the database's size: pages in use times the page size */
static int64_t db_bytes(sqlite3 *db) {
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count,"
                               " pragma_freelist_count, pragma_page_size", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

int db_store_run_pruned(db_store *st, int64_t run_id, bool *pruned, char *err, size_t errlen) {
    *pruned = false;
    if (!db_sql_has_table(st->db, "run_prune")) return 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM run_prune WHERE run_id = ?", -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read pruned runs", err, errlen);
    sqlite3_bind_int64(s, 1, run_id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_sql_fail(st->db, "read pruned runs", err, errlen);
    *pruned = rc == SQLITE_ROW;
    return 0;
}

/* the samples of the runs to prune, as a subquery over ?1 (the cutoff) */
#define PRUNE_RUNS                                                                                      \
    "SELECT id FROM run WHERE status NOT IN ('running') AND coalesce(finished_at, started_at) < ?1" \
    " AND id NOT IN (SELECT run_id FROM run_prune)"
#define PRUNE_SAMPLES "SELECT s.id FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.run_id IN (" PRUNE_RUNS ")"

/* Move the outputs of the samples being pruned (?1: the cutoff) into `output`,
 * one row per distinct (tokens, text): the key is the sha256 of both with
 * their lengths (NULL and "" differ).  Counts what moved and how many new
 * output rows that took.  Inside the caller's transaction. */
static int move_outputs(sqlite3 *db, int64_t cutoff_ms, db_prune_stats *out) {
    sqlite3_stmt *sel = NULL, *ins = NULL, *upd = NULL;
    db_str key;
    db_str_init(&key);
    int rc = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, output_tokens_json, output_text FROM sample WHERE id IN (" PRUNE_SAMPLES
                           ") AND (output_tokens_json IS NOT NULL OR output_text IS NOT NULL) ORDER BY id",
                           -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO output(sha256, tokens_json, text) VALUES(?,?,?)", -1, &ins,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "UPDATE sample SET output_id = (SELECT id FROM output WHERE sha256 = ?2),"
                           " output_tokens_json = NULL, output_text = NULL WHERE id = ?1",
                           -1, &upd, NULL) != SQLITE_OK)
        goto done;
    sqlite3_bind_int64(sel, 1, cutoff_ms);
    int step;
    while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(sel, 0);
        key.len = 0;
        if (key.s) key.s[0] = 0;
        int e = 0;
        for (int c = 1; c <= 2; c++) {
            const unsigned char *v = sqlite3_column_text(sel, c);
            int n = sqlite3_column_bytes(sel, c);
            if (!v) {
                e |= db_str_append(&key, "-;");
            } else {
                e |= db_str_printf(&key, "%d:", n);
                e |= db_str_appendn(&key, (const char *)v, (size_t)n);
                e |= db_str_append(&key, ";");
            }
        }
        char hex[65];
        if (e || db_sha256_buf(key.s, key.len, hex) != 0) goto done;
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, hex, -1, SQLITE_TRANSIENT);
        for (int c = 1; c <= 2; c++) {
            if (sqlite3_column_type(sel, c) == SQLITE_NULL)
                sqlite3_bind_null(ins, c + 1);
            else
                sqlite3_bind_text(ins, c + 1, (const char *)sqlite3_column_text(sel, c), sqlite3_column_bytes(sel, c),
                                  SQLITE_TRANSIENT);
        }
        if (sqlite3_step(ins) != SQLITE_DONE) goto done;
        out->outputs_distinct += sqlite3_changes(db);
        sqlite3_reset(upd);
        sqlite3_bind_int64(upd, 1, id);
        sqlite3_bind_text(upd, 2, hex, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(upd) != SQLITE_DONE) goto done;
        out->outputs_moved++;
    }
    rc = step == SQLITE_DONE ? 0 : -1;
done:
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    db_str_free(&key);
    return rc;
}

/* Pack the counter rows of each sample being pruned (?1: the cutoff) into
 * one sample_counter_pack blob of (counter_name id, value), in rowid
 * order, and delete the rows.  A sample with a value that is not a whole
 * number (or NULL) keeps its rows.  Inside the caller's transaction. */
static int pack_counters(sqlite3 *db, int64_t cutoff_ms, db_prune_stats *out) {
    sqlite3_stmt *sel = NULL, *name_ins = NULL, *name_get = NULL, *ins = NULL, *del = NULL;
    int64_t *ids = NULL, *vals = NULL;
    unsigned char *nulls = NULL;
    int n = 0, cap = 0, bad = 0, rc = -1;
    int64_t cur = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT sample_id, name, value, typeof(value) FROM sample_counter WHERE sample_id IN ("
                           PRUNE_SAMPLES ") ORDER BY sample_id, rowid",
                           -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO counter_name(name) VALUES(?)", -1, &name_ins, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT id FROM counter_name WHERE name = ?", -1, &name_get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO sample_counter_pack(sample_id, data) VALUES(?, ?)", -1, &ins, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM sample_counter WHERE sample_id = ?", -1, &del, NULL) != SQLITE_OK)
        goto done;
    sqlite3_bind_int64(sel, 1, cutoff_ms);
    for (;;) {
        int step = sqlite3_step(sel);
        if (step != SQLITE_ROW && step != SQLITE_DONE) goto done;
        int64_t sid = step == SQLITE_ROW ? sqlite3_column_int64(sel, 0) : -1;
        if (sid != cur && cur >= 0 && !bad) {   /* the previous sample is complete: pack it */
            uint8_t *blob = NULL;
            size_t len = 0;
            if (db_counters_encode(ids, vals, nulls, n, &blob, &len) != 0) goto done;
            sqlite3_reset(ins);
            sqlite3_bind_int64(ins, 1, cur);
            sqlite3_bind_blob(ins, 2, blob, (int)len, free);
            sqlite3_reset(del);
            sqlite3_bind_int64(del, 1, cur);
            if (sqlite3_step(ins) != SQLITE_DONE || sqlite3_step(del) != SQLITE_DONE) goto done;
            out->counters_packed++;
        }
        if (step == SQLITE_DONE) break;
        if (sid != cur) {
            cur = sid;
            n = 0;
            bad = 0;
        }
        const char *type = (const char *)sqlite3_column_text(sel, 3);
        int is_null = type && strcmp(type, "null") == 0;
        if (!is_null && !(type && strcmp(type, "integer") == 0)) bad = 1;
        if (bad) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *a = realloc(ids, (size_t)cap * sizeof *a);
            if (a) ids = a;
            int64_t *b = realloc(vals, (size_t)cap * sizeof *b);
            if (b) vals = b;
            unsigned char *c = realloc(nulls, (size_t)cap);
            if (c) nulls = c;
            if (!a || !b || !c) goto done;
        }
        sqlite3_reset(name_ins);
        sqlite3_bind_value(name_ins, 1, sqlite3_column_value(sel, 1));
        sqlite3_reset(name_get);
        sqlite3_bind_value(name_get, 1, sqlite3_column_value(sel, 1));
        if (sqlite3_step(name_ins) != SQLITE_DONE || sqlite3_step(name_get) != SQLITE_ROW) goto done;
        ids[n] = sqlite3_column_int64(name_get, 0);
        vals[n] = sqlite3_column_int64(sel, 2);
        nulls[n] = (unsigned char)is_null;
        n++;
    }
    rc = 0;
done:
    sqlite3_finalize(sel);
    sqlite3_finalize(name_ins);
    sqlite3_finalize(name_get);
    sqlite3_finalize(ins);
    sqlite3_finalize(del);
    free(ids);
    free(vals);
    free(nulls);
    return rc;
}

int db_st_for_packed_counters(sqlite3 *db, int scope, int64_t id,
                              int (*fn)(void *ctx, int64_t sample_id, const char *name, bool is_null, int64_t value),
                              void *ctx) {
    if (!db_sql_has_table(db, "sample_counter_pack") || !db_sql_has_table(db, "counter_name")) return 0;
    sqlite3_stmt *q = NULL, *names = NULL;
    char **name_of = NULL;
    int64_t n_names = 0;
    int rc = -1;
    /* the names by id (ids are small: one per distinct counter name) */
    if (sqlite3_prepare_v2(db, "SELECT id, name FROM counter_name ORDER BY id", -1, &names, NULL) != SQLITE_OK)
        goto done;
    int step;
    while ((step = sqlite3_step(names)) == SQLITE_ROW) {
        int64_t nid = sqlite3_column_int64(names, 0);
        if (nid < 0 || nid > 1000000) goto done;
        if (nid >= n_names) {
            char **a = realloc(name_of, (size_t)(nid + 1) * sizeof *a);
            if (!a) goto done;
            for (int64_t k = n_names; k <= nid; k++) a[k] = NULL;
            name_of = a;
            n_names = nid + 1;
        }
        free(name_of[nid]);
        if (!(name_of[nid] = db_sql_text(names, 1))) goto done;
    }
    if (step != SQLITE_DONE) goto done;
    const char *sql =
        scope == DB_PACKED_RUN    ? "SELECT p.sample_id, p.data FROM sample_counter_pack p JOIN sample s"
                                    " ON s.id = p.sample_id JOIN \"case\" c ON c.id = s.case_id WHERE c.run_id = ?"
                                    " ORDER BY p.sample_id"
        : scope == DB_PACKED_CASE ? "SELECT p.sample_id, p.data FROM sample_counter_pack p JOIN sample s"
                                    " ON s.id = p.sample_id WHERE s.case_id = ? ORDER BY p.sample_id"
                                  : "SELECT sample_id, data FROM sample_counter_pack WHERE sample_id = ?";
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) goto done;
    sqlite3_bind_int64(q, 1, id);
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t *ids = NULL, *vals = NULL;
        unsigned char *nulls = NULL;
        int n = 0;
        if (db_counters_decode(sqlite3_column_blob(q, 1), (size_t)sqlite3_column_bytes(q, 1), &ids, &vals, &nulls,
                               &n) != 0) {
            rc = -2;
            goto done;
        }
        int stop = 0;
        for (int i = 0; i < n && !stop; i++) {
            if (ids[i] < 0 || ids[i] >= n_names || !name_of[ids[i]]) { stop = -2; break; }
            stop = fn(ctx, sqlite3_column_int64(q, 0), name_of[ids[i]], nulls[i], vals[i]);
        }
        free(ids);
        free(vals);
        free(nulls);
        if (stop) { rc = stop; goto done; }
    }
    rc = step == SQLITE_DONE ? 0 : -1;
done:
    sqlite3_finalize(names);
    sqlite3_finalize(q);
    for (int64_t k = 0; k < n_names; k++) free(name_of[k]);
    free(name_of);
    return rc;
}

int db_store_prune(db_store *st, int64_t cutoff_ms, bool dry_run, db_prune_stats *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (db_st_check_writable(st) != 0) return db_errf(err, errlen, "%s", st->err);
    sqlite3 *db = st->db;
    out->bytes_before = db_bytes(db);
    sqlite3_stmt *s = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_sql_fail(db, "prune", err, errlen);
    if (sqlite3_prepare_v2(db,
                           "SELECT (SELECT COUNT(*) FROM (" PRUNE_RUNS ")), (SELECT COUNT(*) FROM (" PRUNE_SAMPLES
                           ")), (SELECT coalesce(SUM(n), 0) FROM sample_events WHERE sample_id IN (" PRUNE_SAMPLES
                           ")), (SELECT COUNT(*) FROM step_event WHERE sample_id IN (" PRUNE_SAMPLES
                           ")), (SELECT COUNT(*) FROM sample WHERE id IN (" PRUNE_SAMPLES
                           ") AND (output_tokens_json IS NOT NULL OR output_text IS NOT NULL))",
                           -1, &s, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(s, 1, cutoff_ms);
    if (sqlite3_step(s) != SQLITE_ROW) goto fail;
    out->runs = sqlite3_column_int64(s, 0);
    out->samples = sqlite3_column_int64(s, 1);
    out->events = sqlite3_column_int64(s, 2) + sqlite3_column_int64(s, 3);
    out->outputs_moved = sqlite3_column_int64(s, 4);
    sqlite3_finalize(s);
    s = NULL;
    if (dry_run || out->runs == 0) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        out->bytes_after = out->bytes_before;
        return 0;
    }
    static const char *const steps[] = {
        "DELETE FROM sample_events WHERE sample_id IN (" PRUNE_SAMPLES ")",
        "DELETE FROM step_event WHERE sample_id IN (" PRUNE_SAMPLES ")",
        "INSERT INTO run_prune(run_id, pruned_at, samples, bytes)"
        " SELECT r.id, ?2, (SELECT COUNT(*) FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.run_id = r.id),"
        " NULL FROM run r WHERE r.id IN (" PRUNE_RUNS ")",
    };
    out->outputs_moved = 0;
    if (move_outputs(db, cutoff_ms, out) != 0 || pack_counters(db, cutoff_ms, out) != 0) goto fail;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (sqlite3_prepare_v2(db, steps[i], -1, &s, NULL) != SQLITE_OK) goto fail;
        sqlite3_bind_int64(s, 1, cutoff_ms);
        if (sqlite3_bind_parameter_count(s) >= 2) sqlite3_bind_int64(s, 2, db_unix_ms());
        if (sqlite3_step(s) != SQLITE_DONE) goto fail;
        sqlite3_finalize(s);
        s = NULL;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto fail;
    if (sqlite3_exec(db, "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL) != SQLITE_OK)
        return db_sql_fail(db, "vacuum", err, errlen);
    out->bytes_after = db_bytes(db);
    return 0;
fail:
    db_sql_fail(db, "prune", err, errlen);
    sqlite3_finalize(s);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}
