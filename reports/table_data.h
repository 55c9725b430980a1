/* table_data.h — the results table of one run as reports/table_load.c loads and
 * computes it (report.h describes every number), for the writers built on
 * it: the HTML report (reports/html.c) and the hardware report
 * (reports/hardware.c).  Internal to reports/. */
#ifndef DECOBENCH_TABLE_DATA_H
#define DECOBENCH_TABLE_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "harness/run/store.h"

#define DB_TABLE_MAX_POS 32          /* draft positions tracked (accepted_mask bits) */

typedef struct db_table_row {
    int64_t case_id;
    char *engine, *label, *dataset, *model;
    char *params;                /* params_json ("" when NULL) */
    int n;                       /* samples */
    int *prompt_idx, *rep, *turn;
    double *tps, *ttft, *lat;    /* NaN where NULL */
    int64_t *newt, *commits;     /* per sample: decode-step tokens (mat × n_commits), n_commits */
    char **cat;                  /* per sample category ("" when NULL) */
    int64_t sum_new, sum_commits;
    double *cnt;                 /* n × n_counters, NaN where missing */
    /* speculative sums over samples and VERIFY events */
    int64_t sum_drafted, sum_accepted, sum_dfwd, sum_tfwd, n_verify;
    double sum_dtime, sum_ftime, sum_lat;
    int n_pos;                   /* 1 + last draft position verified */
    int64_t drafted_at[DB_TABLE_MAX_POS], accepted_at[DB_TABLE_MAX_POS];
    int64_t accepted_hist[DB_TABLE_MAX_POS + 1];   /* VERIFY events by accepted draft tokens (capped) */
    int64_t n_accepted_hist;                       /* VERIFY events with an accepted count */
    /* results */
    int baseline;                /* row index of its baseline, -1 none */
    int *pair;                   /* per sample: the baseline's sample with the same prompt, repetition
                                  * and turn (the first in id order), -1 none (NULL: no baseline) */
    double tps_med, tps_lo, tps_hi;
    double sp_med, sp_lo, sp_hi;
    double mat, ttft50, ttft90, lat50;
    double *cnt_med;             /* n_counters */
    double alpha, kbar, dshare, cost, pred;   /* NaN when not applicable */
    double acc_at[DB_TABLE_MAX_POS];          /* n_pos of them */
    bool best;                   /* best tokens/s within its dataset+model */
    char ident[48];              /* S7 identity: "40/40", "39/40 DIFF", "" when not compared */
    char *noise;                 /* S7: "; "-joined reasons when measured under interference, else NULL */
} db_table_row;

typedef struct db_table {
    int64_t run_id;
    int64_t machine_id;          /* the run's machine, 0 when none */
    char *suite, *config_json, *llama_commit, *cpu_model, *status;
    int cores;
    char *baseline_key;          /* config "baseline", or label of the first "ar" case */
    char **counters;
    int n_counters;
    db_table_row *rows;
    int n_rows;
    bool spec;                   /* some case drafted tokens */
    bool ident;                  /* some case was compared with the greedy baseline (identity table) */
    int max_pos;                 /* max n_pos over rows */
    bool noise_recorded;         /* S7: the run has interference rows (schema 3 runs) */
    char *noise;                 /* S7: the run's reasons when measured under interference, else NULL */
} db_table;

/* Load run run_id (0: the latest) and compute every row (bootstrap seeded
 * with seed).  Returns 0, or -1 with one line in err; free with
 * db_table_free either way. */
int  db_table_load(db_store *st, int64_t run_id, uint64_t seed, db_table *t, char *err, size_t errlen);
/* Which per-sample arrays db_table_load_ex keeps once a row's statistics
 * are computed; the others are freed (NULL; n, the row's sample count,
 * stays), so memory is the baselines' pairing keys plus one case's samples
 * plus what is kept. */
typedef enum {
    DB_TABLE_KEEP_NONE,      /* the per-case table: computed fields only */
    DB_TABLE_KEEP_LATENCY,   /* lat (the HTML report's latency CDFs) */
    DB_TABLE_KEEP_ALL,       /* everything (pivots, the hardware report): db_table_load */
} db_table_keep;
int  db_table_load_ex(db_store *st, int64_t run_id, uint64_t seed, db_table_keep keep, db_table *t, char *err,
                      size_t errlen);
void db_table_free(db_table *t);

/* The cell texts of the Markdown table ("-" where not applicable). */
void db_table_fmt_sig3(char *buf, size_t len, double v);                 /* about 3 significant digits */
void db_table_fmt_fixed(char *buf, size_t len, double v, int decimals);
void db_table_fmt_ci(char *buf, size_t len, double med, double lo, double hi);   /* "12.3 [11.0, 13.1]" */
void db_table_fmt_speedup(char *buf, size_t len, const db_table_row *r, int is_baseline);
void db_table_fmt_counter(char *buf, size_t len, double v);
void db_table_fmt_acc_at(char *buf, size_t len, const db_table_row *r);  /* "0.81/0.66/0.52" */
void db_table_fmt_percent(char *buf, size_t len, double v);              /* "12.5%" */
/* "CPU model, N cores" / "CPU model" / "unknown" */
void db_table_machine_title(const db_table *t, char *buf, size_t len);

/* Write loaded table t (table.c): a pivot when by is set (category,
 * engine, model, dataset or param:NAME; cellm: NULL or a cell metric), else
 * the per-case table with the chosen columns (NULL: the format's default),
 * or for fmt json without columns the whole JSON document.  fmt: md, csv,
 * latex or json.  Returns 0, or -1 with one line in err. */
int db_table_write(const db_table *t, const char *fmt, const char *by, const char *columns, const char *cellm,
                   uint64_t seed, FILE *out, char *err, size_t errlen);

/* S7 interference (reports/noise.c): load the run's and each row's
 * verdict (table interference); the marker a flagged label gets, and the
 * footnotes listing the reasons under the Markdown and LaTeX tables and the
 * HTML results table; JSON's "interference" object of the run or a row. */
#define DB_NOISE_MARK "\xE2\x80\xA0"     /* U+2020 dagger */
int  db_table_load_noise(db_store *st, db_table *t, char *err, size_t errlen);
void db_noise_footnote_md(const db_table *t, FILE *out);
void db_noise_footnote_tex(const db_table *t, FILE *out);
void db_noise_footnote_html(const db_table *t, FILE *out);
struct cJSON;
void db_noise_json(struct cJSON *o, bool recorded, const char *reasons);
/* Adds each of reasons' "; "-joined items missing from *acc (malloc'd or
 * NULL) to it: the reasons of several cases shown together (a pivot cell or
 * row).  Returns 0, or -1 when out of memory (*acc unchanged). */
int  db_noise_union(char **acc, const char *reasons);

/* The writers reached through db_report_table (report.h): the
 * self-contained HTML report of one run (html.c) and the machines-as-columns
 * report of its suite (hardware.c; fmt md, csv, latex or json). */
int db_report_html(db_store *st, int64_t run_id, uint64_t seed, FILE *out, char *err, size_t errlen);
int db_report_hardware(db_store *st, int64_t run_id, const char *fmt, uint64_t seed, FILE *out, char *err,
                       size_t errlen);

#endif
