/* server_proc.c — inference servers started for a serving benchmark (see
 * server_proc.h): the command found on PATH before the fork, started with
 * fork + execve in its own process group with PR_SET_PDEATHSIG, an exec
 * failure reported back through a close-on-exec pipe, readiness polled
 * with libcurl on 127.0.0.1, and a stop that signals the whole group
 * (SIGTERM, then SIGKILL after the grace period) and reaps the leader.
 *
 * Between fork and execve the child calls only async-signal-safe functions
 * (decobench may have threads): the path, the environment and the file
 * descriptors are all prepared in the parent.  No signal handler is
 * installed in decobench; every wait is a poll that a signal (EINTR) only
 * shortens.
 */
#include "server_proc.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "harness/util/fetch.h"
#include "harness/util/util.h"

extern char **environ;

#define DEFAULT_HEALTH "/health"
#define DEFAULT_READY_S 120.0
#define DEFAULT_GRACE_S 10.0
#define MAX_WAIT_S 86400.0       /* a day: longer timeouts are clamped */
#define KILL_WAIT_S 10.0         /* how long to wait for the leader after SIGKILL */
#define TAIL_BYTES 4096          /* how much of the log's end is read for its last line */
#define TAIL_LINE_MAX 200        /* bytes of that line kept in a message */

struct db_server {
    pid_t pid;                /* also the process group id */
    int port;
    bool reaped;              /* the leader has been waited for */
    int status;               /* its wait status, once reaped */
    char *health_path;
    char *log_path;           /* NULL: /dev/null */
    off_t log_start;          /* the log's size when the server started */
    double ready_timeout_s, stop_grace_s;
    char base_url[32];
};

/* ---- small helpers ---- */

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleep about s seconds; a signal only cuts it short (the callers loop on
 * a deadline). */
static void nap(double s) {
    if (!(s > 0)) return;
    struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };
    nanosleep(&ts, NULL);
}

static double param_or(double v, double def) {
    if (!(v > 0)) return def;            /* 0, negative and NaN: the default */
    return v < MAX_WAIT_S ? v : MAX_WAIT_S;
}

/* fd moved to 3 or above (so that the child's dup2 onto 0..2 cannot clobber
 * it), close-on-exec; -1 on failure (fd closed). */
static int fd_above_stdio(int fd) {
    if (fd < 0 || fd > 2) return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return nfd;
}

static void describe_status(int status, char *buf, size_t len) {
    if (WIFEXITED(status)) snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
    else snprintf(buf, len, "ended (wait status 0x%x)", (unsigned)status);
}

/* waitpid WNOHANG on the leader; true when it has been reaped (now or before). */
static bool reap_nohang(db_server *s) {
    if (s->reaped) return true;
    for (;;) {
        int st = 0;
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid) {
            s->reaped = true;
            s->status = st;
            return true;
        }
        if (r == 0) return false;
        if (errno == EINTR) continue;
        /* ECHILD: someone else reaped it (a SIGCHLD set to SIG_IGN, a
         * waitpid(-1) elsewhere); it is gone either way */
        s->reaped = true;
        s->status = 0;
        return true;
    }
}

/* Does process group pgid still have a member that is not a zombie?  (A
 * zombie reparented to an init that does not reap would otherwise look
 * alive to kill(-pgid, 0) forever.) */
static bool group_alive(pid_t pgid) {
    if (kill(-pgid, 0) == -1 && errno == ESRCH) return false;
    DIR *d = opendir("/proc");
    if (!d) return true;
    bool alive = false;
    struct dirent *e;
    while (!alive && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) continue;
        buf[n] = '\0';
        /* "PID (COMM) STATE PPID PGRP ..."; COMM may hold ')' */
        char *rp = strrchr(buf, ')');
        char state;
        long ppid, pgrp;
        if (!rp || sscanf(rp + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3) continue;
        if (pgrp == (long)pgid && state != 'Z' && state != 'X') alive = true;
    }
    closedir(d);
    return alive;
}

/* ---- the command on PATH ---- */

/* 0 when path is an executable regular file, else an errno. */
static int check_exec(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return errno;
    if (S_ISDIR(st.st_mode)) return EISDIR;
    if (!S_ISREG(st.st_mode)) return EACCES;
    if (access(path, X_OK) != 0) return errno;
    return 0;
}

/* The file execvp would run for name: name itself when it has a '/', else
 * the first executable NAME in $PATH's directories.  malloc'd, or NULL with
 * one line in err. */
