/* test_llama.c — the llama.cpp backend on tiny random models written by
 * decobench-mkmodel: loading and model facts, the SentencePiece tokenizer,
 * input rejection, greedy identity with llama.cpp's llama-simple, KV-cache
 * rollback, batch-vs-incremental logits and tokens shared by sequences.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "test.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifdef HAVE_LLAMA

#include "engines/engine.h"
#include "harness/model/model.h"

#define N_PREDICT 24

static char g_model[1024];   /* default tiny model, built once */

/* Run a command, capture up to cap-1 bytes of stdout; returns exit status or -1. */
static int run_capture(const char *cmd, char *out, size_t cap, size_t *len) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = 0, k;
    char tmp[4096];
    while ((k = fread(tmp, 1, sizeof tmp, p)) > 0) {
        size_t c = k;
        if (n + c > cap - 1) c = cap - 1 - n;
        memcpy(out + n, tmp, c);
        n += c;
    }
    out[n] = 0;
    if (len) *len = n;
    int st = pclose(p);
    return st == -1 ? -1 : (WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static bool have_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Write a model with extra mkmodel options; stdout into out (may be NULL). */
static int mkmodel(const char *path, const char *opts, char *out, size_t cap) {
    char bin[1024], cmd[4096], buf[4096];
    snprintf(bin, sizeof bin, "%s/decobench-mkmodel", db_test_builddir());
    if (!have_file(bin)) return -2;
    snprintf(cmd, sizeof cmd, "'%s' --out '%s' %s 2>&1", bin, path, opts ? opts : "");
    int rc = run_capture(cmd, out ? out : buf, out ? cap : sizeof buf, NULL);
    if (rc != 0) printf("    mkmodel failed (%d): %s\n", rc, out ? out : buf);
    return rc;
}

static const char *tiny_model(void) {
    if (!g_model[0]) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tiny-llama.gguf", db_test_tmpdir());
        if (mkmodel(path, "--seed 42", NULL, 0) != 0) return NULL;
        snprintf(g_model, sizeof g_model, "%s", path);
    }
    return g_model;
}

static db_model *open_llama(const char *path, int n_ctx, int n_batch, int n_seq_max) {
    db_model_params p = db_model_default_params();
    p.backend = "llama";
    p.path = path;
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    p.n_seq_max = n_seq_max;
    p.kv_unified = true;
    p.n_threads = 2;
    db_model *m = NULL;
    char err[512] = "";
    if (db_model_open(&p, &m, err, sizeof err) != 0) {
        printf("    open %s: %s\n", path, err);
        return NULL;
    }
    return m;
}

#define NEED_MODEL(var) const char *var = tiny_model(); \
    if (!var) { db_test_skip("decobench-mkmodel not built"); return; }

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static double max_abs_diff(const float *a, const float *b, int n) {
    double d = 0;
    for (int i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (e > d) d = e;
    }
    return d;
}

