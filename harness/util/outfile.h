/* outfile.h — safe file output: temporary files created with mkstemp in the
 * destination's directory and renamed into place, the rules of every
 * command's `-o FILE`, and the per-user cache directory of derived files.
 *
 * `-o` rules (db_output_write):
 *   "-"                     standard output;
 *   a missing path          a new file (mode 0666 minus the umask), written
 *                           to a temporary file in its directory and renamed;
 *   a regular file          replaced atomically the same way, keeping its
 *                           permission bits (and its owner and group when
 *                           run as root);
 *   a character device or   written straight through (opened without
 *   a FIFO                  O_CREAT/O_TRUNC), never replaced: /dev/null
 *                           stays the null device;
 *   a symbolic link         followed (up to 40 links): the file it names is
 *                           written by these rules, the link itself stays;
 *   anything else           (directory, block device, socket) refused.
 * A temporary file is removed on every error path.
 */
#ifndef DECOBENCH_OUTFILE_H
#define DECOBENCH_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Create "<final_path>.tmpXXXXXX" with mkostemp (O_EXCL, mode 0600,
 * close-on-exec) in final_path's directory.  Returns the descriptor and sets
 * *tmp_path (malloc'd), or -1 with one line in err. */
int db_tmp_create(const char *final_path, char **tmp_path, char *err, size_t errlen);

/* The path -o should act on: path itself, or the file a chain of symbolic
 * links ends at (which may be missing).  malloc'd, or NULL with err. */
char *db_output_resolve(const char *path, char *err, size_t errlen);

/* An output being written by the `-o` rules above: write to f, then
 * db_outfile_commit (flush, keep mode/owner, rename into place) or
 * db_outfile_abort (close, remove the temporary file). */
typedef struct db_outfile {
    FILE *f;
    int fd;               /* internal */
    char *real;           /* the path written (symlinks followed); NULL for stdout */
    char *tmp;            /* temporary file renamed at commit; NULL when written through */
    bool is_stdout, through, have_old;
    struct stat old;      /* the replaced regular file (have_old) */
} db_outfile;
int  db_outfile_open(db_outfile *o, const char *path, char *err, size_t errlen);
int  db_outfile_commit(db_outfile *o, char *err, size_t errlen);
void db_outfile_abort(db_outfile *o);

/* Write len bytes to path by the `-o` rules above.  Returns 0, or -1 with
 * one line in err ("PATH: ..."). */
int db_output_write(const char *path, const void *data, size_t len, char *err, size_t errlen);
/* Write a file by the -o rules above (a regular or missing file: temp file
 * + rename; a device or FIFO: written through).  0 or -1 + err. */
int db_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);
/* Deliver a command's finished output: to path by the -o rules above, or
 * to stdout when path is NULL or "-".  Returns 0, or -1 with one line in err. */
int db_deliver_output(const char *path, const char *buf, size_t len, char *err, size_t errlen);

/* The per-user cache directory: $DECOBENCH_CACHE_DIR, else
 * $XDG_CACHE_HOME/decobench, else $HOME/.cache/decobench; created (mode
 * 0700) when missing.  Refused unless it is a directory owned by the
 * effective user that neither group nor others may write.  malloc'd, or
 * NULL with err. */
char *db_cache_dir(char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
