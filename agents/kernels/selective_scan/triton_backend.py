"""The state kernels of Mamba's selective scan in Triton, wrapped by elementwise.py into the
backend pair `forward` / `backward`, for CUDA tensors (or CPU tensors under Triton's
interpreter, TRITON_INTERPRET=1, which the tests use).

One program per (batch row, block of BLOCK_D channels) walks the sequence with its
(BLOCK_D, N) state in registers, in the inputs' precision (float32, or float64 if given):
- forward: h_t = exp(Delta_t A) h_{t-1} + Delta_t x_t B_t and y_t = C_t . h_t (Eq. 2a-2b),
  storing the state at the start of every SEGMENT steps, as the torch kernels do;
- backward, one segment at a time from the last: the segment's states are recomputed from its
  saved start into a scratch buffer (B, SEGMENT, d_inner, N), then walked back with
  g_t = C_t dy_t + exp(Delta_{t+1} A) g_{t+1} (g_t = dL/dh_t).
Sums over channels (the gradients of B and C) are written per channel block and added up after.
"""

import torch
import triton
import triton.language as tl

from . import tiling
from .elementwise import around_states_backward, around_states_forward

# Autotuned where a GPU can time them; the tests hold every autotuner to its first config.
CONFIGS = [
    triton.Config({"BLOCK_D": block}, num_warps=warps) for block in (16, 32, 64) for warps in (2, 4)
]
SMALLEST_BLOCK = 16


@triton.jit
def _state_offsets(row, d, n, d_inner, N):
    """Offsets of (d, n) in a row of a contiguous (rows, d_inner, N) tensor, and their mask."""
    offsets = (row * d_inner + d[:, None]) * N + n[None, :]
    return offsets, (d[:, None] < d_inner) & (n[None, :] < N)


