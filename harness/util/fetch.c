/* fetch.c — downloads into the per-user cache with libcurl's easy
 * interface (fetch.h): one GET per attempt (a Range request when a partial
 * download is there), redirects followed, retries with exponential backoff
 * on 5xx, 429, timeouts and cut connections, the sha256 checked against
 * every hash known (given, the Hub's X-Linked-Etag / ETag, a git blob sha1,
 * the one recorded at the first download), a flock so concurrent fetches
 * of one file download it once, and the file renamed into place only
 * after it verified.  Bookkeeping lives in CACHE/.fetch/KEY.{lock,part,json}.
 */
#include "fetch.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "outfile.h"
#include "sha256.h"
#include "util.h"

void db_fetch_opts_init(db_fetch_opts *o) {
    memset(o, 0, sizeof *o);
    o->offline = -1;
    o->retries = 4;
    o->timeout_s = 30;
    o->backoff_s = 1;
}

int db_fetch_global_init(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

/* ---- paths ---- */

typedef struct paths {
    db_fetch_ref ref;
    char *cache, *rel, *final, *state, *lock, *part, *meta, *url, *shown_url;
} paths;

static void paths_free(paths *p) {
    db_fetch_ref_free(&p->ref);
    char *owned[] = { p->cache, p->rel, p->final, p->state, p->lock, p->part, p->meta, p->url, p->shown_url };
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) free(owned[i]);
}

static bool env_true(const char *name) {
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
                 strcasecmp(v, "on") == 0);
}

static const char *endpoint_of(const db_fetch_opts *o) {
    const char *e = o->endpoint;
    if (!e || !*e) e = getenv("DECOBENCH_HF_ENDPOINT");
    if (!e || !*e) e = getenv("HF_ENDPOINT");
    if (!e || !*e) e = "https://huggingface.co";
    return e;
}

static int paths_init(paths *p, const db_fetch_opts *o, const char *text, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    if (db_fetch_ref_parse(text, &p->ref, err, errlen) < 0) return DB_FETCH_BAD_INPUT;
    const char *ep = endpoint_of(o);
    if (strncmp(ep, "https://", 8) != 0 && strncmp(ep, "http://", 7) != 0)
        return db_errf(err, errlen, "Hub endpoint '%s': not an http(s) URL (DECOBENCH_HF_ENDPOINT / HF_ENDPOINT)", ep),
               DB_FETCH_BAD_INPUT;
    char *epc = db_strdup(ep);
    if (!epc) return db_errf(err, errlen, "out of memory");
    for (size_t n = strlen(epc); n > 0 && epc[n - 1] == '/'; n--) epc[n - 1] = 0;
    p->url = db_fetch_ref_url(&p->ref, epc);
    free(epc);
    p->rel = db_fetch_cache_rel(&p->ref);
    if (!p->rel) return db_errf(err, errlen, "%s: the URL has no usable host", text), DB_FETCH_BAD_INPUT;
    if (o->cache_dir && *o->cache_dir) p->cache = db_strdup(o->cache_dir);
    else if (!(p->cache = db_cache_dir(err, errlen))) return DB_FETCH_FAILED;
    char key[65];
    if (!p->url || !p->cache || db_sha256_buf(p->rel, strlen(p->rel), key) < 0)
        return db_errf(err, errlen, "out of memory");
    key[32] = 0;
    p->shown_url = db_fetch_redact_url(p->url);
    p->final = db_path_join(p->cache, p->rel);
    p->state = db_path_join(p->cache, ".fetch");
    db_str b;
    db_str_init(&b);
    if (p->state) {
        db_str_printf(&b, "%s/%s.lock", p->state, key);
        p->lock = db_str_take(&b);
        db_str_init(&b);
        db_str_printf(&b, "%s/%s.part", p->state, key);
        p->part = db_str_take(&b);
        db_str_init(&b);
        db_str_printf(&b, "%s/%s.json", p->state, key);
        p->meta = db_str_take(&b);
    }
    if (!p->shown_url || !p->final || !p->state || !p->lock || !p->part || !p->meta)
        return db_errf(err, errlen, "out of memory");
    return 0;
}

