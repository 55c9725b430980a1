/* outfile.c — safe file output (see outfile.h): mkstemp temporaries renamed
 * into place, the `-o` rules (standard output, write-through to devices and
 * FIFOs, symlinks followed, mode and owner kept), and the cache directory. */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int db_tmp_create(const char *final_path, char **tmp_path, char *err, size_t errlen) {
    *tmp_path = NULL;
    size_t n = strlen(final_path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return db_errf(err, errlen, "%s: out of memory", final_path);
    snprintf(tmp, n, "%s.tmpXXXXXX", final_path);
    int fd = mkostemp(tmp, O_CLOEXEC);   /* O_CREAT|O_EXCL, 0600: never follows a planted link */
    if (fd < 0) {
        int e = errno;
        char *dir = db_dirname(final_path);
        db_errf(err, errlen, "%s: cannot create a temporary file in %s: %s", final_path, dir ? dir : ".",
                strerror(e));
        free(dir);
        free(tmp);
        return -1;
    }
    *tmp_path = tmp;
    return fd;
}

char *db_output_resolve(const char *path, char *err, size_t errlen) {
    char *cur = db_strdup(path);
    if (!cur) {
        db_errf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    for (int hops = 0; hops < 40; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;   /* missing, or not a link */
        char target[4096];
        ssize_t k = readlink(cur, target, sizeof target - 1);
        if (k < 0) {
            db_errf(err, errlen, "%s: %s", cur, strerror(errno));
            free(cur);
            return NULL;
        }
        target[k] = 0;
        char *next;
        if (target[0] == '/') {
            next = db_strdup(target);
        } else {
            char *dir = db_dirname(cur);
            next = dir ? db_path_join(dir, target) : NULL;
            free(dir);
        }
        free(cur);
        if (!next) {
            db_errf(err, errlen, "%s: out of memory", path);
            return NULL;
        }
        cur = next;
    }
    db_errf(err, errlen, "%s: too many levels of symbolic links", path);
    free(cur);
    return NULL;
}

int db_outfile_open(db_outfile *o, const char *path, char *err, size_t errlen) {
    memset(o, 0, sizeof *o);
    o->fd = -1;
    if (!path || strcmp(path, "-") == 0) {
        o->f = stdout;
        o->is_stdout = true;
        return 0;
    }
    if (!*path) return db_errf(err, errlen, "empty output path");
    o->real = db_output_resolve(path, err, errlen);
    if (!o->real) return -1;
    struct stat st;
    if (stat(o->real, &st) != 0) {
        if (errno != ENOENT) {
            db_errf(err, errlen, "%s: %s", o->real, strerror(errno));
            goto fail;
        }
    } else if (S_ISREG(st.st_mode)) {
        o->old = st;
        o->have_old = true;
    } else if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
        /* an existing character device or FIFO: write into it, never replace it */
        o->fd = open(o->real, O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (o->fd < 0) {
            db_errf(err, errlen, "%s: cannot open: %s", o->real, strerror(errno));
            goto fail;
        }
        if (fstat(o->fd, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
            db_errf(err, errlen, "%s: changed while it was opened; nothing written", o->real);
            goto fail;
        }
        o->through = true;
    } else if (S_ISDIR(st.st_mode)) {
        db_errf(err, errlen, "%s: is a directory", o->real);
        goto fail;
    } else {
        db_errf(err, errlen, "%s: not a regular file, character device or FIFO; nothing written", o->real);
        goto fail;
    }
    if (!o->through) {
        /* a new or regular file: temporary file in the same directory, renamed at commit */
        o->fd = db_tmp_create(o->real, &o->tmp, err, errlen);
        if (o->fd < 0) goto fail;
    }
    o->f = fdopen(o->fd, "wb");
    if (!o->f) {
        db_errf(err, errlen, "%s: %s", o->real, strerror(errno));
        goto fail;
    }
    o->fd = -1;   /* owned by f now */
    return 0;
fail:
    db_outfile_abort(o);
    return -1;
}

void db_outfile_abort(db_outfile *o) {
    if (o->f && !o->is_stdout) fclose(o->f);
    else if (o->fd >= 0) close(o->fd);
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    free(o->real);
    memset(o, 0, sizeof *o);
    o->fd = -1;
}

int db_outfile_commit(db_outfile *o, char *err, size_t errlen) {
    if (o->is_stdout) {
        int bad = ferror(stdout) || fflush(stdout) != 0;
        memset(o, 0, sizeof *o);
        o->fd = -1;
        return bad ? db_errf(err, errlen, "standard output: write error: %s", strerror(errno)) : 0;
    }
    int e = 0;
    const char *what = "write failed";
    if (fflush(o->f) != 0 || ferror(o->f)) e = errno ? errno : EIO;
    if (!e && o->tmp) {
        int fd = fileno(o->f);
        mode_t mode;
        if (o->have_old) {
            /* keep the replaced file's owner (root may give it away) and group, then its mode */
            if (geteuid() == 0) (void)!fchown(fd, o->old.st_uid, o->old.st_gid);
            else if (o->old.st_gid != getegid()) (void)!fchown(fd, (uid_t)-1, o->old.st_gid);
            mode = o->old.st_mode & 07777;
        } else {
            mode_t mask = umask(0);
            umask(mask);
            mode = 0666 & ~mask;
        }
        if (fchmod(fd, mode) != 0) { e = errno; what = "cannot set the mode"; }
    }
    int c = fclose(o->f);
    o->f = NULL;
    if (c != 0 && !e) e = errno;
    if (!e && o->tmp && rename(o->tmp, o->real) != 0) { e = errno; what = "cannot replace"; }
    int rc = e ? db_errf(err, errlen, "%s: %s: %s", o->real, what, strerror(e)) : 0;
    if (e && o->tmp) unlink(o->tmp);
    free(o->tmp);
    free(o->real);
    memset(o, 0, sizeof *o);
    o->fd = -1;
    return rc;
}

int db_output_write(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    db_outfile o;
    if (db_outfile_open(&o, path, err, errlen) != 0) return -1;
    if (len && fwrite(data, 1, len, o.f) != len) {
        int e = errno;
        char *name = db_strdup(o.real ? o.real : "standard output");
        db_outfile_abort(&o);
        db_errf(err, errlen, "%s: write failed: %s", name ? name : path, strerror(e));
        free(name);
        return -1;
    }
    return db_outfile_commit(&o, err, errlen);
}

static int mkdir_p(char *dir) {
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int r = mkdir(dir, 0700);
        *p = '/';
        if (r != 0 && errno != EEXIST) return -1;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -1;
    return 0;
}

char *db_cache_dir(char *err, size_t errlen) {
    const char *env = getenv("DECOBENCH_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    db_str b;
    db_str_init(&b);
    int rc;
    if (env && *env) rc = db_str_append(&b, env);
    else if (xdg && xdg[0] == '/') rc = db_str_printf(&b, "%s/decobench", xdg);   /* XDG: relative ones are ignored */
    else if (home && *home) rc = db_str_printf(&b, "%s/.cache/decobench", home);
    else {
        db_errf(err, errlen, "no cache directory: set DECOBENCH_CACHE_DIR (or HOME)");
        return NULL;
    }
    char *dir = rc == 0 ? db_str_take(&b) : NULL;
    if (!dir) {
        db_str_free(&b);
        db_errf(err, errlen, "cache directory: out of memory");
        return NULL;
    }
    struct stat st;
    const char *why = NULL;
    if (mkdir_p(dir) != 0 || stat(dir, &st) != 0) why = strerror(errno);
    else if (!S_ISDIR(st.st_mode)) why = "not a directory";
    else if (st.st_uid != geteuid()) why = "owned by another user";
    else if (st.st_mode & 022) why = "writable by group or others (chmod go-w it)";
    if (why) {
        db_errf(err, errlen, "cache directory %s: %s", dir, why);
        free(dir);
        return NULL;
    }
    return dir;
}

int db_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    return db_output_write(path, data, len, err, errlen);
}

int db_deliver_output(const char *path, const char *buf, size_t len, char *err, size_t errlen) {
    return db_output_write(path, buf, len, err, errlen);   /* NULL or "-": stdout */
}
