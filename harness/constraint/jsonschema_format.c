/* jsonschema_format.c — the JSON Schema validator's "format" assertions:
 * date, date-time, time, email, ipv4, ipv6, uuid, uri, hostname (RFC 1123
 * labels) and regex (compiles in the regex front end); see jsonschema_int.h. */
#include "jsonschema_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regex.h"

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
    db_regex *re = db_regex_compile(s, NULL, 0);
    if (!re) return 0;
    db_regex_free(re);
    return 1;
}

int db_js_format_ok(const char *fmt, const char *s) {
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
