/* cmd_prune.c — `decobench prune --keep-summaries-after DAYS [--db FILE]
 * [--dry-run]`: drop the raw per-sample step events of runs that ended more
 * than DAYS ago, keeping the samples' summaries (report without
 * per-position acceptance, history) and their outputs, each distinct
 * output once, then VACUUM (db_store_prune). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "harness/run/store.h"
#include "harness/util/util.h"

static void usage(FILE *f) {
    fputs("usage: decobench prune --keep-summaries-after DAYS [--db FILE] [--dry-run]\n"
          "\n"
          "For every run that ended more than DAYS days ago (and is not pruned yet), delete its\n"
          "raw per-sample data: the step events (per-position acceptance, draft share and\n"
          "timelines are computed from them).  Samples keep their summary columns (tokens/s,\n"
          "latency, TTFT, #MAT, acceptance, ...), counters and metrics, so `report` (without\n"
          "per-position acceptance) and `history` still work; their outputs move to the table\n"
          "of distinct outputs (`output`), where an output that repeats across engines, runs\n"
          "and nights is kept once, and read the same as before.  Then VACUUM.\n"
          "\n"
          "  --keep-summaries-after DAYS  age in days (a non-negative number; 0: every ended run)\n"
          "  --db FILE          results database (default " DB_DEFAULT_DB ")\n"
          "  --dry-run          only say what would be removed\n"
          "  -h, --help         show this help\n", f);
}

int cmd_prune(int argc, char **argv) {
    static const struct option opts[] = {
        { "keep-summaries-after", required_argument, NULL, 'k' },
        { "db", required_argument, NULL, 'd' },
        { "dry-run", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db_path = DB_DEFAULT_DB;
    double days = -1;
    int dry = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': {
            char *end;
            days = strtod(optarg, &end);
            if (end == optarg || *end || !(days >= 0 && days <= 1e6)) {
                fprintf(stderr, "decobench prune: --keep-summaries-after: expected a number of days >= 0, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'd': db_path = optarg; break;
        case 'n': dry = 1; break;
        case 'h': usage(stdout); return 0;
        default: return db_cli_bad_option("prune", c, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "decobench prune: %s: unexpected argument\n", argv[optind]);
        return 2;
    }
    if (days < 0) {
        fprintf(stderr, "decobench prune: --keep-summaries-after DAYS is required (see --help)\n");
        return 2;
    }
    char err[512];
    db_store *st = NULL;
    struct stat sb;
    if (stat(db_path, &sb) != 0) {   /* pruning never creates a database */
        fprintf(stderr, "decobench prune: %s: %s\n", db_path, strerror(errno));
        return 2;
    }
    if (db_store_open(db_path, &st, err, sizeof err) != 0) {
        fprintf(stderr, "decobench prune: %s\n", err);
        return 2;
    }
    db_prune_stats ps;
    int64_t cutoff = db_unix_ms() - (int64_t)(days * 86400000.0);
    int rc = db_store_prune(st, cutoff, dry, &ps, err, sizeof err);
    db_store_close(st);
    if (rc != 0) {
        fprintf(stderr, "decobench prune: %s: %s\n", db_path, err);
        return 1;
    }
    printf("%s %" PRId64 " runs, %" PRId64 " samples, %" PRId64 " step events%s", dry ? "would prune" : "pruned",
           ps.runs, ps.samples, ps.events, dry ? "" : " removed");
    if (dry)
        printf(", %" PRId64 " outputs to keep once each", ps.outputs_moved);
    else
        printf(", %" PRId64 " outputs kept as %" PRId64 " new distinct ones", ps.outputs_moved, ps.outputs_distinct);
    printf("; %" PRId64 " -> %" PRId64 " bytes in use\n", ps.bytes_before, ps.bytes_after);
    return 0;
}
