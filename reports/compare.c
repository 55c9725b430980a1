/* compare.c — regression detection on the results database: comparing two
 * runs (`decobench compare`) case by case and metric by metric, and the
 * comparison written as Markdown, CSV or JUnit XML.  The metric table and
 * the helpers the history (history.c) shares are declared in
 * compare_int.h; definitions in compare.h; the nightly recipe in
 * docs/regression.md.
 */
#include "compare.h"
#include "compare_int.h"
#include "format.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/store_read.h"
#include "harness/util/rng.h"
#include "harness/util/stats.h"
#include "harness/util/util.h"

/* ---- metrics ------------------------------------------------------------- */

static const metric_def METRICS[] = {
    { "tokens_per_s", "tokens_per_s", "tokens/s", 1, K_SPEED, 1, 1 },
    { "latency_ms", "latency_ms", "latency p50 (ms)", 0, K_SPEED, 1, 1 },
    { "ttft_ms", "ttft_ms", "TTFT p50 (ms)", 0, K_SPEED, 1, 1 },
    { "mat", "mat", "#MAT", 1, K_MAT, 1, 1 },
    { "greedy_identity", NULL, "greedy identity", 1, K_IDENTITY, 1, 0 },
    /* S7 identity: share of prompts identical to the run's greedy ar baseline */
    { "identical_to_ar", NULL, "identical to ar", 1, K_AR_IDENTITY, 1, 0 },
    { "tpot_ms", "tpot_ms", "TPOT p50 (ms)", 0, K_SPEED, 0, 1 },
    { "acceptance_rate", "acceptance_rate", "acceptance rate", 1, K_EXACT, 0, 1 },
    { "peak_rss_kib", "peak_rss_kib", "peak RSS (KiB)", 0, K_SPEED, 0, 1 },
};
#define N_METRICS ((int)(sizeof METRICS / sizeof METRICS[0]))
static const char *const DEFAULT_COMPARE[] = { "tokens_per_s", "latency_ms", "ttft_ms", "mat", "greedy_identity",
                                                "identical_to_ar" };

const metric_def *db_cmp_metric_by_name(const char *name) {
    for (int i = 0; i < N_METRICS; i++)
        if (strcmp(METRICS[i].name, name) == 0) return &METRICS[i];
    return NULL;
}

const char *db_compare_metric(const char *name, int history) {
    static const struct { const char *alias, *name; } ALIASES[] = {
        { "tps", "tokens_per_s" }, { "tokens/s", "tokens_per_s" }, { "latency", "latency_ms" },
        { "ttft", "ttft_ms" }, { "identity", "greedy_identity" }, { "tpot", "tpot_ms" },
        { "MAT", "mat" }, { "#MAT", "mat" }, { "alpha", "acceptance_rate" }, { "rss", "peak_rss_kib" },
    };
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof ALIASES / sizeof ALIASES[0]; i++)
        if (strcmp(ALIASES[i].alias, name) == 0) name = ALIASES[i].name;
    const metric_def *m = db_cmp_metric_by_name(name);
    if (!m || !(history ? m->in_history : m->in_compare)) return NULL;
    return m->name;
}

const char *db_verdict_name(db_verdict v) {
    switch (v) {
    case DB_VERDICT_IMPROVED: return "improved";
    case DB_VERDICT_REGRESSED: return "regressed";
    case DB_VERDICT_NOISY: return "noisy";
    default: return "unchanged";
    }
}

int db_compare_format_ok(const char *f) {
    return f && (strcmp(f, "md") == 0 || strcmp(f, "csv") == 0 || strcmp(f, "junit") == 0);
}

/* ---- small helpers ------------------------------------------------------- */

/* median of x[0..n) (no NaN), reordering x; NaN when n == 0 */
double db_cmp_median(double *x, size_t n) {
    if (n == 0) return NAN;
    double hi = db_select_kth(x, n, n / 2);
    if (n % 2) return hi;
    /* the largest of the lower half */
    double lo = x[0];
    for (size_t i = 1; i < n / 2; i++)
        if (x[i] > lo) lo = x[i];
    return 0.5 * (lo + hi);
}

uint64_t db_cmp_hash_str(uint64_t h, const char *s) {
    for (; s && *s; s++) h = db_mix64(h ^ (unsigned char)*s);
    return db_mix64(h ^ 0xff);
}

/* ---- loading a run ------------------------------------------------------- */

typedef struct smp {
    int prompt, rep, turn;
    double v[N_METRICS];   /* by METRICS index (NaN when NULL) */
    int commits;
    char *toks;
} smp;

typedef struct ccase {
    int64_t id;
    char *label, *dataset, *model_name, *model_sha, *params;
    smp *s;                          /* loaded only while the case is compared (one case pair in memory) */
    int n;
    int matched;
    int id_found, id_cmp, id_same;   /* S7 identity row of the case (harness/run/identity.c) */
} ccase;

typedef struct side {
    int64_t run_id, started;
    char *rev;
    ccase *c;
    int n;
} side;

static void case_samples_free(ccase *c) {
    for (int k = 0; k < c->n; k++) free(c->s[k].toks);
    free(c->s);
    c->s = NULL;
    c->n = 0;
}

