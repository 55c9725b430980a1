/* dataset.c — reading the datasets a suite names (db_prompts_load in
 * suite.h): JSONL prompt files with ids, categories, references, chat turns
 * and per-item constraints (grammar, json_schema, regex, keywords), and the
 * shipped source formats read as they are (GSM8K, CommonGen concept sets).
 * Every error is one line, "FILE:LINE: problem".  The format is documented
 * in docs/suite-format.md.
 */
#include "suite.h"
#include "suite_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/engine.h"
#include "harness/util/jsonlimits.h"
#include "harness/util/util.h"

/* ---- helpers the suite parser shares (suite_int.h) ---- */

const char *db_suite_json_type_name(const cJSON *v) {
    if (!v) return "nothing";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "an invalid value";
}

void db_suite_num_text(double v, char *buf, size_t n) {
    if (isfinite(v) && v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, n, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* ---- prompts ---- */

void db_prompts_free(db_prompt *p, int n) {
    if (!p) return;
    for (int i = 0; i < n; i++) {
        free(p[i].id);
        free(p[i].category);
        free(p[i].text);
        free(p[i].reference);
        free(p[i].constraint_json);
        free(p[i].stop_json);
        for (int t = 0; t < p[i].n_turns; t++) free(p[i].turns[t]);
        free(p[i].turns);
    }
    free(p);
}

/* A reference field: a string, null (none), or an array whose first element
 * is the first turn's reference -- a string, null, or itself an array of
 * acceptable answers (Spec-Bench's rag items: [["a", "b"]]), of which the
 * first is taken.  Returns -1 for anything else. */
static int text_field(const cJSON *obj, const char *key, const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    for (int depth = 0; v && depth < 8; depth++) {
        if (cJSON_IsNull(v)) return 0;
        if (cJSON_IsString(v)) {
            *out = v->valuestring;
            return 0;
        }
        if (!cJSON_IsArray(v)) return -1;
        if (!v->child) return 0;   /* [] : no reference */
        v = v->child;
    }
    return v ? -1 : 0;
}

/* The shipped source datasets, read as they are: a GSM8K line
 * {"question", "answer"} is a prompt with the answer as its reference; a
 * concept set {"concepts": [...], "references": [...]} (CommonGen, the Brown
 * keyword sets of data/constraints) is the prompt "Write a sentence that
 * uses the words: a, b, c." with the concepts as a keywords constraint and
 * its first reference.  Adds the missing decobench fields to o; fields
 * already present win.  Returns 0, or -1 when out of memory. */
static int source_format(cJSON *o) {
    if (!cJSON_IsObject(o) || cJSON_GetObjectItemCaseSensitive(o, "prompt") ||
        cJSON_GetObjectItemCaseSensitive(o, "text") || cJSON_GetObjectItemCaseSensitive(o, "turns"))
        return 0;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "question");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "answer");
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(o, "concepts");
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive(o, "references");
    const bool has_ref = cJSON_GetObjectItemCaseSensitive(o, "reference") != NULL;
    if (cJSON_IsString(q)) {
        if (!cJSON_AddStringToObject(o, "prompt", q->valuestring)) return -1;
        if (!has_ref && cJSON_IsString(a) && !cJSON_AddStringToObject(o, "reference", a->valuestring)) return -1;
        return 0;
    }
    if (!cJSON_IsArray(cs) || !cs->child) return 0;
    db_str t;
    db_str_init(&t);
    db_str_append(&t, "Write a sentence that uses the words: ");
    for (const cJSON *c = cs->child; c; c = c->next) {
        if (!cJSON_IsString(c)) {
            db_str_free(&t);
            return 0;   /* not a concept set: the usual checks report it */
        }
        db_str_printf(&t, "%s%s", c == cs->child ? "" : ", ", c->valuestring);
    }
    db_str_append(&t, ".\n");
    int rc = 0;
    if (!t.s || !cJSON_AddStringToObject(o, "prompt", t.s)) rc = -1;
    db_str_free(&t);
    if (rc == 0 && !cJSON_GetObjectItemCaseSensitive(o, "constraint")) {
        cJSON *con = cJSON_AddObjectToObject(o, "constraint");
        cJSON *kw = con ? cJSON_Duplicate(cs, 1) : NULL;
        if (!kw || !cJSON_AddItemToObject(con, "keywords", kw)) {
            cJSON_Delete(kw);
            rc = -1;
        }
    }
    if (rc == 0 && !has_ref && refs) {
        cJSON *r = cJSON_Duplicate(refs, 1);
        if (!r || !cJSON_AddItemToObject(o, "reference", r)) {
            cJSON_Delete(r);
            rc = -1;
        }
    }
    return rc;
}

