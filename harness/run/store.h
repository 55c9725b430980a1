/* store.h — the SQLite results database.
 *
 * One file holds any number of runs, from any number of machines.  WAL mode;
 * the runner commits every finished sample in its own transaction (see the
 * run lifecycle section below), so a killed run keeps all of them; several
 * processes may write one file at once.  The schema (version DB_STORE_SCHEMA_VERSION)
 * is documented in docs/schema.md:
 *
 *   machine(id, fingerprint, hostname, cpu_model, arch, os, packages, cores,
 *           pus, numa_nodes, memory_bytes, l1d_bytes, l2_bytes, l3_bytes,
 *           topology_json, first_seen)
 *   run(id, machine_id, suite_name, suite_path, config_json, argv,
 *       decobench_rev, llama_commit, compiler, build_flags, papi_version,
 *       threads, started_at, finished_at, status)
 *   run_counter(run_id, name, available, fallback, reason)
 *   "case"(id, run_id, idx, engine, label, params_json, model_name,
 *          model_path, model_sha256, model_desc, model_params, model_bytes,
 *          draft_name, draft_path, draft_sha256, dataset, n_prompts, status,
 *          started_at, finished_at)
 *   sample(id, case_id, prompt_idx, prompt_id, category, rep, turn, seed,
 *          n_prompt_tokens, new_tokens, ttft_ms, latency_ms, tokens_per_s,
 *          tpot_ms, target_forwards, draft_forwards, target_tokens_evaluated,
 *          n_commits, mat, drafted, accepted, acceptance_rate,
 *          accept_at_json, draft_time_ms, forward_time_ms, sample_time_ms,
 *          peak_rss_kib, stop_reason, output_tokens_json, output_text)
 *   sample_counter(sample_id, name, value)
 *   step_event(sample_id, seq, kind, role, step, n_tokens, n_accepted,
 *              accepted_mask, t_start_us, t_end_us)
 *   machine_probe(machine_id, measured_at, bandwidth_gbs, gflops,
 *                 gflops_per_thread, threads, method)        (version 2)
 *   run gains pid, hostname, heartbeat_at, suite_sha256, config_sha256,
 *       limit_prompts, resumed; UNIQUE sample_key on
 *       sample(case_id, prompt_idx, rep, turn)                (version 3)
 *   identity(run_id, case_id, baseline_case_id, n_compared, n_identical,
 *            first_diff_json)                                  (version 3)
 *   interference(run_id, case_idx, name, value, text)          (version 3;
 *                 harness/run/interference.h; case_idx -1: the whole run)
 *   run gains shard_index, shard_count, shard_group: a shard of a suite
 *       (`run --shard I/N`, harness/run/shard.h); a run merged from shards
 *       has shard_count N and shard_index NULL, and one
 *   run_shard(run_id, shard_index, shard_count, machine_id, hostname,
 *             started_at, finished_at, status) row per shard merged into
 *             it                                              (version 4)
 *   machine_device(machine_id, measured_at, idx, name, description, type,
 *                  backend, memory_bytes, known, bandwidth_gbs,
 *                  peak_fp32_tflops, peak_fp16_tflops, source): the
 *                  devices `decobench probe` saw (harness/model/devices.h)
 *                  and their roofline numbers (known_devices.h)  (version 5)
 *   sample_events(sample_id, n, data): all n step events of a sample as
 *                  one compact blob (harness/run/events_codec.h), written
 *                  instead of step_event rows unless asked for rows
 *                  (db_store_set_events_rows); the upgrade converts the
 *                  rows of older files;
 *   run_prune(run_id, pruned_at, samples, bytes): runs whose raw
 *                  per-sample data `decobench prune` removed  (version 6)
 *   output(id, sha256, tokens_json, text): one row per distinct output
 *                  (sha256 of both); sample gains output_id.  `prune`
 *                  moves a pruned run's outputs here (output_tokens_json
 *                  and output_text become NULL): greedy outputs repeat
 *                  across engines and nights and are kept once.  Readers
 *                  take the sample's columns, else its output row
 *                  (store_read.h: DB_SAMPLE_OUTPUT_SQL);
 *   counter_name(id, name), sample_counter_pack(sample_id, data): a pruned
 *                  sample's counters as one blob of (name id, value) pairs
 *                  (events_codec.h) instead of sample_counter rows; the
 *                  readers read both                          (version 7)
 *
 * Opening a database of an older schema version read-write upgrades it in
 * place (one transaction); read-only opens accept every version from 1, so
 * readers of tables added later must check that they exist.
 */
