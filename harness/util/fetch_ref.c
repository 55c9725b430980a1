/* fetch_ref.c — the pure parts of fetch (fetch.h): parsing hf: references
 * and URLs, the download URL and the cache path of a reference, URL
 * redaction for messages, Hub etags, and response header parsing.  No I/O.
 */
#include "fetch.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sha256.h"
#include "util.h"

static bool name_ok(const char *s, size_t n) {
    if (n == 0 || n > 96) return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-')) return false;
    }
    return true;
}

static bool path_ok(const char *s, char *err, size_t errlen, const char *text) {
    if (!*s) {
        db_errf(err, errlen, "%s: no file path after ORG/REPO (hf:ORG/REPO/PATH[@REVISION])", text);
        return false;
    }
    const char *p = s;
    while (1) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
            db_errf(err, errlen, "%s: the file path has an empty, '.' or '..' component", text);
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c < 0x20 || c == 0x7f || c == '\\') {
                db_errf(err, errlen, "%s: the file path has a control character or a backslash", text);
                return false;
            }
        }
        if (!e) break;
        p = e + 1;
    }
    if (strlen(s) > 1024) {
        db_errf(err, errlen, "%s: the file path is longer than 1024 bytes", text);
        return false;
    }
    return true;
}

void db_fetch_ref_free(db_fetch_ref *ref) {
    if (!ref) return;
    char *owned[] = { ref->org, ref->repo, ref->path, ref->revision, ref->url };
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) free(owned[i]);
    memset(ref, 0, sizeof *ref);
}

static int parse_url(const char *text, db_fetch_ref *ref, char *err, size_t errlen) {
    size_t skip = strncasecmp(text, "https://", 8) == 0 ? 8 : 7;
    const char *host = text + skip;
    size_t hn = strcspn(host, "/?#");
    if (hn == 0) return db_errf(err, errlen, "%s: the URL has no host", text);
    for (const char *p = text; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return db_errf(err, errlen, "URL: has a space or a control character (percent-encode it)");
    if (strlen(text) > 4000) return db_errf(err, errlen, "URL: longer than 4000 bytes");
    ref->kind = DB_REF_URL;
    ref->url = db_strdup(text);
    return ref->url ? 0 : db_errf(err, errlen, "out of memory");
}

int db_fetch_ref_parse(const char *text, db_fetch_ref *ref, char *err, size_t errlen) {
    memset(ref, 0, sizeof *ref);
    if (!text || !*text) return db_errf(err, errlen, "empty reference");
    if (strncasecmp(text, "https://", 8) == 0 || strncasecmp(text, "http://", 7) == 0)
        return parse_url(text, ref, err, errlen);
    if (strncmp(text, "hf:", 3) != 0)
        return db_errf(err, errlen, "%s: not a reference (hf:ORG/REPO/PATH[@REVISION], an http(s) URL or a catalogue name)",
                       text);
    for (const char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return db_errf(err, errlen, "hf reference: has a control character");
    const char *s = text + 3;
    ref->kind = DB_REF_HF;
    snprintf(ref->repo_type, sizeof ref->repo_type, "model");
    if (strncmp(s, "datasets/", 9) == 0) { snprintf(ref->repo_type, sizeof ref->repo_type, "dataset"); s += 9; }
    else if (strncmp(s, "spaces/", 7) == 0) { snprintf(ref->repo_type, sizeof ref->repo_type, "space"); s += 7; }
    else if (strncmp(s, "models/", 7) == 0) s += 7;
    const char *at = strrchr(s, '@');
    size_t body_len = at ? (size_t)(at - s) : strlen(s);
    if (at) {
        const char *rev = at + 1;
        if (!name_ok(rev, strlen(rev)))
            return db_errf(err, errlen, "%s: revision '%s' is not a branch, tag or commit name ([A-Za-z0-9._-])", text, rev);
        ref->revision = db_strdup(rev);
        ref->revision_given = true;
    } else {
        ref->revision = db_strdup("main");
    }
    const char *slash1 = memchr(s, '/', body_len);
    const char *slash2 = slash1 ? memchr(slash1 + 1, '/', body_len - (size_t)(slash1 + 1 - s)) : NULL;
    if (!slash1 || !slash2) {
        db_fetch_ref_free(ref);
        return db_errf(err, errlen, "%s: expected hf:ORG/REPO/PATH[@REVISION]", text);
    }
    if (!name_ok(s, (size_t)(slash1 - s)) || !name_ok(slash1 + 1, (size_t)(slash2 - slash1 - 1))) {
        db_fetch_ref_free(ref);
        return db_errf(err, errlen, "%s: ORG and REPO may hold only [A-Za-z0-9._-]", text);
    }
    ref->org = db_strndup(s, (size_t)(slash1 - s));
    ref->repo = db_strndup(slash1 + 1, (size_t)(slash2 - slash1 - 1));
    ref->path = db_strndup(slash2 + 1, body_len - (size_t)(slash2 + 1 - s));
    if (!ref->org || !ref->repo || !ref->path || !ref->revision) {
        db_fetch_ref_free(ref);
        return db_errf(err, errlen, "out of memory");
    }
    if (!path_ok(ref->path, err, errlen, text)) {
        db_fetch_ref_free(ref);
        return -1;
    }
    return 0;
}

/* percent-encode everything but RFC 3986's unreserved characters */
static int append_escaped(db_str *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            if (db_str_appendn(b, (const char *)&c, 1) < 0) return -1;
        } else if (db_str_printf(b, "%%%02X", c) < 0) {
            return -1;
        }
    }
    return 0;
}

