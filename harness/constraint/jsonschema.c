/* jsonschema.c — JSON Schema validator (see jsonschema.h, docs/jsonschema.md).
 *
 * Compile: the schema documents are walked once; every subschema becomes an
 * `snode` (memoised by its cJSON address, so $ref cycles are fine), $id/$anchor/
 * $dynamicAnchor are registered as absolute URIs, and $ref/$dynamicRef targets
 * are resolved after the walk (loading remote documents through the resolver).
 * This file: the compile half and the public compile API.  Validation is
 * jsonschema_validate.c (a recursive interpreter over snodes), formats
 * jsonschema_format.c, URI resolution jsonschema_uri.c, all sharing
 * jsonschema_int.h; "pattern" and "patternProperties" compile in the regex
 * front end (regex.h; matched by regex_match.c).
 */
#include "jsonschema_int.h"
#include "harness/util/jsonlimits.h"
#include "regex.h"
#include "harness/util/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void unsup_add(db_jsonschema *S, const char *kw) {
    for (int i = 0; i < S->nunsup; i++)
        if (strcmp(S->unsupported[i], kw) == 0) return;
    if (S->nunsup < (int)(sizeof S->unsupported / sizeof S->unsupported[0])) S->unsupported[S->nunsup++] = kw;
}

static int cerr(db_jsonschema *S, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int cerr(db_jsonschema *S, const char *fmt, ...) {
    if (!S->failed && S->err && S->errlen) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(S->err, S->errlen, "schema %s: %s", S->pathlen ? S->path : "(root)", msg);
    }
    S->failed = 1;
    return -1;
}

static size_t cpush(db_jsonschema *S, const char *seg) {
    size_t old = S->pathlen;
    if (S->pathlen + strlen(seg) + 2 < sizeof S->path) {
        S->path[S->pathlen++] = '/';
        strcpy(S->path + S->pathlen, seg);
        S->pathlen += strlen(seg);
    }
    return old;
}
static size_t cpushi(db_jsonschema *S, int i) { char b[24]; snprintf(b, sizeof b, "%d", i); return cpush(S, b); }
static void cpop(db_jsonschema *S, size_t old) { S->pathlen = old; S->path[old] = 0; }

static size_t ptr_hash(const void *p) { uintptr_t x = (uintptr_t)p; x ^= x >> 17; x *= 0x9E3779B97F4A7C15ull; return (size_t)(x ^ (x >> 29)); }

static snode *memo_get(const db_jsonschema *S, const cJSON *js) {
    if (!S->mapcap) return NULL;
    for (size_t h = ptr_hash(js) & (S->mapcap - 1);; h = (h + 1) & (S->mapcap - 1)) {
        if (!S->map[h].key) return NULL;
        if (S->map[h].key == js) return S->map[h].val;
    }
}

static int memo_put(db_jsonschema *S, const cJSON *js, snode *s) {
    if ((S->mapn + 1) * 2 > S->mapcap) {
        size_t cap = S->mapcap ? S->mapcap * 2 : 256;
        memo *m = calloc(cap, sizeof *m);
        if (!m) return -1;
        for (size_t i = 0; i < S->mapcap; i++) {
            if (!S->map[i].key) continue;
            size_t h = ptr_hash(S->map[i].key) & (cap - 1);
            while (m[h].key) h = (h + 1) & (cap - 1);
            m[h] = S->map[i];
        }
        free(S->map);
        S->map = m; S->mapcap = cap;
    }
    size_t h = ptr_hash(js) & (S->mapcap - 1);
    while (S->map[h].key) h = (h + 1) & (S->mapcap - 1);
    S->map[h].key = js; S->map[h].val = s;
    S->mapn++;
    return 0;
}

static int reg_add(db_jsonschema *S, const char *uri, snode *s, const cJSON *js, int dynamic) {
    for (int i = 0; i < S->nreg; i++)
        if (strcmp(S->reg[i].uri, uri) == 0 && S->reg[i].dynamic == dynamic) return 0;   /* first wins */
    if (S->nreg == S->capreg) {
        int cap = S->capreg ? S->capreg * 2 : 32;
        regentry *r = realloc(S->reg, (size_t)cap * sizeof *r);
        if (!r) return -1;
        S->reg = r; S->capreg = cap;
    }
    char *u = db_strdup(uri);
    if (!u) return -1;
    S->reg[S->nreg].uri = u; S->reg[S->nreg].s = s; S->reg[S->nreg].js = js; S->reg[S->nreg].dynamic = dynamic;
    S->nreg++;
    return 0;
}

