/* awrs.c — Adaptive Weighted Rejection Sampling (Lipkin et al. 2025, "Fast
 * Controlled Generation from Language Models with Adaptive Weighted
 * Rejection Sampling"; the recursive estimator of genlm-control's AWRS).
 *
 * Per step: draw a token from the model's distribution p, ask the grammar
 * about that token only; on rejection remove it and draw again from the
 * rest (sampling without replacement).  The first accepted token is an
 * exact sample of the locally constrained distribution p(t)·[t allowed]/Z,
 * after a number of grammar checks that is small whenever the allowed
 * tokens hold much of p — instead of one check per vocabulary entry.
 *
 * The local normaliser Z = Σ_allowed p(t) is estimated without bias from
 * the same run: with R the rejected mass and q = p(x)/(1-R) the chance of
 * the accepted token x among the rest, Z = (1-R)·(q + (1-q)·Z'), where Z'
 * is the acceptance chance of one more draw y from what is left; one more
 * check of y gives Ẑ = (1-R)·(q + (1-q)·[y allowed]).  The product of Ẑ
 * over steps is the sample's importance weight against the model's global
 * distribution restricted to the grammar (E[w·f(x)] = Σ_{s in L} P(s) f(s)),
 * reported as "importance_log_weight" (db_output_stat).  Every check is one
 * CONSTRAINT event of 1 token.
 */
#include "constrained.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

static const db_param_def awrs_params[] = {
    DB_SAMPLING_PARAMS_NO_MODE("sampling temperature of the proposal (> 0)"),
};

static int awrs_validate(const db_params *p, char *err, size_t errlen) {
    return db_sampling_params_check(p, " (awrs samples)", err, errlen);
}

/* Inverse CDF over the positive entries of rem at target in [0, mass);
 * -1 when none is positive. */
static int draw_remaining(const float *rem, int n, double target) {
    double cum = 0.0;
    int last = -1;
    for (int i = 0; i < n; i++) {
        if (rem[i] <= 0.0f) continue;
        cum += rem[i];
        last = i;
        if (target < cum) return i;
    }
    return last;
}

static double mass_of(const float *rem, int n) {
    double m = 0.0;
    for (int i = 0; i < n; i++) m += rem[i];
    return m;
}

/* One grammar check of token t as its own CONSTRAINT event. */
static bool check_token(db_grammar *g, db_token t, const db_gen_request *req, int step) {
    uint8_t ok = 0;
    int64_t t0 = db_now_ns();
    db_grammar_allowed(g, &t, 1, &ok);
    db_emit_constraint(req->events, step, 1, ok, t0, db_now_ns());
    return ok != 0;
}

/* One AWRS step over the distribution prob (rem: scratch).  Returns the
 * accepted token and *log_z the log of the estimate of Z, or DB_TOKEN_NULL
 * when no token with positive probability is allowed. */
static db_token awrs_step(db_grammar *g, const float *prob, float *rem, int n, db_rng *rng,
                          const db_gen_request *req, int step, double *log_z) {
    memcpy(rem, prob, sizeof(float) * (size_t)n);
    const double total = mass_of(rem, n);
    double mass = total;
    for (;;) {
        int x = mass > 0.0 ? draw_remaining(rem, n, db_rng_uniform(rng) * mass) : -1;
        if (x < 0) return DB_TOKEN_NULL;
        const double px = rem[x];
        double q = px / mass;
        if (q > 1.0) q = 1.0;
        const bool ok = check_token(g, x, req, step);
        rem[x] = 0.0f;
        if (ok) {
            double rest = mass - px;
            double tail = 1.0;
            int y = rest > total * 1e-12 ? draw_remaining(rem, n, db_rng_uniform(rng) * rest) : -1;
            if (y >= 0 && !check_token(g, y, req, step)) tail = q;
            *log_z = log(mass / total) + log(tail);
            return x;
        }
        mass -= px;
        /* subtraction loses precision once most of the mass is rejected */
        if (mass < total * 1e-3) mass = mass_of(rem, n);
    }
}

static int awrs_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    char *gbnf = NULL;
    int c = db_constraint_gbnf(req, out, &gbnf, err, errlen);
    if (c != 0) return c < 0 ? -1 : 0;
    db_model *m = req->target;
    const int n_vocab = db_model_n_vocab(m);
    const db_sampling s = db_sampling_from_params(req->params);
    db_rng rng = db_rng_make(req->seed, 0);

    snprintf(out->stop_reason, sizeof out->stop_reason, "length");
    int64_t c0 = db_now_ns();
    char gerr[384];
    db_grammar *g = db_model_grammar_new(m, gbnf, gerr, sizeof gerr);
    free(gbnf);
    if (!g) return db_errf(err, errlen, "%s", gerr);
    db_emit_compile(req->events, c0, db_now_ns());

    db_sampler_buf sb;
    db_batch b = { 0 };
    float *rem = malloc(sizeof(float) * (size_t)n_vocab);
    if (!rem || db_sampler_buf_init(&sb, n_vocab) != 0) {
        free(rem);
        db_grammar_free(g);
        return db_errf(err, errlen, "out of memory");
    }
    int rc = db_constrained_prefill(req, &b, err, errlen);
    int32_t pos = req->n_prompt;
    double log_w = 0.0;
    bool dead = false;
    for (int step = 0; rc == 0 && out->n_tokens < req->max_new_tokens; step++) {
        if ((rc = db_constrained_forward(req, out, &b, step, pos, err, errlen)) != 0) break;
        int64_t t0 = db_now_ns();
        db_sampling_probs(&s, db_model_logits(m, b.n_tokens - 1), &sb);
        db_emit_sample(req->events, step, t0, db_now_ns());
        double log_z = 0.0;
        db_token t = awrs_step(g, sb.prob, rem, n_vocab, &rng, req, step, &log_z);
        if (t == DB_TOKEN_NULL) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "dead_end");
            dead = true;
            break;
        }
        log_w += log_z;
        int cm = db_constrained_commit(req, out, g, &b, &pos, step, t, err, errlen);
        if (cm != 0) {
            rc = cm < 0 ? -1 : 0;
            break;
        }
    }
    /* a dead end has weight zero: no finite log weight to report */
    if (rc == 0 && !dead) db_output_stat(out, "importance_log_weight", log_w);
    if (b.token) db_batch_free(&b);
    db_sampler_buf_free(&sb);
    free(rem);
    db_grammar_free(g);
    return rc;
}

const db_engine db_engine_awrs = {
    .name = "awrs",
    .summary = "adaptive weighted rejection sampling (Lipkin et al. 2025): checks sampled tokens only; importance weight",
    .params = awrs_params,
    .n_params = (int)(sizeof awrs_params / sizeof awrs_params[0]),
    .constraints = DB_CONSTRAINT_GRAMMAR | DB_CONSTRAINT_JSON_SCHEMA,
    .constraint_required = true,
    .validate = awrs_validate,
    .generate = awrs_generate,
};
