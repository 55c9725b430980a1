/* test_json_gbnf.c — the JSON Schema → GBNF converter (harness/constraint/json_gbnf.c),
 * checked with llama.cpp's own grammar engine: each grammar is loaded with
 * llama_sampler_init_grammar over the bundled vocabulary (data/models/target.gguf,
 * vocab only), and a JSON text is "accepted" when every token of it is allowed
 * and accepted in turn and end-of-sequence is allowed at the end.  Every text is
 * fed in three segmentations: llama.cpp's tokenization, one token per code
 * point, and one byte-fallback token per byte.
 *
 * Checks: integer ranges and regexes by brute force against exact oracles
 * (arithmetic, the validator's regex engine); MaskBench (data/schemas/instances):
 * every valid instance of a supported schema accepted, every invalid one (per
 * the validator) rejected; the JSON-Schema-Test-Suite files of the keywords the
 * converter enforces (pass rate per keyword printed); declared coverage over the
 * bundled JSONSchemaBench schemas with the most frequent reasons.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "test.h"
#include "harness/constraint/json_gbnf.h"
#include "harness/constraint/jsonschema.h"
#include "harness/util/util.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef HAVE_LLAMA
#include <llama.h>

static struct llama_model *g_vocab_model;
static const struct llama_vocab *g_vocab;
static llama_token g_byte_tok[256];

static void quiet_log(enum ggml_log_level level, const char *text, void *user) { (void)level; (void)text; (void)user; }

static int load_vocab(void) {
    if (g_vocab) return 0;
    char path[1024];
    snprintf(path, sizeof path, "%s/data/models/target.gguf", db_test_srcdir());
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    g_vocab_model = llama_model_load_from_file(path, mp);
    if (!g_vocab_model) return -1;
    g_vocab = llama_model_get_vocab(g_vocab_model);
    for (int b = 0; b < 256; b++) g_byte_tok[b] = -1;
    int n = llama_vocab_n_tokens(g_vocab);
    for (int t = 0; t < n; t++) {
        const char *s = llama_vocab_get_text(g_vocab, t);
        unsigned v;
        if (s && strlen(s) == 6 && sscanf(s, "<0x%2X>", &v) == 1) g_byte_tok[v] = t;
    }
    for (int b = 0; b < 256; b++) if (g_byte_tok[b] < 0) return -1;
    return 0;
}

/* tokens of text in segmentation seg (0 llama.cpp, 1 per code point, 2 per byte); returns count */
static int segment(const char *text, int seg, llama_token **out) {
    size_t n = strlen(text);
    llama_token *t = malloc((n + 8) * sizeof *t);
    int k = 0;
    if (!t) return -1;
    if (seg == 2) { for (size_t i = 0; i < n; i++) t[k++] = g_byte_tok[(unsigned char)text[i]]; }
    else if (seg == 0) k = llama_tokenize(g_vocab, text, (int32_t)n, t, (int32_t)(n + 8), false, false);
    else {
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && ((unsigned char)text[j] & 0xC0) == 0x80) j++;
            int m = llama_tokenize(g_vocab, text + i, (int32_t)(j - i), t + k, (int32_t)(n + 8 - (size_t)k), false, false);
            if (m < 0) { free(t); return -1; }
            k += m;
            i = j;
        }
    }
    *out = t;
    return k;
}

static int token_allowed(struct llama_sampler *s, llama_token tok) {
    llama_token_data d = { tok, 0.0f, 0.0f };
    llama_token_data_array a = { &d, 1, -1, false };
    llama_sampler_apply(s, &a);
    return d.logit > -INFINITY;
}

/* 1 accepted, 0 rejected (in every segmentation), -1 the segmentations disagree */
static int grammar_accepts(struct llama_sampler *s, const char *text) {
    int res[3];
    for (int seg = 0; seg < 3; seg++) {
        llama_token *t = NULL;
        int n = segment(text, seg, &t);
        llama_sampler_reset(s);
        int ok = n > 0;
        for (int i = 0; i < n && ok; i++) {
            if (!token_allowed(s, t[i])) ok = 0;
            else llama_sampler_accept(s, t[i]);
        }
        if (ok) ok = token_allowed(s, llama_vocab_eos(g_vocab));
        free(t);
        res[seg] = ok;
    }
    return res[0] == res[1] && res[1] == res[2] ? res[0] : -1;
}

/* Check every stride-th instance / test group (deterministic sample): 1 normally,
 * 10 under AddressSanitizer (llama.cpp's grammar engine allocates per token and
 * runs ~20x slower there); DB_JSON_GBNF_STRIDE overrides. */
static int sample_stride(void) {
    const char *e = getenv("DB_JSON_GBNF_STRIDE");
    if (e && atoi(e) > 0) return atoi(e);
#if defined(__SANITIZE_ADDRESS__)
    return 10;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 10;
#endif
#endif
    return 1;
}

static struct llama_sampler *grammar_load(const char *gbnf) {
    return llama_sampler_init_grammar(g_vocab, gbnf, "root");
}

