/* serve.c — the "serve" engine: decoding done by an inference server over
 * HTTP (llama-server, vLLM, SGLang, TGI), measured as a serving benchmark.
 *
 * It is a descriptor only.  Its parameters are what one load point of a
 * serving benchmark needs — the endpoint, the load (closed loop at a
 * concurrency, or open loop at a rate with Poisson or gamma arrivals), the
 * number of requests or a duration, a per-request timeout — and the shared
 * sampling rows, sent to the server as temperature / top_k / top_p (mode
 * greedy sends temperature 0).  A suite entry names the server ("server":
 * a key of the suite's "servers"); grids sweep any of these, e.g.
 * "grid": {"concurrency": [1, 2, 4, 8]}.  The runner sends the requests
 * through harness/run/serve.c (libcurl multi, harness/run/loadgen.h); there
 * is no generate callback, and no model is reached through model.h — the
 * target model, when the server names one, serves only as the tokenizer
 * for the harness's own token counts and the greedy identity check.
 *
 * Greedy requests to a server that runs the target are lossless_greedy:
 * their output must equal `ar`'s on the same model (docs/serving.md says
 * where float differences of batched serving can break a near-tie).
 */
#include "engine.h"
#include "sampling_params.h"

static const db_param_def serve_params[] = {
    DB_SAMPLING_PARAMS(DB_HELP_MODE_SAMPLE, DB_HELP_TOP_K_KEEP, DB_HELP_TOP_P_NUCLEUS),
    { "endpoint", DB_PARAM_ENUM, "auto", 0, 0, "auto|completion|completions|chat",
      "auto: the server's api (llama.cpp: native /completion; openai: /v1/completions); "
      "completions: /v1/completions; chat: /v1/chat/completions (server-side chat template)" },
    { "load", DB_PARAM_ENUM, "closed", 0, 0, "closed|open",
      "closed: keep `concurrency` requests in flight; open: arrivals at `rate` per second" },
    { "concurrency", DB_PARAM_INT, "1", 1, 4096, NULL,
      "closed: requests in flight; open: the most in flight (0 not allowed; use a large value for no cap)" },
    { "rate", DB_PARAM_FLOAT, "0", 0, 1e6, NULL, "open: mean requests per second (0 = all at once)" },
    { "burstiness", DB_PARAM_FLOAT, "1", 0.01, 100, NULL,
      "open: gamma shape of the inter-arrival times; 1 = Poisson, < 1 burstier (vLLM --burstiness)" },
    { "requests", DB_PARAM_INT, "0", 0, 10000000, NULL,
      "requests to send; 0 = every prompt of the dataset once per repetition" },
    { "duration_s", DB_PARAM_FLOAT, "0", 0, 1e7, NULL, "start no request after this many seconds; 0 = no limit" },
    { "timeout_s", DB_PARAM_FLOAT, "600", 0.1, 1e6, NULL, "per request: send to last byte" },
    { "cache_prompt", DB_PARAM_BOOL, "true", 0, 1, NULL,
      "llama.cpp servers: reuse the KV cache of a common prefix with the slot's last prompt (false: every "
      "prompt evaluated whole, as the in-process engines do)" },
};

static int serve_validate(const db_params *p, char *err, size_t errlen) {
    return db_sampling_params_check(p, " when mode=sample", err, errlen);
}

const db_engine db_engine_serve = {
    .name = "serve",
    .summary = "an inference server over HTTP (llama-server, vLLM, ...): TTFT, ITL, TPOT, E2E, goodput under load",
    .params = serve_params,
    .n_params = (int)(sizeof serve_params / sizeof serve_params[0]),
    .constraints = DB_CONSTRAINT_GRAMMAR | DB_CONSTRAINT_JSON_SCHEMA,
    .lossless_greedy = true,
    .serving = true,
    .validate = serve_validate,
};
