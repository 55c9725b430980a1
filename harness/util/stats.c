/* stats.c — summary statistics for reports and comparisons (see stats.h):
 * type-7 quantiles, selection, mean/sd/geomean, the order-statistic CI of a
 * median (exact or normal binomial ranks, Hettmansperger–Sheather
 * interpolation), seeded percentile bootstrap CIs (medians by order-statistic
 * draws: Beta variates by Marsaglia–Tsang gamma variates; early stopping),
 * chi-square goodness of fit (regularized incomplete gamma, Numerical Recipes
 * style series / continued fraction) and the two-sided Mann–Whitney U test.
 */
#include "stats.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* type 7 on an already sorted array */
static double quantile_sorted(const double *s, size_t n, double q) {
    if (n == 0 || isnan(q)) return NAN;
    if (q <= 0) return s[0];
    if (q >= 1) return s[n - 1];
    double h = (double)(n - 1) * q;
    size_t lo = (size_t)floor(h);
    if (lo >= n - 1) return s[n - 1];
    double frac = h - (double)lo;
    return s[lo] + frac * (s[lo + 1] - s[lo]);
}

double db_quantile_sorted(const double *s, size_t n, double q) {
    return quantile_sorted(s, n, q);
}

void db_sort_doubles(double *x, size_t n) {
    if (n > 1) qsort(x, n, sizeof *x, cmp_double);
}

