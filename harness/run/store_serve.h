/* store_serve.h — the results database read for serving reports: the
 * requests of one serving case (engines/serve.c, harness/run/serve.h) with
 * their timings, outcome and inter-token latencies.
 */
#ifndef DECOBENCH_STORE_SERVE_H
#define DECOBENCH_STORE_SERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_serve_request_info {
    int64_t sample_id;
    bool ok;                 /* stop_reason does not start with "error:" */
    char *error;             /* the reason after "error: ", or NULL */
    double t_sent_s, t_done_s;   /* from the start of the case's load */
    double ttft_ms, tpot_ms, latency_ms;   /* NaN when absent */
    int new_tokens, n_prompt_tokens;
    int drafted, accepted, n_commits;      /* draft counts of a llama.cpp server with a draft */
    double slo_met;          /* 1 / 0, NaN when the suite set no SLO */
    double *itl_ms;          /* gaps between successive ARRIVAL events */
    int n_itl;
} db_serve_request_info;

/* Every request of case case_id (failed ones included), in id order.
 * Returns 0, or -1 with one line in err. */
int  db_store_read_serve_requests(db_store *st, int64_t case_id, db_serve_request_info **out, int *n, char *err,
                                  size_t errlen);
void db_serve_requests_free(db_serve_request_info *r, int n);

#ifdef __cplusplus
}
#endif
#endif
