/* lattice.c — best-first search with hypothesis recombination (Xu,
 * Jonnalagadda & Durrett 2022, "Massive-scale Decoding for Text Generation
 * using Lattices"): a lattice of many distinct outputs in a budget of model
 * calls.
 *
 * The search keeps a max-heap of frontier candidates (parent node, token),
 * ranked by the length-normalised score of the best path through the parent
 * plus the token: score / depth^length_norm.  A popped candidate is
 * completed depth-first: the model is called on it, its top `expand_k`
 * other children go to the heap, and the rollout continues greedily with the
 * argmax child until a terminal token (end of generation, or the length
 * limit).  Before a new node is made, recombination (the paper's "zip"
 * merge) looks for an existing node at the same depth whose last `ngram`
 * tokens equal the candidate's: if one exists the candidate becomes an edge
 * into it and the rollout stops there — the merged node's future is shared,
 * so every path that reaches it continues through its descendants.  A node
 * is evaluated with the context of the path it was created from; when the
 * model's order is at most `ngram` (an n-gram model) recombination is exact
 * and every lattice path has its true model score.  Merging only at equal
 * depth keeps the lattice a DAG (the paper also merges across lengths).
 *
 * Budget: `budget` model calls after the prompt's forward.  Each call
 * evaluates one node (the path KV cache of search_paths.h makes a rollout cost
 * one token per call).
 *
 * Output: the complete path with the highest normalised score.  Outcomes
 * (db_output_stat): lattice_paths (distinct complete paths), lattice_nodes,
 * lattice_edges, lattice_merges, lattice_calls, search_score (best path's
 * log-probability), search_norm_score, and with a reference
 * lattice_oracle_rouge2 (best ROUGE-2 F of up to oracle_paths complete
 * paths against the reference) and lattice_oracle_paths (paths scored).
 */
#include "lattice.h"
#include "search_paths.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/textmetrics.h"
#include "harness/util/util.h"

static const db_param_def lattice_params[] = {
    { "budget",       DB_PARAM_INT,   "64", 1, 10000000, NULL, "model calls after the prompt's forward" },
    { "ngram",        DB_PARAM_INT,   "4", 1, 64, NULL, "recombine nodes of equal depth whose last ngram tokens match" },
    { "expand_k",     DB_PARAM_INT,   "4", 0, 1000000, NULL, "children of an evaluated node queued besides the greedy one" },
    { "length_norm",  DB_PARAM_FLOAT, "1.0", 0.0, 5.0, NULL, "heap and output rank: score / length^length_norm" },
    { "max_len",      DB_PARAM_INT,   "64", 1, 65536, NULL, "longest path (also limited by max_new_tokens)" },
    { "slots",        DB_PARAM_INT,   "4", 1, 64, NULL, "KV sequences caching recently evaluated paths" },
    { "oracle_paths", DB_PARAM_INT,   "1000", 0, 10000000, NULL, "complete paths scored against the reference (oracle ROUGE-2)" },
};

static int lattice_n_seq(const db_params *p) { return db_params_int(p, "slots"); }

typedef struct cand {
    int parent;
    db_token tok;
    float logp;
    double prio;
} cand;

typedef struct builder {
    db_lattice *lat;
    cand *heap;
    int n_heap, cap_heap;
    int *bucket, n_buckets;  /* recombination hash: node chains */
    int *chain;              /* per node: next node in its bucket */
} builder;

void db_lattice_free(db_lattice *lat) {
    free(lat->nodes);
    free(lat->edges);
    memset(lat, 0, sizeof *lat);
}

static int grow(void **p, int *cap, int need, size_t elem);

static int heap_push(builder *b, cand c) {
    if (grow((void **)&b->heap, &b->cap_heap, b->n_heap + 1, sizeof *b->heap) != 0) return -1;
    int i = b->n_heap++;
    b->heap[i] = c;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!(b->heap[i].prio > b->heap[p].prio)) break;
        cand t = b->heap[i]; b->heap[i] = b->heap[p]; b->heap[p] = t;
        i = p;
    }
    return 0;
}

static cand heap_pop(builder *b) {
    cand top = b->heap[0];
    b->heap[0] = b->heap[--b->n_heap];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < b->n_heap && b->heap[l].prio > b->heap[m].prio) m = l;
        if (r < b->n_heap && b->heap[r].prio > b->heap[m].prio) m = r;
        if (m == i) break;
        cand t = b->heap[i]; b->heap[i] = b->heap[m]; b->heap[m] = t;
        i = m;
    }
    return top;
}

