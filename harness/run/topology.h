/* topology.h — the machine's topology and identity through hwloc, and
 * pinning of decode threads.
 *
 * A db_machine is stored once per machine in the results database (keyed by
 * a fingerprint of hostname, CPU model and topology), so results from several
 * machines can be compared and merged.
 */
#ifndef DECOBENCH_TOPOLOGY_H
#define DECOBENCH_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_machine {
    char hostname[128];
    char cpu_model[128];
    char arch[32];
    char os[128];               /* uname sysname release */
    int packages, cores, pus, numa_nodes;
    uint64_t memory_bytes;
    uint64_t l1d_bytes, l2_bytes, l3_bytes;   /* per instance of the first found */
    char fingerprint[65];       /* sha256 hex of the identifying fields */
    char *topology_json;        /* full description (malloc'd): caches, NUMA, per-core PUs */
} db_machine;

/* Fill m from hwloc (falls back to sysconf/uname where hwloc fails). Returns 0 or -1 + err. */
int  db_machine_probe(db_machine *m, char *err, size_t errlen);
void db_machine_free(db_machine *m);

/* Physical core count (hwloc), at least 1. */
int  db_physical_cores(void);

/* Pin the calling process's threads: "none", "cores" (spread over physical
 * cores, first PU of each), "compact" (first n PUs).  Affects threads created
 * afterwards.  Returns 0 or -1 + err. */
int  db_pin_threads(const char *mode, int n_threads, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
