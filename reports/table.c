/* table.c — the paper-style results table of one run (see report.h),
 * written as Markdown, CSV (RFC 4180), LaTeX (booktabs) or JSON through one
 * column table (COLS in table_fmt.c: names, headers with units, which way
 * is better; --columns picks from it), or as a pivot (pivot.c).  The table
 * is loaded and computed by table_load.c (table_data.h), which also feeds
 * the HTML and hardware reports that db_report_table dispatches to.
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

#include "harness/util/util.h"

typedef db_table_row row;
typedef db_table table;

/* ---- JSON: the default layout (the run, its counters, every row) ------------ */

static int write_json(const table *t, FILE *out, char *err, size_t errlen) {
    cJSON *root = db_table_json_header(t);
    if (!root) return db_errf(err, errlen, "out of memory");
    cJSON *cn = cJSON_AddArrayToObject(root, "counters");
    for (int c = 0; c < t->n_counters && cn; c++) cJSON_AddItemToArray(cn, cJSON_CreateString(t->counters[c]));
    cJSON *rows = cJSON_AddArrayToObject(root, "rows");
    for (int i = 0; i < t->n_rows && rows; i++) {
        const row *r = &t->rows[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(rows, o);
        cJSON_AddNumberToObject(o, "case_id", (double)r->case_id);
        cJSON_AddStringToObject(o, "label", r->label);
        cJSON_AddStringToObject(o, "engine", r->engine);
        cJSON_AddStringToObject(o, "dataset", r->dataset);
        cJSON_AddStringToObject(o, "model", r->model);
        cJSON_AddNumberToObject(o, "n", r->n);
        cJSON_AddItemToObject(o, "tokens_per_s", db_table_jnum(r->tps_med));
        if (isfinite(r->tps_lo))
            cJSON_AddItemToObject(o, "tokens_per_s_ci", cJSON_CreateDoubleArray((double[]){ r->tps_lo, r->tps_hi }, 2));
        else cJSON_AddNullToObject(o, "tokens_per_s_ci");
        cJSON_AddItemToObject(o, "speedup", db_table_jnum(r->sp_med));
        if (isfinite(r->sp_lo))
            cJSON_AddItemToObject(o, "speedup_ci", cJSON_CreateDoubleArray((double[]){ r->sp_lo, r->sp_hi }, 2));
        else cJSON_AddNullToObject(o, "speedup_ci");
        cJSON_AddBoolToObject(o, "is_baseline", r->baseline == i);
        cJSON_AddItemToObject(o, "mat", db_table_jnum(r->mat));
        cJSON_AddItemToObject(o, "ttft_p50_ms", db_table_jnum(r->ttft50));
        cJSON_AddItemToObject(o, "ttft_p90_ms", db_table_jnum(r->ttft90));
        cJSON_AddItemToObject(o, "latency_p50_ms", db_table_jnum(r->lat50));
        bool sp = r->sum_drafted > 0;
        cJSON_AddItemToObject(o, "drafted", sp ? cJSON_CreateNumber((double)r->sum_drafted) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "accepted", sp ? cJSON_CreateNumber((double)r->sum_accepted) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "verify_steps", sp && r->n_verify >= 0 ? cJSON_CreateNumber((double)r->n_verify)
                                                                             : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "acceptance_rate", db_table_jnum(r->alpha));
        cJSON_AddItemToObject(o, "mean_draft_len", db_table_jnum(r->kbar));
        cJSON_AddItemToObject(o, "draft_time_share", db_table_jnum(r->dshare));
        cJSON_AddItemToObject(o, "draft_cost_ratio", db_table_jnum(r->cost));
        cJSON_AddItemToObject(o, "predicted_speedup", db_table_jnum(r->pred));
        if (sp) {
            cJSON *aa = cJSON_AddArrayToObject(o, "accept_at");
            for (int k = 0; k < r->n_pos && aa; k++) cJSON_AddItemToArray(aa, db_table_jnum(r->acc_at[k]));
        } else cJSON_AddNullToObject(o, "accept_at");
        /* S7 identity: only for cases compared with the greedy ar baseline */
        if (r->ident[0]) cJSON_AddStringToObject(o, "identical", r->ident);
        cJSON *cc = cJSON_AddObjectToObject(o, "counters");
        for (int c = 0; c < t->n_counters && cc; c++) cJSON_AddItemToObject(cc, t->counters[c], db_table_jnum(r->cnt_med[c]));
        db_noise_json(o, t->noise_recorded, r->noise);   /* S7 interference */
    }
    return db_json_print(root, out, err, errlen);
}

/* ---- the per-case table as Markdown, CSV and LaTeX (its columns: the
 * defaults or --columns) ------------------------------------------------------ */

#define COLS db_table_cols
#define N_COLS db_table_n_cols

/* one chosen column: a COLS entry, or counter `counter` of the run */
typedef struct col_pick {
    const col_spec *spec;
    int counter;
} col_pick;

static const col_spec COUNTER_COL = { C_COUNTER, "", "", "", 0, false, true };

/* "label, engine, ..." and the run's counters, for error messages */
static void col_names(const table *t, char *buf, size_t len) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_COLS + t->n_counters && o + 1 < len; i++) {
        const char *s = i < N_COLS ? COLS[i].name : t->counters[i - N_COLS];
        int w = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", s);
        if (w < 0) break;
        o += (size_t)w < len - o ? (size_t)w : len - o - 1;
    }
}

