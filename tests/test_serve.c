/* test_serve.c — the serving benchmark's suite sections and requests
 * (harness/run/suite_server.c, harness/run/serve.c): "servers" and "slo"
 * parsed into values, every class of error naming its JSON path, serve
 * entries expanded into cases, and the request bodies built for each
 * endpoint and API (sampling, constraints, stop at EOG).  The requests
 * against real servers: tests/serve-check.sh.
 */
#include "test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/serve.h"
#include "harness/run/suite.h"
#include "harness/util/outfile.h"
#include "harness/util/util.h"

static void write_prompts(void) {
    char *p = db_path_join(db_test_tmpdir(), "serve-prompts.jsonl");
    const char *t = "{\"id\": \"a\", \"prompt\": \"Hello\"}\n"
                    "{\"id\": \"b\", \"prompt\": \"Bye\", \"constraint\": {\"json_schema\": {\"type\": \"boolean\"}}}\n";
    char err[256];
    if (db_write_file_atomic(p, t, strlen(t), err, sizeof err) != 0) db_test_fail(__FILE__, __LINE__, "%s", err);
    char *m = db_path_join(db_test_tmpdir(), "serve-model.gguf");
    if (db_write_file_atomic(m, "x", 1, err, sizeof err) != 0) db_test_fail(__FILE__, __LINE__, "%s", err);
    free(p);
    free(m);
}

/* a suite around SERVERS (the "servers" object) and ENGINES (the array) */
static int parse(const char *servers, const char *engines, const char *extra, db_suite **s, char *err, size_t len) {
    write_prompts();
    char json[4096];
    snprintf(json, sizeof json,
             "{\"models\": {\"target\": {\"path\": \"serve-model.gguf\"}, \"ex\": {\"backend\": \"exact\", \"spec\": "
             "\"vocab=64,order=2,seed=7\"}},"
             " \"servers\": %s, \"datasets\": {\"d\": {\"path\": \"serve-prompts.jsonl\"}}, \"engines\": %s%s}",
             servers, engines, extra ? extra : "");
    return db_suite_parse(json, "suites/s.json", db_test_tmpdir(), s, err, len);
}

#define CMD "\"command\": [\"llama-server\", \"-m\", \"{model:target}\", \"--port\", \"{port}\"]"

static void servers_parse_into_values(void) {
    db_suite *s = NULL;
    char err[512];
    int rc = parse("{\"l\": {\"api\": \"llama.cpp\", \"model\": \"target\", " CMD ", \"env\": {\"A\": \"1\"}},"
                   " \"o\": {\"api\": \"openai\", \"url\": \"http://127.0.0.1:9/\", \"served_model\": \"m\","
                   " \"api_key_env\": \"KEY_VAR\", \"health\": \"/ready\", \"ready_timeout_s\": 5}}",
                   "[{\"engine\": \"serve\", \"server\": \"l\", \"grid\": {\"concurrency\": [1, 4]}},"
                   " {\"engine\": \"serve\", \"label\": \"remote\", \"server\": \"o\"}]",
                   ", \"slo\": {\"ttft_ms\": 200, \"e2e_ms\": 5000}", &s, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc != 0) return;
    CHECK_INT_EQ(s->n_servers, 2);
    const db_suite_server *l = &s->servers[0], *o = &s->servers[1];
    CHECK_STR_EQ(l->api, "llama.cpp");
    CHECK(l->url == NULL);
    CHECK_INT_EQ(l->n_command, 5);
    CHECK_STR_EQ(l->command[2], "{model:target}");
    CHECK(l->command[5] == NULL);
    CHECK_INT_EQ(l->n_env, 1);
    CHECK_STR_EQ(l->env[0], "A=1");
    CHECK_INT_EQ(l->model, 0);
    CHECK_STR_EQ(l->health, "/health");
    CHECK_NEAR(l->ready_timeout_s, 300, 0);
    CHECK_STR_EQ(o->url, "http://127.0.0.1:9");   /* the trailing '/' dropped */
    CHECK_STR_EQ(o->served_model, "m");
    CHECK_STR_EQ(o->api_key_env, "KEY_VAR");
    CHECK_STR_EQ(o->health, "/ready");
    CHECK_NEAR(o->ready_timeout_s, 5, 0);
    CHECK_INT_EQ(o->model, -1);
    CHECK_NEAR(s->slo_ttft_ms, 200, 0);
    CHECK(isnan(s->slo_tpot_ms));
    CHECK_NEAR(s->slo_e2e_ms, 5000, 0);
    /* cases: the grid, the server, the target from the server's model */
    db_case *cases = NULL;
    int n = 0;
    CHECK_INT_EQ(db_suite_expand(s, &cases, &n, err, sizeof err), 0);
    CHECK_INT_EQ(n, 3);
    if (n == 3) {
        CHECK_STR_EQ(cases[0].label, "serve concurrency=1");
        CHECK_STR_EQ(cases[1].label, "serve concurrency=4");
        CHECK_INT_EQ(cases[1].target_model, 0);
        CHECK_INT_EQ(cases[1].se->server_idx, 0);
        CHECK_INT_EQ(db_params_int(&cases[1].params, "concurrency"), 4);
        CHECK_STR_EQ(cases[2].label, "remote");
        CHECK_INT_EQ(cases[2].target_model, -1);   /* a server without a model: no tokenizer */
        CHECK_INT_EQ(cases[2].se->server_idx, 1);
    }
    db_cases_free(cases, n);
    /* the canonical configuration keeps the servers and the SLOs */
    CHECK_CONTAINS(s->json, "\"servers\":{\"l\":{\"api\":\"llama.cpp\"");
    CHECK_CONTAINS(s->json, "\"slo\":{\"ttft_ms\":200,\"e2e_ms\":5000}");
    CHECK_CONTAINS(s->json, "\"server\":\"o\"");
    db_suite_free(s);
}

