/* loadgen.h — the serving benchmark's load generator: streamed HTTP
 * requests to an inference server on libcurl's multi interface (one thread,
 * many transfers, no thread per request), in a closed loop (a fixed number
 * in flight) or an open loop (arrivals at a rate, Poisson or gamma), and
 * the per-request record every serving metric is computed from.
 *
 * Metric definitions follow vLLM's `vllm bench serve` (docs/metrics.md):
 * TTFT is the first content-bearing chunk's arrival minus the send time;
 * ITL the gaps between successive content-bearing chunks; E2E the last
 * byte minus the send time.  This module only measures and parses; it
 * stores nothing and knows nothing of suites (harness/run/serve.c builds
 * the requests and stores the results).
 *
 * Times are CLOCK_MONOTONIC nanoseconds relative to the start of
 * db_loadgen_run (the first arrival of an open loop is at time 0).
 */
#ifndef DECOBENCH_LOADGEN_H
#define DECOBENCH_LOADGEN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a streamed response looks like (all are Server-Sent Events). */
typedef enum {
    DB_API_OPENAI_COMPLETIONS,   /* POST /v1/completions: choices[0].text per chunk, "data: [DONE]" at the end */
    DB_API_OPENAI_CHAT,          /* POST /v1/chat/completions: choices[0].delta.content per chunk
                                    (a role-only first delta is no content; a reasoning model's
                                    delta.reasoning_content / delta.reasoning is, and goes into
                                    the text before the content) */
    DB_API_LLAMA_COMPLETION,     /* llama-server POST /completion: "content" (+ "tokens" with
                                    return_tokens) per chunk; the last one has "stop": true,
                                    "timings", "tokens_predicted", "stop_type" */
} db_api_kind;

/* One request to send.  The body is sent as given (the caller sets
 * "stream": true and everything else). */
typedef struct db_lg_request {
    const char *url;             /* full URL, http://127.0.0.1:PORT/v1/completions */
    const char *body;            /* JSON */
    db_api_kind api;
    const char *bearer_token;    /* "Authorization: Bearer ..." when not NULL; never copied
                                    into a result or an error */
} db_lg_request;

typedef enum { DB_LG_CLOSED, DB_LG_OPEN } db_lg_mode;

typedef struct db_lg_schedule {
    db_lg_mode mode;
    int concurrency;        /* closed: requests kept in flight (>= 1);
                               open: at most this many in flight (0 = no cap; an arrival
                               that finds the cap reached waits, and its queue delay shows it) */
    double rate;            /* open: mean requests per second (> 0; INFINITY: all at time 0) */
    double burstiness;      /* open: gamma shape k of the inter-arrival times (mean 1/rate,
                               scale 1/(rate*k)); 1 = Poisson; < 1 burstier (vLLM's --burstiness) */
    uint64_t seed;          /* arrival times (harness/util/rng.h), reproducible */
    int n_requests;         /* requests to send in all (request i uses reqs[i % n_reqs]) */
    double duration_s;      /* 0 = none; else no request starts after this many seconds */
    double timeout_s;       /* per request, from its send to its last byte (0 = none) */
    double connect_timeout_s; /* 0 = libcurl's default */
} db_lg_schedule;

/* Defaults: closed loop, concurrency 1, burstiness 1, seed 1234, 1 request,
 * timeout 600 s, connect timeout 10 s. */
db_lg_schedule db_lg_default_schedule(void);