/* Parse comma-separated column names into picks (malloc'd); 0, or -1 with
 * one line naming the bad name and listing the valid ones. */
static int parse_columns(const table *t, const char *csv, col_pick **out, int *n, char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    size_t cap = 1;
    for (const char *p = csv; *p; p++) cap += *p == ',';
    col_pick *picks = calloc(cap, sizeof *picks);
    if (!picks) return db_errf(err, errlen, "out of memory");
    const char *p = csv;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char name[128];
        if (l == 0 || l >= sizeof name) {
            free(picks);
            return db_errf(err, errlen, "--columns '%s': empty or over-long column name", csv);
        }
        memcpy(name, p, l);
        name[l] = '\0';
        col_pick *k = &picks[*n];
        k->spec = db_table_col_find(name);
        k->counter = k->spec ? -1 : db_table_counter_index(t, name);
        if (!k->spec && k->counter >= 0) k->spec = &COUNTER_COL;
        if (!k->spec) {
            char names[2048];
            col_names(t, names, sizeof names);
            free(picks);
            return db_errf(err, errlen, "--columns: unknown column '%s' (valid: %s)", name, names);
        }
        ++*n;
        if (!e) break;
        p = e + 1;
    }
    *out = picks;
    return 0;
}

/* CSV's default columns: every column but engine, the speculative ones always */
static const col_id CSV_DEFAULT[] = {
    C_LABEL, C_DATASET, C_MODEL, C_N, C_TPS, C_SPEEDUP, C_MAT, C_TTFT50, C_TTFT90, C_LAT50, C_DRAFTED,
    C_ACCEPTED, C_VERIFY, C_ALPHA, C_KBAR, C_DSHARE, C_COST, C_PRED, C_ACC_AT, C_IDENT,
};

/* the default columns of fmt (md, latex: those marked dflt, speculative
 * ones when some case drafted; csv: CSV_DEFAULT), then the counters */
static col_pick *default_columns(const table *t, const char *fmt, int *n) {
    col_pick *picks = calloc((size_t)(N_COLS + t->n_counters), sizeof *picks);
    *n = 0;
    if (!picks) return NULL;
    if (!strcmp(fmt, "csv")) {
        for (size_t k = 0; k < sizeof CSV_DEFAULT / sizeof CSV_DEFAULT[0]; k++)
            for (int i = 0; i < N_COLS; i++)
                if (COLS[i].id == CSV_DEFAULT[k] && (COLS[i].id != C_IDENT || t->ident))
                    picks[(*n)++] = (col_pick){ &COLS[i], -1 };
        if (t->noise_recorded) picks[(*n)++] = (col_pick){ db_table_col_find("interference"), -1 };   /* S7 */
    } else {
        for (int i = 0; i < N_COLS; i++)
            if (COLS[i].dflt && (!COLS[i].spec || t->spec) && (COLS[i].id != C_IDENT || t->ident))
                picks[(*n)++] = (col_pick){ &COLS[i], -1 };
    }
    for (int c = 0; c < t->n_counters; c++) picks[(*n)++] = (col_pick){ &COUNTER_COL, c };
    return picks;
}

static const char *col_name(const table *t, const col_pick *k) {
    return k->spec->id == C_COUNTER ? t->counters[k->counter] : k->spec->name;
}

