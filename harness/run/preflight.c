/* preflight.c — checks of a run's inputs before anything is written
 * (vocabularies, context lengths, constraint compilation); see preflight.h. */
#include "preflight.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/engine.h"
#include "harness/constraint/grammar.h"
#include "harness/constraint/json_gbnf.h"
#include "harness/constraint/jsonschema.h"
#include "harness/util/util.h"

/* llama.cpp's common_speculative_are_compatible compares token texts from
 * this id on (the first ids are special tokens that may be named
 * differently). */
#define VOCAB_CHECK_START 5

typedef struct pf {
    const db_preflight_in *in;
    char *err;
    size_t errlen;
    db_str warn;
} pf;

static const char *mname(const pf *p, int i) {
    return p->in->model_names && p->in->model_names[i] ? p->in->model_names[i] : "?";
}

static int n_prompts_used(const pf *p, const db_suite_dataset *ds) {
    int n = ds->n_prompts;
    if (p->in->limit_prompts > 0 && n > p->in->limit_prompts) n = p->in->limit_prompts;
    return n;
}

/* ---- draft vocabulary ------------------------------------------------- */

static void piece_text(db_model *m, db_token t, char *buf, int cap) {
    int n = db_model_token_piece(m, t, buf, cap - 1);
    if (n < 0) n = 0;
    buf[n] = 0;
    for (int i = 0; i < n; i++)   /* one line: control characters shown as '?' */
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) buf[i] = '?';
}

static int check_vocab(pf *p, const db_case *c, int ti, int di) {
    const db_suite *s = p->in->s;
    db_model *t = p->in->models[ti], *d = p->in->models[di];
    if (!t || !d || t == d) return 0;
    const char *what = "";
    char detail[600] = "";
    int nt = db_model_n_vocab(t), nd = db_model_n_vocab(d);
    if (nt != nd) {
        what = "vocabulary size";
        snprintf(detail, sizeof detail, "%d tokens in the draft, %d in the target", nd, nt);
    } else if (db_model_bos(t) != db_model_bos(d) || db_model_eos(t) != db_model_eos(d)) {
        what = "special tokens";
        snprintf(detail, sizeof detail, "BOS/EOS %d/%d in the draft, %d/%d in the target", db_model_bos(d),
                 db_model_eos(d), db_model_bos(t), db_model_eos(t));
    } else if (db_model_add_bos(t) != db_model_add_bos(d)) {
        what = "BOS handling";
        snprintf(detail, sizeof detail, "the %s adds BOS, the %s does not", db_model_add_bos(d) ? "draft" : "target",
                 db_model_add_bos(d) ? "target" : "draft");
    } else {
        char pt[128], pd[128];
        for (int v = VOCAB_CHECK_START; v < nt; v++) {
            int a = db_model_token_piece(t, v, pt, sizeof pt), b = db_model_token_piece(d, v, pd, sizeof pd);
            if (a == b && (a <= 0 || memcmp(pt, pd, (size_t)a) == 0)) continue;
            piece_text(t, v, pt, 48);
            piece_text(d, v, pd, 48);
            what = "tokens";
            snprintf(detail, sizeof detail, "token %d is '%s' in the draft, '%s' in the target", v, pd, pt);
            break;
        }
    }
    if (!*what) return 0;
    return db_errf(p->err, p->errlen, "%s: case '%s': draft '%s' does not share the vocabulary of target '%s' (%s: %s)",
                   s->path, c->label, mname(p, di), mname(p, ti), what, detail);
}

/* ---- context lengths -------------------------------------------------- */

/* Prompt text of turn `turn` as the runner builds it, with empty earlier
 * answers for chat datasets.  Returns a malloc'd string, or NULL with err
 * set (out of memory, no chat template). */
static char *turn_text(pf *p, db_model *m, int ti, const db_suite_dataset *ds, const db_prompt *pr, int turn,
                       const char *where) {
    bool no_template = false;
    char *t = db_turn_text(m, ds, pr, turn, NULL, &no_template);
    if (!t && no_template)
        db_errf(p->err, p->errlen, "%s: dataset '%s' has \"chat\": true, but model '%s': %s", where, ds->name,
                mname(p, ti), db_model_last_error(m));
    else if (!t) db_errf(p->err, p->errlen, "out of memory");
    return t;
}

