/* pivot.c — the pivots of a run's results table (`decobench report --by
 * category|engine|model|dataset|param:NAME`, --cell METRIC): one layout of
 * rows and columns, one cell per (row, column) with its bootstrap interval,
 * written as Markdown, CSV, LaTeX or JSON (db_table_pivot, table_int.h).
 */
#include "report.h"
#include "format.h"
#include "table_data.h"
#include "table_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/rng.h"
#include "harness/util/stats.h"
#include "harness/util/util.h"

typedef db_table_row row;
typedef db_table table;

/* ---- pivots (--by category|engine|model|dataset|param:NAME) ------------------ */

/* Spec-Bench's columns: the 8 MT-bench categories merged into "multi-turn",
 * then its other task categories, in this order */
static const char *const MT_BENCH[] = { "writing", "roleplay", "reasoning", "math",
                                        "coding", "extraction", "stem", "humanities" };
static const char *const SPEC_BENCH_COLS[] = { "multi-turn", "translation", "summarization",
                                               "qa", "math_reasoning", "rag" };
#define N_FIXED ((int)(sizeof SPEC_BENCH_COLS / sizeof SPEC_BENCH_COLS[0]))
#define OVERALL "overall"

static bool ieq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y) return false;
    }
    return *a == *b;
}

/* the column a sample category belongs to */
static const char *category_column(const char *cat) {
    for (size_t i = 0; i < sizeof MT_BENCH / sizeof MT_BENCH[0]; i++)
        if (ieq(cat, MT_BENCH[i])) return SPEC_BENCH_COLS[0];
    for (int i = 0; i < N_FIXED; i++)
        if (ieq(cat, SPEC_BENCH_COLS[i])) return SPEC_BENCH_COLS[i];
    if (!cat[0]) return "(none)";
    if (ieq(cat, OVERALL)) return "(" OVERALL ")";
    return cat;
}

/* what the columns are: sample categories (category, engine) or a property
 * of the case (model, dataset, a parameter) */
typedef enum { BY_CATEGORY, BY_ENGINE, BY_MODEL, BY_DATASET, BY_PARAM } by_kind;

/* what a cell shows besides "speedup× / #MAT" (--cell) */
typedef enum { CELL_DEFAULT, CELL_SPEEDUP, CELL_MAT, CELL_TPS, CELL_TTFT, CELL_LAT } cell_kind;

static const struct {
    const char *name;   /* a column name of COLS */
    cell_kind kind;
} CELL_METRICS[] = {
    { "speedup", CELL_SPEEDUP }, { "mat", CELL_MAT }, { "tokens_per_s", CELL_TPS },
    { "ttft_p50_ms", CELL_TTFT }, { "latency_p50_ms", CELL_LAT },
};
#define N_CELL_METRICS ((int)(sizeof CELL_METRICS / sizeof CELL_METRICS[0]))

typedef struct cell {
    int n;
    bool baseline;             /* every case of the cell is its own baseline */
    double sp, lo, hi, mat;    /* speedup with its CI, pooled #MAT */
    double v, vlo, vhi;        /* the --cell metric (NaN CI where it has none) */
} cell;

typedef struct prow {
    char *label;          /* row label: case label, or engine + other parameters */
    const char *dataset, *model, *engine;
    int first;            /* first case of the row (bootstrap seed, baseline flag) */
    bool baseline;
} prow;

typedef struct pivot {
    by_kind by;
    const char *param;    /* BY_PARAM: the parameter */
    const char *dim;      /* the columns' name: "category", "model", "dataset" or the parameter */
    cell_kind ck;
    const col_spec *cspec;   /* the --cell metric's column (header, direction) */
    char **cols;          /* display order; OVERALL last for categories */
    int n_cols;
    prow *rows;
    int n_rows;
    int *case_row, *case_col;   /* per case: its pivot row; its column (-1: per sample, categories) */
    cell *cells;          /* n_rows × n_cols */
    bool show_dataset, show_model;
    char **row_noise;     /* S7: per row, the interference reasons of its cases (NULL: quiet) */
} pivot;

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void pivot_free(pivot *p) {
    for (int c = 0; c < p->n_cols; c++) free(p->cols[c]);
    free(p->cols);
    for (int i = 0; i < p->n_rows; i++) free(p->rows[i].label);
    free(p->rows);
    free(p->case_row);
    free(p->case_col);
    free(p->cells);
    for (int i = 0; p->row_noise && i < p->n_rows; i++) free(p->row_noise[i]);
    free(p->row_noise);
}

/* S7 interference: the reasons of the cases in pivot row pr and, for c >= 0,
 * in its column c ("; "-joined, malloc'd; NULL when none was flagged) */
