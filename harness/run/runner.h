/* runner.h — executes a loaded suite: expands its matrix, loads models,
 * runs warmup and measured generations, measures counters, and writes each
 * finished sample to the results database in its own transaction (a case
 * row is created when the case starts and finalised when it ends). */
#ifndef DECOBENCH_RUNNER_H
#define DECOBENCH_RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "suite.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_run_options {
    const char *db_path;       /* results database (created if needed) */
    const char *argv_text;     /* command line, stored with the run */
    bool progress;             /* progress line on stderr */
    bool verbose;              /* one line per finished case on stderr */
    int limit_prompts;         /* > 0: at most this many prompts per dataset */
    volatile int *interrupted; /* set by a SIGINT, SIGTERM or SIGHUP handler */
    int64_t resume_run_id;     /* > 0: continue this interrupted or crashed run (the suite is
                                * its stored configuration; only samples not stored yet run) */
    int shard_index, shard_count;  /* shard_count > 0: run only shard shard_index of the suite's
                                    * work (harness/run/shard.h); recorded with the run */
    const char *shard_group;   /* what the shards of one launch share (e.g. $SLURM_ARRAY_JOB_ID); NULL: "" */
    bool events_rows;          /* step events as step_event rows (one per event) instead of one
                                * compact sample_events blob per sample (`run --events rows`) */
} db_run_options;

typedef struct db_run_summary {
    int64_t run_id;
    int n_cases, n_cases_done, n_cases_failed;
    int n_samples;             /* samples the database holds for the run */
    const char *status;        /* "completed", "interrupted", "failed" */
} db_run_summary;

/* Run every case.  Returns 0 when the run completed (possibly with failed
 * cases, counted in the summary), 1 when interrupted, -1 on an error that
 * stopped the run (err says which input and what). */
int db_run_suite(const db_suite *s, const db_run_options *o, db_run_summary *summary,
                 char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
