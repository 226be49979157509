/* Path chores shared by the engine and its clients. Leaves out
 * normalisation ("a/../b" stays as written) and anything that touches the
 * file system. */
#ifndef SC_UTIL_PATH_H
#define SC_UTIL_PATH_H

/* Joins dir and name with one '/' between them (none added when dir is
 * empty or ends in '/') into a fresh heap string; NULL on overflow/OOM. */
char *sc_path_join(const char *dir, const char *name);

#endif
