/* json_gbnf.c — JSON Schema → GBNF (llama.cpp grammar syntax); see json_gbnf.h.
 *
 * Every subschema conjunction (a list of schema nodes that must all hold,
 * plus the anyOf/oneOf groups already split) becomes one named rule, so $ref
 * recursion turns into recursive rules.  This file: the grammar for one
 * merged shape (enum/const values checked against a validator for the
 * conjunction, numbers and integer ranges, strings, arrays, objects), the
 * anyOf/oneOf split, the conjunction walk and the entry points.  Below it,
 * none calling back: json_gbnf_shape.c (a conjunction merged into a shape),
 * json_gbnf_regex.c (pattern and format grammars), json_gbnf_state.c (rules,
 * names, paths, local $ref resolution), json_gbnf_text.c (code-point sets,
 * GBNF escaping); shared declarations in json_gbnf_int.h.
 */
#include "json_gbnf_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/jsonlimits.h"
#include "jsonschema.h"

#define ROOT_URN "urn:decobench:json-gbnf-root"

static char *visit(gb *g, const cJSON *const *nodes, int n, const cJSON *const *res, int nres, const char *hint);


/* ------------------------------------------------------------------ */
/* Emission.                                                            */

static char *root_resolver(void *user, const char *uri, char *err, size_t errlen) {
    gb *g = user;
    if (strcmp(uri, ROOT_URN) == 0) return db_strdup(g->root_text);
    db_errf(err, errlen, "not the schema document");
    return NULL;
}

/* A validator for the conjunction of nodes (they are checked against the whole
 * document through a resolver, so local $refs keep working). */
static db_jsonschema *conj_validator(gb *g, const cJSON *const *nodes, int n) {
    if (!g->root_text && !(g->root_text = cJSON_PrintUnformatted(g->root))) { OOM(g); return NULL; }
    db_str w;
    db_str_init(&w);
    int rc = db_str_append(&w, "{");
    const cJSON *sch = cJSON_GetObjectItemCaseSensitive(g->root, "$schema");
    if (cJSON_IsString(sch)) { rc |= db_str_append(&w, "\"$schema\":"); rc |= db_jg_json_str(&w, sch->valuestring); rc |= db_str_append(&w, ","); }
    rc |= db_str_append(&w, "\"allOf\":[");
    for (int i = 0; i < n; i++) {
        db_str u;
        db_str_init(&u);
        rc |= db_str_append(&u, ROOT_URN "#");
        for (const unsigned char *p = (const unsigned char *)db_jg_path_of(g, nodes[i]); *p; p++) {
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("/-._~", *p))
                rc |= db_str_appendn(&u, (const char *)p, 1);
            else rc |= db_str_printf(&u, "%%%02X", *p);
        }
        rc |= db_str_printf(&w, "%s{\"$ref\":", i ? "," : "");
        rc |= db_jg_json_str(&w, u.s ? u.s : "");
        rc |= db_str_append(&w, "}");
        db_str_free(&u);
    }
    rc |= db_str_append(&w, "]}");
    if (rc) { db_str_free(&w); OOM(g); return NULL; }
    cJSON *wj = cJSON_Parse(w.s);
    db_str_free(&w);
    if (!wj) { OOM(g); return NULL; }
    db_jsonschema_opts o;
    memset(&o, 0, sizeof o);
    o.format_assert = 1;
    o.resolver = root_resolver;
    o.resolver_user = g;
    db_jsonschema *v = NULL;
    char err[256];
    if (db_jsonschema_compile_opts(wj, &o, &v, err, sizeof err) < 0) v = NULL;
    cJSON_Delete(wj);
    return v;
}

static unsigned value_type(const cJSON *v) {
    if (cJSON_IsNull(v)) return T_NULL;
    if (cJSON_IsBool(v)) return T_BOOL;
    if (cJSON_IsObject(v)) return T_OBJ;
    if (cJSON_IsArray(v)) return T_ARR;
    if (cJSON_IsString(v)) return T_STR;
    if (cJSON_IsNumber(v)) return v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 1e300 ? T_INT : T_NUM;
    return 0;
}

/* cJSON's spelling of a number */
/* the canonical spelling of a number: integral values below 1e16 as digits, others
 * the shortest %.15g/%.16g/%.17g that reads back exactly */
static void num_text(char *buf, size_t len, double d) {
    if (d == floor(d) && fabs(d) < 1e16) { snprintf(buf, len, "%.0f", d); if (!strcmp(buf, "-0")) snprintf(buf, len, "0"); return; }
    for (int p = 15; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, d);
        if (strtod(buf, NULL) == d) return;
    }
}

/* a JSON value as a GBNF sequence (value followed by space) */
static int lit_value(gb *g, db_str *o, const cJSON *v) {
    int rc = 0;
    g->need |= B_SPACE;
    if (cJSON_IsNull(v)) return db_str_append(o, "\"null\" space");
    if (cJSON_IsTrue(v)) return db_str_append(o, "\"true\" space");
    if (cJSON_IsFalse(v)) return db_str_append(o, "\"false\" space");
    if (cJSON_IsNumber(v)) {   /* the canonical spelling, and cJSON's when it differs and is exact */
        char b[64], b2[64];
        char *cj = cJSON_PrintUnformatted(v);
        num_text(b, sizeof b, v->valuedouble);
        snprintf(b2, sizeof b2, "%s", cj ? cj : b);
        if (cj) cJSON_free(cj);
        if (strcmp(b, b2) == 0 || strtod(b2, NULL) != v->valuedouble) return db_str_printf(o, "\"%s\" space", b);
        return db_str_printf(o, "(\"%s\" | \"%s\") space", b2, b);
    }
    if (cJSON_IsString(v)) {
        db_str t;
        db_str_init(&t);
        rc = db_jg_json_str(&t, v->valuestring);
        if (!rc) rc = db_jg_gb_lit(o, t.s, t.len);
        db_str_free(&t);
        return rc | db_str_append(o, " space");
    }
    int obj = cJSON_IsObject(v);
    rc |= db_str_append(o, obj ? "\"{\" space" : "\"[\" space");
    const cJSON *c;
    int i = 0;
    cJSON_ArrayForEach(c, v) {
        rc |= db_str_append(o, i++ ? " \",\" space " : " ");
        if (obj) {
            db_str t;
            db_str_init(&t);
            rc |= db_jg_json_str(&t, c->string);
            if (!rc) rc |= db_jg_gb_lit(o, t.s, t.len);
            db_str_free(&t);
            rc |= db_str_append(o, " space \":\" space ");
        }
        rc |= lit_value(g, o, c);
    }
    return rc | db_str_append(o, obj ? " \"}\" space" : " \"]\" space");
}

