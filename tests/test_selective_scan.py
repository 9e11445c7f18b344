"""Mamba's fused selective scan against the reference scan (the states of every step
materialised): values, every gradient and the carried state in float64; members under vmap;
float32 under bf16 autocast; its memory; and the `scan` setting's checks."""

import copy

import pytest
import torch
from torch.func import functional_call, grad, stack_module_state, vmap

import agents.mamba
import agents.selective_scan
from agents.mamba import MambaConfig
from agents.selective_scan import selective_scan
from agents.triton_support import interpreting, triton_imports
from infra.errors import ConfigError, InputError
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


@pytest.mark.parametrize("used", ["output", "final state"])
def test_one_output_alone(used):
    assert_one_output_alone_agrees("fused", "reference", used)


@pytest.fixture(params=["whole", "small chunks"])
def chunking(request, monkeypatch) -> str:
    """The default chunking (one chunk at this size), or chunks of 3 steps and segments of 9."""
    if request.param == "small chunks":
        monkeypatch.setattr(agents.selective_scan, "CHUNK_ELEMENTS", 3 * BATCH * 2 * WIDTH * 4)
        monkeypatch.setattr(agents.selective_scan, "SEGMENT_STEPS", 8)
    return request.param


@pytest.mark.parametrize("length", [1, 7, 70])
def test_fused_matches_the_reference(chunking, length):
    assert_layers_agree("fused", "reference", length, torch.device("cpu"), tolerance=1e-9)


def test_gradients_of_every_input_match_finite_differences(monkeypatch):
    """A, D and h0 as well, across chunk and segment boundaries (chunks of 2, segments of 4)."""
    monkeypatch.setattr(agents.selective_scan, "CHUNK_ELEMENTS", 2 * 2 * 3 * 2)
    monkeypatch.setattr(agents.selective_scan, "SEGMENT_STEPS", 4)
    torch.manual_seed(0)
    batch, T, d_inner, N = 2, 9, 3, 2

    def inputs(*shape, low=-1.0):
        return (low + (1 - low) * torch.rand(*shape, dtype=torch.float64)).requires_grad_()

    x, z, dt_low = inputs(batch, T, d_inner), inputs(batch, T, d_inner), inputs(batch, T, 2)
    dt_weight, dt_bias = inputs(d_inner, 2), inputs(d_inner)
    A, D = inputs(d_inner, N, low=-2.0), inputs(d_inner)
    B, C, h0 = inputs(batch, T, N), inputs(batch, T, N), inputs(batch, d_inner, N)
    step_size = dt_low, dt_weight, dt_bias
    assert torch.autograd.gradcheck(selective_scan, (x, *step_size, A, B, C, D, z, h0))


def test_nothing_of_the_size_of_all_states_is_saved():
    """Saved for backward: inputs and every 64th state, nothing of (B, T, d_inner, N)."""
    layer = mamba_layer("fused", d_state=16).float()
    x = torch.randn(BATCH, 256, WIDTH)
    largest = []

    def pack(tensor):
        largest.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        layer(x).sum().backward()
    all_states = BATCH * 256 * layer.d_inner * layer.d_state
    assert max(largest) * 16 <= all_states  # the largest: x and z, (B, T, d_inner) each


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


def test_vmap_over_members_matches_each_member():
    members_agree("fused", torch.device("cpu"), tolerance=1e-12)


def bf16_inputs_scan_in_float32(kernel: str, device):
    """bf16 inputs: the scan `kernel` computes in float32 and agrees with the fused scan given
    the same bf16 values; the gradients come back in bf16."""
    torch.manual_seed(0)
    batch, T, d_inner, N = 2, 20, 24, 16
    inputs = scan_inputs(batch, T, d_inner, N, device)
    h0 = torch.rand(batch, d_inner, N, device=device)
    halves = [t.bfloat16().requires_grad_() for t in inputs]
    fast, reference = selective_scan(*halves, h0, kernel=kernel), selective_scan(*halves, h0)
    assert all(t.dtype == torch.float32 for t in fast)
    for got, want in zip(fast, reference, strict=True):
        assert (got - want).abs().max() <= 1e-5 * want.abs().max()
    weights = torch.randn_like(fast[0])
    gradients = [torch.autograd.grad((out * weights).sum(), halves) for out, _ in (fast, reference)]
    for got, want in zip(*gradients, strict=True):
        assert got.dtype == torch.bfloat16
        assert (got - want).float().abs().max() <= 1e-2 * want.float().abs().max()


def test_bf16_autocast_scans_in_float32(device):
    """Under autocast the projections give bf16; the scan computes and returns float32, the
    same numbers as when given those bf16 values as float32."""
    torch.manual_seed(0)
    batch, T, d_inner, N = 2, 50, 8, 4
    h0 = torch.rand(batch, d_inner, N, device=device)
    halves = [t.bfloat16() for t in scan_inputs(batch, T, d_inner, N, device)]
    out, h = selective_scan(*halves, h0)
    assert out.dtype == h.dtype == torch.float32
    out_float, h_float = selective_scan(*(t.float() for t in halves), h0)
    assert torch.equal(out, out_float) and torch.equal(h, h_float)


def test_auto_is_the_fused_scan_on_cpu_without_the_compiled_one(monkeypatch):
    monkeypatch.setattr(agents.mamba, "cpu_kernel_ready", lambda: False)
    layer = MambaConfig(d_model=8).make_mixer()
    assert layer.scan == "auto" and layer.scan_kind(torch.zeros(1, 2, 16)) == "fused"


def test_an_unknown_scan_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"MambaConfig\.scan: got 'sequential'") as error:
        MambaConfig(scan="sequential")
    assert "\n" not in str(error.value) and "'reference'" in str(error.value)


@pytest.mark.skipif(triton_imports(), reason="Triton is installed")
def test_triton_without_triton_says_how_to_install_it():
    with pytest.raises(ConfigError, match=r'needs Triton: pip install -e "\.\[triton\]"'):
        MambaConfig(scan="triton")


@pytest.mark.skipif(not triton_imports() or interpreting(), reason="needs Triton, no interpreter")
def test_triton_without_cuda_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match='scan "triton" needs a CUDA device') as error:
        MambaConfig(scan="triton")
    assert "\n" not in str(error.value)


@pytest.mark.skipif(not triton_imports() or interpreting(), reason="needs Triton, no interpreter")
def test_triton_on_a_cpu_tensor_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a CUDA machine, CPU tensors
    layer = MambaConfig(d_model=8, scan="triton").make_mixer()
    with pytest.raises(InputError, match='scan "triton" runs on CUDA tensors only') as error:
        layer(torch.zeros(1, 2, 8))
    assert "\n" not in str(error.value)
