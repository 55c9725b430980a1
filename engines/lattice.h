/* lattice.h — the lattice built by the `lattice` engine (engines/lattice.c),
 * exposed for `decobench export-lattice` (Graphviz DOT) and the tests. */
#ifndef DECOBENCH_LATTICE_H
#define DECOBENCH_LATTICE_H

#include <stdbool.h>
#include <stdio.h>

#include "engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_lattice_node {
    db_token tok;            /* DB_TOKEN_NULL for the root (the prompt) */
    int depth;               /* tokens after the prompt */
    int rep_parent;          /* parent on the path it was created from (its model context) */
    bool terminal;           /* ends in end-of-generation or at the length limit */
    bool eog;
    double best;             /* best path score into it (after db_lattice_build) */
    int best_in;             /* edge of that path, -1 for the root */
    double n_paths;          /* paths from the root into it */
} db_lattice_node;

typedef struct db_lattice_edge {
    int from, to;
    float logp;
} db_lattice_edge;

typedef struct db_lattice {
    db_lattice_node *nodes;
    int n_nodes, cap_nodes;
    db_lattice_edge *edges;
    int n_edges, cap_edges;
    int ngram;               /* recombination suffix length */
    int max_len;
    double length_norm;      /* alpha of score / length^alpha */
    int calls;               /* model calls after the prompt's */
    int merges;              /* hypotheses recombined into an existing node */
    double n_complete_paths; /* distinct root-to-terminal paths */
    int best_terminal;       /* -1 when no path is complete */
} db_lattice;

/* Run the lattice search of the `lattice` engine on req (req->params: the
 * lattice engine's parameter table).  Returns 0, 1 cancelled, -1 + err. */
int  db_lattice_build(const db_gen_request *req, db_lattice *lat, char *err, size_t errlen);
void db_lattice_free(db_lattice *lat);
/* Tokens of the path into node n (EOS included); returns its length. */
int  db_lattice_best_path(const db_lattice *lat, int n, db_token *buf);
/* Call fn for complete paths in depth-first order, at most max_paths of
 * them; fn returns non-zero to stop.  Returns the number visited, -1 out of memory. */
int  db_lattice_each_path(const db_lattice *lat, int max_paths,
                          int (*fn)(void *ctx, const db_token *tok, int len, double score), void *ctx);
/* Graphviz DOT of the lattice; pieces from model m; the best path in red. */
int  db_lattice_write_dot(const db_lattice *lat, db_model *m, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
