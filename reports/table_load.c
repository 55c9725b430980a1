/* table_load.c — the results table of one run loaded from the results
 * database (through harness/run/store_read.h) and computed (table_data.h):
 * its cases and samples, counters,
 * verification events and identity verdicts; baselines, the paired samples
 * of each case and its baseline (sorted keys, O(n log n)), order-statistic
 * intervals of medians, speedups and the speculative-decoding metrics of
 * each row.
 */
#include "report.h"
#include "format.h"
#include "table_data.h"
#include "table_int.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/identity.h"
#include "harness/run/store_read.h"
#include "harness/util/rng.h"
#include "harness/util/stats.h"
#include "harness/util/util.h"

#define MAX_POS DB_TABLE_MAX_POS

typedef db_table_row row;
typedef db_table table;

static void row_samples_free(row *r);

static void table_free(table *t) {
    free(t->suite);
    free(t->config_json);
    free(t->llama_commit);
    free(t->cpu_model);
    free(t->status);
    free(t->baseline_key);
    free(t->noise);
    for (int i = 0; i < t->n_counters; i++) free(t->counters[i]);
    free(t->counters);
    for (int i = 0; i < t->n_rows; i++) {
        row *r = &t->rows[i];
        free(r->engine);
        free(r->label);
        free(r->dataset);
        free(r->model);
        free(r->params);
        row_samples_free(r);
        free(r->cnt_med);
        free(r->noise);
    }
    free(t->rows);
}

/* ---- loading ------------------------------------------------------------ */

static int load_run(db_store *st, int64_t want, table *t, char *err, size_t errlen) {
    int64_t nruns = 0;
    if (db_store_count_runs(st, &nruns, err, errlen) != 0) return -1;
    if (nruns == 0) return db_errf(err, errlen, "no runs in database");
    /* run 0: the latest run that ended (harness/run/store_read.h) */
    db_run_info ri;
    if (db_store_read_run(st, want, &ri, err, errlen) != 0) return -1;
    t->run_id = ri.id;
    t->machine_id = ri.machine_id;
    t->suite = ri.suite_name;
    t->config_json = ri.config_json;
    t->llama_commit = ri.llama_commit;
    t->cpu_model = ri.cpu_model;
    t->cores = ri.cores;
    t->status = ri.status;
    ri.suite_name = ri.config_json = ri.llama_commit = ri.cpu_model = ri.status = NULL;
    db_run_info_free(&ri);
    return 0;
}

int db_table_counter_index(const table *t, const char *name) {
    for (int i = 0; i < t->n_counters; i++)
        if (strcmp(t->counters[i], name) == 0) return i;
    return -1;
}

/* The index of sample sid among r's samples (ids ascending), -1 none. */
static int sample_at(const int64_t *ids, int n, int64_t sid) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (ids[mid] == sid) return mid;
        if (ids[mid] < sid) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* The counter names of a run as its cases are read (interned: a run has a
 * handful), each with the smallest storage order seen (store_read.h), and
 * the values of the case being read. */
typedef struct {
    char **names;
    int64_t *order;
    int n, cap;
    /* the current case */
    const int64_t *ids;          /* its sample ids, ascending */
    int n_ids;
    struct cval {
        int at, ci;
        double value;
    } *v;
    size_t n_v, cap_v;
} counter_load;

static void counter_load_free(counter_load *cl) {
    for (int i = 0; i < cl->n; i++) free(cl->names[i]);
    free(cl->names);
    free(cl->order);
    free(cl->v);
}

