/* search.c — the search report: search-error rates against exact search and
 * the quality-vs-budget Pareto table, with the agreement of diffusion cases
 * with their one-token-per-step reference (definitions in reports/search.h
 * and reports/agreement.h). */
#include "search.h"
#include "agreement.h"
#include "format.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/store_read.h"
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

static int search_errors(db_store *st, int64_t run, bool md, FILE *out, char *err, size_t errlen) {
    db_search_error_row *rows = NULL;
    int n = 0;
    if (db_store_read_search_errors(st, run, SEARCH_ERROR_TOL, &rows, &n, err, errlen) != 0) return -1;
    if (md) fprintf(out, "## Search errors against exact search (run %lld)\n\n"
                         "| case | exact case | dataset | model | pairs | errors | error rate | mean gap (nats) | above |\n"
                         "|---|---|---|---|---:|---:|---:|---:|---:|\n", (long long)run);
    else fputs("table,case,exact_case,dataset,model,pairs,errors,error_rate,mean_gap,above\n", out);
    for (int r = 0; r < n; r++) {
        int pairs = rows[r].pairs, errs = rows[r].errors, above = rows[r].above;
        double gap = rows[r].mean_gap;
        if (md) fputc('|', out);
        else db_csv_field(out, "search_errors", 1);
        const char *cells[4] = { rows[r].label, rows[r].exact_label, rows[r].dataset, rows[r].model_name };
        for (int i = 0; i < 4; i++) {
            if (md) db_md_cell(out, cells[i]);
            else db_csv_field(out, cells[i], 0);
        }
        db_md_csv_num(out, md, pairs, "%.0f");
        db_md_csv_num(out, md, errs, "%.0f");
        db_md_csv_num(out, md, pairs ? (double)errs / pairs : NAN, "%.3f");
        db_md_csv_num(out, md, gap, "%.4f");
        db_md_csv_num(out, md, above, "%.0f");
        fputc('\n', out);
    }
    db_search_error_rows_free(rows, n);
    if (md && n == 0) fputs("| (no case paired with an exact case that proved optimality) | | | | | | | | |\n", out);
    if (md) fputc('\n', out);
    return 0;
}

static int pareto(db_store *st, int64_t run, bool md, FILE *out, char *err, size_t errlen) {
    static const char *const names[6] = { "search_score", "lattice_paths", "lattice_oracle_rouge2",
                                          "answer_correct", "ref_rouge2", "ref_bleu" };
    db_case_info *cs = NULL;
    int n = 0;
    if (db_store_read_cases(st, run, NULL, &cs, &n, err, errlen) != 0) return -1;
    prow *rows = calloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    if (!rows) {
        db_case_infos_free(cs, n);
        return db_errf(err, errlen, "out of memory");
    }
    int status = 0;
    for (int i = 0; i < n && status == 0; i++) {
        prow *r = &rows[i];
        r->label = cs[i].label;
        r->engine = cs[i].engine;
        r->dataset = cs[i].dataset;
        r->model = cs[i].model_name;
        cs[i].label = cs[i].engine = cs[i].dataset = cs[i].model_name = NULL;
        r->n = cs[i].n_samples;
        r->id = cs[i].id;
        r->agreement = r->exact_match = NAN;
        db_case_means cm;
        double v[6];
        status = db_store_case_means(st, r->id, &cm, err, errlen);
        for (int k = 0; k < 6 && status == 0; k++)
            status = db_store_case_metric_mean(st, r->id, names[k], &v[k], err, errlen);
        if (status != 0) break;
        r->nfe = cm.forwards;
        r->tokens = cm.target_tokens_evaluated;
        r->score = v[0];
        r->paths = v[1];
        r->oracle = v[2];
        for (int k = 0; k < N_QUALITY; k++) r->q[k] = v[3 + k];
    }
    db_case_infos_free(cs, n);
    db_agreement *agr = NULL;
    int n_agr = 0;
    if (status == 0) status = db_agreement_run(st, run, &agr, &n_agr, err, errlen);
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
            db_md_csv_num(out, md, r->n, "%.0f");
            db_md_csv_num(out, md, r->nfe, "%.1f");
            db_md_csv_num(out, md, r->tokens, "%.1f");
            db_md_csv_num(out, md, r->score, "%.3f");
            if (md) fprintf(out, " %s |", r->front_score ? "*" : "");
            else db_csv_field(out, r->front_score ? "1" : "0", 0);
            for (int k = 0; k < N_QUALITY; k++) db_md_csv_num(out, md, r->q[k], "%.3f");
            if (md) fprintf(out, " %s%s |", r->front_quality ? "* " : "", r->qi >= 0 ? quality_names[r->qi] : "");
            else {
                db_csv_field(out, r->front_quality ? "1" : "0", 0);
                db_csv_field(out, r->qi >= 0 ? quality_names[r->qi] : "", 0);
            }
            db_md_csv_num(out, md, r->paths, "%.0f");
            db_md_csv_num(out, md, r->oracle, "%.3f");
            db_md_csv_num(out, md, r->agreement, "%.3f");
            db_md_csv_num(out, md, r->exact_match, "%.3f");
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
    /* run 0: the latest run that ended (harness/run/store_read.h) */
    db_run_info ri;
    if (db_store_read_run(st, o->run_id, &ri, err, errlen) != 0) return -1;
    int64_t run = ri.id;
    db_run_info_free(&ri);
    if (search_errors(st, run, md, out, err, errlen) != 0) return -1;
    return pareto(st, run, md, out, err, errlen);
}
