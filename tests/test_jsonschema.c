/* test_jsonschema.c — the JSON Schema validator (harness/constraint/jsonschema.c) against
 * the official JSON-Schema-Test-Suite (tests/data/json-schema-test-suite, draft
 * 2020-12 and draft-07; optional/format in assertion mode) and MaskBench's
 * labelled instances (data/schemas/instances).  Prints a per-keyword pass-rate
 * table; asserts 100% on every keyword file declared supported below.
 */
#include "test.h"
#include "harness/constraint/jsonschema.h"
#include "harness/constraint/regex_syntax.h"
#include "harness/util/util.h"

#include <dirent.h>
#include <stdlib.h>

/* Keyword files (file name = keyword) declared fully supported: each must pass
 * 100% of its tests.  Everything else is reported but not asserted (see
 * docs/jsonschema.md for the numbers). */
static const char *const supported_2020[] = {
    "additionalProperties", "allOf", "anchor", "anyOf", "boolean_schema", "const", "contains",
    "content", "default", "defs", "dependentRequired", "dependentSchemas", "dynamicRef", "enum",
    "exclusiveMaximum", "exclusiveMinimum", "format", "if-then-else", "infinite-loop-detection",
    "items", "maxContains", "maxItems", "maxLength", "maxProperties", "maximum", "minContains",
    "minItems", "minLength", "minProperties", "minimum", "multipleOf", "not", "oneOf", "pattern",
    "patternProperties", "prefixItems", "properties", "propertyNames", "ref", "refRemote",
    "required", "type", "unevaluatedItems", "unevaluatedProperties", "uniqueItems", NULL
};
static const char *const supported_7[] = {
    "additionalItems", "additionalProperties", "allOf", "anyOf", "boolean_schema", "const",
    "contains", "default", "definitions", "dependencies", "enum", "exclusiveMaximum",
    "exclusiveMinimum", "format", "if-then-else", "infinite-loop-detection", "items", "maxItems",
    "maxLength", "maxProperties", "maximum", "minItems", "minLength", "minProperties", "minimum",
    "multipleOf", "not", "oneOf", "pattern", "patternProperties", "properties", "propertyNames",
    "ref", "refRemote", "required", "type", "uniqueItems", NULL
};
/* optional/format files run with format assertion on (format_assert = 1) */
static const char *const formats[] = { "date", "date-time", "time", "email", "ipv4", "ipv6", "uuid", "uri",
                                       "hostname", "regex", NULL };
static const char *const supported_formats[] = { "date", "date-time", "time", "email", "ipv4", "ipv6", "uuid", "uri",
                                                 "regex", NULL };   /* hostname: partial (no IDNA A-label rules) */

/* The draft-07 and draft 2020-12 meta-schemas (minified; from json-schema.org,
 * as shipped by the jsonschema-specifications package), for the suite's
 * "validate definition against metaschema" and "remote ref, containing refs
 * itself" tests.  The resolver serves these first, then the suite's remotes. */
