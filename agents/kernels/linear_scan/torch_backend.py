"""The gated scan in torch: the gates and the chunked scan (chunked.py) as one autograd node that
takes project_in's output whole and saves only it, h0 and h (and minLSTM's gate logit), where
autograd through the gates would save every intermediate (B, T, d_inner) tensor."""

import torch

from ..autograd import GradientFunction, RowwiseFunction
from .chunked import scan_gradient, scan_in_place
from .gates import Cell, g, normalised_gate_logit


def gated_scan_forward(gate_logit, candidate, h0) -> torch.Tensor:
    """h_t = sigmoid(-k_t) h_{t-1} + sigmoid(k_t) g(u_t) by the chunked scan, without autograd."""
    a = torch.neg(gate_logit).sigmoid_()  # 1 - z_t
    b = torch.sigmoid(gate_logit).mul_(g(candidate))  # z_t h~_t
    return scan_in_place(a, b, h0)


def gated_scan_backward(gate_logit, candidate, h0, h, grad_h, grad_gate_logit, grad_candidate):
    """Gradients of `gated_scan_forward` given dL/dh: those of k and u written into the last two
    arguments (slices of one tensor, which autograd would otherwise concatenate anew), that of
    h0 returned."""
    a, z = torch.neg(gate_logit).sigmoid_(), torch.sigmoid(gate_logit)
    # dh_t/dk_t = z a (h~_t - h_{t-1}), with h~ = g(u) = sigmoid(min(u, 0)) + max(u, 0); its
    # first factors now, before the scan spends a. Slices are written in place (no out= there).
    s, positive_part = candidate.clamp(max=0).sigmoid_(), candidate.clamp(min=0)
    grad_gate_logit.copy_(s).add_(positive_part)
    grad_gate_logit[:, 1:] -= h[:, :-1]
    grad_gate_logit[:, 0] -= h0
    grad_gate_logit.mul_(z).mul_(a)
    grad_b = scan_gradient(a, grad_h)  # a[:, 1:] is spent, a[:, 0] kept
    grad_h0 = a[:, 0] * grad_b[:, 0]
    grad_gate_logit.mul_(grad_b)
    # dh_t/du_t = z g'(u): g'(u) = sigmoid'(u) = s - s^2 for u < 0, and 0.25 + 0.75 = 1 for u > 0
    g_slope = torch.addcmul(s, s, s, value=-1).add_(positive_part.sign_(), alpha=0.75)
    grad_candidate.copy_(grad_b).mul_(z).mul_(g_slope)
    return grad_h0


class _GatedScan(RowwiseFunction):
    """minGRU's gates and the chunked scan: the projection is (k, u)."""

    @staticmethod
    def forward(projection, h0):
        return gated_scan_forward(*projection.chunk(2, dim=-1), h0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs, output)

    @staticmethod
    def backward(ctx, grad_h):
        return _GatedScanGradient.apply(*ctx.saved_tensors, grad_h)


class _GatedScanGradient(GradientFunction):
    @staticmethod
    def forward(projection, h0, h, grad_h):
        grad_projection = torch.empty_like(projection)
        gate_logit, candidate = projection.chunk(2, dim=-1)
        grad_parts = grad_projection.chunk(2, dim=-1)
        grad_h0 = gated_scan_backward(gate_logit, candidate, h0, h, grad_h, *grad_parts)
        return grad_projection, grad_h0


class _NormalisedGatedScan(RowwiseFunction):
    """minLSTM's: the projection is (f, i, u), and the gate logit k is computed inside and saved:
    recomputing k in backward would cost more than k's bytes (on CPU each fresh (B, T, D) tensor
    costs page faults, as much as softplus does)."""

    @staticmethod
    def forward(projection, h0):
        forget_logit, input_logit, candidate = projection.chunk(3, dim=-1)
        k = normalised_gate_logit(forget_logit, input_logit)
        return gated_scan_forward(k, candidate, h0), k

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs, *output)
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)  # no zeros for k's gradient, never used

    @staticmethod
    def backward(ctx, grad_h, _):
        if grad_h is None:  # h unused
            return None, None
        return _NormalisedGatedScanGradient.apply(*ctx.saved_tensors, grad_h)


class _NormalisedGatedScanGradient(GradientFunction):
    @staticmethod
    def forward(projection, h0, h, k, grad_h):
        forget_logit, input_logit, candidate = projection.chunk(3, dim=-1)
        grad_projection = torch.empty_like(projection)
        grad_forget, grad_input, grad_candidate = grad_projection.chunk(3, dim=-1)
        grad_k = torch.empty_like(k)
        grad_h0 = gated_scan_backward(k, candidate, h0, h, grad_h, grad_k, grad_candidate)
        # dk/df = -sigmoid(-f), dk/di = sigmoid(-i)
        grad_forget.copy_(forget_logit).neg_().sigmoid_().mul_(grad_k).neg_()
        grad_input.copy_(input_logit).neg_().sigmoid_().mul_(grad_k)
        return grad_projection, grad_h0


def gated_scan(projection: torch.Tensor, h0: torch.Tensor, cell: Cell) -> torch.Tensor:
    """The states h (B, T, d_inner) of the gated recurrence, by one fused node."""
    if cell == "gru":
        return _GatedScan.apply(projection, h0)
    return _NormalisedGatedScan.apply(projection, h0)[0]
