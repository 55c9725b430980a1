/* regex_dfa.c — regex → Thompson NFA → subset-construction DFA over bytes,
 * with live-state analysis (why hand-written and the syntax: regex_dfa.h).
 *
 * Consumer 3 of the regex front end (regex.h): the pattern is parsed in the
 * DB_RX_STRICT dialect and its AST lowered to a small byte-level AST (byte
 * sets, concatenation, alternation, bounded/unbounded repetition; non-ASCII
 * characters as UTF-8 byte sequences); the NFA is built from it with Thompson's
 * construction (a repetition {m,n} becomes m copies plus n-m optional
 * ones); the DFA is the subset construction over byte equivalence classes;
 * states that cannot reach acceptance are then cut off, so every
 * transition either stays live or is DB_DFA_DEAD.
 */
#include "regex_dfa.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/utf8.h"
#include "harness/util/util.h"
#include "regex.h"

#define MAX_NFA_STATES 200000
#define MAX_DFA_STATES 20000

/* ---- AST ---------------------------------------------------------------- */
typedef struct byteset { uint64_t w[4]; } byteset;

static void bs_add(byteset *s, int b) { s->w[b >> 6] |= 1ull << (b & 63); }
static int  bs_has(const byteset *s, int b) { return (int)(s->w[b >> 6] >> (b & 63)) & 1; }
static void bs_range(byteset *s, int lo, int hi) { for (int b = lo; b <= hi; b++) bs_add(s, b); }

enum { N_SET, N_EMPTY, N_CAT, N_ALT, N_REPEAT };

typedef struct node {
    int kind;
    int a, b;          /* children (CAT, ALT: a b; REPEAT: a) */
    int min, max;      /* REPEAT; max -1 = unbounded */
    byteset set;       /* SET */
} node;

typedef struct parser {
    const char *pat;
    size_t len, pos;
    node *n;
    int nn, cap;
    char *err;
    size_t errlen;
    int failed;
} parser;

static int perr(parser *P, const char *what) {
    if (!P->failed)
        db_errf(P->err, P->errlen, "regex /%s/: %s at offset %zu", P->pat, what, P->pos);
    P->failed = 1;
    return -1;
}

static int new_node(parser *P, int kind) {
    if (P->nn == P->cap) {
        int cap = P->cap ? P->cap * 2 : 64;
        node *nn = realloc(P->n, sizeof *nn * (size_t)cap);
        if (!nn) return perr(P, "out of memory");
        P->n = nn;
        P->cap = cap;
    }
    memset(&P->n[P->nn], 0, sizeof P->n[0]);
    P->n[P->nn].kind = kind;
    P->n[P->nn].a = P->n[P->nn].b = -1;
    return P->nn++;
}

static int set_node(parser *P, const byteset *s) {
    int i = new_node(P, N_SET);
    if (i >= 0) P->n[i].set = *s;
    return i;
}

static int bin_node(parser *P, int kind, int a, int b) {
    if (a < 0 || b < 0) return -1;
    int i = new_node(P, kind);
    if (i >= 0) { P->n[i].a = a; P->n[i].b = b; }
    return i;
}

/* Bytes as a concatenation (a UTF-8 character, or an encoded \u escape). */
static int bytes_node(parser *P, const unsigned char *s, int n) {
    int r = -1;
    for (int k = 0; k < n; k++) {
        byteset b = { { 0 } };
        bs_add(&b, s[k]);
        int x = set_node(P, &b);
        r = r < 0 ? x : bin_node(P, N_CAT, r, x);
        if (r < 0) return -1;
    }
    return r;
}

