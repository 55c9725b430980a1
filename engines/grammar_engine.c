/* grammar_engine.c — grammar-constrained decoding (GBNF, llama.cpp's grammar
 * sampler through model.h's db_grammar): the `grammar` engine, and the
 * helpers the other constrained engines share (constrained.h).
 *
 * Two strategies give the same distribution without top-k/top-p:
 *   mask   every step, evaluate the grammar on the whole vocabulary, set
 *          disallowed logits to -inf, then sample (temperature, top-k,
 *          top-p apply to the masked logits);
 *   check  sample from the unconstrained distribution, check only the
 *          sampled token; when it is rejected, mask the vocabulary and
 *          resample (llama.cpp's common_sampler).  Sampling with
 *          temperature alone, P(t) = p(t) + (1 - Z) p(t) / Z = p(t) / Z on
 *          allowed tokens, the masked distribution; greedy picks the best
 *          allowed token either way.
 */
#include "constrained.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/constraint/json_gbnf.h"
#include "harness/util/util.h"

int db_constraint_gbnf(const db_gen_request *req, db_gen_output *out, char **gbnf, char *err, size_t errlen) {
    *gbnf = NULL;
    cJSON *c = req->constraint_json ? cJSON_Parse(req->constraint_json) : NULL;
    const cJSON *gram = c ? cJSON_GetObjectItemCaseSensitive(c, "grammar") : NULL;
    const cJSON *schema = c ? cJSON_GetObjectItemCaseSensitive(c, "json_schema") : NULL;
    int rc;
    if (cJSON_IsString(gram)) {
        *gbnf = db_strdup(gram->valuestring);
        rc = *gbnf ? 0 : db_errf(err, errlen, "out of memory");
    } else if (schema) {
        char why[256];
        int64_t t0 = db_now_ns();
        int r = db_json_gbnf(schema, gbnf, why, sizeof why);
        db_emit_compile(req->events, t0, db_now_ns());
        if (r == 1) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "unsupported");
            rc = 1;
        } else if (r < 0) {
            rc = db_errf(err, errlen, "constraint \"json_schema\": %s", why);
        } else {
            rc = 0;
        }
    } else {
        rc = db_errf(err, errlen, "unsupported constraint: the prompt's constraint has neither \"grammar\" nor \"json_schema\"");
    }
    cJSON_Delete(c);
    if (rc >= 0) db_output_stat(out, "constraint_supported", rc == 0);
    return rc;
}

int db_constrained_forward(const db_gen_request *req, db_gen_output *out, const db_batch *b, int step, int32_t pos,
                           char *err, size_t errlen) {
    if (req->cancel && *req->cancel) {
        snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
        return 1;
    }
    if (db_forward(req->target, b, req->events, DB_ROLE_TARGET, step) != 0) {
        snprintf(out->stop_reason, sizeof out->stop_reason, "error");
        return db_errf(err, errlen, "forward at position %d: %s", pos, db_model_last_error(req->target));
    }
    return 0;
}

int db_constrained_commit(const db_gen_request *req, db_gen_output *out, db_grammar *g, db_batch *b, int32_t *pos,
                          int step, db_token t, char *err, size_t errlen) {
    if (db_model_is_eog(req->target, t)) {   /* allowed only when the text is complete */
        snprintf(out->stop_reason, sizeof out->stop_reason, "eog");
        return 2;
    }
    int64_t a0 = db_now_ns();
    if (db_grammar_accept(g, t) != 0)
        return db_errf(err, errlen, "grammar: chosen token %d is not allowed (internal error)", t);
    db_emit_sample(req->events, step, a0, db_now_ns());
    if (db_output_push(out, t) != 0) return db_errf(err, errlen, "out of memory");
    db_emit_commit(req->events, step, 1);
    db_batch_clear(b);
    db_batch_add1(b, t, (*pos)++, 0, true);
    return 0;
}

const db_param_def db_grammar_params[DB_GRAMMAR_N_PARAMS] = {
    { "strategy", DB_PARAM_ENUM, "mask", 0, 0, "mask|check",
      "mask: full-vocabulary mask every step; check: sample, check that token, mask only on rejection" },
    DB_SAMPLING_PARAMS(DB_HELP_MODE_SAMPLE, DB_HELP_TOP_K_KEEP, DB_HELP_TOP_P_NUCLEUS),
};

int db_grammar_validate(const db_params *p, char *err, size_t errlen) {
    return db_sampling_params_check(p, " when mode=sample (use mode=greedy for argmax)", err, errlen);
}

