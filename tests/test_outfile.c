/* test_outfile.c — the `-o` rules and safe temporary files of
 * harness/util/outfile.c (S7 findings 8 and 13): a new file; a regular file
 * replaced with its mode kept; a symlink followed (the link stays, its
 * target is replaced); /dev/null and a FIFO written through and still a
 * character device / FIFO afterwards; "-" is standard output; a directory,
 * a read-only directory and a failed write leave no temporary file and the
 * old contents; mkstemp temporaries; the cache directory's checks.
 */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/util/outfile.h"
#include "harness/util/util.h"

static char *tpath(const char *name) {
    return db_path_join(db_test_tmpdir(), name);
}

static char *slurp(const char *path) {
    char err[256];
    return db_read_file(path, NULL, err, sizeof err);
}

/* entries of dir (without . and ..) */
static int n_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static char *fresh_dir(const char *name) {
    char *d = tpath(name);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0) return d;
    mkdir(d, 0755);
    return d;
}

static void outfile_new_and_replace(void) {
    char err[512];
    char *dir = fresh_dir("of-reg");
    char *p = db_path_join(dir, "out.txt");
    mode_t mask = umask(022);
    CHECK_INT_EQ(db_output_write(p, "one\n", 4, err, sizeof err), 0);
    struct stat st1, st2;
    CHECK_INT_EQ(stat(p, &st1), 0);
    CHECK_INT_EQ(st1.st_mode & 07777, 0644);   /* 0666 minus the umask */
    char *t = slurp(p);
    CHECK_STR_EQ(t, "one\n");
    free(t);
    /* a regular file is replaced atomically and keeps its mode */
    CHECK_INT_EQ(chmod(p, 0640), 0);
    CHECK_INT_EQ(db_output_write(p, "two\n", 4, err, sizeof err), 0);
    CHECK_INT_EQ(stat(p, &st2), 0);
    CHECK_INT_EQ(st2.st_mode & 07777, 0640);
    CHECK(S_ISREG(st2.st_mode));
    t = slurp(p);
    CHECK_STR_EQ(t, "two\n");
    free(t);
    CHECK_INT_EQ(n_entries(dir), 1);   /* no temporary file left */
    umask(mask);
    /* a directory is refused, nothing left behind */
    CHECK_INT_EQ(db_output_write(dir, "x", 1, err, sizeof err), -1);
    CHECK_CONTAINS(err, "is a directory");
    CHECK_INT_EQ(n_entries(dir), 1);
    free(p);
    free(dir);
}

