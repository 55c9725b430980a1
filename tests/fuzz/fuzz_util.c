/* fuzz_util.c — helpers shared by the fuzz targets (fuzz.h): input copies,
 * a per-process scratch directory, and the invariant-failure hook. */
#include "fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "harness/util/util.h"

void (*db_fuzz_fail_hook)(const char *msg);

void db_fuzz_fail(const char *file, int line, const char *fmt, ...) {
    char msg[1024];
    int k = snprintf(msg, sizeof msg, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
    va_end(ap);
    if (db_fuzz_fail_hook) {
        db_fuzz_fail_hook(msg);
        return;
    }
    fprintf(stderr, "fuzz invariant broken: %s\n", msg);
    abort();
}

char *db_fuzz_str(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return NULL;
    if (size) memcpy(s, data, size);
    s[size] = 0;
    return s;
}

int db_fuzz_split(const uint8_t *data, size_t size, char **a, char **b) {
    const uint8_t *z = size ? memchr(data, 0, size) : NULL;
    size_t na = z ? (size_t)(z - data) : size;
    *a = db_fuzz_str(data, na);
    *b = z ? db_fuzz_str(z + 1, size - na - 1) : NULL;
    if (!*a || (z && !*b)) {
        free(*a);
        free(*b);
        *a = *b = NULL;
        return -1;
    }
    return 0;
}

static char tmpdir[256];

static void rm_tmpdir(void) {
    if (!tmpdir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) { /* nothing more to do */ }
}

const char *db_fuzz_tmpdir(void) {
    if (!tmpdir[0]) {
        /* memory-backed when there is one: the merge target writes databases per input */
        const char *t = getenv("TMPDIR");
        if (!t || !*t) t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(tmpdir, sizeof tmpdir, "%s/decobench-fuzz.XXXXXX", t);
        if (!mkdtemp(tmpdir)) {
            perror("decobench fuzz: mkdtemp");
            abort();
        }
        atexit(rm_tmpdir);
    }
    return tmpdir;
}

const char *db_fuzz_write(const char *name, const uint8_t *data, size_t size) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", db_fuzz_tmpdir(), name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return NULL;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) { close(fd); return NULL; }
        off += (size_t)w;
    }
    close(fd);
    return path;
}

int db_fuzz_names_device(const char *text) {
    static const char *const bad[] = { "/dev", "/proc", "/sys", "/run", "fd/", "\\u", "\\/", NULL };
    for (int i = 0; bad[i]; i++)
        if (strstr(text, bad[i])) return 1;
    return 0;
}
