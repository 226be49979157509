"""Switch Transformers models with the names of Hugging Face transformers
4.41.2: SwitchTransformersForConditionalGeneration (forward with losses and
router outputs, generate) and SwitchTransformersEncoderModel, over
sc_model_* / sc_session_* / sc_generate.

A model is shared by threads: each call takes a session from the model's
pool of idle sessions (making one when all are busy) and puts it back after,
so concurrent calls never share a session. Left out: decoder attention
masks, past_key_values, hidden states of every layer, attentions, inputs
given as embeddings, streaming, and devices other than the CPU.
"""

import ctypes
import json
import os
import re
import threading
from contextlib import contextmanager

import numpy as np

from . import _lib
from ._lib import lib
from .tokenization import _resolve

_I32 = ctypes.POINTER(ctypes.c_int32)

_DTYPES = {
    "auto": _lib.SC_DTYPE_COUNT, "float32": _lib.SC_DTYPE_F32, "fp32": _lib.SC_DTYPE_F32,
    "f32": _lib.SC_DTYPE_F32, "float": _lib.SC_DTYPE_F32, "bfloat16": _lib.SC_DTYPE_BF16,
    "bf16": _lib.SC_DTYPE_BF16, "float16": _lib.SC_DTYPE_F16, "fp16": _lib.SC_DTYPE_F16,
    "f16": _lib.SC_DTYPE_F16, "half": _lib.SC_DTYPE_F16, "q8": _lib.SC_DTYPE_I8, "int8": _lib.SC_DTYPE_I8,
    "i8": _lib.SC_DTYPE_I8,
}
_DROP = {"hf4": _lib.SC_DROP_HF4, "zero": _lib.SC_DROP_ZERO, "none": _lib.SC_DROP_NONE}


def _dtype_code(dtype):
    if dtype is None:
        return _lib.SC_DTYPE_COUNT
    if isinstance(dtype, type) or isinstance(dtype, np.dtype):
        try:
            name = np.dtype(dtype).name
        except TypeError:
            raise TypeError(f"dtype {dtype!r} is not a data type") from None
    elif isinstance(dtype, str) or type(dtype).__module__ == "torch":
        name = str(dtype).lower().replace("torch.", "")
    else:
        raise TypeError(f"dtype must be a string such as 'bfloat16', got {type(dtype).__name__}")
    if name not in _DTYPES:
        raise ValueError(f"dtype {dtype!r}: use 'auto' (as stored), 'float32', 'bfloat16', 'float16' or 'q8'")
    return _DTYPES[name]


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20,
          "gib": 2**30, "tib": 2**40}


def _memory_bytes(max_memory):
    """HF's max_memory: bytes, "10GiB"/"500MB", or a dict whose "cpu" entry
    is one of those (the other devices do not exist here)."""
    if max_memory is None:
        return 0
    if isinstance(max_memory, dict):
        if "cpu" not in max_memory:
            raise ValueError("max_memory: switchc runs on the CPU; give {'cpu': SIZE}")
        max_memory = max_memory["cpu"]
    if isinstance(max_memory, bool):
        raise TypeError("max_memory must be a byte count or a string such as '4GiB'")
    if isinstance(max_memory, (int, np.integer)):
        if max_memory < 0:
            raise ValueError(f"max_memory must be >= 0, got {max_memory}")
        return int(max_memory)
    if isinstance(max_memory, str):
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)\s*", max_memory)
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError(f"max_memory {max_memory!r}: use a number of bytes or e.g. '4GiB', '500MB'")
        return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    raise TypeError(f"max_memory must be a byte count or a string such as '4GiB', got "
                    f"{type(max_memory).__name__}")


