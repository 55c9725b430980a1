/* store.c — the SQLite results database (see store.h; schema in docs/schema.md).
 *
 * Times are stored as INTEGER unix-epoch milliseconds (started_at,
 * finished_at, first_seen); step event times as INTEGER microseconds from
 * the sample's start.  Non-finite doubles (e.g. acceptance_rate with nothing
 * drafted) are stored as NULL.
 */
#include "store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "harness/util/util.h"

struct db_store {
    sqlite3 *db;
    char *path;
    bool readonly;
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
    char next_suite_sha[65], next_config_sha[65];
};

static void reap_runs_aside(const char *path);

static const char *const schema_sql =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    "CREATE TABLE machine(\n"
    "  id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE, hostname TEXT, cpu_model TEXT,\n"
    "  arch TEXT, os TEXT, packages INTEGER, cores INTEGER, pus INTEGER, numa_nodes INTEGER,\n"
    "  memory_bytes INTEGER, l1d_bytes INTEGER, l2_bytes INTEGER, l3_bytes INTEGER,\n"
    "  topology_json TEXT, first_seen INTEGER NOT NULL);\n"
    "CREATE TABLE run(\n"
    "  id INTEGER PRIMARY KEY, machine_id INTEGER REFERENCES machine(id),\n"
    "  suite_name TEXT, suite_path TEXT, config_json TEXT, argv TEXT, decobench_rev TEXT,\n"
    "  llama_commit TEXT, compiler TEXT, build_flags TEXT, papi_version TEXT, threads INTEGER,\n"
    "  started_at INTEGER NOT NULL, finished_at INTEGER, status TEXT NOT NULL);\n"
    "CREATE TABLE run_counter(\n"
    "  run_id INTEGER NOT NULL REFERENCES run(id), name TEXT NOT NULL, available INTEGER NOT NULL,\n"
    "  fallback INTEGER NOT NULL, reason TEXT, PRIMARY KEY(run_id, name));\n"
    "CREATE TABLE \"case\"(\n"
    "  id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES run(id), idx INTEGER NOT NULL,\n"
    "  engine TEXT NOT NULL, label TEXT NOT NULL, params_json TEXT, model_name TEXT,\n"
    "  model_path TEXT, model_sha256 TEXT, model_desc TEXT, model_params INTEGER,\n"
    "  model_bytes INTEGER, draft_name TEXT, draft_path TEXT, draft_sha256 TEXT, dataset TEXT,\n"
    "  n_prompts INTEGER, status TEXT, started_at INTEGER, finished_at INTEGER);\n"
    "CREATE TABLE sample(\n"
    "  id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL REFERENCES \"case\"(id),\n"
    "  prompt_idx INTEGER NOT NULL, prompt_id TEXT, category TEXT, rep INTEGER NOT NULL,\n"
    "  turn INTEGER NOT NULL DEFAULT 0, seed INTEGER, n_prompt_tokens INTEGER, new_tokens INTEGER, ttft_ms REAL,\n"
    "  latency_ms REAL, tokens_per_s REAL, tpot_ms REAL, target_forwards INTEGER,\n"
    "  draft_forwards INTEGER, target_tokens_evaluated INTEGER, n_commits INTEGER, mat REAL,\n"
    "  drafted INTEGER, accepted INTEGER, acceptance_rate REAL, accept_at_json TEXT,\n"
    "  draft_time_ms REAL, forward_time_ms REAL, sample_time_ms REAL, peak_rss_kib INTEGER,\n"
    "  stop_reason TEXT, output_tokens_json TEXT, output_text TEXT);\n"
    "CREATE TABLE sample_counter(\n"
    "  sample_id INTEGER NOT NULL REFERENCES sample(id), name TEXT NOT NULL, value INTEGER,\n"
    "  PRIMARY KEY(sample_id, name));\n"
    "CREATE TABLE sample_metric(\n"
    "  sample_id INTEGER NOT NULL REFERENCES sample(id), name TEXT NOT NULL, value REAL,\n"
    "  PRIMARY KEY(sample_id, name));\n"
    "CREATE TABLE step_event(\n"
    "  sample_id INTEGER NOT NULL REFERENCES sample(id), seq INTEGER NOT NULL,\n"
    "  kind INTEGER NOT NULL, role INTEGER NOT NULL, step INTEGER, n_tokens INTEGER,\n"
    "  n_accepted INTEGER, accepted_mask INTEGER, t_start_us INTEGER, t_end_us INTEGER,\n"
    "  PRIMARY KEY(sample_id, seq));\n"
    "CREATE TABLE machine_probe(\n"
    "  machine_id INTEGER NOT NULL REFERENCES machine(id), measured_at INTEGER NOT NULL,\n"
    "  bandwidth_gbs REAL, gflops REAL, gflops_per_thread REAL, threads INTEGER, method TEXT,\n"
    "  PRIMARY KEY(machine_id, measured_at));\n"
    "CREATE INDEX case_run_id ON \"case\"(run_id);\n"
    "CREATE INDEX sample_case_id ON sample(case_id);\n"
    "CREATE INDEX run_machine_id ON run(machine_id);\n";


