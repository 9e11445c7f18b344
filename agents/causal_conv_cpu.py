"""Mamba's causal depthwise convolution and SiLU (causal_conv.py) compiled for CPU tensors:
cpu_kernels/causal_conv.cpp, registered as torch custom ops, so that torch.compile keeps them in
its graph. One work item is (batch row, block of channels), as for the scan. The window is read
in place (often a view of one zero), and the gradients of the taps and of the window are written
channel-minor, as the scan's states: `cpu_conv_backward` hands them on as transposed views.
"""

import torch

from .cpu_library import channel_block, channel_minor, integers, kernel, kernel_layout, pointers


def sizes(x, window, weight, bias, block: int):
    """The window's strides, batch, T, d_inner, taps, the row strides of weight and bias, block
    and threads, as the kernels take them."""
    batch, T, d_inner = x.shape
    strides = (weight.stride(0), bias.stride(0), block, torch.get_num_threads())
    return integers(*window.stride(), batch, T, d_inner, weight.shape[-1], *strides)


@torch.library.custom_op("decision_backbones::causal_conv_silu", mutates_args=())
def cpu_causal_conv_silu(
    x: torch.Tensor, window: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """SiLU(conv1d) (B, T, d_inner) of x (B, T, d_inner) after the window (B, d_inner, K - 1),
    with taps weight (B, d_inner, K) and bias (B, d_inner), expanded along the batch."""
    weight, bias, x = kernel_layout((weight, bias), x)
    out = x.new_empty(x.shape)
    convolve = kernel("causal_conv_silu_forward", x.dtype)
    block = channel_block(x.shape[0], x.shape[2])
    convolve(*pointers(x, window, weight, bias, out), *sizes(x, window, weight, bias, block))
    return out


@cpu_causal_conv_silu.register_fake
def _(x, window, weight, bias):
    return x.new_empty(x.shape)


@torch.library.custom_op("decision_backbones::causal_conv_silu_backward", mutates_args=())
def cpu_causal_conv_silu_backward(
    x: torch.Tensor,
    window: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    grad_out: torch.Tensor,
) -> list[torch.Tensor]:
    """The gradients of x, the window (B, K - 1, d_inner), weight (B, K, d_inner) and bias (those
    three per batch row)."""
    weight, bias, x, grad_out = kernel_layout((weight, bias), x, grad_out)
    grad_x = x.new_empty(x.shape)
    grad_window = channel_minor(x, window.shape[2])
    grad_weight = channel_minor(x, weight.shape[2])
    grad_bias = x.new_empty(x.shape[0], bias.shape[1])
    gradients = (grad_x, grad_window, grad_weight, grad_bias)
    convolve = kernel("causal_conv_silu_backward", x.dtype)
    block = channel_block(x.shape[0], x.shape[2])
    sizes_ = sizes(x, window, weight, bias, block)
    convolve(*pointers(x, window, weight, bias, grad_out, *gradients), *sizes_)
    return list(gradients)


@cpu_causal_conv_silu_backward.register_fake
def _(x, window, weight, bias, grad_out):
    channel_minor_ = channel_minor(x, window.shape[2]), channel_minor(x, weight.shape[2])
    return [x.new_empty(x.shape), *channel_minor_, x.new_empty(x.shape[0], x.shape[2])]


def cpu_conv_backward(x, window, weight, bias, grad_out):
    """The gradients of x, the window, weight and bias, in their inputs' shapes."""
    grad_x, grad_window, grad_weight, grad_bias = cpu_causal_conv_silu_backward(
        x, window, weight, bias, grad_out
    )
    return grad_x, grad_window.transpose(1, 2), grad_weight.transpose(1, 2), grad_bias