const regentry *db_js_reg_find(const db_jsonschema *S, const char *uri, int dynamic_only) {
    for (int i = 0; i < S->nreg; i++)
        if ((!dynamic_only || S->reg[i].dynamic) && strcmp(S->reg[i].uri, uri) == 0) return &S->reg[i];
    return NULL;
}

static int dialect_of(const char *schema_uri) {
    static const struct { const char *u; int d; } k[] = {
        { "http://json-schema.org/draft-04/schema", 4 }, { "https://json-schema.org/draft-04/schema", 4 },
        { "http://json-schema.org/draft-06/schema", 6 }, { "https://json-schema.org/draft-06/schema", 6 },
        { "http://json-schema.org/draft-07/schema", 7 }, { "https://json-schema.org/draft-07/schema", 7 },
        { "https://json-schema.org/draft/2019-09/schema", 2019 }, { "http://json-schema.org/draft/2019-09/schema", 2019 },
        { "https://json-schema.org/draft/2020-12/schema", 2020 }, { "http://json-schema.org/draft/2020-12/schema", 2020 },
    };
    size_t n = strlen(schema_uri);
    while (n > 0 && schema_uri[n - 1] == '#') n--;
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strlen(k[i].u) == n && strncmp(k[i].u, schema_uri, n) == 0) return k[i].d;
    return 0;
}

static char *strip_frag(const char *u) {
    const char *h = strchr(u, '#');
    return h ? db_strndup(u, (size_t)(h - u)) : db_strdup(u);
}

static snode *build(db_jsonschema *S, const cJSON *js, const char *base, int dialect, int is_root);

static int num(const cJSON *v, double *out) {
    if (!cJSON_IsNumber(v)) return 0;
    *out = v->valuedouble;
    return 1;
}

static long nonneg(const cJSON *v) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) return -1;
    return v->valuedouble > 1e15 ? (long)1e15 : (long)v->valuedouble;
}

static snode *sub(db_jsonschema *S, const cJSON *js, const char *kw, snode *parent) {
    size_t old = cpush(S, kw);
    snode *r = build(S, js, parent->base, parent->dialect, 0);
    cpop(S, old);
    return r;
}

static snode **sub_array(db_jsonschema *S, const cJSON *arr, const char *kw, snode *parent, int *n) {
    *n = 0;
    if (!cJSON_IsArray(arr)) { cerr(S, "%s must be an array", kw); return NULL; }
    int cnt = cJSON_GetArraySize(arr);
    snode **v = calloc((size_t)(cnt ? cnt : 1), sizeof *v);
    if (!v) { cerr(S, "out of memory"); return NULL; }
    size_t old = cpush(S, kw);
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        size_t o2 = cpushi(S, i);
        v[i] = build(S, e, parent->base, parent->dialect, 0);
        cpop(S, o2);
        if (!v[i]) { cpop(S, old); free(v); return NULL; }
    }
    cpop(S, old);
    *n = cnt;
    return v;
}

static named *sub_map(db_jsonschema *S, const cJSON *obj, const char *kw, snode *parent, int *n, int want_regex) {
    *n = 0;
    if (!cJSON_IsObject(obj)) { cerr(S, "%s must be an object", kw); return NULL; }
    int cnt = cJSON_GetArraySize(obj);
    named *v = calloc((size_t)(cnt ? cnt : 1), sizeof *v);
    if (!v) { cerr(S, "out of memory"); return NULL; }
    size_t old = cpush(S, kw);
    int i = 0;
    for (const cJSON *e = obj->child; e; e = e->next, i++) {
        v[i].name = db_strdup(e->string ? e->string : "");
        size_t o2 = cpush(S, v[i].name ? v[i].name : "");
        if (want_regex) {
            char rerr[256];
            v[i].re = db_regex_compile(v[i].name, rerr, sizeof rerr);
            if (!v[i].re) unsup_add(S, "patternProperties");
        }
        v[i].s = build(S, e, parent->base, parent->dialect, 0);
        cpop(S, o2);
        *n = i + 1;
        if (!v[i].s) { cpop(S, old); return v; }
    }
    cpop(S, old);
    *n = cnt;
    return v;
}