static int st_err(db_store *st, const char *what) {
    snprintf(st->err, sizeof st->err, "%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
    return -1;
}

const char *db_store_errmsg(const db_store *st) {
    return st ? st->err : "no store";
}

struct sqlite3 *db_store_handle(db_store *st) {
    return st ? st->db : NULL;
}

void db_store_remove_files(const char *path) {
    char side[4096];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

void db_store_close(db_store *st) {
    if (!st) return;
    db_store_heartbeat_stop(st);
    if (st->db) sqlite3_close(st->db);
    free(st->path);
    free(st);
}

/* Counts the tables and notes whether `meta` is one; -1 on error (e.g. not a database). */
static int table_count(sqlite3 *db, int *n_tables, int *has_meta) {
    sqlite3_stmt *s = NULL;
    *n_tables = 0;
    *has_meta = 0;
    if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type='table'", -1, &s, NULL) != SQLITE_OK)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(s, 0);
        (*n_tables)++;
        if (n && strcmp(n, "meta") == 0) *has_meta = 1;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Schema upgrades: migrations[v] takes a version-v database to v + 1; each
 * "%s" is "" or "TEMP " (read-only connections get the new tables as TEMP).
 * Version 2: named per-sample metrics; the machine's measured memory
 * bandwidth and peak FP32 rate (`decobench probe`).  Version 3: see the
 * "-- S7" blocks (identity: harness/run/identity.c; interference:
 * harness/run/interference.h; run lifecycle in migrations_rw). */
static const char *const migrations[DB_STORE_SCHEMA_VERSION] = {
    [1] = "CREATE %sTABLE sample_metric(\n"
          "  sample_id INTEGER NOT NULL REFERENCES sample(id), name TEXT NOT NULL, value REAL,\n"
          "  PRIMARY KEY(sample_id, name));\n"
          "CREATE %sTABLE machine_probe(\n"
          "  machine_id INTEGER NOT NULL REFERENCES machine(id), measured_at INTEGER NOT NULL,\n"
          "  bandwidth_gbs REAL, gflops REAL, gflops_per_thread REAL, threads INTEGER, method TEXT,\n"
          "  PRIMARY KEY(machine_id, measured_at));\n",
    /* -- S7 identity: greedy outputs of lossless engines against the greedy
     * `ar` baseline of the same run (harness/run/identity.c) */
    [2] = "CREATE %sTABLE IF NOT EXISTS identity(\n"
          "  run_id INTEGER NOT NULL REFERENCES run(id), case_id INTEGER NOT NULL PRIMARY KEY REFERENCES \"case\"(id),\n"
          "  baseline_case_id INTEGER NOT NULL REFERENCES \"case\"(id), n_compared INTEGER NOT NULL,\n"
          "  n_identical INTEGER NOT NULL, first_diff_json TEXT);\n"
    /* -- S7 interference: was the machine busy while a case ran (harness/run/interference.h) */
          "CREATE %sTABLE IF NOT EXISTS interference(\n"
          "  run_id INTEGER NOT NULL REFERENCES run(id), case_idx INTEGER NOT NULL, name TEXT NOT NULL,\n"
          "  value REAL, text TEXT);\n",
    /* -- end S7 interference */
};

/* Upgrade statements that only a writable connection runs (ALTER TABLE and
 * indexes on existing tables; a read-only reader of an older file sees no
 * such columns, so readers of them check that they exist).  The fresh-create
 * path runs migrations[v] and migrations_rw[v] for v >= 2 after schema_sql. */
static const char *const migrations_rw[DB_STORE_SCHEMA_VERSION] = {
    [2] = /* -- S7 run lifecycle: who runs a run (liveness), what it ran
           * (resume), and at most one sample per key */
          "ALTER TABLE run ADD COLUMN pid INTEGER;\n"
          "ALTER TABLE run ADD COLUMN hostname TEXT;\n"
          "ALTER TABLE run ADD COLUMN heartbeat_at INTEGER;\n"
          "ALTER TABLE run ADD COLUMN suite_sha256 TEXT;\n"
          "ALTER TABLE run ADD COLUMN config_sha256 TEXT;\n"
          "ALTER TABLE run ADD COLUMN limit_prompts INTEGER;\n"
          "ALTER TABLE run ADD COLUMN resumed INTEGER NOT NULL DEFAULT 0;\n"
          "CREATE UNIQUE INDEX IF NOT EXISTS sample_key ON sample(case_id, prompt_idx, rep, turn);\n"
          /* -- end S7 run lifecycle */
          "",
};

/* Run one migrations_rw[] step statement by statement; a column that is
 * already there (a file written by a newer build, or a test fixture made
 * from the current schema) is not an error. */
static int exec_rw_migration(sqlite3 *db, const char *sql, char **msg) {
    /* statements end with ";\n" (SQLite's tail pointer is not reliable
     * after an error, so the split is ours) */
    while (sql && *sql) {
        const char *end = strstr(sql, ";\n");
        size_t n = end ? (size_t)(end - sql) + 1 : strlen(sql);
        char *one = sqlite3_mprintf("%.*s", (int)n, sql);
        if (!one) return SQLITE_NOMEM;
        int rc = sqlite3_exec(db, one, NULL, NULL, NULL);
        sqlite3_free(one);
        if (rc != SQLITE_OK && strncmp(sqlite3_errmsg(db), "duplicate column name", 21) != 0) {
            sqlite3_free(*msg);
            *msg = sqlite3_mprintf("%s", sqlite3_errmsg(db));
            return rc;
        }
        sql += n;
        while (*sql == '\n') sql++;
    }
    return SQLITE_OK;
}

static int check_decobench(sqlite3 *db, const char *path, bool *empty, int *version, char *err, size_t errlen) {
    int n_tables = 0, has_meta = 0;
    *version = 0;
    if (table_count(db, &n_tables, &has_meta) != 0) {
        int code = sqlite3_errcode(db);
        if (code == SQLITE_NOTADB)
            return db_errf(err, errlen, "%s: not a SQLite database", path);
        return db_errf(err, errlen, "%s: cannot read: %s", path, sqlite3_errmsg(db));
    }
    *empty = n_tables == 0;
    if (*empty) return 0;
    if (!has_meta)
        return db_errf(err, errlen, "%s: not a decobench results database (foreign SQLite tables)", path);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='schema_version'", -1, &s, NULL) != SQLITE_OK)
        return db_errf(err, errlen, "%s: not a decobench results database (%s)", path, sqlite3_errmsg(db));
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return db_errf(err, errlen, "%s: not a decobench results database (no schema_version)", path);
    }
    *version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (*version < 1 || *version > DB_STORE_SCHEMA_VERSION)
        return db_errf(err, errlen, "%s: results database has schema version %d, this decobench reads 1 to %d",
                       path, *version, DB_STORE_SCHEMA_VERSION);
    return 0;
}

/* Bring an older database up to DB_STORE_SCHEMA_VERSION: in place when
 * writable (one transaction), else as TEMP tables of this connection so
 * readers see the current schema (older runs simply have no such rows). */
static int upgrade_schema(db_store *st, int version, char *err, size_t errlen) {
    if (version >= DB_STORE_SCHEMA_VERSION) return 0;
    char *msg = NULL;
    if (!st->readonly) {
        if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) goto fail;
        /* another process may have upgraded it meanwhile */
        bool empty = false;
        if (check_decobench(st->db, st->path, &empty, &version, err, errlen) != 0) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        if (version >= DB_STORE_SCHEMA_VERSION) return sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    }
    for (int v = version; v < DB_STORE_SCHEMA_VERSION; v++) {
        const char *temp = st->readonly ? "TEMP " : "";
        if (migrations[v]) {
            char *sql = sqlite3_mprintf(migrations[v], temp, temp, temp, temp, temp, temp, temp, temp);
            if (!sql) goto fail;
            int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
            sqlite3_free(sql);
            if (rc != SQLITE_OK) goto fail;
        }
        if (!st->readonly && migrations_rw[v] && exec_rw_migration(st->db, migrations_rw[v], &msg) != SQLITE_OK)
            goto fail;
    }
    if (!st->readonly) {
        char ver[96];
        snprintf(ver, sizeof ver, "UPDATE meta SET value='%d' WHERE key='schema_version'; COMMIT;",
                 DB_STORE_SCHEMA_VERSION);
        if (sqlite3_exec(st->db, ver, NULL, NULL, &msg) != SQLITE_OK) goto fail;
    }
    return 0;
fail:
    if (!st->readonly) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    db_errf(err, errlen, "%s: cannot upgrade results database from schema version %d: %s", st->path, version,
            msg ? msg : sqlite3_errmsg(st->db));
    sqlite3_free(msg);
    return -1;
}

/* Switching a new file to WAL while another process creates it too can
 * fail with SQLITE_BUSY without consulting the busy handler: retry it for
 * up to 10 s (several processes opening one new database at once). */
static int exec_busy_retry(sqlite3 *db, const char *sql, char **msg) {
    int rc = SQLITE_BUSY;
    for (int tries = 0; tries < 1000; tries++) {
        sqlite3_free(*msg);
        *msg = NULL;
        rc = sqlite3_exec(db, sql, NULL, NULL, msg);
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
        usleep(10000);
    }
    return rc;
}

/* A reader marks runs whose process is gone too, through a short-lived
 * read-write connection of its own when the file is writable; nothing
 * happens when it is not. */
static void reap_runs_aside(const char *path) {
    db_store tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.path = (char *)path;
    if (sqlite3_open_v2(path, &tmp.db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(tmp.db, 2000);
        db_store_reap_runs(&tmp, NULL);
    }
    sqlite3_close(tmp.db);
}

static int open_common(const char *path, bool readonly, db_store **out, char *err, size_t errlen) {
    *out = NULL;
    if (!path || !*path) return db_errf(err, errlen, "(empty path): no results database path given");
    db_store *st = calloc(1, sizeof *st);
    if (!st || !(st->path = db_strdup(path))) {
        free(st);
        return db_errf(err, errlen, "%s: out of memory", path);
    }
    st->readonly = readonly;
    int flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &st->db, flags, NULL);
    if (rc != SQLITE_OK) {
        db_errf(err, errlen, "%s: cannot open results database: %s", path,
                st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        db_store_close(st);
        return -1;
    }
    sqlite3_busy_timeout(st->db, 10000);
    bool empty = false;
    int version = DB_STORE_SCHEMA_VERSION;
    if (check_decobench(st->db, path, &empty, &version, err, errlen) != 0) {
        db_store_close(st);
        return -1;
    }
    if (readonly) {
        if (empty) {
            db_errf(err, errlen, "%s: not a decobench results database (empty)", path);
            db_store_close(st);
            return -1;
        }
        sqlite3_exec(st->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
        if (version >= 3) reap_runs_aside(path);
        if (upgrade_schema(st, version, err, errlen) != 0) {
            db_store_close(st);
            return -1;
        }
        *out = st;
        return 0;
    }
    char *msg = NULL;
    if (exec_busy_retry(st->db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;", &msg) != SQLITE_OK) {
        db_errf(err, errlen, "%s: cannot configure results database: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        db_store_close(st);
        return -1;
    }
    if (empty) {
        /* create the schema atomically; re-check inside the transaction in
         * case another process created it meanwhile */
        if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) goto fail_msg;
        if (check_decobench(st->db, path, &empty, &version, err, errlen) != 0) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            db_store_close(st);
            return -1;
        }
        if (empty) {
            char ver[64];
            snprintf(ver, sizeof ver, "INSERT INTO meta(key, value) VALUES('schema_version', '%d');",
                     DB_STORE_SCHEMA_VERSION);
            if (sqlite3_exec(st->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK ||
                sqlite3_exec(st->db, ver, NULL, NULL, &msg) != SQLITE_OK) {
                sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
                goto fail_msg;
            }
            /* schema_sql is the version-2 layout; later versions' statements follow */
            for (int v = 2; v < DB_STORE_SCHEMA_VERSION; v++) {
                char *sql = migrations[v] ? sqlite3_mprintf(migrations[v], "", "", "", "", "", "", "", "") : NULL;
                int erc = sql ? sqlite3_exec(st->db, sql, NULL, NULL, &msg) : SQLITE_OK;
                sqlite3_free(sql);
                if (erc == SQLITE_OK && migrations_rw[v]) erc = exec_rw_migration(st->db, migrations_rw[v], &msg);
                if (erc != SQLITE_OK) {
                    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
                    goto fail_msg;
                }
            }
        }
        if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail_msg;
        }
    } else if (upgrade_schema(st, version, err, errlen) != 0) {
        db_store_close(st);
        return -1;
    }
    /* runs whose process is gone are marked crashed (best effort) */
    db_store_reap_runs(st, NULL);
    *out = st;
    return 0;
fail_msg:
    db_errf(err, errlen, "%s: cannot create results database: %s", path,
            msg ? msg : sqlite3_errmsg(st->db));
    sqlite3_free(msg);
    db_store_close(st);
    return -1;
}

int db_store_open(const char *path, db_store **out, char *err, size_t errlen) {
    return open_common(path, false, out, err, errlen);
}

int db_store_open_readonly(const char *path, db_store **out, char *err, size_t errlen) {
    return open_common(path, true, out, err, errlen);
}

/* ---- binding helpers ---------------------------------------------------- */

static int bind_text(sqlite3_stmt *s, int i, const char *v) {
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

static int bind_real(sqlite3_stmt *s, int i, double v) {
    return isfinite(v) ? sqlite3_bind_double(s, i, v) : sqlite3_bind_null(s, i);
}

static int exec(db_store *st, const char *sql) {
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) return st_err(st, sql);
    return 0;
}

static int prepare(db_store *st, const char *sql, sqlite3_stmt **s) {
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK) return st_err(st, "prepare");
    return 0;
}

/* step a statement that returns no rows; reset it for reuse */
static int step_done(db_store *st, sqlite3_stmt *s, const char *what) {
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        st_err(st, what);
        sqlite3_reset(s);
        return -1;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return 0;
}

static int check_writable(db_store *st) {
    if (st->readonly) {
        snprintf(st->err, sizeof st->err, "%s: results database opened read-only", st->path);
        return -1;
    }
    return 0;
}

/* ---- machine / run ------------------------------------------------------ */

int db_store_machine(db_store *st, const db_machine *m, int64_t *machine_id) {
    if (check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL;
    if (prepare(st, "SELECT id FROM machine WHERE fingerprint=?", &s) != 0) return -1;
    sqlite3_bind_text(s, 1, m->fingerprint, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *machine_id = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        return 0;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return st_err(st, "look up machine");
    /* OR IGNORE: another process may insert the same machine meanwhile; its id is read back below */
    if (prepare(st,
                "INSERT OR IGNORE INTO machine(fingerprint, hostname, cpu_model, arch, os, packages, cores, pus,"
                " numa_nodes, memory_bytes, l1d_bytes, l2_bytes, l3_bytes, topology_json, first_seen)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &s) != 0)
        return -1;
    bind_text(s, 1, m->fingerprint);
    bind_text(s, 2, m->hostname);
    bind_text(s, 3, m->cpu_model);
    bind_text(s, 4, m->arch);
    bind_text(s, 5, m->os);
    sqlite3_bind_int(s, 6, m->packages);
    sqlite3_bind_int(s, 7, m->cores);
    sqlite3_bind_int(s, 8, m->pus);
    sqlite3_bind_int(s, 9, m->numa_nodes);
    sqlite3_bind_int64(s, 10, (sqlite3_int64)m->memory_bytes);
    sqlite3_bind_int64(s, 11, (sqlite3_int64)m->l1d_bytes);
    sqlite3_bind_int64(s, 12, (sqlite3_int64)m->l2_bytes);
    sqlite3_bind_int64(s, 13, (sqlite3_int64)m->l3_bytes);
    bind_text(s, 14, m->topology_json);
    sqlite3_bind_int64(s, 15, db_unix_ms());
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return st_err(st, "insert machine");
    if (prepare(st, "SELECT id FROM machine WHERE fingerprint=?", &s) != 0) return -1;
    sqlite3_bind_text(s, 1, m->fingerprint, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *machine_id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return st_err(st, "look up machine");
    return 0;
}

int db_store_run_begin(db_store *st, const db_run_record *r, int64_t *run_id) {
    if (check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL, *c = NULL;
    if (exec(st, "BEGIN IMMEDIATE") != 0) return -1;
    if (prepare(st,
                "INSERT INTO run(machine_id, suite_name, suite_path, config_json, argv, decobench_rev,"
                " llama_commit, compiler, build_flags, papi_version, threads, started_at, status)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,'running')", &s) != 0)
        goto fail;
    if (r->machine_id > 0) sqlite3_bind_int64(s, 1, r->machine_id);
    else sqlite3_bind_null(s, 1);
    bind_text(s, 2, r->suite_name);
    bind_text(s, 3, r->suite_path);
    bind_text(s, 4, r->config_json);
    bind_text(s, 5, r->argv);
    bind_text(s, 6, r->decobench_rev);
    bind_text(s, 7, r->llama_commit);
    bind_text(s, 8, r->compiler);
    bind_text(s, 9, r->build_flags);
    bind_text(s, 10, r->papi_version);
    sqlite3_bind_int(s, 11, r->threads);
    sqlite3_bind_int64(s, 12, db_unix_ms());
    if (step_done(st, s, "insert run") != 0) goto fail;
    int64_t id = sqlite3_last_insert_rowid(st->db);
    if (r->n_counters > 0) {
        if (prepare(st, "INSERT INTO run_counter(run_id, name, available, fallback, reason)"
                        " VALUES(?,?,?,?,?)", &c) != 0)
            goto fail;
        for (int i = 0; i < r->n_counters; i++) {
            const db_counter_status *cs = &r->counters[i];
            sqlite3_bind_int64(c, 1, id);
            bind_text(c, 2, cs->name);
            sqlite3_bind_int(c, 3, cs->available ? 1 : 0);
            sqlite3_bind_int(c, 4, cs->fallback ? 1 : 0);
            bind_text(c, 5, cs->reason);
            if (step_done(st, c, "insert run_counter") != 0) goto fail;
        }
    }
    sqlite3_finalize(s);
    sqlite3_finalize(c);
    s = c = NULL;
    /* S7: who runs it and its resume keys, in the same transaction */
    if (db_store_run_claim(st, id, st->next_lc_set ? &st->next_lc : NULL) != 0) goto fail;
    if (exec(st, "COMMIT") != 0) goto fail;
    *run_id = id;
    return 0;
fail:
    sqlite3_finalize(s);
    sqlite3_finalize(c);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int db_store_run_finish(db_store *st, int64_t run_id, const char *status) {
    if (check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL;
    if (prepare(st, "UPDATE run SET finished_at=?, status=? WHERE id=?", &s) != 0) return -1;
    sqlite3_bind_int64(s, 1, db_unix_ms());
    bind_text(s, 2, status ? status : "completed");
    sqlite3_bind_int64(s, 3, run_id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return st_err(st, "finish run");
    if (sqlite3_changes(st->db) != 1) {
        snprintf(st->err, sizeof st->err, "%s: finish run: no run with id %lld", st->path,
                 (long long)run_id);
        return -1;
    }
    return 0;
}

int db_store_probe(db_store *st, int64_t machine_id, const db_probe_record *p) {
    if (check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL;
    if (prepare(st,
                "INSERT OR REPLACE INTO machine_probe(machine_id, measured_at, bandwidth_gbs, gflops,"
                " gflops_per_thread, threads, method) VALUES(?,?,?,?,?,?,?)", &s) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, machine_id);
    sqlite3_bind_int64(s, 2, p->measured_at_ms > 0 ? p->measured_at_ms : db_unix_ms());
    bind_real(s, 3, p->bandwidth_gbs);
    bind_real(s, 4, p->gflops);
    bind_real(s, 5, p->gflops_per_thread);
    sqlite3_bind_int(s, 6, p->threads);
    bind_text(s, 7, p->method);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return st_err(st, "insert machine_probe");
    return 0;
}

/* ---- case + samples ----------------------------------------------------- */

/* shortest "%.Ng" that reads back as the same double */
static int append_double(db_str *b, double v) {
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return db_str_append(b, buf);
}

static char *tokens_json(const int32_t *t, int n) {
    db_str b;
    db_str_init(&b);
    int rc = db_str_append(&b, "[");
    for (int i = 0; i < n && rc == 0; i++) rc = db_str_printf(&b, i ? ",%d" : "%d", (int)t[i]);
    if (rc == 0) rc = db_str_append(&b, "]");
    if (rc != 0) {
        db_str_free(&b);
        return NULL;
    }
    return db_str_take(&b);
}

static char *accept_at_json(const db_sample_metrics *m) {
    int last = -1;
    for (int i = 0; i < DB_MAX_DRAFT_POS; i++)
        if (m->drafted_at[i] > 0) last = i;
    db_str b;
    db_str_init(&b);
    int rc = db_str_append(&b, "[");
    for (int i = 0; i <= last && rc == 0; i++) {
        if (i) rc = db_str_append(&b, ",");
        if (rc) break;
        if (m->drafted_at[i] > 0) rc = append_double(&b, (double)m->accepted_at[i] / m->drafted_at[i]);
        else rc = db_str_append(&b, "null");
    }
    if (rc == 0) rc = db_str_append(&b, "]");
    if (rc != 0) {
        db_str_free(&b);
        return NULL;
    }
    return db_str_take(&b);
}

static int insert_sample(db_store *st, sqlite3_stmt *s, sqlite3_stmt *sc, sqlite3_stmt *sm, sqlite3_stmt *se,
                         int64_t case_id, const db_sample_record *r) {
    const db_sample_metrics *m = &r->m;
    char *toks = tokens_json(r->output_tokens, r->output_tokens ? r->n_output_tokens : 0);
    char *acc = accept_at_json(m);
    if (!toks || !acc) {
        free(toks);
        free(acc);
        snprintf(st->err, sizeof st->err, "%s: out of memory", st->path);
        return -1;
    }
    int k = 1;
    sqlite3_bind_int64(s, k++, case_id);
    sqlite3_bind_int(s, k++, r->prompt_idx);
    bind_text(s, k++, r->prompt_id);
    bind_text(s, k++, r->category);
    sqlite3_bind_int(s, k++, r->rep);
    sqlite3_bind_int(s, k++, r->turn);
    sqlite3_bind_int64(s, k++, (sqlite3_int64)r->seed);
    sqlite3_bind_int(s, k++, m->n_prompt_tokens);
    sqlite3_bind_int(s, k++, m->new_tokens);
    bind_real(s, k++, m->ttft_ms);
    bind_real(s, k++, m->latency_ms);
    bind_real(s, k++, m->tokens_per_s);
    bind_real(s, k++, m->tpot_ms);
    sqlite3_bind_int(s, k++, m->target_forwards);
    sqlite3_bind_int(s, k++, m->draft_forwards);
    sqlite3_bind_int(s, k++, m->target_tokens_evaluated);
    sqlite3_bind_int(s, k++, m->n_commits);
    bind_real(s, k++, m->mat);
    sqlite3_bind_int(s, k++, m->drafted);
    sqlite3_bind_int(s, k++, m->accepted);
    bind_real(s, k++, m->acceptance_rate);
    sqlite3_bind_text(s, k++, acc, -1, SQLITE_TRANSIENT);
    bind_real(s, k++, m->draft_time_ms);
    bind_real(s, k++, m->forward_time_ms);
    bind_real(s, k++, m->sample_time_ms);
    sqlite3_bind_int64(s, k++, r->peak_rss_kib);
    bind_text(s, k++, r->stop_reason);
    sqlite3_bind_text(s, k++, toks, -1, SQLITE_TRANSIENT);
    bind_text(s, k++, r->output_text);
    free(toks);
    free(acc);
    if (step_done(st, s, "insert sample") != 0) return -1;
    int64_t sid = sqlite3_last_insert_rowid(st->db);
    for (int i = 0; i < r->n_counters; i++) {
        sqlite3_bind_int64(sc, 1, sid);
        bind_text(sc, 2, r->counter_names[i]);
        sqlite3_bind_int64(sc, 3, r->counter_values[i]);
        if (step_done(st, sc, "insert sample_counter") != 0) return -1;
    }
    for (int i = 0; i < r->n_metrics; i++) {
        sqlite3_bind_int64(sm, 1, sid);
        bind_text(sm, 2, r->metric_names[i]);
        bind_real(sm, 3, r->metric_values[i]);
        if (step_done(st, sm, "insert sample_metric") != 0) return -1;
    }
    for (int i = 0; i < r->n_events; i++) {
        const db_event *e = &r->events[i];
        sqlite3_bind_int64(se, 1, sid);
        sqlite3_bind_int(se, 2, i);
        sqlite3_bind_int(se, 3, e->kind);
        sqlite3_bind_int(se, 4, e->role);
        sqlite3_bind_int(se, 5, e->step);
        sqlite3_bind_int(se, 6, e->n_tokens);
        sqlite3_bind_int(se, 7, e->n_accepted);
        sqlite3_bind_int64(se, 8, (sqlite3_int64)e->accepted_mask);
        sqlite3_bind_int64(se, 9, e->t_start_ns / 1000);
        sqlite3_bind_int64(se, 10, e->t_end_ns / 1000);
        if (step_done(st, se, "insert step_event") != 0) return -1;
    }
    return 0;
}

/* Binds run_id and a case record's fields up to n_prompts (the columns
 * both case writers share, in their order); returns the next index. */
static int bind_case_fields(sqlite3_stmt *s, int64_t run_id, const db_case_record *c) {
    int k = 1;
    sqlite3_bind_int64(s, k++, run_id);
    sqlite3_bind_int(s, k++, c->idx);
    bind_text(s, k++, c->engine);
    bind_text(s, k++, c->label);
    bind_text(s, k++, c->params_json);
    bind_text(s, k++, c->model_name);
    bind_text(s, k++, c->model_path);
    bind_text(s, k++, c->model_sha256);
    bind_text(s, k++, c->model_desc);
    sqlite3_bind_int64(s, k++, (sqlite3_int64)c->model_params);
    sqlite3_bind_int64(s, k++, (sqlite3_int64)c->model_bytes);
    bind_text(s, k++, c->draft_name);
    bind_text(s, k++, c->draft_path);
    bind_text(s, k++, c->draft_sha256);
    bind_text(s, k++, c->dataset);
    sqlite3_bind_int(s, k++, c->n_prompts);
    return k;
}

int db_store_case(db_store *st, int64_t run_id, const db_case_record *c,
                  const db_sample_record *samples, int n_samples, int64_t *case_id) {
    if (check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL, *ss = NULL, *sc = NULL, *sm = NULL, *se = NULL;
    if (exec(st, "BEGIN IMMEDIATE") != 0) return -1;
    if (prepare(st,
                "INSERT INTO \"case\"(run_id, idx, engine, label, params_json, model_name, model_path,"
                " model_sha256, model_desc, model_params, model_bytes, draft_name, draft_path,"
                " draft_sha256, dataset, n_prompts, status, started_at, finished_at)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &s) != 0 ||
        prepare(st,
                "INSERT INTO sample(case_id, prompt_idx, prompt_id, category, rep, turn, seed,"
                " n_prompt_tokens, new_tokens, ttft_ms, latency_ms, tokens_per_s, tpot_ms,"
                " target_forwards, draft_forwards, target_tokens_evaluated, n_commits, mat, drafted,"
                " accepted, acceptance_rate, accept_at_json, draft_time_ms, forward_time_ms,"
                " sample_time_ms, peak_rss_kib, stop_reason, output_tokens_json, output_text)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &ss) != 0 ||
        prepare(st, "INSERT INTO sample_counter(sample_id, name, value) VALUES(?,?,?)", &sc) != 0 ||
        prepare(st, "INSERT INTO sample_metric(sample_id, name, value) VALUES(?,?,?)", &sm) != 0 ||
        prepare(st,
                "INSERT INTO step_event(sample_id, seq, kind, role, step, n_tokens, n_accepted,"
                " accepted_mask, t_start_us, t_end_us) VALUES(?,?,?,?,?,?,?,?,?,?)", &se) != 0)
        goto fail;
    int k = bind_case_fields(s, run_id, c);
    bind_text(s, k++, c->status);
    sqlite3_bind_int64(s, k++, c->started_at_ms);
    sqlite3_bind_int64(s, k++, c->finished_at_ms);
    if (step_done(st, s, "insert case") != 0) goto fail;
    int64_t cid = sqlite3_last_insert_rowid(st->db);
    for (int i = 0; i < n_samples; i++)
        if (insert_sample(st, ss, sc, sm, se, cid, &samples[i]) != 0) goto fail;
    sqlite3_finalize(s);
    sqlite3_finalize(ss);
    sqlite3_finalize(sc);
    sqlite3_finalize(sm);
    sqlite3_finalize(se);
    s = ss = sc = sm = se = NULL;
    if (exec(st, "COMMIT") != 0) goto fail;
    if (case_id) *case_id = cid;
    return 0;
fail:
    sqlite3_finalize(s);
    sqlite3_finalize(ss);
    sqlite3_finalize(sc);
    sqlite3_finalize(sm);
    sqlite3_finalize(se);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* ---- S7 run lifecycle: per-sample commits, liveness, resume ----------------- */

static void this_host(char *buf, size_t len) {
    if (gethostname(buf, len) != 0) snprintf(buf, len, "?");
    buf[len - 1] = 0;
}

bool db_run_is_dead(const char *hostname, int64_t pid, int64_t heartbeat_ms, int64_t now_ms) {
    char me[256];
    this_host(me, sizeof me);
    bool stale = now_ms - heartbeat_ms > DB_RUN_STALE_MS;
    if (hostname && pid > 0 && strcmp(hostname, me) == 0) {
        if (pid == (int64_t)getpid()) return false;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return true;
        return stale;   /* alive, or its pid reused by another process */
    }
    return stale;
}

int db_store_run_claim(db_store *st, int64_t run_id, const db_run_lifecycle *lc) {
    if (check_writable(st) != 0) return -1;
    char host[256];
    this_host(host, sizeof host);
    sqlite3_stmt *s = NULL;
    if (prepare(st,
                "UPDATE run SET pid=?, hostname=?, heartbeat_at=?, suite_sha256=?, config_sha256=?,"
                " limit_prompts=? WHERE id=?", &s) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)getpid());
    bind_text(s, 2, host);
    sqlite3_bind_int64(s, 3, db_unix_ms());
    bind_text(s, 4, lc ? lc->suite_sha256 : NULL);
    bind_text(s, 5, lc ? lc->config_sha256 : NULL);
    sqlite3_bind_int(s, 6, lc ? lc->limit_prompts : 0);
    sqlite3_bind_int64(s, 7, run_id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : st_err(st, "claim run");
}

int db_store_set_run_lifecycle(db_store *st, const db_run_lifecycle *lc) {
    st->next_lc_set = lc != NULL;
    if (!lc) return 0;
    snprintf(st->next_suite_sha, sizeof st->next_suite_sha, "%s", lc->suite_sha256 ? lc->suite_sha256 : "");
    snprintf(st->next_config_sha, sizeof st->next_config_sha, "%s", lc->config_sha256 ? lc->config_sha256 : "");
    st->next_lc.suite_sha256 = lc->suite_sha256 ? st->next_suite_sha : NULL;
    st->next_lc.config_sha256 = lc->config_sha256 ? st->next_config_sha : NULL;
    st->next_lc.limit_prompts = lc->limit_prompts;
    return 0;
}

static void *heartbeat_main(void *arg) {
    db_store *st = arg;
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_open_v2(st->path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        sqlite3_prepare_v2(db, "UPDATE run SET heartbeat_at=? WHERE id=?", -1, &s, NULL);
    }
    pthread_mutex_lock(&st->hb_mu);
    while (!st->hb_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += DB_RUN_HEARTBEAT_MS / 1000;
        if (pthread_cond_timedwait(&st->hb_cv, &st->hb_mu, &ts) == 0 || st->hb_stop) continue;
        if (s) {
            sqlite3_bind_int64(s, 1, db_unix_ms());
            sqlite3_bind_int64(s, 2, st->hb_run);
            sqlite3_step(s);   /* best effort: a busy database skips one beat */
            sqlite3_reset(s);
        }
    }
    pthread_mutex_unlock(&st->hb_mu);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return NULL;
}

int db_store_heartbeat_start(db_store *st, int64_t run_id) {
    if (check_writable(st) != 0) return -1;
    if (st->hb_running) return 0;
    pthread_mutex_init(&st->hb_mu, NULL);
    pthread_cond_init(&st->hb_cv, NULL);
    st->hb_stop = false;
    st->hb_run = run_id;
    if (pthread_create(&st->hb_thread, NULL, heartbeat_main, st) != 0) {
        pthread_mutex_destroy(&st->hb_mu);
        pthread_cond_destroy(&st->hb_cv);
        snprintf(st->err, sizeof st->err, "%s: cannot start the heartbeat thread", st->path);
        return -1;
    }
    st->hb_running = true;
    return 0;
}

void db_store_heartbeat_stop(db_store *st) {
    if (!st || !st->hb_running) return;
    pthread_mutex_lock(&st->hb_mu);
    st->hb_stop = true;
    pthread_cond_signal(&st->hb_cv);
    pthread_mutex_unlock(&st->hb_mu);
    pthread_join(st->hb_thread, NULL);
    pthread_mutex_destroy(&st->hb_mu);
    pthread_cond_destroy(&st->hb_cv);
    st->hb_running = false;
}

static int heartbeat_now(db_store *st, const char *sql, int64_t id) {
    sqlite3_stmt *s = NULL;
    if (prepare(st, sql, &s) != 0) return -1;
    sqlite3_bind_int64(s, 1, db_unix_ms());
    sqlite3_bind_int64(s, 2, id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : st_err(st, "heartbeat");
}

int db_store_case_begin(db_store *st, int64_t run_id, const db_case_record *c, int64_t *case_id) {
    if (check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL;
    int64_t cid = 0;
    if (exec(st, "BEGIN IMMEDIATE") != 0) return -1;
    if (prepare(st, "SELECT id FROM \"case\" WHERE run_id=? AND idx=? ORDER BY id LIMIT 1", &s) != 0) goto fail;
    sqlite3_bind_int64(s, 1, run_id);
    sqlite3_bind_int(s, 2, c->idx);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) cid = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        st_err(st, "look up case");
        goto fail;
    }
    if (cid > 0) {
        if (prepare(st, "UPDATE \"case\" SET status='running', finished_at=NULL WHERE id=?", &s) != 0) goto fail;
        sqlite3_bind_int64(s, 1, cid);
        if (step_done(st, s, "resume case") != 0) goto fail;
    } else {
        if (prepare(st,
                    "INSERT INTO \"case\"(run_id, idx, engine, label, params_json, model_name, model_path,"
                    " model_sha256, model_desc, model_params, model_bytes, draft_name, draft_path,"
                    " draft_sha256, dataset, n_prompts, status, started_at)"
                    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'running',?)", &s) != 0)
            goto fail;
        int k = bind_case_fields(s, run_id, c);
        sqlite3_bind_int64(s, k++, c->started_at_ms > 0 ? c->started_at_ms : db_unix_ms());
        if (step_done(st, s, "insert case") != 0) goto fail;
        cid = sqlite3_last_insert_rowid(st->db);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (heartbeat_now(st, "UPDATE run SET heartbeat_at=? WHERE id=?", run_id) != 0) goto fail;
    if (exec(st, "COMMIT") != 0) goto fail;
    *case_id = cid;
    return 0;
fail:
    sqlite3_finalize(s);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int db_store_sample(db_store *st, int64_t case_id, const db_sample_record *r) {
    if (check_writable(st) != 0) return -1;
    sqlite3_stmt *ss = NULL, *sc = NULL, *sm = NULL, *se = NULL;
    if (exec(st, "BEGIN IMMEDIATE") != 0) return -1;
    if (prepare(st,
                "INSERT INTO sample(case_id, prompt_idx, prompt_id, category, rep, turn, seed,"
                " n_prompt_tokens, new_tokens, ttft_ms, latency_ms, tokens_per_s, tpot_ms,"
                " target_forwards, draft_forwards, target_tokens_evaluated, n_commits, mat, drafted,"
                " accepted, acceptance_rate, accept_at_json, draft_time_ms, forward_time_ms,"
                " sample_time_ms, peak_rss_kib, stop_reason, output_tokens_json, output_text)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &ss) != 0 ||
        prepare(st, "INSERT INTO sample_counter(sample_id, name, value) VALUES(?,?,?)", &sc) != 0 ||
        prepare(st, "INSERT INTO sample_metric(sample_id, name, value) VALUES(?,?,?)", &sm) != 0 ||
        prepare(st,
                "INSERT INTO step_event(sample_id, seq, kind, role, step, n_tokens, n_accepted,"
                " accepted_mask, t_start_us, t_end_us) VALUES(?,?,?,?,?,?,?,?,?,?)", &se) != 0 ||
        insert_sample(st, ss, sc, sm, se, case_id, r) != 0 ||
        heartbeat_now(st, "UPDATE run SET heartbeat_at=? WHERE id=(SELECT run_id FROM \"case\" WHERE id=?)",
                      case_id) != 0)
        goto fail;
    sqlite3_finalize(ss);
    sqlite3_finalize(sc);
    sqlite3_finalize(sm);
    sqlite3_finalize(se);
    ss = sc = sm = se = NULL;
    if (exec(st, "COMMIT") != 0) goto fail;
    return 0;
fail:
    sqlite3_finalize(ss);
    sqlite3_finalize(sc);
    sqlite3_finalize(sm);
    sqlite3_finalize(se);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int db_store_case_finish(db_store *st, int64_t case_id, const char *status) {
    if (check_writable(st) != 0) return -1;
    sqlite3_stmt *s = NULL;
    if (prepare(st, "UPDATE \"case\" SET status=?, finished_at=? WHERE id=?", &s) != 0) return -1;
    bind_text(s, 1, status ? status : "completed");
    sqlite3_bind_int64(s, 2, db_unix_ms());
    sqlite3_bind_int64(s, 3, case_id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : st_err(st, "finish case");
}

void db_sample_keys_free(db_sample_key *keys, int n) {
    for (int i = 0; keys && i < n; i++) free(keys[i].output_text);
    free(keys);
}

int db_store_sample_keys(db_store *st, int64_t case_id, db_sample_key **keys, int *n) {
    *keys = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    if (prepare(st, "SELECT prompt_idx, rep, turn, output_text FROM sample WHERE case_id=? ORDER BY id", &s) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, case_id);
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            db_sample_key *k = realloc(*keys, sizeof *k * (size_t)cap);
            if (!k) break;
            *keys = k;
        }
        db_sample_key *k = &(*keys)[*n];
        k->prompt_idx = sqlite3_column_int(s, 0);
        k->rep = sqlite3_column_int(s, 1);
        k->turn = sqlite3_column_int(s, 2);
        const char *t = (const char *)sqlite3_column_text(s, 3);
        k->output_text = db_strdup(t ? t : "");
        if (!k->output_text) break;
        (*n)++;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        db_sample_keys_free(*keys, *n);
        *keys = NULL;
        *n = 0;
        if (rc == SQLITE_ROW) snprintf(st->err, sizeof st->err, "%s: out of memory", st->path);
        else st_err(st, "read samples");
        return -1;
    }
    return 0;
}

int db_store_run_samples(db_store *st, int64_t run_id, int64_t *n) {
    sqlite3_stmt *s = NULL;
    if (prepare(st, "SELECT COUNT(*) FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.run_id=?", &s) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, run_id);
    int rc = sqlite3_step(s);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : st_err(st, "count samples");
}

int db_store_reap_runs(db_store *st, int *n_marked) {
    if (n_marked) *n_marked = 0;
    if (st->readonly) return 0;
    sqlite3_stmt *s = NULL, *u = NULL, *c = NULL;
    int64_t now = db_unix_ms(), dead[64];
    int n_dead = 0;
    /* databases of an older version have no such columns: nothing to reap */
    if (sqlite3_prepare_v2(st->db,
                           "SELECT id, hostname, pid, COALESCE(heartbeat_at, started_at) FROM run"
                           " WHERE status='running'", -1, &s, NULL) != SQLITE_OK)
        return 0;
    while (n_dead < 64 && sqlite3_step(s) == SQLITE_ROW)
        if (db_run_is_dead((const char *)sqlite3_column_text(s, 1), sqlite3_column_int64(s, 2),
                           sqlite3_column_int64(s, 3), now))
            dead[n_dead++] = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (n_dead == 0) return 0;
    if (exec(st, "BEGIN IMMEDIATE") != 0) return -1;
    if (prepare(st, "UPDATE run SET status='crashed', finished_at=COALESCE(heartbeat_at, started_at)"
                    " WHERE id=? AND status='running'", &u) != 0 ||
        prepare(st, "UPDATE \"case\" SET status='interrupted', finished_at=? WHERE run_id=? AND status='running'",
                &c) != 0)
        goto fail;
    int marked = 0;
    for (int i = 0; i < n_dead; i++) {
        sqlite3_bind_int64(u, 1, dead[i]);
        if (step_done(st, u, "mark run crashed") != 0) goto fail;
        if (sqlite3_changes(st->db) == 0) continue;   /* resumed or finished meanwhile */
        marked++;
        sqlite3_bind_int64(c, 1, now);
        sqlite3_bind_int64(c, 2, dead[i]);
        if (step_done(st, c, "mark cases interrupted") != 0) goto fail;
    }
    sqlite3_finalize(u);
    sqlite3_finalize(c);
    u = c = NULL;
    if (exec(st, "COMMIT") != 0) goto fail;
    if (n_marked) *n_marked = marked;
    return 0;
fail:
    sqlite3_finalize(u);
    sqlite3_finalize(c);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

void db_run_resume_free(db_run_resume *r) {
    if (!r) return;
    free(r->suite_path);
    free(r->config_json);
    free(r->suite_sha256);
    free(r->config_sha256);
    memset(r, 0, sizeof *r);
}

static char *col_dup(sqlite3_stmt *s, int i) {
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? db_strdup(t) : NULL;
}

int db_store_run_resume(db_store *st, int64_t run_id, bool take_over, db_run_resume *out, char *err,
                        size_t errlen) {
    memset(out, 0, sizeof *out);
    if (take_over && check_writable(st) != 0) return db_errf(err, errlen, "%s", st->err);
    sqlite3_stmt *s = NULL;
    if (exec(st, take_over ? "BEGIN IMMEDIATE" : "BEGIN") != 0) return db_errf(err, errlen, "%s", st->err);
    if (prepare(st,
                "SELECT status, hostname, pid, COALESCE(heartbeat_at, started_at), suite_path, config_json,"
                " suite_sha256, config_sha256, limit_prompts FROM run WHERE id=?", &s) != 0) {
        db_errf(err, errlen, "%s", st->err);
        goto fail;
    }
    sqlite3_bind_int64(s, 1, run_id);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE) db_errf(err, errlen, "%s: --resume: no run with id %lld", st->path, (long long)run_id);
        else db_errf(err, errlen, "%s: read run: %s", st->path, sqlite3_errmsg(st->db));
        goto fail;
    }
    const char *status = (const char *)sqlite3_column_text(s, 0);
    const char *host = (const char *)sqlite3_column_text(s, 1);
    int64_t pid = sqlite3_column_int64(s, 2);
    if (!status) status = "?";
    if (strcmp(status, "running") == 0 && !db_run_is_dead(host, pid, sqlite3_column_int64(s, 3), db_unix_ms())) {
        db_errf(err, errlen, "%s: --resume: run %lld is still running (pid %lld on %s)", st->path, (long long)run_id,
                (long long)pid, host ? host : "?");
        goto fail;
    }
    if (strcmp(status, "running") != 0 && strcmp(status, "interrupted") != 0 && strcmp(status, "crashed") != 0) {
        db_errf(err, errlen, "%s: --resume: run %lld is %s; only an interrupted or crashed run can be resumed",
                st->path, (long long)run_id, status);
        goto fail;
    }
    if (sqlite3_column_type(s, 5) == SQLITE_NULL || sqlite3_column_type(s, 7) == SQLITE_NULL) {
        db_errf(err, errlen, "%s: --resume: run %lld was made by a decobench without resume support", st->path,
                (long long)run_id);
        goto fail;
    }
    out->run_id = run_id;
    out->suite_path = col_dup(s, 4);
    out->config_json = col_dup(s, 5);
    out->suite_sha256 = col_dup(s, 6);
    out->config_sha256 = col_dup(s, 7);
    out->limit_prompts = sqlite3_column_int(s, 8);
    sqlite3_finalize(s);
    s = NULL;
    if (!out->config_json || !out->config_sha256) {
        db_errf(err, errlen, "out of memory");
        goto fail;
    }
    if (!take_over) {
        exec(st, "COMMIT");
        return 0;
    }
    char host_me[256];
    this_host(host_me, sizeof host_me);
    if (prepare(st, "UPDATE run SET status='running', finished_at=NULL, pid=?, hostname=?, heartbeat_at=?,"
                    " resumed=resumed+1 WHERE id=?", &s) != 0) {
        db_errf(err, errlen, "%s", st->err);
        goto fail;
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)getpid());
    bind_text(s, 2, host_me);
    sqlite3_bind_int64(s, 3, db_unix_ms());
    sqlite3_bind_int64(s, 4, run_id);
    if (step_done(st, s, "resume run") != 0 || exec(st, "COMMIT") != 0) {
        db_errf(err, errlen, "%s", st->err);
        goto fail;
    }
    sqlite3_finalize(s);
    return 0;
fail:
    sqlite3_finalize(s);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    db_run_resume_free(out);
    return -1;
}

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
