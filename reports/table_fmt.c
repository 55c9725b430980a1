/* table_fmt.c — what the per-case table and its pivots share
 * (table_int.h): the cell texts of numbers, the title line and JSON header
 * of a run, and the column table (COLS: names, headers with units, which
 * way is better) that --columns and --cell pick from.
 */
#include "report.h"
#include "format.h"
#include "table_data.h"
#include "table_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "harness/util/util.h"

typedef db_table_row row;
typedef db_table table;

/* ---- number formatting --------------------------------------------------- */

/* about 3 significant digits, never an exponent for ordinary magnitudes */
void db_table_fmt_sig3(char *buf, size_t len, double v) {
    double a = fabs(v);
    if (!isfinite(v)) snprintf(buf, len, "-");
    else if (a >= 100) snprintf(buf, len, "%.0f", v);
    else if (a >= 10) snprintf(buf, len, "%.1f", v);
    else if (a >= 1) snprintf(buf, len, "%.2f", v);
    else snprintf(buf, len, "%.3g", v);
}

/* the decimals fmt_sig3 prints v with (3 below 1) */
int db_table_sig3_decimals(double v) {
    double a = fabs(v);
    return a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
}

void db_table_fmt_fixed(char *buf, size_t len, double v, int decimals) {
    if (!isfinite(v)) snprintf(buf, len, "-");
    else snprintf(buf, len, "%.*f", decimals, v);
}

/* shortest text that reads back as v; "" for non-finite */
void db_table_fmt_ci(char *buf, size_t len, double med, double lo, double hi) {
    char a[32], b[32], c[32];
    db_table_fmt_sig3(a, sizeof a, med);
    if (!isfinite(med)) snprintf(buf, len, "-");
    else if (!isfinite(lo) || !isfinite(hi)) snprintf(buf, len, "%s", a);
    else {
        db_table_fmt_sig3(b, sizeof b, lo);
        db_table_fmt_sig3(c, sizeof c, hi);
        snprintf(buf, len, "%s [%s, %s]", a, b, c);
    }
}

void db_table_fmt_speedup(char *buf, size_t len, const row *r, int self) {
    if (self) snprintf(buf, len, "1.00");
    else if (!isfinite(r->sp_med)) snprintf(buf, len, "-");
    else if (!isfinite(r->sp_lo)) snprintf(buf, len, "%.2f", r->sp_med);
    else snprintf(buf, len, "%.2f [%.2f, %.2f]", r->sp_med, r->sp_lo, r->sp_hi);
}

/* counters are integers: medians print exactly when integral */
void db_table_fmt_counter(char *buf, size_t len, double v) {
    if (isfinite(v) && v == floor(v) && fabs(v) < 1e15) snprintf(buf, len, "%.0f", v);
    else db_table_fmt_sig3(buf, len, v);
}

/* α per draft position, "0.81/0.66/0.52" ("-" without drafting) */
void db_table_fmt_acc_at(char *buf, size_t len, const row *r) {
    size_t o = 0;
    buf[0] = '\0';
    for (int k = 0; k < r->n_pos && o + 8 < len; k++) {
        char a[16];
        db_table_fmt_fixed(a, sizeof a, r->acc_at[k], 2);
        o += (size_t)snprintf(buf + o, len - o, "%s%s", k ? "/" : "", a);
    }
    if (!buf[0]) snprintf(buf, len, "-");
}

void db_table_fmt_pct(char *buf, size_t len, double v, const char *pct) {
    if (!isfinite(v)) snprintf(buf, len, "-");
    else snprintf(buf, len, "%.1f%s", 100 * v, pct);
}

/* ---- titles ---------------------------------------------------------------- */

void db_table_machine_title(const table *t, char *machine, size_t len) {
    if (t->cpu_model[0] && t->cores > 0) snprintf(machine, len, "%s, %d cores", t->cpu_model, t->cores);
    else if (t->cpu_model[0]) snprintf(machine, len, "%s", t->cpu_model);
    else snprintf(machine, len, "unknown");
}

/* ---- JSON ------------------------------------------------------------------ */

