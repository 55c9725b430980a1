/* lookahead.c — lookahead decoding (Fu et al. 2024), following llama.cpp's
 * examples/lookahead: every step is ONE target forward over
 *   - the current token (in every sequence),
 *   - up to G verification n-grams from the pool that start with it
 *     (sequences W+1 .. W+G),
 *   - the 2-D Jacobi window: N-1 levels × W positions (sequences 1 .. W,
 *     arranged so each window column attends to its own trajectory).
 * The last level's logits give the next Jacobi level (argmax); every window
 * column yields a new n-gram for the pool.  Verification samples the next
 * token from the row of an n-gram that still matches everything emitted so
 * far (sample-then-check), so each emitted token comes from the target's own
 * conditional distribution: greedy output equals `ar`, and stochastic output
 * is lossless.  The window is advanced greedily (its content only proposes
 * candidates).  Bit for bit on llama.cpp's CPU backend while a step's batch
 * stays under 64 rows (GGML_FA_TILE_Q): larger batches go through another
 * flash-attention kernel, whose rounding can flip a near-tie (README).
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specdec.h"
#include "harness/util/util.h"

static const db_param_def la_params[] = {
    DB_SAMPLING_PARAMS("greedy or lossless sampling", DB_HELP_TOP_K_DIST, DB_HELP_TOP_P_DIST),
    { "W",     DB_PARAM_INT,   "15", 1, 64, NULL, "lookahead window (Jacobi positions)" },
    { "N",     DB_PARAM_INT,   "5", 3, 16, NULL, "n-gram size (window levels + 1)" },
    { "G",     DB_PARAM_INT,   "15", 0, 64, NULL, "most verification n-grams per step" },
};

static int la_validate(const db_params *p, char *err, size_t errlen) {
    return db_sampling_params_check(p, " when mode=sample", err, errlen);
}

static int la_n_seq(const db_params *p) {
    return db_params_int(p, "W") + db_params_int(p, "G") + 1;
}

typedef struct ngram_pool {
    int G, n1;             /* capacity per first token, tokens stored per n-gram (N-1) */
    int *cnt, *head;       /* per first token */
    db_token *tok;         /* [n_vocab][G][N-1] */
} ngram_pool;

static void pool_add(ngram_pool *pl, db_token first, const db_token *rest) {
    if (pl->G == 0) return;
    for (int k = 0; k < pl->cnt[first]; k++)
        if (memcmp(pl->tok + ((size_t)first * pl->G + k) * pl->n1, rest, sizeof(db_token) * (size_t)pl->n1) == 0) return;
    int h = pl->head[first];
    memcpy(pl->tok + ((size_t)first * pl->G + h) * pl->n1, rest, sizeof(db_token) * (size_t)pl->n1);
    if (pl->cnt[first] < pl->G) pl->cnt[first]++;
    pl->head[first] = (h + 1) % pl->G;
}