static char *resolve_command(const char *name, char *err, size_t errlen) {
    if (!name || !*name) {
        db_errf(err, errlen, "server command: empty argv[0]");
        return NULL;
    }
    if (strchr(name, '/')) {
        int e = check_exec(name);
        if (e == 0) return db_strdup(name);
        if (e == EACCES) db_errf(err, errlen, "%s: not executable", name);
        else if (e == EISDIR) db_errf(err, errlen, "%s: is a directory", name);
        else db_errf(err, errlen, "%s: %s", name, strerror(e));
        return NULL;
    }
    const char *path = getenv("PATH");
    if (!path) path = "/bin:/usr/bin";   /* what execvp uses when PATH is unset */
    char *not_exec = NULL;
    size_t nlen = strlen(name);
    for (const char *p = path;;) {
        const char *colon = strchr(p, ':');
        size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
        const char *dir = dlen ? p : ".";
        if (!dlen) dlen = 1;
        char *cand = malloc(dlen + 1 + nlen + 1);
        if (!cand) {
            free(not_exec);
            db_errf(err, errlen, "out of memory");
            return NULL;
        }
        memcpy(cand, dir, dlen);
        cand[dlen] = '/';
        memcpy(cand + dlen + 1, name, nlen + 1);
        int e = check_exec(cand);
        if (e == 0) {
            free(not_exec);
            return cand;
        }
        if (e == EACCES && !not_exec) not_exec = cand;
        else free(cand);
        if (!colon) break;
        p = colon + 1;
    }
    if (not_exec) db_errf(err, errlen, "%s: found on PATH at %s but not executable", name, not_exec);
    else db_errf(err, errlen, "%s: command not found on PATH", name);
    free(not_exec);
    return NULL;
}

/* ---- the environment ---- */

static size_t env_name_len(const char *entry) {
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

/* environ without the names extra sets, then extra (the last of repeated
 * names).  The strings are borrowed; the array is malloc'd. */
static char **build_env(const char *const *extra, char *err, size_t errlen) {
    size_t n_env = 0, n_extra = 0;
    for (char **e = environ; e && *e; e++) n_env++;
    for (const char *const *x = extra; x && *x; x++) {
        const char *eq = strchr(*x, '=');
        if (!eq || eq == *x) {
            db_errf(err, errlen, "server environment entry '%s' is not NAME=VALUE", *x);
            return NULL;
        }
        n_extra++;
    }
    char **envp = calloc(n_env + n_extra + 1, sizeof *envp);
    if (!envp) {
        db_errf(err, errlen, "out of memory");
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        const char *cur = environ[i];
        size_t len = env_name_len(cur);
        bool replaced = false;
        for (size_t j = 0; j < n_extra && !replaced; j++)
            replaced = env_name_len(extra[j]) == len && memcmp(extra[j], cur, len) == 0;
        if (!replaced) envp[k++] = (char *)cur;
    }
    for (size_t j = 0; j < n_extra; j++) {
        size_t len = env_name_len(extra[j]);
        bool later = false;
        for (size_t i = j + 1; i < n_extra && !later; i++)
            later = env_name_len(extra[i]) == len && memcmp(extra[i], extra[j], len) == 0;
        if (!later) envp[k++] = (char *)extra[j];
    }
    envp[k] = NULL;
    return envp;
}

/* ---- public API ---- */

db_server_params db_server_default_params(void) {
    db_server_params p;
    memset(&p, 0, sizeof p);
    p.health_path = DEFAULT_HEALTH;
    p.ready_timeout_s = DEFAULT_READY_S;
    p.stop_grace_s = DEFAULT_GRACE_S;
    return p;
}

int db_server_free_port(int *port, char *err, size_t errlen) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return db_errf(err, errlen, "free port: socket: %s", strerror(errno));
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t alen = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        int e = errno;
        close(fd);
        return db_errf(err, errlen, "free port on 127.0.0.1: %s", strerror(e));
    }
    close(fd);
    *port = ntohs(a.sin_port);
    return 0;
}

/* What the child writes to the pipe when it cannot exec. */
enum { STAGE_SETPGID = 1, STAGE_STDIO, STAGE_EXEC };
typedef struct child_failure { int stage, err; } child_failure;

