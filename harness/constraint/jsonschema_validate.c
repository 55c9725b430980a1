/* jsonschema_validate.c — the JSON Schema validator's interpreter: an
 * instance is checked against the compiled snodes (jsonschema_int.h), with
 * unevaluatedProperties/unevaluatedItems annotations tracked as one mark per
 * member of the instance being evaluated; db_jsonschema_validate*. */
#include "jsonschema_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/jsonlimits.h"
#include "harness/util/utf8.h"
#include "harness/util/util.h"

/* ------------------------------------------------------------------ */
/* Validation                                                           */

typedef struct vctx {
    const db_jsonschema *S;
    char *why; size_t whylen;
    int why_set;
    int quiet;
    int depth;
    char path[2048]; size_t pathlen;
    const char *scope[256]; int nscope;   /* dynamic scope: resource base URIs */
} vctx;

static void vfail(vctx *c, const char *kw) {
    if (c->quiet || c->why_set) return;
    c->why_set = 1;
    if (c->why && c->whylen) snprintf(c->why, c->whylen, "%s: %s", c->pathlen ? c->path : "(root)", kw);
}

static int verr(vctx *c, const char *fmt, const char *arg) {
    if (c->why && c->whylen) {
        char msg[400];
        snprintf(msg, sizeof msg, fmt, arg);
        snprintf(c->why, c->whylen, "%s: %s", c->pathlen ? c->path : "(root)", msg);
    }
    c->why_set = 1;
    return -1;
}

static size_t vpush(vctx *c, const char *seg) {
    size_t old = c->pathlen;
    if (c->pathlen + 2 * strlen(seg) + 2 < sizeof c->path) {
        c->path[c->pathlen++] = '/';
        for (const char *p = seg; *p; p++) {
            if (*p == '~') { c->path[c->pathlen++] = '~'; c->path[c->pathlen++] = '0'; }
            else if (*p == '/') { c->path[c->pathlen++] = '~'; c->path[c->pathlen++] = '1'; }
            else c->path[c->pathlen++] = *p;
        }
        c->path[c->pathlen] = 0;
    }
    return old;
}
static size_t vpushi(vctx *c, int i) { char b[24]; snprintf(b, sizeof b, "%d", i); return vpush(c, b); }
static void vpop(vctx *c, size_t old) { c->pathlen = old; c->path[old] = 0; }

static int json_eq(const cJSON *a, const cJSON *b) {
    int ta = a->type & 0xFF, tb = b->type & 0xFF;
    if (ta != tb) return 0;
    switch (ta) {
    case cJSON_False: case cJSON_True: case cJSON_NULL: return 1;
    case cJSON_Number: return a->valuedouble == b->valuedouble;
    case cJSON_String: return strcmp(a->valuestring, b->valuestring) == 0;
    case cJSON_Array: {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!json_eq(x, y)) return 0;
        return !x && !y;
    }
    case cJSON_Object: {
        int na = 0, nb = 0;
        for (const cJSON *x = a->child; x; x = x->next) na++;
        for (const cJSON *y = b->child; y; y = y->next) nb++;
        if (na != nb) return 0;
        for (const cJSON *x = a->child; x; x = x->next) {
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
            if (!y || !json_eq(x, y)) return 0;
        }
        return 1;
    }
    }
    return 0;
}

static int is_integer(const cJSON *x) {
    return cJSON_IsNumber(x) && isfinite(x->valuedouble) && floor(x->valuedouble) == x->valuedouble;
}

static int type_ok(unsigned types, const cJSON *x) {
    if ((types & T_NULL) && cJSON_IsNull(x)) return 1;
    if ((types & T_BOOL) && cJSON_IsBool(x)) return 1;
    if ((types & T_OBJ) && cJSON_IsObject(x)) return 1;
    if ((types & T_ARR) && cJSON_IsArray(x)) return 1;
    if ((types & T_NUM) && cJSON_IsNumber(x)) return 1;
    if ((types & T_STR) && cJSON_IsString(x)) return 1;
    if ((types & T_INT) && is_integer(x)) return 1;
    return 0;
}

static int multiple_of(double x, double m) {
    double q = x / m;
    if (!isfinite(q)) return 0;
    if (floor(q) == q) return 1;
    double r = nearbyint(q);
    return fabs(q - r) <= 1e-9 * fmax(1.0, fabs(q)) && fabs(x - r * m) <= 1e-9 * fmax(fabs(x), fabs(m));
}

/* evaluated-marks for the members of the current instance (object or array) */
typedef struct evs { unsigned char *m; int n; } evs;

static int v(vctx *c, const snode *s, const cJSON *x, evs *ev);

