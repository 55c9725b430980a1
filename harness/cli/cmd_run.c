/* cmd_run.c — `decobench run [SUITE] [--db FILE]`: load and validate a suite
 * (fetching the models and datasets it names by reference, unless
 * --offline), run it (runner.c), then print the run's table. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "harness/util/jsonlimits.h"
#include "harness/model/model.h"
#include "harness/run/runner.h"
#include "harness/run/shard.h"
#include "harness/run/store.h"
#include "harness/run/suite.h"
#include "harness/util/fetch.h"
#include "harness/util/util.h"
#include "reports/report.h"

static volatile int interrupted;   /* the signal that stops the run (SIGINT, SIGTERM, SIGHUP), 0 none */

static void on_signal(int sig) {
    if (interrupted) _exit(128 + interrupted);   /* second signal: leave now */
    interrupted = sig;
}

/* RFC 7386 JSON merge patch: objects merge recursively, null deletes,
 * anything else replaces. */
static void merge_patch(cJSON *target, const cJSON *patch) {
    for (const cJSON *p = patch->child; p; p = p->next) {
        if (cJSON_IsNull(p)) {
            cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
        } else if (cJSON_IsObject(p)) {
            cJSON *t = cJSON_GetObjectItemCaseSensitive(target, p->string);
            if (!cJSON_IsObject(t)) {
                cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
                t = cJSON_AddObjectToObject(target, p->string);
            }
            if (t) merge_patch(t, p);
        } else {
            cJSON *dup = cJSON_Duplicate(p, 1);
            if (dup && !cJSON_ReplaceItemInObjectCaseSensitive(target, p->string, dup)) cJSON_AddItemToObject(target, p->string, dup);
        }
    }
}

/* Paths given on the command line or in an override file are relative to
 * the current directory, while the suite resolves relative paths from its
 * own folder: make them absolute first (references stay as they are). */
static char *absolute(const char *path) {
    if (path[0] == '/' || db_suite_is_reference(path)) return db_strdup(path);
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) return db_strdup(path);
    return db_path_join(cwd, path);
}

static void absolutise_paths(cJSON *section) {
    for (cJSON *e = section ? section->child : NULL; e; e = e->next) {
        cJSON *pth = cJSON_GetObjectItemCaseSensitive(e, "path");
        if (cJSON_IsString(pth)) {
            char *a = absolute(pth->valuestring);
            if (a) cJSON_ReplaceItemInObjectCaseSensitive(e, "path", cJSON_CreateString(a));
            free(a);
        }
    }
}

static int load_with_overrides(const char *suite_path, const char *override_path, const char *const *models,
                               int n_models, const db_suite_load_opts *lo, db_suite **out, char *err, size_t errlen) {
    char *text = db_read_file(suite_path, NULL, err, errlen);
    if (!text) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return db_suite_load_with(suite_path, lo, out, err, errlen);   /* reports line and column */
    int rc = -1;
    if (override_path) {
        char *ot = db_read_file(override_path, NULL, err, errlen);
        if (!ot) goto out;
        cJSON *patch = cJSON_Parse(ot);
        int dline = 0, dcol = 0;
        if (!patch && db_json_too_deep(ot, strlen(ot), &dline, &dcol)) {
            db_errf(err, errlen, "%s:%d:%d: --override: JSON nested deeper than %d levels", override_path, dline, dcol,
                    db_json_nesting_limit());
            free(ot);
            goto out;
        }
        free(ot);
        if (!patch || !cJSON_IsObject(patch)) {
            db_errf(err, errlen, "%s: --override: %s", override_path, patch ? "expected a JSON object" : "malformed JSON");
            cJSON_Delete(patch);
            goto out;
        }
        absolutise_paths(cJSON_GetObjectItemCaseSensitive(patch, "models"));
        absolutise_paths(cJSON_GetObjectItemCaseSensitive(patch, "datasets"));
        merge_patch(root, patch);
        cJSON_Delete(patch);
    }
    for (int i = 0; i < n_models; i++) {
        const char *eq = strchr(models[i], '=');
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - models[i]), models[i]);
        cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "models");
        cJSON *m = cJSON_IsObject(ms) ? cJSON_GetObjectItemCaseSensitive(ms, name) : NULL;
        if (!cJSON_IsObject(m)) {
            db_errf(err, errlen, "--model %s: the suite %s has no model named '%s'", models[i], suite_path, name);
            goto out;
        }
        char *a = absolute(eq + 1);
        if (!a) goto out;
        cJSON_DeleteItemFromObjectCaseSensitive(m, "path");
        cJSON_DeleteItemFromObjectCaseSensitive(m, "sha256");   /* the hash named the suite's file */
        cJSON_DeleteItemFromObjectCaseSensitive(m, "source");   /* so did a stored reference */
        cJSON_DeleteItemFromObjectCaseSensitive(m, "revision");
        cJSON_AddStringToObject(m, "path", a);
        free(a);
    }
    char *merged = cJSON_PrintUnformatted(root);
    char *dir = db_dirname(suite_path);
    if (merged && dir) rc = db_suite_parse_with(merged, suite_path, dir, lo, out, err, errlen);
    else db_errf(err, errlen, "out of memory");
    free(merged);
    free(dir);
