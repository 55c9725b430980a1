/* recycle.c — Token Recycling (Luo et al. 2024, "Turning Trash into
 * Treasure: Accelerating Inference of Large Language Models with Token
 * Recycling"): a model-free drafter that keeps, for every vocabulary token,
 * the top-k candidates of the last logits row the target computed for it —
 * an adjacency matrix of n_vocab × k token ids (4·n_vocab·k bytes).
 *
 * Schedule: one target prefill (logits for every prompt row with
 * prompt_rows, as the paper updates the matrix from every row it sees), then
 * one target forward per step over the committed tail and a draft tree.  The
 * tree is grown from the last committed token by BFS over a static template
 * (per depth, how many children each node of the previous depth takes, the
 * i-th child being column i of its parent's matrix row): `paper` is the
 * paper's 80-node tree of depth 6, `small` a 44-node cut of it, `chain` the
 * top-1 chain; `depth` cuts a template shallower and `k` drops children of
 * rank >= k.  Nodes whose parent's row is still empty go with their subtree.
 * After the forward the matrix rows of the root token and of every tree
 * node's token are replaced by the top-k of their logits rows (the paper's
 * update rule; later rows of the batch overwrite earlier ones).
 *
 * Tree attention uses the model layer's sequence ids as spec-tree does: the
 * tree's leaves are sequences 0..L-1 (pre-order), a node belongs to the
 * leaves below it (a contiguous range), the committed cells to every
 * sequence.  Nodes go into the batch in pre-order with children in rank
 * order, so the top-1 chain directly follows the committed cells; accepted
 * cells are kept only while they are that chain's prefix (single-sequence
 * cell order: llama.cpp's CPU flash attention sums cells in cell order), the
 * remaining accepted tokens are evaluated again at the head of the next
 * forward.  The default template stays under 64 batch rows (with the
 * re-evaluated tail), where llama.cpp's CPU flash attention uses the same
 * kernel as a one-row decode (README: lookahead W=15).
 *
 * Verification walks the tree from the root.  Greedy: follow the child equal
 * to the target's argmax.  Stochastic: the drafter is deterministic given
 * the matrix (built from earlier steps only), so the children are tried in
 * rank order with sequential elimination as in spec-tree — accept c with
 * probability p(c), else zero it and renormalise, and with every child
 * rejected draw from what is left: lossless.
 *
 * Events: FORWARD (prefill, one per step), DRAFT (tree nodes), SAMPLE (the
 * walk, and the matrix update: time outside forwards), VERIFY
 * (drafted = the tree's depth, so α@i is "the path reached depth i+1", as
 * for spec-tree), COMMIT, SAMPLE.  Outcome: `drafter_bytes` (the matrix's
 * size).
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specdec.h"
#include "harness/util/util.h"

#define RC_MAX_K 8
#define RC_MAX_DEPTH 6
#define RC_MAX_NODES 96

/* Templates: per depth, the number of children of each node of the previous
 * depth in BFS order (depth 1: the root's).  Each row's length is the sum of
 * the previous row. */
typedef struct tmpl_def { const char *name; int n_layers; const int *len; const int *const *layer; } tmpl_def;

/* the paper's tree (80 nodes, depth 6) */
static const int P0[] = { 8 };
static const int P1[] = { 8, 4, 3, 2, 1, 1, 1, 1 };
static const int P2[] = { 8, 3, 2, 1, 1, 1, 1, 1, 2, 1, 0, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0 };
static const int P3[] = { 5, 2, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0 };
static const int P4[] = { 3, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0 };
static const int P5[] = { 2, 0, 0, 1, 0, 0, 0, 0 };
static const int *const P_layers[] = { P0, P1, P2, P3, P4, P5 };
static const int P_len[] = { 1, 8, 21, 25, 15, 8 };
/* a 44-node cut of it (depth 6) whose batch stays under 64 rows */
static const int S0[] = { 6 };
static const int S1[] = { 6, 3, 2, 1, 1, 1 };
static const int S2[] = { 5, 2, 1, 1, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0 };
static const int S3[] = { 3, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0 };
static const int S4[] = { 2, 1, 0, 0, 0, 0, 0 };
static const int S5[] = { 1, 0, 0 };
static const int *const S_layers[] = { S0, S1, S2, S3, S4, S5 };
static const int S_len[] = { 1, 6, 14, 13, 7, 3 };
/* the top-1 chain */
static const int C0[] = { 1 };
static const int *const C_layers[] = { C0, C0, C0, C0, C0, C0 };
static const int C_len[] = { 1, 1, 1, 1, 1, 1 };

