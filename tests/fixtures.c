/* fixtures.c — model fixtures shared by the C tests (see fixtures.h). */
#include "fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "harness/util/util.h"

db_model *db_test_open_model(const char *backend, const char *spec_or_path, int n_ctx, int n_batch, int n_seq_max) {
    db_model_params p = db_model_default_params();
    p.backend = backend;
    if (strcmp(backend, "exact") == 0) p.exact_spec = spec_or_path;
    else p.path = spec_or_path;
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    p.n_threads = 1;
    if (n_seq_max > 0) p.n_seq_max = n_seq_max;
    db_model *m = NULL;
    char err[512];
    if (db_model_open(&p, &m, err, sizeof err) != 0) db_test_fail(__FILE__, __LINE__, "open %s: %s", spec_or_path, err);
    return m;
}

char *db_test_fresh_db_path(const char *name) {
    char *path = db_path_join(db_test_tmpdir(), name);
    db_store_remove_files(path);
    return path;
}

db_store *db_test_open_store(const char *path, const char *fingerprint, int64_t *machine_id) {
    char err[512];
    db_store *st = NULL;
    if (db_store_open(path, &st, err, sizeof err) != 0) {
        printf("    %s\n", err);
        return NULL;
    }
    db_machine m;
    memset(&m, 0, sizeof m);
    snprintf(m.cpu_model, sizeof m.cpu_model, "Test CPU");
    snprintf(m.hostname, sizeof m.hostname, "host-%s", fingerprint);
    snprintf(m.fingerprint, sizeof m.fingerprint, "%s", fingerprint);
    m.cores = 4;
    if (db_store_machine(st, &m, machine_id) != 0) {
        db_store_close(st);
        return NULL;
    }
    return st;
}
