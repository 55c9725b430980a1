/* opt_tree.h — OPT-Tree's draft-tree selection (engines/opt_tree.c), shared
 * with its tests: a tree under a node budget N that maximises the expected
 * accepted length E = sum over its nodes of their path probability (the
 * product of the draft's probabilities from the root down to the node).
 *
 * The tree grows layer by layer: db_opt_tree_expand appends the candidate
 * children of one node, db_opt_tree_select keeps the N best nodes of the
 * whole set.  A child's score is never above its parent's and ties rank the
 * older node first, so the top N always form a tree (every kept node's
 * parent is kept); since scores only fall with depth, once a layer places
 * no node in the top N no deeper one can, and the result is the top N of
 * the whole (infinite) draft tree within the depth limit: the maximum of E
 * over all trees of at most N nodes.
 */
#ifndef DECOBENCH_OPT_TREE_H
#define DECOBENCH_OPT_TREE_H

#include "harness/model/model.h"

typedef struct db_opt_node {
    db_token tok;
    int parent;       /* index in the node array, -1: a child of the root */
    int depth;        /* 1: a child of the root */
    int id;           /* creation order (ties rank the older node first) */
    double score;     /* product of the draft probabilities along the path */
    int dseq;         /* engine: draft sequence id once evaluated, else -1 */
    int drow;         /* engine: draft logits row once evaluated, else -1 */
} db_opt_node;

/* Append the children of nodes[parent] (parent -1: the root, score 1) that
 * could enter a top-`budget` set: the `budget` most likely tokens of q[0..V)
 * with q > 0 (ties: the lower id), in decreasing q, each with score
 * parent score × q.  At most `cap` nodes in all; *next_id numbers them.
 * Returns the new node count. */
int db_opt_tree_expand(db_opt_node *nodes, int n, int cap, int parent, const float *q, int V, int budget,
                       int *next_id);

/* Keep the `budget` best nodes (score descending, then id ascending), in
 * that order (a parent always before its children), parents remapped.
 * Returns the new node count. */
int db_opt_tree_select(db_opt_node *nodes, int n, int budget);

/* E[accepted length] of a tree: the sum of its nodes' scores. */
double db_opt_tree_value(const db_opt_node *nodes, int n);

#endif
