/* json_gbnf_int.h — private to the JSON Schema -> GBNF converter's files:
 *   json_gbnf.c        a shape's grammar (enum/const, numbers, strings,
 *                      arrays, objects), the anyOf/oneOf and conjunction
 *                      walk, the entry points
 *   json_gbnf_shape.c  a conjunction of schema nodes merged into one "shape"
 *   json_gbnf_regex.c  "pattern" and "format" as grammars (the regex front
 *                      end's AST lowered to code-point sets)
 *   json_gbnf_state.c  converter state: rules, names, paths, $ref resolution
 *   json_gbnf_text.c   code-point sets, GBNF literal escaping, repetition,
 *                      exact integer-range grammars
 * Each calls only the files listed after it.
 * Include only from harness/constraint/json_gbnf*.c and tests. */
#ifndef DECOBENCH_JSON_GBNF_INT_H
#define DECOBENCH_JSON_GBNF_INT_H

#include <stddef.h>
#include <stdint.h>
#include <cJSON.h>

#include "harness/util/util.h"
#include "json_gbnf.h"

#define MAX_CP 0x10FFFFu
#define MAX_VISIT_DEPTH 400
#define MAX_BRANCHES 20000
#define MAX_GRAMMAR_BYTES (8u << 20)
#define MAX_EXACT_INT 9007199254740992.0   /* 2^53: bounds beyond are not exact in a double */

/* Code-point sets: sorted, disjoint, non-adjacent ranges. */
typedef struct cset { uint32_t (*r)[2]; int n, cap; } cset;

/* Converter state. */
typedef struct smap { char **k; int *v; size_t cap, n; } smap;
typedef struct rule { char *name, *body; } rule;
typedef struct memo { char *name; int state; int depth; } memo;   /* state 0 in progress, 1 done, 2 no value */
enum { B_SPACE = 1, B_CHAR = 2, B_VALUE = 4 };
typedef struct gb gb;
struct gb {
    const cJSON *root;
    int draft7, draft4;
    char *root_id;
    rule *rules; int nrules, caprules;
    smap names;          /* rule name -> rule index (or -1 reserved) */
    smap memo_idx;       /* conjunction key -> memos index */
    smap regex_rules;    /* a pattern's / format's source and length bounds -> the rule index of its grammar */
    memo *memos; int nmemos, capmemos;
    smap paths;          /* "%p" of a schema node -> pathv index */
    char **pathv; int npath, cappath;
    smap anchors;        /* anchor name -> pathv index; nodes found again through paths */
    const cJSON **anchor_nodes; int nanchor;
    int status;          /* 0 ok, 1 unsupported, -1 error */
    char *why; size_t whylen;
    int depth, vdepth;
    long branches;
    size_t bytes;
    unsigned need;
    char *root_text;
};

int db_jg_gfail(gb *g, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
#define OOM(g) db_jg_gfail((g), -1, "out of memory")

/* A conjunction of schema nodes merged into one "shape". */
enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_STR = 16, T_INT = 32, T_NUM = 64, T_ALL = 127 };
enum { G_ANY, G_NUM, G_STR, G_ARR, G_OBJ, G_N };
typedef struct ptrs { const cJSON **v; int n, cap; } ptrs;
typedef struct shape {
    unsigned types;
    int never;
    int nconstraints;            /* keywords that constrain (0: the conjunction accepts everything) */
    int nother;                  /* ... other than type/enum/const */
    ptrs enums;                  /* enum arrays; a const value is held by its parent object (see consts) */
    ptrs consts;
    int has_lo, lo_excl, has_hi, hi_excl, mult_int;
    double lo, hi;
    long minlen, maxlen;         /* maxlen -1: none */
    const cJSON *pattern_at; const char *pattern;
    const cJSON *format_at; const char *format;
    long minit, maxit;
    ptrs arr_prefix, arr_rest;   /* per array component: prefix array (or NULL), rest schema (or NULL) */
    const cJSON *unique_at;
    ptrs obj_props, obj_ap;      /* per object component: properties (or NULL), additionalProperties (or NULL) */
    ptrs req;                    /* required string nodes */
    long minprop, maxprop;
    const cJSON *minprop_at, *maxprop_at;
    ptrs groups;                 /* anyOf/oneOf arrays not yet split */
    ptrs stack;                  /* $ref targets being merged (cycle check) */
    char *unsup[G_N];
} shape;

