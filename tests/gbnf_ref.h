/* gbnf_ref.h — a reference GBNF recogniser written only for the tests: its
 * own parser of llama.cpp's GBNF syntax and an Earley recogniser over
 * Unicode code points.  It shares no code with harness/constraint/grammar.c (which
 * runs llama.cpp's grammar sampler), so the tests can cross-check the
 * harness's matcher and the masks built on it against an independent
 * implementation of the same language.
 *
 * Semantics follow llama.cpp's grammars/README.md: rules `name ::= alts`,
 * root rule "root"; literals "..." and classes [...] / [^...] with the
 * escapes \x.. \u.... \U........ \t \r \n \\ \" \[ \] \-; `.` any code
 * point; groups; the repetitions * + ? {m} {m,} {m,n}; `#` comments; a
 * rule ends at a newline outside parentheses.
 */
#ifndef DECOBENCH_TEST_GBNF_REF_H
#define DECOBENCH_TEST_GBNF_REF_H

#include <stddef.h>
#include <stdint.h>

typedef struct gbnf_ref gbnf_ref;

/* Parse a grammar.  NULL with one line in err on a syntax error or an
 * undefined rule. */
gbnf_ref *gbnf_ref_parse(const char *text, char *err, size_t errlen);
void gbnf_ref_free(gbnf_ref *g);

/* Classify UTF-8 text (no NUL; a trailing partial UTF-8 sequence counts as
 * not matching): 2 a sentence of the grammar, 1 a proper prefix of one
 * (and not a sentence), 0 neither, -1 invalid UTF-8 or out of memory. */
int gbnf_ref_match(const gbnf_ref *g, const char *text, size_t len);

/* A random sentence of the grammar, derived top-down with choices from the
 * caller's generator; past `depth` levels the shortest alternative is taken.
 * Returns a malloc'd UTF-8 string (NULL when out of memory or when the
 * grammar has no sentence). */
char *gbnf_ref_generate(const gbnf_ref *g, uint64_t *rng_state, int depth);

#endif
