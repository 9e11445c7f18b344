"""Mamba's causal depthwise convolution and its SiLU (Fig. 3, left branch), per channel as torch's
conv1d (a cross-correlation) over the input after the carried window:

    pre_t = bias + sum_k w_k x'_{t+k},  out_t = SiLU(pre_t),  x' = [window; x]

with K taps and a window of the K - 1 inputs before x. One autograd node that saves its inputs
only (x: in_proj's output for this branch), and the backward recomputes the convolution. torch's
conv1d and SiLU would save the padded input, the convolution and its SiLU, each (B, T, d_inner).

Kernels (a forward, backward pair): "cpu", compiled (causal_conv_cpu.py), or "torch", K
shifted multiply-adds on any device. The weight (B, d_inner, K) and bias (B, d_inner) come expanded
along the batch, so that vmap folds members (several seeds) into the batch, each with its own.
"""

import torch
import torch.nn.functional as F

from .scan import GradientFunction, RowwiseFunction, expand_rows, in_scan_precision


def torch_forward(x, window, weight, bias):
    """The pre-activation (B, T, d_inner) and the padded input x' (B, K - 1 + T, d_inner), as K
    shifted multiply-adds over steps with contiguous channels: each row has its own taps, which
    conv1d cannot take in one call."""
    T, taps = x.shape[1], weight.shape[-1]
    padded = torch.cat([window.transpose(1, 2), x], dim=1)  # (B, K - 1 + T, d_inner)
    tap = weight.transpose(1, 2).unsqueeze(2)  # (B, d_inner, K) -> (B, K, 1, d_inner)
    pre = tap[:, 0] * padded[:, :T]
    for k in range(1, taps):
        pre.addcmul_(tap[:, k], padded[:, k : k + T])
    return pre.add_(bias.unsqueeze(1)), padded


def torch_conv(x, window, weight, bias):
    return F.silu(torch_forward(x, window, weight, bias)[0])  # (B, T, d_inner)


def torch_conv_backward(x, window, weight, bias, grad_out):
    """The gradients of x, the window, weight and bias (those two per batch row)."""
    T, taps = x.shape[1], weight.shape[-1]
    pre, padded = torch_forward(x, window, weight, bias)
    grad_pre = torch.ops.aten.silu_backward(grad_out, pre)  # (B, T, d_inner), in one pass
    tap = weight.transpose(1, 2).unsqueeze(2)  # (B, d_inner, K) -> (B, K, 1, d_inner)
    grad_padded = torch.zeros_like(padded)
    for k in range(taps):  # dL/dx'_p = sum_k w_k dL/dpre_{p-k}
        grad_padded[:, k : k + T].addcmul_(tap[:, k], grad_pre)
    # dL/dw_k = sum_t dL/dpre_t x'_{t+k}: (B, d_inner) per tap
    grad_weight = torch.stack([(grad_pre * padded[:, k : k + T]).sum(1) for k in range(taps)], -1)
    grad_window = grad_padded[:, : taps - 1].transpose(1, 2)  # (B, d_inner, K - 1)
    return grad_padded[:, taps - 1 :], grad_window, grad_weight, grad_pre.sum(1)


def conv_kernels(kernel: str):
    """The (forward, backward) named `kernel`: "cpu" (compiled) or "torch"."""
    if kernel == "cpu":
        from .causal_conv_cpu import cpu_causal_conv_silu, cpu_conv_backward

        return cpu_causal_conv_silu, cpu_conv_backward
    return torch_conv, torch_conv_backward


class _CausalConvSiLU(RowwiseFunction):
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


class _CausalConvSiLUGradient(GradientFunction):
    @staticmethod
    def forward(x, window, weight, bias, grad_out, kernel):
        return tuple(conv_kernels(kernel)[1](x, window, weight, bias, grad_out))


def causal_conv_silu(x, window, weight, bias, kernel: str = "torch"):
    """SiLU of the causal depthwise convolution of x (B, T, d_inner) after the window (B,
    d_inner, K - 1), with taps weight (d_inner, K) and bias (d_inner), by the kernels `kernel`:
    the output (B, T, d_inner), contiguous and in x's dtype (computed in float32, float64 if
    given), and the new window, the last K - 1 steps of window and x."""
    batch, T, _ = x.shape
    taps = weight.shape[-1]
    inputs = in_scan_precision(x, window, weight, bias)
    channel_minor = kernel == "cpu"  # as the kernel writes the gradient of the taps
    rows = expand_rows(inputs[2], batch, channel_minor), inputs[3].expand(batch, *bias.shape)
    out = _CausalConvSiLU.apply(*inputs[:2], *rows, kernel).to(x.dtype)
    tail = torch.cat([window, x[:, max(0, T - taps + 1) :].transpose(1, 2)], dim=-1)
    return out, tail[..., tail.shape[-1] - (taps - 1) :]  # (B, d_inner, K - 1)
