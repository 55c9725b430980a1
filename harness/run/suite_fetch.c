/* suite_fetch.c — the files a suite names by reference instead of by path
 * (a model's or dataset's "path" or "source": hf:[datasets/|spaces/]ORG/
 * REPO/PATH[@REVISION] or an http(s) URL): their form, checked while
 * suite.c parses the suite, and their resolution to files in decobench's
 * cache once the whole suite is valid, through harness/util/fetch.h, from
 * the cache only or downloading what is missing (db_suite_load_opts).
 * suite.c calls this file, never the other way.  The rules are in suite.h
 * and docs/suite-format.md ("References").
 */
#include "suite.h"
#include "suite_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness/util/fetch.h"
#include "harness/util/outfile.h"
#include "harness/util/sha256.h"
#include "harness/util/util.h"

void db_suite_load_opts_init(db_suite_load_opts *o) {
    memset(o, 0, sizeof *o);
    o->offline = -1;
}

bool db_suite_is_reference(const char *path) {
    /* as db_fetch_ref_parse reads them: hf: exactly, the URL schemes in any case */
    return path && (strncmp(path, "hf:", 3) == 0 || strncasecmp(path, "http://", 7) == 0 ||
                    strncasecmp(path, "https://", 8) == 0);
}

/* an error line stays one line whatever the reference held */
static void scrub(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

int db_suite_ref_check(const char *ref, char *err, size_t errlen) {
    db_fetch_ref r;
    char e2[600];
    int rc = 0;
    if (db_fetch_ref_parse(ref, &r, e2, sizeof e2) != 0) {
        rc = db_errf(err, errlen, "bad reference: %s", e2);
    } else if (r.kind == DB_REF_URL) {
        /* the reference is stored with every run (its configuration): no secrets in it */
        const char *host = strstr(r.url, "://");
        host = host ? host + 3 : r.url;
        size_t n = strcspn(host, "/?#");
        if (memchr(host, '@', n)) {
            char *shown = db_fetch_redact_url(r.url);
            rc = db_errf(err, errlen,
                         "bad reference: %s: a URL with credentials (user:password@) would be stored with the run; "
                         "not allowed in a suite",
                         shown ? shown : "URL");
            free(shown);
        }
    }
    db_fetch_ref_free(&r);
    if (rc != 0 && err && errlen) scrub(err);
    return rc;
}

void db_suite_canon_file_keys(cJSON *o, const char *file, const char *source, const char *sha256) {
    if (source) {
        cJSON_AddStringToObject(o, "path", source);   /* placeholders until resolved */
        cJSON_AddStringToObject(o, "source", source);
        cJSON_AddStringToObject(o, "revision", "");
        cJSON_AddStringToObject(o, "sha256", sha256 ? sha256 : "");
        return;
    }
    if (file) cJSON_AddStringToObject(o, "path", file);
    if (sha256) cJSON_AddStringToObject(o, "sha256", sha256);
}

static bool offline_env(void) {
    const char *v = getenv("HF_HUB_OFFLINE");   /* as fetch.c and huggingface_hub read it */
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
                 strcasecmp(v, "on") == 0);
}

/* Where ref would be cached (for messages); malloc'd, NULL when unknown. */
static char *cache_path(const db_suite_load_opts *o, const char *ref) {
    db_fetch_ref r;
    char e2[256];
    if (db_fetch_ref_parse(ref, &r, e2, sizeof e2) != 0) return NULL;
    char *rel = db_fetch_cache_rel(&r);
    db_fetch_ref_free(&r);
    char *dir = o->cache_dir && *o->cache_dir ? db_strdup(o->cache_dir) : db_cache_dir(e2, sizeof e2);
    char *full = rel && dir ? db_path_join(dir, rel) : NULL;
    free(rel);
    free(dir);
    return full;
}

/* One entry's reference: "ORIGIN: JPATH: REF: why" on failure. */
typedef struct where {
    const char *origin, *jpath, *ref;
    char *err;
    size_t errlen;
} where;