static const struct { const char *uri, *json; } metaschemas[] = {
    { "http://json-schema.org/draft-07/schema",
      "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"$id\":\"http://json-schema.org/draft-"
      "07/schema#\",\"title\":\"Core schema meta-schema\",\"definitions\":{\"schemaArray\":{\"type\":\""
      "array\",\"minItems\":1,\"items\":{\"$ref\":\"#\"}},\"nonNegativeInteger\":{\"type\":\"integer\","
      "\"minimum\":0},\"nonNegativeIntegerDefault0\":{\"allOf\":[{\"$ref\":\"#/definitions/nonNegativeI"
      "nteger\"},{\"default\":0}]},\"simpleTypes\":{\"enum\":[\"array\",\"boolean\",\"integer\",\"null\""
      ",\"number\",\"object\",\"string\"]},\"stringArray\":{\"type\":\"array\",\"items\":{\"type\":\"st"
      "ring\"},\"uniqueItems\":true,\"default\":[]}},\"type\":[\"object\",\"boolean\"],\"properties\":{"
      "\"$id\":{\"type\":\"string\",\"format\":\"uri-reference\"},\"$schema\":{\"type\":\"string\",\"fo"
      "rmat\":\"uri\"},\"$ref\":{\"type\":\"string\",\"format\":\"uri-reference\"},\"$comment\":{\"type"
      "\":\"string\"},\"title\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},\"default\""
      ":true,\"readOnly\":{\"type\":\"boolean\",\"default\":false},\"examples\":{\"type\":\"array\",\"i"
      "tems\":true},\"multipleOf\":{\"type\":\"number\",\"exclusiveMinimum\":0},\"maximum\":{\"type\":\""
      "number\"},\"exclusiveMaximum\":{\"type\":\"number\"},\"minimum\":{\"type\":\"number\"},\"exclusi"
      "veMinimum\":{\"type\":\"number\"},\"maxLength\":{\"$ref\":\"#/definitions/nonNegativeInteger\"},"
      "\"minLength\":{\"$ref\":\"#/definitions/nonNegativeIntegerDefault0\"},\"pattern\":{\"type\":\"st"
      "ring\",\"format\":\"regex\"},\"additionalItems\":{\"$ref\":\"#\"},\"items\":{\"anyOf\":[{\"$ref\""
      ":\"#\"},{\"$ref\":\"#/definitions/schemaArray\"}],\"default\":true},\"maxItems\":{\"$ref\":\"#/d"
      "efinitions/nonNegativeInteger\"},\"minItems\":{\"$ref\":\"#/definitions/nonNegativeIntegerDefaul"
      "t0\"},\"uniqueItems\":{\"type\":\"boolean\",\"default\":false},\"contains\":{\"$ref\":\"#\"},\"m"
      "axProperties\":{\"$ref\":\"#/definitions/nonNegativeInteger\"},\"minProperties\":{\"$ref\":\"#/d"
      "efinitions/nonNegativeIntegerDefault0\"},\"required\":{\"$ref\":\"#/definitions/stringArray\"},\""
      "additionalProperties\":{\"$ref\":\"#\"},\"definitions\":{\"type\":\"object\",\"additionalPropert"
      "ies\":{\"$ref\":\"#\"},\"default\":{}},\"properties\":{\"type\":\"object\",\"additionalPropertie"
      "s\":{\"$ref\":\"#\"},\"default\":{}},\"patternProperties\":{\"type\":\"object\",\"additionalProp"
      "erties\":{\"$ref\":\"#\"},\"propertyNames\":{\"format\":\"regex\"},\"default\":{}},\"dependencie"
      "s\":{\"type\":\"object\",\"additionalProperties\":{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#/def"
      "initions/stringArray\"}]}},\"propertyNames\":{\"$ref\":\"#\"},\"const\":true,\"enum\":{\"type\":"
      "\"array\",\"items\":true},\"type\":{\"anyOf\":[{\"$ref\":\"#/definitions/simpleTypes\"},{\"type\""
      ":\"array\",\"items\":{\"$ref\":\"#/definitions/simpleTypes\"},\"minItems\":1,\"uniqueItems\":tru"
      "e}]},\"format\":{\"type\":\"string\"},\"contentMediaType\":{\"type\":\"string\"},\"contentEncodi"
      "ng\":{\"type\":\"string\"},\"if\":{\"$ref\":\"#\"},\"then\":{\"$ref\":\"#\"},\"else\":{\"$ref\":"
      "\"#\"},\"allOf\":{\"$ref\":\"#/definitions/schemaArray\"},\"anyOf\":{\"$ref\":\"#/definitions/sc"
      "hemaArray\"},\"oneOf\":{\"$ref\":\"#/definitions/schemaArray\"},\"not\":{\"$ref\":\"#\"}},\"defa"
      "ult\":true}"
    },
    { "https://json-schema.org/draft/2020-12/schema",
      "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schema.org/"
      "draft/2020-12/schema\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/vocab/core\":tru"
      "e,\"https://json-schema.org/draft/2020-12/vocab/applicator\":true,\"https://json-schema.org/draf"
      "t/2020-12/vocab/unevaluated\":true,\"https://json-schema.org/draft/2020-12/vocab/validation\":tr"
      "ue,\"https://json-schema.org/draft/2020-12/vocab/meta-data\":true,\"https://json-schema.org/draf"
      "t/2020-12/vocab/format-annotation\":true,\"https://json-schema.org/draft/2020-12/vocab/content\""
      ":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Core and Validation specifications meta-schema\","
      "\"allOf\":[{\"$ref\":\"meta/core\"},{\"$ref\":\"meta/applicator\"},{\"$ref\":\"meta/unevaluated\""
      "},{\"$ref\":\"meta/validation\"},{\"$ref\":\"meta/meta-data\"},{\"$ref\":\"meta/format-annotatio"
      "n\"},{\"$ref\":\"meta/content\"}],\"type\":[\"object\",\"boolean\"],\"$comment\":\"This meta-sch"
      "ema also defines keywords that have appeared in previous drafts in order to prevent incompatible"
      " extensions as they remain in common use.\",\"properties\":{\"definitions\":{\"$comment\":\"\\\""
      "definitions\\\" has been replaced by \\\"$defs\\\".\",\"type\":\"object\",\"additionalProperties"
      "\":{\"$dynamicRef\":\"#meta\"},\"deprecated\":true,\"default\":{}},\"dependencies\":{\"$comment\""
      ":\"\\\"dependencies\\\" has been split and replaced by \\\"dependentSchemas\\\" and \\\"dependen"
      "tRequired\\\" in order to serve their differing semantics.\",\"type\":\"object\",\"additionalPro"
      "perties\":{\"anyOf\":[{\"$dynamicRef\":\"#meta\"},{\"$ref\":\"meta/validation#/$defs/stringArray"
      "\"}]},\"deprecated\":true,\"default\":{}},\"$recursiveAnchor\":{\"$comment\":\"\\\"$recursiveAnc"
      "hor\\\" has been replaced by \\\"$dynamicAnchor\\\".\",\"$ref\":\"meta/core#/$defs/anchorString\""
      ",\"deprecated\":true},\"$recursiveRef\":{\"$comment\":\"\\\"$recursiveRef\\\" has been replaced "
      "by \\\"$dynamicRef\\\".\",\"$ref\":\"meta/core#/$defs/uriReferenceString\",\"deprecated\":true}}"
      "}"
    },
    { "https://json-schema.org/draft/2020-12/meta/core",
      "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schema.org/"
      "draft/2020-12/meta/core\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/vocab/core\":"
      "true},\"$dynamicAnchor\":\"meta\",\"title\":\"Core vocabulary meta-schema\",\"type\":[\"object\""
      ",\"boolean\"],\"properties\":{\"$id\":{\"$ref\":\"#/$defs/uriReferenceString\",\"$comment\":\"No"
      "n-empty fragments not allowed.\",\"pattern\":\"^[^#]*#?$\"},\"$schema\":{\"$ref\":\"#/$defs/uriS"
      "tring\"},\"$ref\":{\"$ref\":\"#/$defs/uriReferenceString\"},\"$anchor\":{\"$ref\":\"#/$defs/anch"
      "orString\"},\"$dynamicRef\":{\"$ref\":\"#/$defs/uriReferenceString\"},\"$dynamicAnchor\":{\"$ref"
      "\":\"#/$defs/anchorString\"},\"$vocabulary\":{\"type\":\"object\",\"propertyNames\":{\"$ref\":\""
      "#/$defs/uriString\"},\"additionalProperties\":{\"type\":\"boolean\"}},\"$comment\":{\"type\":\"s"
      "tring\"},\"$defs\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"}}},\""
      "$defs\":{\"anchorString\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z_][-A-Za-z0-9._]*$\"},\"uri"
      "String\":{\"type\":\"string\",\"format\":\"uri\"},\"uriReferenceString\":{\"type\":\"string\",\""
      "format\":\"uri-reference\"}}}"
    },
    { "https://json-schema.org/draft/2020-12/meta/applicator",
      "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schema.org/"
      "draft/2020-12/meta/applicator\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/vocab/a"
      "pplicator\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Applicator vocabulary meta-schema\",\""
      "type\":[\"object\",\"boolean\"],\"properties\":{\"prefixItems\":{\"$ref\":\"#/$defs/schemaArray\""
      "},\"items\":{\"$dynamicRef\":\"#meta\"},\"contains\":{\"$dynamicRef\":\"#meta\"},\"additionalPro"
      "perties\":{\"$dynamicRef\":\"#meta\"},\"properties\":{\"type\":\"object\",\"additionalProperties"
      "\":{\"$dynamicRef\":\"#meta\"},\"default\":{}},\"patternProperties\":{\"type\":\"object\",\"addi"
      "tionalProperties\":{\"$dynamicRef\":\"#meta\"},\"propertyNames\":{\"format\":\"regex\"},\"defaul"
      "t\":{}},\"dependentSchemas\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef\":\"#m"
      "eta\"},\"default\":{}},\"propertyNames\":{\"$dynamicRef\":\"#meta\"},\"if\":{\"$dynamicRef\":\"#"
      "meta\"},\"then\":{\"$dynamicRef\":\"#meta\"},\"else\":{\"$dynamicRef\":\"#meta\"},\"allOf\":{\"$"
      "ref\":\"#/$defs/schemaArray\"},\"anyOf\":{\"$ref\":\"#/$defs/schemaArray\"},\"oneOf\":{\"$ref\":"
      "\"#/$defs/schemaArray\"},\"not\":{\"$dynamicRef\":\"#meta\"}},\"$defs\":{\"schemaArray\":{\"type"
      "\":\"array\",\"minItems\":1,\"items\":{\"$dynamicRef\":\"#meta\"}}}}"
    },
    { "https://json-schema.org/draft/2020-12/meta/unevaluated",
      "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schema.org/"
      "draft/2020-12/meta/unevaluated\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/vocab/"
      "unevaluated\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Unevaluated applicator vocabulary me"
      "ta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"unevaluatedItems\":{\"$dynamicRe"
      "f\":\"#meta\"},\"unevaluatedProperties\":{\"$dynamicRef\":\"#meta\"}}}"
    },
    { "https://json-schema.org/draft/2020-12/meta/validation",
      "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schema.org/"
      "draft/2020-12/meta/validation\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/vocab/v"
      "alidation\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Validation vocabulary meta-schema\",\""
      "type\":[\"object\",\"boolean\"],\"properties\":{\"type\":{\"anyOf\":[{\"$ref\":\"#/$defs/simpleT"
      "ypes\"},{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/simpleTypes\"},\"minItems\":1,\"unique"
      "Items\":true}]},\"const\":true,\"enum\":{\"type\":\"array\",\"items\":true},\"multipleOf\":{\"ty"
      "pe\":\"number\",\"exclusiveMinimum\":0},\"maximum\":{\"type\":\"number\"},\"exclusiveMaximum\":{"
      "\"type\":\"number\"},\"minimum\":{\"type\":\"number\"},\"exclusiveMinimum\":{\"type\":\"number\""
      "},\"maxLength\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"minLength\":{\"$ref\":\"#/$defs/nonN"
      "egativeIntegerDefault0\"},\"pattern\":{\"type\":\"string\",\"format\":\"regex\"},\"maxItems\":{\""
      "$ref\":\"#/$defs/nonNegativeInteger\"},\"minItems\":{\"$ref\":\"#/$defs/nonNegativeIntegerDefaul"
      "t0\"},\"uniqueItems\":{\"type\":\"boolean\",\"default\":false},\"maxContains\":{\"$ref\":\"#/$de"
      "fs/nonNegativeInteger\"},\"minContains\":{\"$ref\":\"#/$defs/nonNegativeInteger\",\"default\":1}"
      ",\"maxProperties\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"minProperties\":{\"$ref\":\"#/$de"
      "fs/nonNegativeIntegerDefault0\"},\"required\":{\"$ref\":\"#/$defs/stringArray\"},\"dependentRequ"
      "ired\":{\"type\":\"object\",\"additionalProperties\":{\"$ref\":\"#/$defs/stringArray\"}}},\"$def"
      "s\":{\"nonNegativeInteger\":{\"type\":\"integer\",\"minimum\":0},\"nonNegativeIntegerDefault0\":"
      "{\"$ref\":\"#/$defs/nonNegativeInteger\",\"default\":0},\"simpleTypes\":{\"enum\":[\"array\",\"b"
      "oolean\",\"integer\",\"null\",\"number\",\"object\",\"string\"]},\"stringArray\":{\"type\":\"arr"
      "ay\",\"items\":{\"type\":\"string\"},\"uniqueItems\":true,\"default\":[]}}}"
    },
    { "https://json-schema.org/draft/2020-12/meta/meta-data",
      "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schema.org/"
      "draft/2020-12/meta/meta-data\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/vocab/me"
      "ta-data\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Meta-data vocabulary meta-schema\",\"typ"
      "e\":[\"object\",\"boolean\"],\"properties\":{\"title\":{\"type\":\"string\"},\"description\":{\""
      "type\":\"string\"},\"default\":true,\"deprecated\":{\"type\":\"boolean\",\"default\":false},\"re"
      "adOnly\":{\"type\":\"boolean\",\"default\":false},\"writeOnly\":{\"type\":\"boolean\",\"default\""
      ":false},\"examples\":{\"type\":\"array\",\"items\":true}}}"
    },
    { "https://json-schema.org/draft/2020-12/meta/format-annotation",
      "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schema.org/"
      "draft/2020-12/meta/format-annotation\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/"
      "vocab/format-annotation\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Format vocabulary meta-s"
      "chema for annotation results\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"format\":{\"t"
      "ype\":\"string\"}}}"
    },
    { "https://json-schema.org/draft/2020-12/meta/content",
      "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schema.org/"
      "draft/2020-12/meta/content\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/vocab/cont"
      "ent\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Content vocabulary meta-schema\",\"type\":[\""
      "object\",\"boolean\"],\"properties\":{\"contentEncoding\":{\"type\":\"string\"},\"contentMediaTy"
      "pe\":{\"type\":\"string\"},\"contentSchema\":{\"$dynamicRef\":\"#meta\"}}}"
    },
};

