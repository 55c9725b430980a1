/* opt_tree.c — OPT-Tree (Wang et al. 2024, "OPT-Tree: Speculative Decoding
 * with Adaptive Draft Tree Structure"): at every step the draft tree is the
 * one of at most `nodes` nodes that maximises the expected accepted length,
 * estimated from the draft's own probabilities: E = sum over the tree's
 * nodes of their path probability (the product of the draft probabilities
 * from the root to the node).  The greedy top-N construction is in
 * engines/opt_tree.h.
 *
 * Schedule per step: the draft syncs with the committed text (one forward
 * over what it has not seen, giving the root's distribution), then expands
 * the tree layer by layer — one draft forward per depth over that depth's
 * nodes in the current top N, the children of each entering as candidates,
 * the whole set cut back to the top N.  Expansion stops at max_depth, when
 * the last layer placed no node in the top N (no deeper node can enter), or
 * when it raised E by less than min_gain (the paper's threshold).  Then ONE
 * target forward verifies the committed tail and the tree.
 *
 * Tree attention uses sequence ids as token-recycling does.  Target: the
 * tree's leaves are sequences 0..L-1 (pre-order, children in decreasing
 * draft probability), a node belongs to the leaves below it, the committed
 * cells to every sequence (`nodes` of them).  Nodes go into the batch in
 * that pre-order, so the draft's top-1 chain directly follows the committed
 * cells; accepted cells are kept only while they are that chain's prefix
 * (single-sequence cell order: llama.cpp's CPU flash attention sums cells
 * in cell order), the other accepted tokens are evaluated again at the
 * head of the next forward.  Draft: an evaluated node has a sequence id
 * holding its path; its first evaluated child inherits it, the others get
 * a free id and a copy of the parent's path cells of this step; after
 * verification the accepted path's evaluated cells join every sequence.
 * With nodes + max_depth + 1 < 64 the target batch stays under 64 rows,
 * where llama.cpp's CPU flash attention uses a one-row decode's kernel.
 *
 * Verification walks the tree from the root.  Greedy: follow the child
 * equal to the target's argmax.  Stochastic: the tree is a deterministic
 * function of the draft's distributions (the draft's sampling
 * distribution: temp/top_k/top_p), so the children are tried in decreasing
 * draft probability with sequential elimination as in spec-tree — accept c
 * with probability p(c), else zero it and renormalise, and with every child
 * rejected draw from what is left: lossless.  Greedy scores use the
 * draft's softmax at temperature 1.
 *
 * Events: FORWARD (prefill, draft forwards, one target forward per step),
 * DRAFT (tree nodes), VERIFY (drafted = the tree's depth, so α@i is "the
 * path reached depth i+1", as for spec-tree), COMMIT, SAMPLE (the walk).
 * Outcomes: `tree_nodes_mean` and `tree_depth_mean` (over steps with a
 * tree), `tree_expected_mean` (the draft's estimate E, to set beside the
 * measured mean accepted tokens).
 */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt_tree.h"
#include "specdec.h"
#include "harness/util/util.h"

#define OT_MAX_NODES 64
#define OT_MAX_DEPTH 16

static const db_param_def ot_params[] = {
    DB_SAMPLING_PARAMS("greedy (argmax path) or stochastic lossless verification", DB_HELP_TOP_K_DIST, DB_HELP_TOP_P_DIST),
    { "nodes",     DB_PARAM_INT,   "16", 1, OT_MAX_NODES, NULL, "node budget N of the draft tree (the paper: 50-60 on GPUs)" },
    { "max_depth", DB_PARAM_INT,   "8", 1, OT_MAX_DEPTH, NULL, "deepest tree layer (draft forwards per step: max_depth - 1)" },
    { "min_gain",  DB_PARAM_FLOAT, "0", 0.0, 1.0, NULL,
      "stop expanding when a layer raises the expected accepted length by less than this (the paper's threshold)" },
};

static int ot_validate(const db_params *p, char *err, size_t errlen) {
    return db_sampling_params_check(p, " when mode=sample", err, errlen);
}

static int ot_n_seq(const db_params *p) { return db_params_int(p, "nodes"); }

