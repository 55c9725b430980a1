/* topology.c — machine identity and topology through hwloc 2 (with
 * sysconf/uname/procfs fallbacks), its fingerprint, and thread pinning.
 */
#include "topology.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <hwloc.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "harness/util/util.h"

/* Copy with truncation (always NUL-terminated). */
static void copy_str(char *dst, size_t n, const char *src) {
    if (!n) return;
    size_t k = src ? strnlen(src, n - 1) : 0;
    if (k) memcpy(dst, src, k);
    dst[k] = 0;
}

/* "model name : X" from /proc/cpuinfo (x86), or "Model"/"Hardware" (arm). */
static void cpuinfo_model(char *out, size_t n) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0 && strncmp(line, "Model", 5) != 0 &&
            strncmp(line, "Hardware", 8) != 0)
            continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        size_t len = strlen(v);
        while (len && (v[len - 1] == '\n' || v[len - 1] == ' ')) v[--len] = 0;
        if (len) {
            copy_str(out, n, v);
            break;
        }
    }
    fclose(f);
}

static int sha256_hex(const void *data, size_t len, char hex[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        hex[0] = 0;
        return -1;
    }
    for (unsigned i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static int count_type(hwloc_topology_t t, hwloc_obj_type_t type) {
    int n = hwloc_get_nbobjs_by_type(t, type);
    return n > 0 ? n : 0;
}

static uint64_t cache_size(hwloc_topology_t t, hwloc_obj_type_t type) {
    hwloc_obj_t o = hwloc_get_obj_by_type(t, type, 0);
    return o && o->attr ? (uint64_t)o->attr->cache.size : 0;
}

static char *build_json(const db_machine *m, hwloc_topology_t t) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "hostname", m->hostname);
    cJSON_AddStringToObject(root, "cpu_model", m->cpu_model);
    cJSON_AddStringToObject(root, "arch", m->arch);
    cJSON_AddStringToObject(root, "os", m->os);
    cJSON_AddNumberToObject(root, "packages", m->packages);
    cJSON_AddNumberToObject(root, "cores", m->cores);
    cJSON_AddNumberToObject(root, "pus", m->pus);
    cJSON_AddNumberToObject(root, "numa_nodes", m->numa_nodes);
    cJSON_AddNumberToObject(root, "memory_bytes", (double)m->memory_bytes);
    cJSON_AddNumberToObject(root, "l1d_bytes", (double)m->l1d_bytes);
    cJSON_AddNumberToObject(root, "l2_bytes", (double)m->l2_bytes);
    cJSON_AddNumberToObject(root, "l3_bytes", (double)m->l3_bytes);
    cJSON_AddStringToObject(root, "fingerprint", m->fingerprint);

    cJSON *caches = cJSON_AddArrayToObject(root, "caches");
    cJSON *cores = cJSON_AddArrayToObject(root, "cores_pus");
    cJSON *numa = cJSON_AddArrayToObject(root, "numa");
    if (t) {
        static const struct { hwloc_obj_type_t type; const char *name; } levels[] = {
            { HWLOC_OBJ_L1CACHE, "L1d" }, { HWLOC_OBJ_L1ICACHE, "L1i" },
            { HWLOC_OBJ_L2CACHE, "L2" },  { HWLOC_OBJ_L3CACHE, "L3" },
            { HWLOC_OBJ_L4CACHE, "L4" },
        };
        for (size_t i = 0; i < sizeof levels / sizeof *levels; i++) {
            int n = count_type(t, levels[i].type);
            if (n == 0) continue;
            hwloc_obj_t o = hwloc_get_obj_by_type(t, levels[i].type, 0);
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "level", levels[i].name);
            cJSON_AddNumberToObject(c, "count", n);
            cJSON_AddNumberToObject(c, "size_bytes", (double)o->attr->cache.size);
            cJSON_AddNumberToObject(c, "line_bytes", o->attr->cache.linesize);
            cJSON_AddNumberToObject(c, "associativity", o->attr->cache.associativity);
            /* how many PUs share one instance */
            cJSON_AddNumberToObject(c, "shared_by_pus",
                                    o->cpuset ? hwloc_bitmap_weight(o->cpuset) : 0);
            cJSON_AddItemToArray(caches, c);
        }
        int ncores = count_type(t, HWLOC_OBJ_CORE);
        for (int i = 0; i < ncores; i++) {
            hwloc_obj_t core = hwloc_get_obj_by_type(t, HWLOC_OBJ_CORE, (unsigned)i);
            cJSON *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "core", core->os_index == HWLOC_UNKNOWN_INDEX ? -1 : (double)core->os_index);
            cJSON *pus = cJSON_AddArrayToObject(c, "pus");
            int idx;
            hwloc_bitmap_foreach_begin(idx, core->cpuset)
                cJSON_AddItemToArray(pus, cJSON_CreateNumber(idx));
            hwloc_bitmap_foreach_end();
            cJSON_AddItemToArray(cores, c);
        }
        int nnuma = count_type(t, HWLOC_OBJ_NUMANODE);
        for (int i = 0; i < nnuma; i++) {
            hwloc_obj_t node = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, (unsigned)i);
            cJSON *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "node", node->os_index == HWLOC_UNKNOWN_INDEX ? -1 : (double)node->os_index);
            cJSON_AddNumberToObject(c, "memory_bytes", (double)node->attr->numanode.local_memory);
            char *set = NULL;
            if (node->cpuset && hwloc_bitmap_list_asprintf(&set, node->cpuset) >= 0) {
                cJSON_AddStringToObject(c, "pus", set);
                free(set);
            }
            cJSON_AddItemToArray(numa, c);
        }
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