/* convert a schema given as JSON text; returns the sampler (NULL on failure, with a CHECK failure) */
static struct llama_sampler *schema_sampler(const char *schema_json, char **gbnf_out) {
    char *gbnf = NULL, why[512];
    int rc = db_json_gbnf_text(schema_json, &gbnf, why, sizeof why);
    CHECK_MSG(rc == 0, "%s: %s", schema_json, why);
    if (rc != 0) return NULL;
    struct llama_sampler *s = grammar_load(gbnf);
    CHECK_MSG(s != NULL, "grammar of %s does not parse:\n%s", schema_json, gbnf);
    if (gbnf_out) *gbnf_out = gbnf;
    else free(gbnf);
    return s;
}

/* ---- hand-written cases ---- */

static void test_basic(void) {
    if (load_vocab() < 0) { db_test_skip("data/models/target.gguf (vocab) not loadable"); return; }
    static const struct { const char *schema, *text; int want; } cases[] = {
        { "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}", "{\"a\":1,\"b\":\"x\"}", 1 },
        { "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}", "{\"a\":1}", 0 },
        { "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}", "{\"b\":\"x\",\"c\":[1,{}]}", 1 },
        { "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"a\":1,\"c\":2}", 0 },
        { "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}}", "{\"a\":1,\"c\":\"2\"}", 1 },
        { "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}}", "{\"a\":1,\"c\":2}", 0 },
        /* an additional key may not spell a declared name (that would dodge its schema) */
        { "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}", "{\"b\":1,\"a\":\"no\"}", 0 },
        { "{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}}}", "{\"a\":\"x\",\"abc\":\"y\"}", 1 },
        { "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}", "{ \"a\" : 1 }\n", 1 },
        { "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"integer\"},{\"type\":\"string\"}],\"items\":false}", "[1,\"a\"]", 1 },
        { "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"integer\"},{\"type\":\"string\"}],\"items\":false}", "[1,\"a\",2]", 0 },
        { "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"integer\"}],\"minItems\":2,\"maxItems\":3}", "[1,true]", 1 },
        { "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"integer\"}],\"minItems\":2,\"maxItems\":3}", "[1]", 0 },
        { "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"integer\"}],\"minItems\":2,\"maxItems\":3}", "[1,2,3,4]", 0 },
        { "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"items\":[{\"type\":\"null\"}],\"additionalItems\":{\"type\":\"boolean\"}}", "[null,true,false]", 1 },
        { "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"items\":[{\"type\":\"null\"}],\"additionalItems\":{\"type\":\"boolean\"}}", "[null,1]", 0 },
        { "{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"\xc3\xa9\\n\"", 1 },
        { "{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"abcd\"", 0 },
        { "{\"enum\":[1,\"x\",null,{\"k\":[true]}]}", "{\"k\":[true]}", 1 },
        { "{\"enum\":[1,\"x\",null,{\"k\":[true]}]}", "2", 0 },
        { "{\"type\":\"string\",\"enum\":[1,\"x\"]}", "1", 0 },
        { "{\"const\":\"a\\\"b\"}", "\"a\\\"b\"", 1 },
        { "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\",\"minimum\":5}]}", "4", 0 },
        { "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\",\"minimum\":5}]}", "5", 1 },
        { "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "\"s\"", 1 },
        { "{\"properties\":{\"k\":{\"type\":\"string\"}},\"required\":[\"k\"],\"anyOf\":[{\"properties\":{\"k\":{\"const\":\"a\"}}},{\"properties\":{\"k\":{\"const\":\"b\"}}}]}", "{\"k\":\"b\"}", 1 },
        { "{\"properties\":{\"k\":{\"type\":\"string\"}},\"required\":[\"k\"],\"anyOf\":[{\"properties\":{\"k\":{\"const\":\"a\"}}},{\"properties\":{\"k\":{\"const\":\"b\"}}}]}", "{\"k\":\"c\"}", 0 },
        { "{\"allOf\":[{\"properties\":{\"a\":{\"type\":\"integer\"}}},{\"properties\":{\"a\":{\"minimum\":3}}}]}", "{\"a\":2}", 0 },
        { "{\"allOf\":[{\"properties\":{\"a\":{\"type\":\"integer\"}}},{\"properties\":{\"a\":{\"minimum\":3}}}]}", "{\"a\":3}", 1 },
        { "{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"next\":{\"$ref\":\"#/$defs/n\"}},\"required\":[\"v\"],\"additionalProperties\":false}},\"$ref\":\"#/$defs/n\"}",
          "{\"v\":1,\"next\":{\"v\":2,\"next\":{\"v\":3}}}", 1 },
        { "{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"next\":{\"$ref\":\"#/$defs/n\"}},\"required\":[\"v\"],\"additionalProperties\":false}},\"$ref\":\"#/$defs/n\"}",
          "{\"v\":1,\"next\":{\"next\":{\"v\":3}}}", 0 },
        { "{\"type\":\"number\",\"exclusiveMinimum\":0}", "0.0", 0 },
        { "{\"type\":\"number\",\"exclusiveMinimum\":0}", "0.001e-3", 1 },
        { "{\"type\":\"number\",\"minimum\":0}", "-0.0", 1 },
        { "{\"type\":\"number\",\"minimum\":0}", "-1e-9", 0 },
        { "{\"type\":\"string\",\"format\":\"date\"}", "\"2024-02-29\"", 1 },
        { "{\"type\":\"string\",\"format\":\"date\"}", "\"2023-02-29\"", 0 },
        { "{\"type\":\"string\",\"format\":\"date\"}", "\"2000-02-29\"", 1 },
        { "{\"type\":\"string\",\"format\":\"date\"}", "\"1900-02-29\"", 0 },
        { "{\"type\":\"string\",\"format\":\"time\"}", "\"01:29:60+01:30\"", 1 },
        { "{\"type\":\"string\",\"format\":\"time\"}", "\"01:29:60+01:31\"", 0 },
        { "{\"type\":\"string\",\"pattern\":\"^a\\\"b$\"}", "\"a\\\"b\"", 1 },
        { "{\"type\":\"string\",\"pattern\":\"b+\"}", "\"xxbbx\"", 1 },
        { "{\"type\":\"string\",\"pattern\":\"b+\"}", "\"xx\"", 0 },
        { "{\"type\":\"string\",\"pattern\":\"^[a-z]+$\",\"maxLength\":3}", "\"abcd\"", 0 },
        { "{\"type\":\"string\",\"pattern\":\"^[a-z]+$\",\"maxLength\":3}", "\"abc\"", 1 },
        /* one grammar rule per (format or pattern, length bounds), shared where they repeat */
        { "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"format\":\"date\"},\"b\":{\"type\":\"string\",\"format\":\"date\"}},\"required\":[\"a\",\"b\"]}",
          "{\"a\":\"2024-02-29\",\"b\":\"2023-02-28\"}", 1 },
        { "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"format\":\"date\"},\"b\":{\"type\":\"string\",\"format\":\"date\"}},\"required\":[\"a\",\"b\"]}",
          "{\"a\":\"2024-02-29\",\"b\":\"2023-02-29\"}", 0 },
        { "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\",\"maxLength\":2},\"b\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"}}}",
          "{\"a\":\"ab\",\"b\":\"abcdef\"}", 1 },
        { "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\",\"maxLength\":2},\"b\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"}}}",
          "{\"a\":\"abc\",\"b\":\"ab\"}", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct llama_sampler *s = schema_sampler(cases[i].schema, NULL);
        if (!s) continue;
        int got = grammar_accepts(s, cases[i].text);
        CHECK_MSG(got == cases[i].want, "schema %s text %s: want %d got %d", cases[i].schema, cases[i].text, cases[i].want, got);
        /* the validator agrees on the expected verdict */
        db_jsonschema *v = NULL;
        char err[256];
        db_jsonschema_opts o;
        memset(&o, 0, sizeof o);
        o.format_assert = 1;
        cJSON *sj = cJSON_Parse(cases[i].schema);
        if (sj && db_jsonschema_compile_opts(sj, &o, &v, err, sizeof err) == 0) {
            int ok = db_jsonschema_validate_text(v, cases[i].text, NULL, 0);
            CHECK_MSG(ok == cases[i].want, "validator on %s / %s: %d", cases[i].schema, cases[i].text, ok);
        }
        db_jsonschema_free(v);
        cJSON_Delete(sj);
        llama_sampler_free(s);
    }
}