static int in_values(const cJSON *arr, const cJSON *v) {
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) if (cJSON_Compare(e, v, 1)) return 1;
    return 0;
}

/* the candidate values of s's enum/const lists (their intersection), as an array of borrowed pointers */
static int enum_candidates(const shape *s, ptrs *out) {
    const cJSON *first = s->consts.n ? s->consts.v[0] : NULL;
    const cJSON *firstarr = first ? NULL : s->enums.v[0];
    const cJSON *e;
    if (first) { if (db_jg_ptrs_add(out, first) < 0) return -1; }
    else cJSON_ArrayForEach(e, firstarr) if (db_jg_ptrs_add(out, e) < 0) return -1;
    int k = 0;
    for (int i = 0; i < out->n; i++) {
        const cJSON *v = out->v[i];
        int ok = 1;
        for (int j = 0; j < s->consts.n && ok; j++) ok = cJSON_Compare(s->consts.v[j], v, 1);
        for (int j = 0; j < s->enums.n && ok; j++) ok = in_values(s->enums.v[j], v);
        for (int j = 0; j < i && ok; j++) if (cJSON_Compare(out->v[j], v, 1)) ok = 0;   /* duplicates */
        if (ok) out->v[k++] = v;
    }
    out->n = k;
    return 0;
}

static int emit_enum(gb *g, shape *s, const cJSON *const *nodes, int n, db_str *o) {
    ptrs cand = { 0 };
    if (enum_candidates(s, &cand) < 0) return OOM(g);
    db_jsonschema *v = NULL;
    if (s->nother > 0) {
        v = conj_validator(g, nodes, n);
        if (!v) {
            free(cand.v);
            if (g->status) return -1;
            return db_jg_gfail(g, 1, "enum/const at %s with sibling keywords the validator cannot check", db_jg_pshow(g, nodes[0]));
        }
    }
    int alts = 0, rc = 0;
    for (int i = 0; i < cand.n && rc == 0; i++) {
        unsigned t = value_type(cand.v[i]);
        if (!(s->types & t) && !(t == T_INT && (s->types & T_NUM))) continue;
        if (v) {
            int ok = db_jsonschema_validate(v, cand.v[i], NULL, 0);
            if (ok < 0) { rc = db_jg_gfail(g, 1, "enum/const at %s: the validator cannot check a value", db_jg_pshow(g, nodes[0])); break; }
            if (!ok) continue;
        }
        if (alts++ && db_str_append(o, " | ")) rc = OOM(g);
        if (rc == 0 && lit_value(g, o, cand.v[i])) rc = OOM(g);
    }
    db_jsonschema_free(v);
    free(cand.v);
    return rc < 0 ? -1 : alts;
}

static int emit_number(gb *g, shape *s, const cJSON *at, db_str *o) {
    unsigned t = s->types & (T_INT | T_NUM);
    if (s->mult_int) t &= T_INT;
    if (!t) return 0;
    if (s->unsup[G_NUM]) return db_jg_gfail(g, 1, "%s", s->unsup[G_NUM]);
    g->need |= B_SPACE;
    if (t & T_NUM) {
        const char *EXP = "([eE] [-+]? [0-9]+)?";
        if (!s->has_lo && !s->has_hi)
            return db_str_printf(o, "\"-\"? (\"0\" | [1-9] [0-9]*) (\".\" [0-9]+)? %s space", EXP) ? OOM(g) : 1;
        char zero[128], pos[160];
        snprintf(zero, sizeof zero, "\"0\" (\".\" \"0\"+)? %s", EXP);
        snprintf(pos, sizeof pos, "([1-9] [0-9]* (\".\" [0-9]+)? | \"0.\" \"0\"* [1-9] [0-9]*) %s", EXP);
        if (s->has_lo && !s->has_hi && s->lo == 0)
            return (s->lo_excl ? db_str_printf(o, "(%s) space", pos)
                               : db_str_printf(o, "(%s | %s | \"-\" %s) space", pos, zero, zero)) ? OOM(g) : 1;
        if (s->has_hi && !s->has_lo && s->hi == 0)
            return (s->hi_excl ? db_str_printf(o, "\"-\" (%s) space", pos)
                               : db_str_printf(o, "(\"-\" %s | %s | \"-\" %s) space", pos, zero, zero)) ? OOM(g) : 1;
        return db_jg_gfail(g, 1, "minimum/maximum on a non-integer number at %s (only integer ranges and sign bounds are exact)", db_jg_pshow(g, at));
    }
    int64_t lo = 0, hi = 0;
    if (s->has_lo) {
        double v = s->lo_excl ? floor(s->lo) + 1 : ceil(s->lo);
        if (fabs(v) > MAX_EXACT_INT) return db_jg_gfail(g, 1, "integer bound %g at %s beyond 2^53", s->lo, db_jg_pshow(g, at));
        lo = (int64_t)v;
    }
    if (s->has_hi) {
        double v = s->hi_excl ? ceil(s->hi) - 1 : floor(s->hi);
        if (fabs(v) > MAX_EXACT_INT) return db_jg_gfail(g, 1, "integer bound %g at %s beyond 2^53", s->hi, db_jg_pshow(g, at));
        hi = (int64_t)v;
    }
    if (s->has_lo && s->has_hi && lo > hi) return 0;
    if (db_jg_int_range(o, s->has_lo, lo, s->has_hi, hi) || db_str_append(o, " space")) return OOM(g);
    return 1;
}

