/* test_devices.c — the machine's compute devices (harness/model/devices.c),
 * the table of known accelerators and its matcher
 * (harness/run/known_devices.c), schema version 5 (machine_device: stored,
 * read back, merged, and a version-4 database upgraded), and the hardware
 * report's roofline per device: a case whose model offloads layers is
 * divided by the machine's first GPU's bandwidth (hand-computed below),
 * "unknown" for a card not in the table, "n/a" with no GPU recorded, while
 * a CPU case keeps the STREAM denominator. */
#include "test.h"
#include "fixtures.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/devices.h"
#include "harness/run/known_devices.h"
#include "harness/run/store.h"
#include "harness/run/store_merge.h"
#include "harness/run/store_read.h"
#include "harness/run/topology.h"
#include "harness/util/util.h"
#include "reports/report.h"

#define GIB 1073741824.0

static char *q1(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s = NULL;
    char *v = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = db_strdup(sqlite3_column_text(s, 0) ? (const char *)sqlite3_column_text(s, 0) : "NULL");
    sqlite3_finalize(s);
    return v ? v : db_strdup("(no row)");
}

#define CHECK_Q(db, sql, expect) do { char *_v = q1(db, sql); CHECK_STR_EQ(_v, expect); free(_v); } while (0)

/* the key the matcher gives a description with `gib` GiB of memory, "-" for none */
static const char *key_of(const char *desc, double gib) {
    const db_known_device *k = db_known_device_match(desc, (uint64_t)(gib * GIB));
    return k ? k->key : "-";
}