#ifndef DECOBENCH_STORE_H
#define DECOBENCH_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "metrics.h"
#include "topology.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DB_STORE_SCHEMA_VERSION 8

typedef struct db_store db_store;

/* Open (creating if needed) a results DB.  Fails with one line naming the
 * path when it cannot be created/written or is not a decobench DB. */
int  db_store_open(const char *path, db_store **out, char *err, size_t errlen);
/* Open an existing DB read-only (reports). */
int  db_store_open_readonly(const char *path, db_store **out, char *err, size_t errlen);
void db_store_close(db_store *st);
/* Remove a (closed) database file and its SQLite -wal / -shm side files. */
void db_store_remove_files(const char *path);
const char *db_store_errmsg(const db_store *st);
struct sqlite3 *db_store_handle(db_store *st);   /* raw handle: tests, identity, interference */

/* Insert the machine unless its fingerprint is known; returns its id. */
int db_store_machine(db_store *st, const db_machine *m, int64_t *machine_id);

/* One `decobench probe` measurement of a machine (see harness/run/probe.h). */
typedef struct db_probe_record {
    int64_t measured_at_ms;          /* unix ms; 0 = now */
    double bandwidth_gbs;            /* STREAM triad, all threads, GB/s (10^9 bytes) */
    double gflops;                   /* FP32 FMA peak, all threads, GFLOP/s */
    double gflops_per_thread;        /* the same on one thread */
    int threads;
    const char *method;              /* how it was measured, one line */
} db_probe_record;

/* Store a probe result for a machine (replacing one with the same time). */
int db_store_probe(db_store *st, int64_t machine_id, const db_probe_record *p);

/* One compute device of a machine as `decobench probe` saw it (table
 * machine_device, schema version 5; docs/schema.md). */
typedef struct db_device_record {
    int idx;                          /* 0, 1, ... in ggml's registry order */
    const char *name;                 /* ggml's: "CPU", "CUDA0" */
    const char *description;          /* the driver's: "NVIDIA H100 80GB HBM3", the CPU model */
    const char *type;                 /* "cpu", "gpu", "igpu", "accel", "meta" */
    const char *backend;              /* ggml's registry: "CPU", "CUDA" */
    uint64_t memory_bytes;            /* 0: not reported */
    const char *known;                /* the known-device table's key ("H100 SXM5"), NULL: none */
    double bandwidth_gbs;             /* GB/s; NaN unknown */
    double peak_fp32_tflops;          /* dense FP32, TFLOP/s; NaN unknown */
    double peak_fp16_tflops;          /* dense FP16/BF16 tensor, TFLOP/s; NaN unknown */
    const char *source;               /* where the numbers come from (a datasheet URL, "decobench probe"); NULL */
} db_device_record;

/* Store the devices of a machine seen at measured_at_ms (0: now),
 * replacing rows with the same machine, time and idx; one transaction. */
int db_store_devices(db_store *st, int64_t machine_id, int64_t measured_at_ms, const db_device_record *d, int n);

typedef struct db_run_record {
    int64_t machine_id;
    const char *suite_name, *suite_path, *config_json, *argv;
    const char *decobench_rev, *llama_commit, *compiler, *build_flags, *papi_version;
    int threads;
    const db_counter_status *counters; int n_counters;
} db_run_record;

/* Insert a run with status 'running'. */
int db_store_run_begin(db_store *st, const db_run_record *r, int64_t *run_id);
/* status: "completed", "interrupted", "failed". */
int db_store_run_finish(db_store *st, int64_t run_id, const char *status);