out:
    cJSON_Delete(root);
    return rc;
}

/* --resume: the suite is the run's stored configuration (paths already
 * resolved), read back as it was; references are resolved from the cache
 * only, and must still have the sha256 recorded; the runner checks that
 * its files did not change. */
static int load_resumed(const char *db_path, int64_t run_id, db_suite **out, int *limit, int *shard_index,
                        int *shard_count, char **shard_group, char *err, size_t errlen) {
    db_store *st = NULL;
    if (!db_file_exists(db_path)) return db_errf(err, errlen, "%s: --resume: no such results database", db_path);
    if (db_store_open(db_path, &st, err, errlen) != 0) return -1;
    db_run_resume rs;
    int rc = db_store_run_resume(st, run_id, false, &rs, err, errlen);
    db_store_close(st);
    if (rc != 0) return -1;
    char *dir = rs.suite_path ? db_dirname(rs.suite_path) : db_strdup(".");
    if (!dir) rc = db_errf(err, errlen, "out of memory");
    else rc = db_suite_parse(rs.config_json, rs.suite_path ? rs.suite_path : "<stored suite>", dir, out, err, errlen);
    *limit = rs.limit_prompts;
    *shard_index = rs.shard_index;   /* a shard resumes as the same shard */
    *shard_count = rs.shard_count;
    *shard_group = rs.shard_group;
    rs.shard_group = NULL;
    free(dir);
    db_run_resume_free(&rs);
    return rc;
}

static void run_usage(FILE *f) {
    fprintf(f,
        "usage: decobench run [SUITE] [options]\n"
        "       decobench run --resume ID [--db FILE] [--format FMT] [--no-progress] [-v]\n\n"
        "Runs every case of SUITE (default " DB_DEFAULT_SUITE ") and stores the results.\n\n"
        "  --db FILE          results database (default " DB_DEFAULT_DB "; created if needed)\n"
        "  --model NAME=PATH  use the GGUF file PATH for the suite's model NAME (repeatable)\n"
        "  --override FILE    JSON merge patch (RFC 7386) applied to the suite, e.g.\n"
        "                     {\"models\": {\"target\": {\"path\": \"/models/llama.gguf\"}}, \"max_new_tokens\": 256};\n"
        "                     relative paths in it are taken from the current directory\n"
        "  --limit N          use at most N prompts of each dataset\n"
        "  --offline          models and datasets named by reference (hf:ORG/REPO/PATH, URLs) come\n"
        "                     from the cache only (also HF_HUB_OFFLINE=1); without it, those not\n"
        "                     cached are downloaded before the run starts (docs/fetch.md)\n"
        "  --format FMT       table printed at the end: md (default), csv, latex, json, none\n"
        "  --no-progress      no progress line (default: shown when stderr is a terminal)\n"
        "  --events FORM      how step events are stored: compact (default; one blob per\n"
        "                     sample, about 7 bytes an event) or rows (one step_event row\n"
        "                     per event, for SQL; about 6 times larger).  Reports read both\n"
        "  -v, --verbose      one line per finished case, and llama.cpp's own log\n"
        "  --shard I/N        run only shard I (0-based) of N: a deterministic part of the\n"
        "                     suite's (case, prompt, repetition) units, balanced by expected\n"
        "                     cost; `decobench merge` of the N databases gives the whole run\n"
        "                     (docs/slurm.md)\n"
        "  --shard-group ID   what the shards of one launch share (default: $SLURM_ARRAY_JOB_ID)\n"
        "  --resume ID        continue run ID of the database (interrupted, or crashed: its\n"
        "                     process is gone): the same suite, configuration and limit as\n"
        "                     stored with it, only the samples it does not have yet; refused\n"
        "                     (exit 2) when the suite, a dataset or a model file changed;\n"
        "                     files named by reference come from the cache only.\n"
        "                     No SUITE, --model, --override or --limit with it\n"
        "  -h, --help         this help\n\n"
        "Every finished sample is committed at once, so a killed run keeps all of them.\n"
        "Ctrl-C, SIGTERM and SIGHUP stop after the current sample: the run is marked\n"
        "interrupted (exit status 128 + the signal: 130, 143, 129); a run whose\n"
        "process died is marked crashed by the next decobench that opens the database.\n");
}

