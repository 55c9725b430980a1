/* json_gbnf_shape.c — the converter's "shape": the keywords of a
 * conjunction of schema nodes merged into one record (types, bounds,
 * lengths, pattern/format, array and object components, anyOf/oneOf groups
 * left to split), each keyword it cannot enforce noted; see json_gbnf_int.h. */
#include "json_gbnf_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* A conjunction of schema nodes merged into one "shape".              */

int db_jg_ptrs_add(ptrs *p, const cJSON *x) {
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 8;
        const cJSON **v = realloc(p->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        p->v = v; p->cap = cap;
    }
    p->v[p->n++] = x;
    return 0;
}

void db_jg_sh_init(shape *s) {
    memset(s, 0, sizeof *s);
    s->types = T_ALL;
    s->maxlen = -1; s->maxit = -1; s->maxprop = -1;
}

void db_jg_sh_free(shape *s) {
    ptrs *all[] = { &s->enums, &s->consts, &s->arr_prefix, &s->arr_rest, &s->obj_props, &s->obj_ap, &s->req, &s->groups, &s->stack };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]->v);
    for (int i = 0; i < G_N; i++) free(s->unsup[i]);
}

static void sh_unsup(gb *g, shape *s, int grp, const char *kw, const cJSON *at) {
    if (s->unsup[grp]) return;
    char buf[512];
    snprintf(buf, sizeof buf, "keyword '%s' at %s", kw, db_jg_pshow(g, at));
    s->unsup[grp] = db_strdup(buf);
}

static int is_annotation(const char *k) {
    static const char *const ann[] = { "$schema", "$comment", "title", "description", "default", "examples", "readOnly",
        "writeOnly", "deprecated", "contentMediaType", "contentEncoding", "contentSchema", "$defs", "definitions", "$anchor",
        "$dynamicAnchor", "$recursiveAnchor", NULL };
    return db_jg_in_list(ann, k);
}

/* keywords of JSON Schema that this converter does not enforce, with the type
 * group they constrain (a keyword for a type the schema excludes is harmless) */
static int unenforced_group(const char *k) {
    static const struct { const char *k; int g; } t[] = {
        { "multipleOf", G_NUM }, { "contains", G_ARR }, { "minContains", G_ARR }, { "maxContains", G_ARR },
        { "unevaluatedItems", G_ARR }, { "patternProperties", G_OBJ }, { "propertyNames", G_OBJ },
        { "dependentRequired", G_OBJ }, { "dependentSchemas", G_OBJ }, { "dependencies", G_OBJ },
        { "unevaluatedProperties", G_OBJ }, { "not", G_ANY }, { "if", G_ANY }, { "$dynamicRef", G_ANY },
        { "$recursiveRef", G_ANY }, { "$vocabulary", G_ANY }, { "disallow", G_ANY }, { "extends", G_ANY },
        { "divisibleBy", G_NUM },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) if (strcmp(t[i].k, k) == 0) return t[i].g;
    return -1;
}

int db_jg_pure_ref(gb *g, const cJSON *node) {
    if (!cJSON_IsObject(node) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(node, "$ref"))) return 0;
    if (g->draft7) return 1;
    const cJSON *c;
    cJSON_ArrayForEach(c, node)
        if (strcmp(c->string, "$ref") != 0 && !is_annotation(c->string) &&
            !(strcmp(c->string, "$id") == 0 && cJSON_IsString(c) && c->valuestring[0] == '#')) return 0;
    return 1;
}

static unsigned type_bits(const char *t) {
    if (!strcmp(t, "null")) return T_NULL;
    if (!strcmp(t, "boolean")) return T_BOOL;
    if (!strcmp(t, "object")) return T_OBJ;
    if (!strcmp(t, "array")) return T_ARR;
    if (!strcmp(t, "string")) return T_STR;
    if (!strcmp(t, "integer")) return T_INT;
    if (!strcmp(t, "number")) return T_INT | T_NUM;
    return 0;
}

static int nonneg_int(const cJSON *v, long *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble)) return -1;
    *out = v->valuedouble > 1e15 ? (long)1e15 : (long)v->valuedouble;
    return 0;
}