static int count_tokens(db_model *m, const char *text) {
    size_t len = strlen(text);
    int cap = (int)len + 8;
    db_token *toks = malloc(sizeof *toks * (size_t)cap);
    if (!toks) return -1;
    int n = db_model_tokenize(m, text, len, true, true, toks, cap);
    if (n < 0) {
        cap = -n;
        db_token *t2 = realloc(toks, sizeof *toks * (size_t)cap);
        if (!t2) {
            free(toks);
            return -1;
        }
        toks = t2;
        n = db_model_tokenize(m, text, len, true, true, toks, cap);
    }
    free(toks);
    return n;
}

/* The tokens a model can take: its KV cache, and the runner's batch size,
 * which is the suite's "n_ctx" (llama.cpp may round the cache up, e.g. to
 * 256, but not the batch).  A derived draft has its target's setting. */
static int usable_ctx(const pf *p, int i, int ti, const db_model_info *info) {
    const db_suite *s = p->in->s;
    int conf = s->models[i < s->n_models ? i : ti].n_ctx;
    return conf > 0 && conf < info->n_ctx ? conf : info->n_ctx;
}

static int check_context(pf *p, const db_case *c, int ti, int di) {
    const db_suite *s = p->in->s;
    const db_suite_dataset *ds = &s->datasets[c->dataset];
    db_model *tm = p->in->models[ti];
    db_model *dm = di >= 0 ? p->in->models[di] : NULL;
    db_model_info tinfo, dinfo;
    db_model_get_info(tm, &tinfo);
    if (dm) db_model_get_info(dm, &dinfo);
    char where[1200];
    snprintf(where, sizeof where, "%s: case '%s'", s->path, c->label);
    const int np = n_prompts_used(p, ds), mx = s->max_new_tokens;
    int over_train = 0, first_n = 0;
    const char *first_id = NULL;
    for (int i = 0; i < np; i++) {
        const db_prompt *pr = &ds->prompts[i];
        const int n_turns = ds->chat ? pr->n_turns : 1;
        for (int t = 0; t < n_turns; t++) {
            char *text = turn_text(p, tm, ti, ds, pr, t, where);
            if (!text) return -1;
            int n = count_tokens(tm, text);
            free(text);
            if (n < 0) return db_errf(p->err, p->errlen, "%s: tokenizing dataset '%s' item '%s' failed", where, ds->name, pr->id);
            char turn_s[32] = "";
            if (n_turns > 1) snprintf(turn_s, sizeof turn_s, " turn %d", t + 1);
            const db_model_info *bad = NULL;
            int bad_i = ti;
            int lim = 0;
            if (n + mx > (lim = usable_ctx(p, ti, ti, &tinfo))) bad = &tinfo;
            else if (dm && n + mx > (lim = usable_ctx(p, di, ti, &dinfo))) { bad = &dinfo; bad_i = di; }
            if (bad)
                return db_errf(p->err, p->errlen,
                               "%s: dataset '%s' item '%s'%s (%s): %d prompt tokens + max_new_tokens %d exceed the "
                               "context of model '%s', %d tokens (set \"n_ctx\" on the model, or lower max_new_tokens)",
                               where, ds->name, pr->id, turn_s, ds->path, n, mx, mname(p, bad_i), lim);
            if (tinfo.n_ctx_train > 0 && n + mx > tinfo.n_ctx_train) {
                if (over_train++ == 0) {
                    first_id = pr->id;
                    first_n = n;
                }
            }
        }
    }
    if (over_train)
        db_str_printf(&p->warn,
                      "decobench run: warning: model '%s' was trained with a context of %d tokens; %d prompt%s of "
                      "dataset '%s' with max_new_tokens %d go beyond it (first: item '%s', %d prompt tokens)\n",
                      mname(p, ti), tinfo.n_ctx_train, over_train, over_train == 1 ? "" : "s", ds->name, mx,
                      first_id, first_n);
    return 0;
}

/* The suite's scorer reads each prompt (as text) and the output in one
 * batch: a prompt alone longer than its context fails for any output.  (A
 * prompt that fits may still fail with a long output: stored as a failed
 * case at run time.) */
static int check_scorer(pf *p, const db_case *c) {
    const db_suite *s = p->in->s;
    const int si = s->scorer;
    if (si < 0 || si >= p->in->n_models || !p->in->models[si]) return 0;
    const db_suite_dataset *ds = &s->datasets[c->dataset];
    if (ds->chat) return 0;   /* scored in the target's chat template, checked with the target */
    db_model_info info;
    db_model_get_info(p->in->models[si], &info);
    const int lim = usable_ctx(p, si, si, &info), np = n_prompts_used(p, ds);
    for (int i = 0; i < np; i++) {
        int n = count_tokens(p->in->models[si], ds->prompts[i].text);
        if (n > lim)
            return db_errf(p->err, p->errlen, "%s: dataset '%s' item '%s' (%s): %d prompt tokens exceed the context of the "
                           "scorer '%s', %d tokens (set \"n_ctx\" on the model)", s->path, ds->name, ds->prompts[i].id,
                           ds->path, n, mname(p, si), lim);
    }
    return 0;
}

