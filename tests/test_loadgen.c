/* test_loadgen.c — the serving benchmark's load generator
 * (harness/run/loadgen.h): the SSE parser under every split of a byte
 * stream, the per-API event reading, gamma inter-arrival times against
 * their distribution, and live runs against tests/serve/sse_server.py (a
 * stdlib-Python streaming server on 127.0.0.1, started and stopped by each
 * test): exact texts and chunk counts, closed-loop concurrency and
 * open-loop arrival statistics as the server saw them, every planted fault
 * as a failed result beside succeeding ones, timeouts, cancel and stop.
 */
#include "test.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engines/engine.h"
#include "harness/run/loadgen.h"
#include "harness/util/fetch.h"
#include "harness/util/stats.h"
#include "harness/util/util.h"

extern char **environ;

/* ---- SSE framing ---- */

typedef struct evlist {
    db_str all;   /* events, each followed by '\x1e' */
    int n;
    int ret;      /* what the callback returns */
} evlist;

static int on_ev(void *ctx, const char *data, size_t len) {
    evlist *l = ctx;
    CHECK(data[len] == 0);
    db_str_appendn(&l->all, data, len);
    db_str_append(&l->all, "\x1e");
    l->n++;
    return l->ret;
}

/* BOM, comments, event/id/retry fields, CRLF, CR and LF ends, multi-line
 * data, a bare "data" line, an empty event, a data-less event, a tail
 * without its blank line. */
static const char SAMPLE[] =
    "\xEF\xBB\xBF: a comment\r\n"
    "event: message\r\n"
    "data: {\"a\":1}\r\n"
    "\r\n"
    "id: 7\n"
    "data: line1\n"
    "data:line2\n"
    "data\n"
    "\n"
    "retry: 100\r"
    "data: cr only\r"
    "\r"
    "data: \n\n"
    ":only a comment\n\n"
    "event: ping\n\n"
    "data:  two spaces\r\n\r\n"
    "data: [DONE]\n\n"
    "data: tail";
static const char SAMPLE_EVENTS[] =
    "{\"a\":1}\x1e"
    "line1\nline2\n\x1e"
    "cr only\x1e"
    "\x1e"
    " two spaces\x1e"
    "[DONE]\x1e"
    "tail\x1e";

static void parse_pieces(const char *s, size_t n, const size_t *cuts, int ncuts, evlist *l) {
    db_sse *p = db_sse_new(on_ev, l);
    size_t at = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        CHECK_INT_EQ(db_sse_feed(p, s + at, to - at), 0);
        at = to;
    }
    CHECK_INT_EQ(db_sse_finish(p), 0);
    db_sse_free(p);
}

static void test_sse_every_split(void) {
    size_t n = sizeof SAMPLE - 1;
    evlist l = { .n = 0 };
    db_str_init(&l.all);
    parse_pieces(SAMPLE, n, NULL, 0, &l);
    CHECK_STR_EQ(l.all.s, SAMPLE_EVENTS);
    CHECK_INT_EQ(l.n, 7);
    db_str_free(&l.all);
    int bad = 0;
    for (size_t i = 0; i <= n; i++) {   /* two pieces */
        evlist m = { .n = 0 };
        db_str_init(&m.all);
        parse_pieces(SAMPLE, n, &i, 1, &m);
        if (!m.all.s || strcmp(m.all.s, SAMPLE_EVENTS) != 0) bad++;
        db_str_free(&m.all);
    }
    CHECK_INT_EQ(bad, 0);
    for (size_t i = 0; i <= n; i++)   /* three pieces */
        for (size_t j = i; j <= n; j++) {
            size_t cuts[2] = { i, j };
            evlist m = { .n = 0 };
            db_str_init(&m.all);
            parse_pieces(SAMPLE, n, cuts, 2, &m);
            if (!m.all.s || strcmp(m.all.s, SAMPLE_EVENTS) != 0) bad++;
            db_str_free(&m.all);
        }
    CHECK_INT_EQ(bad, 0);
    /* a byte at a time */
    evlist m = { .n = 0 };
    db_str_init(&m.all);
    db_sse *p = db_sse_new(on_ev, &m);
    for (size_t i = 0; i < n; i++) CHECK_INT_EQ(db_sse_feed(p, SAMPLE + i, 1), 0);
    CHECK_INT_EQ(db_sse_finish(p), 0);
    CHECK_STR_EQ(m.all.s, SAMPLE_EVENTS);
    db_sse_free(p);
    db_str_free(&m.all);
}

static void test_sse_callback_and_limits(void) {
    evlist l = { .ret = 7 };
    db_str_init(&l.all);
    db_sse *p = db_sse_new(on_ev, &l);
    CHECK_INT_EQ(db_sse_feed(p, "data: x\n", 8), 0);
    CHECK_INT_EQ(db_sse_feed(p, "\ndata: y\n\n", 10), 7);   /* the callback's value comes back */
    db_sse_free(p);
    db_str_free(&l.all);

    /* 16 MiB is the limit of one event; many smaller events are fine */
    l = (evlist){ .ret = 0 };
    db_str_init(&l.all);
    p = db_sse_new(on_ev, &l);
    size_t mib = (size_t)1 << 20;
    char *blk = malloc(mib);
    memset(blk, 'x', mib);
    CHECK_INT_EQ(db_sse_feed(p, "data: ", 6), 0);
    int rc = 0, fed = 0;
    for (; fed < 18 && rc == 0; fed++) rc = db_sse_feed(p, blk, mib);
    CHECK_INT_EQ(rc, -1);
    CHECK_INT_EQ(fed, 16);   /* the 16th MiB crosses the limit */
    CHECK_INT_EQ(l.n, 0);
    db_sse_free(p);
    l.n = 0;
    p = db_sse_new(on_ev, &l);
    for (int i = 0; i < 20; i++) {
        CHECK_INT_EQ(db_sse_feed(p, "data: ", 6), 0);
        CHECK_INT_EQ(db_sse_feed(p, blk, mib), 0);
        CHECK_INT_EQ(db_sse_feed(p, "\n\n", 2), 0);
    }
    CHECK_INT_EQ(l.n, 20);
    db_sse_free(p);
    free(blk);
    db_str_free(&l.all);
}

/* ---- events ---- */

static void fresh(db_lg_result *r) {
    memset(r, 0, sizeof *r);
    r->t_first_ns = r->t_done_ns = -1;
    r->usage_prompt_tokens = r->usage_completion_tokens = -1;
    r->prompt_ms = r->predicted_ms = NAN;
    r->prompt_n = r->predicted_n = r->draft_n = r->draft_n_accepted = -1;
}

static int apply(db_api_kind api, const char *s, db_lg_result *r, bool *cb, bool *done, char *err) {
    return db_lg_apply_event(api, s, strlen(s), r, cb, done, err, 256);
}

