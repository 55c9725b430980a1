/* interference.h — was the machine quiet while a case (or a run) was
 * measured?  Snapshots of the kernel's CPU accounting and the CPU's power
 * settings before and after, and a verdict with reasons.
 *
 * What is checked follows pyperf (`pyperf system show`: CPU frequency
 * governor, turbo, isolated CPUs, ASLR, load) and Google Benchmark (its
 * "CPU scaling is enabled" warning, load average), plus what they do not
 * measure during a benchmark: the CPU time other processes used while the
 * case ran (/proc/stat busy jiffies minus this process's own utime+stime
 * from /proc/self/stat, and its adopted servers'), hypervisor steal, and thermal-throttle events.
 * Thresholds are in docs/metrics.md ("Interference").
 *
 * Every file is read under a root directory: "" (the real /proc and /sys),
 * or the DECOBENCH_PROC_ROOT environment variable when set, or the root
 * given to db_noise_begin_at — so tests feed fabricated files and check the
 * computed values exactly.
 */
#ifndef DECOBENCH_INTERFERENCE_H
#define DECOBENCH_INTERFERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Flag thresholds (docs/metrics.md). */
#define DB_NOISE_MAX_OTHER_CPUS 0.20   /* other processes' CPU time / wall time */
#define DB_NOISE_MAX_STEAL      0.02   /* steal jiffies / all jiffies */
/* ... and other processes' CPU time flags only from this many jiffies on
 * (0.1 CPU-seconds at USER_HZ 100): below it, the kernel's tick-sampled
 * accounting and the truncation of /proc/stat's fields (±7 jiffies) could
 * produce it alone in a short case */
#define DB_NOISE_MIN_OTHER_JIFFIES 10

/* One snapshot (db_noise_begin). */
typedef struct db_noise_snap {
    char root[512];
    bool have_stat;                 /* /proc/stat and /proc/self/stat were read */
    uint64_t busy, total, steal;    /* aggregate "cpu" line, jiffies */
    uint64_t self;                  /* this process's utime + stime, jiffies */
    int n_cpus;                     /* "cpuN" lines of /proc/stat */
    double load1;                   /* /proc/loadavg, NaN when unreadable */
    int64_t throttle;               /* sum of thermal_throttle counters, -1 unreadable */
    int64_t t_ns;                   /* monotonic clock */
} db_noise_snap;

#define DB_NOISE_MAX_REASONS 8

/* What happened between two snapshots, and the verdict. */
typedef struct db_noise {
    double wall_s;                  /* real time between the snapshots (not from root) */
    int n_cpus;                     /* online CPUs (cpuN lines), 0 unknown */
    double others_cpus;             /* CPUs other processes used on average, NaN unknown */
    int64_t others_jiffies;         /* their CPU time, jiffies (USER_HZ) */
    double self_cpus;               /* CPUs this process used on average, NaN unknown */
    double steal_share;             /* steal / all CPU time, NaN unknown */
    double load1_before, load1_after; /* 1-minute load average, NaN unknown */
    int64_t throttle_events;        /* thermal-throttle events during, -1 unknown */
    char governor[32];              /* "performance", or the first other one; "" unknown */
    int boost;                      /* turbo/boost: 1 on, 0 off, -1 unknown */
    int isolated_cpus;              /* /sys/devices/system/cpu/isolated, -1 unknown */
    int aslr;                       /* /proc/sys/kernel/randomize_va_space, -1 unknown */
    int allowed_cpus;               /* sched_getaffinity of this process (not from root), 0 unknown */
    int perf_max_sample_rate;       /* /proc/sys/kernel/perf_event_max_sample_rate, -1 unknown */
    int irq_default_cpus;           /* CPUs in /proc/irq/default_smp_affinity, -1 unknown */
    /* verdict */
    bool flagged;
    int n_reasons;
    char reason[DB_NOISE_MAX_REASONS][96];
} db_noise;

/* Processes this one started whose CPU time is part of what is measured —
 * the inference servers of serving cases (harness/run/serve.c): adopted,
 * their utime + stime counts as this process's own ("self") in every later
 * snapshot, not as other processes'; release one before stopping it (its
 * CPU time so far stays counted).  At most 16 at once; pid <= 0 is ignored.
 * Read from the real /proc, and counted in snapshots of the real /proc only. */
void db_noise_adopt_pid(int pid);
void db_noise_release_pid(int pid);

/* Take the "before" snapshot under the default root ("" or $DECOBENCH_PROC_ROOT). */
void db_noise_begin(db_noise_snap *s);
/* ... under root (NULL: the default). */
void db_noise_begin_at(db_noise_snap *s, const char *root);
/* Take the "after" snapshot (under the same root) and compute n, with its
 * verdict.  Never fails: what cannot be read stays unknown and is no reason. */
void db_noise_end(const db_noise_snap *before, db_noise *n);

/* The verdict from n's values alone (db_noise_end calls it): sets flagged,
 * n_reasons and reason[] from the thresholds above. */
void db_noise_judge(db_noise *n);

/* All reasons joined with "; " into buf ("" when none). */
void db_noise_reasons_text(const db_noise *n, char *buf, size_t len);

/* Store n in the results database (table interference, schema version 3):
 * case_idx is the case's index in the run, -1 for the whole run.  Rows are
 * appended, so a case measured in several parts (resume) keeps each part's
 * values; readers take the maximum / every reason.  Returns 0, or -1
 * with one line in err. */
struct db_store;
int db_noise_store(struct db_store *st, int64_t run_id, int case_idx, const db_noise *n, char *err,
                   size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
