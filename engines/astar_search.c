/* astar_search.c — A*-decoding (Chatziveroglou 2025, "A*-Decoding:
 * Token-Efficient Inference Scaling", arXiv:2505.13672): best-first search
 * over reasoning steps guided by a verifier, under a token budget.
 *
 * A state is a partial output.  Taking the state with the lowest
 * f = g + h off the priority queue, the policy (the case's target model)
 * samples k continuations of one step each — a step ends after a token whose
 * piece holds a newline, at end of generation, or after step_tokens tokens —
 * in lockstep, one forward per token for all k (each in its own KV
 * sequence).  The verifier (the case's second model, given as "draft" in the
 * suite: the bundled target itself, or any scorer model with the same
 * vocabulary) scores every continuation in ONE forward (one "PRM pass"):
 * r(s) = exp(mean log-probability of the output's tokens under the
 * verifier), a likelihood score in (0, 1] standing in for a process reward
 * model.  As in the paper h(s) = 1 − r(s); g(s) = step_cost × steps(s)
 * charges depth.  The first complete state taken off the queue is the
 * answer.  Policy tokens are capped by token_budget; when it runs out the
 * best complete state seen (else the best queued partial one) is returned.
 *
 * Outcomes: astar_tokens (policy tokens sampled), astar_prm_calls
 * (verifier forwards), astar_expansions, astar_reward (r of the output),
 * search_score (the output's log-probability under the policy),
 * search_norm_score.  Accuracy against the prompt's reference
 * (answer_correct, ref_rouge2, ref_bleu) is computed by the harness.
 */
#include "engine.h"
#include "search_paths.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/sample.h"
#include "harness/util/util.h"

#define MAX_K 64

static const db_param_def astar_params[] = {
    { "k",            DB_PARAM_INT,   "4", 1, MAX_K, NULL, "continuations sampled per expansion" },
    { "step_tokens",  DB_PARAM_INT,   "16", 1, 4096, NULL, "most tokens in one step (a newline also ends a step)" },
    { "token_budget", DB_PARAM_INT,   "512", 1, 100000000, NULL, "most policy tokens sampled in all" },
    { "step_cost",    DB_PARAM_FLOAT, "0.02", 0.0, 10.0, NULL, "g: cost per step" },
    { "temp",         DB_PARAM_FLOAT, "0.8", 0.01, 10.0, NULL, "policy sampling temperature" },
    { "top_p",        DB_PARAM_FLOAT, "0.95", 0.01, 1.0, NULL, "policy nucleus sampling mass" },
};

static int astar_n_seq(const db_params *p) { return db_params_int(p, "k"); }

typedef struct anode {
    int parent, seg, seg_len;  /* segment: tokens seg .. seg+seg_len-1 of the token store */
    int len, steps;
    double vsum, psum, f;
    bool terminal, eog;
} anode;

typedef struct astar {
    anode *nodes;
    int n_nodes, cap_nodes;
    db_token *store;
    int n_store, cap_store;
    int *heap;
    int n_heap, cap_heap;
} astar;

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

static bool less(const astar *a, int x, int y) {
    return a->nodes[x].f < a->nodes[y].f || (a->nodes[x].f == a->nodes[y].f && x < y);
}

static int push(astar *a, int n) {
    if (grow((void **)&a->heap, &a->cap_heap, a->n_heap + 1, sizeof(int)) != 0) return -1;
    int i = a->n_heap++;
    a->heap[i] = n;
    while (i > 0 && less(a, a->heap[i], a->heap[(i - 1) / 2])) {
        int p = (i - 1) / 2, t = a->heap[i];
        a->heap[i] = a->heap[p];
        a->heap[p] = t;
        i = p;
    }
    return 0;
}

static int pop(astar *a) {
    int top = a->heap[0], i = 0;
    a->heap[0] = a->heap[--a->n_heap];
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < a->n_heap && less(a, a->heap[l], a->heap[m])) m = l;
        if (r < a->n_heap && less(a, a->heap[r], a->heap[m])) m = r;
        if (m == i) break;
        int t = a->heap[i]; a->heap[i] = a->heap[m]; a->heap[m] = t;
        i = m;
    }
    return top;
}

static int path_of(const astar *a, int n, db_token *buf) {
    int len = a->nodes[n].len;
    for (int end = len; n > 0; n = a->nodes[n].parent) {
        const anode *nd = &a->nodes[n];
        end -= nd->seg_len;
        memcpy(buf + end, a->store + nd->seg, sizeof(db_token) * (size_t)nd->seg_len);
    }
    return len;
}

