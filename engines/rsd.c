/* rsd.c — Recursive Speculative Decoding with a constant-branching draft tree
 * (RSD-C; Jeon et al. 2024, "Recursive Speculative Decoding: Accelerating
 * LLM Inference via Sampling Without Replacement").
 *
 * Drafting.  The tree has `depth` levels; every node has (up to) `k`
 * children drawn from the draft's sampling distribution q at that node
 * WITHOUT replacement (the law of Gumbel-Top-k; engines/rsd.h), so a full
 * tree has k + k^2 + ... + k^depth nodes and k^depth leaves.  Greedy
 * (mode=greedy, or temp 0) takes the k best draft tokens instead
 * (Gumbel-Top-k with zero noise).  Each leaf is a sequence id in both KV
 * caches; a node's batch row carries the ids of all leaves below it, so the
 * tree needs no KV copies while it grows.  The draft evaluates the tree level
 * by level: one draft forward per level except the last (depth - 1 draft
 * forwards after the sync of the committed text).
 *
 * Verification: ONE target forward over the committed tail and every node,
 * in depth-first preorder (the path of first children comes first, so when
 * it is the accepted path its cells directly follow the committed ones:
 * llama.cpp's CPU flash attention sums KV cells in cell order, and greedy
 * bit-identity with `ar` needs single-sequence order; any other accepted
 * path is dropped from the cache and evaluated again at the head of the
 * next forward, as spec-tree does).  Then the tree is walked from the root:
 * greedy follows the child equal to the target's argmax; stochastic applies
 * recursive rejection sampling at each node (engines/rsd.h: try the children
 * in draw order, accept x_i with min(1, p_i/q_i), on rejection
 * p_{i+1} = norm(max(p_i - q_i, 0)) and q_{i+1} = q_i without x_i; all
 * rejected: draw from the last residual), descending into an accepted child
 * with its own p and q.  Every emitted token is distributed exactly as the
 * target's sampler would draw it: lossless.  (spec-tree's sequential
 * elimination is the special case of a deterministic drafter, q one-hot.)
 *
 * Events: FORWARD (draft sync, draft levels, target), DRAFT (n_tokens = tree
 * nodes), VERIFY (drafted = depth, so α@i is "the path reached depth i+1"),
 * SAMPLE (the tree walk), COMMIT.  No outcomes of its own.
 */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsd.h"
#include "specdec.h"
#include "harness/util/util.h"

#define MAX_DEPTH 16
#define MAX_K 8
#define MAX_LEAVES 64

static const db_param_def rsd_params[] = {
    DB_SAMPLING_PARAMS("greedy (argmax path) or stochastic lossless verification (recursive rejection sampling)",
                       DB_HELP_TOP_K_DIST, DB_HELP_TOP_P_DIST),
    { "depth", DB_PARAM_INT, "4", 1, MAX_DEPTH, NULL, "tree depth (draft tokens per root-to-leaf path)" },
    { "k",     DB_PARAM_INT, "2", 1, MAX_K, NULL, "tree=constant: children per node, drawn without replacement (k^depth <= 64)" },
    { "tree",  DB_PARAM_ENUM, "constant", 0, 0, "constant|beam", "constant branching (RSD-C) or stochastic beam search (RSD-S)" },
    { "width", DB_PARAM_INT, "4", 1, 16, NULL, "tree=beam: beam width W (width * depth <= 64)" },
};

static int n_leaves(int k, int depth) {
    long n = 1;
    for (int d = 0; d < depth; d++) {
        n *= k;
        if (n > MAX_LEAVES) return MAX_LEAVES + 1;
    }
    return (int)n;
}

static bool beam_tree(const db_params *p) {
    char buf[16];
    return strcmp(db_params_choice(p, "tree", buf, sizeof buf), "beam") == 0;
}

static int rsd_validate(const db_params *p, char *err, size_t errlen) {
    if (db_sampling_params_check(p, " when mode=sample", err, errlen) != 0) return -1;
    const int k = db_params_int(p, "k"), depth = db_params_int(p, "depth");
    if (beam_tree(p)) {
        const int w = db_params_int(p, "width");
        if (w * depth > MAX_LEAVES)
            return db_errf(err, errlen, "parameter 'width': width * depth (sequence ids) must be at most %d, got %d * %d",
                           MAX_LEAVES, w, depth);
        return 0;
    }
    if (n_leaves(k, depth) > MAX_LEAVES)
        return db_errf(err, errlen, "parameter 'k': k^depth (leaves, one sequence id each) must be at most %d, got %d^%d",
                       MAX_LEAVES, k, depth);
    return 0;
}

