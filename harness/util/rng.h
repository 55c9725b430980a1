/* rng.h — counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * Every draw is a pure function of (key, counter): the same seed gives the
 * same tokens on any machine, independent of thread timing or of how many
 * draws other engines made.  A db_rng is a key plus a running counter.
 */
#ifndef DECOBENCH_RNG_H
#define DECOBENCH_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_rng {
    uint64_t key;      /* the seed */
    uint64_t stream;   /* high 64 bits of the Philox counter */
    uint64_t counter;  /* low 64 bits: index of the next draw */
} db_rng;

/* Philox4x32-10 block: four 32-bit words from a 128-bit counter and 64-bit key. */
void db_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Stream for (seed, stream id): distinct streams never overlap. */
db_rng db_rng_make(uint64_t seed, uint64_t stream);
uint64_t db_rng_u64(db_rng *r);
/* Uniform double in [0, 1), 53 random bits. */
double db_rng_uniform(db_rng *r);
/* Uniform integer in [0, n). */
uint64_t db_rng_below(db_rng *r, uint64_t n);
/* Standard normal (Box–Muller). */
double db_rng_normal(db_rng *r);
/* Stateless: the uniform for (seed, stream, index). */
double db_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t index);
/* Mix a 64-bit value (splitmix64 finaliser), for deriving sub-seeds. */
uint64_t db_mix64(uint64_t x);

#ifdef __cplusplus
}
#endif
#endif
