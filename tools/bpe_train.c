/* bpe_train.c — decobench-bpe: train a SentencePiece-style BPE vocabulary
 * for llama.cpp's "llama" (SPM) tokenizer from JSONL corpora.
 *
 * Vocabulary layout: <unk>, <s>, </s>, <|mask|> (control, used by the
 * diffusion model, present in every model so all share one vocabulary), 256
 * byte-fallback tokens <0x00>..<0xFF>, the character alphabet (characters
 * covering --char-coverage of the text; spaces written as U+2581 "▁"), then
 * merged pieces in merge order with score -(rank + 1).  llama.cpp's SPM
 * tokenizer merges the adjacent pair whose concatenation has the highest
 * score first, so it reproduces the BPE merges; characters outside the
 * alphabet, control characters, tab and newline fall back to byte tokens.
 *
 * Training text is cut into chunks that merges never cross: an optional "▁"
 * followed by a run of word characters (letters, digits, '_', non-ASCII) or a
 * run of punctuation; runs of spaces keep their last space for the next word.
 * The corpus sample is deterministic: per input file, documents in a seeded
 * shuffled order until that file's share of --max-bytes.
 *
 * Output: TSV lines "piece<TAB>score<TAB>type" as decobench-mkmodel --vocab
 * and decobench-train --vocab read them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "harness/util/outfile.h"
#include "harness/util/rng.h"
#include "corpus_docs.h"

#define PROG "decobench-bpe"
#define SPM_SPACE "\xe2\x96\x81"
#define SPM_SPACE_CP 0x2581u

static void usage(FILE *f) {
    fprintf(f,
        "Usage: " PROG " --out FILE [options] CORPUS.jsonl...\n"
        "Train a byte-fallback BPE vocabulary for llama.cpp's SPM (\"llama\") tokenizer.\n"
        "\n"
        "  --out FILE          output TSV \"piece<TAB>score<TAB>type\" (required)\n"
        "  --vocab-size N      total tokens incl. specials and bytes (default 4096; 512..65536)\n"
        "  --max-bytes N       text sampled from all corpora together, split evenly\n"
        "                      between the files (default 16000000)\n"
        "  --char-coverage X   fraction of characters the alphabet covers (default 0.9995)\n"
        "  --seed N            document sampling seed (default 1)\n"
        "  -h, --help          this help\n"
        "Each CORPUS line is a JSON object with a string member \"text\".\n");
}

/* ---- small helpers ---- */
static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(1);
    }
    return q;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* decode one UTF-8 character at s[0..n); returns its length (1 for invalid bytes) */
static int utf8_len(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || (size_t)len > n) { *cp = 0xFFFFFFFFu; return 1; }
    uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) { *cp = 0xFFFFFFFFu; return 1; }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

/* ---- string -> id / count hash map (open addressing) ---- */
typedef struct strmap {
    char **key;
    uint32_t *klen;
    int64_t *val;
    size_t cap, n;
} strmap;

static void sm_grow(strmap *m);

static int64_t *sm_get(strmap *m, const char *s, size_t n, bool create) {
    if (m->cap == 0 || (create && m->n * 2 >= m->cap)) sm_grow(m);
    size_t i = hash_bytes(s, n) & (m->cap - 1);
    while (m->key[i]) {
        if (m->klen[i] == n && memcmp(m->key[i], s, n) == 0) return &m->val[i];
        i = (i + 1) & (m->cap - 1);
    }
    if (!create) return NULL;
    m->key[i] = xrealloc(NULL, n + 1);
    memcpy(m->key[i], s, n);
    m->key[i][n] = 0;
    m->klen[i] = (uint32_t)n;
    m->val[i] = 0;
    m->n++;
    return &m->val[i];
}

static void sm_grow(strmap *m) {
    strmap o = *m;
    m->cap = o.cap ? o.cap * 2 : 1024;
    m->key = calloc(m->cap, sizeof *m->key);
    m->klen = calloc(m->cap, sizeof *m->klen);
    m->val = calloc(m->cap, sizeof *m->val);
    if (!m->key || !m->klen || !m->val) { fprintf(stderr, PROG ": out of memory\n"); exit(1); }
    m->n = 0;
    for (size_t i = 0; i < o.cap; i++)
        if (o.key[i]) {
            size_t j = hash_bytes(o.key[i], o.klen[i]) & (m->cap - 1);
            while (m->key[j]) j = (j + 1) & (m->cap - 1);
            m->key[j] = o.key[i];
            m->klen[j] = o.klen[i];
            m->val[j] = o.val[i];
            m->n++;
        }
    free(o.key);
    free(o.klen);
    free(o.val);
}

