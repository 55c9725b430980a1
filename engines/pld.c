/* pld.c — prompt lookup decoding: drafts from n-grams of prompt + output,
 * no draft model.  Two drafters:
 *
 *   lookup=recent  Saxena 2023: match the last n tokens against their most
 *                  recent earlier occurrence and propose the tokens that
 *                  followed it (longest n, ngram_max down to ngram_min).
 *   lookup=cache   llama.cpp's n-gram cache (common/ngram-cache.cpp, used by
 *                  llama-lookup): counts of next tokens per n-gram of the
 *                  context, drafted one token at a time from the longest
 *                  n-gram whose most frequent continuation passes its sample-
 *                  size and share thresholds, the draft itself extending the
 *                  n-grams.  Context cache only (no static corpus cache).
 *                  Ported to C here because that code is C++ inside
 *                  llama.cpp's `common` library, which decobench does not link.
 *
 * Drafts are deterministic, so stochastic verification uses q = one-hot
 * (engines/specdec.c), which keeps the output lossless.
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pld.h"
#include "specdec.h"
#include "harness/util/util.h"

static const db_param_def pld_params[] = {
    DB_SAMPLING_PARAMS(DB_HELP_MODE_VERIFY, DB_HELP_TOP_K_DIST, DB_HELP_TOP_P_DIST),
    { "k",         DB_PARAM_INT,   "10", 1, 32, NULL, "most tokens proposed per step" },
    { "ngram_max", DB_PARAM_INT,   "3", 1, 16, NULL, "longest n-gram matched" },
    { "ngram_min", DB_PARAM_INT,   "1", 1, 16, NULL, "shortest n-gram matched" },
    { "lookup",    DB_PARAM_ENUM,  "recent", 0, 0, "recent|cache", "drafter: most recent match, or llama-lookup's n-gram count cache (n-grams up to 4)" },
};

static int pld_validate(const db_params *p, char *err, size_t errlen) {
    if (db_params_int(p, "ngram_min") > db_params_int(p, "ngram_max"))
        return db_errf(err, errlen, "parameter 'ngram_min': must not exceed ngram_max");
    if (db_params_int(p, "lookup") == 1 && db_params_int(p, "ngram_max") > DB_NGRAM_CACHE_MAX)
        return db_errf(err, errlen, "parameter 'ngram_max': at most %d with lookup=cache", DB_NGRAM_CACHE_MAX);
    return db_sampling_params_check(p, " when mode=sample", err, errlen);
}

/* Draft from the most recent earlier occurrence of the last n tokens. */
int db_pld_lookup(const db_token *seq, int n_seq, int ngram_min, int ngram_max, int k, db_token *draft) {
    for (int n = ngram_max; n >= ngram_min; n--) {
        if (n >= n_seq) continue;
        const db_token *tail = seq + n_seq - n;
        for (int j = n_seq - n - 1; j >= 0; j--) {
            if (memcmp(seq + j, tail, sizeof(db_token) * (size_t)n) != 0) continue;
            int m = 0;
            while (m < k && j + n + m < n_seq) {
                draft[m] = seq[j + n + m];
                m++;
            }
            if (m > 0) return m;
        }
    }
    return 0;
}

/* ---- llama-lookup's n-gram cache ----------------------------------------- */

/* Thresholds per n-gram size (index size - 1) below which a draft is
 * abandoned: llama.cpp's draft_min_sample_size_lax / draft_min_percent_lax
 * for the context cache. */
static const int ngc_min_samples[DB_NGRAM_CACHE_MAX] = { 2, 2, 1, 1 };
static const int ngc_min_percent[DB_NGRAM_CACHE_MAX] = { 66, 50, 50, 50 };

