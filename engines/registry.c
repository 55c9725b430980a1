/* registry.c — the one table listing every decoding engine.  To add an
 * engine: define its const db_engine in engines/NAME.c, declare it here,
 * and add it to db_engine_registry[]. */
#include "engine.h"

extern const db_engine db_engine_ar;
extern const db_engine db_engine_spec;
extern const db_engine db_engine_pld;
extern const db_engine db_engine_spec_tree;
extern const db_engine db_engine_self_spec;
extern const db_engine db_engine_lookahead;
extern const db_engine db_engine_lexical;
extern const db_engine db_engine_astar;
extern const db_engine db_engine_diffusion;
extern const db_engine db_engine_grammar;
extern const db_engine db_engine_awrs;
extern const db_engine db_engine_gad;
extern const db_engine db_engine_json;
extern const db_engine db_engine_beam;
extern const db_engine db_engine_lattice;
extern const db_engine db_engine_exact;
extern const db_engine db_engine_astar_decoding;

const db_engine *const db_engine_registry[] = {
    &db_engine_ar,
    &db_engine_spec,
    &db_engine_spec_tree,
    &db_engine_pld,
    &db_engine_self_spec,
    &db_engine_lookahead,
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
};

const int db_engine_count = (int)(sizeof db_engine_registry / sizeof db_engine_registry[0]);