static int counter_seen(void *ctx, int64_t sample_id, const char *name, double value, int64_t order) {
    counter_load *cl = ctx;
    int ci = 0;
    while (ci < cl->n && strcmp(cl->names[ci], name) != 0) ci++;
    if (ci == cl->n) {
        if (cl->n == cl->cap) {
            int cap = cl->cap ? 2 * cl->cap : 16;
            char **nm = realloc(cl->names, (size_t)cap * sizeof *nm);
            if (!nm) return -1;
            cl->names = nm;
            int64_t *o = realloc(cl->order, (size_t)cap * sizeof *o);
            if (!o) return -1;
            cl->order = o;
            cl->cap = cap;
        }
        if (!(cl->names[ci] = db_strdup(name))) return -1;
        cl->order[ci] = order;
        cl->n++;
    } else if (order < cl->order[ci]) {
        cl->order[ci] = order;
    }
    int at = sample_at(cl->ids, cl->n_ids, sample_id);
    if (at < 0) return 0;
    if (cl->n_v == cl->cap_v) {
        size_t cap = cl->cap_v ? 2 * cl->cap_v : 256;
        struct cval *v = realloc(cl->v, cap * sizeof *v);
        if (!v) return -1;
        cl->v = v;
        cl->cap_v = cap;
    }
    cl->v[cl->n_v++] = (struct cval){ at, ci, value };
    return 0;
}

/* the row's counter matrix (r->n × the names known after its case was
 * read: *stride) from the case's values */
static int load_counters(db_store *st, row *r, counter_load *cl, const int64_t *ids, int *stride, char *err,
                         size_t errlen) {
    cl->ids = ids;
    cl->n_ids = r->n;
    cl->n_v = 0;
    if (db_store_for_case_counters(st, r->case_id, counter_seen, cl, err, errlen) != 0) return -1;
    size_t nc = cl->n > 0 ? (size_t)cl->n : 1, n = r->n > 0 ? (size_t)r->n : 1;
    if (!(r->cnt = malloc(n * nc * sizeof *r->cnt))) return db_errf(err, errlen, "out of memory");
    for (size_t i = 0; i < n * nc; i++) r->cnt[i] = NAN;
    for (size_t k = 0; k < cl->n_v; k++) r->cnt[(size_t)cl->v[k].at * nc + (size_t)cl->v[k].ci] = cl->v[k].value;
    *stride = (int)nc;
    return 0;
}

