/* grammar.h — GBNF grammars, the constraint layer's grammar engine:
 * the token-level API the engines use (db_model_grammar_new and
 * db_grammar_*, a grammar bound to a model's vocabulary), and grammars on
 * text (is a string a sentence, or a prefix of one, of a grammar?).  Both
 * run llama.cpp's grammar sampler, the text API over a byte-level
 * vocabulary (one token per byte), so the harness's compliance check
 * (grammar_valid) and the engines' masks apply the same grammar semantics.
 */
#ifndef DECOBENCH_GRAMMAR_H
#define DECOBENCH_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/model/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- grammars ----------------------------------------------------------
 * A GBNF grammar (llama.cpp syntax, root rule "root") bound to a model's
 * vocabulary, evaluated by llama.cpp's grammar sampler for every backend:
 * the llama backend uses its own vocabulary; other backends get a
 * vocabulary-only llama.cpp model built from their token pieces (pieces must
 * be distinct; BOS, EOS and MASK are control tokens).  A token is allowed
 * when the text so far plus its piece is a prefix of a sentence of the
 * grammar; an end-of-generation token is allowed only when the text so far
 * is a complete sentence.  Not thread-safe per db_grammar.               */
typedef struct db_grammar db_grammar;

/* Parse gbnf for m's vocabulary.  NULL on failure, with one line in err
 * naming the problem ("grammar: error parsing grammar: expecting ..."). */
db_grammar *db_model_grammar_new(db_model *m, const char *gbnf, char *err, size_t errlen);
/* Check n candidate tokens: ok[i] = 1 when cand[i] is allowed now.  Returns
 * the number allowed. */
int  db_grammar_allowed(db_grammar *g, const db_token *cand, int n, uint8_t *ok);
/* Mask a full-vocabulary logits row in place (-INFINITY for disallowed
 * tokens).  Returns the number of tokens left allowed. */
int  db_grammar_mask(db_grammar *g, float *logits);
/* Is the text accepted so far a complete sentence (end of generation allowed)? */
bool db_grammar_complete(db_grammar *g);
/* Advance by one allowed token (end-of-generation tokens leave the state as
 * it is).  Returns 0, or -1 when t is not allowed (state unchanged). */
int  db_grammar_accept(db_grammar *g, db_token t);
/* Independent copy of the current state; NULL when out of memory. */
db_grammar *db_grammar_clone(const db_grammar *g);
void db_grammar_free(db_grammar *g);

enum {
    DB_GBNF_NO = 0,        /* text is not a prefix of any sentence */
    DB_GBNF_PREFIX = 1,    /* text is a proper prefix of a sentence, not itself one */
    DB_GBNF_COMPLETE = 2,  /* text is a sentence */
};

/* Match text[0..len) against gbnf (root rule "root").  Returns DB_GBNF_*, or
 * -1 with one line in err when the grammar does not parse. */
int db_gbnf_match(const char *gbnf, const char *text, size_t len, char *err, size_t errlen);

/* The harness's grammar checker (quality.h, db_grammar_checker): 1 when the
 * whole text is a sentence of gbnf, 0 when not, -1 on a bad grammar. */
int db_gbnf_check(const char *gbnf, const char *text, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
