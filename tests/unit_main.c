/* unit_main.c — runs decobench's C unit tests and prints "N passed, N failed".
 *
 * Usage: unit_tests [SUITE...]   (no argument: every suite)
 * Environment: DB_SRCDIR / DB_BUILDDIR locate data files and binaries
 * (default "."), DB_TEST_TMPDIR the scratch directory, DB_TEST_ONLY=SUBSTRING
 * runs only the tests whose name contains it.
 */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUITES(X) \
    X(opt_tree) \
    X(rng) X(sample) X(stats) X(params) X(exact) X(engine_ar) X(metrics) \
    X(suite) X(store) X(counters) X(report) X(llama) X(spec) X(kv) X(models) X(jsonschema) X(compare) \
    X(rsd) \
    X(quality) X(golden) X(probe) X(lexical) X(diffusion) X(grammar) X(json_gbnf) X(regex) X(search) \
    X(train) X(lifecycle) X(preflight) X(inject) X(outfile) X(identity) X(fuzz) \
    X(interference) X(fetch) X(server_proc) X(loadgen) X(serve) X(suite_fetch) X(devices) X(events)

#define DECLARE(name) void suite_##name(void);
SUITES(DECLARE)

static int n_passed, n_failed, n_skipped;
static int cur_failed, cur_skipped;
static const char *cur_name;
static char tmpdir[512];

void db_test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    if (!cur_failed) printf("FAIL %s\n", cur_name ? cur_name : "?");
    printf("    %s:%d: ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    cur_failed++;
}

void db_test_skip(const char *reason) {
    if (!cur_skipped) printf("skip %s: %s\n", cur_name, reason);
    cur_skipped = 1;
}

void db_test_run(const char *name, void (*fn)(void)) {
    /* DB_TEST_ONLY=SUBSTRING runs only the tests whose name contains it */
    const char *only = getenv("DB_TEST_ONLY");
    if (only && *only && !strstr(name, only)) return;
    cur_name = name;
    cur_failed = 0;
    cur_skipped = 0;
    fn();
    if (cur_failed) n_failed++;
    else if (cur_skipped) n_skipped++;
    else { n_passed++; printf("ok   %s\n", name); }
    fflush(stdout);
}

const char *db_test_tmpdir(void) {
    if (!tmpdir[0]) {
        const char *env = getenv("DB_TEST_TMPDIR");
        if (env && *env) {
            snprintf(tmpdir, sizeof tmpdir, "%s", env);
            mkdir(tmpdir, 0755);
        } else {
            snprintf(tmpdir, sizeof tmpdir, "/tmp/decobench-test-XXXXXX");
            if (!mkdtemp(tmpdir)) { perror("mkdtemp"); exit(2); }
        }
    }
    return tmpdir;
}

const char *db_test_srcdir(void) {
    const char *e = getenv("DB_SRCDIR");
    return e && *e ? e : ".";
}

const char *db_test_builddir(void) {
    const char *e = getenv("DB_BUILDDIR");
    return e && *e ? e : ".";
}

int main(int argc, char **argv) {
    struct { const char *name; void (*fn)(void); } suites[] = {
#define ENTRY(name) { #name, suite_##name },
        SUITES(ENTRY)
    };
    const int n = (int)(sizeof suites / sizeof suites[0]);
    int ran = 0;
    for (int i = 0; i < n; i++) {
        int want = argc < 2;
        for (int a = 1; a < argc; a++)
            if (strcmp(argv[a], suites[i].name) == 0) want = 1;
        if (!want) continue;
        printf("# %s\n", suites[i].name);
        suites[i].fn();
        ran++;
    }
    if (argc >= 2 && ran == 0) {
        fprintf(stderr, "unit_tests: no suite named '%s'\n", argv[1]);
        return 2;
    }
    if (n_skipped) printf("%d passed, %d failed, %d skipped\n", n_passed, n_failed, n_skipped);
    else printf("%d passed, %d failed\n", n_passed, n_failed);
    fflush(stdout);   /* LeakSanitizer exits without flushing stdio */
    return n_failed ? 1 : 0;
}
