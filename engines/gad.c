/* gad.c — grammar-aligned decoding by ASAp (Park et al. 2024, "Grammar-
 * Aligned Decoding"): Adaptive Sampling with Approximate expected futures.
 *
 * Plain grammar-constrained decoding samples token t after prefix w with
 * probability ∝ P(t|w)·[wt is a grammatical prefix]: it ignores how likely
 * the model is to finish a sentence after wt, so it distorts the model's
 * distribution restricted to the grammar, P(s | s in L).  ASAp keeps, in a
 * trie of the prefixes sampled so far, an estimate c(w) of the expected
 * future grammaticality Σ_{s in L, s extends w} P(s | w), samples
 * t ∝ P(t|w)·c(wt), and after each sample sets, bottom-up along its path,
 * c(w) = Σ_t P(t|w)·c(wt).  A prefix not yet in the trie counts as c = 1
 * when the grammar allows it (0 otherwise); an end-of-generation token
 * allowed by the grammar completes a sentence (c = 1).  As samples
 * accumulate the estimates become exact on every visited prefix and the
 * sampling distribution converges to P(s | s in L).
 *
 * State: one trie per generate() call.  `iterations` = N samples are drawn
 * in sequence, each refining the trie; the N-th is returned.  Repetitions
 * of a prompt are independent (seeded) runs, so their outputs are
 * independent draws of the N-th-sample distribution.  Model probabilities
 * and the grammar's allowed set are stored on each trie node: revisiting a
 * prefix costs no forward and no grammar evaluation; a new prefix costs one
 * forward (the KV cache is rolled back to the common prefix of the path
 * held) and one full-vocabulary mask (a CONSTRAINT event).
 *
 * A sentence must end within max_new_tokens tokens: a prefix of that length
 * without an end gets c = 0.  Reported outcomes (db_output_stat):
 * gad_iterations, gad_complete (iterations that ended a sentence),
 * gad_trie_nodes, gad_mass (c(root): the estimate of the grammatical mass
 * P(L) the model gives, an upper bound that tightens with iterations).
 */
#include "constrained.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

static const db_param_def gad_params[] = {
    { "iterations", DB_PARAM_INT, "16", 1, 1000000, NULL, "ASAp samples per generation (the last is returned)" },
    DB_SAMPLING_PARAMS_NO_MODE("sampling temperature of the model distribution (> 0)"),
};

static int gad_validate(const db_params *p, char *err, size_t errlen) {
    return db_sampling_params_check(p, " (gad samples)", err, errlen);
}

#define CHILD_NEW (-1)   /* allowed, not yet visited: c = 1 */
#define CHILD_END (-2)   /* end-of-generation token: a complete sentence, c = 1 */

typedef struct gad_node {
    int n;              /* children: allowed tokens of positive probability */
    db_token *tok;
    float *p;           /* model probability P(t | prefix) */
    float *c;           /* expected future grammaticality of prefix + t */
    int32_t *child;     /* node index, CHILD_NEW or CHILD_END */
    bool expanded;
    float c_self;       /* Σ p·c: this prefix's estimate */
} gad_node;

typedef struct gad_state {
    const db_gen_request *req;
    db_model *m;
    int n_vocab;
    db_sampling s;
    db_grammar *root_grammar;
    gad_node *nodes;
    int n_nodes, cap_nodes;
    db_token *held;     /* tokens after the prompt held in the KV cache */
    int n_held;
    db_batch batch;
    db_sampler_buf sb;
    float *masked;
    int n_forwards;
} gad_state;

static void nodes_free(gad_state *st) {
    for (int i = 0; i < st->n_nodes; i++) {
        free(st->nodes[i].tok);
        free(st->nodes[i].p);
        free(st->nodes[i].c);
        free(st->nodes[i].child);
    }
    free(st->nodes);
}

static int new_node(gad_state *st) {
    if (st->n_nodes == st->cap_nodes) {
        int cap = st->cap_nodes ? st->cap_nodes * 2 : 64;
        gad_node *n = realloc(st->nodes, sizeof *n * (size_t)cap);
        if (!n) return -1;
        st->nodes = n;
        st->cap_nodes = cap;
    }
    memset(&st->nodes[st->n_nodes], 0, sizeof st->nodes[0]);
    st->nodes[st->n_nodes].c_self = 1.0f;
    return st->n_nodes++;
}

/* Logits after prompt + path[0..depth).  The first forward is the root's:
 * the prompt.  Later ones (depth >= 1, the root being expanded first) roll
 * the KV cache back to the common prefix of what it holds and the path, at
 * most to path[depth-1] whose row is needed, and evaluate from there. */