/* Any non-ASCII UTF-8 character: [C2-DF][80-BF] | [E0-EF][80-BF]{2} | [F0-F4][80-BF]{3}. */
static int non_ascii_node(parser *P) {
    byteset cont = { { 0 } };
    bs_range(&cont, 0x80, 0xBF);
    static const int lead_lo[3] = { 0xC2, 0xE0, 0xF0 }, lead_hi[3] = { 0xDF, 0xEF, 0xF4 };
    int alt = -1;
    for (int k = 0; k < 3; k++) {
        byteset lead = { { 0 } };
        bs_range(&lead, lead_lo[k], lead_hi[k]);
        int seq = set_node(P, &lead);
        for (int c = 0; c <= k && seq >= 0; c++) seq = bin_node(P, N_CAT, seq, set_node(P, &cont));
        if (seq < 0) return -1;
        alt = alt < 0 ? seq : bin_node(P, N_ALT, alt, seq);
        if (alt < 0) return -1;
    }
    return alt;
}

/* ASCII set, plus every non-ASCII character when with_non_ascii. */
static int class_node(parser *P, const byteset *ascii, int with_non_ascii) {
    int s = set_node(P, ascii);
    if (!with_non_ascii || s < 0) return s;
    return bin_node(P, N_ALT, s, non_ascii_node(P));
}

static void ascii_class(int c, byteset *s) {
    switch (c) {
    case 'd': bs_range(s, '0', '9'); break;
    case 'w': bs_range(s, '0', '9'); bs_range(s, 'a', 'z'); bs_range(s, 'A', 'Z'); bs_add(s, '_'); break;
    case 's': bs_add(s, ' '); bs_range(s, '\t', '\r'); break;
    }
}

static void ascii_complement(byteset *s) {
    for (int b = 0; b < 128; b++) {
        if (bs_has(s, b)) s->w[b >> 6] &= ~(1ull << (b & 63));
        else bs_add(s, b);
    }
}

/* The regex_dfa wording of a front-end error (DB_RX_STRICT dialect). */
static const char *message(const db_rx_error *e, char *buf, size_t len) {
    switch (e->code) {
    case DB_RX_E_TRAILING_BACKSLASH: return "pattern ends after '\\'";
    case DB_RX_E_OCTAL: return "octal escapes are not supported";
    case DB_RX_E_HEX_X: return "\\x needs two hex digits";
    case DB_RX_E_HEX_U: return "\\u needs four hex digits";
    case DB_RX_E_BOUNDARY: return "word boundaries (\\b, \\B) are not supported";
    case DB_RX_E_NAMED_BACKREF: return "named backreferences are not supported";
    case DB_RX_E_BACKREF: return "backreferences are not supported";
    case DB_RX_E_UNKNOWN_ESCAPE: snprintf(buf, len, "unknown escape '\\%c'", (char)e->ch); return buf;
    case DB_RX_E_CLASS_UNTERMINATED: return "unterminated character class";
    case DB_RX_E_CLASS_NEGATED: return "\\D, \\W, \\S inside a class are not supported";
    case DB_RX_E_CLASS_NON_ASCII: return "non-ASCII characters in a class are not supported";
    case DB_RX_E_CLASS_RANGE_ESCAPE: return "a class escape cannot end a range";
    case DB_RX_E_RANGE_ORDER: return "range out of order in character class";
    case DB_RX_E_GROUP_SYNTAX: return "lookaround and named groups are not supported";
    case DB_RX_E_MISSING_PAREN: return "missing ')'";
    case DB_RX_E_NOTHING_TO_REPEAT: return "nothing to repeat";
    case DB_RX_E_ANCHOR: return "anchors are only supported at the start (^) and end ($)";
    case DB_RX_E_REPEAT_CAP: return "repetition count above 1000";
    case DB_RX_E_REPEAT_ORDER: return "numbers out of order in {} quantifier";
    case DB_RX_E_UNMATCHED_PAREN: return "unmatched ')'";
    default: return "out of memory";   /* the other codes belong to other dialects */
    }
}

static int lower_alt(parser *P, const db_rx_node *g);

/* [..], \d-style escapes: an ASCII byte set, plus every non-ASCII character
 * when negated (negated escapes \D \W \S only occur on their own) */
