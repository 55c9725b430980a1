/* regex_syntax.c — one ECMA-262 escape after a backslash, one {m,n}
 * quantifier: the regex front end's lexer (see regex_syntax.h). */
#include "regex_syntax.h"

static int hexval(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* four hex digits at p[j], or -1 */
static long hex4(const uint32_t *p, int n, int j) {
    if (j + 3 >= n) return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p[j + k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

db_re_escape db_regex_escape(const uint32_t *p, int n, int *i, bool in_class) {
    db_re_escape e = { DB_RE_ESC_CHAR, 0, 0 };
    if (*i >= n) { e.kind = DB_RE_ESC_INVALID; return e; }
    const uint32_t c = p[(*i)++];
    switch (c) {
    case 'd': case 'D': case 'w': case 'W': case 's': case 'S':
        e.kind = DB_RE_ESC_CLASS;
        e.cls = (char)c;
        return e;
    case 'b':
        if (in_class) { e.cp = 8; return e; }
        e.kind = DB_RE_ESC_WORD_BOUNDARY;
        return e;
    case 'B':
        e.kind = in_class ? DB_RE_ESC_INVALID : DB_RE_ESC_NOT_BOUNDARY;
        return e;
    case 't': e.cp = '\t'; return e;
    case 'n': e.cp = '\n'; return e;
    case 'r': e.cp = '\r'; return e;
    case 'f': e.cp = '\f'; return e;
    case 'v': e.cp = '\v'; return e;
    case '0':
        if (*i < n && p[*i] >= '0' && p[*i] <= '9') e.kind = DB_RE_ESC_INVALID;
        return e;                                   /* NUL */
    case 'c':
        if (*i < n && (p[*i] | 0x20) >= 'a' && (p[*i] | 0x20) <= 'z') { e.cp = p[(*i)++] % 32; return e; }
        (*i)--;                                     /* "\c" alone: a backslash, then 'c' */
        e.cp = '\\';
        return e;
    case 'x':
        if (*i + 1 < n && hexval(p[*i]) >= 0 && hexval(p[*i + 1]) >= 0) {
            e.cp = (uint32_t)(hexval(p[*i]) * 16 + hexval(p[*i + 1]));
            *i += 2;
            return e;
        }
        e.cp = 'x';
        return e;
    case 'u': {
        if (*i < n && p[*i] == '{') {
            uint32_t v = 0;
            int j = *i + 1, nd = 0;
            while (j < n && hexval(p[j]) >= 0 && nd < 7) { v = v * 16 + (uint32_t)hexval(p[j]); j++; nd++; }
            if (nd > 0 && j < n && p[j] == '}' && v <= 0x10FFFF) { e.cp = v; *i = j + 1; return e; }
            e.cp = 'u';
            return e;
        }
        long v = hex4(p, n, *i);
        if (v < 0) { e.cp = 'u'; return e; }
        *i += 4;
        if (v >= 0xD800 && v <= 0xDBFF && *i + 5 < n && p[*i] == '\\' && p[*i + 1] == 'u') {
            long lo = hex4(p, n, *i + 2);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                *i += 6;
            }
        }
        e.cp = (uint32_t)v;
        return e;
    }
    case 'p': case 'P':
        e.kind = DB_RE_ESC_PROPERTY;
        e.cls = (char)c;
        return e;
    case 'k':
        if (*i < n && p[*i] == '<') { e.kind = DB_RE_ESC_NAMED_BACKREF; return e; }
        e.cp = 'k';
        return e;
    default:
        if (c >= '1' && c <= '9' && !in_class) { e.kind = DB_RE_ESC_BACKREF; e.cp = c; return e; }
        e.cp = c;
        return e;
    }
}

/* decimal digits at p[*j] (value capped), their count */
static int digits(const uint32_t *p, int n, int *j, long *v) {
    int nd = 0;
    *v = 0;
    while (*j < n && p[*j] >= '0' && p[*j] <= '9') {
        if (*v < 100000) *v = *v * 10 + (long)(p[*j] - '0');
        (*j)++;
        nd++;
    }
    return nd;
}

int db_regex_braces(const uint32_t *p, int n, int *i, long *mn, long *mx) {
    int j = *i + 1;
    long a, b;
    if (!digits(p, n, &j, &a)) return 0;
    if (j < n && p[j] == '}') {
        b = a;
    } else if (j < n && p[j] == ',') {
        j++;
        long v;
        int nd = digits(p, n, &j, &v);
        if (j >= n || p[j] != '}') return 0;
        b = nd ? v : -1;
    } else {
        return 0;
    }
    *mn = a;
    *mx = b;
    *i = j + 1;
    return 1;
}
