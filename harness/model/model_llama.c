/* model_llama.c — the "llama" model backend: GGUF models through llama.cpp.
 *
 * One db_model owns one llama_model and one llama_context.  Batches are
 * copied into a llama_batch allocated once (n_batch entries); the KV cache is
 * managed through llama_memory_*.  llama.cpp's logging is silenced below
 * ERROR by default (db_llama_set_quiet); the first error line it logs
 * during an operation is kept so failures can say why.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"    /* HAVE_LLAMA, DB_LLAMA_COMMIT */
#endif
#include "model_int.h"

#include <stdio.h>
#include <string.h>

#ifdef HAVE_LLAMA

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

#include "ggml-backend.h"
#include "llama.h"
#include "harness/util/util.h"

#ifndef DB_LLAMA_COMMIT
#define DB_LLAMA_COMMIT "unknown"
#endif

/* ---- logging ---- */
static volatile bool g_quiet = true;
static char g_last_log[256];      /* first ERROR-level line since the last clear */

static void log_cb(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    static enum ggml_log_level prev = GGML_LOG_LEVEL_INFO;
    if (level == GGML_LOG_LEVEL_CONT) level = prev;
    else prev = level;
    if (level >= GGML_LOG_LEVEL_ERROR && text && !g_last_log[0]) {
        /* keep the first error's first line, without the newline */
        size_t n = strcspn(text, "\n");
        if (n >= sizeof g_last_log) n = sizeof g_last_log - 1;
        memcpy(g_last_log, text, n);
        g_last_log[n] = 0;
    }
    if (g_quiet && level < GGML_LOG_LEVEL_ERROR) return;
    fputs(text, stderr);
}

void db_llama_set_quiet(bool quiet) {
    g_quiet = quiet;
    llama_log_set(log_cb, NULL);
}

const char *db_llama_commit(void) { return DB_LLAMA_COMMIT; }

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void backend_init_once(void) {
    llama_log_set(log_cb, NULL);
    llama_backend_init();
    /* built with GGML_BACKEND_DL=OFF: backends are linked in statically, so
     * ggml_backend_load_all() is not needed. */
}

void db_llama_init(void) { pthread_once(&g_once, backend_init_once); }

/* ---- state ---- */
typedef struct llama_impl {
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    llama_memory_t mem;
    struct llama_batch batch;
    int n_batch, n_seq_max;
    int n_rows;          /* entries of the last decode */
    int8_t *had_logits;  /* n_batch flags of the last decode */
    char rpc[256];       /* the RPC servers its layers are on ("" none) */
    int n_offload;       /* layers offloaded to them */
} llama_impl;

#define IMPL(m) ((llama_impl *)(m)->impl)

static void llama_close(db_model *m) {
    llama_impl *L = IMPL(m);
    if (!L) return;
    if (L->batch.token) llama_batch_free(L->batch);
    if (L->ctx) llama_free(L->ctx);
    if (L->model) llama_model_free(L->model);
    free(L->had_logits);
    free(L);
    m->impl = NULL;
}

/* The file must exist, be readable and begin with "GGUF". */
static int check_gguf(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) return db_errf(err, errlen, "%s: %s", path, strerror(errno));
    char magic[4];
    errno = 0;
    size_t n = fread(magic, 1, sizeof magic, f);
    int e = ferror(f) ? errno : 0;
    fclose(f);
    if (e) return db_errf(err, errlen, "%s: %s", path, strerror(e));
    if (n == 0) return db_errf(err, errlen, "%s: not a GGUF file (empty)", path);
    if (n < 4 || memcmp(magic, "GGUF", 4) != 0) return db_errf(err, errlen, "%s: not a GGUF file", path);
    return 0;
}

static int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* The devices of ggml RPC servers, as llama.cpp's --rpc adds them
 * (common/arg.cpp add_rpc_devices): each endpoint registered once per
 * process, its devices written to devs (at most max).  Returns 0, or -1
 * with one line in err. */
