/* fixtures.h — model fixtures shared by the C tests. */
#ifndef DECOBENCH_TEST_FIXTURES_H
#define DECOBENCH_TEST_FIXTURES_H

#include "harness/model.h"

/* Open a model for a test: backend "exact" (spec_or_path is an exact-backend
 * spec) or "llama" (a GGUF path), one thread, the given context, batch and
 * sequence count (n_seq_max <= 0: the default, 1).  On failure records a test
 * failure naming the model and returns NULL. */
db_model *db_test_open_model(const char *backend, const char *spec_or_path, int n_ctx, int n_batch, int n_seq_max);

#endif
