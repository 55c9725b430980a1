/* test_counters.c — tests of PAPI counters (harness/run/counters.c), thread
 * inheritance of counters, peak RSS, and the hwloc machine probe and
 * pinning (harness/run/topology.c).
 */
#include "test.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/run/counters.h"
#include "harness/run/topology.h"

static volatile double sink;

static void *spin(void *arg) {
    long iters = arg ? *(const long *)arg : 50000000L;
    double x = 0;
    for (long i = 0; i < iters; i++) x += (double)i * 0.5;
    sink = x;
    return NULL;
}

static int64_t thread_cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* a counter of CPU time (ns) read around a region agrees with the kernel's
 * CPU clock read just inside it: within 10% plus 2 ms of start/stop cost */
static int close_to(int64_t counted_ns, int64_t reference_ns) {
    int64_t d = counted_ns - reference_ns;
    if (d < 0) d = -d;
    return d <= reference_ns / 10 + 2000000;
}

struct spin_job { long iters; int64_t cpu_ns; };

/* spins, and measures its own CPU time with the kernel's per-thread clock */
static void *spin_measured(void *arg) {
    struct spin_job *j = arg;
    int64_t t0 = thread_cpu_ns();
    spin(&j->iters);
    j->cpu_ns = thread_cpu_ns() - t0;
    return NULL;
}

