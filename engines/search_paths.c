/* search_paths.c — the path KV cache and log-probability helpers of the
 * search engines (see search_paths.h). */
#include "search_paths.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

void db_pathkv_free(db_pathkv *kv) {
    if (kv->slot_tok)
        for (int s = 0; s < kv->n_slots; s++) free(kv->slot_tok[s]);
    free(kv->slot_tok);
    free(kv->slot_len);
    free(kv->slot_used);
    free(kv->root_logits);
    free(kv->scratch);
    db_batch_free(&kv->batch);
    memset(kv, 0, sizeof *kv);
}

int db_pathkv_init(db_pathkv *kv, db_model *m, db_model_role role, db_event_log *events,
                   const db_token *prompt, int n_prompt, int n_slots, int max_len, int max_rows,
                   char *err, size_t errlen) {
    memset(kv, 0, sizeof *kv);
    if (n_prompt < 1) return db_errf(err, errlen, "empty prompt");
    if (n_slots < 1) n_slots = 1;
    if (max_len < 1) max_len = 1;
    kv->m = m;
    kv->role = role;
    kv->events = events;
    kv->n_slots = n_slots;
    kv->n_prompt = n_prompt;
    kv->max_len = max_len;
    kv->n_vocab = db_model_n_vocab(m);
    int cap = max_rows > n_prompt ? max_rows : n_prompt;
    kv->slot_tok = calloc((size_t)n_slots, sizeof *kv->slot_tok);
    kv->slot_len = calloc((size_t)n_slots, sizeof *kv->slot_len);
    kv->slot_used = calloc((size_t)n_slots, sizeof *kv->slot_used);
    kv->root_logits = malloc(sizeof(float) * (size_t)kv->n_vocab);
    kv->scratch = malloc(sizeof(int) * 4 * (size_t)n_slots);
    int32_t *all = malloc(sizeof(int32_t) * (size_t)n_slots);
    if (!kv->slot_tok || !kv->slot_len || !kv->slot_used || !kv->root_logits || !kv->scratch || !all ||
        db_batch_init(&kv->batch, cap, n_slots) != 0) {
        free(all);
        db_pathkv_free(kv);
        return db_errf(err, errlen, "out of memory (path KV of %d slots)", n_slots);
    }
    for (int s = 0; s < n_slots; s++) {
        kv->slot_tok[s] = malloc(sizeof(db_token) * (size_t)max_len);
        if (!kv->slot_tok[s]) {
            free(all);
            db_pathkv_free(kv);
            return db_errf(err, errlen, "out of memory");
        }
        all[s] = s;
    }
    for (int i = 0; i < n_prompt; i++) db_batch_add(&kv->batch, prompt[i], i, all, n_slots, i == n_prompt - 1);
    free(all);
    if (db_forward(m, &kv->batch, events, role, 0) != 0) {
        db_errf(err, errlen, "prompt forward: %s", db_model_last_error(m));
        db_pathkv_free(kv);
        return -1;
    }
    memcpy(kv->root_logits, db_model_logits(m, n_prompt - 1), sizeof(float) * (size_t)kv->n_vocab);
    kv->n_calls = 1;
    kv->n_tokens = n_prompt;
    return 0;
}

