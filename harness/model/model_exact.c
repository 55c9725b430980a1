/* model_exact.c — the analytic "exact" backend (closed form in
 * model_exact.h).  Besides computing logits it checks KV-cache discipline
 * strictly: evaluating a position a sequence already holds, or one whose
 * context positions are missing, is an error, so engines that roll back
 * their caches wrongly fail loudly in tests.
 */
#include "model_exact.h"
#include "model_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/rng.h"
#include "harness/util/util.h"

#define MAX_ORDER 8

typedef struct exact_seq {
    db_token *tok;      /* tok[pos] or DB_TOKEN_NULL; n_ctx entries */
} exact_seq;

typedef struct exact_impl {
    db_exact_spec spec;
    int n_ctx, n_seq_max, n_batch;
    bool causal;
    exact_seq *seqs;
    float *logits;      /* n_batch rows */
    int *row_of_entry;  /* batch entry -> logits row, -1 if none */
    int n_rows;
} exact_impl;

int db_exact_spec_parse(const char *text, db_exact_spec *s, char *err, size_t errlen) {
    s->vocab = 32;
    s->order = 1;
    s->seed = 1;
    s->sharpness = 2.0;
    s->eos_bias = -1e30;
    s->positional = false;
    s->noise = 0.0;
    s->noise_seed = 2;
    s->bidir_context = 0;
    s->alphabet = DB_EXACT_ALPHABET_WORDS;
    if (!text) return 0;
    bool vocab_given = false;
    char *copy = db_strdup(text);
    if (!copy) return db_errf(err, errlen, "out of memory");
    int rc = 0;
    char *save = NULL;
    for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*kv)) kv++;
        if (!*kv) continue;
        char *eq = strchr(kv, '=');
        if (!eq) { rc = db_errf(err, errlen, "exact spec '%s': '%s' is not key=value", text, kv); break; }
        *eq = 0;
        const char *key = kv, *val = eq + 1;
        if (strcmp(key, "alphabet") == 0) {
            if (strcmp(val, "words") == 0) s->alphabet = DB_EXACT_ALPHABET_WORDS;
            else if (strcmp(val, "json") == 0) s->alphabet = DB_EXACT_ALPHABET_JSON;
            else { rc = db_errf(err, errlen, "exact spec '%s': alphabet must be words or json, got '%s'", text, val); break; }
            continue;
        }
        char *end = NULL;
        double v = strtod(val, &end);
        if (end == val || *end) { rc = db_errf(err, errlen, "exact spec '%s': %s: '%s' is not a number", text, key, val); break; }
        if (strcmp(key, "vocab") == 0) {
            if (v < 4 || v > 1 << 20 || v != floor(v)) { rc = db_errf(err, errlen, "exact spec '%s': vocab must be an integer in [4, 1048576]", text); break; }
            s->vocab = (int)v;
            vocab_given = true;
        } else if (strcmp(key, "order") == 0) {
            if (v < 0 || v > MAX_ORDER || v != floor(v)) { rc = db_errf(err, errlen, "exact spec '%s': order must be an integer in [0, %d]", text, MAX_ORDER); break; }
            s->order = (int)v;
        } else if (strcmp(key, "seed") == 0) {
            if (v < 0 || v != floor(v)) { rc = db_errf(err, errlen, "exact spec '%s': seed must be a non-negative integer", text); break; }
            s->seed = (uint64_t)strtoull(val, NULL, 10);
        } else if (strcmp(key, "sharpness") == 0) {
            if (!(v >= 0 && v <= 100)) { rc = db_errf(err, errlen, "exact spec '%s': sharpness must be in [0, 100]", text); break; }
            s->sharpness = v;
        } else if (strcmp(key, "eos_bias") == 0) {
            s->eos_bias = v;
        } else if (strcmp(key, "positional") == 0) {
            s->positional = v != 0;
        } else if (strcmp(key, "noise") == 0) {
            if (!(v >= 0 && v <= 100)) { rc = db_errf(err, errlen, "exact spec '%s': noise must be in [0, 100]", text); break; }
            s->noise = v;
        } else if (strcmp(key, "noise_seed") == 0) {
            if (v < 0 || v != floor(v)) { rc = db_errf(err, errlen, "exact spec '%s': noise_seed must be a non-negative integer", text); break; }
            s->noise_seed = (uint64_t)strtoull(val, NULL, 10);
        } else if (strcmp(key, "bidir_context") == 0) {
            if (v < 0 || v > MAX_ORDER || v != floor(v)) { rc = db_errf(err, errlen, "exact spec '%s': bidir_context must be an integer in [0, %d]", text, MAX_ORDER); break; }
            s->bidir_context = (int)v;
        } else {
            rc = db_errf(err, errlen, "exact spec '%s': unknown key '%s' (vocab, order, seed, sharpness, eos_bias, positional, noise, noise_seed, bidir_context, alphabet)", text, key);
            break;
        }
    }
    free(copy);
    if (rc == 0 && s->alphabet == DB_EXACT_ALPHABET_JSON) {
        if (vocab_given && s->vocab != DB_EXACT_JSON_VOCAB)
            return db_errf(err, errlen, "exact spec '%s': alphabet=json has %d tokens; leave vocab out", text, DB_EXACT_JSON_VOCAB);
        s->vocab = DB_EXACT_JSON_VOCAB;
    }
    return rc;
}

