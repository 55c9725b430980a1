/* sse.c — the response side of the load generator (loadgen.h): an
 * incremental Server-Sent Events parser (the WHATWG event-stream format:
 * any split of the byte stream gives the same events) and the per-API
 * reading of each event's JSON — OpenAI completions and chat chunks and
 * llama-server's native /completion chunks — into a db_lg_result.
 */
#include "loadgen.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/utf8.h"
#include "harness/util/util.h"
#include "loadgen_int.h"

/* ---- SSE framing ---- */

#define SSE_MAX_EVENT ((size_t)16 << 20)

struct db_sse {
    db_sse_on_event on_event;
    void *ctx;
    db_str line;        /* the line being read, without its end */
    db_str data;        /* the event's data lines, joined by '\n' */
    bool has_data;      /* a data line was seen (an empty one counts) */
    bool pending_cr;    /* the last byte was CR: a following LF belongs to it */
    bool first_line;    /* the next line is the stream's first (a BOM may open it) */
};

db_sse *db_sse_new(db_sse_on_event on_event, void *ctx) {
    db_sse *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->on_event = on_event;
    p->ctx = ctx;
    db_str_init(&p->line);
    db_str_init(&p->data);
    p->first_line = true;
    return p;
}

void db_sse_free(db_sse *p) {
    if (!p) return;
    db_str_free(&p->line);
    db_str_free(&p->data);
    free(p);
}

static int dispatch(db_sse *p) {
    if (!p->has_data) return 0;
    p->has_data = false;
    size_t len = p->data.len;
    int rc = p->on_event ? p->on_event(p->ctx, p->data.s ? p->data.s : "", len) : 0;
    p->data.len = 0;
    if (p->data.s) p->data.s[0] = 0;
    return rc;
}

/* One complete line (without its end). */
static int end_line(db_sse *p) {
    const char *s = p->line.s ? p->line.s : "";
    size_t n = p->line.len;
    if (p->first_line) {
        p->first_line = false;
        if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3, n -= 3;
    }
    int rc = 0;
    if (n == 0) {
        rc = dispatch(p);
    } else if (s[0] != ':') {   /* ':' opens a comment */
        const char *colon = memchr(s, ':', n);
        size_t flen = colon ? (size_t)(colon - s) : n;
        if (flen == 4 && memcmp(s, "data", 4) == 0) {
            const char *v = colon ? colon + 1 : s + n;
            size_t vlen = (size_t)(s + n - v);
            if (vlen > 0 && *v == ' ') v++, vlen--;
            if (p->data.len + vlen + 1 > SSE_MAX_EVENT) rc = -1;
            else if ((p->has_data && db_str_appendn(&p->data, "\n", 1) != 0) || db_str_appendn(&p->data, v, vlen) != 0)
                rc = -1;
            p->has_data = true;
        }
        /* "event", "id", "retry" and unknown fields are ignored */
    }
    p->line.len = 0;
    if (p->line.s) p->line.s[0] = 0;
    return rc;
}

int db_sse_feed(db_sse *p, const char *bytes, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (p->pending_cr) {
            p->pending_cr = false;
            if (bytes[i] == '\n') {
                i++;
                continue;
            }
        }
        size_t j = i;
        while (j < n && bytes[j] != '\r' && bytes[j] != '\n') j++;
        if (j > i) {
            if (p->line.len + p->data.len + (j - i) > SSE_MAX_EVENT) return -1;
            if (db_str_appendn(&p->line, bytes + i, j - i) != 0) return -1;
        }
        if (j == n) break;
        if (bytes[j] == '\r') p->pending_cr = true;
        int rc = end_line(p);
        if (rc != 0) return rc;
        i = j + 1;
    }
    return 0;
}

int db_sse_finish(db_sse *p) {
    int rc = 0;
    if (p->line.len > 0) rc = end_line(p);
    if (rc == 0) rc = dispatch(p);
    p->pending_cr = false;
    return rc;
}

/* ---- one line of text ---- */

