/* specdec.c — shared speculative-decoding machinery (see specdec.h). */
#include "specdec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

static int seq_push(db_spec *s, db_token t) {
    if (s->n_seq == s->cap_seq) {
        int cap = s->cap_seq * 2;
        db_token *n = realloc(s->seq, sizeof *n * (size_t)cap);
        if (!n) return -1;
        s->seq = n;
        s->cap_seq = cap;
    }
    s->seq[s->n_seq++] = t;
    return 0;
}

int db_spec_remaining(const db_spec *s) {
    return s->req->max_new_tokens - s->out->n_tokens;
}

db_token db_spec_last(const db_spec *s) {
    return s->seq[s->n_seq - 1];
}

/* Append committed tokens, honouring EOG and the length limit; returns the
 * number appended and sets s->done when generation is over. */
static int commit(db_spec *s, const db_token *t, int n, char *err, size_t errlen) {
    int added = 0;
    for (int i = 0; i < n && !s->done; i++) {
        if (s->req->stop_at_eog && db_model_is_eog(s->req->target, t[i])) {
            snprintf(s->out->stop_reason, sizeof s->out->stop_reason, "eog");
            s->done = true;
            break;
        }
        if (db_output_push(s->out, t[i]) != 0 || seq_push(s, t[i]) != 0)
            return db_errf(err, errlen, "out of memory");
        added++;
        if (s->out->n_tokens >= s->req->max_new_tokens) {
            snprintf(s->out->stop_reason, sizeof s->out->stop_reason, "length");
            s->done = true;
        }
    }
    if (added > 0) db_emit_commit(s->req->events, s->step, added);
    return added;
}

int db_spec_begin(db_spec *s, const db_gen_request *req, db_gen_output *out, int k_max,
                  char *err, size_t errlen) {
    return db_spec_begin_rows(s, req, out, k_max, false, err, errlen);
}

int db_spec_begin_rows(db_spec *s, const db_gen_request *req, db_gen_output *out, int k_max,
                       bool all_rows, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->req = req;
    s->out = out;
    s->k_max = k_max;
    s->n_vocab = db_model_n_vocab(req->target);
    s->sampling = db_sampling_from_params(req->params);
    s->rng = db_rng_make(req->seed, 0);
    snprintf(out->stop_reason, sizeof out->stop_reason, "length");
    if (req->n_prompt < 1) return db_errf(err, errlen, "empty prompt");
    s->cap_seq = req->n_prompt + req->max_new_tokens + k_max + 8;
    s->seq = malloc(sizeof *s->seq * (size_t)s->cap_seq);
    s->p_rows = malloc(sizeof(float) * (size_t)(k_max + 1) * (size_t)s->n_vocab);
    s->resid = malloc(sizeof(float) * (size_t)s->n_vocab);
    int cap = req->n_prompt > k_max + 2 ? req->n_prompt : k_max + 2;
    if (!s->seq || !s->p_rows || !s->resid || db_sampler_buf_init(&s->buf, s->n_vocab) != 0 ||
        db_batch_init(&s->batch, cap, 1) != 0) {
        db_spec_end(s);
        return db_errf(err, errlen, "out of memory");
    }
    memcpy(s->seq, req->prompt, sizeof *s->seq * (size_t)req->n_prompt);
    s->n_seq = req->n_prompt;
    /* S11 drafter memory: a draft model's weights (its KV cache is not
     * counted); model-free drafters record their own tables */
    if (req->draft) {
        db_model_info di;
        db_model_get_info(req->draft, &di);
        db_output_stat(out, "drafter_bytes", (double)di.size_bytes);
    } else {
        db_output_stat(out, "drafter_bytes", 0.0);
    }

    /* prefill: the whole prompt in one target forward, then the first token */
    for (int i = 0; i < req->n_prompt; i++) db_batch_add1(&s->batch, req->prompt[i], i, 0, all_rows || i == req->n_prompt - 1);
    if (db_forward(req->target, &s->batch, req->events, DB_ROLE_TARGET, 0) != 0) {
        db_errf(err, errlen, "target prefill: %s", db_model_last_error(req->target));
        db_spec_end(s);
        return -1;
    }
    s->target_past = req->n_prompt;
    int64_t t0 = db_now_ns();
    db_token first = db_sample_token(&s->sampling, db_model_logits(req->target, req->n_prompt - 1), &s->buf, &s->rng);
    db_emit_sample(req->events, 0, t0, db_now_ns());
    if (commit(s, &first, 1, err, errlen) < 0) {
        db_spec_end(s);
        return -1;
    }
    if (req->max_new_tokens < 1) s->done = true;
    s->step = 1;
    return 0;
}