static void sm_free(strmap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->key[i]);
    free(m->key);
    free(m->klen);
    free(m->val);
    memset(m, 0, sizeof *m);
}

/* ---- pair -> count hash map ---- */
typedef struct pairmap {
    uint64_t *key;   /* (a << 32 | b) + 1; 0 = empty */
    int64_t *val;
    size_t cap, n;
} pairmap;

static size_t pm_slot(const pairmap *m, uint64_t k) {
    size_t i = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & (m->cap - 1);
    while (m->key[i] && m->key[i] != k) i = (i + 1) & (m->cap - 1);
    return i;
}

static int64_t *pm_get(pairmap *m, uint32_t a, uint32_t b) {
    uint64_t k = (((uint64_t)a << 32) | b) + 1;
    if (m->n * 2 >= m->cap) {
        pairmap o = *m;
        m->cap = o.cap ? o.cap * 2 : (1u << 16);
        m->key = calloc(m->cap, sizeof *m->key);
        m->val = calloc(m->cap, sizeof *m->val);
        if (!m->key || !m->val) { fprintf(stderr, PROG ": out of memory\n"); exit(1); }
        for (size_t i = 0; i < o.cap; i++)
            if (o.key[i]) {
                size_t j = pm_slot(m, o.key[i]);
                m->key[j] = o.key[i];
                m->val[j] = o.val[i];
            }
        free(o.key);
        free(o.val);
    }
    size_t i = pm_slot(m, k);
    if (!m->key[i]) {
        m->key[i] = k;
        m->val[i] = 0;
        m->n++;
    }
    return &m->val[i];
}

/* ---- max-heap of (count, pair) with lazy invalidation ---- */
typedef struct hent {
    int64_t count;
    uint32_t a, b;
} hent;

typedef struct heap {
    hent *e;
    size_t n, cap;
} heap;

static bool h_less(const hent *x, const hent *y) { /* x below y */
    if (x->count != y->count) return x->count < y->count;
    if (x->a != y->a) return x->a > y->a;
    return x->b > y->b;
}

static void h_push(heap *h, int64_t count, uint32_t a, uint32_t b) {
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 1 << 16;
        h->e = xrealloc(h->e, h->cap * sizeof *h->e);
    }
    size_t i = h->n++;
    h->e[i] = (hent){ count, a, b };
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!h_less(&h->e[p], &h->e[i])) break;
        hent t = h->e[p]; h->e[p] = h->e[i]; h->e[i] = t;
        i = p;
    }
}

static hent h_pop(heap *h) {
    hent top = h->e[0];
    h->e[0] = h->e[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h_less(&h->e[m], &h->e[l])) m = l;
        if (r < h->n && h_less(&h->e[m], &h->e[r])) m = r;
        if (m == i) break;
        hent t = h->e[m]; h->e[m] = h->e[i]; h->e[i] = t;
        i = m;
    }
    return top;
}

/* ---- corpus sampling ---- */
typedef struct textbuf {
    char **doc;
    size_t *len;
    size_t n, cap;
    size_t bytes;
} textbuf;

static int read_corpus(const char *path, uint64_t seed, uint64_t fileidx, size_t cap_bytes, textbuf *out) {
    char **doc;
    size_t n;
    if (corpus_docs_read(PROG, path, seed, 1000 + fileidx, &doc, &n) != 0) return -1;
    /* take documents in that order until the byte cap */
    size_t taken = 0, ntaken = 0;
    for (size_t i = 0; i < n; i++) {
        if (taken < cap_bytes) {
            const size_t len_i = strlen(doc[i]);
            if (out->n == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 1024;
                out->doc = xrealloc(out->doc, out->cap * sizeof *out->doc);
                out->len = xrealloc(out->len, out->cap * sizeof *out->len);
            }
            out->doc[out->n] = doc[i];
            out->len[out->n++] = len_i;
            taken += len_i;
            ntaken++;
            out->bytes += len_i;
        } else {
            free(doc[i]);
        }
    }
    free(doc);
    fprintf(stderr, PROG ": %s: %zu of %zu documents, %zu bytes\n", path, ntaken, n, taken);
    return 0;
}

