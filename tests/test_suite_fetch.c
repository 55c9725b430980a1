/* test_suite_fetch.c — suites that name models and datasets by reference
 * (harness/run/suite_fetch.c): which paths are references, the error line
 * of every kind of bad one, the cache-only and offline messages, that
 * nothing is resolved before the whole suite is valid, and resolution from
 * a cache laid out here by hand (the layout docs/fetch.md gives): the
 * cached file's path, revision and sha256 in the suite and its canonical
 * configuration, which parses again to the same text.  No network: every
 * parse here reads the cache only (or would fail at once on a closed
 * port). */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/run/suite.h"
#include "harness/util/outfile.h"
#include "harness/util/sha256.h"
#include "harness/util/util.h"

#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define MODEL_BYTES "not really a model, but bytes with a known sha256"
#define PROMPTS "{\"id\": \"a\", \"prompt\": \"One\"}\n{\"id\": \"b\", \"prompt\": \"Two\"}\n{\"id\": \"c\", \"prompt\": \"Three\"}\n"

static char *tmp_path(const char *name) {
    return db_path_join(db_test_tmpdir(), name);
}

static void write_file(const char *path, const char *text) {
    char err[256];
    char *dir = db_dirname(path);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) db_test_fail(__FILE__, __LINE__, "%s failed", cmd);
    free(dir);
    if (db_write_file_atomic(path, text, strlen(text), err, sizeof err) != 0) db_test_fail(__FILE__, __LINE__, "%s", err);
}

/* The cache fetch would leave: CACHE/REL and CACHE/.fetch/KEY.json (KEY:
 * the first 32 hex digits of the sha256 of REL). */
static void cache_put(const char *cache, const char *rel, const char *text, const char *revision) {
    char *file = db_path_join(cache, rel);
    write_file(file, text);
    free(file);
    char key[65], sha[65];
    db_sha256_buf(rel, strlen(rel), key);
    key[32] = 0;
    db_sha256_buf(text, strlen(text), sha);
    char meta[1400], name[200];
    snprintf(meta, sizeof meta, "{\"path\": \"%s\", \"sha256\": \"%s\", \"size\": %zu, \"revision\": \"%s\", \"source\": \"computed\"}",
             rel, sha, strlen(text), revision);
    snprintf(name, sizeof name, ".fetch/%s.json", key);
    char *mp = db_path_join(cache, name);
    write_file(mp, meta);
    free(mp);
}

static char *sha_of(const char *text) {
    static char h[65];
    db_sha256_buf(text, strlen(text), h);
    return h;
}

/* A fresh, empty cache directory for one test. */
static char *fresh_cache(const char *name) {
    char *c = tmp_path(name);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && chmod 700 '%s'", c, c, c);
    if (system(cmd) != 0) db_test_fail(__FILE__, __LINE__, "%s failed", cmd);
    return c;
}

/* A suite: MODEL_JSON and DATASET_JSON are the entries of "target" and "p". */
static char *suite_text(const char *model_json, const char *dataset_json, const char *engines) {
    db_str b;
    db_str_init(&b);
    db_str_printf(&b, "{\"models\": {\"target\": %s}, \"datasets\": {\"p\": %s}, \"engines\": %s}", model_json,
                  dataset_json, engines ? engines : "[{\"engine\": \"ar\"}]");
    return db_str_take(&b);
}

static int parse_opts(const char *model_json, const char *dataset_json, const char *engines,
                      const db_suite_load_opts *o, db_suite **s, char *err, size_t errlen) {
    char *p = tmp_path("local.jsonl");
    write_file(p, PROMPTS);
    free(p);
    char *t = suite_text(model_json, dataset_json, engines);
    err[0] = 0;
    int rc = db_suite_parse_with(t, "suites/t.json", db_test_tmpdir(), o, s, err, errlen);
    free(t);
    return rc;
}

/* The error of a suite that must not load: exactly `want`, or containing it
 * (exact false); always one line. */
static void expect(int line, const char *model_json, const char *dataset_json, const char *engines,
                   const db_suite_load_opts *o, const char *want, bool exact) {
    db_suite *s = NULL;
    char err[2048];
    int rc = parse_opts(model_json, dataset_json, engines, o, &s, err, sizeof err);
    if (rc == 0) {
        db_test_fail(__FILE__, line, "expected the error \"%s\", the suite loaded", want);
        db_suite_free(s);
        return;
    }
    if (s) db_test_fail(__FILE__, line, "*out not NULL on error");
    if (exact ? strcmp(err, want) != 0 : !strstr(err, want))
        db_test_fail(__FILE__, line, "error \"%s\" %s \"%s\"", err, exact ? "is not" : "does not contain", want);
    if (strchr(err, '\n') || strchr(err, '\r')) db_test_fail(__FILE__, line, "error is not one line: \"%s\"", err);
}

