import pytest
import torch

from agents import BACKBONES, build_backbone


@pytest.fixture(params=list(BACKBONES))
def backbone_name(request) -> str:
    return request.param


def small_backbone(name: str, **overrides):
    """A two-layer float64 backbone without dropout: small enough for exact checks in seconds."""
    torch.manual_seed(0)
    params = {"d_model": 16, "n_layers": 2, "dropout": 0.0} | overrides
    return build_backbone(name, **params).double().eval()


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).abs().max() / expected.abs().max()).item()


def state_tensors(state) -> list[torch.Tensor]:
    """The tensors of a (nested tuple) state, in order."""
    if isinstance(state, torch.Tensor):
        return [state]
    return [tensor for part in state for tensor in state_tensors(part)]