static unsigned type_bit(const char *t) {
    static const struct { const char *n; unsigned b; } k[] = {
        { "null", T_NULL }, { "boolean", T_BOOL }, { "object", T_OBJ }, { "array", T_ARR },
        { "number", T_NUM }, { "string", T_STR }, { "integer", T_INT },
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strcmp(k[i].n, t) == 0) return k[i].b;
    return 0;
}

static snode *new_node(db_jsonschema *S) {
    if (S->nnodes == S->capnodes) {
        int cap = S->capnodes ? S->capnodes * 2 : 64;
        snode **v = realloc(S->nodes, (size_t)cap * sizeof *v);
        if (!v) return NULL;
        S->nodes = v; S->capnodes = cap;
    }
    snode *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    S->nodes[S->nnodes++] = s;
    s->boolean = -1;
    s->max_len = s->min_len = s->max_items = s->min_items = s->max_props = s->min_props = -1;
    s->min_contains = 1; s->max_contains = -1;
    return s;
}

/* Asserted formats: date, date-time, time, email, ipv4, ipv6, uuid, uri, regex,
 * and hostname partially (RFC 1123 labels; IDNA A-label rules unchecked).
 * Formats defined by the drafts that are not (fully) asserted are reported as
 * unsupported in assertion mode; custom names are ignored, as the drafts say. */
static const char *standard_formats[] = { "hostname", "duration", "idn-email", "idn-hostname", "uri-reference", "iri",
                                          "iri-reference", "uri-template", "json-pointer",
                                          "relative-json-pointer", NULL };

