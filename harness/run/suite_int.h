/* suite_int.h — private to the suite module (harness/run/suite.c and
 * dataset.c): what the suite parser and the dataset reader share, defined
 * in dataset.c (suite.c calls dataset.c, never the other way). */
#ifndef DECOBENCH_SUITE_INT_H
#define DECOBENCH_SUITE_INT_H

#include <cjson/cJSON.h>

/* "a string", "an array", ... for error messages; "nothing" for NULL. */
const char *db_suite_json_type_name(const cJSON *v);

/* Shortest decimal text that reads back as v (integers without a point). */
void db_suite_num_text(double v, char *buf, size_t n);

#endif
