/* identity.h — greedy losslessness checked on every run.
 *
 * After a run's cases are done, every completed case of a lossless engine
 * (db_engine.lossless_greedy) in greedy mode is compared, prompt by prompt,
 * with the run's greedy baseline (db_engine.greedy_baseline, i.e. `ar`
 * greedy) on the same target model and dataset: the output tokens must be
 * identical (Spec-Bench's evaluation/equal.py compares the same outputs
 * as text).  The result is one row per compared case in the `identity`
 * table (docs/schema.md); `report` and `compare` show it.
 */
#ifndef DECOBENCH_IDENTITY_H
#define DECOBENCH_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most differing samples described in identity.first_diff_json. */
#define DB_IDENTITY_MAX_DIFFS 20

/* Compare and store (replacing earlier rows of this run, so a resumed run
 * or a merge can call it again), in a transaction of its own unless one is
 * open on db (then the caller commits or rolls back).  *n_cases (may be NULL) gets the number of cases
 * compared, *n_differ those with at least one differing sample.  Returns 0,
 * or -1 with one line in err. */
int db_identity_check_run(sqlite3 *db, int64_t run_id, int *n_cases, int *n_differ, char *err, size_t errlen);

/* The stored result of one case: 1 and *n_compared / *n_identical when the
 * case was compared, 0 when it was not (no row, or a database without the
 * table), -1 on a read error. */
int db_identity_get(sqlite3 *db, int64_t case_id, int *n_compared, int *n_identical);

/* "40/40", or "39/40 DIFF" when some sample differs (the mark every
 * report format shows), or "" when the case was not compared. */
void db_identity_format(char *buf, size_t len, int found, int n_compared, int n_identical);

#ifdef __cplusplus
}
#endif
#endif
