/* context_use.c — does a model use its context, i.e. its attention?
 *
 * A causal model (the default): next-token NLL and accuracy over 256-token
 * windows with causal attention, and again with attention made
 * bidirectional (llama_set_causal_attn(false)), so that every position also
 * sees the token it must predict.  A model whose predictions depend on
 * what its attention brings in changes markedly when its heads suddenly
 * also read positions they were never trained on.  Then the same tokens
 * (every 8th position from 64 on) scored with the context cut to the
 * previous 1, 4 and 16 tokens and with the whole window: a model that
 * uses its attention gains from the longer context, a bigram-like one
 * does not.
 *
 * A masked-diffusion GGUF (llama.attention.causal = false, a <|mask|>
 * token), over 256-token windows of the text:
 *  1. top-1 accuracy and mean NLL at masked positions for masking rates
 *     5%, 25%, 50% and 90% (masks drawn with a fixed seed; the mask token
 *     itself excluded, as decobench's diffusion engine never picks it), and
 *     the accuracy at unmasked positions (the copy the trainer also
 *     learns).  A model that uses context is far better at 5% masking (95%
 *     of the window visible) than at 90%;
 *  2. neighbour sensitivity: the L2 change of a position's logits when the
 *     three tokens around the middle of the window are replaced, for the
 *     masked middle position and for an unmasked position three to its left.
 * The README's diagnosis of the bundled models ("Bundled models") comes
 * from this.
 *
 * Usage: context_use --model GGUF --text FILE [--windows 24] [--threads 2]
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

#include "harness/util/rng.h"
#include "harness/util/util.h"

#define N_CTX 256

static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
    (void)level;
    (void)text;
    (void)user;
}

/* decode tok[0..n) at positions 0..n-1 of sequence 0 from an empty cache;
 * logits for every position, or for the last one only */
static int decode_from_start(struct llama_context *ctx, struct llama_batch *b, const llama_token *tok, int n,
                             bool all_logits) {
    b->n_tokens = n;
    for (int i = 0; i < n; i++) {
        b->token[i] = tok[i];
        b->pos[i] = i;
        b->n_seq_id[i] = 1;
        b->seq_id[i][0] = 0;
        b->logits[i] = all_logits || i == n - 1;
    }
    llama_memory_clear(llama_get_memory(ctx), true);
    return llama_decode(ctx, *b) == 0 ? 0 : -1;
}

/* one forward over the window `tok`; copies the logits of every position into out (N_CTX × n_vocab) */
static int forward(struct llama_context *ctx, struct llama_batch *b, const llama_token *tok, int n_vocab, float *out) {
    if (decode_from_start(ctx, b, tok, N_CTX, true) != 0) return -1;
    for (int i = 0; i < N_CTX; i++) memcpy(out + (size_t)i * n_vocab, llama_get_logits_ith(ctx, i), sizeof *out * (size_t)n_vocab);
    return 0;
}

/* argmax and log-probability of `want` over the vocabulary without the mask token */
static int score(const float *l, int n_vocab, int mask, llama_token want, double *logp) {
    int best = mask == 0 ? 1 : 0;
    for (int k = 0; k < n_vocab; k++)
        if (k != mask && l[k] > l[best]) best = k;
    double z = 0;
    for (int k = 0; k < n_vocab; k++)
        if (k != mask) z += exp((double)(l[k] - l[best]));
    *logp = (double)(l[want] - l[best]) - log(z);
    return best;
}

/* causal model: next-token NLL and accuracy with causal, then bidirectional attention */
static int causal_model_table(struct llama_context *ctx, struct llama_batch *b, const llama_token *tok, int n_windows,
                              int n_vocab, float *logits) {
    printf("| attention | scored tokens | next-token NLL (nats) | next-token accuracy |\n|---|--:|--:|--:|\n");
    for (int bidirectional = 0; bidirectional < 2; bidirectional++) {
        llama_set_causal_attn(ctx, !bidirectional);
        double nll = 0;
        long n = 0, hits = 0;
        for (int w = 0; w < n_windows; w++) {
            /* window w, scored against its next tokens (the text has n_windows*N_CTX + 1 tokens at least) */
            const llama_token *src = tok + (size_t)w * N_CTX;
            if (forward(ctx, b, src, n_vocab, logits) != 0) { fprintf(stderr, "context_use: llama_decode failed\n"); return -1; }
            for (int i = 0; i < N_CTX; i++) {
                double lp;
                const int best = score(logits + (size_t)i * n_vocab, n_vocab, -1, src[i + 1], &lp);
                nll -= lp;
                hits += best == src[i + 1];
                n++;
            }
        }
        printf("| %s | %ld | %.4f | %.4f |\n", bidirectional ? "bidirectional (sees the answer)" : "causal", n, nll / n,
               (double)hits / n);
    }
    return 0;
}

