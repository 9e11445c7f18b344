"""Mamba's compiled CPU kernels (csrc/selective_scan.cpp) against the torch scan: values,
every gradient and the carried state in float64, across segments and channel blocks; members
under vmap; bf16 inputs; torch.compile; how "auto" picks them and what a missing compiler gets."""

import subprocess
import sys

import pytest
import torch

from agents.kernels import available
from agents.kernels.selective_scan import resolve, selective_scan
from agents.mamba import MambaConfig
from infra.errors import InputError
from tests.helpers.numerics import relative_error
from tests.helpers.selective_scan_checks import (
    BATCH,
    assert_layers_agree,
    assert_one_output_alone_agrees,
    bf16_inputs_scan_in_float32,
    mamba_layer,
    members_agree,
    scan_inputs,
)

pytestmark = pytest.mark.skipif(not available.cpu_library_builds(), reason="no C++ compiler")


@pytest.mark.parametrize("length", [1, 9, 70])  # 70: two segments of 64, or nine of 8
def test_cpu_kernels_match_the_torch_scan(tiling, length):
    """y, the final state, and the gradients of x, the initial state and every parameter
    (through every input of the scan)."""
    assert_layers_agree("cpu", "torch", length, torch.device("cpu"), tolerance=1e-9)


@pytest.mark.parametrize("used", ["output", "final state"])
def test_one_output_alone(used):
    assert_one_output_alone_agrees("cpu", "reference", used)


@pytest.mark.parametrize("threads", [1, 3])
def test_the_result_does_not_depend_on_the_threads(threads):
    """Work items split among threads: the forward pass is the same bit for bit; the gradients
    of B, C and dt_low, summed per block of channels (blocks narrow with more threads), agree."""
    layer, x = mamba_layer("cpu"), torch.randn(3, 40, 16, dtype=torch.float64, requires_grad=True)
    previous = torch.get_num_threads()
    try:
        results = []
        for count in (2, threads):
            torch.set_num_threads(count)
            y = layer(x)
            results.append([y, *torch.autograd.grad(y.square().sum(), [x, *layer.parameters()])])
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(results[0][0], results[1][0])
    for got, want in zip(*results, strict=True):
        assert relative_error(got, want) <= 1e-12


def test_float32_matches_the_torch_scan():
    """Its exp is a polynomial (relative error < 2e-7): float32 agrees to float32's accuracy."""
    torch.manual_seed(0)
    batch, T, d_inner, N = 3, 100, 40, 16
    inputs = [*scan_inputs(batch, T, d_inner, N), torch.rand(batch, d_inner, N)]
    inputs[4] = -torch.rand(d_inner, N) * 8 - 0.1  # A: gates down to exp(-8 Delta)
    inputs = [t.requires_grad_() for t in inputs]
    compiled, fused = selective_scan(*inputs, impl="cpu"), selective_scan(*inputs, impl="torch")
    for got, want in zip(compiled, fused, strict=True):
        assert (got - want).abs().max() <= 1e-5 * want.abs().max()
    weights = torch.randn_like(fused[0])
    gradients = [torch.autograd.grad((out * weights).sum(), inputs) for out, _ in (compiled, fused)]
    for got, want in zip(*gradients, strict=True):
        assert (got - want).abs().max() <= 1e-4 * want.abs().max()


def test_bf16_inputs_scan_in_float32():
    bf16_inputs_scan_in_float32("cpu", torch.device("cpu"))


def test_vmap_over_members_matches_each_member():
    members_agree("cpu", torch.device("cpu"), tolerance=1e-12)


def test_torch_compile_keeps_the_kernels_in_one_graph():
    """Registered as custom ops: fullgraph tracing passes through them, forward and backward."""
    layer = mamba_layer("cpu")
    x = torch.randn(BATCH, 21, 16, dtype=torch.float64, requires_grad=True)
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    expected = torch.autograd.grad(layer(x).sum(), x)[0]
    assert torch.allclose(torch.autograd.grad(compiled(x).sum(), x)[0], expected, rtol=1e-12)


def test_auto_is_the_compiled_scan_on_cpu():
    assert MambaConfig(d_model=8).make_mixer().scan == "auto"
    assert resolve("auto", torch.zeros(1, 2, 16)) == "cpu"


def test_a_cpu_scan_on_another_device_is_refused_in_one_line():
    with pytest.raises(InputError, match='scan "cpu" runs on CPU tensors only, not meta'):
        selective_scan(*scan_inputs(1, 2, 3, 4, device="meta"), torch.zeros(1, 3, 4), impl="cpu")


NO_COMPILER = """
import warnings, torch
from agents.kernels.selective_scan import resolve
from agents.mamba import MambaConfig
from infra.errors import ConfigError
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    kind = resolve("auto", torch.zeros(1, 2, 16))
print(kind)
print(*(str(w.message) for w in caught), sep="\\n")
try:
    MambaConfig(scan="cpu")
except ConfigError as error:
    print(error)
"""


def test_without_a_compiler_auto_falls_back_and_cpu_is_refused(tmp_path):
    """A fresh process with CXX naming no compiler and an empty cache: "auto" says once why it
    takes the torch scan; scan="cpu" is refused by the config, in one line."""
    environment = {"CXX": "no-such-compiler", "XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin"}
    printed = subprocess.run(
        [sys.executable, "-c", NO_COMPILER],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        cwd=available.__file__.rsplit("/agents/", 1)[0],
    ).stdout.splitlines()
    assert printed[0] == "torch"
    assert printed[1].startswith("Mamba's compiled CPU kernels are unavailable, using torch's")
    assert "CXX=no-such-compiler not found" in printed[1]
    assert printed[2] == (
        'MambaConfig.scan "cpu" cannot be used here: no C++ compiler: CXX=no-such-compiler not '
        'found on PATH (set CXX to one); use "torch"'
    )
    assert not list(tmp_path.iterdir())  # nothing half-built
