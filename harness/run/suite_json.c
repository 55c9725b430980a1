/* suite_json.c — the suite parser's typed getters (harness/run/suite.c's
 * "small helpers"): keys of a JSON object read as strings, integers in a
 * range, booleans, objects, arrays and string lists, unknown and duplicate
 * keys refused, files resolved against the suite's directory, sha256 of a
 * local file checked; every error one line "ORIGIN: $.json.path: problem"
 * through db_sj_fail.  Declared in suite_int.h, private to the suite
 * module.
 */
#include "suite_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/util/sha256.h"
#include "harness/util/util.h"

int db_sj_fail(db_suite_ctx *c, const char *path, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return db_errf(c->err, c->errlen, "%s: %s: %s", c->origin, path, msg);
}

/* Scalar JSON value as parameter text: numbers, strings, booleans. */
int db_sj_scalar_text(const cJSON *v, char *buf, size_t n) {
    if (cJSON_IsString(v)) {
        snprintf(buf, n, "%s", v->valuestring);
        return strlen(v->valuestring) < n ? 0 : -1;
    }
    if (cJSON_IsNumber(v)) {
        db_suite_num_text(v->valuedouble, buf, n);
        return 0;
    }
    if (cJSON_IsBool(v)) {
        snprintf(buf, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
        return 0;
    }
    return -1;
}

void db_sj_child_path(char *out, size_t n, const char *parent, const char *key) {
    snprintf(out, n, "%s.%s", parent, key);
}

void db_sj_index_path(char *out, size_t n, const char *parent, int i) {
    snprintf(out, n, "%s[%d]", parent, i);
}

/* Unknown and duplicate keys of obj; `allowed` is NULL-terminated. */
int db_sj_check_keys(db_suite_ctx *c, const cJSON *obj, const char *path, const char *const *allowed) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        char p[512];
        db_sj_child_path(p, sizeof p, path, it->string ? it->string : "");
        int known = allowed == NULL;
        for (int i = 0; allowed && allowed[i]; i++)
            if (strcmp(allowed[i], it->string) == 0) known = 1;
        if (!known) return db_sj_fail(c, p, "unknown key");
        for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
            if (strcmp(prev->string, it->string) == 0) return db_sj_fail(c, p, "duplicate key");
    }
    return 0;
}

int db_sj_get_string(db_suite_ctx *c, const cJSON *obj, const char *key, const char *path, bool required,
                      const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char p[512];
    db_sj_child_path(p, sizeof p, path, key);
    if (!v) {
        if (required) return db_sj_fail(c, p, "required key is missing");
        return 0;
    }
    if (!cJSON_IsString(v)) return db_sj_fail(c, p, "expected a string, got %s", db_suite_json_type_name(v));
    if (!v->valuestring[0]) return db_sj_fail(c, p, "must not be empty");
    *out = v->valuestring;
    return 0;
}

int db_sj_get_int(db_suite_ctx *c, const cJSON *obj, const char *key, const char *path, double lo, double hi,
                   int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char p[512];
    db_sj_child_path(p, sizeof p, path, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble)) {
        char t[64] = "";
        if (cJSON_IsNumber(v)) db_suite_num_text(v->valuedouble, t, sizeof t);
        return db_sj_fail(c, p, "expected an integer in [%.0f, %.0f], got %s%s%s", lo, hi, db_suite_json_type_name(v),
                    t[0] ? " " : "", t);
    }
    if (v->valuedouble < lo || v->valuedouble > hi)
        return db_sj_fail(c, p, "expected an integer in [%.0f, %.0f], got %.0f", lo, hi, v->valuedouble);
    *out = (int)v->valuedouble;
    return 0;
}

int db_sj_get_bool(db_suite_ctx *c, const cJSON *obj, const char *key, const char *path, bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char p[512];
    db_sj_child_path(p, sizeof p, path, key);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return db_sj_fail(c, p, "expected true or false, got %s", db_suite_json_type_name(v));
    *out = cJSON_IsTrue(v);
    return 0;
}

int db_sj_get_object(db_suite_ctx *c, const cJSON *obj, const char *key, const char *path, bool required,
                      const cJSON **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char p[512];
    db_sj_child_path(p, sizeof p, path, key);
    *out = NULL;
    if (!v) return required ? db_sj_fail(c, p, "required key is missing") : 0;
    if (!cJSON_IsObject(v)) return db_sj_fail(c, p, "expected an object, got %s", db_suite_json_type_name(v));
    *out = v;
    return 0;
}

int db_sj_get_array(db_suite_ctx *c, const cJSON *obj, const char *key, const char *path, bool required,
                     const cJSON **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char p[512];
    db_sj_child_path(p, sizeof p, path, key);
    *out = NULL;
    if (!v) return required ? db_sj_fail(c, p, "required key is missing") : 0;
    if (!cJSON_IsArray(v)) return db_sj_fail(c, p, "expected an array, got %s", db_suite_json_type_name(v));
    *out = v;
    return 0;
}

