/* model.c — backend-independent half of model.h: dispatch to the chosen
 * backend, batch helpers, error recording. */
#include "config.h"
#include "model_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

db_model_params db_model_default_params(void) {
    db_model_params p;
    memset(&p, 0, sizeof p);
    p.backend = "llama";
    p.n_ctx = 4096;
    p.n_batch = 512;
    p.n_seq_max = 1;
    p.kv_unified = true;
    return p;
}

int db_model_fail(db_model *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error, sizeof m->error, fmt, ap);
    va_end(ap);
    return -1;
}

const char *db_model_last_error(const db_model *m) {
    return m ? m->error : "no model";
}

static const db_model_backend *find_backend(const char *name) {
    if (!name) name = "llama";
    if (strcmp(name, "exact") == 0) return &db_backend_exact;
#ifdef HAVE_LLAMA
    if (strcmp(name, "llama") == 0) return &db_backend_llama;
#endif
    return NULL;
}

int db_model_open(const db_model_params *params, db_model **out, char *err, size_t errlen) {
    *out = NULL;
    db_model_params p = params ? *params : db_model_default_params();
    const db_model_backend *be = find_backend(p.backend);
    if (!be) {
#ifdef HAVE_LLAMA
        return db_errf(err, errlen, "unknown model backend '%s' (expected llama or exact)", p.backend);
#else
        return db_errf(err, errlen, "model backend '%s' unavailable (built without llama.cpp)", p.backend);
#endif
    }
    if (p.n_seq_max < 1) p.n_seq_max = 1;
    if (p.n_batch < 1) p.n_batch = 512;
    if (p.n_ctx < 1) p.n_ctx = 4096;
    db_model *m = calloc(1, sizeof *m);
    if (!m) return db_errf(err, errlen, "out of memory");
    m->backend = be;
    if (be->open(m, &p, err, errlen) != 0) {
        free(m);
        return -1;
    }
    *out = m;
    return 0;
}

/* ---- KV ledger ---- */
typedef struct kv_ledger {
    int n_pos, n_seq;
    bool out_of_range;     /* a cell outside [0, n_pos) x [0, n_seq) was touched */
    unsigned char *count;  /* cells per (seq, pos), saturating at 255 */
    db_token *tok;         /* the token decoded into the (last) cell */
} kv_ledger;

static void ledger_free(db_model *m) {
    kv_ledger *l = m->kv_ledger;
    if (!l) return;
    free(l->count);
    free(l->tok);
    free(l);
    m->kv_ledger = NULL;
}

int db_model_kv_ledger_enable(db_model *m, int n_pos, int n_seq) {
    ledger_free(m);
    kv_ledger *l = calloc(1, sizeof *l);
    size_t n = (size_t)(n_pos > 0 ? n_pos : 1) * (size_t)(n_seq > 0 ? n_seq : 1);
    if (l) {
        l->count = calloc(n, 1);
        l->tok = malloc(sizeof *l->tok * n);
    }
    if (!l || !l->count || !l->tok) {
        if (l) { free(l->count); free(l->tok); free(l); }
        return db_model_fail(m, "KV ledger: out of memory");
    }
    l->n_pos = n_pos;
    l->n_seq = n_seq;
    m->kv_ledger = l;
    return 0;
}

/* clear sequences [s0, s1) x positions [p0, p1) */
static void ledger_clear(kv_ledger *l, int32_t s0, int32_t s1, int32_t p0, int32_t p1) {
    if (p0 < 0) p0 = 0;
    if (p1 < 0 || p1 > l->n_pos) p1 = l->n_pos;
    if (s1 > l->n_seq) s1 = l->n_seq;
    for (int32_t s = s0 < 0 ? 0 : s0; s < s1; s++)
        for (int32_t p = p0; p < p1; p++) l->count[(size_t)s * (size_t)l->n_pos + (size_t)p] = 0;
}

static void ledger_decode(kv_ledger *l, const db_batch *b) {
    for (int i = 0; i < b->n_tokens; i++)
        for (int k = 0; k < b->n_seq_id[i]; k++) {
            int32_t s = b->seq_id[i][k], p = b->pos[i];
            if (s < 0 || s >= l->n_seq || p < 0 || p >= l->n_pos) { l->out_of_range = true; continue; }
            size_t c = (size_t)s * (size_t)l->n_pos + (size_t)p;
            if (l->count[c] < 255) l->count[c]++;
            l->tok[c] = b->token[i];
        }
}

static void ledger_copy(kv_ledger *l, int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    if (src == dst) return;
    if (src < 0 || src >= l->n_seq || dst < 0 || dst >= l->n_seq) { l->out_of_range = true; return; }
    if (p0 < 0) p0 = 0;
    if (p1 < 0 || p1 > l->n_pos) p1 = l->n_pos;
    for (int32_t p = p0; p < p1; p++) {
        size_t cs = (size_t)src * (size_t)l->n_pos + (size_t)p, cd = (size_t)dst * (size_t)l->n_pos + (size_t)p;
        if (!l->count[cs]) continue;
        /* the source's cells now also belong to dst, beside any dst had */
        unsigned sum = (unsigned)l->count[cd] + l->count[cs];
        l->count[cd] = (unsigned char)(sum > 255 ? 255 : sum);
        l->tok[cd] = l->tok[cs];
    }
}

