/* cmd_merge.c — `decobench merge A.db B.db ... -o ALL.db`: combine results
 * databases (from several machines or shards) without duplicates
 * (harness/run/store_merge.h db_merge).  A new output is built in a mkstemp file
 * next to it and renamed into place; an existing one is merged into, one
 * transaction per run; "-", a character device or a FIFO (e.g. /dev/null)
 * receives the finished database, built in a private temporary file.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cli.h"
#include "harness/util/outfile.h"
#include "harness/run/store.h"
#include "harness/util/util.h"
#include "harness/run/identity.h"
#include "harness/run/store_merge.h"

static void usage(FILE *f) {
    fputs("usage: decobench merge SOURCE.db... -o OUT.db [--help]\n"
          "\n"
          "Copy every run of the SOURCE results databases into OUT.db (created when missing),\n"
          "without duplicates: machines are matched by fingerprint, runs by machine, start time,\n"
          "suite name and configuration, so merging the same source again changes nothing; a run\n"
          "already present gains only the cases it lacks.  Cases, samples, counters and step\n"
          "events keep their run and machine (with new ids).  One transaction per run.\n"
          "\n"
          "  -o, --output F     the merged database (required; - = stdout, a device or FIFO\n"
          "                     gets the finished database: man decobench)\n"
          "  -h, --help         show this help\n", f);
}

static bool same_file(const char *a, const char *b) {
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

int cmd_merge(int argc, char **argv) {
    static const struct option opts[] = {
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *out_path = NULL;
    int c;
    optind = 0;
    opterr = 0;
    /* no '+': options may follow the sources (merge A.db B.db -o ALL.db) */
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default:   /* ':' (missing value) or '?' (unknown option) */
            return db_cli_bad_option("merge", c, argv);
        }
    }
    if (!out_path || !*out_path) {
        fprintf(stderr, "decobench merge: -o OUT.db is required (see --help)\n");
        return 2;
    }
    int n_src = argc - optind;
    if (n_src < 1) {
        fprintf(stderr, "decobench merge: no source databases given (see --help)\n");
        return 2;
    }
    char err[512];
    int status = 2;
    bool created = false;
    char *tmp = NULL, *real = NULL;
    bool through = false;
    db_store **src = calloc((size_t)n_src, sizeof *src);
    db_store *dst = NULL;
    if (!src) {
        fprintf(stderr, "decobench merge: out of memory\n");
        return 1;
    }
    /* check every source before writing anything */
    for (int i = 0; i < n_src; i++) {
        const char *p = argv[optind + i];
        if (!db_file_exists(p)) {
            fprintf(stderr, "decobench merge: %s: no such results database\n", p);
            goto out;
        }
        if (db_file_exists(out_path) && same_file(p, out_path)) continue;   /* merging OUT into itself: nothing */
        if (db_store_open_readonly(p, &src[i], err, sizeof err) != 0) {
            fprintf(stderr, "decobench merge: %s\n", err);
            goto out;
        }
    }
    /* -o rules (harness/util/outfile.h): an existing regular file (or the one a
     * symlink names) is merged into; a missing one is built in a mkstemp
     * file next to it and renamed; "-", a character device or a FIFO gets
     * the finished database written through from a private temporary file. */
    real = db_output_resolve(out_path, err, sizeof err);
    if (!real) {
        fprintf(stderr, "decobench merge: %s\n", err);
        goto out;
    }
    struct stat ost;
    bool exists = strcmp(out_path, "-") != 0 && stat(real, &ost) == 0;
    if (exists && S_ISDIR(ost.st_mode)) {
        fprintf(stderr, "decobench merge: %s: is a directory\n", real);
        goto out;
    }
    if (exists && !S_ISREG(ost.st_mode) && !S_ISCHR(ost.st_mode) && !S_ISFIFO(ost.st_mode)) {
        fprintf(stderr, "decobench merge: %s: not a regular file, character device or FIFO; nothing written\n", real);
        goto out;
    }
    through = strcmp(out_path, "-") == 0 || (exists && !S_ISREG(ost.st_mode));
    const char *target = real;
    if (through || !exists) {
        char *tmpl = NULL;
        if (through) {
            const char *td = getenv("TMPDIR");
            tmpl = db_path_join(td && *td ? td : "/tmp", "decobench-merge");
        }
        int fd = db_tmp_create(through ? tmpl : real, &tmp, err, sizeof err);
        free(tmpl);
        if (fd < 0) {
            fprintf(stderr, "decobench merge: %s\n", err);
            goto out;
        }
        close(fd);
        if (!through) {
            mode_t mask = umask(0);
            umask(mask);
            chmod(tmp, 0666 & ~mask);
        }
        created = true;
        target = tmp;
    }
    if (db_store_open(target, &dst, err, sizeof err) != 0) {
        /* an existing output that is not a decobench database */
        fprintf(stderr, "decobench merge: %s\n", err);
        goto out;
    }
    db_merge_stats total = { 0 };
    for (int i = 0; i < n_src; i++) {
        if (!src[i]) continue;
        db_merge_stats s = { 0 };
        if (db_merge(dst, src[i], &s, err, sizeof err) != 0) {
            fprintf(stderr, "decobench merge: %s: %s\n", argv[optind + i], err);
            status = 1;
            goto out;
        }
        total.machines_added += s.machines_added;
        total.runs_added += s.runs_added;
        total.runs_present += s.runs_present;
        total.cases_added += s.cases_added;
        total.samples_added += s.samples_added;
    }
    /* S10: the logical runs made of shards — their identity verdicts over all
     * their samples, and the shards still missing */
    char *shards = NULL;
    int n_missing = 0, n_logical = 0;
    int64_t *logical = NULL;
    if (db_merge_shard_status(dst, &shards, &n_missing, &logical, &n_logical, err, sizeof err) != 0) {
        fprintf(stderr, "decobench merge: %s\n", err);
        status = 1;
        goto out;
    }
    for (int i = 0; i < n_logical; i++)
        if (db_identity_check_run(db_store_handle(dst), logical[i], NULL, NULL, err, sizeof err) != 0)
            fprintf(stderr, "decobench merge: identity of run %lld: %s\n", (long long)logical[i], err);
    free(logical);
    db_store_close(dst);
    dst = NULL;
    if (through) {
        size_t blen = 0;
        char *bytes = db_read_file(tmp, &blen, err, sizeof err);
        int wrc = bytes ? db_output_write(out_path, bytes, blen, err, sizeof err) : -1;
        free(bytes);
        if (wrc != 0) {
            fprintf(stderr, "decobench merge: %s\n", err);
            status = 1;
            goto out;
        }
    } else if (created && rename(tmp, real) != 0) {
        fprintf(stderr, "decobench merge: %s: cannot create: %s\n", real, strerror(errno));
        status = 1;
        goto out;
    }
    if (!through) created = false;
    /* with -o - the database is on stdout: the summary goes to stderr */
    fprintf(strcmp(out_path, "-") == 0 ? stderr : stdout, "%s: %d run%s added (%d case%s, %" PRId64 " sample%s), %d already present, %d machine%s added\n",
           out_path, total.runs_added, total.runs_added == 1 ? "" : "s", total.cases_added,
           total.cases_added == 1 ? "" : "s", total.samples_added, total.samples_added == 1 ? "" : "s",
           total.runs_present, total.machines_added, total.machines_added == 1 ? "" : "s");
    if (shards && shards[0]) fputs(shards, stderr);   /* "run R (SUITE): shards 0,1 of 4; missing: 2,3" */
    status = n_missing > 0 ? 1 : 0;
    if (n_missing > 0)
        fprintf(stderr, "decobench merge: %d run%s lack%s shards: merged what is there; merge the missing shards "
                "when they exist\n", n_missing, n_missing == 1 ? "" : "s", n_missing == 1 ? "s" : "");
    free(shards);
out:
    db_store_close(dst);
    if (created && tmp) db_store_remove_files(tmp);
    free(tmp);
    free(real);
    for (int i = 0; i < n_src; i++) db_store_close(src[i]);
    free(src);
    return status;
}