static char *test_resolver(void *user, const char *uri, char *err, size_t errlen) {
    for (size_t i = 0; i < sizeof metaschemas / sizeof metaschemas[0]; i++)
        if (strcmp(metaschemas[i].uri, uri) == 0) return db_strdup(metaschemas[i].json);
    return db_jsonschema_resolve_dir(user, uri, err, errlen);
}

/* Tests that cannot pass through cJSON: their data holds U+0000 inside a string,
 * and cJSON's strings are NUL-terminated, so the validator sees a truncated
 * value.  Counted as skipped (printed), not as passes. */
static const char *const nul_tests[] = {
    "invalid: NUL character after an otherwise valid full-date",
    "additional content after an embedded NUL byte",
    NULL
};

static int in_list(const char *const *l, const char *s) {
    for (; *l; l++) if (strcmp(*l, s) == 0) return 1;
    return 0;
}

static char suite_dir[1024];
static db_jsonschema_dirmap remotes[2];

static void setup_remotes(void) {
    static char rdir[1100];
    snprintf(suite_dir, sizeof suite_dir, "%s/tests/data/json-schema-test-suite", db_test_srcdir());
    snprintf(rdir, sizeof rdir, "%s/remotes/", suite_dir);
    remotes[0].prefix = "http://localhost:1234/";
    remotes[0].dir = rdir;
    remotes[1].prefix = NULL;
    remotes[1].dir = NULL;
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted *.json names in dir (malloc'd array of malloc'd names); returns count. */
static int list_json(const char *dir, char ***out) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0) continue;
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

