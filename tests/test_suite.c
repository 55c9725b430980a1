/* test_suite.c — tests of suite files (harness/run/suite.c): parsing with
 * defaults, grid expansion, every class of error message, the JSONL prompt
 * loader and file sha256.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/run/suite.h"
#include "harness/util/sha256.h"
#include "harness/util/outfile.h"
#include "harness/util/util.h"

static char *tmp_path(const char *name) {
    return db_path_join(db_test_tmpdir(), name);
}

static void write_text(const char *name, const char *text) {
    char *p = tmp_path(name);
    char err[256];
    if (db_write_file_atomic(p, text, strlen(text), err, sizeof err) != 0) db_test_fail(__FILE__, __LINE__, "%s", err);
    free(p);
}

/* Prompt file and a small model file every suite below refers to. */
static void write_fixtures(void) {
    write_text("prose.jsonl",
               "{\"id\": \"p1\", \"prompt\": \"Once upon a time\"}\n"
               "\n"
               "{\"text\": \"The quick brown fox\", \"category\": \"animals\", \"reference\": \"jumps\"}\n"
               "{\"question_id\": 81, \"category\": \"writing\", \"turns\": [\"Write a poem.\", \"Shorter.\"]}\n");
    write_text("code.jsonl", "{\"prompt\": \"def f(x):\"}\n");
    write_text("abc.txt", "abc");
    write_text("model.gguf", "not really a model");
}

#define MODELS_EXACT "\"models\": {\"target\": {\"backend\": \"exact\", \"spec\": \"vocab=64,order=2,seed=7\"}}"
#define DATASETS "\"datasets\": {\"prose\": {\"path\": \"prose.jsonl\"}, \"code\": {\"path\": \"code.jsonl\", \"category\": \"code\", \"limit\": 1}}"

static int parse(const char *json, db_suite **s, char *err, size_t errlen) {
    write_fixtures();
    err[0] = 0;
    return db_suite_parse(json, "suites/t.json", db_test_tmpdir(), s, err, errlen);
}

/* Parse text expected to fail; check the message contains `want`. */
static void expect_error(int line, const char *json, const char *want) {
    db_suite *s = NULL;
    char err[1024];
    int rc = parse(json, &s, err, sizeof err);
    if (rc == 0) {
        db_test_fail(__FILE__, line, "expected an error containing \"%s\", parse succeeded", want);
        db_suite_free(s);
        return;
    }
    if (s) db_test_fail(__FILE__, line, "*out not NULL on error");
    if (!strstr(err, want)) db_test_fail(__FILE__, line, "error \"%s\" does not contain \"%s\"", err, want);
    if (strchr(err, '\n')) db_test_fail(__FILE__, line, "error is not one line: \"%s\"", err);
}