int cmd_run(int argc, char **argv) {
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "model", required_argument, NULL, 'm' },
        { "override", required_argument, NULL, 'o' },
        { "limit", required_argument, NULL, 'l' },
        { "format", required_argument, NULL, 'f' },
        { "no-progress", no_argument, NULL, 'P' },
        { "verbose", no_argument, NULL, 'v' },
        { "resume", required_argument, NULL, 'R' },
        { "shard", required_argument, NULL, 'S' },
        { "shard-group", required_argument, NULL, 'G' },
        { "offline", no_argument, NULL, 'O' },
        { "events", required_argument, NULL, 'E' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db_path = DB_DEFAULT_DB, *format = "md";
    int64_t resume_id = 0;
    int limit = 0, progress = isatty(2), verbose = 0, offline = 0, events_rows = 0, c;
    int shard_index = 0, shard_count = 0;
    const char *shard_group_opt = NULL;
    char *shard_group = NULL;
    const char *models[32], *override_path = NULL;
    int n_models = 0;
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
        case 'm':
            if (!strchr(optarg, '=') || optarg[0] == '=' || n_models == 32) {
                fprintf(stderr, "decobench run: --model: expected NAME=PATH, got '%s'\n", optarg);
                return 2;
            }
            models[n_models++] = optarg;
            break;
        case 'o': override_path = optarg; break;
        case 'R': {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (*end || end == optarg || v < 1) {
                fprintf(stderr, "decobench run: --resume: expected a run id (a positive integer), got '%s'\n", optarg);
                return 2;
            }
            resume_id = v;
            break;
        }
        case 'S': {
            char serr[256];
            if (db_shard_parse(optarg, &shard_index, &shard_count, serr, sizeof serr) != 0) {
                fprintf(stderr, "decobench run: %s\n", serr);
                return 2;
            }
            break;
        }
        case 'G':
            for (const char *q = optarg; *q; q++)
                if ((unsigned char)*q < 0x20 || *q == 0x7f || q - optarg >= 100) {
                    fprintf(stderr, "decobench run: --shard-group: at most 100 printable characters\n");
                    return 2;
                }
            shard_group_opt = optarg;
            break;
        case 'E':
            if (strcmp(optarg, "compact") && strcmp(optarg, "rows")) {
                fprintf(stderr, "decobench run: --events: expected compact or rows, got '%s'\n", optarg);
                return 2;
            }
            events_rows = !strcmp(optarg, "rows");
            break;
        case 'P': progress = 0; break;
        case 'O': offline = 1; break;
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
    if (resume_id > 0 && (optind < argc || n_models || override_path || limit || shard_count || shard_group_opt)) {
        fprintf(stderr, "decobench run: --resume continues a run with its stored suite and options; "
                        "SUITE, --model, --override, --limit and --shard are not allowed with it\n");
        return 2;
    }
    if (shard_group_opt && !shard_count) {
        fprintf(stderr, "decobench run: --shard-group names the launch a shard belongs to; it needs --shard I/N\n");
        return 2;
    }
    const char *suite_path = optind < argc ? argv[optind] : DB_DEFAULT_SUITE;

    db_llama_set_quiet(!verbose);
    if (db_fetch_global_init() != 0) {
        fprintf(stderr, "decobench run: libcurl initialisation failed\n");
        return 2;
    }
    char err[1024];
    db_suite *suite = NULL;
    db_suite_load_opts lo;   /* references: fetched before anything is written */
    db_suite_load_opts_init(&lo);
    lo.fetch = true;
    lo.offline = offline ? 1 : -1;
    lo.progress = progress;
    int lrc = resume_id > 0 ? load_resumed(db_path, resume_id, &suite, &limit, &shard_index, &shard_count, &shard_group,
                                           err, sizeof err)
              : n_models || override_path
                  ? load_with_overrides(suite_path, override_path, models, n_models, &lo, &suite, err, sizeof err)
                  : db_suite_load_with(suite_path, &lo, &suite, err, sizeof err);
    if (lrc != 0) {
        fprintf(stderr, "decobench run: %s\n", err);
        return 2;
    }

    db_str argv_text;
    db_str_init(&argv_text);
    db_str_append(&argv_text, "decobench");
    for (int i = 0; i < argc; i++) db_str_printf(&argv_text, " %s", argv[i]);

    /* schedulers and CI stop jobs with SIGTERM, a closed terminal sends SIGHUP */
    static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
    struct sigaction sa, old_sa[3];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 3; i++) sigaction(sigs[i], &sa, &old_sa[i]);

    db_run_options o = {
        .db_path = db_path, .argv_text = argv_text.s, .progress = progress, .verbose = verbose,
        .limit_prompts = limit, .interrupted = &interrupted, .resume_run_id = resume_id,
        .shard_index = shard_index, .shard_count = shard_count, .events_rows = events_rows,
    };
    /* the shards of one launch share a group: given, or the Slurm array's job id */
    const char *env_group = getenv("SLURM_ARRAY_JOB_ID");
    o.shard_group = shard_group ? shard_group : shard_group_opt ? shard_group_opt : env_group ? env_group : "";
    db_run_summary sum;
    int rc = db_run_suite(suite, &o, &sum, err, sizeof err);
    for (int i = 0; i < 3; i++) sigaction(sigs[i], &old_sa[i], NULL);
    db_str_free(&argv_text);
    db_suite_free(suite);
    free(shard_group);

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
    if (rc == 1) return 128 + (interrupted ? interrupted : SIGINT);
    return sum.n_cases_failed ? 1 : 0;
}
