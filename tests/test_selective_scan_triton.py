"""Mamba's Triton kernels against the fused torch scan: on CUDA (--device cuda), or on CPU
tensors under Triton's interpreter (TRITON_INTERPRET=1 python -m pytest -m triton)."""

import pytest
import torch

from agents.selective_scan import selective_scan
from tests.test_selective_scan import assert_layers_agree, members_agree

pytestmark = pytest.mark.triton


@pytest.mark.parametrize("length", [1, 9, 70])  # 70: two segments of saved states
def test_triton_matches_the_fused_scan(triton_device, length):
    """Values, the final state, and the gradients of x, the initial state and every
    parameter (through every input of the scan), in float64."""
    assert_layers_agree("triton", "fused", length, triton_device, tolerance=1e-9)


def test_bf16_inputs_scan_in_float32(triton_device):
    torch.manual_seed(0)
    batch, T, d_inner, N = 2, 20, 24, 16
    x, delta, z = (torch.randn(batch, T, d_inner, device=triton_device) for _ in range(3))
    B, C = (torch.randn(batch, T, N, device=triton_device) for _ in range(2))
    A = -torch.rand(d_inner, N, device=triton_device) - 0.1
    D, h0 = torch.rand(d_inner, device=triton_device), torch.rand(batch, d_inner, N).to(x)
    halves = [t.bfloat16().requires_grad_() for t in (x, delta, A, B, C, D, z)]
    fast, reference = selective_scan(*halves, h0, kernel="triton"), selective_scan(*halves, h0)
    assert all(t.dtype == torch.float32 for t in fast)
    for got, want in zip(fast, reference, strict=True):
        assert (got - want).abs().max() <= 1e-5 * want.abs().max()
    weights = torch.randn_like(fast[0])
    gradients = [torch.autograd.grad((out * weights).sum(), halves) for out, _ in (fast, reference)]
    for got, want in zip(*gradients, strict=True):
        assert got.dtype == torch.bfloat16
        assert (got - want).float().abs().max() <= 1e-2 * want.float().abs().max()


def test_vmap_over_members_matches_each_member(triton_device):
    members_agree("triton", triton_device, tolerance=1e-9)
