/* gbnf_ref.c — the tests' independent GBNF reference (see gbnf_ref.h): a
 * recursive-descent parser of llama.cpp's GBNF syntax into plain BNF over
 * code-point classes (repetitions become helper rules), and an Earley
 * recogniser (with Aycock & Horspool's handling of nullable rules) that
 * classifies a string as sentence / proper prefix / neither.  Rules that
 * derive no string are removed first, so a non-empty Earley set after the
 * last character means the text is a prefix of some sentence.
 *
 * Written from the GBNF documentation, not from harness/constraint/grammar.c or
 * llama.cpp's parser; speed is secondary (tests only).
 */
#include "gbnf_ref.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { uint32_t lo, hi; } cp_range;
typedef struct { cp_range *r; int n; int negate; } cp_class;
typedef struct { int lhs; int n; int *sym; } production;   /* sym >= 0 rule, < 0 class -(i+1) */

struct gbnf_ref {
    char **names;          /* NULL for helper rules */
    unsigned char *defined;
    int n_rules, cap_rules;
    production *prods;
    int n_prods, cap_prods;
    cp_class *classes;
    int n_classes, cap_classes;
    int root;
    /* derived after parsing */
    unsigned char *live_prod;   /* every symbol of the production derives some string */
    unsigned char *nullable;
    int *rank;                  /* height of the lowest derivation tree (rules) */
    int *prod_rank;
    int **rule_prods;           /* live productions per rule */
    int *n_rule_prods;
};

/* ---- parser ----------------------------------------------------------- */

typedef struct {
    gbnf_ref *g;
    const char *src;
    char *err;
    size_t errlen;
    int failed;
} parser;

static void perr(parser *p, const char *at, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = 1;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "gbnf_ref: %s at offset %ld", msg, (long)(at - p->src));
}

static void *grow(void *arr, int *cap, int need, size_t elem) {
    if (need <= *cap) return arr;
    int c = *cap ? *cap * 2 : 16;
    while (c < need) c *= 2;
    void *n = realloc(arr, (size_t)c * elem);
    if (!n) return NULL;
    memset((char *)n + (size_t)*cap * elem, 0, (size_t)(c - *cap) * elem);
    *cap = c;
    return n;
}

static int new_rule(parser *p, const char *name, size_t len) {
    gbnf_ref *g = p->g;
    int cap = g->cap_rules;
    char **names = grow(g->names, &cap, g->n_rules + 1, sizeof *names);
    if (!names) { perr(p, p->src, "out of memory"); return -1; }
    g->names = names;
    int cap2 = g->cap_rules;
    unsigned char *def = grow(g->defined, &cap2, g->n_rules + 1, 1);
    if (!def) { perr(p, p->src, "out of memory"); return -1; }
    g->defined = def;
    g->cap_rules = cap;
    g->names[g->n_rules] = NULL;
    if (name) {
        g->names[g->n_rules] = malloc(len + 1);
        if (!g->names[g->n_rules]) { perr(p, p->src, "out of memory"); return -1; }
        memcpy(g->names[g->n_rules], name, len);
        g->names[g->n_rules][len] = 0;
    } else {
        g->defined[g->n_rules] = 1;   /* helper rules are defined where made */
    }
    return g->n_rules++;
}

static int rule_named(parser *p, const char *name, size_t len) {
    for (int i = 0; i < p->g->n_rules; i++)
        if (p->g->names[i] && strlen(p->g->names[i]) == len && memcmp(p->g->names[i], name, len) == 0) return i;
    return new_rule(p, name, len);
}

static void add_prod(parser *p, int lhs, const int *sym, int n) {
    gbnf_ref *g = p->g;
    production *pr = grow(g->prods, &g->cap_prods, g->n_prods + 1, sizeof *pr);
    if (!pr) { perr(p, p->src, "out of memory"); return; }
    g->prods = pr;
    int *s = malloc(sizeof *s * (size_t)(n > 0 ? n : 1));
    if (!s) { perr(p, p->src, "out of memory"); return; }
    if (n > 0) memcpy(s, sym, sizeof *s * (size_t)n);
    g->prods[g->n_prods].lhs = lhs;
    g->prods[g->n_prods].n = n;
    g->prods[g->n_prods].sym = s;
    g->n_prods++;
}

