/* identity_gap.c — for a run's greedy identity results (the `identity`
 * table that `decobench run` fills, harness/run/identity.c): per compared case
 * the prompts identical to `ar`, and for every first difference the logit
 * gap there between ar's token and the engine's, next to the noise bound of
 * the same prefix.
 *
 * The gap comes from ar's own computation, re-done here: the prompt in one
 * forward, then ar's tokens one forward each (exactly what `ar` does), and
 * the logits at the first differing position.  The noise bound of a prompt
 * is max |logit difference| over all positions up to the difference between
 * that token-by-token evaluation and one forward over the whole prefix (a
 * many-row batch: llama.cpp computes its attention with another kernel
 * and reduction order).  A first difference whose gap exceeds the noise
 * bound is not a near-tie: a real error.
 *
 * Usage: identity_gap --db FILE --run ID --dataset JSONL --model GGUF
 *                     [--threads N] [--n-ctx N]
 * The dataset must be the file the run's dataset was read from (prompts by
 * index, field "prompt", no chat template).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/model.h"
#include "harness/util/util.h"

static char **load_prompts(const char *path, int *n) {
    size_t len = 0;
    char err[512];
    char *text = db_read_file(path, &len, err, sizeof err);
    if (!text) {
        fprintf(stderr, "identity_gap: %s\n", err);
        return NULL;
    }
    char **v = NULL;
    int cap = 0;
    *n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *p = j ? cJSON_GetObjectItemCaseSensitive(j, "prompt") : NULL;
        if (cJSON_IsString(p)) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 64;
                v = realloc(v, sizeof *v * (size_t)cap);
            }
            v[(*n)++] = db_strdup(p->valuestring);
        }
        cJSON_Delete(j);
    }
    free(text);
    return v;
}

/* logits at every position of prompt + toks[0..n) evaluated token by token
 * (prompt in one forward, as ar) into inc, and in one forward into one;
 * rows: position n_prompt-1+i for i = 0..n; returns 0 */
static int eval_prefix(db_model *m, const db_token *prompt, int np, const db_token *toks, int n, float *inc,
                       float *one) {
    const int V = db_model_n_vocab(m);
    db_batch b;
    if (db_batch_init(&b, np + n + 1, 1) != 0) return -1;
    db_model_reset(m);
    for (int i = 0; i < np; i++) db_batch_add1(&b, prompt[i], i, 0, i == np - 1);
    if (db_model_decode(m, &b) != 0) goto fail;
    memcpy(inc, db_model_logits(m, np - 1), sizeof(float) * (size_t)V);
    for (int i = 0; i < n; i++) {
        db_batch_clear(&b);
        db_batch_add1(&b, toks[i], np + i, 0, true);
        if (db_model_decode(m, &b) != 0) goto fail;
        memcpy(inc + (size_t)(i + 1) * V, db_model_logits(m, 0), sizeof(float) * (size_t)V);
    }
    db_model_reset(m);
    db_batch_clear(&b);
    for (int i = 0; i < np; i++) db_batch_add1(&b, prompt[i], i, 0, i == np - 1);
    for (int i = 0; i < n; i++) db_batch_add1(&b, toks[i], np + i, 0, true);
    if (db_model_decode(m, &b) != 0) goto fail;
    for (int i = 0; i <= n; i++)
        memcpy(one + (size_t)i * V, db_model_logits(m, np - 1 + i), sizeof(float) * (size_t)V);
    db_batch_free(&b);
    return 0;
fail:
    db_batch_free(&b);
    return -1;
}

static int *json_tokens(const char *json, int *n) {
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    *n = 0;
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return NULL;
    }
    int *t = malloc(sizeof(int) * (size_t)(cJSON_GetArraySize(j) + 1));
    const cJSON *e;
    cJSON_ArrayForEach(e, j) t[(*n)++] = e->valueint;
    cJSON_Delete(j);
    return t;
}

