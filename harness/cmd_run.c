/* cmd_run.c — `decobench run [SUITE] [--db FILE]`: load and validate a suite,
 * run it (runner.c), then print the run's table. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "model.h"
#include "runner.h"
#include "store.h"
#include "suite.h"
#include "util.h"
#include "../reports/report.h"

static volatile int interrupted;

static void on_sigint(int sig) {
    (void)sig;
    if (interrupted) _exit(130);   /* second Ctrl-C: leave now */
    interrupted = 1;
}

static void run_usage(FILE *f) {
    fprintf(f,
        "usage: decobench run [SUITE] [options]\n\n"
        "Runs every case of SUITE (default " DB_DEFAULT_SUITE ") and stores the results.\n\n"
        "  --db FILE          results database (default " DB_DEFAULT_DB "; created if needed)\n"
        "  --limit N          use at most N prompts of each dataset\n"
        "  --format FMT       table printed at the end: md (default), csv, latex, json, none\n"
        "  --no-progress      no progress line (default: shown when stderr is a terminal)\n"
        "  -v, --verbose      one line per finished case, and llama.cpp's own log\n"
        "  -h, --help         this help\n\n"
        "Ctrl-C stops after the current sample: completed cases stay in the database\n"
        "and the run is marked interrupted (exit status 130).\n");
}

int cmd_run(int argc, char **argv) {
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "limit", required_argument, NULL, 'l' },
        { "format", required_argument, NULL, 'f' },
        { "no-progress", no_argument, NULL, 'P' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db_path = DB_DEFAULT_DB, *format = "md";
    int limit = 0, progress = isatty(2), verbose = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db_path = optarg; break;
        case 'l': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 1000000) {
                fprintf(stderr, "decobench run: --limit: expected a positive integer, got '%s'\n", optarg);
                return 2;
            }
            limit = (int)v;
            break;
        }
        case 'f': format = optarg; break;
        case 'P': progress = 0; break;
        case 'v': verbose = 1; break;
        case 'h': run_usage(stdout); return 0;
        default:
            fprintf(stderr, "decobench run: unknown or incomplete option '%s'; see 'decobench run --help'\n", argv[optind - 1]);
            return 2;
        }
    }
    if (strcmp(format, "md") && strcmp(format, "csv") && strcmp(format, "latex") && strcmp(format, "json") && strcmp(format, "none")) {
        fprintf(stderr, "decobench run: --format: expected md, csv, latex, json or none, got '%s'\n", format);
        return 2;
    }
    if (argc - optind > 1) {
        fprintf(stderr, "decobench run: expected one suite, got %d arguments\n", argc - optind);
        return 2;
    }
    const char *suite_path = optind < argc ? argv[optind] : DB_DEFAULT_SUITE;

    db_llama_set_quiet(!verbose);
    char err[1024];
    db_suite *suite = NULL;
    if (db_suite_load(suite_path, &suite, err, sizeof err) != 0) {
        fprintf(stderr, "decobench run: %s\n", err);
        return 2;
    }

    db_str argv_text;
    db_str_init(&argv_text);
    db_str_append(&argv_text, "decobench");
    for (int i = 0; i < argc; i++) db_str_printf(&argv_text, " %s", argv[i]);

    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);

    db_run_options o = {
        .db_path = db_path, .argv_text = argv_text.s, .progress = progress, .verbose = verbose,
        .limit_prompts = limit, .interrupted = &interrupted,
    };
    db_run_summary sum;
    int rc = db_run_suite(suite, &o, &sum, err, sizeof err);
    sigaction(SIGINT, &old_sa, NULL);
    db_str_free(&argv_text);
    db_suite_free(suite);

    if (rc < 0) {
        fprintf(stderr, "decobench run: %s\n", err);
        return 2;
    }
    fprintf(stderr, "decobench run: run %lld %s: %d/%d cases, %d samples -> %s\n", (long long)sum.run_id,
            sum.status, sum.n_cases_done, sum.n_cases, sum.n_samples, db_path);
    if (strcmp(format, "none") != 0 && sum.n_cases_done > 0) {
        db_store *st = NULL;
        if (db_store_open_readonly(db_path, &st, err, sizeof err) == 0) {
            db_report_opts ro;
            memset(&ro, 0, sizeof ro);
            ro.run_id = sum.run_id;
            ro.format = format;
            ro.seed = 1;
            if (db_report_table(st, &ro, stdout, err, sizeof err) != 0)
                fprintf(stderr, "decobench run: report: %s\n", err);
            db_store_close(st);
        } else {
            fprintf(stderr, "decobench run: report: %s\n", err);
        }
    }
    if (rc == 1) return 130;
    return sum.n_cases_failed ? 1 : 0;
}