static void test_unsupported(void) {
    static const struct { const char *schema, *why; int rc; } cases[] = {
        { "{\"properties\":{\"tags\":{\"type\":\"array\",\"uniqueItems\":true}}}", "keyword 'uniqueItems' at /properties/tags", 1 },
        { "{\"type\":\"object\",\"minProperties\":2}", "keyword 'minProperties' at (root)", 1 },
        { "{\"not\":{\"type\":\"string\"}}", "keyword 'not' at (root)", 1 },
        { "{\"type\":\"number\",\"multipleOf\":0.5}", "keyword 'multipleOf' at (root)", 1 },
        { "{\"type\":\"string\",\"multipleOf\":0.5}", "", 0 },    /* a keyword for another type constrains nothing */
        { "{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}", "pattern at (root): backreference", 1 },
        { "{\"type\":\"string\",\"pattern\":\"^(?=a)\"}", "pattern at (root): lookahead (?= (?!", 1 },
        { "{\"type\":\"string\",\"maxLength\":5000}", "keyword 'maxLength' (5000) at (root) above the expansion cap 1000", 1 },
        { "{\"type\":\"string\",\"format\":\"hostname\"}", "keyword 'format 'hostname'' at (root)", 1 },
        { "{\"type\":\"number\",\"maximum\":2.5}", "minimum/maximum on a non-integer number at (root) (only integer ranges and sign bounds are exact)", 1 },
        { "{\"oneOf\":[{\"type\":\"string\"},{\"minLength\":2}]}", "keyword 'oneOf' at /oneOf (exclusivity not enforced: branches 0 and 1 not provably disjoint)", 1 },
        { "{\"$ref\":\"http://example.com/s.json\"}", "remote $ref 'http://example.com/s.json' at (root)", 1 },
        { "{\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"},{\"type\":\"null\"}]}},\"$ref\":\"#/$defs/a\"}",
          "circular $ref at /$defs/a (the schema refers to itself without an object or array in between)", 1 },
        { "false", "the schema accepts no value", 1 },
        { "[1]", "the schema is not a JSON object or boolean", -1 },
        /* S7 finding 7: a bad enum under a required property of one oneOf branch
         * freed an uninitialised shape in the disjointness check (bad free) */
        { "{\"type\":\"object\",\"oneOf\":[{\"properties\":{\"status\":{\"enum\":{}}},\"required\":[\"status\"]},{\"required\":[\"status\"]}]}",
          "'enum' at /oneOf/0/properties/status is not an array", -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *g = NULL, why[512];
        int rc = db_json_gbnf_text(cases[i].schema, &g, why, sizeof why);
        CHECK_MSG(rc == cases[i].rc, "%s: rc %d (%s)", cases[i].schema, rc, why);
        if (cases[i].rc) CHECK_STR_EQ(why, cases[i].why);
        CHECK(rc == 0 ? g != NULL : g == NULL);
        free(g);
    }
}

/* integer ranges, brute force: n in [lo-30, hi+30] accepted iff lo <= n <= hi */
static void test_int_ranges(void) {
    if (load_vocab() < 0) { db_test_skip("vocab not loadable"); return; }
    static const long r[][2] = { { 0, 0 }, { 0, 9 }, { 1, 10 }, { 7, 123 }, { -15, 4 }, { -230, -7 }, { 99, 1001 }, { -1, 0 }, { 45, 45 }, { 100, 199 } };
    int checked = 0;
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        for (int form = 0; form < 3; form++) {   /* both bounds, min only, max only */
            char schema[256];
            if (form == 0) snprintf(schema, sizeof schema, "{\"type\":\"integer\",\"minimum\":%ld,\"maximum\":%ld}", r[i][0], r[i][1]);
            else if (form == 1) snprintf(schema, sizeof schema, "{\"type\":\"integer\",\"exclusiveMinimum\":%ld}", r[i][0] - 1);
            else snprintf(schema, sizeof schema, "{\"type\":\"integer\",\"exclusiveMaximum\":%.1f}", (double)r[i][1] + 0.5);
            struct llama_sampler *s = schema_sampler(schema, NULL);
            if (!s) continue;
            for (long n = r[i][0] - 30; n <= r[i][1] + 30; n++) {
                char t[32];
                snprintf(t, sizeof t, "%ld", n);
                int want = (form == 2 || n >= r[i][0]) && (form == 1 || n <= r[i][1]);
                int got = grammar_accepts(s, t);
                CHECK_MSG(got == want, "%s: %ld want %d got %d", schema, n, want, got);
                checked++;
            }
            CHECK_INT_EQ(grammar_accepts(s, "007"), 0);
            CHECK_INT_EQ(grammar_accepts(s, "-0"), 0);
            llama_sampler_free(s);
        }
    }
    printf("  %d integers checked against their ranges\n", checked);
}

