/* model_derive.h — models derived from a model file: a GGUF holding the
 * first blocks of another GGUF (the self-speculative draft), written once
 * into the per-user cache and reused.
 *
 * The derived file keeps every metadata key and every tensor of the source
 * except the transformer blocks blk.N.* with N >= n_blocks: the token
 * embeddings, the final norm and the output head stay, so llama.cpp loads
 * it as a shallower model of the same architecture with the same
 * vocabulary.  <arch>.block_count is set to n_blocks, and the key
 * "decobench.self_spec.source" records "sha256:<hex>" of the source file
 * (the name predates this module; drafts cached earlier stay valid).
 */
#ifndef DECOBENCH_MODEL_DERIVE_H
#define DECOBENCH_MODEL_DERIVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* db_model_derive_blocks() return codes besides 0 and -1. */
#define DB_DERIVE_TOO_FEW_BLOCKS (-2)   /* n_blocks >= the source's block count */

/* Derive the first n_blocks blocks (n_blocks >= 1) of the GGUF at source.
 *
 * Path: "<cache dir>/<prefix>-<sha256 of source>-L<n_blocks>.gguf", the
 * cache directory being util/outfile.h's db_cache_dir() ($DECOBENCH_CACHE_DIR,
 * else $XDG_CACHE_HOME/decobench, else ~/.cache/decobench), never the
 * source's folder (it may be read-only or shared).  The path is written to
 * out[0..len).
 *
 * Reuse: a file already at that path is used as it is when it is a regular
 * file (a symlink is not followed) of the effective user, not writable by
 * group or others, whose "decobench.self_spec.source" names the same
 * sha256; otherwise it is replaced.  A new file is written to a mkstemp
 * name in the cache directory and renamed into place, so a planted file or
 * symlink at the final name is replaced, never written through.
 *
 * Returns
 *   0                         the file at out is ready;
 *   -1                        err holds one line: the source unreadable or
 *                             not a GGUF, no <arch>.block_count, the cache
 *                             directory refused, the path too long, a
 *                             write failed;
 *   DB_DERIVE_TOO_FEW_BLOCKS  the source has only *n_source_blocks blocks
 *                             (set; also for other returns when read) and
 *                             err holds a generic line — callers name their
 *                             own parameter.
 * After a failure no file at out was created or changed (the temporary file
 * is removed); out may hold the path that would have been used. */
int db_model_derive_blocks(const char *source, int n_blocks, const char *prefix, char *out, size_t len,
                           uint32_t *n_source_blocks, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
