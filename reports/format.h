/* format.h — number and CSV formatting shared by the report writers
 * (tables, comparisons, histories). */
#ifndef DECOBENCH_FORMAT_H
#define DECOBENCH_FORMAT_H

#include <stddef.h>
#include <stdio.h>

/* Shortest %g (15–17 digits) that reads back as exactly v; "" for NaN/inf. */
void db_fmt_full(char *buf, size_t len, double v);
/* One RFC 4180 field (quoted when it holds , " CR or LF), preceded by a comma unless first. */
void db_csv_field(FILE *out, const char *s, int first);
/* A number as a CSV field (never first), full precision, empty for NaN. */
void db_csv_num(FILE *out, double v);

#endif