static void outfile_symlink_followed(void) {
    char err[512];
    char *dir = fresh_dir("of-link");
    char *target = db_path_join(dir, "real.txt"), *link = db_path_join(dir, "link.txt"),
         *link2 = db_path_join(dir, "link2.txt"), *dangling = db_path_join(dir, "dangling.txt"),
         *made = db_path_join(dir, "made.txt");
    CHECK_INT_EQ(db_output_write(target, "old", 3, err, sizeof err), 0);
    CHECK_INT_EQ(chmod(target, 0600), 0);
    CHECK_INT_EQ(symlink("real.txt", link), 0);   /* relative, resolved against the link's directory */
    CHECK_INT_EQ(symlink(link, link2), 0);        /* a chain */
    CHECK_INT_EQ(db_output_write(link2, "new", 3, err, sizeof err), 0);
    struct stat st;
    CHECK_INT_EQ(lstat(link, &st), 0);
    CHECK(S_ISLNK(st.st_mode));                   /* the links stay links */
    CHECK_INT_EQ(lstat(link2, &st), 0);
    CHECK(S_ISLNK(st.st_mode));
    CHECK_INT_EQ(lstat(target, &st), 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK_INT_EQ(st.st_mode & 07777, 0600);
    char *t = slurp(target);
    CHECK_STR_EQ(t, "new");
    free(t);
    /* a dangling link: the file it names is created */
    CHECK_INT_EQ(symlink("made.txt", dangling), 0);
    CHECK_INT_EQ(db_output_write(dangling, "made", 4, err, sizeof err), 0);
    CHECK_INT_EQ(lstat(dangling, &st), 0);
    CHECK(S_ISLNK(st.st_mode));
    t = slurp(made);
    CHECK_STR_EQ(t, "made");
    free(t);
    /* a loop is refused */
    char *la = db_path_join(dir, "la"), *lb = db_path_join(dir, "lb");
    CHECK_INT_EQ(symlink("lb", la), 0);
    CHECK_INT_EQ(symlink("la", lb), 0);
    CHECK_INT_EQ(db_output_write(la, "x", 1, err, sizeof err), -1);
    CHECK_CONTAINS(err, "too many levels of symbolic links");
    CHECK_INT_EQ(n_entries(dir), 7);
    free(la); free(lb);
    free(target); free(link); free(link2); free(dangling); free(made);
    free(dir);
}

static void outfile_devnull_stays(void) {
    char err[512];
    struct stat before, after;
    CHECK_INT_EQ(stat("/dev/null", &before), 0);
    CHECK(S_ISCHR(before.st_mode));
    CHECK_INT_EQ(db_output_write("/dev/null", "report\n", 7, err, sizeof err), 0);
    CHECK_INT_EQ(db_deliver_output("/dev/null", "report\n", 7, err, sizeof err), 0);
    CHECK_INT_EQ(stat("/dev/null", &after), 0);
    CHECK(S_ISCHR(after.st_mode));
    CHECK(after.st_rdev == before.st_rdev && after.st_ino == before.st_ino);
    /* through a symlink to it, too */
    char *dir = fresh_dir("of-null");
    char *link = db_path_join(dir, "null");
    CHECK_INT_EQ(symlink("/dev/null", link), 0);
    CHECK_INT_EQ(db_output_write(link, "x", 1, err, sizeof err), 0);
    CHECK_INT_EQ(stat("/dev/null", &after), 0);
    CHECK(S_ISCHR(after.st_mode));
    CHECK_INT_EQ(n_entries(dir), 1);
    CHECK_INT_EQ(n_entries("/dev") > 0, 1);
    free(link);
    free(dir);
}

static void outfile_fifo_written_through(void) {
    char err[512];
    char *dir = fresh_dir("of-fifo");
    char *fifo = db_path_join(dir, "pipe"), *got = db_path_join(dir, "got");
    CHECK_INT_EQ(mkfifo(fifo, 0600), 0);
    pid_t pid = fork();
    if (pid == 0) {   /* the reader: copy the FIFO into got */
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "cat '%s' > '%s'", fifo, got);
        _exit(system(cmd) == 0 ? 0 : 1);
    }
    CHECK(pid > 0);
    CHECK_INT_EQ(db_output_write(fifo, "through the fifo\n", 17, err, sizeof err), 0);
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct stat st;
    CHECK_INT_EQ(lstat(fifo, &st), 0);
    CHECK(S_ISFIFO(st.st_mode));
    char *t = slurp(got);
    CHECK_STR_EQ(t, "through the fifo\n");
    free(t);
    CHECK_INT_EQ(n_entries(dir), 2);
    free(fifo);
    free(got);
    free(dir);
}

static void outfile_dash_is_stdout(void) {
    char *p = tpath("of-stdout.txt");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0) _exit(3);
        char err[256];
        _exit(db_output_write("-", "to stdout\n", 10, err, sizeof err) == 0 ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *t = slurp(p);
    CHECK_STR_EQ(t, "to stdout\n");
    free(t);
    CHECK(!db_file_exists("-"));
    free(p);
}

/* run fn in a child (as nobody when root, so that permissions apply) */
static int in_child(bool drop, int (*fn)(const char *), const char *arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (drop && geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
        _exit(fn(arg));
    }
    int status = -1;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int write_big(const char *path) {
    char err[512];
    static char big[1 << 16];
    memset(big, 'x', sizeof big);
    int rc = db_output_write(path, big, sizeof big, err, sizeof err);
    if (rc == 0) return 0;
    fprintf(stderr, "    (expected) %s\n", err);
    return 1;
}

static int write_big_limited(const char *path) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = { 4096, 4096 };
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return 3;
    return write_big(path);
}

