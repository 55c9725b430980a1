/* shard.h — a suite's work split into N shards (`decobench run --shard
 * I/N`), for a Slurm job array or a Kubernetes Indexed Job (docs/slurm.md).
 *
 * The units of work are (case, prompt, repetition) — every turn of a chat
 * prompt stays in its unit, since later turns need the earlier answers —
 * and a serving case whole (its requests are one load).  Each unit has an
 * expected cost: the tokens it processes, (prompt bytes / 4 + turns ×
 * max_new_tokens), and a serving case requests × max_new_tokens /
 * concurrency.  Units go to shards by longest processing time first (the
 * most expensive unit to the least loaded shard, ties to the lower unit and
 * shard index), which balances the shards by cost, not by count, and
 * depends only on the suite, its datasets and --limit: every shard of one
 * launch computes the same plan.
 *
 * A shard's run records its index, N and group (store.h, version 4);
 * `decobench merge` of the N shard databases makes one run whose cases hold
 * exactly the samples a single process would have stored.
 */
#ifndef DECOBENCH_SHARD_H
#define DECOBENCH_SHARD_H

#include <stdbool.h>
#include <stddef.h>

#include "suite.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DB_SHARD_MAX 4096

typedef struct db_shard_plan db_shard_plan;

/* Parse "I/N" (0 <= I < N <= DB_SHARD_MAX).  Returns 0, or -1 with one line in err. */
int db_shard_parse(const char *text, int *index, int *count, char *err, size_t errlen);

/* The plan of cases (db_suite_expand) over shard_count shards, with
 * limit_prompts as `run --limit` (0: none).  Returns 0, or -1 (out of
 * memory, err set). */
int db_shard_plan_make(const db_suite *s, const db_case *cases, int n_cases, int limit_prompts, int shard_count,
                       db_shard_plan **out, char *err, size_t errlen);
void db_shard_plan_free(db_shard_plan *p);

/* The shard that runs unit (case, prompt, rep); for a serving case every
 * prompt and rep gives its one owner.  -1 for a unit outside the plan. */
int db_shard_owner(const db_shard_plan *p, int case_idx, int prompt_idx, int rep);
/* Does shard run any unit of case case_idx? */
bool db_shard_has_case(const db_shard_plan *p, int case_idx, int shard);
/* The expected cost assigned to shard, and the number of its units. */
double db_shard_cost(const db_shard_plan *p, int shard, int *n_units);

#ifdef __cplusplus
}
#endif
#endif
