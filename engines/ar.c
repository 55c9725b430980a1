/* ar.c — the autoregressive baseline: one target forward per new token,
 * greedy or sampled (temperature, top-k, top-p) with the counter-based RNG,
 * optionally forbidding tokens that would repeat an n-gram of the prompt and
 * output so far (no_repeat_ngram, as fairseq's --no-repeat-ngram-size and
 * Hugging Face's no_repeat_ngram_size).
 *
 * It evaluates the prompt in one batch and then one token per forward, the
 * same schedule as llama.cpp's llama-simple, so greedy outputs can be
 * compared token for token.
 */
#include "engine.h"
#include "sampling_params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/sample.h"
#include "harness/util/util.h"

static const db_param_def ar_params[] = {
    DB_SAMPLING_PARAMS(DB_HELP_MODE_SAMPLE, DB_HELP_TOP_K_KEEP, DB_HELP_TOP_P_NUCLEUS),
    { "no_repeat_ngram", DB_PARAM_INT, "0", 0, 64, NULL,
      "forbid tokens completing an n-gram already in the prompt or output (n >= 2; 0 = off)" },
};

static int ar_validate(const db_params *p, char *err, size_t errlen) {
    if (db_sampling_params_check(p, " when mode=sample (use mode=greedy for argmax)", err, errlen) != 0) return -1;
    if (db_params_int(p, "no_repeat_ngram") == 1)
        return db_errf(err, errlen, "parameter 'no_repeat_ngram': must be 0 (off) or at least 2 (1 would forbid every token seen)");
    return 0;
}

/* Set to -inf in logits every token that would complete an n-gram (n =
 * ngram) already present in hist[0..n_hist): the tokens following each
 * earlier occurrence of the last n-1 tokens.  Returns how many tokens keep
 * a logit above -inf. */
static int ban_repeated_ngrams(const db_token *hist, int n_hist, int ngram, float *logits, int n_vocab) {
    if (n_hist >= ngram - 1) {
        const db_token *tail = hist + n_hist - (ngram - 1);
        for (int s = 0; s + ngram - 1 < n_hist; s++) {
            if (memcmp(hist + s, tail, (size_t)(ngram - 1) * sizeof *hist) != 0) continue;
            const db_token next = hist[s + ngram - 1];
            if (next >= 0 && next < n_vocab) logits[next] = -INFINITY;
        }
    }
    int allowed = 0;
    for (int i = 0; i < n_vocab; i++) allowed += logits[i] > -INFINITY;
    return allowed;
}

static int ar_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    db_model *m = req->target;
    const int n_vocab = db_model_n_vocab(m);
    db_sampling s = db_sampling_from_params(req->params);
    const int ngram = db_params_int(req->params, "no_repeat_ngram");
    db_rng rng = db_rng_make(req->seed, 0);
    db_sampler_buf sb;
    db_batch b;
    int rc = 0;
    /* with no_repeat_ngram: the prompt and output so far, and a copy of the
     * logits to ban tokens in */
    db_token *hist = NULL;
    float *masked = NULL;
    int n_hist = 0;

    if (req->n_prompt < 1) return db_errf(err, errlen, "empty prompt");
    if (ngram >= 2) {
        hist = malloc(((size_t)req->n_prompt + (size_t)req->max_new_tokens) * sizeof *hist);
        masked = malloc((size_t)n_vocab * sizeof *masked);
        if (!hist || !masked) {
            free(hist);
            free(masked);
            return db_errf(err, errlen, "out of memory");
        }
        memcpy(hist, req->prompt, (size_t)req->n_prompt * sizeof *hist);
        n_hist = req->n_prompt;
    }
    if (db_sampler_buf_init(&sb, n_vocab) != 0) {
        free(hist);
        free(masked);
        return db_errf(err, errlen, "out of memory");
    }
    if (db_batch_init(&b, req->n_prompt, 1) != 0) {
        db_sampler_buf_free(&sb);
        free(hist);
        free(masked);
        return db_errf(err, errlen, "out of memory");
    }
    for (int i = 0; i < req->n_prompt; i++)
        db_batch_add1(&b, req->prompt[i], i, 0, i == req->n_prompt - 1);

    int32_t pos = req->n_prompt;
    snprintf(out->stop_reason, sizeof out->stop_reason, "length");
    for (int step = 0; out->n_tokens < req->max_new_tokens; step++) {
        if (req->cancel && *req->cancel) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
            rc = 1;
            break;
        }
        if (db_forward(m, &b, req->events, DB_ROLE_TARGET, step) != 0) {
            rc = db_errf(err, errlen, "forward at position %d: %s", pos, db_model_last_error(m));
            snprintf(out->stop_reason, sizeof out->stop_reason, "error");
            break;
        }
        int64_t t0 = db_now_ns();
        const float *logits = db_model_logits(m, b.n_tokens - 1);
        if (masked) {
            memcpy(masked, logits, (size_t)n_vocab * sizeof *masked);
            if (ban_repeated_ngrams(hist, n_hist, ngram, masked, n_vocab) == 0) {
                db_emit_sample(req->events, step, t0, db_now_ns());
                snprintf(out->stop_reason, sizeof out->stop_reason, "dead_end");
                break;
            }
            logits = masked;
        }
        db_token t = db_sample_token(&s, logits, &sb, &rng);
        db_emit_sample(req->events, step, t0, db_now_ns());
        if (req->stop_at_eog && db_model_is_eog(m, t)) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "eog");
            break;
        }
        if (db_output_push(out, t) != 0) {
            rc = db_errf(err, errlen, "out of memory");
            break;
        }
        if (hist) hist[n_hist++] = t;
        db_emit_commit(req->events, step, 1);
        db_batch_clear(&b);
        db_batch_add1(&b, t, pos++, 0, true);
    }
    db_batch_free(&b);
    db_sampler_buf_free(&sb);
    free(hist);
    free(masked);
    return rc;
}

const db_engine db_engine_ar = {
    .name = "ar",
    .summary = "autoregressive baseline: one target forward per token (greedy or sampled)",
    .params = ar_params,
    .n_params = (int)(sizeof ar_params / sizeof ar_params[0]),
    .validate = ar_validate,
    .greedy_baseline = true,
    .generate = ar_generate,
};
