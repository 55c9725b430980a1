/* json_gbnf.c — JSON Schema → GBNF (llama.cpp grammar syntax); see json_gbnf.h.
 *
 * Layout: code-point sets and GBNF literal escaping; an ECMA-262 regex subset
 * parsed into a small AST and emitted over JSON-encoded characters (used for
 * "pattern" and for the "format" grammars, which are written as regexes that
 * mirror harness/constraint/jsonschema.c's format checks); exact integer-range grammars;
 * then the schema walker: every subschema conjunction (a list of schema nodes
 * that must all hold, plus the anyOf/oneOf groups already split) becomes one
 * named rule, so $ref recursion turns into recursive rules.
 */
#include "json_gbnf.h"
#include "harness/util/jsonlimits.h"
#include "jsonschema.h"
#include "regex.h"
#include "harness/util/utf8.h"
#include "harness/util/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CP 0x10FFFFu
#define MAX_VISIT_DEPTH 400
#define MAX_BRANCHES 20000
#define MAX_GRAMMAR_BYTES (8u << 20)
#define MAX_EXACT_INT 9007199254740992.0   /* 2^53: bounds beyond are not exact in a double */

/* ------------------------------------------------------------------ */
/* Code-point sets: sorted, disjoint, non-adjacent ranges.             */

typedef struct cset { uint32_t (*r)[2]; int n, cap; } cset;

static int cs_add(cset *s, uint32_t lo, uint32_t hi) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 4;
        uint32_t (*r)[2] = realloc(s->r, (size_t)cap * sizeof *r);
        if (!r) return -1;
        s->r = r; s->cap = cap;
    }
    s->r[s->n][0] = lo; s->r[s->n][1] = hi;
    s->n++;
    return 0;
}

static int cmp_range(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static void cs_norm(cset *s) {
    if (s->n < 2) return;
    qsort(s->r, (size_t)s->n, sizeof *s->r, cmp_range);
    int k = 0;
    for (int i = 1; i < s->n; i++) {
        if (s->r[i][0] <= s->r[k][1] + 1) { if (s->r[i][1] > s->r[k][1]) s->r[k][1] = s->r[i][1]; }
        else { k++; s->r[k][0] = s->r[i][0]; s->r[k][1] = s->r[i][1]; }
    }
    s->n = k + 1;
}

static void cs_free(cset *s) { free(s->r); s->r = NULL; s->n = s->cap = 0; }

/* out = complement of s (normalised) over [0, MAX_CP] */
static int cs_complement(const cset *s, cset *out) {
    uint32_t next = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->r[i][0] > next && cs_add(out, next, s->r[i][0] - 1) < 0) return -1;
        next = s->r[i][1] + 1;
    }
    if (next <= MAX_CP && (s->n == 0 || s->r[s->n - 1][1] < MAX_CP)) return cs_add(out, next, MAX_CP);
    return 0;
}

static int cs_addset(cset *dst, const cset *src) {
    for (int i = 0; i < src->n; i++) if (cs_add(dst, src->r[i][0], src->r[i][1]) < 0) return -1;
    return 0;
}

/* The ECMA class escapes. */
static int cs_digit(cset *s) { return cs_add(s, '0', '9'); }
static int cs_word(cset *s) {
    return cs_add(s, '0', '9') | cs_add(s, 'A', 'Z') | cs_add(s, '_', '_') | cs_add(s, 'a', 'z');
}
static int cs_space(cset *s) {
    static const uint32_t r[][2] = { { 9, 13 }, { ' ', ' ' }, { 0xA0, 0xA0 }, { 0x1680, 0x1680 }, { 0x2000, 0x200A },
                                     { 0x2028, 0x2029 }, { 0x202F, 0x202F }, { 0x205F, 0x205F }, { 0x3000, 0x3000 },
                                     { 0xFEFF, 0xFEFF } };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) if (cs_add(s, r[i][0], r[i][1]) < 0) return -1;
    return 0;
}
/* add class escape kind ('d','D','w','W','s','S') to s */
static int cs_class(cset *s, int kind) {
    cset t = { 0 };
    int rc = 0;
    switch (kind | 0x20) {
    case 'd': rc = cs_digit(&t); break;
    case 'w': rc = cs_word(&t); break;
    default: rc = cs_space(&t); break;
    }
    cs_norm(&t);
    if (rc == 0) {
        if (kind >= 'A' && kind <= 'Z') {
            cset c = { 0 };
            rc = cs_complement(&t, &c);
            if (rc == 0) rc = cs_addset(s, &c);
            cs_free(&c);
        } else rc = cs_addset(s, &t);
    }
    cs_free(&t);
    return rc;
}

/* ------------------------------------------------------------------ */
/* GBNF text helpers.                                                  */

/* a code point inside a GBNF character class or literal, escaped when not plain */
static int gb_cp(db_str *o, uint32_t c, int in_class) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return db_str_printf(o, "%c", (char)c);
    if (!in_class && c >= 0x20 && c < 0x7F && c != '"' && c != '\\') return db_str_printf(o, "%c", (char)c);
    if (c < 0x80) return db_str_printf(o, "\\x%02X", (unsigned)c);
    if (c <= 0xFFFF) return db_str_printf(o, "\\u%04X", (unsigned)c);
    return db_str_printf(o, "\\U%08X", (unsigned)c);
}

/* the next code point of NUL-terminated UTF-8 text; an ill-formed sequence
 * reads as U+FFFD covering its well-formed prefix */
static uint32_t utf8_next(const unsigned char **p) {
    uint32_t c;
    size_t prefix = 1, n = 0;
    while (n < 4 && (*p)[n]) n++;
    int k = db_utf8_decode(*p, n ? n : 1, &c, &prefix);
    *p += k > 0 ? (size_t)k : prefix;
    return c;
}

/* GBNF string literal for the UTF-8 text t (n bytes) */
static int gb_lit(db_str *o, const char *t, size_t n) {
    const unsigned char *p = (const unsigned char *)t, *e = p + n;
    int rc = db_str_append(o, "\"");
    while (p < e && rc == 0) rc = gb_cp(o, utf8_next(&p), 0);
    return rc | db_str_append(o, "\"");
}

/* cJSON's spelling of a string value (with quotes), as JSON text */
static int json_str(db_str *o, const char *s) {
    int rc = db_str_append(o, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p && rc == 0; p++) {
        switch (*p) {
        case '"': rc = db_str_append(o, "\\\""); break;
        case '\\': rc = db_str_append(o, "\\\\"); break;
        case '\b': rc = db_str_append(o, "\\b"); break;
        case '\f': rc = db_str_append(o, "\\f"); break;
        case '\n': rc = db_str_append(o, "\\n"); break;
        case '\r': rc = db_str_append(o, "\\r"); break;
        case '\t': rc = db_str_append(o, "\\t"); break;
        default:
            if (*p < 0x20) rc = db_str_printf(o, "\\u%04x", *p);
            else rc = db_str_appendn(o, (const char *)p, 1);
        }
    }
    return rc | db_str_append(o, "\"");
}

/* Repetition: "(atom){m,n}" in its own group (llama.cpp multiplies the counts
 * of repetitions that share a sequence); max < 0 = unbounded. */
static int gb_rep(db_str *o, const char *atom, long mn, long mx) {
    if (mx == 0) return db_str_append(o, "\"\"");
    if (mn == 0 && mx < 0) return db_str_printf(o, "(%s)*", atom);
    if (mn == 1 && mx < 0) return db_str_printf(o, "(%s)+", atom);
    if (mn == 0 && mx == 1) return db_str_printf(o, "(%s)?", atom);
    if (mn == 1 && mx == 1) return db_str_printf(o, "(%s)", atom);
    if (mx < 0) return db_str_printf(o, "((%s){%ld,})", atom, mn);
    if (mn == mx) return db_str_printf(o, "((%s){%ld})", atom, mn);
    return db_str_printf(o, "((%s){%ld,%ld})", atom, mn, mx);
}

static int cs_has_cp(const cset *s, uint32_t c) {
    for (int i = 0; i < s->n; i++) if (c >= s->r[i][0] && c <= s->r[i][1]) return 1;
    return 0;
}

/* The JSON encoding of one character from set s, as a GBNF atom; "" when s is
 * empty.  Characters that JSON must escape get cJSON's escape. */
