/* search.c — the search report: search-error rates against exact search and
 * the quality-vs-budget Pareto table, with the agreement of diffusion cases
 * with their one-token-per-step reference (definitions in reports/search.h
 * and reports/agreement.h). */
#include "search.h"
#include "agreement.h"
#include "format.h"

#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/store_sql.h"
#include "harness/util/util.h"

/* llama.cpp's logits for one path differ slightly with the batch they were
 * computed in (~1e-4 nats per token), so two engines can score the same
 * output differently: outputs that are identical never count, and a
 * different output is an error only when it scores this much lower. */
#define SEARCH_ERROR_TOL 1e-3

static const char *const quality_names[] = { "answer_correct", "ref_rouge2", "ref_bleu" };
#define N_QUALITY 3

typedef struct prow {
    int64_t id;
    char *label, *engine, *dataset, *model;
    int n;
    double nfe, tokens, score, paths, oracle;
    double q[N_QUALITY];
    double agreement, exact_match;  /* against the reference case; NaN without one */
    const char *reference;          /* the reference case's label, or NULL */
    bool front_score, front_quality, front_agreement;
    int qi;                  /* quality metric of its dataset and model, -1 none */
} prow;

static int resolve_run(sqlite3 *db, int64_t want, int64_t *run, char *err, size_t errlen) {
    sqlite3_stmt *s = NULL;
    /* "latest": the latest run that ended (harness/run/store.h) */
    if (want <= 0 && db_store_pick_run(db, 0, &want, NULL, 0, err, errlen) != 0) return -1;
    const char *sql = want > 0 ? "SELECT id FROM run WHERE id = ?" : "SELECT id FROM run ORDER BY id DESC LIMIT 1";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_sql_fail(db, "read run", err, errlen);
    if (want > 0) sqlite3_bind_int64(s, 1, want);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *run = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW) return 0;
    if (rc != SQLITE_DONE) return db_sql_fail(db, "read run", err, errlen);
    return want > 0 ? db_errf(err, errlen, "no run with id %lld", (long long)want)
                    : db_errf(err, errlen, "no runs in database");
}

static void put_num(FILE *out, bool md, double v, const char *fmt) {
    if (!md) { db_csv_num(out, v); return; }
    if (isnan(v)) fputs(" – |", out);
    else { fputc(' ', out); fprintf(out, fmt, v); fputs(" |", out); }
}

static int search_errors(sqlite3 *db, int64_t run, bool md, FILE *out, char *err, size_t errlen) {
    static const char *sql =
        "SELECT c.label, ec.label, c.dataset, c.model_name, COUNT(*),"
        " SUM(CASE WHEN b.output_tokens_json IS e.output_tokens_json AND b.stop_reason IS e.stop_reason THEN 0"
        "          WHEN bs.value < es.value - ?2 THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN b.output_tokens_json IS e.output_tokens_json AND b.stop_reason IS e.stop_reason THEN 0"
        "          WHEN bs.value > es.value + ?2 THEN 1 ELSE 0 END),"
        " AVG(CASE WHEN b.output_tokens_json IS e.output_tokens_json AND b.stop_reason IS e.stop_reason THEN 0"
        "          ELSE es.value - bs.value END)"
        " FROM \"case\" c JOIN sample b ON b.case_id = c.id"
        " JOIN sample_metric bs ON bs.sample_id = b.id AND bs.name = 'search_score'"
        " JOIN \"case\" ec ON ec.run_id = c.run_id AND ec.engine = 'exact' AND ec.id <> c.id"
        "   AND ec.dataset IS c.dataset AND ec.model_name IS c.model_name"
        " JOIN sample e ON e.case_id = ec.id AND e.prompt_idx = b.prompt_idx AND e.rep = b.rep AND e.turn = b.turn"
        " JOIN sample_metric es ON es.sample_id = e.id AND es.name = 'search_score'"
        " JOIN sample_metric eo ON eo.sample_id = e.id AND eo.name = 'search_optimal' AND eo.value = 1"
        " WHERE c.run_id = ?1 AND c.engine <> 'exact'"
        " GROUP BY c.id, ec.id ORDER BY c.idx, ec.idx";
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_sql_fail(db, "search errors", err, errlen);
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_double(s, 2, SEARCH_ERROR_TOL);
    if (md) fprintf(out, "## Search errors against exact search (run %lld)\n\n"
                         "| case | exact case | dataset | model | pairs | errors | error rate | mean gap (nats) | above |\n"
                         "|---|---|---|---|---:|---:|---:|---:|---:|\n", (long long)run);
    else fputs("table,case,exact_case,dataset,model,pairs,errors,error_rate,mean_gap,above\n", out);
    int rc, rows = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        rows++;
        int pairs = sqlite3_column_int(s, 4), errs = sqlite3_column_int(s, 5), above = sqlite3_column_int(s, 6);
        double gap = db_sql_real(s, 7);
        if (md) fputc('|', out);
        else db_csv_field(out, "search_errors", 1);
        for (int i = 0; i < 4; i++) {
            char *t = db_sql_text(s, i);
            if (md) db_md_cell(out, t);
            else db_csv_field(out, t, 0);
            free(t);
        }
        put_num(out, md, pairs, "%.0f");
        put_num(out, md, errs, "%.0f");
        put_num(out, md, pairs ? (double)errs / pairs : NAN, "%.3f");
        put_num(out, md, gap, "%.4f");
        put_num(out, md, above, "%.0f");
        fputc('\n', out);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return db_sql_fail(db, "search errors", err, errlen);
    if (md && rows == 0) fputs("| (no case paired with an exact case that proved optimality) | | | | | | | | |\n", out);
    if (md) fputc('\n', out);
    return 0;
}