static int load_samples(db_store *st, int64_t run_id, row *r, counter_load *cl, int *stride, char *err,
                        size_t errlen) {
    db_sample_info *smp = NULL;
    int n = 0;
    if (db_store_read_samples(st, r->case_id, 0, false, &smp, &n, err, errlen) != 0) return -1;
    size_t cap = n > 0 ? (size_t)n : 1;
    r->prompt_idx = calloc(cap, sizeof *r->prompt_idx);
    r->rep = calloc(cap, sizeof *r->rep);
    r->turn = calloc(cap, sizeof *r->turn);
    r->tps = calloc(cap, sizeof *r->tps);
    r->ttft = calloc(cap, sizeof *r->ttft);
    r->lat = calloc(cap, sizeof *r->lat);
    r->newt = calloc(cap, sizeof *r->newt);
    r->commits = calloc(cap, sizeof *r->commits);
    r->cat = calloc(cap, sizeof *r->cat);
    int64_t *ids = calloc(cap, sizeof *ids);
    if (!r->prompt_idx || !r->rep || !r->turn || !r->tps || !r->ttft || !r->lat || !r->newt || !r->commits ||
        !r->cat || !ids) {
        free(ids);
        db_sample_infos_free(smp, n);
        return db_errf(err, errlen, "out of memory");
    }
    for (int k = 0; k < n; k++) {
        const db_sample_info *x = &smp[k];
        int i = r->n++;
        ids[i] = x->id;
        r->prompt_idx[i] = x->prompt_idx;
        r->rep[i] = x->rep;
        r->tps[i] = x->tokens_per_s;
        r->ttft[i] = x->ttft_ms;
        r->lat[i] = x->latency_ms;
        /* #MAT counts decoding steps only: the tokens of those steps are
         * mat × n_commits (new_tokens also holds the prefill's token) */
        double mat = x->mat;
        r->commits[i] = x->n_commits;
        r->newt[i] = isfinite(mat) && r->commits[i] > 0 ? llround(mat * (double)r->commits[i]) : 0;
        r->turn[i] = x->turn;
        r->sum_new += r->newt[i];
        r->sum_commits += r->commits[i];
        r->cat[i] = smp[k].category;
        smp[k].category = NULL;
        r->sum_drafted += x->drafted;
        r->sum_accepted += x->accepted;
        r->sum_dfwd += x->draft_forwards;
        r->sum_tfwd += x->target_forwards;
        double dt = x->draft_time_ms, ft = x->forward_time_ms;
        if (isfinite(dt)) r->sum_dtime += dt;
        if (isfinite(ft)) r->sum_ftime += ft;
        if (isfinite(r->lat[i])) r->sum_lat += r->lat[i];
    }
    db_sample_infos_free(smp, n);
    /* verification steps and per-position counts from the VERIFY events
     * (none when the case drafted nothing: the scan is skipped) */
    db_event_info *ev = NULL;
    int n_ev = 0;
    if (r->sum_drafted > 0 && db_store_read_events(st, r->case_id, DB_EV_VERIFY, &ev, &n_ev, err, errlen) != 0) {
        free(ids);
        return -1;
    }
    for (int e = 0; e < n_ev; e++) {
        int d = ev[e].n_tokens;
        uint64_t mask = ev[e].accepted_mask;
        r->n_verify++;
        int a = ev[e].n_accepted;
        if (a >= 0) {
            r->accepted_hist[a > MAX_POS ? MAX_POS : a]++;
            r->n_accepted_hist++;
        }
        if (d > MAX_POS) d = MAX_POS;
        for (int k = 0; k < d; k++) {
            r->drafted_at[k]++;
            if (mask & ((uint64_t)1 << k)) r->accepted_at[k]++;
        }
        if (d > r->n_pos) r->n_pos = d;
    }
    free(ev);
    /* a pruned run (`decobench prune`) has no events left: no verification
     * steps or per-position counts rather than zeros */
    if (r->sum_drafted > 0 && n_ev == 0) {
        bool pruned = false;
        if (db_store_run_pruned(st, run_id, &pruned, err, errlen) != 0) {
            free(ids);
            return -1;
        }
        if (pruned) r->n_verify = -1;
    }
    int rc = load_counters(st, r, cl, ids, stride, err, errlen);
    free(ids);
    return rc;
}

/* the run's counter names in the order first stored (t->counters), and each
 * row's medians (cnt_med, computed at the row's stride) and, where kept, its
 * matrix laid out by them */
static int order_counters(table *t, counter_load *cl, const int *stride, char *err, size_t errlen) {
    int nc = cl->n;
    int *perm = malloc((size_t)(nc > 0 ? nc : 1) * sizeof *perm);   /* perm[new] = old */
    if (!perm) return db_errf(err, errlen, "out of memory");
    for (int i = 0; i < nc; i++) {   /* insertion sort by order: a handful of names */
        int j = i;
        for (; j > 0 && cl->order[perm[j - 1]] > cl->order[i]; j--) perm[j] = perm[j - 1];
        perm[j] = i;
    }
    bool same = true;
    for (int i = 0; i < nc; i++) same = same && perm[i] == i;
    size_t w = nc > 0 ? (size_t)nc : 1;
    bool oom = false;
    for (int i = 0; i < t->n_rows && !oom; i++) {
        row *r = &t->rows[i];
        if (same && (size_t)stride[i] == w) continue;
        double *med = malloc(w * sizeof *med);
        if (!med) {
            oom = true;
            break;
        }
        for (size_t c = 0; c < w; c++) {
            int old = nc > 0 ? perm[c] : 0;
            med[c] = old < stride[i] && r->cnt_med ? r->cnt_med[old] : NAN;
        }
        free(r->cnt_med);
        r->cnt_med = med;
        if (!r->cnt) continue;   /* not kept (db_table_keep) */
        size_t n = r->n > 0 ? (size_t)r->n : 1;
        double *m = malloc(n * w * sizeof *m);
        if (!m) {
            oom = true;
            break;
        }
        for (size_t k = 0; k < n; k++)
            for (size_t c = 0; c < w; c++) {
                int old = nc > 0 ? perm[c] : 0;
                m[k * w + c] = old < stride[i] ? r->cnt[k * (size_t)stride[i] + (size_t)old] : NAN;
            }
        free(r->cnt);
        r->cnt = m;
    }
    if (!oom && nc > 0 && !(t->counters = malloc((size_t)nc * sizeof *t->counters))) oom = true;
    if (oom) {
        free(perm);
        return db_errf(err, errlen, "out of memory");
    }
    for (int i = 0; i < nc; i++) {
        t->counters[i] = cl->names[perm[i]];
        cl->names[perm[i]] = NULL;
    }
    t->n_counters = nc;
    free(perm);
    return 0;
}

