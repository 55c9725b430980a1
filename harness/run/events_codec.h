/* events_codec.h — the compact per-sample encoding of step events (schema
 * version 6: one sample_events row per sample instead of one step_event row
 * per event; docs/schema.md "Compact step events").
 *
 * An event is stored exactly as a step_event row holds it (db_event_row:
 * times in whole microseconds from the sample's start, the 64-bit mask of
 * the INTEGER column), so a blob and the rows of the same events decode to
 * the same values.  Layout: one format byte (1), then per event
 *   varint H = kind << 3 | has_acc << 2 | role_slot
 *      (kind as its 32-bit unsigned pattern; role_slot = role for roles 0..2,
 *       3 = a zigzag varint role follows; has_acc 0: n_accepted and
 *       accepted_mask are both 0 and not stored)
 *   [zigzag varint role]
 *   zigzag varint step - previous step        (the first event: - 0)
 *   zigzag varint n_tokens
 *   [zigzag varint n_accepted, varint accepted_mask]   (has_acc)
 *   zigzag varint t_start_us - previous t_start_us (the first: - 0)
 *   zigzag varint t_end_us - t_start_us
 * Varints are LEB128 (7 bits a byte, low first, at most 10 bytes).  Deltas
 * are taken modulo 2^64, so any values round-trip, clocks that run
 * backwards (negative deltas) and 64-bit extremes included; a typical event
 * takes 6 to 8 bytes against about 40 for a step_event row.
 */
#ifndef DECOBENCH_EVENTS_CODEC_H
#define DECOBENCH_EVENTS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "engines/engine.h"

/* One step event as stored (a step_event row without sample_id and seq). */
typedef struct db_event_row {
    int32_t kind, role, step, n_tokens, n_accepted;
    uint64_t accepted_mask;
    int64_t t_start_us, t_end_us;
} db_event_row;

#define DB_EVENTS_FORMAT 1

/* An engine event as stored: times truncated to microseconds (as the
 * step_event writer always did: ns / 1000). */
db_event_row db_event_to_row(const db_event *e);

/* Encode n events into a malloc'd buffer (*out, *len); -1 (out of memory,
 * n < 0) with a line in err. */
int db_events_encode(const db_event_row *ev, int n, uint8_t **out, size_t *len, char *err, size_t errlen);

/* Decode a blob into a malloc'd array (*out, NULL when empty; *n events).
 * expect >= 0: the count the blob must hold.  -1 with a line in err on a
 * malformed or truncated blob or a wrong count. */
int db_events_decode(const uint8_t *blob, size_t len, int expect, db_event_row **out, int *n, char *err,
                     size_t errlen);

/* ---- packed per-sample counters (schema version 7) ---------------------------
 * A pruned sample's counter values as one blob (sample_counter_pack): one
 * format byte (1), then per counter, in the order stored,
 *   varint name_id          (a row of counter_name)
 *   varint tag              (0: NULL value; 1: a value follows)
 *   [zigzag varint value]
 * Counter values are whole numbers (PAPI counts, rusage): a sample with any
 * other value is not packed. */
#define DB_COUNTERS_FORMAT 1
int db_counters_encode(const int64_t *name_ids, const int64_t *values, const unsigned char *is_null, int n,
                       uint8_t **out, size_t *len);
/* Decodes into three malloc'd arrays of *n entries (free each); -1 on a
 * malformed blob or out of memory. */
int db_counters_decode(const uint8_t *blob, size_t len, int64_t **name_ids, int64_t **values,
                       unsigned char **is_null, int *n);

#endif
