"""GPT-style causal self-attention over a sliding window, with a ring-buffer KV cache.

Attention(Q, K, V) = softmax(Q K^T / sqrt(d_head)) V (Vaswani et al. 2017, Eq. 1), each position
attending to itself and the `window - 1` positions before it. The window makes `step` exact at
any sequence length with constant memory: the cache holds the last `window` keys and values in a
ring. There is no positional encoding inside (as in Decision Transformer, positions come from
the decision model's timestep embedding), so the order of keys in the ring does not matter.

A recurrent rollout with this cache is not Decision Transformer's evaluation: DT re-reads the
last K steps at every step (the decision model's "windowed" mode), so every token is embedded
and attended afresh, while the cache keeps keys and values computed when each token arrived.
Both agree for the first K steps and drift apart after (by up to ~0.3 in the actions of a
trained Hopper model); the windowed mode is the one that reproduces DT's `get_action`.
"""

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from infra.errors import ConfigError

from .stack import BackboneConfig, Mixer

# The span of a transformer built alone: Decision Transformer's 20 steps x 3 tokens.
DEFAULT_WINDOW = 60


class WindowedSelfAttention(Mixer):
    def __init__(self, d_model: int, n_heads: int, window: int):
        super().__init__()
        self.n_heads, self.window = n_heads, window
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def _attend(self, q, k, v, mask=None) -> torch.Tensor:
        """q (B, T, D), k and v (B, S, D), mask (B, T, S) or None for plain causal -> (B, T, D)."""
        B, T, D = q.shape
        heads = [t.view(B, t.shape[1], self.n_heads, -1).transpose(1, 2) for t in (q, k, v)]
        # heads: (B, H, T or S, D / H)
        attn_mask = None if mask is None else mask.unsqueeze(1)  # (B, 1, T, S)
        y = F.scaled_dot_product_attention(*heads, attn_mask=attn_mask, is_causal=mask is None)
        return self.out(y.transpose(1, 2).reshape(B, T, D))  # (B, H, T, D/H) -> (B, T, D)

    def initial_state(self, batch_size: int):
        weight = self.qkv.weight
        cache = torch.zeros(
            batch_size, self.window, weight.shape[1], device=weight.device, dtype=weight.dtype
        )
        length = torch.zeros(batch_size, dtype=torch.long, device=weight.device)
        return cache, cache.clone(), length  # keys, values, tokens seen so far

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)
        if T <= self.window:  # the window does not bind: plain causal attention (flash kernels)
            return self._attend(q, k, v)
        position = torch.arange(T, device=x.device)
        age = position[:, None] - position[None, :]  # (T, T): query minus key position
        return self._attend(q, k, v, ((age >= 0) & (age < self.window)).expand(B, T, T))

    def forward_chunk(self, x: torch.Tensor, state):
        B, T, D = x.shape
        cached_keys, cached_values, length = state
        q, k, v = self.qkv(x).split(D, dim=-1)  # (B, T, D) each
        # Under autocast the projections come out in bf16; the cache keeps the weights' dtype.
        k, v = k.to(cached_keys.dtype), v.to(cached_values.dtype)

        # Absolute position of the token in each ring slot:
        # the latest i < length with i % window == slot.
        slot = torch.arange(self.window, device=x.device)
        seen = length[:, None]  # (B, 1)
        slot_position = seen - 1 - (seen - 1 - slot).remainder(self.window)  # (B, window)
        query_position = seen + torch.arange(T, device=x.device)  # (B, T)
        key_position = torch.cat([slot_position, query_position], dim=1)  # (B, window + T)
        key_valid = torch.cat(
            [slot < seen, torch.ones_like(query_position, dtype=torch.bool)], dim=1
        )
        age = query_position[:, :, None] - key_position[:, None, :]  # (B, T, window + T)
        mask = key_valid[:, None, :] & (age >= 0) & (age < self.window)
        y = self._attend(q, torch.cat([cached_keys, k], 1), torch.cat([cached_values, v], 1), mask)

        # Write the chunk's last `window` tokens into their ring slots.
        kept = min(T, self.window)
        index = query_position[:, T - kept :].remainder(self.window)  # (B, kept)
        index = index.unsqueeze(-1).expand(B, kept, D)  # (B, kept, D)
        keys = cached_keys.scatter(1, index, k[:, T - kept :])
        values = cached_values.scatter(1, index, v[:, T - kept :])
        return y, (keys, values, length + T)

    def step(self, x_t: torch.Tensor, state):
        y, state = self.forward_chunk(x_t.unsqueeze(1), state)  # a chunk of one: (B, 1, D)
        return y.squeeze(1), state


@dataclass(frozen=True)
class TransformerConfig(BackboneConfig):
    n_heads: int = 1
    """Attention heads (Decision Transformer used 1)."""
    window: int | None = None
    """Attention span in tokens and the KV cache's size. Default: the decision model's training
    window (context length x tokens per step, 60 for DT's 20 steps x 3 tokens); 60 alone."""

    def __post_init__(self):
        super().__post_init__()
        if self.n_heads <= 0 or self.d_model % self.n_heads:
            raise ConfigError(
                f"n_heads ({self.n_heads}) must be positive and divide d_model ({self.d_model})"
            )
        if self.window is not None and self.window <= 0:
            raise ConfigError(f"window must be positive, got {self.window}")

    def fitted_to_context(self, tokens: int) -> "TransformerConfig":
        return self if self.window is not None else dataclasses.replace(self, window=tokens)

    def make_mixer(self) -> Mixer:
        window = DEFAULT_WINDOW if self.window is None else self.window
        return WindowedSelfAttention(self.d_model, self.n_heads, window)
