/* test_sample.c — sampling distributions (temperature, top-k, top-p, greedy
 * ties) against values computed by hand. */
#include "test.h"

#include <stdlib.h>

#include "harness/model/sample.h"

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

/* reference: full sort by (prob desc, id asc), top-k, then top-p on the renormalised head */
static void reference(const float *l, int n, double temp, int k, double top_p, double *out) {
    double mx = -1e300, z = 0;
    for (int i = 0; i < n; i++) if (l[i] > mx) mx = l[i];
    for (int i = 0; i < n; i++) { out[i] = exp((l[i] - mx) / temp); z += out[i]; }
    for (int i = 0; i < n; i++) out[i] /= z;
    int *o = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) o[i] = i;
    for (int i = 1; i < n; i++) {           /* insertion sort, stable by id */
        int t = o[i], j = i - 1;
        while (j >= 0 && (float)out[o[j]] < (float)out[t]) { o[j + 1] = o[j]; j--; }
        o[j + 1] = t;
    }
    int keep = k > 0 && k < n ? k : n;
    double head = 0, cum = 0;
    for (int r = 0; r < keep; r++) head += out[o[r]];
    int kp = keep;
    if (top_p < 1.0) {
        kp = 0;
        while (kp < keep) { cum += out[o[kp]] / head; kp++; if (cum >= top_p) break; }
    }
    double kept = 0;
    for (int r = 0; r < kp; r++) kept += out[o[r]];
    for (int r = kp; r < n; r++) out[o[r]] = 0;
    for (int r = 0; r < kp; r++) out[o[r]] /= kept;
    free(o);
}

static void truncation_matches_full_sort(void) {
    enum { N = 300 };
    float l[N];
    double want[N];
    db_sampler_buf b;
    db_sampler_buf_init(&b, N);
    db_rng r = db_rng_make(77, 0);
    int bad = 0;
    for (int trial = 0; trial < 400; trial++) {
        for (int i = 0; i < N; i++) l[i] = (float)(3.0 * db_rng_normal(&r));
        if (trial % 7 == 0) l[5] = l[9];    /* ties */
        db_sampling s = { .greedy = false, .temperature = (float)(0.3 + db_rng_uniform(&r)),
                          .top_k = (int)db_rng_below(&r, 3) == 0 ? 0 : 1 + (int)db_rng_below(&r, N),
                          .top_p = db_rng_below(&r, 3) == 0 ? 1.0f : (float)(0.05 + 0.94 * db_rng_uniform(&r)) };
        db_sampling_probs(&s, l, &b);
        reference(l, N, s.temperature, s.top_k, s.top_p, want);
        for (int i = 0; i < N; i++)
            if (fabs(b.prob[i] - want[i]) > 1e-5) { bad++; break; }
    }
    CHECK_INT_EQ(bad, 0);
    db_sampler_buf_free(&b);
}

/* The top-k fast path of db_sample_token draws the same token as
 * db_sampling_probs + db_draw with the same uniform. */
static void top_k_fast_path_matches_full(void) {
    const int n = 512, trials = 20000;
    float *l = malloc(sizeof *l * n);
    db_sampler_buf b1, b2;
    CHECK_INT_EQ(db_sampler_buf_init(&b1, n), 0);
    CHECK_INT_EQ(db_sampler_buf_init(&b2, n), 0);
    db_rng g = db_rng_make(99, 0);
    int same = 0;
    for (int t = 0; t < trials; t++) {
        for (int i = 0; i < n; i++) l[i] = (float)(3.0 * db_rng_normal(&g));
        if (t % 7 == 0) l[5] = l[9];               /* ties */
        db_sampling s = { .greedy = false, .temperature = (float)(0.3 + 1.5 * db_rng_uniform(&g)),
                          .top_k = 1 + (int)(db_rng_uniform(&g) * 60), .top_p = t % 2 ? 0.9f : 1.0f };
        uint64_t key = 1000 + (uint64_t)t;
        db_rng r1 = db_rng_make(key, 0), r2 = db_rng_make(key, 0);
        db_token fast = db_sample_token(&s, l, &b1, &r1);
        db_sampling_probs(&s, l, &b2);
        db_token full = db_draw(b2.prob, n, db_rng_uniform(&r2));
        same += fast == full;
    }
    /* rounding differs (exp over the kept tokens only), so a draw within ~1e-7
     * of a CDF boundary may differ: allow at most 2 in 20000 */
    CHECK_MSG(same >= trials - 2, "fast top-k path: %d of %d draws identical", same, trials);
    db_sampler_buf_free(&b1);
    db_sampler_buf_free(&b2);
    free(l);
}

/* db_argmax (two-pass, vectorised) equals the one-pass scan: the lowest id
 * with the largest logit, for every length and with many ties. */
