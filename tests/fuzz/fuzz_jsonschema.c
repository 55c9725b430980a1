/* fuzz_jsonschema.c — fuzz target: the JSON Schema validator
 * (harness/constraint/jsonschema*.c).  Input: SCHEMA [NUL INSTANCE]; the schema is
 * compiled (2020-12 and, from the same text, draft-07 with format
 * assertion), and the instance (the schema text itself when there is no NUL)
 * validated against each; the unsupported-keyword list is read too. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "harness/constraint/jsonschema.h"

static void one(const cJSON *schema, const db_jsonschema_opts *o, const char *inst) {
    db_jsonschema *s = NULL;
    char err[512] = "";
    int rc = db_jsonschema_compile_opts(schema, o, &s, err, sizeof err);
    DB_FUZZ_CHECK(rc == 0 ? s != NULL : rc == -1 && !s && err[0], "compile: rc %d, err '%s'", rc, err);
    if (rc != 0) return;
    char why[512] = "";
    int v = db_jsonschema_validate_text(s, inst, why, sizeof why);
    DB_FUZZ_CHECK(v >= -1 && v <= 1, "validate returned %d", v);
    DB_FUZZ_CHECK(v == 1 || why[0], "validate %d without a reason", v);
    const char *names[8];
    int nu = db_jsonschema_unsupported(s, names, 8);
    DB_FUZZ_CHECK(nu >= 0, "unsupported returned %d", nu);
    for (int i = 0; i < nu && i < 8; i++) DB_FUZZ_CHECK(names[i] && names[i][0], "unsupported name %d empty", i);
    int d = db_jsonschema_draft(s);
    DB_FUZZ_CHECK(d == 4 || d == 6 || d == 7 || d == 2019 || d == 2020, "draft %d", d);
    db_jsonschema_free(s);
}

int db_fuzz_jsonschema(const uint8_t *data, size_t size) {
    char *a, *b;
    if (db_fuzz_split(data, size, &a, &b) < 0) return 0;
    cJSON *schema = cJSON_Parse(a);
    if (schema) {
        db_jsonschema_opts o1 = { 0 };
        one(schema, &o1, b ? b : a);
        db_jsonschema_opts o2 = { .draft = DB_JSONSCHEMA_DRAFT7, .format_assert = 1, .base_uri = "http://example.com/root.json" };
        one(schema, &o2, b ? b : a);
        cJSON_Delete(schema);
    }
    free(a);
    free(b);
    return 0;
}

DB_FUZZ_ENTRY(jsonschema)
