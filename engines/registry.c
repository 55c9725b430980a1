/* registry.c — the one table listing every decoding engine.
 *
 * Adding an engine NAME (git's builtin.h is the model for this list):
 *
 * 1. Write engines/NAME.c, opening with a comment that says what the
 *    algorithm is (its paper), its schedule of forwards, the events it
 *    emits and the outcomes (db_output_stat names) it records.  It defines
 *    one `const db_engine db_engine_NAME` (engines/engine.h documents every
 *    field) and keeps everything else static:
 *      - .params: its parameter table.  Sampling engines take the shared
 *        rows DB_SAMPLING_PARAMS(...) (or DB_SAMPLING_PARAMS_NO_MODE) from
 *        engines/sampling_params.h, call db_sampling_params_check() in
 *        .validate and db_sampling_from_params() in .generate — never new
 *        copies of mode/temp/top_k/top_p;
 *      - .constraints / .constraint_required / .check_constraint: the
 *        DB_CONSTRAINT_* kinds it applies; the runner's preflight, `list
 *        engines` and the docs read these, so no harness code names the
 *        engine;
 *      - .lossless_greedy when its greedy output must equal `ar`'s token
 *        for token (it then has a "mode" row): every run checks it
 *        (harness/run/identity.c);
 *      - .needs_draft, .n_seq_max, .derive_draft (model files it derives
 *        go through the model layer, harness/model/model_derive.h).
 *    Engines reach models only through harness/model/model.h and
 *    constraints through harness/constraint/ (tests/layers.py checks the
 *    layering); machinery several engines share goes in a shared file
 *    (specdec.[ch], search_paths.[ch], constrained.h, lexcons.[ch]).
 *
 * 2. Declare it below (`extern const db_engine db_engine_NAME;`) and add
 *    one line `&db_engine_NAME,` to db_engine_registry[]: the order is the
 *    order of `decobench list engines`.
 *
 * 3. Makefile.am: one line `engines/NAME.c \` in ENGINE_SOURCES, in sorted
 *    order (a test file goes in tests_unit_tests_SOURCES); run
 *    `autoreconf -fi` and configure again.
 *
 * 4. Tests (all run by tests/run-tests.sh):
 *      - tests/test_params.c: a row in
 *        descriptors_declare_constraints_and_losslessness (its kinds and
 *        flags), and the count in sampling_rows_are_shared when it takes
 *        the shared rows; registry_is_consistent then checks that its
 *        defaults pass .validate;
 *      - tests/test_NAME.c (a suite in tests/unit_main.c's SUITES): outputs
 *        checked by value on the exact backend (harness/model/model_exact.h)
 *        against brute force or a reference, the events it emits, the
 *        cancellation and error paths, a planted-bug control;
 *      - a lossless engine: greedy output equal to ar's and the stochastic
 *        verification's chi-square test in tests/test_spec.c, and an entry
 *        in tests/e2e.sh's speculative suite (greedy outputs identical to
 *        ar's); tests/test_identity.c needs nothing new;
 *      - a constrained engine: its check_constraint messages in
 *        tests/test_preflight.c (test_preflight_engine_descriptors);
 *      - new error messages (bad parameters, bad constraints) in
 *        tests/bad-input.sh.
 *
 * 5. Docs: its section in docs/engines.md (or its family's page:
 *    docs/lexical.md, docs/diffusion.md, docs/search.md), its outcomes in
 *    docs/metrics.md, a row in README.md's engine table and its file in
 *    README.md's layout table; docs/suite-format.md when it reads a new
 *    constraint key (a new DB_CONSTRAINT_* kind in engine.h, checked by
 *    harness/run/preflight.c's check_constraint_keys and by
 *    harness/constraint/quality.c's compliance check).
 */
#include "engine.h"

extern const db_engine db_engine_ar;
extern const db_engine db_engine_spec;
extern const db_engine db_engine_pld;
extern const db_engine db_engine_spec_tree;
extern const db_engine db_engine_self_spec;
extern const db_engine db_engine_lookahead;
extern const db_engine db_engine_token_recycling;
extern const db_engine db_engine_opt_tree;
extern const db_engine db_engine_rsd;
extern const db_engine db_engine_lexical;
extern const db_engine db_engine_astar;
extern const db_engine db_engine_diffusion;
extern const db_engine db_engine_grammar;
extern const db_engine db_engine_awrs;
extern const db_engine db_engine_gad;
extern const db_engine db_engine_json;
extern const db_engine db_engine_beam;
extern const db_engine db_engine_lattice;
extern const db_engine db_engine_serve;
extern const db_engine db_engine_exact;
extern const db_engine db_engine_astar_decoding;

const db_engine *const db_engine_registry[] = {
    &db_engine_ar,
    &db_engine_spec,
    &db_engine_spec_tree,
    &db_engine_pld,
    &db_engine_self_spec,
    &db_engine_lookahead,
    &db_engine_token_recycling,
    &db_engine_opt_tree,
    &db_engine_rsd,
    &db_engine_lexical,
    &db_engine_astar,
    &db_engine_diffusion,
    &db_engine_grammar,
    &db_engine_awrs,
    &db_engine_gad,
    &db_engine_json,
    &db_engine_beam,
    &db_engine_lattice,
    &db_engine_exact,
    &db_engine_astar_decoding,
    &db_engine_serve,
};

const int db_engine_count = (int)(sizeof db_engine_registry / sizeof db_engine_registry[0]);