void db_lg_one_line(char *s, size_t max) {
    if (!s) return;
    size_t n = strlen(s), o = 0;
    for (size_t i = 0; i < n && o < max;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            s[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
            i++;
            continue;
        }
        size_t k = db_utf8_valid((const unsigned char *)s + i, n - i);
        if (k == 0) {
            s[o++] = '?';
            i++;
        } else if (o + k > max) {
            break;
        } else {
            memmove(s + o, s + i, k);
            o += k;
            i += k;
        }
    }
    s[o] = 0;
}

/* ---- events ---- */

void db_lg_acc_from(db_lg_acc *a, const db_lg_result *r) {
    a->text_len = r->text ? strlen(r->text) : 0;
    a->text_cap = r->text ? a->text_len + 1 : 0;
    a->chunk_cap = r->n_chunks > 0 ? (size_t)r->n_chunks : 0;
    a->tok_cap = r->n_tokens > 0 ? (size_t)r->n_tokens : 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 8;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int append_text(db_lg_result *r, db_lg_acc *a, const char *s, size_t n) {
    void *t = r->text;
    if (grow(&t, &a->text_cap, a->text_len + n + 1, 1) != 0) return -1;
    r->text = t;
    memcpy(r->text + a->text_len, s, n);
    a->text_len += n;
    r->text[a->text_len] = 0;
    return 0;
}

/* A new content-bearing chunk of ntok tokens; its time is stamped by the caller. */
static int append_chunk(db_lg_result *r, db_lg_acc *a, int ntok) {
    size_t need = (size_t)r->n_chunks + 1;
    size_t cap = a->chunk_cap;
    void *ns = r->chunk_ns, *tk = r->chunk_tokens;
    if (grow(&ns, &cap, need, sizeof(int64_t)) != 0) return -1;
    r->chunk_ns = ns;
    cap = a->chunk_cap;
    if (grow(&tk, &cap, need, sizeof(int)) != 0) return -1;
    r->chunk_tokens = tk;
    a->chunk_cap = cap;
    r->chunk_ns[r->n_chunks] = -1;
    r->chunk_tokens[r->n_chunks] = ntok;
    r->n_chunks++;
    return 0;
}

/* A content-bearing chunk came without token ids: the result has none. */
static void no_ids(db_lg_result *r, db_lg_acc *a) {
    free(r->tokens);
    r->tokens = NULL;
    r->n_tokens = -1;
    a->tok_cap = 0;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* A JSON number that is an integer in int range, into *out. */
static bool get_int(const cJSON *o, const char *name, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < -2147483648.0 ||
        v->valuedouble > 2147483647.0)
        return false;
    *out = (int)v->valuedouble;
    return true;
}

static bool get_double(const cJSON *o, const char *name, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v)) return false;
    *out = v->valuedouble;
    return true;
}

/* name's value: absent or null -> NULL, a string -> it, else *bad */
static const char *opt_string(const cJSON *o, const char *name, bool *bad) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v)) return NULL;
    if (!cJSON_IsString(v)) {
        *bad = true;
        return NULL;
    }
    return v->valuestring;
}

static void set_finish(db_lg_result *r, const char *why) {
    if (why && *why) snprintf(r->finish_reason, sizeof r->finish_reason, "%s", why);
}

/* The message of an error event, or NULL when the object is not one:
 * {"error": {"message": ...}}, {"error": "..."}, {"object": "error", "message": ...}. */
static const char *error_message(const cJSON *j, bool *is_error) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(j, "object");
    *is_error = false;
    if (e && !cJSON_IsNull(e)) {
        *is_error = true;
        if (cJSON_IsString(e)) return e->valuestring;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        if (cJSON_IsString(m)) return m->valuestring;
        return "(no message)";
    }
    if (cJSON_IsString(obj) && strcmp(obj->valuestring, "error") == 0) {
        *is_error = true;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
        return cJSON_IsString(m) ? m->valuestring : "(no message)";
    }
    return NULL;
}

static void apply_usage(const cJSON *j, db_lg_result *r) {
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (!cJSON_IsObject(u)) return;
    int v;
    if (get_int(u, "prompt_tokens", &v)) r->usage_prompt_tokens = v;
    if (get_int(u, "completion_tokens", &v)) r->usage_completion_tokens = v;
}