static int cs_emit_json(db_str *o, const cset *s) {
    cset raw = { 0 }, spec = { 0 };
    int rc = 0, alts = 0;
    db_str b;
    db_str_init(&b);
    for (int i = 0; i < s->n && rc == 0; i++) {
        uint32_t lo = s->r[i][0], hi = s->r[i][1];
        for (uint32_t c = lo; c <= hi && c < 0x20; c++) rc |= cs_add(&spec, c, c);
        if (lo <= '"' && hi >= '"') rc |= cs_add(&spec, '"', '"');
        if (lo <= '\\' && hi >= '\\') rc |= cs_add(&spec, '\\', '\\');
        /* raw part: [lo,hi] minus controls, '"' and '\\' */
        uint32_t a = lo < 0x20 ? 0x20 : lo;
        while (a <= hi && rc == 0) {
            uint32_t stop = hi;
            if (a <= '"' && hi >= '"') stop = a == '"' ? '"' : '"' - 1;
            else if (a <= '\\' && hi >= '\\') stop = a == '\\' ? '\\' : '\\' - 1;
            if (a != '"' && a != '\\') rc |= cs_add(&raw, a, stop);
            if (stop == hi) break;
            a = stop + 1;
        }
    }
    if (rc) goto out;
    if (raw.n) {
        cset comp = { 0 };
        rc = cs_complement(&raw, &comp);
        int neg = comp.n < raw.n;
        const cset *use = neg ? &comp : &raw;
        rc |= db_str_append(&b, neg ? "[^" : "[");
        for (int i = 0; i < use->n && rc == 0; i++) {
            rc |= gb_cp(&b, use->r[i][0], 1);
            if (use->r[i][1] != use->r[i][0]) { rc |= db_str_append(&b, "-"); rc |= gb_cp(&b, use->r[i][1], 1); }
        }
        rc |= db_str_append(&b, "]");
        cs_free(&comp);
        alts++;
    }
    int nctl = 0;
    for (int i = 0; i < spec.n; i++)
        for (uint32_t c = spec.r[i][0]; c <= spec.r[i][1]; c++) if (c < 0x20) nctl++;
    int all_spec = nctl == 32 && cs_has_cp(&spec, '"') && cs_has_cp(&spec, '\\');
    if (all_spec) {   /* every character JSON escapes: the shared rule */
        rc |= db_str_printf(&b, "%schar-esc", alts ? " | " : "");
        alts++;
        spec.n = 0;
    } else if (nctl == 32) {   /* every control character: the compact form */
        rc |= db_str_printf(&b, "%s\"\\\\\" [bfnrt] | \"\\\\u00\" [01] [0-9a-fA-F]", alts ? " | " : "");
        alts += 2;
    }
    for (int i = 0; i < spec.n && rc == 0; i++)
        for (uint32_t c = spec.r[i][0]; c <= spec.r[i][1] && rc == 0; c++) {
            if (c < 0x20 && nctl == 32) continue;
            if (alts++) rc |= db_str_append(&b, " | ");
            switch (c) {
            case '"': rc |= db_str_append(&b, "\"\\\\\\\"\""); break;
            case '\\': rc |= db_str_append(&b, "\"\\\\\\\\\""); break;
            case '\b': rc |= db_str_append(&b, "\"\\\\b\""); break;
            case '\f': rc |= db_str_append(&b, "\"\\\\f\""); break;
            case '\n': rc |= db_str_append(&b, "\"\\\\n\""); break;
            case '\r': rc |= db_str_append(&b, "\"\\\\r\""); break;
            case '\t': rc |= db_str_append(&b, "\"\\\\t\""); break;
            default: {
                const char *hx = "0123456789abcdef";
                char d2 = hx[c & 15];
                rc |= db_str_printf(&b, "\"\\\\u00%c\" ", hx[c >> 4]);
                if (d2 >= 'a') rc |= db_str_printf(&b, "[%c%c]", d2, d2 - 32);
                else rc |= db_str_printf(&b, "\"%c\"", d2);
            }
            }
        }
    if (rc) goto out;
    if (alts == 0) rc = 0;
    else if (alts == 1) rc = db_str_append(o, b.s);
    else rc = db_str_printf(o, "(%s)", b.s);
out:
    db_str_free(&b);
    cs_free(&raw);
    cs_free(&spec);
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------------ */
static int hexv(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Regex: the front end's AST (regex.h) lowered to code-point sets.       */

enum { X_SET, X_SEQ, X_ALT, X_REP, X_BOL, X_EOL };

typedef struct xnode {
    int type;
    cset set;                     /* X_SET */
    struct xnode **kids; int nk;  /* X_SEQ, X_ALT; X_REP: kids[0] */
    long min, max;                /* X_REP (max -1: unbounded) */
} xnode;

typedef struct xparse {
    xnode **all; int nall, capall;
    char err[160];
} xparse;

static xnode *xnew(xparse *P, int type) {
    if (P->nall == P->capall) {
        int cap = P->capall ? P->capall * 2 : 32;
        xnode **a = realloc(P->all, (size_t)cap * sizeof *a);
        if (!a) return NULL;
        P->all = a; P->capall = cap;
    }
    xnode *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->type = type;
    P->all[P->nall++] = x;
    return x;
}

static int xkid(xnode *x, xnode *k) {
    xnode **a = realloc(x->kids, (size_t)(x->nk + 1) * sizeof *a);
    if (!a) return -1;
    x->kids = a;
    x->kids[x->nk++] = k;
    return 0;
}

static void xfree_all(xparse *P) {
    for (int i = 0; i < P->nall; i++) { cs_free(&P->all[i]->set); free(P->all[i]->kids); free(P->all[i]); }
    free(P->all);
    P->all = NULL;
}

/* the converter's wording of a front-end error (the converter reports every
 * pattern it cannot parse or express as unsupported) */
static const char *xmessage(const db_rx_error *e) {
    switch (e->code) {
    case DB_RX_E_TRAILING_BACKSLASH: return "trailing backslash";
    case DB_RX_E_BOUNDARY: return e->ch == 'b' ? "word boundary \\b" : "\\B";
    case DB_RX_E_PROPERTY: return "Unicode property escape \\p{..}";
    case DB_RX_E_BACKREF: return "backreference";
    case DB_RX_E_NAMED_BACKREF: return "named backreference \\k<..>";
    case DB_RX_E_INVALID_ESCAPE: return e->ch == 'B' ? "\\B inside a character class" : "\\0 followed by a digit";
    case DB_RX_E_CLASS_UNTERMINATED: return "unterminated character class";
    case DB_RX_E_RANGE_ORDER: return "range out of order in character class";
    case DB_RX_E_LOOKAHEAD: return "lookahead (?= (?!";
    case DB_RX_E_BAD_NAMED_GROUP: return "bad named group";
    case DB_RX_E_GROUP_SYNTAX: return "group syntax (?<= (?<! or other (?..)";
    case DB_RX_E_MISSING_PAREN: return "missing )";
    case DB_RX_E_NOTHING_TO_REPEAT: case DB_RX_E_NOT_QUANTIFIABLE: return "nothing to repeat";
    case DB_RX_E_BRACE_NOTHING: return "nothing to repeat at '{'";
    case DB_RX_E_REPEAT_ORDER: return "numbers out of order in {} quantifier";
    case DB_RX_E_UNMATCHED_PAREN: return "unmatched )";
    default: return "out of memory";   /* the other codes belong to other dialects */
    }
}

static xnode *xlower_alt(xparse *P, const db_rx_node *g);

static xnode *xlower_atom(xparse *P, const db_rx_node *n) {
    xnode *x = NULL;
    switch (n->type) {
    case DB_RX_CHAR:
        if ((x = xnew(P, X_SET)) && cs_add(&x->set, n->ch, n->ch) < 0) x = NULL;
        break;
    case DB_RX_ANY:
        if ((x = xnew(P, X_SET))) {
            cs_add(&x->set, 0, 9); cs_add(&x->set, 11, 12); cs_add(&x->set, 14, 0x2027); cs_add(&x->set, 0x202A, MAX_CP);
        }
        break;
    case DB_RX_CLASS: {
        if (!(x = xnew(P, X_SET))) break;
        cset s = { 0 };
        for (int i = 0; i < n->nitems; i++) {
            static const char letter[] = { 0, 'd', 'D', 'w', 'W', 's', 'S' };
            const db_rx_item *it = &n->items[i];
            if (it->kind == DB_RX_C_RANGE) cs_add(&s, it->lo, it->hi);
            else cs_class(&s, letter[it->kind]);
        }
        cs_norm(&s);
        if (n->negate) { cs_complement(&s, &x->set); cs_free(&s); }
        else x->set = s;
        break;
    }
    case DB_RX_BOL: case DB_RX_EOL:
        x = xnew(P, n->type == DB_RX_BOL ? X_BOL : X_EOL);
        break;
    case DB_RX_GROUP:
        return xlower_alt(P, n);
    case DB_RX_REPEAT: {
        xnode *k = xlower_atom(P, n->child);
        if (!k) return NULL;
        if ((x = xnew(P, X_REP)) && xkid(x, k) < 0) x = NULL;
        if (x) { x->min = n->min; x->max = n->max; }
        break;
    }
    default:   /* lookahead, \b, \B: refused by the dialect */
        break;
    }
    if (!x && !P->err[0]) snprintf(P->err, sizeof P->err, "out of memory");
    return x;
}

static xnode *xlower_alt(xparse *P, const db_rx_node *g) {
    xnode *alt = xnew(P, X_ALT);
    if (!alt) { snprintf(P->err, sizeof P->err, "out of memory"); return NULL; }
    for (int a = 0; a < g->nalts; a++) {
        xnode *seq = xnew(P, X_SEQ);
        if (!seq || xkid(alt, seq) < 0) { snprintf(P->err, sizeof P->err, "out of memory"); return NULL; }
        for (const db_rx_node *n = g->alts[a]; n; n = n->next) {
            xnode *k = xlower_atom(P, n);
            if (!k) return NULL;
            if (xkid(seq, k) < 0) { snprintf(P->err, sizeof P->err, "out of memory"); return NULL; }
        }
    }
    return alt;
}

/* Parse pattern into P (root returned); NULL with P->err. */
static xnode *xparse_pattern(xparse *P, const char *pattern) {
    memset(P, 0, sizeof *P);
    db_rx_error e;
    db_rx *re = db_rx_parse(pattern, 0, strlen(pattern), DB_RX_UTF8_SKIP_PREFIX, &e);
    if (!re) { snprintf(P->err, sizeof P->err, "%s", xmessage(&e)); return NULL; }
    xnode *root = xlower_alt(P, re->root);
    db_rx_free(re);
    return root;
}

/* length range of the language of x: [*lo, *hi] (*hi -1: unbounded) */
static void xlen(const xnode *x, long *lo, long *hi) {
    switch (x->type) {
    case X_SET: *lo = *hi = 1; return;
    case X_BOL: case X_EOL: *lo = *hi = 0; return;
    case X_SEQ: {
        long a = 0, b = 0;
        for (int i = 0; i < x->nk; i++) {
            long l, h;
            xlen(x->kids[i], &l, &h);
            a += l;
            b = (b < 0 || h < 0) ? -1 : b + h;
        }
        *lo = a; *hi = b;
        return;
    }
    case X_ALT: {
        long a = -1, b = 0;
        for (int i = 0; i < x->nk; i++) {
            long l, h;
            xlen(x->kids[i], &l, &h);
            if (a < 0 || l < a) a = l;
            if (b >= 0 && (h < 0 || h > b)) b = h;
        }
        *lo = a < 0 ? 0 : a; *hi = b;
        return;
    }
    default: {
        long l, h;
        xlen(x->kids[0], &l, &h);
        *lo = l * x->min;
        *hi = (x->max < 0 || h < 0) ? (h == 0 ? 0 : -1) : h * x->max;
        return;
    }
    }
}

static int xhas_anchor(const xnode *x) {
    if (x->type == X_BOL || x->type == X_EOL) return 1;
    for (int i = 0; i < x->nk; i++) if (xhas_anchor(x->kids[i])) return 1;
    return 0;
}

/* Emit the language of x (anchor-free) over JSON-encoded characters.  Bounded
 * repetitions above DB_JSON_GBNF_MAX_REPEAT and an estimated expansion above
 * the grammar budget fail with *unsup set. */
typedef struct gb gb;
static int add_rule(gb *g, const char *base, char *body_owned);
static const char *rule_name(gb *g, int idx);

static int xemit(gb *g, db_str *o, const xnode *x, const char **unsup) {
    switch (x->type) {
    case X_SET:
        if (x->set.n == 0) { *unsup = "pattern: an empty character class (matches nothing)"; return -1; }
        return cs_emit_json(o, &x->set);
    case X_SEQ:
        if (x->nk == 0) return db_str_append(o, "\"\"");
        for (int i = 0; i < x->nk; i++) {
            if (i && db_str_append(o, " ")) return -1;
            if (xemit(g, o, x->kids[i], unsup) < 0) return -1;
        }
        return 0;
    case X_ALT:
        if (x->nk == 1) return xemit(g, o, x->kids[0], unsup);
        if (db_str_append(o, "(")) return -1;
        for (int i = 0; i < x->nk; i++) {
            if (i && db_str_append(o, " | ")) return -1;
            if (xemit(g, o, x->kids[i], unsup) < 0) return -1;
        }
        return db_str_append(o, ")");
    case X_REP: {
        if (x->min > DB_JSON_GBNF_MAX_REPEAT || x->max > DB_JSON_GBNF_MAX_REPEAT) {
            *unsup = "pattern: a {m,n} bound above the expansion cap";
            return -1;
        }
        db_str a;
        db_str_init(&a);
        int rc = xemit(g, &a, x->kids[0], unsup);
        if (rc == 0 && strchr(a.s, '(')) {
            /* llama.cpp counts the rules a quantified group creates against its repetition
             * limit: quantify a reference to a rule instead */
            int idx = add_rule(g, "pattern-part", db_str_take(&a));
            if (idx < 0) return -1;
            db_str_init(&a);
            rc = db_str_append(&a, rule_name(g, idx));
        }
        if (rc == 0) rc = gb_rep(o, a.s, x->min, x->max);
        db_str_free(&a);
        return rc;
    }
    default:
        *unsup = "pattern: an anchor ^ or $ inside the pattern";
        return -1;
    }
}

/* ------------------------------------------------------------------ */
/* Exact integer ranges (canonical decimal: no leading zeros, no "-0"). */

static int all_char(const char *s, char c) { for (; *s; s++) if (*s != c) return 0; return 1; }

/* same-length decimal strings lo <= hi (may start with '0' below the top level) */
static int same_len(db_str *o, const char *lo, const char *hi) {
    size_t n = strlen(lo), i = 0;
    while (i < n && lo[i] == hi[i]) i++;
    int rc = 0;
    if (i > 0) rc |= db_str_printf(o, "\"%.*s\"", (int)i, lo);
    if (i == n) return rc;
    if (i > 0) rc |= db_str_append(o, " ");
    char l = lo[i], h = hi[i];
    const char *lr = lo + i + 1, *hr = hi + i + 1;
    size_t m = n - i - 1;
    if (m == 0) return rc | db_str_printf(o, "[%c-%c]", l, h);
    int lz = all_char(lr, '0'), h9 = all_char(hr, '9');
    char ml = lz ? l : (char)(l + 1), mh = h9 ? h : (char)(h - 1);
    int alts = 0;
    rc |= db_str_append(o, "(");
    if (!lz) {
        char nines[24];
        memset(nines, '9', m); nines[m] = 0;
        rc |= db_str_printf(o, "\"%c\" ", l);
        rc |= same_len(o, lr, nines);
        alts++;
    }
    if (ml <= mh) {
        rc |= db_str_printf(o, "%s[%c-%c] ", alts ? " | " : "", ml, mh);
        rc |= gb_rep(o, "[0-9]", (long)m, (long)m);
        alts++;
    }
    if (!h9) {
        char zeros[24];
        memset(zeros, '0', m); zeros[m] = 0;
        rc |= db_str_printf(o, "%s\"%c\" ", alts ? " | " : "", h);
        rc |= same_len(o, zeros, hr);
    }
    return rc | db_str_append(o, ")");
}

/* non-negative integers in [a, b] (b < 0: unbounded), as alternatives */
static int nonneg_range(db_str *o, int64_t a, int64_t b) {
    char as[24], bs[24];
    int rc = 0, alts = 0;
    snprintf(as, sizeof as, "%" PRId64, a);
    size_t la = strlen(as), lb = 0;
    if (b >= 0) { snprintf(bs, sizeof bs, "%" PRId64, b); lb = strlen(bs); }
    size_t top = b >= 0 ? lb : la;
    for (size_t L = la; L <= top; L++) {
        char lo[24], hi[24];
        if (L == la) snprintf(lo, sizeof lo, "%s", as);
        else { lo[0] = '1'; memset(lo + 1, '0', L - 1); lo[L] = 0; }
        if (b >= 0 && L == lb) snprintf(hi, sizeof hi, "%s", bs);
        else { memset(hi, '9', L); hi[L] = 0; }
        if (alts++) rc |= db_str_append(o, " | ");
        rc |= db_str_append(o, "(");
        rc |= same_len(o, lo, hi);
        rc |= db_str_append(o, ")");
    }
    if (b < 0) {   /* more than top digits */
        if (alts++) rc |= db_str_append(o, " | ");
        rc |= db_str_printf(o, "[1-9] ");
        rc |= gb_rep(o, "[0-9]", (long)top, -1);
    }
    return rc;
}

/* integers in [lo, hi] (has_lo/has_hi: bounded), lo <= hi */
static int int_range(db_str *o, int has_lo, int64_t lo, int has_hi, int64_t hi) {
    int rc = 0;
    if (!has_lo && !has_hi) return db_str_append(o, "(\"-\"? (\"0\" | [1-9] [0-9]*))");
    rc |= db_str_append(o, "(");
    if (has_lo && lo >= 0) rc |= nonneg_range(o, lo, has_hi ? hi : -1);
    else if (has_hi && hi < 0) {
        rc |= db_str_append(o, "\"-\" (");
        rc |= nonneg_range(o, -hi, has_lo ? -lo : -1);
        rc |= db_str_append(o, ")");
    } else {
        rc |= db_str_append(o, "\"-\" (");
        rc |= nonneg_range(o, 1, has_lo ? -lo : -1);
        rc |= db_str_append(o, ") | ");
        rc |= nonneg_range(o, 0, has_hi ? hi : -1);
    }
    return rc | db_str_append(o, ")");
}

/* ------------------------------------------------------------------ */
/* "format" grammars, written as regexes that accept exactly what       */
/* harness/constraint/jsonschema.c's format checks accept.                         */

#define RX_H16 "[0-9a-fA-F]{1,4}"
#define RX_OCT "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
#define RX_IPV4 RX_OCT "(?:\\." RX_OCT "){3}"
#define RX_LS32 "(?:" RX_H16 ":" RX_H16 "|" RX_IPV4 ")"
#define RX_IPV6 "(?:(?:" RX_H16 ":){6}" RX_LS32 "|::(?:" RX_H16 ":){5}" RX_LS32 \
    "|(?:" RX_H16 ")?::(?:" RX_H16 ":){4}" RX_LS32 "|(?:(?:" RX_H16 ":){0,1}" RX_H16 ")?::(?:" RX_H16 ":){3}" RX_LS32 \
    "|(?:(?:" RX_H16 ":){0,2}" RX_H16 ")?::(?:" RX_H16 ":){2}" RX_LS32 "|(?:(?:" RX_H16 ":){0,3}" RX_H16 ")?::" RX_H16 ":" RX_LS32 \
    "|(?:(?:" RX_H16 ":){0,4}" RX_H16 ")?::" RX_LS32 "|(?:(?:" RX_H16 ":){0,5}" RX_H16 ")?::" RX_H16 \
    "|(?:(?:" RX_H16 ":){0,6}" RX_H16 ")?::)"
#define RX_DATE "(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)" \
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
#define RX_UUID "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#define RX_ATEXT "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~\\u0080-\\u{10FFFF}]"
#define RX_DTEXT "[A-Za-z0-9\\-\\u0080-\\u{10FFFF}]"
#define RX_EMAIL "(?:\"(?:[^\"\\\\\\x00-\\x1F\\x7F]|\\\\[\\s\\S])*\"|" RX_ATEXT "+(?:\\." RX_ATEXT "+)*)@" \
    "(?:\\[(?:IPv6:" RX_IPV6 "|" RX_IPV4 ")\\]|[A-Za-z0-9\\u0080-\\u{10FFFF}]" RX_DTEXT "*(?:\\." RX_DTEXT "+)*)"
#define RX_PCT "%[0-9A-Fa-f]{2}"
#define RX_UC "[A-Za-z0-9\\-._~!$&'()*+,;=]"
#define RX_PC "(?:[A-Za-z0-9\\-._~!$&'()*+,;=:@/?]|" RX_PCT ")"
#define RX_PCNS "(?:[A-Za-z0-9\\-._~!$&'()*+,;=:@?]|" RX_PCT ")"
#define RX_TAIL RX_PC "*(?:#" RX_PC "*)?"
#define RX_URI "[A-Za-z][A-Za-z0-9+\\-.]*:(?://(?:(?:[A-Za-z0-9\\-._~!$&'()*+,;=:]|" RX_PCT ")*@)?" \
    "(?:\\[(?:[vV][^\\]/?#@]*|" RX_IPV6 ")\\]|(?:" RX_UC "|" RX_PCT ")*)(?::[0-9]*)?(?:[/?]" RX_TAIL "|#" RX_PC "*)?" \
    "|(?:#" RX_PC "*|" RX_PCNS RX_TAIL "|/(?:#" RX_PC "*|" RX_PCNS RX_TAIL ")?)?)"

/* RFC 3339 full-time; a leap second (:60) only where it is 23:59:60 UTC, which
 * pins the offset to the local time: every local HH:MM has one "+" and one "-"
 * offset (and 23:59 also Z). */
static int rx_time(db_str *o) {
    int rc = db_str_append(o, "(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])");
    for (int h = 0; h < 24; h++) {
        rc |= db_str_printf(o, "|%02d:(?:", h);
        for (int m = 0; m < 60; m++) {
            int t = h * 60 + m, d = (t + 1) % 1440, e = (1440 - d) % 1440;
            rc |= db_str_printf(o, "%s%02d:60(?:\\.[0-9]+)?(?:\\+%02d:%02d|-%02d:%02d%s)", m ? "|" : "", m,
                                d / 60, d % 60, e / 60, e % 60, d == 0 ? "|[Zz]" : "");
        }
        rc |= db_str_append(o, ")");
    }
    return rc | db_str_append(o, ")");
}

static const char *const formats_supported[] = { "date", "date-time", "time", "uuid", "email", "ipv4", "ipv6", "uri", NULL };
/* standard formats the validator asserts (or knows) that have no grammar here */
static const char *const formats_unsupported[] = { "hostname", "duration", "idn-email", "idn-hostname", "uri-reference",
    "iri", "iri-reference", "uri-template", "json-pointer", "relative-json-pointer", "regex", NULL };

static int in_list(const char *const *l, const char *s) {
    for (; *l; l++) if (strcmp(*l, s) == 0) return 1;
    return 0;
}

/* regex source of a supported format (malloc'd) */
static char *format_regex(const char *f) {
    db_str o;
    db_str_init(&o);
    int rc = 0;
    if (!strcmp(f, "date")) rc = db_str_append(&o, RX_DATE);
    else if (!strcmp(f, "time")) rc = rx_time(&o);
    else if (!strcmp(f, "date-time")) { rc = db_str_append(&o, RX_DATE "[Tt]"); rc |= rx_time(&o); }
    else if (!strcmp(f, "uuid")) rc = db_str_append(&o, RX_UUID);
    else if (!strcmp(f, "email")) rc = db_str_append(&o, RX_EMAIL);
    else if (!strcmp(f, "ipv4")) rc = db_str_append(&o, RX_IPV4);
    else if (!strcmp(f, "ipv6")) rc = db_str_append(&o, RX_IPV6);
    else if (!strcmp(f, "uri")) rc = db_str_append(&o, RX_URI);
    else rc = -1;
    if (rc) { db_str_free(&o); return NULL; }
    return db_str_take(&o);
}

/* ------------------------------------------------------------------ */
/* Converter state.                                                    */

typedef struct smap { char **k; int *v; size_t cap, n; } smap;

static size_t shash(const char *s) { size_t h = 1469598103934665603ull; for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull; return h; }

static int smap_get(const smap *m, const char *k) {
    if (!m->cap) return -1;
    for (size_t i = shash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->k[i]) return -1;
        if (strcmp(m->k[i], k) == 0) return m->v[i];
    }
}

static int smap_put(smap *m, const char *k, int v) {
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        char **nk = calloc(cap, sizeof *nk);
        int *nv = calloc(cap, sizeof *nv);
        if (!nk || !nv) { free(nk); free(nv); return -1; }
        for (size_t i = 0; i < m->cap; i++) if (m->k[i]) {
            size_t j = shash(m->k[i]) & (cap - 1);
            while (nk[j]) j = (j + 1) & (cap - 1);
            nk[j] = m->k[i]; nv[j] = m->v[i];
        }
        free(m->k); free(m->v);
        m->k = nk; m->v = nv; m->cap = cap;
    }
    size_t i = shash(k) & (m->cap - 1);
    while (m->k[i] && strcmp(m->k[i], k) != 0) i = (i + 1) & (m->cap - 1);
    if (!m->k[i]) { if (!(m->k[i] = db_strdup(k))) return -1; m->n++; }
    m->v[i] = v;
    return 0;
}