static void server_errors_name_the_path(void) {
    static const struct { const char *servers, *engines, *extra, *want; } cases[] = {
        { "{\"l\": {\"url\": \"http://x\"}}", NULL, NULL, "$.servers.l: \"api\" is required" },
        { "{\"l\": {\"api\": \"tgi\", \"url\": \"http://x\"}}", NULL, NULL, "expected \"llama.cpp\" or \"openai\", got \"tgi\"" },
        { "{\"l\": {\"api\": \"openai\"}}", NULL, NULL, "give either \"url\"" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"http://x\", " CMD "}}", NULL, NULL, "give either \"url\"" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"ftp://x\"}}", NULL, NULL, "expected an http:// or https:// URL" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"http://x\", \"env\": {\"A\": \"1\"}}}", NULL, NULL,
          "\"env\" is only for a server decobench starts" },
        { "{\"l\": {\"api\": \"openai\", \"command\": [\"s\", \"--port\", \"{prt}\"]}}", NULL, NULL,
          "$.servers.l.command[2]: unknown placeholder '{prt}'" },
        { "{\"l\": {\"api\": \"openai\", \"command\": [\"s\", \"-m\", \"{model:nope}\", \"{port}\"]}}", NULL, NULL,
          "{model:nope}: no model named 'nope'" },
        { "{\"l\": {\"api\": \"openai\", \"command\": [\"s\", \"-m\", \"{model:ex}\", \"{port}\"]}}", NULL, NULL,
          "{model:ex}: model 'ex' has no file" },
        { "{\"l\": {\"api\": \"openai\", \"command\": [\"s\", \"-m\", \"x\"]}}", NULL, NULL, "no argument holds {port}" },
        { "{\"l\": {\"api\": \"openai\", \"command\": []}}", NULL, NULL, "$.servers.l.command: expected a non-empty array" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"http://x\", \"api_key_env\": \"sk-abc123\"}}", NULL, NULL,
          "the name of an environment variable" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"http://x\", \"model\": \"ex\"}}", NULL, NULL,
          "\"model\": 'ex' is not a GGUF model" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"http://x\", \"port\": 1}}", NULL, NULL, "$.servers.l: \"port\": unknown key" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"http://x\", \"ready_timeout_s\": 0}}", NULL, NULL, "\"ready_timeout_s\"" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"http://x\"}}", "[{\"engine\": \"serve\"}]", NULL,
          "$.engines[0].server: required: engine 'serve' sends its requests" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"http://x\"}}", "[{\"engine\": \"serve\", \"server\": \"m\"}]", NULL,
          "$.engines[0].server: no server named 'm'" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"http://x\"}}", "[{\"engine\": \"ar\", \"server\": \"l\"}]", NULL,
          "only a serving engine (\"serve\") takes a server" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"http://x\", \"model\": \"target\"}}",
          "[{\"engine\": \"serve\", \"server\": \"l\", \"target\": \"ex\"}]", NULL, "server 'l' serves model 'target', not 'ex'" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"http://x\"}}", NULL, ", \"slo\": {\"ttft\": 1}", "$.slo.ttft: unknown key" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"http://x\"}}", NULL, ", \"slo\": {\"tpot_ms\": -1}",
          "$.slo.tpot_ms: expected a positive number" },
        { "[1]", NULL, NULL, "$.servers: expected an object, got an array" },
        { "{\"l\": {\"api\": \"openai\", \"url\": \"http://x\"}}",
          "[{\"engine\": \"serve\", \"server\": \"l\", \"params\": {\"load\": \"burst\"}}]", NULL, "parameter 'load'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        db_suite *s = NULL;
        char err[512] = "";
        int rc = parse(cases[i].servers, cases[i].engines ? cases[i].engines : "[{\"engine\": \"ar\", \"target\": \"ex\"}]",
                       cases[i].extra, &s, err, sizeof err);
        CHECK_MSG(rc == -1, "case %zu accepted", i);
        CHECK_MSG(strstr(err, cases[i].want) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
        CHECK_MSG(strncmp(err, "suites/s.json: ", 15) == 0, "case %zu: no origin: %s", i, err);
        CHECK_MSG(strchr(err, '\n') == NULL, "case %zu: not one line", i);
        db_suite_free(s);
    }
}

static cJSON *body(const db_suite *s, int server, const char *params_json, const char *endpoint, const char *constraint) {
    const db_engine *e = db_engine_find("serve");
    db_params p;
    db_params_defaults(&p, e->params, e->n_params);
    cJSON *pj = params_json ? cJSON_Parse(params_json) : NULL;
    char err[256], v[64];
    for (const cJSON *it = pj ? pj->child : NULL; it; it = it->next) {
        if (cJSON_IsString(it)) snprintf(v, sizeof v, "%s", it->valuestring);
        else snprintf(v, sizeof v, "%g", it->valuedouble);
        CHECK_MSG(db_params_set(&p, it->string, v, err, sizeof err) == 0, "%s", err);
    }
    cJSON_Delete(pj);
    char *t = db_serve_request_body(s, &s->servers[server], &p, endpoint, "Hi \"you\"\n", constraint,
                                    "[\"\\n\\n\", \"END\"]", 0x100000007ull, "target");
    cJSON *b = t ? cJSON_Parse(t) : NULL;
    free(t);
    return b;
}

static double num(const cJSON *b, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *b, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void request_bodies(void) {
    db_suite *s = NULL;
    char err[512];
    int rc = parse("{\"l\": {\"api\": \"llama.cpp\", \"model\": \"target\", " CMD "},"
                   " \"o\": {\"api\": \"openai\", \"url\": \"http://127.0.0.1:9\", \"served_model\": \"qwen\"}}",
                   "[{\"engine\": \"serve\", \"server\": \"l\"}]", ", \"max_new_tokens\": 33, \"stop_at_eog\": false", &s,
                   err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc != 0) return;
    /* native /completion, greedy */
    cJSON *b = body(s, 0, NULL, "completion", NULL);
    CHECK(b != NULL);
    CHECK_STR_EQ(str(b, "prompt"), "Hi \"you\"\n");
    CHECK_NEAR(num(b, "n_predict"), 33, 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "stream")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "return_tokens")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "ignore_eos")));   /* stop_at_eog false */
    CHECK_NEAR(num(b, "temperature"), 0, 0);
    CHECK(isnan(num(b, "top_k")));   /* greedy: no sampling settings */
    CHECK_NEAR(num(b, "seed"), 7, 0);   /* the low 32 bits */
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(b, "stop");   /* the item's stop strings */
    CHECK_INT_EQ(cJSON_GetArraySize(stop), 2);
    CHECK_STR_EQ(cJSON_GetArrayItem(stop, 0)->valuestring, "\n\n");
    CHECK_STR_EQ(cJSON_GetArrayItem(stop, 1)->valuestring, "END");
    CHECK(cJSON_GetObjectItemCaseSensitive(b, "model") == NULL);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "cache_prompt")));   /* the server's default */
    cJSON_Delete(b);
    b = body(s, 0, "{\"cache_prompt\": \"false\"}", "completion", NULL);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(b, "cache_prompt")));
    cJSON_Delete(b);
    /* sampling on llama.cpp: min_p 0 so the distribution is the engine's */
    b = body(s, 0, "{\"mode\": \"sample\", \"temp\": 0.7, \"top_k\": 5, \"top_p\": 0.9}", "completion", NULL);
    CHECK_NEAR(num(b, "temperature"), 0.7, 1e-12);
    CHECK_NEAR(num(b, "top_k"), 5, 0);
    CHECK_NEAR(num(b, "top_p"), 0.9, 1e-12);
    CHECK_NEAR(num(b, "min_p"), 0, 0);
    cJSON_Delete(b);
    /* a json_schema on a llama.cpp server: its own field */
    b = body(s, 0, NULL, "completion", "{\"json_schema\": {\"type\": \"boolean\"}}");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(b, "json_schema");
    CHECK_STR_EQ(str(js, "type"), "boolean");
    CHECK(cJSON_GetObjectItemCaseSensitive(b, "response_format") == NULL);
    cJSON_Delete(b);
    /* OpenAI completions */
    b = body(s, 1, NULL, "completions", "{\"json_schema\": {\"type\": \"integer\"}}");
    CHECK_STR_EQ(str(b, "model"), "qwen");
    CHECK_NEAR(num(b, "max_tokens"), 33, 0);
    CHECK(isnan(num(b, "n_predict")));
    CHECK(cJSON_GetObjectItemCaseSensitive(b, "cache_prompt") == NULL);   /* llama.cpp servers only */
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(b, "stream_options");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage")));
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(b, "response_format");
    CHECK_STR_EQ(str(rf, "type"), "json_schema");
    CHECK_STR_EQ(str(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rf, "json_schema"), "schema"), "type"),
                 "integer");
    CHECK(cJSON_GetObjectItemCaseSensitive(b, "json_schema") == NULL);
    cJSON_Delete(b);
    /* chat: the prompt as the user's message; a grammar travels as "grammar" */
    b = body(s, 1, NULL, "chat", "{\"grammar\": \"root ::= \\\"a\\\"\"}");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(b, "messages");
    CHECK_INT_EQ(cJSON_GetArraySize(msgs), 1);
    CHECK_STR_EQ(str(cJSON_GetArrayItem(msgs, 0), "role"), "user");
    CHECK_STR_EQ(str(cJSON_GetArrayItem(msgs, 0), "content"), "Hi \"you\"\n");
    CHECK(cJSON_GetObjectItemCaseSensitive(b, "prompt") == NULL);
    CHECK_STR_EQ(str(b, "grammar"), "root ::= \"a\"");
    cJSON_Delete(b);
    db_suite_free(s);
}

