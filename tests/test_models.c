/* test_models.c — the bundled trained models (data/models, written by
 * scripts/train-models.sh): MANIFEST.json's sha256 values match the files;
 * every model loads through harness/model/model.h and generates with the `ar`
 * engine; all share one vocabulary whose tokenizer round-trips text byte for
 * byte (built-in samples and the .txt files of data/heldout); the diffusion model has a
 * mask token and attends bidirectionally as loaded.
 * Skipped until data/models/MANIFEST.json exists.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "test.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "engines/engine.h"
#include "harness/model/model.h"

#define MAX_MODELS 8

typedef struct bundled {
    char name[32];
    char path[1024];
    char sha256[65];
    bool causal;
} bundled;

static bundled g_models[MAX_MODELS];
static int g_n_models = -1;   /* -1: not read; -2: no manifest */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0, k;
    char *buf = malloc(cap + 1);
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* Reads the manifest once; returns the number of models, or -1 (skip). */
static int load_manifest(void) {
    if (g_n_models != -1) return g_n_models < 0 ? -1 : g_n_models;
    char path[1024];
    snprintf(path, sizeof path, "%s/data/models/MANIFEST.json", db_test_srcdir());
    char *txt = slurp(path, NULL);
    if (!txt) { g_n_models = -2; return -1; }
    g_n_models = 0;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models");
    CHECK_MSG(cJSON_IsArray(models), "%s: no \"models\" array", path);
    const cJSON *m;
    cJSON_ArrayForEach(m, models) {
        if (g_n_models == MAX_MODELS) break;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(m, "file");
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(m, "sha256");
        const cJSON *causal = cJSON_GetObjectItemCaseSensitive(m, "causal");
        CHECK_MSG(cJSON_IsString(name) && cJSON_IsString(file) && cJSON_IsString(sha),
                  "%s: a model entry lacks name, file or sha256", path);
        if (!cJSON_IsString(name) || !cJSON_IsString(file) || !cJSON_IsString(sha)) continue;
        bundled *b = &g_models[g_n_models++];
        snprintf(b->name, sizeof b->name, "%s", name->valuestring);
        snprintf(b->path, sizeof b->path, "%s/data/models/%s", db_test_srcdir(), file->valuestring);
        snprintf(b->sha256, sizeof b->sha256, "%s", sha->valuestring);
        b->causal = !cJSON_IsFalse(causal);
    }
    cJSON_Delete(j);
    return g_n_models;
}

static bool need_manifest(void) {
    if (load_manifest() < 0) {
        db_test_skip("data/models/MANIFEST.json not built yet (make models)");
        return false;
    }
    return true;
}

static bool sha256_file(const char *path, char hex[65]) {
    size_t n;
    char *data = slurp(path, &n);
    if (!data) return false;
    unsigned char md[32];
    unsigned int mdlen = 0;
    bool ok = EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32;
    free(data);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return ok;
}

static db_model *open_model(const char *path) {
    db_model_params p = db_model_default_params();
    p.path = path;
    p.n_ctx = 256;
    p.n_batch = 256;
    p.n_threads = 2;
    db_model *m = NULL;
    char err[512];
    if (db_model_open(&p, &m, err, sizeof err) != 0) {
        db_test_fail(__FILE__, __LINE__, "open %s: %s", path, err);
        return NULL;
    }
    return m;
}

static void manifest_sha256_matches(void) {
    if (!need_manifest()) return;
    CHECK(g_n_models >= 3);
    for (int i = 0; i < g_n_models; i++) {
        char hex[65];
        CHECK_MSG(sha256_file(g_models[i].path, hex), "%s: cannot read", g_models[i].path);
        CHECK_STR_EQ(hex, g_models[i].sha256);
    }
}

static void models_load_and_generate(void) {
    if (!need_manifest()) return;
    db_llama_set_quiet(true);
    const db_engine *e = db_engine_find("ar");
    CHECK(e != NULL);
    if (!e) return;
    for (int i = 0; i < g_n_models; i++) {
        db_model *m = open_model(g_models[i].path);
        if (!m) continue;
        db_token prompt[64];
        const char *text = "The man said that";
        int n = db_model_tokenize(m, text, strlen(text), true, false, prompt, 64);
        CHECK_MSG(n > 1, "%s: tokenize gave %d tokens", g_models[i].name, n);
        db_params p;
        db_params_defaults(&p, e->params, e->n_params);
        db_event_log log;
        db_event_log_init(&log);
        db_event_log_start(&log);
        db_gen_request req = { .target = m, .prompt = prompt, .n_prompt = n, .max_new_tokens = 8,
                               .stop_at_eog = false, .seed = 1, .params = &p, .events = &log };
        db_gen_output out;
        memset(&out, 0, sizeof out);
        char err[256];
        db_model_reset(m);
        int rc = e->generate(&req, &out, err, sizeof err);
        CHECK_MSG(rc == 0, "%s: generate: %s", g_models[i].name, err);
        CHECK_INT_EQ(out.n_tokens, 8);
        for (int k = 0; k < out.n_tokens; k++)
            CHECK(out.tokens[k] >= 0 && out.tokens[k] < db_model_n_vocab(m));
        db_output_free(&out);
        db_event_log_free(&log);
        db_model_close(m);
    }
}

