/* fixtures.c — model fixtures shared by the C tests (see fixtures.h). */
#include "fixtures.h"

#include <string.h>

#include "test.h"

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