/* a numeric column's value in row i, with its 95% CI where it has one */
static double col_value(const table *t, int i, const col_pick *k, double *lo, double *hi) {
    const row *r = &t->rows[i];
    bool sp = r->sum_drafted > 0;
    *lo = *hi = NAN;
    switch (k->spec->id) {
    case C_N: return r->n;
    case C_TPS: *lo = r->tps_lo; *hi = r->tps_hi; return r->tps_med;
    case C_SPEEDUP:
        if (r->baseline == i) return 1.0;
        *lo = r->sp_lo; *hi = r->sp_hi;
        return r->sp_med;
    case C_PRED: return r->pred;
    case C_MAT: return r->mat;
    case C_ALPHA: return r->alpha;
    case C_KBAR: return r->kbar;
    case C_COST: return r->cost;
    case C_DSHARE: return r->dshare;
    case C_TTFT50: return r->ttft50;
    case C_TTFT90: return r->ttft90;
    case C_LAT50: return r->lat50;
    case C_DRAFTED: return sp ? (double)r->sum_drafted : NAN;
    case C_ACCEPTED: return sp ? (double)r->sum_accepted : NAN;
    case C_VERIFY: return sp && r->n_verify >= 0 ? (double)r->n_verify : NAN;   /* < 0: pruned */
    case C_COUNTER: return r->cnt_med[k->counter];
    default: return NAN;
    }
}

static bool col_is_text(col_id id) {
    return id == C_LABEL || id == C_ENGINE || id == C_DATASET || id == C_MODEL || id == C_IDENT || id == C_NOISE;
}

static const char *col_text(const row *r, col_id id) {
    if (id == C_NOISE) return r->noise ? r->noise : "";
    return id == C_LABEL ? r->label : id == C_ENGINE ? r->engine : id == C_DATASET ? r->dataset
         : id == C_IDENT ? r->ident : r->model;
}

/* a cell as the Markdown table prints it ("-" where not applicable) */
static void col_cell(const table *t, int i, const col_pick *k, char *buf, size_t len) {
    const row *r = &t->rows[i];
    double lo, hi, v = col_value(t, i, k, &lo, &hi);
    switch (k->spec->id) {
    case C_N: case C_DRAFTED: case C_ACCEPTED: case C_VERIFY:
        if (isfinite(v)) snprintf(buf, len, "%.0f", v);
        else snprintf(buf, len, "-");
        break;
    case C_TPS: db_table_fmt_ci(buf, len, v, lo, hi); break;
    case C_SPEEDUP: db_table_fmt_speedup(buf, len, r, r->baseline == i); break;
    case C_COST: db_table_fmt_fixed(buf, len, v, 3); break;
    case C_DSHARE: db_table_fmt_pct(buf, len, v, "%"); break;
    case C_ACC_AT: db_table_fmt_acc_at(buf, len, r); break;
    case C_TTFT50: case C_TTFT90: case C_LAT50: db_table_fmt_fixed(buf, len, v, 1); break;
    case C_COUNTER: db_table_fmt_counter(buf, len, v); break;
    default: db_table_fmt_fixed(buf, len, v, 2); break;
    }
}

static void columns_md(const table *t, const col_pick *cols, int n, FILE *out) {
    char buf[512];
    db_table_title_line(t, NULL, out);
    fputs("\n\n|", out);
    for (int c = 0; c < n; c++) db_md_cell(out, cols[c].spec->id == C_COUNTER ? col_name(t, &cols[c]) : cols[c].spec->md);
    fputs("\n|", out);
    for (int c = 0; c < n; c++) fputs(col_is_text(cols[c].spec->id) ? "---|" : "--:|", out);
    fputc('\n', out);
    for (int i = 0; i < t->n_rows; i++) {
        fputc('|', out);
        for (int c = 0; c < n; c++) {
            if (cols[c].spec->id == C_LABEL && t->rows[i].noise) {   /* S7: marked, footnote below */
                snprintf(buf, sizeof buf, "%s " DB_NOISE_MARK, t->rows[i].label);
                db_md_cell(out, buf);
            } else if (col_is_text(cols[c].spec->id)) db_md_cell(out, col_text(&t->rows[i], cols[c].spec->id));
            else {
                col_cell(t, i, &cols[c], buf, sizeof buf);
                db_md_cell(out, buf);
            }
        }
        fputc('\n', out);
    }
    db_noise_footnote_md(t, out);   /* S7 interference */
}

/* CSV: full precision; a column with a CI adds NAME_lo and NAME_hi, accept_at
 * one column per draft position */