static snode *build(db_jsonschema *S, const cJSON *js, const char *base, int dialect, int is_root) {
    if (S->failed) return NULL;
    snode *s = memo_get(S, js);
    if (s) return s;
    s = new_node(S);
    if (!s || memo_put(S, js, s) < 0) { cerr(S, "out of memory"); return NULL; }
    s->js = js;
    s->dialect = dialect;
    s->base = db_strdup(base ? base : "");
    s->is_resource = is_root;
    if (cJSON_IsBool(js)) { s->boolean = cJSON_IsTrue(js); return s; }
    if (!cJSON_IsObject(js)) { cerr(S, "a schema must be an object or a boolean"); return NULL; }

    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "$schema")) && cJSON_IsString(v)) {
        int d = dialect_of(v->valuestring);
        if (d) s->dialect = dialect = d;
        else if (is_root && dialect >= 2019) {
            /* a custom metaschema: vocabularies are not interpreted */
            unsup_add(S, "$vocabulary");
        }
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(js, "$ref");
    if (!cJSON_IsString(ref)) ref = NULL;
    s->ref_only = ref && dialect <= 7;

    /* $id / id */
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(js, dialect == 4 ? "id" : "$id");
    if (cJSON_IsString(id) && !s->ref_only) {
        char *full = db_js_uri_resolve(s->base, id->valuestring);
        if (!full) { cerr(S, "out of memory"); return NULL; }
        const char *h = strchr(full, '#');
        if (id->valuestring[0] == '#' && dialect <= 7) {
            /* draft-07 location-independent identifier: an anchor */
            if (h && h[1] && reg_add(S, full, s, js, 0) < 0) { free(full); cerr(S, "out of memory"); return NULL; }
        } else {
            char *nb = strip_frag(full);
            free(s->base);
            s->base = nb;
            s->is_resource = 1;
            if (!nb || reg_add(S, nb, s, js, 0) < 0) { free(full); cerr(S, "out of memory"); return NULL; }
            if (h && h[1] && dialect <= 7 && reg_add(S, full, s, js, 0) < 0) { free(full); cerr(S, "out of memory"); return NULL; }
        }
        free(full);
    }
    if (dialect >= 2019) {
        const char *akw[2] = { "$anchor", "$dynamicAnchor" };
        for (int k = 0; k < 2; k++) {
            v = cJSON_GetObjectItemCaseSensitive(js, akw[k]);
            if (!cJSON_IsString(v)) continue;
            db_str u; db_str_init(&u);
            db_str_printf(&u, "%s#%s", s->base, v->valuestring);
            char *us = db_str_take(&u);
            if (!us || reg_add(S, us, s, js, 0) < 0 || (k == 1 && reg_add(S, us, s, js, 1) < 0)) {
                free(us); cerr(S, "out of memory"); return NULL;
            }
            free(us);
            if (k == 1 && dialect >= 2020) s->dyn_anchor = db_strdup(v->valuestring);
        }
        if (cJSON_GetObjectItemCaseSensitive(js, "$recursiveRef")) unsup_add(S, "$recursiveRef");
        if (cJSON_GetObjectItemCaseSensitive(js, "$recursiveAnchor")) unsup_add(S, "$recursiveAnchor");
    }
    if (ref) {
        s->ref_uri = db_js_uri_resolve(s->base, ref->valuestring);
        if (!s->ref_uri) { cerr(S, "out of memory"); return NULL; }
    }
    if (dialect >= 2020 && cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(js, "$dynamicRef"))) {
        s->dynref_uri = db_js_uri_resolve(s->base, v->valuestring);
        if (!s->dynref_uri) { cerr(S, "out of memory"); return NULL; }
    }

    /* subschema containers that only matter for $ref targets */
    const char *defkw[2] = { "$defs", "definitions" };
    for (int k = 0; k < 2; k++) {
        v = cJSON_GetObjectItemCaseSensitive(js, defkw[k]);
        if (!cJSON_IsObject(v)) continue;
        size_t old = cpush(S, defkw[k]);
        for (const cJSON *e = v->child; e; e = e->next) {
            size_t o2 = cpush(S, e->string ? e->string : "");
            snode *d = build(S, e, s->base, dialect, 0);
            cpop(S, o2);
            if (!d) { cpop(S, old); return NULL; }
        }
        cpop(S, old);
    }

    /* type */
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "type"))) {
        if (cJSON_IsString(v)) s->types = type_bit(v->valuestring);
        else if (cJSON_IsArray(v)) {
            for (const cJSON *e = v->child; e; e = e->next)
                if (cJSON_IsString(e)) s->types |= type_bit(e->valuestring);
        }
        if (!s->types) s->types = 0x80;   /* unknown type names: nothing matches */
    }
    s->enum_ = cJSON_GetObjectItemCaseSensitive(js, "enum");
    if (s->enum_ && !cJSON_IsArray(s->enum_)) s->enum_ = NULL;
    if (dialect >= 6) s->const_ = cJSON_GetObjectItemCaseSensitive(js, "const");
    s->has_mo = num(cJSON_GetObjectItemCaseSensitive(js, "multipleOf"), &s->mo) && s->mo > 0;
    s->has_max = num(cJSON_GetObjectItemCaseSensitive(js, "maximum"), &s->max);
    s->has_min = num(cJSON_GetObjectItemCaseSensitive(js, "minimum"), &s->min);
    v = cJSON_GetObjectItemCaseSensitive(js, "exclusiveMaximum");
    if (cJSON_IsBool(v)) { if (cJSON_IsTrue(v) && s->has_max) { s->has_exmax = 1; s->exmax = s->max; s->has_max = 0; } }
    else s->has_exmax = num(v, &s->exmax);
    v = cJSON_GetObjectItemCaseSensitive(js, "exclusiveMinimum");
    if (cJSON_IsBool(v)) { if (cJSON_IsTrue(v) && s->has_min) { s->has_exmin = 1; s->exmin = s->min; s->has_min = 0; } }
    else s->has_exmin = num(v, &s->exmin);
    s->max_len = nonneg(cJSON_GetObjectItemCaseSensitive(js, "maxLength"));
    s->min_len = nonneg(cJSON_GetObjectItemCaseSensitive(js, "minLength"));
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(js, "pattern"))) {
        char rerr[256];
        s->pattern = db_regex_compile(v->valuestring, rerr, sizeof rerr);
        if (!s->pattern) { unsup_add(S, "pattern"); s->pattern_err = db_strdup(rerr); }
    }
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(js, "format"))) {
        s->format = v->valuestring;
        if (S->format_assert) {
            int std = 0;
            for (int i = 0; standard_formats[i]; i++) std |= strcmp(standard_formats[i], s->format) == 0;
            if (std) unsup_add(S, "format");
        }
    }
    s->max_items = nonneg(cJSON_GetObjectItemCaseSensitive(js, "maxItems"));
    s->min_items = nonneg(cJSON_GetObjectItemCaseSensitive(js, "minItems"));
    s->unique = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(js, "uniqueItems"));
    s->max_props = nonneg(cJSON_GetObjectItemCaseSensitive(js, "maxProperties"));
    s->min_props = nonneg(cJSON_GetObjectItemCaseSensitive(js, "minProperties"));
    if (cJSON_IsArray(v = cJSON_GetObjectItemCaseSensitive(js, "required"))) s->required = v;

    /* arrays */
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(js, "items");
    if (dialect >= 2020) {
        if ((v = cJSON_GetObjectItemCaseSensitive(js, "prefixItems")) && !(s->prefix = sub_array(S, v, "prefixItems", s, &s->nprefix))) return NULL;
        if (items && cJSON_IsArray(items)) {   /* 2019-09 style array items */
            free(s->prefix);   /* replaces a prefixItems array (fuzz: it leaked) */
            s->prefix = NULL;
            if (!(s->prefix = sub_array(S, items, "items", s, &s->nprefix))) return NULL;
            if ((v = cJSON_GetObjectItemCaseSensitive(js, "additionalItems")) && !(s->items = sub(S, v, "additionalItems", s))) return NULL;
        } else if (items && !(s->items = sub(S, items, "items", s))) return NULL;
    } else if (items) {
        if (cJSON_IsArray(items)) {
            if (!(s->prefix = sub_array(S, items, "items", s, &s->nprefix))) return NULL;
            if ((v = cJSON_GetObjectItemCaseSensitive(js, "additionalItems")) && !(s->additional_items = sub(S, v, "additionalItems", s))) return NULL;
        } else if (!(s->items = sub(S, items, "items", s))) return NULL;
    }
    if (dialect >= 6 && (v = cJSON_GetObjectItemCaseSensitive(js, "contains")) && !(s->contains = sub(S, v, "contains", s))) return NULL;
    if (dialect >= 2019) {
        long m;
        if ((m = nonneg(cJSON_GetObjectItemCaseSensitive(js, "minContains"))) >= 0) s->min_contains = m;
        if ((m = nonneg(cJSON_GetObjectItemCaseSensitive(js, "maxContains"))) >= 0) s->max_contains = m;
    }

    /* objects */
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "properties")) && !(s->props = sub_map(S, v, "properties", s, &s->nprops, 0))) return NULL;
    if (S->failed) return NULL;
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "patternProperties")) && !(s->pprops = sub_map(S, v, "patternProperties", s, &s->npprops, 1))) return NULL;
    if (S->failed) return NULL;
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "additionalProperties")) && !(s->additional_props = sub(S, v, "additionalProperties", s))) return NULL;
    if (dialect >= 6 && (v = cJSON_GetObjectItemCaseSensitive(js, "propertyNames")) && !(s->property_names = sub(S, v, "propertyNames", s))) return NULL;
    const cJSON *dr = NULL, *ds = NULL;
    if (dialect >= 2019) {
        dr = cJSON_GetObjectItemCaseSensitive(js, "dependentRequired");
        ds = cJSON_GetObjectItemCaseSensitive(js, "dependentSchemas");
    } else if (cJSON_IsObject(v = cJSON_GetObjectItemCaseSensitive(js, "dependencies"))) {
        /* split into the two 2019+ forms */
        int n = cJSON_GetArraySize(v), nr = 0, ns = 0;
        s->dep_req = calloc((size_t)n + 1, sizeof *s->dep_req);
        s->dep_sch = calloc((size_t)n + 1, sizeof *s->dep_sch);
        if (!s->dep_req || !s->dep_sch) { cerr(S, "out of memory"); return NULL; }
        size_t old = cpush(S, "dependencies");
        for (const cJSON *e = v->child; e; e = e->next) {
            if (cJSON_IsArray(e)) { s->dep_req[nr].name = db_strdup(e->string); s->dep_req[nr].arr = e; nr++; s->ndep_req = nr; }
            else {
                size_t o2 = cpush(S, e->string ? e->string : "");
                s->dep_sch[ns].name = db_strdup(e->string);
                s->dep_sch[ns].s = build(S, e, s->base, dialect, 0);
                ns++; s->ndep_sch = ns;
                cpop(S, o2);
                if (!s->dep_sch[ns - 1].s) { cpop(S, old); return NULL; }
            }
        }
        cpop(S, old);
    }
    if (cJSON_IsObject(dr)) {
        int n = cJSON_GetArraySize(dr), k = 0;
        s->dep_req = calloc((size_t)n + 1, sizeof *s->dep_req);
        if (!s->dep_req) { cerr(S, "out of memory"); return NULL; }
        for (const cJSON *e = dr->child; e; e = e->next)
            if (cJSON_IsArray(e)) { s->dep_req[k].name = db_strdup(e->string); s->dep_req[k].arr = e; k++; }
        s->ndep_req = k;
    }
    if (ds && !(s->dep_sch = sub_map(S, ds, "dependentSchemas", s, &s->ndep_sch, 0))) return NULL;
    if (S->failed) return NULL;

    /* applicators */
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "allOf")) && !(s->all_of = sub_array(S, v, "allOf", s, &s->nall))) return NULL;
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "anyOf")) && !(s->any_of = sub_array(S, v, "anyOf", s, &s->nany))) return NULL;
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "oneOf")) && !(s->one_of = sub_array(S, v, "oneOf", s, &s->none))) return NULL;
    if ((v = cJSON_GetObjectItemCaseSensitive(js, "not")) && !(s->not_ = sub(S, v, "not", s))) return NULL;
    if (dialect >= 7) {
        if ((v = cJSON_GetObjectItemCaseSensitive(js, "if")) && !(s->if_ = sub(S, v, "if", s))) return NULL;
        if ((v = cJSON_GetObjectItemCaseSensitive(js, "then")) && !(s->then_ = sub(S, v, "then", s))) return NULL;
        if ((v = cJSON_GetObjectItemCaseSensitive(js, "else")) && !(s->else_ = sub(S, v, "else", s))) return NULL;
    }
    if (dialect >= 2019) {
        if ((v = cJSON_GetObjectItemCaseSensitive(js, "unevaluatedProperties")) && !(s->uneval_props = sub(S, v, "unevaluatedProperties", s))) return NULL;
        if ((v = cJSON_GetObjectItemCaseSensitive(js, "unevaluatedItems")) && !(s->uneval_items = sub(S, v, "unevaluatedItems", s))) return NULL;
    }
    /* draft-3 keywords nobody enforces here */
    if (cJSON_GetObjectItemCaseSensitive(js, "disallow")) unsup_add(S, "disallow");
    if (cJSON_GetObjectItemCaseSensitive(js, "extends")) unsup_add(S, "extends");
    if (cJSON_GetObjectItemCaseSensitive(js, "divisibleBy")) unsup_add(S, "divisibleBy");
    return s;
}

