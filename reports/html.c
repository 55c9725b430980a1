/* html.c — `decobench report --format html`: one self-contained HTML file
 * for a run (no scripts, no network: a Content-Security-Policy forbids
 * both), with inline SVG charts drawn by reports/svg.c:
 *
 *   speedup per case with its 95% bootstrap CI (the Markdown table's
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
#include "svg.h"
#include "table_data.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

#define SAMPLES_SHOWN 5          /* outputs shown per case */
#define OUTPUT_CHARS 400         /* bytes of each output shown */
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
    int64_t machine_id;
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

static int load_quality_names(sqlite3 *db, report *r) {
    if (!db_sql_has_table(db, "sample_metric")) return 0;
    sqlite3_stmt *s = NULL;
    const char *sql = "SELECT DISTINCT m.name FROM sample_metric m JOIN sample s ON s.id = m.sample_id"
                      " JOIN \"case\" c ON c.id = s.case_id WHERE c.run_id = ? AND m.value IS NOT NULL"
                      " ORDER BY m.name";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return 0;   /* another layout: not charted */
    sqlite3_bind_int64(s, 1, r->t.run_id);
    while (sqlite3_step(s) == SQLITE_ROW && r->n_quality < MAX_QUALITY) {
        char **q = realloc(r->quality, (size_t)(r->n_quality + 1) * sizeof *q);
        if (!q) break;
        r->quality = q;
        r->quality[r->n_quality++] = db_sql_text(s, 0);
    }
    sqlite3_finalize(s);
    return 0;
}

static int load_extra(sqlite3 *db, report *r, char *err, size_t errlen) {
    r->x = calloc((size_t)(r->t.n_rows > 0 ? r->t.n_rows : 1), sizeof *r->x);
    if (!r->x) return db_errf(err, errlen, "out of memory");
    load_quality_names(db, r);
    sqlite3_stmt *cs = NULL, *ss = NULL, *hs = NULL, *qs = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "SELECT params_json FROM \"case\" WHERE id = ?", -1, &cs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT AVG(target_forwards), AVG(target_tokens_evaluated) FROM sample"
                               " WHERE case_id = ?", -1, &ss, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT e.n_accepted, COUNT(*) FROM step_event e JOIN sample s ON s.id = e.sample_id"
                               " WHERE s.case_id = ? AND e.kind = 3 GROUP BY e.n_accepted", -1, &hs, NULL) != SQLITE_OK) {
        db_sql_fail(db, "read cases", err, errlen);
        goto out;
    }
    if (r->n_quality > 0 &&
        sqlite3_prepare_v2(db, "SELECT AVG(m.value) FROM sample_metric m JOIN sample s ON s.id = m.sample_id"
                               " WHERE s.case_id = ? AND m.name = ?", -1, &qs, NULL) != SQLITE_OK) {
        db_sql_fail(db, "read sample_metric", err, errlen);
        goto out;
    }
    for (int i = 0; i < r->t.n_rows; i++) {
        const db_table_row *row = &r->t.rows[i];
        case_extra *x = &r->x[i];
        sqlite3_reset(cs);
        sqlite3_bind_int64(cs, 1, row->case_id);
        x->params_json = sqlite3_step(cs) == SQLITE_ROW ? db_sql_text(cs, 0) : db_strdup("");
        parse_params(x);
        sqlite3_reset(ss);
        sqlite3_bind_int64(ss, 1, row->case_id);
        x->mean_tfwd = x->mean_teval = NAN;
        if (sqlite3_step(ss) == SQLITE_ROW) {
            x->mean_tfwd = db_sql_real(ss, 0);
            x->mean_teval = db_sql_real(ss, 1);
        }
        sqlite3_reset(hs);
        sqlite3_bind_int64(hs, 1, row->case_id);
        while (sqlite3_step(hs) == SQLITE_ROW) {
            int a = sqlite3_column_int(hs, 0);
            int64_t n = sqlite3_column_int64(hs, 1);
            if (a < 0) continue;
            if (a > DB_TABLE_MAX_POS) a = DB_TABLE_MAX_POS;
            x->hist[a] += n;
            x->n_hist += n;
        }
        x->quality = malloc((size_t)(r->n_quality > 0 ? r->n_quality : 1) * sizeof *x->quality);
        if (!x->params_json || !x->k_group || !x->quality) {
            db_errf(err, errlen, "out of memory");
            goto out;
        }
        for (int q = 0; q < r->n_quality; q++) {
            sqlite3_reset(qs);
            sqlite3_bind_int64(qs, 1, row->case_id);
            sqlite3_bind_text(qs, 2, r->quality[q], -1, SQLITE_STATIC);
            x->quality[q] = sqlite3_step(qs) == SQLITE_ROW ? db_sql_real(qs, 0) : NAN;
        }
    }
    for (int i = 0; i < r->t.n_rows; i++)
        if (strcmp(r->t.rows[i].dataset, r->t.rows[0].dataset) || strcmp(r->t.rows[i].model, r->t.rows[0].model))
            r->multi = true;
    rc = 0;
