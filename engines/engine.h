/* engine.h — the decoding-engine interface and registry.
 *
 * One decoding algorithm is one const struct db_engine: a name, a parameter
 * table (type, default, range, help), what it accepts (constraint kinds, a
 * draft model), what it promises (lossless greedy output), and a generate
 * callback.  The harness reads these fields instead of testing engine
 * names.  All engines are listed in db_engine_registry[] (engines/registry.c,
 * whose opening comment is the checklist for adding one).
 *
 * Engines never compute metrics.  They emit step events through
 * db_emit_*() (model forwards, tokens drafted/accepted, tokens committed);
 * the harness (harness/run/metrics.c) turns the event stream into metrics, so a
 * metric means the same thing for every engine.
 */
#ifndef DECOBENCH_ENGINE_H
#define DECOBENCH_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/model/model.h"
#include "harness/util/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- parameters ------------------------------------------------------ */
typedef enum db_param_type {
    DB_PARAM_INT,
    DB_PARAM_FLOAT,
    DB_PARAM_BOOL,
    DB_PARAM_ENUM,    /* one of `choices` ("greedy|sample") */
} db_param_type;

typedef struct db_param_def {
    const char *name;
    db_param_type type;
    const char *def;      /* default, as text ("0.8", "true", "greedy") */
    double min, max;      /* inclusive range for INT/FLOAT */
    const char *choices;  /* ENUM: '|'-separated */
    const char *help;     /* one line */
} db_param_def;

#define DB_MAX_PARAMS 24

/* Resolved parameter values, parallel to an engine's parameter table. */
typedef struct db_params {
    int n;
    const db_param_def *defs;
    double num[DB_MAX_PARAMS];     /* INT, FLOAT, BOOL (0/1), ENUM (choice index) */
} db_params;

/* Fill p with the defaults of table defs[0..n). */
void   db_params_defaults(db_params *p, const db_param_def *defs, int n);
/* Set one value from text; checks type, range and choices.  Returns 0, or -1
 * with a message "parameter 'k': expected an integer in [1, 16], got '0'". */
int    db_params_set(db_params *p, const char *name, const char *value, char *err, size_t errlen);
double db_params_num(const db_params *p, const char *name);   /* aborts on a bad name (programming error) */
int    db_params_int(const db_params *p, const char *name);
bool   db_params_bool(const db_params *p, const char *name);
/* ENUM: the chosen text, written to buf */
const char *db_params_choice(const db_params *p, const char *name, char *buf, size_t len);
/* Canonical JSON object of all values, e.g. {"k":4,"temp":0.8,"mode":"greedy"} (malloc'd). */
char  *db_params_to_json(const db_params *p);
const db_param_def *db_params_find(const db_param_def *defs, int n, const char *name);

/* ---- events ---------------------------------------------------------- */
typedef enum db_event_kind {
    DB_EV_FORWARD = 1,   /* one model evaluation: role, n_tokens in the batch, timing */
    DB_EV_DRAFT   = 2,   /* a draft proposal of n_tokens tokens (k) at this step */
    DB_EV_VERIFY  = 3,   /* verification: n_tokens drafted, n_accepted of them accepted;
                            accepted_mask bit i set when draft position i was accepted */
    DB_EV_COMMIT  = 4,   /* n_tokens appended to the output after one target forward */
    DB_EV_SAMPLE  = 5,   /* time spent choosing tokens outside forwards (sampling) */
    DB_EV_CONSTRAINT = 6,/* one constraint application at a step (a vocabulary mask or a
                            single-token check): n_tokens = tokens evaluated against the
                            constraint, n_accepted = of them allowed; its time is mask time */
    DB_EV_COMPILE = 7,   /* constraint compilation (grammar/schema/regex -> automaton);
                            counted in TTFT since it happens inside generate() */
    DB_EV_ARRIVAL = 8,   /* serving engines only (harness/run/serve.c): one streamed chunk
                            of n_tokens tokens arrived from the server at t_end (t_start ==
                            t_end), relative to the request's send; inter-token latencies
                            are the gaps between successive ARRIVAL events */
} db_event_kind;

typedef enum db_model_role {
    DB_ROLE_TARGET = 0,
    DB_ROLE_DRAFT  = 1,
    DB_ROLE_NONE   = 2,
} db_model_role;

