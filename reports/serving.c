/* serving.c — the serving report (serving.h): per serving case, the
 * request-level and token-level latency percentiles, throughput, goodput
 * and error rate of its requests, read through harness/run/store_serve.h.
 */
#include "serving.h"
#include "format.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/store_read.h"
#include "harness/run/store_serve.h"
#include "harness/util/stats.h"
#include "harness/util/util.h"

enum { P50 = DB_SERVING_P50, P90 = DB_SERVING_P90, P99 = DB_SERVING_P99, NQ = DB_SERVING_NQ };
static const double qs[NQ] = { 0.5, 0.9, 0.99 };

typedef struct srow {
    const db_case_info *c;
    db_serving_stats st;
} srow;

static void quantiles(double *x, size_t n, double *out) {
    for (int q = 0; q < NQ; q++) out[q] = n ? db_quantile(x, n, qs[q]) : NAN;
}

int db_serving_case_stats(db_store *st, int64_t case_id, db_serving_stats *r, char *err, size_t errlen) {
    db_serve_request_info *q = NULL;
    int n = 0;
    memset(r, 0, sizeof *r);
    if (db_store_read_serve_requests(st, case_id, &q, &n, err, errlen) != 0) return -1;
    r->requests = n;
    size_t n_itl = 0;
    for (int i = 0; i < n; i++) n_itl += (size_t)q[i].n_itl;
    double *ttft = malloc(sizeof *ttft * ((size_t)n + 1)), *tpot = malloc(sizeof *tpot * ((size_t)n + 1));
    double *e2e = malloc(sizeof *e2e * ((size_t)n + 1)), *itl = malloc(sizeof *itl * (n_itl + 1));
    if (!ttft || !tpot || !e2e || !itl) {
        free(ttft); free(tpot); free(e2e); free(itl);
        db_serve_requests_free(q, n);
        return db_errf(err, errlen, "out of memory");
    }
    size_t nt = 0, np = 0, ne = 0, ni = 0;
    double tokens = 0, end = 0;
    long good = 0, steps = 0, committed = 0, drafted = 0, accepted = 0;
    bool slo = false;
    for (int i = 0; i < n; i++) {
        const db_serve_request_info *x = &q[i];
        if (isfinite(x->t_done_s) && x->t_done_s > end) end = x->t_done_s;
        if (!x->ok) {
            r->failed++;
            if (!r->first_error && x->error) r->first_error = db_strdup(x->error);
            continue;
        }
        tokens += x->new_tokens;
        if (!isnan(x->ttft_ms)) ttft[nt++] = x->ttft_ms;
        if (!isnan(x->tpot_ms)) tpot[np++] = x->tpot_ms;
        if (!isnan(x->latency_ms)) e2e[ne++] = x->latency_ms;
        for (int k = 0; k < x->n_itl; k++) itl[ni++] = x->itl_ms[k];
        if (!isnan(x->slo_met)) {
            slo = true;
            good += x->slo_met == 1.0;
        }
        if (x->n_commits > 0) {
            steps += x->n_commits;
            committed += x->new_tokens - 1;
        }
        drafted += x->drafted;
        accepted += x->accepted;
    }
    r->duration_s = end;
    r->req_per_s = end > 0 ? (r->requests - r->failed) / end : NAN;
    r->out_tok_per_s = end > 0 ? tokens / end : NAN;
    r->goodput = slo && end > 0 ? good / end : NAN;
    quantiles(ttft, nt, r->ttft);
    quantiles(tpot, np, r->tpot);
    quantiles(itl, ni, r->itl);
    quantiles(e2e, ne, r->e2e);
    r->mat = steps > 0 ? (double)committed / steps : NAN;
    r->acceptance = drafted > 0 ? (double)accepted / drafted : NAN;
    free(ttft); free(tpot); free(e2e); free(itl);
    db_serve_requests_free(q, n);
    return 0;
}

static const char *const qnames[NQ] = { "p50", "p90", "p99" };

static void md_num(FILE *out, double v, const char *fmt) {
    if (isnan(v)) fputs(" – |", out);
    else {
        fputc(' ', out);
        fprintf(out, fmt, v);
        fputs(" |", out);
    }
}

static void write_md(FILE *out, int64_t run, const srow *rows, int n) {
    fprintf(out, "## Serving (run %lld)\n\n", (long long)run);
    fputs("| case | dataset | requests | failed | duration s | req/s | out tok/s | goodput req/s |"
          " TTFT p50/p90/p99 ms | TPOT p50/p90/p99 ms | ITL p50/p90/p99 ms | E2E p50/p90/p99 ms | #MAT | accept |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n", out);
    for (int i = 0; i < n; i++) {
        const db_serving_stats *r = &rows[i].st;
        fputc('|', out);
        db_md_cell(out, rows[i].c->label);
        db_md_cell(out, rows[i].c->dataset);
        fprintf(out, " %d | %d |", r->requests, r->failed);
        md_num(out, r->duration_s, "%.2f");
        md_num(out, r->req_per_s, "%.2f");
        md_num(out, r->out_tok_per_s, "%.1f");
        md_num(out, r->goodput, "%.2f");
        const double *sets[4] = { r->ttft, r->tpot, r->itl, r->e2e };
        for (int s = 0; s < 4; s++) {
            if (isnan(sets[s][P50])) fputs(" – |", out);
            else fprintf(out, " %.1f / %.1f / %.1f |", sets[s][P50], sets[s][P90], sets[s][P99]);
        }
        md_num(out, r->mat, "%.2f");
        md_num(out, r->acceptance, "%.3f");
        fputc('\n', out);
    }
    bool any = false;
    for (int i = 0; i < n; i++)
        if (rows[i].st.first_error) {
            if (!any) fputs("\nFailed requests (first reason per case):\n\n", out);
            any = true;
            fputs("- ", out);
            db_md_text(out, rows[i].c->label);
            fprintf(out, ": %d failed; ", rows[i].st.failed);
            db_md_text(out, rows[i].st.first_error);
            fputc('\n', out);
        }
}

