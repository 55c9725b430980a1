/* diffusion.h — the masked-diffusion engine's generation entry point with a
 * per-position trace, for tests that check which position was committed at
 * which step (the `diffusion` engine itself passes no trace).
 */
#ifndef DECOBENCH_DIFFUSION_H
#define DECOBENCH_DIFFUSION_H

#include "engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_diffusion_trace {
    int cap;              /* entries the arrays hold (>= gen_length) */
    int gen_length;       /* written: response positions decoded */
    int *commit_step;     /* written: 1-based step at which each response position was
                             committed, 0 = never (still masked when decoding stopped) */
    db_token *tokens;     /* written: the response, mask token where never committed
                             (tokens after an end-of-generation token included) */
} db_diffusion_trace;

/* Same as the engine's generate callback; trace may be NULL. */
int db_diffusion_generate(const db_gen_request *req, db_gen_output *out, db_diffusion_trace *trace,
                          char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
