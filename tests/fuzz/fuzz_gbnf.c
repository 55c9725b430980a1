/* fuzz_gbnf.c — fuzz target: the GBNF path (harness/constraint/grammar.c: a grammar
 * parsed by llama.cpp's grammar sampler over the byte-level vocabulary, then
 * a text walked through it).  Input: GRAMMAR [NUL TEXT]; without a NUL the
 * text is empty.  Checks: db_gbnf_match gives -1 with a reason or a
 * DB_GBNF_* value; a complete text is also a prefix of itself under
 * db_gbnf_check's contract (check 1 iff match COMPLETE); every prefix of an
 * accepted text is accepted as a prefix. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "harness/constraint/grammar.h"

int db_fuzz_gbnf(const uint8_t *data, size_t size) {
    char *gram, *text;
    if (db_fuzz_split(data, size, &gram, &text) < 0) return 0;
    const char *t = text ? text : "";
    size_t n = strlen(t);
    char err[512] = "";
    int m = db_gbnf_match(gram, t, n, err, sizeof err);
    DB_FUZZ_CHECK(m >= -1 && m <= DB_GBNF_COMPLETE, "db_gbnf_match returned %d", m);
    DB_FUZZ_CHECK(m != -1 || err[0], "-1 without a reason");
    if (m >= 0) {
        char e2[512] = "";
        int c = db_gbnf_check(gram, t, e2, sizeof e2);
        DB_FUZZ_CHECK(c == (m == DB_GBNF_COMPLETE), "db_gbnf_check %d, db_gbnf_match %d", c, m);
        if (m != DB_GBNF_NO && n > 1) {
            int h = db_gbnf_match(gram, t, n / 2, e2, sizeof e2);
            DB_FUZZ_CHECK(h == DB_GBNF_PREFIX || h == DB_GBNF_COMPLETE, "half of an accepted text: %d", h);
        }
    }
    free(gram);
    free(text);
    return 0;
}

DB_FUZZ_ENTRY(gbnf)
