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
from .scan import vmap_over_batch


def gate_logit(forget_logit: torch.Tensor, input_logit: torch.Tensor) -> torch.Tensor:
    """log i - log f = log sigmoid(input logit) - log sigmoid(forget logit)."""
    return F.logsigmoid(input_logit).sub_(F.logsigmoid(forget_logit))


class _NormalisedGatedScan(torch.autograd.Function):
    """minGRU's fused scan with minLSTM's gate logit computed inside: saves f, i, u, h0, h."""

    @staticmethod
    def forward(forget_logit, input_logit, candidate, h0):
        return gated_scan_forward(gate_logit(forget_logit, input_logit), candidate, h0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs, output)

    @staticmethod
    def backward(ctx, grad_h):
        forget_logit, input_logit, candidate, h0, h = ctx.saved_tensors
        k = gate_logit(forget_logit, input_logit)
        grad_k, grad_candidate, grad_h0 = gated_scan_backward(k, candidate, h0, h, grad_h)
        # dk/df = -sigmoid(-f), dk/di = sigmoid(-i)
        grad_forget = torch.neg(forget_logit).sigmoid_().mul_(grad_k).neg_()
        grad_input = torch.neg(input_logit).sigmoid_().mul_(grad_k)
        return grad_forget, grad_input, grad_candidate, grad_h0

    @staticmethod
    def vmap(info, in_dims, forget_logit, input_logit, candidate, h0):
        inputs = forget_logit, input_logit, candidate, h0
        return vmap_over_batch(_NormalisedGatedScan, info, in_dims, *inputs)


class MinLSTM(MinGRU):
    n_projections = 3  # forget logit, input logit, candidate

    def gate_logit_and_candidate(self, forget_logit, input_logit, candidate):
        return gate_logit(forget_logit, input_logit), candidate

    def chunked_scan(self, projections: tuple[torch.Tensor, ...], h0: torch.Tensor):
        return _NormalisedGatedScan.apply(*projections, h0)


@dataclass(frozen=True)
class MinLSTMConfig(MinGRUConfig):
    def make_mixer(self) -> nn.Module:
        return MinLSTM(self.d_model, self.expansion_factor, self.scan)