/* llama-server's "timings" (its native final chunk, and the last chunk of
 * its OpenAI-compatible streams). */
static void apply_timings(const cJSON *j, db_lg_result *r) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "timings");
    if (!cJSON_IsObject(t)) return;
    double d;
    int v;
    if (get_double(t, "prompt_ms", &d)) r->prompt_ms = d;
    if (get_double(t, "predicted_ms", &d)) r->predicted_ms = d;
    if (get_int(t, "prompt_n", &v)) r->prompt_n = v;
    if (get_int(t, "predicted_n", &v)) r->predicted_n = v;
    if (get_int(t, "draft_n", &v)) r->draft_n = v;
    if (get_int(t, "draft_n_accepted", &v)) r->draft_n_accepted = v;
}

static int apply_openai(db_api_kind api, const cJSON *j, db_lg_result *r, db_lg_acc *a, bool *content_bearing,
                        char *err, size_t errlen) {
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    if (choices && !cJSON_IsNull(choices) && !cJSON_IsArray(choices))
        return db_errf(err, errlen, "malformed event: \"choices\" is not an array");
    const cJSON *c0 = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    if (c0) {
        if (!cJSON_IsObject(c0)) return db_errf(err, errlen, "malformed event: choices[0] is not an object");
        bool bad = false;
        const char *piece = NULL;
        size_t plen = 0;
        const char *reasoning = NULL;
        if (api == DB_API_OPENAI_CHAT) {
            const cJSON *delta = cJSON_GetObjectItemCaseSensitive(c0, "delta");
            if (delta && !cJSON_IsNull(delta) && !cJSON_IsObject(delta))
                return db_errf(err, errlen, "malformed event: choices[0].delta is not an object");
            if (delta && cJSON_IsObject(delta)) {
                piece = opt_string(delta, "content", &bad);
                if (bad) return db_errf(err, errlen, "malformed event: choices[0].delta.content is not a string");
                /* reasoning models stream their thinking here first (vLLM, llama-server) */
                reasoning = opt_string(delta, "reasoning_content", &bad);
                if (!reasoning && !bad) reasoning = opt_string(delta, "reasoning", &bad);
                if (bad) return db_errf(err, errlen, "malformed event: choices[0].delta's reasoning is not a string");
            }
        } else {
            piece = opt_string(c0, "text", &bad);
            if (bad) return db_errf(err, errlen, "malformed event: choices[0].text is not a string");
        }
        const char *why = opt_string(c0, "finish_reason", &bad);
        if (bad) return db_errf(err, errlen, "malformed event: choices[0].finish_reason is not a string");
        size_t rlen = reasoning ? strlen(reasoning) : 0;
        plen = piece ? strlen(piece) : 0;
        if (rlen + plen > 0) {
            if ((rlen && append_text(r, a, reasoning, rlen) != 0) || (plen && append_text(r, a, piece, plen) != 0) ||
                append_chunk(r, a, 1) != 0)
                return db_errf(err, errlen, "out of memory");
            *content_bearing = true;
            no_ids(r, a);   /* OpenAI chunks carry no token ids */
        }
        set_finish(r, why);
    }
    apply_usage(j, r);
    apply_timings(j, r);
    return 0;
}

