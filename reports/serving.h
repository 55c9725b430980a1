/* serving.h — the serving report (`decobench report --serving`): one row per
 * serving case (engines/serve.c) of a run, with the metrics of vLLM's
 * `vllm bench serve` (docs/metrics.md, "Serving"):
 *
 *   requests, failed        sent, and failed with a reason (error rate)
 *   duration_s              start of the load to the last request's end
 *   req_per_s               successful requests / duration
 *   out_tok_per_s           Σ output tokens of successful requests / duration
 *   goodput_req_per_s       requests meeting every SLO of the suite / duration
 *                           (NaN without an "slo")
 *   ttft / tpot / itl / e2e p50, p90, p99 (ms) over successful requests; ITL
 *                           over every gap between streamed chunks of all of them
 *   mat, acceptance         pooled over requests from the server's draft counts
 *                           (llama.cpp with a draft model), NaN otherwise
 */
#ifndef DECOBENCH_SERVING_H
#define DECOBENCH_SERVING_H

#include <stdio.h>

#include "harness/run/store.h"
#include "report.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The serving metrics of one case (a row of the report). */
enum { DB_SERVING_P50, DB_SERVING_P90, DB_SERVING_P99, DB_SERVING_NQ };
typedef struct db_serving_stats {
    int requests, failed;
    double duration_s, req_per_s, out_tok_per_s, goodput;
    double ttft[DB_SERVING_NQ], tpot[DB_SERVING_NQ], itl[DB_SERVING_NQ], e2e[DB_SERVING_NQ];
    double mat, acceptance;
    char *first_error;   /* malloc'd, or NULL */
} db_serving_stats;

/* Compute them for case case_id.  Returns 0, or -1 with one line in err;
 * free first_error after. */
int db_serving_case_stats(db_store *st, int64_t case_id, db_serving_stats *out, char *err, size_t errlen);

/* The HTML report's serving charts (reports/html_serving.c): for every
 * sweep of serving cases — cases alike but for "concurrency" or "rate" —
 * E2E latency p50 and TTFT p90 against output throughput, one line per
 * sweep, points in the order of the swept value.  Writes nothing for a
 * run without serving cases.  Returns 0, or -1 with err set. */
int db_html_serving_charts(FILE *out, db_store *st, int64_t run_id, char *err, size_t errlen);

/* Formats md, csv, json.  A run without serving cases is an error
 * ("run N has no serving cases"). */
int db_report_serving(db_store *st, const db_report_opts *o, FILE *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