static int pivot_cell_noise(const table *t, const pivot *p, int pr, int c, char **out) {
    *out = NULL;
    for (int i = 0; i < t->n_rows; i++) {
        if (p->case_row[i] != pr || !t->rows[i].noise) continue;
        if (c >= 0 && p->case_col[i] >= 0 && p->case_col[i] != c) continue;
        if (db_noise_union(out, t->rows[i].noise) != 0) {
            free(*out);
            *out = NULL;
            return -1;
        }
    }
    return 0;
}

static int pivot_noise(const table *t, pivot *p, char *err, size_t errlen) {
    if (!t->noise_recorded || p->n_rows == 0) return 0;
    p->row_noise = calloc((size_t)p->n_rows, sizeof *p->row_noise);
    if (!p->row_noise) return db_errf(err, errlen, "out of memory");
    for (int i = 0; i < p->n_rows; i++)
        if (pivot_cell_noise(t, p, i, -1, &p->row_noise[i]) != 0) return db_errf(err, errlen, "out of memory");
    return 0;
}

static const char *pivot_row_noise(const pivot *p, int i) {
    return p->row_noise ? p->row_noise[i] : NULL;
}

static int col_index(const pivot *p, const char *name) {
    for (int c = 0; c < p->n_cols; c++)
        if (strcmp(p->cols[c], name) == 0) return c;
    return -1;
}

/* a parameter value as text: strings bare, numbers shortest, else JSON */
static char *param_text(const cJSON *v) {
    if (!v) return db_strdup("(unset)");
    if (cJSON_IsString(v)) return db_strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        char b[40];
        db_fmt_full(b, sizeof b, v->valuedouble);
        return db_strdup(b);
    }
    char *s = cJSON_PrintUnformatted(v);
    return s ? s : db_strdup("?");
}

/* "engine k1=v1 k2=v2": the case's parameters other than skip, keys sorted */
static char *param_row_label(const row *r, const cJSON *params, const char *skip) {
    const char *keys[64];
    int nk = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, params) {
        if (nk < 64 && it->string && strcmp(it->string, skip) != 0) keys[nk++] = it->string;
    }
    qsort(keys, (size_t)nk, sizeof *keys, str_cmp);
    char *out = db_strdup(r->engine);
    for (int i = 0; i < nk && out; i++) {
        char *v = param_text(cJSON_GetObjectItemCaseSensitive(params, keys[i]));
        size_t l = strlen(out) + strlen(keys[i]) + strlen(v) + 3;
        char *o2 = malloc(l);
        if (o2) snprintf(o2, l, "%s %s=%s", out, keys[i], v);
        free(v);
        free(out);
        out = o2;
    }
    return out;
}

static int add_col(pivot *p, const char *name) {
    int c = col_index(p, name);
    if (c >= 0) return c;
    char *s = db_strdup(name);
    if (!s) return -1;
    p->cols[p->n_cols] = s;
    return p->n_cols++;
}

/* category columns: Spec-Bench's first, then others alphabetically, then overall */
static int category_columns(const table *t, pivot *p, size_t total) {
    const char **extra = calloc(total + 1, sizeof *extra);
    if (!extra) return -1;
    bool fixed[N_FIXED] = { false };
    size_t n_extra = 0;
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        for (int k = 0; k < r->n; k++) {
            const char *c = category_column(r->cat[k]);
            bool f = false;
            for (int j = 0; j < N_FIXED && !f; j++)
                if (c == SPEC_BENCH_COLS[j]) fixed[j] = f = true;
            if (f) continue;
            size_t j = 0;
            while (j < n_extra && strcmp(extra[j], c) != 0) j++;
            if (j == n_extra) extra[n_extra++] = c;
        }
    }
    qsort(extra, n_extra, sizeof *extra, str_cmp);
    int rc = 0;
    for (int j = 0; j < N_FIXED && rc == 0; j++)
        if (fixed[j] && add_col(p, SPEC_BENCH_COLS[j]) < 0) rc = -1;
    for (size_t j = 0; j < n_extra && rc == 0; j++)
        if (add_col(p, extra[j]) < 0) rc = -1;
    if (rc == 0 && total > 0 && add_col(p, OVERALL) < 0) rc = -1;
    free(extra);
    return rc;
}

/* numeric parameter values sort as numbers */
static int num_text_cmp(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    double u = strtod(x, NULL), v = strtod(y, NULL);
    return u < v ? -1 : u > v;
}

static bool is_numeric(const char *s) {
    char *e;
    strtod(s, &e);
    return e != s && !*e;
}

