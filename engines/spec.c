/* spec.c — draft-model speculative decoding (Leviathan et al. 2023, Chen et
 * al. 2023).  The draft proposes up to k tokens autoregressively; the target
 * verifies them all in one forward (k+1 logits rows); rejected positions are
 * removed from both KV caches.  Greedy or lossless stochastic verification
 * (engines/specdec.c).
 *
 * Draft length: fixed k; optionally cut short when the draft's top
 * probability falls below p_min (llama.cpp's speculative default is 0.75);
 * or chosen per step by a UCB1 bandit over k ∈ {1..k} (as in BanditSpec,
 * Hou et al. 2025) whose reward is committed tokens per second of step time.
 * DRAFT events record the k used at every step.
 */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specdec.h"
#include "harness/util/util.h"

#define SPEC_COMMON_PARAMS \
    DB_SAMPLING_PARAMS(DB_HELP_MODE_VERIFY, DB_HELP_TOP_K_DIST, DB_HELP_TOP_P_DIST)

#define SPEC_DRAFT_PARAMS \
    { "k",        DB_PARAM_INT,   "4", 1, 16, NULL, "draft tokens per step (the largest arm with adaptive=ucb)" }, \
    { "p_min",    DB_PARAM_FLOAT, "0", 0.0, 1.0, NULL, "stop drafting when the draft's top probability is below this; 0 = never" }, \
    { "adaptive", DB_PARAM_ENUM,  "off", 0, 0, "off|ucb", "choose k per step with a UCB1 bandit over 1..k" }, \
    { "ucb_c",    DB_PARAM_FLOAT, "0.5", 0.0, 10.0, NULL, "UCB exploration constant" }

static const db_param_def spec_params[] = {
    SPEC_COMMON_PARAMS,
    SPEC_DRAFT_PARAMS,
};

int db_spec_validate(const db_params *p, char *err, size_t errlen) {
    return db_sampling_params_check(p, " when mode=sample", err, errlen);
}

typedef struct bandit {
    int n_arms;
    int pulls[17];
    double mean[17];
    double best_rate;   /* running max of tokens/s, to scale rewards into [0, 1] */
    int t;
} bandit;

static int bandit_choose(bandit *b, double c) {
    for (int a = 1; a <= b->n_arms; a++)
        if (b->pulls[a] == 0) return a;
    int best = 1;
    double best_v = -1e300;
    for (int a = 1; a <= b->n_arms; a++) {
        double v = b->mean[a] + c * sqrt(2.0 * log((double)b->t) / b->pulls[a]);
        if (v > best_v) { best_v = v; best = a; }
    }
    return best;
}

static void bandit_update(bandit *b, int arm, double tokens_per_s) {
    if (tokens_per_s > b->best_rate) b->best_rate = tokens_per_s;
    double r = b->best_rate > 0 ? tokens_per_s / b->best_rate : 0;
    b->pulls[arm]++;
    b->t++;
    b->mean[arm] += (r - b->mean[arm]) / b->pulls[arm];
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
    const bool ucb = db_params_int(P, "adaptive") == 1;
    const double ucb_c = db_params_num(P, "ucb_c");
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
    bandit bd;
    memset(&bd, 0, sizeof bd);
    bd.n_arms = k_max;
    int rc = 0;
    if (!q_rows || db_kv_mirror_init(&dk, req->draft, req->n_prompt + req->max_new_tokens + k_max + 8, 1, DB_ROLE_DRAFT) != 0) {
        free(q_rows);
        db_spec_end(&s);
        return db_errf(err, errlen, "out of memory");
    }
    const bool greedy = s.sampling.greedy || s.sampling.temperature <= 0.0f;

    while (!s.done) {
        int k = ucb ? bandit_choose(&bd, ucb_c) : k_max;
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
        if (ucb && k > 0) {
            double dt = (double)(db_now_ns() - t_step) / 1e9;
            bandit_update(&bd, arm, dt > 0 ? (out->n_tokens - before) / dt : 0);
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
 * trained early-exit head).  decobench writes that model as a GGUF into the
 * per-user cache directory (harness/util/outfile.h db_cache_dir:
 * $DECOBENCH_CACHE_DIR, else $XDG_CACHE_HOME/decobench, else
 * ~/.cache/decobench), never next to the model, whose folder may be
 * read-only or shared, under the name self-spec-<sha256 of the target>-L<layers>.gguf,
 * and reuses it while it is a regular file of this user (not a symlink) that
 * records the same source hash.  It is written to a mkstemp file in the
 * cache directory and renamed into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/util/outfile.h"
#include "harness/util/sha256.h"

#include <ggml.h>
#include <gguf.h>

static const db_param_def self_params[] = {
    SPEC_COMMON_PARAMS,
    SPEC_DRAFT_PARAMS,
    { "layers",   DB_PARAM_INT,   "1", 1, 1024, NULL, "transformer blocks kept in the draft (fewer than the target has)" },
};

/* the cached draft at path may be reused: a regular file (a symlink is not
 * followed) of this user, not writable by others, derived from source */
static bool self_cached_ok(const char *path, const char *source) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 022);
    close(fd);
    if (!ok) return false;
    struct gguf_init_params meta = { true, NULL };
    struct gguf_context *old = gguf_init_from_file(path, meta);
    if (!old) return false;
    int64_t kid = gguf_find_key(old, "decobench.self_spec.source");
    ok = kid >= 0 && gguf_get_kv_type(old, kid) == GGUF_TYPE_STRING && strcmp(gguf_get_val_str(old, kid), source) == 0;
    gguf_free(old);
    return ok;
}

