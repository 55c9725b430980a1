/* jsonschema_uri.c — RFC 3986 URI reference resolution and percent-decoding
 * for the JSON Schema validator's $id/$ref handling (see jsonschema_int.h). */
#include "jsonschema_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

static int hexval(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
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
char *db_js_uri_resolve(const char *base, const char *ref) {
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
char *db_js_pct_decode(const char *s, size_t n) {
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