/* rows and columns of the pivot; each case belongs to one row */
static int pivot_layout(const table *t, pivot *p, char *err, size_t errlen) {
    size_t total = 0;
    for (int i = 0; i < t->n_rows; i++) total += (size_t)t->rows[i].n;
    size_t nr = t->n_rows > 0 ? (size_t)t->n_rows : 1;
    p->cols = calloc((size_t)N_FIXED + total + nr + 1, sizeof *p->cols);
    p->rows = calloc(nr, sizeof *p->rows);
    p->case_row = calloc(nr, sizeof *p->case_row);
    p->case_col = calloc(nr, sizeof *p->case_col);
    int *order = calloc(nr, sizeof *order);
    char **keys = calloc(nr, sizeof *keys);
    if (!p->cols || !p->rows || !p->case_row || !p->case_col || !order || !keys) {
        free(order);
        free(keys);
        return db_errf(err, errlen, "out of memory");
    }
    int rc = 0, with_param = 0;
    bool multi_ds = false, multi_model = false;
    for (int i = 0; i < t->n_rows; i++) {
        if (strcmp(t->rows[i].dataset, t->rows[0].dataset)) multi_ds = true;
        if (strcmp(t->rows[i].model, t->rows[0].model)) multi_model = true;
    }
    /* case order; grouped by engine (first appearance, stable) for BY_ENGINE */
    int no = 0;
    for (int i = 0; i < t->n_rows; i++) {
        if (p->by != BY_ENGINE) {
            order[no++] = i;
            continue;
        }
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(t->rows[j].engine, t->rows[i].engine);
        if (seen) continue;
        for (int j = i; j < t->n_rows; j++)
            if (!strcmp(t->rows[j].engine, t->rows[i].engine)) order[no++] = j;
    }
    for (int oi = 0; oi < no && rc == 0; oi++) {
        int i = order[oi];
        const row *r = &t->rows[i];
        char *key = NULL, *label = NULL, *colv = NULL;
        p->case_col[i] = -1;
        switch (p->by) {
        case BY_CATEGORY: case BY_ENGINE:
            key = malloc(24);
            if (key) snprintf(key, 24, "#%d", i);
            label = db_strdup(r->label);
            break;
        case BY_MODEL: case BY_DATASET: {
            const char *other = p->by == BY_MODEL ? r->dataset : r->model;
            size_t l = strlen(r->label) + strlen(other) + 2;
            key = malloc(l);
            if (key) snprintf(key, l, "%s\x1f%s", r->label, other);
            label = db_strdup(r->label);
            colv = db_strdup(p->by == BY_MODEL ? r->model : r->dataset);
            break;
        }
        case BY_PARAM: {
            cJSON *params = r->params && *r->params ? cJSON_Parse(r->params) : NULL;
            const cJSON *v = params ? cJSON_GetObjectItemCaseSensitive(params, p->param) : NULL;
            if (v) with_param++;
            colv = param_text(v);
            label = param_row_label(r, params, p->param);
            cJSON_Delete(params);
            size_t l = (label ? strlen(label) : 0) + strlen(r->dataset) + strlen(r->model) + 3;
            key = malloc(l);
            if (key && label) snprintf(key, l, "%s\x1f%s\x1f%s", label, r->dataset, r->model);
            break;
        }
        }
        if (!key || !label || (p->by >= BY_MODEL && !colv)) {
            free(key);
            free(label);
            free(colv);
            rc = db_errf(err, errlen, "out of memory");
            break;
        }
        int row_at = -1;
        for (int j = 0; j < p->n_rows && row_at < 0; j++)
            if (!strcmp(keys[j], key)) row_at = j;
        if (row_at < 0) {
            row_at = p->n_rows++;
            keys[row_at] = key;
            prow *pr = &p->rows[row_at];
            pr->label = label;
            pr->dataset = r->dataset;
            pr->model = r->model;
            pr->engine = r->engine;
            pr->first = i;
            pr->baseline = r->baseline == i;
        } else {
            free(key);
            free(label);
        }
        p->case_row[i] = row_at;
        if (colv) {
            if ((p->case_col[i] = add_col(p, colv)) < 0) rc = db_errf(err, errlen, "out of memory");
            free(colv);
        }
    }
    for (int j = 0; j < p->n_rows; j++) free(keys[j]);
    free(keys);
    free(order);
    if (rc != 0) return rc;
    if (p->by == BY_PARAM && with_param == 0)
        return db_errf(err, errlen, "--by param:%s: no case of run %lld has parameter '%s'", p->param,
                       (long long)t->run_id, p->param);
    if (p->by <= BY_ENGINE) {
        if (category_columns(t, p, total) != 0) return db_errf(err, errlen, "out of memory");
    } else if (p->by == BY_PARAM) {
        /* numeric values first, in numeric order; the others after, as they came */
        char **sorted = malloc((size_t)p->n_cols * sizeof *sorted);
        if (!sorted) return db_errf(err, errlen, "out of memory");
        int ns = 0;
        for (int c = 0; c < p->n_cols; c++)
            if (is_numeric(p->cols[c])) sorted[ns++] = p->cols[c];
        qsort(sorted, (size_t)ns, sizeof *sorted, num_text_cmp);
        for (int c = 0; c < p->n_cols; c++)
            if (!is_numeric(p->cols[c])) sorted[ns++] = p->cols[c];
        for (int i = 0; i < t->n_rows; i++) {
            const char *name = p->cols[p->case_col[i]];
            for (int c = 0; c < p->n_cols; c++)
                if (sorted[c] == name) p->case_col[i] = c;
        }
        memcpy(p->cols, sorted, (size_t)p->n_cols * sizeof *sorted);
        free(sorted);
    }
    p->show_dataset = multi_ds && p->by != BY_DATASET;
    p->show_model = multi_model && p->by != BY_MODEL;
    return 0;
}

