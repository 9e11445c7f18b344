"""What crosses into the compiled CPU kernels is checked: the four custom ops pass
torch.library.opcheck, run for CPU tensors only, and refuse a wrong dtype or shape in one line
before a pointer is taken; every ctypes entry point has its arguments declared, as csrc/ does."""

import re

import pytest
import torch

from agents.kernels import available, cpu_library
from agents.kernels.precision import expand_rows
from agents.kernels.selective_scan import cpu_backend as scan_cpu

pytestmark = pytest.mark.skipif(not available.cpu_library_builds(), reason="no C++ compiler")
OPS = ["selective_scan", "selective_scan_backward", "causal_conv_silu", "causal_conv_silu_backward"]


def op_inputs(dtype=torch.float64) -> dict[str, tuple]:
    """Arguments of each custom op as the backends pass them: parameters expanded along the batch
    (channel-minor), states read in place, 70 steps (two segments)."""
    generator = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.rand(*shape, generator=generator, dtype=dtype)

    batch, T, d_inner, N, R, K = 2, 70, 8, 4, 2, 4
    x, z, dt_low = rand(batch, T, d_inner), rand(batch, T, d_inner), rand(batch, T, R)
    dt_weight, A = (expand_rows(t, batch, True) for t in (rand(d_inner, R), -rand(d_inner, N)))
    dt_bias, D = (t.expand(batch, d_inner) for t in (rand(d_inner), rand(d_inner)))
    B, C, h0 = rand(batch, T, N), rand(batch, T, N), rand(batch, d_inner, N)
    scan = (x, dt_low, dt_weight, dt_bias, A, B, C, D, z)
    _, h_last, boundaries = scan_cpu.forward(*scan, h0)
    window, weight = rand(batch, d_inner, K - 1), expand_rows(rand(d_inner, K), batch, True)
    conv = (x, window, weight, dt_bias)
    return {
        "selective_scan": (*scan, h0),
        "selective_scan_backward": (*scan, boundaries, rand(batch, T, d_inner), rand(*h0.shape)),
        "causal_conv_silu": conv,
        "causal_conv_silu_backward": (*conv, rand(batch, T, d_inner)),
    }


@pytest.mark.parametrize("name", OPS)
def test_every_custom_op_passes_opcheck(name):
    op = getattr(torch.ops.decision_backbones, name).default
    torch.library.opcheck(op, op_inputs()[name])


@pytest.mark.parametrize("name", OPS)
def test_every_custom_op_runs_for_cpu_tensors_only(name):
    """device_types="cpu": no kernel for CUDA (nor a default one for every device), so a GPU
    tensor gets the dispatcher's error and never a C++ pointer."""
    qualified = f"decision_backbones::{name}"
    assert torch._C._dispatch_has_kernel_for_dispatch_key(qualified, "CPU")
    for key in ("CUDA", "CompositeExplicitAutograd", "CompositeImplicitAutograd"):
        assert not torch._C._dispatch_has_kernel_for_dispatch_key(qualified, key)


def test_a_float64_window_beside_float32_inputs_is_refused_in_one_line():
    """It once came back off by 1.2e37, with no error."""
    x, window, weight, bias = op_inputs(torch.float32)["causal_conv_silu"]
    with pytest.raises(TypeError) as error:
        torch.ops.decision_backbones.causal_conv_silu(x, window.double(), weight, bias)
    message = "causal_conv_silu: window is torch.float64, not torch.float32 as the others"
    assert str(error.value) == message


@pytest.mark.parametrize("name", OPS)
def test_a_wrong_shape_or_dtype_is_refused_before_any_pointer(name):
    """A state of another size and an integer input: what once corrupted the heap."""
    inputs = list(op_inputs()[name])
    last = inputs[-1]
    wrong_shape = [*inputs[:-1], last[:, :1]]
    with pytest.raises(ValueError, match=rf"^{name}: \w+ has shape .*, not ") as error:
        getattr(torch.ops.decision_backbones, name)(*wrong_shape)
    assert "\n" not in str(error.value)
    with pytest.raises(TypeError, match=rf"^{name}: got torch.int64;") as error:
        getattr(torch.ops.decision_backbones, name)(inputs[0].long(), *inputs[1:])


def test_the_entry_points_declare_the_arguments_csrc_defines():
    """SIGNATURES against the extern "C" functions of csrc/: pointers and int64s, counted."""
    sources = "".join(path.read_text() for path in cpu_library.SOURCES.glob("*.cpp"))
    defined = re.findall(r'extern "C" void (\w+)_##suffix\(([^)]*)\)', sources)
    counts = {
        name: (len(re.findall(r"F\*", arguments)), len(re.findall(r"int64_t", arguments)))
        for name, arguments in defined
    }
    assert counts == cpu_library.SIGNATURES
    entry = cpu_library.kernel("causal_conv_silu_forward", torch.float32)
    assert len(entry.argtypes) == sum(cpu_library.SIGNATURES["causal_conv_silu_forward"])
    with pytest.raises(TypeError, match="this function takes at least 16 arguments"):
        entry(0, 0, 0, 0, 0)  # an argument missing: ctypes refuses, nothing reaches C