#define MAX_RPC 16
static struct { char endpoint[128]; ggml_backend_reg_t reg; } g_rpc[MAX_RPC];
static int g_n_rpc;
static pthread_mutex_t g_rpc_mu = PTHREAD_MUTEX_INITIALIZER;

/* Can a TCP connection to host:port be opened (3 s)?  ggml's RPC client
 * aborts the process when it cannot connect, so decobench asks first. */
static int rpc_reachable(const char *ep, char *err, size_t errlen) {
    char host[128];
    const char *colon = strrchr(ep, ':');
    if (!colon || colon == ep || (size_t)(colon - ep) >= sizeof host)
        return db_errf(err, errlen, "RPC server '%s': expected host:port", ep);
    memcpy(host, ep, (size_t)(colon - ep));
    host[colon - ep] = 0;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(host, colon + 1, &hints, &res);
    if (g != 0) return db_errf(err, errlen, "RPC server %s: %s", ep, gai_strerror(g));
    int ok = 0, last = 0;
    for (struct addrinfo *a = res; a && !ok; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int c = connect(fd, a->ai_addr, a->ai_addrlen);
        if (c != 0 && errno == EINPROGRESS) {
            struct pollfd pf = { .fd = fd, .events = POLLOUT };
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (poll(&pf, 1, 3000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) c = 0;
            else last = soerr ? soerr : ETIMEDOUT;
        } else if (c != 0) {
            last = errno;
        }
        ok = c == 0;
        close(fd);
    }
    freeaddrinfo(res);
    return ok ? 0 : db_errf(err, errlen, "RPC server %s: cannot connect: %s", ep, strerror(last ? last : ECONNREFUSED));
}

static int rpc_devices(const char *list, ggml_backend_dev_t *devs, int *n_devs, int max, char *err, size_t errlen) {
    *n_devs = 0;
    ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
    if (!rpc)
        return db_errf(err, errlen, "this llama.cpp was built without ggml's RPC backend (scripts/build-llama.sh builds it)");
    typedef ggml_backend_reg_t (*add_server_fn)(const char *endpoint);
    add_server_fn add = (add_server_fn)ggml_backend_reg_get_proc_address(rpc, "ggml_backend_rpc_add_server");
    if (!add) return db_errf(err, errlen, "ggml's RPC backend lacks ggml_backend_rpc_add_server");
    int rc = 0;
    pthread_mutex_lock(&g_rpc_mu);
    for (const char *q = list; *q && rc == 0;) {
        const char *e = strchr(q, ',');
        size_t n = e ? (size_t)(e - q) : strlen(q);
        char ep[128];
        if (n == 0 || n >= sizeof ep) {
            rc = db_errf(err, errlen, "RPC server '%.*s': expected host:port", (int)n, q);
            break;
        }
        memcpy(ep, q, n);
        ep[n] = 0;
        ggml_backend_reg_t reg = NULL;
        for (int i = 0; i < g_n_rpc && !reg; i++)
            if (!strcmp(g_rpc[i].endpoint, ep)) reg = g_rpc[i].reg;
        if (!reg && rpc_reachable(ep, err, errlen) != 0) {
            rc = -1;
            break;
        }
        if (!reg) {
            if (g_n_rpc == MAX_RPC) {
                rc = db_errf(err, errlen, "more than %d RPC servers", MAX_RPC);
                break;
            }
            reg = add(ep);
            if (!reg) {
                rc = db_errf(err, errlen, "RPC server %s: ggml could not add it", ep);
                break;
            }
            ggml_backend_register(reg);
            snprintf(g_rpc[g_n_rpc].endpoint, sizeof g_rpc[g_n_rpc].endpoint, "%s", ep);
            g_rpc[g_n_rpc++].reg = reg;
        }
        for (size_t d = 0; d < ggml_backend_reg_dev_count(reg) && rc == 0; d++) {
            if (*n_devs == max) rc = db_errf(err, errlen, "more than %d RPC devices", max);
            else devs[(*n_devs)++] = ggml_backend_reg_dev_get(reg, d);
        }
        q = e ? e + 1 : q + n;
    }
    pthread_mutex_unlock(&g_rpc_mu);
    if (rc == 0 && *n_devs == 0) rc = db_errf(err, errlen, "RPC servers '%s': no devices", list);
    return rc;
}

static int llama_open(db_model *m, const db_model_params *p, char *err, size_t errlen) {
    if (!p->path || !*p->path) return db_errf(err, errlen, "llama backend: no model path given");
    if (check_gguf(p->path, err, errlen) != 0) return -1;
    db_llama_init();

    llama_impl *L = calloc(1, sizeof *L);
    if (!L) return db_errf(err, errlen, "%s: out of memory", p->path);
    m->impl = L;

    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = p->n_gpu_layers < 0 ? -1 : p->n_gpu_layers;   /* -1: every layer (llama.cpp's rule) */
    ggml_backend_dev_t devs[MAX_RPC * 4 + 1];
    if (p->rpc_servers && *p->rpc_servers) {   /* the layers on the RPC servers, as --rpc */
        int nd = 0;
        char e2[300];
        if (rpc_devices(p->rpc_servers, devs, &nd, MAX_RPC * 4, e2, sizeof e2) != 0) {
            llama_close(m);
            return db_errf(err, errlen, "%s: %s", p->path, e2);
        }
        devs[nd] = NULL;
        mp.devices = devs;
        if (mp.n_gpu_layers <= 0) mp.n_gpu_layers = 999;
        snprintf(L->rpc, sizeof L->rpc, "%s", p->rpc_servers);
        L->n_offload = mp.n_gpu_layers;
    }
    g_last_log[0] = 0;
    L->model = llama_model_load_from_file(p->path, mp);
    if (!L->model) {
        db_errf(err, errlen, "%s: llama.cpp could not load the model%s%s", p->path,
                g_last_log[0] ? ": " : "", g_last_log);
        llama_close(m);
        return -1;
    }
    L->vocab = llama_model_get_vocab(L->model);

    int nt = p->n_threads > 0 ? p->n_threads : default_threads();
    int ntb = p->n_threads_batch > 0 ? p->n_threads_batch : nt;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)p->n_ctx;
    cp.n_batch = (uint32_t)p->n_batch;
    cp.n_ubatch = (uint32_t)p->n_batch;
    cp.n_seq_max = (uint32_t)p->n_seq_max;
    cp.kv_unified = p->kv_unified;
    cp.n_threads = nt;
    cp.n_threads_batch = ntb;
    cp.no_perf = true;
    g_last_log[0] = 0;
    L->ctx = llama_init_from_model(L->model, cp);
    if (!L->ctx) {
        db_errf(err, errlen, "%s: llama.cpp could not create a context (n_ctx %d, n_batch %d, n_seq_max %d)%s%s",
                p->path, p->n_ctx, p->n_batch, p->n_seq_max, g_last_log[0] ? ": " : "", g_last_log);
        llama_close(m);
        return -1;
    }
    L->mem = llama_get_memory(L->ctx);
    L->n_batch = p->n_batch;
    L->n_seq_max = p->n_seq_max;
    L->batch = llama_batch_init(p->n_batch, 0, p->n_seq_max);
    L->had_logits = calloc((size_t)p->n_batch, 1);
    if (!L->batch.token || !L->had_logits) {
        llama_close(m);
        return db_errf(err, errlen, "%s: out of memory", p->path);
    }
    m->n_vocab = llama_vocab_n_tokens(L->vocab);
    return 0;
}

