/* suite.c — parsing and validation of suite files (cJSON) and expansion of
 * a suite into the ordered list of cases; the datasets a suite names are
 * read by dataset.c, the files it names by reference (hf:..., URLs) are
 * resolved by suite_fetch.c.  The format is documented in docs/suite-format.md.
 *
 * Every error is one line: "ORIGIN: $.json.path: problem" (or
 * "FILE:LINE: problem" for prompt files, "ORIGIN:LINE:COL: ..." for
 * malformed JSON).
 */
#include "suite.h"
#include "suite_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "counters.h"
#include "harness/util/jsonlimits.h"
#include "harness/util/sha256.h"
#include "harness/util/util.h"

#define MAX_CASES 1000000
#define MAX_SEEDS 10000
#define MAX_SAFE_INT 9007199254740991.0   /* 2^53 - 1: exact in a JSON number */

/* ---- suite ----------------------------------------------------------- */

static int find_model(const db_suite *s, const char *name) {
    for (int i = 0; i < s->n_models; i++)
        if (strcmp(s->models[i].name, name) == 0) return i;
    return -1;
}

static int find_dataset(const db_suite *s, const char *name) {
    for (int i = 0; i < s->n_datasets; i++)
        if (strcmp(s->datasets[i].name, name) == 0) return i;
    return -1;
}

static void free_engine(db_suite_engine *e) {
    free(e->engine);
    free(e->label);
    free(e->target);
    free(e->draft);
    free(e->server);
    db_sj_free_list(e->fixed_names, e->n_fixed);
    db_sj_free_list(e->fixed_values, e->n_fixed);
    for (int a = 0; a < e->n_axes; a++) {
        free(e->axes[a].param);
        db_sj_free_list(e->axes[a].values, e->axes[a].n_values);
    }
    free(e->axes);
    db_sj_free_list(e->datasets, e->n_datasets);
}

void db_suite_free(db_suite *s) {
    if (!s) return;
    free(s->path);
    free(s->name);
    free(s->description);
    free(s->json);
    for (int i = 0; i < s->n_models; i++) {
        db_suite_model *m = &s->models[i];
        free(m->name);
        free(m->backend);
        free(m->path);
        free(m->sha256);
        free(m->source);
        free(m->revision);
        free(m->exact_spec);
        free(m->rpc);
    }
    free(s->models);
    for (int i = 0; i < s->n_datasets; i++) {
        db_suite_dataset *d = &s->datasets[i];
        free(d->name);
        free(d->path);
        free(d->sha256);
        free(d->source);
        free(d->revision);
        free(d->category);
        db_prompts_free(d->prompts, d->n_prompts);
    }
    free(s->datasets);
    for (int i = 0; i < s->n_engines; i++) free_engine(&s->engines[i]);
    free(s->engines);
    db_suite_servers_free(s);
    free(s->baseline);
    free(s->seeds);
    free(s->pin);
    db_sj_free_list(s->papi_events, s->n_papi_events);
    free(s);
}

/* "rpc": ["host:port", ...] — ggml RPC servers a GGUF model's layers go to
 * (llama.cpp's --rpc); joined with ',' into *out */
static int parse_rpc(db_suite_ctx *c, const cJSON *mj, const char *path, int exact, char **out) {
    const cJSON *arr = NULL;
    if (db_sj_get_array(c, mj, "rpc", path, false, &arr) != 0) return -1;
    if (!arr) return 0;
    char p[600];
    db_sj_child_path(p, sizeof p, path, "rpc");
    if (exact) return db_sj_fail(c, p, "only for GGUF models (backend \"llama\")");
    int n = cJSON_GetArraySize(arr);
    if (n < 1 || n > 16) return db_sj_fail(c, p, "expected 1 to 16 \"host:port\" strings");
    db_str b;
    db_str_init(&b);
    int i = 0;
    for (const cJSON *v = arr->child; v; v = v->next, i++) {
        char ip[640];
        db_sj_index_path(ip, sizeof ip, p, i);
        const char *colon = cJSON_IsString(v) ? strrchr(v->valuestring, ':') : NULL;
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon == v->valuestring || !colon[1] || *end || port < 1 || port > 65535 ||
            strpbrk(v->valuestring, ", \t\r\n")) {
            db_str_free(&b);
            return db_sj_fail(c, ip, "expected \"host:port\", got %s", cJSON_IsString(v) ? v->valuestring : db_suite_json_type_name(v));
        }
        db_str_printf(&b, "%s%s", i ? "," : "", v->valuestring);
    }
    *out = db_str_take(&b);
    return *out ? 0 : db_sj_fail(c, p, "out of memory");
}