static void test_suite_defaults(void) {
    db_suite *s = NULL;
    char err[1024];
    const char *json = "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\"}]}";
    CHECK_MSG(parse(json, &s, err, sizeof err) == 0, "parse: %s", err);
    if (!s) return;
    CHECK_STR_EQ(s->name, "t");
    CHECK_STR_EQ(s->description, "");
    CHECK_STR_EQ(s->path, "suites/t.json");
    CHECK_INT_EQ(s->max_new_tokens, 64);
    CHECK_INT_EQ(s->repetitions, 1);
    CHECK_INT_EQ(s->warmup, 1);
    CHECK_INT_EQ(s->n_seeds, 1);
    CHECK_INT_EQ(s->seeds[0], 1234);
    CHECK_INT_EQ(s->threads, 0);
    CHECK_STR_EQ(s->pin, "none");
    CHECK(s->stop_at_eog);
    CHECK_INT_EQ(s->n_papi_events, 5);
    CHECK_STR_EQ(s->papi_events[0], "PAPI_TOT_INS");
    CHECK_STR_EQ(s->baseline, "ar");
    CHECK_INT_EQ(s->n_models, 1);
    CHECK_STR_EQ(s->models[0].name, "target");
    CHECK_STR_EQ(s->models[0].backend, "exact");
    CHECK_STR_EQ(s->models[0].exact_spec, "vocab=64,order=2,seed=7");
    CHECK(s->models[0].path == NULL);
    CHECK_INT_EQ(s->n_datasets, 2);
    CHECK_STR_EQ(s->datasets[0].name, "prose");
    CHECK_STR_EQ(s->datasets[0].category, "prose");
    CHECK_INT_EQ(s->datasets[0].n_prompts, 3);
    CHECK_INT_EQ(s->datasets[1].n_prompts, 1);
    CHECK_STR_EQ(s->datasets[1].category, "code");
    char *want = tmp_path("prose.jsonl");
    CHECK_STR_EQ(s->datasets[0].path, want);
    free(want);
    CHECK_INT_EQ(s->n_engines, 1);
    CHECK_STR_EQ(s->engines[0].label, "ar");
    CHECK_STR_EQ(s->engines[0].target, "target");
    CHECK(s->engines[0].draft == NULL);
    CHECK_INT_EQ(s->engines[0].n_datasets, 0);
    CHECK(s->json != NULL);
    CHECK_CONTAINS(s->json, "\"max_new_tokens\":64");
    CHECK_CONTAINS(s->json, "\"seeds\":[1234]");
    CHECK_CONTAINS(s->json, "\"baseline\":\"ar\"");
    CHECK_CONTAINS(s->json, "\"datasets\":[\"prose\",\"code\"]");

    db_case *cases = NULL;
    int n = 0;
    CHECK_MSG(db_suite_expand(s, &cases, &n, err, sizeof err) == 0, "expand: %s", err);
    CHECK_INT_EQ(n, 2);
    if (n == 2) {
        CHECK_STR_EQ(cases[0].label, "ar");
        CHECK_INT_EQ(cases[0].dataset, 0);
        CHECK_INT_EQ(cases[1].dataset, 1);
        CHECK_INT_EQ(cases[0].target_model, 0);
        CHECK_INT_EQ(cases[0].draft_model, -1);
        CHECK_CONTAINS(cases[0].params_json, "\"mode\":\"greedy\"");
    }
    db_cases_free(cases, n);
    db_suite_free(s);
}

