/* test_train.c — llama.cpp's training path as decobench-train uses it
 * (llama_opt_init / llama_opt_epoch with decobench's patches/llama.cpp),
 * checked against finite differences on tiny random models:
 *  (a) the gradient of one step, read back from one SGD step with
 *      alpha = 1 and no weight decay, equals the central finite difference
 *      of llama_decode's mean cross-entropy for every kind of weight —
 *      attn_k, attn_v and token_embd included, which upstream llama_opt
 *      leaves frozen (patches 0002, 0003) — causal and bidirectional;
 *  (b) k identical SGD steps move the weights k times as far as one, not
 *      1+2+...+k times (ggml-opt summed the gradients of all steps so far
 *      into each step; patch 0001);
 *  (c) with unlikelihood training on (patch 0004: llama_opt_params.ul_weight,
 *      ul_context), the training loss and its gradient match the same loss
 *      computed here from llama_decode's logits: cross-entropy on labels
 *      >= 0, nothing on -1, and ul_weight * -log(1 - p(c) + 1e-5) for each
 *      candidate c (a label <= -2's token -label-2, and with ul_context
 *      every distinct earlier token of the window but the label).
 *  (d) ggml's OUT_PROD, which computes every weight gradient (patch 0005
 *      replaces its inner loop by register-tiled GEMM blocks), equals a
 *      brute-force double-precision sum for contiguous, transposed,
 *      batched and broadcast operands, row counts that do not fill a block,
 *      on one thread and on two.
 * Built against a llama.cpp without the patches, the tests are skipped.
 */
#include "config.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(HAVE_LLAMA)
#include "llama.h"
#endif

#if defined(HAVE_LLAMA) && defined(LLAMA_OPT_HAS_TRAIN_KV) && defined(LLAMA_OPT_HAS_TRAIN_TOK_EMBD) && \
    defined(LLAMA_OPT_HAS_UNLIKELIHOOD)
#include <fcntl.h>
#include <unistd.h>

#include "ggml-cpu.h"
#include "ggml-opt.h"
#include "gguf.h"

#define N_CTX 256

static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
    (void)level; (void)text; (void)user;
}

/* one datapoint: inputs and labels of N_CTX tokens */
typedef struct point {
    llama_token in[N_CTX], label[N_CTX];
    bool causal;
    float ul_weight;   /* 0: plain cross-entropy */
    bool ul_context;
} point;

static int make_model(const char *path, bool causal, int seed) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/decobench-mkmodel' --out '%s' --n-embd 32 --n-layer 2 --n-head 2 --n-ff 64 "
             "--n-ctx %d --init-std 0.2 --seed %d %s >/dev/null 2>&1",
             db_test_builddir(), path, N_CTX, seed, causal ? "" : "--no-causal --mask-token");
    return system(cmd) == 0 ? 0 : -1;
}

static struct llama_context *new_context(struct llama_model *m, bool causal) {
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = cp.n_ubatch = N_CTX;
    cp.n_threads = cp.n_threads_batch = 2;
    cp.type_k = cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    struct llama_context *c = llama_init_from_model(m, cp);
    if (c && !causal) llama_set_causal_attn(c, false);
    return c;
}

/* mean next-token cross-entropy (plus unlikelihood terms, when
 * pt->ul_weight > 0) of the model file at path on pt, through llama_decode
 * (inference, not the training graph); NAN on failure.  argmax, when not
 * NULL, receives each position's most likely token. */
static double decode_loss(const char *path, const point *pt, llama_token *argmax) {
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *m = llama_model_load_from_file(path, mp);
    if (!m) return NAN;
    struct llama_context *c = new_context(m, pt->causal);
    struct llama_batch b = llama_batch_init(N_CTX, 0, 1);
    double loss = NAN;
    if (c) {
        b.n_tokens = N_CTX;
        for (int i = 0; i < N_CTX; i++) {
            b.token[i] = pt->in[i]; b.pos[i] = i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = 1;
        }
        if (llama_decode(c, b) == 0) {
            const int nv = llama_vocab_n_tokens(llama_model_get_vocab(m));
            double tot = 0;
            char *cand = calloc((size_t)nv, 1);
            for (int i = 0; i < N_CTX && cand; i++) {
                const float *lg = llama_get_logits_ith(c, i);
                double mx = lg[0], s = 0;
                int best = 0;
                for (int v = 1; v < nv; v++) if (lg[v] > mx) { mx = lg[v]; best = v; }
                if (argmax) argmax[i] = best;
                for (int v = 0; v < nv; v++) s += exp(lg[v] - mx);
                const int label = pt->label[i];
                if (label >= 0) tot += mx + log(s) - lg[label];
                if (pt->ul_weight <= 0) continue;
                /* the unlikelihood candidates of this position */
                memset(cand, 0, (size_t)nv);
                if (label <= -2) cand[-label - 2] = 1;
                if (label >= 0 && pt->ul_context) {
                    for (int j = 0; j <= i; j++) cand[pt->in[j]] = 1;
                    cand[label] = 0;
                }
                for (int v = 0; v < nv; v++)
                    if (cand[v]) tot -= pt->ul_weight * log(1.0 - exp(lg[v] - mx) / s + 1e-5);
            }
            loss = cand ? tot / N_CTX : NAN;
            free(cand);
        }
    }
    llama_batch_free(b);
    llama_free(c);
    llama_model_free(m);
    return loss;
}