static const tmpl_def templates[] = {
    { "small", 6, S_len, S_layers },
    { "paper", 6, P_len, P_layers },
    { "chain", 6, C_len, C_layers },
};

static const db_param_def rc_params[] = {
    DB_SAMPLING_PARAMS("greedy (argmax path) or stochastic lossless verification", DB_HELP_TOP_K_DIST, DB_HELP_TOP_P_DIST),
    { "k",           DB_PARAM_INT,  "8", 1, RC_MAX_K, NULL, "candidates kept per token in the adjacency matrix (the paper's k)" },
    { "tree",        DB_PARAM_ENUM, "small", 0, 0, "small|paper|chain",
      "static BFS tree template: small (44 nodes), paper (80 nodes, >= 64 batch rows), chain (top-1, 6 nodes)" },
    { "depth",       DB_PARAM_INT,  "6", 1, RC_MAX_DEPTH, NULL, "cut the template at this depth" },
    { "prompt_rows", DB_PARAM_BOOL, "true", 0, 1, NULL, "fill the matrix from every prompt row's logits at prefill" },
};

/* A template instantiated for (tree, depth, k): nodes in BFS order. */
typedef struct tmpl {
    int n;
    int parent[RC_MAX_NODES];     /* -1: child of the root */
    int rank[RC_MAX_NODES];       /* column of the parent's matrix row */
    int depth[RC_MAX_NODES];      /* 1 = child of the root */
    int n_leaves;
} tmpl;

static void tmpl_build(const db_params *p, tmpl *t) {
    const tmpl_def *d = &templates[(int)db_params_num(p, "tree")];
    const int depth = db_params_int(p, "depth"), k = db_params_int(p, "k");
    int prev[RC_MAX_NODES], n_prev = 1, cur[RC_MAX_NODES];
    prev[0] = -1;                 /* the root */
    t->n = 0;
    for (int L = 0; L < d->n_layers && L < depth; L++) {
        int n_cur = 0;
        /* the layer lists children for every template node of the previous
         * depth, including those dropped by k (prev[i] == -2) */
        for (int i = 0; i < d->len[L]; i++) {
            for (int c = 0; c < d->layer[L][i]; c++) {
                if (prev[i] == -2 || c >= k || t->n >= RC_MAX_NODES) { cur[n_cur++] = -2; continue; }
                t->parent[t->n] = prev[i];
                t->rank[t->n] = c;
                t->depth[t->n] = L + 1;
                cur[n_cur++] = t->n++;
            }
        }
        memcpy(prev, cur, sizeof(int) * (size_t)n_cur);
        n_prev = n_cur;
    }
    (void)n_prev;
    bool has_child[RC_MAX_NODES] = { false };
    for (int i = 0; i < t->n; i++) if (t->parent[i] >= 0) has_child[t->parent[i]] = true;
    t->n_leaves = 0;
    for (int i = 0; i < t->n; i++) t->n_leaves += !has_child[i];
}

static int rc_n_seq(const db_params *p) {
    tmpl t;
    tmpl_build(p, &t);
    return t.n_leaves > 0 ? t.n_leaves : 1;
}

static int rc_validate(const db_params *p, char *err, size_t errlen) {
    return db_sampling_params_check(p, " when mode=sample", err, errlen);
}