/* The grammar of a pattern or format, made once per (source, length
 * bounds) as a named rule and referred to by name after: a schema with the
 * same "date-time" in ten places gets one date-time grammar (about 1,400
 * rules), not ten.  Returns like db_jg_emit_regex. */
static int emit_regex_rule(gb *g, const char *src, int full, long minlen, long maxlen, const cJSON *at, const char *what,
                           db_str *o) {
    db_str key;
    db_str_init(&key);
    if (db_str_printf(&key, "%c|%ld|%ld|%s", full ? 'F' : 'P', minlen, maxlen, src)) return OOM(g);
    int idx = db_jg_smap_get(&g->regex_rules, key.s);
    if (idx < 0) {
        db_str body;
        db_str_init(&body);
        int rc = db_jg_emit_regex(g, src, full, minlen, maxlen, at, what, &body);
        if (rc != 1) {
            db_str_free(&body);
            db_str_free(&key);
            return rc;
        }
        idx = db_jg_add_rule(g, full ? "format" : "pattern", body.s ? db_str_take(&body) : db_strdup(""));
        if (idx < 0 || db_jg_smap_put(&g->regex_rules, key.s, idx) < 0) {
            db_str_free(&key);
            return idx < 0 ? -1 : OOM(g);
        }
    }
    db_str_free(&key);
    return db_str_append(o, db_jg_rule_name(g, idx)) ? OOM(g) : 1;
}

static int emit_string(gb *g, shape *s, const cJSON *at, db_str *o) {
    if (!(s->types & T_STR)) return 0;
    if (s->unsup[G_STR]) return db_jg_gfail(g, 1, "%s", s->unsup[G_STR]);
    if (s->maxlen >= 0 && s->minlen > s->maxlen) return 0;
    g->need |= B_SPACE | B_CHAR;
    db_str body;
    db_str_init(&body);
    int rc;
    if (s->pattern && s->format) return db_jg_gfail(g, 1, "pattern together with format at %s", db_jg_pshow(g, s->pattern_at));
    if (s->pattern) rc = emit_regex_rule(g, s->pattern, 0, s->minlen, s->maxlen, s->pattern_at, "pattern", &body);
    else if (s->format) {
        char *src = db_jg_format_regex(s->format);
        if (!src) return OOM(g);
        char what[96];
        snprintf(what, sizeof what, "format '%s'", s->format);
        rc = emit_regex_rule(g, src, 1, s->minlen, s->maxlen, s->format_at, what, &body);
        free(src);
    } else {
        if (s->minlen > DB_JSON_GBNF_MAX_REPEAT || s->maxlen > DB_JSON_GBNF_MAX_REPEAT) {
            db_str_free(&body);
            return db_jg_gfail(g, 1, "keyword '%s' (%ld) at %s above the expansion cap %d", s->maxlen > DB_JSON_GBNF_MAX_REPEAT ? "maxLength" : "minLength",
                         s->maxlen > DB_JSON_GBNF_MAX_REPEAT ? s->maxlen : s->minlen, db_jg_pshow(g, at), DB_JSON_GBNF_MAX_REPEAT);
        }
        rc = db_jg_gb_rep(&body, "char", s->minlen, s->maxlen) ? OOM(g) : 1;
    }
    if (rc == 1 && db_str_printf(o, "\"\\\"\" %s \"\\\"\" space", body.s)) rc = OOM(g);
    db_str_free(&body);
    return rc;
}

/* visit a conjunction of the given nodes (NULL entries skipped) one container deeper */
static char *visit_member(gb *g, const ptrs *conj, const char *hint) {
    if (conj->n == 0) { g->need |= B_VALUE; return db_strdup("json-value"); }
    g->depth++;
    char *r = visit(g, conj->v, conj->n, NULL, 0, hint);
    g->depth--;
    return r;
}

static int emit_array(gb *g, shape *s, const cJSON *at, const char *hint, db_str *o) {
    if (!(s->types & T_ARR)) return 0;
    if (s->unsup[G_ARR]) return db_jg_gfail(g, 1, "%s", s->unsup[G_ARR]);
    int P = 0;
    for (int c = 0; c < s->arr_prefix.n; c++)
        if (s->arr_prefix.v[c] && cJSON_GetArraySize(s->arr_prefix.v[c]) > P) P = cJSON_GetArraySize(s->arr_prefix.v[c]);
    long minit = s->minit, maxit = s->maxit;
    if (maxit >= 0 && P > maxit) P = (int)maxit;
    char **names = calloc((size_t)P + 1, sizeof *names);
    char *rest = NULL;
    int rc = -1, have_rest_schema = 0;
    ptrs conj = { 0 };
    if (!names) return OOM(g);
    char h[96];
    for (int j = 0; j < P; j++) {
        conj.n = 0;
        for (int c = 0; c < s->arr_prefix.n; c++) {
            const cJSON *pre = s->arr_prefix.v[c];
            const cJSON *x = pre && j < cJSON_GetArraySize(pre) ? cJSON_GetArrayItem(pre, j) : s->arr_rest.v[c];
            if (x && db_jg_ptrs_add(&conj, x) < 0) { OOM(g); goto out; }
        }
        snprintf(h, sizeof h, "%s-%d", hint, j);
        names[j] = visit_member(g, &conj, h);
        if (g->status) goto out;
        if (!names[j]) { if (maxit < 0 || maxit > j) maxit = j; break; }
    }
    if (maxit >= 0 && P > maxit) P = (int)maxit;
    conj.n = 0;
    for (int c = 0; c < s->arr_rest.n; c++) if (s->arr_rest.v[c]) { have_rest_schema = 1; if (db_jg_ptrs_add(&conj, s->arr_rest.v[c]) < 0) { OOM(g); goto out; } }
    if (maxit < 0 || maxit > P) {
        snprintf(h, sizeof h, "%s-item", hint);
        rest = visit_member(g, &conj, h);
        if (g->status) goto out;
        if (!rest) maxit = P;
    }
    (void)have_rest_schema;
    if (s->unique_at && (maxit < 0 || maxit > 1)) { db_jg_gfail(g, 1, "keyword 'uniqueItems' at %s", db_jg_pshow(g, s->unique_at)); goto out; }
    if (maxit >= 0 && minit > maxit) { rc = 0; goto out; }
    if (minit > DB_JSON_GBNF_MAX_REPEAT || maxit > DB_JSON_GBNF_MAX_REPEAT) {
        db_jg_gfail(g, 1, "keyword '%s' (%ld) at %s above the expansion cap %d", maxit > DB_JSON_GBNF_MAX_REPEAT ? "maxItems" : "minItems",
              maxit > DB_JSON_GBNF_MAX_REPEAT ? maxit : minit, db_jg_pshow(g, at), DB_JSON_GBNF_MAX_REPEAT);
        goto out;
    }
    g->need |= B_SPACE;
    /* items: first, then tail(k) for k >= 1, nested optionals from minItems on */
    db_str t;
    db_str_init(&t);
    int r = 0;
    if (maxit != 0) {
        r |= db_str_append(&t, minit == 0 ? "(" : "");
        r |= db_str_append(&t, P > 0 ? names[0] : rest);
        int open = 0;
        for (int k = 1; k < P && (maxit < 0 || k < maxit); k++) {
            r |= db_str_append(&t, k >= minit ? " (\",\" space " : " \",\" space ");
            r |= db_str_append(&t, names[k]);
            if (k >= minit) open++;
        }
        int k = P > 0 ? P : 1;
        if (maxit < 0 || k < maxit) {
            char atom[160];
            snprintf(atom, sizeof atom, "\",\" space %s", rest);
            long lo = minit > k ? minit - k : 0, hi = maxit < 0 ? -1 : maxit - k;
            r |= db_str_append(&t, " ");
            r |= db_jg_gb_rep(&t, atom, lo, hi);
        }
        for (int i = 0; i < open; i++) r |= db_str_append(&t, ")?");
        r |= db_str_append(&t, minit == 0 ? ")?" : "");
    }
    r |= db_str_printf(o, "\"[\" space %s \"]\" space", t.s ? t.s : "");
    db_str_free(&t);
    rc = r ? OOM(g) : 1;
out:
    for (int j = 0; j < P + 1 && names; j++) free(names[j]);
    free(names);
    free(rest);
    free(conj.v);
    return rc;
}