/* every cell: the samples of the row's cases that fall in the column */
static int pivot_cells(const table *t, uint64_t seed, pivot *p, char *err, size_t errlen) {
    size_t total = 0;
    for (int i = 0; i < t->n_rows; i++) total += (size_t)t->rows[i].n;
    size_t ncell = (size_t)(p->n_rows > 0 ? p->n_rows : 1) * (size_t)(p->n_cols > 0 ? p->n_cols : 1);
    p->cells = calloc(ncell, sizeof *p->cells);
    double *v = malloc((total + 1) * sizeof *v), *w = malloc((total + 1) * sizeof *w);
    if (!p->cells || !v || !w) {
        free(v);
        free(w);
        return db_errf(err, errlen, "out of memory");
    }
    bool overall = p->by <= BY_ENGINE;   /* the last category column holds every sample */
    for (int pr = 0; pr < p->n_rows; pr++) {
        (void)seed;   /* order-statistic intervals: nothing resampled */
        for (int c = 0; c < p->n_cols; c++) {
            cell *x = &p->cells[(size_t)pr * (size_t)p->n_cols + (size_t)c];
            bool all = overall && c == p->n_cols - 1, self = true;
            int64_t sn = 0, sc = 0;
            size_t m = 0, mw = 0;
            x->sp = x->lo = x->hi = x->mat = x->v = x->vlo = x->vhi = NAN;
            for (int i = 0; i < t->n_rows; i++) {
                if (p->case_row[i] != pr || (p->case_col[i] >= 0 && p->case_col[i] != c)) continue;
                const row *r = &t->rows[i];
                const row *b = r->baseline >= 0 ? &t->rows[r->baseline] : NULL;
                for (int k = 0; k < r->n; k++) {
                    if (p->case_col[i] < 0 && !all && col_index(p, category_column(r->cat[k])) != c) continue;
                    x->n++;
                    sn += r->newt[k];
                    sc += r->commits[k];
                    double s = p->ck == CELL_TPS ? r->tps[k] : p->ck == CELL_TTFT ? r->ttft[k]
                             : p->ck == CELL_LAT ? r->lat[k] : NAN;
                    if (isfinite(s)) w[mw++] = s;
                    if (r->baseline != i) self = false;
                    if (!b || !isfinite(r->tps[k])) continue;
                    if (r->baseline == i) {
                        v[m++] = 1.0;
                        continue;
                    }
                    int j = r->pair ? r->pair[k] : -1;   /* db_table_same_prompt, paired in table_load.c */
                    if (j >= 0 && isfinite(b->tps[j]) && b->tps[j] > 0) v[m++] = r->tps[k] / b->tps[j];
                }
            }
            if (x->n == 0) continue;
            if (sc > 0) x->mat = (double)sn / (double)sc;
            x->baseline = self;
            if (self) x->sp = x->lo = x->hi = 1.0;
            else if (m > 0) {
                db_sort_doubles(v, m);
                x->sp = db_quantile_sorted(v, m, 0.5);
                db_median_ci_sorted(v, m, 0.95, &x->lo, &x->hi);
            }
            switch (p->ck) {
            case CELL_DEFAULT: case CELL_SPEEDUP: x->v = x->sp, x->vlo = x->lo, x->vhi = x->hi; break;
            case CELL_MAT: x->v = x->mat; break;
            case CELL_TPS:
                db_sort_doubles(w, mw);
                x->v = db_quantile_sorted(w, mw, 0.5);
                db_median_ci_sorted(w, mw, 0.95, &x->vlo, &x->vhi);
                break;
            case CELL_TTFT: case CELL_LAT: x->v = db_quantile(w, mw, 0.5); break;
            }
        }
    }
    free(v);
    free(w);
    return 0;
}

static const cell *cell_at(const pivot *p, int i, int c) {
    return &p->cells[(size_t)i * (size_t)p->n_cols + (size_t)c];
}

