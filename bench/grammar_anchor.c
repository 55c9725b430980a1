/* grammar_anchor.c — the measurements of bench/grammar_vs_llama.sh.
 *
 * 1. Mask time per token: decobench's `grammar` engine (strategy=mask,
 *    greedy; its CONSTRAINT events) against llama.cpp's grammar sampler
 *    driven directly through llama.h (the candidate array of the whole
 *    vocabulary filled from the logits, llama_sampler_apply, greedy pick,
 *    llama_sampler_accept), same model, grammar, prompt and threads, rounds
 *    interleaved.  Greedy on both sides, so the tokens must be identical.
 * 2. Grammar evaluations per token: `awrs` against full masking
 *    (`grammar` strategy=mask, mode=sample), both at temperature 1, with
 *    the share of outputs that are complete sentences (compliance).
 *
 * Usage: grammar_anchor --model GGUF --prompts JSONL [--rounds 3] [--n 64]
 *          [--threads 2] [--seeds 4]
 * The JSONL lines are data/grammars/grammars.jsonl objects (prompt and
 * constraint.grammar).  Prints Markdown tables.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

#include "engines/engine.h"
#include "harness/constraint/grammar.h"
#include "harness/util/stats.h"
#include "harness/util/util.h"

typedef struct gprompt {
    char *id, *text, *gbnf;
} gprompt;

static int load_prompts(const char *path, gprompt **out, int *n) {
    char err[256];
    char *txt = db_read_file(path, NULL, err, sizeof err);
    if (!txt) { fprintf(stderr, "grammar_anchor: %s\n", err); return -1; }
    *out = NULL;
    *n = 0;
    for (char *line = strtok(txt, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "prompt");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "constraint");
        const cJSON *g = c ? cJSON_GetObjectItemCaseSensitive(c, "grammar") : NULL;
        if (!cJSON_IsString(id) || !cJSON_IsString(pr) || !cJSON_IsString(g)) {
            fprintf(stderr, "grammar_anchor: %s: a line without id, prompt or constraint.grammar\n", path);
            cJSON_Delete(j);
            free(txt);
            return -1;
        }
        *out = realloc(*out, sizeof **out * (size_t)(*n + 1));
        (*out)[*n].id = db_strdup(id->valuestring);
        (*out)[*n].text = db_strdup(pr->valuestring);
        (*out)[*n].gbnf = db_strdup(g->valuestring);
        (*n)++;
        cJSON_Delete(j);
    }
    free(txt);
    return 0;
}

/* ---- llama.cpp's grammar sampler, driven directly ---- */

typedef struct llama_side {
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    llama_token_data *cand;
    int n_vocab;
} llama_side;

/* Greedy generation under gbnf; mask times (ns) into *mask_ns, tokens into toks. */
static int llama_generate(llama_side *L, const char *text, const char *gbnf, int n_max, llama_token *toks,
                          int *n_toks, double *mask_ns, int *n_masks) {
    llama_memory_clear(llama_get_memory(L->ctx), true);
    llama_token prompt[512];
    int np = llama_tokenize(L->vocab, text, (int32_t)strlen(text), prompt, 512, true, true);
    if (np < 1) return -1;
    struct llama_sampler *g = llama_sampler_init_grammar(L->vocab, gbnf, "root");
    if (!g) return -1;
    struct llama_batch b = llama_batch_get_one(prompt, np);
    *n_toks = 0;
    *n_masks = 0;
    llama_token cur;
    for (int step = 0; step < n_max; step++) {
        if (llama_decode(L->ctx, b) != 0) { llama_sampler_free(g); return -1; }
        const float *logits = llama_get_logits_ith(L->ctx, -1);
        int64_t t0 = db_now_ns();
        for (int i = 0; i < L->n_vocab; i++) {
            L->cand[i].id = i;
            L->cand[i].logit = logits[i];
            L->cand[i].p = 0.0f;
        }
        llama_token_data_array a = { L->cand, (size_t)L->n_vocab, -1, false };
        llama_sampler_apply(g, &a);
        int64_t t1 = db_now_ns();
        mask_ns[(*n_masks)++] = (double)(t1 - t0);
        int best = 0;
        for (int i = 1; i < L->n_vocab; i++)
            if (L->cand[i].logit > L->cand[best].logit) best = i;
        cur = L->cand[best].id;
        if (llama_vocab_is_eog(L->vocab, cur)) break;
        llama_sampler_accept(g, cur);
        toks[(*n_toks)++] = cur;
        b = llama_batch_get_one(&cur, 1);
    }
    llama_sampler_free(g);
    return 0;
}

/* ---- decobench's engines ---- */

typedef struct db_run {
    db_gen_output out;
    double constraint_ns;
    long evals;
    int n_constraint;
} db_run;

