"""Mamba's selective scan compiled for CPU tensors: csrc/selective_scan.cpp, built on first use
(cpu_library.py) and registered as torch custom ops for the CPU only, so that torch.compile keeps
them in its graph and a tensor on another device never reaches the C++. They replace the whole
forward and backward of the scan's autograd node, the elementwise work around the state included.

The kernels compute dt_proj and its softplus themselves, a segment at a time, and the backward
their gradients, so that the gradient of delta (B, T, d_inner) is never written out. Each (batch
row, block of channels) walks the sequence with its state in cache, where the torch
kernels stream every step's (B, d_inner, N) state through memory; the arithmetic is the same.
The states at segment boundaries (every SEGMENT_STEPS steps) are saved as the torch kernels do.
"""

import math

import torch

from .. import cpu_library
from ..cpu_library import CONTIGUOUS, ROWS, STRIDED, channel_minor, compiled_op
from . import tiling

SCAN_INPUTS = "x dt_low dt_weight dt_bias A B C D z"  # then h0, or GRADIENT_INPUTS
GRADIENT_INPUTS = "boundaries grad_out grad_h_last"


def sizes(x, dt_low, dt_weight, dt_bias, A, D, block: int):
    """batch, T, d_inner, N, dt_rank, the row strides of A, D, dt_weight and dt_bias, segment,
    block and threads, as the kernels take them."""
    batch, T, d_inner = x.shape
    rows = (A.stride(0), D.stride(0), dt_weight.stride(0), dt_bias.stride(0))
    work = (tiling.SEGMENT_STEPS, block, torch.get_num_threads())
    return (batch, T, d_inner, A.shape[-1], dt_low.shape[-1], *rows, *work)


def scan_inputs(op: str, x, dt_low, dt_weight, dt_bias, A, B, C, D, z) -> dict:
    """The inputs both kernels take, as `checked_layout` reads them: (tensor, shape, layout),
    with the state size N from A and the rank R from dt_weight."""
    (batch, T, d_inner), N, R = cpu_library.sizes_of(x, op), A.shape[-1], dt_weight.shape[-1]
    return {
        "x": (x, (batch, T, d_inner), CONTIGUOUS),
        "dt_low": (dt_low, (batch, T, R), CONTIGUOUS),
        "dt_weight": (dt_weight, (batch, d_inner, R), ROWS),
        "dt_bias": (dt_bias, (batch, d_inner), ROWS),
        "A": (A, (batch, d_inner, N), ROWS),
        "B": (B, (batch, T, N), CONTIGUOUS),
        "C": (C, (batch, T, N), CONTIGUOUS),
        "D": (D, (batch, d_inner), ROWS),
        "z": (z, (batch, T, d_inner), CONTIGUOUS),
    }