static void llama_get_info(const db_model *m, db_model_info *info) {
    const llama_impl *L = IMPL(m);
    llama_model_desc(L->model, info->desc, sizeof info->desc);
    if (L->rpc[0]) {   /* where the layers are: llama.cpp puts n_gpu_layers of them on the RPC devices */
        int nl = llama_model_n_layer(L->model);
        size_t k = strlen(info->desc);
        snprintf(info->desc + k, sizeof info->desc - k, " \xC2\xB7 rpc %s (%d/%d layers)", L->rpc,
                 L->n_offload < nl ? L->n_offload : nl, nl);
    }
    info->n_params = llama_model_n_params(L->model);
    info->size_bytes = llama_model_size(L->model);
    info->n_layer = llama_model_n_layer(L->model);
    info->n_embd = llama_model_n_embd(L->model);
    info->n_ctx = (int)llama_n_ctx(L->ctx);
    info->n_vocab = m->n_vocab;
    info->n_ctx_train = llama_model_n_ctx_train(L->model);
}

static db_token llama_special(const db_model *m, int which) {
    const llama_impl *L = IMPL(m);
    llama_token t = LLAMA_TOKEN_NULL;
    switch (which) {
    case 0: t = llama_vocab_bos(L->vocab); break;
    case 1: t = llama_vocab_eos(L->vocab); break;
    case 2: t = llama_vocab_mask(L->vocab); break;
    default: break;
    }
    return t < 0 ? DB_TOKEN_NULL : (db_token)t;
}