static void smap_free(smap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->k[i]);
    free(m->k); free(m->v);
    memset(m, 0, sizeof *m);
}

typedef struct rule { char *name, *body; } rule;
typedef struct memo { char *name; int state; int depth; } memo;   /* state 0 in progress, 1 done, 2 no value */

enum { B_SPACE = 1, B_CHAR = 2, B_VALUE = 4 };

struct gb {
    const cJSON *root;
    int draft7, draft4;
    char *root_id;
    rule *rules; int nrules, caprules;
    smap names;          /* rule name -> rule index (or -1 reserved) */
    smap memo_idx;       /* conjunction key -> memos index */
    memo *memos; int nmemos, capmemos;
    smap paths;          /* "%p" of a schema node -> pathv index */
    char **pathv; int npath, cappath;
    smap anchors;        /* anchor name -> pathv index; nodes found again through paths */
    const cJSON **anchor_nodes; int nanchor;
    int status;          /* 0 ok, 1 unsupported, -1 error */
    char *why; size_t whylen;
    int depth, vdepth;
    long branches;
    size_t bytes;
    unsigned need;
    char *root_text;
};

static int gfail(gb *g, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int gfail(gb *g, int status, const char *fmt, ...) {
    if (g->status == 0) {
        g->status = status;
        if (g->why && g->whylen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(g->why, g->whylen, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}
#define OOM(g) gfail((g), -1, "out of memory")

static const char *path_of(gb *g, const cJSON *node) {
    char key[32];
    snprintf(key, sizeof key, "%p", (const void *)node);
    int i = smap_get(&g->paths, key);
    return i < 0 ? "?" : g->pathv[i];
}

static const char *pshow(gb *g, const cJSON *node) {
    const char *p = path_of(g, node);
    return *p ? p : "(root)";
}

/* index every schema-ish node of the document by its JSON pointer */
static int index_paths(gb *g, const cJSON *node, const char *path) {
    char key[32];
    snprintf(key, sizeof key, "%p", (const void *)node);
    if (g->npath == g->cappath) {
        int cap = g->cappath ? g->cappath * 2 : 256;
        char **v = realloc(g->pathv, (size_t)cap * sizeof *v);
        if (!v) return OOM(g);
        g->pathv = v; g->cappath = cap;
    }
    if (!(g->pathv[g->npath] = db_strdup(path))) return OOM(g);
    if (smap_put(&g->paths, key, g->npath) < 0) return OOM(g);
    g->npath++;
    if (cJSON_IsObject(node)) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(node, "$anchor");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(node, g->draft4 ? "id" : "$id");
        const char *anchor = cJSON_IsString(a) ? a->valuestring :
                             (cJSON_IsString(id) && id->valuestring[0] == '#' && id->valuestring[1]) ? id->valuestring + 1 : NULL;
        if (anchor && smap_get(&g->anchors, anchor) < 0) {
            const cJSON **v = realloc(g->anchor_nodes, (size_t)(g->nanchor + 1) * sizeof *v);
            if (!v) return OOM(g);
            g->anchor_nodes = v;
            g->anchor_nodes[g->nanchor] = node;
            if (smap_put(&g->anchors, anchor, g->nanchor++) < 0) return OOM(g);
        }
    }
    if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
        const cJSON *c;
        int i = 0;
        db_str p;
        db_str_init(&p);
        cJSON_ArrayForEach(c, node) {
            p.len = 0;
            if (db_str_append(&p, path) || db_str_append(&p, "/")) { db_str_free(&p); return OOM(g); }
            if (cJSON_IsObject(node)) {
                for (const char *s = c->string; *s; s++) {
                    int rc = *s == '~' ? db_str_append(&p, "~0") : *s == '/' ? db_str_append(&p, "~1") : db_str_appendn(&p, s, 1);
                    if (rc) { db_str_free(&p); return OOM(g); }
                }
            } else if (db_str_printf(&p, "%d", i)) { db_str_free(&p); return OOM(g); }
            i++;
            if (index_paths(g, c, p.s) < 0) { db_str_free(&p); return -1; }
        }
        db_str_free(&p);
    }
    return 0;
}

/* Resolve a local $ref; NULL with g->status set when it cannot. */
static const cJSON *resolve_ref(gb *g, const cJSON *at, const char *ref) {
    const char *r = ref;
    if (g->root_id && *g->root_id && strncmp(r, g->root_id, strlen(g->root_id)) == 0 && r[strlen(g->root_id)] == '#')
        r += strlen(g->root_id);
    if (*r == 0) return g->root;
    if (*r != '#') { gfail(g, 1, "remote $ref '%s' at %s", ref, pshow(g, at)); return NULL; }
    r++;
    if (*r && *r != '/') {
        int i = smap_get(&g->anchors, r);
        if (i < 0) { gfail(g, 1, "unresolvable $ref '%s' at %s", ref, pshow(g, at)); return NULL; }
        return g->anchor_nodes[i];
    }
    const cJSON *cur = g->root;
    while (*r == '/') {
        r++;
        db_str seg;
        db_str_init(&seg);
        while (*r && *r != '/') {
            char ch = *r++;
            if (ch == '%' && hexv((unsigned char)r[0]) >= 0 && hexv((unsigned char)r[1]) >= 0) {
                ch = (char)(hexv((unsigned char)r[0]) * 16 + hexv((unsigned char)r[1]));
                r += 2;
            }
            if (db_str_appendn(&seg, &ch, 1)) { db_str_free(&seg); OOM(g); return NULL; }
        }
        /* ~1 -> '/', ~0 -> '~' */
        char *s = seg.s ? seg.s : (char *)"";
        char *w = s;
        for (char *q = s; *q; q++) {
            if (q[0] == '~' && q[1] == '1') { *w++ = '/'; q++; }
            else if (q[0] == '~' && q[1] == '0') { *w++ = '~'; q++; }
            else *w++ = *q;
        }
        if (seg.s) *w = 0;
        const cJSON *next = NULL;
        if (cJSON_IsObject(cur)) next = cJSON_GetObjectItemCaseSensitive(cur, s);
        else if (cJSON_IsArray(cur)) {
            char *end;
            long k = strtol(s, &end, 10);
            if (*s && !*end && k >= 0) next = cJSON_GetArrayItem(cur, (int)k);
        }
        db_str_free(&seg);
        if (!next) { gfail(g, 1, "unresolvable $ref '%s' at %s", ref, pshow(g, at)); return NULL; }
        cur = next;
    }
    return cur;
}

/* a new rule named after base (made unique); returns its index */
static int add_rule(gb *g, const char *base, char *body_owned) {
    char name[64];
    int k = 0;
    size_t n = 0;
    for (const char *s = base; *s && n < 40; s++) {
        char c = *s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) name[n++] = c;
        else if (n && name[n - 1] != '-') name[n++] = '-';
    }
    while (n && name[n - 1] == '-') n--;
    if (!n) { memcpy(name, "schema", 6); n = 6; }
    name[n] = 0;
    char uniq[80];
    snprintf(uniq, sizeof uniq, "%s", name);
    while (smap_get(&g->names, uniq) != -1)
        snprintf(uniq, sizeof uniq, "%s-%d", name, ++k);
    if (g->nrules == g->caprules) {
        int cap = g->caprules ? g->caprules * 2 : 64;
        rule *r = realloc(g->rules, (size_t)cap * sizeof *r);
        if (!r) { free(body_owned); return OOM(g); }
        g->rules = r; g->caprules = cap;
    }
    g->rules[g->nrules].name = db_strdup(uniq);
    g->rules[g->nrules].body = body_owned;
    if (!g->rules[g->nrules].name || smap_put(&g->names, uniq, g->nrules) < 0) { free(body_owned); return OOM(g); }
    if (body_owned) g->bytes += strlen(body_owned) + strlen(uniq) + 6;
    if (g->bytes > MAX_GRAMMAR_BYTES) gfail(g, 1, "grammar larger than %u bytes", MAX_GRAMMAR_BYTES);
    return g->nrules++;
}

static const char *rule_name(gb *g, int idx) { return g->rules[idx].name; }

static void set_body(gb *g, int idx, char *body) {
    free(g->rules[idx].body);
    g->rules[idx].body = body;
    if (body) g->bytes += strlen(body);
    if (g->bytes > MAX_GRAMMAR_BYTES) gfail(g, 1, "grammar larger than %u bytes", MAX_GRAMMAR_BYTES);
}

/* ------------------------------------------------------------------ */
/* A conjunction of schema nodes merged into one "shape".              */

enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_STR = 16, T_INT = 32, T_NUM = 64, T_ALL = 127 };
enum { G_ANY, G_NUM, G_STR, G_ARR, G_OBJ, G_N };