#define LOCAL_DS "{\"path\": \"local.jsonl\"}"
#define LOCAL_MODEL "{\"backend\": \"exact\", \"spec\": \"vocab=64,order=2,seed=7\"}"

static void test_is_reference(void) {
    static const struct { const char *p; bool ref; } cases[] = {
        { "hf:org/repo/m.gguf", true }, { "hf:datasets/org/repo/x.jsonl@v1", true }, { "hf:", true },
        { "http://example.org/x", true }, { "https://example.org/x", true }, { "HTTPS://example.org/x", true },
        { "./hf:org/repo/m.gguf", false }, { "HF:org/repo/m.gguf", false }, { "models/m.gguf", false },
        { "/abs/hf:x", false }, { "ftp://example.org/x", false }, { "http:/x", false }, { "", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(db_suite_is_reference(cases[i].p) == cases[i].ref, "'%s': expected %s", cases[i].p,
                  cases[i].ref ? "a reference" : "a file");
    CHECK(!db_suite_is_reference(NULL));
}

static void test_bad_references(void) {
    char *cache = fresh_cache("cache-bad");
    db_suite_load_opts o;
    db_suite_load_opts_init(&o);
    o.cache_dir = cache;
    expect(__LINE__, "{\"path\": \"hf:org\"}", LOCAL_DS, NULL, &o,
           "suites/t.json: $.models.target.path: bad reference: hf:org: expected hf:ORG/REPO/PATH[@REVISION]", true);
    expect(__LINE__, "{\"path\": \"hf:org/repo/../m.gguf\"}", LOCAL_DS, NULL, &o,
           "suites/t.json: $.models.target.path: bad reference: hf:org/repo/../m.gguf: the file path has an empty, '.' or '..' component",
           true);
    expect(__LINE__, "{\"path\": \"hf:org/repo/m.gguf@bad~rev\"}", LOCAL_DS, NULL, &o,
           "$.models.target.path: bad reference: hf:org/repo/m.gguf@bad~rev: revision 'bad~rev' is not a branch", false);
    expect(__LINE__, "{\"path\": \"hf:o!g/repo/m.gguf\"}", LOCAL_DS, NULL, &o,
           "ORG and REPO may hold only [A-Za-z0-9._-]", false);
    expect(__LINE__, "{\"path\": \"https://\"}", LOCAL_DS, NULL, &o,
           "suites/t.json: $.models.target.path: bad reference: https://: the URL has no host", true);
    /* a control character: one line all the same, the JSON path named */
    expect(__LINE__, "{\"path\": \"hf:org/repo/a\\nb.gguf\"}", LOCAL_DS, NULL, &o,
           "suites/t.json: $.models.target.path: bad reference: hf reference: has a control character", true);
    /* credentials would be stored with the run: refused, and not echoed */
    db_suite *s = NULL;
    char err[2048];
    CHECK(parse_opts("{\"path\": \"https://user:s3cret@example.org/m.gguf\"}", LOCAL_DS, NULL, &o, &s, err, sizeof err) != 0);
    CHECK_CONTAINS(err, "suites/t.json: $.models.target.path: bad reference: https://example.org/m.gguf: a URL with credentials");
    CHECK(!strstr(err, "s3cret"));
    db_suite_free(s);
    /* datasets the same way */
    expect(__LINE__, LOCAL_MODEL, "{\"path\": \"hf:datasets/org/repo\"}", NULL, &o,
           "suites/t.json: $.datasets.p.path: bad reference: hf:datasets/org/repo: expected hf:ORG/REPO/PATH[@REVISION]", true);
    /* "source", "revision", "sha256" around a reference */
    expect(__LINE__, "{\"source\": \"m.gguf\"}", LOCAL_DS, NULL, &o,
           "suites/t.json: $.models.target.source: expected a reference (hf:ORG/REPO/PATH[@REVISION] or an http(s) URL), got \"m.gguf\"",
           true);
    expect(__LINE__, "{\"source\": \"hf:org\"}", LOCAL_DS, NULL, &o,
           "suites/t.json: $.models.target.source: bad reference: hf:org:", false);
    expect(__LINE__, "{\"path\": \"hf:org/repo/a.gguf\", \"source\": \"hf:org/repo/b.gguf\"}", LOCAL_DS, NULL, &o,
           "suites/t.json: $.models.target.path: a reference, and so is \"source\": give one of them", true);
    expect(__LINE__, "{\"path\": \"local.jsonl\", \"revision\": \"main\"}", LOCAL_DS, NULL, &o,
           "suites/t.json: $.models.target.revision: only for a file named by a reference (hf:... or an http(s) URL)", true);
    expect(__LINE__, LOCAL_MODEL, "{\"path\": \"local.jsonl\", \"revision\": \"main\"}", NULL, &o,
           "suites/t.json: $.datasets.p.revision: only for a file named by a reference", false);
    expect(__LINE__, "{\"backend\": \"exact\", \"spec\": \"vocab=64,order=2,seed=7\", \"source\": \"hf:o/r/m.gguf\"}",
           LOCAL_DS, NULL, &o, "suites/t.json: $.models.target.source: backend \"exact\" takes a \"spec\", not a file", true);
    expect(__LINE__, "{\"path\": \"hf:org/repo/m.gguf\", \"sha256\": \"abc\"}", LOCAL_DS, NULL, &o,
           "suites/t.json: $.models.target.sha256: expected 64 hexadecimal digits, got \"abc\"", true);
    expect(__LINE__, "{\"path\": \"hf:org/repo/m.gguf\", \"revision\": 7}", LOCAL_DS, NULL, &o,
           "suites/t.json: $.models.target.revision: expected a string, got a number", true);
    /* a dataset's sha256 (new) checks a local file too */
    char want[400];
    snprintf(want, sizeof want, "suites/t.json: $.datasets.p.sha256: dataset 'p' (%s/local.jsonl): sha256 mismatch: expected %064d, file has %s",
             db_test_tmpdir(), 0, sha_of(PROMPTS));
    expect(__LINE__, LOCAL_MODEL, "{\"path\": \"local.jsonl\", \"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\"}",
           NULL, &o, want, true);
    char ds[200];
    snprintf(ds, sizeof ds, "{\"path\": \"local.jsonl\", \"sha256\": \"%s\"}", sha_of(PROMPTS));
    CHECK_MSG(parse_opts(LOCAL_MODEL, ds, NULL, &o, &s, err, sizeof err) == 0, "%s", err);
    if (s) {
        CHECK_STR_EQ(s->datasets[0].sha256, sha_of(PROMPTS));
        CHECK(s->datasets[0].source == NULL);
        char frag[200];
        snprintf(frag, sizeof frag, "/local.jsonl\",\"sha256\":\"%s\",\"category\":\"p\"", sha_of(PROMPTS));
        CHECK_CONTAINS(s->json, frag);
    }
    db_suite_free(s);
    /* the local-file cases never touched the cache; a bad reference never gets that far */
    char *fetchdir = db_path_join(cache, ".fetch");
    struct stat st;
    CHECK(stat(fetchdir, &st) != 0);
    free(fetchdir);
    free(cache);
}

static void test_not_cached(void) {
    char *cache = fresh_cache("cache-empty");
    db_suite_load_opts o;
    db_suite_load_opts_init(&o);
    o.cache_dir = cache;
    char want[1200];
    /* the default: the cache only, and the message says how to fetch */
    snprintf(want, sizeof want,
             "suites/t.json: $.models.target.path: hf:org/repo/m.gguf: not in the cache (%s/hub/org/repo/main/m.gguf); "
             "`decobench fetch hf:org/repo/m.gguf` downloads it (so does `decobench run`)", cache);
    expect(__LINE__, "{\"path\": \"hf:org/repo/m.gguf\"}", LOCAL_DS, NULL, &o, want, true);
    /* opts NULL: the same, in the default cache ($DECOBENCH_CACHE_DIR, pointed here) */
    const char *old = getenv("DECOBENCH_CACHE_DIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("DECOBENCH_CACHE_DIR", cache, 1);
    expect(__LINE__, "{\"path\": \"hf:org/repo/m.gguf\"}", LOCAL_DS, NULL, NULL, want, true);
    if (saved) setenv("DECOBENCH_CACHE_DIR", saved, 1);
    else unsetenv("DECOBENCH_CACHE_DIR");
    free(saved);
    snprintf(want, sizeof want,
             "suites/t.json: $.datasets.p.path: hf:datasets/org/qs/q.jsonl@v2: not in the cache (%s/hub/datasets/org/qs/v2/q.jsonl); "
             "`decobench fetch hf:datasets/org/qs/q.jsonl@v2` downloads it (so does `decobench run`)", cache);
    expect(__LINE__, LOCAL_MODEL, "{\"path\": \"hf:datasets/org/qs/q.jsonl@v2\"}", NULL, &o, want, true);
    /* offline: --offline (offline 1), or HF_HUB_OFFLINE with offline -1 */
    o.fetch = true;
    o.offline = 1;
    snprintf(want, sizeof want,
             "suites/t.json: $.models.target.path: hf:org/repo/m.gguf: not in the cache (%s/hub/org/repo/main/m.gguf) "
             "and offline mode is on (--offline or HF_HUB_OFFLINE)", cache);
    expect(__LINE__, "{\"path\": \"hf:org/repo/m.gguf\"}", LOCAL_DS, NULL, &o, want, true);
    o.offline = -1;
    setenv("HF_HUB_OFFLINE", "yes", 1);
    expect(__LINE__, "{\"path\": \"hf:org/repo/m.gguf\"}", LOCAL_DS, NULL, &o, want, true);
    unsetenv("HF_HUB_OFFLINE");
    /* a "source" reference (the canonical form) is named by its key */
    o.offline = 1;
    expect(__LINE__, "{\"path\": \"/gone/m.gguf\", \"source\": \"hf:org/repo/m.gguf\"}", LOCAL_DS, NULL, &o,
           "suites/t.json: $.models.target.source: hf:org/repo/m.gguf: not in the cache (", false);
    free(cache);
}

/* Nothing is resolved (fetched) before the whole suite is valid: with
 * downloads allowed from a closed port (where a download would fail only
 * after fetch's retries), a bad engine parameter, a bad second reference
 * or a bad baseline is what is reported, and nothing is cached. */
static void test_checked_before_fetch(void) {
    char *cache = fresh_cache("cache-order");
    db_suite_load_opts o;
    db_suite_load_opts_init(&o);
    o.cache_dir = cache;
    o.fetch = true;
    o.offline = 0;
    setenv("DECOBENCH_HF_ENDPOINT", "http://127.0.0.1:1", 1);
    expect(__LINE__, "{\"path\": \"hf:org/repo/m.gguf\"}", LOCAL_DS, "[{\"engine\": \"ar\", \"params\": {\"top_kk\": 4}}]", &o,
           "$.engines[0].params.top_kk", false);
    expect(__LINE__, "{\"path\": \"hf:org/repo/m.gguf\"}", "{\"path\": \"hf:datasets/org\"}", NULL, &o,
           "suites/t.json: $.datasets.p.path: bad reference: hf:datasets/org:", false);
    expect(__LINE__, "{\"path\": \"hf:org/repo/m.gguf\"}", LOCAL_DS, "[{\"engine\": \"ar\"}], \"baseline\": \"nope\"", &o,
           "$.baseline: no engine entry or case is labelled 'nope'", false);
    unsetenv("DECOBENCH_HF_ENDPOINT");
    char *hub = db_path_join(cache, "hub/org/repo/main/m.gguf");
    struct stat st;
    CHECK(stat(hub, &st) != 0);
    free(hub);
    free(cache);
}

static void test_resolved_from_cache(void) {
    char *cache = fresh_cache("cache-hit");
    cache_put(cache, "hub/org/repo/main/m.gguf", MODEL_BYTES, COMMIT);
    cache_put(cache, "hub/datasets/org/qs/v2/q.jsonl", PROMPTS, "v2");
    char *mfile = db_path_join(cache, "hub/org/repo/main/m.gguf");
    char *dfile = db_path_join(cache, "hub/datasets/org/qs/v2/q.jsonl");
    char msha[65], dsha[65];
    snprintf(msha, sizeof msha, "%s", sha_of(MODEL_BYTES));
    snprintf(dsha, sizeof dsha, "%s", sha_of(PROMPTS));
    db_suite_load_opts o;
    db_suite_load_opts_init(&o);
    o.cache_dir = cache;
    db_suite *s = NULL;
    char err[2048];
    CHECK_MSG(parse_opts("{\"path\": \"hf:org/repo/m.gguf\", \"n_ctx\": 64}",
                         "{\"path\": \"hf:datasets/org/qs/q.jsonl@v2\", \"limit\": 2}", NULL, &o, &s, err, sizeof err) == 0,
              "parse: %s", err);
    if (!s) {
        free(mfile); free(dfile); free(cache);
        return;
    }
    const db_suite_model *m = &s->models[0];
    CHECK_STR_EQ(m->path, mfile);
    CHECK_STR_EQ(m->source, "hf:org/repo/m.gguf");
    CHECK_STR_EQ(m->revision, COMMIT);
    CHECK_STR_EQ(m->sha256, msha);
    const db_suite_dataset *d = &s->datasets[0];
    CHECK_STR_EQ(d->path, dfile);
    CHECK_STR_EQ(d->source, "hf:datasets/org/qs/q.jsonl@v2");
    CHECK_STR_EQ(d->revision, "v2");
    CHECK_STR_EQ(d->sha256, dsha);
    CHECK_INT_EQ(d->n_prompts, 2);   /* the cached file's prompts, with the limit */
    if (d->n_prompts == 2) {
        CHECK_STR_EQ(d->prompts[0].id, "a");
        CHECK_STR_EQ(d->prompts[1].text, "Two");
    }
    char want[1600];
    snprintf(want, sizeof want,
             "\"models\":{\"target\":{\"backend\":\"llama\",\"path\":\"%s\",\"source\":\"hf:org/repo/m.gguf\","
             "\"revision\":\"" COMMIT "\",\"sha256\":\"%s\",\"n_gpu_layers\":0,\"n_ctx\":64}}", mfile, msha);
    CHECK_CONTAINS(s->json, want);
    snprintf(want, sizeof want,
             "\"datasets\":{\"p\":{\"path\":\"%s\",\"source\":\"hf:datasets/org/qs/q.jsonl@v2\",\"revision\":\"v2\","
             "\"sha256\":\"%s\",\"category\":\"p\",\"limit\":2,\"chat\":false}}", dfile, dsha);
    CHECK_CONTAINS(s->json, want);

    /* the canonical form loads again to the same text (--resume relies on it) */
    db_suite *s2 = NULL;
    err[0] = 0;
    CHECK_MSG(db_suite_parse_with(s->json, "suites/t.json", db_test_tmpdir(), &o, &s2, err, sizeof err) == 0,
              "reparse: %s", err);
    if (s2) {
        CHECK_STR_EQ(s2->json, s->json);
        CHECK_STR_EQ(s2->models[0].sha256, msha);
        CHECK_INT_EQ(s2->datasets[0].n_prompts, 2);
    }
    db_suite_free(s2);
    /* ... also with the cache moved: "path" is what it resolved to then, not read */
    char *moved = strdup(s->json);
    db_suite_free(s);
    s = NULL;

    /* the sha256 given: the right one loads, a wrong one names both */
    char mj[400];
    snprintf(mj, sizeof mj, "{\"path\": \"hf:org/repo/m.gguf\", \"sha256\": \"%s\"}", msha);
    for (char *q = strstr(mj, "\"sha256\": \"") + 11; *q; q++)   /* upper case is taken */
        if (*q >= 'a' && *q <= 'f') *q = (char)(*q - 'a' + 'A');
    CHECK_MSG(parse_opts(mj, LOCAL_DS, NULL, &o, &s, err, sizeof err) == 0, "right sha256: %s", err);
    if (s) CHECK_STR_EQ(s->models[0].sha256, msha);
    db_suite_free(s);
    s = NULL;
    snprintf(want, sizeof want,
             "suites/t.json: $.models.target.path: hf:org/repo/m.gguf: the cached file %s has sha256 %s, not the %064d given",
             mfile, msha, 7);
    snprintf(mj, sizeof mj, "{\"path\": \"hf:org/repo/m.gguf\", \"sha256\": \"%064d\"}", 7);
    expect(__LINE__, mj, LOCAL_DS, NULL, &o, want, true);
    /* the revision recorded in a configuration must be the cached one */
    snprintf(want, sizeof want,
             "suites/t.json: $.datasets.p.source: hf:datasets/org/qs/q.jsonl@v2: the cached file %s is at revision v2, not v3 (\"revision\")",
             dfile);
    expect(__LINE__, LOCAL_MODEL, "{\"source\": \"hf:datasets/org/qs/q.jsonl@v2\", \"revision\": \"v3\"}", NULL, &o, want,
           true);
    /* offline mode serves what is cached */
    o.fetch = true;
    o.offline = 1;
    CHECK_MSG(parse_opts("{\"path\": \"hf:org/repo/m.gguf\"}", LOCAL_DS, NULL, &o, &s, err, sizeof err) == 0,
              "offline, cached: %s", err);
    db_suite_free(s);
    s = NULL;
    o.fetch = false;
    o.offline = -1;

    /* a cached file changed after it was fetched (same size, one byte): refused */
    char changed[] = MODEL_BYTES;
    changed[0] = 'N';
    char e2[256];
    CHECK(db_write_file_atomic(mfile, changed, strlen(changed), e2, sizeof e2) == 0);
    snprintf(want, sizeof want,
             "suites/t.json: $.models.target.path: hf:org/repo/m.gguf: the cached file %s changed after it was fetched "
             "(sha256 %s, fetched as %s); delete it to fetch it again", mfile, sha_of(changed), msha);
    expect(__LINE__, "{\"path\": \"hf:org/repo/m.gguf\"}", LOCAL_DS, NULL, &o, want, true);
    /* and so is the stored configuration that names it (what --resume reads) */
    err[0] = 0;
    CHECK(db_suite_parse_with(moved, "suites/t.json", db_test_tmpdir(), &o, &s2, err, sizeof err) != 0);
    CHECK_CONTAINS(err, "$.models.target.source: hf:org/repo/m.gguf: the cached file");
    db_suite_free(s2);
    free(moved);
    free(mfile);
    free(dfile);
    free(cache);
}

/* A URL: cached under url/HOST/KEY/NAME, no revision in the configuration. */
static void test_url_reference(void) {
    char *cache = fresh_cache("cache-url");
    const char *url = "https://example.org/data/q.jsonl";
    char key[65];
    db_sha256_buf(url, strlen(url), key);
    key[16] = 0;
    char rel[200];
    snprintf(rel, sizeof rel, "url/example.org/%s/q.jsonl", key);
    cache_put(cache, rel, PROMPTS, "");
    db_suite_load_opts o;
    db_suite_load_opts_init(&o);
    o.cache_dir = cache;
    db_suite *s = NULL;
    char err[2048];
    CHECK_MSG(parse_opts(LOCAL_MODEL, "{\"path\": \"https://example.org/data/q.jsonl\"}", NULL, &o, &s, err, sizeof err) == 0,
              "parse: %s", err);
    if (s) {
        char *f = db_path_join(cache, rel);
        CHECK_STR_EQ(s->datasets[0].path, f);
        CHECK_STR_EQ(s->datasets[0].revision, "");
        CHECK_INT_EQ(s->datasets[0].n_prompts, 3);
        char want[800];
        snprintf(want, sizeof want, "\"p\":{\"path\":\"%s\",\"source\":\"https://example.org/data/q.jsonl\",\"sha256\":\"%s\",",
                 f, sha_of(PROMPTS));
        CHECK_CONTAINS(s->json, want);
        free(f);
    }
    db_suite_free(s);
    free(cache);
}

/* A server started with {model:NAME} of a referenced model: the cached file. */
static void test_server_model_reference(void) {
    char *cache = fresh_cache("cache-serve");
    cache_put(cache, "hub/org/repo/main/m.gguf", MODEL_BYTES, COMMIT);
    db_suite_load_opts o;
    db_suite_load_opts_init(&o);
    o.cache_dir = cache;
    char *p = tmp_path("local.jsonl");
    write_file(p, PROMPTS);
    free(p);
    const char *json =
        "{\"models\": {\"target\": {\"path\": \"hf:org/repo/m.gguf\"}},"
        " \"servers\": {\"l\": {\"api\": \"llama.cpp\", \"model\": \"target\", \"command\": [\"llama-server\", \"-m\", \"{model:target}\", \"--port\", \"{port}\"]}},"
        " \"datasets\": {\"p\": {\"path\": \"local.jsonl\"}}, \"engines\": [{\"engine\": \"serve\", \"server\": \"l\"}]}";
    db_suite *s = NULL;
    char err[2048] = "";
    CHECK_MSG(db_suite_parse_with(json, "suites/t.json", db_test_tmpdir(), &o, &s, err, sizeof err) == 0, "parse: %s", err);
    if (s) {
        char *f = db_path_join(cache, "hub/org/repo/main/m.gguf");
        CHECK_INT_EQ(s->servers[0].model, 0);
        CHECK_STR_EQ(s->models[0].path, f);
        free(f);
    }
    db_suite_free(s);
    free(cache);
}

void suite_suite_fetch(void) {
    RUN(test_is_reference);
    RUN(test_bad_references);
    RUN(test_not_cached);
    RUN(test_checked_before_fetch);
    RUN(test_resolved_from_cache);
    RUN(test_url_reference);
    RUN(test_server_model_reference);
}
