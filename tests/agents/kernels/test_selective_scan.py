"""Mamba's selective scan by its torch backend against the reference scan (the states of every
step materialised): values, every gradient and the carried state in float64; members under vmap;
float32 under bf16 autocast; its memory; and the `scan` setting's checks."""

from functools import partial

import pytest
import torch

from agents.kernels import available
from agents.kernels.selective_scan import resolve, selective_scan
from agents.kernels.selective_scan import tiling as selective_scan_tiling
from agents.mamba import MambaConfig
from infra.errors import ConfigError, InputError
from tests.helpers.selective_scan_checks import (
    BATCH,
    WIDTH,
    assert_layers_agree,
    assert_one_output_alone_agrees,
    mamba_layer,
    members_agree,
    scan_inputs,
)

without_interpreter = pytest.mark.skipif(
    not available.triton_imports() or available.interpreting(),
    reason="needs Triton, no interpreter",
)


@pytest.mark.parametrize("used", ["output", "final state"])
def test_one_output_alone(used):
    assert_one_output_alone_agrees("torch", "reference", used)


@pytest.mark.parametrize("length", [1, 7, 70])
def test_torch_matches_the_reference(chunking, length):
    assert_layers_agree("torch", "reference", length, torch.device("cpu"), tolerance=1e-9)


def test_gradients_of_every_input_match_finite_differences(monkeypatch):
    """A, D and h0 as well, across chunk and segment boundaries (chunks of 2, segments of 4)."""
    monkeypatch.setattr(selective_scan_tiling, "CHUNK_ELEMENTS", 2 * 2 * 3 * 2)
    monkeypatch.setattr(selective_scan_tiling, "SEGMENT_STEPS", 4)
    torch.manual_seed(0)
    batch, T, d_inner, N = 2, 9, 3, 2

    def inputs(*shape, low=-1.0):
        return (low + (1 - low) * torch.rand(*shape, dtype=torch.float64)).requires_grad_()

    x, z, dt_low = inputs(batch, T, d_inner), inputs(batch, T, d_inner), inputs(batch, T, 2)
    dt_weight, dt_bias = inputs(d_inner, 2), inputs(d_inner)
    A, D = inputs(d_inner, N, low=-2.0), inputs(d_inner)
    B, C, h0 = inputs(batch, T, N), inputs(batch, T, N), inputs(batch, d_inner, N)
    step_size = dt_low, dt_weight, dt_bias
    inputs = (x, *step_size, A, B, C, D, z, h0)
    assert torch.autograd.gradcheck(partial(selective_scan, impl="torch"), inputs)


def test_nothing_of_the_size_of_all_states_is_saved():
    """Saved for backward: inputs and every 64th state, nothing of (B, T, d_inner, N)."""
    layer = mamba_layer("torch", d_state=16).float()
    x = torch.randn(BATCH, 256, WIDTH)
    largest = []

    def pack(tensor):
        largest.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        layer(x).sum().backward()
    all_states = BATCH * 256 * layer.d_inner * layer.d_state
    assert max(largest) * 16 <= all_states  # the largest: x and z, (B, T, d_inner) each


def test_vmap_over_members_matches_each_member():
    members_agree("torch", torch.device("cpu"), tolerance=1e-12)


def test_bf16_autocast_scans_in_float32(device):
    """Under autocast the projections give bf16; the scan computes and returns float32, the
    same numbers as when given those bf16 values as float32."""
    torch.manual_seed(0)
    batch, T, d_inner, N = 2, 50, 8, 4
    h0 = torch.rand(batch, d_inner, N, device=device)
    halves = [t.bfloat16() for t in scan_inputs(batch, T, d_inner, N, device)]
    out, h = selective_scan(*halves, h0, impl="torch")
    assert out.dtype == h.dtype == torch.float32
    out_float, h_float = selective_scan(*(t.float() for t in halves), h0, impl="torch")
    assert torch.equal(out, out_float) and torch.equal(h, h_float)


def test_auto_is_the_torch_scan_on_cpu_without_the_compiled_one(monkeypatch):
    monkeypatch.setattr(available, "cpu_library_builds", lambda: False)
    assert resolve("auto", torch.zeros(1, 2, 16)) == "torch"


def test_the_old_name_of_the_torch_scan_is_still_read():
    """Checkpoints and config.json of earlier runs say "fused"."""
    assert MambaConfig(scan="fused").scan == "torch"


def test_an_unknown_scan_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"MambaConfig\.scan: got 'sequential'") as error:
        MambaConfig(scan="sequential")
    assert "\n" not in str(error.value) and "'reference'" in str(error.value)


@pytest.mark.skipif(available.triton_imports(), reason="Triton is installed")
def test_triton_without_triton_says_how_to_install_it():
    with pytest.raises(ConfigError, match=r'needs Triton: pip install -e "\.\[triton\]"'):
        MambaConfig(scan="triton")


@pytest.mark.skipif(
    not available.triton_imports() or available.interpreting(),
    reason="needs Triton, no interpreter",
)
def test_triton_without_cuda_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match='scan "triton" needs a CUDA device') as error:
        MambaConfig(scan="triton")
    assert "\n" not in str(error.value)


@pytest.mark.skipif(
    not available.triton_imports() or available.interpreting(),
    reason="needs Triton, no interpreter",
)
def test_triton_on_a_cpu_tensor_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a CUDA machine, CPU tensors
    layer = MambaConfig(d_model=8, scan="triton").make_mixer()
    with pytest.raises(InputError, match='scan "triton" needs CUDA tensors, not cpu') as error:
        layer(torch.zeros(1, 2, 8))
    assert "\n" not in str(error.value)
