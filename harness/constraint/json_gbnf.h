/* json_gbnf.h — JSON Schema (draft 2020-12 / draft-07 spellings) → GBNF grammar
 * in llama.cpp's grammar syntax, for grammar-constrained decoding of JSON.
 *
 *     char *gbnf, why[256];
 *     int rc = db_json_gbnf(schema, &gbnf, why, sizeof why);
 *     // 0: supported, gbnf holds the grammar (start rule "root"; free() it)
 *     // 1: unsupported, why = "keyword 'uniqueItems' at /properties/tags"
 *     // -1: error (not a schema, out of memory), why says what
 *
 * "Supported" means every keyword of the schema is enforced exactly by the
 * grammar: a JSON text the grammar accepts is valid against the schema.  The
 * grammar accepts one canonical spelling of each valid value: object members in
 * the schema's property order (additional members after the declared ones),
 * strings with cJSON's escapes (\" \\ \b \f \n \r \t, \u00XX for other control
 * characters, everything else literal), numbers without a leading '+' or zeros,
 * integers as plain digits; optional whitespace as llama.cpp's converter allows
 * it (after every value and punctuation: nothing, one space, or one or two
 * newlines plus up to 20 spaces/tabs).  Any keyword the converter cannot
 * enforce makes the whole schema unsupported (never silently loosened); see
 * docs/jsonschema.md for the coverage table.
 */
#ifndef DECOBENCH_JSON_GBNF_H
#define DECOBENCH_JSON_GBNF_H

#include <stddef.h>
#include <cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest repetition bound (maxLength, maxItems, regex {m,n}, ...) expanded into
 * the grammar; llama.cpp refuses or silently unbounds counts from 2000 up. */
#define DB_JSON_GBNF_MAX_REPEAT 1000

/* Convert a schema.  Returns 0 (*out_gbnf: malloc'd grammar), 1 (unsupported:
 * why names the keyword/feature and the schema location as a JSON pointer,
 * "(root)" for the root) or -1 (error in why).  *out_gbnf is NULL unless 0. */
int db_json_gbnf(const cJSON *schema, char **out_gbnf, char *why, size_t whylen);

/* Same from JSON text (-1 when it does not parse). */
int db_json_gbnf_text(const char *schema_json, char **out_gbnf, char *why, size_t whylen);

#ifdef __cplusplus
}
#endif
#endif