static void metric_sql_avg(const char *name, char *buf, size_t len) {
    snprintf(buf, len, "(SELECT AVG(m.value) FROM sample_metric m JOIN sample x ON x.id = m.sample_id"
                       " WHERE x.case_id = c.id AND m.name = '%s')", name);
}

static int pareto(sqlite3 *db, int64_t run, bool md, FILE *out, char *err, size_t errlen) {
    char q[8][256];
    const char *names[8] = { "search_score", "lattice_paths", "lattice_oracle_rouge2",
                             "answer_correct", "ref_rouge2", "ref_bleu", NULL, NULL };
    for (int i = 0; i < 6; i++) metric_sql_avg(names[i], q[i], sizeof q[i]);
    char sql[4096];
    snprintf(sql, sizeof sql,
             "SELECT c.label, c.engine, c.dataset, c.model_name,"
             " (SELECT COUNT(*) FROM sample x WHERE x.case_id = c.id),"
             " (SELECT AVG(x.target_forwards + x.draft_forwards) FROM sample x WHERE x.case_id = c.id),"
             " (SELECT AVG(x.target_tokens_evaluated) FROM sample x WHERE x.case_id = c.id),"
             " %s, %s, %s, %s, %s, %s, c.id"
             " FROM \"case\" c WHERE c.run_id = ? ORDER BY c.idx",
             q[0], q[1], q[2], q[3], q[4], q[5]);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_sql_fail(db, "quality vs budget", err, errlen);
    sqlite3_bind_int64(s, 1, run);
    prow *rows = NULL;
    int n = 0, cap = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            prow *r = realloc(rows, sizeof *r * (size_t)cap);
            if (!r) { rc = SQLITE_NOMEM; break; }
            rows = r;
        }
        prow *r = &rows[n++];
        memset(r, 0, sizeof *r);
        r->label = db_sql_text(s, 0);
        r->engine = db_sql_text(s, 1);
        r->dataset = db_sql_text(s, 2);
        r->model = db_sql_text(s, 3);
        r->n = sqlite3_column_int(s, 4);
        r->nfe = db_sql_real(s, 5);
        r->tokens = db_sql_real(s, 6);
        r->score = db_sql_real(s, 7);
        r->paths = db_sql_real(s, 8);
        r->oracle = db_sql_real(s, 9);
        for (int k = 0; k < N_QUALITY; k++) r->q[k] = db_sql_real(s, 10 + k);
        r->id = sqlite3_column_int64(s, 13);
        r->agreement = r->exact_match = NAN;
    }
    sqlite3_finalize(s);
    int status = 0;
    if (rc != SQLITE_DONE) status = rc == SQLITE_NOMEM ? db_errf(err, errlen, "out of memory")
                                                       : db_sql_fail(db, "quality vs budget", err, errlen);
    db_agreement *agr = NULL;
    int n_agr = 0;
    if (status == 0) status = db_agreement_run(db, run, &agr, &n_agr, err, errlen);
    for (int i = 0; i < n && status == 0; i++) {
        const db_agreement *a = db_agreement_find(agr, n_agr, rows[i].id);
        if (!a) continue;
        rows[i].agreement = a->agreement;
        rows[i].exact_match = a->exact_match;
        rows[i].reference = a->ref_label;
    }
    /* Pareto fronts per dataset and model: no other case is at least as good in
     * both cost and value and strictly better in one.  The quality metric of a
     * dataset and model is the first one any of its cases has.  The third
     * front is NFE against agreement with the one-token-per-step reference. */
    for (int i = 0; i < n && status == 0; i++) {
        int qi = -1;
        for (int k = 0; k < N_QUALITY && qi < 0; k++)
            for (int j = 0; j < n; j++)
                if (!strcmp(rows[i].dataset, rows[j].dataset) && !strcmp(rows[i].model, rows[j].model) &&
                    !isnan(rows[j].q[k])) { qi = k; break; }
        rows[i].qi = qi;
        for (int axis = 0; axis < 3; axis++) {
            double vi = axis == 0 ? rows[i].score : axis == 2 ? rows[i].agreement : qi >= 0 ? rows[i].q[qi] : NAN;
            if (isnan(vi) || isnan(rows[i].nfe)) continue;
            bool dominated = false;
            for (int j = 0; j < n && !dominated; j++) {
                if (j == i || strcmp(rows[i].dataset, rows[j].dataset) || strcmp(rows[i].model, rows[j].model)) continue;
                double vj = axis == 0 ? rows[j].score : axis == 2 ? rows[j].agreement : rows[j].q[qi];
                if (isnan(vj) || isnan(rows[j].nfe)) continue;
                dominated = rows[j].nfe <= rows[i].nfe && vj >= vi && (rows[j].nfe < rows[i].nfe || vj > vi);
            }
            if (axis == 0) rows[i].front_score = !dominated;
            else if (axis == 1) rows[i].front_quality = !dominated;
            else rows[i].front_agreement = !dominated;
        }
    }
    if (status == 0) {
        if (md) {
            fprintf(out, "## Quality vs budget (run %lld)\n\n"
                         "NFE = model calls per sample (target + draft forwards); * = on the Pareto front of NFE against "
                         "the score, and against the quality metric named in the quality-front column (the first of "
                         "answer_correct, ref_rouge2, ref_bleu its dataset has), within its dataset and model.  Agreement = "
                         "mean share of output positions equal to the output of the reference case named (same engine, "
                         "model and dataset, one token per step; docs/diffusion.md), exact match = share of identical "
                         "outputs; the agreement front is NFE against agreement.\n\n"
                         "| case | engine | dataset | model | n | NFE | tokens evaluated | score (log p) | front (score) |",
                    (long long)run);
            for (int k = 0; k < N_QUALITY; k++) fprintf(out, " %s |", quality_names[k]);
            fputs(" front (quality) | lattice paths | oracle ROUGE-2 | agreement | exact match | reference |"
                  " front (agreement) |\n|---|---|---|---|---:|---:|---:|---:|:-:|", out);
            for (int k = 0; k < N_QUALITY; k++) fputs("---:|", out);
            fputs(":-:|---:|---:|---:|---:|---|:-:|\n", out);
        } else {
            fputs("table,case,engine,dataset,model,n,nfe,tokens_evaluated,score,front_score", out);
            for (int k = 0; k < N_QUALITY; k++) fprintf(out, ",%s", quality_names[k]);
            fputs(",front_quality,quality_metric,lattice_paths,lattice_oracle_rouge2,agreement,exact_match,"
                  "agreement_reference,front_agreement\n", out);
        }
        for (int i = 0; i < n; i++) {
            prow *r = &rows[i];
            if (md) {
                fputc('|', out);
                db_md_cell(out, r->label);
                db_md_cell(out, r->engine);
                db_md_cell(out, r->dataset);
                db_md_cell(out, r->model);
            } else {
                db_csv_field(out, "quality_vs_budget", 1);
                db_csv_field(out, r->label, 0);
                db_csv_field(out, r->engine, 0);
                db_csv_field(out, r->dataset, 0);
                db_csv_field(out, r->model, 0);
            }
            put_num(out, md, r->n, "%.0f");
            put_num(out, md, r->nfe, "%.1f");
            put_num(out, md, r->tokens, "%.1f");
            put_num(out, md, r->score, "%.3f");
            if (md) fprintf(out, " %s |", r->front_score ? "*" : "");
            else db_csv_field(out, r->front_score ? "1" : "0", 0);
            for (int k = 0; k < N_QUALITY; k++) put_num(out, md, r->q[k], "%.3f");
            if (md) fprintf(out, " %s%s |", r->front_quality ? "* " : "", r->qi >= 0 ? quality_names[r->qi] : "");
            else {
                db_csv_field(out, r->front_quality ? "1" : "0", 0);
                db_csv_field(out, r->qi >= 0 ? quality_names[r->qi] : "", 0);
            }
            put_num(out, md, r->paths, "%.0f");
            put_num(out, md, r->oracle, "%.3f");
            put_num(out, md, r->agreement, "%.3f");
            put_num(out, md, r->exact_match, "%.3f");
            if (md) {
                db_md_cell(out, r->reference ? r->reference : "");
                fprintf(out, " %s |", r->front_agreement ? "*" : "");
            } else {
                db_csv_field(out, r->reference ? r->reference : "", 0);
                db_csv_field(out, r->front_agreement ? "1" : "0", 0);
            }
            fputc('\n', out);
        }
    }
    for (int i = 0; i < n; i++) {
        free(rows[i].label);
        free(rows[i].engine);
        free(rows[i].dataset);
        free(rows[i].model);
    }
    free(rows);
    db_agreement_free(agr, n_agr);
    return status;
}

int db_report_search(db_store *st, const db_report_opts *o, FILE *out, char *err, size_t errlen) {
    const char *fmt = o->format ? o->format : "md";
    bool md = strcmp(fmt, "md") == 0;
    if (!md && strcmp(fmt, "csv") != 0)
        return db_errf(err, errlen, "--search: format '%s' not supported (md or csv)", fmt);
    sqlite3 *db = db_store_handle(st);
    int64_t run = 0;
    if (resolve_run(db, o->run_id, &run, err, errlen) != 0) return -1;
    if (search_errors(db, run, md, out, err, errlen) != 0) return -1;
    return pareto(db, run, md, out, err, errlen);
}
