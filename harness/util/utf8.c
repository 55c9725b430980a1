/* utf8.c — UTF-8 decoding, encoding and validation (see utf8.h). */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

int db_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, size_t *prefix) {
    uint32_t c = s[0];
    int extra;
    if (c < 0x80) { *cp = c; return 1; }
    else if ((c & 0xE0) == 0xC0) { c &= 0x1F; extra = 1; }
    else if ((c & 0xF0) == 0xE0) { c &= 0x0F; extra = 2; }
    else if ((c & 0xF8) == 0xF0) { c &= 0x07; extra = 3; }
    else { *cp = DB_UTF8_REPLACEMENT; if (prefix) *prefix = 1; return 0; }
    for (int i = 1; i <= extra; i++) {
        if ((size_t)i >= n || (s[i] & 0xC0) != 0x80) {
            *cp = DB_UTF8_REPLACEMENT;
            if (prefix) *prefix = (size_t)i;
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    *cp = c;
    return extra + 1;
}

uint32_t *db_utf8_decode_all(const char *s, int *n_out) {
    size_t len = strlen(s);
    uint32_t *cp = malloc((len + 1) * sizeof *cp);
    if (!cp) return NULL;
    int n = 0;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        int k = db_utf8_decode(p, (size_t)(end - p), &cp[n++], NULL);
        p += k > 0 ? k : 1;
    }
    *n_out = n;
    return cp;
}

long db_utf8_length(const char *s) {
    long n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return n;
}

int db_utf8_encode(uint32_t cp, unsigned char *o) {
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
        o[2] = (unsigned char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 63));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 63));
    o[3] = (unsigned char)(0x80 | (cp & 63));
    return 4;
}

size_t db_utf8_valid(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t need;
    unsigned min;
    if (c < 0x80) return 1;
    else if ((c & 0xE0) == 0xC0) { need = 2; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { need = 3; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { need = 4; min = 0x10000; }
    else return 0;
    if (n < need) return 0;
    unsigned cp = c & (0xFF >> (need + 1));
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return need;
}
