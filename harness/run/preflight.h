/* preflight.h — checks of a run's inputs that need its loaded models, made
 * after the models are loaded and before anything is written (runner.c calls
 * it before opening the results database), so that bad input is one error
 * line and exit status 2 instead of a `failed` run:
 *
 *   - every draft (a suite model or one an engine derives) has the vocabulary
 *     of the target it drafts for (same size, BOS/EOS and add-BOS, and the
 *     same piece for every token from id 5 on, llama.cpp's speculative rule);
 *   - every prompt the run will use, in its chat template for chat datasets
 *     (every turn with empty earlier answers, a lower bound), fits the
 *     context of the target and of its draft together with max_new_tokens;
 *     the model must have a chat template then; the suite's scorer can
 *     read each prompt;
 *   - every constraint of those prompts compiles: "grammar" (GBNF),
 *     "regex" (the compliance check's ECMA-262 matcher), "json_schema" (the
 *     validator), "keywords"; and for the engines that use them, the
 *     schema → GBNF converter (grammar, json, awrs, gad; an unsupported
 *     schema is declined at run time, not an error), the DFA of diffusion's
 *     regex constraint, and lexical/astar's keyword tokens; a grammar engine
 *     on a prompt without a grammar or schema is an error.
 *
 * What can only fail later (a turn that outgrows the context once earlier
 * answers are in it, a decode error) is stored as a failed case with its
 * reason.  A prompt that (with max_new_tokens) exceeds the context a model
 * was trained with is a warning, not an error.
 */
#ifndef DECOBENCH_PREFLIGHT_H
#define DECOBENCH_PREFLIGHT_H

#include <stddef.h>

#include "harness/model/model.h"
#include "suite.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_preflight_in {
    const db_suite *s;
    const db_case *cases;
    int n_cases;
    /* every loaded model by index: the suite's models (NULL where no case
     * uses one), then models engines derived (self-spec's drafts) */
    db_model *const *models;
    int n_models;
    const char *const *model_names;  /* for messages, same index */
    const int *case_draft;           /* per case: index into models of its draft, -1 none */
    int limit_prompts;               /* > 0: prompts per dataset the run uses */
} db_preflight_in;

/* Returns 0 when every check passed (warnings, if any, are then in *warnings
 * as newline-terminated lines, malloc'd; NULL when none), or -1 with one
 * line in err naming the input (suite, case, dataset item) and the problem. */
int db_preflight(const db_preflight_in *in, char **warnings, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