static bool ends_step(db_model *m, db_token t) {
    char piece[64];
    int n = db_model_token_piece(m, t, piece, sizeof piece - 1);
    return n > 0 && memchr(piece, '\n', (size_t)n) != NULL;
}

static int astar_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    const db_params *P = req->params;
    const int K = db_params_int(P, "k"), step_tokens = db_params_int(P, "step_tokens");
    const int budget = db_params_int(P, "token_budget");
    const double step_cost = db_params_num(P, "step_cost");
    const int L = req->max_new_tokens;
    db_model *pm = req->target, *vm = req->draft;
    if (!vm) return db_errf(err, errlen, "astar-decoding needs a verifier model (the suite's \"draft\" of this engine)");
    const int V = db_model_n_vocab(pm);
    if (db_model_n_vocab(vm) != V)
        return db_errf(err, errlen, "verifier vocabulary (%d) differs from the policy's (%d)", db_model_n_vocab(vm), V);
    snprintf(out->stop_reason, sizeof out->stop_reason, "length");
    if (L < 1) return 0;

    db_sampling smp = { false, (float)db_params_num(P, "temp"), 0, (float)db_params_num(P, "top_p") };
    db_rng rng = db_rng_make(req->seed, 0);
    db_pathkv pkv, vkv;
    memset(&vkv, 0, sizeof vkv);
    if (db_pathkv_init(&pkv, pm, DB_ROLE_TARGET, req->events, req->prompt, req->n_prompt, K, L, K * L, err, errlen) != 0)
        return -1;
    if (db_pathkv_init(&vkv, vm, DB_ROLE_DRAFT, req->events, req->prompt, req->n_prompt, K, L, K * L, err, errlen) != 0) {
        db_pathkv_free(&pkv);
        return -1;
    }
    astar a;
    memset(&a, 0, sizeof a);
    db_sampler_buf sb;
    memset(&sb, 0, sizeof sb);
    db_token *paths = malloc(sizeof(db_token) * (size_t)K * (size_t)L);
    int *clen = malloc(sizeof(int) * (size_t)K);
    bool *active = malloc(sizeof(bool) * (size_t)K), *ceog = malloc(sizeof(bool) * (size_t)K);
    double *cps = malloc(sizeof(double) * (size_t)K);
    float *lp = malloc(sizeof(float) * (size_t)V);
    db_path_eval pe[MAX_K];
    int rc = 0, used = 0, prm_calls = 0, expansions = 0, goal = -1, best_done = -1;
    if (!paths || !clen || !active || !ceog || !cps || !lp || db_sampler_buf_init(&sb, V) != 0 ||
        grow((void **)&a.nodes, &a.cap_nodes, 1, sizeof *a.nodes) != 0) {
        rc = db_errf(err, errlen, "out of memory");
        goto done;
    }
    a.nodes[0] = (anode){ -1, 0, 0, 0, 0, 0.0, 0.0, 0.0, false, false };
    a.n_nodes = 1;
    if (push(&a, 0) != 0) { rc = db_errf(err, errlen, "out of memory"); goto done; }

    for (int step = 1; a.n_heap > 0; step++) {
        if (req->cancel && *req->cancel) { rc = 1; break; }
        if (a.nodes[a.heap[0]].terminal) { goal = pop(&a); break; }
        if (used >= budget) break;
        int n = pop(&a);
        const anode base = a.nodes[n];
        expansions++;
        /* ---- the policy samples K continuations of one step, in lockstep ---- */
        for (int i = 0; i < K; i++) {
            path_of(&a, n, paths + (size_t)i * L);
            clen[i] = base.len;
            active[i] = true;
            ceog[i] = false;
            cps[i] = base.psum;
        }
        for (int t = 0; t < step_tokens; t++) {
            int na = 0, map[MAX_K];
            for (int i = 0; i < K; i++)
                if (active[i] && clen[i] < L && used + na < budget) map[na++] = i;
            for (int i = 0; i < K; i++) {
                bool in = false;
                for (int j = 0; j < na; j++) in |= map[j] == i;
                if (!in) active[i] = false;
            }
            if (na == 0) break;
            /* logits after each active path: the root's, one shared row, or one row each */
            int ne = 0;
            if (clen[map[0]] > 0) {
                if (t == 0) {
                    pe[0] = (db_path_eval){ paths + (size_t)map[0] * L, clen[map[0]], clen[map[0]] - 1, 0, 0 };
                    ne = 1;
                } else {
                    for (int j = 0; j < na; j++)
                        pe[j] = (db_path_eval){ paths + (size_t)map[j] * L, clen[map[j]], clen[map[j]] - 1, 0, 0 };
                    ne = na;
                }
                if (db_pathkv_eval(&pkv, pe, ne, step, err, errlen) != 0) { rc = -1; goto done; }
            }
            int64_t t0 = db_now_ns();
            for (int j = 0; j < na; j++) {
                int i = map[j];
                const float *logits = ne == 0 ? pkv.root_logits : db_pathkv_logits(&pkv, &pe[ne == 1 ? 0 : j], clen[i] - 1);
                db_token tok = db_sample_token(&smp, logits, &sb, &rng);
                db_log_softmax(logits, V, lp);
                cps[i] += lp[tok];
                paths[(size_t)i * L + clen[i]++] = tok;
                used++;
                if (req->stop_at_eog && db_model_is_eog(pm, tok)) { ceog[i] = true; active[i] = false; }
                else if (ends_step(pm, tok) || clen[i] >= L) active[i] = false;
            }
            db_emit_sample(req->events, step, t0, db_now_ns());
        }
        /* ---- the verifier scores every continuation in one forward ---- */
        int nc = 0, cmap[MAX_K];
        for (int i = 0; i < K; i++)
            if (clen[i] > base.len) {
                int from = base.len > 0 ? base.len - 1 : 0;
                pe[nc] = (db_path_eval){ paths + (size_t)i * L, clen[i], from, 0, 0 };
                cmap[nc++] = i;
            }
        if (nc == 0) continue;
        if (db_pathkv_eval(&vkv, pe, nc, step, err, errlen) != 0) { rc = -1; goto done; }
        prm_calls++;
        for (int j = 0; j < nc; j++) {
            int i = cmap[j];
            const db_token *pt = paths + (size_t)i * L;
            double vsum = base.vsum;
            for (int q = base.len; q < clen[i]; q++) {
                db_log_softmax(db_pathkv_logits(&vkv, &pe[j], q - 1), V, lp);
                vsum += lp[pt[q]];
            }
            int seg_len = clen[i] - base.len;
            if (grow((void **)&a.store, &a.cap_store, a.n_store + seg_len, sizeof(db_token)) != 0 ||
                grow((void **)&a.nodes, &a.cap_nodes, a.n_nodes + 1, sizeof *a.nodes) != 0) {
                rc = db_errf(err, errlen, "out of memory");
                goto done;
            }
            memcpy(a.store + a.n_store, pt + base.len, sizeof(db_token) * (size_t)seg_len);
            double r = exp(vsum / clen[i]);
            anode c = { n, a.n_store, seg_len, clen[i], base.steps + 1, vsum, cps[i], 0.0, ceog[i] || clen[i] >= L, ceog[i] };
            c.f = step_cost * c.steps + (1.0 - r);
            a.n_store += seg_len;
            int id = a.n_nodes++;
            a.nodes[id] = c;
            if (c.terminal && (best_done < 0 || c.f < a.nodes[best_done].f)) best_done = id;
            if (push(&a, id) != 0) { rc = db_errf(err, errlen, "out of memory"); goto done; }
        }
    }
    if (rc == 0) {
        int n = goal >= 0 ? goal : best_done >= 0 ? best_done : a.n_heap > 0 ? a.heap[0] : 0;
        const anode *nd = &a.nodes[n];
        db_token *buf = malloc(sizeof(db_token) * (size_t)(nd->len + 1));
        if (!buf) { rc = db_errf(err, errlen, "out of memory"); goto done; }
        db_hyp h = { buf, path_of(&a, n, buf), nd->eog, nd->psum, nd->len > 0 ? nd->psum / nd->len : 0.0, !nd->terminal };
        rc = db_search_emit(req, out, &h, err, errlen);
        free(buf);
        db_output_stat(out, "astar_tokens", used);
        db_output_stat(out, "astar_prm_calls", prm_calls);
        db_output_stat(out, "astar_expansions", expansions);
        db_output_stat(out, "astar_reward", nd->len > 0 ? exp(nd->vsum / nd->len) : 0.0);
    } else if (rc == 1) {
        snprintf(out->stop_reason, sizeof out->stop_reason, "cancel");
    }
done:
    free(a.nodes);
    free(a.store);
    free(a.heap);
    free(paths);
    free(clen);
    free(active);
    free(ceog);
    free(cps);
    free(lp);
    db_sampler_buf_free(&sb);
    db_pathkv_free(&pkv);
    db_pathkv_free(&vkv);
    return rc;
}

const db_engine db_engine_astar_decoding = {
    .name = "astar-decoding",
    .summary = "A*-decoding: best-first search over steps, f = step cost + (1 - verifier score), under a token budget",
    .params = astar_params,
    .n_params = (int)(sizeof astar_params / sizeof astar_params[0]),
    .needs_draft = true,
    .n_seq_max = astar_n_seq,
    .generate = astar_generate,
};