static int add_class(parser *p, const cp_range *r, int n, int negate) {
    gbnf_ref *g = p->g;
    cp_class *c = grow(g->classes, &g->cap_classes, g->n_classes + 1, sizeof *c);
    if (!c) { perr(p, p->src, "out of memory"); return 0; }
    g->classes = c;
    cp_range *rr = malloc(sizeof *rr * (size_t)(n > 0 ? n : 1));
    if (!rr) { perr(p, p->src, "out of memory"); return 0; }
    if (n > 0) memcpy(rr, r, sizeof *rr * (size_t)n);
    g->classes[g->n_classes].r = rr;
    g->classes[g->n_classes].n = n;
    g->classes[g->n_classes].negate = negate;
    return -(++g->n_classes);
}

/* a growable symbol list */
typedef struct { int *s; int n, cap; } symlist;

static void push_sym(parser *p, symlist *l, int sym) {
    int *s = grow(l->s, &l->cap, l->n + 1, sizeof *s);
    if (!s) { perr(p, p->src, "out of memory"); return; }
    l->s = s;
    l->s[l->n++] = sym;
}

/* UTF-8 decode one code point; returns bytes used, 0 on invalid input */
static int utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp) {
    if (avail == 0) return 0;
    unsigned c = s[0];
    int n;
    uint32_t v;
    if (c < 0x80) { *cp = c; return 1; }
    else if ((c & 0xE0) == 0xC0) { n = 2; v = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 3; v = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 4; v = c & 0x07; }
    else return 0;
    if ((size_t)n > avail) return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* one literal/class character, escapes included */
static const char *parse_char(parser *p, const char *s, uint32_t *cp) {
    if (*s == '\\') {
        int digits = 0;
        switch (s[1]) {
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        case 't': *cp = '\t'; return s + 2;
        case 'r': *cp = '\r'; return s + 2;
        case 'n': *cp = '\n'; return s + 2;
        case '\\': case '"': case '[': case ']': case '-': *cp = (unsigned char)s[1]; return s + 2;
        default: perr(p, s, "unknown escape"); return s;
        }
        uint32_t v = 0;
        for (int i = 0; i < digits; i++) {
            int h = hexval(s[2 + i]);
            if (h < 0) { perr(p, s, "bad hex escape"); return s; }
            v = v * 16 + (uint32_t)h;
        }
        *cp = v;
        return s + 2 + digits;
    }
    if (!*s) { perr(p, s, "unexpected end of input"); return s; }
    int n = utf8_decode((const unsigned char *)s, strlen(s), cp);
    if (n == 0) { perr(p, s, "invalid UTF-8"); return s; }
    return s + n;
}

static const char *skip_space(const char *s, int newline_ok) {
    for (;;) {
        if (*s == ' ' || *s == '\t') s++;
        else if (*s == '#') { while (*s && *s != '\n' && *s != '\r') s++; }
        else if (newline_ok && (*s == '\n' || *s == '\r')) s++;
        else return s;
    }
}

static int is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static const char *parse_alternates(parser *p, const char *s, int lhs, int nested);

/* X repeated min..max (max < 0: unbounded) appended to out */
static void repeat(parser *p, symlist *out, int x, int min, int max) {
    for (int i = 0; i < min; i++) push_sym(p, out, x);
    if (max < 0) {
        /* R ::= X R | ε */
        int r = new_rule(p, NULL, 0);
        if (r < 0) return;
        int two[2] = { x, r };
        add_prod(p, r, two, 2);
        add_prod(p, r, NULL, 0);
        push_sym(p, out, r);
    } else if (max > min) {
        /* O1 ::= X | ε ; Oj ::= X O(j-1) | ε */
        int prev = -1;
        for (int j = 0; j < max - min; j++) {
            int o = new_rule(p, NULL, 0);
            if (o < 0) return;
            int two[2] = { x, prev };
            add_prod(p, o, two, prev < 0 ? 1 : 2);
            add_prod(p, o, NULL, 0);
            prev = o;
        }
        push_sym(p, out, prev);
    }
}

/* wrap the symbols from `from` on into one helper rule; returns its symbol */
static int wrap(parser *p, symlist *l, int from) {
    if (l->n - from == 1) {
        int s = l->s[from];
        l->n = from;
        return s;
    }
    int r = new_rule(p, NULL, 0);
    if (r < 0) return 0;
    add_prod(p, r, l->s + from, l->n - from);
    l->n = from;
    return r;
}

static const char *parse_sequence(parser *p, const char *s, int lhs, int nested) {
    symlist l = { 0 };
    int last = -1;   /* where the last item's symbols start */
    while (*s && !p->failed) {
        if (*s == '"') {
            last = l.n;
            s++;
            while (*s != '"' && !p->failed) {
                if (!*s) { perr(p, s, "unterminated literal"); break; }
                uint32_t cp;
                s = parse_char(p, s, &cp);
                cp_range r = { cp, cp };
                push_sym(p, &l, add_class(p, &r, 1, 0));
            }
            if (p->failed) break;
            s = skip_space(s + 1, nested);
        } else if (*s == '[') {
            last = l.n;
            s++;
            int negate = 0;
            if (*s == '^') { negate = 1; s++; }
            cp_range rs[512];
            int nr = 0;
            while (*s != ']' && !p->failed) {
                if (!*s) { perr(p, s, "unterminated character class"); break; }
                uint32_t lo, hi;
                s = parse_char(p, s, &lo);
                hi = lo;
                if (s[0] == '-' && s[1] && s[1] != ']') s = parse_char(p, s + 1, &hi);
                if (nr == 512) { perr(p, s, "character class too long for the reference"); break; }
                rs[nr].lo = lo;
                rs[nr].hi = hi;
                nr++;
            }
            if (p->failed) break;
            push_sym(p, &l, add_class(p, rs, nr, negate));
            s = skip_space(s + 1, nested);
        } else if (*s == '.') {
            last = l.n;
            push_sym(p, &l, add_class(p, NULL, 0, 1));
            s = skip_space(s + 1, nested);
        } else if (is_word(*s)) {
            last = l.n;
            const char *b = s;
            while (is_word(*s)) s++;
            push_sym(p, &l, rule_named(p, b, (size_t)(s - b)));
            s = skip_space(s, nested);
        } else if (*s == '(') {
            last = l.n;
            int r = new_rule(p, NULL, 0);
            if (r < 0) break;
            s = parse_alternates(p, skip_space(s + 1, 1), r, 1);
            if (p->failed) break;
            if (*s != ')') { perr(p, s, "expecting ')'"); break; }
            push_sym(p, &l, r);
            s = skip_space(s + 1, nested);
        } else if (*s == '*' || *s == '+' || *s == '?' || *s == '{') {
            if (last < 0 || last >= l.n) { perr(p, s, "repetition without an item"); break; }
            int min = 0, max = -1;
            if (*s == '*') { s++; }
            else if (*s == '+') { min = 1; s++; }
            else if (*s == '?') { max = 1; s++; }
            else {
                s = skip_space(s + 1, nested);
                char *e;
                long v = strtol(s, &e, 10);
                if (e == s || v < 0) { perr(p, s, "expecting a number"); break; }
                min = (int)v;
                s = skip_space(e, nested);
                if (*s == ',') {
                    s = skip_space(s + 1, nested);
                    if (*s == '}') max = -1;
                    else {
                        long w = strtol(s, &e, 10);
                        if (e == s || w < min) { perr(p, s, "bad upper bound"); break; }
                        max = (int)w;
                        s = skip_space(e, nested);
                    }
                } else {
                    max = min;
                }
                if (*s != '}') { perr(p, s, "expecting '}'"); break; }
                s++;
            }
            int x = wrap(p, &l, last);
            repeat(p, &l, x, min, max);
            last = -1;
            s = skip_space(s, nested);
        } else {
            break;
        }
    }
    if (!p->failed) add_prod(p, lhs, l.s, l.n);
    free(l.s);
    return s;
}

static const char *parse_alternates(parser *p, const char *s, int lhs, int nested) {
    s = parse_sequence(p, s, lhs, nested);
    while (!p->failed && *s == '|') {
        s = skip_space(s + 1, 1);
        s = parse_sequence(p, s, lhs, nested);
    }
    return s;
}

/* ---- analysis: live productions, nullable rules, derivation heights ---- */

static int class_empty(const cp_class *c) {
    if (c->negate) return 0;
    for (int i = 0; i < c->n; i++)
        if (c->r[i].lo <= c->r[i].hi) return 0;
    return 1;
}

static int analyse(gbnf_ref *g) {
    int R = g->n_rules, P = g->n_prods;
    g->live_prod = calloc((size_t)P + 1, 1);
    g->nullable = calloc((size_t)R + 1, 1);
    g->rank = malloc(sizeof *g->rank * (size_t)(R + 1));
    g->prod_rank = malloc(sizeof *g->prod_rank * (size_t)(P + 1));
    g->rule_prods = calloc((size_t)R + 1, sizeof *g->rule_prods);
    g->n_rule_prods = calloc((size_t)R + 1, sizeof *g->n_rule_prods);
    if (!g->live_prod || !g->nullable || !g->rank || !g->prod_rank || !g->rule_prods || !g->n_rule_prods) return -1;
    for (int i = 0; i < R; i++) g->rank[i] = -1;
    /* rank: the round in which a rule first derives a string */
    for (int round = 0, changed = 1; changed; round++) {
        changed = 0;
        int *newly = calloc((size_t)R + 1, sizeof *newly);
        if (!newly) return -1;
        for (int i = 0; i < P; i++) {
            const production *pr = &g->prods[i];
            if (g->live_prod[i]) continue;
            int ok = 1, hmax = 0;
            for (int k = 0; k < pr->n && ok; k++) {
                int s = pr->sym[k];
                if (s < 0) ok = !class_empty(&g->classes[-s - 1]);
                else if (g->rank[s] < 0) ok = 0;
                else if (g->rank[s] + 1 > hmax) hmax = g->rank[s] + 1;
            }
            if (!ok) continue;
            g->live_prod[i] = 1;
            g->prod_rank[i] = hmax;
            changed = 1;
            newly[pr->lhs] = 1;
        }
        for (int r = 0; r < R; r++)
            if (newly[r] && g->rank[r] < 0) {
                int best = -1;
                for (int i = 0; i < P; i++)
                    if (g->live_prod[i] && g->prods[i].lhs == r && (best < 0 || g->prod_rank[i] < best)) best = g->prod_rank[i];
                g->rank[r] = best;
            }
        free(newly);
    }
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < P; i++) {
            const production *pr = &g->prods[i];
            if (!g->live_prod[i] || g->nullable[pr->lhs]) continue;
            int all = 1;
            for (int k = 0; k < pr->n && all; k++) all = pr->sym[k] >= 0 && g->nullable[pr->sym[k]];
            if (all) { g->nullable[pr->lhs] = 1; changed = 1; }
        }
    }
    for (int i = 0; i < P; i++)
        if (g->live_prod[i]) g->n_rule_prods[g->prods[i].lhs]++;
    for (int r = 0; r < R; r++) {
        g->rule_prods[r] = malloc(sizeof(int) * (size_t)(g->n_rule_prods[r] + 1));
        if (!g->rule_prods[r]) return -1;
        g->n_rule_prods[r] = 0;
    }
    for (int i = 0; i < P; i++)
        if (g->live_prod[i]) {
            int r = g->prods[i].lhs;
            g->rule_prods[r][g->n_rule_prods[r]++] = i;
        }
    return 0;
}