static int rsd_n_seq(const db_params *p) {
    if (beam_tree(p)) return db_params_int(p, "width") * db_params_int(p, "depth");
    return n_leaves(db_params_int(p, "k"), db_params_int(p, "depth"));
}

/* ---- the sampling steps (rsd.h) ---- */

static bool among(db_token t, const db_token *kids, int n) {
    for (int i = 0; i < n; i++)
        if (kids[i] == t) return true;
    return false;
}

int db_rsd_draw_children(const float *q, int V, int k, db_rng *rng, db_token *kids) {
    double rest = 0.0;
    int nnz = 0;
    for (int v = 0; v < V; v++)
        if (q[v] > 0.0f) { rest += q[v]; nnz++; }
    int n = 0;
    while (n < k && n < nnz && rest > 0.0) {
        const double u = db_rng_uniform(rng) * rest;
        double acc = 0.0;
        db_token pick = -1, last = -1;
        for (int v = 0; v < V; v++) {
            if (q[v] <= 0.0f || among(v, kids, n)) continue;
            last = v;
            acc += q[v];
            if (u < acc) { pick = v; break; }
        }
        if (pick < 0) pick = last;             /* rounding at the end of the scan */
        if (pick < 0) break;
        kids[n++] = pick;
        rest -= q[pick];
    }
    return n;
}

int db_rsd_top_k(const float *x, int V, int k, db_token *kids) {
    int n = 0;
    for (; n < k && n < V; n++) {
        /* the best entry ranked after the previous pick in the order
         * (value descending, id ascending) */
        db_token best = -1;
        for (int v = 0; v < V; v++) {
            if (n > 0) {
                const db_token pv = kids[n - 1];
                if (!(x[v] < x[pv] || (x[v] == x[pv] && v > pv))) continue;
            }
            if (best < 0 || x[v] > x[best]) best = v;
        }
        if (best < 0) break;
        kids[n] = best;
    }
    return n;
}

int db_rsd_verify_node(const float *p, const float *q, int V, const db_token *kids, int m, db_rng *rng,
                       double *resid, db_token *extra) {
    for (int v = 0; v < V; v++) resid[v] = p[v];
    double qmass = 1.0;                    /* q's mass outside the rejected children */
    for (int i = 0; i < m; i++) {
        const db_token t = kids[i];
        const double qi = qmass > 0.0 ? q[t] / qmass : 0.0;
        if (db_rng_uniform(rng) * qi < resid[t]) return i;
        /* rejected: p_{i+1} = norm(max(p_i - q_i, 0)).  Children rejected
         * earlier already have resid 0, so subtracting their q changes
         * nothing: q_i needs no explicit removal here. */
        double tot = 0.0;
        for (int v = 0; v < V; v++) {
            const double r = resid[v] - (qmass > 0.0 ? q[v] / qmass : 0.0);
            resid[v] = r > 0.0 ? r : 0.0;
            tot += resid[v];
        }
        if (tot <= 0.0) {                  /* p_i == q_i up to rounding: rejection had probability ~0 */
            for (int v = 0; v < V; v++) resid[v] = p[v];
            tot = 1.0;
        }
        for (int v = 0; v < V; v++) resid[v] /= tot;
        qmass -= q[t];                     /* q_{i+1} = q_i without x_i, renormalised */
    }
    const double u = db_rng_uniform(rng);
    double acc = 0.0;
    db_token last = 0;
    for (int v = 0; v < V; v++) {
        if (resid[v] <= 0.0) continue;
        last = v;
        acc += resid[v];
        if (u < acc) { *extra = v; return -1; }
    }
    *extra = last;
    return -1;
}

/* ---- the engine ---- */

/* Level d of the tree holds slots 0 .. k^(d+1)-1; slot j's parent is slot
 * j / k of level d-1 and its c-th child (c-th draw) is slot j*k + c of level
 * d+1.  With D levels this step, slot j of level d covers leaves
 * [j * k^(D-1-d), (j+1) * k^(D-1-d)): the sequence ids of its batch rows. */
typedef struct slot {
    db_token tok;
    bool live;
    int trow;                  /* target batch row */
    int drow;                  /* draft batch row (levels < D-1) */
} slot;

typedef struct rsd_tree {
    int k, D;
    int off[MAX_DEPTH + 1];    /* first slot of each level in the flat array */
    int width[MAX_DEPTH];      /* k^(d+1) */
    slot *s;
} rsd_tree;