static void test_suite_full(void) {
    db_suite *s = NULL;
    char err[1024];
    const char *json =
        "{\n"
        " \"name\": \"smoke\", \"description\": \"d\",\n"
        " \"models\": {\"target\": {\"path\": \"model.gguf\", \"n_gpu_layers\": 99, \"n_ctx\": 512},\n"
        "            \"oracle\": {\"backend\": \"exact\", \"spec\": \"vocab=64\"}},\n"
        " " DATASETS ",\n"
        " \"engines\": [{\"engine\": \"ar\", \"label\": \"greedy\", \"params\": {\"mode\": \"greedy\"}, \"datasets\": [\"code\"]},\n"
        "             {\"engine\": \"ar\", \"label\": \"s\", \"target\": \"oracle\", \"params\": {\"mode\": \"sample\"},\n"
        "              \"grid\": {\"temp\": [0.7, 1], \"top_k\": [0, 40, 100], \"top_p\": [0.9]}}],\n"
        " \"baseline\": \"s temp=0.7 top_k=40\",\n"
        " \"max_new_tokens\": 16, \"repetitions\": 3, \"warmup\": 0, \"seeds\": [1, 2, 3], \"threads\": 2,\n"
        " \"pin\": \"cores\", \"papi_events\": [\"perf::TASK-CLOCK\"], \"stop_at_eog\": false\n"
        "}\n";
    CHECK_MSG(parse(json, &s, err, sizeof err) == 0, "parse: %s", err);
    if (!s) return;
    CHECK_STR_EQ(s->name, "smoke");
    CHECK_INT_EQ(s->models[0].n_gpu_layers, 99);
    CHECK_INT_EQ(s->models[0].n_ctx, 512);
    CHECK_STR_EQ(s->models[0].backend, "llama");
    CHECK_INT_EQ(s->n_seeds, 3);
    CHECK_INT_EQ(s->seeds[2], 3);
    CHECK(!s->stop_at_eog);
    CHECK_STR_EQ(s->pin, "cores");
    CHECK_STR_EQ(s->baseline, "s temp=0.7 top_k=40");
    CHECK_INT_EQ(s->engines[1].n_axes, 3);
    CHECK_INT_EQ(s->engines[0].n_datasets, 1);
    CHECK_CONTAINS(s->json, "\"temp\":[0.7,1]");

    db_case *c = NULL;
    int n = 0;
    CHECK_MSG(db_suite_expand(s, &c, &n, err, sizeof err) == 0, "expand: %s", err);
    /* entry 0: one case (dataset code); entry 1: 2 x 3 x 1 grid points x 2 datasets */
    CHECK_INT_EQ(n, 1 + 12);
    if (n == 13) {
        CHECK_STR_EQ(c[0].label, "greedy");
        CHECK_INT_EQ(c[0].dataset, 1);
        CHECK_INT_EQ(c[0].target_model, 0);
        /* first axis slowest, then datasets */
        static const char *const want[] = {
            "s temp=0.7 top_k=0", "s temp=0.7 top_k=40", "s temp=0.7 top_k=100",
            "s temp=1 top_k=0", "s temp=1 top_k=40", "s temp=1 top_k=100",
        };
        for (int i = 0; i < 6; i++) {
            CHECK_STR_EQ(c[1 + 2 * i].label, want[i]);
            CHECK_STR_EQ(c[2 + 2 * i].label, want[i]);
            CHECK_INT_EQ(c[1 + 2 * i].dataset, 0);
            CHECK_INT_EQ(c[2 + 2 * i].dataset, 1);
            CHECK_INT_EQ(c[1 + 2 * i].target_model, 1);
        }
        for (int i = 0; i < n; i++) CHECK_INT_EQ(c[i].index, i);
        CHECK_NEAR(db_params_num(&c[5].params, "temp"), 0.7, 1e-12);
        CHECK_INT_EQ(db_params_int(&c[5].params, "top_k"), 100);
        CHECK_NEAR(db_params_num(&c[5].params, "top_p"), 0.9, 1e-12);
        CHECK_INT_EQ(db_params_int(&c[5].params, "mode"), 1);
        CHECK_CONTAINS(c[5].params_json, "\"top_k\":100");
        CHECK_CONTAINS(c[5].params_json, "\"mode\":\"sample\"");
    }
    db_cases_free(c, n);
    db_suite_free(s);
}

