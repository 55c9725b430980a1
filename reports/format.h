/* format.h — number and CSV formatting shared by the report writers
 * (tables, comparisons, histories). */
#ifndef DECOBENCH_FORMAT_H
#define DECOBENCH_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

/* Shortest %g (15–17 digits) that reads back as exactly v; "" for NaN/inf. */
void db_fmt_full(char *buf, size_t len, double v);
/* One RFC 4180 field (quoted when it holds , " CR or LF), preceded by a
 * comma unless first.  Text a spreadsheet would run as a formula (first
 * character, after spaces, = + - @ tab CR or a full-width = + - @) is
 * guarded as OWASP advises: quoted, with a leading single quote; a plain
 * number ("-0.5", "1e-3") is written as is. */
void db_csv_field(FILE *out, const char *s, int first);
/* A number as a CSV field (never first), full precision, empty for NaN; never guarded. */
void db_csv_num(FILE *out, double v);
/* A number as a Markdown table cell (" " printf fmt " |", "–" when not
 * finite) when md, else as db_csv_num: the rows of the md/csv reports. */
void db_md_csv_num(FILE *out, bool md, double v, const char *fmt);

/* Write a JSON document (indented, then a newline) and free it: the tail of
 * every JSON report writer.  Returns 0, or -1 with err set. */
int    db_json_print(cJSON *root, FILE *out, char *err, size_t errlen);

/* Markdown table text: '|' escaped, line breaks and control characters as
 * spaces, < > & " as HTML character references (Markdown passes inline
 * HTML through); a cell adds " " and " |". */
void db_md_text(FILE *out, const char *s);
void db_md_cell(FILE *out, const char *s);

/* LaTeX text: specials escaped, [ ] braced (never an optional argument),
 * line breaks and control characters as spaces. */
void db_tex_text(FILE *out, const char *s);
/* Text inside a LaTeX % comment: verbatim, but every line break (CR, LF,
 * other control characters, U+0085, U+2028, U+2029) as a space, so the
 * comment cannot end early and leave the rest as live LaTeX. */
void db_tex_comment(FILE *out, const char *s);
/* A whole LaTeX comment line: fmt (which starts with "%%") formatted, passed
 * through db_tex_comment, then one newline. */
void db_tex_commentf(FILE *out, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* HTML text or attribute value: & < > " ' as character references; bytes
 * that are not valid UTF-8 and control characters other than tab and line
 * breaks as U+FFFD, so any stored text is safe inside elements and quoted
 * attributes. */
void db_html_text(FILE *out, const char *s);

#endif
