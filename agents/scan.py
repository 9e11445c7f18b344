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

Every scan computes in float32 (float64 if given), whatever autocast hands in (`in_scan_precision`),
and every scan's autograd Function has a vmap rule that folds the vmapped dimension (several
models, e.g. seeds) into the batch (`vmap_over_batch`), in the forward and the backward pass.
"""

import functools
import math

import torch


def log_space_scan(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Reference scan in log space. log_a, log_b (B, T, D); h0 (B, D) >= 0 -> h (B, T, D)."""
    a_star = torch.cumsum(log_a, dim=1)  # (B, T, D)
    log_h0 = torch.log(h0).unsqueeze(1)  # (B, 1, D); log(0) = -inf is a valid start
    # h_t = prod(a_1..a_t) * h0 + sum_s prod(a_{s+1}..a_t) * b_s, all terms positive.
    from_inputs = torch.logcumsumexp(log_b - a_star, dim=1)
    return torch.exp(a_star + torch.logaddexp(log_h0, from_inputs))


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


def in_scan_precision(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors in the dtype scans compute in: float32, or float64 if any is float64.
    Under autocast a Linear hands in bf16 or fp16, which rounds every gate above 1 - 2^-9 to
    1.0: a slow decay then never decays (with gates z = 3e-4, states 58% off at T = 3000)."""
    dtype = functools.reduce(torch.promote_types, (t.dtype for t in tensors), torch.float32)
    return tuple(t.to(dtype) for t in tensors)


def expand_rows(parameter: torch.Tensor, batch: int, channel_minor: bool) -> torch.Tensor:
    """A (d_inner, k) `parameter` expanded along the batch, (batch, d_inner, k), for a node that
    treats rows alike. With `channel_minor`, as the transposed view of a (batch, k, d_inner)
    expansion: autograd then sums a channel-minor gradient over the batch (as the compiled
    kernels write it) in memory order, several times faster than across its strides."""
    if channel_minor:
        return parameter.t().expand(batch, *parameter.t().shape).transpose(1, 2)
    return parameter.expand(batch, *parameter.shape)


def vmap_over_batch(function, info, in_dims, *inputs):
    """A `vmap` rule for scans, which treat every batch row alike: fold the vmapped dimension
    into the batch, apply once, unfold. Tensors that are not vmapped are expanded; other inputs
    (a kernel's name) pass as they are."""
    folded = []
    for tensor, dim in zip(inputs, in_dims, strict=True):
        if not isinstance(tensor, torch.Tensor):
            folded.append(tensor)
            continue
        if dim is None:
            tensor = tensor.expand(info.batch_size, *tensor.shape)
        else:
            tensor = tensor.movedim(dim, 0)
        folded.append(tensor.flatten(0, 1))  # (N, B, ...) -> (N * B, ...)
    outputs = function.apply(*folded)
    if isinstance(outputs, torch.Tensor):
        return outputs.unflatten(0, (info.batch_size, -1)), 0  # (N * B, ...) -> (N, B, ...)
    return tuple(output.unflatten(0, (info.batch_size, -1)) for output in outputs), 0


class RowwiseFunction(torch.autograd.Function):
    """An autograd node that treats every batch row alike, so that its vmap rule folds the
    vmapped dimension into the batch (`vmap_over_batch`): members (several seeds) run as one
    batch."""

    @classmethod
    def vmap(cls, info, in_dims, *inputs):
        return vmap_over_batch(cls, info, in_dims, *inputs)


class GradientFunction(RowwiseFunction):
    """A backward pass as a node of its own: under vmap(grad(...)) it runs on plain tensors, which
    it may write into, and its vmap rule folds the members into the batch there too."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass  # never differentiated


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


class _LinearScan(RowwiseFunction):
    @staticmethod
    def forward(a, b, h0):
        return scan_forward(a, b, h0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, _, h0 = inputs
        ctx.save_for_backward(a, h0, output)

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