int main(int argc, char **argv) {
    const char *dbp = NULL, *ds = NULL, *model = NULL;
    long long run = 0;
    int threads = 2, n_ctx = 2048;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--db")) dbp = argv[i + 1];
        else if (!strcmp(argv[i], "--run")) run = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--dataset")) ds = argv[i + 1];
        else if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n-ctx")) n_ctx = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "identity_gap: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!dbp || !ds || !model || run <= 0) {
        fprintf(stderr, "usage: identity_gap --db FILE --run ID --dataset JSONL --model GGUF [--threads N]\n");
        return 2;
    }
    int n_prompts = 0;
    char **prompts = load_prompts(ds, &n_prompts);
    if (!prompts) return 1;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(dbp, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "identity_gap: %s: cannot open\n", dbp);
        return 1;
    }
    db_llama_set_quiet(true);
    db_model_params mp = db_model_default_params();
    mp.path = model;
    mp.n_threads = threads;
    mp.n_ctx = n_ctx;
    mp.n_batch = n_ctx;
    mp.n_seq_max = 1;
    db_model *m = NULL;
    char err[512];
    if (db_model_open(&mp, &m, err, sizeof err) != 0) {
        fprintf(stderr, "identity_gap: %s\n", err);
        return 1;
    }
    const int V = db_model_n_vocab(m);
    sqlite3_stmt *s = NULL;
    sqlite3_prepare_v2(db,
                       "SELECT c.label, i.n_identical, i.n_compared, i.first_diff_json, i.baseline_case_id"
                       " FROM identity i JOIN \"case\" c ON c.id = i.case_id WHERE i.run_id = ? ORDER BY c.idx",
                       -1, &s, NULL);
    sqlite3_bind_int64(s, 1, run);
    double eps_all = 0;
    printf("%-32s %10s  first differences: prompt@position gap (noise bound)\n", "case", "identical");
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *label = (const char *)sqlite3_column_text(s, 0);
        int ni = sqlite3_column_int(s, 1), nc = sqlite3_column_int(s, 2);
        const char *diffs = (const char *)sqlite3_column_text(s, 3);
        int64_t base_case = sqlite3_column_int64(s, 4);
        printf("%-32s %4d/%-5d", label, ni, nc);
        cJSON *d = diffs ? cJSON_Parse(diffs) : NULL;
        const cJSON *e;
        double max_gap = 0, max_eps = 0;
        int n_over = 0;
        cJSON_ArrayForEach(e, d) {
            int pidx = cJSON_GetObjectItem(e, "prompt_idx")->valueint;
            int pos = cJSON_GetObjectItem(e, "position")->valueint;
            const cJSON *tk = cJSON_GetObjectItem(e, "token"), *bt = cJSON_GetObjectItem(e, "baseline_token");
            if (pidx >= n_prompts || !cJSON_IsNumber(tk) || !cJSON_IsNumber(bt)) continue;
            /* ar's tokens of this prompt */
            sqlite3_stmt *q = NULL;
            sqlite3_prepare_v2(db, "SELECT output_tokens_json FROM sample WHERE case_id = ? AND prompt_idx = ?"
                                   " ORDER BY rep LIMIT 1", -1, &q, NULL);
            sqlite3_bind_int64(q, 1, base_case);
            sqlite3_bind_int(q, 2, pidx);
            int nt = 0, *toks = NULL;
            if (sqlite3_step(q) == SQLITE_ROW) toks = json_tokens((const char *)sqlite3_column_text(q, 0), &nt);
            sqlite3_finalize(q);
            if (!toks || pos > nt) { free(toks); continue; }
            db_token prompt[4096];
            int np = db_model_tokenize(m, prompts[pidx], strlen(prompts[pidx]), true, true, prompt, 4096);
            if (np <= 0 || np + pos + 1 > n_ctx) { free(toks); continue; }
            float *inc = malloc(sizeof(float) * (size_t)V * (size_t)(pos + 1));
            float *one = malloc(sizeof(float) * (size_t)V * (size_t)(pos + 1));
            if (inc && one && eval_prefix(m, prompt, np, toks, pos, inc, one) == 0) {
                const float *l = inc + (size_t)pos * V;
                double gap = (double)l[bt->valueint] - (double)l[tk->valueint];
                double eps = 0;
                for (size_t k = 0; k < (size_t)V * (size_t)(pos + 1); k++) eps = fmax(eps, fabs(inc[k] - one[k]));
                printf(" %d@%d %.4f (%.4f)", pidx, pos, gap, eps);
                max_gap = fmax(max_gap, gap);
                max_eps = fmax(max_eps, eps);
                n_over += gap > eps;
            }
            free(inc);
            free(one);
            free(toks);
        }
        cJSON_Delete(d);
        if (ni < nc)
            printf("\n%-32s            largest gap at a first difference %.4f, largest noise bound %.4f, %d above it",
                   "", max_gap, max_eps, n_over);
        eps_all = fmax(eps_all, max_eps);
        printf("\n");
    }
    sqlite3_finalize(s);
    db_model_close(m);
    sqlite3_close(db);
    for (int i = 0; i < n_prompts; i++) free(prompts[i]);
    free(prompts);
    return 0;
}