static int index_of(const char *const *names, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

static void test_counters_open(void) {
    const char *ev[] = { "PAPI_TOT_INS", "PAPI_TOT_CYC", "perf::TASK-CLOCK", "NO_SUCH_EVENT_XYZ" };
    db_counters *c = db_counters_open(ev, 4);
    CHECK(c != NULL);
    if (!c) return;
    const db_counter_status *st = NULL;
    int ns = db_counters_status(c, &st);
    CHECK(ns >= 4);
    for (int i = 0; i < ns && i < 4; i++) CHECK_STR_EQ(st[i].name, ev[i]);
    /* the bogus event is unavailable with a reason; requested ones are not fallbacks */
    CHECK(ns >= 4 && !st[3].available);
    CHECK(ns >= 4 && st[3].reason[0] != 0);
    for (int i = 0; i < ns; i++) {
        if (i < 4) CHECK(!st[i].fallback);
        if (!st[i].available) CHECK_MSG(st[i].reason[0], "%s unavailable without a reason", st[i].name);
        else CHECK_MSG(!st[i].reason[0], "%s available with reason %s", st[i].name, st[i].reason);
    }
    const char *const *names = NULL;
    int na = db_counters_active(c, &names);
    if (strcmp(db_counters_papi_version(c), "unavailable") == 0) {
        CHECK_INT_EQ(na, 0);
        db_counters_close(c);
        db_test_skip("PAPI unavailable here");
        return;
    }
    /* software events work even in a VM without a PMU */
    CHECK_MSG(na >= 1, "no counter available (PAPI %s)", db_counters_papi_version(c));
    CHECK(index_of(names, na, "perf::TASK-CLOCK") >= 0);
    /* fallbacks were added (the bogus event is missing), not duplicated */
    int tc = 0;
    for (int i = 0; i < ns; i++) tc += strcmp(st[i].name, "perf::TASK-CLOCK") == 0;
    CHECK_INT_EQ(tc, 1);
    int fb = 0;
    for (int i = 0; i < ns; i++) fb += st[i].fallback;
    CHECK(fb >= 1);
    for (int i = 0; i < ns; i++) if (st[i].fallback) CHECK(st[i].available);

    /* TASK-CLOCK is this thread's CPU time: it equals the kernel's own
     * per-thread CPU clock read around the same work (a value against an
     * independent reference, whatever the machine's speed or load) */
    int64_t v1[DB_MAX_COUNTERS + 3] = { 0 }, v2[DB_MAX_COUNTERS + 3] = { 0 };
    long small = 100000, big = 40000000;
    CHECK(db_counters_start(c) == 0);
    int64_t c0 = thread_cpu_ns();
    spin(&small);
    int64_t own1 = thread_cpu_ns() - c0;
    CHECK_INT_EQ(db_counters_stop(c, v1), na);
    CHECK(db_counters_start(c) == 0);
    c0 = thread_cpu_ns();
    spin(&big);
    int64_t own2 = thread_cpu_ns() - c0;
    CHECK_INT_EQ(db_counters_stop(c, v2), na);
    int t = index_of(names, na, "perf::TASK-CLOCK");
    if (t >= 0) {
        CHECK(v1[t] > 0);
        CHECK_MSG(close_to(v1[t], own1), "TASK-CLOCK %lld ns vs thread CPU clock %lld ns", (long long)v1[t],
                  (long long)own1);
        CHECK_MSG(close_to(v2[t], own2), "TASK-CLOCK %lld ns vs thread CPU clock %lld ns", (long long)v2[t],
                  (long long)own2);
    }
    /* stop without start is harmless */
    CHECK_INT_EQ(db_counters_stop(c, v1), 0);
    db_counters_close(c);
}

static void test_counters_unusable(void) {
    /* nothing requested, or only unknown events: never fails, start/stop no-ops */
    db_counters *c = db_counters_open(NULL, 0);
    CHECK(c != NULL);
    /* only the three process-wide rusage counters */
    CHECK_INT_EQ(db_counters_active(c, NULL), 3);
    CHECK(db_counters_start(c) == 0);
    int64_t v[DB_MAX_COUNTERS + 3];
    CHECK_INT_EQ(db_counters_stop(c, v), 3);
    CHECK(v[0] >= 0 && v[1] >= 0 && v[2] >= 0);
    db_counters_close(c);
    db_counters_close(NULL);

    const char *ev[] = { "NOT_AN_EVENT", "perf::ALSO-NOT" };
    c = db_counters_open(ev, 2);
    CHECK(c != NULL);
    const db_counter_status *st = NULL;
    int ns = db_counters_status(c, &st);
    CHECK(ns >= 2);
    for (int i = 0; i < 2 && i < ns; i++) {
        CHECK(!st[i].available);
        CHECK(st[i].reason[0] != 0);
    }
    db_counters_close(c);
}

/* PAPI_INHERIT: a thread created after open is counted when inheritance
 * works; where PAPI refuses it (VM without a PMU), only the main thread is. */
static void test_counters_inherit(void) {
    const char *ev[] = { "perf::TASK-CLOCK" };
    db_counters *c = db_counters_open(ev, 1);
    const char *const *names = NULL;
    if (db_counters_active(c, &names) != 1 + 3) {
        db_counters_close(c);
        db_test_skip("perf::TASK-CLOCK unavailable");
        return;
    }
    struct spin_job other = { 60000000, 0 }, mine = { 60000000, 0 };
    int64_t v[DB_MAX_COUNTERS + 3] = { 0 };
    CHECK(db_counters_start(c) == 0);
    pthread_t th;
    int made = pthread_create(&th, NULL, spin_measured, &other) == 0;
    CHECK(made);
    spin_measured(&mine);
    if (made) pthread_join(th, NULL);
    CHECK_INT_EQ(db_counters_stop(c, v), 1 + 3);
    /* references: each thread's own CPU clock (the kernel's, read by the
     * thread itself); no assumption about the machine's speed */
    int64_t own = mine.cpu_ns, both = mine.cpu_ns + other.cpu_ns;
    /* the process-wide rusage CPU time is the two spinning threads' sum */
    CHECK_STR_EQ(names[1], "rusage::CPU-TIME-US");
    CHECK_MSG(close_to(v[1] * 1000, both), "rusage CPU %lld us vs the threads' CPU clocks %lld ns",
              (long long)v[1], (long long)both);
    double ratio = own > 0 ? (double)v[0] / (double)own : 0;
    if (db_counters_inherited(c))
        CHECK_MSG(close_to(v[0], both), "inherited TASK-CLOCK %lld ns vs the threads' CPU clocks %lld ns",
                  (long long)v[0], (long long)both);
    else
        CHECK_MSG(close_to(v[0], own), "TASK-CLOCK %lld ns vs main thread's CPU clock %lld ns", (long long)v[0],
                  (long long)own);
    printf("    (PAPI_INHERIT %s: TASK-CLOCK / main-thread CPU = %.2f)\n",
           db_counters_inherited(c) ? "works" : "refused", ratio);
    db_counters_close(c);
}

static void test_peak_rss(void) {
    int64_t a = db_peak_rss_kib();
    CHECK(a > 0);
    size_t n = 32u << 20;
    char *p = malloc(n);
    CHECK(p != NULL);
    if (p) {
        memset(p, 1, n);
        sink = p[n / 2];
    }
    int64_t b = db_peak_rss_kib();
    free(p);
    CHECK(b >= a);
}

static void test_machine_probe(void) {
    db_machine m1, m2;
    char err[256];
    CHECK_MSG(db_machine_probe(&m1, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(db_machine_probe(&m2, err, sizeof err) == 0, "%s", err);
    CHECK(m1.cores >= 1);
    CHECK(m1.pus >= m1.cores);
    CHECK(m1.packages >= 1);
    CHECK(m1.numa_nodes >= 1);
    CHECK(m1.memory_bytes > 0);
    CHECK(m1.hostname[0] != 0);
    CHECK(m1.cpu_model[0] != 0);
    CHECK(m1.arch[0] != 0);
    CHECK(m1.os[0] != 0);
    CHECK_INT_EQ(strlen(m1.fingerprint), 64);
    CHECK(strspn(m1.fingerprint, "0123456789abcdef") == 64);
    CHECK_STR_EQ(m1.fingerprint, m2.fingerprint);
    CHECK(m1.topology_json && m1.topology_json[0] == '{');
    CHECK_CONTAINS(m1.topology_json, "\"cores_pus\"");
    CHECK_CONTAINS(m1.topology_json, "\"caches\"");
    CHECK_INT_EQ(db_physical_cores(), m1.cores);
    db_machine_free(&m1);
    db_machine_free(&m2);
    CHECK(m1.topology_json == NULL);
}

static void test_pinning(void) {
    char err[256] = "";
    CHECK(db_pin_threads("none", 0, err, sizeof err) == 0);
    CHECK(db_pin_threads("none", 4, err, sizeof err) == 0);
    CHECK(db_pin_threads("spread", 2, err, sizeof err) != 0);
    CHECK_CONTAINS(err, "pin mode 'spread'");
    CHECK(strchr(err, '\n') == NULL);
    /* real pinning, then undo it: bind to all PUs again */
    int pus = 0;
    db_machine m;
    if (db_machine_probe(&m, err, sizeof err) == 0) {
        pus = m.pus;
        db_machine_free(&m);
    }
    if (db_pin_threads("cores", 1, err, sizeof err) != 0) {
        db_test_skip(err);   /* binding may be forbidden in some containers */
        return;
    }
    CHECK_MSG(db_pin_threads("compact", pus, err, sizeof err) == 0, "%s", err);
}

void suite_counters(void) {
    RUN(test_counters_open);
    RUN(test_counters_unusable);
    RUN(test_counters_inherit);
    RUN(test_peak_rss);
    RUN(test_machine_probe);
    RUN(test_pinning);
}
