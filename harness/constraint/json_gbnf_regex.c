/* json_gbnf_regex.c — consumer 2 of the regex front end (regex.h): a
 * "pattern" (or a "format", written as a regex that accepts exactly what
 * jsonschema_format.c accepts) parsed by db_rx_parse, lowered to code-point
 * sets and emitted as GBNF over JSON-encoded characters, with minLength /
 * maxLength folded in where exact; see json_gbnf_int.h. */
#include "json_gbnf_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regex.h"

/* ------------------------------------------------------------------ */
/* Regex: the front end's AST (regex.h) lowered to code-point sets.       */

enum { X_SET, X_SEQ, X_ALT, X_REP, X_BOL, X_EOL };

typedef struct xnode {
    int type;
    cset set;                     /* X_SET */
    struct xnode **kids; int nk;  /* X_SEQ, X_ALT; X_REP: kids[0] */
    long min, max;                /* X_REP (max -1: unbounded) */
} xnode;

typedef struct xparse {
    xnode **all; int nall, capall;   /* every node, for freeing; sized up front */
    char err[160];
} xparse;

/* a new node (the registry was sized for the AST: no growth needed) */
static xnode *xnew(xparse *P, int type) {
    xnode *x = P->nall < P->capall ? calloc(1, sizeof *x) : NULL;
    if (x) {
        x->type = type;
        P->all[P->nall++] = x;
    }
    return x;
}

static int xkid(xnode *x, xnode *k) {
    xnode **a = realloc(x->kids, (size_t)(x->nk + 1) * sizeof *a);
    if (!a) return -1;
    x->kids = a;
    x->kids[x->nk++] = k;
    return 0;
}

static void xfree_all(xparse *P) {
    for (int i = 0; i < P->nall; i++) { db_jg_cs_free(&P->all[i]->set); free(P->all[i]->kids); free(P->all[i]); }
    free(P->all);
    P->all = NULL;
}

/* the converter's wording of a front-end error (the converter reports every
 * pattern it cannot parse or express as unsupported) */
static const char *xmessage(const db_rx_error *e) {
    switch (e->code) {
    case DB_RX_E_TRAILING_BACKSLASH: return "trailing backslash";
    case DB_RX_E_BOUNDARY: return e->ch == 'b' ? "word boundary \\b" : "\\B";
    case DB_RX_E_PROPERTY: return "Unicode property escape \\p{..}";
    case DB_RX_E_BACKREF: return "backreference";
    case DB_RX_E_NAMED_BACKREF: return "named backreference \\k<..>";
    case DB_RX_E_INVALID_ESCAPE: return e->ch == 'B' ? "\\B inside a character class" : "\\0 followed by a digit";
    case DB_RX_E_CLASS_UNTERMINATED: return "unterminated character class";
    case DB_RX_E_RANGE_ORDER: return "range out of order in character class";
    case DB_RX_E_LOOKAHEAD: return "lookahead (?= (?!";
    case DB_RX_E_BAD_NAMED_GROUP: return "bad named group";
    case DB_RX_E_GROUP_SYNTAX: return "group syntax (?<= (?<! or other (?..)";
    case DB_RX_E_MISSING_PAREN: return "missing )";
    case DB_RX_E_NOTHING_TO_REPEAT: case DB_RX_E_NOT_QUANTIFIABLE: return "nothing to repeat";
    case DB_RX_E_BRACE_NOTHING: return "nothing to repeat at '{'";
    case DB_RX_E_REPEAT_ORDER: return "numbers out of order in {} quantifier";
    case DB_RX_E_UNMATCHED_PAREN: return "unmatched )";
    default: return "out of memory";   /* the other codes belong to other dialects */
    }
}

static xnode *xlower_alt(xparse *P, const db_rx_node *g);