/* the --cell metric's value text (no CI); dash where not applicable */
static void fmt_metric(char *buf, size_t len, const pivot *p, const cell *x, const char *dash) {
    double v = x->v;
    if (x->n == 0 || !isfinite(v)) snprintf(buf, len, "%s", dash);
    else if (p->ck == CELL_TPS) db_table_fmt_sig3(buf, len, v);
    else if (p->ck == CELL_TTFT || p->ck == CELL_LAT) db_table_fmt_fixed(buf, len, v, 1);
    else db_table_fmt_fixed(buf, len, v, 2);
}

/* "1.85× / 2.31" (times "×" or "$\times$"), or the --cell metric with
 * " [lo, hi]" (Markdown) / " $\pm$ half-width" (LaTeX) where it has a CI;
 * bold wraps the leading number */
static void fmt_cell(char *buf, size_t len, const pivot *p, const cell *x, bool latex, bool bold) {
    const char *dash = latex ? "--" : "-";
    char a[64], b[64];
    if (x->n == 0) {
        snprintf(buf, len, "%s", dash);
        return;
    }
    fmt_metric(a, sizeof a, p, x, dash);
    char lead[96];
    if (bold && strcmp(a, dash)) snprintf(lead, sizeof lead, "\\textbf{%s}", a);
    else snprintf(lead, sizeof lead, "%s", a);
    if (p->ck == CELL_DEFAULT) {
        const char *times = latex ? "$\\times$" : "×";
        db_table_fmt_fixed(b, sizeof b, x->mat, 2);
        snprintf(buf, len, "%s%s / %s", lead, strcmp(a, dash) ? times : "", strcmp(b, "-") ? b : dash);
        return;
    }
    /* a baseline's speedup is 1 by definition: no CI */
    bool ci = isfinite(x->vlo) && isfinite(x->vhi) && strcmp(a, dash) && !(p->ck == CELL_SPEEDUP && x->baseline);
    if (!ci) snprintf(buf, len, "%s", lead);
    else if (latex) {
        db_table_fmt_fixed(b, sizeof b, (x->vhi - x->vlo) / 2, p->ck == CELL_TPS ? db_table_sig3_decimals(x->v) : 2);
        snprintf(buf, len, "%s $\\pm$ %s", lead, b);
    } else {
        char lo[32], hi[32];
        if (p->ck == CELL_TPS) db_table_fmt_sig3(lo, sizeof lo, x->vlo), db_table_fmt_sig3(hi, sizeof hi, x->vhi);
        else db_table_fmt_fixed(lo, sizeof lo, x->vlo, 2), db_table_fmt_fixed(hi, sizeof hi, x->vhi, 2);
        snprintf(buf, len, "%s [%s, %s]", lead, lo, hi);
    }
}

/* the best printed value of column c (its cells' leading numbers), "" when none */
static void pivot_best(const pivot *p, int c, char *buf, size_t len) {
    int dir = p->cspec->better, at = -1;
    buf[0] = '\0';
    for (int i = 0; i < p->n_rows; i++) {
        const cell *x = cell_at(p, i, c);
        if (x->n == 0 || !isfinite(x->v)) continue;
        if (at < 0 || (dir > 0 ? x->v > cell_at(p, at, c)->v : x->v < cell_at(p, at, c)->v)) at = i;
    }
    if (at < 0 || dir == 0) return;
    fmt_metric(buf, len, p, cell_at(p, at, c), "--");
    for (int i = 0; i < p->n_rows; i++) {   /* nothing to mark when every cell prints the best */
        char other[64];
        if (cell_at(p, i, c)->n == 0) continue;
        fmt_metric(other, sizeof other, p, cell_at(p, i, c), "--");
        if (strcmp(other, "--") && strcmp(other, buf)) return;
    }
    buf[0] = '\0';
}

/* what a cell holds, in words (latex: TeX-escaped) */
static void cell_caption(const table *t, const pivot *p, bool latex, char *buf, size_t len) {
    const char *base = t->baseline_key ? t->baseline_key : "no baseline";
    switch (p->ck) {
    case CELL_DEFAULT:
        snprintf(buf, len, "speedup (median of per-prompt tokens/s ratios against %s) / %sMAT", base, latex ? "\\#" : "#");
        break;
    case CELL_SPEEDUP:
        snprintf(buf, len, "speedup (median of per-prompt tokens/s ratios against %s)%s", base,
                 latex ? " $\\pm$ half-width of its 95\\% CI" : " [95% CI]");
        break;
    case CELL_MAT: snprintf(buf, len, "%sMAT", latex ? "\\#" : "#"); break;
    case CELL_TPS:
        snprintf(buf, len, "tok/s (median)%s", latex ? " $\\pm$ half-width of its 95\\% CI" : " [95% CI]");
        break;
    case CELL_TTFT: snprintf(buf, len, "TTFT p50 (ms)"); break;
    case CELL_LAT: snprintf(buf, len, "latency p50 (ms)"); break;
    }
}

