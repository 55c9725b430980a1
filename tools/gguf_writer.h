/* gguf_writer.h — write a llama-architecture GGUF (hyperparameters, a
 * tokenizer vocabulary and dense weights) with ggml's gguf API.
 *
 * The weights come from a callback, so the same writer serves
 * decobench-mkmodel (random initialisation) and a trainer (learned weights,
 * possibly a BPE vocabulary with merges).
 */
#ifndef DECOBENCH_GGUF_WRITER_H
#define DECOBENCH_GGUF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* llama.cpp token types (tokenizer.ggml.token_type) */
enum {
    DB_TOKTYPE_NORMAL = 1,
    DB_TOKTYPE_UNKNOWN = 2,
    DB_TOKTYPE_CONTROL = 3,
    DB_TOKTYPE_USER_DEFINED = 4,
    DB_TOKTYPE_UNUSED = 5,
    DB_TOKTYPE_BYTE = 6,
};

typedef struct db_gguf_vocab {
    int n;                    /* number of tokens */
    const char *const *piece; /* n pieces (UTF-8, SentencePiece "▁" for space in SPM) */
    const float *score;       /* n scores (may be NULL: all 0) */
    const int32_t *type;      /* n token types (may be NULL: all normal) */
    const char *model;        /* tokenizer.ggml.model: "llama" (SPM) or "gpt2" (BPE) */
    const char *pre;          /* tokenizer.ggml.pre, NULL: not written */
    const char *const *merges;/* BPE merges "a b", NULL for SPM */
    int n_merges;
    int32_t bos, eos, unk, pad, mask;  /* ids, -1: not written */
    bool add_bos, add_eos;
    bool no_space_prefix;     /* true: write tokenizer.ggml.add_space_prefix = false, so
                                 SPM tokenize -> detokenize returns the input bytes
                                 (false: key not written, llama.cpp's default applies) */
    const char *chat_template; /* tokenizer.chat_template (Jinja text or a llama.cpp template
                                  name such as "chatml"); NULL: none */
} db_gguf_vocab;

typedef struct db_gguf_hparams {
    const char *name;         /* general.name */
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rms_eps;            /* e.g. 1e-5 */
    float rope_freq_base;     /* e.g. 10000 */
    bool causal;              /* false: writes llama.attention.causal = false */
    bool f16;                 /* 2-D weights as F16 (norms stay F32) */
} db_gguf_hparams;

/* Fill one tensor's values in ggml order: dst[i1 * ne0 + i0], ne1 == 1 for
 * vectors.  index counts tensors in writing order.  Return 0, or -1 to abort. */
typedef int (*db_gguf_fill_fn)(void *user, int index, const char *name,
                               int64_t ne0, int64_t ne1, float *dst);

typedef struct db_gguf_stats {
    uint64_t n_params;
    uint64_t file_bytes;
    int n_tensors;
} db_gguf_stats;

/* Check hyperparameters for the llama architecture; 0 or -1 + err. */
int db_gguf_check_hparams(const db_gguf_hparams *hp, char *err, size_t errlen);

/* Write path.  Tensors (in this order): token_embd, output_norm, output, then
 * for each layer N: blk.N.attn_norm, attn_q, attn_k, attn_v, attn_output,
 * ffn_norm, ffn_gate, ffn_up, ffn_down (all ".weight").  Returns 0, or -1
 * with one error line naming path. */
int db_gguf_write_llama(const char *path, const db_gguf_hparams *hp, const db_gguf_vocab *vocab,
                        db_gguf_fill_fn fill, void *user, db_gguf_stats *stats,
                        char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