static xnode *xlower_atom(xparse *P, const db_rx_node *n) {
    xnode *x = NULL;
    switch (n->type) {
    case DB_RX_CHAR:
        if ((x = xnew(P, X_SET)) && db_jg_cs_add(&x->set, n->ch, n->ch) < 0) x = NULL;
        break;
    case DB_RX_ANY:
        if ((x = xnew(P, X_SET))) {
            db_jg_cs_add(&x->set, 0, 9); db_jg_cs_add(&x->set, 11, 12); db_jg_cs_add(&x->set, 14, 0x2027); db_jg_cs_add(&x->set, 0x202A, MAX_CP);
        }
        break;
    case DB_RX_CLASS: {
        if (!(x = xnew(P, X_SET))) break;
        cset s = { 0 };
        for (int i = 0; i < n->nitems; i++) {
            static const char letter[] = { 0, 'd', 'D', 'w', 'W', 's', 'S' };
            const db_rx_item *it = &n->items[i];
            if (it->kind == DB_RX_C_RANGE) db_jg_cs_add(&s, it->lo, it->hi);
            else db_jg_cs_class(&s, letter[it->kind]);
        }
        db_jg_cs_norm(&s);
        if (n->negate) { db_jg_cs_complement(&s, &x->set); db_jg_cs_free(&s); }
        else x->set = s;
        break;
    }
    case DB_RX_BOL: case DB_RX_EOL:
        x = xnew(P, n->type == DB_RX_BOL ? X_BOL : X_EOL);
        break;
    case DB_RX_GROUP:
        return xlower_alt(P, n);
    case DB_RX_REPEAT: {
        xnode *k = xlower_atom(P, n->child);
        if (!k) return NULL;
        if ((x = xnew(P, X_REP)) && xkid(x, k) < 0) x = NULL;
        if (x) { x->min = n->min; x->max = n->max; }
        break;
    }
    default:   /* lookahead, \b, \B: refused by the dialect */
        break;
    }
    if (!x && !P->err[0]) snprintf(P->err, sizeof P->err, "out of memory");
    return x;
}

static xnode *xlower_alt(xparse *P, const db_rx_node *g) {
    xnode *alt = xnew(P, X_ALT);
    if (!alt) { snprintf(P->err, sizeof P->err, "out of memory"); return NULL; }
    for (int a = 0; a < g->nalts; a++) {
        xnode *seq = xnew(P, X_SEQ);
        if (!seq || xkid(alt, seq) < 0) { snprintf(P->err, sizeof P->err, "out of memory"); return NULL; }
        for (const db_rx_node *n = g->alts[a]; n; n = n->next) {
            xnode *k = xlower_atom(P, n);
            if (!k) return NULL;
            if (xkid(seq, k) < 0) { snprintf(P->err, sizeof P->err, "out of memory"); return NULL; }
        }
    }
    return alt;
}

/* Parse pattern into P (root returned); NULL with P->err. */
static xnode *xparse_pattern(xparse *P, const char *pattern) {
    memset(P, 0, sizeof *P);
    db_rx_error e;
    db_rx *re = db_rx_parse(pattern, 0, strlen(pattern), DB_RX_UTF8_SKIP_PREFIX, &e);
    if (!re) { snprintf(P->err, sizeof P->err, "%s", xmessage(&e)); return NULL; }
    /* one node per AST node, plus one sequence per alternative */
    int cap = re->nall;
    for (int i = 0; i < re->nall; i++) cap += re->all[i]->nalts;
    xnode *root = NULL;
    if ((P->all = calloc((size_t)cap, sizeof *P->all))) {
        P->capall = cap;
        root = xlower_alt(P, re->root);
    } else {
        snprintf(P->err, sizeof P->err, "out of memory");
    }
    db_rx_free(re);
    return root;
}

