/* identity.c — greedy losslessness checked on every run (see identity.h).
 *
 * Which cases: an engine's descriptor says whether it is lossless
 * (lossless_greedy) or the baseline (greedy_baseline); a case is greedy when
 * its stored params_json has "mode": "greedy".  A baseline case must also
 * have every parameter other than the sampling rows (mode/temp/top_k/top_p,
 * engines/sampling_params.h) at its default (an `ar` with n-gram blocking
 * is no baseline).  Pairs share the target model
 * (sha256, else path) and the dataset; the first completed baseline case of
 * the run is used.  Samples pair by (prompt_idx, turn, rep), falling back to
 * the baseline's rep 0 (greedy repetitions are the same output).
 */
#include "identity.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/engine.h"
#include "engines/sampling_params.h"
#include "harness/util/util.h"

#define DB_ID_SQL_FAIL(what) db_errf(err, errlen, "identity check: %s: %s", what, sqlite3_errmsg(db))

typedef struct id_case {
    int64_t id;
    const db_engine *eng;
    bool greedy, baseline_ok;
    char *model, *dataset;
    bool completed;
} id_case;

static char *col_dup(sqlite3_stmt *s, int i) {
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? db_strdup((const char *)t) : NULL;
}

/* "mode" is "greedy" (or absent with a greedy default); for a baseline also
 * every non-sampling parameter at its default. */
static void classify(id_case *c, const char *params_json) {
    c->greedy = false;
    c->baseline_ok = false;
    if (!c->eng) return;
    cJSON *j = params_json ? cJSON_Parse(params_json) : NULL;
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return;
    }
    const db_param_def *mode = db_params_find(c->eng->params, c->eng->n_params, "mode");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "mode");
    if (mode) c->greedy = cJSON_IsString(m) ? strcmp(m->valuestring, "greedy") == 0 : strcmp(mode->def, "greedy") == 0;
    if (c->greedy && c->eng->greedy_baseline) {
        db_params def;
        db_params_defaults(&def, c->eng->params, c->eng->n_params);
        bool ok = true;
        for (int i = 0; i < c->eng->n_params && ok; i++) {
            const db_param_def *d = &c->eng->params[i];
            if (db_sampling_param_name(d->name)) continue;
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, d->name);
            if (!v) continue;
            if (d->type == DB_PARAM_ENUM) ok = cJSON_IsString(v) && !strcmp(v->valuestring, d->def);
            else if (d->type == DB_PARAM_BOOL) ok = cJSON_IsBool(v) && (cJSON_IsTrue(v) ? 1.0 : 0.0) == def.num[i];
            else ok = cJSON_IsNumber(v) && v->valuedouble == def.num[i];
        }
        c->baseline_ok = ok;
    }
    cJSON_Delete(j);
}

typedef struct id_sample {
    int prompt_idx, turn, rep;
    char *prompt_id;
    int n;
    int *tok;        /* NULL when the stored JSON is missing or not an array of integers */
} id_sample;

static void samples_free(id_sample *s, int n) {
    for (int i = 0; i < n; i++) {
        free(s[i].prompt_id);
        free(s[i].tok);
    }
    free(s);
}

static int parse_tokens(const char *json, id_sample *out) {
    out->n = 0;
    out->tok = NULL;
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    if (!j || !cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return 0;
    }
    int n = cJSON_GetArraySize(j);
    out->tok = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!out->tok) {
        cJSON_Delete(j);
        return -1;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        if (!cJSON_IsNumber(e)) {
            free(out->tok);
            out->tok = NULL;
            out->n = 0;
            break;
        }
        out->tok[out->n++] = e->valueint;
    }
    cJSON_Delete(j);
    return 0;
}

static int load_samples(sqlite3 *db, int64_t case_id, id_sample **out, int *n_out, char *err, size_t errlen) {
    *out = NULL;
    *n_out = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db,
                           /* a pruned run's outputs are in the output table (schema 7) */
                           "SELECT prompt_idx, turn, rep, prompt_id, COALESCE(output_tokens_json,"
                           " (SELECT o.tokens_json FROM output o WHERE o.id = sample.output_id)) FROM sample"
                           " WHERE case_id = ? AND (stop_reason IS NULL OR stop_reason NOT LIKE 'error:%')"
                           " ORDER BY prompt_idx, turn, rep", -1, &s, NULL) != SQLITE_OK)
        return DB_ID_SQL_FAIL("read samples");
    sqlite3_bind_int64(s, 1, case_id);
    int cap = 0, n = 0, rc;
    id_sample *v = NULL;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            id_sample *nv = realloc(v, sizeof *nv * (size_t)cap);
            if (!nv) goto oom;
            v = nv;
        }
        id_sample *x = &v[n];
        memset(x, 0, sizeof *x);
        x->prompt_idx = sqlite3_column_int(s, 0);
        x->turn = sqlite3_column_int(s, 1);
        x->rep = sqlite3_column_int(s, 2);
        x->prompt_id = col_dup(s, 3);
        n++;
        if (parse_tokens((const char *)sqlite3_column_text(s, 4), x) != 0) goto oom;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        samples_free(v, n);
        return DB_ID_SQL_FAIL("read samples");
    }
    *out = v;
    *n_out = n;
    return 0;
