/* exact_search.c — exact MAP decoding: Dijkstra's algorithm (A* with h = 0)
 * over the tree of continuations, with edge costs −log p(token | prefix).
 *
 * Costs are non-negative, so the first complete hypothesis taken off the
 * priority queue (one that ends in an end-of-generation token, or reaches
 * max_len = min(max_len, max_new_tokens) tokens) has the highest model score
 * of all complete hypotheses: the search has then PROVEN optimality
 * (outcome search_optimal = 1).  This is the oracle against which beam
 * search's search errors are counted (Stahlberg & Byrne 2019, "On NMT Search
 * Errors and Model Errors: Cat Got Your Tongue?"; Meister et al. 2020, "If
 * beam search is the answer, what was the question?").
 *
 * Children are generated lazily: expanding a node (one model row) sorts its
 * children by probability and queues only the best; taking a child off the
 * queue queues its next sibling.  The queue thus holds O(expansions) entries
 * while every child is still reached in cost order.  Only `children`
 * children of a node are stored at a time (memory: expansions × children ×
 * 8 bytes, whatever the vocabulary); when the queue reaches the first child
 * not stored, a re-expansion of the parent (one more model row) stores the
 * next `children`.  Up to `batch` queued partial hypotheses are expanded in
 * one forward (stopping at a complete one that is not first, which keeps the
 * proof valid).  After max_nodes expansions the search gives up: it returns
 * the best complete hypothesis it has queued (else the deepest expanded one)
 * with search_optimal = 0.
 *
 * Outcomes: search_score, search_norm_score, search_optimal, search_nodes
 * (expansions, re-expansions included), search_queue (hypotheses queued).
 */
#include "engine.h"
#include "search_paths.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

static const db_param_def exact_params[] = {
    { "max_len",   DB_PARAM_INT, "64", 1, 65536, NULL, "longest hypothesis (also limited by max_new_tokens)" },
    { "max_nodes", DB_PARAM_INT, "1000", 1, 10000000, NULL, "budget: most node expansions (model rows) before giving up" },
    { "batch",     DB_PARAM_INT, "1", 1, 64, NULL, "queued hypotheses expanded per forward" },
    { "children",  DB_PARAM_INT, "64", 1, 1000000, NULL, "children stored per expansion (more by re-expanding the parent)" },
};

static int exact_n_seq(const db_params *p) { return db_params_int(p, "batch") + 3; }

typedef struct xnode {
    int parent, rank, depth, kids;   /* kids: offset into the child table, -1 until expanded */
    int n_kids, kid_base, n_total;   /* stored children are ranks kid_base .. kid_base+n_kids-1 of n_total */
    float tail_lp;                   /* log-probability of rank kid_base+n_kids (the first not stored) */
    bool reexpand;                   /* placeholder: re-expand parent from rank `rank` */
    db_token tok;
    double cost;                     /* −score */
} xnode;

typedef struct xsearch {
    xnode *nodes;
    int n_nodes, cap_nodes;
    int *heap;
    int n_heap, cap_heap;
    db_token *kid_tok;
    float *kid_lp;
    size_t n_kids, cap_kids;
    int max_kids;
} xsearch;

static bool heap_less(const xsearch *s, int a, int b) {
    const xnode *x = &s->nodes[a], *y = &s->nodes[b];
    if (x->cost != y->cost) return x->cost < y->cost;
    return a < b;
}

static int heap_push(xsearch *s, int n) {
    if (s->n_heap == s->cap_heap) {
        int cap = s->cap_heap ? s->cap_heap * 2 : 256;
        int *h = realloc(s->heap, sizeof *h * (size_t)cap);
        if (!h) return -1;
        s->heap = h;
        s->cap_heap = cap;
    }
    int i = s->n_heap++;
    s->heap[i] = n;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!heap_less(s, s->heap[i], s->heap[p])) break;
        int t = s->heap[i]; s->heap[i] = s->heap[p]; s->heap[p] = t;
        i = p;
    }
    return 0;
}

static int heap_pop(xsearch *s) {
    int top = s->heap[0];
    s->heap[0] = s->heap[--s->n_heap];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->n_heap && heap_less(s, s->heap[l], s->heap[m])) m = l;
        if (r < s->n_heap && heap_less(s, s->heap[r], s->heap[m])) m = r;
        if (m == i) break;
        int t = s->heap[i]; s->heap[i] = s->heap[m]; s->heap[m] = t;
        i = m;
    }
    return top;
}

/* A queue entry for the child of `parent` of this rank: the child itself
 * when stored, else a placeholder that re-expands the parent. */