/* The child after fork: async-signal-safe calls only. */
static void child_exec(const char *file, char *const argv[], char *const envp[], pid_t parent,
                       int in_fd, int out_fd, int report_fd) {
    child_failure f = { 0, 0 };
    /* default dispositions first: a SIGTERM before the execve must end the
     * child, not run decobench's handler; ignored signals would stay
     * ignored across it */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (setpgid(0, 0) != 0) {
        f.stage = STAGE_SETPGID;
        goto fail;
    }
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);   /* decobench died before the prctl */
#else
    (void)parent;
#endif
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0) {
        f.stage = STAGE_STDIO;
        goto fail;
    }
#if defined(SYS_close_range)
    /* descriptors decobench opened without O_CLOEXEC do not reach the server */
    syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
#endif
    execve(file, argv, envp);
    f.stage = STAGE_EXEC;
fail:
    f.err = errno;
    {
        ssize_t w;
        do w = write(report_fd, &f, sizeof f);
        while (w < 0 && errno == EINTR);
    }
    _exit(127);
}

int db_server_start(const db_server_params *p, db_server **out, char *err, size_t errlen) {
    if (out) *out = NULL;
    if (!p || !out) return db_errf(err, errlen, "server: no parameters");
    if (!p->argv || !p->argv[0]) return db_errf(err, errlen, "server command: empty argv");
    if (p->port < 1 || p->port > 65535) return db_errf(err, errlen, "server port %d: not in 1..65535", p->port);
    const char *health = p->health_path && *p->health_path ? p->health_path : DEFAULT_HEALTH;
    if (health[0] != '/') return db_errf(err, errlen, "health path '%s' does not start with '/'", health);
    for (const unsigned char *c = (const unsigned char *)health; *c; c++)
        if (*c <= 0x20 || *c == 0x7f || *c == '#') return db_errf(err, errlen, "health path: invalid character");

    int rc = -1;
    char *file = NULL;
    char **envp = NULL;
    int in_fd = -1, out_fd = -1, pfd[2] = { -1, -1 };
    db_server *s = NULL;

    if (!(file = resolve_command(p->argv[0], err, errlen))) goto done;
    if (!(envp = build_env(p->env, err, errlen))) goto done;
    s = calloc(1, sizeof *s);
    if (!s) {
        db_errf(err, errlen, "out of memory");
        goto done;
    }
    s->port = p->port;
    s->ready_timeout_s = param_or(p->ready_timeout_s, DEFAULT_READY_S);
    s->stop_grace_s = param_or(p->stop_grace_s, DEFAULT_GRACE_S);
    snprintf(s->base_url, sizeof s->base_url, "http://127.0.0.1:%d", p->port);
    s->health_path = db_strdup(health);
    if (!s->health_path || (p->log_path && !(s->log_path = db_strdup(p->log_path)))) {
        db_errf(err, errlen, "out of memory");
        goto done;
    }

    in_fd = fd_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (in_fd < 0) {
        db_errf(err, errlen, "/dev/null: %s", strerror(errno));
        goto done;
    }
    if (p->log_path) {
        out_fd = fd_above_stdio(open(p->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600));
        if (out_fd < 0) {
            db_errf(err, errlen, "server log %s: %s", p->log_path, strerror(errno));
            goto done;
        }
        struct stat st;
        if (fstat(out_fd, &st) == 0 && S_ISREG(st.st_mode)) s->log_start = st.st_size;
    } else {
        out_fd = fd_above_stdio(open("/dev/null", O_WRONLY | O_CLOEXEC));
        if (out_fd < 0) {
            db_errf(err, errlen, "/dev/null: %s", strerror(errno));
            goto done;
        }
    }
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        db_errf(err, errlen, "server start: pipe: %s", strerror(errno));
        goto done;
    }
    if ((pfd[0] = fd_above_stdio(pfd[0])) < 0 || (pfd[1] = fd_above_stdio(pfd[1])) < 0) {
        db_errf(err, errlen, "server start: pipe: %s", strerror(errno));
        goto done;
    }

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        db_errf(err, errlen, "server start: fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) child_exec(file, (char *const *)p->argv, envp, parent, in_fd, out_fd, pfd[1]);

    /* parent: also set the group here, so it exists whichever runs first
     * (EACCES once the child has exec'd is harmless) */
    setpgid(pid, pid);
    close(pfd[1]);
    pfd[1] = -1;
    child_failure f;
    size_t got = 0;
    while (got < sizeof f) {
        ssize_t n = read(pfd[0], (char *)&f + got, sizeof f - got);
        if (n > 0) got += (size_t)n;
        else if (n == 0) break;
        else if (errno != EINTR) break;
    }
    if (got == 0) {
        s->pid = pid;   /* execve succeeded: the pipe closed with it */
        *out = s;
        s = NULL;
        rc = 0;
        goto done;
    }
    /* the child failed before or at execve and has _exit'ed: reap it */
    {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    if (got < sizeof f) db_errf(err, errlen, "%s: the child failed before exec", file);
    else if (f.stage == STAGE_EXEC) db_errf(err, errlen, "%s: cannot execute: %s", file, strerror(f.err));
    else if (f.stage == STAGE_SETPGID) db_errf(err, errlen, "%s: setpgid: %s", file, strerror(f.err));
    else db_errf(err, errlen, "%s: redirecting stdin/stdout/stderr: %s", file, strerror(f.err));

done:
    if (pfd[0] >= 0) close(pfd[0]);
    if (pfd[1] >= 0) close(pfd[1]);
    if (in_fd >= 0) close(in_fd);
    if (out_fd >= 0) close(out_fd);
    if (s) {
        free(s->health_path);
        free(s->log_path);
        free(s);
    }
    free(envp);
    free(file);
    return rc;
}

bool db_server_alive(db_server *s) {
    return s && !reap_nohang(s);
}

pid_t db_server_pid(const db_server *s) {
    return s ? s->pid : -1;
}

int db_server_port(const db_server *s) {
    return s ? s->port : 0;
}

const char *db_server_base_url(const db_server *s) {
    return s ? s->base_url : "";
}

/* ---- readiness ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc = -1;
static void curl_init(void) {
    curl_init_rc = db_fetch_global_init();
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *ud) {
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    volatile sig_atomic_t *cancel = ud;
    return cancel && *cancel ? 1 : 0;
}

/* The last non-blank line that the server wrote to its log (after
 * log_start), control characters and terminal escapes removed, at most
 * TAIL_LINE_MAX bytes; "(none)" when there is none. */
static void log_last_line(const db_server *s, char *out, size_t outlen) {
    snprintf(out, outlen, "(none)");
    if (!s->log_path) {
        snprintf(out, outlen, "(none: the output went to /dev/null)");
        return;
    }
    int fd = open(s->log_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return;
    struct stat st;
    char buf[TAIL_BYTES + 1];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > s->log_start) {
        off_t from = st.st_size - TAIL_BYTES > s->log_start ? st.st_size - TAIL_BYTES : s->log_start;
        n = pread(fd, buf, TAIL_BYTES, from);
    }
    close(fd);
    if (n <= 0) return;
    buf[n] = '\0';
    /* the last line with something visible; within it, the text after the
     * last carriage return that has some (what a terminal would show) */
    size_t end = (size_t)n;
    for (;;) {
        while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r' || buf[end - 1] == ' ' ||
                           buf[end - 1] == '\t'))
            end--;
        if (end == 0) return;
        size_t start = end;
        while (start > 0 && buf[start - 1] != '\n' && buf[start - 1] != '\r') start--;
        /* sanitize buf[start, end) into out */
        size_t k = 0, i = start;
        bool visible = false;
        for (; i < end && k < TAIL_LINE_MAX && k + 4 < outlen; i++) {
            unsigned char c = (unsigned char)buf[i];
            if (c == 0x1b) {   /* ESC [ ... final byte: a colour or cursor sequence */
                if (i + 1 < end && buf[i + 1] == '[') {
                    i += 2;
                    while (i < end && !((unsigned char)buf[i] >= 0x40 && (unsigned char)buf[i] <= 0x7e)) i++;
                }
                continue;
            }
            if (c < 0x20 || c == 0x7f) c = c == '\t' ? ' ' : '?';
            if (c != ' ') visible = true;
            out[k++] = (char)c;
        }
        if (i < end) {   /* cut: drop a UTF-8 sequence the cut left incomplete, add "..." */
            size_t lead = k;
            while (lead > 0 && ((unsigned char)out[lead - 1] & 0xC0) == 0x80) lead--;
            if (lead > 0 && ((unsigned char)out[lead - 1] & 0xC0) == 0xC0) {
                unsigned char b = (unsigned char)out[lead - 1];
                size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
                if (k - (lead - 1) < need) k = lead - 1;
            }
            if (k + 4 <= outlen) {
                memcpy(out + k, "...", 3);
                k += 3;
            }
        }
        out[k] = '\0';
        if (visible) return;
        snprintf(out, outlen, "(none)");
        end = start;
    }
}