/* descriptions as the CUDA/HIP runtimes report them, with the memory they report */
static void test_devices_match(void) {
    static const struct { const char *desc; double gib; const char *key; } M[] = {
        { "NVIDIA H200", 140.4, "H200 SXM" },
        { "NVIDIA H200 NVL", 139.8, "H200 NVL" },
        { "NVIDIA H100 80GB HBM3", 79.6, "H100 SXM5" },
        { "NVIDIA H100 PCIe", 79.6, "H100 PCIe" },
        { "NVIDIA H100 NVL", 93.6, "H100 NVL" },
        { "NVIDIA A100-SXM4-40GB", 39.6, "A100 SXM4 40GB" },
        { "NVIDIA A100-SXM4-80GB", 79.2, "A100 SXM4 80GB" },
        { "NVIDIA A100-SXM-80GB", 79.2, "A100 SXM4 80GB" },
        { "NVIDIA A100-PCIE-40GB", 39.4, "A100 PCIe 40GB" },
        { "NVIDIA A100 80GB PCIe", 79.2, "A100 PCIe 80GB" },
        { "NVIDIA L40S", 45.0, "L40S" },
        { "NVIDIA L40", 45.0, "L40" },
        { "NVIDIA L4", 22.5, "L4" },
        { "NVIDIA A10", 22.5, "A10" },
        { "NVIDIA A10G", 22.2, "A10G" },
        { "Tesla T4", 14.75, "T4" },
        { "Tesla V100-SXM2-16GB", 15.8, "V100 SXM2 16GB" },
        { "Tesla V100-SXM2-32GB", 31.7, "V100 SXM2 32GB" },
        { "Tesla V100-PCIE-16GB", 15.8, "V100 PCIe 16GB" },
        { "Tesla V100-PCIE-32GB", 31.7, "V100 PCIe 32GB" },
        { "NVIDIA GeForce RTX 4090", 23.6, "RTX 4090" },
        { "NVIDIA GeForce RTX 3090", 23.7, "RTX 3090" },
        { "NVIDIA RTX A6000", 47.5, "RTX A6000" },
        { "AMD Instinct MI300X", 191.98, "MI300X" },
        { "AMD Instinct MI250X", 63.98, "MI250X GCD" },
        /* case and blanks do not matter; unknown memory (0) skips the memory check */
        { "  nvidia   H100 80gb hbm3 ", 79.6, "H100 SXM5" },
        { "NVIDIA L4", 0, "L4" },
        /* near misses: other cards, variants, ambiguous or partial names */
        { "NVIDIA H100", 79.6, "-" },
        { "NVIDIA H100 80GB HBM3 MIG", 79.6, "-" },
        { "NVIDIA H800", 79.6, "-" },
        { "NVIDIA GH200 480GB", 94.5, "-" },
        { "NVIDIA GeForce RTX 4090 D", 23.6, "-" },
        { "NVIDIA GeForce RTX 4090 Laptop GPU", 15.6, "-" },
        { "NVIDIA GeForce RTX 3090 Ti", 23.7, "-" },
        { "NVIDIA GeForce RTX 4080", 15.6, "-" },
        { "Tesla V100S-PCIE-32GB", 31.7, "-" },
        { "Tesla V100-SXM3-32GB", 31.7, "-" },
        { "NVIDIA RTX 6000 Ada Generation", 47.5, "-" },
        { "NVIDIA A40", 44.3, "-" },
        { "NVIDIA L40S-48C", 45.0, "-" },
        { "NVIDIA A1", 22.5, "-" },
        { "AMD Instinct MI300A", 127.5, "-" },
        { "AMD Instinct MI250X/MI250", 63.98, "-" },
        { "AMD Instinct MI250", 63.98, "-" },
        { "AMD EPYC 7763 64-Core Processor", 503.0, "-" },
        { "", 80, "-" },
        /* the right name with the wrong memory: a MIG slice, another
         * partitioning, a mislabelled SKU — no numbers */
        { "NVIDIA H100 80GB HBM3", 9.75, "-" },
        { "NVIDIA A100-SXM4-40GB", 79.2, "-" },
        { "AMD Instinct MI250X", 127.96, "-" },
        { "AMD Instinct MI300X", 24.0, "-" },
    };
    for (size_t i = 0; i < sizeof M / sizeof M[0]; i++) {
        const char *got = key_of(M[i].desc, M[i].gib);
        CHECK_MSG(strcmp(got, M[i].key) == 0, "'%s' (%.2f GiB): got %s, want %s", M[i].desc, M[i].gib, got, M[i].key);
    }
    CHECK(db_known_device_match(NULL, 0) == NULL);
    /* the numbers of a few rows, as the datasheets give them (dense) */
    const db_known_device *h = db_known_device_match("NVIDIA H100 80GB HBM3", 0);
    CHECK(h && h->bandwidth_gbs == 3350 && h->fp32_tflops == 67 && h->fp16_tflops == 989.5);
    h = db_known_device_match("NVIDIA A100-SXM4-80GB", 0);
    CHECK(h && h->bandwidth_gbs == 2039 && h->fp32_tflops == 19.5 && h->fp16_tflops == 312);
    h = db_known_device_match("AMD Instinct MI300X", 0);
    CHECK(h && h->bandwidth_gbs == 5300 && h->fp16_tflops == 1307.4);
    h = db_known_device_match("NVIDIA A10G", 0);   /* no published rates: unknown, not guessed */
    CHECK(h && h->bandwidth_gbs == 600 && isnan(h->fp32_tflops) && isnan(h->fp16_tflops));
    /* the table: unique keys, no description in two rows, a source for every
     * row, bandwidth and memory known, dense tensor rate at least the vector rate */
    int n = 0;
    const db_known_device *t = db_known_devices(&n);
    CHECK(n >= 24);
    for (int a = 0; a < n; a++) {
        CHECK_MSG(strncmp(t[a].source, "https://", 8) == 0, "%s: source %s", t[a].key, t[a].source);
        CHECK_MSG(t[a].bandwidth_gbs > 0 && t[a].memory_gib > 0, "%s", t[a].key);
        CHECK_MSG(isnan(t[a].fp16_tflops) || t[a].fp16_tflops > t[a].fp32_tflops, "%s", t[a].key);
        for (int b = a + 1; b < n; b++) CHECK_MSG(strcmp(t[a].key, t[b].key) != 0, "key %s twice", t[a].key);
        /* every name of row a finds row a (no earlier row takes it) */
        char name[128];
        for (const char *p = t[a].names; *p;) {
            const char *e = strchr(p, '|');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            snprintf(name, sizeof name, "%.*s", (int)len, p);
            CHECK_MSG(db_known_device_match(name, (uint64_t)(t[a].memory_gib * GIB)) == &t[a], "%s: %s", t[a].key, name);
            p += len + (e ? 1 : 0);
        }
    }
}