/* ---- (a) mkmodel writes a loadable model with the requested shape ---- */
static void test_llama_mkmodel_info(void) {
    char path[1024], out[4096];
    snprintf(path, sizeof path, "%s/shape.gguf", db_test_tmpdir());
    int rc = mkmodel(path, "--n-embd 64 --n-layer 3 --n-head 4 --n-head-kv 2 --n-ff 96 --n-ctx 256 --seed 7",
                     out, sizeof out);
    if (rc == -2) { db_test_skip("decobench-mkmodel not built"); return; }
    CHECK_INT_EQ(rc, 0);
    unsigned long long n_params = 0;
    int n_vocab = 0;
    const char *s = strstr(out, "parameters: ");
    CHECK(s && sscanf(s, "parameters: %llu", &n_params) == 1);
    s = strstr(out, "vocab ");
    CHECK(s && sscanf(s, "vocab %d", &n_vocab) == 1);
    CHECK_CONTAINS(out, "file size: ");

    db_model *m = open_llama(path, 128, 64, 1);
    CHECK(m != NULL);
    if (!m) return;
    db_model_info info;
    db_model_get_info(m, &info);
    CHECK_STR_EQ(info.backend, "llama");
    CHECK_INT_EQ(info.n_layer, 3);
    CHECK_INT_EQ(info.n_embd, 64);
    CHECK_INT_EQ(info.n_vocab, n_vocab);
    CHECK(info.n_ctx >= 128);
    CHECK(n_vocab > 700);
    /* tok_embd + output + output_norm + per layer: 2 norms, q, k, v, o, 3 ffn */
    const long long E = 64, V = n_vocab, F = 96, KV = 64 / 4 * 2, Ly = 3;
    const long long expect = 2 * V * E + E + Ly * (2 * E + E * E * 2 + 2 * E * KV + 3 * E * F);
    CHECK_INT_EQ(n_params, expect);
    CHECK_INT_EQ(info.n_params, expect);
    CHECK_INT_EQ(info.size_bytes, expect * 4);
    CHECK(info.desc[0] != 0);
    CHECK_INT_EQ(db_model_bos(m), 1);
    CHECK_INT_EQ(db_model_eos(m), 2);
    CHECK_INT_EQ(db_model_mask(m), DB_TOKEN_NULL);
    CHECK(db_model_add_bos(m));
    CHECK(db_model_is_eog(m, 2));
    CHECK(!db_model_is_eog(m, 1));
    db_model_close(m);

    /* same seed: identical file; another seed: different weights */
    char p2[1024], p3[1024], cmd[4096];
    snprintf(p2, sizeof p2, "%s/shape2.gguf", db_test_tmpdir());
    snprintf(p3, sizeof p3, "%s/shape3.gguf", db_test_tmpdir());
    const char *o = "--n-embd 64 --n-layer 3 --n-head 4 --n-head-kv 2 --n-ff 96 --n-ctx 256";
    char o7[512], o8[512];
    snprintf(o7, sizeof o7, "%s --seed 7", o);
    snprintf(o8, sizeof o8, "%s --seed 8", o);
    CHECK_INT_EQ(mkmodel(p2, o7, NULL, 0), 0);
    CHECK_INT_EQ(mkmodel(p3, o8, NULL, 0), 0);
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", path, p2);
    CHECK_INT_EQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", path, p3);
    CHECK(system(cmd) != 0);

    /* f16, mask token, bidirectional attention */
    snprintf(p2, sizeof p2, "%s/mask.gguf", db_test_tmpdir());
    CHECK_INT_EQ(mkmodel(p2, "--type f16 --mask-token --no-causal --seed 3", NULL, 0), 0);
    m = open_llama(p2, 128, 64, 1);
    CHECK(m != NULL);
    if (m) {
        db_model_get_info(m, &info);
        db_token mk = db_model_mask(m);
        CHECK_INT_EQ(mk, info.n_vocab - 1);
        char piece[64];
        int k = db_model_token_piece(m, mk, piece, (int)sizeof piece - 1);
        CHECK(k > 0);
        if (k > 0) { piece[k] = 0; CHECK_STR_EQ(piece, "<|mask|>"); }
        CHECK(info.size_bytes < (uint64_t)info.n_params * 3);  /* 2-D weights in F16 */
        db_model_close(m);
    }

    /* bad options: one line naming the option */
    snprintf(cmd, sizeof cmd, "'%s/decobench-mkmodel' --out '%s/x.gguf' --n-embd 65 --n-head 4 2>&1",
             db_test_builddir(), db_test_tmpdir());
    CHECK(run_capture(cmd, out, sizeof out, NULL) != 0);
    CHECK_CONTAINS(out, "n_embd 65");
    snprintf(cmd, sizeof cmd, "'%s/decobench-mkmodel' --n-layer 2 2>&1", db_test_builddir());
    CHECK(run_capture(cmd, out, sizeof out, NULL) != 0);
    CHECK_CONTAINS(out, "--out");
}