static int parse_models(db_suite_ctx *c, db_suite *s, const cJSON *models, cJSON *out) {
    static const char *const keys[] = { "backend", "path", "source", "revision", "sha256", "spec", "n_gpu_layers",
                                        "n_ctx", "rpc", NULL };
    if (db_sj_check_keys(c, models, "$.models", NULL) != 0) return -1;
    int n = cJSON_GetArraySize(models);
    if (n == 0 && !c->servers) return db_sj_fail(c, "$.models", "at least one model is required");
    s->models = calloc((size_t)(n ? n : 1), sizeof *s->models);
    if (!s->models) return db_sj_fail(c, "$.models", "out of memory");
    for (const cJSON *mj = models->child; mj; mj = mj->next) {
        db_suite_model *m = &s->models[s->n_models++];
        char path[512], p[560];
        db_sj_child_path(path, sizeof path, "$.models", mj->string);
        if (!(m->name = db_strdup(mj->string))) return db_sj_fail(c, path, "out of memory");
        if (!m->name[0]) return db_sj_fail(c, path, "model name must not be empty");
        if (!cJSON_IsObject(mj)) return db_sj_fail(c, path, "expected an object, got %s", db_suite_json_type_name(mj));
        if (db_sj_check_keys(c, mj, path, keys) != 0) return -1;
        const char *backend = "llama", *sha = NULL, *spec = NULL;
        if (db_sj_get_string(c, mj, "backend", path, false, &backend) != 0) return -1;
        db_sj_child_path(p, sizeof p, path, "backend");
        if (strcmp(backend, "llama") != 0 && strcmp(backend, "exact") != 0)
            return db_sj_fail(c, p, "expected \"llama\" or \"exact\", got \"%s\"", backend);
        int exact = strcmp(backend, "exact") == 0;
        if (db_sj_get_string(c, mj, "sha256", path, false, &sha) != 0) return -1;
        if (db_sj_get_string(c, mj, "spec", path, exact, &spec) != 0) return -1;
        for (int k = 0; exact && k < 2; k++)
            if (cJSON_GetObjectItemCaseSensitive(mj, k ? "source" : "path")) {
                db_sj_child_path(p, sizeof p, path, k ? "source" : "path");
                return db_sj_fail(c, p, "backend \"exact\" takes a \"spec\", not a file");
            }
        if (!exact && spec) {
            db_sj_child_path(p, sizeof p, path, "spec");
            return db_sj_fail(c, p, "only for backend \"exact\"");
        }
        if (exact && sha) {
            db_sj_child_path(p, sizeof p, path, "sha256");
            return db_sj_fail(c, p, "only for models with a file");
        }
        m->n_gpu_layers = 0;
        m->n_ctx = 0;
        if (db_sj_get_int(c, mj, "n_gpu_layers", path, -1, 100000, &m->n_gpu_layers) != 0) return -1;
        if (db_sj_get_int(c, mj, "n_ctx", path, 0, 16777216, &m->n_ctx) != 0) return -1;
        if (parse_rpc(c, mj, path, exact, &m->rpc) != 0) return -1;
        if (!(m->backend = db_strdup(backend))) return db_sj_fail(c, path, "out of memory");
        if (spec && !(m->exact_spec = db_strdup(spec))) return db_sj_fail(c, path, "out of memory");
        if (db_sj_entry_file(c, mj, path, !exact, &m->path, &m->source, &m->revision) != 0) return -1;
        if (db_sj_entry_sha256(c, path, sha, "model", m->name, m->path, &m->sha256) != 0) return -1;
        cJSON *o = cJSON_AddObjectToObject(out, m->name);
        if (!o) return db_sj_fail(c, path, "out of memory");
        cJSON_AddStringToObject(o, "backend", m->backend);
        db_suite_canon_file_keys(o, m->path, m->source, m->sha256);
        if (m->exact_spec) cJSON_AddStringToObject(o, "spec", m->exact_spec);
        cJSON_AddNumberToObject(o, "n_gpu_layers", m->n_gpu_layers);
        cJSON_AddNumberToObject(o, "n_ctx", m->n_ctx);
        if (m->rpc) {
            cJSON *ra = cJSON_AddArrayToObject(o, "rpc");
            for (const char *q = m->rpc; ra && *q;) {
                const char *e = strchr(q, ',');
                size_t len = e ? (size_t)(e - q) : strlen(q);
                char *one = db_strndup(q, len);
                if (one) cJSON_AddItemToArray(ra, cJSON_CreateString(one));
                free(one);
                q = e ? e + 1 : q + len;
            }
        }
    }
    return 0;
}

