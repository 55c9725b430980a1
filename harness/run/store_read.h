/* store_read.h — reading the results database (harness/run/store_read.c):
 * the queries the report writers (reports/) need, returning plain structs,
 * so that no report prepares SQL itself.
 *
 * Runs (with their machine), the cases of a run, the samples of a case
 * with their counters, step events and named metrics, per-case averages,
 * the machines' probe results, the interference rows of a run or case,
 * and a stored record (machine, probe, run) as named fields.  "Run 0"
 * means the latest run that ended (db_store_pick_run, store.h).
 *
 * Text columns read as "" when NULL unless said otherwise; REAL columns as
 * NaN when NULL; INTEGER columns as 0 when NULL.  Every function returns 0,
 * or -1 with one line in err ("WHAT: sqlite message"); arrays are malloc'd
 * and freed with the matching *_free.  Tables added by later schema
 * versions (machine_probe, sample_metric, interference) read as empty when
 * absent.
 */
#ifndef DECOBENCH_STORE_READ_H
#define DECOBENCH_STORE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- runs ------------------------------------------------------------------ */

typedef struct db_run_info {
    int64_t id;
    int64_t machine_id;                 /* 0 when none */
    int64_t started_at;                 /* unix ms */
    char *suite_name, *config_json, *llama_commit, *decobench_rev, *status;
    char *hostname, *cpu_model;         /* of its machine */
    int cores;
} db_run_info;

/* db_store_pick_run (store.h) on st: which run "latest" (want <= 0) means,
 * or check run want; note (may be NULL) gets one line, or "", when the run
 * picked is incomplete or newer runs were passed over. */
int  db_store_resolve_run(db_store *st, int64_t want, int64_t *run_id, char *note, size_t notelen, char *err,
                          size_t errlen);
/* Runs in the database. */
int  db_store_count_runs(db_store *st, int64_t *n, char *err, size_t errlen);
/* Run want, or for want <= 0 the latest run that ended (db_store_pick_run):
 * "no runs in database", "no run with id N" otherwise. */
int  db_store_read_run(db_store *st, int64_t want, db_run_info *out, char *err, size_t errlen);
/* Runs in id order: those of suite (NULL: any), and with ended only those
 * that ended (status not running, interrupted or crashed). */
int  db_store_read_runs(db_store *st, const char *suite, bool ended, db_run_info **out, int *n, char *err,
                        size_t errlen);
void db_run_info_free(db_run_info *r);
void db_run_infos_free(db_run_info *r, int n);

/* The run's counters as recorded at its start (run_counter, in order). */
typedef struct db_run_counter_info {
    char *name, *reason;
    bool available, fallback;
} db_run_counter_info;
int  db_store_read_run_counters(db_store *st, int64_t run_id, db_run_counter_info **out, int *n, char *err,
                                size_t errlen);
void db_run_counters_free(db_run_counter_info *c, int n);

/* ---- cases ----------------------------------------------------------------- */

typedef struct db_case_info {
    int64_t id, run_id;
    int idx;
    char *engine, *label, *dataset, *model_name, *model_sha256, *params_json, *status;
    char *draft_name;   /* NULL: no draft model */
    int64_t model_bytes;
    int n_samples;
} db_case_info;

/* Cases of run run_id (0: of every run), only those labelled label when
 * label is not NULL, in the order idx, id. */
int  db_store_read_cases(db_store *st, int64_t run_id, const char *label, db_case_info **out, int *n, char *err,
                         size_t errlen);
/* Case case_id; *found false when there is none. */
int  db_store_read_case(db_store *st, int64_t case_id, db_case_info *out, bool *found, char *err, size_t errlen);
void db_case_info_free(db_case_info *c);
void db_case_infos_free(db_case_info *c, int n);

/* ---- samples --------------------------------------------------------------- */

