/* Read-only memory mapping of a whole file. Checkpoints are used in place
 * from the mapping (zero copy); small files (JSON, spiece.model) are mapped
 * too so every parser sees a (pointer, size) pair.
 *
 * Every way in (sc_file_map, sc_file_load, sc_file_read) refuses a Git LFS
 * pointer file (what a clone without git-lfs holds instead of the real file)
 * with a message that says so, so no parser has to recognise one. Leaves
 * out catching SIGBUS: a mapped file truncated while in use cannot be made
 * safe here (see docs/memory.md). */
#ifndef SC_CORE_MAPFILE_H
#define SC_CORE_MAPFILE_H

#include "switchc.h"
#include "util/path.h" /* sc_path_join */

typedef struct sc_mapped_file {
    const unsigned char *data; /* NULL when size == 0 */
    size_t size;
    char *path;                /* owned copy, for messages */
    bool in_memory;            /* read into private memory (sc_file_load), not
                                  mapped: its pages must never be given back */
} sc_mapped_file;

/* Maps `path` read-only. Fails (SC_ERR_IO) if the file changes size while it
 * is being mapped, and (SC_ERR_FORMAT) on a Git LFS pointer. On failure *out
 * is untouched. */
sc_status sc_file_map(const char *path, sc_mapped_file *out, sc_error *err);

/* Progress of sc_file_load: fn(ctx, base + bytes read, total) after each
 * chunk. fn may be NULL. */
typedef struct sc_file_progress {
    sc_progress_fn fn;
    void *ctx;
    size_t base, total;
} sc_file_progress;

/* Reads `path` whole into private anonymous memory (page aligned, huge pages
 * advised) instead of mapping it, with `threads` threads (the caller and
 * threads - 1 helpers, which end before it returns; progress is called from
 * the caller's thread). For weights streamed on every token: on Linux,
 * page-cache pages held in 4 KiB folios read measurably slower than this
 * memory; mapped files in 2 MiB folios come within 1-2% (docs/memory.md).
 * Costs the read at load and the file's size in resident memory. Same
 * struct as sc_file_map; sc_file_unmap frees it. On failure (including a
 * file that shrinks while read) *out is untouched. */
sc_status sc_file_load(const char *path, int threads, const sc_file_progress *progress, sc_mapped_file *out,
                       sc_error *err);
/* Unmaps (or frees) and frees the path; a zeroed struct is a no-op. */
void sc_file_unmap(sc_mapped_file *f);

/* Reads a whole (small) file into a NUL-terminated heap buffer, refusing
 * files larger than max_bytes. */
sc_status sc_file_read(const char *path, size_t max_bytes, char **out, size_t *out_len,
                       sc_error *err);

/* SC_ERR_FORMAT with "<path> is a Git LFS pointer, not the weights: install
 * git-lfs and run `git lfs pull`" (the tokenizer, or the file, by its name)
 * when data[0..size) is a Git LFS pointer file, whose first line is
 * "version https://git-lfs.github.com/spec/v1"; else SC_OK. */
sc_status sc_file_check_lfs_pointer(const char *path, const void *data, size_t size, sc_error *err);

/* Size of the file at path in bytes, 0 if it cannot be stat'ed. */
size_t sc_file_size(const char *path);

/* True if path exists and is a regular file / a directory. */
bool sc_path_is_file(const char *path);
bool sc_path_is_dir(const char *path);


#endif
