/* interference.c — snapshots of other processes' CPU use, steal, load,
 * frequency governor, boost and thermal throttling around a measured case,
 * and the verdict (see interference.h; thresholds in docs/metrics.md).
 */
#include "interference.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "harness/util/util.h"

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Read root + rel into buf (NUL-terminated, at most len - 1 bytes); 0 or -1. */
static int read_small(const char *root, const char *rel, char *buf, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s%s", root, rel);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, len - 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) return -1;
    buf[n] = '\0';
    return 0;
}

/* the aggregate "cpu" line and the number of "cpuN" lines of /proc/stat */
static int read_proc_stat(const char *root, db_noise_snap *s) {
    char path[1024];
    snprintf(path, sizeof path, "%s/proc/stat", root);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[1024];
    bool got = false;
    s->n_cpus = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "cpu", 3) != 0) continue;
        if (isdigit((unsigned char)line[3])) {
            s->n_cpus++;
            continue;
        }
        if (line[3] != ' ') continue;
        /* user nice system idle iowait irq softirq steal [guest guest_nice,
         * which are already counted in user and nice] */
        unsigned long long v[8] = { 0 };
        int n = sscanf(line + 3, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                       &v[5], &v[6], &v[7]);
        if (n < 4) continue;
        s->busy = v[0] + v[1] + v[2] + v[5] + v[6];
        s->steal = v[7];
        s->total = s->busy + v[3] + v[4] + v[7];
        got = true;
    }
    fclose(f);
    return got && s->n_cpus > 0 ? 0 : -1;
}

/* utime + stime (fields 14 and 15) of /proc/self/stat, or of /proc/PID/stat */
static int read_pid_stat(const char *root, const char *file, uint64_t *ticks) {
    char buf[2048];
    if (read_small(root, file, buf, sizeof buf) != 0) return -1;
    const char *p = strrchr(buf, ')');   /* the command name may hold spaces and ')' */
    if (!p) return -1;
    p++;
    unsigned long long ut = 0, st = 0;
    /* after the name: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    *ticks = ut + st;
    return 0;
}

static int read_self_stat(const char *root, uint64_t *ticks) {
    return read_pid_stat(root, "/proc/self/stat", ticks);
}

/* ---- adopted processes: the servers a serving case started --------------------
 * Their CPU time is the measurement's own, not interference.  An adopted
 * process counts with its utime + stime as read at each snapshot; when it is
 * released (before it is stopped) its last reading is kept in `retired`, so
 * differences between snapshots stay right across a server's restart. */
#define MAX_ADOPTED 16
static struct { int pid; uint64_t last; } adopted[MAX_ADOPTED];
static int n_adopted;
static uint64_t retired;

static uint64_t adopted_ticks(void) {
    uint64_t sum = retired;
    for (int i = 0; i < n_adopted; i++) {
        char file[64];
        uint64_t t = 0;
        snprintf(file, sizeof file, "/proc/%d/stat", adopted[i].pid);
        if (read_pid_stat("", file, &t) == 0 && t >= adopted[i].last) adopted[i].last = t;
        sum += adopted[i].last;
    }
    return sum;
}

void db_noise_adopt_pid(int pid) {
    if (pid <= 0 || n_adopted == MAX_ADOPTED) return;
    for (int i = 0; i < n_adopted; i++)
        if (adopted[i].pid == pid) return;
    adopted[n_adopted].pid = pid;
    adopted[n_adopted].last = 0;
    char file[64];
    snprintf(file, sizeof file, "/proc/%d/stat", pid);
    read_pid_stat("", file, &adopted[n_adopted].last);
    n_adopted++;
}

void db_noise_release_pid(int pid) {
    for (int i = 0; i < n_adopted; i++)
        if (adopted[i].pid == pid) {
            char file[64];
            uint64_t t = 0;
            snprintf(file, sizeof file, "/proc/%d/stat", pid);
            if (read_pid_stat("", file, &t) == 0 && t >= adopted[i].last) adopted[i].last = t;
            retired += adopted[i].last;
            adopted[i] = adopted[--n_adopted];
            return;
        }
}

static bool cpu_dir_name(const char *name) {
    if (strncmp(name, "cpu", 3) != 0 || !name[3]) return false;
    for (const char *p = name + 3; *p; p++)
        if (!isdigit((unsigned char)*p)) return false;
    return true;
}

/* Sum of every CPU's thermal_throttle/{core,package}_throttle_count; -1 when none is readable. */
static int64_t read_throttle(const char *root) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/sys/devices/system/cpu", root);
    DIR *d = opendir(dir);
    if (!d) return -1;
    int64_t sum = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!cpu_dir_name(e->d_name)) continue;
        static const char *const files[] = { "core_throttle_count", "package_throttle_count" };
        for (int k = 0; k < 2; k++) {
            char rel[512], buf[64];
            snprintf(rel, sizeof rel, "/sys/devices/system/cpu/%.32s/thermal_throttle/%s", e->d_name, files[k]);
            if (read_small(root, rel, buf, sizeof buf) != 0) continue;
            char *end;
            long long v = strtoll(buf, &end, 10);
            if (end == buf || v < 0) continue;
            sum = (sum < 0 ? 0 : sum) + v;
        }
    }
    closedir(d);
    return sum;
}