typedef struct ptrs { const cJSON **v; int n, cap; } ptrs;

static int ptrs_add(ptrs *p, const cJSON *x) {
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 8;
        const cJSON **v = realloc(p->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        p->v = v; p->cap = cap;
    }
    p->v[p->n++] = x;
    return 0;
}

typedef struct shape {
    unsigned types;
    int never;
    int nconstraints;            /* keywords that constrain (0: the conjunction accepts everything) */
    int nother;                  /* ... other than type/enum/const */
    ptrs enums;                  /* enum arrays; a const value is held by its parent object (see consts) */
    ptrs consts;
    int has_lo, lo_excl, has_hi, hi_excl, mult_int;
    double lo, hi;
    long minlen, maxlen;         /* maxlen -1: none */
    const cJSON *pattern_at; const char *pattern;
    const cJSON *format_at; const char *format;
    long minit, maxit;
    ptrs arr_prefix, arr_rest;   /* per array component: prefix array (or NULL), rest schema (or NULL) */
    const cJSON *unique_at;
    ptrs obj_props, obj_ap;      /* per object component: properties (or NULL), additionalProperties (or NULL) */
    ptrs req;                    /* required string nodes */
    long minprop, maxprop;
    const cJSON *minprop_at, *maxprop_at;
    ptrs groups;                 /* anyOf/oneOf arrays not yet split */
    ptrs stack;                  /* $ref targets being merged (cycle check) */
    char *unsup[G_N];
} shape;

static void sh_init(shape *s) {
    memset(s, 0, sizeof *s);
    s->types = T_ALL;
    s->maxlen = -1; s->maxit = -1; s->maxprop = -1;
}

static void sh_free(shape *s) {
    ptrs *all[] = { &s->enums, &s->consts, &s->arr_prefix, &s->arr_rest, &s->obj_props, &s->obj_ap, &s->req, &s->groups, &s->stack };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]->v);
    for (int i = 0; i < G_N; i++) free(s->unsup[i]);
}

static void sh_unsup(gb *g, shape *s, int grp, const char *kw, const cJSON *at) {
    if (s->unsup[grp]) return;
    char buf[512];
    snprintf(buf, sizeof buf, "keyword '%s' at %s", kw, pshow(g, at));
    s->unsup[grp] = db_strdup(buf);
}

static int is_annotation(const char *k) {
    static const char *const ann[] = { "$schema", "$comment", "title", "description", "default", "examples", "readOnly",
        "writeOnly", "deprecated", "contentMediaType", "contentEncoding", "contentSchema", "$defs", "definitions", "$anchor",
        "$dynamicAnchor", "$recursiveAnchor", NULL };
    return in_list(ann, k);
}

/* keywords of JSON Schema that this converter does not enforce, with the type
 * group they constrain (a keyword for a type the schema excludes is harmless) */
static int unenforced_group(const char *k) {
    static const struct { const char *k; int g; } t[] = {
        { "multipleOf", G_NUM }, { "contains", G_ARR }, { "minContains", G_ARR }, { "maxContains", G_ARR },
        { "unevaluatedItems", G_ARR }, { "patternProperties", G_OBJ }, { "propertyNames", G_OBJ },
        { "dependentRequired", G_OBJ }, { "dependentSchemas", G_OBJ }, { "dependencies", G_OBJ },
        { "unevaluatedProperties", G_OBJ }, { "not", G_ANY }, { "if", G_ANY }, { "$dynamicRef", G_ANY },
        { "$recursiveRef", G_ANY }, { "$vocabulary", G_ANY }, { "disallow", G_ANY }, { "extends", G_ANY },
        { "divisibleBy", G_NUM },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) if (strcmp(t[i].k, k) == 0) return t[i].g;
    return -1;
}

static int pure_ref(gb *g, const cJSON *node) {
    if (!cJSON_IsObject(node) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(node, "$ref"))) return 0;
    if (g->draft7) return 1;
    const cJSON *c;
    cJSON_ArrayForEach(c, node)
        if (strcmp(c->string, "$ref") != 0 && !is_annotation(c->string) &&
            !(strcmp(c->string, "$id") == 0 && cJSON_IsString(c) && c->valuestring[0] == '#')) return 0;
    return 1;
}

static unsigned type_bits(const char *t) {
    if (!strcmp(t, "null")) return T_NULL;
    if (!strcmp(t, "boolean")) return T_BOOL;
    if (!strcmp(t, "object")) return T_OBJ;
    if (!strcmp(t, "array")) return T_ARR;
    if (!strcmp(t, "string")) return T_STR;
    if (!strcmp(t, "integer")) return T_INT;
    if (!strcmp(t, "number")) return T_INT | T_NUM;
    return 0;
}

static int nonneg_int(const cJSON *v, long *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble)) return -1;
    *out = v->valuedouble > 1e15 ? (long)1e15 : (long)v->valuedouble;
    return 0;
}

static int in_group_set(const cJSON *arr, const cJSON *const *res, int nres) {
    for (int i = 0; i < nres; i++) if (res[i] == arr) return 1;
    return 0;
}

static void bound_lo(shape *s, double v, int excl) {
    if (!s->has_lo || v > s->lo || (v == s->lo && excl)) { s->lo = v; s->lo_excl = excl; s->has_lo = 1; }
}
static void bound_hi(shape *s, double v, int excl) {
    if (!s->has_hi || v < s->hi || (v == s->hi && excl)) { s->hi = v; s->hi_excl = excl; s->has_hi = 1; }
}

/* Merge one schema node into s.  Returns 0, or -1 with g->status set. */
static int absorb(gb *g, shape *s, const cJSON *node, const cJSON *const *res, int nres) {
    if (cJSON_IsBool(node)) {
        if (cJSON_IsFalse(node)) { s->never = 1; s->nconstraints++; }
        return 0;
    }
    if (!cJSON_IsObject(node)) return gfail(g, -1, "schema at %s is not an object or boolean", pshow(g, node));
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(node, "$ref");
    if (ref) {
        if (!cJSON_IsString(ref)) return gfail(g, -1, "$ref at %s is not a string", pshow(g, node));
        const cJSON *t = resolve_ref(g, node, ref->valuestring);
        if (!t) return -1;
        for (int i = 0; i < s->stack.n; i++)
            if (s->stack.v[i] == t) return gfail(g, 1, "circular $ref '%s' at %s", ref->valuestring, pshow(g, node));
        if (s->stack.n > 64) return gfail(g, 1, "$ref chain too long at %s", pshow(g, node));
        if (ptrs_add(&s->stack, t) < 0) return OOM(g);
        int rc = absorb(g, s, t, res, nres);
        s->stack.n--;
        if (rc < 0) return -1;
        if (g->draft7) return 0;   /* draft-07: $ref overrides its siblings */
    }
    /* draft-04: boolean exclusiveMinimum/exclusiveMaximum modify minimum/maximum */
    int ex_lo = 0, ex_hi = 0;
    if (g->draft4) {
        ex_lo = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(node, "exclusiveMinimum"));
        ex_hi = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(node, "exclusiveMaximum"));
    }
    const int is_root = node == g->root;
    const cJSON *c;
    cJSON_ArrayForEach(c, node) {
        const char *k = c->string;
        int grp;
        if (!strcmp(k, "$ref") || is_annotation(k)) continue;
        if (!strcmp(k, "$id") || (g->draft4 && !strcmp(k, "id"))) {
            if (!cJSON_IsString(c)) continue;
            if (!is_root && c->valuestring[0] != '#') sh_unsup(g, s, G_ANY, k, node);   /* a new base URI */
            continue;
        }
        if (!strcmp(k, "type")) {
            unsigned t = 0;
            if (cJSON_IsString(c)) t = type_bits(c->valuestring);
            else if (cJSON_IsArray(c)) { const cJSON *e; cJSON_ArrayForEach(e, c) if (cJSON_IsString(e)) t |= type_bits(e->valuestring); }
            else return gfail(g, -1, "'type' at %s is not a string or array", pshow(g, node));
            s->types &= t;
            s->nconstraints++;
        } else if (!strcmp(k, "enum")) {
            if (!cJSON_IsArray(c)) return gfail(g, -1, "'enum' at %s is not an array", pshow(g, node));
            if (ptrs_add(&s->enums, c) < 0) return OOM(g);
            s->nconstraints++;
        } else if (!strcmp(k, "const")) {
            if (ptrs_add(&s->consts, c) < 0) return OOM(g);
            s->nconstraints++;
        } else if (!strcmp(k, "allOf")) {
            if (!cJSON_IsArray(c)) return gfail(g, -1, "'allOf' at %s is not an array", pshow(g, node));
            const cJSON *e;
            cJSON_ArrayForEach(e, c) if (absorb(g, s, e, res, nres) < 0) return -1;
        } else if (!strcmp(k, "anyOf") || !strcmp(k, "oneOf")) {
            if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) == 0)
                return gfail(g, -1, "'%s' at %s is not a non-empty array", k, pshow(g, node));
            if (in_group_set(c, res, nres)) continue;
            if (ptrs_add(&s->groups, c) < 0) return OOM(g);
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "minimum") || !strcmp(k, "maximum") || !strcmp(k, "exclusiveMinimum") || !strcmp(k, "exclusiveMaximum")) {
            if (cJSON_IsBool(c)) continue;   /* draft-04 flag, read above */
            if (!cJSON_IsNumber(c)) return gfail(g, -1, "'%s' at %s is not a number", k, pshow(g, node));
            double v = c->valuedouble;
            if (!strcmp(k, "minimum")) bound_lo(s, v, ex_lo);
            else if (!strcmp(k, "maximum")) bound_hi(s, v, ex_hi);
            else if (!strcmp(k, "exclusiveMinimum")) bound_lo(s, v, 1);
            else bound_hi(s, v, 1);
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "minLength") || !strcmp(k, "maxLength")) {
            long v;
            if (nonneg_int(c, &v) < 0) return gfail(g, -1, "'%s' at %s is not a non-negative integer", k, pshow(g, node));
            if (k[1] == 'i') { if (v > s->minlen) s->minlen = v; }
            else if (s->maxlen < 0 || v < s->maxlen) s->maxlen = v;
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "pattern")) {
            if (!cJSON_IsString(c)) return gfail(g, -1, "'pattern' at %s is not a string", pshow(g, node));
            if (s->pattern && strcmp(s->pattern, c->valuestring) != 0) sh_unsup(g, s, G_STR, "pattern (two different patterns)", node);
            s->pattern = c->valuestring; s->pattern_at = node;
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "format")) {
            if (!cJSON_IsString(c)) continue;
            if (in_list(formats_unsupported, c->valuestring)) {
                char kw[96];
                snprintf(kw, sizeof kw, "format '%.60s'", c->valuestring);
                sh_unsup(g, s, G_STR, kw, node);
            } else if (in_list(formats_supported, c->valuestring)) {
                if (s->format && strcmp(s->format, c->valuestring) != 0) sh_unsup(g, s, G_STR, "format (two different formats)", node);
                s->format = c->valuestring; s->format_at = node;
            } else continue;   /* a custom format: an annotation, as in the validator */
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "minItems") || !strcmp(k, "maxItems")) {
            long v;
            if (nonneg_int(c, &v) < 0) return gfail(g, -1, "'%s' at %s is not a non-negative integer", k, pshow(g, node));
            if (k[1] == 'i') { if (v > s->minit) s->minit = v; }
            else if (s->maxit < 0 || v < s->maxit) s->maxit = v;
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "items") || !strcmp(k, "prefixItems") || !strcmp(k, "additionalItems")) {
            const cJSON *items = cJSON_GetObjectItemCaseSensitive(node, "items");
            const cJSON *prefix = NULL, *rest = NULL;
            if (!strcmp(k, "prefixItems")) {
                if (!cJSON_IsArray(c)) return gfail(g, -1, "'prefixItems' at %s is not an array", pshow(g, node));
                if (items) continue;   /* handled with "items" */
                if (ptrs_add(&s->arr_prefix, c) < 0 || ptrs_add(&s->arr_rest, NULL) < 0) return OOM(g);
                s->nconstraints++; s->nother++;
                continue;
            }
            if (!strcmp(k, "additionalItems")) continue;   /* only with the array form of "items", handled there */
            if (cJSON_IsArray(items)) { prefix = items; rest = cJSON_GetObjectItemCaseSensitive(node, "additionalItems"); }
            else { prefix = cJSON_GetObjectItemCaseSensitive(node, "prefixItems"); rest = items; }
            if (ptrs_add(&s->arr_prefix, prefix) < 0 || ptrs_add(&s->arr_rest, rest) < 0) return OOM(g);
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "uniqueItems")) {
            if (cJSON_IsTrue(c)) { s->unique_at = node; s->nconstraints++; s->nother++; }
        } else if (!strcmp(k, "properties") || !strcmp(k, "additionalProperties")) {
            if (!strcmp(k, "additionalProperties") && cJSON_GetObjectItemCaseSensitive(node, "properties")) continue;
            const cJSON *props = cJSON_GetObjectItemCaseSensitive(node, "properties");
            if (props && !cJSON_IsObject(props)) return gfail(g, -1, "'properties' at %s is not an object", pshow(g, node));
            if (ptrs_add(&s->obj_props, props) < 0 || ptrs_add(&s->obj_ap, cJSON_GetObjectItemCaseSensitive(node, "additionalProperties")) < 0)
                return OOM(g);
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "required")) {
            if (!cJSON_IsArray(c)) {
                if (cJSON_IsBool(c) && g->draft4) continue;   /* draft-03 style */
                return gfail(g, -1, "'required' at %s is not an array", pshow(g, node));
            }
            const cJSON *e;
            cJSON_ArrayForEach(e, c) {
                if (!cJSON_IsString(e)) return gfail(g, -1, "'required' at %s holds a non-string", pshow(g, node));
                if (ptrs_add(&s->req, e) < 0) return OOM(g);
            }
            if (cJSON_GetArraySize(c)) { s->nconstraints++; s->nother++; }
        } else if (!strcmp(k, "minProperties") || !strcmp(k, "maxProperties")) {
            long v;
            if (nonneg_int(c, &v) < 0) return gfail(g, -1, "'%s' at %s is not a non-negative integer", k, pshow(g, node));
            if (k[1] == 'i') { if (v > s->minprop) { s->minprop = v; s->minprop_at = node; } }
            else if (s->maxprop < 0 || v < s->maxprop) { s->maxprop = v; s->maxprop_at = node; }
            s->nconstraints++; s->nother++;
        } else if ((grp = unenforced_group(k)) >= 0) {
            /* values that constrain nothing */
            if (!strcmp(k, "multipleOf") && cJSON_IsNumber(c) && c->valuedouble == 1.0) { s->mult_int = 1; s->nconstraints++; s->nother++; continue; }
            if ((!strcmp(k, "patternProperties") || !strcmp(k, "dependentRequired") || !strcmp(k, "dependentSchemas") ||
                 !strcmp(k, "dependencies")) && cJSON_IsObject(c) && !c->child) continue;
            if ((!strcmp(k, "propertyNames") || !strcmp(k, "unevaluatedProperties") || !strcmp(k, "unevaluatedItems") ||
                 !strcmp(k, "contains")) && cJSON_IsTrue(c)) continue;
            if (!strcmp(k, "if") && !cJSON_GetObjectItemCaseSensitive(node, "then") && !cJSON_GetObjectItemCaseSensitive(node, "else")) continue;
            if ((!strcmp(k, "minContains") || !strcmp(k, "maxContains")) && !cJSON_GetObjectItemCaseSensitive(node, "contains")) continue;
            sh_unsup(g, s, grp, k, node);
            s->nconstraints++; s->nother++;
        }
        /* anything else: not a JSON Schema keyword here (an annotation); the validator ignores it too */
    }
    return 0;
}

