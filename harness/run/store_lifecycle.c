/* store_lifecycle.c — the S7 run lifecycle of the results database
 * (store.h): which process runs a run (pid, hostname, heartbeat thread),
 * whether that process is gone, marking such runs 'crashed', and reading a
 * run back to resume it.
 */
#include "store_int.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness/util/util.h"

bool db_run_is_dead(const char *hostname, int64_t pid, int64_t heartbeat_ms, int64_t now_ms) {
    char me[256];
    db_st_this_host(me, sizeof me);
    bool stale = now_ms - heartbeat_ms > DB_RUN_STALE_MS;
    if (hostname && pid > 0 && strcmp(hostname, me) == 0) {
        if (pid == (int64_t)getpid()) return false;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return true;
        return stale;   /* alive, or its pid reused by another process */
    }
    return stale;
}

int db_store_run_claim(db_store *st, int64_t run_id, const db_run_lifecycle *lc) {
    if (db_st_check_writable(st) != 0) return -1;
    char host[256];
    db_st_this_host(host, sizeof host);
    sqlite3_stmt *s = NULL;
    if (db_st_prepare(st,
                      "UPDATE run SET pid=?, hostname=?, heartbeat_at=?, suite_sha256=?, config_sha256=?,"
                      " limit_prompts=? WHERE id=?", &s) != 0)
        return -1;
    if (lc && lc->shard_count > 0) {   /* version 4: which shard of the suite */
        sqlite3_stmt *h = NULL;
        if (db_st_prepare(st, "UPDATE run SET shard_index=?, shard_count=?, shard_group=? WHERE id=?", &h) != 0) {
            sqlite3_finalize(s);
            return -1;
        }
        sqlite3_bind_int(h, 1, lc->shard_index);
        sqlite3_bind_int(h, 2, lc->shard_count);
        db_st_bind_text(h, 3, lc->shard_group ? lc->shard_group : "");
        sqlite3_bind_int64(h, 4, run_id);
        int hr = sqlite3_step(h);
        sqlite3_finalize(h);
        if (hr != SQLITE_DONE) {
            sqlite3_finalize(s);
            return db_st_err(st, "record the shard");
        }
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)getpid());
    db_st_bind_text(s, 2, host);
    sqlite3_bind_int64(s, 3, db_unix_ms());
    db_st_bind_text(s, 4, lc ? lc->suite_sha256 : NULL);
    db_st_bind_text(s, 5, lc ? lc->config_sha256 : NULL);
    sqlite3_bind_int(s, 6, lc ? lc->limit_prompts : 0);
    sqlite3_bind_int64(s, 7, run_id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : db_st_err(st, "claim run");
}