static int lower_class(parser *P, const db_rx_node *n) {
    byteset s = { { 0 } };
    int non_ascii = 0;
    for (int i = 0; i < n->nitems; i++) {
        const db_rx_item *it = &n->items[i];
        if (it->kind == DB_RX_C_RANGE) { bs_range(&s, (int)it->lo, (int)it->hi); continue; }
        static const char letter[] = { 0, 'd', 'd', 'w', 'w', 's', 's' };
        byteset t = { { 0 } };
        ascii_class(letter[it->kind], &t);
        if (it->kind == DB_RX_C_NDIGIT || it->kind == DB_RX_C_NWORD || it->kind == DB_RX_C_NSPACE) {
            ascii_complement(&t);
            non_ascii = 1;
        }
        for (int w = 0; w < 4; w++) s.w[w] |= t.w[w];
    }
    if (n->negate) { ascii_complement(&s); non_ascii = 1; }
    return class_node(P, &s, non_ascii);
}

static int lower_atom(parser *P, const db_rx_node *n) {
    switch (n->type) {
    case DB_RX_CHAR: {
        if (n->src_len > 0)   /* written literally: its source bytes */
            return bytes_node(P, (const unsigned char *)P->pat + n->src_off, n->src_len);
        unsigned char u[4];
        return bytes_node(P, u, db_utf8_encode(n->ch, u));
    }
    case DB_RX_ANY: {
        byteset s = { { 0 } };
        bs_range(&s, 0, 127);
        s.w[0] &= ~((1ull << '\n') | (1ull << '\r'));
        return class_node(P, &s, 1);
    }
    case DB_RX_CLASS: return lower_class(P, n);
    case DB_RX_GROUP: return lower_alt(P, n);
    case DB_RX_REPEAT: {
        int atom = lower_atom(P, n->child);
        if (atom < 0) return -1;
        int r = new_node(P, N_REPEAT);
        if (r < 0) return -1;
        P->n[r].a = atom;
        P->n[r].min = n->min;
        P->n[r].max = n->max;
        return r;
    }
    default:   /* anchors, lookaround, \b: refused by the strict dialect */
        return perr(P, "unsupported construct");
    }
}

/* alternatives as a left-leaning ALT chain of left-leaning CAT chains */
static int lower_alt(parser *P, const db_rx_node *g) {
    int r = -1;
    for (int a = 0; a < g->nalts; a++) {
        int c = -1;
        for (const db_rx_node *n = g->alts[a]; n; n = n->next) {
            int x = lower_atom(P, n);
            if (x < 0) return -1;
            c = c < 0 ? x : bin_node(P, N_CAT, c, x);
            if (c < 0) return -1;
        }
        if (c < 0 && (c = new_node(P, N_EMPTY)) < 0) return -1;
        r = r < 0 ? c : bin_node(P, N_ALT, r, c);
        if (r < 0) return -1;
    }
    return r;
}

/* ---- NFA ------------------------------------------------------------------ */
typedef struct nstate {
    int set;          /* byte-set index, or -1 for an epsilon state */
    int out1, out2;   /* -1 none; a set state uses out1 only */
} nstate;

typedef struct nfa {
    nstate *s;
    int n, cap;
    byteset *sets;
    int nsets, capsets;
    parser *P;
} nfa;

typedef struct frag { int start, end; } frag;

static int nfa_state(nfa *A, int set) {
    if (A->n >= MAX_NFA_STATES) return perr(A->P, "pattern too large (NFA state limit)");
    if (A->n == A->cap) {
        int cap = A->cap ? A->cap * 2 : 256;
        nstate *ns = realloc(A->s, sizeof *ns * (size_t)cap);
        if (!ns) return perr(A->P, "out of memory");
        A->s = ns;
        A->cap = cap;
    }
    A->s[A->n] = (nstate){ set, -1, -1 };
    return A->n++;
}

static void add_eps(nfa *A, int from, int to) {
    if (A->s[from].out1 < 0) A->s[from].out1 = to;
    else A->s[from].out2 = to;
}