/* length range of the language of x: [*lo, *hi] (*hi -1: unbounded) */
static void xlen(const xnode *x, long *lo, long *hi) {
    switch (x->type) {
    case X_SET: *lo = *hi = 1; return;
    case X_BOL: case X_EOL: *lo = *hi = 0; return;
    case X_SEQ: {
        long a = 0, b = 0;
        for (int i = 0; i < x->nk; i++) {
            long l, h;
            xlen(x->kids[i], &l, &h);
            a += l;
            b = (b < 0 || h < 0) ? -1 : b + h;
        }
        *lo = a; *hi = b;
        return;
    }
    case X_ALT: {
        long a = -1, b = 0;
        for (int i = 0; i < x->nk; i++) {
            long l, h;
            xlen(x->kids[i], &l, &h);
            if (a < 0 || l < a) a = l;
            if (b >= 0 && (h < 0 || h > b)) b = h;
        }
        *lo = a < 0 ? 0 : a; *hi = b;
        return;
    }
    default: {
        long l, h;
        xlen(x->kids[0], &l, &h);
        *lo = l * x->min;
        *hi = (x->max < 0 || h < 0) ? (h == 0 ? 0 : -1) : h * x->max;
        return;
    }
    }
}

static int xhas_anchor(const xnode *x) {
    if (x->type == X_BOL || x->type == X_EOL) return 1;
    for (int i = 0; i < x->nk; i++) if (xhas_anchor(x->kids[i])) return 1;
    return 0;
}

/* can x match the empty string? (anchors are zero-width; xemit refuses them) */
static int xnullable(const xnode *x) {
    switch (x->type) {
    case X_SET: return 0;
    case X_SEQ:
        for (int i = 0; i < x->nk; i++) if (!xnullable(x->kids[i])) return 0;
        return 1;
    case X_ALT:
        for (int i = 0; i < x->nk; i++) if (xnullable(x->kids[i])) return 1;
        return 0;
    case X_REP: return x->min == 0 || xnullable(x->kids[0]);
    default: return 1;
    }
}

static int xemit(gb *g, db_str *o, const xnode *x, const char **unsup);

/* Quantify the expression in a (consumed): a bracketed expression becomes a
 * rule of its own first (llama.cpp counts the rules a quantified group
 * creates against its repetition limit: quantify a reference instead). */
static int xrep_atom(gb *g, db_str *o, db_str *a, long min, long max) {
    int rc = 0;
    if (strchr(a->s, '(')) {
        int idx = db_jg_add_rule(g, "pattern-part", db_str_take(a));
        if (idx < 0) return -1;
        db_str_init(a);
        rc = db_str_append(a, db_jg_rule_name(g, idx));
    }
    return rc == 0 ? db_jg_gb_rep(o, a->s, min, max) : rc;
}

/* Emit the language of x without the empty string.  Returns 0, 1 when that
 * language is empty (x matches only ""; nothing written), -1 on error. */
static int xemit_nonempty(gb *g, db_str *o, const xnode *x, const char **unsup) {
    if (!xnullable(x)) return xemit(g, o, x, unsup);
    db_str b;
    db_str_init(&b);
    int n = 0, rc = 0;
    switch (x->type) {
    case X_SEQ:
        /* a non-empty match of K1 ... Kn (each matching ""): K1..K(i-1) match "",
         * Ki something non-empty, then K(i+1) ... Kn anything */
        for (int i = 0; i < x->nk && rc >= 0; i++) {
            db_str t;
            db_str_init(&t);
            rc = xemit_nonempty(g, &t, x->kids[i], unsup);
            for (int j = i + 1; j < x->nk && rc == 0; j++)
                if (db_str_append(&t, " ") || xemit(g, &t, x->kids[j], unsup) < 0) rc = -1;
            if (rc == 0) rc = db_str_printf(&b, "%s%s", n++ ? " | " : "", t.s) ? -1 : 0;
            if (rc == 1) rc = 0;   /* Ki matches only "": no alternative starts there */
            db_str_free(&t);
        }
        break;
    case X_ALT:
        for (int i = 0; i < x->nk && rc >= 0; i++) {
            db_str t;
            db_str_init(&t);
            rc = xemit_nonempty(g, &t, x->kids[i], unsup);
            if (rc == 0) rc = db_str_printf(&b, "%s%s", n++ ? " | " : "", t.s) ? -1 : 0;
            if (rc == 1) rc = 0;
            db_str_free(&t);
        }
        break;
    case X_REP: {
        /* K{m,n} without "": K matching "" gives (K without ""){1,n}; else K{1,n} */
        if (x->max == 0) break;
        db_str t;
        db_str_init(&t);
        rc = xnullable(x->kids[0]) ? xemit_nonempty(g, &t, x->kids[0], unsup) : xemit(g, &t, x->kids[0], unsup);
        if (rc == 0) {
            db_str r;
            db_str_init(&r);
            rc = xrep_atom(g, &r, &t, 1, x->max);
            if (rc == 0) rc = db_str_append(&b, r.s) ? -1 : 0;
            if (rc == 0) n++;
            db_str_free(&r);
        }
        if (rc == 1) rc = 0;
        db_str_free(&t);
        break;
    }
    default:
        *unsup = "pattern: an anchor ^ or $ inside the pattern";
        rc = -1;
    }
    if (rc == 0 && n == 0) rc = 1;
    else if (rc == 0) rc = db_str_printf(o, n > 1 ? "(%s)" : "%s", b.s) ? -1 : 0;
    db_str_free(&b);
    return rc;
}