int db_constrained_prefill(const db_gen_request *req, db_batch *b, char *err, size_t errlen) {
    if (req->n_prompt < 1) return db_errf(err, errlen, "empty prompt");
    if (db_batch_init(b, req->n_prompt, 1) != 0) return db_errf(err, errlen, "out of memory");
    for (int i = 0; i < req->n_prompt; i++) db_batch_add1(b, req->prompt[i], i, 0, i == req->n_prompt - 1);
    return 0;
}

/* Mask a copy of logits into masked and sample from it; DB_TOKEN_NULL when
 * the grammar allows nothing. */
static db_token masked_sample(db_grammar *g, const db_sampling *s, const float *logits, float *masked, int n_vocab,
                              db_sampler_buf *sb, db_rng *rng, const db_gen_request *req, int step) {
    memcpy(masked, logits, sizeof(float) * (size_t)n_vocab);
    int64_t t0 = db_now_ns();
    int n_ok = db_grammar_mask(g, masked);
    int64_t t1 = db_now_ns();
    db_emit_constraint(req->events, step, n_vocab, n_ok, t0, t1);
    if (n_ok == 0) return DB_TOKEN_NULL;
    db_token t = db_sample_token(s, masked, sb, rng);
    db_emit_sample(req->events, step, t1, db_now_ns());
    return t;
}

int db_grammar_generate(const db_gen_request *req, db_gen_output *out, const char *gbnf, char *err,
                        size_t errlen) {
    db_model *m = req->target;
    const int n_vocab = db_model_n_vocab(m);
    const db_sampling s = db_sampling_from_params(req->params);
    const bool check = db_params_int(req->params, "strategy") == 1;
    db_rng rng = db_rng_make(req->seed, 0);

    snprintf(out->stop_reason, sizeof out->stop_reason, "length");
    int64_t c0 = db_now_ns();
    char gerr[384];
    db_grammar *g = db_model_grammar_new(m, gbnf, gerr, sizeof gerr);
    if (!g) return db_errf(err, errlen, "%s", gerr);
    db_emit_compile(req->events, c0, db_now_ns());

    db_sampler_buf sb;
    db_batch b = { 0 };
    float *masked = malloc(sizeof(float) * (size_t)n_vocab);
    if (!masked || db_sampler_buf_init(&sb, n_vocab) != 0) {
        free(masked);
        db_grammar_free(g);
        return db_errf(err, errlen, "out of memory");
    }
    int rc = db_constrained_prefill(req, &b, err, errlen);
    int32_t pos = req->n_prompt;
    for (int step = 0; rc == 0 && out->n_tokens < req->max_new_tokens; step++) {
        if ((rc = db_constrained_forward(req, out, &b, step, pos, err, errlen)) != 0) break;
        const float *logits = db_model_logits(m, b.n_tokens - 1);
        db_token t;
        if (check) {
            int64_t t0 = db_now_ns();
            t = db_sample_token(&s, logits, &sb, &rng);
            int64_t t1 = db_now_ns();
            db_emit_sample(req->events, step, t0, t1);
            uint8_t ok = 0;
            db_grammar_allowed(g, &t, 1, &ok);
            db_emit_constraint(req->events, step, 1, ok, t1, db_now_ns());
            if (!ok) t = masked_sample(g, &s, logits, masked, n_vocab, &sb, &rng, req, step);
        } else {
            t = masked_sample(g, &s, logits, masked, n_vocab, &sb, &rng, req, step);
        }
        if (t == DB_TOKEN_NULL) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "dead_end");
            break;
        }
        int c = db_constrained_commit(req, out, g, &b, &pos, step, t, err, errlen);
        if (c != 0) {
            rc = c < 0 ? -1 : 0;
            break;
        }
    }
    if (b.token) db_batch_free(&b);
    db_sampler_buf_free(&sb);
    free(masked);
    db_grammar_free(g);
    return rc;
}

int db_gbnf_constraint_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    char *gbnf = NULL;
    int c = db_constraint_gbnf(req, out, &gbnf, err, errlen);
    if (c != 0) return c < 0 ? -1 : 0;
    int rc = db_grammar_generate(req, out, gbnf, err, errlen);
    free(gbnf);
    return rc;
}

const db_engine db_engine_grammar = {
    .name = "grammar",
    .summary = "grammar-constrained decoding (GBNF via llama.cpp's grammar sampler): full mask or sample-then-check",
    .params = db_grammar_params,
    .n_params = DB_GRAMMAR_N_PARAMS,
    .constraints = DB_CONSTRAINT_GRAMMAR | DB_CONSTRAINT_JSON_SCHEMA,
    .constraint_required = true,
    .validate = db_grammar_validate,
    .generate = db_gbnf_constraint_generate,
};
