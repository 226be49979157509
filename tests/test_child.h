/* A child process for the CLI tests: the program started with each of its
 * standard streams on a pipe, a pseudo-terminal, /dev/null or left as the
 * test's own; lines read back with a 60 s guard against a hang; at the end
 * stdin closed, stdout drained and the exit status collected (the child is
 * killed if it neither writes nor exits for 60 s). Include after
 * test_util.h, in a file that defines _GNU_SOURCE first (posix_openpt). */
#ifndef SC_TEST_CHILD_H
#define SC_TEST_CHILD_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* How sc_child_start connects one standard stream of the child. */
typedef enum {
    SC_CHILD_PIPE,    /* a pipe to or from the test */
    SC_CHILD_PTY,     /* a pseudo-terminal (the test holds the master side) */
    SC_CHILD_NULL,    /* /dev/null */
    SC_CHILD_INHERIT, /* the test's own stream */
} sc_child_io;

/* A running child. in, out and err are the test's ends of the child's
 * stdin, stdout and stderr (-1 where not a pipe or terminal). */
typedef struct sc_child {
    pid_t pid;
    int in, out, err;
    int out_slave;     /* stdout's terminal side, kept open so reads never see EIO; or -1 */
    char buf[1 << 16]; /* stdout read but not yet taken as lines */
    size_t have;
    char ebuf[4096]; /* the same for stderr */
    size_t ehave;
} sc_child;

