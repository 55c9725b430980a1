/* grammar.h — GBNF grammars on text: is a string a sentence (or a prefix of
 * one) of a grammar?  The token-level API engines use is in model.h
 * (db_model_grammar_new and db_grammar_*); both run llama.cpp's grammar
 * sampler, here over a byte-level vocabulary (one token per byte), so the
 * harness's compliance check (grammar_valid) and the engines' masks apply
 * the same grammar semantics.
 */
#ifndef DECOBENCH_GRAMMAR_H
#define DECOBENCH_GRAMMAR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

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
