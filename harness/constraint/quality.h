/* quality.h — checks of one output against its prompt's constraint.
 *
 * After each generation the runner asks whether the output satisfies the
 * constraint of its dataset item (docs/suite-format.md, "constraint"), so
 * compliance means the same for every engine.  Results are named per-sample
 * metrics (table sample_metric):
 *
 *   json_schema  json_parses (0/1: the whole output is one JSON value),
 *                schema_valid (0/1: it validates; harness/constraint/jsonschema.c)
 *   regex        regex_match (0/1: the whole output matches; ECMA-262 subset)
 *   keywords     keyword_coverage (share of the keywords present, exact
 *                substring), keywords_all (0/1)
 *   grammar      grammar_valid (0/1), when a grammar checker is registered
 *                with db_quality_set_grammar_checker (the grammar engines do).
 */
#ifndef DECOBENCH_QUALITY_H
#define DECOBENCH_QUALITY_H

#include <stddef.h>

#define DB_QUALITY_MAX 8

typedef struct db_quality {
    const char *name[DB_QUALITY_MAX];   /* static strings */
    double value[DB_QUALITY_MAX];
    int n;
} db_quality;

/* Is `text` a complete sentence of GBNF grammar `gbnf` (root rule "root")?
 * Returns 1 yes, 0 no, -1 error (err set). */
typedef int (*db_grammar_checker)(const char *gbnf, const char *text, char *err, size_t errlen);
void db_quality_set_grammar_checker(db_grammar_checker fn);

/* Check output_text against constraint_json (NULL: nothing to check, q->n = 0).
 * Returns 0, or -1 with err set when the constraint itself is malformed. */
int db_quality_check(const char *constraint_json, const char *output_text, db_quality *q, char *err,
                     size_t errlen);

#endif
