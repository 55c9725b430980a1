/* store.c — the SQLite results database (see store.h; schema in docs/schema.md):
 * its schema, the upgrades of older versions, opening and closing.  The
 * writers are in store_write.c, the run lifecycle in store_lifecycle.c,
 * the readers in store_read.c, merging in store_merge.c.
 *
 * Times are stored as INTEGER unix-epoch milliseconds (started_at,
 * finished_at, first_seen); step event times as INTEGER microseconds from
 * the sample's start.  Non-finite doubles (e.g. acceptance_rate with nothing
 * drafted) are stored as NULL.
 */
#include "store_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/util/util.h"

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
 * harness/run/interference.h; run lifecycle in migrations_rw).  Version 4:
 * shards (run_shard).  Version 5: the machine's compute devices
 * (machine_device, `decobench probe`).  Version 6: compact step events
 * (sample_events: one blob per sample, harness/run/events_codec.h; a
 * writable upgrade converts the step_event rows into blobs, see
 * upgrade_schema) and pruned runs (run_prune, `decobench prune`).
 * Version 7: distinct outputs (output, sample.output_id; `prune` moves a
 * pruned run's outputs there) and packed counters (counter_name,
 * sample_counter_pack: `prune` packs a pruned sample's counter rows into
 * one blob, events_codec.h). */
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
    /* -- S10 shards: the shards a merged run was made of (harness/run/shard.h) */
    [3] = "CREATE %sTABLE IF NOT EXISTS run_shard(\n"
          "  run_id INTEGER NOT NULL REFERENCES run(id), shard_index INTEGER NOT NULL, shard_count INTEGER NOT NULL,\n"
          "  machine_id INTEGER REFERENCES machine(id), hostname TEXT, started_at INTEGER, finished_at INTEGER,\n"
          "  status TEXT, PRIMARY KEY(run_id, shard_index));\n",
    /* -- S10 devices: the compute devices `decobench probe` saw, with the
     * bandwidth and peak rates the hardware report's roofline divides by
     * (harness/model/devices.h, harness/run/known_devices.h) */
    [4] = "CREATE %sTABLE IF NOT EXISTS machine_device(\n"
          "  machine_id INTEGER NOT NULL REFERENCES machine(id), measured_at INTEGER NOT NULL, idx INTEGER NOT NULL,\n"
          "  name TEXT, description TEXT, type TEXT, backend TEXT, memory_bytes INTEGER, known TEXT,\n"
          "  bandwidth_gbs REAL, peak_fp32_tflops REAL, peak_fp16_tflops REAL, source TEXT,\n"
          "  PRIMARY KEY(machine_id, measured_at, idx));\n",
    /* -- S13 storage: a sample's step events as one compact blob, and the
     * runs whose raw per-sample data was pruned (store_events.c) */
    [5] = "CREATE %sTABLE IF NOT EXISTS sample_events(\n"
          "  sample_id INTEGER PRIMARY KEY REFERENCES sample(id), n INTEGER NOT NULL, data BLOB NOT NULL);\n"
          "CREATE %sTABLE IF NOT EXISTS run_prune(\n"
          "  run_id INTEGER PRIMARY KEY REFERENCES run(id), pruned_at INTEGER NOT NULL, samples INTEGER,\n"
          "  bytes INTEGER);\n",
    /* -- S13 storage: distinct outputs (store_events.c: db_store_prune) */
    [6] = "CREATE %sTABLE IF NOT EXISTS output(\n"
          "  id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, tokens_json TEXT, text TEXT);\n"
          "CREATE %sTABLE IF NOT EXISTS counter_name(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);\n"
          "CREATE %sTABLE IF NOT EXISTS sample_counter_pack(\n"
          "  sample_id INTEGER PRIMARY KEY REFERENCES sample(id), data BLOB NOT NULL);\n",
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
    [3] = /* -- S10 shards: which part of a suite a run is */
          "ALTER TABLE run ADD COLUMN shard_index INTEGER;\n"
          "ALTER TABLE run ADD COLUMN shard_count INTEGER;\n"
          "ALTER TABLE run ADD COLUMN shard_group TEXT;\n",
    [6] = /* -- S13 storage: a sample's row of the table of distinct outputs */
          "ALTER TABLE sample ADD COLUMN output_id INTEGER REFERENCES output(id);\n",
    [7] = /* -- S13 reports: a case's counter values read from an index alone
           * (the primary key's index holds no value: a table lookup per
           * row was a fifth of a large report) */
          "CREATE INDEX IF NOT EXISTS sample_counter_value ON sample_counter(sample_id, name, value);\n"
          /* a case's interference rows without a scan of every run's
           * (a year of nightly runs holds millions) */
          "CREATE INDEX IF NOT EXISTS interference_run_case ON interference(run_id, case_idx);\n",
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
        if (!st->readonly && v == 5) {
            /* version 6: the step_event rows become one blob per sample */
            int64_t n = 0;
            char e[512];
            if (db_st_events_to_blobs(st->db, &n, e, sizeof e) != 0) {
                msg = sqlite3_mprintf("%s", e);
                goto fail;
            }
        }
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
    /* a reader's connection is used by one thread only (the heartbeat
     * thread of a writer opens its own): no per-call mutex (S13: 6% of a
     * large report) */
    int flags = readonly ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
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
