/* test_regex.c — the regex front end (harness/constraint/regex.h) and its
 * three consumers agree: for a shared set of patterns and many strings,
 * full match by the validator's backtracking matcher (db_regex_search) ==
 * acceptance by the regex -> DFA compiler (db_regex_dfa_*) == acceptance by
 * the grammar the schema -> GBNF converter writes for the pattern, run by
 * llama.cpp's grammar engine (db_gbnf_match).
 *
 * Anchoring: JSON Schema's "pattern" is a search and the DFA always matches
 * the whole text, so every pattern P is compared as a full match: P = "^X$"
 * (X without a top-level '|') is used as "^(?:X)$", any other P as
 * "^(?:P)$"; the matcher searches that, the converter gets it as the
 * pattern of {"type":"string"}, and the DFA compiler strips the outer ^ $
 * (it is anchored anyway) and compiles "(?:X)".  A consumer that refuses a
 * pattern (the DFA's stricter dialect, a construct a grammar cannot express)
 * is left out of that pattern's comparison; the counts are printed.
 *
 * Patterns: hand-written edge cases, the 16 patterns of the 576
 * pattern/string pairs of test_json_gbnf.c, and every "pattern" and
 * patternProperties key of the schemas under data/schemas (JSONSchemaBench
 * and MaskBench) and tests/data/json-schema-test-suite.  Strings: those 36
 * subjects, strings generated from the pattern's AST, and mutations of them.
 * Test strings avoid U+2028/U+2029 and the non-ASCII white space, where the
 * DFA's ASCII classes and '.' differ on purpose (regex_dfa.h); that
 * difference is pinned by its own test below. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "harness/constraint/grammar.h"
#include "harness/constraint/json_gbnf.h"
#include "harness/constraint/jsonschema.h"
#include "harness/constraint/regex.h"
#include "harness/constraint/regex_dfa.h"
#include "harness/util/utf8.h"
#include "harness/util/util.h"
#include "test.h"

/* ---- the pattern set ---- */

typedef struct strv { char **v; int n, cap; } strv;

static void sv_add(strv *s, const char *x) {
    for (int i = 0; i < s->n; i++) if (strcmp(s->v[i], x) == 0) return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, (size_t)s->cap * sizeof *s->v);
    }
    s->v[s->n++] = db_strdup(x);
}

static void sv_free(strv *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static void collect(const cJSON *x, strv *out) {
    if (cJSON_IsObject(x)) {
        const cJSON *c;
        cJSON_ArrayForEach(c, x) {
            if (strcmp(c->string, "pattern") == 0 && cJSON_IsString(c)) sv_add(out, c->valuestring);
            if (strcmp(c->string, "patternProperties") == 0 && cJSON_IsObject(c)) {
                const cJSON *k;
                cJSON_ArrayForEach(k, c) sv_add(out, k->string);
            }
            collect(c, out);
        }
    } else if (cJSON_IsArray(x)) {
        const cJSON *c;
        cJSON_ArrayForEach(c, x) collect(c, out);
    }
}

static void collect_dir(const char *dir, strv *out, int *files) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) { collect_dir(path, out, files); continue; }
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0) continue;
        char rerr[256];
        char *text = db_read_file(path, NULL, rerr, sizeof rerr);
        cJSON *js = text ? cJSON_Parse(text) : NULL;
        if (js) { collect(js, out); (*files)++; }
        cJSON_Delete(js);
        free(text);
    }
    closedir(d);
}

/* the 16 patterns and 36 subjects of test_json_gbnf.c's 576 pairs */
static const char *const pair_pats[] = { "^a*b$", "ab|cd", "^(ab|cd)+$", "^[^a-c]{2,3}$", "\\d{2}", "^\\w+@\\w+\\.com$", "^x?$", "[.]$",
                                         "^\\s*$", "^(?:a|b)c{1,2}$", "^[\\-+]?\\d+(\\.\\d+)?$", "^\\S+$", "^.$", "^\\u00e9+$", "^a{0}$", "^[\\x22\\\\]+$" };
