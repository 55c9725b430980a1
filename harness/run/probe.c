/* probe.c — STREAM-triad memory bandwidth and peak FP32 FMA rate of the
 * machine (see probe.h), measured with pthreads. */
#include "probe.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define DB_PROBE_X86 1
#endif

#include "harness/util/util.h"

#define MIB ((uint64_t)1 << 20)
#define MIN_ARRAY_BYTES (64 * MIB)
#define TRIAD_SCALAR 3.0
#define FMA_ACCUMULATORS 12
#define FMA_MIN_SECONDS 0.05     /* calibration: one repetition lasts at least this long */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- sizes ------------------------------------------------------------------ */

/* total last-level cache: the topology record's L3 instances × size, else
 * the per-instance size once per package */
static uint64_t total_l3_bytes(const db_machine *m) {
    uint64_t total = 0;
    cJSON *t = m->topology_json ? cJSON_Parse(m->topology_json) : NULL;
    const cJSON *caches = t ? cJSON_GetObjectItemCaseSensitive(t, "caches") : NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, caches) {
        const cJSON *level = cJSON_GetObjectItemCaseSensitive(c, "level");
        const cJSON *count = cJSON_GetObjectItemCaseSensitive(c, "count");
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(c, "size_bytes");
        if (cJSON_IsString(level) && strcmp(level->valuestring, "L3") == 0 && cJSON_IsNumber(count) &&
            cJSON_IsNumber(size) && count->valuedouble > 0 && size->valuedouble > 0)
            total = (uint64_t)count->valuedouble * (uint64_t)size->valuedouble;
    }
    cJSON_Delete(t);
    if (total == 0) total = m->l3_bytes * (uint64_t)(m->packages > 0 ? m->packages : 1);
    return total;
}

uint64_t db_probe_array_bytes(const db_machine *m) {
    uint64_t b = 4 * total_l3_bytes(m);
    if (b < MIN_ARRAY_BYTES) b = MIN_ARRAY_BYTES;
    if (m->memory_bytes > 0 && b > m->memory_bytes / 8) b = m->memory_bytes / 8;
    return b / 64 * 64;
}

/* ---- memory bandwidth: STREAM triad -------------------------------------------- */

typedef struct job {
    int threads, reps;
    pthread_barrier_t bar;
    pthread_mutex_t gate_mu;     /* workers start when every thread exists */
    pthread_cond_t gate_cv;
    int gate;                    /* 0 wait, 1 go, -1 abort */
    /* triad */
    double *a, *b, *c;
    size_t n;
    /* FMA */
    float (*kernel)(uint64_t iters);
    uint64_t iters;
    float reference;             /* what every call of kernel must return */
    int mismatches;              /* calls that returned something else (under gate_mu) */
    float first_result;          /* thread 0's first call */
    /* timing, by thread 0 */
    double best_s;
} job;

typedef struct worker {
    job *j;
    int id;
    pthread_t tid;
} worker;

static void triad(double *restrict a, const double *restrict b, const double *restrict c, size_t n, double s) {
    for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}

/* wait until run_threads opens the gate; false when it aborted */
static bool pass_gate(job *j) {
    pthread_mutex_lock(&j->gate_mu);
    while (j->gate == 0) pthread_cond_wait(&j->gate_cv, &j->gate_mu);
    bool go = j->gate > 0;
    pthread_mutex_unlock(&j->gate_mu);
    return go;
}

static void open_gate(job *j, int state) {
    pthread_mutex_lock(&j->gate_mu);
    j->gate = state;
    pthread_cond_broadcast(&j->gate_cv);
    pthread_mutex_unlock(&j->gate_mu);
}

static void *triad_worker(void *arg) {
    worker *w = arg;
    job *j = w->j;
    if (!pass_gate(j)) return NULL;
    size_t lo = j->n * (size_t)w->id / (size_t)j->threads, hi = j->n * (size_t)(w->id + 1) / (size_t)j->threads;
    for (size_t i = lo; i < hi; i++) {   /* first touch: pages near the thread that uses them */
        j->a[i] = 0.0;
        j->b[i] = 1.0;
        j->c[i] = 2.0;
    }
    for (int r = 0; r < j->reps; r++) {
        pthread_barrier_wait(&j->bar);
        double t0 = now_s();
        triad(j->a + lo, j->b + lo, j->c + lo, hi - lo, TRIAD_SCALAR);
        pthread_barrier_wait(&j->bar);
        if (w->id == 0) {
            double dt = now_s() - t0;
            if (dt < j->best_s) j->best_s = dt;
        }
    }
    return NULL;
}