static uint64_t context_hash(const db_exact_spec *s, const db_token *ctx, int n_ctx, int32_t pos) {
    uint64_t h = db_mix64(s->seed ^ 0x5eed5eedull);
    for (int j = 1; j <= s->order; j++) {
        int64_t t = j <= n_ctx ? ctx[n_ctx - j] : -1;
        h = db_mix64(h ^ (uint64_t)(t + 2) * 0x100000001b3ull);
    }
    if (s->positional) h = db_mix64(h ^ ((uint64_t)pos + 0xabcdefull));
    return h;
}

static void fill_logits(const db_exact_spec *s, uint64_t h, float *out) {
    db_rng r = db_rng_make(s->seed, h);
    db_rng rn = db_rng_make(s->noise_seed ^ 0x6e6f697365ull, h);
    for (int v = 0; v < s->vocab; v++) {
        r.counter = (uint64_t)v * 2;   /* two uniforms per token: independent of vocab order */
        double z = db_rng_normal(&r);
        if (s->noise > 0.0) {
            rn.counter = (uint64_t)v * 2;
            z += s->noise * db_rng_normal(&rn);
        }
        out[v] = (float)(s->sharpness * z);
    }
    out[DB_EXACT_BOS] = DB_EXACT_NEG_INF;
    out[DB_EXACT_MASK] = DB_EXACT_NEG_INF;
    if (s->eos_bias <= -1e29) out[DB_EXACT_EOS] = DB_EXACT_NEG_INF;
    else out[DB_EXACT_EOS] += (float)s->eos_bias;
}

void db_exact_logits(const db_exact_spec *s, const db_token *ctx, int n_ctx, int32_t pos, float *out) {
    fill_logits(s, context_hash(s, ctx, n_ctx, pos), out);
}

void db_exact_logits_bidir(const db_exact_spec *s, int32_t pos, float *out) {
    fill_logits(s, db_mix64(s->seed ^ ((uint64_t)pos * 0x9E3779B97F4A7C15ull) ^ 0xb1d1ull), out);
}

void db_exact_logits_bidir_ctx(const db_exact_spec *s, int32_t pos, const db_token *left, const db_token *right,
                               float *out) {
    uint64_t h = db_mix64(s->seed ^ ((uint64_t)pos * 0x9E3779B97F4A7C15ull) ^ 0xb1d1ull);
    for (int j = 0; j < s->bidir_context; j++) {
        h = db_mix64(h ^ (uint64_t)((int64_t)left[j] + 2) * 0x100000001b3ull);
        h = db_mix64(h ^ (uint64_t)((int64_t)right[j] + 2) * 0xc2b2ae3d27d4eb4full);
    }
    fill_logits(s, h, out);
}