/* Load (through the resolver) the document at docuri unless known. */
static int load_doc(db_jsonschema *S, const char *docuri, int dialect) {
    if (db_js_reg_find(S, docuri, 0)) return 0;
    for (int i = 0; i < S->ndocs; i++)
        if (S->doc_uris[i] && strcmp(S->doc_uris[i], docuri) == 0) return 0;
    if (!S->opts.resolver) return cerr(S, "cannot resolve '%s': no resolver for remote references", docuri);
    char rerr[256] = "";
    char *text = S->opts.resolver(S->opts.resolver_user, docuri, rerr, sizeof rerr);
    if (!text) return cerr(S, "cannot load '%s': %s", docuri, rerr[0] ? rerr : "resolver failed");
    cJSON *doc = cJSON_Parse(text);
    free(text);
    if (!doc) return cerr(S, "'%s' is not valid JSON", docuri);
    cJSON **d = realloc(S->docs, (size_t)(S->ndocs + 1) * sizeof *d);
    char **u = realloc(S->doc_uris, (size_t)(S->ndocs + 1) * sizeof *u);
    if (d) S->docs = d;
    if (u) S->doc_uris = u;
    if (!d || !u) { cJSON_Delete(doc); return cerr(S, "out of memory"); }
    S->docs[S->ndocs] = doc;
    S->doc_uris[S->ndocs] = db_strdup(docuri);
    S->ndocs++;
    size_t old = S->pathlen;
    S->pathlen = 0; S->path[0] = 0;
    snode *r = build(S, doc, docuri, dialect, 1);
    cpop(S, old);
    if (!r) return -1;
    if (reg_add(S, docuri, r, doc, 0) < 0) return cerr(S, "out of memory");
    return 0;
}

