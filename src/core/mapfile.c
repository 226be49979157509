#define _GNU_SOURCE
#include "core/mapfile.h"
#include "core/error.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Git LFS pointer files: git-lfs itself never parses a blob of 1024 bytes or
 * more as a pointer, and the spec fixes the first line. The hawser URL is
 * what the earliest clients wrote. */
#define LFS_POINTER_MAX 1024

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* What the file should have held, by its name, for the message. */
static const char *lfs_what(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    static const char *const weights[] = {".safetensors", ".bin", ".index.json", ".pt", ".pth", ".ckpt", ".h5",
                                          ".msgpack", ".gguf"};
    static const char *const tokenizer[] = {".model", "tokenizer.json", "tokenizer_config.json",
                                            "special_tokens_map.json", "added_tokens.json"};
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++)
        if (ends_with(b, weights[i])) return "the weights";
    for (size_t i = 0; i < sizeof tokenizer / sizeof tokenizer[0]; i++)
        if (ends_with(b, tokenizer[i])) return "the tokenizer";
    return "the file itself";
}

sc_status sc_file_check_lfs_pointer(const char *path, const void *data, size_t size, sc_error *err) {
    static const char *const first[] = {"version https://git-lfs.github.com/spec/v1",
                                        "version https://hawser.github.com/spec/v1"};
    const char *s = data;
    if (!s || size >= LFS_POINTER_MAX) return SC_OK;
    bool pointer = false;
    for (size_t i = 0; i < 2 && !pointer; i++) {
        size_t k = strlen(first[i]);
        pointer = size > k && memcmp(s, first[i], k) == 0 && (s[k] == '\n' || s[k] == '\r');
    }
    if (!pointer) return SC_OK;
    /* The pointer's "size N" line says how big the real file is: worth telling
     * someone who is about to download it. */
    char real[64] = "";
    for (size_t i = 0; i + 5 < size; i++) {
        if ((i == 0 || s[i - 1] == '\n') && memcmp(s + i, "size ", 5) == 0) {
            uint64_t v = 0;
            size_t j = i + 5, digits = 0;
            while (j < size && s[j] >= '0' && s[j] <= '9' && digits < 19) {
                v = v * 10 + (uint64_t)(s[j++] - '0');
                digits++;
            }
            if (digits) snprintf(real, sizeof real, " (the real file is %" PRIu64 " bytes)", v);
            break;
        }
    }
    const char *p = path ? path : "<buffer>";
    return sc_fail(err, SC_ERR_FORMAT, 0,
                   "%s is a Git LFS pointer, not %s: install git-lfs and run `git lfs pull` in the clone%s", p,
                   lfs_what(p), real);
}

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
#ifdef MADV_HUGEPAGE
        /* Advice only. Pages the file has in the cache keep their size, but
         * those read in through this mapping come in 2 MiB folios, which the
         * kernel maps with one entry each from then on, in every process:
         * experts stream measurably faster from them (docs/memory.md). */
        madvise(data, size, MADV_HUGEPAGE);
#endif
        /* Pages past the file's end raise SIGBUS when touched, and every
         * parser trusts `size`: a file cut (or grown) between the fstat above
         * and the mmap is refused here, before anything reads it. One that
         * changes later is the caller's to avoid (docs/memory.md). */
        struct stat now = {.st_size = -1};
        sc_status s2 = SC_OK;
        if (fstat(fd, &now) != 0 || (size_t)now.st_size != size)
            s2 = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET,
                         "%s: the file changed size while being opened (%zu bytes, then %lld): a weight file "
                         "must not be written to while it is loaded",
                         path, size, (long long)now.st_size);
        if (!s2) s2 = sc_file_check_lfs_pointer(path, data, size, err);
        if (s2) {
            munmap(data, size);
            close(fd);
            free(pcopy);
            return s2;
        }
    }
    close(fd);
    out->data = data;
    out->size = size;
    out->path = pcopy;
    out->in_memory = false;
    return SC_OK;
}

/* Chunks of the read: what one pread asks for, claimed by the readers in
 * turn, and the steps of progress. */
#define LOAD_CHUNK ((size_t)1 << 20)
#define LOAD_MAX_THREADS 16

/* A read shared by the calling thread and its helpers: each claims the next
 * chunk until none is left or one read has failed. */
typedef struct load_job {
    int fd;
    unsigned char *data;
    size_t size, n_chunks;
    _Atomic size_t next, done;
    _Atomic int failed; /* 1 + errno of the first failed read, or 0 */
    size_t fail_at;     /* its offset (written by the one that set failed) */
} load_job;

