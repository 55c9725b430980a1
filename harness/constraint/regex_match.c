/* regex_match.c — consumer 1 of the regex front end (regex.h): the JSON
 * Schema validator's backtracking matcher over Unicode code points, with
 * ECMA-262 search semantics, lookahead, word boundaries, \p{L}-style
 * classes (glibc's C.UTF-8 classification) and a step budget.  The AST comes
 * from db_rx_parse; the error messages are the validator's. */
#include "regex.h"

#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "harness/util/utf8.h"
#include "harness/util/util.h"
#include "jsonschema.h"

struct db_regex {
    db_rx *ast;
    char *source;
    locale_t loc;   /* C.UTF-8, for \p{...} classes (0: none needed) */
};

/* the validator's wording of a parse error (in buf when it has details) */
static const char *message(const db_rx_error *e, char *buf, size_t len) {
    switch (e->code) {
    case DB_RX_E_PROPERTY_NAME:
        snprintf(buf, len, "unsupported Unicode property escape \\%c{%s}", (char)e->ch, e->name[0] ? e->name : "?");
        return buf;
    case DB_RX_E_BACKREF: snprintf(buf, len, "unsupported backreference \\%c", (char)e->ch); return buf;
    case DB_RX_E_INVALID_ESCAPE: snprintf(buf, len, "unsupported escape \\%c", (char)e->ch); return buf;
    case DB_RX_E_GROUP_SYNTAX: snprintf(buf, len, "unsupported group syntax (?%c", (char)e->ch); return buf;
    case DB_RX_E_NOTHING_TO_REPEAT: snprintf(buf, len, "nothing to repeat at '%c'", (char)e->ch); return buf;
    case DB_RX_E_TRAILING_BACKSLASH: return "trailing backslash";
    case DB_RX_E_NAMED_BACKREF: return "unsupported named backreference \\k<...>";
    case DB_RX_E_CLASS_UNTERMINATED: return "unterminated character class";
    case DB_RX_E_RANGE_ORDER: return "range out of order in character class";
    case DB_RX_E_BAD_NAMED_GROUP: return "bad named group";
    case DB_RX_E_MISSING_PAREN: return "missing )";
    case DB_RX_E_BRACE_NOTHING: return "nothing to repeat at '{'";
    case DB_RX_E_NOT_QUANTIFIABLE: return "nothing to repeat";
    case DB_RX_E_REPEAT_ORDER: return "numbers out of order in {} quantifier";
    case DB_RX_E_UNMATCHED_PAREN: return "unmatched )";
    default: return "out of memory";   /* the other codes belong to other dialects */
    }
}

void db_regex_free(db_regex *re) {
    if (!re) return;
    db_rx_free(re->ast);
    free(re->source);
    if (re->loc) freelocale(re->loc);
    free(re);
}

db_regex *db_regex_compile(const char *pattern, char *err, size_t errlen) {
    db_regex *re = calloc(1, sizeof *re);
    if (!re) { db_errf(err, errlen, "out of memory"); return NULL; }
    if (!(re->source = db_strdup(pattern))) { free(re); db_errf(err, errlen, "out of memory"); return NULL; }
    db_rx_error e;
    re->ast = db_rx_parse(pattern, 0, strlen(pattern), DB_RX_LOOKAHEAD | DB_RX_BOUNDARY | DB_RX_PROPERTY, &e);
    if (!re->ast) {
        char buf[160];
        db_errf(err, errlen, "regex /%s/: %s", pattern, message(&e, buf, sizeof buf));
        db_regex_free(re);
        return NULL;
    }
    if (re->ast->has_property) {
        re->loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
        if (!re->loc) {
            db_errf(err, errlen, "regex /%s/: \\p{%s} needs the C.UTF-8 locale", pattern, re->ast->first_property);
            db_regex_free(re);
            return NULL;
        }
    }
    return re;
}

typedef struct rcont {
    const db_rx_node *n;          /* continue with this node ... */
    const db_rx_node *rep;        /* ... or, when set, after an iteration of this DB_RX_REPEAT */
    int count, start;
    const struct rcont *up;
} rcont;