/* The k largest entries of x (ties: the lower id), descending; -1 pads. */
static void topk_row(const float *x, int V, int k, db_token *out) {
    float val[RC_MAX_K];
    int n = 0;
    for (int v = 0; v < V; v++) {
        if (n == k && !(x[v] > val[n - 1])) continue;
        int j = n < k ? n++ : k - 1;
        while (j > 0 && x[v] > val[j - 1]) { val[j] = val[j - 1]; out[j] = out[j - 1]; j--; }
        val[j] = x[v];
        out[j] = v;
    }
    for (int j = n; j < k; j++) out[j] = DB_TOKEN_NULL;
}

typedef struct rnode {
    db_token tok;
    int depth;                    /* 1 = child of the root */
    int parent;                   /* pre-order index, -1: the root */
    int first_kid, next_sib;      /* pre-order indices, -1: none */
    int leaf_lo, leaf_hi;         /* sequences [leaf_lo, leaf_hi) */
    int row;                      /* target batch row */
} rnode;

/* Grow the tree of this step from root token `root` through the matrix and
 * lay it out in pre-order.  max_depth bounds it (remaining tokens).  Returns
 * the number of nodes; *n_leaves and *depth_out get the leaves and depth. */
static int grow_tree(const tmpl *t, const db_token *adj, int k, db_token root, int max_depth, rnode *nodes,
                     int *n_leaves, int *depth_out) {
    /* BFS: the token of every template node, DB_TOKEN_NULL when pruned */
    db_token tok[RC_MAX_NODES];
    for (int i = 0; i < t->n; i++) {
        db_token pt = t->parent[i] < 0 ? root : tok[t->parent[i]];
        tok[i] = pt < 0 || t->depth[i] > max_depth ? DB_TOKEN_NULL : adj[(size_t)pt * (size_t)k + (size_t)t->rank[i]];
    }
    /* pre-order: an explicit stack of template indices; children of a node
     * are the template nodes with it as parent, in rank order (BFS order) */
    int stack[RC_MAX_NODES + 1], sp = 0, pre[RC_MAX_NODES], n = 0;
    int map[RC_MAX_NODES];
    for (int i = t->n - 1; i >= 0; i--)
        if (t->parent[i] < 0 && tok[i] != DB_TOKEN_NULL) stack[sp++] = i;
    while (sp > 0) {
        int i = stack[--sp];
        map[i] = n;
        pre[n++] = i;
        for (int j = t->n - 1; j > i; j--)
            if (t->parent[j] == i && tok[j] != DB_TOKEN_NULL) stack[sp++] = j;
    }
    int leaves = 0, depth = 0;
    for (int q = 0; q < n; q++) {
        const int i = pre[q];
        nodes[q] = (rnode){ tok[i], t->depth[i], t->parent[i] < 0 ? -1 : map[t->parent[i]], -1, -1, 0, 0, -1 };
        if (t->depth[i] > depth) depth = t->depth[i];
    }
    /* children links (pre-order keeps siblings in rank order) */
    int last_kid[RC_MAX_NODES + 1];
    for (int q = 0; q <= n; q++) last_kid[q] = -1;
    int root_first = -1;
    for (int q = 0; q < n; q++) {
        int par = nodes[q].parent;
        int *lk = &last_kid[par < 0 ? n : par];
        if (*lk < 0) { if (par < 0) root_first = q; else nodes[par].first_kid = q; }
        else nodes[*lk].next_sib = q;
        *lk = q;
    }
    (void)root_first;
    /* leaf ranges: pre-order leaves are numbered in order; a subtree's
     * leaves are contiguous; walk backwards so children are done first */
    for (int q = 0; q < n; q++)
        if (nodes[q].first_kid < 0) { nodes[q].leaf_lo = leaves; nodes[q].leaf_hi = ++leaves; }
    for (int q = n - 1; q >= 0; q--) {
        if (nodes[q].first_kid < 0) continue;
        int lo = 1 << 30, hi = 0;
        for (int c = nodes[q].first_kid; c >= 0; c = nodes[c].next_sib) {
            if (nodes[c].leaf_lo < lo) lo = nodes[c].leaf_lo;
            if (nodes[c].leaf_hi > hi) hi = nodes[c].leaf_hi;
        }
        nodes[q].leaf_lo = lo;
        nodes[q].leaf_hi = hi;
    }
    *n_leaves = leaves;
    *depth_out = depth;
    return n;
}

