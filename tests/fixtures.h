/* fixtures.h — model fixtures shared by the C tests. */
#ifndef DECOBENCH_TEST_FIXTURES_H
#define DECOBENCH_TEST_FIXTURES_H

#include <stdint.h>

#include "harness/model/model.h"
#include "harness/run/store.h"

/* Open a model for a test: backend "exact" (spec_or_path is an exact-backend
 * spec) or "llama" (a GGUF path), one thread, the given context, batch and
 * sequence count (n_seq_max <= 0: the default, 1).  On failure records a test
 * failure naming the model and returns NULL. */
db_model *db_test_open_model(const char *backend, const char *spec_or_path, int n_ctx, int n_batch, int n_seq_max);

/* A path for a new database under the test's scratch directory: the file and
 * its -wal / -shm side files are removed.  Returns a malloc'd path. */
char *db_test_fresh_db_path(const char *name);

/* Open (create) the store at path and record a test machine ("Test CPU",
 * 4 cores, hostname host-FP, fingerprint FP) in *machine_id.  NULL after
 * printing the error. */
db_store *db_test_open_store(const char *path, const char *fingerprint, int64_t *machine_id);

#endif