static slot *at(rsd_tree *t, int d, int j) { return &t->s[t->off[d] + j]; }

static void tree_layout(rsd_tree *t, int k, int D) {
    t->k = k;
    t->D = D;
    int w = 1, off = 0;
    for (int d = 0; d < D; d++) {
        w *= k;
        t->width[d] = w;
        t->off[d] = off;
        off += w;
    }
    t->off[D] = off;
    for (int i = 0; i < off; i++) t->s[i] = (slot){ DB_TOKEN_NULL, false, -1, -1 };
}

/* leaves under slot j of level d */
static int span(const rsd_tree *t, int d) { return t->width[t->D - 1] / t->width[d]; }

/* target batch rows in depth-first preorder */
static void add_preorder(rsd_tree *t, db_batch *b, int base, int d, int j) {
    slot *n = at(t, d, j);
    if (!n->live) return;
    int32_t ids[MAX_LEAVES];
    const int sp = span(t, d);
    for (int i = 0; i < sp; i++) ids[i] = j * sp + i;
    n->trow = db_batch_add(b, n->tok, base + d, ids, sp, true);
    if (d + 1 < t->D)
        for (int c = 0; c < t->k; c++) add_preorder(t, b, base, d + 1, j * t->k + c);
}

static int beam_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen);

static int rsd_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    if (!req->draft) return db_errf(err, errlen, "rsd needs a draft model");
    if (beam_tree(req->params)) return beam_generate(req, out, err, errlen);
    const db_params *P = req->params;
    const int D_max = db_params_int(P, "depth"), K = db_params_int(P, "k");
    const int n_seq = n_leaves(K, D_max);
    if (n_seq > MAX_LEAVES)
        return db_errf(err, errlen, "parameter 'k': k^depth must be at most %d", MAX_LEAVES);
    if (db_model_n_vocab(req->draft) != db_model_n_vocab(req->target))
        return db_errf(err, errlen, "draft vocabulary (%d) differs from the target's (%d)",
                       db_model_n_vocab(req->draft), db_model_n_vocab(req->target));
    int max_nodes = 0, max_internal = 1;
    for (int d = 0, w = 1; d < D_max; d++) {
        w *= K;
        max_nodes += w;
        if (d < D_max - 1) max_internal += w;
    }
    db_spec s;
    if (db_spec_begin(&s, req, out, max_nodes, err, errlen) != 0) return -1;
    const int V = s.n_vocab;
    const bool greedy = s.sampling.greedy || s.sampling.temperature <= 0.0f;
    db_kv_mirror dk;
    db_batch db, tb;
    db_sampler_buf qb;
    rsd_tree T;
    T.s = malloc(sizeof(slot) * (size_t)max_nodes);
    double *resid = malloc(sizeof(double) * (size_t)V);
    /* q at the root and at every internal slot (stochastic mode): row 0 the
     * root, then slot (d, j) of level d < D-1 at 1 + off[d] + j */
    float *qrows = greedy ? NULL : malloc(sizeof(float) * (size_t)V * (size_t)max_internal);
    db_rng rng_draft = db_rng_make(req->seed, 1);
    int rc = 0;
    memset(&db, 0, sizeof db);
    memset(&tb, 0, sizeof tb);
    memset(&qb, 0, sizeof qb);
    memset(&dk, 0, sizeof dk);
    if (!T.s || !resid || (!greedy && !qrows) ||
        db_kv_mirror_init(&dk, req->draft, req->n_prompt + req->max_new_tokens + max_nodes + 8, n_seq, DB_ROLE_DRAFT) != 0 ||
        db_batch_init(&db, max_nodes, n_seq) != 0 || db_batch_init(&tb, max_nodes + D_max + 4, n_seq) != 0 ||
        db_sampler_buf_init(&qb, V) != 0) {
        rc = db_errf(err, errlen, "out of memory");
        goto done;
    }
    int32_t all_seq[MAX_LEAVES];
    for (int q = 0; q < n_seq; q++) all_seq[q] = q;
    /* the prompt's target cells join every leaf sequence once */
    for (int q = 1; q < n_seq && rc == 0; q++)
        if (db_model_seq_rm(req->target, q, -1, -1) != 0 || db_model_seq_cp(req->target, 0, q, -1, -1) != 0)
            rc = db_errf(err, errlen, "target KV copy: %s", db_model_last_error(req->target));

    while (!s.done && rc == 0) {
        if (req->cancel && *req->cancel) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
            rc = 1;
            break;
        }
        int D = D_max;
        if (D > db_spec_remaining(&s) - 1) D = db_spec_remaining(&s) - 1;
        const int base = s.n_seq;          /* position of level-0 tokens */
        int n_nodes = 0;
        if (D > 0) {
            /* ---- grow the draft tree, level by level ---- */
            int64_t t0 = db_now_ns();
            tree_layout(&T, K, D);
            const float *logits;
            if (db_kv_sync(&s, &dk, &logits, err, errlen) != 0) { rc = -1; break; }
            for (int d = 0; d < D && rc == 0; d++) {
                const int n_par = d == 0 ? 1 : T.width[d - 1];
                for (int j = 0; j < n_par; j++) {
                    const float *l;
                    float *q = NULL;
                    if (d == 0) l = logits;
                    else {
                        slot *par = at(&T, d - 1, j);
                        if (!par->live) continue;
                        l = db_model_logits(req->draft, par->drow);
                    }
                    db_token kids[MAX_K];
                    int m;
                    if (greedy) m = db_rsd_top_k(l, V, K, kids);
                    else {
                        q = qrows + (size_t)V * (size_t)(d == 0 ? 0 : 1 + T.off[d - 1] + j);
                        db_sampling_probs(&s.sampling, l, &qb);
                        memcpy(q, qb.prob, sizeof(float) * (size_t)V);
                        m = db_rsd_draw_children(q, V, K, &rng_draft, kids);
                    }
                    for (int c = 0; c < m; c++) {
                        slot *n = at(&T, d, j * K + c);
                        n->tok = kids[c];
                        n->live = true;
                        n_nodes++;
                    }
                }
                if (d == D - 1) break;
                /* evaluate level d in one draft forward */
                db_batch_clear(&db);
                const int sp = span(&T, d);
                for (int j = 0; j < T.width[d]; j++) {
                    slot *n = at(&T, d, j);
                    if (!n->live) continue;
                    int32_t ids[MAX_LEAVES];
                    for (int i = 0; i < sp; i++) ids[i] = j * sp + i;
                    n->drow = db_batch_add(&db, n->tok, base + d, ids, sp, true);
                }
                if (db_forward(req->draft, &db, req->events, DB_ROLE_DRAFT, s.step) != 0)
                    rc = db_errf(err, errlen, "draft forward: %s", db_model_last_error(req->draft));
            }
            if (rc) break;
            db_emit_draft(req->events, s.step, n_nodes, t0, db_now_ns());
        }

        /* ---- one target forward over the committed tail and every node ---- */
        db_batch_clear(&tb);
        for (int i = s.target_past; i < base; i++) db_batch_add(&tb, s.seq[i], i, all_seq, n_seq, i == base - 1);
        const int row0 = tb.n_tokens - 1;
        if (D > 0)
            for (int c = 0; c < K; c++) add_preorder(&T, &tb, base, 0, c);
        if (db_forward(req->target, &tb, req->events, DB_ROLE_TARGET, s.step) != 0) {
            rc = db_errf(err, errlen, "target forward: %s", db_model_last_error(req->target));
            break;
        }

        /* ---- walk the tree ---- */
        int64_t t1 = db_now_ns();
        db_token accepted[MAX_DEPTH];
        int a = 0, cur = 0, cur_row = row0;     /* cur: slot of the last accepted node (level a-1) */
        bool first_path = true;                  /* every accepted node is a first child */
        db_token extra = DB_TOKEN_NULL;
        for (;;) {
            const float *logits = db_model_logits(req->target, cur_row);
            db_token kids[MAX_K];
            int m = 0;
            if (a < D)
                for (int c = 0; c < K; c++) {
                    slot *n = at(&T, a, (a == 0 ? 0 : cur * K) + c);
                    if (!n->live) break;          /* children are drawn in order: the rest are absent too */
                    kids[m++] = n->tok;
                }
            int pick = -1;
            if (greedy) {
                db_token best = db_argmax(logits, V);
                for (int c = 0; c < m; c++) if (kids[c] == best) pick = c;
                if (pick < 0) extra = best;
            } else {
                db_sampling_probs(&s.sampling, logits, &s.buf);
                const float *q = m > 0 ? qrows + (size_t)V * (size_t)(a == 0 ? 0 : 1 + T.off[a - 1] + cur) : NULL;
                if (m > 0) pick = db_rsd_verify_node(s.buf.prob, q, V, kids, m, &s.rng, resid, &extra);
                else extra = db_draw(s.buf.prob, V, db_rng_uniform(&s.rng));
            }
            if (pick < 0) break;
            const int j = (a == 0 ? 0 : cur * K) + pick;
            first_path = first_path && pick == 0;
            accepted[a++] = kids[pick];
            cur = j;
            cur_row = at(&T, a - 1, j)->trow;
        }
        db_emit_sample(req->events, s.step, t1, db_now_ns());

        /* ---- keep the winning leaf's path in both caches ---- */
        /* the winner: the first leaf under the deepest accepted node */
        const int wseq = a > 0 ? cur * span(&T, a - 1) : 0;
        /* single-sequence cell order (see the opening comment): the path of
         * first children is the batch's first nodes */
        const bool in_order = a == 0 || first_path;
        if (D > 0 && !in_order && db_model_seq_rm(req->target, -1, base, -1) != 0) {
            rc = db_errf(err, errlen, "target KV rollback: %s", db_model_last_error(req->target));
            break;
        }
        for (int q = 0; q < n_seq && rc == 0 && in_order && D > 0; q++) {
            if (q == wseq) continue;
            if (db_model_seq_rm(req->target, q, base, -1) != 0 ||
                (a > 0 && db_model_seq_cp(req->target, wseq, q, base, base + a) != 0))
                rc = db_errf(err, errlen, "target KV keep path: %s", db_model_last_error(req->target));
        }
        if (rc == 0 && in_order && D > 0 && db_model_seq_rm(req->target, wseq, base + a, -1) != 0)
            rc = db_errf(err, errlen, "target KV rollback: %s", db_model_last_error(req->target));
        /* draft: the winner's cells of this step (levels < D-1) join every
         * leaf sequence; db_kv_sync trims what the target rejected */
        for (int q = 0; q < n_seq && rc == 0 && D > 1; q++)
            if (q != wseq && (db_model_seq_rm(req->draft, q, base, -1) != 0 ||
                              db_model_seq_cp(req->draft, wseq, q, base, -1) != 0))
                rc = db_errf(err, errlen, "draft KV keep path: %s", db_model_last_error(req->draft));
        if (rc) break;
        if (D > 1) {
            for (int d = 0; d < D - 1 && base + d < dk.cap; d++) dk.tok[base + d] = at(&T, d, wseq / span(&T, d))->tok;
            dk.n = base + D - 1;
        }
        int v = db_spec_accept(&s, accepted, a, extra, D > 0 ? D : 0, err, errlen);
        if (!in_order) s.target_past = base;     /* re-evaluate the accepted tokens */
        if (v < 0) rc = -1;
        if (v != 0) break;
    }
    if (rc == 0 && strcmp(out->stop_reason, "cancel") == 0) rc = 1;
