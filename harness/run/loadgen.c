/* loadgen.c — the serving benchmark's load generator (loadgen.h): one
 * thread drives every transfer through libcurl's multi interface
 * (curl_multi_perform / curl_multi_info_read, sleeping in curl_multi_poll
 * until a socket is ready, the next arrival is due, or 50 ms pass so a
 * cancel is seen), streams each response body into an SSE parser (sse.c)
 * and stamps each content-bearing chunk with its arrival time.  Closed
 * loop: a fixed number in flight; open loop: gamma inter-arrival times
 * (Marsaglia–Tsang over harness/util/rng.h) with an optional cap.  Each
 * request's failure (refused, HTTP status, timeout, malformed or cut
 * stream, error event) is one line in its result; the run goes on.
 */
#include "loadgen.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engines/engine.h"
#include "harness/util/fetch.h"
#include "harness/util/rng.h"
#include "harness/util/util.h"
#include "loadgen_int.h"

#define POLL_MAX_MS 50          /* the longest sleep: a cancel is seen within it */
#define ERR_BODY_KEEP 256       /* bytes of an error response kept (200 are shown), plus the
                                   token's length so a token it echoes is scrubbed whole */
#define ERR_BODY_SHOWN 200

db_lg_schedule db_lg_default_schedule(void) {
    db_lg_schedule s;
    memset(&s, 0, sizeof s);
    s.mode = DB_LG_CLOSED;
    s.concurrency = 1;
    s.rate = 1;
    s.burstiness = 1;
    s.seed = 1234;
    s.n_requests = 1;
    s.timeout_s = 600;
    s.connect_timeout_s = 10;
    return s;
}

void db_lg_result_free(db_lg_result *r) {
    if (!r) return;
    free(r->chunk_ns);
    free(r->chunk_tokens);
    free(r->text);
    free(r->tokens);
    free(r->error);
    r->chunk_ns = NULL;
    r->chunk_tokens = NULL;
    r->text = NULL;
    r->tokens = NULL;
    r->error = NULL;
    r->n_chunks = 0;
    r->n_tokens = 0;
}

static void result_init(db_lg_result *r, int index) {
    memset(r, 0, sizeof *r);
    r->index = index;
    r->t_first_ns = -1;
    r->t_done_ns = -1;
    r->usage_prompt_tokens = r->usage_completion_tokens = -1;
    r->prompt_ms = r->predicted_ms = NAN;
    r->prompt_n = r->predicted_n = -1;
    r->draft_n = r->draft_n_accepted = -1;
}

/* ---- arrivals ---- */

/* Gamma(k, 1) for k >= 1: Marsaglia & Tsang (2000), "A simple method for
 * generating gamma variables". */
static double gamma_ge1(db_rng *g, double k) {
    double d = k - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = db_rng_normal(g);
            v = 1.0 + c * x;
        } while (v <= 0);
        v = v * v * v;
        double u = db_rng_uniform(g);
        double x2 = x * x;
        if (u < 1.0 - 0.0331 * x2 * x2) return d * v;
        if (u > 0 && log(u) < 0.5 * x2 + d * (1.0 - v + log(v))) return d * v;
    }
}

/* Gamma(k, 1) for any k > 0: below 1, Gamma(k+1) * U^(1/k). */
static double gamma_std(db_rng *g, double k) {
    if (k == 1.0) return -log1p(-db_rng_uniform(g));   /* exponential, exactly */
    if (k < 1.0) {
        double u = 1.0 - db_rng_uniform(g);   /* (0, 1] */
        return gamma_ge1(g, k + 1.0) * pow(u, 1.0 / k);
    }
    return gamma_ge1(g, k);
}

/* The gaps one after another (the loop draws them as it goes: no array of
 * n_requests, which may be large when a duration ends the run). */
typedef struct arrivals {
    db_rng g;
    double k, scale;
    bool all_at_once;
} arrivals;

static void arrivals_init(arrivals *a, double rate, double burstiness, uint64_t seed) {
    a->g = db_rng_make(seed, 0x6c6f616467656eULL);   /* "loadgen" */
    a->k = burstiness;
    a->all_at_once = isinf(rate);
    a->scale = a->all_at_once ? 0 : 1.0 / (rate * burstiness);
}