cJSON *db_table_jnum(double v) {
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

/* The run's identity that every JSON table starts with. */
cJSON *db_table_json_header(const table *t) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddNumberToObject(root, "run_id", (double)t->run_id);
    cJSON_AddStringToObject(root, "suite", t->suite);
    cJSON_AddStringToObject(root, "status", t->status);
    cJSON *m = cJSON_AddObjectToObject(root, "machine");
    if (m) {
        cJSON_AddStringToObject(m, "cpu_model", t->cpu_model);
        cJSON_AddNumberToObject(m, "cores", t->cores);
    }
    cJSON_AddStringToObject(root, "llama_commit", t->llama_commit);
    if (t->baseline_key) cJSON_AddStringToObject(root, "baseline", t->baseline_key);
    else cJSON_AddNullToObject(root, "baseline");
    db_noise_json(root, t->noise_recorded, t->noise);   /* S7 interference */
    return root;
}

void db_table_title_line(const table *t, const char *by, FILE *out) {
    char machine[256];
    db_table_machine_title(t, machine, sizeof machine);
    /* stored text is escaped (db_md_text): a suite name is no Markdown or HTML */
    fprintf(out, "**decobench run %lld** — suite: ", (long long)t->run_id);
    db_md_text(out, t->suite[0] ? t->suite : "?");
    fputs(" — machine: ", out);
    db_md_text(out, machine);
    fputs(" — llama.cpp: ", out);
    db_md_text(out, t->llama_commit[0] ? t->llama_commit : "?");
    if (by) {
        fputs(" — by ", out);
        db_md_text(out, by);
    }
    if (strcmp(t->status, "completed") != 0) {
        fputs(" — status: ", out);
        db_md_text(out, t->status);
    }
    if (t->noise) fputs(" — " DB_NOISE_MARK " measured under interference", out);   /* S7 */
}

/* ---- the column table ------------------------------------------------------ */

/* The per-case table's columns, in default order (col_spec: table_int.h). */
const col_spec db_table_cols[] = {
    { C_LABEL, "label", "label", "Label", 0, false, true },
    { C_ENGINE, "engine", "engine", "Engine", 0, false, false },
    { C_DATASET, "dataset", "dataset", "Dataset", 0, false, true },
    { C_MODEL, "model", "model", "Model", 0, false, true },
    { C_N, "n", "n", "$n$", 0, false, true },
    { C_TPS, "tokens_per_s", "tok/s [95% CI]", "tok/s", +1, false, true },
    { C_SPEEDUP, "speedup", "speedup [95% CI]", "Speedup", +1, false, true },
    { C_PRED, "predicted_speedup", "pred. speedup", "Pred.\\ speedup", +1, true, true },
    { C_MAT, "mat", "#MAT", "\\#MAT", +1, false, true },
    { C_ALPHA, "acceptance_rate", "α", "$\\alpha$", +1, true, true },
    { C_KBAR, "mean_draft_len", "k̄", "$\\bar{k}$", 0, true, true },
    { C_ACC_AT, "accept_at", "α@1..k", "$\\alpha_{1..k}$", 0, true, true },
    { C_COST, "draft_cost_ratio", "c", "$c$", 0, true, true },
    { C_DSHARE, "draft_time_share", "draft time", "Draft time", 0, true, true },
    { C_TTFT50, "ttft_p50_ms", "TTFT p50 (ms)", "TTFT p50 (ms)", -1, false, true },
    { C_TTFT90, "ttft_p90_ms", "TTFT p90 (ms)", "TTFT p90 (ms)", -1, false, true },
    { C_LAT50, "latency_p50_ms", "latency p50 (ms)", "Latency p50 (ms)", -1, false, true },
    { C_DRAFTED, "drafted", "drafted", "Drafted", 0, true, false },
    { C_ACCEPTED, "accepted", "accepted", "Accepted", 0, true, false },
    { C_VERIFY, "verify_steps", "verify steps", "Verify steps", 0, true, false },
    /* S7 identity: in the default tables when some case was compared */
    { C_IDENT, "identical", "identical", "Identical", 0, false, true },
    /* S7: the reasons a case was measured under interference ("" when quiet) */
    { C_NOISE, "interference", "interference", "Interference", 0, false, false },
};
const int db_table_n_cols = (int)(sizeof db_table_cols / sizeof db_table_cols[0]);

const col_spec *db_table_col_find(const char *name) {
    for (int i = 0; i < db_table_n_cols; i++)
        if (!strcmp(db_table_cols[i].name, name)) return &db_table_cols[i];
    return NULL;
}

void db_table_fmt_percent(char *buf, size_t len, double v) { db_table_fmt_pct(buf, len, v, "%"); }