/* Emit the language of x (anchor-free) over JSON-encoded characters.  Bounded
 * repetitions above DB_JSON_GBNF_MAX_REPEAT and an estimated expansion above
 * the grammar budget fail with *unsup set. */

static int xemit(gb *g, db_str *o, const xnode *x, const char **unsup) {
    switch (x->type) {
    case X_SET:
        if (x->set.n == 0) { *unsup = "pattern: an empty character class (matches nothing)"; return -1; }
        return db_jg_cs_emit_json(o, &x->set);
    case X_SEQ:
        if (x->nk == 0) return db_str_append(o, "\"\"");
        for (int i = 0; i < x->nk; i++) {
            if (i && db_str_append(o, " ")) return -1;
            if (xemit(g, o, x->kids[i], unsup) < 0) return -1;
        }
        return 0;
    case X_ALT:
        if (x->nk == 1) return xemit(g, o, x->kids[0], unsup);
        if (db_str_append(o, "(")) return -1;
        for (int i = 0; i < x->nk; i++) {
            if (i && db_str_append(o, " | ")) return -1;
            if (xemit(g, o, x->kids[i], unsup) < 0) return -1;
        }
        return db_str_append(o, ")");
    case X_REP: {
        if (x->min > DB_JSON_GBNF_MAX_REPEAT || x->max > DB_JSON_GBNF_MAX_REPEAT) {
            *unsup = "pattern: a {m,n} bound above the expansion cap";
            return -1;
        }
        db_str a;
        db_str_init(&a);
        long min = x->min;
        int rc;
        if (xnullable(x->kids[0])) {
            /* K{m,n} with K matching "" is (K without "") {0,n}: a quantified rule
             * that can match "" would be left-recursive to llama.cpp */
            rc = xemit_nonempty(g, &a, x->kids[0], unsup);
            if (rc == 1) {   /* K matches only "": so does K{m,n} */
                db_str_free(&a);
                return db_str_append(o, "\"\"");
            }
            min = 0;
        } else rc = xemit(g, &a, x->kids[0], unsup);
        if (rc == 0) rc = xrep_atom(g, o, &a, min, x->max);
        db_str_free(&a);
        return rc;
    }
    default:
        *unsup = "pattern: an anchor ^ or $ inside the pattern";
        return -1;
    }
}

/* ------------------------------------------------------------------ */
/* "format" grammars, written as regexes that accept exactly what       */
/* harness/constraint/jsonschema.c's format checks accept.                         */