typedef struct counts { int pass, fail, skip; } counts;

/* Run one test-suite file; returns pass/fail counts, printing failures when verbose. */
static counts run_file(const char *path, int draft, int format_assert, int verbose) {
    counts c = { 0, 0, 0 };
    char err[512];
    size_t len;
    char *text = db_read_file(path, &len, err, sizeof err);
    CHECK_MSG(text != NULL, "%s", err);
    if (!text) return c;
    cJSON *groups = cJSON_Parse(text);
    free(text);
    CHECK_MSG(groups != NULL, "%s: not valid JSON", path);
    if (!groups) return c;
    const cJSON *g;
    cJSON_ArrayForEach(g, groups) {
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(g, "schema");
        const cJSON *tests = cJSON_GetObjectItemCaseSensitive(g, "tests");
        const char *gdesc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, "description"));
        db_jsonschema_opts o;
        memset(&o, 0, sizeof o);
        o.draft = draft;
        o.format_assert = format_assert;
        o.resolver = test_resolver;
        o.resolver_user = remotes;
        db_jsonschema *s = NULL;
        int rc = db_jsonschema_compile_opts(schema, &o, &s, err, sizeof err);
        const cJSON *t;
        cJSON_ArrayForEach(t, tests) {
            const char *tdesc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "description"));
            int want = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "valid"));
            char why[512] = "";
            if (tdesc && in_list(nul_tests, tdesc)) {
                c.skip++;
                printf("    skip %s | %s (U+0000 in a string: cJSON truncates it)\n", strrchr(path, '/') + 1, tdesc);
                continue;
            }
            int got = rc < 0 ? -1 : db_jsonschema_validate(s, cJSON_GetObjectItemCaseSensitive(t, "data"), why, sizeof why);
            if (got == want) c.pass++;
            else {
                c.fail++;
                if (verbose)
                    printf("    FAIL %s | %s | %s: want %d got %d (%s)\n", strrchr(path, '/') + 1,
                           gdesc ? gdesc : "?", tdesc ? tdesc : "?", want, got, rc < 0 ? err : why);
            }
        }
        db_jsonschema_free(s);
    }
    cJSON_Delete(groups);
    return c;
}

