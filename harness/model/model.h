/* model.h — the one interface through which decoding engines reach a model.
 *
 * A model is an opaque handle over a backend.  Engines build batches of
 * (token, position, sequence ids, logits wanted), evaluate them, read back the
 * logits rows they asked for, and manage the KV cache by sequence and position
 * range.  Two backends implement it:
 *
 *   "llama"  llama.cpp (harness/model/model_llama.c): GGUF files, CPU or CUDA.
 *   "exact"  an analytic n-gram model (harness/model/model_exact.c) whose next-token
 *            distribution is known in closed form; tests use it as an oracle.
 *
 * All functions that can fail return 0 on success and a negative value on
 * failure, with a one-line reason retrievable by db_model_last_error().
 *
 * This header is the model layer's public face (docs/architecture.md); the
 * backend vtable and the handle's fields are private to harness/model/
 * (model_int.h), as SQLite keeps btreeInt.h beside btree.h.  Grammars bound
 * to a model's vocabulary are the constraint layer's (constraint/grammar.h).
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
    const char *rpc_servers; /* "host:port,host:port": ggml RPC servers (rpc-server) the layers go
                                to, as llama.cpp's --rpc does (n_gpu_layers of them, all when 0,
                                split by the servers' free memory); NULL: none */
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
    char desc[256];          /* e.g. "llama 17M F16"; with RPC servers their endpoints and the
                                layers offloaded: "llama 17M F16 · rpc 127.0.0.1:5001,... (9/9 layers)" */
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

/* --- build facts ------------------------------------------------------- */
/* llama.cpp commit decobench was built against ("" without llama.cpp). */
const char *db_llama_commit(void);
/* Silence (or not) llama.cpp's own logging on stderr. */
void db_llama_set_quiet(bool quiet);
/* Initialise llama.cpp's backends and logging once per process (the llama
 * backend and the grammar code call it; a no-op without llama.cpp). */
void db_llama_init(void);

/* --- extensions -------------------------------------------------------
 * Data a higher layer keeps per model handle (the grammar layer's
 * vocabulary model, say) without the model layer knowing its type.  key is
 * the address of a static object of the module that attaches the data, so
 * keys never collide; db_model_close calls free_fn(data) (when not NULL)
 * for every attached extension, the last attached first.                 */
#define DB_MODEL_EXT_SLOTS 4
/* Attach data under key (replacing, without freeing, what key held).
 * Returns 0, or -1 when all DB_MODEL_EXT_SLOTS slots are taken (m unchanged). */
int   db_model_ext_set(db_model *m, const void *key, void *data, void (*free_fn)(void *));
/* The data attached under key, NULL when none. */
void *db_model_ext_get(const db_model *m, const void *key);

/* --- backend facts for other layers ------------------------------------ */
/* The backend's name ("llama", "exact"). */
const char *db_model_backend_name(const db_model *m);
/* The backend's own llama.cpp vocabulary (a const struct llama_vocab *), or
 * NULL when it has none (the exact backend): the grammar layer then builds
 * one from the token pieces (harness/constraint/grammar.c). */
const void *db_model_llama_vocab(const db_model *m);

#ifdef __cplusplus
}
#endif
#endif