static void *fma_worker(void *arg);

/* run fn on j->threads threads (the caller is thread 0) */
static int run_threads(job *j, void *(*fn)(void *), char *err, size_t errlen) {
    worker *w = calloc((size_t)j->threads, sizeof *w);
    if (!w) return db_errf(err, errlen, "probe: out of memory");
    if (pthread_barrier_init(&j->bar, NULL, (unsigned)j->threads) != 0) {
        free(w);
        return db_errf(err, errlen, "probe: cannot create a barrier for %d threads", j->threads);
    }
    pthread_mutex_init(&j->gate_mu, NULL);
    pthread_cond_init(&j->gate_cv, NULL);
    j->gate = 0;
    j->best_s = INFINITY;
    int started = 1, rc = 0;
    for (int i = 0; i < j->threads; i++) {
        w[i].j = j;
        w[i].id = i;
    }
    for (; started < j->threads; started++)
        if (pthread_create(&w[started].tid, NULL, fn, &w[started]) != 0) break;
    if (started < j->threads) {
        /* the barrier counts on every thread: the started ones leave at the gate */
        open_gate(j, -1);
        rc = db_errf(err, errlen, "probe: cannot start thread %d of %d", started + 1, j->threads);
    } else {
        open_gate(j, 1);
        fn(&w[0]);
    }
    for (int i = 1; i < started; i++) pthread_join(w[i].tid, NULL);
    pthread_barrier_destroy(&j->bar);
    pthread_cond_destroy(&j->gate_cv);
    pthread_mutex_destroy(&j->gate_mu);
    free(w);
    return rc;
}

static int measure_bandwidth(int threads, int reps, uint64_t bytes, db_probe_result *r, char *err, size_t errlen) {
    job j;
    memset(&j, 0, sizeof j);
    j.threads = threads;
    j.reps = reps;
    j.n = (size_t)(bytes / 64 * 8);   /* whole cache lines: aligned_alloc wants a multiple of 64 bytes */
    if (j.n < (size_t)threads) return db_errf(err, errlen, "probe: arrays of %llu bytes are too small",
                                              (unsigned long long)bytes);
    j.a = aligned_alloc(64, j.n * sizeof(double));
    j.b = aligned_alloc(64, j.n * sizeof(double));
    j.c = aligned_alloc(64, j.n * sizeof(double));
    int rc = -1;
    if (!j.a || !j.b || !j.c) {
        db_errf(err, errlen, "probe: cannot allocate 3 arrays of %llu MiB", (unsigned long long)(bytes / MIB));
        goto out;
    }
    if (run_threads(&j, triad_worker, err, errlen) != 0) goto out;
    /* STREAM's validation: every element holds b + s·c */
    for (size_t i = 0; i < j.n; i += 4096)
        if (j.a[i] != 1.0 + TRIAD_SCALAR * 2.0) {
            db_errf(err, errlen, "probe: triad result wrong at element %zu", i);
            goto out;
        }
    r->triad_elements = (uint64_t)j.n;
    r->triad_bytes = 3 * (uint64_t)sizeof(double) * (uint64_t)j.n;
    r->triad_best_s = j.best_s;
    r->bandwidth_gbs = (double)r->triad_bytes / r->triad_best_s / 1e9;
    rc = 0;
out:
    free(j.a);
    free(j.b);
    free(j.c);
    return rc;
}

/* ---- peak FP32: independent FMAs on register-resident vectors ------------------- */

/* 12 independent dependency chains hide the FMA latency (4–5 cycles on 2 ports) */
#define FMA12(OP) \
    OP(0) OP(1) OP(2) OP(3) OP(4) OP(5) OP(6) OP(7) OP(8) OP(9) OP(10) OP(11)

