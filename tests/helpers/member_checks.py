"""Several members (seeds) of one backbone in one call: the check that torch.func.vmap over
stacked parameters gives each member's outputs and gradients, through the scans' vmap rules."""

import copy

import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from agents import build_backbone
from tests.helpers.numerics import relative_error

MEMBERS, LAYERS, BATCH, WIDTH = 3, 2, 2, 16


class Chunk(nn.Module):
    """The backbone's forward_chunk as a module's forward, for functional_call."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x, state):
        return self.backbone.forward_chunk(x, state)


def member(name: str, seed: int, device: torch.device, **overrides) -> Chunk:
    torch.manual_seed(seed)
    backbone = build_backbone(name, d_model=WIDTH, n_layers=LAYERS, dropout=0.0, **overrides)
    return Chunk(backbone).to(device, torch.float64).eval()


def as_state(h: torch.Tensor) -> tuple:
    return tuple((layer,) for layer in h.unbind(0))  # (layers, B, D) -> the stack's state


def weighted_loss(y: torch.Tensor, final_state: tuple) -> torch.Tensor:
    """A loss that reaches every output and the carried state."""
    weights = torch.linspace(-1, 1, y.numel(), dtype=y.dtype, device=y.device).view_as(y)
    return (y * weights).sum() + sum(h.sum() for (h,) in final_state)


def members_agree(name: str, device: torch.device, tolerance: float, **overrides):
    """vmap over stacked members matches each member alone: outputs, gradients of parameters
    and of the initial state."""
    members = [member(name, seed, device, **overrides) for seed in range(MEMBERS)]
    params, buffers = stack_module_state(members)
    skeleton = copy.deepcopy(members[0]).to("meta")
    x = torch.randn(BATCH, 37, WIDTH, dtype=torch.float64, device=device)  # shared, not vmapped
    h0 = 0.1 + torch.rand(MEMBERS, LAYERS, BATCH, WIDTH, dtype=torch.float64, device=device)

    def run(p, b, h):
        return functional_call(skeleton, (p, b), (x, as_state(h)))

    def loss(p, b, h):
        return weighted_loss(*run(p, b, h))

    y, _ = vmap(run, randomness="error")(params, buffers, h0)
    grad_params, grad_h0 = vmap(grad(loss, argnums=(0, 2)), randomness="error")(params, buffers, h0)
    for i, chunk in enumerate(members):
        h0_i = h0[i].clone().requires_grad_()
        y_i, final = chunk(x, as_state(h0_i))
        assert relative_error(y[i], y_i) <= tolerance
        names, weights = zip(*chunk.named_parameters(), strict=True)
        expected = torch.autograd.grad(weighted_loss(y_i, final), [*weights, h0_i])
        actual = [grad_params[n][i] for n in names] + [grad_h0[i]]
        for got, want in zip(actual, expected, strict=True):
            assert relative_error(got, want) <= tolerance
