/* counters.c — PAPI low-level event counting with per-event availability
 * checks, software-event fallbacks and thread inheritance; peak RSS.
 *
 * Each requested event is first tried alone in a scratch event set (added,
 * started, stopped) so that events the machine cannot count (hardware events
 * in a VM without a PMU, events blocked by perf_event_paranoid) are recorded
 * as unavailable with PAPI's reason instead of failing the whole set.
 *
 * Inheritance: each event set asks for PAPI_INHERIT (PAPI_INHERIT_ALL)
 * before any event is added, so PAPI's perf_event component opens its
 * counters with perf's `inherit` flag; threads created after
 * db_counters_open (llama.cpp's decode thread pool) are then counted: the
 * kernel sums live and exited child counters into the value read from the
 * parent, and PAPI_start's enable/reset ioctls propagate to the children.
 *
 * Outcome, checked by tests/test_counters.c (test_counters_inherit, which
 * spins a second pthread during the measured interval and compares
 * perf::TASK-CLOCK with the main thread's CLOCK_THREAD_CPUTIME_ID):
 *  - dev VM (PAPI 7.0.0, no PMU): PAPI_set_opt(PAPI_INHERIT) fails with
 *    PAPI_ENOEVNT, because the perf_event component checks the permission by
 *    opening PERF_COUNT_HW_INSTRUCTIONS, which a PMU-less VM lacks.  Counting
 *    continues without inheritance: TASK-CLOCK equals the main thread's own
 *    CPU time and the second thread is not counted.
 *  - hosts with a PMU: the option is accepted and the test expects
 *    TASK-CLOCK to exceed the main thread's time.
 * db_counters_inherited() tells which case applies, so runs can record it.
 *
 * Because inheritance is not always available, three process-wide counters
 * from getrusage(RUSAGE_SELF) are always appended after the PAPI events:
 * rusage::CPU-TIME-US (user + system CPU of all threads), rusage::MINOR-FAULTS
 * and rusage::CONTEXT-SWITCHES (voluntary + involuntary).  They cover the
 * decode thread pool whatever the PMU or perf settings.
 */
#include "counters.h"

#include <papi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct db_counters {
    int papi_ok;                   /* PAPI_library_init succeeded */
    int inherit;                   /* PAPI_INHERIT accepted on the event set */
    int eventset;                  /* PAPI_NULL when no event is active */
    int running;
    char version[32];
    db_counter_status status[DB_MAX_COUNTERS];
    int n_status;
    char active_names[DB_MAX_COUNTERS][64];
    const char *active_ptrs[DB_MAX_COUNTERS + 3];
    int n_active;                  /* PAPI events in the event set */
    struct rusage ru_start;
    int started;                   /* between start and stop */
};

static const char *const rusage_events[] = {
    "rusage::CPU-TIME-US", "rusage::MINOR-FAULTS", "rusage::CONTEXT-SWITCHES",
};
#define N_RUSAGE 3

static const char *const fallback_events[] = {
    "perf::TASK-CLOCK", "perf::PAGE-FAULTS", "perf::CONTEXT-SWITCHES",
};

static void set_reason(db_counter_status *st, const char *what, int rc) {
    snprintf(st->reason, sizeof st->reason, "%s: %s", what, PAPI_strerror(rc));
}

static int set_inherit(int es) {
    PAPI_option_t opt;
    memset(&opt, 0, sizeof opt);
    opt.inherit.eventset = es;
    opt.inherit.inherit = PAPI_INHERIT_ALL;
    return PAPI_set_opt(PAPI_INHERIT, &opt);
}

/* Create an empty event set bound to component cidx, with inheritance when
 * *inherit is set (cleared if PAPI refuses it). */
static int make_set(int cidx, int *inherit, int *es_out) {
    int es = PAPI_NULL;
    int rc = PAPI_create_eventset(&es);
    if (rc != PAPI_OK) return rc;
    rc = PAPI_assign_eventset_component(es, cidx);
    if (rc != PAPI_OK) {
        PAPI_destroy_eventset(&es);
        return rc;
    }
    if (*inherit && set_inherit(es) != PAPI_OK) *inherit = 0;
    *es_out = es;
    return PAPI_OK;
}