/* patterns: the grammar accepts a string iff the validator's regex engine finds a match */
static void test_patterns(void) {
    if (load_vocab() < 0) { db_test_skip("vocab not loadable"); return; }
    static const char *const pats[] = { "^a*b$", "ab|cd", "^(ab|cd)+$", "^[^a-c]{2,3}$", "\\d{2}", "^\\w+@\\w+\\.com$", "^x?$", "[.]$",
                                        "^\\s*$", "^(?:a|b)c{1,2}$", "^[\\-+]?\\d+(\\.\\d+)?$", "^\\S+$", "^.$", "^\\u00e9+$", "^a{0}$", "^[\\x22\\\\]+$" };
    static const char *const subj[] = { "", "a", "b", "ab", "aab", "cd", "abcd", "xcdx", "abab", "d", "dd", "ddd", "12", "x1",
                                        "a@b.com", "a@b.co", "x", "xx", ".", "a.", " ", " \t", "ac", "bcc", "acc c", "+1.5", "-3", "1.",
                                        "\xc3\xa9", "\xc3\xa9\xc3\xa9", "\"", "\\\"", "a\nb", "\n", "abc", "c" };
    int checked = 0;
    for (size_t p = 0; p < sizeof pats / sizeof pats[0]; p++) {
        cJSON *sch = cJSON_CreateObject();
        cJSON_AddStringToObject(sch, "type", "string");
        cJSON_AddStringToObject(sch, "pattern", pats[p]);
        char *st = cJSON_PrintUnformatted(sch);
        cJSON_Delete(sch);
        struct llama_sampler *s = schema_sampler(st, NULL);
        if (s) {
            for (size_t k = 0; k < sizeof subj / sizeof subj[0]; k++) {
                char err[128];
                int want = db_regex_search(pats[p], subj[k], err, sizeof err);
                cJSON *str = cJSON_CreateString(subj[k]);
                char *text = cJSON_PrintUnformatted(str);
                cJSON_Delete(str);
                int got = grammar_accepts(s, text);
                CHECK_MSG(got == want, "pattern /%s/ on %s: want %d got %d", pats[p], text, want, got);
                free(text);
                checked++;
            }
            llama_sampler_free(s);
        }
        free(st);
    }
    printf("  %d pattern/string pairs agree with the validator's regex engine\n", checked);
}