/* "performance" when every readable CPU has it, else the first other
 * governor (CPUs in name order); "" when none is readable */
static void read_governor(const char *root, char *out, size_t len) {
    out[0] = '\0';
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/sys/devices/system/cpu", root);
    DIR *d = opendir(dir);
    if (!d) return;
    long first_other = -1;
    char other[32] = "";
    bool any = false;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!cpu_dir_name(e->d_name)) continue;
        char rel[512], buf[64];
        snprintf(rel, sizeof rel, "/sys/devices/system/cpu/%.32s/cpufreq/scaling_governor", e->d_name);
        if (read_small(root, rel, buf, sizeof buf) != 0) continue;
        buf[strcspn(buf, " \t\r\n")] = '\0';
        if (!buf[0]) continue;
        any = true;
        long cpu = strtol(e->d_name + 3, NULL, 10);
        if (strcmp(buf, "performance") != 0 && (first_other < 0 || cpu < first_other)) {
            first_other = cpu;
            snprintf(other, sizeof other, "%.31s", buf);
        }
    }
    closedir(d);
    if (any) snprintf(out, len, "%s", first_other >= 0 ? other : "performance");
}

static int read_int(const char *root, const char *rel, long *v) {
    char buf[64], *end;
    if (read_small(root, rel, buf, sizeof buf) != 0) return -1;
    *v = strtol(buf, &end, 10);
    return end == buf ? -1 : 0;
}

/* 1 boost/turbo on, 0 off, -1 unknown: cpufreq/boost (acpi-cpufreq, amd),
 * else intel_pstate/no_turbo */
static int read_boost(const char *root) {
    long v;
    if (read_int(root, "/sys/devices/system/cpu/cpufreq/boost", &v) == 0) return v != 0;
    if (read_int(root, "/sys/devices/system/cpu/intel_pstate/no_turbo", &v) == 0) return v == 0;
    return -1;
}

/* the number of CPUs in a cpulist ("", "3", "2-5,7"); -1 unreadable */
static int read_cpulist_count(const char *root, const char *rel) {
    char buf[1024];
    if (read_small(root, rel, buf, sizeof buf) != 0) return -1;
    int n = 0;
    const char *p = buf;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        if (!isdigit((unsigned char)*p)) break;
        char *end;
        long a = strtol(p, &end, 10), b = a;
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            p = end;
        }
        if (b >= a) n += (int)(b - a + 1);
    }
    return n;
}

/* the number of CPUs in a hex CPU mask ("3", "ff,ffffffff"); -1 unreadable */
static int read_hexmask_count(const char *root, const char *rel) {
    char buf[1024];
    if (read_small(root, rel, buf, sizeof buf) != 0) return -1;
    int n = 0, digits = 0;
    for (const char *p = buf; *p; p++) {
        int v = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
              : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10 : -1;
        if (v < 0) continue;
        digits++;
        n += (v & 1) + (v >> 1 & 1) + (v >> 2 & 1) + (v >> 3 & 1);
    }
    return digits ? n : -1;
}

