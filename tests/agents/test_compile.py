"""torch.compile(fullgraph=True) of forward + backward: no graph breaks in the backbones (a
precondition for CUDA graphs), and the compiled model matches eager. gru and lstm are left out:
TorchDynamo does not trace nn.GRU / nn.LSTM (they run eager, one cuDNN call each)."""

import pytest
import torch

from agents import BACKBONES
from tests.helpers.numerics import relative_error, small_backbone

COMPILED = [name for name in BACKBONES if name not in ("gru", "lstm")]


def forward_and_gradients(model, backbone, x, state):
    y, _ = model(x, state)
    weights = torch.linspace(-1, 1, y.numel(), dtype=y.dtype, device=y.device).view_as(y)
    (y * weights).sum().backward()
    gradients = [p.grad.clone() for p in backbone.parameters()]
    backbone.zero_grad()
    return y.detach(), gradients


def check_compiled(name: str, backend: str, device: torch.device):
    torch._dynamo.reset()
    backbone = small_backbone(name).float().to(device)
    x = torch.randn(2, 17, 16, device=device)  # T = 17: whole chunks and a leftover step
    state = backbone.initial_state(2)
    compiled = torch.compile(backbone.forward_chunk, backend=backend, fullgraph=True)
    y_eager, gradients_eager = forward_and_gradients(backbone.forward_chunk, backbone, x, state)
    y, gradients = forward_and_gradients(compiled, backbone, x, state)
    assert relative_error(y, y_eager) <= 1e-5
    for compiled_gradient, eager_gradient in zip(gradients, gradients_eager, strict=True):
        assert relative_error(compiled_gradient, eager_gradient) <= 1e-4

    step = torch.compile(backbone.step, backend=backend, fullgraph=True)
    with torch.no_grad():
        y_t, _ = step(x[:, 0], state)
        assert relative_error(y_t, backbone.step(x[:, 0], state)[0]) <= 1e-5


@pytest.mark.parametrize("name", COMPILED)
def test_compiles_without_graph_breaks(name, device):
    """aot_eager: Dynamo and AOTAutograd as with inductor, without inductor's code generation."""
    check_compiled(name, "aot_eager", device)


@pytest.mark.slow
@pytest.mark.parametrize("name", COMPILED)
def test_compiles_with_inductor(name, device):
    check_compiled(name, "inductor", device)
