/* spec.c — draft-model speculative decoding (Leviathan et al. 2023, Chen et
 * al. 2023).  The draft proposes up to k tokens autoregressively; the target
 * verifies them all in one forward (k+1 logits rows); rejected positions are
 * removed from both KV caches.  Greedy or lossless stochastic verification
 * (engines/specdec.c).
 *
 * Draft length: fixed k; optionally cut short when the draft's top
 * probability falls below p_min (llama.cpp's speculative default is 0.75);
 * or chosen per step by a bandit over k ∈ {1..k} — UCB1 or EXP3, the two
 * controllers of BanditSpec (Hou et al. 2025), or Thompson sampling
 * (engines/bandit.h) — whose reward is committed tokens per second of step
 * time.
 * DRAFT events record the k used at every step.
 */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bandit.h"
#include "specdec.h"
#include "harness/model/model_derive.h"
#include "harness/util/util.h"

#define SPEC_COMMON_PARAMS \
    DB_SAMPLING_PARAMS(DB_HELP_MODE_VERIFY, DB_HELP_TOP_K_DIST, DB_HELP_TOP_P_DIST)

#define SPEC_DRAFT_PARAMS \
    { "k",        DB_PARAM_INT,   "4", 1, 16, NULL, "draft tokens per step (the largest arm with adaptive)" }, \
    { "p_min",    DB_PARAM_FLOAT, "0", 0.0, 1.0, NULL, "stop drafting when the draft's top probability is below this; 0 = never" }, \
    { "adaptive", DB_PARAM_ENUM,  "off", 0, 0, "off|ucb|exp3|thompson", "choose k per step with a bandit over 1..k: UCB1, EXP3 (BanditSpec) or Thompson sampling" }, \
    { "ucb_c",    DB_PARAM_FLOAT, "0.5", 0.0, 10.0, NULL, "UCB exploration constant" }, \
    { "exp3_gamma", DB_PARAM_FLOAT, "0.1", 0.001, 1.0, NULL, "EXP3 exploration rate (the uniform share of the arm distribution)" }

static const db_param_def spec_params[] = {
    SPEC_COMMON_PARAMS,
    SPEC_DRAFT_PARAMS,
};

int db_spec_validate(const db_params *p, char *err, size_t errlen) {
    return db_sampling_params_check(p, " when mode=sample", err, errlen);
}

/* softmax probability of token t (temperature 1): the draft's confidence */
static double softmax_at(const float *logits, int n, db_token t) {
    double z = 0.0;
    for (int i = 0; i < n; i++) z += exp((double)logits[i] - logits[t]);
    return 1.0 / z;
}