static int rc_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    const db_params *P = req->params;
    const int K = db_params_int(P, "k");
    tmpl t;
    tmpl_build(P, &t);
    const int n_seq_all = t.n_leaves > 0 ? t.n_leaves : 1;
    db_spec s;
    if (db_spec_begin_rows(&s, req, out, RC_MAX_DEPTH + 1, db_params_bool(P, "prompt_rows"), err, errlen) != 0) return -1;
    db_model *m = req->target;
    const int V = s.n_vocab;
    const bool greedy = s.sampling.greedy || s.sampling.temperature <= 0.0f;
    const size_t adj_bytes = sizeof(db_token) * (size_t)V * (size_t)K;
    db_token *adj = malloc(adj_bytes);
    float *resid = malloc(sizeof(float) * (size_t)V);
    int32_t *all_seq = malloc(sizeof(int32_t) * (size_t)n_seq_all);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n_seq_all);
    rnode nodes[RC_MAX_NODES];
    db_batch tb;
    int rc = 0;
    memset(&tb, 0, sizeof tb);
    if (!adj || !resid || !all_seq || !ids || db_batch_init(&tb, RC_MAX_NODES + RC_MAX_DEPTH + 4, n_seq_all) != 0) {
        rc = db_errf(err, errlen, "out of memory");
        goto done;
    }
    db_output_stat(out, "drafter_bytes", (double)adj_bytes);
    for (size_t i = 0; i < (size_t)V * (size_t)K; i++) adj[i] = DB_TOKEN_NULL;
    for (int q = 0; q < n_seq_all; q++) all_seq[q] = q;
    /* the prefill's rows (all of them with prompt_rows, else the last) */
    {
        int64_t t0 = db_now_ns();
        const int first = db_params_bool(P, "prompt_rows") ? 0 : req->n_prompt - 1;
        for (int i = first; i < req->n_prompt; i++)
            topk_row(db_model_logits(m, i), V, K, adj + (size_t)req->prompt[i] * (size_t)K);
        db_emit_sample(req->events, 0, t0, db_now_ns());
    }
    /* the prompt's cells join every leaf sequence once */
    for (int q = 1; q < n_seq_all && rc == 0; q++)
        if (db_model_seq_rm(m, q, -1, -1) != 0 || db_model_seq_cp(m, 0, q, -1, -1) != 0)
            rc = db_errf(err, errlen, "target KV copy: %s", db_model_last_error(m));

    while (!s.done && rc == 0) {
        if (req->cancel && *req->cancel) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
            rc = 1;
            break;
        }
        const int base = s.n_seq;                 /* position of depth-1 nodes */
        const db_token root = db_spec_last(&s);
        int max_depth = db_spec_remaining(&s) - 1;
        if (max_depth > RC_MAX_DEPTH) max_depth = RC_MAX_DEPTH;
        int64_t t0 = db_now_ns();
        int n_leaves = 0, depth = 0;
        const int n_nodes = max_depth > 0 ? grow_tree(&t, adj, K, root, max_depth, nodes, &n_leaves, &depth) : 0;
        if (n_nodes > 0) db_emit_draft(req->events, s.step, n_nodes, t0, db_now_ns());

        /* ---- one target forward: the committed tail, then the tree ---- */
        db_batch_clear(&tb);
        for (int i = s.target_past; i < base; i++) db_batch_add(&tb, s.seq[i], i, all_seq, n_seq_all, i == base - 1);
        const int row0 = tb.n_tokens - 1;
        for (int q = 0; q < n_nodes; q++) {
            int n_ids = 0;
            for (int l = nodes[q].leaf_lo; l < nodes[q].leaf_hi; l++) ids[n_ids++] = l;
            nodes[q].row = db_batch_add(&tb, nodes[q].tok, base + nodes[q].depth - 1, ids, n_ids, true);
        }
        if (db_forward(m, &tb, req->events, DB_ROLE_TARGET, s.step) != 0) {
            rc = db_errf(err, errlen, "target forward at position %d: %s", base, db_model_last_error(m));
            break;
        }

        /* ---- walk the tree ---- */
        int64_t t1 = db_now_ns();
        db_token accepted[RC_MAX_DEPTH];
        int path[RC_MAX_DEPTH];
        int a = 0, cur = -1, cur_row = row0;
        db_token extra = DB_TOKEN_NULL;
        for (;;) {
            const float *logits = db_model_logits(m, cur_row);
            const int first_kid = cur < 0 ? (n_nodes > 0 ? 0 : -1) : nodes[cur].first_kid;
            int next = -1;
            if (greedy) {
                const db_token best = db_argmax(logits, V);
                for (int c = first_kid; c >= 0 && next < 0; c = nodes[c].next_sib)
                    if (nodes[c].tok == best) next = c;
                if (next < 0) extra = best;
            } else {
                db_sampling_probs(&s.sampling, logits, &s.buf);
                db_token cand[RC_MAX_NODES];
                int kid[RC_MAX_NODES], n_kids = 0;
                for (int c = first_kid; c >= 0; c = nodes[c].next_sib) kid[n_kids] = c, cand[n_kids++] = nodes[c].tok;
                const int won = db_spec_eliminate(s.buf.prob, V, cand, n_kids, &s.rng, resid, &extra);
                if (won >= 0) next = kid[won];
            }
            if (next < 0) break;
            path[a] = next;
            accepted[a++] = nodes[next].tok;
            cur = next;
            cur_row = nodes[next].row;
        }
        db_emit_sample(req->events, s.step, t1, db_now_ns());

        /* ---- recycle: every row of this forward updates its token's row ---- */
        int64_t t2 = db_now_ns();
        topk_row(db_model_logits(m, row0), V, K, adj + (size_t)root * (size_t)K);
        for (int q = 0; q < n_nodes; q++)
            topk_row(db_model_logits(m, nodes[q].row), V, K, adj + (size_t)nodes[q].tok * (size_t)K);
        db_emit_sample(req->events, s.step, t2, db_now_ns());

        /* ---- KV: keep the accepted cells that directly follow the
         * committed ones (pre-order indices 0..kept-1: the top-1 chain's
         * prefix), in every sequence; drop the rest of this step ---- */
        int kept = 0;
        while (kept < a && path[kept] == kept) kept++;
        if (db_tree_keep_chain(m, n_seq_all, base, kept, kept ? nodes[path[kept - 1]].leaf_lo : -1, n_nodes > 0, err,
                               errlen) != 0)
            rc = -1;
        if (rc) break;
        int v = db_spec_accept(&s, accepted, a, extra, n_nodes > 0 ? depth : 0, err, errlen);
        s.target_past = base + kept;          /* the other accepted tokens: evaluated again */
        if (v < 0) rc = -1;
        if (v != 0) break;
    }
    if (rc == 0 && strcmp(out->stop_reason, "cancel") == 0) rc = 1;
done:
    free(adj);
    free(resid);
    free(all_seq);
    free(ids);
    db_batch_free(&tb);
    db_spec_end(&s);
    return rc;
}

const db_engine db_engine_token_recycling = {
    .name = "token-recycling",
    .summary = "Token Recycling: top-k candidates of every logits row kept in an n_vocab x k matrix, a static BFS tree drafted from it, verified in one target forward",
    .params = rc_params,
    .n_params = (int)(sizeof rc_params / sizeof rc_params[0]),
    .n_seq_max = rc_n_seq,
    .validate = rc_validate,
    .lossless_greedy = true,
    .generate = rc_generate,
};
