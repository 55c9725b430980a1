/* train.c — decobench-train: train a small llama-architecture model (causal
 * language model, or a LLaDA-style masked-diffusion model with --diffusion)
 * on JSONL corpora with llama.cpp's training API (llama_opt_init /
 * llama_opt_epoch on a ggml_opt_dataset built here, as llama.cpp's
 * examples/training/finetune.cpp does through common_opt_dataset_init).
 *
 * Flow: a random-init F32 GGUF from tools/gguf_writer (vocabulary from a
 * decobench-bpe TSV, tokenizer.ggml.add_space_prefix=false) or, when
 * OUT.state.json and OUT.ckpt.gguf exist, the checkpoint to resume; AdamW
 * with linear warmup + cosine decay (get_opt_pars callback); training in
 * chunks of steps, one llama_opt_epoch per chunk; a checkpoint (F32 GGUF via
 * llama_model_save_to_file, temp + rename) and a JSON state file every
 * --ckpt-every steps and at the end; stop at --max-tokens or --max-minutes
 * (wall time summed over resumed runs) or on SIGINT/SIGTERM.  The output
 * (F16, Q8_0 or F32 via llama_model_quantize) is evaluated on the held-out
 * windows in a fresh context, and a JSON report (--report) is written.
 *
 * Data: each document is <s> + its tokens; documents are concatenated per
 * file, cut into windows of n_ctx (+1 for the shifted labels); window order
 * per epoch is a seeded permutation, so step s always sees the same data and
 * a resumed run continues the same sequence ("rng position" = step).
 *
 * llama.cpp as scripts/build-llama.sh builds it carries decobench's patches
 * (patches/llama.cpp): 0001 fixes ggml-opt summing the gradients of all
 * steps so far (llama_opt's graphs are non-static, and their gradient
 * accumulators were never reset); 0002 (llama_opt_params.train_kv) and 0003
 * (.train_tok_embd) let attn_k/attn_v and token_embd.weight train, which
 * upstream's llama_opt leaves frozen; 0004 (.ul_weight, .ul_context) adds
 * unlikelihood terms to the loss.  This program needs all four and refuses
 * to train against a llama.cpp without them.
 *
 * Unlikelihood training (--ul-weight, Welleck et al. 2019, "Neural text
 * generation with unlikelihood training"), for a fine-tuning stage of a
 * causal model against greedy decoding's repetition loops: token-level
 * (--ul-context: each position's earlier tokens are candidates to make less
 * likely, besides the cross-entropy) and sequence-level (--ul-seq-share: a
 * share of the steps decode the model's own greedy continuation of a
 * window's prefix with the current weights, in a second context on the same
 * model, and push down the tokens of its repeated n-grams, with no
 * cross-entropy on it).
 *
 * Deviations (documented in the report and --help):
 *  - Resuming restarts the AdamW moments (llama.cpp does not save them).
 *  - --diffusion: input = window with each token replaced by <|mask|> with
 *    probability t ~ U(0.05, 1) per window, labels = the original tokens at
 *    the same positions.  llama_opt's labels are one-hot at every position
 *    (no ignore index, no per-position weights), so the training loss also
 *    covers unmasked positions (a trivial copy), unlike LLaDA's masked-only
 *    loss.  The reported held-out loss of the diffusion model is masked-only
 *    (50% masking), computed with llama_decode.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ggml.h"
#include "ggml-opt.h"
#include "gguf.h"
#include "llama.h"

#include "harness/util/outfile.h"
#include "harness/util/rng.h"
#include "harness/model/sample.h"
#include "harness/util/util.h"
#include "corpus_docs.h"
#include "gguf_writer.h"

#define PROG "decobench-train"
#define MAX_FILES 16
#define CHUNK_MAX 25   /* optimizer steps per llama_opt_epoch call */

static void usage(FILE *f) {
    fprintf(f,
        "Usage: " PROG " --out FILE --vocab TSV --train JSONL... --heldout JSONL... [options]\n"
        "Train a llama-architecture model with llama.cpp's training API; resumable.\n"
        "\n"
        "Files:\n"
        "  --out FILE          output GGUF; FILE.ckpt.gguf and FILE.state.json hold the\n"
        "                      resumable state (an existing pair is resumed)\n"
        "  --vocab TSV         vocabulary from decobench-bpe (must contain <|mask|>)\n"
        "  --train JSONL       training corpus, repeatable ({\"text\": ...} per line)\n"
        "  --heldout JSONL     held-out corpus, repeatable\n"
        "  --report FILE       JSON report (default FILE.json)\n"
        "  --name NAME         general.name (default \"decobench\")\n"
        "Model (new runs only):\n"
        "  --n-embd N (256) --n-layer N (8) --n-head N (4) --n-head-kv N (= n-head)\n"
        "  --n-ff N (704) --n-ctx N (256; llama.cpp pads contexts to multiples of 256)\n"
        "  --init-std X (0.02)  --seed N (1)\n"
        "  --out-norm X        initial gain of output_norm.weight (default 1.0)\n"
        "  --embd-init random|cooccur  token_embd.weight: N(0, embd-std^2) (default), or a random\n"
        "                      projection of each token's next/previous-token log counts in the\n"
        "                      training split, rows at RMS embd-std (then trained)\n"
        "  --init-from GGUF    initialise every tensor from this model instead (same\n"
        "                      hyperparameters; e.g. a masked-diffusion model from a\n"
        "                      trained causal one, as Dream and DiffuLLaMA adapt AR models)\n"
        "  --embd-std X        token_embd.weight init std (default 1.0)\n"
        "  --diffusion         masked-diffusion model: bidirectional attention\n"
        "                      (llama.attention.causal=false), <|mask|> corruption\n"
        "Training:\n"
        "  --max-tokens N      token budget (default 1000000); sets the cosine length\n"
        "  --max-minutes X     wall-clock budget over all resumed runs (default: none);\n"
        "                      the cosine then follows whichever budget is nearer its end\n"
        "                      (rerunning a finished model with larger budgets continues\n"
        "                      it: a second stage, the cosine warm-restarted where the\n"
        "                      new budgets put it)\n"
        "  --lr X (1e-3) --lr-min X (1e-4) --warmup N steps (100) --wd X (0.1)\n"
        "  --beta2 X           AdamW second-moment decay (default 0.999; beta1 0.9)\n"
        "  --train-only LIST   train only tensors whose names contain one of these\n"
        "                      comma-separated substrings (debugging; default all)\n"
        "  --ckpt-every N      steps between checkpoints (default 200)\n"
        "  --eval-every N      steps between held-out evaluations (default 500)\n"
        "  --threads N         CPU threads (default 2)\n"
        "  --train-bytes N     text per training file, documents sampled (default 50000000)\n"
        "  --eval-tokens N     held-out tokens evaluated (default 65536)\n"
        "Unlikelihood training (Welleck et al. 2019; causal models; for a fine-tuning stage):\n"
        "  --ul-weight X       weight of the unlikelihood terms (default 0: off)\n"
        "  --ul-context        token-level: each position's distinct earlier tokens but\n"
        "                      its label are candidates to make less likely\n"
        "  --ul-seq-share F    sequence-level: this share of the steps trains, instead of\n"
        "                      a corpus window, the model's own greedy continuation (current\n"
        "                      weights) of the window's first --ul-prefix tokens, with no\n"
        "                      cross-entropy and the tokens of every --ul-ngram-gram that\n"
        "                      already occurred in the continuation as candidates\n"
        "  --ul-prefix N (64) --ul-ngram N (4)\n"
        "Output:\n"
        "  --out-type T        f32, f16, q8_0, or auto (q8_0 when its held-out loss is\n"
        "                      within 0.5%% of F32, else f16; default auto)\n"
        "  -h, --help          this help\n"
        "Notes: one optimizer step is one window of n_ctx tokens; AdamW moments restart\n"
        "on resume (the learning rate then warms up again over --warmup steps);\n"
        "every tensor is trained (needs llama.cpp with decobench's patches/llama.cpp);\n"
        "--diffusion's training loss covers unmasked positions too (llama_opt has no\n"
        "ignore index); its reported held-out loss is masked-only at 50%% masking.\n"
        "With unlikelihood training the reported training loss includes its terms;\n"
        "held-out losses are plain cross-entropy.\n");
}

/* ---------------------------------------------------------------- options */
typedef struct opts {
    const char *out, *vocab, *report, *name;
    const char *train[MAX_FILES], *heldout[MAX_FILES];
    int n_train, n_heldout;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    double init_std, embd_std, out_norm;
    bool embd_cooccur;
    uint64_t seed;
    bool diffusion;
    double max_tokens, max_minutes, lr, lr_min, wd, beta2;
    int warmup, ckpt_every, eval_every, threads;
    double train_bytes;
    int eval_tokens;
    const char *out_type;
    const char *train_only;
    const char *init_from;
    /* unlikelihood training (patch 0004; Welleck et al. 2019) */
    double ul_weight, ul_seq_share;
    bool ul_context;
    int ul_prefix, ul_ngram;
} opts;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool g_verbose;
static void log_cb(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (g_verbose || level >= GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static bool quiet_progress(float p, void *ud) { (void)p; (void)ud; return true; }

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) { fprintf(stderr, PROG ": out of memory\n"); exit(1); }
    return p;
}

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) { fprintf(stderr, PROG ": out of memory\n"); exit(1); }
    return p;
}

static char *path_with(const char *base, const char *suffix) {
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *p = xmalloc(n);
    snprintf(p, n, "%s%s", base, suffix);
    return p;
}

static bool file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---------------------------------------------------------------- vocab TSV */
typedef struct vocab {
    char **piece;
    float *score;
    int32_t *type;
    int n;
    int bos, eos, unk, mask;
} vocab;