/* Resolve an absolute URI (with fragment) to a compiled node. */
static snode *resolve_ref(db_jsonschema *S, const char *uri, int dialect) {
    const char *h = strchr(uri, '#');
    char *docuri = h ? db_strndup(uri, (size_t)(h - uri)) : db_strdup(uri);
    char *frag = h ? db_js_pct_decode(h + 1, strlen(h + 1)) : db_strdup("");
    snode *res = NULL;
    if (!docuri || !frag) { cerr(S, "out of memory"); goto done; }
    if (!frag[0] || frag[0] == '/') {
        const regentry *e = db_js_reg_find(S, docuri, 0);
        if (!e) {
            if (load_doc(S, docuri, dialect) < 0) goto done;
            e = db_js_reg_find(S, docuri, 0);
            if (!e) { cerr(S, "cannot resolve '%s'", uri); goto done; }
        }
        const cJSON *cur = e->js;
        snode *last = e->s;
        const char *p = frag;
        while (*p == '/') {
            p++;
            const char *q = strchr(p, '/');
            size_t n = q ? (size_t)(q - p) : strlen(p);
            char *tok = malloc(n + 1);
            if (!tok) { cerr(S, "out of memory"); goto done; }
            size_t o = 0;
            for (size_t i = 0; i < n; i++) {
                if (p[i] == '~' && i + 1 < n && p[i + 1] == '1') { tok[o++] = '/'; i++; }
                else if (p[i] == '~' && i + 1 < n && p[i + 1] == '0') { tok[o++] = '~'; i++; }
                else tok[o++] = p[i];
            }
            tok[o] = 0;
            const cJSON *nx = NULL;
            if (cJSON_IsObject(cur)) nx = cJSON_GetObjectItemCaseSensitive(cur, tok);
            else if (cJSON_IsArray(cur)) {
                char *end;
                long idx = strtol(tok, &end, 10);
                if (*tok && !*end && idx >= 0) nx = cJSON_GetArrayItem(cur, (int)idx);
            }
            free(tok);
            if (!nx) { cerr(S, "cannot resolve '%s': no such location", uri); goto done; }
            cur = nx;
            snode *m = memo_get(S, cur);
            if (m) last = m;
            p += n;
        }
        res = memo_get(S, cur);
        if (!res) {
            size_t old = S->pathlen;
            res = build(S, cur, last ? last->base : docuri, last ? last->dialect : dialect, 0);
            cpop(S, old);
        }
    } else {
        db_str u; db_str_init(&u);
        db_str_printf(&u, "%s#%s", docuri, frag);
        char *us = db_str_take(&u);
        if (!us) { cerr(S, "out of memory"); goto done; }
        const regentry *e = db_js_reg_find(S, us, 0);
        if (!e && load_doc(S, docuri, dialect) == 0) e = db_js_reg_find(S, us, 0);
        free(us);
        if (!e) { if (!S->failed) cerr(S, "cannot resolve '%s'", uri); goto done; }
        res = e->s;
    }
done:
    free(docuri);
    free(frag);
    return res;
}