/* what a baseline keeps for the rows that pair with it: prompt, repetition,
 * turn and tokens/s of each sample (and lat when keep_lat) */
static void row_samples_trim(row *r, bool keep_lat) {
    free(r->ttft);
    if (!keep_lat) {
        free(r->lat);
        r->lat = NULL;
    }
    free(r->newt);
    free(r->commits);
    free(r->pair);
    if (r->cat)
        for (int k = 0; k < r->n; k++) free(r->cat[k]);
    free(r->cat);
    free(r->cnt);
    r->ttft = r->cnt = NULL;
    r->newt = r->commits = NULL;
    r->pair = NULL;
    r->cat = NULL;
}

/* a row's pairing keys, once no other row pairs with it */
static void row_keys_free(row *r) {
    free(r->prompt_idx);
    free(r->rep);
    free(r->turn);
    free(r->tps);
    r->prompt_idx = r->rep = r->turn = NULL;
    r->tps = NULL;
}

/* all of a row's per-sample values (r->n stays: the row's sample count) */
static void row_samples_free(row *r) {
    row_samples_trim(r, false);
    row_keys_free(r);
}

static void pick_baselines(table *t);
static int compute_row(table *t, int i, int stride, char *err, size_t errlen);

/* The cases of the run: each row loaded and computed in turn, the rows some
 * row takes as its baseline first (their samples pair with the others'),
 * and a row's per-sample values freed (but what keep asks for) once no row
 * needs them: memory is the baselines' pairing keys (16 bytes a sample) and
 * one case's samples, not the run's. */
