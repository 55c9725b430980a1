/* json.c — JSON Schema constrained decoding: the prompt's "json_schema" is
 * converted to GBNF by decobench's own converter (harness/constraint/json_gbnf.c; the
 * conversion is part of the COMPILE time, so of TTFT) and decoded like the
 * `grammar` engine (full mask or sample-then-check).  A schema using a
 * keyword the converter does not enforce is declined — empty output, stop
 * reason "unsupported", outcome constraint_supported = 0 — which is what
 * declared coverage counts; it is never decoded under a looser grammar.
 */
#include "constrained.h"

#include <cjson/cJSON.h>

#include "harness/util/util.h"

static int json_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    cJSON *c = req->constraint_json ? cJSON_Parse(req->constraint_json) : NULL;
    bool has_schema = c && cJSON_GetObjectItemCaseSensitive(c, "json_schema") != NULL;
    cJSON_Delete(c);
    if (!has_schema)
        return db_errf(err, errlen, "unsupported constraint: the json engine needs a \"json_schema\" constraint");
    return db_gbnf_constraint_generate(req, out, err, errlen);
}

const db_engine db_engine_json = {
    .name = "json",
    .summary = "JSON Schema constrained decoding (decobench's schema-to-GBNF converter; mask or sample-then-check)",
    .params = db_grammar_params,
    .n_params = DB_GRAMMAR_N_PARAMS,
    .constraints = DB_CONSTRAINT_JSON_SCHEMA,
    .constraint_required = true,
    .validate = db_grammar_validate,
    .generate = json_generate,
};