static int la_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    const db_params *P = req->params;
    const int W = db_params_int(P, "W"), N = db_params_int(P, "N"), G = db_params_int(P, "G");
    db_model *m = req->target;
    db_spec s;
    if (db_spec_begin(&s, req, out, N, err, errlen) != 0) return -1;
    const int V = s.n_vocab;
    const bool greedy = s.sampling.greedy || s.sampling.temperature <= 0.0f;
    const int n_seq_total = W + G + 1;

    ngram_pool pool = { G, N - 1, calloc((size_t)V, sizeof(int)), calloc((size_t)V, sizeof(int)),
                        G > 0 ? malloc(sizeof(db_token) * (size_t)V * (size_t)G * (size_t)(N - 1)) : NULL };
    db_token *lev = malloc(sizeof(db_token) * (size_t)(N - 1) * (size_t)W);     /* tokens_j[j][i] = lev[j*W+i] */
    db_token *lev_prev = malloc(sizeof(db_token) * (size_t)W);
    int *ng_row = malloc(sizeof(int) * (size_t)(G > 0 ? G : 1) * (size_t)N);     /* batch row of n-gram g's token j */
    db_token *ng_tok = malloc(sizeof(db_token) * (size_t)(G > 0 ? G : 1) * (size_t)N);
    bool *ng_active = malloc(sizeof(bool) * (size_t)(G > 0 ? G : 1));
    int32_t *all = malloc(sizeof(int32_t) * (size_t)n_seq_total);
    int32_t *look = malloc(sizeof(int32_t) * (size_t)W);
    /* drafter memory: the n-gram pool (two counters a token, G n-grams of
     * N-1 tokens a token) and the window's levels (the W + G lookahead
     * sequences' cells in the target's KV cache are not counted) */
    db_output_stat(out, "drafter_bytes",
                   (double)(2 * sizeof(int) * (size_t)V +
                            (G > 0 ? sizeof(db_token) * (size_t)V * (size_t)G * (size_t)(N - 1) : 0) +
                            sizeof(db_token) * (size_t)N * (size_t)W));
    db_batch b;
    int rc = 0;
    memset(&b, 0, sizeof b);
    if (!pool.cnt || !pool.head || (G > 0 && !pool.tok) || !lev || !lev_prev || !ng_row || !ng_tok || !ng_active ||
        !all || !look || db_batch_init(&b, N + G * (N - 1) + W * (N - 1), n_seq_total) != 0) {
        rc = db_errf(err, errlen, "out of memory");
        goto done;
    }
    for (int i = 0; i < n_seq_total; i++) all[i] = i;
    /* initial window: tokens of the prompt (llama.cpp uses fixed ids, which
     * need not exist in a small vocabulary) */
    for (int j = 0; j < N - 1; j++)
        for (int i = 0; i < W; i++) lev[j * W + i] = req->prompt[(1 + j * W + i) % req->n_prompt];

    /* The committed text's KV cells belong to every sequence (as in
     * llama-lookahead): each step's input token is added with all ids, so
     * only the prompt is copied here, and after a step one removal drops the
     * step's speculative cells from all sequences at once. */
    for (int q = 1; q < n_seq_total && rc == 0; q++)
        if (db_model_seq_rm(m, q, -1, -1) != 0 || db_model_seq_cp(m, 0, q, -1, -1) != 0)
            rc = db_errf(err, errlen, "KV copy: %s", db_model_last_error(m));
    while (rc == 0 && !s.done) {
        if (req->cancel && *req->cancel) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
            rc = 1;
            break;
        }
        const int n_past = s.n_seq - 1;            /* position of the current token */
        const db_token id = db_spec_last(&s);
        int64_t t0 = db_now_ns();
        db_batch_clear(&b);
        /* accepted tokens of the last step evaluated again (see the KV
         * update below), then the current token, in every sequence */
        for (int i = s.target_past; i < n_past; i++) db_batch_add(&b, s.seq[i], i, all, n_seq_total, false);
        const int row_cur = db_batch_add(&b, id, n_past, all, n_seq_total, true);
        const int g_cur = G > 0 ? pool.cnt[id] : 0;
        for (int g = 0; g < g_cur; g++) {
            ng_active[g] = true;
            ng_tok[g * N] = id;
            ng_row[g * N] = row_cur;
        }
        for (int j = 0; j < N - 1; j++)
            for (int g = 0; g < g_cur; g++) {
                db_token t = pool.tok[((size_t)id * G + g) * (N - 1) + j];
                int32_t sid = W + 1 + g;
                ng_tok[g * N + j + 1] = t;
                ng_row[g * N + j + 1] = db_batch_add(&b, t, n_past + j + 1, &sid, 1, true);
            }
        for (int i = 1; i < W; i++) {
            int nl = 0;
            for (int q = i + 1; q <= W; q++) look[nl++] = q;
            db_batch_add(&b, lev[i], n_past + i, look, nl, false);
        }
        for (int j = 1; j < N - 1; j++)
            for (int i = 0; i < W; i++) {
                int32_t sid = i + 1;
                db_batch_add(&b, lev[j * W + i], n_past + j + i, &sid, 1, j == N - 2);
            }
        const int last_level_row0 = row_cur + g_cur * (N - 1) + W * (N - 2);
        if (g_cur > 0) db_emit_draft(req->events, s.step, g_cur * (N - 1), t0, db_now_ns());
        if (db_forward(m, &b, req->events, DB_ROLE_TARGET, s.step) != 0) {
            rc = db_errf(err, errlen, "target forward at position %d: %s", n_past, db_model_last_error(m));
            break;
        }

        /* verification: sample, then keep the n-grams that still match */
        int64_t t1 = db_now_ns();
        db_token emitted[16];
        int n_emit = 0, best_seq = 0, best_g = -1, row = row_cur;
        for (int v = 0; v < N; v++) {
            if (v > 0) {
                row = -1;
                for (int g = 0; g < g_cur; g++)
                    if (ng_active[g]) { row = ng_row[g * N + v]; best_seq = W + 1 + g; best_g = g; break; }
                if (row < 0) break;
            }
            db_token t = db_sample_token(&s.sampling, db_model_logits(m, row), &s.buf, &s.rng);
            emitted[n_emit++] = t;
            if (n_emit >= db_spec_remaining(&s) || (req->stop_at_eog && db_model_is_eog(m, t))) break;
            for (int g = 0; g < g_cur; g++)
                if (ng_active[g] && (v == N - 1 || t != ng_tok[g * N + v + 1])) ng_active[g] = false;
            if (v == 0) {
                /* advance the Jacobi window: shift levels, the new last level from the logits */
                memcpy(lev_prev, lev, sizeof(db_token) * (size_t)W);
                memmove(lev, lev + W, sizeof(db_token) * (size_t)W * (size_t)(N - 2));
                for (int i = 0; i < W; i++)
                    lev[(N - 2) * W + i] = db_argmax(db_model_logits(m, last_level_row0 + i), V);
                /* each window column is a new n-gram starting at its first-level token */
                db_token ng[16];
                for (int f = 0; f < W; f++) {
                    for (int j = 0; j < N - 1; j++) ng[j] = lev[j * W + f];
                    pool_add(&pool, lev_prev[f], ng);
                }
            }
        }
        (void)greedy;
        db_emit_sample(req->events, s.step, t1, db_now_ns());

        /* KV: the input and the accepted n-gram tokens become the committed
         * text, in every sequence; everything after them goes.  Only this
         * step's positions are touched: the accepted cells (in best_seq only)
         * join every other sequence after that sequence's own cells at
         * those positions (window and other n-gram cells) are dropped.
         * llama-lookahead instead keeps best_seq and copies the whole
         * context back to all W+G+1 sequences (one tree insertion per cell
         * per sequence), which costs more than the rest of the step. */
        const int a = n_emit - 1;                 /* emitted tokens that were draft tokens */
        /* Bit-identical greedy output needs the cells in the order a
         * single-sequence decode leaves them (llama.cpp's CPU flash
         * attention accumulates in cell order; a later token placed in a
         * hole before the accepted cells changes the rounding): the accepted
         * n-gram's cells are kept only when they directly follow the
         * current token's; otherwise all of this step's cells go and the
         * accepted tokens are evaluated again at the head of the next
         * forward. */
        bool in_order = true;
        for (int j = 0; j < a; j++) in_order &= ng_row[best_g * N + j + 1] == row_cur + 1 + j;
        bool kv_ok = db_model_seq_rm(m, -1, n_past + 1 + (in_order ? a : 0), -1) == 0;
        if (best_seq != 0 && a > 0 && in_order)
            for (int q = 0; q < n_seq_total && kv_ok; q++)
                if (q != best_seq)
                    kv_ok = db_model_seq_rm(m, q, n_past + 1, n_past + 1 + a) == 0 &&
                            db_model_seq_cp(m, best_seq, q, n_past + 1, n_past + 1 + a) == 0;
        if (!kv_ok) {
            rc = db_errf(err, errlen, "KV rollback: %s", db_model_last_error(m));
            break;
        }
        int vr = db_spec_accept(&s, emitted, a, emitted[a], g_cur > 0 ? N - 1 : 0, err, errlen);
        if (!in_order) s.target_past = n_past + 1;
        if (vr < 0) { rc = -1; break; }
        if (vr == 1) break;
    }
    if (rc == 0 && strcmp(out->stop_reason, "cancel") == 0) rc = 1;
done:
    free(pool.cnt); free(pool.head); free(pool.tok);
    free(lev); free(lev_prev); free(ng_row); free(ng_tok); free(ng_active); free(all); free(look);
    db_batch_free(&b);
    db_spec_end(&s);
    return rc;
}

const db_engine db_engine_lookahead = {
    .name = "lookahead",
    .summary = "lookahead decoding: Jacobi window W x (N-1) and up to G n-gram candidates in one forward per step",
    .params = la_params,
    .n_params = (int)(sizeof la_params / sizeof la_params[0]),
    .n_seq_max = la_n_seq,
    .validate = la_validate,
    .lossless_greedy = true,
    .generate = la_generate,
};
