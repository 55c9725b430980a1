/* fetch.h — downloads into the per-user cache (libcurl): Hugging Face Hub
 * references (hf:[datasets/|spaces/]ORG/REPO/PATH[@REVISION]) and plain
 * http(s) URLs, resumed with HTTP Range, verified by sha256, retried with
 * backoff, locked so concurrent fetches of one file download it once
 * (docs/fetch.md has the cache layout and the environment variables).
 *
 * The Hub token ($HF_TOKEN, or opts.token) is sent only to the Hub endpoint
 * (libcurl's bearer authentication, which libcurl drops on a redirect to
 * another host or port) and never appears in an error message, the cache
 * metadata or anything else this module writes.
 */
#ifndef DECOBENCH_FETCH_H
#define DECOBENCH_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- references (pure) ---- */

typedef enum { DB_REF_HF, DB_REF_URL } db_ref_kind;

typedef struct db_fetch_ref {
    db_ref_kind kind;
    /* DB_REF_HF: repo_type is "model", "dataset" or "space" */
    char repo_type[8];
    char *org, *repo, *path, *revision;   /* revision "main" when not given */
    bool revision_given;
    /* DB_REF_URL: the URL as given */
    char *url;
} db_fetch_ref;

/* Parse "hf:[datasets/|spaces/|models/]ORG/REPO/PATH[@REVISION]" or an
 * http:// / https:// URL.  ORG, REPO and REVISION are [A-Za-z0-9._-]
 * (not "." or ".."); PATH is one or more '/'-separated components, none
 * empty, "." or "..", without control characters or backslashes; REVISION
 * is split at the last '@'.  Returns 0, or -1 with one line in err. */
int  db_fetch_ref_parse(const char *text, db_fetch_ref *ref, char *err, size_t errlen);
void db_fetch_ref_free(db_fetch_ref *ref);

/* The download URL of ref: for hf, ENDPOINT[/datasets|/spaces]/ORG/REPO/
 * resolve/REVISION/PATH with each path component percent-encoded; for a
 * URL, the URL itself.  endpoint without a trailing '/'.  malloc'd. */
char *db_fetch_ref_url(const db_fetch_ref *ref, const char *endpoint);

/* The file's place under the cache directory: "hub/ORG/REPO/REVISION/PATH"
 * ("hub/datasets/..." and "hub/spaces/..." for those repo types), or for a
 * URL "url/HOST/KEY/NAME" (HOST from the URL, KEY the first 16 hex digits
 * of the URL's sha256, NAME its last path component or "index").
 * malloc'd, or NULL when out of memory or the URL has no host. */
char *db_fetch_cache_rel(const db_fetch_ref *ref);

/* url without "user:password@" and without "?query" / "#fragment" (for
 * messages and metadata).  malloc'd. */
char *db_fetch_redact_url(const char *url);

/* A Hub etag as huggingface_hub normalises it (a leading W/ and the
 * quotes dropped), lowercased.  Returns 64 when it is a sha256 (an LFS
 * file), 40 when a git blob sha1 (a file in git), else 0; out gets the
 * normalised hex (65 bytes). */
int db_fetch_etag_hash(const char *etag, char out[65]);

/* ---- response headers (pure) ---- */

typedef struct db_fetch_headers {
    /* the response being read (reset at each status line) */
    int status;
    long long range_start, range_total;   /* Content-Range, -1 if absent */
    double retry_after;                   /* Retry-After seconds, -1 if absent */
    char etag[80];
    char repo_commit[80];
    /* across the redirect chain: the first seen */
    char linked_etag[80];                 /* X-Linked-Etag */
    long long linked_size;                /* X-Linked-Size, -1 */
    char hub_etag[80];                    /* ETag of a response carrying X-Repo-Commit */
    char commit[80];                      /* X-Repo-Commit */
} db_fetch_headers;

void db_fetch_headers_init(db_fetch_headers *h);
/* Feed one raw header line (as libcurl's header callback gets it, with or
 * without CRLF): a status line starts a new response, the blank line ends
 * one. */
void db_fetch_header_line(db_fetch_headers *h, const char *line, size_t len);

/* ---- downloading ---- */

typedef struct db_fetch_opts {
    const char *cache_dir;   /* NULL: db_cache_dir() (outfile.h) */
    const char *endpoint;    /* NULL: $DECOBENCH_HF_ENDPOINT, $HF_ENDPOINT, https://huggingface.co */
    const char *token;       /* NULL: $HF_TOKEN */
    const char *sha256;      /* expected sha256 (hex), or NULL */
    int offline;             /* 1 cache only, 0 online, -1 from $HF_HUB_OFFLINE */
    int retries;             /* attempts after the first (default 4) */
    double timeout_s;        /* connect timeout and stall limit (default 30 s) */
    double backoff_s;        /* first retry delay, doubled each time, capped at 60 (default 1) */
    bool progress;           /* draw a progress bar on stderr */
    const char *label;       /* the name the progress bar shows (default: the file name) */
} db_fetch_opts;

void db_fetch_opts_init(db_fetch_opts *o);

typedef struct db_fetch_info {
    char sha256[65];
    char revision[80];       /* X-Repo-Commit (hf), else the revision asked for; "" for URLs */
    char source[16];         /* how the sha256 was checked: "given", "hub", "git-sha1", "recorded", "computed" */
    char url[512];           /* the (redacted) URL */
    long long size;
    bool cached;             /* served from the cache without a download */
} db_fetch_info;

enum { DB_FETCH_OK = 0, DB_FETCH_FAILED = -1, DB_FETCH_BAD_INPUT = -2 };

/* Fetch ref (a reference text as db_fetch_ref_parse reads it) into the
 * cache unless it is there already; *local_path gets the cached file's
 * path (malloc'd).  Returns DB_FETCH_OK, DB_FETCH_BAD_INPUT (the reference
 * or an option is malformed) or DB_FETCH_FAILED (network, HTTP status,
 * verification, disk), with one line in err.  Needs curl_global_init
 * (db_fetch_global_init) once per process. */
int db_fetch(const db_fetch_opts *opts, const char *ref, char **local_path, db_fetch_info *info,
             char *err, size_t errlen);

/* curl_global_init once (thread-unsafe, call from main).  0 or -1. */
int db_fetch_global_init(void);

/* The metadata fetch recorded for a cached reference (its sha256 and
 * revision), without any network: 1 when the file is in the cache, 0 when
 * not, -1 on a bad reference.  *local_path (optional) gets the path. */
int db_fetch_lookup(const db_fetch_opts *opts, const char *ref, char **local_path, db_fetch_info *info,
                    char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
