/* report.h — reports generated from the results database: the paper-style
 * results table of one run (reports/table.c) in Markdown, CSV, LaTeX or JSON.
 *
 * One row per case ("case" row: engine configuration × dataset × model):
 * label, dataset, model, n samples, tokens/s median with a 95% percentile
 * bootstrap CI (B = DB_REPORT_BOOTSTRAP, seeded), speedup against the run's
 * baseline case on the same dataset and model (median of per-sample ratios
 * paired by prompt_idx and rep, with a bootstrap CI), #MAT
 * (Σ new_tokens / Σ n_commits), TTFT p50/p90, latency p50, and the median of
 * every counter recorded for the run's samples.
 *
 * The baseline is the first case whose label equals (or else starts with)
 * the "baseline" key of the run's config_json; without that key, the first
 * case whose engine is "ar".
 */
#ifndef DECOBENCH_REPORT_H
#define DECOBENCH_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../harness/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DB_REPORT_BOOTSTRAP 2000
#define DB_REPORT_DEFAULT_SEED 1

typedef struct db_report_opts {
    int64_t run_id;        /* 0 = latest run */
    const char *format;    /* "md" (default when NULL), "csv", "latex", "json" */
    uint64_t seed;         /* bootstrap seed */
} db_report_opts;

/* 1 if name is a format db_report_table knows. */
int db_report_format_ok(const char *name);

/* Write the table of one run to out.  Returns 0, or -1 with one line in err
 * ("no runs in database", "no run with id 7", SQL errors). */
int db_report_table(db_store *st, const db_report_opts *o, FILE *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