done:
    db_sampler_buf_free(&qb);
    db_batch_free(&db);
    db_batch_free(&tb);
    db_kv_mirror_free(&dk);
    free(qrows);
    free(resid);
    free(T.s);
    db_spec_end(&s);
    return rc;
}

/* ---- RSD-S: the draft tree by stochastic beam search ----
 *
 * Kool et al. 2019's stochastic beam search on the draft: every beam node P
 * (path log-probability phi_P, perturbed score T_P; the root has 0, 0)
 * perturbs its children's phi_P + log q(v) with Gumbel noise g_v, and a
 * child's score is g_v conditioned on the children's maximum Z being T_P:
 * T_v = -log(exp(-T_P) - exp(-Z) + exp(-g_v)).  Each level keeps the W best
 * children overall by T.  T is increasing in g within one parent, so the
 * children a node keeps are the first ones of its Gumbel-Top-k order, i.e.
 * drawn from q without replacement; how many it keeps depends on values
 * that are independent of which tokens they are (the argmax of Gumbels is
 * independent of their maximum), so recursive rejection sampling over them
 * stays lossless.  Greedy: plain beam search on phi.  A node whose children
 * were all pruned stays in the tree (a leaf): dropping it would bias its
 * parent's candidate list.  Every leaf (tip) is a target sequence id, so
 * width * depth ids at most; the draft uses W ids (one per beam, a fork
 * copies its parent's cells of this step).  The draft's cells of the step
 * are dropped after it (the next sync evaluates the accepted tokens). */
