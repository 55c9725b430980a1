/* store.h — the SQLite results database.
 *
 * One file holds any number of runs, from any number of machines.  WAL mode;
 * every finished case is written in its own transaction, so an interrupted
 * run keeps its completed cases.  The schema (version DB_STORE_SCHEMA_VERSION)
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
 *   interference(run_id, case_idx, name, value, text)          (version 3;
 *                 harness/interference.h; case_idx -1: the whole run)
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

#define DB_STORE_SCHEMA_VERSION 3

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
struct sqlite3 *db_store_handle(db_store *st);   /* for reports' queries */

/* Insert the machine unless its fingerprint is known; returns its id. */
int db_store_machine(db_store *st, const db_machine *m, int64_t *machine_id);

/* One `decobench probe` measurement of a machine (see harness/probe.h). */
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

/* Write one case and all its samples in a single transaction. */
int db_store_case(db_store *st, int64_t run_id, const db_case_record *c,
                  const db_sample_record *samples, int n_samples, int64_t *case_id);

#ifdef __cplusplus
}
#endif
#endif
