/* probe.h — measuring a machine's roofline parameters for the hardware
 * report (`decobench probe`, `decobench report --by machine`):
 *
 *   memory bandwidth: STREAM's triad a[i] = b[i] + s·c[i] on double arrays
 *     far larger than the last-level cache (each 4× the machine's total L3,
 *     at least 64 MiB, at most 1/8 of RAM), split evenly over the threads
 *     (pthreads; each thread first touches its own part), best of the
 *     repetitions; STREAM's byte count, 24 bytes per element (write-allocate
 *     traffic not counted), in GB/s = 10^9 bytes/s;
 *   peak FP32 rate: a loop of independent fused multiply-adds on
 *     register-resident vectors (12 accumulators; AVX-512, AVX2+FMA or the
 *     compiler's generic vectors, chosen at run time), 2 flops per lane per
 *     FMA, on one thread and on all threads at once, best of the
 *     repetitions, in GFLOP/s.
 *
 * Timings use CLOCK_MONOTONIC.  Nothing here writes to the results
 * database (harness/run/store.h db_store_probe does).
 */
#ifndef DECOBENCH_PROBE_H
#define DECOBENCH_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "topology.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_probe_opts {
    int threads;          /* 0: the machine's physical cores */
    int reps;             /* repetitions, best kept; 0: 5 */
    uint64_t array_bytes; /* bytes per triad array; 0: from the machine's L3 and RAM (see above) */
} db_probe_opts;

typedef struct db_probe_result {
    double bandwidth_gbs;        /* triad, all threads */
    double gflops;               /* FMA loop, all threads */
    double gflops_per_thread;    /* FMA loop, one thread */
    int threads;
    uint64_t array_bytes;
    const char *kernel;          /* "avx512", "avx2-fma", "generic" (static string) */
    char method[256];            /* one line describing both measurements */
} db_probe_result;

/* Default bytes per triad array for machine m (see above). */
uint64_t db_probe_array_bytes(const db_machine *m);

/* Measure.  Returns 0, or -1 with one line in err (bad options, out of
 * memory, threads that cannot be created). */
int db_probe_run(const db_machine *m, const db_probe_opts *o, db_probe_result *r, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