def new_states(x: torch.Tensor, N: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The final state (B, N, d_inner) and the states at segment starts (B, segments, N,
    d_inner), channel-minor, to be written."""
    segments = math.ceil(x.shape[1] / tiling.SEGMENT_STEPS)
    return channel_minor(x, N), channel_minor(x, segments, N)


@compiled_op("selective_scan", f"{SCAN_INPUTS} h0", returns="(Tensor, Tensor, Tensor)")
def cpu_selective_scan(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0):
    """out (B, T, d_inner), and channel-minor the final state (B, N, d_inner) and the states at
    segment starts (B, segments, N, d_inner), from `selective_scan`'s inputs (A, D and dt_proj's
    parameters expanded along the batch)."""
    inputs = scan_inputs("selective_scan", x, dt_low, dt_weight, dt_bias, A, B, C, D, z)
    inputs["h0"] = (h0, A.shape, STRIDED)
    x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0 = cpu_library.checked_layout(
        "selective_scan", inputs
    )
    out, (h_last, boundaries) = torch.empty_like(x), new_states(x, A.shape[2])
    block = cpu_library.channel_block(x.shape[0], x.shape[2])
    inputs = (x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0)
    scan = cpu_library.kernel("selective_scan_forward", x.dtype)
    scan(
        *cpu_library.pointers(*inputs, out, h_last, boundaries),
        *h0.stride(),  # read in place: often views of one zero
        *sizes(x, dt_low, dt_weight, dt_bias, A, D, block),
    )
    return out, h_last, boundaries


@cpu_selective_scan.register_fake
def _(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0):
    return torch.empty_like(x), *new_states(x, A.shape[2])


@compiled_op("selective_scan_backward", f"{SCAN_INPUTS} {GRADIENT_INPUTS}", returns="Tensor[]")
def cpu_selective_scan_backward(
    x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last
):
    """The gradients of x, dt_low, dt_weight, dt_bias, A, B, C, D, z and h0 (those of dt_proj's
    parameters, A and D per batch row); those of dt_weight, A and h0 channel-minor: (B, R or N,
    d_inner)."""
    op = "selective_scan_backward"
    inputs = scan_inputs(op, x, dt_low, dt_weight, dt_bias, A, B, C, D, z)
    segments = math.ceil(x.shape[1] / tiling.SEGMENT_STEPS)
    inputs["boundaries"] = (boundaries, (x.shape[0], segments, *A.shape[1:]), STRIDED)
    inputs["grad_out"] = (grad_out, x.shape, CONTIGUOUS)
    inputs["grad_h_last"] = (grad_h_last, A.shape, STRIDED)
    checked = cpu_library.checked_layout(op, inputs)
    x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last = checked
    block = cpu_library.channel_block(
        x.shape[0], x.shape[2]
    )  # the kernel's and the per-block sums' alike
    grad_x, grad_z = (torch.empty_like(x) for _ in range(2))  # contiguous
    grad_A, grad_h0 = channel_minor(x, A.shape[2]), channel_minor(x, A.shape[2])
    grad_D, grad_dt_bias = (x.new_empty(x.shape[0], x.shape[2]) for _ in range(2))
    grad_dt_weight = channel_minor(x, dt_low.shape[2])
    # The sums over channels of each block, (blocks, B, T, R or N), added up below
    blocks = math.ceil(x.shape[2] / block)
    per_block = [t.new_empty(blocks, *t.shape) for t in (dt_low, B, C)]
    grad_low_blocks, grad_B_blocks, grad_C_blocks = per_block
    inputs = (x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last)
    outputs = (grad_x, grad_low_blocks, grad_dt_weight, grad_dt_bias, grad_A)
    outputs += (grad_B_blocks, grad_C_blocks, grad_D, grad_z, grad_h0)
    scan = cpu_library.kernel("selective_scan_backward", x.dtype)
    scan(
        *cpu_library.pointers(*inputs, *outputs),
        *boundaries.stride(),
        *grad_h_last.stride(),  # read in place, as h0
        *sizes(x, dt_low, dt_weight, dt_bias, A, D, block),
    )
    grad_dt_low, grad_B, grad_C = (sums.sum(0) for sums in per_block)
    step_size = [grad_dt_low, grad_dt_weight, grad_dt_bias]  # dt_proj's input and parameters
    return [grad_x, *step_size, grad_A, grad_B, grad_C, grad_D, grad_z, grad_h0]


@cpu_selective_scan_backward.register_fake
def _(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last):
    N, R = A.shape[2], dt_low.shape[2]
    like = (x, dt_low, channel_minor(x, R), dt_bias, channel_minor(x, N), B, C, x[:, 0], z)
    return [tensor.new_empty(tensor.shape) for tensor in (*like, channel_minor(x, N))]


def forward(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0):
    """The backend's forward by the compiled kernel: out, the final state (B, d_inner, N) and
    the states at segment starts (B, segments, d_inner, N), the states as transposed views."""
    out, h_last, boundaries = cpu_selective_scan(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, h0)
    return out, h_last.transpose(1, 2), boundaries.transpose(2, 3)


def backward(x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last):
    """The backend's backward by the compiled kernel: the ten gradients in their inputs'
    shapes, those written channel-minor as transposed views."""
    channel_minor = (2, 4, 9)  # dt_weight, A and h0
    inputs = x, dt_low, dt_weight, dt_bias, A, B, C, D, z, boundaries, grad_out, grad_h_last
    grads = cpu_selective_scan_backward(*inputs)
    return [grad.transpose(1, 2) if i in channel_minor else grad for i, grad in enumerate(grads)]