/* ---- data-driven checks ---- */

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_dir(const char *dir, int want_json, char ***out) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.') continue;
        if (want_json && (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) break;
            v = nv;
        }
        v[n++] = db_strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(v, (size_t)n, sizeof *v, cmpstr);
    *out = v;
    return n;
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void add_props(const cJSON *p, const cJSON ***v, int *n) {
    const cJSON **nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
    if (nv) { *v = nv; nv[(*n)++] = p; }
}

/* "properties" objects of a schema document, and object values of const/enum, in document order */
static void collect_props(const cJSON *x, const cJSON ***v, int *n) {
    if (cJSON_IsObject(x)) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(x, "properties");
        if (cJSON_IsObject(p)) add_props(p, v, n);
        p = cJSON_GetObjectItemCaseSensitive(x, "const");
        if (cJSON_IsObject(p)) add_props(p, v, n);
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(x, "enum")) if (cJSON_IsObject(e)) add_props(e, v, n);
    }
    if (cJSON_IsObject(x) || cJSON_IsArray(x)) {
        const cJSON *c;
        cJSON_ArrayForEach(c, x) collect_props(c, v, n);
    }
}

/* Put the members of every object of inst in schema order: repeatedly the
 * "properties" list that covers most of the remaining members, in its order;
 * members no list names stay last in their order.  (The grammar writes members
 * in schema order; JSON objects are unordered.) */
static void reorder(cJSON *inst, const cJSON **props, int np) {
    if (cJSON_IsArray(inst)) { cJSON *c; cJSON_ArrayForEach(c, inst) reorder(c, props, np); return; }
    if (!cJSON_IsObject(inst)) return;
    cJSON *c;
    cJSON_ArrayForEach(c, inst) reorder(c, props, np);
    int n = cJSON_GetArraySize(inst);
    if (n < 2) return;
    cJSON **items = malloc((size_t)n * sizeof *items), **ordered = malloc((size_t)n * sizeof *ordered);
    int k = 0, m = 0;
    if (!items || !ordered) { free(items); free(ordered); return; }
    while (inst->child) items[k++] = cJSON_DetachItemViaPointer(inst, inst->child);
    for (;;) {
        int best = -1, bestc = 0;
        for (int p = 0; p < np; p++) {
            int cnt = 0;
            for (int i = 0; i < k; i++) if (items[i] && cJSON_GetObjectItemCaseSensitive(props[p], items[i]->string)) cnt++;
            if (cnt > bestc) { bestc = cnt; best = p; }
        }
        if (best < 0) break;
        const cJSON *e;
        cJSON_ArrayForEach(e, props[best])
            for (int i = 0; i < k; i++)
                if (items[i] && strcmp(items[i]->string, e->string) == 0) { ordered[m++] = items[i]; items[i] = NULL; }
    }
    for (int i = 0; i < k; i++) if (items[i]) ordered[m++] = items[i];
    for (int i = 0; i < m; i++) cJSON_AddItemToArray(inst, ordered[i]);
    free(items); free(ordered);
}

/* The JSON text of a value in the converter's canonical spelling: cJSON's strings,
 * numbers that read back exactly (integral ones below 1e16 as plain digits). */
static int json_text_to(db_str *o, const cJSON *x) {
    if (cJSON_IsNumber(x)) {
        double d = x->valuedouble;
        char b[64];
        if (d == floor(d) && fabs(d) < 1e16) snprintf(b, sizeof b, "%.0f", d == 0 ? 0.0 : d);
        else for (int p = 15; p <= 17; p++) { snprintf(b, sizeof b, "%.*g", p, d); if (strtod(b, NULL) == d) break; }
        return db_str_append(o, b);
    }
    if (cJSON_IsObject(x) || cJSON_IsArray(x)) {
        int obj = cJSON_IsObject(x), rc = db_str_append(o, obj ? "{" : "["), i = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, x) {
            if (i++) rc |= db_str_append(o, ",");
            if (obj) {
                cJSON *k = cJSON_CreateString(c->string);
                char *kt = k ? cJSON_PrintUnformatted(k) : NULL;
                rc |= kt ? db_str_append(o, kt) : -1;
                rc |= db_str_append(o, ":");
                free(kt);
                cJSON_Delete(k);
            }
            rc |= json_text_to(o, c);
        }
        return rc | db_str_append(o, obj ? "}" : "]");
    }
    char *t = cJSON_PrintUnformatted(x);
    int rc = t ? db_str_append(o, t) : -1;
    free(t);
    return rc;
}

static char *json_text(const cJSON *x) {
    db_str o;
    db_str_init(&o);
    if (json_text_to(&o, x) < 0) { db_str_free(&o); return NULL; }
    return db_str_take(&o);
}

