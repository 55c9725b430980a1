/* sampling_params.c — the check and the conversion of the sampling
 * parameter rows every sampling engine shares (see sampling_params.h). */
#include "sampling_params.h"

#include <string.h>

#include "harness/util/util.h"

bool db_sampling_param_name(const char *name) {
    return !strcmp(name, "mode") || !strcmp(name, "temp") || !strcmp(name, "top_k") || !strcmp(name, "top_p");
}

/* mode=sample, or no mode row at all (the engine always samples) */
static bool samples(const db_params *p) {
    return !db_params_find(p->defs, p->n, "mode") || db_params_int(p, "mode") == 1;
}

int db_sampling_params_check(const db_params *p, const char *temp_why, char *err, size_t errlen) {
    if (samples(p) && db_params_num(p, "temp") <= 0.0)
        return db_errf(err, errlen, "parameter 'temp': must be > 0%s", temp_why);
    if (db_params_num(p, "top_p") <= 0.0) return db_errf(err, errlen, "parameter 'top_p': must be > 0");
    return 0;
}

db_sampling db_sampling_from_params(const db_params *p) {
    db_sampling s;
    s.greedy = !samples(p);
    s.temperature = (float)db_params_num(p, "temp");
    s.top_k = db_params_int(p, "top_k");
    s.top_p = (float)db_params_num(p, "top_p");
    return s;
}
