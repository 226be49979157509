#define _GNU_SOURCE
#include "core/mapfile.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens path read-only and checks that it is a regular file. */
static sc_status open_regular(const char *path, int *fd_out, struct stat *st, sc_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sc_fail(err, errno == ENOENT ? SC_ERR_MISSING : SC_ERR_IO, SC_NO_OFFSET,
                       "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: not a regular file", path);
    }
    *fd_out = fd;
    return SC_OK;
}

sc_status sc_file_map(const char *path, sc_mapped_file *out, sc_error *err) {
    if (!path || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "map: NULL argument");
    int fd = -1;
    struct stat st;
    sc_status s = open_regular(path, &fd, &st, err);
    if (s) return s;
    char *pcopy = strdup(path);
    if (!pcopy) {
        close(fd);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
    }
    void *data = NULL;
    size_t size = (size_t)st.st_size;
    if (size > 0) {
        data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (data == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(pcopy);
            return sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: mmap failed: %s", path, strerror(e));
        }
    }
    close(fd);
    out->data = data;
    out->size = size;
    out->path = pcopy;
    return SC_OK;
}

void sc_file_unmap(sc_mapped_file *f) {
    if (!f) return;
    if (f->data && f->size) munmap((void *)f->data, f->size);
    free(f->path);
    f->data = NULL;
    f->size = 0;
    f->path = NULL;
}

sc_status sc_file_read(const char *path, size_t max_bytes, char **out, size_t *out_len,
                       sc_error *err) {
    int fd = -1;
    struct stat st;
    sc_status s = open_regular(path, &fd, &st, err);
    if (s) return s;
    if ((unsigned long long)st.st_size > max_bytes) {
        close(fd);
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "%s: file is %lld bytes, more than the %zu allowed",
                       path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            close(fd);
            free(buf);
            return sc_fail(err, SC_ERR_IO, got, "%s: read failed", path);
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    if (out_len) *out_len = n;
    return SC_OK;
}

bool sc_path_is_file(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool sc_path_is_dir(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *sc_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}
