"""Aaren (Feng et al. 2024, "Attention as an RNN"): softmax attention of a learned query over
the tokens seen so far, computed as a many-to-many RNN.

For one head with scores s_i = q . k_i / sqrt(d), the output at t is
    o_t = sum_{i<=t} exp(s_i) v_i / sum_{i<=t} exp(s_i)                         (Sec. 3.1)
carried as (m_t, u_t, w_t) (the paper's m_k, c_k, a_k), with the running max
m_t = max(m_{t-1}, s_t) (Sec. 3.1):
    u_t = u_{t-1} exp(m_{t-1} - m_t) + exp(s_t - m_t)
    w_t = w_{t-1} exp(m_{t-1} - m_t) + v_t exp(s_t - m_t),     o_t = w_t / u_t
In parallel over T this is the linear recurrence h_t = a_t h_{t-1} + b_t with
a_t = exp(m_{t-1} - m_t) and b_t = exp(s_t - m_t) (1, v_t), both <= 1, so scores of any range
neither overflow nor vanish. The chunked linear scan stands in for the paper's associative
prefix scan over (m, u, w) (Sec. 3.2); the query q is a learned token per head (Sec. 3.3).
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from infra.errors import ConfigError

from .kernels.linear_scan import linear_scan
from .stack import BackboneConfig, Mixer, step_by_step


class Aaren(Mixer):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.query = nn.Parameter(torch.randn(n_heads, self.d_head) * 0.02)  # (H, d_head)
        self.query.no_weight_decay = True  # a learned token, like an embedding
        # No key bias: it would shift all of a head's scores equally, which softmax ignores.
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def _scores_and_values(self, x: torch.Tensor):
        """x (..., D) -> scores s (..., H) and values v (..., H, d_head), in the query's dtype
        (fp32 under autocast: the recurrence accumulates in fp32)."""
        keys = self.key(x).unflatten(-1, (self.n_heads, self.d_head))  # (..., H, d_head)
        values = self.value(x).unflatten(-1, (self.n_heads, self.d_head))  # (..., H, d_head)
        scores = (keys.to(self.query.dtype) * self.query).sum(-1) / math.sqrt(self.d_head)
        return scores, values.to(self.query.dtype)

    def _output(self, heads: torch.Tensor) -> torch.Tensor:
        """The heads' outputs o = w / u (..., H, d_head), merged and projected -> (..., D)."""
        return self.out(heads.flatten(-2))  # (..., H, d_head) -> (..., H d_head)

    def initial_state(self, batch_size: int):
        query = self.query  # (H, d_head)
        m = query.new_full((batch_size, self.n_heads), -math.inf)  # no score seen yet
        u = query.new_zeros(batch_size, self.n_heads)
        return m, u, query.new_zeros(batch_size, *query.shape)  # w: (B, H, d_head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_chunk(x, self.initial_state(x.shape[0]))[0]

    def forward_chunk(self, x: torch.Tensor, state):
        B, T, D = x.shape
        m0, u0, w0 = state  # (B, H), (B, H), (B, H, d_head)
        s, v = self._scores_and_values(x)  # (B, T, H), (B, T, H, d_head)
        # m only rescales u and w alike, so o does not depend on it: no gradient flows through it.
        m = torch.maximum(torch.cummax(s.detach(), dim=1).values, m0.unsqueeze(1))  # m_t: (B, T, H)
        m_before = torch.cat([m0.unsqueeze(1), m[:, :-1]], dim=1)  # m_{t-1}: (B, T, H)
        a = torch.exp(m_before - m).unsqueeze(-1)  # (B, T, H, 1)
        v_and_one = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)  # (B, T, H, d_head + 1)
        b = torch.exp(s - m).unsqueeze(-1) * v_and_one  # (B, T, H, d_head + 1)
        h0 = torch.cat([w0, u0.unsqueeze(-1)], dim=-1)  # (B, H, d_head + 1)
        # (w_t, u_t) = a_t (w_{t-1}, u_{t-1}) + b_t (Sec. 3.1), all t at once
        h = linear_scan(a.expand_as(b).flatten(2), b.flatten(2), h0.flatten(1))  # (B, T, H(d+1))
        h = h.unflatten(-1, (self.n_heads, self.d_head + 1))  # (B, T, H, d_head + 1)
        w, u = h[..., :-1], h[..., -1]  # (B, T, H, d_head), (B, T, H)
        return self._output(w / u.unsqueeze(-1)), (m[:, -1], u[:, -1], w[:, -1])

    def _absorb(self, s: torch.Tensor, v: torch.Tensor, state):
        """One token's scores s (B, H) and values v (B, H, d_head) into the state: the heads'
        outputs w / u (B, H, d_head) and the state."""
        m, u, w = state
        m_new = torch.maximum(m, s.detach())
        decay, weight = torch.exp(m - m_new), torch.exp(s - m_new)  # (B, H) each
        u = decay * u + weight  # Sec. 3.1's recurrence, one token
        w = decay.unsqueeze(-1) * w + weight.unsqueeze(-1) * v
        return w / u.unsqueeze(-1), (m_new, u, w)

    def step(self, x_t: torch.Tensor, state):
        heads, state = self._absorb(*self._scores_and_values(x_t), state)
        return self._output(heads), state

    def steps(self, x: torch.Tensor, state, skip_first: torch.Tensor):
        # Keys, values and the output projection once for all positions.
        s, v = self._scores_and_values(x)  # (B, T, H), (B, T, H, d_head)
        heads, state = step_by_step(self._absorb, (s, v), state, skip_first)
        return self._output(heads), state  # heads: (B, T, H, d_head)


@dataclass(frozen=True)
class AarenConfig(BackboneConfig):
    n_heads: int = 1
    """Heads, each with its own learned query (Decision Transformer's attention used 1)."""

    def __post_init__(self):
        super().__post_init__()
        if self.n_heads <= 0 or self.d_model % self.n_heads:
            raise ConfigError(
                f"n_heads ({self.n_heads}) must be positive and divide d_model ({self.d_model})"
            )

    def make_mixer(self) -> Mixer:
        return Aaren(self.d_model, self.n_heads)
