/* metrics.h — the one place where step events become metrics.
 *
 * Definitions (docs/metrics.md gives the same with references):
 *   new_tokens      Σ n_tokens over COMMIT events
 *   ttft_ms         end of the first target FORWARD that is followed by a COMMIT
 *                   (prefill + first token), from the sample's start
 *   latency_ms      end-to-end wall time of generate()
 *   tokens_per_s    new_tokens / latency
 *   tpot_ms         (latency − ttft) / (new_tokens − 1)   (time per output token after the first)
 *   target_forwards / draft_forwards   FORWARD events per role
 *   mat             mean accepted tokens per target forward, bonus included
 *                   (Spec-Bench #MAT): over the decoding steps (COMMIT events
 *                   after the prefill, step > 0), Σ n_tokens / #events; 1.00 for `ar`
 *   drafted, accepted, acceptance_rate = accepted / drafted (VERIFY events)
 *   accept_at[i]    acceptance rate at draft position i (VERIFY masks)
 *   draft_time_share  Σ draft FORWARD time / latency
 *   forward_time_share Σ all FORWARD time / latency (1 − harness/engine overhead)
 *   constraint_evals  Σ n_tokens over CONSTRAINT events (tokens checked against
 *                   the constraint); per token: constraint_evals / new_tokens
 *   mask_p50_us / mask_p99_us  quantiles of CONSTRAINT event durations (one
 *                   mask computation or token check each), microseconds
 *   compile_ms      Σ COMPILE event time (inside TTFT)
 */
#ifndef DECOBENCH_METRICS_H
#define DECOBENCH_METRICS_H

#include "engines/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DB_MAX_DRAFT_POS 16

typedef struct db_sample_metrics {
    int n_prompt_tokens;
    int new_tokens;
    double ttft_ms;
    double latency_ms;
    double tokens_per_s;
    double tpot_ms;
    int target_forwards;
    int draft_forwards;
    int target_tokens_evaluated;  /* Σ batch sizes of target forwards */
    int target_decode_tokens;     /* the same over decoding steps only (step > 0: the prefill left out) */
    int draft_tokens_evaluated;   /* Σ batch sizes of draft forwards */
    /* target compute per token: target_decode_tokens / tokens committed by
     * decoding steps (1 for `ar`, (k+1)/#MAT for a k-token chain), the
     * axis of comparisons at equal target compute; NaN without decoding steps */
    double target_tokens_per_token;
    double draft_tokens_per_token;  /* draft_tokens_evaluated / the same tokens; NaN likewise */
    int n_commits;                /* decoding steps (after the prefill) that committed tokens */
    double mat;
    int drafted;
    int accepted;
    double acceptance_rate;       /* NaN when nothing was drafted */
    int drafted_at[DB_MAX_DRAFT_POS];
    int accepted_at[DB_MAX_DRAFT_POS];
    double draft_time_ms;
    double forward_time_ms;
    double sample_time_ms;
    int constraint_steps;         /* CONSTRAINT events (NaN-free: 0 when none) */
    int64_t constraint_evals;
    double constraint_evals_per_token;  /* NaN when no constraint or no tokens */
    double constraint_time_ms;
    double mask_p50_us, mask_p99_us;     /* NaN when no CONSTRAINT events */
    double compile_ms;                   /* NaN when no COMPILE events */
} db_sample_metrics;

/* Compute metrics from an event log; latency_ns is generate()'s wall time. */
void db_metrics_from_events(const db_event_log *log, int n_prompt_tokens, int64_t latency_ns,
                            db_sample_metrics *out);

#ifdef __cplusplus
}
#endif
#endif