static struct ggml_opt_optimizer_params sgd_params(void *ud) {
    struct ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(NULL);
    p.sgd.alpha = *(const float *)ud;
    p.sgd.wd = 0.0f;
    return p;
}

/* n_steps SGD steps (learning rate alpha) on copies of pt through
 * llama_opt_epoch with every tensor trainable; the result saved to out.
 * *opt_loss: the training graph's loss at the first step. */
static int sgd_steps(const char *in, const char *out, const point *pt, int n_steps, float alpha, double *opt_loss) {
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.load_mode = LLAMA_LOAD_MODE_NONE;   /* writable weights */
    struct llama_model *m = llama_model_load_from_file(in, mp);
    if (!m) return -1;
    struct llama_context *c = new_context(m, pt->causal);
    if (!c) { llama_model_free(m); return -1; }
    struct llama_opt_params op = {
        .n_ctx_train = 0, .param_filter = llama_opt_param_filter_all, .param_filter_ud = NULL,
        .get_opt_pars = sgd_params, .get_opt_pars_ud = &alpha, .optimizer_type = GGML_OPT_OPTIMIZER_TYPE_SGD,
        .train_kv = true, .train_tok_embd = true, .ul_weight = pt->ul_weight, .ul_context = pt->ul_context,
    };
    llama_opt_init(c, m, op);
    ggml_opt_dataset_t ds = ggml_opt_dataset_init(GGML_TYPE_I32, GGML_TYPE_I32, N_CTX, N_CTX, n_steps, 1);
    for (int s = 0; s < n_steps; s++) {
        memcpy((int32_t *)ggml_opt_dataset_data(ds)->data + (size_t)s * N_CTX, pt->in, sizeof pt->in);
        memcpy((int32_t *)ggml_opt_dataset_labels(ds)->data + (size_t)s * N_CTX, pt->label, sizeof pt->label);
    }
    ggml_opt_result_t rt = ggml_opt_result_init(), re = ggml_opt_result_init();
    llama_opt_epoch(c, ds, rt, re, n_steps, NULL, NULL);
    double unc = 0;
    ggml_opt_result_loss(rt, opt_loss, &unc);
    /* the result's loss is the mean over the steps; for the first step's
     * loss alone the caller runs n_steps = 1 */
    llama_model_save_to_file(m, out);
    ggml_opt_result_free(rt);
    ggml_opt_result_free(re);
    ggml_opt_dataset_free(ds);
    llama_free(c);
    llama_model_free(m);
    return 0;
}

typedef struct weights {
    struct gguf_context *g;
    struct ggml_context *ctx;
} weights;

static int load_weights(const char *path, weights *w) {
    w->ctx = NULL;
    w->g = gguf_init_from_file(path, (struct gguf_init_params){ .no_alloc = false, .ctx = &w->ctx });
    return w->g ? 0 : -1;
}

static void free_weights(weights *w) {
    if (w->g) gguf_free(w->g);
    if (w->ctx) ggml_free(w->ctx);
}

static const float *tensor_f32(const weights *w, const char *name, int64_t *n) {
    struct ggml_tensor *t = ggml_get_tensor(w->ctx, name);
    if (!t || t->type != GGML_TYPE_F32) return NULL;
    *n = ggml_nelements(t);
    return (const float *)t->data;
}

