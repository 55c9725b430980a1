/* server_proc.h — inference servers that decobench starts for a serving
 * benchmark (llama-server, vLLM, ...): a free port on 127.0.0.1, the
 * command started in its own process group with its output kept in a log
 * file, readiness by polling a health URL (libcurl) with a timeout, and a
 * stop that always happens — SIGTERM to the group, SIGKILL after a grace
 * period; the child also gets SIGTERM if decobench itself dies
 * (PR_SET_PDEATHSIG), so no server outlives its run.
 *
 * Only the loopback interface: the health URL is built from 127.0.0.1 and
 * the port this module found free.
 */
#ifndef DECOBENCH_SERVER_PROC_H
#define DECOBENCH_SERVER_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_server db_server;

typedef struct db_server_params {
    const char *const *argv;   /* argv[0] is looked up on PATH when it has no '/'; NULL-terminated */
    const char *const *env;    /* extra "NAME=VALUE" entries on top of decobench's environment;
                                  NULL-terminated, may be NULL */
    const char *log_path;      /* stdout and stderr of the server go here (created 0600,
                                  appended to); NULL: /dev/null */
    const char *health_path;   /* polled with GET until HTTP 200; default "/health" */
    int port;                  /* the port the command was told to listen on (127.0.0.1) */
    double ready_timeout_s;    /* default 120 (also for 0 or less) */
    double stop_grace_s;       /* SIGTERM, then SIGKILL after this; default 10 (also for 0 or less) */
} db_server_params;

db_server_params db_server_default_params(void);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0,
 * then released).  Returns 0, or -1 with one line in err. */
int db_server_free_port(int *port, char *err, size_t errlen);

/* Start the command (fork + exec, its own process group, stdin from
 * /dev/null).  Returns 0, or -1 with one line in err (command not found,
 * not executable, log file not writable); nothing is left running on -1.
 * Call it from a thread that outlives the server (the main thread): the
 * kernel sends PR_SET_PDEATHSIG when the thread that forked ends. */
int db_server_start(const db_server_params *p, db_server **out, char *err, size_t errlen);

/* Poll http://127.0.0.1:PORT{health_path} (about every 100 ms) until it
 * answers 200.  Returns 0 when ready; -1 with one line in err when the
 * process exited first (with its exit status and the last line of its
 * log), or the timeout passed ("not ready after 120 s"); 1 when *cancel
 * became non-zero.  The server is left running in every case: call
 * db_server_stop. */
int db_server_wait_ready(db_server *s, volatile sig_atomic_t *cancel, char *err, size_t errlen);

/* Is the process still running? (reaps it when it has exited) */
bool db_server_alive(db_server *s);
pid_t db_server_pid(const db_server *s);
int db_server_port(const db_server *s);
/* "http://127.0.0.1:PORT" */
const char *db_server_base_url(const db_server *s);

/* Stop (SIGTERM to the process group, SIGKILL after stop_grace_s), reap,
 * free.  *exit_desc (may be NULL, 128 bytes) gets how it ended ("exited
 * with status 0", "killed by signal 15", "killed by signal 9 after the
 * grace period", "exited with status 1 before the stop", with "; the rest
 * of its process group was killed after the grace period" when only the
 * server's own children needed SIGKILL).  NULL s is a no-op (exit_desc
 * gets "").  Safe to call whatever state the server is in. */
void db_server_stop(db_server *s, char *exit_desc, size_t desc_len);

#ifdef __cplusplus
}
#endif
#endif
