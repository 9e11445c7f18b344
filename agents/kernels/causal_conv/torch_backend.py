"""The causal convolution and its SiLU in torch, on any device: K shifted multiply-adds, the
backend pair `forward` / `backward` of interface.py's node."""

import torch
import torch.nn.functional as F


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


def forward(x, window, weight, bias):
    return F.silu(torch_forward(x, window, weight, bias)[0])  # (B, T, d_inner)


def backward(x, window, weight, bias, grad_out):
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