char *db_fetch_ref_url(const db_fetch_ref *ref, const char *endpoint) {
    if (ref->kind == DB_REF_URL) return db_strdup(ref->url);
    db_str b;
    db_str_init(&b);
    int rc = db_str_append(&b, endpoint);
    if (strcmp(ref->repo_type, "dataset") == 0) rc |= db_str_append(&b, "/datasets");
    else if (strcmp(ref->repo_type, "space") == 0) rc |= db_str_append(&b, "/spaces");
    rc |= db_str_printf(&b, "/%s/%s/resolve/", ref->org, ref->repo);
    rc |= append_escaped(&b, ref->revision, strlen(ref->revision));
    const char *p = ref->path;
    while (rc == 0) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        rc |= db_str_append(&b, "/");
        rc |= append_escaped(&b, p, n);
        if (!e) break;
        p = e + 1;
    }
    if (rc != 0) {
        db_str_free(&b);
        return NULL;
    }
    return db_str_take(&b);
}

/* a host name or address safe as one path component */
static int append_host(db_str *b, const char *h, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        char o = (char)(isalnum(c) || c == '.' || c == '-' ? tolower(c) : '_');
        if (db_str_appendn(b, &o, 1) < 0) return -1;
    }
    return 0;
}

char *db_fetch_cache_rel(const db_fetch_ref *ref) {
    db_str b;
    db_str_init(&b);
    int rc = 0;
    if (ref->kind == DB_REF_HF) {
        rc |= db_str_append(&b, "hub/");
        if (strcmp(ref->repo_type, "dataset") == 0) rc |= db_str_append(&b, "datasets/");
        else if (strcmp(ref->repo_type, "space") == 0) rc |= db_str_append(&b, "spaces/");
        rc |= db_str_printf(&b, "%s/%s/%s/%s", ref->org, ref->repo, ref->revision, ref->path);
    } else {
        const char *u = ref->url;
        const char *host = strstr(u, "://");
        if (!host) return NULL;
        host += 3;
        size_t hn = strcspn(host, "/?#");
        const char *at = memchr(host, '@', hn);   /* drop user:password@ */
        if (at) {
            hn -= (size_t)(at + 1 - host);
            host = at + 1;
        }
        if (hn == 0 || (hn == 1 && host[0] == '.') || (hn == 2 && host[0] == '.' && host[1] == '.')) return NULL;
        char hex[65];
        if (db_sha256_buf(u, strlen(u), hex) < 0) return NULL;
        rc |= db_str_append(&b, "url/");
        rc |= append_host(&b, host, hn);
        rc |= db_str_printf(&b, "/%.16s/", hex);
        /* the last non-empty path component, made safe */
        const char *path = host + hn;
        size_t pn = strcspn(path, "?#");
        const char *name = NULL;
        size_t nn = 0;
        for (size_t i = 0; i < pn;) {
            while (i < pn && path[i] == '/') i++;
            size_t j = i;
            while (j < pn && path[j] != '/') j++;
            if (j > i) { name = path + i; nn = j - i; }
            i = j;
        }
        if (!name || (nn == 1 && name[0] == '.') || (nn == 2 && name[0] == '.' && name[1] == '.')) {
            rc |= db_str_append(&b, "index");
        } else {
            for (size_t i = 0; i < nn && i < 200; i++) {
                unsigned char c = (unsigned char)name[i];
                char o = (char)(isalnum(c) || c == '.' || c == '-' || c == '_' || c == '%' ? c : '_');
                rc |= db_str_appendn(&b, &o, 1);
            }
        }
    }
    if (rc != 0) {
        db_str_free(&b);
        return NULL;
    }
    return db_str_take(&b);
}

