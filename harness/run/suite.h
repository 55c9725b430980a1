/* suite.h — benchmark suite files (suites/NAME.json) and their expansion into
 * cases.
 *
 * A suite names models, datasets (JSONL prompt files), engines with parameter
 * grids, and run settings.  db_suite_load parses and validates it (unknown
 * keys and wrong types are errors naming the JSON path, e.g.
 * "suites/x.json: $.engines[1].grid.k: expected an array of numbers");
 * db_suite_expand turns it into the ordered list of cases the runner
 * executes (engine config × model × dataset).  The full format is in
 * docs/suite-format.md.
 */
#ifndef DECOBENCH_SUITE_H
#define DECOBENCH_SUITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engines/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_suite_model {
    char *name;          /* key used by engines ("target", "draft", ...) */
    char *backend;       /* "llama" (default) or "exact" */
    char *path;          /* resolved: relative paths are taken from the suite's directory,
                            then from the current directory; for a reference, the cached file */
    char *sha256;        /* expected, lowercase hex; NULL = not checked; for a reference, the
                            sha256 of the cached file (checked against the one given) */
    char *source;        /* the reference the file came from (hf:... or a URL); NULL = a local file */
    char *revision;      /* with source: the revision fetched (hf: the Hub's commit); "" for a URL */
    char *exact_spec;    /* for backend "exact" */
    int n_gpu_layers;    /* default 0 */
    int n_ctx;           /* 0 = derive from prompts + max_new_tokens */
    char *rpc;           /* "host:port,...": its layers on ggml RPC servers (llama.cpp --rpc); NULL */
} db_suite_model;

typedef struct db_prompt {
    char *id;            /* "id" / "question_id" field, else the line number */
    char *category;      /* "category" field, else the dataset's category */
    char *text;          /* "prompt" / "text" / first of "turns" */
    char **turns;        /* every user turn ("turns"), turns[0] == text; n_turns >= 1 */
    int n_turns;
    char *reference;     /* optional "reference" field (quality metrics) */
    char *constraint_json; /* optional "constraint" object, as compact JSON text */
    char *stop_json;     /* optional "stop": stop strings, as a compact JSON array (serving
                            requests send it; the in-process engines do not apply it) */
} db_prompt;

typedef struct db_suite_dataset {
    char *name;
    char *path;          /* JSONL file, resolved like model paths (a reference: the cached file) */
    char *sha256;        /* as for models: expected (NULL = not checked), or a reference's */
    char *source;        /* as for models: the reference, NULL for a local file */
    char *revision;
    char *category;      /* default category for its prompts */
    int limit;           /* use the first `limit` prompts; 0 = all */
    bool chat;           /* format with the model's chat template; run every turn (multi-turn) */
    db_prompt *prompts;  /* loaded by db_suite_load */
    int n_prompts;
} db_suite_dataset;

/* An inference server a serving benchmark sends requests to (engine
 * "serve", engines/serve.c; docs/serving.md): one decobench attaches to
 * (url) or one it starts (command) on a free port of 127.0.0.1. */
typedef struct db_suite_server {
    char *name;
    char *api;           /* "llama.cpp" (native /completion, /health) or "openai" */
    char *url;           /* attach: base URL without a trailing '/'; NULL when started */
    char **command;      /* start: argv, with placeholders {port}, {host}, {model:NAME},
                            {llama_bin} (docs/serving.md); NULL-terminated; NULL when attached */
    int n_command;
    char **env;          /* extra "NAME=VALUE" for a started server; NULL-terminated */
    int n_env;
    int model;           /* index into models of the model it serves (tokenizer, identity); -1 */
    char *served_model;  /* the "model" field of OpenAI requests; NULL: the model's name */
    char *health;        /* readiness path, default "/health" */
    double ready_timeout_s;   /* default 300 */
    char *api_key_env;   /* name of the environment variable holding a bearer token; NULL */
} db_suite_server;

typedef struct db_grid_axis {
    char *param;
    char **values;       /* textual values, validated against the engine's table */
    int n_values;
} db_grid_axis;

typedef struct db_suite_engine {
    char *engine;        /* registry name */
    char *label;         /* row label in reports; default: engine name */
    const db_engine *def;
    char *target;        /* model name; default "target" or the only model */
    char *draft;         /* model name when def->needs_draft */
    char **fixed_names, **fixed_values;  /* "params": {...} applied to every grid point */
    int n_fixed;
    db_grid_axis *axes;  /* "grid": {"k": [2,4,8]} */
    int n_axes;
    char *server;        /* serving engines: the key of $.servers it sends requests to */
    int server_idx;      /* index into the suite's servers; -1 */
    char **datasets;     /* "datasets": names this entry runs on, in that order; */
    int n_datasets;      /* 0 = every dataset of the suite, in suite order */
} db_suite_engine;