/* mkdir -p (mode 0700) of path's directory part when dir_of, else of path */
static int mkdirs(const char *path, bool dir_of, char *err, size_t errlen) {
    char *d = dir_of ? db_dirname(path) : db_strdup(path);
    if (!d) return db_errf(err, errlen, "out of memory");
    for (char *s = d + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(d, 0700) != 0 && errno != EEXIST) {
                db_errf(err, errlen, "cache: %s: %s", d, strerror(errno));
                free(d);
                return -1;
            }
            struct stat st;
            int se = stat(d, &st) != 0 ? errno : 0;
            if (se || !S_ISDIR(st.st_mode)) {
                db_errf(err, errlen, "cache: %s: %s", d, se ? strerror(se) : "not a directory");
                free(d);
                return -1;
            }
            *s = c;
            if (!c) break;
        }
    }
    free(d);
    return 0;
}

/* ---- metadata ---- */

static bool is_commit(const char *rev) {
    if (strlen(rev) != 40) return false;
    for (const char *s = rev; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return false;
    return true;
}

/* read KEY.json into info; 0 when present and well formed, else -1 */
static int meta_read(const paths *p, db_fetch_info *info) {
    size_t len;
    char *t = db_read_file(p->meta, &len, NULL, 0);
    if (!t) return -1;
    cJSON *j = cJSON_ParseWithLength(t, len);
    free(t);
    if (!j) return -1;
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(j, "sha256");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(j, "size");
    const cJSON *rev = cJSON_GetObjectItemCaseSensitive(j, "revision");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "source");
    char h[65];
    int ok = cJSON_IsString(sha) && db_fetch_etag_hash(sha->valuestring, h) == 64 && cJSON_IsNumber(size) &&
             size->valuedouble >= 0;
    if (ok) {
        snprintf(info->sha256, sizeof info->sha256, "%s", h);
        info->size = (long long)size->valuedouble;
        snprintf(info->revision, sizeof info->revision, "%s", cJSON_IsString(rev) ? rev->valuestring : "");
        snprintf(info->source, sizeof info->source, "%s", cJSON_IsString(src) ? src->valuestring : "computed");
    }
    cJSON_Delete(j);
    return ok ? 0 : -1;
}

static int meta_write(const paths *p, const char *text, const db_fetch_info *info, char *err, size_t errlen) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return db_errf(err, errlen, "out of memory");
    if (p->ref.kind == DB_REF_HF) cJSON_AddStringToObject(j, "ref", text);   /* no credentials in an hf: text */
    cJSON_AddStringToObject(j, "url", p->shown_url);
    cJSON_AddStringToObject(j, "path", p->rel);
    cJSON_AddStringToObject(j, "sha256", info->sha256);
    cJSON_AddNumberToObject(j, "size", (double)info->size);
    cJSON_AddStringToObject(j, "revision", info->revision);
    cJSON_AddStringToObject(j, "source", info->source);
    char when[32];
    db_iso8601(db_unix_ms(), when, sizeof when);
    cJSON_AddStringToObject(j, "fetched", when);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s) return db_errf(err, errlen, "out of memory");
    int rc = db_write_file_atomic(p->meta, s, strlen(s), err, errlen);
    free(s);
    return rc;
}

/* The cached file and its metadata agree (and match want_sha when given):
 * 1 with info filled, else 0. */