static void side_free(side *sd) {
    for (int i = 0; i < sd->n; i++) {
        ccase *c = &sd->c[i];
        case_samples_free(c);
        free(c->label);
        free(c->dataset);
        free(c->model_name);
        free(c->model_sha);
        free(c->params);
    }
    free(sd->c);
    free(sd->rev);
    memset(sd, 0, sizeof *sd);
}

/* run id 0 -> the latest that ended; fills run_id, rev, started */
static int resolve_run(db_store *st, int64_t want, side *sd, char *err, size_t errlen) {
    db_run_info ri;
    if (db_store_read_run(st, want, &ri, err, errlen) != 0) return -1;
    sd->run_id = ri.id;
    sd->rev = ri.decobench_rev;
    sd->started = ri.started_at;
    ri.decobench_rev = NULL;
    db_run_info_free(&ri);
    return 0;
}

static int load_samples(db_store *st, int64_t case_id, ccase *c, char *err, size_t errlen) {
    static const char *const cols[] = { "tokens_per_s", "latency_ms", "ttft_ms", "mat", "tpot_ms",
                                        "acceptance_rate", "peak_rss_kib" };
    enum { N_COLS = sizeof cols / sizeof cols[0] };
    int metric_of[N_COLS];   /* each column's metric, looked up once rather than per sample */
    for (int j = 0; j < N_COLS; j++) metric_of[j] = (int)(db_cmp_metric_by_name(cols[j]) - METRICS);
    db_sample_info *s = NULL;
    int n = 0;
    if (db_store_read_samples(st, case_id, 0, true, &s, &n, err, errlen) != 0) return -1;
    c->s = calloc((size_t)(n > 0 ? n : 1), sizeof *c->s);
    if (!c->s) {
        db_sample_infos_free(s, n);
        return db_errf(err, errlen, "out of memory");
    }
    for (int k = 0; k < n; k++) {
        smp *x = &c->s[c->n++];
        x->prompt = s[k].prompt_idx;
        x->rep = s[k].rep;
        x->turn = s[k].turn;
        x->commits = (int)s[k].n_commits;
        x->toks = s[k].output_tokens_json;
        s[k].output_tokens_json = NULL;
        for (int m = 0; m < N_METRICS; m++) x->v[m] = NAN;
        const double val[N_COLS] = { s[k].tokens_per_s, s[k].latency_ms, s[k].ttft_ms, s[k].mat, s[k].tpot_ms,
                                     s[k].acceptance_rate, s[k].peak_rss_kib };
        for (int j = 0; j < N_COLS; j++) x->v[metric_of[j]] = val[j];
    }
    db_sample_infos_free(s, n);
    return 0;
}

static int load_side(db_store *st, int64_t want, side *sd, char *err, size_t errlen) {
    if (resolve_run(st, want, sd, err, errlen) != 0) return -1;
    db_case_info *cs = NULL;
    int n = 0;
    if (db_store_read_cases(st, sd->run_id, NULL, &cs, &n, err, errlen) != 0) return -1;
    sd->c = calloc((size_t)(n > 0 ? n : 1), sizeof *sd->c);
    if (!sd->c) {
        db_case_infos_free(cs, n);
        return db_errf(err, errlen, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        ccase *c = &sd->c[sd->n++];
        c->id = cs[i].id;
        c->label = cs[i].label;
        c->dataset = cs[i].dataset;
        c->model_name = cs[i].model_name;
        c->model_sha = cs[i].model_sha256;
        c->params = cs[i].params_json;
        cs[i].label = cs[i].dataset = cs[i].model_name = cs[i].model_sha256 = cs[i].params_json = NULL;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        ccase *c = &sd->c[i];
        c->id_found = db_store_read_identity(st, cs[i].id, &c->id_cmp, &c->id_same, err, errlen);
        if (c->id_found < 0) rc = -1;
    }
    db_case_infos_free(cs, n);
    return rc;
}

/* a sample's key (prompt, rep, turn) and index; index -1 sorts first */
typedef struct skey { int prompt, rep, turn, i; } skey;
static int cmp_skey(const void *a, const void *b) {
    const skey *x = a, *y = b;
    if (x->prompt != y->prompt) return (x->prompt > y->prompt) - (x->prompt < y->prompt);
    if (x->rep != y->rep) return (x->rep > y->rep) - (x->rep < y->rep);
    if (x->turn != y->turn) return (x->turn > y->turn) - (x->turn < y->turn);
    return (x->i > y->i) - (x->i < y->i);
}

static bool same_case(const ccase *a, const ccase *b) {
    if (strcmp(a->label, b->label) != 0 || strcmp(a->dataset, b->dataset) != 0) return false;
    if (a->model_sha[0] && b->model_sha[0]) return strcmp(a->model_sha, b->model_sha) == 0;
    return strcmp(a->model_name, b->model_name) == 0;
}

static bool is_sampled(const char *params_json) {
    cJSON *j = params_json && *params_json ? cJSON_Parse(params_json) : NULL;
    const cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, "mode") : NULL;
    bool sampled = cJSON_IsString(m) && strcmp(m->valuestring, "sample") == 0;
    cJSON_Delete(j);
    return sampled;
}

/* ---- statistics of one case × metric ------------------------------------- */