static int new_node(xsearch *s, int parent, int rank) {
    if (s->n_nodes == s->cap_nodes) {
        int cap = s->cap_nodes ? s->cap_nodes * 2 : 1024;
        xnode *n = realloc(s->nodes, sizeof *n * (size_t)cap);
        if (!n) return -1;
        s->nodes = n;
        s->cap_nodes = cap;
    }
    const xnode *p = &s->nodes[parent];
    xnode *n = &s->nodes[s->n_nodes];
    n->parent = parent;
    n->rank = rank;
    n->kids = -1;
    n->n_kids = n->kid_base = n->n_total = 0;
    n->tail_lp = -INFINITY;
    int at = rank - p->kid_base;
    n->reexpand = at >= p->n_kids;
    if (n->reexpand) {
        n->depth = p->depth;          /* evaluates the parent's path again */
        n->tok = DB_TOKEN_NULL;
        n->cost = p->cost - (double)p->tail_lp;
    } else {
        n->depth = p->depth + 1;
        n->tok = s->kid_tok[p->kids + at];
        n->cost = p->cost - (double)s->kid_lp[p->kids + at];
    }
    return s->n_nodes++;
}

/* Store node n's children sorted by log-probability (best first). */
static float *g_sort_lp;
static int cmp_kid(const void *a, const void *b) {
    float x = g_sort_lp[*(const int *)a], y = g_sort_lp[*(const int *)b];
    if (x != y) return x < y ? 1 : -1;
    return *(const int *)a - *(const int *)b;
}

/* Store children from rank `from` of node n (max_kids of them) and queue
 * the first. */
static int expand(xsearch *s, int n, int from, const float *logits, int V, float *lp, int *order) {
    db_log_softmax(logits, V, lp);
    int total = 0;
    for (int v = 0; v < V; v++)
        if (lp[v] != -INFINITY) order[total++] = v;
    g_sort_lp = lp;
    qsort(order, (size_t)total, sizeof *order, cmp_kid);
    int k = total - from < s->max_kids ? total - from : s->max_kids;
    if (k < 0) k = 0;
    if (s->n_kids + (size_t)k > s->cap_kids) {
        size_t cap = s->cap_kids ? s->cap_kids * 2 : 65536;
        while (cap < s->n_kids + (size_t)k) cap *= 2;
        db_token *t = realloc(s->kid_tok, sizeof *t * cap);
        if (t) s->kid_tok = t;
        float *l = realloc(s->kid_lp, sizeof *l * cap);
        if (l) s->kid_lp = l;
        if (!t || !l) return -1;
        s->cap_kids = cap;
    }
    xnode *nd = &s->nodes[n];
    nd->kids = (int)s->n_kids;
    nd->n_kids = k;
    nd->kid_base = from;
    nd->n_total = total;
    nd->tail_lp = from + k < total ? lp[order[from + k]] : -INFINITY;
    for (int i = 0; i < k; i++) {
        s->kid_tok[s->n_kids + (size_t)i] = order[from + i];
        s->kid_lp[s->n_kids + (size_t)i] = lp[order[from + i]];
    }
    s->n_kids += (size_t)k;
    if (k == 0) return 0;
    int c = new_node(s, n, from);
    return c < 0 ? -1 : heap_push(s, c);
}

static int path_of(const xsearch *s, int n, db_token *buf) {
    int len = s->nodes[n].depth;
    for (int i = len - 1; i >= 0; i--, n = s->nodes[n].parent) buf[i] = s->nodes[n].tok;
    return len;
}

static int exact_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    const db_params *P = req->params;
    int L = db_params_int(P, "max_len");
    if (L > req->max_new_tokens) L = req->max_new_tokens;
    const int max_nodes = db_params_int(P, "max_nodes"), B = db_params_int(P, "batch");
    db_model *m = req->target;
    const int V = db_model_n_vocab(m);
    snprintf(out->stop_reason, sizeof out->stop_reason, "length");
    if (L < 1) return 0;

    db_pathkv kv;
    if (db_pathkv_init(&kv, m, DB_ROLE_TARGET, req->events, req->prompt, req->n_prompt, B + 3, L, B * L, err, errlen) != 0)
        return -1;
    xsearch s;
    memset(&s, 0, sizeof s);
    s.max_kids = db_params_int(P, "children");
    float *lp = malloc(sizeof(float) * (size_t)V);
    int *order = malloc(sizeof(int) * (size_t)V);
    db_token *paths = malloc(sizeof(db_token) * (size_t)B * (size_t)L);
    db_path_eval *pe = malloc(sizeof *pe * (size_t)B);
    int *picked = malloc(sizeof(int) * (size_t)B);
    int rc = 0, expansions = 0, goal = -1, best_complete = -1, deepest = 0;
    bool optimal = false;
    s.cap_nodes = 0;
    if (!lp || !order || !paths || !pe || !picked) { rc = db_errf(err, errlen, "out of memory"); goto done; }
    /* the root: no token, already evaluated by the prompt forward */
    s.nodes = malloc(sizeof *s.nodes * 1024);
    if (!s.nodes) { rc = db_errf(err, errlen, "out of memory"); goto done; }
    s.cap_nodes = 1024;
    s.nodes[0] = (xnode){ -1, 0, 0, -1, 0, 0, 0, -INFINITY, false, DB_TOKEN_NULL, 0.0 };
    s.n_nodes = 1;
    if (expand(&s, 0, 0, kv.root_logits, V, lp, order) != 0) { rc = db_errf(err, errlen, "out of memory"); goto done; }

