/* serve.c — serving cases of a run (serve.h): servers started and stopped,
 * request bodies built from the dataset, the load generator run, and each
 * request's result turned into a stored sample.
 *
 * Request bodies (docs/serving.md):
 *   llama.cpp /completion   prompt, n_predict, stream, return_tokens (ids for
 *                           the harness's own counts and the identity check),
 *                           temperature / top_k / top_p, min_p 0, seed,
 *                           ignore_eos when the suite does not stop at EOG
 *   /v1/completions, /v1/chat/completions
 *                           model, prompt or messages, max_tokens, stream,
 *                           stream_options.include_usage, temperature,
 *                           top_k, top_p, seed
 *   constraints             a llama.cpp server gets "grammar" / "json_schema";
 *                           an OpenAI server "response_format" (json_schema)
 *                           or "grammar"
 * Greedy (mode=greedy) sends temperature 0.
 */
#include "serve.h"
#include "loadgen.h"
#include "server_proc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "harness/constraint/quality.h"
#include "interference.h"
#include "harness/util/util.h"

#ifndef DB_LLAMA_BINDIR
#define DB_LLAMA_BINDIR ""
#endif

typedef struct pooled {
    db_server *proc;      /* started servers */
    char *base_url;       /* attach URL, or the started server's */
    int starts;
} pooled;

struct db_serve_pool {
    const db_suite *s;
    char *log_dir;
    int64_t run_id;
    pooled *sv;
};

/* Stop a started server; its CPU time stays counted as the measurement's. */
static void stop_server(pooled *ps) {
    if (!ps->proc) return;
    db_noise_release_pid((int)db_server_pid(ps->proc));
    db_server_stop(ps->proc, NULL, 0);
    ps->proc = NULL;
}

db_serve_pool *db_serve_pool_new(const db_suite *s, const char *log_prefix, int64_t run_id) {
    db_serve_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->s = s;
    p->run_id = run_id;
    p->sv = calloc((size_t)(s->n_servers ? s->n_servers : 1), sizeof *p->sv);
    size_t n = strlen(log_prefix ? log_prefix : "decobench") + 16;
    p->log_dir = malloc(n);
    if (!p->sv || !p->log_dir) {
        free(p->sv);
        free(p->log_dir);
        free(p);
        return NULL;
    }
    snprintf(p->log_dir, n, "%s.serve-logs", log_prefix ? log_prefix : "decobench");
    return p;
}

void db_serve_pool_free(db_serve_pool *p) {
    if (!p) return;
    for (int i = 0; i < p->s->n_servers; i++) {
        stop_server(&p->sv[i]);
        free(p->sv[i].base_url);
    }
    free(p->sv);
    free(p->log_dir);
    free(p);
}

/* ---- starting a server ---------------------------------------------------- */

/* arg with {port} {host} {llama_bin} {model:NAME} replaced (malloc'd) */
static char *expand_arg(const db_suite *s, const char *arg, int port) {
    db_str b;
    db_str_init(&b);
    const char *bin = getenv("DECOBENCH_LLAMA_BIN");
    if (!bin || !bin[0]) bin = DB_LLAMA_BINDIR;
    for (const char *p = arg; *p;) {
        const char *q = *p == '{' ? strchr(p, '}') : NULL;
        if (q) {
            size_t n = (size_t)(q - p - 1);
            if (n == 4 && !strncmp(p + 1, "port", 4)) db_str_printf(&b, "%d", port);
            else if (n == 4 && !strncmp(p + 1, "host", 4)) db_str_append(&b, "127.0.0.1");
            else if (n == 9 && !strncmp(p + 1, "llama_bin", 9)) db_str_append(&b, bin);
            else if (n > 6 && !strncmp(p + 1, "model:", 6)) {
                for (int m = 0; m < s->n_models; m++)
                    if (strlen(s->models[m].name) == n - 6 && !strncmp(s->models[m].name, p + 7, n - 6) &&
                        s->models[m].path)
                        db_str_append(&b, s->models[m].path);
            } else {
                db_str_printf(&b, "%.*s", (int)(n + 2), p);
            }
            p = q + 1;
        } else {
            db_str_printf(&b, "%c", *p);
            p++;
        }
    }
    return db_str_take(&b);
}

