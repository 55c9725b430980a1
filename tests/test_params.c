/* test_params.c — engine parameter tables: defaults, typed parsing, range
 * and choice errors, canonical JSON, and the engine registry. */
#include "test.h"

#include <stdlib.h>

#include "engines/engine.h"

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
        CHECK(e->name && e->summary && e->generate);
        CHECK(e->n_params <= DB_MAX_PARAMS);
        for (int j = i + 1; j < db_engine_count; j++) CHECK(strcmp(e->name, db_engine_registry[j]->name) != 0);
        /* every default parses (db_params_defaults aborts otherwise) */
        db_params p;
        db_params_defaults(&p, e->params, e->n_params);
        char err[256];
        if (e->validate) CHECK_MSG(e->validate(&p, err, sizeof err) == 0, "%s defaults invalid: %s", e->name, err);
    }
}

void suite_params(void) {
    RUN(defaults_and_set);
    RUN(errors_name_parameter_and_range);
    RUN(registry_is_consistent);
}
