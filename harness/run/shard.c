/* shard.c — planning a suite's shards (shard.h): units, their expected
 * costs, and the longest-processing-time-first assignment. */
#include "shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/util.h"

struct db_shard_plan {
    int n_cases, n_shards;
    int *first;      /* per case: index of its first unit */
    int *n_prompts;  /* per case: prompts (after --limit); 0 for a serving case (one unit) */
    int *owner;      /* per unit */
    double *load;    /* per shard */
    int *units;      /* per shard */
};

int db_shard_parse(const char *text, int *index, int *count, char *err, size_t errlen) {
    const char *slash = text ? strchr(text, '/') : NULL;
    char *end = NULL;
    long i = -1, n = -1;
    if (slash && slash > text) {
        i = strtol(text, &end, 10);
        if (end != slash) i = -1;
        n = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end) n = -1;
    }
    if (i < 0 || n < 1 || n > DB_SHARD_MAX || i >= n)
        return db_errf(err, errlen, "--shard: expected I/N with 0 <= I < N <= %d (e.g. 0/4), got '%s'", DB_SHARD_MAX,
                       text ? text : "");
    *index = (int)i;
    *count = (int)n;
    return 0;
}

typedef struct unit { double cost; int id; } unit;

static int by_cost(const void *a, const void *b) {
    const unit *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int db_shard_plan_make(const db_suite *s, const db_case *cases, int n_cases, int limit_prompts, int shard_count,
                       db_shard_plan **out, char *err, size_t errlen) {
    *out = NULL;
    db_shard_plan *p = calloc(1, sizeof *p);
    if (!p) return db_errf(err, errlen, "out of memory");
    p->n_cases = n_cases;
    p->n_shards = shard_count;
    p->first = calloc((size_t)n_cases + 1, sizeof *p->first);
    p->n_prompts = calloc((size_t)n_cases + 1, sizeof *p->n_prompts);
    p->load = calloc((size_t)shard_count, sizeof *p->load);
    p->units = calloc((size_t)shard_count, sizeof *p->units);
    if (!p->first || !p->n_prompts || !p->load || !p->units) goto oom;
    int total = 0;
    for (int c = 0; c < n_cases; c++) {
        const db_suite_dataset *ds = &s->datasets[cases[c].dataset];
        int np = ds->n_prompts;
        if (limit_prompts > 0 && np > limit_prompts) np = limit_prompts;
        p->first[c] = total;
        p->n_prompts[c] = cases[c].se->def->serving ? 0 : np;
        total += cases[c].se->def->serving ? 1 : np * s->repetitions;
    }
    p->first[n_cases] = total;
    unit *u = malloc(sizeof *u * (size_t)(total ? total : 1));
    p->owner = malloc(sizeof *p->owner * (size_t)(total ? total : 1));
    if (!u || !p->owner) {
        free(u);
        goto oom;
    }
    for (int c = 0; c < n_cases; c++) {
        const db_suite_dataset *ds = &s->datasets[cases[c].dataset];
        if (cases[c].se->def->serving) {
            int np = ds->n_prompts;
            if (limit_prompts > 0 && np > limit_prompts) np = limit_prompts;
            int nr = db_params_int(&cases[c].params, "requests");
            if (nr <= 0) nr = np * s->repetitions;
            int conc = db_params_int(&cases[c].params, "concurrency");
            u[p->first[c]] = (unit){ (double)nr * s->max_new_tokens / (conc > 0 ? conc : 1), p->first[c] };
            continue;
        }
        for (int r = 0; r < s->repetitions; r++)
            for (int i = 0; i < p->n_prompts[c]; i++) {
                const db_prompt *pr = &ds->prompts[i];
                const int turns = ds->chat ? pr->n_turns : 1;
                size_t bytes = 0;
                for (int t = 0; t < turns; t++) bytes += strlen(pr->turns && pr->turns[t] ? pr->turns[t] : pr->text);
                int id = p->first[c] + r * p->n_prompts[c] + i;
                u[id] = (unit){ (double)bytes / 4.0 + (double)turns * s->max_new_tokens, id };
            }
    }
    qsort(u, (size_t)total, sizeof *u, by_cost);
    for (int k = 0; k < total; k++) {
        int best = 0;
        for (int sh = 1; sh < shard_count; sh++)
            if (p->load[sh] < p->load[best]) best = sh;
        p->owner[u[k].id] = best;
        p->load[best] += u[k].cost;
        p->units[best]++;
    }
    free(u);
    *out = p;
    return 0;
oom:
    db_shard_plan_free(p);
    return db_errf(err, errlen, "out of memory");
}

void db_shard_plan_free(db_shard_plan *p) {
    if (!p) return;
    free(p->first);
    free(p->n_prompts);
    free(p->owner);
    free(p->load);
    free(p->units);
    free(p);
}

int db_shard_owner(const db_shard_plan *p, int case_idx, int prompt_idx, int rep) {
    if (!p || case_idx < 0 || case_idx >= p->n_cases) return -1;
    if (p->n_prompts[case_idx] == 0) return p->first[case_idx] < p->first[case_idx + 1] ? p->owner[p->first[case_idx]] : -1;
    if (prompt_idx < 0 || prompt_idx >= p->n_prompts[case_idx] || rep < 0) return -1;
    int id = p->first[case_idx] + rep * p->n_prompts[case_idx] + prompt_idx;
    return id < p->first[case_idx + 1] ? p->owner[id] : -1;
}

bool db_shard_has_case(const db_shard_plan *p, int case_idx, int shard) {
    if (!p || case_idx < 0 || case_idx >= p->n_cases) return false;
    for (int u = p->first[case_idx]; u < p->first[case_idx + 1]; u++)
        if (p->owner[u] == shard) return true;
    return false;
}

double db_shard_cost(const db_shard_plan *p, int shard, int *n_units) {
    if (n_units) *n_units = p && shard >= 0 && shard < p->n_shards ? p->units[shard] : 0;
    return p && shard >= 0 && shard < p->n_shards ? p->load[shard] : 0;
}