static int parse_datasets(db_suite_ctx *c, db_suite *s, const cJSON *datasets, cJSON *out) {
    static const char *const keys[] = { "path", "source", "revision", "sha256", "category", "limit", "chat", NULL };
    if (db_sj_check_keys(c, datasets, "$.datasets", NULL) != 0) return -1;
    int n = cJSON_GetArraySize(datasets);
    if (n == 0) return db_sj_fail(c, "$.datasets", "at least one dataset is required");
    s->datasets = calloc((size_t)n, sizeof *s->datasets);
    if (!s->datasets) return db_sj_fail(c, "$.datasets", "out of memory");
    for (const cJSON *dj = datasets->child; dj; dj = dj->next) {
        db_suite_dataset *d = &s->datasets[s->n_datasets++];
        char path[512], p[560];
        db_sj_child_path(path, sizeof path, "$.datasets", dj->string);
        if (!(d->name = db_strdup(dj->string))) return db_sj_fail(c, path, "out of memory");
        if (!d->name[0]) return db_sj_fail(c, path, "dataset name must not be empty");
        if (!cJSON_IsObject(dj)) return db_sj_fail(c, path, "expected an object, got %s", db_suite_json_type_name(dj));
        if (db_sj_check_keys(c, dj, path, keys) != 0) return -1;
        const char *sha = NULL, *cat = NULL;
        if (db_sj_get_string(c, dj, "sha256", path, false, &sha) != 0) return -1;
        if (db_sj_get_string(c, dj, "category", path, false, &cat) != 0) return -1;
        if (db_sj_get_int(c, dj, "limit", path, 0, 100000000, &d->limit) != 0) return -1;
        d->chat = false;
        if (db_sj_get_bool(c, dj, "chat", path, &d->chat) != 0) return -1;
        if (!(d->category = db_strdup(cat ? cat : d->name))) return db_sj_fail(c, path, "out of memory");
        if (db_sj_entry_file(c, dj, path, true, &d->path, &d->source, &d->revision) != 0) return -1;
        if (db_sj_entry_sha256(c, path, sha, "dataset", d->name, d->path, &d->sha256) != 0) return -1;
        char e2[768];
        db_sj_child_path(p, sizeof p, path, "path");
        if (d->path && db_prompts_load(d->path, d->category, d->limit, &d->prompts, &d->n_prompts, e2, sizeof e2) != 0)
            return db_sj_fail(c, p, "%s", e2);   /* a reference's prompts: once it is resolved */
        cJSON *o = cJSON_AddObjectToObject(out, d->name);
        if (!o) return db_sj_fail(c, path, "out of memory");
        db_suite_canon_file_keys(o, d->path, d->source, d->sha256);
        cJSON_AddStringToObject(o, "category", d->category);
        cJSON_AddNumberToObject(o, "limit", d->limit);
        cJSON_AddBoolToObject(o, "chat", d->chat);
    }
    return 0;
}

static int set_param(db_suite_ctx *c, const char *path, db_params *p, const char *name, const char *value) {
    char e2[512];
    if (db_params_set(p, name, value, e2, sizeof e2) != 0) return db_sj_fail(c, path, "%s", e2);
    return 0;
}