int db_machine_probe(db_machine *m, char *err, size_t errlen) {
    if (!m) return db_errf(err, errlen, "db_machine_probe: no machine struct");
    memset(m, 0, sizeof *m);

    if (gethostname(m->hostname, sizeof m->hostname) != 0) copy_str(m->hostname, sizeof m->hostname, "unknown");
    m->hostname[sizeof m->hostname - 1] = 0;
    struct utsname u;
    if (uname(&u) == 0) {
        copy_str(m->arch, sizeof m->arch, u.machine);
        size_t k = strlen(u.sysname) < sizeof m->os - 2 ? strlen(u.sysname) : sizeof m->os - 2;
        memcpy(m->os, u.sysname, k);
        m->os[k] = ' ';
        copy_str(m->os + k + 1, sizeof m->os - k - 1, u.release);
    } else {
        copy_str(m->arch, sizeof m->arch, "unknown");
        copy_str(m->os, sizeof m->os, "unknown");
    }

    hwloc_topology_t t = NULL;
    if (hwloc_topology_init(&t) != 0) t = NULL;
    else if (hwloc_topology_load(t) != 0) {
        hwloc_topology_destroy(t);
        t = NULL;
    }
    if (t) {
        m->packages = count_type(t, HWLOC_OBJ_PACKAGE);
        m->cores = count_type(t, HWLOC_OBJ_CORE);
        m->pus = count_type(t, HWLOC_OBJ_PU);
        m->numa_nodes = count_type(t, HWLOC_OBJ_NUMANODE);
        hwloc_obj_t root = hwloc_get_root_obj(t);
        if (root) m->memory_bytes = (uint64_t)root->total_memory;
        m->l1d_bytes = cache_size(t, HWLOC_OBJ_L1CACHE);
        m->l2_bytes = cache_size(t, HWLOC_OBJ_L2CACHE);
        m->l3_bytes = cache_size(t, HWLOC_OBJ_L3CACHE);
        hwloc_obj_t pkg = hwloc_get_obj_by_type(t, HWLOC_OBJ_PACKAGE, 0);
        const char *model = pkg ? hwloc_obj_get_info_by_name(pkg, "CPUModel") : NULL;
        if (!model) model = hwloc_obj_get_info_by_name(root, "CPUModel");
        if (model) copy_str(m->cpu_model, sizeof m->cpu_model, model);
    }
    /* fallbacks where hwloc failed or found nothing */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (m->pus <= 0) m->pus = online > 0 ? (int)online : 1;
    if (m->cores <= 0) m->cores = m->pus;
    if (m->packages <= 0) m->packages = 1;
    if (m->numa_nodes <= 0) m->numa_nodes = 1;
    if (m->memory_bytes == 0) {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        if (pages > 0 && psz > 0) m->memory_bytes = (uint64_t)pages * (uint64_t)psz;
    }
    if (!m->cpu_model[0]) cpuinfo_model(m->cpu_model, sizeof m->cpu_model);
    if (!m->cpu_model[0]) copy_str(m->cpu_model, sizeof m->cpu_model, "unknown");

    char ident[512];
    snprintf(ident, sizeof ident, "%s|%s|%d|%d|%d|%llu", m->hostname, m->cpu_model, m->packages,
             m->cores, m->pus, (unsigned long long)m->memory_bytes);
    if (sha256_hex(ident, strlen(ident), m->fingerprint) != 0) {
        if (t) hwloc_topology_destroy(t);
        return db_errf(err, errlen, "machine fingerprint: sha256 failed (libcrypto)");
    }
    m->topology_json = build_json(m, t);
    if (t) hwloc_topology_destroy(t);
    if (!m->topology_json) return db_errf(err, errlen, "machine topology: out of memory");
    return 0;
}