static int cached(const paths *p, const char *want_sha, db_fetch_info *info) {
    struct stat st;
    db_fetch_info m;
    memset(&m, 0, sizeof m);
    if (lstat(p->final, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (meta_read(p, &m) < 0 || m.size != (long long)st.st_size) return 0;
    if (want_sha && strcmp(want_sha, m.sha256) != 0) return 0;
    *info = m;
    snprintf(info->url, sizeof info->url, "%s", p->shown_url);
    info->cached = true;
    return 1;
}

/* ---- hashes ---- */

/* git's blob id: sha1("blob SIZE\0" + content) */
static int git_blob_sha1(const char *path, char hex[41], char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) return db_errf(err, errlen, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return db_errf(err, errlen, "%s: %s", path, strerror(errno));
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char head[48];
    int hn = snprintf(head, sizeof head, "blob %lld", (long long)st.st_size);
    int ok = md && EVP_DigestInit_ex(md, EVP_sha1(), NULL) == 1 && EVP_DigestUpdate(md, head, (size_t)hn + 1) == 1;
    unsigned char buf[65536];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0) ok = EVP_DigestUpdate(md, buf, n) == 1;
    if (ferror(f)) ok = 0;
    fclose(f);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    if (ok) ok = EVP_DigestFinal_ex(md, d, &dl) == 1 && dl == 20;
    EVP_MD_CTX_free(md);
    if (!ok) return db_errf(err, errlen, "%s: sha1 failed", path);
    for (unsigned i = 0; i < 20; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return 0;
}

/* ---- one transfer ---- */

typedef struct xfer {
    const db_fetch_opts *o;
    const char *part, *label;
    CURL *c;
    db_fetch_headers h;
    long long off;        /* bytes already in the part file */
    int fd;
    bool started, range_bad, drew;
    int werr;             /* errno of a failed local write */
    int64_t last_draw;
} xfer;

static size_t on_header(char *buf, size_t size, size_t n, void *ud) {
    db_fetch_header_line(&((xfer *)ud)->h, buf, size * n);
    return size * n;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud) {
    xfer *x = ud;
    size_t len = size * n;
    if (x->h.status != 200 && x->h.status != 206) return len;   /* an error page: dropped */
    if (!x->started) {
        if (x->h.status == 206 && x->h.range_start != x->off) {
            x->range_bad = true;
            return 0;
        }
        if (x->h.status == 200) x->off = 0;   /* the server ignored the Range: start over */
        errno = 0;
        if (x->fd < 0) x->fd = open(x->part, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        struct stat st;
        if (x->fd < 0 || fstat(x->fd, &st) != 0 || !S_ISREG(st.st_mode) || ftruncate(x->fd, (off_t)x->off) != 0 ||
            lseek(x->fd, (off_t)x->off, SEEK_SET) < 0) {
            x->werr = errno ? errno : EINVAL;
            return 0;
        }
        x->started = true;
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = write(x->fd, buf + done, len - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            x->werr = errno;
            return 0;
        }
        done += (size_t)w;
    }
    return len;
}

static void human(double b, char *out, size_t cap) {
    const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int i = 0;
    while (b >= 1024 && i < 4) { b /= 1024; i++; }
    snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void draw_bar(xfer *x, double have, double total) {
    char a[32], b[32];
    human(have, a, sizeof a);
    human(total, b, sizeof b);
    if (total > 0) {
        int width = 30, fill = (int)(width * have / total);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r%-28.28s [%s] %5.1f%% %s / %s ", x->label, bar, 100 * have / total, a, b);
    } else {
        fprintf(stderr, "\r%-28.28s %s ", x->label, a);
    }
    x->drew = true;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    xfer *x = ud;
    int64_t now = db_unix_ms();
    if (!x->o->progress || now - x->last_draw < 100 || !x->started) return 0;
    x->last_draw = now;
    draw_bar(x, (double)x->off + (double)dlnow, dltotal > 0 ? (double)x->off + (double)dltotal : 0);
    return 0;
}

static bool retryable(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_CONNECT: case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR: case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static void sleep_s(double s) {
    if (s <= 0) return;
    struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static const char *token_of(const db_fetch_opts *o) {
    const char *t = o->token ? o->token : getenv("HF_TOKEN");
    return t && *t ? t : NULL;
}

/* Download into p->part.  0, or -1 with err (DB_FETCH_FAILED). */
static int download(const paths *p, const db_fetch_opts *o, const char *token, db_fetch_headers *hout,
                    char *err, size_t errlen) {
    CURL *c = curl_easy_init();
    if (!c) return db_errf(err, errlen, "%s: libcurl initialisation failed", p->shown_url);
    const char *name = strrchr(p->rel, '/');
    xfer x = { .o = o, .part = p->part, .label = o->label ? o->label : name ? name + 1 : p->rel, .c = c, .fd = -1 };
    char cerr[CURL_ERROR_SIZE];
    bool https = strncasecmp(p->url, "https://", 8) == 0;
    long secs = (long)ceil(o->timeout_s > 0 ? o->timeout_s : 30);
    curl_easy_setopt(c, CURLOPT_URL, p->url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");   /* no downgrade */
    curl_easy_setopt(c, CURLOPT_USERAGENT, "decobench/" PACKAGE_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(1000 * (o->timeout_s > 0 ? o->timeout_s : 30)));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);      /* under 1 byte/s for the timeout: stalled */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, secs);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, o->progress ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (token) {   /* libcurl sends it to this host and port only, never on a redirect elsewhere */
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, token);
    }
    int rc = -1;
    double delay = o->backoff_s >= 0 ? o->backoff_s : 1;
    int attempts = 1 + (o->retries > 0 ? o->retries : 0);
    char why[300] = "";
    for (int a = 0; a < attempts; a++) {
        struct stat st;
        x.off = lstat(p->part, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : 0;
        x.started = x.range_bad = false;
        x.werr = 0;
        db_fetch_headers_init(&x.h);
        char range[40];
        snprintf(range, sizeof range, "%lld-", x.off);
        curl_easy_setopt(c, CURLOPT_RANGE, x.off > 0 ? range : NULL);
        cerr[0] = 0;
        CURLcode cc = curl_easy_perform(c);
        struct stat done;
        if (o->progress && x.started && cc == CURLE_OK && x.fd >= 0 && fstat(x.fd, &done) == 0)
            draw_bar(&x, (double)done.st_size, (double)done.st_size);   /* the last state, not the last throttled one */
        if (x.drew) {
            fputc('\n', stderr);
            x.drew = false;
        }
        int status = x.h.status;
        bool again = false;
        double wait = -1;
        if (x.werr) {
            db_errf(err, errlen, "%s: writing %s: %s", p->shown_url, p->part, strerror(x.werr));
            if (x.fd >= 0) close(x.fd);
            x.fd = -1;
            unlink(p->part);   /* free the space; nothing under the final name */
            break;
        }
        if (x.range_bad) {
            snprintf(why, sizeof why, "the server answered a Range request from another offset");
            unlink(p->part);
            again = true;
        } else if (cc == CURLE_OK && (status == 200 || status == 206)) {
            if (x.fd >= 0 && fsync(x.fd) != 0) {
                db_errf(err, errlen, "%s: writing %s: %s", p->shown_url, p->part, strerror(errno));
                unlink(p->part);
                break;
            }
            if (!x.started) {   /* an empty body: an empty file */
                int fd = open(p->part, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0) {
                    db_errf(err, errlen, "%s: writing %s: %s", p->shown_url, p->part, strerror(errno));
                    break;
                }
                close(fd);
            }
            rc = 0;
            break;
        } else if (cc == CURLE_OK && status == 416) {
            snprintf(why, sizeof why, "HTTP 416 for the rest of a partial download");
            unlink(p->part);
            again = true;
        } else if (cc == CURLE_OK && (status == 429 || status >= 500)) {
            snprintf(why, sizeof why, "HTTP %d", status);
            again = true;
            wait = x.h.retry_after;
        } else if (cc == CURLE_OK && (status == 401 || status == 403)) {
            if (p->ref.kind != DB_REF_HF)
                db_errf(err, errlen, "%s: HTTP %d: access denied", p->shown_url, status);
            else if (token)
                db_errf(err, errlen, "%s: HTTP %d: the Hub refused the token in HF_TOKEN (no access to this repository?)",
                        p->shown_url, status);
            else
                db_errf(err, errlen, "%s: HTTP %d: the repository is gated or private; set HF_TOKEN to a token with access",
                        p->shown_url, status);
            break;
        } else if (cc == CURLE_OK && status == 404) {
            db_errf(err, errlen, "%s: HTTP 404: not found (check the repository, revision and path)", p->shown_url);
            break;
        } else if (cc == CURLE_OK) {
            db_errf(err, errlen, "%s: HTTP %d", p->shown_url, status);
            break;
        } else if (retryable(cc)) {
            snprintf(why, sizeof why, "%s", cc == CURLE_OPERATION_TIMEDOUT
                                                 ? "timed out (no data for the timeout)"
                                                 : cerr[0] ? cerr : curl_easy_strerror(cc));
            again = true;
        } else {
            db_errf(err, errlen, "%s: %s", p->shown_url, cerr[0] ? cerr : curl_easy_strerror(cc));
            break;
        }
        if (x.fd >= 0) {
            close(x.fd);
            x.fd = -1;
        }
        if (!again) break;
        if (a + 1 == attempts) {
            db_errf(err, errlen, "%s: %s (gave up after %d attempt%s)", p->shown_url, why, attempts,
                    attempts == 1 ? "" : "s");
            break;
        }
        if (o->progress) fprintf(stderr, "decobench fetch: %s: %s; retrying\n", x.label, why);
        sleep_s(wait >= 0 ? fmin(wait, 60) : delay);
        delay = fmin(delay * 2, 60);
    }
    if (x.fd >= 0) close(x.fd);
    *hout = x.h;
    curl_easy_cleanup(c);
    return rc;
}

/* ---- the whole fetch ---- */

static int verify(const paths *p, const char *given, const db_fetch_headers *h, const char *recorded,
                  db_fetch_info *info, char *err, size_t errlen) {
    char got[65], hub[65] = "", sha1[65] = "";
    struct stat st;
    if (lstat(p->part, &st) != 0) return db_errf(err, errlen, "%s: %s", p->part, strerror(errno));
    long long size = (long long)st.st_size;
    if (h->linked_size >= 0 && h->linked_size != size)
        return db_errf(err, errlen, "%s: got %lld bytes, the Hub says %lld; the download was deleted", p->shown_url,
                       size, h->linked_size);
    if (h->range_total >= 0 && h->range_total != size)
        return db_errf(err, errlen, "%s: got %lld bytes, the server said %lld; the download was deleted",
                       p->shown_url, size, h->range_total);
    if (db_sha256_file(p->part, got, err, errlen) < 0) return -1;
    int kind = db_fetch_etag_hash(h->linked_etag, hub);
    if (kind != 64) {
        char e[65];
        int k = db_fetch_etag_hash(h->hub_etag, e);
        if (k == 64) snprintf(hub, sizeof hub, "%s", e);
        else if (k == 40 && !h->linked_etag[0]) snprintf(sha1, sizeof sha1, "%s", e);
        if (k != 64) hub[0] = 0;
    }
    const char *source = "computed";
    struct { const char *want, *name; } checks[] = {
        { given, "given" }, { hub[0] ? hub : NULL, "hub" }, { recorded, "recorded" },
    };
    for (int i = 2; i >= 0; i--) {
        if (!checks[i].want) continue;
        if (strcmp(checks[i].want, got) != 0)
            return db_errf(err, errlen, "%s: sha256 mismatch: expected %s (%s), got %s; the download was deleted",
                           p->shown_url, checks[i].want,
                           i == 0 ? "given" : i == 1 ? "the Hub's X-Linked-Etag/ETag" : "recorded at the first download",
                           got);
        source = checks[i].name;
    }
    if (sha1[0]) {
        char g1[41];
        if (git_blob_sha1(p->part, g1, err, errlen) < 0) return -1;
        if (strcmp(g1, sha1) != 0)
            return db_errf(err, errlen, "%s: git blob sha1 mismatch: the Hub's ETag says %s, got %s; the download was deleted",
                           p->shown_url, sha1, g1);
        if (strcmp(source, "computed") == 0) source = "git-sha1";
    }
    snprintf(info->sha256, sizeof info->sha256, "%s", got);
    snprintf(info->source, sizeof info->source, "%s", source);
    info->size = size;
    return 0;
}

static int valid_sha(const char *s) {
    char h[65];
    return s && strlen(s) == 64 && db_fetch_etag_hash(s, h) == 64;
}

int db_fetch_lookup(const db_fetch_opts *opts, const char *text, char **local_path, db_fetch_info *info,
                    char *err, size_t errlen) {
    paths p;
    memset(info, 0, sizeof *info);
    if (local_path) *local_path = NULL;
    int rc = paths_init(&p, opts, text, err, errlen);
    if (rc < 0) {
        paths_free(&p);
        return -1;
    }
    int hit = cached(&p, NULL, info);
    if (hit && local_path) *local_path = db_strdup(p.final);
    paths_free(&p);
    return hit;
}

int db_fetch(const db_fetch_opts *opts, const char *text, char **local_path, db_fetch_info *info,
             char *err, size_t errlen) {
    *local_path = NULL;
    memset(info, 0, sizeof *info);
    char given[65] = "";
    if (opts->sha256) {
        if (!valid_sha(opts->sha256))
            return db_errf(err, errlen, "sha256 '%.80s': not 64 hexadecimal digits", opts->sha256), DB_FETCH_BAD_INPUT;
        db_fetch_etag_hash(opts->sha256, given);
    }
    const char *token = token_of(opts);
    if (token)
        for (const char *s = token; *s; s++)
            if ((unsigned char)*s <= 0x20 || *s == 0x7f)
                return db_errf(err, errlen, "HF_TOKEN: has a space or a control character"), DB_FETCH_BAD_INPUT;
    paths p;
    int rc = paths_init(&p, opts, text, err, errlen);
    if (rc < 0) {
        paths_free(&p);
        return rc;
    }
    bool offline = opts->offline < 0 ? env_true("HF_HUB_OFFLINE") : opts->offline != 0;
    if (cached(&p, given[0] ? given : NULL, info)) goto done;
    if (offline) {
        struct stat st;
        if (lstat(p.final, &st) == 0 && given[0])
            rc = db_errf(err, errlen, "%s: the cached file %s does not have the sha256 given, and offline mode is on (HF_HUB_OFFLINE)",
                         text, p.final);
        else
            rc = db_errf(err, errlen, "%s: not in the cache (%s) and offline mode is on (HF_HUB_OFFLINE)", text, p.final);
        goto out;
    }
    if (mkdirs(p.state, false, err, errlen) < 0 || mkdirs(p.final, true, err, errlen) < 0) {
        rc = DB_FETCH_FAILED;
        goto out;
    }
    int lfd = open(p.lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lfd < 0) {
        rc = db_errf(err, errlen, "cache: %s: %s", p.lock, strerror(errno));
        goto out;
    }
    if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        if (opts->progress) fprintf(stderr, "decobench fetch: waiting for another fetch of %s\n", text);
        while (flock(lfd, LOCK_EX) != 0 && errno == EINTR) {}
    }
    if (cached(&p, given[0] ? given : NULL, info)) {   /* another process fetched it meanwhile */
        close(lfd);
        goto done;
    }
    /* trust on first use: a file fetched before at an immutable address must not change */
    db_fetch_info old;
    memset(&old, 0, sizeof old);
    const char *recorded = NULL;
    if (meta_read(&p, &old) == 0 && (p.ref.kind == DB_REF_URL || is_commit(p.ref.revision))) recorded = old.sha256;
    db_fetch_headers h;
    rc = download(&p, opts, p.ref.kind == DB_REF_HF ? token : NULL, &h, err, errlen);   /* the token goes to the Hub only */
    if (rc == 0 && verify(&p, given[0] ? given : NULL, &h, recorded, info, err, errlen) < 0) {
        unlink(p.part);
        rc = -1;
    }
    if (rc == 0) {
        snprintf(info->revision, sizeof info->revision, "%s",
                 h.commit[0] ? h.commit : p.ref.kind == DB_REF_HF ? p.ref.revision : "");
        snprintf(info->url, sizeof info->url, "%s", p.shown_url);
        if (meta_write(&p, text, info, err, errlen) < 0) {
            unlink(p.part);
            rc = -1;
        } else if (rename(p.part, p.final) != 0) {
            db_errf(err, errlen, "cache: %s: %s", p.final, strerror(errno));
            unlink(p.part);
            unlink(p.meta);
            rc = -1;
        }
    }
    close(lfd);   /* releases the lock */
    if (rc < 0) {
        rc = DB_FETCH_FAILED;
        goto out;
    }
    info->cached = false;
    *local_path = db_strdup(p.final);
    paths_free(&p);
    return DB_FETCH_OK;
done:
    *local_path = db_strdup(p.final);
    rc = DB_FETCH_OK;
out:
    paths_free(&p);
    return rc;
}