static int grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    int c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(*p, elem * (size_t)c);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Suffix (last min(depth, ngram) tokens, newest first) of the path that
 * ends with token tok after node parent. */
static int suffix_of(const db_lattice *lat, int parent, db_token tok, db_token *buf) {
    int n = 0;
    buf[n++] = tok;
    for (int p = parent; p > 0 && n < lat->ngram; p = lat->nodes[p].rep_parent) buf[n++] = lat->nodes[p].tok;
    return n;
}

static uint64_t suffix_hash(int depth, const db_token *s, int n) {
    uint64_t h = db_mix64((uint64_t)depth * 0x9E3779B97F4A7C15ull + 17);
    for (int i = 0; i < n; i++) h = db_mix64(h ^ ((uint64_t)(uint32_t)s[i] + 0x100000001b3ull * (uint64_t)(i + 1)));
    return h;
}

static int find_node(const builder *b, int depth, const db_token *s, int n, db_token *tmp) {
    const db_lattice *lat = b->lat;
    int bk = (int)(suffix_hash(depth, s, n) & (uint64_t)(b->n_buckets - 1));
    for (int id = b->bucket[bk]; id >= 0; id = b->chain[id]) {
        const db_lattice_node *nd = &lat->nodes[id];
        if (nd->depth != depth) continue;
        int k = suffix_of(lat, nd->rep_parent, nd->tok, tmp);
        if (k == n && memcmp(tmp, s, sizeof(db_token) * (size_t)n) == 0) return id;
    }
    return -1;
}

static int rehash(builder *b) {
    int nb = b->n_buckets * 2;
    int *bk = malloc(sizeof(int) * (size_t)nb);
    if (!bk) return -1;
    for (int i = 0; i < nb; i++) bk[i] = -1;
    db_token s[65];
    for (int id = 1; id < b->lat->n_nodes; id++) {
        const db_lattice_node *nd = &b->lat->nodes[id];
        int n = suffix_of(b->lat, nd->rep_parent, nd->tok, s);
        int h = (int)(suffix_hash(nd->depth, s, n) & (uint64_t)(nb - 1));
        b->chain[id] = bk[h];
        bk[h] = id;
    }
    free(b->bucket);
    b->bucket = bk;
    b->n_buckets = nb;
    return 0;
}

static int add_edge(db_lattice *lat, int from, int to, float logp) {
    if (grow((void **)&lat->edges, &lat->cap_edges, lat->n_edges + 1, sizeof *lat->edges) != 0) return -1;
    lat->edges[lat->n_edges++] = (db_lattice_edge){ from, to, logp };
    double s = lat->nodes[from].best + logp;
    if (s > lat->nodes[to].best) lat->nodes[to].best = s;
    return 0;
}

/* Node for candidate c: an existing one (merged, *created = 0) or a new one. */
static int place(builder *b, const cand *c, bool eog, int *created) {
    db_lattice *lat = b->lat;
    db_token s[65], tmp[65];
    int depth = lat->nodes[c->parent].depth + 1;
    int n = suffix_of(lat, c->parent, c->tok, s);
    int id = find_node(b, depth, s, n, tmp);
    *created = id < 0;
    if (id < 0) {
        if (grow((void **)&lat->nodes, &lat->cap_nodes, lat->n_nodes + 1, sizeof *lat->nodes) != 0) return -1;
        int cap = lat->cap_nodes;
        int *ch = realloc(b->chain, sizeof(int) * (size_t)cap);
        if (!ch) return -1;
        b->chain = ch;
        id = lat->n_nodes++;
        lat->nodes[id] = (db_lattice_node){ c->tok, depth, c->parent, eog || depth >= lat->max_len, eog, -INFINITY, -1, 0 };
        int h = (int)(suffix_hash(depth, s, n) & (uint64_t)(b->n_buckets - 1));
        b->chain[id] = b->bucket[h];
        b->bucket[h] = id;
        if (lat->n_nodes > 2 * b->n_buckets && rehash(b) != 0) return -1;
    } else {
        lat->merges++;
    }
    if (add_edge(lat, c->parent, id, c->logp) != 0) return -1;
    return id;
}

/* Queue the top expand_k children of node n except the best, which is
 * returned as the rollout's next candidate (parent -1: none). */
