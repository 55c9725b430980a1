/* jsonschema.c — JSON Schema validator (see jsonschema.h, docs/jsonschema.md).
 *
 * Compile: the schema documents are walked once; every subschema becomes an
 * `snode` (memoised by its cJSON address, so $ref cycles are fine), $id/$anchor/
 * $dynamicAnchor are registered as absolute URIs, and $ref/$dynamicRef targets
 * are resolved after the walk (loading remote documents through the resolver).
 * Validate: a recursive interpreter over snodes; annotations for
 * unevaluatedProperties/unevaluatedItems are tracked as one mark per member of
 * the instance being evaluated ("evaluated by some successful subschema").
 * Regex: a small backtracking engine over Unicode code points (ECMA-262 subset).
 */
#include "jsonschema.h"
#include "harness/util/jsonlimits.h"
#include "regex_syntax.h"
#include "harness/util/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

/* ------------------------------------------------------------------ */
/* UTF-8                                                                */

/* Decode s into a malloc'd array of code points (invalid bytes become U+FFFD). */
static uint32_t *utf8_decode(const char *s, int *n_out) {
    size_t len = strlen(s);
    uint32_t *cp = malloc((len + 1) * sizeof *cp);
    if (!cp) return NULL;
    int n = 0;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        uint32_t c = *p;
        int extra = 0;
        if (c < 0x80) extra = 0;
        else if ((c & 0xE0) == 0xC0) { c &= 0x1F; extra = 1; }
        else if ((c & 0xF0) == 0xE0) { c &= 0x0F; extra = 2; }
        else if ((c & 0xF8) == 0xF0) { c &= 0x07; extra = 3; }
        else { cp[n++] = 0xFFFD; p++; continue; }
        if (end - p <= extra) { cp[n++] = 0xFFFD; p++; continue; }
        int ok = 1;
        for (int i = 1; i <= extra; i++) {
            if ((p[i] & 0xC0) != 0x80) { ok = 0; break; }
            c = (c << 6) | (p[i] & 0x3F);
        }
        if (!ok) { cp[n++] = 0xFFFD; p++; continue; }
        cp[n++] = c;
        p += extra + 1;
    }
    *n_out = n;
    return cp;
}

static long utf8_length(const char *s) {
    long n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return n;
}

/* ------------------------------------------------------------------ */
/* Regex: a backtracking matcher for an ECMA-262 subset.                */

enum { R_CHAR, R_ANY, R_CLASS, R_BOL, R_EOL, R_WORDB, R_NWORDB, R_GROUP, R_LOOK, R_REPEAT };
enum { C_RANGE, C_DIGIT, C_NDIGIT, C_WORD, C_NWORD, C_SPACE, C_NSPACE,
       C_UALPHA, C_NUALPHA, C_UUPPER, C_NUUPPER, C_ULOWER, C_NULOWER };

typedef struct citem { int kind; uint32_t lo, hi; } citem;

typedef struct rnode {
    int type;
    struct rnode *next;
    uint32_t ch;
    citem *items; int nitems, negate;           /* R_CLASS */
    struct rnode **alts; int nalts;             /* R_GROUP, R_LOOK (negate = negative lookahead) */
    struct rnode *child; int min, max, lazy;    /* R_REPEAT (max -1: unbounded) */
} rnode;

typedef struct regex {
    rnode **all; int nall, capall;   /* every node, for freeing */
    rnode *root;
    char *source;
    locale_t loc;   /* C.UTF-8, for \p{...} classes (0: none needed) */
} regex;

typedef struct rparse {
    const uint32_t *p; int n, i;
    regex *re;
    char err[160];
} rparse;

static rnode *rnew(rparse *P, int type) {
    regex *re = P->re;
    if (re->nall == re->capall) {
        int cap = re->capall ? re->capall * 2 : 16;
        rnode **a = realloc(re->all, (size_t)cap * sizeof *a);
        if (!a) { snprintf(P->err, sizeof P->err, "out of memory"); return NULL; }
        re->all = a; re->capall = cap;
    }
    rnode *n = calloc(1, sizeof *n);
    if (!n) { snprintf(P->err, sizeof P->err, "out of memory"); return NULL; }
    n->type = type;
    re->all[re->nall++] = n;
    return n;
}

static int citem_add(rparse *P, rnode *c, int kind, uint32_t lo, uint32_t hi) {
    citem *it = realloc(c->items, (size_t)(c->nitems + 1) * sizeof *it);
    if (!it) { snprintf(P->err, sizeof P->err, "out of memory"); return -1; }
    c->items = it;
    it[c->nitems].kind = kind; it[c->nitems].lo = lo; it[c->nitems].hi = hi;
    c->nitems++;
    return 0;
}