/* The server of case c ready: attached, or started (again, if it died). */
static int server_ready(db_serve_pool *pool, int idx, volatile int *cancel, char *err, size_t errlen) {
    const db_suite_server *sv = &pool->s->servers[idx];
    pooled *ps = &pool->sv[idx];
    if (sv->url) {
        if (!ps->base_url && !(ps->base_url = db_strdup(sv->url))) return db_errf(err, errlen, "out of memory");
        return 0;
    }
    if (ps->proc && db_server_alive(ps->proc)) return 0;
    if (ps->proc) stop_server(ps);   /* died since the last case: start it again */
    int port = 0;
    char e2[600];
    if (db_server_free_port(&port, e2, sizeof e2) != 0) return db_errf(err, errlen, "server '%s': %s", sv->name, e2);
    char **argv = calloc((size_t)sv->n_command + 1, sizeof *argv);
    if (!argv) return db_errf(err, errlen, "out of memory");
    int rc = 0;
    for (int i = 0; i < sv->n_command && rc == 0; i++)
        if (!(argv[i] = expand_arg(pool->s, sv->command[i], port))) rc = db_errf(err, errlen, "out of memory");
    char *log = NULL;
    if (rc == 0) {
        if (mkdir(pool->log_dir, 0700) != 0 && errno != EEXIST)
            rc = db_errf(err, errlen, "server '%s': cannot create %s: %s", sv->name, pool->log_dir, strerror(errno));
        size_t n = strlen(pool->log_dir) + strlen(sv->name) + 48;
        if (rc == 0 && !(log = malloc(n))) rc = db_errf(err, errlen, "out of memory");
        if (rc == 0) snprintf(log, n, "%s/%lld-%s.log", pool->log_dir, (long long)pool->run_id, sv->name);
    }
    if (rc == 0) {
        db_server_params sp = db_server_default_params();
        sp.argv = (const char *const *)argv;
        sp.env = (const char *const *)sv->env;
        sp.log_path = log;
        sp.health_path = sv->health;
        sp.port = port;
        sp.ready_timeout_s = sv->ready_timeout_s;
        if (db_server_start(&sp, &ps->proc, e2, sizeof e2) != 0) {
            ps->proc = NULL;
            rc = db_errf(err, errlen, "server '%s': %s", sv->name, e2);
        } else {
            ps->starts++;
            /* the server's CPU time is part of the measurement, not interference */
            db_noise_adopt_pid((int)db_server_pid(ps->proc));
            int w = db_server_wait_ready(ps->proc, (volatile sig_atomic_t *)cancel, e2, sizeof e2);
            if (w != 0) {
                stop_server(ps);
                rc = w > 0 ? 1 : db_errf(err, errlen, "server '%s': %s (log: %s)", sv->name, e2, log);
            } else {
                free(ps->base_url);
                if (!(ps->base_url = db_strdup(db_server_base_url(ps->proc)))) rc = db_errf(err, errlen, "out of memory");
            }
        }
    }
    for (int i = 0; i < sv->n_command; i++) free(argv[i]);
    free(argv);
    free(log);
    return rc;
}

int db_serve_check_servers(const db_suite *s, const db_case *cases, int n_cases, char *err, size_t errlen) {
    for (int k = 0; k < s->n_servers; k++) {
        const db_suite_server *sv = &s->servers[k];
        bool used = false;
        for (int i = 0; i < n_cases && !used; i++) used = cases[i].se->server_idx == k;
        if (!used || !sv->command) continue;
        char *prog = expand_arg(s, sv->command[0], 0);
        if (!prog) return db_errf(err, errlen, "out of memory");
        int rc = 0;
        if (strchr(prog, '/')) {
            if (access(prog, X_OK) != 0)
                rc = db_errf(err, errlen, "%s: $.servers.%s.command[0]: %s: %s", s->path, sv->name, prog,
                             errno == ENOENT ? "no such file (scripts/build-llama.sh builds llama-server)"
                                             : "not executable");
        } else {
            const char *path = getenv("PATH");
            bool found = false;
            for (const char *p = path ? path : ""; *p && !found;) {
                const char *e = strchr(p, ':');
                size_t n = e ? (size_t)(e - p) : strlen(p);
                char full[4096];
                snprintf(full, sizeof full, "%.*s/%s", (int)n, n ? p : ".", prog);
                found = access(full, X_OK) == 0;
                p = e ? e + 1 : p + n;
            }
            if (!found) rc = db_errf(err, errlen, "%s: $.servers.%s.command[0]: '%s' not found on PATH", s->path, sv->name, prog);
        }
        free(prog);
        if (rc != 0) return rc;
    }
    return 0;
}