/* finite values of metric m of case c into a new array */
static double *values_of(const ccase *c, int m, size_t *n) {
    double *x = malloc((size_t)(c->n > 0 ? c->n : 1) * sizeof *x);
    *n = 0;
    if (!x) return NULL;
    for (int i = 0; i < c->n; i++)
        if (isfinite(c->s[i].v[m])) x[(*n)++] = c->s[i].v[m];
    return x;
}

/* pooled #MAT over samples idx[0..n) (all when idx == NULL): Σ mat·commits /
 * Σ commits, or the mean of mat when no sample recorded commits */
static double pooled_mat(const ccase *c, const int *idx, int n) {
    const int m = (int)(db_cmp_metric_by_name("mat") - METRICS);
    double num = 0, den = 0, sum = 0;
    int cnt = 0;
    for (int k = 0; k < n; k++) {
        const smp *x = &c->s[idx ? idx[k] : k];
        if (!isfinite(x->v[m])) continue;
        sum += x->v[m];
        cnt++;
        if (x->commits > 0) {
            num += x->v[m] * x->commits;
            den += x->commits;
        }
    }
    if (den > 0) return num / den;
    return cnt ? sum / cnt : NAN;
}

/* Bootstrap CI of pooled #MAT(new)/#MAT(base) − 1.  Per side the pooled
 * value is Σ y / Σ w (y = mat·commits, w = commits; y = mat, w = 1 when no
 * sample recorded commits).  With at most DB_CMP_MAT_RESAMPLE samples in
 * the two runs together: a percentile bootstrap of resampled samples that
 * stops early (db_boot_stop, stats.h); above, the normal interval of the
 * linearised ratio (delta method: var(Σy/Σw) ≈ Σ (y − R·w)² / (Σw)²), which
 * the bootstrap distribution approaches at that size, in O(n) rather than
 * O(B·n).  400: a Spec-Bench-sized case (480 prompts) is above it, and the
 * delta interval's coverage is tested by simulation at 201 + 201 samples
 * (tests/test_compare.c); at 2,000 the bootstrap was 75% of `compare`'s
 * time on 138 cases of 736 samples (bench/scale.sh). */
#define DB_CMP_MAT_RESAMPLE 400
typedef struct mat_side { const double *y, *w; int n; double R, var; } mat_side;

static void mat_side_stats(mat_side *s) {
    double sy = 0, sw = 0;
    for (int k = 0; k < s->n; k++) {
        sy += s->y[k];
        sw += s->w[k];
    }
    s->R = sw > 0 ? sy / sw : NAN;
    double q = 0;
    for (int k = 0; k < s->n; k++) q += (s->y[k] - s->R * s->w[k]) * (s->y[k] - s->R * s->w[k]);
    s->var = sw > 0 && s->n > 1 ? q / (sw * sw) * s->n / (s->n - 1) : NAN;
}

/* y and w of a case's samples (malloc'd, *n of them) */
static int mat_arrays_of(const ccase *c, double **y, double **w, int *n) {
    const int m = (int)(db_cmp_metric_by_name("mat") - METRICS);
    *n = 0;
    *y = malloc((size_t)(c->n > 0 ? c->n : 1) * sizeof **y);
    *w = malloc((size_t)(c->n > 0 ? c->n : 1) * sizeof **w);
    if (!*y || !*w) return -1;
    bool commits = false;
    for (int k = 0; k < c->n; k++)
        if (isfinite(c->s[k].v[m]) && c->s[k].commits > 0) commits = true;
    for (int k = 0; k < c->n; k++) {
        const smp *x = &c->s[k];
        if (!isfinite(x->v[m])) continue;
        if (commits && !(x->commits > 0)) {
            /* no commits: counts for neither sum (as pooled_mat) */
            (*y)[*n] = 0;
            (*w)[(*n)++] = 0;
            continue;
        }
        (*y)[*n] = commits ? x->v[m] * x->commits : x->v[m];
        (*w)[(*n)++] = commits ? x->commits : 1;
    }
    return 0;
}

/* the pooled value of a resample of s */
static double mat_resample(const mat_side *s, db_rng *g) {
    double sy = 0, sw = 0;
    for (int i = 0; i < s->n; i++) {
        uint64_t j = db_rng_below(g, (uint64_t)s->n);
        sy += s->y[j];
        sw += s->w[j];
    }
    return sw > 0 ? sy / sw : NAN;
}