static int link_refs(db_jsonschema *S) {
    /* nodes may be added while resolving (remote documents, pointer targets) */
    for (int i = 0; i < S->nnodes && !S->failed; i++) {
        snode *s = S->nodes[i];
        if (s->ref_uri && !s->ref) {
            S->pathlen = 0; S->path[0] = 0;
            s->ref = resolve_ref(S, s->ref_uri, s->dialect);
            if (!s->ref) return -1;
        }
        if (s->dynref_uri && !s->dynref) {
            s->dynref = resolve_ref(S, s->dynref_uri, s->dialect);
            if (!s->dynref) return -1;
            const char *h = strchr(s->dynref_uri, '#');
            if (h && h[1] && h[1] != '/' && s->dynref->dyn_anchor && strcmp(s->dynref->dyn_anchor, h + 1) == 0)
                s->dynref_name = db_strdup(h + 1);
        }
    }
    return S->failed ? -1 : 0;
}

static void named_free(named *v, int n) {
    if (!v) return;
    for (int i = 0; i < n; i++) { free(v[i].name); db_regex_free(v[i].re); }
    free(v);
}

void db_jsonschema_free(db_jsonschema *S) {
    if (!S) return;
    for (int i = 0; i < S->nnodes; i++) {
        snode *s = S->nodes[i];
        free(s->base); free(s->dyn_anchor);
        db_regex_free(s->pattern); free(s->pattern_err);
        free(s->prefix); free(s->all_of); free(s->any_of); free(s->one_of);
        named_free(s->props, s->nprops);
        named_free(s->pprops, s->npprops);
        named_free(s->dep_req, s->ndep_req);
        named_free(s->dep_sch, s->ndep_sch);
        free(s->ref_uri); free(s->dynref_uri); free(s->dynref_name);
        free(s);
    }
    free(S->nodes);
    for (int i = 0; i < S->nreg; i++) free(S->reg[i].uri);
    free(S->reg);
    free(S->map);
    for (int i = 0; i < S->ndocs; i++) { cJSON_Delete(S->docs[i]); free(S->doc_uris[i]); }
    free(S->docs);
    free(S->doc_uris);
    free(S);
}

