/* regex_parse.c — the regex front end's parser: ECMA-262 pattern text ->
 * db_rx AST (see regex.h for the dialects and the error codes).
 *
 * The pattern is first split into units (code points; under DB_RX_STRICT
 * byte sequences by their lead byte) with each unit's byte offset, then
 * parsed by recursive descent: alternation -> sequence of quantified atoms
 * -> atom (group, class, '.', anchor, escape, literal).  Every dialect
 * difference is a branch on the flags at the point where the historical
 * parsers differed, so each consumer sees the errors, in the order, it
 * always has.
 */
#include "regex.h"

#include <stdlib.h>
#include <string.h>

#include "harness/util/utf8.h"
#include "regex_syntax.h"

#define STRICT_MAX_REPEAT 1000

typedef struct rxp {
    const char *pat;
    uint32_t *p;        /* units */
    size_t *off;        /* off[k]: byte offset of unit k; off[n]: end of the range */
    int n, i;
    unsigned flags;
    db_rx *re;
    db_rx_error *e;
} rxp;

/* record the first error; the offset is where parsing stands unless given */
static void fail_at(rxp *P, db_rx_code code, uint32_t ch, size_t offset) {
    if (P->e->code != DB_RX_OK) return;
    P->e->code = code;
    P->e->ch = ch;
    P->e->offset = offset;
}

static void fail(rxp *P, db_rx_code code, uint32_t ch) {
    fail_at(P, code, ch, P->off[P->i < P->n ? P->i : P->n]);
}

static db_rx_node *rnew(rxp *P, int type) {
    db_rx *re = P->re;
    if (re->nall == re->capall) {
        int cap = re->capall ? re->capall * 2 : 16;
        db_rx_node **a = realloc(re->all, (size_t)cap * sizeof *a);
        if (!a) { fail(P, DB_RX_E_OOM, 0); return NULL; }
        re->all = a; re->capall = cap;
    }
    db_rx_node *n = calloc(1, sizeof *n);
    if (!n) { fail(P, DB_RX_E_OOM, 0); return NULL; }
    n->type = type;
    re->all[re->nall++] = n;
    return n;
}

static int item_add(rxp *P, db_rx_node *c, int kind, uint32_t lo, uint32_t hi) {
    db_rx_item *it = realloc(c->items, (size_t)(c->nitems + 1) * sizeof *it);
    if (!it) { fail(P, DB_RX_E_OOM, 0); return -1; }
    c->items = it;
    it[c->nitems].kind = kind; it[c->nitems].lo = lo; it[c->nitems].hi = hi;
    c->nitems++;
    return 0;
}

static int class_kind(int letter) {
    switch (letter) {
    case 'd': return DB_RX_C_DIGIT;
    case 'D': return DB_RX_C_NDIGIT;
    case 'w': return DB_RX_C_WORD;
    case 'W': return DB_RX_C_NWORD;
    case 's': return DB_RX_C_SPACE;
    default:  return DB_RX_C_NSPACE;
    }
}

static int hexval(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* Escape results: 1 a character (*cp), 2 a class item (*cls: DB_RX_C_*),
 * 3 \b, 4 \B, -1 an error. */

/* DB_RX_STRICT: \x and \u take exactly 2 and 4 hex digits, a letter or a
 * non-ASCII byte without a meaning is an error. */
static int escape_strict(rxp *P, uint32_t *cp, int *cls) {
    if (P->i >= P->n) { fail(P, DB_RX_E_TRAILING_BACKSLASH, 0); return -1; }
    const int at = P->i;
    const uint32_t c = P->p[P->i++];
    if (c >= 0x80) {   /* read as its lead byte, as the byte-wise parser did */
        uint32_t b = (unsigned char)P->pat[P->off[at]];
        fail_at(P, DB_RX_E_UNKNOWN_ESCAPE, b, P->off[at] + 1);
        return -1;
    }
    switch (c) {
    case 'd': case 'w': case 's': case 'D': case 'W': case 'S': *cls = (int)c; return 2;
    case 't': *cp = '\t'; return 1;
    case 'n': *cp = '\n'; return 1;
    case 'r': *cp = '\r'; return 1;
    case 'f': *cp = '\f'; return 1;
    case 'v': *cp = '\v'; return 1;
    case '0':
        if (P->i < P->n && P->p[P->i] >= '0' && P->p[P->i] <= '9') { fail(P, DB_RX_E_OCTAL, 0); return -1; }
        *cp = 0;
        return 1;
    case 'x': case 'u': {
        int nd = c == 'x' ? 2 : 4;
        uint32_t v = 0;
        for (int k = 0; k < nd; k++) {
            int h = P->i < P->n ? hexval(P->p[P->i]) : -1;
            if (h < 0) { fail(P, c == 'x' ? DB_RX_E_HEX_X : DB_RX_E_HEX_U, 0); return -1; }
            v = v * 16 + (uint32_t)h;
            P->i++;
        }
        *cp = v;
        return 1;
    }
    case 'b': case 'B': fail(P, DB_RX_E_BOUNDARY, c); return -1;
    case 'k': fail(P, DB_RX_E_NAMED_BACKREF, 0); return -1;
    default:
        if (c >= '1' && c <= '9') { fail(P, DB_RX_E_BACKREF, c); return -1; }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) { fail(P, DB_RX_E_UNKNOWN_ESCAPE, c); return -1; }
        *cp = c;   /* escaped punctuation stands for itself */
        return 1;
    }
}

