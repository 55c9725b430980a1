/* devices.c — ggml's device registry as a list of db_backend_device (see
 * devices.h): ggml_backend_dev_count / _get / _name / _description / _type
 * / _memory and the registry's name. */
#ifdef HAVE_CONFIG_H
#include "config.h"    /* HAVE_LLAMA */
#endif
#include "devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "harness/util/util.h"

#ifdef HAVE_LLAMA
#include "ggml-backend.h"

static const char *type_name(enum ggml_backend_dev_type t) {
    switch (t) {
    case GGML_BACKEND_DEVICE_TYPE_CPU: return "cpu";
    case GGML_BACKEND_DEVICE_TYPE_GPU: return "gpu";
    case GGML_BACKEND_DEVICE_TYPE_IGPU: return "igpu";
    case GGML_BACKEND_DEVICE_TYPE_ACCEL: return "accel";
    default: return "meta";
    }
}

int db_backend_devices(bool include_remote, db_backend_device **out, int *n, char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    db_llama_init();   /* the backends register when llama.cpp initialises */
    size_t count = ggml_backend_dev_count();
    if (count == 0) return 0;
    db_backend_device *d = calloc(count, sizeof *d);
    if (!d) return db_errf(err, errlen, "devices: out of memory");
    int k = 0;
    for (size_t i = 0; i < count; i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        if (!dev) continue;
        ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
        const char *rname = reg ? ggml_backend_reg_name(reg) : NULL;
        bool remote = rname && strncmp(rname, "RPC", 3) == 0;
        if (remote && !include_remote) continue;
        db_backend_device *e = &d[k++];
        const char *name = ggml_backend_dev_name(dev), *desc = ggml_backend_dev_description(dev);
        snprintf(e->name, sizeof e->name, "%s", name ? name : "");
        snprintf(e->description, sizeof e->description, "%s", desc ? desc : "");
        snprintf(e->backend, sizeof e->backend, "%s", rname ? rname : "");
        e->type = type_name(ggml_backend_dev_type(dev));
        size_t fr = 0, tot = 0;
        ggml_backend_dev_memory(dev, &fr, &tot);
        e->memory_total = (uint64_t)tot;
        e->memory_free = (uint64_t)fr;
        e->remote = remote;
    }
    if (k == 0) {
        free(d);
        return 0;
    }
    *out = d;
    *n = k;
    return 0;
}

#else /* !HAVE_LLAMA */

int db_backend_devices(bool include_remote, db_backend_device **out, int *n, char *err, size_t errlen) {
    (void)include_remote, (void)err, (void)errlen;
    *out = NULL;
    *n = 0;
    return 0;
}

#endif