static double arrivals_next(arrivals *a) { return a->all_at_once ? 0 : gamma_std(&a->g, a->k) * a->scale; }

int db_lg_arrivals(double rate, double burstiness, uint64_t seed, int n, double *gaps) {
    if (n < 0 || (n > 0 && !gaps) || !(rate > 0) || !(burstiness > 0) || !isfinite(burstiness)) return -1;
    arrivals a;
    arrivals_init(&a, rate, burstiness, seed);
    for (int i = 0; i < n; i++) gaps[i] = arrivals_next(&a);
    return 0;
}

/* ---- one transfer ---- */

typedef struct xfer {
    struct xfer *prev, *next;     /* the in-flight list */
    CURL *easy;
    struct curl_slist *hdrs;
    db_sse *sse;
    db_lg_result res;
    db_lg_acc acc;
    db_api_kind api;
    const char *token;
    int64_t t0;                   /* the run's start (absolute) */
    int64_t now;                  /* arrival of the bytes being parsed (relative) */
    int64_t t_last;               /* the last byte (relative), -1 */
    bool have_status, http_error, done;
    bool connected;               /* the request was about to go out on a connection */
    int n_events;
    db_str errbody;               /* the start of a non-2xx body */
    size_t errkeep;               /* how much of it to keep */
    char *own_err;                /* a failure found in the body (malformed, error event) */
    char cerr[CURL_ERROR_SIZE];
} xfer;

static void xfer_free(xfer *x) {
    if (!x) return;
    if (x->easy) curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    db_sse_free(x->sse);
    db_lg_result_free(&x->res);
    db_str_free(&x->errbody);
    free(x->own_err);
    free(x);
}

static int on_event(void *ctx, const char *data, size_t len) {
    xfer *x = ctx;
    x->n_events++;
    if (x->done) return 0;   /* anything after the end event is not the response's */
    bool cb, done;
    char e[320];
    if (db_lg_apply(x->api, data, len, &x->res, &x->acc, &cb, &done, e, sizeof e) != 0) {
        free(x->own_err);
        x->own_err = db_strdup(e);
        return 1;
    }
    if (cb) {
        x->res.chunk_ns[x->res.n_chunks - 1] = x->now;
        if (x->res.t_first_ns < 0) x->res.t_first_ns = x->now;
    }
    if (done) x->done = true;
    return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
    xfer *x = ud;
    size_t n = size * nmemb;
    x->now = x->t_last = db_now_ns() - x->t0;
    if (!x->have_status) {
        long st = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &st);
        x->have_status = true;
        x->http_error = st < 200 || st > 299;
    }
    if (x->http_error) {   /* keep the start for the message, drain the rest */
        if (x->errbody.len < x->errkeep) {
            size_t k = x->errkeep - x->errbody.len;
            if (db_str_appendn(&x->errbody, ptr, k < n ? k : n) != 0) return 0;
        }
        return n;
    }
    if (x->done) return n;
    int rc = db_sse_feed(x->sse, ptr, n);
    if (rc != 0) {
        if (!x->own_err) x->own_err = db_strdup("malformed SSE: an event larger than 16 MiB (or out of memory)");
        return 0;   /* aborts the transfer */
    }
    return n;
}

static int on_prereq(void *ud, char *ip, char *local_ip, int port, int local_port) {
    (void)ip, (void)local_ip, (void)port, (void)local_port;
    ((xfer *)ud)->connected = true;
    return CURL_PREREQFUNC_OK;
}

typedef struct lg {
    const db_lg_schedule *sch;
    const db_lg_request *reqs;
    int n_reqs;
    CURLM *multi;
    int64_t t0;
    xfer *head;   /* in flight */
    int in_flight;
} lg;

static int64_t rel_now(const lg *L) { return db_now_ns() - L->t0; }

