/* cmd_fetch.c — `decobench fetch REF...` and `decobench fetch --list`:
 * download Hugging Face Hub files (hf:ORG/REPO/PATH[@REVISION]), http(s)
 * URLs and the catalogue's entries (data/catalogue.json) into the cache
 * with harness/util/fetch.h, printing each file's local path; --list shows
 * the catalogue with what is pinned, recorded (trust on first use) and cached.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "harness/util/fetch.h"
#include "harness/util/util.h"

static void usage(FILE *f) {
    fputs("usage: decobench fetch [options] REF...\n"
          "       decobench fetch --list\n"
          "\n"
          "Download files into the cache (unless there already) and print each one's local path.\n"
          "REF is hf:[datasets/|spaces/]ORG/REPO/PATH[@REVISION] (a Hugging Face Hub file; REVISION\n"
          "defaults to main), an http:// or https:// URL, or a name from the catalogue (--list).\n"
          "A partial download resumes (HTTP Range); every file is checked against the sha256s known\n"
          "(--sha256, the catalogue, the Hub's X-Linked-Etag, the one recorded at its first download)\n"
          "and a mismatch deletes it.  Details: docs/fetch.md.\n"
          "\n"
          "  --sha256 HEX       the file's expected sha256 (one REF only)\n"
          "  --list             show the catalogue: what is pinned, recorded and cached\n"
          "  --catalogue FILE   the catalogue (default: $DECOBENCH_CATALOGUE, data/catalogue.json here\n"
          "                     or beside the decobench program's source tree)\n"
          "  --cache-dir DIR    the cache (default: $DECOBENCH_CACHE_DIR, $XDG_CACHE_HOME/decobench,\n"
          "                     ~/.cache/decobench)\n"
          "  --offline          use the cache only (as HF_HUB_OFFLINE=1 does)\n"
          "  --retries N        retries after a 5xx, 429, timeout or cut connection (default 4)\n"
          "  --timeout S        connect timeout, and seconds without data before giving up (default 30)\n"
          "  --backoff S        the first retry's delay, doubled each retry (default 1)\n"
          "  --json             print one JSON object per REF (path, sha256, revision, size, ...)\n"
          "  -q, --quiet        no progress bar (there is none unless stderr is a terminal)\n"
          "  -h, --help         show this help\n"
          "\n"
          "Environment: HF_TOKEN (sent to the Hub only, never printed or stored), HF_HUB_OFFLINE,\n"
          "DECOBENCH_HF_ENDPOINT or HF_ENDPOINT (default https://huggingface.co), and the proxy\n"
          "variables libcurl reads (https_proxy, http_proxy, no_proxy, ...).\n"
          "Exit status: 0 all fetched, 1 a download or check failed, 2 bad input.\n", f);
}

/* ---- the catalogue ---- */

static char *catalogue_path(const char *given) {
    if (given) return db_strdup(given);
    const char *env = getenv("DECOBENCH_CATALOGUE");
    if (env && *env) return db_strdup(env);
    if (db_file_exists("data/catalogue.json")) return db_strdup("data/catalogue.json");
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *dir = db_dirname(exe);   /* BUILD/decobench -> BUILD/../data, or the source tree of a VPATH build */
        const char *tries[] = { "../data/catalogue.json", "../../data/catalogue.json", "../share/decobench/catalogue.json" };
        for (size_t i = 0; dir && i < sizeof tries / sizeof tries[0]; i++) {
            char *p = db_path_join(dir, tries[i]);
            if (p && db_file_exists(p)) {
                free(dir);
                return p;
            }
            free(p);
        }
        free(dir);
    }
    return db_strdup("data/catalogue.json");
}

/* the catalogue's entries array (cJSON owned by *root), or NULL + err */
static const cJSON *catalogue_load(const char *path, cJSON **root, char *err, size_t errlen) {
    size_t len;
    char *t = db_read_file(path, &len, err, errlen);
    *root = NULL;
    if (!t) return NULL;
    *root = cJSON_ParseWithLength(t, len);
    free(t);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(*root, "entries");
    if (!cJSON_IsArray(e)) {
        db_errf(err, errlen, "catalogue %s: not a JSON object with an \"entries\" array", path);
        return NULL;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, e) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(it, "ref");
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(it, "sha256");
        if (!cJSON_IsString(name) || !cJSON_IsString(ref) || !(cJSON_IsNull(sha) || cJSON_IsString(sha) || !sha)) {
            db_errf(err, errlen, "catalogue %s: an entry lacks a string \"name\" or \"ref\"", path);
            return NULL;
        }
    }
    return e;
}

