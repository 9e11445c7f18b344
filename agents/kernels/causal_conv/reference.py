"""The causal depthwise convolution and its SiLU by torch's conv1d, differentiated by autograd:
the oracle the backends are held to, and Mamba's one-step form."""

import torch
import torch.nn.functional as F


def causal_conv_silu(x, window, weight, bias):
    """SiLU(conv1d) of x (B, T, d_inner) after the window (B, d_inner, K - 1), with taps weight
    (d_inner, K) and bias (d_inner): the output (B, T, d_inner), a transposed view, and the new
    window (B, d_inner, K - 1)."""
    T = x.shape[1]
    padded = torch.cat([window, x.transpose(1, 2)], dim=-1)  # (B, d_inner, K - 1 + T)
    out = F.silu(F.conv1d(padded, weight.unsqueeze(1), bias, groups=weight.shape[0]))
    return out.transpose(1, 2), padded[..., T:]  # (B, T, d_inner)