static const char *const pair_subj[] = { "", "a", "b", "ab", "aab", "cd", "abcd", "xcdx", "abab", "d", "dd", "ddd", "12", "x1",
                                         "a@b.com", "a@b.co", "x", "xx", ".", "a.", " ", " \t", "ac", "bcc", "acc c", "+1.5", "-3", "1.",
                                         "\xc3\xa9", "\xc3\xa9\xc3\xa9", "\"", "\\\"", "a\nb", "\n", "abc", "c" };

/* hand-written edge cases of the syntax the three dialects share */
static const char *const edge_pats[] = {
    "", "a", "abc", "a|b|", "|a", "(a|)b", "(?:)", "()", "a*", "a+?", "a??", "(ab)*c", "(a|b)*abb", "(a*)*", "(a|ab)(c|bcd)(d*)",
    "a{3}", "a{2,}", "a{0,2}b{1,3}", "(?:ab){2,3}", "x{0}", "a{1,1}", "[abc]", "[^abc]", "[a-z0-9_]+", "[^a-z]*", "[\\d.]+",
    "[\\w-]+", "[a-]", "[-a]", "[]a]?", "[\\]]", "[\\\\]", "[\\^a]", "[^^]", "[\\x41-\\x43]", "[\\u0041-\\u005A]+", "\\d\\w\\s",
    "\\D+", "\\W", "\\S*", "\\x41\\u0042", "\\t\\n", "\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\/\\-", "a.c", ".*", ".+x", "\\u00e9",
    "\xc3\xa9+", "\xe2\x82\xac|\\$", "[0-9]{4}-[0-9]{2}-[0-9]{2}", "(?:[a-f0-9]{2}:){2}[a-f0-9]{2}", "x{", "x{a}", "{x", "a}",
    "]", "a{1,2", "(a)(b)(c)", "((a|b)(c|d))+", "a*?b", "(?:a|b|c|d|e)+?z", "[ -~]+", "[\\t ]", "\"", "\\\\", "a\\\\b",
    "[\\s\\S]", "[^\\d]", "[^\\w\\s]", "\\w+(?:-\\w+)*", "(?:(?:a)?)+", "(?:a?){3}", "[A-Z][a-z]*(?: [A-Z][a-z]*)*",
    /* quantified groups that match "" (the converter must not emit left recursion) */
    "(a?b?)+c", "()+x", "(|a)+", "(a?)*b", "(?:a*|b)+", "(?:(?:)|x){2,3}y", "(a?){2,}",
};

/* "^X$" with no '|' at depth 0 in X: X (malloc'd); anything else: NULL */
static char *anchored_body(const char *p) {
    size_t n = strlen(p);
    if (n < 2 || p[0] != '^' || p[n - 1] != '$') return NULL;
    int depth = 0, in_class = 0, last_dollar_is_anchor = 0;
    for (size_t i = 1; i < n; i++) {
        last_dollar_is_anchor = 0;
        if (p[i] == '\\') { i++; continue; }
        if (in_class) { if (p[i] == ']') in_class = 0; continue; }
        if (p[i] == '[') { in_class = 1; if (i + 1 < n && p[i + 1] == ']') i++; continue; }
        if (p[i] == '(') depth++;
        else if (p[i] == ')') depth--;
        else if (p[i] == '|' && depth == 0) return NULL;
        else if (p[i] == '$') last_dollar_is_anchor = i == n - 1;
    }
    if (!last_dollar_is_anchor || in_class || depth != 0) return NULL;
    char *x = malloc(n - 1);
    memcpy(x, p + 1, n - 2);
    x[n - 2] = 0;
    return x;
}

/* ---- strings from the AST ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static unsigned rnd(unsigned n) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return n ? (unsigned)(rng_state % n) : 0;
}

/* the characters test strings are drawn from (no U+2028/9, no non-ASCII space) */
static const uint32_t alphabet[] = { 'a', 'b', 'c', 'd', 'x', 'z', 'A', 'Z', '0', '1', '9', '_', '-', '.', ' ', '\t', '\n', '@',
                                     '"', '\\', '/', ':', '{', '}', 0xE9, 0x20AC, 0x1F600 };
#define N_ALPHA (sizeof alphabet / sizeof alphabet[0])