typedef struct pname { const char *name; int req; char *rule; } pname;

/* JSON key strings not equal to any of names[idx[..]] (which share their first d code points) */
static int key_exclusion(db_str *o, uint32_t **cps, const int *lens, const int *idx, int n, int d) {
    int rc = 0, alts = 0, terminal = 0;
    cset kids = { 0 };
    for (int i = 0; i < n; i++) {
        if (lens[idx[i]] == d) terminal = 1;
        else db_jg_cs_add(&kids, cps[idx[i]][d], cps[idx[i]][d]);
    }
    db_jg_cs_norm(&kids);
    rc |= db_str_append(o, "(");
    if (!terminal) { alts++; }   /* the key may end here: empty alternative */
    cset other = { 0 };
    rc |= db_jg_cs_complement(&kids, &other);
    if (other.n) {
        rc |= db_str_append(o, alts++ ? " | " : "");
        rc |= db_jg_cs_emit_json(o, &other);
        rc |= db_str_append(o, " char*");
    }
    db_jg_cs_free(&other);
    int *sub = malloc((size_t)n * sizeof *sub);
    if (!sub) { db_jg_cs_free(&kids); return -1; }
    for (int r = 0; r < kids.n && rc == 0; r++)
        for (uint32_t c = kids.r[r][0]; c <= kids.r[r][1] && rc == 0; c++) {
            int m = 0;
            for (int i = 0; i < n; i++) if (lens[idx[i]] > d && cps[idx[i]][d] == c) sub[m++] = idx[i];
            cset one = { 0 };
            db_jg_cs_add(&one, c, c);
            rc |= db_str_append(o, alts++ || !terminal ? " | " : "");
            rc |= db_jg_cs_emit_json(o, &one);
            db_jg_cs_free(&one);
            rc |= db_str_append(o, " ");
            rc |= key_exclusion(o, cps, lens, sub, m, d + 1);
        }
    free(sub);
    db_jg_cs_free(&kids);
    return rc | db_str_append(o, ")");
}