static void pivot_md(const table *t, const pivot *p, FILE *out) {
    char buf[256];
    char by[160];
    snprintf(by, sizeof by, "%s%s", p->by == BY_PARAM ? "param:" : "", p->by == BY_PARAM ? p->param
                                    : p->by == BY_ENGINE ? "engine" : p->dim);
    db_table_title_line(t, by, out);
    fputs("\n\n|", out);
    int lead = 1 + p->show_dataset + p->show_model;
    db_md_cell(out, "label");
    if (p->show_dataset) db_md_cell(out, "dataset");
    if (p->show_model) db_md_cell(out, "model");
    for (int c = 0; c < p->n_cols; c++) db_md_cell(out, p->cols[c]);
    fputs("\n|", out);
    for (int i = 0; i < lead + p->n_cols; i++) fputs(i < lead ? "---|" : "--:|", out);
    fputc('\n', out);
    for (int i = 0; i < p->n_rows; i++) {
        const prow *r = &p->rows[i];
        if (p->by == BY_ENGINE && (i == 0 || strcmp(r->engine, p->rows[i - 1].engine))) {
            fputs("| **", out);
            db_md_text(out, r->engine);
            fputs("** |", out);
            for (int k = 1; k < lead + p->n_cols; k++) fputs(" |", out);
            fputc('\n', out);
        }
        fputc('|', out);
        if (pivot_row_noise(p, i)) {   /* S7: marked, footnote below */
            snprintf(buf, sizeof buf, "%s " DB_NOISE_MARK, r->label);
            db_md_cell(out, buf);
        } else db_md_cell(out, r->label);
        if (p->show_dataset) db_md_cell(out, r->dataset);
        if (p->show_model) db_md_cell(out, r->model);
        for (int c = 0; c < p->n_cols; c++) {
            fmt_cell(buf, sizeof buf, p, cell_at(p, i, c), false, false);
            db_md_cell(out, buf);
        }
        fputc('\n', out);
    }
    cell_caption(t, p, false, buf, sizeof buf);
    fputs("\nCell: ", out);
    db_md_text(out, buf);   /* holds the baseline key of the run's config */
    fputs(".\n", out);
    db_noise_footnote_md(t, out);   /* S7 interference */
}

static void pivot_csv(const table *t, const pivot *p, FILE *out) {
    bool dim_col = p->by != BY_MODEL && p->by != BY_DATASET;
    bool metric = p->ck == CELL_TPS || p->ck == CELL_TTFT || p->ck == CELL_LAT;
    db_csv_field(out, "run_id", 1);
    if (p->by == BY_ENGINE) db_csv_field(out, "engine", 0);
    const char *heads[] = { "label", "dataset", "model" };
    for (int i = 0; i < 3; i++) db_csv_field(out, heads[i], 0);
    if (dim_col) db_csv_field(out, p->dim, 0);
    const char *tail[] = { "n", "speedup", "speedup_lo", "speedup_hi", "mat" };
    for (int i = 0; i < 5; i++) db_csv_field(out, tail[i], 0);
    if (metric) {
        char h[80];
        db_csv_field(out, p->cspec->name, 0);
        if (p->ck == CELL_TPS) {
            snprintf(h, sizeof h, "%s_lo", p->cspec->name);
            db_csv_field(out, h, 0);
            snprintf(h, sizeof h, "%s_hi", p->cspec->name);
            db_csv_field(out, h, 0);
        }
    }
    if (p->row_noise) db_csv_field(out, "interference", 0);   /* S7: the cell's cases' reasons */
    fputs("\r\n", out);
    for (int i = 0; i < p->n_rows; i++) {
        const prow *r = &p->rows[i];
        for (int c = 0; c < p->n_cols; c++) {
            const cell *x = cell_at(p, i, c);
            if (x->n == 0) continue;
            char buf[32];
            snprintf(buf, sizeof buf, "%lld", (long long)t->run_id);
            db_csv_field(out, buf, 1);
            if (p->by == BY_ENGINE) db_csv_field(out, r->engine, 0);
            db_csv_field(out, r->label, 0);
            db_csv_field(out, p->by == BY_DATASET ? p->cols[c] : r->dataset, 0);
            db_csv_field(out, p->by == BY_MODEL ? p->cols[c] : r->model, 0);
            if (dim_col) db_csv_field(out, p->cols[c], 0);
            snprintf(buf, sizeof buf, "%d", x->n);
            db_csv_field(out, buf, 0);
            db_csv_num(out, x->sp);
            db_csv_num(out, x->lo);
            db_csv_num(out, x->hi);
            db_csv_num(out, x->mat);
            if (metric) {
                db_csv_num(out, x->v);
                if (p->ck == CELL_TPS) {
                    db_csv_num(out, x->vlo);
                    db_csv_num(out, x->vhi);
                }
            }
            if (p->row_noise) {
                char *why = NULL;
                if (pivot_row_noise(p, i) && pivot_cell_noise(t, p, i, c, &why) != 0) why = NULL;
                db_csv_field(out, why ? why : "", 0);
                free(why);
            }
            fputs("\r\n", out);
        }
    }
}