static const char *str_item(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* the reference text of a catalogue entry (REF@REVISION for hf: refs with a revision), malloc'd */
static char *entry_ref(const cJSON *e) {
    const char *ref = str_item(e, "ref"), *rev = str_item(e, "revision");
    if (strncmp(ref, "hf:", 3) != 0 || !rev || strchr(ref, '@')) return db_strdup(ref);
    db_str b;
    db_str_init(&b);
    if (db_str_printf(&b, "%s@%s", ref, rev) < 0) {
        db_str_free(&b);
        return NULL;
    }
    return db_str_take(&b);
}

static int list(const cJSON *entries, const db_fetch_opts *o, const char *path) {
    const cJSON *e;
    printf("catalogue %s\n", path);
    cJSON_ArrayForEach(e, entries) {
        const char *kind = str_item(e, "kind"), *role = str_item(e, "role"), *pair = str_item(e, "pair");
        const char *desc = str_item(e, "description"), *sha = str_item(e, "sha256"), *lic = str_item(e, "license");
        char *ref = entry_ref(e);
        printf("\n%s  (%s%s%s)\n", str_item(e, "name"), kind ? kind : "file", role ? ", " : "", role ? role : "");
        if (desc) printf("  %s\n", desc);
        if (pair) printf("  pairs with: %s\n", pair);
        printf("  ref:     %s\n", ref ? ref : "?");
        if (lic) printf("  license: %s\n", lic);
        db_fetch_info info;
        char *local = NULL, err[512] = "";
        int hit = ref ? db_fetch_lookup(o, ref, &local, &info, err, sizeof err) : -1;
        if (sha)
            printf("  sha256:  %s (pinned in the catalogue)\n", sha);
        else if (hit == 1)
            printf("  sha256:  %s (unknown to the catalogue: recorded at the first download, trust on first use)\n",
                   info.sha256);
        else
            printf("  sha256:  unknown (trust on first use: the first download's sha256 is recorded and later ones must match)\n");
        if (hit == 1)
            printf("  cached:  %s (%lld bytes%s%s)\n", local, info.size, info.revision[0] ? ", revision " : "",
                   info.revision);
        else if (hit == 0)
            printf("  cached:  no\n");
        else
            printf("  cached:  ? (%s)\n", err);
        free(local);
        free(ref);
    }
    return 0;
}

/* ---- the command ---- */

static int print_json(const char *ref, const char *path, const db_fetch_info *info) {
    db_str b;
    db_str_init(&b);
    db_str_append(&b, "{\"ref\": ");
    /* a URL's credentials never reach the output */
    char *shown = strncmp(ref, "hf:", 3) == 0 ? db_strdup(ref) : db_fetch_redact_url(ref);
    db_str_json_string(&b, shown ? shown : "", shown ? strlen(shown) : 0);
    free(shown);
    db_str_append(&b, ", \"path\": ");
    db_str_json_string(&b, path, strlen(path));
    db_str_printf(&b, ", \"sha256\": \"%s\", \"sha256_source\": \"%s\", \"revision\": ", info->sha256, info->source);
    db_str_json_string(&b, info->revision, strlen(info->revision));
    db_str_printf(&b, ", \"size\": %lld, \"cached\": %s}\n", info->size, info->cached ? "true" : "false");
    if (!b.s) return -1;
    fputs(b.s, stdout);
    db_str_free(&b);
    return 0;
}

int cmd_fetch(int argc, char **argv) {
    enum { O_SHA = 256, O_LIST, O_CAT, O_CACHE, O_OFFLINE, O_RETRIES, O_TIMEOUT, O_BACKOFF, O_JSON };
    static const struct option opts[] = {
        { "sha256", required_argument, NULL, O_SHA },      { "list", no_argument, NULL, O_LIST },
        { "catalogue", required_argument, NULL, O_CAT },   { "cache-dir", required_argument, NULL, O_CACHE },
        { "offline", no_argument, NULL, O_OFFLINE },       { "retries", required_argument, NULL, O_RETRIES },
        { "timeout", required_argument, NULL, O_TIMEOUT }, { "backoff", required_argument, NULL, O_BACKOFF },
        { "json", no_argument, NULL, O_JSON },             { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },                { NULL, 0, NULL, 0 },
    };
    db_fetch_opts o;
    db_fetch_opts_init(&o);
    const char *sha = NULL, *cat = NULL;
    bool do_list = false, json = false, quiet = false;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
        uint64_t u;
        double d;
        switch (c) {
        case O_SHA: sha = optarg; break;
        case O_LIST: do_list = true; break;
        case O_CAT: cat = optarg; break;
        case O_CACHE: o.cache_dir = optarg; break;
        case O_OFFLINE: o.offline = 1; break;
        case O_JSON: json = true; break;
        case 'q': quiet = true; break;
        case O_RETRIES:
            if (db_parse_u64(optarg, &u) < 0 || u > 100) {
                fprintf(stderr, "decobench fetch: --retries %s: not a whole number from 0 to 100\n", optarg);
                return 2;
            }
            o.retries = (int)u;
            break;
        case O_TIMEOUT:
        case O_BACKOFF:
            if (db_parse_double(optarg, &d) < 0 || d < 0 || d > 3600 || (c == O_TIMEOUT && d < 0.001)) {
                fprintf(stderr, "decobench fetch: --%s %s: not a number of seconds %s\n",
                        c == O_TIMEOUT ? "timeout" : "backoff", optarg,
                        c == O_TIMEOUT ? "from 0.001 to 3600" : "from 0 to 3600");
                return 2;
            }
            if (c == O_TIMEOUT) o.timeout_s = d;
            else o.backoff_s = d;
            break;
        case 'h': usage(stdout); return 0;
        default: return db_cli_bad_option("fetch", c, argv);
        }
    }
    int nref = argc - optind;
    if (do_list && nref > 0) {
        fprintf(stderr, "decobench fetch: --list takes no REF (see --help)\n");
        return 2;
    }
    if (!do_list && nref == 0) {
        fprintf(stderr, "decobench fetch: expected at least one REF, or --list (see --help)\n");
        return 2;
    }
    if (sha && nref > 1) {
        fprintf(stderr, "decobench fetch: --sha256: only with one REF\n");
        return 2;
    }
    o.progress = !quiet && !json && isatty(2);
    char err[1024] = "";
    char *cpath = catalogue_path(cat);
    cJSON *root = NULL;
    const cJSON *entries = NULL;
    bool need_cat = do_list || cat;
    for (int i = optind; i < argc && !need_cat; i++)
        if (!strchr(argv[i], ':')) need_cat = true;   /* a catalogue name */
    if (need_cat && !(entries = catalogue_load(cpath, &root, err, sizeof err))) {
        fprintf(stderr, "decobench fetch: %s\n", err);
        cJSON_Delete(root);
        free(cpath);
        return 2;
    }
    if (do_list) {
        int rc = list(entries, &o, cpath);
        cJSON_Delete(root);
        free(cpath);
        return rc;
    }
    /* resolve and check every REF before fetching any */
    char **refs = calloc((size_t)nref, sizeof *refs);
    char **shas = calloc((size_t)nref, sizeof *shas);
    int rc = refs && shas ? 0 : 2;
    if (rc) fprintf(stderr, "decobench fetch: out of memory\n");
    for (int i = 0; i < nref && rc == 0; i++) {
        const char *a = argv[optind + i];
        if (!strchr(a, ':')) {
            const cJSON *e, *hit = NULL;
            cJSON_ArrayForEach(e, entries)
                if (strcmp(str_item(e, "name"), a) == 0) hit = e;
            if (!hit) {
                fprintf(stderr, "decobench fetch: %s: not in the catalogue %s (see --list)\n", a, cpath);
                rc = 2;
                break;
            }
            refs[i] = entry_ref(hit);
            const char *csha = str_item(hit, "sha256");
            if (csha && sha && strcasecmp(csha, sha) != 0) {
                fprintf(stderr, "decobench fetch: --sha256 %s: the catalogue pins %s for %s\n", sha, csha, a);
                rc = 2;
                break;
            }
            shas[i] = db_strdup(sha ? sha : csha);
        } else {
            refs[i] = db_strdup(a);
            shas[i] = db_strdup(sha);
        }
        char hex[65];
        if (shas[i] && (strlen(shas[i]) != 64 || db_fetch_etag_hash(shas[i], hex) != 64)) {
            fprintf(stderr, "decobench fetch: %s: sha256 '%.80s' is not 64 hexadecimal digits\n", a, shas[i]);
            rc = 2;
            break;
        }
        db_fetch_ref r;
        if (!refs[i] || db_fetch_ref_parse(refs[i], &r, err, sizeof err) < 0) {
            fprintf(stderr, "decobench fetch: %s\n", refs[i] ? err : "out of memory");
            rc = 2;
            break;
        }
        db_fetch_ref_free(&r);
    }
    if (rc == 0 && db_fetch_global_init() < 0) {
        fprintf(stderr, "decobench fetch: libcurl initialisation failed\n");
        rc = 1;
    }
    for (int i = 0; i < nref && rc != 2; i++) {
        db_fetch_info info;
        char *local = NULL;
        o.sha256 = shas[i];
        int r = db_fetch(&o, refs[i], &local, &info, err, sizeof err);
        if (r == DB_FETCH_BAD_INPUT) {
            fprintf(stderr, "decobench fetch: %s\n", err);
            rc = 2;
        } else if (r != DB_FETCH_OK) {
            fprintf(stderr, "decobench fetch: %s\n", err);
            rc = 1;
        } else if (json) {
            print_json(refs[i], local, &info);
        } else {
            printf("%s\n", local);
        }
        free(local);
    }
    fflush(stdout);
    for (int i = 0; i < nref; i++) {
        if (refs) free(refs[i]);
        if (shas) free(shas[i]);
    }
    free(refs);
    free(shas);
    cJSON_Delete(root);
    free(cpath);
    return rc;
}
