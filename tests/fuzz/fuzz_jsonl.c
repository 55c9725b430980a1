/* fuzz_jsonl.c — fuzz target: the JSONL dataset reader (harness/run/suite.c
 * db_prompts_load), on the input written to a scratch file. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "harness/run/suite.h"

int db_fuzz_jsonl(const uint8_t *data, size_t size) {
    const char *path = db_fuzz_write("data.jsonl", data, size);
    if (!path) return 0;
    db_prompt *p = NULL;
    int n = -1;
    char err[512] = "";
    int rc = db_prompts_load(path, "fuzz", 0, &p, &n, err, sizeof err);
    DB_FUZZ_CHECK(rc == 0 || rc == -1, "db_prompts_load returned %d", rc);
    if (rc == 0) {
        DB_FUZZ_CHECK(n > 0 && p, "no prompts but rc 0");
        for (int i = 0; i < n; i++) {
            DB_FUZZ_CHECK(p[i].id && p[i].text && p[i].category, "prompt %d lacks id/text/category", i);
            DB_FUZZ_CHECK(p[i].n_turns >= 1 && p[i].turns && p[i].turns[0] && strcmp(p[i].turns[0], p[i].text) == 0,
                          "prompt %d: turns[0] is not the text", i);
        }
        db_prompts_free(p, n);
    } else {
        DB_FUZZ_CHECK(p == NULL && n == 0 && err[0], "failed load: prompts %p, n %d, err '%s'", (void *)p, n, err);
    }
    return 0;
}

DB_FUZZ_ENTRY(jsonl)
