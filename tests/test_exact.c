/* test_exact.c — the analytic backend: spec parsing, logits through the
 * model interface equal the closed form, strict KV-cache checks, sequence
 * operations and the tokenizer. */
#include "test.h"
#include "fixtures.h"

#include <stdlib.h>

#include "harness/model/model.h"
#include "harness/model/model_exact.h"

static db_model *open_exact(const char *spec, int n_seq) { return db_test_open_model("exact", spec, 64, 32, n_seq); }

static void spec_parsing(void) {
    db_exact_spec s;
    char err[256];
    CHECK_INT_EQ(db_exact_spec_parse("vocab=16,order=3,seed=9,sharpness=1.5,eos_bias=-2", &s, err, sizeof err), 0);
    CHECK_INT_EQ(s.vocab, 16);
    CHECK_INT_EQ(s.order, 3);
    CHECK_INT_EQ(s.seed, 9);
    CHECK_NEAR(s.sharpness, 1.5, 0);
    CHECK_INT_EQ(db_exact_spec_parse("vocab=2", &s, err, sizeof err), -1);
    CHECK_CONTAINS(err, "vocab must be");
    CHECK_INT_EQ(db_exact_spec_parse("colour=3", &s, err, sizeof err), -1);
    CHECK_CONTAINS(err, "unknown key 'colour'");
    CHECK_INT_EQ(db_exact_spec_parse("order", &s, err, sizeof err), -1);
    CHECK_CONTAINS(err, "not key=value");
}

static void logits_match_closed_form(void) {
    db_model *m = open_exact("vocab=12,order=2,seed=3,sharpness=2", 1);
    if (!m) return;
    db_exact_spec spec;
    db_exact_spec_parse("vocab=12,order=2,seed=3,sharpness=2", &spec, NULL, 0);
    db_token seq[] = { 0, 5, 7, 9, 4 };
    db_batch b;
    db_batch_init(&b, 8, 1);
    for (int i = 0; i < 5; i++) db_batch_add1(&b, seq[i], i, 0, true);
    CHECK_INT_EQ(db_model_decode(m, &b), 0);
    float want[12];
    for (int i = 0; i < 5; i++) {
        const float *got = db_model_logits(m, i);
        CHECK(got != NULL);
        db_exact_logits(&spec, seq, i + 1, i + 1, want);
        for (int v = 0; v < 12 && got; v++) CHECK_NEAR(got[v], want[v], 0);
    }
    /* order 2: only the last two tokens matter */
    float a[12], c[12];
    db_token x[] = { 3, 5, 7 }, y[] = { 9, 5, 7 };
    db_exact_logits(&spec, x, 3, 3, a);
    db_exact_logits(&spec, y, 3, 3, c);
    for (int v = 0; v < 12; v++) CHECK_NEAR(a[v], c[v], 0);
    CHECK(a[DB_EXACT_BOS] < -1e29f && a[DB_EXACT_MASK] < -1e29f);
    db_batch_free(&b);
    db_model_close(m);
}

