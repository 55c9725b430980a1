/* fuzz_regex_dfa.c — fuzz target: the regex -> DFA compiler
 * (harness/constraint/regex_dfa.c, over the regex front end's AST in its strict
 * dialect, harness/constraint/regex_parse.c).  Input: PATTERN [NUL SUBJECT]; a pattern that
 * compiles is run on the subject (the pattern text itself when there is no
 * NUL), and whole-text match, prefix and the byte-by-byte walk must agree. */
#include "fuzz.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/constraint/regex_dfa.h"

int db_fuzz_regex_dfa(const uint8_t *data, size_t size) {
    char *pat, *subj;
    if (db_fuzz_split(data, size, &pat, &subj) < 0) return 0;
    const char *s = subj ? subj : pat;
    db_regex_dfa *d = NULL;
    char err[512] = "";
    int rc = db_regex_dfa_compile(pat, &d, err, sizeof err);
    DB_FUZZ_CHECK(rc == 0 ? d != NULL : rc == -1 && err[0], "compile: rc %d, err '%s'", rc, err);
    if (rc == 0) {
        size_t n = strlen(s);
        int st = db_regex_dfa_start(d), ns = db_regex_dfa_n_states(d);
        DB_FUZZ_CHECK(st == DB_DFA_DEAD || (st >= 0 && st < ns), "start state %d of %d", st, ns);
        int cur = st;
        for (size_t i = 0; i < n && cur != DB_DFA_DEAD; i++) {
            cur = db_regex_dfa_step(d, cur, (unsigned char)s[i]);
            DB_FUZZ_CHECK(cur == DB_DFA_DEAD || (cur >= 0 && cur < ns), "state %d of %d", cur, ns);
            DB_FUZZ_CHECK(cur == DB_DFA_DEAD || db_regex_dfa_live(d, cur), "a non-dead state that is not live");
        }
        int run = st == DB_DFA_DEAD ? DB_DFA_DEAD : db_regex_dfa_run(d, st, s, n);
        DB_FUZZ_CHECK(run == cur, "run %d, step by step %d", run, cur);
        int m = db_regex_dfa_match(d, s, n), p = db_regex_dfa_prefix(d, s, n);
        DB_FUZZ_CHECK(m == (cur != DB_DFA_DEAD && db_regex_dfa_accepting(d, cur)), "match %d disagrees with the walk", m);
        DB_FUZZ_CHECK(p == (cur != DB_DFA_DEAD), "prefix %d disagrees with the walk", p);
        DB_FUZZ_CHECK(!m || p, "a match that is not a prefix");
        db_regex_dfa_free(d);
    }
    free(pat);
    free(subj);
    return 0;
}

DB_FUZZ_ENTRY(regex_dfa)