#define RX_H16 "[0-9a-fA-F]{1,4}"
#define RX_OCT "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
#define RX_IPV4 RX_OCT "(?:\\." RX_OCT "){3}"
#define RX_LS32 "(?:" RX_H16 ":" RX_H16 "|" RX_IPV4 ")"
#define RX_IPV6 "(?:(?:" RX_H16 ":){6}" RX_LS32 "|::(?:" RX_H16 ":){5}" RX_LS32 \
    "|(?:" RX_H16 ")?::(?:" RX_H16 ":){4}" RX_LS32 "|(?:(?:" RX_H16 ":){0,1}" RX_H16 ")?::(?:" RX_H16 ":){3}" RX_LS32 \
    "|(?:(?:" RX_H16 ":){0,2}" RX_H16 ")?::(?:" RX_H16 ":){2}" RX_LS32 "|(?:(?:" RX_H16 ":){0,3}" RX_H16 ")?::" RX_H16 ":" RX_LS32 \
    "|(?:(?:" RX_H16 ":){0,4}" RX_H16 ")?::" RX_LS32 "|(?:(?:" RX_H16 ":){0,5}" RX_H16 ")?::" RX_H16 \
    "|(?:(?:" RX_H16 ":){0,6}" RX_H16 ")?::)"
#define RX_DATE "(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)" \
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
#define RX_UUID "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#define RX_ATEXT "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~\\u0080-\\u{10FFFF}]"
#define RX_DTEXT "[A-Za-z0-9\\-\\u0080-\\u{10FFFF}]"
#define RX_EMAIL "(?:\"(?:[^\"\\\\\\x00-\\x1F\\x7F]|\\\\[\\s\\S])*\"|" RX_ATEXT "+(?:\\." RX_ATEXT "+)*)@" \
    "(?:\\[(?:IPv6:" RX_IPV6 "|" RX_IPV4 ")\\]|[A-Za-z0-9\\u0080-\\u{10FFFF}]" RX_DTEXT "*(?:\\." RX_DTEXT "+)*)"
#define RX_PCT "%[0-9A-Fa-f]{2}"
#define RX_UC "[A-Za-z0-9\\-._~!$&'()*+,;=]"
#define RX_PC "(?:[A-Za-z0-9\\-._~!$&'()*+,;=:@/?]|" RX_PCT ")"
#define RX_PCNS "(?:[A-Za-z0-9\\-._~!$&'()*+,;=:@?]|" RX_PCT ")"
#define RX_TAIL RX_PC "*(?:#" RX_PC "*)?"
#define RX_URI "[A-Za-z][A-Za-z0-9+\\-.]*:(?://(?:(?:[A-Za-z0-9\\-._~!$&'()*+,;=:]|" RX_PCT ")*@)?" \
    "(?:\\[(?:[vV][^\\]/?#@]*|" RX_IPV6 ")\\]|(?:" RX_UC "|" RX_PCT ")*)(?::[0-9]*)?(?:[/?]" RX_TAIL "|#" RX_PC "*)?" \
    "|(?:#" RX_PC "*|" RX_PCNS RX_TAIL "|/(?:#" RX_PC "*|" RX_PCNS RX_TAIL ")?)?)"

/* RFC 3339 full-time; a leap second (:60) only where it is 23:59:60 UTC, which
 * pins the offset to the local time: every local HH:MM has one "+" and one "-"
 * offset (and 23:59 also Z). */
static int rx_time(db_str *o) {
    int rc = db_str_append(o, "(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])");
    for (int h = 0; h < 24; h++) {
        rc |= db_str_printf(o, "|%02d:(?:", h);
        for (int m = 0; m < 60; m++) {
            int t = h * 60 + m, d = (t + 1) % 1440, e = (1440 - d) % 1440;
            rc |= db_str_printf(o, "%s%02d:60(?:\\.[0-9]+)?(?:\\+%02d:%02d|-%02d:%02d%s)", m ? "|" : "", m,
                                d / 60, d % 60, e / 60, e % 60, d == 0 ? "|[Zz]" : "");
        }
        rc |= db_str_append(o, ")");
    }
    return rc | db_str_append(o, ")");
}

const char *const db_jg_formats_supported[] = { "date", "date-time", "time", "uuid", "email", "ipv4", "ipv6", "uri", NULL };
/* standard formats the validator asserts (or knows) that have no grammar here */
const char *const db_jg_formats_unsupported[] = { "hostname", "duration", "idn-email", "idn-hostname", "uri-reference",
    "iri", "iri-reference", "uri-template", "json-pointer", "relative-json-pointer", "regex", NULL };