/* ---- constraints ------------------------------------------------------ */

/* The checks the runner's compliance check (quality.c) makes of every
 * output, whatever the engine: each constraint key must compile. */
static int check_constraint_keys(pf *p, const db_suite_dataset *ds, const db_prompt *pr, const cJSON *c) {
    const db_suite *s = p->in->s;
    char why[512];
    const cJSON *v;
#define FAIL(key, ...) do { \
        char msg_[600]; snprintf(msg_, sizeof msg_, __VA_ARGS__); \
        return db_errf(p->err, p->errlen, "%s: dataset '%s' item '%s' (%s): $.constraint.%s: %s", s->path, ds->name, \
                       pr->id, ds->path, key, msg_); \
    } while (0)
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "grammar"))) {
        if (!cJSON_IsString(v)) FAIL("grammar", "expected a string (GBNF)");
        if (db_gbnf_check(v->valuestring, "", why, sizeof why) < 0) FAIL("grammar", "%s", why);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "regex"))) {
        if (!cJSON_IsString(v)) FAIL("regex", "expected a string");
        size_t n = strlen(v->valuestring);
        char *anchored = malloc(n + 8);
        if (!anchored) return db_errf(p->err, p->errlen, "out of memory");
        snprintf(anchored, n + 8, "^(?:%s)$", v->valuestring);
        int r = db_regex_search(anchored, "", why, sizeof why);
        free(anchored);
        if (r < 0) FAIL("regex", "/%s/: %s", v->valuestring, why);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "json_schema"))) {
        db_jsonschema *js = NULL;
        if (db_jsonschema_compile_cjson(v, NULL, &js, why, sizeof why) < 0) FAIL("json_schema", "%s", why);
        db_jsonschema_free(js);
        /* the converter also checks each keyword's value ({"type": 12} is an
         * error there, while the validator ignores it); unsupported (1) is
         * declined at run time by the engines that need a grammar */
        char *g = NULL;
        int r = db_json_gbnf(v, &g, why, sizeof why);
        free(g);
        if (r < 0) FAIL("json_schema", "%s", why);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "keywords"))) {
        if (!cJSON_IsArray(v) || !v->child) FAIL("keywords", "expected a non-empty array of strings");
        for (const cJSON *k = v->child; k; k = k->next)
            if (!cJSON_IsString(k) || !k->valuestring[0]) FAIL("keywords", "expected non-empty strings");
    }
    return 0;
}

/* Whether the prompt's constraint cj carries kind (one DB_CONSTRAINT_* bit)
 * in a form the engines take: "grammar" and "regex" as strings. */
static bool has_kind(const cJSON *cj, unsigned kind) {
    const cJSON *v = cj ? cJSON_GetObjectItemCaseSensitive(cj, db_constraint_kind_key(kind)) : NULL;
    if (kind == DB_CONSTRAINT_GRAMMAR || kind == DB_CONSTRAINT_REGEX) return cJSON_IsString(v);
    return v != NULL;
}

/* What an engine itself needs of a prompt's constraint, as its descriptor
 * says (engines/engine.h): one of its kinds when it requires one, and its
 * own check of the constraint. */
static int check_engine_constraint(pf *p, const db_case *c, int ti, const db_prompt *pr, const cJSON *cj) {
    const db_suite *s = p->in->s;
    const db_suite_dataset *ds = &s->datasets[c->dataset];
    const db_engine *e = c->se->def;
    char where[1200];
    snprintf(where, sizeof where, "%s: case '%s' (engine %s): dataset '%s' item '%s' (%s)", s->path, c->label, e->name,
             ds->name, pr->id, ds->path);
    if (e->constraint_required) {
        bool any = false;
        int n_kinds = 0;
        for (int k = 0; k < DB_CONSTRAINT_N_KINDS; k++) {
            if (!(e->constraints & (1u << k))) continue;
            n_kinds++;
            any = any || has_kind(cj, 1u << k);
        }
        if (!any) {
            char kinds[96];
            db_constraint_kinds_text(e->constraints, "\" or \"", kinds, sizeof kinds);
            if (n_kinds == 1)
                return db_errf(p->err, p->errlen, "%s: the %s engine needs a \"%s\" constraint", where, e->name, kinds);
            return db_errf(p->err, p->errlen, "%s: the engine needs a \"%s\" constraint", where, kinds);
        }
    }
    if (e->check_constraint && cj) {
        char *txt = cJSON_PrintUnformatted(cj);
        char *why = malloc(p->errlen ? p->errlen : 1);
        int r = txt && why ? e->check_constraint(txt, p->in->models[ti], why, p->errlen) : 0;
        if (r != 0) db_errf(p->err, p->errlen, "%s: %s", where, why);
        else if (!txt || !why) r = db_errf(p->err, p->errlen, "out of memory");
        free(txt);
        free(why);
        if (r != 0) return -1;
    }
    return 0;
}