/* What one request got.  Absent numbers are -1 (counts) or NaN (times). */
typedef struct db_lg_result {
    int index;                   /* request number, 0-based, in start order */
    int64_t t_scheduled_ns;      /* when its arrival was due (closed loop: when a slot freed) */
    int64_t t_sent_ns;           /* when the transfer was started */
    int64_t t_first_ns;          /* first content-bearing chunk; -1 when none */
    int64_t t_done_ns;           /* last byte, or the failure */
    int n_chunks;                /* content-bearing chunks (an empty "content" is not one; a
                                    llama.cpp chunk with "tokens" and no text yet is one) */
    int64_t *chunk_ns;           /* arrival of each, n_chunks entries */
    int *chunk_tokens;           /* tokens in each: the length of its "tokens" array when the
                                    server sends one, else 1 (vLLM's convention) */
    char *text;                  /* the concatenated content (NUL-terminated; may hold any UTF-8) */
    int32_t *tokens;             /* token ids when every content-bearing chunk carried them, else NULL */
    int n_tokens;                /* 0 when tokens is NULL (db_lg_apply_event leaves -1 there
                                    once a chunk came without ids) */
    int http_status;             /* 0 when no response arrived */
    char *error;                 /* NULL on success; else one line: "connection refused",
                                    "HTTP 500: <first 200 bytes of the body>", "timed out after 30 s",
                                    "timed out after 10 s while connecting", "malformed event: ...",
                                    "server error: <its message>", "stream ended before the end
                                    event[ (<libcurl's reason>)]", "connection closed before a
                                    response (...)", ...; the bearer token, should the server echo
                                    it, shows as "***".  A request whose end event arrived
                                    succeeds whatever happens to its connection after it. */
    char finish_reason[24];      /* "stop", "length", llama.cpp's stop_type ("eos", "limit", "word"); "" */
    int usage_prompt_tokens;     /* openai "usage" (stream_options.include_usage) or llama.cpp
                                    tokens_evaluated / timings.prompt_n; -1 */
    int usage_completion_tokens; /* openai usage.completion_tokens or llama.cpp tokens_predicted; -1 */
    /* llama.cpp timings (final chunk), NaN / -1 when absent */
    double prompt_ms, predicted_ms;
    int prompt_n, predicted_n;
    int draft_n, draft_n_accepted;   /* present only when the server runs a draft model */
} db_lg_result;

void db_lg_result_free(db_lg_result *r);

/* Called on the loop's thread as each request finishes (succeeded or
 * failed), in completion order; res is valid during the call only (move
 * what you keep: set the pointers you take to NULL).  Return 0 to go on,
 * non-zero to stop the run (no new requests; those in flight are abandoned
 * and not reported). */
typedef int (*db_lg_on_result)(void *ctx, db_lg_result *res);

typedef struct db_lg_summary {
    int started, succeeded, failed, abandoned;   /* abandoned: in flight when cancelled or stopped */
    int64_t wall_ns;                             /* start to the last completion (or to the stop) */
    int max_in_flight;                           /* the most transfers that were ever active at once */
} db_lg_summary;

/* Run the schedule over reqs (n_reqs >= 1).  Each request's failure is
 * reported through on_result and the run goes on; -1 (err set) only for
 * bad arguments, out of memory or a libcurl failure of the loop itself.
 * *cancel (may be NULL) becoming non-zero stops the run within about 50 ms:
 * nothing new starts, in-flight transfers are abandoned, returns 1.
 * Returns 0 when the run ended by itself: every request started (or the
 * duration passed) and finished. */
int db_loadgen_run(const db_lg_schedule *sch, const db_lg_request *reqs, int n_reqs,
                   db_lg_on_result on_result, void *ctx, volatile sig_atomic_t *cancel,
                   db_lg_summary *summary, char *err, size_t errlen);

/* ---- pieces, exposed for the tests ---- */

/* Inter-arrival times of an open loop: n gaps in seconds, gamma(k, 1/(rate*k)). */
int db_lg_arrivals(double rate, double burstiness, uint64_t seed, int n, double *gaps);

/* Incremental SSE parser over a response body: feed bytes as they come;
 * each complete event's data (the "data:" lines joined by '\n') is passed
 * to on_event.  Comments (":..."), "event:", "id:" and "retry:" lines are
 * skipped; CRLF, CR and LF line ends are accepted.  A single event larger
 * than 16 MiB is an error. */
typedef struct db_sse db_sse;
typedef int (*db_sse_on_event)(void *ctx, const char *data, size_t len);
db_sse *db_sse_new(db_sse_on_event on_event, void *ctx);
/* Returns 0, or the callback's non-zero value, or -1 (too large / no memory). */
int  db_sse_feed(db_sse *p, const char *bytes, size_t n);
/* End of body: a pending event without its blank line is delivered. */
int  db_sse_finish(db_sse *p);
void db_sse_free(db_sse *p);

/* Apply one event's data (a JSON object, or "[DONE]") of the given API to
 * a result: append content, token ids, finish reason, usage, timings; sets
 * *done at the end event ("[DONE]", or llama.cpp's "stop": true).
 * *content_bearing tells whether it added content: then it appended a
 * chunk whose chunk_ns is -1 (the caller stamps the arrival time).
 * r starts zeroed with the absent numbers at -1 / NaN.  Returns 0, or -1
 * with one line in err ("malformed event: ..." for not JSON or wrong types,
 * "server error: MESSAGE" for an {"error": ...} event). */
int db_lg_apply_event(db_api_kind api, const char *data, size_t len, db_lg_result *r,
                      bool *content_bearing, bool *done, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