static int item_has(const db_rx_item *it, uint32_t c) {
    int d = c >= '0' && c <= '9', w = d || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    int s = c == ' ' || (c >= 9 && c <= 13);
    switch (it->kind) {
    case DB_RX_C_RANGE: return c >= it->lo && c <= it->hi;
    case DB_RX_C_DIGIT: return d;
    case DB_RX_C_NDIGIT: return !d;
    case DB_RX_C_WORD: return w;
    case DB_RX_C_NWORD: return !w;
    case DB_RX_C_SPACE: return s;
    case DB_RX_C_NSPACE: return !s;
    default: return 0;
    }
}

static int class_has(const db_rx_node *n, uint32_t c) {
    int hit = 0;
    for (int i = 0; i < n->nitems && !hit; i++) hit = item_has(&n->items[i], c);
    return n->negate ? !hit : hit;
}

static void put(db_str *o, uint32_t c) {
    unsigned char b[4];
    db_str_appendn(o, (const char *)b, (size_t)db_utf8_encode(c, b));
}

static void gen_seq(const db_rx_node *n, db_str *o, int depth);

static void gen_one(const db_rx_node *n, db_str *o, int depth) {
    switch (n->type) {
    case DB_RX_CHAR: put(o, n->ch); break;
    case DB_RX_ANY: { uint32_t c; do c = alphabet[rnd(N_ALPHA)]; while (c == '\n'); put(o, c); break; }
    case DB_RX_CLASS: {
        uint32_t cand[N_ALPHA + 8];
        int k = 0;
        for (size_t i = 0; i < N_ALPHA; i++) if (class_has(n, alphabet[i])) cand[k++] = alphabet[i];
        for (int i = 0; i < n->nitems && !n->negate && k < (int)(sizeof cand / sizeof cand[0]); i++)
            if (n->items[i].kind == DB_RX_C_RANGE && n->items[i].lo < 0x2028) cand[k++] = n->items[i].lo;
        if (k) put(o, cand[rnd((unsigned)k)]);
        break;
    }
    case DB_RX_GROUP: if (n->nalts && depth < 40) gen_seq(n->alts[rnd((unsigned)n->nalts)], o, depth + 1); break;
    case DB_RX_REPEAT: {
        int hi = n->max < 0 ? n->min + 3 : n->max;
        if (hi > n->min + 3) hi = n->min + 3;
        int times = n->min + (int)rnd((unsigned)(hi - n->min + 1));
        for (int t = 0; t < times && o->len < 400; t++) gen_one(n->child, o, depth + 1);
        break;
    }
    default: break;   /* anchors, lookahead, \b: nothing to write */
    }
}

static void gen_seq(const db_rx_node *n, db_str *o, int depth) {
    for (; n; n = n->next) gen_one(n, o, depth);
}

/* mutations of s (valid UTF-8): delete, insert, replace a character, double, cut */
static void mutate(const char *s, strv *out) {
    int n;
    uint32_t *cp = db_utf8_decode_all(s, &n);
    if (!cp) return;
    for (int m = 0; m < 5; m++) {
        db_str o;
        db_str_init(&o);
        int at = n ? (int)rnd((unsigned)n) : 0;
        uint32_t c = alphabet[rnd(N_ALPHA)];
        for (int i = 0; i <= n; i++) {
            if (i == at && (m == 1 || (m == 2 && i == n))) put(&o, c);
            if (i == n) break;
            if (i == at && m == 0) continue;
            if (i == at && m == 2) { put(&o, c); continue; }
            if (m == 4 && i >= at) break;
            put(&o, cp[i]);
            if (m == 3 && i == at) put(&o, cp[i]);
        }
        sv_add(out, o.s ? o.s : "");
        db_str_free(&o);
    }
    free(cp);
}

/* ---- the three consumers ---- */

typedef struct stats { int patterns, with_dfa, with_gbnf, all_three, pairs, pairs3; } stats;

static int gbnf_accepts(const char *gbnf, const char *s) {
    cJSON *str = cJSON_CreateString(s);
    char *text = cJSON_PrintUnformatted(str);
    cJSON_Delete(str);
    char err[256];
    int m = db_gbnf_match(gbnf, text, strlen(text), err, sizeof err);
    free(text);
    return m < 0 ? -1 : m == DB_GBNF_COMPLETE;
}

