/* compare.c — regression detection on the results database: compare two
 * runs, the per-run history of a metric with change points, and merging
 * results databases.  Definitions in compare.h; the nightly recipe in
 * docs/regression.md.
 */
#include "compare.h"
#include "format.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/identity.h"
#include "harness/util/rng.h"
#include "harness/util/stats.h"
#include "harness/util/util.h"

/* ---- metrics ------------------------------------------------------------- */

typedef enum { K_SPEED, K_MAT, K_IDENTITY, K_EXACT, K_AR_IDENTITY } metric_kind;

typedef struct metric_def {
    const char *name;      /* canonical */
    const char *column;    /* sample column (NULL: greedy_identity) */
    const char *title;     /* display */
    int higher_better;
    metric_kind kind;
    int in_compare, in_history;
} metric_def;

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

static const metric_def *metric_by_name(const char *name) {
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
    const metric_def *m = metric_by_name(name);
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

/* k-th smallest of x[0..n) (0-based), reordering x: Hoare's quickselect */
static double select_kth(double *x, size_t n, size_t k) {
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

/* median of x[0..n) (no NaN), reordering x; NaN when n == 0 */
static double median_inplace(double *x, size_t n) {
    if (n == 0) return NAN;
    double hi = select_kth(x, n, n / 2);
    if (n % 2) return hi;
    /* the largest of the lower half */
    double lo = x[0];
    for (size_t i = 1; i < n / 2; i++)
        if (x[i] > lo) lo = x[i];
    return 0.5 * (lo + hi);
}

static uint64_t hash_str(uint64_t h, const char *s) {
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
    char *label, *dataset, *model_name, *model_sha, *params;
    smp *s;
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

static void side_free(side *sd) {
    for (int i = 0; i < sd->n; i++) {
        ccase *c = &sd->c[i];
        for (int k = 0; k < c->n; k++) free(c->s[k].toks);
        free(c->s);
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

/* run id 0 -> the latest; fills run_id, rev, started */
static int resolve_run(sqlite3 *db, int64_t want, side *sd, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    /* "latest": the latest run that ended (harness/run/store.h) */
    if (want <= 0 && db_store_pick_run(db, 0, &want, NULL, 0, err, errlen) != 0) return -1;
    const char *sql = want > 0 ? "SELECT id, decobench_rev, started_at FROM run WHERE id = ?"
                               : "SELECT id, decobench_rev, started_at FROM run ORDER BY id DESC LIMIT 1";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_sql_fail(db, "read run", err, errlen);
    if (want > 0) sqlite3_bind_int64(s, 1, want);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) return db_sql_fail(db, "read run", err, errlen);
        if (want > 0) return db_errf(err, errlen, "no run with id %lld", (long long)want);
        return db_errf(err, errlen, "no runs in database");
    }
    sd->run_id = sqlite3_column_int64(s, 0);
    sd->rev = db_sql_text(s, 1);
    sd->started = sqlite3_column_int64(s, 2);
    sqlite3_finalize(s);
    return sd->rev ? 0 : db_errf(err, errlen, "out of memory");
}

static int load_samples(sqlite3 *db, int64_t case_id, ccase *c, char *err, size_t errlen) {
    static const char *const sql[2] = {
        "SELECT prompt_idx, rep, turn, n_commits, output_tokens_json, tokens_per_s, latency_ms, ttft_ms, mat,"
        " tpot_ms, acceptance_rate, peak_rss_kib FROM sample WHERE case_id = ? ORDER BY id",
        /* databases written before the turn column */
        "SELECT prompt_idx, rep, 0, n_commits, output_tokens_json, tokens_per_s, latency_ms, ttft_ms, mat,"
        " tpot_ms, acceptance_rate, peak_rss_kib FROM sample WHERE case_id = ? ORDER BY id",
    };
    static const char *const cols[] = { "tokens_per_s", "latency_ms", "ttft_ms", "mat", "tpot_ms",
                                        "acceptance_rate", "peak_rss_kib" };
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql[0], -1, &s, NULL) != SQLITE_OK &&
        sqlite3_prepare_v2(db, sql[1], -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(db, "read samples", err, errlen);
    sqlite3_bind_int64(s, 1, case_id);
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (c->n == cap) {
            cap = cap ? 2 * cap : 16;
            smp *ns = realloc(c->s, (size_t)cap * sizeof *ns);
            if (!ns) {
                sqlite3_finalize(s);
                return db_errf(err, errlen, "out of memory");
            }
            c->s = ns;
        }
        smp *x = &c->s[c->n++];
        memset(x, 0, sizeof *x);
        x->prompt = sqlite3_column_int(s, 0);
        x->rep = sqlite3_column_int(s, 1);
        x->turn = sqlite3_column_int(s, 2);
        x->commits = sqlite3_column_int(s, 3);
        x->toks = db_sql_text(s, 4);
        for (int m = 0; m < N_METRICS; m++) x->v[m] = NAN;
        for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
            const metric_def *d = metric_by_name(cols[k]);
            x->v[d - METRICS] = db_sql_real(s, 5 + (int)k);
        }
        if (!x->toks) {
            sqlite3_finalize(s);
            return db_errf(err, errlen, "out of memory");
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : db_sql_fail(db, "read samples", err, errlen);
}

static int load_side(sqlite3 *db, int64_t want, side *sd, char *err, size_t errlen) {
    if (resolve_run(db, want, sd, err, errlen) != 0) return -1;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, label, dataset, model_name, model_sha256, params_json FROM \"case\""
                           " WHERE run_id = ? ORDER BY idx, id", -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(db, "read cases", err, errlen);
    sqlite3_bind_int64(s, 1, sd->run_id);
    int rc;
    int64_t *ids = NULL;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ccase *nc = realloc(sd->c, (size_t)(sd->n + 1) * sizeof *nc);
        int64_t *ni = realloc(ids, (size_t)(sd->n + 1) * sizeof *ni);
        if (nc) sd->c = nc;
        if (ni) ids = ni;
        if (!nc || !ni) {
            sqlite3_finalize(s);
            free(ids);
            return db_errf(err, errlen, "out of memory");
        }
        ccase *c = &sd->c[sd->n];
        memset(c, 0, sizeof *c);
        ids[sd->n++] = sqlite3_column_int64(s, 0);
        c->label = db_sql_text(s, 1);
        c->dataset = db_sql_text(s, 2);
        c->model_name = db_sql_text(s, 3);
        c->model_sha = db_sql_text(s, 4);
        c->params = db_sql_text(s, 5);
        if (!c->label || !c->dataset || !c->model_name || !c->model_sha || !c->params) {
            sqlite3_finalize(s);
            free(ids);
            return db_errf(err, errlen, "out of memory");
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(ids);
        return db_sql_fail(db, "read cases", err, errlen);
    }
    for (int i = 0; i < sd->n; i++)
        if (load_samples(db, ids[i], &sd->c[i], err, errlen) != 0) {
            free(ids);
            return -1;
        }
    for (int i = 0; i < sd->n; i++) {
        ccase *c = &sd->c[i];
        c->id_found = db_identity_get(db, ids[i], &c->id_cmp, &c->id_same);
        if (c->id_found < 0) {
            free(ids);
            return db_sql_fail(db, "read identity", err, errlen);
        }
    }
    free(ids);
    return 0;
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
    const int m = (int)(metric_by_name("mat") - METRICS);
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

/* percentile bootstrap CI (level 1 − alpha) of med(new)/med(base) − 1 */
static void boot_ratio(const double *xb, size_t nb, const double *xn, size_t nn, int B, double alpha,
                       uint64_t seed, uint64_t stream, double *lo, double *hi) {
    *lo = *hi = NAN;
    double *r = malloc((size_t)B * sizeof *r), *wb = malloc(nb * sizeof *wb), *wn = malloc(nn * sizeof *wn);
    if (!r || !wb || !wn) goto done;
    db_rng g = db_rng_make(seed, stream);
    int k = 0;
    for (int b = 0; b < B; b++) {
        for (size_t i = 0; i < nb; i++) wb[i] = xb[db_rng_below(&g, nb)];
        for (size_t i = 0; i < nn; i++) wn[i] = xn[db_rng_below(&g, nn)];
        double mb = median_inplace(wb, nb), mn = median_inplace(wn, nn);
        if (mb != 0 && isfinite(mb) && isfinite(mn)) r[k++] = mn / mb - 1;
    }
    if (k > 0) {
        *lo = db_quantile(r, (size_t)k, alpha / 2);
        *hi = db_quantile(r, (size_t)k, 1 - alpha / 2);
    }
done:
    free(r);
    free(wb);
    free(wn);
}

/* bootstrap CI of pooled #MAT(new)/#MAT(base) − 1 */
static void boot_mat(const ccase *b, const ccase *n, int B, double alpha, uint64_t seed, uint64_t stream,
                     double *lo, double *hi) {
    *lo = *hi = NAN;
    double *r = malloc((size_t)B * sizeof *r);
    int *ib = malloc((size_t)b->n * sizeof *ib), *in = malloc((size_t)n->n * sizeof *in);
    if (!r || !ib || !in) goto done;
    db_rng g = db_rng_make(seed, stream);
    int k = 0;
    for (int t = 0; t < B; t++) {
        for (int i = 0; i < b->n; i++) ib[i] = (int)db_rng_below(&g, (uint64_t)b->n);
        for (int i = 0; i < n->n; i++) in[i] = (int)db_rng_below(&g, (uint64_t)n->n);
        double mb = pooled_mat(b, ib, b->n), mn = pooled_mat(n, in, n->n);
        if (mb != 0 && isfinite(mb) && isfinite(mn)) r[k++] = mn / mb - 1;
    }
    if (k > 0) {
        *lo = db_quantile(r, (size_t)k, alpha / 2);
        *hi = db_quantile(r, (size_t)k, 1 - alpha / 2);
    }
done:
    free(r);
    free(ib);
    free(in);
}

static void compare_metric(const ccase *b, const ccase *n, const metric_def *md, const db_compare_opts *o,
                           uint64_t stream, db_compare_row *row) {
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
        int same = 0;
        for (int i = 0; i < n->n; i++) {
            const smp *x = &n->s[i];
            for (int j = 0; j < b->n; j++) {
                const smp *y = &b->s[j];
                if (y->prompt == x->prompt && y->rep == x->rep && y->turn == x->turn) {
                    same += strcmp(x->toks, y->toks) == 0;
                    break;
                }
            }
        }
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
        row->base = db_median(xb, nb);
        row->new_ = db_median(xn, nn);
        boot_ratio(xb, nb, xn, nn, B, o->alpha, o->seed, stream, &row->lo, &row->hi);
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
        const metric_def *md = metric_by_name(cn);
        bool dup = false;
        for (int k = 0; k < nd; k++) dup |= defs[k] == md;
        if (!dup) defs[nd++] = md;
    }
    if (!(o->alpha > 0 && o->alpha < 1)) return db_errf(err, errlen, "alpha must be in (0, 1)");
    if (!(o->min_effect >= 0)) return db_errf(err, errlen, "min effect must be >= 0");
    side sb = { 0 }, sn = { 0 };
    int rc = -1;
    if (load_side(db_store_handle(base), base_run, &sb, err, errlen) != 0 ||
        load_side(db_store_handle(nw), new_run, &sn, err, errlen) != 0)
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
        db_compare_row *nr = realloc(res->rows, (size_t)(res->n_rows + nd) * sizeof *nr);
        if (!nr) goto oom;
        res->rows = nr;
        uint64_t h = hash_str(hash_str(hash_str(0x5eed, cb->label), cb->dataset), cb->model_name);
        for (int k = 0; k < nd; k++) {
            /* S7 identity: only cases that some run compared with its ar */
            if (defs[k]->kind == K_AR_IDENTITY && cb->id_found != 1 && cn->id_found != 1) continue;
            db_compare_row *r = &res->rows[res->n_rows];
            memset(r, 0, sizeof *r);
            r->label = db_strdup(cb->label);
            r->dataset = db_strdup(cb->dataset);
            r->model = db_strdup(cb->model_name);
            res->n_rows++;
            if (!r->label || !r->dataset || !r->model) goto oom;
            compare_metric(cb, cn, defs[k], o, db_mix64(h + (uint64_t)(defs[k] - METRICS)), r);
            res->n_verdict[r->verdict]++;
        }
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

static void fmt_val(char *buf, size_t len, double v, const metric_def *md) {
    double a = fabs(v);
    if (!isfinite(v)) snprintf(buf, len, "-");
    else if (md->kind == K_IDENTITY || md->kind == K_EXACT || md->kind == K_AR_IDENTITY) snprintf(buf, len, "%.3f", v);
    else if (md->kind == K_MAT) snprintf(buf, len, "%.4g", v);
    else if (a >= 100) snprintf(buf, len, "%.0f", v);
    else if (a >= 10) snprintf(buf, len, "%.1f", v);
    else if (a >= 1) snprintf(buf, len, "%.2f", v);
    else snprintf(buf, len, "%.3g", v);
}

static void fmt_pct(char *buf, size_t len, double v) {
    if (!isfinite(v)) snprintf(buf, len, "-");
    else if (v != 0 && fabs(v) < 0.0005) snprintf(buf, len, "%+.2g%%", 100 * v);
    else snprintf(buf, len, "%+.1f%%", 100 * v);
}

static void fmt_change(char *buf, size_t len, const db_compare_row *r) {
    char a[32], b[32], c[32];
    fmt_pct(a, sizeof a, r->change);
    if (!isfinite(r->lo) || !isfinite(r->hi)) snprintf(buf, len, "%s", a);
    else {
        fmt_pct(b, sizeof b, r->lo);
        fmt_pct(c, sizeof c, r->hi);
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
        const metric_def *md = metric_by_name(x->metric);
        char buf[160];
        fputs("|", out);
        db_md_cell(out, x->label);
        db_md_cell(out, x->dataset);
        db_md_cell(out, x->model);
        db_md_cell(out, md->title);
        snprintf(buf, sizeof buf, "%d/%d", x->n_base, x->n_new);
        db_md_cell(out, buf);
        fmt_val(buf, sizeof buf, x->base, md);
        db_md_cell(out, buf);
        fmt_val(buf, sizeof buf, x->new_, md);
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
    const metric_def *md = metric_by_name(x->metric);
    char b[32], n[32], ch[96], p[32];
    fmt_val(b, sizeof b, x->base, md);
    fmt_val(n, sizeof n, x->new_, md);
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

/* ---- change points -------------------------------------------------------- */

/* x[0..n) centred on its mean, into r (the statistic is shift-invariant;
 * centring keeps the prefix sums small) */
static void centred(const double *x, int n, double *r) {
    double mean = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) r[i] = x[i] - mean;
}

/* The split statistic of a segment r[0..n): the largest
 * standardised difference |mean(r[0..t)) − mean(r[t..k))|·sqrt(nL·nR/(nL+nR))
 * over change points t and right ends k (both parts at least m long), as
 * E-Divisive searches (τ, κ): a shift that reverts later in the segment
 * (up, then down again) is found as well as a lasting one.  Segments longer
 * than DB_CP_FULL_SEARCH fix k = n (O(n) instead of O(n²) per evaluation).
 * *arg gets the best t. */
#define DB_CP_FULL_SEARCH 500
static double split_stat(const double *r, int n, int m, double *prefix, int *arg) {
    prefix[0] = 0;
    for (int i = 0; i < n; i++) prefix[i + 1] = prefix[i] + r[i];
    double best = -1;
    int bi = -1;
    for (int t = m; t + m <= n; t++) {
        double ml = prefix[t] / t;
        int k0 = n > DB_CP_FULL_SEARCH ? n : t + m;
        for (int k = k0; k <= n; k++) {
            int nr = k - t;
            double mr = (prefix[k] - prefix[t]) / nr;
            double T = fabs(ml - mr) * sqrt((double)t * nr / (t + nr));
            if (T > best + 1e-12) {
                best = T;
                bi = t;
            }
        }
    }
    if (arg) *arg = bi;
    return best;
}

typedef struct { int idx; double p; } cpoint;
static int cmp_cpoint(const void *a, const void *b) {
    const cpoint *x = a, *y = b;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int db_changepoints(const double *x, int n, int min_segment, int n_perm, double alpha, uint64_t seed,
                    int *idx, double *p, int max_cp) {
    if (min_segment < 1) min_segment = 1;
    if (n_perm < 1) n_perm = DB_HISTORY_PERMUTATIONS;
    if (n < 2 * min_segment) return 0;
    int *stack = malloc(2 * (size_t)(n + 1) * sizeof *stack);
    cpoint *cps = malloc((size_t)n * sizeof *cps);
    double *r = malloc((size_t)n * sizeof *r), *w = malloc((size_t)n * sizeof *w);
    double *pre = malloc((size_t)(n + 1) * sizeof *pre);
    if (!stack || !cps || !r || !w || !pre) {
        free(stack);
        free(cps);
        free(r);
        free(w);
        free(pre);
        return -1;
    }
    int sp = 0, ncp = 0, rc = 0;
    stack[sp++] = 0;
    stack[sp++] = n;
    while (sp > 0) {
        int b = stack[--sp], a = stack[--sp], len = b - a;
        if (len < 2 * min_segment) continue;
        centred(x + a, len, r);
        int t = -1;
        double T = split_stat(r, len, min_segment, pre, &t);
        if (t < 0 || !(T > 1e-12 * (1 + fabs(x[a])))) continue;
        db_rng g = db_rng_make(seed, ((uint64_t)(uint32_t)a << 32) | (uint32_t)b);
        memcpy(w, r, (size_t)len * sizeof *w);
        int ge = 0;
        for (int k = 0; k < n_perm; k++) {
            for (int i = len - 1; i > 0; i--) {
                int j = (int)db_rng_below(&g, (uint64_t)i + 1);
                double tmp = w[i];
                w[i] = w[j];
                w[j] = tmp;
            }
            if (split_stat(w, len, min_segment, pre, NULL) >= T * (1 - 1e-9)) ge++;
        }
        double pv = (1.0 + ge) / (1.0 + n_perm);
        if (!(pv < alpha)) continue;
        cps[ncp++] = (cpoint){ a + t, pv };
        stack[sp++] = a;
        stack[sp++] = a + t;
        stack[sp++] = a + t;
        stack[sp++] = b;
    }
    if (rc == 0) {
        qsort(cps, (size_t)ncp, sizeof *cps, cmp_cpoint);
        for (int i = 0; i < ncp && i < max_cp; i++) {
            if (idx) idx[i] = cps[i].idx;
            if (p) p[i] = cps[i].p;
        }
        rc = ncp;
    }
    free(stack);
    free(cps);
    free(r);
    free(w);
    free(pre);
    return rc;
}

/* ---- history -------------------------------------------------------------- */

typedef struct hrun {
    int64_t id, started, rev_first;
    char *rev;
} hrun;

typedef struct hpoint {
    int run;          /* index into the ordered runs */
    int n;            /* samples with a finite value */
    double v;
} hpoint;

typedef struct hseries {
    char *label, *dataset, *model, *model_key;
    hpoint *pt;
    int n;
} hseries;

static int cmp_hrun(const void *a, const void *b) {
    const hrun *x = a, *y = b;
    if (x->rev_first != y->rev_first) return (x->rev_first > y->rev_first) - (x->rev_first < y->rev_first);
    int c = strcmp(x->rev, y->rev);
    if (c) return c;
    if (x->started != y->started) return (x->started > y->started) - (x->started < y->started);
    return (x->id > y->id) - (x->id < y->id);
}

static int cmp_hpoint(const void *a, const void *b) {
    const hpoint *x = a, *y = b;
    return (x->run > y->run) - (x->run < y->run);
}

/* the metric's value of one case: median over samples (pooled #MAT) */
static int case_value(sqlite3 *db, int64_t case_id, const metric_def *md, double *v, int *n, char *err,
                      size_t errlen) {
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT %s, n_commits FROM sample WHERE case_id = ?", md->column);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_sql_fail(db, "read samples", err, errlen);
    sqlite3_bind_int64(s, 1, case_id);
    double *x = NULL, num = 0, den = 0, sum = 0;
    int cnt = 0, cap = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        double y = db_sql_real(s, 0);
        if (!isfinite(y)) continue;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 32;
            double *nx = realloc(x, (size_t)cap * sizeof *nx);
            if (!nx) {
                free(x);
                sqlite3_finalize(s);
                return db_errf(err, errlen, "out of memory");
            }
            x = nx;
        }
        x[cnt++] = y;
        sum += y;
        int c = sqlite3_column_int(s, 1);
        if (c > 0) {
            num += y * c;
            den += c;
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(x);
        return db_sql_fail(db, "read samples", err, errlen);
    }
    *n = cnt;
    if (md->kind == K_MAT) *v = den > 0 ? num / den : cnt ? sum / cnt : NAN;
    else *v = median_inplace(x, (size_t)cnt);
    free(x);
    return 0;
}

static void history_free(hrun *runs, int nr, hseries *se, int ns) {
    for (int i = 0; i < nr; i++) free(runs[i].rev);
    free(runs);
    for (int i = 0; i < ns; i++) {
        free(se[i].label);
        free(se[i].dataset);
        free(se[i].model);
        free(se[i].model_key);
        free(se[i].pt);
    }
    free(se);
}

static int load_history(sqlite3 *db, const db_history_opts *o, const metric_def *md, hrun **runs_out, int *nr_out,
                        hseries **se_out, int *ns_out, char *err, size_t errlen) {
    hrun *runs = NULL;
    hseries *se = NULL;
    int nr = 0, ns = 0, rc;
    sqlite3_stmt *s = NULL;
    *runs_out = NULL;
    *se_out = NULL;
    *nr_out = *ns_out = 0;
    /* runs still going, interrupted or crashed are left out: their cases are incomplete */
    if (sqlite3_prepare_v2(db, "SELECT id, decobench_rev, started_at FROM run WHERE " DB_RUN_ENDED_SQL, -1, &s,
                           NULL) != SQLITE_OK)
        return db_sql_fail(db, "read runs", err, errlen);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hrun *n = realloc(runs, (size_t)(nr + 1) * sizeof *n);
        if (!n) goto oom;
        runs = n;
        runs[nr].id = sqlite3_column_int64(s, 0);
        runs[nr].rev = db_sql_text(s, 1);
        runs[nr].started = sqlite3_column_int64(s, 2);
        if (!runs[nr++].rev) goto oom;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (rc != SQLITE_DONE) {
        history_free(runs, nr, se, ns);
        return db_sql_fail(db, "read runs", err, errlen);
    }
    if (nr == 0) {
        history_free(runs, nr, se, ns);
        return db_errf(err, errlen, "no runs in database");
    }
    /* revisions in the order of their earliest run */
    for (int i = 0; i < nr; i++) {
        runs[i].rev_first = runs[i].started;
        for (int j = 0; j < nr; j++)
            if (strcmp(runs[j].rev, runs[i].rev) == 0 && runs[j].started < runs[i].rev_first)
                runs[i].rev_first = runs[j].started;
    }
    qsort(runs, (size_t)nr, sizeof *runs, cmp_hrun);
    const char *sql = o->label ? "SELECT id, run_id, label, dataset, model_name, model_sha256 FROM \"case\""
                                 " WHERE label = ? ORDER BY idx, id"
                               : "SELECT id, run_id, label, dataset, model_name, model_sha256 FROM \"case\""
                                 " ORDER BY idx, id";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        history_free(runs, nr, se, ns);
        return db_sql_fail(db, "read cases", err, errlen);
    }
    if (o->label) sqlite3_bind_text(s, 1, o->label, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t cid = sqlite3_column_int64(s, 0), rid = sqlite3_column_int64(s, 1);
        const char *label = (const char *)sqlite3_column_text(s, 2);
        const char *dataset = (const char *)sqlite3_column_text(s, 3);
        const char *model = (const char *)sqlite3_column_text(s, 4);
        const char *sha = (const char *)sqlite3_column_text(s, 5);
        if (!label) label = "";
        if (!dataset) dataset = "";
        if (!model) model = "";
        const char *key = sha && *sha ? sha : model;
        int ri = -1;
        for (int i = 0; i < nr && ri < 0; i++)
            if (runs[i].id == rid) ri = i;
        if (ri < 0) continue;
        int k = -1;
        for (int i = 0; i < ns && k < 0; i++)
            if (strcmp(se[i].label, label) == 0 && strcmp(se[i].dataset, dataset) == 0 &&
                strcmp(se[i].model_key, key) == 0)
                k = i;
        if (k < 0) {
            hseries *n = realloc(se, (size_t)(ns + 1) * sizeof *n);
            if (!n) goto oom;
            se = n;
            memset(&se[ns], 0, sizeof se[ns]);
            k = ns++;
            se[k].label = db_strdup(label);
            se[k].dataset = db_strdup(dataset);
            se[k].model = db_strdup(model);
            se[k].model_key = db_strdup(key);
            if (!se[k].label || !se[k].dataset || !se[k].model || !se[k].model_key) goto oom;
        }
        hpoint *np = realloc(se[k].pt, (size_t)(se[k].n + 1) * sizeof *np);
        if (!np) goto oom;
        se[k].pt = np;
        hpoint *pt = &np[se[k].n++];
        pt->run = ri;
        if (case_value(db, cid, md, &pt->v, &pt->n, err, errlen) != 0) {
            sqlite3_finalize(s);
            history_free(runs, nr, se, ns);
            return -1;
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        history_free(runs, nr, se, ns);
        return db_sql_fail(db, "read cases", err, errlen);
    }
    if (ns == 0) {
        history_free(runs, nr, se, ns);
        if (o->label) return db_errf(err, errlen, "no case labelled '%s'", o->label);
        return db_errf(err, errlen, "no cases in database");
    }
    for (int i = 0; i < ns; i++) qsort(se[i].pt, (size_t)se[i].n, sizeof *se[i].pt, cmp_hpoint);
    *runs_out = runs;
    *nr_out = nr;
    *se_out = se;
    *ns_out = ns;
    return 0;
oom:
    sqlite3_finalize(s);
    history_free(runs, nr, se, ns);
    return db_errf(err, errlen, "out of memory");
}

int db_history(db_store *st, const db_history_opts *o, FILE *out, int *n_changes, char *err, size_t errlen) {
    if (n_changes) *n_changes = 0;
    const char *cn = o && o->metric ? db_compare_metric(o->metric, 1) : NULL;
    if (!cn) return db_errf(err, errlen, "unknown metric '%s'", o && o->metric ? o->metric : "(none)");
    const metric_def *md = metric_by_name(cn);
    const char *fmt = o->format ? o->format : "md";
    if (strcmp(fmt, "md") != 0 && strcmp(fmt, "csv") != 0)
        return db_errf(err, errlen, "unknown format '%s'", fmt);
    const int n_perm = o->n_perm > 0 ? o->n_perm : DB_HISTORY_PERMUTATIONS;
    const double alpha = o->alpha > 0 ? o->alpha : DB_HISTORY_ALPHA;
    const int min_seg = o->min_segment > 0 ? o->min_segment : DB_HISTORY_MIN_SEGMENT;
    hrun *runs;
    hseries *se;
    int nr, ns;
    sqlite3 *db = db_store_handle(st);
    if (load_history(db, o, md, &runs, &nr, &se, &ns, err, errlen) != 0) return -1;
    const bool md_out = strcmp(fmt, "md") == 0;
    if (md_out)
        fprintf(out,
                "**decobench history** — %s (%s per run) — change points: binary segmentation with a "
                "permutation test (%d permutations, alpha %g, min segment %d, seed %" PRIu64 ")\n",
                md->title, md->kind == K_MAT ? "pooled" : "median", n_perm, alpha, min_seg, o->seed);
    else
        fputs("label,dataset,model,run_id,revision,started_at,n,value,change_point,shift,p\r\n", out);
    int total = 0, rc = 0;
    for (int k = 0; k < ns && rc == 0; k++) {
        hseries *h = &se[k];
        /* the finite points form the series */
        double *x = malloc((size_t)h->n * sizeof *x);
        int *pos = malloc((size_t)h->n * sizeof *pos);
        int *cp = malloc((size_t)h->n * sizeof *cp);
        double *cpp = malloc((size_t)h->n * sizeof *cpp);
        double *seg = malloc((size_t)h->n * sizeof *seg);
        int m = 0, ncp = 0;
        if (!x || !pos || !cp || !cpp || !seg) rc = db_errf(err, errlen, "out of memory");
        for (int i = 0; rc == 0 && i < h->n; i++)
            if (isfinite(h->pt[i].v)) {
                pos[m] = i;
                x[m++] = h->pt[i].v;
            }
        if (rc == 0) {
            uint64_t sd = hash_str(hash_str(hash_str(o->seed, h->label), h->dataset), h->model_key);
            ncp = db_changepoints(x, m, min_seg, n_perm, alpha, sd, cp, cpp, m);
            if (ncp < 0) rc = db_errf(err, errlen, "out of memory");
            if (ncp > m) ncp = m;
        }
        if (rc == 0) {
            total += ncp;
            if (md_out) {
                fputs("\n### ", out);
                db_md_text(out, h->label);
                fputs(" — ", out);
                db_md_text(out, h->dataset);
                fputs(" — ", out);
                db_md_text(out, h->model);
                fprintf(out, "\n\n| run | revision | started (UTC) | n | %s | change point |\n"
                             "|--:|---|---|--:|--:|---|\n", md->title);
            }
            int c = 0, fi = 0;   /* next change point; index among finite points */
            for (int i = 0; i < h->n; i++) {
                const hpoint *pt = &h->pt[i];
                const hrun *rn = &runs[pt->run];
                bool fin = isfinite(pt->v);
                bool is_cp = fin && c < ncp && cp[c] == fi;
                double shift = NAN, pv = NAN;
                if (is_cp) {
                    int a0 = c > 0 ? cp[c - 1] : 0, b1 = c + 1 < ncp ? cp[c + 1] : m;
                    int nb = 0, na = 0;
                    for (int q = a0; q < cp[c]; q++) seg[nb++] = x[q];
                    double before = median_inplace(seg, (size_t)nb);
                    for (int q = cp[c]; q < b1; q++) seg[na++] = x[q];
                    double after = median_inplace(seg, (size_t)na);
                    shift = before != 0 ? after / before - 1 : NAN;
                    pv = cpp[c];
                    c++;
                }
                if (fin) fi++;
                char t[40], v[40], sh[32];
                db_iso8601(rn->started, t, sizeof t);
                if (md_out) {
                    fmt_val(v, sizeof v, pt->v, md);
                    fprintf(out, "| %lld |", (long long)rn->id);
                    db_md_cell(out, rn->rev);
                    fprintf(out, " %s | %d | %s |", t, pt->n, v);
                    if (is_cp) {
                        fmt_pct(sh, sizeof sh, shift);
                        fprintf(out, " **shift %s** (p %.3g) |\n", sh, pv);
                    } else fputs("  |\n", out);
                } else {
                    db_csv_field(out, h->label, 1);
                    db_csv_field(out, h->dataset, 0);
                    db_csv_field(out, h->model, 0);
                    snprintf(v, sizeof v, "%lld", (long long)rn->id);
                    db_csv_field(out, v, 0);
                    db_csv_field(out, rn->rev, 0);
                    db_csv_field(out, t, 0);
                    snprintf(v, sizeof v, "%d", pt->n);
                    db_csv_field(out, v, 0);
                    db_csv_num(out, pt->v);
                    db_csv_field(out, is_cp ? "1" : "0", 0);
                    db_csv_num(out, shift);
                    db_csv_num(out, pv);
                    fputs("\r\n", out);
                }
            }
        }
        free(x);
        free(pos);
        free(cp);
        free(cpp);
        free(seg);
    }
    if (rc == 0 && md_out) fprintf(out, "\n%d change point%s\n", total, total == 1 ? "" : "s");
    history_free(runs, nr, se, ns);
    if (n_changes) *n_changes = total;
    return rc;
}

/* ---- merge ---------------------------------------------------------------- */

/* one table's copier: the columns common to source and destination (but
 * the id), a SELECT on the source by parent id and an INSERT into dst */
typedef struct copier {
    const char *table, *parent;   /* parent: the column remapped (NULL: none) */
    int has_id;
    int ncols, parent_col;        /* parent_col: index among cols, -1 */
    sqlite3_stmt *sel, *ins;
} copier;

static int table_cols(sqlite3 *db, const char *table, char ***cols, int *n) {
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA table_info(\"%s\")", table);
    sqlite3_stmt *s = NULL;
    *cols = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char **nc = realloc(*cols, (size_t)(*n + 1) * sizeof *nc);
        if (!nc) break;
        *cols = nc;
        if (!(nc[*n] = db_sql_text(s, 1))) break;
        (*n)++;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void free_cols(char **c, int n) {
    for (int i = 0; i < n; i++) free(c[i]);
    free(c);
}

static void copier_free(copier *c) {
    sqlite3_finalize(c->sel);
    sqlite3_finalize(c->ins);
    c->sel = c->ins = NULL;
}

/* where: SQL after FROM table (e.g. "WHERE run_id = ? ORDER BY id");
 * ignore: INSERT OR IGNORE */
static int copier_init(copier *c, sqlite3 *src, sqlite3 *dst, const char *table, const char *parent, const char *where,
                       int ignore, char *err, size_t errlen) {
    char **sc = NULL, **dc = NULL;
    int ns = 0, nd = 0, rc = -1;
    db_str sel, ins, vals;
    db_str_init(&sel);
    db_str_init(&ins);
    db_str_init(&vals);
    memset(c, 0, sizeof *c);
    c->table = table;
    c->parent = parent;
    c->parent_col = -1;
    if (table_cols(src, table, &sc, &ns) != 0 || table_cols(dst, table, &dc, &nd) != 0) {
        db_errf(err, errlen, "read the columns of %s: %s", table, sqlite3_errmsg(src));
        goto out;
    }
    for (int i = 0; i < ns; i++)
        if (strcmp(sc[i], "id") == 0) c->has_id = 1;
    int e = db_str_append(&sel, c->has_id ? "SELECT id" : "SELECT 0");
    e |= db_str_printf(&ins, "INSERT %sINTO \"%s\"(", ignore ? "OR IGNORE " : "", table);
    for (int i = 0; i < ns; i++) {
        if (strcmp(sc[i], "id") == 0) continue;
        int in_dst = 0;
        for (int j = 0; j < nd; j++) in_dst |= strcmp(sc[i], dc[j]) == 0;
        if (!in_dst) continue;
        if (parent && strcmp(sc[i], parent) == 0) c->parent_col = c->ncols;
        e |= db_str_printf(&sel, ", \"%s\"", sc[i]);
        e |= db_str_printf(&ins, "%s\"%s\"", c->ncols ? ", " : "", sc[i]);
        e |= db_str_append(&vals, c->ncols ? ", ?" : "?");
        c->ncols++;
    }
    e |= db_str_printf(&sel, " FROM \"%s\" %s", table, where);
    e |= db_str_printf(&ins, ") VALUES(%s)", vals.s ? vals.s : "");
    if (e) {
        db_errf(err, errlen, "out of memory");
        goto out;
    }
    if (sqlite3_prepare_v2(src, sel.s, -1, &c->sel, NULL) != SQLITE_OK) {
        db_errf(err, errlen, "read %s: %s", table, sqlite3_errmsg(src));
        goto out;
    }
    if (sqlite3_prepare_v2(dst, ins.s, -1, &c->ins, NULL) != SQLITE_OK) {
        db_errf(err, errlen, "write %s: %s", table, sqlite3_errmsg(dst));
        goto out;
    }
    rc = 0;
out:
    free_cols(sc, ns);
    free_cols(dc, nd);
    db_str_free(&sel);
    db_str_free(&ins);
    db_str_free(&vals);
    if (rc != 0) copier_free(c);
    return rc;
}

/* insert the current row of c->sel into dst with the parent column set to
 * new_parent (NULL when new_parent < 0 and the row's parent is NULL) */
static int copier_put(copier *c, sqlite3 *dst, int64_t new_parent, int64_t *new_id) {
    for (int i = 0; i < c->ncols; i++) {
        if (i == c->parent_col) {
            if (new_parent > 0) sqlite3_bind_int64(c->ins, i + 1, new_parent);
            else sqlite3_bind_null(c->ins, i + 1);
        } else sqlite3_bind_value(c->ins, i + 1, sqlite3_column_value(c->sel, i + 1));
    }
    int rc = sqlite3_step(c->ins);
    sqlite3_reset(c->ins);
    sqlite3_clear_bindings(c->ins);
    if (rc != SQLITE_DONE) return -1;
    if (new_id) *new_id = sqlite3_last_insert_rowid(dst);
    return 0;
}

/* column index (in c->sel) of a named source column, -1 when absent */
static int sel_col(const copier *c, const char *name) {
    for (int i = 0; i < sqlite3_column_count(c->sel); i++)
        if (strcmp(sqlite3_column_name(c->sel, i), name) == 0) return i;
    return -1;
}

enum { C_MACHINE, C_RUN, C_RUNCNT, C_CASE, C_SAMPLE, C_SMPCNT, C_SMPMET, C_EVENT, C_NOISE, C_N };

typedef struct merger {
    sqlite3 *src, *dst;
    copier c[C_N];
    sqlite3_stmt *find_run, *find_case, *fix_run, *find_machine;
    int64_t *mach_src, *mach_dst;
    int n_mach;
    int64_t *added_idx;   /* idx of the cases copy_cases added to a run already present */
    int n_added, cap_added;
    char err[512];
} merger;

static int m_fail(merger *m, sqlite3 *db, const char *what) {
    snprintf(m->err, sizeof m->err, "%s: %s", what, sqlite3_errmsg(db));
    return -1;
}

/* copy the samples (and their counters and events) of source case sc_id
 * to dst case dc_id */
static int copy_samples(merger *m, int64_t sc_id, int64_t dc_id, db_merge_stats *stats) {
    copier *cs = &m->c[C_SAMPLE];
    sqlite3_reset(cs->sel);
    sqlite3_bind_int64(cs->sel, 1, sc_id);
    int rc;
    while ((rc = sqlite3_step(cs->sel)) == SQLITE_ROW) {
        int64_t ss_id = sqlite3_column_int64(cs->sel, 0), ds_id;
        if (copier_put(cs, m->dst, dc_id, &ds_id) != 0) return m_fail(m, m->dst, "insert sample");
        stats->samples_added++;
        for (int k = C_SMPCNT; k <= C_EVENT; k++) {
            copier *cc = &m->c[k];
            sqlite3_reset(cc->sel);
            sqlite3_bind_int64(cc->sel, 1, ss_id);
            int r2;
            while ((r2 = sqlite3_step(cc->sel)) == SQLITE_ROW)
                if (copier_put(cc, m->dst, ds_id, NULL) != 0) return m_fail(m, m->dst, cc->table);
            if (r2 != SQLITE_DONE) return m_fail(m, m->src, cc->table);
        }
    }
    return rc == SQLITE_DONE ? 0 : m_fail(m, m->src, "read samples");
}

/* copy the cases of source run sr to dst run dr (only those dst lacks when exists) */
static int copy_cases(merger *m, int64_t sr, int64_t dr, int exists, db_merge_stats *stats) {
    copier *cc = &m->c[C_CASE];
    sqlite3_reset(cc->sel);
    sqlite3_bind_int64(cc->sel, 1, sr);
    const int ci_idx = sel_col(cc, "idx"), ci_label = sel_col(cc, "label"), ci_ds = sel_col(cc, "dataset"),
              ci_sha = sel_col(cc, "model_sha256"), ci_start = sel_col(cc, "started_at");
    int rc;
    while ((rc = sqlite3_step(cc->sel)) == SQLITE_ROW) {
        int64_t sc_id = sqlite3_column_int64(cc->sel, 0), dc_id;
        if (exists) {
            sqlite3_stmt *f = m->find_case;
            sqlite3_reset(f);
            sqlite3_bind_int64(f, 1, dr);
            int cols[5] = { ci_idx, ci_label, ci_ds, ci_sha, ci_start };
            for (int k = 0; k < 5; k++) {
                if (cols[k] >= 0) sqlite3_bind_value(f, k + 2, sqlite3_column_value(cc->sel, cols[k]));
                else sqlite3_bind_null(f, k + 2);
            }
            int r2 = sqlite3_step(f);
            sqlite3_reset(f);
            if (r2 == SQLITE_ROW) continue;
            if (r2 != SQLITE_DONE) return m_fail(m, m->dst, "look up case");
        }
        if (copier_put(cc, m->dst, dr, &dc_id) != 0) return m_fail(m, m->dst, "insert case");
        stats->cases_added++;
        if (exists && ci_idx >= 0) {   /* its interference rows follow it (merge_noise) */
            if (m->n_added == m->cap_added) {
                int cap = m->cap_added ? 2 * m->cap_added : 16;
                int64_t *a = realloc(m->added_idx, (size_t)cap * sizeof *a);
                if (!a) return snprintf(m->err, sizeof m->err, "out of memory"), -1;
                m->added_idx = a;
                m->cap_added = cap;
            }
            m->added_idx[m->n_added++] = sqlite3_column_int64(cc->sel, ci_idx);
        }
        if (copy_samples(m, sc_id, dc_id, stats) != 0) return -1;
    }
    return rc == SQLITE_DONE ? 0 : m_fail(m, m->src, "read cases");
}

static int64_t map_machine(const merger *m, int64_t src_id) {
    for (int i = 0; i < m->n_mach; i++)
        if (m->mach_src[i] == src_id) return m->mach_dst[i];
    return 0;
}

static int merge_machines(merger *m, db_merge_stats *stats) {
    copier *c = &m->c[C_MACHINE];
    const int fp = sel_col(c, "fingerprint");
    if (fp < 0) return snprintf(m->err, sizeof m->err, "machine table without fingerprint"), -1;
    if (sqlite3_exec(m->dst, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return m_fail(m, m->dst, "begin");
    int rc;
    while ((rc = sqlite3_step(c->sel)) == SQLITE_ROW) {
        int64_t sid = sqlite3_column_int64(c->sel, 0), did = 0;
        sqlite3_reset(m->find_machine);
        sqlite3_bind_value(m->find_machine, 1, sqlite3_column_value(c->sel, fp));
        int r2 = sqlite3_step(m->find_machine);
        if (r2 == SQLITE_ROW) did = sqlite3_column_int64(m->find_machine, 0);
        sqlite3_reset(m->find_machine);
        if (r2 != SQLITE_ROW && r2 != SQLITE_DONE) goto fail_dst;
        if (r2 == SQLITE_DONE) {
            if (copier_put(c, m->dst, -1, &did) != 0) goto fail_dst;
            stats->machines_added++;
        }
        int64_t *a = realloc(m->mach_src, (size_t)(m->n_mach + 1) * sizeof *a);
        if (a) m->mach_src = a;
        int64_t *b = realloc(m->mach_dst, (size_t)(m->n_mach + 1) * sizeof *b);
        if (b) m->mach_dst = b;
        if (!a || !b) {
            snprintf(m->err, sizeof m->err, "out of memory");
            goto fail;
        }
        m->mach_src[m->n_mach] = sid;
        m->mach_dst[m->n_mach++] = did;
    }
    if (rc != SQLITE_DONE) {
        m_fail(m, m->src, "read machines");
        goto fail;
    }
    if (sqlite3_exec(m->dst, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto fail_dst;
    return 0;
fail_dst:
    m_fail(m, m->dst, "insert machine");
fail:
    sqlite3_exec(m->dst, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* the machines' probe results (schema version 2; absent in older sources),
 * INSERT OR IGNORE: a probe already present stays */
static int merge_probes(merger *m, char *err, size_t errlen) {
    if (!db_sql_has_table(m->src, "machine_probe") || !db_sql_has_table(m->dst, "machine_probe")) return 0;
    copier c;
    if (copier_init(&c, m->src, m->dst, "machine_probe", "machine_id", "ORDER BY rowid", 1, err, errlen) != 0)
        return -1;
    const int ci_mach = sel_col(&c, "machine_id");
    int rc = -1, r;
    if (ci_mach < 0) {
        db_errf(err, errlen, "machine_probe table without machine_id");
        goto out;
    }
    if (sqlite3_exec(m->dst, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_errf(err, errlen, "begin: %s", sqlite3_errmsg(m->dst));
        goto out;
    }
    while ((r = sqlite3_step(c.sel)) == SQLITE_ROW) {
        int64_t mach = map_machine(m, sqlite3_column_int64(c.sel, ci_mach));
        if (mach <= 0) continue;   /* a probe of a machine the source does not hold */
        if (copier_put(&c, m->dst, mach, NULL) != 0) {
            db_errf(err, errlen, "insert machine_probe: %s", sqlite3_errmsg(m->dst));
            sqlite3_exec(m->dst, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
    }
    if (r != SQLITE_DONE) {
        db_errf(err, errlen, "read machine_probe: %s", sqlite3_errmsg(m->src));
        sqlite3_exec(m->dst, "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    if (sqlite3_exec(m->dst, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_errf(err, errlen, "commit: %s", sqlite3_errmsg(m->dst));
        sqlite3_exec(m->dst, "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    rc = 0;
out:
    copier_free(&c);
    return rc;
}

/* S7 interference (harness/run/interference.h): the verdicts of source run sr
 * that dst run dr lacks — all of them for a new run; for a run already
 * present (merged while it ran, or resumed since), those of the cases just
 * added and the run's own verdict (case_idx -1) when dst has none yet */
static int merge_noise(merger *m, int64_t sr, int64_t dr, int exists) {
    copier *nc = &m->c[C_NOISE];
    const int ci_case = sel_col(nc, "case_idx");
    bool run_level = !exists;
    if (exists) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(m->dst, "SELECT COUNT(*) FROM interference WHERE run_id = ? AND case_idx = -1", -1,
                               &q, NULL) != SQLITE_OK)
            return m_fail(m, m->dst, "read interference");
        sqlite3_bind_int64(q, 1, dr);
        int r = sqlite3_step(q);
        run_level = r == SQLITE_ROW && sqlite3_column_int64(q, 0) == 0;
        sqlite3_finalize(q);
        if (r != SQLITE_ROW) return m_fail(m, m->dst, "read interference");
        if (ci_case < 0) return 0;   /* a foreign table without case_idx: nothing to match */
    }
    sqlite3_reset(nc->sel);
    sqlite3_bind_int64(nc->sel, 1, sr);
    int r5;
    while ((r5 = sqlite3_step(nc->sel)) == SQLITE_ROW) {
        if (exists) {
            int64_t idx = sqlite3_column_int64(nc->sel, ci_case);
            bool take = idx == -1 && run_level;
            for (int i = 0; i < m->n_added && !take; i++) take = m->added_idx[i] == idx;
            if (!take) continue;
        }
        if (copier_put(nc, m->dst, dr, NULL) != 0) return m_fail(m, m->dst, "insert interference");
    }
    return r5 == SQLITE_DONE ? 0 : m_fail(m, m->src, "read interference");
}

static int merge_runs(merger *m, db_merge_stats *stats) {
    copier *c = &m->c[C_RUN];
    const int ci_mach = sel_col(c, "machine_id"), ci_start = sel_col(c, "started_at"),
              ci_suite = sel_col(c, "suite_name"), ci_cfg = sel_col(c, "config_json"),
              ci_fin = sel_col(c, "finished_at"), ci_status = sel_col(c, "status");
    if (ci_mach < 0 || ci_start < 0 || ci_suite < 0 || ci_cfg < 0)
        return snprintf(m->err, sizeof m->err, "run table lacks identifying columns"), -1;
    int rc;
    while ((rc = sqlite3_step(c->sel)) == SQLITE_ROW) {
        int64_t sr = sqlite3_column_int64(c->sel, 0);
        int64_t mach = sqlite3_column_type(c->sel, ci_mach) == SQLITE_NULL
                           ? -1 : map_machine(m, sqlite3_column_int64(c->sel, ci_mach));
        if (mach == 0) mach = -1;   /* dangling machine id: keep the run, without machine */
        if (sqlite3_exec(m->dst, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            return m_fail(m, m->dst, "begin");
        /* the same run: same machine, start time, suite and configuration */
        sqlite3_stmt *f = m->find_run;
        sqlite3_reset(f);
        if (mach > 0) sqlite3_bind_int64(f, 1, mach);
        else sqlite3_bind_null(f, 1);
        sqlite3_bind_value(f, 2, sqlite3_column_value(c->sel, ci_start));
        sqlite3_bind_value(f, 3, sqlite3_column_value(c->sel, ci_suite));
        sqlite3_bind_value(f, 4, sqlite3_column_value(c->sel, ci_cfg));
        int r2 = sqlite3_step(f);
        int64_t dr = 0;
        int exists = r2 == SQLITE_ROW;
        bool unfinished = false;
        if (exists) {
            dr = sqlite3_column_int64(f, 0);
            unfinished = sqlite3_column_type(f, 1) == SQLITE_NULL;
        }
        sqlite3_reset(f);
        if (r2 != SQLITE_ROW && r2 != SQLITE_DONE) {
            m_fail(m, m->dst, "look up run");
            goto fail;
        }
        if (!exists) {
            if (copier_put(c, m->dst, mach, &dr) != 0) {
                m_fail(m, m->dst, "insert run");
                goto fail;
            }
            stats->runs_added++;
        } else {
            stats->runs_present++;
            /* a run merged while it was still running: take its end */
            if (unfinished && ci_fin >= 0 && ci_status >= 0 &&
                sqlite3_column_type(c->sel, ci_fin) != SQLITE_NULL) {
                sqlite3_reset(m->fix_run);
                sqlite3_bind_value(m->fix_run, 1, sqlite3_column_value(c->sel, ci_fin));
                sqlite3_bind_value(m->fix_run, 2, sqlite3_column_value(c->sel, ci_status));
                sqlite3_bind_int64(m->fix_run, 3, dr);
                int r3 = sqlite3_step(m->fix_run);
                sqlite3_reset(m->fix_run);
                if (r3 != SQLITE_DONE) {
                    m_fail(m, m->dst, "update run");
                    goto fail;
                }
            }
        }
        copier *rc_ = &m->c[C_RUNCNT];   /* INSERT OR IGNORE: present counters stay */
        sqlite3_reset(rc_->sel);
        sqlite3_bind_int64(rc_->sel, 1, sr);
        int r4;
        while ((r4 = sqlite3_step(rc_->sel)) == SQLITE_ROW)
            if (copier_put(rc_, m->dst, dr, NULL) != 0) {
                m_fail(m, m->dst, "insert run_counter");
                goto fail;
            }
        if (r4 != SQLITE_DONE) {
            m_fail(m, m->src, "read run_counter");
            goto fail;
        }
        m->n_added = 0;
        if (copy_cases(m, sr, dr, exists, stats) != 0) goto fail;
        if (merge_noise(m, sr, dr, exists) != 0) goto fail;
        if (sqlite3_exec(m->dst, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            m_fail(m, m->dst, "commit");
            goto fail;
        }
        continue;
    fail:
        sqlite3_exec(m->dst, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return rc == SQLITE_DONE ? 0 : m_fail(m, m->src, "read runs");
}

int db_merge(db_store *dst, db_store *src, db_merge_stats *stats, char *err, size_t errlen) {
    merger m;
    memset(&m, 0, sizeof m);
    m.src = db_store_handle(src);
    m.dst = db_store_handle(dst);
    db_merge_stats local = { 0 };
    if (!stats) stats = &local;
    int rc = -1;
    if (copier_init(&m.c[C_MACHINE], m.src, m.dst, "machine", NULL, "ORDER BY id", 0, err, errlen) != 0 ||
        copier_init(&m.c[C_RUN], m.src, m.dst, "run", "machine_id", "ORDER BY id", 0, err, errlen) != 0 ||
        copier_init(&m.c[C_RUNCNT], m.src, m.dst, "run_counter", "run_id", "WHERE run_id = ? ORDER BY rowid", 1,
                    err, errlen) != 0 ||
        copier_init(&m.c[C_CASE], m.src, m.dst, "case", "run_id", "WHERE run_id = ? ORDER BY idx, id", 0, err,
                    errlen) != 0 ||
        copier_init(&m.c[C_SAMPLE], m.src, m.dst, "sample", "case_id", "WHERE case_id = ? ORDER BY id", 0, err,
                    errlen) != 0 ||
        copier_init(&m.c[C_SMPCNT], m.src, m.dst, "sample_counter", "sample_id",
                    "WHERE sample_id = ? ORDER BY rowid", 0, err, errlen) != 0 ||
        copier_init(&m.c[C_SMPMET], m.src, m.dst, "sample_metric", "sample_id",
                    "WHERE sample_id = ? ORDER BY rowid", 0, err, errlen) != 0 ||
        copier_init(&m.c[C_EVENT], m.src, m.dst, "step_event", "sample_id", "WHERE sample_id = ? ORDER BY seq", 0,
                    err, errlen) != 0 ||
        copier_init(&m.c[C_NOISE], m.src, m.dst, "interference", "run_id", "WHERE run_id = ? ORDER BY rowid", 0,
                    err, errlen) != 0)
        goto out;
    if (sqlite3_prepare_v2(m.dst, "SELECT id FROM machine WHERE fingerprint IS ?", -1, &m.find_machine, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(m.dst,
                           "SELECT id, finished_at FROM run WHERE machine_id IS ? AND started_at IS ?"
                           " AND suite_name IS ? AND config_json IS ? ORDER BY id LIMIT 1",
                           -1, &m.find_run, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(m.dst,
                           "SELECT 1 FROM \"case\" WHERE run_id = ? AND idx IS ? AND label IS ? AND dataset IS ?"
                           " AND model_sha256 IS ? AND started_at IS ? LIMIT 1",
                           -1, &m.find_case, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(m.dst, "UPDATE run SET finished_at = ?, status = ? WHERE id = ?", -1, &m.fix_run,
                           NULL) != SQLITE_OK) {
        db_errf(err, errlen, "prepare: %s", sqlite3_errmsg(m.dst));
        goto out;
    }
    if (merge_machines(&m, stats) != 0 || merge_runs(&m, stats) != 0) {
        db_errf(err, errlen, "%s", m.err);
        goto out;
    }
    if (merge_probes(&m, err, errlen) != 0) goto out;
    rc = 0;
out:
    for (int i = 0; i < C_N; i++) copier_free(&m.c[i]);
    sqlite3_finalize(m.find_machine);
    sqlite3_finalize(m.find_run);
    sqlite3_finalize(m.find_case);
    sqlite3_finalize(m.fix_run);
    free(m.mach_src);
    free(m.mach_dst);
    free(m.added_idx);
    return rc;
}