static int start(lg *L, int index, int64_t t_sched, char *err, size_t errlen) {
    const db_lg_request *q = &L->reqs[index % L->n_reqs];
    const db_lg_schedule *s = L->sch;
    xfer *x = calloc(1, sizeof *x);
    if (!x) return db_errf(err, errlen, "out of memory");
    result_init(&x->res, index);
    x->api = q->api;
    x->token = q->bearer_token;
    x->t0 = L->t0;
    x->t_last = -1;
    db_str_init(&x->errbody);
    x->errkeep = ERR_BODY_KEEP + (q->bearer_token ? strlen(q->bearer_token) : 0);
    x->sse = db_sse_new(on_event, x);
    x->easy = curl_easy_init();
    struct curl_slist *h = NULL;
    const char *hs[] = { "Content-Type: application/json", "Accept: text/event-stream", "Expect:" };
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        struct curl_slist *t = curl_slist_append(h, hs[i]);
        if (!t) {
            curl_slist_free_all(h);
            h = NULL;
            break;
        }
        h = t;
    }
    x->hdrs = h;
    if (!x->sse || !x->easy || !h) {
        xfer_free(x);
        return db_errf(err, errlen, "out of memory (starting request %d)", index);
    }
    CURL *c = x->easy;
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(q->body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_PRIVATE, x);
    curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(c, CURLOPT_PREREQDATA, x);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->cerr);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");   /* a proxy never sees local traffic */
    curl_easy_setopt(c, CURLOPT_USERAGENT, "decobench/" PACKAGE_VERSION);
    if (s->timeout_s > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)ceil(s->timeout_s * 1000));
    if (s->connect_timeout_s > 0)
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(s->connect_timeout_s * 1000));
    if (q->bearer_token) {   /* libcurl builds the header; the token is never in our strings */
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, q->bearer_token);
    }
    x->res.t_scheduled_ns = t_sched;
    x->res.t_sent_ns = rel_now(L);
    CURLMcode mc = curl_multi_add_handle(L->multi, c);
    if (mc != CURLM_OK) {
        xfer_free(x);
        return db_errf(err, errlen, "curl: %s", curl_multi_strerror(mc));
    }
    x->next = L->head;
    if (L->head) L->head->prev = x;
    L->head = x;
    L->in_flight++;
    return 0;
}

static void unlink_xfer(lg *L, xfer *x) {
    if (x->prev) x->prev->next = x->next;
    else L->head = x->next;
    if (x->next) x->next->prev = x->prev;
    x->prev = x->next = NULL;
    L->in_flight--;
}

/* Every occurrence of token in s becomes "***". malloc'd. */
static char *scrub(const char *s, const char *token) {
    db_str b;
    db_str_init(&b);
    size_t tl = token ? strlen(token) : 0;
    const char *p = s;
    if (tl > 0) {
        const char *f;
        while ((f = strstr(p, token))) {
            db_str_appendn(&b, p, (size_t)(f - p));
            db_str_append(&b, "***");
            p = f + tl;
        }
    }
    db_str_append(&b, p);
    return b.s ? db_str_take(&b) : db_strdup("");
}

static const char *curl_why(const xfer *x, CURLcode cc) {
    return x->cerr[0] ? x->cerr : curl_easy_strerror(cc);
}

