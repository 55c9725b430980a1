/* search.h — the search report (`decobench report --search`, reports/search.c).
 *
 * Two tables of one run:
 *
 * 1. Search errors.  For every case whose samples report search_score
 *    (beam, lattice, ...) and every `exact` case of the same dataset and
 *    model, samples are paired by (prompt, repetition, turn); only pairs where
 *    the exact search proved optimality (search_optimal = 1) count.  A search
 *    error is a pair whose outputs differ and where the case's score is below
 *    the exact optimum by more than 1e-3 nats (Stahlberg & Byrne 2019;
 *    Meister et al. 2020) — the tolerance absorbs llama.cpp's batch-dependent
 *    rounding, which makes one output's score differ slightly between engines.
 *    Columns: pairs, errors, error rate, mean score gap (optimum − score),
 *    and "above" — pairs scoring ABOVE the proven optimum, which only happens
 *    when the two cases searched different spaces (e.g. exact's max_len
 *    below max_new_tokens), so it flags a misconfigured comparison.
 *
 * 2. Quality vs budget.  Per case: mean model calls (NFE: target + draft
 *    forwards), mean target tokens evaluated, mean search_score, and the
 *    mean of each reference metric present (answer_correct, ref_rouge2,
 *    ref_bleu), plus lattice_paths and lattice_oracle_rouge2 when reported.
 *    Cases on the Pareto front of NFE (lower is better) against the score,
 *    and against the first of answer_correct, ref_rouge2, ref_bleu that the
 *    dataset has, are marked per dataset and model.  Cases with a
 *    one-token-per-step reference case (masked diffusion) also get their
 *    agreement and exact-match rate with it, the reference's label, and a
 *    third front: NFE against agreement (reports/agreement.h).
 */
#ifndef DECOBENCH_REPORT_SEARCH_H
#define DECOBENCH_REPORT_SEARCH_H

#include <stdio.h>

#include "report.h"

/* Write both tables ("md" or "csv"; other formats are refused).
 * Returns 0, or -1 with one line in err. */
int db_report_search(db_store *st, const db_report_opts *o, FILE *out, char *err, size_t errlen);

#endif