static void drop_set(int *es) {
    if (*es == PAPI_NULL) return;
    PAPI_cleanup_eventset(*es);
    PAPI_destroy_eventset(es);
    *es = PAPI_NULL;
}

/* Try one event alone: resolve, add, start, stop.  0 when it counts. */
static int probe_event(db_counters *c, db_counter_status *st, int *code_out, int *cidx_out) {
    int code = 0;
    char name[64];
    snprintf(name, sizeof name, "%s", st->name);
    int rc = PAPI_event_name_to_code(name, &code);
    if (rc != PAPI_OK) {
        set_reason(st, "unknown event", rc);
        return -1;
    }
    int cidx = PAPI_get_event_component(code);
    if (cidx < 0) {
        set_reason(st, "no component", cidx);
        return -1;
    }
    int inherit = c->inherit;
    int es = PAPI_NULL;
    rc = make_set(cidx, &inherit, &es);
    if (rc != PAPI_OK) {
        set_reason(st, "cannot create event set", rc);
        return -1;
    }
    rc = PAPI_add_event(es, code);
    if (rc != PAPI_OK) {
        set_reason(st, "cannot add", rc);
        drop_set(&es);
        return -1;
    }
    rc = PAPI_start(es);
    if (rc != PAPI_OK) {
        set_reason(st, "cannot start", rc);
        drop_set(&es);
        return -1;
    }
    long long v = 0;
    rc = PAPI_stop(es, &v);
    drop_set(&es);
    if (rc != PAPI_OK) {
        set_reason(st, "cannot read", rc);
        return -1;
    }
    *code_out = code;
    *cidx_out = cidx;
    return 0;
}

static int has_status(const db_counters *c, const char *name) {
    for (int i = 0; i < c->n_status; i++)
        if (strcmp(c->status[i].name, name) == 0) return 1;
    return 0;
}

/* Probe st and, if it counts, add it to the main event set. */
static void add_event(db_counters *c, db_counter_status *st) {
    int code = 0, cidx = -1;
    if (probe_event(c, st, &code, &cidx) != 0) return;
    if (c->eventset == PAPI_NULL) {
        int inherit = c->inherit;
        int rc = make_set(cidx, &inherit, &c->eventset);
        if (rc != PAPI_OK) {
            set_reason(st, "cannot create event set", rc);
            c->eventset = PAPI_NULL;
            return;
        }
        c->inherit = inherit;
    }
    int rc = PAPI_add_event(c->eventset, code);
    if (rc != PAPI_OK) {
        /* e.g. a different component than the set's, or a counter conflict */
        set_reason(st, "cannot add with the other events", rc);
        return;
    }
    st->available = true;
    st->reason[0] = 0;
    snprintf(c->active_names[c->n_active], sizeof c->active_names[0], "%s", st->name);
    c->active_ptrs[c->n_active] = c->active_names[c->n_active];
    c->n_active++;
}

db_counters *db_counters_open(const char *const *events, int n_events) {
    db_counters *c = calloc(1, sizeof *c);
    if (!c) return NULL;   /* out of memory: callers treat NULL as "no counters" */
    c->eventset = PAPI_NULL;
    c->inherit = 1;
    snprintf(c->version, sizeof c->version, "unavailable");

    char init_reason[128] = "";
    if (PAPI_is_initialized() == PAPI_NOT_INITED) {
        int rc = PAPI_library_init(PAPI_VER_CURRENT);
        if (rc != PAPI_VER_CURRENT)
            snprintf(init_reason, sizeof init_reason, "PAPI_library_init: %s",
                     rc > 0 ? "version mismatch" : PAPI_strerror(rc));
    }
    c->papi_ok = init_reason[0] == 0;
    if (c->papi_ok) {
        int v = PAPI_get_opt(PAPI_LIB_VERSION, NULL);
        if (v > 0)
            snprintf(c->version, sizeof c->version, "%d.%d.%d.%d", PAPI_VERSION_MAJOR(v),
                     PAPI_VERSION_MINOR(v), PAPI_VERSION_REVISION(v), PAPI_VERSION_INCREMENT(v));
    }

    int missing = 0;
    for (int i = 0; i < n_events && c->n_status < DB_MAX_COUNTERS; i++) {
        if (!events || !events[i] || has_status(c, events[i])) continue;
        db_counter_status *st = &c->status[c->n_status++];
        snprintf(st->name, sizeof st->name, "%s", events[i]);
        if (strlen(events[i]) >= sizeof st->name) {
            snprintf(st->reason, sizeof st->reason, "event name too long");
        } else if (!c->papi_ok) {
            snprintf(st->reason, sizeof st->reason, "%s", init_reason);
        } else {
            add_event(c, st);
        }
        if (!st->available) missing = 1;
    }
    if (missing && c->papi_ok) {
        for (size_t f = 0; f < sizeof fallback_events / sizeof *fallback_events; f++) {
            if (c->n_status >= DB_MAX_COUNTERS || has_status(c, fallback_events[f])) continue;
            db_counter_status st;
            memset(&st, 0, sizeof st);
            snprintf(st.name, sizeof st.name, "%s", fallback_events[f]);
            st.fallback = true;
            add_event(c, &st);
            if (st.available) c->status[c->n_status++] = st;   /* only those that work */
        }
    }
    return c;
}