static void fill_point(point *pt, bool causal, int n_vocab, int mask_id, unsigned seed) {
    memset(pt, 0, sizeof *pt);
    pt->causal = causal;
    unsigned s = seed;
    llama_token stream[N_CTX + 1];
    /* a few hundred distinct ordinary tokens, with repeats so attention has
     * something to find */
    for (int i = 0; i <= N_CTX; i++) {
        s = s * 1103515245u + 12345u;
        stream[i] = (i >= 8 && (s >> 16) % 4 == 0) ? stream[i - 8] : (llama_token)(3 + (s >> 16) % (unsigned)(n_vocab - 4));
    }
    for (int i = 0; i < N_CTX; i++) {
        if (causal) { pt->in[i] = stream[i]; pt->label[i] = stream[i + 1]; }
        else {
            s = s * 1103515245u + 12345u;
            pt->label[i] = stream[i];
            pt->in[i] = (s >> 16) % 2 ? mask_id : stream[i];
        }
    }
}

enum ul_mode {
    UL_OFF,
    UL_MIXED,   /* cross-entropy, token-level candidates, and positions
                 * 100..179 a "continuation": each third without loss, the
                 * rest sequence-level candidates */
    UL_SEQ,     /* sequence-level candidates only, at every position */
};

/* (a), (c) for one model kind: backprop vs finite differences.  The
 * sequence-level candidates are the model's own greedy tokens, the most
 * likely ones (a random model's other tokens have p ~ 1/n_vocab, too small
 * for their terms to show). */
static void check_gradients(bool causal, enum ul_mode ul) {
    char model[1024], after[1024], pert[1024];
    const char *dir = db_test_tmpdir();
    const char *kind = ul == UL_MIXED ? "ul" : ul == UL_SEQ ? "ul-seq" : causal ? "causal" : "bidir";
    snprintf(model, sizeof model, "%s/grad-%s.gguf", dir, kind);
    snprintf(after, sizeof after, "%s/grad-%s-after.gguf", dir, kind);
    snprintf(pert, sizeof pert, "%s/grad-%s-pert.gguf", dir, kind);
    if (make_model(model, causal, 5) != 0) { db_test_skip("decobench-mkmodel not built"); return; }

    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *m = llama_model_load_from_file(model, mp);
    CHECK(m != NULL);
    if (!m) return;
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(m));
    const int mask_id = llama_vocab_mask(llama_model_get_vocab(m));
    llama_model_free(m);
    CHECK(causal || mask_id >= 0);

    point pt;
    fill_point(&pt, causal, n_vocab, mask_id, 11);
    if (ul != UL_OFF) {
        llama_token greedy[N_CTX];
        CHECK(!isnan(decode_loss(model, &pt, greedy)));
        const int from = ul == UL_SEQ ? 0 : 100, to = ul == UL_SEQ ? N_CTX : 180;
        for (int i = from; i < to; i++) pt.label[i] = i % 3 == 0 ? -1 : -2 - greedy[i];
        pt.ul_weight = 0.7f;
        pt.ul_context = ul == UL_MIXED;
    }
    const double loss0 = decode_loss(model, &pt, NULL);
    double opt_loss = NAN;
    CHECK_INT_EQ(sgd_steps(model, after, &pt, 1, 1.0f, &opt_loss), 0);
    /* the training graph computes the same loss as inference */
    CHECK_NEAR(opt_loss, loss0, 1e-4 * loss0);

    weights w0 = { 0 }, w1 = { 0 };
    CHECK_INT_EQ(load_weights(model, &w0), 0);
    CHECK_INT_EQ(load_weights(after, &w1), 0);
    if (!w0.g || !w1.g) { free_weights(&w0); free_weights(&w1); return; }

    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", model, pert);
    CHECK_INT_EQ(system(cmd), 0);
    int fd = open(pert, O_RDWR);
    CHECK(fd >= 0);
    const size_t data_off = gguf_get_data_offset(w0.g);

    static const char *const names[] = {
        "token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
        "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.1.attn_k.weight", "blk.1.ffn_gate.weight",
        "blk.1.ffn_up.weight", "blk.1.ffn_down.weight", "output_norm.weight", "output.weight",
    };
    for (size_t t = 0; t < sizeof names / sizeof names[0] && fd >= 0; t++) {
        int64_t n0 = 0, n1 = 0;
        const float *a = tensor_f32(&w0, names[t], &n0), *b = tensor_f32(&w1, names[t], &n1);
        CHECK_MSG(a && b && n0 == n1, "%s: missing or not F32", names[t]);
        if (!a || !b || n0 != n1) continue;
        /* the element with the largest gradient: it must be non-zero (the
         * tensor trains) and match finite differences */
        int64_t best = 0;
        for (int64_t i = 1; i < n0; i++)
            if (fabsf(a[i] - b[i]) > fabsf(a[best] - b[best])) best = i;
        const double g_bp = (double)a[best] - (double)b[best];
        const double eps = 1e-2 * (fabs(a[best]) > 0.1 ? fabs(a[best]) : 0.1);
        const off_t at = (off_t)(data_off + gguf_get_tensor_offset(w0.g, gguf_find_tensor(w0.g, names[t])) +
                                 (size_t)best * sizeof(float));
        float v = (float)(a[best] + eps);
        CHECK_INT_EQ(pwrite(fd, &v, sizeof v, at), (long long)sizeof v);
        const double lp = decode_loss(pert, &pt, NULL);
        v = (float)(a[best] - eps);
        CHECK_INT_EQ(pwrite(fd, &v, sizeof v, at), (long long)sizeof v);
        const double lm = decode_loss(pert, &pt, NULL);
        v = a[best];
        CHECK_INT_EQ(pwrite(fd, &v, sizeof v, at), (long long)sizeof v);
        const double g_fd = (lp - lm) / (2 * eps);
        CHECK_MSG(fabs(g_fd) > 1e-5, "%s: finite-difference gradient %.3g too small to test", names[t], g_fd);
        CHECK_MSG(fabs(g_bp - g_fd) <= 0.05 * fabs(g_fd),
                  "%s (%s) [%lld]: backprop gradient %.6g vs finite difference %.6g",
                  names[t], kind, (long long)best, g_bp, g_fd);
    }
    if (fd >= 0) close(fd);
    free_weights(&w0);
    free_weights(&w1);
}