typedef struct rmatch {
    const db_regex *re;
    const uint32_t *s; int n;
    long steps;
    int depth;
    int err;   /* 1: step budget / depth exceeded */
    uintptr_t stack_base;   /* the address of a local of search_cp */
} rmatch;

#define RE_MAX_STEPS 2000000L
#define RE_MAX_DEPTH 20000
/* Recursion is also bounded by the stack it uses, whatever a frame costs
 * (sanitizer builds have much larger ones): a long subject under a nested
 * repetition overflowed the stack with fewer than RE_MAX_DEPTH frames
 * (fuzz: tests/fuzz/regressions/jsonschema/stack-overflow-*). */
#define RE_MAX_STACK_BYTES (1024L * 1024L)

static int stack_exhausted(const rmatch *M) {
    volatile char here = 0;
    uintptr_t at = (uintptr_t)&here;
    return M->stack_base > at && M->stack_base - at > (uintptr_t)RE_MAX_STACK_BYTES;
}

static int is_space(uint32_t c) {
    return c == ' ' || (c >= 9 && c <= 13) || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}
static int is_word(uint32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Charges the class's items to the step budget: a class of hundreds of
 * items (fuzz: regressions/regex_search) made 2M steps cost a minute. */
static int class_match(rmatch *M, const db_rx_node *c, uint32_t ch) {
    M->steps += c->nitems;
    int hit = 0;
    for (int i = 0; i < c->nitems && !hit; i++) {
        const db_rx_item *it = &c->items[i];
        switch (it->kind) {
        case DB_RX_C_RANGE: hit = ch >= it->lo && ch <= it->hi; break;
        case DB_RX_C_DIGIT: hit = ch >= '0' && ch <= '9'; break;
        case DB_RX_C_NDIGIT: hit = !(ch >= '0' && ch <= '9'); break;
        case DB_RX_C_WORD: hit = is_word(ch); break;
        case DB_RX_C_NWORD: hit = !is_word(ch); break;
        case DB_RX_C_SPACE: hit = is_space(ch); break;
        case DB_RX_C_NSPACE: hit = !is_space(ch); break;
        case DB_RX_C_UALPHA: hit = iswalpha_l((wint_t)ch, M->re->loc) && !(ch >= '0' && ch <= '9'); break;
        case DB_RX_C_NUALPHA: hit = !(iswalpha_l((wint_t)ch, M->re->loc) && !(ch >= '0' && ch <= '9')); break;
        case DB_RX_C_UUPPER: hit = iswupper_l((wint_t)ch, M->re->loc) != 0; break;
        case DB_RX_C_NUUPPER: hit = !iswupper_l((wint_t)ch, M->re->loc); break;
        case DB_RX_C_ULOWER: hit = iswlower_l((wint_t)ch, M->re->loc) != 0; break;
        case DB_RX_C_NULOWER: hit = !iswlower_l((wint_t)ch, M->re->loc); break;
        }
    }
    return c->negate ? !hit : hit;
}

static int rm(rmatch *M, const db_rx_node *n, int i, const rcont *k);

/* a node that always consumes exactly one code point */
static int is_single_char(const db_rx_node *c) {
    return c && !c->next && (c->type == DB_RX_CHAR || c->type == DB_RX_ANY || c->type == DB_RX_CLASS);
}

static int single_char_at(rmatch *M, const db_rx_node *c, int i) {
    if (i >= M->n) return 0;
    uint32_t ch = M->s[i];
    switch (c->type) {
    case DB_RX_CHAR: return ch == c->ch;
    case DB_RX_ANY: return ch != '\n' && ch != '\r' && ch != 0x2028 && ch != 0x2029;
    default: return class_match(M, c, ch);
    }
}

/* A repetition of one code point (`.*`, `[a-z]{2,}`, `x+?`) without a
 * frame per iteration: the same order of attempts as rep_step (greedy:
 * most iterations first; lazy: fewest), so the same match. */
static int rep_single(rmatch *M, const db_rx_node *r, int i, const rcont *k) {
    long lim = r->max < 0 ? (long)(M->n - i) : r->max;
    long cnt = 0;
    if (!r->lazy) {
        while (cnt < lim && single_char_at(M, r->child, i + (int)cnt)) {
            cnt++;
            if (++M->steps > RE_MAX_STEPS) { M->err = 1; return 0; }
        }
        for (long c = cnt; c >= r->min; c--) {
            if (rm(M, r->next, i + (int)c, k)) return 1;
            if (M->err) return 0;
        }
        return 0;
    }
    for (;; cnt++) {
        if (cnt >= r->min) {
            if (rm(M, r->next, i + (int)cnt, k)) return 1;
            if (M->err) return 0;
        }
        if (cnt >= lim || !single_char_at(M, r->child, i + (int)cnt)) return 0;
        if (++M->steps > RE_MAX_STEPS) { M->err = 1; return 0; }
    }
}

static int rep_step(rmatch *M, const db_rx_node *r, int count, int start, int i, const rcont *k) {
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

static int rm(rmatch *M, const db_rx_node *n, int i, const rcont *k) {
    if (++M->steps > RE_MAX_STEPS || M->depth > RE_MAX_DEPTH || stack_exhausted(M)) { M->err = 1; return 0; }
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
        case DB_RX_CHAR:
            if (i < M->n && M->s[i] == n->ch) { i++; n = n->next; continue; }
            break;
        case DB_RX_ANY:
            if (i < M->n && M->s[i] != '\n' && M->s[i] != '\r' && M->s[i] != 0x2028 && M->s[i] != 0x2029) {
                i++; n = n->next; continue;
            }
            break;
        case DB_RX_CLASS:
            if (i < M->n && class_match(M, n, M->s[i])) { i++; n = n->next; continue; }
            break;
        case DB_RX_BOL: if (i == 0) { n = n->next; continue; } break;
        case DB_RX_EOL: if (i == M->n) { n = n->next; continue; } break;
        case DB_RX_WORDB: case DB_RX_NWORDB: {
            int a = i > 0 && is_word(M->s[i - 1]), b = i < M->n && is_word(M->s[i]);
            if ((a != b) == (n->type == DB_RX_WORDB)) { n = n->next; continue; }
            break;
        }
        case DB_RX_GROUP: {
            rcont c = { n->next, NULL, 0, 0, k };
            for (int a = 0; a < n->nalts && !r && !M->err; a++) r = rm(M, n->alts[a], i, &c);
            goto out;
        }
        case DB_RX_LOOK: {
            int hit = 0;
            for (int a = 0; a < n->nalts && !hit && !M->err; a++) hit = rm(M, n->alts[a], i, NULL);
            if (M->err) goto out;
            if (hit != n->negate) { n = n->next; continue; }
            break;
        }
        case DB_RX_REPEAT:
            r = is_single_char(n->child) ? rep_single(M, n, i, k) : rep_step(M, n, 0, i, i, k);
            goto out;
        }
        break;   /* no match */
    }
out:
    M->depth--;
    return r;
}

/* 1 match, 0 no match, -1 budget exceeded. */
static int search_cp(const db_regex *re, const uint32_t *s, int n) {
    volatile char base = 0;
    rmatch M = { re, s, n, 0, 0, 0, (uintptr_t)&base };
    for (int start = 0; start <= n; start++) {
        if (rm(&M, re->ast->root, start, NULL)) return 1;
        if (M.err) return -1;
    }
    return 0;
}

const char *db_regex_source(const db_regex *re) { return re->source; }

int db_regex_exec(const db_regex *re, const char *subject) {
    int n;
    uint32_t *cp = db_utf8_decode_all(subject, &n);
    if (!cp) return -1;
    int r = search_cp(re, cp, n);
    free(cp);
    return r;
}

int db_regex_search(const char *pattern, const char *subject, char *err, size_t errlen) {
    db_regex *re = db_regex_compile(pattern, err, errlen);
    if (!re) return -1;
    int r = db_regex_exec(re, subject);
    if (r < 0) db_errf(err, errlen, "regex /%s/: step budget exceeded", pattern);
    db_regex_free(re);
    return r;
}
