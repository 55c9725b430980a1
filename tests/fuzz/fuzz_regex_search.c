/* fuzz_regex_search.c — fuzz target: the JSON Schema validator's
 * backtracking regex engine (harness/constraint/regex_match.c db_regex_search, over
 * the regex front end's AST, harness/constraint/regex_parse.c).  Input: PATTERN [NUL SUBJECT]; without
 * a NUL the pattern is searched in itself.  The same pattern is also
 * compiled as a "pattern" and a "patternProperties" key of a schema. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "harness/constraint/jsonschema.h"

int db_fuzz_regex_search(const uint8_t *data, size_t size) {
    char *pat, *subj;
    if (db_fuzz_split(data, size, &pat, &subj) < 0) return 0;
    const char *s = subj ? subj : pat;
    char err[512] = "";
    int rc = db_regex_search(pat, s, err, sizeof err);
    DB_FUZZ_CHECK(rc >= -1 && rc <= 1, "db_regex_search returned %d", rc);
    DB_FUZZ_CHECK(rc != -1 || err[0], "rc -1 without a reason");
    cJSON *schema = cJSON_CreateObject(), *pp = cJSON_CreateObject();
    cJSON *inst = cJSON_CreateObject();
    if (schema && pp && inst) {
        cJSON_AddStringToObject(schema, "pattern", pat);
        cJSON_AddItemToObject(pp, pat, cJSON_CreateFalse());
        cJSON_AddItemToObject(schema, "patternProperties", pp);
        pp = NULL;
        cJSON_AddStringToObject(inst, s, s);
        db_jsonschema *js = NULL;
        if (db_jsonschema_compile_cjson(schema, NULL, &js, err, sizeof err) == 0) {
            char why[512] = "";
            int v = db_jsonschema_validate(js, inst, why, sizeof why);
            DB_FUZZ_CHECK(v >= -1 && v <= 1 && (v == 1 || why[0]), "validate %d, why '%s'", v, why);
            cJSON *str = cJSON_CreateString(s);
            if (str) {
                v = db_jsonschema_validate(js, str, why, sizeof why);
                /* an object instance ignores "pattern"; a string one ignores patternProperties */
                DB_FUZZ_CHECK(v == -1 || rc == -1 || v == rc, "pattern on a string %d, db_regex_search %d", v, rc);
                cJSON_Delete(str);
            }
            db_jsonschema_free(js);
        }
    }
    cJSON_Delete(schema);
    cJSON_Delete(pp);
    cJSON_Delete(inst);
    free(pat);
    free(subj);
    return 0;
}

DB_FUZZ_ENTRY(regex_search)