/* ---- requests -------------------------------------------------------------- */

static const char *endpoint_of(const db_suite_server *sv, const db_params *p, char *buf, size_t len) {
    const char *e = db_params_choice(p, "endpoint", buf, len);
    if (strcmp(e, "auto") == 0) return strcmp(sv->api, "llama.cpp") == 0 ? "completion" : "completions";
    return e;
}

char *db_serve_request_body(const db_suite *s, const db_suite_server *sv, const db_params *params, const char *endpoint,
                            const char *prompt_text, const char *constraint_json, const char *stop_json, uint64_t seed,
                            const char *model_name) {
    cJSON *b = cJSON_CreateObject();
    if (!b) return NULL;
    char mode[16];
    const bool greedy = strcmp(db_params_choice(params, "mode", mode, sizeof mode), "greedy") == 0;
    const bool native = strcmp(endpoint, "completion") == 0;
    const bool chat = strcmp(endpoint, "chat") == 0;
    if (!native) cJSON_AddStringToObject(b, "model", sv->served_model ? sv->served_model : model_name ? model_name : "default");
    if (chat) {
        cJSON *msgs = cJSON_AddArrayToObject(b, "messages");
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", prompt_text);
        cJSON_AddItemToArray(msgs, m);
    } else {
        cJSON_AddStringToObject(b, "prompt", prompt_text);
    }
    cJSON_AddNumberToObject(b, native ? "n_predict" : "max_tokens", s->max_new_tokens);
    cJSON_AddBoolToObject(b, "stream", 1);
    if (native) {
        cJSON_AddBoolToObject(b, "return_tokens", 1);
    } else {
        cJSON *so = cJSON_AddObjectToObject(b, "stream_options");
        cJSON_AddBoolToObject(so, "include_usage", 1);
    }
    cJSON_AddNumberToObject(b, "temperature", greedy ? 0.0 : db_params_num(params, "temp"));
    if (!greedy) {
        cJSON_AddNumberToObject(b, "top_k", db_params_int(params, "top_k"));
        cJSON_AddNumberToObject(b, "top_p", db_params_num(params, "top_p"));
        if (strcmp(sv->api, "llama.cpp") == 0) cJSON_AddNumberToObject(b, "min_p", 0.0);   /* its default is 0.05 */
    }
    cJSON_AddNumberToObject(b, "seed", (double)(seed & 0xffffffffu));
    if (!s->stop_at_eog) cJSON_AddBoolToObject(b, "ignore_eos", 1);
    if (stop_json) {
        cJSON *st = cJSON_Parse(stop_json);
        if (st) cJSON_AddItemToObject(b, "stop", st);
    }
    if (strcmp(sv->api, "llama.cpp") == 0) cJSON_AddBoolToObject(b, "cache_prompt", db_params_bool(params, "cache_prompt"));
    if (constraint_json) {
        cJSON *c = cJSON_Parse(constraint_json);
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(c, "grammar");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(c, "json_schema");
        if (cJSON_IsString(g)) {
            cJSON_AddStringToObject(b, "grammar", g->valuestring);
        } else if (js) {
            if (strcmp(sv->api, "llama.cpp") == 0) {
                cJSON_AddItemToObject(b, "json_schema", cJSON_Duplicate(js, 1));
            } else {
                cJSON *rf = cJSON_AddObjectToObject(b, "response_format");
                cJSON_AddStringToObject(rf, "type", "json_schema");
                cJSON *jo = cJSON_AddObjectToObject(rf, "json_schema");
                cJSON_AddStringToObject(jo, "name", "decobench");
                cJSON_AddItemToObject(jo, "schema", cJSON_Duplicate(js, 1));
            }
        }
        cJSON_Delete(c);
    }
    char *text = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    return text;
}

/* ---- results into samples --------------------------------------------------- */