#define COMPLETE(n) (!s.nodes[n].reexpand && \
                     (s.nodes[n].depth >= L || (req->stop_at_eog && db_model_is_eog(m, s.nodes[n].tok))))
    for (int step = 1; s.n_heap > 0; step++) {
        if (req->cancel && *req->cancel) { rc = 1; break; }
        int nb = 0;
        while (nb < B && s.n_heap > 0) {
            int top = s.heap[0];
            if (COMPLETE(top)) {
                if (nb == 0) { goal = heap_pop(&s); optimal = true; }
                break;
            }
            if (expansions + nb >= max_nodes) break;
            heap_pop(&s);
            const xnode *pn = &s.nodes[s.nodes[top].parent];
            if (!s.nodes[top].reexpand && s.nodes[top].rank + 1 < pn->n_total) {
                int sib = new_node(&s, s.nodes[top].parent, s.nodes[top].rank + 1);
                if (sib < 0 || heap_push(&s, sib) != 0) { rc = db_errf(err, errlen, "out of memory"); goto done; }
                if (COMPLETE(sib) && (best_complete < 0 || s.nodes[sib].cost < s.nodes[best_complete].cost)) best_complete = sib;
            }
            picked[nb++] = top;
        }
        if (goal >= 0 || nb == 0) break;
        /* a placeholder re-expands its parent (the root needs no forward) */
        int ne = 0, row[64];
        for (int i = 0; i < nb; i++) {
            const xnode *x = &s.nodes[picked[i]];
            int at = x->reexpand ? x->parent : picked[i];
            row[i] = -1;
            if (at == 0) continue;
            db_token *buf = paths + (size_t)ne * L;
            int len = path_of(&s, at, buf);
            pe[ne] = (db_path_eval){ buf, len, len - 1, 0, 0 };
            row[i] = ne++;
        }
        if (ne > 0 && db_pathkv_eval(&kv, pe, ne, step, err, errlen) != 0) { rc = -1; goto done; }
        for (int i = 0; i < nb; i++) {
            int first_kid = s.n_nodes;
            const xnode *x = &s.nodes[picked[i]];
            int at = x->reexpand ? x->parent : picked[i], from = x->reexpand ? x->rank : 0;
            const float *logits = row[i] < 0 ? kv.root_logits : db_pathkv_logits(&kv, &pe[row[i]], pe[row[i]].len - 1);
            if (expand(&s, at, from, logits, V, lp, order) != 0) {
                rc = db_errf(err, errlen, "out of memory");
                goto done;
            }
            if (s.n_nodes > first_kid && COMPLETE(first_kid) &&
                (best_complete < 0 || s.nodes[first_kid].cost < s.nodes[best_complete].cost))
                best_complete = first_kid;
            if (s.nodes[picked[i]].depth >= s.nodes[deepest].depth) deepest = picked[i];
        }
        expansions += nb;
        if (expansions >= max_nodes && !(s.n_heap > 0 && COMPLETE(s.heap[0]))) break;
    }
    if (rc == 0 && goal < 0 && s.n_heap > 0 && COMPLETE(s.heap[0])) { goal = heap_pop(&s); optimal = true; }
#undef COMPLETE
    if (rc == 0) {
        int n = goal >= 0 ? goal : best_complete >= 0 ? best_complete : deepest;
        db_hyp h;
        db_token *buf = malloc(sizeof(db_token) * (size_t)(L + 1));
        if (!buf) { rc = db_errf(err, errlen, "out of memory"); goto done; }
        h.tok = buf;
        h.len = path_of(&s, n, buf);
        h.eog = h.len > 0 && req->stop_at_eog && db_model_is_eog(m, buf[h.len - 1]);
        h.score = -s.nodes[n].cost;
        h.norm = h.len > 0 ? h.score / h.len : 0.0;
        h.partial = goal < 0 && best_complete < 0;
        rc = db_search_emit(req, out, &h, err, errlen);
        free(buf);
        db_output_stat(out, "search_optimal", optimal ? 1.0 : 0.0);
        db_output_stat(out, "search_nodes", expansions);
        db_output_stat(out, "search_queue", s.n_nodes - 1);
    } else if (rc == 1) {
        snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
    }
done:
    free(s.nodes);
    free(s.heap);
    free(s.kid_tok);
    free(s.kid_lp);
    free(lp);
    free(order);
    free(paths);
    free(pe);
    free(picked);
    db_pathkv_free(&kv);
    return rc;
}

const db_engine db_engine_exact = {
    .name = "exact",
    .summary = "exact MAP search (Dijkstra, lazy children, node budget); proves optimality for search-error rates",
    .params = exact_params,
    .n_params = (int)(sizeof exact_params / sizeof exact_params[0]),
    .n_seq_max = exact_n_seq,
    .generate = exact_generate,
};