/* ---- backend ---- */
static exact_impl *I(const db_model *m) { return (exact_impl *)m->impl; }

static void exact_close(db_model *m) {
    exact_impl *x = I(m);
    if (!x) return;
    if (x->seqs) {
        for (int s = 0; s < x->n_seq_max; s++) free(x->seqs[s].tok);
        free(x->seqs);
    }
    free(x->logits);
    free(x->row_of_entry);
    free(x);
    m->impl = NULL;
}

static int exact_open(db_model *m, const db_model_params *p, char *err, size_t errlen) {
    exact_impl *x = calloc(1, sizeof *x);
    if (!x) return db_errf(err, errlen, "out of memory");
    m->impl = x;
    if (db_exact_spec_parse(p->exact_spec, &x->spec, err, errlen) != 0) {
        exact_close(m);
        return -1;
    }
    x->n_ctx = p->n_ctx;
    x->n_seq_max = p->n_seq_max;
    x->n_batch = p->n_batch;
    x->causal = true;
    x->seqs = calloc((size_t)x->n_seq_max, sizeof *x->seqs);
    x->logits = malloc(sizeof(float) * (size_t)x->spec.vocab * (size_t)x->n_batch);
    x->row_of_entry = malloc(sizeof(int) * (size_t)x->n_batch);
    if (!x->seqs || !x->logits || !x->row_of_entry) {
        exact_close(m);
        return db_errf(err, errlen, "exact backend: out of memory (n_ctx %d, n_batch %d, vocab %d)", p->n_ctx, p->n_batch, x->spec.vocab);
    }
    for (int s = 0; s < x->n_seq_max; s++) {
        x->seqs[s].tok = malloc(sizeof(db_token) * (size_t)x->n_ctx);
        if (!x->seqs[s].tok) { exact_close(m); return db_errf(err, errlen, "exact backend: out of memory"); }
        for (int i = 0; i < x->n_ctx; i++) x->seqs[s].tok[i] = DB_TOKEN_NULL;
    }
    m->n_vocab = x->spec.vocab;
    return 0;
}

static void exact_info(const db_model *m, db_model_info *info) {
    const exact_impl *x = I(m);
    snprintf(info->desc, sizeof info->desc, "exact V=%d order=%d seed=%llu%s", x->spec.vocab, x->spec.order,
             (unsigned long long)x->spec.seed, x->spec.alphabet == DB_EXACT_ALPHABET_JSON ? " alphabet=json" : "");
    info->n_params = 0;
    info->size_bytes = 0;
    info->n_layer = 0;
    info->n_embd = 0;
    info->n_ctx = x->n_ctx;
}

static db_token exact_special(const db_model *m, int which) {
    (void)m;
    return which == 0 ? DB_EXACT_BOS : which == 1 ? DB_EXACT_EOS : DB_EXACT_MASK;
}

static bool exact_is_eog(const db_model *m, db_token t) { (void)m; return t == DB_EXACT_EOS; }
static bool exact_add_bos(const db_model *m) { (void)m; return true; }

const char *const db_exact_json_multi[DB_EXACT_JSON_MULTI] = {
    "{\"", "\":", "\",", "\"}", "\": ", ", \"", "true", "false", "null", "[]", "{}", "\"\"",
};

