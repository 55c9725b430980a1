/* scorer.h — teacher-forced likelihood of a generated continuation under a
 * causal model (the suite's "scorer", docs/suite-format.md).
 *
 * Engines that do not sample from a causal model's own distribution (masked
 * diffusion, lookahead variants with sampling, ...) are compared on output
 * quality by the perplexity a fixed reference model assigns to their
 * outputs given the prompt.  The runner stores it per sample as
 * sample_metric `scorer_nll` (mean nats/token) and `scorer_ppl` (exp of it).
 */
#ifndef DECOBENCH_SCORER_H
#define DECOBENCH_SCORER_H

#include <stddef.h>

#include "harness/model/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mean negative log-likelihood (nats per token) of out[0..n_out) following
 * prompt[0..n_prompt) under model m: one causal forward over the prompt and
 * the output (the last output token is not evaluated), rows from the last
 * prompt token on.  The model's KV cache is reset first and left holding the
 * sequence; attention is switched to causal.  Needs n_prompt >= 1 and
 * n_out >= 1.  Returns 0, or -1 with one line in err. */
int db_score_continuation(db_model *m, const db_token *prompt, int n_prompt, const db_token *out, int n_out,
                          double *mean_nll, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