static int parse_prompt_line(const char *path, int lineno, const char *line, size_t len,
                             const char *default_category, db_prompt *p, char *err, size_t errlen) {
    char *copy = db_strndup(line, len);
    if (!copy) return db_errf(err, errlen, "%s:%d: out of memory", path, lineno);
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithOpts(copy, &end, 1);
    if (!o) {
        long col = end ? (long)(end - copy) + 1 : 1;
        int dcol = 0;
        int deep = db_json_too_deep(copy, len, NULL, &dcol);
        free(copy);
        if (deep)
            return db_errf(err, errlen, "%s:%d: JSON nested deeper than %d levels at column %d", path, lineno,
                           db_json_nesting_limit(), dcol);
        return db_errf(err, errlen, "%s:%d: malformed JSON at column %ld", path, lineno, col);
    }
    free(copy);
    int rc = -1;
    const char *text = NULL, *ref = NULL, *cat = NULL;
    const cJSON *turns_arr = NULL;
    if (!cJSON_IsObject(o)) {
        db_errf(err, errlen, "%s:%d: expected a JSON object, got %s", path, lineno, db_suite_json_type_name(o));
        goto out;
    }
    if (source_format(o) != 0) {
        db_errf(err, errlen, "%s:%d: out of memory", path, lineno);
        goto out;
    }
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(o, "prompt");
    const cJSON *tv = cJSON_GetObjectItemCaseSensitive(o, "text");
    if (pv) {
        if (!cJSON_IsString(pv)) {
            db_errf(err, errlen, "%s:%d: \"prompt\": expected a string, got %s", path, lineno, db_suite_json_type_name(pv));
            goto out;
        }
        text = pv->valuestring;
    } else if (tv) {
        if (!cJSON_IsString(tv)) {
            db_errf(err, errlen, "%s:%d: \"text\": expected a string, got %s", path, lineno, db_suite_json_type_name(tv));
            goto out;
        }
        text = tv->valuestring;
    } else {
        const cJSON *turns = cJSON_GetObjectItemCaseSensitive(o, "turns");
        if (turns) {
            if (!cJSON_IsArray(turns) || !turns->child || !cJSON_IsString(turns->child)) {
                db_errf(err, errlen, "%s:%d: \"turns\": expected an array starting with a string", path, lineno);
                goto out;
            }
            for (const cJSON *t = turns->child; t; t = t->next)
                if (!cJSON_IsString(t) || !t->valuestring[0]) {
                    db_errf(err, errlen, "%s:%d: \"turns\": every turn must be a non-empty string", path, lineno);
                    goto out;
                }
            text = turns->child->valuestring;
            turns_arr = turns;
        }
    }
    if (!text) {
        db_errf(err, errlen, "%s:%d: no \"prompt\", \"text\" or \"turns\" field", path, lineno);
        goto out;
    }
    if (!text[0]) {
        db_errf(err, errlen, "%s:%d: empty prompt text", path, lineno);
        goto out;
    }
    char idbuf[64];
    snprintf(idbuf, sizeof idbuf, "%d", lineno);
    const char *id = idbuf;
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(o, "id");
    const char *idkey = "id";
    if (!iv) {
        iv = cJSON_GetObjectItemCaseSensitive(o, "question_id");
        idkey = "question_id";
    }
    if (iv) {
        if (cJSON_IsString(iv) && iv->valuestring[0]) id = iv->valuestring;
        else if (cJSON_IsNumber(iv)) db_suite_num_text(iv->valuedouble, idbuf, sizeof idbuf);
        else {
            db_errf(err, errlen, "%s:%d: \"%s\": expected a number or a non-empty string, got %s", path,
                    lineno, idkey, db_suite_json_type_name(iv));
            goto out;
        }
    }
    const cJSON *cv = cJSON_GetObjectItemCaseSensitive(o, "category");
    if (cv) {
        if (!cJSON_IsString(cv)) {
            db_errf(err, errlen, "%s:%d: \"category\": expected a string, got %s", path, lineno, db_suite_json_type_name(cv));
            goto out;
        }
        cat = cv->valuestring;
    }
    if (!cat || !cat[0]) cat = default_category ? default_category : "";
    if (text_field(o, "reference", &ref) != 0) {
        db_errf(err, errlen, "%s:%d: \"reference\": expected a string, or an array (of strings or of arrays of strings)",
                path, lineno);
        goto out;
    }
    const cJSON *cons = cJSON_GetObjectItemCaseSensitive(o, "constraint");
    if (cons) {
        if (!cJSON_IsObject(cons)) {
            db_errf(err, errlen, "%s:%d: \"constraint\": expected an object, got %s", path, lineno, db_suite_json_type_name(cons));
            goto out;
        }
        /* the keys: engine.h's constraint kinds */
        for (const cJSON *k = cons->child; k; k = k->next) {
            int i = 0;
            while (i < DB_CONSTRAINT_N_KINDS && strcmp(db_constraint_kind_key(1u << i), k->string) != 0) i++;
            if (i == DB_CONSTRAINT_N_KINDS) {
                char keys[96];
                db_constraint_kinds_text((1u << DB_CONSTRAINT_N_KINDS) - 1, ", ", keys, sizeof keys);
                db_errf(err, errlen, "%s:%d: \"constraint\": unknown key \"%s\" (%s)", path, lineno, k->string, keys);
                goto out;
            }
        }
        if (!(p->constraint_json = cJSON_PrintUnformatted(cons))) {
            db_errf(err, errlen, "%s:%d: out of memory", path, lineno);
            goto out;
        }
    }
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(o, "stop");
    if (sv) {   /* a string or an array of 1..16 non-empty strings: stored as an array */
        bool okv = cJSON_IsString(sv) ? sv->valuestring[0] != 0 : cJSON_IsArray(sv) && sv->child && cJSON_GetArraySize(sv) <= 16;
        for (const cJSON *x = cJSON_IsArray(sv) ? sv->child : NULL; okv && x; x = x->next)
            okv = cJSON_IsString(x) && x->valuestring[0];
        if (!okv) {
            db_errf(err, errlen, "%s:%d: \"stop\": expected a non-empty string or an array of 1 to 16 non-empty strings",
                    path, lineno);
            goto out;
        }
        cJSON *arr = cJSON_IsArray(sv) ? cJSON_Duplicate(sv, 1) : cJSON_CreateStringArray((const char *const *)&sv->valuestring, 1);
        p->stop_json = arr ? cJSON_PrintUnformatted(arr) : NULL;
        cJSON_Delete(arr);
        if (!p->stop_json) {
            db_errf(err, errlen, "%s:%d: out of memory", path, lineno);
            goto out;
        }
    }
    p->id = db_strdup(id);
    p->category = db_strdup(cat);
    p->text = db_strdup(text);
    p->reference = ref ? db_strdup(ref) : NULL;
    p->n_turns = turns_arr ? cJSON_GetArraySize(turns_arr) : 1;
    p->turns = calloc((size_t)p->n_turns, sizeof *p->turns);
    if (p->turns) {
        if (!turns_arr) p->turns[0] = db_strdup(text);
        else {
            int t = 0;
            for (const cJSON *tj = turns_arr->child; tj; tj = tj->next) p->turns[t++] = db_strdup(tj->valuestring);
        }
    }
    for (int t = 0; p->turns && t < p->n_turns; t++)
        if (!p->turns[t]) { free(p->turns); p->turns = NULL; break; }
    if (!p->turns) p->n_turns = 0;
    if (!p->id || !p->category || !p->text || (ref && !p->reference) || !p->turns) {
        db_errf(err, errlen, "%s:%d: out of memory", path, lineno);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(o);
    return rc;
}

int db_prompts_load(const char *path, const char *default_category, int limit,
                    db_prompt **out, int *n_out, char *err, size_t errlen) {
    *out = NULL;
    *n_out = 0;
    size_t len = 0;
    char *buf = db_read_file(path, &len, err, errlen);
    if (!buf) return -1;
    db_prompt *v = NULL;
    int n = 0, cap = 0, lineno = 0;
    size_t pos = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) pos = 3;   /* UTF-8 byte order mark */
    while (pos < len && (limit <= 0 || n < limit)) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - line) : len - pos;
        pos += llen + (nl ? 1 : 0);
        lineno++;
        if (llen && line[llen - 1] == '\r') llen--;
        size_t k = 0;
        while (k < llen && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k == llen) continue;   /* blank line */
        if (memchr(line, '\0', llen)) {
            free(buf);
            db_prompts_free(v, n);
            return db_errf(err, errlen, "%s:%d: NUL byte in line", path, lineno);
        }
        if (n == cap) {
            int ncap = cap ? cap * 2 : 16;
            db_prompt *nv = realloc(v, (size_t)ncap * sizeof *nv);
            if (!nv) {
                free(buf);
                db_prompts_free(v, n);
                return db_errf(err, errlen, "%s: out of memory", path);
            }
            v = nv;
            cap = ncap;
        }
        memset(&v[n], 0, sizeof v[n]);
        if (parse_prompt_line(path, lineno, line, llen, default_category, &v[n], err, errlen) != 0) {
            free(buf);
            db_prompts_free(v, n + 1);
            return -1;
        }
        n++;
    }
    free(buf);
    if (n == 0) {
        free(v);
        return db_errf(err, errlen, "%s: no prompts", path);
    }
    *out = v;
    *n_out = n;
    return 0;
}

char *db_turn_text(db_model *m, const db_suite_dataset *ds, const db_prompt *pr, int turn,
                   const char *const *answers, bool *no_template) {
    *no_template = false;
    if (!ds->chat) return db_strdup(pr->text);
    const char *roles[130], *contents[130];
    int n = 0;
    for (int t = 0; t <= turn && n < 128; t++) {
        roles[n] = "user";
        contents[n++] = pr->turns[t];
        if (t < turn) {
            roles[n] = "assistant";
            contents[n++] = answers ? answers[t] : "";
        }
    }
    for (int cap = 4096;;) {
        char *buf = malloc((size_t)cap + 1);
        if (!buf) return NULL;
        int len = db_model_chat_format(m, roles, contents, n, true, buf, cap);
        if (len == INT32_MIN) {
            free(buf);
            *no_template = true;
            return NULL;
        }
        if (len >= 0) {
            buf[len] = 0;
            return buf;
        }
        free(buf);
        cap = -len;
    }
}