static int nfa_set(nfa *A, const byteset *b) {
    if (A->nsets == A->capsets) {
        int cap = A->capsets ? A->capsets * 2 : 64;
        byteset *ns = realloc(A->sets, sizeof *ns * (size_t)cap);
        if (!ns) return perr(A->P, "out of memory");
        A->sets = ns;
        A->capsets = cap;
    }
    A->sets[A->nsets] = *b;
    return A->nsets++;
}

static int build(nfa *A, const node *nodes, int i, frag *f);

static int build_quest(nfa *A, const node *nodes, int i, frag *f) {
    frag x;
    if (build(A, nodes, i, &x) < 0) return -1;
    int s = nfa_state(A, -1);
    if (s < 0) return -1;
    add_eps(A, s, x.start);
    add_eps(A, s, x.end);
    *f = (frag){ s, x.end };
    return 0;
}

static int build_star(nfa *A, const node *nodes, int i, frag *f) {
    frag x;
    if (build(A, nodes, i, &x) < 0) return -1;
    int s = nfa_state(A, -1), e = nfa_state(A, -1);
    if (s < 0 || e < 0) return -1;
    add_eps(A, s, x.start);
    add_eps(A, s, e);
    add_eps(A, x.end, x.start);
    add_eps(A, x.end, e);
    *f = (frag){ s, e };
    return 0;
}

static int build(nfa *A, const node *nodes, int i, frag *f) {
    const node *n = &nodes[i];
    switch (n->kind) {
    case N_EMPTY: {
        int s = nfa_state(A, -1);
        if (s < 0) return -1;
        *f = (frag){ s, s };
        return 0;
    }
    case N_SET: {
        int si = nfa_set(A, &n->set);
        if (si < 0) return -1;
        int s = nfa_state(A, si), e = nfa_state(A, -1);
        if (s < 0 || e < 0) return -1;
        A->s[s].out1 = e;
        *f = (frag){ s, e };
        return 0;
    }
    case N_CAT: {
        frag a, b;
        if (build(A, nodes, n->a, &a) < 0 || build(A, nodes, n->b, &b) < 0) return -1;
        add_eps(A, a.end, b.start);
        *f = (frag){ a.start, b.end };
        return 0;
    }
    case N_ALT: {
        frag a, b;
        if (build(A, nodes, n->a, &a) < 0 || build(A, nodes, n->b, &b) < 0) return -1;
        int s = nfa_state(A, -1), e = nfa_state(A, -1);
        if (s < 0 || e < 0) return -1;
        add_eps(A, s, a.start);
        add_eps(A, s, b.start);
        add_eps(A, a.end, e);
        add_eps(A, b.end, e);
        *f = (frag){ s, e };
        return 0;
    }
    case N_REPEAT: {
        /* m copies, then (max - m) optional copies or one star */
        int s = nfa_state(A, -1);
        if (s < 0) return -1;
        frag acc = { s, s };
        int extra = n->max < 0 ? 1 : n->max - n->min;
        for (int k = 0; k < n->min + extra; k++) {
            frag x;
            int rc = k < n->min ? build(A, nodes, n->a, &x)
                   : n->max < 0 ? build_star(A, nodes, n->a, &x) : build_quest(A, nodes, n->a, &x);
            if (rc < 0) return -1;
            add_eps(A, acc.end, x.start);
            acc.end = x.end;
        }
        *f = acc;
        return 0;
    }
    }
    return -1;
}

/* ---- DFA ------------------------------------------------------------------ */
struct db_regex_dfa {
    int n_states;
    int start;
    int *next;            /* n_states × 256 */
    unsigned char *accept;
};

typedef struct subset_table {
    int **sets;           /* sorted NFA state lists per DFA state */
    int *sizes;
    int n, cap;
    int *hash;            /* open addressing: DFA state index or -1 */
    int hcap;
} subset_table;

static uint64_t hash_ints(const int *v, int n) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) h = (h ^ (uint32_t)v[i]) * 1099511628211ull;
    return h ^ (uint64_t)n;
}

