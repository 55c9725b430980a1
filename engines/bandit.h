/* bandit.h — the draft-length controllers of the speculative engines: a
 * bandit over arms 1..K (draft lengths) whose reward is in [0, 1].
 *
 *   UCB1 (Auer et al. 2002), as BanditSpec (Hou et al. 2025) uses it: every
 *   arm once, then the arm maximising mean + c·sqrt(2 ln t / pulls).
 *   EXP3 (Auer et al. 2002), BanditSpec's adversarial-reward controller:
 *   p_a = (1 − γ)·w_a / Σw + γ/K; an arm is drawn from p; the pulled arm's
 *   weight is multiplied by exp(γ·(r / p_a) / K).  Weights are kept as logs
 *   (shifted so the largest is 0), so long runs do not overflow.
 *   Thompson sampling (Thompson 1933; Agrawal & Goyal 2012): a Beta(1, 1)
 *   prior per arm, the reward r added to α and 1 − r to β (the fractional
 *   update for rewards in [0, 1]); the arm with the largest Beta draw.
 *
 * Rewards: db_bandit_reward scales a step's committed tokens per second by
 * the largest rate seen so far (the scale BanditSpec's analysis assumes).
 * Only the draft length changes with the arm, never what is accepted, so a
 * controller cannot affect losslessness.
 */
#ifndef DECOBENCH_BANDIT_H
#define DECOBENCH_BANDIT_H

#include "harness/util/rng.h"

#define DB_BANDIT_MAX_ARMS 16

enum { DB_BANDIT_UCB, DB_BANDIT_EXP3, DB_BANDIT_THOMPSON };

typedef struct db_bandit {
    int kind, n_arms;
    double c;                           /* UCB exploration constant */
    double gamma;                       /* EXP3 exploration rate, (0, 1] */
    int pulls[DB_BANDIT_MAX_ARMS + 1];  /* arms 1..n_arms */
    double mean[DB_BANDIT_MAX_ARMS + 1];
    double log_w[DB_BANDIT_MAX_ARMS + 1];
    double prob[DB_BANDIT_MAX_ARMS + 1];  /* EXP3: the distribution of the last choice */
    double alpha[DB_BANDIT_MAX_ARMS + 1], beta[DB_BANDIT_MAX_ARMS + 1];  /* Thompson's posteriors */
    double best_rate;
    int t;
} db_bandit;

/* A bandit over arms 1..n_arms (clamped to DB_BANDIT_MAX_ARMS). */
void db_bandit_init(db_bandit *b, int kind, int n_arms, double c, double gamma);
/* The arm to pull; r: the controller's own random stream (EXP3 takes one
 * uniform draw, Thompson one Beta draw per arm, UCB none). */
int db_bandit_choose(db_bandit *b, db_rng *r);
/* EXP3's arm for the uniform draw u in [0, 1), from b->prob. */
int db_bandit_exp3_arm(const db_bandit *b, double u);
/* EXP3's current probabilities into b->prob (also done by choose). */
void db_bandit_exp3_probs(db_bandit *b);
/* Record reward r in [0, 1] for arm (clamped into [0, 1]). */
void db_bandit_update(db_bandit *b, int arm, double r);
/* tokens_per_s as a reward: divided by the largest rate seen so far. */
double db_bandit_reward(db_bandit *b, double tokens_per_s);

#endif