int db_store_set_run_lifecycle(db_store *st, const db_run_lifecycle *lc) {
    st->next_lc_set = lc != NULL;
    if (!lc) return 0;
    snprintf(st->next_suite_sha, sizeof st->next_suite_sha, "%s", lc->suite_sha256 ? lc->suite_sha256 : "");
    snprintf(st->next_config_sha, sizeof st->next_config_sha, "%s", lc->config_sha256 ? lc->config_sha256 : "");
    st->next_lc.suite_sha256 = lc->suite_sha256 ? st->next_suite_sha : NULL;
    st->next_lc.config_sha256 = lc->config_sha256 ? st->next_config_sha : NULL;
    st->next_lc.limit_prompts = lc->limit_prompts;
    st->next_lc.shard_index = lc->shard_index;
    st->next_lc.shard_count = lc->shard_count;
    snprintf(st->next_shard_group, sizeof st->next_shard_group, "%s", lc->shard_group ? lc->shard_group : "");
    st->next_lc.shard_group = st->next_shard_group;
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
    if (db_st_check_writable(st) != 0) return -1;
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

int db_st_heartbeat_now(db_store *st, const char *sql, int64_t id) {
    sqlite3_stmt *s = NULL;
    if (db_st_prepare(st, sql, &s) != 0) return -1;
    sqlite3_bind_int64(s, 1, db_unix_ms());
    sqlite3_bind_int64(s, 2, id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : db_st_err(st, "heartbeat");
}

void db_sample_keys_free(db_sample_key *keys, int n) {
    for (int i = 0; keys && i < n; i++) free(keys[i].output_text);
    free(keys);
}

int db_store_sample_keys(db_store *st, int64_t case_id, db_sample_key **keys, int *n) {
    *keys = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    if (db_st_prepare(st, "SELECT prompt_idx, rep, turn, COALESCE(output_text, (SELECT o.text FROM output o"
                              " WHERE o.id = sample.output_id)) FROM sample WHERE case_id=? ORDER BY id", &s) != 0)
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
        else db_st_err(st, "read samples");
        return -1;
    }
    return 0;
}

int db_store_run_samples(db_store *st, int64_t run_id, int64_t *n) {
    sqlite3_stmt *s = NULL;
    if (db_st_prepare(st, "SELECT COUNT(*) FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.run_id=?", &s) != 0)
        return -1;
    sqlite3_bind_int64(s, 1, run_id);
    int rc = sqlite3_step(s);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : db_st_err(st, "count samples");
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
    if (db_st_exec(st, "BEGIN IMMEDIATE") != 0) return -1;
    int marked = 0, rc = -1;
    if (db_st_prepare(st, "UPDATE run SET status='crashed', finished_at=COALESCE(heartbeat_at, started_at)"
                          " WHERE id=? AND status='running'", &u) != 0 ||
        db_st_prepare(st, "UPDATE \"case\" SET status='interrupted', finished_at=? WHERE run_id=? AND status='running'",
                      &c) != 0)
        goto end;
    for (int i = 0; i < n_dead; i++) {
        sqlite3_bind_int64(u, 1, dead[i]);
        if (db_st_step_done(st, u, "mark run crashed") != 0) goto end;
        if (sqlite3_changes(st->db) == 0) continue;   /* resumed or finished meanwhile */
        marked++;
        sqlite3_bind_int64(c, 1, now);
        sqlite3_bind_int64(c, 2, dead[i]);
        if (db_st_step_done(st, c, "mark cases interrupted") != 0) goto end;
    }
    sqlite3_finalize(u);
    sqlite3_finalize(c);
    u = c = NULL;
    rc = db_st_exec(st, "COMMIT");
end:
    sqlite3_finalize(u);
    sqlite3_finalize(c);
    if (rc != 0) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    else if (n_marked) *n_marked = marked;
    return rc;
}

void db_run_resume_free(db_run_resume *r) {
    if (!r) return;
    char *f[] = { r->suite_path, r->config_json, r->suite_sha256, r->config_sha256, r->shard_group };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
    memset(r, 0, sizeof *r);
}
int db_store_run_resume(db_store *st, int64_t run_id, bool take_over, db_run_resume *out, char *err,
                        size_t errlen) {
    memset(out, 0, sizeof *out);
    if (take_over && db_st_check_writable(st) != 0) return db_errf(err, errlen, "%s", st->err);
    sqlite3_stmt *s = NULL;
    if (db_st_exec(st, take_over ? "BEGIN IMMEDIATE" : "BEGIN") != 0) return db_errf(err, errlen, "%s", st->err);
    if (db_st_prepare(st,
                      "SELECT status, hostname, pid, COALESCE(heartbeat_at, started_at), suite_path, config_json,"
                      " suite_sha256, config_sha256, limit_prompts, COALESCE(shard_index, 0),"
                      " COALESCE(shard_count, 0), shard_group FROM run WHERE id=?", &s) != 0) {
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
    out->suite_path = db_st_col_dup(s, 4);
    out->config_json = db_st_col_dup(s, 5);
    out->suite_sha256 = db_st_col_dup(s, 6);
    out->config_sha256 = db_st_col_dup(s, 7);
    out->limit_prompts = sqlite3_column_int(s, 8);
    out->shard_index = sqlite3_column_int(s, 9);
    out->shard_count = sqlite3_column_int(s, 10);
    out->shard_group = db_st_col_dup(s, 11);
    sqlite3_finalize(s);
    s = NULL;
    if (!out->config_json || !out->config_sha256) {
        db_errf(err, errlen, "out of memory");
        goto fail;
    }
    if (!take_over) {
        db_st_exec(st, "COMMIT");
        return 0;
    }
    char host_me[256];
    db_st_this_host(host_me, sizeof host_me);
    if (db_st_prepare(st, "UPDATE run SET status='running', finished_at=NULL, pid=?, hostname=?, heartbeat_at=?,"
                    " resumed=resumed+1 WHERE id=?", &s) != 0) {
        db_errf(err, errlen, "%s", st->err);
        goto fail;
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)getpid());
    db_st_bind_text(s, 2, host_me);
    sqlite3_bind_int64(s, 3, db_unix_ms());
    sqlite3_bind_int64(s, 4, run_id);
    if (db_st_step_done(st, s, "resume run") != 0 || db_st_exec(st, "COMMIT") != 0) {
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