static bool same_engine_kind(const db_case *a, const db_case *b) {
    return a->dataset == b->dataset && a->target_model == b->target_model &&
           strcmp(a->se->def->name, b->se->def->name) == 0;
}

static int check_constraints(pf *p, const db_case *c, int ci, bool keys_too) {
    const db_suite *s = p->in->s;
    const db_suite_dataset *ds = &s->datasets[c->dataset];
    /* the engine-specific checks once per (engine, target, dataset) */
    bool engine_too = true;
    for (int j = 0; j < ci && engine_too; j++) engine_too = !same_engine_kind(&p->in->cases[j], c);
    if (!keys_too && !engine_too) return 0;
    const int np = n_prompts_used(p, ds);
    for (int i = 0; i < np; i++) {
        const db_prompt *pr = &ds->prompts[i];
        cJSON *cj = pr->constraint_json ? cJSON_Parse(pr->constraint_json) : NULL;
        if (pr->constraint_json && !cJSON_IsObject(cj)) {
            cJSON_Delete(cj);
            return db_errf(p->err, p->errlen, "%s: dataset '%s' item '%s' (%s): $.constraint: expected a JSON object",
                           s->path, ds->name, pr->id, ds->path);
        }
        int rc = 0;
        if (keys_too && cj) rc = check_constraint_keys(p, ds, pr, cj);
        if (rc == 0 && engine_too) rc = check_engine_constraint(p, c, c->target_model, pr, cj);
        cJSON_Delete(cj);
        if (rc != 0) return -1;
    }
    return 0;
}

/* ---- all ---------------------------------------------------------------- */

int db_preflight(const db_preflight_in *in, char **warnings, char *err, size_t errlen) {
    pf p = { .in = in, .err = err, .errlen = errlen };
    db_str_init(&p.warn);
    *warnings = NULL;
    int rc = 0;
    bool *ds_done = calloc((size_t)in->s->n_datasets + 1, sizeof *ds_done);
    if (!ds_done) return db_errf(err, errlen, "out of memory");
    for (int ci = 0; ci < in->n_cases && rc == 0; ci++) {
        const db_case *c = &in->cases[ci];
        const int ti = c->target_model, di = in->case_draft ? in->case_draft[ci] : -1;
        if (c->se->def->serving) {   /* the server has its own context: the constraints only */
            rc = check_constraints(&p, c, ci, !ds_done[c->dataset]);
            ds_done[c->dataset] = true;
            continue;
        }
        if (ti < 0 || ti >= in->n_models || !in->models[ti] || di >= in->n_models) continue;
        if (di >= 0 && !in->models[di]) continue;
        /* pairs and (target, draft, dataset) triples seen in an earlier case are not checked again */
        bool pair_new = di >= 0, triple_new = true;
        for (int j = 0; j < ci; j++) {
            const db_case *o = &in->cases[j];
            int dj = in->case_draft ? in->case_draft[j] : -1;
            if (o->target_model == ti && dj == di) {
                pair_new = false;
                if (o->dataset == c->dataset) triple_new = false;
            }
        }
        if (pair_new) rc = check_vocab(&p, c, ti, di);
        if (rc == 0 && triple_new) rc = check_context(&p, c, ti, di);
        if (rc == 0) {
            if (!ds_done[c->dataset]) rc = check_scorer(&p, c);
            if (rc == 0) rc = check_constraints(&p, c, ci, !ds_done[c->dataset]);
            ds_done[c->dataset] = true;
        }
    }
    free(ds_done);
    if (rc == 0 && p.warn.s && p.warn.s[0]) {
        *warnings = p.warn.s;
        return 0;
    }
    db_str_free(&p.warn);
    return rc;
}