/* this machine: ggml lists a CPU device with its memory */
static void test_devices_enumerate(void) {
    db_backend_device *d = NULL;
    int n = -1;
    char err[256] = "";
    CHECK_MSG(db_backend_devices(false, &d, &n, err, sizeof err) == 0, "%s", err);
    CHECK(n >= 1);
    int cpu = -1;
    for (int i = 0; i < n; i++) {
        CHECK(!d[i].remote);
        if (!strcmp(d[i].type, "cpu") && cpu < 0) cpu = i;
    }
    CHECK_MSG(cpu >= 0, "no CPU device among %d", n);
    if (cpu >= 0) {
        CHECK_STR_EQ(d[cpu].name, "CPU");
        CHECK_STR_EQ(d[cpu].backend, "CPU");
        CHECK(d[cpu].memory_total > 0);
        CHECK(d[cpu].memory_free <= d[cpu].memory_total);
        /* what it reports is the machine's memory (hwloc's count, within a factor of 2) */
        db_machine m;
        memset(&m, 0, sizeof m);
        if (db_machine_probe(&m, err, sizeof err) == 0 && m.memory_bytes > 0)
            CHECK_MSG(d[cpu].memory_total > m.memory_bytes / 2 && d[cpu].memory_total < 2 * m.memory_bytes,
                      "ggml %llu, hwloc %llu bytes", (unsigned long long)d[cpu].memory_total,
                      (unsigned long long)m.memory_bytes);
        db_machine_free(&m);
        /* the CPU's roofline numbers are the probe's measurement */
        db_device_record r;
        db_device_describe(&d[cpu], 0, 40.0, 1234.0, &r);
        CHECK(r.bandwidth_gbs == 40.0 && r.peak_fp32_tflops == 1.234 && isnan(r.peak_fp16_tflops));
        CHECK(r.known == NULL);
        CHECK_STR_EQ(r.source, "decobench probe");
    }
    free(d);
    /* a GPU is described from the table; an unknown one gets no numbers */
    db_backend_device g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "CUDA0");
    snprintf(g.description, sizeof g.description, "NVIDIA H100 80GB HBM3");
    g.type = "gpu";
    g.memory_total = 85029158912ull;   /* what cudaMemGetInfo reports: 79.2 GiB */
    db_device_record r;
    db_device_describe(&g, 1, 40.0, 1234.0, &r);
    CHECK_STR_EQ(r.known, "H100 SXM5");
    CHECK(r.idx == 1 && r.bandwidth_gbs == 3350 && r.peak_fp32_tflops == 67 && r.peak_fp16_tflops == 989.5);
    CHECK(r.source && strncmp(r.source, "https://", 8) == 0);
    snprintf(g.description, sizeof g.description, "NVIDIA Future 9000");
    db_device_describe(&g, 1, 40.0, 1234.0, &r);
    CHECK(r.known == NULL && r.source == NULL && isnan(r.bandwidth_gbs) && isnan(r.peak_fp32_tflops));
}

static int64_t add_machine(db_store *st, const char *host) {
    db_machine m;
    memset(&m, 0, sizeof m);
    snprintf(m.fingerprint, sizeof m.fingerprint, "fp-%s", host);
    snprintf(m.hostname, sizeof m.hostname, "%s", host);
    snprintf(m.cpu_model, sizeof m.cpu_model, "Test CPU");
    m.cores = 8;
    int64_t mid = 0;
    db_store_machine(st, &m, &mid);
    return mid;
}

static const db_device_record CPU_DEV = { 0, "CPU", "Test CPU", "cpu", "CPU", 68719476736ull, NULL, 40.0, 0.4, NAN,
                                          "decobench probe" };
static const db_device_record H100_DEV = { 1, "CUDA0", "NVIDIA H100 80GB HBM3", "gpu", "CUDA", 85029158912ull,
                                           "H100 SXM5", 3350, 67, 989.5,
                                           "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet" };
static const db_device_record ODD_DEV = { 1, "CUDA0", "NVIDIA Future 9000", "gpu", "CUDA", 34359738368ull, NULL, NAN,
                                          NAN, NAN, NULL };