static int parse_engine(db_suite_ctx *c, db_suite *s, const cJSON *ej, int idx, cJSON *out) {
    static const char *const keys[] = { "engine", "label", "target", "draft", "server", "params", "grid", "datasets",
                                        NULL };
    db_suite_engine *e = &s->engines[idx];
    char path[64], p[512];
    db_sj_index_path(path, sizeof path, "$.engines", idx);
    if (!cJSON_IsObject(ej)) return db_sj_fail(c, path, "expected an object, got %s", db_suite_json_type_name(ej));
    if (db_sj_check_keys(c, ej, path, keys) != 0) return -1;
    const char *name = NULL, *label = NULL, *target = NULL, *draft = NULL, *server = NULL;
    if (db_sj_get_string(c, ej, "engine", path, true, &name) != 0) return -1;
    db_sj_child_path(p, sizeof p, path, "engine");
    e->def = db_engine_find(name);
    if (!e->def) {
        db_str known;
        db_str_init(&known);
        for (int i = 0; i < db_engine_count; i++)
            db_str_printf(&known, "%s%s", i ? ", " : "", db_engine_registry[i]->name);
        db_sj_fail(c, p, "unknown engine '%s' (known: %s)", name, known.s ? known.s : "none");
        db_str_free(&known);
        return -1;
    }
    if (db_sj_get_string(c, ej, "label", path, false, &label) != 0) return -1;
    if (db_sj_get_string(c, ej, "target", path, false, &target) != 0) return -1;
    if (db_sj_get_string(c, ej, "draft", path, false, &draft) != 0) return -1;
    if (!(e->engine = db_strdup(name)) || !(e->label = db_strdup(label ? label : name)))
        return db_sj_fail(c, path, "out of memory");
    for (int j = 0; j < idx; j++)
        if (strcmp(s->engines[j].label, e->label) == 0) {
            db_sj_child_path(p, sizeof p, path, label ? "label" : "engine");
            return db_sj_fail(c, p, "duplicate label '%s' (also $.engines[%d]); give each entry a distinct \"label\"",
                        e->label, j);
        }

    /* a serving engine's server; its model is the entry's default target */
    if (db_sj_get_string(c, ej, "server", path, false, &server) != 0) return -1;
    db_sj_child_path(p, sizeof p, path, "server");
    e->server_idx = -1;
    if (e->def->serving) {
        if (!server) return db_sj_fail(c, p, "required: engine '%s' sends its requests to a server of $.servers", e->engine);
        for (int k = 0; k < s->n_servers; k++)
            if (!strcmp(s->servers[k].name, server)) e->server_idx = k;
        if (e->server_idx < 0) return db_sj_fail(c, p, "no server named '%s' in $.servers", server);
        if (!(e->server = db_strdup(server))) return db_sj_fail(c, p, "out of memory");
        const db_suite_server *sv = &s->servers[e->server_idx];
        if (!target && sv->model >= 0) target = s->models[sv->model].name;
        if (target && sv->model >= 0 && strcmp(target, s->models[sv->model].name) != 0) {
            db_sj_child_path(p, sizeof p, path, "target");
            return db_sj_fail(c, p, "server '%s' serves model '%s', not '%s'", server, s->models[sv->model].name, target);
        }
    } else if (server) {
        return db_sj_fail(c, p, "engine '%s' runs in-process; only a serving engine (\"serve\") takes a server", e->engine);
    }

    /* models */
    db_sj_child_path(p, sizeof p, path, "target");
    if (e->def->serving && !target) {
        /* a server that names no model: no tokenizer, no identity check */
    } else if (!target) {
        if (find_model(s, "target") >= 0) target = "target";
        else if (s->n_models == 1) target = s->models[0].name;
        else return db_sj_fail(c, p, "required: no model is named \"target\" and there are several models");
    }
    if (target && find_model(s, target) < 0) return db_sj_fail(c, p, "no model named '%s' in $.models", target);
    if (target && !(e->target = db_strdup(target))) return db_sj_fail(c, p, "out of memory");
    db_sj_child_path(p, sizeof p, path, "draft");
    if (e->def->needs_draft) {
        if (!draft) return db_sj_fail(c, p, "required: engine '%s' needs a draft model", e->engine);
        if (find_model(s, draft) < 0) return db_sj_fail(c, p, "no model named '%s' in $.models", draft);
        if (!(e->draft = db_strdup(draft))) return db_sj_fail(c, p, "out of memory");
    } else if (draft) {
        return db_sj_fail(c, p, "engine '%s' takes no draft model", e->engine);
    }

    /* fixed params */
    db_params base;
    db_params_defaults(&base, e->def->params, e->def->n_params);
    const cJSON *params = NULL, *grid = NULL, *dsets = NULL;
    if (db_sj_get_object(c, ej, "params", path, false, &params) != 0) return -1;
    if (db_sj_get_object(c, ej, "grid", path, false, &grid) != 0) return -1;
    if (db_sj_get_array(c, ej, "datasets", path, false, &dsets) != 0) return -1;
    char ppath[512];
    db_sj_child_path(ppath, sizeof ppath, path, "params");
    cJSON *eo = cJSON_CreateObject();
    if (!eo) return db_sj_fail(c, path, "out of memory");
    cJSON_AddItemToArray(out, eo);
    cJSON_AddStringToObject(eo, "engine", e->engine);
    cJSON_AddStringToObject(eo, "label", e->label);
    if (e->target) cJSON_AddStringToObject(eo, "target", e->target);
    if (e->server) cJSON_AddStringToObject(eo, "server", e->server);
    if (e->draft) cJSON_AddStringToObject(eo, "draft", e->draft);
    cJSON *po = cJSON_AddObjectToObject(eo, "params");
    cJSON *go = cJSON_AddObjectToObject(eo, "grid");
    if (!po || !go) return db_sj_fail(c, path, "out of memory");
    if (params) {
        if (db_sj_check_keys(c, params, ppath, NULL) != 0) return -1;
        int n = cJSON_GetArraySize(params);
        e->fixed_names = calloc((size_t)(n ? n : 1), sizeof(char *));
        e->fixed_values = calloc((size_t)(n ? n : 1), sizeof(char *));
        if (!e->fixed_names || !e->fixed_values) return db_sj_fail(c, ppath, "out of memory");
        for (const cJSON *it = params->child; it; it = it->next) {
            char vp[600], text[1024];
            db_sj_child_path(vp, sizeof vp, ppath, it->string);
            if (db_sj_scalar_text(it, text, sizeof text) != 0)
                return db_sj_fail(c, vp, "expected a number, string or boolean, got %s", db_suite_json_type_name(it));
            if (set_param(c, vp, &base, it->string, text) != 0) return -1;
            e->fixed_names[e->n_fixed] = db_strdup(it->string);
            e->fixed_values[e->n_fixed] = db_strdup(text);
            e->n_fixed++;
            if (!e->fixed_names[e->n_fixed - 1] || !e->fixed_values[e->n_fixed - 1])
                return db_sj_fail(c, vp, "out of memory");
            cJSON_AddItemToObject(po, it->string, cJSON_Duplicate(it, 1));
        }
    }

    /* grid */
    if (grid) {
        char gpath[512];
        db_sj_child_path(gpath, sizeof gpath, path, "grid");
        if (db_sj_check_keys(c, grid, gpath, NULL) != 0) return -1;
        int n = cJSON_GetArraySize(grid);
        e->axes = calloc((size_t)(n ? n : 1), sizeof *e->axes);
        if (!e->axes) return db_sj_fail(c, gpath, "out of memory");
        for (const cJSON *ax = grid->child; ax; ax = ax->next) {
            char apath[600];
            db_sj_child_path(apath, sizeof apath, gpath, ax->string);
            if (!db_params_find(e->def->params, e->def->n_params, ax->string)) {
                db_params tmp = base;
                return set_param(c, apath, &tmp, ax->string, "0");   /* "unknown parameter ..." */
            }
            if (params && cJSON_GetObjectItemCaseSensitive(params, ax->string))
                return db_sj_fail(c, apath, "parameter '%s' is also set in \"params\"", ax->string);
            if (!cJSON_IsArray(ax) || cJSON_GetArraySize(ax) == 0)
                return db_sj_fail(c, apath, "expected a non-empty array of numbers, strings or booleans, got %s",
                            cJSON_IsArray(ax) ? "an empty array" : db_suite_json_type_name(ax));
            db_grid_axis *a = &e->axes[e->n_axes++];
            int nv = cJSON_GetArraySize(ax);
            if (!(a->param = db_strdup(ax->string)) || !(a->values = calloc((size_t)nv, sizeof(char *))))
                return db_sj_fail(c, apath, "out of memory");
            int i = 0;
            for (const cJSON *v = ax->child; v; v = v->next, i++) {
                char vp[640], text[1024];
                db_sj_index_path(vp, sizeof vp, apath, i);
                if (db_sj_scalar_text(v, text, sizeof text) != 0)
                    return db_sj_fail(c, vp, "expected a number, string or boolean, got %s", db_suite_json_type_name(v));
                db_params tmp = base;
                if (set_param(c, vp, &tmp, a->param, text) != 0) return -1;
                for (int j = 0; j < a->n_values; j++)
                    if (strcmp(a->values[j], text) == 0) return db_sj_fail(c, vp, "duplicate value '%s'", text);
                if (!(a->values[a->n_values] = db_strdup(text))) return db_sj_fail(c, vp, "out of memory");
                a->n_values++;
            }
            cJSON_AddItemToObject(go, ax->string, cJSON_Duplicate(ax, 1));
        }
    }

    /* datasets */
    cJSON *dout = cJSON_AddArrayToObject(eo, "datasets");
    if (!dout) return db_sj_fail(c, path, "out of memory");
    if (dsets) {
        char dpath[512];
        db_sj_child_path(dpath, sizeof dpath, path, "datasets");
        if (cJSON_GetArraySize(dsets) == 0) return db_sj_fail(c, dpath, "must not be empty (leave it out for all datasets)");
        if (db_sj_get_string_list(c, dsets, dpath, 0, &e->datasets, &e->n_datasets) != 0) return -1;
        for (int i = 0; i < e->n_datasets; i++) {
            char ip[560];
            db_sj_index_path(ip, sizeof ip, dpath, i);
            if (find_dataset(s, e->datasets[i]) < 0)
                return db_sj_fail(c, ip, "no dataset named '%s' in $.datasets", e->datasets[i]);
            cJSON_AddItemToArray(dout, cJSON_CreateString(e->datasets[i]));
        }
    } else {
        for (int i = 0; i < s->n_datasets; i++) cJSON_AddItemToArray(dout, cJSON_CreateString(s->datasets[i].name));
    }
    return 0;
}