static void run_draft(const char *folder, int draft, const char *const *supported) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/tests/%s", suite_dir, folder);
    char **names;
    int n = list_json(dir, &names);
    CHECK_MSG(n > 0, "%s: no test files", dir);
    if (n <= 0) return;
    int tp = 0, tf = 0, sp = 0, sf = 0;
    printf("  %-28s %6s %6s %8s  %s\n", folder, "pass", "total", "rate", "declared");
    for (int i = 0; i < n; i++) {
        char path[1500], kw[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(kw, sizeof kw, "%.*s", (int)(strlen(names[i]) - 5), names[i]);
        int sup = in_list(supported, kw);
        counts c = run_file(path, draft, 0, sup);
        int tot = c.pass + c.fail;
        printf("  %-28s %6d %6d %7.1f%%  %s\n", kw, c.pass, tot, tot ? 100.0 * c.pass / tot : 0.0,
               sup ? "supported" : "not declared");
        tp += c.pass; tf += c.fail;
        if (sup) {
            sp += c.pass; sf += c.fail;
            CHECK_MSG(c.fail == 0, "%s/%s: %d of %d tests fail on a keyword declared supported", folder, kw, c.fail, tot);
        }
    }
    printf("  %-28s %6d %6d %7.1f%%  (all files)\n", "TOTAL", tp, tp + tf, 100.0 * tp / (tp + tf));
    printf("  %-28s %6d %6d %7.1f%%  (declared supported)\n", "TOTAL supported", sp, sp + sf, sp + sf ? 100.0 * sp / (sp + sf) : 0.0);
    free_list(names, n);
}

static void test_suite_draft2020(void) {
    setup_remotes();
    run_draft("draft2020-12", DB_JSONSCHEMA_DRAFT2020, supported_2020);
}

static void test_suite_draft7(void) {
    setup_remotes();
    run_draft("draft7", DB_JSONSCHEMA_DRAFT7, supported_7);
}

static void test_suite_formats(void) {
    setup_remotes();
    const char *folders[2] = { "draft2020-12", "draft7" };
    const int drafts[2] = { DB_JSONSCHEMA_DRAFT2020, DB_JSONSCHEMA_DRAFT7 };
    for (int f = 0; f < 2; f++) {
        printf("  %-28s %6s %6s %8s  (optional/format, format_assert=1)\n", folders[f], "pass", "total", "rate");
        for (int i = 0; formats[i]; i++) {
            char path[1500];
            snprintf(path, sizeof path, "%s/tests/%s/optional/format/%s.json", suite_dir, folders[f], formats[i]);
            if (!db_file_exists(path)) { printf("  %-28s (no such file in %s)\n", formats[i], folders[f]); continue; }
            int sup = in_list(supported_formats, formats[i]);
            counts c = run_file(path, drafts[f], 1, sup);
            int tot = c.pass + c.fail;
            printf("  %-28s %6d %6d %7.1f%%  %s", formats[i], c.pass, tot, tot ? 100.0 * c.pass / tot : 0.0,
                   sup ? "supported" : "not declared");
            if (c.skip) printf(" (+%d skipped: U+0000)", c.skip);
            printf("\n");
            if (sup) CHECK_MSG(c.fail == 0, "%s format %s: %d of %d fail", folders[f], formats[i], c.fail, tot);
        }
    }
}