static int db_generate(db_model *m, const char *engine, const char *const *kv, int n_kv, const char *text,
                       const char *gbnf, int n_max, uint64_t seed, db_run *r) {
    const db_engine *e = db_engine_find(engine);
    db_params p;
    db_params_defaults(&p, e->params, e->n_params);
    char err[512];
    for (int i = 0; i < n_kv; i += 2)
        if (db_params_set(&p, kv[i], kv[i + 1], err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return -1; }
    db_token prompt[512];
    int np = db_model_tokenize(m, text, strlen(text), true, true, prompt, 512);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "grammar", gbnf);
    char *cj = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    db_event_log log;
    db_event_log_init(&log);
    db_event_log_start(&log);
    db_gen_request req = { .target = m, .prompt = prompt, .n_prompt = np, .max_new_tokens = n_max,
                           .stop_at_eog = true, .seed = seed, .params = &p, .constraint_json = cj, .events = &log };
    memset(r, 0, sizeof *r);
    db_model_reset(m);
    int rc = e->generate(&req, &r->out, err, sizeof err);
    if (rc != 0) fprintf(stderr, "grammar_anchor: %s: %s\n", engine, err);
    for (int i = 0; i < log.n; i++)
        if (log.ev[i].kind == DB_EV_CONSTRAINT) {
            r->constraint_ns += (double)(log.ev[i].t_end_ns - log.ev[i].t_start_ns);
            r->evals += log.ev[i].n_tokens;
            r->n_constraint++;
        }
    db_event_log_free(&log);
    free(cj);
    return rc;
}