int db_spec_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    if (!req->draft) return db_errf(err, errlen, "spec needs a draft model");
    const db_params *P = req->params;
    const int k_max = db_params_int(P, "k");
    const double p_min = db_params_num(P, "p_min");
    const int adaptive = db_params_int(P, "adaptive");   /* 0 off, 1 ucb, 2 exp3, 3 thompson */
    if (db_model_n_vocab(req->draft) != db_model_n_vocab(req->target))
        return db_errf(err, errlen, "draft vocabulary (%d) differs from the target's (%d)",
                       db_model_n_vocab(req->draft), db_model_n_vocab(req->target));

    db_spec s;
    if (db_spec_begin(&s, req, out, k_max, err, errlen) != 0) return -1;
    const int V = s.n_vocab;
    db_kv_mirror dk;
    float *q_rows = malloc(sizeof(float) * (size_t)k_max * (size_t)V);
    db_token draft[16];
    db_rng rng_draft = db_rng_make(req->seed, 1);
    db_bandit bd;
    db_bandit_init(&bd, adaptive == 2 ? DB_BANDIT_EXP3 : adaptive == 3 ? DB_BANDIT_THOMPSON : DB_BANDIT_UCB, k_max,
                   db_params_num(P, "ucb_c"), db_params_num(P, "exp3_gamma"));
    db_rng rng_arm = db_rng_make(req->seed, 11);   /* the controller's draws: a stream of their own */
    int rc = 0;
    if (!q_rows || db_kv_mirror_init(&dk, req->draft, req->n_prompt + req->max_new_tokens + k_max + 8, 1, DB_ROLE_DRAFT) != 0) {
        free(q_rows);
        db_spec_end(&s);
        return db_errf(err, errlen, "out of memory");
    }
    const bool greedy = s.sampling.greedy || s.sampling.temperature <= 0.0f;

    while (!s.done) {
        int k = adaptive ? db_bandit_choose(&bd, &rng_arm) : k_max;
        int arm = k;
        if (k > db_spec_remaining(&s) - 1) k = db_spec_remaining(&s) - 1;
        int64_t t_step = db_now_ns();

        /* draft up to k tokens */
        int n_draft = 0;
        if (k > 0) {
            int64_t t0 = db_now_ns();
            const float *logits;
            if (db_kv_sync(&s, &dk, &logits, err, errlen) != 0) { rc = -1; break; }
            for (int i = 0; i < k; i++) {
                float *q = q_rows + (size_t)i * (size_t)V;
                db_token d;
                double top = 1.0;
                if (greedy) {
                    d = db_argmax(logits, V);
                    if (p_min > 0) top = softmax_at(logits, V, d);
                } else {
                    db_sampling_probs(&s.sampling, logits, &s.buf);
                    memcpy(q, s.buf.prob, sizeof(float) * (size_t)V);
                    d = db_draw(q, V, db_rng_uniform(&rng_draft));
                    top = q[db_argmax(q, V)];
                }
                if (p_min > 0 && top < p_min) break;
                draft[n_draft++] = d;
                if (i + 1 < k && db_kv_push(&s, &dk, d, &logits, err, errlen) != 0) { rc = -1; break; }
            }
            if (rc) break;
            db_emit_draft(req->events, s.step, n_draft, t0, db_now_ns());
        }
        int acc = 0;
        int before = out->n_tokens;
        int v = db_spec_verify(&s, draft, n_draft, greedy ? NULL : q_rows, &acc, err, errlen);
        if (v < 0) { rc = -1; break; }
        if (adaptive && k > 0) {
            double dt = (double)(db_now_ns() - t_step) / 1e9;
            db_bandit_update(&bd, arm, db_bandit_reward(&bd, dt > 0 ? (out->n_tokens - before) / dt : 0));
        }
        if (v == 1) break;
    }
    if (rc == 0 && strcmp(out->stop_reason, "cancel") == 0) rc = 1;
    db_kv_mirror_free(&dk);
    free(q_rows);
    db_spec_end(&s);
    return rc;
}

const db_engine db_engine_spec = {
    .name = "spec",
    .summary = "draft-model speculative decoding: k draft tokens verified in one target forward (greedy or lossless sampling)",
    .params = spec_params,
    .n_params = (int)(sizeof spec_params / sizeof spec_params[0]),
    .needs_draft = true,
    .validate = db_spec_validate,
    .lossless_greedy = true,
    .generate = db_spec_generate,
};

/* ---- self-speculative decoding -------------------------------------------
 * The draft is the target's own first `layers` transformer blocks followed
 * by its final norm and output head (the LayerSkip / SWIFT family without a
 * trained early-exit head).  The model layer writes that model as a GGUF
 * into the per-user cache directory and reuses it
 * (harness/model/model_derive.h: self-spec-<sha256 of the target>-L<layers>.gguf).
 */

static const db_param_def self_params[] = {
    SPEC_COMMON_PARAMS,
    SPEC_DRAFT_PARAMS,
    { "layers",   DB_PARAM_INT,   "1", 1, 1024, NULL, "transformer blocks kept in the draft (fewer than the target has)" },
};

static int self_derive(const db_params *p, const char *target, char *out, size_t len, char *err, size_t errlen) {
    const int L = db_params_int(p, "layers");
    uint32_t n_layer = 0;
    int rc = db_model_derive_blocks(target, L, "self-spec", out, len, &n_layer, err, errlen);
    if (rc == DB_DERIVE_TOO_FEW_BLOCKS)
        return db_errf(err, errlen, "parameter 'layers': %d, but the target has only %u blocks", L, n_layer);
    return rc;
}

const db_engine db_engine_self_spec = {
    .name = "self-spec",
    .summary = "self-speculative decoding: the draft is the target's first `layers` blocks plus its output head",
    .params = self_params,
    .n_params = (int)(sizeof self_params / sizeof self_params[0]),
    .derive_draft = self_derive,
    .validate = db_spec_validate,
    .lossless_greedy = true,
    .generate = db_spec_generate,
};
