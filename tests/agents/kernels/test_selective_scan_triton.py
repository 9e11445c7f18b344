"""Mamba's Triton kernels against the torch scan: on CUDA (--device cuda), or on CPU
tensors under Triton's interpreter (TRITON_INTERPRET=1 python -m pytest -m triton)."""

import pytest

from tests.helpers.selective_scan_checks import (
    assert_layers_agree,
    bf16_inputs_scan_in_float32,
    members_agree,
)

pytestmark = pytest.mark.triton


@pytest.mark.parametrize("length", [1, 9, 70])  # 70: two segments of saved states
def test_triton_matches_the_torch_scan(triton_device, length):
    """Values, the final state, and the gradients of x, the initial state and every
    parameter (through every input of the scan), in float64."""
    assert_layers_agree("triton", "torch", length, triton_device, tolerance=1e-9)


def test_bf16_inputs_scan_in_float32(triton_device):
    bf16_inputs_scan_in_float32("triton", triton_device)


def test_vmap_over_members_matches_each_member(triton_device):
    members_agree("triton", triton_device, tolerance=1e-9)
