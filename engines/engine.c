/* engine.c — shared engine plumbing: parameter tables, the event log and the
 * timed forward helper, generation output buffers. */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "harness/util/util.h"

/* ---- parameters ---- */
const db_param_def *db_params_find(const db_param_def *defs, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(defs[i].name, name) == 0) return &defs[i];
    return NULL;
}

static int choice_index(const char *choices, const char *value) {
    int idx = 0;
    const char *p = choices;
    size_t vl = strlen(value);
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vl && strncmp(p, value, len) == 0) return idx;
        idx++;
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

static int parse_value(const db_param_def *d, const char *value, double *out, char *err, size_t errlen) {
    char *end = NULL;
    switch (d->type) {
    case DB_PARAM_INT: {
        errno = 0;
        double v = strtod(value, &end);
        if (end == value || *end || errno || v != floor(v) || v < d->min || v > d->max)
            return db_errf(err, errlen, "parameter '%s': expected an integer in [%g, %g], got '%s'", d->name, d->min, d->max, value);
        *out = v;
        return 0;
    }
    case DB_PARAM_FLOAT: {
        errno = 0;
        double v = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(v) || v < d->min || v > d->max)
            return db_errf(err, errlen, "parameter '%s': expected a number in [%g, %g], got '%s'", d->name, d->min, d->max, value);
        *out = v;
        return 0;
    }
    case DB_PARAM_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0) { *out = 1; return 0; }
        if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0) { *out = 0; return 0; }
        return db_errf(err, errlen, "parameter '%s': expected true or false, got '%s'", d->name, value);
    case DB_PARAM_ENUM: {
        int idx = choice_index(d->choices, value);
        if (idx < 0) return db_errf(err, errlen, "parameter '%s': expected one of %s, got '%s'", d->name, d->choices, value);
        *out = idx;
        return 0;
    }
    }
    return db_errf(err, errlen, "parameter '%s': bad type", d->name);
}

void db_params_defaults(db_params *p, const db_param_def *defs, int n) {
    memset(p, 0, sizeof *p);
    p->defs = defs;
    p->n = n < DB_MAX_PARAMS ? n : DB_MAX_PARAMS;
    for (int i = 0; i < p->n; i++) {
        double v = 0;
        char err[160];
        if (parse_value(&defs[i], defs[i].def, &v, err, sizeof err) != 0) {
            /* a bad default is a programming error in an engine's table */
            fprintf(stderr, "decobench: internal error: default of %s\n", err);
            abort();
        }
        p->num[i] = v;
    }
}

int db_params_set(db_params *p, const char *name, const char *value, char *err, size_t errlen) {
    for (int i = 0; i < p->n; i++) {
        if (strcmp(p->defs[i].name, name) != 0) continue;
        double v;
        if (parse_value(&p->defs[i], value, &v, err, errlen) != 0) return -1;
        p->num[i] = v;
        return 0;
    }
    db_str names;
    db_str_init(&names);
    for (int i = 0; i < p->n; i++) db_str_printf(&names, "%s%s", i ? ", " : "", p->defs[i].name);
    db_errf(err, errlen, "unknown parameter '%s' (known: %s)", name, names.s ? names.s : "none");
    db_str_free(&names);
    return -1;
}

static int index_of(const db_params *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->defs[i].name, name) == 0) return i;
    fprintf(stderr, "decobench: internal error: engine reads undeclared parameter '%s'\n", name);
    abort();
}

double db_params_num(const db_params *p, const char *name) { return p->num[index_of(p, name)]; }
int db_params_int(const db_params *p, const char *name) { return (int)lround(db_params_num(p, name)); }
bool db_params_bool(const db_params *p, const char *name) { return db_params_num(p, name) != 0; }

const char *db_params_choice(const db_params *p, const char *name, char *buf, size_t len) {
    int i = index_of(p, name);
    int want = (int)p->num[i], idx = 0;
    const char *c = p->defs[i].choices;
    buf[0] = 0;
    while (c && *c) {
        const char *bar = strchr(c, '|');
        size_t l = bar ? (size_t)(bar - c) : strlen(c);
        if (idx == want) {
            if (l >= len) l = len - 1;
            memcpy(buf, c, l);
            buf[l] = 0;
            break;
        }
        idx++;
        c = bar ? bar + 1 : NULL;
    }
    return buf;
}

char *db_params_to_json(const db_params *p) {
    db_str b;
    db_str_init(&b);
    db_str_append(&b, "{");
    for (int i = 0; i < p->n; i++) {
        const db_param_def *d = &p->defs[i];
        db_str_printf(&b, "%s\"%s\":", i ? "," : "", d->name);
        char buf[64];
        switch (d->type) {
        case DB_PARAM_INT: db_str_printf(&b, "%lld", (long long)llround(p->num[i])); break;
        case DB_PARAM_FLOAT: db_str_printf(&b, "%.17g", p->num[i]); break;
        case DB_PARAM_BOOL: db_str_append(&b, p->num[i] != 0 ? "true" : "false"); break;
        case DB_PARAM_ENUM:
            db_params_choice(p, d->name, buf, sizeof buf);
            db_str_json_string(&b, buf, strlen(buf));
            break;
        }
    }
    db_str_append(&b, "}");
    return db_str_take(&b);
}