/* ---- json_gbnf_state.c ---- */
/* a new rule named after base (made unique); returns its index */
int db_jg_add_rule(gb *g, const char *base, char *body_owned);
/* index every schema-ish node of the document by its JSON pointer */
int db_jg_index_paths(gb *g, const cJSON *node, const char *path);
const char *db_jg_path_of(gb *g, const cJSON *node);
const char *db_jg_pshow(gb *g, const cJSON *node);
/* Resolve a local $ref; NULL with g->status set when it cannot. */
const cJSON *db_jg_resolve_ref(gb *g, const cJSON *at, const char *ref);
const char *db_jg_rule_name(gb *g, int idx);
void db_jg_set_body(gb *g, int idx, char *body);
void db_jg_smap_free(smap *m);
int db_jg_smap_get(const smap *m, const char *k);
int db_jg_smap_put(smap *m, const char *k, int v);

/* ---- json_gbnf_text.c ---- */
int db_jg_cs_add(cset *s, uint32_t lo, uint32_t hi);
/* add class escape kind ('d','D','w','W','s','S') to s */
int db_jg_cs_class(cset *s, int kind);
/* out = complement of s (normalised) over [0, MAX_CP] */
int db_jg_cs_complement(const cset *s, cset *out);
/* The JSON encoding of one character from set s, as a GBNF atom; "" when s is
 * empty.  Characters that JSON must escape get cJSON's escape. */
int db_jg_cs_emit_json(db_str *o, const cset *s);
void db_jg_cs_free(cset *s);
void db_jg_cs_norm(cset *s);
/* GBNF string literal for the UTF-8 text t (n bytes) */
int db_jg_gb_lit(db_str *o, const char *t, size_t n);
/* Repetition: "(atom){m,n}" in its own group (llama.cpp multiplies the counts
 * of repetitions that share a sequence); max < 0 = unbounded. */
int db_jg_gb_rep(db_str *o, const char *atom, long mn, long mx);
/* integers in [lo, hi] (has_lo/has_hi: bounded), lo <= hi */
int db_jg_int_range(db_str *o, int has_lo, int64_t lo, int has_hi, int64_t hi);
/* cJSON's spelling of a string value (with quotes), as JSON text */
int db_jg_json_str(db_str *o, const char *s);
/* the next code point of NUL-terminated UTF-8 text; an ill-formed sequence
 * reads as U+FFFD covering its well-formed prefix */
uint32_t db_jg_utf8_next(const unsigned char **p);

/* ---- json_gbnf_regex.c ---- */
/* The content (between the quotes) of strings matching regex src (search
 * semantics unless full) with length in [minlen, maxlen]; 1 emitted, 0 none, -1 failed. */
int db_jg_emit_regex(gb *g, const char *src, int full, long minlen, long maxlen, const cJSON *at, const char *what, db_str *o);
/* regex source of a supported format (malloc'd) */
char *db_jg_format_regex(const char *f);
int db_jg_in_list(const char *const *l, const char *s);
/* "format" names the converter enforces, and those it reports unsupported */
extern const char *const db_jg_formats_supported[];
extern const char *const db_jg_formats_unsupported[];

/* ---- json_gbnf_shape.c ---- */
/* Merge one schema node into s.  Returns 0, or -1 with g->status set. */
int db_jg_absorb(gb *g, shape *s, const cJSON *node, const cJSON *const *res, int nres);
int db_jg_ptrs_add(ptrs *p, const cJSON *x);
int db_jg_pure_ref(gb *g, const cJSON *node);
int db_jg_sh_absorb_all(gb *g, shape *s, const cJSON *const *nodes, int n, const cJSON *const *res, int nres);
void db_jg_sh_free(shape *s);
void db_jg_sh_init(shape *s);

#endif
