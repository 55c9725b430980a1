/* test_quality.c — tests of harness/constraint/quality.c: compliance of outputs with
 * their constraint (JSON Schema, regex, keywords, grammar via a checker). */
#include "test.h"

#include <string.h>

#include "harness/constraint/quality.h"

static double metric(const db_quality *q, const char *name) {
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->name[i], name) == 0) return q->value[i];
    return -1;
}

static void test_quality_json_schema(void) {
    const char *c = "{\"json_schema\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":3}},"
                    "\"required\":[\"n\"]}}";
    db_quality q;
    char err[256] = "";
    CHECK_INT_EQ(db_quality_check(c, " {\"n\": 4}\n", &q, err, sizeof err), 0);
    CHECK_INT_EQ(metric(&q, "json_parses"), 1);
    CHECK_INT_EQ(metric(&q, "schema_valid"), 1);
    CHECK_INT_EQ(db_quality_check(c, "{\"n\": 2}", &q, err, sizeof err), 0);
    CHECK_INT_EQ(metric(&q, "json_parses"), 1);
    CHECK_INT_EQ(metric(&q, "schema_valid"), 0);
    CHECK_INT_EQ(db_quality_check(c, "{\"n\": 4} trailing", &q, err, sizeof err), 0);
    CHECK_INT_EQ(metric(&q, "json_parses"), 0);
    CHECK_INT_EQ(metric(&q, "schema_valid"), 0);
    CHECK_INT_EQ(db_quality_check(c, "{\"n\": ", &q, err, sizeof err), 0);
    CHECK_INT_EQ(metric(&q, "json_parses"), 0);
    CHECK_INT_EQ(db_quality_check(NULL, "x", &q, err, sizeof err), 0);
    CHECK_INT_EQ(q.n, 0);
}

static void test_quality_regex_keywords(void) {
    db_quality q;
    char err[256] = "";
    CHECK_INT_EQ(db_quality_check("{\"regex\":\"[0-9]{3}-[a-z]+\"}", "123-abc", &q, err, sizeof err), 0);
    CHECK_INT_EQ(metric(&q, "regex_match"), 1);
    /* whole output, not a substring */
    CHECK_INT_EQ(db_quality_check("{\"regex\":\"[0-9]{3}-[a-z]+\"}", "x123-abc", &q, err, sizeof err), 0);
    CHECK_INT_EQ(metric(&q, "regex_match"), 0);
    CHECK_INT_EQ(db_quality_check("{\"regex\":\"a|b\"}", "ab", &q, err, sizeof err), 0);
    CHECK_INT_EQ(metric(&q, "regex_match"), 0);
    CHECK_INT_EQ(db_quality_check("{\"keywords\":[\"dog\",\"frisbee\",\"park\"]}", "the dog caught a frisbee", &q,
                                  err, sizeof err), 0);
    CHECK_NEAR(metric(&q, "keyword_coverage"), 2.0 / 3.0, 1e-12);
    CHECK_INT_EQ(metric(&q, "keywords_all"), 0);
    /* malformed constraints are errors naming the key */
    CHECK_INT_EQ(db_quality_check("{\"keywords\":[]}", "x", &q, err, sizeof err), -1);
    CHECK_CONTAINS(err, "keywords");
    CHECK_INT_EQ(db_quality_check("{\"regex\":\"(\"}", "x", &q, err, sizeof err), -1);
    CHECK_CONTAINS(err, "regex");
    CHECK_INT_EQ(db_quality_check("[1]", "x", &q, err, sizeof err), -1);
}

static int fake_checker(const char *gbnf, const char *text, char *err, size_t errlen) {
    (void)gbnf; (void)err; (void)errlen;
    return strcmp(text, "yes") == 0;
}

static void test_quality_grammar_checker(void) {
    db_quality q;
    char err[256] = "";
    db_quality_set_grammar_checker(NULL);
    CHECK_INT_EQ(db_quality_check("{\"grammar\":\"root ::= \\\"yes\\\"\"}", "yes", &q, err, sizeof err), 0);
    CHECK_INT_EQ(q.n, 0);
    db_quality_set_grammar_checker(fake_checker);
    CHECK_INT_EQ(db_quality_check("{\"grammar\":\"root ::= \\\"yes\\\"\"}", "yes", &q, err, sizeof err), 0);
    CHECK_INT_EQ(metric(&q, "grammar_valid"), 1);
    CHECK_INT_EQ(db_quality_check("{\"grammar\":\"root ::= \\\"yes\\\"\"}", "no", &q, err, sizeof err), 0);
    CHECK_INT_EQ(metric(&q, "grammar_valid"), 0);
    db_quality_set_grammar_checker(NULL);
}

void suite_quality(void) {
    RUN(test_quality_json_schema);
    RUN(test_quality_regex_keywords);
    RUN(test_quality_grammar_checker);
}