gbnf_ref *gbnf_ref_parse(const char *text, char *err, size_t errlen) {
    gbnf_ref *g = calloc(1, sizeof *g);
    if (!g) { snprintf(err, errlen, "gbnf_ref: out of memory"); return NULL; }
    parser p = { g, text, err, errlen, 0 };
    const char *s = skip_space(text, 1);
    while (*s && !p.failed) {
        const char *b = s;
        while (is_word(*s)) s++;
        if (s == b) { perr(&p, s, "expecting a rule name"); break; }
        int lhs = rule_named(&p, b, (size_t)(s - b));
        if (lhs < 0) break;
        s = skip_space(s, 0);
        if (strncmp(s, "::=", 3) != 0) { perr(&p, s, "expecting ::="); break; }
        g->defined[lhs] = 1;
        s = parse_alternates(&p, skip_space(s + 3, 1), lhs, 0);
        if (p.failed) break;
        if (*s == '\r') s += s[1] == '\n' ? 2 : 1;
        else if (*s == '\n') s++;
        else if (*s) { perr(&p, s, "expecting a newline or the end"); break; }
        s = skip_space(s, 1);
    }
    g->root = -1;
    for (int i = 0; i < g->n_rules && !p.failed; i++) {
        if (!g->defined[i]) perr(&p, text, "undefined rule '%s'", g->names[i]);
        if (g->names[i] && strcmp(g->names[i], "root") == 0) g->root = i;
    }
    if (!p.failed && g->root < 0) perr(&p, text, "no rule 'root'");
    if (!p.failed && analyse(g) != 0) perr(&p, text, "out of memory");
    if (p.failed) { gbnf_ref_free(g); return NULL; }
    return g;
}

