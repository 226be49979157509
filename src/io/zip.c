/* Zip directory reader for torch .bin checkpoints (see zip.h). Structure
 * follows PKWARE APPNOTE 6.3: EOCD (22 bytes + comment), optional zip64
 * locator (20 bytes) and zip64 EOCD (56 bytes), central entries (46 bytes +
 * name/extra/comment), local headers (30 bytes + name/extra). Leaves out
 * compression, encryption, multi-disk archives and CRC checks. */
#include "io/zip.h"
#include "core/checked.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

static int cmp_entry(const void *a, const void *b) {
    const sc_zip_entry *x = *(const sc_zip_entry *const *)a, *y = *(const sc_zip_entry *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c) return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* Reads the zip64 extended-information extra field: only the fields whose
 * 32-bit central value was saturated are present, in this order. */
static sc_status read_zip64_extra(const uint8_t *ex, size_t ex_len, uint64_t *usize,
                                  uint64_t *csize, uint64_t *offset, const char *path,
                                  size_t at, int name_len, const char *name, sc_error *err) {
    size_t p = 0;
    while (p + 4 <= ex_len) {
        uint16_t id = rd16(ex + p), len = rd16(ex + p + 2);
        if (len > ex_len - p - 4) break;
        if (id == 0x0001) {
            const uint8_t *d = ex + p + 4;
            size_t q = 0;
            uint64_t *fields[3] = {usize, csize, offset};
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xFFFFFFFFu) continue;
                if (q + 8 > len)
                    return sc_fail(err, SC_ERR_FORMAT, at,
                                   "%s: zip entry '%.*s': zip64 extra field too short", path,
                                   name_len, name);
                *fields[i] = rd64(d + q);
                q += 8;
            }
            return SC_OK;
        }
        p += 4 + (size_t)len;
    }
    if (*usize == 0xFFFFFFFFu || *csize == 0xFFFFFFFFu || *offset == 0xFFFFFFFFu)
        return sc_fail(err, SC_ERR_FORMAT, at, "%s: zip entry '%.*s': zip64 extra field missing",
                       path, name_len, name);
    return SC_OK;
}

