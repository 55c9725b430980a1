/* test.h — the minimal unit-test framework of decobench's C tests.
 *
 * A test is a void function; CHECK* macros record failures (with file:line)
 * without aborting, so one run reports every failing check.  Each test file
 * exposes `void suite_<name>(void)` that calls RUN(test_fn) for its tests;
 * tests/unit_main.c calls every suite and prints the closing line
 * "N passed, N failed".  Run one file's tests with `unit_tests NAME`.
 */
#ifndef DECOBENCH_TEST_H
#define DECOBENCH_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

void db_test_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void db_test_run(const char *name, void (*fn)(void));
/* Skip the current test with a reason (counted as skipped, not passed). */
void db_test_skip(const char *reason);
/* Directory for scratch files of this test run (created, unique per run). */
const char *db_test_tmpdir(void);
/* Source tree root (for data files) and build tree root (for binaries). */
const char *db_test_srcdir(void);
const char *db_test_builddir(void);

#define RUN(fn) db_test_run(#fn, fn)

#define CHECK(cond) do { if (!(cond)) db_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); } while (0)
#define CHECK_MSG(cond, ...) do { if (!(cond)) db_test_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_INT_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
    if (_a != _b) db_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, _a, _b); } while (0)
#define CHECK_NEAR(a, b, tol) do { double _a = (double)(a), _b = (double)(b); \
    if (!(fabs(_a - _b) <= (tol))) db_test_fail(__FILE__, __LINE__, "%s ~= %s: %.9g vs %.9g (tol %g)", #a, #b, _a, _b, (double)(tol)); } while (0)
#define CHECK_STR_EQ(a, b) do { const char *_a = (a), *_b = (b); \
    if (!_a || !_b || strcmp(_a, _b) != 0) db_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); } while (0)
#define CHECK_CONTAINS(hay, needle) do { const char *_h = (hay), *_n = (needle); \
    if (!_h || !strstr(_h, _n)) db_test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"", _h ? _h : "(null)", _n); } while (0)

#endif
