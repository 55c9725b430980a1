/* suite_int.h — private to the suite module (harness/run/suite.c,
 * dataset.c, suite_server.c, suite_fetch.c): what the suite parser shares
 * with the dataset reader, the servers section and the references
 * (suite.c calls them, never the other way). */
#ifndef DECOBENCH_SUITE_INT_H
#define DECOBENCH_SUITE_INT_H

#include <cjson/cJSON.h>

#include "suite.h"

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
