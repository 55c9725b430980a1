/* model.h — the one interface through which decoding engines reach a model.
 *
 * A model is an opaque handle over a backend.  Engines build batches of
 * (token, position, sequence ids, logits wanted), evaluate them, read back the
 * logits rows they asked for, and manage the KV cache by sequence and position
 * range.  Two backends implement it:
 *
 *   "llama"  llama.cpp (harness/model_llama.c): GGUF files, CPU or CUDA.
 *   "exact"  an analytic n-gram model (harness/model_exact.c) whose next-token
 *            distribution is known in closed form; tests use it as an oracle.
 *
 * All functions that can fail return 0 on success and a negative value on
 * failure, with a one-line reason retrievable by db_model_last_error().
 */
#ifndef DECOBENCH_MODEL_H
#define DECOBENCH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t db_token;
#define DB_TOKEN_NULL (-1)

typedef struct db_model db_model;

typedef struct db_model_params {
    const char *backend;     /* "llama" (default) or "exact" */
    const char *path;        /* GGUF path for "llama"; ignored by "exact" */
    const char *exact_spec;  /* "exact" only: "vocab=64,order=2,seed=7,sharpness=3"; see model_exact.c */
    int n_threads;           /* decode threads; <= 0: backend default (all cores) */
    int n_threads_batch;     /* prompt-processing threads; <= 0: same as n_threads */
    int n_gpu_layers;        /* layers offloaded when built with CUDA; 0 = CPU only */
    int n_ctx;               /* KV-cache capacity in cells (all sequences together) */
    int n_batch;             /* largest batch db_model_decode accepts */
    int n_seq_max;           /* distinct sequence ids the cache may hold (>= 1) */
    bool kv_unified;         /* one KV buffer shared by all sequences (needed for tree drafts) */
} db_model_params;

db_model_params db_model_default_params(void);

/* Load a model.  On failure *out is NULL and err (if non-NULL) holds one line
 * naming the input and the problem. */
int  db_model_open(const db_model_params *params, db_model **out, char *err, size_t errlen);
void db_model_close(db_model *m);
const char *db_model_last_error(const db_model *m);

/* --- description ------------------------------------------------------- */
typedef struct db_model_info {
    const char *backend;     /* "llama" or "exact" */
    char desc[128];          /* e.g. "llama 17M F16" */
    uint64_t n_params;
    uint64_t size_bytes;     /* bytes of weights (what a decode step streams) */
    int n_layer;
    int n_embd;
    int n_ctx;
    int n_vocab;
    int n_ctx_train;         /* context length the model was trained with; 0 = unknown */
} db_model_info;

void db_model_get_info(const db_model *m, db_model_info *info);
int  db_model_n_vocab(const db_model *m);
db_token db_model_bos(const db_model *m);   /* DB_TOKEN_NULL when none */
db_token db_model_eos(const db_model *m);
db_token db_model_mask(const db_model *m);  /* diffusion mask token, DB_TOKEN_NULL when none */
bool db_model_is_eog(const db_model *m, db_token t);
bool db_model_add_bos(const db_model *m);   /* does tokenize(add_special) prepend BOS */

/* --- tokenizer ---------------------------------------------------------
 * db_model_tokenize returns the number of tokens written, or, when cap is too
 * small, minus the number needed.  add_special adds BOS as the model asks;
 * parse_special lets "<s>"-style text become special tokens.               */
int db_model_tokenize(const db_model *m, const char *text, size_t len, bool add_special,
                      bool parse_special, db_token *out, int cap);
/* Bytes of one token's piece (special tokens rendered); minus needed if cap too small. */
int db_model_token_piece(const db_model *m, db_token t, char *buf, int cap);
/* Detokenize a run of tokens; returns bytes written or minus needed. */
int db_model_detokenize(const db_model *m, const db_token *toks, int n, char *buf, int cap);

/* Format a conversation with the model's chat template (roles "system",
 * "user", "assistant"); add_assistant opens the assistant's turn.  Returns the
 * bytes written, minus the bytes needed when cap is too small, or INT32_MIN
 * when the model has no usable chat template (db_model_last_error says why). */