/* \p{L} \p{Lu} \p{Ll} and their long names; P->i at the '{' */
static int property(rxp *P, uint32_t c, int *cls) {
    static const struct { const char *name; int kind; } props[] = {
        { "L", DB_RX_C_UALPHA }, { "Letter", DB_RX_C_UALPHA }, { "Alphabetic", DB_RX_C_UALPHA }, { "Alpha", DB_RX_C_UALPHA },
        { "Lu", DB_RX_C_UUPPER }, { "Uppercase_Letter", DB_RX_C_UUPPER }, { "Uppercase", DB_RX_C_UUPPER },
        { "Ll", DB_RX_C_ULOWER }, { "Lowercase_Letter", DB_RX_C_ULOWER }, { "Lowercase", DB_RX_C_ULOWER },
    };
    char name[40];
    int j = P->i, k = 0;
    if (j < P->n && P->p[j] == '{') {
        j++;
        while (j < P->n && P->p[j] != '}' && k < (int)sizeof name - 1) {
            if (P->p[j] == '=') { k = 0; break; }   /* Script=...: unsupported */
            name[k++] = (char)P->p[j++];
        }
    }
    name[k] = 0;
    int kind = -1;
    if (k > 0 && j < P->n && P->p[j] == '}')
        for (size_t q = 0; q < sizeof props / sizeof props[0]; q++)
            if (strcmp(props[q].name, name) == 0) kind = props[q].kind;
    if (kind < 0) {
        fail(P, DB_RX_E_PROPERTY_NAME, c);
        memcpy(P->e->name, name, sizeof name);
        return -1;
    }
    if (!P->re->has_property) memcpy(P->re->first_property, name, sizeof name);
    P->re->has_property = 1;
    P->i = j + 1;
    *cls = c == 'P' ? kind + 1 : kind;
    return 2;
}

/* Annex B escapes (regex_syntax.c), with the dialect's refusals. */
static int escape(rxp *P, int in_class, uint32_t *cp, int *cls) {
    if (P->flags & DB_RX_STRICT) {
        int r = escape_strict(P, cp, cls);
        if (r == 2) *cls = class_kind(*cls);
        return r;
    }
    if (P->i >= P->n) { fail(P, DB_RX_E_TRAILING_BACKSLASH, 0); return -1; }
    const uint32_t c = P->p[P->i];
    db_re_escape e = db_regex_escape(P->p, P->n, &P->i, in_class != 0);
    switch (e.kind) {
    case DB_RE_ESC_CHAR: *cp = e.cp; return 1;
    case DB_RE_ESC_CLASS: *cls = class_kind(e.cls); return 2;
    case DB_RE_ESC_WORD_BOUNDARY:
    case DB_RE_ESC_NOT_BOUNDARY:
        if (!(P->flags & DB_RX_BOUNDARY)) { fail(P, DB_RX_E_BOUNDARY, c); return -1; }
        return e.kind == DB_RE_ESC_WORD_BOUNDARY ? 3 : 4;
    case DB_RE_ESC_PROPERTY:
        if (!(P->flags & DB_RX_PROPERTY)) { fail(P, DB_RX_E_PROPERTY, c); return -1; }
        return property(P, c, cls);
    case DB_RE_ESC_BACKREF: fail(P, DB_RX_E_BACKREF, c); return -1;
    case DB_RE_ESC_NAMED_BACKREF: fail(P, DB_RX_E_NAMED_BACKREF, 0); return -1;
    case DB_RE_ESC_INVALID: break;
    }
    fail(P, DB_RX_E_INVALID_ESCAPE, c);   /* \B inside a class, \0 followed by a digit */
    return -1;
}

