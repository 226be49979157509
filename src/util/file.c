/* See file.h. */
#define _POSIX_C_SOURCE 200809L
#include "util/file.h"
#include "util/checked.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

sc_status sc_read_file(const char *path, size_t max_bytes, char **out, size_t *len, sc_error *err) {
    if (!path || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "read: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f)
        return sc_fail(err, errno == ENOENT ? SC_ERR_MISSING : SC_ERR_IO, SC_NO_OFFSET, "%s: cannot open: %s",
                       path, strerror(errno));
    struct stat st;
    sc_status s = SC_OK;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        s = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: not a regular file", path);
    else if ((unsigned long long)st.st_size > max_bytes)
        s = sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "%s: file is %lld bytes, more than the %zu allowed", path,
                    (long long)st.st_size, max_bytes);
    char *buf = NULL;
    size_t n = s ? 0 : (size_t)st.st_size, bytes = 0;
    if (!s && !sc_add_size(n, 1, &bytes)) s = sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "%s: too large", path);
    if (!s && !(buf = malloc(bytes))) s = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
    /* a file that grew since fstat is cut at its size then; one that shrank fails */
    if (!s && fread(buf, 1, n, f) != n) s = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: read failed", path);
    fclose(f);
    if (s) {
        free(buf);
        return s;
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return SC_OK;
}