static void test_apply_openai_completions(void) {
    db_lg_result r;
    fresh(&r);
    bool cb, done;
    char err[256];
    CHECK_INT_EQ(apply(DB_API_OPENAI_COMPLETIONS, "{\"choices\":[{\"index\":0,\"text\":\"Hel\",\"finish_reason\":null}],\"usage\":null}", &r, &cb, &done, err), 0);
    CHECK(cb && !done);
    CHECK_INT_EQ(apply(DB_API_OPENAI_COMPLETIONS, "{\"choices\":[{\"index\":0,\"text\":\"\"}]}", &r, &cb, &done, err), 0);
    CHECK(!cb && !done);   /* empty text: no content */
    CHECK_INT_EQ(apply(DB_API_OPENAI_COMPLETIONS, "{\"choices\":[{\"text\":\"lo \\u00e9\\n\",\"finish_reason\":\"length\"}]}", &r, &cb, &done, err), 0);
    CHECK(cb);
    /* usage in a last chunk with empty choices */
    CHECK_INT_EQ(apply(DB_API_OPENAI_COMPLETIONS, "{\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":2,\"total_tokens\":13}}", &r, &cb, &done, err), 0);
    CHECK(!cb && !done);
    CHECK_INT_EQ(apply(DB_API_OPENAI_COMPLETIONS, " [DONE] ", &r, &cb, &done, err), 0);
    CHECK(!cb && done);
    CHECK_STR_EQ(r.text, "Hello \xC3\xA9\n");
    CHECK_INT_EQ(r.n_chunks, 2);
    CHECK_INT_EQ(r.chunk_tokens[0], 1);
    CHECK_INT_EQ(r.chunk_tokens[1], 1);
    CHECK_INT_EQ(r.chunk_ns[0], -1);   /* the caller stamps the time */
    CHECK_STR_EQ(r.finish_reason, "length");
    CHECK_INT_EQ(r.usage_prompt_tokens, 11);
    CHECK_INT_EQ(r.usage_completion_tokens, 2);
    CHECK(r.tokens == NULL);
    CHECK_INT_EQ(r.n_tokens, -1);   /* content came without ids */
    db_lg_result_free(&r);
}

static void test_apply_openai_chat(void) {
    db_lg_result r;
    fresh(&r);
    bool cb, done;
    char err[256];
    CHECK_INT_EQ(apply(DB_API_OPENAI_CHAT, "{\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}", &r, &cb, &done, err), 0);
    CHECK(!cb);
    CHECK_INT_EQ(apply(DB_API_OPENAI_CHAT, "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}", &r, &cb, &done, err), 0);
    CHECK(!cb);   /* role-only first delta, content "" */
    CHECK_INT_EQ(r.n_chunks, 0);
    CHECK_INT_EQ(apply(DB_API_OPENAI_CHAT, "{\"choices\":[{\"delta\":{\"reasoning_content\":\"hmm \"}}]}", &r, &cb, &done, err), 0);
    CHECK(cb);   /* a reasoning model's thinking is generated text too */
    CHECK_INT_EQ(apply(DB_API_OPENAI_CHAT, "{\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}", &r, &cb, &done, err), 0);
    CHECK(cb);
    CHECK_INT_EQ(apply(DB_API_OPENAI_CHAT, "{\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}", &r, &cb, &done, err), 0);
    CHECK(!cb && !done);
    CHECK_INT_EQ(apply(DB_API_OPENAI_CHAT, "{\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}", &r, &cb, &done, err), 0);
    CHECK_INT_EQ(apply(DB_API_OPENAI_CHAT, "[DONE]", &r, &cb, &done, err), 0);
    CHECK(done);
    CHECK_STR_EQ(r.text, "hmm Hi");
    CHECK_INT_EQ(r.n_chunks, 2);
    CHECK_STR_EQ(r.finish_reason, "stop");
    CHECK_INT_EQ(r.usage_prompt_tokens, 3);
    CHECK_INT_EQ(r.usage_completion_tokens, 4);
    db_lg_result_free(&r);
}

static void test_apply_llama(void) {
    db_lg_result r;
    fresh(&r);
    bool cb, done;
    char err[256];
    CHECK_INT_EQ(apply(DB_API_LLAMA_COMPLETION, "{\"index\":0,\"content\":\"A\",\"tokens\":[5,6],\"stop\":false,\"tokens_predicted\":2}", &r, &cb, &done, err), 0);
    CHECK(cb && !done);
    CHECK_INT_EQ(apply(DB_API_LLAMA_COMPLETION, "{\"content\":\"\",\"tokens\":[],\"stop\":false}", &r, &cb, &done, err), 0);
    CHECK(!cb);
    CHECK_INT_EQ(apply(DB_API_LLAMA_COMPLETION, "{\"content\":\"\",\"tokens\":[7],\"stop\":false}", &r, &cb, &done, err), 0);
    CHECK(cb);   /* held-back bytes: a token without text yet */
    CHECK_INT_EQ(apply(DB_API_LLAMA_COMPLETION, "{\"content\":\"BC\",\"tokens\":[8],\"stop\":false}", &r, &cb, &done, err), 0);
    CHECK_INT_EQ(apply(DB_API_LLAMA_COMPLETION,
                       "{\"index\":0,\"content\":\"\",\"tokens\":[],\"stop\":true,\"stop_type\":\"eos\",\"tokens_predicted\":4,"
                       "\"tokens_evaluated\":9,\"timings\":{\"prompt_n\":8,\"prompt_ms\":12.5,\"predicted_n\":4,"
                       "\"predicted_ms\":40.25,\"draft_n\":6,\"draft_n_accepted\":5}}",
                       &r, &cb, &done, err), 0);
    CHECK(!cb && done);
    CHECK_STR_EQ(r.text, "ABC");
    CHECK_INT_EQ(r.n_chunks, 3);
    CHECK_INT_EQ(r.chunk_tokens[0], 2);
    CHECK_INT_EQ(r.chunk_tokens[1], 1);
    CHECK_INT_EQ(r.chunk_tokens[2], 1);
    CHECK_INT_EQ(r.n_tokens, 4);
    CHECK(r.tokens && r.tokens[0] == 5 && r.tokens[1] == 6 && r.tokens[2] == 7 && r.tokens[3] == 8);
    CHECK_STR_EQ(r.finish_reason, "eos");
    CHECK_INT_EQ(r.usage_prompt_tokens, 9);       /* tokens_evaluated over timings.prompt_n */
    CHECK_INT_EQ(r.usage_completion_tokens, 4);
    CHECK_INT_EQ(r.prompt_n, 8);
    CHECK_INT_EQ(r.predicted_n, 4);
    CHECK_NEAR(r.prompt_ms, 12.5, 0);
    CHECK_NEAR(r.predicted_ms, 40.25, 0);
    CHECK_INT_EQ(r.draft_n, 6);
    CHECK_INT_EQ(r.draft_n_accepted, 5);
    db_lg_result_free(&r);

    /* no draft model: no draft numbers; no tokens_*: usage from the timings;
     * one chunk without ids: no ids at all */
    fresh(&r);
    CHECK_INT_EQ(apply(DB_API_LLAMA_COMPLETION, "{\"content\":\"x\",\"tokens\":[1]}", &r, &cb, &done, err), 0);
    CHECK_INT_EQ(apply(DB_API_LLAMA_COMPLETION, "{\"content\":\"y\"}", &r, &cb, &done, err), 0);
    CHECK_INT_EQ(apply(DB_API_LLAMA_COMPLETION, "{\"content\":\"z\",\"tokens\":[3]}", &r, &cb, &done, err), 0);
    CHECK(r.tokens == NULL);
    CHECK_INT_EQ(r.n_tokens, -1);
    CHECK_INT_EQ(apply(DB_API_LLAMA_COMPLETION, "{\"content\":\"\",\"stop\":true,\"stop_type\":\"limit\",\"timings\":{\"prompt_n\":3,\"predicted_n\":3,\"prompt_ms\":1,\"predicted_ms\":2}}", &r, &cb, &done, err), 0);
    CHECK(done);
    CHECK_STR_EQ(r.text, "xyz");
    CHECK_INT_EQ(r.usage_prompt_tokens, 3);
    CHECK_INT_EQ(r.usage_completion_tokens, 3);
    CHECK_INT_EQ(r.draft_n, -1);
    CHECK_INT_EQ(r.draft_n_accepted, -1);
    CHECK_STR_EQ(r.finish_reason, "limit");
    db_lg_result_free(&r);
}

