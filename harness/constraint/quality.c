/* quality.c — compliance of an output with its constraint (see quality.h). */
#include "quality.h"
#include "jsonschema.h"
#include "harness/util/util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static db_grammar_checker g_grammar_checker;

void db_quality_set_grammar_checker(db_grammar_checker fn) { g_grammar_checker = fn; }

static void put(db_quality *q, const char *name, double v) {
    if (q->n < DB_QUALITY_MAX) {
        q->name[q->n] = name;
        q->value[q->n++] = v;
    }
}

static int check_schema(const cJSON *schema, const char *text, db_quality *q, char *err, size_t errlen) {
    const char *end = NULL;
    cJSON *inst = cJSON_ParseWithOpts(text, &end, false);
    if (inst && end) {
        while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r') end++;
        if (*end) {                 /* trailing text after the value */
            cJSON_Delete(inst);
            inst = NULL;
        }
    }
    put(q, "json_parses", inst != NULL);
    if (!inst) {
        put(q, "schema_valid", 0);
        return 0;
    }
    db_jsonschema *s = NULL;
    char why[256];
    if (db_jsonschema_compile_cjson(schema, NULL, &s, why, sizeof why) < 0) {
        cJSON_Delete(inst);
        return db_errf(err, errlen, "constraint \"json_schema\": %s", why);
    }
    int ok = db_jsonschema_validate(s, inst, why, sizeof why);
    db_jsonschema_free(s);
    cJSON_Delete(inst);
    if (ok < 0) return db_errf(err, errlen, "constraint \"json_schema\": %s", why);
    put(q, "schema_valid", ok == 1);
    return 0;
}

static int check_regex(const char *pattern, const char *text, db_quality *q, char *err, size_t errlen) {
    size_t n = strlen(pattern);
    char *anchored = malloc(n + 8);
    if (!anchored) return db_errf(err, errlen, "out of memory");
    snprintf(anchored, n + 8, "^(?:%s)$", pattern);
    char why[256];
    int r = db_regex_search(anchored, text, why, sizeof why);
    free(anchored);
    if (r < 0) return db_errf(err, errlen, "constraint \"regex\": %s", why);
    put(q, "regex_match", r == 1);
    return 0;
}

static int check_keywords(const cJSON *kw, const char *text, db_quality *q, char *err, size_t errlen) {
    if (!cJSON_IsArray(kw) || cJSON_GetArraySize(kw) == 0)
        return db_errf(err, errlen, "constraint \"keywords\": expected a non-empty array of strings");
    int n = 0, hit = 0;
    for (const cJSON *k = kw->child; k; k = k->next) {
        if (!cJSON_IsString(k) || !k->valuestring[0])
            return db_errf(err, errlen, "constraint \"keywords\": expected non-empty strings");
        n++;
        hit += strstr(text, k->valuestring) != NULL;
    }
    put(q, "keyword_coverage", (double)hit / n);
    put(q, "keywords_all", hit == n);
    return 0;
}

int db_quality_check(const char *constraint_json, const char *output_text, db_quality *q, char *err,
                     size_t errlen) {
    q->n = 0;
    if (!constraint_json) return 0;
    cJSON *c = cJSON_Parse(constraint_json);
    if (!c || !cJSON_IsObject(c)) {
        cJSON_Delete(c);
        return db_errf(err, errlen, "constraint: expected a JSON object");
    }
    const char *text = output_text ? output_text : "";
    int rc = 0;
    const cJSON *v;
    if (rc == 0 && (v = cJSON_GetObjectItemCaseSensitive(c, "json_schema")))
        rc = check_schema(v, text, q, err, errlen);
    if (rc == 0 && (v = cJSON_GetObjectItemCaseSensitive(c, "regex"))) {
        if (!cJSON_IsString(v)) rc = db_errf(err, errlen, "constraint \"regex\": expected a string");
        else rc = check_regex(v->valuestring, text, q, err, errlen);
    }
    if (rc == 0 && (v = cJSON_GetObjectItemCaseSensitive(c, "keywords")))
        rc = check_keywords(v, text, q, err, errlen);
    if (rc == 0 && (v = cJSON_GetObjectItemCaseSensitive(c, "grammar")) && g_grammar_checker) {
        if (!cJSON_IsString(v)) rc = db_errf(err, errlen, "constraint \"grammar\": expected a string");
        else {
            int r = g_grammar_checker(v->valuestring, text, err, errlen);
            if (r < 0) rc = -1;
            else put(q, "grammar_valid", r);
        }
    }
    cJSON_Delete(c);
    return rc;
}
