"""The C library seen from Python: finding and loading libswitchc.so, ctypes
mirrors of the structs of switchc.h, the prototypes of the functions this
package calls, and the check that the mirrors match the loaded library.

Everything here follows include/switchc.h one to one; the classes users see
live in tokenization.py and modeling.py. Functions of the header this
package does not call (scoring pairs, expert statistics, contexts, span
filling) have no prototype here.
"""

import ctypes
import os
from ctypes import (
    POINTER, Structure, c_bool, c_char, c_char_p, c_double, c_float, c_int, c_int32, c_int64, c_size_t,
    c_uint32, c_uint64, c_void_p,
)

from . import errors

# ----------------------------------------------------------------- structs
# Field names and order as in switchc.h; enums are C ints, function pointers
# are kept as plain pointers (this package never sets them).


class sc_error(Structure):
    _fields_ = [("code", c_int), ("offset", c_size_t), ("msg", c_char * 512)]


class sc_token_piece(Structure):
    _fields_ = [("id", c_int32), ("offset", c_uint32), ("len", c_uint32)]


class sc_token_batch(Structure):
    _fields_ = [("ids", POINTER(c_int32)), ("mask", POINTER(c_int32)), ("B", c_int64), ("S", c_int64),
                ("lengths", POINTER(c_int64))]


class sc_batch_params(Structure):
    _fields_ = [("add_eos", c_bool), ("max_length", c_size_t), ("pad_to_max", c_bool), ("pad_left", c_bool)]


class sc_context_params(Structure):
    _fields_ = [("n_threads", c_int)]


class sc_model_params(Structure):
    _fields_ = [("context", c_void_p), ("n_threads", c_int), ("drop_policy", c_int), ("format", c_int),
                ("reference_kernels", c_bool), ("kernels", c_char_p), ("dtype", c_int),
                ("max_memory", c_size_t), ("no_mmap", c_bool), ("progress", c_void_p),
                ("progress_ctx", c_void_p)]


class sc_expert_layer_stats(Structure):
    _fields_ = [("decoder", c_bool), ("block", c_int64), ("n_experts", c_int64), ("tokens", c_uint64),
                ("dropped", c_uint64), ("hits", c_uint64), ("misses", c_uint64), ("evictions", c_uint64),
                ("bytes_read", c_uint64), ("tokens_per_expert", POINTER(c_uint64))]


class sc_forward_params(Structure):
    _fields_ = [("decoder_input_ids", POINTER(c_int32)), ("keep_encoder_output", c_bool),
                ("keep_router", c_bool)]


class sc_forward_losses(Structure):
    _fields_ = [("loss", c_double), ("ce", c_double), ("encoder_z_loss", c_double),
                ("encoder_aux_loss", c_double), ("decoder_z_loss", c_double), ("decoder_aux_loss", c_double),
                ("tokens", c_int64)]


class sc_router_output(Structure):
    _fields_ = [("decoder", c_bool), ("block", c_int64), ("B", c_int64), ("len", c_int64), ("E", c_int64),
                ("logits", POINTER(c_float)), ("expert_index", POINTER(c_int32)), ("kept", POINTER(c_int32))]


class sc_score_pair(Structure):
    _fields_ = [("input", POINTER(c_int32)), ("input_len", c_int64), ("target", POINTER(c_int32)),
                ("target_len", c_int64), ("token_logprobs", POINTER(c_float))]


class sc_generate_params(Structure):
    _fields_ = [("max_length", c_int64), ("max_new_tokens", c_int64), ("min_length", c_int64),
                ("min_new_tokens", c_int64), ("num_beams", c_int64), ("num_return_sequences", c_int64),
                ("length_penalty", c_double), ("early_stopping", c_int), ("do_sample", c_bool),
                ("temperature", c_double), ("top_k", c_int64), ("top_p", c_double),
                ("repetition_penalty", c_double), ("no_repeat_ngram_size", c_int64), ("seed", c_uint64),
                ("prompt_keys", POINTER(c_uint64)), ("pad_token_id", c_int32), ("eos_token_id", c_int32),
                ("decoder_start_token_id", c_int32), ("record_logits", c_bool), ("on_token", c_void_p),
                ("user", c_void_p)]


# Every mirrored struct, and the scalar types the structs hold, by C name.
STRUCTS = {cls.__name__: cls for cls in (
    sc_error, sc_token_piece, sc_token_batch, sc_batch_params, sc_context_params, sc_model_params,
    sc_expert_layer_stats, sc_forward_params, sc_forward_losses, sc_router_output, sc_score_pair,
    sc_generate_params)}
