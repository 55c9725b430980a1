/* test_params.c — engine parameter tables: defaults, typed parsing, range
 * and choice errors, canonical JSON, the engine registry, the descriptors'
 * constraint kinds and lossless flags, and the shared sampling rows. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "engines/engine.h"
#include "engines/sampling_params.h"

static const db_param_def defs[] = {
    { "k", DB_PARAM_INT, "4", 1, 16, NULL, "draft length" },
    { "temp", DB_PARAM_FLOAT, "0.8", 0, 10, NULL, "temperature" },
    { "tree", DB_PARAM_BOOL, "false", 0, 0, NULL, "tree" },
    { "mode", DB_PARAM_ENUM, "greedy", 0, 0, "greedy|sample", "mode" },
};

static void defaults_and_set(void) {
    db_params p;
    db_params_defaults(&p, defs, 4);
    CHECK_INT_EQ(db_params_int(&p, "k"), 4);
    CHECK_NEAR(db_params_num(&p, "temp"), 0.8, 1e-12);
    CHECK(!db_params_bool(&p, "tree"));
    char buf[32], err[256];
    CHECK_STR_EQ(db_params_choice(&p, "mode", buf, sizeof buf), "greedy");
    CHECK_INT_EQ(db_params_set(&p, "k", "8", err, sizeof err), 0);
    CHECK_INT_EQ(db_params_set(&p, "mode", "sample", err, sizeof err), 0);
    CHECK_INT_EQ(db_params_set(&p, "tree", "true", err, sizeof err), 0);
    CHECK_INT_EQ(db_params_int(&p, "k"), 8);
    CHECK_STR_EQ(db_params_choice(&p, "mode", buf, sizeof buf), "sample");
    char *json = db_params_to_json(&p);
    CHECK_STR_EQ(json, "{\"k\":8,\"temp\":0.80000000000000004,\"tree\":true,\"mode\":\"sample\"}");
    free(json);
}

static void errors_name_parameter_and_range(void) {
    db_params p;
    db_params_defaults(&p, defs, 4);
    char err[256];
    CHECK_INT_EQ(db_params_set(&p, "k", "0", err, sizeof err), -1);
    CHECK_STR_EQ(err, "parameter 'k': expected an integer in [1, 16], got '0'");
    CHECK_INT_EQ(db_params_set(&p, "k", "2.5", err, sizeof err), -1);
    CHECK_CONTAINS(err, "expected an integer");
    CHECK_INT_EQ(db_params_set(&p, "temp", "hot", err, sizeof err), -1);
    CHECK_CONTAINS(err, "parameter 'temp': expected a number in [0, 10], got 'hot'");
    CHECK_INT_EQ(db_params_set(&p, "mode", "beam", err, sizeof err), -1);
    CHECK_CONTAINS(err, "expected one of greedy|sample");
    CHECK_INT_EQ(db_params_set(&p, "tree", "maybe", err, sizeof err), -1);
    CHECK_CONTAINS(err, "expected true or false");
    CHECK_INT_EQ(db_params_set(&p, "kk", "1", err, sizeof err), -1);
    CHECK_STR_EQ(err, "unknown parameter 'kk' (known: k, temp, tree, mode)");
    /* failed sets leave values untouched */
    CHECK_INT_EQ(db_params_int(&p, "k"), 4);
}

static void registry_is_consistent(void) {
    CHECK(db_engine_count >= 1);
    CHECK(db_engine_find("ar") != NULL);
    CHECK(db_engine_find("nope") == NULL);
    for (int i = 0; i < db_engine_count; i++) {
        const db_engine *e = db_engine_registry[i];
        CHECK(e->name && e->summary);
        CHECK_MSG((e->generate != NULL) != e->serving, "%s: generate iff not serving", e->name);
        CHECK(e->n_params <= DB_MAX_PARAMS);
        for (int j = i + 1; j < db_engine_count; j++) CHECK(strcmp(e->name, db_engine_registry[j]->name) != 0);
        /* every default parses (db_params_defaults aborts otherwise) */
        db_params p;
        db_params_defaults(&p, e->params, e->n_params);
        char err[256];
        if (e->validate) CHECK_MSG(e->validate(&p, err, sizeof err) == 0, "%s defaults invalid: %s", e->name, err);
    }
}

/* What each engine's descriptor declares (engine.h): the constraint kinds
 * the preflight and `list engines` read instead of engine names, and the
 * lossless flags identity.c reads. */