void db_cmp_mat_ratio_ci(const double *yb, const double *wb, int nb, const double *yn, const double *wn, int nn,
                         int B, double alpha, uint64_t seed, uint64_t stream, double *lo, double *hi) {
    *lo = *hi = NAN;
    mat_side sb = { yb, wb, nb, NAN, NAN }, sn = { yn, wn, nn, NAN, NAN };
    if (nb <= 0 || nn <= 0) return;
    mat_side_stats(&sb);
    mat_side_stats(&sn);
    if (!(sb.R != 0) || !isfinite(sb.R) || !isfinite(sn.R)) return;
    if (nb + nn > DB_CMP_MAT_RESAMPLE) {
        /* delta method on the log ratio: Var ≈ var_b/R_b² + var_n/R_n² */
        double z = 0, lz = 0, hz = 10;   /* z: the 1 − alpha/2 normal quantile by bisection */
        for (int it = 0; it < 100; it++) {
            z = (lz + hz) / 2;
            if (0.5 * erfc(z / sqrt(2.0)) > alpha / 2) lz = z;
            else hz = z;
        }
        if (sn.R > 0 && sb.R > 0 && isfinite(sb.var) && isfinite(sn.var)) {
            double sd = sqrt(sb.var / (sb.R * sb.R) + sn.var / (sn.R * sn.R)), c = log(sn.R / sb.R);
            *lo = exp(c - z * sd) - 1;
            *hi = exp(c + z * sd) - 1;
        }
        return;
    }
    double *r = malloc((size_t)(B > 0 ? B : 1) * sizeof *r);
    if (!r) return;
    db_rng g = db_rng_make(seed, stream);
    size_t k = 0;
    double plo = NAN, phi = NAN;
    int stable = 0;
    for (int t = 0; t < B; t++) {
        double mb = mat_resample(&sb, &g), mn = mat_resample(&sn, &g);
        if (mb != 0 && isfinite(mb) && isfinite(mn)) r[k++] = mn / mb - 1;
        int done_ = t + 1 >= DB_BOOT_MIN && (t + 1 - DB_BOOT_MIN) % DB_BOOT_STEP == 0 && k > 0 &&
                    db_boot_stop(r, k, 1 - alpha, &plo, &phi, &stable, lo, hi);
        if (done_) goto done;
    }
    if (k > 0) {
        *lo = db_quantile(r, k, alpha / 2);
        *hi = db_quantile(r, k, 1 - alpha / 2);
    }
done:
    free(r);
}

static void boot_mat(const ccase *b, const ccase *n, int B, double alpha, uint64_t seed, uint64_t stream,
                     double *lo, double *hi) {
    *lo = *hi = NAN;
    double *yb = NULL, *wb = NULL, *yn = NULL, *wn = NULL;
    int nb = 0, nn = 0;
    if (mat_arrays_of(b, &yb, &wb, &nb) == 0 && mat_arrays_of(n, &yn, &wn, &nn) == 0)
        db_cmp_mat_ratio_ci(yb, wb, nb, yn, wn, nn, B, alpha, seed, stream, lo, hi);
    free(yb);
    free(wb);
    free(yn);
    free(wn);
}

/* The bootstrap ranks of one case, shared by its metrics of the same
 * sample counts (tokens/s, latency and TTFT are measured on the same
 * samples): drawn once per (na, nb) from the case's stream rather than once
 * per metric (S13: two thirds of compare's bootstrap).  Each metric's
 * interval is still a percentile bootstrap of its own ratio of medians. */
typedef struct {
    uint64_t seed, stream;
    size_t na, nb;
    int B;
    size_t *ranks;   /* 4·B, NULL until drawn */
} case_ranks;

static const size_t *ranks_for(case_ranks *cr, size_t na, size_t nb, int B) {
    if (cr->ranks && cr->na == na && cr->nb == nb && cr->B == B) return cr->ranks;
    free(cr->ranks);
    cr->ranks = malloc(4 * (size_t)B * sizeof *cr->ranks);
    if (!cr->ranks) return NULL;
    cr->na = na;
    cr->nb = nb;
    cr->B = B;
    db_bootstrap_median_ratio_ranks(na, nb, B, cr->seed, cr->stream, cr->ranks);
    return cr->ranks;
}