char *db_fetch_redact_url(const char *url) {
    if (!url) return NULL;
    const char *s = strstr(url, "://");
    size_t end = strcspn(url, "?#");
    db_str b;
    db_str_init(&b);
    int rc = 0;
    if (s && (size_t)(s - url) < end) {
        s += 3;
        size_t hn = strcspn(s, "/?#");
        const char *at = NULL;
        for (size_t i = 0; i < hn; i++)
            if (s[i] == '@') at = s + i;
        rc |= db_str_appendn(&b, url, (size_t)(s - url));
        const char *rest = at ? at + 1 : s;
        rc |= db_str_appendn(&b, rest, end - (size_t)(rest - url));
    } else {
        rc |= db_str_appendn(&b, url, end);
    }
    if (url[end]) rc |= db_str_append(&b, url[end] == '?' ? "?..." : "#...");
    if (rc != 0) {
        db_str_free(&b);
        return NULL;
    }
    return db_str_take(&b);
}

int db_fetch_etag_hash(const char *etag, char out[65]) {
    out[0] = 0;
    if (!etag) return 0;
    const char *s = etag;
    while (*s == ' ' || *s == '\t') s++;
    if (s[0] == 'W' && s[1] == '/') s += 2;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') { s++; n -= 2; }
    if (n != 64 && n != 40) return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)s[i])) return 0;
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    out[n] = 0;
    return (int)n;
}

/* ---- headers ---- */

void db_fetch_headers_init(db_fetch_headers *h) {
    memset(h, 0, sizeof *h);
    h->range_start = h->range_total = -1;
    h->retry_after = -1;
    h->linked_size = -1;
}

static void copy_value(char *dst, size_t cap, const char *v, size_t n) {
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

/* a decimal that fills v[0..n) exactly; -1 otherwise */
static long long parse_ll(const char *v, size_t n) {
    if (n == 0 || n > 18) return -1;
    long long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)v[i])) return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

void db_fetch_header_line(db_fetch_headers *h, const char *line, size_t len) {
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    if (len == 0) {   /* end of one response's headers */
        if (h->repo_commit[0] && !h->hub_etag[0] && h->etag[0]) snprintf(h->hub_etag, sizeof h->hub_etag, "%s", h->etag);
        if (h->repo_commit[0] && !h->commit[0]) snprintf(h->commit, sizeof h->commit, "%s", h->repo_commit);
        return;
    }
    if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', len);
        h->status = 0;
        if (sp) {
            const char *d = sp + 1;
            size_t rest = len - (size_t)(d - line);
            if (rest >= 3 && isdigit((unsigned char)d[0]) && isdigit((unsigned char)d[1]) && isdigit((unsigned char)d[2]))
                h->status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
        }
        h->range_start = h->range_total = -1;
        h->retry_after = -1;
        h->etag[0] = 0;
        h->repo_commit[0] = 0;
        return;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon) return;
    size_t kn = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vn = len - kn - 1;
    while (vn && (*v == ' ' || *v == '\t')) { v++; vn--; }
    while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t')) vn--;
#define KEY(name) (kn == sizeof(name) - 1 && strncasecmp(line, name, kn) == 0)
    if (KEY("ETag")) {
        copy_value(h->etag, sizeof h->etag, v, vn);
    } else if (KEY("X-Repo-Commit")) {
        copy_value(h->repo_commit, sizeof h->repo_commit, v, vn);
    } else if (KEY("X-Linked-Etag")) {
        if (!h->linked_etag[0]) copy_value(h->linked_etag, sizeof h->linked_etag, v, vn);
    } else if (KEY("X-Linked-Size")) {
        if (h->linked_size < 0) h->linked_size = parse_ll(v, vn);
    } else if (KEY("Retry-After")) {
        long long s = parse_ll(v, vn);   /* an HTTP date is ignored: the backoff applies */
        h->retry_after = s < 0 ? -1 : (double)s;
    } else if (KEY("Content-Range")) {
        /* bytes START-END/TOTAL (TOTAL may be '*') */
        if (vn > 6 && strncasecmp(v, "bytes ", 6) == 0) {
            const char *p = v + 6, *end = v + vn;
            const char *dash = memchr(p, '-', (size_t)(end - p));
            const char *sl = memchr(p, '/', (size_t)(end - p));
            if (dash && sl && dash < sl) {
                h->range_start = parse_ll(p, (size_t)(dash - p));
                h->range_total = parse_ll(sl + 1, (size_t)(end - sl - 1));
            }
        }
    }
#undef KEY
}
