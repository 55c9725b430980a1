/* cmd_compare.c — `decobench compare BASE NEW`: per case and metric, the
 * change from run BASE to run NEW with its CI, a Mann–Whitney U test and a
 * verdict (reports/compare.h); exit status 1 when anything regressed, so a
 * nightly job can gate on it.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "harness/run/store.h"
#include "harness/run/store_read.h"
#include "harness/util/outfile.h"
#include "harness/util/util.h"
#include "reports/compare.h"
#include "reports/format.h"
#include "reports/noise.h"

static void usage(FILE *f) {
    fputs("usage: decobench compare BASE NEW [--db FILE] [--base-db FILE] [--new-db FILE]\n"
          "                         [--metric M]... [--min-effect X] [--alpha A] [--seed N]\n"
          "                         [--bootstrap B] [--format md|csv|junit] [--strict-quiet]\n"
          "                         [-o FILE] [--help]\n"
          "\n"
          "Compare two runs case by case (cases matched by label, dataset and model).  BASE and\n"
          "NEW are each a run id, 'latest', a results database file (its latest run) or FILE:ID.\n"
          "Run ids refer to --base-db / --new-db when given, else to --db.  Without BASE and NEW,\n"
          "--base-db and --new-db name the two databases and their latest runs are compared.\n"
          "\n"
          "Per metric: change = median(NEW)/median(BASE) - 1 with a bootstrap CI, the two-sided\n"
          "Mann-Whitney U p-value, and a verdict: regressed (p < alpha and worse by more than\n"
          "the minimum effect), improved (p < alpha and better by more than it), noisy (not\n"
          "significant, CI wider than twice the minimum effect) or unchanged.  #MAT is flagged on\n"
          "any change; greedy identity (share of NEW outputs equal to BASE's for the same\n"
          "prompt, repetition and turn) regresses on any drop for greedy cases; identical to ar\n"
          "(each run's own check of lossless greedy cases against its greedy ar) regresses when\n"
          "NEW has a prompt that differs from ar and BASE had fewer.\n"
          "\n"
          "  --db FILE          results database for run ids (default " DB_DEFAULT_DB ")\n"
          "  --base-db FILE     database of BASE\n"
          "  --new-db FILE      database of NEW\n"
          "  --metric M         tokens_per_s, latency_ms, ttft_ms, mat, greedy_identity,\n"
          "                     identical_to_ar (repeat or comma-separate; default: all six)\n"
          "  --min-effect X     minimum relative effect for speed metrics (default 0.02)\n"
          "  --alpha A          significance level; CIs are 1-A (default 0.05)\n"
          "  --seed N           bootstrap seed (default 1)\n"
          "  --bootstrap B      bootstrap resamples (default 2000)\n"
          "  --format FMT       md (default), csv or junit (JUnit XML for CI dashboards)\n"
          "  --strict-quiet     refuse (exit 3, nothing written) when BASE or NEW was measured\n"
          "                     under interference; without it such a run gets a warning on\n"
          "                     stderr and below the Markdown table (docs/metrics.md)\n"
          "  -o, --output F     write to F instead of stdout (- = stdout; a file is replaced\n"
          "                     atomically, a device or FIFO written through: man decobench)\n"
          "  -h, --help         show this help\n"
          "\n"
          "Exit status: 0 no regression, 1 a regression, 2 bad usage or input, 3 a run measured\n"
          "under interference with --strict-quiet.\n", f);
}

typedef struct run_ref {
    const char *path;    /* NULL: the default database of its side */
    char *owned;         /* path storage for FILE:ID */
    int64_t id;          /* 0 = latest */
} run_ref;

/* "7", "latest", "FILE", "FILE:7" */
static int parse_ref(const char *arg, run_ref *r, char *err, size_t errlen) {
    uint64_t v;
    memset(r, 0, sizeof *r);
    if (strcmp(arg, "latest") == 0) return 0;
    if (db_parse_u64(arg, &v) == 0) {
        if (v == 0 || v > INT64_MAX) return db_errf(err, errlen, "%s: expected a positive run id", arg);
        r->id = (int64_t)v;
        return 0;
    }
    if (db_file_exists(arg)) {
        r->path = arg;
        return 0;
    }
    const char *colon = strrchr(arg, ':');
    if (colon && colon > arg && db_parse_u64(colon + 1, &v) == 0 && v > 0 && v <= INT64_MAX) {
        r->owned = db_strndup(arg, (size_t)(colon - arg));
        if (!r->owned) return db_errf(err, errlen, "out of memory");
        if (!db_file_exists(r->owned)) {
            db_errf(err, errlen, "%s: no such results database", r->owned);
            free(r->owned);
            r->owned = NULL;
            return -1;
        }
        r->path = r->owned;
        r->id = (int64_t)v;
        return 0;
    }
    return db_errf(err, errlen, "%s: not a run id, 'latest' or an existing results database", arg);
}

