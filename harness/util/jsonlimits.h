/* jsonlimits.h — why cJSON refused a text that is otherwise well formed:
 * nesting deeper than its limit (CJSON_NESTING_LIMIT, 1000 in Debian's
 * libcjson).  Callers that read untrusted JSON use it to say "nested deeper
 * than N" instead of "malformed JSON"/"not valid JSON". */
#ifndef DECOBENCH_JSONLIMITS_H
#define DECOBENCH_JSONLIMITS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The nesting limit cJSON applies (arrays and objects). */
int db_json_nesting_limit(void);

/* Does text[0..len) open more than db_json_nesting_limit() arrays/objects
 * at once (outside strings)?  Returns 1 and the 1-based line and column of
 * the bracket that goes too deep, else 0.  line/col may be NULL. */
int db_json_too_deep(const char *text, size_t len, int *line, int *col);

#ifdef __cplusplus
}
#endif
#endif
