/* rsd.h — the two sampling steps of Recursive Speculative Decoding (Jeon et
 * al. 2024, engines/rsd.c), exposed so tests can check them one node at a
 * time (and feed them planted faults) without a model.
 *
 * A node of the draft tree has draft distribution q (its children are drawn
 * from q WITHOUT replacement) and target distribution p.  Recursive
 * rejection sampling tries the children x_1..x_m in draw order: x_i is
 * accepted with probability min(1, p_i(x_i) / q_i(x_i)); on rejection
 * p_{i+1} = normalize(max(p_i - q_i, 0)) and q_{i+1} = q_i without x_i,
 * renormalised; when all are rejected the token is drawn from p_{m+1}.  The
 * emitted token is then distributed exactly as p.
 */
#ifndef DECOBENCH_RSD_H
#define DECOBENCH_RSD_H

#include "harness/model/model.h"
#include "harness/util/rng.h"

/* Draw up to k distinct tokens from q[0..V) without replacement (the law of
 * Gumbel-Top-k: successive draws from q with the drawn tokens removed and
 * the rest renormalised); fewer when q has fewer than k non-zero entries.
 * Writes them to kids in draw order and returns how many. */
int db_rsd_draw_children(const float *q, int V, int k, db_rng *rng, db_token *kids);

/* The k largest entries of x[0..V) in decreasing order, ties toward the
 * lower id (Gumbel-Top-k with zero noise: the greedy draft tree); returns
 * min(k, V). */
int db_rsd_top_k(const float *x, int V, int k, db_token *kids);

/* Recursive rejection sampling at one node: p, q the target and draft
 * distributions (each sums to 1), kids[0..m) the children in draw order.
 * resid: V doubles of scratch.  Returns the index of the accepted child, or
 * -1 with the residual draw in *extra. */
int db_rsd_verify_node(const float *p, const float *q, int V, const db_token *kids, int m, db_rng *rng,
                       double *resid, db_token *extra);

#endif