static void vocab_free(vocab *v) {
    for (int i = 0; i < v->n; i++) free(v->piece[i]);
    free(v->piece);
    free(v->score);
    free(v->type);
    memset(v, 0, sizeof *v);
}

static int vocab_read(const char *path, vocab *v) {
    memset(v, 0, sizeof *v);
    v->bos = v->eos = v->unk = v->mask = -1;
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno)); return -1; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t r;
    int lineno = 0, vcap = 0;
    while ((r = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (r > 0 && (line[r - 1] == '\n' || line[r - 1] == '\r')) line[--r] = 0;
        if (r == 0) continue;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        char *e1 = NULL, *e2 = NULL;
        float sc = 0;
        long ty = 0;
        if (t1 && t2 && t1 != line) {
            *t1 = *t2 = 0;
            sc = strtof(t1 + 1, &e1);
            ty = strtol(t2 + 1, &e2, 10);
        }
        if (!e1 || *e1 || e1 == t1 + 1 || !e2 || *e2 || ty < 1 || ty > 6) {
            fprintf(stderr, PROG ": %s:%d: expected \"piece<TAB>score<TAB>type(1..6)\"\n", path, lineno);
            free(line);
            fclose(f);
            return -1;
        }
        if (v->n == vcap) {
            vcap = vcap ? vcap * 2 : 4096;
            v->piece = xrealloc(v->piece, sizeof *v->piece * (size_t)vcap);
            v->score = xrealloc(v->score, sizeof *v->score * (size_t)vcap);
            v->type = xrealloc(v->type, sizeof *v->type * (size_t)vcap);
        }
        v->piece[v->n] = strdup(line);
        if (!v->piece[v->n]) { fprintf(stderr, PROG ": out of memory\n"); exit(1); }
        v->score[v->n] = sc;
        v->type[v->n] = (int32_t)ty;
        if (ty == DB_TOKTYPE_UNKNOWN && v->unk < 0) v->unk = v->n;
        if (strcmp(line, "<s>") == 0) v->bos = v->n;
        if (strcmp(line, "</s>") == 0) v->eos = v->n;
        if (strcmp(line, "<|mask|>") == 0) v->mask = v->n;
        v->n++;
    }
    free(line);
    fclose(f);
    if (v->n == 0 || v->bos < 0 || v->eos < 0 || v->mask < 0) {
        fprintf(stderr, PROG ": %s: vocabulary needs <s>, </s> and <|mask|> tokens\n", path);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- corpora */
typedef struct stream {
    llama_token *tok;
    size_t n, cap;
    size_t bytes;
    int docs;
} stream;

static void stream_push(stream *s, const llama_token *t, size_t n) {
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2;
        s->tok = xrealloc(s->tok, s->cap * sizeof *s->tok);
    }
    memcpy(s->tok + s->n, t, n * sizeof *t);
    s->n += n;
}

/* Documents of path in a seeded order until max_bytes; each as <s> + tokens. */
static int tokenize_corpus(const struct llama_vocab *voc, const char *path, uint64_t seed, int fileidx,
                           double max_bytes, stream *out) {
    char **doc;
    size_t n;
    if (corpus_docs_read(PROG, path, seed, 2000 + (uint64_t)fileidx, &doc, &n) != 0) return -1;
    int rc = 0;
    llama_token *buf = NULL;
    size_t bcap = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && (double)out->bytes < max_bytes) {
            size_t len = strlen(doc[i]);
            if (len + 2 > bcap) { bcap = len + 2; buf = xrealloc(buf, bcap * sizeof *buf); }
            int nt = llama_tokenize(voc, doc[i], (int32_t)len, buf, (int32_t)bcap, true, false);
            if (nt < 0) {
                fprintf(stderr, PROG ": %s: tokenizing a document failed\n", path);
                rc = -1;
            } else {
                stream_push(out, buf, (size_t)nt);
                out->bytes += len;
                out->docs++;
            }
        }
        free(doc[i]);
    }
    free(buf);
    free(doc);
    return rc;
}

/* ---------------------------------------------------------------- schedule */
typedef struct sched {
    int64_t step;          /* optimizer steps done */
    int64_t total_steps;
    int warmup;
    double lr, lr_min, wd, beta2;
    double time_frac;      /* elapsed / --max-minutes (0 without a time budget) */
    int64_t resume_step;   /* step this process started at (AdamW moments restart there) */
} sched;

static double lr_at(const sched *s, int64_t step) {
    if (step < s->warmup) return s->lr * (double)(step + 1) / (double)s->warmup;
    double span = (double)(s->total_steps - s->warmup);
    double p = span > 0 ? (double)(step - s->warmup) / span : 1.0;
    if (s->time_frac > p) p = s->time_frac;   /* whichever budget is nearer its end */
    if (p > 1) p = 1;
    double lr = s->lr_min + 0.5 * (s->lr - s->lr_min) * (1.0 + cos(M_PI * p));
    /* a resumed run starts with fresh AdamW moments: warm up again */
    if (s->resume_step > 0 && step - s->resume_step < s->warmup)
        lr *= (double)(step - s->resume_step + 1) / (double)s->warmup;
    return lr;
}

static struct ggml_opt_optimizer_params get_opt_pars(void *ud) {
    const sched *s = ud;
    struct ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(NULL);
    p.adamw.alpha = (float)lr_at(s, s->step);
    p.adamw.beta1 = 0.9f;
    p.adamw.beta2 = (float)s->beta2;
    p.adamw.wd = (float)s->wd;
    p.sgd.alpha = p.adamw.alpha;
    p.sgd.wd = p.adamw.wd;
    return p;
}

/* --train-only: comma-separated substrings of tensor names to train (debugging) */
static bool param_filter(const struct ggml_tensor *t, void *ud) {
    const char *list = ud;
    if (!list || !*list) return true;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        for (const char *q = t->name; *q; q++)
            if (strncmp(q, p, n) == 0) return true;
        p += n + (e ? 1 : 0);
    }
    return false;
}

static sched *g_sched;
static void cb_train(bool train, ggml_opt_context_t opt_ctx, ggml_opt_dataset_t dataset,
                     ggml_opt_result_t result, int64_t ibatch, int64_t ibatch_max, int64_t t_start_us) {
    (void)opt_ctx; (void)dataset; (void)result; (void)ibatch; (void)ibatch_max; (void)t_start_us;
    if (train && g_sched) g_sched->step++;
}

/* ---------------------------------------------------------------- windows */
typedef struct windows {
    const llama_token *tok;   /* the pooled training stream */
    size_t n_tok;
    int64_t n_win;
    int n_ctx;
} windows;

/* Window index of step s: seeded permutation per epoch (recomputed lazily). */
typedef struct perm_cache {
    int64_t epoch;
    int64_t *perm;
} perm_cache;

static int64_t window_of_step(const windows *w, perm_cache *pc, uint64_t seed, int64_t step) {
    int64_t epoch = step / w->n_win;
    if (!pc->perm || pc->epoch != epoch) {
        if (!pc->perm) pc->perm = xmalloc(sizeof *pc->perm * (size_t)w->n_win);
        for (int64_t i = 0; i < w->n_win; i++) pc->perm[i] = i;
        db_rng g = db_rng_make(seed, 3000 + (uint64_t)epoch);
        for (int64_t i = w->n_win; i > 1; i--) {
            int64_t k = (int64_t)db_rng_below(&g, (uint64_t)i);
            int64_t t = pc->perm[i - 1]; pc->perm[i - 1] = pc->perm[k]; pc->perm[k] = t;
        }
        pc->epoch = epoch;
    }
    return pc->perm[step % w->n_win];
}

/* Fill one datapoint: AR: data = tok[p..p+n), labels = tok[p+1..]; diffusion:
 * data = masked copy, labels = tok[p..p+n).  rate < 0: t ~ U(0.05, 1). */
static void fill_point(const llama_token *src, int n_ctx, bool diffusion, int mask_id, double rate,
                       db_rng *g, int32_t *data, int32_t *labels) {
    if (!diffusion) {
        memcpy(data, src, sizeof *data * (size_t)n_ctx);
        memcpy(labels, src + 1, sizeof *labels * (size_t)n_ctx);
        return;
    }
    double t = rate >= 0 ? rate : 0.05 + 0.95 * db_rng_uniform(g);
    for (int i = 0; i < n_ctx; i++) {
        labels[i] = src[i];
        data[i] = db_rng_uniform(g) < t ? mask_id : src[i];
    }
}

/* ---------------------------------------------------------------- GGUF helpers */
/* Rewrite path with keys llama_model_save_to_file drops (the mask token id;
 * add_space_prefix=false is restated): new metadata, then the old tensor data
 * section copied byte for byte (tensor offsets are relative to it). */
static int gguf_patch(const char *path, int mask_id, char *err, size_t errlen) {
    struct gguf_init_params ip = { .no_alloc = true, .ctx = NULL };
    struct gguf_context *g = gguf_init_from_file(path, ip);
    if (!g) { snprintf(err, errlen, "%s: cannot read back the saved GGUF", path); return -1; }
    const size_t old_off = gguf_get_data_offset(g);
    if (mask_id >= 0) gguf_set_val_u32(g, "tokenizer.ggml.mask_token_id", (uint32_t)mask_id);
    gguf_set_val_bool(g, "tokenizer.ggml.add_space_prefix", false);
    const size_t meta = gguf_get_meta_size(g);
    char *buf = xmalloc(meta > (1u << 20) ? meta : (1u << 20));
    gguf_get_meta_data(g, buf);
    gguf_free(g);
    /* a mkstemp file next to path, renamed over it (harness/util/outfile.h) */
    db_outfile of;
    char e2[512];
    FILE *in = fopen(path, "rb");
    int rc = -1;
    bool opened = in && db_outfile_open(&of, path, e2, sizeof e2) == 0;
    FILE *out = opened ? of.f : NULL;
    if (in && out && fwrite(buf, 1, meta, out) == meta && fseek(in, (long)old_off, SEEK_SET) == 0) {
        size_t n;
        rc = 0;
        while ((n = fread(buf, 1, 1u << 20, in)) > 0)
            if (fwrite(buf, 1, n, out) != n) { rc = -1; break; }
        if (ferror(in)) rc = -1;
    }
    if (in) fclose(in);
    if (opened && rc == 0) rc = db_outfile_commit(&of, e2, sizeof e2);
    else if (opened) db_outfile_abort(&of);
    if (rc != 0) snprintf(err, errlen, "%s: cannot rewrite metadata: %s", path, strerror(errno));
    free(buf);
    return rc;
}

