/* spec_tree.c — tree speculative decoding.  The draft grows up to `branches`
 * branches of depth k: every active branch extends by its top (or sampled)
 * token, and a branch forks (llama.cpp examples/speculative's p_split rule)
 * when the best other candidate has draft probability above p_split.
 * Branches are distinct sequence ids in both KV caches; the committed text's
 * cells belong to every branch sequence, so a fork copies only the parent's
 * cells of this step.  All tree nodes are verified in ONE target forward: a
 * node shared by several branches is one batch row carrying all their
 * sequence ids.  Afterwards the winning branch's cells of this step join
 * every sequence and the rest of the tree is removed (only this step's
 * positions are touched).
 *
 * Verification walks the tree from the root.  Greedy: follow the child equal
 * to the target's argmax.  Stochastic: the children of a node are distinct
 * candidates chosen by the draft alone, so they are tried in order with
 * sequential elimination — accept candidate c with probability p(c); on
 * rejection zero p(c) and renormalise; if all are rejected draw from the
 * remaining mass.  This is sampling without replacement from p over an
 * ordered candidate list (as in Recursive Speculative Decoding, Jeon et al.
 * 2024, with a deterministic drafter), so every emitted token is distributed
 * exactly as the target's sampler would draw it: lossless.
 */
#include "engine.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specdec.h"
#include "harness/util/util.h"

#define MAX_BRANCHES 8
#define MAX_DEPTH 16

static const db_param_def tree_params[] = {
    DB_SAMPLING_PARAMS("greedy (argmax path) or stochastic lossless verification", DB_HELP_TOP_K_DIST, DB_HELP_TOP_P_DIST),
    { "k",        DB_PARAM_INT,   "4", 1, MAX_DEPTH, NULL, "tree depth (draft tokens per branch)" },
    { "branches", DB_PARAM_INT,   "3", 1, MAX_BRANCHES, NULL, "most branches (sequence ids) in the tree" },
    { "p_split",  DB_PARAM_FLOAT, "0.1", 0.0, 1.0, NULL, "fork a branch when the next-best draft candidate has at least this probability" },
};

static int tree_validate(const db_params *p, char *err, size_t errlen) {
    return db_sampling_params_check(p, " when mode=sample", err, errlen);
}

static int tree_n_seq(const db_params *p) { return db_params_int(p, "branches"); }

typedef struct branch {
    int seq;                   /* sequence id in both KV caches */
    db_token tok[MAX_DEPTH];
    int node[MAX_DEPTH];       /* tree node of each depth */
    int row;                   /* draft logits row for its next token */
} branch;

typedef struct tnode {
    db_token tok;
    int depth, parent;         /* parent -1: child of the root */
    int row;                   /* target batch row */
    int branch;                /* a branch through this node */
} tnode;

/* The best token other than `not` by x (logits or probabilities; ties: the
 * lower id), -1 when there is none.  Two passes like db_argmax: a lane-wise
 * maximum, then the first index holding it. */
static db_token runner_up(const float *x, int n, db_token not) {
    if (n < 2) return -1;
    float m = db_max_value(x, not), r = db_max_value(x + not + 1, n - not - 1);
    if (r > m) m = r;
    for (int i = 0; i < n; i++)
        if (i != not && x[i] == m) return i;
    return -1;                  /* only NaN */
}

