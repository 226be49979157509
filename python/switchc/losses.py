"""HF transformers' module-level router losses of Switch Transformers
(router_z_loss_func, load_balancing_loss_func) in numpy, for users who
compute them from the router outputs themselves. They give HF's numbers:
the same formulas, accumulated in float64 and returned as float32 scalars
(HF computes in the logits' float32)."""

import numpy as np


def _floats(x, name, ndim):
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must hold floats, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    return a.astype(np.float64)


def router_z_loss_func(router_logits):
    """Mean over groups and tokens of logsumexp(router_logits)^2, logits
    [groups, tokens, experts] (HF: router_z_loss_func)."""
    x = _floats(router_logits, "router_logits", 3)
    g, t, _ = x.shape
    m = x.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(x - m).sum(axis=-1)) + m[..., 0]
    return np.float32(np.sum(lse ** 2) / (g * t))


def load_balancing_loss_func(router_probs, expert_indices):
    """Switch Transformer's auxiliary load-balancing loss (HF:
    load_balancing_loss_func): router_probs [groups, tokens, experts],
    expert_indices [groups, tokens] (or [groups, tokens, k]) of the chosen
    experts. E^2 * mean over (group, expert) of (fraction of tokens routed
    to the expert) x (mean probability of the expert)."""
    probs = _floats(router_probs, "router_probs", 3)
    idx = np.asarray(expert_indices)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"expert_indices must hold integers, got {idx.dtype}")
    E = probs.shape[-1]
    if idx.ndim == 2:
        idx = idx[..., None]
    if idx.ndim != 3 or idx.shape[:2] != probs.shape[:2]:
        raise ValueError(f"expert_indices has shape {np.shape(expert_indices)}, router_probs {probs.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= E):
        raise ValueError(f"expert_indices must lie in [0, {E})")
    # one-hot over experts, then "routed to e by any of its k choices"
    mask = (idx[..., None] == np.arange(E)).any(axis=-2).astype(np.float64)
    tokens_per_group_and_expert = mask.mean(axis=-2)
    prob_per_group_and_expert = probs.mean(axis=-2)
    return np.float32(np.mean(tokens_per_group_and_expert * prob_per_group_and_expert) * E * E)
