/* known_devices.c — the table of known accelerators and its matcher (see
 * known_devices.h).  A C table rather than a data file: `decobench probe`
 * then needs no installed data path, a row and the test that pins it
 * change in one commit, and every number sits beside its source.
 *
 * Descriptions are what the CUDA/HIP runtime names the device
 * (cudaDeviceProp.name, which ggml's CUDA backend reports).  Rows of the
 * same chip with different memory or bandwidth (A100 40/80 GB, SXM/PCIe,
 * V100 16/32 GB) are separate rows: the name tells them apart, the memory
 * check confirms it.  Ambiguous names ("AMD Instinct MI250X/MI250", which
 * some ROCm versions give both cards) are left out on purpose. */
#include "known_devices.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#define U NAN
#define NV_H200 "https://www.nvidia.com/en-us/data-center/h200/"
#define NV_H100 "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet"
#define NV_A100 "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"
#define NV_V100 "https://images.nvidia.com/content/technologies/volta/pdf/volta-v100-datasheet-update-us-1165301-r5.pdf"
#define NV_ADA "https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf"
#define NV_GA102 "https://www.nvidia.com/content/PDF/nvidia-ampere-ga-102-gpu-architecture-whitepaper-v2.pdf"

static const db_known_device TABLE[] = {
    /* key, names, memory GiB, GB/s, FP32, FP16/BF16 tensor (dense), note, source */
    { "H200 SXM", "NVIDIA H200", 141, 4800, 67, 989.5, "", NV_H200 },
    { "H200 NVL", "NVIDIA H200 NVL", 141, 4800, 60, 835.5, "", NV_H200 },
    { "H100 SXM5", "NVIDIA H100 80GB HBM3", 80, 3350, 67, 989.5, "", NV_H100 },
    { "H100 PCIe", "NVIDIA H100 PCIe", 80, 2000, 51, 756.5, "", NV_H100 },
    { "H100 NVL", "NVIDIA H100 NVL", 94, 3900, 60, 835.5, "one GPU of the pair", NV_H100 },
    { "A100 SXM4 40GB", "NVIDIA A100-SXM4-40GB", 40, 1555, 19.5, 312, "", NV_A100 },
    { "A100 SXM4 80GB", "NVIDIA A100-SXM4-80GB|NVIDIA A100-SXM-80GB", 80, 2039, 19.5, 312, "", NV_A100 },
    { "A100 PCIe 40GB", "NVIDIA A100-PCIE-40GB", 40, 1555, 19.5, 312, "", NV_A100 },
    { "A100 PCIe 80GB", "NVIDIA A100 80GB PCIe", 80, 1935, 19.5, 312, "", NV_A100 },
    { "L40S", "NVIDIA L40S", 48, 864, 91.6, 362.05, "", "https://www.nvidia.com/en-us/data-center/l40s/" },
    { "L40", "NVIDIA L40", 48, 864, 90.5, 181.05, "", "https://www.nvidia.com/en-us/data-center/l40/" },
    { "L4", "NVIDIA L4", 24, 300, 30.3, 121, "", "https://www.nvidia.com/en-us/data-center/l4/" },
    { "A10", "NVIDIA A10", 24, 600, 31.2, 125, "", "https://www.nvidia.com/en-us/data-center/products/a10-gpu/" },
    { "A10G", "NVIDIA A10G", 24, 600, U, U, "AWS-only variant: no published FP32 or tensor rates",
      "https://aws.amazon.com/ec2/instance-types/g5/" },
    { "T4", "Tesla T4|NVIDIA T4", 16, 320, 8.1, 65, "FP16 only (no BF16)",
      "https://www.nvidia.com/en-us/data-center/tesla-t4/" },
    { "V100 SXM2 16GB", "Tesla V100-SXM2-16GB", 16, 900, 15.7, 125, "FP16 only (no BF16)", NV_V100 },
    { "V100 SXM2 32GB", "Tesla V100-SXM2-32GB", 32, 900, 15.7, 125, "FP16 only (no BF16)", NV_V100 },
    { "V100 PCIe 16GB", "Tesla V100-PCIE-16GB", 16, 900, 14, 112, "FP16 only (no BF16)", NV_V100 },
    { "V100 PCIe 32GB", "Tesla V100-PCIE-32GB", 32, 900, 14, 112, "FP16 only (no BF16)", NV_V100 },
    { "RTX 4090", "NVIDIA GeForce RTX 4090", 24, 1008, 82.6, 165.2,
      "FP16 tensor with FP16 accumulate: 330.3", NV_ADA },
    { "RTX 3090", "NVIDIA GeForce RTX 3090", 24, 936, 35.6, 71,
      "FP16 tensor with FP16 accumulate: 142", NV_GA102 },
    { "RTX A6000", "NVIDIA RTX A6000", 48, 768, 38.7, 154.8, "", NV_GA102 },
    { "MI300X", "AMD Instinct MI300X", 192, 5300, 81.7, 1307.4, "SPX mode (the whole OAM as one device); FP32 vector (matrix: 163.4)",
      "https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html" },
    { "MI250X GCD", "AMD Instinct MI250X", 64, 1638.4, 23.95, 191.5,
      "one of the two GCDs ROCm shows per card: half the card's 3276.8 GB/s, 47.9 and 383 TFLOP/s",
      "https://www.amd.com/en/products/accelerators/instinct/mi200/mi250x.html" },
};