static int tree_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    if (!req->draft) return db_errf(err, errlen, "spec-tree needs a draft model");
    const db_params *P = req->params;
    const int k_max = db_params_int(P, "k"), n_br_max = db_params_int(P, "branches");
    const double p_split = db_params_num(P, "p_split");
    if (db_model_n_vocab(req->draft) != db_model_n_vocab(req->target))
        return db_errf(err, errlen, "draft vocabulary (%d) differs from the target's (%d)",
                       db_model_n_vocab(req->draft), db_model_n_vocab(req->target));
    db_spec s;
    const int max_nodes = k_max * n_br_max;
    if (db_spec_begin(&s, req, out, max_nodes, err, errlen) != 0) return -1;
    const int V = s.n_vocab;
    const bool greedy = s.sampling.greedy || s.sampling.temperature <= 0.0f;
    db_kv_mirror dk;
    db_batch db, tb;
    db_sampler_buf qb;
    float *resid = malloc(sizeof(float) * (size_t)V);
    db_rng rng_draft = db_rng_make(req->seed, 1);
    int rc = 0;
    memset(&db, 0, sizeof db);
    memset(&tb, 0, sizeof tb);
    if (!resid || db_kv_mirror_init(&dk, req->draft, req->n_prompt + req->max_new_tokens + max_nodes + 8, n_br_max, DB_ROLE_DRAFT) != 0 ||
        db_batch_init(&db, n_br_max, n_br_max) != 0 || db_batch_init(&tb, max_nodes + k_max + 4, n_br_max) != 0 ||
        db_sampler_buf_init(&qb, V) != 0) {
        free(resid);
        db_spec_end(&s);
        return db_errf(err, errlen, "out of memory");
    }
    branch br[MAX_BRANCHES];
    tnode nodes[MAX_BRANCHES * MAX_DEPTH];
    int32_t all_seq[MAX_BRANCHES];
    for (int q = 0; q < n_br_max; q++) all_seq[q] = q;
    /* the prompt's target cells join every branch sequence once */
    for (int q = 1; q < n_br_max && rc == 0; q++)
        if (db_model_seq_rm(req->target, q, -1, -1) != 0 || db_model_seq_cp(req->target, 0, q, -1, -1) != 0)
            rc = db_errf(err, errlen, "target KV copy: %s", db_model_last_error(req->target));

    while (!s.done && rc == 0) {
        if (req->cancel && *req->cancel) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
            rc = 1;
            break;
        }
        int k = k_max;
        if (k > db_spec_remaining(&s) - 1) k = db_spec_remaining(&s) - 1;
        const int base = s.n_seq;          /* position of depth-0 tokens */
        int n_br = 1, n_nodes = 0;
        if (k > 0) {
            /* ---- grow the draft tree ---- */
            int64_t t0 = db_now_ns();
            const float *root_logits;
            if (db_kv_sync(&s, &dk, &root_logits, err, errlen) != 0) { rc = -1; break; }
            br[0].seq = 0;
            br[0].row = -1;                /* root logits come from the sync */
            for (int d = 0; d < k && rc == 0; d++) {
                int n_now = n_br;
                for (int b = 0; b < n_now; b++) {
                    const float *logits = br[b].row < 0 ? root_logits : db_model_logits(req->draft, br[b].row);
                    const bool can_fork = n_br < n_br_max && p_split < 1.0;
                    db_token c1, c2 = -1;
                    double p2 = 0.0;           /* draft probability of the runner-up c2 */
                    if (greedy) {
                        c1 = db_argmax(logits, V);
                        if (can_fork && (c2 = runner_up(logits, V, c1)) >= 0) {
                            /* p2 = e / S with e = exp(l2 - l1), S >= 1 + e: the
                             * softmax denominator S is summed only when that
                             * bound lets p2 reach p_split (margin for rounding) */
                            const double e = exp((double)logits[c2] - (double)logits[c1]);
                            if (e / (1.0 + e) >= p_split * (1.0 - 1e-6))
                                p2 = e / db_softmax_denominator(logits, V, logits[c1]);
                        }
                    } else {
                        db_sampling_probs(&s.sampling, logits, &qb);
                        c1 = db_draw(qb.prob, V, db_rng_uniform(&rng_draft));
                        if (can_fork && (c2 = runner_up(qb.prob, V, c1)) >= 0) p2 = qb.prob[c2];
                    }
                    br[b].tok[d] = c1;
                    if (can_fork && c2 >= 0 && p2 >= p_split && p2 > 0) {
                        branch *nb = &br[n_br];
                        *nb = br[b];
                        nb->seq = n_br;
                        nb->tok[d] = c2;
                        /* the fork shares the parent's evaluated prefix: the
                         * committed cells already belong to every branch
                         * sequence (the mirror's n_shared), so only this
                         * step's cells are copied */
                        if (db_model_seq_rm(req->draft, nb->seq, base, -1) != 0 ||
                            db_model_seq_cp(req->draft, br[b].seq, nb->seq, base, -1) != 0) {
                            rc = db_errf(err, errlen, "draft KV fork: %s", db_model_last_error(req->draft));
                            break;
                        }
                        n_br++;
                    }
                }
                if (rc || d == k - 1) break;
                /* evaluate every branch's depth-d token in one draft forward */
                db_batch_clear(&db);
                for (int b = 0; b < n_br; b++) br[b].row = db_batch_add1(&db, br[b].tok[d], base + d, br[b].seq, true);
                if (db_forward(req->draft, &db, req->events, DB_ROLE_DRAFT, s.step) != 0) {
                    rc = db_errf(err, errlen, "draft forward: %s", db_model_last_error(req->draft));
                    break;
                }
                /* newly forked branches need the same root logits source as their parent: rows set above */
            }
            if (rc) break;
            /* ---- unique nodes: branches sharing a prefix share its nodes ---- */
            for (int b = 0; b < n_br; b++) {
                for (int d = 0; d < k; d++) {
                    int parent = d == 0 ? -1 : br[b].node[d - 1];
                    int found = -1;
                    for (int j = 0; j < n_nodes; j++)
                        if (nodes[j].depth == d && nodes[j].parent == parent && nodes[j].tok == br[b].tok[d]) { found = j; break; }
                    if (found < 0) {
                        found = n_nodes++;
                        nodes[found] = (tnode){ br[b].tok[d], d, parent, -1, b };
                    }
                    br[b].node[d] = found;
                }
            }
            db_emit_draft(req->events, s.step, n_nodes, t0, db_now_ns());
        }

        /* ---- one target forward over the committed tail and every node ----
         * The target's committed cells belong to every branch sequence, so a
         * branch needs no copy of the prefix: its nodes extend it directly. */
        db_batch_clear(&tb);
        for (int i = s.target_past; i < base; i++) db_batch_add(&tb, s.seq[i], i, all_seq, n_br_max, i == base - 1);
        const int row0 = tb.n_tokens - 1;
        for (int j = 0; j < n_nodes; j++) {
            int32_t ids[MAX_BRANCHES];
            int n_ids = 0;
            for (int b = 0; b < n_br; b++)
                if (br[b].node[nodes[j].depth] == j) ids[n_ids++] = br[b].seq;
            nodes[j].row = db_batch_add(&tb, nodes[j].tok, base + nodes[j].depth, ids, n_ids, true);
        }
        if (db_forward(req->target, &tb, req->events, DB_ROLE_TARGET, s.step) != 0) {
            rc = db_errf(err, errlen, "target forward: %s", db_model_last_error(req->target));
            break;
        }

        /* ---- walk the tree ---- */
        int64_t t1 = db_now_ns();
        db_token accepted[MAX_DEPTH];
        int a = 0, cur = -1, cur_row = row0;
        db_token extra = DB_TOKEN_NULL;
        for (;;) {
            const float *logits = db_model_logits(req->target, cur_row);
            int kids[MAX_BRANCHES], n_kids = 0;
            for (int j = 0; j < n_nodes; j++)
                if (nodes[j].parent == cur && nodes[j].depth == (cur < 0 ? 0 : nodes[cur].depth + 1)) kids[n_kids++] = j;
            int next = -1;
            if (greedy) {
                db_token best = db_argmax(logits, V);
                for (int c = 0; c < n_kids; c++) if (nodes[kids[c]].tok == best) next = kids[c];
                if (next < 0) extra = best;
            } else {
                db_sampling_probs(&s.sampling, logits, &s.buf);
                db_token cand[MAX_BRANCHES];
                for (int c = 0; c < n_kids; c++) cand[c] = nodes[kids[c]].tok;
                const int won = db_spec_eliminate(s.buf.prob, V, cand, n_kids, &s.rng, resid, &extra);
                if (won >= 0) next = kids[won];
            }
            if (next < 0) break;
            accepted[a++] = nodes[next].tok;
            cur = next;
            cur_row = nodes[next].row;
        }
        db_emit_sample(req->events, s.step, t1, db_now_ns());

        /* ---- keep the winning branch in both caches, as sequence 0 ---- */
        int win = cur >= 0 ? nodes[cur].branch : 0;
        const int wseq = br[win].seq;
        /* Bit-identical greedy output needs the target's KV cells in the
         * order a single-sequence decode leaves them: llama.cpp's CPU flash
         * attention accumulates over the cells in cell order, so a later
         * token placed in a hole before the accepted cells changes the
         * rounding.  The accepted cells directly follow the committed ones
         * only when they are the batch's first nodes (branch 0's path,
         * nodes 0..a-1); otherwise this step's cells all go and the accepted
         * tokens are evaluated again at the head of the next forward (the
         * committed tail), a+1 rows instead of 1. */
        const bool in_order = a == 0 || cur == a - 1;
        if (!in_order) {
            if (db_model_seq_rm(req->target, -1, base, -1) != 0) {
                rc = db_errf(err, errlen, "target KV rollback: %s", db_model_last_error(req->target));
                break;
            }
        }
        /* target: the winner's accepted cells join every sequence, the rest
         * of this step's cells go (only this step's positions are touched) */
        for (int q = 0; q < n_br_max && rc == 0 && in_order; q++) {
            if (q == wseq) continue;
            if (db_model_seq_rm(req->target, q, base, -1) != 0 ||
                (a > 0 && db_model_seq_cp(req->target, wseq, q, base, base + a) != 0))
                rc = db_errf(err, errlen, "target KV keep branch: %s", db_model_last_error(req->target));
        }
        if (rc == 0 && in_order && db_model_seq_rm(req->target, wseq, base + a, -1) != 0)
            rc = db_errf(err, errlen, "target KV rollback: %s", db_model_last_error(req->target));
        /* draft: the winner's cells of this step join every branch sequence
         * (the mirror's cells are shared; db_kv_sync trims what the target
         * rejected) */
        for (int q = 0; q < n_br_max && rc == 0 && k > 1; q++)
            if (q != wseq && (db_model_seq_rm(req->draft, q, base, -1) != 0 ||
                              db_model_seq_cp(req->draft, wseq, q, base, -1) != 0))
                rc = db_errf(err, errlen, "draft KV keep branch: %s", db_model_last_error(req->draft));
        if (rc) break;
        /* the draft holds the winner's evaluated tokens (depths < k-1) */
        if (k > 1) {
            for (int d = 0; d < k - 1 && base + d < dk.cap; d++) dk.tok[base + d] = br[win].tok[d];
            dk.n = base + k - 1;
        }
        /* VERIFY counts draft positions by depth (k, the length of every
         * root-to-leaf path), not tree nodes (the DRAFT event has those):
         * accept_at[i] is then "the path reached depth i+1", as for a chain
         * (docs/metrics.md) */
        int v = db_spec_accept(&s, accepted, a, extra, n_nodes > 0 ? k : 0, err, errlen);
        if (!in_order) s.target_past = base;     /* re-evaluate the accepted tokens */
        if (v < 0) rc = -1;
        if (v != 0) break;
    }
    if (rc == 0 && strcmp(out->stop_reason, "cancel") == 0) rc = 1;
    db_sampler_buf_free(&qb);
    db_batch_free(&db);
    db_batch_free(&tb);
    db_kv_mirror_free(&dk);
    free(resid);
    db_spec_end(&s);
    return rc;
}

const db_engine db_engine_spec_tree = {
    .name = "spec-tree",
    .summary = "tree speculative decoding: branching drafts (p_split) verified in one target forward with multiple sequence ids",
    .params = tree_params,
    .n_params = (int)(sizeof tree_params / sizeof tree_params[0]),
    .needs_draft = true,
    .n_seq_max = tree_n_seq,
    .validate = tree_validate,
    .lossless_greedy = true,
    .generate = tree_generate,
};
