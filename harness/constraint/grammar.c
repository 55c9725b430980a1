/* grammar.c — GBNF grammars through llama.cpp's grammar sampler
 * (llama_sampler_init_grammar / apply / accept / clone), for every model
 * backend (model.h, db_grammar_*) and for plain text (grammar.h).
 *
 * The sampler needs a llama_vocab.  The llama backend hands over its own;
 * for other backends (the analytic "exact" model) a vocabulary-only
 * llama.cpp model is built in memory from the backend's token pieces with
 * ggml's gguf API (SentencePiece type, pieces stored verbatim, BOS/EOS/MASK
 * as control tokens) and kept on the db_model.  Text is matched over a
 * byte-level vocabulary built the same way (256 byte tokens), once per
 * process.
 *
 * llama.cpp prints grammar syntax errors with fprintf(stderr); while a
 * grammar is parsed, stderr is pointed at a memory stream (glibc's stderr
 * is an assignable variable) so the error can be returned as one line.
 */
#include "config.h"
#include "grammar.h"
#include "harness/model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

#ifdef HAVE_LLAMA

#include <pthread.h>

#include "gguf.h"
#include "llama.h"

struct db_grammar {
    struct llama_sampler *smpl;
    const struct llama_vocab *vocab;
    int n_vocab;
    llama_token eog;            /* an end-of-generation token, LLAMA_TOKEN_NULL if none */
    llama_token_data *cand;     /* n_vocab scratch candidates */
};

/* ---- vocabulary-only models ---- */

/* A vocabulary-only llama.cpp model whose token t has piece pieces[t]
 * (NUL-terminated, distinct, non-empty) and type types[t]. */
static struct llama_model *vocab_model(const char **pieces, const int32_t *types, int n, int32_t bos,
                                       int32_t eos, int32_t mask, char *err, size_t errlen) {
    db_llama_init();
    struct gguf_context *g = gguf_init_empty();
    float *scores = calloc((size_t)n, sizeof *scores);
    if (!g || !scores) {
        if (g) gguf_free(g);
        free(scores);
        db_errf(err, errlen, "grammar vocabulary: out of memory");
        return NULL;
    }
    gguf_set_val_str(g, "general.architecture", "llama");
    gguf_set_val_str(g, "general.name", "decobench grammar vocabulary");
    gguf_set_val_str(g, "tokenizer.ggml.model", "llama");
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", pieces, (size_t)n);
    gguf_set_arr_data(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, (size_t)n);
    gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (size_t)n);
    if (bos >= 0) gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0) gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    if (mask >= 0) gguf_set_val_u32(g, "tokenizer.ggml.mask_token_id", (uint32_t)mask);
    gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", false);
    gguf_set_val_bool(g, "tokenizer.ggml.add_space_prefix", false);
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    struct llama_model *model = llama_model_init_from_user(g, NULL, NULL, mp);
    gguf_free(g);
    free(scores);
    if (!model) db_errf(err, errlen, "grammar vocabulary: llama.cpp could not load it");
    return model;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* the key of the vocabulary-only llama.cpp model this layer attaches to a
 * model handle (db_model_ext_set), freed by db_model_close */
static const char vocab_key;

static void vocab_model_free(void *model) { llama_model_free(model); }

/* The vocabulary of m: its backend's own, or one built from its pieces. */
static const struct llama_vocab *model_vocab(db_model *m, char *err, size_t errlen) {
    const void *own = db_model_llama_vocab(m);
    if (own) return own;
    struct llama_model *built = db_model_ext_get(m, &vocab_key);
    if (built) return llama_model_get_vocab(built);
    const int n = db_model_n_vocab(m);
    char **pieces = calloc((size_t)n, sizeof *pieces);
    char **sorted = calloc((size_t)n, sizeof *sorted);
    int32_t *types = calloc((size_t)n, sizeof *types);
    const struct llama_vocab *v = NULL;
    if (!pieces || !sorted || !types) {
        db_errf(err, errlen, "grammar vocabulary: out of memory");
        goto done;
    }
    const db_token bos = db_model_bos(m), eos = db_model_eos(m), mask = db_model_mask(m);
    for (int t = 0; t < n; t++) {
        char buf[256];
        int k = db_model_token_piece(m, t, buf, (int)sizeof buf - 1);
        if (k <= 0 || memchr(buf, 0, (size_t)k)) {
            db_errf(err, errlen, "%s backend: token %d has %s piece; grammars need distinct non-empty pieces",
                    db_model_backend_name(m), t, k <= 0 ? "an empty or overlong" : "a NUL byte in its");
            goto done;
        }
        buf[k] = 0;
        pieces[t] = db_strdup(buf);
        if (!pieces[t]) {
            db_errf(err, errlen, "grammar vocabulary: out of memory");
            goto done;
        }
        sorted[t] = pieces[t];
        types[t] = t == bos || t == eos || t == mask ? LLAMA_TOKEN_TYPE_CONTROL : LLAMA_TOKEN_TYPE_NORMAL;
    }
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
    for (int i = 1; i < n; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            db_errf(err, errlen, "%s backend: two tokens have the piece '%s'; grammars need distinct pieces",
                    db_model_backend_name(m), sorted[i]);
            goto done;
        }
    built = vocab_model((const char **)pieces, types, n, bos, eos, mask, err, errlen);
    if (built && db_model_ext_set(m, &vocab_key, built, vocab_model_free) != 0) {
        llama_model_free(built);
        built = NULL;
        db_errf(err, errlen, "grammar vocabulary: the model handle has no free extension slot");
    }
    if (built) v = llama_model_get_vocab(built);
done:
    if (pieces)
        for (int t = 0; t < n; t++) free(pieces[t]);
    free(pieces);
    free(sorted);
    free(types);
    return v;
}