/* ---- character classes ---- */
enum { C_SPACE, C_WORD, C_PUNCT, C_OTHER };

static int char_class(uint32_t cp, bool in_alphabet) {
    if (cp == ' ' || cp == SPM_SPACE_CP) return C_SPACE;
    if (!in_alphabet || cp < 0x20 || cp == 0x7F || cp == 0xFFFFFFFFu) return C_OTHER;
    if (cp >= 0x80 || (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_')
        return C_WORD;
    return C_PUNCT;
}

typedef struct symtab {
    char **str;
    size_t n, cap;
    strmap ids;   /* string -> id + 1 */
} symtab;

static uint32_t sym_add(symtab *t, const char *s, size_t n) {
    int64_t *v = sm_get(&t->ids, s, n, true);
    if (*v) return (uint32_t)(*v - 1);
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->str = xrealloc(t->str, t->cap * sizeof *t->str);
    }
    t->str[t->n] = xrealloc(NULL, n + 1);
    memcpy(t->str[t->n], s, n);
    t->str[t->n][n] = 0;
    *v = (int64_t)t->n + 1;
    return (uint32_t)t->n++;
}

static bool reserved_piece(const char *s) {
    if (strcmp(s, "<unk>") == 0 || strcmp(s, "<s>") == 0 || strcmp(s, "</s>") == 0 || strcmp(s, "<|mask|>") == 0)
        return true;
    return strlen(s) == 6 && strncmp(s, "<0x", 3) == 0 && s[5] == '>';
}

typedef struct word {
    uint32_t *sym;
    int len;
    int64_t count;
    uint32_t stamp;
} word;

/* byte length of the UTF-8 encoding of cp (cp valid) */
static int utf8_put(uint32_t cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out) {
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

/* chunk callback state */
typedef struct chunker {
    strmap *alpha;     /* UTF-8 char -> 1 when in the alphabet */
    strmap *chunks;    /* chunk (with ▁) -> count */
    char *buf;
    size_t blen, bcap;
} chunker;

static void ch_put(chunker *c, const char *s, size_t n) {
    if (c->blen + n + 1 > c->bcap) {
        c->bcap = (c->blen + n + 1) * 2;
        c->buf = xrealloc(c->buf, c->bcap);
    }
    memcpy(c->buf + c->blen, s, n);
    c->blen += n;
}

static void ch_flush(chunker *c) {
    if (c->blen) (*sm_get(c->chunks, c->buf, c->blen, true))++;
    c->blen = 0;
}

static void chunk_text(chunker *c, const char *text, size_t n) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    int cur = -1;   /* class of the current run (C_WORD / C_PUNCT), -1 none */
    while (i < n) {
        uint32_t cp;
        int l = utf8_len(s + i, n - i, &cp);
        bool in_a = cp != 0xFFFFFFFFu && sm_get(c->alpha, (const char *)s + i, (size_t)l, false) != NULL;
        int cls = char_class(cp, in_a);
        if (cls == C_SPACE) {
            /* run of spaces: all but the last form a chunk; the last starts the next word */
            size_t k = 0, j = i;
            while (j < n && (s[j] == ' ' || (j + 3 <= n && memcmp(s + j, SPM_SPACE, 3) == 0))) {
                j += s[j] == ' ' ? 1 : 3;
                k++;
            }
            ch_flush(c);
            for (size_t q = 0; q + 1 < k; q++) ch_put(c, SPM_SPACE, 3);
            uint32_t ncp = 0;
            int nl = j < n ? utf8_len(s + j, n - j, &ncp) : 0;
            bool nin = j < n && ncp != 0xFFFFFFFFu && sm_get(c->alpha, (const char *)s + j, (size_t)nl, false) != NULL;
            int ncls = j < n ? char_class(ncp, nin) : C_OTHER;
            if (ncls == C_WORD || ncls == C_PUNCT) {
                ch_flush(c);
                ch_put(c, SPM_SPACE, 3);
                cur = ncls;
            } else {
                ch_put(c, SPM_SPACE, 3);
                ch_flush(c);
                cur = -1;
            }
            i = j;
            continue;
        }
        if (cls == C_OTHER) {
            ch_flush(c);
            cur = -1;
            i += (size_t)l;
            continue;
        }
        if (cls != cur) {
            /* a lone "▁" waiting for this run stays attached */
            if (!(c->blen == 3 && memcmp(c->buf, SPM_SPACE, 3) == 0)) ch_flush(c);
            cur = cls;
        }
        ch_put(c, (const char *)s + i, (size_t)l);
        i += (size_t)l;
    }
    ch_flush(c);
}

typedef struct cpcount {
    uint32_t cp;
    int64_t n;
} cpcount;

static int cmp_cpcount(const void *a, const void *b) {
    const cpcount *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? 1 : -1;
    return x->cp < y->cp ? -1 : x->cp > y->cp;
}

int main(int argc, char **argv) {
    enum { O_OUT = 256, O_VOCAB, O_MAXB, O_COV, O_SEED };
    static const struct option longopts[] = {
        { "out", required_argument, 0, O_OUT }, { "vocab-size", required_argument, 0, O_VOCAB },
        { "max-bytes", required_argument, 0, O_MAXB }, { "char-coverage", required_argument, 0, O_COV },
        { "seed", required_argument, 0, O_SEED }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    const char *out = NULL;
    double vocab_size = 4096, max_bytes = 16e6, coverage = 0.9995, seed = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case O_OUT: out = optarg; break;
        case O_VOCAB: rc = parse_num("--vocab-size", optarg, 512, 65536, &vocab_size); break;
        case O_MAXB: rc = parse_num("--max-bytes", optarg, 1, 1e12, &max_bytes); break;
        case O_COV: rc = parse_num("--char-coverage", optarg, 0.5, 1, &coverage); break;
        case O_SEED: rc = parse_num("--seed", optarg, 0, 1e15, &seed); break;
        case 'h': usage(stdout); return 0;
        default:
            if (optopt) fprintf(stderr, PROG ": option '%s' needs a value (see --help)\n", argv[optind - 1]);
            else fprintf(stderr, PROG ": unknown option '%s' (see --help)\n", argv[optind - 1]);
            return 2;
        }
        if (rc) return 2;
    }
    if (!out) { fprintf(stderr, PROG ": --out FILE is required (see --help)\n"); return 2; }
    if (optind >= argc) { fprintf(stderr, PROG ": no corpus given (see --help)\n"); return 2; }
    const int n_files = argc - optind;
    const int target = (int)vocab_size;

    /* 1. sample documents */
    textbuf tb = { 0 };
    for (int f = 0; f < n_files; f++)
        if (read_corpus(argv[optind + f], (uint64_t)seed, (uint64_t)f, (size_t)(max_bytes / n_files), &tb) != 0)
            return 1;

    /* 2. character counts (space counted as ▁) */
    strmap cpc = { 0 };
    for (size_t d = 0; d < tb.n; d++) {
        const unsigned char *s = (const unsigned char *)tb.doc[d];
        for (size_t i = 0; i < tb.len[d];) {
            uint32_t cp;
            int l = utf8_len(s + i, tb.len[d] - i, &cp);
            if (cp == ' ') cp = SPM_SPACE_CP;
            if (cp != 0xFFFFFFFFu) (*sm_get(&cpc, (const char *)&cp, sizeof cp, true))++;
            i += (size_t)l;
        }
    }
    cpcount *cps = xrealloc(NULL, (cpc.n + 1) * sizeof *cps);
    size_t ncp = 0;
    int64_t total_chars = 0;
    for (size_t i = 0; i < cpc.cap; i++)
        if (cpc.key[i]) {
            uint32_t cp;
            memcpy(&cp, cpc.key[i], sizeof cp);
            cps[ncp++] = (cpcount){ cp, cpc.val[i] };
            total_chars += cpc.val[i];
        }
    qsort(cps, ncp, sizeof *cps, cmp_cpcount);

    symtab st = { 0 };
    strmap alpha = { 0 };
    int64_t covered = 0;
    for (size_t i = 0; i < ncp; i++) {
        if ((double)covered >= coverage * (double)total_chars && cps[i].cp != SPM_SPACE_CP) break;
        covered += cps[i].n;
        uint32_t cp = cps[i].cp;
        if (cp < 0x20 || cp == 0x7F || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) continue;
        char u[4];
        int l = utf8_put(cp, u);
        sym_add(&st, u, (size_t)l);
        *sm_get(&alpha, u, (size_t)l, true) = 1;
    }
    if (!sm_get(&alpha, SPM_SPACE, 3, false)) {
        sym_add(&st, SPM_SPACE, 3);
        *sm_get(&alpha, SPM_SPACE, 3, true) = 1;
    }
    /* alphabet entries for ' ' are the ▁ char itself */
    const size_t n_alpha = st.n;
    fprintf(stderr, PROG ": %zu documents, %zu bytes, %zu distinct characters, alphabet %zu\n",
            tb.n, tb.bytes, ncp, n_alpha);
    const int n_fixed = 4 + 256;
    if ((int)n_alpha + n_fixed >= target) {
        fprintf(stderr, PROG ": --vocab-size %d leaves no room for merges (alphabet %zu + %d fixed tokens)\n",
                target, n_alpha, n_fixed);
        return 1;
    }

    /* 3. chunks */
    strmap chunks = { 0 };
    chunker ck = { .alpha = &alpha, .chunks = &chunks };
    for (size_t d = 0; d < tb.n; d++) {
        chunk_text(&ck, tb.doc[d], tb.len[d]);
        free(tb.doc[d]);
    }
    free(tb.doc);
    free(tb.len);
    free(ck.buf);

    word *w = xrealloc(NULL, (chunks.n + 1) * sizeof *w);
    size_t nw = 0;
    for (size_t i = 0; i < chunks.cap; i++) {
        if (!chunks.key[i]) continue;
        const unsigned char *s = (const unsigned char *)chunks.key[i];
        size_t n = chunks.klen[i];
        w[nw].sym = xrealloc(NULL, n * sizeof(uint32_t));
        w[nw].len = 0;
        w[nw].count = chunks.val[i];
        w[nw].stamp = 0;
        for (size_t k = 0; k < n;) {
            uint32_t cp;
            int l = utf8_len(s + k, n - k, &cp);
            w[nw].sym[w[nw].len++] = sym_add(&st, (const char *)s + k, (size_t)l);
            k += (size_t)l;
        }
        nw++;
    }
    sm_free(&chunks);
    if (st.n != n_alpha) {
        fprintf(stderr, PROG ": internal error: chunk characters outside the alphabet\n");
        return 1;
    }
    fprintf(stderr, PROG ": %zu distinct chunks\n", nw);

    /* 4. pair counts, word index per symbol */
    pairmap pc = { 0 };
    heap hp = { 0 };
    typedef struct { uint32_t *w; size_t n, cap; } wlist;
    wlist *idx = NULL;
    size_t idx_cap = 0;
#define IDX_ENSURE(id) do { if ((size_t)(id) >= idx_cap) { size_t nc = ((size_t)(id) + 1) * 2; \
        idx = xrealloc(idx, nc * sizeof *idx); memset(idx + idx_cap, 0, (nc - idx_cap) * sizeof *idx); idx_cap = nc; } } while (0)