int cmd_compare(int argc, char **argv) {
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "base-db", required_argument, NULL, 'B' },
        { "new-db", required_argument, NULL, 'N' },
        { "metric", required_argument, NULL, 'm' },
        { "min-effect", required_argument, NULL, 'e' },
        { "alpha", required_argument, NULL, 'a' },
        { "seed", required_argument, NULL, 's' },
        { "bootstrap", required_argument, NULL, 'b' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { "strict-quiet", no_argument, NULL, 'Q' },   /* S7 interference */
        { NULL, 0, NULL, 0 },
    };
    const char *db_path = DB_DEFAULT_DB, *base_db = NULL, *new_db = NULL, *out_path = NULL, *format = "md";
    const char *metrics[16];
    int n_metrics = 0;
    db_compare_opts o = { NULL, 0, DB_COMPARE_MIN_EFFECT, DB_COMPARE_ALPHA, DB_COMPARE_BOOTSTRAP, 1 };
    uint64_t v;
    double x;
    int c;
    bool strict_quiet = false;
    char *noise[2] = { NULL, NULL };   /* S7: reasons BASE / NEW were flagged */
    optind = 0;
    opterr = 0;
    /* no '+': options may follow BASE and NEW */
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db_path = optarg; break;
        case 'B': base_db = optarg; break;
        case 'N': new_db = optarg; break;
        case 'm': {
            /* comma-separated list */
            const char *p = optarg;
            while (*p) {
                size_t len = strcspn(p, ",");
                char name[64];
                snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), p);
                const char *cn = db_compare_metric(name, 0);
                if (!cn || len > 63) {
                    fprintf(stderr, "decobench compare: --metric: unknown metric '%s' (expected tokens_per_s, "
                                    "latency_ms, ttft_ms, mat, greedy_identity or identical_to_ar)\n", name);
                    return 2;
                }
                if (n_metrics == (int)(sizeof metrics / sizeof metrics[0])) {
                    fprintf(stderr, "decobench compare: --metric: too many metrics\n");
                    return 2;
                }
                metrics[n_metrics++] = cn;
                p += len;
                if (*p == ',') p++;
            }
            break;
        }
        case 'e':
            if (db_parse_double(optarg, &x) != 0 || x < 0 || x >= 1) {
                fprintf(stderr, "decobench compare: --min-effect: expected a number in [0, 1), got '%s'\n", optarg);
                return 2;
            }
            o.min_effect = x;
            break;
        case 'a':
            if (db_parse_double(optarg, &x) != 0 || x <= 0 || x >= 1) {
                fprintf(stderr, "decobench compare: --alpha: expected a number in (0, 1), got '%s'\n", optarg);
                return 2;
            }
            o.alpha = x;
            break;
        case 's':
            if (db_parse_u64(optarg, &v) != 0) {
                fprintf(stderr, "decobench compare: --seed: expected a non-negative integer, got '%s'\n", optarg);
                return 2;
            }
            o.seed = v;
            break;
        case 'b':
            if (db_parse_u64(optarg, &v) != 0 || v < 10 || v > 1000000) {
                fprintf(stderr, "decobench compare: --bootstrap: expected an integer 10..1000000, got '%s'\n",
                        optarg);
                return 2;
            }
            o.bootstrap = (int)v;
            break;
        case 'f':
            if (!db_compare_format_ok(optarg)) {
                fprintf(stderr, "decobench compare: --format: expected md, csv or junit, got '%s'\n", optarg);
                return 2;
            }
            format = optarg;
            break;
        case 'o': out_path = optarg; break;
        case 'Q': strict_quiet = true; break;
        case 'h': usage(stdout); return 0;
        default:   /* ':' (missing value) or '?' (unknown option) */
            return db_cli_bad_option("compare", c, argv);
        }
    }
    if (n_metrics > 0) {
        o.metrics = metrics;
        o.n_metrics = n_metrics;
    }
    int npos = argc - optind;
    char err[512];
    run_ref rb, rn;
    memset(&rb, 0, sizeof rb);
    memset(&rn, 0, sizeof rn);
    if (npos == 0) {
        if (!base_db || !new_db) {
            fprintf(stderr, "decobench compare: expected BASE and NEW (or --base-db and --new-db; see --help)\n");
            return 2;
        }
    } else if (npos != 2) {
        fprintf(stderr, "decobench compare: %s: expected exactly two runs, BASE and NEW (see --help)\n",
                argv[optind]);
        return 2;
    } else {
        if (parse_ref(argv[optind], &rb, err, sizeof err) != 0) {
            fprintf(stderr, "decobench compare: %s\n", err);
            return 2;
        }
        if (parse_ref(argv[optind + 1], &rn, err, sizeof err) != 0) {
            fprintf(stderr, "decobench compare: %s\n", err);
            free(rb.owned);
            return 2;
        }
    }
    const char *pb = rb.path ? rb.path : base_db ? base_db : db_path;
    const char *pn = rn.path ? rn.path : new_db ? new_db : db_path;
    int status = 2;
    db_store *sb = NULL, *sn = NULL;
    char *buf = NULL;
    size_t len = 0;
    db_compare_result res;
    memset(&res, 0, sizeof res);
    if (!db_file_exists(pb) || !db_file_exists(pn)) {
        fprintf(stderr, "decobench compare: %s: no such results database\n", db_file_exists(pb) ? pn : pb);
        goto out;
    }
    if (db_store_open_readonly(pb, &sb, err, sizeof err) != 0 ||
        db_store_open_readonly(pn, &sn, err, sizeof err) != 0) {
        fprintf(stderr, "decobench compare: %s\n", err);
        goto out;
    }
    /* incomplete runs (running, interrupted, crashed) are flagged; "latest" skips them */
    char note[400];
    if (db_store_resolve_run(sb, rb.id, &rb.id, note, sizeof note, err, sizeof err) == 0 && note[0])
        fprintf(stderr, "decobench compare: note: base %s: %s\n", pb, note);
    if (db_store_resolve_run(sn, rn.id, &rn.id, note, sizeof note, err, sizeof err) == 0 && note[0])
        fprintf(stderr, "decobench compare: note: new %s: %s\n", pn, note);
    if (db_compare_runs(sb, rb.id, sn, rn.id, &o, &res, err, sizeof err) != 0) {
        fprintf(stderr, "decobench compare: %s\n", err);
        goto out;
    }
    {   /* S7 interference: refuse (--strict-quiet) or warn when a side was flagged */
        const int64_t ids[2] = { res.base_run, res.new_run };
        db_store *sts[2] = { sb, sn };
        for (int k = 0; k < 2; k++) {
            if (db_noise_run_reasons(sts[k], ids[k], &noise[k], err, sizeof err) != 0) {
                fprintf(stderr, "decobench compare: %s\n", err);
                goto out;
            }
            if (!noise[k]) continue;
            if (strict_quiet) {
                fprintf(stderr, "decobench compare: %s run %" PRId64 " was measured under interference (%s); "
                        "--strict-quiet refuses it\n", k ? "NEW" : "BASE", ids[k], noise[k]);
                status = 3;
                goto out;
            }
            fprintf(stderr, "decobench compare: warning: %s run %" PRId64 " was measured under interference: %s\n",
                    k ? "NEW" : "BASE", ids[k], noise[k]);
        }
    }
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) {
        fprintf(stderr, "decobench compare: out of memory\n");
        status = 1;
        goto out;
    }
    int wrc = db_compare_write(&res, format, mem);
    for (int k = 0; k < 2 && wrc == 0 && !strcmp(format, "md"); k++)   /* S7 interference */
        if (noise[k]) {
            fprintf(mem, "\nWarning: %s run %" PRId64 " was measured under interference: ", k ? "NEW" : "BASE",
                    k ? res.new_run : res.base_run);
            db_md_text(mem, noise[k]);
            fputc('\n', mem);
        }
    fclose(mem);
    if (wrc != 0) {
        fprintf(stderr, "decobench compare: cannot format the comparison\n");
        status = 1;
        goto out;
    }
    if (db_deliver_output(out_path, buf, len, err, sizeof err) != 0) {
        fprintf(stderr, "decobench compare: %s\n", err);
        status = 1;
        goto out;
    }
    status = res.n_verdict[DB_VERDICT_REGRESSED] > 0 ? 1 : 0;
out:
    free(buf);
    free(noise[0]);
    free(noise[1]);
    db_compare_result_free(&res);
    db_store_close(sb);
    db_store_close(sn);
    free(rb.owned);
    free(rn.owned);
    return status;
}