static const float *logits_at(gad_state *st, const db_token *path, int depth, char *err, size_t errlen) {
    const int np = st->req->n_prompt;
    db_batch_clear(&st->batch);
    if (st->n_forwards == 0) {
        for (int i = 0; i < np; i++) db_batch_add1(&st->batch, st->req->prompt[i], i, 0, i == np - 1);
    } else {
        int e = 0;
        while (e < st->n_held && e < depth - 1 && st->held[e] == path[e]) e++;
        if (e < st->n_held && db_model_seq_rm(st->m, 0, np + e, -1) != 0) {
            db_errf(err, errlen, "KV rollback: %s", db_model_last_error(st->m));
            return NULL;
        }
        for (int i = e; i < depth; i++) db_batch_add1(&st->batch, path[i], np + i, 0, i == depth - 1);
        memcpy(st->held + e, path + e, sizeof(db_token) * (size_t)(depth - e));
        st->n_held = depth;
    }
    if (db_forward(st->m, &st->batch, st->req->events, DB_ROLE_TARGET, st->n_forwards) != 0) {
        db_errf(err, errlen, "forward at position %d: %s", np + depth, db_model_last_error(st->m));
        return NULL;
    }
    st->n_forwards++;
    return db_model_logits(st->m, st->batch.n_tokens - 1);
}

/* First visit of node k (prefix path[0..depth)): store the model's
 * distribution over the tokens the grammar allows there. */
static int expand(gad_state *st, int k, const db_token *path, int depth, char *err, size_t errlen) {
    const float *logits = logits_at(st, path, depth, err, errlen);
    if (!logits) return -1;
    int64_t t0 = db_now_ns();
    db_sampling_probs(&st->s, logits, &st->sb);
    memcpy(st->masked, logits, sizeof(float) * (size_t)st->n_vocab);
    int64_t t1 = db_now_ns();
    /* the grammar state at this prefix: the root's, advanced along the path */
    db_grammar *g = db_grammar_clone(st->root_grammar);
    if (!g) return db_errf(err, errlen, "out of memory");
    for (int i = 0; i < depth; i++)
        if (db_grammar_accept(g, path[i]) != 0) {
            db_grammar_free(g);
            return db_errf(err, errlen, "grammar: token %d not allowed (internal error)", path[i]);
        }
    int n_ok = db_grammar_mask(g, st->masked);
    db_grammar_free(g);
    int64_t t2 = db_now_ns();
    db_emit_sample(st->req->events, st->n_forwards, t0, t1);
    db_emit_constraint(st->req->events, st->n_forwards, st->n_vocab, n_ok, t1, t2);
    int n = 0;
    for (int t = 0; t < st->n_vocab; t++) n += st->masked[t] != -INFINITY && st->sb.prob[t] > 0.0f;
    gad_node *node = &st->nodes[k];
    node->tok = malloc(sizeof *node->tok * (size_t)(n ? n : 1));
    node->p = malloc(sizeof *node->p * (size_t)(n ? n : 1));
    node->c = malloc(sizeof *node->c * (size_t)(n ? n : 1));
    node->child = malloc(sizeof *node->child * (size_t)(n ? n : 1));
    if (!node->tok || !node->p || !node->c || !node->child) return db_errf(err, errlen, "out of memory");
    int j = 0;
    for (int t = 0; t < st->n_vocab; t++) {
        if (st->masked[t] == -INFINITY || st->sb.prob[t] <= 0.0f) continue;
        node->tok[j] = t;
        node->p[j] = st->sb.prob[t];
        node->c[j] = 1.0f;
        node->child[j] = db_model_is_eog(st->m, t) ? CHILD_END : CHILD_NEW;
        j++;
    }
    node->n = n;
    node->expanded = true;
    return 0;
}

static float node_estimate(const gad_node *node) {
    double c = 0.0;
    for (int j = 0; j < node->n; j++) c += (double)node->p[j] * node->c[j];
    return (float)c;
}

/* One ASAp sample: descend from the root, then update the estimates along
 * the path.  path/slot receive the tokens and the child slots taken.
 * Returns 1 when it ended a sentence, 0 when it did not (length or dead
 * end; *dead set for a dead end), -1 on error. */
static int asap_sample(gad_state *st, db_rng *rng, db_token *path, int *slot, int *nodes_on_path, int *depth_out,
                       bool *dead, char *err, size_t errlen) {
    const int max = st->req->max_new_tokens;
    int k = 0, depth = 0, rc = 0;
    *dead = false;
    for (;;) {
        nodes_on_path[depth] = k;
        if (depth == max) break;   /* no room left to end: c = 0 below */
        if (!st->nodes[k].expanded && expand(st, k, path, depth, err, errlen) != 0) { rc = -1; break; }
        gad_node *node = &st->nodes[k];
        double total = 0.0;
        for (int j = 0; j < node->n; j++) total += (double)node->p[j] * node->c[j];
        if (!(total > 0.0)) { *dead = true; break; }
        int64_t t0 = db_now_ns();
        double u = db_rng_uniform(rng) * total, cum = 0.0;
        int pick = -1;
        for (int j = 0; j < node->n; j++) {
            double w = (double)node->p[j] * node->c[j];
            if (w <= 0.0) continue;
            cum += w;
            pick = j;
            if (u < cum) break;
        }
        slot[depth] = pick;
        if (node->child[pick] == CHILD_END) {
            db_emit_sample(st->req->events, st->n_forwards, t0, db_now_ns());
            rc = 1;
            break;
        }
        db_token t = node->tok[pick];
        db_emit_sample(st->req->events, st->n_forwards, t0, db_now_ns());
        if (node->child[pick] == CHILD_NEW) {
            int c = new_node(st);
            if (c < 0) { rc = db_errf(err, errlen, "out of memory"); break; }
            st->nodes[k].child[pick] = c;   /* st->nodes may have moved */
        }
        path[depth++] = t;
        k = st->nodes[k].child[pick];
    }
    if (rc < 0) return -1;
    *depth_out = depth;
    /* update the estimates bottom-up: the last node's own value (0 when it
     * ran out of room or into a dead end) ... */
    gad_node *leaf = &st->nodes[nodes_on_path[depth]];
    leaf->c_self = rc == 1 ? node_estimate(leaf) : 0.0f;
    /* ... then each parent's child entry and its own sum */
    for (int d = depth - 1; d >= 0; d--) {
        gad_node *parent = &st->nodes[nodes_on_path[d]];
        parent->c[slot[d]] = st->nodes[nodes_on_path[d + 1]].c_self;
        parent->c_self = node_estimate(parent);
    }
    return rc;
}

