"""Small float64 backbones, stepping through a sequence, and the error measure the exact-parity
tests share."""

import torch

from agents import build_backbone


def small_backbone(name: str, **overrides):
    """A two-layer float64 backbone without dropout: small enough for exact checks in seconds."""
    torch.manual_seed(0)
    params = {"d_model": 16, "n_layers": 2, "dropout": 0.0} | overrides
    return build_backbone(name, **params).double().eval()


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).abs().max() / expected.abs().max()).item()


def run_steps(backbone, x, state):
    """`backbone.step` over x[:, 0], x[:, 1], ...: the outputs stacked (B, T, D) and the state."""
    outputs = []
    for t in range(x.shape[1]):
        y_t, state = backbone.step(x[:, t], state)
        outputs.append(y_t)
    return torch.stack(outputs, dim=1), state
