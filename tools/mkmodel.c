/* mkmodel.c — decobench-mkmodel: write a randomly initialised
 * llama-architecture GGUF (for tests and for benchmarking without downloads).
 *
 * Weights are N(0, init_std^2) from the counter-based RNG (harness/util/rng.h), one
 * stream per tensor, so the same options give a byte-identical file.  The
 * tokenizer is a built-in SentencePiece-style vocabulary (or one read from a
 * TSV file).  The GGUF writing itself lives in tools/gguf_writer.c.
 * With --from it copies an existing GGUF instead (e.g. a bundled model given
 * a chat template, so that chat suites can run on it); --pad-blocks N also
 * appends N transformer blocks whose output projections (attn_output,
 * ffn_down) are exactly zero: each adds 0 to the residual stream, so the
 * model computes the same function (same logits, same greedy tokens) with
 * the memory traffic of a much larger model (its other weights random, F16,
 * F32 or Q8_0, so nothing can be skipped).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ggml.h"
#include "gguf.h"
#include "harness/util/rng.h"
#include "gguf_writer.h"

#define PROG "decobench-mkmodel"

static void usage(FILE *f) {
    fprintf(f,
        "Usage: " PROG " --out FILE [options]\n"
        "Write a randomly initialised llama-architecture GGUF model.\n"
        "\n"
        "  --out FILE         output path (required)\n"
        "  --n-embd N         embedding width (default 64)\n"
        "  --n-layer N        transformer blocks (default 2)\n"
        "  --n-head N         attention heads (default 4)\n"
        "  --n-head-kv N      key/value heads (default: n-head)\n"
        "  --n-ff N           feed-forward width (default 4*n-embd rounded up to a multiple of 32)\n"
        "  --n-ctx N          training context length written to the file (default 512)\n"
        "  --seed N           RNG seed (default 42); same seed, same file\n"
        "  --init-std X       standard deviation of the weights (default 0.02)\n"
        "  --type f32|f16     storage type of the 2-D weights (default f32)\n"
        "  --vocab FILE       vocabulary as TSV lines \"piece<TAB>score<TAB>type\"\n"
        "                     (type: 1 normal, 2 unknown, 3 control, 6 byte);\n"
        "                     default: built-in SentencePiece-style vocabulary with\n"
        "                     <unk>, <s>, </s>, 256 byte tokens and ~500 pieces\n"
        "  --no-causal        mark attention bidirectional (llama.attention.causal=false)\n"
        "  --mask-token       add a \"<|mask|>\" control token (tokenizer.ggml.mask_token_id)\n"
        "  --chat-template T  write tokenizer.chat_template (Jinja text or a name llama.cpp\n"
        "                     knows, e.g. chatml)\n"
        "  --name NAME        general.name (default \"decobench-random\")\n"
        "  --from FILE        copy the GGUF model FILE (weights and metadata) instead of\n"
        "                     writing random weights; only --chat-template, --name and\n"
        "                     --pad-* (with --seed, --init-std) apply\n"
        "                     (e.g. a bundled model given a chat template, for chat suites)\n"
        "  --pad-blocks N     with --from: append N transformer blocks shaped like block 0\n"
        "                     whose attn_output and ffn_down are exactly zero (the same\n"
        "                     function, the memory traffic of a larger model); the other\n"
        "                     weights are random (--seed, --init-std), norms 1\n"
        "  --pad-type T       storage type of the padding blocks' 2-D weights: f16 (default),\n"
        "                     f32 or q8_0 (zero stays exactly zero in each)\n"
        "  --pad-out-std X    (tests only) draw the padding blocks' attn_output and ffn_down\n"
        "                     from N(0, X^2) instead of zero: a planted fault\n"
        "  -h, --help         this help\n");
}

/* ---- growable vocabulary ---- */
typedef struct vocab_buf {
    char **piece;
    float *score;
    int32_t *type;
    int n, cap;
} vocab_buf;