static double read_load1(const char *root) {
    char buf[256];
    if (read_small(root, "/proc/loadavg", buf, sizeof buf) != 0) return NAN;
    char *end;
    double v = strtod(buf, &end);
    return end == buf ? NAN : v;
}

static void snap(db_noise_snap *s) {
    uint64_t self = 0;
    s->have_stat = read_proc_stat(s->root, s) == 0 && read_self_stat(s->root, &self) == 0;
    s->self = self + (s->root[0] ? 0 : adopted_ticks());   /* fabricated roots (tests): their own files only */
    s->load1 = read_load1(s->root);
    s->throttle = read_throttle(s->root);
    s->t_ns = mono_ns();
}

void db_noise_begin_at(db_noise_snap *s, const char *root) {
    memset(s, 0, sizeof *s);
    if (!root) root = getenv("DECOBENCH_PROC_ROOT");
    snprintf(s->root, sizeof s->root, "%s", root ? root : "");
    snap(s);
}

void db_noise_begin(db_noise_snap *s) {
    db_noise_begin_at(s, NULL);
}

void db_noise_end(const db_noise_snap *b, db_noise *n) {
    db_noise_snap a;
    memset(&a, 0, sizeof a);
    memcpy(a.root, b->root, sizeof a.root);
    snap(&a);
    memset(n, 0, sizeof *n);
    n->wall_s = (double)(a.t_ns - b->t_ns) / 1e9;
    n->others_cpus = n->self_cpus = n->steal_share = NAN;
    if (a.have_stat && b->have_stat && a.total > b->total && a.busy >= b->busy && a.self >= b->self &&
        a.steal >= b->steal) {
        /* jiffies of all CPUs; one CPU's share of the interval is total / n_cpus */
        double total = (double)(a.total - b->total), ncpu = a.n_cpus;
        double busy = (double)(a.busy - b->busy), self = (double)(a.self - b->self);
        double others = busy > self ? busy - self : 0.0;
        n->n_cpus = a.n_cpus;
        n->others_cpus = others * ncpu / total;
        n->others_jiffies = (int64_t)others;
        n->self_cpus = self * ncpu / total;
        n->steal_share = (double)(a.steal - b->steal) / total;
    } else if (a.have_stat) n->n_cpus = a.n_cpus;
    n->load1_before = b->load1;
    n->load1_after = a.load1;
    n->throttle_events = a.throttle >= 0 && b->throttle >= 0 && a.throttle >= b->throttle ? a.throttle - b->throttle
                                                                                          : -1;
    read_governor(a.root, n->governor, sizeof n->governor);
    n->boost = read_boost(a.root);
    n->isolated_cpus = read_cpulist_count(a.root, "/sys/devices/system/cpu/isolated");
    long v;
    n->aslr = read_int(a.root, "/proc/sys/kernel/randomize_va_space", &v) == 0 ? (int)v : -1;
    n->perf_max_sample_rate = read_int(a.root, "/proc/sys/kernel/perf_event_max_sample_rate", &v) == 0 ? (int)v : -1;
    n->irq_default_cpus = read_hexmask_count(a.root, "/proc/irq/default_smp_affinity");
    cpu_set_t set;
    CPU_ZERO(&set);
    n->allowed_cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    db_noise_judge(n);
}

static void add_reason(db_noise *n, const char *fmt, double v, const char *s) {
    if (n->n_reasons >= DB_NOISE_MAX_REASONS) return;
    char *r = n->reason[n->n_reasons++];
    if (s) snprintf(r, sizeof n->reason[0], fmt, s);
    else snprintf(r, sizeof n->reason[0], fmt, v);
}

