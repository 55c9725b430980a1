/* regex.h — the one ECMA-262 regular-expression front end of the constraint
 * layer: a pattern is parsed once into the AST below, which three consumers
 * read:
 *   the backtracking matcher of the JSON Schema validator (regex_match.c:
 *     "pattern", "patternProperties", db_regex_search),
 *   the GBNF writer of the schema -> GBNF converter (json_gbnf_regex.c),
 *   the DFA builder of the engines' regex constraints (regex_dfa.c).
 * The lexical pieces (one escape, one {m,n}) are regex_syntax.h.
 *
 * The consumers accept different subsets and have always reported errors in
 * their own words, so a dialect says what the parser accepts (DB_RX_*
 * flags) and the parser reports an error code with its details
 * (db_rx_error); each consumer turns the code into its own message.
 * DB_RX_STRICT is regex_dfa's historical grammar (strict escapes, ASCII-only
 * classes, '{' always literal in atom position, ^ and $ only at the ends,
 * counts up to 1000, literal characters kept as their source bytes).
 */
#ifndef DECOBENCH_REGEX_H
#define DECOBENCH_REGEX_H

#include <stddef.h>
#include <stdint.h>

/* node types */
enum { DB_RX_CHAR, DB_RX_ANY, DB_RX_CLASS, DB_RX_BOL, DB_RX_EOL, DB_RX_WORDB, DB_RX_NWORDB,
       DB_RX_GROUP, DB_RX_LOOK, DB_RX_REPEAT };

/* class items: a range, or a class escape (the N... kinds are negated) */
enum { DB_RX_C_RANGE, DB_RX_C_DIGIT, DB_RX_C_NDIGIT, DB_RX_C_WORD, DB_RX_C_NWORD, DB_RX_C_SPACE, DB_RX_C_NSPACE,
       DB_RX_C_UALPHA, DB_RX_C_NUALPHA, DB_RX_C_UUPPER, DB_RX_C_NUUPPER, DB_RX_C_ULOWER, DB_RX_C_NULOWER };

typedef struct db_rx_item { int kind; uint32_t lo, hi; } db_rx_item;

/* A sequence is a list linked by next (NULL: the empty sequence). */
typedef struct db_rx_node {
    int type;
    struct db_rx_node *next;
    uint32_t ch;                    /* DB_RX_CHAR */
    int src_off, src_len;           /* DB_RX_CHAR written literally: its source bytes (src_len 0: an escape) */
    db_rx_item *items; int nitems;  /* DB_RX_CLASS */
    int negate;                     /* DB_RX_CLASS [^..]; DB_RX_LOOK (?!..) */
    struct db_rx_node **alts; int nalts;         /* DB_RX_GROUP, DB_RX_LOOK: alternative sequences */
    struct db_rx_node *child; int min, max, lazy; /* DB_RX_REPEAT (max -1: unbounded) */
} db_rx_node;

typedef struct db_rx {
    db_rx_node **all; int nall, capall;   /* every node, for freeing */
    db_rx_node *root;                     /* a DB_RX_GROUP */
    int has_property;                     /* a \p{..} class item is present ... */
    char first_property[40];              /* ... the first one's name */
} db_rx;

/* dialect flags */
#define DB_RX_LOOKAHEAD 0x01u   /* (?= (?! */
#define DB_RX_BOUNDARY  0x02u   /* \b \B */
#define DB_RX_PROPERTY  0x04u   /* \p{L} \p{Lu} \p{Ll} (and long names) */
#define DB_RX_STRICT    0x08u   /* regex_dfa's grammar (see above) */
/* How an ill-formed UTF-8 sequence in the pattern is read: as U+FFFD then
 * the next byte (default); as U+FFFD covering the sequence's well-formed
 * prefix (the converter's reading); under DB_RX_STRICT always as the lead
 * byte's length of raw bytes. */
#define DB_RX_UTF8_SKIP_PREFIX 0x10u