static void outfile_errors_leave_nothing(void) {
    char err[512];
    /* a write that fails half way (file size limit): old contents kept, no temporary file */
    char *dir = fresh_dir("of-fail");
    char *p = db_path_join(dir, "out.txt");
    CHECK_INT_EQ(db_output_write(p, "keep", 4, err, sizeof err), 0);
    CHECK_INT_EQ(in_child(false, write_big_limited, p), 1);
    char *t = slurp(p);
    CHECK_STR_EQ(t, "keep");
    free(t);
    CHECK_INT_EQ(n_entries(dir), 1);
    free(p);
    free(dir);
    /* a read-only directory: refused with one line, nothing changed, nothing left */
    char ro[] = "/tmp/decobench-ro-XXXXXX";
    CHECK(mkdtemp(ro) != NULL);
    char *q = db_path_join(ro, "out.txt");
    CHECK_INT_EQ(db_output_write(q, "keep", 4, err, sizeof err), 0);
    CHECK_INT_EQ(chmod(q, 0666), 0);
    CHECK_INT_EQ(chmod(ro, 0555), 0);
    CHECK_INT_EQ(in_child(true, write_big, q), 1);
    t = slurp(q);
    CHECK_STR_EQ(t, "keep");
    free(t);
    CHECK_INT_EQ(n_entries(ro), 1);
    chmod(ro, 0755);
    unlink(q);
    rmdir(ro);
    free(q);
}

static void tmp_create_is_private(void) {
    char err[512];
    char *dir = fresh_dir("of-tmp");
    char *final = db_path_join(dir, "model.gguf");
    /* a planted symlink at the old predictable names is never used */
    char *victim = db_path_join(dir, "victim"), *planted = db_path_join(dir, "model.gguf.tmp1");
    CHECK_INT_EQ(db_output_write(victim, "victim", 6, err, sizeof err), 0);
    CHECK_INT_EQ(symlink(victim, planted), 0);
    char *tmp = NULL;
    int fd = db_tmp_create(final, &tmp, err, sizeof err);
    CHECK(fd >= 0);
    if (fd >= 0) {
        struct stat st;
        CHECK_INT_EQ(fstat(fd, &st), 0);
        CHECK(S_ISREG(st.st_mode));
        CHECK_INT_EQ(st.st_mode & 07777, 0600);
        CHECK(strncmp(tmp, final, strlen(final)) == 0 && strlen(tmp) == strlen(final) + 10);
        CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    char *t = slurp(victim);
    CHECK_STR_EQ(t, "victim");
    free(t);
    free(victim); free(planted); free(final);
    free(dir);
}

static void cache_dir_checks(void) {
    char err[512];
    const char *old = getenv("DECOBENCH_CACHE_DIR");
    char *saved = old ? db_strdup(old) : NULL;
    char *base = fresh_dir("of-cache");
    char *c1 = db_path_join(base, "a/b/decobench");
    setenv("DECOBENCH_CACHE_DIR", c1, 1);
    char *got = db_cache_dir(err, sizeof err);
    CHECK_STR_EQ(got, c1);
    struct stat st;
    CHECK_INT_EQ(stat(c1, &st), 0);
    CHECK(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
    free(got);
    /* writable by others: refused */
    CHECK_INT_EQ(chmod(c1, 0777), 0);
    got = db_cache_dir(err, sizeof err);
    CHECK(got == NULL);
    CHECK_CONTAINS(err, "writable by group or others");
    free(got);
    /* XDG_CACHE_HOME (absolute) when DECOBENCH_CACHE_DIR is unset */
    unsetenv("DECOBENCH_CACHE_DIR");
    char *xdg = db_path_join(base, "xdg");
    const char *oldx = getenv("XDG_CACHE_HOME");
    char *savedx = oldx ? db_strdup(oldx) : NULL;
    setenv("XDG_CACHE_HOME", xdg, 1);
    got = db_cache_dir(err, sizeof err);
    char *want = db_path_join(xdg, "decobench");
    CHECK_STR_EQ(got, want);
    free(got);
    free(want);
    if (savedx) setenv("XDG_CACHE_HOME", savedx, 1);
    else unsetenv("XDG_CACHE_HOME");
    if (saved) setenv("DECOBENCH_CACHE_DIR", saved, 1);
    free(savedx);
    free(saved);
    free(xdg);
    free(c1);
    free(base);
}

void suite_outfile(void) {
    RUN(outfile_new_and_replace);
    RUN(outfile_symlink_followed);
    RUN(outfile_devnull_stays);
    RUN(outfile_fifo_written_through);
    RUN(outfile_dash_is_stdout);
    RUN(outfile_errors_leave_nothing);
    RUN(tmp_create_is_private);
    RUN(cache_dir_checks);
}