static bool llama_is_eog_(const db_model *m, db_token t) {
    return llama_vocab_is_eog(IMPL(m)->vocab, t);
}

static bool llama_add_bos_(const db_model *m) {
    return llama_vocab_get_add_bos(IMPL(m)->vocab);
}

static int llama_tokenize_(const db_model *m, const char *text, size_t len, bool add_special,
                           bool parse_special, db_token *out, int cap) {
    if (len > (size_t)INT32_MAX) return INT32_MIN;
    return llama_tokenize(IMPL(m)->vocab, text, (int32_t)len, out, cap, add_special, parse_special);
}

static int llama_token_piece_(const db_model *m, db_token t, char *buf, int cap) {
    return llama_token_to_piece(IMPL(m)->vocab, t, buf, cap, 0, true);
}

static int llama_decode_(db_model *m, const db_batch *b) {
    llama_impl *L = IMPL(m);
    if (b->n_tokens > L->n_batch)
        return db_model_fail(m, "batch of %d tokens exceeds n_batch %d", b->n_tokens, L->n_batch);
    struct llama_batch *lb = &L->batch;
    L->n_rows = 0;
    for (int i = 0; i < b->n_tokens; i++) {
        if (b->n_seq_id[i] < 1 || b->n_seq_id[i] > L->n_seq_max)
            return db_model_fail(m, "batch entry %d: %d sequence ids (expected 1..%d)", i, b->n_seq_id[i], L->n_seq_max);
        lb->token[i] = b->token[i];
        lb->pos[i] = b->pos[i];
        lb->n_seq_id[i] = b->n_seq_id[i];
        for (int s = 0; s < b->n_seq_id[i]; s++) {
            int32_t id = b->seq_id[i][s];
            if (id < 0 || id >= L->n_seq_max)
                return db_model_fail(m, "batch entry %d: sequence id %d outside [0, %d)", i, id, L->n_seq_max);
            lb->seq_id[i][s] = id;
        }
        lb->logits[i] = b->logits[i] ? 1 : 0;
    }
    lb->n_tokens = b->n_tokens;
    g_last_log[0] = 0;
    int rc = llama_decode(L->ctx, *lb);
    if (rc != 0) {
        memset(L->had_logits, 0, (size_t)L->n_batch);
        if (rc == 1) return db_model_fail(m, "llama_decode: no room in the KV cache for %d tokens", b->n_tokens);
        if (rc == 2) return db_model_fail(m, "llama_decode: aborted");
        return db_model_fail(m, "llama_decode failed (code %d)%s%s", rc, g_last_log[0] ? ": " : "", g_last_log);
    }
    for (int i = 0; i < b->n_tokens; i++) L->had_logits[i] = b->logits[i] ? 1 : 0;
    L->n_rows = b->n_tokens;
    return 0;
}

