/* constrained.h — what the grammar-constrained engines share: reading a key
 * of the prompt's constraint, and the `grammar` engine's generation over a
 * GBNF text, so an engine that turns another constraint into GBNF (a JSON
 * Schema, say) is a thin wrapper:
 *
 *     static int json_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
 *         char *schema = ..., *gbnf = ...;      // constraint "json_schema" -> GBNF
 *         int rc = db_grammar_generate(req, out, gbnf, err, errlen);
 *         ...
 *     }
 *     const db_engine db_engine_json = { .name = "json", .params = db_grammar_params,
 *         .n_params = DB_GRAMMAR_N_PARAMS, .validate = db_grammar_validate, .generate = json_generate, ... };
 */
#ifndef DECOBENCH_CONSTRAINED_H
#define DECOBENCH_CONSTRAINED_H

#include "engine.h"
#include "../harness/sample.h"

/* The string value of `key` in the prompt's constraint JSON, malloc'd.
 * Returns 0, or -1 with "unsupported constraint: ..." in err when the
 * prompt has no such key (or it is not a string). */
int db_constraint_string(const char *constraint_json, const char *key, char **out, char *err, size_t errlen);

/* The `grammar` engine's parameters: strategy (mask|check), mode
 * (greedy|sample), temp, top_k, top_p. */
#define DB_GRAMMAR_N_PARAMS 5
extern const db_param_def db_grammar_params[DB_GRAMMAR_N_PARAMS];
int db_grammar_validate(const db_params *p, char *err, size_t errlen);

/* Sampling settings from parameters named mode (optional), temp, top_k, top_p. */
db_sampling db_constrained_sampling(const db_params *p);

/* Generate under GBNF grammar `gbnf` with req->params from db_grammar_params:
 * a COMPILE event for building the grammar, then per step one target
 * forward and CONSTRAINT events (a full-vocabulary mask: n_vocab evaluated;
 * a single-token check: 1).  Stops at an end-of-generation token (allowed
 * only when the text is a complete sentence; not emitted, stop reason
 * "eog"), at max_new_tokens ("length"), or when no token is allowed
 * ("dead_end").  Returns 0, 1 when cancelled, -1 with err set. */
int db_grammar_generate(const db_gen_request *req, db_gen_output *out, const char *gbnf, char *err,
                        size_t errlen);

/* Prefill helper: a batch holding the prompt (logits for its last entry).
 * Returns 0, or -1 with err set. */
int db_constrained_prefill(const db_gen_request *req, db_batch *b, char *err, size_t errlen);

#endif
