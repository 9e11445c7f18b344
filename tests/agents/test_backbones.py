"""The backbone contract (docs/code-map.md, "The backbone contract"), held against every
registered backbone."""

import pytest
import torch

from agents import BACKBONES, build_backbone, reset_rows, state_tensors
from tests.helpers.numerics import relative_error, run_steps, small_backbone

PARITY_TOLERANCE = 1e-9  # float64, relative


def test_design_snippet_runs(backbone_name):
    backbone = build_backbone(backbone_name, d_model=64)
    x = torch.randn(2, 5, 64)
    assert backbone(x).shape == (2, 5, 64)
    state = backbone.initial_state(2)
    y_t, state = backbone.step(x[:, 0], state)
    assert y_t.shape == (2, 64)
    weight = next(backbone.parameters())
    for tensor in state_tensors(state):
        assert tensor.shape[0] == 2 and tensor.device == weight.device


@pytest.mark.parametrize("batch, length", [(1, 1), (2, 7), (3, 64), (2, 150)])
def test_step_reproduces_forward(backbone_name, batch, length):
    backbone = small_backbone(backbone_name)
    x = torch.randn(batch, length, 16, dtype=torch.float64)
    stepped, _ = run_steps(backbone, x, backbone.initial_state(batch))
    assert relative_error(stepped, backbone(x)) <= PARITY_TOLERANCE


def test_steps_are_steps_that_skip_the_first_position_where_asked(backbone_name):
    backbone = small_backbone(backbone_name)
    x = torch.randn(3, 4, 16, dtype=torch.float64)
    _, state = run_steps(
        backbone, torch.randn(3, 5, 16, dtype=torch.float64), backbone.initial_state(3)
    )
    skip_first = torch.tensor([False, True, False])
    y, stepped_state = backbone.steps(x, state, skip_first)
    for row in range(3):
        kept = slice(1, None) if skip_first[row] else slice(None)
        row_state = tuple(tuple(tensor[row : row + 1] for tensor in layer) for layer in state)
        expected, expected_state = run_steps(backbone, x[row : row + 1, kept], row_state)
        torch.testing.assert_close(y[row, kept], expected[0], rtol=1e-9, atol=1e-12)
        for actual, wanted in zip(
            state_tensors(stepped_state), state_tensors(expected_state), strict=True
        ):
            torch.testing.assert_close(actual[row : row + 1], wanted, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("splits", [[1], [5, 6], [17, 40, 41]])
def test_chunks_continue_exactly(backbone_name, splits):
    backbone = small_backbone(backbone_name)
    x = torch.randn(2, 50, 16, dtype=torch.float64)
    state, outputs = backbone.initial_state(2), []
    for chunk in torch.tensor_split(x, splits, dim=1):
        y, state = backbone.forward_chunk(chunk, state)
        outputs.append(y)
    assert relative_error(torch.cat(outputs, dim=1), backbone(x)) <= PARITY_TOLERANCE
    # and the carried state is the one stepping arrives at
    _, stepped_state = run_steps(backbone, x, backbone.initial_state(2))
    for carried, stepped in zip(state_tensors(state), state_tensors(stepped_state), strict=True):
        torch.testing.assert_close(carried, stepped, rtol=1e-9, atol=1e-12)


def test_forward_is_causal(backbone_name):
    backbone = small_backbone(backbone_name)
    x = torch.randn(2, 30, 16, dtype=torch.float64)
    changed = x.clone()
    changed[:, 12:] = torch.randn_like(changed[:, 12:])
    y, y_changed = backbone(x), backbone(changed)
    torch.testing.assert_close(y_changed[:, :12], y[:, :12], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(y_changed[:, 12:], y[:, 12:])


def test_reset_rows_restarts_only_those_rows(backbone_name):
    backbone = small_backbone(backbone_name)
    x = torch.randn(3, 20, 16, dtype=torch.float64)
    _, state = run_steps(backbone, x[:, :8], backbone.initial_state(3))
    rows = torch.tensor([False, True, False])
    state = reset_rows(state, backbone.initial_state(3), rows)
    continued, _ = run_steps(backbone, x[:, 8:], state)

    uninterrupted, _ = run_steps(backbone, x, backbone.initial_state(3))
    fresh, _ = run_steps(backbone, x[:, 8:], backbone.initial_state(3))
    torch.testing.assert_close(continued[rows], fresh[rows], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(continued[~rows], uninterrupted[~rows, 8:], rtol=1e-12, atol=1e-12)


def test_every_parameter_gets_a_gradient(backbone_name):
    backbone = build_backbone(backbone_name, d_model=16, n_layers=2).train()
    x = torch.randn(2, 10, 16)
    y = backbone(x)
    # A random projection: the final LayerNorm's outputs sum to a constant.
    (y * torch.randn_like(y)).sum().backward()
    missing = [n for n, p in backbone.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing, f"no gradient reaches {missing}"


def test_registry_rejects_unknown_names_and_bad_sizes():
    with pytest.raises(ValueError, match="unknown backbone 'xlstm'"):
        build_backbone("xlstm")
    with pytest.raises(ValueError, match="d_model"):
        build_backbone("gru", d_model=0)
    assert set(BACKBONES) == {
        "min-gru",
        "min-lstm",
        "transformer",
        "s4",
        "gru",
        "lstm",
        "aaren",
        "mamba",
    }


def test_transformer_cache_is_exact_past_its_window():
    backbone = small_backbone("transformer", window=4, n_heads=2)
    x = torch.randn(2, 23, 16, dtype=torch.float64)
    stepped, state = run_steps(backbone, x, backbone.initial_state(2))
    assert relative_error(stepped, backbone(x)) <= PARITY_TOLERANCE
    keys = state[0][0]
    assert keys.shape == (2, 4, 16)  # constant memory: the cache never grows past the window