/* Hoare's quickselect (the middle element as pivot) */
double db_select_kth(double *x, size_t n, size_t k) {
    if (n == 0 || k >= n) return NAN;
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = x[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (x[i] < pivot) i++;
            while (x[j] > pivot) j--;
            if (i <= j) {
                double t = x[i];
                x[i] = x[j];
                x[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    return x[k];
}

/* type 7 by selection, reordering x: the same value as quantile_sorted on
 * the sorted data */
static double quantile_select(double *x, size_t n, double q) {
    if (n == 0 || isnan(q)) return NAN;
    if (q <= 0) q = 0;
    if (q >= 1) q = 1;
    double h = (double)(n - 1) * q;
    size_t lo = (size_t)floor(h);
    if (lo >= n - 1) return db_select_kth(x, n, n - 1);
    double a = db_select_kth(x, n, lo);
    double frac = h - (double)lo;
    /* the next order statistic: the smallest above position lo */
    double b = x[lo + 1];
    for (size_t i = lo + 2; i < n; i++)
        if (x[i] < b) b = x[i];
    return a + frac * (b - a);
}

double db_quantile(const double *x, size_t n, double q) {
    if (n == 0) return NAN;
    double *s = malloc(n * sizeof *s);
    if (!s) return NAN;
    memcpy(s, x, n * sizeof *s);
    double v = quantile_select(s, n, q);
    free(s);
    return v;
}

double db_median(const double *x, size_t n) {
    return db_quantile(x, n, 0.5);
}

double db_mean(const double *x, size_t n) {
    if (n == 0) return NAN;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    return sum / (double)n;
}

double db_stddev(const double *x, size_t n) {
    if (n < 2) return NAN;
    double m = db_mean(x, n), ss = 0;
    for (size_t i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    return sqrt(ss / (double)(n - 1));
}

double db_geomean(const double *x, size_t n) {
    if (n == 0) return NAN;
    double sl = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(x[i] > 0)) return NAN;
        sl += log(x[i]);
    }
    return exp(sl / (double)n);
}

static double stat_of(double *buf, size_t n, db_stat_kind stat) {
    switch (stat) {
    case DB_STAT_MEAN: return db_mean(buf, n);
    case DB_STAT_GEOMEAN: return db_geomean(buf, n);
    case DB_STAT_MEDIAN:
    default:
        return quantile_select(buf, n, 0.5);
    }
}

int db_bootstrap_ci(const double *x, size_t n, db_stat_kind stat, double level, int B,
                    uint64_t seed, double *lo, double *hi) {
    if (lo) *lo = NAN;
    if (hi) *hi = NAN;
    if (n == 0 || B < 1 || !(level > 0 && level < 1)) return -1;
    double *res = malloc(n * sizeof *res);
    double *stats = malloc((size_t)B * sizeof *stats);
    if (!res || !stats) {
        free(res);
        free(stats);
        return -1;
    }
    db_rng r = db_rng_make(seed, 0xB0075712ull);
    size_t m = 0;
    for (int b = 0; b < B; b++) {
        for (size_t i = 0; i < n; i++) res[i] = x[db_rng_below(&r, n)];
        double v = stat_of(res, n, stat);
        if (!isnan(v)) stats[m++] = v;
    }
    if (m > 0) {
        qsort(stats, m, sizeof *stats, cmp_double);
        double a = (1.0 - level) / 2.0;
        if (lo) *lo = quantile_sorted(stats, m, a);
        if (hi) *hi = quantile_sorted(stats, m, 1.0 - a);
    }
    free(res);
    free(stats);
    return m > 0 ? 0 : -1;
}

/* ---- the order-statistic CI of a median ---------------------------------- */

/* Standard normal CDF */
static double phi_cdf(double z) {
    return 0.5 * erfc(-z / sqrt(2.0));
}

/* P(Bin(n, 1/2) <= j) for n > 1000 by the normal approximation with
 * continuity correction */
static double binom_half_cdf_normal(size_t n, double j) {
    return phi_cdf((j + 0.5 - (double)n / 2.0) / (sqrt((double)n) / 2.0));
}

/* The ranks of the interval: k (1-based) the first j with P(B <= j) > a,
 * a = (1 − level)/2, B ~ Bin(n, 1/2); *ck1 = P(B <= k − 1), *ck = P(B <= k). */
static size_t median_ci_rank(size_t n, double a, double *ck1, double *ck) {
    if (n <= 1000) {
        /* exact: pmf(j + 1) = pmf(j)·(n − j)/(j + 1), from pmf(0) = 2^−n in logs */
        double lp = -(double)n * log(2.0), c = 0, prev = 0;
        for (size_t j = 0; j <= n; j++) {
            c += exp(lp);
            if (c > a) {
                *ck1 = prev;
                *ck = c;
                return j;
            }
            prev = c;
            lp += log((double)(n - j)) - log((double)(j + 1));
        }
        *ck1 = *ck = 1;
        return n;
    }
    /* normal: start below the crossing, step up to it */
    double sd = sqrt((double)n) / 2.0;
    double j0 = floor((double)n / 2.0 - 6.0 * sd);
    size_t j = j0 > 0 ? (size_t)j0 : 0;
    double prev = j > 0 ? binom_half_cdf_normal(n, (double)j - 1) : 0;
    for (; j <= n; j++) {
        double c = binom_half_cdf_normal(n, (double)j);
        if (c > a) {
            *ck1 = prev;
            *ck = c;
            return j;
        }
        prev = c;
    }
    *ck1 = *ck = 1;
    return n;
}

int db_median_ci_sorted(const double *s, size_t n, double level, double *lo, double *hi) {
    if (lo) *lo = NAN;
    if (hi) *hi = NAN;
    if (n == 0 || !(level > 0 && level < 1)) return -1;
    double a = (1.0 - level) / 2.0, ck1 = 0, ck = 0;
    size_t k = median_ci_rank(n, a, &ck1, &ck);
    double l, h;
    if (k == 0) {
        /* even [min, max] covers less than level */
        l = s[0];
        h = s[n - 1];
    } else {
        /* [X(k), X(n−k+1)] covers gk = 1 − 2·P(B <= k−1) >= level,
         * [X(k+1), X(n−k)] covers gk1 = 1 − 2·P(B <= k) < level:
         * interpolate (Hettmansperger & Sheather 1986) */
        double gk = 1 - 2 * ck1, gk1 = 1 - 2 * ck;
        double lam = 0;
        if (gk > gk1) {
            double I = (gk - level) / (gk - gk1);
            double nk = (double)(n - k), kk = (double)k;
            lam = nk * I / (kk + ((double)n - 2 * kk) * I);
            if (!(lam >= 0)) lam = 0;
            if (lam > 1) lam = 1;
        }
        size_t i = k - 1, u = n - k;   /* 0-based X(k), X(n−k+1); i < u */
        double li = s[i], ui = s[u];
        if (k + 1 <= n - k) {
            li = s[k];                  /* X(k+1) */
            ui = s[n - k - 1];          /* X(n−k) */
        } else lam = 0;
        l = (1 - lam) * s[i] + lam * li;
        h = (1 - lam) * s[u] + lam * ui;
    }
    if (lo) *lo = l;
    if (hi) *hi = h;
    return 0;
}

int db_median_ci(const double *x, size_t n, double level, double *lo, double *hi) {
    if (lo) *lo = NAN;
    if (hi) *hi = NAN;
    if (n == 0 || !(level > 0 && level < 1)) return -1;
    double *s = malloc(n * sizeof *s);
    if (!s) return -1;
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    int rc = db_median_ci_sorted(s, n, level, lo, hi);
    free(s);
    return rc;
}

/* ---- bootstrap of a median by order statistics ---------------------------- */

/* Gamma(a, 1), a >= 1 (Marsaglia & Tsang 2000) */
static double gamma_draw(db_rng *r, double a) {
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = db_rng_normal(r), v = 1 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = db_rng_uniform(r);
        if (u < 1 - 0.0331 * x * x * x * x) return d * v;
        if (u > 0 && log(u) < 0.5 * x * x + d * (1 - v + log(v))) return d * v;
    }
}

/* Beta(a, b), a, b >= 1 */
static double beta_draw(db_rng *r, double a, double b) {
    double x = gamma_draw(r, a), y = gamma_draw(r, b);
    return x / (x + y);
}

double db_rng_beta(struct db_rng *r, double a, double b) { return beta_draw(r, a, b); }

/* ceil(n·u) − 1, clamped */
static size_t rank_at_uniform(size_t n, double u) {
    double p = ceil((double)n * u);
    size_t i = p >= 1 ? (size_t)p - 1 : 0;
    return i < n ? i : n - 1;
}

void db_bootstrap_median_ranks(size_t n, db_rng *r, size_t *i1, size_t *i2) {
    *i1 = *i2 = 0;
    if (n <= 1) return;
    size_t m = (n + 1) / 2;   /* the lower middle rank, 1-based */
    double u1 = beta_draw(r, (double)m, (double)(n - m + 1));
    *i1 = *i2 = rank_at_uniform(n, u1);
    if (n % 2) return;
    /* U(m+1) given U(m): the least of n − m uniforms on (U(m), 1) */
    double w = db_rng_uniform(r);
    double u2 = u1 + (1 - u1) * (1 - pow(1 - w, 1.0 / (double)(n - m)));
    *i2 = rank_at_uniform(n, u2);
}

/* the replicate at ranks i1, i2 (odd n: i1 == i2 and the value itself) */
static double median_at_ranks(const double *s, size_t n, size_t i1, size_t i2, bool even) {
    (void)n;
    return even ? 0.5 * (s[i1] + s[i2]) : s[i1];
}

double db_bootstrap_median_draw(const double *s, size_t n, db_rng *r) {
    if (n == 0) return NAN;
    size_t i1, i2;
    db_bootstrap_median_ranks(n, r, &i1, &i2);
    return median_at_ranks(s, n, i1, i2, n > 1 && n % 2 == 0);
}

void db_bootstrap_median_ratio_ranks(size_t na, size_t nb, int B, uint64_t seed, uint64_t stream, size_t *ranks) {
    db_rng g = db_rng_make(seed, stream);
    for (int b = 0; b < B; b++) {
        db_bootstrap_median_ranks(na, &g, &ranks[4 * (size_t)b], &ranks[4 * (size_t)b + 1]);
        db_bootstrap_median_ranks(nb, &g, &ranks[4 * (size_t)b + 2], &ranks[4 * (size_t)b + 3]);
    }
}

int db_bootstrap_median_ratio_ci_ranks(const double *sa, size_t na, const double *sb, size_t nb, double level, int B,
                                       const size_t *ranks, double *lo, double *hi) {
    if (lo) *lo = NAN;
    if (hi) *hi = NAN;
    if (na == 0 || nb == 0 || B < 1 || !(level > 0 && level < 1)) return -1;
    double *r = malloc((size_t)B * sizeof *r);
    if (!r) return -1;
    const bool ea = na > 1 && na % 2 == 0, eb = nb > 1 && nb % 2 == 0;
    size_t k = 0;
    for (int b = 0; b < B; b++) {
        const size_t *x = &ranks[4 * (size_t)b];
        double ma = median_at_ranks(sa, na, x[0], x[1], ea), mb = median_at_ranks(sb, nb, x[2], x[3], eb);
        if (ma != 0 && isfinite(ma) && isfinite(mb)) r[k++] = mb / ma - 1;
    }
    if (k > 0) {
        double a = (1.0 - level) / 2.0;
        if (lo) *lo = quantile_select(r, k, a);
        if (hi) *hi = quantile_select(r, k, 1 - a);
    }
    free(r);
    return k > 0 ? 0 : -1;
}

int db_bootstrap_median_ratio_ci(const double *sa, size_t na, const double *sb, size_t nb, double level, int B,
                                 uint64_t seed, uint64_t stream, double *lo, double *hi) {
    if (lo) *lo = NAN;
    if (hi) *hi = NAN;
    if (na == 0 || nb == 0 || B < 1 || !(level > 0 && level < 1)) return -1;
    size_t *ranks = malloc(4 * (size_t)B * sizeof *ranks);
    if (!ranks) return -1;
    db_bootstrap_median_ratio_ranks(na, nb, B, seed, stream, ranks);
    int rc = db_bootstrap_median_ratio_ci_ranks(sa, na, sb, nb, level, B, ranks, lo, hi);
    free(ranks);
    return rc;
}

int db_boot_stop(double *stats, size_t m, double level, double *plo, double *phi, int *stable, double *lo,
                 double *hi) {
    double a = (1.0 - level) / 2.0;
    *lo = quantile_select(stats, m, a);
    *hi = quantile_select(stats, m, 1 - a);
    double w = *hi - *lo, tol = DB_BOOT_TOL * (w > 0 ? w : 0);
    int same = isfinite(*plo) && isfinite(*phi) && fabs(*lo - *plo) <= tol && fabs(*hi - *phi) <= tol;
    *stable = same ? *stable + 1 : 0;
    *plo = *lo;
    *phi = *hi;
    return *stable >= 2;
}

/* ---- incomplete gamma (Numerical Recipes 6.2) --------------------------- */

#define GAMMA_ITMAX 10000
#define GAMMA_EPS   1e-15
#define GAMMA_FPMIN (DBL_MIN / DBL_EPSILON)

/* P(a,x) by its series, valid for x < a+1 */
static double gamma_p_series(double a, double x) {
    double ap = a, del = 1.0 / a, sum = del;
    for (int n = 0; n < GAMMA_ITMAX; n++) {
        ap += 1;
        del *= x / ap;
        sum += del;
        if (fabs(del) < fabs(sum) * GAMMA_EPS) break;
    }
    return sum * exp(-x + a * log(x) - lgamma(a));
}

/* Q(a,x) by its continued fraction (modified Lentz), valid for x >= a+1 */
static double gamma_q_cf(double a, double x) {
    double b = x + 1 - a, c = 1 / GAMMA_FPMIN, d = 1 / b, h = d;
    for (int i = 1; i < GAMMA_ITMAX; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < GAMMA_FPMIN) d = GAMMA_FPMIN;
        c = b + an / c;
        if (fabs(c) < GAMMA_FPMIN) c = GAMMA_FPMIN;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < GAMMA_EPS) break;
    }
    return exp(-x + a * log(x) - lgamma(a)) * h;
}

