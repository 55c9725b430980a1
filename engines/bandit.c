/* bandit.c — UCB1, EXP3 and Thompson sampling over draft lengths (bandit.h). */
#include "bandit.h"

#include <math.h>
#include <string.h>

#include "harness/util/stats.h"

void db_bandit_init(db_bandit *b, int kind, int n_arms, double c, double gamma) {
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->n_arms = n_arms < 1 ? 1 : n_arms > DB_BANDIT_MAX_ARMS ? DB_BANDIT_MAX_ARMS : n_arms;
    b->c = c;
    b->gamma = gamma > 0 && gamma <= 1 ? gamma : 0.1;
    for (int a = 1; a <= b->n_arms; a++) b->alpha[a] = b->beta[a] = 1;
    db_bandit_exp3_probs(b);
}

void db_bandit_exp3_probs(db_bandit *b) {
    const int K = b->n_arms;
    double z = 0;
    for (int a = 1; a <= K; a++) z += exp(b->log_w[a]);
    for (int a = 1; a <= K; a++) b->prob[a] = (1 - b->gamma) * exp(b->log_w[a]) / z + b->gamma / K;
}

int db_bandit_exp3_arm(const db_bandit *b, double u) {
    double acc = 0;
    for (int a = 1; a < b->n_arms; a++) {
        acc += b->prob[a];
        if (u < acc) return a;
    }
    return b->n_arms;
}

int db_bandit_choose(db_bandit *b, db_rng *r) {
    const int K = b->n_arms;
    if (b->kind == DB_BANDIT_EXP3) {
        db_bandit_exp3_probs(b);
        return db_bandit_exp3_arm(b, db_rng_uniform(r));
    }
    if (b->kind == DB_BANDIT_THOMPSON) {
        int best = 1;
        double best_v = -1;
        for (int a = 1; a <= K; a++) {
            double v = db_rng_beta(r, b->alpha[a], b->beta[a]);
            if (v > best_v) {
                best_v = v;
                best = a;
            }
        }
        return best;
    }
    for (int a = 1; a <= K; a++)
        if (b->pulls[a] == 0) return a;
    int best = 1;
    double best_v = -1e300;
    for (int a = 1; a <= K; a++) {
        double v = b->mean[a] + b->c * sqrt(2.0 * log((double)b->t) / b->pulls[a]);
        if (v > best_v) {
            best_v = v;
            best = a;
        }
    }
    return best;
}

void db_bandit_update(db_bandit *b, int arm, double r) {
    if (arm < 1 || arm > b->n_arms) return;
    if (!(r >= 0)) r = 0;
    if (r > 1) r = 1;
    b->pulls[arm]++;
    b->t++;
    b->mean[arm] += (r - b->mean[arm]) / b->pulls[arm];
    b->alpha[arm] += r;
    b->beta[arm] += 1 - r;
    if (b->kind == DB_BANDIT_EXP3) {
        /* importance-weighted reward of the pulled arm, with the probability it was drawn with */
        double p = b->prob[arm] > 0 ? b->prob[arm] : 1.0 / b->n_arms;
        b->log_w[arm] += b->gamma * (r / p) / b->n_arms;
        double top = -1e300;
        for (int a = 1; a <= b->n_arms; a++)
            if (b->log_w[a] > top) top = b->log_w[a];
        for (int a = 1; a <= b->n_arms; a++) b->log_w[a] -= top;
        db_bandit_exp3_probs(b);
    }
}

double db_bandit_reward(db_bandit *b, double tokens_per_s) {
    if (tokens_per_s > b->best_rate) b->best_rate = tokens_per_s;
    return b->best_rate > 0 ? tokens_per_s / b->best_rate : 0;
}