/* version 4 → 5: machine_device appears, TEMP for a reader, in place for a writer, data kept */
static void test_devices_schema_v4_upgrade(void) {
    char *p = db_test_fresh_db_path("v4.db");
    char err[512] = "";
    db_store *st = NULL;
    CHECK_MSG(db_store_open(p, &st, err, sizeof err) == 0, "%s", err);
    if (!st) {
        free(p);
        return;
    }
    int64_t mid = add_machine(st, "old");
    db_probe_record pr = { 1700000000000, 12.5, 100, 50, 2, "test" };
    CHECK_INT_EQ(db_store_probe(st, mid, &pr), 0);
    CHECK_INT_EQ(sqlite3_exec(db_store_handle(st), "DROP TABLE machine_device; UPDATE meta SET value = '4'", NULL,
                              NULL, NULL), SQLITE_OK);
    db_store_close(st);
    st = NULL;
    CHECK_MSG(db_store_open_readonly(p, &st, err, sizeof err) == 0, "%s", err);
    if (st) {
        sqlite3 *db = db_store_handle(st);
        CHECK_Q(db, "SELECT value FROM meta WHERE key = 'schema_version'", "4");
        CHECK_Q(db, "SELECT COUNT(*) FROM main.sqlite_master WHERE name = 'machine_device'", "0");
        CHECK_Q(db, "SELECT COUNT(*) FROM machine_device", "0");   /* TEMP on a read-only connection */
        db_device_info *d = NULL;
        int n = -1;
        CHECK_INT_EQ(db_store_read_devices(st, mid, &d, &n, err, sizeof err), 0);
        CHECK(n == 0 && d == NULL);
        db_store_close(st);
    }
    st = NULL;
    CHECK_MSG(db_store_open(p, &st, err, sizeof err) == 0, "%s", err);
    if (st) {
        sqlite3 *db = db_store_handle(st);
        CHECK_Q(db, "SELECT value FROM meta WHERE key = 'schema_version'", "8");
        CHECK_Q(db, "SELECT COUNT(*) FROM main.sqlite_master WHERE name = 'machine_device'", "1");
        CHECK_Q(db, "SELECT bandwidth_gbs FROM machine_probe", "12.5");
        /* two probes: the reader returns the latest set, in idx order */
        db_device_record two[] = { CPU_DEV, H100_DEV };
        CHECK_INT_EQ(db_store_devices(st, mid, 1700000000000, &ODD_DEV, 1), 0);
        CHECK_INT_EQ(db_store_devices(st, mid, 1700000001000, two, 2), 0);
        CHECK_Q(db, "SELECT COUNT(*) FROM machine_device", "3");
        db_device_info *d = NULL;
        int n = 0;
        CHECK_INT_EQ(db_store_read_devices(st, mid, &d, &n, err, sizeof err), 0);
        CHECK_INT_EQ(n, 2);
        if (n == 2) {
            CHECK_STR_EQ(d[0].type, "cpu");
            CHECK(d[0].bandwidth_gbs == 40.0 && isnan(d[0].peak_fp16_tflops));
            CHECK_STR_EQ(d[0].known, "");
            CHECK_STR_EQ(d[1].name, "CUDA0");
            CHECK_STR_EQ(d[1].description, "NVIDIA H100 80GB HBM3");
            CHECK_STR_EQ(d[1].known, "H100 SXM5");
            CHECK(d[1].memory_bytes == 85029158912ull && d[1].bandwidth_gbs == 3350 && d[1].peak_fp16_tflops == 989.5);
            CHECK(d[1].measured_at_ms == 1700000001000);
        }
        db_device_infos_free(d, n);
        db_store_close(st);
    }
    free(p);
}

/* one run of suite "gpu" on a machine: case 0 "ar gpu" on model "big"
 * (n_gpu_layers -1: every layer), case 1 "ar cpu" on model "small" (n_gpu_layers 0);
 * 4 samples each.  "big": 2e9 bytes, 100 forwards in 100 ms per sample →
 * 2000 GB/s; "small": 1e9 bytes, 16 forwards in 800 ms → 20 GB/s. */
