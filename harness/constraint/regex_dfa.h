/* regex_dfa.h — regular expressions compiled to a deterministic automaton
 * over bytes, with state-level access for constrained decoding.
 *
 * Constrained decoders need more than "does this string match": they walk
 * the automaton token by token (a token's transition is running its piece's
 * bytes), ask whether a state can still reach acceptance (a "live" state:
 * the text so far is a valid prefix), and run dynamic programs over states
 * (engines/diffusion.c, DINGO).  No Debian-packaged C library offers that:
 * POSIX <regex.h> and PCRE2 only match strings and do not expose their
 * states, and RE2 (C++) keeps its DFA internal.  So this module is
 * hand-written: the regex front end's parse (regex.h, its DB_RX_STRICT
 * dialect) → Thompson NFA → subset-construction DFA → live-state analysis.
 *
 * Syntax: an ECMA-262-like subset, matched against the whole text (the
 * pattern is implicitly anchored; a leading ^ and a trailing $ are
 * accepted and change nothing):
 *   literals (UTF-8 characters are byte sequences), escapes \t \n \r \f \v
 *   \0 \xHH \uHHHH and escaped punctuation; classes [...] [^...] with
 *   ranges (ASCII members only); \d \w \s and \D \W \S (ASCII meanings; the
 *   negated ones and [^...] also match any non-ASCII UTF-8 character); "."
 *   (any character but \n and \r, a non-ASCII one as a whole UTF-8
 *   sequence); groups (...) and (?:...); alternation |; quantifiers * + ?
 *   {m} {m,} {m,n}, lazy forms (*? etc.) accepted (same language).
 * Not supported (compile error naming the construct): backreferences,
 * lookaround, \b \B, named groups, flags, ^/$ other than at the ends.
 */
#ifndef DECOBENCH_REGEX_DFA_H
#define DECOBENCH_REGEX_DFA_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DB_DFA_DEAD (-1)

typedef struct db_regex_dfa db_regex_dfa;

/* Compile pattern.  Returns 0, or -1 with one line in err naming the
 * pattern and the problem (syntax error at an offset, unsupported
 * construct, automaton too large). */
int  db_regex_dfa_compile(const char *pattern, db_regex_dfa **out, char *err, size_t errlen);
void db_regex_dfa_free(db_regex_dfa *d);

int  db_regex_dfa_n_states(const db_regex_dfa *d);
/* Start state; DB_DFA_DEAD when the language is empty. */
int  db_regex_dfa_start(const db_regex_dfa *d);
/* Next state after one byte; DB_DFA_DEAD when no accepted text continues
 * this way (transitions into states that cannot reach acceptance are dead). */
int  db_regex_dfa_step(const db_regex_dfa *d, int state, unsigned char byte);
/* Run n bytes from state; DB_DFA_DEAD as soon as the walk dies. */
int  db_regex_dfa_run(const db_regex_dfa *d, int state, const char *bytes, size_t n);
bool db_regex_dfa_accepting(const db_regex_dfa *d, int state);
/* Can an accepting state be reached from state?  (Every state other than
 * DB_DFA_DEAD is live; kept as a function for readability at call sites.) */
bool db_regex_dfa_live(const db_regex_dfa *d, int state);
/* Whole-text match: 1 yes, 0 no. */
int  db_regex_dfa_match(const db_regex_dfa *d, const char *text, size_t n);
/* Is text a prefix of some matching text?  1 yes, 0 no. */
int  db_regex_dfa_prefix(const db_regex_dfa *d, const char *text, size_t n);

#ifdef __cplusplus
}
#endif
#endif