static int gad_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    char *gbnf = NULL;
    int c = db_constraint_gbnf(req, out, &gbnf, err, errlen);
    if (c != 0) return c < 0 ? -1 : 0;
    if (req->n_prompt < 1) {
        free(gbnf);
        return db_errf(err, errlen, "empty prompt");
    }
    gad_state st;
    memset(&st, 0, sizeof st);
    st.req = req;
    st.m = req->target;
    st.n_vocab = db_model_n_vocab(st.m);
    st.s = db_sampling_from_params(req->params);
    const int iterations = db_params_int(req->params, "iterations");
    const int max = req->max_new_tokens;
    db_rng rng = db_rng_make(req->seed, 0);
    snprintf(out->stop_reason, sizeof out->stop_reason, "length");

    int64_t c0 = db_now_ns();
    char gerr[384];
    st.root_grammar = db_model_grammar_new(st.m, gbnf, gerr, sizeof gerr);
    free(gbnf);
    if (!st.root_grammar) return db_errf(err, errlen, "%s", gerr);
    db_emit_compile(req->events, c0, db_now_ns());

    db_token *path = malloc(sizeof *path * (size_t)(max + 1));
    int *slot = malloc(sizeof *slot * (size_t)(max + 1));
    int *on_path = malloc(sizeof *on_path * (size_t)(max + 1));
    st.held = malloc(sizeof *st.held * (size_t)(max + 1));
    st.masked = malloc(sizeof(float) * (size_t)st.n_vocab);
    int rc = 0;
    if (!path || !slot || !on_path || !st.held || !st.masked || db_sampler_buf_init(&st.sb, st.n_vocab) != 0 ||
        db_batch_init(&st.batch, req->n_prompt + max, 1) != 0 || new_node(&st) != 0) {
        rc = db_errf(err, errlen, "out of memory");
    }
    int n_complete = 0, depth = 0, last = 0;
    bool dead = false;
    for (int it = 0; rc == 0 && it < iterations; it++) {
        if (req->cancel && *req->cancel) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
            rc = 1;
            break;
        }
        last = asap_sample(&st, &rng, path, slot, on_path, &depth, &dead, err, errlen);
        if (last < 0) {
            rc = -1;
            snprintf(out->stop_reason, sizeof out->stop_reason, "error");
            break;
        }
        n_complete += last;
    }
    if (rc == 0) {
        for (int i = 0; i < depth && rc == 0; i++)
            if (db_output_push(out, path[i]) != 0) rc = db_errf(err, errlen, "out of memory");
        for (int i = 0; i < depth && rc == 0; i++) db_emit_commit(req->events, st.n_forwards, 1);
        snprintf(out->stop_reason, sizeof out->stop_reason, "%s", last == 1 ? "eog" : dead ? "dead_end" : "length");
        db_output_stat(out, "gad_iterations", iterations);
        db_output_stat(out, "gad_complete", n_complete);
        db_output_stat(out, "gad_trie_nodes", st.n_nodes);
        db_output_stat(out, "gad_mass", st.nodes[0].c_self);
    }
    free(path);
    free(slot);
    free(on_path);
    free(st.held);
    free(st.masked);
    db_sampler_buf_free(&st.sb);
    if (st.batch.token) db_batch_free(&st.batch);
    nodes_free(&st);
    db_grammar_free(st.root_grammar);
    return rc;
}

const db_engine db_engine_gad = {
    .name = "gad",
    .summary = "grammar-aligned decoding (ASAp, Park et al. 2024): learns expected future grammaticality over samples",
    .params = gad_params,
    .n_params = (int)(sizeof gad_params / sizeof gad_params[0]),
    .constraints = DB_CONSTRAINT_GRAMMAR | DB_CONSTRAINT_JSON_SCHEMA,
    .constraint_required = true,
    .validate = gad_validate,
    .generate = gad_generate,
};