void db_machine_free(db_machine *m) {
    if (!m) return;
    free(m->topology_json);
    m->topology_json = NULL;
}

int db_physical_cores(void) {
    hwloc_topology_t t;
    int n = 0;
    if (hwloc_topology_init(&t) == 0) {
        if (hwloc_topology_load(t) == 0) {
            /* the cores this process may run on: hwloc leaves out what the
             * cgroup cpuset forbids; the affinity mask a scheduler sets
             * (Slurm's --cpus-per-task with task/affinity, taskset) is
             * intersected here, so the default thread count follows the
             * allocation */
            hwloc_bitmap_t bind = hwloc_bitmap_alloc();
            bool have_bind = bind && hwloc_get_cpubind(t, bind, HWLOC_CPUBIND_PROCESS) == 0 && !hwloc_bitmap_iszero(bind);
            int cores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
            for (int i = 0; i < cores; i++) {
                hwloc_obj_t core = hwloc_get_obj_by_type(t, HWLOC_OBJ_CORE, i);
                if (!have_bind || (core && hwloc_bitmap_intersects(core->cpuset, bind))) n++;
            }
            hwloc_bitmap_free(bind);
        }
        hwloc_topology_destroy(t);
    }
    if (n <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (int)online : 1;
    }
    return n;
}

int db_pin_threads(const char *mode, int n_threads, char *err, size_t errlen) {
    if (!mode) mode = "none";
    int cores_mode = strcmp(mode, "cores") == 0;
    if (strcmp(mode, "none") == 0) return 0;
    if (!cores_mode && strcmp(mode, "compact") != 0)
        return db_errf(err, errlen, "pin mode '%s': expected none, cores or compact", mode);

    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0) return db_errf(err, errlen, "pin %s: hwloc init failed", mode);
    if (hwloc_topology_load(t) != 0) {
        hwloc_topology_destroy(t);
        return db_errf(err, errlen, "pin %s: hwloc topology load failed", mode);
    }
    hwloc_obj_type_t type = cores_mode ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    /* only within what this process may use: its binding (a scheduler's
     * allocation — Slurm's task/affinity, taskset) on top of the cgroup
     * cpuset hwloc already honours; the first cores / PUs of that */
    hwloc_bitmap_t bind = hwloc_bitmap_alloc();
    bool have_bind = bind && hwloc_get_cpubind(t, bind, HWLOC_CPUBIND_PROCESS) == 0 && !hwloc_bitmap_iszero(bind);
    int total = hwloc_get_nbobjs_by_type(t, type), avail = 0;
    for (int i = 0; i < total; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(t, type, (unsigned)i);
        if (o && o->cpuset && (!have_bind || hwloc_bitmap_intersects(o->cpuset, bind))) avail++;
    }
    if (avail <= 0) {
        hwloc_bitmap_free(bind);
        hwloc_topology_destroy(t);
        return db_errf(err, errlen, "pin %s: no %s found", mode, cores_mode ? "cores" : "PUs");
    }
    int n = n_threads <= 0 || n_threads > avail ? avail : n_threads;
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set) {
        hwloc_bitmap_free(bind);
        hwloc_topology_destroy(t);
        return db_errf(err, errlen, "pin %s: out of memory", mode);
    }
    for (int i = 0, taken = 0; i < total && taken < n; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(t, type, (unsigned)i);
        if (!o || !o->cpuset || (have_bind && !hwloc_bitmap_intersects(o->cpuset, bind))) continue;
        taken++;
        if (cores_mode) {
            /* the core's first PU that the binding allows */
            int first = -1;
            for (int pu = hwloc_bitmap_first(o->cpuset); pu >= 0 && first < 0; pu = hwloc_bitmap_next(o->cpuset, pu))
                if (!have_bind || hwloc_bitmap_isset(bind, (unsigned)pu)) first = pu;
            if (first >= 0) hwloc_bitmap_set(set, (unsigned)first);
        } else {
            hwloc_bitmap_or(set, set, o->cpuset);
        }
    }
    int rc = hwloc_set_cpubind(t, set, HWLOC_CPUBIND_PROCESS);
    int e = errno;
    hwloc_bitmap_free(set);
    hwloc_bitmap_free(bind);
    hwloc_topology_destroy(t);
    if (rc != 0) return db_errf(err, errlen, "pin %s (%d threads): %s", mode, n, strerror(e));
    return 0;
}
