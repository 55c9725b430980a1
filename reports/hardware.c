/* hardware.c — `decobench report --by machine`: one suite across machines.
 *
 * The suite is the selected run's (--run, else the latest run); for every
 * machine the run of that suite used is the selected run on its own
 * machine, else the machine's latest completed run of the suite, else its
 * latest.  Columns are machines (by machine id), rows are cases (label,
 * dataset, model, in run order) × metrics:
 *
 *   tok/s and speedup with their 95% bootstrap CIs and the counters'
 *     medians, as in the per-case table (table_data.h);
 *   #MAT, marked † when it differs from the first machine with the same
 *     configuration (label, dataset, model and params_json) beyond sampling
 *     noise: the 95% percentile bootstrap CI (B = DB_REPORT_BOOTSTRAP,
 *     samples resampled on each side independently, seeded) of the
 *     difference of the pooled #MAT excludes 0 (differences within 1e-9
 *     relative never count).  #MAT is a property of the algorithm and the
 *     models, not of the hardware; a mark means numerics changed decoding;
 *   roofline fraction of autoregressive cases (engine "ar"): achieved
 *     weight bandwidth model_bytes × Σ target_forwards / Σ forward_time
 *     over the case's samples, divided by the machine's latest measured
 *     STREAM bandwidth (machine_probe, `decobench probe`); "n/a — run
 *     decobench probe" without one.  A case whose target model offloads
 *     layers (the run's config: models.NAME.n_gpu_layers not 0 (-1: all), no "rpc")
 *     ran on the machine's first GPU instead: the fraction divides by that
 *     device's bandwidth as `decobench probe` recorded it (machine_device,
 *     from the table of known cards, harness/run/known_devices.h);
 *     "unknown" when the card's numbers are not known, "n/a" when no GPU
 *     was recorded; a model on RPC servers ran on other machines' devices:
 *     "unknown".  The CPU cases' numbers do not change.
 *
 * Interference (S7, harness/run/interference.h): a machine whose run was
 * measured under interference names the reasons in its description; the
 * tok/s and speedup cells of a case measured under interference are marked
 * ‡ (the † is #MAT's) with the reasons in a footnote; CSV gains an
 * "interference" column and JSON "interference" objects when any of the
 * runs recorded interference (schema 3).
 */
#include "report.h"
#include "format.h"
#include "table_data.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run/store_read.h"
#include "harness/util/rng.h"
#include "harness/util/util.h"

#define MAT_NOISE 1e-9
#define NO_PROBE "n/a \xE2\x80\x94 run decobench probe"
#define NOISE_MARK "\xE2\x80\xA1"   /* U+2021 double dagger: measured under interference */
#define NO_GPU "n/a \xE2\x80\x94 no GPU recorded, run decobench probe"

/* where a case's target model ran (hw_cell.where) */
enum { ON_CPU, ON_GPU, ON_RPC };

typedef struct hw_machine {
    int64_t machine_id, run_id;
    char *hostname, *cpu_model;
    int cores;
    double bandwidth_gbs, gflops;    /* NaN without a probe */
    db_device_info *dev;             /* the latest devices recorded (machine_device), n_dev of them */
    int n_dev;
    int gpu;                         /* index in dev of the first GPU, -1 none */
    cJSON *config;                   /* the run's configuration (NULL when unreadable) */
    db_table t;
    bool loaded;
} hw_machine;

typedef struct hw_cell {
    const db_table_row *row;         /* NULL: the machine's run lacks the case */
    int row_index;
    char *params_json;
    double model_bytes;
    double achieved_gbs, roofline;   /* NaN where not applicable */
    int where;                       /* ON_CPU, ON_GPU, ON_RPC */
    bool mat_differs;
    int mat_ref;                     /* machine index compared with, -1 */
} hw_cell;

typedef struct hw_report {
    char *suite;
    hw_machine *m;
    int nm;
    char **keys;                     /* per case key: label, dataset, model (3 strings each) */
    int nk;
    hw_cell *cells;                  /* nk × nm */
    char **counters;
    int n_counters;
    bool any_flag, any_missing_probe;
    bool any_gpu;                    /* some case ran on a GPU or RPC devices */
    bool noise_recorded, any_noise;  /* S7: some run recorded interference; some run or case was flagged */
} hw_report;

static void hw_free(hw_report *h) {
    free(h->suite);
    for (int i = 0; i < h->nm; i++) {
        free(h->m[i].hostname);
        free(h->m[i].cpu_model);
        db_device_infos_free(h->m[i].dev, h->m[i].n_dev);
        cJSON_Delete(h->m[i].config);
        db_table_free(&h->m[i].t);
    }
    free(h->m);
    for (int i = 0; i < 3 * h->nk; i++) free(h->keys[i]);
    free(h->keys);
    for (int i = 0; h->cells && i < h->nk * h->nm; i++) free(h->cells[i].params_json);
    free(h->cells);
    free(h->counters);   /* names owned by the tables */
}