static void compare_pattern(const char *pattern, stats *st) {
    char *body = anchored_body(pattern);
    const char *x = body ? body : pattern;
    size_t fl = strlen(x) + 8;
    char *full = malloc(fl);
    snprintf(full, fl, "^(?:%s)$", x);
    free(body);

    char err[512];
    db_regex_dfa *dfa = NULL;
    if (db_regex_dfa_compile(full, &dfa, err, sizeof err) != 0) dfa = NULL;
    char *gbnf = NULL;
    cJSON *sch = cJSON_CreateObject();
    cJSON_AddStringToObject(sch, "type", "string");
    cJSON_AddStringToObject(sch, "pattern", full);
    if (db_json_gbnf(sch, &gbnf, err, sizeof err) != 0) gbnf = NULL;
    cJSON_Delete(sch);
    db_rx_error e;
    db_rx *ast = db_rx_parse(full, 0, strlen(full), DB_RX_LOOKAHEAD | DB_RX_BOUNDARY | DB_RX_PROPERTY, &e);
    int matcher_ok = db_regex_search(full, "", err, sizeof err) >= 0;
    CHECK_MSG(!ast == !matcher_ok, "/%s/: the front end and the matcher disagree on whether it compiles", full);

    st->patterns++;
    st->with_dfa += dfa != NULL;
    st->with_gbnf += gbnf != NULL;
    st->all_three += dfa && gbnf && matcher_ok;
    if (ast && matcher_ok && (dfa || gbnf)) {
        strv subj = { 0 };
        for (size_t k = 0; k < sizeof pair_subj / sizeof pair_subj[0]; k++) sv_add(&subj, pair_subj[k]);
        for (int g = 0; g < 6; g++) {
            db_str o;
            db_str_init(&o);
            gen_one(ast->root, &o, 0);
            const char *s = o.s ? o.s : "";
            if (strlen(s) == o.len) { sv_add(&subj, s); if (g < 3) mutate(s, &subj); }
            db_str_free(&o);
        }
        int bad = 0;
        for (int k = 0; k < subj.n && bad < 3; k++) {
            const char *s = subj.v[k];
            int m = db_regex_search(full, s, err, sizeof err);
            if (m < 0) continue;   /* step budget */
            st->pairs++;
            if (dfa) {
                int d = db_regex_dfa_match(dfa, s, strlen(s));
                if (d != m) bad++;
                CHECK_MSG(d == m, "/%s/ on \"%s\": matcher %d, DFA %d", full, s, m, d);
            }
            if (gbnf) {
                int g = gbnf_accepts(gbnf, s);
                if (g != m) bad++;
                CHECK_MSG(g == m, "/%s/ on \"%s\": matcher %d, GBNF %d", full, s, m, g);
            }
            st->pairs3 += dfa && gbnf;
        }
        sv_free(&subj);
    }
    db_rx_free(ast);
    if (dfa) db_regex_dfa_free(dfa);
    free(gbnf);
    free(full);
}

static void consumers_agree(void) {
    strv pats = { 0 };
    for (size_t i = 0; i < sizeof edge_pats / sizeof edge_pats[0]; i++) sv_add(&pats, edge_pats[i]);
    for (size_t i = 0; i < sizeof pair_pats / sizeof pair_pats[0]; i++) sv_add(&pats, pair_pats[i]);
    int hand = pats.n, files = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/data/schemas", db_test_srcdir());
    collect_dir(dir, &pats, &files);
    snprintf(dir, sizeof dir, "%s/tests/data/json-schema-test-suite", db_test_srcdir());
    collect_dir(dir, &pats, &files);
    CHECK_MSG(files > 500 && pats.n - hand > 150, "found %d schema files with %d patterns under data/schemas and tests/data",
              files, pats.n - hand);
    stats st = { 0 };
    for (int i = 0; i < pats.n; i++) compare_pattern(pats.v[i], &st);
    printf("  %d patterns (%d hand-written and from the 576 pairs, %d from %d schema files): DFA compiles %d, "
           "GBNF supports %d, all three %d; %d pattern/string pairs compared (%d by all three)\n",
           st.patterns, hand, pats.n - hand, files, st.with_dfa, st.with_gbnf, st.all_three, st.pairs, st.pairs3);
    CHECK(st.all_three >= 150);
    CHECK(st.pairs3 >= 5000);
    sv_free(&pats);
}