static int save_model(struct llama_model *model, const char *path, int mask_id) {
    char err[512];
    /* a mkstemp file of our own next to path (not a predictable name that a
     * planted symlink could redirect), renamed over path at the end */
    char *tmp = NULL;
    int tfd = db_tmp_create(path, &tmp, err, sizeof err);
    if (tfd < 0) { fprintf(stderr, PROG ": %s\n", err); return -1; }
    close(tfd);
    {
        mode_t mask = umask(0);
        umask(mask);
        chmod(tmp, 0666 & ~mask);
    }
    llama_model_save_to_file(model, tmp);
    struct stat tst;
    if (stat(tmp, &tst) != 0 || tst.st_size == 0) {
        fprintf(stderr, PROG ": %s: cannot write checkpoint\n", tmp);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (gguf_patch(tmp, mask_id, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, PROG ": %s: cannot write: %s\n", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

/* ---------------------------------------------------------------- state file */
typedef struct state {
    int64_t step, tokens_seen;
    double elapsed_s;
    double train_loss;
    bool done;
} state;

static int state_write(const char *path, const state *s, const opts *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "step", (double)s->step);
    cJSON_AddNumberToObject(j, "tokens_seen", (double)s->tokens_seen);
    cJSON_AddNumberToObject(j, "elapsed_s", s->elapsed_s);
    cJSON_AddNumberToObject(j, "train_loss", s->train_loss);
    cJSON_AddBoolToObject(j, "done", s->done);
    cJSON *r = cJSON_AddObjectToObject(j, "rng");
    cJSON_AddNumberToObject(r, "seed", (double)o->seed);
    cJSON_AddNumberToObject(r, "next_step", (double)s->step);
    cJSON_AddStringToObject(j, "note", "data order and masks are functions of (seed, step); AdamW moments restart on resume");
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    int rc = 0;
    db_str b;
    db_str_init(&b);
    char e2[512];
    if (db_str_append(&b, txt) != 0 || db_str_append(&b, "\n") != 0 ||
        db_output_write(path, b.s, b.len, e2, sizeof e2) != 0) {
        fprintf(stderr, PROG ": %s: cannot write: %s\n", path, e2);
        rc = -1;
    }
    db_str_free(&b);
    free(txt);
    return rc;
}

static int state_read(const char *path, state *s) {
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno)); return -1; }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    const cJSON *st = cJSON_GetObjectItem(j, "step"), *tk = cJSON_GetObjectItem(j, "tokens_seen"),
                *el = cJSON_GetObjectItem(j, "elapsed_s"), *tl = cJSON_GetObjectItem(j, "train_loss"),
                *dn = cJSON_GetObjectItem(j, "done");
    if (!cJSON_IsNumber(st) || !cJSON_IsNumber(tk) || !cJSON_IsNumber(el)) {
        fprintf(stderr, PROG ": %s: not a training state file (needs step, tokens_seen, elapsed_s)\n", path);
        cJSON_Delete(j);
        return -1;
    }
    s->step = (int64_t)st->valuedouble;
    s->tokens_seen = (int64_t)tk->valuedouble;
    s->elapsed_s = el->valuedouble;
    s->train_loss = cJSON_IsNumber(tl) ? tl->valuedouble : NAN;
    s->done = cJSON_IsTrue(dn);
    cJSON_Delete(j);
    return 0;
}

/* ---------------------------------------------------------------- random init */
typedef struct init_ctx {
    uint64_t seed;
    double std, embd_std, out_norm;
    const float *embd;       /* n_vocab × n_embd token embedding, or NULL: random */
    struct ggml_context *from;   /* --init-from: every tensor copied from this model */
    const char *from_path;
} init_ctx;

/* --init-from: the tensor `name` of the source model, dequantised into dst;
 * it must exist with the same shape (same hyperparameters). */
static int fill_from(const init_ctx *c, const char *name, int64_t ne0, int64_t ne1, float *dst) {
    const struct ggml_tensor *t = ggml_get_tensor(c->from, name);
    if (!t || t->ne[0] != ne0 || ggml_nelements(t) != ne0 * ne1) {
        fprintf(stderr, PROG ": --init-from %s: %s %s (the model's hyperparameters must match)\n", c->from_path, name,
                t ? "has another shape" : "is missing");
        return -1;
    }
    if (t->type == GGML_TYPE_F32) {
        memcpy(dst, t->data, sizeof *dst * (size_t)(ne0 * ne1));
        return 0;
    }
    const struct ggml_type_traits *tt = ggml_get_type_traits(t->type);
    if (!tt->to_float) {
        fprintf(stderr, PROG ": --init-from %s: %s: tensor type %s cannot be converted\n", c->from_path, name,
                ggml_type_name(t->type));
        return -1;
    }
    tt->to_float(t->data, dst, ne0 * ne1);
    return 0;
}

static int fill_random(void *user, int index, const char *name, int64_t ne0, int64_t ne1, float *dst) {
    const init_ctx *c = user;
    const int64_t n = ne0 * ne1;
    if (c->from) return fill_from(c, name, ne0, ne1, dst);
    if (strstr(name, "_norm.")) {
        /* the final norm's gain scales every logit: a small start keeps
         * Adam's fixed-size steps on output.weight from overshooting */
        float g = strcmp(name, "output_norm.weight") == 0 ? (float)c->out_norm : 1.0f;
        for (int64_t i = 0; i < n; i++) dst[i] = g;
        return 0;
    }
    const bool embd = strcmp(name, "token_embd.weight") == 0;
    if (c->embd && embd) {
        memcpy(dst, c->embd, sizeof *dst * (size_t)n);
        return 0;
    }
    double std = embd ? c->embd_std : c->std;
    /* residual projections scaled down (GPT-2 style) */
    if (strstr(name, "attn_output") || strstr(name, "ffn_down")) std *= 0.5;
    db_rng r = db_rng_make(c->seed, (uint64_t)index + 1);
    for (int64_t i = 0; i < n; i++) dst[i] = (float)(std * db_rng_normal(&r));
    return 0;
}

/* ---------------------------------------------------------------- embeddings
 * Upstream llama.cpp leaves token_embd.weight frozen (llama_opt_init FIXME;
 * decobench's patch 0003 trains it).  Instead of noise, --embd-init cooccur
 * starts each token at a random projection (random indexing, Kanerva et
 * al. 2000; Johnson–Lindenstrauss) of its log co-occurrence counts with the
 * next and the previous token in the training stream: tokens used alike
 * get similar embeddings, and bigram statistics are linearly readable.
 * Rows are centred and scaled to RMS embd_std.  Only training-split
 * statistics are used. */
static float *cooccur_embedding(const llama_token *tok, size_t n, int V, int d, uint64_t seed, double rms) {
    float *cnt = calloc((size_t)V * (size_t)V * 2, sizeof *cnt);   /* [a][b] next, then [a][b] previous */
    float *R = malloc(sizeof *R * (size_t)V * 2 * (size_t)d);       /* projection rows for the 2V features */
    float *E = calloc((size_t)V * (size_t)d, sizeof *E);
    if (!cnt || !R || !E) { free(cnt); free(R); free(E); return NULL; }
    float *next = cnt, *prev = cnt + (size_t)V * V;
    for (size_t i = 0; i + 1 < n; i++) {
        next[(size_t)tok[i] * V + tok[i + 1]] += 1.0f;
        prev[(size_t)tok[i + 1] * V + tok[i]] += 1.0f;
    }
    db_rng r = db_rng_make(seed ^ 0xE3BDull, 7);
    for (size_t i = 0; i < (size_t)V * 2 * (size_t)d; i++) R[i] = (float)db_rng_normal(&r);
    for (int a = 0; a < V; a++) {
        float *e = E + (size_t)a * d;
        for (int half = 0; half < 2; half++) {
            const float *row = (half ? prev : next) + (size_t)a * V;
            for (int b = 0; b < V; b++) {
                if (row[b] <= 0.0f) continue;
                const float w = logf(1.0f + row[b]);
                const float *rb = R + ((size_t)half * V + b) * d;
                for (int j = 0; j < d; j++) e[j] += w * rb[j];
            }
        }
    }
    /* centre (remove the direction all frequent tokens share), then RMS-normalise rows;
     * tokens never seen keep a random row */
    double *mean = calloc((size_t)d, sizeof *mean);
    int seen = 0;
    for (int a = 0; a < V; a++) {
        double ss = 0;
        for (int j = 0; j < d; j++) ss += (double)E[(size_t)a * d + j] * E[(size_t)a * d + j];
        if (ss == 0) continue;
        seen++;
        for (int j = 0; j < d; j++) mean[j] += E[(size_t)a * d + j];
    }
    for (int a = 0; a < V; a++) {
        float *e = E + (size_t)a * d;
        double ss = 0;
        for (int j = 0; j < d; j++) ss += (double)e[j] * e[j];
        if (ss == 0) {
            for (int j = 0; j < d; j++) e[j] = (float)(rms * db_rng_normal(&r));
            continue;
        }
        for (int j = 0; j < d; j++) e[j] -= (float)(mean[j] / (seen ? seen : 1));
        ss = 0;
        for (int j = 0; j < d; j++) ss += (double)e[j] * e[j];
        const double scale = ss > 0 ? rms / sqrt(ss / d) : 0;
        for (int j = 0; j < d; j++) e[j] = (float)(e[j] * scale);
    }
    free(mean);
    free(cnt);
    free(R);
    return E;
}