static int ev_new(evs *e, int n) {
    e->n = n;
    e->m = calloc((size_t)(n ? n : 1), 1);
    return e->m ? 0 : -1;
}
static void ev_merge(evs *dst, const evs *src) {
    if (!dst || !src || !src->m) return;
    for (int i = 0; i < dst->n && i < src->n; i++) dst->m[i] |= src->m[i];
}

static int children(const cJSON *x) {
    int n = 0;
    for (const cJSON *e = x->child; e; e = e->next) n++;
    return n;
}

/* Validate sub with a private annotation set merged into ev when valid (for
 * branches whose failure does not fail the parent). */
static int v_branch(vctx *c, const snode *sub, const cJSON *x, evs *ev) {
    if (!ev) return v(c, sub, x, NULL);
    evs t;
    if (ev_new(&t, ev->n) < 0) return verr(c, "%s", "out of memory");
    int r = v(c, sub, x, &t);
    if (r == 1) ev_merge(ev, &t);
    free(t.m);
    return r;
}

#define CHK(expr) do { int _r = (expr); if (_r < 0) { ret = -1; goto done; } if (_r == 0) { ret = 0; goto done; } } while (0)
#define FAIL(kw) do { vfail(c, kw); ret = 0; goto done; } while (0)

static int v(vctx *c, const snode *s, const cJSON *x, evs *ev) {
    if (s->boolean >= 0) {
        if (!s->boolean) vfail(c, "false schema");
        return s->boolean;
    }
    if (c->depth > 2000) return verr(c, "%s", "schema recursion too deep");
    if (s->ref_only) {
        c->depth++;
        int r = v(c, s->ref, x, ev);
        c->depth--;
        return r;
    }
    int ret = 1;
    int pushed_scope = 0;
    evs local = { NULL, 0 };
    evs *me = ev;
    int is_obj = cJSON_IsObject(x), is_arr = cJSON_IsArray(x);
    if ((is_obj && s->uneval_props) || (is_arr && s->uneval_items)) {
        if (ev_new(&local, children(x)) < 0) return verr(c, "%s", "out of memory");
        me = &local;
    }
    if (!is_obj && !is_arr) me = NULL;
    c->depth++;
    /* dynamic scope: entering a node of another resource (through $ref or a $id) */
    if ((c->nscope == 0 || strcmp(c->scope[c->nscope - 1], s->base) != 0) &&
        c->nscope < (int)(sizeof c->scope / sizeof c->scope[0])) {
        c->scope[c->nscope++] = s->base;
        pushed_scope = 1;
    }

    if (s->types && !type_ok(s->types, x)) FAIL("type");
    if (s->enum_) {
        int hit = 0;
        for (const cJSON *e = s->enum_->child; e && !hit; e = e->next) hit = json_eq(e, x);
        if (!hit) FAIL("enum");
    }
    if (s->const_ && !json_eq(s->const_, x)) FAIL("const");

    if (cJSON_IsNumber(x)) {
        double d = x->valuedouble;
        if (s->has_mo && !multiple_of(d, s->mo)) FAIL("multipleOf");
        if (s->has_max && !(d <= s->max)) FAIL("maximum");
        if (s->has_exmax && !(d < s->exmax)) FAIL("exclusiveMaximum");
        if (s->has_min && !(d >= s->min)) FAIL("minimum");
        if (s->has_exmin && !(d > s->exmin)) FAIL("exclusiveMinimum");
    } else if (cJSON_IsString(x)) {
        if (s->max_len >= 0 || s->min_len >= 0) {
            long len = db_utf8_length(x->valuestring);
            if (s->max_len >= 0 && len > s->max_len) FAIL("maxLength");
            if (s->min_len >= 0 && len < s->min_len) FAIL("minLength");
        }
        if (s->pattern_err) { ret = verr(c, "pattern unsupported: %s", s->pattern_err); goto done; }
        if (s->pattern) {
            int r = db_regex_exec(s->pattern, x->valuestring);
            if (r < 0) { ret = verr(c, "pattern /%s/: regex step budget exceeded", db_regex_source(s->pattern)); goto done; }
            if (!r) FAIL("pattern");
        }
        if (s->format && c->S->format_assert && !db_js_format_ok(s->format, x->valuestring)) FAIL("format");
    } else if (is_arr) {
        int n = children(x);
        if (s->max_items >= 0 && n > s->max_items) FAIL("maxItems");
        if (s->min_items >= 0 && n < s->min_items) FAIL("minItems");
        if (s->unique) {
            for (const cJSON *a = x->child; a; a = a->next)
                for (const cJSON *b = a->next; b; b = b->next)
                    if (json_eq(a, b)) FAIL("uniqueItems");
        }
        int i = 0;
        for (const cJSON *e = x->child; e; e = e->next, i++) {
            const snode *is = NULL;
            if (i < s->nprefix) is = s->prefix[i];
            else if (s->nprefix && s->additional_items) is = s->additional_items;
            else if (s->items) is = s->items;
            if (!is) continue;
            size_t old = vpushi(c, i);
            int r = v(c, is, e, NULL);
            vpop(c, old);
            if (r < 0) { ret = -1; goto done; }
            if (!r) FAIL(i < s->nprefix ? (s->dialect >= 2020 ? "prefixItems" : "items") :
                         (s->nprefix && s->additional_items) ? "additionalItems" : "items");
            if (me) me->m[i] = 1;
        }
        if (s->contains) {
            long cnt = 0;
            i = 0;
            c->quiet++;
            for (const cJSON *e = x->child; e; e = e->next, i++) {
                int r = v(c, s->contains, e, NULL);
                if (r < 0) { c->quiet--; ret = -1; goto done; }
                if (r) { cnt++; if (me) me->m[i] = 1; }
                else continue;
                if (!me && s->max_contains < 0 && cnt >= s->min_contains) break;
            }
            c->quiet--;
            long mn = s->dialect >= 2019 ? s->min_contains : 1;
            if (cnt < mn) FAIL(s->dialect >= 2019 && s->min_contains != 1 ? "minContains" : "contains");
            if (s->dialect >= 2019 && s->max_contains >= 0 && cnt > s->max_contains) FAIL("maxContains");
        }
    } else if (is_obj) {
        int n = children(x);
        if (s->max_props >= 0 && n > s->max_props) FAIL("maxProperties");
        if (s->min_props >= 0 && n < s->min_props) FAIL("minProperties");
        if (s->required) {
            for (const cJSON *r = s->required->child; r; r = r->next)
                if (cJSON_IsString(r) && !cJSON_GetObjectItemCaseSensitive(x, r->valuestring)) {
                    size_t old = vpush(c, r->valuestring);
                    vfail(c, "required");
                    vpop(c, old);
                    ret = 0; goto done;
                }
        }
        for (int k = 0; k < s->ndep_req; k++) {
            if (!cJSON_GetObjectItemCaseSensitive(x, s->dep_req[k].name)) continue;
            for (const cJSON *r = s->dep_req[k].arr->child; r; r = r->next)
                if (cJSON_IsString(r) && !cJSON_GetObjectItemCaseSensitive(x, r->valuestring))
                    FAIL(s->dialect >= 2019 ? "dependentRequired" : "dependencies");
        }
        int i = 0;
        for (const cJSON *e = x->child; e; e = e->next, i++) {
            const char *key = e->string ? e->string : "";
            int matched = 0;
            size_t old = vpush(c, key);
            for (int k = 0; k < s->nprops; k++) {
                if (strcmp(s->props[k].name, key) != 0) continue;
                matched = 1;
                int r = v(c, s->props[k].s, e, NULL);
                if (r <= 0) { vpop(c, old); if (r < 0) { ret = -1; goto done; } FAIL("properties"); }
            }
            for (int k = 0; k < s->npprops; k++) {
                if (!s->pprops[k].re) { vpop(c, old); ret = verr(c, "patternProperties regex unsupported: /%s/", s->pprops[k].name); goto done; }
                int m = db_regex_exec(s->pprops[k].re, key);
                if (m < 0) { vpop(c, old); ret = verr(c, "patternProperties /%s/: regex step budget exceeded", s->pprops[k].name); goto done; }
                if (!m) continue;
                matched = 1;
                int r = v(c, s->pprops[k].s, e, NULL);
                if (r <= 0) { vpop(c, old); if (r < 0) { ret = -1; goto done; } FAIL("patternProperties"); }
            }
            if (!matched && s->additional_props) {
                matched = 1;
                int r = v(c, s->additional_props, e, NULL);
                if (r <= 0) { vpop(c, old); if (r < 0) { ret = -1; goto done; } FAIL("additionalProperties"); }
            }
            if (s->property_names) {
                cJSON tmp;
                memset(&tmp, 0, sizeof tmp);
                tmp.type = cJSON_String;
                tmp.valuestring = (char *)key;
                int r = v(c, s->property_names, &tmp, NULL);
                if (r <= 0) { vpop(c, old); if (r < 0) { ret = -1; goto done; } FAIL("propertyNames"); }
            }
            vpop(c, old);
            if (matched && me) me->m[i] = 1;
        }
        for (int k = 0; k < s->ndep_sch; k++) {
            if (!cJSON_GetObjectItemCaseSensitive(x, s->dep_sch[k].name)) continue;
            CHK(v(c, s->dep_sch[k].s, x, me));
        }
    }

    /* in-place applicators */
    if (s->ref) CHK(v(c, s->ref, x, me));
    if (s->dynref) {
        const snode *t = s->dynref;
        if (s->dynref_name) {
            for (int k = 0; k < c->nscope; k++) {
                char u[1024];
                snprintf(u, sizeof u, "%s#%s", c->scope[k], s->dynref_name);
                const regentry *e = db_js_reg_find(c->S, u, 1);
                if (e) { t = e->s; break; }
            }
        }
        CHK(v(c, t, x, me));
    }
    for (int k = 0; k < s->nall; k++) CHK(v(c, s->all_of[k], x, me));
    if (s->nany) {
        int ok = 0;
        c->quiet++;
        for (int k = 0; k < s->nany; k++) {
            int r = v_branch(c, s->any_of[k], x, me);
            if (r < 0) { c->quiet--; ret = -1; goto done; }
            if (r) { ok = 1; if (!me) break; }
        }
        c->quiet--;
        if (!ok) FAIL("anyOf");
    }
    if (s->none) {
        int cnt = 0;
        evs t = { NULL, 0 };
        c->quiet++;
        for (int k = 0; k < s->none; k++) {
            evs tk = { NULL, 0 };
            if (me && ev_new(&tk, me->n) < 0) { c->quiet--; free(t.m); ret = verr(c, "%s", "out of memory"); goto done; }
            int r = v(c, s->one_of[k], x, me ? &tk : NULL);
            if (r < 0) { c->quiet--; free(tk.m); free(t.m); ret = -1; goto done; }
            if (r) { cnt++; if (!t.m) { t = tk; tk.m = NULL; } }
            free(tk.m);
            if (cnt > 1) break;
        }
        c->quiet--;
        if (cnt == 1 && me) ev_merge(me, &t);
        free(t.m);
        if (cnt != 1) FAIL("oneOf");
    }
    if (s->not_) {
        c->quiet++;
        int r = v(c, s->not_, x, NULL);
        c->quiet--;
        if (r < 0) { ret = -1; goto done; }
        if (r) FAIL("not");
    }
    if (s->if_) {
        c->quiet++;
        int r = v_branch(c, s->if_, x, me);
        c->quiet--;
        if (r < 0) { ret = -1; goto done; }
        if (r && s->then_) CHK(v(c, s->then_, x, me));
        if (!r && s->else_) CHK(v(c, s->else_, x, me));
    }

    /* unevaluated*: after every sibling produced its annotations */
    if (is_obj && s->uneval_props) {
        int i = 0;
        for (const cJSON *e = x->child; e; e = e->next, i++) {
            if (me->m[i]) continue;
            size_t old = vpush(c, e->string ? e->string : "");
            int r = v(c, s->uneval_props, e, NULL);
            vpop(c, old);
            if (r < 0) { ret = -1; goto done; }
            if (!r) FAIL("unevaluatedProperties");
            me->m[i] = 1;
        }
    }
    if (is_arr && s->uneval_items) {
        int i = 0;
        for (const cJSON *e = x->child; e; e = e->next, i++) {
            if (me->m[i]) continue;
            size_t old = vpushi(c, i);
            int r = v(c, s->uneval_items, e, NULL);
            vpop(c, old);
            if (r < 0) { ret = -1; goto done; }
            if (!r) FAIL("unevaluatedItems");
            me->m[i] = 1;
        }
    }
done:
    if (local.m) {
        if (ret == 1) ev_merge(ev, &local);
        free(local.m);
    }
    if (pushed_scope) c->nscope--;
    c->depth--;
    return ret;
}

int db_jsonschema_validate(const db_jsonschema *S, const cJSON *instance, char *why, size_t whylen) {
    if (why && whylen) why[0] = 0;
    if (!S || !instance) {
        if (why && whylen) snprintf(why, whylen, "validate: NULL %s", S ? "instance" : "schema");
        return -1;
    }
    vctx *c = calloc(1, sizeof *c);
    if (!c) { if (why && whylen) snprintf(why, whylen, "validate: out of memory"); return -1; }
    c->S = S; c->why = why; c->whylen = whylen;
    int r = v(c, S->root, instance, NULL);
    free(c);
    return r;
}

int db_jsonschema_validate_text(const db_jsonschema *S, const char *json, char *why, size_t whylen) {
    cJSON *x = json ? cJSON_Parse(json) : NULL;
    if (!x) {
        if (why && whylen) snprintf(why, whylen, "instance: not valid JSON");
        return -1;
    }
    int r = db_jsonschema_validate(S, x, why, whylen);
    cJSON_Delete(x);
    return r;
}