static void test_train_gradient_causal(void) { check_gradients(true, UL_OFF); }
static void test_train_gradient_bidirectional(void) { check_gradients(false, UL_OFF); }
static void test_train_gradient_unlikelihood(void) { check_gradients(true, UL_MIXED); }
static void test_train_gradient_unlikelihood_sequence(void) { check_gradients(true, UL_SEQ); }

/* (b) k identical steps at a small learning rate move the weights k times
 * as far as one step (the gradient hardly changes over them). */
static void test_train_steps_do_not_accumulate(void) {
    char model[1024], out[1024];
    const char *dir = db_test_tmpdir();
    snprintf(model, sizeof model, "%s/acc.gguf", dir);
    if (make_model(model, true, 9) != 0) { db_test_skip("decobench-mkmodel not built"); return; }
    struct llama_model *m = llama_model_load_from_file(model, llama_model_default_params());
    CHECK(m != NULL);
    if (!m) return;
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(m));
    llama_model_free(m);
    point pt;
    fill_point(&pt, true, n_vocab, -1, 3);

    weights w0 = { 0 };
    CHECK_INT_EQ(load_weights(model, &w0), 0);
    double dist[4] = { 0 };
    for (int k = 1; k <= 3; k++) {
        double loss = 0;
        snprintf(out, sizeof out, "%s/acc-%d.gguf", dir, k);
        CHECK_INT_EQ(sgd_steps(model, out, &pt, k, 1e-4f, &loss), 0);
        weights wk = { 0 };
        CHECK_INT_EQ(load_weights(out, &wk), 0);
        int64_t n0 = 0, n1 = 0;
        const float *a = w0.g ? tensor_f32(&w0, "output.weight", &n0) : NULL;
        const float *b = wk.g ? tensor_f32(&wk, "output.weight", &n1) : NULL;
        if (a && b && n0 == n1) {
            double s = 0;
            for (int64_t i = 0; i < n0; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
            dist[k] = sqrt(s);
        }
        free_weights(&wk);
    }
    free_weights(&w0);
    CHECK(dist[1] > 0);
    /* 2.0 and 3.0 (summed gradients would give 3 and 6) */
    CHECK_NEAR(dist[2] / dist[1], 2.0, 0.1);
    CHECK_NEAR(dist[3] / dist[1], 3.0, 0.15);
}

/* (d) dst[i0,i1,i2,i3] = sum_k a[i0,k,i2/(ne2/a.ne2),i3] * b[i1,k,i2,i3],
 * checked against a double-precision triple loop.  Shapes: a = [n0, k,
 * a_batch], b = [n1, k, b_batch] (b_batch a multiple of a_batch); with
 * b_transposed, b is a transposed view of a [k, n1, b_batch] tensor; with
 * a_padded, a is a view of the first n0 of n0 + 5 columns (rows not
 * contiguous, as attention's per-head views are). */