/* MaskBench: data/schemas/instances/<split>/<id>.json against data/schemas/<split>/<id>.json */
static void test_maskbench(void) {
    char root[1024];
    snprintf(root, sizeof root, "%s/data/schemas", db_test_srcdir());
    char idir[1100];
    snprintf(idir, sizeof idir, "%s/instances", root);
    DIR *d = opendir(idir);
    if (!d) { db_test_skip("data/schemas/instances not found"); return; }
    char *splits[64];
    int nsplit = 0;
    struct dirent *e;
    while ((e = readdir(d)) && nsplit < 64)
        if (e->d_name[0] != '.') splits[nsplit++] = db_strdup(e->d_name);
    closedir(d);
    qsort(splits, (size_t)nsplit, sizeof *splits, cmpstr);
    int schemas = 0, sch_ok = 0, sch_compile_fail = 0, sch_unsup = 0;
    int n_all = 0, agree_all = 0, n_sup = 0, agree_sup = 0, errors = 0, n_ann = 0, agree_ann = 0;
    for (int si = 0; si < nsplit; si++) {
        char sdir[1300];
        snprintf(sdir, sizeof sdir, "%s/%s", idir, splits[si]);
        char **names;
        int n = list_json(sdir, &names);
        for (int i = 0; i < n; i++) {
            char path[1500], err[2048], err2[512];
            snprintf(path, sizeof path, "%s/%s", sdir, names[i]);
            size_t len;
            char *text = db_read_file(path, &len, err, sizeof err);
            cJSON *inst = text ? cJSON_Parse(text) : NULL;
            free(text);
            CHECK_MSG(inst != NULL, "%s: unreadable", path);
            if (!inst) continue;
            const char *rel = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(inst, "schema"));
            char spath[1500];
            snprintf(spath, sizeof spath, "%s/%s", root, rel ? rel : "?");
            char *stext = db_read_file(spath, &len, err, sizeof err);
            db_jsonschema *s = NULL;
            schemas++;
            /* MaskBench labelled its instances with "format" asserted */
            db_jsonschema_opts o;
            memset(&o, 0, sizeof o);
            o.format_assert = 1;
            o.base_uri = spath;
            cJSON *sj = stext ? cJSON_Parse(stext) : NULL;
            int rc = sj ? db_jsonschema_compile_opts(sj, &o, &s, err, sizeof err) : -1;
            if (!sj) snprintf(err, sizeof err, "%s: not valid JSON", spath);
            /* the same schema with "format" as an annotation, for information */
            db_jsonschema *sa = NULL;
            o.format_assert = 0;
            if (sj) db_jsonschema_compile_opts(sj, &o, &sa, err2, sizeof err2);
            cJSON_Delete(sj);
            free(stext);
            const char *unsup[8];
            int nu = rc == 0 ? db_jsonschema_unsupported(s, unsup, 8) : 0;
            if (rc < 0) { sch_compile_fail++; printf("    compile %s: %s\n", rel ? rel : path, err); }
            else if (nu) { sch_unsup++; printf("    unsupported %s: %s%s\n", rel, unsup[0], nu > 1 ? ", ..." : ""); }
            else sch_ok++;
            const cJSON *t;
            int k = 0;
            cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(inst, "tests")) {
                int want = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "valid"));
                char why[512] = "";
                int got = rc < 0 ? -1 : db_jsonschema_validate(s, cJSON_GetObjectItemCaseSensitive(t, "data"), why, sizeof why);
                n_all++;
                if (got == want) agree_all++;
                if (sa) {
                    n_ann++;
                    if (db_jsonschema_validate(sa, cJSON_GetObjectItemCaseSensitive(t, "data"), NULL, 0) == want) agree_ann++;
                }
                if (rc == 0 && nu == 0) {
                    n_sup++;
                    if (got == want) agree_sup++;
                    else {
                        if (got < 0) errors++;
                        printf("    disagree %s test %d: MaskBench valid=%d, validator %d (%s)\n", rel, k, want, got, why);
                    }
                }
                k++;
            }
            db_jsonschema_free(s);
            db_jsonschema_free(sa);
            cJSON_Delete(inst);
        }
        free_list(names, n);
    }
    for (int i = 0; i < nsplit; i++) free(splits[i]);
    printf("  MaskBench: %d schemas (%d fully supported, %d with unsupported keywords, %d failed to compile)\n",
           schemas, sch_ok, sch_unsup, sch_compile_fail);
    printf("  MaskBench agreement (format asserted): all %d/%d (%.2f%%), supported-only %d/%d (%.2f%%), validator errors %d\n",
           agree_all, n_all, n_all ? 100.0 * agree_all / n_all : 0.0, agree_sup, n_sup,
           n_sup ? 100.0 * agree_sup / n_sup : 0.0, errors);
    printf("  MaskBench agreement with format as annotation only (not asserted): %d/%d (%.2f%%)\n",
           agree_ann, n_ann, n_ann ? 100.0 * agree_ann / n_ann : 0.0);
    CHECK(n_sup > 0);
    CHECK_MSG(n_sup > 0 && agree_sup * 100.0 >= 99.0 * n_sup, "MaskBench agreement %d/%d below 99%%", agree_sup, n_sup);
}

