/* Staged output: how every writer of a multi-file output (a checkpoint from
 * `convert`, `init`, later training) avoids damaging what is already there.
 *
 * All files are first written into a fresh directory OUT/.tmp-XXXXXX
 * (mkdtemp, inside the output directory so that the final renames stay on
 * one filesystem). Nothing under OUT itself is opened for writing. Only
 * after every file was written does the commit fsync each of them and move
 * them into OUT by rename(2), in the order the caller gives, then fsync OUT
 * and remove the staging directory. Consequences the writers rely on:
 *   - an existing OUT/name, even one mapped for reading by this process (a
 *     checkpoint converted in place), keeps its bytes: rename replaces the
 *     directory entry, the old inode lives on until its last mapping or
 *     descriptor goes away;
 *   - an OUT/name that is a symbolic link is replaced by the new file: the
 *     link's target is never written;
 *   - on any failure before the commit, OUT holds exactly what it held
 *     before (the staging directory is removed, and so are the directories
 *     the open created, when they are empty again).
 * Left out: atomicity across files (a crash during the commit leaves some
 * files new and some old; each file is whole), and cleaning up the staging
 * directory after a crash or kill (OUT/.tmp-XXXXXX stays behind; no reader
 * looks at it and it can be deleted). Which files go in which order, and
 * which stale files to remove, is the caller's business. */
#ifndef SC_IO_STAGED_DIR_H
#define SC_IO_STAGED_DIR_H

#include "switchc.h"

#include <stdio.h>

typedef struct sc_staged_dir sc_staged_dir;

/* Prepares output into `dir`: creates it (and missing parents) when it does
 * not exist, refuses a path that exists but is not a directory (links are
 * followed: a link to a directory is that directory), then creates the
 * staging directory dir/.tmp-XXXXXX. Errors name the path and say why
 * (strerror). On failure nothing is left behind. */
sc_status sc_staged_dir_open(const char *dir, sc_staged_dir **out, sc_error *err);

/* The output directory as given, and the staging directory. */
const char *sc_staged_dir_target(const sc_staged_dir *s);
const char *sc_staged_dir_tmp(const sc_staged_dir *s);

/* Fresh heap path of `name` inside the staging directory; NULL when name is
 * not a plain file name (empty, ".", "..", or with a '/') or on OOM. */
char *sc_staged_dir_path(const sc_staged_dir *s, const char *name);

/* Creates staging/name for writing ("wb"). The file must not exist yet
 * (O_EXCL): a writer never truncates or writes through anything. */
FILE *sc_staged_dir_fopen(sc_staged_dir *s, const char *name, sc_error *err);

/* Copies dir_in/name into staging/name. Returns SC_OK with *copied = true,
 * SC_OK with *copied = false when dir_in/name does not exist (an optional
 * file), or an error naming the file and saying why (strerror). */
sc_status sc_staged_dir_copy(sc_staged_dir *s, const char *dir_in, const char *name, bool *copied,
                             sc_error *err);

/* Writes len bytes of text as staging/name. */
sc_status sc_staged_dir_write(sc_staged_dir *s, const char *name, const char *text, size_t len,
                              sc_error *err);

/* True when staging/name exists as a regular file. */
bool sc_staged_dir_has(const sc_staged_dir *s, const char *name);

/* One step of a commit: move staging/name to OUT/name (replacing what is
 * there, a link included, never writing through it), or remove OUT/name
 * (unlink: a link is removed, not its target; absent is fine). */
typedef enum sc_stage_op { SC_STAGE_MOVE, SC_STAGE_REMOVE } sc_stage_op;
typedef struct sc_stage_step {
    sc_stage_op op;
    const char *name;
} sc_stage_step;

/* fsyncs every file a MOVE step names (all of them before the first
 * rename), runs the steps in order, fsyncs OUT, then removes the staging
 * directory with anything left in it. Frees s in every case; on failure
 * the files not yet moved are removed and the error says which step failed
 * (the steps before it stay done). */
sc_status sc_staged_dir_commit(sc_staged_dir *s, const sc_stage_step *steps, size_t n, sc_error *err);

/* Removes the staging directory and everything in it, and the directories
 * the open created when they are empty; frees s. NULL is a no-op. */
void sc_staged_dir_abort(sc_staged_dir *s);

#endif
