"""The T5 tokenizer with the names and behaviour of Hugging Face transformers'
slow T5Tokenizer (4.41.2, legacy mode), over sc_tokenizer_*.

Covered: calling the tokenizer on a text or a list of texts (padding,
truncation, max_length, text_target, numpy output), decode / batch_decode,
tokenize, the id <-> token conversions and the special-token attributes.
Left out: pairs of sequences (text_pair), pre-split words, offsets, saving,
adding tokens, torch/tf tensors (return_tensors="np" gives numpy arrays).
"""

import ctypes
import json
import os

import numpy as np

from . import _lib
from ._lib import lib

_UNLIMITED = int(1e18)  # HF stores "no limit" as a huge model_max_length


def _resolve(name_or_path, revision=None):
    """A local directory for a path or a cached Hugging Face repo id
    (sc_model_path_resolve: nothing is downloaded)."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"expected a path or a repo id, got {type(name_or_path).__name__}")
    if revision is not None and not isinstance(revision, str):
        raise TypeError(f"revision must be a string, got {type(revision).__name__}")
    name = os.fsencode(name_or_path)
    rev = revision.encode() if revision else None
    err = _lib.new_error()
    need = ctypes.c_size_t(0)
    cap = 4096
    while True:
        buf = ctypes.create_string_buffer(cap)
        st = lib.sc_model_path_resolve(name, rev, buf, cap, ctypes.byref(need), ctypes.byref(err))
        if st == _lib.SC_ERR_BUFFER_TOO_SMALL:
            cap = need.value + 1
            continue
        _lib.check(st, err)
        return os.fsdecode(buf.value)


class BatchEncoding(dict):
    """What calling the tokenizer returns: a dict ("input_ids",
    "attention_mask", and "labels" with text_target) whose keys are also
    attributes, as HF's BatchEncoding."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def data(self):
        return dict(self)

    def to(self, device):
        """Only "cpu" (the data already lives there); kept so HF code that
        calls .to("cpu") runs unchanged."""
        if str(device) != "cpu":
            raise ValueError(f"switchc runs on the CPU; cannot move inputs to {device!r}")
        return self


