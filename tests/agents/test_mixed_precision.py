"""Numerics under reduced precision (docs/training.md, "Devices and numerics"): scans accumulate
in fp32 whatever autocast says, cuDNN/MKL RNNs run outside autocast, S4's complex path casts
itself. Run on --device."""

import copy

import pytest
import torch

from agents import BACKBONES, build_backbone, state_tensors
from tests.helpers.numerics import relative_error, run_steps, small_backbone

SLOW_GATE_LOGIT = -8.0  # z = sigmoid(-8) = 3.4e-4: 1 - z rounds to 1.0 in bf16


def with_slow_gates(name: str) -> torch.nn.Module:
    """A float32 backbone whose every gate logit is SLOW_GATE_LOGIT: each mixer's LayerNorm
    makes channel 0 a constant 1, and only that channel feeds the gate rows of project_in."""
    torch.manual_seed(0)
    backbone = build_backbone(name, d_model=16, n_layers=2, dropout=0.0).eval()
    with torch.no_grad():
        for block in backbone.blocks:
            block.mixer_norm.weight[0], block.mixer_norm.bias[0] = 0.0, 1.0
            weight, d = block.mixer.project_in.weight, block.mixer.d_inner
            if name == "min-gru":  # rows: gate logit k, candidate
                weight[:d] = 0.0
                weight[:d, 0] = SLOW_GATE_LOGIT
            else:  # rows: forget logit f, input logit i, candidate; k = log i - log f
                weight[: 2 * d] = 0.0
                weight[:d, 0] = -SLOW_GATE_LOGIT
                weight[d : 2 * d, 0] = SLOW_GATE_LOGIT
    return backbone


@pytest.mark.parametrize("name", ["min-gru", "min-lstm"])
def test_slow_gates_under_bf16_autocast_match_float64(name, device):
    backbone = with_slow_gates(name)
    reference = copy.deepcopy(backbone).double()
    x = torch.randn(2, 3000, 16, dtype=torch.float64)
    y_reference, state_reference = reference.forward_chunk(x, reference.initial_state(2))

    backbone = backbone.to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        y, state = backbone.forward_chunk(x.float().to(device), backbone.initial_state(2))
    assert relative_error(y.double().cpu(), y_reference) <= 2e-2
    # The states themselves: accumulated in bf16 they would be ~60% off here.
    for h, h_reference in zip(state_tensors(state), state_tensors(state_reference), strict=True):
        assert relative_error(h.double().cpu(), h_reference) <= 2e-2


def test_torch_rnns_run_outside_autocast(device):
    backbone = small_backbone("gru").float().to(device)
    x = torch.randn(2, 7, 16, device=device)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        y = backbone.blocks[0].mixer(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, backbone.blocks[0].mixer(x))


@pytest.mark.parametrize("name", list(BACKBONES))
def test_every_backbone_runs_in_pure_bf16(name, device):
    backbone = small_backbone(name).to(device, torch.bfloat16)
    x = torch.randn(2, 40, 16, device=device, dtype=torch.bfloat16)
    y = backbone(x)
    stepped, state = run_steps(backbone, x[:, :5], backbone.initial_state(2))
    assert y.dtype == stepped.dtype == torch.bfloat16
    assert torch.isfinite(y).all() and torch.isfinite(stepped).all()
    assert all(torch.isfinite(s).all() for s in state_tensors(state))


@pytest.mark.parametrize("name", list(BACKBONES))
def test_step_reproduces_forward_in_float32(name, device):
    """The backbone contract at float32 rounding, on the run's device."""
    backbone = small_backbone(name).float().to(device)
    x = torch.randn(2, 64, 16, device=device)
    stepped, _ = run_steps(backbone, x, backbone.initial_state(2))
    assert relative_error(stepped, backbone(x)) <= 1e-4


@pytest.mark.parametrize("name", list(BACKBONES))
def test_step_reproduces_forward_under_bf16_autocast(name, device):
    """The backbone contract at bf16 rounding: bf16 matrix products, fp32 recurrences."""
    backbone = small_backbone(name).float().to(device)
    x = torch.randn(2, 64, 16, device=device)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        stepped, _ = run_steps(backbone, x, backbone.initial_state(2))
        assert relative_error(stepped.float(), backbone(x).float()) <= 2e-2