static int common_prefix(const db_token *a, int na, const db_token *b, int nb) {
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

int db_pathkv_eval(db_pathkv *kv, db_path_eval *p, int n, int step, char *err, size_t errlen) {
    if (n < 1) return 0;
    if (n > kv->n_slots) return db_errf(err, errlen, "internal: %d paths for %d KV slots", n, kv->n_slots);
    int *src = kv->scratch, *lcp = src + kv->n_slots, *claimed = lcp + kv->n_slots, *dst = claimed + kv->n_slots;
    const int P = kv->n_prompt;
    for (int s = 0; s < kv->n_slots; s++) claimed[s] = -1;
    /* 1. the best source slot of each path (longest shared prefix, then most recent) */
    for (int i = 0; i < n; i++) {
        if (p[i].len < 1 || p[i].len > kv->max_len || p[i].need_from < 0 || p[i].need_from >= p[i].len)
            return db_errf(err, errlen, "internal: path of length %d (need_from %d, max %d)", p[i].len,
                           p[i].need_from, kv->max_len);
        int best = 0, best_l = -1;
        for (int s = 0; s < kv->n_slots; s++) {
            int l = common_prefix(kv->slot_tok[s], kv->slot_len[s], p[i].tok, p[i].len);
            if (l > p[i].need_from) l = p[i].need_from;
            if (l > best_l || (l == best_l && kv->slot_used[s] > kv->slot_used[best])) { best = s; best_l = l; }
        }
        src[i] = best;
        lcp[i] = best_l;
        dst[i] = -1;
    }
    /* 2. the first path of each source keeps it in place */
    for (int i = 0; i < n; i++)
        if (claimed[src[i]] < 0) { claimed[src[i]] = i; dst[i] = src[i]; }
    /* 3. the others get free slots (least recently used) */
    for (int i = 0; i < n; i++) {
        if (dst[i] >= 0) continue;
        int best = -1;
        for (int s = 0; s < kv->n_slots; s++)
            if (claimed[s] < 0 && (best < 0 || kv->slot_used[s] < kv->slot_used[best])) best = s;
        claimed[best] = i;
        dst[i] = best;
        /* copy now: sources are only truncated in step 4 */
        if (db_model_seq_rm(kv->m, best, P, -1) != 0 ||
            (lcp[i] > 0 && db_model_seq_cp(kv->m, src[i], best, P, P + lcp[i]) != 0))
            return db_errf(err, errlen, "KV copy %d -> %d: %s", src[i], best, db_model_last_error(kv->m));
    }
    /* 4. in-place paths drop what they do not share */
    for (int i = 0; i < n; i++)
        if (dst[i] == src[i] && db_model_seq_rm(kv->m, dst[i], P + lcp[i], -1) != 0)
            return db_errf(err, errlen, "KV trim of slot %d: %s", dst[i], db_model_last_error(kv->m));
    /* 5. one batch of the missing tokens */
    db_batch_clear(&kv->batch);
    kv->tick++;
    for (int i = 0; i < n; i++) {
        int s = dst[i];
        memcpy(kv->slot_tok[s], p[i].tok, sizeof(db_token) * (size_t)p[i].len);
        kv->slot_len[s] = p[i].len;
        kv->slot_used[s] = kv->tick;
        p[i].first = lcp[i];
        p[i].row0 = kv->batch.n_tokens;
        for (int j = lcp[i]; j < p[i].len; j++)
            if (db_batch_add1(&kv->batch, p[i].tok[j], P + j, s, j >= p[i].need_from) < 0)
                return db_errf(err, errlen, "internal: path batch full (%d rows)", kv->batch.capacity);
    }
    if (db_forward(kv->m, &kv->batch, kv->events, kv->role, step) != 0) {
        /* the cache no longer matches the slot bookkeeping: forget it */
        for (int s = 0; s < kv->n_slots; s++) {
            db_model_seq_rm(kv->m, s, P, -1);
            kv->slot_len[s] = 0;
        }
        return db_errf(err, errlen, "forward of %d paths: %s", n, db_model_last_error(kv->m));
    }
    kv->n_calls++;
    kv->n_tokens += kv->batch.n_tokens;
    return 0;
}

const float *db_pathkv_logits(db_pathkv *kv, const db_path_eval *p, int j) {
    if (j < 0) return kv->root_logits;
    return db_model_logits(kv->m, p->row0 + (j - p->first));
}

void db_log_softmax(const float *logits, int n, float *out) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double z = 0.0;
    for (int i = 0; i < n; i++)
        if (logits[i] > -1e29f) z += exp((double)logits[i] - mx);
    double lz = mx + log(z);
    for (int i = 0; i < n; i++) out[i] = logits[i] > -1e29f ? (float)((double)logits[i] - lz) : -INFINITY;
}

int db_top_k(const float *v, int n, int k, int *idx) {
    int m = 0;
    if (k <= 0) return 0;
    for (int i = 0; i < n; i++) {
        if (v[i] == -INFINITY) continue;
        if (m < k) m++;
        else if (!(v[i] > v[idx[m - 1]])) continue;
        int j = m - 1;
        while (j > 0 && v[i] > v[idx[j - 1]]) { idx[j] = idx[j - 1]; j--; }
        idx[j] = i;
    }
    return m;
}

double db_length_norm(double score, int len, double alpha) {
    if (alpha == 0.0 || len < 1) return score;
    return score / pow((double)len, alpha);
}

void db_hyp_list_free(db_hyp_list *l) {
    for (int i = 0; i < l->n; i++) free(l->h[i].tok);
    free(l->h);
    memset(l, 0, sizeof *l);
}

int db_hyp_list_add(db_hyp_list *l, const db_token *tok, int len, bool eog, double score, double norm) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        db_hyp *h = realloc(l->h, sizeof *h * (size_t)cap);
        if (!h) return -1;
        l->h = h;
        l->cap = cap;
    }
    db_hyp *h = &l->h[l->n];
    h->tok = malloc(sizeof(db_token) * (size_t)(len > 0 ? len : 1));
    if (!h->tok) return -1;
    if (len > 0) memcpy(h->tok, tok, sizeof(db_token) * (size_t)len);
    h->len = len;
    h->eog = eog;
    h->score = score;
    h->norm = norm;
    h->partial = false;
    l->n++;
    return 0;
}

int db_search_emit(const db_gen_request *req, db_gen_output *out, const db_hyp *h, char *err, size_t errlen) {
    int n = h->eog ? h->len - 1 : h->len;
    for (int i = 0; i < n; i++) {
        if (db_output_push(out, h->tok[i]) != 0) return db_errf(err, errlen, "out of memory");
        db_emit_commit(req->events, i, 1);
    }
    snprintf(out->stop_reason, sizeof out->stop_reason, "%s", h->eog ? "eog" : "length");
    if (!h->partial) {
        db_output_stat(out, "search_score", h->score);
        db_output_stat(out, "search_norm_score", h->norm);
    }
    db_output_stat(out, "search_complete", h->partial ? 0.0 : 1.0);
    return 0;
}
