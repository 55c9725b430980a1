/* compare_int.h — what comparing runs (compare.c) and the history of a
 * metric (history.c) share: the metric table and a few helpers.  Private
 * to reports/ (and tests/).
 */
#ifndef DECOBENCH_COMPARE_INT_H
#define DECOBENCH_COMPARE_INT_H

#include <stddef.h>
#include <stdint.h>


typedef enum { K_SPEED, K_MAT, K_IDENTITY, K_EXACT, K_AR_IDENTITY } metric_kind;

typedef struct metric_def {
    const char *name;      /* canonical */
    const char *column;    /* sample column (NULL: greedy_identity) */
    const char *title;     /* display */
    int higher_better;
    metric_kind kind;
    int in_compare, in_history;
} metric_def;

/* The metric of that canonical name, NULL when none. */
const metric_def *db_cmp_metric_by_name(const char *name);
/* Median of x[0..n) (no NaN), reordering x; NaN when n == 0. */
double db_cmp_median(double *x, size_t n);
/* h mixed with the bytes of s (a seed stream per case name). */
uint64_t db_cmp_hash_str(uint64_t h, const char *s);
/* A metric's value as its tables print it ("-" when not finite). */
void db_cmp_fmt_val(char *buf, size_t len, double v, const metric_def *md);
/* A relative change as a signed percentage ("-" when not finite). */
void db_cmp_fmt_pct(char *buf, size_t len, double v);

/* The 1 − alpha interval of pooled #MAT(new)/#MAT(base) − 1, where a side's
 * pooled value is Σ y / Σ w over its samples (compare.c: y = #MAT·commits,
 * w = commits): a percentile bootstrap of B resamples (seeded by seed and
 * stream, stopping early once stable) for at most 400 samples in the two
 * sides together, the delta-method interval of the log ratio above.  NaN
 * when a side is empty or its pooled value is 0 or not finite. */
void db_cmp_mat_ratio_ci(const double *yb, const double *wb, int nb, const double *yn, const double *wn, int nn,
                         int B, double alpha, uint64_t seed, uint64_t stream, double *lo, double *hi);

#endif
