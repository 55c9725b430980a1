/* cmd_history.c — `decobench history --metric M`: a metric's per-run series
 * for every case across the runs of a results database, ordered by
 * decobench revision and start time, with change points marked
 * (binary segmentation + permutation test; reports/compare.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "harness/run/store.h"
#include "harness/util/outfile.h"
#include "harness/util/util.h"
#include "reports/compare.h"

static void usage(FILE *f) {
    fputs("usage: decobench history --metric M [--db FILE] [--case LABEL] [--format md|csv]\n"
          "                         [--alpha A] [--permutations N] [--min-segment N] [--seed N]\n"
          "                         [-o FILE] [--help]\n"
          "\n"
          "Print, for each case (label, dataset, model), the metric's median per run across the\n"
          "database's runs, ordered by decobench revision (revisions in the order of their first\n"
          "run) and start time, and mark the runs where the metric shifted: binary segmentation\n"
          "with a permutation test on the series (as Hunter and MongoDB's E-Divisive do).\n"
          "\n"
          "  --metric M         tokens_per_s, latency_ms, ttft_ms, mat (pooled #MAT), tpot_ms,\n"
          "                     acceptance_rate or peak_rss_kib (required)\n"
          "  --db FILE          results database (default " DB_DEFAULT_DB ")\n"
          "  --case LABEL       only cases with this label\n"
          "  --format FMT       md (default) or csv\n"
          "  --alpha A          significance of a change point (default 0.01)\n"
          "  --permutations N   permutations per test (default 999)\n"
          "  --min-segment N    fewest runs between change points (default 3)\n"
          "  --seed N           permutation seed (default 1)\n"
          "  -o, --output F     write to F instead of stdout (- = stdout; a file is replaced\n"
          "                     atomically, a device or FIFO written through: man decobench)\n"
          "  -h, --help         show this help\n", f);
}

int cmd_history(int argc, char **argv) {
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "metric", required_argument, NULL, 'm' },
        { "case", required_argument, NULL, 'c' },
        { "format", required_argument, NULL, 'f' },
        { "alpha", required_argument, NULL, 'a' },
        { "permutations", required_argument, NULL, 'p' },
        { "min-segment", required_argument, NULL, 'g' },
        { "seed", required_argument, NULL, 's' },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db_path = DB_DEFAULT_DB, *out_path = NULL;
    db_history_opts o = { NULL, NULL, "md", DB_HISTORY_PERMUTATIONS, DB_HISTORY_ALPHA, DB_HISTORY_MIN_SEGMENT, 1 };
    uint64_t v;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db_path = optarg; break;
        case 'm':
            o.metric = db_compare_metric(optarg, 1);
            if (!o.metric) {
                fprintf(stderr, "decobench history: --metric: unknown metric '%s' (expected tokens_per_s, "
                                "latency_ms, ttft_ms, mat, tpot_ms, acceptance_rate or peak_rss_kib)\n", optarg);
                return 2;
            }
            break;
        case 'c': o.label = optarg; break;
        case 'f':
            if (strcmp(optarg, "md") != 0 && strcmp(optarg, "csv") != 0) {
                fprintf(stderr, "decobench history: --format: expected md or csv, got '%s'\n", optarg);
                return 2;
            }
            o.format = optarg;
            break;
        case 'a': {
            char *end;
            errno = 0;
            double x = strtod(optarg, &end);
            if (errno || *end || !*optarg || !(x > 0 && x < 1)) {
                fprintf(stderr, "decobench history: --alpha: expected a number in (0, 1), got '%s'\n", optarg);
                return 2;
            }
            o.alpha = x;
            break;
        }
        case 'p':
            if (db_parse_u64(optarg, &v) != 0 || v < 1 || v > 1000000) {
                fprintf(stderr, "decobench history: --permutations: expected an integer 1..1000000, got '%s'\n",
                        optarg);
                return 2;
            }
            o.n_perm = (int)v;
            break;
        case 'g':
            if (db_parse_u64(optarg, &v) != 0 || v < 1 || v > 100000) {
                fprintf(stderr, "decobench history: --min-segment: expected an integer 1..100000, got '%s'\n",
                        optarg);
                return 2;
            }
            o.min_segment = (int)v;
            break;
        case 's':
            if (db_parse_u64(optarg, &v) != 0) {
                fprintf(stderr, "decobench history: --seed: expected a non-negative integer, got '%s'\n", optarg);
                return 2;
            }
            o.seed = v;
            break;
        case 'o': out_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default:   /* ':' (missing value) or '?' (unknown option) */
            return db_cli_bad_option("history", c, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "decobench history: %s: unexpected argument\n", argv[optind]);
        return 2;
    }
    if (!o.metric) {
        fprintf(stderr, "decobench history: --metric is required (see --help)\n");
        return 2;
    }
    if (!db_file_exists(db_path)) {
        fprintf(stderr, "decobench history: %s: no such results database\n", db_path);
        return 2;
    }
    char err[512];
    db_store *st = NULL;
    if (db_store_open_readonly(db_path, &st, err, sizeof err) != 0) {
        fprintf(stderr, "decobench history: %s\n", err);
        return 2;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) {
        fprintf(stderr, "decobench history: out of memory\n");
        db_store_close(st);
        return 1;
    }
    int rc = db_history(st, &o, mem, NULL, err, sizeof err);
    fclose(mem);
    db_store_close(st);
    if (rc != 0) {
        fprintf(stderr, "decobench history: %s: %s\n", db_path, err);
        free(buf);
        return 2;
    }
    int status = 0;
    if (db_deliver_output(out_path, buf, len, err, sizeof err) != 0) {
        fprintf(stderr, "decobench history: %s\n", err);
        status = 1;
    }
    free(buf);
    return status;
}
