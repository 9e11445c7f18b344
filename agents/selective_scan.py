"""Mamba's selective scan (Gu & Dao 2023, Alg. 2 lines 4-6 and the output of Fig. 3), fused into
one autograd node that never holds a (B, T, d_inner, N) tensor:

    Delta = softplus(delta)                                   (Alg. 2, line 4)
    h_t = exp(Delta_t A) * h_{t-1} + Delta_t x_t B_t          (Eq. 2a with Eq. 4's A_bar)
    out_t = (C_t . h_t + D * x_t) * SiLU(z_t)                 (Eq. 2b, then the gate of Fig. 3)

with x, delta, z (B, T, d_inner), B, C (B, T, N), A (B, d_inner, N), D (B, d_inner) and the
state h (B, d_inner, N) carried in and out; delta = dt_proj(dt_low) is computed inside the node
(`step_sizes`), so that it need not be saved. A and D come expanded along the batch, so that every
input is batch first and vmap folds members (several seeds) into the batch, each with its own A.

The work is split in two levels:
- `selective_scan` here: the (B, T, d_inner) arithmetic around the state (softplus, D, the gate
  and their gradients), the precision, and the autograd and vmap plumbing;
- the state kernels, a (forward, backward) pair: `scan_states` / `scan_states_backward` below in
  torch, or Triton's in selective_scan_triton.py (for CPU tensors, selective_scan_cpu.py's
  compiled kernels replace both levels). The forward saves only the states at segment
  boundaries; the backward recomputes each segment's states from its boundary and runs the
  reverse recurrence g_t = C_t dy_t + exp(Delta_{t+1} A) g_{t+1}, g_t = dL/dh_t.

In torch, the states are computed for a chunk of L steps at a time, (B, L, d_inner, N) of about
CHUNK_ELEMENTS numbers: on a CPU each pass over a chunk then stays in cache, while a pass over a
whole (B, T, d_inner, N) tensor runs at memory speed, several times slower. Everything computes
in float32 (float64 if given) whatever autocast hands in (`in_scan_precision`).
"""

import math
from functools import partial

import torch
import torch.nn.functional as F

from infra.errors import UsageError

from .scan import GradientFunction, RowwiseFunction, expand_rows, in_scan_precision
from .triton_support import require_triton_device

CHUNK_ELEMENTS = 1 << 20  # states per chunk: 4 MiB in float32
SEGMENT_STEPS = 64  # steps between saved states, at least: they cost 1/64 of all states
LOG2_E = 1 / math.log(2)  # exp(v) = exp2(v log2 e), and torch's exp2 is the faster on CPU