void db_spec_end(db_spec *s) {
    free(s->seq);
    free(s->p_rows);
    free(s->resid);
    db_sampler_buf_free(&s->buf);
    db_batch_free(&s->batch);
    s->seq = NULL;
    s->p_rows = NULL;
    s->resid = NULL;
}

int db_spec_verify(db_spec *s, const db_token *draft, int k, const float *q_rows,
                   int *n_accepted, char *err, size_t errlen) {
    const db_gen_request *req = s->req;
    *n_accepted = 0;
    if (s->done) return 1;
    if (req->cancel && *req->cancel) {
        snprintf(s->out->stop_reason, sizeof s->out->stop_reason, "cancel");
        s->done = true;
        return 1;
    }
    int remaining = db_spec_remaining(s);
    if (k > remaining - 1) k = remaining - 1;
    if (k > s->k_max) k = s->k_max;
    if (k < 0) k = 0;

    /* one target forward: the pending committed token(s), then the draft */
    const int base = s->n_seq;                 /* position of the first draft token */
    db_batch_clear(&s->batch);
    for (int i = s->target_past; i < base; i++) db_batch_add1(&s->batch, s->seq[i], i, 0, i == base - 1);
    const int row0 = s->batch.n_tokens - 1;    /* logits for position `base` */
    for (int i = 0; i < k; i++) db_batch_add1(&s->batch, draft[i], base + i, 0, true);
    if (db_forward(req->target, &s->batch, req->events, DB_ROLE_TARGET, s->step) != 0)
        return db_errf(err, errlen, "target forward at position %d: %s", base, db_model_last_error(req->target));

    int64_t t0 = db_now_ns();
    int a = 0;
    db_token extra = DB_TOKEN_NULL;
    const bool greedy = s->sampling.greedy || s->sampling.temperature <= 0.0f;
    for (int i = 0; i <= k; i++) {
        const float *logits = db_model_logits(req->target, row0 + i);
        if (greedy) {
            db_token best = db_argmax(logits, s->n_vocab);
            if (i < k && draft[i] == best) { a++; continue; }
            extra = best;          /* correction, or the bonus after k accepted */
            break;
        }
        float *p = s->p_rows + (size_t)i * (size_t)s->n_vocab;
        db_sampling_probs(&s->sampling, logits, &s->buf);
        memcpy(p, s->buf.prob, sizeof(float) * (size_t)s->n_vocab);
        if (i == k) {              /* all accepted: bonus from p_{k+1} */
            extra = db_draw(p, s->n_vocab, db_rng_uniform(&s->rng));
            break;
        }
        const db_token d = draft[i];
        const float *q = q_rows ? q_rows + (size_t)i * (size_t)s->n_vocab : NULL;
        const double qd = q ? q[d] : 1.0;
        const double u = db_rng_uniform(&s->rng);
        if (qd > 0.0 && u * qd < p[d]) { a++; continue; }
        /* rejected: draw from normalize(max(0, p - q)) */
        double mass = 0.0;
        for (int v = 0; v < s->n_vocab; v++) {
            double r = (double)p[v] - (q ? (double)q[v] : (v == d ? 1.0 : 0.0));
            s->resid[v] = r > 0.0 ? (float)r : 0.0f;
            mass += s->resid[v];
        }
        if (mass > 0.0) {
            for (int v = 0; v < s->n_vocab; v++) s->resid[v] = (float)(s->resid[v] / mass);
            extra = db_draw(s->resid, s->n_vocab, db_rng_uniform(&s->rng));
        } else {
            extra = db_draw(p, s->n_vocab, db_rng_uniform(&s->rng));
        }
        break;
    }
    db_emit_sample(req->events, s->step, t0, db_now_ns());

    /* keep the pending token(s) and the accepted draft in the target's KV */
    if (db_model_seq_rm(req->target, 0, base + a, -1) != 0)
        return db_errf(err, errlen, "target KV rollback: %s", db_model_last_error(req->target));
    *n_accepted = a;
    return db_spec_accept(s, draft, a, extra, k, err, errlen);
}

int db_spec_eliminate(const float *prob, int V, const db_token *cand, int n, db_rng *rng, float *resid,
                      db_token *extra) {
    memcpy(resid, prob, sizeof(float) * (size_t)V);
    double mass = 1.0;
    for (int c = 0; c < n; c++) {
        const db_token t = cand[c];
        if (db_rng_uniform(rng) * mass < resid[t]) return c;
        mass -= resid[t];
        resid[t] = 0.0f;
    }
    double tot = 0.0;
    for (int v = 0; v < V; v++) tot += resid[v];
    if (tot <= 0.0) {
        memcpy(resid, prob, sizeof(float) * (size_t)V);
        tot = 1.0;
    }
    for (int v = 0; v < V; v++) resid[v] = (float)(resid[v] / tot);
    *extra = db_draw(resid, V, db_rng_uniform(rng));
    return -1;
}