static int emit_object(gb *g, shape *s, const cJSON *at, const char *hint, db_str *o) {
    if (!(s->types & T_OBJ)) return 0;
    if (s->unsup[G_OBJ]) return db_jg_gfail(g, 1, "%s", s->unsup[G_OBJ]);
    pname *el = NULL;
    int nel = 0, rc = -1;
    ptrs conj = { 0 };
    char *add = NULL;
    /* element names: the union of "properties" in order, then required-only names */
    for (int c = 0; c <= s->obj_props.n; c++) {
        const cJSON *list = c < s->obj_props.n ? s->obj_props.v[c] : NULL;
        const cJSON *e;
        if (c == s->obj_props.n) {
            for (int i = 0; i < s->req.n; i++) {
                const char *nm = s->req.v[i]->valuestring;
                int dup = 0;
                for (int j = 0; j < nel && !dup; j++) dup = strcmp(el[j].name, nm) == 0;
                if (dup) continue;
                pname *nv = realloc(el, (size_t)(nel + 1) * sizeof *nv);
                if (!nv) { OOM(g); goto out; }
                el = nv; el[nel].name = nm; el[nel].req = 0; el[nel].rule = NULL; nel++;
            }
            break;
        }
        if (!list) continue;
        cJSON_ArrayForEach(e, list) {
            int dup = 0;
            for (int j = 0; j < nel && !dup; j++) dup = strcmp(el[j].name, e->string) == 0;
            if (dup) continue;
            pname *nv = realloc(el, (size_t)(nel + 1) * sizeof *nv);
            if (!nv) { OOM(g); goto out; }
            el = nv; el[nel].name = e->string; el[nel].req = 0; el[nel].rule = NULL; nel++;
        }
    }
    int nreq = 0;
    for (int j = 0; j < nel; j++) {
        for (int i = 0; i < s->req.n; i++) if (strcmp(s->req.v[i]->valuestring, el[j].name) == 0) el[j].req = 1;
        nreq += el[j].req;
        conj.n = 0;
        for (int c = 0; c < s->obj_props.n; c++) {
            const cJSON *x = s->obj_props.v[c] ? cJSON_GetObjectItemCaseSensitive(s->obj_props.v[c], el[j].name) : NULL;
            if (!x) x = s->obj_ap.v[c];
            if (x && db_jg_ptrs_add(&conj, x) < 0) { OOM(g); goto out; }
        }
        char h[96];
        snprintf(h, sizeof h, "%s-%s", hint, el[j].name);
        el[j].rule = visit_member(g, &conj, h);
        if (g->status) goto out;
        if (!el[j].rule && el[j].req) { rc = 0; goto out; }
    }
    /* additional members */
    conj.n = 0;
    for (int c = 0; c < s->obj_ap.n; c++) if (s->obj_ap.v[c] && db_jg_ptrs_add(&conj, s->obj_ap.v[c]) < 0) { OOM(g); goto out; }
    {
        char h[96];
        snprintf(h, sizeof h, "%s-additional", hint);
        add = visit_member(g, &conj, h);
        if (g->status) goto out;
    }
    int nkept = 0;
    for (int j = 0; j < nel; j++) nkept += el[j].rule != NULL;
    if (s->minprop_at && s->minprop > nreq) { db_jg_gfail(g, 1, "keyword 'minProperties' at %s", db_jg_pshow(g, s->minprop_at)); goto out; }
    if (s->maxprop_at && (add || nkept > s->maxprop)) { db_jg_gfail(g, 1, "keyword 'maxProperties' at %s", db_jg_pshow(g, s->maxprop_at)); goto out; }
    g->need |= B_SPACE;
    db_str x;   /* the additional member "key": value, or empty */
    db_str_init(&x);
    int r = 0;
    if (add) {
        g->need |= B_CHAR;
        if (nel == 0) r |= db_str_printf(&x, "\"\\\"\" char* \"\\\"\" space \":\" space %s", add);
        else {
            uint32_t **cps = calloc((size_t)nel, sizeof *cps);
            int *lens = calloc((size_t)nel, sizeof *lens), *idx = calloc((size_t)nel, sizeof *idx);
            int bad = !cps || !lens || !idx;
            for (int j = 0; j < nel && !bad; j++) {
                size_t L = strlen(el[j].name);
                cps[j] = malloc((L + 1) * sizeof **cps);
                if (!cps[j]) { bad = 1; break; }
                const unsigned char *p = (const unsigned char *)el[j].name, *e = p + L;
                while (p < e) {
                    uint32_t c = db_jg_utf8_next(&p);
                    if (c < 0x20) bad = 2;
                    cps[j][lens[j]++] = c;
                }
                idx[j] = j;
            }
            if (!bad) {
                r |= db_str_append(&x, "\"\\\"\" ");
                r |= key_exclusion(&x, cps, lens, idx, nel, 0);
                r |= db_str_printf(&x, " \"\\\"\" space \":\" space %s", add);
            }
            for (int j = 0; j < nel && cps; j++) free(cps[j]);
            free(cps); free(lens); free(idx);
            if (bad == 2) { db_str_free(&x); db_jg_gfail(g, 1, "a property name with a control character at %s together with additional properties", db_jg_pshow(g, at)); goto out; }
            if (bad) { db_str_free(&x); OOM(g); goto out; }
        }
    }
    if (x.s) {   /* as a rule: it is repeated, and llama.cpp limits quantified groups by the rules inside */
        char h[96];
        snprintf(h, sizeof h, "%s-additional-kv", hint);
        int idx = db_jg_add_rule(g, h, db_str_take(&x));
        if (idx < 0) goto out;
        db_str_init(&x);
        r |= db_str_append(&x, db_jg_rule_name(g, idx));
    }
    /* kv strings of the kept elements */
    char **kv = calloc((size_t)nel + 1, sizeof *kv);
    int *kreq = calloc((size_t)nel + 1, sizeof *kreq);
    int n = 0;
    if (!kv || !kreq) r = -1;
    for (int j = 0; j < nel && r == 0; j++) {
        if (!el[j].rule) continue;
        db_str k;
        db_str_init(&k);
        db_str t;
        db_str_init(&t);
        r |= db_jg_json_str(&t, el[j].name);
        if (!r) r |= db_jg_gb_lit(&k, t.s, t.len);
        r |= db_str_printf(&k, " space \":\" space %s", el[j].rule);
        db_str_free(&t);
        kv[n] = db_str_take(&k);
        kreq[n] = el[j].req;
        if (!kv[n]) r = -1;
        n++;
    }
    /* tail(i): members from i on after something was written: a chain of rules */
    int first_req = n;
    for (int j = 0; j < n; j++) if (kreq[j]) { first_req = j; break; }
    db_str body;
    db_str_init(&body);
    char **tail = calloc((size_t)n + 2, sizeof *tail);
    if (!tail) r = -1;
    if (r == 0) {
        /* tail[n]: additional members */
        if (x.s) {
            db_str t;
            db_str_init(&t);
            r |= db_str_printf(&t, "(\",\" space %s)*", x.s);
            tail[n] = db_str_take(&t);
        } else tail[n] = db_strdup("");
        if (!tail[n]) r = -1;
        for (int j = n - 1; j >= 1 && r == 0; j--) {
            db_str t;
            db_str_init(&t);
            r |= db_str_printf(&t, kreq[j] ? "\",\" space %s %s" : "(\",\" space %s)? %s", kv[j], tail[j + 1]);
            if (j <= first_req + 1 && j < n - 1 && first_req >= 1 && r == 0) {   /* shared by several alternatives: a rule */
                char h[96];
                snprintf(h, sizeof h, "%s-rest-%d", hint, j);
                int idx = db_jg_add_rule(g, h, db_str_take(&t));
                if (idx < 0) { r = -1; break; }
                tail[j] = db_strdup(g->rules[idx].name);
            } else tail[j] = db_str_take(&t);
            if (!tail[j]) r = -1;
        }
        /* alternatives for the first member written */
        int alts = 0;
        for (int k = 0; k < n && k <= first_req && r == 0; k++) {
            r |= db_str_printf(&body, "%s%s %s", alts++ ? " | " : "", kv[k], k + 1 <= n ? tail[k + 1] : "");
        }
        if (first_req == n && r == 0) {   /* no required member: additional ones first, or nothing */
            if (x.s) r |= db_str_printf(&body, "%s%s %s", alts++ ? " | " : "", x.s, tail[n]);
            r |= db_str_append(&body, alts++ ? " | " : "");
        }
        if (r == 0) r |= db_str_printf(o, "\"{\" space (%s) \"}\" space", body.s ? body.s : "");
    }
    for (int j = 0; tail && j <= n; j++) free(tail[j]);
    free(tail);
    db_str_free(&body);
    for (int j = 0; kv && j < n; j++) free(kv[j]);
    free(kv); free(kreq);
    db_str_free(&x);
    rc = r ? (g->status ? -1 : OOM(g)) : 1;
out:
    for (int j = 0; j < nel; j++) free(el[j].rule);
    free(el);
    free(conj.v);
    free(add);
    return rc;
}

