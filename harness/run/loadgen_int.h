/* loadgen_int.h — private to loadgen.c and sse.c: the running state of one
 * result being filled from its events (buffer capacities, so appending a
 * chunk is amortised O(1) rather than a strlen and a realloc), and the
 * event applier that uses it (db_lg_apply_event is its stateless form).
 */
#ifndef DECOBENCH_LOADGEN_INT_H
#define DECOBENCH_LOADGEN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "loadgen.h"

typedef struct db_lg_acc {
    size_t text_len, text_cap;   /* r->text: bytes used (without the NUL), allocated */
    size_t chunk_cap;            /* r->chunk_ns and r->chunk_tokens: entries allocated */
    size_t tok_cap;              /* r->tokens: entries allocated */
} db_lg_acc;

/* The capacities of a result filled by someone else (exactly its sizes). */
void db_lg_acc_from(db_lg_acc *a, const db_lg_result *r);

/* db_lg_apply_event with a running state. */
int db_lg_apply(db_api_kind api, const char *data, size_t len, db_lg_result *r, db_lg_acc *a,
                bool *content_bearing, bool *done, char *err, size_t errlen);

/* Make s one line: control characters (and DEL) become spaces, ill-formed
 * UTF-8 becomes '?', and it ends at max bytes (not inside a character). */
void db_lg_one_line(char *s, size_t max);

#endif
