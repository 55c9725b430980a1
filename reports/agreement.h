/* agreement.h — agreement of a case's outputs with a reference case's
 * (reports/agreement.c), for masked-diffusion decoding.
 *
 * Reference case.  A sample is decoded one token per step when its engine
 * reports diffusion_max_commit = 1 (no step committed more than one
 * position; engines/diffusion.c).  A case whose every sample is is a
 * reference case.  The reference of a case is, among the reference cases of
 * the same run with the same engine, model and dataset: the case itself if
 * it is one; else the one with the same `schedule` and `remasking`
 * parameters, else the same schedule, else the same remasking, else any
 * (ties: the first in suite order).  A case with no reference case has no
 * agreement.
 *
 * Agreement.  Samples are paired with the reference's by (prompt,
 * repetition, turn, seed).  For output tokens a (length na) and b (nb):
 *
 *     agreement(a, b) = #{ i < min(na, nb) : a[i] = b[i] } / max(na, nb)
 *
 * i.e. the share of positions 0 .. max(na, nb) − 1 holding the same token,
 * positions beyond the shorter output counting as disagreement; two empty
 * outputs agree fully (1).  exact_match(a, b) = 1 when na = nb and every
 * token is equal, else 0.  A case's agreement and exact-match rate are the
 * means over its pairs; a reference case's are exactly 1.
 */
#ifndef DECOBENCH_REPORT_AGREEMENT_H
#define DECOBENCH_REPORT_AGREEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "harness/run/store.h"

/* agreement(a, b) as defined above. */
double db_token_agreement(const int32_t *a, int na, const int32_t *b, int nb);

typedef struct db_agreement {
    int64_t case_id;      /* a case of the run that has a reference */
    int64_t ref_case_id;  /* its reference case (case_id itself for a reference) */
    char *ref_label;      /* the reference's label */
    int pairs;            /* samples paired with the reference's */
    double agreement;     /* mean agreement over the pairs (NaN when none) */
    double exact_match;   /* share of pairs with identical outputs (NaN when none) */
} db_agreement;

/* Every case of run `run` that has a reference, in suite order, into a newly
 * allocated array (*out, *n_out; free with db_agreement_free).  Returns 0,
 * or -1 with one line in err (a stored output that is not a JSON array of
 * token ids is an error naming the sample). */
int db_agreement_run(db_store *st, int64_t run, db_agreement **out, int *n_out, char *err, size_t errlen);
void db_agreement_free(db_agreement *a, int n);

/* The entry of case_id in a, or NULL. */
const db_agreement *db_agreement_find(const db_agreement *a, int n, int64_t case_id);

#endif