/* ------------------------------------------------------------------ */
/* anyOf / oneOf, the conjunction walk, the entry point.                */

/* required in a but impossible in b, or required in both with provably disjoint values */
static int sh_disjoint(gb *g, shape *a, shape *b, int depth);

static int prop_shape(gb *g, shape *s, const char *name, shape *out) {
    db_jg_sh_init(out);
    for (int c = 0; c < s->obj_props.n; c++) {
        const cJSON *x = s->obj_props.v[c] ? cJSON_GetObjectItemCaseSensitive(s->obj_props.v[c], name) : NULL;
        if (!x) x = s->obj_ap.v[c];
        if (x && db_jg_absorb(g, out, x, NULL, 0) < 0) return -1;
    }
    return 0;
}

static int sh_has_req(shape *s, const char *name) {
    for (int i = 0; i < s->req.n; i++) if (strcmp(s->req.v[i]->valuestring, name) == 0) return 1;
    return 0;
}

static int sh_disjoint(gb *g, shape *a, shape *b, int depth) {
    if (a->never || b->never || !a->types || !b->types) return 1;
    if (a->enums.n + a->consts.n || b->enums.n + b->consts.n) {
        ptrs ca = { 0 }, cb = { 0 };
        int hasa = a->enums.n + a->consts.n > 0, hasb = b->enums.n + b->consts.n > 0, overlap = 0;
        if ((hasa && enum_candidates(a, &ca) < 0) || (hasb && enum_candidates(b, &cb) < 0)) { free(ca.v); free(cb.v); return 0; }
        if (hasa && hasb) {
            for (int i = 0; i < ca.n && !overlap; i++)
                for (int j = 0; j < cb.n && !overlap; j++) overlap = cJSON_Compare(ca.v[i], cb.v[j], 1);
        } else {
            ptrs *c = hasa ? &ca : &cb;
            unsigned other = hasa ? b->types : a->types;
            for (int i = 0; i < c->n && !overlap; i++) {
                unsigned t = value_type(c->v[i]);
                overlap = (other & t) || (t == T_INT && (other & T_NUM));
            }
        }
        free(ca.v); free(cb.v);
        if (!overlap) return 1;
        if (hasa && hasb) return 0;
    }
    unsigned common = a->types & b->types;
    if (!common) return 1;
    if (common != T_OBJ || depth > 3) return 0;
    for (int pass = 0; pass < 2; pass++) {
        shape *x = pass ? b : a, *y = pass ? a : b;
        for (int i = 0; i < x->req.n; i++) {
            const char *p = x->req.v[i]->valuestring;
            int forbidden = 0;
            for (int c = 0; c < y->obj_props.n && !forbidden; c++) {
                const cJSON *pp = y->obj_props.v[c] ? cJSON_GetObjectItemCaseSensitive(y->obj_props.v[c], p) : NULL;
                const cJSON *ap = y->obj_ap.v[c];
                forbidden = (pp && cJSON_IsFalse(pp)) || (!pp && ap && cJSON_IsFalse(ap));
            }
            if (forbidden) return 1;
            if (pass == 0 && sh_has_req(y, p)) {
                shape px, py;
                db_jg_sh_init(&px); db_jg_sh_init(&py);   /* both freed below even when the first prop_shape fails */
                int d = prop_shape(g, x, p, &px) == 0 && prop_shape(g, y, p, &py) == 0 && sh_disjoint(g, &px, &py, depth + 1);
                db_jg_sh_free(&px); db_jg_sh_free(&py);
                if (g->status) return 0;
                if (d) return 1;
            }
        }
    }
    return 0;
}

static int emit_conj(gb *g, const cJSON *const *nodes, int n, const cJSON *const *res, int nres, const char *hint, db_str *o);

