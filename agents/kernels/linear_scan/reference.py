"""The paper's reference scan in log space (Feng et al. 2024, Appendix B, `parallel_scan_log`):
h_t = exp(a*_t + logcumsumexp(log b_t - a*_t)) with a*_t = cumsum(log a_t). Exact and stable,
but transcendental functions on every element make it slow on CPU. Autograd differentiates it."""

import torch
import torch.nn.functional as F

from .gates import Cell, gate_logit_and_candidate, log_g


def log_space_scan(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Reference scan in log space. log_a, log_b (B, T, D); h0 (B, D) >= 0 -> h (B, T, D)."""
    a_star = torch.cumsum(log_a, dim=1)  # (B, T, D)
    log_h0 = torch.log(h0).unsqueeze(1)  # (B, 1, D); log(0) = -inf is a valid start
    # h_t = prod(a_1..a_t) * h0 + sum_s prod(a_{s+1}..a_t) * b_s, all terms positive.
    from_inputs = torch.logcumsumexp(log_b - a_star, dim=1)
    return torch.exp(a_star + torch.logaddexp(log_h0, from_inputs))


def gated_scan(projection: torch.Tensor, h0: torch.Tensor, cell: Cell) -> torch.Tensor:
    """The states h (B, T, d_inner) of the gated recurrence (gates.py), in log space."""
    k, u = gate_logit_and_candidate(projection, cell)
    log_a = -F.softplus(k)  # log a_t = log(1 - z_t) (Appendix B)
    return log_space_scan(log_a, -F.softplus(-k) + log_g(u), h0)  # log b_t = log z_t h~_t
