/* test_fetch.c — the pure parts of harness/util/fetch.h: hf: reference and
 * URL parsing, download URLs, cache paths, URL redaction, Hub etags and
 * response header parsing.  (Downloads against a real server:
 * tests/fetch-check.sh.) */
#include "test.h"

#include <stdlib.h>

#include "harness/util/fetch.h"

static void test_ref_parse_hf(void) {
    db_fetch_ref r;
    char err[256];
    CHECK_INT_EQ(db_fetch_ref_parse("hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf", &r, err, sizeof err), 0);
    CHECK_INT_EQ(r.kind, DB_REF_HF);
    CHECK_STR_EQ(r.repo_type, "model");
    CHECK_STR_EQ(r.org, "Qwen");
    CHECK_STR_EQ(r.repo, "Qwen2.5-0.5B-Instruct-GGUF");
    CHECK_STR_EQ(r.path, "qwen2.5-0.5b-instruct-q4_k_m.gguf");
    CHECK_STR_EQ(r.revision, "main");
    CHECK(!r.revision_given);
    db_fetch_ref_free(&r);

    CHECK_INT_EQ(db_fetch_ref_parse("hf:datasets/epfl-dlab/JSONSchemaBench/data/Github_easy/test.parquet@0123abc", &r, err,
                                    sizeof err), 0);
    CHECK_STR_EQ(r.repo_type, "dataset");
    CHECK_STR_EQ(r.org, "epfl-dlab");
    CHECK_STR_EQ(r.repo, "JSONSchemaBench");
    CHECK_STR_EQ(r.path, "data/Github_easy/test.parquet");
    CHECK_STR_EQ(r.revision, "0123abc");
    CHECK(r.revision_given);
    db_fetch_ref_free(&r);

    /* the revision is split at the last '@': a path may hold one */
    CHECK_INT_EQ(db_fetch_ref_parse("hf:o/r/a@b/c.txt@v1.0", &r, err, sizeof err), 0);
    CHECK_STR_EQ(r.path, "a@b/c.txt");
    CHECK_STR_EQ(r.revision, "v1.0");
    db_fetch_ref_free(&r);
}

static void test_ref_parse_bad(void) {
    const char *bad[] = {
        "", "hf:", "hf:org", "hf:org/repo", "hf:org/repo/", "hf:org/repo/a//b", "hf:org/repo/../x",
        "hf:org/repo/a/./b", "hf:../repo/x", "hf:org/re po/x", "hf:org/repo/x@", "hf:org/repo/x@a/b",
        "hf:org/repo/x@..", "hf:org/repo/a\\b", "hf:org/repo/a\nb", "ftp://host/x", "file:///etc/passwd",
        "https:///nohost", "https://host/a b", "model.gguf",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        db_fetch_ref r;
        char err[256] = "";
        int rc = db_fetch_ref_parse(bad[i], &r, err, sizeof err);
        CHECK_MSG(rc == -1, "'%s' was accepted", bad[i]);
        CHECK_MSG(err[0] != 0, "'%s': no error text", bad[i]);
        if (rc == 0) db_fetch_ref_free(&r);
    }
}

static void test_ref_url_and_cache_path(void) {
    db_fetch_ref r;
    char err[256];
    CHECK_INT_EQ(db_fetch_ref_parse("hf:org/repo/dir/a b%c+d.gguf@v2", &r, err, sizeof err), 0);
    char *u = db_fetch_ref_url(&r, "http://127.0.0.1:8080");
    CHECK_STR_EQ(u, "http://127.0.0.1:8080/org/repo/resolve/v2/dir/a%20b%25c%2Bd.gguf");
    free(u);
    char *c = db_fetch_cache_rel(&r);
    CHECK_STR_EQ(c, "hub/org/repo/v2/dir/a b%c+d.gguf");
    free(c);
    db_fetch_ref_free(&r);

    CHECK_INT_EQ(db_fetch_ref_parse("hf:datasets/o/r/q.jsonl", &r, err, sizeof err), 0);
    u = db_fetch_ref_url(&r, "https://huggingface.co");
    CHECK_STR_EQ(u, "https://huggingface.co/datasets/o/r/resolve/main/q.jsonl");
    free(u);
    c = db_fetch_cache_rel(&r);
    CHECK_STR_EQ(c, "hub/datasets/o/r/main/q.jsonl");
    free(c);
    db_fetch_ref_free(&r);

    CHECK_INT_EQ(db_fetch_ref_parse("https://user:pw@Example.COM:8443/a/b/question.jsonl?x=1", &r, err, sizeof err), 0);
    u = db_fetch_ref_url(&r, "unused");
    CHECK_STR_EQ(u, "https://user:pw@Example.COM:8443/a/b/question.jsonl?x=1");
    free(u);
    c = db_fetch_cache_rel(&r);
    /* host lowercased, ':' made safe, no credentials, a 16-hex key, the last component */
    CHECK(c && strncmp(c, "url/example.com_8443/", 21) == 0);
    CHECK(c && strlen(c) == 21 + 16 + 1 + strlen("question.jsonl"));
    CHECK(c && strcmp(c + 21 + 16, "/question.jsonl") == 0);
    CHECK(c && !strstr(c, "pw"));
    free(c);
    db_fetch_ref_free(&r);

    /* no file name: "index"; a ".." name never reaches the path */
    CHECK_INT_EQ(db_fetch_ref_parse("http://h/", &r, err, sizeof err), 0);
    c = db_fetch_cache_rel(&r);
    CHECK(c && strcmp(c + strlen(c) - 6, "/index") == 0);
    free(c);
    db_fetch_ref_free(&r);
    CHECK_INT_EQ(db_fetch_ref_parse("http://h/x/..", &r, err, sizeof err), 0);
    c = db_fetch_cache_rel(&r);
    CHECK(c && !strstr(c, ".."));
    free(c);
    db_fetch_ref_free(&r);
}

