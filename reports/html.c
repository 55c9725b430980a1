/* html.c — `decobench report --format html`: one self-contained HTML file
 * for a run (no scripts, no network: a Content-Security-Policy forbids
 * both), with inline SVG charts drawn by reports/svg.c:
 *
 *   speedup per case with its 95% CI (the Markdown table's
 *     speedup: paired per prompt against the run's baseline);
 *   acceptance-length histogram: the share of verification steps (VERIFY
 *     events) that accepted j draft tokens, per speculative case;
 *   acceptance rate per draft position (the table's α@1..k);
 *   #MAT against the draft length k (params_json "k"), one line per engine
 *     and its other parameters, dataset and model;
 *   latency CDF per case;
 *   quality against budget (Pareto): per quality metric of the optional
 *     table sample_metric(sample_id, name, value), each case's mean value
 *     against its mean target forwards per sample, the non-dominated cases
 *     joined;
 *
 * then the results table, the machine (and its `decobench probe` result),
 * the run's configuration (suite, config_json, argv, revisions, build),
 * counter availability and the first outputs of every case.  Every stored
 * text is HTML-escaped (format.c db_html_text).  A chart without data is a
 * sentence saying why (e.g. "no speculative cases") with the chart's id.
 */
#include "format.h"
#include "serving.h"
#include "svg.h"
#include "table_data.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/store_read.h"
#include "harness/util/util.h"

#define SAMPLES_SHOWN 5          /* outputs shown per case */
#define OUTPUT_CHARS 400         /* bytes of each output shown */
#define OUTPUT_CASES 50          /* cases whose outputs are shown (S13: large runs) */
#define CDF_POINTS 200           /* steps per case in the latency CDF */
#define MAX_QUALITY 8            /* quality metrics charted */

typedef struct case_extra {
    char *params_json;
    double k;                    /* params "k", NaN without */
    char *k_group;               /* params without "k", canonical JSON */
    double mean_tfwd, mean_teval;   /* per sample */
    int64_t hist[DB_TABLE_MAX_POS + 1];   /* VERIFY events by accepted draft tokens */
    int64_t n_hist;
    double *quality;             /* n_quality means, NaN where absent */
} case_extra;

typedef struct report {
    db_table t;
    case_extra *x;
    char **quality;              /* metric names of sample_metric */
    int n_quality;
    bool multi;                  /* more than one dataset or model */
} report;

static void report_free(report *r) {
    for (int i = 0; r->x && i < r->t.n_rows; i++) {
        free(r->x[i].params_json);
        free(r->x[i].k_group);
        free(r->x[i].quality);
    }
    free(r->x);
    for (int i = 0; i < r->n_quality; i++) free(r->quality[i]);
    free(r->quality);
    db_table_free(&r->t);
}

/* ---- loading what the table does not hold -------------------------------- */