static int load_cases(db_store *st, table *t, db_table_keep keep, char *err, size_t errlen) {
    db_case_info *cs = NULL;
    int n = 0;
    if (db_store_read_cases(st, t->run_id, NULL, &cs, &n, err, errlen) != 0) return -1;
    t->rows = calloc((size_t)(n > 0 ? n : 1), sizeof *t->rows);
    if (!t->rows) {
        db_case_infos_free(cs, n);
        return db_errf(err, errlen, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        row *r = &t->rows[t->n_rows++];
        r->case_id = cs[i].id;
        r->engine = cs[i].engine;
        r->label = cs[i].label;
        r->dataset = cs[i].dataset;
        r->model = cs[i].model_name;
        r->params = cs[i].params_json;
        cs[i].engine = cs[i].label = cs[i].dataset = cs[i].model_name = cs[i].params_json = NULL;
        r->baseline = -1;
    }
    db_case_infos_free(cs, n);
    pick_baselines(t);
    counter_load cl = { 0 };
    size_t nr = (size_t)(t->n_rows > 0 ? t->n_rows : 1);
    int *stride = calloc(nr, sizeof *stride), *order = malloc(nr * sizeof *order);
    bool *is_base = calloc(nr, sizeof *is_base);
    if (!stride || !order || !is_base) {
        free(stride);
        free(order);
        free(is_base);
        return db_errf(err, errlen, "out of memory");
    }
    for (int i = 0; i < t->n_rows; i++)
        if (t->rows[i].baseline >= 0) is_base[t->rows[i].baseline] = true;
    int no = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < t->n_rows; i++)
            if (is_base[i] == (pass == 0)) order[no++] = i;
    int rc = 0;
    for (int k = 0; k < no && rc == 0; k++) {
        int i = order[k];
        rc = load_samples(st, t->run_id, &t->rows[i], &cl, &stride[i], err, errlen);
        if (rc == 0) rc = compute_row(t, i, stride[i], err, errlen);
        if (rc == 0 && keep != DB_TABLE_KEEP_ALL) {
            row_samples_trim(&t->rows[i], keep == DB_TABLE_KEEP_LATENCY);
            if (!is_base[i]) row_keys_free(&t->rows[i]);
        }
    }
    if (keep != DB_TABLE_KEEP_ALL)
        for (int i = 0; i < t->n_rows; i++)
            if (is_base[i]) row_keys_free(&t->rows[i]);
    if (rc == 0) rc = order_counters(t, &cl, stride, err, errlen);
    counter_load_free(&cl);
    free(stride);
    free(order);
    free(is_base);
    if (rc != 0) return -1;
    /* S7 identity: the stored greedy-identity result of each case */
    for (int i = 0; i < t->n_rows; i++) {
        int nc = 0, ni = 0, f = db_store_read_identity(st, t->rows[i].case_id, &nc, &ni, err, errlen);
        if (f < 0) return -1;
        db_identity_format(t->rows[i].ident, sizeof t->rows[i].ident, f, nc, ni);
        if (f == 1) t->ident = true;
    }
    return 0;
}

/* ---- computing ---------------------------------------------------------- */

static void pick_baselines(table *t) {
    cJSON *cfg = t->config_json && *t->config_json ? cJSON_Parse(t->config_json) : NULL;
    const cJSON *b = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "baseline") : NULL;
    if (cJSON_IsString(b) && b->valuestring[0]) t->baseline_key = db_strdup(b->valuestring);
    cJSON_Delete(cfg);
    if (!t->baseline_key) {
        for (int i = 0; i < t->n_rows; i++)
            if (strcmp(t->rows[i].engine, "ar") == 0) {
                t->baseline_key = db_strdup(t->rows[i].label);
                break;
            }
    }
    if (!t->baseline_key) return;
    size_t kl = strlen(t->baseline_key);
    for (int i = 0; i < t->n_rows; i++) {
        row *r = &t->rows[i];
        int exact = -1, prefix = -1;
        for (int j = 0; j < t->n_rows; j++) {
            const row *c = &t->rows[j];
            if (strcmp(c->dataset, r->dataset) != 0 || strcmp(c->model, r->model) != 0) continue;
            if (exact < 0 && strcmp(c->label, t->baseline_key) == 0) exact = j;
            if (prefix < 0 && strncmp(c->label, t->baseline_key, kl) == 0) prefix = j;
        }
        r->baseline = exact >= 0 ? exact : prefix;
    }
}

/* finite values of x[0..n) into out; returns how many */
static size_t finite_of(const double *x, int n, size_t stride, double *out) {
    size_t m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[(size_t)i * stride])) out[m++] = x[(size_t)i * stride];
    return m;
}

/* Expected speedup of speculative decoding (Leviathan et al. 2023, eq. for
 * the walltime improvement): acceptance rate a, draft length k, draft/target
 * cost ratio c: (1 − a^(k+1)) / ((1 − a)(k·c + 1)); a → 1: (k + 1)/(k·c + 1). */
double db_report_predicted_speedup(double a, double k, double c) {
    if (!isfinite(a) || !isfinite(k) || !isfinite(c) || a < 0 || a > 1 || k < 0 || c < 0) return NAN;
    double den = k * c + 1;
    if (1 - a < 1e-12) return (k + 1) / den;
    return (1 - pow(a, k + 1)) / ((1 - a) * den);
}