/* ---- (b) tokenizer round trips ---- */
static void test_llama_tokenizer(void) {
    NEED_MODEL(path);
    db_model *m = open_llama(path, 128, 64, 1);
    CHECK(m != NULL);
    if (!m) return;
    static const char *const texts[] = {
        "Hello world",
        "The quick brown fox jumps over the lazy dog.",
        "Once upon a time, there was a little house near the water!",
        "na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x99\x82",
        "tabs\tand\nnewlines,  double  spaces 12345",
        "x",
    };
    db_token toks[512];
    char buf[1024], want[1024];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *t = texts[i];
        int n = db_model_tokenize(m, t, strlen(t), false, false, toks, 512);
        CHECK_MSG(n > 0, "tokenize \"%s\" -> %d", t, n);
        if (n <= 0) continue;
        int k = db_model_detokenize(m, toks, n, buf, (int)sizeof buf - 1);
        CHECK(k > 0);
        if (k <= 0) continue;
        buf[k] = 0;
        /* SentencePiece adds one leading space ("▁") and keeps every byte */
        snprintf(want, sizeof want, " %s", t);
        CHECK_MSG(k == (int)strlen(want) && memcmp(buf, want, (size_t)k) == 0,
                  "round trip of \"%s\" gave \"%s\"", t, buf);
        /* with specials: BOS first, then the same tokens */
        db_token t2[513];
        int n2 = db_model_tokenize(m, t, strlen(t), true, false, t2, 513);
        CHECK_INT_EQ(n2, n + 1);
        CHECK_INT_EQ(t2[0], db_model_bos(m));
        CHECK(n2 == n + 1 && memcmp(t2 + 1, toks, sizeof(db_token) * (size_t)n) == 0);
        /* too small: minus the count needed */
        if (n > 1) CHECK_INT_EQ(db_model_tokenize(m, t, strlen(t), false, false, toks, 1), -n);
    }
    /* whole words are single tokens; unknown characters use byte tokens */
    int n = db_model_tokenize(m, "the", 3, false, false, toks, 8);
    CHECK_INT_EQ(n, 1);
    const char *jp = "\xe6\x97\xa5";
    n = db_model_tokenize(m, jp, strlen(jp), false, false, toks, 8);
    CHECK_INT_EQ(n, 4);  /* "▁" + three byte tokens */
    for (int i = 1; i < n && i < 8; i++) CHECK(toks[i] >= 3 && toks[i] < 3 + 256);
    /* parse_special turns "<s>" into BOS */
    n = db_model_tokenize(m, "<s>hi", 5, false, true, toks, 8);
    CHECK(n >= 2 && toks[0] == 1);
    /* token_piece: minus needed when cap too small */
    char small[2];
    CHECK_INT_EQ(db_model_token_piece(m, 1, small, 2), -3);  /* "<s>" */
    db_model_close(m);
}

/* ---- (c) rejected inputs ---- */
static void test_llama_rejects(void) {
    char path[1024], err[512];
    db_model_params p = db_model_default_params();
    p.backend = "llama";
    db_model *m = NULL;

    snprintf(path, sizeof path, "%s/does-not-exist.gguf", db_test_tmpdir());
    p.path = path;
    err[0] = 0;
    CHECK(db_model_open(&p, &m, err, sizeof err) != 0);
    CHECK(m == NULL);
    CHECK_CONTAINS(err, path);
    CHECK_CONTAINS(err, "No such file or directory");
    CHECK(strchr(err, '\n') == NULL);

    snprintf(path, sizeof path, "%s/text.gguf", db_test_tmpdir());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) { fputs("this is not a model\n", f); fclose(f); }
    err[0] = 0;
    CHECK(db_model_open(&p, &m, err, sizeof err) != 0);
    CHECK(m == NULL);
    CHECK_CONTAINS(err, path);
    CHECK_CONTAINS(err, "not a GGUF file");
    CHECK(strchr(err, '\n') == NULL);

    snprintf(path, sizeof path, "%s/empty.gguf", db_test_tmpdir());
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    err[0] = 0;
    CHECK(db_model_open(&p, &m, err, sizeof err) != 0);
    CHECK(m == NULL);
    CHECK_CONTAINS(err, path);
    CHECK_CONTAINS(err, "not a GGUF file");

    /* GGUF magic but truncated: llama.cpp's refusal, still one line */
    snprintf(path, sizeof path, "%s/trunc.gguf", db_test_tmpdir());
    f = fopen(path, "wb");
    if (f) { fwrite("GGUF\x03\x00\x00\x00", 1, 8, f); fclose(f); }
    err[0] = 0;
    CHECK(db_model_open(&p, &m, err, sizeof err) != 0);
    CHECK(m == NULL);
    CHECK_CONTAINS(err, path);
    CHECK(strchr(err, '\n') == NULL);

    p.path = NULL;
    err[0] = 0;
    CHECK(db_model_open(&p, &m, err, sizeof err) != 0);
    CHECK(err[0] != 0);
}

