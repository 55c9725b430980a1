/* fuzz_merge.c — fuzz target: `decobench merge` reading a foreign results
 * database (harness/run/store_merge.c db_merge).
 *
 * Two input forms: a file starting with SQLite's header ("SQLite format 3")
 * is written as the source database as it is (a corrupt file must give an
 * error, not a crash); anything else is SQL run on a fresh decobench
 * database (the current schema), which then becomes the source, so rows with
 * odd types, NULLs, dangling ids, missing tables and a rewritten schema are
 * all reachable.  The SQL runs with ATTACH disabled (no other files), a step
 * budget and a 1 MB value limit.  Every source is merged into a fresh
 * destination, twice: the second merge of the same source must add no run. */
#include "fuzz.h"

#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness/run/store.h"
#include "harness/run/store_merge.h"

static int progress_budget(void *user) {
    int *left = user;
    return --*left < 0;
}

static int deny_attach(void *user, int action, const char *a, const char *b, const char *c, const char *d) {
    (void)user; (void)a; (void)b; (void)c; (void)d;
    return action == SQLITE_ATTACH || action == SQLITE_DETACH ? SQLITE_DENY : SQLITE_OK;
}

static int mentions(const char *sql, const char *word) {
    size_t n = strlen(word);
    for (const char *p = sql; *p; p++)
        if (strncasecmp(p, word, n) == 0) return 1;
    return 0;
}

static int make_source(const uint8_t *data, size_t size, char *path, size_t pathlen) {
    static const char hdr[] = "SQLite format 3";
    const char *p;
    if (size >= sizeof hdr - 1 && memcmp(data, hdr, sizeof hdr - 1) == 0) {
        p = db_fuzz_write("src.db", data, size);
    } else {
        char *sql = db_fuzz_str(data, size);
        if (!sql) return -1;
        /* VACUUM INTO and load_extension reach other files */
        if (mentions(sql, "vacuum") || mentions(sql, "extension") || mentions(sql, "attach")) { free(sql); return -1; }
        p = db_fuzz_write("src.db", (const uint8_t *)"", 0);
        if (!p) { free(sql); return -1; }
        snprintf(path, pathlen, "%s", p);
        db_store_remove_files(path);
        db_store *st = NULL;
        char err[512];
        if (db_store_open(path, &st, err, sizeof err) != 0) {
            free(sql);
            DB_FUZZ_CHECK(0, "cannot create a fresh database: %s", err);
            return -1;
        }
        sqlite3 *db = db_store_handle(st);
        int budget = 20000;
        sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
        sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 1 << 20);
        sqlite3_set_authorizer(db, deny_attach, NULL);
        sqlite3_progress_handler(db, 100, progress_budget, &budget);
        sqlite3_exec(db, sql, NULL, NULL, NULL);
        sqlite3_progress_handler(db, 0, NULL, NULL);
        sqlite3_set_authorizer(db, NULL, NULL);
        free(sql);
        db_store_close(st);
        p = path;
    }
    if (!p) return -1;
    if (p != path) snprintf(path, pathlen, "%s", p);
    return 0;
}

int db_fuzz_merge(const uint8_t *data, size_t size) {
    char src_path[512], dst_path[512];
    if (make_source(data, size, src_path, sizeof src_path) != 0) return 0;
    snprintf(dst_path, sizeof dst_path, "%s/dst.db", db_fuzz_tmpdir());
    db_store_remove_files(dst_path);
    db_store *src = NULL, *dst = NULL;
    char err[512] = "";
    int rc = db_store_open_readonly(src_path, &src, err, sizeof err);
    DB_FUZZ_CHECK(rc == 0 ? src != NULL : rc == -1 && !src && err[0], "open source: rc %d, err '%s'", rc, err);
    if (rc == 0) {
        if (db_store_open(dst_path, &dst, err, sizeof err) != 0) {
            DB_FUZZ_CHECK(0, "cannot create the destination: %s", err);
        } else {
            db_merge_stats s1 = { 0 }, s2 = { 0 };
            err[0] = 0;
            int m1 = db_merge(dst, src, &s1, err, sizeof err);
            DB_FUZZ_CHECK(m1 == 0 || (m1 == -1 && err[0]), "merge: rc %d, err '%s'", m1, err);
            if (m1 == 0) {
                err[0] = 0;
                int m2 = db_merge(dst, src, &s2, err, sizeof err);
                DB_FUZZ_CHECK(m2 == 0 || (m2 == -1 && err[0]), "second merge: rc %d, err '%s'", m2, err);
                DB_FUZZ_CHECK(m2 != 0 || s2.runs_added == 0, "the second merge added %d runs", s2.runs_added);
            }
            db_store_close(dst);
        }
        db_store_close(src);
    }
    db_store_remove_files(dst_path);
    db_store_remove_files(src_path);
    return 0;
}

DB_FUZZ_ENTRY(merge)
