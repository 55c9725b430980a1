/* agreement.c — agreement of diffusion outputs with the one-token-per-step
 * reference case (definitions in reports/agreement.h). */
#include "agreement.h"
#include "format.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/store_read.h"
#include "harness/util/util.h"

double db_token_agreement(const int32_t *a, int na, const int32_t *b, int nb) {
    int longest = na > nb ? na : nb, shortest = na < nb ? na : nb;
    if (longest == 0) return 1.0;
    int same = 0;
    for (int i = 0; i < shortest; i++) same += a[i] == b[i];
    return (double)same / longest;
}

typedef struct acase {
    int64_t id;
    char *label, *engine, *model, *dataset;
    cJSON *params;
    bool reference;
} acase;

static bool same_text(const char *x, const char *y) {
    return x && y ? strcmp(x, y) == 0 : x == y;
}

static bool same_param(const acase *x, const acase *y, const char *name) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(x->params, name);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(y->params, name);
    return a && b && cJSON_Compare(a, b, true);
}

/* The reference of case i, or -1 (rules in agreement.h). */
static int pick_reference(const acase *c, int n, int i) {
    if (c[i].reference) return i;
    int best = -1, best_rank = -1;
    for (int j = 0; j < n; j++) {
        if (!c[j].reference || !same_text(c[j].engine, c[i].engine) || !same_text(c[j].model, c[i].model) ||
            !same_text(c[j].dataset, c[i].dataset))
            continue;
        int rank = 2 * same_param(&c[i], &c[j], "schedule") + same_param(&c[i], &c[j], "remasking");
        if (rank > best_rank) { best = j; best_rank = rank; }
    }
    return best;
}

/* Parse a stored output ("[1,2,3]") into *t (*n tokens). */
static int parse_tokens(const char *json, int64_t sample, int32_t **t, int *n, char *err, size_t errlen) {
    *t = NULL;
    *n = 0;
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return db_errf(err, errlen, "sample %lld: output_tokens_json is not a JSON array", (long long)sample);
    }
    int len = cJSON_GetArraySize(j);
    *t = malloc(sizeof **t * (size_t)(len > 0 ? len : 1));
    if (!*t) {
        cJSON_Delete(j);
        return db_errf(err, errlen, "out of memory");
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        if (!cJSON_IsNumber(e)) {
            cJSON_Delete(j);
            free(*t);
            *t = NULL;
            return db_errf(err, errlen, "sample %lld: output_tokens_json holds a non-number", (long long)sample);
        }
        (*t)[(*n)++] = (int32_t)e->valuedouble;
    }
    cJSON_Delete(j);
    return 0;
}

/* Mean agreement and exact-match rate of case `id` against case `ref`: its
 * samples (in id order) paired with the reference's of the same prompt,
 * repetition, turn and seed. */
static int pair_up(db_store *st, int64_t id, int64_t ref, db_agreement *r, char *err, size_t errlen) {
    db_sample_info *sa = NULL, *sb = NULL;
    int na_s = 0, nb_s = 0;
    if (db_store_read_samples(st, id, 0, true, &sa, &na_s, err, errlen) != 0) return -1;
    if (db_store_read_samples(st, ref, 0, true, &sb, &nb_s, err, errlen) != 0) {
        db_sample_infos_free(sa, na_s);
        return -1;
    }
    double sum = 0.0, exact = 0.0;
    int status = 0;
    r->pairs = 0;
    for (int i = 0; i < na_s && status == 0; i++) {
        const db_sample_info *x = &sa[i];
        for (int k = 0; k < nb_s && status == 0; k++) {
            const db_sample_info *y = &sb[k];
            if (y->prompt_idx != x->prompt_idx || y->rep != x->rep || y->turn != x->turn ||
                y->has_seed != x->has_seed || (x->has_seed && y->seed != x->seed))
                continue;
            int32_t *a = NULL, *b = NULL;
            int na = 0, nb = 0;
            if (parse_tokens(x->output_tokens_json, x->id, &a, &na, err, errlen) != 0 ||
                parse_tokens(y->output_tokens_json, x->id, &b, &nb, err, errlen) != 0) {
                status = -1;
            } else {
                double g = db_token_agreement(a, na, b, nb);
                sum += g;
                exact += na == nb && g == 1.0;
                r->pairs++;
            }
            free(a);
            free(b);
        }
    }
    db_sample_infos_free(sa, na_s);
    db_sample_infos_free(sb, nb_s);
    r->agreement = r->pairs ? sum / r->pairs : NAN;
    r->exact_match = r->pairs ? exact / r->pairs : NAN;
    return status;
}

static void acases_free(acase *c, int n) {
    for (int i = 0; i < n; i++) {
        free(c[i].label);
        free(c[i].engine);
        free(c[i].model);
        free(c[i].dataset);
        cJSON_Delete(c[i].params);
    }
    free(c);
}

int db_agreement_run(db_store *st, int64_t run, db_agreement **out, int *n_out, char *err, size_t errlen) {
    *out = NULL;
    *n_out = 0;
    db_case_info *cs = NULL;
    int n = 0;
    if (db_store_read_cases(st, run, NULL, &cs, &n, err, errlen) != 0) return -1;
    acase *c = calloc((size_t)(n > 0 ? n : 1), sizeof *c);
    if (!c) {
        db_case_infos_free(cs, n);
        return db_errf(err, errlen, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        acase *x = &c[i];
        x->id = cs[i].id;
        x->label = cs[i].label;
        x->engine = cs[i].engine;
        x->model = cs[i].model_name;
        x->dataset = cs[i].dataset;
        cs[i].label = cs[i].engine = cs[i].model_name = cs[i].dataset = NULL;
        x->params = cJSON_Parse(cs[i].params_json);
        /* a reference commits one token per step in every sample */
        int samples = cs[i].n_samples, one = 0;
        if (db_store_case_metric_count(st, x->id, "diffusion_max_commit", 1, &one, err, errlen) != 0) {
            db_case_infos_free(cs, n);
            acases_free(c, n);
            return -1;
        }
        x->reference = samples > 0 && one == samples;
    }
    db_case_infos_free(cs, n);
    db_agreement *r = calloc((size_t)(n > 0 ? n : 1), sizeof *r);
    if (!r) {
        acases_free(c, n);
        return db_errf(err, errlen, "out of memory");
    }
    int m = 0, status = 0;
    for (int i = 0; i < n && status == 0; i++) {
        int ref = pick_reference(c, n, i);
        if (ref < 0) continue;
        db_agreement *a = &r[m++];
        a->case_id = c[i].id;
        a->ref_case_id = c[ref].id;
        a->ref_label = db_strdup(c[ref].label ? c[ref].label : "");
        if (!a->ref_label) status = db_errf(err, errlen, "out of memory");
        else status = pair_up(st, c[i].id, c[ref].id, a, err, errlen);
    }
    acases_free(c, n);
    if (status != 0) {
        db_agreement_free(r, m);
        return -1;
    }
    *out = r;
    *n_out = m;
    return 0;
}

void db_agreement_free(db_agreement *a, int n) {
    if (!a) return;
    for (int i = 0; i < n; i++) free(a[i].ref_label);
    free(a);
}

const db_agreement *db_agreement_find(const db_agreement *a, int n, int64_t case_id) {
    for (int i = 0; i < n; i++)
        if (a[i].case_id == case_id) return &a[i];
    return NULL;
}