static int wfail(const where *w, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int wfail(const where *w, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* fetch's messages begin with the URL, which for a plain URL is the reference */
    size_t n = strlen(w->ref);
    bool named = strncmp(msg, w->ref, n) == 0 && msg[n] == ':';
    db_errf(w->err, w->errlen, "%s: %s: %s%s%s", w->origin, w->jpath, named ? "" : w->ref, named ? "" : ": ", msg);
    if (w->err && w->errlen) scrub(w->err);
    return -1;
}

/* Resolve w->ref: *sha256 in, the sha256 wanted (NULL: any), out, the
 * file's; *revision likewise; *file the cached file. */
static int resolve_one(const where *w, const db_suite_load_opts *o, char **file, char **sha256, char **revision) {
    db_fetch_opts fo;
    db_fetch_opts_init(&fo);
    fo.cache_dir = o->cache_dir;
    fo.sha256 = *sha256;
    fo.progress = o->progress;
    bool offline = o->offline < 0 ? offline_env() : o->offline != 0;
    db_fetch_info info;
    char *local = NULL, e2[1024];
    if (o->fetch && !offline) {
        fo.offline = 0;
        if (db_fetch(&fo, w->ref, &local, &info, e2, sizeof e2) != DB_FETCH_OK) return wfail(w, "%s", e2);
    } else {
        int hit = db_fetch_lookup(&fo, w->ref, &local, &info, e2, sizeof e2);
        if (hit < 0) return wfail(w, "%s", e2);
        if (hit == 0) {
            char *at = cache_path(o, w->ref);
            if (o->fetch)
                wfail(w, "not in the cache (%s) and offline mode is on (--offline or HF_HUB_OFFLINE)", at ? at : "?");
            else
                wfail(w, "not in the cache (%s); `decobench fetch %s` downloads it (so does `decobench run`)",
                      at ? at : "?", w->ref);
            free(at);
            return -1;
        }
        if (*sha256 && strcmp(*sha256, info.sha256) != 0) {
            wfail(w, "the cached file %s has sha256 %s, not the %s given%s", local, info.sha256, *sha256,
                  o->fetch ? ", and offline mode is on (--offline or HF_HUB_OFFLINE)" : "");
            free(local);
            return -1;
        }
    }
    int rc = 0;
    if (info.cached) {
        /* what the run measures is the file as it is now, not as it was fetched */
        char got[65];
        if (db_sha256_file(local, got, e2, sizeof e2) != 0)
            rc = wfail(w, "%s", e2);
        else if (strcmp(got, info.sha256) != 0)
            rc = wfail(w, "the cached file %s changed after it was fetched (sha256 %s, fetched as %s); delete it to "
                       "fetch it again", local, got, info.sha256);
    }
    if (rc == 0 && *revision && strcmp(*revision, info.revision) != 0)
        rc = wfail(w, "the cached file %s is at revision %s, not %s (\"revision\")", local,
                   info.revision[0] ? info.revision : "(none)", *revision);
    if (rc == 0) {
        free(*sha256);
        free(*revision);
        *sha256 = db_strdup(info.sha256);
        *revision = db_strdup(info.revision);
        *file = local;
        local = NULL;
        if (!*sha256 || !*revision || !*file) rc = wfail(w, "out of memory");
    }
    free(local);
    return rc;
}

/* The entry NAME of canon's SECTION gets its resolved file keys. */
static int complete_canon(cJSON *canon, const char *section, const char *name, const char *file, const char *revision,
                          const char *sha256) {
    cJSON *o = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(canon, section), name);
    if (!o) return -1;
    cJSON *p = cJSON_CreateString(file), *h = cJSON_CreateString(sha256);
    if (!p || !cJSON_ReplaceItemInObjectCaseSensitive(o, "path", p)) {
        cJSON_Delete(p);
        cJSON_Delete(h);
        return -1;
    }
    if (!h || !cJSON_ReplaceItemInObjectCaseSensitive(o, "sha256", h)) {
        cJSON_Delete(h);
        return -1;
    }
    if (!revision[0]) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, "revision");
        return 0;
    }
    cJSON *r = cJSON_CreateString(revision);
    if (!r || !cJSON_ReplaceItemInObjectCaseSensitive(o, "revision", r)) {
        cJSON_Delete(r);
        return -1;
    }
    return 0;
}

/* The JSON path of the key the entry's reference came from. */
static void ref_jpath(const cJSON *root, const char *section, const char *name, char *out, size_t n) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, section), name);
    snprintf(out, n, "$.%s.%s.%s", section, name, cJSON_GetObjectItemCaseSensitive(e, "source") ? "source" : "path");
}

int db_suite_resolve_refs(db_suite *s, const cJSON *root, cJSON *canon, const db_suite_load_opts *opts, char *err,
                          size_t errlen) {
    const char *origin = s->path ? s->path : "<suite>";
    char jpath[600];
    where w = { origin, jpath, NULL, err, errlen };
    for (int i = 0; i < s->n_models; i++) {
        db_suite_model *m = &s->models[i];
        if (!m->source) continue;
        ref_jpath(root, "models", m->name, jpath, sizeof jpath);
        w.ref = m->source;
        if (resolve_one(&w, opts, &m->path, &m->sha256, &m->revision) != 0) return -1;
        if (complete_canon(canon, "models", m->name, m->path, m->revision, m->sha256) != 0)
            return wfail(&w, "out of memory");
    }
    for (int i = 0; i < s->n_datasets; i++) {
        db_suite_dataset *d = &s->datasets[i];
        if (!d->source) continue;
        ref_jpath(root, "datasets", d->name, jpath, sizeof jpath);
        w.ref = d->source;
        if (resolve_one(&w, opts, &d->path, &d->sha256, &d->revision) != 0) return -1;
        char e2[768];
        if (db_prompts_load(d->path, d->category, d->limit, &d->prompts, &d->n_prompts, e2, sizeof e2) != 0)
            return wfail(&w, "%s", e2);
        if (complete_canon(canon, "datasets", d->name, d->path, d->revision, d->sha256) != 0)
            return wfail(&w, "out of memory");
    }
    return 0;
}
