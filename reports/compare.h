/* compare.h — nightly regression detection on the results database:
 * comparing two runs (`decobench compare`), the per-run series of a metric
 * with change-point detection (`decobench history`); merging results
 * databases (`decobench merge`) is harness/run/store_merge.h.
 * docs/regression.md describes the nightly recipe built on them.
 *
 * Compare.  Cases of BASE and NEW are matched by label, dataset and model
 * (sha256 when both runs recorded one, else the model name).  Per matched
 * case and metric:
 *
 *   tokens_per_s (higher is better), latency_ms, ttft_ms (lower is better):
 *     change = median(NEW) / median(BASE) − 1, a percentile bootstrap CI of
 *     that ratio (each side resampled independently, B resamples, seeded),
 *     and the two-sided Mann–Whitney U p-value (exact for small samples).
 *     Verdict: regressed when p < alpha and the change is worse by more than
 *     min_effect; improved when p < alpha and better by more than
 *     min_effect; noisy when not significant and the CI is wider than
 *     2·min_effect; unchanged otherwise.
 *   mat (#MAT, pooled Σ mat·n_commits / Σ n_commits; higher is better) is a
 *     correctness-like metric: decobench's runs are deterministic, so any
 *     relative change beyond DB_COMPARE_FLOAT_NOISE is flagged (regressed
 *     when lower, improved when higher) whatever the test says.
 *   greedy_identity: the fraction of NEW's samples whose output_tokens_json
 *     equals BASE's sample of the same prompt_idx, rep and turn (samples
 *     without a partner count as different).  For greedy cases (params_json
 *     without "mode": "sample") any drop below 1 is a regression; for
 *     sampled cases it is reported but not gated (verdict unchanged).
 *
 * History.  Runs containing a case are ordered by decobench revision — the
 * revisions in the order of their earliest run — then by start time and id;
 * each point is the metric's median over the case's samples in that run
 * (pooled #MAT for mat).  Change points come from binary segmentation: in a
 * segment, the split t maximising the standardised
 * difference |mean[a..t) − mean[t..k)|·sqrt(nL·nR/(nL+nR)) over t and the
 * right end k (E-Divisive's (τ, κ) search, so a shift that later reverts is
 * found too; both parts at least min_segment long) is kept when a
 * permutation test (n_perm seeded shuffles of the segment) gives
 * p = (1 + #{T_perm ≥ T}) / (1 + n_perm) < alpha; both parts are then
 * searched again.
 */
#ifndef DECOBENCH_COMPARE_H
#define DECOBENCH_COMPARE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "harness/run/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DB_COMPARE_MIN_EFFECT 0.02
#define DB_COMPARE_ALPHA 0.05
#define DB_COMPARE_BOOTSTRAP 2000
#define DB_COMPARE_FLOAT_NOISE 1e-9
#define DB_HISTORY_PERMUTATIONS 999
#define DB_HISTORY_ALPHA 0.01
#define DB_HISTORY_MIN_SEGMENT 3

typedef enum {
    DB_VERDICT_UNCHANGED = 0,
    DB_VERDICT_IMPROVED,
    DB_VERDICT_REGRESSED,
    DB_VERDICT_NOISY,
} db_verdict;

const char *db_verdict_name(db_verdict v);

/* The canonical metric name of name or an alias ("tps" → "tokens_per_s",
 * "latency" → "latency_ms", "ttft" → "ttft_ms", "identity" →
 * "greedy_identity"); NULL when unknown.  history=1 also accepts the
 * per-sample series tpot_ms, acceptance_rate, peak_rss_kib and rejects
 * greedy_identity. */
const char *db_compare_metric(const char *name, int history);

typedef struct db_compare_opts {
    const char *const *metrics;   /* canonical names; NULL: tokens_per_s, latency_ms, ttft_ms, mat, greedy_identity */
    int n_metrics;
    double min_effect;            /* relative, e.g. 0.02 */
    double alpha;                 /* significance level; the CI level is 1 − alpha */
    int bootstrap;                /* resamples; 0 = DB_COMPARE_BOOTSTRAP */
    uint64_t seed;
} db_compare_opts;

typedef struct db_compare_row {
    char *label, *dataset, *model;
    const char *metric;           /* canonical name (static) */
    int n_base, n_new;
    double base, new_;            /* medians (pooled #MAT; identity: 1 and the fraction) */
    double change, lo, hi;        /* relative change and its CI (NaN when not computable) */
    double p;                     /* Mann–Whitney p (NaN for greedy_identity) */
    db_verdict verdict;
    const char *note;             /* static: "sampled: not gated", "no samples", … or NULL */
} db_compare_row;

typedef struct db_compare_result {
    int64_t base_run, new_run;
    char *base_rev, *new_rev;
    int64_t base_started, new_started;
    double alpha, min_effect;
    db_compare_row *rows;
    int n_rows;
    int n_verdict[4];             /* by db_verdict */
    char **only_base, **only_new; /* "label / dataset / model" of unmatched cases */
    int n_only_base, n_only_new;
} db_compare_result;

/* Compare run base_run of base with run new_run of nw (0 = latest run of
 * that DB; the two handles may be the same).  Returns 0, or -1 with one
 * line in err ("no run with id 9", "no runs in database", SQL errors). */
int db_compare_runs(db_store *base, int64_t base_run, db_store *nw, int64_t new_run,
                    const db_compare_opts *o, db_compare_result *res, char *err, size_t errlen);
void db_compare_result_free(db_compare_result *r);

/* "md", "csv" or "junit" (JUnit XML: one testcase per case × metric, a
 * <failure> per regression). */
int db_compare_format_ok(const char *format);
int db_compare_write(const db_compare_result *r, const char *format, FILE *out);

/* ---- change points ---------------------------------------------------- */

/* Binary segmentation with a permutation test (see above) on x[0..n).
 * Writes up to max_cp change points, ascending, to idx (the index of the
 * first point after the shift) and their p-values to p (may be NULL).
 * Returns how many were found (possibly more than max_cp: only max_cp are
 * written), -1 on allocation failure.  Deterministic for a seed. */
int db_changepoints(const double *x, int n, int min_segment, int n_perm, double alpha, uint64_t seed,
                    int *idx, double *p, int max_cp);

typedef struct db_history_opts {
    const char *metric;           /* canonical name (db_compare_metric(name, 1)) */
    const char *label;            /* only cases with this label; NULL = all */
    const char *format;           /* "md" (default) or "csv" */
    int n_perm;                   /* 0 = DB_HISTORY_PERMUTATIONS */
    double alpha;                 /* 0 = DB_HISTORY_ALPHA */
    int min_segment;              /* 0 = DB_HISTORY_MIN_SEGMENT */
    uint64_t seed;
} db_history_opts;

/* Write the history table.  *n_changes gets the number of change points
 * found (may be NULL).  Returns 0 or -1 with one line in err. */
int db_history(db_store *st, const db_history_opts *o, FILE *out, int *n_changes, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