static int sh_absorb_all(gb *g, shape *s, const cJSON *const *nodes, int n, const cJSON *const *res, int nres) {
    for (int i = 0; i < n; i++) if (absorb(g, s, nodes[i], res, nres) < 0) return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Emission.                                                            */

static char *visit(gb *g, const cJSON *const *nodes, int n, const cJSON *const *res, int nres, const char *hint);

#define ROOT_URN "urn:decobench:json-gbnf-root"

static char *root_resolver(void *user, const char *uri, char *err, size_t errlen) {
    gb *g = user;
    if (strcmp(uri, ROOT_URN) == 0) return db_strdup(g->root_text);
    db_errf(err, errlen, "not the schema document");
    return NULL;
}

/* A validator for the conjunction of nodes (they are checked against the whole
 * document through a resolver, so local $refs keep working). */
static db_jsonschema *conj_validator(gb *g, const cJSON *const *nodes, int n) {
    if (!g->root_text && !(g->root_text = cJSON_PrintUnformatted(g->root))) { OOM(g); return NULL; }
    db_str w;
    db_str_init(&w);
    int rc = db_str_append(&w, "{");
    const cJSON *sch = cJSON_GetObjectItemCaseSensitive(g->root, "$schema");
    if (cJSON_IsString(sch)) { rc |= db_str_append(&w, "\"$schema\":"); rc |= json_str(&w, sch->valuestring); rc |= db_str_append(&w, ","); }
    rc |= db_str_append(&w, "\"allOf\":[");
    for (int i = 0; i < n; i++) {
        db_str u;
        db_str_init(&u);
        rc |= db_str_append(&u, ROOT_URN "#");
        for (const unsigned char *p = (const unsigned char *)path_of(g, nodes[i]); *p; p++) {
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("/-._~", *p))
                rc |= db_str_appendn(&u, (const char *)p, 1);
            else rc |= db_str_printf(&u, "%%%02X", *p);
        }
        rc |= db_str_printf(&w, "%s{\"$ref\":", i ? "," : "");
        rc |= json_str(&w, u.s ? u.s : "");
        rc |= db_str_append(&w, "}");
        db_str_free(&u);
    }
    rc |= db_str_append(&w, "]}");
    if (rc) { db_str_free(&w); OOM(g); return NULL; }
    cJSON *wj = cJSON_Parse(w.s);
    db_str_free(&w);
    if (!wj) { OOM(g); return NULL; }
    db_jsonschema_opts o;
    memset(&o, 0, sizeof o);
    o.format_assert = 1;
    o.resolver = root_resolver;
    o.resolver_user = g;
    db_jsonschema *v = NULL;
    char err[256];
    if (db_jsonschema_compile_opts(wj, &o, &v, err, sizeof err) < 0) v = NULL;
    cJSON_Delete(wj);
    return v;
}

static unsigned value_type(const cJSON *v) {
    if (cJSON_IsNull(v)) return T_NULL;
    if (cJSON_IsBool(v)) return T_BOOL;
    if (cJSON_IsObject(v)) return T_OBJ;
    if (cJSON_IsArray(v)) return T_ARR;
    if (cJSON_IsString(v)) return T_STR;
    if (cJSON_IsNumber(v)) return v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 1e300 ? T_INT : T_NUM;
    return 0;
}

/* cJSON's spelling of a number */
/* the canonical spelling of a number: integral values below 1e16 as digits, others
 * the shortest %.15g/%.16g/%.17g that reads back exactly */
static void num_text(char *buf, size_t len, double d) {
    if (d == floor(d) && fabs(d) < 1e16) { snprintf(buf, len, "%.0f", d); if (!strcmp(buf, "-0")) snprintf(buf, len, "0"); return; }
    for (int p = 15; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, d);
        if (strtod(buf, NULL) == d) return;
    }
}

/* a JSON value as a GBNF sequence (value followed by space) */
static int lit_value(gb *g, db_str *o, const cJSON *v) {
    int rc = 0;
    g->need |= B_SPACE;
    if (cJSON_IsNull(v)) return db_str_append(o, "\"null\" space");
    if (cJSON_IsTrue(v)) return db_str_append(o, "\"true\" space");
    if (cJSON_IsFalse(v)) return db_str_append(o, "\"false\" space");
    if (cJSON_IsNumber(v)) {   /* the canonical spelling, and cJSON's when it differs and is exact */
        char b[64], b2[64];
        char *cj = cJSON_PrintUnformatted(v);
        num_text(b, sizeof b, v->valuedouble);
        snprintf(b2, sizeof b2, "%s", cj ? cj : b);
        if (cj) cJSON_free(cj);
        if (strcmp(b, b2) == 0 || strtod(b2, NULL) != v->valuedouble) return db_str_printf(o, "\"%s\" space", b);
        return db_str_printf(o, "(\"%s\" | \"%s\") space", b2, b);
    }
    if (cJSON_IsString(v)) {
        db_str t;
        db_str_init(&t);
        rc = json_str(&t, v->valuestring);
        if (!rc) rc = gb_lit(o, t.s, t.len);
        db_str_free(&t);
        return rc | db_str_append(o, " space");
    }
    int obj = cJSON_IsObject(v);
    rc |= db_str_append(o, obj ? "\"{\" space" : "\"[\" space");
    const cJSON *c;
    int i = 0;
    cJSON_ArrayForEach(c, v) {
        rc |= db_str_append(o, i++ ? " \",\" space " : " ");
        if (obj) {
            db_str t;
            db_str_init(&t);
            rc |= json_str(&t, c->string);
            if (!rc) rc |= gb_lit(o, t.s, t.len);
            db_str_free(&t);
            rc |= db_str_append(o, " space \":\" space ");
        }
        rc |= lit_value(g, o, c);
    }
    return rc | db_str_append(o, obj ? " \"}\" space" : " \"]\" space");
}

static int in_values(const cJSON *arr, const cJSON *v) {
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) if (cJSON_Compare(e, v, 1)) return 1;
    return 0;
}

/* the candidate values of s's enum/const lists (their intersection), as an array of borrowed pointers */
static int enum_candidates(const shape *s, ptrs *out) {
    const cJSON *first = s->consts.n ? s->consts.v[0] : NULL;
    const cJSON *firstarr = first ? NULL : s->enums.v[0];
    const cJSON *e;
    if (first) { if (ptrs_add(out, first) < 0) return -1; }
    else cJSON_ArrayForEach(e, firstarr) if (ptrs_add(out, e) < 0) return -1;
    int k = 0;
    for (int i = 0; i < out->n; i++) {
        const cJSON *v = out->v[i];
        int ok = 1;
        for (int j = 0; j < s->consts.n && ok; j++) ok = cJSON_Compare(s->consts.v[j], v, 1);
        for (int j = 0; j < s->enums.n && ok; j++) ok = in_values(s->enums.v[j], v);
        for (int j = 0; j < i && ok; j++) if (cJSON_Compare(out->v[j], v, 1)) ok = 0;   /* duplicates */
        if (ok) out->v[k++] = v;
    }
    out->n = k;
    return 0;
}

static int emit_enum(gb *g, shape *s, const cJSON *const *nodes, int n, db_str *o) {
    ptrs cand = { 0 };
    if (enum_candidates(s, &cand) < 0) return OOM(g);
    db_jsonschema *v = NULL;
    if (s->nother > 0) {
        v = conj_validator(g, nodes, n);
        if (!v) {
            free(cand.v);
            if (g->status) return -1;
            return gfail(g, 1, "enum/const at %s with sibling keywords the validator cannot check", pshow(g, nodes[0]));
        }
    }
    int alts = 0, rc = 0;
    for (int i = 0; i < cand.n && rc == 0; i++) {
        unsigned t = value_type(cand.v[i]);
        if (!(s->types & t) && !(t == T_INT && (s->types & T_NUM))) continue;
        if (v) {
            int ok = db_jsonschema_validate(v, cand.v[i], NULL, 0);
            if (ok < 0) { rc = gfail(g, 1, "enum/const at %s: the validator cannot check a value", pshow(g, nodes[0])); break; }
            if (!ok) continue;
        }
        if (alts++ && db_str_append(o, " | ")) rc = OOM(g);
        if (rc == 0 && lit_value(g, o, cand.v[i])) rc = OOM(g);
    }
    db_jsonschema_free(v);
    free(cand.v);
    return rc < 0 ? -1 : alts;
}

static int emit_number(gb *g, shape *s, const cJSON *at, db_str *o) {
    unsigned t = s->types & (T_INT | T_NUM);
    if (s->mult_int) t &= T_INT;
    if (!t) return 0;
    if (s->unsup[G_NUM]) return gfail(g, 1, "%s", s->unsup[G_NUM]);
    g->need |= B_SPACE;
    if (t & T_NUM) {
        const char *EXP = "([eE] [-+]? [0-9]+)?";
        if (!s->has_lo && !s->has_hi)
            return db_str_printf(o, "\"-\"? (\"0\" | [1-9] [0-9]*) (\".\" [0-9]+)? %s space", EXP) ? OOM(g) : 1;
        char zero[128], pos[160];
        snprintf(zero, sizeof zero, "\"0\" (\".\" \"0\"+)? %s", EXP);
        snprintf(pos, sizeof pos, "([1-9] [0-9]* (\".\" [0-9]+)? | \"0.\" \"0\"* [1-9] [0-9]*) %s", EXP);
        if (s->has_lo && !s->has_hi && s->lo == 0)
            return (s->lo_excl ? db_str_printf(o, "(%s) space", pos)
                               : db_str_printf(o, "(%s | %s | \"-\" %s) space", pos, zero, zero)) ? OOM(g) : 1;
        if (s->has_hi && !s->has_lo && s->hi == 0)
            return (s->hi_excl ? db_str_printf(o, "\"-\" (%s) space", pos)
                               : db_str_printf(o, "(\"-\" %s | %s | \"-\" %s) space", pos, zero, zero)) ? OOM(g) : 1;
        return gfail(g, 1, "minimum/maximum on a non-integer number at %s (only integer ranges and sign bounds are exact)", pshow(g, at));
    }
    int64_t lo = 0, hi = 0;
    if (s->has_lo) {
        double v = s->lo_excl ? floor(s->lo) + 1 : ceil(s->lo);
        if (fabs(v) > MAX_EXACT_INT) return gfail(g, 1, "integer bound %g at %s beyond 2^53", s->lo, pshow(g, at));
        lo = (int64_t)v;
    }
    if (s->has_hi) {
        double v = s->hi_excl ? ceil(s->hi) - 1 : floor(s->hi);
        if (fabs(v) > MAX_EXACT_INT) return gfail(g, 1, "integer bound %g at %s beyond 2^53", s->hi, pshow(g, at));
        hi = (int64_t)v;
    }
    if (s->has_lo && s->has_hi && lo > hi) return 0;
    if (int_range(o, s->has_lo, lo, s->has_hi, hi) || db_str_append(o, " space")) return OOM(g);
    return 1;
}