int db_exact_piece(const db_exact_spec *s, db_token t, char *buf, size_t cap) {
    if (t < 0 || t >= s->vocab) return -1;
    if (t == DB_EXACT_BOS) return snprintf(buf, cap, "<s>");
    if (t == DB_EXACT_EOS) return snprintf(buf, cap, "</s>");
    if (t == DB_EXACT_MASK) return snprintf(buf, cap, "<mask>");
    if (s->alphabet == DB_EXACT_ALPHABET_JSON) {
        if (t < 98) return snprintf(buf, cap, "%c", (char)(' ' + (t - 3)));
        if (t == 98) return snprintf(buf, cap, "\n");
        return snprintf(buf, cap, "%s", db_exact_json_multi[t - 99]);
    }
    return snprintf(buf, cap, " w%d", (int)t);
}

static int exact_piece(const db_model *m, db_token t, char *buf, int cap) {
    char tmp[32];
    int n = db_exact_piece(&I(m)->spec, t, tmp, sizeof tmp);
    if (n < 0) return 0;
    if (n > cap) return -n;
    memcpy(buf, tmp, (size_t)n);
    return n;
}

/* Words "wN" map to N; special words to their ids; any other word to a
 * deterministic hash bucket among the word tokens. */
static db_token word_token(const exact_impl *x, const char *w, size_t n, bool parse_special) {
    if (parse_special) {
        if (n == 3 && memcmp(w, "<s>", 3) == 0) return DB_EXACT_BOS;
        if (n == 4 && memcmp(w, "</s>", 4) == 0) return DB_EXACT_EOS;
        if (n == 6 && memcmp(w, "<mask>", 6) == 0) return DB_EXACT_MASK;
    }
    if (n >= 2 && w[0] == 'w') {
        long v = 0;
        size_t i = 1;
        for (; i < n && isdigit((unsigned char)w[i]) && v < 1 << 24; i++) v = v * 10 + (w[i] - '0');
        if (i == n && v >= 3 && v < x->spec.vocab) return (db_token)v;
    }
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)w[i]) * 1099511628211ull;
    return (db_token)(3 + h % (uint64_t)(x->spec.vocab - 3));
}

/* alphabet=json: greedy longest match over the pieces (specials only with
 * parse_special); bytes outside the alphabet are skipped. */
static int tokenize_chars(const exact_impl *x, const char *text, size_t len, bool parse_special, db_token *out,
                          int cap, int n) {
    size_t i = 0;
    while (i < len) {
        db_token best = DB_TOKEN_NULL;
        size_t best_len = 0;
        char piece[32];
        for (db_token t = 0; t < x->spec.vocab; t++) {
            if ((t == DB_EXACT_BOS || t == DB_EXACT_EOS || t == DB_EXACT_MASK) && !parse_special) continue;
            int k = db_exact_piece(&x->spec, t, piece, sizeof piece);
            if (k > 0 && (size_t)k > best_len && (size_t)k <= len - i && memcmp(text + i, piece, (size_t)k) == 0) {
                best = t;
                best_len = (size_t)k;
            }
        }
        if (best == DB_TOKEN_NULL) {
            i++;
            continue;
        }
        if (n < cap) out[n] = best;
        n++;
        i += best_len;
    }
    return n;
}

static int exact_tokenize(const db_model *m, const char *text, size_t len, bool add_special,
                          bool parse_special, db_token *out, int cap) {
    const exact_impl *x = I(m);
    int n = 0;
    if (add_special) {
        if (n < cap) out[n] = DB_EXACT_BOS;
        n++;
    }
    if (x->spec.alphabet == DB_EXACT_ALPHABET_JSON) {
        n = tokenize_chars(x, text, len, parse_special, out, cap, n);
        return n > cap ? -n : n;
    }
    size_t i = 0;
    while (i < len) {
        while (i < len && isspace((unsigned char)text[i])) i++;
        size_t j = i;
        while (j < len && !isspace((unsigned char)text[j])) j++;
        if (j > i) {
            if (n < cap) out[n] = word_token(x, text + i, j - i, parse_special);
            n++;
        }
        i = j;
    }
    return n > cap ? -n : n;
}