static void compare_metric(const ccase *b, const ccase *n, const metric_def *md, const db_compare_opts *o,
                           uint64_t stream, case_ranks *cr, db_compare_row *row) {
    const int m = (int)(md - METRICS);
    const int B = o->bootstrap > 0 ? o->bootstrap : DB_COMPARE_BOOTSTRAP;
    row->metric = md->name;
    row->base = row->new_ = row->change = row->lo = row->hi = row->p = NAN;
    row->verdict = DB_VERDICT_UNCHANGED;
    if (md->kind == K_AR_IDENTITY) {
        /* within each run: prompts identical to the run's greedy ar / compared */
        row->n_base = b->id_found == 1 ? b->id_cmp : 0;
        row->n_new = n->id_found == 1 ? n->id_cmp : 0;
        if (b->id_found == 1 && b->id_cmp > 0) row->base = (double)b->id_same / b->id_cmp;
        if (n->id_found == 1 && n->id_cmp > 0) row->new_ = (double)n->id_same / n->id_cmp;
        if (isfinite(row->base) && isfinite(row->new_)) row->change = row->new_ - row->base;
        if (isfinite(row->new_) && row->new_ < 1.0) {
            if (isfinite(row->base) && row->base <= row->new_) row->note = "differs from ar in both runs";
            else {
                row->note = "differs from ar";
                row->verdict = DB_VERDICT_REGRESSED;
            }
        } else if (!isfinite(row->new_)) row->note = "not compared in NEW";
        return;
    }
    if (md->kind == K_IDENTITY) {
        row->n_base = b->n;
        row->n_new = n->n;
        if (n->n == 0 || b->n == 0) {
            row->note = n->n == 0 && b->n > 0 ? "no samples in NEW" : "no samples in BASE";
            if (n->n == 0 && b->n > 0) row->verdict = DB_VERDICT_REGRESSED;
            return;
        }
        /* each NEW sample against BASE's first sample of the same prompt,
         * repetition and turn: BASE's samples sorted by that key, binary search */
        int same = 0;
        skey *ord = malloc((size_t)b->n * sizeof *ord);
        if (!ord) {
            row->note = "out of memory";
            return;
        }
        for (int j = 0; j < b->n; j++) ord[j] = (skey){ b->s[j].prompt, b->s[j].rep, b->s[j].turn, j };
        qsort(ord, (size_t)b->n, sizeof *ord, cmp_skey);
        for (int i = 0; i < n->n; i++) {
            const smp *x = &n->s[i];
            skey want = { x->prompt, x->rep, x->turn, -1 };
            int lo = 0, hi = b->n;
            while (lo < hi) {
                int mid = lo + (hi - lo) / 2;
                if (cmp_skey(&ord[mid], &want) < 0) lo = mid + 1;
                else hi = mid;
            }
            if (lo < b->n && ord[lo].prompt == want.prompt && ord[lo].rep == want.rep && ord[lo].turn == want.turn)
                same += strcmp(x->toks, b->s[ord[lo].i].toks) == 0;
        }
        free(ord);
        row->base = 1.0;
        row->new_ = (double)same / n->n;
        row->change = row->new_ - 1.0;
        if (same < n->n) {
            if (is_sampled(n->params)) row->note = "sampled: not gated";
            else row->verdict = DB_VERDICT_REGRESSED;
        }
        return;
    }
    size_t nb = 0, nn = 0;
    double *xb = values_of(b, m, &nb), *xn = values_of(n, m, &nn);
    row->n_base = (int)nb;
    row->n_new = (int)nn;
    if (!xb || !xn || nb == 0 || nn == 0) {
        if (nn == 0 && nb > 0) {
            row->note = "no samples in NEW";
            row->verdict = DB_VERDICT_REGRESSED;
        } else row->note = nb == 0 ? "no samples in BASE" : "out of memory";
        free(xb);
        free(xn);
        return;
    }
    row->p = db_mann_whitney_p(xb, nb, xn, nn, NULL);
    const double eff = o->min_effect;
    if (md->kind == K_MAT) {
        row->base = pooled_mat(b, NULL, b->n);
        row->new_ = pooled_mat(n, NULL, n->n);
        boot_mat(b, n, B, o->alpha, o->seed, stream, &row->lo, &row->hi);
    } else {
        /* the ratio of medians: bootstrap replicates drawn from the order
         * statistics (stats.h db_bootstrap_median_draw), O(1) each */
        db_sort_doubles(xb, nb);
        db_sort_doubles(xn, nn);
        row->base = db_quantile_sorted(xb, nb, 0.5);
        row->new_ = db_quantile_sorted(xn, nn, 0.5);
        const size_t *ranks = ranks_for(cr, nb, nn, B);
        if (ranks) db_bootstrap_median_ratio_ci_ranks(xb, nb, xn, nn, 1 - o->alpha, B, ranks, &row->lo, &row->hi);
        else row->note = "out of memory";
    }
    free(xb);
    free(xn);
    if (row->base != 0 && isfinite(row->base) && isfinite(row->new_)) row->change = row->new_ / row->base - 1;
    else if (row->base == 0 && row->new_ == 0) row->change = 0;
    if (!isfinite(row->change)) {
        row->note = "not comparable (zero base)";
        return;
    }
    const double c = md->higher_better ? row->change : -row->change;   /* > 0: better */
    if (md->kind == K_MAT || md->kind == K_EXACT) {
        /* deterministic: any change beyond float noise is flagged */
        if (c < -DB_COMPARE_FLOAT_NOISE) row->verdict = DB_VERDICT_REGRESSED;
        else if (c > DB_COMPARE_FLOAT_NOISE) row->verdict = DB_VERDICT_IMPROVED;
        return;
    }
    const bool sig = isfinite(row->p) && row->p < o->alpha;
    if (sig && c < -eff) row->verdict = DB_VERDICT_REGRESSED;
    else if (sig && c > eff) row->verdict = DB_VERDICT_IMPROVED;
    else if (!sig && isfinite(row->lo) && isfinite(row->hi) && row->hi - row->lo > 2 * eff)
        row->verdict = DB_VERDICT_NOISY;
}

static char *case_name(const ccase *c) {
    db_str b;
    db_str_init(&b);
    if (db_str_printf(&b, "%s / %s / %s", c->label, c->dataset, c->model_name) != 0) {
        db_str_free(&b);
        return NULL;
    }
    return db_str_take(&b);
}

void db_compare_result_free(db_compare_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_rows; i++) {
        free(r->rows[i].label);
        free(r->rows[i].dataset);
        free(r->rows[i].model);
    }
    free(r->rows);
    for (int i = 0; i < r->n_only_base; i++) free(r->only_base[i]);
    for (int i = 0; i < r->n_only_new; i++) free(r->only_new[i]);
    free(r->only_base);
    free(r->only_new);
    free(r->base_rev);
    free(r->new_rev);
    memset(r, 0, sizeof *r);
}

