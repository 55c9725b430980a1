/* agreement.c — agreement of diffusion outputs with the one-token-per-step
 * reference case (definitions in reports/agreement.h). */
#include "agreement.h"
#include "format.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/store_sql.h"
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

/* Mean agreement and exact-match rate of case `id` against case `ref`. */
static int pair_up(sqlite3 *db, int64_t id, int64_t ref, db_agreement *r, char *err, size_t errlen) {
    static const char *sql =
        "SELECT a.id, a.output_tokens_json, b.output_tokens_json FROM sample a"
        " JOIN sample b ON b.case_id = ?2 AND b.prompt_idx = a.prompt_idx AND b.rep = a.rep"
        "   AND b.turn = a.turn AND b.seed IS a.seed"
        " WHERE a.case_id = ?1 ORDER BY a.id";
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_sql_fail(db, "agreement", err, errlen);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, ref);
    double sum = 0.0, exact = 0.0;
    int rc, status = 0;
    r->pairs = 0;
    while (status == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t sample = sqlite3_column_int64(s, 0);
        int32_t *a = NULL, *b = NULL;
        int na = 0, nb = 0;
        if (parse_tokens((const char *)sqlite3_column_text(s, 1), sample, &a, &na, err, errlen) != 0 ||
            parse_tokens((const char *)sqlite3_column_text(s, 2), sample, &b, &nb, err, errlen) != 0) {
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
    if (status == 0 && rc != SQLITE_DONE) status = db_sql_fail(db, "agreement", err, errlen);
    sqlite3_finalize(s);
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

int db_agreement_run(sqlite3 *db, int64_t run, db_agreement **out, int *n_out, char *err, size_t errlen) {
    *out = NULL;
    *n_out = 0;
    static const char *sql =
        "SELECT c.id, c.label, c.engine, c.model_name, c.dataset, c.params_json,"
        " (SELECT COUNT(*) FROM sample x WHERE x.case_id = c.id),"
        " (SELECT COUNT(*) FROM sample x JOIN sample_metric m ON m.sample_id = x.id"
        "   AND m.name = 'diffusion_max_commit' AND m.value = 1 WHERE x.case_id = c.id)"
        " FROM \"case\" c WHERE c.run_id = ? ORDER BY c.idx";
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_sql_fail(db, "agreement cases", err, errlen);
    sqlite3_bind_int64(s, 1, run);
    acase *c = NULL;
    int n = 0, cap = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            acase *g = realloc(c, sizeof *g * (size_t)cap);
            if (!g) { rc = SQLITE_NOMEM; break; }
            c = g;
        }
        acase *x = &c[n++];
        memset(x, 0, sizeof *x);
        x->id = sqlite3_column_int64(s, 0);
        x->label = db_sql_text(s, 1);
        x->engine = db_sql_text(s, 2);
        x->model = db_sql_text(s, 3);
        x->dataset = db_sql_text(s, 4);
        const char *pj = (const char *)sqlite3_column_text(s, 5);
        x->params = pj ? cJSON_Parse(pj) : NULL;
        int samples = sqlite3_column_int(s, 6), one = sqlite3_column_int(s, 7);
        x->reference = samples > 0 && one == samples;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        acases_free(c, n);
        return rc == SQLITE_NOMEM ? db_errf(err, errlen, "out of memory") : db_sql_fail(db, "agreement cases", err, errlen);
    }
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
        else status = pair_up(db, c[i].id, c[ref].id, a, err, errlen);
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