#ifdef DB_PROBE_X86
#define DECL512(k) __m512 x##k = _mm512_set1_ps(0.01f * (float)(k));
#define STEP512(k) x##k = _mm512_fmadd_ps(x##k, m, a);
#define SUM512(k) s = _mm512_add_ps(s, x##k);
__attribute__((target("avx512f"))) static float fma_avx512(uint64_t iters) {
    const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-6f);
    FMA12(DECL512)
    for (uint64_t i = 0; i < iters; i++) { FMA12(STEP512) }
    __m512 s = _mm512_setzero_ps();
    FMA12(SUM512)
    float out[16], t = 0;
    _mm512_storeu_ps(out, s);
    for (int l = 0; l < 16; l++) t += out[l];
    return t;
}

#define DECL256(k) __m256 x##k = _mm256_set1_ps(0.01f * (float)(k));
#define STEP256(k) x##k = _mm256_fmadd_ps(x##k, m, a);
#define SUM256(k) s = _mm256_add_ps(s, x##k);
__attribute__((target("avx2,fma"))) static float fma_avx2(uint64_t iters) {
    const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-6f);
    FMA12(DECL256)
    for (uint64_t i = 0; i < iters; i++) { FMA12(STEP256) }
    __m256 s = _mm256_setzero_ps();
    FMA12(SUM256)
    float out[8], t = 0;
    _mm256_storeu_ps(out, s);
    for (int l = 0; l < 8; l++) t += out[l];
    return t;
}

/* the reference for both: one scalar lane of each chain, fused like the vector instructions */
__attribute__((target("fma"))) static float fma_fused_lane(float x, uint64_t iters) {
    for (uint64_t i = 0; i < iters; i++) x = __builtin_fmaf(x, 0.999999f, 1e-6f);
    return x;
}
#endif

/* portable: the compiler's 16-byte vectors, multiply then add (no contraction under -std=c11) */
typedef float v4sf __attribute__((vector_size(16)));
#define DECLV(k) v4sf x##k = { 0.01f * (float)(k), 0.01f * (float)(k), 0.01f * (float)(k), 0.01f * (float)(k) };
#define STEPV(k) x##k = x##k * m + a;
#define SUMV(k) s += x##k;
static float fma_generic(uint64_t iters) {
    const v4sf m = { 0.999999f, 0.999999f, 0.999999f, 0.999999f }, a = { 1e-6f, 1e-6f, 1e-6f, 1e-6f };
    FMA12(DECLV)
    for (uint64_t i = 0; i < iters; i++) { FMA12(STEPV) }
    v4sf s = { 0, 0, 0, 0 };
    FMA12(SUMV)
    float t = 0;
    for (int l = 0; l < 4; l++) t += s[l];
    return t;
}

/* its reference: one scalar lane of each chain, the same expression (so a
 * compiler that contracts one contracts both) */
static float fma_unfused_lane(float x, uint64_t iters) {
    for (uint64_t i = 0; i < iters; i++) x = x * 0.999999f + 1e-6f;
    return x;
}

typedef struct kernel {
    const char *name;
    float (*fn)(uint64_t);
    int lanes;
    float (*lane)(float x0, uint64_t iters);   /* scalar reference of one lane of one chain */
} kernel;

/* what k->fn(iters) returns, computed lane by lane: chain c starts every
 * lane at 0.01·c; the chains are summed in order (0 + x0 + … + x11), then
 * the lanes (0 + l0 + … + l(lanes-1)), as the kernels do */
static float fma_reference(const kernel *k, uint64_t iters) {
    float chains = 0;
    for (int c = 0; c < FMA_ACCUMULATORS; c++) chains += k->lane(0.01f * (float)c, iters);
    float t = 0;
    for (int l = 0; l < k->lanes; l++) t += chains;
    return t;
}

static kernel pick_kernel(void) {
#ifdef DB_PROBE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return (kernel){ "avx512", fma_avx512, 16, fma_fused_lane };
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return (kernel){ "avx2-fma", fma_avx2, 8, fma_fused_lane };
#endif
    return (kernel){ "generic", fma_generic, 4, fma_unfused_lane };
}

