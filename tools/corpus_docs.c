/* corpus_docs.c — JSONL corpus documents in a seeded order (see corpus_docs.h). */
#include "corpus_docs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "harness/util/rng.h"

void corpus_docs_free(char **docs, size_t n_docs) {
    for (size_t i = 0; i < n_docs; i++) free(docs[i]);
    free(docs);
}

int corpus_docs_read(const char *prog, const char *path, uint64_t seed, uint64_t stream, char ***docs,
                     size_t *n_docs) {
    *docs = NULL;
    *n_docs = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    char **doc = NULL, *line = NULL;
    size_t n = 0, cap = 0, lcap = 0;
    ssize_t r;
    long lineno = 0;
    int rc = 0;
    while ((r = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        if (r <= 1) continue;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)r);
        const cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "text") : NULL;
        if (!cJSON_IsString(t)) {
            fprintf(stderr, "%s: %s:%ld: expected a JSON object with a string \"text\"\n", prog, path, lineno);
            cJSON_Delete(j);
            rc = -1;
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            char **nd = realloc(doc, ncap * sizeof *nd);
            if (!nd) { cJSON_Delete(j); rc = -2; break; }
            doc = nd;
            cap = ncap;
        }
        doc[n] = strdup(t->valuestring);
        cJSON_Delete(j);
        if (!doc[n]) { rc = -2; break; }
        n++;
    }
    free(line);
    fclose(f);
    if (rc == -2) fprintf(stderr, "%s: %s: out of memory\n", prog, path);
    else if (rc == 0 && n == 0) { fprintf(stderr, "%s: %s: no documents\n", prog, path); rc = -1; }
    if (rc != 0) {
        corpus_docs_free(doc, n);
        return -1;
    }
    db_rng g = db_rng_make(seed, stream);
    for (size_t i = n; i > 1; i--) {
        size_t k = (size_t)db_rng_below(&g, i);
        char *t = doc[i - 1]; doc[i - 1] = doc[k]; doc[k] = t;
    }
    *docs = doc;
    *n_docs = n;
    return 0;
}