/* ---- (d) greedy identity with llama.cpp's llama-simple ---- */
static int append_piece(db_model *m, db_token t, char *buf, size_t cap, size_t *len) {
    char piece[256];
    int k = db_model_token_piece(m, t, piece, (int)sizeof piece);
    if (k < 0 || *len + (size_t)k >= cap) return -1;
    memcpy(buf + *len, piece, (size_t)k);
    *len += (size_t)k;
    buf[*len] = 0;
    return 0;
}

static void test_llama_greedy_vs_llama_simple(void) {
    NEED_MODEL(path);
    char bin[1024];
    const char *dir = getenv("DB_LLAMA_BINDIR");
    if (dir && *dir) snprintf(bin, sizeof bin, "%s/llama-simple", dir);
    else snprintf(bin, sizeof bin, "%s/.deps/llama/bin/llama-simple", db_test_srcdir());
    if (!have_file(bin)) { db_test_skip("llama-simple not found (set DB_LLAMA_BINDIR)"); return; }
    const db_engine *ar = db_engine_find("ar");
    CHECK(ar != NULL);

    static const char *const prompts[] = {
        "Hello my name is",
        "Once upon a time there was a little",
        "The world \xe6\x97\xa5\xe6\x9c\xac 42, said the man.",
    };
    db_model *m = open_llama(path, 256, 64, 1);
    CHECK(m != NULL);
    if (!m) return;
    const int n_vocab = db_model_n_vocab(m);
    int total_tokens = 0;
    for (size_t pi = 0; pi < sizeof prompts / sizeof prompts[0]; pi++) {
        const char *prompt = prompts[pi];
        char cmd[4096];
        static char ref[65536], mine[65536], eng[65536];
        size_t ref_len = 0;
        snprintf(cmd, sizeof cmd, "'%s' -m '%s' -n %d '%s' 2>/dev/null", bin, path, N_PREDICT, prompt);
        int rc = run_capture(cmd, ref, sizeof ref, &ref_len);
        CHECK_MSG(rc == 0, "llama-simple exited with %d for \"%s\"", rc, prompt);
        if (rc != 0) continue;

        db_token toks[256];
        int n = db_model_tokenize(m, prompt, strlen(prompt), true, true, toks, 200);
        CHECK(n > 1);
        if (n <= 1) continue;

        /* our own greedy loop: prompt in one batch, then one token per decode */
        size_t len = 0;
        mine[0] = 0;
        for (int i = 0; i < n; i++) append_piece(m, toks[i], mine, sizeof mine, &len);
        db_model_reset(m);
        db_batch b;
        db_batch_init(&b, 64, 1);
        for (int i = 0; i < n; i++) db_batch_add1(&b, toks[i], i, 0, i == n - 1);
        int pos = n, n_gen = 0;
        for (int step = 0; step < N_PREDICT; step++) {
            if (db_model_decode(m, &b) != 0) {
                CHECK_MSG(0, "decode: %s", db_model_last_error(m));
                break;
            }
            const float *lg = db_model_logits(m, b.n_tokens - 1);
            CHECK(lg != NULL);
            if (!lg) break;
            db_token t = argmax(lg, n_vocab);
            if (db_model_is_eog(m, t)) break;
            append_piece(m, t, mine, sizeof mine, &len);
            n_gen++;
            db_batch_clear(&b);
            db_batch_add1(&b, t, pos++, 0, true);
        }
        db_batch_free(&b);
        mine[len++] = '\n';
        mine[len] = 0;
        total_tokens += n_gen;
        CHECK_MSG(ref_len == len && memcmp(ref, mine, len) == 0,
                  "prompt %zu: llama-simple \"%s\" vs greedy loop \"%s\"", pi, ref, mine);

        /* the ar engine in greedy mode */
        if (!ar) continue;
        db_params prm;
        db_params_defaults(&prm, ar->params, ar->n_params);
        char err[256] = "";
        CHECK_INT_EQ(db_params_set(&prm, "mode", "greedy", err, sizeof err), 0);
        db_event_log log;
        db_event_log_init(&log);
        db_event_log_start(&log);
        db_model_reset(m);
        db_gen_request req = { .target = m, .draft = NULL, .prompt = toks, .n_prompt = n,
                               .max_new_tokens = N_PREDICT, .stop_at_eog = true, .seed = 1,
                               .params = &prm, .events = &log, .cancel = NULL };
        db_gen_output out = { 0 };
        rc = ar->generate(&req, &out, err, sizeof err);
        CHECK_MSG(rc == 0, "ar: %s", err);
        size_t el = 0;
        eng[0] = 0;
        for (int i = 0; i < n; i++) append_piece(m, toks[i], eng, sizeof eng, &el);
        for (int i = 0; i < out.n_tokens; i++) append_piece(m, out.tokens[i], eng, sizeof eng, &el);
        eng[el++] = '\n';
        eng[el] = 0;
        CHECK_MSG(ref_len == el && memcmp(ref, eng, el) == 0,
                  "prompt %zu: llama-simple \"%s\" vs ar \"%s\"", pi, ref, eng);
        db_output_free(&out);
        db_event_log_free(&log);
    }
    printf("    greedy: 3 prompts, %d generated tokens identical to llama-simple\n", total_tokens);
    db_model_close(m);
}