int db_model_chat_format(db_model *m, const char *const *roles, const char *const *contents, int n,
                         bool add_assistant, char *buf, int cap);

/* --- batches ----------------------------------------------------------- */
typedef struct db_batch {
    int n_tokens;
    int capacity;
    int n_seq_max;
    db_token *token;
    int32_t  *pos;
    int32_t  *n_seq_id;
    int32_t **seq_id;
    int8_t   *logits;   /* 1 = return a logits row for this entry */
} db_batch;

int  db_batch_init(db_batch *b, int capacity, int n_seq_max);
void db_batch_free(db_batch *b);
void db_batch_clear(db_batch *b);
/* Append one entry; returns its row index, or -1 when the batch is full. */
int  db_batch_add(db_batch *b, db_token t, int32_t pos, const int32_t *seq_ids, int n_seq, bool logits);
/* Shorthand for a single sequence id. */
int  db_batch_add1(db_batch *b, db_token t, int32_t pos, int32_t seq, bool logits);

/* Evaluate a batch: appends its entries to the KV cache of their sequences. */
int db_model_decode(db_model *m, const db_batch *b);
/* Logits row of batch entry i of the last decode (entry must have logits=1);
 * n_vocab floats, valid until the next decode.  NULL if i had no logits.    */
const float *db_model_logits(db_model *m, int i);

/* --- KV cache ---------------------------------------------------------- */
/* Remove positions [p0, p1) of sequence seq (seq < 0: all; p1 < 0: to the end). */
int  db_model_seq_rm(db_model *m, int32_t seq, int32_t p0, int32_t p1);
/* Make positions [p0, p1) of src also belong to dst. */
int  db_model_seq_cp(db_model *m, int32_t src, int32_t dst, int32_t p0, int32_t p1);
/* Drop every sequence but seq. */
int  db_model_seq_keep(db_model *m, int32_t seq);
/* Largest position held for seq, -1 when empty. */
int32_t db_model_seq_pos_max(db_model *m, int32_t seq);
/* Forget everything (KV cache, sampler-free state). */
void db_model_reset(db_model *m);
/* --- KV ledger (checks) -------------------------------------------------
 * An exact record, kept by this layer and off unless enabled, of the cells
 * put in the cache through the calls above: for every (sequence, position)
 * how many cells it holds and which token was decoded into it.  llama.cpp's
 * cache keeps no token ids, so this is how a test sees a wrong, missing,
 * stale or doubled cell at any distance from the end (logits change little
 * for cells far back).  It records what engines asked of the backend; that
 * the backend did it is checked by db_model_seq_pos_max agreeing.          */
/* Start recording for positions [0, n_pos) of sequences [0, n_seq); clears
 * the record (call on an empty cache, e.g. after db_model_reset).  0, or -1
 * with the model's error set when out of memory. */
int  db_model_kv_ledger_enable(db_model *m, int n_pos, int n_seq);
/* 0 when sequence seq holds exactly one cell at each position 0..n-1, with
 * history[pos] decoded into it, and nothing from n on, and the backend's
 * largest position for seq is n-1; otherwise -1 with one line in err naming
 * the sequence, the first position that differs and how.  -1 too when the
 * ledger is off or saw a position or sequence outside its range. */
int  db_model_kv_ledger_check(db_model *m, int32_t seq, const db_token *history, int n, char *err, size_t errlen);

/* Causal (default) or bidirectional attention for following decodes. */
int  db_model_set_causal(db_model *m, bool causal);
/* Thread counts for following decodes. */
void db_model_set_threads(db_model *m, int n_threads, int n_threads_batch);

/* --- grammars ----------------------------------------------------------
 * A GBNF grammar (llama.cpp syntax, root rule "root") bound to a model's
 * vocabulary, evaluated by llama.cpp's grammar sampler for every backend:
 * the llama backend uses its own vocabulary; other backends get a
 * vocabulary-only llama.cpp model built from their token pieces (pieces must
 * be distinct; BOS, EOS and MASK are control tokens).  A token is allowed
 * when the text so far plus its piece is a prefix of a sentence of the
 * grammar; an end-of-generation token is allowed only when the text so far
 * is a complete sentence.  Not thread-safe per db_grammar.               */
typedef struct db_grammar db_grammar;

