/* format.c — number and CSV formatting shared by the report writers. */
#include "format.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../harness/util.h"

void db_fmt_full(char *buf, size_t len, double v) {
    if (!isfinite(v)) {
        snprintf(buf, len, "%s", "");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

void db_csv_field(FILE *out, const char *s, int first) {
    if (!first) fputc(',', out);
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void db_csv_num(FILE *out, double v) {
    char buf[40];
    db_fmt_full(buf, sizeof buf, v);
    db_csv_field(out, buf, 0);
}

char *db_sql_text(sqlite3_stmt *s, int i) {
    const unsigned char *t = sqlite3_column_text(s, i);
    return db_strdup(t ? (const char *)t : "");
}

double db_sql_real(sqlite3_stmt *s, int i) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

int db_sql_fail(sqlite3 *db, const char *what, char *err, size_t errlen) {
    return db_errf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
}

void db_md_text(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", out);
        else if (*s == '\n' || *s == '\r') fputc(' ', out);
        else fputc(*s, out);
    }
}

void db_md_cell(FILE *out, const char *s) {
    fputc(' ', out);
    db_md_text(out, s);
    fputs(" |", out);
}