static int hexval(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* Parse an escape after '\' (P->i at the char after the backslash).  Returns
 * 1 with *cp set for a single character, 2 with *cls set for a class escape
 * (C_DIGIT...), 3 for \b, 4 for \B (outside classes), -1 on error. */
static int parse_escape(rparse *P, int in_class, uint32_t *cp, int *cls) {
    if (P->i >= P->n) { snprintf(P->err, sizeof P->err, "trailing backslash"); return -1; }
    const uint32_t c = P->p[P->i];
    db_re_escape e = db_regex_escape(P->p, P->n, &P->i, in_class != 0);
    switch (e.kind) {
    case DB_RE_ESC_CHAR: *cp = e.cp; return 1;
    case DB_RE_ESC_CLASS:
        switch (e.cls) {
        case 'd': *cls = C_DIGIT; break;
        case 'D': *cls = C_NDIGIT; break;
        case 'w': *cls = C_WORD; break;
        case 'W': *cls = C_NWORD; break;
        case 's': *cls = C_SPACE; break;
        default:  *cls = C_NSPACE; break;
        }
        return 2;
    case DB_RE_ESC_WORD_BOUNDARY: return 3;
    case DB_RE_ESC_NOT_BOUNDARY: return 4;
    case DB_RE_ESC_PROPERTY: {
        /* \p{L} \p{Lu} \p{Ll} and long names, via glibc's C.UTF-8 classification */
        static const struct { const char *name; int kind; } props[] = {
            { "L", C_UALPHA }, { "Letter", C_UALPHA }, { "Alphabetic", C_UALPHA }, { "Alpha", C_UALPHA },
            { "Lu", C_UUPPER }, { "Uppercase_Letter", C_UUPPER }, { "Uppercase", C_UUPPER },
            { "Ll", C_ULOWER }, { "Lowercase_Letter", C_ULOWER }, { "Lowercase", C_ULOWER },
        };
        char name[40];
        int j = P->i, k = 0;
        if (j < P->n && P->p[j] == '{') {
            j++;
            while (j < P->n && P->p[j] != '}' && k < (int)sizeof name - 1) {
                if (P->p[j] == '=' ) { k = 0; break; }   /* Script=...: unsupported */
                name[k++] = (char)P->p[j++];
            }
            name[k] = 0;
        }
        int kind = -1;
        if (k > 0 && j < P->n && P->p[j] == '}')
            for (size_t q = 0; q < sizeof props / sizeof props[0]; q++)
                if (strcmp(props[q].name, name) == 0) kind = props[q].kind;
        if (kind < 0) {
            snprintf(P->err, sizeof P->err, "unsupported Unicode property escape \\%c{%s}", (char)c, k > 0 ? name : "?");
            return -1;
        }
        if (!P->re->loc) P->re->loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
        if (!P->re->loc) { snprintf(P->err, sizeof P->err, "\\p{%s} needs the C.UTF-8 locale", name); return -1; }
        P->i = j + 1;
        *cls = c == 'P' ? kind + 1 : kind;
        return 2;
    }
    case DB_RE_ESC_BACKREF:
        snprintf(P->err, sizeof P->err, "unsupported backreference \\%c", (char)c);
        return -1;
    case DB_RE_ESC_NAMED_BACKREF:
        snprintf(P->err, sizeof P->err, "unsupported named backreference \\k<...>");
        return -1;
    case DB_RE_ESC_INVALID:
        break;
    }
    /* \B inside a class, \0 followed by a digit: unsupported */
    snprintf(P->err, sizeof P->err, "unsupported escape \\%c", (char)c);
    return -1;
}

static rnode *parse_class(rparse *P) {
    rnode *c = rnew(P, R_CLASS);
    if (!c) return NULL;
    if (P->i < P->n && P->p[P->i] == '^') { c->negate = 1; P->i++; }
    for (;;) {
        if (P->i >= P->n) { snprintf(P->err, sizeof P->err, "unterminated character class"); return NULL; }
        uint32_t ch = P->p[P->i];
        if (ch == ']') { P->i++; break; }
        uint32_t lo; int cls = -1;
        P->i++;
        if (ch == '\\') {
            int r = parse_escape(P, 1, &lo, &cls);
            if (r < 0) return NULL;
            if (r == 2) { if (citem_add(P, c, cls, 0, 0) < 0) return NULL; continue; }
        } else lo = ch;
        /* range? */
        if (P->i + 1 < P->n && P->p[P->i] == '-' && P->p[P->i + 1] != ']') {
            int save = P->i;
            P->i++;
            uint32_t hi = P->p[P->i++];
            int cls2 = -1;
            if (hi == '\\') {
                int r = parse_escape(P, 1, &hi, &cls2);
                if (r < 0) return NULL;
                if (r == 2) {   /* [a-\d]: Annex B, literal '-' */
                    if (citem_add(P, c, C_RANGE, lo, lo) < 0 || citem_add(P, c, C_RANGE, '-', '-') < 0 ||
                        citem_add(P, c, cls2, 0, 0) < 0) return NULL;
                    continue;
                }
            }
            (void)save;
            if (hi < lo) { snprintf(P->err, sizeof P->err, "range out of order in character class"); return NULL; }
            if (citem_add(P, c, C_RANGE, lo, hi) < 0) return NULL;
        } else {
            if (citem_add(P, c, C_RANGE, lo, lo) < 0) return NULL;
        }
    }
    return c;
}

static rnode *parse_alt(rparse *P);

/* {n}, {n,}, {n,m} at P->i (on '{'); returns 1 and advances when it is one. */
static int parse_braces(rparse *P, int *mn, int *mx) {
    long a, b;
    if (!db_regex_braces(P->p, P->n, &P->i, &a, &b)) return 0;
    *mn = (int)a;
    *mx = (int)b;
    return 1;
}

/* A sequence of quantified atoms, up to '|' or ')' or the end; returns its head (may be NULL: empty). */
static int parse_seq(rparse *P, rnode **head) {
    rnode *first = NULL, *last = NULL;
    while (P->i < P->n) {
        uint32_t c = P->p[P->i];
        if (c == '|' || c == ')') break;
        rnode *a = NULL;
        int quantifiable = 1;
        P->i++;
        if (c == '(') {
            int look = 0, neg = 0;
            if (P->i < P->n && P->p[P->i] == '?') {
                if (P->i + 1 < P->n && P->p[P->i + 1] == ':') P->i += 2;
                else if (P->i + 1 < P->n && (P->p[P->i + 1] == '=' || P->p[P->i + 1] == '!')) {
                    look = 1; neg = P->p[P->i + 1] == '!'; P->i += 2;
                } else if (P->i + 1 < P->n && P->p[P->i + 1] == '<' && P->i + 2 < P->n &&
                           P->p[P->i + 2] != '=' && P->p[P->i + 2] != '!') {
                    int j = P->i + 2;   /* named group (?<name>...) */
                    while (j < P->n && P->p[j] != '>') j++;
                    if (j >= P->n) { snprintf(P->err, sizeof P->err, "bad named group"); return -1; }
                    P->i = j + 1;
                } else {
                    snprintf(P->err, sizeof P->err, "unsupported group syntax (?%c", P->i + 1 < P->n ? (char)P->p[P->i + 1] : ' ');
                    return -1;
                }
            }
            rnode *g = parse_alt(P);
            if (!g) return -1;
            if (P->i >= P->n || P->p[P->i] != ')') { snprintf(P->err, sizeof P->err, "missing )"); return -1; }
            P->i++;
            if (look) { g->type = R_LOOK; g->negate = neg; }
            a = g;
        } else if (c == '[') {
            a = parse_class(P);
            if (!a) return -1;
        } else if (c == '.') {
            if (!(a = rnew(P, R_ANY))) return -1;
        } else if (c == '^') {
            if (!(a = rnew(P, R_BOL))) return -1;
            quantifiable = 0;
        } else if (c == '$') {
            if (!(a = rnew(P, R_EOL))) return -1;
            quantifiable = 0;
        } else if (c == '\\') {
            uint32_t cp; int cls = -1;
            int r = parse_escape(P, 0, &cp, &cls);
            if (r < 0) return -1;
            if (r == 1) { if (!(a = rnew(P, R_CHAR))) return -1; a->ch = cp; }
            else if (r == 2) {
                if (!(a = rnew(P, R_CLASS))) return -1;
                if (citem_add(P, a, cls, 0, 0) < 0) return -1;
            } else { if (!(a = rnew(P, r == 3 ? R_WORDB : R_NWORDB))) return -1; quantifiable = 0; }
        } else if (c == '*' || c == '+' || c == '?') {
            snprintf(P->err, sizeof P->err, "nothing to repeat at '%c'", (char)c);
            return -1;
        } else if (c == '{') {
            int mn, mx;
            P->i--;
            if (parse_braces(P, &mn, &mx)) { snprintf(P->err, sizeof P->err, "nothing to repeat at '{'"); return -1; }
            P->i++;
            if (!(a = rnew(P, R_CHAR))) return -1;
            a->ch = '{';
        } else {
            if (!(a = rnew(P, R_CHAR))) return -1;
            a->ch = c;
        }
        /* quantifier */
        if (P->i < P->n) {
            uint32_t q = P->p[P->i];
            int mn = -2, mx = -2;
            if (q == '*') { mn = 0; mx = -1; P->i++; }
            else if (q == '+') { mn = 1; mx = -1; P->i++; }
            else if (q == '?') { mn = 0; mx = 1; P->i++; }
            else if (q == '{') { if (!parse_braces(P, &mn, &mx)) mn = -2; }
            if (mn != -2) {
                if (!quantifiable && a->type != R_LOOK) { snprintf(P->err, sizeof P->err, "nothing to repeat"); return -1; }
                if (mx >= 0 && mx < mn) { snprintf(P->err, sizeof P->err, "numbers out of order in {} quantifier"); return -1; }
                rnode *r = rnew(P, R_REPEAT);
                if (!r) return -1;
                r->child = a; r->min = mn; r->max = mx;
                if (P->i < P->n && P->p[P->i] == '?') { r->lazy = 1; P->i++; }
                a = r;
            }
        }
        if (last) last->next = a; else first = a;
        last = a;
    }
    *head = first;
    return 0;
}

static rnode *parse_alt(rparse *P) {
    rnode *g = rnew(P, R_GROUP);
    if (!g) return NULL;
    for (;;) {
        rnode *seq;
        if (parse_seq(P, &seq) < 0) return NULL;
        rnode **alts = realloc(g->alts, (size_t)(g->nalts + 1) * sizeof *alts);
        if (!alts) { snprintf(P->err, sizeof P->err, "out of memory"); return NULL; }
        g->alts = alts;
        g->alts[g->nalts++] = seq;
        if (P->i < P->n && P->p[P->i] == '|') { P->i++; continue; }
        break;
    }
    return g;
}

static void regex_free(regex *re) {
    if (!re) return;
    for (int i = 0; i < re->nall; i++) {
        free(re->all[i]->items);
        free(re->all[i]->alts);
        free(re->all[i]);
    }
    free(re->all);
    free(re->source);
    if (re->loc) freelocale(re->loc);
    free(re);
}

static regex *regex_compile(const char *pattern, char *err, size_t errlen) {
    rparse P;
    memset(&P, 0, sizeof P);
    regex *re = calloc(1, sizeof *re);
    if (!re) { db_errf(err, errlen, "out of memory"); return NULL; }
    re->source = db_strdup(pattern);
    int n;
    uint32_t *cp = utf8_decode(pattern, &n);
    if (!cp || !re->source) { free(cp); regex_free(re); db_errf(err, errlen, "out of memory"); return NULL; }
    P.p = cp; P.n = n; P.re = re;
    re->root = parse_alt(&P);
    if (re->root && P.i < P.n) { snprintf(P.err, sizeof P.err, "unmatched )"); re->root = NULL; }
    free(cp);
    if (!re->root) {
        db_errf(err, errlen, "regex /%s/: %s", pattern, P.err[0] ? P.err : "invalid");
        regex_free(re);
        return NULL;
    }
    return re;
}

typedef struct rcont {
    const rnode *n;          /* continue with this node ... */
    const rnode *rep;        /* ... or, when set, after an iteration of this R_REPEAT */
    int count, start;
    const struct rcont *up;
} rcont;

typedef struct rmatch {
    const regex *re;
    const uint32_t *s; int n;
    long steps;
    int depth;
    int err;   /* 1: step budget / depth exceeded */
} rmatch;

#define RE_MAX_STEPS 2000000L
#define RE_MAX_DEPTH 20000

static int is_space(uint32_t c) {
    return c == ' ' || (c >= 9 && c <= 13) || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}
static int is_word(uint32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int class_match(const rmatch *M, const rnode *c, uint32_t ch) {
    int hit = 0;
    for (int i = 0; i < c->nitems && !hit; i++) {
        const citem *it = &c->items[i];
        switch (it->kind) {
        case C_RANGE: hit = ch >= it->lo && ch <= it->hi; break;
        case C_DIGIT: hit = ch >= '0' && ch <= '9'; break;
        case C_NDIGIT: hit = !(ch >= '0' && ch <= '9'); break;
        case C_WORD: hit = is_word(ch); break;
        case C_NWORD: hit = !is_word(ch); break;
        case C_SPACE: hit = is_space(ch); break;
        case C_NSPACE: hit = !is_space(ch); break;
        case C_UALPHA: hit = iswalpha_l((wint_t)ch, M->re->loc) && !(ch >= '0' && ch <= '9'); break;
        case C_NUALPHA: hit = !(iswalpha_l((wint_t)ch, M->re->loc) && !(ch >= '0' && ch <= '9')); break;
        case C_UUPPER: hit = iswupper_l((wint_t)ch, M->re->loc) != 0; break;
        case C_NUUPPER: hit = !iswupper_l((wint_t)ch, M->re->loc); break;
        case C_ULOWER: hit = iswlower_l((wint_t)ch, M->re->loc) != 0; break;
        case C_NULOWER: hit = !iswlower_l((wint_t)ch, M->re->loc); break;
        }
    }
    return c->negate ? !hit : hit;
}

static int rm(rmatch *M, const rnode *n, int i, const rcont *k);

static int rep_step(rmatch *M, const rnode *r, int count, int start, int i, const rcont *k) {
    if (count > r->min && i == start) return 0;   /* an optional iteration matched empty */
    int more = r->max < 0 || count < r->max;
    int stop = count >= r->min;
    rcont c = { NULL, r, count + 1, i, k };
    if (!r->lazy) {
        if (more && rm(M, r->child, i, &c)) return 1;
        if (M->err) return 0;
        return stop ? rm(M, r->next, i, k) : 0;
    }
    if (stop && rm(M, r->next, i, k)) return 1;
    if (M->err) return 0;
    return more ? rm(M, r->child, i, &c) : 0;
}

static int rm(rmatch *M, const rnode *n, int i, const rcont *k) {
    if (++M->steps > RE_MAX_STEPS || M->depth > RE_MAX_DEPTH) { M->err = 1; return 0; }
    M->depth++;
    int r = 0;
    for (;;) {
        if (!n) {
            if (!k) { r = 1; break; }
            if (k->rep) { r = rep_step(M, k->rep, k->count, k->start, i, k->up); break; }
            n = k->n; k = k->up;
            continue;
        }
        switch (n->type) {
        case R_CHAR:
            if (i < M->n && M->s[i] == n->ch) { i++; n = n->next; continue; }
            break;
        case R_ANY:
            if (i < M->n && M->s[i] != '\n' && M->s[i] != '\r' && M->s[i] != 0x2028 && M->s[i] != 0x2029) {
                i++; n = n->next; continue;
            }
            break;
        case R_CLASS:
            if (i < M->n && class_match(M, n, M->s[i])) { i++; n = n->next; continue; }
            break;
        case R_BOL: if (i == 0) { n = n->next; continue; } break;
        case R_EOL: if (i == M->n) { n = n->next; continue; } break;
        case R_WORDB: case R_NWORDB: {
            int a = i > 0 && is_word(M->s[i - 1]), b = i < M->n && is_word(M->s[i]);
            if ((a != b) == (n->type == R_WORDB)) { n = n->next; continue; }
            break;
        }
        case R_GROUP: {
            rcont c = { n->next, NULL, 0, 0, k };
            for (int a = 0; a < n->nalts && !r && !M->err; a++) r = rm(M, n->alts[a], i, &c);
            goto out;
        }
        case R_LOOK: {
            int hit = 0;
            for (int a = 0; a < n->nalts && !hit && !M->err; a++) hit = rm(M, n->alts[a], i, NULL);
            if (M->err) goto out;
            if (hit != n->negate) { n = n->next; continue; }
            break;
        }
        case R_REPEAT:
            r = rep_step(M, n, 0, i, i, k);
            goto out;
        }
        break;   /* no match */
    }
out:
    M->depth--;
    return r;
}

/* 1 match, 0 no match, -1 budget exceeded. */
static int regex_search_cp(const regex *re, const uint32_t *s, int n) {
    rmatch M = { re, s, n, 0, 0, 0 };
    for (int start = 0; start <= n; start++) {
        if (rm(&M, re->root, start, NULL)) return 1;
        if (M.err) return -1;
    }
    return 0;
}

static int regex_search(const regex *re, const char *subject) {
    int n;
    uint32_t *cp = utf8_decode(subject, &n);
    if (!cp) return -1;
    int r = regex_search_cp(re, cp, n);
    free(cp);
    return r;
}

int db_regex_search(const char *pattern, const char *subject, char *err, size_t errlen) {
    regex *re = regex_compile(pattern, err, errlen);
    if (!re) return -1;
    int r = regex_search(re, subject);
    if (r < 0) db_errf(err, errlen, "regex /%s/: step budget exceeded", pattern);
    regex_free(re);
    return r;
}

/* ------------------------------------------------------------------ */
/* URIs (RFC 3986 reference resolution)                                 */

typedef struct uriparts {
    const char *scheme; size_t scheme_n; int has_scheme;
    const char *auth; size_t auth_n; int has_auth;
    const char *path; size_t path_n;
    const char *query; size_t query_n; int has_query;
    const char *frag; size_t frag_n; int has_frag;
} uriparts;

static void uri_split(const char *u, uriparts *p) {
    memset(p, 0, sizeof *p);
    const char *s = u;
    /* scheme */
    const char *c = s;
    if (isalpha((unsigned char)*c)) {
        c++;
        while (isalnum((unsigned char)*c) || *c == '+' || *c == '-' || *c == '.') c++;
        if (*c == ':') { p->has_scheme = 1; p->scheme = s; p->scheme_n = (size_t)(c - s); s = c + 1; }
    }
    if (s[0] == '/' && s[1] == '/') {
        s += 2;
        const char *e = s;
        while (*e && *e != '/' && *e != '?' && *e != '#') e++;
        p->has_auth = 1; p->auth = s; p->auth_n = (size_t)(e - s); s = e;
    }
    const char *e = s;
    while (*e && *e != '?' && *e != '#') e++;
    p->path = s; p->path_n = (size_t)(e - s); s = e;
    if (*s == '?') {
        s++; e = s;
        while (*e && *e != '#') e++;
        p->has_query = 1; p->query = s; p->query_n = (size_t)(e - s); s = e;
    }
    if (*s == '#') { s++; p->has_frag = 1; p->frag = s; p->frag_n = strlen(s); }
}

/* RFC 3986 5.2.4 remove_dot_segments, in place on a NUL-terminated copy. */
static void remove_dots(char *in) {
    char *out = malloc(strlen(in) + 1);
    if (!out) return;
    size_t o = 0;
    const char *p = in;
    while (*p) {
        if (strncmp(p, "../", 3) == 0) p += 3;
        else if (strncmp(p, "./", 2) == 0) p += 2;
        else if (strncmp(p, "/./", 3) == 0) p += 2;
        else if (strcmp(p, "/.") == 0) { p += 1; out[o++] = '/'; break; }
        else if (strncmp(p, "/../", 4) == 0 || strcmp(p, "/..") == 0) {
            p += 3;
            if (!*p) { out[o++] = '/'; }
            while (o > 0 && out[o - 1] != '/') o--;
            if (o > 0) o--;
            if (!*p) { out[o++] = '/'; break; }
        } else if (strcmp(p, ".") == 0 || strcmp(p, "..") == 0) break;
        else {
            if (*p == '/') out[o++] = *p++;
            while (*p && *p != '/') out[o++] = *p++;
        }
    }
    out[o] = 0;
    strcpy(in, out);
    free(out);
}

/* Resolve ref against base; malloc'd absolute URI (fragment kept). */
static char *uri_resolve(const char *base, const char *ref) {
    uriparts B, R;
    uri_split(base ? base : "", &B);
    uri_split(ref, &R);
    db_str t; db_str_init(&t);
    db_str path; db_str_init(&path);
    const uriparts *sch = &R, *auth = &R, *qry = &R;
    if (R.has_scheme) {
        db_str_appendn(&path, R.path, R.path_n);
    } else {
        sch = &B;
        if (R.has_auth) db_str_appendn(&path, R.path, R.path_n);
        else {
            auth = &B;
            if (R.path_n == 0) {
                db_str_appendn(&path, B.path, B.path_n);
                if (!R.has_query) qry = &B;
            } else if (R.path[0] == '/') db_str_appendn(&path, R.path, R.path_n);
            else {
                if (B.has_auth && B.path_n == 0) db_str_append(&path, "/");
                else {
                    size_t k = B.path_n;
                    while (k > 0 && B.path[k - 1] != '/') k--;
                    db_str_appendn(&path, B.path, k);
                }
                db_str_appendn(&path, R.path, R.path_n);
            }
        }
    }
    char *ps = db_str_take(&path);
    if (ps && (sch->has_scheme || auth->has_auth) && strchr(ps, '.')) remove_dots(ps);
    if (sch->has_scheme) { db_str_appendn(&t, sch->scheme, sch->scheme_n); db_str_append(&t, ":"); }
    if (auth->has_auth) { db_str_append(&t, "//"); db_str_appendn(&t, auth->auth, auth->auth_n); }
    db_str_append(&t, ps ? ps : "");
    free(ps);
    if (qry->has_query) { db_str_append(&t, "?"); db_str_appendn(&t, qry->query, qry->query_n); }
    if (R.has_frag) { db_str_append(&t, "#"); db_str_appendn(&t, R.frag, R.frag_n); }
    return db_str_take(&t);
}

/* Percent-decode (fragment identifiers). */
static char *pct_decode(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
            hexval((unsigned char)s[i + 2]) >= 0) {
            d[o++] = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        } else d[o++] = s[i];
    }
    d[o] = 0;
    return d;
}

