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

/* Formats md, csv, json.  A run without serving cases is an error
 * ("run N has no serving cases"). */
int db_report_serving(db_store *st, const db_report_opts *o, FILE *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
