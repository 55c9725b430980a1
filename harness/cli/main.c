/* main.c — the decobench driver: one dispatch table of subcommands
 * (cmd_<verb> in harness/cli/cmd_*.c), global --help and --version. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "harness/model/model.h"
#include "harness/util/version.h"

/* LeakSanitizer (builds with --enable-sanitizers): ggml's RPC backend keeps
 * process-lifetime objects (its buffer types, events, the servers' names)
 * that it never frees; they are not decobench's leaks.  Without the
 * sanitizer this function is never called. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:ggml_backend_rpc_buffer_type\n"
           "leak:rpc_dispatcher::event_new\n"
           "leak:ggml_backend_rpc_add_server\n";
}

typedef struct command {
    const char *verb;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    { "run",    cmd_run,    "run a benchmark suite and store the results (default: " DB_DEFAULT_SUITE ")" },
    { "report", cmd_report, "print a paper-style table of a run (md, csv, latex, json, html)" },
    { "list",   cmd_list,   "list engines with their parameters, suites and models" },
    { "compare", cmd_compare, "compare two runs per case and metric; exit 1 on a regression (md, csv, junit)" },
    { "history", cmd_history, "a metric's per-run series with change points marked" },
    { "merge",  cmd_merge,  "merge results databases without duplicates" },
    { "prune",  cmd_prune,  "drop old runs' step events, keeping their summaries (report, history); VACUUM" },
    { "probe",  cmd_probe,  "measure memory bandwidth and peak FP32 rate; store them with the machine" },
    { "json2gbnf", cmd_json2gbnf, "convert a JSON Schema into a llama.cpp GBNF grammar (or say what is unsupported)" },
    { "export-lattice", cmd_export_lattice, "run the lattice search on one prompt and write Graphviz DOT" },
    { "fetch",  cmd_fetch,  "download Hub files (hf:ORG/REPO/PATH) and URLs into the cache, verified; --list: the catalogue" },
};

static void usage(FILE *f) {
    fprintf(f, "usage: decobench [--version] [--help] <command> [<args>]\n\n"
               "decobench benchmarks LLM decoding algorithms on llama.cpp and an analytic oracle backend.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i].verb, commands[i].summary);
    fprintf(f, "\n'decobench <command> --help' describes a command; 'man decobench' has everything.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
        if (strcmp(verb, "help") == 0 && argc > 2) {
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(commands[i].verb, argv[2]) == 0) {
                    char *args[] = { argv[2], "--help", NULL };
                    return commands[i].fn(2, args);
                }
        }
        usage(stdout);
        return 0;
    }
    if (strcmp(verb, "--version") == 0) {
        printf("decobench %s (revision %s, llama.cpp %s)\n", PACKAGE_VERSION, DB_REVISION, db_llama_commit());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].verb, verb) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "decobench: '%s' is not a command; see 'decobench --help'\n", verb);
    return 2;
}