static int push_name(char ***list, int *n, const ccase *c) {
    char **nl = realloc(*list, (size_t)(*n + 1) * sizeof *nl);
    if (!nl) return -1;
    *list = nl;
    if (!(nl[*n] = case_name(c))) return -1;
    (*n)++;
    return 0;
}

int db_compare_runs(db_store *base, int64_t base_run, db_store *nw, int64_t new_run,
                    const db_compare_opts *o, db_compare_result *res, char *err, size_t errlen) {
    memset(res, 0, sizeof *res);
    db_compare_opts d = { NULL, 0, DB_COMPARE_MIN_EFFECT, DB_COMPARE_ALPHA, DB_COMPARE_BOOTSTRAP, 1 };
    if (!o) o = &d;
    const char *const *names = o->metrics && o->n_metrics > 0 ? o->metrics : DEFAULT_COMPARE;
    int n_names = o->metrics && o->n_metrics > 0 ? o->n_metrics
                                                 : (int)(sizeof DEFAULT_COMPARE / sizeof DEFAULT_COMPARE[0]);
    const metric_def *defs[N_METRICS];
    int nd = 0;
    for (int i = 0; i < n_names; i++) {
        const char *cn = db_compare_metric(names[i], 0);
        if (!cn) return db_errf(err, errlen, "unknown metric '%s'", names[i]);
        const metric_def *md = db_cmp_metric_by_name(cn);
        bool dup = false;
        for (int k = 0; k < nd; k++) dup |= defs[k] == md;
        if (!dup) defs[nd++] = md;
    }
    if (!(o->alpha > 0 && o->alpha < 1)) return db_errf(err, errlen, "alpha must be in (0, 1)");
    if (!(o->min_effect >= 0)) return db_errf(err, errlen, "min effect must be >= 0");
    side sb = { 0 }, sn = { 0 };
    int rc = -1;
    if (load_side(base, base_run, &sb, err, errlen) != 0 || load_side(nw, new_run, &sn, err, errlen) != 0)
        goto out;
    res->base_run = sb.run_id;
    res->new_run = sn.run_id;
    res->base_started = sb.started;
    res->new_started = sn.started;
    res->base_rev = db_strdup(sb.rev);
    res->new_rev = db_strdup(sn.rev);
    res->alpha = o->alpha;
    res->min_effect = o->min_effect;
    for (int i = 0; i < sb.n; i++) {
        ccase *cb = &sb.c[i];
        ccase *cn = NULL;
        for (int j = 0; j < sn.n && !cn; j++)
            if (!sn.c[j].matched && same_case(cb, &sn.c[j])) cn = &sn.c[j];
        if (!cn) {
            if (push_name(&res->only_base, &res->n_only_base, cb) != 0) goto oom;
            continue;
        }
        cb->matched = cn->matched = 1;
        /* the two cases' samples, for their rows only: memory is one case
         * pair, not two runs */
        if (load_samples(base, cb->id, cb, err, errlen) != 0 || load_samples(nw, cn->id, cn, err, errlen) != 0)
            goto out;
        db_compare_row *nr = realloc(res->rows, (size_t)(res->n_rows + nd) * sizeof *nr);
        if (!nr) goto oom;
        res->rows = nr;
        uint64_t h = db_cmp_hash_str(db_cmp_hash_str(db_cmp_hash_str(0x5eed, cb->label), cb->dataset), cb->model_name);
        case_ranks cr = { o->seed, db_mix64(h + 0x4d454449414eULL), 0, 0, 0, NULL };
        for (int k = 0; k < nd; k++) {
            /* S7 identity: only cases that some run compared with its ar */
            if (defs[k]->kind == K_AR_IDENTITY && cb->id_found != 1 && cn->id_found != 1) continue;
            db_compare_row *r = &res->rows[res->n_rows];
            memset(r, 0, sizeof *r);
            r->label = db_strdup(cb->label);
            r->dataset = db_strdup(cb->dataset);
            r->model = db_strdup(cb->model_name);
            res->n_rows++;
            if (!r->label || !r->dataset || !r->model) {
                free(cr.ranks);
                goto oom;
            }
            compare_metric(cb, cn, defs[k], o, db_mix64(h + (uint64_t)(defs[k] - METRICS)), &cr, r);
            res->n_verdict[r->verdict]++;
        }
        free(cr.ranks);
        case_samples_free(cb);
        case_samples_free(cn);
    }
    for (int j = 0; j < sn.n; j++)
        if (!sn.c[j].matched && push_name(&res->only_new, &res->n_only_new, &sn.c[j]) != 0) goto oom;
    rc = 0;
    goto out;
oom:
    db_errf(err, errlen, "out of memory");
out:
    side_free(&sb);
    side_free(&sn);
    if (rc != 0) db_compare_result_free(res);
    return rc;
}

/* ---- writing the comparison --------------------------------------------- */

void db_cmp_fmt_val(char *buf, size_t len, double v, const metric_def *md) {
    double a = fabs(v);
    if (!isfinite(v)) snprintf(buf, len, "-");
    else if (md->kind == K_IDENTITY || md->kind == K_EXACT || md->kind == K_AR_IDENTITY) snprintf(buf, len, "%.3f", v);
    else if (md->kind == K_MAT) snprintf(buf, len, "%.4g", v);
    else if (a >= 100) snprintf(buf, len, "%.0f", v);
    else if (a >= 10) snprintf(buf, len, "%.1f", v);
    else if (a >= 1) snprintf(buf, len, "%.2f", v);
    else snprintf(buf, len, "%.3g", v);
}