/* Parse gbnf for m's vocabulary.  NULL on failure, with one line in err
 * naming the problem ("grammar: error parsing grammar: expecting ..."). */
db_grammar *db_model_grammar_new(db_model *m, const char *gbnf, char *err, size_t errlen);
/* Check n candidate tokens: ok[i] = 1 when cand[i] is allowed now.  Returns
 * the number allowed. */
int  db_grammar_allowed(db_grammar *g, const db_token *cand, int n, uint8_t *ok);
/* Mask a full-vocabulary logits row in place (-INFINITY for disallowed
 * tokens).  Returns the number of tokens left allowed. */
int  db_grammar_mask(db_grammar *g, float *logits);
/* Is the text accepted so far a complete sentence (end of generation allowed)? */
bool db_grammar_complete(db_grammar *g);
/* Advance by one allowed token (end-of-generation tokens leave the state as
 * it is).  Returns 0, or -1 when t is not allowed (state unchanged). */
int  db_grammar_accept(db_grammar *g, db_token t);
/* Independent copy of the current state; NULL when out of memory. */
db_grammar *db_grammar_clone(const db_grammar *g);
void db_grammar_free(db_grammar *g);

/* --- build facts ------------------------------------------------------- */
/* llama.cpp commit decobench was built against ("" without llama.cpp). */
const char *db_llama_commit(void);
/* Silence (or not) llama.cpp's own logging on stderr. */
void db_llama_set_quiet(bool quiet);
/* Initialise llama.cpp's backends and logging once per process (the llama
 * backend and the grammar code call it; a no-op without llama.cpp). */
void db_llama_init(void);

/* --- backend vtable (implementations only) ------------------------------ */
typedef struct db_model_backend {
    const char *name;
    int  (*open)(db_model *m, const db_model_params *p, char *err, size_t errlen);
    void (*close)(db_model *m);
    void (*get_info)(const db_model *m, db_model_info *info);
    db_token (*special)(const db_model *m, int which); /* 0 bos, 1 eos, 2 mask */
    bool (*is_eog)(const db_model *m, db_token t);
    bool (*add_bos)(const db_model *m);
    int  (*tokenize)(const db_model *m, const char *text, size_t len, bool add_special,
                     bool parse_special, db_token *out, int cap);
    int  (*token_piece)(const db_model *m, db_token t, char *buf, int cap);
    int  (*decode)(db_model *m, const db_batch *b);
    const float *(*logits)(db_model *m, int i);
    int  (*seq_rm)(db_model *m, int32_t seq, int32_t p0, int32_t p1);
    int  (*seq_cp)(db_model *m, int32_t src, int32_t dst, int32_t p0, int32_t p1);
    int  (*seq_keep)(db_model *m, int32_t seq);
    int32_t (*seq_pos_max)(db_model *m, int32_t seq);
    void (*reset)(db_model *m);
    int  (*set_causal)(db_model *m, bool causal);
    void (*set_threads)(db_model *m, int n_threads, int n_threads_batch);
    /* optional; NULL: no chat template */
    int  (*chat_format)(db_model *m, const char *const *roles, const char *const *contents, int n,
                        bool add_assistant, char *buf, int cap);
    /* optional; the backend's llama.cpp vocabulary (const struct llama_vocab *)
     * for grammars.  NULL: one is built from the token pieces (harness/grammar.c). */
    const void *(*llama_vocab)(const db_model *m);
} db_model_backend;

struct db_model {
    const db_model_backend *backend;
    void *impl;
    int n_vocab;
    char error[256];
    void *grammar_vocab;   /* vocabulary-only llama.cpp model built for grammars (harness/grammar.c) */
    void *kv_ledger;       /* db_model_kv_ledger_enable's record (harness/model.c), NULL when off */
};

/* Record a one-line error on m (printf-style); returns -1 for convenience. */
int db_model_fail(db_model *m, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Free m->grammar_vocab (harness/grammar.c; called by db_model_close). */
void db_model_grammar_vocab_free(db_model *m);

extern const db_model_backend db_backend_exact;
#ifdef HAVE_LLAMA
extern const db_model_backend db_backend_llama;
#endif

#ifdef __cplusplus
}
#endif
#endif