static void test_apply_errors(void) {
    struct { db_api_kind api; const char *data, *want; } cases[] = {
        { DB_API_OPENAI_COMPLETIONS, "{\"choices\": [{\"text\": \"oops\"", "malformed event: not a JSON object" },
        { DB_API_OPENAI_COMPLETIONS, "{\"choices\":[]} trailing", "malformed event: not a JSON object" },
        { DB_API_OPENAI_COMPLETIONS, "[1,2]", "malformed event: not a JSON object" },
        { DB_API_OPENAI_COMPLETIONS, "", "malformed event: not a JSON object" },
        { DB_API_OPENAI_COMPLETIONS, "{\"choices\":{}}", "\"choices\" is not an array" },
        { DB_API_OPENAI_COMPLETIONS, "{\"choices\":[{\"text\":5}]}", "choices[0].text is not a string" },
        { DB_API_OPENAI_CHAT, "{\"choices\":[{\"delta\":{\"content\":[]}}]}", "choices[0].delta.content is not a string" },
        { DB_API_OPENAI_CHAT, "{\"choices\":[{\"delta\":3}]}", "choices[0].delta is not an object" },
        { DB_API_LLAMA_COMPLETION, "{\"content\":1}", "\"content\" is not a string" },
        { DB_API_LLAMA_COMPLETION, "{\"content\":\"a\",\"tokens\":[1.5]}", "\"tokens\" holds a non-integer" },
        { DB_API_LLAMA_COMPLETION, "{\"content\":\"a\",\"stop\":\"yes\"}", "\"stop\" is not a boolean" },
        { DB_API_LLAMA_COMPLETION, "{\"error\":{\"code\":500,\"message\":\"the model\\ncrashed\",\"type\":\"server_error\"}}",
          "server error: the model crashed" },
        { DB_API_OPENAI_CHAT, "{\"error\":\"plain\"}", "server error: plain" },
        { DB_API_OPENAI_COMPLETIONS, "{\"object\":\"error\",\"message\":\"vllm says no\",\"code\":400}", "server error: vllm says no" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        db_lg_result r;
        fresh(&r);
        bool cb, done;
        char err[256] = "";
        int rc = apply(cases[i].api, cases[i].data, &r, &cb, &done, err);
        CHECK_MSG(rc == -1, "case %zu accepted", i);
        CHECK_CONTAINS(err, cases[i].want);
        CHECK_MSG(!strchr(err, '\n'), "case %zu: a multi-line error", i);
        db_lg_result_free(&r);
    }
}

/* ---- arrivals ---- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Kolmogorov–Smirnov distance of x (sorted) from gamma(k, scale). */
static double ks_gamma(const double *x, int n, double k, double scale) {
    double d = 0;
    for (int i = 0; i < n; i++) {
        double f = k == 1.0 ? -expm1(-x[i] / scale) : 1.0 - db_gamma_q(k, x[i] / scale);
        double a = fabs(f - (double)i / n), b = fabs((double)(i + 1) / n - f);
        if (a > d) d = a;
        if (b > d) d = b;
    }
    return d;
}

static void test_arrivals_gamma(void) {
    const int n = 20000;
    double *g = malloc(n * sizeof *g);
    const double ks[] = { 1.0, 0.5, 4.0 };
    const double rate = 8.0;
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        double k = ks[t];
        CHECK_INT_EQ(db_lg_arrivals(rate, k, 1234 + t, n, g), 0);
        int bad = 0;
        for (int i = 0; i < n; i++) bad += !(g[i] >= 0 && isfinite(g[i]));
        CHECK_INT_EQ(bad, 0);
        double mean = db_mean(g, n), sd = db_stddev(g, n), var = sd * sd;
        double mu = 1.0 / rate, sig2 = 1.0 / (rate * rate * k);
        /* 5 standard errors: the mean's sqrt(var/n), the variance's var*sqrt((2 + 6/k)/n) */
        CHECK_NEAR(mean, mu, 5 * sqrt(sig2 / n));
        CHECK_NEAR(var, sig2, 5 * sig2 * sqrt((2 + 6 / k) / n));
        CHECK_NEAR(sd / mean, 1 / sqrt(k), 0.05);   /* the coefficient of variation */
        qsort(g, n, sizeof *g, cmp_double);
        /* KS at alpha = 0.001: 1.95 / sqrt(n) */
        double d = ks_gamma(g, n, k, 1.0 / (rate * k));
        CHECK_MSG(d < 1.95 / sqrt(n), "k=%g: KS distance %g from gamma", k, d);
        if (k == 1.0) {   /* and the test can tell: exponential vs gamma(2) and vs a wrong rate */
            CHECK(ks_gamma(g, n, 2.0, 1.0 / (rate * 2)) > 5 / sqrt(n));
            CHECK(ks_gamma(g, n, 1.0, 1.1 / rate) > 5 / sqrt(n));
        }
    }
    /* reproducible; another seed differs; INFINITY: all at once; bad arguments */
    double a[16], b[16];
    CHECK_INT_EQ(db_lg_arrivals(3, 0.7, 99, 16, a), 0);
    CHECK_INT_EQ(db_lg_arrivals(3, 0.7, 99, 16, b), 0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK_INT_EQ(db_lg_arrivals(3, 0.7, 100, 16, b), 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK_INT_EQ(db_lg_arrivals(INFINITY, 1, 1, 16, a), 0);
    int zeros = 0;
    for (int i = 0; i < 16; i++) zeros += a[i] == 0;
    CHECK_INT_EQ(zeros, 16);
    CHECK_INT_EQ(db_lg_arrivals(0, 1, 1, 4, a), -1);
    CHECK_INT_EQ(db_lg_arrivals(NAN, 1, 1, 4, a), -1);
    CHECK_INT_EQ(db_lg_arrivals(1, 0, 1, 4, a), -1);
    CHECK_INT_EQ(db_lg_arrivals(1, INFINITY, 1, 4, a), -1);
    CHECK_INT_EQ(db_lg_arrivals(1, 1, 1, -1, a), -1);
    free(g);
}

/* ---- the live server ---- */

typedef struct srv {
    pid_t pid;
    int port;
    int stdin_fd;   /* the server exits when this closes (and with the test process) */
} srv;

static bool find_python(char *out, size_t len) {
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    while (*path) {
        const char *e = strchr(path, ':');
        size_t n = e ? (size_t)(e - path) : strlen(path);
        snprintf(out, len, "%.*s/python3", (int)n, path);
        if (n > 0 && access(out, X_OK) == 0) return true;
        path += n + (e ? 1 : 0);
    }
    return false;
}

/* Start tests/serve/sse_server.py on a free port.  0, or -1 after a skip or a failure. */
static int srv_start(srv *s) {
    memset(s, 0, sizeof *s);
    s->pid = -1;
    s->stdin_fd = -1;
    char py[1024], script[1024], log[1024];
    if (!find_python(py, sizeof py)) {
        db_test_skip("python3 is not on PATH (the live tests need it for tests/serve/sse_server.py)");
        return -1;
    }
    snprintf(script, sizeof script, "%s/tests/serve/sse_server.py", db_test_srcdir());
    if (access(script, R_OK) != 0) {
        db_test_fail(__FILE__, __LINE__, "%s: %s", script, strerror(errno));
        return -1;
    }
    snprintf(log, sizeof log, "%s/sse_server.log", db_test_tmpdir());
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return -1;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    char *argv[] = { py, script, "--port", "0", "--exit-on-stdin-eof", NULL };
    int rc = posix_spawn(&s->pid, py, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    s->stdin_fd = in[1];
    if (rc != 0) {
        db_test_fail(__FILE__, __LINE__, "posix_spawn %s: %s", py, strerror(rc));
        s->pid = -1;
        close(out[0]);
        return -1;
    }
    /* the first line of its stdout is the port */
    char line[64];
    size_t got = 0;
    int64_t until = db_now_ns() + (int64_t)30e9;
    while (got < sizeof line - 1 && !memchr(line, '\n', got)) {
        struct pollfd pf = { .fd = out[0], .events = POLLIN };
        int64_t left = (until - db_now_ns()) / 1000000;
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0) break;
        ssize_t r = read(out[0], line + got, sizeof line - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(out[0]);
    line[got] = 0;
    s->port = atoi(line);
    if (s->port <= 0) {
        db_test_fail(__FILE__, __LINE__, "sse_server.py did not print its port (got '%s'; see %s)", line, log);
        return -1;
    }
    return 0;
}

static void srv_stop(srv *s) {
    if (s->stdin_fd >= 0) close(s->stdin_fd);
    s->stdin_fd = -1;
    if (s->pid <= 0) return;
    kill(s->pid, SIGTERM);
    int st;
    for (int i = 0; i < 100; i++) {   /* 5 s, then SIGKILL */
        pid_t w = waitpid(s->pid, &st, WNOHANG);
        if (w == s->pid || (w < 0 && errno == ECHILD)) {
            s->pid = -1;
            return;
        }
        struct timespec ts = { 0, 50000000 };
        nanosleep(&ts, NULL);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = -1;
}

static size_t on_stats(char *p, size_t sz, size_t n, void *ud) {
    db_str_appendn(ud, p, sz * n);
    return sz * n;
}

/* GET /stats: the parsed JSON (NULL on failure). */
static cJSON *srv_stats(const srv *s) {
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/stats", s->port);
    db_str b;
    db_str_init(&b);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stats);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    CURLcode cc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    cJSON *j = cc == CURLE_OK && b.s ? cJSON_Parse(b.s) : NULL;
    db_str_free(&b);
    CHECK_MSG(j != NULL, "GET /stats failed");
    return j;
}

static int stat_int(const cJSON *j, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : -1;
}

typedef struct coll {
    db_lg_result *r;
    bool *got;
    int n, calls, stop_after;
    int dups;
} coll;

static void coll_init(coll *c, int n) {
    memset(c, 0, sizeof *c);
    c->n = n;
    c->r = calloc((size_t)n, sizeof *c->r);
    c->got = calloc((size_t)n, sizeof *c->got);
}

static void coll_free(coll *c) {
    for (int i = 0; i < c->n; i++) db_lg_result_free(&c->r[i]);
    free(c->r);
    free(c->got);
}

/* Takes the whole result (the pointers are set to NULL in res). */
static int collect(void *ctx, db_lg_result *res) {
    coll *c = ctx;
    c->calls++;
    if (res->index < 0 || res->index >= c->n || c->got[res->index]) {
        c->dups++;
    } else {
        c->r[res->index] = *res;
        c->got[res->index] = true;
        res->chunk_ns = NULL;
        res->chunk_tokens = NULL;
        res->text = NULL;
        res->tokens = NULL;
        res->error = NULL;
    }
    return c->stop_after > 0 && c->calls >= c->stop_after;
}

typedef struct req_spec {
    const char *path;
    db_api_kind api;
    const char *body;
    const char *token;
} req_spec;

/* reqs[] for the server (urls in url_store, 256 bytes each). */
/* Runs the schedule over reqs with every result collected into c (made
 * here for n_results) and checks that the run itself succeeded. */
static void run_collected(const db_lg_schedule *sch, const db_lg_request *reqs, int n_reqs, coll *c, int n_results,
                          db_lg_summary *sum) {
    coll_init(c, n_results);
    char err[256] = "";
    int rc = db_loadgen_run(sch, reqs, n_reqs, collect, c, NULL, sum, err, sizeof err);
    CHECK_MSG(rc == 0, "db_loadgen_run returned %d: %s", rc, err);
}

static void make_reqs(const srv *s, const req_spec *spec, int n, db_lg_request *reqs, char (*urls)[256]) {
    for (int i = 0; i < n; i++) {
        snprintf(urls[i], 256, "http://127.0.0.1:%d%s", s->port, spec[i].path);
        reqs[i] = (db_lg_request){ .url = urls[i], .body = spec[i].body, .api = spec[i].api,
                                   .bearer_token = spec[i].token };
    }
}

static void check_ok(const db_lg_result *r, const char *tag, int n, const char *finish) {
    char want[512] = "";
    for (int i = 0; i < n; i++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d ", tag, i);
    CHECK_MSG(r->error == NULL, "request %d failed: %s", r->index, r->error);
    CHECK_STR_EQ(r->text, want);
    CHECK_INT_EQ(r->n_chunks, n);
    CHECK_INT_EQ(r->http_status, 200);
    CHECK_STR_EQ(r->finish_reason, finish);
    CHECK(r->t_scheduled_ns >= 0 && r->t_sent_ns >= r->t_scheduled_ns);
    CHECK(r->t_first_ns > r->t_sent_ns);
    CHECK(r->t_done_ns >= r->t_first_ns);
    CHECK(r->t_first_ns - r->t_sent_ns <= r->t_done_ns - r->t_sent_ns);   /* TTFT <= E2E */
    if (r->n_chunks > 0 && r->chunk_ns) {
        CHECK_INT_EQ(r->chunk_ns[0], r->t_first_ns);
        int mono = 1;
        for (int i = 1; i < r->n_chunks; i++) mono &= r->chunk_ns[i] >= r->chunk_ns[i - 1];
        CHECK(mono);
        CHECK(r->chunk_ns[r->n_chunks - 1] <= r->t_done_ns);
    }
}

static void test_live_streams(void) {
    srv s;
    if (srv_start(&s) != 0) return;
    req_spec spec[] = {
        { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"tag\":\"A\",\"n\":5,\"delay_ms\":20,\"usage\":true,\"stream\":true}", "sk-test-123" },
        { "/v1/chat/completions", DB_API_OPENAI_CHAT, "{\"tag\":\"B\",\"n\":4,\"delay_ms\":5,\"usage\":true}", "sk-test-123" },
        { "/completion", DB_API_LLAMA_COMPLETION, "{\"tag\":\"C\",\"n\":3,\"tokens\":2,\"draft\":true}", "sk-test-123" },
    };
    db_lg_request reqs[3];
    char urls[3][256];
    make_reqs(&s, spec, 3, reqs, urls);
    db_lg_schedule sch = db_lg_default_schedule();
    sch.concurrency = 2;
    sch.n_requests = 6;
    sch.timeout_s = 30;
    coll c;
    db_lg_summary sum;
    run_collected(&sch, reqs, 3, &c, 6, &sum);
    CHECK_INT_EQ(c.calls, 6);
    CHECK_INT_EQ(c.dups, 0);
    CHECK_INT_EQ(sum.started, 6);
    CHECK_INT_EQ(sum.succeeded, 6);
    CHECK_INT_EQ(sum.failed, 0);
    CHECK_INT_EQ(sum.abandoned, 0);
    CHECK_INT_EQ(sum.max_in_flight, 2);
    CHECK(sum.wall_ns > 0);
    for (int i = 0; i < 6; i++) {
        db_lg_result *r = &c.r[i];
        CHECK_INT_EQ(r->index, i);
        CHECK(r->t_done_ns <= sum.wall_ns);
        switch (i % 3) {
        case 0: {
            check_ok(r, "A", 5, "length");
            CHECK_INT_EQ(r->usage_prompt_tokens, 7);
            CHECK_INT_EQ(r->usage_completion_tokens, 5);
            CHECK(r->tokens == NULL && r->n_tokens == 0);
            /* ITLs: n_chunks - 1 gaps spanning the server's four 20-ms sleeps (less two jitters) */
            CHECK_INT_EQ(r->n_chunks - 1, 4);
            if (r->n_chunks == 5) {
                double span = (double)(r->chunk_ns[4] - r->chunk_ns[0]) / 1e6;
                CHECK_MSG(span >= 60, "the 4 ITLs span %g ms, under the server's 80 ms", span);
            }
            CHECK((double)(r->t_first_ns - r->t_sent_ns) / 1e6 >= 15);   /* the first chunk waited 20 ms too */
            CHECK(r->t_first_ns - r->t_sent_ns < r->t_done_ns - r->t_sent_ns);   /* TTFT < E2E: 4 more sleeps */
            break;
        }
        case 1:
            check_ok(r, "B", 4, "stop");
            CHECK_INT_EQ(r->usage_completion_tokens, 4);
            break;
        case 2:
            check_ok(r, "C", 3, "limit");
            CHECK_INT_EQ(r->n_tokens, 6);
            if (r->tokens && r->n_tokens == 6)
                for (int k = 0; k < 6; k++) CHECK_INT_EQ(r->tokens[k], 1000 + k);
            for (int k = 0; k < r->n_chunks; k++) CHECK_INT_EQ(r->chunk_tokens[k], 2);
            CHECK_INT_EQ(r->usage_completion_tokens, 6);
            CHECK_INT_EQ(r->usage_prompt_tokens, 7);
            CHECK_INT_EQ(r->prompt_n, 7);
            CHECK_INT_EQ(r->predicted_n, 6);
            CHECK_NEAR(r->prompt_ms, 12.5, 0);
            CHECK_NEAR(r->predicted_ms, 40.25, 0);
            CHECK_INT_EQ(r->draft_n, 10);
            CHECK_INT_EQ(r->draft_n_accepted, 7);
            break;
        }
    }
    cJSON *st = srv_stats(&s);
    CHECK_INT_EQ(stat_int(st, "count"), 6);
    CHECK_INT_EQ(stat_int(st, "max_active"), 2);
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(st, "auth");
    CHECK_STR_EQ(cJSON_IsString(auth) ? auth->valuestring : NULL, "Bearer sk-test-123");
    CHECK_MSG(stat_int(st, "peers") <= 2, "%d connections for 2 in flight: not reused", stat_int(st, "peers"));
    cJSON_Delete(st);
    coll_free(&c);
    srv_stop(&s);
}

static void test_live_closed_concurrency(void) {
    srv s;
    if (srv_start(&s) != 0) return;
    req_spec spec[] = { { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"n\":4,\"delay_ms\":25}", NULL } };
    db_lg_request reqs[1];
    char urls[1][256];
    make_reqs(&s, spec, 1, reqs, urls);
    db_lg_schedule sch = db_lg_default_schedule();
    sch.concurrency = 4;
    sch.n_requests = 16;
    coll c;
    db_lg_summary sum;
    run_collected(&sch, reqs, 1, &c, 16, &sum);
    CHECK_INT_EQ(sum.succeeded, 16);
    CHECK_INT_EQ(sum.max_in_flight, 4);
    for (int i = 0; i < 16; i++) check_ok(&c.r[i], "c", 4, "length");
    /* closed loop: the first four at once, then each one when a slot freed */
    int at_start = 0;
    for (int i = 0; i < 16; i++) at_start += c.r[i].t_scheduled_ns < 100000000;   /* < 100 ms */
    CHECK_INT_EQ(at_start, 4);
    cJSON *st = srv_stats(&s);
    CHECK_INT_EQ(stat_int(st, "count"), 16);
    CHECK_INT_EQ(stat_int(st, "max_active"), 4);
    CHECK_MSG(stat_int(st, "peers") <= 4, "%d connections for 4 in flight: not reused", stat_int(st, "peers"));
    cJSON_Delete(st);
    coll_free(&c);
    srv_stop(&s);
}

/* coefficient of variation of the gaps of sorted times */
static double gaps_cv(double *t, int n, double *mean_out) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    double *g = malloc((size_t)(n - 1) * sizeof *g);
    for (int i = 1; i < n; i++) g[i - 1] = t[i] - t[i - 1];
    double m = db_mean(g, (size_t)n - 1), sd = db_stddev(g, (size_t)n - 1);
    free(g);
    if (mean_out) *mean_out = m;
    return sd / m;
}

static void open_rate_case(double k, double lo, double hi) {
    srv s;
    if (srv_start(&s) != 0) return;
    req_spec spec[] = { { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"n\":1}", NULL } };
    db_lg_request reqs[1];
    char urls[1][256];
    make_reqs(&s, spec, 1, reqs, urls);
    const int n = 200;
    const double rate = 50;
    db_lg_schedule sch = db_lg_default_schedule();
    sch.mode = DB_LG_OPEN;
    sch.concurrency = 0;
    sch.rate = rate;
    sch.burstiness = k;
    sch.seed = 77;
    sch.n_requests = n;
    coll c;
    db_lg_summary sum;
    run_collected(&sch, reqs, 1, &c, n, &sum);
    CHECK_INT_EQ(sum.succeeded, n);
    /* the schedule is exactly the arrival times' running sum */
    double *gaps = malloc(n * sizeof *gaps), *sched = malloc(n * sizeof *sched), *lag = malloc(n * sizeof *lag);
    db_lg_arrivals(rate, k, 77, n, gaps);
    double t = 0;
    int exact = 0;
    for (int i = 0; i < n; i++) {
        exact += llabs(c.r[i].t_scheduled_ns - (int64_t)(t * 1e9)) <= 1;
        sched[i] = t;
        t += gaps[i];
        lag[i] = (double)(c.r[i].t_sent_ns - c.r[i].t_scheduled_ns) / 1e6;
    }
    CHECK_INT_EQ(exact, n);
    CHECK_MSG(db_median(lag, n) < 20, "median send lag %g ms", db_median(lag, n));
    double sched_mean, cv_sched = gaps_cv(sched, n, &sched_mean);
    /* the seeded schedule itself is gamma(k): CV 1/sqrt(k) (n = 200: wide bounds) */
    CHECK_MSG(cv_sched > lo && cv_sched < hi, "k=%g: scheduled CV %g", k, cv_sched);
    /* what the server saw: the same gaps, plus jitter */
    cJSON *st = srv_stats(&s);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(st, "arrivals");
    CHECK_INT_EQ(cJSON_GetArraySize(arr), n);
    if (cJSON_GetArraySize(arr) == n) {
        double *seen = malloc(n * sizeof *seen);
        for (int i = 0; i < n; i++) seen[i] = cJSON_GetArrayItem(arr, i)->valuedouble;
        double seen_mean, cv_seen = gaps_cv(seen, n, &seen_mean);
        CHECK_MSG(cv_seen > lo && cv_seen < hi, "k=%g: server-side CV %g", k, cv_seen);
        CHECK_MSG(fabs(cv_seen - cv_sched) < 0.2, "k=%g: server-side CV %g vs scheduled %g", k, cv_seen, cv_sched);
        CHECK_MSG(fabs(seen_mean - sched_mean) < 0.25 * sched_mean, "mean gap %g s seen vs %g scheduled", seen_mean, sched_mean);
        CHECK_NEAR(sched_mean, 1 / rate, 0.3 / rate);
        free(seen);
    }
    cJSON_Delete(st);
    free(gaps);
    free(sched);
    free(lag);
    coll_free(&c);
    srv_stop(&s);
}

static void test_live_open_poisson(void) { open_rate_case(1.0, 0.75, 1.3); }
static void test_live_open_gamma4(void) { open_rate_case(4.0, 0.35, 0.7); }

static void test_live_open_cap(void) {
    srv s;
    if (srv_start(&s) != 0) return;
    req_spec spec[] = { { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"n\":3,\"delay_ms\":30}", NULL } };
    db_lg_request reqs[1];
    char urls[1][256];
    make_reqs(&s, spec, 1, reqs, urls);
    db_lg_schedule sch = db_lg_default_schedule();
    sch.mode = DB_LG_OPEN;
    sch.rate = INFINITY;
    sch.concurrency = 3;
    sch.n_requests = 9;
    coll c;
    db_lg_summary sum;
    run_collected(&sch, reqs, 1, &c, 9, &sum);
    CHECK_INT_EQ(sum.succeeded, 9);
    CHECK_INT_EQ(sum.max_in_flight, 3);
    int waited = 0;
    for (int i = 0; i < 9; i++) {
        CHECK_INT_EQ(c.r[i].t_scheduled_ns, 0);   /* all due at once */
        /* the last six found the cap and waited for a request of >= 90 ms */
        if (i >= 3) waited += c.r[i].t_sent_ns - c.r[i].t_scheduled_ns >= 60000000;
    }
    CHECK_INT_EQ(waited, 6);
    cJSON *st = srv_stats(&s);
    CHECK_INT_EQ(stat_int(st, "max_active"), 3);
    cJSON_Delete(st);
    coll_free(&c);
    srv_stop(&s);
}

static void test_live_faults(void) {
    srv s;
    if (srv_start(&s) != 0) return;
    req_spec spec[] = {
        { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"tag\":\"A\",\"n\":3}", NULL },
        { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"mode\":\"http500\"}", "sk-SECRET-42" },
        { "/v1/chat/completions", DB_API_OPENAI_CHAT, "{\"mode\":\"http429\"}", NULL },
        { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"mode\":\"malformed\",\"n\":4}", NULL },
        { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"mode\":\"cut\",\"n\":5,\"k\":2}", NULL },
        { "/completion", DB_API_LLAMA_COMPLETION, "{\"mode\":\"cut\",\"n\":5,\"k\":2,\"framing\":\"close\"}", NULL },
        { "/completion", DB_API_LLAMA_COMPLETION, "{\"mode\":\"error_event\",\"n\":4}", NULL },
        { "/v1/chat/completions", DB_API_OPENAI_CHAT, "{\"tag\":\"B\",\"n\":2}", NULL },
        { "/completion", DB_API_LLAMA_COMPLETION, "{\"tag\":\"C\",\"n\":2,\"framing\":\"close\"}", NULL },
        { "/nowhere", DB_API_OPENAI_COMPLETIONS, "{}", NULL },
        { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"mode\":\"nostream\"}", NULL },
    };
    enum { NS = sizeof spec / sizeof spec[0] };
    db_lg_request reqs[NS];
    char urls[NS][256];
    make_reqs(&s, spec, NS, reqs, urls);
    db_lg_schedule sch = db_lg_default_schedule();
    sch.concurrency = 3;
    sch.n_requests = 2 * NS;
    sch.timeout_s = 30;
    coll c;
    coll_init(&c, 2 * NS);
    db_lg_summary sum;
    char err[256] = "";
    int rc = db_loadgen_run(&sch, reqs, NS, collect, &c, NULL, &sum, err, sizeof err);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, err);
    CHECK_INT_EQ(sum.started, 2 * NS);
    CHECK_INT_EQ(sum.succeeded, 6);
    CHECK_INT_EQ(sum.failed, 2 * NS - 6);
    CHECK_INT_EQ(c.calls, 2 * NS);
    for (int i = 0; i < 2 * NS; i++) {
        db_lg_result *r = &c.r[i];
        const char *e = r->error;
        CHECK_MSG(!e || (!strchr(e, '\n') && !strchr(e, '\r') && !strchr(e, '\t')), "request %d: '%s' is not one line", i, e ? e : "");
        switch (i % NS) {
        case 0: check_ok(r, "A", 3, "length"); break;
        case 1:
            CHECK_INT_EQ(r->http_status, 500);
            CHECK_CONTAINS(e, "HTTP 500: internal error: the model fell over second line auth=Bearer *** xxx");
            CHECK_MSG(e && !strstr(e, "SECRET"), "the token leaked: %s", e ? e : "");
            CHECK(e && strlen(e) == strlen("HTTP 500: ") + 200);
            break;
        case 2:
            CHECK_INT_EQ(r->http_status, 429);
            CHECK_STR_EQ(e, "HTTP 429: {\"error\": {\"message\": \"too many requests\", \"type\": \"rate_limit\"}}");
            break;
        case 3:
            CHECK_CONTAINS(e, "malformed event: not a JSON object: '{\"choices\": [{\"text\": \"oops\"'");
            CHECK_INT_EQ(r->n_chunks, 1);
            CHECK_STR_EQ(r->text, "c0 ");
            break;
        case 4:
            CHECK_CONTAINS(e, "stream ended before the end event");
            CHECK_INT_EQ(r->http_status, 200);
            CHECK_STR_EQ(r->text, "c0 c1 ");
            CHECK_INT_EQ(r->n_chunks, 2);
            break;
        case 5:
            CHECK_STR_EQ(e, "stream ended before the end event");   /* a clean close */
            CHECK_STR_EQ(r->text, "c0 c1 ");
            break;
        case 6:
            CHECK_STR_EQ(e, "server error: the model crashed");
            CHECK_STR_EQ(r->text, "c0 ");
            break;
        case 7: check_ok(r, "B", 2, "stop"); break;
        case 8:
            check_ok(r, "C", 2, "limit");
            CHECK_INT_EQ(r->n_tokens, 2);
            break;
        case 9:
            CHECK_INT_EQ(r->http_status, 404);
            CHECK_STR_EQ(e, "HTTP 404: no such endpoint");
            break;
        case 10:
            CHECK_STR_EQ(e, "stream ended before the end event (no SSE events; Content-Type application/json)");
            CHECK_INT_EQ(r->http_status, 200);
            break;
        }
        if (e) CHECK(r->t_done_ns >= r->t_sent_ns);
    }
    coll_free(&c);
    srv_stop(&s);
}

static void test_live_timeout(void) {
    srv s;
    if (srv_start(&s) != 0) return;
    req_spec spec[] = {
        { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"mode\":\"slow\",\"sleep_s\":6}", NULL },
        { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"n\":2}", NULL },
    };
    db_lg_request reqs[2];
    char urls[2][256];
    make_reqs(&s, spec, 2, reqs, urls);
    db_lg_schedule sch = db_lg_default_schedule();
    sch.concurrency = 2;
    sch.n_requests = 4;
    sch.timeout_s = 0.5;
    coll c;
    db_lg_summary sum;
    run_collected(&sch, reqs, 2, &c, 4, &sum);
    CHECK_INT_EQ(sum.succeeded, 2);
    CHECK_INT_EQ(sum.failed, 2);
    for (int i = 0; i < 4; i++) {
        if (i % 2 == 1) {
            check_ok(&c.r[i], "c", 2, "length");
            continue;
        }
        CHECK_STR_EQ(c.r[i].error, "timed out after 0.5 s");
        CHECK_INT_EQ(c.r[i].http_status, 200);   /* the headers came, the chunks did not */
        CHECK_INT_EQ(c.r[i].n_chunks, 0);
        CHECK_INT_EQ(c.r[i].t_first_ns, -1);
        double took = (double)(c.r[i].t_done_ns - c.r[i].t_sent_ns) / 1e9;
        CHECK_MSG(took >= 0.45 && took < 5, "the timeout came after %g s", took);
    }
    coll_free(&c);
    srv_stop(&s);
}

static void test_live_refused(void) {
    /* a port that was free a moment ago: nobody listens */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0);
    close(fd);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/completions", ntohs(a.sin_port));
    db_lg_request req = { .url = url, .body = "{}", .api = DB_API_OPENAI_COMPLETIONS, .bearer_token = "sk-x" };
    db_lg_schedule sch = db_lg_default_schedule();
    sch.concurrency = 2;
    sch.n_requests = 3;
    coll c;
    db_lg_summary sum;
    run_collected(&sch, &req, 1, &c, 3, &sum);
    CHECK_INT_EQ(sum.failed, 3);
    for (int i = 0; i < 3; i++) {
        CHECK_STR_EQ(c.r[i].error, "connection refused");
        CHECK_INT_EQ(c.r[i].http_status, 0);
        CHECK(c.r[i].text == NULL && c.r[i].n_chunks == 0);
    }
    coll_free(&c);
}

/* A listener whose accept queue is full drops new SYNs (Linux): the connect
 * never completes and the connect timeout ends the request. */
static void test_live_connect_timeout(void) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    CHECK(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
    CHECK(listen(lfd, 0) == 0);
    int fill[4];
    for (int i = 0; i < 4; i++) {   /* fill the queue (non-blocking connects: the later ones hang) */
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        connect(fill[i], (struct sockaddr *)&a, sizeof a);
    }
    struct timespec ts = { 0, 100000000 };
    nanosleep(&ts, NULL);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/completions", ntohs(a.sin_port));
    db_lg_request req = { .url = url, .body = "{}", .api = DB_API_OPENAI_COMPLETIONS };
    db_lg_schedule sch = db_lg_default_schedule();
    sch.n_requests = 1;
    sch.connect_timeout_s = 0.3;
    sch.timeout_s = 10;
    coll c;
    db_lg_summary sum;
    run_collected(&sch, &req, 1, &c, 1, &sum);
    CHECK_INT_EQ(sum.failed, 1);
    CHECK_STR_EQ(c.r[0].error, "timed out after 0.3 s while connecting");
    double took = (double)(c.r[0].t_done_ns - c.r[0].t_sent_ns) / 1e9;
    CHECK_MSG(took >= 0.25 && took < 5, "the connect timeout came after %g s", took);
    for (int i = 0; i < 4; i++) close(fill[i]);
    close(lfd);
    coll_free(&c);
}

static void test_live_server_dies(void) {
    srv s;
    if (srv_start(&s) != 0) return;
    req_spec spec[] = {
        { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"mode\":\"die\",\"n\":10,\"k\":3,\"delay_ms\":60}", NULL },
        { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"n\":100,\"delay_ms\":20}", NULL },
    };
    db_lg_request reqs[2];
    char urls[2][256];
    make_reqs(&s, spec, 2, reqs, urls);
    db_lg_schedule sch = db_lg_default_schedule();
    sch.concurrency = 2;
    sch.n_requests = 4;
    coll c;
    db_lg_summary sum;
    run_collected(&sch, reqs, 2, &c, 4, &sum);
    CHECK_INT_EQ(sum.failed, 4);
    CHECK_CONTAINS(c.r[0].error, "stream ended before the end event");
    CHECK_INT_EQ(c.r[0].n_chunks, 3);
    CHECK_CONTAINS(c.r[1].error, "stream ended before the end event");
    CHECK(c.r[1].n_chunks >= 1 && c.r[1].n_chunks < 100);
    /* the next two find no server: refused, or (a dying process's listener closes after
     * its connections, so a connect can slip in just before) reset before a response */
    for (int i = 2; i < 4; i++) {
        const char *e = c.r[i].error, *reset = "connection closed before a response (";
        CHECK_MSG(e && (strcmp(e, "connection refused") == 0 || strncmp(e, reset, strlen(reset)) == 0),
                  "request %d: %s", i, e);
        CHECK_INT_EQ(c.r[i].http_status, 0);
    }
    int st = 0;
    CHECK(waitpid(s.pid, &st, 0) == s.pid && WIFEXITED(st) && WEXITSTATUS(st) == 3);
    s.pid = -1;
    coll_free(&c);
    srv_stop(&s);
}

static volatile sig_atomic_t cancel_flag;

static void *cancel_later(void *arg) {
    (void)arg;
    struct timespec ts = { 0, 300000000 };
    nanosleep(&ts, NULL);
    cancel_flag = 1;
    return NULL;
}

static void test_live_cancel_and_stop(void) {
    srv s;
    if (srv_start(&s) != 0) return;
    req_spec spec[] = {
        { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"n\":1}", NULL },
        { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"n\":200,\"delay_ms\":50}", NULL },
    };
    db_lg_request reqs[2];
    char urls[2][256];
    make_reqs(&s, spec, 2, reqs, urls);
    db_lg_schedule sch = db_lg_default_schedule();
    db_lg_summary sum;
    char err[256] = "";

    /* cancel from another thread after 300 ms: three 10-s streams in flight are abandoned */
    sch.concurrency = 3;
    sch.n_requests = 10;
    db_lg_request slow = reqs[1];
    coll c;
    coll_init(&c, 10);
    cancel_flag = 0;
    pthread_t th;
    pthread_create(&th, NULL, cancel_later, NULL);
    int64_t t0 = db_now_ns();
    int rc = db_loadgen_run(&sch, &slow, 1, collect, &c, &cancel_flag, &sum, err, sizeof err);
    double took = (double)(db_now_ns() - t0) / 1e9;
    pthread_join(th, NULL);
    CHECK_INT_EQ(rc, 1);
    CHECK_INT_EQ(c.calls, 0);
    CHECK_INT_EQ(sum.started, 3);
    CHECK_INT_EQ(sum.abandoned, 3);
    CHECK_INT_EQ(sum.succeeded + sum.failed, 0);
    CHECK_MSG(took >= 0.29 && took < 5, "cancel took %g s", took);
    coll_free(&c);

    /* cancelled before the start: nothing starts */
    coll_init(&c, 10);
    cancel_flag = 1;
    CHECK_INT_EQ(db_loadgen_run(&sch, &slow, 1, collect, &c, &cancel_flag, &sum, err, sizeof err), 1);
    CHECK_INT_EQ(sum.started, 0);
    CHECK_INT_EQ(c.calls, 0);
    coll_free(&c);

    /* the callback stops the run at the first result (the short one) */
    sch.concurrency = 2;
    sch.n_requests = 6;
    coll_init(&c, 6);
    c.stop_after = 1;
    t0 = db_now_ns();
    rc = db_loadgen_run(&sch, reqs, 2, collect, &c, NULL, &sum, err, sizeof err);
    took = (double)(db_now_ns() - t0) / 1e9;
    CHECK_INT_EQ(rc, 1);
    CHECK_INT_EQ(c.calls, 1);
    CHECK(c.got[0]);
    check_ok(&c.r[0], "c", 1, "length");
    CHECK_INT_EQ(sum.succeeded, 1);
    CHECK_INT_EQ(sum.started, 2);
    CHECK_INT_EQ(sum.abandoned, 1);
    CHECK_MSG(took < 5, "the stop took %g s", took);
    coll_free(&c);
    srv_stop(&s);
}

static void test_live_duration(void) {
    srv s;
    if (srv_start(&s) != 0) return;
    req_spec spec[] = { { "/v1/completions", DB_API_OPENAI_COMPLETIONS, "{\"n\":2,\"delay_ms\":50}", NULL } };
    db_lg_request reqs[1];
    char urls[1][256];
    make_reqs(&s, spec, 1, reqs, urls);
    db_lg_schedule sch = db_lg_default_schedule();
    sch.concurrency = 1;
    sch.n_requests = 1000;
    sch.duration_s = 0.5;
    coll c;
    db_lg_summary sum;
    run_collected(&sch, reqs, 1, &c, 1000, &sum);
    /* each request takes >= 100 ms (the server sleeps): at most 6 start in 0.5 s */
    CHECK_MSG(sum.started >= 1 && sum.started <= 6, "%d started", sum.started);
    CHECK_INT_EQ(sum.succeeded, sum.started);
    for (int i = 0; i < sum.started; i++) CHECK(c.r[i].t_sent_ns <= 500000000);
    coll_free(&c);
    srv_stop(&s);
}

static void test_bad_args(void) {
    db_lg_request req = { .url = "http://127.0.0.1:1/", .body = "{}", .api = DB_API_OPENAI_COMPLETIONS };
    db_lg_schedule sch = db_lg_default_schedule();
    char err[256];
    db_lg_summary sum;
    sch.concurrency = 0;
    CHECK_INT_EQ(db_loadgen_run(&sch, &req, 1, NULL, NULL, NULL, &sum, err, sizeof err), -1);
    CHECK_CONTAINS(err, "concurrency");
    sch = db_lg_default_schedule();
    sch.mode = DB_LG_OPEN;
    sch.rate = 0;
    CHECK_INT_EQ(db_loadgen_run(&sch, &req, 1, NULL, NULL, NULL, &sum, err, sizeof err), -1);
    CHECK_CONTAINS(err, "rate");
    sch = db_lg_default_schedule();
    CHECK_INT_EQ(db_loadgen_run(&sch, &req, 0, NULL, NULL, NULL, &sum, err, sizeof err), -1);
    db_lg_request noreq = { .url = NULL, .body = "{}" };
    CHECK_INT_EQ(db_loadgen_run(&sch, &noreq, 1, NULL, NULL, NULL, &sum, err, sizeof err), -1);
    /* nothing to send: done at once */
    sch.n_requests = 0;
    CHECK_INT_EQ(db_loadgen_run(&sch, &req, 1, NULL, NULL, NULL, &sum, err, sizeof err), 0);
    CHECK_INT_EQ(sum.started, 0);
    db_lg_schedule d = db_lg_default_schedule();
    CHECK_INT_EQ(d.mode, DB_LG_CLOSED);
    CHECK_INT_EQ(d.concurrency, 1);
    CHECK_NEAR(d.burstiness, 1, 0);
    CHECK_INT_EQ(d.seed, 1234);
    CHECK_INT_EQ(d.n_requests, 1);
    CHECK_NEAR(d.timeout_s, 600, 0);
    CHECK_NEAR(d.connect_timeout_s, 10, 0);
}

void suite_loadgen(void) {
    RUN(test_sse_every_split);
    RUN(test_sse_callback_and_limits);
    RUN(test_apply_openai_completions);
    RUN(test_apply_openai_chat);
    RUN(test_apply_llama);
    RUN(test_apply_errors);
    RUN(test_arrivals_gamma);
    RUN(test_bad_args);
    RUN(test_live_refused);
    RUN(test_live_streams);
    RUN(test_live_closed_concurrency);
    RUN(test_live_open_poisson);
    RUN(test_live_open_gamma4);
    RUN(test_live_open_cap);
    RUN(test_live_faults);
    RUN(test_live_timeout);
    RUN(test_live_connect_timeout);
    RUN(test_live_server_dies);
    RUN(test_live_cancel_and_stop);
    RUN(test_live_duration);
}