static int vb_find(const vocab_buf *v, const char *s) {
    for (int i = 0; i < v->n; i++)
        if (strcmp(v->piece[i], s) == 0) return i;
    return -1;
}

static int vb_add(vocab_buf *v, const char *s, float score, int32_t type) {
    if (v->n == v->cap) {
        int nc = v->cap ? v->cap * 2 : 1024;
        char **p = realloc(v->piece, sizeof *p * (size_t)nc);
        if (!p) return -1;
        v->piece = p;
        float *sc = realloc(v->score, sizeof *sc * (size_t)nc);
        if (!sc) return -1;
        v->score = sc;
        int32_t *ty = realloc(v->type, sizeof *ty * (size_t)nc);
        if (!ty) return -1;
        v->type = ty;
        v->cap = nc;
    }
    v->piece[v->n] = strdup(s);
    if (!v->piece[v->n]) return -1;
    v->score[v->n] = score;
    v->type[v->n] = type;
    return v->n++;
}

static void vb_free(vocab_buf *v) {
    for (int i = 0; i < v->n; i++) free(v->piece[i]);
    free(v->piece);
    free(v->score);
    free(v->type);
}

/* Add a normal piece (and, for "▁word", every prefix so SPM merges can reach
 * it) unless already present; scores decrease with insertion order. */
#define SPM_SPACE "\xe2\x96\x81"
static int add_normal(vocab_buf *v, const char *s, int *next_score) {
    size_t len = strlen(s);
    size_t start = strncmp(s, SPM_SPACE, 3) == 0 ? 3 : 0;
    char buf[64];
    for (size_t l = start ? (len > 3 ? 4 : 3) : 1; l <= len; l++) {
        if (l >= sizeof buf) return -1;
        memcpy(buf, s, l);
        buf[l] = 0;
        if (vb_find(v, buf) >= 0) continue;
        if (vb_add(v, buf, (float)-(*next_score)++, DB_TOKTYPE_NORMAL) < 0) return -1;
    }
    return 0;
}

static const char *const k_words[] = {
    "the", "of", "and", "to", "a", "in", "is", "it", "you", "that", "he", "was", "for", "on", "are",
    "with", "as", "I", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had", "by",
    "not", "word", "but", "what", "some", "we", "can", "out", "other", "were", "all", "there", "when",
    "up", "use", "your", "how", "said", "an", "each", "she", "which", "do", "their", "time", "if",
    "will", "way", "about", "many", "then", "them", "write", "would", "like", "so", "these", "her",
    "long", "make", "thing", "see", "him", "two", "has", "look", "more", "day", "could", "go", "come",
    "did", "number", "sound", "no", "most", "people", "my", "over", "know", "water", "than", "call",
    "first", "who", "may", "down", "side", "been", "now", "find", "any", "new", "work", "part", "take",
    "get", "place", "made", "live", "where", "after", "back", "little", "only", "round", "man", "year",
    "came", "show", "every", "good", "me", "give", "our", "under", "name", "very", "through", "just",
    "form", "sentence", "great", "think", "say", "help", "low", "line", "differ", "turn", "cause",
    "much", "mean", "before", "move", "right", "boy", "old", "too", "same", "tell", "does", "set",
    "three", "want", "air", "well", "also", "play", "small", "end", "put", "home", "read", "hand",
    "port", "large", "spell", "add", "even", "land", "here", "must", "big", "high", "such", "follow",
    "act", "why", "ask", "men", "change", "went", "light", "kind", "off", "need", "house", "picture",
    "try", "us", "again", "animal", "point", "mother", "world", "near", "build", "self", "earth",
    "father", "Hello", "The", "It", "In", "This", "A", "Once", "upon", "story", "model", "token",
};