static void check_out_prod(int64_t n0, int64_t n1, int64_t k, int64_t a_batch, int64_t b_batch,
                           bool a_padded, bool b_transposed, int n_threads) {
    struct ggml_init_params ip = { .mem_size = 64u << 20, .mem_buffer = NULL, .no_alloc = false };
    struct ggml_context *ctx = ggml_init(ip);
    CHECK(ctx != NULL);
    if (!ctx) return;
    struct ggml_tensor *a = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, n0 + (a_padded ? 5 : 0), k, a_batch);
    struct ggml_tensor *b = b_transposed
        ? ggml_new_tensor_3d(ctx, GGML_TYPE_F32, k, n1, b_batch)
        : ggml_new_tensor_3d(ctx, GGML_TYPE_F32, n1, k, b_batch);
    uint64_t state = 0x9e3779b97f4a7c15ull ^ (uint64_t)(n0 * 131 + n1 * 7 + k);
    struct ggml_tensor *src[2] = { a, b };
    for (int t = 0; t < 2; t++) {
        float *d = (float *)src[t]->data;
        for (int64_t i = 0; i < ggml_nelements(src[t]); i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            d[i] = (float)((double)(state >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
        }
    }
    struct ggml_tensor *av = a_padded ? ggml_view_3d(ctx, a, n0, k, a_batch, a->nb[1], a->nb[2], 0) : a;
    struct ggml_tensor *bv = b_transposed ? ggml_transpose(ctx, b) : b;
    struct ggml_tensor *out = ggml_out_prod(ctx, av, bv);
    struct ggml_cgraph *gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, out);
    CHECK_INT_EQ((int)ggml_graph_compute_with_ctx(ctx, gf, n_threads), (int)GGML_STATUS_SUCCESS);

    double worst = 0;
    for (int64_t i2 = 0; i2 < b_batch; i2++) {
        const int64_t ia2 = i2 / (b_batch / a_batch);
        for (int64_t i1 = 0; i1 < n1; i1++) {
            for (int64_t i0 = 0; i0 < n0; i0++) {
                double sum = 0, mag = 0;
                for (int64_t kk = 0; kk < k; kk++) {
                    const float x = *(const float *)((const char *)av->data + i0 * av->nb[0] + kk * av->nb[1] + ia2 * av->nb[2]);
                    const float y = *(const float *)((const char *)bv->data + i1 * bv->nb[0] + kk * bv->nb[1] + i2 * bv->nb[2]);
                    sum += (double)x * y;
                    mag += fabs((double)x * y);
                }
                const float got = *(const float *)((const char *)out->data + i0 * out->nb[0] + i1 * out->nb[1] + i2 * out->nb[2]);
                const double err = fabs(got - sum) / (mag + 1e-30);
                if (err > worst) worst = err;
            }
        }
    }
    CHECK_MSG(worst < 1e-5, "out_prod [%lld x %lld, k %lld, batches %lld/%lld%s%s, %d threads]: relative error %.3g",
              (long long)n0, (long long)n1, (long long)k, (long long)a_batch, (long long)b_batch,
              a_padded ? ", a padded" : "", b_transposed ? ", b transposed" : "", n_threads, worst);
    ggml_free(ctx);
}

static void test_out_prod_matches_brute_force(void) {
    for (int threads = 1; threads <= 2; threads++) {
        check_out_prod(48, 96, 64, 1, 1, false, false, threads);  /* whole blocks of 32 rows */
        check_out_prod(37, 70, 29, 1, 1, false, false, threads);  /* partial blocks, odd sizes */
        check_out_prod(20, 45, 48, 1, 1, false, true, threads);   /* b transposed (strided rows) */
        check_out_prod(16, 33, 24, 2, 4, false, false, threads);  /* batches, a broadcast 2x */
        check_out_prod(24, 10, 16, 3, 3, true, false, threads);   /* a padded: src0 copied */
        check_out_prod(1, 1, 1, 1, 1, false, false, threads);
    }
}

void suite_train(void) {
    llama_log_set(quiet_log, NULL);
    ggml_log_set(quiet_log, NULL);
    RUN(test_train_gradient_causal);
    RUN(test_train_gradient_bidirectional);
    RUN(test_train_gradient_unlikelihood);
    RUN(test_train_gradient_unlikelihood_sequence);
    RUN(test_train_steps_do_not_accumulate);
    RUN(test_out_prod_matches_brute_force);
}

#else

static void test_train_unavailable(void) {
    db_test_skip("llama.cpp without decobench's training patches (patches/llama.cpp)");
}

void suite_train(void) {
    RUN(test_train_unavailable);
}

#endif
