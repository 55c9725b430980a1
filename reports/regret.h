/* regret.h — `decobench report --regret`: the regret of every adaptive
 * draft-length controller (a case whose params have "adaptive" other than
 * "off": UCB1, EXP3 or Thompson sampling, engines/bandit.h) against the best fixed setting of
 * the same method chosen in hindsight, as BanditSpec (Hou et al. 2025)
 * measures it.
 *
 * Comparators (the arms): the cases of the same run with the same engine,
 * dataset, target model and draft model whose "adaptive" is "off", whose
 * parameters equal the adaptive case's but for the controller's (k,
 * adaptive, ucb_c, exp3_gamma), and whose k is within its arms 1..k.  Prompts:
 * the (prompt, repetition, turn) keys every one of them and the adaptive
 * case measured.  Rounds are target verification rounds (the sample's
 * n_commits: BanditSpec's stopping time T); the best fixed case is the one
 * with the fewest rounds over those prompts, and
 *   regret = Σ rounds(adaptive) − Σ rounds(best fixed)      (rounds, and % of the latter)
 * A negative regret means the controller beat every fixed k (per prompt it
 * may choose differently).  Latency regret is the same with Σ latency and
 * the fixed case of least total latency (wall time: noisy; rounds are not).
 */
#ifndef DECOBENCH_REGRET_H
#define DECOBENCH_REGRET_H

#include <stdio.h>

#include "report.h"

/* Writes the regret table of run o->run_id (0: the latest) as o->format (md
 * or csv).  0, or -1 with err set. */
int db_report_regret(db_store *st, const db_report_opts *o, FILE *out, char *err, size_t errlen);

#endif