/* ---- (e) KV rollback ---- */
static int decode_run(db_model *m, const db_token *t, int n, int pos0, int seq, bool logits_last) {
    db_batch b;
    if (db_batch_init(&b, n, 1) != 0) return -1;
    for (int i = 0; i < n; i++) db_batch_add1(&b, t[i], pos0 + i, seq, logits_last && i == n - 1);
    int rc = db_model_decode(m, &b);
    db_batch_free(&b);
    return rc;
}

static void test_llama_kv_rollback(void) {
    NEED_MODEL(path);
    db_model *m = open_llama(path, 256, 64, 2);
    db_model *fresh = open_llama(path, 256, 64, 2);
    CHECK(m && fresh);
    if (!m || !fresh) { db_model_close(m); db_model_close(fresh); return; }
    const int V = db_model_n_vocab(m);
    db_token prompt[64];
    const char *text = "Once upon a time there was";
    int np = db_model_tokenize(m, text, strlen(text), true, false, prompt, 64);
    CHECK(np > 2);
    const db_token extra[6] = { 300, 301, 402, 503, 604, 705 };
    const db_token alt[3] = { 350, 451, 552 };

    CHECK_INT_EQ(db_model_seq_pos_max(m, 0), -1);
    CHECK_INT_EQ(decode_run(m, prompt, np, 0, 0, true), 0);
    CHECK_INT_EQ(decode_run(m, extra, 6, np, 0, true), 0);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 0), np + 5);
    /* drop the last 3 positions and continue differently */
    CHECK_INT_EQ(db_model_seq_rm(m, 0, np + 3, -1), 0);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 0), np + 2);
    CHECK_INT_EQ(decode_run(m, alt, 3, np + 3, 0, true), 0);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 0), np + 5);
    const float *a = db_model_logits(m, 2);
    CHECK(db_model_logits(m, 0) == NULL);   /* no logits asked for row 0 */
    CHECK(db_model_logits(m, 3) == NULL);   /* outside the last batch */

    /* the same sequence from scratch */
    CHECK_INT_EQ(decode_run(fresh, prompt, np, 0, 0, true), 0);
    CHECK_INT_EQ(decode_run(fresh, extra, 3, np, 0, true), 0);
    CHECK_INT_EQ(decode_run(fresh, alt, 3, np + 3, 0, true), 0);
    const float *b = db_model_logits(fresh, 2);
    CHECK(a && b);
    if (a && b) {
        double d = max_abs_diff(a, b, V);
        printf("    rollback vs fresh: max |dlogit| = %.3g\n", d);
        CHECK_MSG(d < 1e-4, "rollback logits differ by %g", d);
    }

    /* seq_cp / seq_keep: a fork continues exactly like the original */
    const int n0 = np + 6;
    CHECK_INT_EQ(db_model_seq_cp(m, 0, 1, -1, -1), 0);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 1), n0 - 1);
    const db_token nxt = 123;
    CHECK_INT_EQ(decode_run(m, &nxt, 1, n0, 1, true), 0);
    float *l1 = malloc(sizeof(float) * (size_t)V);
    const float *lp = db_model_logits(m, 0);
    CHECK(lp != NULL);
    if (l1 && lp) memcpy(l1, lp, sizeof(float) * (size_t)V);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 1), n0);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 0), n0 - 1);
    CHECK_INT_EQ(decode_run(m, &nxt, 1, n0, 0, true), 0);
    lp = db_model_logits(m, 0);
    if (l1 && lp) {
        double d = max_abs_diff(l1, lp, V);
        CHECK_MSG(d < 1e-4, "forked sequence logits differ by %g", d);
    }
    CHECK_INT_EQ(db_model_seq_keep(m, 1), 0);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 0), -1);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 1), n0);
    CHECK_INT_EQ(db_model_seq_rm(m, -1, -1, -1), 0);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 1), -1);
    CHECK(db_model_seq_cp(m, 0, 5, -1, -1) != 0);  /* seq id out of range */
    CHECK_CONTAINS(db_model_last_error(m), "5");
    db_model_reset(m);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 0), -1);
    CHECK_INT_EQ(db_model_set_causal(m, true), 0);
    db_model_set_threads(m, 1, 1);
    free(l1);
    db_model_close(m);
    db_model_close(fresh);
}