static cand expand(builder *b, int n, const float *logits, int V, int k, float *lp, int *idx, int *oom) {
    db_lattice *lat = b->lat;
    db_log_softmax(logits, V, lp);
    int m = db_top_k(lp, V, k + 1, idx);
    cand next = { -1, DB_TOKEN_NULL, 0, 0 };
    for (int i = 0; i < m; i++) {
        double s = lat->nodes[n].best + lp[idx[i]];
        cand c = { n, idx[i], lp[idx[i]], db_length_norm(s, lat->nodes[n].depth + 1, lat->length_norm) };
        if (i == 0) next = c;
        else if (heap_push(b, c) != 0) *oom = 1;
    }
    return next;
}

int db_lattice_build(const db_gen_request *req, db_lattice *lat, char *err, size_t errlen) {
    const db_params *P = req->params;
    memset(lat, 0, sizeof *lat);
    lat->ngram = db_params_int(P, "ngram");
    lat->max_len = db_params_int(P, "max_len");
    if (lat->max_len > req->max_new_tokens) lat->max_len = req->max_new_tokens;
    lat->length_norm = db_params_num(P, "length_norm");
    lat->best_terminal = -1;
    const int budget = db_params_int(P, "budget"), slots = db_params_int(P, "slots");
    db_model *m = req->target;
    const int V = db_model_n_vocab(m);
    int k = db_params_int(P, "expand_k");
    if (k > V - 1) k = V - 1;
    if (lat->max_len < 1) return 0;

    builder b;
    memset(&b, 0, sizeof b);
    b.lat = lat;
    db_pathkv kv;
    if (db_pathkv_init(&kv, m, DB_ROLE_TARGET, req->events, req->prompt, req->n_prompt, slots, lat->max_len,
                       lat->max_len, err, errlen) != 0)
        return -1;
    int rc = 0;
    float *lp = malloc(sizeof(float) * (size_t)V);
    int *idx = malloc(sizeof(int) * (size_t)(k + 1));
    db_token *path = malloc(sizeof(db_token) * (size_t)lat->max_len);
    b.n_buckets = 1024;
    b.bucket = malloc(sizeof(int) * (size_t)b.n_buckets);
    int oom = 0;
    if (!lp || !idx || !path || !b.bucket ||
        grow((void **)&lat->nodes, &lat->cap_nodes, 1, sizeof *lat->nodes) != 0 ||
        !(b.chain = malloc(sizeof(int) * (size_t)lat->cap_nodes))) {
        rc = db_errf(err, errlen, "out of memory");
        goto done;
    }
    for (int i = 0; i < b.n_buckets; i++) b.bucket[i] = -1;
    lat->nodes[0] = (db_lattice_node){ DB_TOKEN_NULL, 0, -1, false, false, 0.0, -1, 1 };
    b.chain[0] = -1;
    lat->n_nodes = 1;
    cand c = expand(&b, 0, kv.root_logits, V, k, lp, idx, &oom);
    for (;;) {
        if (oom) { rc = db_errf(err, errlen, "out of memory"); goto done; }
        while (c.parent >= 0) {
            if (req->cancel && *req->cancel) { rc = 1; goto done; }
            bool eog = req->stop_at_eog && db_model_is_eog(m, c.tok);
            int created, id = place(&b, &c, eog, &created);
            if (id < 0) { rc = db_errf(err, errlen, "out of memory"); goto done; }
            c.parent = -1;
            if (!created || lat->nodes[id].terminal) break;
            if (lat->calls >= budget) goto budget_spent;
            int len = db_lattice_best_path(lat, id, path);   /* before build: the creation path */
            db_path_eval pe = { path, len, len - 1, 0, 0 };
            if (db_pathkv_eval(&kv, &pe, 1, lat->calls + 1, err, errlen) != 0) { rc = -1; goto done; }
            lat->calls++;
            c = expand(&b, id, db_pathkv_logits(&kv, &pe, len - 1), V, k, lp, idx, &oom);
            if (oom) { rc = db_errf(err, errlen, "out of memory"); goto done; }
        }
        if (b.n_heap == 0) break;
        c = heap_pop(&b);
    }
budget_spent:;
    /* dynamic programme over depths: path counts and best scores */
    int *order = malloc(sizeof(int) * (size_t)lat->n_edges + 1);
    if (!order) { rc = db_errf(err, errlen, "out of memory"); goto done; }
    int *cnt = calloc((size_t)lat->max_len + 2, sizeof(int));
    if (!cnt) { free(order); rc = db_errf(err, errlen, "out of memory"); goto done; }
    for (int e = 0; e < lat->n_edges; e++) cnt[lat->nodes[lat->edges[e].from].depth + 1]++;
    for (int d = 1; d <= lat->max_len + 1; d++) cnt[d] += cnt[d - 1];
    for (int e = 0; e < lat->n_edges; e++) order[cnt[lat->nodes[lat->edges[e].from].depth]++] = e;
    free(cnt);
    for (int i = 1; i < lat->n_nodes; i++) {
        lat->nodes[i].best = -INFINITY;
        lat->nodes[i].best_in = -1;
        lat->nodes[i].n_paths = 0;
    }
    for (int j = 0; j < lat->n_edges; j++) {
        const db_lattice_edge *e = &lat->edges[order[j]];
        db_lattice_node *to = &lat->nodes[e->to];
        const db_lattice_node *from = &lat->nodes[e->from];
        to->n_paths += from->n_paths;
        double s = from->best + e->logp;
        if (s > to->best) { to->best = s; to->best_in = order[j]; }
    }
    free(order);
    double best_norm = -INFINITY;
    for (int i = 1; i < lat->n_nodes; i++) {
        const db_lattice_node *nd = &lat->nodes[i];
        if (!nd->terminal) continue;
        lat->n_complete_paths += nd->n_paths;
        double nrm = db_length_norm(nd->best, nd->depth, lat->length_norm);
        if (nrm > best_norm) { best_norm = nrm; lat->best_terminal = i; }
    }
done:
    free(lp);
    free(idx);
    free(path);
    free(b.bucket);
    free(b.chain);
    free(b.heap);
    db_pathkv_free(&kv);
    if (rc != 0) db_lattice_free(lat);
    return rc;
}

