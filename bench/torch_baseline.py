#!/usr/bin/python3
"""PyTorch baseline for switchc: Switch Transformers written out by hand in plain torch.

This is NOT Hugging Face transformers.  It is a small, self-contained PyTorch program that
performs the same computation as transformers 4.41.2's
SwitchTransformersForConditionalGeneration in eval mode (the version the fixtures under
tests/fixtures/models were recorded with), so that a PyTorch timing can be taken on the same
machine and the same checkpoint as the C engine without installing transformers.

What it mirrors, step by step:
  * T5-style RMSNorm (mean of squares taken in float32; for half/bfloat16 weights the
    normalised activations are cast to the weight dtype before the scale is applied);
  * attention without the 1/sqrt(d_kv) factor, with relative-position bucket biases
    (bidirectional in the encoder, causal in the decoder) taken from block 0 of each stack and
    shared by every later block, padding/causal masks added as finfo(dtype).min, softmax in
    float32 and cast back; cross-attention has no position bias;
  * the top-1 router in float32 (classifier on float32 inputs), softmax, argmax, a per-row
    capacity limit via a cumulative sum over the one-hot choice, and 4.41.2's expert loop in
    which a token dropped by capacity keeps router_prob_max * x (x = the normed input);
  * dense relu feed-forward blocks (or another dense_act_fn), residual connections;
  * decoder with a self-attention K/V cache and cross-attention K/V computed once per prompt;
  * final RMSNorm and the lm_head, with the d_model ** -0.5 rescale for tied embeddings;
  * greedy decoding from decoder_start_token_id until eos (finished rows padded) or
    max_new_tokens.

Weights are read from a Hugging Face checkpoint directory (config.json plus model.safetensors,
or model.safetensors.index.json and its shards) by a small safetensors reader written here
(F32, F16 and BF16 tensors, memory-mapped).

Usage (Debian's interpreter, which has python3-torch and python3-numpy; transformers and
safetensors are not needed):

  /usr/bin/python3 bench/torch_baseline.py --check tests/fixtures/models/t5vocab_e4_step2
      teacher-forced forward and greedy generation compared with the recorded arrays of one
      or more fixture cases; prints "<name> max_abs=<x> PASS|FAIL" lines, exit 1 on a FAIL.

  /usr/bin/python3 bench/torch_baseline.py --bench MODEL_DIR [--dtype f32|bf16]
                                           [--threads N] [--runs R]
      load time, encoder throughput (1x128 and 8x128 random tokens), greedy decode ms/token
      (64-token prompt, 32 forced steps) and peak RSS, printed as one JSON object on stdout.
      Progress goes to stderr.

  /usr/bin/python3 bench/torch_baseline.py --train-bench MODEL_DIR [--dtype f32|bf16]
                                           [--threads N] [--runs R] [--batch B] [--src S]
                                           [--tgt T] [--record FILE]
      training steps of the same hand-written forward (teacher forcing, loss = CE + the
      config's router z-loss and aux-loss coefficients, no dropout or jitter), loss.backward()
      and torch.optim.AdamW on every parameter; one warm-up step, then R timed ones. Prints
      one JSON line (tokens/s counting source + target tokens, seconds per step, peak RSS,
      the CPU's model name) and appends it to FILE with --record. bf16 is the weights
      .to(torch.bfloat16) with AdamW on bf16 parameters (the router stays float32, as in
      the forward).

Requirements: Debian packages python3-torch (1.13, OpenBLAS) and python3-numpy.
"""

import argparse
import json
import math
import os
import re
import resource
import statistics
import struct
import sys
import time

# numpy and torch are imported by _import_numeric() so that the BLAS thread count can be
# fixed in the environment before either library starts its thread pool.
np = None
torch = None
F = None

IMPL_NAME = "pytorch re-implementation of HF 4.41 Switch forward"
FLOAT_TOL = 1e-4
LOOSE_BF16_TOL = 2e-2


def _import_numeric(threads=None):
    global np, torch, F
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    import numpy as _np
    import torch as _torch
    import torch.nn.functional as _F
    np, torch, F = _np, _torch, _F
    if threads is not None:
        torch.set_num_threads(threads)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class LoadError(Exception):
    """A checkpoint or fixture file is missing or malformed."""


# --------------------------------------------------------------------------------------------
# safetensors reader
# --------------------------------------------------------------------------------------------

# safetensors dtype tag -> (numpy dtype used to read the bytes, element size)
_ST_DTYPES = {
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": ("<i2", 2),  # reinterpreted as torch.bfloat16 after wrapping
}
_MAX_HEADER = 100 * 1024 * 1024