void gbnf_ref_free(gbnf_ref *g) {
    if (!g) return;
    for (int i = 0; i < g->n_rules; i++) {
        free(g->names[i]);
        if (g->rule_prods) free(g->rule_prods[i]);
    }
    for (int i = 0; i < g->n_prods; i++) free(g->prods[i].sym);
    for (int i = 0; i < g->n_classes; i++) free(g->classes[i].r);
    free(g->names);
    free(g->defined);
    free(g->prods);
    free(g->classes);
    free(g->live_prod);
    free(g->nullable);
    free(g->rank);
    free(g->prod_rank);
    free(g->rule_prods);
    free(g->n_rule_prods);
    free(g);
}

/* ---- Earley recogniser ------------------------------------------------ */

typedef struct { int prod, dot, origin; } item;
typedef struct {
    item *it;
    int n, cap;
    int *hash;      /* open addressing: index + 1, 0 empty */
    int hcap;
} item_set;

static unsigned item_hash(item x) {
    return (unsigned)x.prod * 2654435761u ^ (unsigned)x.dot * 40503u ^ (unsigned)x.origin * 97u;
}

static int set_add(item_set *s, item x) {
    if ((s->n + 1) * 2 > s->hcap) {
        int hc = s->hcap ? s->hcap * 2 : 64;
        int *h = calloc((size_t)hc, sizeof *h);
        if (!h) return -1;
        for (int i = 0; i < s->n; i++) {
            unsigned k = item_hash(s->it[i]) & (unsigned)(hc - 1);
            while (h[k]) k = (k + 1) & (unsigned)(hc - 1);
            h[k] = i + 1;
        }
        free(s->hash);
        s->hash = h;
        s->hcap = hc;
    }
    unsigned k = item_hash(x) & (unsigned)(s->hcap - 1);
    while (s->hash[k]) {
        const item *y = &s->it[s->hash[k] - 1];
        if (y->prod == x.prod && y->dot == x.dot && y->origin == x.origin) return 0;
        k = (k + 1) & (unsigned)(s->hcap - 1);
    }
    item *ni = grow(s->it, &s->cap, s->n + 1, sizeof *ni);
    if (!ni) return -1;
    s->it = ni;
    s->it[s->n] = x;
    s->hash[k] = ++s->n;
    return 1;
}