/* Case label: engine label plus "param=value" for axes with several values. */
static char *case_label(const db_suite_engine *e, const int *point) {
    db_str b;
    db_str_init(&b);
    db_str_append(&b, e->label);
    for (int a = 0; a < e->n_axes; a++)
        if (e->axes[a].n_values > 1) db_str_printf(&b, " %s=%s", e->axes[a].param, e->axes[a].values[point[a]]);
    return db_str_take(&b);
}

static int parse_seeds(db_suite_ctx *c, db_suite *s, const cJSON *root) {
    const cJSON *arr = NULL;
    if (db_sj_get_array(c, root, "seeds", "$", false, &arr) != 0) return -1;
    if (!arr) {
        s->seeds = malloc(sizeof *s->seeds);
        if (!s->seeds) return db_sj_fail(c, "$.seeds", "out of memory");
        s->seeds[0] = 1234;
        s->n_seeds = 1;
        return 0;
    }
    int n = cJSON_GetArraySize(arr);
    if (n == 0 || n > MAX_SEEDS) return db_sj_fail(c, "$.seeds", "expected 1 to %d seeds, got %d", MAX_SEEDS, n);
    s->seeds = calloc((size_t)n, sizeof *s->seeds);
    if (!s->seeds) return db_sj_fail(c, "$.seeds", "out of memory");
    int i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        char p[64];
        db_sj_index_path(p, sizeof p, "$.seeds", i);
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble != floor(it->valuedouble) ||
            it->valuedouble < 0 || it->valuedouble > MAX_SAFE_INT) {
            char t[64] = "";
            if (cJSON_IsNumber(it)) db_suite_num_text(it->valuedouble, t, sizeof t);
            return db_sj_fail(c, p, "expected an integer in [0, 9007199254740991], got %s%s%s", db_suite_json_type_name(it),
                        t[0] ? " " : "", t);
        }
        s->seeds[s->n_seeds++] = (uint64_t)it->valuedouble;
    }
    return 0;
}

static const char *const default_papi_events[] = {
    "PAPI_TOT_INS", "PAPI_TOT_CYC", "perf::TASK-CLOCK", "perf::PAGE-FAULTS", "perf::CONTEXT-SWITCHES",
};

/* Name from the origin: basename without its extension. */
static char *name_from_origin(const char *origin) {
    const char *b = strrchr(origin, '/');
    b = b ? b + 1 : origin;
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    return n ? db_strndup(b, n) : db_strdup("suite");
}