static void test_api(void) {
    char err[256], why[256];
    db_jsonschema *s = NULL;
    CHECK_INT_EQ(db_jsonschema_compile("{\"type\":\"object\",\"properties\":{\"a/b\":{\"items\":{\"minimum\":3}}}}",
                                       NULL, &s, err, sizeof err), 0);
    if (!s) return;
    CHECK_INT_EQ(db_jsonschema_draft(s), DB_JSONSCHEMA_DRAFT2020);
    CHECK_INT_EQ(db_jsonschema_validate_text(s, "{\"a/b\":[5,4]}", why, sizeof why), 1);
    CHECK_INT_EQ(db_jsonschema_validate_text(s, "{\"a/b\":[5,1]}", why, sizeof why), 0);
    CHECK_STR_EQ(why, "/a~1b/1: minimum");
    CHECK_INT_EQ(db_jsonschema_validate_text(s, "[]", why, sizeof why), 0);
    CHECK_STR_EQ(why, "(root): type");
    CHECK_INT_EQ(db_jsonschema_validate_text(s, "{", why, sizeof why), -1);
    const char *names[4];
    CHECK_INT_EQ(db_jsonschema_unsupported(s, names, 4), 0);
    db_jsonschema_free(s);

    /* errors name the input */
    CHECK_INT_EQ(db_jsonschema_compile("{\"$ref\":\"#/$defs/missing\"}", "file:///x.json", &s, err, sizeof err), -1);
    CHECK(s == NULL);
    CHECK_CONTAINS(err, "#/$defs/missing");
    CHECK_INT_EQ(db_jsonschema_compile("{\"$ref\":\"http://example.com/x.json\"}", NULL, &s, err, sizeof err), -1);
    CHECK_CONTAINS(err, "http://example.com/x.json");
    CHECK_INT_EQ(db_jsonschema_compile("{\"properties\":{\"a\":3}}", NULL, &s, err, sizeof err), -1);
    CHECK_CONTAINS(err, "/properties/a");
    CHECK_INT_EQ(db_jsonschema_compile("[1,", "in.json", &s, err, sizeof err), -1);
    CHECK_CONTAINS(err, "in.json");

    /* an unsupported regex is declared, and validating through it is an error */
    CHECK_INT_EQ(db_jsonschema_compile("{\"pattern\":\"(a)\\\\1\"}", NULL, &s, err, sizeof err), 0);
    if (s) {
        CHECK_INT_EQ(db_jsonschema_unsupported(s, names, 4), 1);
        CHECK_STR_EQ(names[0], "pattern");
        CHECK_INT_EQ(db_jsonschema_validate_text(s, "\"abc\"", why, sizeof why), -1);
        CHECK_CONTAINS(why, "pattern");
        CHECK_INT_EQ(db_jsonschema_validate_text(s, "3", why, sizeof why), 1);
        db_jsonschema_free(s);
    }
    /* draft-04: boolean exclusiveMaximum, "id" */
    CHECK_INT_EQ(db_jsonschema_compile("{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"id\":\"http://x/y.json\","
                                       "\"maximum\":3,\"exclusiveMaximum\":true,\"definitions\":{\"a\":{\"type\":\"integer\"}},"
                                       "\"allOf\":[{\"$ref\":\"http://x/y.json#/definitions/a\"}]}", NULL, &s, err, sizeof err), 0);
    if (s) {
        CHECK_INT_EQ(db_jsonschema_draft(s), DB_JSONSCHEMA_DRAFT4);
        CHECK_INT_EQ(db_jsonschema_validate_text(s, "2", why, sizeof why), 1);
        CHECK_INT_EQ(db_jsonschema_validate_text(s, "3", why, sizeof why), 0);
        CHECK_INT_EQ(db_jsonschema_validate_text(s, "2.5", why, sizeof why), 0);
        db_jsonschema_free(s);
    }
}