/* ------------------------------------------------------------------ */
/* Compiled schema                                                      */

typedef struct snode snode;
typedef struct named { char *name; snode *s; const cJSON *arr; regex *re; } named;

struct snode {
    const cJSON *js;
    int boolean;            /* -1: object schema; 0/1: false/true */
    int dialect;
    char *base;             /* base URI (no fragment) */
    int is_resource;        /* has $id or is a document root: part of the dynamic scope */
    char *dyn_anchor;       /* $dynamicAnchor name */

    unsigned types;         /* bitmask of T_*; 0: no "type" */
    const cJSON *enum_, *const_;
    int has_mo; double mo;
    int has_max, has_min, has_exmax, has_exmin;
    double max, min, exmax, exmin;
    long max_len, min_len;
    regex *pattern; char *pattern_err;
    const char *format;
    long max_items, min_items; int unique;
    snode *items;           /* 2020: after prefixItems; <=7: every item (schema form) */
    snode **prefix; int nprefix;   /* prefixItems, or <=7 array-form items */
    snode *additional_items;       /* <=7 with array-form items */
    snode *contains; long min_contains, max_contains;
    long max_props, min_props;
    const cJSON *required;
    named *props; int nprops;
    named *pprops; int npprops;
    snode *additional_props, *property_names;
    named *dep_req; int ndep_req;
    named *dep_sch; int ndep_sch;
    snode **all_of, **any_of, **one_of; int nall, nany, none;
    snode *not_, *if_, *then_, *else_;
    char *ref_uri; snode *ref;
    char *dynref_uri; snode *dynref; char *dynref_name;   /* dynref_name: bookended anchor name */
    snode *uneval_props, *uneval_items;
    int ref_only;           /* <=7 with $ref: siblings ignored */
};

enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_NUM = 16, T_STR = 32, T_INT = 64 };

typedef struct regentry { char *uri; snode *s; const cJSON *js; int dynamic; } regentry;
typedef struct memo { const cJSON *key; snode *val; } memo;

struct db_jsonschema {
    cJSON **docs; int ndocs;
    char **doc_uris;
    regentry *reg; int nreg, capreg;
    memo *map; size_t mapcap, mapn;
    snode **nodes; int nnodes, capnodes;
    snode *root;
    const char *unsupported[32]; int nunsup;
    db_jsonschema_opts opts;
    int format_assert;
    /* compile-time state */
    char path[1024]; size_t pathlen;
    char *err; size_t errlen;
    int failed;
};

static void unsup_add(db_jsonschema *S, const char *kw) {
    for (int i = 0; i < S->nunsup; i++)
        if (strcmp(S->unsupported[i], kw) == 0) return;
    if (S->nunsup < (int)(sizeof S->unsupported / sizeof S->unsupported[0])) S->unsupported[S->nunsup++] = kw;
}

static int cerr(db_jsonschema *S, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int cerr(db_jsonschema *S, const char *fmt, ...) {
    if (!S->failed && S->err && S->errlen) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(S->err, S->errlen, "schema %s: %s", S->pathlen ? S->path : "(root)", msg);
    }
    S->failed = 1;
    return -1;
}

static size_t cpush(db_jsonschema *S, const char *seg) {
    size_t old = S->pathlen;
    if (S->pathlen + strlen(seg) + 2 < sizeof S->path) {
        S->path[S->pathlen++] = '/';
        strcpy(S->path + S->pathlen, seg);
        S->pathlen += strlen(seg);
    }
    return old;
}
static size_t cpushi(db_jsonschema *S, int i) { char b[24]; snprintf(b, sizeof b, "%d", i); return cpush(S, b); }
static void cpop(db_jsonschema *S, size_t old) { S->pathlen = old; S->path[old] = 0; }

static size_t ptr_hash(const void *p) { uintptr_t x = (uintptr_t)p; x ^= x >> 17; x *= 0x9E3779B97F4A7C15ull; return (size_t)(x ^ (x >> 29)); }

static snode *memo_get(const db_jsonschema *S, const cJSON *js) {
    if (!S->mapcap) return NULL;
    for (size_t h = ptr_hash(js) & (S->mapcap - 1);; h = (h + 1) & (S->mapcap - 1)) {
        if (!S->map[h].key) return NULL;
        if (S->map[h].key == js) return S->map[h].val;
    }
}

static int memo_put(db_jsonschema *S, const cJSON *js, snode *s) {
    if ((S->mapn + 1) * 2 > S->mapcap) {
        size_t cap = S->mapcap ? S->mapcap * 2 : 256;
        memo *m = calloc(cap, sizeof *m);
        if (!m) return -1;
        for (size_t i = 0; i < S->mapcap; i++) {
            if (!S->map[i].key) continue;
            size_t h = ptr_hash(S->map[i].key) & (cap - 1);
            while (m[h].key) h = (h + 1) & (cap - 1);
            m[h] = S->map[i];
        }
        free(S->map);
        S->map = m; S->mapcap = cap;
    }
    size_t h = ptr_hash(js) & (S->mapcap - 1);
    while (S->map[h].key) h = (h + 1) & (S->mapcap - 1);
    S->map[h].key = js; S->map[h].val = s;
    S->mapn++;
    return 0;
}

static int reg_add(db_jsonschema *S, const char *uri, snode *s, const cJSON *js, int dynamic) {
    for (int i = 0; i < S->nreg; i++)
        if (strcmp(S->reg[i].uri, uri) == 0 && S->reg[i].dynamic == dynamic) return 0;   /* first wins */
    if (S->nreg == S->capreg) {
        int cap = S->capreg ? S->capreg * 2 : 32;
        regentry *r = realloc(S->reg, (size_t)cap * sizeof *r);
        if (!r) return -1;
        S->reg = r; S->capreg = cap;
    }
    char *u = db_strdup(uri);
    if (!u) return -1;
    S->reg[S->nreg].uri = u; S->reg[S->nreg].s = s; S->reg[S->nreg].js = js; S->reg[S->nreg].dynamic = dynamic;
    S->nreg++;
    return 0;
}

static const regentry *reg_find(const db_jsonschema *S, const char *uri, int dynamic_only) {
    for (int i = 0; i < S->nreg; i++)
        if ((!dynamic_only || S->reg[i].dynamic) && strcmp(S->reg[i].uri, uri) == 0) return &S->reg[i];
    return NULL;
}