int db_lattice_best_path(const db_lattice *lat, int n, db_token *buf) {
    int len = lat->nodes[n].depth;
    for (int i = len - 1; i >= 0; i--) {
        buf[i] = lat->nodes[n].tok;
        const db_lattice_node *nd = &lat->nodes[n];
        n = nd->best_in >= 0 ? lat->edges[nd->best_in].from : nd->rep_parent;
    }
    return len;
}

/* ---- path enumeration (depth-first over out-edges) ---- */
typedef struct walker {
    const db_lattice *lat;
    int *first, *next_out;   /* adjacency: first out-edge per node, next out-edge */
    db_token *tok;
    int max_paths, visited;
    int (*fn)(void *, const db_token *, int, double);
    void *ctx;
} walker;

static int walk(walker *w, int node, int depth, double score) {
    const db_lattice_node *nd = &w->lat->nodes[node];
    if (nd->terminal && node != 0) {
        w->visited++;
        if (w->fn(w->ctx, w->tok, depth, score) != 0) return 1;
        return w->visited >= w->max_paths;
    }
    for (int e = w->first[node]; e >= 0; e = w->next_out[e]) {
        const db_lattice_edge *ed = &w->lat->edges[e];
        w->tok[depth] = w->lat->nodes[ed->to].tok;
        if (walk(w, ed->to, depth + 1, score + ed->logp)) return 1;
    }
    return 0;
}

int db_lattice_each_path(const db_lattice *lat, int max_paths,
                         int (*fn)(void *ctx, const db_token *tok, int len, double score), void *ctx) {
    if (max_paths <= 0 || lat->n_nodes == 0) return 0;
    walker w = { lat, malloc(sizeof(int) * (size_t)lat->n_nodes), malloc(sizeof(int) * (size_t)(lat->n_edges + 1)),
                 malloc(sizeof(db_token) * (size_t)(lat->max_len + 1)), max_paths, 0, fn, ctx };
    if (!w.first || !w.next_out || !w.tok) {
        free(w.first); free(w.next_out); free(w.tok);
        return -1;
    }
    for (int i = 0; i < lat->n_nodes; i++) w.first[i] = -1;
    for (int e = lat->n_edges - 1; e >= 0; e--) {
        w.next_out[e] = w.first[lat->edges[e].from];
        w.first[lat->edges[e].from] = e;
    }
    walk(&w, 0, 0, 0.0);
    free(w.first); free(w.next_out); free(w.tok);
    return w.visited;
}

/* ---- DOT ---- */
static void dot_escape(FILE *f, const char *s, int n) {
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\\\n", f);
        else if (c < 0x20 || c >= 0x7f) fprintf(f, "\\\\x%02X", c);
        else fputc(c, f);
    }
}

