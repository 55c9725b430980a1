/* fuzz_regex_gbnf.c — fuzz target: the converter's regex front end
 * (harness/constraint/json_gbnf_regex.c, "pattern" -> GBNF over the regex front end's
 * AST, harness/constraint/regex_parse.c).
 * The input is the pattern of {"type":"string","pattern":P}; a grammar the
 * converter emits must parse in llama.cpp (harness/constraint/grammar.c).  Text after a
 * NUL byte is ignored (the input format of the other regex targets, so their
 * corpora can be shared). */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "harness/constraint/grammar.h"
#include "harness/constraint/json_gbnf.h"

int db_fuzz_regex_gbnf(const uint8_t *data, size_t size) {
    char *pat, *subj;
    if (db_fuzz_split(data, size, &pat, &subj) < 0) return 0;
    cJSON *schema = cJSON_CreateObject();
    if (schema && cJSON_AddStringToObject(schema, "type", "string") && cJSON_AddStringToObject(schema, "pattern", pat)) {
        char *g = NULL, why[512] = "";
        int rc = db_json_gbnf(schema, &g, why, sizeof why);
        DB_FUZZ_CHECK(rc == 0 ? g != NULL : (rc == 1 || rc == -1) && !g && why[0], "rc %d, why '%s'", rc, why);
        if (rc == 0 && g && strlen(g) <= 4096) {   /* llama.cpp's parse of a large grammar costs more than the conversion */
            char err[512] = "";
            int m = db_gbnf_match(g, "", 0, err, sizeof err);
            DB_FUZZ_CHECK(m >= 0, "llama.cpp refuses the converter's grammar: %s", err);
        }
        free(g);
    }
    cJSON_Delete(schema);
    free(pat);
    free(subj);
    return 0;
}

DB_FUZZ_ENTRY(regex_gbnf)