@triton.autotune(configs=CONFIGS, key=["d_inner", "N"])
@triton.jit(do_not_specialize=["T"])
def _forward_kernel(
    dt, dt_x, A, B, C, h0, y, h_last, boundaries,
    T, d_inner, N, stride_A_row, stride_A_d, stride_A_n,
    SEGMENT: tl.constexpr, N_PAD: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    row = tl.program_id(0).to(tl.int64)
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)  # (BLOCK_D,)
    n = tl.arange(0, N_PAD)  # (N_PAD,): N rounded up to a power of two, masked
    states, state_mask = _state_offsets(row, d, n, d_inner, N)
    a_offsets = row * stride_A_row + d[:, None] * stride_A_d + n[None, :] * stride_A_n
    A_block = tl.load(A + a_offsets, mask=state_mask, other=0.0)  # (BLOCK_D, N_PAD)
    h = tl.load(h0 + states, mask=state_mask, other=0.0)
    segments = tl.cdiv(T, SEGMENT)
    for t in range(T):
        if t % SEGMENT == 0:
            saved, _ = _state_offsets(row * segments + t // SEGMENT, d, n, d_inner, N)
            tl.store(boundaries + saved, h, mask=state_mask)
        channels = (row * T + t) * d_inner + d
        dt_t = tl.load(dt + channels, mask=d < d_inner, other=0.0)
        dt_x_t = tl.load(dt_x + channels, mask=d < d_inner, other=0.0)
        B_t = tl.load(B + (row * T + t) * N + n, mask=n < N, other=0.0)
        C_t = tl.load(C + (row * T + t) * N + n, mask=n < N, other=0.0)
        h = tl.exp(dt_t[:, None] * A_block) * h + dt_x_t[:, None] * B_t[None, :]  # Eq. 2a
        tl.store(y + channels, tl.sum(h * C_t[None, :], axis=1), mask=d < d_inner)  # Eq. 2b
    tl.store(h_last + states, h, mask=state_mask)


@triton.autotune(configs=CONFIGS, key=["d_inner", "N"])
@triton.jit(do_not_specialize=["T"])
def _backward_kernel(
    dt, dt_x, A, B, C, boundaries, grad_y, grad_h_last,
    y, grad_dt, grad_dt_x, grad_A, grad_B_blocks, grad_C_blocks, grad_h0, scratch,
    T, d_inner, N, stride_A_row, stride_A_d, stride_A_n, most_blocks, scratch_steps,
    SEGMENT: tl.constexpr, N_PAD: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    row = tl.program_id(0).to(tl.int64)
    block = tl.program_id(1)
    d = block * BLOCK_D + tl.arange(0, BLOCK_D)  # (BLOCK_D,)
    n = tl.arange(0, N_PAD)  # (N_PAD,)
    states, state_mask = _state_offsets(row, d, n, d_inner, N)
    a_offsets = row * stride_A_row + d[:, None] * stride_A_d + n[None, :] * stride_A_n
    A_block = tl.load(A + a_offsets, mask=state_mask, other=0.0)  # (BLOCK_D, N_PAD)
    grad_A_block = tl.zeros_like(A_block)
    # dL/dh_t through h_{t+1}, carried backwards: a_{t+1} g_{t+1}, at first dL/dh_T
    grad_h = tl.load(grad_h_last + states, mask=state_mask, other=0.0)
    segments = tl.cdiv(T, SEGMENT)
    for segment_from_end in range(segments):
        segment = segments - 1 - segment_from_end
        start = segment * SEGMENT
        steps = tl.minimum(T - start, SEGMENT)
        saved, _ = _state_offsets(row * segments + segment, d, n, d_inner, N)
        h = tl.load(boundaries + saved, mask=state_mask, other=0.0)
        for k in range(steps):  # the state before each step of the segment, into the scratch
            before, _ = _state_offsets(row * scratch_steps + k, d, n, d_inner, N)
            tl.store(scratch + before, h, mask=state_mask)
            channels = (row * T + start + k) * d_inner + d
            dt_t = tl.load(dt + channels, mask=d < d_inner, other=0.0)
            dt_x_t = tl.load(dt_x + channels, mask=d < d_inner, other=0.0)
            B_t = tl.load(B + (row * T + start + k) * N + n, mask=n < N, other=0.0)
            h = tl.exp(dt_t[:, None] * A_block) * h + dt_x_t[:, None] * B_t[None, :]
        for k_from_end in range(steps):
            k = steps - 1 - k_from_end
            t = start + k
            before, _ = _state_offsets(row * scratch_steps + k, d, n, d_inner, N)
            h_before = tl.load(scratch + before, mask=state_mask, other=0.0)
            channels = (row * T + t) * d_inner + d
            dt_t = tl.load(dt + channels, mask=d < d_inner, other=0.0)
            dt_x_t = tl.load(dt_x + channels, mask=d < d_inner, other=0.0)
            dy_t = tl.load(grad_y + channels, mask=d < d_inner, other=0.0)
            B_t = tl.load(B + (row * T + t) * N + n, mask=n < N, other=0.0)
            C_t = tl.load(C + (row * T + t) * N + n, mask=n < N, other=0.0)
            gate = tl.exp(dt_t[:, None] * A_block)
            h = gate * h_before + dt_x_t[:, None] * B_t[None, :]
            tl.store(y + channels, tl.sum(h * C_t[None, :], axis=1), mask=d < d_inner)
            per_block = ((row * most_blocks + block) * T + t) * N + n
            tl.store(grad_C_blocks + per_block, tl.sum(h * dy_t[:, None], axis=0), mask=n < N)
            g = grad_h + dy_t[:, None] * C_t[None, :]  # dL/dh_t
            tl.store(grad_dt_x + channels, tl.sum(g * B_t[None, :], axis=1), mask=d < d_inner)
            tl.store(grad_B_blocks + per_block, tl.sum(g * dt_x_t[:, None], axis=0), mask=n < N)
            grad_log_gate = g * gate * h_before  # dL/d(Delta_t A)
            grad_dt_t = tl.sum(grad_log_gate * A_block, axis=1)
            tl.store(grad_dt + channels, grad_dt_t, mask=d < d_inner)
            grad_A_block += grad_log_gate * dt_t[:, None]
            grad_h = gate * g
    tl.store(grad_h0 + states, grad_h, mask=state_mask)
    tl.store(grad_A + states, grad_A_block, mask=state_mask)


def _launch_sizes(dt: torch.Tensor, A: torch.Tensor):
    batch, T, d_inner = dt.shape
    N = A.shape[-1]
    return batch, T, d_inner, N, triton.next_power_of_2(N)


def triton_scan_states(dt, dt_x, A, B, C, h0):
    """`torch_backend.scan_states` by `_forward_kernel`: y, the final state, the boundaries."""
    batch, T, d_inner, N, N_PAD = _launch_sizes(dt, A)
    dt, dt_x, B, C, h0 = (t.contiguous() for t in (dt, dt_x, B, C, h0))
    y, h_last = torch.empty_like(dt), torch.empty_like(h0)
    boundaries = dt.new_empty(batch, triton.cdiv(T, tiling.SEGMENT_STEPS), d_inner, N)

    def grid(meta):
        return batch, triton.cdiv(d_inner, meta["BLOCK_D"])

    _forward_kernel[grid](
        dt, dt_x, A, B, C, h0, y, h_last, boundaries, T, d_inner, N, *A.stride(),
        SEGMENT=tiling.SEGMENT_STEPS, N_PAD=N_PAD,
    )  # fmt: skip
    return y, h_last, boundaries


def triton_scan_states_backward(dt, dt_x, A, B, C, boundaries, grad_y, grad_h_last):
    """`torch_backend.scan_states_backward` by `_backward_kernel`."""
    batch, T, d_inner, N, N_PAD = _launch_sizes(dt, A)
    dt, dt_x, B, C, grad_y, grad_h_last = (
        t.contiguous() for t in (dt, dt_x, B, C, grad_y, grad_h_last)
    )
    y, grad_dt, grad_dt_x = torch.empty_like(dt), torch.empty_like(dt), torch.empty_like(dt)
    grad_A = dt.new_empty(batch, d_inner, N)
    grad_h0 = torch.empty_like(grad_h_last)
    # Sized for the smallest block: rows of blocks a larger BLOCK_D leaves out stay zero.
    most_blocks = triton.cdiv(d_inner, SMALLEST_BLOCK)
    grad_B_blocks = dt.new_zeros(batch, most_blocks, T, N)
    grad_C_blocks = dt.new_zeros(batch, most_blocks, T, N)
    scratch_steps = min(T, tiling.SEGMENT_STEPS)
    scratch = dt.new_empty(batch, scratch_steps, d_inner, N)

    def grid(meta):
        return batch, triton.cdiv(d_inner, meta["BLOCK_D"])

    _backward_kernel[grid](
        dt, dt_x, A, B, C, boundaries.contiguous(), grad_y, grad_h_last,
        y, grad_dt, grad_dt_x, grad_A, grad_B_blocks, grad_C_blocks, grad_h0, scratch,
        T, d_inner, N, *A.stride(), most_blocks, scratch_steps,
        SEGMENT=tiling.SEGMENT_STEPS, N_PAD=N_PAD,
    )  # fmt: skip
    grad_B, grad_C = grad_B_blocks.sum(1), grad_C_blocks.sum(1)
    return y, grad_dt, grad_dt_x, grad_A, grad_B, grad_C, grad_h0


def forward(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0):
    """out, the final state and the segment boundaries (interface.py's node)."""
    inputs = x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0
    return around_states_forward(triton_scan_states, *inputs)


def backward(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last):
    """The ten gradients, from the saved inputs, boundaries, dL/dout and dL/dh_last."""
    inputs = x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last
    return around_states_backward(triton_scan_states_backward, *inputs)
