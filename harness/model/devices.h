/* devices.h — the compute devices llama.cpp would run on, as ggml's backend
 * registry lists them (the CPU, CUDA/ROCm/Metal/Vulkan GPUs, accelerators
 * such as BLAS), for `decobench probe` and the hardware report.
 *
 * Only the model layer talks to ggml; this is its device query.  Devices
 * of ggml's RPC backend (other machines' devices, registered when a model
 * with "rpc" servers is opened) are left out unless asked for: they are not
 * this machine's.  Without llama.cpp the list is empty.
 */
#ifndef DECOBENCH_DEVICES_H
#define DECOBENCH_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct db_backend_device {
    char name[64];            /* ggml's device name: "CPU", "CUDA0", "ROCm0", "Vulkan0", "BLAS" */
    char description[256];    /* what the driver calls it: "NVIDIA H100 80GB HBM3", the CPU's model */
    char backend[64];         /* the registry it belongs to: "CPU", "CUDA", "RPC[host:port]" */
    const char *type;         /* "cpu", "gpu", "igpu", "accel", "meta" (static strings) */
    uint64_t memory_total;    /* bytes, as the backend reports them (0 when it does not) */
    uint64_t memory_free;
    bool remote;              /* a device of ggml's RPC backend */
} db_backend_device;

/* The devices in ggml's registry order (the order llama.cpp uses: GPUs
 * before the CPU in recent versions, whatever the registry says here).
 * *out is malloc'd (free with free(); NULL and *n 0 when there are none);
 * include_remote: keep the RPC backend's devices.  Returns 0, or -1 with
 * one line in err (out of memory). */
int db_backend_devices(bool include_remote, db_backend_device **out, int *n, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