static int table_find(const subset_table *T, const int *v, int n, int *slot) {
    int mask = T->hcap - 1;
    int h = (int)(hash_ints(v, n) & (uint64_t)mask);
    while (T->hash[h] >= 0) {
        int k = T->hash[h];
        if (T->sizes[k] == n && memcmp(T->sets[k], v, sizeof *v * (size_t)n) == 0) return k;
        h = (h + 1) & mask;
    }
    *slot = h;
    return -1;
}

static int table_grow_hash(subset_table *T) {
    int ncap = T->hcap ? T->hcap * 2 : 1024;
    int *nh = malloc(sizeof *nh * (size_t)ncap);
    if (!nh) return -1;
    for (int i = 0; i < ncap; i++) nh[i] = -1;
    free(T->hash);
    T->hash = nh;
    T->hcap = ncap;
    for (int k = 0; k < T->n; k++) {
        int slot;
        table_find(T, T->sets[k], T->sizes[k], &slot);
        T->hash[slot] = k;
    }
    return 0;
}

static int cmp_int(const void *x, const void *y) {
    int a = *(const int *)x, b = *(const int *)y;
    return (a > b) - (a < b);
}

/* Epsilon closure of the states in list (n), written sorted to out; returns its size. */
static int closure(const nfa *A, int *list, int n, unsigned char *mark, int *stack, int *out) {
    int sp = 0, m = 0;
    for (int i = 0; i < n; i++)
        if (!mark[list[i]]) { mark[list[i]] = 1; stack[sp++] = list[i]; }
    while (sp > 0) {
        int s = stack[--sp];
        out[m++] = s;
        if (A->s[s].set < 0) {
            int o[2] = { A->s[s].out1, A->s[s].out2 };
            for (int k = 0; k < 2; k++)
                if (o[k] >= 0 && !mark[o[k]]) { mark[o[k]] = 1; stack[sp++] = o[k]; }
        }
    }
    for (int i = 0; i < m; i++) mark[out[i]] = 0;
    /* sort (insertion sort is fine for the usual small sets; fall back to qsort) */
    if (m > 64) {
        qsort(out, (size_t)m, sizeof *out, cmp_int);
    } else {
        for (int i = 1; i < m; i++) {
            int v = out[i], j = i - 1;
            while (j >= 0 && out[j] > v) { out[j + 1] = out[j]; j--; }
            out[j + 1] = v;
        }
    }
    return m;
}

void db_regex_dfa_free(db_regex_dfa *d) {
    if (!d) return;
    free(d->next);
    free(d->accept);
    free(d);
}