static void parse_params(case_extra *x) {
    x->k = NAN;
    cJSON *p = cJSON_Parse(x->params_json);
    if (!cJSON_IsObject(p)) {
        cJSON_Delete(p);
        x->k_group = db_strdup("{}");
        return;
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(p, "k");
    if (cJSON_IsNumber(k)) x->k = k->valuedouble;
    cJSON_DeleteItemFromObjectCaseSensitive(p, "k");
    char *g = cJSON_PrintUnformatted(p);
    x->k_group = g ? db_strdup(g) : db_strdup("{}");
    free(g);
    cJSON_Delete(p);
}

static void load_quality_names(db_store *st, report *r) {
    char **names = NULL, ignore[8];
    int n = 0;
    /* another layout: not charted */
    if (db_store_read_metric_names(st, r->t.run_id, &names, &n, ignore, sizeof ignore) != 0) return;
    int keep = n < MAX_QUALITY ? n : MAX_QUALITY;
    for (int i = keep; i < n; i++) free(names[i]);
    r->quality = names;
    r->n_quality = keep;
}

static int load_extra(db_store *st, report *r, char *err, size_t errlen) {
    r->x = calloc((size_t)(r->t.n_rows > 0 ? r->t.n_rows : 1), sizeof *r->x);
    if (!r->x) return db_errf(err, errlen, "out of memory");
    load_quality_names(st, r);
    for (int i = 0; i < r->t.n_rows; i++) {
        const db_table_row *row = &r->t.rows[i];
        case_extra *x = &r->x[i];
        db_case_info ci;
        bool found = false;
        if (db_store_read_case(st, row->case_id, &ci, &found, err, errlen) != 0) return -1;
        x->params_json = found ? ci.params_json : db_strdup("");
        ci.params_json = NULL;
        db_case_info_free(&ci);
        parse_params(x);
        db_case_means cm;
        if (db_store_case_means(st, row->case_id, &cm, err, errlen) != 0) return -1;
        x->mean_tfwd = cm.target_forwards;
        x->mean_teval = cm.target_tokens_evaluated;
        /* the accepted-length histogram from the VERIFY events the table read */
        memcpy(x->hist, row->accepted_hist, sizeof x->hist);
        x->n_hist = row->n_accepted_hist;
        x->quality = malloc((size_t)(r->n_quality > 0 ? r->n_quality : 1) * sizeof *x->quality);
        if (!x->params_json || !x->k_group || !x->quality) return db_errf(err, errlen, "out of memory");
        for (int q = 0; q < r->n_quality; q++)
            if (db_store_case_metric_mean(st, row->case_id, r->quality[q], &x->quality[q], err, errlen) != 0)
                return -1;
    }
    for (int i = 0; i < r->t.n_rows; i++)
        if (strcmp(r->t.rows[i].dataset, r->t.rows[0].dataset) || strcmp(r->t.rows[i].model, r->t.rows[0].model))
            r->multi = true;
    return 0;
}

/* ---- page pieces ---------------------------------------------------------- */

static const char *const STYLE =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;"
    "padding:0 1em;color:#222;line-height:1.4}\n"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}\n"
    "table{border-collapse:collapse;margin:.5em 0;font-size:.9em}\n"
    "th,td{border:1px solid #ddd;padding:.25em .5em;vertical-align:top}\n"
    "th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "tr.best td.tps{font-weight:bold}\n"
    "pre{background:#f8f8f8;padding:.5em;overflow-x:auto;white-space:pre-wrap;word-break:break-all}\n"
    "p.empty{color:#777;font-style:italic;border:1px dashed #ccc;padding:1em}\n"
    "svg.chart{display:block;margin:1em 0;font-size:12px}svg.chart text{fill:#333}\n"
    "svg.chart text.t{font-size:14px;font-weight:bold}svg.chart text.na{fill:#999}\n"
    "svg.chart line.g{stroke:#e6e6e6}svg.chart line.a{stroke:#555}\n"
    "svg.chart line.ref{stroke:#333;stroke-dasharray:4 3}svg.chart path.ci{stroke:#222;stroke-width:1.5;fill:none}\n"
    "div.wide{overflow-x:auto}\n"
    "td.out{font-family:ui-monospace,monospace;white-space:pre-wrap;max-width:40em}\n";

static void esc(FILE *out, const char *s) {
    db_html_text(out, s ? s : "");
}

static void td(FILE *out, const char *s, bool num) {
    fputs(num ? "<td class=\"n\">" : "<td>", out);
    esc(out, s);
    fputs("</td>", out);
}

static void th(FILE *out, const char *s) {
    fputs("<th>", out);
    esc(out, s);
    fputs("</th>", out);
}

static void empty_chart(FILE *out, const char *id, const char *why) {
    fputs("<p class=\"empty\" id=\"", out);
    esc(out, id);
    fputs("\">", out);
    esc(out, why);
    fputs("</p>\n", out);
}

/* "label" or "label · dataset · model" when the run has several */
static char *case_name(const report *r, int i) {
    const db_table_row *row = &r->t.rows[i];
    db_str b;
    db_str_init(&b);
    int e = db_str_append(&b, row->label);
    if (r->multi) e |= db_str_printf(&b, " \xC2\xB7 %s \xC2\xB7 %s", row->dataset, row->model);
    if (e) {
        db_str_free(&b);
        return db_strdup("");
    }
    return db_str_take(&b);
}