/* ---------------------------------------------------------------- evaluation */
/* forwards of the diffusion model's iterative-fill evaluation */
#define FILL_STEPS 8
typedef struct eval_result {
    double loss;      /* mean NLL per scored token, nats */
    double acc;       /* top-1 accuracy on scored tokens */
    double acc_fill;  /* diffusion: accuracy of iterative filling (NAN when not run) */
    int64_t n;        /* scored tokens */
} eval_result;

/* Diffusion: fill the masked positions of `in` (n_ctx tokens, window `src`)
 * the way a masked-diffusion decoder does (LLaDA's low-confidence
 * remasking): `steps` forwards; each predicts every still-masked position
 * and commits the most confident ones (a 1/(steps left) share), so later
 * predictions see the earlier ones.  Adds the correct fills to *correct. */
static int fill_iteratively(struct llama_context *ctx, struct llama_batch *b, llama_token *in, const llama_token *src,
                            const bool *masked, int n_ctx, int n_vocab, int steps, int64_t *correct) {
    int *open = xmalloc(sizeof *open * (size_t)n_ctx);
    llama_token *best = xmalloc(sizeof *best * (size_t)n_ctx);
    float *conf = xmalloc(sizeof *conf * (size_t)n_ctx);
    int n_open = 0, rc = 0;
    for (int i = 0; i < n_ctx; i++) if (masked[i]) open[n_open++] = i;
    for (int step = 0; step < steps && n_open > 0; step++) {
        llama_memory_clear(llama_get_memory(ctx), true);
        b->n_tokens = n_ctx;
        for (int i = 0; i < n_ctx; i++) {
            b->token[i] = in[i];
            b->pos[i] = i;
            b->n_seq_id[i] = 1;
            b->seq_id[i][0] = 0;
            b->logits[i] = 0;
        }
        for (int k = 0; k < n_open; k++) b->logits[open[k]] = 1;
        if (llama_decode(ctx, *b) != 0) { rc = -1; break; }
        /* per open position: argmax and its probability */
        for (int k = 0; k < n_open; k++) {
            const float *l = llama_get_logits_ith(ctx, open[k]);
            float mx = l[0];
            int am = 0;
            for (int v = 1; v < n_vocab; v++) if (l[v] > mx) { mx = l[v]; am = v; }
            double z = 0;
            for (int v = 0; v < n_vocab; v++) z += exp((double)(l[v] - mx));
            best[open[k]] = am;
            conf[open[k]] = (float)(1.0 / z);
        }
        /* commit the m most confident (selection by repeated maximum: m is small) */
        int m = (n_open + (steps - step) - 1) / (steps - step);
        for (int c = 0; c < m; c++) {
            int bk = 0;
            for (int k = 1; k < n_open; k++) if (conf[open[k]] > conf[open[bk]]) bk = k;
            const int pos = open[bk];
            in[pos] = best[pos];
            *correct += best[pos] == src[pos];
            open[bk] = open[--n_open];
        }
    }
    free(open);
    free(best);
    free(conf);
    return rc;
}

/* Held-out evaluation with llama_decode in a fresh context: AR scores every
 * next token of each window; diffusion masks 50% of each window (fixed seed)
 * and scores the masked positions only, predicted all at once (loss,
 * accuracy) and, with fill_steps > 0, filled iteratively (acc_fill). */
static int eval_model(const char *path, const llama_token *const *win, int n_win, int n_ctx, bool diffusion,
                      int mask_id, int threads, int fill_steps, eval_result *res) {
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.progress_callback = quiet_progress;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) { fprintf(stderr, PROG ": %s: cannot load model for evaluation\n", path); return -1; }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = cp.n_ubatch = (uint32_t)n_ctx;
    cp.n_threads = cp.n_threads_batch = threads;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, PROG ": %s: cannot create an evaluation context\n", path); llama_model_free(model); return -1; }
    if (diffusion) llama_set_causal_attn(ctx, false);
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    struct llama_batch b = llama_batch_init(n_ctx, 0, 1);
    llama_token *in = xmalloc(sizeof *in * (size_t)n_ctx);
    bool *scored = xmalloc(sizeof *scored * (size_t)n_ctx);
    double nll = 0;
    int64_t n = 0, correct = 0, fill_correct = 0;
    int rc = 0;
    for (int w = 0; w < n_win && rc == 0; w++) {
        const llama_token *src = win[w];
        db_rng g = db_rng_make(0xE7A1, (uint64_t)w);
        for (int i = 0; i < n_ctx; i++) {
            scored[i] = diffusion ? db_rng_uniform(&g) < 0.5 : true;
            in[i] = diffusion && scored[i] ? mask_id : src[i];
        }
        llama_memory_clear(llama_get_memory(ctx), true);
        b.n_tokens = n_ctx;
        for (int i = 0; i < n_ctx; i++) {
            b.token[i] = in[i];
            b.pos[i] = i;
            b.n_seq_id[i] = 1;
            b.seq_id[i][0] = 0;
            b.logits[i] = 1;
        }
        if (llama_decode(ctx, b) != 0) { fprintf(stderr, PROG ": %s: llama_decode failed\n", path); rc = -1; break; }
        for (int i = 0; i < n_ctx; i++) {
            if (!scored[i]) continue;
            const float *l = llama_get_logits_ith(ctx, i);
            const llama_token want = diffusion ? src[i] : src[i + 1];
            float mx = l[0];
            int am = 0;
            for (int k = 1; k < n_vocab; k++) if (l[k] > mx) { mx = l[k]; am = k; }
            double z = 0;
            for (int k = 0; k < n_vocab; k++) z += exp((double)(l[k] - mx));
            nll += log(z) - (double)(l[want] - mx);
            correct += am == want;
            n++;
        }
        if (diffusion && fill_steps > 0 &&
            fill_iteratively(ctx, &b, in, src, scored, n_ctx, n_vocab, fill_steps, &fill_correct) != 0) {
            fprintf(stderr, PROG ": %s: llama_decode failed\n", path);
            rc = -1;
        }
    }
    free(in);
    free(scored);
    llama_batch_free(b);
    llama_free(ctx);
    llama_model_free(model);
    res->n = n;
    res->loss = n ? nll / (double)n : NAN;
    res->acc = n ? (double)correct / (double)n : NAN;
    res->acc_fill = diffusion && fill_steps > 0 && n ? (double)fill_correct / (double)n : NAN;
    return rc;
}