typedef struct ralt { const xnode *seq; int from, to, sa, ea; } ralt;

static int collect_alts(const xnode *alt, int sa_in, int ea_in, ralt **v, int *n) {
    for (int i = 0; i < alt->nk; i++) {
        const xnode *seq = alt->kids[i];
        int from = 0, to = seq->nk, sa = sa_in, ea = ea_in;
        while (from < to && seq->kids[from]->type == X_BOL) { from++; sa = 1; }
        while (to > from && seq->kids[to - 1]->type == X_EOL) { to--; ea = 1; }
        if (to - from == 1 && seq->kids[from]->type == X_ALT && xhas_anchor(seq->kids[from])) {
            if (collect_alts(seq->kids[from], sa, ea, v, n) < 0) return -1;
            continue;
        }
        ralt *nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
        if (!nv) return -1;
        *v = nv;
        nv[*n].seq = seq; nv[*n].from = from; nv[*n].to = to; nv[*n].sa = sa; nv[*n].ea = ea;
        (*n)++;
    }
    return 0;
}

/* The content (between the quotes) of strings matching regex src (search
 * semantics unless full) with length in [minlen, maxlen]; 1 emitted, 0 none, -1 failed. */
static int emit_regex(gb *g, const char *src, int full, long minlen, long maxlen, const cJSON *at, const char *what, db_str *o) {
    xparse P;
    xnode *root = xparse_pattern(&P, src);
    ralt *alts = NULL;
    int nalts = 0, rc = -1;
    if (!root) {
        gfail(g, 1, "%s at %s: %s", what, pshow(g, at), P.err);
        goto out;
    }
    if (full) {
        for (int i = 0; i < root->nk; i++) {
            ralt *nv = realloc(alts, (size_t)(nalts + 1) * sizeof *nv);
            if (!nv) { OOM(g); goto out; }
            alts = nv;
            alts[nalts].seq = root->kids[i]; alts[nalts].from = 0; alts[nalts].to = root->kids[i]->nk;
            alts[nalts].sa = alts[nalts].ea = 1;
            nalts++;
        }
    } else if (collect_alts(root, 0, 0, &alts, &nalts) < 0) { OOM(g); goto out; }
    /* length bounds: redundant, or folded into the one variable-length item */
    int redundant = 1;
    for (int i = 0; i < nalts; i++) {
        long lo = 0, hi = 0;
        for (int k = alts[i].from; k < alts[i].to; k++) {
            long l, h;
            xlen(alts[i].seq->kids[k], &l, &h);
            lo += l;
            hi = (hi < 0 || h < 0) ? -1 : hi + h;
        }
        if (!alts[i].sa || !alts[i].ea) hi = -1;
        if (lo < minlen || (maxlen >= 0 && (hi < 0 || hi > maxlen))) redundant = 0;
    }
    long pre_min = 0, pre_max = -1, suf_min = 0, suf_max = -1;   /* the char* affixes of an unanchored pattern */
    if (!redundant) {
        if (nalts != 1) { gfail(g, 1, "%s with minLength/maxLength at %s (alternatives)", what, pshow(g, at)); goto out; }
        ralt *a = &alts[0];
        int nvar = 0, which = -2;   /* -1 prefix affix, -3 suffix affix, else item index */
        long fixed = 0;
        if (!a->sa) { nvar++; which = -1; }
        if (!a->ea) { nvar++; which = -3; }
        for (int k = a->from; k < a->to; k++) {
            long l, h;
            xlen(a->seq->kids[k], &l, &h);
            if (l == h) fixed += l;
            else { nvar++; which = k; }
        }
        long lo = minlen - fixed, hi = maxlen < 0 ? -1 : maxlen - fixed;
        if (nvar == 1 && which >= 0) {
            xnode *r = a->seq->kids[which];
            long l, h;
            if (r->type == X_REP) xlen(r->kids[0], &l, &h);
            if (r->type != X_REP || l != 1 || h != 1) { gfail(g, 1, "%s with minLength/maxLength at %s", what, pshow(g, at)); goto out; }
            if (lo < r->min) lo = r->min;
            if (r->max >= 0 && (hi < 0 || r->max < hi)) hi = r->max;
            if (hi >= 0 && lo > hi) { rc = 0; goto out; }
            r->min = lo; r->max = hi;
        } else if (nvar == 1) {
            if (lo < 0) lo = 0;
            if (hi >= 0 && lo > hi) { rc = 0; goto out; }
            if (which == -1) { pre_min = lo; pre_max = hi; } else { suf_min = lo; suf_max = hi; }
        } else if (nvar == 0) {
            if (fixed < minlen || (maxlen >= 0 && fixed > maxlen)) { rc = 0; goto out; }
        } else { gfail(g, 1, "%s with minLength/maxLength at %s", what, pshow(g, at)); goto out; }
    }
    if (pre_min > DB_JSON_GBNF_MAX_REPEAT || pre_max > DB_JSON_GBNF_MAX_REPEAT ||
        suf_min > DB_JSON_GBNF_MAX_REPEAT || suf_max > DB_JSON_GBNF_MAX_REPEAT) {
        gfail(g, 1, "%s with minLength/maxLength at %s: bound above the expansion cap %d", what, pshow(g, at), DB_JSON_GBNF_MAX_REPEAT);
        goto out;
    }
    g->need |= B_CHAR;
    int r = db_str_append(o, nalts > 1 ? "(" : "");
    for (int i = 0; i < nalts && r == 0; i++) {
        ralt *a = &alts[i];
        if (i) r |= db_str_append(o, " | ");
        if (!a->sa) { r |= gb_rep(o, "char", pre_min, pre_max); r |= db_str_append(o, " "); }
        for (int k = a->from; k < a->to && r == 0; k++) {
            if (xhas_anchor(a->seq->kids[k])) {
                gfail(g, 1, "%s at %s: an anchor ^ or $ inside the pattern", what, pshow(g, at));
                goto out;
            }
            const char *why = NULL;
            if (xemit(g, o, a->seq->kids[k], &why) < 0) {
                if (why) gfail(g, 1, "%s at %s: %s", what, pshow(g, at), why);
                else OOM(g);
                goto out;
            }
            r |= db_str_append(o, " ");
        }
        if (a->from == a->to && a->sa) r |= db_str_append(o, "\"\" ");
        if (!a->ea) r |= gb_rep(o, "char", suf_min, suf_max);
    }
    r |= db_str_append(o, nalts > 1 ? ")" : "");
    if (r) { OOM(g); goto out; }
    rc = 1;
out:
    free(alts);
    xfree_all(&P);
    return rc;
}

static int emit_string(gb *g, shape *s, const cJSON *at, db_str *o) {
    if (!(s->types & T_STR)) return 0;
    if (s->unsup[G_STR]) return gfail(g, 1, "%s", s->unsup[G_STR]);
    if (s->maxlen >= 0 && s->minlen > s->maxlen) return 0;
    g->need |= B_SPACE | B_CHAR;
    db_str body;
    db_str_init(&body);
    int rc;
    if (s->pattern && s->format) return gfail(g, 1, "pattern together with format at %s", pshow(g, s->pattern_at));
    if (s->pattern) rc = emit_regex(g, s->pattern, 0, s->minlen, s->maxlen, s->pattern_at, "pattern", &body);
    else if (s->format) {
        char *src = format_regex(s->format);
        if (!src) return OOM(g);
        char what[96];
        snprintf(what, sizeof what, "format '%s'", s->format);
        rc = emit_regex(g, src, 1, s->minlen, s->maxlen, s->format_at, what, &body);
        free(src);
    } else {
        if (s->minlen > DB_JSON_GBNF_MAX_REPEAT || s->maxlen > DB_JSON_GBNF_MAX_REPEAT) {
            db_str_free(&body);
            return gfail(g, 1, "keyword '%s' (%ld) at %s above the expansion cap %d", s->maxlen > DB_JSON_GBNF_MAX_REPEAT ? "maxLength" : "minLength",
                         s->maxlen > DB_JSON_GBNF_MAX_REPEAT ? s->maxlen : s->minlen, pshow(g, at), DB_JSON_GBNF_MAX_REPEAT);
        }
        rc = gb_rep(&body, "char", s->minlen, s->maxlen) ? OOM(g) : 1;
    }
    if (rc == 1 && db_str_printf(o, "\"\\\"\" %s \"\\\"\" space", body.s)) rc = OOM(g);
    db_str_free(&body);
    return rc;
}

/* visit a conjunction of the given nodes (NULL entries skipped) one container deeper */
static char *visit_member(gb *g, const ptrs *conj, const char *hint) {
    if (conj->n == 0) { g->need |= B_VALUE; return db_strdup("json-value"); }
    g->depth++;
    char *r = visit(g, conj->v, conj->n, NULL, 0, hint);
    g->depth--;
    return r;
}

static int emit_array(gb *g, shape *s, const cJSON *at, const char *hint, db_str *o) {
    if (!(s->types & T_ARR)) return 0;
    if (s->unsup[G_ARR]) return gfail(g, 1, "%s", s->unsup[G_ARR]);
    int P = 0;
    for (int c = 0; c < s->arr_prefix.n; c++)
        if (s->arr_prefix.v[c] && cJSON_GetArraySize(s->arr_prefix.v[c]) > P) P = cJSON_GetArraySize(s->arr_prefix.v[c]);
    long minit = s->minit, maxit = s->maxit;
    if (maxit >= 0 && P > maxit) P = (int)maxit;
    char **names = calloc((size_t)P + 1, sizeof *names);
    char *rest = NULL;
    int rc = -1, have_rest_schema = 0;
    ptrs conj = { 0 };
    if (!names) return OOM(g);
    char h[96];
    for (int j = 0; j < P; j++) {
        conj.n = 0;
        for (int c = 0; c < s->arr_prefix.n; c++) {
            const cJSON *pre = s->arr_prefix.v[c];
            const cJSON *x = pre && j < cJSON_GetArraySize(pre) ? cJSON_GetArrayItem(pre, j) : s->arr_rest.v[c];
            if (x && ptrs_add(&conj, x) < 0) { OOM(g); goto out; }
        }
        snprintf(h, sizeof h, "%s-%d", hint, j);
        names[j] = visit_member(g, &conj, h);
        if (g->status) goto out;
        if (!names[j]) { if (maxit < 0 || maxit > j) maxit = j; break; }
    }
    if (maxit >= 0 && P > maxit) P = (int)maxit;
    conj.n = 0;
    for (int c = 0; c < s->arr_rest.n; c++) if (s->arr_rest.v[c]) { have_rest_schema = 1; if (ptrs_add(&conj, s->arr_rest.v[c]) < 0) { OOM(g); goto out; } }
    if (maxit < 0 || maxit > P) {
        snprintf(h, sizeof h, "%s-item", hint);
        rest = visit_member(g, &conj, h);
        if (g->status) goto out;
        if (!rest) maxit = P;
    }
    (void)have_rest_schema;
    if (s->unique_at && (maxit < 0 || maxit > 1)) { gfail(g, 1, "keyword 'uniqueItems' at %s", pshow(g, s->unique_at)); goto out; }
    if (maxit >= 0 && minit > maxit) { rc = 0; goto out; }
    if (minit > DB_JSON_GBNF_MAX_REPEAT || maxit > DB_JSON_GBNF_MAX_REPEAT) {
        gfail(g, 1, "keyword '%s' (%ld) at %s above the expansion cap %d", maxit > DB_JSON_GBNF_MAX_REPEAT ? "maxItems" : "minItems",
              maxit > DB_JSON_GBNF_MAX_REPEAT ? maxit : minit, pshow(g, at), DB_JSON_GBNF_MAX_REPEAT);
        goto out;
    }
    g->need |= B_SPACE;
    /* items: first, then tail(k) for k >= 1, nested optionals from minItems on */
    db_str t;
    db_str_init(&t);
    int r = 0;
    if (maxit != 0) {
        r |= db_str_append(&t, minit == 0 ? "(" : "");
        r |= db_str_append(&t, P > 0 ? names[0] : rest);
        int open = 0;
        for (int k = 1; k < P && (maxit < 0 || k < maxit); k++) {
            r |= db_str_append(&t, k >= minit ? " (\",\" space " : " \",\" space ");
            r |= db_str_append(&t, names[k]);
            if (k >= minit) open++;
        }
        int k = P > 0 ? P : 1;
        if (maxit < 0 || k < maxit) {
            char atom[160];
            snprintf(atom, sizeof atom, "\",\" space %s", rest);
            long lo = minit > k ? minit - k : 0, hi = maxit < 0 ? -1 : maxit - k;
            r |= db_str_append(&t, " ");
            r |= gb_rep(&t, atom, lo, hi);
        }
        for (int i = 0; i < open; i++) r |= db_str_append(&t, ")?");
        r |= db_str_append(&t, minit == 0 ? ")?" : "");
    }
    r |= db_str_printf(o, "\"[\" space %s \"]\" space", t.s ? t.s : "");
    db_str_free(&t);
    rc = r ? OOM(g) : 1;
out:
    for (int j = 0; j < P + 1 && names; j++) free(names[j]);
    free(names);
    free(rest);
    free(conj.v);
    return rc;
}