/* α, k̄, draft time share, cost ratio c, predicted speedup, α per position */
static void spec_metrics(row *r) {
    r->alpha = r->kbar = r->dshare = r->cost = r->pred = NAN;
    for (int k = 0; k < MAX_POS; k++) r->acc_at[k] = NAN;
    if (r->sum_drafted <= 0) return;
    r->alpha = (double)r->sum_accepted / (double)r->sum_drafted;
    if (r->n_verify > 0) r->kbar = (double)r->sum_drafted / (double)r->n_verify;
    if (r->sum_lat > 0) r->dshare = r->sum_dtime / r->sum_lat;
    double ttime = r->sum_ftime - r->sum_dtime;
    if (r->sum_dfwd == 0 && r->sum_dtime == 0) r->cost = 0;   /* model-free drafting (pld, lookahead) */
    else if (r->sum_dfwd > 0 && r->sum_tfwd > 0 && ttime > 0)
        r->cost = (r->sum_dtime / (double)r->sum_dfwd) / (ttime / (double)r->sum_tfwd);
    r->pred = db_report_predicted_speedup(r->alpha, r->kbar, r->cost);
    for (int k = 0; k < r->n_pos; k++)
        if (r->drafted_at[k] > 0) r->acc_at[k] = (double)r->accepted_at[k] / (double)r->drafted_at[k];
}

/* samples paired for speedups: same prompt, repetition and turn */
bool db_table_same_prompt(const row *a, int i, const row *b, int k) {
    return a->prompt_idx[i] == b->prompt_idx[k] && a->rep[i] == b->rep[k] && a->turn[i] == b->turn[k];
}

/* sample order of a row by (prompt, rep, turn, index) */
typedef struct pkey { int prompt, rep, turn, i; } pkey;
static int cmp_pkey(const void *a, const void *b) {
    const pkey *x = a, *y = b;
    if (x->prompt != y->prompt) return (x->prompt > y->prompt) - (x->prompt < y->prompt);
    if (x->rep != y->rep) return (x->rep > y->rep) - (x->rep < y->rep);
    if (x->turn != y->turn) return (x->turn > y->turn) - (x->turn < y->turn);
    return (x->i > y->i) - (x->i < y->i);
}

/* r->pair: for each sample of r, the first sample of baseline b with the
 * same prompt, repetition and turn (db_table_same_prompt), by binary search
 * over b's samples sorted by that key */
static int pair_samples(row *r, const row *b) {
    r->pair = malloc((size_t)(r->n > 0 ? r->n : 1) * sizeof *r->pair);
    pkey *keys = malloc((size_t)(b->n > 0 ? b->n : 1) * sizeof *keys);
    if (!r->pair || !keys) {
        free(keys);
        return -1;
    }
    for (int j = 0; j < b->n; j++) keys[j] = (pkey){ b->prompt_idx[j], b->rep[j], b->turn[j], j };
    qsort(keys, (size_t)b->n, sizeof *keys, cmp_pkey);
    for (int k = 0; k < r->n; k++) {
        pkey want = { r->prompt_idx[k], r->rep[k], r->turn[k], -1 };
        int lo = 0, hi = b->n;   /* first key >= want */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (cmp_pkey(&keys[mid], &want) < 0) lo = mid + 1;
            else hi = mid;
        }
        r->pair[k] = lo < b->n && keys[lo].prompt == want.prompt && keys[lo].rep == want.rep &&
                     keys[lo].turn == want.turn ? keys[lo].i : -1;
    }
    free(keys);
    return 0;
}

/* Row i's statistics from its samples (and its baseline's, computed before
 * it); its counters are laid out at stride (the names known once its case
 * was read), and so are the medians until order_counters. */