typedef enum db_rx_code {
    DB_RX_OK = 0,
    DB_RX_E_OOM,
    DB_RX_E_TRAILING_BACKSLASH,
    DB_RX_E_BOUNDARY,          /* \b or \B without DB_RX_BOUNDARY (ch) */
    DB_RX_E_PROPERTY,          /* \p without DB_RX_PROPERTY */
    DB_RX_E_PROPERTY_NAME,     /* unknown \p{name} (ch 'p'/'P', name) */
    DB_RX_E_BACKREF,           /* \1..\9 (ch) */
    DB_RX_E_NAMED_BACKREF,     /* \k<..> */
    DB_RX_E_INVALID_ESCAPE,    /* \B in a class, \0 then a digit (ch 'B' or '0') */
    DB_RX_E_UNKNOWN_ESCAPE,    /* strict: \ before a letter or a non-ASCII byte (ch: that byte) */
    DB_RX_E_OCTAL,             /* strict: \0 then a digit */
    DB_RX_E_HEX_X,             /* strict: \x without two hex digits */
    DB_RX_E_HEX_U,             /* strict: \u without four hex digits */
    DB_RX_E_CLASS_UNTERMINATED,
    DB_RX_E_CLASS_NEGATED,     /* strict: \D \W \S in a class */
    DB_RX_E_CLASS_NON_ASCII,   /* strict */
    DB_RX_E_CLASS_RANGE_ESCAPE,/* strict: a class escape ends a range */
    DB_RX_E_RANGE_ORDER,
    DB_RX_E_LOOKAHEAD,         /* (?= (?! without DB_RX_LOOKAHEAD */
    DB_RX_E_GROUP_SYNTAX,      /* other (?..; strict: anything but (?: (ch: the character after '?', ' ' at the end) */
    DB_RX_E_BAD_NAMED_GROUP,   /* (?<name without '>' */
    DB_RX_E_MISSING_PAREN,
    DB_RX_E_NOTHING_TO_REPEAT, /* a quantifier in atom position (ch) */
    DB_RX_E_BRACE_NOTHING,     /* a {m,n} quantifier in atom position */
    DB_RX_E_NOT_QUANTIFIABLE,  /* a quantifier after ^ $ \b \B */
    DB_RX_E_ANCHOR,            /* strict: ^ or $ inside the pattern */
    DB_RX_E_REPEAT_CAP,        /* strict: a count above 1000 */
    DB_RX_E_REPEAT_ORDER,      /* {m,n} with n < m */
    DB_RX_E_UNMATCHED_PAREN,
} db_rx_code;

typedef struct db_rx_error {
    db_rx_code code;
    uint32_t ch;
    char name[40];     /* DB_RX_E_PROPERTY_NAME ("" when none was read) */
    size_t offset;     /* byte offset in the pattern where parsing stopped */
} db_rx_error;

/* Parse bytes [lo, hi) of pattern (offsets in errors and src_off count from
 * pattern's start).  Returns the AST (free with db_rx_free), or NULL with
 * *e set. */
db_rx *db_rx_parse(const char *pattern, size_t lo, size_t hi, unsigned flags, db_rx_error *e);
void   db_rx_free(db_rx *re);

/* ---- consumer 1: the backtracking matcher (regex_match.c) -------------
 * The validator's engine: ECMA-262 search semantics over code points
 * (lookahead, \b, \p{L}/\p{Lu}/\p{Ll}, lazy quantifiers), with a step
 * budget.  db_regex_search (jsonschema.h) is the one-shot form. */
typedef struct db_regex db_regex;

/* NULL with "regex /PATTERN/: problem" in err. */
db_regex *db_regex_compile(const char *pattern, char *err, size_t errlen);
/* Search subject (UTF-8): 1 a match somewhere, 0 none, -1 step budget exceeded. */
int  db_regex_exec(const db_regex *re, const char *subject);
void db_regex_free(db_regex *re);
/* the pattern text it was compiled from */
const char *db_regex_source(const db_regex *re);

#endif
