/* report.c — `decobench report`'s entry point (report.h,
 * db_report_table): checks the options, then hands the run to its writer —
 * the per-case table and the pivots (table.c), the HTML report (html.c) or
 * the hardware report (hardware.c).  The dispatch lives here, not in
 * table.c, so the writers call table.c's loaders and table.c calls none of
 * them (docs/architecture.md).
 */
#include "report.h"
#include "table_data.h"

#include <string.h>

#include "harness/util/util.h"

int db_report_format_ok(const char *name) {
    return name && (!strcmp(name, "md") || !strcmp(name, "csv") || !strcmp(name, "latex") ||
                    !strcmp(name, "json") || !strcmp(name, "html"));
}

int db_report_by_ok(const char *name) {
    return name && (!strcmp(name, "category") || !strcmp(name, "machine") || !strcmp(name, "engine") ||
                    !strcmp(name, "model") || !strcmp(name, "dataset") || (!strncmp(name, "param:", 6) && name[6]));
}

int db_report_table(db_store *st, const db_report_opts *o, FILE *out, char *err, size_t errlen) {
    const char *fmt = o && o->format ? o->format : "md";
    const char *by = o ? o->by : NULL;
    if (!db_report_format_ok(fmt))
        return db_errf(err, errlen, "unknown format '%s' (expected md, csv, latex, json or html)", fmt);
    if (by && !db_report_by_ok(by))
        return db_errf(err, errlen, "unknown grouping '%s' (expected " DB_REPORT_BY_NAMES ")", by);
    if (by && !strcmp(fmt, "html"))
        return db_errf(err, errlen, "format html is the whole report of a run: it takes no --by %s", by);
    const char *columns = o ? o->columns : NULL, *cellm = o ? o->cell : NULL;
    if (columns && (by || !strcmp(fmt, "html")))
        return db_errf(err, errlen, "--columns chooses the per-case table's columns (md, csv, latex, json): "
                       "not with %s", by ? "--by" : "format html");
    if (cellm && (!by || !strcmp(by, "machine")))
        return db_errf(err, errlen, "--cell chooses what a pivot's cells show: it needs --by category, engine, "
                       "model, dataset or param:NAME");
    if (!st) return db_errf(err, errlen, "no results database");
    uint64_t seed = o ? o->seed : DB_REPORT_DEFAULT_SEED;
    int64_t run_id = o ? o->run_id : 0;
    if (by && !strcmp(by, "machine")) return db_report_hardware(st, run_id, fmt, seed, out, err, errlen);
    if (!strcmp(fmt, "html")) return db_report_html(st, run_id, seed, out, err, errlen);
    db_table t;
    int rc = -1;
    /* the per-case table reads computed fields only: samples are freed as
     * the rows are computed; the pivots (--by) read them */
    if (db_table_load_ex(st, run_id, seed, by ? DB_TABLE_KEEP_ALL : DB_TABLE_KEEP_NONE, &t, err, errlen) != 0)
        goto done;
    if (db_table_write(&t, fmt, by, columns, cellm, seed, out, err, errlen) != 0) goto done;
    if (ferror(out)) {
        db_errf(err, errlen, "write error");
        goto done;
    }
    rc = 0;
done:
    db_table_free(&t);
    return rc;
}