typedef struct case_run {
    db_serve_pool *pool;
    const db_serve_case *in;
    const db_suite_dataset *ds;
    int *req_slot;            /* request index (load order) -> sample slot (rep * n_prompts + prompt) */
    bool chat;                /* the chat endpoint: the server applies its template to the prompt */
    char **prompt_text;       /* per prompt, as sent (completion endpoints: the chat template applied) */
    int n_stored;
    int store_failed;
    char err[600];
} case_run;

static int count_tokens(db_model *m, const char *text, bool add_special) {
    if (!m || !text) return -1;
    size_t len = strlen(text);
    int n = db_model_tokenize(m, text, len, add_special, add_special, NULL, 0);
    return n < 0 ? -n : n;
}

/* the harness's own tokens of an output text (for identity when the server sent no ids) */
static int32_t *tokenize_output(db_model *m, const char *text, int *n) {
    *n = 0;
    if (!m || !text) return NULL;
    int cap = count_tokens(m, text, false);
    if (cap <= 0) return NULL;
    db_token *t = malloc(sizeof *t * (size_t)cap);
    if (!t) return NULL;
    *n = db_model_tokenize(m, text, strlen(text), false, false, t, cap);
    if (*n < 0) {
        free(t);
        *n = 0;
        return NULL;
    }
    return (int32_t *)t;
}

static const char *stop_reason_of(const db_lg_result *r) {
    const char *f = r->finish_reason;
    if (!strcmp(f, "stop") || !strcmp(f, "eos")) return "eog";
    if (!strcmp(f, "length") || !strcmp(f, "limit")) return "length";
    if (!strcmp(f, "word")) return "stop";
    return f[0] ? f : "length";
}

