/* test_stats.c — tests of harness/util/stats.c against hand-computed values
 * (numpy type-7 quantiles, chi-square tables, Mann–Whitney exact tables). */
#include "test.h"

#include <math.h>
#include <stdint.h>

#include "harness/util/stats.h"

static void test_quantiles(void) {
    const double x[] = { 10, 1, 9, 2, 8, 3, 7, 4, 6, 5 };   /* 1..10 shuffled */
    /* numpy.percentile(np.arange(1, 11), [25, 50, 90]) = 3.25, 5.5, 9.1 */
    CHECK_NEAR(db_quantile(x, 10, 0.25), 3.25, 1e-12);
    CHECK_NEAR(db_quantile(x, 10, 0.5), 5.5, 1e-12);
    CHECK_NEAR(db_quantile(x, 10, 0.9), 9.1, 1e-12);
    CHECK_NEAR(db_quantile(x, 10, 0.0), 1, 0);
    CHECK_NEAR(db_quantile(x, 10, 1.0), 10, 0);
    CHECK_NEAR(x[0], 10, 0);                     /* input untouched */
    const double y[] = { 4, 1, 3, 2 };
    CHECK_NEAR(db_quantile(y, 4, 0.1), 1.3, 1e-12);   /* np.quantile([1,2,3,4], .1) */
    CHECK_NEAR(db_median(y, 4), 2.5, 1e-12);
    const double z[] = { 3, 1, 2 };
    CHECK_NEAR(db_median(z, 3), 2, 0);
    CHECK_NEAR(db_quantile(z, 3, 0.9), 2.8, 1e-12);
    CHECK_NEAR(db_median(z, 1), 3, 0);
    CHECK(isnan(db_quantile(z, 0, 0.5)));
    CHECK(isnan(db_median(z, 0)));
}

static void test_moments(void) {
    const double x[] = { 1, 2, 3, 4 };
    CHECK_NEAR(db_mean(x, 4), 2.5, 1e-15);
    CHECK_NEAR(db_stddev(x, 4), 1.2909944487358056, 1e-12);   /* np.std(ddof=1) */
    const double g[] = { 1, 2, 4 };
    CHECK_NEAR(db_geomean(g, 3), 2, 1e-12);
    const double bad[] = { 1, 0, 4 };
    CHECK(isnan(db_geomean(bad, 3)));
    CHECK(isnan(db_mean(x, 0)));
    CHECK(isnan(db_stddev(x, 1)));
}

static void test_bootstrap(void) {
    double x[20];
    for (int i = 0; i < 20; i++) x[i] = (double)((i * 7) % 20 + 1);   /* 1..20 permuted */
    double lo1, hi1, lo2, hi2, lo3, hi3;
    CHECK_INT_EQ(db_bootstrap_ci(x, 20, DB_STAT_MEDIAN, 0.95, 2000, 42, &lo1, &hi1), 0);
    CHECK_INT_EQ(db_bootstrap_ci(x, 20, DB_STAT_MEDIAN, 0.95, 2000, 42, &lo2, &hi2), 0);
    CHECK(lo1 == lo2 && hi1 == hi2);                 /* same seed, same interval */
    CHECK(lo1 <= 10.5 && 10.5 <= hi1);               /* contains the median */
    CHECK(lo1 >= 1 && hi1 <= 20 && lo1 < hi1);
    CHECK(hi1 - lo1 < 12);                           /* not absurdly wide */
    CHECK_INT_EQ(db_bootstrap_ci(x, 20, DB_STAT_MEDIAN, 0.95, 2000, 43, &lo3, &hi3), 0);
    CHECK(lo3 <= 10.5 && 10.5 <= hi3);
    /* mean: CI around 10.5 about ± 1.96 * sd/sqrt(n) = ± 2.6 */
    CHECK_INT_EQ(db_bootstrap_ci(x, 20, DB_STAT_MEAN, 0.95, 2000, 7, &lo1, &hi1), 0);
    CHECK(lo1 > 7 && lo1 < 10.5 && hi1 > 10.5 && hi1 < 14);
    CHECK_INT_EQ(db_bootstrap_ci(x, 20, DB_STAT_GEOMEAN, 0.95, 500, 7, &lo1, &hi1), 0);
    CHECK(lo1 < db_geomean(x, 20) && db_geomean(x, 20) < hi1);
    /* three values: the resampled median hits min and max often enough that
     * the 2.5% and 97.5% points are exactly min and max */
    const double t[] = { 10, 12, 11 };
    CHECK_INT_EQ(db_bootstrap_ci(t, 3, DB_STAT_MEDIAN, 0.95, 2000, 1, &lo1, &hi1), 0);
    CHECK_NEAR(lo1, 10, 0);
    CHECK_NEAR(hi1, 12, 0);
    /* constant sample */
    const double c[] = { 5, 5, 5, 5 };
    CHECK_INT_EQ(db_bootstrap_ci(c, 4, DB_STAT_MEDIAN, 0.95, 100, 1, &lo1, &hi1), 0);
    CHECK(lo1 == 5 && hi1 == 5);
    CHECK_INT_EQ(db_bootstrap_ci(c, 0, DB_STAT_MEDIAN, 0.95, 100, 1, &lo1, &hi1), -1);
}