void db_cmp_fmt_pct(char *buf, size_t len, double v) {
    if (!isfinite(v)) snprintf(buf, len, "-");
    else if (v != 0 && fabs(v) < 0.0005) snprintf(buf, len, "%+.2g%%", 100 * v);
    else snprintf(buf, len, "%+.1f%%", 100 * v);
}

static void fmt_change(char *buf, size_t len, const db_compare_row *r) {
    char a[32], b[32], c[32];
    db_cmp_fmt_pct(a, sizeof a, r->change);
    if (!isfinite(r->lo) || !isfinite(r->hi)) snprintf(buf, len, "%s", a);
    else {
        db_cmp_fmt_pct(b, sizeof b, r->lo);
        db_cmp_fmt_pct(c, sizeof c, r->hi);
        snprintf(buf, len, "%s [%s, %s]", a, b, c);
    }
}

static void fmt_p(char *buf, size_t len, double p) {
    if (!isfinite(p)) snprintf(buf, len, "-");
    else if (p < 0.001) snprintf(buf, len, "%.1e", p);
    else snprintf(buf, len, "%.3f", p);
}

static void run_desc(char *buf, size_t len, int64_t id, const char *rev, int64_t started) {
    char t[40];
    db_iso8601(started, t, sizeof t);
    snprintf(buf, len, "run %lld (rev %s, %s)", (long long)id, rev && *rev ? rev : "?", t);
}

static void write_md(const db_compare_result *r, FILE *out) {
    char b[160], n[160];
    run_desc(b, sizeof b, r->base_run, r->base_rev, r->base_started);
    run_desc(n, sizeof n, r->new_run, r->new_rev, r->new_started);
    fputs("**decobench compare** — base: ", out);
    db_md_text(out, b);
    fputs(" — new: ", out);
    db_md_text(out, n);
    fprintf(out, " — alpha %g, min effect %g%%\n\n", r->alpha, 100 * r->min_effect);
    fprintf(out, "| label | dataset | model | metric | n base/new | base | new | change [%g%% CI] | p | verdict |\n",
            100 * (1 - r->alpha));
    fputs("|---|---|---|---|--:|--:|--:|--:|--:|---|\n", out);
    for (int i = 0; i < r->n_rows; i++) {
        const db_compare_row *x = &r->rows[i];
        const metric_def *md = db_cmp_metric_by_name(x->metric);
        char buf[160];
        fputs("|", out);
        db_md_cell(out, x->label);
        db_md_cell(out, x->dataset);
        db_md_cell(out, x->model);
        db_md_cell(out, md->title);
        snprintf(buf, sizeof buf, "%d/%d", x->n_base, x->n_new);
        db_md_cell(out, buf);
        db_cmp_fmt_val(buf, sizeof buf, x->base, md);
        db_md_cell(out, buf);
        db_cmp_fmt_val(buf, sizeof buf, x->new_, md);
        db_md_cell(out, buf);
        fmt_change(buf, sizeof buf, x);
        db_md_cell(out, buf);
        fmt_p(buf, sizeof buf, x->p);
        db_md_cell(out, buf);
        const char *v = db_verdict_name(x->verdict);
        if (x->verdict == DB_VERDICT_REGRESSED) snprintf(buf, sizeof buf, "**%s**", v);
        else snprintf(buf, sizeof buf, "%s", v);
        if (x->note) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), " (%s)", x->note);
        db_md_cell(out, buf);
        fputc('\n', out);
    }
    fprintf(out, "\n%s%d regressed%s, %d improved, %d noisy, %d unchanged\n",
            r->n_verdict[DB_VERDICT_REGRESSED] ? "**" : "", r->n_verdict[DB_VERDICT_REGRESSED],
            r->n_verdict[DB_VERDICT_REGRESSED] ? "**" : "", r->n_verdict[DB_VERDICT_IMPROVED],
            r->n_verdict[DB_VERDICT_NOISY], r->n_verdict[DB_VERDICT_UNCHANGED]);
    for (int i = 0; i < r->n_only_base; i++) {
        fputs(i ? "; " : "\nonly in base (not compared): ", out);
        db_md_text(out, r->only_base[i]);
    }
    if (r->n_only_base) fputc('\n', out);
    for (int i = 0; i < r->n_only_new; i++) {
        fputs(i ? "; " : "\nonly in new (not compared): ", out);
        db_md_text(out, r->only_new[i]);
    }
    if (r->n_only_new) fputc('\n', out);
}