double db_gamma_q(double a, double x) {
    if (isnan(a) || isnan(x) || a <= 0) return NAN;
    if (x <= 0) return 1.0;
    if (isinf(x)) return 0.0;
    if (x < a + 1) return 1.0 - gamma_p_series(a, x);
    return gamma_q_cf(a, x);
}

double db_chi_square_sf(double x, double df) {
    if (isnan(x) || !(df > 0)) return NAN;
    if (x <= 0) return 1.0;
    return db_gamma_q(df / 2.0, x / 2.0);
}

double db_chi_square(const uint64_t *observed, const double *expected_prob, size_t k,
                     double min_expected, int *df, double *p_value) {
    if (df) *df = 0;
    if (p_value) *p_value = NAN;
    if (k == 0) return NAN;
    double total = 0, psum = 0;
    for (size_t i = 0; i < k; i++) {
        total += (double)observed[i];
        if (expected_prob[i] < 0 || isnan(expected_prob[i])) return NAN;
        psum += expected_prob[i];
    }
    if (!(total > 0) || !(psum > 0)) return NAN;

    /* cells at or above min_expected stand alone; the rest form one pooled cell */
    double *obs = malloc((k + 1) * sizeof *obs);
    double *exp_ = malloc((k + 1) * sizeof *exp_);
    if (!obs || !exp_) {
        free(obs);
        free(exp_);
        return NAN;
    }
    size_t m = 0;
    double pool_o = 0, pool_e = 0;
    int pooled = 0;
    for (size_t i = 0; i < k; i++) {
        double e = total * expected_prob[i] / psum;
        if (e < min_expected) {
            pool_o += (double)observed[i];
            pool_e += e;
            pooled = 1;
        } else {
            obs[m] = (double)observed[i];
            exp_[m] = e;
            m++;
        }
    }
    if (pooled) {
        if (pool_e < min_expected && m > 0) {
            /* still too small: merge into the smallest standing cell */
            size_t j = 0;
            for (size_t i = 1; i < m; i++)
                if (exp_[i] < exp_[j]) j = i;
            obs[j] += pool_o;
            exp_[j] += pool_e;
        } else {
            obs[m] = pool_o;
            exp_[m] = pool_e;
            m++;
        }
    }
    double chi2 = 0;
    for (size_t i = 0; i < m; i++) {
        if (exp_[i] > 0) chi2 += (obs[i] - exp_[i]) * (obs[i] - exp_[i]) / exp_[i];
        else if (obs[i] > 0) chi2 = INFINITY;
    }
    free(obs);
    free(exp_);
    int d = (int)m - 1;
    if (df) *df = d;
    if (p_value) *p_value = d >= 1 ? db_chi_square_sf(chi2, d) : 1.0;
    return chi2;
}

