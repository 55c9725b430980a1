/* test_preflight.c — tests of the pre-flight checks a run makes before it
 * writes anything (harness/run/preflight.c), on exact-backend models: draft
 * vocabularies, context lengths (the suite's n_ctx included), constraint
 * compilation, the warning for prompts beyond the training context; JSON
 * nested too deep (harness/util/jsonlimits.c); and the prompt loader reading the
 * shipped datasets as they are (Spec-Bench's nested references, GSM8K and
 * concept-set lines).
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "harness/constraint/json_gbnf.h"
#include "harness/util/jsonlimits.h"
#include "harness/constraint/jsonschema.h"
#include "harness/run/preflight.h"
#include "harness/run/suite.h"
#include "harness/util/outfile.h"
#include "harness/util/util.h"

static char *tmp_path(const char *name) { return db_path_join(db_test_tmpdir(), name); }

static void write_text(const char *name, const char *text) {
    char *p = tmp_path(name);
    char err[256];
    if (db_write_file_atomic(p, text, strlen(text), err, sizeof err) != 0) db_test_fail(__FILE__, __LINE__, "%s", err);
    free(p);
}

/* Parse suite_json (relative paths from the scratch directory), expand it,
 * and run the pre-flight checks with models[i] for the suite's model i.
 * Returns db_preflight's value; *warnings (may be NULL) gets its warnings. */
/* When set, every engine entry of the suites preflight() parses runs this
 * descriptor instead (a new engine's declarations, without registering it). */
static const db_engine *stand_in_engine;

static int preflight(const char *suite_json, db_model **models, int limit, char **warnings, char *err, size_t errlen) {
    db_suite *s = NULL;
    if (db_suite_parse(suite_json, "t.json", db_test_tmpdir(), &s, err, errlen) != 0) {
        db_test_fail(__FILE__, __LINE__, "suite: %s", err);
        return -9;
    }
    for (int i = 0; stand_in_engine && i < s->n_engines; i++) s->engines[i].def = stand_in_engine;
    db_case *cases = NULL;
    int n = 0;
    if (db_suite_expand(s, &cases, &n, err, errlen) != 0) {
        db_test_fail(__FILE__, __LINE__, "expand: %s", err);
        db_suite_free(s);
        return -9;
    }
    int *draft = calloc((size_t)n + 1, sizeof *draft);
    const char *names[8] = { 0 };
    for (int i = 0; i < s->n_models && i < 8; i++) names[i] = s->models[i].name;
    for (int i = 0; i < n; i++) draft[i] = cases[i].draft_model;
    db_preflight_in in = {
        .s = s, .cases = cases, .n_cases = n, .models = models, .n_models = s->n_models,
        .model_names = names, .case_draft = draft, .limit_prompts = limit,
    };
    char *w = NULL;
    int rc = db_preflight(&in, &w, err, errlen);
    if (warnings) *warnings = w;
    else free(w);
    free(draft);
    db_cases_free(cases, n);
    db_suite_free(s);
    return rc;
}

#define EXACT(spec) "{\"backend\": \"exact\", \"spec\": \"" spec "\"}"

/* A draft with another vocabulary size, or the same size with other pieces,
 * is refused naming the case, both models and the difference; the same
 * vocabulary passes. */
