/* Staged output directory (see staged_dir.h). */
#include "io/staged_dir.h"
#include "core/error.h"
#include "core/mapfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CREATED 64 /* directory levels mkdir -p may create */

struct sc_staged_dir {
    char *out;                   /* the output directory as given */
    char *tmp;                   /* out/.tmp-XXXXXX */
    char *created[MAX_CREATED];  /* directories the open created, outermost first */
    size_t n_created;
};

static bool plain_name(const char *name) {
    return name && name[0] && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && !strchr(name, '/');
}

static void remove_created(sc_staged_dir *s) {
    /* innermost first; rmdir only removes a directory that is empty again */
    while (s->n_created > 0) {
        char *d = s->created[--s->n_created];
        rmdir(d);
        free(d);
    }
}

static void staged_free(sc_staged_dir *s) {
    for (size_t i = 0; i < s->n_created; i++) free(s->created[i]);
    free(s->out);
    free(s->tmp);
    free(s);
}

/* mkdir -p, remembering what it made. */
static sc_status make_dirs(sc_staged_dir *s, sc_error *err) {
    size_t len = strlen(s->out);
    char *buf = malloc(len + 1);
    if (!buf) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", s->out);
    memcpy(buf, s->out, len + 1);
    sc_status st = SC_OK;
    for (size_t i = 1; i <= len && !st; i++) {
        if (i < len && buf[i] != '/') continue;
        if (i < len && buf[i - 1] == '/') continue; /* "a//b" */
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) == 0) {
            if (s->n_created == MAX_CREATED || !(s->created[s->n_created] = strdup(buf))) {
                rmdir(buf);
                st = sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "%s: too many directories to create", s->out);
            } else {
                s->n_created++;
            }
        } else if (errno != EEXIST) {
            st = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "cannot create the output directory %s: %s", buf,
                         strerror(errno));
        }
        buf[i] = saved;
    }
    free(buf);
    return st;
}

sc_status sc_staged_dir_open(const char *dir, sc_staged_dir **out, sc_error *err) {
    if (!dir || !dir[0] || !out)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "staged output: no directory given");
    sc_staged_dir *s = calloc(1, sizeof *s);
    if (!s || !(s->out = strdup(dir)) || !(s->tmp = sc_path_join(dir, ".tmp-XXXXXX"))) {
        if (s) staged_free(s);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", dir);
    }
    struct stat st;
    sc_status rc = SC_OK;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            rc = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "output %s exists and is not a directory", dir);
    } else if (errno == ENOENT) {
        rc = make_dirs(s, err);
    } else {
        rc = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "output %s: %s", dir, strerror(errno));
    }
    if (!rc && !mkdtemp(s->tmp))
        rc = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "cannot create a staging directory in %s: %s", dir,
                     strerror(errno));
    if (rc) {
        remove_created(s);
        staged_free(s);
        return rc;
    }
    *out = s;
    return SC_OK;
}

const char *sc_staged_dir_target(const sc_staged_dir *s) { return s ? s->out : NULL; }
const char *sc_staged_dir_tmp(const sc_staged_dir *s) { return s ? s->tmp : NULL; }

char *sc_staged_dir_path(const sc_staged_dir *s, const char *name) {
    return s && plain_name(name) ? sc_path_join(s->tmp, name) : NULL;
}

FILE *sc_staged_dir_fopen(sc_staged_dir *s, const char *name, sc_error *err) {
    char *path = sc_staged_dir_path(s, name);
    if (!path) {
        sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "staged output: '%s' is not a plain file name",
                name ? name : "(null)");
        return NULL;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: cannot create: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
    }
    free(path);
    return f;
}

