/* run_inputs.h — the fingerprint of what a run ran, which `decobench run
 * --resume` checks before it continues a run: the sha256 of the resolved
 * suite configuration, of every dataset file it reads and of every model
 * file, so a resumed run measures the same inputs as the run it continues. */
#ifndef DECOBENCH_RUN_INPUTS_H
#define DECOBENCH_RUN_INPUTS_H

#include <stddef.h>

#include "suite.h"

#ifdef __cplusplus
extern "C" {
#endif

/* sha256 (lowercase hex) over: the suite's resolved configuration (s->json),
 * then for each dataset its name and the sha256 of its file, then for each
 * model its name and model_sha256[i] (NULL or "" for none, e.g. the exact
 * backend, whose spec is part of the configuration).  0, or -1 + err naming
 * the file that could not be read. */
int db_run_inputs_sha256(const db_suite *s, const char *const *model_sha256, char hex[65], char *err,
                         size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
