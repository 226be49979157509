/* A read-only view of a zip archive held in memory (an mmapped torch .bin):
 * the central directory is found through the end-of-central-directory record
 * (zip64 records and extra fields supported), every local header is checked
 * against its central entry, and entry data is addressed in place.
 * Only stored (method 0), unencrypted, single-disk archives are accepted;
 * CRCs are not verified (that would read every byte of a large checkpoint). */
#ifndef SC_IO_ZIP_H
#define SC_IO_ZIP_H

#include "switchc.h"

typedef struct sc_zip_entry {
    const char *name;      /* points into the archive, not NUL-terminated */
    size_t name_len;
    size_t header_offset;  /* local header */
    size_t data_offset;    /* first data byte */
    size_t size;
} sc_zip_entry;

typedef struct sc_zip {
    sc_zip_entry *entries; /* central-directory order */
    size_t n;
    const sc_zip_entry **sorted; /* entries sorted by name, for lookups */
} sc_zip;

/* Parses the directory of data[0..size). `path` names the archive in errors.
 * On failure *out is left zeroed. */
sc_status sc_zip_open(const uint8_t *data, size_t size, const char *path, sc_zip *out,
                      sc_error *err);
/* Entry with exactly this name, or NULL. O(log n). */
const sc_zip_entry *sc_zip_find(const sc_zip *z, const char *name, size_t name_len);
void sc_zip_close(sc_zip *z);

#endif