static int llama_chat_format_(db_model *m, const char *const *roles, const char *const *contents, int n,
                              bool add_assistant, char *buf, int cap) {
    const char *tmpl = llama_model_chat_template(IMPL(m)->model, NULL);
    if (!tmpl) {
        db_model_fail(m, "the model has no chat template (tokenizer.chat_template)");
        return INT32_MIN;
    }
    struct llama_chat_message *msgs = malloc(sizeof *msgs * (size_t)(n > 0 ? n : 1));
    if (!msgs) {
        db_model_fail(m, "out of memory");
        return INT32_MIN;
    }
    for (int i = 0; i < n; i++) {
        msgs[i].role = roles[i];
        msgs[i].content = contents[i];
    }
    int32_t r = llama_chat_apply_template(tmpl, msgs, (size_t)n, add_assistant, buf, cap);
    free(msgs);
    if (r < 0) {
        db_model_fail(m, "llama.cpp does not support the model's chat template");
        return INT32_MIN;
    }
    return r > cap ? -r : r;
}

static const float *llama_logits_(db_model *m, int i) {
    llama_impl *L = IMPL(m);
    if (i < 0 || i >= L->n_rows || !L->had_logits[i]) return NULL;
    return llama_get_logits_ith(L->ctx, i);
}

static int llama_seq_rm_(db_model *m, int32_t seq, int32_t p0, int32_t p1) {
    if (!llama_memory_seq_rm(IMPL(m)->mem, seq, p0, p1))
        return db_model_fail(m, "seq_rm(seq %d, [%d, %d)): cannot remove part of this sequence", seq, p0, p1);
    return 0;
}

static int llama_seq_cp_(db_model *m, int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    llama_impl *L = IMPL(m);
    if (src < 0 || dst < 0 || src >= L->n_seq_max || dst >= L->n_seq_max)
        return db_model_fail(m, "seq_cp(%d -> %d): sequence id outside [0, %d)", src, dst, L->n_seq_max);
    llama_memory_seq_cp(L->mem, src, dst, p0, p1);
    return 0;
}

static int llama_seq_keep_(db_model *m, int32_t seq) {
    llama_impl *L = IMPL(m);
    if (seq < 0 || seq >= L->n_seq_max)
        return db_model_fail(m, "seq_keep(%d): sequence id outside [0, %d)", seq, L->n_seq_max);
    llama_memory_seq_keep(L->mem, seq);
    return 0;
}

static int32_t llama_seq_pos_max_(db_model *m, int32_t seq) {
    llama_impl *L = IMPL(m);
    if (seq < 0 || seq >= L->n_seq_max) return -1;
    return llama_memory_seq_pos_max(L->mem, seq);
}

static void llama_reset_(db_model *m) {
    llama_impl *L = IMPL(m);
    llama_memory_clear(L->mem, true);
    L->n_rows = 0;
}

static int llama_set_causal_(db_model *m, bool causal) {
    llama_set_causal_attn(IMPL(m)->ctx, causal);
    return 0;
}

static const void *llama_vocab_(const db_model *m) { return IMPL(m)->vocab; }

static void llama_set_threads_(db_model *m, int n_threads, int n_threads_batch) {
    int nt = n_threads > 0 ? n_threads : default_threads();
    int ntb = n_threads_batch > 0 ? n_threads_batch : nt;
    llama_set_n_threads(IMPL(m)->ctx, nt, ntb);
}

const db_model_backend db_backend_llama = {
    .name = "llama",
    .open = llama_open,
    .close = llama_close,
    .get_info = llama_get_info,
    .special = llama_special,
    .is_eog = llama_is_eog_,
    .add_bos = llama_add_bos_,
    .tokenize = llama_tokenize_,
    .token_piece = llama_token_piece_,
    .decode = llama_decode_,
    .logits = llama_logits_,
    .seq_rm = llama_seq_rm_,
    .seq_cp = llama_seq_cp_,
    .seq_keep = llama_seq_keep_,
    .seq_pos_max = llama_seq_pos_max_,
    .reset = llama_reset_,
    .set_causal = llama_set_causal_,
    .set_threads = llama_set_threads_,
    .chat_format = llama_chat_format_,
    .llama_vocab = llama_vocab_,
};

#else /* !HAVE_LLAMA */

const char *db_llama_commit(void) { return ""; }
void db_llama_set_quiet(bool quiet) { (void)quiet; }
void db_llama_init(void) {}

#endif