static int build_default_vocab(vocab_buf *v) {
    if (vb_add(v, "<unk>", 0, DB_TOKTYPE_UNKNOWN) < 0) return -1;
    if (vb_add(v, "<s>", 0, DB_TOKTYPE_CONTROL) < 0) return -1;
    if (vb_add(v, "</s>", 0, DB_TOKTYPE_CONTROL) < 0) return -1;
    for (int b = 0; b < 256; b++) {
        char buf[8];
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        if (vb_add(v, buf, 0, DB_TOKTYPE_BYTE) < 0) return -1;
    }
    int sc = 1;
    char buf[64];
    if (add_normal(v, SPM_SPACE, &sc) < 0) return -1;
    for (size_t i = 0; i < sizeof k_words / sizeof k_words[0]; i++) {
        snprintf(buf, sizeof buf, SPM_SPACE "%s", k_words[i]);
        if (add_normal(v, buf, &sc) < 0) return -1;
    }
    for (char c = 'a'; c <= 'z'; c++) {
        char s1[2] = { c, 0 }, s2[2] = { (char)(c - 'a' + 'A'), 0 };
        if (add_normal(v, s1, &sc) < 0 || add_normal(v, s2, &sc) < 0) return -1;
        snprintf(buf, sizeof buf, SPM_SPACE "%c", c);
        if (add_normal(v, buf, &sc) < 0) return -1;
        snprintf(buf, sizeof buf, SPM_SPACE "%c", c - 'a' + 'A');
        if (add_normal(v, buf, &sc) < 0) return -1;
    }
    for (char c = '0'; c <= '9'; c++) {
        char s1[2] = { c, 0 };
        if (add_normal(v, s1, &sc) < 0) return -1;
    }
    static const char *const punct[] = { ".", ",", "!", "?", "'", "\"", "-", ":", ";", "(", ")", "/",
                                         SPM_SPACE "(", SPM_SPACE "\"", SPM_SPACE "-", "...", "'s" };
    for (size_t i = 0; i < sizeof punct / sizeof punct[0]; i++)
        if (add_normal(v, punct[i], &sc) < 0) return -1;
    return 0;
}

/* TSV: piece<TAB>score<TAB>type per line; empty lines skipped. */
static int read_vocab_tsv(const char *path, vocab_buf *v) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    while ((n = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0) continue;
        char *t1 = strchr(line, '\t');
        char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t1 || !t2 || t1 == line) {
            fprintf(stderr, PROG ": %s:%d: expected \"piece<TAB>score<TAB>type\"\n", path, lineno);
            rc = -1;
            break;
        }
        *t1 = 0;
        *t2 = 0;
        char *end;
        errno = 0;
        float score = strtof(t1 + 1, &end);
        if (end == t1 + 1 || *end || errno) {
            fprintf(stderr, PROG ": %s:%d: score '%s' is not a number\n", path, lineno, t1 + 1);
            rc = -1;
            break;
        }
        long type = strtol(t2 + 1, &end, 10);
        if (end == t2 + 1 || *end || type < 1 || type > 6) {
            fprintf(stderr, PROG ": %s:%d: token type '%s' is not one of 1..6\n", path, lineno, t2 + 1);
            rc = -1;
            break;
        }
        if (vb_add(v, line, score, (int32_t)type) < 0) {
            fprintf(stderr, PROG ": out of memory\n");
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    if (rc == 0 && v->n == 0) {
        fprintf(stderr, PROG ": %s: no tokens\n", path);
        rc = -1;
    }
    return rc;
}

static int find_control(const vocab_buf *v, const char *const *names) {
    for (int k = 0; names[k]; k++) {
        int i = vb_find(v, names[k]);
        if (i >= 0) return i;
    }
    return -1;
}

/* ---- random weights ---- */
typedef struct init_ctx {
    uint64_t seed;
    double std;
} init_ctx;

static int fill_random(void *user, int index, const char *name, int64_t ne0, int64_t ne1, float *dst) {
    const init_ctx *c = user;
    const int64_t n = ne0 * ne1;
    if (strstr(name, "_norm.")) {
        for (int64_t i = 0; i < n; i++) dst[i] = 1.0f;
        return 0;
    }
    db_rng r = db_rng_make(c->seed, (uint64_t)index + 1);
    for (int64_t i = 0; i < n; i++) dst[i] = (float)(c->std * db_rng_normal(&r));
    return 0;
}

