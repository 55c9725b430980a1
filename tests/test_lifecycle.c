/* test_lifecycle.c — tests of the run lifecycle in harness/run/store.c (S7):
 * every finished sample committed on its own (visible to another
 * connection while the case runs, kept when the process is killed), the
 * sample key unique, a killed run recognised and marked crashed by the next
 * open, "latest" passing over incomplete runs with a note, resume's checks,
 * and four processes creating the same new database and machine row at
 * once.  The end-to-end kill/resume/signal checks are tests/reliability.sh. */
#include "test.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/run/store.h"
#include "harness/util/util.h"

static char *tmp_db(const char *name) {
    char *p = db_path_join(db_test_tmpdir(), name);
    db_store_remove_files(p);
    return p;
}

static char *q1(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_strdup(sqlite3_errmsg(db));
    char *r = NULL;
    if (sqlite3_step(s) == SQLITE_ROW)
        r = db_strdup(sqlite3_column_type(s, 0) == SQLITE_NULL ? "(null)" : (const char *)sqlite3_column_text(s, 0));
    else r = db_strdup("(no row)");
    sqlite3_finalize(s);
    return r;
}
#define CHECK_Q(db, sql, expect) do { char *_v = q1(db, sql); CHECK_STR_EQ(_v, expect); free(_v); } while (0)

/* the same query through a connection of its own (what another process sees) */
static char *q_other(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    char *r;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) r = db_strdup("(cannot open)");
    else r = q1(db, sql);
    sqlite3_close(db);
    return r;
}

static void fill_machine(db_machine *m) {
    memset(m, 0, sizeof *m);
    snprintf(m->hostname, sizeof m->hostname, "host1");
    snprintf(m->cpu_model, sizeof m->cpu_model, "Test CPU");
    snprintf(m->fingerprint, sizeof m->fingerprint, "fp-lifecycle");
}

/* machine, run (claimed by this process) and one running case */
static int start_run(db_store *st, int64_t *run_id, int64_t *case_id) {
    db_machine m;
    fill_machine(&m);
    int64_t mid = 0;
    db_run_record rr = { 0, "t", "/nonexistent/t.json", "{}", "decobench run", "rev", "llama", "cc", "-O2", "", 1,
                         NULL, 0 };
    db_run_lifecycle lc = { NULL, "cafe", 0, 0, 0, NULL };
    db_case_record cr = { 0, "ar", "ar", "{}", "target", "exact", "", "exact", 1, 1, NULL, NULL, NULL, "d", 2,
                          "completed", 0, 0 };
    if (db_store_machine(st, &m, &mid) != 0) return -1;
    rr.machine_id = mid;
    /* the resume keys go in with the run row, in its transaction */
    if (db_store_set_run_lifecycle(st, &lc) != 0 || db_store_run_begin(st, &rr, run_id) != 0) return -1;
    return db_store_case_begin(st, *run_id, &cr, case_id);
}

static int put_sample(db_store *st, int64_t case_id, int prompt, int rep) {
    db_sample_record s;
    memset(&s, 0, sizeof s);
    const int32_t toks[] = { 3, 4, 5 };
    s.prompt_idx = prompt;
    s.rep = rep;
    s.prompt_id = "p";
    s.output_tokens = toks;
    s.n_output_tokens = 3;
    s.output_text = "a b c";
    s.stop_reason = "length";
    s.m.new_tokens = 3;
    s.m.acceptance_rate = NAN;
    return db_store_sample(st, case_id, &s);
}

