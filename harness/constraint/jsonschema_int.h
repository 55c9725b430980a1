/* jsonschema_int.h — private to the JSON Schema validator's files
 * (jsonschema.c compiles schemas, jsonschema_validate.c validates,
 * jsonschema_format.c checks "format", jsonschema_uri.c resolves URIs):
 * the compiled-schema node, the validator object and the helpers they share.
 * Include only from harness/constraint/jsonschema*.c and tests. */
#ifndef DECOBENCH_JSONSCHEMA_INT_H
#define DECOBENCH_JSONSCHEMA_INT_H

#include <stddef.h>

#include "jsonschema.h"
#include "regex.h"

typedef struct snode snode;
typedef struct named { char *name; snode *s; const cJSON *arr; db_regex *re; } named;

struct snode {
    const cJSON *js;
    int boolean;            /* -1: object schema; 0/1: false/true */
    int dialect;
    char *base;             /* base URI (no fragment) */
    int is_resource;        /* has $id or is a document root: part of the dynamic scope */
    char *dyn_anchor;       /* $dynamicAnchor name */

    unsigned types;         /* bitmask of T_*; 0: no "type" */
    const cJSON *enum_, *const_;
    int has_mo; double mo;
    int has_max, has_min, has_exmax, has_exmin;
    double max, min, exmax, exmin;
    long max_len, min_len;
    db_regex *pattern; char *pattern_err;
    const char *format;
    long max_items, min_items; int unique;
    snode *items;           /* 2020: after prefixItems; <=7: every item (schema form) */
    snode **prefix; int nprefix;   /* prefixItems, or <=7 array-form items */
    snode *additional_items;       /* <=7 with array-form items */
    snode *contains; long min_contains, max_contains;
    long max_props, min_props;
    const cJSON *required;
    named *props; int nprops;
    named *pprops; int npprops;
    snode *additional_props, *property_names;
    named *dep_req; int ndep_req;
    named *dep_sch; int ndep_sch;
    snode **all_of, **any_of, **one_of; int nall, nany, none;
    snode *not_, *if_, *then_, *else_;
    char *ref_uri; snode *ref;
    char *dynref_uri; snode *dynref; char *dynref_name;   /* dynref_name: bookended anchor name */
    snode *uneval_props, *uneval_items;
    int ref_only;           /* <=7 with $ref: siblings ignored */
};

enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_NUM = 16, T_STR = 32, T_INT = 64 };

typedef struct regentry { char *uri; snode *s; const cJSON *js; int dynamic; } regentry;
typedef struct memo { const cJSON *key; snode *val; } memo;

struct db_jsonschema {
    cJSON **docs; int ndocs;
    char **doc_uris;
    regentry *reg; int nreg, capreg;
    memo *map; size_t mapcap, mapn;
    snode **nodes; int nnodes, capnodes;
    snode *root;
    const char *unsupported[32]; int nunsup;
    db_jsonschema_opts opts;
    int format_assert;
    /* compile-time state */
    char path[1024]; size_t pathlen;
    char *err; size_t errlen;
    int failed;
};

/* jsonschema.c: the registered resource or anchor with absolute URI uri
 * (only $dynamicAnchor ones when dynamic_only); NULL when none. */
const regentry *db_js_reg_find(const db_jsonschema *S, const char *uri, int dynamic_only);

/* jsonschema_uri.c: RFC 3986 reference resolution (malloc'd absolute URI,
 * fragment kept) and percent-decoding of fragment identifiers. */
char *db_js_uri_resolve(const char *base, const char *ref);
char *db_js_pct_decode(const char *s, size_t n);

/* jsonschema_format.c: does s satisfy the asserted format fmt?  (1 for
 * formats not asserted) */
int db_js_format_ok(const char *fmt, const char *s);

#endif