/* ---- (f) a token inside a batch vs the same token decoded incrementally ---- */
static void test_llama_batch_vs_incremental(void) {
    NEED_MODEL(path);
    db_model *m = open_llama(path, 256, 64, 1);
    CHECK(m != NULL);
    if (!m) return;
    const int V = db_model_n_vocab(m);
    enum { N = 16 };
    db_token t[N];
    const char *text = "The quick brown fox jumps over the lazy dog and the cat";
    db_token all[64];
    int n = db_model_tokenize(m, text, strlen(text), true, false, all, 64);
    CHECK(n >= 4);
    for (int i = 0; i < N; i++) t[i] = i < n ? all[i] : (db_token)(300 + 7 * i);
    n = N;
    float *batch_logits = malloc(sizeof(float) * (size_t)V * N);
    CHECK(batch_logits != NULL);
    if (!batch_logits) { db_model_close(m); return; }

    db_batch b;
    db_batch_init(&b, N, 1);
    for (int i = 0; i < n; i++) db_batch_add1(&b, t[i], i, 0, true);
    CHECK_INT_EQ(db_model_decode(m, &b), 0);
    for (int i = 0; i < n; i++) {
        const float *l = db_model_logits(m, i);
        CHECK(l != NULL);
        if (l) memcpy(batch_logits + (size_t)i * V, l, sizeof(float) * (size_t)V);
    }
    db_model_reset(m);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        db_batch_clear(&b);
        db_batch_add1(&b, t[i], i, 0, true);
        CHECK_INT_EQ(db_model_decode(m, &b), 0);
        const float *l = db_model_logits(m, 0);
        CHECK(l != NULL);
        if (!l) break;
        double d = max_abs_diff(l, batch_logits + (size_t)i * V, V);
        if (d > worst) worst = d;
        CHECK_INT_EQ(argmax(l, V), argmax(batch_logits + (size_t)i * V, V));
    }
    printf("    batch vs incremental (%d tokens): max |dlogit| = %.3g\n", n, worst);
    CHECK_MSG(worst < 1e-3, "batch vs incremental logits differ by %g", worst);
    db_batch_free(&b);
    free(batch_logits);
    db_model_close(m);
}