class T5Tokenizer:
    """HF's slow T5Tokenizer. Thread-safe: one tokenizer may be used from
    any number of threads at once."""

    padding_side = "right"

    def __init__(self, path, model_max_length=None):
        err = _lib.new_error()
        handle = ctypes.c_void_p()
        _lib.check(lib.sc_tokenizer_load(os.fsencode(path), ctypes.byref(handle), ctypes.byref(err)), err)
        self._h = handle
        self.name_or_path = os.fspath(path)
        self.model_max_length = model_max_length if model_max_length is not None else _UNLIMITED
        self._vocab = lib.sc_tokenizer_vocab_size(handle)
        self._sp = lib.sc_tokenizer_sp_size(handle)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, revision=None, model_max_length=None, **kwargs):
        """Loads spiece.model (or tokenizer.json) from a directory, a single
        .model/.json file, or a Hugging Face repo id found in the local hub
        cache. model_max_length defaults to tokenizer_config.json's."""
        for k in kwargs:
            if k not in ("legacy", "local_files_only", "use_fast", "extra_ids"):
                raise TypeError(f"from_pretrained() got an unexpected keyword argument {k!r}")
        if kwargs.get("legacy") is False:
            raise ValueError("switchc implements the legacy T5 tokenizer only (legacy=True, HF's default "
                             "for configs without a 'legacy' entry)")
        path = _resolve(pretrained_model_name_or_path, revision)
        if model_max_length is None and os.path.isdir(path):
            try:
                with open(os.path.join(path, "tokenizer_config.json"), encoding="utf-8") as f:
                    value = json.load(f).get("model_max_length")
                if isinstance(value, int) and 0 < value < _UNLIMITED:
                    model_max_length = value
            except (OSError, ValueError, AttributeError):
                pass
        return cls(path, model_max_length=model_max_length)

    def __del__(self):
        h = getattr(self, "_h", None)
        if h:
            self._h = None
            try:
                lib.sc_tokenizer_free(h)
            except Exception:  # interpreter shutdown: the module may be gone already
                pass

    def __repr__(self):
        return f"T5Tokenizer(name_or_path={self.name_or_path!r}, vocab_size={self._vocab})"

    # ------------------------------------------------------------ attributes
    @property
    def vocab_size(self):
        """Pieces plus sentinels (32100 for T5), as HF's T5Tokenizer."""
        return self._vocab

    def __len__(self):
        return self._vocab

    @property
    def pad_token_id(self):
        return lib.sc_tokenizer_pad_id(self._h)

    @property
    def eos_token_id(self):
        return lib.sc_tokenizer_eos_id(self._h)

    @property
    def unk_token_id(self):
        return lib.sc_tokenizer_unk_id(self._h)

    @property
    def pad_token(self):
        return self._piece(self.pad_token_id)

    @property
    def eos_token(self):
        return self._piece(self.eos_token_id)

    @property
    def unk_token(self):
        return self._piece(self.unk_token_id)

    @property
    def additional_special_tokens(self):
        """The sentinels <extra_id_0> ... <extra_id_N-1>."""
        return [f"<extra_id_{i}>" for i in range(self._vocab - self._sp)]

    @property
    def all_special_ids(self):
        return [self.eos_token_id, self.unk_token_id, self.pad_token_id] + [
            lib.sc_tokenizer_sentinel_id(self._h, i) for i in range(self._vocab - self._sp)]

    # ---------------------------------------------------------- conversions
    def _piece(self, i):
        n = ctypes.c_size_t(0)
        p = lib.sc_tokenizer_piece(self._h, i, ctypes.byref(n))
        if not p:
            raise IndexError("piece id is out of range.")
        return ctypes.string_at(p, n.value).decode("utf-8", "replace")

    def convert_ids_to_tokens(self, ids, skip_special_tokens=False):
        single = _is_int(ids)
        seq = [ids] if single else list(_ids_list(ids, "ids"))
        special = set(self.all_special_ids) if skip_special_tokens else ()
        out = [self._piece(i) for i in seq if i not in special]
        return out[0] if single and out else (None if single else out)

    def convert_tokens_to_ids(self, tokens):
        """Ids of token texts (pieces or added tokens); unknown ones give the
        unk id, as in HF."""
        if isinstance(tokens, str):
            b = tokens.encode("utf-8")
            return lib.sc_tokenizer_piece_id(self._h, b, len(b))
        if tokens is None:
            return None
        return [self.convert_tokens_to_ids(t) for t in _str_list(tokens, "tokens")]

    # ------------------------------------------------------------- encoding
    def tokenize(self, text, **kwargs):
        """HF tokenizer.tokenize(text): the piece texts, no </s>."""
        if kwargs:
            raise TypeError(f"tokenize() got an unexpected keyword argument {next(iter(kwargs))!r}")
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        data = text.encode("utf-8")
        cap, pcap = 4 * len(data) + 64, len(data) + 8
        err = _lib.new_error()
        need, count = ctypes.c_size_t(0), ctypes.c_size_t(0)
        while True:
            buf = ctypes.create_string_buffer(cap)
            pieces = (_lib.sc_token_piece * pcap)()
            st = lib.sc_tokenizer_tokenize(self._h, data, len(data), buf, cap, ctypes.byref(need), pieces,
                                           pcap, ctypes.byref(count), ctypes.byref(err))
            if st == _lib.SC_ERR_BUFFER_TOO_SMALL:
                cap, pcap = max(cap, need.value + 1), max(pcap, count.value)
                continue
            _lib.check(st, err)
            raw = buf.raw
            return [raw[p.offset:p.offset + p.len].decode("utf-8", "replace") for p in pieces[:count.value]]

    def _encode_batch(self, texts, add_eos, max_length, pad_to_max, pad_left):
        """sc_tokenizer_encode_batch -> (ids [B,S] int64, mask [B,S] int64, lengths [B])."""
        data = [t.encode("utf-8") for t in texts]
        B = len(data)
        arr = (ctypes.c_char_p * B)(*data)
        lens = (ctypes.c_size_t * B)(*[len(d) for d in data])
        p = lib.sc_batch_default_params()
        p.add_eos = bool(add_eos)
        p.max_length = max_length or 0
        p.pad_to_max = bool(pad_to_max)
        p.pad_left = bool(pad_left)
        out = _lib.sc_token_batch()
        err = _lib.new_error()
        _lib.check(lib.sc_tokenizer_encode_batch(self._h, arr, lens, B, ctypes.byref(p), ctypes.byref(out),
                                                 ctypes.byref(err)), err)
        try:
            S = out.S
            ids, mask = np.zeros((B, S), np.int64), np.zeros((B, S), np.int64)
            if S:
                ids[:] = np.ctypeslib.as_array(out.ids, shape=(B, S))
                mask[:] = np.ctypeslib.as_array(out.mask, shape=(B, S))
            lengths = [int(out.lengths[b]) for b in range(B)]
        finally:
            lib.sc_token_batch_free(ctypes.byref(out))
        return ids, mask, lengths

    def _encode(self, text, padding, truncation, max_length, return_tensors, add_special_tokens,
                return_attention_mask):
        single = isinstance(text, str)
        texts = [text] if single else _str_list(text, "text")
        pad = _padding_strategy(padding)
        trunc = _truncation_strategy(truncation, max_length)
        if max_length is not None and (not _is_int(max_length) or max_length <= 0):
            raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
        limit = None
        if trunc or pad == "max_length":
            limit = max_length if max_length is not None else self.model_max_length
            if limit >= _UNLIMITED:
                if pad == "max_length":
                    raise ValueError("padding='max_length' needs max_length (the tokenizer has no "
                                     "model_max_length)")
                limit = None
        if return_tensors not in (None, "np"):
            raise ValueError(f"return_tensors={return_tensors!r}: switchc returns numpy arrays "
                             "(return_tensors='np') or lists (None)")
        padded = pad != "do_not_pad"
        if texts:
            left = padded and self.padding_side == "left"
            ids, mask, lengths = self._encode_batch(texts, add_special_tokens, limit if trunc else None,
                                                    pad == "max_length" and trunc, left)
            if pad == "max_length" and not trunc and ids.shape[1] < limit:
                # HF pads to max_length; a row longer than it stays longer
                extra = limit - ids.shape[1]
                where = ((0, 0), (extra, 0)) if left else ((0, 0), (0, extra))
                ids = np.pad(ids, where, constant_values=self.pad_token_id)
                mask = np.pad(mask, where, constant_values=0)
        else:
            ids = mask = np.zeros((0, 0), np.int64)
            lengths = []
        if padded:
            rows_ids, rows_mask = list(ids), list(mask)
        else:
            rows_ids = [ids[b, :n] for b, n in enumerate(lengths)]
            rows_mask = [mask[b, :n] for b, n in enumerate(lengths)]
        enc = BatchEncoding()
        if return_tensors == "np":
            if len({len(r) for r in rows_ids}) > 1:
                raise ValueError("Unable to create tensor: the rows have different lengths; "
                                 "use padding=True or truncation=True to make them equal")
            n = len(rows_ids[0]) if rows_ids else 0
            enc["input_ids"] = np.array(rows_ids, dtype=np.int64).reshape(len(rows_ids), n)
            if return_attention_mask is not False:
                enc["attention_mask"] = np.array(rows_mask, dtype=np.int64).reshape(len(rows_ids), n)
        else:
            lists = [r.tolist() for r in rows_ids]
            masks = [r.tolist() for r in rows_mask]
            enc["input_ids"] = lists[0] if single else lists
            if return_attention_mask is not False:
                enc["attention_mask"] = masks[0] if single else masks
        return enc

    def __call__(self, text=None, text_target=None, padding=False, truncation=None, max_length=None,
                 return_tensors=None, add_special_tokens=True, return_attention_mask=None, **kwargs):
        """HF tokenizer(text, ...): input_ids and attention_mask (and labels =
        the input_ids of text_target). padding: False / "do_not_pad", True /
        "longest", "max_length"; truncation: None, False, True /
        "longest_first" / "only_first" (max_length alone also truncates, as
        in HF); padding side: the padding_side attribute ("right")."""
        for k in kwargs:
            raise TypeError(f"tokenizer() got an unexpected keyword argument {k!r}")
        if text is None and text_target is None:
            raise ValueError("You need to specify either `text` or `text_target`.")
        opts = (padding, truncation, max_length, return_tensors, add_special_tokens, return_attention_mask)
        if text is None:
            return self._encode(text_target, *opts)
        enc = self._encode(text, *opts)
        if text_target is not None:
            enc["labels"] = self._encode(text_target, *opts)["input_ids"]
        return enc

    def encode(self, text, add_special_tokens=True, truncation=None, max_length=None, **kwargs):
        """HF encode(text): the input_ids of one text, as a list."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        return self(text, add_special_tokens=add_special_tokens, truncation=truncation, max_length=max_length,
                    **kwargs)["input_ids"]

    # ------------------------------------------------------------- decoding
    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None,
               skip_unknown=False, **kwargs):
        """HF decode(ids). An id outside [0, vocab_size) raises IndexError as
        HF's slow tokenizer does ("piece id is out of range."), unless
        skip_unknown=True (a switchc addition) leaves ids >= vocab_size out:
        a model's embedding has more rows (32128) than the tokenizer ids."""
        for k in kwargs:
            raise TypeError(f"decode() got an unexpected keyword argument {k!r}")
        ids = np.array([token_ids] if _is_int(token_ids) else list(_ids_list(token_ids, "token_ids")),
                       dtype=np.int64)
        if ids.size and (ids.min() < 0 or (not skip_unknown and ids.max() >= self._vocab)):
            raise IndexError("piece id is out of range.")
        if ids.size and ids.max() > np.iinfo(np.int32).max:
            ids = ids[ids < self._vocab]
        flags = 0
        if skip_special_tokens:
            flags |= _lib.SC_DECODE_SKIP_SPECIAL
        if clean_up_tokenization_spaces is False:
            flags |= _lib.SC_DECODE_NO_CLEANUP
        if skip_unknown:
            flags |= _lib.SC_DECODE_SKIP_UNKNOWN
        ids32 = np.ascontiguousarray(ids, dtype=np.int32)
        ptr = ids32.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))
        err = _lib.new_error()
        need = ctypes.c_size_t(0)
        cap = 16 * len(ids32) + 64
        while True:
            buf = ctypes.create_string_buffer(cap)
            st = lib.sc_tokenizer_decode(self._h, ptr, len(ids32), flags, buf, cap, ctypes.byref(need),
                                         ctypes.byref(err))
            if st == _lib.SC_ERR_BUFFER_TOO_SMALL:
                cap = need.value + 1
                continue
            _lib.check(st, err)
            return buf.raw[:need.value].decode("utf-8", "replace")

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=None,
                     skip_unknown=False, **kwargs):
        """HF batch_decode: decode of each row (a list of lists or a 2-D array)."""
        if isinstance(sequences, np.ndarray) and sequences.ndim != 2:
            raise ValueError(f"batch_decode needs a 2-D array, got shape {sequences.shape}")
        return [self.decode(s, skip_special_tokens=skip_special_tokens,
                            clean_up_tokenization_spaces=clean_up_tokenization_spaces,
                            skip_unknown=skip_unknown, **kwargs) for s in sequences]