/* The DFA's dialect differs on purpose: '.' and negated classes take any
 * non-ASCII character and \s is ASCII white space; the matcher and the
 * grammar follow ECMA-262 (U+2028/9 are line terminators, U+00A0 is space). */
static void dfa_ascii_classes(void) {
    char err[256];
    db_regex_dfa *d = NULL;
    CHECK_INT_EQ(db_regex_dfa_compile("^.$", &d, err, sizeof err), 0);
    if (d) {
        CHECK_INT_EQ(db_regex_dfa_match(d, "\xe2\x80\xa8", 3), 1);
        db_regex_dfa_free(d);
    }
    CHECK_INT_EQ(db_regex_search("^.$", "\xe2\x80\xa8", err, sizeof err), 0);
    CHECK_INT_EQ(db_regex_dfa_compile("^\\s$", &d, err, sizeof err), 0);
    if (d) {
        CHECK_INT_EQ(db_regex_dfa_match(d, "\xc2\xa0", 2), 0);
        db_regex_dfa_free(d);
    }
    CHECK_INT_EQ(db_regex_search("^\\s$", "\xc2\xa0", err, sizeof err), 1);
}

/* Each consumer keeps its dialect's wording for the same mistake. */
static void error_wording(void) {
    char err[256];
    db_regex_dfa *d = NULL;
    CHECK_INT_EQ(db_regex_search("a**", "", err, sizeof err), -1);
    CHECK_STR_EQ(err, "regex /a**/: nothing to repeat at '*'");
    CHECK_INT_EQ(db_regex_dfa_compile("a**", &d, err, sizeof err), -1);
    CHECK_STR_EQ(err, "regex /a**/: nothing to repeat at offset 2");
    char *g = NULL;
    CHECK_INT_EQ(db_json_gbnf_text("{\"type\":\"string\",\"pattern\":\"a**\"}", &g, err, sizeof err), 1);
    CHECK_STR_EQ(err, "pattern at (root): nothing to repeat");
    CHECK_INT_EQ(db_regex_dfa_compile("[\xc3\xa9]", &d, err, sizeof err), -1);
    CHECK_STR_EQ(err, "regex /[\xc3\xa9]/: non-ASCII characters in a class are not supported at offset 2");
    CHECK_INT_EQ(db_regex_search("^[\xc3\xa9]$", "\xc3\xa9", err, sizeof err), 1);
}

/* Long subjects (fuzz: tests/fuzz/regressions/jsonschema/stack-overflow-*):
 * a property name of 12,000 characters under `^.*$id$` took a stack frame
 * pair per character and overflowed the stack under ASan.  A repetition of
 * one character now takes none (same answers, checked against the DFA),
 * and a repetition of a group stops at a stack bound with the budget error
 * instead of crashing. */
static void long_subjects(void) {
    enum { N = 200000 };
    char *s = malloc(N + 8);
    if (!s) return;
    memset(s, 'a', N);
    memcpy(s + N, "id", 3);
    char err[256];
    static const struct { const char *re; int want; } cases[] = {
        { "^.*id$", 1 }, { "^.*$id$", 0 }, { "^[a-z]*?id$", 1 }, { "^a{5,}id$", 1 }, { "^a+b", 0 },
        { "^(?:.*)id$", 1 }, { "^.*x$", 0 }, { "^a*?$", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_MSG(db_regex_search(cases[i].re, s, err, sizeof err) == cases[i].want, "/%s/ on %d a's + \"id\"",
                  cases[i].re, N);
        db_regex_dfa *d = NULL;
        if (db_regex_dfa_compile(cases[i].re, &d, err, sizeof err) == 0) {
            CHECK_INT_EQ(db_regex_dfa_match(d, s, strlen(s)), cases[i].want);
            db_regex_dfa_free(d);
        }
    }
    /* a group under a repetition recurses per iteration: a clean error, not a crash */
    int r = db_regex_search("^(?:a|b)*$", s, err, sizeof err);
    CHECK_INT_EQ(r, -1);
    CHECK_CONTAINS(err, "step budget exceeded");
    free(s);
}

void suite_regex(void) {
    RUN(long_subjects);
    RUN(error_wording);
    RUN(dfa_ascii_classes);
    RUN(consumers_agree);
}