/* a dataset item's "stop": a string or an array, kept as a JSON array */
static void item_stop_strings(void) {
    char *p = db_path_join(db_test_tmpdir(), "stop.jsonl");
    const char *t = "{\"prompt\": \"a\", \"stop\": \"\\n\"}\n{\"prompt\": \"b\", \"stop\": [\"x\", \"yz\"]}\n"
                    "{\"prompt\": \"c\"}\n";
    char err[512];
    CHECK(db_write_file_atomic(p, t, strlen(t), err, sizeof err) == 0);
    db_prompt *pr = NULL;
    int n = 0;
    CHECK_INT_EQ(db_prompts_load(p, "c", 0, &pr, &n, err, sizeof err), 0);
    CHECK_INT_EQ(n, 3);
    if (n == 3) {
        CHECK_STR_EQ(pr[0].stop_json, "[\"\\n\"]");
        CHECK_STR_EQ(pr[1].stop_json, "[\"x\",\"yz\"]");
        CHECK(pr[2].stop_json == NULL);
    }
    db_prompts_free(pr, n);
    static const char *const bad[] = { "{\"prompt\": \"a\", \"stop\": \"\"}\n", "{\"prompt\": \"a\", \"stop\": []}\n",
                                       "{\"prompt\": \"a\", \"stop\": [1]}\n", "{\"prompt\": \"a\", \"stop\": {}}\n" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(db_write_file_atomic(p, bad[i], strlen(bad[i]), err, sizeof err) == 0);
        CHECK_INT_EQ(db_prompts_load(p, "c", 0, &pr, &n, err, sizeof err), -1);
        CHECK_CONTAINS(err, ":1: \"stop\": expected a non-empty string or an array of 1 to 16 non-empty strings");
    }
    free(p);
}

void suite_serve(void) {
    RUN(item_stop_strings);
    RUN(servers_parse_into_values);
    RUN(server_errors_name_the_path);
    RUN(request_bodies);
}
