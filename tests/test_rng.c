/* test_rng.c — Philox4x32-10 known answers, determinism, stream
 * independence and uniformity of the counter-based RNG. */
#include "test.h"

#include <stdint.h>

#include "harness/util/rng.h"
#include "harness/util/stats.h"

static void philox_known_answers(void) {
    /* Random123's kat_vectors for philox4x32_10 */
    struct { uint32_t ctr[4], key[2], out[4]; } kat[] = {
        { {0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8} },
        { {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
          {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd} },
        { {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
          {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1} },
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint32_t out[4];
        db_philox4x32(kat[i].ctr, kat[i].key, out);
        for (int j = 0; j < 4; j++) CHECK_INT_EQ(out[j], kat[i].out[j]);
    }
}

static void same_seed_same_sequence(void) {
    db_rng a = db_rng_make(1234, 7), b = db_rng_make(1234, 7);
    for (int i = 0; i < 1000; i++) CHECK_INT_EQ(db_rng_u64(&a), db_rng_u64(&b));
    db_rng c = db_rng_make(1234, 7);
    for (int i = 0; i < 10; i++) db_rng_u64(&c);
    /* counter-based: the 11th draw is the same whichever way we got there */
    CHECK_NEAR(db_rng_uniform(&c), db_rng_uniform_at(1234, 7, 10), 0);
}

static void streams_and_seeds_differ(void) {
    db_rng a = db_rng_make(1, 0), b = db_rng_make(1, 1), c = db_rng_make(2, 0);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = db_rng_u64(&a), y = db_rng_u64(&b), z = db_rng_u64(&c);
        same_ab += x == y;
        same_ac += x == z;
    }
    CHECK_INT_EQ(same_ab, 0);
    CHECK_INT_EQ(same_ac, 0);
}

static void uniform_is_uniform(void) {
    enum { K = 64, N = 200000 };
    uint64_t counts[K] = { 0 };
    double expect[K];
    db_rng r = db_rng_make(99, 3);
    for (int i = 0; i < N; i++) {
        double u = db_rng_uniform(&r);
        CHECK(u >= 0.0 && u < 1.0);
        counts[(int)(u * K)]++;
    }
    for (int k = 0; k < K; k++) expect[k] = 1.0 / K;
    int df;
    double p;
    db_chi_square(counts, expect, K, 5.0, &df, &p);
    CHECK_INT_EQ(df, K - 1);
    CHECK_MSG(p > 1e-4, "uniformity p-value %g", p);
    /* below(n) covers [0, n) without bias */
    uint64_t c5[5] = { 0 };
    double e5[5] = { 0.2, 0.2, 0.2, 0.2, 0.2 };
    for (int i = 0; i < 50000; i++) c5[db_rng_below(&r, 5)]++;
    db_chi_square(c5, e5, 5, 5.0, &df, &p);
    CHECK_MSG(p > 1e-4, "below(5) p-value %g", p);
}

static void normal_moments(void) {
    db_rng r = db_rng_make(5, 5);
    double s = 0, s2 = 0;
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        double x = db_rng_normal(&r);
        s += x;
        s2 += x * x;
    }
    CHECK_NEAR(s / n, 0.0, 0.02);
    CHECK_NEAR(s2 / n, 1.0, 0.02);
}

void suite_rng(void) {
    RUN(philox_known_answers);
    RUN(same_seed_same_sequence);
    RUN(streams_and_seeds_differ);
    RUN(uniform_is_uniform);
    RUN(normal_moments);
}