/* ---- Mann–Whitney U ------------------------------------------------------ */

typedef struct { double v; int grp; } mw_item;

static int cmp_item(const void *a, const void *b) {
    double x = ((const mw_item *)a)->v, y = ((const mw_item *)b)->v;
    return (x > y) - (x < y);
}

/* P(U <= u) for U = #pairs (a > b) with sample sizes m, n and no ties:
 * f(i,j,u) = f(i-1,j,u-j) + f(i,j-1,u) counted exactly in doubles
 * (C(40,20) < 2^53). */
static double mw_exact_cdf(int m, int n, int u) {
    int umax = m * n;
    if (u < 0) return 0;
    if (u >= umax) return 1;
    size_t w = (size_t)umax + 1;
    double *prev = calloc((size_t)(n + 1) * w, sizeof *prev);
    double *cur = calloc((size_t)(n + 1) * w, sizeof *cur);
    if (!prev || !cur) {
        free(prev);
        free(cur);
        return NAN;
    }
    for (int j = 0; j <= n; j++) prev[(size_t)j * w] = 1;   /* i = 0 */
    for (int i = 1; i <= m; i++) {
        memset(cur, 0, (size_t)(n + 1) * w * sizeof *cur);
        cur[0] = 1;                                          /* j = 0 */
        for (int j = 1; j <= n; j++) {
            double *c = cur + (size_t)j * w;
            const double *up = prev + (size_t)j * w, *left = cur + (size_t)(j - 1) * w;
            int lim = i * j;
            for (int v = 0; v <= lim; v++) c[v] = left[v] + (v >= j ? up[v - j] : 0);
        }
        double *t = prev; prev = cur; cur = t;
    }
    const double *f = prev + (size_t)n * w;
    double below = 0, all = 0;
    for (int v = 0; v <= umax; v++) {
        all += f[v];
        if (v <= u) below += f[v];
    }
    free(prev);
    free(cur);
    return below / all;
}