static void pivot_latex(const table *t, const pivot *p, FILE *out) {
    char machine[256], buf[256];
    db_table_machine_title(t, machine, sizeof machine);
    db_tex_commentf(out, "%% decobench run %lld -- suite: %s -- machine: %s -- llama.cpp: %s -- by %s%s",
                    (long long)t->run_id, t->suite, machine, t->llama_commit, p->by == BY_PARAM ? "param:" : "",
                    p->by == BY_PARAM ? p->param : p->by == BY_ENGINE ? "engine" : p->dim);
    if (p->ck == CELL_DEFAULT)
        db_tex_commentf(out, "%% cell: speedup against %s / \\#MAT; bold: best speedup per column",
                        t->baseline_key ? t->baseline_key : "no baseline");
    else {
        cell_caption(t, p, true, buf, sizeof buf);
        db_tex_commentf(out, "%% cell: %s; bold: best per column", buf);
    }
    int lead = 1 + p->show_dataset + p->show_model;
    fputs("% requires \\usepackage{booktabs}\n\\begin{tabular}{", out);
    for (int c = 0; c < lead; c++) fputc('l', out);
    for (int c = 0; c < p->n_cols; c++) fputc('r', out);
    fputs("}\n\\toprule\nLabel", out);
    if (p->show_dataset) fputs(" & Dataset", out);
    if (p->show_model) fputs(" & Model", out);
    for (int c = 0; c < p->n_cols; c++) {
        fputs(" & ", out);
        db_tex_text(out, p->cols[c]);
    }
    fputs(" \\\\\n\\midrule\n", out);
    char (*best)[64] = calloc((size_t)(p->n_cols > 0 ? p->n_cols : 1), sizeof *best);
    for (int c = 0; c < p->n_cols && best; c++) pivot_best(p, c, best[c], sizeof best[c]);
    for (int i = 0; i < p->n_rows; i++) {
        const prow *r = &p->rows[i];
        if (p->by == BY_ENGINE && (i == 0 || strcmp(r->engine, p->rows[i - 1].engine))) {
            if (i > 0) fputs("\\midrule\n", out);
            fprintf(out, "\\multicolumn{%d}{l}{\\textit{", lead + p->n_cols);
            db_tex_text(out, r->engine);
            fputs("}} \\\\\n", out);
        }
        db_tex_text(out, r->label);
        if (pivot_row_noise(p, i)) fputs("$^\\dagger$", out);   /* S7 interference */
        if (p->show_dataset) {
            fputs(" & ", out);
            db_tex_text(out, r->dataset);
        }
        if (p->show_model) {
            fputs(" & ", out);
            db_tex_text(out, r->model);
        }
        for (int c = 0; c < p->n_cols; c++) {
            const cell *x = cell_at(p, i, c);
            char a[64];
            fmt_metric(a, sizeof a, p, x, "--");
            bool bold = best && best[c][0] && x->n > 0 && !strcmp(a, best[c]);
            fmt_cell(buf, sizeof buf, p, x, true, bold);
            fprintf(out, " & %s", buf);
        }
        fputs(" \\\\\n", out);
    }
    free(best);
    fputs("\\bottomrule\n\\end{tabular}\n", out);
    db_noise_footnote_tex(t, out);   /* S7 interference */
}