int db_server_wait_ready(db_server *s, volatile sig_atomic_t *cancel, char *err, size_t errlen) {
    if (!s) return db_errf(err, errlen, "server: not started");
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != 0) return db_errf(err, errlen, "libcurl: global initialisation failed");
    CURL *c = curl_easy_init();
    if (!c) return db_errf(err, errlen, "libcurl: cannot create a handle");

    char url[64 + 1024];
    snprintf(url, sizeof url, "%s%s", s->base_url, s->health_path);
    char cerr[CURL_ERROR_SIZE];
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");          /* never through $http_proxy */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)cancel);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);

    char last[CURL_ERROR_SIZE + 32];
    snprintf(last, sizeof last, "no answer");
    double deadline = mono_s() + s->ready_timeout_s;
    int rc;
    for (;;) {
        if (cancel && *cancel) {
            rc = 1;
            break;
        }
        if (reap_nohang(s)) {
            char how[64], line[TAIL_LINE_MAX + 64];
            describe_status(s->status, how, sizeof how);
            log_last_line(s, line, sizeof line);
            rc = db_errf(err, errlen, "server %s before it was ready; last log line: %s", how, line);
            break;
        }
        double left = deadline - mono_s();
        if (left <= 0) {
            rc = db_errf(err, errlen, "not ready after %g s (GET %s: %s)", s->ready_timeout_s, s->health_path, last);
            break;
        }
        long try_ms = left < 1.0 ? (long)(left * 1000) + 1 : 1000;
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, try_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, try_ms);
        cerr[0] = '\0';
        CURLcode res = curl_easy_perform(c);
        if (res == CURLE_OK) {
            long code = 0;
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
            if (code == 200) {
                /* an answer from another process that holds the port while
                 * ours failed to bind is not ours: check ours still runs */
                if (reap_nohang(s)) continue;
                rc = 0;
                break;
            }
            snprintf(last, sizeof last, "last answer HTTP %ld", code);
        } else if (res == CURLE_ABORTED_BY_CALLBACK) {
            rc = 1;
            break;
        } else {
            snprintf(last, sizeof last, "%s", cerr[0] ? cerr : curl_easy_strerror(res));
        }
        double nap_s = deadline - mono_s();
        nap(nap_s < 0.1 ? nap_s : 0.1);
    }
    curl_easy_cleanup(c);
    return rc;
}

