/* Finding a model by its Hugging Face name in the local hub cache, as
 * transformers does offline (the public call is sc_model_path_resolve in
 * switchc.h). The pieces here are what the resolver parses from untrusted
 * input, exposed for tests and the fuzzer. Leaves out downloading, the
 * datasets/spaces repo types and the lock files of the cache. */
#ifndef SC_IO_HF_CACHE_H
#define SC_IO_HF_CACHE_H

#include "switchc.h"

/* Longest repo id the hub accepts (huggingface_hub's validate_repo_id). */
#define SC_HF_REPO_ID_MAX 96
/* Longest revision accepted (a branch or tag name, or a commit hash). */
#define SC_HF_REVISION_MAX 255

/* Checks that `id` is a hub repo id, ORG/NAME or a bare NAME: each part made
 * of letters, digits, '-', '_' and '.', starting and ending with a letter,
 * digit or '_', without "--" or ".." (the cache spells '/' as "--"), at most
 * SC_HF_REPO_ID_MAX bytes. SC_ERR_INVALID_ARG says what is wrong. */
sc_status sc_hf_check_repo_id(const char *id, sc_error *err);

/* Checks a revision (a branch, tag or commit hash): printable ASCII without
 * spaces or '\\', '/'-separated parts that are not empty, "." or "..", at
 * most SC_HF_REVISION_MAX bytes. SC_ERR_INVALID_ARG says what is wrong. */
sc_status sc_hf_check_revision(const char *rev, sc_error *err);

/* True when s is a full commit hash: exactly 40 lowercase hex digits. */
bool sc_hf_is_commit_hash(const char *s);

/* Parses the contents of a refs/<revision> file (a commit hash, optionally
 * followed by a newline) into hash[41]. `path` names the file in messages. */
sc_status sc_hf_parse_ref(const char *path, const char *data, size_t len, char hash[41], sc_error *err);

#endif