static void strict_kv_checks(void) {
    db_model *m = open_exact("vocab=8,order=1", 2);
    if (!m) return;
    db_batch b;
    db_batch_init(&b, 4, 2);
    db_batch_add1(&b, 0, 0, 0, false);
    db_batch_add1(&b, 4, 1, 0, true);
    CHECK_INT_EQ(db_model_decode(m, &b), 0);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 0), 1);
    /* re-evaluating a held position is a stale entry */
    db_batch_clear(&b);
    db_batch_add1(&b, 5, 1, 0, true);
    CHECK_INT_EQ(db_model_decode(m, &b), -1);
    CHECK_CONTAINS(db_model_last_error(m), "stale");
    /* a gap in the context is an error */
    db_batch_clear(&b);
    db_batch_add1(&b, 5, 3, 0, true);
    CHECK_INT_EQ(db_model_decode(m, &b), -1);
    CHECK_CONTAINS(db_model_last_error(m), "no token at position 2");
    /* after removing position 1 it can be evaluated again */
    CHECK_INT_EQ(db_model_seq_rm(m, 0, 1, -1), 0);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 0), 0);
    db_batch_clear(&b);
    db_batch_add1(&b, 5, 1, 0, true);
    CHECK_INT_EQ(db_model_decode(m, &b), 0);
    /* copy to seq 1, then keep only seq 1 */
    CHECK_INT_EQ(db_model_seq_cp(m, 0, 1, 0, -1), 0);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 1), 1);
    CHECK_INT_EQ(db_model_seq_keep(m, 1), 0);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 0), -1);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 1), 1);
    /* a row shared by two sequences with different histories is refused */
    db_batch_clear(&b);
    db_batch_add1(&b, 0, 0, 0, false);
    db_batch_add1(&b, 6, 1, 0, false);
    CHECK_INT_EQ(db_model_decode(m, &b), 0);
    int32_t both[2] = { 0, 1 };
    db_batch_clear(&b);
    db_batch_add(&b, 3, 2, both, 2, true);
    CHECK_INT_EQ(db_model_decode(m, &b), -1);
    CHECK_CONTAINS(db_model_last_error(m), "different histories");
    /* token outside the vocabulary */
    db_batch_clear(&b);
    db_batch_add1(&b, 99, 5, 0, true);
    CHECK_INT_EQ(db_model_decode(m, &b), -1);
    CHECK_CONTAINS(db_model_last_error(m), "outside vocabulary");
    db_model_reset(m);
    CHECK_INT_EQ(db_model_seq_pos_max(m, 1), -1);
    db_batch_free(&b);
    db_model_close(m);
}

static void tokenizer_round_trip(void) {
    db_model *m = open_exact("vocab=40", 1);
    if (!m) return;
    db_token t[16];
    int n = db_model_tokenize(m, "w5 w17  w39", 11, true, true, t, 16);
    CHECK_INT_EQ(n, 4);
    CHECK_INT_EQ(t[0], DB_EXACT_BOS);
    CHECK_INT_EQ(t[1], 5);
    CHECK_INT_EQ(t[3], 39);
    char buf[64];
    int k = db_model_detokenize(m, t + 1, 3, buf, sizeof buf);
    CHECK_INT_EQ(k, 11);
    buf[k > 0 ? k : 0] = 0;
    CHECK_STR_EQ(buf, " w5 w17 w39");
    CHECK_INT_EQ(db_model_tokenize(m, "w5 w6 w7", 8, false, false, t, 2), -3);
    CHECK(db_model_is_eog(m, DB_EXACT_EOS));
    CHECK_INT_EQ(db_model_mask(m), DB_EXACT_MASK);
    db_model_close(m);
}

static void bidirectional_is_factorised(void) {
    db_model *m = open_exact("vocab=10,seed=4", 1);
    if (!m) return;
    db_exact_spec spec;
    db_exact_spec_parse("vocab=10,seed=4", &spec, NULL, 0);
    CHECK_INT_EQ(db_model_set_causal(m, false), 0);
    db_batch b;
    db_batch_init(&b, 4, 1);
    for (int i = 0; i < 4; i++) db_batch_add1(&b, i == 0 ? 0 : DB_EXACT_MASK, i, 0, true);
    CHECK_INT_EQ(db_model_decode(m, &b), 0);
    float want[10];
    for (int i = 0; i < 4; i++) {
        db_exact_logits_bidir(&spec, i, want);
        const float *got = db_model_logits(m, i);
        for (int v = 0; v < 10; v++) CHECK_NEAR(got[v], want[v], 0);
    }
    db_batch_free(&b);
    db_model_close(m);
}

void suite_exact(void) {
    RUN(spec_parsing);
    RUN(logits_match_closed_form);
    RUN(strict_kv_checks);
    RUN(tokenizer_round_trip);
    RUN(bidirectional_is_factorised);
}