/* ---- parsing ---- */

/* llama.cpp's reason for a failed parse, from what it printed: the text
 * after "error parsing grammar: ", else its first line without the
 * "function: " prefix. */
static void parse_failure(const char *printed, char *err, size_t errlen) {
    const char *why = printed ? strstr(printed, "error parsing grammar: ") : NULL;
    if (why) {
        why += strlen("error parsing grammar: ");
    } else if (printed && *printed) {
        why = printed;
        while (*why == '\n') why++;
        const char *colon = strstr(why, ": ");
        const char *nl = strchr(why, '\n');
        if (colon && (!nl || colon < nl)) why = colon + 2;
    }
    if (!why || !*why) why = "llama.cpp could not parse it";
    size_t n = strcspn(why, "\n");
    db_errf(err, errlen, "grammar: %.*s", (int)(n > 300 ? 300 : n), why);
}

static struct llama_sampler *parse_grammar(const struct llama_vocab *v, const char *gbnf, char *err,
                                           size_t errlen) {
    if (!gbnf || !*gbnf) {
        db_errf(err, errlen, "grammar: empty GBNF text");
        return NULL;
    }
    char *printed = NULL;
    size_t printed_len = 0;
    FILE *mem = open_memstream(&printed, &printed_len);
    FILE *saved = stderr;
    if (mem) {
        fflush(stderr);
        stderr = mem;
    }
    struct llama_sampler *s = llama_sampler_init_grammar(v, gbnf, "root");
    if (mem) {
        stderr = saved;
        fclose(mem);
    }
    if (!s) parse_failure(printed, err, errlen);
    free(printed);
    return s;
}

static db_grammar *grammar_wrap(struct llama_sampler *s, const struct llama_vocab *v) {
    db_grammar *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->smpl = s;
    g->vocab = v;
    g->n_vocab = llama_vocab_n_tokens(v);
    g->eog = llama_vocab_eos(v);
    if (g->eog == LLAMA_TOKEN_NULL) g->eog = llama_vocab_eot(v);
    g->cand = malloc(sizeof *g->cand * (size_t)g->n_vocab);
    if (!g->cand) {
        free(g);
        return NULL;
    }
    return g;
}

db_grammar *db_model_grammar_new(db_model *m, const char *gbnf, char *err, size_t errlen) {
    const struct llama_vocab *v = model_vocab(m, err, errlen);
    if (!v) return NULL;
    if (llama_vocab_n_tokens(v) != db_model_n_vocab(m)) {
        db_errf(err, errlen, "grammar: vocabulary of %d tokens for a model of %d", llama_vocab_n_tokens(v),
                db_model_n_vocab(m));
        return NULL;
    }
    struct llama_sampler *s = parse_grammar(v, gbnf, err, errlen);
    if (!s) return NULL;
    db_grammar *g = grammar_wrap(s, v);
    if (!g) {
        llama_sampler_free(s);
        db_errf(err, errlen, "grammar: out of memory");
    }
    return g;
}

/* ---- evaluation ---- */

int db_grammar_allowed(db_grammar *g, const db_token *cand, int n, uint8_t *ok) {
    int allowed = 0;
    for (int done = 0; done < n;) {
        int k = n - done < g->n_vocab ? n - done : g->n_vocab;
        for (int i = 0; i < k; i++) {
            db_token t = cand[done + i];
            g->cand[i].id = t >= 0 && t < g->n_vocab ? t : 0;
            g->cand[i].logit = t >= 0 && t < g->n_vocab ? 0.0f : -INFINITY;
            g->cand[i].p = 0.0f;
        }
        llama_token_data_array a = { g->cand, (size_t)k, -1, false };
        llama_sampler_apply(g->smpl, &a);
        for (int i = 0; i < k; i++) {
            ok[done + i] = g->cand[i].logit != -INFINITY;
            allowed += ok[done + i];
        }
        done += k;
    }
    return allowed;
}

int db_grammar_mask(db_grammar *g, float *logits) {
    for (int i = 0; i < g->n_vocab; i++) {
        g->cand[i].id = i;
        g->cand[i].logit = 0.0f;
        g->cand[i].p = 0.0f;
    }
    llama_token_data_array a = { g->cand, (size_t)g->n_vocab, -1, false };
    llama_sampler_apply(g->smpl, &a);
    int allowed = 0;
    for (int i = 0; i < g->n_vocab; i++) {
        if (g->cand[i].logit == -INFINITY) logits[i] = -INFINITY;
        else allowed++;
    }
    return allowed;
}

