/* table_int.h — internals the files of the results table share: the
 * loader (table_load.c), the cell texts, titles and column table
 * (table_fmt.c), the per-case table writers (table.c) and the pivots
 * (pivot.c).  Private to reports/ (and tests/); table_data.h is what the
 * other report writers use.
 */
#ifndef DECOBENCH_TABLE_INT_H
#define DECOBENCH_TABLE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "table_data.h"

struct cJSON;

/* The per-case table's columns, in default order: name (CSV/JSON key and
 * --columns name), Markdown and LaTeX headers with units, and which way is
 * better (bold in LaTeX: +1 higher, -1 lower, 0 not ranked).  Counters of
 * the run are columns too, by their names. */
typedef enum {
    C_LABEL, C_ENGINE, C_DATASET, C_MODEL, C_N, C_TPS, C_SPEEDUP, C_PRED, C_MAT, C_ALPHA, C_KBAR, C_ACC_AT,
    C_COST, C_DSHARE, C_TTFT50, C_TTFT90, C_LAT50, C_DRAFTED, C_ACCEPTED, C_VERIFY, C_NOISE, C_COUNTER,
    C_IDENT
} col_id;

typedef struct col_spec {
    col_id id;
    const char *name, *md, *tex;
    int better;
    bool spec;      /* speculative: in the default Markdown/LaTeX table only when some case drafted */
    bool dflt;      /* in the default Markdown and LaTeX tables */
} col_spec;

/* table_fmt.c: the column table and a column by name (NULL: none) */
extern const col_spec db_table_cols[];
extern const int db_table_n_cols;
const col_spec *db_table_col_find(const char *name);

/* table_fmt.c: the decimals db_table_fmt_sig3 prints v with (3 below 1);
 * a share as a percentage ("-" when not finite) with the sign text pct */
int  db_table_sig3_decimals(double v);
void db_table_fmt_pct(char *buf, size_t len, double v, const char *pct);
/* table_fmt.c: a JSON number (null when not finite); the run's identity
 * every JSON table starts with; the Markdown title line of a run */
struct cJSON *db_table_jnum(double v);
struct cJSON *db_table_json_header(const db_table *t);
void db_table_title_line(const db_table *t, const char *by, FILE *out);

/* table_load.c: the index of counter name among t->counters, -1 none */
int db_table_counter_index(const db_table *t, const char *name);
/* table_load.c: samples paired for speedups: same prompt, repetition and turn */
bool db_table_same_prompt(const db_table_row *a, int i, const db_table_row *b, int k);

/* pivot.c: the pivot of t by category, engine, model, dataset or
 * param:NAME; cellm: NULL or a cell metric.  Returns 0, or -1 with one line
 * in err. */
int db_table_pivot(const db_table *t, const char *fmt, const char *by, const char *cellm, uint64_t seed, FILE *out,
                   char *err, size_t errlen);

#endif