typedef struct db_sample_info {
    int64_t id;
    int prompt_idx, rep, turn;          /* turn 0 in databases older than the column */
    int64_t seed;
    bool has_seed, has_new_tokens;      /* false: SQL NULL */
    char *prompt_id, *category, *stop_reason;
    char *output_tokens_json, *output_text;
    int64_t n_prompt_tokens, new_tokens, target_forwards, draft_forwards, target_tokens_evaluated, n_commits,
        drafted, accepted;
    double ttft_ms, latency_ms, tokens_per_s, tpot_ms, mat, acceptance_rate, draft_time_ms, forward_time_ms,
        peak_rss_kib;
} db_sample_info;

/* A sample that is not a failed serving request (harness/run/serve.h: its
 * stop_reason is "error: REASON", its timings NULL): SQL condition on the
 * sample table. */
#define DB_SAMPLE_OK_SQL "(stop_reason IS NULL OR stop_reason NOT LIKE 'error:%')"

/* A sample's output tokens (JSON) and text as two SQL result columns, from
 * the sample table aliased T: its own columns, else (a pruned run, schema
 * version 7) its row of the table of distinct outputs. */
#define DB_SAMPLE_OUTPUT_SQL(T)                                                                \
    "COALESCE(" T ".output_tokens_json, (SELECT o.tokens_json FROM output o WHERE o.id = " T   \
    ".output_id)), COALESCE(" T ".output_text, (SELECT o.text FROM output o WHERE o.id = " T  \
    ".output_id))"

/* Samples of case case_id in id order, the first limit of them (0: all),
 * failed serving requests left out (DB_SAMPLE_OK_SQL); without outputs
 * their output_tokens_json and output_text read as "". */
int  db_store_read_samples(db_store *st, int64_t case_id, int limit, bool outputs, db_sample_info **out, int *n,
                           char *err, size_t errlen);
void db_sample_infos_free(db_sample_info *s, int n);
/* The REAL column of that name of a sample (tokens_per_s, latency_ms,
 * ttft_ms, mat, tpot_ms, acceptance_rate, peak_rss_kib, draft_time_ms,
 * forward_time_ms); NaN for another name. */
double db_sample_value(const db_sample_info *s, const char *column);

/* Per-sample counter values of a case (sample_counter), in no set order. */
typedef struct db_counter_value {
    int64_t sample_id;
    char *name;
    double value;
} db_counter_value;
int  db_store_read_sample_counters(db_store *st, int64_t case_id, db_counter_value **out, int *n, char *err,
                                   size_t errlen);
/* The same values without copies: fn(ctx, sample_id, name, value, order)
 * once per counter value of the case's samples (value NaN where NULL; name
 * valid during the call only).  order increases with where the value was
 * stored in the run — row counters by rowid, then a pruned run's packed
 * counters by sample and place — so the names of a run sorted by their
 * smallest order are db_store_read_counter_names' order.  fn returns 0 to go
 * on, non-zero to fail with "out of memory".  0, or -1 with err set. */
typedef int (*db_counter_fn)(void *ctx, int64_t sample_id, const char *name, double value, int64_t order);
int  db_store_for_case_counters(db_store *st, int64_t case_id, db_counter_fn fn, void *ctx, char *err,
                                size_t errlen);
void db_counter_values_free(db_counter_value *v, int n);
/* The counter names the samples of a run have, in the order first stored. */
int  db_store_read_counter_names(db_store *st, int64_t run_id, char ***names, int *n, char *err, size_t errlen);
void db_names_free(char **names, int n);

/* Step events of one kind (DB_EV_*) of the samples of a case. */
typedef struct db_event_info {
    int64_t sample_id;
    int n_tokens, n_accepted;
    uint64_t accepted_mask;
} db_event_info;
int db_store_read_events(db_store *st, int64_t case_id, int kind, db_event_info **out, int *n, char *err,
                         size_t errlen);

/* ---- named per-sample metrics (sample_metric) ------------------------------ */