static void columns_csv(const table *t, const col_pick *cols, int n, FILE *out) {
    char h[160];
    db_csv_field(out, "run_id", 1);
    for (int c = 0; c < n; c++) {
        col_id id = cols[c].spec->id;
        if (id == C_ACC_AT) {
            for (int k = 0; k < t->max_pos; k++) {
                snprintf(h, sizeof h, "accept_at_%d", k + 1);
                db_csv_field(out, h, 0);
            }
            continue;
        }
        db_csv_field(out, col_name(t, &cols[c]), 0);
        if (id == C_TPS || id == C_SPEEDUP) {
            snprintf(h, sizeof h, "%s_lo", cols[c].spec->name);
            db_csv_field(out, h, 0);
            snprintf(h, sizeof h, "%s_hi", cols[c].spec->name);
            db_csv_field(out, h, 0);
        }
    }
    fputs("\r\n", out);
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        snprintf(h, sizeof h, "%lld", (long long)t->run_id);
        db_csv_field(out, h, 1);
        for (int c = 0; c < n; c++) {
            col_id id = cols[c].spec->id;
            double lo, hi;
            if (col_is_text(id)) db_csv_field(out, col_text(r, id), 0);
            else if (id == C_ACC_AT)
                for (int k = 0; k < t->max_pos; k++) db_csv_num(out, k < r->n_pos ? r->acc_at[k] : NAN);
            else if (id == C_SPEEDUP) {   /* as the default CSV: the baseline's own CI is [1, 1] */
                db_csv_num(out, r->sp_med);
                db_csv_num(out, r->sp_lo);
                db_csv_num(out, r->sp_hi);
            } else {
                db_csv_num(out, col_value(t, i, &cols[c], &lo, &hi));
                if (id == C_TPS) {
                    db_csv_num(out, lo);
                    db_csv_num(out, hi);
                }
            }
        }
        fputs("\r\n", out);
    }
}

