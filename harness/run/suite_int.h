/* suite_int.h — private to the suite module (harness/run/suite.c and
 * dataset.c): what the suite parser and the dataset reader share, defined
 * in dataset.c (suite.c calls dataset.c, never the other way). */
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

#endif