static int determinize(nfa *A, int start, int accept, db_regex_dfa **out, parser *P) {
    /* byte equivalence classes: bytes no set tells apart share a class */
    int cls[256], n_cls = 1, rep[256];
    memset(cls, 0, sizeof cls);
    for (int si = 0; si < A->nsets; si++) {
        int remap_in[256], remap_out[256];
        for (int c = 0; c < 256; c++) remap_in[c] = remap_out[c] = -1;
        int next_n = 0;
        for (int b = 0; b < 256; b++) {
            int *r = bs_has(&A->sets[si], b) ? remap_in : remap_out;
            if (r[cls[b]] < 0) r[cls[b]] = next_n++;
            cls[b] = r[cls[b]];
        }
        n_cls = next_n;
    }
    for (int c = 0; c < n_cls; c++) rep[c] = -1;
    for (int b = 0; b < 256; b++) if (rep[cls[b]] < 0) rep[cls[b]] = b;

    subset_table T = { 0 };
    int *next = NULL;
    unsigned char *acc = NULL;
    int rc = -1, nn = A->n;
    unsigned char *mark = calloc((size_t)nn, 1);
    int *stack = malloc(sizeof *stack * (size_t)nn);
    int *buf = malloc(sizeof *buf * (size_t)nn);
    int *mv = malloc(sizeof *mv * (size_t)nn);
    int ncap = 0;
    if (!mark || !stack || !buf || !mv || table_grow_hash(&T) != 0) { perr(P, "out of memory"); goto done; }

    int m = closure(A, &start, 1, mark, stack, buf);
    int slot;
    table_find(&T, buf, m, &slot);
    /* add state 0 */
    T.cap = 64;
    T.sets = malloc(sizeof *T.sets * (size_t)T.cap);
    T.sizes = malloc(sizeof *T.sizes * (size_t)T.cap);
    if (!T.sets || !T.sizes || !(T.sets[0] = malloc(sizeof(int) * (size_t)(m ? m : 1)))) { perr(P, "out of memory"); goto done; }
    memcpy(T.sets[0], buf, sizeof(int) * (size_t)m);
    T.sizes[0] = m;
    T.n = 1;
    T.hash[slot] = 0;

    for (int d = 0; d < T.n; d++) {
        if (T.n + 1 >= ncap) {
            int c2 = ncap ? ncap * 2 : 64;
            int *nx = realloc(next, sizeof *nx * 256 * (size_t)c2);
            unsigned char *na = realloc(acc, (size_t)c2);
            if (nx) next = nx;
            if (na) acc = na;
            if (!nx || !na) { perr(P, "out of memory"); goto done; }
            ncap = c2;
        }
        acc[d] = 0;
        for (int k = 0; k < T.sizes[d]; k++) if (T.sets[d][k] == accept) acc[d] = 1;
        for (int c = 0; c < n_cls; c++) {
            int b = rep[c], nm = 0;
            for (int k = 0; k < T.sizes[d]; k++) {
                const nstate *s = &A->s[T.sets[d][k]];
                if (s->set >= 0 && bs_has(&A->sets[s->set], b)) mv[nm++] = s->out1;
            }
            int target = DB_DFA_DEAD;
            if (nm > 0) {
                int cm = closure(A, mv, nm, mark, stack, buf);
                target = table_find(&T, buf, cm, &slot);
                if (target < 0) {
                    if (T.n >= MAX_DFA_STATES) { perr(P, "pattern too large (DFA state limit 20000)"); goto done; }
                    if (T.n == T.cap) {
                        int c2 = T.cap * 2;
                        int **ns = realloc(T.sets, sizeof *ns * (size_t)c2);
                        if (ns) T.sets = ns;
                        int *nz = realloc(T.sizes, sizeof *nz * (size_t)c2);
                        if (nz) T.sizes = nz;
                        if (!ns || !nz) { perr(P, "out of memory"); goto done; }
                        T.cap = c2;
                    }
                    if (!(T.sets[T.n] = malloc(sizeof(int) * (size_t)cm))) { perr(P, "out of memory"); goto done; }
                    memcpy(T.sets[T.n], buf, sizeof(int) * (size_t)cm);
                    T.sizes[T.n] = cm;
                    T.hash[slot] = T.n;
                    target = T.n++;
                    if (T.n * 2 > T.hcap && table_grow_hash(&T) != 0) { perr(P, "out of memory"); goto done; }
                }
            }
            for (int bb = 0; bb < 256; bb++)
                if (cls[bb] == c) next[(size_t)d * 256 + (size_t)bb] = target;
        }
    }

    /* live states: reverse reachability from accepting ones (BFS over
     * reversed transitions, stored as compressed rows) */
    {
        const size_t n = (size_t)(unsigned)T.n;
        unsigned char *live = calloc(n, 1);
        int *start_of = calloc(n + 1, sizeof *start_of);
        int *from = malloc(sizeof *from * n * 256);
        int *queue = malloc(sizeof *queue * n);
        if (!live || !start_of || !from || !queue) {
            free(live); free(start_of); free(from); free(queue);
            perr(P, "out of memory");
            goto done;
        }
        for (size_t k = 0; k < n * 256; k++)
            if (next[k] >= 0) start_of[next[k] + 1]++;
        for (size_t q = 0; q < n; q++) start_of[q + 1] += start_of[q];
        for (size_t k = 0; k < n * 256; k++)
            if (next[k] >= 0) from[start_of[next[k]]++] = (int)(k / 256);
        for (size_t q = n; q > 0; q--) start_of[q] = start_of[q - 1];
        start_of[0] = 0;
        size_t head = 0, tail = 0;
        for (size_t q = 0; q < n; q++)
            if (acc[q]) { live[q] = 1; queue[tail++] = (int)q; }
        while (head < tail) {
            int q = queue[head++];
            for (int k = start_of[q]; k < start_of[q + 1]; k++)
                if (!live[from[k]]) { live[from[k]] = 1; queue[tail++] = from[k]; }
        }
        free(start_of);
        free(from);
        free(queue);
        for (size_t k = 0; k < (size_t)n * 256; k++)
            if (next[k] >= 0 && !live[next[k]]) next[k] = DB_DFA_DEAD;
        db_regex_dfa *D = calloc(1, sizeof *D);
        if (!D) { free(live); perr(P, "out of memory"); goto done; }
        D->n_states = (int)n;
        D->start = live[0] ? 0 : DB_DFA_DEAD;
        D->next = next;
        D->accept = acc;
        next = NULL;
        acc = NULL;
        free(live);
        *out = D;
        rc = 0;
    }
done:
    for (int k = 0; k < T.n; k++) free(T.sets[k]);
    free(T.sets);
    free(T.sizes);
    free(T.hash);
    free(next);
    free(acc);
    free(mark);
    free(stack);
    free(buf);
    free(mv);
    return rc;
}

