/* events_codec.c — encode and decode a sample's step events, and a pruned
 * sample's counters, as compact blobs (the layouts are described in
 * events_codec.h). */
#include "events_codec.h"

#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

db_event_row db_event_to_row(const db_event *e) {
    db_event_row r;
    r.kind = e->kind;
    r.role = e->role;
    r.step = e->step;
    r.n_tokens = e->n_tokens;
    r.n_accepted = e->n_accepted;
    r.accepted_mask = e->accepted_mask;
    r.t_start_us = e->t_start_ns / 1000;
    r.t_end_us = e->t_end_ns / 1000;
    return r;
}

static uint64_t zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t unzz(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }
/* a - b modulo 2^64, as a signed value */
static int64_t wdiff(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static int64_t wadd(int64_t a, int64_t d) { return (int64_t)((uint64_t)a + (uint64_t)d); }

static size_t put(uint8_t *p, uint64_t v) {
    size_t k = 0;
    while (v >= 0x80) {
        p[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[k++] = (uint8_t)v;
    return k;
}

int db_events_encode(const db_event_row *ev, int n, uint8_t **out, size_t *len, char *err, size_t errlen) {
    *out = NULL;
    *len = 0;
    if (n < 0) return db_errf(err, errlen, "encode events: negative count %d", n);
    /* at most 8 varints of 10 bytes an event */
    uint8_t *b = malloc(1 + (size_t)n * 80);
    if (!b) return db_errf(err, errlen, "out of memory");
    size_t k = 0;
    b[k++] = DB_EVENTS_FORMAT;
    int32_t pstep = 0;
    int64_t pstart = 0;
    for (int i = 0; i < n; i++) {
        const db_event_row *e = &ev[i];
        int has_acc = e->n_accepted != 0 || e->accepted_mask != 0;
        int slot = e->role >= 0 && e->role <= 2 ? e->role : 3;
        k += put(b + k, (uint64_t)(uint32_t)e->kind << 3 | (uint64_t)has_acc << 2 | (uint64_t)slot);
        if (slot == 3) k += put(b + k, zz(e->role));
        k += put(b + k, zz((int64_t)e->step - pstep));
        k += put(b + k, zz(e->n_tokens));
        if (has_acc) {
            k += put(b + k, zz(e->n_accepted));
            k += put(b + k, e->accepted_mask);
        }
        k += put(b + k, zz(wdiff(e->t_start_us, pstart)));
        k += put(b + k, zz(wdiff(e->t_end_us, e->t_start_us)));
        pstep = e->step;
        pstart = e->t_start_us;
    }
    uint8_t *s = realloc(b, k);
    *out = s ? s : b;
    *len = k;
    return 0;
}

/* next varint at *p (< end); -1 when truncated or longer than 10 bytes */
static int get(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end) return -1;
        uint8_t c = *(*p)++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

int db_events_decode(const uint8_t *blob, size_t len, int expect, db_event_row **out, int *n, char *err,
                     size_t errlen) {
    *out = NULL;
    *n = 0;
    if (len == 0 || !blob) return db_errf(err, errlen, "step event blob: empty");
    if (blob[0] != DB_EVENTS_FORMAT)
        return db_errf(err, errlen, "step event blob: format %d, this decobench reads %d", blob[0], DB_EVENTS_FORMAT);
    const uint8_t *p = blob + 1, *end = blob + len;
    /* every event takes at least 5 bytes */
    size_t cap = (len - 1) / 5 + 1;
    if (expect >= 0 && (size_t)expect > cap) goto bad;
    db_event_row *v = malloc(cap * sizeof *v);
    if (!v) return db_errf(err, errlen, "out of memory");
    int k = 0;
    int32_t pstep = 0;
    int64_t pstart = 0;
    while (p < end) {
        uint64_t h, u;
        db_event_row *e = &v[k];
        memset(e, 0, sizeof *e);
        if (get(&p, end, &h) != 0 || (h >> 3) > UINT32_MAX) goto bad_free;
        e->kind = (int32_t)(uint32_t)(h >> 3);
        if ((h & 3) == 3) {
            if (get(&p, end, &u) != 0) goto bad_free;
            e->role = (int32_t)unzz(u);
        } else {
            e->role = (int32_t)(h & 3);
        }
        if (get(&p, end, &u) != 0) goto bad_free;
        e->step = (int32_t)((uint32_t)pstep + (uint32_t)unzz(u));
        if (get(&p, end, &u) != 0) goto bad_free;
        e->n_tokens = (int32_t)unzz(u);
        if (h & 4) {
            if (get(&p, end, &u) != 0) goto bad_free;
            e->n_accepted = (int32_t)unzz(u);
            if (get(&p, end, &e->accepted_mask) != 0) goto bad_free;
        }
        if (get(&p, end, &u) != 0) goto bad_free;
        e->t_start_us = wadd(pstart, unzz(u));
        if (get(&p, end, &u) != 0) goto bad_free;
        e->t_end_us = wadd(e->t_start_us, unzz(u));
        pstep = e->step;
        pstart = e->t_start_us;
        k++;
    }
    if (expect >= 0 && k != expect) {
        free(v);
        return db_errf(err, errlen, "step event blob: holds %d events, its row says %d", k, expect);
    }
    if (k == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = k;
    return 0;
bad_free:
    free(v);
bad:
    return db_errf(err, errlen, "step event blob: truncated or malformed (%zu bytes)", len);
}

/* ---- packed per-sample counters ---------------------------------------------- */

int db_counters_encode(const int64_t *name_ids, const int64_t *values, const unsigned char *is_null, int n,
                       uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (n < 0) return -1;
    uint8_t *b = malloc(1 + (size_t)n * 21);
    if (!b) return -1;
    size_t k = 0;
    b[k++] = DB_COUNTERS_FORMAT;
    for (int i = 0; i < n; i++) {
        k += put(b + k, (uint64_t)name_ids[i]);
        k += put(b + k, is_null[i] ? 0 : 1);
        if (!is_null[i]) k += put(b + k, zz(values[i]));
    }
    *out = b;
    *len = k;
    return 0;
}

int db_counters_decode(const uint8_t *blob, size_t len, int64_t **name_ids, int64_t **values,
                       unsigned char **is_null, int *n) {
    *name_ids = NULL;
    *values = NULL;
    *is_null = NULL;
    *n = 0;
    if (!blob || len < 1 || blob[0] != DB_COUNTERS_FORMAT) return -1;
    const uint8_t *p = blob + 1, *end = blob + len;
    int cap = 0;
    while (p < end) {
        uint64_t id, tag, v = 0;
        if (get(&p, end, &id) != 0 || get(&p, end, &tag) != 0 || tag > 1 || id > INT64_MAX) goto bad;
        if (tag == 1 && get(&p, end, &v) != 0) goto bad;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            int64_t *a = realloc(*name_ids, (size_t)cap * sizeof *a);
            if (a) *name_ids = a;
            int64_t *b = realloc(*values, (size_t)cap * sizeof *b);
            if (b) *values = b;
            unsigned char *c = realloc(*is_null, (size_t)cap);
            if (c) *is_null = c;
            if (!a || !b || !c) goto bad;
        }
        (*name_ids)[*n] = (int64_t)id;
        (*values)[*n] = tag ? unzz(v) : 0;
        (*is_null)[*n] = tag == 0;
        (*n)++;
    }
    return 0;
bad:
    free(*name_ids);
    free(*values);
    free(*is_null);
    *name_ids = NULL;
    *values = NULL;
    *is_null = NULL;
    *n = 0;
    return -1;
}
