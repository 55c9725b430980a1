/* metrics.c — step events to per-sample metrics (definitions in metrics.h
 * and docs/metrics.md).  The only code that interprets events. */
#include "metrics.h"
#include "harness/util/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void db_metrics_from_events(const db_event_log *log, int n_prompt_tokens, int64_t latency_ns,
                            db_sample_metrics *m) {
    memset(m, 0, sizeof *m);
    m->n_prompt_tokens = n_prompt_tokens;
    m->latency_ms = (double)latency_ns / 1e6;
    m->ttft_ms = NAN;
    int64_t draft_ns = 0, fwd_ns = 0, sample_ns = 0, constraint_ns = 0, compile_ns = 0;
    int n_compile = 0;
    int decode_tokens = 0;
    for (int i = 0; i < log->n; i++) {
        const db_event *e = &log->ev[i];
        switch (e->kind) {
        case DB_EV_FORWARD:
            fwd_ns += e->t_end_ns - e->t_start_ns;
            if (e->role == DB_ROLE_DRAFT) {
                m->draft_forwards++;
                m->draft_tokens_evaluated += e->n_tokens;
                draft_ns += e->t_end_ns - e->t_start_ns;
            } else {
                m->target_forwards++;
                m->target_tokens_evaluated += e->n_tokens;
                if (e->step > 0) m->target_decode_tokens += e->n_tokens;
            }
            break;
        case DB_EV_VERIFY:
            m->drafted += e->n_tokens;
            m->accepted += e->n_accepted;
            for (int j = 0; j < e->n_tokens && j < DB_MAX_DRAFT_POS; j++) {
                m->drafted_at[j]++;
                if (e->accepted_mask & (1u << j)) m->accepted_at[j]++;
            }
            break;
        case DB_EV_COMMIT:
            if (e->n_tokens > 0 && isnan(m->ttft_ms)) m->ttft_ms = (double)e->t_start_ns / 1e6;
            m->new_tokens += e->n_tokens;
            if (e->step > 0) {          /* the prefill's first token is not a decoding step */
                m->n_commits++;
                decode_tokens += e->n_tokens;
            }
            break;
        case DB_EV_SAMPLE:
            sample_ns += e->t_end_ns - e->t_start_ns;
            break;
        case DB_EV_CONSTRAINT:
            m->constraint_steps++;
            m->constraint_evals += e->n_tokens;
            constraint_ns += e->t_end_ns - e->t_start_ns;
            break;
        case DB_EV_COMPILE:
            compile_ns += e->t_end_ns - e->t_start_ns;
            n_compile++;
            break;
        default:
            break;
        }
    }
    m->tokens_per_s = latency_ns > 0 ? m->new_tokens / ((double)latency_ns / 1e9) : NAN;
    m->tpot_ms = m->new_tokens > 1 && !isnan(m->ttft_ms)
                     ? (m->latency_ms - m->ttft_ms) / (m->new_tokens - 1) : NAN;
    m->mat = m->n_commits > 0 ? (double)decode_tokens / m->n_commits : NAN;
    m->target_tokens_per_token = decode_tokens > 0 ? (double)m->target_decode_tokens / decode_tokens : NAN;
    m->draft_tokens_per_token = decode_tokens > 0 ? (double)m->draft_tokens_evaluated / decode_tokens : NAN;
    m->acceptance_rate = m->drafted > 0 ? (double)m->accepted / m->drafted : NAN;
    m->draft_time_ms = (double)draft_ns / 1e6;
    m->forward_time_ms = (double)fwd_ns / 1e6;
    m->sample_time_ms = (double)sample_ns / 1e6;
    m->constraint_time_ms = (double)constraint_ns / 1e6;
    m->compile_ms = n_compile ? (double)compile_ns / 1e6 : NAN;
    m->constraint_evals_per_token = m->constraint_steps && m->new_tokens > 0
                                        ? (double)m->constraint_evals / m->new_tokens : NAN;
    m->mask_p50_us = m->mask_p99_us = NAN;
    if (m->constraint_steps > 0) {
        double *d = malloc(sizeof *d * (size_t)m->constraint_steps);
        if (d) {
            int k = 0;
            for (int i = 0; i < log->n; i++)
                if (log->ev[i].kind == DB_EV_CONSTRAINT)
                    d[k++] = (double)(log->ev[i].t_end_ns - log->ev[i].t_start_ns) / 1e3;
            m->mask_p50_us = db_quantile(d, (size_t)k, 0.50);
            m->mask_p99_us = db_quantile(d, (size_t)k, 0.99);
            free(d);
        }
    }
}
