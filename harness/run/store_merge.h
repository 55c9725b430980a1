/* store_merge.h — merging results databases (`decobench merge`; the
 * nightly recipe in docs/regression.md).
 *
 * Machines are deduplicated by fingerprint; a run is identified by
 * (machine fingerprint, started_at, suite_name, config_json), so merging the
 * same source again adds nothing; a run already present gains the cases it
 * lacks (identified by idx, label, dataset, model_sha256, started_at).
 * Cases, samples, counters and step events are copied with new ids, one
 * transaction per run; the machines' probe results (machine_probe, when the
 * source has them) are copied too, a probe already present (same machine
 * and measured_at) kept.
 *
 * S10: a run that is shard I of N (`run --shard I/N`, harness/run/shard.h)
 * joins the one logical run of its launch (same N, shard group, suite and
 * configuration hashes, --limit): its cases join that run's cases of the
 * same idx, a run_shard row records it, the same shard merged again adds
 * nothing, overlapping shards are an error, and the run is completed only
 * once all N shards are there and completed (else interrupted, or failed
 * when one of the N failed).  db_merge_shard_status lists what is missing.
 */
#ifndef DECOBENCH_STORE_MERGE_H
#define DECOBENCH_STORE_MERGE_H

#include <stdint.h>

#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_merge_stats {
    int machines_added;
    int runs_added, runs_present;
    int cases_added;
    int64_t samples_added;
    int shards_added, shards_present;   /* S10: shard runs joined to their logical run, or skipped as merged */
} db_merge_stats;

/* Copy everything of the decobench DB src (opened read-only) into dst
 * (opened writable); statistics are added to *stats.  Returns 0 or -1 with
 * one line in err; runs merged before a failure stay merged. */
int db_merge(db_store *dst, db_store *src, db_merge_stats *stats, char *err, size_t errlen);

/* One line per logical run of st made of shards: "run R (SUITE): shards
 * 0,1,3 of 4; missing: 2" (malloc'd in *text, "" when none); *n_missing
 * counts the runs that lack a shard; *runs (malloc'd, may be NULL) gets
 * their ids, *n_runs their number.  Returns 0 or -1 with err set. */
int db_merge_shard_status(db_store *st, char **text, int *n_missing, int64_t **runs, int *n_runs, char *err,
                          size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