int db_jsonschema_compile_opts(const cJSON *schema, const db_jsonschema_opts *opts,
                               db_jsonschema **out, char *err, size_t errlen) {
    *out = NULL;
    if (!schema) return db_errf(err, errlen, "schema: NULL");
    db_jsonschema *S = calloc(1, sizeof *S);
    if (!S) return db_errf(err, errlen, "schema: out of memory");
    if (opts) S->opts = *opts;
    S->format_assert = S->opts.format_assert;
    S->err = err; S->errlen = errlen;
    int dialect = S->opts.draft ? S->opts.draft : 2020;
    if (dialect != 4 && dialect != 6 && dialect != 7 && dialect != 2019 && dialect != 2020) {
        free(S);
        return db_errf(err, errlen, "schema: unknown draft %d", dialect);
    }
    const char *base = S->opts.base_uri ? S->opts.base_uri : "";
    S->docs = malloc(sizeof *S->docs);
    S->doc_uris = malloc(sizeof *S->doc_uris);
    if (!S->docs || !S->doc_uris) { db_jsonschema_free(S); return db_errf(err, errlen, "schema: out of memory"); }
    S->docs[0] = cJSON_Duplicate(schema, 1);
    S->doc_uris[0] = strip_frag(base);
    S->ndocs = 1;
    if (!S->docs[0] || !S->doc_uris[0]) { db_jsonschema_free(S); return db_errf(err, errlen, "schema: out of memory"); }
    S->root = build(S, S->docs[0], S->doc_uris[0], dialect, 1);
    if (S->root && reg_add(S, S->doc_uris[0], S->root, S->docs[0], 0) < 0) cerr(S, "out of memory");
    if (!S->root || S->failed || link_refs(S) < 0) {
        if (!S->failed) cerr(S, "compile failed");
        db_jsonschema_free(S);
        return -1;
    }
    S->err = NULL; S->errlen = 0;
    *out = S;
    return 0;
}

int db_jsonschema_compile_cjson(const cJSON *schema, const char *base_uri,
                                db_jsonschema **out, char *err, size_t errlen) {
    db_jsonschema_opts o;
    memset(&o, 0, sizeof o);
    o.base_uri = base_uri;
    return db_jsonschema_compile_opts(schema, &o, out, err, errlen);
}

int db_jsonschema_compile(const char *schema_json, const char *base_uri,
                          db_jsonschema **out, char *err, size_t errlen) {
    *out = NULL;
    if (!schema_json) return db_errf(err, errlen, "schema: NULL text");
    cJSON *js = cJSON_Parse(schema_json);
    if (!js && db_json_too_deep(schema_json, strlen(schema_json), NULL, NULL))   /* S7 */
        return db_errf(err, errlen, "schema%s%s: JSON nested deeper than %d levels", base_uri ? " " : "",
                       base_uri ? base_uri : "", db_json_nesting_limit());
    if (!js) return db_errf(err, errlen, "schema%s%s: not valid JSON", base_uri ? " " : "", base_uri ? base_uri : "");
    int r = db_jsonschema_compile_cjson(js, base_uri, out, err, errlen);
    cJSON_Delete(js);
    return r;
}

int db_jsonschema_unsupported(const db_jsonschema *S, const char **names, int max) {
    for (int i = 0; i < S->nunsup && i < max; i++) names[i] = S->unsupported[i];
    return S->nunsup;
}

int db_jsonschema_draft(const db_jsonschema *S) { return S->root ? S->root->dialect : 0; }

char *db_jsonschema_resolve_dir(void *user, const char *uri, char *err, size_t errlen) {
    const db_jsonschema_dirmap *m = user;
    for (; m && m->prefix; m++) {
        size_t n = strlen(m->prefix);
        if (strncmp(uri, m->prefix, n) != 0) continue;
        const char *rest = uri + n;
        if (strstr(rest, "..")) { db_errf(err, errlen, "%s: refusing '..'", uri); return NULL; }
        char *path = db_path_join(m->dir, rest);
        if (!path) { db_errf(err, errlen, "out of memory"); return NULL; }
        size_t len;
        char *text = db_read_file(path, &len, err, errlen);
        free(path);
        return text;
    }
    db_errf(err, errlen, "%s: no mapping for this URI", uri);
    return NULL;
}