static int class_has(const cp_class *c, uint32_t cp) {
    int in = 0;
    for (int i = 0; i < c->n && !in; i++) in = cp >= c->r[i].lo && cp <= c->r[i].hi;
    return c->negate ? !in : in;
}

int gbnf_ref_match(const gbnf_ref *g, const char *text, size_t len) {
    /* decode first */
    uint32_t *cps = malloc(sizeof *cps * (len + 1));
    if (!cps) return -1;
    int n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_decode((const unsigned char *)text + i, len - i, &cp);
        if (k == 0) { free(cps); return -1; }
        cps[n++] = cp;
        i += (size_t)k;
    }
    item_set *sets = calloc((size_t)n + 1, sizeof *sets);
    if (!sets) { free(cps); return -1; }
    int rc = 0, oom = 0;
    for (int j = 0; j < g->n_rule_prods[g->root]; j++) {
        item x = { g->rule_prods[g->root][j], 0, 0 };
        if (set_add(&sets[0], x) < 0) oom = 1;
    }
    int k;
    for (k = 0; k <= n && !oom; k++) {
        item_set *S = &sets[k];
        if (S->n == 0) break;   /* nothing can follow: not a prefix */
        for (int w = 0; w < S->n && !oom; w++) {
            item x = S->it[w];
            const production *pr = &g->prods[x.prod];
            if (x.dot < pr->n) {
                int sym = pr->sym[x.dot];
                if (sym >= 0) {
                    for (int j = 0; j < g->n_rule_prods[sym]; j++) {
                        item y = { g->rule_prods[sym][j], 0, k };
                        if (set_add(S, y) < 0) oom = 1;
                    }
                    if (g->nullable[sym]) {
                        item y = { x.prod, x.dot + 1, x.origin };
                        if (set_add(S, y) < 0) oom = 1;
                    }
                } else if (k < n && class_has(&g->classes[-sym - 1], cps[k])) {
                    item y = { x.prod, x.dot + 1, x.origin };
                    if (set_add(&sets[k + 1], y) < 0) oom = 1;
                }
            } else {
                /* complete: advance every item of the origin set waiting for lhs */
                item_set *O = &sets[x.origin];
                for (int q = 0; q < O->n && !oom; q++) {
                    item z = O->it[q];
                    const production *zp = &g->prods[z.prod];
                    if (z.dot < zp->n && zp->sym[z.dot] == pr->lhs) {
                        item y = { z.prod, z.dot + 1, z.origin };
                        if (set_add(S, y) < 0) oom = 1;
                    }
                }
            }
        }
    }
    if (oom) rc = -1;
    else if (k <= n) rc = 0;   /* an empty set before the end */
    else {
        const item_set *F = &sets[n];
        rc = F->n > 0 ? 1 : 0;
        for (int i = 0; i < F->n; i++) {
            const item *x = &F->it[i];
            if (x->origin == 0 && g->prods[x->prod].lhs == g->root && x->dot == g->prods[x->prod].n) { rc = 2; break; }
        }
    }
    for (int i = 0; i <= n; i++) {
        free(sets[i].it);
        free(sets[i].hash);
    }
    free(sets);
    free(cps);
    return rc;
}