/* Returns the last byte count it reported (0: none). */
static size_t load_chunks(load_job *j, const sc_file_progress *progress) {
    size_t reported = 0;
    for (;;) {
        size_t c = atomic_fetch_add(&j->next, 1);
        if (c >= j->n_chunks || atomic_load(&j->failed)) return reported;
        size_t at = c * LOAD_CHUNK, end = at + LOAD_CHUNK < j->size ? at + LOAD_CHUNK : j->size;
        while (at < end) {
            ssize_t r = pread(j->fd, j->data + at, end - at, (off_t)at);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                int expect = 0;
                if (atomic_compare_exchange_strong(&j->failed, &expect, r == 0 ? 1 : 1 + errno)) j->fail_at = at;
                return reported;
            }
            at += (size_t)r;
            atomic_fetch_add(&j->done, (size_t)r);
        }
        if (progress && progress->fn) {
            reported = atomic_load(&j->done);
            progress->fn(progress->ctx, progress->base + reported, progress->total);
        }
    }
}

static void *load_helper(void *arg) {
    load_chunks(arg, NULL);
    return NULL;
}

sc_status sc_file_load(const char *path, int threads, const sc_file_progress *progress, sc_mapped_file *out,
                       sc_error *err) {
    if (!path || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "load: NULL argument");
    int fd = -1;
    struct stat st;
    sc_status s = open_regular(path, &fd, &st, err);
    if (s) return s;
    char *pcopy = strdup(path);
    unsigned char *data = NULL;
    const size_t size = (size_t)st.st_size;
    if (!pcopy) {
        s = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
        goto fail;
    }
    if (size > 0) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            s = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: cannot allocate %zu bytes to read it into: %s",
                        path, size, strerror(errno));
            goto fail;
        }
        data = p;
#ifdef MADV_HUGEPAGE
        madvise(data, size, MADV_HUGEPAGE); /* advice only: fewer faults and TLB misses */
#endif
    }
    /* Helpers: most of the time goes to the kernel zeroing the fresh pages,
     * which two threads do in about half the time of one. */
    load_job j = {.fd = fd, .data = data, .size = size, .n_chunks = size / LOAD_CHUNK + (size % LOAD_CHUNK != 0)};
    atomic_init(&j.next, 0);
    atomic_init(&j.done, 0);
    atomic_init(&j.failed, 0);
    pthread_t helper[LOAD_MAX_THREADS];
    int helpers = 0, want = threads < 1 ? 1 : threads > LOAD_MAX_THREADS ? LOAD_MAX_THREADS : threads;
    while (helpers + 1 < want && (size_t)helpers + 1 < j.n_chunks &&
           pthread_create(&helper[helpers], NULL, load_helper, &j) == 0)
        helpers++;
    const size_t reported = load_chunks(&j, progress);
    for (int i = 0; i < helpers; i++) pthread_join(helper[i], NULL);
    const int failed = atomic_load(&j.failed);
    if (!failed && size > 0 && reported < size && progress && progress->fn) /* a helper read the last chunk */
        progress->fn(progress->ctx, progress->base + size, progress->total);
    if (failed) {
        s = failed == 1 ? sc_fail(err, SC_ERR_IO, j.fail_at,
                                  "%s: file ended at byte %zu of %zu while read (changed on disk?)", path, j.fail_at,
                                  size)
                        : sc_fail(err, SC_ERR_IO, j.fail_at, "%s: read failed at byte %zu: %s", path, j.fail_at,
                                  strerror(failed - 1));
        goto fail;
    }
    if ((s = sc_file_check_lfs_pointer(path, data, size, err))) goto fail;
    close(fd);
    if (data) mprotect(data, size, PROT_READ); /* like a mapping: writes are bugs */
    out->data = data;
    out->size = size;
    out->path = pcopy;
    out->in_memory = true;
    return SC_OK;
fail:
    if (data) munmap(data, size);
    free(pcopy);
    close(fd);
    return s;
}

void sc_file_unmap(sc_mapped_file *f) {
    if (!f) return;
    if (f->data && f->size) munmap((void *)f->data, f->size);
    free(f->path);
    f->data = NULL;
    f->size = 0;
    f->path = NULL;
    f->in_memory = false;
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
    if ((s = sc_file_check_lfs_pointer(path, buf, n, err))) {
        free(buf);
        return s;
    }
    *out = buf;
    if (out_len) *out_len = n;
    return SC_OK;
}

size_t sc_file_size(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

bool sc_path_is_file(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool sc_path_is_dir(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
