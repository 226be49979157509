/*
 * switchc — run Google's Switch Transformers (sparse Mixture-of-Experts T5)
 * from Hugging Face checkpoints, in C.
 *
 * This header is the whole public API and its documentation.
 *
 * Conventions
 *  - Opaque handles. A `sc_model` is immutable after load and may be shared by
 *    any number of threads; a `sc_session` (caches, scratch) belongs to one
 *    thread at a time.
 *  - Every call that can fail returns an `sc_status`. Outputs are written only
 *    on success. `err` may be NULL; when given, it receives a message naming
 *    the file, the key or tensor, and (where it applies) the byte offset.
 *  - The library never prints and never exits.
 *  - Every `_free`/`_close` accepts NULL as a harmless no-op.
 *  - Caller buffers are pointer + capacity; a too-small buffer gives
 *    SC_ERR_BUFFER_TOO_SMALL and reports the size needed.
 */
#ifndef SWITCHC_H
#define SWITCHC_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header. The library's own version, sc_version(), may
 * differ when a program runs against another build than it was compiled
 * with; while the major version is 0, a minor release may change the ABI
 * (the shared library's SONAME changes with it). */
#define SWITCHC_VERSION_MAJOR 0
#define SWITCHC_VERSION_MINOR 1
#define SWITCHC_VERSION_PATCH 0
#define SWITCHC_VERSION "0.1.0"

/* Marks the library's public functions: the shared library exports these
 * and nothing else when built with hidden visibility. */
#if defined(__GNUC__) || defined(__clang__)
#define SC_API __attribute__((visibility("default")))
#else
#define SC_API
#endif

/* The library's version as "MAJOR.MINOR.PATCH" (static storage), and as
 * MAJOR*10000 + MINOR*100 + PATCH, to compare with the SWITCHC_VERSION_*
 * macros of the header a program was built with. */
SC_API const char *sc_version(void);
SC_API int sc_version_number(void);

/* ------------------------------------------------------------------ status */

typedef enum sc_status {
    SC_OK = 0,
    SC_ERR_INVALID_ARG = 1,     /* the caller passed a bad argument            */
    SC_ERR_IO = 2,              /* a file could not be opened, read or mapped  */
    SC_ERR_FORMAT = 3,          /* a file's contents are malformed            */
    SC_ERR_UNSUPPORTED = 4,     /* well-formed, but not something we handle    */
    SC_ERR_LIMIT = 5,           /* a size is absurd or its arithmetic overflows */
    SC_ERR_NOMEM = 6,           /* an allocation failed                        */
    SC_ERR_MISSING = 7,         /* an expected file, key or tensor is absent   */
    SC_ERR_SHAPE = 8,           /* a tensor has the wrong shape or dtype       */
    SC_ERR_BUFFER_TOO_SMALL = 9 /* a caller buffer cannot hold the result      */
} sc_status;

#define SC_NO_OFFSET ((size_t)-1)

/* Caller-owned error report. `offset` is a byte offset into the file named in
 * `msg`, or SC_NO_OFFSET when none applies. */
typedef struct sc_error {
    sc_status code;
    size_t offset;
    char msg[512];
} sc_error;

/* Short stable name of a status ("ok", "io", "format", ...). */
SC_API const char *sc_status_name(sc_status s);

/* Progress of long work (reading weights, writing a checkpoint): called from
 * the working thread with the bytes done so far, the last call with
 * bytes_done == bytes_total. */
typedef void (*sc_progress_fn)(void *ctx, size_t bytes_done, size_t bytes_total);

/* ------------------------------------------------------------------- dtypes */

typedef enum sc_dtype {
    SC_DTYPE_F32 = 0,
    SC_DTYPE_F16,
    SC_DTYPE_BF16,
    SC_DTYPE_I8,
    SC_DTYPE_U8,
    SC_DTYPE_I16,
    SC_DTYPE_I32,
    SC_DTYPE_I64,
    SC_DTYPE_F64,
    SC_DTYPE_BOOL,
    SC_DTYPE_COUNT
} sc_dtype;

/* Bytes per element (0 for an invalid dtype). */
SC_API size_t sc_dtype_size(sc_dtype t);
/* Safetensors spelling: "F32", "F16", "BF16", "I8", ... */
SC_API const char *sc_dtype_name(sc_dtype t);
/* Compute dtypes (sc_model_params.dtype) by their short names, as the CLI's
 * --dtype takes them: "f32" (also "fp32", "float32"), "bf16" ("bfloat16"),
 * "f16" ("fp16", "float16"), "q8" ("int8"; SC_DTYPE_I8). Case matters.
 * Returns false and leaves *out alone for any other string, or NULL. */
SC_API bool sc_dtype_from_label(const char *s, sc_dtype *out);
/* The short name of a compute dtype: "f32", "bf16", "f16" or "q8";
 * "as-stored" for any other value (SC_DTYPE_COUNT: the weights as stored). */
SC_API const char *sc_dtype_label(sc_dtype t);

/* ------------------------------------------------------- machine, kernels */

/* What the library detected about this CPU and which kernels it runs there
 * (`switchc info`). Detection happens once, on first use; every call here
 * is thread-safe. A kernel table is one set of matmul implementations
 * ("ref", "avx512", "amx", ...), chosen by name in sc_model_params.kernels. */

/* The CPU features the kernels use, space-separated ("avx2 fma avx512f
 * ..."; "(none)" when none), into buf[0..cap), always NUL-terminated when
 * cap > 0 and cut at a whole name when it does not fit. SWITCHC_NO_AMX=1 in
 * the environment hides the amx_ features. */
SC_API void sc_cpu_feature_names(char *buf, size_t cap);
/* The thread count the library uses when asked for 0 (the default):
 * SWITCHC_THREADS when set, else the cores this process may run on. */
SC_API int sc_default_threads(void);
/* The names of every kernel table, NULL-terminated, whether or not this CPU
 * runs it; the aliases "best" and "exact" are not listed. Static storage. */
SC_API const char *const *sc_kernel_tables(void);
/* Whether this CPU (and this build) runs the table `name` (aliases too). */
SC_API bool sc_kernel_table_supported(const char *name);
/* The name of the table that "best" (the default) and "exact" (the fastest
 * whose F32, BF16 and F16 paths compute in fp32) stand for on this CPU. */
SC_API const char *sc_kernel_table_best(void);
SC_API const char *sc_kernel_table_exact(void);
/* What the table `name` runs matmuls with weights of dtype t on, e.g.
 * "avx512 fp32 14x32 packed"; NULL when the table has no path of its own
 * for t, is unknown, or does not run here. */
SC_API const char *sc_kernel_table_matmul(const char *name, sc_dtype t);

/* ---------------------------------------------------------------- tokenizer */

/* The T5 tokenizer: a SentencePiece unigram model (spiece.model, or a Hugging
 * Face tokenizer.json Unigram model) plus the layer of HF transformers 4.41.2's
 * slow T5Tokenizer (legacy mode): sentinels <extra_id_N> = sp_size + extra_ids
 * - 1 - N, special tokens </s> <pad> <unk> matched in the text, </s> appended,
 * HF's decode spacing and clean-up. An sc_tokenizer is immutable after load;
 * encode/decode may run from any number of threads at once. Text is UTF-8;
 * invalid bytes are encoded as SentencePiece does (each bad byte becomes
 * U+FFFD). */
typedef struct sc_tokenizer sc_tokenizer;

/* Loads from a directory (spiece.model, else tokenizer.json; extra_ids from
 * tokenizer_config.json when present, else 100) or from a single .model /
 * .json file. */
SC_API sc_status sc_tokenizer_load(const char *dir_or_file, sc_tokenizer **out, sc_error *err);
SC_API void sc_tokenizer_free(sc_tokenizer *t);

/* Ids the tokenizer can produce and decode: sp pieces + extra ids (32100
 * for T5). Model embeddings may be larger; ids beyond this fail to decode
 * unless SC_DECODE_SKIP_UNKNOWN is given. */
SC_API int32_t sc_tokenizer_vocab_size(const sc_tokenizer *t);
/* Number of SentencePiece pieces (32000 for T5). */
SC_API int32_t sc_tokenizer_sp_size(const sc_tokenizer *t);
SC_API int32_t sc_tokenizer_pad_id(const sc_tokenizer *t);
SC_API int32_t sc_tokenizer_eos_id(const sc_tokenizer *t);
SC_API int32_t sc_tokenizer_unk_id(const sc_tokenizer *t);
/* Id of <extra_id_n>, or -1 when n is out of range. */
SC_API int32_t sc_tokenizer_sentinel_id(const sc_tokenizer *t, int n);

/* Text of a token id ("\u2581Hello", "</s>", "<extra_id_0>"), NUL-terminated
 * and owned by t; NULL when id is out of range. */
SC_API const char *sc_tokenizer_piece(const sc_tokenizer *t, int32_t id, size_t *len);
/* Id of a token text (a piece or an added token); the unk id when absent, as
 * HF's convert_tokens_to_ids. */
SC_API int32_t sc_tokenizer_piece_id(const sc_tokenizer *t, const char *piece, size_t len);

/* HF `tokenizer(text).input_ids`: ids into ids[0..cap); *n_out = count. With
 * add_eos, </s> is appended unless the ids already end with it (HF's
 * _add_eos_if_not_present). A too-small buffer gives SC_ERR_BUFFER_TOO_SMALL
 * with *n_out = the count needed. */
SC_API sc_status sc_tokenizer_encode(const sc_tokenizer *t, const char *text, size_t len, bool add_eos,
                                     int32_t *ids, size_t cap, size_t *n_out, sc_error *err);

/* One piece of sc_tokenizer_tokenize: its id and where its text lies in
 * the caller's buffer (a piece may contain NUL bytes, so use len). */
typedef struct sc_token_piece {
    int32_t id;
    uint32_t offset, len;
} sc_token_piece;

/* HF `tokenizer.tokenize(text)` with the ids of the pieces: piece texts (an
 * unknown run is its own text, not "<unk>") written back to back, each
 * followed by a NUL, into buf[0..cap); pieces[0..pieces_cap) say where.
 * *len_out = bytes needed, *n_out = number of pieces; SC_ERR_BUFFER_TOO_SMALL
 * when either buffer is short. No </s> is appended. */
SC_API sc_status sc_tokenizer_tokenize(const sc_tokenizer *t, const char *text, size_t len, char *buf,
                                       size_t cap, size_t *len_out, sc_token_piece *pieces,
                                       size_t pieces_cap, size_t *n_out, sc_error *err);

#define SC_DECODE_SKIP_SPECIAL 1u /* drop </s> <pad> <unk> and sentinels */
#define SC_DECODE_NO_CLEANUP 2u   /* clean_up_tokenization_spaces=False */
#define SC_DECODE_SKIP_UNKNOWN 4u /* ids >= vocab_size give no text (see below) */

/* HF `decode(ids)`: UTF-8 into buf[0..cap), NUL-terminated; *len_out = text
 * length (without the NUL). A too-small buffer gives SC_ERR_BUFFER_TOO_SMALL
 * with *len_out = the length needed (allocate len_out + 1). An id outside
 * [0, vocab_size) gives SC_ERR_INVALID_ARG ("piece id is out of range"),
 * except with SC_DECODE_SKIP_UNKNOWN, where ids >= vocab_size are left out
 * as if absent, as HF's fast tokenizer renders them (empty text). Model
 * embeddings have more rows than the tokenizer has ids (32128 vs 32100 for
 * the Switch checkpoints), so a model can emit such ids; a caller decoding
 * model output should pass this flag and may look for ids >= vocab_size
 * itself to tell the user. Negative ids are an error with every flag. */
SC_API sc_status sc_tokenizer_decode(const sc_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                                     char *buf, size_t cap, size_t *len_out, sc_error *err);

/* A padded batch: ids[B*S] and mask[B*S] (1 = token, 0 = padding), row-major,
 * owned by the batch. */
typedef struct sc_token_batch {
    int32_t *ids;
    int32_t *mask;
    int64_t B, S;
    int64_t *lengths; /* [B] tokens before padding */
} sc_token_batch;

typedef struct sc_batch_params {
    bool add_eos;        /* true: append </s> as HF does */
    size_t max_length;   /* 0 = no truncation; else truncate each row to max_length
                            (HF truncation=True: eos kept as the last token) */
    bool pad_to_max;     /* pad to max_length instead of the longest row (HF padding="max_length") */
    bool pad_left;       /* padding side (HF default: right) */
} sc_batch_params;

SC_API sc_batch_params sc_batch_default_params(void);
/* HF `tokenizer(texts, padding=True, truncation=...)`. lens may be NULL
 * (texts NUL-terminated). */
SC_API sc_status sc_tokenizer_encode_batch(const sc_tokenizer *t, const char *const *texts,
                                           const size_t *lens, size_t B, const sc_batch_params *p,
                                           sc_token_batch *out, sc_error *err);
SC_API void sc_token_batch_free(sc_token_batch *b);

/* ---------------------------------------------------------- path resolution */

/* Turns what a user calls a model into a directory to load, the way
 * transformers does offline (docs/models.md):
 *  - a path that exists (file or directory) is returned as is;
 *  - else a Hugging Face repo id, ORG/NAME or a bare NAME, is looked up in
 *    the local hub cache: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else
 *    $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 *    $HOME/.cache/huggingface/hub. There models--ORG--NAME/refs/<revision>
 *    holds a commit hash, and the answer is models--ORG--NAME/snapshots/<hash>.
 *    A revision that is a full commit hash (40 hex digits) whose snapshot
 *    exists is used directly.
 * `revision` is a branch, tag or commit hash; NULL or "" means "main"; it is
 * ignored for a path that exists. Nothing is downloaded.
 * Writes the NUL-terminated directory into buf[0..cap); *len_out (may be
 * NULL) = its length, also on SC_ERR_BUFFER_TOO_SMALL (then allocate
 * len_out + 1). Errors: SC_ERR_MISSING when neither a path nor a cached
 * snapshot is found (the message lists the places looked at);
 * SC_ERR_INVALID_ARG for a name or revision that cannot be a repo id or
 * revision ("..", empty parts, bad characters); SC_ERR_FORMAT for a damaged
 * cache entry (a refs file without a commit hash, a snapshot leading
 * outside snapshots/). Reads the environment; thread-safe as long as no
 * thread changes it meanwhile. */
SC_API sc_status sc_model_path_resolve(const char *name_or_path, const char *revision, char *buf, size_t cap,
                                       size_t *len_out, sc_error *err);

/* ------------------------------------------------------------------ context */

/* A context owns the worker threads: one pool, created once, that every
 * session of every model loaded with the context shares. Kernels split each
 * operation over the pool; no thread is created per operation.
 *
 * A pool works on one operation at a time, so a session takes it for each
 * unit of work (an encoder pass, a decoder step, a select_rows, a teacher-
 * forced forward or a scored pair) and gives it back after; sessions used
 * from other threads at the same moment wait their turn. That is the point:
 * a server or a Python program running many sessions on many threads keeps
 * one set of threads busy instead of starting a pool per session and
 * oversubscribing the cores. Generation gives the pool back between steps,
 * so concurrent generations interleave step by step.
 *
 * A context is reference-counted: every model loaded with it keeps it alive,
 * so it may be freed (sc_context_free) as soon as those loads returned. A
 * model loaded without one makes its own, shared by all its sessions. */
typedef struct sc_context sc_context;

typedef struct sc_context_params {
    int n_threads; /* threads of the pool, the calling thread included: 0 =
                      SWITCHC_THREADS if set to a positive integer, else one
                      per physical core this process may run on; 1 = the
                      calling thread only (no workers); at most 256 */
} sc_context_params;

SC_API sc_context_params sc_context_default_params(void);
/* p NULL = defaults. */
SC_API sc_status sc_context_new(const sc_context_params *p, sc_context **out, sc_error *err);
/* Drops the caller's reference; the pool stops when no model uses it. */
SC_API void sc_context_free(sc_context *c);
/* Threads of the context's pool, the calling thread included. */
SC_API int sc_context_threads(const sc_context *c);

/* ------------------------------------------------------------ model, session */

typedef struct sc_model sc_model;
typedef struct sc_session sc_session;

/* What a dropped (over-capacity) token outputs from a sparse FF layer. */
typedef enum sc_drop_policy {
    SC_DROP_HF4 = 0, /* transformers 4.x: router_prob_max * x (the default)   */
    SC_DROP_ZERO,    /* newer transformers and t5x: 0, only the residual passes */
    SC_DROP_NONE     /* no capacity limit: nothing is dropped                  */
} sc_drop_policy;

/* How sc_model_load reads and runs a model. By default the weight files are
 * mapped, not copied: they must not be modified or truncated while a model
 * uses them (touching a page cut from a mapped file kills the process with
 * SIGBUS); no_mmap reads them into private memory instead. */
/* Which weights of a checkpoint directory to load. */
typedef enum sc_format {
    SC_FORMAT_AUTO = -1,           /* model.safetensors or its shards first, else pytorch_model.bin */
    SC_FORMAT_SAFETENSORS = 0,     /* model.safetensors, else the sharded form */
    SC_FORMAT_SAFETENSORS_SHARDED, /* model.safetensors.index.json + shards */
    SC_FORMAT_TORCH_BIN,           /* pytorch_model.bin */
    SC_FORMAT_TORCH_BIN_SHARDED    /* pytorch_model.bin.index.json + shards */
} sc_format;

typedef struct sc_model_params {
    sc_context *context;        /* NULL: the model makes its own context of n_threads
                                   threads, shared by all its sessions; else the
                                   sessions use this context's pool (n_threads is
                                   then ignored; the model keeps a reference) */
    int n_threads;              /* threads of the model's own context (see
                                   sc_context_params): 0 = SWITCHC_THREADS if set,
                                   else one per physical core; 1 = the calling
                                   thread only */
    sc_drop_policy drop_policy; /* SC_DROP_HF4 */
    sc_format format;           /* SC_FORMAT_AUTO */
    bool reference_kernels;     /* force the plain-C reference kernels */
    const char *kernels;        /* NULL = best for this CPU ("amx" where the CPU has
                                   AMX: BF16 weights then compute with x rounded to
                                   bf16 for M > 4 rows, I8 on int8 tiles; else
                                   "avx512-bf16" where it has AVX512-BF16 and VNNI
                                   and vdpbf16ps runs at twice the fp32 FMA rate
                                   (AMD Zen 4/5): the same with vdpbf16ps; else
                                   "avx512-vnni" or "avx512"); "exact" = the best table whose
                                   F32/BF16/F16 paths are fp32 arithmetic; or a table:
                                   "ref", "avx512", "avx512-vnni", "avx512-bf16"
                                   (bf16 compute), "amx". SWITCHC_NO_AMX=1 in the
                                   environment hides AMX. */
    sc_dtype dtype;             /* dtype of the weight matrices at compute time:
                                   SC_DTYPE_COUNT (the default) = as stored; else
                                   SC_DTYPE_F32, _BF16, _F16 or _I8 (q8: per-row int8 +
                                   fp32 scales). Converted matrices are owned copies
                                   (memory: docs/q8-format.md); norms, router and
                                   relative bias always stay fp32. */
    size_t max_memory;          /* bytes of resident expert weights (0 = unbounded):
                                   experts are made resident on first use (mapped
                                   pages faulted in, or converted to `dtype`) and the
                                   least recently used are evicted past this bound.
                                   Dense weights are not counted. Results do not
                                   depend on it. See docs/memory.md. */
    bool no_mmap;               /* read the weight files into private memory at
                                   load instead of mapping them (like llama.cpp's
                                   --no-mmap): the load reads every byte and the
                                   whole files stay resident (max_memory then
                                   bounds only converted copies), but on Linux
                                   weights streamed from such memory read faster
                                   than from page-cache pages (docs/memory.md).
                                   Results are the same either way. */
    sc_progress_fn progress;    /* may be NULL: bytes read while loading with
                                   no_mmap (mapping needs no reading) */
    void *progress_ctx;
} sc_model_params;

SC_API sc_model_params sc_model_default_params(void);

/* Loads a Hugging Face Switch Transformers directory (config.json + weights).
 * The model is immutable afterwards and may be shared across threads. */
SC_API sc_status sc_model_load(const char *dir, const sc_model_params *params, sc_model **out,
                               sc_error *err);
SC_API void sc_model_free(sc_model *m);

SC_API int64_t sc_model_vocab_size(const sc_model *m);
SC_API int64_t sc_model_d_model(const sc_model *m);
SC_API int32_t sc_model_pad_id(const sc_model *m);
SC_API int32_t sc_model_eos_id(const sc_model *m);
SC_API int32_t sc_model_decoder_start_id(const sc_model *m);
/* The context whose pool the model's sessions share (owned by the model:
 * do not free it; sc_context_threads tells its size). */
SC_API sc_context *sc_model_context(const sc_model *m);

/* A session holds per-request state: the encoder output, cross-attention
 * K/V (computed once per input, by the first decode step or select_rows
 * after an encode), the decoder's self-attention cache and scratch. Its
 * buffers are reused by later requests that fit in them. One thread at a
 * time; sessions of one model may run on different threads at once and
 * share the model's context (see sc_context). Creating one starts no
 * thread. */
SC_API sc_status sc_session_new(const sc_model *m, sc_session **out, sc_error *err);
SC_API void sc_session_free(sc_session *s);

/* Runs the encoder on ids[B,S] with mask[B,S] (1 = token, 0 = padding;
 * NULL = all ones), keeps its output, and empties the decoder cache. The
 * cross-attention K/V are left to the first decode step (or select_rows):
 * a caller that only wants the encoder's states never pays for them. */
SC_API sc_status sc_session_encode(sc_session *s, const int32_t *ids, const int32_t *mask, int64_t B,
                                   int64_t S, sc_error *err);
/* The encoder's last hidden state [B,S,d_model], valid until the next encode. */
SC_API const float *sc_session_encoder_output(const sc_session *s, int64_t *B, int64_t *S);

/* One incremental decoder step: tokens[rows] (one per row) are appended to
 * the self-attention cache; logits[rows, vocab] receive the next-token
 * logits. rows = B of the last encode, or n of the last select_rows. */
SC_API sc_status sc_session_decode_step(sc_session *s, const int32_t *tokens, float *logits,
                                        sc_error *err);
/* Number of decoder positions already in the cache. */
SC_API int64_t sc_session_decoded_len(const sc_session *s);
SC_API int64_t sc_session_rows(const sc_session *s);
/* The model the session runs. */
SC_API const sc_model *sc_session_model(const sc_session *s);

/* Rebuilds the batch: new row r becomes a copy of old row src[r] (encoder
 * output, mask, cross K/V and self-attention cache). Expands a batch for beam
 * search (src = 0,0,0,0,1,1,1,1,...) and reorders beams after each step. */
SC_API sc_status sc_session_select_rows(sc_session *s, const int32_t *src, int64_t n, sc_error *err);

/* Expert statistics of one sparse layer, counted by a session over every
 * forward pass since it was created or reset. */
typedef struct sc_expert_layer_stats {
    bool decoder;                      /* which stack */
    int64_t block;                     /* block index in that stack */
    int64_t n_experts;
    uint64_t tokens;                   /* tokens routed (kept + dropped) */
    uint64_t dropped;                  /* tokens over an expert's capacity */
    uint64_t hits;                     /* expert uses that found it resident */
    uint64_t misses;                   /* expert uses that made it resident */
    uint64_t evictions;                /* experts of this layer evicted (by this session) */
    uint64_t bytes_read;               /* bytes made resident (faulted in or converted) */
    const uint64_t *tokens_per_expert; /* [n_experts] tokens whose top-1 was e (kept
                                          or not); owned by the session */
} sc_expert_layer_stats;

/* Number of sparse layers (encoder first, then decoder). */
SC_API int64_t sc_session_expert_stats_count(const sc_session *s);
/* Stats of sparse layer i; tokens_per_expert stays valid until the session
 * is freed. */
SC_API sc_status sc_session_expert_stats(const sc_session *s, int64_t i, sc_expert_layer_stats *out,
                                         sc_error *err);
SC_API void sc_session_expert_stats_reset(sc_session *s);
/* Bytes of expert weights resident now and at most so far (all sessions). */
SC_API size_t sc_model_expert_resident_bytes(const sc_model *m);
SC_API size_t sc_model_expert_peak_bytes(const sc_model *m);

/* --------------------------------------------------------------- model info */

/* What a model directory holds, read without loading the weights (`switchc
 * inspect`): config.json, the checkpoint's tensor index (names, dtypes,
 * shapes, sizes; no values are read), every tensor the config calls for
 * checked against it, parameters and bytes per part of the model, and the
 * problems found. Whether the model then loads is sc_model_load's answer. */
typedef struct sc_model_info sc_model_info;

/* Reads dir with `format` as sc_model_params.format takes it
 * (SC_FORMAT_AUTO: safetensors first; SC_FORMAT_TORCH_BIN also accepts the
 * sharded .bin). A config.json or a checkpoint that cannot be read is not a
 * failure here but a problem of the info (the error message, as
 * sc_model_load would give it); so is each missing tensor, each tensor of
 * the wrong shape or of a dtype that is not F32, F16 or BF16 (both errors),
 * and each tensor nobody reads (a warning). Fails only on NULL arguments or
 * out of memory. Free with sc_model_info_free (NULL is a no-op). An info is
 * read-only after this call: any thread may read it. */
SC_API sc_status sc_model_info_read(const char *dir, sc_format format, sc_model_info **out, sc_error *err);
SC_API void sc_model_info_free(sc_model_info *info);

/* The config values `inspect` shows. */
typedef struct sc_model_config_info {
    int64_t d_model, d_kv, num_heads, d_ff;
    int64_t num_layers, num_decoder_layers; /* encoder and decoder blocks */
    int64_t num_experts, expert_capacity, vocab_size;
    bool tie_word_embeddings;
    const char *act; /* dense_act_fn: "relu", "gelu_new" or "gelu"; static storage */
    bool gated;      /* feed_forward_proj "gated-*" */
    bool router_bias;
} sc_model_config_info;

/* False (and *out untouched) when config.json did not load. */
SC_API bool sc_model_info_config(const sc_model_info *info, sc_model_config_info *out);
/* Whether block i of the encoder (decoder false) or decoder is sparse
 * (a mixture of experts); false without a config or outside the blocks. */
SC_API bool sc_model_info_block_is_sparse(const sc_model_info *info, bool decoder, int64_t i);

/* The checkpoint found: its format (SC_FORMAT_AUTO when none opened), that
 * format's name ("safetensors", "safetensors (sharded)", "pytorch .bin",
 * "pytorch .bin (sharded)"; NULL when none), the bytes of its files, and
 * the dtypes stored as a bit set (bit t set when some tensor has sc_dtype
 * t). */
SC_API sc_format sc_model_info_format(const sc_model_info *info);
SC_API const char *sc_model_info_format_name(const sc_model_info *info);
SC_API size_t sc_model_info_file_bytes(const sc_model_info *info);
SC_API unsigned sc_model_info_dtypes(const sc_model_info *info);

/* The parts parameters and bytes are counted in. The shared embedding and
 * an untied lm_head are SC_PART_EMBEDDINGS; the relative attention bias is
 * attention. */
typedef enum sc_model_part {
    SC_PART_EMBEDDINGS,
    SC_PART_ATTENTION,
    SC_PART_DENSE_FF,
    SC_PART_EXPERTS,
    SC_PART_ROUTER,
    SC_PART_NORMS,
    SC_PART_COUNT
} sc_model_part;
/* "embeddings", "attention", "dense_ff", "experts", "router", "norms";
 * NULL for anything else. */
SC_API const char *sc_model_part_name(sc_model_part p);
/* Parameters the config calls for in part p (counted whether found or not),
 * and bytes stored of those found; 0 without a config or checkpoint. */
SC_API uint64_t sc_model_info_params(const sc_model_info *info, sc_model_part p);
SC_API uint64_t sc_model_info_bytes(const sc_model_info *info, sc_model_part p);
/* All parameters (the shared embedding once; lm_head when untied; aliases
 * of shared.weight not counted), and those active per token: the total
 * less num_experts - 1 experts in each sparse block. */
SC_API uint64_t sc_model_info_params_total(const sc_model_info *info);
SC_API uint64_t sc_model_info_params_active(const sc_model_info *info);

/* Tensor counts: expected by the config, found, missing, bad (wrong shape
 * or dtype), unexpected (in the checkpoint, read by nobody), aliases (other
 * names of shared.weight, e.g. encoder.embed_tokens.weight). */
typedef struct sc_model_tensor_counts {
    size_t expected, found, missing, bad, unexpected, aliases;
} sc_model_tensor_counts;
SC_API sc_model_tensor_counts sc_model_info_tensors(const sc_model_info *info);
/* Problems in the order found: the message, and in *is_error (may be NULL)
 * whether it makes the model unloadable (else a warning). NULL past the
 * end. Missing, bad and unexpected tensors are listed up to 20 of each
 * kind; sc_model_info_unlisted counts the rest (in missing, bad and
 * unexpected; the other fields 0). */
SC_API size_t sc_model_info_problem_count(const sc_model_info *info);
SC_API const char *sc_model_info_problem(const sc_model_info *info, size_t i, bool *is_error);
SC_API sc_model_tensor_counts sc_model_info_unlisted(const sc_model_info *info);
/* The tokenizer file sc_tokenizer_load would pick in the directory
 * ("spiece.model" or "tokenizer.json"), or NULL when there is none. */
SC_API const char *sc_model_info_tokenizer_file(const sc_model_info *info);

/* ------------------------------------------------------ writing checkpoints */

/* `switchc convert` and `switchc init`: a checkpoint directory written as
 * safetensors (model.safetensors, or model-0000i-of-0000n.safetensors and
 * model.safetensors.index.json past shard_bytes), matrices in the chosen
 * dtype (q8: per-row int8 + F32 scales, docs/q8-format.md), norms, router
 * and relative bias in F32. Every file is first written into
 * OUT/.tmp-XXXXXX and moved into OUT only when all are complete: a failure
 * leaves OUT as it was, a link in OUT is replaced, never written through.
 * Safetensors weights of another layout in OUT are removed, so OUT loads
 * what was written. Neither call is safe to run twice at once on one OUT. */
typedef struct sc_write_params {
    sc_dtype dtype;          /* matrices: SC_DTYPE_F32 (default), _BF16, _F16 or _I8 (q8) */
    size_t shard_bytes;      /* shard past this many bytes (default 5e9); 0: one file */
    bool force;              /* replace a checkpoint OUT already holds (config.json or
                                weights); false (default): refused with SC_ERR_INVALID_ARG
                                and a message naming the file found */
    sc_progress_fn progress; /* bytes written so far, from the calling thread; may be NULL */
    void *progress_ctx;
    /* sc_init_checkpoint only: */
    uint64_t seed;            /* same seed, same files (default 0) */
    double embed_std;         /* std of the shared embedding; < 0 (default): the
                                 config's initializer_factor, as HF */
    const char *tokenizer_dir; /* NULL, or a directory whose tokenizer files
                                  (spiece.model and/or tokenizer.json, tokenizer_config.json,
                                  special_tokens_map.json, added_tokens.json) are copied;
                                  it must hold spiece.model or tokenizer.json */
} sc_write_params;

SC_API sc_write_params sc_write_default_params(void);

/* The check sc_convert and sc_init_checkpoint make of their output
 * directory before any work, for other writers of a model directory: OUT
 * may not exist yet (it is created when written), must be a directory
 * (links followed), and may hold (part of) a checkpoint (config.json,
 * model.safetensors, its index and shards, pytorch_model*.bin, whatever
 * their kind) only when `force`, or when it is the directory `in_place`
 * (may be NULL: the input of a conversion, which the new files replace).
 * SC_ERR_INVALID_ARG (or SC_ERR_IO when OUT cannot be examined) with a
 * message naming OUT, and the file found. */
SC_API sc_status sc_output_dir_check(const char *out, const char *in_place, bool force, sc_error *err);

/* What was written. */
typedef struct sc_write_result {
    size_t tensors;      /* tensors written (q8 scales included) */
    size_t shards;       /* weight files */
    size_t input_bytes;  /* sc_convert: bytes of the input checkpoint's files */
    size_t output_bytes; /* bytes of the weight files written */
    int files_copied;    /* sc_convert: config.json and the side files found
                            (generation config, tokenizer files) */
} sc_write_result;

/* Rewrites the checkpoint in `in` (any format sc_model_load reads) into
 * `out` with the matrices in p->dtype, tensor by tensor, and copies
 * config.json (q8 adds a "quantization" entry), generation_config.json and
 * the tokenizer files found. `out` may be `in`: the input is only read
 * (its mapping outlives the renames) and replaced when all is written.
 * p NULL: the defaults. res may be NULL; set on success. */
SC_API sc_status sc_convert(const char *in, const char *out, const sc_write_params *p, sc_write_result *res,
                            sc_error *err);
/* Writes a randomly initialised model for the config.json at config_path
 * into `out`: weights with HF's initialisation scales
 * (SwitchTransformersPreTrainedModel._init_weights; not torch's numbers:
 * every row has its own stream from (seed, tensor, row)), config.json (the
 * file's bytes), a generation_config.json with the config's token ids, and
 * the tokenizer files of p->tokenizer_dir. */
SC_API sc_status sc_init_checkpoint(const char *config_path, const char *out, const sc_write_params *p,
                                    sc_write_result *res, sc_error *err);

/* ------------------------------------------------------- benchmark figures */

/* What `switchc bench` divides its timings by: the work of a token on a
 * loaded model, and this machine's measured peaks. Thread-safe; the
 * measurements take a fraction of a second each and load the CPU. */

/* The kernel table the model runs on ("avx512-bf16", ...; see
 * sc_kernel_tables), NULL for NULL. */
SC_API const char *sc_model_kernel_table(const sc_model *m);
/* The dtype the model's matrices are held in after loading (the first
 * encoder block's attention q), and the dtype it computes in: the
 * requested sc_model_params.dtype, or the matrix dtype when as stored.
 * SC_DTYPE_COUNT for NULL. */
SC_API sc_dtype sc_model_matrix_dtype(const sc_model *m);
SC_API sc_dtype sc_model_compute_dtype(const sc_model *m);
/* The instruction the model's encoder matmuls run on, as sc_peak_ops
 * names it: "fp32-fma", "bf16-dot", "int8-vnni", "amx-bf16", "amx-int8". */
SC_API const char *sc_model_compute_peak(const sc_model *m);
/* Matmul flops of the encoder on `tokens` tokens, S per row (top-1
 * routing: one expert per token), attention score/value products
 * included; 0 for NULL. */
SC_API double sc_model_encoder_flops(const sc_model *m, double tokens, double S);
/* Weight bytes one decode step reads for one row: decoder self q/k/v/o,
 * cross q/o (cross K/V are cached), one expert or the dense FF per layer,
 * the lm head; every matrix in the dtype it computes in (an expert at its
 * converted size whether or not it has been converted yet). */
SC_API double sc_model_decode_bytes(const sc_model *m);
/* Operations per second of `threads` threads each running the named
 * instruction (as sc_model_compute_peak names them) with no memory
 * traffic, the best of short bursts: the register-bound peak. 0 when this
 * CPU or build lacks it, or the name is unknown. */
SC_API double sc_peak_ops(const char *kind, int threads);
/* Read bandwidth in bytes per second of `threads` threads reading a fresh
 * `bytes` buffer the way the decode kernels read weights (4 forward
 * streams a task, prefetched), the best of `passes` passes; 0 when the
 * buffer cannot be allocated or holds less than a row per thread. */
SC_API double sc_read_bandwidth(size_t bytes, int threads, int passes);

/* ------------------------------------------------- forward with labels, scoring */

/* The teacher-forced forward pass of Hugging Face transformers 4.41.2
 * SwitchTransformersForConditionalGeneration:
 *
 *     out = model(input_ids=ids, attention_mask=mask, labels=labels,
 *                 output_router_logits=True)
 *
 * in eval mode (no router jitter, no dropout). Losses, as HF combines them:
 *
 *     ce   = CrossEntropyLoss(ignore_index=-100)(logits, labels): the mean over
 *            every label != -100 of the whole batch
 *     loss = ce + router_z_loss_coef   * (encoder_z_loss + decoder_z_loss)
 *               + router_aux_loss_coef * (encoder_aux_loss + decoder_aux_loss)
 *
 * with the coefficients of config.json. A stack's z-loss (mean over every
 * position of the batch, padding included, of logsumexp(router logits)^2)
 * and aux (load-balancing) loss are computed over all its sparse layers
 * concatenated along the sequence; as in HF they are 0 when the stack's
 * sparse step is 1 or it has no sparse layer. Router losses are batch
 * means: they depend on the other rows of the batch and on padding. */

typedef struct sc_forward_params {
    const int32_t *decoder_input_ids; /* NULL (default): HF's shift_right(labels) =
                                         [decoder_start, labels[:-1]] with -100 -> pad;
                                         else [B,T] ids given to the decoder as they are
                                         (labels may then be NULL: no ce, no loss).
                                         Read during the call only. */
    bool keep_encoder_output;         /* false: keep the encoder last hidden state [B,S,D] */
    bool keep_router;                 /* false: keep each sparse layer's router logits,
                                         expert indices and kept masks */
} sc_forward_params;

/* The defaults in the comments above. */
SC_API sc_forward_params sc_forward_default_params(void);

typedef struct sc_forward_result sc_forward_result;

/* Runs the forward pass on ids[B,S] (mask[B,S]: 1 = token, 0 = padding; NULL
 * = all ones) and labels[B,T] (-100 = ignored position; NULL only with
 * p->decoder_input_ids). p NULL = defaults. *out receives a new result (free
 * with sc_forward_result_free), only on success. Labels must be -100 or in
 * [0, vocab); B, S and T must be > 0. The session's decoder cache is left
 * holding the T positions. Runs the kernels the model was loaded with: the
 * numbers equal HF's to about 1e-5 with the exact (fp32) kernels. */
SC_API sc_status sc_session_forward(sc_session *s, const int32_t *ids, const int32_t *mask, int64_t B,
                                    int64_t S, const int32_t *labels, int64_t T,
                                    const sc_forward_params *p, sc_forward_result **out, sc_error *err);

/* The scalar losses of a forward result (HF's `loss`, and its parts). */
typedef struct sc_forward_losses {
    double loss;             /* HF out.loss: ce + coefficients x router losses; NaN
                                without labels or when every label is -100 */
    double ce;               /* the cross-entropy part (HF with output_router_logits=False) */
    double encoder_z_loss;   /* HF out.encoder_z_loss */
    double encoder_aux_loss; /* HF out.encoder_aux_loss */
    double decoder_z_loss;   /* HF out.decoder_z_loss */
    double decoder_aux_loss; /* HF out.decoder_aux_loss */
    int64_t tokens;          /* labels != -100 the ce averages over */
} sc_forward_losses;

SC_API sc_forward_losses sc_forward_result_loss(const sc_forward_result *r);
/* HF out.logits [B,T,vocab] (*B, *T, *V may be NULL); owned by the result. */
SC_API const float *sc_forward_result_logits(const sc_forward_result *r, int64_t *B, int64_t *T,
                                             int64_t *V);
/* HF out.encoder_last_hidden_state [B,S,d_model], or NULL when not kept. */
SC_API const float *sc_forward_result_encoder_output(const sc_forward_result *r, int64_t *B, int64_t *S,
                                                     int64_t *D);

/* One sparse layer's router outputs (HF out.encoder_router_logits /
 * out.decoder_router_logits entries, and the layer's routing decision).
 * Arrays are owned by the result. */
typedef struct sc_router_output {
    bool decoder;                /* which stack */
    int64_t block;               /* block index in that stack */
    int64_t B, len, E;           /* rows, positions (S or T), experts */
    const float *logits;         /* [B, len, E] router logits (float32) */
    const int32_t *expert_index; /* [B, len] HF's expert index: the top-1 expert, 0 for
                                    a token dropped by the expert capacity */
    const int32_t *kept;         /* [B, len] 1 = dispatched to its expert, 0 = dropped */
} sc_router_output;

/* Number of sparse layers kept (encoder first, then decoder, in block
 * order); 0 without keep_router. */
SC_API int64_t sc_forward_result_router_count(const sc_forward_result *r);
/* Router outputs of layer i in [0, count); SC_ERR_INVALID_ARG otherwise. */
SC_API sc_status sc_forward_result_router(const sc_forward_result *r, int64_t i, sc_router_output *out,
                                          sc_error *err);
SC_API void sc_forward_result_free(sc_forward_result *r);

/* Tracing: every named intermediate of the passes a session runs
 * (sc_session_forward, sc_session_encode, sc_session_decode_step, ...), as
 * it is computed, under the names of HF's outputs and of the reference
 * fixtures (tests/fixtures/README.md): "encoder_hidden_states.0" (the
 * embeddings) to "encoder_hidden_states.N" (the final norm's output: HF's
 * output_hidden_states), the decoder's likewise,
 * "encoder_last_hidden_state", "encoder.block.3.router_logits",
 * "...expert_index", "...kept", and so on, each with its dtype (F32 or
 * I32) and shape (ndim up to 4). The data is valid during the call only;
 * the callback runs on the thread running the pass and must not call into
 * the session. For checking the engine against a reference (`switchc
 * verify`); it copies, so it costs time and memory. */
typedef void (*sc_forward_trace_fn)(void *ctx, const char *name, sc_dtype dtype, const void *data, int ndim,
                                    const int64_t *shape);
/* Sets the session's trace (fn NULL: none, the default); ctx is passed back. */
SC_API void sc_session_set_trace(sc_session *s, sc_forward_trace_fn fn, void *ctx);
/* HF's _shift_right: dec_in[B,T] = [start, labels[:-1]] per row, with -100
 * replaced by pad: the decoder input of a forward pass with labels. */
SC_API void sc_shift_right(int32_t *dec_in, const int32_t *labels, int64_t B, int64_t T, int32_t start,
                           int32_t pad);

/* Scoring: how well the model predicts each target given its input. Every
 * pair is run alone, as a batch of one without padding, so its numbers are
 * those of the HF forward above called on that pair alone, and never depend
 * on which other pairs are scored with it or in what order.
 *
 * Totals over many pairs, token-weighted as one big CE would be:
 *     ce_total = sum(ce_i * tokens_i) / sum(tokens_i), perplexity = exp(ce_total).
 * (HF's loss on a padded batch of several pairs is not a combination of the
 * pair numbers: its router losses are means over the padded batch.) */

typedef struct sc_score_pair {
    const int32_t *input;  /* [input_len] encoder ids (with </s>, as the tokenizer gives) */
    int64_t input_len;     /* > 0 */
    const int32_t *target; /* [target_len] labels; -100 marks a position left out of ce */
    int64_t target_len;    /* > 0 */
    float *token_logprobs; /* NULL, or [target_len] receiving log p(target[t] | input,
                              target[:t]) (natural log); NaN where target[t] = -100 */
} sc_score_pair;

/* A pair's numbers are those sc_session_forward gives for the pair alone
 * (a batch of one): loss and ce in nats, tokens = target[t] != -100. */
typedef sc_forward_losses sc_score;

/* Scores pairs[0..n) into scores[0..n). On failure (a pair with no tokens, a
 * label out of range, memory) err names the pair; scores of the pairs
 * before it are filled, the rest are not. */
SC_API sc_status sc_score_pairs(sc_session *s, const sc_score_pair *pairs, int64_t n, sc_score *scores,
                                sc_error *err);

/* ------------------------------------------------------------------ training */

/* Fine-tuning, in training mode as Hugging Face transformers 4.41.2 trains
 * SwitchTransformersForConditionalGeneration (docs/training.md): the loss
 * of sc_session_forward (CE + router z-loss and load-balancing loss with the
 * config's coefficients), dropout at config.json's dropout_rate at HF's
 * sites, router jitter (router_jitter_noise) applied in place as HF does,
 * the gradient of every parameter, and torch's AdamW or HF's Adafactor.
 *
 * A trainer owns a mutable fp32 copy of the parameters (HF's
 * model.named_parameters(), read from a checkpoint directory in any format
 * and dtype), their gradients and the optimizer state; the directory itself
 * is only read. It belongs to one thread at a time. */
typedef struct sc_trainer sc_trainer;

typedef enum sc_optimizer {
    SC_OPTIMIZER_ADAFACTOR = 0, /* transformers.optimization.Adafactor */
    SC_OPTIMIZER_ADAMW = 1      /* torch.optim.AdamW */
} sc_optimizer;

/* Learning-rate schedules, as HF's Trainer names them (lr > 0 only). */
typedef enum sc_schedule {
    SC_SCHEDULE_CONSTANT = 0,             /* "constant" */
    SC_SCHEDULE_CONSTANT_WITH_WARMUP = 1, /* "constant_with_warmup" */
    SC_SCHEDULE_LINEAR = 2,               /* "linear": warmup, then down to 0 at total_steps */
    SC_SCHEDULE_INVERSE_SQRT = 3          /* "inverse_sqrt": warmup, then 1/sqrt */
} sc_schedule;

/* Which parameters stay fixed (sc_trainer_params.freeze, OR-ed). A frozen
 * tensor gets no update and takes no part in gradient clipping, as a torch
 * parameter with requires_grad=False. */
#define SC_FREEZE_ROUTER 1u  /* the routers' classifier weight and bias */
#define SC_FREEZE_EXPERTS 2u /* every expert's wi and wo */
#define SC_FREEZE_DENSE 4u   /* everything else: embeddings, attention, norms, dense FFs, lm_head */

typedef struct sc_trainer_params {
    sc_optimizer optimizer;     /* SC_OPTIMIZER_ADAFACTOR */
    double lr;                  /* 0: Adafactor's relative step (relative_step=True,
                                   scale_parameter=True, warmup_init=False: HF's
                                   Adafactor defaults), no schedule; > 0: this lr
                                   through `schedule` (Adafactor then runs with
                                   relative_step=False, scale_parameter=False, as HF's
                                   Trainer does); AdamW needs lr > 0 */
    sc_schedule schedule;       /* SC_SCHEDULE_CONSTANT */
    int64_t warmup_steps;       /* 0: optimizer updates of linear warmup from 0 */
    int64_t total_steps;        /* optimizer updates in all (linear decay ends here;
                                   needed by SC_SCHEDULE_LINEAR) */
    double weight_decay;        /* 0.0 (HF Trainer's default): decoupled; never on
                                   norms or biases (HF's rule) */
    double adam_beta1;          /* 0.9 */
    double adam_beta2;          /* 0.999 */
    double adam_epsilon;        /* 1e-8 */
    double max_grad_norm;       /* 1.0 (HF Trainer's default): clip the global gradient
                                   norm to this before each update; 0 = no clipping */
    int64_t grad_accum;         /* 1: micro-batches per optimizer update; each micro-
                                   batch's loss is divided by this (HF Trainer 4.41) */
    double dropout_rate;        /* -1: config.json's dropout_rate; else this rate */
    double router_jitter_noise; /* -1: config.json's router_jitter_noise; else this */
    uint64_t seed;              /* 0: dropout masks and jitter noise; micro-batch k draws
                                   from a stream keyed by (seed, k), so a resumed run
                                   draws what the uninterrupted run would have */
    unsigned freeze;            /* 0, or SC_FREEZE_* flags */
    sc_drop_policy drop_policy; /* SC_DROP_HF4 */
    sc_context *context;        /* NULL: the trainer makes its own context of n_threads
                                   threads; else the steps take this context's pool
                                   (shared with the models loaded with it; the trainer
                                   keeps a reference, n_threads is then ignored) */
    int n_threads;              /* threads of the trainer's own context (see
                                   sc_context_params): 0 = SWITCHC_THREADS if set, else
                                   one per physical core; 1 = the calling thread only */
    bool reference_kernels;     /* false: steps run the fast path (the kernels table,
                                   threads; gradients within 3e-5 normwise of the
                                   reference); true: the plain-C reference ops,
                                   single-threaded (for checks) */
    bool manual_update;         /* false: sc_trainer_step updates every grad_accum
                                   micro-batches; true: only sc_trainer_update does
                                   (the gradient stays readable in between) */
    bool decay_all;             /* false: weight decay as HF's Trainer applies it (never
                                   on norms or biases); true: on every tensor, as
                                   torch.optim.AdamW(model.parameters()) does */
    double ce_weight;           /* 1: the cross-entropy's weight in the loss the
                                   gradient is taken of */
    double router_z_loss_coef;  /* -1: config.json's router_z_loss_coef; else this */
    double router_aux_loss_coef; /* -1: config.json's router_aux_loss_coef; else this
                                   (the three weights change only the gradient; the
                                   losses reported are always HF's) */
} sc_trainer_params;

SC_API sc_trainer_params sc_trainer_default_params(void);

/* Reads config.json and the weights of `dir` (a directory sc_model_load
 * takes) into a new trainer with zero gradients and optimizer step 0. */
SC_API sc_status sc_trainer_new(const char *dir, const sc_trainer_params *p, sc_trainer **out, sc_error *err);
SC_API void sc_trainer_free(sc_trainer *t);

/* What a training call did. */
typedef struct sc_train_step_info {
    sc_forward_losses losses; /* the micro-batch's loss and its parts (before the
                                 division by grad_accum) */
    bool updated;             /* the call ended with an optimizer update */
    int64_t step;             /* optimizer updates done so far */
    int64_t micro_batches;    /* micro-batches trained on so far */
    double lr;                /* the lr of the last update: the scheduled lr, or with
                                 Adafactor's relative step min(1e-2, 1/sqrt(step)),
                                 the factor HF scales each tensor's RMS by */
    double grad_norm;         /* global gradient norm of the last update, before
                                 clipping (NaN before the first) */
} sc_train_step_info;

/* Trains on one micro-batch: ids[B,S] (mask[B,S], NULL = all ones) with
 * labels[B,T] (-100 = ignored), the decoder input being HF's
 * shift_right(labels). Runs forward and backward, adds the gradient (scaled
 * by 1/grad_accum) and, when grad_accum micro-batches have been added since
 * the last update (and manual_update is off), clips and updates. info (may
 * be NULL) says what happened. On failure the parameters are unchanged, and
 * the gradient gathered since the last update is dropped (a failed backward
 * may have added part of its own). */
SC_API sc_status sc_trainer_step(sc_trainer *t, const int32_t *ids, const int32_t *mask, int64_t B, int64_t S,
                                 const int32_t *labels, int64_t T, sc_train_step_info *info, sc_error *err);
/* Updates now with the gradient gathered so far, if any micro-batch was
 * added since the last update (HF's Trainer does so at the end of an epoch
 * with no more micro-batches than grad_accum). */
SC_API sc_status sc_trainer_update(sc_trainer *t, sc_train_step_info *info, sc_error *err);

/* Scores pairs with the current parameters through sc_score_pairs (eval
 * mode: no dropout, no jitter), so evaluation during training gives exactly
 * what `switchc score` gives on the saved checkpoint in fp32. */
SC_API sc_status sc_trainer_score(sc_trainer *t, const sc_score_pair *pairs, int64_t n, sc_score *scores,
                                  sc_error *err);

/* An inference model over the current parameters (to generate samples
 * during training): its matrices are the trainer's memory, so free it before
 * the next sc_trainer_step or sc_trainer_update. p: as for sc_model_load
 * (NULL = defaults; dtype other than as stored makes converted copies). */
SC_API sc_status sc_trainer_model(sc_trainer *t, const sc_model_params *p, sc_model **out, sc_error *err);

typedef struct sc_trainer_save_params {
    sc_dtype dtype;           /* SC_DTYPE_F32 (default) or SC_DTYPE_BF16 / SC_DTYPE_F16:
                                 the matrices' dtype in model.safetensors (norms, router
                                 and position bias stay F32) */
    bool with_state;          /* true: also the optimizer state and trainer_state.json,
                                 what sc_trainer_resume reads */
    const char *tokenizer;    /* NULL: copy the tokenizer files of the directory the
                                 trainer was made from, when it has them; else a
                                 directory to copy them from */
    const char *user_state;   /* NULL, or a JSON value stored in trainer_state.json
                                 (the caller's own resume data: its place in the data) */
    bool force;               /* false: refuse a directory that already holds another
                                 checkpoint than one this trainer saved */
} sc_trainer_save_params;

SC_API sc_trainer_save_params sc_trainer_save_default_params(void);

/* Writes a Hugging Face directory that from_pretrained and sc_model_load
 * load: config.json and generation_config.json (the source's), the weights
 * as model.safetensors, the tokenizer files; with with_state also
 * optimizer.safetensors and trainer_state.json. Every file is written into
 * DIR/.tmp-XXXXXX first and renamed into place when all are complete, so a
 * killed run never leaves a broken checkpoint. */
SC_API sc_status sc_trainer_save(sc_trainer *t, const char *dir, const sc_trainer_save_params *p, sc_error *err);

/* Continues a run saved with with_state: reads the optimizer state, the
 * update and micro-batch counts and the gradient-accumulation position from
 * `dir` (the trainer must have been made from the same directory, with the
 * same optimizer and frozen set). user_state (may be NULL) receives a copy of
 * the caller's JSON saved with it (free with free()), or NULL if none. */
SC_API sc_status sc_trainer_resume(sc_trainer *t, const char *dir, char **user_state, sc_error *err);

/* One parameter of the trainer by its Hugging Face name (HF's
 * model.named_parameters(): tied aliases are not separate, their gradient is
 * in shared.weight). weight and grad point into the trainer: valid until it
 * is freed; grad holds what the micro-batches since the last update added
 * (an update zeroes it). */
typedef struct sc_trainer_tensor {
    const char *name;
    int ndim;         /* 1 or 2 */
    int64_t shape[2];
    size_t numel;
    const float *weight;
    const float *grad;
} sc_trainer_tensor;

/* Number of parameters, and parameter i in HF's order. */
SC_API int64_t sc_trainer_tensor_count(const sc_trainer *t);
SC_API sc_status sc_trainer_tensor_at(const sc_trainer *t, int64_t i, sc_trainer_tensor *out, sc_error *err);
/* The parameter named `name`; SC_ERR_MISSING when there is none. */
SC_API sc_status sc_trainer_tensor_get(const sc_trainer *t, const char *name, sc_trainer_tensor *out,
                                       sc_error *err);

/* Optimizer updates and micro-batches done so far. */
SC_API int64_t sc_trainer_steps(const sc_trainer *t);
SC_API int64_t sc_trainer_micro_batches(const sc_trainer *t);
/* Number of trainable scalars (frozen ones not counted). */
SC_API int64_t sc_trainer_trainable(const sc_trainer *t);

/* ------------------------------------------------------------- training data */

/* Training data, as `switchc train` reads it: examples from a file,
 * tokenized, in padded batches in a seeded order per epoch (docs/training.md).
 *
 * Two kinds of file:
 *   - seq2seq: JSON lines, one object per line with string members "input"
 *     and "target" (other members are ignored; blank lines are skipped). A
 *     bad line is an error naming the file and the line.
 *   - text: plain UTF-8 text, one document per line (a trailing \r is
 *     dropped, blank lines are skipped), for T5's span corruption: each
 *     document is tokenized without </s>, truncated so that its corrupted
 *     input fits max_source_len, and corrupted afresh in every epoch (the
 *     noise depends on the seed, the epoch and the example, so a resumed run
 *     sees the same masks); documents of fewer than 2 tokens are skipped.
 *
 * Tokenization and truncation follow HF's `tokenizer(text, max_length=M,
 * truncation=True)`: the tokens are cut to M - 1, then </s> is appended
 * unless they already end with it. Batches are padded to their longest row,
 * like DataCollatorForSeq2Seq: ids with the pad id and mask 0, labels with
 * -100; decoder_input_ids are the labels shifted right with the decoder
 * start id first and -100 replaced by the pad id.
 *
 * Order: with shuffle, epoch e visits the examples in a permutation drawn
 * from (seed, e); without, in file order. The position (epoch, examples
 * consumed in that epoch) can be read and restored, which is all a resumed
 * run needs. Leaves out packing documents into fixed-length chunks, and
 * files larger than memory. */

/* T5 span corruption (random_spans_noise_mask): noise_density of the tokens,
 * in spans of mean length mean_noise_span_length, become sentinels. */
typedef struct sc_span_params {
    double noise_density;          /* 0.15 */
    double mean_noise_span_length; /* 3.0 */
} sc_span_params;

typedef enum sc_data_kind {
    SC_DATA_SEQ2SEQ = 0, /* JSON lines {"input": ..., "target": ...} */
    SC_DATA_TEXT = 1     /* one document per line, span corruption */
} sc_data_kind;

typedef struct sc_data_params {
    sc_data_kind kind;
    int64_t max_source_len; /* truncation of the inputs; 0 = none (text: required, >= 2) */
    int64_t max_target_len; /* truncation of the targets (seq2seq); 0 = none */
    int64_t batch_size;     /* examples per batch, >= 1 */
    bool shuffle;           /* a new seeded order every epoch */
    bool drop_last;         /* leave out an epoch's last, short batch */
    uint64_t seed;
    int32_t decoder_start_id; /* first decoder input (0 for T5/Switch) */
    sc_span_params span;      /* text: the corruption settings */
} sc_data_params;

/* seq2seq, no truncation, batch 8, shuffle on, seed 42 (HF's default), T5
 * decoder start 0, span defaults. */
SC_API sc_data_params sc_data_default_params(void);

typedef struct sc_data sc_data;

/* A padded batch; every array is owned by the batch. */
typedef struct sc_data_batch {
    int64_t B, S, T;
    int32_t *input_ids;         /* [B, S] */
    int32_t *attention_mask;    /* [B, S] 1 = token */
    int32_t *labels;            /* [B, T] -100 on padding */
    int32_t *decoder_input_ids; /* [B, T] */
    int64_t *example;           /* [B] index of each row's example (file order, after skipping) */
} sc_data_batch;

/* Where the data stands: `index` examples of epoch `epoch` were handed out. */
typedef struct sc_data_pos {
    int64_t epoch;
    int64_t index;
} sc_data_pos;

/* Reads and tokenizes the whole file. The tokenizer is only used here and
 * by sc_data_next (sentinels) and must outlive the data. Errors:
 * SC_ERR_IO / SC_ERR_MISSING (the file), SC_ERR_FORMAT ("<file>:<line>:
 * ..."), SC_ERR_INVALID_ARG (parameters), SC_ERR_MISSING (no usable
 * example). */
SC_API sc_status sc_data_open(const char *path, const sc_tokenizer *tok, const sc_data_params *p, sc_data **out,
                              sc_error *err);
/* The same from text[0..len); `source` names it in errors. */
SC_API sc_status sc_data_open_buffer(const char *text, size_t len, const char *source, const sc_tokenizer *tok,
                                     const sc_data_params *p, sc_data **out, sc_error *err);
SC_API void sc_data_free(sc_data *d); /* NULL is a no-op */

SC_API int64_t sc_data_count(const sc_data *d);   /* examples kept */
SC_API int64_t sc_data_skipped(const sc_data *d); /* blank lines and too-short documents left out */
/* Batches per epoch: ceil(count / batch) (floor with drop_last). */
SC_API int64_t sc_data_batches_per_epoch(const sc_data *d);
/* The tokens of example i as stored (after truncation; text: before
 * corruption); NULL when i is out of range. */
SC_API const int32_t *sc_data_source(const sc_data *d, int64_t i, int64_t *n);
SC_API const int32_t *sc_data_target(const sc_data *d, int64_t i, int64_t *n);

/* The next batch; moves the position on, to the next epoch after the last
 * batch of one. *out is overwritten (free it with sc_data_batch_free; a
 * zeroed batch is fine to pass and to free). */
SC_API sc_status sc_data_next(sc_data *d, sc_data_batch *out, sc_error *err);
SC_API void sc_data_batch_free(sc_data_batch *b);

SC_API sc_data_pos sc_data_tell(const sc_data *d);
/* Restores a position from sc_data_tell (epoch >= 0, 0 <= index <= count);
 * SC_ERR_INVALID_ARG otherwise, leaving the position unchanged. */
SC_API sc_status sc_data_seek(sc_data *d, sc_data_pos pos, sc_error *err);

/* ---------------------------------------------------------------- generation */

/* Text generation with the semantics of Hugging Face transformers 4.41.2
 * `generate()` for encoder-decoder models: greedy search, beam search and
 * multinomial sampling, token for token. The decoder output always starts
 * with decoder_start_token_id; rows that finish early are padded with
 * pad_token_id; the length of the result is that of the longest row.
 *
 * Sampling uses switchc's own random generator (xoshiro256**), so a seed
 * reproduces switchc's output but not torch's. Each output row has its own
 * stream, derived from `seed` and its prompt's key (`prompt_keys`, by default
 * the prompt's row in the batch) and its return-sequence number, so a prompt
 * samples the same tokens whatever else is in its batch when callers give it
 * the same key (its index in the caller's input, say). */

/* Beam search stopping rule (HF `early_stopping`). */
typedef enum sc_early_stopping {
    SC_EARLY_STOP_HEURISTIC = 0, /* False: stop when the best running beam,
                                    divided by the current length, cannot win */
    SC_EARLY_STOP_TRUE = 1,      /* True: stop once num_beams hypotheses ended */
    SC_EARLY_STOP_NEVER = 2      /* "never": the exact bound (uses max_length) */
} sc_early_stopping;

/* Token id values with special meaning in sc_generate_params. */
#define SC_TOKEN_FROM_MODEL (-1) /* take the id from the model's config      */
#define SC_TOKEN_NONE (-2)       /* no such token (eos only: never stop early) */

/* Streaming: called after each decoding step (greedy and sampling only) once
 * per row that was still running, with the token it just produced (the eos
 * that ends a row included). `row` indexes the output rows; `step` counts
 * generated tokens from 0. Return 0 to go on; anything else stops generation
 * after this step (the result then holds what was generated so far). */
typedef int (*sc_token_callback)(void *user, int64_t row, int64_t step, int32_t token);

typedef struct sc_generate_params {
    int64_t max_length;           /* 20: total decoder length incl. the start token */
    int64_t max_new_tokens;       /* -1 = unset; else wins: max_length = 1 + this */
    int64_t min_length;           /* 0: eos forbidden while length (incl. start) < this */
    int64_t min_new_tokens;       /* -1 = unset; else wins: min_length = 1 + this */
    int64_t num_beams;            /* 1 = greedy / sampling */
    int64_t num_return_sequences; /* 1; beam: <= num_beams; greedy: must be 1 */
    double length_penalty;        /* 1.0: hypothesis score = sum_logprobs / len^lp */
    sc_early_stopping early_stopping; /* SC_EARLY_STOP_HEURISTIC */
    bool do_sample;               /* false; sampling with beams is unsupported */
    double temperature;           /* 1.0 */
    int64_t top_k;                /* 50 (HF default; 0 = off) */
    double top_p;                 /* 1.0 (off) */
    double repetition_penalty;    /* 1.0 (off) */
    int64_t no_repeat_ngram_size; /* 0 (off) */
    uint64_t seed;                /* 0 */
    const uint64_t *prompt_keys;  /* NULL, or [B]: the random stream of prompt b's
                                     j-th return sequence is keyed by (seed,
                                     prompt_keys[b] * num_return_sequences + j);
                                     NULL keys prompt b by b. Read during the
                                     call only; unused without do_sample. */
    int32_t pad_token_id;         /* SC_TOKEN_FROM_MODEL */
    int32_t eos_token_id;         /* SC_TOKEN_FROM_MODEL, or SC_TOKEN_NONE */
    int32_t decoder_start_token_id; /* SC_TOKEN_FROM_MODEL */
    bool record_logits;           /* keep every step's raw logits [steps, rows, vocab] */
    sc_token_callback on_token;   /* NULL = no streaming */
    void *user;                   /* passed to on_token */
} sc_generate_params;

/* HF GenerationConfig() defaults (the values in the comments above). */
SC_API sc_generate_params sc_generate_default_params(void);

/* Fills *p with the defaults of a checkpoint directory: config.json's token
 * ids and generation_config.json (when present) over HF's defaults. */
SC_API sc_status sc_generate_params_from_dir(const char *dir, sc_generate_params *p, sc_error *err);

typedef struct sc_generate_result sc_generate_result;

/* Encodes ids[B,S] (mask[B,S], NULL = all ones) on the session and generates.
 * *out receives a new result (free with sc_generate_result_free). The session
 * is left holding the final decoder state. */
SC_API sc_status sc_generate(sc_session *s, const int32_t *ids, const int32_t *mask, int64_t B,
                             int64_t S, const sc_generate_params *params, sc_generate_result **out,
                             sc_error *err);

/* Output ids [rows, len], rows = B * num_return_sequences (row b*nrs + j is
 * the j-th best of prompt b), each starting with decoder_start_token_id. */
SC_API const int32_t *sc_generate_result_sequences(const sc_generate_result *r, int64_t *rows,
                                                   int64_t *len);
/* Beam search: HF's `sequences_scores` [rows] (the length-penalised sum of
 * log-probabilities); NULL for greedy and sampling. */
SC_API const float *sc_generate_result_scores(const sc_generate_result *r, int64_t *rows);
/* With record_logits: the raw decoder logits of every step [steps, drows,
 * vocab], drows = rows fed to the decoder (B*num_beams for beam search,
 * B*num_return_sequences otherwise); NULL when not recorded. */
SC_API const float *sc_generate_result_step_logits(const sc_generate_result *r, int64_t *steps,
                                                   int64_t *drows, int64_t *vocab);
/* Whether on_token asked to stop before the natural end. */
SC_API bool sc_generate_result_stopped(const sc_generate_result *r);
SC_API void sc_generate_result_free(sc_generate_result *r);

/* Span filling: prompt with every "<extra_id_N>" replaced by the text the
 * model generated after sentinel N in ids[0..n) (up to the next sentinel or
 * </s>; <pad> and ids beyond the tokenizer's vocabulary give no text). When
 * the output has no sentinel N at all, the marker "<extra_id_N>" is kept as
 * it is, so a span the model left out never silently vanishes; *n_missing
 * (may be NULL) receives how many markers were kept. A sentinel followed
 * directly by the next one is an empty span, not a missing one. Writes a
 * NUL-terminated string into buf[0..cap); *len_out = its length (the length
 * needed when the result is SC_ERR_BUFFER_TOO_SMALL). */
SC_API sc_status sc_fill_spans(const sc_tokenizer *t, const char *prompt, const int32_t *ids, size_t n,
                               char *buf, size_t cap, size_t *len_out, size_t *n_missing, sc_error *err);

/* ----------------------------------------------------------- layout (ABI) */

/* The layout of this header's structs as the loaded library was compiled,
 * for programs that mirror them without a C compiler (the Python package's
 * ctypes classes check theirs at import) and so must notice when they run
 * against a library whose structs differ.
 *
 * `type` is the typedef name of one of the structs described: sc_error,
 * sc_token_piece, sc_token_batch, sc_batch_params, sc_context_params,
 * sc_model_params, sc_expert_layer_stats, sc_forward_params,
 * sc_forward_losses, sc_router_output, sc_score_pair, sc_generate_params;
 * or an enum or scalar they hold: sc_status, sc_dtype, sc_drop_policy,
 * sc_format, sc_early_stopping, bool, size_t, sc_progress_fn,
 * sc_token_callback. Other structs are unknown here. `field` is a member's
 * name as declared in this header.
 *
 * sc_abi_sizeof: sizeof(type); sc_abi_offsetof: offsetof(type, field); both
 * (size_t)-1 when the name is unknown (or NULL). sc_abi_field: the name of
 * the index-th field of a struct in declaration order (static storage), NULL
 * past the last one or for an unknown type, so a client can also check that
 * it mirrors every field. Thread-safe; no allocation. */
SC_API size_t sc_abi_sizeof(const char *type);
SC_API size_t sc_abi_offsetof(const char *type, const char *field);
SC_API const char *sc_abi_field(const char *type, size_t index);

#ifdef __cplusplus
}
#endif
#endif /* SWITCHC_H */
