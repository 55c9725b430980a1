/* model_exact.h — the analytic "exact" backend's closed form.
 *
 * Vocabulary: V tokens; 0 = "<s>" (BOS), 1 = "</s>" (EOS), 2 = "<mask>",
 * 3..V-1 = words "w3".."w{V-1}".  The next-token logits after a context are
 *
 *     logit[v] = sharpness · (z(seed, h, v) + noise · z(noise_seed, h, v))   (+ eos_bias for v = EOS)
 *
 * where h hashes the last `order` tokens,
 * with z a standard normal drawn by Philox from (seed, context hash, v), and
 * BOS and MASK never generated (logit −∞, written as −1e30).  With
 * `positional`, the context hash also includes the position.  In
 * bidirectional (non-causal) mode the row at position p gives a fully
 * factorised distribution for position p itself: z(seed, hash(p), v); with
 * bidir_context = k > 0 it depends on the neighbours too, the tokens the
 * cache holds at p-k..p-1 and p+1..p+k (a mask token or an empty position
 * included as it is): z(seed, hash(p, neighbours), v), so an engine that
 * feeds its committed tokens back wrongly changes the distribution.
 *
 * Two models with the same seed and different noise are correlated (a
 * realistic draft for a target): the noise term perturbs their agreement.
 *
 * Spec text: "vocab=64,order=2,seed=7,sharpness=2.5,eos_bias=-4,positional=0,noise=0.5,noise_seed=2,bidir_context=1".
 *
 * Alphabets (token pieces; the closed form above does not depend on them):
 *   words (default)  3..V-1 are " w3".." w{V-1}"; text tokenizes by words.
 *   json             alphabet=json: a character-level vocabulary of
 *                    DB_EXACT_JSON_VOCAB tokens for grammar tests: 3..97 are
 *                    the printable ASCII characters ' '..'~', 98 is "\n",
 *                    99.. the multi-character pieces of db_exact_json_multi[].
 *                    Text tokenizes by greedy longest match; bytes outside
 *                    the alphabet (non-ASCII, control characters) are skipped.
 *                    vocab is fixed by the alphabet.
 * Tests compute the exact distribution with db_exact_logits() and compare it
 * with what engines sample through the db_model interface.
 */
#ifndef DECOBENCH_MODEL_EXACT_H
#define DECOBENCH_MODEL_EXACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_exact_spec {
    int vocab;          /* >= 4 */
    int order;          /* tokens of context, 0..8 */
    uint64_t seed;
    double sharpness;   /* logit scale */
    double eos_bias;    /* added to EOS's logit; -1e30 = never stop */
    bool positional;    /* context hash includes the position */
    double noise;       /* weight of the second normal term (0 = none) */
    uint64_t noise_seed;
    int bidir_context;  /* 0..8 neighbours each side in bidirectional mode (0 = factorised) */
    int alphabet;       /* DB_EXACT_ALPHABET_* */
} db_exact_spec;

enum { DB_EXACT_ALPHABET_WORDS = 0, DB_EXACT_ALPHABET_JSON = 1 };

#define DB_EXACT_JSON_MULTI 12
#define DB_EXACT_JSON_VOCAB (3 + 96 + DB_EXACT_JSON_MULTI)
/* The multi-character pieces of alphabet=json, tokens 99.. */
extern const char *const db_exact_json_multi[DB_EXACT_JSON_MULTI];

#define DB_EXACT_BOS 0
#define DB_EXACT_EOS 1
#define DB_EXACT_MASK 2
#define DB_EXACT_NEG_INF (-1e30f)

/* Parse a spec string; unset fields keep defaults (vocab 32, order 1, seed 1,
 * sharpness 2, eos_bias -1e30, positional 0, noise 0, noise_seed 2).  Returns 0 or -1 + err. */
int db_exact_spec_parse(const char *text, db_exact_spec *spec, char *err, size_t errlen);

/* Piece text of token t (NUL-terminated, special tokens as "<s>", "</s>",
 * "<mask>"); returns its length, or -1 for a token outside the vocabulary. */
int db_exact_piece(const db_exact_spec *spec, db_token t, char *buf, size_t cap);

/* Causal next-token logits for the token at position `pos`, given the
 * `n_ctx` tokens before it (ctx[n_ctx-1] at pos-1).  Only the last `order`
 * are used; positions before 0 count as absent. */
void db_exact_logits(const db_exact_spec *spec, const db_token *ctx, int n_ctx, int32_t pos, float *out);

/* Non-causal (factorised) logits for position pos. */
void db_exact_logits_bidir(const db_exact_spec *spec, int32_t pos, float *out);

/* Non-causal logits for position pos given its spec->bidir_context
 * neighbours on each side: left[j] at pos-1-j, right[j] at pos+1+j
 * (DB_TOKEN_NULL where there is none). */
void db_exact_logits_bidir_ctx(const db_exact_spec *spec, int32_t pos, const db_token *left, const db_token *right,
                               float *out);

#ifdef __cplusplus
}
#endif
#endif