/* ggml's own log lines would duplicate our one-line errors */
static void log_drop(enum ggml_log_level level, const char *text, void *user) {
    (void)level;
    (void)text;
    (void)user;
}

/* --pad-blocks: what to append and how */
typedef struct pad_opts {
    int n;            /* blocks to append; 0: a plain copy */
    enum ggml_type type; /* 2-D weights: GGML_TYPE_F16, F32 or Q8_0 */
    uint64_t seed;
    double std;       /* the random weights' standard deviation */
    double out_std;   /* attn_output / ffn_down: 0 (the point), else a planted fault */
} pad_opts;

static size_t gguf_elem_size(enum gguf_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

/* Append p->n blocks after the source's n_layer ones: for every tensor
 * "blk.0.<x>" a tensor "blk.<L+j>.<x>" of the same shape (2-D ones in the
 * padding type, vectors F32; a zero row quantizes to scale 0, quants 0), norms 1, "attn_output"/"ffn_down" tensors 0,
 * everything else N(0, std^2), one RNG stream per tensor.  Updates
 * <arch>.block_count and extends per-layer arrays of the architecture's keys
 * (length n_layer; rope.dimension_sections, always 4 long, excepted) with
 * their last value.  The tensors live in *pctx (the caller frees it). */
static int add_padding(struct gguf_context *src, struct gguf_context *dst, struct ggml_context *tctx,
                       const pad_opts *p, struct ggml_context **pctx, int *n_layer_out) {
    int64_t ak = gguf_find_key(src, "general.architecture");
    if (ak < 0 || gguf_get_kv_type(src, ak) != GGUF_TYPE_STRING) {
        fprintf(stderr, PROG ": --pad-blocks: the model has no general.architecture\n");
        return 2;
    }
    const char *arch = gguf_get_val_str(src, ak);
    char key[256];
    snprintf(key, sizeof key, "%s.block_count", arch);
    int64_t bk = gguf_find_key(src, key);
    if (bk < 0 || gguf_get_kv_type(src, bk) != GGUF_TYPE_UINT32) {
        fprintf(stderr, PROG ": --pad-blocks: the model has no %s (uint32)\n", key);
        return 2;
    }
    uint32_t L = gguf_get_val_u32(src, bk);
    /* the template: block 0's tensors */
    int n_tmpl = 0;
    size_t bytes = 0;
    for (int64_t i = 0; i < gguf_get_n_tensors(src); i++) {
        const char *tn = gguf_get_tensor_name(src, i);
        if (strncmp(tn, "blk.0.", 6) != 0) continue;
        struct ggml_tensor *t = ggml_get_tensor(tctx, tn);
        if (ggml_n_dims(t) > 2) {
            fprintf(stderr, PROG ": --pad-blocks: %s has more than 2 dimensions\n", tn);
            return 2;
        }
        n_tmpl++;
        if (ggml_n_dims(t) == 2 && t->ne[0] % ggml_blck_size(p->type) != 0) {
            fprintf(stderr, PROG ": --pad-blocks: %s rows (%lld) are not a multiple of %s blocks\n", tn,
                    (long long)t->ne[0], ggml_type_name(p->type));
            return 2;
        }
        enum ggml_type ty = ggml_n_dims(t) == 2 ? p->type : GGML_TYPE_F32;
        bytes += ggml_row_size(ty, t->ne[0]) * (size_t)t->ne[1] + GGML_MEM_ALIGN;
    }
    if (n_tmpl == 0) {
        fprintf(stderr, PROG ": --pad-blocks: the model has no blk.0.* tensors\n");
        return 2;
    }
    struct ggml_init_params ip = {
        .mem_size = bytes * (size_t)p->n + ggml_tensor_overhead() * (size_t)(n_tmpl * p->n) + 1024,
        .mem_buffer = NULL, .no_alloc = false,
    };
    struct ggml_context *pc = ggml_init(ip);
    if (!pc) {
        fprintf(stderr, PROG ": --pad-blocks: out of memory (%zu bytes)\n", ip.mem_size);
        return 1;
    }
    *pctx = pc;
    float *row = NULL;   /* a whole tensor in F32 */
    size_t row_cap = 0;
    int index = 0;
    for (int j = 0; j < p->n; j++) {
        for (int64_t i = 0; i < gguf_get_n_tensors(src); i++) {
            const char *tn = gguf_get_tensor_name(src, i);
            if (strncmp(tn, "blk.0.", 6) != 0) continue;
            struct ggml_tensor *t = ggml_get_tensor(tctx, tn);
            bool mat = ggml_n_dims(t) == 2;
            struct ggml_tensor *nt = mat
                ? ggml_new_tensor_2d(pc, p->type, t->ne[0], t->ne[1])
                : ggml_new_tensor_1d(pc, GGML_TYPE_F32, t->ne[0]);
            char nm[GGML_MAX_NAME];
            snprintf(nm, sizeof nm, "blk.%d.%s", (int)L + j, tn + 6);
            ggml_set_name(nt, nm);
            bool norm = strstr(tn, "_norm") != NULL;
            bool out = strstr(tn, "attn_output") || strstr(tn, "ffn_down");
            double sd = out ? p->out_std : p->std;
            size_t nel = (size_t)ggml_nelements(nt);
            if (nel > row_cap) {
                free(row);
                row_cap = nel;
                row = malloc(sizeof *row * row_cap);
                if (!row) { fprintf(stderr, PROG ": out of memory\n"); return 1; }
            }
            db_rng r = db_rng_make(p->seed, (uint64_t)index++ + 1);
            for (size_t e = 0; e < nel; e++)
                row[e] = norm ? 1.0f : sd == 0 ? 0.0f : (float)(sd * db_rng_normal(&r));
            if (nt->type == GGML_TYPE_F16) ggml_fp32_to_fp16_row(row, (ggml_fp16_t *)nt->data, (int64_t)nel);
            else if (nt->type == GGML_TYPE_F32) memcpy(nt->data, row, sizeof *row * nel);
            else ggml_quantize_chunk(nt->type, row, nt->data, 0, nt->ne[1], nt->ne[0], NULL);
            gguf_add_tensor(dst, nt);
        }
    }
    free(row);
    gguf_set_val_u32(dst, key, L + (uint32_t)p->n);
    /* per-layer arrays of the architecture's keys */
    size_t al = strlen(arch);
    for (int64_t k = 0; k < gguf_get_n_kv(src); k++) {
        const char *kn = gguf_get_key(src, k);
        if (strncmp(kn, arch, al) != 0 || kn[al] != '.' || gguf_get_kv_type(src, k) != GGUF_TYPE_ARRAY) continue;
        if (strstr(kn, ".rope.dimension_sections")) continue;
        enum gguf_type et = gguf_get_arr_type(src, k);
        size_t es = gguf_elem_size(et), n = gguf_get_arr_n(src, k);
        if (n != L || es == 0 || L == 0) continue;
        char *a = malloc(es * (L + (size_t)p->n));
        if (!a) { fprintf(stderr, PROG ": out of memory\n"); return 1; }
        memcpy(a, gguf_get_arr_data(src, k), es * L);
        for (int j = 0; j < p->n; j++) memcpy(a + es * (L + (size_t)j), a + es * (L - 1), es);
        gguf_set_arr_data(dst, kn, et, a, L + (size_t)p->n);
        free(a);
    }
    *n_layer_out = (int)L;
    return 0;
}

/* --from: copy a GGUF model, optionally with a new chat template and name and
 * padding blocks, through a temporary file in the destination's directory
 * (mkstemp) renamed over it. */
static int copy_model(const char *from, const char *out, const char *chat_template, const char *name,
                      const pad_opts *pad) {
    struct ggml_context *tctx = NULL;
    struct gguf_init_params full = { false, &tctx };
    struct gguf_context *src = gguf_init_from_file(from, full);
    if (!src) {
        fprintf(stderr, PROG ": --from %s: not a readable GGUF file\n", from);
        return 2;
    }
    struct gguf_context *dst = gguf_init_empty();
    struct ggml_context *pctx = NULL;
    int rc = 1, n_layer = 0;
    size_t ol = strlen(out);
    char *tmp = malloc(ol + 16);
    if (!dst || !tmp) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    gguf_set_kv(dst, src);
    if (chat_template) gguf_set_val_str(dst, "tokenizer.chat_template", chat_template);
    if (name) gguf_set_val_str(dst, "general.name", name);
    for (int64_t i = 0; i < gguf_get_n_tensors(src); i++)
        gguf_add_tensor(dst, ggml_get_tensor(tctx, gguf_get_tensor_name(src, i)));
    if (pad->n > 0 && (rc = add_padding(src, dst, tctx, pad, &pctx, &n_layer)) != 0) goto done;
    rc = 1;
    snprintf(tmp, ol + 16, "%s.tmpXXXXXX", out);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        if (fd >= 0) { close(fd); unlink(tmp); }
        fprintf(stderr, PROG ": %s: cannot create a file next to it: %s\n", out, strerror(errno));
        goto done;
    }
    bool ok = gguf_write_to_file_ptr(dst, f, false);
    if (fclose(f) != 0) ok = false;
    if (!ok || chmod(tmp, 0644) != 0 || rename(tmp, out) != 0) {
        unlink(tmp);
        fprintf(stderr, PROG ": %s: cannot write the model\n", out);
        goto done;
    }
    printf("%s: copy of %s (%lld tensors)%s\n", out, from, (long long)gguf_get_n_tensors(src),
           chat_template ? ", with a chat template" : "");
    if (pad->n > 0) {
        struct stat sb;
        printf("padding: %d blocks appended to its %d (block_count %d), %s, zero attn_output and ffn_down%s\n",
               pad->n, n_layer, n_layer + pad->n, ggml_type_name(pad->type),
               pad->out_std != 0 ? " NOT: --pad-out-std planted a fault" : "");
        if (stat(out, &sb) == 0) printf("file size: %lld bytes\n", (long long)sb.st_size);
    }
    rc = 0;
done:
    free(tmp);
    if (pctx) ggml_free(pctx);
    if (dst) gguf_free(dst);
    gguf_free(src);
    ggml_free(tctx);
    return rc;
}