int db_jg_in_list(const char *const *l, const char *s) {
    for (; *l; l++) if (strcmp(*l, s) == 0) return 1;
    return 0;
}

/* regex source of a supported format (malloc'd) */
char *db_jg_format_regex(const char *f) {
    db_str o;
    db_str_init(&o);
    int rc = 0;
    if (!strcmp(f, "date")) rc = db_str_append(&o, RX_DATE);
    else if (!strcmp(f, "time")) rc = rx_time(&o);
    else if (!strcmp(f, "date-time")) { rc = db_str_append(&o, RX_DATE "[Tt]"); rc |= rx_time(&o); }
    else if (!strcmp(f, "uuid")) rc = db_str_append(&o, RX_UUID);
    else if (!strcmp(f, "email")) rc = db_str_append(&o, RX_EMAIL);
    else if (!strcmp(f, "ipv4")) rc = db_str_append(&o, RX_IPV4);
    else if (!strcmp(f, "ipv6")) rc = db_str_append(&o, RX_IPV6);
    else if (!strcmp(f, "uri")) rc = db_str_append(&o, RX_URI);
    else rc = -1;
    if (rc) { db_str_free(&o); return NULL; }
    return db_str_take(&o);
}

typedef struct ralt { const xnode *seq; int from, to, sa, ea; } ralt;

static int collect_alts(const xnode *alt, int sa_in, int ea_in, ralt **v, int *n) {
    for (int i = 0; i < alt->nk; i++) {
        const xnode *seq = alt->kids[i];
        int from = 0, to = seq->nk, sa = sa_in, ea = ea_in;
        while (from < to && seq->kids[from]->type == X_BOL) { from++; sa = 1; }
        while (to > from && seq->kids[to - 1]->type == X_EOL) { to--; ea = 1; }
        if (to - from == 1 && seq->kids[from]->type == X_ALT && xhas_anchor(seq->kids[from])) {
            if (collect_alts(seq->kids[from], sa, ea, v, n) < 0) return -1;
            continue;
        }
        ralt *nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
        if (!nv) return -1;
        *v = nv;
        nv[*n].seq = seq; nv[*n].from = from; nv[*n].to = to; nv[*n].sa = sa; nv[*n].ea = ea;
        (*n)++;
    }
    return 0;
}

/* The content (between the quotes) of strings matching regex src (search
 * semantics unless full) with length in [minlen, maxlen]; 1 emitted, 0 none, -1 failed. */
