/* cmd_probe.c — `decobench probe`: measure this machine's memory bandwidth
 * (STREAM triad) and peak FP32 FMA rate (harness/run/probe.h), print them and
 * store them with the machine's record in the results database
 * (machine_probe), for the roofline column of `decobench report --by machine`;
 * and list the compute devices llama.cpp sees (harness/model/devices.h) with
 * their roofline numbers (the CPU's as measured, a GPU's from the table of
 * known cards, harness/run/known_devices.h), stored as machine_device.
 */
#include <getopt.h>
#include <stdbool.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "harness/model/devices.h"
#include "harness/run/known_devices.h"
#include "harness/run/probe.h"
#include "harness/run/store.h"
#include "harness/run/topology.h"
#include "harness/util/util.h"

static void usage(FILE *f) {
    fputs("usage: decobench probe [--db FILE] [--threads N] [--reps N] [--array-mib N] [--help]\n"
          "\n"
          "Measure this machine's memory bandwidth (STREAM triad on arrays 4x the total L3,\n"
          "at least 64 MiB each, all threads, best of the repetitions) and peak FP32 rate\n"
          "(independent FMAs in registers, one thread and all threads), print them, and store\n"
          "them with the machine's record in the results database (table machine_probe) for\n"
          "the roofline column of 'decobench report --by machine'.  Also lists the compute\n"
          "devices llama.cpp sees (CPU, GPUs) with their memory bandwidth and peak rates\n"
          "(the CPU's as measured; a GPU's from decobench's table of known cards, or\n"
          "'unknown'), stored as table machine_device.\n"
          "\n"
          "  --db FILE        results database (default " DB_DEFAULT_DB "; created when missing)\n"
          "  --threads N      threads (default: physical cores)\n"
          "  --reps N         repetitions, the best kept (default 5)\n"
          "  --array-mib N    MiB per triad array instead of the default\n"
          "  -h, --help       show this help\n", f);
}

static void print_num(const char *label, double v, const char *unit, bool *first) {
    if (!isfinite(v)) return;
    printf("%s%s %.4g %s", *first ? "" : ", ", label, v, unit);
    *first = false;
}

/* one line per device: "device 1: CUDA0 (gpu, CUDA) NVIDIA H100 80GB HBM3, 79.6 GiB: H100 SXM5, ..." */
static void print_device(const db_device_record *r) {
    printf("device %d: %s (%s, %s) %s", r->idx, r->name, r->type, r->backend[0] ? r->backend : "?",
           r->description[0] ? r->description : "(no description)");
    if (r->memory_bytes > 0) printf(", %.1f GiB", (double)r->memory_bytes / 1073741824.0);
    bool first = true;
    if (r->known) printf(": %s: ", r->known);
    else if (r->source) printf(": measured: ");
    else {
        printf(": unknown (no bandwidth or peak figures)\n");
        return;
    }
    print_num("bandwidth", r->bandwidth_gbs, "GB/s", &first);
    if (r->known) print_num("FP32", r->peak_fp32_tflops, "TFLOP/s", &first);
    else print_num("FP32", 1000.0 * r->peak_fp32_tflops, "GFLOP/s", &first);   /* the CPU's, as measured above */
    print_num("FP16/BF16 tensor", r->peak_fp16_tflops, "TFLOP/s", &first);
    printf("%s(%s)\n", first ? "" : " ", r->source);
}

static int parse_positive(const char *opt, const char *arg, uint64_t max, uint64_t *v) {
    if (db_parse_u64(arg, v) != 0 || *v == 0 || *v > max) {
        fprintf(stderr, "decobench probe: %s: expected an integer from 1 to %" PRIu64 ", got '%s'\n", opt, max,
                arg);
        return -1;
    }
    return 0;
}

int cmd_probe(int argc, char **argv) {
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "threads", required_argument, NULL, 't' },
        { "reps", required_argument, NULL, 'r' },
        { "array-mib", required_argument, NULL, 'a' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db_path = DB_DEFAULT_DB;
    db_probe_opts o = { 0, 0, 0 };
    uint64_t v;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db_path = optarg; break;
        case 't':
            if (parse_positive("--threads", optarg, 4096, &v) != 0) return 2;
            o.threads = (int)v;
            break;
        case 'r':
            if (parse_positive("--reps", optarg, 1000, &v) != 0) return 2;
            o.reps = (int)v;
            break;
        case 'a':
            if (parse_positive("--array-mib", optarg, (uint64_t)1 << 20, &v) != 0) return 2;
            o.array_bytes = v << 20;
            break;
        case 'h': usage(stdout); return 0;
        default:   /* ':' (missing value) or '?' (unknown option) */
            return db_cli_bad_option("probe", c, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "decobench probe: %s: unexpected argument\n", argv[optind]);
        return 2;
    }
    char err[512];
    db_store *st = NULL;
    /* open first: a bad database fails before a minute of measuring */
    if (db_store_open(db_path, &st, err, sizeof err) != 0) {
        fprintf(stderr, "decobench probe: %s\n", err);
        return 2;
    }
    db_machine m;
    memset(&m, 0, sizeof m);
    if (db_machine_probe(&m, err, sizeof err) != 0) {
        fprintf(stderr, "decobench probe: machine: %s\n", err);
        db_store_close(st);
        return 1;
    }
    db_probe_result r;
    int status = 0;
    int64_t mid = 0;
    if (db_probe_run(&m, &o, &r, err, sizeof err) != 0) {
        fprintf(stderr, "decobench probe: %s\n", err);
        status = 1;
        goto done;
    }
    printf("memory bandwidth: %.2f GB/s (STREAM triad, 3 x %.0f MiB, %d thread%s, best of %d)\n", r.bandwidth_gbs,
           (double)r.array_bytes / 1048576.0, r.threads, r.threads == 1 ? "" : "s", o.reps > 0 ? o.reps : 5);
    printf("peak FP32: %.2f GFLOP/s on 1 thread, %.2f GFLOP/s on %d thread%s (%s FMA)\n", r.gflops_per_thread,
           r.gflops, r.threads, r.threads == 1 ? "" : "s", r.kernel);
    db_backend_device *dev = NULL;
    int n_dev = 0;
    if (db_backend_devices(false, &dev, &n_dev, err, sizeof err) != 0) {
        fprintf(stderr, "decobench probe: %s\n", err);
        status = 1;
        goto done;
    }
    db_device_record *drec = n_dev > 0 ? calloc((size_t)n_dev, sizeof *drec) : NULL;
    if (n_dev > 0 && !drec) {
        fprintf(stderr, "decobench probe: out of memory\n");
        free(dev);
        status = 1;
        goto done;
    }
    for (int i = 0; i < n_dev; i++) {
        db_device_describe(&dev[i], i, r.bandwidth_gbs, r.gflops, &drec[i]);
        print_device(&drec[i]);
    }
    db_probe_record rec = { db_unix_ms(), r.bandwidth_gbs, r.gflops, r.gflops_per_thread, r.threads, r.method };
    int src = db_store_machine(st, &m, &mid);
    if (src == 0) src = db_store_probe(st, mid, &rec);
    if (src == 0 && n_dev > 0) src = db_store_devices(st, mid, rec.measured_at_ms, drec, n_dev);
    free(drec);
    free(dev);
    if (src != 0) {
        fprintf(stderr, "decobench probe: %s\n", db_store_errmsg(st));
        status = 1;
        goto done;
    }
    printf("stored for machine %lld (%s, %s) in %s\n", (long long)mid, m.hostname, m.cpu_model, db_path);
done:
    db_machine_free(&m);
    db_store_close(st);
    return status;
}
