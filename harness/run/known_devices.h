/* known_devices.h — a table of known accelerators: for the description a
 * GPU's driver gives it (what ggml reports, e.g. "NVIDIA H100 80GB HBM3"),
 * its memory bandwidth and dense peak rates from the vendor's datasheet,
 * so the hardware report's roofline has a denominator for GPU cases
 * (`decobench probe` stores the matched numbers with the machine, table
 * machine_device).  The CPU's numbers are measured instead (probe.h).
 *
 * Matching is exact, never by substring: a row lists the whole
 * descriptions it stands for, compared case-insensitively with runs of
 * blanks collapsed and the ends trimmed, so "NVIDIA GeForce RTX 4090 D"
 * or "Tesla V100S-PCIE-32GB" do not borrow the RTX 4090's or the V100's
 * numbers.  A row also states the memory one device of it reports; a
 * device whose reported memory lies outside 0.85 to 1.10 times that is
 * not matched (a MIG slice carries its parent's name but a fraction of its
 * memory and bandwidth; an MI250X or MI300X partitioned differently from
 * the row).  A reported memory of 0 (unknown) skips that check.  No match:
 * no numbers ("unknown"); nothing is guessed.
 *
 * Units: bandwidth in GB/s (10^9 bytes/s); rates in TFLOP/s, dense (never
 * the "with sparsity" figures):
 *   fp32_tflops  peak FP32 on the vector units (non-tensor);
 *   fp16_tflops  peak FP16/BF16 on the tensor cores (matrix cores on AMD),
 *                FP32 accumulate; where a card's FP32-accumulate rate is
 *                half its FP16-accumulate rate (GeForce, L40) the half.
 * NaN where the vendor publishes no figure.
 */
#ifndef DECOBENCH_KNOWN_DEVICES_H
#define DECOBENCH_KNOWN_DEVICES_H

#include <stdint.h>

#include "store.h"
#include "harness/model/devices.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_known_device {
    const char *key;           /* short name: "H100 SXM5" */
    const char *names;         /* the exact descriptions it matches, '|' between them */
    double memory_gib;         /* memory of one device as reported (GiB, nominal) */
    double bandwidth_gbs;      /* GB/s */
    double fp32_tflops;        /* dense FP32, vector units */
    double fp16_tflops;        /* dense FP16/BF16 tensor, FP32 accumulate; NaN unknown */
    const char *note;          /* "" or what the numbers mean for this card (per GCD, ...) */
    const char *source;        /* the vendor's datasheet or product page */
} db_known_device;

/* The table, and its length in *n. */
const db_known_device *db_known_devices(int *n);

/* The row for a device described as description with memory_bytes of
 * memory (0: unknown), or NULL (unknown card, or memory that does not fit). */
const db_known_device *db_known_device_match(const char *description, uint64_t memory_bytes);

/* What `decobench probe` stores for device d (index idx): its fields, and
 * its roofline numbers: for the CPU the probe's measurement (STREAM
 * bandwidth cpu_bandwidth_gbs, FP32 peak cpu_gflops in GFLOP/s; NaN when
 * not measured), source "decobench probe"; for another device the known
 * table's row (source its URL), else no numbers (known and source NULL).
 * r's strings point into d, the table and static strings. */
void db_device_describe(const db_backend_device *d, int idx, double cpu_bandwidth_gbs, double cpu_gflops,
                        db_device_record *r);

#ifdef __cplusplus
}
#endif
#endif