static int complete_sentence(db_model *m, const db_gen_output *o, const char *gbnf) {
    char text[8192];
    int n = db_model_detokenize(m, o->tokens, o->n_tokens, text, (int)sizeof text - 1);
    if (n < 0) return 0;
    text[n] = 0;
    char err[256];
    return db_gbnf_check(gbnf, text, err, sizeof err) == 1;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *prompts_path = NULL;
    int rounds = 3, n_max = 64, threads = 2, seeds = 4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) { fprintf(stderr, "grammar_anchor: %s needs a value\n", a); return 2; }
        if (strcmp(a, "--model") == 0) model_path = argv[++i];
        else if (strcmp(a, "--prompts") == 0) prompts_path = argv[++i];
        else if (strcmp(a, "--rounds") == 0) rounds = atoi(argv[++i]);
        else if (strcmp(a, "--n") == 0) n_max = atoi(argv[++i]);
        else if (strcmp(a, "--threads") == 0) threads = atoi(argv[++i]);
        else if (strcmp(a, "--seeds") == 0) seeds = atoi(argv[++i]);
        else { fprintf(stderr, "grammar_anchor: unknown argument '%s'\n", a); return 2; }
    }
    if (!model_path || !prompts_path || rounds < 1 || n_max < 1 || n_max > 400 || threads < 1 || seeds < 1) {
        fprintf(stderr, "usage: grammar_anchor --model GGUF --prompts JSONL [--rounds 3] [--n 64] [--threads 2] [--seeds 4]\n");
        return 2;
    }
    gprompt *P;
    int n_prompts;
    if (load_prompts(prompts_path, &P, &n_prompts) != 0) return 1;

    db_llama_set_quiet(true);
    db_model_params mp = db_model_default_params();
    mp.path = model_path;
    mp.n_ctx = 1024;
    mp.n_batch = 512;
    mp.n_threads = threads;
    db_model *m = NULL;
    char err[512];
    if (db_model_open(&mp, &m, err, sizeof err) != 0) { fprintf(stderr, "grammar_anchor: %s\n", err); return 1; }

    llama_side L;
    memset(&L, 0, sizeof L);
    L.model = llama_model_load_from_file(model_path, llama_model_default_params());
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 1024;
    cp.n_batch = 512;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.no_perf = true;
    L.ctx = L.model ? llama_init_from_model(L.model, cp) : NULL;
    if (!L.ctx) { fprintf(stderr, "grammar_anchor: %s: llama.cpp could not load it\n", model_path); return 1; }
    L.vocab = llama_model_get_vocab(L.model);
    L.n_vocab = llama_vocab_n_tokens(L.vocab);
    L.cand = malloc(sizeof *L.cand * (size_t)L.n_vocab);

    /* 1. mask time per token */
    double *ll_round = calloc((size_t)rounds * n_prompts, sizeof(double));
    double *db_round = calloc((size_t)rounds * n_prompts, sizeof(double));
    double *ll_ns = malloc(sizeof(double) * (size_t)(n_max + 1));
    llama_token *ll_toks = malloc(sizeof(llama_token) * (size_t)(n_max + 1));
    int mismatches = 0;
    const char *mask_kv[] = { "strategy", "mask", "mode", "greedy" };
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < n_prompts; i++) {
            int n_toks, n_masks;
            if (llama_generate(&L, P[i].text, P[i].gbnf, n_max, ll_toks, &n_toks, ll_ns, &n_masks) != 0) {
                fprintf(stderr, "grammar_anchor: %s: llama.cpp side failed\n", P[i].id);
                return 1;
            }
            double ll_sum = 0;
            for (int k = 0; k < n_masks; k++) ll_sum += ll_ns[k];
            db_run d;
            if (db_generate(m, "grammar", mask_kv, 4, P[i].text, P[i].gbnf, n_max, 1, &d) != 0) return 1;
            if (d.out.n_tokens != n_toks || memcmp(d.out.tokens, ll_toks, sizeof(llama_token) * (size_t)n_toks) != 0)
                mismatches++;
            ll_round[r * n_prompts + i] = ll_sum / n_masks / 1e3;
            db_round[r * n_prompts + i] = d.constraint_ns / d.n_constraint / 1e3;
            db_output_free(&d.out);
        }
    printf("## Mask time per token (greedy, %d rounds, median over rounds; µs)\n\n", rounds);
    printf("| prompt | llama.cpp grammar sampler | decobench grammar (mask) | ratio |\n|---|---|---|---|\n");
    double *col = malloc(sizeof(double) * (size_t)rounds);
    double *ratios = malloc(sizeof(double) * (size_t)n_prompts);
    for (int i = 0; i < n_prompts; i++) {
        for (int r = 0; r < rounds; r++) col[r] = ll_round[r * n_prompts + i];
        double lm = db_median(col, (size_t)rounds);
        for (int r = 0; r < rounds; r++) col[r] = db_round[r * n_prompts + i];
        double dm = db_median(col, (size_t)rounds);
        ratios[i] = dm / lm;
        printf("| %s | %.1f | %.1f | %.2fx |\n", P[i].id, lm, dm, ratios[i]);
    }
    printf("| **median** | | | **%.2fx** |\n\n", db_median(ratios, (size_t)n_prompts));
    printf("identical greedy tokens: %d of %d generations\n\n", rounds * n_prompts - mismatches, rounds * n_prompts);

    /* 2. grammar evaluations per token: awrs vs full masking */
    printf("## Grammar evaluations per token (temperature 1, %d seeds; vocabulary %d)\n\n", seeds, L.n_vocab);
    printf("| prompt | awrs | mask | ratio | awrs compliance | mask compliance |\n|---|---|---|---|---|---|\n");
    const char *awrs_kv[] = { "temp", "1.0" };
    const char *sample_kv[] = { "strategy", "mask", "mode", "sample" };
    long tot_a = 0, tot_m = 0, tok_a = 0, tok_m = 0;
    int ok_a_all = 0, ok_m_all = 0;
    for (int i = 0; i < n_prompts; i++) {
        long ea = 0, em = 0, ta = 0, tm = 0;
        int ok_a = 0, ok_m = 0;
        for (int s = 1; s <= seeds; s++) {
            db_run a, b;
            if (db_generate(m, "awrs", awrs_kv, 2, P[i].text, P[i].gbnf, n_max, (uint64_t)s, &a) != 0) return 1;
            if (db_generate(m, "grammar", sample_kv, 4, P[i].text, P[i].gbnf, n_max, (uint64_t)s, &b) != 0) return 1;
            ea += a.evals;
            em += b.evals;
            ta += a.out.n_tokens + (strcmp(a.out.stop_reason, "eog") == 0);
            tm += b.out.n_tokens + (strcmp(b.out.stop_reason, "eog") == 0);
            ok_a += complete_sentence(m, &a.out, P[i].gbnf);
            ok_m += complete_sentence(m, &b.out, P[i].gbnf);
            db_output_free(&a.out);
            db_output_free(&b.out);
        }
        printf("| %s | %.1f | %.0f | %.0fx | %d/%d | %d/%d |\n", P[i].id, (double)ea / ta, (double)em / tm,
               ((double)em / tm) / ((double)ea / ta), ok_a, seeds, ok_m, seeds);
        tot_a += ea; tot_m += em; tok_a += ta; tok_m += tm;
        ok_a_all += ok_a; ok_m_all += ok_m;
    }
    printf("| **all** | **%.1f** | **%.0f** | **%.0fx** | %d/%d | %d/%d |\n", (double)tot_a / tok_a,
           (double)tot_m / tok_m, ((double)tot_m / tok_m) / ((double)tot_a / tok_a), ok_a_all, seeds * n_prompts,
           ok_m_all, seeds * n_prompts);

    for (int i = 0; i < n_prompts; i++) { free(P[i].id); free(P[i].text); free(P[i].gbnf); }
    free(P);
    free(ll_round); free(db_round); free(ll_ns); free(ll_toks); free(col); free(ratios); free(L.cand);
    llama_free(L.ctx);
    llama_model_free(L.model);
    db_model_close(m);
    return mismatches ? 1 : 0;
}