def chunk_and_segment(batch: int, d_inner: int, d_state: int) -> tuple[int, int]:
    """Steps per chunk L, and per segment K (a multiple of L) between saved states."""
    chunk = max(1, CHUNK_ELEMENTS // (batch * d_inner * d_state))
    return chunk, chunk * math.ceil(SEGMENT_STEPS / chunk)


def chunk_states(h, dt, dt_x, A_log2_e, B, gates, states) -> None:
    """Gates exp(Delta A) and states h_t of one chunk of L steps, from the state h (B, d_inner,
    N) before it, written into `gates` and `states` (L, B, d_inner, N). Time major: dt, dt_x
    (L, B, d_inner), B (L, B, N); A_log2_e = A log2(e) (B, d_inner, N)."""
    torch.mul(dt.unsqueeze(-1), A_log2_e, out=gates).exp2_()  # Eq. 4
    torch.mul(dt_x.unsqueeze(-1), B.unsqueeze(-2), out=states)  # B_bar x_t = Delta_t B_t x_t
    for t in range(len(states)):
        h = states[t].addcmul_(gates[t], h)  # Eq. 2a, over B_bar x


def contract_state(vectors, states, out) -> None:
    """out = sum_n vectors_n states_{:, n} per (step, row): vectors (L, B, N), states
    (L, B, d_inner, N), out (L, B, d_inner), time major. A row vector times a matrix per (step,
    row): the batched product that is fast on CPU for a small N."""
    L, B, d_inner, N = states.shape
    rows = vectors.reshape(L * B, 1, N)  # (L B, 1, N)
    products = torch.bmm(rows, states.view(L * B, d_inner, N).transpose(1, 2))  # (L B, 1, d)
    out.copy_(products.view(L, B, d_inner))


def contract_inner(vectors, states, out) -> None:
    """out = sum_d vectors_d states_{d, :}: vectors (L, B, d_inner), states (L, B, d_inner, N),
    out (L, B, N), time major."""
    L, B, d_inner, N = states.shape
    rows = vectors.reshape(L * B, 1, d_inner)  # (L B, 1, d_inner)
    out.copy_(torch.bmm(rows, states.view(L * B, d_inner, N)).view(L, B, N))


def steps_of(tensor: torch.Tensor, steps: slice) -> torch.Tensor:
    """The chunk `steps` of a (B, T, ...) tensor as a time-major (L, B, ...) view."""
    return tensor[:, steps].transpose(0, 1)


def chunk_buffers(count: int, steps: int, h: torch.Tensor) -> list[torch.Tensor]:
    """`count` buffers of a chunk of states (steps, B, d_inner, N), allocated once per call:
    on CPU a fresh multi-MiB tensor per chunk costs as much in page faults as the arithmetic."""
    return [h.new_empty(steps, *h.shape) for _ in range(count)]


def scan_states(dt, dt_x, A, B, C, h0):
    """y_t = C_t . h_t (B, T, d_inner), the final state (B, d_inner, N) and the states at the
    start of every segment (B, segments, d_inner, N), h0 first."""
    batch, T, d_inner = dt.shape
    chunk, segment = chunk_and_segment(batch, d_inner, A.shape[-1])
    y = torch.empty_like(dt)
    boundaries = dt.new_empty(batch, math.ceil(T / segment), *h0.shape[1:])
    gates, states = chunk_buffers(2, min(chunk, T), h0)
    h, A_log2_e = h0.clone(), A * LOG2_E
    for start in range(0, T, chunk):
        if start % segment == 0:
            boundaries[:, start // segment] = h
        steps = slice(start, start + chunk)
        L = len(range(T)[steps])
        chunk_inputs = (steps_of(dt, steps), steps_of(dt_x, steps), A_log2_e, steps_of(B, steps))
        chunk_states(h, *chunk_inputs, gates[:L], states[:L])
        contract_state(steps_of(C, steps), states[:L], out=steps_of(y, steps))  # Eq. 2b
        h.copy_(states[L - 1])
    return y, h, boundaries


def scan_states_backward(dt, dt_x, A, B, C, boundaries, grad_y, grad_h_last):
    """Gradients of `scan_states` from dL/dy (B, T, d_inner) and dL/dh_T: those of dt (through
    the gates only), dt_x, A (per row), B, C and h0, and y recomputed on the way."""
    batch, T, d_inner = dt.shape
    chunk, segment = chunk_and_segment(batch, d_inner, A.shape[-1])
    y, grad_dt, grad_dt_x = torch.empty_like(dt), torch.empty_like(dt), torch.empty_like(dt)
    grad_B, grad_C, grad_A = torch.empty_like(B), torch.empty_like(C), A.new_zeros(A.shape)
    gates, states, g, work = chunk_buffers(4, min(chunk, T), grad_h_last)
    h_before = chunk_buffers(1, math.ceil(min(segment, T) / chunk), grad_h_last)[0]
    A_log2_e = A * LOG2_E
    grad_h = grad_h_last  # dL/dh at the last step of the chunk at hand, from the steps after it
    for first in range(boundaries.shape[1] - 1, -1, -1):
        starts = range(first * segment, min(T, (first + 1) * segment), chunk)
        # The state before each chunk of the segment, walked from the saved one.
        h_before[0] = boundaries[:, first]
        for k, start in enumerate(starts[:-1]):
            steps = slice(start, start + chunk)
            chunk_inputs = (
                steps_of(dt, steps),
                steps_of(dt_x, steps),
                A_log2_e,
                steps_of(B, steps),
            )
            chunk_states(h_before[k], *chunk_inputs, gates, states)
            h_before[k + 1] = states[-1]
        for k in range(len(starts) - 1, -1, -1):
            steps = slice(starts[k], starts[k] + chunk)
            L, h = len(range(T)[steps]), h_before[k]
            dt_k, dt_x_k, B_k, C_k = (steps_of(t, steps) for t in (dt, dt_x, B, C))
            grad_y_k = steps_of(grad_y, steps)
            chunk_states(h, dt_k, dt_x_k, A_log2_e, B_k, gates[:L], states[:L])
            contract_state(C_k, states[:L], out=steps_of(y, steps))
            contract_inner(grad_y_k, states[:L], out=steps_of(grad_C, steps))  # dy/dC = h
            # g_t = C_t dy_t + exp(Delta_{t+1} A) g_{t+1}: Eq. 2a in reverse
            torch.mul(grad_y_k.unsqueeze(-1), C_k.unsqueeze(-2), out=g[:L])
            g[L - 1] += grad_h
            for t in range(L - 2, -1, -1):
                g[t].addcmul_(gates[t + 1], g[t + 1])
            grad_h = gates[0] * g[0]  # dL/dh before the chunk
            contract_state(B_k, g[:L], out=steps_of(grad_dt_x, steps))  # B_bar x = Delta x B
            contract_inner(dt_x_k, g[:L], out=steps_of(grad_B, steps))
            # dL/d(Delta_t A) = g_t h_{t-1} exp(Delta_t A), over the gates' buffer
            grad_log_gates = gates[:L].mul_(g[:L])
            grad_log_gates[1:].mul_(states[: L - 1])
            grad_log_gates[0].mul_(h)
            steps_of(grad_dt, steps).copy_(torch.mul(grad_log_gates, A, out=work[:L]).sum(-1))
            grad_A += torch.mul(grad_log_gates, dt_k.unsqueeze(-1), out=work[:L]).sum(0)
    return y, grad_dt, grad_dt_x, grad_A, grad_B, grad_C, grad_h


def step_sizes(dt_low, dt_weight, dt_bias):
    """delta = dt_proj(dt_low), Delta before its softplus (Alg. 2, line 4), per batch row:
    dt_low (B, T, R), dt_weight (B, d_inner, R), dt_bias (B, d_inner) -> (B, T, d_inner). In the
    scan's precision whatever autocast says, so that the backward recomputes the same values."""
    with torch.autocast(dt_low.device.type, enabled=False):
        return torch.baddbmm(dt_bias.unsqueeze(1), dt_low, dt_weight.transpose(1, 2))


def around_states_forward(state_forward, x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0):
    """The scan's forward in torch around the state kernel `state_forward`: out, the final
    state and the segment boundaries."""
    dt = F.softplus(step_sizes(dt_low, dt_weight, dt_bias))  # Alg. 2, line 4
    y, h_last, boundaries = state_forward(dt, dt * x, A, B, C, h0)
    # In place over y here and below: on CPU each fresh (B, T, d_inner) tensor costs page faults
    return y.addcmul_(D.unsqueeze(1), x).mul_(F.silu(z)), h_last, boundaries


def around_states_backward(
    state_backward, x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last
):
    """The scan's backward in torch around the state kernel `state_backward`: the gradients of
    x, dt_low, dt_weight, dt_bias, A, B, C, D, z and h0."""
    delta = step_sizes(dt_low, dt_weight, dt_bias)
    dt, sigma = F.softplus(delta), torch.sigmoid(z)
    gate = z * sigma  # SiLU(z)
    grad_y, dt_x = grad_out * gate, dt * x
    y, grad_dt, grad_dt_x, grad_A, grad_B, grad_C, grad_h0 = state_backward(
        dt, dt_x, A, B, C, boundaries, grad_y, grad_h_last
    )
    # Over tensors no longer needed: fresh ones cost page faults on CPU.
    silu_slope = gate.addcmul_(gate, sigma, value=-1).add_(sigma)  # sigma (1 + z (1 - sigma))
    grad_z = y.addcmul_(D.unsqueeze(1), x).mul_(grad_out).mul_(silu_slope)
    grad_D = torch.mul(grad_y, x, out=dt_x).sum(1)
    grad_x = grad_y.mul_(D.unsqueeze(1)).addcmul_(grad_dt_x, dt)
    softplus_slope = torch.sigmoid(delta, out=dt_x)
    grad_delta = grad_dt.addcmul_(grad_dt_x, x).mul_(softplus_slope)
    grad_dt_low = torch.bmm(grad_delta, dt_weight)  # (B, T, d_inner) @ (B, d_inner, R)
    grad_dt_weight = torch.bmm(grad_delta.transpose(1, 2), dt_low)  # per row: (B, d_inner, R)
    grad_step_size = grad_dt_low, grad_dt_weight, grad_delta.sum(1)
    return grad_x, *grad_step_size, grad_A, grad_B, grad_C, grad_D, grad_z, grad_h0


def scan_kernels(kernel: str):
    """The scan's (forward, backward) named `kernel`: "cpu" (compiled, selective_scan_cpu.py),
    or the torch code above around the state kernels "fused" (torch) or "triton"."""
    if kernel == "cpu":
        from .selective_scan_cpu import cpu_scan, cpu_scan_backward

        return cpu_scan, cpu_scan_backward
    if kernel == "triton":
        from .selective_scan_triton import triton_scan_states, triton_scan_states_backward

        states = triton_scan_states, triton_scan_states_backward
    else:
        states = scan_states, scan_states_backward
    return partial(around_states_forward, states[0]), partial(around_states_backward, states[1])


class _SelectiveScan(RowwiseFunction):
    """Saves its inputs and the segment boundaries (about 1/64 of the states), but not delta:
    the backward recomputes it from dt_proj's low-rank input, (B, T, R) against (B, T, d_inner).
    A single segment's boundary is h0 itself, so h0 is saved instead: free for a zero state
    (views of one zero, `Mamba.initial_state`)."""

    @staticmethod
    def forward(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0, kernel):
        return scan_kernels(kernel)[0](x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        *tensors, h0, kernel = inputs
        boundaries = output[2]
        ctx.save_for_backward(*tensors, h0.unsqueeze(1) if boundaries.shape[1] == 1 else boundaries)
        ctx.kernel = kernel
        ctx.mark_non_differentiable(boundaries)
        ctx.set_materialize_grads(False)  # an unused output's zero gradient made below, for free

    @staticmethod
    def backward(ctx, grad_out, grad_h_last, _):
        x, *tensors, boundaries = ctx.saved_tensors
        if grad_out is None:
            grad_out = torch.zeros_like(x)
        if grad_h_last is None:  # views of one zero, as the initial state
            grad_h_last = boundaries.new_zeros(()).expand_as(boundaries[:, 0])
        inputs = x, *tensors, boundaries, grad_out, grad_h_last
        return *_SelectiveScanGradient.apply(*inputs, ctx.kernel), None


class _SelectiveScanGradient(GradientFunction):
    @staticmethod
    def forward(
        x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last, kernel
    ):
        inputs = (x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last)
        return tuple(scan_kernels(kernel)[1](*inputs))


def selective_scan(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0, kernel: str = "fused"):
    """out (B, T, d_inner) and the final state (B, d_inner, N), by the state kernels `kernel`
    ("fused": torch, any device; "cpu": selective_scan_cpu.py, compiled for CPU tensors;
    "triton": selective_scan_triton.py), computed in float32 (float64 if given). Delta before its
    softplus is dt_proj(dt_low): dt_low (B, T, R), dt_weight (d_inner, R), dt_bias (d_inner). The
    other shapes as in the module's docstring; A (d_inner, N), D (d_inner) and dt_proj's
    parameters are expanded along the batch here."""
    if kernel == "triton":
        require_triton_device("scan", x)
    if kernel == "cpu" and x.device.type != "cpu":
        raise UsageError(f'scan "cpu" runs on CPU tensors only, not {x.device}: use "auto"')
    batch, channel_minor = x.shape[0], kernel == "cpu"  # how the kernel writes their gradients
    dt_weight, A = (expand_rows(t, batch, channel_minor) for t in (dt_weight, A))
    dt_bias, D = (t.expand(batch, *t.shape) for t in (dt_bias, D))
    inputs = in_scan_precision(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0)
    out, h_last, _ = _SelectiveScan.apply(*inputs, kernel)
    return out, h_last