static void test_gamma_and_chi2_sf(void) {
    CHECK_NEAR(db_chi_square_sf(3.841458820694124, 1), 0.05, 1e-10);
    CHECK_NEAR(db_chi_square_sf(18.307038053275146, 10), 0.05, 1e-10);
    CHECK_NEAR(db_chi_square_sf(6.634896601021214, 1), 0.01, 1e-10);
    CHECK_NEAR(db_chi_square_sf(2.0, 2), exp(-1.0), 1e-13);          /* df 2: exp(-x/2) */
    CHECK_NEAR(db_chi_square_sf(50.0, 2), exp(-25.0), 1e-20);
    CHECK_NEAR(db_chi_square_sf(0.5, 4), exp(-0.25) * 1.25, 1e-13);  /* df 4: e^{-x/2}(1+x/2) */
    CHECK_NEAR(db_chi_square_sf(0, 3), 1.0, 0);
    CHECK_NEAR(db_gamma_q(1.0, 3.0), exp(-3.0), 1e-14);               /* Q(1,x) = e^-x */
    CHECK_NEAR(db_gamma_q(0.5, 2.0), erfc(sqrt(2.0)), 1e-14);         /* Q(1/2,x) = erfc(sqrt x) */
    CHECK_NEAR(db_gamma_q(0.5, 0.1), erfc(sqrt(0.1)), 1e-14);
    CHECK(isnan(db_gamma_q(-1, 1)));
}

static void test_chi_square(void) {
    /* scipy.stats.chisquare([10,20,30,40]) = (20.0, 0.00016974243555282632) */
    const uint64_t o1[] = { 10, 20, 30, 40 };
    const double p1[] = { 0.25, 0.25, 0.25, 0.25 };
    int df = -1;
    double p = -1;
    double chi = db_chi_square(o1, p1, 4, 5, &df, &p);
    CHECK_NEAR(chi, 20.0, 1e-12);
    CHECK_INT_EQ(df, 3);
    /* Q(3/2, 10) = erfc(sqrt 10) + 2 sqrt(10/pi) e^-10 */
    CHECK_NEAR(p, erfc(sqrt(10.0)) + 2 * sqrt(10.0 / M_PI) * exp(-10.0), 1e-15);
    CHECK_NEAR(p, 0.00016974243555282632, 1e-15);

    /* pooling: expected 50, 45, 3, 2 with min 5 -> the last two pool into one cell of 5 */
    const uint64_t o2[] = { 40, 50, 4, 6 };
    const double p2[] = { 0.50, 0.45, 0.03, 0.02 };
    chi = db_chi_square(o2, p2, 4, 5, &df, &p);
    /* (40-50)^2/50 + (50-45)^2/45 + (10-5)^2/5 */
    CHECK_NEAR(chi, 2.0 + 25.0 / 45.0 + 5.0, 1e-12);
    CHECK_INT_EQ(df, 2);
    CHECK_NEAR(p, exp(-chi / 2), 1e-14);

    /* without pooling (min_expected 0) the four cells stand alone */
    chi = db_chi_square(o2, p2, 4, 0, &df, &p);
    CHECK_NEAR(chi, 2.0 + 25.0 / 45.0 + 1.0 / 3.0 + 16.0 / 2.0, 1e-12);
    CHECK_INT_EQ(df, 3);

    /* a pool still below the minimum joins the smallest standing cell */
    const uint64_t o3[] = { 60, 30, 7, 3 };
    const double p3[] = { 0.60, 0.36, 0.02, 0.02 };
    chi = db_chi_square(o3, p3, 4, 5, &df, &p);
    /* cells 60 | 36+2+2=40 ; observed 60 | 40 */
    CHECK_NEAR(chi, 0.0, 1e-12);
    CHECK_INT_EQ(df, 1);
    CHECK_NEAR(p, 1.0, 1e-12);

    /* probabilities are normalised */
    const double p4[] = { 1, 1, 1, 1 };
    chi = db_chi_square(o1, p4, 4, 5, &df, &p);
    CHECK_NEAR(chi, 20.0, 1e-12);
}