/* accepted as given, or with members in schema order */
static int accepts_instance(struct llama_sampler *s, const cJSON *data, const cJSON **props, int np, int *reordered) {
    char *t = json_text(data);
    int a = t ? grammar_accepts(s, t) : 0;
    free(t);
    if (a == 1 || !np) return a;
    cJSON *d = cJSON_Duplicate(data, 1);
    reorder(d, props, np);
    t = json_text(d);
    cJSON_Delete(d);
    int b = t ? grammar_accepts(s, t) : 0;
    free(t);
    if (b == 1 && reordered) (*reordered)++;
    return b == 1 ? 1 : (a < 0 || b < 0 ? -1 : 0);
}

typedef struct reason { char *text; int n; } reason;

static void count_reason(reason **rs, int *nr, const char *why) {
    /* the reason without its location: "keyword 'x' at /a/b" -> "keyword 'x'" */
    char buf[600];
    snprintf(buf, sizeof buf, "%s", why);
    char *at = strstr(buf, " at ");
    if (at) {
        char *rest = strchr(at + 4, ' ');
        if (rest && (rest[1] == '(' || rest[1] == 'a' || rest[1] == 'b')) memmove(at, rest, strlen(rest) + 1);
        else *at = 0;
    }
    for (int i = 0; i < *nr; i++) if (strcmp((*rs)[i].text, buf) == 0) { (*rs)[i].n++; return; }
    reason *nv = realloc(*rs, (size_t)(*nr + 1) * sizeof *nv);
    if (!nv) return;
    *rs = nv;
    nv[*nr].text = db_strdup(buf);
    nv[*nr].n = 1;
    (*nr)++;
}

static int cmp_reason(const void *a, const void *b) {
    const reason *x = a, *y = b;
    return x->n != y->n ? y->n - x->n : strcmp(x->text, y->text);
}

/* MaskBench instances of the bundled JSONSchemaBench subset; declared coverage */
static void test_maskbench(void) {
    if (load_vocab() < 0) { db_test_skip("vocab not loadable"); return; }
    char root[1024], idir[1100];
    snprintf(root, sizeof root, "%s/data/schemas", db_test_srcdir());
    snprintf(idir, sizeof idir, "%s/instances", root);
    char **splits;
    int nsplit = list_dir(idir, 0, &splits);
    if (nsplit <= 0) { db_test_skip("data/schemas/instances not found"); return; }
    int schemas = 0, supported = 0, unsupported = 0, errors = 0, grammar_fail = 0;
    int nvalid = 0, vacc = 0, ninvalid = 0, irej = 0, reordered = 0, skipped_label = 0, seg_disagree = 0;
    reason *rs = NULL;
    int nr = 0, stride = sample_stride(), seen = 0;
    if (stride > 1) printf("  checking every %d-th instance (DB_JSON_GBNF_STRIDE)\n", stride);
    printf("  %-16s %8s %9s %7s %7s\n", "split", "schemas", "supported", "valid", "invalid");
    for (int si = 0; si < nsplit; si++) {
        char sdir[1300];
        snprintf(sdir, sizeof sdir, "%s/%s", idir, splits[si]);
        char **names;
        int n = list_dir(sdir, 1, &names);
        int s_sch = 0, s_sup = 0, s_val = 0, s_inv = 0;
        for (int i = 0; i < n; i++) {
            char path[1500], err[512], why[512];
            snprintf(path, sizeof path, "%s/%s", sdir, names[i]);
            size_t len;
            char *text = db_read_file(path, &len, err, sizeof err);
            cJSON *inst = text ? cJSON_Parse(text) : NULL;
            free(text);
            if (!inst) { CHECK_MSG(0, "%s unreadable", path); continue; }
            const char *rel = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(inst, "schema"));
            char spath[1500];
            snprintf(spath, sizeof spath, "%s/%s", root, rel ? rel : "?");
            char *stext = db_read_file(spath, &len, err, sizeof err);
            cJSON *sj = stext ? cJSON_Parse(stext) : NULL;
            free(stext);
            schemas++; s_sch++;
            char *gbnf = NULL;
            int rc = sj ? db_json_gbnf(sj, &gbnf, why, sizeof why) : -1;
            if (rc < 0) { errors++; printf("    error %s: %s\n", rel, sj ? why : "unreadable"); }
            else if (rc > 0) { unsupported++; count_reason(&rs, &nr, why); }
            struct llama_sampler *s = rc == 0 ? grammar_load(gbnf) : NULL;
            if (rc == 0 && !s) { grammar_fail++; CHECK_MSG(0, "%s: grammar does not parse", rel); }
            if (s) {
                supported++; s_sup++;
                db_jsonschema_opts o;
                memset(&o, 0, sizeof o);
                o.format_assert = 1;
                o.base_uri = spath;
                db_jsonschema *v = NULL;
                db_jsonschema_compile_opts(sj, &o, &v, err, sizeof err);
                const cJSON **props = NULL;
                int np = 0;
                collect_props(sj, &props, &np);
                const cJSON *t;
                int k = 0;
                cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(inst, "tests")) {
                    const cJSON *data = cJSON_GetObjectItemCaseSensitive(t, "data");
                    int label = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "valid"));
                    if (seen++ % stride) { k++; continue; }
                    int vv = v ? db_jsonschema_validate(v, data, NULL, 0) : -1;
                    if (vv != label) { skipped_label++; k++; continue; }   /* the validator disagrees with the label */
                    int got = accepts_instance(s, data, props, np, &reordered);
                    if (got < 0) seg_disagree++;
                    if (label) {
                        nvalid++; s_val++;
                        if (got == 1) vacc++;
                        else printf("    valid instance rejected: %s test %d (%s)\n", rel, k, got < 0 ? "segmentations disagree" : "rejected");
                    } else {
                        ninvalid++; s_inv++;
                        if (got == 0) irej++;
                        else printf("    INVALID instance accepted: %s test %d\n", rel, k);
                    }
                    k++;
                }
                free(props);
                db_jsonschema_free(v);
                llama_sampler_free(s);
            }
            free(gbnf);
            cJSON_Delete(sj);
            cJSON_Delete(inst);
        }
        printf("  %-16s %8d %9d %7d %7d\n", splits[si], s_sch, s_sup, s_val, s_inv);
        free_list(names, n);
    }
    free_list(splits, nsplit);
    printf("  declared coverage: %d of %d schemas supported (%.1f%%), %d unsupported, %d errors\n", supported, schemas,
           schemas ? 100.0 * supported / schemas : 0.0, unsupported, errors);
    qsort(rs, (size_t)nr, sizeof *rs, cmp_reason);
    printf("  top reasons for unsupported schemas:\n");
    for (int i = 0; i < nr; i++) {
        if (i < 15) printf("    %4d  %s\n", rs[i].n, rs[i].text);
        free(rs[i].text);
    }
    free(rs);
    printf("  valid instances accepted: %d/%d (%d needed members in schema order); invalid rejected: %d/%d;"
           " %d label/validator disagreements skipped; %d segmentation disagreements\n",
           vacc, nvalid, reordered, irej, ninvalid, skipped_label, seg_disagree);
    CHECK_INT_EQ(grammar_fail, 0);
    CHECK_INT_EQ(seg_disagree, 0);
    CHECK_INT_EQ(irej, ninvalid);
    CHECK_INT_EQ(vacc, nvalid);
    CHECK(supported > 0);
    if (stride == 1) {
        /* the whole set: the counts the README quotes (a change in the data or
         * in the converter's coverage must update the README) */
        CHECK_INT_EQ(schemas, 370);
        CHECK_INT_EQ(supported, 292);
        CHECK_INT_EQ(nvalid, 441);
        CHECK_INT_EQ(ninvalid, 795);
    }
}