int db_jg_emit_regex(gb *g, const char *src, int full, long minlen, long maxlen, const cJSON *at, const char *what, db_str *o) {
    xparse P;
    xnode *root = xparse_pattern(&P, src);
    ralt *alts = NULL;
    int nalts = 0, rc = -1;
    if (!root) {
        db_jg_gfail(g, 1, "%s at %s: %s", what, db_jg_pshow(g, at), P.err);
        goto out;
    }
    if (full) {
        for (int i = 0; i < root->nk; i++) {
            ralt *nv = realloc(alts, (size_t)(nalts + 1) * sizeof *nv);
            if (!nv) { OOM(g); goto out; }
            alts = nv;
            alts[nalts].seq = root->kids[i]; alts[nalts].from = 0; alts[nalts].to = root->kids[i]->nk;
            alts[nalts].sa = alts[nalts].ea = 1;
            nalts++;
        }
    } else if (collect_alts(root, 0, 0, &alts, &nalts) < 0) { OOM(g); goto out; }
    /* length bounds: redundant, or folded into the one variable-length item */
    int redundant = 1;
    for (int i = 0; i < nalts; i++) {
        long lo = 0, hi = 0;
        for (int k = alts[i].from; k < alts[i].to; k++) {
            long l, h;
            xlen(alts[i].seq->kids[k], &l, &h);
            lo += l;
            hi = (hi < 0 || h < 0) ? -1 : hi + h;
        }
        if (!alts[i].sa || !alts[i].ea) hi = -1;
        if (lo < minlen || (maxlen >= 0 && (hi < 0 || hi > maxlen))) redundant = 0;
    }
    long pre_min = 0, pre_max = -1, suf_min = 0, suf_max = -1;   /* the char* affixes of an unanchored pattern */
    if (!redundant) {
        if (nalts != 1) { db_jg_gfail(g, 1, "%s with minLength/maxLength at %s (alternatives)", what, db_jg_pshow(g, at)); goto out; }
        ralt *a = &alts[0];
        int nvar = 0, which = -2;   /* -1 prefix affix, -3 suffix affix, else item index */
        long fixed = 0;
        if (!a->sa) { nvar++; which = -1; }
        if (!a->ea) { nvar++; which = -3; }
        for (int k = a->from; k < a->to; k++) {
            long l, h;
            xlen(a->seq->kids[k], &l, &h);
            if (l == h) fixed += l;
            else { nvar++; which = k; }
        }
        long lo = minlen - fixed, hi = maxlen < 0 ? -1 : maxlen - fixed;
        if (nvar == 1 && which >= 0) {
            xnode *r = a->seq->kids[which];
            long l, h;
            if (r->type == X_REP) xlen(r->kids[0], &l, &h);
            if (r->type != X_REP || l != 1 || h != 1) { db_jg_gfail(g, 1, "%s with minLength/maxLength at %s", what, db_jg_pshow(g, at)); goto out; }
            if (lo < r->min) lo = r->min;
            if (r->max >= 0 && (hi < 0 || r->max < hi)) hi = r->max;
            if (hi >= 0 && lo > hi) { rc = 0; goto out; }
            r->min = lo; r->max = hi;
        } else if (nvar == 1) {
            if (lo < 0) lo = 0;
            if (hi >= 0 && lo > hi) { rc = 0; goto out; }
            if (which == -1) { pre_min = lo; pre_max = hi; } else { suf_min = lo; suf_max = hi; }
        } else if (nvar == 0) {
            if (fixed < minlen || (maxlen >= 0 && fixed > maxlen)) { rc = 0; goto out; }
        } else { db_jg_gfail(g, 1, "%s with minLength/maxLength at %s", what, db_jg_pshow(g, at)); goto out; }
    }
    if (pre_min > DB_JSON_GBNF_MAX_REPEAT || pre_max > DB_JSON_GBNF_MAX_REPEAT ||
        suf_min > DB_JSON_GBNF_MAX_REPEAT || suf_max > DB_JSON_GBNF_MAX_REPEAT) {
        db_jg_gfail(g, 1, "%s with minLength/maxLength at %s: bound above the expansion cap %d", what, db_jg_pshow(g, at), DB_JSON_GBNF_MAX_REPEAT);
        goto out;
    }
    g->need |= B_CHAR;
    int r = db_str_append(o, nalts > 1 ? "(" : "");
    for (int i = 0; i < nalts && r == 0; i++) {
        ralt *a = &alts[i];
        if (i) r |= db_str_append(o, " | ");
        if (!a->sa) { r |= db_jg_gb_rep(o, "char", pre_min, pre_max); r |= db_str_append(o, " "); }
        for (int k = a->from; k < a->to && r == 0; k++) {
            if (xhas_anchor(a->seq->kids[k])) {
                db_jg_gfail(g, 1, "%s at %s: an anchor ^ or $ inside the pattern", what, db_jg_pshow(g, at));
                goto out;
            }
            const char *why = NULL;
            if (xemit(g, o, a->seq->kids[k], &why) < 0) {
                if (why) db_jg_gfail(g, 1, "%s at %s: %s", what, db_jg_pshow(g, at), why);
                else OOM(g);
                goto out;
            }
            r |= db_str_append(o, " ");
        }
        if (a->from == a->to && a->sa) r |= db_str_append(o, "\"\" ");
        if (!a->ea) r |= db_jg_gb_rep(o, "char", suf_min, suf_max);
    }
    r |= db_str_append(o, nalts > 1 ? ")" : "");
    if (r) { OOM(g); goto out; }
    rc = 1;
out:
    free(alts);
    xfree_all(&P);
    return rc;
}