/* The transfer ended with cc: fill in the result's outcome. */
static void conclude(const lg *L, xfer *x, CURLcode cc) {
    const db_lg_schedule *s = L->sch;
    int64_t now = rel_now(L);
    long st = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &st);
    x->res.http_status = (int)st;
    bool http_error = st != 0 && (st < 200 || st > 299);
    if (cc == CURLE_OK && !http_error && !x->own_err && !x->done) {
        x->now = x->t_last >= 0 ? x->t_last : now;
        int rc = db_sse_finish(x->sse);   /* an event without its blank line */
        if (rc != 0 && !x->own_err) x->own_err = db_strdup("malformed SSE: an event larger than 16 MiB (or out of memory)");
    }
    db_str m;
    db_str_init(&m);
    if (x->own_err) {
        db_str_append(&m, x->own_err);
    } else if (http_error) {
        db_str_printf(&m, "HTTP %ld", st);
        if (x->errbody.len > 0) {   /* the token out first, then cut */
            char *body = scrub(x->errbody.s, x->token);
            if (body) {
                db_lg_one_line(body, ERR_BODY_SHOWN);
                db_str_printf(&m, ": %s", body);
            }
            free(body);
        }
    } else if (x->done) {
        /* the end event arrived: what happens to the connection after it does not matter */
    } else if (cc == CURLE_OK) {
        db_str_append(&m, "stream ended before the end event");
        if (x->n_events == 0) {
            char *ct = NULL;
            curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
            db_str_printf(&m, " (no SSE events; Content-Type %s)", ct ? ct : "none");
        }
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        if (!x->connected) {
            double lim = s->connect_timeout_s > 0 ? s->connect_timeout_s : 300;
            if (s->timeout_s > 0 && s->timeout_s < lim) lim = s->timeout_s;
            db_str_printf(&m, "timed out after %g s while connecting", lim);
        } else {
            db_str_printf(&m, "timed out after %g s", s->timeout_s);
        }
    } else if (cc == CURLE_COULDNT_CONNECT) {
        long oe = 0;
        curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &oe);
        if (oe == ECONNREFUSED) db_str_append(&m, "connection refused");
        else db_str_printf(&m, "could not connect: %s", curl_why(x, cc));
    } else if (cc == CURLE_PARTIAL_FILE || cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING ||
               cc == CURLE_SEND_ERROR) {
        if (st == 0) db_str_printf(&m, "connection closed before a response (%s)", curl_why(x, cc));
        else db_str_printf(&m, "stream ended before the end event (%s)", curl_why(x, cc));
    } else {
        db_str_printf(&m, "curl: %s", curl_why(x, cc));
    }
    if (m.len > 0) {
        char *e = scrub(m.s, x->token);
        if (e) db_lg_one_line(e, 480);
        x->res.error = e ? e : db_strdup("out of memory");
        x->res.t_done_ns = now;
    } else {
        x->res.t_done_ns = x->t_last >= 0 ? x->t_last : now;
    }
    db_str_free(&m);
    if (x->res.n_tokens < 0) x->res.n_tokens = 0;   /* the ids were incomplete: none (tokens is NULL) */
}