void db_noise_judge(db_noise *n) {
    n->n_reasons = 0;
    if (isfinite(n->others_cpus) && n->others_cpus > DB_NOISE_MAX_OTHER_CPUS &&
        n->others_jiffies >= DB_NOISE_MIN_OTHER_JIFFIES)
        add_reason(n, "other processes used %.2f CPUs (limit 0.20)", n->others_cpus, NULL);
    if (isfinite(n->steal_share) && n->steal_share > DB_NOISE_MAX_STEAL)
        add_reason(n, "CPU steal %.1f%% (limit 2%%)", 100.0 * n->steal_share, NULL);
    if (n->governor[0] && strcmp(n->governor, "performance") != 0)
        add_reason(n, "CPU frequency governor %s (not performance)", 0, n->governor);
    if (n->throttle_events > 0)
        add_reason(n, "thermal throttling: %.0f events", (double)n->throttle_events, NULL);
    n->flagged = n->n_reasons > 0;
}

void db_noise_reasons_text(const db_noise *n, char *buf, size_t len) {
    size_t o = 0;
    if (len) buf[0] = '\0';
    for (int i = 0; i < n->n_reasons && o + 1 < len; i++) {
        int w = snprintf(buf + o, len - o, "%s%s", i ? "; " : "", n->reason[i]);
        if (w < 0) break;
        o += (size_t)w < len - o ? (size_t)w : len - o - 1;
    }
}

int db_noise_store(db_store *st, int64_t run_id, int case_idx, const db_noise *n, char *err, size_t errlen) {
    sqlite3 *db = db_store_handle(st);
    if (!db) return db_errf(err, errlen, "no results database");
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO interference(run_id, case_idx, name, value, text) VALUES(?,?,?,?,?)", -1,
                           &s, NULL) != SQLITE_OK)
        return db_errf(err, errlen, "store interference: %s", sqlite3_errmsg(db));
    const struct {
        const char *name;
        double v;
    } nums[] = {
        { "flagged", n->flagged ? 1.0 : 0.0 },
        { "wall_s", n->wall_s },
        { "n_cpus", n->n_cpus > 0 ? n->n_cpus : NAN },
        { "others_cpus", n->others_cpus },
        { "others_jiffies", isfinite(n->others_cpus) ? (double)n->others_jiffies : NAN },
        { "self_cpus", n->self_cpus },
        { "steal_share", n->steal_share },
        { "load1_before", n->load1_before },
        { "load1_after", n->load1_after },
        { "throttle_events", n->throttle_events >= 0 ? (double)n->throttle_events : NAN },
        { "boost", n->boost >= 0 ? n->boost : NAN },
        { "isolated_cpus", n->isolated_cpus >= 0 ? n->isolated_cpus : NAN },
        { "aslr", n->aslr >= 0 ? n->aslr : NAN },
        { "allowed_cpus", n->allowed_cpus > 0 ? n->allowed_cpus : NAN },
        { "perf_max_sample_rate", n->perf_max_sample_rate >= 0 ? n->perf_max_sample_rate : NAN },
        { "irq_default_cpus", n->irq_default_cpus >= 0 ? n->irq_default_cpus : NAN },
    };
    const int n_nums = (int)(sizeof nums / sizeof nums[0]);
    int rc = 0;
    bool began = sqlite3_get_autocommit(db) && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    for (int i = 0; rc == 0 && i < n_nums + 1 + n->n_reasons; i++) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        sqlite3_bind_int64(s, 1, run_id);
        sqlite3_bind_int(s, 2, case_idx);
        if (i < n_nums) {
            sqlite3_bind_text(s, 3, nums[i].name, -1, SQLITE_STATIC);
            if (isfinite(nums[i].v)) sqlite3_bind_double(s, 4, nums[i].v);
        } else if (i == n_nums) {
            sqlite3_bind_text(s, 3, "governor", -1, SQLITE_STATIC);
            if (n->governor[0]) sqlite3_bind_text(s, 5, n->governor, -1, SQLITE_STATIC);
        } else {
            sqlite3_bind_text(s, 3, "reason", -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 5, n->reason[i - n_nums - 1], -1, SQLITE_STATIC);
        }
        if (sqlite3_step(s) != SQLITE_DONE) rc = db_errf(err, errlen, "store interference: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(s);
    if (began) sqlite3_exec(db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    return rc;
}
