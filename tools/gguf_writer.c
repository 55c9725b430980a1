/* gguf_writer.c — llama-architecture GGUF writer (see gguf_writer.h). */
#include "gguf_writer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ggml.h"
#include "gguf.h"

#include "harness/util/outfile.h"

static int errf(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int errf(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int db_gguf_check_hparams(const db_gguf_hparams *hp, char *err, size_t errlen) {
    if (hp->n_embd < 1 || hp->n_layer < 1 || hp->n_head < 1 || hp->n_head_kv < 1 || hp->n_ff < 1 || hp->n_ctx < 1)
        return errf(err, errlen, "model shape: n_embd, n_layer, n_head, n_head_kv, n_ff and n_ctx must be positive");
    if (hp->n_embd % hp->n_head != 0)
        return errf(err, errlen, "model shape: n_embd %d is not a multiple of n_head %d", hp->n_embd, hp->n_head);
    if (hp->n_head % hp->n_head_kv != 0)
        return errf(err, errlen, "model shape: n_head %d is not a multiple of n_head_kv %d", hp->n_head, hp->n_head_kv);
    if ((hp->n_embd / hp->n_head) % 2 != 0)
        return errf(err, errlen, "model shape: head size %d must be even (RoPE)", hp->n_embd / hp->n_head);
    if (hp->f16 && (hp->n_embd % 2 || hp->n_ff % 2))
        return errf(err, errlen, "model shape: F16 needs even n_embd and n_ff");
    return 0;
}

typedef struct tdesc {
    char name[64];
    int64_t ne0, ne1;
    bool vec;
} tdesc;

static int vocab_check(const db_gguf_vocab *v, char *err, size_t errlen) {
    if (v->n < 1 || !v->piece) return errf(err, errlen, "vocabulary: empty");
    for (int i = 0; i < v->n; i++)
        if (!v->piece[i]) return errf(err, errlen, "vocabulary: token %d has no piece", i);
    const int32_t ids[5] = { v->bos, v->eos, v->unk, v->pad, v->mask };
    for (int k = 0; k < 5; k++)
        if (ids[k] >= v->n) return errf(err, errlen, "vocabulary: special token id %d outside [0, %d)", ids[k], v->n);
    return 0;
}

int db_gguf_write_llama(const char *path, const db_gguf_hparams *hp, const db_gguf_vocab *v,
                        db_gguf_fill_fn fill, void *user, db_gguf_stats *stats,
                        char *err, size_t errlen) {
    if (db_gguf_check_hparams(hp, err, errlen) != 0) return -1;
    if (vocab_check(v, err, errlen) != 0) return -1;

    const int64_t n_embd = hp->n_embd, n_vocab = v->n, n_ff = hp->n_ff;
    const int64_t head = hp->n_embd / hp->n_head;
    const int64_t n_q = head * hp->n_head, n_kv = head * hp->n_head_kv;

    /* tensor list */
    const int n_t = 3 + 9 * hp->n_layer;
    tdesc *td = calloc((size_t)n_t, sizeof *td);
    if (!td) return errf(err, errlen, "%s: out of memory", path);
    int k = 0;
#define T(nm, a, b, isvec) do { snprintf(td[k].name, sizeof td[k].name, "%s", nm); \
        td[k].ne0 = (a); td[k].ne1 = (b); td[k].vec = (isvec); k++; } while (0)
    T("token_embd.weight", n_embd, n_vocab, false);
    T("output_norm.weight", n_embd, 1, true);
    T("output.weight", n_embd, n_vocab, false);
    for (int l = 0; l < hp->n_layer; l++) {
        char nm[64];
#define L(suffix, a, b, isvec) do { snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, suffix); T(nm, a, b, isvec); } while (0)
        L("attn_norm", n_embd, 1, true);
        L("attn_q", n_embd, n_q, false);
        L("attn_k", n_embd, n_kv, false);
        L("attn_v", n_embd, n_kv, false);
        L("attn_output", n_q, n_embd, false);
        L("ffn_norm", n_embd, 1, true);
        L("ffn_gate", n_embd, n_ff, false);
        L("ffn_up", n_embd, n_ff, false);
        L("ffn_down", n_ff, n_embd, false);
#undef L
    }
#undef T

    /* memory for all tensors */
    size_t mem = 0;
    int64_t max_el = 0;
    uint64_t n_params = 0;
    for (int i = 0; i < n_t; i++) {
        enum ggml_type ty = (hp->f16 && !td[i].vec) ? GGML_TYPE_F16 : GGML_TYPE_F32;
        mem += ggml_row_size(ty, td[i].ne0) * (size_t)td[i].ne1 + ggml_tensor_overhead() + 64;
        int64_t el = td[i].ne0 * td[i].ne1;
        if (el > max_el) max_el = el;
        n_params += (uint64_t)el;
    }
    struct ggml_init_params ip = { .mem_size = mem + 1024, .mem_buffer = NULL, .no_alloc = false };
    struct ggml_context *ctx = ggml_init(ip);
    float *tmp = malloc(sizeof(float) * (size_t)max_el);
    struct gguf_context *g = gguf_init_empty();
    int rc = -1;
    if (!ctx || !tmp || !g) { errf(err, errlen, "%s: out of memory", path); goto done; }

    /* metadata */
    gguf_set_val_str(g, "general.architecture", "llama");
    gguf_set_val_str(g, "general.name", hp->name ? hp->name : "decobench");
    gguf_set_val_u32(g, "general.file_type", hp->f16 ? 1u : 0u);
    gguf_set_val_u32(g, "llama.context_length", (uint32_t)hp->n_ctx);
    gguf_set_val_u32(g, "llama.embedding_length", (uint32_t)hp->n_embd);
    gguf_set_val_u32(g, "llama.block_count", (uint32_t)hp->n_layer);
    gguf_set_val_u32(g, "llama.feed_forward_length", (uint32_t)hp->n_ff);
    gguf_set_val_u32(g, "llama.attention.head_count", (uint32_t)hp->n_head);
    gguf_set_val_u32(g, "llama.attention.head_count_kv", (uint32_t)hp->n_head_kv);
    gguf_set_val_u32(g, "llama.rope.dimension_count", (uint32_t)head);
    gguf_set_val_f32(g, "llama.attention.layer_norm_rms_epsilon", hp->rms_eps > 0 ? hp->rms_eps : 1e-5f);
    gguf_set_val_f32(g, "llama.rope.freq_base", hp->rope_freq_base > 0 ? hp->rope_freq_base : 10000.0f);
    gguf_set_val_u32(g, "llama.vocab_size", (uint32_t)v->n);
    if (!hp->causal) gguf_set_val_bool(g, "llama.attention.causal", false);

    gguf_set_val_str(g, "tokenizer.ggml.model", v->model ? v->model : "llama");
    if (v->pre) gguf_set_val_str(g, "tokenizer.ggml.pre", v->pre);
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", (const char **)v->piece, (size_t)v->n);
    {
        float *sc = malloc(sizeof(float) * (size_t)v->n);
        int32_t *ty = malloc(sizeof(int32_t) * (size_t)v->n);
        if (!sc || !ty) { free(sc); free(ty); errf(err, errlen, "%s: out of memory", path); goto done; }
        for (int i = 0; i < v->n; i++) {
            sc[i] = v->score ? v->score[i] : 0.0f;
            ty[i] = v->type ? v->type[i] : DB_TOKTYPE_NORMAL;
        }
        gguf_set_arr_data(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, sc, (size_t)v->n);
        gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, ty, (size_t)v->n);
        free(sc);
        free(ty);
    }
    if (v->merges && v->n_merges > 0)
        gguf_set_arr_str(g, "tokenizer.ggml.merges", (const char **)v->merges, (size_t)v->n_merges);
    if (v->bos >= 0) gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
    if (v->eos >= 0) gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    if (v->unk >= 0) gguf_set_val_u32(g, "tokenizer.ggml.unknown_token_id", (uint32_t)v->unk);
    if (v->pad >= 0) gguf_set_val_u32(g, "tokenizer.ggml.padding_token_id", (uint32_t)v->pad);
    if (v->mask >= 0) gguf_set_val_u32(g, "tokenizer.ggml.mask_token_id", (uint32_t)v->mask);
    gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", v->add_bos);
    gguf_set_val_bool(g, "tokenizer.ggml.add_eos_token", v->add_eos);
    if (v->no_space_prefix) gguf_set_val_bool(g, "tokenizer.ggml.add_space_prefix", false);
    if (v->chat_template) gguf_set_val_str(g, "tokenizer.chat_template", v->chat_template);

    /* tensors */
    for (int i = 0; i < n_t; i++) {
        enum ggml_type ty = (hp->f16 && !td[i].vec) ? GGML_TYPE_F16 : GGML_TYPE_F32;
        struct ggml_tensor *t = td[i].vec ? ggml_new_tensor_1d(ctx, ty, td[i].ne0)
                                          : ggml_new_tensor_2d(ctx, ty, td[i].ne0, td[i].ne1);
        if (!t) { errf(err, errlen, "%s: out of memory for tensor %s", path, td[i].name); goto done; }
        ggml_set_name(t, td[i].name);
        const int64_t el = td[i].ne0 * td[i].ne1;
        if (fill(user, i, td[i].name, td[i].ne0, td[i].ne1, tmp) != 0) {
            errf(err, errlen, "%s: could not compute tensor %s", path, td[i].name);
            goto done;
        }
        if (ty == GGML_TYPE_F16) ggml_fp32_to_fp16_row(tmp, (ggml_fp16_t *)t->data, el);
        else memcpy(t->data, tmp, sizeof(float) * (size_t)el);
        gguf_add_tensor(g, t);
    }

    /* by the -o rules of harness/util/outfile.h: a mkstemp file next to path,
     * renamed into place (keeping a replaced file's mode), or written
     * through to a device or FIFO */
    {
        db_outfile of;
        char e2[512];
        if (db_outfile_open(&of, path, e2, sizeof e2) != 0) {
            errf(err, errlen, "%s", e2);
            goto done;
        }
        errno = 0;
        if (!gguf_write_to_file_ptr(g, of.f, false)) {
            int e = errno;
            db_outfile_abort(&of);
            errf(err, errlen, "%s: cannot write: %s", path, e ? strerror(e) : "gguf write failed");
            goto done;
        }
        if (db_outfile_commit(&of, e2, sizeof e2) != 0) {
            errf(err, errlen, "%s", e2);
            goto done;
        }
    }
    if (stats) {
        struct stat st;
        stats->n_params = n_params;
        stats->n_tensors = n_t;
        stats->file_bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
    rc = 0;
done:
    if (g) gguf_free(g);
    if (ctx) ggml_free(ctx);
    free(tmp);
    free(td);
    return rc;
}