/* ---- events ---- */
int64_t db_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void db_event_log_init(db_event_log *log) { memset(log, 0, sizeof *log); }

void db_event_log_free(db_event_log *log) {
    free(log->ev);
    memset(log, 0, sizeof *log);
}

void db_event_log_start(db_event_log *log) {
    log->n = 0;
    log->oom = false;
    log->t0_ns = db_now_ns();
}

void db_emit(db_event_log *log, const db_event *e) {
    if (!log) return;
    if (log->n == log->cap) {
        int cap = log->cap ? log->cap * 2 : 256;
        db_event *ev = realloc(log->ev, sizeof *ev * (size_t)cap);
        if (!ev) { log->oom = true; return; }
        log->ev = ev;
        log->cap = cap;
    }
    log->ev[log->n++] = *e;
}

static void emit(db_event_log *log, int kind, int role, int step, int n, int acc, uint32_t mask, int64_t t0, int64_t t1) {
    if (!log) return;
    db_event e = { kind, role, step, n, acc, mask, t0 ? t0 - log->t0_ns : 0, t1 ? t1 - log->t0_ns : 0 };
    db_emit(log, &e);
}

void db_emit_forward(db_event_log *log, db_model_role role, int step, int n_tokens, int64_t t0, int64_t t1) {
    emit(log, DB_EV_FORWARD, role, step, n_tokens, 0, 0, t0, t1);
}

void db_emit_draft(db_event_log *log, int step, int k, int64_t t0, int64_t t1) {
    emit(log, DB_EV_DRAFT, DB_ROLE_DRAFT, step, k, 0, 0, t0, t1);
}

void db_emit_verify(db_event_log *log, int step, int drafted, int accepted, uint32_t accepted_mask) {
    int64_t now = db_now_ns();
    emit(log, DB_EV_VERIFY, DB_ROLE_TARGET, step, drafted, accepted, accepted_mask, now, now);
}

void db_emit_commit(db_event_log *log, int step, int n_tokens) {
    int64_t now = db_now_ns();
    emit(log, DB_EV_COMMIT, DB_ROLE_TARGET, step, n_tokens, 0, 0, now, now);
}

void db_emit_sample(db_event_log *log, int step, int64_t t0, int64_t t1) {
    emit(log, DB_EV_SAMPLE, DB_ROLE_NONE, step, 0, 0, 0, t0, t1);
}

void db_emit_constraint(db_event_log *log, int step, int n_evaluated, int n_allowed, int64_t t0, int64_t t1) {
    emit(log, DB_EV_CONSTRAINT, DB_ROLE_NONE, step, n_evaluated, n_allowed, 0, t0, t1);
}

void db_emit_compile(db_event_log *log, int64_t t0, int64_t t1) {
    emit(log, DB_EV_COMPILE, DB_ROLE_NONE, 0, 0, 0, 0, t0, t1);
}

int db_forward(db_model *m, const db_batch *b, db_event_log *log, db_model_role role, int step) {
    int64_t t0 = db_now_ns();
    int rc = db_model_decode(m, b);
    int64_t t1 = db_now_ns();
    if (rc == 0) db_emit_forward(log, role, step, b->n_tokens, t0, t1);
    return rc;
}

/* ---- output ---- */
int db_output_push(db_gen_output *o, db_token t) {
    if (o->n_tokens == o->cap) {
        int cap = o->cap ? o->cap * 2 : 64;
        db_token *nt = realloc(o->tokens, sizeof *nt * (size_t)cap);
        if (!nt) return -1;
        o->tokens = nt;
        o->cap = cap;
    }
    o->tokens[o->n_tokens++] = t;
    return 0;
}

int db_output_stat(db_gen_output *o, const char *name, double value) {
    for (int i = 0; i < o->n_stats; i++)
        if (strcmp(o->stat_name[i], name) == 0) {
            o->stat_value[i] = value;
            return 0;
        }
    if (o->n_stats == DB_MAX_OUTPUT_STATS) return -1;
    o->stat_name[o->n_stats] = name;
    o->stat_value[o->n_stats++] = value;
    return 0;
}

void db_output_free(db_gen_output *o) {
    free(o->tokens);
    memset(o, 0, sizeof *o);
}

const db_engine *db_engine_find(const char *name) {
    for (int i = 0; i < db_engine_count; i++)
        if (strcmp(db_engine_registry[i]->name, name) == 0) return db_engine_registry[i];
    return NULL;
}

/* ---- constraint kinds ---- */
static const char *const constraint_keys[DB_CONSTRAINT_N_KINDS] = { "grammar", "json_schema", "regex", "keywords" };

const char *db_constraint_kind_key(unsigned kind) {
    for (int i = 0; i < DB_CONSTRAINT_N_KINDS; i++)
        if (kind == 1u << i) return constraint_keys[i];
    return NULL;
}

const char *db_constraint_kinds_text(unsigned kinds, const char *sep, char *buf, size_t len) {
    size_t at = 0;
    if (len) buf[0] = 0;
    for (int i = 0; i < DB_CONSTRAINT_N_KINDS; i++) {
        if (!(kinds & (1u << i)) || at >= len) continue;
        int n = snprintf(buf + at, len - at, "%s%s", at ? sep : "", constraint_keys[i]);
        if (n < 0) break;
        at += (size_t)n;
    }
    return buf;
}