double db_mann_whitney_p(const double *a, size_t na, const double *b, size_t nb, double *u_stat) {
    if (u_stat) *u_stat = NAN;
    if (na == 0 || nb == 0) return NAN;
    size_t N = na + nb;
    mw_item *it = malloc(N * sizeof *it);
    if (!it) return NAN;
    for (size_t i = 0; i < na; i++) { it[i].v = a[i]; it[i].grp = 0; }
    for (size_t i = 0; i < nb; i++) { it[na + i].v = b[i]; it[na + i].grp = 1; }
    qsort(it, N, sizeof *it, cmp_item);
    /* mid-ranks; tie term Σ(t^3 - t) */
    double rank_a = 0, tie_term = 0;
    int ties = 0;
    for (size_t i = 0; i < N;) {
        size_t j = i;
        while (j + 1 < N && it[j + 1].v == it[i].v) j++;
        double r = ((double)i + (double)j) / 2.0 + 1.0;
        double t = (double)(j - i + 1);
        if (t > 1) {
            ties = 1;
            tie_term += t * t * t - t;
        }
        for (size_t q = i; q <= j; q++)
            if (it[q].grp == 0) rank_a += r;
        i = j + 1;
    }
    free(it);
    double n1 = (double)na, n2 = (double)nb;
    double u1 = rank_a - n1 * (n1 + 1) / 2.0;
    double u2 = n1 * n2 - u1;
    if (u_stat) *u_stat = u1;
    double p;
    if (N <= 40 && !ties) {
        double umin = u1 < u2 ? u1 : u2;
        p = 2.0 * mw_exact_cdf((int)na, (int)nb, (int)llround(umin));
    } else {
        double mu = n1 * n2 / 2.0;
        double Nd = (double)N;
        double var = n1 * n2 / 12.0 * ((Nd + 1) - tie_term / (Nd * (Nd - 1)));
        if (!(var > 0)) return 1.0;
        double umax = u1 > u2 ? u1 : u2;
        double z = (umax - mu - 0.5) / sqrt(var);   /* continuity correction */
        p = erfc(z / sqrt(2.0));                    /* 2 * normal upper tail */
    }
    return p > 1 ? 1 : p;
}
