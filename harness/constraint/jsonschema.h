/* jsonschema.h — a JSON Schema validator (draft 2020-12 and draft-07; draft-04/06
 * schemas are read with draft-07 rules plus draft-04's boolean exclusiveMaximum/
 * exclusiveMinimum and "id").
 *
 * Compile a schema once, validate many instances:
 *
 *     db_jsonschema *s;
 *     if (db_jsonschema_compile(text, NULL, &s, err, sizeof err) < 0) ...;
 *     int ok = db_jsonschema_validate(s, instance, why, sizeof why);
 *     db_jsonschema_free(s);
 *
 * The dialect is the schema's "$schema" when it names a known draft, otherwise
 * opts->draft (default 2020-12).  Remote "$ref"s are loaded at compile time through
 * the resolver hook (none by default: a remote $ref is then a compile error).
 * "pattern"/"patternProperties" use decobench's own backtracking regex engine
 * (ECMA-262 subset; see docs/jsonschema.md).  "format" is an annotation unless
 * opts->format_assert is set.  Thread-safety: a compiled schema is read-only during
 * validation, so several threads may validate with one handle.
 */
#ifndef DECOBENCH_JSONSCHEMA_H
#define DECOBENCH_JSONSCHEMA_H

#include <stddef.h>
#include <cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_jsonschema db_jsonschema;

enum {
    DB_JSONSCHEMA_DRAFT4 = 4,      /* read with draft-07 rules + draft-04 specifics */
    DB_JSONSCHEMA_DRAFT6 = 6,
    DB_JSONSCHEMA_DRAFT7 = 7,
    DB_JSONSCHEMA_DRAFT2019 = 2019, /* read with 2020-12 rules */
    DB_JSONSCHEMA_DRAFT2020 = 2020
};

/* Resolver hook: return the JSON text of the document at `uri` (absolute, without
 * fragment) as a malloc'd NUL-terminated string, or NULL with a message in err. */
typedef char *(*db_jsonschema_resolver)(void *user, const char *uri, char *err, size_t errlen);

/* A ready-made resolver: user points to an array of db_jsonschema_dirmap terminated
 * by {NULL, NULL}; a uri starting with `prefix` is read from dir + the rest of it
 * (e.g. {"http://localhost:1234/", "tests/data/json-schema-test-suite/remotes/"}). */
typedef struct db_jsonschema_dirmap {
    const char *prefix;
    const char *dir;
} db_jsonschema_dirmap;
char *db_jsonschema_resolve_dir(void *user, const char *uri, char *err, size_t errlen);

typedef struct db_jsonschema_opts {
    int draft;                 /* default dialect when the schema has no known $schema; 0 = 2020-12 */
    int format_assert;         /* 1: "format" asserts date, date-time, time, email, ipv4, ipv6, uuid, uri */
    const char *base_uri;      /* retrieval URI of the schema (NULL: none) */
    db_jsonschema_resolver resolver;
    void *resolver_user;
} db_jsonschema_opts;

/* Compile from JSON text / from a parsed cJSON (copied; the caller keeps it).
 * Return 0, or -1 with a one-line message in err (*out is then NULL). */
int db_jsonschema_compile(const char *schema_json, const char *base_uri,
                          db_jsonschema **out, char *err, size_t errlen);
int db_jsonschema_compile_cjson(const cJSON *schema, const char *base_uri,
                                db_jsonschema **out, char *err, size_t errlen);
int db_jsonschema_compile_opts(const cJSON *schema, const db_jsonschema_opts *opts,
                               db_jsonschema **out, char *err, size_t errlen);

/* 1 valid, 0 invalid (why = "<instance JSON pointer>: <keyword>" of the first
 * failure, "(root)" for the whole instance), -1 error (why says which: a pattern
 * the regex engine does not support, recursion too deep, regex step budget spent). */
int db_jsonschema_validate(const db_jsonschema *s, const cJSON *instance, char *why, size_t whylen);
/* Same, from JSON text (-1 when it does not parse). */
int db_jsonschema_validate_text(const db_jsonschema *s, const char *json, char *why, size_t whylen);

/* Keywords the schema uses that this validator does not enforce ("declared
 * coverage"): fills names[0..min(n,max)-1] (static strings) and returns n, the
 * number of distinct such keywords (0: the whole schema is enforced). */
int db_jsonschema_unsupported(const db_jsonschema *s, const char **names, int max);

/* The dialect the root schema was read with (DB_JSONSCHEMA_DRAFT*). */
int db_jsonschema_draft(const db_jsonschema *s);

void db_jsonschema_free(db_jsonschema *s);

/* The regex engine on its own (ECMA-262 subset, search semantics as for "pattern";
 * regex_match.c, over the regex front end of regex.h):
 * 1 match, 0 no match, -1 unsupported/invalid pattern or step budget spent (err). */
int db_regex_search(const char *pattern, const char *subject, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