/* ---- (g) tokens shared by several sequences (patches/llama.cpp 0006) ----
 * A prompt decoded once for sequences 1 and 2 together forks exactly like a
 * prompt decoded alone, and llama.cpp still refuses a batch that couples two
 * sequences whose cached positions have diverged (the check 0006 narrows to
 * the batch's own sequences). */
static void test_llama_coupled_sequences(void) {
    NEED_MODEL(path);
    db_model *m = open_llama(path, 256, 64, 4);
    db_model *alone = open_llama(path, 256, 64, 1);
    CHECK(m && alone);
    if (!m || !alone) { db_model_close(m); db_model_close(alone); return; }
    const int V = db_model_n_vocab(m);
    db_token prompt[64];
    const char *text = "Once upon a time there was";
    int np = db_model_tokenize(m, text, strlen(text), true, false, prompt, 64);
    CHECK(np > 4);
    if (np <= 4) { db_model_close(m); db_model_close(alone); return; }

    /* the prompt once, in sequences 1 and 2; then token 321 in each alone */
    const int32_t both[2] = { 1, 2 };
    db_batch b;
    db_batch_init(&b, 64, 4);
    for (int i = 0; i < np; i++) db_batch_add(&b, prompt[i], i, both, 2, false);
    CHECK_INT_EQ(db_model_decode(m, &b), 0);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 1), np - 1);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 2), np - 1);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 0), -1);
    const db_token nxt = 321;
    CHECK_INT_EQ(decode_run(alone, prompt, np, 0, 0, false), 0);
    CHECK_INT_EQ(decode_run(alone, &nxt, 1, np, 0, true), 0);
    const float *ref = db_model_logits(alone, 0);
    for (int s = 1; s <= 2; s++) {
        CHECK_INT_EQ(decode_run(m, &nxt, 1, np, s, true), 0);
        const float *l = db_model_logits(m, 0);
        CHECK(l && ref);
        if (l && ref) {
            double d = max_abs_diff(l, ref, V);
            CHECK_MSG(d < 1e-4, "sequence %d after a shared prompt differs from the prompt alone by %g", s, d);
        }
    }

    /* coupled again, still at the same positions: accepted */
    db_batch_clear(&b);
    db_batch_add(&b, 400, np + 1, both, 2, true);
    CHECK_INT_EQ(db_model_decode(m, &b), 0);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 2), np + 1);
    /* sequence 2 loses its first 3 positions: each sequence on its own
     * still continues at np + 2, but coupled they have diverged */
    CHECK_INT_EQ(db_model_seq_rm(m, 2, 0, 3), 0);
    db_batch_clear(&b);
    db_batch_add(&b, 401, np + 2, both, 2, true);
    CHECK(db_model_decode(m, &b) != 0);
    CHECK_CONTAINS(db_model_last_error(m), "coupled");
    /* either sequence alone is fine */
    CHECK_INT_EQ(decode_run(m, &nxt, 1, np + 2, 1, true), 0);
    CHECK_INT_EQ(decode_run(m, &nxt, 1, np + 2, 2, true), 0);
    db_batch_free(&b);
    db_model_close(m);
    db_model_close(alone);
}

static void test_llama_build_facts(void) {
    CHECK(db_llama_commit()[0] != 0);
}

void suite_llama(void) {
    db_llama_set_quiet(true);
    RUN(test_llama_build_facts);
    RUN(test_llama_mkmodel_info);
    RUN(test_llama_tokenizer);
    RUN(test_llama_rejects);
    RUN(test_llama_greedy_vs_llama_simple);
    RUN(test_llama_kv_rollback);
    RUN(test_llama_batch_vs_incremental);
    RUN(test_llama_coupled_sequences);
}

#else /* !HAVE_LLAMA */

static void test_llama_unavailable(void) {
    db_test_skip("built without llama.cpp");
}

void suite_llama(void) {
    RUN(test_llama_unavailable);
}

#endif
