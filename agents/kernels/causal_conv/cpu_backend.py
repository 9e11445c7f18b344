"""Mamba's causal depthwise convolution and SiLU compiled for CPU tensors: csrc/causal_conv.cpp,
registered as torch custom ops for the CPU only, so that torch.compile keeps them in its graph
and a tensor on another device never reaches the C++. One work item is (batch row, block of
channels), as for the scan. The window is read in place (often a view of one zero), and the
gradients of the taps and of the window are written channel-minor, as the scan's states:
`backward` hands them on as transposed views.
"""

import torch

from .. import cpu_library
from ..cpu_library import CONTIGUOUS, ROWS, STRIDED, channel_minor, compiled_op


def sizes(x, window, weight, bias, block: int):
    """The window's strides, batch, T, d_inner, taps, the row strides of weight and bias, block
    and threads, as the kernels take them."""
    batch, T, d_inner = x.shape
    strides = (weight.stride(0), bias.stride(0), block, torch.get_num_threads())
    return (*window.stride(), batch, T, d_inner, weight.shape[-1], *strides)


def conv_inputs(x, window, weight, bias) -> dict:
    """The inputs both kernels take, as `checked_layout` reads them: (tensor, shape, layout)."""
    (batch, _, d_inner), taps = cpu_library.sizes_of(x, "causal_conv_silu"), weight.shape[-1]
    return {
        "x": (x, (batch, *x.shape[1:]), CONTIGUOUS),
        "window": (window, (batch, d_inner, taps - 1), STRIDED),
        "weight": (weight, (batch, d_inner, taps), ROWS),
        "bias": (bias, (batch, d_inner), ROWS),
    }


@compiled_op("causal_conv_silu", "x window weight bias", returns="Tensor")
def cpu_causal_conv_silu(x, window, weight, bias):
    """SiLU(conv1d) (B, T, d_inner) of x (B, T, d_inner) after the window (B, d_inner, K - 1),
    with taps weight (B, d_inner, K) and bias (B, d_inner), expanded along the batch."""
    inputs = conv_inputs(x, window, weight, bias)
    x, window, weight, bias = cpu_library.checked_layout("causal_conv_silu", inputs)
    out = x.new_empty(x.shape)
    convolve = cpu_library.kernel("causal_conv_silu_forward", x.dtype)
    block = cpu_library.channel_block(x.shape[0], x.shape[2])
    convolve(
        *cpu_library.pointers(x, window, weight, bias, out), *sizes(x, window, weight, bias, block)
    )
    return out


@cpu_causal_conv_silu.register_fake
def _(x, window, weight, bias):
    return x.new_empty(x.shape)


@compiled_op("causal_conv_silu_backward", "x window weight bias grad_out", returns="Tensor[]")
def cpu_causal_conv_silu_backward(x, window, weight, bias, grad_out):
    """The gradients of x, the window (B, K - 1, d_inner), weight (B, K, d_inner) and bias (those
    three per batch row)."""
    op = "causal_conv_silu_backward"
    inputs = conv_inputs(x, window, weight, bias) | {"grad_out": (grad_out, x.shape, CONTIGUOUS)}
    x, window, weight, bias, grad_out = cpu_library.checked_layout(op, inputs)
    grad_x = x.new_empty(x.shape)
    grad_window = channel_minor(x, window.shape[2])
    grad_weight = channel_minor(x, weight.shape[2])
    grad_bias = x.new_empty(x.shape[0], bias.shape[1])
    gradients = (grad_x, grad_window, grad_weight, grad_bias)
    convolve = cpu_library.kernel("causal_conv_silu_backward", x.dtype)
    block = cpu_library.channel_block(x.shape[0], x.shape[2])
    sizes_ = sizes(x, window, weight, bias, block)
    convolve(*cpu_library.pointers(x, window, weight, bias, grad_out, *gradients), *sizes_)
    return list(gradients)


@cpu_causal_conv_silu_backward.register_fake
def _(x, window, weight, bias, grad_out):
    channel_minor_ = channel_minor(x, window.shape[2]), channel_minor(x, weight.shape[2])
    return [x.new_empty(x.shape), *channel_minor_, x.new_empty(x.shape[0], x.shape[2])]


def forward(x, window, weight, bias):
    """SiLU(conv1d) (B, T, d_inner), by the compiled kernel."""
    return cpu_causal_conv_silu(x, window, weight, bias)


def backward(x, window, weight, bias, grad_out):
    """The gradients of x, the window, weight and bias, in their inputs' shapes."""
    grad_x, grad_window, grad_weight, grad_bias = cpu_causal_conv_silu_backward(
        x, window, weight, bias, grad_out
    )
    return grad_x, grad_window.transpose(1, 2), grad_weight.transpose(1, 2), grad_bias