/* where the byte-wise parser stood after a class member starting at unit k:
 * one byte into a literal, after an escape */
static size_t member_end(const rxp *P, int k, int literal) {
    return literal ? P->off[k] + 1 : P->off[P->i];
}

/* one class member's value (after '\' or a literal): 1 char, 2 class item, -1 error */
static int class_member(rxp *P, int hi_side, uint32_t *v, int *cls, int *literal) {
    uint32_t c = P->p[P->i++];
    *literal = 0;
    if (c != '\\') { *v = c; *literal = 1; return 1; }
    if ((P->flags & DB_RX_STRICT) && !hi_side && P->i < P->n && P->p[P->i] == 'b') { P->i++; *v = '\b'; return 1; }
    return escape(P, 1, v, cls);
}

static db_rx_node *parse_class(rxp *P) {
    const int strict = (P->flags & DB_RX_STRICT) != 0;
    db_rx_node *c = rnew(P, DB_RX_CLASS);
    if (!c) return NULL;
    if (P->i < P->n && P->p[P->i] == '^') { c->negate = 1; P->i++; }
    for (;;) {
        if (P->i >= P->n) { fail(P, DB_RX_E_CLASS_UNTERMINATED, 0); return NULL; }
        if (P->p[P->i] == ']') { P->i++; break; }
        uint32_t lo;
        int cls = -1, lit;
        const int at = P->i;
        int r = class_member(P, 0, &lo, &cls, &lit);
        if (r < 0) return NULL;
        if (r == 2) {
            if (strict && (cls == DB_RX_C_NDIGIT || cls == DB_RX_C_NWORD || cls == DB_RX_C_NSPACE)) {
                fail(P, DB_RX_E_CLASS_NEGATED, 0);
                return NULL;
            }
            if (item_add(P, c, cls, 0, 0) < 0) return NULL;
            continue;
        }
        if (strict && lo >= 0x80) { fail_at(P, DB_RX_E_CLASS_NON_ASCII, 0, member_end(P, at, lit)); return NULL; }
        if (P->i + 1 < P->n && P->p[P->i] == '-' && P->p[P->i + 1] != ']') {
            P->i++;
            uint32_t hi;
            int cls2 = -1;
            const int at2 = P->i;
            r = class_member(P, 1, &hi, &cls2, &lit);
            if (r < 0) return NULL;
            if (r == 2) {
                if (strict) { fail(P, DB_RX_E_CLASS_RANGE_ESCAPE, 0); return NULL; }
                /* [a-\d]: Annex B, a literal '-' */
                if (item_add(P, c, DB_RX_C_RANGE, lo, lo) < 0 || item_add(P, c, DB_RX_C_RANGE, '-', '-') < 0 ||
                    item_add(P, c, cls2, 0, 0) < 0) return NULL;
                continue;
            }
            if (strict && hi >= 0x80) { fail_at(P, DB_RX_E_CLASS_NON_ASCII, 0, member_end(P, at2, lit)); return NULL; }
            if (hi < lo) { fail(P, DB_RX_E_RANGE_ORDER, 0); return NULL; }
            if (item_add(P, c, DB_RX_C_RANGE, lo, hi) < 0) return NULL;
        } else {
            if (item_add(P, c, DB_RX_C_RANGE, lo, lo) < 0) return NULL;
        }
    }
    return c;
}

static db_rx_node *parse_alt(rxp *P);

static int braces(rxp *P, int *mn, int *mx) {
    long a, b;
    if (!db_regex_braces(P->p, P->n, &P->i, &a, &b)) return 0;
    *mn = (int)a;
    *mx = (int)b;
    return 1;
}