static int apply_llama(const cJSON *j, db_lg_result *r, db_lg_acc *a, bool *content_bearing, bool *done, char *err,
                       size_t errlen) {
    bool bad = false;
    const char *content = opt_string(j, "content", &bad);
    if (bad) return db_errf(err, errlen, "malformed event: \"content\" is not a string");
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(j, "tokens");
    if (toks && !cJSON_IsNull(toks) && !cJSON_IsArray(toks))
        return db_errf(err, errlen, "malformed event: \"tokens\" is not an array");
    int ntok = cJSON_IsArray(toks) ? cJSON_GetArraySize(toks) : 0;
    const cJSON *ids = cJSON_IsArray(toks) ? toks : NULL, *t;
    cJSON_ArrayForEach(t, ids) {
        if (!cJSON_IsNumber(t) || t->valuedouble < INT32_MIN || t->valuedouble > INT32_MAX ||
            t->valuedouble != floor(t->valuedouble))
            return db_errf(err, errlen, "malformed event: \"tokens\" holds a non-integer");
    }
    size_t clen = content ? strlen(content) : 0;
    if (clen > 0 || ntok > 0) {   /* a chunk of held-back bytes may carry tokens and no text */
        if ((clen && append_text(r, a, content, clen) != 0) || append_chunk(r, a, ntok > 0 ? ntok : 1) != 0)
            return db_errf(err, errlen, "out of memory");
        *content_bearing = true;
        if (!cJSON_IsArray(toks) || ntok == 0) no_ids(r, a);   /* this chunk's ids are missing: no ids at all */
        else if (r->n_tokens >= 0) {
            void *p = r->tokens;
            if (grow(&p, &a->tok_cap, (size_t)r->n_tokens + (size_t)ntok, sizeof(int32_t)) != 0)
                return db_errf(err, errlen, "out of memory");
            r->tokens = p;
            cJSON_ArrayForEach(t, toks) r->tokens[r->n_tokens++] = (int32_t)t->valuedouble;
        }
    }
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(j, "stop");
    if (stop && !cJSON_IsBool(stop)) return db_errf(err, errlen, "malformed event: \"stop\" is not a boolean");
    if (cJSON_IsTrue(stop)) {
        *done = true;
        const char *why = opt_string(j, "stop_type", &bad);
        if (bad) return db_errf(err, errlen, "malformed event: \"stop_type\" is not a string");
        set_finish(r, why);
        apply_timings(j, r);
        int v;
        if (get_int(j, "tokens_predicted", &v)) r->usage_completion_tokens = v;
        else if (r->predicted_n >= 0) r->usage_completion_tokens = r->predicted_n;
        if (get_int(j, "tokens_evaluated", &v)) r->usage_prompt_tokens = v;
        else if (r->prompt_n >= 0) r->usage_prompt_tokens = r->prompt_n;
    }
    return 0;
}

int db_lg_apply(db_api_kind api, const char *data, size_t len, db_lg_result *r, db_lg_acc *a,
                bool *content_bearing, bool *done, char *err, size_t errlen) {
    *content_bearing = false;
    *done = false;
    size_t b = 0, e = len;
    while (b < e && is_ws(data[b])) b++;
    while (e > b && is_ws(data[e - 1])) e--;
    if (e - b == 6 && memcmp(data + b, "[DONE]", 6) == 0) {
        *done = true;
        return 0;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(data + b, e - b, &end, false);
    if (!j || (end && end != data + e) || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        char snip[64];
        size_t n = e - b < 40 ? e - b : 40;
        memcpy(snip, data + b, n);
        snip[n] = 0;
        db_lg_one_line(snip, 40);
        return db_errf(err, errlen, "malformed event: not a JSON object: '%s%s'", snip, e - b > n ? "..." : "");
    }
    int rc;
    bool is_error;
    const char *msg = error_message(j, &is_error);
    if (is_error) {
        char m[240];
        snprintf(m, sizeof m, "%s", msg);
        db_lg_one_line(m, 200);
        rc = db_errf(err, errlen, "server error: %s", m);
    } else if (api == DB_API_LLAMA_COMPLETION) {
        rc = apply_llama(j, r, a, content_bearing, done, err, errlen);
    } else if (api == DB_API_OPENAI_COMPLETIONS || api == DB_API_OPENAI_CHAT) {
        rc = apply_openai(api, j, r, a, content_bearing, err, errlen);
    } else {
        rc = db_errf(err, errlen, "unknown API kind %d", (int)api);
    }
    cJSON_Delete(j);
    return rc;
}

int db_lg_apply_event(db_api_kind api, const char *data, size_t len, db_lg_result *r, bool *content_bearing,
                      bool *done, char *err, size_t errlen) {
    db_lg_acc a;
    db_lg_acc_from(&a, r);
    return db_lg_apply(api, data, len, r, &a, content_bearing, done, err, errlen);
}
