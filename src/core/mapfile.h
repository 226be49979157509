/* Read-only memory mapping of a whole file. Checkpoints are used in place
 * from the mapping (zero copy); small files (JSON, spiece.model) are mapped
 * too so every parser sees a (pointer, size) pair. */
#ifndef SC_CORE_MAPFILE_H
#define SC_CORE_MAPFILE_H

#include "switchc.h"

typedef struct sc_mapped_file {
    const unsigned char *data; /* NULL when size == 0 */
    size_t size;
    char *path;                /* owned copy, for messages */
} sc_mapped_file;

/* Maps `path` read-only. On failure *out is untouched. */
sc_status sc_file_map(const char *path, sc_mapped_file *out, sc_error *err);
/* Unmaps and frees the path; a zeroed struct is a no-op. */
void sc_file_unmap(sc_mapped_file *f);

/* Reads a whole (small) file into a NUL-terminated heap buffer, refusing
 * files larger than max_bytes. */
sc_status sc_file_read(const char *path, size_t max_bytes, char **out, size_t *out_len,
                       sc_error *err);

/* True if path exists and is a regular file / a directory. */
bool sc_path_is_file(const char *path);
bool sc_path_is_dir(const char *path);

/* Joins dir and name into a fresh heap string (NULL on overflow/OOM). */
char *sc_path_join(const char *dir, const char *name);

#endif