const db_known_device *db_known_devices(int *n) {
    *n = (int)(sizeof TABLE / sizeof TABLE[0]);
    return TABLE;
}

/* s[0..n) lower-cased, runs of blanks as one space, none at the ends, into
 * out (cap bytes; longer names are cut, and then match nothing longer) */
static void normalize(const char *s, size_t n, char *out, size_t cap) {
    size_t k = 0;
    bool blank = false;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) {
            blank = k > 0;
            continue;
        }
        if (blank && k + 2 < cap) out[k++] = ' ';
        blank = false;
        out[k++] = (char)tolower(c);
    }
    out[k] = '\0';
}

const db_known_device *db_known_device_match(const char *description, uint64_t memory_bytes) {
    if (!description) return NULL;
    char want[512], have[512];
    normalize(description, strlen(description), want, sizeof want);
    int n = 0;
    const db_known_device *t = db_known_devices(&n);
    for (int r = 0; r < n; r++) {
        bool named = false;
        for (const char *p = t[r].names; *p && !named;) {
            const char *e = strchr(p, '|');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            normalize(p, len, have, sizeof have);
            named = strcmp(want, have) == 0;
            p += len + (e ? 1 : 0);
        }
        if (!named) continue;
        if (memory_bytes > 0) {
            double gib = (double)memory_bytes / (1024.0 * 1024.0 * 1024.0);
            if (gib < 0.85 * t[r].memory_gib || gib > 1.10 * t[r].memory_gib) return NULL;
        }
        return &t[r];
    }
    return NULL;
}

void db_device_describe(const db_backend_device *d, int idx, double cpu_bandwidth_gbs, double cpu_gflops,
                        db_device_record *r) {
    memset(r, 0, sizeof *r);
    r->idx = idx;
    r->name = d->name;
    r->description = d->description;
    r->type = d->type;
    r->backend = d->backend;
    r->memory_bytes = d->memory_total;
    r->bandwidth_gbs = r->peak_fp32_tflops = r->peak_fp16_tflops = NAN;
    if (d->type && strcmp(d->type, "cpu") == 0) {
        r->bandwidth_gbs = cpu_bandwidth_gbs;
        r->peak_fp32_tflops = cpu_gflops / 1000.0;
        if (isfinite(cpu_bandwidth_gbs) || isfinite(cpu_gflops)) r->source = "decobench probe";
        return;
    }
    const db_known_device *k = db_known_device_match(d->description, d->memory_total);
    if (!k) return;
    r->known = k->key;
    r->bandwidth_gbs = k->bandwidth_gbs;
    r->peak_fp32_tflops = k->fp32_tflops;
    r->peak_fp16_tflops = k->fp16_tflops;
    r->source = k->source;
}