/* '(' read: the group's flavour, then its alternatives and the ')' */
static db_rx_node *parse_group(rxp *P) {
    const int strict = (P->flags & DB_RX_STRICT) != 0;
    int look = 0, neg = 0;
    if (P->i < P->n && P->p[P->i] == '?') {
        uint32_t q = P->i + 1 < P->n ? P->p[P->i + 1] : 0;
        if (P->i + 1 < P->n && q == ':') P->i += 2;
        else if (strict) { fail(P, DB_RX_E_GROUP_SYNTAX, q ? q : ' '); return NULL; }
        else if (P->i + 1 < P->n && (q == '=' || q == '!')) {
            if (!(P->flags & DB_RX_LOOKAHEAD)) { fail(P, DB_RX_E_LOOKAHEAD, q); return NULL; }
            look = 1; neg = q == '!'; P->i += 2;
        } else if (P->i + 2 < P->n && q == '<' && P->p[P->i + 2] != '=' && P->p[P->i + 2] != '!') {
            int j = P->i + 2;   /* named group (?<name>...) */
            while (j < P->n && P->p[j] != '>') j++;
            if (j >= P->n) { fail(P, DB_RX_E_BAD_NAMED_GROUP, 0); return NULL; }
            P->i = j + 1;
        } else {
            fail(P, DB_RX_E_GROUP_SYNTAX, P->i + 1 < P->n ? q : ' ');
            return NULL;
        }
    }
    db_rx_node *g = parse_alt(P);
    if (!g) return NULL;
    if (P->i >= P->n || P->p[P->i] != ')') { fail(P, DB_RX_E_MISSING_PAREN, 0); return NULL; }
    P->i++;
    if (look) { g->type = DB_RX_LOOK; g->negate = neg; }
    return g;
}

/* one atom at P->p[P->i] (not '|' or ')'); *quantifiable cleared for anchors */
static db_rx_node *parse_atom(rxp *P, int *quantifiable) {
    const int strict = (P->flags & DB_RX_STRICT) != 0;
    const int at = P->i;
    const uint32_t c = P->p[P->i];
    db_rx_node *a = NULL;
    *quantifiable = 1;
    if (c == '*' || c == '+' || c == '?') { fail(P, DB_RX_E_NOTHING_TO_REPEAT, c); return NULL; }
    if (strict && (c == '^' || c == '$')) { fail(P, DB_RX_E_ANCHOR, c); return NULL; }
    if (c == '{' && !strict) {
        int mn, mx;
        if (braces(P, &mn, &mx)) { fail(P, DB_RX_E_BRACE_NOTHING, c); return NULL; }
    }
    P->i++;
    if (c == '(') return parse_group(P);
    if (c == '[') return parse_class(P);
    if (c == '.') return rnew(P, DB_RX_ANY);
    if (c == '^' || c == '$') {
        *quantifiable = 0;
        return rnew(P, c == '^' ? DB_RX_BOL : DB_RX_EOL);
    }
    if (c == '\\') {
        uint32_t cp;
        int cls = -1;
        int r = escape(P, 0, &cp, &cls);
        if (r < 0) return NULL;
        if (r == 1) {
            if ((a = rnew(P, DB_RX_CHAR))) a->ch = cp;
        } else if (r == 2) {
            if ((a = rnew(P, DB_RX_CLASS)) && item_add(P, a, cls, 0, 0) < 0) return NULL;
        } else {
            *quantifiable = 0;
            a = rnew(P, r == 3 ? DB_RX_WORDB : DB_RX_NWORDB);
        }
        return a;
    }
    if ((a = rnew(P, DB_RX_CHAR))) {
        a->ch = c;
        a->src_off = (int)P->off[at];
        a->src_len = (int)(P->off[at + 1] - P->off[at]);
    }
    return a;
}