static void write_results_table(FILE *out, const report *r) {
    const db_table *t = &r->t;
    char buf[512];
    fputs("<div class=\"wide\"><table id=\"results\">\n<tr>", out);
    const char *heads[] = { "label", "dataset", "model", "n", "tok/s [95% CI]", "speedup [95% CI]", "pred. speedup",
                            "#MAT", "\xCE\xB1", "k\xCC\x84", "\xCE\xB1@1..k", "c", "draft time", "TTFT p50 (ms)",
                            "TTFT p90 (ms)", "latency p50 (ms)" };
    for (int i = 0; i < (int)(sizeof heads / sizeof heads[0]); i++) {
        bool sp = i == 6 || (i >= 8 && i <= 12);
        if (!sp || t->spec) th(out, heads[i]);
    }
    for (int c = 0; c < t->n_counters; c++) th(out, t->counters[c]);
    fputs("</tr>\n", out);
    for (int i = 0; i < t->n_rows; i++) {
        const db_table_row *row = &t->rows[i];
        fprintf(out, "<tr%s>", row->best ? " class=\"best\"" : "");
        if (row->noise) {   /* S7 interference: marked, listed below the table */
            fputs("<td class=\"noisy\">", out);
            esc(out, row->label);
            fputs(" <a href=\"#interference\">" DB_NOISE_MARK "</a></td>", out);
        } else td(out, row->label, false);
        td(out, row->dataset, false);
        td(out, row->model, false);
        snprintf(buf, sizeof buf, "%d", row->n);
        td(out, buf, true);
        db_table_fmt_ci(buf, sizeof buf, row->tps_med, row->tps_lo, row->tps_hi);
        fputs("<td class=\"n tps\">", out);
        esc(out, buf);
        fputs("</td>", out);
        db_table_fmt_speedup(buf, sizeof buf, row, row->baseline == i);
        td(out, buf, true);
        if (t->spec) {
            db_table_fmt_fixed(buf, sizeof buf, row->pred, 2);
            td(out, buf, true);
        }
        db_table_fmt_fixed(buf, sizeof buf, row->mat, 2);
        td(out, buf, true);
        if (t->spec) {
            db_table_fmt_fixed(buf, sizeof buf, row->alpha, 2);
            td(out, buf, true);
            db_table_fmt_fixed(buf, sizeof buf, row->kbar, 2);
            td(out, buf, true);
            db_table_fmt_acc_at(buf, sizeof buf, row);
            td(out, buf, true);
            db_table_fmt_fixed(buf, sizeof buf, row->cost, 3);
            td(out, buf, true);
            db_table_fmt_percent(buf, sizeof buf, row->dshare);
            td(out, buf, true);
        }
        double fx[3] = { row->ttft50, row->ttft90, row->lat50 };
        for (int k = 0; k < 3; k++) {
            db_table_fmt_fixed(buf, sizeof buf, fx[k], 1);
            td(out, buf, true);
        }
        for (int c = 0; c < t->n_counters; c++) {
            db_table_fmt_counter(buf, sizeof buf, row->cnt_med[c]);
            td(out, buf, true);
        }
        fputs("</tr>\n", out);
    }
    fputs("</table></div>\n<p>Speedup: median of per-prompt tokens/s ratios against <b>", out);
    esc(out, t->baseline_key ? t->baseline_key : "(no baseline)");
    fputs("</b> on the same dataset and model, 95% CI of the median (order statistics); bold tokens/s: the fastest case of its dataset"
          " and model.  Definitions: docs/metrics.md.</p>\n", out);
    db_noise_footnote_html(t, out);   /* S7 interference */
}

/* ---- charts ---------------------------------------------------------------- */

static int chart_speedup(FILE *out, const report *r) {
    const db_table *t = &r->t;
    int n = t->n_rows;
    const char **labels = calloc((size_t)(n > 0 ? n : 1), sizeof *labels);
    double *v = malloc((size_t)(n > 0 ? n : 1) * 3 * sizeof *v);
    if (!labels || !v) {
        free(labels);
        free(v);
        return -1;
    }
    bool any = false;
    for (int i = 0; i < n; i++) {
        const db_table_row *row = &t->rows[i];
        labels[i] = case_name(r, i);
        v[i] = row->sp_med;
        v[n + i] = row->baseline == i ? NAN : row->sp_lo;
        v[2 * n + i] = row->baseline == i ? NAN : row->sp_hi;
        if (isfinite(row->sp_med) && row->baseline != i) any = true;
    }
    db_svg_chart c = { "chart-speedup", "Speedup against the baseline (median, 95% CI)", "speedup (\xC3\x97)", NULL,
                       true, false, NAN };
    if (!any)
        empty_chart(out, c.id, t->baseline_key ? "no case to compare with the baseline"
                                               : "no baseline case (the suite's \"baseline\" or an ar case)");
    else db_svg_hbars(out, &c, labels, v, v + n, v + 2 * n, n, 1.0);
    for (int i = 0; i < n; i++) free((char *)labels[i]);
    free(labels);
    free(v);
    return 0;
}

