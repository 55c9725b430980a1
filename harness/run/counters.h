/* counters.h — hardware/software counters through PAPI's low-level API, and
 * peak RSS.
 *
 * db_counters_open checks each requested event; events the machine cannot
 * count (e.g. PAPI_TOT_CYC in a VM without a PMU) are recorded as unavailable
 * with the reason, and PAPI's perf software events (perf::TASK-CLOCK,
 * perf::PAGE-FAULTS, perf::CONTEXT-SWITCHES) are added as a fallback.  Counting
 * never fails a run: with no usable event at all, start/stop are no-ops.
 * Counters are inherited by threads created after db_counters_open, so the
 * decode threads that llama.cpp creates are counted.
 */
#ifndef DECOBENCH_COUNTERS_H
#define DECOBENCH_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DB_MAX_COUNTERS 16

typedef struct db_counter_status {
    char name[64];
    bool available;
    bool fallback;        /* added because a requested event was unavailable */
    char reason[128];     /* why unavailable ("" when available) */
} db_counter_status;

typedef struct db_counters db_counters;

/* Never fails: returns a handle even when PAPI is unusable. */
db_counters *db_counters_open(const char *const *events, int n_events);
void db_counters_close(db_counters *c);
/* Every requested (and fallback) event with its availability. */
int db_counters_status(const db_counters *c, const db_counter_status **out);
/* Names of the events actually counted, in value order: the available PAPI
 * events, then rusage::CPU-TIME-US, rusage::MINOR-FAULTS and
 * rusage::CONTEXT-SWITCHES (process-wide, all threads). At most
 * DB_MAX_COUNTERS + 3 names. */
int db_counters_active(const db_counters *c, const char *const **names);
int db_counters_start(db_counters *c);
/* Stop and read: values[i] for active event i (room for DB_MAX_COUNTERS + 3).
 * Returns the number of values. */
int db_counters_stop(db_counters *c, int64_t *values);
/* Whether threads created after db_counters_open are counted too (PAPI_INHERIT
 * accepted); false when PAPI refuses it (e.g. in a VM without a PMU) or no
 * event is active — then only the opening thread is counted. */
bool db_counters_inherited(const db_counters *c);
/* PAPI version text, "unavailable" when PAPI failed to initialise. */
const char *db_counters_papi_version(const db_counters *c);

/* Peak resident set size of this process so far, in KiB (getrusage). */
int64_t db_peak_rss_kib(void);

#ifdef __cplusplus
}
#endif
#endif