/* ---------------------------------------------------------------- parsing */
static int parse_dbl(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || errno || !(x >= lo && x <= hi)) {
        fprintf(stderr, PROG ": %s: expected a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    double x;
    if (parse_dbl(opt, s, lo, hi, &x) != 0) return -1;
    if (x != floor(x)) { fprintf(stderr, PROG ": %s: expected an integer, got '%s'\n", opt, s); return -1; }
    *out = (int)x;
    return 0;
}

static int parse_opts(int argc, char **argv, opts *o) {
    enum { O_OUT = 256, O_VOCAB, O_TRAIN, O_HELD, O_REPORT, O_NAME, O_EMBD, O_LAYER, O_HEAD, O_HEADKV,
           O_FF, O_CTX, O_STD, O_SEED, O_DIFF, O_MAXTOK, O_MAXMIN, O_LR, O_LRMIN, O_WARM, O_WD, O_CKPT,
           O_EVAL, O_THREADS, O_TBYTES, O_ETOK, O_OTYPE, O_VERBOSE, O_BETA2, O_ONLY, O_ESTD, O_ONORM, O_EINIT, O_FROM,
           O_ULW, O_ULCTX, O_ULSEQ, O_ULPRE, O_ULNG };
    static const struct option lo[] = {
        { "out", 1, 0, O_OUT }, { "vocab", 1, 0, O_VOCAB }, { "train", 1, 0, O_TRAIN },
        { "heldout", 1, 0, O_HELD }, { "report", 1, 0, O_REPORT }, { "name", 1, 0, O_NAME },
        { "n-embd", 1, 0, O_EMBD }, { "n-layer", 1, 0, O_LAYER }, { "n-head", 1, 0, O_HEAD },
        { "n-head-kv", 1, 0, O_HEADKV }, { "n-ff", 1, 0, O_FF }, { "n-ctx", 1, 0, O_CTX },
        { "init-std", 1, 0, O_STD }, { "seed", 1, 0, O_SEED }, { "diffusion", 0, 0, O_DIFF },
        { "max-tokens", 1, 0, O_MAXTOK }, { "max-minutes", 1, 0, O_MAXMIN }, { "lr", 1, 0, O_LR },
        { "lr-min", 1, 0, O_LRMIN }, { "warmup", 1, 0, O_WARM }, { "wd", 1, 0, O_WD },
        { "ckpt-every", 1, 0, O_CKPT }, { "eval-every", 1, 0, O_EVAL }, { "threads", 1, 0, O_THREADS },
        { "train-bytes", 1, 0, O_TBYTES }, { "eval-tokens", 1, 0, O_ETOK }, { "out-type", 1, 0, O_OTYPE },
        { "verbose", 0, 0, O_VERBOSE }, { "beta2", 1, 0, O_BETA2 }, { "train-only", 1, 0, O_ONLY }, { "embd-std", 1, 0, O_ESTD }, { "out-norm", 1, 0, O_ONORM }, { "embd-init", 1, 0, O_EINIT }, { "init-from", 1, 0, O_FROM },
        { "ul-weight", 1, 0, O_ULW }, { "ul-context", 0, 0, O_ULCTX }, { "ul-seq-share", 1, 0, O_ULSEQ },
        { "ul-prefix", 1, 0, O_ULPRE }, { "ul-ngram", 1, 0, O_ULNG }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
    };
    *o = (opts){ .name = "decobench", .n_embd = 256, .n_layer = 8, .n_head = 4, .n_ff = 704, .n_ctx = 256,
                 .init_std = 0.02, .embd_std = 1.0, .out_norm = 1.0, .seed = 1, .max_tokens = 1e6, .max_minutes = 0, .lr = 1e-3, .lr_min = 1e-4,
                 .wd = 0.1, .beta2 = 0.999, .warmup = 100, .ckpt_every = 200, .eval_every = 500, .threads = 2,
                 .train_bytes = 5e7, .eval_tokens = 65536, .out_type = "auto",
                 .ul_prefix = 64, .ul_ngram = 4 };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        int rc = 0;
        double x;
        switch (c) {
        case O_OUT: o->out = optarg; break;
        case O_VOCAB: o->vocab = optarg; break;
        case O_TRAIN:
        case O_HELD: {
            const char **arr = c == O_TRAIN ? o->train : o->heldout;
            int *n = c == O_TRAIN ? &o->n_train : &o->n_heldout;
            if (*n == MAX_FILES) { fprintf(stderr, PROG ": at most %d --train/--heldout files\n", MAX_FILES); return 2; }
            arr[(*n)++] = optarg;
            break;
        }
        case O_REPORT: o->report = optarg; break;
        case O_NAME: o->name = optarg; break;
        case O_EMBD: rc = parse_int("--n-embd", optarg, 2, 1 << 14, &o->n_embd); break;
        case O_LAYER: rc = parse_int("--n-layer", optarg, 1, 256, &o->n_layer); break;
        case O_HEAD: rc = parse_int("--n-head", optarg, 1, 256, &o->n_head); break;
        case O_HEADKV: rc = parse_int("--n-head-kv", optarg, 1, 256, &o->n_head_kv); break;
        case O_FF: rc = parse_int("--n-ff", optarg, 1, 1 << 16, &o->n_ff); break;
        case O_CTX: rc = parse_int("--n-ctx", optarg, 16, 8192, &o->n_ctx); break;
        case O_STD: rc = parse_dbl("--init-std", optarg, 0, 10, &o->init_std); break;
        case O_SEED: rc = parse_dbl("--seed", optarg, 0, 1e15, &x); o->seed = (uint64_t)x; break;
        case O_DIFF: o->diffusion = true; break;
        case O_MAXTOK: rc = parse_dbl("--max-tokens", optarg, 1, 1e13, &o->max_tokens); break;
        case O_MAXMIN: rc = parse_dbl("--max-minutes", optarg, 0, 1e6, &o->max_minutes); break;
        case O_LR: rc = parse_dbl("--lr", optarg, 1e-8, 1, &o->lr); break;
        case O_LRMIN: rc = parse_dbl("--lr-min", optarg, 0, 1, &o->lr_min); break;
        case O_WARM: rc = parse_int("--warmup", optarg, 1, 1 << 30, &o->warmup); break;
        case O_WD: rc = parse_dbl("--wd", optarg, 0, 1, &o->wd); break;
        case O_BETA2: rc = parse_dbl("--beta2", optarg, 0, 1, &o->beta2); break;
        case O_CKPT: rc = parse_int("--ckpt-every", optarg, 1, 1 << 30, &o->ckpt_every); break;
        case O_EVAL: rc = parse_int("--eval-every", optarg, 1, 1 << 30, &o->eval_every); break;
        case O_THREADS: rc = parse_int("--threads", optarg, 1, 1024, &o->threads); break;
        case O_TBYTES: rc = parse_dbl("--train-bytes", optarg, 1, 1e12, &o->train_bytes); break;
        case O_ETOK: rc = parse_int("--eval-tokens", optarg, 1, 1 << 28, &o->eval_tokens); break;
        case O_OTYPE:
            if (strcmp(optarg, "f32") && strcmp(optarg, "f16") && strcmp(optarg, "q8_0") && strcmp(optarg, "auto")) {
                fprintf(stderr, PROG ": --out-type: expected f32, f16, q8_0 or auto, got '%s'\n", optarg);
                rc = -1;
            }
            o->out_type = optarg;
            break;
        case O_VERBOSE: g_verbose = true; break;
        case O_ONLY: o->train_only = optarg; break;
        case O_ESTD: rc = parse_dbl("--embd-std", optarg, 0, 100, &o->embd_std); break;
        case O_ONORM: rc = parse_dbl("--out-norm", optarg, 0.001, 100, &o->out_norm); break;
        case O_EINIT:
            if (strcmp(optarg, "cooccur") == 0) o->embd_cooccur = true;
            else if (strcmp(optarg, "random") == 0) o->embd_cooccur = false;
            else { fprintf(stderr, PROG ": --embd-init: expected random or cooccur, got '%s'\n", optarg); rc = -1; }
            break;
        case O_FROM: o->init_from = optarg; break;
        case O_ULW: rc = parse_dbl("--ul-weight", optarg, 0, 100, &o->ul_weight); break;
        case O_ULCTX: o->ul_context = true; break;
        case O_ULSEQ: rc = parse_dbl("--ul-seq-share", optarg, 0, 1, &o->ul_seq_share); break;
        case O_ULPRE: rc = parse_int("--ul-prefix", optarg, 1, 1 << 20, &o->ul_prefix); break;
        case O_ULNG: rc = parse_int("--ul-ngram", optarg, 1, 64, &o->ul_ngram); break;
        case 'h': usage(stdout); exit(0);
        default:
            if (optopt) fprintf(stderr, PROG ": option '%s' needs a value (see --help)\n", argv[optind - 1]);
            else fprintf(stderr, PROG ": unknown option '%s' (see --help)\n", argv[optind - 1]);
            return 2;
        }
        if (rc) return 2;
    }
    if (optind < argc) { fprintf(stderr, PROG ": unexpected argument '%s' (see --help)\n", argv[optind]); return 2; }
    if (!o->out || !o->vocab || o->n_train == 0 || o->n_heldout == 0) {
        fprintf(stderr, PROG ": --out, --vocab, --train and --heldout are required (see --help)\n");
        return 2;
    }
    if (o->n_head_kv == 0) o->n_head_kv = o->n_head;
    if (o->init_from && o->embd_cooccur) {
        fprintf(stderr, PROG ": --init-from and --embd-init cooccur both set token_embd.weight: choose one\n");
        return 2;
    }
    if ((o->ul_context || o->ul_seq_share > 0) && o->ul_weight <= 0) {
        fprintf(stderr, PROG ": --ul-context and --ul-seq-share need --ul-weight > 0\n");
        return 2;
    }
    if (o->ul_seq_share > 0 && o->ul_prefix + 2 * o->ul_ngram > o->n_ctx) {
        fprintf(stderr, PROG ": --ul-prefix %d: leaves no room for a continuation in --n-ctx %d tokens\n",
                o->ul_prefix, o->n_ctx);
        return 2;
    }
    if (o->ul_weight > 0 && o->diffusion) {
        fprintf(stderr, PROG ": --ul-weight: unlikelihood training is for causal models, not --diffusion\n");
        return 2;
    }
    if (o->n_ctx % 256 != 0) {
        fprintf(stderr, PROG ": --n-ctx %d: must be a multiple of 256 (llama.cpp pads contexts)\n", o->n_ctx);
        return 2;
    }
    return 0;
}