typedef struct pname { const char *name; int req; char *rule; } pname;

/* JSON key strings not equal to any of names[idx[..]] (which share their first d code points) */
static int key_exclusion(db_str *o, uint32_t **cps, const int *lens, const int *idx, int n, int d) {
    int rc = 0, alts = 0, terminal = 0;
    cset kids = { 0 };
    for (int i = 0; i < n; i++) {
        if (lens[idx[i]] == d) terminal = 1;
        else cs_add(&kids, cps[idx[i]][d], cps[idx[i]][d]);
    }
    cs_norm(&kids);
    rc |= db_str_append(o, "(");
    if (!terminal) { alts++; }   /* the key may end here: empty alternative */
    cset other = { 0 };
    rc |= cs_complement(&kids, &other);
    if (other.n) {
        rc |= db_str_append(o, alts++ ? " | " : "");
        rc |= cs_emit_json(o, &other);
        rc |= db_str_append(o, " char*");
    }
    cs_free(&other);
    int *sub = malloc((size_t)n * sizeof *sub);
    if (!sub) { cs_free(&kids); return -1; }
    for (int r = 0; r < kids.n && rc == 0; r++)
        for (uint32_t c = kids.r[r][0]; c <= kids.r[r][1] && rc == 0; c++) {
            int m = 0;
            for (int i = 0; i < n; i++) if (lens[idx[i]] > d && cps[idx[i]][d] == c) sub[m++] = idx[i];
            cset one = { 0 };
            cs_add(&one, c, c);
            rc |= db_str_append(o, alts++ || !terminal ? " | " : "");
            rc |= cs_emit_json(o, &one);
            cs_free(&one);
            rc |= db_str_append(o, " ");
            rc |= key_exclusion(o, cps, lens, sub, m, d + 1);
        }
    free(sub);
    cs_free(&kids);
    return rc | db_str_append(o, ")");
}

static int emit_object(gb *g, shape *s, const cJSON *at, const char *hint, db_str *o) {
    if (!(s->types & T_OBJ)) return 0;
    if (s->unsup[G_OBJ]) return gfail(g, 1, "%s", s->unsup[G_OBJ]);
    pname *el = NULL;
    int nel = 0, rc = -1;
    ptrs conj = { 0 };
    char *add = NULL;
    /* element names: the union of "properties" in order, then required-only names */
    for (int c = 0; c <= s->obj_props.n; c++) {
        const cJSON *list = c < s->obj_props.n ? s->obj_props.v[c] : NULL;
        const cJSON *e;
        if (c == s->obj_props.n) {
            for (int i = 0; i < s->req.n; i++) {
                const char *nm = s->req.v[i]->valuestring;
                int dup = 0;
                for (int j = 0; j < nel && !dup; j++) dup = strcmp(el[j].name, nm) == 0;
                if (dup) continue;
                pname *nv = realloc(el, (size_t)(nel + 1) * sizeof *nv);
                if (!nv) { OOM(g); goto out; }
                el = nv; el[nel].name = nm; el[nel].req = 0; el[nel].rule = NULL; nel++;
            }
            break;
        }
        if (!list) continue;
        cJSON_ArrayForEach(e, list) {
            int dup = 0;
            for (int j = 0; j < nel && !dup; j++) dup = strcmp(el[j].name, e->string) == 0;
            if (dup) continue;
            pname *nv = realloc(el, (size_t)(nel + 1) * sizeof *nv);
            if (!nv) { OOM(g); goto out; }
            el = nv; el[nel].name = e->string; el[nel].req = 0; el[nel].rule = NULL; nel++;
        }
    }
    int nreq = 0;
    for (int j = 0; j < nel; j++) {
        for (int i = 0; i < s->req.n; i++) if (strcmp(s->req.v[i]->valuestring, el[j].name) == 0) el[j].req = 1;
        nreq += el[j].req;
        conj.n = 0;
        for (int c = 0; c < s->obj_props.n; c++) {
            const cJSON *x = s->obj_props.v[c] ? cJSON_GetObjectItemCaseSensitive(s->obj_props.v[c], el[j].name) : NULL;
            if (!x) x = s->obj_ap.v[c];
            if (x && ptrs_add(&conj, x) < 0) { OOM(g); goto out; }
        }
        char h[96];
        snprintf(h, sizeof h, "%s-%s", hint, el[j].name);
        el[j].rule = visit_member(g, &conj, h);
        if (g->status) goto out;
        if (!el[j].rule && el[j].req) { rc = 0; goto out; }
    }
    /* additional members */
    conj.n = 0;
    for (int c = 0; c < s->obj_ap.n; c++) if (s->obj_ap.v[c] && ptrs_add(&conj, s->obj_ap.v[c]) < 0) { OOM(g); goto out; }
    {
        char h[96];
        snprintf(h, sizeof h, "%s-additional", hint);
        add = visit_member(g, &conj, h);
        if (g->status) goto out;
    }
    int nkept = 0;
    for (int j = 0; j < nel; j++) nkept += el[j].rule != NULL;
    if (s->minprop_at && s->minprop > nreq) { gfail(g, 1, "keyword 'minProperties' at %s", pshow(g, s->minprop_at)); goto out; }
    if (s->maxprop_at && (add || nkept > s->maxprop)) { gfail(g, 1, "keyword 'maxProperties' at %s", pshow(g, s->maxprop_at)); goto out; }
    g->need |= B_SPACE;
    db_str x;   /* the additional member "key": value, or empty */
    db_str_init(&x);
    int r = 0;
    if (add) {
        g->need |= B_CHAR;
        if (nel == 0) r |= db_str_printf(&x, "\"\\\"\" char* \"\\\"\" space \":\" space %s", add);
        else {
            uint32_t **cps = calloc((size_t)nel, sizeof *cps);
            int *lens = calloc((size_t)nel, sizeof *lens), *idx = calloc((size_t)nel, sizeof *idx);
            int bad = !cps || !lens || !idx;
            for (int j = 0; j < nel && !bad; j++) {
                size_t L = strlen(el[j].name);
                cps[j] = malloc((L + 1) * sizeof **cps);
                if (!cps[j]) { bad = 1; break; }
                const unsigned char *p = (const unsigned char *)el[j].name, *e = p + L;
                while (p < e) {
                    uint32_t c = utf8_next(&p);
                    if (c < 0x20) bad = 2;
                    cps[j][lens[j]++] = c;
                }
                idx[j] = j;
            }
            if (!bad) {
                r |= db_str_append(&x, "\"\\\"\" ");
                r |= key_exclusion(&x, cps, lens, idx, nel, 0);
                r |= db_str_printf(&x, " \"\\\"\" space \":\" space %s", add);
            }
            for (int j = 0; j < nel && cps; j++) free(cps[j]);
            free(cps); free(lens); free(idx);
            if (bad == 2) { db_str_free(&x); gfail(g, 1, "a property name with a control character at %s together with additional properties", pshow(g, at)); goto out; }
            if (bad) { db_str_free(&x); OOM(g); goto out; }
        }
    }
    if (x.s) {   /* as a rule: it is repeated, and llama.cpp limits quantified groups by the rules inside */
        char h[96];
        snprintf(h, sizeof h, "%s-additional-kv", hint);
        int idx = add_rule(g, h, db_str_take(&x));
        if (idx < 0) goto out;
        db_str_init(&x);
        r |= db_str_append(&x, rule_name(g, idx));
    }
    /* kv strings of the kept elements */
    char **kv = calloc((size_t)nel + 1, sizeof *kv);
    int *kreq = calloc((size_t)nel + 1, sizeof *kreq);
    int n = 0;
    if (!kv || !kreq) r = -1;
    for (int j = 0; j < nel && r == 0; j++) {
        if (!el[j].rule) continue;
        db_str k;
        db_str_init(&k);
        db_str t;
        db_str_init(&t);
        r |= json_str(&t, el[j].name);
        if (!r) r |= gb_lit(&k, t.s, t.len);
        r |= db_str_printf(&k, " space \":\" space %s", el[j].rule);
        db_str_free(&t);
        kv[n] = db_str_take(&k);
        kreq[n] = el[j].req;
        if (!kv[n]) r = -1;
        n++;
    }
    /* tail(i): members from i on after something was written: a chain of rules */
    int first_req = n;
    for (int j = 0; j < n; j++) if (kreq[j]) { first_req = j; break; }
    db_str body;
    db_str_init(&body);
    char **tail = calloc((size_t)n + 2, sizeof *tail);
    if (!tail) r = -1;
    if (r == 0) {
        /* tail[n]: additional members */
        if (x.s) {
            db_str t;
            db_str_init(&t);
            r |= db_str_printf(&t, "(\",\" space %s)*", x.s);
            tail[n] = db_str_take(&t);
        } else tail[n] = db_strdup("");
        if (!tail[n]) r = -1;
        for (int j = n - 1; j >= 1 && r == 0; j--) {
            db_str t;
            db_str_init(&t);
            r |= db_str_printf(&t, kreq[j] ? "\",\" space %s %s" : "(\",\" space %s)? %s", kv[j], tail[j + 1]);
            if (j <= first_req + 1 && j < n - 1 && first_req >= 1 && r == 0) {   /* shared by several alternatives: a rule */
                char h[96];
                snprintf(h, sizeof h, "%s-rest-%d", hint, j);
                int idx = add_rule(g, h, db_str_take(&t));
                if (idx < 0) { r = -1; break; }
                tail[j] = db_strdup(g->rules[idx].name);
            } else tail[j] = db_str_take(&t);
            if (!tail[j]) r = -1;
        }
        /* alternatives for the first member written */
        int alts = 0;
        for (int k = 0; k < n && k <= first_req && r == 0; k++) {
            r |= db_str_printf(&body, "%s%s %s", alts++ ? " | " : "", kv[k], k + 1 <= n ? tail[k + 1] : "");
        }
        if (first_req == n && r == 0) {   /* no required member: additional ones first, or nothing */
            if (x.s) r |= db_str_printf(&body, "%s%s %s", alts++ ? " | " : "", x.s, tail[n]);
            r |= db_str_append(&body, alts++ ? " | " : "");
        }
        if (r == 0) r |= db_str_printf(o, "\"{\" space (%s) \"}\" space", body.s ? body.s : "");
    }
    for (int j = 0; tail && j <= n; j++) free(tail[j]);
    free(tail);
    db_str_free(&body);
    for (int j = 0; kv && j < n; j++) free(kv[j]);
    free(kv); free(kreq);
    db_str_free(&x);
    rc = r ? (g->status ? -1 : OOM(g)) : 1;
out:
    for (int j = 0; j < nel; j++) free(el[j].rule);
    free(el);
    free(conj.v);
    free(add);
    return rc;
}

/* ------------------------------------------------------------------ */
/* anyOf / oneOf, the conjunction walk, the entry point.                */

/* required in a but impossible in b, or required in both with provably disjoint values */
static int sh_disjoint(gb *g, shape *a, shape *b, int depth);

static int prop_shape(gb *g, shape *s, const char *name, shape *out) {
    sh_init(out);
    for (int c = 0; c < s->obj_props.n; c++) {
        const cJSON *x = s->obj_props.v[c] ? cJSON_GetObjectItemCaseSensitive(s->obj_props.v[c], name) : NULL;
        if (!x) x = s->obj_ap.v[c];
        if (x && absorb(g, out, x, NULL, 0) < 0) return -1;
    }
    return 0;
}

static int sh_has_req(shape *s, const char *name) {
    for (int i = 0; i < s->req.n; i++) if (strcmp(s->req.v[i]->valuestring, name) == 0) return 1;
    return 0;
}

static int sh_disjoint(gb *g, shape *a, shape *b, int depth) {
    if (a->never || b->never || !a->types || !b->types) return 1;
    if (a->enums.n + a->consts.n || b->enums.n + b->consts.n) {
        ptrs ca = { 0 }, cb = { 0 };
        int hasa = a->enums.n + a->consts.n > 0, hasb = b->enums.n + b->consts.n > 0, overlap = 0;
        if ((hasa && enum_candidates(a, &ca) < 0) || (hasb && enum_candidates(b, &cb) < 0)) { free(ca.v); free(cb.v); return 0; }
        if (hasa && hasb) {
            for (int i = 0; i < ca.n && !overlap; i++)
                for (int j = 0; j < cb.n && !overlap; j++) overlap = cJSON_Compare(ca.v[i], cb.v[j], 1);
        } else {
            ptrs *c = hasa ? &ca : &cb;
            unsigned other = hasa ? b->types : a->types;
            for (int i = 0; i < c->n && !overlap; i++) {
                unsigned t = value_type(c->v[i]);
                overlap = (other & t) || (t == T_INT && (other & T_NUM));
            }
        }
        free(ca.v); free(cb.v);
        if (!overlap) return 1;
        if (hasa && hasb) return 0;
    }
    unsigned common = a->types & b->types;
    if (!common) return 1;
    if (common != T_OBJ || depth > 3) return 0;
    for (int pass = 0; pass < 2; pass++) {
        shape *x = pass ? b : a, *y = pass ? a : b;
        for (int i = 0; i < x->req.n; i++) {
            const char *p = x->req.v[i]->valuestring;
            int forbidden = 0;
            for (int c = 0; c < y->obj_props.n && !forbidden; c++) {
                const cJSON *pp = y->obj_props.v[c] ? cJSON_GetObjectItemCaseSensitive(y->obj_props.v[c], p) : NULL;
                const cJSON *ap = y->obj_ap.v[c];
                forbidden = (pp && cJSON_IsFalse(pp)) || (!pp && ap && cJSON_IsFalse(ap));
            }
            if (forbidden) return 1;
            if (pass == 0 && sh_has_req(y, p)) {
                shape px, py;
                sh_init(&px); sh_init(&py);   /* both freed below even when the first prop_shape fails */
                int d = prop_shape(g, x, p, &px) == 0 && prop_shape(g, y, p, &py) == 0 && sh_disjoint(g, &px, &py, depth + 1);
                sh_free(&px); sh_free(&py);
                if (g->status) return 0;
                if (d) return 1;
            }
        }
    }
    return 0;
}