int db_regex_dfa_compile(const char *pattern, db_regex_dfa **out, char *err, size_t errlen) {
    *out = NULL;
    if (!pattern) return db_errf(err, errlen, "regex: no pattern");
    parser P = { .pat = pattern, .len = strlen(pattern), .err = err, .errlen = errlen };
    /* ^ and $ only at the very ends (the match is anchored anyway) */
    size_t lo = 0, hi = P.len;
    if (hi > 0 && pattern[0] == '^') lo = 1;
    if (hi > lo && pattern[hi - 1] == '$' && !(hi >= 2 && pattern[hi - 2] == '\\')) hi--;
    db_rx_error e;
    db_rx *re = db_rx_parse(pattern, lo, hi, DB_RX_STRICT, &e);
    int root = -1;
    if (!re) {
        char buf[48];
        P.pos = e.offset;
        perr(&P, message(&e, buf, sizeof buf));
    } else {
        P.len = P.pos = hi;   /* where the later (size) errors point */
        root = lower_alt(&P, re->root);
        db_rx_free(re);
    }
    int rc = -1;
    if (root >= 0) {
        nfa A = { .P = &P };
        frag f;
        if (build(&A, P.n, root, &f) == 0) rc = determinize(&A, f.start, f.end, out, &P);
        free(A.s);
        free(A.sets);
    }
    free(P.n);
    return rc;
}

int db_regex_dfa_n_states(const db_regex_dfa *d) { return d->n_states; }
int db_regex_dfa_start(const db_regex_dfa *d) { return d->start; }

int db_regex_dfa_step(const db_regex_dfa *d, int state, unsigned char byte) {
    if (state < 0 || state >= d->n_states) return DB_DFA_DEAD;
    return d->next[(size_t)state * 256 + byte];
}

int db_regex_dfa_run(const db_regex_dfa *d, int state, const char *bytes, size_t n) {
    for (size_t i = 0; i < n && state >= 0; i++)
        state = d->next[(size_t)state * 256 + (unsigned char)bytes[i]];
    return state;
}

bool db_regex_dfa_accepting(const db_regex_dfa *d, int state) {
    return state >= 0 && state < d->n_states && d->accept[state];
}

bool db_regex_dfa_live(const db_regex_dfa *d, int state) { return state >= 0 && state < d->n_states; }

int db_regex_dfa_match(const db_regex_dfa *d, const char *text, size_t n) {
    return db_regex_dfa_accepting(d, db_regex_dfa_run(d, d->start, text, n));
}

int db_regex_dfa_prefix(const db_regex_dfa *d, const char *text, size_t n) {
    return db_regex_dfa_run(d, d->start, text, n) >= 0;
}
