/* stats.h — summary statistics used by reports and comparisons:
 * quantiles, median, mean, selection, the distribution-free confidence
 * interval of a median from order statistics, bootstrap confidence intervals
 * (percentile method, seeded; the median's by order-statistic draws),
 * chi-square goodness of fit, Mann–Whitney U.
 */
#ifndef DECOBENCH_STATS_H
#define DECOBENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

struct db_rng;

#ifdef __cplusplus
extern "C" {
#endif

/* Quantile q in [0,1] with linear interpolation between order statistics
 * (Hyndman & Fan type 7, as numpy's default).  x is not modified.  NaN if n == 0. */
double db_quantile(const double *x, size_t n, double q);
double db_median(const double *x, size_t n);
/* The same on data sorted ascending (no copy, O(1)). */
double db_quantile_sorted(const double *s, size_t n, double q);
/* Sort ascending in place (NaN not allowed). */
void db_sort_doubles(double *x, size_t n);
/* The k-th smallest (0-based) of x[0..n), reordering x (quickselect, O(n)
 * expected); NaN when n == 0 or k >= n. */
double db_select_kth(double *x, size_t n, size_t k);
double db_mean(const double *x, size_t n);
double db_stddev(const double *x, size_t n);      /* sample standard deviation (n-1) */
double db_geomean(const double *x, size_t n);     /* NaN if any x <= 0 */

typedef enum { DB_STAT_MEDIAN, DB_STAT_MEAN, DB_STAT_GEOMEAN } db_stat_kind;

/* Percentile bootstrap CI of a statistic: B resamples with replacement,
 * seeded (same seed, same interval).  level e.g. 0.95. Returns 0, -1 if n == 0. */
int db_bootstrap_ci(const double *x, size_t n, db_stat_kind stat, double level, int B,
                    uint64_t seed, double *lo, double *hi);

/* Distribution-free confidence interval of the median (Hollander & Wolfe,
 * "Nonparametric Statistical Methods", §3.6): the order statistics whose
 * ranks k and n − k + 1 come from Binomial(n, 1/2), exactly for n <= 1000 and
 * by its normal approximation (continuity corrected) above, interpolated
 * between neighbouring order statistics as Hettmansperger & Sheather (1986)
 * so that the coverage is the nominal level rather than the next binomial
 * one above it.  When no pair of ranks reaches level (n <= 5 at 95%) the
 * interval is [min, max].  x is not modified; s must be sorted.  Returns 0,
 * -1 if n == 0 or level is not in (0, 1). */
int db_median_ci(const double *x, size_t n, double level, double *lo, double *hi);
int db_median_ci_sorted(const double *s, size_t n, double level, double *lo, double *hi);

/* One bootstrap replicate of the median of a sorted sample s[0..n): the
 * median of n draws with replacement, drawn from the order statistics of n
 * uniforms (the k-th smallest of the resample is s[ceil(n·U(k)) − 1],
 * U(k) ~ Beta(k, n − k + 1)), so O(1) per replicate instead of O(n). */
double db_bootstrap_median_draw(const double *s, size_t n, struct db_rng *r);

/* Percentile bootstrap CI (level) of median(b)/median(a) − 1 for two
 * independent samples sorted ascending, B replicates by
 * db_bootstrap_median_draw, seeded (seed, stream).  Returns 0, -1 when no
 * replicate had a finite ratio. */
int db_bootstrap_median_ratio_ci(const double *sa, size_t na, const double *sb, size_t nb, double level, int B,
                                 uint64_t seed, uint64_t stream, double *lo, double *hi);

/* The same replicates with the draws apart from the data: the ranks a
 * replicate of the median of n sorted values takes (db_bootstrap_median_draw
 * is 0.5·(s[*i1] + s[*i2]), or s[*i1] when they are equal), consuming r as
 * db_bootstrap_median_draw does.  Metrics measured on the same samples can
 * share one set of ranks (compare draws them once per case). */
void db_bootstrap_median_ranks(size_t n, struct db_rng *r, size_t *i1, size_t *i2);
/* B replicate pairs for db_bootstrap_median_ratio_ci_ranks: ranks[4b..4b+3]
 * = (i1, i2) for a sample of na, then for one of nb, drawn in the order
 * db_bootstrap_median_ratio_ci draws them.  ranks holds 4·B entries. */
void db_bootstrap_median_ratio_ranks(size_t na, size_t nb, int B, uint64_t seed, uint64_t stream, size_t *ranks);
/* db_bootstrap_median_ratio_ci from drawn ranks (sa, sb of na, nb values as
 * when the ranks were drawn): the same interval for the same seed. */
int db_bootstrap_median_ratio_ci_ranks(const double *sa, size_t na, const double *sb, size_t nb, double level, int B,
                                       const size_t *ranks, double *lo, double *hi);

/* Early stopping of a resampling bootstrap (db_boot_stop): after min_b
 * replicates and then every step more, the percentile interval of the
 * replicates so far is computed; the bootstrap stops when both endpoints
 * moved by at most tol × (interval width) — or not at all — since the
 * previous check, twice in a row, or at B.  Deterministic for a seed. */
#define DB_BOOT_MIN 400
#define DB_BOOT_STEP 200
#define DB_BOOT_TOL 0.02
/* The percentile interval of stats[0..m) (reordered) at level; returns 1
 * when it is stable by the rule above given the previous check's
 * endpoints in *plo, *phi and the count of stable checks in *stable
 * (updated). */
int db_boot_stop(double *stats, size_t m, double level, double *plo, double *phi, int *stable, double *lo,
                 double *hi);

/* Chi-square statistic of observed counts against expected probabilities,
 * pooling cells whose expected count is below min_expected into one cell.
 * Returns the statistic; *df gets the degrees of freedom, *p_value the upper tail. */
double db_chi_square(const uint64_t *observed, const double *expected_prob, size_t k,
                     double min_expected, int *df, double *p_value);
/* Upper tail of the chi-square distribution: P(X > x), df degrees of freedom. */
double db_chi_square_sf(double x, double df);
/* A draw from Beta(a, b) for a, b >= 1 (Marsaglia–Tsang gamma draws). */
double db_rng_beta(struct db_rng *r, double a, double b);
/* Regularized upper incomplete gamma Q(a, x). */
double db_gamma_q(double a, double x);

/* Mann–Whitney U test, two-sided.  Exact p-value when n1+n2 <= 40 and no ties,
 * normal approximation with tie correction otherwise. */
double db_mann_whitney_p(const double *a, size_t na, const double *b, size_t nb, double *u_stat);

#ifdef __cplusplus
}
#endif
#endif