static void test_redact(void) {
    char *s = db_fetch_redact_url("https://user:secret@host/p/f.bin?token=abc#frag");
    CHECK_STR_EQ(s, "https://host/p/f.bin?...");
    free(s);
    s = db_fetch_redact_url("http://host/f");
    CHECK_STR_EQ(s, "http://host/f");
    free(s);
    s = db_fetch_redact_url("http://host/a@b/f");   /* an '@' in the path is not userinfo */
    CHECK_STR_EQ(s, "http://host/a@b/f");
    free(s);
}

static void test_etag(void) {
    char h[65];
    CHECK_INT_EQ(db_fetch_etag_hash("\"4B6D33E79484F9841C487EE87D1CF6AA8C6066F61D5D482FF09E5A007FAFDF04\"", h), 64);
    CHECK_STR_EQ(h, "4b6d33e79484f9841c487ee87d1cf6aa8c6066f61d5d482ff09e5a007fafdf04");
    CHECK_INT_EQ(db_fetch_etag_hash("W/\"2498d09719b92937c9408f9d7e6efbeaaceb0413\"", h), 40);
    CHECK_STR_EQ(h, "2498d09719b92937c9408f9d7e6efbeaaceb0413");
    CHECK_INT_EQ(db_fetch_etag_hash("\"5f3a-64c1b2\"", h), 0);
    CHECK_INT_EQ(db_fetch_etag_hash("\"4b6d33e79484f9841c487ee87d1cf6aa8c6066f61d5d482ff09e5a007fafdf0z\"", h), 0);
    CHECK_INT_EQ(db_fetch_etag_hash(NULL, h), 0);
}

static void feed(db_fetch_headers *h, const char *line) { db_fetch_header_line(h, line, strlen(line)); }

static void test_headers(void) {
    db_fetch_headers h;
    db_fetch_headers_init(&h);
    /* the Hub's 302 for an LFS file, then the CDN's 206 */
    feed(&h, "HTTP/1.1 302 Found\r\n");
    feed(&h, "X-Repo-Commit: 0123456789abcdef0123456789abcdef01234567\r\n");
    feed(&h, "x-linked-etag: \"aaaa\"\r\n");
    feed(&h, "X-Linked-Size: 12345\r\n");
    feed(&h, "ETag: \"hub-etag\"\r\n");
    feed(&h, "Location: https://cdn/x\r\n");
    feed(&h, "\r\n");
    CHECK_INT_EQ(h.status, 302);
    feed(&h, "HTTP/2 206 \r\n");
    feed(&h, "etag: \"cdn-etag\"\r\n");
    feed(&h, "Content-Range: bytes 100-12344/12345\r\n");
    feed(&h, "\r\n");
    CHECK_INT_EQ(h.status, 206);
    CHECK_INT_EQ(h.range_start, 100);
    CHECK_INT_EQ(h.range_total, 12345);
    CHECK_STR_EQ(h.linked_etag, "\"aaaa\"");
    CHECK_INT_EQ(h.linked_size, 12345);
    CHECK_STR_EQ(h.commit, "0123456789abcdef0123456789abcdef01234567");
    CHECK_STR_EQ(h.hub_etag, "\"hub-etag\"");   /* not the CDN's */
    CHECK_STR_EQ(h.etag, "\"cdn-etag\"");

    /* a 503 with Retry-After, then a 200 without a range: reset per response */
    db_fetch_headers_init(&h);
    feed(&h, "HTTP/1.1 503 Service Unavailable\n");
    feed(&h, "Retry-After: 7\n");
    feed(&h, "Content-Range: bytes */100\n");
    CHECK_INT_EQ(h.status, 503);
    CHECK_NEAR(h.retry_after, 7, 0);
    CHECK_INT_EQ(h.range_start, -1);
    feed(&h, "\n");
    feed(&h, "HTTP/1.0 200 OK\n");
    CHECK_INT_EQ(h.status, 200);
    CHECK_NEAR(h.retry_after, -1, 0);
    feed(&h, "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\n");   /* a date: ignored */
    CHECK_NEAR(h.retry_after, -1, 0);
    CHECK_STR_EQ(h.commit, "");
    CHECK_STR_EQ(h.hub_etag, "");
    CHECK_INT_EQ(h.linked_size, -1);
}

void suite_fetch(void) {
    RUN(test_ref_parse_hf);
    RUN(test_ref_parse_bad);
    RUN(test_ref_url_and_cache_path);
    RUN(test_redact);
    RUN(test_etag);
    RUN(test_headers);
}
