"""Mamba's causal depthwise convolution and its SiLU (Fig. 3, left branch), per channel as torch's
conv1d (a cross-correlation) over the input after the carried window:

    pre_t = bias + sum_k w_k x'_{t+k},  out_t = SiLU(pre_t),  x' = [window; x]

with K taps and a window of the K - 1 inputs before x. One autograd node that saves its inputs
only (x: in_proj's output for this branch), and the backward recomputes the convolution. torch's
conv1d and SiLU would save the padded input, the convolution and its SiLU, each (B, T, d_inner).

Backends, each a module with the same pair `forward(x, window, weight, bias) -> out` and
`backward(x, window, weight, bias, grad_out) -> four gradients`, run by the one autograd node
here: "torch" (torch_backend.py, K shifted multiply-adds on any device) and "cpu" (cpu_backend.py,
compiled, CPU tensors only). There is no Triton convolution: "triton" runs torch's. "reference"
(reference.py) is torch's conv1d differentiated by autograd, the oracle. The weight (B, d_inner,
K) and bias (B, d_inner) come expanded along the batch, so that vmap folds members (several
seeds) into the batch, each with its own.
"""

import torch

from infra.errors import UsageError

from .. import available
from ..autograd import GradientFunction, RowwiseFunction
from ..precision import expand_rows, in_scan_precision
from . import cpu_backend, reference, torch_backend

BACKENDS = {"torch": torch_backend, "cpu": cpu_backend}


def resolve(impl: str, x: torch.Tensor) -> str:
    """The backend that runs `impl` on x: "auto" is "cpu" on CPU tensors in eager mode where the
    compiled kernels build, else "torch"; "triton" is "torch" (no Triton convolution). A backend
    that cannot run on x is refused in one line."""
    if impl == "auto":
        eager_on_cpu = x.device.type == "cpu" and not torch.compiler.is_compiling()
        return "cpu" if eager_on_cpu and available.cpu_library_builds() else "torch"
    reason = available.refusal(impl, x.device)
    if reason is not None:
        raise UsageError(f"convolution {reason}")
    return "torch" if impl == "triton" else impl


class _CausalConvSiLU(RowwiseFunction):
    """Saves its inputs only: the convolution is recomputed in the backward."""

    @staticmethod
    def forward(x, window, weight, bias, name):
        return BACKENDS[name].forward(x, window, weight, bias)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:4])
        ctx.name = inputs[4]

    @staticmethod
    def backward(ctx, grad_out):
        grads = _CausalConvSiLUGradient.apply(*ctx.saved_tensors, grad_out, ctx.name)
        return *grads, None


class _CausalConvSiLUGradient(GradientFunction):
    @staticmethod
    def forward(x, window, weight, bias, grad_out, name):
        return tuple(BACKENDS[name].backward(x, window, weight, bias, grad_out))


def causal_conv_silu(x, window, weight, bias, impl: str = "auto"):
    """SiLU of the causal depthwise convolution of x (B, T, d_inner) after the window (B,
    d_inner, K - 1), with taps weight (d_inner, K) and bias (d_inner), by the backend `impl`
    resolves to: the output (B, T, d_inner), contiguous and in x's dtype (computed in float32,
    float64 if given), and the new window, the last K - 1 steps of window and x."""
    name = resolve(impl, x)
    if name == "reference":
        return reference.causal_conv_silu(x, window, weight, bias)
    batch, T, _ = x.shape
    taps = weight.shape[-1]
    inputs = in_scan_precision(x, window, weight, bias)
    channel_minor = name == "cpu"  # as the kernel writes the gradient of the taps
    rows = expand_rows(inputs[2], batch, channel_minor), inputs[3].expand(batch, *bias.shape)
    out = _CausalConvSiLU.apply(*inputs[:2], *rows, name).to(x.dtype)
    tail = torch.cat([window, x[:, max(0, T - taps + 1) :].transpose(1, 2)], dim=-1)
    return out, tail[..., tail.shape[-1] - (taps - 1) :]  # (B, d_inner, K - 1)