oom:
    sqlite3_finalize(s);
    samples_free(v, n);
    return db_errf(err, errlen, "identity check: out of memory");
}

static const id_sample *find_ref(const id_sample *b, int nb, const id_sample *x) {
    const id_sample *rep0 = NULL;
    for (int i = 0; i < nb; i++) {
        if (b[i].prompt_idx != x->prompt_idx || b[i].turn != x->turn) continue;
        if (b[i].rep == x->rep) return &b[i];
        if (b[i].rep == 0) rep0 = &b[i];
    }
    return rep0;
}

/* Compare one case with its baseline and store the row. */
static int compare_case(sqlite3 *db, int64_t run_id, const id_case *c, const id_case *base, bool *differs,
                        char *err, size_t errlen) {
    id_sample *a = NULL, *b = NULL;
    int na = 0, nb = 0;
    if (load_samples(db, c->id, &a, &na, err, errlen) != 0) return -1;
    if (load_samples(db, base->id, &b, &nb, err, errlen) != 0) {
        samples_free(a, na);
        return -1;
    }
    int n_cmp = 0, n_same = 0, n_diff = 0;
    db_str js;
    db_str_init(&js);
    int orc = db_str_append(&js, "[");
    for (int i = 0; i < na; i++) {
        const id_sample *r = find_ref(b, nb, &a[i]);
        if (!r || !r->tok || !a[i].tok) continue;      /* nothing to compare against */
        n_cmp++;
        int p = 0;
        while (p < a[i].n && p < r->n && a[i].tok[p] == r->tok[p]) p++;
        if (p == a[i].n && p == r->n) {
            n_same++;
            continue;
        }
        if (n_diff++ >= DB_IDENTITY_MAX_DIFFS) continue;
        orc |= db_str_printf(&js, "%s{\"prompt_idx\":%d,\"prompt_id\":", n_diff > 1 ? "," : "", a[i].prompt_idx);
        const char *pid = a[i].prompt_id ? a[i].prompt_id : "";
        orc |= db_str_json_string(&js, pid, strlen(pid));
        orc |= db_str_printf(&js, ",\"turn\":%d,\"rep\":%d,\"position\":%d,", a[i].turn, a[i].rep, p);
        if (p < a[i].n) orc |= db_str_printf(&js, "\"token\":%d,", a[i].tok[p]);
        else orc |= db_str_append(&js, "\"token\":null,");
        if (p < r->n) orc |= db_str_printf(&js, "\"baseline_token\":%d}", r->tok[p]);
        else orc |= db_str_append(&js, "\"baseline_token\":null}");
    }
    orc |= db_str_append(&js, "]");
    samples_free(a, na);
    samples_free(b, nb);
    char *diffs = db_str_take(&js);
    if (orc != 0 || !diffs) {
        free(diffs);
        return db_errf(err, errlen, "identity check: out of memory");
    }
    sqlite3_stmt *s = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO identity(run_id, case_id, baseline_case_id, n_compared,"
                           " n_identical, first_diff_json) VALUES(?,?,?,?,?,?)", -1, &s, NULL) != SQLITE_OK) {
        DB_ID_SQL_FAIL("prepare insert");
    } else {
        sqlite3_bind_int64(s, 1, run_id);
        sqlite3_bind_int64(s, 2, c->id);
        sqlite3_bind_int64(s, 3, base->id);
        sqlite3_bind_int(s, 4, n_cmp);
        sqlite3_bind_int(s, 5, n_same);
        if (n_diff > 0) sqlite3_bind_text(s, 6, diffs, -1, SQLITE_TRANSIENT);
        else sqlite3_bind_null(s, 6);
        if (sqlite3_step(s) == SQLITE_DONE) rc = 0;
        else DB_ID_SQL_FAIL("insert");
    }
    sqlite3_finalize(s);
    free(diffs);
    *differs = n_same < n_cmp;
    return rc;
}

static bool same_str(const char *a, const char *b) {
    return a && b && strcmp(a, b) == 0;
}

