/* test_server_proc.c — harness/run/server_proc.h against real processes:
 * tests/serve/health_server.py (python3) and /bin/sh one-liners on
 * 127.0.0.1.  Free ports, readiness (after a delay, never, an early exit
 * with its status and last log line), start errors that leave no child,
 * the log file (0600, appended, the server's output), the extra
 * environment, stop by SIGTERM and by SIGKILL after the grace period for
 * the whole process group, PR_SET_PDEATHSIG, and cancelling the wait.
 * Timings are checked only as generous bounds. */
#include "test.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/run/server_proc.h"
#include "harness/util/util.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool on_path(const char *name) {
    const char *path = getenv("PATH");
    if (!path) return false;
    char *copy = db_strdup(path), *save = NULL;
    bool found = false;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        char full[1024];
        snprintf(full, sizeof full, "%s/%s", dir, name);
        found = access(full, X_OK) == 0;
    }
    free(copy);
    return found;
}

static const char *script(void) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/tests/serve/health_server.py", db_test_srcdir());
    return path;
}

static bool need_python(void) {
    if (on_path("python3") && access(script(), R_OK) == 0) return true;
    db_test_skip("python3 or tests/serve/health_server.py not found");
    return false;
}

static void tmp_path(char *buf, size_t len, const char *name) {
    snprintf(buf, len, "%s/server_proc_%s", db_test_tmpdir(), name);
}

/* Gone: no such process, or a zombie (reparented to an init that may not
 * reap). */
static bool proc_gone(pid_t pid) {
    if (kill(pid, 0) == -1 && errno == ESRCH) return true;
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && (rp[2] == 'Z' || rp[2] == 'X');
}

static bool wait_proc_gone(pid_t pid, double secs) {
    double end = now_s() + secs;
    while (!proc_gone(pid)) {
        if (now_s() > end) return false;
        sleep_s(0.02);
    }
    return true;
}

/* Processes whose parent is this one (zombies included). */
static int count_children(void) {
    DIR *d = opendir("/proc");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *rp = strrchr(buf, ')');
        char state;
        long ppid;
        if (rp && sscanf(rp + 1, " %c %ld", &state, &ppid) == 2 && ppid == (long)getpid()) n++;
    }
    closedir(d);
    return n;
}

static size_t discard(char *p, size_t s, size_t n, void *ud) {
    (void)p;
    (void)ud;
    return s * n;
}