typedef struct db_case_record {
    int idx;
    const char *engine, *label, *params_json;
    const char *model_name, *model_path, *model_sha256, *model_desc;
    uint64_t model_params, model_bytes;
    const char *draft_name, *draft_path, *draft_sha256;   /* NULL when none */
    const char *dataset;
    int n_prompts;
    const char *status;   /* "completed", "interrupted", "failed: <reason>" */
    int64_t started_at_ms, finished_at_ms;  /* unix epoch ms */
} db_case_record;

typedef struct db_sample_record {
    int prompt_idx;
    const char *prompt_id, *category;
    int rep;
    int turn;             /* 0-based turn of a multi-turn (chat) prompt */
    uint64_t seed;
    db_sample_metrics m;
    int64_t peak_rss_kib;
    const char *stop_reason;
    const int32_t *output_tokens; int n_output_tokens;
    const char *output_text;
    const char *const *counter_names; const int64_t *counter_values; int n_counters;
    const db_event *events; int n_events;
    /* named per-sample metrics beyond the fixed columns (sample_metric rows):
     * constraint work, quality checks, engine-reported outcomes */
    const char *const *metric_names; const double *metric_values; int n_metrics;
} db_sample_record;

/* Version 6: samples' step events are written as one sample_events blob
 * each (the default) or, with rows true, as step_event rows (one per event,
 * for SQL; `run --events rows`).  Readers read both (store_read.h). */
void db_store_set_events_rows(db_store *st, bool rows);

/* `decobench prune`: the runs that ended (or were last started) before
 * cutoff_ms and are not pruned yet lose their raw per-sample data (step
 * events, blobs and rows); samples, their summary columns, counters and
 * metrics stay, so report (without per-position acceptance) and history
 * work; outputs move to the output table, one row per distinct output
 * (same text and tokens for every reader), and counters are packed into one
 * blob per sample (same values for every reader); each run gets a
 * run_prune row; then VACUUM.  dry_run: count only (outputs: those to
 * move). */
typedef struct db_prune_stats {
    int64_t runs, samples, events;
    int64_t outputs_moved, outputs_distinct;  /* outputs moved; distinct among them (new output rows) */
    int64_t counters_packed;                  /* samples whose counters were packed */
    int64_t bytes_before, bytes_after;   /* pages in use x page size */
} db_prune_stats;
int db_store_prune(db_store *st, int64_t cutoff_ms, bool dry_run, db_prune_stats *out, char *err, size_t errlen);
/* Whether run_id's raw per-sample data was pruned. */
int db_store_run_pruned(db_store *st, int64_t run_id, bool *pruned, char *err, size_t errlen);

/* Write one case and all its samples in a single transaction (merge, tests;
 * the runner writes sample by sample: db_store_case_begin below). */
int db_store_case(db_store *st, int64_t run_id, const db_case_record *c,
                  const db_sample_record *samples, int n_samples, int64_t *case_id);

/* ---- S7 run lifecycle (version 3) -------------------------------------------
 *
 * A run is written as it goes: db_store_case_begin creates the case row
 * (status 'running') when the case starts, db_store_sample commits each
 * finished sample in its own transaction (and refreshes the run's
 * heartbeat), db_store_case_finish sets the case's final status.  A run row
 * carries its process (pid, hostname) and a heartbeat refreshed by a
 * background thread (db_store_heartbeat_start), so a run whose process died
 * is recognised and marked 'crashed' by the next read-write open.
 * sample(case_id, prompt_idx, rep, turn) is UNIQUE: the sample key. */

/* a heartbeat older than this (ms) means the process is gone when the run
 * was made on another host (or its pid now belongs to another process) */
#define DB_RUN_STALE_MS (10 * 60 * 1000)
#define DB_RUN_HEARTBEAT_MS (30 * 1000)

