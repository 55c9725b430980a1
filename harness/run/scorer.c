/* scorer.c — teacher-forced continuation likelihood (see scorer.h). */
#include "scorer.h"

#include <math.h>
#include <stdlib.h>

#include "harness/util/util.h"

int db_score_continuation(db_model *m, const db_token *prompt, int n_prompt, const db_token *out, int n_out,
                          double *mean_nll, char *err, size_t errlen) {
    if (n_prompt < 1) return db_errf(err, errlen, "scorer: empty prompt");
    if (n_out < 1) return db_errf(err, errlen, "scorer: empty output");
    const int n = n_prompt + n_out - 1;
    const int n_vocab = db_model_n_vocab(m);
    db_batch b;
    if (db_batch_init(&b, n, 1) != 0) return db_errf(err, errlen, "out of memory");
    for (int i = 0; i < n; i++) {
        db_token t = i < n_prompt ? prompt[i] : out[i - n_prompt];
        db_batch_add1(&b, t, i, 0, i >= n_prompt - 1);
    }
    db_model_reset(m);
    int rc = 0;
    if (db_model_set_causal(m, true) != 0 || db_model_decode(m, &b) != 0) {
        rc = db_errf(err, errlen, "scorer: forward over %d tokens: %s", n, db_model_last_error(m));
    } else {
        double nll = 0.0;
        for (int k = 0; k < n_out && rc == 0; k++) {
            const float *row = db_model_logits(m, n_prompt - 1 + k);
            db_token want = out[k];
            if (!row) { rc = db_errf(err, errlen, "scorer: no logits for output position %d", k); break; }
            if (want < 0 || want >= n_vocab) { rc = db_errf(err, errlen, "scorer: token %d outside the vocabulary", want); break; }
            double mx = row[0];
            for (int v = 1; v < n_vocab; v++) if (row[v] > mx) mx = row[v];
            double z = 0.0;
            for (int v = 0; v < n_vocab; v++) z += exp((double)row[v] - mx);
            nll += -((double)row[want] - mx - log(z));
        }
        if (rc == 0) *mean_nll = nll / n_out;
    }
    db_batch_free(&b);
    return rc;
}