void db_counters_close(db_counters *c) {
    if (!c) return;
    if (c->running && c->eventset != PAPI_NULL) {
        long long v[DB_MAX_COUNTERS];
        PAPI_stop(c->eventset, v);
    }
    drop_set(&c->eventset);
    free(c);
}

int db_counters_status(const db_counters *c, const db_counter_status **out) {
    if (!c) {
        if (out) *out = NULL;
        return 0;
    }
    if (out) *out = c->status;
    return c->n_status;
}

int db_counters_active(const db_counters *c, const char *const **names) {
    if (!c) {
        if (names) *names = NULL;
        return 0;
    }
    db_counters *mc = (db_counters *)c;
    for (int i = 0; i < N_RUSAGE; i++) mc->active_ptrs[c->n_active + i] = rusage_events[i];
    if (names) *names = c->active_ptrs;
    return c->n_active + N_RUSAGE;
}

int db_counters_start(db_counters *c) {
    if (!c) return 0;
    getrusage(RUSAGE_SELF, &c->ru_start);
    c->started = 1;
    if (c->eventset == PAPI_NULL || c->n_active == 0 || c->running) return 0;
    if (PAPI_start(c->eventset) != PAPI_OK) return -1;
    c->running = 1;
    return 0;
}

static int64_t tv_us(struct timeval tv) { return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec; }

int db_counters_stop(db_counters *c, int64_t *values) {
    if (!c || !c->started) return 0;
    c->started = 0;
    int64_t v[DB_MAX_COUNTERS + N_RUSAGE];
    if (c->eventset != PAPI_NULL && c->n_active > 0 && c->running) {
        long long pv[DB_MAX_COUNTERS];
        c->running = 0;
        if (PAPI_stop(c->eventset, pv) != PAPI_OK) return 0;
        for (int i = 0; i < c->n_active; i++) v[i] = (int64_t)pv[i];
    } else if (c->n_active > 0) {
        return 0;   /* PAPI events active but not started: no consistent reading */
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const struct rusage *r0 = &c->ru_start;
    v[c->n_active + 0] = tv_us(ru.ru_utime) + tv_us(ru.ru_stime) - tv_us(r0->ru_utime) - tv_us(r0->ru_stime);
    v[c->n_active + 1] = (int64_t)(ru.ru_minflt - r0->ru_minflt);
    v[c->n_active + 2] = (int64_t)(ru.ru_nvcsw + ru.ru_nivcsw - r0->ru_nvcsw - r0->ru_nivcsw);
    int n = c->n_active + N_RUSAGE;
    if (values) memcpy(values, v, sizeof v[0] * (size_t)n);
    return n;
}

bool db_counters_inherited(const db_counters *c) {
    return c && c->n_active > 0 && c->inherit;
}

const char *db_counters_papi_version(const db_counters *c) {
    return c ? c->version : "unavailable";
}

int64_t db_peak_rss_kib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (int64_t)ru.ru_maxrss;   /* Linux reports KiB */
}
