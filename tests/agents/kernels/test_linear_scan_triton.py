"""The Triton backend of the gated scan (fla-core): which scan runs where, and parity with the
torch backend,
on CUDA (--device cuda) or on CPU tensors under Triton's interpreter (the `triton` tests:
TRITON_INTERPRET=1 python -m pytest -m triton)."""

import pytest
import torch
from torch.func import grad, vmap

from agents import build_backbone
from agents.kernels import available
from agents.kernels.linear_scan import linear_scan, resolve, triton_backend
from infra.errors import ConfigError, InputError
from tests.helpers.member_checks import members_agree
from tests.helpers.numerics import relative_error, small_backbone

needs_fla_on_cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and available.fla_imports()), reason="needs CUDA and fla-core"
)


@pytest.fixture
def fla_device(triton_device) -> torch.device:
    if not available.fla_imports():
        pytest.skip("needs fla-core")
    return triton_device


without_interpreter = pytest.mark.skipif(
    not available.fla_imports() or available.interpreting(), reason="needs fla-core, no interpreter"
)


@pytest.mark.parametrize("name", ["min-gru", "min-lstm"])
def test_auto_is_the_torch_scan_on_cpu(name):
    mixer = build_backbone(name, d_model=8, n_layers=1).blocks[0].mixer
    assert mixer.scan == "auto"
    assert resolve("auto", torch.zeros(1, 2, 8)) == "torch"


@pytest.mark.parametrize("name", ["min-gru", "min-lstm"])
def test_the_old_name_of_the_torch_scan_is_still_read(name):
    """Checkpoints and config.json of earlier runs say "chunked"."""
    assert build_backbone(name, scan="chunked").config.scan == "torch"


@pytest.mark.skipif(available.fla_imports(), reason="fla-core is installed")
@pytest.mark.parametrize("name", ["min-gru", "min-lstm"])
def test_triton_without_fla_core_says_how_to_install_it(name):
    with pytest.raises(ConfigError, match=r'scan "triton" needs .*pip install -e "\.\[triton\]"'):
        build_backbone(name, scan="triton")


@pytest.mark.skipif(
    not available.fla_imports() or available.interpreting(), reason="needs fla-core, no interpreter"
)
def test_triton_without_cuda_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match='scan "triton" needs a CUDA device') as error:
        build_backbone("min-lstm", scan="triton")
    assert "\n" not in str(error.value)


@pytest.mark.skipif(
    not available.fla_imports() or available.interpreting(), reason="needs fla-core, no interpreter"
)
def test_triton_on_a_cpu_tensor_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a CUDA machine, CPU tensors
    backbone = build_backbone("min-gru", d_model=8, n_layers=1, scan="triton")
    with pytest.raises(InputError, match='scan "triton" needs CUDA tensors, not cpu') as error:
        backbone(torch.zeros(1, 2, 8))
    assert "\n" not in str(error.value)


@needs_fla_on_cuda
def test_auto_is_the_triton_scan_on_cuda():
    assert resolve("auto", torch.zeros(1, 2, 8, device="cuda")) == "triton"


def outputs_and_gradients(backbone, x, h0) -> list[torch.Tensor]:
    """y, the final states, and the gradients of x, the initial states and every parameter."""
    inputs = x.clone().requires_grad_()
    state = tuple((h.clone().requires_grad_(),) for h in h0)
    y, final = backbone.forward_chunk(inputs, state)
    weights = torch.linspace(-1, 1, y.numel(), device=y.device).view_as(y)
    loss = (y * weights).sum() + sum(h.sum() for (h,) in final)
    leaves = [inputs, *(h for (h,) in state), *backbone.parameters()]
    return [y, *(h for (h,) in final), *torch.autograd.grad(loss, leaves)]


def triton_and_torch(name: str, device: torch.device):
    chunked = small_backbone(name, scan="torch").float().to(device)
    triton = small_backbone(name, scan="triton").float().to(device)
    triton.load_state_dict(chunked.state_dict())
    return triton, chunked