out:
    sqlite3_finalize(cs);
    sqlite3_finalize(ss);
    sqlite3_finalize(hs);
    sqlite3_finalize(qs);
    return rc;
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
    fputs("</b> on the same dataset and model, 95% bootstrap CI; bold tokens/s: the fastest case of its dataset"
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
        for (int k = 0; k < m; k++) {
            sx(s)[k + 1] = tmp[k];
            sy(s)[k + 1] = (double)(k + 1) / m;
        }
        s->n = m + 1;
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

/* the one row of a query as a two-column table (unix-ms columns as ISO 8601 UTC) */
static int kv_table(FILE *out, sqlite3 *db, const char *sql, int64_t id, const char *table_id) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int64(s, 1, id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return 1;
    }
    fputs("<table id=\"", out);
    esc(out, table_id);
    fputs("\">\n", out);
    for (int c = 0; c < sqlite3_column_count(s); c++) {
        const char *name = sqlite3_column_name(s, c);
        char buf[64];
        fputs("<tr><th>", out);
        esc(out, name);
        fputs("</th>", out);
        if (sqlite3_column_type(s, c) == SQLITE_NULL) td(out, "", false);
        else if (is_time_col(name)) {
            db_iso8601(sqlite3_column_int64(s, c), buf, sizeof buf);
            td(out, buf, false);
        } else td(out, (const char *)sqlite3_column_text(s, c), sqlite3_column_type(s, c) != SQLITE_TEXT);
        fputs("</tr>\n", out);
    }
    fputs("</table>\n", out);
    sqlite3_finalize(s);
    return 0;
}

static void write_machine(FILE *out, sqlite3 *db, const report *r) {
    fputs("<h2 id=\"machine\">Machine</h2>\n", out);
    if (r->machine_id <= 0 ||
        kv_table(out, db,
                 "SELECT hostname, cpu_model, arch, os, packages, cores, pus, numa_nodes, memory_bytes,"
                 " l1d_bytes, l2_bytes, l3_bytes, fingerprint, first_seen FROM machine WHERE id = ?",
                 r->machine_id, "machine-table") != 0) {
        fputs("<p>No machine recorded for this run.</p>\n", out);
        return;
    }
    if (!db_sql_has_table(db, "machine_probe") ||
        kv_table(out, db,
                 "SELECT bandwidth_gbs AS \"memory bandwidth (GB/s)\", gflops AS \"FP32 peak, all threads (GFLOP/s)\","
                 " gflops_per_thread AS \"FP32 peak, one thread (GFLOP/s)\", threads, method, measured_at"
                 " FROM machine_probe WHERE machine_id = ? ORDER BY measured_at DESC LIMIT 1",
                 r->machine_id, "machine-probe") != 0)
        fputs("<p id=\"machine-probe\">Memory bandwidth and peak FP32 rate: n/a \xE2\x80\x94 run"
              " <code>decobench probe</code> on this machine.</p>\n", out);
}

