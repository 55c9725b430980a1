/* cmd_report.c — `decobench report`: the results table of one run from the
 * results database (its columns chosen with --columns; or, with --by, a
 * pivot: by category (Spec-Bench style), engine, model, dataset or
 * parameter; with --by machine, its suite across machines), as Markdown,
 * CSV, LaTeX or JSON, or the whole run as one self-contained HTML page with
 * charts, to stdout or a file.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "harness/run/store.h"
#include "harness/run/store_read.h"
#include "harness/util/outfile.h"
#include "harness/util/util.h"
#include "reports/report.h"
#include "reports/regret.h"
#include "reports/search.h"
#include "reports/serving.h"

static void usage(FILE *f) {
    fputs("usage: decobench report [--db FILE] [--run ID] [--format md|csv|latex|json|html]\n"
          "                        [--columns NAMES | --by GROUPING [--cell METRIC] | --search |\n"
          "                         --serving | --regret]\n"
          "                        [--seed N] [--metrics NAMES] [-o FILE] [--help]\n"
          "\n"
          "Print the results table of one run: per case tokens/s (median, 95% bootstrap CI),\n"
          "speedup against the baseline (paired per prompt), #MAT, TTFT, latency, counters;\n"
          "when a case drafted tokens also acceptance rate, mean draft length, acceptance\n"
          "per draft position, draft/target cost ratio, draft time share and the speedup\n"
          "predicted from them (Leviathan et al.).\n"
          "\n"
          "  --db FILE       results database (default " DB_DEFAULT_DB ")\n"
          "  --run ID        run id (default: the latest run)\n"
          "  --format FMT    md (default), csv, latex, json, or html: one self-contained page\n"
          "                  with the table, SVG charts (speedup, acceptance, #MAT vs k, latency\n"
          "                  CDFs, quality vs budget), machine and configuration\n"
          "  --columns NAMES the per-case table's columns, in this order (comma-separated;\n"
          "                  md, csv, latex, json): label, engine, dataset, model, n,\n"
          "                  tokens_per_s, speedup, predicted_speedup, mat, acceptance_rate,\n"
          "                  mean_draft_len, accept_at, draft_cost_ratio, draft_time_share,\n"
          "                  ttft_p50_ms, ttft_p90_ms, latency_p50_ms, drafted, accepted,\n"
          "                  verify_steps, or a counter of the run (e.g. PAPI_TOT_INS)\n"
          "  --by category   Spec-Bench layout instead: one row per case, one column per\n"
          "                  prompt category (MT-bench's 8 merged into multi-turn, then\n"
          "                  translation, summarization, qa, math_reasoning, rag, others,\n"
          "                  overall), cells \"speedup× / #MAT\"\n"
          "  --by engine     the same, rows grouped under one heading per engine\n"
          "  --by model      one column per model, one row per label (and dataset)\n"
          "  --by dataset    one column per dataset, one row per label (and model)\n"
          "  --by param:NAME one column per value of engine parameter NAME, one row per\n"
          "                  engine and its other parameters (e.g. --by param:k)\n"
          "  --cell METRIC   what a pivot's cells show instead of \"speedup× / #MAT\":\n"
          "                  speedup, mat, tokens_per_s, ttft_p50_ms or latency_p50_ms\n"
          "                  (LaTeX: best per column in bold, ± half-width of the 95% CI)\n"
          "  --by machine    the run's suite on every machine of the database (its latest\n"
          "                  completed run there): machines as columns; tok/s, speedup, #MAT\n"
          "                  (marked when it differs between machines), counters, roofline\n"
          "                  fraction of autoregressive cases (needs decobench probe)\n"
          "  --serving       serving report instead (md, csv or json): per serving case,\n"
          "                  requests, failures, req/s, output tok/s, goodput under the\n"
          "                  suite's SLOs, TTFT/TPOT/ITL/E2E p50/p90/p99 (docs/serving.md)\n"
          "  --search        search report instead (md or csv): search-error rate of each\n"
          "                  case against exact search on the same prompts, and the\n"
          "                  quality-vs-budget table (NFE, tokens evaluated, score, reference\n"
          "                  metrics) with Pareto fronts\n"
          "  --regret        regret report instead (md or csv): each adaptive draft-length\n"
          "                  case (adaptive=ucb|exp3|thompson) against the best fixed\n"
          "                  setting of the same method in hindsight, in target rounds\n"
          "                  and latency\n"
          "  --seed N        bootstrap seed (default 1)\n"
          "  --metrics NAMES also a table of per-sample metrics (comma-separated, e.g.\n"
          "                  keywords_all,keyword_coverage,constraint_success): per case\n"
          "                  the mean over its samples; md or csv\n"
          "  -o, --output F  write to F instead of stdout (- = stdout; a file is replaced\n"
          "                  atomically, a device or FIFO written through: man decobench)\n"
          "  -h, --help      show this help\n", f);
}

int cmd_report(int argc, char **argv) {
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "run", required_argument, NULL, 'r' },
        { "format", required_argument, NULL, 'f' },
        { "seed", required_argument, NULL, 's' },
        { "by", required_argument, NULL, 'b' },
        { "output", required_argument, NULL, 'o' },
        { "metrics", required_argument, NULL, 'm' },
        { "search", no_argument, NULL, 'S' },
        { "serving", no_argument, NULL, 'V' },
        { "regret", no_argument, NULL, 'R' },
        { "columns", required_argument, NULL, 'C' },
        { "cell", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db_path = DB_DEFAULT_DB, *out_path = NULL, *metrics = NULL;
    db_report_opts o = { 0, "md", DB_REPORT_DEFAULT_SEED, NULL, NULL, NULL };
    uint64_t v;
    int c, search = 0, serving = 0, regret = 0;
    optind = 0;   /* glibc: full re-initialisation */
    opterr = 0;   /* one error line of our own */
    while ((c = getopt_long(argc, argv, "+:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db_path = optarg; break;
        case 'r':
            if (db_parse_u64(optarg, &v) != 0 || v == 0 || v > INT64_MAX) {
                fprintf(stderr, "decobench report: --run: expected a positive run id, got '%s'\n", optarg);
                return 2;
            }
            o.run_id = (int64_t)v;
            break;
        case 'f':
            if (!db_report_format_ok(optarg)) {
                fprintf(stderr, "decobench report: --format: expected md, csv, latex, json or html, got '%s'\n",
                        optarg);
                return 2;
            }
            o.format = optarg;
            break;
        case 's':
            if (db_parse_u64(optarg, &v) != 0) {
                fprintf(stderr, "decobench report: --seed: expected a non-negative integer, got '%s'\n",
                        optarg);
                return 2;
            }
            o.seed = v;
            break;
        case 'b':
            if (!db_report_by_ok(optarg)) {
                fprintf(stderr, "decobench report: --by: expected " DB_REPORT_BY_NAMES ", got '%s'\n", optarg);
                return 2;
            }
            o.by = optarg;
            break;
        case 'o': out_path = optarg; break;
        case 'm': metrics = optarg; break;
        case 'S': search = 1; break;
        case 'V': serving = 1; break;
        case 'R': regret = 1; break;
        case 'C': o.columns = optarg; break;
        case 'c': o.cell = optarg; break;
        case 'h': usage(stdout); return 0;
        default:   /* ':' (missing value) or '?' (unknown option) */
            return db_cli_bad_option("report", c, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "decobench report: %s: unexpected argument\n", argv[optind]);
        return 2;
    }
    if (o.by && !strcmp(o.format, "html")) {
        fprintf(stderr, "decobench report: --format html: the whole report of a run; it takes no --by\n");
        return 2;
    }
    if (o.columns && (o.by || search || !strcmp(o.format, "html"))) {
        fprintf(stderr, "decobench report: --columns: chooses the per-case table's columns (md, csv, latex, json);"
                        " it takes no --by, --search or --format html\n");
        return 2;
    }
    if (o.cell && (!o.by || !strcmp(o.by, "machine"))) {
        fprintf(stderr, "decobench report: --cell: what a pivot's cells show; it needs --by category, engine,"
                        " model, dataset or param:NAME\n");
        return 2;
    }
    if (serving && (search || o.by || o.columns || o.cell)) {
        fprintf(stderr, "decobench report: --serving is a report of its own: it takes no --search, --by, --columns"
                        " or --cell\n");
        return 2;
    }
    if (serving && strcmp(o.format, "md") != 0 && strcmp(o.format, "csv") != 0 && strcmp(o.format, "json") != 0) {
        fprintf(stderr, "decobench report: --serving: format must be md, csv or json, got '%s'\n", o.format);
        return 2;
    }
    if (regret && (search || serving || o.by || o.columns || o.cell || metrics)) {
        fprintf(stderr, "decobench report: --regret is a report of its own: it takes no --search, --serving, --by,"
                        " --columns, --cell or --metrics\n");
        return 2;
    }
    if (regret && strcmp(o.format, "md") != 0 && strcmp(o.format, "csv") != 0) {
        fprintf(stderr, "decobench report: --regret: format must be md or csv, got '%s'\n", o.format);
        return 2;
    }
    if (search && o.by) {
        fprintf(stderr, "decobench report: --search and --by: choose one\n");
        return 2;
    }
    if (search && strcmp(o.format, "md") != 0 && strcmp(o.format, "csv") != 0) {
        fprintf(stderr, "decobench report: --search: format must be md or csv, got '%s'\n", o.format);
        return 2;
    }
    if (!db_file_exists(db_path)) {
        fprintf(stderr, "decobench report: %s: no such results database\n", db_path);
        return 2;
    }
    char err[512];
    db_store *st = NULL;
    if (db_store_open_readonly(db_path, &st, err, sizeof err) != 0) {
        fprintf(stderr, "decobench report: %s\n", err);
        return 2;
    }
    /* which run: say when it is incomplete, or when newer runs were passed over */
    char note[400];
    if (db_store_resolve_run(st, o.run_id, &o.run_id, note, sizeof note, err, sizeof err) == 0 &&
        note[0])
        fprintf(stderr, "decobench report: note: %s\n", note);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) {
        fprintf(stderr, "decobench report: out of memory\n");
        db_store_close(st);
        return 1;
    }
    int rc = serving  ? db_report_serving(st, &o, mem, err, sizeof err)
             : search ? db_report_search(st, &o, mem, err, sizeof err)
             : regret ? db_report_regret(st, &o, mem, err, sizeof err)
                      : db_report_table(st, &o, mem, err, sizeof err);
    if (rc == 0 && metrics) rc = db_report_sample_metrics(st, o.run_id, metrics, o.format, mem, err, sizeof err);
    fclose(mem);
    db_store_close(st);
    if (rc != 0) {
        fprintf(stderr, "decobench report: %s: %s\n", db_path, err);
        free(buf);
        return 2;
    }
    int status = 0;
    if (db_deliver_output(out_path, buf, len, err, sizeof err) != 0) {
        fprintf(stderr, "decobench report: %s\n", err);
        status = 1;
    }
    free(buf);
    return status;
}
