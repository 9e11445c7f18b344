"""The gates of minGRU and minLSTM (Feng et al. 2024) in the form every linear-scan backend
takes: h_t = sigmoid(-k_t) h_{t-1} + sigmoid(k_t) g(u_t), from the gate logit k and the
candidate u, both read from project_in's output ("the projection")."""

from typing import Literal

import torch
import torch.nn.functional as F

Cell = Literal["gru", "lstm"]
PROJECTIONS: dict[Cell, int] = {"gru": 2, "lstm": 3}  # (k, u) and (forget, input, u) logits


def g(x: torch.Tensor) -> torch.Tensor:
    """g(x) = x + 0.5 for x >= 0, sigmoid(x) otherwise (Sec. 3.1.3): positive and continuous.
    As sigmoid(min(x, 0)) + max(x, 0): on CPU torch.where and its mask cost 4x as much."""
    return x.clamp(min=0).add_(x.clamp(max=0).sigmoid_())


def log_g(x: torch.Tensor) -> torch.Tensor:
    """log g(x), computed without forming g(x) (Appendix B, `log_g`)."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def normalised_gate_logit(forget_logit: torch.Tensor, input_logit: torch.Tensor) -> torch.Tensor:
    """minLSTM's k = log i - log f (Sec. 3.2.3: f' = f / (f + i) = sigmoid(log f - log i)) =
    log sigmoid(input logit) - log sigmoid(forget logit), with log sigmoid(y) = softplus(y,
    beta=-1) = -log(1 + exp(-y)): F.logsigmoid allocates a second tensor."""
    return F.softplus(input_logit, beta=-1).sub_(F.softplus(forget_logit, beta=-1))


def gate_logit_and_candidate(projection: torch.Tensor, cell: Cell):
    """k and u (B, ..., d_inner) from the projection (B, ..., PROJECTIONS[cell] d_inner)."""
    if cell == "gru":
        return projection.chunk(2, dim=-1)
    forget_logit, input_logit, candidate = projection.chunk(3, dim=-1)
    return normalised_gate_logit(forget_logit, input_logit), candidate