def read_safetensors(path):
    """Map one .safetensors file; returns {name: torch.Tensor} backed by the mapping."""
    if sys.byteorder != "little":
        raise LoadError(f"{path}: this reader assumes a little-endian host")
    if not os.path.isfile(path):
        raise LoadError(f"{path}: file not found")
    size = os.path.getsize(path)
    if size < 8:
        raise LoadError(f"{path}: only {size} bytes, too short for a safetensors header")
    with open(path, "rb") as fh:
        (hlen,) = struct.unpack("<Q", fh.read(8))
        if hlen == 0 or hlen > _MAX_HEADER or 8 + hlen > size:
            raise LoadError(f"{path}: header length {hlen} is impossible for a {size}-byte file")
        raw = fh.read(hlen)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LoadError(f"{path}: header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise LoadError(f"{path}: header is not a JSON object")

    data_start = 8 + hlen
    data_len = size - data_start
    mapping = np.memmap(path, dtype=np.uint8, mode="c") if data_len > 0 else None
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            tag = info["dtype"]
            shape = [int(d) for d in info["shape"]]
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise LoadError(f"{path}: entry {name!r} lacks a valid dtype/shape/data_offsets") from None
        if tag not in _ST_DTYPES:
            raise LoadError(f"{path}: tensor {name!r} has dtype {tag}; only F32, F16 and BF16 are supported")
        np_dtype, esize = _ST_DTYPES[tag]
        count = 1
        for d in shape:
            if d < 0:
                raise LoadError(f"{path}: tensor {name!r} has a negative dimension {shape}")
            count *= d
        if not (0 <= begin <= end <= data_len):
            raise LoadError(f"{path}: tensor {name!r} data_offsets [{begin}, {end}] fall outside "
                            f"the {data_len} data bytes")
        if end - begin != count * esize:
            raise LoadError(f"{path}: tensor {name!r} spans {end - begin} bytes but {tag}{shape} "
                            f"needs {count * esize}")
        if count == 0:
            arr = np.zeros(shape, dtype=np_dtype)
        else:
            arr = mapping[data_start + begin:data_start + end].view(np_dtype).reshape(shape)
            if not arr.flags.aligned:
                arr = np.array(arr)  # a private, aligned copy
        t = torch.from_numpy(arr)
        if tag == "BF16":
            t = t.view(torch.bfloat16)
        tensors[name] = t
    return tensors


def load_checkpoint_tensors(model_dir):
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.isfile(single):
        return read_safetensors(single)
    if os.path.isfile(index):
        try:
            with open(index) as fh:
                weight_map = json.load(fh)["weight_map"]
            if not isinstance(weight_map, dict):
                raise TypeError
        except (json.JSONDecodeError, KeyError, TypeError):
            raise LoadError(f"{index}: not a safetensors index (expected a JSON object with a "
                            f"'weight_map' object)") from None
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            part = read_safetensors(os.path.join(model_dir, shard))
            tensors.update(part)
        missing = [n for n, s in weight_map.items() if n not in tensors]
        if missing:
            raise LoadError(f"{index}: {len(missing)} tensors listed in the index are not in their "
                            f"shards, e.g. {missing[0]!r} (expected in {weight_map[missing[0]]})")
        return tensors
    raise LoadError(f"{model_dir}: neither model.safetensors nor model.safetensors.index.json found")


# --------------------------------------------------------------------------------------------
# configuration (defaults of transformers 4.41.2's SwitchTransformersConfig)
# --------------------------------------------------------------------------------------------

class SwitchConfig:
    DEFAULTS = {
        "vocab_size": 32128, "d_model": 768, "d_kv": 64, "d_ff": 2048, "expert_capacity": 64,
        "num_layers": 12, "num_sparse_encoder_layers": 3, "num_decoder_layers": None,
        "num_sparse_decoder_layers": 3, "num_heads": 12, "num_experts": 8, "router_bias": False,
        "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
        "layer_norm_epsilon": 1e-6, "dense_act_fn": None, "feed_forward_proj": None,
        "tie_word_embeddings": True, "pad_token_id": 0, "eos_token_id": 1,
        "decoder_start_token_id": None, "router_z_loss_coef": 0.001, "router_aux_loss_coef": 0.001,
    }

    def __init__(self, raw):
        for key, default in self.DEFAULTS.items():
            setattr(self, key, raw.get(key, default))
        if self.num_decoder_layers is None:
            self.num_decoder_layers = self.num_layers
        # Sparse steps: computed from the sparse-layer counts (a count of 0 gives a step equal to
        # the number of layers, which in 4.41.2 still makes block 1 sparse); an explicit
        # encoder_sparse_step / decoder_sparse_step in config.json wins, as it does in HF.
        self.encoder_sparse_step = raw.get("encoder_sparse_step", self._step(
            self.num_layers, self.num_sparse_encoder_layers))
        self.decoder_sparse_step = raw.get("decoder_sparse_step", self._step(
            self.num_decoder_layers, self.num_sparse_decoder_layers))
        if self.decoder_start_token_id is None:
            self.decoder_start_token_id = self.pad_token_id  # the T5 convention
        eos = self.eos_token_id
        self.eos_ids = [] if eos is None else (list(eos) if isinstance(eos, (list, tuple)) else [eos])
        # Feed-forward kind.  HF's Switch only knows dense_act_fn (a plain activation);
        # a T5-style "gated-*" value is accepted here too (act(wi_0 x) * wi_1 x).
        spec = self.dense_act_fn or self.feed_forward_proj or "relu"
        self.ff_gated = spec.startswith("gated-")
        act = spec[len("gated-"):] if self.ff_gated else spec
        if self.ff_gated and act == "gelu":
            act = "gelu_new"  # what T5 uses for "gated-gelu"
        if act not in _ACTIVATIONS:
            raise LoadError(f"unsupported activation {spec!r} (known: {sorted(_ACTIVATIONS)})")
        self.act_name = act

    @staticmethod
    def _step(layers, sparse_layers):
        return layers // sparse_layers if sparse_layers > 0 else layers

    @staticmethod
    def is_sparse(block, step):
        if step <= 0:
            return False
        return step == 1 or block % step == 1


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


_ACTIVATIONS = {
    "relu": lambda x: F.relu(x),
    "gelu": lambda x: F.gelu(x),
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": lambda x: F.silu(x),
    "swish": lambda x: F.silu(x),
}


def load_config(model_dir):
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        raise LoadError(f"{path}: file not found")
    try:
        with open(path) as fh:
            raw = json.load(fh)
    except json.JSONDecodeError as exc:
        raise LoadError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise LoadError(f"{path}: not a JSON object")
    return SwitchConfig(raw)


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------

class DecodeState:
    """Per-generation cache: self-attention K/V per decoder block, cross K/V made once."""

    def __init__(self, enc_out, enc_mask_add, n_blocks):
        self.enc_out = enc_out
        self.enc_mask_add = enc_mask_add
        self.self_kv = [None] * n_blocks
        self.cross_kv = [None] * n_blocks
        self.pos = 0


class SwitchModel:
    def __init__(self, cfg, tensors, dtype):
        self.cfg = cfg
        self.dtype = dtype
        self._tensors = tensors
        self.act = _ACTIVATIONS[cfg.act_name]
        self.shared = self._w("shared.weight")
        self.encoder = self._stack("encoder", cfg.num_layers, cfg.encoder_sparse_step, False)
        self.decoder = self._stack("decoder", cfg.num_decoder_layers, cfg.decoder_sparse_step, True)
        if cfg.tie_word_embeddings:
            self.lm_head = self.shared
        else:
            self.lm_head = self._w("lm_head.weight")
        self._tensors = None  # the model holds what it needs

    # weight access -------------------------------------------------------------------------
    def _raw(self, name):
        t = self._tensors.get(name)
        if t is None:
            parent = name.rsplit(".", 2)[0] + "."
            near = sorted(n for n in self._tensors if n.startswith(parent))
            shown = near if near else sorted(self._tensors)
            more = "" if len(shown) <= 300 else f"\n  ... and {len(shown) - 300} more"
            raise LoadError(f"tensor {name!r} is missing from the checkpoint; "
                            f"{'names under ' + parent if near else 'names found'} "
                            f"({len(shown)} of {len(self._tensors)}):\n  "
                            + "\n  ".join(shown[:300]) + more)
        return t

    def _w(self, name):
        t = self._raw(name)
        return t if t.dtype == self.dtype else t.to(self.dtype)

    def _router_w(self, name):
        # HF casts the whole model to its dtype, then the router casts its classifier to float32
        # at every call: the float32 router weights carry the model dtype's rounding.
        t = self._raw(name)
        return t.to(self.dtype).to(torch.float32)

    def _stack(self, prefix, n_blocks, step, is_decoder):
        cfg = self.cfg
        blocks = []
        for i in range(n_blocks):
            p = f"{prefix}.block.{i}.layer."
            b = {"ln_self": self._w(p + "0.layer_norm.weight")}
            for proj in ("q", "k", "v", "o"):
                b["self_" + proj] = self._w(p + f"0.SelfAttention.{proj}.weight")
            ff = p + ("2." if is_decoder else "1.")
            if is_decoder:
                b["ln_cross"] = self._w(p + "1.layer_norm.weight")
                for proj in ("q", "k", "v", "o"):
                    b["cross_" + proj] = self._w(p + f"1.EncDecAttention.{proj}.weight")
            b["ln_ff"] = self._w(ff + "layer_norm.weight")
            b["sparse"] = SwitchConfig.is_sparse(i, step)
            b["name"] = f"{prefix}.block.{i}"
            if b["sparse"]:
                b["router_w"] = self._router_w(ff + "mlp.router.classifier.weight")
                b["router_b"] = (self._router_w(ff + "mlp.router.classifier.bias")
                                 if cfg.router_bias else None)
                b["experts"] = [self._ff_weights(ff + f"mlp.experts.expert_{e}.")
                                for e in range(cfg.num_experts)]
            else:
                b["dense"] = self._ff_weights(ff + "mlp.")
            blocks.append(b)
        rel = self._w(f"{prefix}.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
        final = self._w(f"{prefix}.final_layer_norm.weight")
        return {"blocks": blocks, "rel_bias": rel, "final_ln": final, "decoder": is_decoder}

    def _ff_weights(self, p):
        if self.cfg.ff_gated:
            return {"wi_0": self._w(p + "wi_0.weight"), "wi_1": self._w(p + "wi_1.weight"),
                    "wo": self._w(p + "wo.weight")}
        return {"wi": self._w(p + "wi.weight"), "wo": self._w(p + "wo.weight")}

    # building blocks -----------------------------------------------------------------------
    def rms_norm(self, x, w):
        var = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        y = x * torch.rsqrt(var + self.cfg.layer_norm_epsilon)
        if w.dtype in (torch.float16, torch.bfloat16):
            y = y.to(w.dtype)
        return w * y

    def ff(self, x, w):
        if "wi" in w:
            h = self.act(F.linear(x, w["wi"]))
        else:
            h = self.act(F.linear(x, w["wi_0"])) * F.linear(x, w["wi_1"])
        if h.dtype != w["wo"].dtype:
            h = h.to(w["wo"].dtype)
        return F.linear(h, w["wo"])

    def sparse_ff(self, x, b, record):
        cfg = self.cfg
        in_dtype = x.dtype
        logits = F.linear(x.to(torch.float32), b["router_w"], b["router_b"])
        probs = torch.softmax(logits, dim=-1, dtype=torch.float32).to(in_dtype)
        choice = F.one_hot(torch.argmax(probs, dim=-1), num_classes=cfg.num_experts)
        # a token is kept while its expert has seen at most expert_capacity tokens of the row
        seen = torch.cumsum(choice, dim=-2)
        choice = choice * (seen <= cfg.expert_capacity)
        prob_max = torch.max(probs, dim=-1).values.unsqueeze(-1)
        out = x.clone()
        for e, w in enumerate(b["experts"]):
            rows = choice[:, :, e].bool()
            out[rows] = self.ff(x[rows], w).to(out.dtype)
        if record is not None:
            record[b["name"]] = {
                "router_logits": logits,
                "expert_index": torch.argmax(choice, dim=-1),
                "kept": choice.sum(dim=-1),
                "router_prob_max": prob_max.squeeze(-1),
            }
        return prob_max * out

    def ff_layer(self, h, b, record):
        x = self.rms_norm(h, b["ln_ff"])
        y = self.sparse_ff(x, b, record) if b["sparse"] else self.ff(x, b["dense"])
        return h + y

    def _heads(self, t):
        bsz = t.shape[0]
        return t.view(bsz, -1, self.cfg.num_heads, self.cfg.d_kv).transpose(1, 2)

    def _attend(self, q, k, v, add, w_o):
        scores = torch.matmul(q, k.transpose(3, 2))
        if add is not None:
            scores = scores + add
        weights = torch.softmax(scores.float(), dim=-1).type_as(scores)
        ctx = torch.matmul(weights, v)
        bsz = ctx.shape[0]
        ctx = ctx.transpose(1, 2).contiguous().view(bsz, -1, self.cfg.num_heads * self.cfg.d_kv)
        return F.linear(ctx, w_o)

    def _buckets(self, rel, bidirectional):
        n = self.cfg.relative_attention_num_buckets
        max_dist = self.cfg.relative_attention_max_distance
        base = torch.zeros_like(rel)
        if bidirectional:
            n //= 2
            base = (rel > 0).to(torch.long) * n
            rel = rel.abs()
        else:
            rel = (-rel).clamp(min=0)
        exact = n // 2
        # log-spaced buckets beyond `exact`; the clamp only avoids log(0) on values the
        # `where` below discards anyway
        far = exact + (torch.log(rel.clamp(min=1).float() / exact)
                       / math.log(max_dist / exact) * (n - exact)).to(torch.long)
        far = far.clamp(max=n - 1)
        return base + torch.where(rel < exact, rel, far)

    def position_bias(self, stack, q_pos, k_len):
        """[1, heads, len(q_pos), k_len] bias from the stack's block-0 bucket table."""
        k_pos = torch.arange(k_len, dtype=torch.long)[None, :]
        buckets = self._buckets(k_pos - q_pos[:, None], bidirectional=not stack["decoder"])
        return F.embedding(buckets, stack["rel_bias"]).permute(2, 0, 1).unsqueeze(0)

    def mask_add(self, keep):
        """Turn a 0/1 keep tensor into the additive mask HF builds: (1 - m) * finfo.min."""
        keep = keep.to(self.dtype)
        return (1.0 - keep) * torch.finfo(self.dtype).min

    # encoder -------------------------------------------------------------------------------
    def encode(self, input_ids, attention_mask=None, record=None):
        st = self.encoder
        bsz, seq = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones(bsz, seq, dtype=torch.long)
        bias = self.position_bias(st, torch.arange(seq), seq)
        bias = bias + self.mask_add(attention_mask[:, None, None, :])
        h = F.embedding(input_ids, self.shared)
        for b in st["blocks"]:
            x = self.rms_norm(h, b["ln_self"])
            q = self._heads(F.linear(x, b["self_q"]))
            k = self._heads(F.linear(x, b["self_k"]))
            v = self._heads(F.linear(x, b["self_v"]))
            h = h + self._attend(q, k, v, bias, b["self_o"])
            h = self.ff_layer(h, b, record)
        return self.rms_norm(h, st["final_ln"])

    # decoder -------------------------------------------------------------------------------
    def start_decoding(self, enc_out, attention_mask=None):
        bsz, src = enc_out.shape[:2]
        if attention_mask is None:
            attention_mask = torch.ones(bsz, src, dtype=torch.long)
        return DecodeState(enc_out, self.mask_add(attention_mask[:, None, None, :]),
                           len(self.decoder["blocks"]))

    def decode(self, ids, state, record=None):
        """Run ids [B, T] through the decoder after state.pos cached positions; returns logits."""
        st = self.decoder
        bsz, t_len = ids.shape
        p0 = state.pos
        k_len = p0 + t_len
        q_pos = torch.arange(p0, k_len)
        bias = self.position_bias(st, q_pos, k_len)
        if t_len > 1:
            causal = (torch.arange(k_len)[None, :] <= q_pos[:, None])
            bias = bias + self.mask_add(causal[None, None, :, :])
        h = F.embedding(ids, self.shared)
        for i, b in enumerate(st["blocks"]):
            x = self.rms_norm(h, b["ln_self"])
            q = self._heads(F.linear(x, b["self_q"]))
            k = self._heads(F.linear(x, b["self_k"]))
            v = self._heads(F.linear(x, b["self_v"]))
            past = state.self_kv[i]
            if past is not None:
                k = torch.cat([past[0], k], dim=2)
                v = torch.cat([past[1], v], dim=2)
            state.self_kv[i] = (k, v)
            h = h + self._attend(q, k, v, bias, b["self_o"])

            x = self.rms_norm(h, b["ln_cross"])
            if state.cross_kv[i] is None:
                state.cross_kv[i] = (self._heads(F.linear(state.enc_out, b["cross_k"])),
                                     self._heads(F.linear(state.enc_out, b["cross_v"])))
            ck, cv = state.cross_kv[i]
            q = self._heads(F.linear(x, b["cross_q"]))
            h = h + self._attend(q, ck, cv, state.enc_mask_add, b["cross_o"])

            h = self.ff_layer(h, b, record)
        state.pos = k_len
        h = self.rms_norm(h, st["final_ln"])
        if self.cfg.tie_word_embeddings:
            h = h * (self.cfg.d_model ** -0.5)
        return F.linear(h, self.lm_head)

    def forward(self, input_ids, attention_mask, decoder_input_ids, record=None):
        """Teacher-forced pass: (encoder output, logits)."""
        enc = self.encode(input_ids, attention_mask, record)
        state = self.start_decoding(enc, attention_mask)
        return enc, self.decode(decoder_input_ids, state, record)

    def greedy(self, input_ids, attention_mask, max_new_tokens, stop_at_eos=True,
               enc_out=None, step_logits=None):
        """Greedy generation as HF's generate(): finished rows continue with pad."""
        cfg = self.cfg
        if enc_out is None:
            enc_out = self.encode(input_ids, attention_mask)
        state = self.start_decoding(enc_out, attention_mask)
        bsz = enc_out.shape[0]
        seqs = torch.full((bsz, 1), cfg.decoder_start_token_id, dtype=torch.long)
        alive = torch.ones(bsz, dtype=torch.long)
        eos = torch.tensor(cfg.eos_ids, dtype=torch.long)
        for _ in range(max_new_tokens):
            logits = self.decode(seqs[:, -1:], state)[:, -1, :]
            if step_logits is not None:
                step_logits.append(logits)
            nxt = torch.argmax(logits, dim=-1)
            if stop_at_eos and len(cfg.eos_ids):
                nxt = nxt * alive + cfg.pad_token_id * (1 - alive)
            seqs = torch.cat([seqs, nxt[:, None]], dim=1)
            if stop_at_eos and len(cfg.eos_ids):
                alive = alive * (~torch.isin(nxt, eos)).to(torch.long)
                if int(alive.max()) == 0:
                    break
        return seqs


def load_model(model_dir, dtype):
    cfg = load_config(model_dir)
    tensors = load_checkpoint_tensors(model_dir)
    return SwitchModel(cfg, tensors, dtype)


# --------------------------------------------------------------------------------------------
# --check
# --------------------------------------------------------------------------------------------

def _load_case_arrays(case_dir):
    mpath = os.path.join(case_dir, "manifest.json")
    if not os.path.isfile(mpath):
        raise LoadError(f"{mpath}: file not found")
    with open(mpath) as fh:
        manifest = json.load(fh)
    arrays = {}
    for a in manifest.get("arrays", []):
        path = os.path.join(case_dir, a["file"])
        dt = {"float32": "<f4", "int32": "<i4"}.get(a["dtype"])
        if dt is None:
            raise LoadError(f"{mpath}: array {a['name']} has unsupported dtype {a['dtype']}")
        if not os.path.isfile(path):
            raise LoadError(f"{path}: file not found (array {a['name']})")
        data = np.fromfile(path, dtype=dt)
        want = int(np.prod(a["shape"])) if a["shape"] else 1
        if data.size != want:
            raise LoadError(f"{path}: {data.size} elements, manifest shape {a['shape']} needs {want}")
        arrays[a["name"]] = {"data": data.reshape(a["shape"]), "meta": a}
    return manifest, arrays


def _compare(results, name, got, want, tol, exact=False, note=""):
    got = np.asarray(got)
    want = np.asarray(want)
    if got.shape != want.shape:
        line = f"{name} max_abs=inf FAIL (shape {list(got.shape)} vs expected {list(want.shape)})"
        results.append(False)
    else:
        if got.size == 0:
            err = 0.0
        else:
            err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        ok = (err == 0.0) if exact else (err <= tol)
        shown = f"{int(err)}" if exact else f"{err:.3g}"
        line = f"{name} max_abs={shown} {'PASS' if ok else 'FAIL'}"
        results.append(ok)
    print(line + (f" {note}" if note else ""), flush=True)


def _max_new_tokens(arrays):
    entry = arrays.get("generate_greedy")
    if entry is not None:
        m = re.search(r"max_new_tokens=(\d+)", entry["meta"].get("description", ""))
        if m:
            return int(m.group(1))
        return entry["data"].shape[1] - 1
    return 20


def check_case(case_dir, results):
    case = os.path.basename(os.path.normpath(case_dir))
    manifest, arrays = _load_case_arrays(case_dir)
    for need in ("input_ids", "attention_mask", "decoder_input_ids"):
        if need not in arrays:
            raise LoadError(f"{case_dir}/manifest.json: array {need!r} not recorded")
    t0 = time.perf_counter()
    model = load_model(case_dir, torch.float32)
    log(f"[{case}] loaded in {time.perf_counter() - t0:.3f} s")
    ids = torch.from_numpy(arrays["input_ids"]["data"].astype(np.int64))
    mask = torch.from_numpy(arrays["attention_mask"]["data"].astype(np.int64))
    dec_ids = torch.from_numpy(arrays["decoder_input_ids"]["data"].astype(np.int64))
    tag = f"{case}:"
    with torch.inference_mode():
        record = {}
        enc, logits = model.forward(ids, mask, dec_ids, record)
        for key, got in (("encoder_last_hidden_state", enc), ("logits", logits)):
            if key in arrays:
                _compare(results, tag + key, got.float().numpy(), arrays[key]["data"], FLOAT_TOL)
        for layer in sorted(record):
            for field in ("expert_index", "kept"):
                key = f"{layer}.{field}"
                if key in arrays:
                    _compare(results, tag + key, record[layer][field].numpy(),
                             arrays[key]["data"], 0, exact=True)
        ref = manifest.get("generate", {}).get("greedy")
        if ref is not None:
            steps = []
            n_new = _max_new_tokens(arrays)
            gen = model.greedy(ids, mask, n_new, stop_at_eos=True, step_logits=steps)
            _compare(results, tag + f"generate.greedy(max_new_tokens={n_new})",
                     gen.numpy(), np.array(ref), 0, exact=True)
            if "generate_greedy_step_logits" in arrays:
                want = arrays["generate_greedy_step_logits"]["data"]
                n = min(len(steps), want.shape[0])
                got = torch.stack(steps[:n]).float().numpy()
                _compare(results, tag + f"generate_greedy_step_logits[:{n}]", got, want[:n], FLOAT_TOL)
        if "bf16_compute.logits" in arrays:
            # HF itself run in bfloat16 on CPU: only a loose reference
            bmodel = load_model(case_dir, torch.bfloat16)
            benc, blogits = bmodel.forward(ids, mask, dec_ids)
            for key, got in (("bf16_compute.encoder_last_hidden_state", benc),
                             ("bf16_compute.logits", blogits)):
                if key in arrays:
                    _compare(results, tag + key, got.float().numpy(), arrays[key]["data"],
                             LOOSE_BF16_TOL,
                             note=f"(bf16 compute vs HF bf16 compute: loose bound {LOOSE_BF16_TOL:g}, "
                                  f"not {FLOAT_TOL:g})")


# --------------------------------------------------------------------------------------------
# --bench
# --------------------------------------------------------------------------------------------

def _timed(fn, runs):
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def bench(model_dir, dtype_name, threads, runs):
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    log(f"loading {model_dir} as {dtype_name} ...")
    t0 = time.perf_counter()
    model = load_model(model_dir, dtype)
    load_s = time.perf_counter() - t0
    log(f"load_s {load_s:.3f}")
    cfg = model.cfg
    gen = torch.Generator().manual_seed(1234)
    high = min(32000, cfg.vocab_size)

    def rand_ids(bsz, seq):
        return torch.randint(2, high, (bsz, seq), generator=gen, dtype=torch.long)

    out = {"impl": IMPL_NAME, "torch_version": torch.__version__, "dtype": dtype_name,
           "threads": threads, "load_s": round(load_s, 4)}
    with torch.inference_mode():
        for bsz in (1, 8):
            ids = rand_ids(bsz, 128)
            mask = torch.ones_like(ids)
            log(f"encoder {bsz}x128 ...")
            best, med = _timed(lambda: model.encode(ids, mask), runs)
            out[f"encoder_{bsz}x128_tok_s"] = round(bsz * 128 / best, 2)
            out[f"encoder_{bsz}x128_tok_s_median"] = round(bsz * 128 / med, 2)
            log(f"  best {bsz * 128 / best:.1f} tok/s, median {bsz * 128 / med:.1f} tok/s")

        prompt = rand_ids(1, 64)
        pmask = torch.ones_like(prompt)
        enc = model.encode(prompt, pmask)
        n_new = 32

        def decode_only():
            # the encoder output is reused; cross K/V are made by the first step, as in HF
            model.greedy(prompt, pmask, n_new, stop_at_eos=False, enc_out=enc)

        log(f"decode 64-token prompt, {n_new} forced steps ...")
        best, med = _timed(decode_only, runs)
        out["decode_ms_per_token"] = round(best / n_new * 1000.0, 3)
        out["decode_ms_per_token_median"] = round(med / n_new * 1000.0, 3)
        log(f"  best {best / n_new * 1000:.2f} ms/token, median {med / n_new * 1000:.2f} ms/token")
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


# --------------------------------------------------------------------------------------------
# --train-bench
# --------------------------------------------------------------------------------------------

def cpu_model_name():
    """lscpu's "Model name": the first "model name" line of /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _router_losses(record, cfg, bsz):
    """HF 4.41's router z-loss and load-balancing loss of one stack's sparse blocks."""
    if not record:
        return 0.0, 0.0
    logits = torch.cat([r["router_logits"] for r in record.values()], dim=1)  # [B, n*L, E]
    index = torch.cat([r["expert_index"] for r in record.values()], dim=1)
    z = (torch.logsumexp(logits, dim=-1) ** 2).sum() / (bsz * logits.shape[1])
    probs = torch.softmax(logits, dim=-1)
    frac = F.one_hot(index, cfg.num_experts).float().mean(dim=1)  # [B, E], a constant
    aux = torch.mean(frac * probs.mean(dim=1)) * cfg.num_experts ** 2
    return z, aux


def train_bench(model_dir, dtype_name, threads, runs, bsz, src, tgt):
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    log(f"loading {model_dir} as {dtype_name} ...")
    model = load_model(model_dir, dtype)
    cfg = model.cfg
    # every weight the forward reads becomes a trainable leaf (tied ones once)
    params, seen = [], set()

    def leaf(t):
        if id(t) not in seen:
            seen.add(id(t))
            t.requires_grad_(True)
            params.append(t)

    leaf(model.shared)
    leaf(model.lm_head)
    for st in (model.encoder, model.decoder):
        leaf(st["rel_bias"])
        leaf(st["final_ln"])
        for b in st["blocks"]:
            for k, v in b.items():
                if isinstance(v, torch.Tensor):
                    leaf(v)
                elif k == "dense":
                    for w in v.values():
                        leaf(w)
                elif k == "experts":
                    for ex in v:
                        for w in ex.values():
                            leaf(w)
    n_params = sum(p.numel() for p in params)
    log(f"{n_params} parameters")
    opt = torch.optim.AdamW(params, lr=1e-5)
    gen = torch.Generator().manual_seed(1234)
    high = min(32000, cfg.vocab_size)
    ids = torch.randint(2, high, (bsz, src), generator=gen, dtype=torch.long)
    labels = torch.randint(2, high, (bsz, tgt), generator=gen, dtype=torch.long)
    mask = torch.ones_like(ids)
    dec_in = torch.cat([torch.full((bsz, 1), cfg.decoder_start_token_id, dtype=torch.long),
                        labels[:, :-1]], dim=1)

    def step():
        enc_rec, dec_rec = {}, {}
        enc = model.encode(ids, mask, enc_rec)
        state = model.start_decoding(enc, mask)
        logits = model.decode(dec_in, state, dec_rec)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1))
        for rec in (enc_rec, dec_rec):
            z, aux = _router_losses(rec, cfg, bsz)
            loss = loss + cfg.router_z_loss_coef * z + cfg.router_aux_loss_coef * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)

    log("warm-up step ...")
    step()
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
        log(f"  step {i}: {times[-1]:.2f} s, loss {loss:.4f}")
    step_s = sum(times) / len(times)
    return {"bench": "train", "impl": "pytorch " + torch.__version__, "cpu": cpu_model_name(),
            "threads": threads, "model": os.path.basename(os.path.normpath(model_dir)),
            "batch": bsz, "src_len": src, "tgt_len": tgt,
            "tokens_per_s": round(bsz * (src + tgt) / step_s, 1), "step_s": round(step_s, 3),
            "step_s_median": round(statistics.median(times), 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0),
            "dtype": dtype_name, "optimizer": "adamw", "steps": runs, "warmup": 1,
            "loss": round(loss, 4), "trainable": n_params}


# --------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        description="PyTorch re-implementation of transformers 4.41.2's Switch Transformers "
                    "forward (not HF itself): fixture checks and a timing baseline for switchc.")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", nargs="+", metavar="CASE_DIR",
                      help="compare with the recorded arrays of fixture case(s), e.g. "
                           "tests/fixtures/models/t5vocab_e4_step2; exit 1 on any FAIL")
    mode.add_argument("--bench", metavar="MODEL_DIR",
                      help="time load, encoder 1x128 / 8x128, greedy decode; print one JSON object")
    mode.add_argument("--train-bench", metavar="MODEL_DIR",
                      help="time training steps (forward, backward, AdamW); print one JSON line")
    ap.add_argument("--dtype", choices=("f32", "bf16"), default="f32",
                    help="compute dtype for --bench (weights and activations; router stays float32)")
    ap.add_argument("--threads", type=int, default=2, help="torch/BLAS threads (default 2)")
    ap.add_argument("--runs", type=int, default=3,
                    help="timed runs per measurement after one warm-up (default 3)")
    ap.add_argument("--batch", type=int, default=8, help="--train-bench: sequences (default 8)")
    ap.add_argument("--src", type=int, default=128, help="--train-bench: source length (128)")
    ap.add_argument("--tgt", type=int, default=32, help="--train-bench: target length (32)")
    ap.add_argument("--record", metavar="FILE", help="--train-bench: append the JSON line to FILE")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.runs < 1:
        ap.error("--threads and --runs must be at least 1")

    _import_numeric(args.threads)
    try:
        if args.check:
            results = []
            for case_dir in args.check:
                check_case(case_dir, results)
            failed = results.count(False)
            log(f"{len(results) - failed} PASS, {failed} FAIL")
            return 1 if failed else 0
        if args.train_bench:
            line = json.dumps(train_bench(args.train_bench, args.dtype, args.threads, args.runs,
                                          args.batch, args.src, args.tgt))
            print(line, flush=True)
            if args.record:
                with open(args.record, "a") as fh:
                    fh.write(line + "\n")
            return 0
        print(json.dumps(bench(args.bench, args.dtype, args.threads, args.runs)), flush=True)
        return 0
    except LoadError as exc:
        log(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