static int self_derive(const db_params *p, const char *target, char *out, size_t len, char *err, size_t errlen) {
    const int L = db_params_int(p, "layers");
    char sha[65], e2[512];
    if (db_sha256_file(target, sha, e2, sizeof e2) != 0) return db_errf(err, errlen, "%s", e2);
    char stamp[96];
    snprintf(stamp, sizeof stamp, "sha256:%s", sha);
    char *cdir = db_cache_dir(e2, sizeof e2);
    if (!cdir) return db_errf(err, errlen, "%s", e2);
    int n = snprintf(out, len, "%s/self-spec-%s-L%d.gguf", cdir, sha, L);
    free(cdir);
    if (n < 0 || (size_t)n >= len) return db_errf(err, errlen, "cache directory: path too long");

    /* reuse when it was derived from this very file */
    if (self_cached_ok(out, stamp)) return 0;

    struct ggml_context *tctx = NULL;
    struct gguf_init_params full = { false, &tctx };
    struct gguf_context *src = gguf_init_from_file(target, full);
    if (!src) return db_errf(err, errlen, "%s: not a readable GGUF file", target);
    int rc = 0;
    int64_t aid = gguf_find_key(src, "general.architecture");
    char key[160];
    if (aid < 0 || gguf_get_kv_type(src, aid) != GGUF_TYPE_STRING) {
        rc = db_errf(err, errlen, "%s: no general.architecture", target);
    } else {
        snprintf(key, sizeof key, "%s.block_count", gguf_get_val_str(src, aid));
        int64_t bid = gguf_find_key(src, key);
        uint32_t n_layer = bid >= 0 && gguf_get_kv_type(src, bid) == GGUF_TYPE_UINT32 ? gguf_get_val_u32(src, bid) : 0;
        if (n_layer == 0) rc = db_errf(err, errlen, "%s: no %s", target, key);
        else if ((uint32_t)L >= n_layer)
            rc = db_errf(err, errlen, "parameter 'layers': %d, but the target has only %u blocks", L, n_layer);
    }
    if (rc == 0) {
        struct gguf_context *dst = gguf_init_empty();
        gguf_set_kv(dst, src);
        gguf_set_val_u32(dst, key, (uint32_t)L);
        gguf_set_val_str(dst, "decobench.self_spec.source", stamp);
        for (int64_t i = 0; i < gguf_get_n_tensors(src); i++) {
            const char *name = gguf_get_tensor_name(src, i);
            int blk = -1;
            if (sscanf(name, "blk.%d.", &blk) == 1 && blk >= L) continue;
            gguf_add_tensor(dst, ggml_get_tensor(tctx, name));
        }
        /* mkstemp in the cache directory, then rename: a planted file or
         * symlink at the final name is replaced, never written through */
        char *tmp = NULL;
        int fd = db_tmp_create(out, &tmp, e2, sizeof e2);
        FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (fd < 0) {
            rc = db_errf(err, errlen, "%s", e2);
        } else if (!f) {
            close(fd);
            rc = -1;
        } else {
            bool ok = gguf_write_to_file_ptr(dst, f, false);
            ok = fflush(f) == 0 && ok && !ferror(f);
            ok = fclose(f) == 0 && ok;
            rc = ok && rename(tmp, out) == 0 ? 0 : -1;
        }
        if (rc != 0 && fd >= 0) {
            unlink(tmp);
            db_errf(err, errlen, "%s: cannot write the derived draft", out);
        }
        free(tmp);
        gguf_free(dst);
    }
    gguf_free(src);
    ggml_free(tctx);
    return rc;
}

const db_engine db_engine_self_spec = {
    .name = "self-spec",
    .summary = "self-speculative decoding: the draft is the target's first `layers` blocks plus its output head",
    .params = self_params,
    .n_params = (int)(sizeof self_params / sizeof self_params[0]),
    .needs_draft = false,
    .derive_draft = self_derive,
    .validate = db_spec_validate,
    .lossless_greedy = true,
    .generate = db_spec_generate,
};
