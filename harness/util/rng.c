/* rng.c — Philox4x32-10 counter-based generator (see rng.h). */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

void db_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = mulhilo(PHILOX_M0, c0, &hi0);
        uint32_t lo1 = mulhilo(PHILOX_M1, c2, &hi1);
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

uint64_t db_mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

db_rng db_rng_make(uint64_t seed, uint64_t stream) {
    db_rng r = { seed, stream, 0 };
    return r;
}

static uint64_t block_u64(uint64_t key, uint64_t stream, uint64_t index) {
    uint32_t ctr[4] = { (uint32_t)index, (uint32_t)(index >> 32),
                        (uint32_t)stream, (uint32_t)(stream >> 32) };
    uint32_t k[2] = { (uint32_t)key, (uint32_t)(key >> 32) };
    uint32_t out[4];
    db_philox4x32(ctr, k, out);
    return ((uint64_t)out[0] << 32) | out[1];
}

uint64_t db_rng_u64(db_rng *r) {
    return block_u64(r->key, r->stream, r->counter++);
}

double db_rng_uniform(db_rng *r) {
    return (double)(db_rng_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t db_rng_below(db_rng *r, uint64_t n) {
    if (n <= 1) return 0;
    /* rejection to avoid modulo bias */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t x;
    do { x = db_rng_u64(r); } while (x >= limit);
    return x % n;
}

double db_rng_normal(db_rng *r) {
    double u1 = db_rng_uniform(r);
    double u2 = db_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double db_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t index) {
    return (double)(block_u64(seed, stream, index) >> 11) * 0x1.0p-53;
}
