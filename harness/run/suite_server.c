/* suite_server.c — the "servers" and "slo" sections of a suite file
 * (serving benchmarks, docs/serving.md): parsed and checked here, with
 * errors naming the JSON path like the rest of the suite parser
 * (suite.c calls this file through suite_int.h; it calls nothing of
 * suite.c).
 *
 *   "servers": {
 *     "NAME": {
 *       "api": "llama.cpp" | "openai",
 *       "url": "http://HOST:PORT"                 (attach to a running server), or
 *       "command": ["{llama_bin}/llama-server", "-m", "{model:target}",
 *                   "--host", "{host}", "--port", "{port}"],   (decobench starts it)
 *       "env": {"NAME": "VALUE"},                 (a started server only)
 *       "model": "target",                        (the suite model it serves; optional)
 *       "served_model": "name",                   (OpenAI "model" field)
 *       "health": "/health", "ready_timeout_s": 300,
 *       "api_key_env": "OPENAI_API_KEY"           (the variable's name, never a key)
 *     }
 *   },
 *   "slo": {"ttft_ms": 500, "tpot_ms": 50, "e2e_ms": 10000}
 */
#include "suite_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

static int sfail(char *err, size_t errlen, const char *origin, const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
static int sfail(char *err, size_t errlen, const char *origin, const char *path, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return db_errf(err, errlen, "%s: %s: %s", origin, path, msg);
}

static bool printable_ascii(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return false;
    return true;
}

/* A placeholder in a command argument: {port} {host} {llama_bin}
 * {model:NAME} (NAME a suite model with a file).  Checks every one. */
static int check_placeholders(const char *arg, const db_suite *s, const char *origin, const char *path, char *err,
                              size_t errlen) {
    for (const char *p = strchr(arg, '{'); p; p = strchr(p + 1, '{')) {
        const char *q = strchr(p, '}');
        if (!q) return sfail(err, errlen, origin, path, "'{' without '}' in \"%s\"", arg);
        size_t n = (size_t)(q - p - 1);
        if ((n == 4 && !strncmp(p + 1, "port", 4)) || (n == 4 && !strncmp(p + 1, "host", 4)) ||
            (n == 9 && !strncmp(p + 1, "llama_bin", 9)))
            continue;
        if (n > 6 && !strncmp(p + 1, "model:", 6)) {
            int found = -1;
            for (int m = 0; m < s->n_models; m++)
                if (strlen(s->models[m].name) == n - 6 && !strncmp(s->models[m].name, p + 7, n - 6)) found = m;
            if (found < 0)
                return sfail(err, errlen, origin, path, "{model:%.*s}: no model named '%.*s' in $.models", (int)(n - 6),
                             p + 7, (int)(n - 6), p + 7);
            if (!s->models[found].path && !s->models[found].source)   /* a reference: resolved later */
                return sfail(err, errlen, origin, path, "{model:%s}: model '%s' has no file", s->models[found].name,
                             s->models[found].name);
            continue;
        }
        return sfail(err, errlen, origin, path, "unknown placeholder '{%.*s}' (known: {port}, {host}, {llama_bin}, {model:NAME})",
                     (int)n, p + 1);
    }
    return 0;
}

static int string_field(const cJSON *o, const char *key, const char *origin, const char *path, const char **out,
                        char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return 0;
    if (!cJSON_IsString(v))
        return sfail(err, errlen, origin, path, "\"%s\": expected a string, got %s", key, db_suite_json_type_name(v));
    if (!printable_ascii(v->valuestring))
        return sfail(err, errlen, origin, path, "\"%s\": control characters are not allowed", key);
    *out = v->valuestring;
    return 0;
}

static int parse_server(const cJSON *sj, db_suite *s, db_suite_server *sv, const char *origin, cJSON *out, char *err,
                        size_t errlen) {
    static const char *const keys[] = { "api", "url", "command", "env", "model", "served_model", "health",
                                        "ready_timeout_s", "api_key_env", NULL };
    char path[300];
    snprintf(path, sizeof path, "$.servers.%s", sj->string);
    if (!(sv->name = db_strdup(sj->string))) return db_errf(err, errlen, "out of memory");
    if (!sv->name[0]) return sfail(err, errlen, origin, path, "server name must not be empty");
    if (!printable_ascii(sv->name)) return sfail(err, errlen, origin, path, "control characters in the server name");
    if (!cJSON_IsObject(sj)) return sfail(err, errlen, origin, path, "expected an object, got %s", db_suite_json_type_name(sj));
    for (const cJSON *it = sj->child; it; it = it->next) {
        bool known = false;
        for (int i = 0; keys[i]; i++) known = known || !strcmp(keys[i], it->string);
        if (!known) return sfail(err, errlen, origin, path, "\"%s\": unknown key", it->string);
    }
    const char *api = NULL, *url = NULL, *model = NULL, *served = NULL, *health = "/health", *keyenv = NULL;
    if (string_field(sj, "api", origin, path, &api, err, errlen) || string_field(sj, "url", origin, path, &url, err, errlen) ||
        string_field(sj, "model", origin, path, &model, err, errlen) ||
        string_field(sj, "served_model", origin, path, &served, err, errlen) ||
        string_field(sj, "health", origin, path, &health, err, errlen) ||
        string_field(sj, "api_key_env", origin, path, &keyenv, err, errlen))
        return -1;
    if (!api) return sfail(err, errlen, origin, path, "\"api\" is required (\"llama.cpp\" or \"openai\")");
    if (strcmp(api, "llama.cpp") && strcmp(api, "openai"))
        return sfail(err, errlen, origin, path, "\"api\": expected \"llama.cpp\" or \"openai\", got \"%s\"", api);
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(sj, "command");
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(sj, "env");
    if (!url == !cmd)
        return sfail(err, errlen, origin, path, "give either \"url\" (a running server) or \"command\" (one decobench starts)");
    if (url && strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return sfail(err, errlen, origin, path, "\"url\": expected an http:// or https:// URL, got \"%s\"", url);
    if (url && env) return sfail(err, errlen, origin, path, "\"env\" is only for a server decobench starts (\"command\")");
    if (health[0] != '/') return sfail(err, errlen, origin, path, "\"health\": expected a path starting with '/', got \"%s\"", health);
    if (keyenv) {
        for (const char *q = keyenv; *q; q++)
            if (!((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'))
                return sfail(err, errlen, origin, path,
                             "\"api_key_env\": the name of an environment variable (letters, digits, '_'), not a key");
    }
    sv->ready_timeout_s = 300;
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(sj, "ready_timeout_s");
    if (rt) {
        if (!cJSON_IsNumber(rt) || !(rt->valuedouble > 0 && rt->valuedouble <= 86400))
            return sfail(err, errlen, origin, path, "\"ready_timeout_s\": expected a number of seconds in (0, 86400]");
        sv->ready_timeout_s = rt->valuedouble;
    }
    sv->model = -1;
    if (model) {
        for (int m = 0; m < s->n_models; m++)
            if (!strcmp(s->models[m].name, model)) sv->model = m;
        if (sv->model < 0) return sfail(err, errlen, origin, path, "\"model\": no model named '%s' in $.models", model);
        if (strcmp(s->models[sv->model].backend, "llama") != 0)
            return sfail(err, errlen, origin, path, "\"model\": '%s' is not a GGUF model (backend \"llama\")", model);
    }
    if (!(sv->api = db_strdup(api)) || !(sv->health = db_strdup(health)) || (url && !(sv->url = db_strdup(url))) ||
        (served && !(sv->served_model = db_strdup(served))) || (keyenv && !(sv->api_key_env = db_strdup(keyenv))))
        return db_errf(err, errlen, "out of memory");
    if (sv->url) {
        size_t n = strlen(sv->url);
        while (n > 0 && sv->url[n - 1] == '/') sv->url[--n] = 0;
    }
    cJSON *o = cJSON_AddObjectToObject(out, sv->name);
    if (!o) return db_errf(err, errlen, "out of memory");
    cJSON_AddStringToObject(o, "api", sv->api);
    if (sv->url) cJSON_AddStringToObject(o, "url", sv->url);
    if (cmd) {
        char cpath[340];
        snprintf(cpath, sizeof cpath, "%s.command", path);
        if (!cJSON_IsArray(cmd) || cJSON_GetArraySize(cmd) == 0)
            return sfail(err, errlen, origin, cpath, "expected a non-empty array of strings");
        int n = cJSON_GetArraySize(cmd);
        if (!(sv->command = calloc((size_t)n + 1, sizeof *sv->command))) return db_errf(err, errlen, "out of memory");
        cJSON *ca = cJSON_AddArrayToObject(o, "command");
        for (const cJSON *a = cmd->child; a; a = a->next) {
            char ap[360];
            snprintf(ap, sizeof ap, "%s[%d]", cpath, sv->n_command);
            if (!cJSON_IsString(a)) return sfail(err, errlen, origin, ap, "expected a string, got %s", db_suite_json_type_name(a));
            if (!printable_ascii(a->valuestring)) return sfail(err, errlen, origin, ap, "control characters are not allowed");
            if (sv->n_command == 0 && !a->valuestring[0]) return sfail(err, errlen, origin, ap, "the program must not be empty");
            if (check_placeholders(a->valuestring, s, origin, ap, err, errlen) != 0) return -1;
            if (!(sv->command[sv->n_command++] = db_strdup(a->valuestring))) return db_errf(err, errlen, "out of memory");
            cJSON_AddItemToArray(ca, cJSON_CreateString(a->valuestring));
        }
        bool has_port = false;
        for (int i = 1; i < sv->n_command; i++) has_port = has_port || strstr(sv->command[i], "{port}");
        if (!has_port)
            return sfail(err, errlen, origin, cpath,
                         "no argument holds {port}: decobench picks a free port on 127.0.0.1 and must tell the server");
    }
    if (env) {
        char epath[340];
        snprintf(epath, sizeof epath, "%s.env", path);
        if (!cJSON_IsObject(env)) return sfail(err, errlen, origin, epath, "expected an object of strings");
        int n = cJSON_GetArraySize(env);
        if (!(sv->env = calloc((size_t)n + 1, sizeof *sv->env))) return db_errf(err, errlen, "out of memory");
        cJSON *eo = cJSON_AddObjectToObject(o, "env");
        for (const cJSON *e = env->child; e; e = e->next) {
            if (!cJSON_IsString(e) || !e->string[0] || strchr(e->string, '=') || !printable_ascii(e->string) ||
                !printable_ascii(e->valuestring))
                return sfail(err, errlen, origin, epath, "\"%s\": expected NAME (no '=') with a string value", e->string);
            size_t len = strlen(e->string) + strlen(e->valuestring) + 2;
            if (!(sv->env[sv->n_env] = malloc(len))) return db_errf(err, errlen, "out of memory");
            snprintf(sv->env[sv->n_env++], len, "%s=%s", e->string, e->valuestring);
            cJSON_AddStringToObject(eo, e->string, e->valuestring);
        }
    }
    if (sv->model >= 0) cJSON_AddStringToObject(o, "model", s->models[sv->model].name);
    if (sv->served_model) cJSON_AddStringToObject(o, "served_model", sv->served_model);
    cJSON_AddStringToObject(o, "health", sv->health);
    cJSON_AddNumberToObject(o, "ready_timeout_s", sv->ready_timeout_s);
    if (sv->api_key_env) cJSON_AddStringToObject(o, "api_key_env", sv->api_key_env);
    return 0;
}

int db_suite_parse_servers(const cJSON *servers, const cJSON *slo, db_suite *s, const char *origin, cJSON *out,
                           char *err, size_t errlen) {
    s->slo_ttft_ms = s->slo_tpot_ms = s->slo_e2e_ms = NAN;
    if (servers) {
        if (!cJSON_IsObject(servers))
            return sfail(err, errlen, origin, "$.servers", "expected an object, got %s", db_suite_json_type_name(servers));
        int n = cJSON_GetArraySize(servers);
        if (n > 0 && !(s->servers = calloc((size_t)n, sizeof *s->servers))) return db_errf(err, errlen, "out of memory");
        cJSON *so = cJSON_AddObjectToObject(out, "servers");
        if (!so) return db_errf(err, errlen, "out of memory");
        for (const cJSON *sj = servers->child; sj; sj = sj->next) {
            for (int i = 0; i < s->n_servers; i++)
                if (!strcmp(s->servers[i].name, sj->string))
                    return sfail(err, errlen, origin, "$.servers", "duplicate server '%s'", sj->string);
            db_suite_server *sv = &s->servers[s->n_servers++];
            if (parse_server(sj, s, sv, origin, so, err, errlen) != 0) return -1;
        }
    }
    if (slo) {
        if (!cJSON_IsObject(slo)) return sfail(err, errlen, origin, "$.slo", "expected an object, got %s", db_suite_json_type_name(slo));
        cJSON *o = cJSON_AddObjectToObject(out, "slo");
        for (const cJSON *it = slo->child; it; it = it->next) {
            double *dst = !strcmp(it->string, "ttft_ms") ? &s->slo_ttft_ms
                        : !strcmp(it->string, "tpot_ms") ? &s->slo_tpot_ms
                        : !strcmp(it->string, "e2e_ms") ? &s->slo_e2e_ms : NULL;
            char p[300];
            snprintf(p, sizeof p, "$.slo.%s", it->string);
            if (!dst) return sfail(err, errlen, origin, p, "unknown key (known: ttft_ms, tpot_ms, e2e_ms)");
            if (!cJSON_IsNumber(it) || !(it->valuedouble > 0) || !isfinite(it->valuedouble))
                return sfail(err, errlen, origin, p, "expected a positive number of milliseconds");
            *dst = it->valuedouble;
            cJSON_AddNumberToObject(o, it->string, it->valuedouble);
        }
    }
    return 0;
}

void db_suite_servers_free(db_suite *s) {
    for (int i = 0; i < s->n_servers; i++) {
        db_suite_server *sv = &s->servers[i];
        free(sv->name);
        free(sv->api);
        free(sv->url);
        for (int k = 0; k < sv->n_command; k++) free(sv->command[k]);
        free(sv->command);
        for (int k = 0; k < sv->n_env; k++) free(sv->env[k]);
        free(sv->env);
        free(sv->served_model);
        free(sv->health);
        free(sv->api_key_env);
    }
    free(s->servers);
    s->servers = NULL;
    s->n_servers = 0;
}