static int emit_conj(gb *g, const cJSON *const *nodes, int n, const cJSON *const *res, int nres, const char *hint, db_str *o);

static int emit_groups(gb *g, shape *s, const cJSON *const *nodes, int n, const cJSON *const *res, int nres, db_str *o) {
    const cJSON *G = s->groups.v[0];
    int one = strcmp(G->string, "oneOf") == 0;
    int na = cJSON_GetArraySize(G);
    const cJSON **res2 = malloc((size_t)(nres + 1) * sizeof *res2);
    const cJSON **n2 = malloc((size_t)(n + 1) * sizeof *n2);
    shape *br = one ? calloc((size_t)na, sizeof *br) : NULL;
    int rc = -1, alts = 0;
    if (!res2 || !n2 || (one && !br)) { OOM(g); goto out; }
    if (nres) memcpy(res2, res, (size_t)nres * sizeof *res2);
    res2[nres] = G;
    memcpy(n2, nodes, (size_t)n * sizeof *n2);
    shape t;
    sh_init(&t);
    int trivial = sh_absorb_all(g, &t, nodes, n, res2, nres + 1) == 0 && t.nconstraints == 0;
    sh_free(&t);
    if (g->status) goto out;
    if (one) {
        for (int i = 0; i < na; i++) {
            sh_init(&br[i]);
            n2[n] = cJSON_GetArrayItem(G, i);
            if (trivial ? absorb(g, &br[i], n2[n], NULL, 0) < 0 : sh_absorb_all(g, &br[i], n2, n + 1, res2, nres + 1) < 0) goto out;
        }
        for (int i = 0; i < na; i++)
            for (int j = i + 1; j < na; j++)
                if (!sh_disjoint(g, &br[i], &br[j], 0)) {
                    if (!g->status)
                        gfail(g, 1, "keyword 'oneOf' at %s (exclusivity not enforced: branches %d and %d not provably disjoint)",
                              pshow(g, G), i, j);
                    goto out;
                }
    }
    for (int i = 0; i < na; i++) {
        if (++g->branches > MAX_BRANCHES) { gfail(g, 1, "anyOf/oneOf combinations beyond %d at %s", MAX_BRANCHES, pshow(g, G)); goto out; }
        n2[n] = cJSON_GetArrayItem(G, i);
        char *name = trivial ? visit(g, &n2[n], 1, NULL, 0, NULL) : visit(g, n2, n + 1, res2, nres + 1, NULL);
        if (g->status) { free(name); goto out; }
        if (!name) continue;
        if ((alts++ && db_str_append(o, " | ")) || db_str_append(o, name)) { free(name); OOM(g); goto out; }
        free(name);
    }
    rc = alts > 0;
out:
    if (br) { for (int i = 0; i < na; i++) sh_free(&br[i]); free(br); }
    free(res2); free(n2);
    return rc;
}

static int emit_conj(gb *g, const cJSON *const *nodes, int n, const cJSON *const *res, int nres, const char *hint, db_str *o) {
    shape s;
    sh_init(&s);
    int rc = sh_absorb_all(g, &s, nodes, n, res, nres);
    if (rc < 0 || s.never) { sh_free(&s); return rc < 0 ? -1 : 0; }
    if (s.unsup[G_ANY]) { gfail(g, 1, "%s", s.unsup[G_ANY]); sh_free(&s); return -1; }
    if (s.groups.n) { rc = emit_groups(g, &s, nodes, n, res, nres, o); sh_free(&s); return rc; }
    if (s.enums.n || s.consts.n) { rc = emit_enum(g, &s, nodes, n, o); sh_free(&s); return rc; }
    if (s.nconstraints == 0) { sh_free(&s); g->need |= B_VALUE; return db_str_append(o, "json-value") ? OOM(g) : 1; }
    int alts = 0;
    const cJSON *at = nodes[0];
    g->need |= B_SPACE;
    if (s.types & T_NULL) { db_str_append(o, "\"null\" space"); alts++; }
    if (s.types & T_BOOL) { db_str_append(o, alts++ ? " | (\"true\" | \"false\") space" : "(\"true\" | \"false\") space"); }
    for (int k = 0; k < 4; k++) {
        db_str b;
        db_str_init(&b);
        int r = k == 0 ? emit_object(g, &s, at, hint, &b) : k == 1 ? emit_array(g, &s, at, hint, &b)
              : k == 2 ? emit_string(g, &s, at, &b) : emit_number(g, &s, at, &b);
        if (r < 0) { db_str_free(&b); sh_free(&s); return -1; }
        if (r > 0) {
            if (alts++) db_str_append(o, " | ");
            db_str_append(o, b.s);
        }
        db_str_free(&b);
    }
    sh_free(&s);
    return alts > 0;
}

static const char *last_segment(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static char *visit(gb *g, const cJSON *const *nodes, int n, const cJSON *const *res, int nres, const char *hint) {
    const cJSON *one = nodes[0];
    if (n == 1 && nres == 0) {
        for (int hops = 0; pure_ref(g, one); hops++) {
            if (hops > 64) { gfail(g, 1, "circular $ref at %s", pshow(g, nodes[0])); return NULL; }
            one = resolve_ref(g, one, cJSON_GetObjectItemCaseSensitive(one, "$ref")->valuestring);
            if (!one) return NULL;
            hint = NULL;
        }
        nodes = &one;
    }
    db_str key;
    db_str_init(&key);
    for (int i = 0; i < n; i++) db_str_printf(&key, "%p,", (const void *)nodes[i]);
    db_str_append(&key, "|");
    for (int i = 0; i < nres; i++) db_str_printf(&key, "%p,", (const void *)res[i]);
    if (!key.s) { OOM(g); return NULL; }
    int mi = smap_get(&g->memo_idx, key.s);
    if (mi >= 0) {
        db_str_free(&key);
        memo *m = &g->memos[mi];
        if (m->state == 0 && m->depth == g->depth) {
            gfail(g, 1, "circular $ref at %s (the schema refers to itself without an object or array in between)", pshow(g, nodes[0]));
            return NULL;
        }
        if (m->state == 0) m->state = 3;   /* in progress and referenced */
        return m->state == 2 ? NULL : db_strdup(m->name);
    }
    if (g->vdepth > MAX_VISIT_DEPTH) { db_str_free(&key); gfail(g, 1, "schema nested deeper than %d at %s", MAX_VISIT_DEPTH, pshow(g, nodes[0])); return NULL; }
    if (g->nmemos == g->capmemos) {
        int cap = g->capmemos ? g->capmemos * 2 : 64;
        memo *v = realloc(g->memos, (size_t)cap * sizeof *v);
        if (!v) { db_str_free(&key); OOM(g); return NULL; }
        g->memos = v; g->capmemos = cap;
    }
    char base[96];
    snprintf(base, sizeof base, "%s", hint ? hint : last_segment(path_of(g, nodes[0])));
    int ri = add_rule(g, base, NULL);
    if (ri < 0) { db_str_free(&key); return NULL; }
    mi = g->nmemos++;
    g->memos[mi].name = db_strdup(g->rules[ri].name);
    g->memos[mi].state = 0;
    g->memos[mi].depth = g->depth;
    if (!g->memos[mi].name || smap_put(&g->memo_idx, key.s, mi) < 0) { db_str_free(&key); OOM(g); return NULL; }
    db_str_free(&key);
    db_str body;
    db_str_init(&body);
    g->vdepth++;
    int rc = emit_conj(g, nodes, n, res, nres, g->memos[mi].name, &body);
    g->vdepth--;
    memo *m = &g->memos[mi];
    if (rc < 0 || g->status) { db_str_free(&body); return NULL; }
    if (rc == 0) {
        db_str_free(&body);
        if (m->state == 3) { gfail(g, 1, "recursive schema at %s accepts no value", pshow(g, nodes[0])); return NULL; }
        m->state = 2;
        return NULL;
    }
    m->state = 1;
    set_body(g, ri, db_str_take(&body));
    if (g->status) return NULL;
    return db_strdup(m->name);
}

static void gb_free(gb *g) {
    for (int i = 0; i < g->nrules; i++) { free(g->rules[i].name); free(g->rules[i].body); }
    free(g->rules);
    for (int i = 0; i < g->nmemos; i++) free(g->memos[i].name);
    free(g->memos);
    for (int i = 0; i < g->npath; i++) free(g->pathv[i]);
    free(g->pathv);
    free(g->anchor_nodes);
    smap_free(&g->names); smap_free(&g->memo_idx); smap_free(&g->paths); smap_free(&g->anchors);
    free(g->root_id);
    if (g->root_text) cJSON_free(g->root_text);
}

int db_json_gbnf(const cJSON *schema, char **out_gbnf, char *why, size_t whylen) {
    gb g;
    memset(&g, 0, sizeof g);
    *out_gbnf = NULL;
    if (why && whylen) why[0] = 0;
    g.root = schema;
    g.why = why; g.whylen = whylen;
    if (!schema || (!cJSON_IsObject(schema) && !cJSON_IsBool(schema))) return gfail(&g, -1, "the schema is not a JSON object or boolean");
    const cJSON *sch = cJSON_GetObjectItemCaseSensitive(schema, "$schema");
    if (cJSON_IsString(sch)) {
        const char *u = sch->valuestring;
        if (strstr(u, "draft-04") || strstr(u, "draft-03")) g.draft7 = g.draft4 = 1;
        else if (strstr(u, "draft-06") || strstr(u, "draft-07")) g.draft7 = 1;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(schema, g.draft4 ? "id" : "$id");
    if (cJSON_IsString(id)) {
        g.root_id = db_strdup(id->valuestring);
        if (g.root_id && strchr(g.root_id, '#')) *strchr(g.root_id, '#') = 0;
    }
    static const char *const builtin[] = { "space", "char", "char-esc", "json-value", "json-object", "json-array", "json-string", "json-number", NULL };
    for (int i = 0; builtin[i]; i++) if (smap_put(&g.names, builtin[i], -2) < 0) { OOM(&g); goto done; }
    if (index_paths(&g, schema, "") < 0) goto done;
    const cJSON *rootv[1] = { schema };
    char *name = visit(&g, rootv, 1, NULL, 0, "root");
    if (g.status) { free(name); goto done; }
    if (!name) { gfail(&g, 1, "the schema accepts no value"); goto done; }
    db_str o;
    db_str_init(&o);
    int r = 0;
    if (strcmp(name, "root") != 0) r |= db_str_printf(&o, "root ::= %s\n", name);
    free(name);
    for (int i = 0; i < g.nrules; i++)
        if (g.rules[i].body) r |= db_str_printf(&o, "%s ::= %s\n", g.rules[i].name, g.rules[i].body);
    if (g.need & B_VALUE) {
        g.need |= B_SPACE | B_CHAR;
        r |= db_str_append(&o,
            "json-value ::= json-object | json-array | json-string | json-number | (\"true\" | \"false\" | \"null\") space\n"
            "json-object ::= \"{\" space (json-string \":\" space json-value (\",\" space json-string \":\" space json-value)*)? \"}\" space\n"
            "json-array ::= \"[\" space (json-value (\",\" space json-value)*)? \"]\" space\n"
            "json-string ::= \"\\\"\" char* \"\\\"\" space\n"
            "json-number ::= \"-\"? (\"0\" | [1-9] [0-9]*) (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)? space\n");
    }
    if (g.need & B_CHAR) {
        cset all = { 0 };
        r |= cs_add(&all, 0, MAX_CP);
        r |= db_str_append(&o, "char ::= ");
        r |= cs_emit_json(&o, &all);
        r |= db_str_append(&o, "\nchar-esc ::= \"\\\\\" ([\"\\\\bfnrt] | \"u00\" [01] [0-9a-fA-F])\n");
        cs_free(&all);
    }
    if (g.need & B_SPACE) r |= db_str_append(&o, "space ::= | \" \" | \"\\n\"{1,2} [ \\t]{0,20}\n");
    if (r) { db_str_free(&o); OOM(&g); goto done; }
    *out_gbnf = db_str_take(&o);
done:
    gb_free(&g);
    return g.status;
}

int db_json_gbnf_text(const char *schema_json, char **out_gbnf, char *why, size_t whylen) {
    *out_gbnf = NULL;
    cJSON *j = cJSON_Parse(schema_json);
    if (!j && db_json_too_deep(schema_json, strlen(schema_json), NULL, NULL))   /* S7 */
        return db_errf(why, whylen, "the schema is JSON nested deeper than %d levels", db_json_nesting_limit());
    if (!j) return db_errf(why, whylen, "the schema is not valid JSON");
    int rc = db_json_gbnf(j, out_gbnf, why, whylen);
    cJSON_Delete(j);
    return rc;
}