static int emit_groups(gb *g, shape *s, const cJSON *const *nodes, int n, const cJSON *const *res, int nres, db_str *o) {
    const cJSON *G = s->groups.v[0];
    int one = strcmp(G->string, "oneOf") == 0;
    int na = cJSON_GetArraySize(G);
    const cJSON **res2 = malloc((size_t)(nres + 1) * sizeof *res2);
    const cJSON **n2 = malloc((size_t)(n + 1) * sizeof *n2);
    shape *br = one ? calloc((size_t)na, sizeof *br) : NULL;
    int rc = -1, alts = 0;
    if (!res2 || !n2 || (one && !br)) { OOM(g); goto out; }
    if (nres) memcpy(res2, res, (size_t)nres * sizeof *res2);
    res2[nres] = G;
    memcpy(n2, nodes, (size_t)n * sizeof *n2);
    shape t;
    db_jg_sh_init(&t);
    int trivial = db_jg_sh_absorb_all(g, &t, nodes, n, res2, nres + 1) == 0 && t.nconstraints == 0;
    db_jg_sh_free(&t);
    if (g->status) goto out;
    if (one) {
        for (int i = 0; i < na; i++) {
            db_jg_sh_init(&br[i]);
            n2[n] = cJSON_GetArrayItem(G, i);
            if (trivial ? db_jg_absorb(g, &br[i], n2[n], NULL, 0) < 0 : db_jg_sh_absorb_all(g, &br[i], n2, n + 1, res2, nres + 1) < 0) goto out;
        }
        for (int i = 0; i < na; i++)
            for (int j = i + 1; j < na; j++)
                if (!sh_disjoint(g, &br[i], &br[j], 0)) {
                    if (!g->status)
                        db_jg_gfail(g, 1, "keyword 'oneOf' at %s (exclusivity not enforced: branches %d and %d not provably disjoint)",
                              db_jg_pshow(g, G), i, j);
                    goto out;
                }
    }
    for (int i = 0; i < na; i++) {
        if (++g->branches > MAX_BRANCHES) { db_jg_gfail(g, 1, "anyOf/oneOf combinations beyond %d at %s", MAX_BRANCHES, db_jg_pshow(g, G)); goto out; }
        n2[n] = cJSON_GetArrayItem(G, i);
        char *name = trivial ? visit(g, &n2[n], 1, NULL, 0, NULL) : visit(g, n2, n + 1, res2, nres + 1, NULL);
        if (g->status) { free(name); goto out; }
        if (!name) continue;
        if ((alts++ && db_str_append(o, " | ")) || db_str_append(o, name)) { free(name); OOM(g); goto out; }
        free(name);
    }
    rc = alts > 0;
out:
    if (br) { for (int i = 0; i < na; i++) db_jg_sh_free(&br[i]); free(br); }
    free(res2); free(n2);
    return rc;
}

static int emit_conj(gb *g, const cJSON *const *nodes, int n, const cJSON *const *res, int nres, const char *hint, db_str *o) {
    shape s;
    db_jg_sh_init(&s);
    int rc = db_jg_sh_absorb_all(g, &s, nodes, n, res, nres);
    if (rc < 0 || s.never) { db_jg_sh_free(&s); return rc < 0 ? -1 : 0; }
    if (s.unsup[G_ANY]) { db_jg_gfail(g, 1, "%s", s.unsup[G_ANY]); db_jg_sh_free(&s); return -1; }
    if (s.groups.n) { rc = emit_groups(g, &s, nodes, n, res, nres, o); db_jg_sh_free(&s); return rc; }
    if (s.enums.n || s.consts.n) { rc = emit_enum(g, &s, nodes, n, o); db_jg_sh_free(&s); return rc; }
    if (s.nconstraints == 0) { db_jg_sh_free(&s); g->need |= B_VALUE; return db_str_append(o, "json-value") ? OOM(g) : 1; }
    int alts = 0;
    const cJSON *at = nodes[0];
    g->need |= B_SPACE;
    if (s.types & T_NULL) { db_str_append(o, "\"null\" space"); alts++; }
    if (s.types & T_BOOL) { db_str_append(o, alts++ ? " | (\"true\" | \"false\") space" : "(\"true\" | \"false\") space"); }
    for (int k = 0; k < 4; k++) {
        db_str b;
        db_str_init(&b);
        int r = k == 0 ? emit_object(g, &s, at, hint, &b) : k == 1 ? emit_array(g, &s, at, hint, &b)
              : k == 2 ? emit_string(g, &s, at, &b) : emit_number(g, &s, at, &b);
        if (r < 0) { db_str_free(&b); db_jg_sh_free(&s); return -1; }
        if (r > 0) {
            if (alts++) db_str_append(o, " | ");
            db_str_append(o, b.s);
        }
        db_str_free(&b);
    }
    db_jg_sh_free(&s);
    return alts > 0;
}

