"""The decision model: step-wise `act` against parallel `forward`, resets, checkpoints."""

import dataclasses

import pytest
import torch

from agents import BACKBONES, DecisionModel, DecisionModelConfig, build_backbone
from agents.checkpoint import load_model, model_payload
from infra.checkpoint_files import CheckpointError, load_checkpoint, save_checkpoint

OBSERVATION_DIM, ACTION_DIM = 5, 3


def small_model(backbone_name: str, layout: str) -> DecisionModel:
    torch.manual_seed(0)
    config = DecisionModelConfig(OBSERVATION_DIM, ACTION_DIM, layout=layout)
    backbone = build_backbone(backbone_name, d_model=16, n_layers=2, dropout=0.0)
    model = DecisionModel(config, backbone).double().eval()
    model.set_observation_statistics(
        torch.randn(OBSERVATION_DIM), torch.rand(OBSERVATION_DIM) + 0.5
    )
    return model


def episode(batch: int, length: int):
    returns_to_go = torch.rand(batch, length, dtype=torch.float64) * 3000
    observations = torch.randn(batch, length, OBSERVATION_DIM, dtype=torch.float64)
    timesteps = torch.arange(length).expand(batch, length)
    return returns_to_go, observations, timesteps


def roll(model, state, returns_to_go, observations, timesteps):
    actions = []
    for t in range(returns_to_go.shape[1]):
        action, state = model.act(state, returns_to_go[:, t], observations[:, t], timesteps[:, t])
        actions.append(action)
    return torch.stack(actions, dim=1), state


@pytest.mark.parametrize("layout", ["interleaved", "stacked"])
@pytest.mark.parametrize("backbone_name", list(BACKBONES))
def test_act_reproduces_forward(backbone_name, layout):
    model = small_model(backbone_name, layout)
    returns_to_go, observations, timesteps = episode(batch=3, length=12)
    actions, _ = roll(model, model.initial_state(3), returns_to_go, observations, timesteps)
    predicted = model(returns_to_go, observations, actions, timesteps)
    torch.testing.assert_close(actions, predicted, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("layout", ["interleaved", "stacked"])
@pytest.mark.parametrize("backbone_name", ["min-gru", "transformer"])
def test_act_past_the_last_timestep_reuses_its_embedding(backbone_name, layout):
    model = small_model(backbone_name, layout)
    model.config = dataclasses.replace(model.config, max_timestep=6)
    returns_to_go, observations, timesteps = episode(batch=2, length=10)
    actions, _ = roll(model, model.initial_state(2), returns_to_go, observations, timesteps)
    predicted = model(returns_to_go, observations, actions, timesteps.clamp(max=5))
    torch.testing.assert_close(actions, predicted, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("layout", ["interleaved", "stacked"])
def test_prediction_does_not_see_the_current_action(layout):
    model = small_model("min-gru", layout)
    returns_to_go, observations, timesteps = episode(batch=2, length=6)
    actions = torch.rand(2, 6, ACTION_DIM, dtype=torch.float64)
    changed = actions.clone()
    changed[:, 3] = -changed[:, 3]
    before = model(returns_to_go, observations, actions, timesteps)
    after = model(returns_to_go, observations, changed, timesteps)
    torch.testing.assert_close(before[:, :4], after[:, :4])
    assert not torch.allclose(before[:, 4:], after[:, 4:])


@pytest.mark.parametrize("layout", ["interleaved", "stacked"])
def test_reset_state_restarts_one_episode(layout):
    model = small_model("transformer", layout)
    returns_to_go, observations, timesteps = episode(batch=2, length=10)
    _, state = roll(
        model, model.initial_state(2), returns_to_go[:, :4], observations[:, :4], timesteps[:, :4]
    )
    state = model.reset_state(state, torch.tensor([True, False]))
    restart_time = timesteps[:, 4:].clone()
    restart_time[0] -= 4  # row 0 starts a new episode at t = 0
    continued, _ = roll(model, state, returns_to_go[:, 4:], observations[:, 4:], restart_time)

    fresh, _ = roll(
        model, model.initial_state(2), returns_to_go[:, 4:], observations[:, 4:], restart_time
    )
    whole, _ = roll(model, model.initial_state(2), returns_to_go, observations, timesteps)
    torch.testing.assert_close(continued[0], fresh[0])
    torch.testing.assert_close(continued[1], whole[1, 4:])


def test_checkpoint_round_trip_rebuilds_the_same_model(tmp_path):
    model = small_model("s4", "stacked").float()
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"model": model_payload(model), "step": 7})
    payload = load_checkpoint(path)  # weights_only=True inside
    restored = load_model(payload)
    returns_to_go, observations, timesteps = (
        t.float() if t.is_floating_point() else t for t in episode(2, 5)
    )
    actions = torch.rand(2, 5, ACTION_DIM)
    torch.testing.assert_close(
        restored(returns_to_go, observations, actions, timesteps),
        model(returns_to_go, observations, actions, timesteps),
    )
    assert payload["step"] == 7 and restored.config == model.config
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary left behind


def test_truncated_or_missing_checkpoints_give_one_line_errors(tmp_path):
    model = small_model("gru", "interleaved")
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"model": model_payload(model)})
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="unreadable checkpoint") as error:
        load_checkpoint(path)
    assert "\n" not in str(error.value)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"something": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(path)


EXECUTED = []


def _run_on_load():
    EXECUTED.append(True)


class CodeOnLoad:
    """Unpickling this calls a function: weights_only loading must refuse it."""

    def __reduce__(self):
        return _run_on_load, ()


def test_checkpoint_refuses_to_execute_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": CodeOnLoad()}, path)
    with pytest.raises(CheckpointError, match="refused.*possibly unsafe"):
        load_checkpoint(path)
    assert not EXECUTED
