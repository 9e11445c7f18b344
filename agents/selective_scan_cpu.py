"""Mamba's selective scan (selective_scan.py) compiled for CPU tensors: cpu_kernels/
selective_scan.cpp, built on first use (cpu_library.py) and registered as torch custom ops, so that
torch.compile keeps them in its graph. They replace the whole forward and backward of the scan's
autograd node, the elementwise work around the state included.

Each (batch row, block of channels) walks the sequence with its state in cache, where the torch
kernels stream every step's (B, d_inner, N) state through memory; the arithmetic is the same.
The states at segment boundaries (every SEGMENT_STEPS steps) are saved as the torch kernels do.
"""

import math

import torch
import torch.nn.functional as F

from . import selective_scan
from .cpu_library import integers, kernel, pointers

WIDEST_BLOCK = 256  # channels per work item: longer loops over channels vectorise better...
NARROWEST_BLOCK = 16
ITEMS_PER_THREAD = 4  # ...but there should be enough items to keep the threads busy


def channel_block(batch: int, d_inner: int) -> int:
    """Channels per work item: as wide as WIDEST_BLOCK allows while the items are at least
    ITEMS_PER_THREAD per thread."""
    block = min(d_inner, WIDEST_BLOCK)
    while block > NARROWEST_BLOCK and batch * math.ceil(d_inner / block) < (
        ITEMS_PER_THREAD * torch.get_num_threads()
    ):
        block = math.ceil(block / 2)
    return block


def sizes(x, A, D, z, block: int):
    """batch, T, d_inner, N, the row strides of A and D, z's step stride, segment, block and
    threads, as the kernels take them."""
    batch, T, d_inner = x.shape
    strides = (A.stride(0), D.stride(0), z.stride(1), selective_scan.SEGMENT_STEPS, block)
    return integers(batch, T, d_inner, A.shape[-1], *strides, torch.get_num_threads())


def kernel_layout(A, D, z, *tensors: torch.Tensor) -> list[torch.Tensor]:
    """A (B, d_inner, N) and D (B, d_inner) with contiguous rows, left expanded along the batch
    (stride 0) where they are, z (B, T, d_inner) with contiguous steps, left a view of a wider
    tensor where it is, and the other tensors contiguous."""
    A = A if A.stride()[1:] == (A.shape[2], 1) else A.contiguous()
    D = D if D.stride(1) == 1 else D.contiguous()
    z = z if z.stride(2) == 1 and z.stride(0) == z.shape[1] * z.stride(1) else z.contiguous()
    return [A, D, z, *(tensor.contiguous() for tensor in tensors)]


def new_boundaries(x: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """The states at segment starts, (B, segments, d_inner, N), to be written."""
    segments = math.ceil(x.shape[1] / selective_scan.SEGMENT_STEPS)
    return x.new_empty(x.shape[0], segments, *h0.shape[1:])


@torch.library.custom_op("decision_backbones::selective_scan", mutates_args=())
def cpu_selective_scan(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor,
    z: torch.Tensor,
    h0: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """out (B, T, d_inner), the final state (B, d_inner, N) and the states at segment starts
    (B, segments, d_inner, N), from dt = softplus(delta) and the rest of `selective_scan`'s
    inputs (A and D expanded along the batch)."""
    A, D, z, x, dt, B, C, h0 = kernel_layout(A, D, z, x, dt, B, C, h0)
    out, h_last, boundaries = torch.empty_like(x), torch.empty_like(h0), new_boundaries(x, h0)
    block = channel_block(x.shape[0], x.shape[2])
    scan = kernel("selective_scan_forward", x.dtype)
    scan(*pointers(x, dt, A, B, C, D, z, h0, out, h_last, boundaries), *sizes(x, A, D, z, block))
    return out, h_last, boundaries


@cpu_selective_scan.register_fake
def _(x, dt, A, B, C, D, z, h0):
    return torch.empty_like(x), torch.empty_like(h0), new_boundaries(x, h0)


@torch.library.custom_op("decision_backbones::selective_scan_backward", mutates_args=())
def cpu_selective_scan_backward(
    x: torch.Tensor,
    delta: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor,
    z: torch.Tensor,
    boundaries: torch.Tensor,
    grad_out: torch.Tensor,
    grad_h_last: torch.Tensor,
) -> list[torch.Tensor]:
    """The gradients of x, delta, A, B, C, D, z and h0 (those of A and D per batch row)."""
    A, D, z, *tensors = kernel_layout(
        A, D, z, x, delta, dt, B, C, boundaries, grad_out, grad_h_last
    )
    x, delta, dt, B, C, boundaries, grad_out, grad_h_last = tensors
    block = channel_block(x.shape[0], x.shape[2])  # the kernel's and grad_B_blocks' alike
    blocks = math.ceil(x.shape[2] / block)
    grad_x, grad_delta, grad_z = (torch.empty_like(x) for _ in range(3))  # contiguous
    grad_A, grad_h0 = (torch.empty_like(grad_h_last) for _ in range(2))
    grad_D = x.new_empty(x.shape[0], x.shape[2])
    # Each block's own sums over its channels, (blocks, B, T, N), added up below
    grad_B_blocks, grad_C_blocks = (B.new_empty(blocks, *B.shape) for _ in range(2))
    inputs = (x, delta, dt, A, B, C, D, z, boundaries, grad_out, grad_h_last)
    outputs = (grad_x, grad_delta, grad_A, grad_B_blocks, grad_C_blocks, grad_D, grad_z, grad_h0)
    scan = kernel("selective_scan_backward", x.dtype)
    scan(*pointers(*inputs, *outputs), *sizes(x, A, D, z, block))
    grad_B, grad_C = grad_B_blocks.sum(0), grad_C_blocks.sum(0)
    return [grad_x, grad_delta, grad_A, grad_B, grad_C, grad_D, grad_z, grad_h0]


@cpu_selective_scan_backward.register_fake
def _(x, delta, dt, A, B, C, D, z, boundaries, grad_out, grad_h_last):
    like = (x, x, grad_h_last, B, C, x[:, 0], z, grad_h_last)
    return [torch.empty_like(tensor, memory_format=torch.contiguous_format) for tensor in like]


def cpu_scan_forward(x, delta, A, B, C, D, z, h0):
    """`selective_scan`'s forward: out, the final state and the segment boundaries."""
    return cpu_selective_scan(x, F.softplus(delta), A, B, C, D, z, h0)  # Alg. 2, line 4


def cpu_scan_backward(x, delta, A, B, C, D, z, boundaries, grad_out, grad_h_last):
    """`selective_scan`'s backward: the gradients of x, delta, A, B, C, D, z and h0."""
    dt = F.softplus(delta)
    return tuple(
        cpu_selective_scan_backward(x, delta, dt, A, B, C, D, z, boundaries, grad_out, grad_h_last)
    )
