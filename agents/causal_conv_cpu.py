"""Mamba's causal depthwise convolution and SiLU (causal_conv.py) compiled for CPU tensors:
cpu_kernels/causal_conv.cpp, registered as torch custom ops, so that torch.compile keeps them in
its graph. One work item is (batch row, block of channels), as for the scan.
"""

import torch

from .cpu_library import channel_block, integers, kernel, kernel_layout, pointers


def sizes(x, weight, bias, block: int):
    """batch, T, d_inner, taps, the row strides of weight and bias, block and threads, as the
    kernels take them."""
    batch, T, d_inner = x.shape
    strides = (weight.stride(0), bias.stride(0), block, torch.get_num_threads())
    return integers(batch, T, d_inner, weight.shape[-1], *strides)


@torch.library.custom_op("decision_backbones::causal_conv_silu", mutates_args=())
def cpu_causal_conv_silu(
    x: torch.Tensor, window: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """SiLU(conv1d) (B, T, d_inner) of x (B, T, d_inner) after the window (B, d_inner, K - 1),
    with taps weight (B, d_inner, K) and bias (B, d_inner), expanded along the batch."""
    weight, bias, x, window = kernel_layout((weight, bias), x, window)
    out = x.new_empty(x.shape)
    convolve = kernel("causal_conv_silu_forward", x.dtype)
    block = channel_block(x.shape[0], x.shape[2])
    convolve(*pointers(x, window, weight, bias, out), *sizes(x, weight, bias, block))
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
    """The gradients of x, the window, weight and bias (those two per batch row)."""
    weight, bias, x, window, grad_out = kernel_layout((weight, bias), x, window, grad_out)
    grad_x = x.new_empty(x.shape)
    grad_window = torch.empty_like(window)
    grad_weight = x.new_empty(x.shape[0], *weight.shape[1:])
    grad_bias = x.new_empty(x.shape[0], bias.shape[1])
    gradients = (grad_x, grad_window, grad_weight, grad_bias)
    convolve = kernel("causal_conv_silu_backward", x.dtype)
    block = channel_block(x.shape[0], x.shape[2])
    convolve(
        *pointers(x, window, weight, bias, grad_out, *gradients), *sizes(x, weight, bias, block)
    )
    return list(gradients)


@cpu_causal_conv_silu_backward.register_fake
def _(x, window, weight, bias, grad_out):
    batch, _, d_inner = x.shape
    return [
        x.new_empty(x.shape),
        window.new_empty(window.shape),
        x.new_empty(batch, *weight.shape[1:]),
        x.new_empty(batch, d_inner),
    ]