static int parse_root(db_suite_ctx *c, db_suite *s, const cJSON *root, cJSON *out) {
    static const char *const keys[] = {
        "name", "description", "models", "datasets", "engines", "baseline", "max_new_tokens",
        "repetitions", "warmup", "seeds", "threads", "pin", "papi_events", "stop_at_eog", "scorer", "servers", "slo",
        NULL,
    };
    if (!cJSON_IsObject(root)) return db_sj_fail(c, "$", "expected an object, got %s", db_suite_json_type_name(root));
    if (db_sj_check_keys(c, root, "$", keys) != 0) return -1;

    const char *name = NULL, *desc = NULL, *baseline = NULL, *pin = "none", *scorer = NULL;
    if (db_sj_get_string(c, root, "name", "$", false, &name) != 0) return -1;
    const cJSON *dv = cJSON_GetObjectItemCaseSensitive(root, "description");
    if (dv && !cJSON_IsString(dv)) return db_sj_fail(c, "$.description", "expected a string, got %s", db_suite_json_type_name(dv));
    desc = dv ? dv->valuestring : "";
    s->name = name ? db_strdup(name) : name_from_origin(c->origin);
    s->description = db_strdup(desc);
    if (!s->name || !s->description) return db_sj_fail(c, "$", "out of memory");

    /* run settings first: cheap checks before any file is touched */
    s->max_new_tokens = 64;
    s->repetitions = 1;
    s->warmup = 1;
    s->threads = 0;
    s->stop_at_eog = true;
    s->scorer = -1;
    if (db_sj_get_int(c, root, "max_new_tokens", "$", 1, 65536, &s->max_new_tokens) != 0) return -1;
    if (db_sj_get_int(c, root, "repetitions", "$", 1, 10000, &s->repetitions) != 0) return -1;
    if (db_sj_get_int(c, root, "warmup", "$", 0, 1000, &s->warmup) != 0) return -1;
    if (db_sj_get_int(c, root, "threads", "$", 0, 1024, &s->threads) != 0) return -1;
    if (db_sj_get_bool(c, root, "stop_at_eog", "$", &s->stop_at_eog) != 0) return -1;
    if (db_sj_get_string(c, root, "pin", "$", false, &pin) != 0) return -1;
    if (strcmp(pin, "none") != 0 && strcmp(pin, "cores") != 0 && strcmp(pin, "compact") != 0)
        return db_sj_fail(c, "$.pin", "expected \"none\", \"cores\" or \"compact\", got \"%s\"", pin);
    if (!(s->pin = db_strdup(pin))) return db_sj_fail(c, "$.pin", "out of memory");
    if (parse_seeds(c, s, root) != 0) return -1;
    const cJSON *ev = NULL;
    if (db_sj_get_array(c, root, "papi_events", "$", false, &ev) != 0) return -1;
    if (ev) {
        if (cJSON_GetArraySize(ev) > DB_MAX_COUNTERS)
            return db_sj_fail(c, "$.papi_events", "at most %d events, got %d", DB_MAX_COUNTERS, cJSON_GetArraySize(ev));
        if (db_sj_get_string_list(c, ev, "$.papi_events", 63, &s->papi_events, &s->n_papi_events) != 0) return -1;
    } else {
        int n = (int)(sizeof default_papi_events / sizeof *default_papi_events);
        s->papi_events = calloc((size_t)n, sizeof(char *));
        if (!s->papi_events) return db_sj_fail(c, "$.papi_events", "out of memory");
        for (int i = 0; i < n; i++) {
            if (!(s->papi_events[i] = db_strdup(default_papi_events[i])))
                return db_sj_fail(c, "$.papi_events", "out of memory");
            s->n_papi_events++;
        }
    }
    if (db_sj_get_string(c, root, "baseline", "$", false, &baseline) != 0) return -1;
    if (db_sj_get_string(c, root, "scorer", "$", false, &scorer) != 0) return -1;

    const cJSON *models = NULL, *datasets = NULL, *engines = NULL;
    if (db_sj_get_object(c, root, "models", "$", true, &models) != 0) return -1;
    if (db_sj_get_object(c, root, "datasets", "$", true, &datasets) != 0) return -1;
    if (db_sj_get_array(c, root, "engines", "$", true, &engines) != 0) return -1;

    cJSON_AddStringToObject(out, "name", s->name);
    cJSON_AddStringToObject(out, "description", s->description);
    cJSON *mo = cJSON_AddObjectToObject(out, "models");
    cJSON *dso = cJSON_AddObjectToObject(out, "datasets");
    cJSON *eo = cJSON_AddArrayToObject(out, "engines");
    if (!mo || !dso || !eo) return db_sj_fail(c, "$", "out of memory");
    c->servers = cJSON_GetObjectItemCaseSensitive(root, "servers") != NULL;
    if (parse_models(c, s, models, mo) != 0) return -1;
    if (db_suite_parse_servers(cJSON_GetObjectItemCaseSensitive(root, "servers"),
                               cJSON_GetObjectItemCaseSensitive(root, "slo"), s, c->origin, out, c->err,
                               c->errlen) != 0)
        return -1;
    if (parse_datasets(c, s, datasets, dso) != 0) return -1;
    s->scorer = -1;
    if (scorer) {
        s->scorer = find_model(s, scorer);
        if (s->scorer < 0) return db_sj_fail(c, "$.scorer", "no model named '%s' in $.models", scorer);
    }

    int ne = cJSON_GetArraySize(engines);
    if (ne == 0) return db_sj_fail(c, "$.engines", "at least one engine is required");
    s->engines = calloc((size_t)ne, sizeof *s->engines);
    if (!s->engines) return db_sj_fail(c, "$.engines", "out of memory");
    int i = 0;
    for (const cJSON *ej = engines->child; ej; ej = ej->next, i++) {
        s->n_engines++;
        if (parse_engine(c, s, ej, i, eo) != 0) return -1;
    }

    /* baseline: an entry label or a case label (checked after expansion in
     * db_suite_parse); default: the first entry of the greedy-baseline
     * engine (engine.h's greedy_baseline: "ar"), else the first entry */
    if (baseline) {
        s->baseline = db_strdup(baseline);
    } else {
        const db_suite_engine *b = &s->engines[0];
        for (int k = 0; k < s->n_engines; k++)
            if (s->engines[k].def->greedy_baseline) {
                b = &s->engines[k];
                break;
            }
        s->baseline = db_strdup(b->label);
    }
    if (!s->baseline) return db_sj_fail(c, "$.baseline", "out of memory");

    cJSON_AddStringToObject(out, "baseline", s->baseline);
    cJSON_AddNumberToObject(out, "max_new_tokens", s->max_new_tokens);
    cJSON_AddNumberToObject(out, "repetitions", s->repetitions);
    cJSON_AddNumberToObject(out, "warmup", s->warmup);
    cJSON *so = cJSON_AddArrayToObject(out, "seeds");
    for (int k = 0; so && k < s->n_seeds; k++) cJSON_AddItemToArray(so, cJSON_CreateNumber((double)s->seeds[k]));
    cJSON_AddNumberToObject(out, "threads", s->threads);
    cJSON_AddStringToObject(out, "pin", s->pin);
    cJSON *po = cJSON_AddArrayToObject(out, "papi_events");
    for (int k = 0; po && k < s->n_papi_events; k++) cJSON_AddItemToArray(po, cJSON_CreateString(s->papi_events[k]));
    cJSON_AddBoolToObject(out, "stop_at_eog", s->stop_at_eog);
    if (s->scorer >= 0) cJSON_AddStringToObject(out, "scorer", s->models[s->scorer].name);
    return 0;
}