/* Strings of an array, all non-empty and distinct. */
int db_sj_get_string_list(db_suite_ctx *c, const cJSON *arr, const char *path, size_t max_len,
                           char ***out, int *n_out) {
    int n = cJSON_GetArraySize(arr);
    char **v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
    if (!v) return db_sj_fail(c, path, "out of memory");
    *out = v;
    *n_out = 0;
    int i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        char p[512];
        db_sj_index_path(p, sizeof p, path, i);
        if (!cJSON_IsString(it)) return db_sj_fail(c, p, "expected a string, got %s", db_suite_json_type_name(it));
        if (!it->valuestring[0]) return db_sj_fail(c, p, "must not be empty");
        if (max_len && strlen(it->valuestring) > max_len)
            return db_sj_fail(c, p, "longer than %zu characters", max_len);
        for (int j = 0; j < i; j++)
            if (strcmp(v[j], it->valuestring) == 0) return db_sj_fail(c, p, "duplicate '%s'", it->valuestring);
        if (!(v[i] = db_strdup(it->valuestring))) return db_sj_fail(c, p, "out of memory");
        (*n_out)++;
    }
    return 0;
}

void db_sj_free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Relative paths: from the suite's directory, then from the current one. */
int db_sj_resolve_path(db_suite_ctx *c, const char *path, const char *rel, char **out) {
    if (rel[0] == '/') {
        struct stat st;
        if (stat(rel, &st) != 0) return db_sj_fail(c, path, "%s: %s", rel, strerror(errno));
        return (*out = db_strdup(rel)) ? 0 : db_sj_fail(c, path, "out of memory");
    }
    char *cand = db_path_join(c->base_dir, rel);
    if (!cand) return db_sj_fail(c, path, "out of memory");
    struct stat st;
    if (stat(cand, &st) == 0) {
        *out = cand;
        return 0;
    }
    int e = errno;
    free(cand);
    if (stat(rel, &st) == 0) return (*out = db_strdup(rel)) ? 0 : db_sj_fail(c, path, "out of memory");
    return db_sj_fail(c, path, "%s: %s", rel, strerror(e));
}

/* "path", "source" and "revision" of a model or dataset entry: a local file
 * (*file, resolved now) or a reference (*source, and *revision when given:
 * its form checked now, resolved by db_suite_resolve_refs once the whole
 * suite is valid).  "source" is the reference in the canonical form; a
 * "path" beside it is the file it resolved to then, not read. */
int db_sj_entry_file(db_suite_ctx *c, const cJSON *obj, const char *path, bool required, char **file, char **source,
                      char **revision) {
    const char *rel = NULL, *src = NULL, *rev = NULL;
    char p[560];
    if (db_sj_get_string(c, obj, "source", path, false, &src) != 0) return -1;
    if (db_sj_get_string(c, obj, "path", path, required && !src, &rel) != 0) return -1;
    if (db_sj_get_string(c, obj, "revision", path, false, &rev) != 0) return -1;
    if (src) {
        db_sj_child_path(p, sizeof p, path, "source");
        if (!db_suite_is_reference(src))
            return db_sj_fail(c, p, "expected a reference (hf:ORG/REPO/PATH[@REVISION] or an http(s) URL), got \"%s\"", src);
        if (rel && db_suite_is_reference(rel)) {
            db_sj_child_path(p, sizeof p, path, "path");
            return db_sj_fail(c, p, "a reference, and so is \"source\": give one of them");
        }
    } else if (rel && db_suite_is_reference(rel)) {
        src = rel;
        db_sj_child_path(p, sizeof p, path, "path");
    }
    if (src) {
        char e2[768];
        if (db_suite_ref_check(src, e2, sizeof e2) != 0) return db_sj_fail(c, p, "%s", e2);
        if (!(*source = db_strdup(src)) || (rev && !(*revision = db_strdup(rev)))) return db_sj_fail(c, path, "out of memory");
        return 0;
    }
    if (rev) {
        db_sj_child_path(p, sizeof p, path, "revision");
        return db_sj_fail(c, p, "only for a file named by a reference (hf:... or an http(s) URL)");
    }
    if (!rel) return 0;
    db_sj_child_path(p, sizeof p, path, "path");
    return db_sj_resolve_path(c, p, rel, file);
}

static int is_hex64(const char *h) {
    if (strlen(h) != 64) return 0;
    for (int i = 0; i < 64; i++) {
        char ch = h[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'))) return 0;
    }
    return 1;
}

/* "sha256" of an entry (sha, may be NULL): 64 hex digits, kept lowercase in
 * *out; a local file is hashed now and must match (a reference's is
 * checked when it is resolved). */
int db_sj_entry_sha256(db_suite_ctx *c, const char *path, const char *sha, const char *kind, const char *name,
                        const char *file, char **out) {
    if (!sha) return 0;
    char p[560];
    db_sj_child_path(p, sizeof p, path, "sha256");
    if (!is_hex64(sha)) return db_sj_fail(c, p, "expected 64 hexadecimal digits, got \"%s\"", sha);
    if (!(*out = db_strdup(sha))) return db_sj_fail(c, p, "out of memory");
    for (char *q = *out; *q; q++)
        if (*q >= 'A' && *q <= 'F') *q = (char)(*q - 'A' + 'a');
    if (!file) return 0;
    char got[65], e2[512];
    if (db_sha256_file(file, got, e2, sizeof e2) != 0) return db_sj_fail(c, p, "%s", e2);
    if (strcmp(got, *out) != 0)
        return db_sj_fail(c, p, "%s '%s' (%s): sha256 mismatch: expected %s, file has %s", kind, name, file, *out, got);
    return 0;
}