typedef struct bnode {
    db_token tok;
    int depth, parent;         /* parent -1: the root */
    double phi, T;             /* path log q, perturbed score */
    int dseq, drow, trow;      /* draft sequence id and row, target row */
    int tip_lo, tip_hi;        /* target sequence ids: the tips below */
    int rank;                  /* index among its parent's children */
} bnode;

typedef struct cand { int parent; db_token tok; double phi, T; int idx; } cand;

static double log1mexp(double x) { return x > -0.6931471805599453 ? log(-expm1(x)) : log1p(-exp(x)); }

/* Kool et al. 2019, appendix B (numerically stable form) */
static double cond_gumbel(double T, double Z, double g) {
    if (g >= Z) return T;
    const double v = T - g + log1mexp(g - Z);
    return T - (v > 0 ? v : 0) - log1p(exp(-fabs(v)));
}

static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->T != y->T) return x->T > y->T ? -1 : 1;
    return x->idx - y->idx;
}

static void beam_tips(bnode *nd, int n, int i, int *tip) {
    nd[i].tip_lo = *tip;
    bool leaf = true;
    for (int j = i + 1; j < n; j++)
        if (nd[j].parent == i) { leaf = false; beam_tips(nd, n, j, tip); }
    if (leaf) (*tip)++;
    nd[i].tip_hi = *tip;
}

