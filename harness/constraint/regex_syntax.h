/* regex_syntax.h — the lexical pieces of ECMA-262 regular expressions (an
 * escape after a backslash, a {m,n} quantifier), read by the regex front
 * end's parser (regex_parse.c, see regex.h) in its Annex B dialects, so the
 * validator's matcher and the schema -> GBNF converter read \d, \x41,
 * \u{1F600}, surrogate pairs, \cJ, identity escapes and {2,} alike and
 * differ only in what they support. */
#ifndef DECOBENCH_REGEX_SYNTAX_H
#define DECOBENCH_REGEX_SYNTAX_H

#include <stdbool.h>
#include <stdint.h>

typedef enum db_re_escape_kind {
    DB_RE_ESC_CHAR,          /* one code point: cp */
    DB_RE_ESC_CLASS,         /* \d \D \w \W \s \S: cls is that letter */
    DB_RE_ESC_WORD_BOUNDARY, /* \b outside a class */
    DB_RE_ESC_NOT_BOUNDARY,  /* \B outside a class */
    DB_RE_ESC_PROPERTY,      /* \p{..} / \P{..}: cls 'p' or 'P'; the caller reads the braces (*i at '{') */
    DB_RE_ESC_BACKREF,       /* \1 .. \9 outside a class */
    DB_RE_ESC_NAMED_BACKREF, /* \k<name> */
    DB_RE_ESC_INVALID,       /* \B in a class, \0 followed by a digit, a trailing backslash */
} db_re_escape_kind;

typedef struct db_re_escape {
    db_re_escape_kind kind;
    uint32_t cp;             /* DB_RE_ESC_CHAR */
    char cls;                /* DB_RE_ESC_CLASS, DB_RE_ESC_PROPERTY */
} db_re_escape;

/* Decode the escape at p[*i] (the character after the backslash) of the
 * code points p[0..n); advances *i past it.  Annex B leniency as JavaScript
 * engines apply it: \c without a letter is a backslash, \x / \u without hex
 * digits are the letters themselves, other escaped characters stand for
 * themselves.  A \uD83D\uDE00 surrogate pair is one code point. */
db_re_escape db_regex_escape(const uint32_t *p, int n, int *i, bool in_class);

/* A quantifier {m}, {m,} or {m,n} at p[*i] == '{': returns 1 with *mn, *mx
 * (-1: unbounded; counts capped near 100000) and *i past the '}', or 0 when
 * the brace is not a quantifier (Annex B: then it is a literal '{'). */
int db_regex_braces(const uint32_t *p, int n, int *i, long *mn, long *mx);

#endif
