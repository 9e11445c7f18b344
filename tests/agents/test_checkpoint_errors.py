"""Checkpoints that cannot be used: each refusal is one whole sentence that says why."""

import pytest
import torch

from agents import DecisionModel, DecisionModelConfig, build_backbone
from agents.checkpoint import load_model, model_payload
from infra.checkpoint_files import CheckpointError, load_checkpoint, save_checkpoint
from tests.helpers.unsafe_pickles import RunsAShellCommand


class Settings:
    """A plain Python object: rebuilding it means running code, which weights-only loading
    refuses."""

    learning_rate = 1e-4


def tiny_payload() -> dict:
    torch.manual_seed(0)
    backbone = build_backbone("min-gru", d_model=8, n_layers=1, dropout=0.0)
    return {"model": model_payload(DecisionModel(DecisionModelConfig(5, 3), backbone))}


def test_a_pickled_object_is_refused_as_unsafe_not_as_corrupted(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save(tiny_payload() | {"settings": Settings()}, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert "objects other than tensors and plain values" in message and "unsafe" in message
    assert "Settings" in message
    assert "corrupted" not in message and "weights_only" not in message


def test_a_checkpoint_that_would_run_a_command_is_refused_as_unsafe(tmp_path, capfd):
    path = tmp_path / "checkpoint.pt"
    torch.save(tiny_payload() | {"hook": RunsAShellCommand()}, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: refused")
    assert "possibly unsafe" in message and "system" in message  # names the global
    assert "corrupted" not in message and "weights_only" not in message
    assert "likely succeed" not in message  # never torch's advice to turn the check off
    assert "this ran" not in capfd.readouterr().out


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_files_are_reported_as_corrupted_or_truncated(tmp_path, damage):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, tiny_payload())
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2] if damage == "truncated" else b"x" * 300)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert "\n" not in message and "corrupted or truncated?" in message
    assert "weights_only" not in message and not message.endswith(":")


def test_weights_that_disagree_with_the_model_description_are_listed():
    payload = tiny_payload()
    state_dict = payload["model"]["state_dict"]
    missing = next(iter(state_dict))
    del state_dict[missing]
    state_dict["stray.weight"] = torch.zeros(2)
    resized = "action_head.0.weight"
    state_dict[resized] = torch.zeros(1, 1)
    with pytest.raises(CheckpointError) as error:
        load_model(payload, source="runs/x/checkpoint.pt")
    message = str(error.value)
    assert message.startswith("runs/x/checkpoint.pt: its weights do not match its model")
    assert f"missing: {missing}" in message and "unexpected: stray.weight" in message
    assert f"size mismatch: {resized} (1, 1) instead of" in message
    assert "\n" not in message and message.endswith(")")
