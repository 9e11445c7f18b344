"""minLSTM (Feng et al. 2024, "Were RNNs All We Needed?", Sec. 3.2).

    f_t = sigmoid(Linear_f(x_t)),  i_t = sigmoid(Linear_i(x_t)),  h~_t = g(Linear_h(x_t))
    f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)          normalised gates (Sec. 3.2.3)
    h_t = f'_t * h_{t-1} + i'_t * h~_t

Since f'_t = sigmoid(log f_t - log i_t) and i'_t = 1 - f'_t, this is minGRU's recurrence with
the gate logit k_t = log i_t - log f_t; only that logit differs (Appendix B computes the same
difference in log space).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .min_gru import MinGRU, MinGRUConfig, gated_scan_backward, gated_scan_forward
from .scan import GradientFunction, RowwiseFunction


def gate_logit(forget_logit: torch.Tensor, input_logit: torch.Tensor) -> torch.Tensor:
    """log i - log f = log sigmoid(input logit) - log sigmoid(forget logit), with log sigmoid(y)
    = softplus(y, beta=-1) = -log(1 + exp(-y)): F.logsigmoid allocates a second tensor."""
    return F.softplus(input_logit, beta=-1).sub_(F.softplus(forget_logit, beta=-1))


class _NormalisedGatedScan(RowwiseFunction):
    """minGRU's fused scan with minLSTM's gate logit computed inside. Takes project_in's output
    whole (f, i, u) and saves it, h0, h and the logit k: recomputing k in backward would cost
    more than k's bytes (on CPU each fresh (B, T, D) tensor costs page faults, as much as
    softplus does)."""

    @staticmethod
    def forward(projection, h0):
        forget_logit, input_logit, candidate = projection.chunk(3, dim=-1)
        k = gate_logit(forget_logit, input_logit)
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


class MinLSTM(MinGRU):
    n_projections = 3  # forget logit, input logit, candidate

    def gate_logit_and_candidate(self, projection):
        forget_logit, input_logit, candidate = projection.chunk(3, dim=-1)
        return gate_logit(forget_logit, input_logit), candidate

    def chunked_scan(self, projection: torch.Tensor, h0: torch.Tensor):
        return _NormalisedGatedScan.apply(projection, h0)[0]


@dataclass(frozen=True)
class MinLSTMConfig(MinGRUConfig):
    def make_mixer(self) -> nn.Module:
        return MinLSTM(self.d_model, self.expansion_factor, self.scan)