/* series storage for per-case charts */
typedef struct series_buf {
    db_svg_series *s;
    char **names;
    double *xy;                  /* one block, 2·cap values per series */
    int ns, cap;
} series_buf;

static int sb_init(series_buf *b, int n_series, int cap) {
    memset(b, 0, sizeof *b);
    b->cap = cap > 0 ? cap : 1;
    b->s = calloc((size_t)(n_series > 0 ? n_series : 1), sizeof *b->s);
    b->names = calloc((size_t)(n_series > 0 ? n_series : 1), sizeof *b->names);
    b->xy = malloc((size_t)(n_series > 0 ? n_series : 1) * 2 * (size_t)b->cap * sizeof *b->xy);
    return b->s && b->names && b->xy ? 0 : -1;
}

static db_svg_series *sb_add(series_buf *b, char *name, int color, db_svg_style style) {
    db_svg_series *s = &b->s[b->ns];
    b->names[b->ns] = name;
    s->name = name;
    s->x = b->xy + (size_t)b->ns * 2 * (size_t)b->cap;
    s->y = s->x + b->cap;
    s->color = color;
    s->style = style;
    b->ns++;
    return s;
}

static void sb_free(series_buf *b) {
    for (int i = 0; i < b->ns; i++) free(b->names[i]);
    free(b->names);
    free(b->s);
    free(b->xy);
}

static double *sx(db_svg_series *s) { return (double *)s->x; }
static double *sy(db_svg_series *s) { return (double *)s->y; }

static int chart_accept_hist(FILE *out, const report *r) {
    const db_table *t = &r->t;
    int maxa = 0, nspec = 0;
    for (int i = 0; i < t->n_rows; i++) {
        if (r->x[i].n_hist == 0) continue;
        nspec++;
        for (int a = 0; a <= DB_TABLE_MAX_POS; a++)
            if (r->x[i].hist[a] > 0 && a > maxa) maxa = a;
    }
    if (nspec == 0) {
        empty_chart(out, "chart-accept-hist", "no speculative cases: no verification steps to count");
        return 0;
    }
    series_buf b;
    char (*cats)[12] = calloc((size_t)maxa + 1, sizeof *cats);
    const char **catp = calloc((size_t)maxa + 1, sizeof *catp);
    if (sb_init(&b, nspec, maxa + 1) != 0 || !cats || !catp) {
        sb_free(&b);
        free(cats);
        free(catp);
        return -1;
    }
    for (int a = 0; a <= maxa; a++) {
        snprintf(cats[a], sizeof cats[a], "%d", a);
        catp[a] = cats[a];
    }
    for (int i = 0; i < t->n_rows; i++) {
        const case_extra *x = &r->x[i];
        if (x->n_hist == 0) continue;
        db_svg_series *s = sb_add(&b, case_name(r, i), i, DB_SVG_LINES);
        s->n = maxa + 1;
        for (int a = 0; a <= maxa; a++) sy(s)[a] = (double)x->hist[a] / (double)x->n_hist;
    }
    db_svg_chart c = { "chart-accept-hist", "Accepted draft tokens per verification step",
                       "accepted draft tokens", "share of verification steps", true, false, NAN };
    db_svg_grouped_bars(out, &c, catp, maxa + 1, b.s, b.ns);
    sb_free(&b);
    free(cats);
    free(catp);
    return 0;
}

static int chart_accept_pos(FILE *out, const report *r) {
    const db_table *t = &r->t;
    int nspec = 0;
    for (int i = 0; i < t->n_rows; i++)
        if (t->rows[i].n_pos > 0) nspec++;
    if (nspec == 0) {
        empty_chart(out, "chart-accept-pos", "no speculative cases: no draft positions verified");
        return 0;
    }
    series_buf b;
    if (sb_init(&b, nspec, t->max_pos) != 0) {
        sb_free(&b);
        return -1;
    }
    for (int i = 0; i < t->n_rows; i++) {
        const db_table_row *row = &t->rows[i];
        if (row->n_pos == 0) continue;
        db_svg_series *s = sb_add(&b, case_name(r, i), i, DB_SVG_LINES_POINTS);
        s->n = row->n_pos;
        for (int k = 0; k < row->n_pos; k++) {
            sx(s)[k] = k + 1;
            sy(s)[k] = row->acc_at[k];
        }
    }
    db_svg_chart c = { "chart-accept-pos", "Acceptance rate per draft position", "draft position",
                       "acceptance rate", true, true, 1.0 };
    db_svg_xy(out, &c, b.s, b.ns);
    sb_free(&b);
    return 0;
}