SCALARS = {"sc_status": c_int, "sc_dtype": c_int, "sc_drop_policy": c_int, "sc_format": c_int,
           "sc_early_stopping": c_int, "bool": c_bool, "size_t": c_size_t, "sc_progress_fn": c_void_p,
           "sc_token_callback": c_void_p}

# Constants of switchc.h.
SC_OK = 0
SC_ERR_BUFFER_TOO_SMALL = 9
SC_NO_OFFSET = (1 << (8 * ctypes.sizeof(c_size_t))) - 1
SC_ABI_UNKNOWN = SC_NO_OFFSET
SC_DTYPE_F32, SC_DTYPE_F16, SC_DTYPE_BF16, SC_DTYPE_I8 = 0, 1, 2, 3
SC_DTYPE_COUNT = 10
SC_DROP_HF4, SC_DROP_ZERO, SC_DROP_NONE = 0, 1, 2
SC_FORMAT_AUTO, SC_FORMAT_SAFETENSORS, SC_FORMAT_SAFETENSORS_SHARDED = -1, 0, 1
SC_FORMAT_TORCH_BIN, SC_FORMAT_TORCH_BIN_SHARDED = 2, 3
SC_EARLY_STOP_HEURISTIC, SC_EARLY_STOP_TRUE, SC_EARLY_STOP_NEVER = 0, 1, 2
SC_TOKEN_FROM_MODEL, SC_TOKEN_NONE = -1, -2
SC_DECODE_SKIP_SPECIAL, SC_DECODE_NO_CLEANUP, SC_DECODE_SKIP_UNKNOWN = 1, 2, 4

# ----------------------------------------------------------------- loading


def library_candidates():
    """Where the library is looked for, in order, as (path or name, why)."""
    env = os.environ.get("SWITCHC_LIBRARY")
    if env:
        return [(env, "SWITCHC_LIBRARY")]
    found = []
    try:
        from ._install_path import LIBRARY
        found.append((LIBRARY, "the path recorded when the package was installed"))
    except ImportError:
        pass
    found.append(("libswitchc.so.0", "the dynamic loader's search path"))
    return found


def _load():
    tried = []
    for path, why in library_candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({why}): {e}")
    raise ImportError("switchc: cannot load the C library; tried " + "; ".join(tried)
                      + ". Set SWITCHC_LIBRARY to the path of libswitchc.so (a build's or an install's).")


lib, LIBRARY_PATH = _load()


def _proto(name, restype, *argtypes):
    try:
        f = getattr(lib, name)
    except AttributeError:
        raise ImportError(f"switchc: {LIBRARY_PATH} lacks {name}(): it is older than this package; "
                          "install the package and the library from the same build") from None
    f.restype = restype
    f.argtypes = list(argtypes)


P = POINTER
ERR = P(sc_error)
VP = c_void_p  # opaque handles

_proto("sc_version", c_char_p)
_proto("sc_version_number", c_int)
_proto("sc_status_name", c_char_p, c_int)
_proto("sc_abi_sizeof", c_size_t, c_char_p)
_proto("sc_abi_offsetof", c_size_t, c_char_p, c_char_p)
_proto("sc_abi_field", c_char_p, c_char_p, c_size_t)

_proto("sc_tokenizer_load", c_int, c_char_p, P(VP), ERR)
_proto("sc_tokenizer_free", None, VP)
_proto("sc_tokenizer_vocab_size", c_int32, VP)
_proto("sc_tokenizer_sp_size", c_int32, VP)
_proto("sc_tokenizer_pad_id", c_int32, VP)
_proto("sc_tokenizer_eos_id", c_int32, VP)
_proto("sc_tokenizer_unk_id", c_int32, VP)
_proto("sc_tokenizer_sentinel_id", c_int32, VP, c_int)
_proto("sc_tokenizer_piece", c_void_p, VP, c_int32, P(c_size_t))
_proto("sc_tokenizer_piece_id", c_int32, VP, c_char_p, c_size_t)
_proto("sc_tokenizer_tokenize", c_int, VP, c_char_p, c_size_t, c_void_p, c_size_t, P(c_size_t),
       P(sc_token_piece), c_size_t, P(c_size_t), ERR)
_proto("sc_tokenizer_decode", c_int, VP, P(c_int32), c_size_t, ctypes.c_uint, c_void_p, c_size_t,
       P(c_size_t), ERR)
_proto("sc_batch_default_params", sc_batch_params)
_proto("sc_tokenizer_encode_batch", c_int, VP, P(c_char_p), P(c_size_t), c_size_t, P(sc_batch_params),
       P(sc_token_batch), ERR)
_proto("sc_token_batch_free", None, P(sc_token_batch))