int db_model_kv_ledger_check(db_model *m, int32_t seq, const db_token *history, int n, char *err, size_t errlen) {
    const kv_ledger *l = m->kv_ledger;
    if (!l) return db_errf(err, errlen, "KV ledger: not enabled");
    if (l->out_of_range) return db_errf(err, errlen, "KV ledger: a cell outside %d positions x %d sequences was used", l->n_pos, l->n_seq);
    if (seq < 0 || seq >= l->n_seq || n < 0 || n > l->n_pos)
        return db_errf(err, errlen, "KV ledger: sequence %d / %d positions outside its range", (int)seq, n);
    for (int p = 0; p < l->n_pos; p++) {
        size_t c = (size_t)seq * (size_t)l->n_pos + (size_t)p;
        if (p < n) {
            if (l->count[c] == 0)
                return db_errf(err, errlen, "KV sequence %d position %d: no cell (history has token %d)", (int)seq, p, history[p]);
            if (l->count[c] > 1)
                return db_errf(err, errlen, "KV sequence %d position %d: %d cells (a stale one not removed)", (int)seq, p, l->count[c]);
            if (l->tok[c] != history[p])
                return db_errf(err, errlen, "KV sequence %d position %d: cell holds token %d, history has %d", (int)seq, p,
                               l->tok[c], history[p]);
        } else if (l->count[c]) {
            return db_errf(err, errlen, "KV sequence %d position %d: %d stale cell(s) past the history's %d positions (token %d)",
                           (int)seq, p, l->count[c], n, l->tok[c]);
        }
    }
    int32_t pm = m->backend->seq_pos_max(m, seq);
    if (pm != n - 1)
        return db_errf(err, errlen, "KV sequence %d: the backend's largest position is %d, the ledger's %d", (int)seq, (int)pm, n - 1);
    return 0;
}

void db_model_close(db_model *m) {
    if (!m) return;
    ledger_free(m);
    for (int i = m->n_ext - 1; i >= 0; i--)
        if (m->ext[i].free_fn) m->ext[i].free_fn(m->ext[i].data);
    m->backend->close(m);
    free(m);
}

int db_model_ext_set(db_model *m, const void *key, void *data, void (*free_fn)(void *)) {
    for (int i = 0; i < m->n_ext; i++)
        if (m->ext[i].key == key) {
            m->ext[i].data = data;
            m->ext[i].free_fn = free_fn;
            return 0;
        }
    if (m->n_ext == DB_MODEL_EXT_SLOTS) return -1;
    m->ext[m->n_ext].key = key;
    m->ext[m->n_ext].data = data;
    m->ext[m->n_ext].free_fn = free_fn;
    m->n_ext++;
    return 0;
}

void *db_model_ext_get(const db_model *m, const void *key) {
    for (int i = 0; i < m->n_ext; i++)
        if (m->ext[i].key == key) return m->ext[i].data;
    return NULL;
}

const char *db_model_backend_name(const db_model *m) { return m->backend->name; }

const void *db_model_llama_vocab(const db_model *m) {
    return m->backend->llama_vocab ? m->backend->llama_vocab(m) : NULL;
}

void db_model_get_info(const db_model *m, db_model_info *info) {
    memset(info, 0, sizeof *info);
    info->backend = m->backend->name;
    m->backend->get_info(m, info);
    info->n_vocab = m->n_vocab;
}

int db_model_n_vocab(const db_model *m) { return m->n_vocab; }
db_token db_model_bos(const db_model *m) { return m->backend->special(m, 0); }
db_token db_model_eos(const db_model *m) { return m->backend->special(m, 1); }
db_token db_model_mask(const db_model *m) { return m->backend->special(m, 2); }
bool db_model_is_eog(const db_model *m, db_token t) { return m->backend->is_eog(m, t); }
bool db_model_add_bos(const db_model *m) { return m->backend->add_bos(m); }

int db_model_tokenize(const db_model *m, const char *text, size_t len, bool add_special,
                      bool parse_special, db_token *out, int cap) {
    return m->backend->tokenize(m, text, len, add_special, parse_special, out, cap);
}

int db_model_token_piece(const db_model *m, db_token t, char *buf, int cap) {
    if (t < 0 || t >= m->n_vocab) return 0;
    return m->backend->token_piece(m, t, buf, cap);
}

int db_model_detokenize(const db_model *m, const db_token *toks, int n, char *buf, int cap) {
    int total = 0;
    char piece[256];
    for (int i = 0; i < n; i++) {
        int k = db_model_token_piece(m, toks[i], piece, (int)sizeof piece);
        char *tmp = NULL;
        const char *src = piece;
        if (k < 0) {
            tmp = malloc((size_t)-k);
            if (!tmp) return 0;
            k = db_model_token_piece(m, toks[i], tmp, -k);
            src = tmp;
        }
        if (buf && total + k <= cap) memcpy(buf + total, src, (size_t)k);
        total += k;
        free(tmp);
    }
    if (total > cap) return -total;
    return total;
}

