/* pld.c — prompt lookup decoding (Saxena 2023): draft by matching the last
 * n-gram of prompt + output against an earlier occurrence and proposing the
 * tokens that followed it; no draft model.  The longest n-gram (ngram_max
 * down to ngram_min) with the most recent earlier occurrence wins.  The
 * draft is deterministic, so stochastic verification uses q = one-hot
 * (engines/specdec.c), which keeps the output lossless.
 */
#include "engine.h"

#include <stdio.h>
#include <string.h>

#include "specdec.h"
#include "../harness/util.h"

static const db_param_def pld_params[] = {
    { "mode",      DB_PARAM_ENUM,  "greedy", 0, 0, "greedy|sample", "greedy (exact match) or stochastic lossless verification" },
    { "temp",      DB_PARAM_FLOAT, "1.0", 0.0, 10.0, NULL, "sampling temperature (mode=sample)" },
    { "top_k",     DB_PARAM_INT,   "0", 0, 1000000, NULL, "top-k of the sampling distribution; 0 = all" },
    { "top_p",     DB_PARAM_FLOAT, "1.0", 0.0, 1.0, NULL, "top-p of the sampling distribution; 1 = all" },
    { "k",         DB_PARAM_INT,   "10", 1, 32, NULL, "most tokens proposed per step" },
    { "ngram_max", DB_PARAM_INT,   "3", 1, 16, NULL, "longest n-gram matched" },
    { "ngram_min", DB_PARAM_INT,   "1", 1, 16, NULL, "shortest n-gram matched" },
};

static int pld_validate(const db_params *p, char *err, size_t errlen) {
    if (db_params_int(p, "ngram_min") > db_params_int(p, "ngram_max"))
        return db_errf(err, errlen, "parameter 'ngram_min': must not exceed ngram_max");
    if (db_params_int(p, "mode") == 1 && db_params_num(p, "temp") <= 0.0)
        return db_errf(err, errlen, "parameter 'temp': must be > 0 when mode=sample");
    if (db_params_num(p, "top_p") <= 0.0) return db_errf(err, errlen, "parameter 'top_p': must be > 0");
    return 0;
}

/* Draft from the most recent earlier occurrence of the last n tokens. */
int db_pld_lookup(const db_token *seq, int n_seq, int ngram_min, int ngram_max, int k, db_token *draft) {
    for (int n = ngram_max; n >= ngram_min; n--) {
        if (n >= n_seq) continue;
        const db_token *tail = seq + n_seq - n;
        for (int j = n_seq - n - 1; j >= 0; j--) {
            if (memcmp(seq + j, tail, sizeof(db_token) * (size_t)n) != 0) continue;
            int m = 0;
            while (m < k && j + n + m < n_seq) {
                draft[m] = seq[j + n + m];
                m++;
            }
            if (m > 0) return m;
        }
    }
    return 0;
}

static int pld_generate(const db_gen_request *req, db_gen_output *out, char *err, size_t errlen) {
    const int k = db_params_int(req->params, "k");
    const int nmin = db_params_int(req->params, "ngram_min"), nmax = db_params_int(req->params, "ngram_max");
    db_spec s;
    if (db_spec_begin(&s, req, out, k, err, errlen) != 0) return -1;
    db_token draft[32];
    int rc = 0;
    while (!s.done) {
        int64_t t0 = db_now_ns();
        int want = k < db_spec_remaining(&s) - 1 ? k : db_spec_remaining(&s) - 1;
        int n = want > 0 ? db_pld_lookup(s.seq, s.n_seq, nmin, nmax, want, draft) : 0;
        if (n > 0) db_emit_draft(req->events, s.step, n, t0, db_now_ns());
        int acc;
        int v = db_spec_verify(&s, draft, n, NULL, &acc, err, errlen);
        if (v < 0) { rc = -1; break; }
        if (v == 1) break;
    }
    if (rc == 0 && strcmp(out->stop_reason, "cancel") == 0) rc = 1;
    db_spec_end(&s);
    return rc;
}

const db_engine db_engine_pld = {
    .name = "pld",
    .summary = "prompt lookup decoding: draft by matching the last n-gram in prompt + output (no draft model)",
    .params = pld_params,
    .n_params = (int)(sizeof pld_params / sizeof pld_params[0]),
    .needs_draft = false,
    .validate = pld_validate,
    .generate = pld_generate,
};
