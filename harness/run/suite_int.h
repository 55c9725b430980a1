/* suite_int.h — private to the suite module (harness/run/suite.c,
 * suite_json.c, dataset.c, suite_server.c, suite_fetch.c): what the suite parser shares
 * with the dataset reader, the servers section and the references
 * (suite.c calls them, never the other way). */
#ifndef DECOBENCH_SUITE_INT_H
#define DECOBENCH_SUITE_INT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "suite.h"

/* The parser's state: where errors go and what they name. */
typedef struct db_suite_ctx {
    const char *origin;
    const char *base_dir;
    char *err;
    size_t errlen;
    bool servers;      /* the suite has a "servers" section (then "models" may be empty) */
} db_suite_ctx;

/* ---- suite_json.c: typed getters; each returns 0, or -1 with
 * "ORIGIN: PATH.KEY: problem" in the context's err.  An absent optional key
 * leaves *out untouched (0). */

/* "ORIGIN: PATH: message"; returns -1. */
int db_sj_fail(db_suite_ctx *c, const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A scalar (number, string, boolean) as parameter text; -1 otherwise or when it does not fit. */
int db_sj_scalar_text(const cJSON *v, char *buf, size_t n);
/* "PARENT.KEY" / "PARENT[I]" */
void db_sj_child_path(char *out, size_t n, const char *parent, const char *key);
void db_sj_index_path(char *out, size_t n, const char *parent, int i);
/* Unknown (not in the NULL-terminated allowed; NULL allows all) and duplicate keys of obj. */
int db_sj_check_keys(db_suite_ctx *c, const cJSON *obj, const char *path, const char *const *allowed);
/* A non-empty string (*out points into obj). */
int db_sj_get_string(db_suite_ctx *c, const cJSON *obj, const char *key, const char *path, bool required,
                     const char **out);
/* An integer in [lo, hi]. */
int db_sj_get_int(db_suite_ctx *c, const cJSON *obj, const char *key, const char *path, double lo, double hi,
                  int *out);
int db_sj_get_bool(db_suite_ctx *c, const cJSON *obj, const char *key, const char *path, bool *out);
/* An object / array (*out NULL when absent). */
int db_sj_get_object(db_suite_ctx *c, const cJSON *obj, const char *key, const char *path, bool required,
                     const cJSON **out);
int db_sj_get_array(db_suite_ctx *c, const cJSON *obj, const char *key, const char *path, bool required,
                    const cJSON **out);
/* The strings of an array, non-empty, distinct, at most max_len (0: any)
 * long; *out malloc'd (free with db_sj_free_list, also after a failure). */
int db_sj_get_string_list(db_suite_ctx *c, const cJSON *arr, const char *path, size_t max_len, char ***out,
                          int *n_out);
void db_sj_free_list(char **v, int n);
/* A relative path from the suite's directory, then from the current one; *out malloc'd. */
int db_sj_resolve_path(db_suite_ctx *c, const char *path, const char *rel, char **out);
/* "path", "source", "revision" of a model or dataset entry (see suite_json.c). */
int db_sj_entry_file(db_suite_ctx *c, const cJSON *obj, const char *path, bool required, char **file,
                     char **source, char **revision);
/* "sha256" of an entry checked (and a local file hashed against it); *out lowercase, malloc'd. */
int db_sj_entry_sha256(db_suite_ctx *c, const char *path, const char *sha, const char *kind, const char *name,
                       const char *file, char **out);

/* "a string", "an array", ... for error messages; "nothing" for NULL. */
const char *db_suite_json_type_name(const cJSON *v);

/* Shortest decimal text that reads back as v (integers without a point). */
void db_suite_num_text(double v, char *buf, size_t n);

/* The "servers" and "slo" sections (suite_server.c); either may be NULL.
 * Models must be parsed first (servers name them).  Adds the canonical
 * form to out.  Returns 0, or -1 with "ORIGIN: $.servers.NAME...: why". */
int db_suite_parse_servers(const cJSON *servers, const cJSON *slo, db_suite *s, const char *origin, cJSON *out,
                           char *err, size_t errlen);
void db_suite_servers_free(db_suite *s);

/* References (suite_fetch.c; the rules are in suite.h).  The form of one
 * (hf:... or an http(s) URL, no credentials in a URL): 0, or -1 with
 * "bad reference: why" in err (no control characters). */
int db_suite_ref_check(const char *ref, char *err, size_t errlen);

/* The file keys of a model's or dataset's canonical form: "path" and
 * "sha256" (when set) of a local file; for a reference (source set)
 * "path", "source", "revision", "sha256", of which db_suite_resolve_refs
 * fills in "path", "revision" and "sha256". */
void db_suite_canon_file_keys(cJSON *o, const char *file, const char *source, const char *sha256);

/* Resolve every model's and dataset's reference (the entries whose source
 * is set; parsing left their path NULL) to its cached file as opts says,
 * set path, sha256 and revision, load the prompts of referenced datasets,
 * and complete their entries in canon, the canonical configuration being
 * built ("path", "revision" (dropped when empty), "sha256").  root is the
 * suite as parsed (whether a reference came from "path" or "source", for
 * messages).  0, or -1 with "ORIGIN: $.models.NAME.path: REF: why". */
int db_suite_resolve_refs(db_suite *s, const cJSON *root, cJSON *canon, const db_suite_load_opts *opts, char *err,
                          size_t errlen);

#endif