static int dialect_of(const char *schema_uri) {
    static const struct { const char *u; int d; } k[] = {
        { "http://json-schema.org/draft-04/schema", 4 }, { "https://json-schema.org/draft-04/schema", 4 },
        { "http://json-schema.org/draft-06/schema", 6 }, { "https://json-schema.org/draft-06/schema", 6 },
        { "http://json-schema.org/draft-07/schema", 7 }, { "https://json-schema.org/draft-07/schema", 7 },
        { "https://json-schema.org/draft/2019-09/schema", 2019 }, { "http://json-schema.org/draft/2019-09/schema", 2019 },
        { "https://json-schema.org/draft/2020-12/schema", 2020 }, { "http://json-schema.org/draft/2020-12/schema", 2020 },
    };
    size_t n = strlen(schema_uri);
    while (n > 0 && schema_uri[n - 1] == '#') n--;
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strlen(k[i].u) == n && strncmp(k[i].u, schema_uri, n) == 0) return k[i].d;
    return 0;
}

static char *strip_frag(const char *u) {
    const char *h = strchr(u, '#');
    return h ? db_strndup(u, (size_t)(h - u)) : db_strdup(u);
}

static snode *build(db_jsonschema *S, const cJSON *js, const char *base, int dialect, int is_root);

static int num(const cJSON *v, double *out) {
    if (!cJSON_IsNumber(v)) return 0;
    *out = v->valuedouble;
    return 1;
}

static long nonneg(const cJSON *v) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) return -1;
    return v->valuedouble > 1e15 ? (long)1e15 : (long)v->valuedouble;
}

static snode *sub(db_jsonschema *S, const cJSON *js, const char *kw, snode *parent) {
    size_t old = cpush(S, kw);
    snode *r = build(S, js, parent->base, parent->dialect, 0);
    cpop(S, old);
    return r;
}

static snode **sub_array(db_jsonschema *S, const cJSON *arr, const char *kw, snode *parent, int *n) {
    *n = 0;
    if (!cJSON_IsArray(arr)) { cerr(S, "%s must be an array", kw); return NULL; }
    int cnt = cJSON_GetArraySize(arr);
    snode **v = calloc((size_t)(cnt ? cnt : 1), sizeof *v);
    if (!v) { cerr(S, "out of memory"); return NULL; }
    size_t old = cpush(S, kw);
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        size_t o2 = cpushi(S, i);
        v[i] = build(S, e, parent->base, parent->dialect, 0);
        cpop(S, o2);
        if (!v[i]) { cpop(S, old); free(v); return NULL; }
    }
    cpop(S, old);
    *n = cnt;
    return v;
}

static named *sub_map(db_jsonschema *S, const cJSON *obj, const char *kw, snode *parent, int *n, int want_regex) {
    *n = 0;
    if (!cJSON_IsObject(obj)) { cerr(S, "%s must be an object", kw); return NULL; }
    int cnt = cJSON_GetArraySize(obj);
    named *v = calloc((size_t)(cnt ? cnt : 1), sizeof *v);
    if (!v) { cerr(S, "out of memory"); return NULL; }
    size_t old = cpush(S, kw);
    int i = 0;
    for (const cJSON *e = obj->child; e; e = e->next, i++) {
        v[i].name = db_strdup(e->string ? e->string : "");
        size_t o2 = cpush(S, v[i].name ? v[i].name : "");
        if (want_regex) {
            char rerr[256];
            v[i].re = regex_compile(v[i].name, rerr, sizeof rerr);
            if (!v[i].re) unsup_add(S, "patternProperties");
        }
        v[i].s = build(S, e, parent->base, parent->dialect, 0);
        cpop(S, o2);
        *n = i + 1;
        if (!v[i].s) { cpop(S, old); return v; }
    }
    cpop(S, old);
    *n = cnt;
    return v;
}

static unsigned type_bit(const char *t) {
    static const struct { const char *n; unsigned b; } k[] = {
        { "null", T_NULL }, { "boolean", T_BOOL }, { "object", T_OBJ }, { "array", T_ARR },
        { "number", T_NUM }, { "string", T_STR }, { "integer", T_INT },
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strcmp(k[i].n, t) == 0) return k[i].b;
    return 0;
}

static snode *new_node(db_jsonschema *S) {
    if (S->nnodes == S->capnodes) {
        int cap = S->capnodes ? S->capnodes * 2 : 64;
        snode **v = realloc(S->nodes, (size_t)cap * sizeof *v);
        if (!v) return NULL;
        S->nodes = v; S->capnodes = cap;
    }
    snode *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    S->nodes[S->nnodes++] = s;
    s->boolean = -1;
    s->max_len = s->min_len = s->max_items = s->min_items = s->max_props = s->min_props = -1;
    s->min_contains = 1; s->max_contains = -1;
    return s;
}

/* Asserted formats: date, date-time, time, email, ipv4, ipv6, uuid, uri, regex,
 * and hostname partially (RFC 1123 labels; IDNA A-label rules unchecked).
 * Formats defined by the drafts that are not (fully) asserted are reported as
 * unsupported in assertion mode; custom names are ignored, as the drafts say. */
static const char *standard_formats[] = { "hostname", "duration", "idn-email", "idn-hostname", "uri-reference", "iri",
                                          "iri-reference", "uri-template", "json-pointer",
                                          "relative-json-pointer", NULL };

