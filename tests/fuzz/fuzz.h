/* fuzz.h — decobench's fuzz targets (tests/fuzz/fuzz_*.c): one function per
 * parser of untrusted text, int db_fuzz_NAME(const uint8_t *data, size_t size).
 *
 * Each file is compiled two ways: with -DDB_LIBFUZZER (configure
 * --enable-fuzzers, CC=clang; tests/fuzz/build.sh) it also defines libFuzzer's
 * LLVMFuzzerTestOneInput; without it (the ordinary gcc build) the functions
 * are linked into tests/unit_tests, whose "fuzz" suite (tests/test_fuzz.c)
 * replays every crasher kept under tests/fuzz/regressions/NAME/.
 *
 * A target never exits: inputs are handed to the library's public API and
 * the results' invariants are checked with DB_FUZZ_CHECK, which aborts under
 * libFuzzer (a crash it keeps) and records a test failure in the replay.
 */
#ifndef DECOBENCH_FUZZ_H
#define DECOBENCH_FUZZ_H
#include <stddef.h>
#include <stdint.h>

#define DB_FUZZ_TARGETS(X) \
    X(suite) X(jsonl) X(jsonschema) X(json_gbnf) X(regex_dfa) X(regex_search) X(regex_gbnf) X(gbnf) X(merge) X(sse)

#define DB_FUZZ_DECLARE(name) int db_fuzz_##name(const uint8_t *data, size_t size);
DB_FUZZ_TARGETS(DB_FUZZ_DECLARE)

#ifdef DB_LIBFUZZER
#define DB_FUZZ_ENTRY(name) \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return db_fuzz_##name(data, size); }
#else
#define DB_FUZZ_ENTRY(name)
#endif

/* A broken invariant: message to stderr, then abort() (libFuzzer) or the
 * installed hook (the replay test records a failure and carries on). */
extern void (*db_fuzz_fail_hook)(const char *msg);
void db_fuzz_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
#define DB_FUZZ_CHECK(cond, ...) do { if (!(cond)) db_fuzz_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)

/* data[0..size) as a NUL-terminated malloc'd string (NULL when out of memory). */
char *db_fuzz_str(const uint8_t *data, size_t size);
/* Split at the first NUL byte: *a = the part before, *b = after (or NULL when
 * there is none); both malloc'd, NUL-terminated.  Returns -1 when out of memory. */
int db_fuzz_split(const uint8_t *data, size_t size, char **a, char **b);
/* A private scratch directory for this process (created once, removed at exit;
 * in $TMPDIR, else /dev/shm, else /tmp). */
const char *db_fuzz_tmpdir(void);
/* Write data to dir/name (replacing it); returns the path (static buffer) or NULL. */
const char *db_fuzz_write(const char *name, const uint8_t *data, size_t size);
/* 1 when text names something a fuzz input must not open (devices, /proc,
 * /sys, file descriptors: reading them could block or never end). */
int db_fuzz_names_device(const char *text);

#endif