def _int_arg(name, value, lo=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if lo is not None and value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    return int(value)


def _ids_array(x, name, allow_negative=False, is_mask=False):
    """A 2-D C-contiguous int32 array from a list, a numpy array or anything
    with __array__ (a CPU torch tensor); 1-D means one row. A mask may also
    be bool or float (HF takes float masks) holding 0 and 1."""
    if x is None:
        raise ValueError(f"{name} is required")
    try:
        a = np.asarray(x)
    except Exception as e:
        raise TypeError(f"{name}: cannot read {type(x).__name__} as an array ({e})") from None
    if is_mask and (a.dtype == np.bool_ or np.issubdtype(a.dtype, np.floating)):
        if a.size and not np.isin(a, (0, 1)).all():
            raise ValueError(f"{name} must hold 0 and 1")
        a = a.astype(np.int64)
    if a.dtype == object or not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got {a.dtype}")
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"{name} must be [batch, length], got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    if a.size and (a.max() > np.iinfo(np.int32).max or a.min() < (-100 if allow_negative else 0)):
        raise ValueError(f"{name} holds a value out of range: {a.min()} .. {a.max()}")
    return np.ascontiguousarray(a, dtype=np.int32)


def _ptr(a):
    return None if a is None else a.ctypes.data_as(_I32)


def _copy(ptr, shape, dtype=np.float32):
    if not ptr or 0 in shape:
        return np.zeros(shape, dtype)
    return np.ctypeslib.as_array(ptr, shape=tuple(int(s) for s in shape)).astype(dtype, copy=True)


# ------------------------------------------------------------------ outputs


class ModelOutput:
    """HF ModelOutput: fields as attributes; ["name"] and integer indexing,
    keys() and to_tuple() over the fields that are not None."""

    _fields = ()

    def __init__(self, **kw):
        for f in self._fields:
            setattr(self, f, kw.pop(f, None))
        if kw:
            raise TypeError(f"unknown fields {sorted(kw)}")

    def keys(self):
        return [f for f in self._fields if getattr(self, f) is not None]

    def items(self):
        return [(k, getattr(self, k)) for k in self.keys()]

    def values(self):
        return [getattr(self, k) for k in self.keys()]

    def to_tuple(self):
        return tuple(self.values())

    def __getitem__(self, k):
        if isinstance(k, str):
            if k not in self.keys():
                raise KeyError(k)
            return getattr(self, k)
        return self.to_tuple()[k]

    def __contains__(self, k):
        return k in self.keys()

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def __repr__(self):
        parts = []
        for k, v in self.items():
            parts.append(f"{k}=array{v.shape}" if isinstance(v, np.ndarray) else f"{k}=...")
        return f"{type(self).__name__}({', '.join(parts)})"


class Seq2SeqMoEOutput(ModelOutput):
    _fields = ("loss", "logits", "encoder_z_loss", "encoder_aux_loss", "decoder_z_loss", "decoder_aux_loss",
               "decoder_router_logits", "encoder_last_hidden_state", "encoder_router_logits")


class MoEModelOutput(ModelOutput):
    _fields = ("last_hidden_state", "router_probs")


class GenerateOutput(ModelOutput):
    _fields = ("sequences", "sequences_scores")


class SwitchTransformersConfig:
    """config.json as an object: keys are attributes and items; the block
    counts HF derives (num_decoder_layers defaults to num_layers) filled in."""

    def __init__(self, d):
        self.__dict__.update(d)
        self.__dict__.setdefault("num_layers", 12)
        self.__dict__.setdefault("num_decoder_layers", self.num_layers)

    def __getitem__(self, k):
        return self.__dict__[k]

    def __contains__(self, k):
        return k in self.__dict__

    def get(self, k, default=None):
        return self.__dict__.get(k, default)

    def to_dict(self):
        return dict(self.__dict__)

    def __repr__(self):
        return f"SwitchTransformersConfig({json.dumps(self.__dict__, sort_keys=True, default=str)})"


# ------------------------------------------------------------------ runtime


class _Runtime:
    """One loaded sc_model, its idle sessions and its generation defaults;
    shared by every wrapper made from one from_pretrained call."""

    def __init__(self, path, params):
        err = _lib.new_error()
        h = ctypes.c_void_p()
        _lib.check(lib.sc_model_load(os.fsencode(path), ctypes.byref(params), ctypes.byref(h),
                                     ctypes.byref(err)), err)
        self.model = h
        self.path = path
        self.lock = threading.Lock()
        self.idle = []
        self.busy = 0
        self.closed = False
        try:
            gp = _lib.sc_generate_params()
            _lib.check(lib.sc_generate_params_from_dir(os.fsencode(path), ctypes.byref(gp), ctypes.byref(err)),
                       err)
            self.gen_defaults = gp
            cfg = {}
            cfg_path = os.path.join(path, "config.json")
            if os.path.isfile(cfg_path):
                with open(cfg_path, encoding="utf-8") as f:
                    cfg = json.load(f)
            self.config = SwitchTransformersConfig(cfg if isinstance(cfg, dict) else {})
        except BaseException:
            self.close()
            raise

    @contextmanager
    def session(self):
        with self.lock:
            if self.closed:
                raise ValueError("the model is closed")
            s = self.idle.pop() if self.idle else None
            self.busy += 1
        try:
            if s is None:
                err = _lib.new_error()
                s = ctypes.c_void_p()
                _lib.check(lib.sc_session_new(self.model, ctypes.byref(s), ctypes.byref(err)), err)
            yield s
        finally:
            with self.lock:
                self.busy -= 1
                if s is not None and s.value:
                    if self.closed:
                        lib.sc_session_free(s)
                    else:
                        self.idle.append(s)
                if self.closed and self.busy == 0:
                    self._free_model()

    def _free_model(self):
        if self.model is not None:
            lib.sc_model_free(self.model)
            self.model = None

    def close(self):
        """Frees the idle sessions now and the model once no call runs."""
        with self.lock:
            self.closed = True
            for s in self.idle:
                lib.sc_session_free(s)
            self.idle = []
            if self.busy == 0:
                self._free_model()

    def __del__(self):
        if getattr(self, "lock", None) is not None:
            try:
                self.close()
            except Exception:  # interpreter shutdown: the module may be gone already
                pass


def _load_runtime(pretrained_model_name_or_path, dtype=None, torch_dtype=None, threads=None, max_memory=None,
                  revision=None, kernels=None, drop_policy=None, use_safetensors=None, no_mmap=False,
                  **kwargs):
    for k, v in kwargs.items():
        if k == "device_map" and v in (None, "cpu", "auto"):
            continue
        if k in ("local_files_only", "low_cpu_mem_usage", "trust_remote_code"):
            continue
        raise TypeError(f"from_pretrained() got an unexpected keyword argument {k!r}")
    if dtype is not None and torch_dtype is not None and dtype != torch_dtype:
        raise ValueError("give dtype or torch_dtype, not both")
    path = _resolve(pretrained_model_name_or_path, revision)
    p = lib.sc_model_default_params()
    p.dtype = _dtype_code(dtype if dtype is not None else torch_dtype)
    if threads is not None:
        p.n_threads = _int_arg("threads", threads, 0)
    p.max_memory = _memory_bytes(max_memory)
    if kernels is not None:
        if not isinstance(kernels, str):
            raise TypeError(f"kernels must be a string such as 'exact', got {type(kernels).__name__}")
        p.kernels = kernels.encode()
    if drop_policy is not None:
        if drop_policy not in _DROP:
            raise ValueError(f"drop_policy {drop_policy!r}: use 'hf4', 'zero' or 'none'")
        p.drop_policy = _DROP[drop_policy]
    if use_safetensors is True:
        p.format = _lib.SC_FORMAT_SAFETENSORS
    elif use_safetensors is False:
        p.format = _lib.SC_FORMAT_TORCH_BIN
    p.no_mmap = bool(no_mmap)
    rt = _Runtime(path, p)
    rt.name_or_path = os.fspath(pretrained_model_name_or_path)
    return rt


# ------------------------------------------------------------------- models


class _Base:
    def __init__(self, runtime):
        self._rt = runtime
        self.config = runtime.config
        self.name_or_path = runtime.name_or_path
        self.device = "cpu"

    def close(self):
        """Frees the model now (it is freed anyway when the last reference
        goes); later calls raise ValueError. Calls running in other threads
        finish first."""
        self._rt.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def eval(self):
        return self

    def to(self, device):
        if str(device) != "cpu":
            raise ValueError(f"switchc runs on the CPU; cannot move the model to {device!r}")
        return self

    @property
    def vocab_size(self):
        return int(lib.sc_model_vocab_size(self._model()))

    def _model(self):
        if self._rt.closed or self._rt.model is None:
            raise ValueError("the model is closed")
        return self._rt.model

    def _n_blocks(self, decoder):
        return int(self.config.num_decoder_layers if decoder else self.config.num_layers)

    def _router_tuples(self, decoder, found):
        """HF's per-block router tuple of one stack: (router_logits [B,L,E]
        float32, expert_index [B,L] int64) for a sparse block and
        (array([0]),) for a dense one, as HF 4.41.2's blocks return them."""
        blocks = found.get(decoder, {})
        n = max([self._n_blocks(decoder)] + [b + 1 for b in blocks])
        return tuple(blocks[i] if i in blocks else (np.zeros((1,), np.int64),) for i in range(n))

    def _forward(self, input_ids, attention_mask, decoder_input_ids, labels, keep_router):
        ids = _ids_array(input_ids, "input_ids")
        B, S = ids.shape
        mask = None
        if attention_mask is not None:
            mask = _ids_array(attention_mask, "attention_mask", is_mask=True)
            if mask.shape != ids.shape:
                raise ValueError(f"attention_mask has shape {mask.shape}, input_ids {ids.shape}")
        lab = dec = None
        if labels is not None:
            lab = _ids_array(labels, "labels", allow_negative=True)
        if decoder_input_ids is not None:
            dec = _ids_array(decoder_input_ids, "decoder_input_ids")
        if lab is None and dec is None:
            raise ValueError("give labels or decoder_input_ids: the decoder needs an input")
        T = (lab if lab is not None else dec).shape[1]
        for name, a in (("labels", lab), ("decoder_input_ids", dec)):
            if a is not None and a.shape[0] != B:
                raise ValueError(f"{name} has {a.shape[0]} rows, input_ids {B}")
        if lab is not None and dec is not None and lab.shape != dec.shape:
            raise ValueError(f"labels has shape {lab.shape}, decoder_input_ids {dec.shape}")
        fp = lib.sc_forward_default_params()
        fp.decoder_input_ids = _ptr(dec)
        fp.keep_encoder_output = True
        fp.keep_router = bool(keep_router)
        err = _lib.new_error()
        res = ctypes.c_void_p()
        with self._rt.session() as s:
            _lib.check(lib.sc_session_forward(s, _ptr(ids), _ptr(mask), B, S, _ptr(lab), T, ctypes.byref(fp),
                                              ctypes.byref(res), ctypes.byref(err)), err)
        try:
            out = {"losses": lib.sc_forward_result_loss(res)}
            b, t, v = ctypes.c_int64(), ctypes.c_int64(), ctypes.c_int64()
            p = lib.sc_forward_result_logits(res, ctypes.byref(b), ctypes.byref(t), ctypes.byref(v))
            out["logits"] = _copy(p, (b.value, t.value, v.value))
            p = lib.sc_forward_result_encoder_output(res, ctypes.byref(b), ctypes.byref(t), ctypes.byref(v))
            out["encoder"] = _copy(p, (b.value, t.value, v.value))
            found = {False: {}, True: {}}
            for i in range(lib.sc_forward_result_router_count(res)):
                r = _lib.sc_router_output()
                _lib.check(lib.sc_forward_result_router(res, i, ctypes.byref(r), ctypes.byref(err)), err)
                found[bool(r.decoder)][int(r.block)] = (_copy(r.logits, (r.B, r.len, r.E)),
                                                        _copy(r.expert_index, (r.B, r.len), np.int64))
            out["routers"] = found
        finally:
            lib.sc_forward_result_free(res)
        return out


class _Encoder(_Base):
    """The encoder stack: HF's model.encoder / get_encoder() and
    SwitchTransformersEncoderModel."""

    def __call__(self, input_ids=None, attention_mask=None, output_router_logits=True, return_dict=True,
                 **kwargs):
        """-> MoEModelOutput(last_hidden_state [B,S,d_model] float32,
        router_probs: HF's per-block router tuples, or None). The router
        outputs come from a forward pass with one decoder position (the
        encoder's numbers do not depend on the decoder)."""
        for k in kwargs:
            raise TypeError(f"forward() got an unexpected keyword argument {k!r}")
        if output_router_logits:
            ids = _ids_array(input_ids, "input_ids")
            start = np.full((ids.shape[0], 1), lib.sc_model_decoder_start_id(self._model()), np.int32)
            o = self._forward(ids, attention_mask, start, None, True)
            out = MoEModelOutput(last_hidden_state=o["encoder"],
                                 router_probs=self._router_tuples(False, o["routers"]))
        else:
            out = MoEModelOutput(last_hidden_state=self._encode(input_ids, attention_mask))
        return out if return_dict else out.to_tuple()

    forward = __call__

    def _encode(self, input_ids, attention_mask):
        ids = _ids_array(input_ids, "input_ids")
        B, S = ids.shape
        mask = None
        if attention_mask is not None:
            mask = _ids_array(attention_mask, "attention_mask", is_mask=True)
            if mask.shape != ids.shape:
                raise ValueError(f"attention_mask has shape {mask.shape}, input_ids {ids.shape}")
        err = _lib.new_error()
        with self._rt.session() as s:
            _lib.check(lib.sc_session_encode(s, _ptr(ids), _ptr(mask), B, S, ctypes.byref(err)), err)
            b, t = ctypes.c_int64(), ctypes.c_int64()
            p = lib.sc_session_encoder_output(s, ctypes.byref(b), ctypes.byref(t))
            return _copy(p, (b.value, t.value, int(lib.sc_model_d_model(self._rt.model))))


class SwitchTransformersEncoderModel(_Encoder):
    """HF SwitchTransformersEncoderModel: model(input_ids, attention_mask)
    .last_hidden_state. Loads a full encoder-decoder checkpoint."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Same keywords as SwitchTransformersForConditionalGeneration.from_pretrained."""
        return cls(_load_runtime(pretrained_model_name_or_path, **kwargs))

    def get_encoder(self):
        return self


class SwitchTransformersForConditionalGeneration(_Base):
    """HF SwitchTransformersForConditionalGeneration on switchc."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, dtype=None, torch_dtype=None, threads=None,
                        max_memory=None, revision=None, kernels=None, drop_policy=None, use_safetensors=None,
                        no_mmap=False, **kwargs):
        """Loads a checkpoint directory, or a repo id from the local Hugging
        Face cache (revision: branch, tag or commit; nothing is downloaded).

        dtype (alias torch_dtype): None / "auto" = as stored; "float32",
        "bfloat16", "float16" or "q8" converts the weight matrices.
        threads: worker threads (None = SWITCHC_THREADS or one per core).
        max_memory: bound on resident expert weights (bytes, "4GiB", or
        {"cpu": ...}). kernels: None = fastest for this CPU, "exact" = fp32
        arithmetic (HF's numbers), or a table name ("ref", "avx512", ...).
        drop_policy: "hf4" (default), "zero" or "none". use_safetensors:
        True / False picks model.safetensors / pytorch_model.bin. no_mmap:
        read the weights into memory instead of mapping them."""
        return cls(_load_runtime(pretrained_model_name_or_path, dtype=dtype, torch_dtype=torch_dtype,
                                 threads=threads, max_memory=max_memory, revision=revision, kernels=kernels,
                                 drop_policy=drop_policy, use_safetensors=use_safetensors, no_mmap=no_mmap,
                                 **kwargs))

    def __init__(self, runtime):
        super().__init__(runtime)
        self.encoder = _Encoder(runtime)
        self.generation_config = _GenerationDefaults(runtime.gen_defaults)

    def get_encoder(self):
        return self.encoder

    def __call__(self, input_ids=None, attention_mask=None, decoder_input_ids=None, labels=None,
                 output_router_logits=True, return_dict=True, **kwargs):
        """HF forward: -> Seq2SeqMoEOutput with loss (when labels are given),
        logits [B,T,V], encoder_last_hidden_state [B,S,D], the four router
        losses and the router tuples (output_router_logits=True, HF's
        default). decoder_input_ids default to HF's shift_right(labels)."""
        for k in kwargs:
            raise TypeError(f"forward() got an unexpected keyword argument {k!r}")
        o = self._forward(input_ids, attention_mask, decoder_input_ids, labels, output_router_logits)
        L = o["losses"]
        f32 = np.float32
        loss = None
        if labels is not None:
            loss = f32(L.loss if output_router_logits else L.ce)
        kw = {}
        if output_router_logits:
            kw = dict(encoder_z_loss=f32(L.encoder_z_loss), encoder_aux_loss=f32(L.encoder_aux_loss),
                      decoder_z_loss=f32(L.decoder_z_loss), decoder_aux_loss=f32(L.decoder_aux_loss),
                      encoder_router_logits=self._router_tuples(False, o["routers"]),
                      decoder_router_logits=self._router_tuples(True, o["routers"]))
        out = Seq2SeqMoEOutput(loss=loss, logits=o["logits"], encoder_last_hidden_state=o["encoder"], **kw)
        return out if return_dict else out.to_tuple()

    forward = __call__

    def generate(self, input_ids=None, attention_mask=None, generation_config=None, inputs=None, **kwargs):
        """HF generate for encoder-decoder models: greedy, beam search or
        sampling. -> int64 array [B * num_return_sequences, length], each row
        starting with the decoder start id, finished rows padded with the pad
        id (or, with return_dict_in_generate=True, an object with .sequences
        and, for beam search, .sequences_scores).

        Keywords (None = the checkpoint's generation_config.json / HF's
        defaults): max_length, max_new_tokens, min_length, min_new_tokens,
        num_beams, num_return_sequences, length_penalty, early_stopping (True,
        False or "never"), do_sample, temperature, top_k, top_p,
        repetition_penalty, no_repeat_ngram_size, pad_token_id,
        eos_token_id, decoder_start_token_id, seed (switchc's sampler:
        reproducible across runs, not torch's numbers)."""
        if inputs is not None:
            if input_ids is not None:
                raise ValueError("give input_ids or inputs, not both")
            input_ids = inputs
        ids = _ids_array(input_ids, "input_ids")
        B, S = ids.shape
        mask = None
        if attention_mask is not None:
            mask = _ids_array(attention_mask, "attention_mask", is_mask=True)
            if mask.shape != ids.shape:
                raise ValueError(f"attention_mask has shape {mask.shape}, input_ids {ids.shape}")
        gp = _lib.sc_generate_params.from_buffer_copy(self._rt.gen_defaults)
        return_dict = bool(kwargs.pop("return_dict_in_generate", False))
        kwargs.pop("output_scores", None)
        kwargs.pop("use_cache", None)
        if generation_config is not None:
            cfg = generation_config if isinstance(generation_config, dict) else {
                k: getattr(generation_config, k) for k in _GEN_KEYS if hasattr(generation_config, k)}
            for k, v in cfg.items():
                if k in _GEN_KEYS and k not in kwargs:
                    kwargs[k] = v
        for k, v in kwargs.items():
            if k not in _GEN_KEYS:
                raise TypeError(f"generate() got an unexpected keyword argument {k!r}")
            if v is not None:
                _set_gen(gp, k, v)
        err = _lib.new_error()
        res = ctypes.c_void_p()
        with self._rt.session() as s:
            _lib.check(lib.sc_generate(s, _ptr(ids), _ptr(mask), B, S, ctypes.byref(gp), ctypes.byref(res),
                                       ctypes.byref(err)), err)
        try:
            rows, n = ctypes.c_int64(), ctypes.c_int64()
            p = lib.sc_generate_result_sequences(res, ctypes.byref(rows), ctypes.byref(n))
            seqs = _copy(p, (rows.value, n.value), np.int64)
            sp = lib.sc_generate_result_scores(res, ctypes.byref(rows))
            scores = _copy(sp, (rows.value,)) if sp else None
        finally:
            lib.sc_generate_result_free(res)
        if return_dict:
            return GenerateOutput(sequences=seqs, sequences_scores=scores)
        return seqs


_GEN_KEYS = ("max_length", "max_new_tokens", "min_length", "min_new_tokens", "num_beams",
             "num_return_sequences", "length_penalty", "early_stopping", "do_sample", "temperature", "top_k",
             "top_p", "repetition_penalty", "no_repeat_ngram_size", "seed", "pad_token_id", "eos_token_id",
             "decoder_start_token_id")


def _set_gen(gp, k, v):
    if k in ("do_sample",):
        if not isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{k} must be a bool, got {type(v).__name__}")
        gp.do_sample = bool(v)
    elif k == "early_stopping":
        if v == "never":
            gp.early_stopping = _lib.SC_EARLY_STOP_NEVER
        elif isinstance(v, (bool, np.bool_)):
            gp.early_stopping = _lib.SC_EARLY_STOP_TRUE if v else _lib.SC_EARLY_STOP_HEURISTIC
        else:
            raise ValueError(f"early_stopping must be True, False or 'never', got {v!r}")
    elif k in ("length_penalty", "temperature", "top_p", "repetition_penalty"):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{k} must be a number, got {type(v).__name__}")
        setattr(gp, k, float(v))
    elif k == "seed":
        v = _int_arg(k, v, 0)
        if v >= 1 << 64:
            raise ValueError(f"seed must be < 2**64, got {v}")
        gp.seed = v
    elif k in ("pad_token_id", "eos_token_id", "decoder_start_token_id"):
        if isinstance(v, (list, tuple)):
            if len(v) != 1:
                raise ValueError(f"{k}: switchc takes one id, got {list(v)}")
            v = v[0]
        v = _int_arg(k, v, 0)
        if v > np.iinfo(np.int32).max:
            raise ValueError(f"{k} {v} is out of range")
        setattr(gp, k, v)
    else:
        v = _int_arg(k, v)
        setattr(gp, k, v)


class _GenerationDefaults:
    """model.generation_config: the checkpoint's generation defaults
    (sc_generate_params_from_dir), read-only."""

    def __init__(self, gp):
        es = {_lib.SC_EARLY_STOP_TRUE: True, _lib.SC_EARLY_STOP_NEVER: "never"}.get(gp.early_stopping, False)
        self.max_length = gp.max_length
        self.max_new_tokens = None if gp.max_new_tokens < 0 else gp.max_new_tokens
        self.min_length = gp.min_length
        self.min_new_tokens = None if gp.min_new_tokens < 0 else gp.min_new_tokens
        self.num_beams = gp.num_beams
        self.num_return_sequences = gp.num_return_sequences
        self.length_penalty = gp.length_penalty
        self.early_stopping = es
        self.do_sample = bool(gp.do_sample)
        self.temperature = gp.temperature
        self.top_k = gp.top_k
        self.top_p = gp.top_p
        self.repetition_penalty = gp.repetition_penalty
        self.no_repeat_ngram_size = gp.no_repeat_ngram_size
        self.pad_token_id = gp.pad_token_id
        self.eos_token_id = None if gp.eos_token_id == _lib.SC_TOKEN_NONE else gp.eos_token_id
        self.decoder_start_token_id = gp.decoder_start_token_id

    def to_dict(self):
        return dict(self.__dict__)

    def __repr__(self):
        return f"GenerationConfig({self.__dict__})"
