/* store_serve.c — reading a serving case's requests (store_serve.h): the
 * sample rows, their request metrics (t_sent_s, t_done_s, slo_met) and
 * their ARRIVAL step events, whose gaps are the inter-token latencies.
 */
#include "store_serve.h"
#include "store_int.h"
#include "events_codec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engines/engine.h"
#include "harness/util/util.h"

static void request_free(void *e);

void db_serve_requests_free(db_serve_request_info *r, int n) {
    for (int i = 0; r && i < n; i++) request_free(&r[i]);
    free(r);
}

static void request_free(void *e) {
    db_serve_request_info *r = e;
    free(r->error);
    free(r->itl_ms);
}

/* One sample row (the SELECT below) as a request; -1 when out of memory. */
static int request_row(sqlite3_stmt *s, void *e) {
    db_serve_request_info *r = e;
    r->sample_id = sqlite3_column_int64(s, 0);
    const char *stop = (const char *)sqlite3_column_text(s, 1);
    r->ok = !(stop && !strncmp(stop, "error:", 6));
    if (!r->ok && !(r->error = db_strdup(stop[6] == ' ' ? stop + 7 : stop + 6))) return -1;
    r->ttft_ms = db_sql_real(s, 2);
    r->tpot_ms = db_sql_real(s, 3);
    r->latency_ms = db_sql_real(s, 4);
    r->new_tokens = sqlite3_column_int(s, 5);
    r->n_prompt_tokens = sqlite3_column_int(s, 6);
    r->drafted = sqlite3_column_int(s, 7);
    r->accepted = sqlite3_column_int(s, 8);
    r->n_commits = sqlite3_column_int(s, 9);
    r->t_sent_s = r->t_done_s = r->slo_met = NAN;
    return 0;
}

static int find(const db_serve_request_info *r, int n, int64_t id) {
    int lo = 0, hi = n - 1;   /* r is in id order */
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (r[mid].sample_id == id) return mid;
        if (r[mid].sample_id < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* the state of the walk over a case's ARRIVAL events */
typedef struct {
    db_serve_request_info *v;
    int k;
    int64_t prev_id;
    double prev_t;
    int cur, icap;
} arrivals;

static int arrival(void *ctx, int64_t id, const db_event_row *e) {
    arrivals *a = ctx;
    double t = (double)e->t_end_us / 1e3;
    if (id != a->prev_id) {
        a->cur = find(a->v, a->k, id);
        a->icap = 0;
        a->prev_id = id;
        a->prev_t = t;
        return 0;
    }
    if (a->cur >= 0) {
        db_serve_request_info *r = &a->v[a->cur];
        if (r->n_itl == a->icap) {
            a->icap = a->icap ? 2 * a->icap : 64;
            double *ni = realloc(r->itl_ms, sizeof *ni * (size_t)a->icap);
            if (!ni) return -2;
            r->itl_ms = ni;
        }
        r->itl_ms[r->n_itl++] = t - a->prev_t;
    }
    a->prev_t = t;
    return 0;
}

int db_store_read_serve_requests(db_store *st, int64_t case_id, db_serve_request_info **out, int *n, char *err,
                                 size_t errlen) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT id, stop_reason, ttft_ms, tpot_ms, latency_ms, new_tokens, n_prompt_tokens,"
                           " drafted, accepted, n_commits FROM sample WHERE case_id = ? ORDER BY id",
                           -1, &s, NULL) != SQLITE_OK)
        return db_sql_fail(st->db, "read requests", err, errlen);
    sqlite3_bind_int64(s, 1, case_id);
    db_serve_request_info *v = NULL;
    int k = 0, rc;
    if (db_st_read_rows(st, s, "read requests", sizeof *v, request_row, request_free, &v, &k, err, errlen) != 0)
        return -1;
    /* their request metrics */
    if (sqlite3_prepare_v2(st->db,
                           "SELECT m.sample_id, m.name, m.value FROM sample_metric m JOIN sample x ON x.id = m.sample_id"
                           " WHERE x.case_id = ? AND m.name IN ('t_sent_s', 't_done_s', 'slo_met')",
                           -1, &s, NULL) != SQLITE_OK) {
        db_serve_requests_free(v, k);
        return db_sql_fail(st->db, "read request metrics", err, errlen);
    }
    sqlite3_bind_int64(s, 1, case_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int i = find(v, k, sqlite3_column_int64(s, 0));
        if (i < 0) continue;
        const char *name = (const char *)sqlite3_column_text(s, 1);
        double x = db_sql_real(s, 2);
        if (!strcmp(name, "t_sent_s")) v[i].t_sent_s = x;
        else if (!strcmp(name, "t_done_s")) v[i].t_done_s = x;
        else v[i].slo_met = x;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        db_serve_requests_free(v, k);
        return db_sql_fail(st->db, "read request metrics", err, errlen);
    }
    /* their arrivals, in order: the inter-token latencies (from the
     * sample_events blobs and the step_event rows alike) */
    arrivals ar = { v, k, -1, 0, -1, 0 };
    rc = db_st_for_events(st, case_id, DB_EV_ARRIVAL, arrival, &ar, err, errlen);
    if (rc != 0) {
        db_serve_requests_free(v, k);
        return rc == -2 ? db_errf(err, errlen, "out of memory") : -1;
    }
    *out = v;
    *n = k;
    return 0;
}