static void *fma_worker(void *arg) {
    worker *w = arg;
    job *j = w->j;
    if (!pass_gate(j)) return NULL;
    int wrong = 0;
    for (int r = 0; r < j->reps; r++) {
        pthread_barrier_wait(&j->bar);
        double t0 = now_s();
        float v = j->kernel(j->iters);
        pthread_barrier_wait(&j->bar);
        if (w->id == 0) {
            double dt = now_s() - t0;
            if (dt < j->best_s) j->best_s = dt;
            if (r == 0) j->first_result = v;
        }
        wrong += v != j->reference;
    }
    pthread_mutex_lock(&j->gate_mu);
    j->mismatches += wrong;
    pthread_mutex_unlock(&j->gate_mu);
    return NULL;
}

/* one FMA measurement on `threads` threads; the best repetition in *best_s,
 * thread 0's first result in *result; -1 when any call's result differs from
 * the scalar reference */
static int measure_flops(const kernel *k, int threads, int reps, uint64_t iters, float reference, double *best_s,
                         float *result, char *err, size_t errlen) {
    job j;
    memset(&j, 0, sizeof j);
    j.threads = threads;
    j.reps = reps;
    j.kernel = k->fn;
    j.iters = iters;
    j.reference = reference;
    if (run_threads(&j, fma_worker, err, errlen) != 0) return -1;
    if (j.mismatches > 0)
        return db_errf(err, errlen, "probe: %s FMA loop returned %.9g in %d of %d calls, expected %.9g", k->name,
                       (double)j.first_result, j.mismatches, threads * reps, (double)reference);
    *best_s = j.best_s;
    *result = j.first_result;
    return 0;
}

/* iterations for one repetition of at least FMA_MIN_SECONDS on one thread */
static uint64_t calibrate(const kernel *k) {
    uint64_t iters = 1 << 14;
    volatile float sink = 0;
    for (;;) {
        double t0 = now_s();
        sink += k->fn(iters);
        double dt = now_s() - t0;
        if (dt >= FMA_MIN_SECONDS || iters >= ((uint64_t)1 << 40)) break;
        iters *= dt > 0 && dt < FMA_MIN_SECONDS / 16 ? 8 : 2;
    }
    (void)sink;
    return iters;
}

int db_probe_run(const db_machine *m, const db_probe_opts *o, db_probe_result *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    int threads = o && o->threads > 0 ? o->threads : db_physical_cores();
    int reps = o && o->reps > 0 ? o->reps : 5;
    uint64_t bytes = o && o->array_bytes > 0 ? o->array_bytes : db_probe_array_bytes(m);
    if (threads < 1 || threads > 4096) return db_errf(err, errlen, "probe: %d threads: expected 1 to 4096", threads);
    if (bytes < 64 * (uint64_t)threads) return db_errf(err, errlen, "probe: arrays of %llu bytes are too small",
                                                       (unsigned long long)bytes);
    kernel k = pick_kernel();
    r->threads = threads;
    r->array_bytes = bytes;
    r->kernel = k.name;
    if (measure_bandwidth(threads, reps, bytes, r, err, errlen) != 0) return -1;
    uint64_t iters = calibrate(&k);
    r->fma_iters = iters;
    r->fma_chains = FMA_ACCUMULATORS;
    r->fma_lanes = k.lanes;
    r->fma_flops = iters * FMA_ACCUMULATORS * (uint64_t)k.lanes * 2;
    r->fma_reference = fma_reference(&k, iters);
    if (measure_flops(&k, 1, reps, iters, r->fma_reference, &r->fma_best_s_1, &r->fma_result, err, errlen) != 0 ||
        measure_flops(&k, threads, reps, iters, r->fma_reference, &r->fma_best_s, &r->fma_result, err, errlen) != 0)
        return -1;
    r->gflops_per_thread = (double)r->fma_flops / r->fma_best_s_1 / 1e9;
    r->gflops = (double)threads * (double)r->fma_flops / r->fma_best_s / 1e9;
    snprintf(r->method, sizeof r->method,
             "STREAM triad 3 x %.0f MiB double, %d thread%s; FP32 FMA %s, 12 chains; best of %d",
             (double)bytes / (double)MIB, threads, threads == 1 ? "" : "s", k.name, reps);
    return 0;
}
