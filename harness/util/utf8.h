/* utf8.h — UTF-8 decoding, encoding and validation for the whole harness:
 * the regex front end (harness/constraint/regex_parse.c), the JSON Schema
 * validator (string lengths) and the schema -> GBNF converter (literals),
 * and util.c's JSON string writer all read and write UTF-8 through here.
 *
 * Two notions of "valid" are kept apart on purpose:
 *   db_utf8_decode  reads the shape of a sequence only (a lead byte and its
 *                   continuation bytes; overlong forms and surrogates pass),
 *                   as the regex and schema code always has;
 *   db_utf8_valid   is strict (RFC 3629: no overlong forms, no surrogates,
 *                   nothing above U+10FFFF), for text written out as JSON. */
#ifndef DECOBENCH_UTF8_H
#define DECOBENCH_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define DB_UTF8_REPLACEMENT 0xFFFDu

/* Decode the sequence at s (n > 0 bytes available).  Returns its length
 * (1..4) with *cp set when the lead byte and its continuation bytes are
 * well-formed; otherwise 0, *cp = U+FFFD, and *prefix (when not NULL) = the
 * bytes of the ill-formed sequence that looked right (the lead byte and the
 * continuation bytes before the first bad or missing one, at least 1).
 * Callers choose how far to skip after a bad sequence: one byte, or the
 * whole prefix. */
int db_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, size_t *prefix);

/* Decode the NUL-terminated s into a malloc'd array of code points (*n_out
 * of them); an ill-formed sequence becomes one U+FFFD and decoding resumes
 * at the next byte.  NULL when out of memory. */
uint32_t *db_utf8_decode_all(const char *s, int *n_out);

/* Number of code points in s counted by lead bytes (continuation bytes
 * 10xxxxxx are not counted), as JSON Schema's minLength/maxLength do. */
long db_utf8_length(const char *s);

/* Encode cp (any value below 0x110000, surrogates included) into o; returns
 * the byte count 1..4. */
int db_utf8_encode(uint32_t cp, unsigned char *o);

/* Length of a strictly valid UTF-8 sequence at s (at most n bytes), or 0. */
size_t db_utf8_valid(const unsigned char *s, size_t n);

#endif