static int check_seq(db_model *m, const exact_impl *x, int32_t seq) {
    if (seq < 0 || seq >= x->n_seq_max)
        return db_model_fail(m, "exact backend: sequence id %d outside [0, %d)", seq, x->n_seq_max);
    return 0;
}

/* Logits for every row that asked for them.  Causal rows need the whole
 * history 0..pos of their sequence in the cache: a gap means an engine lost
 * or failed to re-evaluate a position. */
static int compute_rows(db_model *m, exact_impl *x, const db_batch *b) {
    db_token ctx[MAX_ORDER];
    x->n_rows = 0;
    for (int i = 0; i < b->n_tokens; i++) {
        x->row_of_entry[i] = -1;
        if (!b->logits[i]) continue;
        float *row = x->logits + (size_t)x->n_rows * (size_t)x->spec.vocab;
        int32_t pos = b->pos[i];
        if (!x->causal && x->spec.bidir_context > 0) {
            /* the neighbours in the first sequence of the entry, as the
             * cache holds them now (this batch's tokens included) */
            const db_token *t = x->seqs[b->seq_id[i][0]].tok;
            db_token left[MAX_ORDER], right[MAX_ORDER];
            for (int j = 0; j < x->spec.bidir_context; j++) {
                int32_t pl = pos - 1 - j, pr = pos + 1 + j;
                left[j] = pl >= 0 ? t[pl] : DB_TOKEN_NULL;
                right[j] = pr < x->n_ctx ? t[pr] : DB_TOKEN_NULL;
            }
            db_exact_logits_bidir_ctx(&x->spec, pos, left, right, row);
        } else if (!x->causal) {
            db_exact_logits_bidir(&x->spec, pos, row);
        } else {
            /* the row at pos predicts pos+1 from tokens pos-order+1 .. pos */
            int n = 0;
            for (int k = 0; k < b->n_seq_id[i]; k++) {
                const db_token *t = x->seqs[b->seq_id[i][k]].tok;
                for (int32_t p = 0; p < pos; p++)
                    if (t[p] == DB_TOKEN_NULL)
                        return db_model_fail(m, "exact backend: seq %d has no token at position %d (history of %d)",
                                             b->seq_id[i][k], p, pos);
                int nk = 0;
                db_token c[MAX_ORDER];
                for (int32_t p = pos - x->spec.order + 1; p <= pos; p++)
                    if (p >= 0) c[nk++] = t[p];
                if (k == 0) { memcpy(ctx, c, sizeof(db_token) * (size_t)nk); n = nk; }
                else if (memcmp(t, x->seqs[b->seq_id[i][0]].tok, sizeof(db_token) * (size_t)(pos + 1)) != 0)
                    return db_model_fail(m, "exact backend: batch entry %d shared by sequences with different histories", i);
            }
            db_exact_logits(&x->spec, ctx, n, pos + 1, row);
        }
        x->row_of_entry[i] = x->n_rows++;
    }
    return 0;
}

static int exact_decode(db_model *m, const db_batch *b) {
    exact_impl *x = I(m);
    if (b->n_tokens > x->n_batch)
        return db_model_fail(m, "exact backend: batch of %d exceeds n_batch %d", b->n_tokens, x->n_batch);
    /* validate and insert first (a batch sees its own earlier rows) */
    for (int i = 0; i < b->n_tokens; i++) {
        int32_t pos = b->pos[i];
        if (pos < 0 || pos >= x->n_ctx)
            return db_model_fail(m, "exact backend: position %d outside context [0, %d)", pos, x->n_ctx);
        for (int k = 0; k < b->n_seq_id[i]; k++) {
            int32_t s = b->seq_id[i][k];
            if (check_seq(m, x, s)) return -1;
            if (x->seqs[s].tok[pos] != DB_TOKEN_NULL)
                return db_model_fail(m, "exact backend: seq %d already holds position %d (stale KV entry)", s, pos);
        }
    }
    for (int i = 0; i < b->n_tokens; i++)
        for (int k = 0; k < b->n_seq_id[i]; k++) x->seqs[b->seq_id[i][k]].tok[b->pos[i]] = b->token[i];
    if (compute_rows(m, x, b) != 0) {
        /* leave the cache as it was before this batch */
        for (int i = 0; i < b->n_tokens; i++)
            for (int k = 0; k < b->n_seq_id[i]; k++) x->seqs[b->seq_id[i][k]].tok[b->pos[i]] = DB_TOKEN_NULL;
        x->n_rows = 0;
        return -1;
    }
    return 0;
}

