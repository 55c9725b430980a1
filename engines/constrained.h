/* constrained.h — what the grammar-constrained engines share: reading a key
 * of the prompt's constraint, and the `grammar` engine's generation over a
 * GBNF text, so an engine that turns another constraint into GBNF (the
 * `json` engine: JSON Schema) is a thin wrapper (engines/json.c).
 */
#ifndef DECOBENCH_CONSTRAINED_H
#define DECOBENCH_CONSTRAINED_H

#include "engine.h"
#include "sampling_params.h"
#include "harness/constraint/grammar.h"
#include "harness/model/sample.h"

/* The prompt's constraint as GBNF: its "grammar" text, else its
 * "json_schema" converted by harness/constraint/json_gbnf.c (the conversion timed as a
 * COMPILE event).  Records the outcome "constraint_supported" (0/1).
 * Returns 0 with *gbnf malloc'd; 1 when the schema uses a keyword the
 * converter does not enforce — the engine then declines the prompt: no
 * output, stop reason "unsupported" (declared coverage; never a silently
 * loosened grammar); -1 with err set (no usable constraint). */
int db_constraint_gbnf(const db_gen_request *req, db_gen_output *out, char **gbnf, char *err, size_t errlen);

/* The `grammar` engine's parameters: strategy (mask|check), mode
 * (greedy|sample), temp, top_k, top_p. */
#define DB_GRAMMAR_N_PARAMS 5
extern const db_param_def db_grammar_params[DB_GRAMMAR_N_PARAMS];
int db_grammar_validate(const db_params *p, char *err, size_t errlen);

/* Generate under GBNF grammar `gbnf` with req->params from db_grammar_params:
 * a COMPILE event for building the grammar, then per step one target
 * forward and CONSTRAINT events (a full-vocabulary mask: n_vocab evaluated;
 * a single-token check: 1).  Stops at an end-of-generation token (allowed
 * only when the text is a complete sentence; not emitted, stop reason
 * "eog"), at max_new_tokens ("length"), or when no token is allowed
 * ("dead_end").  Returns 0, 1 when cancelled, -1 with err set. */
int db_grammar_generate(const db_gen_request *req, db_gen_output *out, const char *gbnf, char *err,
                        size_t errlen);

/* The `grammar` engine's generate: the prompt's constraint as GBNF
 * (db_constraint_gbnf; a declined schema returns 0 with stop reason
 * "unsupported") decoded by db_grammar_generate. */
int db_gbnf_constraint_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen);

/* One decoding step's model forward, after checking for cancellation:
 * 0, 1 when cancelled (stop reason "cancel"), -1 with err set ("error"). */
int db_constrained_forward(const db_gen_request *req, db_gen_output *out, const db_batch *b, int step, int32_t pos,
                           char *err, size_t errlen);

/* Commit the chosen (allowed) token t: an end-of-generation token ends the
 * output (stop reason "eog", returns 2); otherwise the grammar accepts it,
 * it is appended with a COMMIT event and becomes the next batch at *pos.
 * Returns 0 to continue, 2 at the end, -1 with err set. */
int db_constrained_commit(const db_gen_request *req, db_gen_output *out, db_grammar *g, db_batch *b, int32_t *pos,
                          int step, db_token t, char *err, size_t errlen);

/* Prefill helper: a batch holding the prompt (logits for its last entry).
 * Returns 0, or -1 with err set. */
int db_constrained_prefill(const db_gen_request *req, db_batch *b, char *err, size_t errlen);

#endif