static void descriptors_declare_constraints_and_losslessness(void) {
    static const struct { const char *name; unsigned kinds; bool required, check, lossless, baseline; } want[] = {
        { "ar", 0, false, false, false, true },
        { "spec", 0, false, false, true, false },
        { "spec-tree", 0, false, false, true, false },
        { "pld", 0, false, false, true, false },
        { "self-spec", 0, false, false, true, false },
        { "lookahead", 0, false, false, true, false },
        { "token-recycling", 0, false, false, true, false },
        { "opt-tree", 0, false, false, true, false },
        { "rsd", 0, false, false, true, false },
        { "lexical", DB_CONSTRAINT_KEYWORDS, false, true, false, false },
        { "astar", DB_CONSTRAINT_KEYWORDS, false, true, false, false },
        { "diffusion", DB_CONSTRAINT_REGEX, false, true, false, false },
        { "grammar", DB_CONSTRAINT_GRAMMAR | DB_CONSTRAINT_JSON_SCHEMA, true, false, false, false },
        { "awrs", DB_CONSTRAINT_GRAMMAR | DB_CONSTRAINT_JSON_SCHEMA, true, false, false, false },
        { "gad", DB_CONSTRAINT_GRAMMAR | DB_CONSTRAINT_JSON_SCHEMA, true, false, false, false },
        { "json", DB_CONSTRAINT_JSON_SCHEMA, true, false, false, false },
        { "beam", 0, false, false, false, false },
        { "lattice", 0, false, false, false, false },
        { "exact", 0, false, false, false, false },
        { "astar-decoding", 0, false, false, false, false },
        { "serve", DB_CONSTRAINT_GRAMMAR | DB_CONSTRAINT_JSON_SCHEMA, false, false, true, false },
    };
    CHECK_INT_EQ(db_engine_count, (int)(sizeof want / sizeof *want));
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const db_engine *e = db_engine_find(want[i].name);
        CHECK_MSG(e != NULL, "%s not registered", want[i].name);
        if (!e) continue;
        CHECK_MSG(e->constraints == want[i].kinds, "%s: kinds %#x", e->name, e->constraints);
        CHECK_MSG(e->constraint_required == want[i].required, "%s: required", e->name);
        CHECK_MSG((e->check_constraint != NULL) == want[i].check, "%s: check_constraint", e->name);
        CHECK_MSG(e->lossless_greedy == want[i].lossless, "%s: lossless_greedy", e->name);
        CHECK_MSG(e->greedy_baseline == want[i].baseline, "%s: greedy_baseline", e->name);
    }
    /* the rules every descriptor keeps */
    for (int i = 0; i < db_engine_count; i++) {
        const db_engine *e = db_engine_registry[i];
        CHECK_MSG((e->constraints & ~((1u << DB_CONSTRAINT_N_KINDS) - 1)) == 0, "%s: unknown kind bits", e->name);
        CHECK_MSG(!e->constraint_required || e->constraints, "%s: requires a constraint of no kind", e->name);
        CHECK_MSG(!e->check_constraint || e->constraints, "%s: checks a constraint of no kind", e->name);
        CHECK_MSG(!(e->lossless_greedy && e->greedy_baseline), "%s: lossless and the baseline", e->name);
        if (e->lossless_greedy || e->greedy_baseline) {
            const db_param_def *m = db_params_find(e->params, e->n_params, "mode");
            CHECK_MSG(m && !strcmp(m->def, "greedy") && !strcmp(m->choices, "greedy|sample"), "%s: no greedy mode", e->name);
        }
    }
    char buf[64];
    CHECK_STR_EQ(db_constraint_kind_key(DB_CONSTRAINT_GRAMMAR), "grammar");
    CHECK_STR_EQ(db_constraint_kind_key(DB_CONSTRAINT_JSON_SCHEMA), "json_schema");
    CHECK_STR_EQ(db_constraint_kind_key(DB_CONSTRAINT_REGEX), "regex");
    CHECK_STR_EQ(db_constraint_kind_key(DB_CONSTRAINT_KEYWORDS), "keywords");
    CHECK(db_constraint_kind_key(DB_CONSTRAINT_GRAMMAR | DB_CONSTRAINT_REGEX) == NULL);
    CHECK(db_constraint_kind_key(0) == NULL);
    CHECK_STR_EQ(db_constraint_kinds_text(DB_CONSTRAINT_KEYWORDS | DB_CONSTRAINT_GRAMMAR, ", ", buf, sizeof buf),
                 "grammar, keywords");
    CHECK_STR_EQ(db_constraint_kinds_text(0, "|", buf, sizeof buf), "");
    CHECK_STR_EQ(db_constraint_kinds_text(0xf, "|", buf, 12), "grammar|jso");   /* truncated, terminated */
}