static snode *build(db_jsonschema *S, const cJSON *js, const char *base, int dialect, int is_root) {
    if (S->failed) return NULL;
    snode *s = memo_get(S, js);
    if (s) return s;
    s = new_node(S);
    if (!s || memo_put(S, js, s) < 0) { cerr(S, "out of memory"); return NULL; }
    s->js = js;
    s->dialect = dialect;
    s->base = db_strdup(base ? base : "");
    s->is_resource = is_root;
    if (cJSON_IsBool(js)) { s->boolean = cJSON_IsTrue(js); return s; }
    if (!cJSON_IsObject(js)) { cerr(S, "a schema must be an object or a boolean"); return NULL; }

    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "$schema")) && cJSON_IsString(v)) {
        int d = dialect_of(v->valuestring);
        if (d) s->dialect = dialect = d;
        else if (is_root && dialect >= 2019) {
            /* a custom metaschema: vocabularies are not interpreted */
            unsup_add(S, "$vocabulary");
        }
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(js, "$ref");
    if (!cJSON_IsString(ref)) ref = NULL;
    s->ref_only = ref && dialect <= 7;

    /* $id / id */
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(js, dialect == 4 ? "id" : "$id");
    if (cJSON_IsString(id) && !s->ref_only) {
        char *full = uri_resolve(s->base, id->valuestring);
        if (!full) { cerr(S, "out of memory"); return NULL; }
        const char *h = strchr(full, '#');
        if (id->valuestring[0] == '#' && dialect <= 7) {
            /* draft-07 location-independent identifier: an anchor */
            if (h && h[1] && reg_add(S, full, s, js, 0) < 0) { free(full); cerr(S, "out of memory"); return NULL; }
        } else {
            char *nb = strip_frag(full);
            free(s->base);
            s->base = nb;
            s->is_resource = 1;
            if (!nb || reg_add(S, nb, s, js, 0) < 0) { free(full); cerr(S, "out of memory"); return NULL; }
            if (h && h[1] && dialect <= 7 && reg_add(S, full, s, js, 0) < 0) { free(full); cerr(S, "out of memory"); return NULL; }
        }
        free(full);
    }
    if (dialect >= 2019) {
        const char *akw[2] = { "$anchor", "$dynamicAnchor" };
        for (int k = 0; k < 2; k++) {
            v = cJSON_GetObjectItemCaseSensitive(js, akw[k]);
            if (!cJSON_IsString(v)) continue;
            db_str u; db_str_init(&u);
            db_str_printf(&u, "%s#%s", s->base, v->valuestring);
            char *us = db_str_take(&u);
            if (!us || reg_add(S, us, s, js, 0) < 0 || (k == 1 && reg_add(S, us, s, js, 1) < 0)) {
                free(us); cerr(S, "out of memory"); return NULL;
            }
            free(us);
            if (k == 1 && dialect >= 2020) s->dyn_anchor = db_strdup(v->valuestring);
        }
        if (cJSON_GetObjectItemCaseSensitive(js, "$recursiveRef")) unsup_add(S, "$recursiveRef");
        if (cJSON_GetObjectItemCaseSensitive(js, "$recursiveAnchor")) unsup_add(S, "$recursiveAnchor");
    }
    if (ref) {
        s->ref_uri = uri_resolve(s->base, ref->valuestring);
        if (!s->ref_uri) { cerr(S, "out of memory"); return NULL; }
    }
    if (dialect >= 2020 && cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(js, "$dynamicRef"))) {
        s->dynref_uri = uri_resolve(s->base, v->valuestring);
        if (!s->dynref_uri) { cerr(S, "out of memory"); return NULL; }
    }

    /* subschema containers that only matter for $ref targets */
    const char *defkw[2] = { "$defs", "definitions" };
    for (int k = 0; k < 2; k++) {
        v = cJSON_GetObjectItemCaseSensitive(js, defkw[k]);
        if (!cJSON_IsObject(v)) continue;
        size_t old = cpush(S, defkw[k]);
        for (const cJSON *e = v->child; e; e = e->next) {
            size_t o2 = cpush(S, e->string ? e->string : "");
            snode *d = build(S, e, s->base, dialect, 0);
            cpop(S, o2);
            if (!d) { cpop(S, old); return NULL; }
        }
        cpop(S, old);
    }

    /* type */
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "type"))) {
        if (cJSON_IsString(v)) s->types = type_bit(v->valuestring);
        else if (cJSON_IsArray(v)) {
            for (const cJSON *e = v->child; e; e = e->next)
                if (cJSON_IsString(e)) s->types |= type_bit(e->valuestring);
        }
        if (!s->types) s->types = 0x80;   /* unknown type names: nothing matches */
    }
    s->enum_ = cJSON_GetObjectItemCaseSensitive(js, "enum");
    if (s->enum_ && !cJSON_IsArray(s->enum_)) s->enum_ = NULL;
    if (dialect >= 6) s->const_ = cJSON_GetObjectItemCaseSensitive(js, "const");
    s->has_mo = num(cJSON_GetObjectItemCaseSensitive(js, "multipleOf"), &s->mo) && s->mo > 0;
    s->has_max = num(cJSON_GetObjectItemCaseSensitive(js, "maximum"), &s->max);
    s->has_min = num(cJSON_GetObjectItemCaseSensitive(js, "minimum"), &s->min);
    v = cJSON_GetObjectItemCaseSensitive(js, "exclusiveMaximum");
    if (cJSON_IsBool(v)) { if (cJSON_IsTrue(v) && s->has_max) { s->has_exmax = 1; s->exmax = s->max; s->has_max = 0; } }
    else s->has_exmax = num(v, &s->exmax);
    v = cJSON_GetObjectItemCaseSensitive(js, "exclusiveMinimum");
    if (cJSON_IsBool(v)) { if (cJSON_IsTrue(v) && s->has_min) { s->has_exmin = 1; s->exmin = s->min; s->has_min = 0; } }
    else s->has_exmin = num(v, &s->exmin);
    s->max_len = nonneg(cJSON_GetObjectItemCaseSensitive(js, "maxLength"));
    s->min_len = nonneg(cJSON_GetObjectItemCaseSensitive(js, "minLength"));
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(js, "pattern"))) {
        char rerr[256];
        s->pattern = regex_compile(v->valuestring, rerr, sizeof rerr);
        if (!s->pattern) { unsup_add(S, "pattern"); s->pattern_err = db_strdup(rerr); }
    }
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(js, "format"))) {
        s->format = v->valuestring;
        if (S->format_assert) {
            int std = 0;
            for (int i = 0; standard_formats[i]; i++) std |= strcmp(standard_formats[i], s->format) == 0;
            if (std) unsup_add(S, "format");
        }
    }
    s->max_items = nonneg(cJSON_GetObjectItemCaseSensitive(js, "maxItems"));
    s->min_items = nonneg(cJSON_GetObjectItemCaseSensitive(js, "minItems"));
    s->unique = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(js, "uniqueItems"));
    s->max_props = nonneg(cJSON_GetObjectItemCaseSensitive(js, "maxProperties"));
    s->min_props = nonneg(cJSON_GetObjectItemCaseSensitive(js, "minProperties"));
    if (cJSON_IsArray(v = cJSON_GetObjectItemCaseSensitive(js, "required"))) s->required = v;

    /* arrays */
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(js, "items");
    if (dialect >= 2020) {
        if ((v = cJSON_GetObjectItemCaseSensitive(js, "prefixItems")) && !(s->prefix = sub_array(S, v, "prefixItems", s, &s->nprefix))) return NULL;
        if (items && cJSON_IsArray(items)) {   /* 2019-09 style array items */
            free(s->prefix);   /* replaces a prefixItems array (fuzz: it leaked) */
            s->prefix = NULL;
            if (!(s->prefix = sub_array(S, items, "items", s, &s->nprefix))) return NULL;
            if ((v = cJSON_GetObjectItemCaseSensitive(js, "additionalItems")) && !(s->items = sub(S, v, "additionalItems", s))) return NULL;
        } else if (items && !(s->items = sub(S, items, "items", s))) return NULL;
    } else if (items) {
        if (cJSON_IsArray(items)) {
            if (!(s->prefix = sub_array(S, items, "items", s, &s->nprefix))) return NULL;
            if ((v = cJSON_GetObjectItemCaseSensitive(js, "additionalItems")) && !(s->additional_items = sub(S, v, "additionalItems", s))) return NULL;
        } else if (!(s->items = sub(S, items, "items", s))) return NULL;
    }
    if (dialect >= 6 && (v = cJSON_GetObjectItemCaseSensitive(js, "contains")) && !(s->contains = sub(S, v, "contains", s))) return NULL;
    if (dialect >= 2019) {
        long m;
        if ((m = nonneg(cJSON_GetObjectItemCaseSensitive(js, "minContains"))) >= 0) s->min_contains = m;
        if ((m = nonneg(cJSON_GetObjectItemCaseSensitive(js, "maxContains"))) >= 0) s->max_contains = m;
    }

    /* objects */
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "properties")) && !(s->props = sub_map(S, v, "properties", s, &s->nprops, 0))) return NULL;
    if (S->failed) return NULL;
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "patternProperties")) && !(s->pprops = sub_map(S, v, "patternProperties", s, &s->npprops, 1))) return NULL;
    if (S->failed) return NULL;
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "additionalProperties")) && !(s->additional_props = sub(S, v, "additionalProperties", s))) return NULL;
    if (dialect >= 6 && (v = cJSON_GetObjectItemCaseSensitive(js, "propertyNames")) && !(s->property_names = sub(S, v, "propertyNames", s))) return NULL;
    const cJSON *dr = NULL, *ds = NULL;
    if (dialect >= 2019) {
        dr = cJSON_GetObjectItemCaseSensitive(js, "dependentRequired");
        ds = cJSON_GetObjectItemCaseSensitive(js, "dependentSchemas");
    } else if (cJSON_IsObject(v = cJSON_GetObjectItemCaseSensitive(js, "dependencies"))) {
        /* split into the two 2019+ forms */
        int n = cJSON_GetArraySize(v), nr = 0, ns = 0;
        s->dep_req = calloc((size_t)n + 1, sizeof *s->dep_req);
        s->dep_sch = calloc((size_t)n + 1, sizeof *s->dep_sch);
        if (!s->dep_req || !s->dep_sch) { cerr(S, "out of memory"); return NULL; }
        size_t old = cpush(S, "dependencies");
        for (const cJSON *e = v->child; e; e = e->next) {
            if (cJSON_IsArray(e)) { s->dep_req[nr].name = db_strdup(e->string); s->dep_req[nr].arr = e; nr++; s->ndep_req = nr; }
            else {
                size_t o2 = cpush(S, e->string ? e->string : "");
                s->dep_sch[ns].name = db_strdup(e->string);
                s->dep_sch[ns].s = build(S, e, s->base, dialect, 0);
                ns++; s->ndep_sch = ns;
                cpop(S, o2);
                if (!s->dep_sch[ns - 1].s) { cpop(S, old); return NULL; }
            }
        }
        cpop(S, old);
    }
    if (cJSON_IsObject(dr)) {
        int n = cJSON_GetArraySize(dr), k = 0;
        s->dep_req = calloc((size_t)n + 1, sizeof *s->dep_req);
        if (!s->dep_req) { cerr(S, "out of memory"); return NULL; }
        for (const cJSON *e = dr->child; e; e = e->next)
            if (cJSON_IsArray(e)) { s->dep_req[k].name = db_strdup(e->string); s->dep_req[k].arr = e; k++; }
        s->ndep_req = k;
    }
    if (ds && !(s->dep_sch = sub_map(S, ds, "dependentSchemas", s, &s->ndep_sch, 0))) return NULL;
    if (S->failed) return NULL;

    /* applicators */
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "allOf")) && !(s->all_of = sub_array(S, v, "allOf", s, &s->nall))) return NULL;
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "anyOf")) && !(s->any_of = sub_array(S, v, "anyOf", s, &s->nany))) return NULL;
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "oneOf")) && !(s->one_of = sub_array(S, v, "oneOf", s, &s->none))) return NULL;
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "not")) && !(s->not_ = sub(S, v, "not", s))) return NULL;
    if (dialect >= 7) {
        if ((v = cJSON_GetObjectItemCaseSensitive(js, "if")) && !(s->if_ = sub(S, v, "if", s))) return NULL;
        if ((v = cJSON_GetObjectItemCaseSensitive(js, "then")) && !(s->then_ = sub(S, v, "then", s))) return NULL;
        if ((v = cJSON_GetObjectItemCaseSensitive(js, "else")) && !(s->else_ = sub(S, v, "else", s))) return NULL;
    }
    if (dialect >= 2019) {
        if ((v = cJSON_GetObjectItemCaseSensitive(js, "unevaluatedProperties")) && !(s->uneval_props = sub(S, v, "unevaluatedProperties", s))) return NULL;
        if ((v = cJSON_GetObjectItemCaseSensitive(js, "unevaluatedItems")) && !(s->uneval_items = sub(S, v, "unevaluatedItems", s))) return NULL;
    }
    /* draft-3 keywords nobody enforces here */
    if (cJSON_GetObjectItemCaseSensitive(js, "disallow")) unsup_add(S, "disallow");
    if (cJSON_GetObjectItemCaseSensitive(js, "extends")) unsup_add(S, "extends");
    if (cJSON_GetObjectItemCaseSensitive(js, "divisibleBy")) unsup_add(S, "divisibleBy");
    return s;
}

/* Load (through the resolver) the document at docuri unless known. */
static int load_doc(db_jsonschema *S, const char *docuri, int dialect) {
    if (reg_find(S, docuri, 0)) return 0;
    for (int i = 0; i < S->ndocs; i++)
        if (S->doc_uris[i] && strcmp(S->doc_uris[i], docuri) == 0) return 0;
    if (!S->opts.resolver) return cerr(S, "cannot resolve '%s': no resolver for remote references", docuri);
    char rerr[256] = "";
    char *text = S->opts.resolver(S->opts.resolver_user, docuri, rerr, sizeof rerr);
    if (!text) return cerr(S, "cannot load '%s': %s", docuri, rerr[0] ? rerr : "resolver failed");
    cJSON *doc = cJSON_Parse(text);
    free(text);
    if (!doc) return cerr(S, "'%s' is not valid JSON", docuri);
    cJSON **d = realloc(S->docs, (size_t)(S->ndocs + 1) * sizeof *d);
    char **u = realloc(S->doc_uris, (size_t)(S->ndocs + 1) * sizeof *u);
    if (d) S->docs = d;
    if (u) S->doc_uris = u;
    if (!d || !u) { cJSON_Delete(doc); return cerr(S, "out of memory"); }
    S->docs[S->ndocs] = doc;
    S->doc_uris[S->ndocs] = db_strdup(docuri);
    S->ndocs++;
    size_t old = S->pathlen;
    S->pathlen = 0; S->path[0] = 0;
    snode *r = build(S, doc, docuri, dialect, 1);
    cpop(S, old);
    if (!r) return -1;
    if (reg_add(S, docuri, r, doc, 0) < 0) return cerr(S, "out of memory");
    return 0;
}

/* Resolve an absolute URI (with fragment) to a compiled node. */
static snode *resolve_ref(db_jsonschema *S, const char *uri, int dialect) {
    const char *h = strchr(uri, '#');
    char *docuri = h ? db_strndup(uri, (size_t)(h - uri)) : db_strdup(uri);
    char *frag = h ? pct_decode(h + 1, strlen(h + 1)) : db_strdup("");
    snode *res = NULL;
    if (!docuri || !frag) { cerr(S, "out of memory"); goto done; }
    if (!frag[0] || frag[0] == '/') {
        const regentry *e = reg_find(S, docuri, 0);
        if (!e) {
            if (load_doc(S, docuri, dialect) < 0) goto done;
            e = reg_find(S, docuri, 0);
            if (!e) { cerr(S, "cannot resolve '%s'", uri); goto done; }
        }
        const cJSON *cur = e->js;
        snode *last = e->s;
        const char *p = frag;
        while (*p == '/') {
            p++;
            const char *q = strchr(p, '/');
            size_t n = q ? (size_t)(q - p) : strlen(p);
            char *tok = malloc(n + 1);
            if (!tok) { cerr(S, "out of memory"); goto done; }
            size_t o = 0;
            for (size_t i = 0; i < n; i++) {
                if (p[i] == '~' && i + 1 < n && p[i + 1] == '1') { tok[o++] = '/'; i++; }
                else if (p[i] == '~' && i + 1 < n && p[i + 1] == '0') { tok[o++] = '~'; i++; }
                else tok[o++] = p[i];
            }
            tok[o] = 0;
            const cJSON *nx = NULL;
            if (cJSON_IsObject(cur)) nx = cJSON_GetObjectItemCaseSensitive(cur, tok);
            else if (cJSON_IsArray(cur)) {
                char *end;
                long idx = strtol(tok, &end, 10);
                if (*tok && !*end && idx >= 0) nx = cJSON_GetArrayItem(cur, (int)idx);
            }
            free(tok);
            if (!nx) { cerr(S, "cannot resolve '%s': no such location", uri); goto done; }
            cur = nx;
            snode *m = memo_get(S, cur);
            if (m) last = m;
            p += n;
        }
        res = memo_get(S, cur);
        if (!res) {
            size_t old = S->pathlen;
            res = build(S, cur, last ? last->base : docuri, last ? last->dialect : dialect, 0);
            cpop(S, old);
        }
    } else {
        db_str u; db_str_init(&u);
        db_str_printf(&u, "%s#%s", docuri, frag);
        char *us = db_str_take(&u);
        if (!us) { cerr(S, "out of memory"); goto done; }
        const regentry *e = reg_find(S, us, 0);
        if (!e && load_doc(S, docuri, dialect) == 0) e = reg_find(S, us, 0);
        free(us);
        if (!e) { if (!S->failed) cerr(S, "cannot resolve '%s'", uri); goto done; }
        res = e->s;
    }
done:
    free(docuri);
    free(frag);
    return res;
}