static void argmax_equals_scan(void) {
    db_rng g = db_rng_make(5, 0);
    float *l = malloc(sizeof *l * 4200);
    int bad = 0;
    for (int t = 0; t < 3000; t++) {
        int n = 1 + (int)(db_rng_uniform(&g) * (t < 1000 ? 40 : 4200));
        if (n > 4200) n = 4200;
        int levels = 1 + (int)(db_rng_uniform(&g) * 6);   /* few distinct values: ties */
        for (int i = 0; i < n; i++) l[i] = (float)(int)(db_rng_uniform(&g) * levels) - 2.5f;
        int best = 0;
        for (int i = 1; i < n; i++)
            if (l[i] > l[best]) best = i;
        bad += db_argmax(l, n) != best;
    }
    CHECK_INT_EQ(bad, 0);
    free(l);
}

/* The vectorised softmax against a double-precision one: every probability
 * within a relative 2e-6 (plus 1e-30 absolute: underflow), over random logit
 * rows of every length 1..40 (all vector tails) and a vocabulary-sized row
 * spanning 100 nats, at several temperatures; -inf and far-below logits give
 * exactly 0; the largest logit alone gives 1.  The reference takes the same
 * float-rounded argument (x - max) / T, so this measures exp and the sum. */
static void softmax_check(float (*softmax)(const float *, int, float, float *), const char *name) {
    db_rng r = db_rng_make(11, 0);
    const int big = 4099;
    float *x = malloc(sizeof(float) * (size_t)big), *p = malloc(sizeof(float) * (size_t)big);
    double *ref = malloc(sizeof(double) * (size_t)big);
    const float temps[] = { 1.0f, 0.3f, 2.5f };
    double worst = 0.0;
    int bad_sum = 0;
    for (int t = 0; t < 3; t++)
        for (int n = 1; n <= 41; n++) {
            const int len = n == 41 ? big : n;
            const double span = n == 41 ? 100.0 : 20.0;
            for (int i = 0; i < len; i++) x[i] = (float)((db_rng_uniform(&r) - 0.5) * span);
            const float inv_t = 1.0f / temps[t];
            float mx = softmax(x, len, inv_t, p);
            double m = x[0];
            for (int i = 1; i < len; i++) m = x[i] > m ? x[i] : m;
            CHECK_NEAR(mx, m, 0);
            double z = 0.0;
            /* the argument rounded to float as any float softmax rounds it
             * (|x - max| up to 100 carries ~3e-6 absolute error) */
            for (int i = 0; i < len; i++) z += ref[i] = exp((double)((x[i] - (float)m) * inv_t));
            double tot = 0.0;
            for (int i = 0; i < len; i++) {
                ref[i] /= z;
                tot += p[i];
                double e = fabs(p[i] - ref[i]) / (ref[i] + 1e-30);
                if (ref[i] > 1e-30 && e > worst) worst = e;
                if (ref[i] <= 1e-30 && p[i] > 1e-30f) worst = 1.0;
            }
            bad_sum += fabs(tot - 1.0) > 1e-5;
        }
    CHECK_MSG(worst < 5e-7, "%s: worst relative error %.3g", name, worst);
    printf("    %s: worst relative error %.3g\n", name, worst);
    CHECK_INT_EQ(bad_sum, 0);
    /* masked and underflowing logits give exactly 0, as expf does */
    float y[11] = { 0.0f, -INFINITY, 1.0f, -200.0f, -INFINITY, 2.0f, -90.0f, 0.5f, -INFINITY, 3.0f, -1e30f };
    float q[11];
    softmax(y, 11, 1.0f, q);
    CHECK(q[1] == 0.0f && q[3] == 0.0f && q[4] == 0.0f && q[6] == 0.0f && q[8] == 0.0f && q[10] == 0.0f);
    double z = exp(-3.0) + exp(-2.0) + exp(-1.0) + exp(-2.5) + 1.0;
    CHECK_NEAR(q[9], 1.0 / z, 1e-6);
    CHECK_NEAR(q[0], exp(-3.0) / z, 1e-7);
    float one[9] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, 7.0f };
    softmax(one, 9, 1.0f, q);
    CHECK(q[8] == 1.0f && q[0] == 0.0f && q[7] == 0.0f);
    free(x); free(p); free(ref);
}

static void softmax_matches_double_precision(void) {
    softmax_check(db_softmax, "db_softmax");
    softmax_check(db_softmax_portable, "db_softmax_portable");
    /* the denominator alone (spec-tree's p_split test) */
    db_rng r = db_rng_make(5, 0);
    for (int n = 1; n <= 70; n += 3) {
        float x[70];
        double z = 0.0;
        for (int i = 0; i < n; i++) x[i] = (float)((db_rng_uniform(&r) - 0.5) * 30);
        for (int i = 0; i < n; i++) z += exp((double)(x[i] - 2.0f));
        CHECK_NEAR(db_softmax_denominator(x, n, 2.0f) / z, 1.0, 5e-7);
    }
}

void suite_sample(void) {
    RUN(softmax_matches_double_precision);
    RUN(argmax_equals_scan);
    RUN(top_k_fast_path_matches_full);
    RUN(truncation_matches_full_sort);
    RUN(greedy_ties_pick_lowest_id);
    RUN(temperature_softmax);
    RUN(top_k_and_top_p);
    RUN(draw_inverse_cdf);
}
