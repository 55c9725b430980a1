/* history.c — the per-run history of a metric (`decobench history`):
 * each case's median per run, in the order of the runs' revisions, with
 * change points found by binary segmentation and a permutation test
 * (db_changepoints); definitions in compare.h.
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
            /* the p-value (1 + ge)/(1 + n_perm) only grows with ge: once it
             * is not below alpha the segment has no change point, whatever
             * the permutations left would give (the same decision as running
             * them all; most segments stop after a few dozen) */
            if (!((1.0 + ge) / (1.0 + n_perm) < alpha)) break;
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
static int case_value(db_store *st, int64_t case_id, const metric_def *md, double *v, int *n, char *err,
                      size_t errlen) {
    db_sample_info *s = NULL;
    int ns = 0;
    if (db_store_read_samples(st, case_id, 0, false, &s, &ns, err, errlen) != 0) return -1;
    double *x = malloc((size_t)(ns > 0 ? ns : 1) * sizeof *x), num = 0, den = 0, sum = 0;
    if (!x) {
        db_sample_infos_free(s, ns);
        return db_errf(err, errlen, "out of memory");
    }
    int cnt = 0;
    for (int k = 0; k < ns; k++) {
        double y = db_sample_value(&s[k], md->column);
        if (!isfinite(y)) continue;
        x[cnt++] = y;
        sum += y;
        int c = (int)s[k].n_commits;
        if (c > 0) {
            num += y * c;
            den += c;
        }
    }
    db_sample_infos_free(s, ns);
    *n = cnt;
    if (md->kind == K_MAT) *v = den > 0 ? num / den : cnt ? sum / cnt : NAN;
    else *v = db_cmp_median(x, (size_t)cnt);
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

static int load_history(db_store *st, const db_history_opts *o, const metric_def *md, hrun **runs_out, int *nr_out,
                        hseries **se_out, int *ns_out, char *err, size_t errlen) {
    hrun *runs = NULL;
    hseries *se = NULL;
    int nr = 0, ns = 0;
    *runs_out = NULL;
    *se_out = NULL;
    *nr_out = *ns_out = 0;
    /* runs still going, interrupted or crashed are left out: their cases are incomplete */
    db_run_info *ri = NULL;
    int n_ri = 0;
    if (db_store_read_runs(st, NULL, true, &ri, &n_ri, err, errlen) != 0) return -1;
    runs = calloc((size_t)(n_ri > 0 ? n_ri : 1), sizeof *runs);
    if (!runs) {
        db_run_infos_free(ri, n_ri);
        return db_errf(err, errlen, "out of memory");
    }
    for (int i = 0; i < n_ri; i++) {
        runs[nr].id = ri[i].id;
        runs[nr].rev = ri[i].decobench_rev;
        runs[nr++].started = ri[i].started_at;
        ri[i].decobench_rev = NULL;
    }
    db_run_infos_free(ri, n_ri);
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
    db_case_info *cs = NULL;
    int n_cs = 0;
    if (db_store_read_cases(st, 0, o->label, &cs, &n_cs, err, errlen) != 0) {
        history_free(runs, nr, se, ns);
        return -1;
    }
    for (int ci = 0; ci < n_cs; ci++) {
        int64_t cid = cs[ci].id, rid = cs[ci].run_id;
        const char *label = cs[ci].label, *dataset = cs[ci].dataset, *model = cs[ci].model_name;
        const char *sha = cs[ci].model_sha256;
        const char *key = *sha ? sha : model;
        int ri_ = -1;
        for (int i = 0; i < nr && ri_ < 0; i++)
            if (runs[i].id == rid) ri_ = i;
        if (ri_ < 0) continue;
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
        pt->run = ri_;
        if (case_value(st, cid, md, &pt->v, &pt->n, err, errlen) != 0) {
            db_case_infos_free(cs, n_cs);
            history_free(runs, nr, se, ns);
            return -1;
        }
    }
    db_case_infos_free(cs, n_cs);
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
    db_case_infos_free(cs, n_cs);
    history_free(runs, nr, se, ns);
    return db_errf(err, errlen, "out of memory");
}

int db_history(db_store *st, const db_history_opts *o, FILE *out, int *n_changes, char *err, size_t errlen) {
    if (n_changes) *n_changes = 0;
    const char *cn = o && o->metric ? db_compare_metric(o->metric, 1) : NULL;
    if (!cn) return db_errf(err, errlen, "unknown metric '%s'", o && o->metric ? o->metric : "(none)");
    const metric_def *md = db_cmp_metric_by_name(cn);
    const char *fmt = o->format ? o->format : "md";
    if (strcmp(fmt, "md") != 0 && strcmp(fmt, "csv") != 0)
        return db_errf(err, errlen, "unknown format '%s'", fmt);
    const int n_perm = o->n_perm > 0 ? o->n_perm : DB_HISTORY_PERMUTATIONS;
    const double alpha = o->alpha > 0 ? o->alpha : DB_HISTORY_ALPHA;
    const int min_seg = o->min_segment > 0 ? o->min_segment : DB_HISTORY_MIN_SEGMENT;
    hrun *runs;
    hseries *se;
    int nr, ns;
    if (load_history(st, o, md, &runs, &nr, &se, &ns, err, errlen) != 0) return -1;
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
            uint64_t sd = db_cmp_hash_str(db_cmp_hash_str(db_cmp_hash_str(o->seed, h->label), h->dataset), h->model_key);
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
                    double before = db_cmp_median(seg, (size_t)nb);
                    for (int q = cp[c]; q < b1; q++) seg[na++] = x[q];
                    double after = db_cmp_median(seg, (size_t)na);
                    shift = before != 0 ? after / before - 1 : NAN;
                    pv = cpp[c];
                    c++;
                }
                if (fin) fi++;
                char t[40], v[40], sh[32];
                db_iso8601(rn->started, t, sizeof t);
                if (md_out) {
                    db_cmp_fmt_val(v, sizeof v, pt->v, md);
                    fprintf(out, "| %lld |", (long long)rn->id);
                    db_md_cell(out, rn->rev);
                    fprintf(out, " %s | %d | %s |", t, pt->n, v);
                    if (is_cp) {
                        db_cmp_fmt_pct(sh, sizeof sh, shift);
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
