/* sample_metrics.c — `decobench report --metrics NAME,...`: per case, the
 * mean of named per-sample metrics (table sample_metric: constraint
 * compliance such as keywords_all, keyword_coverage, schema_valid, and
 * engine outcomes such as constraint_success, search_score), as Markdown or
 * CSV; `agreement` and `agreement_exact` are computed here from the stored
 * outputs (reports/agreement.h).  Kept apart from the main table
 * (reports/table.c). */
#include "report.h"
#include "agreement.h"
#include "format.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/store_read.h"
#include "harness/util/util.h"

#define MAX_METRICS 16

/* Split "a,b,c" into at most MAX_METRICS names (pointers into copy). */
static int split_names(char *copy, char **names, char *err, size_t errlen) {
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!*t) continue;
        if (n == MAX_METRICS) return db_errf(err, errlen, "--metrics: at most %d names", MAX_METRICS);
        names[n++] = t;
    }
    if (n == 0) return db_errf(err, errlen, "--metrics: expected NAME[,NAME...]");
    return n;
}

/* S7: the per-sample metric names the harness and its engines write
 * (docs/metrics.md), and those computed when reporting. */
static const char *const known_metrics[] = {
    "agreement", "agreement_exact",
    "compile_ms", "constraint_evals", "constraint_evals_per_token", "constraint_time_ms", "mask_p50_us", "mask_p99_us",
    "target_tokens_per_token", "draft_tokens_per_token", "drafter_bytes",
    "json_parses", "schema_valid", "regex_match", "grammar_valid", "keyword_coverage", "keywords_all",
    "output_compliant", "compliance", "scorer_nll", "scorer_ppl", "ref_rouge2", "ref_bleu", "answer_correct",
    "astar_expansions", "astar_prm_calls", "astar_reward", "astar_tokens", "beam_finished", "constraint_success",
    "constraint_supported", "constraints_met", "constraints_total", "diffusion_max_commit", "gad_complete",
    "gad_iterations", "gad_mass", "gad_trie_nodes", "importance_log_weight", "lattice_calls", "lattice_edges",
    "lattice_merges", "lattice_nodes", "lattice_oracle_paths", "lattice_oracle_rouge2", "lattice_paths",
    "lookahead_forwards", "nbest_distinct2", "nbest_self_bleu", "search_complete", "search_nodes",
    "search_norm_score", "search_optimal", "search_queue", "search_score",
};

/* Is name a metric: one of the list above, or a name stored in this
 * database (a newer or foreign decobench may write others)?  1 yes, 0 no,
 * -1 on a database error (err set). */
static int metric_known(db_store *st, const char *name, char *err, size_t errlen) {
    for (size_t i = 0; i < sizeof known_metrics / sizeof *known_metrics; i++)
        if (strcmp(known_metrics[i], name) == 0) return 1;
    bool found = false;
    if (db_store_metric_stored(st, name, &found, err, errlen) != 0) return -1;
    return found;
}

int db_report_sample_metrics(db_store *st, int64_t run_id, const char *names_csv, const char *format, FILE *out,
                             char *err, size_t errlen) {
    const char *fmt = format ? format : "md";
    if (strcmp(fmt, "md") != 0 && strcmp(fmt, "csv") != 0)
        return db_errf(err, errlen, "--metrics: only with --format md or csv, not '%s'", fmt);
    if (!st) return db_errf(err, errlen, "no results database");
    char *copy = db_strdup(names_csv);
    if (!copy) return db_errf(err, errlen, "out of memory");
    char *names[MAX_METRICS];
    int n_names = split_names(copy, names, err, errlen);
    if (n_names < 0) {
        free(copy);
        return -1;
    }
    for (int k = 0; k < n_names; k++) {
        int kn = metric_known(st, names[k], err, errlen);
        if (kn == 0) {
            char shown[65];   /* one line: control characters shown as '?' */
            snprintf(shown, sizeof shown, "%s", names[k]);
            for (char *q = shown; *q; q++)
                if ((unsigned char)*q < 0x20 || *q == 0x7f) *q = '?';
            db_errf(err, errlen, "--metrics: unknown metric '%s' (the names are in docs/metrics.md, e.g. compliance,"
                                 " schema_valid, keyword_coverage, ref_rouge2, agreement)", shown);
        }
        if (kn <= 0) {
            free(copy);
            return -1;
        }
    }
    int rc = -1;
    /* run 0: the latest run that ended (harness/run/store_read.h) */
    if (run_id <= 0 && db_store_resolve_run(st, 0, &run_id, NULL, 0, err, errlen) != 0) goto done;
    /* the run's cases, in order */
    db_case_info *cs = NULL;
    int n_rows = 0;
    double *mean = NULL;
    db_agreement *agr = NULL;
    int n_agr = -1;
    if (db_store_read_cases(st, run_id, NULL, &cs, &n_rows, err, errlen) != 0) goto done;
    /* per metric: the mean over the case's samples that have it */
    mean = malloc(sizeof *mean * (size_t)(n_rows > 0 ? n_rows : 1) * (size_t)n_names);
    if (!mean) { db_errf(err, errlen, "out of memory"); goto rows_done; }
    for (int k = 0; k < n_names; k++) {
        for (int r = 0; r < n_rows; r++) {
            mean[r * n_names + k] = NAN;
            if (cs[r].n_samples > 0 &&
                db_store_case_metric_mean(st, cs[r].id, names[k], &mean[r * n_names + k], err, errlen) != 0)
                goto rows_done;
        }
        bool exact = strcmp(names[k], "agreement_exact") == 0;
        if (!exact && strcmp(names[k], "agreement") != 0) continue;
        if (n_agr < 0 && db_agreement_run(st, run_id, &agr, &n_agr, err, errlen) != 0) goto rows_done;
        for (int i = 0; i < n_rows; i++) {
            const db_agreement *a = db_agreement_find(agr, n_agr, cs[i].id);
            mean[i * n_names + k] = !a ? NAN : exact ? a->exact_match : a->agreement;
        }
    }
    if (!strcmp(fmt, "md")) {
        fputs("\n| label | dataset | n |", out);
        for (int k = 0; k < n_names; k++) db_md_cell(out, names[k]);   /* names come from the command line */
        fputs("\n|---|---|---:|", out);
        for (int k = 0; k < n_names; k++) fputs("---:|", out);
        fputc('\n', out);
    } else {
        db_csv_field(out, "label", 1);
        db_csv_field(out, "dataset", 0);
        db_csv_field(out, "n", 0);
        for (int k = 0; k < n_names; k++) db_csv_field(out, names[k], 0);
        fputc('\n', out);
    }
    for (int r = 0; r < n_rows; r++) {
        if (!strcmp(fmt, "md")) {
            fputc('|', out);
            db_md_cell(out, cs[r].label);
            db_md_cell(out, cs[r].dataset);
            fprintf(out, " %d |", cs[r].n_samples);
            for (int k = 0; k < n_names; k++) {
                double v = mean[r * n_names + k];
                if (v != v) fputs(" – |", out);
                else fprintf(out, " %.3f |", v);
            }
        } else {
            db_csv_field(out, cs[r].label, 1);
            db_csv_field(out, cs[r].dataset, 0);
            fprintf(out, ",%d", cs[r].n_samples);
            for (int k = 0; k < n_names; k++) db_csv_num(out, mean[r * n_names + k]);
        }
        fputc('\n', out);
    }
    rc = ferror(out) ? db_errf(err, errlen, "write error") : 0;
rows_done:
    db_case_infos_free(cs, n_rows);
    free(mean);
    db_agreement_free(agr, n_agr);
done:
    free(copy);
    return rc;
}