static int add_run(db_store *st, int64_t mid, int64_t t0) {
    static const char *cfg = "{\"name\":\"gpu\",\"baseline\":\"ar gpu\",\"models\":{"
                             "\"big\":{\"backend\":\"llama\",\"path\":\"big.gguf\",\"n_gpu_layers\":-1,\"n_ctx\":0},"
                             "\"small\":{\"backend\":\"llama\",\"path\":\"small.gguf\",\"n_gpu_layers\":0,\"n_ctx\":0}}}";
    db_run_record rr = { mid, "gpu", "gpu.json", cfg, "decobench run gpu.json", "r", "c", "gcc", "-O2", "7", 8, NULL, 0 };
    int64_t run = 0;
    int rc = db_store_run_begin(st, &rr, &run);
    for (int k = 0; k < 2; k++) {
        db_case_record c = { k, "ar", k ? "ar cpu" : "ar gpu", "{\"mode\":\"greedy\"}", k ? "small" : "big",
                             k ? "small.gguf" : "big.gguf", "00", "m", 1, k ? 1000000000ull : 2000000000ull, NULL,
                             NULL, NULL, "d", 4, "completed", t0, t0 + 1 };
        db_sample_record s[4];
        memset(s, 0, sizeof s);
        for (int i = 0; i < 4; i++) {
            s[i].prompt_idx = i;
            s[i].prompt_id = "p";
            s[i].m.new_tokens = 16;
            s[i].m.n_commits = 16;
            s[i].m.mat = 1;
            s[i].m.tokens_per_s = 100 + i;
            s[i].m.latency_ms = 200;
            s[i].m.target_forwards = k ? 16 : 100;
            s[i].m.forward_time_ms = k ? 800 : 100;
            s[i].m.acceptance_rate = NAN;
        }
        int64_t cid = 0;
        rc |= db_store_case(st, run, &c, s, 4, &cid);
    }
    rc |= db_store_run_finish(st, run, "completed");
    return rc;
}