int db_lattice_write_dot(const db_lattice *lat, db_model *m, FILE *f) {
    bool *on_best = calloc((size_t)(lat->n_edges + 1), sizeof(bool));
    if (!on_best) return -1;
    for (int n = lat->best_terminal; n > 0 && lat->nodes[n].best_in >= 0; n = lat->edges[lat->nodes[n].best_in].from)
        on_best[lat->nodes[n].best_in] = true;
    fprintf(f, "digraph lattice {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    fprintf(f, "  // %d nodes, %d edges, %.0f complete paths, %d model calls, %d merges\n", lat->n_nodes,
            lat->n_edges, lat->n_complete_paths, lat->calls, lat->merges);
    fprintf(f, "  n0 [label=\"<prompt>\", shape=ellipse];\n");
    char piece[256];
    for (int i = 1; i < lat->n_nodes; i++) {
        const db_lattice_node *nd = &lat->nodes[i];
        int len = db_model_token_piece(m, nd->tok, piece, sizeof piece);
        if (len < 0) len = 0;
        fprintf(f, "  n%d [label=\"", i);
        dot_escape(f, piece, len);
        fprintf(f, "\"%s%s];\n", nd->terminal ? ", shape=doublecircle" : "",
                i == lat->best_terminal ? ", color=red" : "");
    }
    for (int e = 0; e < lat->n_edges; e++) {
        const db_lattice_edge *ed = &lat->edges[e];
        fprintf(f, "  n%d -> n%d [label=\"%.3f\"%s];\n", ed->from, ed->to, ed->logp,
                on_best[e] ? ", color=red, penwidth=2" : "");
    }
    fprintf(f, "}\n");
    free(on_best);
    return ferror(f) ? -1 : 0;
}

/* ---- the engine ---- */
typedef struct oracle_ctx {
    db_model *m;
    const char *reference;
    char *text;
    int cap;
    double best;
} oracle_ctx;

static int oracle_path(void *vctx, const db_token *tok, int len, double score) {
    oracle_ctx *o = vctx;
    (void)score;
    if (len > 0 && db_model_is_eog(o->m, tok[len - 1])) len--;
    int n = db_model_detokenize(o->m, tok, len, o->text, o->cap);
    if (n < 0) {
        char *t = realloc(o->text, (size_t)-n + 1);
        if (!t) return 1;
        o->text = t;
        o->cap = -n;
        n = db_model_detokenize(o->m, tok, len, o->text, o->cap);
    }
    o->text[n < 0 ? 0 : n] = 0;
    double r = db_rouge2_f(o->text, o->reference);
    if (r > o->best) o->best = r;
    return 0;
}

static int lattice_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    db_lattice lat;
    int rc = db_lattice_build(req, &lat, err, errlen);
    if (rc == 1) snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
    if (rc != 0) return rc;
    snprintf(out->stop_reason, sizeof out->stop_reason, "length");
    if (lat.best_terminal > 0) {
        db_hyp h;
        h.tok = malloc(sizeof(db_token) * (size_t)(lat.max_len + 1));
        if (!h.tok) { db_lattice_free(&lat); return db_errf(err, errlen, "out of memory"); }
        h.len = db_lattice_best_path(&lat, lat.best_terminal, h.tok);
        h.eog = lat.nodes[lat.best_terminal].eog;
        h.score = lat.nodes[lat.best_terminal].best;
        h.norm = db_length_norm(h.score, h.len, lat.length_norm);
        h.partial = false;
        rc = db_search_emit(req, out, &h, err, errlen);
        free(h.tok);
    }
    db_output_stat(out, "lattice_paths", lat.n_complete_paths);
    db_output_stat(out, "lattice_nodes", lat.n_nodes);
    db_output_stat(out, "lattice_edges", lat.n_edges);
    db_output_stat(out, "lattice_merges", lat.merges);
    db_output_stat(out, "lattice_calls", lat.calls);
    int max_paths = db_params_int(req->params, "oracle_paths");
    if (rc == 0 && req->reference && lat.best_terminal > 0 && max_paths > 0) {
        oracle_ctx o = { req->target, req->reference, malloc(256), 255, 0.0 };
        int n = o.text ? db_lattice_each_path(&lat, max_paths, oracle_path, &o) : -1;
        free(o.text);
        if (n < 0) rc = db_errf(err, errlen, "out of memory");
        else {
            db_output_stat(out, "lattice_oracle_rouge2", o.best);
            db_output_stat(out, "lattice_oracle_paths", n);
        }
    }
    db_lattice_free(&lat);
    return rc;
}

const db_engine db_engine_lattice = {
    .name = "lattice",
    .summary = "best-first search with recombination (Xu et al. 2022): a lattice of many outputs in a budget of model calls",
    .params = lattice_params,
    .n_params = (int)(sizeof lattice_params / sizeof lattice_params[0]),
    .n_seq_max = lattice_n_seq,
    .generate = lattice_generate,
};
