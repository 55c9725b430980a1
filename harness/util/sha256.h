/* sha256.h — the SHA-256 of a file or a buffer (harness/util/sha256.c, libcrypto). */
#ifndef DECOBENCH_SHA256_H
#define DECOBENCH_SHA256_H

#include <stddef.h>

/* sha256 of the file at path as lowercase hex (65 bytes with the NUL).
 * Returns 0, or -1 with one line in err naming the file and the problem. */
int db_sha256_file(const char *path, char hex[65], char *err, size_t errlen);

/* sha256 of len bytes at data as lowercase hex.  Returns 0, or -1 when
 * libcrypto fails (out of memory). */
int db_sha256_buf(const void *data, size_t len, char hex[65]);

#endif