static void test_lifecycle_sample_commits(void) {
    char *path = tmp_db("commits.db");
    char err[512] = "";
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (!st) { free(path); return; }
    int64_t run_id = 0, case_id = 0;
    CHECK_INT_EQ(start_run(st, &run_id, &case_id), 0);
    /* the case row exists from the start, running */
    char *v = q_other(path, "SELECT status || '|' || (finished_at IS NULL) FROM \"case\"");
    CHECK_STR_EQ(v, "running|1");
    free(v);
    CHECK_INT_EQ(put_sample(st, case_id, 0, 0), 0);
    CHECK_INT_EQ(put_sample(st, case_id, 1, 0), 0);
    /* each sample is committed at once: another connection sees both */
    v = q_other(path, "SELECT COUNT(*) FROM sample");
    CHECK_STR_EQ(v, "2");
    free(v);
    /* the sample key is unique: a second (prompt 1, rep 0, turn 0) is refused, nothing half-written */
    CHECK_INT_EQ(put_sample(st, case_id, 1, 0), -1);
    CHECK_CONTAINS(db_store_errmsg(st), "UNIQUE");
    CHECK_Q(db_store_handle(st), "SELECT COUNT(*) FROM sample", "2");
    int64_t n = 0;
    CHECK_INT_EQ(db_store_run_samples(st, run_id, &n), 0);
    CHECK_INT_EQ(n, 2);
    db_sample_key *keys = NULL;
    int nk = 0;
    CHECK_INT_EQ(db_store_sample_keys(st, case_id, &keys, &nk), 0);
    CHECK_INT_EQ(nk, 2);
    if (nk == 2) {
        CHECK_INT_EQ(keys[1].prompt_idx, 1);
        CHECK_STR_EQ(keys[1].output_text, "a b c");
    }
    db_sample_keys_free(keys, nk);
    CHECK_INT_EQ(db_store_case_finish(st, case_id, "completed"), 0);
    CHECK_Q(db_store_handle(st), "SELECT status || '|' || (finished_at IS NOT NULL) FROM \"case\"", "completed|1");
    /* the run row carries its process */
    char want[64];
    snprintf(want, sizeof want, "%lld", (long long)getpid());
    CHECK_Q(db_store_handle(st), "SELECT pid FROM run", want);
    CHECK_Q(db_store_handle(st), "SELECT config_sha256 || '|' || resumed FROM run", "cafe|0");
    db_store_close(st);
    free(path);
}

