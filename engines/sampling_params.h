/* sampling_params.h — the sampling parameter rows (mode, temp, top_k, top_p)
 * that every sampling engine's parameter table shares, their one check, and
 * their conversion to model.h-level sampling settings (sample.h).
 *
 * An engine writes its table as
 *
 *     static const db_param_def my_params[] = {
 *         DB_SAMPLING_PARAMS(DB_HELP_MODE_SAMPLE, DB_HELP_TOP_K_KEEP, DB_HELP_TOP_P_NUCLEUS),
 *         { "k", DB_PARAM_INT, "4", 1, 16, NULL, "..." },
 *     };
 *
 * and calls db_sampling_params_check() first in its validate callback.  The
 * rows' names, types, defaults and ranges are fixed here; only the help
 * text varies with what the engine does with them (lossless verification
 * says "of the sampling distribution").  An engine that always samples
 * (awrs, gad) takes DB_SAMPLING_PARAMS_NO_MODE: temp, top_k, top_p.
 * Engines whose policy sampling has other defaults or ranges (astar-decoding:
 * temp 0.8 in [0.01, 10]) keep their own rows.
 */
#ifndef DECOBENCH_SAMPLING_PARAMS_H
#define DECOBENCH_SAMPLING_PARAMS_H

#include "engine.h"
#include "harness/model/sample.h"

/* The rows, one by one. */
#define DB_PARAM_ROW_MODE(help)  { "mode",  DB_PARAM_ENUM,  "greedy", 0, 0, "greedy|sample", help }
#define DB_PARAM_ROW_TEMP(help)  { "temp",  DB_PARAM_FLOAT, "1.0", 0.0, 10.0, NULL, help }
#define DB_PARAM_ROW_TOP_K(help) { "top_k", DB_PARAM_INT,   "0", 0, 1000000, NULL, help }
#define DB_PARAM_ROW_TOP_P(help) { "top_p", DB_PARAM_FLOAT, "1.0", 0.0, 1.0, NULL, help }

/* Help texts in use.  mode: */
#define DB_HELP_MODE_SAMPLE       "greedy argmax or sampling"
#define DB_HELP_MODE_VERIFY       "greedy (exact match) or stochastic lossless verification"
/* temp (with a mode row): */
#define DB_HELP_TEMP              "sampling temperature (mode=sample)"
/* top_k / top_p of a plain sampler, and of the distribution a lossless
 * verifier samples from: */
#define DB_HELP_TOP_K_KEEP        "keep the k most likely tokens; 0 = all"
#define DB_HELP_TOP_P_NUCLEUS     "nucleus: smallest set with this much mass; 1 = all"
#define DB_HELP_TOP_K_DIST        "top-k of the sampling distribution; 0 = all"
#define DB_HELP_TOP_P_DIST        "top-p of the sampling distribution; 1 = all"

/* mode, temp, top_k, top_p, in this order (identity.c's greedy-baseline
 * check and the engines' tables expect these four names). */
#define DB_SAMPLING_PARAMS(mode_help, top_k_help, top_p_help) \
    DB_PARAM_ROW_MODE(mode_help), DB_PARAM_ROW_TEMP(DB_HELP_TEMP), \
    DB_PARAM_ROW_TOP_K(top_k_help), DB_PARAM_ROW_TOP_P(top_p_help)

/* temp, top_k, top_p, for an engine that always samples. */
#define DB_SAMPLING_PARAMS_NO_MODE(temp_help) \
    DB_PARAM_ROW_TEMP(temp_help), DB_PARAM_ROW_TOP_K(DB_HELP_TOP_K_KEEP), DB_PARAM_ROW_TOP_P(DB_HELP_TOP_P_NUCLEUS)

/* True for the parameter names of the shared rows (mode, temp, top_k,
 * top_p): the settings that choose how a distribution is sampled, not what
 * the engine computes. */
bool db_sampling_param_name(const char *name);

/* The cross-value checks of the shared rows, in this order:
 *   temp must be > 0 when the engine samples: with a "mode" row when
 *     mode=sample, without one always — the error is
 *     "parameter 'temp': must be > 0<temp_why>", temp_why e.g.
 *     " when mode=sample" or " (awrs samples)";
 *   top_p must be > 0: "parameter 'top_p': must be > 0".
 * Returns 0, or -1 with the message in err. */
int db_sampling_params_check(const db_params *p, const char *temp_why, char *err, size_t errlen);

/* The sampling settings of the shared rows; without a "mode" row the
 * engine samples (greedy = false). */
db_sampling db_sampling_from_params(const db_params *p);

#endif
