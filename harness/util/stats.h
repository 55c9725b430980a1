/* stats.h — summary statistics used by reports and comparisons:
 * quantiles, median, mean, bootstrap confidence intervals (percentile method,
 * seeded), paired ratio CIs, chi-square goodness of fit, Mann–Whitney U.
 */
#ifndef DECOBENCH_STATS_H
#define DECOBENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Quantile q in [0,1] with linear interpolation between order statistics
 * (Hyndman & Fan type 7, as numpy's default).  x is not modified.  NaN if n == 0. */
double db_quantile(const double *x, size_t n, double q);
double db_median(const double *x, size_t n);
double db_mean(const double *x, size_t n);
double db_stddev(const double *x, size_t n);      /* sample standard deviation (n-1) */
double db_geomean(const double *x, size_t n);     /* NaN if any x <= 0 */

typedef enum { DB_STAT_MEDIAN, DB_STAT_MEAN, DB_STAT_GEOMEAN } db_stat_kind;

/* Percentile bootstrap CI of a statistic: B resamples with replacement,
 * seeded (same seed, same interval).  level e.g. 0.95. Returns 0, -1 if n == 0. */
int db_bootstrap_ci(const double *x, size_t n, db_stat_kind stat, double level, int B,
                    uint64_t seed, double *lo, double *hi);

/* Chi-square statistic of observed counts against expected probabilities,
 * pooling cells whose expected count is below min_expected into one cell.
 * Returns the statistic; *df gets the degrees of freedom, *p_value the upper tail. */
double db_chi_square(const uint64_t *observed, const double *expected_prob, size_t k,
                     double min_expected, int *df, double *p_value);
/* Upper tail of the chi-square distribution: P(X > x), df degrees of freedom. */
double db_chi_square_sf(double x, double df);
/* Regularized upper incomplete gamma Q(a, x). */
double db_gamma_q(double a, double x);

/* Mann–Whitney U test, two-sided.  Exact p-value when n1+n2 <= 40 and no ties,
 * normal approximation with tie correction otherwise. */
double db_mann_whitney_p(const double *a, size_t na, const double *b, size_t nb, double *u_stat);

#ifdef __cplusplus
}
#endif
#endif