/* Closes *fd if open and marks it closed. */
static inline void sc_child_close(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Opens one end pair for a stream: ends[0] the child's, ends[1] the test's.
 * For a pipe the child reads ends[0] when `child_reads`; a terminal's child
 * side is its slave. False on failure (nothing left open). */
static inline bool sc_child_open_io(sc_child_io how, bool child_reads, int ends[2]) {
    ends[0] = ends[1] = -1;
    if (how == SC_CHILD_PIPE) {
        int p[2];
        if (pipe(p)) return false;
        ends[0] = child_reads ? p[0] : p[1];
        ends[1] = child_reads ? p[1] : p[0];
    } else if (how == SC_CHILD_PTY) {
        int master = posix_openpt(O_RDWR | O_NOCTTY);
        if (master < 0) return false;
        const char *name = grantpt(master) || unlockpt(master) ? NULL : ptsname(master);
        int slave = name ? open(name, O_RDWR | O_NOCTTY) : -1;
        if (slave < 0) {
            close(master);
            return false;
        }
        ends[0] = slave;
        ends[1] = master;
    } else if (how == SC_CHILD_NULL) {
        ends[0] = open("/dev/null", O_RDWR);
        if (ends[0] < 0) return false;
    }
    return true;
}

/* Starts argv (argv[0] a path) with stdin, stdout and stderr connected as
 * asked. False when it could not be started. */
static inline bool sc_child_start(sc_child *c, char *const argv[], sc_child_io in, sc_child_io out,
                                  sc_child_io err) {
    int e[3][2];
    sc_child_io how[3] = {in, out, err};
    memset(e, -1, sizeof e);
    bool ok = true;
    for (int s = 0; s < 3 && ok; s++) ok = sc_child_open_io(how[s], s == 0, e[s]);
    c->pid = ok ? fork() : -1;
    if (c->pid == 0) {
        for (int s = 0; s < 3; s++)
            if (e[s][0] >= 0) dup2(e[s][0], s);
        for (int fd = 3; fd < 64; fd++) close(fd);
        execv(argv[0], argv);
        _exit(127);
    }
    /* the test keeps its ends, and the slave of a terminal on stdout */
    c->out_slave = c->pid > 0 && how[1] == SC_CHILD_PTY ? e[1][0] : -1;
    for (int s = 0; s < 3; s++) {
        if (e[s][0] != c->out_slave) sc_child_close(&e[s][0]);
        if (c->pid < 0) sc_child_close(&e[s][1]);
    }
    c->in = e[0][1];
    c->out = e[1][1];
    c->err = e[2][1];
    c->have = c->ehave = 0;
    return c->pid > 0;
}

/* The next line of fd (without its '\n') into line (cap bytes); false at
 * the end of output or when nothing comes for 60 s. buf (bufcap bytes) and
 * *have keep what was read past the line. */
static inline bool sc_child_read_line(int fd, char *buf, size_t *have, size_t bufcap, char *line,
                                      size_t cap) {
    for (;;) {
        char *nl = memchr(buf, '\n', *have);
        if (nl) {
            size_t n = (size_t)(nl - buf);
            snprintf(line, cap, "%.*s", (int)n, buf);
            memmove(buf, nl + 1, *have - n - 1);
            *have -= n + 1;
            return true;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (fd < 0 || poll(&p, 1, 60000) <= 0 || *have == bufcap) return false;
        ssize_t r = read(fd, buf + *have, bufcap - *have);
        if (r <= 0) return false;
        *have += (size_t)r;
    }
}

/* The next line of the child's stdout (see sc_child_read_line). */
static inline bool sc_child_line(sc_child *c, char *line, size_t cap) {
    return sc_child_read_line(c->out, c->buf, &c->have, sizeof c->buf, line, cap);
}

/* The next line of the child's stderr (see sc_child_read_line). */
static inline bool sc_child_err_line(sc_child *c, char *line, size_t cap) {
    return sc_child_read_line(c->err, c->ebuf, &c->ehave, sizeof c->ebuf, line, cap);
}

/* Writes s whole to the child's stdin. */
static inline bool sc_child_say(sc_child *c, const char *s) {
    return c->in >= 0 && write(c->in, s, strlen(s)) == (ssize_t)strlen(s);
}

/* What the child wrote on stderr and no line took yet, without waiting,
 * into out (cap bytes, NUL-terminated). */
static inline void sc_child_err_now(sc_child *c, char *out, size_t cap) {
    size_t n = c->ehave < cap - 1 ? c->ehave : cap - 1;
    memcpy(out, c->ebuf, n);
    c->ehave = 0;
    if (c->err >= 0) {
        int fl = fcntl(c->err, F_GETFL);
        fcntl(c->err, F_SETFL, fl | O_NONBLOCK);
        ssize_t r;
        while (n + 1 < cap && (r = read(c->err, out + n, cap - 1 - n)) > 0) n += (size_t)r;
        fcntl(c->err, F_SETFL, fl);
    }
    out[n] = '\0';
}

/* Closes the child's stdin and reads its stdout until the child has exited
 * and nothing is left; gives up (SIGKILL) after 60 s with neither output nor
 * exit. The stdout not taken as lines stays in c->buf (NUL-terminated, cut
 * at its size); *extra (when not NULL) gets how many bytes that was in all.
 * Returns the exit status, -1 when the child did not exit by itself. */
static inline int sc_child_end(sc_child *c, size_t *extra) {
    sc_child_close(&c->in);
    size_t total = c->have;
    int st = 0;
    bool eof = c->out < 0, exited = false;
    for (int idle = 0; idle < 600;) { /* 100 ms ticks */
        /* poll skips a negative fd: then it only waits the tick */
        struct pollfd p = {.fd = eof ? -1 : c->out, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            char tmp[4096];
            ssize_t r = read(c->out, tmp, sizeof tmp);
            if (r > 0) {
                size_t room = c->have + 1 < sizeof c->buf ? sizeof c->buf - 1 - c->have : 0;
                size_t keep = room < (size_t)r ? room : (size_t)r;
                memcpy(c->buf + c->have, tmp, keep);
                c->have += keep;
                total += (size_t)r;
                continue;
            }
            eof = true; /* end of output (or a read error) */
        }
        if (exited) break; /* exited, and nothing more came */
        if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
            exited = true;
            if (eof) break;
        } else {
            idle++;
        }
    }
    if (!exited) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, &st, 0);
    }
    c->buf[c->have < sizeof c->buf ? c->have : sizeof c->buf - 1] = '\0';
    if (extra) *extra = total;
    sc_child_close(&c->out);
    sc_child_close(&c->err);
    sc_child_close(&c->out_slave);
    return exited && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