typedef struct ngc_next { db_token token; int count; } ngc_next;
typedef struct ngc_slot {
    int size;                          /* 0 = empty slot */
    db_token key[DB_NGRAM_CACHE_MAX];
    ngc_next *next;                    /* continuations in first-seen order */
    int n_next, cap_next;
} ngc_slot;
struct db_ngram_cache {
    ngc_slot *slot;
    size_t cap, used;                  /* open addressing, cap a power of two */
    int ngram_min, ngram_max;
    int n_indexed;                     /* tokens of the sequence already counted */
};

static uint64_t ngc_hash(const db_token *key, int size) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)size;
    for (int i = 0; i < size; i++) h = (h ^ (uint32_t)key[i]) * 0x100000001B3ull, h ^= h >> 29;
    return h;
}

static ngc_slot *ngc_find(const db_ngram_cache *c, const db_token *key, int size) {
    size_t i = ngc_hash(key, size) & (c->cap - 1);
    for (;; i = (i + 1) & (c->cap - 1)) {
        ngc_slot *s = &c->slot[i];
        if (s->size == 0) return s;
        if (s->size == size && memcmp(s->key, key, sizeof *key * (size_t)size) == 0) return s;
    }
}

static int ngc_grow(db_ngram_cache *c) {
    size_t ncap = c->cap ? c->cap * 2 : 1024;
    ngc_slot *old = c->slot;
    size_t ocap = c->cap;
    c->slot = calloc(ncap, sizeof *c->slot);
    if (!c->slot) { c->slot = old; return -1; }
    c->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].size) *ngc_find(c, old[i].key, old[i].size) = old[i];
    free(old);
    return 0;
}

db_ngram_cache *db_ngram_cache_new(int ngram_min, int ngram_max) {
    if (ngram_min < 1 || ngram_max > DB_NGRAM_CACHE_MAX || ngram_min > ngram_max) return NULL;
    db_ngram_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ngram_min = ngram_min;
    c->ngram_max = ngram_max;
    if (ngc_grow(c) != 0) { free(c); return NULL; }
    return c;
}

size_t db_ngram_cache_bytes(const db_ngram_cache *c) {
    if (!c) return 0;
    size_t b = sizeof *c + c->cap * sizeof *c->slot;
    for (size_t i = 0; i < c->cap; i++) b += (size_t)c->slot[i].cap_next * sizeof *c->slot[i].next;
    return b;
}

void db_ngram_cache_free(db_ngram_cache *c) {
    if (!c) return;
    for (size_t i = 0; i < c->cap; i++) free(c->slot[i].next);
    free(c->slot);
    free(c);
}

static int ngc_count(db_ngram_cache *c, const db_token *key, int size, db_token next) {
    if ((c->used + 1) * 2 > c->cap && ngc_grow(c) != 0) return -1;
    ngc_slot *s = ngc_find(c, key, size);
    if (s->size == 0) {
        s->size = size;
        memcpy(s->key, key, sizeof *key * (size_t)size);
        c->used++;
    }
    for (int i = 0; i < s->n_next; i++)
        if (s->next[i].token == next) { s->next[i].count++; return 0; }
    if (s->n_next == s->cap_next) {
        int nc = s->cap_next ? s->cap_next * 2 : 2;
        ngc_next *nn = realloc(s->next, sizeof *nn * (size_t)nc);
        if (!nn) return -1;
        s->next = nn;
        s->cap_next = nc;
    }
    s->next[s->n_next++] = (ngc_next){ next, 1 };
    return 0;
}

/* Count every (n-gram -> next token) ending in seq[n_indexed..n_seq). */
int db_ngram_cache_update(db_ngram_cache *c, const db_token *seq, int n_seq) {
    for (int size = c->ngram_min; size <= c->ngram_max; size++) {
        int start = c->n_indexed > size ? c->n_indexed : size;
        for (int i = start; i < n_seq; i++)
            if (ngc_count(c, seq + i - size, size, seq[i]) != 0) return -1;
    }
    if (n_seq > c->n_indexed) c->n_indexed = n_seq;
    return 0;
}