_proto("sc_model_path_resolve", c_int, c_char_p, c_char_p, c_void_p, c_size_t, P(c_size_t), ERR)
_proto("sc_model_default_params", sc_model_params)
_proto("sc_model_load", c_int, c_char_p, P(sc_model_params), P(VP), ERR)
_proto("sc_model_free", None, VP)
_proto("sc_model_vocab_size", c_int64, VP)
_proto("sc_model_d_model", c_int64, VP)
_proto("sc_model_pad_id", c_int32, VP)
_proto("sc_model_eos_id", c_int32, VP)
_proto("sc_model_decoder_start_id", c_int32, VP)
_proto("sc_session_new", c_int, VP, P(VP), ERR)
_proto("sc_session_free", None, VP)
_proto("sc_session_encode", c_int, VP, P(c_int32), P(c_int32), c_int64, c_int64, ERR)
_proto("sc_session_encoder_output", P(c_float), VP, P(c_int64), P(c_int64))

_proto("sc_forward_default_params", sc_forward_params)
_proto("sc_session_forward", c_int, VP, P(c_int32), P(c_int32), c_int64, c_int64, P(c_int32), c_int64,
       P(sc_forward_params), P(VP), ERR)
_proto("sc_forward_result_loss", sc_forward_losses, VP)
_proto("sc_forward_result_logits", P(c_float), VP, P(c_int64), P(c_int64), P(c_int64))
_proto("sc_forward_result_encoder_output", P(c_float), VP, P(c_int64), P(c_int64), P(c_int64))
_proto("sc_forward_result_router_count", c_int64, VP)
_proto("sc_forward_result_router", c_int, VP, c_int64, P(sc_router_output), ERR)
_proto("sc_forward_result_free", None, VP)

_proto("sc_generate_default_params", sc_generate_params)
_proto("sc_generate_params_from_dir", c_int, c_char_p, P(sc_generate_params), ERR)
_proto("sc_generate", c_int, VP, P(c_int32), P(c_int32), c_int64, c_int64, P(sc_generate_params), P(VP),
       ERR)
_proto("sc_generate_result_sequences", P(c_int32), VP, P(c_int64), P(c_int64))
_proto("sc_generate_result_scores", P(c_float), VP, P(c_int64))
_proto("sc_generate_result_free", None, VP)

# --------------------------------------------------------------- ABI check


def abi_problems(structs=None, scalars=None, library=None):
    """Differences between the ctypes mirrors and the layout the library
    reports (sc_abi_sizeof / sc_abi_offsetof / sc_abi_field), one sentence
    each; empty when they agree. The arguments default to this module's
    mirrors and library (tests pass deliberately wrong ones)."""
    structs = STRUCTS if structs is None else structs
    scalars = SCALARS if scalars is None else scalars
    library = lib if library is None else library
    out = []
    for name, cls in sorted(structs.items()):
        cname = name.encode()
        size = library.sc_abi_sizeof(cname)
        if size == SC_ABI_UNKNOWN:
            out.append(f"{name}: unknown to the library")
            continue
        if size != ctypes.sizeof(cls):
            out.append(f"{name}: {size} bytes in the library, {ctypes.sizeof(cls)} in the mirror")
        c_fields = []
        while True:
            f = library.sc_abi_field(cname, len(c_fields))
            if f is None:
                break
            c_fields.append(f.decode())
        py_fields = [f[0] for f in cls._fields_]
        if c_fields != py_fields:
            out.append(f"{name}: fields {c_fields} in the library, {py_fields} in the mirror")
        for field in py_fields:
            off = library.sc_abi_offsetof(cname, field.encode())
            mine = getattr(cls, field).offset
            if off != SC_ABI_UNKNOWN and off != mine:
                out.append(f"{name}.{field}: offset {off} in the library, {mine} in the mirror")
    for name, ctype in sorted(scalars.items()):
        size = library.sc_abi_sizeof(name.encode())
        if size != ctypes.sizeof(ctype):
            shown = "unknown" if size == SC_ABI_UNKNOWN else f"{size} bytes"
            out.append(f"{name}: {shown} in the library, {ctypes.sizeof(ctype)} in the mirror")
    return out


def check_abi():
    problems = abi_problems()
    if problems:
        raise ImportError(f"switchc: {LIBRARY_PATH} (version {lib.sc_version().decode()}) does not match "
                          "this package's copy of switchc.h: " + "; ".join(problems)
                          + ". Install the package and the library from the same build.")


check_abi()

# ----------------------------------------------------------------- helpers


def new_error():
    return sc_error()


def check(status, err):
    """Raises the exception for a non-OK status, carrying the C message."""
    if status != SC_OK:
        raise errors.from_status(status, err.msg.decode("utf-8", "replace"),
                                 lib.sc_status_name(status).decode(),
                                 None if err.offset == SC_NO_OFFSET else int(err.offset))


def version():
    return lib.sc_version().decode()