/* ---------------------------------------------------------------- quantize */
static int write_output(const char *ckpt, const char *out, const char *type, int threads) {
    struct llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.nthread = threads;
    if (strcmp(type, "f32") == 0) qp.ftype = LLAMA_FTYPE_ALL_F32;
    else if (strcmp(type, "f16") == 0) qp.ftype = LLAMA_FTYPE_MOSTLY_F16;
    else qp.ftype = LLAMA_FTYPE_MOSTLY_Q8_0;
    if (strcmp(type, "q8_0") == 0) {
        qp.output_tensor_type = GGML_TYPE_Q8_0;
        qp.token_embedding_type = GGML_TYPE_Q8_0;
    }
    char *tmp = path_with(out, ".tmp");
    if (llama_model_quantize(ckpt, tmp, &qp) != 0 || rename(tmp, out) != 0) {
        fprintf(stderr, PROG ": %s: cannot write the %s output from %s\n", out, type, ckpt);
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

/* ---------------------------------------------------------------- unlikelihood */
/* A context for the sequence-level unlikelihood data: n_seq parallel greedy
 * continuations of n_ctx tokens each, on the model being trained (it reads
 * the same weight buffers, so it always decodes with the current weights). */
static struct llama_context *new_generation_context(struct llama_model *model, int n_seq, int n_ctx, int prefix,
                                                    int threads) {
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n_seq * n_ctx);
    cp.n_seq_max = (uint32_t)n_seq;
    cp.n_batch = cp.n_ubatch = (uint32_t)(n_seq * (prefix > 1 ? prefix : 1));
    cp.n_threads = cp.n_threads_batch = threads;
    cp.no_perf = true;
    struct llama_context *g = llama_init_from_model(model, cp);
    if (!g) fprintf(stderr, PROG ": cannot create a generation context for --ul-seq-share\n");
    return g;
}

/* Sequence-level unlikelihood datapoints (Welleck et al. 2019, section 5.2):
 * the greedy continuations, with the current weights, of the first `prefix`
 * tokens of each of n windows, decoded in parallel in gctx.  Datapoint s:
 * data = prefix + continuation (n_ctx tokens); labels -1 (no loss) except
 * where the next token is part of an n-gram that already occurred earlier in
 * the continuation (Welleck's C_t), whose label is -2 - token (no
 * cross-entropy; -log(1 - p(token)) instead).  Adds the number of
 * continuation tokens and of those flagged to *n_cont and *n_rep.  0 or -1. */
static int ul_sequence_points(struct llama_context *gctx, const llama_token *const *win, int n, int n_ctx,
                              int prefix, int ngram, int32_t *const *data, int32_t *const *labels,
                              int64_t *n_cont, int64_t *n_rep) {
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(llama_get_model(gctx)));
    const int len = n_ctx + 1;            /* prefix + continuation + the last label */
    const int n_gen = len - prefix;
    llama_token *seq = xmalloc(sizeof *seq * (size_t)n * (size_t)len);
    int *out = xmalloc(sizeof *out * (size_t)n);
    char *flag = xmalloc((size_t)n_gen);
    struct llama_batch b = llama_batch_init(n * prefix, 0, 1);
    int rc = 0;
    llama_memory_clear(llama_get_memory(gctx), true);
    b.n_tokens = 0;
    for (int s = 0; s < n; s++) {
        for (int i = 0; i < prefix; i++) {
            const int j = b.n_tokens++;
            seq[(size_t)s * len + i] = win[s][i];
            b.token[j] = win[s][i]; b.pos[j] = i; b.n_seq_id[j] = 1; b.seq_id[j][0] = s;
            b.logits[j] = i == prefix - 1;
            if (i == prefix - 1) out[s] = j;
        }
    }
    for (int t = prefix; rc == 0; t++) {
        if (llama_decode(gctx, b) != 0) { fprintf(stderr, PROG ": --ul-seq-share: llama_decode failed\n"); rc = -1; break; }
        for (int s = 0; s < n; s++) seq[(size_t)s * len + t] = db_argmax(llama_get_logits_ith(gctx, out[s]), n_vocab);
        if (t == len - 1) break;
        b.n_tokens = n;
        for (int s = 0; s < n; s++) {
            b.token[s] = seq[(size_t)s * len + t]; b.pos[s] = t; b.n_seq_id[s] = 1; b.seq_id[s][0] = s;
            b.logits[s] = 1;
            out[s] = s;
        }
    }
    for (int s = 0; s < n && rc == 0; s++) {
        const llama_token *q = seq + (size_t)s * len, *cont = q + prefix;
        memset(flag, 0, (size_t)n_gen);
        /* an n-gram starting at a repeats one that ended before a began */
        for (int a = ngram; a + ngram <= n_gen; a++)
            for (int e = 0; e + ngram <= a; e++)
                if (memcmp(cont + e, cont + a, sizeof *cont * (size_t)ngram) == 0) {
                    memset(flag + a, 1, (size_t)ngram);
                    break;
                }
        for (int i = 0; i < n_ctx; i++) {
            data[s][i] = q[i];
            labels[s][i] = i + 1 >= prefix && flag[i + 1 - prefix] ? -2 - q[i + 1] : -1;
        }
        *n_cont += n_gen;
        for (int i = 0; i < n_gen; i++) *n_rep += flag[i];
    }
    llama_batch_free(b);
    free(flag);
    free(out);
    free(seq);
    return rc;
}

/* ---------------------------------------------------------------- main */
/* Load a GGUF with writable weights and a training context over its n_ctx. */
static int load_for_training(const char *ckpt, int n_vocab, const char *vocab_path, int threads,
                             struct llama_model **model_out, struct llama_context **ctx_out) {
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.load_mode = LLAMA_LOAD_MODE_NONE;   /* writable weights */
    mp.progress_callback = quiet_progress;
    struct llama_model *model = llama_model_load_from_file(ckpt, mp);
    if (!model) { fprintf(stderr, PROG ": %s: cannot load model\n", ckpt); return -1; }
    const struct llama_vocab *lv = llama_model_get_vocab(model);
    if (llama_vocab_n_tokens(lv) != n_vocab) {
        fprintf(stderr, PROG ": %s: vocabulary has %d tokens, %s has %d\n", ckpt, llama_vocab_n_tokens(lv), vocab_path, n_vocab);
        llama_model_free(model);
        return -1;
    }
    const int n_ctx = (int)llama_model_n_ctx_train(model);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = cp.n_ubatch = (uint32_t)n_ctx;
    cp.n_threads = cp.n_threads_batch = threads;
    cp.type_k = cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, PROG ": %s: cannot create a training context\n", ckpt); llama_model_free(model); return -1; }
    if ((int)llama_n_ctx(ctx) != n_ctx) {
        fprintf(stderr, PROG ": %s: context %u differs from the model's %d\n", ckpt, llama_n_ctx(ctx), n_ctx);
        llama_free(ctx);
        llama_model_free(model);
        return -1;
    }
    *model_out = model;
    *ctx_out = ctx;
    return 0;
}

