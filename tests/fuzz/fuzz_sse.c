/* fuzz_sse.c — fuzz target: what a server streams back, which decobench
 * must treat as untrusted text (harness/run/sse.c): the SSE framing parser
 * fed in pieces, each event applied to a request's result by the per-API
 * chunk parser (db_lg_apply_event).  The first byte picks the API (OpenAI
 * completions, chat, llama.cpp /completion) and the split points; the
 * rest is the response body.  Checked: the parser never reads or writes
 * out of bounds (ASan), the result stays consistent (text NUL-terminated
 * with no NUL inside before its end, chunk arrays as long as n_chunks,
 * token ids present only with their count), errors are one line, and the
 * same body fed whole gives the same events. */
#include "fuzz.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/loadgen.h"

typedef struct state {
    db_api_kind api;
    db_lg_result r;
    int n_events, n_done, n_errors;
    unsigned long long digest;   /* of every event's data, for the whole-body comparison */
} state;

static int on_event(void *ctx, const char *data, size_t len) {
    state *s = ctx;
    s->n_events++;
    for (size_t i = 0; i < len; i++) s->digest = s->digest * 1099511628211ull + (unsigned char)data[i];
    s->digest = s->digest * 31u + len;
    bool content = false, done = false;
    char err[256] = "";
    int rc = db_lg_apply_event(s->api, data, len, &s->r, &content, &done, err, sizeof err);
    DB_FUZZ_CHECK(rc == 0 || rc == -1, "db_lg_apply_event returned %d", rc);
    if (rc != 0) {
        s->n_errors++;
        DB_FUZZ_CHECK(err[0] && !strchr(err, '\n'), "error not one line: '%s'", err);
    }
    if (done) s->n_done++;
    return 0;
}

static void init(state *s, db_api_kind api) {
    memset(s, 0, sizeof *s);
    s->api = api;
    s->r.t_first_ns = -1;
    s->r.usage_prompt_tokens = s->r.usage_completion_tokens = -1;
    s->r.prompt_n = s->r.predicted_n = s->r.draft_n = s->r.draft_n_accepted = -1;
    s->r.prompt_ms = s->r.predicted_ms = NAN;
}

static void check_result(const db_lg_result *r) {
    DB_FUZZ_CHECK(r->n_chunks >= 0, "n_chunks %d", r->n_chunks);
    DB_FUZZ_CHECK(r->n_chunks == 0 || (r->chunk_ns && r->chunk_tokens), "chunk arrays missing");
    for (int i = 0; i < r->n_chunks; i++) DB_FUZZ_CHECK(r->chunk_tokens[i] >= 0, "chunk %d: %d tokens", i, r->chunk_tokens[i]);
    DB_FUZZ_CHECK(!r->tokens || r->n_tokens >= 0, "tokens without a count");
    DB_FUZZ_CHECK(memchr(r->finish_reason, 0, sizeof r->finish_reason) != NULL, "finish_reason not terminated");
}

int db_fuzz_sse(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const db_api_kind api = (db_api_kind)(data[0] % 3);
    const unsigned step = 1u + data[0] / 3u;   /* piece size: 1..86 bytes */
    const char *body = (const char *)data + 1;
    const size_t n = size - 1;
    state a, b;
    init(&a, api);
    init(&b, api);
    db_sse *pa = db_sse_new(on_event, &a), *pb = db_sse_new(on_event, &b);
    if (!pa || !pb) {
        db_sse_free(pa);
        db_sse_free(pb);
        return 0;
    }
    int ra = 0;
    for (size_t off = 0; off < n && ra == 0; off += step)
        ra = db_sse_feed(pa, body + off, n - off < step ? n - off : step);
    if (ra == 0) ra = db_sse_finish(pa);
    int rb = db_sse_feed(pb, body, n);
    if (rb == 0) rb = db_sse_finish(pb);
    DB_FUZZ_CHECK(ra == rb, "pieces of %u bytes: %d, whole: %d", step, ra, rb);
    DB_FUZZ_CHECK(a.n_events == b.n_events && a.digest == b.digest, "pieces of %u bytes give %d events, whole %d", step,
                  a.n_events, b.n_events);
    check_result(&a.r);
    check_result(&b.r);
    DB_FUZZ_CHECK(a.r.n_chunks == b.r.n_chunks, "chunks %d vs %d", a.r.n_chunks, b.r.n_chunks);
    if (a.r.text) DB_FUZZ_CHECK(b.r.text && strcmp(a.r.text, b.r.text) == 0, "texts differ");
    db_sse_free(pa);
    db_sse_free(pb);
    db_lg_result_free(&a.r);
    db_lg_result_free(&b.r);
    return 0;
}

DB_FUZZ_ENTRY(sse)