static int compute_row(table *t, int i, int stride, char *err, size_t errlen) {
    row *r = &t->rows[i];
    size_t nc = stride > 0 ? (size_t)stride : 1;
    if (r->baseline >= 0 && r->baseline != i && pair_samples(r, &t->rows[r->baseline]) != 0)
        return db_errf(err, errlen, "out of memory");
    double *v = malloc(((size_t)r->n + 1) * sizeof *v);
    r->cnt_med = malloc(nc * sizeof *r->cnt_med);
    if (!v || !r->cnt_med) {
        free(v);
        return db_errf(err, errlen, "out of memory");
    }
    /* medians and their distribution-free 95% CIs (order statistics) */
    size_t m = finite_of(r->tps, r->n, 1, v);
    db_sort_doubles(v, m);
    r->tps_med = db_quantile_sorted(v, m, 0.5);
    r->tps_lo = r->tps_hi = NAN;
    db_median_ci_sorted(v, m, 0.95, &r->tps_lo, &r->tps_hi);
    m = finite_of(r->ttft, r->n, 1, v);
    db_sort_doubles(v, m);
    r->ttft50 = db_quantile_sorted(v, m, 0.5);
    r->ttft90 = db_quantile_sorted(v, m, 0.9);
    m = finite_of(r->lat, r->n, 1, v);
    r->lat50 = db_quantile(v, m, 0.5);
    r->mat = r->sum_commits > 0 ? (double)r->sum_new / (double)r->sum_commits : NAN;
    for (int c = 0; c < stride; c++) {
        m = finite_of(r->cnt + c, r->n, nc, v);
        r->cnt_med[c] = db_median(v, m);
    }
    if (stride == 0) r->cnt_med[0] = NAN;
    /* paired speedup */
    r->sp_med = r->sp_lo = r->sp_hi = NAN;
    if (r->baseline == i) {
        r->sp_med = r->sp_lo = r->sp_hi = 1.0;
    } else if (r->baseline >= 0) {
        const row *b = &t->rows[r->baseline];
        m = 0;
        for (int k = 0; k < r->n; k++) {
            int j = r->pair[k];
            if (!isfinite(r->tps[k]) || j < 0) continue;
            if (isfinite(b->tps[j]) && b->tps[j] > 0) v[m++] = r->tps[k] / b->tps[j];
        }
        db_sort_doubles(v, m);
        r->sp_med = db_quantile_sorted(v, m, 0.5);
        db_median_ci_sorted(v, m, 0.95, &r->sp_lo, &r->sp_hi);
    }
    free(v);
    spec_metrics(r);
    if (r->sum_drafted > 0) t->spec = true;
    if (r->n_pos > t->max_pos) t->max_pos = r->n_pos;
    return 0;
}

/* best tokens/s within each dataset+model */
static void mark_best(table *t) {
    for (int i = 0; i < t->n_rows; i++) {
        row *r = &t->rows[i];
        if (!isfinite(r->tps_med)) continue;
        bool best = true;
        for (int j = 0; j < t->n_rows && best; j++) {
            const row *c = &t->rows[j];
            if (j == i || strcmp(c->dataset, r->dataset) || strcmp(c->model, r->model)) continue;
            if (isfinite(c->tps_med) && (c->tps_med > r->tps_med || (c->tps_med == r->tps_med && j < i)))
                best = false;
        }
        r->best = best;
    }
}

/* ---- for the other writers (table_data.h) ----------------------------------- */

int db_table_load_ex(db_store *st, int64_t run_id, uint64_t seed, db_table_keep keep, db_table *t, char *err,
                     size_t errlen) {
    memset(t, 0, sizeof *t);
    (void)seed;   /* the intervals are order statistics now: no resampling */
    if (load_run(st, run_id, t, err, errlen) != 0 || load_cases(st, t, keep, err, errlen) != 0 ||
        db_table_load_noise(st, t, err, errlen) != 0)
        return -1;
    mark_best(t);
    return 0;
}

int db_table_load(db_store *st, int64_t run_id, uint64_t seed, db_table *t, char *err, size_t errlen) {
    return db_table_load_ex(st, run_id, seed, DB_TABLE_KEEP_ALL, t, err, errlen);
}

void db_table_free(db_table *t) {
    table_free(t);
    memset(t, 0, sizeof *t);
}
