"""Mamba's causal depthwise convolution and its SiLU (Fig. 3, left branch), per channel as torch's
conv1d (a cross-correlation) over the input after the carried window:

    pre_t = bias + sum_k w_k x'_{t+k},  out_t = SiLU(pre_t),  x' = [window; x]

with K taps and a window of the K - 1 inputs before x. One autograd node that saves its inputs
only: x is a view of in_proj's output, which the scan keeps anyway (z is its other half), and the
backward recomputes the convolution. torch's conv1d and SiLU would save the padded input, the
convolution and its SiLU, each (B, T, d_inner).

Kernels (a forward, backward pair): "cpu", compiled (causal_conv_cpu.py), or "torch", a
grouped conv1d on any device. The weight (B, d_inner, K) and bias (B, d_inner) come expanded
along the batch, so that vmap folds members (several seeds) into the batch, each with its own.
"""

import torch
import torch.nn.functional as F

from .scan import in_scan_precision, vmap_over_batch


def torch_forward(x, window, weight, bias):
    """The pre-activation (1, B d_inner, T) and the padded input (1, B d_inner, K - 1 + T): one
    grouped conv1d with a group per (batch row, channel), so that each row has its own taps."""
    batch, T, d_inner = x.shape
    padded = torch.cat([window, x.transpose(1, 2)], dim=-1)  # (B, d_inner, K - 1 + T)
    padded = padded.reshape(1, batch * d_inner, -1)  # (1, B d_inner, K - 1 + T)
    taps = weight.reshape(batch * d_inner, 1, weight.shape[-1])  # (B d_inner, 1, K)
    pre = F.conv1d(padded, taps, bias.reshape(-1), groups=batch * d_inner)  # (1, B d_inner, T)
    return pre, padded


def torch_conv(x, window, weight, bias):
    pre, _ = torch_forward(x, window, weight, bias)
    batch, T, d_inner = x.shape
    return F.silu(pre).view(batch, d_inner, T).transpose(1, 2).contiguous()  # (B, T, d_inner)


def torch_conv_backward(x, window, weight, bias, grad_out):
    """The gradients of x, the window, weight and bias (those two per batch row)."""
    batch, T, d_inner = x.shape
    taps = weight.shape[-1]
    pre, padded = torch_forward(x, window, weight, bias)
    sigma = torch.sigmoid(pre)
    grad_pre = grad_out.transpose(1, 2).reshape(1, batch * d_inner, T)  # (1, B d_inner, T)
    grad_pre = grad_pre * sigma * (1 + pre * (1 - sigma))  # SiLU'(pre)
    kernel = weight.reshape(batch * d_inner, 1, taps)  # (B d_inner, 1, K)
    grad_padded = F.conv_transpose1d(grad_pre, kernel, groups=batch * d_inner)
    grad_padded = grad_padded.view(batch, d_inner, taps - 1 + T)
    # dL/dw_k = sum_t dL/dpre_t x'_{t+k}, one tap at a time: (B d_inner,) each
    grad_taps = [(grad_pre * padded[..., k : k + T]).sum(-1) for k in range(taps)]
    grad_weight = torch.stack(grad_taps, dim=-1).view(batch, d_inner, taps)
    grad_bias = grad_pre.sum(-1).view(batch, d_inner)
    grad_x = grad_padded[..., taps - 1 :].transpose(1, 2)  # (B, T, d_inner)
    return grad_x, grad_padded[..., : taps - 1], grad_weight, grad_bias


def conv_kernels(kernel: str):
    """The (forward, backward) named `kernel`: "cpu" (compiled) or "torch"."""
    if kernel == "cpu":
        from .causal_conv_cpu import cpu_causal_conv_silu, cpu_causal_conv_silu_backward

        return cpu_causal_conv_silu, cpu_causal_conv_silu_backward
    return torch_conv, torch_conv_backward


class _CausalConvSiLU(torch.autograd.Function):
    """Saves its inputs only: the convolution is recomputed in the backward."""

    @staticmethod
    def forward(x, window, weight, bias, kernel):
        return conv_kernels(kernel)[0](x, window, weight, bias)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:4])
        ctx.kernel = inputs[4]

    @staticmethod
    def backward(ctx, grad_out):
        grads = _CausalConvSiLUGradient.apply(*ctx.saved_tensors, grad_out, ctx.kernel)
        return *grads, None

    @staticmethod
    def vmap(info, in_dims, *inputs):
        return vmap_over_batch(_CausalConvSiLU, info, in_dims, *inputs)


class _CausalConvSiLUGradient(torch.autograd.Function):
    """The backward pass as a node of its own, with its own vmap rule (as the scans')."""

    @staticmethod
    def forward(x, window, weight, bias, grad_out, kernel):
        return tuple(conv_kernels(kernel)[1](x, window, weight, bias, grad_out))

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass  # never differentiated

    @staticmethod
    def vmap(info, in_dims, *inputs):
        return vmap_over_batch(_CausalConvSiLUGradient, info, in_dims, *inputs)


def causal_conv_silu(x, window, weight, bias, kernel: str = "torch"):
    """SiLU of the causal depthwise convolution of x (B, T, d_inner) after the window (B,
    d_inner, K - 1), with taps weight (d_inner, K) and bias (d_inner), by the kernels `kernel`:
    the output (B, T, d_inner), contiguous and in x's dtype (computed in float32, float64 if
    given), and the new window, the last K - 1 steps of window and x."""
    batch, T, _ = x.shape
    taps = weight.shape[-1]
    inputs = in_scan_precision(x, window, weight, bias)
    rows = inputs[2].expand(batch, *weight.shape), inputs[3].expand(batch, *bias.shape)
    out = _CausalConvSiLU.apply(*inputs[:2], *rows, kernel).to(x.dtype)
    tail = torch.cat([window, x[:, max(0, T - taps + 1) :].transpose(1, 2)], dim=-1)
    return out, tail[..., tail.shape[-1] - (taps - 1) :]  # (B, d_inner, K - 1)
