/* noise.h — S7 interference for commands outside the report writers:
 * whether a stored run was measured under interference (reports/noise.c;
 * the measurement is harness/run/interference.h). */
#ifndef DECOBENCH_NOISE_H
#define DECOBENCH_NOISE_H

#include <stdint.h>

#include "harness/run/store.h"

/* *reasons: the run's "; "-joined reasons (malloc'd) when run run_id was
 * flagged, NULL when it was not or recorded nothing (runs before schema
 * version 3).  Returns 0, or -1 with one line in err. */
int db_noise_run_reasons(db_store *st, int64_t run_id, char **reasons, char *err, size_t errlen);

#endif