int db_identity_check_run(sqlite3 *db, int64_t run_id, int *n_cases, int *n_differ, char *err, size_t errlen) {
    if (n_cases) *n_cases = 0;
    if (n_differ) *n_differ = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, engine, params_json, COALESCE(model_sha256, model_path), dataset, status"
                           " FROM \"case\" WHERE run_id = ? ORDER BY idx", -1, &s, NULL) != SQLITE_OK)
        return DB_ID_SQL_FAIL("read cases");
    sqlite3_bind_int64(s, 1, run_id);
    id_case *cs = NULL;
    int n = 0, cap = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            id_case *nc = realloc(cs, sizeof *nc * (size_t)cap);
            if (!nc) { rc = SQLITE_NOMEM; break; }
            cs = nc;
        }
        id_case *c = &cs[n++];
        memset(c, 0, sizeof *c);
        c->id = sqlite3_column_int64(s, 0);
        const char *eng = (const char *)sqlite3_column_text(s, 1);
        c->eng = eng ? db_engine_find(eng) : NULL;
        classify(c, (const char *)sqlite3_column_text(s, 2));
        c->model = col_dup(s, 3);
        c->dataset = col_dup(s, 4);
        const char *st = (const char *)sqlite3_column_text(s, 5);
        c->completed = st && strcmp(st, "completed") == 0;
    }
    sqlite3_finalize(s);
    int ret = 0;
    if (rc != SQLITE_DONE) ret = rc == SQLITE_NOMEM ? db_errf(err, errlen, "identity check: out of memory")
                                                    : DB_ID_SQL_FAIL("read cases");
    /* its own transaction, unless the caller's (merge) is open: then the
     * caller commits or rolls back */
    bool in_tx = false;
    if (ret == 0 && sqlite3_get_autocommit(db)) {
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) ret = DB_ID_SQL_FAIL("begin");
        else in_tx = true;
    }
    if (ret == 0) {
        sqlite3_stmt *d = NULL;
        if (sqlite3_prepare_v2(db, "DELETE FROM identity WHERE run_id = ?", -1, &d, NULL) != SQLITE_OK) {
            ret = DB_ID_SQL_FAIL("clear");
        } else {
            sqlite3_bind_int64(d, 1, run_id);
            if (sqlite3_step(d) != SQLITE_DONE) ret = DB_ID_SQL_FAIL("clear");
        }
        sqlite3_finalize(d);
    }
    for (int i = 0; i < n && ret == 0; i++) {
        const id_case *c = &cs[i];
        if (!c->completed || !c->greedy || !c->eng || !c->eng->lossless_greedy) continue;
        const id_case *base = NULL;
        for (int j = 0; j < n && !base; j++)
            if (j != i && cs[j].completed && cs[j].eng && cs[j].eng->greedy_baseline && cs[j].baseline_ok &&
                same_str(cs[j].model, c->model) && same_str(cs[j].dataset, c->dataset))
                base = &cs[j];
        if (!base) continue;
        bool differs = false;
        ret = compare_case(db, run_id, c, base, &differs, err, errlen);
        if (ret == 0) {
            if (n_cases) (*n_cases)++;
            if (differs && n_differ) (*n_differ)++;
        }
    }
    if (in_tx) {
        if (ret == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) ret = DB_ID_SQL_FAIL("commit");
        if (ret != 0) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    for (int i = 0; i < n; i++) {
        free(cs[i].model);
        free(cs[i].dataset);
    }
    free(cs);
    return ret;
}

int db_identity_get(sqlite3 *db, int64_t case_id, int *n_compared, int *n_identical) {
    sqlite3_stmt *s = NULL;
    *n_compared = *n_identical = 0;
    /* databases older than schema 3 opened without the TEMP table: no result */
    if (sqlite3_prepare_v2(db, "SELECT n_compared, n_identical FROM identity WHERE case_id = ?", -1, &s, NULL) !=
        SQLITE_OK)
        return 0;
    sqlite3_bind_int64(s, 1, case_id);
    int rc = sqlite3_step(s), found = 0;
    if (rc == SQLITE_ROW) {
        *n_compared = sqlite3_column_int(s, 0);
        *n_identical = sqlite3_column_int(s, 1);
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = -1;
    }
    sqlite3_finalize(s);
    return found;
}

void db_identity_format(char *buf, size_t len, int found, int n_compared, int n_identical) {
    if (found != 1) snprintf(buf, len, "%s", "");
    else snprintf(buf, len, "%d/%d%s", n_identical, n_compared, n_identical < n_compared ? " DIFF" : "");
}
