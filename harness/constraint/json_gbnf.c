/* json_gbnf.c — JSON Schema → GBNF (llama.cpp grammar syntax); see json_gbnf.h.
 *
 * Every subschema conjunction (a list of schema nodes that must all hold,
 * plus the anyOf/oneOf groups already split) becomes one named rule, so $ref
 * recursion turns into recursive rules.  This file: the converter state
 * (rules, names, JSON-pointer and anchor paths, local $ref resolution), the
 * anyOf/oneOf split, the conjunction walk and the entry points; the other
 * json_gbnf_*.c files are listed in json_gbnf_int.h.
 */
#include "json_gbnf_int.h"

#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/jsonlimits.h"
#include "jsonschema.h"

static int hexv(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Converter state.                                                    */

static size_t shash(const char *s) { size_t h = 1469598103934665603ull; for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull; return h; }

int db_jg_smap_get(const smap *m, const char *k) {
    if (!m->cap) return -1;
    for (size_t i = shash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->k[i]) return -1;
        if (strcmp(m->k[i], k) == 0) return m->v[i];
    }
}

int db_jg_smap_put(smap *m, const char *k, int v) {
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        char **nk = calloc(cap, sizeof *nk);
        int *nv = calloc(cap, sizeof *nv);
        if (!nk || !nv) { free(nk); free(nv); return -1; }
        for (size_t i = 0; i < m->cap; i++) if (m->k[i]) {
            size_t j = shash(m->k[i]) & (cap - 1);
            while (nk[j]) j = (j + 1) & (cap - 1);
            nk[j] = m->k[i]; nv[j] = m->v[i];
        }
        free(m->k); free(m->v);
        m->k = nk; m->v = nv; m->cap = cap;
    }
    size_t i = shash(k) & (m->cap - 1);
    while (m->k[i] && strcmp(m->k[i], k) != 0) i = (i + 1) & (m->cap - 1);
    if (!m->k[i]) { if (!(m->k[i] = db_strdup(k))) return -1; m->n++; }
    m->v[i] = v;
    return 0;
}

void db_jg_smap_free(smap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->k[i]);
    free(m->k); free(m->v);
    memset(m, 0, sizeof *m);
}

