"""The first-order linear recurrence h_t = a_t * h_{t-1} + b_t, scanned in linear space, chunked.

minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?") reduce to this recurrence with
gates a_t in (0, 1) and inputs b_t > 0, and so do Aaren's running sums and Mamba's reference scan.
Within chunks of C steps a short loop runs over all chunks at once; a second loop of T / C steps
carries the state across chunks. Only products of gates in (0, 1) and sums appear, so nothing
overflows, and the result equals the sequential recurrence up to float rounding. About
2 * sqrt(T) vectorised steps. Its backward pass is the same scan run in reverse (`_LinearScan`),
so training memory stays linear in T (autograd would otherwise keep every loop iteration's
tensors). The paper's log-space form is reference.py.
"""

import math

import torch

from ..autograd import GradientFunction, RowwiseFunction
from ..precision import in_scan_precision


def _chunk_size(length: int) -> int:
    return max(1, math.isqrt(length))


def scan_in_place(a, b, h0, reverse: bool = False) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t (reverse: h_t = a_t h_{t+1} + b_t), written over b and returned.
    a, b (B, T, D), views along T welcome; h0 (B, D) is the state before the first step taken
    (reverse: after the last position). a is overwritten too (with products of gates). Working
    in place spares two (B, T, D) allocations, which on CPU cost as much as the arithmetic."""
    B, T, D = a.shape
    C = _chunk_size(T)
    n_chunks = T // C
    # Whole chunks run in parallel; the < C leftover steps run one by one after them, so nothing
    # is padded. Reverse: the chunks sit at the end and the leftover steps at the start.
    chunked = slice(T - n_chunks * C, T) if reverse else slice(0, n_chunks * C)
    decay = a[:, chunked].unflatten(1, (n_chunks, C))  # (B, n, C, D): gates, then products
    local = b[:, chunked].unflatten(1, (n_chunks, C))  # (B, n, C, D): inputs, then states

    # Within every chunk at once: states from a zero start, and cumulative gate products.
    first, *rest = range(C - 1, -1, -1) if reverse else range(C)
    previous = first
    for c in rest:
        local[:, :, c].addcmul_(decay[:, :, c], local[:, :, previous])
        decay[:, :, c].mul_(decay[:, :, previous])
        previous = c

    # Across chunks: the state entering each chunk, then every state from it in one pass.
    carry_in = torch.empty(B, n_chunks, D, dtype=a.dtype, device=a.device)  # (B, n, D)
    carry = h0
    for k in range(n_chunks - 1, -1, -1) if reverse else range(n_chunks):
        carry_in[:, k] = carry
        carry = torch.addcmul(local[:, k, previous], decay[:, k, previous], carry)
    local.addcmul_(decay, carry_in.unsqueeze(2))

    for t in range(T - n_chunks * C - 1, -1, -1) if reverse else range(n_chunks * C, T):
        carry = b[:, t].addcmul_(a[:, t], carry)
    return b


def scan_forward(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """The chunked scan without autograd, inputs kept. a, b (B, T, D); h0 (B, D) -> h."""
    return scan_in_place(a.clone(), b.clone(), h0)


class _ScanGradient(GradientFunction):
    @staticmethod
    def forward(a, grad_h):
        g = grad_h.clone(memory_format=torch.contiguous_format)  # h.sum() hands in stride 0
        scan_in_place(a[:, 1:], g[:, :-1], g[:, -1], reverse=True)
        return g


def scan_gradient(a: torch.Tensor, grad_h: torch.Tensor) -> torch.Tensor:
    """dL/db (B, T, D) from dL/dh: g_t = dL/dh_t + a_{t+1} g_{t+1}, the same recurrence
    reversed in time. dL/da_t = g_t h_{t-1} and dL/dh0 = a_1 g_1 follow from it.
    a is overwritten after its first step (pass a copy to keep it)."""
    return _ScanGradient.apply(a, grad_h)


class ScanNode(RowwiseFunction):
    """A scan's node over (gates, inputs, h0): saves the gates, h0 and the states h, from which
    the backward's reverse scan gives every gradient."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        gates, _, h0 = inputs
        ctx.save_for_backward(gates, h0, output)


class _LinearScan(ScanNode):
    @staticmethod
    def forward(a, b, h0):
        return scan_forward(a, b, h0)

    @staticmethod
    def backward(ctx, grad_h):
        a, h0, h = ctx.saved_tensors
        g = scan_gradient(a.clone(), grad_h)
        h_before = torch.cat([h0.unsqueeze(1), h[:, :-1]], dim=1)  # h_{t-1} (B, T, D)
        return g * h_before, g, a[:, 0] * g[:, 0]


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + b_t for t = 1..T. a, b (B, T, D); h0 (B, D) -> h (B, T, D),
    computed in float32 (float64 if given) and returned in h0's dtype."""
    h = _LinearScan.apply(*in_scan_precision(a, b, h0))
    return h.to(h0.dtype)
