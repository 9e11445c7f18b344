"""The Triton scan backend (fla-core): which scan runs where, and parity with the chunked scan."""

import pytest
import torch
from torch.func import grad, vmap

import agents.fla_scan
from agents import build_backbone
from agents.fla_scan import _TritonScan, fla_available
from agents.scan import linear_scan
from tests.conftest import relative_error, small_backbone

needs_fla_on_cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and fla_available()), reason="needs CUDA and fla-core"
)


@pytest.mark.parametrize("name", ["min-gru", "min-lstm"])
def test_auto_is_the_chunked_scan_on_cpu(name):
    mixer = build_backbone(name, d_model=8, n_layers=1).blocks[0].mixer
    assert mixer.scan == "auto"
    assert mixer.scan_kind(torch.zeros(1, 2, 8)) == "chunked"


@pytest.mark.skipif(fla_available(), reason="fla-core is installed")
def test_triton_without_fla_core_says_how_to_install_it():
    with pytest.raises(ValueError, match=r'pip install -e "\.\[cuda\]"'):
        build_backbone("min-gru", scan="triton")


@pytest.mark.skipif(not fla_available(), reason="needs fla-core")
def test_triton_on_a_cpu_tensor_is_refused():
    backbone = build_backbone("min-gru", d_model=8, n_layers=1, scan="triton")
    with pytest.raises(ValueError, match="CUDA tensors only"):
        backbone(torch.zeros(1, 2, 8))


@needs_fla_on_cuda
def test_auto_is_the_triton_scan_on_cuda():
    mixer = build_backbone("min-gru", d_model=8, n_layers=1).blocks[0].mixer
    assert mixer.scan_kind(torch.zeros(1, 2, 8, device="cuda")) == "triton"


@needs_fla_on_cuda
@pytest.mark.parametrize("length", [1, 7, 300])
@pytest.mark.parametrize("name", ["min-gru", "min-lstm"])
def test_triton_matches_the_chunked_scan(name, length):
    """Values and gradients (a carried initial state included), float32 on CUDA."""
    chunked = small_backbone(name, scan="chunked").float().cuda()
    triton = small_backbone(name, scan="triton").float().cuda()
    triton.load_state_dict(chunked.state_dict())
    x = torch.randn(2, length, 16, device="cuda")
    h0 = [s[0].uniform_(0.1, 1.0) for s in chunked.initial_state(2)]

    def outputs_and_gradients(backbone):
        inputs = x.clone().requires_grad_()
        state = tuple((h.clone().requires_grad_(),) for h in h0)
        y, final = backbone.forward_chunk(inputs, state)
        weights = torch.linspace(-1, 1, y.numel(), device="cuda").view_as(y)
        loss = (y * weights).sum() + sum(h.sum() for (h,) in final)
        leaves = [inputs, *(h for (h,) in state), *backbone.parameters()]
        return [y, *torch.autograd.grad(loss, leaves)]

    fast, reference = outputs_and_gradients(triton), outputs_and_gradients(chunked)
    for fast_tensor, reference_tensor in zip(fast, reference, strict=True):
        assert relative_error(fast_tensor, reference_tensor) <= 1e-4


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
    monkeypatch.setattr(agents.fla_scan, "fla_kernels", lambda: kernels)
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

    wrapped, reference = outputs_and_gradients(_TritonScan.apply), outputs_and_gradients(chunked)
    for wrapped_tensor, reference_tensor in zip(wrapped, reference, strict=True):
        assert relative_error(wrapped_tensor, reference_tensor) <= 1e-12