/* a string member ("" when missing or not a string) and a number member (NaN) */
static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double jnumber(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static char *hw_report(const char *path, const char *fmt) {
    char err[512] = "";
    db_store *st = NULL;
    if (db_store_open_readonly(path, &st, err, sizeof err) != 0) {
        printf("    %s\n", err);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    db_report_opts o = { 0, fmt, 1, "machine", NULL, NULL };
    int rc = db_report_table(st, &o, f, err, sizeof err);
    fclose(f);
    db_store_close(st);
    if (rc != 0) {
        printf("    report %s: %s\n", fmt, err);
        free(buf);
        return NULL;
    }
    return buf;
}

/* three machines run suite "gpu": #1 with an H100 recorded, #2 with a card
 * not in the table, #3 with no devices recorded (an older probe); each
 * probed at 40 GB/s STREAM.  Machine #1's devices come through a merge. */
static void test_devices_hardware_report(void) {
    char *p = db_test_fresh_db_path("gpu.db"), *src = db_test_fresh_db_path("gpu-node.db");
    char err[512] = "";
    db_store *st = NULL;
    /* machine 1's own database, merged in: its devices must come along */
    CHECK_MSG(db_store_open(src, &st, err, sizeof err) == 0, "%s", err);
    if (!st) goto out;
    int64_t m1 = add_machine(st, "h100-node");
    db_probe_record pr = { 1700000000000, 40.0, 400, 100, 8, "test" };
    db_device_record two[] = { CPU_DEV, H100_DEV };
    CHECK_INT_EQ(add_run(st, m1, 1700000010000), 0);
    CHECK_INT_EQ(db_store_probe(st, m1, &pr), 0);
    CHECK_INT_EQ(db_store_devices(st, m1, pr.measured_at_ms, two, 2), 0);
    db_store_close(st);
    st = NULL;
    CHECK_MSG(db_store_open(p, &st, err, sizeof err) == 0, "%s", err);
    if (!st) goto out;
    db_store *s1 = NULL;
    CHECK_MSG(db_store_open_readonly(src, &s1, err, sizeof err) == 0, "%s", err);
    if (s1) CHECK_MSG(db_merge(st, s1, NULL, err, sizeof err) == 0, "%s", err);
    db_store_close(s1);
    CHECK_Q(db_store_handle(st), "SELECT COUNT(*) || ' ' || (SELECT description FROM machine_device WHERE idx = 1) FROM machine_device",
            "2 NVIDIA H100 80GB HBM3");
    int64_t m2 = add_machine(st, "odd-node"), m3 = add_machine(st, "old-node");
    db_device_record odd[] = { CPU_DEV, ODD_DEV };
    CHECK_INT_EQ(add_run(st, m2, 1700000020000), 0);
    CHECK_INT_EQ(add_run(st, m3, 1700000030000), 0);
    CHECK_INT_EQ(db_store_probe(st, m2, &pr), 0);
    CHECK_INT_EQ(db_store_probe(st, m3, &pr), 0);
    CHECK_INT_EQ(db_store_devices(st, m2, pr.measured_at_ms, odd, 2), 0);
    db_store_close(st);

    char *md = hw_report(p, "md");
    CHECK(md != NULL);
    if (md) {
        /* the GPU case: 2e9 bytes × 400 forwards / 0.4 s = 2000 GB/s; over the
         * H100's 3350 GB/s: 0.597 → "0.60"; not over STREAM's 40 (50.0) */
        CHECK_CONTAINS(md, "| ar gpu · d · big | roofline (weight GB/s / device GB/s) | 0.60 (2000 / 3350 GB/s, CUDA0 H100 SXM5) | "
                           "unknown — CUDA0 NVIDIA Future 9000 (2000 GB/s) | "
                           "n/a — no GPU recorded, run decobench probe (2000 GB/s) |");
        /* the CPU case on every machine: 1e9 × 64 / 3.2 s = 20 GB/s over STREAM's 40: 0.50, as before */
        CHECK_CONTAINS(md, "| ar cpu · d · small | roofline (weight GB/s / device GB/s) | 0.50 (20.0 / 40.0 GB/s) | "
                           "0.50 (20.0 / 40.0 GB/s) | 0.50 (20.0 / 40.0 GB/s) |");
        CHECK_CONTAINS(md, "; gpu CUDA0: NVIDIA H100 80GB HBM3 (H100 SXM5), 3350 GB/s, FP16/BF16 tensor peak 990 TFLOP/s");
        CHECK_CONTAINS(md, "; gpu CUDA0: NVIDIA Future 9000, bandwidth unknown");
        CHECK_CONTAINS(md, "ran on the machine's first GPU");
    }
    free(md);
    char *json = hw_report(p, "json");
    CHECK(json != NULL);
    if (json) {
        cJSON *root = cJSON_Parse(json);
        CHECK(root != NULL);
        const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases");
        for (const cJSON *c = cases ? cases->child : NULL; c; c = c->next) {
            const char *label = jstr(c, "label");
            const cJSON *ms = cJSON_GetObjectItemCaseSensitive(c, "machines");
            const cJSON *a = cJSON_GetArrayItem(ms, 0), *b = cJSON_GetArrayItem(ms, 1), *d = cJSON_GetArrayItem(ms, 2);
            double fa = jnumber(a, "roofline_fraction");
            if (!strcmp(label, "ar gpu")) {
                CHECK_NEAR(fa, 2000.0 / 3350.0, 1e-12);
                CHECK_STR_EQ(jstr(a, "device"), "CUDA0");
                CHECK_NEAR(jnumber(a, "device_bandwidth_gbs"), 3350, 0);
                CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "roofline_fraction")));
                CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(d, "roofline_fraction")));
                CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(d, "device")));
            } else {
                CHECK_NEAR(fa, 0.5, 1e-12);
                CHECK(cJSON_GetObjectItemCaseSensitive(a, "device") == NULL);   /* CPU cases: as before */
            }
        }
        const cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "machines"), 0);
        const cJSON *dv = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m0, "devices"), 1);
        CHECK_STR_EQ(jstr(dv, "known"), "H100 SXM5");
        cJSON_Delete(root);
    }
    free(json);
    char *csv = hw_report(p, "csv");
    CHECK(csv != NULL);
    if (csv) {
        CHECK_CONTAINS(csv, ",mat_differs,device\r\n");
        CHECK_CONTAINS(csv, "1,1,h100-node,Test CPU,ar gpu,d,big,roofline_fraction,0.5970149253731343,,,,"
                            "CUDA0 NVIDIA H100 80GB HBM3\r\n");
        CHECK_CONTAINS(csv, "1,1,h100-node,Test CPU,ar cpu,d,small,roofline_fraction,0.5,,,,CPU\r\n");
    }
    free(csv);
out:
    free(p);
    free(src);
}

void suite_devices(void) {
    RUN(test_devices_match);
    RUN(test_devices_enumerate);
    RUN(test_devices_schema_v4_upgrade);
    RUN(test_devices_hardware_report);
}