/* a child writes a run and two samples, then is killed with SIGKILL */
static pid_t killed_writer(const char *path, int n_samples) {
    pid_t pid = fork();
    if (pid == 0) {
        char e[512];
        db_store *st = NULL;
        int64_t run_id, case_id;
        if (db_store_open(path, &st, e, sizeof e) != 0 || start_run(st, &run_id, &case_id) != 0) _exit(3);
        for (int i = 0; i < n_samples; i++)
            if (put_sample(st, case_id, i, 0) != 0) _exit(4);
        raise(SIGKILL);
        _exit(5);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? pid : -1;
}

static void test_lifecycle_killed_run(void) {
    char *path = tmp_db("killed.db");
    char err[512] = "", note[400];
    CHECK(killed_writer(path, 2) > 0);
    /* as the kill left it: running, both samples there */
    char *v = q_other(path, "SELECT status || '|' || (SELECT COUNT(*) FROM sample) FROM run");
    CHECK_STR_EQ(v, "running|2");
    free(v);
    /* a reader (read-only open) says so and marks it */
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    if (st) {
        int64_t id = 0;
        CHECK_INT_EQ(db_store_pick_run(db_store_handle(st), 0, &id, note, sizeof note, err, sizeof err), 0);
        CHECK_INT_EQ(id, 1);
        CHECK_CONTAINS(note, "run 1 is crashed");
        CHECK_CONTAINS(note, "no run has ended");
        db_store_close(st);
    }
    v = q_other(path, "SELECT r.status || '|' || c.status || '|' || (r.finished_at IS NOT NULL) FROM run r JOIN \"case\" c");
    CHECK_STR_EQ(v, "crashed|interrupted|1");
    free(v);
    /* a second kill, then a writer's open marks it too; a completed run before it
     * is what "latest" means, with a note about the newer crashed one */
    db_store_remove_files(path);
    st = NULL;
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (st) {
        int64_t r1, c1;
        CHECK_INT_EQ(start_run(st, &r1, &c1), 0);
        CHECK_INT_EQ(put_sample(st, c1, 0, 0), 0);
        CHECK_INT_EQ(db_store_case_finish(st, c1, "completed"), 0);
        CHECK_INT_EQ(db_store_run_finish(st, r1, "completed"), 0);
        db_store_close(st);
    }
    CHECK(killed_writer(path, 3) > 0);
    st = NULL;
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (st) {
        sqlite3 *db = db_store_handle(st);
        CHECK_Q(db, "SELECT group_concat(id || ':' || status, ' ') FROM run", "1:completed 2:crashed");
        CHECK_Q(db, "SELECT COUNT(*) FROM sample s JOIN \"case\" c ON c.id = s.case_id WHERE c.run_id = 2", "3");
        int64_t id = 0;
        CHECK_INT_EQ(db_store_pick_run(db, 0, &id, note, sizeof note, err, sizeof err), 0);
        CHECK_INT_EQ(id, 1);
        CHECK_CONTAINS(note, "showing run 1, the latest that ended");
        CHECK_CONTAINS(note, "2 (crashed)");
        /* asked for by id: the incomplete run is flagged */
        CHECK_INT_EQ(db_store_pick_run(db, 2, &id, note, sizeof note, err, sizeof err), 0);
        CHECK_INT_EQ(id, 2);
        CHECK_CONTAINS(note, "run 2 is crashed: its results are incomplete");
        CHECK_INT_EQ(db_store_pick_run(db, 1, &id, note, sizeof note, err, sizeof err), 0);
        CHECK_STR_EQ(note, "");
        CHECK_INT_EQ(db_store_pick_run(db, 9, &id, note, sizeof note, err, sizeof err), -1);
        CHECK_CONTAINS(err, "no run with id 9");
        /* resume: the crashed run can be taken over, the completed one not */
        db_run_resume rs;
        CHECK_INT_EQ(db_store_run_resume(st, 1, true, &rs, err, sizeof err), -1);
        CHECK_CONTAINS(err, "run 1 is completed; only an interrupted or crashed run can be resumed");
        CHECK_INT_EQ(db_store_run_resume(st, 2, true, &rs, err, sizeof err), 0);
        CHECK_STR_EQ(rs.config_sha256, "cafe");
        CHECK_STR_EQ(rs.suite_path, "/nonexistent/t.json");
        db_run_resume_free(&rs);
        char want[80];
        snprintf(want, sizeof want, "running|1|%lld", (long long)getpid());
        CHECK_Q(db, "SELECT status || '|' || resumed || '|' || pid FROM run WHERE id = 2", want);
        /* now it is this (live) process's: neither reaped nor resumable twice */
        int n = -1;
        CHECK_INT_EQ(db_store_reap_runs(st, &n), 0);
        CHECK_INT_EQ(n, 0);
        CHECK_INT_EQ(db_store_run_resume(st, 2, true, &rs, err, sizeof err), -1);
        CHECK_CONTAINS(err, "run 2 is still running (pid");
        db_store_close(st);
    }
    free(path);
}

static void test_lifecycle_is_dead(void) {
    char host[256];
    gethostname(host, sizeof host);
    host[255] = 0;
    int64_t now = db_unix_ms();
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0);
    CHECK(db_run_is_dead(host, child, now, now));                 /* gone */
    CHECK(!db_run_is_dead(host, getpid(), now - 3600000, now));   /* this process */
    CHECK(!db_run_is_dead(host, getppid(), now, now));            /* alive, fresh heartbeat */
    CHECK(db_run_is_dead(host, getppid(), now - DB_RUN_STALE_MS - 1, now));   /* pid reused */
    CHECK(!db_run_is_dead("other-host.invalid", 1, now - 1000, now));
    CHECK(db_run_is_dead("other-host.invalid", 1, now - DB_RUN_STALE_MS - 1, now));
    CHECK(db_run_is_dead(NULL, 0, now - DB_RUN_STALE_MS - 1, now));
}

/* four processes open the same new database at the same moment, each adds
 * the same machine and a run with samples: every one must succeed */