static long http_get(const char *url) {
    CURL *c = curl_easy_init();
    if (!c) return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    long code = -1;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

/* Start health_server.py MODE on a free port. */
static db_server *start_health(const char *mode, const char *arg, const char *log_path, const char *const *env,
                               double ready_timeout_s, double grace_s, char *err, size_t errlen) {
    int port = 0;
    if (db_server_free_port(&port, err, errlen) != 0) return NULL;
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    const char *argv[] = { "python3", script(), mode, port_s, arg, NULL };
    db_server_params p = db_server_default_params();
    p.argv = argv;
    p.env = env;
    p.log_path = log_path;
    p.port = port;
    p.ready_timeout_s = ready_timeout_s;
    p.stop_grace_s = grace_s;
    db_server *s = NULL;
    if (db_server_start(&p, &s, err, errlen) != 0) return NULL;
    return s;
}

/* Start a /bin/sh -c SCRIPT [ARG] that is told a port it never uses. */
static db_server *start_sh(const char *sh, const char *arg, const char *log_path, char *err, size_t errlen) {
    const char *argv[] = { "/bin/sh", "-c", sh, arg, NULL };
    db_server_params p = db_server_default_params();
    p.argv = argv;
    p.log_path = log_path;
    p.port = 9;   /* discard: nothing listens */
    p.ready_timeout_s = 30;
    db_server *s = NULL;
    if (db_server_start(&p, &s, err, errlen) != 0) return NULL;
    return s;
}

static void test_defaults(void) {
    db_server_params p = db_server_default_params();
    CHECK(p.argv == NULL);
    CHECK(p.env == NULL);
    CHECK(p.log_path == NULL);
    CHECK_STR_EQ(p.health_path, "/health");
    CHECK_INT_EQ(p.port, 0);
    CHECK_NEAR(p.ready_timeout_s, 120, 0);
    CHECK_NEAR(p.stop_grace_s, 10, 0);

    char desc[128] = "x";
    db_server_stop(NULL, desc, sizeof desc);   /* a no-op that clears desc */
    CHECK_STR_EQ(desc, "");
    CHECK(!db_server_alive(NULL));
}

static void test_free_port(void) {
    char err[256] = "";
    int ports[2] = { 0, 0 };
    for (int i = 0; i < 2; i++) {
        CHECK_INT_EQ(db_server_free_port(&ports[i], err, sizeof err), 0);
        CHECK_MSG(ports[i] >= 1 && ports[i] <= 65535, "port %d", ports[i]);
        /* the port can be bound and listened on at 127.0.0.1 */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons((unsigned short)ports[i]);
        CHECK_MSG(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind 127.0.0.1:%d: %s", ports[i], strerror(errno));
        CHECK_INT_EQ(listen(fd, 1), 0);
        close(fd);
    }
}

static void test_ready_after_delay(void) {
    if (!need_python()) return;
    char err[512] = "", log_path[512], desc[128] = "";
    tmp_path(log_path, sizeof log_path, "ready.log");
    unlink(log_path);
    setenv("DB_TEST_OVERRIDE", "parent", 1);
    const char *env[] = { "DB_TEST_ECHO=hello from the test", "DB_TEST_OVERRIDE=child", NULL };
    mode_t old_mask = umask(0);   /* 0600 comes from the open, not from the umask */
    double t0 = now_s();
    db_server *s = start_health("ready", "0.5", log_path, env, 60, 10, err, sizeof err);
    umask(old_mask);
    unsetenv("DB_TEST_OVERRIDE");
    CHECK_MSG(s != NULL, "start: %s", err);
    if (!s) return;
    CHECK(db_server_pid(s) > 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", db_server_port(s));
    CHECK_STR_EQ(db_server_base_url(s), url);

    int rc = db_server_wait_ready(s, NULL, err, sizeof err);
    double dt = now_s() - t0;
    CHECK_MSG(rc == 0, "wait_ready %d: %s", rc, err);
    /* 200 only 0.5 s after the server started, which was after t0 */
    CHECK_MSG(dt >= 0.5 && dt < 60, "ready after %.3f s", dt);
    CHECK(db_server_alive(s));
    char get[128];
    snprintf(get, sizeof get, "%s/health", db_server_base_url(s));
    CHECK_INT_EQ(http_get(get), 200);
    snprintf(get, sizeof get, "%s/nothing-here", db_server_base_url(s));
    CHECK_INT_EQ(http_get(get), 503);

    struct stat st;
    CHECK_INT_EQ(stat(log_path, &st), 0);
    CHECK_INT_EQ(st.st_mode & 07777, 0600);
    size_t len = 0;
    char *log = db_read_file(log_path, &len, err, sizeof err);
    char line[128];
    snprintf(line, sizeof line, "health_server ready port %d pid %ld\n", db_server_port(s), (long)db_server_pid(s));
    CHECK_CONTAINS(log, line);
    CHECK_CONTAINS(log, "env DB_TEST_ECHO=hello from the test\n");
    CHECK_CONTAINS(log, "env DB_TEST_OVERRIDE=child\n");
    CHECK(log && !strstr(log, "=parent"));
    free(log);

    pid_t pid = db_server_pid(s);
    db_server_stop(s, desc, sizeof desc);
    CHECK_STR_EQ(desc, "killed by signal 15");
    CHECK(kill(pid, 0) == -1 && errno == ESRCH);   /* reaped */
}

static void test_never_ready(void) {
    if (!need_python()) return;
    char err[512] = "", desc[128] = "";
    db_server *s = start_health("never", NULL, NULL, NULL, 2.0, 10, err, sizeof err);
    CHECK_MSG(s != NULL, "start: %s", err);
    if (!s) return;
    double t0 = now_s();
    int rc = db_server_wait_ready(s, NULL, err, sizeof err);
    double dt = now_s() - t0;
    CHECK_INT_EQ(rc, -1);
    CHECK_STR_EQ(err, "not ready after 2 s (GET /health: last answer HTTP 503)");
    CHECK_MSG(dt >= 1.99 && dt < 20, "gave up after %.3f s", dt);
    CHECK(db_server_alive(s));   /* left running */
    db_server_stop(s, desc, sizeof desc);
    CHECK_STR_EQ(desc, "killed by signal 15");
}

static void test_exits_before_ready(void) {
    if (!need_python()) return;
    char err[512] = "", log_path[512], desc[128] = "";
    tmp_path(log_path, sizeof log_path, "exit.log");
    FILE *f = fopen(log_path, "w");
    fputs("old line from an earlier run\n", f);
    fclose(f);
    db_server *s = start_health("exit", NULL, log_path, NULL, 60, 10, err, sizeof err);
    CHECK_MSG(s != NULL, "start: %s", err);
    if (!s) return;
    double t0 = now_s();
    int rc = db_server_wait_ready(s, NULL, err, sizeof err);
    double dt = now_s() - t0;
    CHECK_INT_EQ(rc, -1);
    CHECK_STR_EQ(err, "server exited with status 3 before it was ready; last log line: "
                      "error: failed to load model '/nonexistent/model.gguf'");
    CHECK_MSG(dt < 30, "noticed the exit after %.3f s (timeout 60)", dt);
    CHECK(!db_server_alive(s));
    size_t len = 0;
    char *log = db_read_file(log_path, &len, err, sizeof err);
    CHECK(log && strncmp(log, "old line from an earlier run\nhealth_server exit port ", 53) == 0);   /* appended */
    free(log);
    db_server_stop(s, desc, sizeof desc);
    CHECK_STR_EQ(desc, "exited with status 3 before the stop");
}

/* The last log line: only what this server wrote, sanitized, cut. */
static void test_last_log_line(void) {
    char err[512] = "", log_path[512], desc[128] = "";
    tmp_path(log_path, sizeof log_path, "tail.log");
    FILE *f = fopen(log_path, "w");
    fputs("old line from an earlier run\n", f);
    fclose(f);

    struct { const char *sh, *arg, *want_err, *want_desc; } cases[] = {
        { "exit 4", NULL, "server exited with status 4 before it was ready; last log line: (none)",
          "exited with status 4 before the stop" },
        { "printf 'first\\n\\033[31mred \\001text\\033[0m\\r\\n\\n   \\n'; exit 5", NULL,
          "server exited with status 5 before it was ready; last log line: red ?text",
          "exited with status 5 before the stop" },
        { "printf 'loading 10%%\\rloading 100%%\\r'; exit 6", NULL,
          "server exited with status 6 before it was ready; last log line: loading 100%",
          "exited with status 6 before the stop" },
        { "echo 'about to die' >&2; kill -9 $$", NULL,
          "server killed by signal 9 before it was ready; last log line: about to die",
          "killed by signal 9 before the stop" },
        { "printf '%s\\n' \"$0\"; exit 1", NULL, NULL, "exited with status 1 before the stop" },
        { "printf '%s\\n' \"$0\"; exit 1", NULL, NULL, "exited with status 1 before the stop" },
    };
    /* a 300-byte line is cut at 200 bytes; a 2-byte UTF-8 character that
     * the cut would split is dropped whole */
    char long_line[301], utf8_line[256], want_long[300], want_utf8[300];
    memset(long_line, 'x', 300);
    long_line[300] = '\0';
    memset(utf8_line, 'a', 199);
    strcpy(utf8_line + 199, "\xc3\xa9\xc3\xa9");
    snprintf(want_long, sizeof want_long, "server exited with status 1 before it was ready; last log line: %.200s...",
             long_line);
    snprintf(want_utf8, sizeof want_utf8, "server exited with status 1 before it was ready; last log line: %.199s...",
             utf8_line);
    cases[4].arg = long_line;
    cases[4].want_err = want_long;
    cases[5].arg = utf8_line;
    cases[5].want_err = want_utf8;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        db_server *s = start_sh(cases[i].sh, cases[i].arg, log_path, err, sizeof err);
        CHECK_MSG(s != NULL, "case %zu start: %s", i, err);
        if (!s) continue;
        int rc = db_server_wait_ready(s, NULL, err, sizeof err);
        CHECK_INT_EQ(rc, -1);
        CHECK_STR_EQ(err, cases[i].want_err);
        db_server_stop(s, desc, sizeof desc);
        CHECK_STR_EQ(desc, cases[i].want_desc);
    }
    /* without a log file */
    db_server *s = start_sh("echo lost; exit 2", NULL, NULL, err, sizeof err);
    CHECK_MSG(s != NULL, "start: %s", err);
    if (s) {
        CHECK_INT_EQ(db_server_wait_ready(s, NULL, err, sizeof err), -1);
        CHECK_STR_EQ(err, "server exited with status 2 before it was ready; last log line: "
                          "(none: the output went to /dev/null)");
        db_server_stop(s, desc, sizeof desc);
    }
}

static int try_start(const char *const *argv, const char *const *env, const char *log_path, char *err, size_t errlen) {
    db_server_params p = db_server_default_params();
    p.argv = argv;
    p.env = env;
    p.log_path = log_path;
    p.port = 9;
    db_server *s = (db_server *)0x1;
    int rc = db_server_start(&p, &s, err, errlen);
    if (rc == 0) db_server_stop(s, NULL, 0);
    else CHECK(s == NULL);
    return rc;
}

/* Start errors: a clear line, and no child left (not even a zombie). */
static void test_start_errors(void) {
    char err[512] = "", path[512], line[1024];
    int kids = count_children();
    CHECK(kids >= 0);

    const char *nf[] = { "decobench-no-such-server-xyz", "-m", "x.gguf", NULL };
    CHECK_INT_EQ(try_start(nf, NULL, NULL, err, sizeof err), -1);
    CHECK_STR_EQ(err, "decobench-no-such-server-xyz: command not found on PATH");

    tmp_path(path, sizeof path, "nodir/none");
    const char *abs_nf[] = { path, NULL };
    CHECK_INT_EQ(try_start(abs_nf, NULL, NULL, err, sizeof err), -1);
    snprintf(line, sizeof line, "%s: No such file or directory", path);
    CHECK_STR_EQ(err, line);

    /* a file without the x bit: by path, and found on PATH */
    tmp_path(path, sizeof path, "bin");
    mkdir(path, 0755);
    tmp_path(path, sizeof path, "bin/db-notexec-server");
    FILE *f = fopen(path, "w");
    fputs("#!/bin/sh\nexit 0\n", f);
    fclose(f);
    chmod(path, 0644);
    const char *ne[] = { path, NULL };
    CHECK_INT_EQ(try_start(ne, NULL, NULL, err, sizeof err), -1);
    snprintf(line, sizeof line, "%s: not executable", path);
    CHECK_STR_EQ(err, line);
    char *old_path = db_strdup(getenv("PATH"));
    char dir[512];
    tmp_path(dir, sizeof dir, "bin");
    setenv("PATH", dir, 1);
    const char *ne2[] = { "db-notexec-server", NULL };
    CHECK_INT_EQ(try_start(ne2, NULL, NULL, err, sizeof err), -1);
    snprintf(line, sizeof line, "db-notexec-server: found on PATH at %s but not executable", path);
    CHECK_STR_EQ(err, line);
    setenv("PATH", old_path, 1);
    free(old_path);

    /* a directory */
    const char *d[] = { dir, NULL };
    CHECK_INT_EQ(try_start(d, NULL, NULL, err, sizeof err), -1);
    snprintf(line, sizeof line, "%s: is a directory", dir);
    CHECK_STR_EQ(err, line);

    /* execve itself fails (a missing interpreter): reported from the child */
    tmp_path(path, sizeof path, "bin/db-bad-interp");
    f = fopen(path, "w");
    fputs("#!/nonexistent/interpreter\n", f);
    fclose(f);
    chmod(path, 0755);
    const char *bi[] = { path, NULL };
    CHECK_INT_EQ(try_start(bi, NULL, NULL, err, sizeof err), -1);
    snprintf(line, sizeof line, "%s: cannot execute: No such file or directory", path);
    CHECK_STR_EQ(err, line);

    /* a log file that cannot be created */
    char log_path[512];
    tmp_path(log_path, sizeof log_path, "nodir/server.log");
    const char *sh[] = { "/bin/sh", "-c", "exit 0", NULL };
    CHECK_INT_EQ(try_start(sh, NULL, log_path, err, sizeof err), -1);
    snprintf(line, sizeof line, "server log %s: No such file or directory", log_path);
    CHECK_STR_EQ(err, line);

    /* a malformed environment entry */
    const char *bad_env[] = { "GOOD=1", "NOEQUALS", NULL };
    CHECK_INT_EQ(try_start(sh, bad_env, NULL, err, sizeof err), -1);
    CHECK_STR_EQ(err, "server environment entry 'NOEQUALS' is not NAME=VALUE");

    /* bad parameters */
    db_server_params p = db_server_default_params();
    db_server *s = NULL;
    p.argv = sh;
    CHECK_INT_EQ(db_server_start(&p, &s, err, sizeof err), -1);   /* port 0 */
    CHECK_STR_EQ(err, "server port 0: not in 1..65535");
    p.port = 9;
    p.health_path = "health";
    CHECK_INT_EQ(db_server_start(&p, &s, err, sizeof err), -1);
    CHECK_STR_EQ(err, "health path 'health' does not start with '/'");
    const char *empty[] = { NULL };
    p.argv = empty;
    CHECK_INT_EQ(db_server_start(&p, &s, err, sizeof err), -1);
    CHECK(s == NULL);

    CHECK_INT_EQ(count_children(), kids);
}

static void test_stop_sigkill_after_grace(void) {
    if (!need_python()) return;
    char err[512] = "", desc[128] = "";
    db_server *s = start_health("ignore-term", NULL, NULL, NULL, 60, 0.5, err, sizeof err);
    CHECK_MSG(s != NULL, "start: %s", err);
    if (!s) return;
    CHECK_MSG(db_server_wait_ready(s, NULL, err, sizeof err) == 0, "wait_ready: %s", err);
    pid_t pid = db_server_pid(s);
    double t0 = now_s();
    db_server_stop(s, desc, sizeof desc);
    double dt = now_s() - t0;
    CHECK_STR_EQ(desc, "killed by signal 9 after the grace period");
    CHECK_MSG(dt >= 0.49 && dt < 15, "stop took %.3f s (grace 0.5 s)", dt);
    CHECK(kill(pid, 0) == -1 && errno == ESRCH);
}

/* The child pid health_server.py logged ("child pid N"), or -1. */
static pid_t logged_child(const char *log_path) {
    char err[256];
    size_t len;
    pid_t pid = -1;
    for (int i = 0; i < 250 && pid < 0; i++) {
        char *log = db_read_file(log_path, &len, err, sizeof err);
        const char *at = log ? strstr(log, "child pid ") : NULL;
        if (at) pid = (pid_t)atol(at + 10);
        free(log);
        if (pid < 0) sleep_s(0.02);
    }
    return pid;
}

/* The server's own children are stopped with it (its process group). */
static void test_stop_process_group(void) {
    if (!need_python()) return;
    const char *modes[] = { "child", "child-ignore-term" };
    const char *want[] = { "killed by signal 15",
                           "killed by signal 15; the rest of its process group was killed after the grace period" };
    for (int m = 0; m < 2; m++) {
        char err[512] = "", desc[160] = "", log_path[512];
        tmp_path(log_path, sizeof log_path, modes[m]);
        unlink(log_path);
        db_server *s = start_health(modes[m], NULL, log_path, NULL, 60, 0.5, err, sizeof err);
        CHECK_MSG(s != NULL, "start: %s", err);
        if (!s) continue;
        CHECK_MSG(db_server_wait_ready(s, NULL, err, sizeof err) == 0, "wait_ready: %s", err);
        pid_t child = logged_child(log_path);
        CHECK_MSG(child > 0, "%s: no child pid in the log", modes[m]);
        CHECK(child > 0 && !proc_gone(child));
        db_server_stop(s, desc, sizeof desc);
        CHECK_STR_EQ(desc, want[m]);
        if (child > 0) {
            bool gone = proc_gone(child);   /* at once: stop waited for the group */
            CHECK_MSG(gone, "%s: the server's child %ld outlived the stop", modes[m], (long)child);
            if (!gone) kill(child, SIGKILL);
        }
    }
}

/* decobench dies without stopping its server: PR_SET_PDEATHSIG ends it. */
static void test_parent_death(void) {
    if (!need_python()) return;
    int fds[2];
    CHECK_INT_EQ(pipe(fds), 0);
    fflush(NULL);
    pid_t mid = fork();
    if (mid == 0) {
        close(fds[0]);
        char err[512];
        db_server *s = start_health("ready", "0", NULL, NULL, 60, 10, err, sizeof err);
        long pid = s ? (long)db_server_pid(s) : -1;
        ssize_t w = write(fds[1], &pid, sizeof pid);
        (void)w;
        _exit(0);   /* no stop */
    }
    close(fds[1]);
    long pid = -1;
    ssize_t n = read(fds[0], &pid, sizeof pid);
    close(fds[0]);
    int st = 0;
    waitpid(mid, &st, 0);
    CHECK_INT_EQ(n, (long)sizeof pid);
    CHECK_MSG(pid > 0, "the intermediate process could not start the server");
    if (n != sizeof pid || pid <= 0) return;
    bool gone = wait_proc_gone((pid_t)pid, 10);
    CHECK_MSG(gone, "server %ld still running 10 s after its parent died", pid);
    if (!gone) kill((pid_t)pid, SIGKILL);
}

static volatile sig_atomic_t alarm_cancel;
static void on_alarm(int sig) {
    (void)sig;
    alarm_cancel = 1;
}

static void test_cancel(void) {
    if (!need_python()) return;
    char err[512] = "", desc[128] = "";
    db_server *s = start_health("never", NULL, NULL, NULL, 60, 10, err, sizeof err);
    CHECK_MSG(s != NULL, "start: %s", err);
    if (!s) return;
    /* already set: returns at once */
    volatile sig_atomic_t flag = 1;
    double t0 = now_s();
    CHECK_INT_EQ(db_server_wait_ready(s, &flag, err, sizeof err), 1);
    CHECK_MSG(now_s() - t0 < 5, "took %.3f s", now_s() - t0);

    /* set by a signal handler (no SA_RESTART: interrupted calls get EINTR)
     * 0.3 s into the wait */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, &old);
    alarm_cancel = 0;
    struct itimerval it = { { 0, 0 }, { 0, 300000 } }, off = { { 0, 0 }, { 0, 0 } };
    t0 = now_s();
    setitimer(ITIMER_REAL, &it, NULL);
    int rc = db_server_wait_ready(s, &alarm_cancel, err, sizeof err);
    double dt = now_s() - t0;
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    CHECK_INT_EQ(rc, 1);
    CHECK_MSG(dt >= 0.29 && dt < 10, "cancelled after %.3f s (flag set at 0.3 s)", dt);
    CHECK(db_server_alive(s));
    db_server_stop(s, desc, sizeof desc);
    CHECK_STR_EQ(desc, "killed by signal 15");
}

void suite_server_proc(void) {
    RUN(test_defaults);
    RUN(test_free_port);
    RUN(test_ready_after_delay);
    RUN(test_never_ready);
    RUN(test_exits_before_ready);
    RUN(test_last_log_line);
    RUN(test_start_errors);
    RUN(test_stop_sigkill_after_grace);
    RUN(test_stop_process_group);
    RUN(test_parent_death);
    RUN(test_cancel);
}