int db_jg_gfail(gb *g, int status, const char *fmt, ...) {
    if (g->status == 0) {
        g->status = status;
        if (g->why && g->whylen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(g->why, g->whylen, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

const char *db_jg_path_of(gb *g, const cJSON *node) {
    char key[32];
    snprintf(key, sizeof key, "%p", (const void *)node);
    int i = db_jg_smap_get(&g->paths, key);
    return i < 0 ? "?" : g->pathv[i];
}

const char *db_jg_pshow(gb *g, const cJSON *node) {
    const char *p = db_jg_path_of(g, node);
    return *p ? p : "(root)";
}

/* index every schema-ish node of the document by its JSON pointer */
int db_jg_index_paths(gb *g, const cJSON *node, const char *path) {
    char key[32];
    snprintf(key, sizeof key, "%p", (const void *)node);
    if (g->npath == g->cappath) {
        int cap = g->cappath ? g->cappath * 2 : 256;
        char **v = realloc(g->pathv, (size_t)cap * sizeof *v);
        if (!v) return OOM(g);
        g->pathv = v; g->cappath = cap;
    }
    if (!(g->pathv[g->npath] = db_strdup(path))) return OOM(g);
    if (db_jg_smap_put(&g->paths, key, g->npath) < 0) return OOM(g);
    g->npath++;
    if (cJSON_IsObject(node)) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(node, "$anchor");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(node, g->draft4 ? "id" : "$id");
        const char *anchor = cJSON_IsString(a) ? a->valuestring :
                             (cJSON_IsString(id) && id->valuestring[0] == '#' && id->valuestring[1]) ? id->valuestring + 1 : NULL;
        if (anchor && db_jg_smap_get(&g->anchors, anchor) < 0) {
            const cJSON **v = realloc(g->anchor_nodes, (size_t)(g->nanchor + 1) * sizeof *v);
            if (!v) return OOM(g);
            g->anchor_nodes = v;
            g->anchor_nodes[g->nanchor] = node;
            if (db_jg_smap_put(&g->anchors, anchor, g->nanchor++) < 0) return OOM(g);
        }
    }
    if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
        const cJSON *c;
        int i = 0;
        db_str p;
        db_str_init(&p);
        cJSON_ArrayForEach(c, node) {
            p.len = 0;
            if (db_str_append(&p, path) || db_str_append(&p, "/")) { db_str_free(&p); return OOM(g); }
            if (cJSON_IsObject(node)) {
                for (const char *s = c->string; *s; s++) {
                    int rc = *s == '~' ? db_str_append(&p, "~0") : *s == '/' ? db_str_append(&p, "~1") : db_str_appendn(&p, s, 1);
                    if (rc) { db_str_free(&p); return OOM(g); }
                }
            } else if (db_str_printf(&p, "%d", i)) { db_str_free(&p); return OOM(g); }
            i++;
            if (db_jg_index_paths(g, c, p.s) < 0) { db_str_free(&p); return -1; }
        }
        db_str_free(&p);
    }
    return 0;
}

/* Resolve a local $ref; NULL with g->status set when it cannot. */
const cJSON *db_jg_resolve_ref(gb *g, const cJSON *at, const char *ref) {
    const char *r = ref;
    if (g->root_id && *g->root_id && strncmp(r, g->root_id, strlen(g->root_id)) == 0 && r[strlen(g->root_id)] == '#')
        r += strlen(g->root_id);
    if (*r == 0) return g->root;
    if (*r != '#') { db_jg_gfail(g, 1, "remote $ref '%s' at %s", ref, db_jg_pshow(g, at)); return NULL; }
    r++;
    if (*r && *r != '/') {
        int i = db_jg_smap_get(&g->anchors, r);
        if (i < 0) { db_jg_gfail(g, 1, "unresolvable $ref '%s' at %s", ref, db_jg_pshow(g, at)); return NULL; }
        return g->anchor_nodes[i];
    }
    const cJSON *cur = g->root;
    while (*r == '/') {
        r++;
        db_str seg;
        db_str_init(&seg);
        while (*r && *r != '/') {
            char ch = *r++;
            if (ch == '%' && hexv((unsigned char)r[0]) >= 0 && hexv((unsigned char)r[1]) >= 0) {
                ch = (char)(hexv((unsigned char)r[0]) * 16 + hexv((unsigned char)r[1]));
                r += 2;
            }
            if (db_str_appendn(&seg, &ch, 1)) { db_str_free(&seg); OOM(g); return NULL; }
        }
        /* ~1 -> '/', ~0 -> '~' */
        char *s = seg.s ? seg.s : (char *)"";
        char *w = s;
        for (char *q = s; *q; q++) {
            if (q[0] == '~' && q[1] == '1') { *w++ = '/'; q++; }
            else if (q[0] == '~' && q[1] == '0') { *w++ = '~'; q++; }
            else *w++ = *q;
        }
        if (seg.s) *w = 0;
        const cJSON *next = NULL;
        if (cJSON_IsObject(cur)) next = cJSON_GetObjectItemCaseSensitive(cur, s);
        else if (cJSON_IsArray(cur)) {
            char *end;
            long k = strtol(s, &end, 10);
            if (*s && !*end && k >= 0) next = cJSON_GetArrayItem(cur, (int)k);
        }
        db_str_free(&seg);
        if (!next) { db_jg_gfail(g, 1, "unresolvable $ref '%s' at %s", ref, db_jg_pshow(g, at)); return NULL; }
        cur = next;
    }
    return cur;
}

/* a new rule named after base (made unique); returns its index */
int db_jg_add_rule(gb *g, const char *base, char *body_owned) {
    char name[64];
    int k = 0;
    size_t n = 0;
    for (const char *s = base; *s && n < 40; s++) {
        char c = *s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) name[n++] = c;
        else if (n && name[n - 1] != '-') name[n++] = '-';
    }
    while (n && name[n - 1] == '-') n--;
    if (!n) { memcpy(name, "schema", 6); n = 6; }
    name[n] = 0;
    char uniq[80];
    snprintf(uniq, sizeof uniq, "%s", name);
    while (db_jg_smap_get(&g->names, uniq) != -1)
        snprintf(uniq, sizeof uniq, "%s-%d", name, ++k);
    if (g->nrules == g->caprules) {
        int cap = g->caprules ? g->caprules * 2 : 64;
        rule *r = realloc(g->rules, (size_t)cap * sizeof *r);
        if (!r) { free(body_owned); return OOM(g); }
        g->rules = r; g->caprules = cap;
    }
    g->rules[g->nrules].name = db_strdup(uniq);
    g->rules[g->nrules].body = body_owned;
    if (!g->rules[g->nrules].name || db_jg_smap_put(&g->names, uniq, g->nrules) < 0) { free(body_owned); return OOM(g); }
    if (body_owned) g->bytes += strlen(body_owned) + strlen(uniq) + 6;
    if (g->bytes > MAX_GRAMMAR_BYTES) db_jg_gfail(g, 1, "grammar larger than %u bytes", MAX_GRAMMAR_BYTES);
    return g->nrules++;
}

const char *db_jg_rule_name(gb *g, int idx) { return g->rules[idx].name; }

void db_jg_set_body(gb *g, int idx, char *body) {
    free(g->rules[idx].body);
    g->rules[idx].body = body;
    if (body) g->bytes += strlen(body);
    if (g->bytes > MAX_GRAMMAR_BYTES) db_jg_gfail(g, 1, "grammar larger than %u bytes", MAX_GRAMMAR_BYTES);
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
        if ((hasa && db_jg_enum_candidates(a, &ca) < 0) || (hasb && db_jg_enum_candidates(b, &cb) < 0)) { free(ca.v); free(cb.v); return 0; }
        if (hasa && hasb) {
            for (int i = 0; i < ca.n && !overlap; i++)
                for (int j = 0; j < cb.n && !overlap; j++) overlap = cJSON_Compare(ca.v[i], cb.v[j], 1);
        } else {
            ptrs *c = hasa ? &ca : &cb;
            unsigned other = hasa ? b->types : a->types;
            for (int i = 0; i < c->n && !overlap; i++) {
                unsigned t = db_jg_value_type(c->v[i]);
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
        char *name = trivial ? db_jg_visit(g, &n2[n], 1, NULL, 0, NULL) : db_jg_visit(g, n2, n + 1, res2, nres + 1, NULL);
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
    if (s.enums.n || s.consts.n) { rc = db_jg_emit_enum(g, &s, nodes, n, o); db_jg_sh_free(&s); return rc; }
    if (s.nconstraints == 0) { db_jg_sh_free(&s); g->need |= B_VALUE; return db_str_append(o, "json-value") ? OOM(g) : 1; }
    int alts = 0;
    const cJSON *at = nodes[0];
    g->need |= B_SPACE;
    if (s.types & T_NULL) { db_str_append(o, "\"null\" space"); alts++; }
    if (s.types & T_BOOL) { db_str_append(o, alts++ ? " | (\"true\" | \"false\") space" : "(\"true\" | \"false\") space"); }
    for (int k = 0; k < 4; k++) {
        db_str b;
        db_str_init(&b);
        int r = k == 0 ? db_jg_emit_object(g, &s, at, hint, &b) : k == 1 ? db_jg_emit_array(g, &s, at, hint, &b)
              : k == 2 ? db_jg_emit_string(g, &s, at, &b) : db_jg_emit_number(g, &s, at, &b);
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

char *db_jg_visit(gb *g, const cJSON *const *nodes, int n, const cJSON *const *res, int nres, const char *hint) {
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
    db_jg_smap_free(&g->names); db_jg_smap_free(&g->memo_idx); db_jg_smap_free(&g->paths); db_jg_smap_free(&g->anchors);
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
    char *name = db_jg_visit(&g, rootv, 1, NULL, 0, "root");
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