static void beam_rows(bnode *nd, int n, int i, db_batch *b, int base) {
    int32_t ids[MAX_LEAVES];
    for (int t = nd[i].tip_lo; t < nd[i].tip_hi; t++) ids[t - nd[i].tip_lo] = t;
    nd[i].trow = db_batch_add(b, nd[i].tok, base + nd[i].depth, ids, nd[i].tip_hi - nd[i].tip_lo, true);
    for (int j = i + 1; j < n; j++)
        if (nd[j].parent == i) beam_rows(nd, n, j, b, base);
}

static int beam_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    const db_params *P = req->params;
    const int D_max = db_params_int(P, "depth"), W = db_params_int(P, "width");
    const int n_seq = W * D_max, max_nodes = W * D_max, max_internal = 1 + W * (D_max - 1);
    if (n_seq > MAX_LEAVES) return db_errf(err, errlen, "parameter 'width': width * depth must be at most %d", MAX_LEAVES);
    if (db_model_n_vocab(req->draft) != db_model_n_vocab(req->target))
        return db_errf(err, errlen, "draft vocabulary (%d) differs from the target's (%d)",
                       db_model_n_vocab(req->draft), db_model_n_vocab(req->target));
    db_spec s;
    if (db_spec_begin(&s, req, out, max_nodes, err, errlen) != 0) return -1;
    const int V = s.n_vocab;
    const bool greedy = s.sampling.greedy || s.sampling.temperature <= 0.0f;
    db_kv_mirror dk;
    db_batch db, tb;
    db_sampler_buf qb;
    bnode *nd = malloc(sizeof(bnode) * (size_t)max_nodes);
    cand *cd = malloc(sizeof(cand) * (size_t)(W * W + 1));
    double *resid = malloc(sizeof(double) * (size_t)V);
    float *qrows = malloc(sizeof(float) * (size_t)V * (size_t)max_internal);
    db_rng rng_draft = db_rng_make(req->seed, 1);
    int rc = 0;
    memset(&db, 0, sizeof db);
    memset(&tb, 0, sizeof tb);
    memset(&qb, 0, sizeof qb);
    memset(&dk, 0, sizeof dk);
    if (!nd || !cd || !resid || !qrows ||
        db_kv_mirror_init(&dk, req->draft, req->n_prompt + req->max_new_tokens + max_nodes + 8, W, DB_ROLE_DRAFT) != 0 ||
        db_batch_init(&db, W, 1) != 0 || db_batch_init(&tb, max_nodes + D_max + 4, n_seq) != 0 ||
        db_sampler_buf_init(&qb, V) != 0) {
        rc = db_errf(err, errlen, "out of memory");
        goto done;
    }
    int32_t all_seq[MAX_LEAVES];
    for (int q = 0; q < n_seq; q++) all_seq[q] = q;
    for (int q = 1; q < n_seq && rc == 0; q++)
        if (db_model_seq_rm(req->target, q, -1, -1) != 0 || db_model_seq_cp(req->target, 0, q, -1, -1) != 0)
            rc = db_errf(err, errlen, "target KV copy: %s", db_model_last_error(req->target));

    while (!s.done && rc == 0) {
        if (req->cancel && *req->cancel) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
            rc = 1;
            break;
        }
        int D = D_max;
        if (D > db_spec_remaining(&s) - 1) D = db_spec_remaining(&s) - 1;
        const int base = s.n_seq;
        int n = 0;
        if (D > 0) {
            int64_t t0 = db_now_ns();
            const float *root_logits;
            if (db_kv_sync(&s, &dk, &root_logits, err, errlen) != 0) { rc = -1; break; }
            int lo = 0, hi = 0;            /* the previous level's nodes; the root before level 0 */
            for (int d = 0; d < D && rc == 0; d++) {
                /* ---- candidates: up to W children of every beam node ---- */
                int nc = 0;
                for (int par = d == 0 ? -1 : lo; par < (d == 0 ? 0 : hi); par++) {
                    const float *l = par < 0 ? root_logits : db_model_logits(req->draft, nd[par].drow);
                    const double phi0 = par < 0 ? 0.0 : nd[par].phi, T0 = par < 0 ? 0.0 : nd[par].T;
                    db_token top[16];
                    double g[16];
                    int m = 0;
                    if (greedy) {
                        const float mx = db_max_value(l, V);
                        const double lse = mx + log(db_softmax_denominator(l, V, mx));
                        m = db_rsd_top_k(l, V, W, top);
                        for (int c = 0; c < m; c++) g[c] = phi0 + (double)l[top[c]] - lse;
                    } else {
                        float *q = qrows + (size_t)V * (size_t)(par < 0 ? 0 : 1 + par);
                        db_sampling_probs(&s.sampling, l, &qb);
                        memcpy(q, qb.prob, sizeof(float) * (size_t)V);
                        /* the W largest perturbed phi + log q + Gumbel, in order */
                        for (int v = 0; v < V; v++) {
                            if (q[v] <= 0.0f) continue;
                            double u = db_rng_uniform(&rng_draft);
                            if (u <= 0.0) u = 1e-300;
                            const double gv = phi0 + log((double)q[v]) - log(-log(u));
                            if (m == W && gv <= g[m - 1]) continue;
                            int c = m < W ? m++ : m - 1;
                            while (c > 0 && g[c - 1] < gv) { g[c] = g[c - 1]; top[c] = top[c - 1]; c--; }
                            g[c] = gv;
                            top[c] = v;
                        }
                    }
                    for (int c = 0; c < m; c++) {
                        cd[nc] = (cand){ par, top[c], 0, 0, nc };
                        cd[nc].phi = greedy ? g[c] : phi0 + log((double)(par < 0 ? qrows : qrows + (size_t)V * (size_t)(1 + par))[top[c]]);
                        cd[nc].T = greedy ? g[c] : cond_gumbel(T0, g[0], g[c]);
                        nc++;
                    }
                }
                qsort(cd, (size_t)nc, sizeof *cd, cand_cmp);
                if (nc > W) nc = W;
                /* ---- the level's nodes; in T order, so each parent's
                 * children are in its Gumbel-Top-k order ---- */
                const int new_lo = n;
                for (int c = 0; c < nc; c++) {
                    int rank = 0;
                    for (int j = new_lo; j < n; j++) rank += nd[j].parent == cd[c].parent;
                    nd[n++] = (bnode){ cd[c].tok, d, cd[c].parent, cd[c].phi, cd[c].T, -1, -1, -1, 0, 0, rank };
                }
                lo = new_lo;
                hi = n;
                if (d == D - 1) break;
                /* ---- draft sequence ids: a first child keeps its parent's,
                 * the others take those of childless beams and copy the
                 * parent's cells of this step ---- */
                bool used[16] = { false };
                if (d > 0)
                    for (int j = lo; j < hi; j++)
                        if (nd[j].rank == 0) used[nd[nd[j].parent].dseq] = true;
                for (int j = lo; j < hi && rc == 0; j++) {
                    if (d > 0 && nd[j].rank == 0) { nd[j].dseq = nd[nd[j].parent].dseq; continue; }
                    int f = 0;
                    while (used[f]) f++;
                    used[f] = true;
                    nd[j].dseq = f;
                    if (d > 0 && (db_model_seq_rm(req->draft, f, base, -1) != 0 ||
                                  db_model_seq_cp(req->draft, nd[nd[j].parent].dseq, f, base, base + d) != 0))
                        rc = db_errf(err, errlen, "draft KV fork: %s", db_model_last_error(req->draft));
                }
                if (rc) break;
                db_batch_clear(&db);
                for (int j = lo; j < hi; j++) nd[j].drow = db_batch_add1(&db, nd[j].tok, base + d, nd[j].dseq, true);
                if (db_forward(req->draft, &db, req->events, DB_ROLE_DRAFT, s.step) != 0)
                    rc = db_errf(err, errlen, "draft forward: %s", db_model_last_error(req->draft));
            }
            if (rc) break;
            db_emit_draft(req->events, s.step, n, t0, db_now_ns());
        }

        /* ---- one target forward: the tail, then the tree in pre-order ---- */
        db_batch_clear(&tb);
        for (int i = s.target_past; i < base; i++) db_batch_add(&tb, s.seq[i], i, all_seq, n_seq, i == base - 1);
        const int row0 = tb.n_tokens - 1;
        int tip = 0;
        for (int j = 0; j < n; j++) if (nd[j].parent < 0) beam_tips(nd, n, j, &tip);
        for (int j = 0; j < n; j++) if (nd[j].parent < 0) beam_rows(nd, n, j, &tb, base);
        if (db_forward(req->target, &tb, req->events, DB_ROLE_TARGET, s.step) != 0) {
            rc = db_errf(err, errlen, "target forward: %s", db_model_last_error(req->target));
            break;
        }

        /* ---- walk the tree ---- */
        int64_t t1 = db_now_ns();
        db_token accepted[MAX_DEPTH];
        int a = 0, cur = -1, cur_row = row0;
        bool first_path = true;
        db_token extra = DB_TOKEN_NULL;
        for (;;) {
            const float *logits = db_model_logits(req->target, cur_row);
            db_token kids[16];
            int kid_node[16], m = 0;
            for (int j = cur + 1; j < n && m < 16; j++)
                if (nd[j].parent == cur) { kid_node[m] = j; kids[m++] = nd[j].tok; }
            int pick = -1;
            if (greedy) {
                db_token best = db_argmax(logits, V);
                for (int c = 0; c < m; c++) if (kids[c] == best) pick = c;
                if (pick < 0) extra = best;
            } else {
                db_sampling_probs(&s.sampling, logits, &s.buf);
                const float *q = qrows + (size_t)V * (size_t)(cur < 0 ? 0 : 1 + cur);
                if (m > 0) pick = db_rsd_verify_node(s.buf.prob, q, V, kids, m, &s.rng, resid, &extra);
                else extra = db_draw(s.buf.prob, V, db_rng_uniform(&s.rng));
            }
            if (pick < 0) break;
            first_path = first_path && pick == 0;
            cur = kid_node[pick];
            accepted[a++] = kids[pick];
            cur_row = nd[cur].trow;
        }
        db_emit_sample(req->events, s.step, t1, db_now_ns());

        /* ---- keep the accepted path (the first tip below it) ---- */
        const int wseq = cur >= 0 ? nd[cur].tip_lo : 0;
        const bool in_order = a == 0 || first_path;
        if (D > 0 && !in_order && db_model_seq_rm(req->target, -1, base, -1) != 0) {
            rc = db_errf(err, errlen, "target KV rollback: %s", db_model_last_error(req->target));
            break;
        }
        for (int q = 0; q < n_seq && rc == 0 && in_order && D > 0; q++) {
            if (q == wseq) continue;
            if (db_model_seq_rm(req->target, q, base, -1) != 0 ||
                (a > 0 && db_model_seq_cp(req->target, wseq, q, base, base + a) != 0))
                rc = db_errf(err, errlen, "target KV keep path: %s", db_model_last_error(req->target));
        }
        if (rc == 0 && in_order && D > 0 && db_model_seq_rm(req->target, wseq, base + a, -1) != 0)
            rc = db_errf(err, errlen, "target KV rollback: %s", db_model_last_error(req->target));
        if (rc == 0 && D > 1) {
            if (db_model_seq_rm(req->draft, -1, base, -1) != 0)
                rc = db_errf(err, errlen, "draft KV rollback: %s", db_model_last_error(req->draft));
            if (dk.n > base) dk.n = base;
        }
        if (rc) break;
        int v = db_spec_accept(&s, accepted, a, extra, D > 0 ? D : 0, err, errlen);
        if (!in_order) s.target_past = base;
        if (v < 0) rc = -1;
        if (v != 0) break;
    }
    if (rc == 0 && strcmp(out->stop_reason, "cancel") == 0) rc = 1;
done:
    db_sampler_buf_free(&qb);
    db_batch_free(&db);
    db_batch_free(&tb);
    db_kv_mirror_free(&dk);
    free(qrows);
    free(resid);
    free(cd);
    free(nd);
    db_spec_end(&s);
    return rc;
}

const db_engine db_engine_rsd = {
    .name = "rsd",
    .summary = "recursive speculative decoding (RSD-C): a k-ary draft tree sampled without replacement, recursive rejection sampling in one target forward",
    .params = rsd_params,
    .n_params = (int)(sizeof rsd_params / sizeof rsd_params[0]),
    .needs_draft = true,
    .n_seq_max = rsd_n_seq,
    .validate = rsd_validate,
    .lossless_greedy = true,
    .generate = rsd_generate,
};