/* ---- stop ---- */

/* Poll until the leader is reaped and no process of its group is left, or
 * until the deadline; true when everything is gone. */
static bool wait_gone(db_server *s, double deadline) {
    for (;;) {
        if (reap_nohang(s) && !group_alive(s->pid)) return true;
        double left = deadline - mono_s();
        if (left <= 0) return false;
        nap(left < 0.02 ? left : 0.02);
    }
}

void db_server_stop(db_server *s, char *exit_desc, size_t desc_len) {
    if (exit_desc && desc_len) exit_desc[0] = '\0';
    if (!s) return;
    char desc[256];
    bool before = reap_nohang(s);
    bool gone = before && !group_alive(s->pid);
    bool killed = false, leader_after_kill = false;
    if (!gone) {
        /* SIGTERM to the group: the leader and whatever it started */
        if (kill(-s->pid, SIGTERM) != 0 && !s->reaped) kill(s->pid, SIGTERM);
        gone = wait_gone(s, mono_s() + s->stop_grace_s);
        if (!gone) {
            leader_after_kill = !s->reaped;
            killed = true;
            if (kill(-s->pid, SIGKILL) != 0 && !s->reaped) kill(s->pid, SIGKILL);
            gone = wait_gone(s, mono_s() + KILL_WAIT_S);
        }
    }
    if (!s->reaped) {
        snprintf(desc, sizeof desc, "still running %g s after SIGKILL (pid %ld)", KILL_WAIT_S, (long)s->pid);
    } else {
        char how[64];
        describe_status(s->status, how, sizeof how);
        snprintf(desc, sizeof desc, "%s%s%s%s", how, before ? " before the stop" : "",
                 leader_after_kill ? " after the grace period" : "",
                 !gone ? "; processes of its group still running after SIGKILL"
                 : killed && !leader_after_kill ? "; the rest of its process group was killed after the grace period"
                 : "");
    }
    if (exit_desc && desc_len) snprintf(exit_desc, desc_len, "%s", desc);
    free(s->health_path);
    free(s->log_path);
    free(s);
}