static int on_result(void *vctx, db_lg_result *res) {
    case_run *cr = vctx;
    const db_serve_case *in = cr->in;
    const db_suite *s = cr->pool->s;
    const int slot = cr->req_slot[res->index];
    const int prompt_idx = slot % in->n_prompts, rep = slot / in->n_prompts;
    const db_prompt *pr = &cr->ds->prompts[prompt_idx];
    db_sample_record rec;
    memset(&rec, 0, sizeof rec);
    rec.prompt_idx = prompt_idx;
    rec.prompt_id = pr->id;
    rec.category = pr->category;
    rec.rep = rep;
    rec.turn = 0;
    rec.seed = s->seeds[rep % s->n_seeds];
    db_sample_metrics *m = &rec.m;
    const bool ok = res->error == NULL;
    const double ms = 1e-6;
    /* token counts: the harness's own, and the server's (metrics) */
    /* (on the chat endpoint the server wraps the prompt in its template: its
     * own count is the only right one) */
    int harness_prompt = cr->chat ? -1 : count_tokens(in->tokenizer, cr->prompt_text[prompt_idx], true);
    m->n_prompt_tokens = harness_prompt >= 0 ? harness_prompt : res->usage_prompt_tokens > 0 ? res->usage_prompt_tokens : 0;
    int32_t *own = NULL;
    int n_own = 0;
    if (res->tokens) {
        rec.output_tokens = res->tokens;
        rec.n_output_tokens = res->n_tokens;
    } else if (in->tokenizer && res->text && res->text[0]) {
        own = tokenize_output(in->tokenizer, res->text, &n_own);
        rec.output_tokens = own;
        rec.n_output_tokens = n_own;
    }
    int chunk_tokens = 0;
    for (int i = 0; i < res->n_chunks; i++) chunk_tokens += res->chunk_tokens[i];
    m->new_tokens = res->tokens ? res->n_tokens : own ? n_own : chunk_tokens;
    m->acceptance_rate = NAN;
    m->mat = NAN;
    m->ttft_ms = m->latency_ms = m->tokens_per_s = m->tpot_ms = NAN;
    m->mask_p50_us = m->mask_p99_us = m->compile_ms = m->constraint_evals_per_token = NAN;
    m->target_tokens_per_token = m->draft_tokens_per_token = NAN;   /* a server's forwards are not seen */
    if (ok) {
        m->latency_ms = (double)(res->t_done_ns - res->t_sent_ns) * ms;
        if (res->t_first_ns >= 0) m->ttft_ms = (double)(res->t_first_ns - res->t_sent_ns) * ms;
        if (m->latency_ms > 0) m->tokens_per_s = m->new_tokens / (m->latency_ms / 1e3);
        if (m->new_tokens > 1 && !isnan(m->ttft_ms)) m->tpot_ms = (m->latency_ms - m->ttft_ms) / (m->new_tokens - 1);
        if (res->draft_n >= 0 && res->draft_n_accepted >= 0 && res->predicted_n > 1) {
            /* llama-server's draft counts: decoding steps after the first
             * token commit accepted + 1 tokens each (docs/metrics.md) */
            int steps = res->predicted_n - 1 - res->draft_n_accepted;
            m->drafted = res->draft_n;
            m->accepted = res->draft_n_accepted;
            m->acceptance_rate = res->draft_n > 0 ? (double)res->draft_n_accepted / res->draft_n : NAN;
            if (steps > 0) {
                m->n_commits = steps;
                m->mat = (double)(res->predicted_n - 1) / steps;
            }
        }
    }
    char stop[700];
    if (ok) snprintf(stop, sizeof stop, "%s", stop_reason_of(res));
    else snprintf(stop, sizeof stop, "error: %.680s", res->error);
    rec.stop_reason = stop;
    rec.output_text = res->text ? res->text : "";
    /* every chunk an ARRIVAL event: the inter-token latencies */
    db_event *ev = res->n_chunks > 0 ? calloc((size_t)res->n_chunks, sizeof *ev) : NULL;
    for (int i = 0; ev && i < res->n_chunks; i++) {
        ev[i].kind = DB_EV_ARRIVAL;
        ev[i].role = DB_ROLE_NONE;
        ev[i].step = i;
        ev[i].n_tokens = res->chunk_tokens[i];
        ev[i].t_start_ns = ev[i].t_end_ns = res->chunk_ns[i] - res->t_sent_ns;
    }
    rec.events = ev;
    rec.n_events = ev ? res->n_chunks : 0;
    /* named metrics */
    const char *names[32];
    double values[32];
    int n = 0;
#define PUT(nm, v) do { if (n < 32) { names[n] = (nm); values[n++] = (v); } } while (0)
    PUT("request_ok", ok ? 1 : 0);
    PUT("t_sent_s", (double)res->t_sent_ns * 1e-9);   /* from the start of the load */
    PUT("t_done_s", (double)res->t_done_ns * 1e-9);
    PUT("queue_delay_ms", (double)(res->t_sent_ns - res->t_scheduled_ns) * ms);
    if (res->http_status > 0) PUT("http_status", res->http_status);
    PUT("stream_chunks", res->n_chunks);
    if (res->usage_prompt_tokens >= 0) PUT("server_prompt_tokens", res->usage_prompt_tokens);
    if (res->usage_completion_tokens >= 0) PUT("server_completion_tokens", res->usage_completion_tokens);
    if (!isnan(res->prompt_ms)) PUT("server_prompt_ms", res->prompt_ms);
    if (!isnan(res->predicted_ms)) PUT("server_predicted_ms", res->predicted_ms);
    if (ok && !isnan(m->ttft_ms) && !isnan(res->prompt_ms)) PUT("ttft_minus_server_prompt_ms", m->ttft_ms - res->prompt_ms);
    if (ok && res->n_chunks > 1) {
        double mx = 0;
        for (int i = 1; i < res->n_chunks; i++) {
            double g = (double)(res->chunk_ns[i] - res->chunk_ns[i - 1]) * ms;
            if (g > mx) mx = g;
        }
        PUT("itl_max_ms", mx);
    }
    if (ok) {
        bool good = true;
        if (!isnan(s->slo_ttft_ms)) good = good && !isnan(m->ttft_ms) && m->ttft_ms <= s->slo_ttft_ms;
        if (!isnan(s->slo_tpot_ms)) good = good && (isnan(m->tpot_ms) || m->tpot_ms <= s->slo_tpot_ms);
        if (!isnan(s->slo_e2e_ms)) good = good && m->latency_ms <= s->slo_e2e_ms;
        if (!isnan(s->slo_ttft_ms) || !isnan(s->slo_tpot_ms) || !isnan(s->slo_e2e_ms)) PUT("slo_met", good);
    }
    db_quality q;
    char qerr[300];
    q.n = 0;
    if (ok && pr->constraint_json && db_quality_check(pr->constraint_json, rec.output_text, &q, qerr, sizeof qerr) == 0) {
        bool all = true;
        for (int i = 0; i < q.n; i++) {
            PUT(q.name[i], q.value[i]);
            if (strcmp(q.name[i], "keyword_coverage") != 0 && q.value[i] != 1.0) all = false;
        }
        if (q.n > 0) {
            PUT("output_compliant", all);
            PUT("compliance", all);
        }
    }
#undef PUT
    rec.metric_names = names;
    rec.metric_values = values;
    rec.n_metrics = n;
    int rc = 0;
    if (db_store_sample(in->st, in->case_id, &rec) != 0) {
        snprintf(cr->err, sizeof cr->err, "%s", db_store_errmsg(in->st));
        cr->store_failed = 1;
        rc = 1;
    } else {
        cr->n_stored++;
        if (in->on_sample) in->on_sample(in->ctx);
    }
    free(own);
    free(ev);
    return rc;
}