/* Draft up to k tokens after seq[0..n_seq) (common_ngram_cache_draft with
 * only the context cache).  Ties between equally frequent continuations go
 * to the one seen first. */
int db_ngram_cache_draft(const db_ngram_cache *c, const db_token *seq, int n_seq, int k, db_token *draft) {
    int m = 0;
    db_token tail[2 * DB_NGRAM_CACHE_MAX];
    while (m < k) {
        /* the last ngram_max tokens of seq + draft[0..m) */
        int have = n_seq + m;
        int nt = have < c->ngram_max ? have : c->ngram_max;
        for (int j = 0; j < nt; j++) {
            int idx = have - nt + j;
            tail[j] = idx < n_seq ? seq[idx] : draft[idx - n_seq];
        }
        db_token pick = DB_TOKEN_NULL;
        for (int size = c->ngram_max; size >= c->ngram_min && pick == DB_TOKEN_NULL; size--) {
            if (size > nt) continue;
            const ngc_slot *s = ngc_find(c, tail + nt - size, size);
            if (s->size == 0) continue;
            int best = -1, max_count = 0, sum = 0;
            for (int i = 0; i < s->n_next; i++) {
                if (s->next[i].count > max_count) { max_count = s->next[i].count; best = i; }
                sum += s->next[i].count;
            }
            if (sum < ngc_min_samples[size - 1]) continue;
            if (100 * max_count < ngc_min_percent[size - 1] * sum) continue;
            pick = s->next[best].token;
        }
        if (pick == DB_TOKEN_NULL) break;
        draft[m++] = pick;
    }
    return m;
}

static int pld_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    const int k = db_params_int(req->params, "k");
    const int nmin = db_params_int(req->params, "ngram_min"), nmax = db_params_int(req->params, "ngram_max");
    const bool use_cache = db_params_int(req->params, "lookup") == 1;
    db_spec s;
    if (db_spec_begin(&s, req, out, k, err, errlen) != 0) return -1;
    db_ngram_cache *cache = NULL;
    if (use_cache && !(cache = db_ngram_cache_new(nmin, nmax))) {
        db_spec_end(&s);
        return db_errf(err, errlen, "out of memory");
    }
    db_token draft[32];
    int rc = 0;
    while (!s.done) {
        int64_t t0 = db_now_ns();
        int want = k < db_spec_remaining(&s) - 1 ? k : db_spec_remaining(&s) - 1;
        int n = 0;
        if (cache) {
            if (db_ngram_cache_update(cache, s.seq, s.n_seq) != 0) { rc = db_errf(err, errlen, "out of memory"); break; }
            if (want > 0) n = db_ngram_cache_draft(cache, s.seq, s.n_seq, want, draft);
        } else if (want > 0) {
            n = db_pld_lookup(s.seq, s.n_seq, nmin, nmax, want, draft);
        }
        if (n > 0) db_emit_draft(req->events, s.step, n, t0, db_now_ns());
        int acc;
        int v = db_spec_verify(&s, draft, n, NULL, &acc, err, errlen);
        if (v < 0) { rc = -1; break; }
        if (v == 1) break;
    }
    if (rc == 0 && strcmp(out->stop_reason, "cancel") == 0) rc = 1;
    /* drafter memory: the n-gram table at its largest (the context search
     * keeps none: 0, recorded by db_spec_begin) */
    if (cache) db_output_stat(out, "drafter_bytes", (double)db_ngram_cache_bytes(cache));
    db_ngram_cache_free(cache);
    db_spec_end(&s);
    return rc;
}

const db_engine db_engine_pld = {
    .name = "pld",
    .summary = "prompt lookup decoding: draft by matching the last n-gram in prompt + output (no draft model)",
    .params = pld_params,
    .n_params = (int)(sizeof pld_params / sizeof pld_params[0]),
    .validate = pld_validate,
    .lossless_greedy = true,
    .generate = pld_generate,
};