/* The sampling rows are one definition: every engine with a "temp" row of
 * the shared range has all four (three without mode) exactly as
 * sampling_params.h defines them, and the one check gives each engine's
 * message. */
static void sampling_rows_are_shared(void) {
    static const db_param_def shared[] = { DB_SAMPLING_PARAMS("m", "k", "p") };
    int n_sampling = 0;
    for (int i = 0; i < db_engine_count; i++) {
        const db_engine *e = db_engine_registry[i];
        const db_param_def *t = db_params_find(e->params, e->n_params, "temp");
        if (!t || t->min != 0.0) continue;   /* astar-decoding's policy temp has its own range */
        n_sampling++;
        for (int r = 0; r < 4; r++) {
            const db_param_def *d = db_params_find(e->params, e->n_params, shared[r].name);
            if (!d && r == 0) continue;   /* always samples: no mode row */
            CHECK_MSG(d && d->type == shared[r].type && !strcmp(d->def, shared[r].def) && d->min == shared[r].min &&
                      d->max == shared[r].max && (d->choices == shared[r].choices ||
                      (d->choices && shared[r].choices && !strcmp(d->choices, shared[r].choices))),
                      "%s: row %s differs from sampling_params.h", e->name, shared[r].name);
        }
        CHECK_MSG(db_sampling_param_name("temp") && !db_sampling_param_name("k"), "names");
    }
    CHECK_INT_EQ(n_sampling, 15);
    static const struct { const char *engine, *set, *value, *msg; } bad[] = {
        { "ar", "temp", "0", "parameter 'temp': must be > 0 when mode=sample (use mode=greedy for argmax)" },
        { "diffusion", "temp", "0", "parameter 'temp': must be > 0 when mode=sample (use mode=greedy for argmax)" },
        { "grammar", "temp", "0", "parameter 'temp': must be > 0 when mode=sample (use mode=greedy for argmax)" },
        { "spec", "temp", "0", "parameter 'temp': must be > 0 when mode=sample" },
        { "pld", "temp", "0", "parameter 'temp': must be > 0 when mode=sample" },
        { "lookahead", "temp", "0", "parameter 'temp': must be > 0 when mode=sample" },
        { "spec-tree", "temp", "0", "parameter 'temp': must be > 0 when mode=sample" },
        { "token-recycling", "temp", "0", "parameter 'temp': must be > 0 when mode=sample" },
        { "awrs", "temp", "0", "parameter 'temp': must be > 0 (awrs samples)" },
        { "gad", "temp", "0", "parameter 'temp': must be > 0 (gad samples)" },
        { "ar", "top_p", "0", "parameter 'top_p': must be > 0" },
        { "awrs", "top_p", "0", "parameter 'top_p': must be > 0" },
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const db_engine *e = db_engine_find(bad[i].engine);
        db_params p;
        db_params_defaults(&p, e->params, e->n_params);
        if (db_params_find(e->params, e->n_params, "mode")) CHECK_INT_EQ(db_params_set(&p, "mode", "sample", err, sizeof err), 0);
        CHECK_INT_EQ(db_params_set(&p, bad[i].set, bad[i].value, err, sizeof err), 0);
        err[0] = 0;
        CHECK_MSG(e->validate(&p, err, sizeof err) == -1, "%s accepts %s=%s", e->name, bad[i].set, bad[i].value);
        CHECK_STR_EQ(err, bad[i].msg);
        /* greedy needs no temperature */
        if (db_params_find(e->params, e->n_params, "mode") && !strcmp(bad[i].set, "temp")) {
            CHECK_INT_EQ(db_params_set(&p, "mode", "greedy", err, sizeof err), 0);
            CHECK_MSG(e->validate(&p, err, sizeof err) == 0, "%s greedy temp=0: %s", e->name, err);
            db_sampling s = db_sampling_from_params(&p);
            CHECK(s.greedy && s.temperature == 0.0f && s.top_k == 0 && s.top_p == 1.0f);
        }
    }
    /* no mode row: the engine samples */
    const db_engine *g = db_engine_find("gad");
    db_params p;
    db_params_defaults(&p, g->params, g->n_params);
    CHECK_INT_EQ(db_params_set(&p, "top_k", "7", err, sizeof err), 0);
    db_sampling s = db_sampling_from_params(&p);
    CHECK(!s.greedy && s.temperature == 1.0f && s.top_k == 7 && s.top_p == 1.0f);
}

void suite_params(void) {
    RUN(defaults_and_set);
    RUN(errors_name_parameter_and_range);
    RUN(registry_is_consistent);
    RUN(descriptors_declare_constraints_and_losslessness);
    RUN(sampling_rows_are_shared);
}
