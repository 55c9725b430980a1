/* model_int.h — private to the model layer (harness/model/): the backend
 * vtable each backend implements, the fields of the db_model handle, and
 * the helpers backends share.  Engines and every other layer use model.h
 * only; tests may include this header to plant faults in a backend
 * (tests/test_spec.c).  tests/layers.py fails when a file outside
 * harness/model/ and tests/ includes it.
 */
#ifndef DECOBENCH_MODEL_INT_H
#define DECOBENCH_MODEL_INT_H

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

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
     * for grammars (db_model_llama_vocab).  NULL: the grammar layer builds
     * one from the token pieces (harness/constraint/grammar.c). */
    const void *(*llama_vocab)(const db_model *m);
} db_model_backend;

struct db_model {
    const db_model_backend *backend;
    void *impl;
    int n_vocab;
    char error[256];
    struct {                /* db_model_ext_set's slots (model.h), in attachment order */
        const void *key;
        void *data;
        void (*free_fn)(void *);
    } ext[DB_MODEL_EXT_SLOTS];
    int n_ext;
    void *kv_ledger;       /* db_model_kv_ledger_enable's record (harness/model/model.c), NULL when off */
};

/* Record a one-line error on m (printf-style); returns -1 for convenience. */
int db_model_fail(db_model *m, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

extern const db_model_backend db_backend_exact;
#ifdef HAVE_LLAMA
extern const db_model_backend db_backend_llama;
#endif

#ifdef __cplusplus
}
#endif
#endif