static hw_cell *cell(const hw_report *h, int k, int m) {
    return &h->cells[(size_t)k * (size_t)h->nm + (size_t)m];
}

/* ---- choosing runs ------------------------------------------------------------ */

/* machine id ascending, then run id descending */
static int cmp_run(const void *a, const void *b) {
    const db_run_info *x = a, *y = b;
    if (x->machine_id != y->machine_id) return x->machine_id < y->machine_id ? -1 : 1;
    return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

static int pick_runs(db_store *st, int64_t want, hw_report *h, char *err, size_t errlen) {
    /* run 0: the latest run that ended (harness/run/store_read.h) */
    db_run_info sel;
    if (db_store_read_run(st, want, &sel, err, errlen) != 0) return -1;
    h->suite = sel.suite_name;
    sel.suite_name = NULL;
    int64_t sel_id = sel.id;
    db_run_info_free(&sel);
    db_run_info *runs = NULL;
    int n = 0;
    if (db_store_read_runs(st, h->suite, false, &runs, &n, err, errlen) != 0) return -1;
    qsort(runs, (size_t)n, sizeof *runs, cmp_run);
    /* per machine the first of: the selected run, completed runs newest first, the others newest first */
    for (int g = 0, e; g < n; g = e) {
        int64_t mid = runs[g].machine_id;
        int r = -1;
        for (e = g; e < n && runs[e].machine_id == mid; e++) {
            int better = r < 0 || (runs[e].id == sel_id && runs[r].id != sel_id) ||
                         (runs[r].id != sel_id && !strcmp(runs[e].status, "completed") &&
                          strcmp(runs[r].status, "completed") != 0);
            if (better) r = e;
        }
        hw_machine *a = realloc(h->m, (size_t)(h->nm + 1) * sizeof *a);
        if (!a) {
            db_run_infos_free(runs, n);
            return db_errf(err, errlen, "out of memory");
        }
        h->m = a;
        hw_machine *m = &h->m[h->nm++];
        memset(m, 0, sizeof *m);
        m->run_id = runs[r].id;
        m->machine_id = mid;
        m->hostname = runs[r].hostname;
        m->cpu_model = runs[r].cpu_model;
        runs[r].hostname = runs[r].cpu_model = NULL;
        m->cores = runs[r].cores;
        m->bandwidth_gbs = m->gflops = NAN;
        m->gpu = -1;
        m->config = runs[r].config_json ? cJSON_Parse(runs[r].config_json) : NULL;
    }
    db_run_infos_free(runs, n);
    for (int i = 0; i < h->nm; i++) {
        db_probe_record p;
        bool found = false;
        if (db_store_read_probe(st, h->m[i].machine_id, &p, &found, err, errlen) != 0) return -1;
        if (found) {
            h->m[i].bandwidth_gbs = p.bandwidth_gbs;
            h->m[i].gflops = p.gflops;
        }
        hw_machine *m = &h->m[i];
        if (db_store_read_devices(st, m->machine_id, &m->dev, &m->n_dev, err, errlen) != 0) return -1;
        /* the first GPU in ggml's order, as llama.cpp picks it; an integrated one when no other */
        for (int d = 0; d < m->n_dev && m->gpu < 0; d++)
            if (!strcmp(m->dev[d].type, "gpu")) m->gpu = d;
        for (int d = 0; d < m->n_dev && m->gpu < 0; d++)
            if (!strcmp(m->dev[d].type, "igpu")) m->gpu = d;
    }
    return 0;
}

/* where model `model` of a run's configuration ran: on a GPU when it
 * offloads layers (n_gpu_layers not 0, -1 being all, as harness/model/model_llama.c reads
 * it), on other machines' devices with "rpc" servers, else on the CPU */
static int model_where(const cJSON *config, const char *model) {
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(config, "models");
    const cJSON *m = model ? cJSON_GetObjectItemCaseSensitive(models, model) : NULL;
    if (!cJSON_IsObject(m)) return ON_CPU;
    const cJSON *backend = cJSON_GetObjectItemCaseSensitive(m, "backend");
    if (cJSON_IsString(backend) && strcmp(backend->valuestring, "llama") != 0) return ON_CPU;
    if (cJSON_GetObjectItemCaseSensitive(m, "rpc")) return ON_RPC;
    const cJSON *ngl = cJSON_GetObjectItemCaseSensitive(m, "n_gpu_layers");
    return cJSON_IsNumber(ngl) && ngl->valuedouble != 0 ? ON_GPU : ON_CPU;   /* -1: all layers */
}

/* ---- building the grid -------------------------------------------------------- */

static int key_index(const hw_report *h, const db_table_row *r) {
    for (int k = 0; k < h->nk; k++)
        if (!strcmp(h->keys[3 * k], r->label) && !strcmp(h->keys[3 * k + 1], r->dataset) &&
            !strcmp(h->keys[3 * k + 2], r->model))
            return k;
    return -1;
}

static int counter_known(const hw_report *h, const char *name) {
    for (int c = 0; c < h->n_counters; c++)
        if (!strcmp(h->counters[c], name)) return c;
    return -1;
}

/* pooled #MAT of resampled samples */
static double pooled_mat(const db_table_row *r, db_rng *g) {
    int64_t sn = 0, sc = 0;
    for (int i = 0; i < r->n; i++) {
        int j = g ? (int)db_rng_below(g, (uint64_t)r->n) : i;
        sn += r->newt[j];
        sc += r->commits[j];
    }
    return sc > 0 ? (double)sn / (double)sc : NAN;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* 1 when the pooled #MAT of b differs from a's beyond sampling noise */
static int mat_differs(const db_table_row *a, const db_table_row *b, uint64_t seed) {
    if (a->n == 0 || b->n == 0 || !isfinite(a->mat) || !isfinite(b->mat)) return 0;
    if (fabs(a->mat - b->mat) <= MAT_NOISE * fmax(fabs(a->mat), fabs(b->mat))) return 0;
    double *d = malloc(DB_REPORT_BOOTSTRAP * sizeof *d);
    if (!d) return -1;
    db_rng g = db_rng_make(seed, 0x6d6174);   /* "mat" */
    int n = 0;
    for (int i = 0; i < DB_REPORT_BOOTSTRAP; i++) {
        double x = pooled_mat(a, &g), y = pooled_mat(b, &g);
        if (isfinite(x) && isfinite(y)) d[n++] = y - x;
    }
    int differs = 0;
    if (n > 0) {
        qsort(d, (size_t)n, sizeof *d, cmp_double);
        double lo = d[(int)floor(0.025 * (n - 1))], hi = d[(int)ceil(0.975 * (n - 1))];
        differs = lo > 0 || hi < 0;
    }
    free(d);
    return differs;
}

/* the bandwidth a case's roofline divides by: the machine's STREAM
 * bandwidth for a CPU case, its first GPU's for a GPU case; NaN unknown */
static double cell_bandwidth(const hw_machine *m, const hw_cell *c) {
    if (c->where == ON_CPU) return m->bandwidth_gbs;
    if (c->where == ON_GPU && m->gpu >= 0) return m->dev[m->gpu].bandwidth_gbs;
    return NAN;
}

static int build(db_store *st, hw_report *h, uint64_t seed, char *err, size_t errlen) {
    for (int i = 0; i < h->nm; i++) {
        if (db_table_load(st, h->m[i].run_id, seed, &h->m[i].t, err, errlen) != 0) return -1;
        const db_table *t = &h->m[i].t;
        for (int r = 0; r < t->n_rows; r++) {
            if (key_index(h, &t->rows[r]) >= 0) continue;
            char **k = realloc(h->keys, (size_t)(h->nk + 1) * 3 * sizeof *k);
            if (!k) return db_errf(err, errlen, "out of memory");
            h->keys = k;
            k[3 * h->nk] = db_strdup(t->rows[r].label);
            k[3 * h->nk + 1] = db_strdup(t->rows[r].dataset);
            k[3 * h->nk + 2] = db_strdup(t->rows[r].model);
            h->nk++;
        }
        for (int c = 0; c < t->n_counters; c++) {
            if (counter_known(h, t->counters[c]) >= 0) continue;
            char **cn = realloc(h->counters, (size_t)(h->n_counters + 1) * sizeof *cn);
            if (!cn) return db_errf(err, errlen, "out of memory");
            h->counters = cn;
            h->counters[h->n_counters++] = t->counters[c];
        }
        if (!isfinite(h->m[i].bandwidth_gbs)) h->any_missing_probe = true;
        h->noise_recorded |= t->noise_recorded;
        h->any_noise |= t->noise != NULL;
        for (int r = 0; r < t->n_rows; r++) h->any_noise |= t->rows[r].noise != NULL;
    }
    h->cells = calloc((size_t)(h->nk > 0 ? h->nk : 1) * (size_t)(h->nm > 0 ? h->nm : 1), sizeof *h->cells);
    if (!h->cells) return db_errf(err, errlen, "out of memory");
    for (int k = 0; k < h->nk; k++)
        for (int i = 0; i < h->nm; i++) {
            hw_cell *c = cell(h, k, i);
            c->achieved_gbs = c->roofline = c->model_bytes = NAN;
            c->mat_ref = -1;
            c->row_index = -1;
            const db_table *t = &h->m[i].t;
            for (int r = 0; r < t->n_rows && !c->row; r++)
                if (key_index(h, &t->rows[r]) == k) {
                    c->row = &t->rows[r];
                    c->row_index = r;
                }
            if (!c->row) continue;
            db_case_info ci;
            bool found = false;
            if (db_store_read_case(st, c->row->case_id, &ci, &found, err, errlen) != 0) return -1;
            if (found) {
                c->params_json = ci.params_json;
                ci.params_json = NULL;
                c->model_bytes = (double)ci.model_bytes;
                c->where = model_where(h->m[i].config, ci.model_name);
                db_case_info_free(&ci);
            } else c->params_json = db_strdup("");
            const db_table_row *r = c->row;
            if (!strcmp(r->engine, "ar") && isfinite(c->model_bytes) && c->model_bytes > 0 && r->sum_tfwd > 0 &&
                r->sum_ftime > 0) {
                c->achieved_gbs = c->model_bytes * (double)r->sum_tfwd / (r->sum_ftime / 1000.0) / 1e9;
                double peak = cell_bandwidth(&h->m[i], c);
                if (isfinite(peak) && peak > 0) c->roofline = c->achieved_gbs / peak;
            }
            if (c->where != ON_CPU) h->any_gpu = true;
        }
    /* #MAT against the first machine with the same configuration */
    for (int k = 0; k < h->nk; k++)
        for (int i = 0; i < h->nm; i++) {
            hw_cell *c = cell(h, k, i);
            if (!c->row) continue;
            for (int j = 0; j < i; j++) {
                hw_cell *ref = cell(h, k, j);
                if (!ref->row || strcmp(ref->params_json, c->params_json) != 0) continue;
                c->mat_ref = j;
                int d = mat_differs(ref->row, c->row, seed ^ db_mix64((uint64_t)(k * 131 + i)));
                if (d < 0) return db_errf(err, errlen, "out of memory");
                c->mat_differs = d;
                if (d) h->any_flag = true;
                break;
            }
        }
    return 0;
}

/* ---- text cells --------------------------------------------------------------- */

enum { MET_TPS, MET_SPEEDUP, MET_MAT, MET_ROOF, MET_COUNTER0 };

static const char *metric_name(const hw_report *h, int met) {
    switch (met) {
    case MET_TPS: return "tok/s [95% CI]";
    case MET_SPEEDUP: return "speedup [95% CI]";
    case MET_MAT: return "#MAT";
    case MET_ROOF: return h->any_gpu ? "roofline (weight GB/s / device GB/s)" : "roofline (weight GB/s / STREAM GB/s)";
    default: return h->counters[met - MET_COUNTER0];
    }
}

/* whether metric met has a row for case k (roofline: only autoregressive cases) */
static bool metric_applies(const hw_report *h, int k, int met) {
    if (met != MET_ROOF) return true;
    for (int i = 0; i < h->nm; i++)
        if (cell(h, k, i)->row && !strcmp(cell(h, k, i)->row->engine, "ar")) return true;
    return false;
}

/* dagger: appended to a #MAT that differs; noise: appended to the tok/s and
 * speedup of a case measured under interference */
static void cell_text(const hw_report *h, int k, int i, int met, char *buf, size_t len, const char *dagger,
                      const char *noise) {
    const hw_cell *c = cell(h, k, i);
    const db_table_row *r = c->row;
    if (!r) {
        snprintf(buf, len, "-");
        return;
    }
    char a[64], b[64], cc[64];
    switch (met) {
    case MET_TPS:
        db_table_fmt_ci(a, sizeof a, r->tps_med, r->tps_lo, r->tps_hi);
        snprintf(buf, len, "%s%s", a, r->noise ? noise : "");
        break;
    case MET_SPEEDUP:
        db_table_fmt_speedup(a, sizeof a, r, r->baseline == c->row_index);
        snprintf(buf, len, "%s%s", a, r->noise ? noise : "");
        break;
    case MET_MAT:
        db_table_fmt_fixed(a, sizeof a, r->mat, 2);
        snprintf(buf, len, "%s%s", a, c->mat_differs ? dagger : "");
        break;
    case MET_ROOF:
        if (strcmp(r->engine, "ar") != 0 || !isfinite(c->achieved_gbs)) snprintf(buf, len, "-");
        else if (c->where != ON_CPU) {   /* the machine's first GPU, or RPC devices */
            const hw_machine *m = &h->m[i];
            const db_device_info *d = c->where == ON_GPU && m->gpu >= 0 ? &m->dev[m->gpu] : NULL;
            db_table_fmt_sig3(a, sizeof a, c->achieved_gbs);
            if (c->where == ON_RPC) snprintf(buf, len, "unknown \xE2\x80\x94 RPC devices (%s GB/s)", a);
            else if (!d) snprintf(buf, len, "%s (%s GB/s)", NO_GPU, a);
            else if (!isfinite(c->roofline))
                snprintf(buf, len, "unknown \xE2\x80\x94 %s %s (%s GB/s)", d->name, d->description[0] ? d->description : "?", a);
            else {
                db_table_fmt_sig3(b, sizeof b, d->bandwidth_gbs);
                db_table_fmt_fixed(cc, sizeof cc, c->roofline, 2);
                snprintf(buf, len, "%s (%s / %s GB/s, %s %s)", cc, a, b, d->name, d->known[0] ? d->known : d->description);
            }
        } else if (!isfinite(c->roofline)) {
            db_table_fmt_sig3(a, sizeof a, c->achieved_gbs);
            snprintf(buf, len, "%s (%s GB/s)", NO_PROBE, a);
        } else {
            db_table_fmt_sig3(a, sizeof a, c->achieved_gbs);
            db_table_fmt_sig3(b, sizeof b, h->m[i].bandwidth_gbs);
            db_table_fmt_fixed(cc, sizeof cc, c->roofline, 2);
            snprintf(buf, len, "%s (%s / %s GB/s)", cc, a, b);
        }
        break;
    default: {
        const db_table *t = &h->m[i].t;
        const char *name = h->counters[met - MET_COUNTER0];
        double v = NAN;
        for (int x = 0; x < t->n_counters; x++)
            if (!strcmp(t->counters[x], name)) v = r->cnt_med[x];
        db_table_fmt_counter(buf, len, v);
    }
    }
}

static void machine_title(const hw_machine *m, char *buf, size_t len) {
    if (m->machine_id == 0) snprintf(buf, len, "unknown machine");
    else snprintf(buf, len, "#%lld %s", (long long)m->machine_id, m->hostname[0] ? m->hostname : "?");
}

static void machine_desc(const hw_machine *m, char *buf, size_t len) {
    char bw[64], fl[64];
    db_table_fmt_sig3(bw, sizeof bw, m->bandwidth_gbs);
    db_table_fmt_sig3(fl, sizeof fl, m->gflops);
    if (isfinite(m->bandwidth_gbs))
        snprintf(buf, len, "%s, %d cores; run %lld; STREAM %s GB/s, FP32 peak %s GFLOP/s",
                 m->cpu_model[0] ? m->cpu_model : "unknown CPU", m->cores, (long long)m->run_id, bw, fl);
    else
        snprintf(buf, len, "%s, %d cores; run %lld; bandwidth %s", m->cpu_model[0] ? m->cpu_model : "unknown CPU",
                 m->cores, (long long)m->run_id, NO_PROBE);
    /* the GPUs and integrated GPUs decobench probe recorded (nothing for a CPU-only machine) */
    for (int d = 0; d < m->n_dev; d++) {
        const db_device_info *v = &m->dev[d];
        if (strcmp(v->type, "gpu") != 0 && strcmp(v->type, "igpu") != 0) continue;
        size_t used = strlen(buf);
        if (used + 1 >= len) break;
        if (!v->known[0] || !isfinite(v->bandwidth_gbs)) {
            snprintf(buf + used, len - used, "; %s %s: %s, bandwidth unknown", v->type, v->name,
                     v->description[0] ? v->description : "?");
            continue;
        }
        char gbw[64], f16[64];
        db_table_fmt_sig3(gbw, sizeof gbw, v->bandwidth_gbs);
        db_table_fmt_sig3(f16, sizeof f16, v->peak_fp16_tflops);
        snprintf(buf + used, len - used, "; %s %s: %s (%s), %s GB/s, FP16/BF16 tensor peak %s TFLOP/s", v->type,
                 v->name, v->description, v->known, gbw, f16);
    }
}

/* S7: the reasons behind the interference marks, one line per machine run and case */
static void noise_lines(const hw_report *h, bool latex, FILE *out) {
    if (!h->any_noise) return;
    char title[256];
    if (latex) fputs("% double dagger: measured under interference (docs/metrics.md, \"Interference\")\n", out);
    else fputs("\n" NOISE_MARK " measured under interference (docs/metrics.md, \"Interference\"):\n", out);
    for (int i = 0; i < h->nm; i++) {
        const db_table *t = &h->m[i].t;
        machine_title(&h->m[i], title, sizeof title);
        for (int r = -1; r < t->n_rows; r++) {
            const char *why = r < 0 ? t->noise : t->rows[r].noise;
            if (!why) continue;
            if (latex) {
                db_tex_commentf(out, "%%   %s, %s%s%s: %s", title, r < 0 ? "the run" : t->rows[r].label,
                                r < 0 ? "" : " / ", r < 0 ? "" : t->rows[r].dataset, why);
                continue;
            }
            fputs("- ", out);
            db_md_text(out, title);
            fputs(", ", out);
            if (r < 0) fputs("the run", out);
            else {
                db_md_text(out, t->rows[r].label);
                fputs(" (", out);
                db_md_text(out, t->rows[r].dataset);
                fputc(')', out);
            }
            fputs(": ", out);
            db_md_text(out, why);
            fputc('\n', out);
        }
    }
}

static const char *FOOTNOTE =
    "#MAT differs from the first machine with the same configuration beyond sampling noise (95% bootstrap CI of"
    " the difference excludes 0); #MAT should not depend on hardware, so decoding took other paths (numerics).";

/* ---- writers ------------------------------------------------------------------- */

static void write_md(const hw_report *h, FILE *out) {
    char buf[1024];
    fputs("**decobench hardware report** — suite: ", out);
    db_md_text(out, h->suite[0] ? h->suite : "?");
    fprintf(out, " — %d machine%s\n\n", h->nm, h->nm == 1 ? "" : "s");
    for (int i = 0; i < h->nm; i++) {
        machine_title(&h->m[i], buf, sizeof buf);
        fputs("- ", out);
        db_md_text(out, buf);
        fputs(": ", out);
        machine_desc(&h->m[i], buf, sizeof buf);
        db_md_text(out, buf);
        if (h->m[i].t.noise) fputs(" — measured under interference " NOISE_MARK, out);   /* S7 */
        fputc('\n', out);
    }
    fputs("\n|", out);
    db_md_cell(out, "case");
    db_md_cell(out, "metric");
    for (int i = 0; i < h->nm; i++) {
        machine_title(&h->m[i], buf, sizeof buf);
        db_md_cell(out, buf);
    }
    fputs("\n|---|---|", out);
    for (int i = 0; i < h->nm; i++) fputs("--:|", out);
    fputc('\n', out);
    bool multi = false;
    for (int k = 1; k < h->nk; k++)
        if (strcmp(h->keys[3 * k + 1], h->keys[1]) || strcmp(h->keys[3 * k + 2], h->keys[2])) multi = true;
    for (int k = 0; k < h->nk; k++)
        for (int met = 0; met < MET_COUNTER0 + h->n_counters; met++) {
            if (!metric_applies(h, k, met)) continue;
            fputc('|', out);
            if (multi) snprintf(buf, sizeof buf, "%s · %s · %s", h->keys[3 * k], h->keys[3 * k + 1], h->keys[3 * k + 2]);
            else snprintf(buf, sizeof buf, "%s", h->keys[3 * k]);
            db_md_cell(out, buf);
            db_md_cell(out, metric_name(h, met));
            for (int i = 0; i < h->nm; i++) {
                cell_text(h, k, i, met, buf, sizeof buf, " †", " " NOISE_MARK);
                db_md_cell(out, buf);
            }
            fputc('\n', out);
        }
    if (h->any_flag) fprintf(out, "\n† %s\n", FOOTNOTE);
    noise_lines(h, false, out);
    fputs("\nRoofline: autoregressive cases' weight bytes per second (model bytes × target forwards / forward"
          " time) over the machine's STREAM triad bandwidth (decobench probe).\n", out);
    if (h->any_gpu)
        fputs("Cases whose target model offloads layers (n_gpu_layers not 0) ran on the machine's first GPU: their"
              " fraction is over that card's memory bandwidth from decobench's table of known cards, as decobench"
              " probe recorded it (unknown for cards not in the table and for models on RPC servers).\n", out);
}

static void write_latex(const hw_report *h, FILE *out) {
    char buf[1024];
    db_tex_commentf(out, "%% decobench hardware report -- suite: %s", h->suite);
    for (int i = 0; i < h->nm; i++) {
        char desc[1024];
        machine_title(&h->m[i], buf, sizeof buf);
        machine_desc(&h->m[i], desc, sizeof desc);
        db_tex_commentf(out, "%% %s: %s", buf, desc);   /* no line break can end the comment */
    }
    fputs("% requires \\usepackage{booktabs}\n\\begin{tabular}{ll", out);
    for (int i = 0; i < h->nm; i++) fputc('r', out);
    fputs("}\n\\toprule\nCase & Metric", out);
    for (int i = 0; i < h->nm; i++) {
        machine_title(&h->m[i], buf, sizeof buf);
        fputs(" & ", out);
        db_tex_text(out, buf);
    }
    fputs(" \\\\\n\\midrule\n", out);
    for (int k = 0; k < h->nk; k++)
        for (int met = 0; met < MET_COUNTER0 + h->n_counters; met++) {
            if (!metric_applies(h, k, met)) continue;
            db_tex_text(out, h->keys[3 * k]);
            fputs(" & ", out);
            db_tex_text(out, metric_name(h, met));
            for (int i = 0; i < h->nm; i++) {
                cell_text(h, k, i, met, buf, sizeof buf, "\x01", "\x02");
                fputs(" & ", out);
                char *dag = strchr(buf, '\x01'), *ddag = strchr(buf, '\x02');
                if (dag) *dag = '\0';
                if (ddag) *ddag = '\0';
                db_tex_text(out, strcmp(buf, "-") ? buf : "--");
                if (dag) fputs("$^\\dagger$", out);
                if (ddag) fputs("$^\\ddagger$", out);   /* S7 interference */
            }
            fputs(" \\\\\n", out);
        }
    fputs("\\bottomrule\n\\end{tabular}\n", out);
    if (h->any_flag) fprintf(out, "%% dagger: %s\n", FOOTNOTE);
    noise_lines(h, true, out);
}

/* where a case ran, for CSV: "CPU", "CUDA0 NVIDIA H100 80GB HBM3", "GPU (none recorded)", "RPC" */
static void cell_device(const hw_machine *m, const hw_cell *c, char *buf, size_t len) {
    if (c->where == ON_CPU) snprintf(buf, len, "CPU");
    else if (c->where == ON_RPC) snprintf(buf, len, "RPC");
    else if (m->gpu < 0) snprintf(buf, len, "GPU (none recorded)");
    else snprintf(buf, len, "%s %s", m->dev[m->gpu].name, m->dev[m->gpu].description);
}

static void csv_int(FILE *out, int64_t v, int first) {
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    db_csv_field(out, b, first);
}

static void write_csv(const hw_report *h, FILE *out) {
    const char *heads[] = { "machine_id", "run_id", "hostname", "cpu_model", "label", "dataset", "model", "metric",
                            "value", "lo", "hi", "mat_differs" };
    for (int i = 0; i < (int)(sizeof heads / sizeof heads[0]); i++) db_csv_field(out, heads[i], i == 0);
    if (h->noise_recorded) db_csv_field(out, "interference", 0);   /* S7: the case's reasons */
    if (h->any_gpu) db_csv_field(out, "device", 0);                 /* S10: where the case ran */
    fputs("\r\n", out);
    for (int k = 0; k < h->nk; k++)
        for (int i = 0; i < h->nm; i++) {
            const hw_cell *c = cell(h, k, i);
            const db_table_row *r = c->row;
            if (!r) continue;
            for (int met = 0; met < MET_COUNTER0 + h->n_counters; met++) {
                double v = NAN, lo = NAN, hi = NAN;
                const char *name = NULL;
                switch (met) {
                case MET_TPS: name = "tokens_per_s", v = r->tps_med, lo = r->tps_lo, hi = r->tps_hi; break;
                case MET_SPEEDUP: name = "speedup", v = r->sp_med, lo = r->sp_lo, hi = r->sp_hi; break;
                case MET_MAT: name = "mat", v = r->mat; break;
                case MET_ROOF:
                    if (!isfinite(c->achieved_gbs)) continue;
                    /* two lines: the achieved bandwidth and the fraction */
                    name = "roofline_fraction", v = c->roofline;
                    break;
                default: {
                    name = h->counters[met - MET_COUNTER0];
                    const db_table *t = &h->m[i].t;
                    bool have = false;
                    for (int x = 0; x < t->n_counters; x++)
                        if (!strcmp(t->counters[x], name)) v = r->cnt_med[x], have = true;
                    if (!have) continue;
                }
                }
                for (int line = 0; line < (met == MET_ROOF ? 2 : 1); line++) {
                    csv_int(out, h->m[i].machine_id, 1);
                    csv_int(out, h->m[i].run_id, 0);
                    db_csv_field(out, h->m[i].hostname, 0);
                    db_csv_field(out, h->m[i].cpu_model, 0);
                    db_csv_field(out, h->keys[3 * k], 0);
                    db_csv_field(out, h->keys[3 * k + 1], 0);
                    db_csv_field(out, h->keys[3 * k + 2], 0);
                    db_csv_field(out, line ? "weight_gbs" : name, 0);
                    db_csv_num(out, line ? c->achieved_gbs : v);
                    db_csv_num(out, line ? NAN : lo);
                    db_csv_num(out, line ? NAN : hi);
                    db_csv_field(out, met == MET_MAT ? (c->mat_differs ? "1" : "0") : "", 0);
                    if (h->noise_recorded) db_csv_field(out, r->noise ? r->noise : "", 0);
                    if (h->any_gpu) {
                        char dn[512];
                        cell_device(&h->m[i], c, dn, sizeof dn);
                        db_csv_field(out, dn, 0);
                    }
                    fputs("\r\n", out);
                }
            }
        }
}

static cJSON *jnum(double v) {
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *jci(double lo, double hi) {
    return isfinite(lo) && isfinite(hi) ? cJSON_CreateDoubleArray((double[]){ lo, hi }, 2) : cJSON_CreateNull();
}

static int write_json(const hw_report *h, FILE *out, char *err, size_t errlen) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return db_errf(err, errlen, "out of memory");
    cJSON_AddStringToObject(root, "suite", h->suite);
    cJSON_AddStringToObject(root, "by", "machine");
    cJSON *ms = cJSON_AddArrayToObject(root, "machines");
    for (int i = 0; i < h->nm && ms; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(ms, o);
        cJSON_AddNumberToObject(o, "machine_id", (double)h->m[i].machine_id);
        cJSON_AddNumberToObject(o, "run_id", (double)h->m[i].run_id);
        cJSON_AddStringToObject(o, "hostname", h->m[i].hostname);
        cJSON_AddStringToObject(o, "cpu_model", h->m[i].cpu_model);
        cJSON_AddNumberToObject(o, "cores", h->m[i].cores);
        cJSON_AddItemToObject(o, "bandwidth_gbs", jnum(h->m[i].bandwidth_gbs));
        cJSON_AddItemToObject(o, "gflops", jnum(h->m[i].gflops));
        db_noise_json(o, h->m[i].t.noise_recorded, h->m[i].t.noise);   /* S7: the run's verdict */
        if (h->m[i].n_dev > 0) {   /* S10: what decobench probe recorded (schema 5) */
            cJSON *da = cJSON_AddArrayToObject(o, "devices");
            for (int d = 0; d < h->m[i].n_dev && da; d++) {
                const db_device_info *v = &h->m[i].dev[d];
                cJSON *dj = cJSON_CreateObject();
                if (!dj) break;
                cJSON_AddItemToArray(da, dj);
                cJSON_AddStringToObject(dj, "name", v->name);
                cJSON_AddStringToObject(dj, "description", v->description);
                cJSON_AddStringToObject(dj, "type", v->type);
                cJSON_AddItemToObject(dj, "memory_bytes", v->memory_bytes ? cJSON_CreateNumber((double)v->memory_bytes)
                                                                          : cJSON_CreateNull());
                cJSON_AddItemToObject(dj, "known", v->known[0] ? cJSON_CreateString(v->known) : cJSON_CreateNull());
                cJSON_AddItemToObject(dj, "bandwidth_gbs", jnum(v->bandwidth_gbs));
                cJSON_AddItemToObject(dj, "peak_fp32_tflops", jnum(v->peak_fp32_tflops));
                cJSON_AddItemToObject(dj, "peak_fp16_tflops", jnum(v->peak_fp16_tflops));
                cJSON_AddItemToObject(dj, "source", v->source[0] ? cJSON_CreateString(v->source) : cJSON_CreateNull());
            }
        }
    }
    cJSON *cases = cJSON_AddArrayToObject(root, "cases");
    for (int k = 0; k < h->nk && cases; k++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(cases, o);
        cJSON_AddStringToObject(o, "label", h->keys[3 * k]);
        cJSON_AddStringToObject(o, "dataset", h->keys[3 * k + 1]);
        cJSON_AddStringToObject(o, "model", h->keys[3 * k + 2]);
        cJSON *cells = cJSON_AddArrayToObject(o, "machines");
        for (int i = 0; i < h->nm && cells; i++) {
            const hw_cell *c = cell(h, k, i);
            const db_table_row *r = c->row;
            if (!r) {
                cJSON_AddItemToArray(cells, cJSON_CreateNull());
                continue;
            }
            cJSON *e = cJSON_CreateObject();
            if (!e) break;
            cJSON_AddItemToArray(cells, e);
            cJSON_AddNumberToObject(e, "machine_id", (double)h->m[i].machine_id);
            cJSON_AddStringToObject(e, "engine", r->engine);
            cJSON_AddNumberToObject(e, "n", r->n);
            cJSON_AddItemToObject(e, "tokens_per_s", jnum(r->tps_med));
            cJSON_AddItemToObject(e, "tokens_per_s_ci", jci(r->tps_lo, r->tps_hi));
            cJSON_AddItemToObject(e, "speedup", jnum(r->sp_med));
            cJSON_AddItemToObject(e, "speedup_ci", jci(r->sp_lo, r->sp_hi));
            cJSON_AddItemToObject(e, "mat", jnum(r->mat));
            cJSON_AddBoolToObject(e, "mat_differs", c->mat_differs);
            cJSON_AddItemToObject(e, "weight_gbs", jnum(c->achieved_gbs));
            cJSON_AddItemToObject(e, "roofline_fraction", jnum(c->roofline));
            if (c->where != ON_CPU) {   /* S10: the device a GPU case's fraction is over (absent for the CPU) */
                const hw_machine *m = &h->m[i];
                if (c->where == ON_GPU && m->gpu >= 0) {
                    cJSON_AddStringToObject(e, "device", m->dev[m->gpu].name);
                    cJSON_AddItemToObject(e, "device_bandwidth_gbs", jnum(m->dev[m->gpu].bandwidth_gbs));
                } else {
                    cJSON_AddItemToObject(e, "device", c->where == ON_RPC ? cJSON_CreateString("RPC") : cJSON_CreateNull());
                    cJSON_AddNullToObject(e, "device_bandwidth_gbs");
                }
            }
            db_noise_json(e, h->m[i].t.noise_recorded, r->noise);   /* S7: the case's verdict */
            cJSON *cc = cJSON_AddObjectToObject(e, "counters");
            const db_table *t = &h->m[i].t;
            for (int x = 0; x < t->n_counters && cc; x++) cJSON_AddItemToObject(cc, t->counters[x], jnum(r->cnt_med[x]));
        }
    }
    return db_json_print(root, out, err, errlen);
}

int db_report_hardware(db_store *st, int64_t run_id, const char *fmt, uint64_t seed, FILE *out, char *err,
                       size_t errlen) {
    hw_report h;
    memset(&h, 0, sizeof h);
    int rc = -1;
    if (pick_runs(st, run_id, &h, err, errlen) != 0 || build(st, &h, seed, err, errlen) != 0) goto done;
    if (!strcmp(fmt, "md")) write_md(&h, out);
    else if (!strcmp(fmt, "csv")) write_csv(&h, out);
    else if (!strcmp(fmt, "latex")) write_latex(&h, out);
    else if (write_json(&h, out, err, errlen) != 0) goto done;
    if (ferror(out)) {
        db_errf(err, errlen, "write error");
        goto done;
    }
    rc = 0;
done:
    hw_free(&h);
    return rc;
}
