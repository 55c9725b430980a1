/* util.h — small shared helpers: error strings, file reading, a growable
 * string buffer, JSON string escaping, wall-clock time.
 */
#ifndef DECOBENCH_UTIL_H
#define DECOBENCH_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* snprintf into err (if err && errlen); returns -1 so callers can `return db_errf(...)`. */
int db_errf(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

char *db_strdup(const char *s);              /* NULL-safe strdup */
char *db_strndup(const char *s, size_t n);
/* Whole file into a NUL-terminated malloc'd buffer; *len gets its size.
 * Returns NULL and fills err ("PATH: No such file or directory"). */
char *db_read_file(const char *path, size_t *len, char *err, size_t errlen);
bool db_file_exists(const char *path);
/* Directory part of path ("." when none), malloc'd. */
char *db_dirname(const char *path);
/* Join dir and a relative path (absolute paths returned as-is), malloc'd. */
char *db_path_join(const char *dir, const char *rel);

/* Growable string. */
typedef struct db_str {
    char *s;
    size_t len, cap;
} db_str;
void db_str_init(db_str *b);
void db_str_free(db_str *b);
int  db_str_append(db_str *b, const char *s);
int  db_str_appendn(db_str *b, const char *s, size_t n);
int  db_str_printf(db_str *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Append s as a JSON string literal (with quotes); invalid UTF-8 bytes become U+FFFD. */
int  db_str_json_string(db_str *b, const char *s, size_t n);
/* Take ownership of the buffer (never NULL on success). */
char *db_str_take(db_str *b);

/* Whole-string numbers for command-line options: 0, or -1 when s is not one
 * (db_parse_u64 refuses signs; db_parse_double refuses inf/nan). */
int db_parse_u64(const char *s, uint64_t *v);
int db_parse_double(const char *s, double *v);

int64_t db_unix_ms(void);      /* wall clock, ms since the epoch */
/* ISO-8601 UTC time for a unix-ms value, into buf (>= 25 bytes). */
void db_iso8601(int64_t unix_ms, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