#define IDX_ADD(id, wi) do { IDX_ENSURE(id); wlist *L_ = &idx[id]; \
        if (L_->n && L_->w[L_->n - 1] == (wi)) break; \
        if (L_->n == L_->cap) { L_->cap = L_->cap ? L_->cap * 2 : 8; L_->w = xrealloc(L_->w, L_->cap * sizeof *L_->w); } \
        L_->w[L_->n++] = (wi); } while (0)
    for (size_t i = 0; i < nw; i++)
        for (int k = 0; k < w[i].len; k++) {
            IDX_ADD(w[i].sym[k], (uint32_t)i);
            if (k + 1 < w[i].len) *pm_get(&pc, w[i].sym[k], w[i].sym[k + 1]) += w[i].count;
        }
    for (size_t i = 0; i < pc.cap; i++)
        if (pc.key[i] && pc.val[i] > 0) {
            uint64_t k = pc.key[i] - 1;
            h_push(&hp, pc.val[i], (uint32_t)(k >> 32), (uint32_t)k);
        }

    /* 5. merges */
    uint32_t *merged = NULL;   /* symbol id of each merge, in rank order */
    size_t n_merged = 0;
    uint32_t stamp = 0;
    uint32_t *tmp = NULL;
    size_t tmp_cap = 0;
    while ((int)(n_fixed + n_alpha + n_merged) < target && hp.n > 0) {
        hent e = h_pop(&hp);
        int64_t *cur = pm_get(&pc, e.a, e.b);
        if (*cur != e.count) {
            if (*cur > 0) h_push(&hp, *cur, e.a, e.b);
            continue;
        }
        if (e.count < 2) break;
        size_t la = strlen(st.str[e.a]), lb = strlen(st.str[e.b]);
        char *cat = xrealloc(NULL, la + lb + 1);
        memcpy(cat, st.str[e.a], la);
        memcpy(cat + la, st.str[e.b], lb + 1);
        if (reserved_piece(cat)) { free(cat); *cur = -1; continue; }
        size_t before = st.n;
        uint32_t cid = sym_add(&st, cat, la + lb);
        free(cat);
        if (st.n > before) {
            merged = xrealloc(merged, (n_merged + 1) * sizeof *merged);
            merged[n_merged++] = cid;
        }
        const uint32_t a = e.a, b = e.b;
        stamp++;
        IDX_ENSURE(a);
        wlist la_list = idx[a];   /* copy: IDX_ADD below may grow idx */
        for (size_t q = 0; q < la_list.n; q++) {
            word *wd = &w[la_list.w[q]];
            if (wd->stamp == stamp) continue;
            wd->stamp = stamp;
            if ((size_t)wd->len > tmp_cap) { tmp_cap = (size_t)wd->len * 2; tmp = xrealloc(tmp, tmp_cap * sizeof *tmp); }
            int j = 0;
            bool any = false;
            for (int i = 0; i < wd->len;) {
                if (wd->sym[i] == a && i + 1 < wd->len && wd->sym[i + 1] == b) {
                    const int64_t n = wd->count;
                    *pm_get(&pc, a, b) -= n;
                    if (j > 0) {
                        uint32_t left = tmp[j - 1];
                        *pm_get(&pc, left, a) -= n;
                        int64_t *p = pm_get(&pc, left, cid);
                        *p += n;
                        h_push(&hp, *p, left, cid);
                    }
                    if (i + 2 < wd->len) {
                        uint32_t right = wd->sym[i + 2];
                        *pm_get(&pc, b, right) -= n;
                        int64_t *p = pm_get(&pc, cid, right);
                        *p += n;
                        h_push(&hp, *p, cid, right);
                    }
                    tmp[j++] = cid;
                    i += 2;
                    any = true;
                } else {
                    tmp[j++] = wd->sym[i++];
                }
            }
            if (any) {
                memcpy(wd->sym, tmp, (size_t)j * sizeof *tmp);
                wd->len = j;
                IDX_ADD(cid, la_list.w[q]);
            }
        }
        /* la_list may have been reallocated by IDX_ADD only for other ids unless cid == a (impossible) */
        *pm_get(&pc, a, b) = 0;
    }
    fprintf(stderr, PROG ": %zu merges\n", n_merged);

    /* 6. write the TSV */
    /* by the -o rules of harness/util/outfile.h (mkstemp next to it, renamed) */
    db_outfile of;
    char oerr[512];
    if (db_outfile_open(&of, out, oerr, sizeof oerr) != 0) { fprintf(stderr, PROG ": %s\n", oerr); return 1; }
    FILE *f = of.f;
    fprintf(f, "<unk>\t0\t2\n<s>\t0\t3\n</s>\t0\t3\n<|mask|>\t0\t3\n");
    for (int b = 0; b < 256; b++) fprintf(f, "<0x%02X>\t0\t6\n", b);
    for (size_t i = 0; i < n_merged; i++) fprintf(f, "%s\t%g\t1\n", st.str[merged[i]], -(double)(i + 1));
    for (size_t i = 0; i < n_alpha; i++) fprintf(f, "%s\t%g\t1\n", st.str[i], -(double)(n_merged + 1 + i));
    if (db_outfile_commit(&of, oerr, sizeof oerr) != 0) {
        fprintf(stderr, PROG ": %s\n", oerr);
        return 1;
    }
    printf("%s: %zu tokens (%d fixed, %zu characters, %zu merges)\n", out, n_fixed + n_alpha + n_merged,
           n_fixed, n_alpha, n_merged);
    free(tmp);
    free(merged);
    for (size_t i = 0; i < idx_cap; i++) free(idx[i].w);
    free(idx);
    free(hp.e);
    free(pc.key);
    free(pc.val);
    for (size_t i = 0; i < nw; i++) free(w[i].sym);
    free(w);
    for (size_t i = 0; i < st.n; i++) free(st.str[i]);
    free(st.str);
    sm_free(&st.ids);
    sm_free(&alpha);
    sm_free(&cpc);
    free(cps);
    return 0;
}