/* The metric names with a value in the samples of a run, sorted. */
int db_store_read_metric_names(db_store *st, int64_t run_id, char ***names, int *n, char *err, size_t errlen);
/* Whether some sample of the database has metric name. */
int db_store_metric_stored(db_store *st, const char *name, bool *found, char *err, size_t errlen);
/* The mean of metric name over the samples of a case that have it (NaN none). */
int db_store_case_metric_mean(db_store *st, int64_t case_id, const char *name, double *mean, char *err,
                              size_t errlen);
/* How many samples of a case have metric name equal to value. */
int db_store_case_metric_count(db_store *st, int64_t case_id, const char *name, double value, int *count,
                               char *err, size_t errlen);

/* Means over the samples of a case (NaN when it has none). */
typedef struct db_case_means {
    double target_forwards, forwards;    /* forwards: target + draft */
    double target_tokens_evaluated;
} db_case_means;
int db_store_case_means(db_store *st, int64_t case_id, db_case_means *out, char *err, size_t errlen);

/* Search errors (reports/search.c): per case of run run_id that is not an
 * exact search, paired with each exact case of the same dataset and model,
 * over the samples (same prompt, rep, turn) whose exact sample proved
 * optimal: pairs, errors (score below the exact one's by more than tol),
 * above (above it by more than tol), the mean score gap (0 for identical
 * outputs).  In the order of the cases' idx. */
typedef struct db_search_error_row {
    char *label, *exact_label, *dataset, *model_name;
    int pairs, errors, above;
    double mean_gap;
} db_search_error_row;
int  db_store_read_search_errors(db_store *st, int64_t run_id, double tol, db_search_error_row **out, int *n,
                                 char *err, size_t errlen);
void db_search_error_rows_free(db_search_error_row *r, int n);

/* ---- machines, probes, identity, interference ------------------------------ */

/* The latest probe result of a machine; *found false when none. */
int db_store_read_probe(db_store *st, int64_t machine_id, db_probe_record *out, bool *found, char *err,
                        size_t errlen);

/* The devices of a machine's latest `decobench probe` that recorded any
 * (table machine_device, schema version 5), in idx order; *out NULL and *n
 * 0 when none (or an older database). */
typedef struct db_device_info {
    int idx;
    int64_t measured_at_ms;
    char *name, *description, *type, *backend, *known, *source;   /* "" for SQL NULL */
    uint64_t memory_bytes;                                         /* 0: not reported */
    double bandwidth_gbs, peak_fp32_tflops, peak_fp16_tflops;      /* NaN unknown */
} db_device_info;
int  db_store_read_devices(db_store *st, int64_t machine_id, db_device_info **out, int *n, char *err,
                           size_t errlen);
void db_device_infos_free(db_device_info *d, int n);

/* A stored record as named fields, for a generic key/value view: the
 * machine of that id, its latest probe result, or the run of that id. */
typedef enum { DB_RECORD_MACHINE, DB_RECORD_PROBE, DB_RECORD_RUN } db_record_kind;
typedef struct db_field {
    char *name;
    char *text;          /* NULL for SQL NULL */
    bool is_text;        /* a TEXT value (else a number) */
    int64_t int_value;
} db_field;
/* *n 0 when there is no such record; -1 when it cannot be read. */
int  db_store_read_record(db_store *st, db_record_kind kind, int64_t id, db_field **out, int *n);
void db_fields_free(db_field *f, int n);

/* The greedy-identity result of a case (harness/run/identity.h
 * db_identity_get): 1 stored, 0 none, -1 with err set. */
int db_store_read_identity(db_store *st, int64_t case_id, int *n_compared, int *n_identical, char *err,
                           size_t errlen);

/* Interference rows (harness/run/interference.h) of a run (case_id 0: the
 * whole run's, case_idx -1) or of case case_id, in the order stored. */
typedef struct db_noise_row {
    char *name, *text;   /* NULL for SQL NULL */
    double value;        /* NaN for SQL NULL */
} db_noise_row;
int  db_store_read_interference(db_store *st, int64_t run_id, int64_t case_id, db_noise_row **out, int *n,
                                char *err, size_t errlen);
void db_noise_rows_free(db_noise_row *r, int n);

#ifdef __cplusplus
}
#endif
#endif