/* What a run needs to be recognised as alive and to be resumed. */
typedef struct db_run_lifecycle {
    const char *suite_sha256;   /* sha256 of the suite file; NULL when none */
    const char *config_sha256;  /* sha256 of the resolved configuration and its datasets */
    int limit_prompts;          /* --limit, 0 none */
    /* version 4: a shard (shard_count > 0): its index in [0, shard_count) and
     * the group its siblings share (--shard-group, $SLURM_ARRAY_JOB_ID; "") */
    int shard_index, shard_count;
    const char *shard_group;
} db_run_lifecycle;

/* The next db_store_run_begin on st stores lc (copied) with its run, in the
 * same transaction; every run row gets this process's pid, hostname and
 * heartbeat there anyway. */
int db_store_set_run_lifecycle(db_store *st, const db_run_lifecycle *lc);

/* Record this process (pid, hostname, heartbeat now) and the resume keys on
 * a run (lc may be NULL: none). */
int db_store_run_claim(db_store *st, int64_t run_id, const db_run_lifecycle *lc);
/* Refresh the run's heartbeat from a background thread (own connection)
 * every DB_RUN_HEARTBEAT_MS until db_store_heartbeat_stop (or close). */
int db_store_heartbeat_start(db_store *st, int64_t run_id);
void db_store_heartbeat_stop(db_store *st);

/* Case row with status 'running' (or the existing row of (run_id, idx) on
 * resume, set back to 'running'); c->status and finished_at are ignored. */
int db_store_case_begin(db_store *st, int64_t run_id, const db_case_record *c, int64_t *case_id);
/* One finished sample, in its own transaction (also refreshes the heartbeat). */
int db_store_sample(db_store *st, int64_t case_id, const db_sample_record *r);
/* status: "completed", "interrupted", "failed: <reason>". */
int db_store_case_finish(db_store *st, int64_t case_id, const char *status);

/* Stored samples of a case, for resuming it: their keys and output text. */
typedef struct db_sample_key {
    int prompt_idx, rep, turn;
    char *output_text;
} db_sample_key;
int db_store_sample_keys(db_store *st, int64_t case_id, db_sample_key **keys, int *n);
void db_sample_keys_free(db_sample_key *keys, int n);
/* Samples stored for a run (all its cases). */
int db_store_run_samples(db_store *st, int64_t run_id, int64_t *n);

/* Is the process of a 'running' run gone?  true when it ran on this host and
 * its pid no longer exists, or its heartbeat is older than DB_RUN_STALE_MS. */
bool db_run_is_dead(const char *hostname, int64_t pid, int64_t heartbeat_ms, int64_t now_ms);
/* Mark every 'running' run whose process is gone 'crashed' (its running
 * cases 'interrupted'); *n_marked counts them. */
int db_store_reap_runs(db_store *st, int *n_marked);

/* The stored description of a run to resume. */
typedef struct db_run_resume {
    int64_t run_id;
    char *suite_path, *config_json, *suite_sha256, *config_sha256;
    int limit_prompts;
    int shard_index, shard_count;   /* a shard's (version 4), else 0 and 0 */
    char *shard_group;
} db_run_resume;
/* Read run run_id to resume it: it must be interrupted, crashed or
 * 'running' with its process gone (one-line error otherwise).  With
 * take_over it is also set to 'running' under this process and its resume
 * count incremented (the check and the change in one transaction). */
int db_store_run_resume(db_store *st, int64_t run_id, bool take_over, db_run_resume *out, char *err,
                        size_t errlen);
void db_run_resume_free(db_run_resume *r);

/* Which run "latest" means (want <= 0), or check run want (on a store:
 * db_store_resolve_run, store_read.h): the latest run
 * that ended (status not running, interrupted or crashed), else the latest
 * run.  note (may be NULL) gets one line, or "", saying when the run picked
 * is incomplete or newer runs were passed over as incomplete. */
int db_store_pick_run(struct sqlite3 *db, int64_t want, int64_t *run_id, char *note, size_t notelen,
                      char *err, size_t errlen);
/* SQL condition true for runs that ended (store_read.c). */
#define DB_RUN_ENDED_SQL "status NOT IN ('running', 'interrupted', 'crashed')"

#ifdef __cplusplus
}
#endif
#endif