static void test_suite_errors(void) {
    /* malformed JSON: line and column */
    expect_error(__LINE__, "{\n  \"name\": \"x\",\n  \"models\" {}\n}", "suites/t.json:3:12: malformed JSON");
    expect_error(__LINE__, "", "suites/t.json:1:1: malformed JSON");
    expect_error(__LINE__, "[1, 2]", "suites/t.json: $: expected an object, got an array");
    /* unknown keys */
    expect_error(__LINE__, "{\"nam\": 1}", "suites/t.json: $.nam: unknown key");
    expect_error(__LINE__,
                 "{\"models\": {\"target\": {\"pth\": \"model.gguf\"}}," DATASETS ", \"engines\": [{\"engine\": \"ar\"}]}",
                 "suites/t.json: $.models.target.pth: unknown key");
    expect_error(__LINE__, "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\", \"prams\": {}}]}",
                 "$.engines[0].prams: unknown key");
    expect_error(__LINE__, "{\"name\": \"a\", \"name\": \"b\"}", "$.name: duplicate key");
    /* wrong types */
    expect_error(__LINE__, "{\"max_new_tokens\": \"64\"}", "$.max_new_tokens: expected an integer in [1, 65536], got a string");
    expect_error(__LINE__, "{\"repetitions\": 1.5}", "$.repetitions: expected an integer in [1, 10000], got a number 1.5");
    expect_error(__LINE__, "{\"stop_at_eog\": 1}", "$.stop_at_eog: expected true or false, got a number");
    expect_error(__LINE__, "{\"models\": []}", "$.models: expected an object, got an array");
    expect_error(__LINE__, "{\"seeds\": [1, -2]}", "$.seeds[1]: expected an integer in [0, 9007199254740991]");
    expect_error(__LINE__, "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\", \"grid\": {\"temp\": 0.5}}]}",
                 "$.engines[0].grid.temp: expected a non-empty array of numbers, strings or booleans, got a number");
    /* out of range */
    expect_error(__LINE__, "{\"max_new_tokens\": 0}", "$.max_new_tokens: expected an integer in [1, 65536], got 0");
    expect_error(__LINE__, "{\"warmup\": 1001}", "$.warmup: expected an integer in [0, 1000], got 1001");
    expect_error(__LINE__, "{\"threads\": -1}", "$.threads: expected an integer in [0, 1024], got -1");
    expect_error(__LINE__, "{\"pin\": \"spread\"}", "$.pin: expected \"none\", \"cores\" or \"compact\", got \"spread\"");
    /* required parts */
    expect_error(__LINE__, "{" DATASETS ", \"engines\": [{\"engine\": \"ar\"}]}", "$.models: required key is missing");
    expect_error(__LINE__, "{" MODELS_EXACT "," DATASETS ", \"engines\": []}", "$.engines: at least one engine is required");
    /* engines and parameters */
    expect_error(__LINE__, "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"nope\"}]}",
                 "suites/t.json: $.engines[0].engine: unknown engine 'nope' (known: ar");
    expect_error(__LINE__, "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\", \"params\": {\"kk\": 1}}]}",
                 "suites/t.json: $.engines[0].params.kk: unknown parameter 'kk'");
    expect_error(__LINE__, "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\", \"grid\": {\"kk\": [1]}}]}",
                 "suites/t.json: $.engines[0].grid.kk: unknown parameter 'kk'");
    expect_error(__LINE__,
                 "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\", \"grid\": {\"top_k\": [4, -1]}}]}",
                 "suites/t.json: $.engines[0].grid.top_k[1]: parameter 'top_k': expected an integer in [0, ");
    expect_error(__LINE__,
                 "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\", \"params\": {\"mode\": \"beam\"}}]}",
                 "$.engines[0].params.mode: parameter 'mode': expected one of greedy|sample, got 'beam'");
    expect_error(__LINE__,
                 "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\", \"params\": {\"temp\": 1}, \"grid\": {\"temp\": [1, 2]}}]}",
                 "$.engines[0].grid.temp: parameter 'temp' is also set in \"params\"");
    expect_error(__LINE__,
                 "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\", \"grid\": {\"top_k\": [4, 4]}}]}",
                 "$.engines[0].grid.top_k[1]: duplicate value '4'");
    /* the engine's validate() runs on every grid point */
    expect_error(__LINE__,
                 "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\", \"params\": {\"mode\": \"sample\"}, \"grid\": {\"temp\": [1, 0]}}]}",
                 "$.engines[0] (ar temp=0): parameter 'temp'");
    expect_error(__LINE__, "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\"}, {\"engine\": \"ar\"}]}",
                 "$.engines[1].engine: duplicate label 'ar'");
    expect_error(__LINE__, "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\", \"target\": \"big\"}]}",
                 "$.engines[0].target: no model named 'big'");
    expect_error(__LINE__, "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\", \"draft\": \"target\"}]}",
                 "$.engines[0].draft: engine 'ar' takes no draft model");
    expect_error(__LINE__, "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\", \"datasets\": [\"poems\"]}]}",
                 "$.engines[0].datasets[0]: no dataset named 'poems'");
    expect_error(__LINE__, "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"ar\"}], \"baseline\": \"spec\"}",
                 "$.baseline: no engine entry or case is labelled 'spec'");
    /* files */
    expect_error(__LINE__,
                 "{\"models\": {\"target\": {\"path\": \"../x.gguf\"}}," DATASETS ", \"engines\": [{\"engine\": \"ar\"}]}",
                 "suites/t.json: $.models.target.path: ../x.gguf: No such file or directory");
    expect_error(__LINE__,
                 "{" MODELS_EXACT ", \"datasets\": {\"p\": {\"path\": \"missing.jsonl\"}}, \"engines\": [{\"engine\": \"ar\"}]}",
                 "$.datasets.p.path: missing.jsonl: No such file or directory");
    expect_error(__LINE__,
                 "{\"models\": {\"target\": {\"path\": \"abc.txt\", \"sha256\": "
                 "\"0000000000000000000000000000000000000000000000000000000000000000\"}}," DATASETS
                 ", \"engines\": [{\"engine\": \"ar\"}]}",
                 "$.models.target.sha256: model 'target' (");
    expect_error(__LINE__,
                 "{\"models\": {\"target\": {\"path\": \"abc.txt\", \"sha256\": "
                 "\"0000000000000000000000000000000000000000000000000000000000000000\"}}," DATASETS
                 ", \"engines\": [{\"engine\": \"ar\"}]}",
                 "sha256 mismatch: expected 0000000000000000000000000000000000000000000000000000000000000000, file has "
                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect_error(__LINE__,
                 "{\"models\": {\"target\": {\"path\": \"abc.txt\", \"sha256\": \"abc\"}}," DATASETS
                 ", \"engines\": [{\"engine\": \"ar\"}]}",
                 "$.models.target.sha256: expected 64 hexadecimal digits");
}

/* An engine that needs a draft model, if the registry has one. */
static void test_suite_missing_draft(void) {
    const db_engine *spec = NULL;
    for (int i = 0; i < db_engine_count && !spec; i++)
        if (db_engine_registry[i]->needs_draft) spec = db_engine_registry[i];
    if (!spec) {
        db_test_skip("no engine with needs_draft in the registry yet");
        return;
    }
    char json[1024], want[256];
    snprintf(json, sizeof json, "{" MODELS_EXACT "," DATASETS ", \"engines\": [{\"engine\": \"%s\"}]}", spec->name);
    snprintf(want, sizeof want, "$.engines[0].draft: required: engine '%s' needs a draft model", spec->name);
    expect_error(__LINE__, json, want);
    /* and with a draft it parses, draft_model set */
    snprintf(json, sizeof json,
             "{\"models\": {\"target\": {\"backend\": \"exact\", \"spec\": \"vocab=64\"}, "
             "\"small\": {\"backend\": \"exact\", \"spec\": \"vocab=64\"}}," DATASETS
             ", \"engines\": [{\"engine\": \"%s\", \"draft\": \"small\"}]}", spec->name);
    db_suite *s = NULL;
    char err[1024];
    CHECK_MSG(parse(json, &s, err, sizeof err) == 0, "parse: %s", err);
    if (!s) return;
    db_case *c = NULL;
    int n = 0;
    CHECK_MSG(db_suite_expand(s, &c, &n, err, sizeof err) == 0, "expand: %s", err);
    if (n > 0) {
        CHECK_INT_EQ(c[0].target_model, 0);
        CHECK_INT_EQ(c[0].draft_model, 1);
    }
    db_cases_free(c, n);
    db_suite_free(s);
}

static void test_suite_load_file(void) {
    write_fixtures();
    char *dir = tmp_path("suites");
    char *file = tmp_path("suites/s.json");
    mkdir(dir, 0755);
    const char *json = "{\"models\": {\"t\": {\"path\": \"../model.gguf\"}}, "
                       "\"datasets\": {\"p\": {\"path\": \"../prose.jsonl\", \"limit\": 2}}, "
                       "\"engines\": [{\"engine\": \"ar\"}]}";
    char err[1024];
    CHECK_MSG(db_write_file_atomic(file, json, strlen(json), err, sizeof err) == 0, "%s", err);
    db_suite *s = NULL;
    CHECK_MSG(db_suite_load(file, &s, err, sizeof err) == 0, "load: %s", err);
    if (s) {
        char *want = db_path_join(dir, "../model.gguf");
        CHECK_STR_EQ(s->models[0].path, want);
        free(want);
        CHECK_STR_EQ(s->name, "s");
        CHECK_STR_EQ(s->path, file);
        CHECK_STR_EQ(s->engines[0].target, "t");   /* the only model */
        CHECK_INT_EQ(s->datasets[0].n_prompts, 2);   /* limit */
        db_suite_free(s);
    }
    s = NULL;
    char *missing = tmp_path("suites/none.json");
    CHECK(db_suite_load(missing, &s, err, sizeof err) != 0);
    CHECK_CONTAINS(err, "none.json: No such file or directory");
    CHECK(s == NULL);
    free(missing);
    free(dir);
    free(file);
}

static void test_prompts_load(void) {
    write_fixtures();
    char *path = tmp_path("prose.jsonl");
    db_prompt *p = NULL;
    int n = 0;
    char err[1024];
    CHECK_MSG(db_prompts_load(path, "prose", 0, &p, &n, err, sizeof err) == 0, "%s", err);
    CHECK_INT_EQ(n, 3);
    if (n == 3) {
        CHECK_STR_EQ(p[0].id, "p1");
        CHECK_STR_EQ(p[0].text, "Once upon a time");
        CHECK_STR_EQ(p[0].category, "prose");
        CHECK(p[0].reference == NULL);
        CHECK_STR_EQ(p[1].id, "3");   /* line number (line 2 is blank) */
        CHECK_STR_EQ(p[1].text, "The quick brown fox");
        CHECK_STR_EQ(p[1].category, "animals");
        CHECK_STR_EQ(p[1].reference, "jumps");
        CHECK_STR_EQ(p[2].id, "81");   /* Spec-Bench question.jsonl */
        CHECK_STR_EQ(p[2].text, "Write a poem.");
        CHECK_STR_EQ(p[2].category, "writing");
    }
    db_prompts_free(p, n);
    CHECK(db_prompts_load(path, "prose", 1, &p, &n, err, sizeof err) == 0);
    CHECK_INT_EQ(n, 1);
    db_prompts_free(p, n);
    free(path);

    struct { const char *text, *want; } bad[] = {
        { "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"\n", "bad.jsonl:2: malformed JSON at column" },
        { "{\"prompt\": \"a\"}\n[1]\n", "bad.jsonl:2: expected a JSON object, got an array" },
        { "{\"title\": \"a\"}\n", "bad.jsonl:1: no \"prompt\", \"text\" or \"turns\" field" },
        { "{\"prompt\": 5}\n", "bad.jsonl:1: \"prompt\": expected a string, got a number" },
        { "{\"prompt\": \"a\", \"id\": [1]}\n", "bad.jsonl:1: \"id\": expected a number or a non-empty string" },
        { "\n\n", "bad.jsonl: no prompts" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_text("bad.jsonl", bad[i].text);
        char *bp = tmp_path("bad.jsonl");
        p = NULL;
        n = 0;
        CHECK(db_prompts_load(bp, "x", 0, &p, &n, err, sizeof err) != 0);
        CHECK_CONTAINS(err, bad[i].want);
        CHECK(p == NULL && n == 0);
        free(bp);
    }
}

static void test_sha256_file(void) {
    write_fixtures();
    char *path = tmp_path("abc.txt");
    char hex[65], err[512];
    CHECK_MSG(db_sha256_file(path, hex, err, sizeof err) == 0, "%s", err);
    CHECK_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    free(path);
    write_text("empty.txt", "");
    path = tmp_path("empty.txt");
    CHECK(db_sha256_file(path, hex, err, sizeof err) == 0);
    CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    free(path);
    path = tmp_path("nope.txt");
    CHECK(db_sha256_file(path, hex, err, sizeof err) != 0);
    CHECK_CONTAINS(err, "nope.txt: No such file or directory");
    free(path);
}

/* A matching sha256 passes, uppercase accepted and stored lowercase. */
static void test_suite_sha256_ok(void) {
    db_suite *s = NULL;
    char err[1024];
    const char *json = "{\"models\": {\"target\": {\"path\": \"abc.txt\", \"sha256\": "
                       "\"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\"}}," DATASETS
                       ", \"engines\": [{\"engine\": \"ar\"}]}";
    CHECK_MSG(parse(json, &s, err, sizeof err) == 0, "parse: %s", err);
    if (s) CHECK_STR_EQ(s->models[0].sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    db_suite_free(s);
}

void suite_suite(void) {
    RUN(test_suite_defaults);
    RUN(test_suite_full);
    RUN(test_suite_errors);
    RUN(test_suite_missing_draft);
    RUN(test_suite_load_file);
    RUN(test_prompts_load);
    RUN(test_sha256_file);
    RUN(test_suite_sha256_ok);
}