static int in_group_set(const cJSON *arr, const cJSON *const *res, int nres) {
    for (int i = 0; i < nres; i++) if (res[i] == arr) return 1;
    return 0;
}

static void bound_lo(shape *s, double v, int excl) {
    if (!s->has_lo || v > s->lo || (v == s->lo && excl)) { s->lo = v; s->lo_excl = excl; s->has_lo = 1; }
}
static void bound_hi(shape *s, double v, int excl) {
    if (!s->has_hi || v < s->hi || (v == s->hi && excl)) { s->hi = v; s->hi_excl = excl; s->has_hi = 1; }
}

/* Merge one schema node into s.  Returns 0, or -1 with g->status set. */
int db_jg_absorb(gb *g, shape *s, const cJSON *node, const cJSON *const *res, int nres) {
    if (cJSON_IsBool(node)) {
        if (cJSON_IsFalse(node)) { s->never = 1; s->nconstraints++; }
        return 0;
    }
    if (!cJSON_IsObject(node)) return db_jg_gfail(g, -1, "schema at %s is not an object or boolean", db_jg_pshow(g, node));
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(node, "$ref");
    if (ref) {
        if (!cJSON_IsString(ref)) return db_jg_gfail(g, -1, "$ref at %s is not a string", db_jg_pshow(g, node));
        const cJSON *t = db_jg_resolve_ref(g, node, ref->valuestring);
        if (!t) return -1;
        for (int i = 0; i < s->stack.n; i++)
            if (s->stack.v[i] == t) return db_jg_gfail(g, 1, "circular $ref '%s' at %s", ref->valuestring, db_jg_pshow(g, node));
        if (s->stack.n > 64) return db_jg_gfail(g, 1, "$ref chain too long at %s", db_jg_pshow(g, node));
        if (db_jg_ptrs_add(&s->stack, t) < 0) return OOM(g);
        int rc = db_jg_absorb(g, s, t, res, nres);
        s->stack.n--;
        if (rc < 0) return -1;
        if (g->draft7) return 0;   /* draft-07: $ref overrides its siblings */
    }
    /* draft-04: boolean exclusiveMinimum/exclusiveMaximum modify minimum/maximum */
    int ex_lo = 0, ex_hi = 0;
    if (g->draft4) {
        ex_lo = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(node, "exclusiveMinimum"));
        ex_hi = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(node, "exclusiveMaximum"));
    }
    const int is_root = node == g->root;
    const cJSON *c;
    cJSON_ArrayForEach(c, node) {
        const char *k = c->string;
        int grp;
        if (!strcmp(k, "$ref") || is_annotation(k)) continue;
        if (!strcmp(k, "$id") || (g->draft4 && !strcmp(k, "id"))) {
            if (!cJSON_IsString(c)) continue;
            if (!is_root && c->valuestring[0] != '#') sh_unsup(g, s, G_ANY, k, node);   /* a new base URI */
            continue;
        }
        if (!strcmp(k, "type")) {
            unsigned t = 0;
            if (cJSON_IsString(c)) t = type_bits(c->valuestring);
            else if (cJSON_IsArray(c)) { const cJSON *e; cJSON_ArrayForEach(e, c) if (cJSON_IsString(e)) t |= type_bits(e->valuestring); }
            else return db_jg_gfail(g, -1, "'type' at %s is not a string or array", db_jg_pshow(g, node));
            s->types &= t;
            s->nconstraints++;
        } else if (!strcmp(k, "enum")) {
            if (!cJSON_IsArray(c)) return db_jg_gfail(g, -1, "'enum' at %s is not an array", db_jg_pshow(g, node));
            if (db_jg_ptrs_add(&s->enums, c) < 0) return OOM(g);
            s->nconstraints++;
        } else if (!strcmp(k, "const")) {
            if (db_jg_ptrs_add(&s->consts, c) < 0) return OOM(g);
            s->nconstraints++;
        } else if (!strcmp(k, "allOf")) {
            if (!cJSON_IsArray(c)) return db_jg_gfail(g, -1, "'allOf' at %s is not an array", db_jg_pshow(g, node));
            const cJSON *e;
            cJSON_ArrayForEach(e, c) if (db_jg_absorb(g, s, e, res, nres) < 0) return -1;
        } else if (!strcmp(k, "anyOf") || !strcmp(k, "oneOf")) {
            if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) == 0)
                return db_jg_gfail(g, -1, "'%s' at %s is not a non-empty array", k, db_jg_pshow(g, node));
            if (in_group_set(c, res, nres)) continue;
            if (db_jg_ptrs_add(&s->groups, c) < 0) return OOM(g);
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "minimum") || !strcmp(k, "maximum") || !strcmp(k, "exclusiveMinimum") || !strcmp(k, "exclusiveMaximum")) {
            if (cJSON_IsBool(c)) continue;   /* draft-04 flag, read above */
            if (!cJSON_IsNumber(c)) return db_jg_gfail(g, -1, "'%s' at %s is not a number", k, db_jg_pshow(g, node));
            double v = c->valuedouble;
            if (!strcmp(k, "minimum")) bound_lo(s, v, ex_lo);
            else if (!strcmp(k, "maximum")) bound_hi(s, v, ex_hi);
            else if (!strcmp(k, "exclusiveMinimum")) bound_lo(s, v, 1);
            else bound_hi(s, v, 1);
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "minLength") || !strcmp(k, "maxLength")) {
            long v;
            if (nonneg_int(c, &v) < 0) return db_jg_gfail(g, -1, "'%s' at %s is not a non-negative integer", k, db_jg_pshow(g, node));
            if (k[1] == 'i') { if (v > s->minlen) s->minlen = v; }
            else if (s->maxlen < 0 || v < s->maxlen) s->maxlen = v;
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "pattern")) {
            if (!cJSON_IsString(c)) return db_jg_gfail(g, -1, "'pattern' at %s is not a string", db_jg_pshow(g, node));
            if (s->pattern && strcmp(s->pattern, c->valuestring) != 0) sh_unsup(g, s, G_STR, "pattern (two different patterns)", node);
            s->pattern = c->valuestring; s->pattern_at = node;
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "format")) {
            if (!cJSON_IsString(c)) continue;
            if (db_jg_in_list(db_jg_formats_unsupported, c->valuestring)) {
                char kw[96];
                snprintf(kw, sizeof kw, "format '%.60s'", c->valuestring);
                sh_unsup(g, s, G_STR, kw, node);
            } else if (db_jg_in_list(db_jg_formats_supported, c->valuestring)) {
                if (s->format && strcmp(s->format, c->valuestring) != 0) sh_unsup(g, s, G_STR, "format (two different formats)", node);
                s->format = c->valuestring; s->format_at = node;
            } else continue;   /* a custom format: an annotation, as in the validator */
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "minItems") || !strcmp(k, "maxItems")) {
            long v;
            if (nonneg_int(c, &v) < 0) return db_jg_gfail(g, -1, "'%s' at %s is not a non-negative integer", k, db_jg_pshow(g, node));
            if (k[1] == 'i') { if (v > s->minit) s->minit = v; }
            else if (s->maxit < 0 || v < s->maxit) s->maxit = v;
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "items") || !strcmp(k, "prefixItems") || !strcmp(k, "additionalItems")) {
            const cJSON *items = cJSON_GetObjectItemCaseSensitive(node, "items");
            const cJSON *prefix = NULL, *rest = NULL;
            if (!strcmp(k, "prefixItems")) {
                if (!cJSON_IsArray(c)) return db_jg_gfail(g, -1, "'prefixItems' at %s is not an array", db_jg_pshow(g, node));
                if (items) continue;   /* handled with "items" */
                if (db_jg_ptrs_add(&s->arr_prefix, c) < 0 || db_jg_ptrs_add(&s->arr_rest, NULL) < 0) return OOM(g);
                s->nconstraints++; s->nother++;
                continue;
            }
            if (!strcmp(k, "additionalItems")) continue;   /* only with the array form of "items", handled there */
            if (cJSON_IsArray(items)) { prefix = items; rest = cJSON_GetObjectItemCaseSensitive(node, "additionalItems"); }
            else { prefix = cJSON_GetObjectItemCaseSensitive(node, "prefixItems"); rest = items; }
            if (db_jg_ptrs_add(&s->arr_prefix, prefix) < 0 || db_jg_ptrs_add(&s->arr_rest, rest) < 0) return OOM(g);
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "uniqueItems")) {
            if (cJSON_IsTrue(c)) { s->unique_at = node; s->nconstraints++; s->nother++; }
        } else if (!strcmp(k, "properties") || !strcmp(k, "additionalProperties")) {
            if (!strcmp(k, "additionalProperties") && cJSON_GetObjectItemCaseSensitive(node, "properties")) continue;
            const cJSON *props = cJSON_GetObjectItemCaseSensitive(node, "properties");
            if (props && !cJSON_IsObject(props)) return db_jg_gfail(g, -1, "'properties' at %s is not an object", db_jg_pshow(g, node));
            if (db_jg_ptrs_add(&s->obj_props, props) < 0 || db_jg_ptrs_add(&s->obj_ap, cJSON_GetObjectItemCaseSensitive(node, "additionalProperties")) < 0)
                return OOM(g);
            s->nconstraints++; s->nother++;
        } else if (!strcmp(k, "required")) {
            if (!cJSON_IsArray(c)) {
                if (cJSON_IsBool(c) && g->draft4) continue;   /* draft-03 style */
                return db_jg_gfail(g, -1, "'required' at %s is not an array", db_jg_pshow(g, node));
            }
            const cJSON *e;
            cJSON_ArrayForEach(e, c) {
                if (!cJSON_IsString(e)) return db_jg_gfail(g, -1, "'required' at %s holds a non-string", db_jg_pshow(g, node));
                if (db_jg_ptrs_add(&s->req, e) < 0) return OOM(g);
            }
            if (cJSON_GetArraySize(c)) { s->nconstraints++; s->nother++; }
        } else if (!strcmp(k, "minProperties") || !strcmp(k, "maxProperties")) {
            long v;
            if (nonneg_int(c, &v) < 0) return db_jg_gfail(g, -1, "'%s' at %s is not a non-negative integer", k, db_jg_pshow(g, node));
            if (k[1] == 'i') { if (v > s->minprop) { s->minprop = v; s->minprop_at = node; } }
            else if (s->maxprop < 0 || v < s->maxprop) { s->maxprop = v; s->maxprop_at = node; }
            s->nconstraints++; s->nother++;
        } else if ((grp = unenforced_group(k)) >= 0) {
            /* values that constrain nothing */
            if (!strcmp(k, "multipleOf") && cJSON_IsNumber(c) && c->valuedouble == 1.0) { s->mult_int = 1; s->nconstraints++; s->nother++; continue; }
            if ((!strcmp(k, "patternProperties") || !strcmp(k, "dependentRequired") || !strcmp(k, "dependentSchemas") ||
                 !strcmp(k, "dependencies")) && cJSON_IsObject(c) && !c->child) continue;
            if ((!strcmp(k, "propertyNames") || !strcmp(k, "unevaluatedProperties") || !strcmp(k, "unevaluatedItems") ||
                 !strcmp(k, "contains")) && cJSON_IsTrue(c)) continue;
            if (!strcmp(k, "if") && !cJSON_GetObjectItemCaseSensitive(node, "then") && !cJSON_GetObjectItemCaseSensitive(node, "else")) continue;
            if ((!strcmp(k, "minContains") || !strcmp(k, "maxContains")) && !cJSON_GetObjectItemCaseSensitive(node, "contains")) continue;
            sh_unsup(g, s, grp, k, node);
            s->nconstraints++; s->nother++;
        }
        /* anything else: not a JSON Schema keyword here (an annotation); the validator ignores it too */
    }
    return 0;
}

int db_jg_sh_absorb_all(gb *g, shape *s, const cJSON *const *nodes, int n, const cJSON *const *res, int nres) {
    for (int i = 0; i < n; i++) if (db_jg_absorb(g, s, nodes[i], res, nres) < 0) return -1;
    return 0;
}