static void write_config(FILE *out, sqlite3 *db, const report *r) {
    fputs("<h2 id=\"configuration\">Configuration</h2>\n", out);
    kv_table(out, db,
             "SELECT id AS run, suite_name, suite_path, status, argv, decobench_rev, llama_commit, compiler,"
             " build_flags, papi_version, threads, started_at, finished_at FROM run WHERE id = ?",
             r->t.run_id, "run-table");
    fputs("<p>Suite configuration (run.config_json):</p>\n<pre id=\"config-json\">", out);
    cJSON *cfg = cJSON_Parse(r->t.config_json);
    char *pretty = cfg ? cJSON_Print(cfg) : NULL;
    esc(out, pretty ? pretty : r->t.config_json);
    free(pretty);
    cJSON_Delete(cfg);
    fputs("</pre>\n", out);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name, available, fallback, reason FROM run_counter WHERE run_id = ?"
                               " ORDER BY rowid", -1, &s, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(s, 1, r->t.run_id);
    bool head = false;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (!head) {
            fputs("<p>Counters:</p>\n<table id=\"counters\">\n<tr><th>counter</th><th>available</th>"
                  "<th>fallback</th><th>reason</th></tr>\n", out);
            head = true;
        }
        fputs("<tr>", out);
        td(out, (const char *)sqlite3_column_text(s, 0), false);
        td(out, sqlite3_column_int(s, 1) ? "yes" : "no", false);
        td(out, sqlite3_column_int(s, 2) ? "yes" : "no", false);
        td(out, (const char *)sqlite3_column_text(s, 3), false);
        fputs("</tr>\n", out);
    }
    if (head) fputs("</table>\n", out);
    sqlite3_finalize(s);
}

/* the first outputs of every case, cut at a UTF-8 boundary */
static void write_outputs(FILE *out, sqlite3 *db, const report *r) {
    fputs("<h2 id=\"outputs\">Outputs</h2>\n", out);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT prompt_id, category, rep, turn, new_tokens, stop_reason, output_text"
                               " FROM sample WHERE case_id = ? ORDER BY id LIMIT ?", -1, &s, NULL) != SQLITE_OK) {
        fputs("<p>Outputs unreadable.</p>\n", out);
        return;
    }
    for (int i = 0; i < r->t.n_rows; i++) {
        char *name = case_name(r, i);
        fputs("<details><summary>", out);
        esc(out, name);
        free(name);
        fputs("</summary>\n<table>\n<tr><th>prompt</th><th>category</th><th>rep</th><th>turn</th>"
              "<th>tokens</th><th>stop</th><th>output</th></tr>\n", out);
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, r->t.rows[i].case_id);
        sqlite3_bind_int(s, 2, SAMPLES_SHOWN);
        while (sqlite3_step(s) == SQLITE_ROW) {
            fputs("<tr>", out);
            for (int c = 0; c < 6; c++)
                td(out, (const char *)sqlite3_column_text(s, c), c >= 2 && c <= 4);
            const char *text = (const char *)sqlite3_column_text(s, 6);
            char *cut = db_strdup(text ? text : "");
            if (cut && strlen(cut) > OUTPUT_CHARS) {
                size_t n = OUTPUT_CHARS;
                while (n > 0 && ((unsigned char)cut[n] & 0xC0) == 0x80) n--;
                memcpy(cut + n, "\xE2\x80\xA6", 4);
            }
            fputs("<td class=\"out\">", out);
            esc(out, cut);
            fputs("</td></tr>\n", out);
            free(cut);
        }
        fputs("</table></details>\n", out);
    }
    sqlite3_finalize(s);
}

/* ---- entry ------------------------------------------------------------------------ */

int db_report_html(sqlite3 *db, int64_t run_id, uint64_t seed, FILE *out, char *err, size_t errlen) {
    report r;
    memset(&r, 0, sizeof r);
    int rc = -1;
    if (db_table_load(db, run_id, seed, &r.t, err, errlen) != 0) goto done;
    if (load_extra(db, &r, err, errlen) != 0) goto done;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT machine_id FROM run WHERE id = ?", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, r.t.run_id);
        if (sqlite3_step(s) == SQLITE_ROW) r.machine_id = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);

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
    write_machine(out, db, &r);
    write_config(out, db, &r);
    write_outputs(out, db, &r);
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
