/* format.c — number and CSV formatting shared by the report writers. */
#include "format.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
