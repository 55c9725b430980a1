/* store_sql.h — column readers and errors for SQL on the results database
 * (harness/run/store_sql.c): used by the store's own readers, merge and
 * identity, and by the few report queries that still read the database
 * directly.
 */
#ifndef DECOBENCH_STORE_SQL_H
#define DECOBENCH_STORE_SQL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

/* Column i as a malloc'd string ("" for NULL) / a double (NaN for NULL). */
char  *db_sql_text(sqlite3_stmt *s, int i);
double db_sql_real(sqlite3_stmt *s, int i);
/* Whether the database has a table of that name (tables added by later
 * schema versions may be absent from older databases). */
bool   db_sql_has_table(sqlite3 *db, const char *name);
/* One-line error "WHAT: sqlite message"; returns -1. */
int    db_sql_fail(sqlite3 *db, const char *what, char *err, size_t errlen);

#endif