static void test_preflight_vocab(void) {
    write_text("pf.jsonl", "{\"id\": \"a\", \"prompt\": \"w5 w6 w7\"}\n");
    const char *suite =
        "{\"models\": {\"target\": " EXACT("vocab=64,order=2,seed=7") ", \"draft\": " EXACT("vocab=64,order=1,seed=3") "},"
        " \"datasets\": {\"d\": {\"path\": \"pf.jsonl\"}},"
        " \"engines\": [{\"engine\": \"spec\", \"label\": \"sp\", \"draft\": \"draft\"}], \"max_new_tokens\": 8}";
    char err[1024];
    db_model *m[2] = { db_test_open_model("exact", "vocab=64,order=2,seed=7", 256, 256, 1),
                       db_test_open_model("exact", "vocab=64,order=1,seed=3", 256, 256, 1) };
    CHECK_MSG(preflight(suite, m, 0, NULL, err, sizeof err) == 0, "same vocabulary: %s", err);
    db_model_close(m[1]);
    m[1] = db_test_open_model("exact", "vocab=80,order=1,seed=3", 256, 256, 1);
    CHECK(preflight(suite, m, 0, NULL, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "t.json: case 'sp': draft 'draft' does not share the vocabulary of target 'target'");
    CHECK_CONTAINS(err, "80 tokens in the draft, 64 in the target");
    db_model_close(m[1]);
    /* same size, other pieces: the JSON alphabet from id 3 on */
    db_model_close(m[0]);
    m[0] = db_test_open_model("exact", "vocab=111,order=1,seed=7", 256, 256, 1);
    m[1] = db_test_open_model("exact", "vocab=111,order=1,seed=3,alphabet=json", 256, 256, 1);
    CHECK(preflight(suite, m, 0, NULL, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "(tokens: token 5 is ");
    db_model_close(m[0]);
    db_model_close(m[1]);
}

/* Prompt + max_new_tokens against the context: the model's cache and the
 * suite's n_ctx (the runner's batch size, which llama.cpp does not round
 * up), the draft's too; --limit restricts the prompts checked. */
static void test_preflight_context(void) {
    write_text("pf-ctx.jsonl", "{\"id\": \"short\", \"prompt\": \"w5\"}\n{\"id\": \"long\", \"prompt\": \"w5 w6 w7 w8 w9 w10 w11 w12\"}\n");
    char suite[1024], err[1024];
    db_model *m[2] = { db_test_open_model("exact", "vocab=64,order=2,seed=7", 16, 16, 1),
                       db_test_open_model("exact", "vocab=64,order=1,seed=3", 16, 16, 1) };
    /* 1 BOS + 8 words + 8 new = 17 > 16 for item 'long'; 'short' fits (10) */
    snprintf(suite, sizeof suite,
             "{\"models\": {\"target\": " EXACT("vocab=64,order=2,seed=7") "}, \"datasets\": {\"d\": {\"path\": \"pf-ctx.jsonl\"}},"
             " \"engines\": [{\"engine\": \"ar\"}], \"max_new_tokens\": 8}");
    CHECK(preflight(suite, m, 0, NULL, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "t.json: case 'ar': dataset 'd' item 'long' (");
    CHECK_CONTAINS(err, "): 9 prompt tokens + max_new_tokens 8 exceed the context of model 'target', 16 tokens");
    CHECK_MSG(preflight(suite, m, 1, NULL, err, sizeof err) == 0, "--limit 1 checks only 'short': %s", err);
    /* the suite's n_ctx = 1 limits the batch even when the cache is larger */
    snprintf(suite, sizeof suite,
             "{\"models\": {\"target\": {\"backend\": \"exact\", \"spec\": \"vocab=64,order=2,seed=7\", \"n_ctx\": 1}},"
             " \"datasets\": {\"d\": {\"path\": \"pf-ctx.jsonl\"}}, \"engines\": [{\"engine\": \"ar\"}], \"max_new_tokens\": 1}");
    CHECK(preflight(suite, m, 1, NULL, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "item 'short' (");
    CHECK_CONTAINS(err, "2 prompt tokens + max_new_tokens 1 exceed the context of model 'target', 1 tokens");
    /* the draft's context */
    db_model_close(m[1]);
    m[1] = db_test_open_model("exact", "vocab=64,order=1,seed=3", 8, 8, 1);
    snprintf(suite, sizeof suite,
             "{\"models\": {\"target\": " EXACT("vocab=64,order=2,seed=7") ", \"draft\": " EXACT("vocab=64,order=1,seed=3") "},"
             " \"datasets\": {\"d\": {\"path\": \"pf-ctx.jsonl\"}}, \"engines\": [{\"engine\": \"spec\", \"draft\": \"draft\"}],"
             " \"max_new_tokens\": 8}");
    CHECK(preflight(suite, m, 1, NULL, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "2 prompt tokens + max_new_tokens 8 exceed the context of model 'draft', 8 tokens");
    db_model_close(m[0]);
    db_model_close(m[1]);
}

/* Every constraint key compiles for every engine (the compliance check uses
 * them all); the grammar engine needs a grammar or schema. */
static void test_preflight_constraints(void) {
    static const struct { const char *constraint, *expect; } bad[] = {
        { "{\"grammar\": \"root ::= (\\\"a\\\"\"}", "$.constraint.grammar: " },
        { "{\"grammar\": 5}", "$.constraint.grammar: expected a string" },
        { "{\"regex\": \"a{2,1}\"}", "$.constraint.regex: /a{2,1}/: " },
        { "{\"json_schema\": {\"type\": 12}}", "$.constraint.json_schema: 'type' at (root) is not a string or array" },
        { "{\"json_schema\": {\"minimum\": \"x\"}}", "$.constraint.json_schema: 'minimum' at (root) is not a number" },
        { "{\"keywords\": []}", "$.constraint.keywords: expected a non-empty array of strings" },
        { "{\"keywords\": [\"\"]}", "$.constraint.keywords: expected non-empty strings" },
    };
    char suite[512], err[1024], line[512];
    snprintf(suite, sizeof suite,
             "{\"models\": {\"target\": " EXACT("vocab=64,order=2,seed=7") "}, \"datasets\": {\"d\": {\"path\": \"pf-c.jsonl\"}},"
             " \"engines\": [{\"engine\": \"ar\"}], \"max_new_tokens\": 4}");
    db_model *m[1] = { db_test_open_model("exact", "vocab=64,order=2,seed=7", 64, 64, 1) };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(line, sizeof line, "{\"id\": \"ok\", \"prompt\": \"w5\", \"constraint\": {\"regex\": \"w[0-9]+\"}}\n"
                                    "{\"id\": \"bad%zu\", \"prompt\": \"w5\", \"constraint\": %s}\n", i, bad[i].constraint);
        write_text("pf-c.jsonl", line);
        CHECK_MSG(preflight(suite, m, 0, NULL, err, sizeof err) == -1, "%s accepted", bad[i].constraint);
        char id[32];
        snprintf(id, sizeof id, "item 'bad%zu' (", i);
        CHECK_CONTAINS(err, id);
        CHECK_CONTAINS(err, bad[i].expect);
        CHECK_MSG(preflight(suite, m, 1, NULL, err, sizeof err) == 0, "--limit 1 skips the bad item: %s", err);
    }
    write_text("pf-c.jsonl",
               "{\"id\": \"g\", \"prompt\": \"w5\", \"constraint\": {\"grammar\": \"root ::= \\\" w5\\\"+\", \"keywords\": [\"w5\"],"
               " \"regex\": \"( w[0-9])+\", \"json_schema\": {\"type\": \"object\"}}}\n");
    CHECK_MSG(preflight(suite, m, 0, NULL, err, sizeof err) == 0, "good constraints: %s", err);
    /* a grammar engine on a prompt without grammar or schema */
    write_text("pf-c.jsonl", "{\"id\": \"g\", \"prompt\": \"w5\", \"constraint\": {\"grammar\": \"root ::= \\\" w5\\\"+\"}}\n"
                             "{\"id\": \"plain\", \"prompt\": \"w6\"}\n");
    snprintf(suite, sizeof suite,
             "{\"models\": {\"target\": " EXACT("vocab=64,order=2,seed=7") "}, \"datasets\": {\"d\": {\"path\": \"pf-c.jsonl\"}},"
             " \"engines\": [{\"engine\": \"grammar\", \"label\": \"gr\"}], \"max_new_tokens\": 4}");
    CHECK(preflight(suite, m, 0, NULL, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "case 'gr' (engine grammar): dataset 'd' item 'plain' (");
    CHECK_CONTAINS(err, "needs a \"grammar\" or \"json_schema\" constraint");
    db_model_close(m[0]);
}

/* The stand-in engine's own constraint check: refuses a "regex" holding "x". */
static int stand_in_check(const char *constraint_json, db_model *target, char *err, size_t errlen) {
    CHECK(target != NULL);
    if (strstr(constraint_json, "\"regex\":\"x")) return db_errf(err, errlen, "stand-in refuses %s", constraint_json);
    return 0;
}

/* What an engine needs of a prompt's constraint comes from its descriptor
 * (engine.h: constraints, constraint_required, check_constraint): the
 * registered engines' messages, and a stand-in descriptor that no code
 * names gets the same checks. */
static void test_preflight_engine_descriptors(void) {
    char suite[512], err[1024];
    db_model *m[1] = { db_test_open_model("exact", "vocab=64,order=2,seed=7", 64, 64, 1) };
#define SUITE_WITH(engine) snprintf(suite, sizeof suite, \
        "{\"models\": {\"target\": " EXACT("vocab=64,order=2,seed=7") "}, \"datasets\": {\"d\": {\"path\": \"pf-e.jsonl\"}}," \
        " \"engines\": [{\"engine\": \"%s\", \"label\": \"L\"}], \"max_new_tokens\": 4}", engine)
    /* json needs a json_schema: a grammar does not do */
    write_text("pf-e.jsonl", "{\"id\": \"g\", \"prompt\": \"w5\", \"constraint\": {\"grammar\": \"root ::= \\\" w5\\\"+\"}}\n");
    SUITE_WITH("json");
    CHECK_INT_EQ(preflight(suite, m, 0, NULL, err, sizeof err), -1);
    CHECK_CONTAINS(err, "t.json: case 'L' (engine json): dataset 'd' item 'g' (");
    CHECK_CONTAINS(err, "): the json engine needs a \"json_schema\" constraint");
    SUITE_WITH("gad");
    CHECK_MSG(preflight(suite, m, 0, NULL, err, sizeof err) == 0, "gad takes a grammar: %s", err);
    SUITE_WITH("diffusion");
    CHECK_MSG(preflight(suite, m, 0, NULL, err, sizeof err) == 0, "diffusion needs no constraint: %s", err);
    /* diffusion: the regex must compile to its automaton and match some text */
    write_text("pf-e.jsonl", "{\"id\": \"r\", \"prompt\": \"w5\", \"constraint\": {\"regex\": \"a[]\"}}\n");
    CHECK_INT_EQ(preflight(suite, m, 0, NULL, err, sizeof err), -1);
    CHECK_CONTAINS(err, "(engine diffusion): dataset 'd' item 'r' (");
    CHECK_CONTAINS(err, "): $.constraint.regex /a[]/: matches no text");
    write_text("pf-e.jsonl", "{\"id\": \"r\", \"prompt\": \"w5\", \"constraint\": {\"regex\": \"[^\\\\s\\\\S]\"}}\n");
    CHECK_INT_EQ(preflight(suite, m, 0, NULL, err, sizeof err), -1);
    CHECK_CONTAINS(err, "): $.constraint.regex: regex /[^\\s\\S]/: \\D, \\W, \\S inside a class are not supported");
    SUITE_WITH("ar");
    CHECK_MSG(preflight(suite, m, 0, NULL, err, sizeof err) == 0, "ar leaves the regex to the compliance check: %s", err);
    /* lexical / astar: the keywords must tokenize, at most 32 distinct */
    char line[1024];
    int k = snprintf(line, sizeof line, "{\"id\": \"k\", \"prompt\": \"w5\", \"constraint\": {\"keywords\": [");
    for (int w = 3; w < 3 + 33; w++) k += snprintf(line + k, sizeof line - (size_t)k, "%s\"w%d\"", w > 3 ? ", " : "", w);
    snprintf(line + k, sizeof line - (size_t)k, "]}}\n");
    write_text("pf-e.jsonl", line);
    SUITE_WITH("astar");
    CHECK_INT_EQ(preflight(suite, m, 0, NULL, err, sizeof err), -1);
    CHECK_CONTAINS(err, "(engine astar): dataset 'd' item 'k' (");
    CHECK_CONTAINS(err, "): constraint \"keywords\": more than 32 distinct keywords");
    SUITE_WITH("lexical");
    CHECK_INT_EQ(preflight(suite, m, 0, NULL, err, sizeof err), -1);
    CHECK_CONTAINS(err, "more than 32 distinct keywords");
    SUITE_WITH("beam");
    CHECK_MSG(preflight(suite, m, 0, NULL, err, sizeof err) == 0, "beam ignores keywords: %s", err);

    /* a stand-in descriptor: ar's parameters, a required regex, its own check */
    db_engine stand_in = *db_engine_find("ar");
    stand_in.name = "stand-in";
    stand_in.constraints = DB_CONSTRAINT_REGEX;
    stand_in.constraint_required = true;
    stand_in.check_constraint = stand_in_check;
    stand_in_engine = &stand_in;
    SUITE_WITH("ar");
    write_text("pf-e.jsonl", "{\"id\": \"ok\", \"prompt\": \"w5\", \"constraint\": {\"regex\": \"w[0-9]\"}}\n"
                             "{\"id\": \"kw\", \"prompt\": \"w5\", \"constraint\": {\"keywords\": [\"w5\"]}}\n");
    CHECK_INT_EQ(preflight(suite, m, 0, NULL, err, sizeof err), -1);
    CHECK_CONTAINS(err, "(engine stand-in): dataset 'd' item 'kw' (");
    CHECK_CONTAINS(err, "): the stand-in engine needs a \"regex\" constraint");
    stand_in.constraints = DB_CONSTRAINT_REGEX | DB_CONSTRAINT_JSON_SCHEMA;
    CHECK_INT_EQ(preflight(suite, m, 0, NULL, err, sizeof err), -1);
    CHECK_CONTAINS(err, "): the engine needs a \"json_schema\" or \"regex\" constraint");
    stand_in.constraint_required = false;
    CHECK_MSG(preflight(suite, m, 0, NULL, err, sizeof err) == 0, "optional kinds: %s", err);
    write_text("pf-e.jsonl", "{\"id\": \"x\", \"prompt\": \"w5\", \"constraint\": {\"regex\": \"x+\"}}\n");
    CHECK_INT_EQ(preflight(suite, m, 0, NULL, err, sizeof err), -1);
    CHECK_CONTAINS(err, "(engine stand-in): dataset 'd' item 'x' (");
    CHECK_CONTAINS(err, "): stand-in refuses {\"regex\":\"x+\"}");
    stand_in_engine = NULL;
#undef SUITE_WITH
    db_model_close(m[0]);
    /* the constraint keys a prompt may have are the kinds */
    write_text("pf-e.jsonl", "{\"id\": \"u\", \"prompt\": \"w5\", \"constraint\": {\"grammer\": \"root ::= \\\"a\\\"\"}}\n");
    char *path = tmp_path("pf-e.jsonl");
    db_prompt *pr = NULL;
    int np = 0;
    CHECK(db_prompts_load(path, NULL, 0, &pr, &np, err, sizeof err) != 0);
    CHECK_CONTAINS(err, "pf-e.jsonl:1: \"constraint\": unknown key \"grammer\" (grammar, json_schema, regex, keywords)");
    free(path);
}

/* JSON deeper than cJSON's limit: detected past strings, at the right
 * column, and named as such by the suite and prompt loaders. */
static void test_json_too_deep(void) {
    const int lim = db_json_nesting_limit();
    CHECK(lim == 1000);
    size_t cap = 4 * (size_t)lim + 64;
    char *t = malloc(cap);
    for (int depth = lim; depth <= lim + 1; depth++) {
        size_t k = 0;
        k += (size_t)snprintf(t + k, cap - k, "{\"s\": \"[[[[\\\"[[\", \"a\": ");
        for (int i = 1; i < depth; i++) t[k++] = '[';
        for (int i = 1; i < depth; i++) t[k++] = ']';
        t[k++] = '}';
        t[k] = 0;
        int line = 0, col = 0;
        int deep = db_json_too_deep(t, k, &line, &col);
        CHECK_MSG(deep == (depth > lim), "depth %d: %d", depth, deep);
        if (deep) CHECK_MSG(line == 1 && col == 23 + lim, "at %d:%d", line, col);
    }
    db_suite *s = NULL;
    char err[1024];
    CHECK(db_suite_parse(t, "deep.json", db_test_tmpdir(), &s, err, sizeof err) != 0);
    CHECK_CONTAINS(err, "deep.json:1:1023: JSON nested deeper than 1000 levels");
    db_jsonschema *js = NULL;
    CHECK(db_jsonschema_compile(t, NULL, &js, err, sizeof err) != 0);
    CHECK_CONTAINS(err, "schema: JSON nested deeper than 1000 levels");
    char *g = NULL;
    CHECK(db_json_gbnf_text(t, &g, err, sizeof err) < 0);
    CHECK_CONTAINS(err, "the schema is JSON nested deeper than 1000 levels");
    size_t n = strlen(t);
    t[n] = '\n';
    t[n + 1] = 0;
    write_text("deep.jsonl", t);
    free(t);
    char *p = tmp_path("deep.jsonl");
    db_prompt *pr = NULL;
    int np = 0;
    CHECK(db_prompts_load(p, NULL, 0, &pr, &np, err, sizeof err) != 0);
    CHECK_CONTAINS(err, "deep.jsonl:1: JSON nested deeper than 1000 levels at column 1023");
    free(p);
}

/* The shipped datasets' own formats: Spec-Bench references as arrays of
 * arrays (rag) and null, GSM8K {question, answer}, concept sets {concepts,
 * references}. */
static void test_prompt_formats(void) {
    write_text("formats.jsonl",
               "{\"question_id\": 1, \"turns\": [\"q\"], \"reference\": [[\"a source of lumber\", \"recreation\"]]}\n"
               "{\"question_id\": 2, \"turns\": [\"q\"], \"reference\": null}\n"
               "{\"question_id\": 3, \"turns\": [\"q\"], \"reference\": []}\n"
               "{\"question\": \"How many?\", \"answer\": \"2 + 2 = 4\\n#### 4\"}\n"
               "{\"id\": \"cg\", \"concepts\": [\"field\", \"look\"], \"references\": [\"I look at the field.\", \"x\"]}\n"
               "{\"id\": \"kw\", \"concepts\": [\"a\"], \"reference\": \"own\", \"constraint\": {\"regex\": \"a\"}}\n");
    char *p = tmp_path("formats.jsonl");
    db_prompt *pr = NULL;
    int n = 0;
    char err[512];
    CHECK_MSG(db_prompts_load(p, "c", 0, &pr, &n, err, sizeof err) == 0, "%s", err);
    CHECK(n == 6);
    if (n == 6) {
        CHECK_STR_EQ(pr[0].reference, "a source of lumber");
        CHECK(pr[1].reference == NULL);
        CHECK(pr[2].reference == NULL);
        CHECK_STR_EQ(pr[3].text, "How many?");
        CHECK_STR_EQ(pr[3].reference, "2 + 2 = 4\n#### 4");
        CHECK_STR_EQ(pr[4].text, "Write a sentence that uses the words: field, look.\n");
        CHECK_STR_EQ(pr[4].reference, "I look at the field.");
        CHECK_STR_EQ(pr[4].constraint_json, "{\"keywords\":[\"field\",\"look\"]}");
        CHECK_STR_EQ(pr[5].reference, "own");
        CHECK_STR_EQ(pr[5].constraint_json, "{\"regex\":\"a\"}");
    }
    db_prompts_free(pr, n);
    write_text("badref.jsonl", "{\"prompt\": \"x\", \"reference\": [[1]]}\n");
    free(p);
    p = tmp_path("badref.jsonl");
    CHECK(db_prompts_load(p, "c", 0, &pr, &n, err, sizeof err) != 0);
    CHECK_CONTAINS(err, "badref.jsonl:1: \"reference\": expected a string");
    free(p);
}

void suite_preflight(void) {
    RUN(test_preflight_vocab);
    RUN(test_preflight_context);
    RUN(test_preflight_constraints);
    RUN(test_preflight_engine_descriptors);
    RUN(test_json_too_deep);
    RUN(test_prompt_formats);
}