/* JSON-Schema-Test-Suite files of the keywords the converter enforces */
static const char *const suite_2020[] = { "additionalProperties", "allOf", "anyOf", "boolean_schema", "const", "default", "defs",
    "enum", "exclusiveMaximum", "exclusiveMinimum", "items", "maxItems", "maxLength", "maximum", "minItems", "minLength",
    "minimum", "oneOf", "pattern", "prefixItems", "properties", "ref", "required", "type", NULL };
static const char *const suite_7[] = { "additionalItems", "additionalProperties", "allOf", "anyOf", "boolean_schema", "const",
    "default", "definitions", "enum", "exclusiveMaximum", "exclusiveMinimum", "items", "maxItems", "maxLength", "maximum",
    "minItems", "minLength", "minimum", "oneOf", "pattern", "properties", "ref", "required", "type", NULL };
static const char *const suite_formats[] = { "date", "date-time", "time", "uuid", "email", "ipv4", "ipv6", "uri", NULL };

typedef struct tally { int pass, fail, unsup_tests, groups, unsup_groups, skipped; } tally;

static tally run_suite_file(const char *path, int draft, int format) {
    tally c = { 0, 0, 0, 0, 0, 0 };
    char err[512];
    size_t len;
    char *text = db_read_file(path, &len, err, sizeof err);
    cJSON *groups = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!groups) { CHECK_MSG(0, "%s unreadable", path); return c; }
    const cJSON *gr;
    static int seen;
    int stride = sample_stride();
    cJSON_ArrayForEach(gr, groups) {
        if (seen++ % stride) continue;
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(gr, "schema");
        const cJSON *tests = cJSON_GetObjectItemCaseSensitive(gr, "tests");
        cJSON *sch = cJSON_Duplicate(schema, 1);
        /* the file's draft when the schema names none (the converter reads draft-07 from $schema) */
        if (cJSON_IsObject(sch) && !cJSON_GetObjectItemCaseSensitive(sch, "$schema") && draft == 7)
            cJSON_AddStringToObject(sch, "$schema", "http://json-schema.org/draft-07/schema#");
        c.groups++;
        char *gbnf = NULL, why[512];
        int rc = db_json_gbnf(sch, &gbnf, why, sizeof why);
        struct llama_sampler *s = rc == 0 ? grammar_load(gbnf) : NULL;
        if (rc == 0) CHECK_MSG(s != NULL, "%s: grammar does not parse", path);
        if (!s) { c.unsup_groups++; c.unsup_tests += cJSON_GetArraySize(tests); }
        const cJSON **props = NULL;
        int np = 0;
        collect_props(sch, &props, &np);
        const cJSON *t;
        cJSON_ArrayForEach(t, tests) {
            if (!s) break;
            const cJSON *data = cJSON_GetObjectItemCaseSensitive(t, "data");
            int want = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "valid"));
            const char *desc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "description"));
            if (desc && strstr(desc, "NUL")) { c.skipped++; continue; }   /* U+0000 in a string: cJSON truncates it */
            int got = accepts_instance(s, data, props, np, NULL);
            if (got == want) c.pass++;
            else {
                c.fail++;
                char *dt = cJSON_PrintUnformatted(data);
                printf("    FAIL %s | %s | %s: %s want %d got %d\n", strrchr(path, '/') + 1,
                       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(gr, "description")), desc ? desc : "?",
                       dt ? dt : "?", want, got);
                free(dt);
            }
        }
        (void)format;
        free(props);
        if (s) llama_sampler_free(s);
        free(gbnf);
        cJSON_Delete(sch);
    }
    cJSON_Delete(groups);
    return c;
}

