/* store_sql.c — the SQLite helpers every part of the results database
 * shares (store_int.h): one-line errors naming the file, binding NULL for
 * missing text and non-finite doubles, statements stepped to their end,
 * and the column readers (db_sql_*) the store's readers and merge use.
 */
#include "store_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/util/util.h"

int db_st_err(db_store *st, const char *what) {
    snprintf(st->err, sizeof st->err, "%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
    return -1;
}

const char *db_store_errmsg(const db_store *st) {
    return st ? st->err : "no store";
}

struct sqlite3 *db_store_handle(db_store *st) {
    return st ? st->db : NULL;
}
int db_st_bind_text(sqlite3_stmt *s, int i, const char *v) {
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

int db_st_bind_real(sqlite3_stmt *s, int i, double v) {
    return isfinite(v) ? sqlite3_bind_double(s, i, v) : sqlite3_bind_null(s, i);
}

int db_st_exec(db_store *st, const char *sql) {
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) return db_st_err(st, sql);
    return 0;
}

int db_st_prepare(db_store *st, const char *sql, sqlite3_stmt **s) {
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK) return db_st_err(st, "prepare");
    return 0;
}

/* step a statement that returns no rows; reset it for reuse */
int db_st_step_done(db_store *st, sqlite3_stmt *s, const char *what) {
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        db_st_err(st, what);
        sqlite3_reset(s);
        return -1;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return 0;
}

int db_st_check_writable(db_store *st) {
    if (st->readonly) {
        snprintf(st->err, sizeof st->err, "%s: results database opened read-only", st->path);
        return -1;
    }
    return 0;
}
void db_st_this_host(char *buf, size_t len) {
    if (gethostname(buf, len) != 0) snprintf(buf, len, "?");
    buf[len - 1] = 0;
}
char *db_st_col_dup(sqlite3_stmt *s, int i) {
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? db_strdup(t) : NULL;
}

char *db_sql_text(sqlite3_stmt *s, int i) {
    const unsigned char *t = sqlite3_column_text(s, i);
    return db_strdup(t ? (const char *)t : "");
}

double db_sql_real(sqlite3_stmt *s, int i) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

bool db_sql_has_table(sqlite3 *db, const char *name) {
    sqlite3_stmt *s = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1, &s, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(s) == SQLITE_ROW;
    }
    sqlite3_finalize(s);
    return found;
}

int db_sql_fail(sqlite3 *db, const char *what, char *err, size_t errlen) {
    return db_errf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
}
