/* model_derive.c — a GGUF with the first blocks of another, written into
 * the per-user cache and reused (see model_derive.h), through ggml's gguf
 * API.  The self-spec engine's draft (engines/spec.c). */
#include "model_derive.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ggml.h>
#include <gguf.h>

#include "harness/util/outfile.h"
#include "harness/util/sha256.h"
#include "harness/util/util.h"

#define SOURCE_KEY "decobench.self_spec.source"

/* the cached file at path may be reused: a regular file (a symlink is not
 * followed) of this user, not writable by others, derived from source */
static bool cached_ok(const char *path, const char *source) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 022);
    close(fd);
    if (!ok) return false;
    struct gguf_init_params meta = { true, NULL };
    struct gguf_context *old = gguf_init_from_file(path, meta);
    if (!old) return false;
    int64_t kid = gguf_find_key(old, SOURCE_KEY);
    ok = kid >= 0 && gguf_get_kv_type(old, kid) == GGUF_TYPE_STRING && strcmp(gguf_get_val_str(old, kid), source) == 0;
    gguf_free(old);
    return ok;
}

/* Write dst to out through a mkstemp file in out's directory and a rename:
 * a planted file or symlink at the final name is replaced, never written
 * through. */
static int write_replacing(struct gguf_context *dst, const char *out, char *err, size_t errlen) {
    char e2[512];
    char *tmp = NULL;
    int rc;
    int fd = db_tmp_create(out, &tmp, e2, sizeof e2);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (fd < 0) {
        rc = db_errf(err, errlen, "%s", e2);
    } else if (!f) {
        close(fd);
        rc = -1;
    } else {
        bool ok = gguf_write_to_file_ptr(dst, f, false);
        ok = fflush(f) == 0 && ok && !ferror(f);
        ok = fclose(f) == 0 && ok;
        rc = ok && rename(tmp, out) == 0 ? 0 : -1;
    }
    if (rc != 0 && fd >= 0) {
        unlink(tmp);
        db_errf(err, errlen, "%s: cannot write the derived draft", out);
    }
    free(tmp);
    return rc;
}

int db_model_derive_blocks(const char *source, int n_blocks, const char *prefix, char *out, size_t len,
                           uint32_t *n_source_blocks, char *err, size_t errlen) {
    char sha[65], e2[512];
    if (n_source_blocks) *n_source_blocks = 0;
    if (db_sha256_file(source, sha, e2, sizeof e2) != 0) return db_errf(err, errlen, "%s", e2);
    char stamp[96];
    snprintf(stamp, sizeof stamp, "sha256:%s", sha);
    char *cdir = db_cache_dir(e2, sizeof e2);
    if (!cdir) return db_errf(err, errlen, "%s", e2);
    int n = snprintf(out, len, "%s/%s-%s-L%d.gguf", cdir, prefix, sha, n_blocks);
    free(cdir);
    if (n < 0 || (size_t)n >= len) return db_errf(err, errlen, "cache directory: path too long");

    /* reuse when it was derived from this very file */
    if (cached_ok(out, stamp)) return 0;

    struct ggml_context *tctx = NULL;
    struct gguf_init_params full = { false, &tctx };
    struct gguf_context *src = gguf_init_from_file(source, full);
    if (!src) return db_errf(err, errlen, "%s: not a readable GGUF file", source);
    int rc = 0;
    int64_t aid = gguf_find_key(src, "general.architecture");
    char key[160];
    if (aid < 0 || gguf_get_kv_type(src, aid) != GGUF_TYPE_STRING) {
        rc = db_errf(err, errlen, "%s: no general.architecture", source);
    } else {
        snprintf(key, sizeof key, "%s.block_count", gguf_get_val_str(src, aid));
        int64_t bid = gguf_find_key(src, key);
        uint32_t n_layer = bid >= 0 && gguf_get_kv_type(src, bid) == GGUF_TYPE_UINT32 ? gguf_get_val_u32(src, bid) : 0;
        if (n_source_blocks) *n_source_blocks = n_layer;
        if (n_layer == 0) {
            rc = db_errf(err, errlen, "%s: no %s", source, key);
        } else if ((uint32_t)n_blocks >= n_layer) {
            db_errf(err, errlen, "%s: %d blocks asked for, but it has only %u", source, n_blocks, n_layer);
            rc = DB_DERIVE_TOO_FEW_BLOCKS;
        }
    }
    if (rc == 0) {
        struct gguf_context *dst = gguf_init_empty();
        gguf_set_kv(dst, src);
        gguf_set_val_u32(dst, key, (uint32_t)n_blocks);
        gguf_set_val_str(dst, SOURCE_KEY, stamp);
        for (int64_t i = 0; i < gguf_get_n_tensors(src); i++) {
            const char *name = gguf_get_tensor_name(src, i);
            int blk = -1;
            if (sscanf(name, "blk.%d.", &blk) == 1 && blk >= n_blocks) continue;
            gguf_add_tensor(dst, ggml_get_tensor(tctx, name));
        }
        rc = write_replacing(dst, out, err, errlen);
        gguf_free(dst);
    }
    gguf_free(src);
    ggml_free(tctx);
    return rc;
}