static void write_csv(const db_compare_result *r, FILE *out) {
    static const char *const heads[] = { "base_run", "new_run", "label", "dataset", "model", "metric",
                                         "n_base", "n_new", "base", "new", "change", "change_lo",
                                         "change_hi", "p", "verdict", "note" };
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) db_csv_field(out, heads[i], i == 0);
    fputs("\r\n", out);
    for (int i = 0; i < r->n_rows; i++) {
        const db_compare_row *x = &r->rows[i];
        char buf[40];
        snprintf(buf, sizeof buf, "%lld", (long long)r->base_run);
        db_csv_field(out, buf, 1);
        snprintf(buf, sizeof buf, "%lld", (long long)r->new_run);
        db_csv_field(out, buf, 0);
        db_csv_field(out, x->label, 0);
        db_csv_field(out, x->dataset, 0);
        db_csv_field(out, x->model, 0);
        db_csv_field(out, x->metric, 0);
        snprintf(buf, sizeof buf, "%d", x->n_base);
        db_csv_field(out, buf, 0);
        snprintf(buf, sizeof buf, "%d", x->n_new);
        db_csv_field(out, buf, 0);
        db_csv_num(out, x->base);
        db_csv_num(out, x->new_);
        db_csv_num(out, x->change);
        db_csv_num(out, x->lo);
        db_csv_num(out, x->hi);
        db_csv_num(out, x->p);
        db_csv_field(out, db_verdict_name(x->verdict), 0);
        db_csv_field(out, x->note ? x->note : "", 0);
        fputs("\r\n", out);
    }
}

/* XML 1.0 attribute/text escaping; control characters (not allowed in XML
 * 1.0) become '?' */
static void xml_text(FILE *out, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') fputc('?', out);
            else fputc(c, out);
        }
    }
}

static void junit_message(char *buf, size_t len, const db_compare_result *r, const db_compare_row *x) {
    const metric_def *md = db_cmp_metric_by_name(x->metric);
    char b[32], n[32], ch[96], p[32];
    db_cmp_fmt_val(b, sizeof b, x->base, md);
    db_cmp_fmt_val(n, sizeof n, x->new_, md);
    fmt_change(ch, sizeof ch, x);
    fmt_p(p, sizeof p, x->p);
    snprintf(buf, len, "%s %s: %s -> %s, change %s, p %s (alpha %g, min effect %g%%)%s%s",
             md->title, db_verdict_name(x->verdict), b, n, ch, p, r->alpha, 100 * r->min_effect,
             x->note ? "; " : "", x->note ? x->note : "");
}

static void write_junit(const db_compare_result *r, FILE *out) {
    int tests = r->n_rows + r->n_only_base + r->n_only_new;
    int failures = r->n_verdict[DB_VERDICT_REGRESSED];
    int skipped = r->n_only_base + r->n_only_new;
    char name[128];
    snprintf(name, sizeof name, "decobench compare run %lld -> run %lld", (long long)r->base_run,
             (long long)r->new_run);
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
    fprintf(out, "<testsuites name=\"decobench compare\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"%d\">\n",
            tests, failures, skipped);
    fputs("  <testsuite name=\"", out);
    xml_text(out, name);
    fprintf(out, "\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"%d\">\n", tests, failures, skipped);
    char b[160], n[160];
    run_desc(b, sizeof b, r->base_run, r->base_rev, r->base_started);
    run_desc(n, sizeof n, r->new_run, r->new_rev, r->new_started);
    fputs("    <properties>\n      <property name=\"base\" value=\"", out);
    xml_text(out, b);
    fputs("\"/>\n      <property name=\"new\" value=\"", out);
    xml_text(out, n);
    fprintf(out, "\"/>\n      <property name=\"alpha\" value=\"%g\"/>\n"
                 "      <property name=\"min_effect\" value=\"%g\"/>\n    </properties>\n",
            r->alpha, r->min_effect);
    for (int i = 0; i < r->n_rows; i++) {
        const db_compare_row *x = &r->rows[i];
        char msg[512];
        junit_message(msg, sizeof msg, r, x);
        fputs("    <testcase classname=\"decobench.", out);
        xml_text(out, x->label);
        fputs(" / ", out);
        xml_text(out, x->dataset);
        fputs(" / ", out);
        xml_text(out, x->model);
        fputs("\" name=\"", out);
        xml_text(out, x->metric);
        fputs("\">\n", out);
        if (x->verdict == DB_VERDICT_REGRESSED) {
            fputs("      <failure type=\"regression\" message=\"", out);
            xml_text(out, msg);
            fputs("\">", out);
            xml_text(out, msg);
            fputs("</failure>\n", out);
        } else {
            fputs("      <system-out>", out);
            xml_text(out, msg);
            fputs("</system-out>\n", out);
        }
        fputs("    </testcase>\n", out);
    }
    for (int k = 0; k < 2; k++) {
        char **list = k ? r->only_new : r->only_base;
        int nl = k ? r->n_only_new : r->n_only_base;
        for (int i = 0; i < nl; i++) {
            fputs("    <testcase classname=\"decobench.", out);
            xml_text(out, list[i]);
            fprintf(out, "\" name=\"present\">\n      <skipped message=\"only in %s run\"/>\n    </testcase>\n",
                    k ? "the new" : "the base");
        }
    }
    fputs("  </testsuite>\n</testsuites>\n", out);
}

int db_compare_write(const db_compare_result *r, const char *format, FILE *out) {
    if (!format || strcmp(format, "md") == 0) write_md(r, out);
    else if (strcmp(format, "csv") == 0) write_csv(r, out);
    else if (strcmp(format, "junit") == 0) write_junit(r, out);
    else return -1;
    return ferror(out) ? -1 : 0;
}
