"""Mamba's causal convolution and SiLU as one node (kernels/causal_conv/), by its compiled and
its torch backends, against its reference (torch's conv1d and SiLU over the padded input):
values, the new window and every gradient in float64, for inputs shorter than the window and for
one tap, with x a view of a wider tensor as in the layer; and what the Mamba layer saves."""

import pytest
import torch

from agents.kernels import available
from agents.kernels.causal_conv import causal_conv_silu
from agents.mamba import MambaConfig
from agents.min_gru import MinGRUConfig
from tests.helpers.numerics import relative_error

needs_compiler = pytest.mark.skipif(not available.cpu_library_builds(), reason="no C++ compiler")
KERNELS = [pytest.param("cpu", marks=needs_compiler), "torch"]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("taps", [1, 4])
@pytest.mark.parametrize("length", [1, 2, 9, 70])  # 1, 2: shorter than a window of 3
def test_matches_torch_conv1d_and_silu(tiling, kernel, taps, length):
    torch.manual_seed(0)
    batch, d_inner = 3, 32
    # x as a slice of a wider tensor: a view with 2 d_inner per step
    xz = torch.randn(batch, length, 2 * d_inner, dtype=torch.float64, requires_grad=True)
    window = torch.randn(batch, d_inner, taps - 1, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(d_inner, taps, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(d_inner, dtype=torch.float64, requires_grad=True)
    inputs = (xz, window, weight, bias)
    results = []
    for impl in (kernel, "reference"):
        out, new_window = causal_conv_silu(xz[..., :d_inner], window, weight, bias, impl)
        assert out.shape == (batch, length, d_inner) and new_window.shape == window.shape
        loss = (out * torch.linspace(-1, 2, out.numel()).view_as(out)).sum() + new_window.sum()
        results.append([out, new_window, *torch.autograd.grad(loss, inputs)])
    for got, want in zip(*results, strict=True):
        assert got.shape == want.shape
        assert want.numel() == 0 or relative_error(got, want) <= 1e-12  # one tap: no window


def saved_bytes_per_element(layer, x) -> float:
    """Bytes autograd saves for backward per element of x (B, T, D), each storage counted
    once, x and the parameters not counted."""
    excluded = {tensor.untyped_storage().data_ptr() for tensor in (x, *layer.parameters())}
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in excluded:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        layer(x).sum()
    return sum(storages.values()) / x.numel()


@pytest.mark.parametrize("scan", [pytest.param("cpu", marks=needs_compiler), "torch"])
@pytest.mark.parametrize("length", [20, 256])
def test_the_mamba_layer_saves_at_most_three_times_min_grus_bytes(scan, length):
    """in_proj's outputs, x after the convolution, x_proj's output, every 64th state and
    out_proj's input; not the padded input, the convolution, delta, a copy of z or h0. (A batch
    of 16: what is saved of the (d_inner, N) parameter A is then small beside the rest.)"""
    x = torch.randn(16, length, 128)
    mamba = MambaConfig(d_model=128, scan=scan).make_mixer()
    min_gru = MinGRUConfig(d_model=128).make_mixer()
    assert saved_bytes_per_element(mamba, x) <= 3 * saved_bytes_per_element(min_gru, x)