static void test_regex(void) {
    char err[256];
    static const struct { const char *re, *s; int want; } cases[] = {
        { "^a*$", "aaa", 1 }, { "^a*$", "aab", 0 }, { "b", "abc", 1 }, { "^\\d{2,3}$", "1234", 0 },
        { "^\\d{2,3}$", "123", 1 }, { "^(?:\\S+\\s+){0,2}\\S+$", "a b c", 1 }, { "^(?:\\S+\\s+){0,1}\\S+$", "a b c", 0 },
        { "^[a-z0-9-~]+$", "a-~9", 1 }, { "^(foo|bar)+?$", "foobar", 1 }, { "^a(?=b)", "ab", 1 },
        { "^a(?!b)", "ab", 0 }, { "\\bfoo\\b", "a foo b", 1 }, { "^[^\\s]+$", "a b", 0 },
        { "^\\u00e9$", "\xc3\xa9", 1 }, { "^.$", "\xf0\x9f\x90\xb2", 1 }, { "x{", "x{", 1 },
        { "^(a|ab)(c|bcd)(d*)$", "abcd", 1 }, { "^(a*)*$", "aaaaab", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int r = db_regex_search(cases[i].re, cases[i].s, err, sizeof err);
        CHECK_MSG(r == cases[i].want, "/%s/ on \"%s\": want %d got %d (%s)", cases[i].re, cases[i].s, cases[i].want, r, r < 0 ? err : "");
    }
    CHECK_INT_EQ(db_regex_search("a(", "a", err, sizeof err), -1);
    CHECK_CONTAINS(err, "a(");
    CHECK_INT_EQ(db_regex_search("(a)\\1", "aa", err, sizeof err), -1);
}

/* db_regex_escape and db_regex_braces, the lexical pieces both regex
 * parsers share: each escape's kind, code point and how far it reads; each
 * quantifier's bounds. */
static void regex_escape_decoding(void) {
    static const struct { const char *text; int in_class; int kind; uint32_t cp; char cls; int len; } cases[] = {
        { "x41", 0, DB_RE_ESC_CHAR, 'A', 0, 3 },
        { "xZ", 0, DB_RE_ESC_CHAR, 'x', 0, 1 },
        { "u{1F600}", 0, DB_RE_ESC_CHAR, 0x1F600, 0, 8 },
        { "u{110000}", 0, DB_RE_ESC_CHAR, 'u', 0, 1 },
        { "uD83D\\uDE00", 0, DB_RE_ESC_CHAR, 0x1F600, 0, 11 },
        { "uD83D", 0, DB_RE_ESC_CHAR, 0xD83D, 0, 5 },
        { "u00e9", 1, DB_RE_ESC_CHAR, 0xE9, 0, 5 },
        { "cJ", 0, DB_RE_ESC_CHAR, 10, 0, 2 },
        { "c1", 0, DB_RE_ESC_CHAR, '\\', 0, 0 },
        { "d", 0, DB_RE_ESC_CLASS, 0, 'd', 1 },
        { "S", 1, DB_RE_ESC_CLASS, 0, 'S', 1 },
        { "b", 0, DB_RE_ESC_WORD_BOUNDARY, 0, 0, 1 },
        { "b", 1, DB_RE_ESC_CHAR, 8, 0, 1 },
        { "B", 0, DB_RE_ESC_NOT_BOUNDARY, 0, 0, 1 },
        { "B", 1, DB_RE_ESC_INVALID, 0, 0, 1 },
        { "0", 0, DB_RE_ESC_CHAR, 0, 0, 1 },
        { "01", 0, DB_RE_ESC_INVALID, 0, 0, 1 },
        { "5", 0, DB_RE_ESC_BACKREF, '5', 0, 1 },
        { "5", 1, DB_RE_ESC_CHAR, '5', 0, 1 },
        { "k<n>", 0, DB_RE_ESC_NAMED_BACKREF, 0, 0, 1 },
        { "k", 0, DB_RE_ESC_CHAR, 'k', 0, 1 },
        { "p{L}", 0, DB_RE_ESC_PROPERTY, 0, 'p', 1 },
        { "t", 0, DB_RE_ESC_CHAR, '\t', 0, 1 },
        { ".", 0, DB_RE_ESC_CHAR, '.', 0, 1 },
        { "", 0, DB_RE_ESC_INVALID, 0, 0, 0 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint32_t cp[32];
        int n = 0;
        for (const char *t = cases[c].text; *t; t++) cp[n++] = (unsigned char)*t;
        int i = 0;
        db_re_escape e = db_regex_escape(cp, n, &i, cases[c].in_class != 0);
        CHECK_MSG((int)e.kind == cases[c].kind && i == cases[c].len &&
                  (e.kind != DB_RE_ESC_CHAR || e.cp == cases[c].cp) && (cases[c].cls == 0 || e.cls == cases[c].cls),
                  "\\%s (in class %d): kind %d cp %u cls %c read %d", cases[c].text, cases[c].in_class, (int)e.kind,
                  (unsigned)e.cp, e.cls ? e.cls : '-', i);
    }
    /* quantifier braces: {m} {m,} {m,n}; anything else is a literal brace */
    static const struct { const char *text; int ok; long mn, mx; int len; } braces[] = {
        { "{3}", 1, 3, 3, 3 }, { "{2,}x", 1, 2, -1, 4 }, { "{0,12}", 1, 0, 12, 6 },
        { "{,5}", 0, 0, 0, 0 }, { "{a}", 0, 0, 0, 0 }, { "{3", 0, 0, 0, 0 }, { "{1,2", 0, 0, 0, 0 },
    };
    for (size_t c = 0; c < sizeof braces / sizeof braces[0]; c++) {
        uint32_t cp[16];
        int n = 0, i = 0;
        for (const char *t = braces[c].text; *t; t++) cp[n++] = (unsigned char)*t;
        long mn = -7, mx = -7;
        int ok = db_regex_braces(cp, n, &i, &mn, &mx);
        CHECK_MSG(ok == braces[c].ok && i == braces[c].len && (!ok || (mn == braces[c].mn && mx == braces[c].mx)),
                  "%s: ok %d min %ld max %ld read %d", braces[c].text, ok, mn, mx, i);
    }
}

void suite_jsonschema(void) {
    RUN(regex_escape_decoding);
    RUN(test_api);
    RUN(test_regex);
    RUN(test_suite_draft2020);
    RUN(test_suite_draft7);
    RUN(test_suite_formats);
    RUN(test_maskbench);
}