typedef struct db_suite {
    char *path;          /* the file it came from */
    char *name;
    char *description;
    char *json;          /* the resolved configuration, canonical JSON (stored verbatim per run) */
    db_suite_model *models;     int n_models;
    db_suite_dataset *datasets; int n_datasets;
    db_suite_engine *engines;   int n_engines;
    db_suite_server *servers;   int n_servers;
    /* serving SLOs for goodput ("slo": {"ttft_ms", "tpot_ms", "e2e_ms"}), NaN = none */
    double slo_ttft_ms, slo_tpot_ms, slo_e2e_ms;
    char *baseline;      /* label of the baseline engine config; default: first "ar" */
    int max_new_tokens;  /* default 64 */
    int repetitions;     /* default 1; measured runs per prompt */
    int warmup;          /* default 1; unrecorded runs before each case */
    uint64_t *seeds;     /* seed of repetition r = seeds[r % n_seeds]; default {1234} */
    int n_seeds;
    int threads;         /* 0 = all physical cores */
    char *pin;           /* "none" (default), "cores" (one thread per physical core), "compact" */
    char **papi_events;  /* default: PAPI_TOT_INS, PAPI_TOT_CYC, perf::TASK-CLOCK,
                            perf::PAGE-FAULTS, perf::CONTEXT-SWITCHES */
    int n_papi_events;
    bool stop_at_eog;    /* default true */
    int scorer;          /* index into models of the "scorer" (per-sample perplexity
                            of each output given its prompt), -1 = none */
} db_suite;

/* One point of the matrix. */
typedef struct db_case {
    int index;                   /* 0-based position in run order */
    const db_suite_engine *se;
    db_params params;            /* resolved values */
    char *params_json;           /* canonical JSON of params (malloc'd) */
    char *label;                 /* se->label + non-default grid values, e.g. "spec k=4" */
    int target_model;            /* index into suite->models; -1 only for a serving case
                                    whose server names no model */
    int draft_model;             /* -1 when none */
    int dataset;                 /* index into suite->datasets */
} db_case;

/* References.  A model's or dataset's "path" may name a file to download
 * instead of a local one: hf:[datasets/|spaces/]ORG/REPO/PATH[@REVISION]
 * or an http(s):// URL (harness/util/fetch.h, docs/fetch.md).  Loading
 * checks every reference's form with the rest of the suite, and only once
 * the whole suite (engines, grids, baseline) is valid resolves them to
 * files in decobench's cache:
 *  - fetch false (the default: db_suite_load, db_suite_parse, tests,
 *    --resume): from the cache only, never the network; a missing file is
 *    an error that names `decobench fetch REF`;
 *  - fetch true (`decobench run`): a missing file is downloaded (verified
 *    against the entry's "sha256" when it has one), unless offline mode is
 *    on (offline 1, or -1 and $HF_HUB_OFFLINE set): then it is an error
 *    saying so.
 * A cached file is hashed again and must still have the sha256 fetch
 * recorded.  The canonical configuration (db_suite.json) of a referenced
 * entry has "path" (the cached file), "source" (the reference), "revision"
 * and "sha256"; parsing that form again ("source" given) resolves
 * "source" again, ignores the recorded "path" and checks "revision" and
 * "sha256", so a stored configuration reloads as exactly what it was. */
typedef struct db_suite_load_opts {
    bool fetch;             /* download references the cache lacks */
    int offline;            /* with fetch: 1 cache only, 0 may download, -1 $HF_HUB_OFFLINE decides */
    bool progress;          /* a download progress bar on stderr */
    const char *cache_dir;  /* NULL: db_cache_dir() (harness/util/outfile.h) */
} db_suite_load_opts;

/* Defaults: the cache only, no progress bar. */
void db_suite_load_opts_init(db_suite_load_opts *o);

/* Whether a "path" is a reference: it begins with "hf:", "http://" or
 * "https://" (a local file of such a name is written "./hf:..."). */
bool db_suite_is_reference(const char *path);

/* Parse, validate and load prompt files.  Returns 0, or -1 with one line in err.
 * opts NULL: db_suite_load_opts_init's defaults. */
int  db_suite_load(const char *path, db_suite **out, char *err, size_t errlen);
int  db_suite_load_with(const char *path, const db_suite_load_opts *opts, db_suite **out, char *err,
                        size_t errlen);
/* Same, from text (tests); base_dir resolves relative paths. */
int  db_suite_parse(const char *json_text, const char *origin, const char *base_dir,
                    db_suite **out, char *err, size_t errlen);
int  db_suite_parse_with(const char *json_text, const char *origin, const char *base_dir,
                         const db_suite_load_opts *opts, db_suite **out, char *err, size_t errlen);
void db_suite_free(db_suite *s);

int  db_suite_expand(const db_suite *s, db_case **cases, int *n_cases, char *err, size_t errlen);
void db_cases_free(db_case *cases, int n);

/* Load a JSONL prompt file (also used by tools).  Returns 0 or -1 + err. */
int  db_prompts_load(const char *path, const char *default_category, int limit,
                     db_prompt **out, int *n_out, char *err, size_t errlen);
void db_prompts_free(db_prompt *p, int n);

/* The text generation starts from for turn `turn` of prompt pr: the prompt
 * itself, or for a chat dataset the conversation so far (user turns
 * 0..turn, answers[t] as the assistant's earlier answers; answers NULL:
 * empty answers, as the pre-flight check sizes a prompt) in model m's chat
 * template with the assistant's turn opened.  Returns a malloc'd string, or
 * NULL: out of memory (*no_template false) or m has no chat template
 * (*no_template true; db_model_last_error(m) says why). */
char *db_turn_text(db_model *m, const db_suite_dataset *ds, const db_prompt *pr, int turn,
                   const char *const *answers, bool *no_template);

#ifdef __cplusplus
}
#endif
#endif
