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
 *     repetitions, in GFLOP/s; every call's result must equal a scalar
 *     loop's (the FMA counterpart of STREAM's array check).
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
    double bandwidth_gbs;        /* triad, all threads: triad_bytes / triad_best_s / 1e9 */
    double gflops;               /* FMA loop, all threads: threads · fma_flops / fma_best_s / 1e9 */
    double gflops_per_thread;    /* FMA loop, one thread: fma_flops / fma_best_s_1 / 1e9 */
    int threads;
    uint64_t array_bytes;
    const char *kernel;          /* "avx512", "avx2-fma", "generic" (static string) */
    char method[256];            /* one line describing both measurements */
    /* what the figures above are computed from, in that order of operations */
    uint64_t triad_elements;     /* doubles per array: array_bytes rounded down to 64 bytes, / 8 */
    uint64_t triad_bytes;        /* bytes counted per repetition: 3 arrays × 8 bytes × triad_elements */
    double triad_best_s;         /* the fastest repetition, all threads (seconds) */
    uint64_t fma_iters;          /* loop iterations per repetition (calibrated: ≥ 0.05 s on one thread) */
    int fma_chains;              /* independent accumulators: 12 */
    int fma_lanes;               /* FP32 lanes per vector: 16 (avx512), 8 (avx2-fma), 4 (generic) */
    uint64_t fma_flops;          /* flops per repetition per thread: fma_iters × chains × lanes × 2 */
    double fma_best_s_1;         /* the fastest repetition on one thread (seconds) */
    double fma_best_s;           /* the fastest repetition on all threads (seconds) */
    float fma_result;            /* the kernel's result (sum over chains, then lanes, of the lanes' final values) */
    float fma_reference;         /* the same computed by a scalar loop; every call on every thread
                                    returned exactly this, or db_probe_run failed */
} db_probe_result;

/* Default bytes per triad array for machine m (see above). */
uint64_t db_probe_array_bytes(const db_machine *m);

/* Measure.  Returns 0, or -1 with one line in err (bad options, out of
 * memory, threads that cannot be created, a triad element or an FMA
 * result that differs from its reference). */
int db_probe_run(const db_machine *m, const db_probe_opts *o, db_probe_result *r, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