static void write_csv(FILE *out, const srow *rows, int n) {
    fputs("case,dataset,requests,failed,duration_s,req_per_s,out_tok_per_s,goodput_req_per_s", out);
    const char *metric[4] = { "ttft", "tpot", "itl", "e2e" };
    for (int s = 0; s < 4; s++)
        for (int q = 0; q < NQ; q++) fprintf(out, ",%s_%s_ms", metric[s], qnames[q]);
    fputs(",mat,acceptance,first_error\n", out);
    for (int i = 0; i < n; i++) {
        const db_serving_stats *r = &rows[i].st;
        db_csv_field(out, rows[i].c->label, 1);
        db_csv_field(out, rows[i].c->dataset, 0);
        fprintf(out, ",%d,%d", r->requests, r->failed);
        const double v[4] = { r->duration_s, r->req_per_s, r->out_tok_per_s, r->goodput };
        for (int k = 0; k < 4; k++) db_csv_num(out, v[k]);
        const double *sets[4] = { r->ttft, r->tpot, r->itl, r->e2e };
        for (int s = 0; s < 4; s++)
            for (int q = 0; q < NQ; q++) db_csv_num(out, sets[s][q]);
        db_csv_num(out, r->mat);
        db_csv_num(out, r->acceptance);
        db_csv_field(out, r->first_error ? r->first_error : "", 0);
        fputc('\n', out);
    }
}

static void json_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static int write_json(FILE *out, int64_t run, const srow *rows, int n, char *err, size_t errlen) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "run", (double)run);
    cJSON *arr = cJSON_AddArrayToObject(root, "serving");
    const char *metric[4] = { "ttft_ms", "tpot_ms", "itl_ms", "e2e_ms" };
    for (int i = 0; i < n; i++) {
        const db_serving_stats *r = &rows[i].st;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "case", rows[i].c->label);
        cJSON_AddStringToObject(o, "dataset", rows[i].c->dataset);
        cJSON_AddNumberToObject(o, "requests", r->requests);
        cJSON_AddNumberToObject(o, "failed", r->failed);
        json_num(o, "duration_s", r->duration_s);
        json_num(o, "req_per_s", r->req_per_s);
        json_num(o, "out_tok_per_s", r->out_tok_per_s);
        json_num(o, "goodput_req_per_s", r->goodput);
        const double *sets[4] = { r->ttft, r->tpot, r->itl, r->e2e };
        for (int s = 0; s < 4; s++) {
            cJSON *m = cJSON_AddObjectToObject(o, metric[s]);
            for (int q = 0; q < NQ; q++) json_num(m, qnames[q], sets[s][q]);
        }
        json_num(o, "mat", r->mat);
        json_num(o, "acceptance", r->acceptance);
        if (r->first_error) cJSON_AddStringToObject(o, "first_error", r->first_error);
        else cJSON_AddNullToObject(o, "first_error");
    }
    return db_json_print(root, out, err, errlen);
}

int db_report_serving(db_store *st, const db_report_opts *o, FILE *out, char *err, size_t errlen) {
    const char *fmt = o && o->format ? o->format : "md";
    if (strcmp(fmt, "md") && strcmp(fmt, "csv") && strcmp(fmt, "json"))
        return db_errf(err, errlen, "--serving: format must be md, csv or json, got '%s'", fmt);
    int64_t run = 0;
    if (db_store_resolve_run(st, o ? o->run_id : 0, &run, NULL, 0, err, errlen) != 0) return -1;
    db_case_info *cases = NULL;
    int nc = 0;
    if (db_store_read_cases(st, run, NULL, &cases, &nc, err, errlen) != 0) return -1;
    srow *rows = calloc((size_t)nc + 1, sizeof *rows);
    int n = 0, rc = rows ? 0 : db_errf(err, errlen, "out of memory");
    for (int i = 0; rc == 0 && i < nc; i++) {
        if (strcmp(cases[i].engine, "serve") != 0) continue;
        rows[n].c = &cases[i];
        rc = db_serving_case_stats(st, cases[i].id, &rows[n].st, err, errlen);
        if (rc == 0) n++;
    }
    if (rc == 0 && n == 0) rc = db_errf(err, errlen, "run %lld has no serving cases", (long long)run);
    if (rc == 0) {
        if (!strcmp(fmt, "md")) write_md(out, run, rows, n);
        else if (!strcmp(fmt, "csv")) write_csv(out, rows, n);
        else rc = write_json(out, run, rows, n, err, errlen);
    }
    for (int i = 0; rows && i < n; i++) free(rows[i].st.first_error);
    free(rows);
    db_case_infos_free(cases, nc);
    return rc;
}