static void test_lifecycle_concurrent_writers(void) {
    enum { N = 4, ROUNDS = 8 };
    int failures = 0;
    char why[256] = "";
    for (int round = 0; round < ROUNDS; round++) {
        char name[64];
        snprintf(name, sizeof name, "concurrent%d.db", round);
        char *path = tmp_db(name);
        int go[2];
        if (pipe(go) != 0) { CHECK(0); free(path); return; }
        pid_t kids[N];
        for (int k = 0; k < N; k++) {
            kids[k] = fork();
            if (kids[k] == 0) {
                close(go[1]);
                char c;
                if (read(go[0], &c, 1) < 0) _exit(9);   /* all start together */
                char e[512];
                db_store *st = NULL;
                int64_t run_id, case_id;
                if (db_store_open(path, &st, e, sizeof e) != 0) { fprintf(stderr, "%s\n", e); _exit(3); }
                if (start_run(st, &run_id, &case_id) != 0) { fprintf(stderr, "%s\n", db_store_errmsg(st)); _exit(4); }
                for (int i = 0; i < 3; i++)
                    if (put_sample(st, case_id, i, 0) != 0) _exit(5);
                if (db_store_case_finish(st, case_id, "completed") != 0 ||
                    db_store_run_finish(st, run_id, "completed") != 0) _exit(6);
                db_store_close(st);
                _exit(0);
            }
        }
        close(go[0]);
        close(go[1]);   /* EOF releases every child at once */
        for (int k = 0; k < N; k++) {
            int status = 0;
            waitpid(kids[k], &status, 0);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                failures++;
                snprintf(why, sizeof why, "round %d: a writer exited with %d", round,
                         WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
            }
        }
        char *v = q_other(path, "SELECT (SELECT COUNT(*) FROM machine) || '|' || "
                                "(SELECT COUNT(*) FROM run WHERE status = 'completed') || '|' || "
                                "(SELECT COUNT(*) FROM sample)");
        if (strcmp(v, "1|4|12") != 0) {
            failures++;
            snprintf(why, sizeof why, "round %d: machines|completed runs|samples = %s", round, v);
        }
        free(v);
        free(path);
    }
    CHECK_MSG(failures == 0, "%d failures; last: %s", failures, why);
}

/* a version-2 database gains the lifecycle columns and the unique sample key */
static void test_lifecycle_upgrade_v2(void) {
    char *path = tmp_db("v2.db");
    char err[512] = "";
    db_store *st = NULL;
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (!st) { free(path); return; }
    int64_t run_id, case_id;
    CHECK_INT_EQ(start_run(st, &run_id, &case_id), 0);
    CHECK_INT_EQ(put_sample(st, case_id, 0, 0), 0);
    /* make it look like version 2 */
    sqlite3 *db = db_store_handle(st);
    CHECK_INT_EQ(sqlite3_exec(db,
                              "DROP INDEX sample_key; ALTER TABLE run DROP COLUMN pid; ALTER TABLE run DROP COLUMN hostname;"
                              "ALTER TABLE run DROP COLUMN heartbeat_at; ALTER TABLE run DROP COLUMN suite_sha256;"
                              "ALTER TABLE run DROP COLUMN config_sha256; ALTER TABLE run DROP COLUMN limit_prompts;"
                              "ALTER TABLE run DROP COLUMN resumed; DROP TABLE identity;"
                              "UPDATE meta SET value='2' WHERE key='schema_version';",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    db_store_close(st);
    /* read-only: readable, the old running run is not reaped (no pid to check) */
    st = NULL;
    CHECK_INT_EQ(db_store_open_readonly(path, &st, err, sizeof err), 0);
    if (st) {
        int64_t id = 0;
        char note[400];
        CHECK_INT_EQ(db_store_pick_run(db_store_handle(st), 0, &id, note, sizeof note, err, sizeof err), 0);
        CHECK_INT_EQ(id, 1);
        db_store_close(st);
    }
    st = NULL;
    CHECK_INT_EQ(db_store_open(path, &st, err, sizeof err), 0);
    if (st) {
        db = db_store_handle(st);
        CHECK_Q(db, "SELECT value FROM meta WHERE key='schema_version'", "8");
        CHECK_Q(db, "SELECT resumed || '|' || (pid IS NULL) FROM run", "0|1");
        CHECK_Q(db, "SELECT COUNT(*) FROM pragma_table_info('run') WHERE name = 'shard_count'", "1");
        CHECK_Q(db, "SELECT COUNT(*) FROM sqlite_master WHERE name='sample_key'", "1");
        CHECK_Q(db, "SELECT COUNT(*) FROM sqlite_master WHERE name='identity'", "1");
        db_store_close(st);
    }
    free(path);
}

void suite_lifecycle(void) {
    RUN(test_lifecycle_sample_commits);
    RUN(test_lifecycle_killed_run);
    RUN(test_lifecycle_is_dead);
    RUN(test_lifecycle_concurrent_writers);
    RUN(test_lifecycle_upgrade_v2);
}
