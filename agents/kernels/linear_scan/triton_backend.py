"""The minimal RNNs' scan by Triton kernels of Flash Linear Attention (fla-core, MIT): on CUDA
tensors, or on CPU tensors under Triton's interpreter (available.py).

fla's HGRN recurrence, h_t = exp(g_t) * h_{t-1} + x_t with x, g (B, T, D) and a carried initial
state (B, D), accumulated in fp32, is minGRU's h_t = (1 - z_t) h_{t-1} + z_t h~_t with the log
gate g_t = log(1 - z_t) and x_t = z_t h~_t. Its fused recurrent kernels give gradients to x, g
and the initial state (fla's chunked `chunk_hgrn` gives the initial state none). They are called
through their forward / backward pair, `fused_recurrent_hgrn_fwd` / `_bwd` (fla-core >= 0.3.2),
rather than fla's own autograd.Function, so that the scan gets the same vmap rule as the others.
"""

import functools

import torch
import torch.nn.functional as F

from ..autograd import GradientFunction
from .chunked import ScanNode
from .gates import Cell, g, gate_logit_and_candidate


@functools.cache
def fla_kernels():
    """fla's (forward, backward) pair (resolve() has checked that fla-core imports)."""
    from fla.ops.hgrn.fused_recurrent import fused_recurrent_hgrn_bwd, fused_recurrent_hgrn_fwd

    return fused_recurrent_hgrn_fwd, fused_recurrent_hgrn_bwd


class _TritonScan(ScanNode):
    @staticmethod
    def forward(log_a, b, h0):
        forward_kernel, _ = fla_kernels()
        h, _ = forward_kernel(b.contiguous(), log_a.contiguous(), initial_state=h0.contiguous())
        return h

    @staticmethod
    def backward(ctx, grad_h):
        log_a, h0, h = ctx.saved_tensors
        return _TritonScanGradient.apply(log_a, h0, h, grad_h)


class _TritonScanGradient(GradientFunction):
    @staticmethod
    def forward(log_a, h0, h, grad_h):
        _, backward_kernel = fla_kernels()
        grad_b, grad_log_a, grad_h0 = backward_kernel(
            log_a.contiguous(), h.contiguous(), grad_h.contiguous(), initial_state=h0.contiguous()
        )
        return grad_log_a, grad_b, grad_h0


def triton_scan(log_a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """h_t = exp(log_a_t) * h_{t-1} + b_t. log_a, b (B, T, D); h0 (B, D) -> h (B, T, D)."""
    return _TritonScan.apply(log_a, b, h0)


def gated_scan(projection: torch.Tensor, h0: torch.Tensor, cell: Cell) -> torch.Tensor:
    """The states h (B, T, d_inner) of the gated recurrence (gates.py) by fla's kernels."""
    k, u = gate_logit_and_candidate(projection, cell)
    return triton_scan(-F.softplus(k), torch.sigmoid(k) * g(u), h0)  # log(1 - z_t), z_t h~_t