bool db_grammar_complete(db_grammar *g) {
    if (g->eog == LLAMA_TOKEN_NULL) return false;
    uint8_t ok = 0;
    db_token t = g->eog;
    db_grammar_allowed(g, &t, 1, &ok);
    return ok != 0;
}

int db_grammar_accept(db_grammar *g, db_token t) {
    uint8_t ok = 0;
    db_grammar_allowed(g, &t, 1, &ok);
    if (!ok) return -1;
    /* llama.cpp throws (and would abort through C) on a disallowed token;
     * the check above rules that out */
    llama_sampler_accept(g->smpl, t);
    return 0;
}

db_grammar *db_grammar_clone(const db_grammar *g) {
    struct llama_sampler *s = llama_sampler_clone(g->smpl);
    if (!s) return NULL;
    db_grammar *c = grammar_wrap(s, g->vocab);
    if (!c) llama_sampler_free(s);
    return c;
}

void db_grammar_free(db_grammar *g) {
    if (!g) return;
    llama_sampler_free(g->smpl);
    free(g->cand);
    free(g);
}

/* ---- text ---- */

#define BYTE_TOKEN0 3   /* tokens 0..2: <unk>, <s>, </s>; then bytes 0x00..0xff */

static pthread_once_t g_bytes_once = PTHREAD_ONCE_INIT;
static struct llama_model *g_bytes_model;
static char g_bytes_err[256];

static void build_byte_vocab(void) {
    enum { N = BYTE_TOKEN0 + 256 };
    char names[N][8];
    const char *pieces[N];
    int32_t types[N];
    snprintf(names[0], sizeof names[0], "<unk>");
    snprintf(names[1], sizeof names[1], "<s>");
    snprintf(names[2], sizeof names[2], "</s>");
    types[0] = LLAMA_TOKEN_TYPE_UNKNOWN;
    types[1] = types[2] = LLAMA_TOKEN_TYPE_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(names[BYTE_TOKEN0 + b], sizeof names[0], "<0x%02X>", b);
        types[BYTE_TOKEN0 + b] = LLAMA_TOKEN_TYPE_BYTE;
    }
    for (int i = 0; i < N; i++) pieces[i] = names[i];
    g_bytes_model = vocab_model(pieces, types, N, 1, 2, -1, g_bytes_err, sizeof g_bytes_err);
}

int db_gbnf_match(const char *gbnf, const char *text, size_t len, char *err, size_t errlen) {
    pthread_once(&g_bytes_once, build_byte_vocab);
    if (!g_bytes_model) return db_errf(err, errlen, "%s", g_bytes_err);
    const struct llama_vocab *v = llama_model_get_vocab(g_bytes_model);
    struct llama_sampler *s = parse_grammar(v, gbnf, err, errlen);
    if (!s) return -1;
    db_grammar *g = grammar_wrap(s, v);
    if (!g) {
        llama_sampler_free(s);
        return db_errf(err, errlen, "grammar: out of memory");
    }
    int r = DB_GBNF_PREFIX;
    for (size_t i = 0; i < len; i++)
        if (db_grammar_accept(g, BYTE_TOKEN0 + (unsigned char)text[i]) != 0) {
            r = DB_GBNF_NO;
            break;
        }
    if (r == DB_GBNF_PREFIX && db_grammar_complete(g)) r = DB_GBNF_COMPLETE;
    db_grammar_free(g);
    return r;
}

#else /* !HAVE_LLAMA */

db_grammar *db_model_grammar_new(db_model *m, const char *gbnf, char *err, size_t errlen) {
    (void)m;
    (void)gbnf;
    db_errf(err, errlen, "grammar: decobench was built without llama.cpp");
    return NULL;
}
int db_grammar_allowed(db_grammar *g, const db_token *cand, int n, uint8_t *ok) { (void)g; (void)cand; (void)n; (void)ok; return 0; }
int db_grammar_mask(db_grammar *g, float *logits) { (void)g; (void)logits; return 0; }
bool db_grammar_complete(db_grammar *g) { (void)g; return false; }
int db_grammar_accept(db_grammar *g, db_token t) { (void)g; (void)t; return -1; }
db_grammar *db_grammar_clone(const db_grammar *g) { (void)g; return NULL; }
void db_grammar_free(db_grammar *g) { (void)g; }
int db_gbnf_match(const char *gbnf, const char *text, size_t len, char *err, size_t errlen) {
    (void)gbnf; (void)text; (void)len;
    return db_errf(err, errlen, "grammar: decobench was built without llama.cpp");
}

#endif

int db_gbnf_check(const char *gbnf, const char *text, char *err, size_t errlen) {
    int r = db_gbnf_match(gbnf, text, strlen(text), err, errlen);
    return r < 0 ? -1 : r == DB_GBNF_COMPLETE;
}
