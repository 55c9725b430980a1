/* test_sample.c — sampling distributions (temperature, top-k, top-p, greedy
 * ties) against values computed by hand. */
#include "test.h"

#include <stdlib.h>

#include "harness/sample.h"

static void greedy_ties_pick_lowest_id(void) {
    float l[5] = { 1.0f, 3.0f, 2.0f, 3.0f, -1.0f };
    CHECK_INT_EQ(db_argmax(l, 5), 1);
    db_sampling s = { .greedy = true };
    db_sampler_buf b;
    CHECK_INT_EQ(db_sampler_buf_init(&b, 5), 0);
    db_rng r = db_rng_make(1, 0);
    CHECK_INT_EQ(db_sample_token(&s, l, &b, &r), 1);
    CHECK_INT_EQ(r.counter, 0); /* greedy consumes no randomness */
    db_sampler_buf_free(&b);
}

static void temperature_softmax(void) {
    float l[3] = { 0.0f, 1.0f, 2.0f };
    db_sampling s = { .greedy = false, .temperature = 0.5f, .top_k = 0, .top_p = 1.0f };
    db_sampler_buf b;
    db_sampler_buf_init(&b, 3);
    db_sampling_probs(&s, l, &b);
    /* logits / 0.5 = 0, 2, 4 */
    double z = 1 + exp(2) + exp(4);
    CHECK_NEAR(b.prob[0], 1 / z, 1e-6);
    CHECK_NEAR(b.prob[1], exp(2) / z, 1e-6);
    CHECK_NEAR(b.prob[2], exp(4) / z, 1e-6);
    db_sampler_buf_free(&b);
}

static void top_k_and_top_p(void) {
    /* probabilities 0.1 0.2 0.3 0.4 from logits log(p) */
    float l[4] = { logf(0.1f), logf(0.2f), logf(0.3f), logf(0.4f) };
    db_sampler_buf b;
    db_sampler_buf_init(&b, 4);
    db_sampling s = { .greedy = false, .temperature = 1.0f, .top_k = 2, .top_p = 1.0f };
    db_sampling_probs(&s, l, &b);
    CHECK_NEAR(b.prob[0], 0.0, 1e-7);
    CHECK_NEAR(b.prob[1], 0.0, 1e-7);
    CHECK_NEAR(b.prob[2], 0.3 / 0.7, 1e-6);
    CHECK_NEAR(b.prob[3], 0.4 / 0.7, 1e-6);
    /* top-p 0.65: 0.4 + 0.3 = 0.7 >= 0.65 keeps two */
    s.top_k = 0;
    s.top_p = 0.65f;
    db_sampling_probs(&s, l, &b);
    CHECK_NEAR(b.prob[3], 0.4 / 0.7, 1e-6);
    CHECK_NEAR(b.prob[1], 0.0, 1e-7);
    /* top-p 0.3 keeps only the top token */
    s.top_p = 0.3f;
    db_sampling_probs(&s, l, &b);
    CHECK_NEAR(b.prob[3], 1.0, 1e-6);
    /* top-k 3 then top-p 0.75 on the renormalised head (llama.cpp's chain):
     * 0.4/0.9 + 0.3/0.9 = 0.78 >= 0.75 keeps two tokens */
    s.top_k = 3;
    s.top_p = 0.75f;
    db_sampling_probs(&s, l, &b);
    CHECK_NEAR(b.prob[3], 0.4 / 0.7, 1e-6);
    CHECK_NEAR(b.prob[2], 0.3 / 0.7, 1e-6);
    CHECK_NEAR(b.prob[1], 0.0, 1e-7);
    CHECK_NEAR(b.prob[0], 0.0, 1e-7);
    db_sampler_buf_free(&b);
}

static void draw_inverse_cdf(void) {
    float p[4] = { 0.25f, 0.0f, 0.5f, 0.25f };
    CHECK_INT_EQ(db_draw(p, 4, 0.0), 0);
    CHECK_INT_EQ(db_draw(p, 4, 0.2499), 0);
    CHECK_INT_EQ(db_draw(p, 4, 0.25), 2);
    CHECK_INT_EQ(db_draw(p, 4, 0.7499), 2);
    CHECK_INT_EQ(db_draw(p, 4, 0.75), 3);
    CHECK_INT_EQ(db_draw(p, 4, 0.9999999), 3);
}

void suite_sample(void) {
    RUN(greedy_ties_pick_lowest_id);
    RUN(temperature_softmax);
    RUN(top_k_and_top_p);
    RUN(draw_inverse_cdf);
}