/* ---- batches ---- */
int db_batch_init(db_batch *b, int capacity, int n_seq_max) {
    memset(b, 0, sizeof *b);
    if (capacity < 1) capacity = 1;
    if (n_seq_max < 1) n_seq_max = 1;
    b->capacity = capacity;
    b->n_seq_max = n_seq_max;
    b->token = calloc((size_t)capacity, sizeof *b->token);
    b->pos = calloc((size_t)capacity, sizeof *b->pos);
    b->n_seq_id = calloc((size_t)capacity, sizeof *b->n_seq_id);
    b->seq_id = calloc((size_t)capacity, sizeof *b->seq_id);
    b->logits = calloc((size_t)capacity, sizeof *b->logits);
    int32_t *seq_store = calloc((size_t)capacity * (size_t)n_seq_max, sizeof(int32_t));
    if (!b->token || !b->pos || !b->n_seq_id || !b->seq_id || !b->logits || !seq_store) {
        free(seq_store);
        db_batch_free(b);
        return -1;
    }
    for (int i = 0; i < capacity; i++) b->seq_id[i] = seq_store + (size_t)i * (size_t)n_seq_max;
    return 0;
}

void db_batch_free(db_batch *b) {
    if (b->seq_id) free(b->seq_id[0]);
    free(b->token);
    free(b->pos);
    free(b->n_seq_id);
    free(b->seq_id);
    free(b->logits);
    memset(b, 0, sizeof *b);
}

void db_batch_clear(db_batch *b) { b->n_tokens = 0; }

int db_batch_add(db_batch *b, db_token t, int32_t pos, const int32_t *seq_ids, int n_seq, bool logits) {
    if (b->n_tokens >= b->capacity || n_seq < 1 || n_seq > b->n_seq_max) return -1;
    int i = b->n_tokens++;
    b->token[i] = t;
    b->pos[i] = pos;
    b->n_seq_id[i] = n_seq;
    memcpy(b->seq_id[i], seq_ids, sizeof(int32_t) * (size_t)n_seq);
    b->logits[i] = logits ? 1 : 0;
    return i;
}

int db_batch_add1(db_batch *b, db_token t, int32_t pos, int32_t seq, bool logits) {
    return db_batch_add(b, t, pos, &seq, 1, logits);
}

int db_model_decode(db_model *m, const db_batch *b) {
    if (b->n_tokens < 1) return db_model_fail(m, "empty batch");
    for (int i = 0; i < b->n_tokens; i++)
        if (b->token[i] < 0 || b->token[i] >= m->n_vocab)
            return db_model_fail(m, "batch entry %d: token %d outside vocabulary [0, %d)", i, b->token[i], m->n_vocab);
    int rc = m->backend->decode(m, b);
    if (rc == 0 && m->kv_ledger) ledger_decode(m->kv_ledger, b);
    return rc;
}

const float *db_model_logits(db_model *m, int i) { return m->backend->logits(m, i); }
int db_model_seq_rm(db_model *m, int32_t seq, int32_t p0, int32_t p1) {
    int rc = m->backend->seq_rm(m, seq, p0, p1);
    if (rc == 0 && m->kv_ledger) ledger_clear(m->kv_ledger, seq < 0 ? 0 : seq, seq < 0 ? INT32_MAX : seq + 1, p0, p1);
    return rc;
}
int db_model_seq_cp(db_model *m, int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    int rc = m->backend->seq_cp(m, src, dst, p0, p1);
    if (rc == 0 && m->kv_ledger) ledger_copy(m->kv_ledger, src, dst, p0, p1);
    return rc;
}
int db_model_seq_keep(db_model *m, int32_t seq) {
    int rc = m->backend->seq_keep(m, seq);
    if (rc == 0 && m->kv_ledger) {
        kv_ledger *l = m->kv_ledger;
        ledger_clear(l, 0, seq, -1, -1);
        ledger_clear(l, seq + 1, INT32_MAX, -1, -1);
    }
    return rc;
}
int32_t db_model_seq_pos_max(db_model *m, int32_t seq) { return m->backend->seq_pos_max(m, seq); }
void db_model_reset(db_model *m) {
    m->backend->reset(m);
    if (m->kv_ledger) {
        kv_ledger *l = m->kv_ledger;
        memset(l->count, 0, (size_t)l->n_pos * (size_t)l->n_seq);
        l->out_of_range = false;
    }
}
int db_model_set_causal(db_model *m, bool causal) { return m->backend->set_causal(m, causal); }
void db_model_set_threads(db_model *m, int n_threads, int n_threads_batch) {
    if (m->backend->set_threads) m->backend->set_threads(m, n_threads, n_threads_batch);
}

int db_model_chat_format(db_model *m, const char *const *roles, const char *const *contents, int n,
                         bool add_assistant, char *buf, int cap) {
    if (!m->backend->chat_format) {
        db_model_fail(m, "the %s backend has no chat template", m->backend->name);
        return INT32_MIN;
    }
    return m->backend->chat_format(m, roles, contents, n, add_assistant, buf, cap);
}
