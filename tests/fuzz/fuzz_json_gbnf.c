/* fuzz_json_gbnf.c — fuzz target: the JSON Schema -> GBNF converter
 * (harness/constraint/json_gbnf*.c, db_json_gbnf_text).  Checks its contract: rc 0 with
 * a grammar, or 1/-1 with a reason and no grammar; a grammar it emits (up to
 * 4 KB, for speed) must be one llama.cpp's grammar parser accepts
 * (harness/constraint/grammar.c). */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "harness/constraint/grammar.h"
#include "harness/constraint/json_gbnf.h"

int db_fuzz_json_gbnf(const uint8_t *data, size_t size) {
    char *text = db_fuzz_str(data, size);
    if (!text) return 0;
    char *g = NULL, why[512] = "";
    int rc = db_json_gbnf_text(text, &g, why, sizeof why);
    DB_FUZZ_CHECK(rc >= -1 && rc <= 1, "db_json_gbnf returned %d", rc);
    DB_FUZZ_CHECK(rc == 0 ? g != NULL : g == NULL && why[0], "rc %d, grammar %p, why '%s'", rc, (void *)g, why);
    if (rc == 0 && g && strlen(g) <= 4096) {   /* llama.cpp's parse of a large grammar costs more than the conversion */
        char err[512] = "";
        int m = db_gbnf_match(g, "", 0, err, sizeof err);
        DB_FUZZ_CHECK(m >= 0, "llama.cpp refuses the converter's grammar: %s", err);
    }
    free(g);
    free(text);
    return 0;
}

DB_FUZZ_ENTRY(json_gbnf)
