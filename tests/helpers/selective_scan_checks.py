"""Mamba layers and selective-scan inputs in float64, and the checks every backend of the
selective scan is held to against another (the reference, or the torch backend): outputs, the
carried state and every gradient; members under vmap; bf16 inputs."""

import copy

import torch
from torch.func import functional_call, grad, stack_module_state, vmap

from agents.kernels.selective_scan import selective_scan
from agents.mamba import MambaConfig
from tests.helpers.numerics import relative_error

BATCH, WIDTH = 2, 16  # d_inner 32


def scan_inputs(batch, T, d_inner, N, device=None, rank=3) -> list[torch.Tensor]:
    """Random inputs of `selective_scan` but h0: x, dt_low, dt_weight, dt_bias, A, B, C, D, z."""
    x, z = (torch.randn(batch, T, d_inner, device=device) for _ in range(2))
    dt_low = torch.randn(batch, T, rank, device=device)
    dt_weight = torch.randn(d_inner, rank, device=device) / rank**0.5
    dt_bias = torch.randn(d_inner, device=device)
    B, C = (torch.randn(batch, T, N, device=device) for _ in range(2))
    A = -torch.rand(d_inner, N, device=device) - 0.1
    return [x, dt_low, dt_weight, dt_bias, A, B, C, torch.rand(d_inner, device=device), z]


def mamba_layer(scan: str, seed: int = 0, d_state: int = 4) -> torch.nn.Module:
    torch.manual_seed(seed)
    layer = MambaConfig(d_model=WIDTH, d_state=d_state, scan=scan).make_mixer().double()
    with torch.no_grad():  # larger steps than the initial ones, so that the state matters
        layer.dt_proj.bias.add_(1.0)
    return layer


def carried_state(layer: torch.nn.Module, device) -> tuple[torch.Tensor, ...]:
    """A state as a previous chunk would leave it: random conv window and h."""
    torch.manual_seed(1)
    return tuple(torch.randn_like(s).to(device) for s in layer.initial_state(BATCH))


def weighted_loss(y: torch.Tensor, final_state: tuple) -> torch.Tensor:
    """A loss that reaches every output and both parts of the carried state."""
    loss = 0.0
    for tensor, low in ((y, -1.0), *((s, 1.0) for s in final_state)):
        weights = torch.linspace(low, 2.0, tensor.numel(), dtype=tensor.dtype, device=tensor.device)
        loss = loss + (tensor * weights.view_as(tensor)).sum()
    return loss


def outputs_and_gradients(layer, x, state) -> list[torch.Tensor]:
    """y, the final state, and the gradients of x, the initial state and every parameter."""
    inputs = x.clone().requires_grad_()
    start = tuple(s.clone().requires_grad_() for s in state)
    y, final = layer.forward_chunk(inputs, start)
    gradients = torch.autograd.grad(weighted_loss(y, final), [inputs, *start, *layer.parameters()])
    return [y, *final, *gradients]


def assert_layers_agree(scan: str, reference_scan: str, length: int, device, tolerance: float):
    reference = mamba_layer(reference_scan).to(device)
    layer = mamba_layer(scan).to(device)
    x = torch.randn(BATCH, length, WIDTH, dtype=torch.float64, device=device)
    state = carried_state(layer, device)
    actual, expected = (
        outputs_and_gradients(layer, x, state),
        outputs_and_gradients(reference, x, state),
    )
    for got, want in zip(actual, expected, strict=True):
        assert relative_error(got, want) <= tolerance


def assert_one_output_alone_agrees(scan: str, reference_scan: str, used: str):
    """A loss of the output alone, or of the final state alone: autograd hands the scan no
    gradient for the other one, which the scan takes as zero. The gradients of x and of every
    parameter match the reference scan's."""
    gradients = []
    for kind in (scan, reference_scan):
        layer = mamba_layer(kind)
        x = torch.randn(
            BATCH, 9, WIDTH, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
        )
        x.requires_grad_()
        y, (_, h) = layer.forward_chunk(x, layer.initial_state(BATCH))
        loss = (y if used == "output" else h).square().sum()
        # zeros for parameters that only reach the unused output
        inputs = [x, *layer.parameters()]
        gradients.append(
            torch.autograd.grad(loss, inputs, allow_unused=True, materialize_grads=True)
        )
    for got, want in zip(*gradients, strict=True):  # to 1e-9 of the largest, or exactly zero
        torch.testing.assert_close(got, want, rtol=0, atol=1e-9 * want.abs().max().item())


class ForwardChunk(torch.nn.Module):
    """A layer's forward_chunk as a module's forward, for functional_call."""

    def __init__(self, layer: torch.nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x, state):
        return self.layer.forward_chunk(x, state)


def members_agree(scan: str, device, tolerance: float):
    """vmap over stacked members (torch.func, as training several seeds does) matches each
    member run alone: outputs, final states and the gradients of parameters and initial state."""
    members = [ForwardChunk(mamba_layer(scan, seed=seed)).to(device) for seed in range(3)]
    params, buffers = stack_module_state(members)
    skeleton = copy.deepcopy(members[0]).to("meta")
    x = torch.randn(BATCH, 37, WIDTH, dtype=torch.float64, device=device)  # shared: not vmapped
    states = [carried_state(member.layer, device) for member in members]
    stacked_states = tuple(torch.stack(parts) for parts in zip(*states, strict=True))

    def run(p, b, state):
        return functional_call(skeleton, (p, b), (x, state))

    def loss(p, b, state):
        return weighted_loss(*run(p, b, state))

    y, final = vmap(run, randomness="error")(params, buffers, stacked_states)
    grad_params, grad_state = vmap(grad(loss, argnums=(0, 2)), randomness="error")(
        params, buffers, stacked_states
    )
    for i, member in enumerate(members):
        start = tuple(s.clone().requires_grad_() for s in states[i])
        y_i, final_i = member(x, start)
        names, weights = zip(*member.named_parameters(), strict=True)
        expected = [y_i, *final_i]
        expected += torch.autograd.grad(weighted_loss(y_i, final_i), [*start, *weights])
        actual = [y[i], *(s[i] for s in final), *(g[i] for g in grad_state)]
        actual += [grad_params[name][i] for name in names]
        for got, want in zip(actual, expected, strict=True):
            assert relative_error(got, want) <= tolerance


def bf16_inputs_scan_in_float32(kernel: str, device):
    """bf16 inputs: the scan `kernel` computes in float32 and agrees with the torch scan given
    the same bf16 values; the gradients come back in bf16."""
    torch.manual_seed(0)
    batch, T, d_inner, N = 2, 20, 24, 16
    inputs = scan_inputs(batch, T, d_inner, N, device)
    h0 = torch.rand(batch, d_inner, N, device=device)
    halves = [t.bfloat16().requires_grad_() for t in inputs]
    fast, reference = selective_scan(*halves, h0, impl=kernel), selective_scan(*halves, h0, "torch")
    assert all(t.dtype == torch.float32 for t in fast)
    for got, want in zip(fast, reference, strict=True):
        assert (got - want).abs().max() <= 1e-5 * want.abs().max()
    weights = torch.randn_like(fast[0])
    gradients = [torch.autograd.grad((out * weights).sum(), halves) for out, _ in (fast, reference)]
    for got, want in zip(*gradients, strict=True):
        assert got.dtype == torch.bfloat16
        assert (got - want).float().abs().max() <= 1e-2 * want.float().abs().max()