/* ---- the loop ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;
static void curl_init(void) { curl_init_rc = db_fetch_global_init(); }

static int check_args(const db_lg_schedule *s, const db_lg_request *reqs, int n_reqs, char *err, size_t errlen) {
    if (!s || !reqs || n_reqs < 1) return db_errf(err, errlen, "load generator: no schedule or no requests");
    for (int i = 0; i < n_reqs; i++) {
        if (!reqs[i].url || !reqs[i].body) return db_errf(err, errlen, "load generator: request %d has no URL or body", i);
        if (reqs[i].api != DB_API_OPENAI_COMPLETIONS && reqs[i].api != DB_API_OPENAI_CHAT &&
            reqs[i].api != DB_API_LLAMA_COMPLETION)
            return db_errf(err, errlen, "load generator: request %d: unknown API kind %d", i, (int)reqs[i].api);
    }
    if (s->n_requests < 0) return db_errf(err, errlen, "load generator: n_requests %d < 0", s->n_requests);
    if (!(s->duration_s >= 0) || !isfinite(s->duration_s) || !(s->timeout_s >= 0) || !isfinite(s->timeout_s) ||
        !(s->connect_timeout_s >= 0) || !isfinite(s->connect_timeout_s))
        return db_errf(err, errlen, "load generator: duration and timeouts must be finite and >= 0");
    if (s->mode == DB_LG_CLOSED) {
        if (s->concurrency < 1) return db_errf(err, errlen, "load generator: closed loop needs concurrency >= 1");
    } else if (s->mode == DB_LG_OPEN) {
        if (s->concurrency < 0) return db_errf(err, errlen, "load generator: concurrency cap %d < 0", s->concurrency);
        if (!(s->rate > 0)) return db_errf(err, errlen, "load generator: rate must be > 0 (INFINITY: all at once)");
        if (!(s->burstiness > 0) || !isfinite(s->burstiness))
            return db_errf(err, errlen, "load generator: burstiness must be finite and > 0");
    } else {
        return db_errf(err, errlen, "load generator: unknown mode %d", (int)s->mode);
    }
    return 0;
}

int db_loadgen_run(const db_lg_schedule *sch, const db_lg_request *reqs, int n_reqs, db_lg_on_result on_result,
                   void *ctx, volatile sig_atomic_t *cancel, db_lg_summary *summary, char *err, size_t errlen) {
    db_lg_summary sum;
    memset(&sum, 0, sizeof sum);
    if (summary) *summary = sum;
    if (check_args(sch, reqs, n_reqs, err, errlen) != 0) return -1;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != 0) return db_errf(err, errlen, "load generator: libcurl initialisation failed");

    const bool open = sch->mode == DB_LG_OPEN;
    const int cap = sch->concurrency;   /* open: 0 = none */
    int n_end = sch->n_requests;        /* requests that may start (lowered when the duration ends) */
    /* open loop: the next arrival is due at due_ns (the first at 0); t_arr in seconds */
    arrivals arr;
    double t_arr = 0;
    int64_t due_ns = 0;
    if (open) arrivals_init(&arr, sch->rate, sch->burstiness, sch->seed);
    lg L = { .sch = sch, .reqs = reqs, .n_reqs = n_reqs };
    L.multi = curl_multi_init();
    if (!L.multi) return db_errf(err, errlen, "curl: curl_multi_init failed");
    if (cap > 0) /* never the limit: our own cap is */
        curl_multi_setopt(L.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)cap * 2);
    const int64_t dur_ns = sch->duration_s > 0 ? (int64_t)(sch->duration_s * 1e9) : INT64_MAX;
    int rc = 0, next = 0;
    L.t0 = db_now_ns();
    for (;;) {
        if (cancel && *cancel) {
            rc = 1;
            break;
        }
        int64_t now = rel_now(&L);
        while (next < n_end) {   /* start what is due */
            int64_t sched;
            if (!open) {
                if (L.in_flight >= cap) break;
                if (now > dur_ns) {
                    n_end = next;
                    break;
                }
                sched = now;
            } else {
                if (due_ns > dur_ns) {
                    n_end = next;
                    break;
                }
                if (due_ns > now || (cap > 0 && L.in_flight >= cap)) break;
                sched = due_ns;
            }
            if (start(&L, next, sched, err, errlen) != 0) {
                rc = -1;
                break;
            }
            next++;
            if (open) {
                t_arr += arrivals_next(&arr);
                due_ns = t_arr * 1e9 < 9e18 ? (int64_t)(t_arr * 1e9) : INT64_MAX;
            }
            if (L.in_flight > sum.max_in_flight) sum.max_in_flight = L.in_flight;
            now = rel_now(&L);
        }
        if (rc != 0 || (L.in_flight == 0 && next >= n_end)) break;
        int running = 0;
        CURLMcode mc = curl_multi_perform(L.multi, &running);
        if (mc != CURLM_OK) {
            rc = db_errf(err, errlen, "curl: %s", curl_multi_strerror(mc));
            break;
        }
        CURLMsg *msg;
        int left;
        bool stop = false;
        while (!stop && (msg = curl_multi_info_read(L.multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            xfer *x = NULL;
            CURL *e = msg->easy_handle;
            CURLcode cc = msg->data.result;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
            curl_multi_remove_handle(L.multi, e);
            unlink_xfer(&L, x);
            conclude(&L, x, cc);
            if (x->res.error) sum.failed++;
            else sum.succeeded++;
            sum.wall_ns = rel_now(&L);
            if (on_result && on_result(ctx, &x->res) != 0) stop = true;
            xfer_free(x);
        }
        if (stop) {
            rc = 1;
            break;
        }
        if (L.in_flight == 0 && next >= n_end) break;
        long wait = POLL_MAX_MS;
        if (open && next < n_end && (cap == 0 || L.in_flight < cap)) {
            int64_t dt = due_ns - rel_now(&L);
            if (dt <= 0) wait = 0;
            else if (dt < (int64_t)POLL_MAX_MS * 1000000) wait = (long)((dt + 999999) / 1000000);
        } else if (!open && next < n_end && L.in_flight < cap) {
            wait = 0;
        }
        if (wait > 0) {
            mc = curl_multi_poll(L.multi, NULL, 0, (int)wait, NULL);
            if (mc != CURLM_OK) {
                rc = db_errf(err, errlen, "curl: %s", curl_multi_strerror(mc));
                break;
            }
        }
    }
    /* what is still in flight is abandoned */
    while (L.head) {
        xfer *x = L.head;
        curl_multi_remove_handle(L.multi, x->easy);
        unlink_xfer(&L, x);
        xfer_free(x);
        sum.abandoned++;
    }
    if (rc != 0) sum.wall_ns = rel_now(&L);
    sum.started = next;
    curl_multi_cleanup(L.multi);
    if (summary) *summary = sum;
    return rc;
}