static int columns_json(const table *t, const col_pick *cols, int n, FILE *out, char *err, size_t errlen) {
    cJSON *root = db_table_json_header(t);
    if (!root) return db_errf(err, errlen, "out of memory");
    cJSON *cn = cJSON_AddArrayToObject(root, "columns");
    for (int c = 0; c < n && cn; c++) cJSON_AddItemToArray(cn, cJSON_CreateString(col_name(t, &cols[c])));
    cJSON *rows = cJSON_AddArrayToObject(root, "rows");
    for (int i = 0; i < t->n_rows && rows; i++) {
        const row *r = &t->rows[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(rows, o);
        cJSON_AddNumberToObject(o, "case_id", (double)r->case_id);
        bool noise_col = false;   /* S7 interference: the object, unless chosen as a text column */
        for (int c = 0; c < n; c++) noise_col |= cols[c].spec->id == C_NOISE;
        if (!noise_col) db_noise_json(o, t->noise_recorded, r->noise);
        for (int c = 0; c < n; c++) {
            col_id id = cols[c].spec->id;
            const char *key = col_name(t, &cols[c]);
            double lo, hi;
            if (col_is_text(id)) cJSON_AddStringToObject(o, key, col_text(r, id));
            else if (id == C_ACC_AT) {
                if (r->sum_drafted > 0) {
                    cJSON *aa = cJSON_AddArrayToObject(o, key);
                    for (int k = 0; k < r->n_pos && aa; k++) cJSON_AddItemToArray(aa, db_table_jnum(r->acc_at[k]));
                } else cJSON_AddNullToObject(o, key);
            } else {
                double v = col_value(t, i, &cols[c], &lo, &hi);
                if (id == C_SPEEDUP) v = r->sp_med, lo = r->sp_lo, hi = r->sp_hi;
                cJSON_AddItemToObject(o, key, db_table_jnum(v));
                if (id == C_TPS || id == C_SPEEDUP) {
                    char k2[64];
                    snprintf(k2, sizeof k2, "%s_ci", key);
                    if (isfinite(lo) && isfinite(hi))
                        cJSON_AddItemToObject(o, k2, cJSON_CreateDoubleArray((double[]){ lo, hi }, 2));
                    else cJSON_AddNullToObject(o, k2);
                }
            }
        }
    }
    return db_json_print(root, out, err, errlen);
}

/* a numeric LaTeX cell's value text, without CI ("-" when not applicable) */
static void latex_value(const table *t, int i, const col_pick *k, char *buf, size_t len) {
    double lo, hi, v = col_value(t, i, k, &lo, &hi);
    switch (k->spec->id) {
    case C_TPS: db_table_fmt_sig3(buf, len, v); break;
    case C_SPEEDUP: db_table_fmt_fixed(buf, len, v, 2); break;
    case C_DSHARE: db_table_fmt_pct(buf, len, v, "\\%"); break;
    default: col_cell(t, i, k, buf, len); break;
    }
}

/* the row holding the best finite value of a ranked column, -1 when none */
static int col_best_row(const table *t, const col_pick *k) {
    double best = NAN, lo, hi;
    int at = -1;
    if (k->spec->better == 0) return -1;
    for (int i = 0; i < t->n_rows; i++) {
        double v = col_value(t, i, k, &lo, &hi);
        if (!isfinite(v)) continue;
        if (at < 0 || (k->spec->better > 0 ? v > best : v < best)) best = v, at = i;
    }
    return at;
}

/* whether some row of the column prints other than best (else nothing to mark) */
static bool col_ranks(const table *t, const col_pick *k, const char *best) {
    char buf[512];
    for (int i = 0; i < t->n_rows; i++) {
        latex_value(t, i, k, buf, sizeof buf);
        if (strcmp(buf, "-") && strcmp(buf, best)) return true;
    }
    return false;
}

/* LaTeX (booktabs): per ranked column the best value in bold (compared as
 * printed, so ties are all bold); tokens/s and speedup with "± half-width"
 * of their 95% CI */
static void columns_latex(const table *t, const col_pick *cols, int n, FILE *out) {
    char machine[256], buf[512], best[512];
    db_table_machine_title(t, machine, sizeof machine);
    db_tex_commentf(out, "%% decobench run %lld -- suite: %s -- machine: %s -- llama.cpp: %s",
                    (long long)t->run_id, t->suite, machine, t->llama_commit);
    fputs("% bold: best per column; tok/s and speedup: median $\\pm$ half-width of the 95% CI (order statistics)\n", out);
    fputs("% requires \\usepackage{booktabs}\n\\begin{tabular}{", out);
    for (int c = 0; c < n; c++) fputc(col_is_text(cols[c].spec->id) ? 'l' : 'r', out);
    fputs("}\n\\toprule\n", out);
    for (int c = 0; c < n; c++) {
        if (c) fputs(" & ", out);
        if (cols[c].spec->id == C_COUNTER) db_tex_text(out, col_name(t, &cols[c]));
        else fputs(cols[c].spec->tex, out);
    }
    fputs(" \\\\\n\\midrule\n", out);
    for (int i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        for (int c = 0; c < n; c++) {
            const col_pick *k = &cols[c];
            col_id id = k->spec->id;
            if (c) fputs(" & ", out);
            if (col_is_text(id)) {
                db_tex_text(out, col_text(r, id));
                if (id == C_LABEL && r->noise) fputs("$^\\dagger$", out);   /* S7 interference */
                continue;
            }
            latex_value(t, i, k, buf, sizeof buf);
            if (!strcmp(buf, "-")) {
                fputs("--", out);
                continue;
            }
            int b = col_best_row(t, k);
            if (b >= 0) latex_value(t, b, k, best, sizeof best);
            if (b >= 0 && !strcmp(buf, best) && col_ranks(t, k, best)) fprintf(out, "\\textbf{%s}", buf);
            else fputs(buf, out);
            double lo, hi, v = col_value(t, i, k, &lo, &hi);
            if ((id == C_TPS || id == C_SPEEDUP) && isfinite(lo) && isfinite(hi)) {
                char hw[32];
                db_table_fmt_fixed(hw, sizeof hw, (hi - lo) / 2, id == C_TPS ? db_table_sig3_decimals(v) : 2);
                fprintf(out, " $\\pm$ %s", hw);
            }
        }
        fputs(" \\\\\n", out);
    }
    fputs("\\bottomrule\n\\end{tabular}\n", out);
    db_noise_footnote_tex(t, out);   /* S7 interference */
}

static int write_columns(const table *t, const char *fmt, const char *names, FILE *out, char *err, size_t errlen) {
    col_pick *cols = NULL;
    int n = 0;
    if (names) {
        if (parse_columns(t, names, &cols, &n, err, errlen) != 0) return -1;
    } else if (!(cols = default_columns(t, fmt, &n))) return db_errf(err, errlen, "out of memory");
    int rc = 0;
    if (!strcmp(fmt, "md")) columns_md(t, cols, n, out);
    else if (!strcmp(fmt, "csv")) columns_csv(t, cols, n, out);
    else if (!strcmp(fmt, "latex")) columns_latex(t, cols, n, out);
    else rc = columns_json(t, cols, n, out, err, errlen);
    free(cols);
    return rc;
}

/* ---- entry ------------------------------------------------------------------ */

int db_table_write(const db_table *t, const char *fmt, const char *by, const char *columns, const char *cellm,
                   uint64_t seed, FILE *out, char *err, size_t errlen) {
    if (by) return db_table_pivot(t, fmt, by, cellm, seed, out, err, errlen);
    if (columns || strcmp(fmt, "json") != 0) return write_columns(t, fmt, columns, out, err, errlen);
    return write_json(t, out, err, errlen);
}