/* causal model: the same tokens scored with the context cut to the previous
 * k tokens (k = 1: a bigram model's view) and with the whole window before
 * them.  A model that uses attention gains from a longer context. */
static int causal_context_length_table(struct llama_context *ctx, struct llama_batch *b, const llama_token *tok,
                                       int n_windows, int n_vocab, float *logits) {
    static const int ks[] = { 1, 4, 16, 0 };   /* 0: the full window */
    printf("\n| context before the predicted token | scored tokens | next-token NLL (nats) | next-token accuracy |\n"
           "|---|--:|--:|--:|\n");
    llama_set_causal_attn(ctx, true);
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
        const int k = ks[ki];
        double nll = 0;
        long n = 0, hits = 0;
        for (int w = 0; w < n_windows; w++) {
            const llama_token *src = tok + (size_t)w * N_CTX;
            if (k == 0 && forward(ctx, b, src, n_vocab, logits) != 0) return -1;
            /* predicted positions 64, 72, ..., 248 of the window */
            for (int i = 63; i < N_CTX - 1; i += 8) {
                const float *l = logits + (size_t)i * n_vocab;
                if (k > 0) {
                    if (decode_from_start(ctx, b, src + i - k + 1, k, false) != 0) return -1;
                    l = llama_get_logits_ith(ctx, k - 1);
                }
                double lp;
                const int best = score(l, n_vocab, -1, src[i + 1], &lp);
                nll -= lp;
                hits += best == src[i + 1];
                n++;
            }
        }
        char label[64];
        if (k > 0) snprintf(label, sizeof label, "previous %d token%s", k, k == 1 ? " (a bigram model's view)" : "s");
        else snprintf(label, sizeof label, "the whole window (63-247 tokens)");
        printf("| %s | %ld | %.4f | %.4f |\n", label, n, nll / n, (double)hits / n);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL;
    int n_windows = 24, threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { fprintf(stderr, "context_use: %s needs a value\n", a); return 2; }
        if (strcmp(a, "--model") == 0) model_path = v;
        else if (strcmp(a, "--text") == 0) text_path = v;
        else if (strcmp(a, "--windows") == 0) n_windows = atoi(v);
        else if (strcmp(a, "--threads") == 0) threads = atoi(v);
        else { fprintf(stderr, "context_use: unknown option '%s'\n", a); return 2; }
        i++;
    }
    if (!model_path || !text_path || n_windows < 1 || threads < 1) {
        fprintf(stderr, "usage: context_use --model GGUF --text FILE [--windows 24] [--threads 2]\n");
        return 2;
    }
    size_t text_len = 0;
    char err[256];
    char *text = db_read_file(text_path, &text_len, err, sizeof err);
    if (!text) { fprintf(stderr, "context_use: %s\n", err); return 1; }

    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(model_path, mp);
    if (!model) { fprintf(stderr, "context_use: %s: cannot load the model\n", model_path); free(text); return 1; }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    const llama_token mask = llama_vocab_mask(vocab);
    /* llama.attention.causal (arch-prefixed); absent means causal */
    char arch[64] = "", key[128], val[16] = "";
    llama_model_meta_val_str(model, "general.architecture", arch, sizeof arch);
    snprintf(key, sizeof key, "%s.attention.causal", arch);
    const bool causal_model = llama_model_meta_val_str(model, key, val, sizeof val) < 0 || strcmp(val, "false") != 0;
    int rc = 1;
    struct llama_context *ctx = NULL;
    llama_token *tok = NULL;
    float *logits = NULL, *logits2 = NULL;
    struct llama_batch b = llama_batch_init(N_CTX, 0, 1);
    if (!causal_model && mask < 0) { fprintf(stderr, "context_use: %s: a bidirectional model without a mask token\n", model_path); goto done; }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = cp.n_ubatch = N_CTX;
    cp.n_threads = cp.n_threads_batch = threads;
    ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "context_use: %s: cannot create a context\n", model_path); goto done; }
    llama_set_causal_attn(ctx, false);

    const int cap = (int)text_len + 16;
    tok = malloc(sizeof *tok * (size_t)cap);
    logits = malloc(sizeof *logits * (size_t)N_CTX * (size_t)n_vocab);
    logits2 = malloc(sizeof *logits2 * (size_t)N_CTX * (size_t)n_vocab);
    if (!tok || !logits || !logits2) { fprintf(stderr, "context_use: out of memory\n"); goto done; }
    const int n_tok = llama_tokenize(vocab, text, (int32_t)text_len, tok, cap, false, false);
    if (n_tok < N_CTX + 1) { fprintf(stderr, "context_use: %s: fewer than %d tokens\n", text_path, N_CTX + 1); goto done; }
    if (n_windows > (n_tok - 1) / N_CTX) n_windows = (n_tok - 1) / N_CTX;

    printf("model %s (%s), text %s: %d windows of %d tokens\n\n", model_path,
           causal_model ? "causal" : "masked diffusion", text_path, n_windows, N_CTX);
    if (causal_model) {
        rc = causal_model_table(ctx, &b, tok, n_windows, n_vocab, logits) == 0 &&
             causal_context_length_table(ctx, &b, tok, n_windows, n_vocab, logits) == 0 ? 0 : 1;
        if (rc) fprintf(stderr, "context_use: llama_decode failed\n");
        goto done;
    }
    printf("| masked share | masked positions | accuracy at masked | NLL at masked (nats) | accuracy at unmasked (copy) |\n");
    printf("|--:|--:|--:|--:|--:|\n");
    const double rates[] = { 0.05, 0.25, 0.50, 0.90 };
    llama_token in[N_CTX];
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        long n_m = 0, hit_m = 0, n_u = 0, hit_u = 0;
        double nll = 0;
        for (int w = 0; w < n_windows; w++) {
            const llama_token *src = tok + (size_t)w * N_CTX;
            db_rng g = db_rng_make(0xD1FF, (uint64_t)w * 16 + r);
            bool masked[N_CTX];
            for (int i = 0; i < N_CTX; i++) {
                masked[i] = db_rng_uniform(&g) < rates[r];
                in[i] = masked[i] ? mask : src[i];
            }
            if (forward(ctx, &b, in, n_vocab, logits) != 0) { fprintf(stderr, "context_use: llama_decode failed\n"); goto done; }
            for (int i = 0; i < N_CTX; i++) {
                double lp;
                const int best = score(logits + (size_t)i * n_vocab, n_vocab, mask, src[i], &lp);
                if (masked[i]) { n_m++; hit_m += best == src[i]; nll -= lp; }
                else { n_u++; hit_u += best == src[i]; }
            }
        }
        printf("| %.0f%% | %ld | %.4f | %.3f | %.4f |\n", rates[r] * 100, n_m, n_m ? (double)hit_m / n_m : NAN,
               n_m ? nll / n_m : NAN, n_u ? (double)hit_u / n_u : NAN);
    }

    /* neighbour sensitivity, averaged over the windows */
    double d_masked = 0, d_unmasked = 0;
    const int mid = N_CTX / 2;
    for (int w = 0; w < n_windows; w++) {
        const llama_token *src = tok + (size_t)w * N_CTX;
        memcpy(in, src, sizeof in);
        in[mid] = mask;
        if (forward(ctx, &b, in, n_vocab, logits) != 0) { fprintf(stderr, "context_use: llama_decode failed\n"); goto done; }
        /* replace the neighbours by the tokens of the same offsets in another window */
        const llama_token *other = tok + (size_t)((w + 1) % n_windows) * N_CTX;
        in[mid - 2] = other[mid - 2];
        in[mid - 1] = other[mid - 1];
        in[mid + 1] = other[mid + 1];
        if (forward(ctx, &b, in, n_vocab, logits2) != 0) { fprintf(stderr, "context_use: llama_decode failed\n"); goto done; }
        const int probe[2] = { mid, mid - 3 };
        for (int p = 0; p < 2; p++) {
            double d = 0;
            const float *x = logits + (size_t)probe[p] * n_vocab, *y = logits2 + (size_t)probe[p] * n_vocab;
            for (int k = 0; k < n_vocab; k++) d += (double)(x[k] - y[k]) * (x[k] - y[k]);
            if (p == 0) d_masked += sqrt(d);
            else d_unmasked += sqrt(d);
        }
    }
    printf("\nneighbour sensitivity (L2 change of the logits when positions -2, -1, +1 around the\n"
           "window's middle are replaced; mean over %d windows): masked middle %.3f, unmasked position -3 %.3f\n",
           n_windows, d_masked / n_windows, d_unmasked / n_windows);
    rc = 0;
done:
    free(tok);
    free(logits);
    free(logits2);
    llama_batch_free(b);
    if (ctx) llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    free(text);
    return rc;
}