/* returns the number of tests run on supported schemas (all of them pass, or a CHECK failed) */
static int run_suite(const char *folder, int draft, const char *const *files, int format) {
    int tp = 0, tf = 0;
    printf("  %-22s %5s %5s %8s %12s\n", format ? "format" : folder, "pass", "of", "rate", "unsupported");
    for (int i = 0; files[i]; i++) {
        char path[1500];
        snprintf(path, sizeof path, "%s/tests/data/json-schema-test-suite/tests/%s/%s%s.json", db_test_srcdir(), folder,
                 format ? "optional/format/" : "", files[i]);
        if (!db_file_exists(path)) { printf("  %-22s (no such file)\n", files[i]); continue; }
        tally c = run_suite_file(path, draft, format);
        int tot = c.pass + c.fail;
        printf("  %-22s %5d %5d %7.1f%% %5d groups (%d tests)%s\n", files[i], c.pass, tot, tot ? 100.0 * c.pass / tot : 100.0,
               c.unsup_groups, c.unsup_tests, c.skipped ? " +NUL skipped" : "");
        tp += c.pass; tf += c.fail;
        CHECK_MSG(c.fail == 0, "%s/%s: %d of %d tests disagree on supported schemas", folder, files[i], c.fail, tot);
    }
    printf("  %-22s %5d %5d %7.1f%%\n", "TOTAL", tp, tp + tf, tp + tf ? 100.0 * tp / (tp + tf) : 0.0);
    return tp + tf;
}

static void test_suite_2020(void) {
    if (load_vocab() < 0) { db_test_skip("vocab not loadable"); return; }
    if (sample_stride() > 1) printf("  checking every %d-th test group (DB_JSON_GBNF_STRIDE)\n", sample_stride());
    int n = run_suite("draft2020-12", 2020, suite_2020, 0);
    run_suite("draft2020-12", 2020, suite_formats, 1);
    if (sample_stride() == 1) CHECK_INT_EQ(n, 388);   /* the README's count */
}

static void test_suite_7(void) {
    if (load_vocab() < 0) { db_test_skip("vocab not loadable"); return; }
    int n = run_suite("draft7", 7, suite_7, 0);
    run_suite("draft7", 7, suite_formats, 1);
    if (sample_stride() == 1) CHECK_INT_EQ(n, 401);   /* the README's count */
}

/* A format repeated in a schema is one grammar rule referred to by name:
 * three date-time fields cost about one date-time grammar, not three. */
static void test_format_rules_shared(void) {
    char *one = NULL, *three = NULL, why[256];
    cJSON *s1 = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"format\":\"date-time\"}}}");
    cJSON *s3 = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"format\":\"date-time\"},"
                            "\"b\":{\"type\":\"string\",\"format\":\"date-time\"},\"c\":{\"type\":\"string\",\"format\":\"date-time\"}}}");
    CHECK_INT_EQ(db_json_gbnf(s1, &one, why, sizeof why), 0);
    CHECK_INT_EQ(db_json_gbnf(s3, &three, why, sizeof why), 0);
    if (one && three) {
        CHECK_MSG(strlen(three) < strlen(one) + strlen(one) / 10, "3 date-times: %zu bytes, 1: %zu bytes", strlen(three),
                  strlen(one));
        int defs = 0;
        for (const char *p = three; (p = strstr(p, "\nformat ::= ")) != NULL; p++) defs++;
        if (!strncmp(three, "format ::= ", 11)) defs++;
        CHECK_INT_EQ(defs, 1);
    }
    free(one);
    free(three);
    cJSON_Delete(s1);
    cJSON_Delete(s3);
}

void suite_json_gbnf(void) {
    RUN(test_format_rules_shared);
    RUN(test_unsupported);
    RUN(test_basic);
    RUN(test_int_ranges);
    RUN(test_patterns);
    RUN(test_maskbench);
    RUN(test_suite_2020);
    RUN(test_suite_7);
    if (g_vocab_model) { llama_model_free(g_vocab_model); g_vocab_model = NULL; g_vocab = NULL; }
}

#else
static void test_no_llama(void) { db_test_skip("built without llama.cpp"); }
void suite_json_gbnf(void) { RUN(test_no_llama); }
#endif
