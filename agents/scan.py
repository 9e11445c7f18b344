"""Parallel scans for the first-order linear recurrence h_t = a_t * h_{t-1} + b_t.

minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?") reduce to this recurrence with
gates a_t in (0, 1) and inputs b_t > 0. Two ways to scan it:

- `log_space_scan`: the paper's reference (Appendix B, `parallel_scan_log`): h_t =
  exp(a*_t + logcumsumexp(log b_t - a*_t)) with a*_t = cumsum(log a_t). Exact and stable, but
  transcendental functions on every element make it slow on CPU.
- `linear_scan`: the same recurrence in linear space, chunked. Within chunks of C steps a short
  loop runs over all chunks at once; a second loop of T / C steps carries the state across
  chunks. Only products of gates in (0, 1) and sums appear, so nothing overflows, and the result
  equals the sequential recurrence up to float rounding. About 2 * sqrt(T) vectorised steps.
  Its backward pass is the same scan run in reverse (`_LinearScan`), so training memory stays
  linear in T (autograd would otherwise keep every loop iteration's tensors).
"""

import math

import torch
import torch.nn.functional as F


def log_space_scan(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Reference scan in log space. log_a, log_b (B, T, D); h0 (B, D) >= 0 -> h (B, T, D)."""
    a_star = torch.cumsum(log_a, dim=1)  # (B, T, D)
    log_h0 = torch.log(h0).unsqueeze(1)  # (B, 1, D); log(0) = -inf is a valid start
    # h_t = prod(a_1..a_t) * h0 + sum_s prod(a_{s+1}..a_t) * b_s, all terms positive.
    from_inputs = torch.logcumsumexp(log_b - a_star, dim=1)
    return torch.exp(a_star + torch.logaddexp(log_h0, from_inputs))


def _chunk_size(length: int) -> int:
    return max(1, math.isqrt(length))


def _scan_forward(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Chunked linear-space scan without autograd. a, b (B, T, D); h0 (B, D) -> h (B, T, D)."""
    B, T, D = a.shape
    C = _chunk_size(T)
    n_chunks = -(-T // C)
    pad = n_chunks * C - T
    # Padding with a = 1, b = 0 leaves the carried state unchanged.
    a = F.pad(a, (0, 0, 0, pad), value=1.0).view(B, n_chunks, C, D)  # (B, n, C, D)
    b = F.pad(b, (0, 0, 0, pad), value=0.0).view(B, n_chunks, C, D)  # (B, n, C, D)

    # Within every chunk at once: local states from a zero start, and cumulative gate products.
    local = torch.empty_like(b)
    decay = torch.empty_like(a)
    local[:, :, 0], decay[:, :, 0] = b[:, :, 0], a[:, :, 0]
    for c in range(1, C):
        torch.addcmul(b[:, :, c], a[:, :, c], local[:, :, c - 1], out=local[:, :, c])
        torch.mul(a[:, :, c], decay[:, :, c - 1], out=decay[:, :, c])

    # Across chunks: the state entering each chunk.
    carry_in = torch.empty(B, n_chunks, D, dtype=a.dtype, device=a.device)  # (B, n, D)
    carry = h0
    for k in range(n_chunks):
        carry_in[:, k] = carry
        carry = torch.addcmul(local[:, k, -1], decay[:, k, -1], carry)

    h = torch.addcmul(local, decay, carry_in.unsqueeze(2))  # (B, n, C, D)
    return h.view(B, n_chunks * C, D)[:, :T]


class _LinearScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, h0):
        h = _scan_forward(a, b, h0)
        ctx.save_for_backward(a, h0, h)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        a, h0, h = ctx.saved_tensors
        # g_t = dL/dh_t + a_{t+1} g_{t+1}: the same recurrence, reversed in time.
        a_next = torch.cat([a[:, 1:], torch.zeros_like(a[:, :1])], dim=1)  # (B, T, D)
        g = _scan_forward(a_next.flip(1), grad_h.flip(1), torch.zeros_like(h0)).flip(1)  # (B, T, D)
        h_prev = torch.cat([h0.unsqueeze(1), h[:, :-1]], dim=1)  # (B, T, D)
        return g * h_prev, g, a[:, 0] * g[:, 0]


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + b_t for t = 1..T. a, b (B, T, D); h0 (B, D) -> h (B, T, D)."""
    return _LinearScan.apply(a, b, h0)