/* ---- random sentences ------------------------------------------------- */

static uint64_t next_rand(uint64_t *s) {   /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct { char *s; size_t n, cap; int oom; } strbuf;

static void put_cp(strbuf *b, uint32_t cp) {
    if (b->n + 5 > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 64;
        char *ns = realloc(b->s, c);
        if (!ns) { b->oom = 1; return; }
        b->s = ns;
        b->cap = c;
    }
    unsigned char *o = (unsigned char *)b->s + b->n;
    if (cp < 0x80) { o[0] = (unsigned char)cp; b->n += 1; }
    else if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); b->n += 2; }
    else if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12); o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F)); b->n += 3;
    } else {
        o[0] = (unsigned char)(0xF0 | cp >> 18); o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (unsigned char)(0x80 | (cp & 0x3F)); b->n += 4;
    }
}

static int valid_cp(uint32_t cp) { return cp > 0 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF); }

/* a code point of the class: printable ASCII when the class has some, else
 * anything valid in it */
static uint32_t pick_cp(const cp_class *c, uint64_t *rng) {
    for (int tries = 0; tries < 200; tries++) {
        uint32_t cp;
        if (c->negate || c->n == 0) cp = 0x20 + (uint32_t)(next_rand(rng) % 95);
        else {
            const cp_range *r = &c->r[next_rand(rng) % (uint64_t)c->n];
            if (r->lo > r->hi) continue;
            uint32_t lo = r->lo, hi = r->hi;
            if (next_rand(rng) % 10 && lo <= 0x7E && hi >= 0x20) {   /* mostly printable ASCII */
                if (lo < 0x20) lo = 0x20;
                if (hi > 0x7E) hi = 0x7E;
            }
            cp = lo + (uint32_t)(next_rand(rng) % ((uint64_t)hi - lo + 1));
        }
        if (valid_cp(cp) && class_has(c, cp)) return cp;
    }
    /* a negated class that covers printable ASCII: scan upward */
    for (uint32_t cp = 0x80; cp <= 0x10FFFF; cp++)
        if (valid_cp(cp) && class_has(c, cp)) return cp;
    return 0;
}

static void derive(const gbnf_ref *g, int rule, uint64_t *rng, int depth, strbuf *b) {
    if (b->oom) return;
    int np = g->n_rule_prods[rule];
    if (np == 0) return;
    int pick;
    if (depth <= 0 || b->n > 400) {
        /* the lowest derivation: strictly lower rules, so this ends */
        pick = g->rule_prods[rule][0];
        for (int j = 1; j < np; j++)
            if (g->prod_rank[g->rule_prods[rule][j]] < g->prod_rank[pick]) pick = g->rule_prods[rule][j];
    } else {
        pick = g->rule_prods[rule][next_rand(rng) % (uint64_t)np];
    }
    const production *pr = &g->prods[pick];
    for (int k = 0; k < pr->n && !b->oom; k++) {
        int s = pr->sym[k];
        if (s < 0) put_cp(b, pick_cp(&g->classes[-s - 1], rng));
        else derive(g, s, rng, depth - 1, b);
    }
}

char *gbnf_ref_generate(const gbnf_ref *g, uint64_t *rng_state, int depth) {
    if (g->rank[g->root] < 0) return NULL;
    strbuf b = { 0 };
    derive(g, g->root, rng_state, depth, &b);
    put_cp(&b, 'x');   /* room for the terminator */
    if (b.oom) { free(b.s); return NULL; }
    b.s[b.n - 1] = 0;
    return b.s;
}