static const float *exact_logits(db_model *m, int i) {
    exact_impl *x = I(m);
    if (i < 0 || i >= x->n_batch || x->row_of_entry[i] < 0) return NULL;
    return x->logits + (size_t)x->row_of_entry[i] * (size_t)x->spec.vocab;
}

static int exact_seq_rm(db_model *m, int32_t seq, int32_t p0, int32_t p1) {
    exact_impl *x = I(m);
    if (p0 < 0) p0 = 0;
    if (p1 < 0 || p1 > x->n_ctx) p1 = x->n_ctx;
    for (int s = 0; s < x->n_seq_max; s++) {
        if (seq >= 0 && s != seq) continue;
        for (int32_t p = p0; p < p1; p++) x->seqs[s].tok[p] = DB_TOKEN_NULL;
    }
    if (seq >= x->n_seq_max) return check_seq(m, x, seq);
    return 0;
}

static int exact_seq_cp(db_model *m, int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    exact_impl *x = I(m);
    if (check_seq(m, x, src) || check_seq(m, x, dst)) return -1;
    if (p0 < 0) p0 = 0;
    if (p1 < 0 || p1 > x->n_ctx) p1 = x->n_ctx;
    for (int32_t p = p0; p < p1; p++)
        if (x->seqs[src].tok[p] != DB_TOKEN_NULL) x->seqs[dst].tok[p] = x->seqs[src].tok[p];
    return 0;
}

static int exact_seq_keep(db_model *m, int32_t seq) {
    exact_impl *x = I(m);
    if (check_seq(m, x, seq)) return -1;
    for (int s = 0; s < x->n_seq_max; s++)
        if (s != seq)
            for (int p = 0; p < x->n_ctx; p++) x->seqs[s].tok[p] = DB_TOKEN_NULL;
    return 0;
}

static int32_t exact_pos_max(db_model *m, int32_t seq) {
    exact_impl *x = I(m);
    if (seq < 0 || seq >= x->n_seq_max) return -1;
    for (int32_t p = x->n_ctx - 1; p >= 0; p--)
        if (x->seqs[seq].tok[p] != DB_TOKEN_NULL) return p;
    return -1;
}

static void exact_reset(db_model *m) {
    exact_impl *x = I(m);
    for (int s = 0; s < x->n_seq_max; s++)
        for (int p = 0; p < x->n_ctx; p++) x->seqs[s].tok[p] = DB_TOKEN_NULL;
}

static int exact_set_causal(db_model *m, bool causal) {
    I(m)->causal = causal;
    return 0;
}

const db_model_backend db_backend_exact = {
    .name = "exact",
    .open = exact_open,
    .close = exact_close,
    .get_info = exact_info,
    .special = exact_special,
    .is_eog = exact_is_eog,
    .add_bos = exact_add_bos,
    .tokenize = exact_tokenize,
    .token_piece = exact_piece,
    .decode = exact_decode,
    .logits = exact_logits,
    .seq_rm = exact_seq_rm,
    .seq_cp = exact_seq_cp,
    .seq_keep = exact_seq_keep,
    .seq_pos_max = exact_pos_max,
    .reset = exact_reset,
    .set_causal = exact_set_causal,
    .set_threads = NULL,
};
