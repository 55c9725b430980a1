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
} db_merge_stats;

/* Copy everything of the decobench DB src (opened read-only) into dst
 * (opened writable); statistics are added to *stats.  Returns 0 or -1 with
 * one line in err; runs merged before a failure stay merged. */
int db_merge(db_store *dst, db_store *src, db_merge_stats *stats, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