int db_tree_keep_chain(db_model *m, int n_seq, int base, int kept, int winner_seq, bool had_nodes, char *err,
                       size_t errlen) {
    if (kept == 0) {
        if (had_nodes && db_model_seq_rm(m, -1, base, -1) != 0)
            return db_errf(err, errlen, "target KV rollback: %s", db_model_last_error(m));
        return 0;
    }
    for (int q = 0; q < n_seq; q++) {
        if (q == winner_seq) continue;
        if (db_model_seq_rm(m, q, base, -1) != 0 || db_model_seq_cp(m, winner_seq, q, base, base + kept) != 0)
            return db_errf(err, errlen, "target KV keep path: %s", db_model_last_error(m));
    }
    if (db_model_seq_rm(m, winner_seq, base + kept, -1) != 0)
        return db_errf(err, errlen, "target KV rollback: %s", db_model_last_error(m));
    return 0;
}

int db_spec_accept(db_spec *s, const db_token *accepted, int a, db_token extra, int drafted,
                   char *err, size_t errlen) {
    if (drafted > 0)
        db_emit_verify(s->req->events, s->step, drafted, a, a >= 32 ? 0xFFFFFFFFu : (1u << a) - 1u);
    s->target_past = s->n_seq + a;
    db_token committed[72];
    int n = 0;
    for (int i = 0; i < a && n < 70; i++) committed[n++] = accepted[i];
    committed[n++] = extra;
    if (commit(s, committed, n, err, errlen) < 0) return -1;
    s->step++;
    return s->done ? 1 : 0;
}

/* ---- helper-model KV mirrors ---- */
int db_kv_mirror_init(db_kv_mirror *k, db_model *m, int capacity, int n_shared, db_model_role role) {
    memset(k, 0, sizeof *k);
    k->m = m;
    k->role = role;
    k->cap = capacity;
    k->n_shared = n_shared < 1 ? 1 : n_shared;
    k->tok = malloc(sizeof *k->tok * (size_t)capacity);
    k->shared = malloc(sizeof *k->shared * (size_t)k->n_shared);
    if (!k->tok || !k->shared || db_batch_init(&k->batch, capacity, k->n_shared) != 0) {
        db_kv_mirror_free(k);
        return -1;
    }
    for (int q = 0; q < k->n_shared; q++) k->shared[q] = q;
    return 0;
}

void db_kv_mirror_free(db_kv_mirror *k) {
    free(k->tok);
    free(k->shared);
    db_batch_free(&k->batch);
    k->tok = NULL;
    k->shared = NULL;
}

int db_kv_sync(db_spec *s, db_kv_mirror *k, const float **logits, char *err, size_t errlen) {
    int valid = 0;
    while (valid < k->n && valid < s->n_seq && k->tok[valid] == s->seq[valid]) valid++;
    if (valid == s->n_seq) valid--;            /* re-evaluate the last token to get its logits */
    if (valid < k->n) {
        if (db_model_seq_rm(k->m, k->n_shared > 1 ? -1 : 0, valid, -1) != 0)
            return db_errf(err, errlen, "draft KV rollback: %s", db_model_last_error(k->m));
        k->n = valid;
    }
    db_batch_clear(&k->batch);
    for (int i = valid; i < s->n_seq; i++) {
        if (i >= k->cap) return db_errf(err, errlen, "draft context full (%d)", k->cap);
        db_batch_add(&k->batch, s->seq[i], i, k->shared, k->n_shared, i == s->n_seq - 1);
        k->tok[i] = s->seq[i];
    }
    if (db_forward(k->m, &k->batch, s->req->events, k->role, s->step) != 0)
        return db_errf(err, errlen, "draft forward: %s", db_model_last_error(k->m));
    k->n = s->n_seq;
    *logits = db_model_logits(k->m, k->batch.n_tokens - 1);
    return 0;
}

int db_kv_push(db_spec *s, db_kv_mirror *k, db_token t, const float **logits, char *err, size_t errlen) {
    if (k->n >= k->cap) return db_errf(err, errlen, "draft context full (%d)", k->cap);
    db_batch_clear(&k->batch);
    db_batch_add1(&k->batch, t, k->n, 0, true);
    if (db_forward(k->m, &k->batch, s->req->events, k->role, s->step) != 0)
        return db_errf(err, errlen, "draft forward: %s", db_model_last_error(k->m));
    k->tok[k->n++] = t;
    *logits = db_model_logits(k->m, 0);
    return 0;
}