static int chart_mat_k(FILE *out, const report *r) {
    const db_table *t = &r->t;
    int n = t->n_rows;
    int *group = malloc((size_t)(n > 0 ? n : 1) * sizeof *group);
    if (!group) return -1;
    int ng = 0;
    /* one line per engine, other parameters, dataset and model; points by k */
    for (int i = 0; i < n; i++) {
        group[i] = -1;
        if (!isfinite(r->x[i].k) || !isfinite(t->rows[i].mat)) continue;
        for (int j = 0; j < i && group[i] < 0; j++)
            if (group[j] >= 0 && !strcmp(t->rows[j].engine, t->rows[i].engine) &&
                !strcmp(r->x[j].k_group, r->x[i].k_group) && !strcmp(t->rows[j].dataset, t->rows[i].dataset) &&
                !strcmp(t->rows[j].model, t->rows[i].model))
                group[i] = group[j];
        if (group[i] < 0) group[i] = ng++;
    }
    if (ng == 0) {
        empty_chart(out, "chart-mat-k", "no speculative cases with a draft length parameter k");
        free(group);
        return 0;
    }
    series_buf b;
    if (sb_init(&b, ng, n) != 0) {
        sb_free(&b);
        free(group);
        return -1;
    }
    for (int g = 0; g < ng; g++) {
        int first = -1;
        for (int i = 0; i < n && first < 0; i++)
            if (group[i] == g) first = i;
        db_str nm;
        db_str_init(&nm);
        db_str_append(&nm, t->rows[first].engine);
        if (strcmp(r->x[first].k_group, "{}") != 0) db_str_printf(&nm, " %s", r->x[first].k_group);
        if (r->multi) db_str_printf(&nm, " \xC2\xB7 %s \xC2\xB7 %s", t->rows[first].dataset, t->rows[first].model);
        char *name = db_str_take(&nm);
        db_svg_series *s = sb_add(&b, name ? name : db_strdup(""), g, DB_SVG_LINES_POINTS);
        /* insertion by k */
        for (int i = 0; i < n; i++) {
            if (group[i] != g) continue;
            int at = s->n++;
            while (at > 0 && sx(s)[at - 1] > r->x[i].k) {
                sx(s)[at] = sx(s)[at - 1];
                sy(s)[at] = sy(s)[at - 1];
                at--;
            }
            sx(s)[at] = r->x[i].k;
            sy(s)[at] = t->rows[i].mat;
        }
    }
    db_svg_chart c = { "chart-mat-k", "Mean accepted length (#MAT) against draft length k", "k",
                       "#MAT (tokens per target forward)", true, true, NAN };
    db_svg_xy(out, &c, b.s, b.ns);
    sb_free(&b);
    free(group);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int chart_latency_cdf(FILE *out, const report *r) {
    const db_table *t = &r->t;
    int cap = 1, any = 0;
    for (int i = 0; i < t->n_rows; i++)
        if (t->rows[i].n + 1 > cap) cap = t->rows[i].n + 1;
    series_buf b;
    if (sb_init(&b, t->n_rows, cap) != 0) {
        sb_free(&b);
        return -1;
    }
    for (int i = 0; i < t->n_rows; i++) {
        const db_table_row *row = &t->rows[i];
        int m = 0;
        double *tmp = malloc((size_t)cap * sizeof *tmp);
        if (!tmp) {
            sb_free(&b);
            return -1;
        }
        for (int k = 0; k < row->n; k++)
            if (isfinite(row->lat[k])) tmp[m++] = row->lat[k];
        if (m == 0) {
            free(tmp);
            continue;
        }
        qsort(tmp, (size_t)m, sizeof *tmp, cmp_double);
        db_svg_series *s = sb_add(&b, case_name(r, i), i, DB_SVG_STEPS);
        sx(s)[0] = tmp[0];
        sy(s)[0] = 0;
        /* S13: at most CDF_POINTS steps per case (evenly spaced ranks; the
         * last is the maximum), so a large run's chart stays small */
        int np = m <= CDF_POINTS ? m : CDF_POINTS;
        for (int j = 0; j < np; j++) {
            int k = m <= CDF_POINTS ? j : (int)(((int64_t)(j + 1) * m + CDF_POINTS - 1) / CDF_POINTS) - 1;
            sx(s)[j + 1] = tmp[k];
            sy(s)[j + 1] = (double)(k + 1) / m;
        }
        s->n = np + 1;
        any = 1;
        free(tmp);
    }
    db_svg_chart c = { "chart-latency-cdf", "Latency per sample (empirical CDF)", "latency (ms)",
                       "fraction of samples", true, false, 1.0 };
    if (!any) empty_chart(out, c.id, "no latencies recorded");
    else db_svg_xy(out, &c, b.s, b.ns);
    sb_free(&b);
    return 0;
}

static int chart_pareto(FILE *out, const report *r) {
    const db_table *t = &r->t;
    if (r->n_quality == 0) {
        empty_chart(out, "chart-pareto-0",
                    "no quality metrics recorded for this run (table sample_metric absent or empty)");
        return 0;
    }
    for (int q = 0; q < r->n_quality; q++) {
        char id[32], title[512], tip[512];
        snprintf(id, sizeof id, "chart-pareto-%d", q);
        series_buf b;
        char **tips = calloc((size_t)(t->n_rows > 0 ? t->n_rows : 1), sizeof *tips);
        if (sb_init(&b, t->n_rows + 1, t->n_rows + 1) != 0 || !tips) {
            sb_free(&b);
            free(tips);
            return -1;
        }
        int npts = 0;
        for (int i = 0; i < t->n_rows; i++) {
            const case_extra *x = &r->x[i];
            if (!isfinite(x->quality[q]) || !isfinite(x->mean_tfwd)) continue;
            db_svg_series *s = sb_add(&b, case_name(r, i), i, DB_SVG_POINTS);
            snprintf(tip, sizeof tip, "%s: %s %.4g at %.1f target forwards (%.1f tokens evaluated) per sample",
                     s->name, r->quality[q], x->quality[q], x->mean_tfwd, x->mean_teval);
            tips[i] = db_strdup(tip);
            s->tips = (const char *const *)&tips[i];
            s->n = 1;
            sx(s)[0] = x->mean_tfwd;
            sy(s)[0] = x->quality[q];
            npts++;
        }
        if (npts > 0) {
            /* frontier: by budget ascending, each case better than every cheaper one */
            db_svg_series *f = sb_add(&b, db_strdup("Pareto frontier (fewer forwards, higher value)"), 9,
                                      DB_SVG_LINES);
            double *px = malloc((size_t)npts * 2 * sizeof *px);
            if (px) {
                int m = 0;
                for (int k = 0; k < b.ns - 1; k++) {
                    px[2 * m] = b.s[k].x[0];
                    px[2 * m + 1] = b.s[k].y[0];
                    m++;
                }
                /* sort pairs by x, then y descending */
                for (int a = 1; a < m; a++)
                    for (int c = a; c > 0 && (px[2 * c - 2] > px[2 * c] ||
                                              (px[2 * c - 2] == px[2 * c] && px[2 * c - 1] < px[2 * c + 1]));
                         c--) {
                        double tx = px[2 * c], ty = px[2 * c + 1];
                        px[2 * c] = px[2 * c - 2];
                        px[2 * c + 1] = px[2 * c - 1];
                        px[2 * c - 2] = tx;
                        px[2 * c - 1] = ty;
                    }
                double best = -INFINITY;
                for (int a = 0; a < m; a++)
                    if (px[2 * a + 1] > best) {
                        best = px[2 * a + 1];
                        sx(f)[f->n] = px[2 * a];
                        sy(f)[f->n] = px[2 * a + 1];
                        f->n++;
                    }
                free(px);
            }
            snprintf(title, sizeof title, "Quality against budget: %s", r->quality[q]);
            db_svg_chart c = { id, title, "target forwards per sample (mean)", r->quality[q], false, false, NAN };
            db_svg_xy(out, &c, b.s, b.ns);
        } else {
            snprintf(title, sizeof title, "no case has values of %s", r->quality[q]);
            empty_chart(out, id, title);
        }
        for (int i = 0; i < t->n_rows; i++) free(tips[i]);
        free(tips);
        sb_free(&b);
    }
    return 0;
}

/* ---- machine, configuration, outputs -------------------------------------------- */

static bool is_time_col(const char *name) {
    size_t n = strlen(name);
    return (n > 3 && !strcmp(name + n - 3, "_at")) || !strcmp(name, "first_seen");
}

/* a stored record as a two-column table (unix-ms columns as ISO 8601 UTC);
 * 1 when there is none, -1 when it cannot be read */
static int kv_table(FILE *out, db_store *st, db_record_kind kind, int64_t id, const char *table_id) {
    db_field *f = NULL;
    int n = 0;
    if (db_store_read_record(st, kind, id, &f, &n) != 0) return -1;
    if (n == 0) return 1;
    fputs("<table id=\"", out);
    esc(out, table_id);
    fputs("\">\n", out);
    for (int c = 0; c < n; c++) {
        const char *name = f[c].name;
        char buf[64];
        fputs("<tr><th>", out);
        esc(out, name);
        fputs("</th>", out);
        if (!f[c].text) td(out, "", false);
        else if (is_time_col(name)) {
            db_iso8601(f[c].int_value, buf, sizeof buf);
            td(out, buf, false);
        } else td(out, f[c].text, !f[c].is_text);
        fputs("</tr>\n", out);
    }
    fputs("</table>\n", out);
    db_fields_free(f, n);
    return 0;
}

static void write_machine(FILE *out, db_store *st, const report *r) {
    fputs("<h2 id=\"machine\">Machine</h2>\n", out);
    if (r->t.machine_id <= 0 || kv_table(out, st, DB_RECORD_MACHINE, r->t.machine_id, "machine-table") != 0) {
        fputs("<p>No machine recorded for this run.</p>\n", out);
        return;
    }
    if (kv_table(out, st, DB_RECORD_PROBE, r->t.machine_id, "machine-probe") != 0)
        fputs("<p id=\"machine-probe\">Memory bandwidth and peak FP32 rate: n/a \xE2\x80\x94 run"
              " <code>decobench probe</code> on this machine.</p>\n", out);
}

static void write_config(FILE *out, db_store *st, const report *r) {
    fputs("<h2 id=\"configuration\">Configuration</h2>\n", out);
    kv_table(out, st, DB_RECORD_RUN, r->t.run_id, "run-table");
    fputs("<p>Suite configuration (run.config_json):</p>\n<pre id=\"config-json\">", out);
    cJSON *cfg = cJSON_Parse(r->t.config_json);
    char *pretty = cfg ? cJSON_Print(cfg) : NULL;
    esc(out, pretty ? pretty : r->t.config_json);
    free(pretty);
    cJSON_Delete(cfg);
    fputs("</pre>\n", out);
    db_run_counter_info *c = NULL;
    int n = 0;
    char ignore[8];
    if (db_store_read_run_counters(st, r->t.run_id, &c, &n, ignore, sizeof ignore) != 0) return;
    for (int i = 0; i < n; i++) {
        if (i == 0)
            fputs("<p>Counters:</p>\n<table id=\"counters\">\n<tr><th>counter</th><th>available</th>"
                  "<th>fallback</th><th>reason</th></tr>\n", out);
        fputs("<tr>", out);
        td(out, c[i].name, false);
        td(out, c[i].available ? "yes" : "no", false);
        td(out, c[i].fallback ? "yes" : "no", false);
        td(out, c[i].reason, false);
        fputs("</tr>\n", out);
    }
    if (n > 0) fputs("</table>\n", out);
    db_run_counters_free(c, n);
}

/* the first outputs of every case, cut at a UTF-8 boundary */
static void write_outputs(FILE *out, db_store *st, const report *r) {
    fputs("<h2 id=\"outputs\">Outputs</h2>\n", out);
    if (r->t.n_rows > OUTPUT_CASES)
        fprintf(out, "<p>The first %d outputs of the first %d of %d cases; every output: "
                     "the <code>output_text</code> column of the database's <code>sample</code> table.</p>\n",
                SAMPLES_SHOWN, OUTPUT_CASES, r->t.n_rows);
    for (int i = 0; i < r->t.n_rows && i < OUTPUT_CASES; i++) {
        db_sample_info *s = NULL;
        int n = 0;
        char ignore[8];
        if (db_store_read_samples(st, r->t.rows[i].case_id, SAMPLES_SHOWN, true, &s, &n, ignore, sizeof ignore) !=
            0) {
            fputs("<p>Outputs unreadable.</p>\n", out);
            return;
        }
        char *name = case_name(r, i);
        fputs("<details><summary>", out);
        esc(out, name);
        free(name);
        fputs("</summary>\n<table>\n<tr><th>prompt</th><th>category</th><th>rep</th><th>turn</th>"
              "<th>tokens</th><th>stop</th><th>output</th></tr>\n", out);
        for (int k = 0; k < n; k++) {
            char rep[24], turn[24], toks[24];
            snprintf(rep, sizeof rep, "%d", s[k].rep);
            snprintf(turn, sizeof turn, "%d", s[k].turn);
            snprintf(toks, sizeof toks, "%lld", (long long)s[k].new_tokens);
            if (!s[k].has_new_tokens) toks[0] = '\0';   /* NULL: an empty cell */
            fputs("<tr>", out);
            td(out, s[k].prompt_id, false);
            td(out, s[k].category, false);
            td(out, rep, true);
            td(out, turn, true);
            td(out, toks, true);
            td(out, s[k].stop_reason, false);
            char *cut = db_strdup(s[k].output_text);
            if (cut && strlen(cut) > OUTPUT_CHARS) {
                size_t m = OUTPUT_CHARS;
                while (m > 0 && ((unsigned char)cut[m] & 0xC0) == 0x80) m--;
                memcpy(cut + m, "\xE2\x80\xA6", 4);
            }
            fputs("<td class=\"out\">", out);
            esc(out, cut);
            fputs("</td></tr>\n", out);
            free(cut);
        }
        db_sample_infos_free(s, n);
        fputs("</table></details>\n", out);
    }
}

/* ---- entry ------------------------------------------------------------------------ */

int db_report_html(db_store *st, int64_t run_id, uint64_t seed, FILE *out, char *err, size_t errlen) {
    report r;
    memset(&r, 0, sizeof r);
    int rc = -1;
    /* of the samples, only their latencies (the CDF chart) are kept */
    if (db_table_load_ex(st, run_id, seed, DB_TABLE_KEEP_LATENCY, &r.t, err, errlen) != 0) goto done;
    if (load_extra(st, &r, err, errlen) != 0) goto done;

    const db_table *t = &r.t;
    char machine[256];
    db_table_machine_title(t, machine, sizeof machine);
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", out);
    fprintf(out, "decobench run %lld \xE2\x80\x94 ", (long long)t->run_id);
    esc(out, t->suite);
    fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>decobench run %lld \xE2\x80\x94 suite ", STYLE,
            (long long)t->run_id);
    esc(out, t->suite[0] ? t->suite : "?");
    fputs("</h1>\n<p>Machine: ", out);
    esc(out, machine);
    fputs(" \xE2\x80\x94 llama.cpp: ", out);
    esc(out, t->llama_commit[0] ? t->llama_commit : "?");
    fputs(" \xE2\x80\x94 status: ", out);
    esc(out, t->status);
    if (t->noise) fputs(" \xE2\x80\x94 <a href=\"#interference\">" DB_NOISE_MARK " measured under interference</a>", out);
    fprintf(out, " \xE2\x80\x94 %d case%s</p>\n", t->n_rows, t->n_rows == 1 ? "" : "s");
    fputs("<p><a href=\"#results\">results</a> \xC2\xB7 <a href=\"#charts\">charts</a> \xC2\xB7 "
          "<a href=\"#machine\">machine</a> \xC2\xB7 <a href=\"#configuration\">configuration</a> \xC2\xB7 "
          "<a href=\"#outputs\">outputs</a></p>\n", out);
    fputs("<h2>Results</h2>\n", out);
    write_results_table(out, &r);
    fputs("<h2 id=\"charts\">Charts</h2>\n", out);
    if (chart_speedup(out, &r) != 0 || chart_accept_hist(out, &r) != 0 || chart_accept_pos(out, &r) != 0 ||
        chart_mat_k(out, &r) != 0 || chart_latency_cdf(out, &r) != 0 || chart_pareto(out, &r) != 0) {
        db_errf(err, errlen, "out of memory");
        goto done;
    }
    /* latency–throughput curves of serving sweeps (nothing without serving cases) */
    if (db_html_serving_charts(out, st, t->run_id, err, errlen) != 0) goto done;
    write_machine(out, st, &r);
    write_config(out, st, &r);
    write_outputs(out, st, &r);
    fputs("</body>\n</html>\n", out);
    if (ferror(out)) {
        db_errf(err, errlen, "write error");
        goto done;
    }
    rc = 0;
done:
    report_free(&r);
    return rc;
}