static int link_refs(db_jsonschema *S) {
    /* nodes may be added while resolving (remote documents, pointer targets) */
    for (int i = 0; i < S->nnodes && !S->failed; i++) {
        snode *s = S->nodes[i];
        if (s->ref_uri && !s->ref) {
            S->pathlen = 0; S->path[0] = 0;
            s->ref = resolve_ref(S, s->ref_uri, s->dialect);
            if (!s->ref) return -1;
        }
        if (s->dynref_uri && !s->dynref) {
            s->dynref = resolve_ref(S, s->dynref_uri, s->dialect);
            if (!s->dynref) return -1;
            const char *h = strchr(s->dynref_uri, '#');
            if (h && h[1] && h[1] != '/' && s->dynref->dyn_anchor && strcmp(s->dynref->dyn_anchor, h + 1) == 0)
                s->dynref_name = db_strdup(h + 1);
        }
    }
    return S->failed ? -1 : 0;
}

static void named_free(named *v, int n) {
    if (!v) return;
    for (int i = 0; i < n; i++) { free(v[i].name); regex_free(v[i].re); }
    free(v);
}

void db_jsonschema_free(db_jsonschema *S) {
    if (!S) return;
    for (int i = 0; i < S->nnodes; i++) {
        snode *s = S->nodes[i];
        free(s->base); free(s->dyn_anchor);
        regex_free(s->pattern); free(s->pattern_err);
        free(s->prefix); free(s->all_of); free(s->any_of); free(s->one_of);
        named_free(s->props, s->nprops);
        named_free(s->pprops, s->npprops);
        named_free(s->dep_req, s->ndep_req);
        named_free(s->dep_sch, s->ndep_sch);
        free(s->ref_uri); free(s->dynref_uri); free(s->dynref_name);
        free(s);
    }
    free(S->nodes);
    for (int i = 0; i < S->nreg; i++) free(S->reg[i].uri);
    free(S->reg);
    free(S->map);
    for (int i = 0; i < S->ndocs; i++) { cJSON_Delete(S->docs[i]); free(S->doc_uris[i]); }
    free(S->docs);
    free(S->doc_uris);
    free(S);
}

int db_jsonschema_compile_opts(const cJSON *schema, const db_jsonschema_opts *opts,
                               db_jsonschema **out, char *err, size_t errlen) {
    *out = NULL;
    if (!schema) return db_errf(err, errlen, "schema: NULL");
    db_jsonschema *S = calloc(1, sizeof *S);
    if (!S) return db_errf(err, errlen, "schema: out of memory");
    if (opts) S->opts = *opts;
    S->format_assert = S->opts.format_assert;
    S->err = err; S->errlen = errlen;
    int dialect = S->opts.draft ? S->opts.draft : 2020;
    if (dialect != 4 && dialect != 6 && dialect != 7 && dialect != 2019 && dialect != 2020) {
        free(S);
        return db_errf(err, errlen, "schema: unknown draft %d", dialect);
    }
    const char *base = S->opts.base_uri ? S->opts.base_uri : "";
    S->docs = malloc(sizeof *S->docs);
    S->doc_uris = malloc(sizeof *S->doc_uris);
    if (!S->docs || !S->doc_uris) { db_jsonschema_free(S); return db_errf(err, errlen, "schema: out of memory"); }
    S->docs[0] = cJSON_Duplicate(schema, 1);
    S->doc_uris[0] = strip_frag(base);
    S->ndocs = 1;
    if (!S->docs[0] || !S->doc_uris[0]) { db_jsonschema_free(S); return db_errf(err, errlen, "schema: out of memory"); }
    S->root = build(S, S->docs[0], S->doc_uris[0], dialect, 1);
    if (S->root && reg_add(S, S->doc_uris[0], S->root, S->docs[0], 0) < 0) cerr(S, "out of memory");
    if (!S->root || S->failed || link_refs(S) < 0) {
        if (!S->failed) cerr(S, "compile failed");
        db_jsonschema_free(S);
        return -1;
    }
    S->err = NULL; S->errlen = 0;
    *out = S;
    return 0;
}

int db_jsonschema_compile_cjson(const cJSON *schema, const char *base_uri,
                                db_jsonschema **out, char *err, size_t errlen) {
    db_jsonschema_opts o;
    memset(&o, 0, sizeof o);
    o.base_uri = base_uri;
    return db_jsonschema_compile_opts(schema, &o, out, err, errlen);
}

int db_jsonschema_compile(const char *schema_json, const char *base_uri,
                          db_jsonschema **out, char *err, size_t errlen) {
    *out = NULL;
    if (!schema_json) return db_errf(err, errlen, "schema: NULL text");
    cJSON *js = cJSON_Parse(schema_json);
    if (!js && db_json_too_deep(schema_json, strlen(schema_json), NULL, NULL))   /* S7 */
        return db_errf(err, errlen, "schema%s%s: JSON nested deeper than %d levels", base_uri ? " " : "",
                       base_uri ? base_uri : "", db_json_nesting_limit());
    if (!js) return db_errf(err, errlen, "schema%s%s: not valid JSON", base_uri ? " " : "", base_uri ? base_uri : "");
    int r = db_jsonschema_compile_cjson(js, base_uri, out, err, errlen);
    cJSON_Delete(js);
    return r;
}

int db_jsonschema_unsupported(const db_jsonschema *S, const char **names, int max) {
    for (int i = 0; i < S->nunsup && i < max; i++) names[i] = S->unsupported[i];
    return S->nunsup;
}

int db_jsonschema_draft(const db_jsonschema *S) { return S->root ? S->root->dialect : 0; }

char *db_jsonschema_resolve_dir(void *user, const char *uri, char *err, size_t errlen) {
    const db_jsonschema_dirmap *m = user;
    for (; m && m->prefix; m++) {
        size_t n = strlen(m->prefix);
        if (strncmp(uri, m->prefix, n) != 0) continue;
        const char *rest = uri + n;
        if (strstr(rest, "..")) { db_errf(err, errlen, "%s: refusing '..'", uri); return NULL; }
        char *path = db_path_join(m->dir, rest);
        if (!path) { db_errf(err, errlen, "out of memory"); return NULL; }
        size_t len;
        char *text = db_read_file(path, &len, err, errlen);
        free(path);
        return text;
    }
    db_errf(err, errlen, "%s: no mapping for this URI", uri);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Validation                                                           */

typedef struct vctx {
    const db_jsonschema *S;
    char *why; size_t whylen;
    int why_set;
    int quiet;
    int depth;
    char path[2048]; size_t pathlen;
    const char *scope[256]; int nscope;   /* dynamic scope: resource base URIs */
} vctx;

static void vfail(vctx *c, const char *kw) {
    if (c->quiet || c->why_set) return;
    c->why_set = 1;
    if (c->why && c->whylen) snprintf(c->why, c->whylen, "%s: %s", c->pathlen ? c->path : "(root)", kw);
}

static int verr(vctx *c, const char *fmt, const char *arg) {
    if (c->why && c->whylen) {
        char msg[400];
        snprintf(msg, sizeof msg, fmt, arg);
        snprintf(c->why, c->whylen, "%s: %s", c->pathlen ? c->path : "(root)", msg);
    }
    c->why_set = 1;
    return -1;
}

static size_t vpush(vctx *c, const char *seg) {
    size_t old = c->pathlen;
    if (c->pathlen + 2 * strlen(seg) + 2 < sizeof c->path) {
        c->path[c->pathlen++] = '/';
        for (const char *p = seg; *p; p++) {
            if (*p == '~') { c->path[c->pathlen++] = '~'; c->path[c->pathlen++] = '0'; }
            else if (*p == '/') { c->path[c->pathlen++] = '~'; c->path[c->pathlen++] = '1'; }
            else c->path[c->pathlen++] = *p;
        }
        c->path[c->pathlen] = 0;
    }
    return old;
}
static size_t vpushi(vctx *c, int i) { char b[24]; snprintf(b, sizeof b, "%d", i); return vpush(c, b); }
static void vpop(vctx *c, size_t old) { c->pathlen = old; c->path[old] = 0; }

static int json_eq(const cJSON *a, const cJSON *b) {
    int ta = a->type & 0xFF, tb = b->type & 0xFF;
    if (ta != tb) return 0;
    switch (ta) {
    case cJSON_False: case cJSON_True: case cJSON_NULL: return 1;
    case cJSON_Number: return a->valuedouble == b->valuedouble;
    case cJSON_String: return strcmp(a->valuestring, b->valuestring) == 0;
    case cJSON_Array: {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!json_eq(x, y)) return 0;
        return !x && !y;
    }
    case cJSON_Object: {
        int na = 0, nb = 0;
        for (const cJSON *x = a->child; x; x = x->next) na++;
        for (const cJSON *y = b->child; y; y = y->next) nb++;
        if (na != nb) return 0;
        for (const cJSON *x = a->child; x; x = x->next) {
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
            if (!y || !json_eq(x, y)) return 0;
        }
        return 1;
    }
    }
    return 0;
}

static int is_integer(const cJSON *x) {
    return cJSON_IsNumber(x) && isfinite(x->valuedouble) && floor(x->valuedouble) == x->valuedouble;
}

static int type_ok(unsigned types, const cJSON *x) {
    if ((types & T_NULL) && cJSON_IsNull(x)) return 1;
    if ((types & T_BOOL) && cJSON_IsBool(x)) return 1;
    if ((types & T_OBJ) && cJSON_IsObject(x)) return 1;
    if ((types & T_ARR) && cJSON_IsArray(x)) return 1;
    if ((types & T_NUM) && cJSON_IsNumber(x)) return 1;
    if ((types & T_STR) && cJSON_IsString(x)) return 1;
    if ((types & T_INT) && is_integer(x)) return 1;
    return 0;
}

static int multiple_of(double x, double m) {
    double q = x / m;
    if (!isfinite(q)) return 0;
    if (floor(q) == q) return 1;
    double r = nearbyint(q);
    return fabs(q - r) <= 1e-9 * fmax(1.0, fabs(q)) && fabs(x - r * m) <= 1e-9 * fmax(fabs(x), fabs(m));
}

/* --- formats --- */
static int digits(const char *s, int n) { for (int i = 0; i < n; i++) if (!isdigit((unsigned char)s[i])) return 0; return 1; }
static int num2(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

static int fmt_date(const char *s, size_t n) {
    if (n != 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2)) return 0;
    int y = atoi(s), m = num2(s + 5), d = num2(s + 8);
    static const int md[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m < 1 || m > 12 || d < 1) return 0;
    int lim = md[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    return d <= lim;
}

static int fmt_time(const char *s, size_t n) {
    if (n < 9 || !digits(s, 2) || s[2] != ':' || !digits(s + 3, 2) || s[5] != ':' || !digits(s + 6, 2)) return 0;
    int h = num2(s), mi = num2(s + 3), se = num2(s + 6);
    size_t i = 8;
    if (i < n && s[i] == '.') {
        i++;
        size_t st = i;
        while (i < n && isdigit((unsigned char)s[i])) i++;
        if (i == st) return 0;
    }
    if (i >= n) return 0;
    int oh = 0, om = 0, sign = 0;
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) { /* UTC */ }
    else if ((s[i] == '+' || s[i] == '-') && n - i == 6 && digits(s + i + 1, 2) && s[i + 3] == ':' && digits(s + i + 4, 2)) {
        sign = s[i] == '+' ? 1 : -1;
        oh = num2(s + i + 1); om = num2(s + i + 4);
        if (oh > 23 || om > 59) return 0;
    } else return 0;
    if (h > 23 || mi > 59 || se > 60) return 0;
    if (se == 60) {   /* leap second: only at 23:59:60 UTC */
        int utc = h * 60 + mi - sign * (oh * 60 + om);
        utc = ((utc % 1440) + 1440) % 1440;
        if (utc != 23 * 60 + 59) return 0;
    }
    return 1;
}

