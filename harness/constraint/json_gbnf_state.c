/* json_gbnf_state.c — the converter's state: a string map, the first
 * failure (unsupported or error) and its message, JSON-pointer paths and
 * anchors of every schema node, local $ref resolution, and the named rules
 * of the grammar being written; see json_gbnf_int.h. */
#include "json_gbnf_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