/* A sequence of quantified atoms up to '|' or ')' or the end; its head (NULL: empty). */
static int parse_seq(rxp *P, db_rx_node **head) {
    const int strict = (P->flags & DB_RX_STRICT) != 0;
    db_rx_node *first = NULL, *last = NULL;
    while (P->i < P->n) {
        uint32_t c = P->p[P->i];
        if (c == '|' || c == ')') break;
        int quantifiable;
        db_rx_node *a = parse_atom(P, &quantifiable);
        if (!a) return -1;
        if (P->i < P->n) {
            uint32_t q = P->p[P->i];
            int mn = -2, mx = -2;
            if (q == '*') { mn = 0; mx = -1; P->i++; }
            else if (q == '+') { mn = 1; mx = -1; P->i++; }
            else if (q == '?') { mn = 0; mx = 1; P->i++; }
            else if (q == '{') { if (!braces(P, &mn, &mx)) mn = -2; }
            if (mn != -2) {
                if (!quantifiable) { fail(P, DB_RX_E_NOT_QUANTIFIABLE, q); return -1; }
                if (strict && (mn > STRICT_MAX_REPEAT || mx > STRICT_MAX_REPEAT)) { fail(P, DB_RX_E_REPEAT_CAP, 0); return -1; }
                if (mx >= 0 && mx < mn) { fail(P, DB_RX_E_REPEAT_ORDER, 0); return -1; }
                db_rx_node *r = rnew(P, DB_RX_REPEAT);
                if (!r) return -1;
                r->child = a; r->min = mn; r->max = mx;
                if (P->i < P->n && P->p[P->i] == '?') { r->lazy = 1; P->i++; }
                if (strict && P->i < P->n && (P->p[P->i] == '*' || P->p[P->i] == '+' || P->p[P->i] == '?')) {
                    fail(P, DB_RX_E_NOTHING_TO_REPEAT, P->p[P->i]);
                    return -1;
                }
                a = r;
            }
        }
        if (last) last->next = a; else first = a;
        last = a;
    }
    *head = first;
    return 0;
}

static db_rx_node *parse_alt(rxp *P) {
    db_rx_node *g = rnew(P, DB_RX_GROUP);
    if (!g) return NULL;
    for (;;) {
        db_rx_node *seq;
        if (parse_seq(P, &seq) < 0) return NULL;
        db_rx_node **alts = realloc(g->alts, (size_t)(g->nalts + 1) * sizeof *alts);
        if (!alts) { fail(P, DB_RX_E_OOM, 0); return NULL; }
        g->alts = alts;
        g->alts[g->nalts++] = seq;
        if (P->i < P->n && P->p[P->i] == '|') { P->i++; continue; }
        return g;
    }
}

/* units of bytes [lo, hi): code points, or under DB_RX_STRICT byte runs by lead byte */
static int split_units(rxp *P, size_t lo, size_t hi) {
    size_t len = hi - lo;
    P->p = malloc((len + 1) * sizeof *P->p);
    P->off = malloc((len + 1) * sizeof *P->off);
    if (!P->p || !P->off) return -1;
    const unsigned char *s = (const unsigned char *)P->pat;
    size_t k = lo;
    P->n = 0;
    while (k < hi) {
        uint32_t cp;
        size_t prefix = 1, step;
        int r = db_utf8_decode(s + k, hi - k, &cp, &prefix);
        if (P->flags & DB_RX_STRICT) {
            unsigned c = s[k];
            step = c < 0xC0 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (step > hi - k) step = hi - k;
            if (r != (int)step) cp = c;   /* not one well-formed character: its lead byte stands for it */
        } else if (r > 0) {
            step = (size_t)r;
        } else {
            step = (P->flags & DB_RX_UTF8_SKIP_PREFIX) ? prefix : 1;
        }
        P->off[P->n] = k;
        P->p[P->n++] = cp;
        k += step;
    }
    P->off[P->n] = hi;
    return 0;
}

void db_rx_free(db_rx *re) {
    if (!re) return;
    for (int i = 0; i < re->nall; i++) {
        free(re->all[i]->items);
        free(re->all[i]->alts);
        free(re->all[i]);
    }
    free(re->all);
    free(re);
}

db_rx *db_rx_parse(const char *pattern, size_t lo, size_t hi, unsigned flags, db_rx_error *e) {
    memset(e, 0, sizeof *e);
    rxp P;
    memset(&P, 0, sizeof P);
    P.pat = pattern;
    P.flags = flags;
    P.e = e;
    P.re = calloc(1, sizeof *P.re);
    if (!P.re || split_units(&P, lo, hi) < 0) {
        e->code = DB_RX_E_OOM;
        free(P.p); free(P.off); free(P.re);
        return NULL;
    }
    P.re->root = parse_alt(&P);
    if (P.re->root && P.i < P.n) { fail(&P, DB_RX_E_UNMATCHED_PAREN, ')'); P.re->root = NULL; }
    free(P.p);
    free(P.off);
    if (!P.re->root) {
        if (e->code == DB_RX_OK) e->code = DB_RX_E_OOM;
        db_rx_free(P.re);
        return NULL;
    }
    return P.re;
}