static int fmt_datetime(const char *s, size_t n) {
    if (n < 20 || (s[10] != 'T' && s[10] != 't')) return 0;
    return fmt_date(s, 10) && fmt_time(s + 11, n - 11);
}

static int fmt_ipv4(const char *s, size_t n) {
    int parts = 0;
    size_t i = 0;
    while (parts < 4) {
        size_t st = i;
        int v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - st < 3) v = v * 10 + (s[i++] - '0');
        if (i == st || v > 255 || (i - st > 1 && s[st] == '0')) return 0;
        parts++;
        if (parts < 4) { if (i >= n || s[i] != '.') return 0; i++; }
    }
    return i == n;
}

static int fmt_ipv6(const char *s, size_t n) {
    if (n == 0 || n > 45) return 0;
    for (size_t i = 0; i < n; i++) if (!(isxdigit((unsigned char)s[i]) || s[i] == ':' || s[i] == '.')) return 0;
    char buf[64]; unsigned char out[16];
    memcpy(buf, s, n); buf[n] = 0;
    if (memchr(s, '.', n)) {   /* embedded IPv4: dotted quad without leading zeros */
        const char *c4 = strrchr(buf, ':');
        if (!c4 || !fmt_ipv4(c4 + 1, strlen(c4 + 1))) return 0;
    }
    return inet_pton(AF_INET6, buf, out) == 1;
}

static int fmt_uuid(const char *s, size_t n) {
    if (n != 36) return 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) { if (s[i] != '-') return 0; }
        else if (!isxdigit((unsigned char)s[i])) return 0;
    }
    return 1;
}

static int fmt_email(const char *s, size_t n) {
    const char *at = NULL;   /* the last '@': a quoted local part may hold one */
    for (size_t i = 0; i < n; i++) if (s[i] == '@') at = s + i;
    if (!at || at == s || (size_t)(at - s) + 1 >= n) return 0;
    size_t ln = (size_t)(at - s);
    const char *d = at + 1; size_t dn = n - ln - 1;
    if (memchr(d, '@', dn)) return 0;
    if (ln >= 2 && s[0] == '"' && s[ln - 1] == '"') {   /* quoted local part */
        for (size_t i = 1; i + 1 < ln; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (ch == '\\') { if (++i + 1 >= ln) return 0; continue; }
            if (ch == '"' || ch < 0x20 || ch == 0x7F) return 0;
        }
    } else {
    if (s[0] == '.' || s[ln - 1] == '.') return 0;
    for (size_t i = 0; i < ln; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i + 1 < ln && s[i] == '.' && s[i + 1] == '.') return 0;
        if (!(isalnum(ch) || strchr("!#$%&'*+-/=?^_`{|}~.", ch) || ch >= 0x80)) return 0;
    }
    }
    if (d[0] == '[') {
        if (d[dn - 1] != ']') return 0;
        if (dn > 6 && strncmp(d + 1, "IPv6:", 5) == 0) return fmt_ipv6(d + 6, dn - 7);
        return fmt_ipv4(d + 1, dn - 2);
    }
    if (d[0] == '.' || d[dn - 1] == '.' || d[0] == '-') return 0;
    for (size_t i = 0; i < dn; i++) {
        unsigned char ch = (unsigned char)d[i];
        if (i + 1 < dn && d[i] == '.' && d[i + 1] == '.') return 0;
        if (!(isalnum(ch) || ch == '-' || ch == '.' || ch >= 0x80)) return 0;
    }
    return 1;
}

static int uri_char(unsigned char ch, const char *extra) {
    return isalnum(ch) || strchr("-._~!$&'()*+,;=", ch) || (extra && strchr(extra, ch));
}

static int fmt_uri(const char *s, size_t n) {
    /* RFC 3986 URI: scheme ":" hier-part [ "?" query ] [ "#" fragment ] */
    if (n == 0 || !isalpha((unsigned char)s[0])) return 0;
    size_t i = 1;
    while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')) i++;
    if (i >= n || s[i] != ':') return 0;
    i++;
    if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
        size_t a = i + 2, e = a;
        while (e < n && s[e] != '/' && s[e] != '?' && s[e] != '#') e++;
        size_t h = a;
        for (size_t k = a; k < e; k++) if (s[k] == '@') h = k + 1;
        for (size_t k = a; h > a && k < h - 1; k++) {   /* userinfo */
            unsigned char ch = (unsigned char)s[k];
            if (ch == '%') {
                if (k + 2 >= h - 1 + 1 || !isxdigit((unsigned char)s[k + 1]) || !isxdigit((unsigned char)s[k + 2])) return 0;
                k += 2;
            } else if (!uri_char(ch, ":")) return 0;
        }
        if (h < e && s[h] == '[') {
            const char *rb = memchr(s + h, ']', e - h);
            if (!rb) return 0;
            size_t ln = (size_t)(rb - s) - h - 1;
            if (ln > 0 && (s[h + 1] == 'v' || s[h + 1] == 'V')) { /* IPvFuture */ }
            else if (!fmt_ipv6(s + h + 1, ln)) return 0;
            h = (size_t)(rb - s) + 1;
        } else {
            while (h < e && s[h] != ':') {
                unsigned char ch = (unsigned char)s[h];
                if (ch == '%') {
                    if (h + 2 >= e || !isxdigit((unsigned char)s[h + 1]) || !isxdigit((unsigned char)s[h + 2])) return 0;
                    h += 3;
                    continue;
                }
                if (!uri_char(ch, NULL)) return 0;
                h++;
            }
        }
        if (h < e) {
            if (s[h] != ':') return 0;
            for (size_t k = h + 1; k < e; k++) if (!isdigit((unsigned char)s[k])) return 0;
        }
        i = e;
    }
    int hashes = 0;
    for (size_t j = i; j < n; j++) {
        unsigned char ch = (unsigned char)s[j];
        if (ch == '%') {
            if (j + 2 >= n || !isxdigit((unsigned char)s[j + 1]) || !isxdigit((unsigned char)s[j + 2])) return 0;
            j += 2;
            continue;
        }
        if (ch == '#' && ++hashes > 1) return 0;
        if (!uri_char(ch, ":@/?#")) return 0;
    }
    return 1;
}

static int fmt_hostname(const char *s, size_t n) {
    if (n == 0 || n > 253) return 0;
    size_t lab = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (lab == 0 || lab > 63 || s[i - 1] == '-' || s[i - lab] == '-') return 0;
            lab = 0;
            continue;
        }
        if (!isalnum((unsigned char)s[i]) && s[i] != '-') return 0;
        lab++;
    }
    /* "xn--" A-labels must not have "--" at positions 3-4 otherwise (RFC 5891) */
    for (size_t st = 0; st < n;) {
        size_t e = st;
        while (e < n && s[e] != '.') e++;
        if (e - st >= 4 && s[st + 2] == '-' && s[st + 3] == '-' &&
            !((s[st] | 0x20) == 'x' && (s[st + 1] | 0x20) == 'n')) return 0;
        st = e + 1;
    }
    return 1;
}

static int fmt_regex(const char *s) {
    regex *re = regex_compile(s, NULL, 0);
    if (!re) return 0;
    regex_free(re);
    return 1;
}

static int format_ok(const char *fmt, const char *s) {
    size_t n = strlen(s);
    if (!strcmp(fmt, "date")) return fmt_date(s, n);
    if (!strcmp(fmt, "date-time")) return fmt_datetime(s, n);
    if (!strcmp(fmt, "time")) return fmt_time(s, n);
    if (!strcmp(fmt, "email")) return fmt_email(s, n);
    if (!strcmp(fmt, "ipv4")) return fmt_ipv4(s, n);
    if (!strcmp(fmt, "ipv6")) return fmt_ipv6(s, n);
    if (!strcmp(fmt, "uuid")) return fmt_uuid(s, n);
    if (!strcmp(fmt, "uri")) return fmt_uri(s, n);
    if (!strcmp(fmt, "hostname")) return fmt_hostname(s, n);
    if (!strcmp(fmt, "regex")) return fmt_regex(s);
    return 1;
}

/* evaluated-marks for the members of the current instance (object or array) */
typedef struct evs { unsigned char *m; int n; } evs;

static int v(vctx *c, const snode *s, const cJSON *x, evs *ev);

static int ev_new(evs *e, int n) {
    e->n = n;
    e->m = calloc((size_t)(n ? n : 1), 1);
    return e->m ? 0 : -1;
}
static void ev_merge(evs *dst, const evs *src) {
    if (!dst || !src || !src->m) return;
    for (int i = 0; i < dst->n && i < src->n; i++) dst->m[i] |= src->m[i];
}

static int children(const cJSON *x) {
    int n = 0;
    for (const cJSON *e = x->child; e; e = e->next) n++;
    return n;
}

/* Validate sub with a private annotation set merged into ev when valid (for
 * branches whose failure does not fail the parent). */
static int v_branch(vctx *c, const snode *sub, const cJSON *x, evs *ev) {
    if (!ev) return v(c, sub, x, NULL);
    evs t;
    if (ev_new(&t, ev->n) < 0) return verr(c, "%s", "out of memory");
    int r = v(c, sub, x, &t);
    if (r == 1) ev_merge(ev, &t);
    free(t.m);
    return r;
}

#define CHK(expr) do { int _r = (expr); if (_r < 0) { ret = -1; goto done; } if (_r == 0) { ret = 0; goto done; } } while (0)
#define FAIL(kw) do { vfail(c, kw); ret = 0; goto done; } while (0)