static void test_mann_whitney(void) {
    double u = -1;
    /* complete separation, n1 = n2 = 3: P = 2/C(6,3) = 0.1 */
    const double a1[] = { 1, 2, 3 }, b1[] = { 4, 5, 6 };
    CHECK_NEAR(db_mann_whitney_p(a1, 3, b1, 3, &u), 0.1, 1e-12);
    CHECK_NEAR(u, 0, 0);
    CHECK_NEAR(db_mann_whitney_p(b1, 3, a1, 3, &u), 0.1, 1e-12);
    CHECK_NEAR(u, 9, 0);
    /* n1 = n2 = 5, U = 2: P(U <= 2) = (1+1+2)/252 (exact table), two-sided 8/252 */
    const double a2[] = { 1, 2, 3, 4, 7 }, b2[] = { 5, 6, 8, 9, 10 };
    CHECK_NEAR(db_mann_whitney_p(a2, 5, b2, 5, &u), 8.0 / 252.0, 1e-12);
    CHECK_NEAR(u, 2, 0);
    /* n1 = 4, n2 = 5 interleaved: U = 10 = n1 n2 / 2 -> p = 1 */
    const double a3[] = { 2, 4, 6, 8 }, b3[] = { 1, 3, 5, 7, 9 };
    CHECK_NEAR(db_mann_whitney_p(a3, 4, b3, 5, &u), 1.0, 1e-12);
    CHECK_NEAR(u, 10, 0);
    /* n1 = 6, n2 = 7, U = 6: two-sided exact p = 60/1716 (enumeration of C(13,6)) */
    const double a4[] = { 1, 2, 3, 4, 6, 11 }, b4[] = { 5, 7, 8, 9, 10, 12, 13 };
    CHECK_NEAR(db_mann_whitney_p(a4, 6, b4, 7, &u), 0.03496503496503497, 1e-12);
    CHECK_NEAR(u, 6, 0);
    /* ties: normal approximation with tie correction and continuity:
     * a=[1,2,2,3], b=[2,3,4,5]: U1 = 2.5, var = 16/12 (9 - 30/56) */
    const double a5[] = { 1, 2, 2, 3 }, b5[] = { 2, 3, 4, 5 };
    double var = 16.0 / 12.0 * (9.0 - 30.0 / 56.0);
    double expect = erfc((13.5 - 8 - 0.5) / sqrt(var) / sqrt(2.0));
    CHECK_NEAR(db_mann_whitney_p(a5, 4, b5, 4, &u), expect, 1e-12);
    CHECK_NEAR(expect, 0.1367, 1e-3);
    CHECK_NEAR(u, 2.5, 0);
    /* large samples use the normal approximation: 25 vs 25, complete separation */
    double a6[25], b6[25];
    for (int i = 0; i < 25; i++) { a6[i] = i; b6[i] = 100 + i; }
    double p6 = db_mann_whitney_p(a6, 25, b6, 25, &u);
    double z = (625 - 312.5 - 0.5) / sqrt(625.0 * 51 / 12);
    CHECK_NEAR(p6, erfc(z / sqrt(2.0)), 1e-15);
    CHECK(isnan(db_mann_whitney_p(a6, 0, b6, 25, &u)));
}

static void test_mann_whitney_exact_table(void) {
    /* n1 = n2 = 8: the table's two-sided 5% critical value is U = 13;
     * exact P(U <= 13) = 321/12870, two-sided 642/12870 = 0.04988 */
    const double a[] = { 1, 2, 3, 4, 5, 6, 12, 16 }, b[] = { 7, 8, 9, 10, 11, 13, 14, 15 };
    double u;
    double p = db_mann_whitney_p(a, 8, b, 8, &u);
    CHECK_NEAR(u, 13, 0);
    CHECK_NEAR(p, 642.0 / 12870.0, 1e-12);
    /* U = 14 is not significant: P(U <= 14) > 0.025 */
    const double a2[] = { 1, 2, 3, 4, 5, 7, 12, 16 }, b2[] = { 6, 8, 9, 10, 11, 13, 14, 15 };
    CHECK(db_mann_whitney_p(a2, 8, b2, 8, &u) > 0.05);
    CHECK_NEAR(u, 14, 0);
}

void suite_stats(void) {
    RUN(test_quantiles);
    RUN(test_moments);
    RUN(test_bootstrap);
    RUN(test_gamma_and_chi2_sf);
    RUN(test_chi_square);
    RUN(test_mann_whitney);
    RUN(test_mann_whitney_exact_table);
}
