/* report.h — reports generated from the results database: the paper-style
 * results table of one run (reports/table.c) in Markdown, CSV, LaTeX or JSON.
 *
 * One row per case ("case" row: engine configuration × dataset × model):
 * label, dataset, model, n samples, tokens/s median with a 95% percentile
 * bootstrap CI (B = DB_REPORT_BOOTSTRAP, seeded), speedup against the run's
 * baseline case on the same dataset and model (median of per-sample ratios
 * paired by prompt_idx, rep and turn, with a bootstrap CI), #MAT
 * (Σ mat·n_commits / Σ n_commits: tokens per decoding step, pooled),
 * TTFT p50/p90, latency p50, and the median of every counter recorded for
 * the run's samples.
 *
 * Speculative columns (md/LaTeX only when some case of the run drafted
 * tokens; CSV/JSON always, empty/null where nothing was drafted):
 * acceptance rate α = Σ accepted / Σ drafted; mean draft length
 * k̄ = Σ drafted / #VERIFY events; draft time share = Σ draft_time_ms /
 * Σ latency_ms; draft/target cost ratio
 * c = (Σ draft_time / Σ draft_forwards) / ((Σ forward_time − Σ draft_time) /
 * Σ target_forwards) (0 for model-free drafting: no draft forwards and no
 * draft time); predicted speedup db_report_predicted_speedup(α, k̄, c); and
 * the acceptance rate per draft position i from the VERIFY events
 * (verifications whose accepted_mask has bit i / verifications that drafted
 * more than i tokens).
 *
 * With by = "category" the report is instead a Spec-Bench style pivot: one
 * row per case, one column per sample category (the 8 MT-bench categories
 * merged into "multi-turn", then translation, summarization, qa,
 * math_reasoning, rag, then other categories alphabetically, then
 * "overall"; only columns with samples), each cell the paired speedup
 * against the baseline over that category's samples and their #MAT.
 *
 * With by = "engine" the same pivot groups its rows under one heading per
 * engine; "model" / "dataset" / "param:NAME" make the columns the models,
 * the datasets or the values of engine parameter NAME (rows: label and the
 * other dimension; for param, engine and its other parameters), cells over
 * the samples of the row's cases in that column.  cell picks one metric
 * for the cells instead of speedup / #MAT.  Without by, columns picks and
 * orders the per-case table's columns (docs/metrics.md lists the names).
 * LaTeX marks the best value of each ranked column in bold and prints
 * tokens/s and speedup as "median ± half-width of the 95% CI".
 *
 * The baseline is the first case whose label equals (or else starts with)
 * the "baseline" key of the run's config_json; without that key, the first
 * case whose engine is "ar".
 *
 * With by = "machine" the report is the run's suite across the machines of
 * the database (reports/hardware.c; md, csv, latex, json), and format
 * "html" is the whole run as one self-contained page with inline SVG charts
 * (reports/html.c; no grouping).  docs/metrics.md describes both.
 */
#ifndef DECOBENCH_REPORT_H
#define DECOBENCH_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "harness/run/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DB_REPORT_BOOTSTRAP 2000
#define DB_REPORT_DEFAULT_SEED 1

typedef struct db_report_opts {
    int64_t run_id;        /* 0 = latest run */
    const char *format;    /* "md" (default when NULL), "csv", "latex", "json", "html" */
    uint64_t seed;         /* bootstrap seed */
    const char *by;        /* NULL: per-case table; "category", "engine", "model", "dataset",
                            * "param:NAME": pivots (below); "machine": the suite across machines */
    const char *columns;   /* per-case table only: comma-separated column names, in order
                            * (NULL: the default columns) */
    const char *cell;      /* pivots only: the cell's metric (speedup, mat, tokens_per_s,
                            * ttft_p50_ms, latency_p50_ms); NULL: "speedup× / #MAT" */
} db_report_opts;

#define DB_REPORT_BY_NAMES "category, engine, model, dataset, param:NAME or machine"

/* 1 if name is a format db_report_table knows. */
int db_report_format_ok(const char *name);

/* 1 if name is a grouping db_report_table knows (DB_REPORT_BY_NAMES). */
int db_report_by_ok(const char *name);

/* Leviathan et al. (2023) expected speedup of speculative decoding from the
 * acceptance rate a, draft length k and draft/target cost ratio c:
 * (1 − a^(k+1)) / ((1 − a)(k·c + 1)), and (k + 1)/(k·c + 1) at a = 1.
 * NaN for non-finite or out-of-range arguments. */
double db_report_predicted_speedup(double a, double k, double c);

/* Write the table of one run to out.  Returns 0, or -1 with one line in err
 * ("no runs in database", "no run with id 7", SQL errors). */
int db_report_table(db_store *st, const db_report_opts *o, FILE *out, char *err, size_t errlen);

/* Per case of one run (run_id 0: the latest), the mean of each named
 * per-sample metric (sample_metric table; comma-separated names, e.g.
 * "keywords_all,keyword_coverage"), as a Markdown or CSV table
 * (reports/sample_metrics.c).  Returns 0, or -1 with one line in err. */
int db_report_sample_metrics(db_store *st, int64_t run_id, const char *names_csv, const char *format, FILE *out,
                             char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