sc_status sc_staged_dir_copy(sc_staged_dir *s, const char *dir_in, const char *name, bool *copied,
                             sc_error *err) {
    *copied = false;
    char *src = sc_path_join(dir_in, name);
    if (!src) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    FILE *in = fopen(src, "rb");
    if (!in) {
        int e = errno;
        sc_status st = e == ENOENT ? SC_OK : sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "cannot read %s: %s", src, strerror(e));
        free(src);
        return st;
    }
    FILE *f = sc_staged_dir_fopen(s, name, err);
    if (!f) {
        fclose(in);
        free(src);
        return err ? err->code : SC_ERR_IO;
    }
    char buf[1 << 16];
    size_t n;
    int e = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, f) != n && !e) e = errno ? errno : EIO;
    if (ferror(in) && !e) e = errno ? errno : EIO;
    fclose(in);
    if (fclose(f) != 0 && !e) e = errno ? errno : EIO;
    sc_status st = e ? sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "copying %s failed: %s", src, strerror(e)) : SC_OK;
    free(src);
    *copied = !e;
    return st;
}

sc_status sc_staged_dir_write(sc_staged_dir *s, const char *name, const char *text, size_t len, sc_error *err) {
    FILE *f = sc_staged_dir_fopen(s, name, err);
    if (!f) return err ? err->code : SC_ERR_IO;
    int e = fwrite(text, 1, len, f) == len ? 0 : (errno ? errno : EIO);
    if (fclose(f) != 0 && !e) e = errno ? errno : EIO;
    if (!e) return SC_OK;
    char *path = sc_staged_dir_path(s, name);
    sc_status st = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "cannot write %s: %s", path ? path : name, strerror(e));
    free(path);
    return st;
}

bool sc_staged_dir_has(const sc_staged_dir *s, const char *name) {
    char *path = sc_staged_dir_path(s, name);
    struct stat st;
    bool ok = path && lstat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    return ok;
}

/* fsync through a read-only descriptor: enough on Linux and the BSDs to
 * flush the file's data and metadata. */
static sc_status sync_path(const char *path, bool dir, sc_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: cannot open to sync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    /* some filesystems cannot sync a directory (EINVAL): nothing more to do there */
    if (rc != 0 && !(dir && e == EINVAL))
        return sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: fsync failed: %s", path, strerror(e));
    return SC_OK;
}

static void remove_tmp(sc_staged_dir *s) {
    DIR *d = opendir(s->tmp);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(s->tmp);
}

void sc_staged_dir_abort(sc_staged_dir *s) {
    if (!s) return;
    remove_tmp(s);
    remove_created(s);
    staged_free(s);
}

sc_status sc_staged_dir_commit(sc_staged_dir *s, const sc_stage_step *steps, size_t n, sc_error *err) {
    if (!s) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "staged output: NULL handle");
    sc_status st = SC_OK;
    for (size_t i = 0; i < n && !st; i++)
        if (!plain_name(steps[i].name) || (steps[i].op != SC_STAGE_MOVE && steps[i].op != SC_STAGE_REMOVE))
            st = sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "staged output: bad step %zu ('%s')", i,
                         steps[i].name ? steps[i].name : "(null)");
    /* every file durable before the first rename makes any of them visible */
    for (size_t i = 0; i < n && !st; i++) {
        if (steps[i].op != SC_STAGE_MOVE) continue;
        char *p = sc_path_join(s->tmp, steps[i].name);
        st = p ? sync_path(p, false, err) : sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
        free(p);
    }
    if (st) {
        sc_staged_dir_abort(s);
        return st;
    }
    size_t done = 0; /* steps carried out */
    for (; done < n && !st; done += !st) {
        char *from = sc_path_join(s->tmp, steps[done].name), *to = sc_path_join(s->out, steps[done].name);
        if (!from || !to) {
            st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
        } else if (steps[done].op == SC_STAGE_MOVE) {
            if (rename(from, to) != 0)
                st = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "cannot move %s to %s: %s (%zu of %zu steps done)",
                             from, to, strerror(errno), done, n);
        } else if (unlink(to) != 0 && errno != ENOENT) {
            st = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "cannot remove %s: %s (%zu of %zu steps done)", to,
                         strerror(errno), done, n);
        }
        free(from);
        free(to);
    }
    if (!st) st = sync_path(s->out, true, err);
    if (done > 0) {
        /* OUT holds new files now: the directories the open made are no longer ours to remove */
        for (size_t i = 0; i < s->n_created; i++) free(s->created[i]);
        s->n_created = 0;
    }
    sc_staged_dir_abort(s);
    return st;
}
