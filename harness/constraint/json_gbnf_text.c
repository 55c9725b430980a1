/* json_gbnf_text.c — the converter's text pieces: code-point sets (the ECMA
 * class escapes among them), GBNF literal and character-class escaping, the
 * JSON encoding of one character from a set, repetition, and exact
 * integer-range grammars (canonical decimal); see json_gbnf_int.h. */
#include "json_gbnf_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/utf8.h"

/* ------------------------------------------------------------------ */
/* Code-point sets: sorted, disjoint, non-adjacent ranges.             */

int db_jg_cs_add(cset *s, uint32_t lo, uint32_t hi) {
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

void db_jg_cs_norm(cset *s) {
    if (s->n < 2) return;
    qsort(s->r, (size_t)s->n, sizeof *s->r, cmp_range);
    int k = 0;
    for (int i = 1; i < s->n; i++) {
        if (s->r[i][0] <= s->r[k][1] + 1) { if (s->r[i][1] > s->r[k][1]) s->r[k][1] = s->r[i][1]; }
        else { k++; s->r[k][0] = s->r[i][0]; s->r[k][1] = s->r[i][1]; }
    }
    s->n = k + 1;
}

void db_jg_cs_free(cset *s) { free(s->r); s->r = NULL; s->n = s->cap = 0; }

/* out = complement of s (normalised) over [0, MAX_CP] */
int db_jg_cs_complement(const cset *s, cset *out) {
    uint32_t next = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->r[i][0] > next && db_jg_cs_add(out, next, s->r[i][0] - 1) < 0) return -1;
        next = s->r[i][1] + 1;
    }
    if (next <= MAX_CP && (s->n == 0 || s->r[s->n - 1][1] < MAX_CP)) return db_jg_cs_add(out, next, MAX_CP);
    return 0;
}

static int cs_addset(cset *dst, const cset *src) {
    for (int i = 0; i < src->n; i++) if (db_jg_cs_add(dst, src->r[i][0], src->r[i][1]) < 0) return -1;
    return 0;
}

/* The ECMA class escapes. */
static int cs_digit(cset *s) { return db_jg_cs_add(s, '0', '9'); }
static int cs_word(cset *s) {
    return db_jg_cs_add(s, '0', '9') | db_jg_cs_add(s, 'A', 'Z') | db_jg_cs_add(s, '_', '_') | db_jg_cs_add(s, 'a', 'z');
}
static int cs_space(cset *s) {
    static const uint32_t r[][2] = { { 9, 13 }, { ' ', ' ' }, { 0xA0, 0xA0 }, { 0x1680, 0x1680 }, { 0x2000, 0x200A },
                                     { 0x2028, 0x2029 }, { 0x202F, 0x202F }, { 0x205F, 0x205F }, { 0x3000, 0x3000 },
                                     { 0xFEFF, 0xFEFF } };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) if (db_jg_cs_add(s, r[i][0], r[i][1]) < 0) return -1;
    return 0;
}
/* add class escape kind ('d','D','w','W','s','S') to s */
int db_jg_cs_class(cset *s, int kind) {
    cset t = { 0 };
    int rc = 0;
    switch (kind | 0x20) {
    case 'd': rc = cs_digit(&t); break;
    case 'w': rc = cs_word(&t); break;
    default: rc = cs_space(&t); break;
    }
    db_jg_cs_norm(&t);
    if (rc == 0) {
        if (kind >= 'A' && kind <= 'Z') {
            cset c = { 0 };
            rc = db_jg_cs_complement(&t, &c);
            if (rc == 0) rc = cs_addset(s, &c);
            db_jg_cs_free(&c);
        } else rc = cs_addset(s, &t);
    }
    db_jg_cs_free(&t);
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
uint32_t db_jg_utf8_next(const unsigned char **p) {
    uint32_t c;
    size_t prefix = 1, n = 0;
    while (n < 4 && (*p)[n]) n++;
    int k = db_utf8_decode(*p, n ? n : 1, &c, &prefix);
    *p += k > 0 ? (size_t)k : prefix;
    return c;
}

/* GBNF string literal for the UTF-8 text t (n bytes) */
int db_jg_gb_lit(db_str *o, const char *t, size_t n) {
    const unsigned char *p = (const unsigned char *)t, *e = p + n;
    int rc = db_str_append(o, "\"");
    while (p < e && rc == 0) rc = gb_cp(o, db_jg_utf8_next(&p), 0);
    return rc | db_str_append(o, "\"");
}

/* cJSON's spelling of a string value (with quotes), as JSON text */
int db_jg_json_str(db_str *o, const char *s) {
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
int db_jg_gb_rep(db_str *o, const char *atom, long mn, long mx) {
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
int db_jg_cs_emit_json(db_str *o, const cset *s) {
    cset raw = { 0 }, spec = { 0 };
    int rc = 0, alts = 0;
    db_str b;
    db_str_init(&b);
    for (int i = 0; i < s->n && rc == 0; i++) {
        uint32_t lo = s->r[i][0], hi = s->r[i][1];
        for (uint32_t c = lo; c <= hi && c < 0x20; c++) rc |= db_jg_cs_add(&spec, c, c);
        if (lo <= '"' && hi >= '"') rc |= db_jg_cs_add(&spec, '"', '"');
        if (lo <= '\\' && hi >= '\\') rc |= db_jg_cs_add(&spec, '\\', '\\');
        /* raw part: [lo,hi] minus controls, '"' and '\\' */
        uint32_t a = lo < 0x20 ? 0x20 : lo;
        while (a <= hi && rc == 0) {
            uint32_t stop = hi;
            if (a <= '"' && hi >= '"') stop = a == '"' ? '"' : '"' - 1;
            else if (a <= '\\' && hi >= '\\') stop = a == '\\' ? '\\' : '\\' - 1;
            if (a != '"' && a != '\\') rc |= db_jg_cs_add(&raw, a, stop);
            if (stop == hi) break;
            a = stop + 1;
        }
    }
    if (rc) goto out;
    if (raw.n) {
        cset comp = { 0 };
        rc = db_jg_cs_complement(&raw, &comp);
        int neg = comp.n < raw.n;
        const cset *use = neg ? &comp : &raw;
        rc |= db_str_append(&b, neg ? "[^" : "[");
        for (int i = 0; i < use->n && rc == 0; i++) {
            rc |= gb_cp(&b, use->r[i][0], 1);
            if (use->r[i][1] != use->r[i][0]) { rc |= db_str_append(&b, "-"); rc |= gb_cp(&b, use->r[i][1], 1); }
        }
        rc |= db_str_append(&b, "]");
        db_jg_cs_free(&comp);
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
    db_jg_cs_free(&raw);
    db_jg_cs_free(&spec);
    return rc ? -1 : 0;
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
        rc |= db_jg_gb_rep(o, "[0-9]", (long)m, (long)m);
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
        rc |= db_jg_gb_rep(o, "[0-9]", (long)top, -1);
    }
    return rc;
}

/* integers in [lo, hi] (has_lo/has_hi: bounded), lo <= hi */
int db_jg_int_range(db_str *o, int has_lo, int64_t lo, int has_hi, int64_t hi) {
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