int main(int argc, char **argv) {
#if !defined(LLAMA_OPT_HAS_TRAIN_KV) || !defined(LLAMA_OPT_HAS_TRAIN_TOK_EMBD) || !defined(LLAMA_OPT_HAS_UNLIKELIHOOD)
    /* upstream llama.cpp: its training leaves attn_k/attn_v/token_embd frozen,
     * sums the gradients of all steps and has no unlikelihood loss
     * (patches/llama.cpp explains) */
    (void)argc; (void)argv;
    fprintf(stderr, PROG ": llama.cpp was built without decobench's training patches "
                    "(patches/llama.cpp); rebuild it with scripts/build-llama.sh\n");
    return 1;
#endif
    opts o;
    int prc = parse_opts(argc, argv, &o);
    if (prc) return prc;
    char *ckpt = path_with(o.out, ".ckpt.gguf"), *state_path = path_with(o.out, ".state.json");
    char *report = o.report ? strdup(o.report) : path_with(o.out, ".json");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    llama_log_set(log_cb, NULL);
    ggml_log_set(log_cb, NULL);
    llama_backend_init();

    /* everything main owns, released at `done` on every path */
    int rc = 0;
    vocab voc = { 0 };
    stream train = { 0 };
    stream held[MAX_FILES];
    memset(held, 0, sizeof held);
    llama_token **hwin = NULL;
    perm_cache pcache = { .epoch = -1, .perm = NULL };
    struct llama_model *model = NULL;
    struct llama_context *ctx = NULL;
    ggml_opt_result_t rtrain = NULL, reval = NULL;
    ggml_opt_dataset_t ds = NULL;
    struct llama_context *gctx = NULL;   /* --ul-seq-share's generation context */
    float *E = NULL;
    char *txt = NULL;
    if (vocab_read(o.vocab, &voc) != 0) { rc = 1; goto done; }

    state st = { 0 };
    st.train_loss = NAN;
    bool resume = file_exists(state_path) && file_exists(ckpt);
    if (resume) {
        if (state_read(state_path, &st) != 0) { rc = 1; goto done; }
        /* the objective comes from the options: they must match the checkpoint
         * (a diffusion model resumed without --diffusion would silently train
         * next-token prediction on a bidirectional model) */
        struct gguf_init_params gp = { .no_alloc = true, .ctx = NULL };
        struct gguf_context *gc = gguf_init_from_file(ckpt, gp);
        if (!gc) { fprintf(stderr, PROG ": %s: cannot read the checkpoint\n", ckpt); { rc = 1; goto done; } }
        int64_t kc = gguf_find_key(gc, "llama.attention.causal");
        bool ckpt_diffusion = kc >= 0 && !gguf_get_val_bool(gc, kc);
        gguf_free(gc);
        if (ckpt_diffusion != o.diffusion) {
            fprintf(stderr, PROG ": %s: the checkpoint is a %s model; %s\n", ckpt,
                    ckpt_diffusion ? "masked-diffusion (bidirectional)" : "causal",
                    ckpt_diffusion ? "pass --diffusion to resume it" : "resume it without --diffusion");
            { rc = 2; goto done; }
        }
        fprintf(stderr, PROG ": resuming %s at step %lld (%lld tokens, %.1f s)\n", ckpt, (long long)st.step,
                (long long)st.tokens_seen, st.elapsed_s);
    }
    db_gguf_hparams hp = { .name = o.name, .n_embd = o.n_embd, .n_layer = o.n_layer, .n_head = o.n_head,
                           .n_head_kv = o.n_head_kv, .n_ff = o.n_ff, .n_ctx = o.n_ctx, .rms_eps = 1e-5f,
                           .rope_freq_base = 10000.0f, .causal = !o.diffusion, .f16 = false };
    db_gguf_vocab gv = { .n = voc.n, .piece = (const char *const *)voc.piece, .score = voc.score,
                         .type = voc.type, .model = "llama", .bos = voc.bos, .eos = voc.eos, .unk = voc.unk,
                         .pad = -1, .mask = voc.mask, .add_bos = true, .add_eos = false,
                         .no_space_prefix = true };
    init_ctx ic = { .seed = o.seed, .std = o.init_std, .embd_std = o.embd_std, .out_norm = o.out_norm, .embd = NULL };
    if (!resume) {
        db_gguf_stats gs;
        char err[512];
        struct gguf_context *from_g = NULL;
        if (o.init_from) {
            struct gguf_init_params gp = { .no_alloc = false, .ctx = &ic.from };
            from_g = gguf_init_from_file(o.init_from, gp);
            if (!from_g) { fprintf(stderr, PROG ": --init-from %s: cannot read the model\n", o.init_from); { rc = 1; goto done; } }
            ic.from_path = o.init_from;
        }
        int wrc = db_gguf_write_llama(ckpt, &hp, &gv, fill_random, &ic, &gs, err, sizeof err);
        if (from_g) {
            gguf_free(from_g);
            ggml_free(ic.from);
            ic.from = NULL;
        }
        if (wrc != 0) {
            fprintf(stderr, PROG ": %s\n", err);
            { rc = 1; goto done; }
        }
        fprintf(stderr, PROG ": new model %s: %llu parameters%s%s\n", ckpt, (unsigned long long)gs.n_params,
                o.init_from ? ", initialised from " : "", o.init_from ? o.init_from : "");
    }

    if (load_for_training(ckpt, voc.n, o.vocab, o.threads, &model, &ctx) != 0) { rc = 1; goto done; }
    const struct llama_vocab *lv = llama_model_get_vocab(model);
    const int n_ctx = (int)llama_model_n_ctx_train(model);

    /* corpora */
    double t_tok = now_s();
    int64_t corpus_tokens[MAX_FILES];
    for (int f = 0; f < o.n_train; f++) {
        size_t before = train.n;
        stream one = { 0 };
        if (tokenize_corpus(lv, o.train[f], o.seed, f, o.train_bytes, &one) != 0) { free(one.tok); rc = 1; goto done; }
        stream_push(&train, one.tok, one.n);
        train.bytes += one.bytes;
        corpus_tokens[f] = (int64_t)(train.n - before);
        fprintf(stderr, PROG ": %s: %d documents, %zu bytes, %zu tokens\n", o.train[f], one.docs, one.bytes, one.n);
        free(one.tok);
    }
    /* held-out windows: evenly spaced across each file's stream */
    const int win_per_file = (o.eval_tokens / n_ctx + o.n_heldout - 1) / o.n_heldout;
    hwin = xmalloc(sizeof *hwin * (size_t)(win_per_file * o.n_heldout + 1));
    int n_hwin = 0;
    for (int f = 0; f < o.n_heldout; f++) {
        if (tokenize_corpus(lv, o.heldout[f], o.seed, 100 + f, 1e12, &held[f]) != 0) { rc = 1; goto done; }
        int64_t avail = ((int64_t)held[f].n - 1) / n_ctx;
        int k = avail < win_per_file ? (int)avail : win_per_file;
        for (int i = 0; i < k; i++) hwin[n_hwin++] = held[f].tok + (size_t)((avail / k) * i) * (size_t)n_ctx;
        fprintf(stderr, PROG ": %s: %zu tokens, %d evaluation windows\n", o.heldout[f], held[f].n, k);
    }
    fprintf(stderr, PROG ": tokenized in %.1f s (%.2f bytes/token on training text)\n", now_s() - t_tok,
            train.n ? (double)train.bytes / (double)train.n : 0.0);
    if (n_hwin == 0) { fprintf(stderr, PROG ": held-out corpora: fewer than %d tokens\n", n_ctx + 1); { rc = 1; goto done; } }

    /* unigram baseline: add-one smoothed training counts, on the same held-out
     * tokens; its accuracy is that of always guessing the most frequent token */
    double uni_loss, uni_acc;
    {
        double *cnt = calloc((size_t)voc.n, sizeof *cnt);
        if (!cnt) { fprintf(stderr, PROG ": out of memory\n"); { rc = 1; goto done; } }
        for (size_t i = 0; i < train.n; i++) cnt[train.tok[i]] += 1;
        double tot = (double)train.n + voc.n, nll = 0;
        int64_t n = 0, hits = 0;
        int top = 0;
        for (int v = 1; v < voc.n; v++) if (cnt[v] > cnt[top]) top = v;
        for (int w = 0; w < n_hwin; w++)
            for (int i = 0; i < n_ctx; i++) {
                llama_token t = o.diffusion ? hwin[w][i] : hwin[w][i + 1];
                nll -= log((cnt[t] + 1) / tot);
                hits += t == top;
                n++;
            }
        uni_loss = nll / (double)n;
        uni_acc = (double)hits / (double)n;
        free(cnt);
    }

    if (!resume && o.embd_cooccur) {
        /* replace the random input embedding by training-split co-occurrence
         * projections, rewrite the fresh checkpoint and reload it */
        double t_e = now_s();
        E = cooccur_embedding(train.tok, train.n, voc.n, o.n_embd, o.seed, o.embd_std);
        if (!E) { fprintf(stderr, PROG ": out of memory building the embedding\n"); { rc = 1; goto done; } }
        llama_free(ctx);
        llama_model_free(model);
        ctx = NULL;
        model = NULL;
        ic.embd = E;
        db_gguf_stats gs;
        char err[512];
        if (db_gguf_write_llama(ckpt, &hp, &gv, fill_random, &ic, &gs, err, sizeof err) != 0) {
            fprintf(stderr, PROG ": %s\n", err);
            { rc = 1; goto done; }
        }
        free(E);
        E = NULL;
        ic.embd = NULL;
        if (load_for_training(ckpt, voc.n, o.vocab, o.threads, &model, &ctx) != 0) { rc = 1; goto done; }
        fprintf(stderr, PROG ": co-occurrence input embedding (%d x %d) in %.1f s\n", voc.n, o.n_embd, now_s() - t_e);
    }

    windows W = { .tok = train.tok, .n_tok = train.n, .n_win = ((int64_t)train.n - 1) / n_ctx, .n_ctx = n_ctx };
    if (W.n_win < 1) { fprintf(stderr, PROG ": training corpora: fewer than %d tokens\n", n_ctx + 1); { rc = 1; goto done; } }

    sched sc = { .step = st.step, .total_steps = (int64_t)ceil(o.max_tokens / n_ctx), .warmup = o.warmup,
                 .lr = o.lr, .lr_min = o.lr_min, .wd = o.wd, .beta2 = o.beta2, .resume_step = st.step };
    /* A finished run given larger budgets continues (a second training stage:
     * the cosine resumes at the point the new budgets put it, a warm restart). */
    if (resume && st.done && st.step < sc.total_steps &&
        (o.max_minutes <= 0 || st.elapsed_s < o.max_minutes * 60)) {
        fprintf(stderr, PROG ": budgets raised: continuing past step %lld\n", (long long)st.step);
        st.done = false;
    }
    g_sched = &sc;
    struct llama_opt_params op = {
        .n_ctx_train = 0, .param_filter = param_filter, .param_filter_ud = (void *)o.train_only,
        .get_opt_pars = get_opt_pars, .get_opt_pars_ud = &sc, .optimizer_type = GGML_OPT_OPTIMIZER_TYPE_ADAMW,
#if defined(LLAMA_OPT_HAS_TRAIN_KV) && defined(LLAMA_OPT_HAS_TRAIN_TOK_EMBD) && defined(LLAMA_OPT_HAS_UNLIKELIHOOD)
        .train_kv = true, .train_tok_embd = true,
        .ul_weight = (float)o.ul_weight, .ul_context = o.ul_context,
#endif
    };
    llama_opt_init(ctx, model, op);
    const int chunk_max = CHUNK_MAX;
    if (o.ul_seq_share > 0) {
        /* as parse_opts checks against --n-ctx: a resumed model has its own n_ctx */
        if (o.ul_prefix + o.ul_ngram * 2 > n_ctx) {
            fprintf(stderr, PROG ": --ul-prefix %d: leaves no room for a continuation in %d tokens\n", o.ul_prefix, n_ctx);
            { rc = 1; goto done; }
        }
        gctx = new_generation_context(model, chunk_max, n_ctx, o.ul_prefix, o.threads);
        if (!gctx) { rc = 1; goto done; }
    }
    int64_t ul_cont = 0, ul_rep = 0;   /* sequence-level: continuation tokens, those flagged */

    rtrain = ggml_opt_result_init();
    reval = ggml_opt_result_init();
    int ds_n = 0;
    double t0 = now_s();
    const double elapsed0 = st.elapsed_s;
    printf("step,tokens,elapsed_s,lr,train_loss,heldout_loss,tok_per_s\n");
    fflush(stdout);
    while (!st.done && !g_stop) {
        int64_t left = sc.total_steps - st.step;
        if (left <= 0) break;
        if (o.max_minutes > 0 && elapsed0 + (now_s() - t0) >= o.max_minutes * 60) break;
        int k = chunk_max;
        if (k > left) k = (int)left;
        int to_ckpt = o.ckpt_every - (int)(st.step % o.ckpt_every);
        int to_eval = o.eval_every - (int)(st.step % o.eval_every);
        if (k > to_ckpt) k = to_ckpt;
        if (k > to_eval) k = to_eval;
        if (k != ds_n) {
            if (ds) ggml_opt_dataset_free(ds);
            ds = ggml_opt_dataset_init(GGML_TYPE_I32, GGML_TYPE_I32, n_ctx, n_ctx, k, 1);
            ds_n = k;
        }
        int32_t *data = ggml_opt_dataset_data(ds)->data, *labels = ggml_opt_dataset_labels(ds)->data;
        const llama_token *seq_win[CHUNK_MAX];
        int32_t *seq_data[CHUNK_MAX], *seq_labels[CHUNK_MAX];
        int n_seq = 0;
        for (int i = 0; i < k; i++) {
            int64_t s = st.step + i;
            int64_t w = window_of_step(&W, &pcache, o.seed, s);
            if (o.ul_seq_share > 0) {
                db_rng gs = db_rng_make(o.seed, 3000000 + (uint64_t)s);
                if (db_rng_uniform(&gs) < o.ul_seq_share) {   /* a sequence-level step */
                    seq_win[n_seq] = W.tok + (size_t)w * (size_t)n_ctx;
                    seq_data[n_seq] = data + (size_t)i * (size_t)n_ctx;
                    seq_labels[n_seq++] = labels + (size_t)i * (size_t)n_ctx;
                    continue;
                }
            }
            db_rng g = db_rng_make(o.seed, 1000000 + (uint64_t)s);
            fill_point(W.tok + (size_t)w * (size_t)n_ctx, n_ctx, o.diffusion, voc.mask, -1, &g,
                       data + (size_t)i * (size_t)n_ctx, labels + (size_t)i * (size_t)n_ctx);
        }
        if (n_seq > 0 && ul_sequence_points(gctx, seq_win, n_seq, n_ctx, o.ul_prefix, o.ul_ngram, seq_data,
                                            seq_labels, &ul_cont, &ul_rep) != 0) { rc = 1; goto done; }
        double tc = now_s();
        sc.step = st.step;
        sc.time_frac = o.max_minutes > 0 ? (elapsed0 + (tc - t0)) / (o.max_minutes * 60) : 0;
        llama_opt_epoch(ctx, ds, rtrain, reval, k, cb_train, NULL);
        double dt = now_s() - tc;
        double loss, unc;
        ggml_opt_result_loss(rtrain, &loss, &unc);
        ggml_opt_result_reset(rtrain);
        st.step += k;
        st.tokens_seen += (int64_t)k * n_ctx;
        st.train_loss = loss;
        st.elapsed_s = elapsed0 + (now_s() - t0);
        double hl = NAN;
        if (st.step % o.eval_every == 0 || st.step >= sc.total_steps) {
            /* held-out loss with llama_opt (all positions; diffusion at U(0.05,1) masking) */
            ggml_opt_dataset_t de = ggml_opt_dataset_init(GGML_TYPE_I32, GGML_TYPE_I32, n_ctx, n_ctx, n_hwin, 1);
            int32_t *dd = ggml_opt_dataset_data(de)->data, *dl = ggml_opt_dataset_labels(de)->data;
            for (int w = 0; w < n_hwin; w++) {
                db_rng g = db_rng_make(o.seed ^ 0x5EED, (uint64_t)w);
                fill_point(hwin[w], n_ctx, o.diffusion, voc.mask, -1, &g, dd + (size_t)w * n_ctx, dl + (size_t)w * n_ctx);
            }
            llama_opt_epoch(ctx, de, rtrain, reval, 0, NULL, NULL);
            ggml_opt_result_loss(reval, &hl, &unc);
            ggml_opt_result_reset(reval);
            ggml_opt_result_reset(rtrain);
            ggml_opt_dataset_free(de);
            if (ul_cont > 0) {
                fprintf(stderr, PROG ": step %lld: %.1f%% of greedy continuation tokens in repeated %d-grams "
                        "(since the last evaluation)\n", (long long)st.step, 100.0 * (double)ul_rep / (double)ul_cont,
                        o.ul_ngram);
                ul_cont = ul_rep = 0;
            }
        }
        printf("%lld,%lld,%.1f,%.3g,%.4f,%.4f,%.0f\n", (long long)st.step, (long long)st.tokens_seen, st.elapsed_s,
               lr_at(&sc, st.step - 1), loss, hl, (double)k * n_ctx / dt);
        fflush(stdout);
        if (st.step % o.ckpt_every == 0 && st.step < sc.total_steps) {
            if (save_model(model, ckpt, voc.mask) != 0 || state_write(state_path, &st, &o) != 0) { rc = 1; goto done; }
        }
    }
    if (ds) ggml_opt_dataset_free(ds);
    ds = NULL;
    st.elapsed_s = elapsed0 + (now_s() - t0);
    bool finished = st.step >= sc.total_steps || (o.max_minutes > 0 && st.elapsed_s >= o.max_minutes * 60);
    st.done = finished || st.done;
    if (!resume || st.step > 0) {
        if (save_model(model, ckpt, voc.mask) != 0 || state_write(state_path, &st, &o) != 0) { rc = 1; goto done; }
    }
    ggml_opt_result_free(rtrain);
    ggml_opt_result_free(reval);
    rtrain = reval = NULL;
    const uint64_t n_params = llama_model_n_params(model);
    if (gctx) llama_free(gctx);
    gctx = NULL;
    llama_free(ctx);
    llama_model_free(model);
    ctx = NULL;
    model = NULL;
    if (!st.done) {
        fprintf(stderr, PROG ": stopped at step %lld; run the same command again to resume\n", (long long)st.step);
        { rc = 3; goto done; }
    }

    /* output + final evaluation in a fresh context */
    eval_result e32, eout;
    if (eval_model(ckpt, (const llama_token *const *)hwin, n_hwin, n_ctx, o.diffusion, voc.mask, o.threads, 0, &e32) != 0)
        { rc = 1; goto done; }
    const char *type = o.out_type;
    if (strcmp(type, "auto") == 0) {
        if (write_output(ckpt, o.out, "q8_0", o.threads) != 0) { rc = 1; goto done; }
        if (eval_model(o.out, (const llama_token *const *)hwin, n_hwin, n_ctx, o.diffusion, voc.mask, o.threads, FILL_STEPS, &eout) != 0)
            { rc = 1; goto done; }
        type = "q8_0";
        if (!(eout.loss <= e32.loss * 1.005)) {
            fprintf(stderr, PROG ": q8_0 held-out loss %.4f vs f32 %.4f: keeping f16\n", eout.loss, e32.loss);
            type = "f16";
        }
    }
    if (strcmp(type, "q8_0") != 0 || strcmp(o.out_type, "auto") != 0) {
        if (write_output(ckpt, o.out, type, o.threads) != 0) { rc = 1; goto done; }
        if (eval_model(o.out, (const llama_token *const *)hwin, n_hwin, n_ctx, o.diffusion, voc.mask, o.threads, FILL_STEPS, &eout) != 0)
            { rc = 1; goto done; }
    }

    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "file", o.out);
    cJSON_AddStringToObject(j, "architecture", "llama");
    cJSON_AddBoolToObject(j, "causal", !o.diffusion);
    cJSON_AddStringToObject(j, "kind", o.diffusion ? "masked-diffusion" : "causal-lm");
    cJSON_AddStringToObject(j, "type", type);
    cJSON_AddNumberToObject(j, "parameters", (double)n_params);
    cJSON_AddNumberToObject(j, "vocab_size", voc.n);
    cJSON_AddNumberToObject(j, "n_ctx", n_ctx);
    cJSON *mix = cJSON_AddArrayToObject(j, "corpus_mix");
    for (int f = 0; f < o.n_train; f++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "file", o.train[f]);
        cJSON_AddNumberToObject(m, "tokens", (double)corpus_tokens[f]);
        cJSON_AddNumberToObject(m, "fraction", (double)corpus_tokens[f] / (double)train.n);
        cJSON_AddItemToArray(mix, m);
    }
    cJSON_AddNumberToObject(j, "tokens_seen", (double)st.tokens_seen);
    cJSON_AddNumberToObject(j, "steps", (double)st.step);
    cJSON_AddNumberToObject(j, "wall_time_s", round(st.elapsed_s * 10) / 10);
    cJSON_AddNumberToObject(j, "final_train_loss", st.train_loss);
    cJSON_AddNumberToObject(j, "heldout_loss", eout.loss);
    cJSON_AddNumberToObject(j, "heldout_perplexity", exp(eout.loss));
    cJSON_AddNumberToObject(j, "heldout_accuracy", eout.acc);
    if (o.diffusion) {
        cJSON_AddNumberToObject(j, "heldout_fill_accuracy", eout.acc_fill);
        cJSON_AddNumberToObject(j, "heldout_fill_steps", FILL_STEPS);
    }
    cJSON_AddNumberToObject(j, "heldout_tokens", (double)eout.n);
    cJSON_AddNumberToObject(j, "heldout_loss_f32", e32.loss);
    cJSON_AddNumberToObject(j, "unigram_loss", uni_loss);
    cJSON_AddNumberToObject(j, "unigram_perplexity", exp(uni_loss));
    cJSON_AddNumberToObject(j, "unigram_accuracy", uni_acc);
    if (o.ul_weight > 0) {
        /* this run's unlikelihood settings (a fine-tuning stage) */
        cJSON *u = cJSON_AddObjectToObject(j, "unlikelihood");
        cJSON_AddNumberToObject(u, "weight", o.ul_weight);
        cJSON_AddBoolToObject(u, "token_level", o.ul_context);
        cJSON_AddNumberToObject(u, "sequence_level_share", o.ul_seq_share);
        if (o.ul_seq_share > 0) {
            cJSON_AddNumberToObject(u, "prefix_tokens", o.ul_prefix);
            cJSON_AddNumberToObject(u, "ngram", o.ul_ngram);
        }
        cJSON_AddStringToObject(u, "note", "final_train_loss includes the unlikelihood terms; held-out losses are plain cross-entropy");
    }
    cJSON_AddStringToObject(j, "heldout_metric", o.diffusion
        ? "masked positions only, 50% of each 256-token window masked (fixed seed), nats/token"
        : "next-token NLL over held-out windows, nats/token");
    txt = cJSON_Print(j);
    cJSON_Delete(j);
    {
        db_str rb;
        db_str_init(&rb);
        char e3[512] = "out of memory";
        int wr = db_str_append(&rb, txt) == 0 && db_str_append(&rb, "\n") == 0
                     ? db_output_write(report, rb.s, rb.len, e3, sizeof e3) : -1;
        db_str_free(&rb);
        if (wr != 0) {
            fprintf(stderr, PROG ": %s: cannot write: %s\n", report, e3);
            { rc = 1; goto done; }
        }
    }
    fprintf(stderr, PROG ": %s (%s): held-out loss %.4f (ppl %.2f, f32 %.4f), unigram ppl %.2f, %lld tokens, %.0f s\n",
            o.out, type, eout.loss, exp(eout.loss), e32.loss, exp(uni_loss), (long long)st.tokens_seen, st.elapsed_s);
done:
    free(txt);
    free(E);
    if (ds) ggml_opt_dataset_free(ds);
    if (rtrain) ggml_opt_result_free(rtrain);
    if (reval) ggml_opt_result_free(reval);
    if (gctx) llama_free(gctx);
    if (ctx) llama_free(ctx);
    if (model) llama_model_free(model);
    free(train.tok);
    for (int f = 0; f < MAX_FILES; f++) free(held[f].tok);
    free(hwin);
    free(pcache.perm);
    vocab_free(&voc);
    free(ckpt);
    free(state_path);
    free(report);
    llama_backend_free();
    return rc;
}