# ----------------------------------------------------------------- helpers


def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _ids_list(ids, what):
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1:
            raise ValueError(f"{what} must be one-dimensional, got shape {ids.shape}")
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"{what} must hold integers, got {ids.dtype}")
        return [int(i) for i in ids]
    if hasattr(ids, "tolist") and not isinstance(ids, (list, tuple)):
        return _ids_list(np.asarray(ids), what)
    if not isinstance(ids, (list, tuple)):
        raise TypeError(f"{what} must be a list of ints or an array, got {type(ids).__name__}")
    for i in ids:
        if not _is_int(i):
            raise TypeError(f"{what} must hold ints, got {type(i).__name__}")
    return [int(i) for i in ids]


def _str_list(texts, what):
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"{what} must be a string or a list of strings, got {type(texts).__name__}")
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"{what} must hold strings, got {type(t).__name__}")
    return list(texts)


def _padding_strategy(padding):
    if padding is False or padding is None or padding == "do_not_pad":
        return "do_not_pad"
    if padding is True or padding == "longest":
        return "longest"
    if padding == "max_length":
        return "max_length"
    raise ValueError(f"padding={padding!r}: use False, True, 'longest', 'max_length' or 'do_not_pad'")


def _truncation_strategy(truncation, max_length):
    if truncation is None:
        return max_length is not None  # HF: max_length alone truncates
    if truncation is False or truncation == "do_not_truncate":
        return False
    if truncation is True or truncation in ("longest_first", "only_first"):
        return True
    raise ValueError(f"truncation={truncation!r}: use True, False, 'longest_first', 'only_first' or "
                     "'do_not_truncate'")