static const char *last_segment(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static char *visit(gb *g, const cJSON *const *nodes, int n, const cJSON *const *res, int nres, const char *hint) {
    const cJSON *one = nodes[0];
    if (n == 1 && nres == 0) {
        for (int hops = 0; db_jg_pure_ref(g, one); hops++) {
            if (hops > 64) { db_jg_gfail(g, 1, "circular $ref at %s", db_jg_pshow(g, nodes[0])); return NULL; }
            one = db_jg_resolve_ref(g, one, cJSON_GetObjectItemCaseSensitive(one, "$ref")->valuestring);
            if (!one) return NULL;
            hint = NULL;
        }
        nodes = &one;
    }
    db_str key;
    db_str_init(&key);
    for (int i = 0; i < n; i++) db_str_printf(&key, "%p,", (const void *)nodes[i]);
    db_str_append(&key, "|");
    for (int i = 0; i < nres; i++) db_str_printf(&key, "%p,", (const void *)res[i]);
    if (!key.s) { OOM(g); return NULL; }
    int mi = db_jg_smap_get(&g->memo_idx, key.s);
    if (mi >= 0) {
        db_str_free(&key);
        memo *m = &g->memos[mi];
        if (m->state == 0 && m->depth == g->depth) {
            db_jg_gfail(g, 1, "circular $ref at %s (the schema refers to itself without an object or array in between)", db_jg_pshow(g, nodes[0]));
            return NULL;
        }
        if (m->state == 0) m->state = 3;   /* in progress and referenced */
        return m->state == 2 ? NULL : db_strdup(m->name);
    }
    if (g->vdepth > MAX_VISIT_DEPTH) { db_str_free(&key); db_jg_gfail(g, 1, "schema nested deeper than %d at %s", MAX_VISIT_DEPTH, db_jg_pshow(g, nodes[0])); return NULL; }
    if (g->nmemos == g->capmemos) {
        int cap = g->capmemos ? g->capmemos * 2 : 64;
        memo *v = realloc(g->memos, (size_t)cap * sizeof *v);
        if (!v) { db_str_free(&key); OOM(g); return NULL; }
        g->memos = v; g->capmemos = cap;
    }
    char base[96];
    snprintf(base, sizeof base, "%s", hint ? hint : last_segment(db_jg_path_of(g, nodes[0])));
    int ri = db_jg_add_rule(g, base, NULL);
    if (ri < 0) { db_str_free(&key); return NULL; }
    mi = g->nmemos++;
    g->memos[mi].name = db_strdup(g->rules[ri].name);
    g->memos[mi].state = 0;
    g->memos[mi].depth = g->depth;
    if (!g->memos[mi].name || db_jg_smap_put(&g->memo_idx, key.s, mi) < 0) { db_str_free(&key); OOM(g); return NULL; }
    db_str_free(&key);
    db_str body;
    db_str_init(&body);
    g->vdepth++;
    int rc = emit_conj(g, nodes, n, res, nres, g->memos[mi].name, &body);
    g->vdepth--;
    memo *m = &g->memos[mi];
    if (rc < 0 || g->status) { db_str_free(&body); return NULL; }
    if (rc == 0) {
        db_str_free(&body);
        if (m->state == 3) { db_jg_gfail(g, 1, "recursive schema at %s accepts no value", db_jg_pshow(g, nodes[0])); return NULL; }
        m->state = 2;
        return NULL;
    }
    m->state = 1;
    db_jg_set_body(g, ri, db_str_take(&body));
    if (g->status) return NULL;
    return db_strdup(m->name);
}

static void gb_free(gb *g) {
    for (int i = 0; i < g->nrules; i++) { free(g->rules[i].name); free(g->rules[i].body); }
    free(g->rules);
    for (int i = 0; i < g->nmemos; i++) free(g->memos[i].name);
    free(g->memos);
    for (int i = 0; i < g->npath; i++) free(g->pathv[i]);
    free(g->pathv);
    free(g->anchor_nodes);
    db_jg_smap_free(&g->names); db_jg_smap_free(&g->memo_idx); db_jg_smap_free(&g->regex_rules); db_jg_smap_free(&g->paths); db_jg_smap_free(&g->anchors);
    free(g->root_id);
    if (g->root_text) cJSON_free(g->root_text);
}

int db_json_gbnf(const cJSON *schema, char **out_gbnf, char *why, size_t whylen) {
    gb g;
    memset(&g, 0, sizeof g);
    *out_gbnf = NULL;
    if (why && whylen) why[0] = 0;
    g.root = schema;
    g.why = why; g.whylen = whylen;
    if (!schema || (!cJSON_IsObject(schema) && !cJSON_IsBool(schema))) return db_jg_gfail(&g, -1, "the schema is not a JSON object or boolean");
    const cJSON *sch = cJSON_GetObjectItemCaseSensitive(schema, "$schema");
    if (cJSON_IsString(sch)) {
        const char *u = sch->valuestring;
        if (strstr(u, "draft-04") || strstr(u, "draft-03")) g.draft7 = g.draft4 = 1;
        else if (strstr(u, "draft-06") || strstr(u, "draft-07")) g.draft7 = 1;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(schema, g.draft4 ? "id" : "$id");
    if (cJSON_IsString(id)) {
        g.root_id = db_strdup(id->valuestring);
        if (g.root_id && strchr(g.root_id, '#')) *strchr(g.root_id, '#') = 0;
    }
    static const char *const builtin[] = { "space", "char", "char-esc", "json-value", "json-object", "json-array", "json-string", "json-number", NULL };
    for (int i = 0; builtin[i]; i++) if (db_jg_smap_put(&g.names, builtin[i], -2) < 0) { OOM(&g); goto done; }
    if (db_jg_index_paths(&g, schema, "") < 0) goto done;
    const cJSON *rootv[1] = { schema };
    char *name = visit(&g, rootv, 1, NULL, 0, "root");
    if (g.status) { free(name); goto done; }
    if (!name) { db_jg_gfail(&g, 1, "the schema accepts no value"); goto done; }
    db_str o;
    db_str_init(&o);
    int r = 0;
    if (strcmp(name, "root") != 0) r |= db_str_printf(&o, "root ::= %s\n", name);
    free(name);
    for (int i = 0; i < g.nrules; i++)
        if (g.rules[i].body) r |= db_str_printf(&o, "%s ::= %s\n", g.rules[i].name, g.rules[i].body);
    if (g.need & B_VALUE) {
        g.need |= B_SPACE | B_CHAR;
        r |= db_str_append(&o,
            "json-value ::= json-object | json-array | json-string | json-number | (\"true\" | \"false\" | \"null\") space\n"
            "json-object ::= \"{\" space (json-string \":\" space json-value (\",\" space json-string \":\" space json-value)*)? \"}\" space\n"
            "json-array ::= \"[\" space (json-value (\",\" space json-value)*)? \"]\" space\n"
            "json-string ::= \"\\\"\" char* \"\\\"\" space\n"
            "json-number ::= \"-\"? (\"0\" | [1-9] [0-9]*) (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)? space\n");
    }
    if (g.need & B_CHAR) {
        cset all = { 0 };
        r |= db_jg_cs_add(&all, 0, MAX_CP);
        r |= db_str_append(&o, "char ::= ");
        r |= db_jg_cs_emit_json(&o, &all);
        r |= db_str_append(&o, "\nchar-esc ::= \"\\\\\" ([\"\\\\bfnrt] | \"u00\" [01] [0-9a-fA-F])\n");
        db_jg_cs_free(&all);
    }
    if (g.need & B_SPACE) r |= db_str_append(&o, "space ::= | \" \" | \"\\n\"{1,2} [ \\t]{0,20}\n");
    if (r) { db_str_free(&o); OOM(&g); goto done; }
    *out_gbnf = db_str_take(&o);
done:
    gb_free(&g);
    return g.status;
}

int db_json_gbnf_text(const char *schema_json, char **out_gbnf, char *why, size_t whylen) {
    *out_gbnf = NULL;
    cJSON *j = cJSON_Parse(schema_json);
    if (!j && db_json_too_deep(schema_json, strlen(schema_json), NULL, NULL))   /* S7 */
        return db_errf(why, whylen, "the schema is JSON nested deeper than %d levels", db_json_nesting_limit());
    if (!j) return db_errf(why, whylen, "the schema is not valid JSON");
    int rc = db_json_gbnf(j, out_gbnf, why, whylen);
    cJSON_Delete(j);
    return rc;
}