typedef struct db_event {
    int32_t kind;        /* db_event_kind */
    int32_t role;        /* db_model_role */
    int32_t step;        /* engine step index (0 = prefill) */
    int32_t n_tokens;
    int32_t n_accepted;
    uint32_t accepted_mask;
    int64_t t_start_ns;  /* relative to the sample's start */
    int64_t t_end_ns;
} db_event;

/* Event sink the harness hands an engine; append-only. */
typedef struct db_event_log {
    db_event *ev;
    int n, cap;
    int64_t t0_ns;       /* monotonic time of the sample's start */
    bool oom;
} db_event_log;

int64_t db_now_ns(void);     /* CLOCK_MONOTONIC in ns */
void db_event_log_init(db_event_log *log);
void db_event_log_free(db_event_log *log);
void db_event_log_start(db_event_log *log);   /* clears, sets t0 */
void db_emit(db_event_log *log, const db_event *e);

/* Helpers engines use.  t0/t1 are absolute db_now_ns() values. */
void db_emit_forward(db_event_log *log, db_model_role role, int step, int n_tokens, int64_t t0, int64_t t1);
void db_emit_draft(db_event_log *log, int step, int k, int64_t t0, int64_t t1);
void db_emit_verify(db_event_log *log, int step, int drafted, int accepted, uint32_t accepted_mask);
void db_emit_commit(db_event_log *log, int step, int n_tokens);
void db_emit_sample(db_event_log *log, int step, int64_t t0, int64_t t1);
void db_emit_constraint(db_event_log *log, int step, int n_evaluated, int n_allowed, int64_t t0, int64_t t1);
void db_emit_compile(db_event_log *log, int64_t t0, int64_t t1);

/* Timed model forward: decode + FORWARD event; returns db_model_decode's value. */
int db_forward(db_model *m, const db_batch *b, db_event_log *log, db_model_role role, int step);

/* ---- generation ------------------------------------------------------ */
typedef struct db_gen_request {
    db_model *target;
    db_model *draft;            /* NULL unless the engine declares needs_draft */
    const db_token *prompt;     /* tokenized prompt, BOS included when the model adds one */
    int n_prompt;
    int max_new_tokens;
    bool stop_at_eog;           /* stop at an end-of-generation token (not emitted) */
    uint64_t seed;              /* counter-based RNG key for this sample */
    const db_params *params;
    /* The prompt's constraint: its dataset item's "constraint" object as JSON
     * text (keys "grammar", "json_schema", "regex", "keywords"; see
     * docs/suite-format.md), or NULL.  Engines take the keys they implement. */
    const char *constraint_json;
    /* The prompt's reference output (dataset "reference"), or NULL; search
     * engines report oracle scores against it (e.g. lattice_oracle_rouge2). */
    const char *reference;
    db_event_log *events;
    volatile int *cancel;       /* non-zero: stop as soon as possible, return 1 */
} db_gen_request;

#define DB_MAX_OUTPUT_STATS 16
typedef struct db_gen_output {
    db_token *tokens;   /* new tokens only (malloc'd, caller frees) */
    int n_tokens, cap;
    char stop_reason[16]; /* "length", "eog", "cancel", "error", "dead_end" (no token allowed) */
    /* Outcomes only the engine knows (not timings: those come from events),
     * e.g. "lattice_paths", "importance_log_weight", "search_score"; stored
     * per sample in the sample_metric table.  Names: static strings. */
    const char *stat_name[DB_MAX_OUTPUT_STATS];
    double stat_value[DB_MAX_OUTPUT_STATS];
    int n_stats;
} db_gen_output;

int  db_output_push(db_gen_output *o, db_token t);
/* Record (or overwrite) one named outcome; -1 when the table is full. */
int  db_output_stat(db_gen_output *o, const char *name, double value);
void db_output_free(db_gen_output *o);

/* ---- constraints -------------------------------------------------------
 * The kinds of constraint a dataset item may carry: the keys of its
 * "constraint" object (docs/suite-format.md).  An engine declares the kinds
 * it applies while decoding in db_engine.constraints; every kind present is
 * checked after generation by the compliance check (constraint/quality.c)
 * whatever the engine. */
enum db_constraint_kind {
    DB_CONSTRAINT_GRAMMAR     = 1u << 0,   /* "grammar": GBNF text */
    DB_CONSTRAINT_JSON_SCHEMA = 1u << 1,   /* "json_schema": a JSON Schema object */
    DB_CONSTRAINT_REGEX       = 1u << 2,   /* "regex": the whole output matches it */
    DB_CONSTRAINT_KEYWORDS    = 1u << 3,   /* "keywords": phrases the output contains */
};
#define DB_CONSTRAINT_N_KINDS 4
/* The key of one kind ("grammar", "json_schema", "regex", "keywords"), or
 * NULL for anything but a single DB_CONSTRAINT_* bit. */
