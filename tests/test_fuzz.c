/* test_fuzz.c — replays the fuzz crashers kept as regression files: every
 * file under tests/fuzz/regressions/TARGET/ is fed to that fuzz target
 * (tests/fuzz/fuzz_TARGET.c, linked here without libFuzzer), so the ordinary
 * (gcc, ASan/UBSan) test run checks them on machines without clang.  A
 * target's invariant checks (DB_FUZZ_CHECK) count as test failures here; a
 * crash ends unit_tests, which run-tests.sh reports as a failure.
 * `unit_tests fuzz` runs only these; each file's name is printed before it
 * is fed, so a crash names its input. */
#include "test.h"
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness/util/util.h"

static void record_failure(const char *msg) { db_test_fail(__FILE__, __LINE__, "%s", msg); }

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Replay every file of tests/fuzz/regressions/<name>/ through fn; returns the count. */
static int replay_dir(const char *name, int (*fn)(const uint8_t *, size_t)) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regressions/%s", db_test_srcdir(), name);
    DIR *d = opendir(dir);
    if (!d) {
        db_test_fail(__FILE__, __LINE__, "%s: cannot open", dir);
        return 0;
    }
    char *files[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096)
        if (e->d_name[0] != '.') files[n++] = db_strdup(e->d_name);
    closedir(d);
    qsort(files, (size_t)n, sizeof files[0], cmp_names);
    for (int i = 0; i < n; i++) {
        char path[2048], err[256];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        size_t len = 0;
        char *buf = db_read_file(path, &len, err, sizeof err);
        CHECK_MSG(buf != NULL, "%s", err);
        if (buf) {
            printf("    %s/%s\n", name, files[i]);   /* names the file should it crash */
            fflush(stdout);
            fn((const uint8_t *)buf, len);
            free(buf);
        }
        free(files[i]);
    }
    return n;
}

#define REPLAY_TEST(name) \
    static void test_replay_##name(void) { \
        int n = replay_dir(#name, db_fuzz_##name); \
        CHECK_MSG(n > 0, "tests/fuzz/regressions/%s holds no input", #name); \
    }
DB_FUZZ_TARGETS(REPLAY_TEST)

void suite_fuzz(void) {
    db_fuzz_fail_hook = record_failure;
#define RUN_REPLAY(name) RUN(test_replay_##name);
    DB_FUZZ_TARGETS(RUN_REPLAY)
}