static bool roundtrip(db_model *m, const char *text, size_t len, const char *what) {
    int cap = (int)len + 16;
    db_token *t = malloc(sizeof *t * (size_t)cap);
    char *back = malloc(len * 2 + 64);
    bool ok = false;
    if (t && back) {
        int n = db_model_tokenize(m, text, len, false, false, t, cap);
        int k = n >= 0 ? db_model_detokenize(m, t, n, back, (int)len * 2 + 64) : -1;
        ok = n >= 0 && k == (int)len && memcmp(back, text, len) == 0;
        if (!ok) {
            size_t d = 0;
            while (k >= 0 && d < len && d < (size_t)k && back[d] == text[d]) d++;
            db_test_fail(__FILE__, __LINE__, "%s: round trip differs at byte %zu (%d tokens, %d of %zu bytes back)",
                         what, d, n, k, len);
        }
    }
    free(t);
    free(back);
    return ok;
}

static void tokenizer_roundtrip(void) {
    if (!need_manifest()) return;
    if (g_n_models < 1) return;
    db_llama_set_quiet(true);
    db_model *m = open_model(g_models[0].path);
    if (!m) return;
    static const char *const samples[] = {
        "In the beginning God created the heaven and the earth.",
        " leading space, trailing space ",
        "  two leading spaces\n\nand blank lines\r\n",
        "def f(x):\n\tif x:\n\t\treturn {'a': [1, 2]}  # comment\n    pass\n",
        "UTF-8: na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80 \xc2\xb5",
        "<s> </s> <|mask|> <0x41> literal specials stay text",
    };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        roundtrip(m, samples[i], strlen(samples[i]), samples[i]);

    char dir[1024];
    snprintf(dir, sizeof dir, "%s/data/heldout", db_test_srcdir());
    DIR *d = opendir(dir);
    int n_files = 0;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            size_t nl = strlen(de->d_name);
            if (nl < 5 || strcmp(de->d_name + nl - 4, ".txt") != 0) continue;
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            size_t len;
            char *txt = slurp(path, &len);
            CHECK_MSG(txt != NULL, "%s: cannot read", path);
            if (txt) roundtrip(m, txt, len, path);
            free(txt);
            n_files++;
        }
        closedir(d);
    }
    if (n_files == 0) printf("    (no data/heldout/*.txt yet: built-in samples only)\n");
    db_model_close(m);
}

static void models_share_vocabulary(void) {
    if (!need_manifest()) return;
    db_llama_set_quiet(true);
    const char *text = "Shared vocabulary: \"the\" and the code `x += 1`.\n";
    db_token ref[128], t[128];
    int n_ref = -1, n_vocab = -1;
    for (int i = 0; i < g_n_models; i++) {
        db_model *m = open_model(g_models[i].path);
        if (!m) continue;
        int n = db_model_tokenize(m, text, strlen(text), false, false, t, 128);
        if (n_ref < 0) {
            n_ref = n;
            n_vocab = db_model_n_vocab(m);
            memcpy(ref, t, sizeof(db_token) * (size_t)(n > 0 ? n : 0));
        } else {
            CHECK_INT_EQ(db_model_n_vocab(m), n_vocab);
            CHECK_INT_EQ(n, n_ref);
            if (n == n_ref && n > 0) CHECK(memcmp(ref, t, sizeof(db_token) * (size_t)n) == 0);
        }
        db_model_close(m);
    }
}

/* Decode [BOS, mask, X] for two different X: with bidirectional attention the
 * logits at the mask position (1) depend on X. */
static void diffusion_is_bidirectional(void) {
    if (!need_manifest()) return;
    db_llama_set_quiet(true);
    int found = 0;
    for (int i = 0; i < g_n_models; i++) {
        if (g_models[i].causal) continue;
        found++;
        db_model *m = open_model(g_models[i].path);
        if (!m) continue;
        db_token mask = db_model_mask(m), bos = db_model_bos(m);
        CHECK_MSG(mask != DB_TOKEN_NULL, "%s: no mask token", g_models[i].name);
        int nv = db_model_n_vocab(m);
        float *row[2];
        db_batch b;
        db_batch_init(&b, 4, 1);
        for (int r = 0; r < 2; r++) {
            row[r] = malloc(sizeof(float) * (size_t)nv);
            db_model_reset(m);
            db_batch_clear(&b);
            db_batch_add1(&b, bos, 0, 0, false);
            db_batch_add1(&b, mask, 1, 0, true);
            db_batch_add1(&b, r == 0 ? 300 : 1000, 2, 0, false);
            CHECK_INT_EQ(db_model_decode(m, &b), 0);
            const float *l = db_model_logits(m, 1);
            CHECK(l != NULL);
            if (l) memcpy(row[r], l, sizeof(float) * (size_t)nv);
            else memset(row[r], 0, sizeof(float) * (size_t)nv);
        }
        double diff = 0;
        for (int k = 0; k < nv; k++) diff += fabs((double)row[0][k] - row[1][k]);
        CHECK_MSG(diff > 1e-3, "%s: logits at the mask ignore the later token (causal attention?)", g_models[i].name);
        free(row[0]);
        free(row[1]);
        db_batch_free(&b);
        db_model_close(m);
    }
    CHECK_MSG(found == 1, "manifest lists %d non-causal (diffusion) models, expected 1", found);
}

void suite_models(void) {
    RUN(manifest_sha256_matches);
    RUN(models_load_and_generate);
    RUN(tokenizer_roundtrip);
    RUN(models_share_vocabulary);
    RUN(diffusion_is_bidirectional);
}
