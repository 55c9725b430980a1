/* serve.h — the serving benchmark inside a run: cases of a serving engine
 * (engines/serve.c) send their dataset's prompts to an inference server
 * over HTTP (harness/run/loadgen.h) and store one sample per request.
 *
 * The run's servers live in a db_serve_pool: a server the suite starts
 * (a "command") is started on a free port of 127.0.0.1 the first time a
 * case needs it (harness/run/server_proc.h), kept for the following cases,
 * started again if it died, and stopped when the pool is freed — on every
 * path out of the runner, Ctrl-C and SIGTERM included.  Its output goes to
 * DB_PATH.serve-logs/RUN-NAME.log.
 *
 * One request is one sample: key (prompt_idx, rep, turn 0) with request i
 * = rep × n_prompts + prompt_idx; its TTFT, E2E latency (latency_ms), TPOT,
 * tokens/s and token counts in the sample columns, every streamed chunk as
 * an ARRIVAL step event (the ITLs), and the rest as sample metrics
 * (docs/metrics.md, "Serving").  A failed request is a sample too: its
 * stop_reason is "error: REASON", its timings NULL, and every in-process
 * report leaves it out (store_read.h).
 */
#ifndef DECOBENCH_SERVE_H
#define DECOBENCH_SERVE_H

#include <stdint.h>

#include "harness/model/model.h"
#include "store.h"
#include "suite.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_serve_pool db_serve_pool;

/* A pool for suite s; logs go to log_prefix + ".serve-logs/" (log_prefix:
 * the results database's path).  NULL when out of memory. */
db_serve_pool *db_serve_pool_new(const db_suite *s, const char *log_prefix, int64_t run_id);
/* Stop every server the pool started; NULL is a no-op. */
void db_serve_pool_free(db_serve_pool *p);

typedef struct db_serve_case {
    const db_case *c;
    db_model *tokenizer;         /* the server's model, loaded for its vocabulary; NULL when none */
    db_store *st;
    int64_t case_id;
    int n_prompts;               /* of the case's dataset (after --limit) */
    const db_sample_key *done;   /* samples the case already holds (resume) */
    int n_done;
    volatile int *cancel;        /* SIGINT / SIGTERM / SIGHUP */
    void (*on_sample)(void *ctx);   /* after each stored sample (progress) */
    void *ctx;
} db_serve_case;

/* Run one serving case: its server ready, its requests sent under its
 * load, each stored as it finishes.  Returns 0 done, 1 interrupted, -1
 * the case failed (server not ready, bad endpoint; err set), -2 the store
 * failed (err set).  *n_stored counts the samples stored here. */
int db_serve_run_case(db_serve_pool *pool, const db_serve_case *in, int *n_stored, char *err, size_t errlen);

/* Before the run (nothing written yet): every server a case of cases
 * starts has a program that exists and is executable — argv[0] after its
 * placeholders, looked up on PATH when it has no '/'.  Returns 0, or -1
 * with "SUITE: $.servers.NAME.command[0]: ..." in err. */
int db_serve_check_servers(const db_suite *s, const db_case *cases, int n_cases, char *err, size_t errlen);

/* The request body for one prompt (exposed for the tests): endpoint is
 * "completion", "completions" or "chat".  malloc'd JSON, NULL when out of
 * memory. */
char *db_serve_request_body(const db_suite *s, const db_suite_server *sv, const db_params *params, const char *endpoint,
                            const char *prompt_text, const char *constraint_json, const char *stop_json, uint64_t seed,
                            const char *model_name);

#ifdef __cplusplus
}
#endif
#endif
