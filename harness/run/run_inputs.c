/* run_inputs.c — the fingerprint of a run's inputs (see run_inputs.h). */
#include "run_inputs.h"

#include <stdio.h>
#include <string.h>

#include "harness/util/sha256.h"
#include "harness/util/util.h"

int db_run_inputs_sha256(const db_suite *s, const char *const *model_sha256, char hex[65], char *err,
                         size_t errlen) {
    db_str b;
    db_str_init(&b);
    int rc = db_str_append(&b, s->json ? s->json : "");
    for (int i = 0; i < s->n_datasets && rc == 0; i++) {
        const db_suite_dataset *ds = &s->datasets[i];
        char h[65] = "";
        if (ds->path && db_sha256_file(ds->path, h, err, errlen) != 0) {
            db_str_free(&b);
            return -1;
        }
        rc = db_str_printf(&b, "\ndataset %s %s", ds->name, h);
    }
    for (int i = 0; i < s->n_models && rc == 0; i++)
        rc = db_str_printf(&b, "\nmodel %s %s", s->models[i].name,
                           model_sha256 && model_sha256[i] ? model_sha256[i] : "");
    if (rc != 0 || db_sha256_buf(b.s ? b.s : "", b.len, hex) != 0) {
        db_str_free(&b);
        return db_errf(err, errlen, "out of memory");
    }
    db_str_free(&b);
    return 0;
}
