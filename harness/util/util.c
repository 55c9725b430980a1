/* util.c — shared helpers (see util.h). */
#include "util.h"
#include "utf8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int db_errf(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

char *db_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

char *db_strndup(const char *s, size_t n) {
    if (!s) return NULL;
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *db_read_file(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        db_errf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    db_str b;
    db_str_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (db_str_appendn(&b, chunk, n) != 0) {
            fclose(f);
            db_str_free(&b);
            db_errf(err, errlen, "%s: out of memory", path);
            return NULL;
        }
    }
    if (ferror(f)) {
        db_errf(err, errlen, "%s: read error: %s", path, strerror(errno));
        fclose(f);
        db_str_free(&b);
        return NULL;
    }
    fclose(f);
    if (len) *len = b.len;
    char *s = db_str_take(&b);
    return s;
}

bool db_file_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0;
}

char *db_dirname(const char *path) {
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash) return db_strdup(".");
    if (slash == path) return db_strdup("/");
    return db_strndup(path, (size_t)(slash - path));
}

char *db_path_join(const char *dir, const char *rel) {
    if (!rel) return NULL;
    if (rel[0] == '/' || !dir || !*dir || strcmp(dir, ".") == 0) return db_strdup(rel);
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, rel);
    return p;
}

void db_str_init(db_str *b) {
    b->s = NULL;
    b->len = b->cap = 0;
}

void db_str_free(db_str *b) {
    free(b->s);
    db_str_init(b);
}

static int reserve(db_str *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) return -1;
    b->s = s;
    b->cap = cap;
    return 0;
}

int db_str_appendn(db_str *b, const char *s, size_t n) {
    if (reserve(b, n) != 0) return -1;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
    return 0;
}

int db_str_append(db_str *b, const char *s) {
    return db_str_appendn(b, s, strlen(s));
}

int db_str_printf(db_str *b, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) != 0) {
        va_end(ap2);
        return -1;
    }
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

int db_str_json_string(db_str *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    if (db_str_append(b, "\"") != 0) return -1;
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        int rc = 0;
        if (c == '"') rc = db_str_append(b, "\\\"");
        else if (c == '\\') rc = db_str_append(b, "\\\\");
        else if (c == '\n') rc = db_str_append(b, "\\n");
        else if (c == '\r') rc = db_str_append(b, "\\r");
        else if (c == '\t') rc = db_str_append(b, "\\t");
        else if (c < 0x20) rc = db_str_printf(b, "\\u%04x", c);
        else if (c < 0x80) rc = db_str_appendn(b, (const char *)&u[i], 1);
        else {
            size_t l = db_utf8_valid(u + i, n - i);
            if (l == 0) { rc = db_str_append(b, "\\ufffd"); i++; if (rc) return -1; continue; }
            rc = db_str_appendn(b, (const char *)&u[i], l);
            i += l;
            if (rc) return -1;
            continue;
        }
        if (rc) return -1;
        i++;
    }
    return db_str_append(b, "\"");
}

char *db_str_take(db_str *b) {
    if (!b->s && reserve(b, 0) != 0) return NULL;
    char *s = b->s;
    db_str_init(b);
    return s;
}

int db_parse_u64(const char *s, uint64_t *v) {
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *v = x;
    return 0;
}

int db_parse_double(const char *s, double *v) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || *end || !isfinite(x)) return -1;
    *v = x;
    return 0;
}

int64_t db_unix_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void db_iso8601(int64_t unix_ms, char *buf, size_t len) {
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
