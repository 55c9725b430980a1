/* fuzz_suite.c — fuzz target: the suite loader (harness/run/suite.c
 * db_suite_parse, then db_suite_expand of a suite that loads).  Relative
 * dataset/model paths resolve in a scratch directory holding prompts.jsonl
 * and model.gguf (an empty file), so seeds can name them; inputs naming
 * devices or /proc are skipped (reading those could block or never end). */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/suite.h"

static const char *base_dir(void) {
    static int ready;
    if (!ready) {
        static const char prompts[] =
            "{\"id\":\"a\",\"prompt\":\"Hello\"}\n"
            "{\"question_id\":2,\"category\":\"c\",\"turns\":[\"One\",\"Two\"],\"reference\":\"x\"}\n"
            "{\"text\":\"t\",\"constraint\":{\"regex\":\"[a-z]+\"}}\n";
        if (!db_fuzz_write("prompts.jsonl", (const uint8_t *)prompts, sizeof prompts - 1) ||
            !db_fuzz_write("model.gguf", (const uint8_t *)"", 0))
            abort();
        ready = 1;
    }
    return db_fuzz_tmpdir();
}

int db_fuzz_suite(const uint8_t *data, size_t size) {
    const char *dir = base_dir();
    char *text = db_fuzz_str(data, size);
    if (!text) return 0;
    if (db_fuzz_names_device(text)) { free(text); return 0; }
    db_suite *s = NULL;
    char err[512] = "";
    int rc = db_suite_parse(text, "fuzz.json", dir, &s, err, sizeof err);
    DB_FUZZ_CHECK(rc == 0 || rc == -1, "db_suite_parse returned %d", rc);
    DB_FUZZ_CHECK(rc == 0 ? s != NULL : s == NULL && err[0], "db_suite_parse: rc %d, suite %p, err '%s'", rc,
                  (void *)s, err);
    if (rc == 0) {
        db_case *cases = NULL;
        int n = 0;
        err[0] = 0;
        int erc = db_suite_expand(s, &cases, &n, err, sizeof err);
        DB_FUZZ_CHECK(erc == 0 || (erc == -1 && err[0]), "db_suite_expand: rc %d, err '%s'", erc, err);
        for (int i = 0; erc == 0 && i < n; i++) {
            DB_FUZZ_CHECK(cases[i].label && cases[i].params_json, "case %d without label or params", i);
            DB_FUZZ_CHECK(cases[i].dataset >= 0 && cases[i].dataset < s->n_datasets, "case %d: dataset %d", i,
                          cases[i].dataset);
            /* -1 only for a serving case whose server names no model (suite.h) */
            DB_FUZZ_CHECK((cases[i].target_model >= 0 && cases[i].target_model < s->n_models) ||
                              (cases[i].target_model == -1 && cases[i].se->server_idx >= 0),
                          "case %d: model %d", i, cases[i].target_model);
        }
        if (erc == 0) db_cases_free(cases, n);
        db_suite_free(s);
    }
    free(text);
    return 0;
}

DB_FUZZ_ENTRY(suite)