const char *db_constraint_kind_key(unsigned kind);
/* The keys of the kinds in `kinds`, in bit order, joined by sep (e.g.
 * "grammar|json_schema"), into buf; "" for none.  Returns buf. */
const char *db_constraint_kinds_text(unsigned kinds, const char *sep, char *buf, size_t len);

/* ---- the engine descriptor ---------------------------------------------
 * One decoding algorithm.  Adding one: see the checklist at the top of
 * engines/registry.c. */
typedef struct db_engine {
    /* The name suites give in "engine" and `decobench list` shows: lower
     * case, digits and '-' ("spec-tree"); unique in the registry. */
    const char *name;
    /* One line for `decobench list`: what the algorithm is, its paper's
     * idea in a phrase. */
    const char *summary;
    /* The parameter table (name, type, default, range, help) and its
     * length (at most DB_MAX_PARAMS).  The sampling rows mode/temp/top_k/
     * top_p come from engines/sampling_params.h. */
    const db_param_def *params;
    int n_params;
    /* The engine reads req->draft: a suite entry must name a "draft" model;
     * without it, naming one is an error. */
    bool needs_draft;
    /* DB_CONSTRAINT_* bits: the constraint kinds the engine applies while
     * decoding; 0 for an unconstrained engine.  The runner's preflight
     * (harness/run/preflight.c) reads it: with constraint_required, every
     * prompt of a dataset the engine runs on must carry one of these kinds,
     * else the suite is refused before anything runs; `decobench list
     * engines` shows the kinds. */
    unsigned constraints;
    bool constraint_required;
    /* Optional, for engines with constraints: the engine's own check of a
     * prompt's constraint before the run, beyond what every constraint key
     * must satisfy (it compiles: preflight checks that for all engines),
     * e.g. that the regex's automaton matches some text, or that keywords
     * tokenize on the target model.  constraint_json is the item's
     * "constraint" object as JSON text (never NULL).  Returns 0, or -1
     * with a one-line reason in err; the caller prefixes where. */
    int (*check_constraint)(const char *constraint_json, db_model *target, char *err, size_t errlen);
    /* Greedy identity, checked after every run (harness/run/identity.c):
     * lossless_greedy: with "mode" = "greedy" the output equals the greedy
     * baseline's token for token on the same target model (lossless
     * speculative engines: the draft changes speed, never the text);
     * greedy_baseline: this engine, greedy and with every parameter other
     * than the sampling rows (sampling_params.h) at its default, is that
     * baseline (`ar`; it is also a suite's default "baseline" entry).  An
     * engine with either flag has a "mode" parameter. */
    bool lossless_greedy;
    bool greedy_baseline;
    /* Optional: sequence ids the engine uses in the target / draft KV cache
     * (tree drafts, lookahead); NULL means 1. */
    int (*n_seq_max)(const db_params *p);
    /* Optional: the engine builds its own draft from the target (self-spec,
     * through the model layer's harness/model/model_derive.h): write its path to
     * draft_path (created once, then reused).  Returns 0 or -1 + err. */
    int (*derive_draft)(const db_params *p, const char *target_path, char *draft_path, size_t len,
                        char *err, size_t errlen);
    /* Optional cross-parameter checks after values are set (types and
     * ranges are checked from the table); sampling engines call
     * db_sampling_params_check() here.  Returns 0, or -1 with a message
     * "parameter 'NAME': ..." in err. */
    int (*validate)(const db_params *p, char *err, size_t errlen);
    /* The decoding happens in an inference server, not through model.h
     * (engines/serve.c): generate is NULL; the runner sends the requests
     * (harness/run/serve.c) to the server a suite entry names ("server").
     * Its target model, when the server names one, is a tokenizer only. */
    bool serving;
    /* Generate up to req->max_new_tokens after the prompt (NULL only for a
     * serving engine).  The KV caches of
     * the models are empty on entry.  Returns 0, 1 when cancelled, or -1 with
     * a one-line reason in err. */
    int (*generate)(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen);
} db_engine;

extern const db_engine *const db_engine_registry[];
extern const int db_engine_count;
const db_engine *db_engine_find(const char *name);

#ifdef __cplusplus
}
#endif
#endif