int db_suite_parse(const char *json_text, const char *origin, const char *base_dir,
                   db_suite **out, char *err, size_t errlen) {
    return db_suite_parse_with(json_text, origin, base_dir, NULL, out, err, errlen);
}

int db_suite_parse_with(const char *json_text, const char *origin, const char *base_dir,
                        const db_suite_load_opts *opts, db_suite **out, char *err, size_t errlen) {
    *out = NULL;
    if (!origin) origin = "<suite>";
    db_suite_load_opts dflt;
    if (!opts) {
        db_suite_load_opts_init(&dflt);
        opts = &dflt;
    }
    db_suite_ctx c = { origin, base_dir ? base_dir : ".", err, errlen, false };
    if (!json_text) return db_errf(err, errlen, "%s: no text", origin);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json_text, &end, 1);
    if (!root) {
        int dline = 0, dcol = 0;
        if (db_json_too_deep(json_text, strlen(json_text), &dline, &dcol))
            return db_errf(err, errlen, "%s:%d:%d: JSON nested deeper than %d levels", origin, dline, dcol,
                           db_json_nesting_limit());
        if (!end) end = json_text;
        int line = 1, col = 1;
        for (const char *q = json_text; q < end && *q; q++) {
            if (*q == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        char near[24];
        size_t k = 0;
        for (const char *q = end; *q && *q != '\n' && *q != '\r' && k < sizeof near - 1; q++) near[k++] = *q;
        near[k] = 0;
        if (k) return db_errf(err, errlen, "%s:%d:%d: malformed JSON near '%s'", origin, line, col, near);
        return db_errf(err, errlen, "%s:%d:%d: malformed JSON (unexpected end of input)", origin, line, col);
    }
    db_suite *s = calloc(1, sizeof *s);
    cJSON *canon = cJSON_CreateObject();
    if (!s || !canon || !(s->path = db_strdup(origin))) {
        cJSON_Delete(root);
        cJSON_Delete(canon);
        db_suite_free(s);
        return db_errf(err, errlen, "%s: out of memory", origin);
    }
    int rc = parse_root(&c, s, root, canon);
    if (rc == 0) {
        /* expanding runs every engine's validate() on every grid point */
        db_case *cases = NULL;
        int n = 0;
        rc = db_suite_expand(s, &cases, &n, err, errlen);
        if (rc == 0) {
            int found = 0;
            for (int k = 0; k < s->n_engines && !found; k++) found = strcmp(s->engines[k].label, s->baseline) == 0;
            for (int k = 0; k < n && !found; k++) found = strcmp(cases[k].label, s->baseline) == 0;
            if (!found)
                rc = db_errf(err, errlen, "%s: $.baseline: no engine entry or case is labelled '%s'", origin,
                             s->baseline);
        }
        db_cases_free(cases, n);
    }
    /* references last: nothing is fetched for a suite that is not valid */
    if (rc == 0) rc = db_suite_resolve_refs(s, root, canon, opts, err, errlen);
    cJSON_Delete(root);
    if (rc == 0) {
        s->json = cJSON_PrintUnformatted(canon);
        if (!s->json) rc = db_errf(err, errlen, "%s: out of memory", origin);
    }
    cJSON_Delete(canon);
    if (rc != 0) {
        db_suite_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int db_suite_load(const char *path, db_suite **out, char *err, size_t errlen) {
    return db_suite_load_with(path, NULL, out, err, errlen);
}

int db_suite_load_with(const char *path, const db_suite_load_opts *opts, db_suite **out, char *err, size_t errlen) {
    *out = NULL;
    char *text = db_read_file(path, NULL, err, errlen);
    if (!text) return -1;
    char *dir = db_dirname(path);
    if (!dir) {
        free(text);
        return db_errf(err, errlen, "%s: out of memory", path);
    }
    int rc = db_suite_parse_with(text, path, dir, opts, out, err, errlen);
    free(dir);
    free(text);
    return rc;
}

/* ---- expansion ------------------------------------------------------- */

void db_cases_free(db_case *cases, int n) {
    if (!cases) return;
    for (int i = 0; i < n; i++) {
        free(cases[i].params_json);
        free(cases[i].label);
    }
    free(cases);
}

int db_suite_expand(const db_suite *s, db_case **cases, int *n_cases, char *err, size_t errlen) {
    *cases = NULL;
    *n_cases = 0;
    const char *origin = s->path ? s->path : "<suite>";
    /* count first */
    long long total = 0;
    for (int e = 0; e < s->n_engines; e++) {
        const db_suite_engine *se = &s->engines[e];
        if (se->n_axes > DB_MAX_PARAMS)
            return db_errf(err, errlen, "%s: $.engines[%d].grid: more than %d axes", origin, e, DB_MAX_PARAMS);
        long long pts = 1;
        for (int a = 0; a < se->n_axes; a++) {
            pts *= se->axes[a].n_values;
            if (pts > MAX_CASES) break;
        }
        total += pts * (se->n_datasets ? se->n_datasets : s->n_datasets);
        if (total > MAX_CASES)
            return db_errf(err, errlen, "%s: $.engines[%d].grid: the suite expands to more than %d cases", origin,
                           e, MAX_CASES);
    }
    db_case *v = calloc((size_t)(total ? total : 1), sizeof *v);
    if (!v) return db_errf(err, errlen, "%s: out of memory", origin);
    int n = 0;
    for (int e = 0; e < s->n_engines; e++) {
        const db_suite_engine *se = &s->engines[e];
        const db_engine *def = se->def ? se->def : db_engine_find(se->engine);
        if (!def) {
            db_cases_free(v, n);
            return db_errf(err, errlen, "%s: $.engines[%d].engine: unknown engine '%s'", origin, e, se->engine);
        }
        int target = se->target ? find_model(s, se->target) : -1;
        int draft = se->draft ? find_model(s, se->draft) : -1;
        if ((target < 0 && !(def->serving && !se->target)) || (se->draft && draft < 0)) {
            db_cases_free(v, n);
            return db_errf(err, errlen, "%s: $.engines[%d]: unknown model '%s'", origin, e,
                           target < 0 ? se->target : se->draft);
        }
        int nds = se->n_datasets ? se->n_datasets : s->n_datasets;
        int point[DB_MAX_PARAMS] = { 0 };
        for (;;) {
            db_params p;
            char e2[512];
            db_params_defaults(&p, def->params, def->n_params);
            for (int f = 0; f < se->n_fixed; f++)
                if (db_params_set(&p, se->fixed_names[f], se->fixed_values[f], e2, sizeof e2) != 0) {
                    db_cases_free(v, n);
                    return db_errf(err, errlen, "%s: $.engines[%d].params.%s: %s", origin, e, se->fixed_names[f], e2);
                }
            for (int a = 0; a < se->n_axes; a++)
                if (db_params_set(&p, se->axes[a].param, se->axes[a].values[point[a]], e2, sizeof e2) != 0) {
                    db_cases_free(v, n);
                    return db_errf(err, errlen, "%s: $.engines[%d].grid.%s[%d]: %s", origin, e, se->axes[a].param,
                                   point[a], e2);
                }
            char *label = case_label(se, point);
            if (!label) {
                db_cases_free(v, n);
                return db_errf(err, errlen, "%s: out of memory", origin);
            }
            if (def->validate && def->validate(&p, e2, sizeof e2) != 0) {
                db_errf(err, errlen, "%s: $.engines[%d] (%s): %s", origin, e, label, e2);
                free(label);
                db_cases_free(v, n);
                return -1;
            }
            for (int d = 0; d < nds; d++) {
                int ds = se->n_datasets ? find_dataset(s, se->datasets[d]) : d;
                if (ds < 0) {
                    free(label);
                    db_cases_free(v, n);
                    return db_errf(err, errlen, "%s: $.engines[%d].datasets[%d]: unknown dataset '%s'", origin, e, d,
                                   se->datasets[d]);
                }
                db_case *cs = &v[n];
                cs->index = n;
                cs->se = se;
                cs->params = p;
                cs->params_json = db_params_to_json(&p);
                cs->label = db_strdup(label);
                cs->target_model = target;
                cs->draft_model = draft;
                cs->dataset = ds;
                n++;
                if (!cs->params_json || !cs->label) {
                    free(label);
                    db_cases_free(v, n);
                    return db_errf(err, errlen, "%s: out of memory", origin);
                }
            }
            free(label);
            /* next grid point: last axis fastest, first axis slowest */
            int a = se->n_axes - 1;
            while (a >= 0 && ++point[a] == se->axes[a].n_values) point[a--] = 0;
            if (a < 0) break;
        }
    }
    *cases = v;
    *n_cases = n;
    return 0;
}