/* ---- selection (opt_tree.h) ---- */

int db_opt_tree_expand(db_opt_node *nodes, int n, int cap, int parent, const float *q, int V, int budget,
                       int *next_id) {
    if (budget > OT_MAX_NODES) budget = OT_MAX_NODES;
    float val[OT_MAX_NODES];
    db_token tok[OT_MAX_NODES];
    int k = 0;
    for (int v = 0; v < V; v++) {
        if (!(q[v] > 0.0f) || (k == budget && !(q[v] > val[k - 1]))) continue;
        int j = k < budget ? k++ : budget - 1;
        while (j > 0 && q[v] > val[j - 1]) { val[j] = val[j - 1]; tok[j] = tok[j - 1]; j--; }
        val[j] = q[v];
        tok[j] = v;
    }
    const double ps = parent < 0 ? 1.0 : nodes[parent].score;
    const int pd = parent < 0 ? 0 : nodes[parent].depth;
    for (int j = 0; j < k && n < cap; j++)
        nodes[n++] = (db_opt_node){ tok[j], parent, pd + 1, (*next_id)++, ps * (double)val[j], -1, -1 };
    return n;
}

static int node_cmp(const void *a, const void *b) {
    const db_opt_node *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

int db_opt_tree_select(db_opt_node *nodes, int n, int budget) {
    /* parents by id, so they survive the sort */
    for (int i = 0; i < n; i++) nodes[i].parent = nodes[i].parent < 0 ? -1 : nodes[nodes[i].parent].id;
    qsort(nodes, (size_t)n, sizeof *nodes, node_cmp);
    if (n > budget) n = budget;
    for (int i = 0; i < n; i++) {
        if (nodes[i].parent < 0) continue;
        int pi = -1;
        for (int j = 0; j < i; j++) if (nodes[j].id == nodes[i].parent) { pi = j; break; }
        nodes[i].parent = pi;      /* always found: a parent ranks before its children */
    }
    return n;
}

double db_opt_tree_value(const db_opt_node *nodes, int n) {
    double e = 0.0;
    for (int i = 0; i < n; i++) e += nodes[i].score;
    return e;
}

/* ---- the engine ---- */

typedef struct tnode {
    int src;                      /* index in the selected node array */
    int parent;                   /* pre-order index, -1: the root */
    int first_kid, next_sib;      /* pre-order indices, -1: none */
    int leaf_lo, leaf_hi;         /* target sequences [leaf_lo, leaf_hi) */
    int row;                      /* target batch row */
} tnode;

/* Lay the selected tree out in pre-order, children in array order
 * (decreasing score); returns the depth. */
static int layout(const db_opt_node *sel, int n, tnode *t) {
    int stack[OT_MAX_NODES], sp = 0, map[OT_MAX_NODES], m = 0, depth = 0;
    for (int i = n - 1; i >= 0; i--) if (sel[i].parent < 0) stack[sp++] = i;
    while (sp > 0) {
        const int i = stack[--sp];
        map[i] = m;
        t[m++] = (tnode){ i, sel[i].parent < 0 ? -1 : map[sel[i].parent], -1, -1, 0, 0, -1 };
        if (sel[i].depth > depth) depth = sel[i].depth;
        for (int j = n - 1; j > i; j--) if (sel[j].parent == i) stack[sp++] = j;
    }
    int last[OT_MAX_NODES + 1];
    for (int q = 0; q <= m; q++) last[q] = -1;
    for (int q = 0; q < m; q++) {
        const int par = t[q].parent;
        int *lk = &last[par < 0 ? m : par];
        if (*lk >= 0) t[*lk].next_sib = q;
        else if (par >= 0) t[par].first_kid = q;
        *lk = q;
    }
    int leaves = 0;
    for (int q = 0; q < m; q++) if (t[q].first_kid < 0) { t[q].leaf_lo = leaves; t[q].leaf_hi = ++leaves; }
    for (int q = m - 1; q >= 0; q--) {
        if (t[q].first_kid < 0) continue;
        int lo = 1 << 30, hi = 0;
        for (int c = t[q].first_kid; c >= 0; c = t[c].next_sib) {
            if (t[c].leaf_lo < lo) lo = t[c].leaf_lo;
            if (t[c].leaf_hi > hi) hi = t[c].leaf_hi;
        }
        t[q].leaf_lo = lo;
        t[q].leaf_hi = hi;
    }
    return depth;
}

/* The draft's distribution of a logits row: the sampling distribution, or
 * the softmax at temperature 1 when greedy. */
static void draft_probs(const db_sampling *smp, bool greedy, const float *logits, int V, db_sampler_buf *qb) {
    if (greedy) db_softmax(logits, V, 1.0f, qb->prob);
    else db_sampling_probs(smp, logits, qb);
}

static int ot_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    if (!req->draft) return db_errf(err, errlen, "opt-tree needs a draft model");
    const db_params *P = req->params;
    const int N = db_params_int(P, "nodes"), D = db_params_int(P, "max_depth");
    const double min_gain = db_params_num(P, "min_gain");
    if (db_model_n_vocab(req->draft) != db_model_n_vocab(req->target))
        return db_errf(err, errlen, "draft vocabulary (%d) differs from the target's (%d)",
                       db_model_n_vocab(req->draft), db_model_n_vocab(req->target));
    db_spec s;
    if (db_spec_begin(&s, req, out, D + 1, err, errlen) != 0) return -1;
    db_model *tm = req->target, *dm = req->draft;
    const int V = s.n_vocab;
    const bool greedy = s.sampling.greedy || s.sampling.temperature <= 0.0f;
    const int cap = N + N * N;          /* the tree plus one layer's candidates */
    db_opt_node *nodes = malloc(sizeof *nodes * (size_t)cap);
    float *resid = malloc(sizeof(float) * (size_t)V);
    int32_t *all_seq = malloc(sizeof(int32_t) * (size_t)N);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)N);
    tnode tree[OT_MAX_NODES];
    db_kv_mirror dk;
    db_batch db, tb;
    db_sampler_buf qb;
    int rc = 0;
    long steps_with_tree = 0;
    double sum_nodes = 0, sum_depth = 0, sum_e = 0;
    memset(&db, 0, sizeof db);
    memset(&tb, 0, sizeof tb);
    memset(&dk, 0, sizeof dk);
    memset(&qb, 0, sizeof qb);
    if (!nodes || !resid || !all_seq || !ids ||
        db_kv_mirror_init(&dk, dm, req->n_prompt + req->max_new_tokens + N * D + 8, N, DB_ROLE_DRAFT) != 0 ||
        db_batch_init(&db, N, 1) != 0 || db_batch_init(&tb, N + D + 4, N) != 0 || db_sampler_buf_init(&qb, V) != 0) {
        rc = db_errf(err, errlen, "out of memory");
        goto done;
    }
    for (int q = 0; q < N; q++) all_seq[q] = q;
    /* the prompt's target cells join every sequence once */
    for (int q = 1; q < N && rc == 0; q++)
        if (db_model_seq_rm(tm, q, -1, -1) != 0 || db_model_seq_cp(tm, 0, q, -1, -1) != 0)
            rc = db_errf(err, errlen, "target KV copy: %s", db_model_last_error(tm));

    while (!s.done && rc == 0) {
        if (req->cancel && *req->cancel) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
            rc = 1;
            break;
        }
        const int base = s.n_seq;                 /* position of depth-1 nodes */
        int max_d = db_spec_remaining(&s) - 1;
        if (max_d > D) max_d = D;
        int n = 0, next_id = 0, depth = 0;
        double e_tree = 0;
        if (max_d > 0) {
            /* ---- grow the tree layer by layer ---- */
            int64_t t0 = db_now_ns();
            const float *root_logits;
            if (db_kv_sync(&s, &dk, &root_logits, err, errlen) != 0) { rc = -1; break; }
            draft_probs(&s.sampling, greedy, root_logits, V, &qb);
            n = db_opt_tree_expand(nodes, 0, cap, -1, qb.prob, V, N, &next_id);
            n = db_opt_tree_select(nodes, n, N);
            double e_prev = db_opt_tree_value(nodes, n);
            for (int d = 1; d < max_d && rc == 0; d++) {
                /* the layer to evaluate: depth-d nodes of the top N */
                bool used[OT_MAX_NODES] = { false }, claimed[OT_MAX_NODES] = { false };
                int n_front = 0;
                for (int i = 0; i < n; i++) {
                    if (nodes[i].dseq >= 0) used[nodes[i].dseq] = true;
                    n_front += nodes[i].depth == d;
                }
                if (d == 1) used[0] = true;       /* the root's sequence */
                if (n_front == 0) break;
                db_batch_clear(&db);
                int next_free = 0;
                for (int i = 0; i < n && rc == 0; i++) {
                    if (nodes[i].depth != d) continue;
                    const int pseq = nodes[i].parent < 0 ? 0 : nodes[nodes[i].parent].dseq;
                    if (!claimed[pseq]) {
                        claimed[pseq] = true;     /* the first child extends its parent's sequence */
                        nodes[i].dseq = pseq;
                    } else {
                        while (used[next_free]) next_free++;
                        const int q = next_free;
                        used[q] = claimed[q] = true;
                        nodes[i].dseq = q;
                        if (db_model_seq_rm(dm, q, base, -1) != 0 || db_model_seq_cp(dm, pseq, q, base, -1) != 0)
                            rc = db_errf(err, errlen, "draft KV copy: %s", db_model_last_error(dm));
                    }
                    nodes[i].drow = db_batch_add1(&db, nodes[i].tok, base + d - 1, nodes[i].dseq, true);
                }
                if (rc) break;
                if (db_forward(dm, &db, req->events, DB_ROLE_DRAFT, s.step) != 0) {
                    rc = db_errf(err, errlen, "draft forward: %s", db_model_last_error(dm));
                    break;
                }
                const int n_old = n;
                for (int i = 0; i < n_old; i++) {
                    if (nodes[i].depth != d) continue;
                    draft_probs(&s.sampling, greedy, db_model_logits(dm, nodes[i].drow), V, &qb);
                    n = db_opt_tree_expand(nodes, n, cap, i, qb.prob, V, N, &next_id);
                }
                n = db_opt_tree_select(nodes, n, N);
                const double e_now = db_opt_tree_value(nodes, n);
                bool deeper = false;
                for (int i = 0; i < n; i++) deeper |= nodes[i].depth == d + 1;
                const double gain = e_now - e_prev;
                e_prev = e_now;
                if (!deeper || gain < min_gain) break;
            }
            if (rc) break;
            depth = layout(nodes, n, tree);
            e_tree = e_prev;
            db_emit_draft(req->events, s.step, n, t0, db_now_ns());
            steps_with_tree++;
            sum_nodes += n;
            sum_depth += depth;
            sum_e += e_tree;
        }

        /* ---- one target forward: the committed tail, then the tree ---- */
        db_batch_clear(&tb);
        for (int i = s.target_past; i < base; i++) db_batch_add(&tb, s.seq[i], i, all_seq, N, i == base - 1);
        const int row0 = tb.n_tokens - 1;
        for (int q = 0; q < n; q++) {
            int n_ids = 0;
            for (int l = tree[q].leaf_lo; l < tree[q].leaf_hi; l++) ids[n_ids++] = l;
            tree[q].row = db_batch_add(&tb, nodes[tree[q].src].tok, base + nodes[tree[q].src].depth - 1, ids, n_ids, true);
        }
        if (db_forward(tm, &tb, req->events, DB_ROLE_TARGET, s.step) != 0) {
            rc = db_errf(err, errlen, "target forward at position %d: %s", base, db_model_last_error(tm));
            break;
        }

        /* ---- walk the tree ---- */
        int64_t t1 = db_now_ns();
        db_token accepted[OT_MAX_DEPTH];
        int path[OT_MAX_DEPTH];
        int a = 0, cur = -1, cur_row = row0;
        db_token extra = DB_TOKEN_NULL;
        for (;;) {
            const float *logits = db_model_logits(tm, cur_row);
            const int first_kid = cur < 0 ? (n > 0 ? 0 : -1) : tree[cur].first_kid;
            int next = -1;
            if (greedy) {
                const db_token best = db_argmax(logits, V);
                for (int c = first_kid; c >= 0 && next < 0; c = tree[c].next_sib)
                    if (nodes[tree[c].src].tok == best) next = c;
                if (next < 0) extra = best;
            } else {
                db_sampling_probs(&s.sampling, logits, &s.buf);
                db_token cand[OT_MAX_NODES];
                int kid[OT_MAX_NODES], n_kids = 0;
                for (int c = first_kid; c >= 0; c = tree[c].next_sib) kid[n_kids] = c, cand[n_kids++] = nodes[tree[c].src].tok;
                const int won = db_spec_eliminate(s.buf.prob, V, cand, n_kids, &s.rng, resid, &extra);
                if (won >= 0) next = kid[won];
            }
            if (next < 0) break;
            path[a] = next;
            accepted[a++] = nodes[tree[next].src].tok;
            cur = next;
            cur_row = tree[next].row;
        }
        db_emit_sample(req->events, s.step, t1, db_now_ns());

        /* ---- target KV: keep the accepted cells that directly follow the
         * committed ones (pre-order 0..kept-1: the top-1 chain's prefix) in
         * every sequence; drop the rest of this step ---- */
        int kept = 0;
        while (kept < a && path[kept] == kept) kept++;
        if (db_tree_keep_chain(tm, N, base, kept, kept ? tree[path[kept - 1]].leaf_lo : -1, n > 0, err, errlen) != 0)
            rc = -1;
        /* ---- draft KV: the accepted path's evaluated nodes (a prefix of
         * it) join every sequence, the rest of this step goes ---- */
        if (rc == 0 && n > 0) {
            int j = 0;
            while (j < a && nodes[tree[path[j]].src].dseq >= 0) j++;
            if (j == 0) {
                if (db_model_seq_rm(dm, -1, base, -1) != 0)
                    rc = db_errf(err, errlen, "draft KV rollback: %s", db_model_last_error(dm));
            } else {
                const int w = nodes[tree[path[j - 1]].src].dseq;
                for (int q = 0; q < N && rc == 0; q++) {
                    if (q == w) continue;
                    if (db_model_seq_rm(dm, q, base, -1) != 0 || db_model_seq_cp(dm, w, q, base, base + j) != 0)
                        rc = db_errf(err, errlen, "draft KV keep path: %s", db_model_last_error(dm));
                }
                if (rc == 0 && db_model_seq_rm(dm, w, base + j, -1) != 0)
                    rc = db_errf(err, errlen, "draft KV rollback: %s", db_model_last_error(dm));
            }
            for (int i = 0; i < j && base + i < dk.cap; i++) dk.tok[base + i] = accepted[i];
            dk.n = base + j;
        }
        if (rc) break;
        int v = db_spec_accept(&s, accepted, a, extra, n > 0 ? depth : 0, err, errlen);
        s.target_past = base + kept;          /* the other accepted tokens: evaluated again */
        if (v < 0) rc = -1;
        if (v != 0) break;
    }
    if (rc == 0 && strcmp(out->stop_reason, "cancel") == 0) rc = 1;
    if (steps_with_tree > 0) {
        db_output_stat(out, "tree_nodes_mean", sum_nodes / (double)steps_with_tree);
        db_output_stat(out, "tree_depth_mean", sum_depth / (double)steps_with_tree);
        db_output_stat(out, "tree_expected_mean", sum_e / (double)steps_with_tree);
    }
done:
    db_sampler_buf_free(&qb);
    db_batch_free(&db);
    db_batch_free(&tb);
    if (dk.tok) db_kv_mirror_free(&dk);
    free(nodes);
    free(resid);
    free(all_seq);
    free(ids);
    db_spec_end(&s);
    return rc;
}

const db_engine db_engine_opt_tree = {
    .name = "opt-tree",
    .summary = "OPT-Tree: an adaptive draft tree, the top-N nodes by draft path probability (maximal expected accepted length), verified in one target forward",
    .params = ot_params,
    .n_params = (int)(sizeof ot_params / sizeof ot_params[0]),
    .needs_draft = true,
    .n_seq_max = ot_n_seq,
    .validate = ot_validate,
    .lossless_greedy = true,
    .generate = ot_generate,
};