/* ---- options ---- */
static int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (end == s || *end || errno || x < lo || x > hi) {
        fprintf(stderr, PROG ": %s: expected an integer in [%d, %d], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int main(int argc, char **argv) {
    enum { O_OUT = 256, O_EMBD, O_LAYER, O_HEAD, O_HEADKV, O_FF, O_CTX, O_SEED, O_STD, O_TYPE,
           O_VOCAB, O_NOCAUSAL, O_MASK, O_NAME, O_CHAT, O_FROM, O_PAD, O_PADTYPE, O_PADOUT };
    static const struct option longopts[] = {
        { "out", required_argument, 0, O_OUT }, { "n-embd", required_argument, 0, O_EMBD },
        { "n-layer", required_argument, 0, O_LAYER }, { "n-head", required_argument, 0, O_HEAD },
        { "n-head-kv", required_argument, 0, O_HEADKV }, { "n-ff", required_argument, 0, O_FF },
        { "n-ctx", required_argument, 0, O_CTX }, { "seed", required_argument, 0, O_SEED },
        { "init-std", required_argument, 0, O_STD }, { "type", required_argument, 0, O_TYPE },
        { "vocab", required_argument, 0, O_VOCAB }, { "no-causal", no_argument, 0, O_NOCAUSAL },
        { "mask-token", no_argument, 0, O_MASK }, { "name", required_argument, 0, O_NAME },
        { "chat-template", required_argument, 0, O_CHAT },
        { "from", required_argument, 0, O_FROM },
        { "pad-blocks", required_argument, 0, O_PAD }, { "pad-type", required_argument, 0, O_PADTYPE },
        { "pad-out-std", required_argument, 0, O_PADOUT },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    const char *out = NULL, *vocab_path = NULL, *name = "decobench-random", *chat_template = NULL, *from = NULL;
    bool name_set = false, shape_set = false;
    int n_embd = 64, n_layer = 2, n_head = 4, n_head_kv = 0, n_ff = 0, n_ctx = 512;
    unsigned long long seed = 42;
    double init_std = 0.02;
    bool f16 = false, causal = true, mask = false, pad_set = false;
    pad_opts pad = { .n = 0, .type = GGML_TYPE_F16, .out_std = 0 };
    bool seed_std_set = false;

    ggml_log_set(log_drop, NULL);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case O_OUT: out = optarg; break;
        case O_EMBD: rc = parse_int("--n-embd", optarg, 2, 1 << 16, &n_embd); break;
        case O_LAYER: rc = parse_int("--n-layer", optarg, 1, 1024, &n_layer); break;
        case O_HEAD: rc = parse_int("--n-head", optarg, 1, 1024, &n_head); break;
        case O_HEADKV: rc = parse_int("--n-head-kv", optarg, 1, 1024, &n_head_kv); break;
        case O_FF: rc = parse_int("--n-ff", optarg, 1, 1 << 20, &n_ff); break;
        case O_CTX: rc = parse_int("--n-ctx", optarg, 1, 1 << 24, &n_ctx); break;
        case O_SEED: {
            char *end;
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end || errno || optarg[0] == '-') {
                fprintf(stderr, PROG ": --seed: expected a non-negative integer, got '%s'\n", optarg);
                rc = -1;
            }
            break;
        }
        case O_STD: {
            char *end;
            errno = 0;
            init_std = strtod(optarg, &end);
            if (end == optarg || *end || errno || !(init_std >= 0) || init_std > 100) {
                fprintf(stderr, PROG ": --init-std: expected a number in [0, 100], got '%s'\n", optarg);
                rc = -1;
            }
            break;
        }
        case O_TYPE:
            if (strcmp(optarg, "f32") == 0) f16 = false;
            else if (strcmp(optarg, "f16") == 0) f16 = true;
            else { fprintf(stderr, PROG ": --type: expected f32 or f16, got '%s'\n", optarg); rc = -1; }
            break;
        case O_VOCAB: vocab_path = optarg; break;
        case O_NOCAUSAL: causal = false; break;
        case O_MASK: mask = true; break;
        case O_NAME: name = optarg; name_set = true; break;
        case O_CHAT: chat_template = optarg; break;
        case O_FROM: from = optarg; break;
        case O_PAD: rc = parse_int("--pad-blocks", optarg, 1, 4096, &pad.n); pad_set = true; break;
        case O_PADTYPE:
            pad_set = true;
            if (strcmp(optarg, "f32") == 0) pad.type = GGML_TYPE_F32;
            else if (strcmp(optarg, "f16") == 0) pad.type = GGML_TYPE_F16;
            else if (strcmp(optarg, "q8_0") == 0) pad.type = GGML_TYPE_Q8_0;
            else { fprintf(stderr, PROG ": --pad-type: expected f16, f32 or q8_0, got '%s'\n", optarg); rc = -1; }
            break;
        case O_PADOUT: {
            char *end;
            errno = 0;
            pad.out_std = strtod(optarg, &end);
            pad_set = true;
            if (end == optarg || *end || errno || !(pad.out_std >= 0) || pad.out_std > 100) {
                fprintf(stderr, PROG ": --pad-out-std: expected a number in [0, 100], got '%s'\n", optarg);
                rc = -1;
            }
            break;
        }
        case 'h': usage(stdout); return 0;
        default:
            if (optopt && optopt < 256) fprintf(stderr, PROG ": unknown option '-%c' (see --help)\n", optopt);
            else if (optopt) fprintf(stderr, PROG ": option '%s' needs a value (see --help)\n", argv[optind - 1]);
            else fprintf(stderr, PROG ": unknown option '%s' (see --help)\n", argv[optind - 1]);
            return 2;
        }
        if (c == O_SEED || c == O_STD) seed_std_set = true;
        else if (c != O_OUT && c != O_NAME && c != O_CHAT && c != O_FROM && c != O_PAD && c != O_PADTYPE &&
                 c != O_PADOUT) shape_set = true;
        if (rc) return 2;
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (!out) {
        fprintf(stderr, PROG ": --out FILE is required (see --help)\n");
        return 2;
    }
    if (from) {
        if (shape_set || (seed_std_set && pad.n == 0)) {
            fprintf(stderr, PROG ": --from copies a model: only --out, --chat-template, --name and --pad-* "
                            "(with --seed, --init-std) apply\n");
            return 2;
        }
        if (pad_set && pad.n == 0) {
            fprintf(stderr, PROG ": --pad-type and --pad-out-std need --pad-blocks N\n");
            return 2;
        }
        pad.seed = seed;
        pad.std = init_std;
        return copy_model(from, out, chat_template, name_set ? name : NULL, &pad);
    }
    if (pad_set) {
        fprintf(stderr, PROG ": --pad-blocks and --pad-* need --from FILE\n");
        return 2;
    }
    if (n_head_kv == 0) n_head_kv = n_head;
    if (n_ff == 0) n_ff = (4 * n_embd + 31) / 32 * 32;

    db_gguf_hparams hp = {
        .name = name, .n_embd = n_embd, .n_layer = n_layer, .n_head = n_head, .n_head_kv = n_head_kv,
        .n_ff = n_ff, .n_ctx = n_ctx, .rms_eps = 1e-5f, .rope_freq_base = 10000.0f,
        .causal = causal, .f16 = f16,
    };
    char err[512];
    if (db_gguf_check_hparams(&hp, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }

    vocab_buf vb = { 0 };
    int rc = 1;
    if (vocab_path) {
        if (read_vocab_tsv(vocab_path, &vb) != 0) goto done;
    } else if (build_default_vocab(&vb) != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    int mask_id = -1;
    if (mask) {
        mask_id = vb_find(&vb, "<|mask|>");
        if (mask_id < 0) mask_id = vb_add(&vb, "<|mask|>", 0, DB_TOKTYPE_CONTROL);
        if (mask_id < 0) { fprintf(stderr, PROG ": out of memory\n"); goto done; }
    }
    static const char *const bos_names[] = { "<s>", "<bos>", "<|begin_of_text|>", "<|bos|>", NULL };
    static const char *const eos_names[] = { "</s>", "<eos>", "<|end_of_text|>", "<|endoftext|>", "<|eos|>", NULL };
    int unk = -1;
    for (int i = 0; i < vb.n && unk < 0; i++)
        if (vb.type[i] == DB_TOKTYPE_UNKNOWN) unk = i;

    db_gguf_vocab voc = {
        .n = vb.n, .piece = (const char *const *)vb.piece, .score = vb.score, .type = vb.type,
        .model = "llama", .pre = NULL, .merges = NULL, .n_merges = 0,
        .bos = find_control(&vb, bos_names), .eos = find_control(&vb, eos_names), .unk = unk,
        .pad = -1, .mask = mask_id, .add_bos = true, .add_eos = false,
        .chat_template = chat_template,
    };
    init_ctx ic = { .seed = seed, .std = init_std };
    db_gguf_stats st;
    if (db_gguf_write_llama(out, &hp, &voc, fill_random, &ic, &st, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        goto done;
    }
    printf("%s: llama, %d layers, n_embd %d, %d heads (%d kv), n_ff %d, vocab %d, %s\n",
           out, n_layer, n_embd, n_head, n_head_kv, n_ff, vb.n, f16 ? "f16" : "f32");
    printf("parameters: %llu\nfile size: %llu bytes\n", (unsigned long long)st.n_params,
           (unsigned long long)st.file_bytes);
    rc = 0;
done:
    vb_free(&vb);
    return rc;
}