@pytest.mark.triton
@pytest.mark.parametrize("length", [1, 7, 300])
@pytest.mark.parametrize("name", ["min-gru", "min-lstm"])
def test_triton_matches_the_torch_scan(fla_device, name, length):
    """Values, the carried state, and the gradients of x, the initial state and every
    parameter (so of every input of the scan), float32."""
    triton, chunked = triton_and_torch(name, fla_device)
    x = torch.randn(2, length, 16, device=fla_device)
    h0 = [s[0].uniform_(0.1, 1.0) for s in chunked.initial_state(2)]
    fast, reference = outputs_and_gradients(triton, x, h0), outputs_and_gradients(chunked, x, h0)
    for fast_tensor, reference_tensor in zip(fast, reference, strict=True):
        assert relative_error(fast_tensor, reference_tensor) <= 1e-4


@pytest.mark.triton
@pytest.mark.parametrize("name", ["min-gru", "min-lstm"])
def test_triton_under_bf16_autocast_scans_in_float32(fla_device, name):
    """bf16 projections in, the states computed and carried in float32 as the chunked scan's."""
    triton, chunked = triton_and_torch(name, fla_device)
    x = torch.randn(2, 40, 16, device=fla_device)
    h0 = [s[0].uniform_(0.1, 1.0) for s in chunked.initial_state(2)]
    with torch.autocast(fla_device.type, dtype=torch.bfloat16):
        fast, reference = (
            outputs_and_gradients(triton, x, h0),
            outputs_and_gradients(chunked, x, h0),
        )
    states = slice(1, 1 + len(h0))
    for fast_state, reference_state in zip(fast[states], reference[states], strict=True):
        assert fast_state.dtype == torch.float32
        assert relative_error(fast_state, reference_state) <= 1e-4
    for fast_tensor, reference_tensor in zip(fast, reference, strict=True):  # bf16 rounding
        assert relative_error(fast_tensor.float(), reference_tensor.float()) <= 2e-2


@pytest.mark.triton
@pytest.mark.parametrize("name", ["min-gru", "min-lstm"])
def test_triton_vmap_over_members_matches_each_member(fla_device, name):
    members_agree(name, fla_device, tolerance=1e-6, scan="triton")


def fla_forward_in_torch(x, g, initial_state=None, output_final_state=False):
    """fla's `fused_recurrent_hgrn_fwd`, its kernel's loop written in torch."""
    h, outputs = initial_state, []
    for t in range(x.shape[1]):
        h = torch.exp(g[:, t]) * h + x[:, t]
        outputs.append(h)
    return torch.stack(outputs, dim=1), h if output_final_state else None


def fla_backward_in_torch(g, o, do, dht=None, initial_state=None):
    """fla's `fused_recurrent_hgrn_bwd`, its kernel's loop written in torch: (dx, dg, dh0)."""
    dh, dx, dg = torch.zeros_like(do[:, 0]), torch.empty_like(do), torch.empty_like(do)
    for t in range(do.shape[1] - 1, -1, -1):
        dh = dh + do[:, t]
        dx[:, t] = dh
        dh = dh * torch.exp(g[:, t])
        dg[:, t] = dh * (o[:, t - 1] if t > 0 else initial_state)
    return dx, dg, dh


def test_the_wrapper_of_fla_kernels_on_cpu(monkeypatch):
    """The argument order, gradients and vmap rules around fla's kernels, with the kernels'
    loops written in torch: checkable without CUDA."""
    kernels = (fla_forward_in_torch, fla_backward_in_torch)
    monkeypatch.setattr(triton_backend, "fla_kernels", lambda: kernels)
    log_a = -torch.rand(3, 2, 9, 4, dtype=torch.float64)  # (members, B, T, D)
    b = torch.rand(3, 2, 9, 4, dtype=torch.float64)
    h0 = torch.rand(2, 4, dtype=torch.float64)

    def loss(scan, log_a, b, h0):
        return (scan(log_a, b, h0) * torch.linspace(-1, 1, 9 * 4).view(9, 4)).sum()

    def chunked(log_a, b, h0):
        return linear_scan(log_a.exp(), b, h0)

    def outputs_and_gradients(scan):
        in_dims = (None, 0, 0, None)
        h = vmap(scan, in_dims=in_dims[1:])(log_a, b, h0)
        return h, *vmap(grad(loss, argnums=(1, 2, 3)), in_dims=in_dims)(scan, log_a, b, h0)

    wrapped = outputs_and_gradients(triton_backend.triton_scan)
    reference = outputs_and_gradients(chunked)
    for wrapped_tensor, reference_tensor in zip(wrapped, reference, strict=True):
        assert relative_error(wrapped_tensor, reference_tensor) <= 1e-12