static int discard_result(void *ctx, db_lg_result *res) {
    (void)ctx;
    (void)res;
    return 0;
}

int db_serve_run_case(db_serve_pool *pool, const db_serve_case *in, int *n_stored, char *err, size_t errlen) {
    *n_stored = 0;
    const db_suite *s = pool->s;
    const db_case *c = in->c;
    const int si = c->se->server_idx;
    if (si < 0 || si >= s->n_servers) return db_errf(err, errlen, "%s: no server", c->label);
    const db_suite_server *sv = &s->servers[si];
    const db_suite_dataset *ds = &s->datasets[c->dataset];
    char ebuf[32];
    const char *endpoint = endpoint_of(sv, &c->params, ebuf, sizeof ebuf);
    if (strcmp(endpoint, "completion") == 0 && strcmp(sv->api, "llama.cpp") != 0)
        return db_errf(err, errlen, "%s: endpoint \"completion\" is llama-server's own; server '%s' has api \"%s\"",
                       c->label, sv->name, sv->api);
    if (in->n_prompts <= 0) return 0;
    const char *path = !strcmp(endpoint, "completion") ? "/completion"
                     : !strcmp(endpoint, "chat") ? "/v1/chat/completions" : "/v1/completions";
    const db_api_kind api = !strcmp(endpoint, "completion") ? DB_API_LLAMA_COMPLETION
                          : !strcmp(endpoint, "chat") ? DB_API_OPENAI_CHAT : DB_API_OPENAI_COMPLETIONS;

    /* the prompts as sent; a chat dataset on a completion endpoint needs the
     * model's chat template (the chat endpoint applies the server's) */
    case_run cr;
    memset(&cr, 0, sizeof cr);
    cr.pool = pool;
    cr.in = in;
    cr.ds = ds;
    cr.chat = strcmp(endpoint, "chat") == 0;
    cr.prompt_text = calloc((size_t)in->n_prompts, sizeof *cr.prompt_text);
    int rc = cr.prompt_text ? 0 : db_errf(err, errlen, "out of memory");
    for (int i = 0; rc == 0 && i < in->n_prompts; i++) {
        const db_prompt *pr = &ds->prompts[i];
        if (ds->chat && strcmp(endpoint, "chat") != 0) {
            if (!in->tokenizer)
                rc = db_errf(err, errlen, "%s: dataset '%s' has \"chat\": true; endpoint %s needs the chat template "
                             "of the server's \"model\" (or use endpoint \"chat\")", c->label, ds->name, endpoint);
            else {
                bool no_template = false;
                cr.prompt_text[i] = db_turn_text(in->tokenizer, ds, pr, 0, NULL, &no_template);
                if (!cr.prompt_text[i])
                    rc = no_template ? db_errf(err, errlen, "%s: dataset '%s': %s", c->label, ds->name,
                                               db_model_last_error(in->tokenizer))
                                     : db_errf(err, errlen, "out of memory");
            }
        } else if (!(cr.prompt_text[i] = db_strdup(pr->text))) {
            rc = db_errf(err, errlen, "out of memory");
        }
    }

    /* the requests still to send: slot = rep * n_prompts + prompt */
    const int n_req_param = db_params_int(&c->params, "requests");
    const int n_slots = n_req_param > 0 ? n_req_param : in->n_prompts * s->repetitions;
    char *have = calloc((size_t)n_slots + 1, 1);
    cr.req_slot = malloc(sizeof *cr.req_slot * ((size_t)n_slots + 1));
    db_lg_request *reqs = calloc((size_t)n_slots + 1, sizeof *reqs);
    char **bodies = calloc((size_t)n_slots + 1, sizeof *bodies);
    if (rc == 0 && (!have || !cr.req_slot || !reqs || !bodies)) rc = db_errf(err, errlen, "out of memory");
    for (int k = 0; rc == 0 && k < in->n_done; k++) {
        int slot = in->done[k].rep * in->n_prompts + in->done[k].prompt_idx;
        if (in->done[k].turn == 0 && slot >= 0 && slot < n_slots) have[slot] = 1;
    }
    int n_req = 0;
    char url[2048];
    if (rc == 0) rc = server_ready(pool, si, in->cancel, err, errlen);
    if (rc == 0) snprintf(url, sizeof url, "%s%s", pool->sv[si].base_url, path);
    const char *token = sv->api_key_env ? getenv(sv->api_key_env) : NULL;
    const char *model_name = c->target_model >= 0 ? s->models[c->target_model].name : NULL;
    for (int slot = 0; rc == 0 && slot < n_slots; slot++) {
        if (have[slot]) continue;
        const db_prompt *pr = &ds->prompts[slot % in->n_prompts];
        uint64_t seed = s->seeds[(slot / in->n_prompts) % s->n_seeds];
        bodies[n_req] = db_serve_request_body(s, sv, &c->params, endpoint, cr.prompt_text[slot % in->n_prompts],
                                              pr->constraint_json, pr->stop_json, seed, model_name);
        if (!bodies[n_req]) {
            rc = db_errf(err, errlen, "out of memory");
            break;
        }
        reqs[n_req] = (db_lg_request){ .url = url, .body = bodies[n_req], .api = api, .bearer_token = token };
        cr.req_slot[n_req] = slot;
        n_req++;
    }
    if (rc == 0 && n_req > 0 && s->warmup > 0) {
        /* the suite's warmup: that many requests one at a time, not recorded */
        db_lg_schedule w = db_lg_default_schedule();
        w.n_requests = s->warmup;
        w.timeout_s = db_params_num(&c->params, "timeout_s");
        db_lg_summary wsum;
        char e2[600];
        int wrc = db_loadgen_run(&w, reqs, n_req, discard_result, NULL, (volatile sig_atomic_t *)in->cancel, &wsum, e2,
                                 sizeof e2);
        if (wrc < 0) rc = db_errf(err, errlen, "%s: warmup: %s", c->label, e2);
        else if (wrc == 1) rc = 1;
    }
    if (rc == 0 && n_req > 0) {
        db_lg_schedule sch = db_lg_default_schedule();
        char lbuf[16];
        sch.mode = strcmp(db_params_choice(&c->params, "load", lbuf, sizeof lbuf), "open") == 0 ? DB_LG_OPEN : DB_LG_CLOSED;
        sch.concurrency = db_params_int(&c->params, "concurrency");
        double rate = db_params_num(&c->params, "rate");
        sch.rate = rate > 0 ? rate : INFINITY;
        sch.burstiness = db_params_num(&c->params, "burstiness");
        sch.seed = s->seeds[0];
        sch.n_requests = n_req;
        sch.duration_s = db_params_num(&c->params, "duration_s");
        sch.timeout_s = db_params_num(&c->params, "timeout_s");
        db_lg_summary sum;
        char e2[600];
        int lrc = db_loadgen_run(&sch, reqs, n_req, on_result, &cr, (volatile sig_atomic_t *)in->cancel, &sum, e2,
                                 sizeof e2);
        if (cr.store_failed) {
            db_errf(err, errlen, "%s", cr.err);
            rc = -2;
        }
        else if (lrc < 0) rc = db_errf(err, errlen, "%s: load generator: %s", c->label, e2);
        else if (lrc == 1 || (in->cancel && *in->cancel)) rc = 1;
    }
    *n_stored = cr.n_stored;
    for (int i = 0; i < n_req; i++) free(bodies[i]);
    free(bodies);
    free(reqs);
    free(have);
    free(cr.req_slot);
    for (int i = 0; cr.prompt_text && i < in->n_prompts; i++) free(cr.prompt_text[i]);
    free(cr.prompt_text);
    return rc;
}