sc_status sc_zip_open(const uint8_t *data, size_t size, const char *path, sc_zip *out,
                      sc_error *err) {
    memset(out, 0, sizeof *out);
    if (size < 22 || !data)
        return sc_fail(err, SC_ERR_FORMAT, 0, "%s: %zu bytes is too short for a zip archive", path,
                       size);
    /* The EOCD is the last record; a comment of up to 65535 bytes may follow. */
    size_t eocd = SIZE_MAX;
    size_t lowest = size - 22 > 65535 ? size - 22 - 65535 : 0;
    for (size_t i = size - 22 + 1; i-- > lowest;) {
        if (rd32(data + i) == SIG_EOCD && i + 22 + rd16(data + i + 20) <= size) {
            eocd = i;
            break;
        }
    }
    if (eocd == SIZE_MAX)
        return sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET,
                       "%s: not a zip archive (no end-of-central-directory record)", path);
    const uint8_t *e = data + eocd;
    uint64_t disk = rd16(e + 4), cd_disk = rd16(e + 6), n_disk = rd16(e + 8), n = rd16(e + 10);
    uint64_t cd_size = rd32(e + 12), cd_off = rd32(e + 16);
    size_t dir_end = eocd; /* the central directory must end before this */
    if (eocd >= 20 && rd32(data + eocd - 20) == SIG_LOC64) {
        const uint8_t *l = data + eocd - 20;
        uint64_t z64 = rd64(l + 8);
        if (rd32(l + 4) != 0 || rd32(l + 16) > 1)
            return sc_fail(err, SC_ERR_UNSUPPORTED, eocd - 20, "%s: multi-disk zip archive", path);
        if (z64 > eocd - 20 || eocd - 20 - z64 < 56 || rd32(data + z64) != SIG_EOCD64)
            return sc_fail(err, SC_ERR_FORMAT, eocd - 20,
                           "%s: zip64 locator points to no zip64 end-of-directory record", path);
        const uint8_t *z = data + z64;
        disk = rd32(z + 16);
        cd_disk = rd32(z + 20);
        n_disk = rd64(z + 24);
        n = rd64(z + 32);
        cd_size = rd64(z + 40);
        cd_off = rd64(z + 48);
        dir_end = (size_t)z64;
    } else if (n == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
        return sc_fail(err, SC_ERR_FORMAT, eocd,
                       "%s: zip64 values without a zip64 end-of-directory record", path);
    }
    if (disk != 0 || cd_disk != 0 || n_disk != n)
        return sc_fail(err, SC_ERR_UNSUPPORTED, eocd, "%s: multi-disk zip archive", path);
    if (cd_off > dir_end || cd_size > dir_end - cd_off)
        return sc_fail(err, SC_ERR_FORMAT, eocd,
                       "%s: central directory (offset %llu, %llu bytes) lies outside the file",
                       path, (unsigned long long)cd_off, (unsigned long long)cd_size);
    if (n > cd_size / 46)
        return sc_fail(err, SC_ERR_FORMAT, eocd,
                       "%s: %llu zip entries cannot fit a %llu-byte central directory", path,
                       (unsigned long long)n, (unsigned long long)cd_size);
    size_t count = (size_t)n;
    out->entries = calloc(count ? count : 1, sizeof(sc_zip_entry));
    out->sorted = calloc(count ? count : 1, sizeof(sc_zip_entry *));
    if (!out->entries || !out->sorted) {
        sc_zip_close(out);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
    }
    sc_status st = SC_OK;
    size_t p = (size_t)cd_off, cd_end = (size_t)(cd_off + cd_size);
    for (size_t k = 0; k < count; k++) {
        if (cd_end - p < 46 || rd32(data + p) != SIG_CENTRAL) {
            st = sc_fail(err, SC_ERR_FORMAT, p, "%s: zip central directory entry %zu is corrupt",
                         path, k);
            goto fail;
        }
        const uint8_t *c = data + p;
        uint16_t flags = rd16(c + 8), method = rd16(c + 10);
        uint64_t csize = rd32(c + 20), usize = rd32(c + 24), off = rd32(c + 42);
        size_t nl = rd16(c + 28), xl = rd16(c + 30), cl = rd16(c + 32);
        if (cd_end - p - 46 < nl + xl + cl) {
            st = sc_fail(err, SC_ERR_FORMAT, p,
                         "%s: zip central directory entry %zu runs past the directory", path, k);
            goto fail;
        }
        const char *name = (const char *)c + 46;
        int pn = (int)nl; /* for %.*s */
        if (rd16(c + 34) != 0 && rd16(c + 34) != 0xFFFF) {
            st = sc_fail(err, SC_ERR_UNSUPPORTED, p, "%s: zip entry '%.*s' is on another disk",
                         path, pn, name);
            goto fail;
        }
        st = read_zip64_extra(c + 46 + nl, xl, &usize, &csize, &off, path, p, pn, name, err);
        if (st) goto fail;
        if (flags & 1) {
            st = sc_fail(err, SC_ERR_UNSUPPORTED, p, "%s: zip entry '%.*s' is encrypted", path, pn,
                         name);
            goto fail;
        }
        if (method != 0) {
            st = sc_fail(err, SC_ERR_UNSUPPORTED, p,
                         "%s: zip entry '%.*s' is compressed (method %u); only stored entries "
                         "are supported",
                         path, pn, name, (unsigned)method);
            goto fail;
        }
        if (csize != usize) {
            st = sc_fail(err, SC_ERR_FORMAT, p,
                         "%s: stored zip entry '%.*s' has compressed size %llu != size %llu", path,
                         pn, name, (unsigned long long)csize, (unsigned long long)usize);
            goto fail;
        }
        /* Local header: must exist, name the same entry with the same method,
         * and (unless sizes are deferred to a data descriptor) the same sizes. */
        if (off >= cd_off || cd_off - off < 30 || rd32(data + off) != SIG_LOCAL) {
            st = sc_fail(err, SC_ERR_FORMAT, p,
                         "%s: zip entry '%.*s': no local header at offset %llu", path, pn, name,
                         (unsigned long long)off);
            goto fail;
        }
        const uint8_t *h = data + off;
        size_t lnl = rd16(h + 26), lxl = rd16(h + 28);
        uint16_t lflags = rd16(h + 6);
        size_t data_off = (size_t)off + 30 + lnl + lxl;
        if (data_off > cd_off || lnl != nl || memcmp(h + 30, name, nl) != 0 ||
            rd16(h + 8) != method || (lflags & 1)) {
            st = sc_fail(err, SC_ERR_FORMAT, (size_t)off,
                         "%s: zip entry '%.*s': local header disagrees with the central directory",
                         path, pn, name);
            goto fail;
        }
        if (!(lflags & 8)) {
            uint64_t lc = rd32(h + 18), lu = rd32(h + 22);
            if ((lc != 0xFFFFFFFFu && lc != csize) || (lu != 0xFFFFFFFFu && lu != usize)) {
                st = sc_fail(err, SC_ERR_FORMAT, (size_t)off,
                             "%s: zip entry '%.*s': local header sizes disagree with the central "
                             "directory",
                             path, pn, name);
                goto fail;
            }
        }
        if (usize > cd_off - data_off) {
            st = sc_fail(err, SC_ERR_FORMAT, (size_t)off,
                         "%s: zip entry '%.*s': %llu bytes of data run into the central directory",
                         path, pn, name, (unsigned long long)usize);
            goto fail;
        }
        sc_zip_entry *z = &out->entries[k];
        z->name = name;
        z->name_len = nl;
        z->header_offset = (size_t)off;
        z->data_offset = data_off;
        z->size = (size_t)usize;
        out->sorted[k] = z;
        p += 46 + nl + xl + cl;
    }
    out->n = count;
    qsort(out->sorted, count, sizeof *out->sorted, cmp_entry);
    for (size_t k = 1; k < count; k++) {
        if (cmp_entry(&out->sorted[k - 1], &out->sorted[k]) == 0) {
            st = sc_fail(err, SC_ERR_FORMAT, out->sorted[k]->header_offset,
                         "%s: zip entry '%.*s' appears twice", path, (int)out->sorted[k]->name_len,
                         out->sorted[k]->name);
            goto fail;
        }
    }
    return SC_OK;
fail:
    sc_zip_close(out);
    return st;
}

const sc_zip_entry *sc_zip_find(const sc_zip *z, const char *name, size_t name_len) {
    if (!z || !z->sorted) return NULL;
    sc_zip_entry key = {.name = name, .name_len = name_len};
    const sc_zip_entry *kp = &key;
    const sc_zip_entry **hit = bsearch(&kp, z->sorted, z->n, sizeof *z->sorted, cmp_entry);
    return hit ? *hit : NULL;
}

void sc_zip_close(sc_zip *z) {
    if (!z) return;
    free(z->entries);
    free(z->sorted);
    memset(z, 0, sizeof *z);
}