static int pivot_json(const table *t, const pivot *p, FILE *out, char *err, size_t errlen) {
    cJSON *root = db_table_json_header(t);
    if (!root) return db_errf(err, errlen, "out of memory");
    char by[160];
    snprintf(by, sizeof by, "%s%s", p->by == BY_PARAM ? "param:" : "",
             p->by == BY_PARAM ? p->param : p->by == BY_ENGINE ? "engine" : p->dim);
    cJSON_AddStringToObject(root, "by", by);
    if (p->ck != CELL_DEFAULT) cJSON_AddStringToObject(root, "cell", p->cspec->name);
    cJSON *cols = cJSON_AddArrayToObject(root, "columns");
    for (int c = 0; c < p->n_cols && cols; c++) cJSON_AddItemToArray(cols, cJSON_CreateString(p->cols[c]));
    cJSON *rows = cJSON_AddArrayToObject(root, "rows");
    bool metric = p->ck == CELL_TPS || p->ck == CELL_TTFT || p->ck == CELL_LAT;
    for (int i = 0; i < p->n_rows && rows; i++) {
        const prow *r = &p->rows[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(rows, o);
        cJSON *ids = cJSON_AddArrayToObject(o, "case_ids");
        for (int k = 0; k < t->n_rows && ids; k++)
            if (p->case_row[k] == i) cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)t->rows[k].case_id));
        cJSON_AddStringToObject(o, "label", r->label);
        cJSON_AddStringToObject(o, "engine", r->engine);
        if (p->by != BY_DATASET) cJSON_AddStringToObject(o, "dataset", r->dataset);
        if (p->by != BY_MODEL) cJSON_AddStringToObject(o, "model", r->model);
        cJSON_AddBoolToObject(o, "is_baseline", r->baseline);
        db_noise_json(o, p->row_noise != NULL, pivot_row_noise(p, i));   /* S7 interference */
        cJSON *cells = cJSON_AddObjectToObject(o, "cells");
        for (int c = 0; c < p->n_cols && cells; c++) {
            const cell *x = cell_at(p, i, c);
            if (x->n == 0) {
                cJSON_AddNullToObject(cells, p->cols[c]);
                continue;
            }
            cJSON *e = cJSON_AddObjectToObject(cells, p->cols[c]);
            if (!e) break;
            cJSON_AddNumberToObject(e, "n", x->n);
            cJSON_AddItemToObject(e, "speedup", db_table_jnum(x->sp));
            if (isfinite(x->lo))
                cJSON_AddItemToObject(e, "speedup_ci", cJSON_CreateDoubleArray((double[]){ x->lo, x->hi }, 2));
            else cJSON_AddNullToObject(e, "speedup_ci");
            cJSON_AddItemToObject(e, "mat", db_table_jnum(x->mat));
            if (metric) {
                cJSON_AddItemToObject(e, p->cspec->name, db_table_jnum(x->v));
                if (p->ck == CELL_TPS) {
                    char k2[64];
                    snprintf(k2, sizeof k2, "%s_ci", p->cspec->name);
                    if (isfinite(x->vlo))
                        cJSON_AddItemToObject(e, k2, cJSON_CreateDoubleArray((double[]){ x->vlo, x->vhi }, 2));
                    else cJSON_AddNullToObject(e, k2);
                }
            }
        }
    }
    return db_json_print(root, out, err, errlen);
}

/* by: category, engine, model, dataset or param:NAME; cell: NULL or a CELL_METRICS name */
int db_table_pivot(const table *t, const char *fmt, const char *by, const char *cellm, uint64_t seed, FILE *out,
                       char *err, size_t errlen) {
    pivot p;
    memset(&p, 0, sizeof p);
    if (!strcmp(by, "category")) p.by = BY_CATEGORY, p.dim = "category";
    else if (!strcmp(by, "engine")) p.by = BY_ENGINE, p.dim = "category";
    else if (!strcmp(by, "model")) p.by = BY_MODEL, p.dim = "model";
    else if (!strcmp(by, "dataset")) p.by = BY_DATASET, p.dim = "dataset";
    else if (!strncmp(by, "param:", 6) && by[6]) p.by = BY_PARAM, p.param = p.dim = by + 6;
    else return db_errf(err, errlen, "unknown grouping '%s'", by);
    p.ck = CELL_DEFAULT;
    p.cspec = db_table_col_find("speedup");
    if (cellm) {
        int k = 0;
        while (k < N_CELL_METRICS && strcmp(CELL_METRICS[k].name, cellm) != 0) k++;
        if (k == N_CELL_METRICS)
            return db_errf(err, errlen, "--cell: unknown metric '%s' (valid: speedup, mat, tokens_per_s, "
                           "ttft_p50_ms, latency_p50_ms)", cellm);
        p.ck = CELL_METRICS[k].kind;
        p.cspec = db_table_col_find(cellm);
    }
    int rc = pivot_layout(t, &p, err, errlen);
    if (rc == 0) rc = pivot_cells(t, seed, &p, err, errlen);
    if (rc == 0) rc = pivot_noise(t, &p, err, errlen);
    if (rc == 0) {
        if (!strcmp(fmt, "md")) pivot_md(t, &p, out);
        else if (!strcmp(fmt, "csv")) pivot_csv(t, &p, out);
        else if (!strcmp(fmt, "latex")) pivot_latex(t, &p, out);
        else rc = pivot_json(t, &p, out, err, errlen);
    }
    pivot_free(&p);
    return rc;
}