static int v(vctx *c, const snode *s, const cJSON *x, evs *ev) {
    if (s->boolean >= 0) {
        if (!s->boolean) vfail(c, "false schema");
        return s->boolean;
    }
    if (c->depth > 2000) return verr(c, "%s", "schema recursion too deep");
    if (s->ref_only) {
        c->depth++;
        int r = v(c, s->ref, x, ev);
        c->depth--;
        return r;
    }
    int ret = 1;
    int pushed_scope = 0;
    evs local = { NULL, 0 };
    evs *me = ev;
    int is_obj = cJSON_IsObject(x), is_arr = cJSON_IsArray(x);
    if ((is_obj && s->uneval_props) || (is_arr && s->uneval_items)) {
        if (ev_new(&local, children(x)) < 0) return verr(c, "%s", "out of memory");
        me = &local;
    }
    if (!is_obj && !is_arr) me = NULL;
    c->depth++;
    /* dynamic scope: entering a node of another resource (through $ref or a $id) */
    if ((c->nscope == 0 || strcmp(c->scope[c->nscope - 1], s->base) != 0) &&
        c->nscope < (int)(sizeof c->scope / sizeof c->scope[0])) {
        c->scope[c->nscope++] = s->base;
        pushed_scope = 1;
    }

    if (s->types && !type_ok(s->types, x)) FAIL("type");
    if (s->enum_) {
        int hit = 0;
        for (const cJSON *e = s->enum_->child; e && !hit; e = e->next) hit = json_eq(e, x);
        if (!hit) FAIL("enum");
    }
    if (s->const_ && !json_eq(s->const_, x)) FAIL("const");

    if (cJSON_IsNumber(x)) {
        double d = x->valuedouble;
        if (s->has_mo && !multiple_of(d, s->mo)) FAIL("multipleOf");
        if (s->has_max && !(d <= s->max)) FAIL("maximum");
        if (s->has_exmax && !(d < s->exmax)) FAIL("exclusiveMaximum");
        if (s->has_min && !(d >= s->min)) FAIL("minimum");
        if (s->has_exmin && !(d > s->exmin)) FAIL("exclusiveMinimum");
    } else if (cJSON_IsString(x)) {
        if (s->max_len >= 0 || s->min_len >= 0) {
            long len = utf8_length(x->valuestring);
            if (s->max_len >= 0 && len > s->max_len) FAIL("maxLength");
            if (s->min_len >= 0 && len < s->min_len) FAIL("minLength");
        }
        if (s->pattern_err) { ret = verr(c, "pattern unsupported: %s", s->pattern_err); goto done; }
        if (s->pattern) {
            int r = regex_search(s->pattern, x->valuestring);
            if (r < 0) { ret = verr(c, "pattern /%s/: regex step budget exceeded", s->pattern->source); goto done; }
            if (!r) FAIL("pattern");
        }
        if (s->format && c->S->format_assert && !format_ok(s->format, x->valuestring)) FAIL("format");
    } else if (is_arr) {
        int n = children(x);
        if (s->max_items >= 0 && n > s->max_items) FAIL("maxItems");
        if (s->min_items >= 0 && n < s->min_items) FAIL("minItems");
        if (s->unique) {
            for (const cJSON *a = x->child; a; a = a->next)
                for (const cJSON *b = a->next; b; b = b->next)
                    if (json_eq(a, b)) FAIL("uniqueItems");
        }
        int i = 0;
        for (const cJSON *e = x->child; e; e = e->next, i++) {
            const snode *is = NULL;
            if (i < s->nprefix) is = s->prefix[i];
            else if (s->nprefix && s->additional_items) is = s->additional_items;
            else if (s->items) is = s->items;
            if (!is) continue;
            size_t old = vpushi(c, i);
            int r = v(c, is, e, NULL);
            vpop(c, old);
            if (r < 0) { ret = -1; goto done; }
            if (!r) FAIL(i < s->nprefix ? (s->dialect >= 2020 ? "prefixItems" : "items") :
                         (s->nprefix && s->additional_items) ? "additionalItems" : "items");
            if (me) me->m[i] = 1;
        }
        if (s->contains) {
            long cnt = 0;
            i = 0;
            c->quiet++;
            for (const cJSON *e = x->child; e; e = e->next, i++) {
                int r = v(c, s->contains, e, NULL);
                if (r < 0) { c->quiet--; ret = -1; goto done; }
                if (r) { cnt++; if (me) me->m[i] = 1; }
                else continue;
                if (!me && s->max_contains < 0 && cnt >= s->min_contains) break;
            }
            c->quiet--;
            long mn = s->dialect >= 2019 ? s->min_contains : 1;
            if (cnt < mn) FAIL(s->dialect >= 2019 && s->min_contains != 1 ? "minContains" : "contains");
            if (s->dialect >= 2019 && s->max_contains >= 0 && cnt > s->max_contains) FAIL("maxContains");
        }
    } else if (is_obj) {
        int n = children(x);
        if (s->max_props >= 0 && n > s->max_props) FAIL("maxProperties");
        if (s->min_props >= 0 && n < s->min_props) FAIL("minProperties");
        if (s->required) {
            for (const cJSON *r = s->required->child; r; r = r->next)
                if (cJSON_IsString(r) && !cJSON_GetObjectItemCaseSensitive(x, r->valuestring)) {
                    size_t old = vpush(c, r->valuestring);
                    vfail(c, "required");
                    vpop(c, old);
                    ret = 0; goto done;
                }
        }
        for (int k = 0; k < s->ndep_req; k++) {
            if (!cJSON_GetObjectItemCaseSensitive(x, s->dep_req[k].name)) continue;
            for (const cJSON *r = s->dep_req[k].arr->child; r; r = r->next)
                if (cJSON_IsString(r) && !cJSON_GetObjectItemCaseSensitive(x, r->valuestring))
                    FAIL(s->dialect >= 2019 ? "dependentRequired" : "dependencies");
        }
        int i = 0;
        for (const cJSON *e = x->child; e; e = e->next, i++) {
            const char *key = e->string ? e->string : "";
            int matched = 0;
            size_t old = vpush(c, key);
            for (int k = 0; k < s->nprops; k++) {
                if (strcmp(s->props[k].name, key) != 0) continue;
                matched = 1;
                int r = v(c, s->props[k].s, e, NULL);
                if (r <= 0) { vpop(c, old); if (r < 0) { ret = -1; goto done; } FAIL("properties"); }
            }
            for (int k = 0; k < s->npprops; k++) {
                if (!s->pprops[k].re) { vpop(c, old); ret = verr(c, "patternProperties regex unsupported: /%s/", s->pprops[k].name); goto done; }
                int m = regex_search(s->pprops[k].re, key);
                if (m < 0) { vpop(c, old); ret = verr(c, "patternProperties /%s/: regex step budget exceeded", s->pprops[k].name); goto done; }
                if (!m) continue;
                matched = 1;
                int r = v(c, s->pprops[k].s, e, NULL);
                if (r <= 0) { vpop(c, old); if (r < 0) { ret = -1; goto done; } FAIL("patternProperties"); }
            }
            if (!matched && s->additional_props) {
                matched = 1;
                int r = v(c, s->additional_props, e, NULL);
                if (r <= 0) { vpop(c, old); if (r < 0) { ret = -1; goto done; } FAIL("additionalProperties"); }
            }
            if (s->property_names) {
                cJSON tmp;
                memset(&tmp, 0, sizeof tmp);
                tmp.type = cJSON_String;
                tmp.valuestring = (char *)key;
                int r = v(c, s->property_names, &tmp, NULL);
                if (r <= 0) { vpop(c, old); if (r < 0) { ret = -1; goto done; } FAIL("propertyNames"); }
            }
            vpop(c, old);
            if (matched && me) me->m[i] = 1;
        }
        for (int k = 0; k < s->ndep_sch; k++) {
            if (!cJSON_GetObjectItemCaseSensitive(x, s->dep_sch[k].name)) continue;
            CHK(v(c, s->dep_sch[k].s, x, me));
        }
    }

    /* in-place applicators */
    if (s->ref) CHK(v(c, s->ref, x, me));
    if (s->dynref) {
        const snode *t = s->dynref;
        if (s->dynref_name) {
            for (int k = 0; k < c->nscope; k++) {
                char u[1024];
                snprintf(u, sizeof u, "%s#%s", c->scope[k], s->dynref_name);
                const regentry *e = reg_find(c->S, u, 1);
                if (e) { t = e->s; break; }
            }
        }
        CHK(v(c, t, x, me));
    }
    for (int k = 0; k < s->nall; k++) CHK(v(c, s->all_of[k], x, me));
    if (s->nany) {
        int ok = 0;
        c->quiet++;
        for (int k = 0; k < s->nany; k++) {
            int r = v_branch(c, s->any_of[k], x, me);
            if (r < 0) { c->quiet--; ret = -1; goto done; }
            if (r) { ok = 1; if (!me) break; }
        }
        c->quiet--;
        if (!ok) FAIL("anyOf");
    }
    if (s->none) {
        int cnt = 0;
        evs t = { NULL, 0 };
        c->quiet++;
        for (int k = 0; k < s->none; k++) {
            evs tk = { NULL, 0 };
            if (me && ev_new(&tk, me->n) < 0) { c->quiet--; free(t.m); ret = verr(c, "%s", "out of memory"); goto done; }
            int r = v(c, s->one_of[k], x, me ? &tk : NULL);
            if (r < 0) { c->quiet--; free(tk.m); free(t.m); ret = -1; goto done; }
            if (r) { cnt++; if (!t.m) { t = tk; tk.m = NULL; } }
            free(tk.m);
            if (cnt > 1) break;
        }
        c->quiet--;
        if (cnt == 1 && me) ev_merge(me, &t);
        free(t.m);
        if (cnt != 1) FAIL("oneOf");
    }
    if (s->not_) {
        c->quiet++;
        int r = v(c, s->not_, x, NULL);
        c->quiet--;
        if (r < 0) { ret = -1; goto done; }
        if (r) FAIL("not");
    }
    if (s->if_) {
        c->quiet++;
        int r = v_branch(c, s->if_, x, me);
        c->quiet--;
        if (r < 0) { ret = -1; goto done; }
        if (r && s->then_) CHK(v(c, s->then_, x, me));
        if (!r && s->else_) CHK(v(c, s->else_, x, me));
    }

    /* unevaluated*: after every sibling produced its annotations */
    if (is_obj && s->uneval_props) {
        int i = 0;
        for (const cJSON *e = x->child; e; e = e->next, i++) {
            if (me->m[i]) continue;
            size_t old = vpush(c, e->string ? e->string : "");
            int r = v(c, s->uneval_props, e, NULL);
            vpop(c, old);
            if (r < 0) { ret = -1; goto done; }
            if (!r) FAIL("unevaluatedProperties");
            me->m[i] = 1;
        }
    }
    if (is_arr && s->uneval_items) {
        int i = 0;
        for (const cJSON *e = x->child; e; e = e->next, i++) {
            if (me->m[i]) continue;
            size_t old = vpushi(c, i);
            int r = v(c, s->uneval_items, e, NULL);
            vpop(c, old);
            if (r < 0) { ret = -1; goto done; }
            if (!r) FAIL("unevaluatedItems");
            me->m[i] = 1;
        }
    }
done:
    if (local.m) {
        if (ret == 1) ev_merge(ev, &local);
        free(local.m);
    }
    if (pushed_scope) c->nscope--;
    c->depth--;
    return ret;
}

int db_jsonschema_validate(const db_jsonschema *S, const cJSON *instance, char *why, size_t whylen) {
    if (why && whylen) why[0] = 0;
    if (!S || !instance) {
        if (why && whylen) snprintf(why, whylen, "validate: NULL %s", S ? "instance" : "schema");
        return -1;
    }
    vctx *c = calloc(1, sizeof *c);
    if (!c) { if (why && whylen) snprintf(why, whylen, "validate: out of memory"); return -1; }
    c->S = S; c->why = why; c->whylen = whylen;
    int r = v(c, S->root, instance, NULL);
    free(c);
    return r;
}

int db_jsonschema_validate_text(const db_jsonschema *S, const char *json, char *why, size_t whylen) {
    cJSON *x = json ? cJSON_Parse(json) : NULL;
    if (!x) {
        if (why && whylen) snprintf(why, whylen, "instance: not valid JSON");
        return -1;
    }
    int r = db_jsonschema_validate(S, x, why, whylen);
    cJSON_Delete(x);
    return r;
}
