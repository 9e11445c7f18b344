"""train.py end to end on a tiny dataset: every backbone, both rollout modes, logs, resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
from agents import BACKBONES
from agents.checkpoint import load_model
from infra.checkpoint_files import load_checkpoint
from tests.helpers.paths import REPOSITORY
from tests.helpers.training_runs import TINY, error_of, run


@pytest.mark.parametrize("mode", ["recurrent", "windowed"])
@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_every_backbone_trains_and_evaluates(
    tmp_path, tiny_dataset, short_episodes, backbone, mode
):
    run_dir = run(
        tmp_path / "run",
        tiny_dataset,
        "--steps",
        "3",
        "--eval-episodes",
        "2",
        "--eval-every",
        "3",
        "--eval-mode",
        mode,
        "--target-returns",
        "500",
        backbone=backbone,
    )
    payload = load_checkpoint(run_dir / "checkpoint.pt")
    assert payload["step"] == 3
    assert payload["config"]["backbone"]["type"] == backbone
    assert payload["dataset"]["env_id"] == "Hopper-v5"
    model = load_model(payload)
    assert model.config.context_length == 5
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved == payload["config"]


def test_tensorboard_holds_losses_charts_eval_and_config(tmp_path, tiny_dataset, short_episodes):
    run_dir = run(
        tmp_path / "run",
        tiny_dataset,
        "--steps",
        "4",
        "--eval-episodes",
        "1",
        "--eval-every",
        "2",
        "--target-returns",
        "1000",
    )
    events = EventAccumulator(str(run_dir))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"losses/action_mse", "charts/learning_rate", "charts/steps_per_second"} <= scalars
    assert {"eval/normalized_score_1000", "eval/return_1000"} <= scalars
    assert [e.step for e in events.Scalars("eval/return_1000")] == [2, 4]
    assert [e.step for e in events.Scalars("losses/action_mse")] == [1, 2, 3, 4]
    assert any("config" in tag for tag in events.Tags()["tensors"])


def test_learning_rate_warms_up_then_holds(tmp_path, tiny_dataset):
    run_dir = run(
        tmp_path / "run",
        tiny_dataset,
        "--steps",
        "4",
        "--eval-episodes",
        "0",
        "--learning-rate",
        "0.01",
    )
    events = EventAccumulator(str(run_dir))
    events.Reload()
    rates = [e.value for e in events.Scalars("charts/learning_rate")]
    assert rates == pytest.approx([0.01, 0.01, 0.01, 0.01])  # warm-up of 2 steps, done at step 1
    assert events.Scalars("losses/action_mse")[0].value > 0


@pytest.mark.parametrize(
    "seeding",
    [
        ["--seed", "3"],
        pytest.param(["--seeds", "3", "5"], marks=pytest.mark.slow, id="members"),
    ],
)
def test_resume_after_sigkill_reproduces_the_uninterrupted_run(tmp_path, tiny_dataset, seeding):
    flags = [
        *TINY,
        "--dataset",
        tiny_dataset,
        "--steps",
        "400",
        "--eval-episodes",
        "0",
        "--checkpoint-every",
        "25",
        *seeding,
    ]
    command = [sys.executable, "train.py", "backbone:min-lstm", *flags]
    environment = os.environ | {"OMP_NUM_THREADS": "1"}
    subprocess.run(
        [*command, "--out-dir", str(tmp_path / "whole")],
        cwd=REPOSITORY,
        env=environment,
        check=True,
        capture_output=True,
    )

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [*command, "--out-dir", str(killed)],
        cwd=REPOSITORY,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # let it run past the checkpoint, so work after it is lost
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted_at = load_checkpoint(killed / "checkpoint.pt")["step"]
    assert 0 < interrupted_at < 400, "the run was not interrupted mid-way"

    subprocess.run(
        [sys.executable, "train.py", "--resume", str(killed)],
        cwd=REPOSITORY,
        env=environment,
        check=True,
        capture_output=True,
    )
    whole = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")
    resumed = load_checkpoint(killed / "checkpoint.pt")
    assert resumed["step"] == 400
    for name, tensor in whole["model"]["state_dict"].items():
        assert torch.equal(tensor, resumed["model"]["state_dict"][name]), name
    events = EventAccumulator(str(killed))
    events.Reload()
    steps = [e.step for e in events.Scalars("losses/action_mse")]
    assert steps == list(range(1, 401)), "TensorBoard steps repeat or skip after the resume"


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--steps", "0"], "--steps must be positive"),
        (["--batch-size", "-1"], "--batch-size must be positive"),
        (["--context-length", "0"], "--context-length must be positive"),
        (["--target-returns", "nan"], "--target-returns must be finite"),
    ],
)
def test_bad_numbers_are_refused_before_anything_is_written(
    tmp_path, tiny_dataset, capsys, flags, expected
):
    out_dir = tmp_path / "run"
    argv = ["--dataset", tiny_dataset, "--out-dir", str(out_dir), *flags]
    assert expected in error_of(capsys, argv)
    assert not out_dir.exists()


def test_invalid_backbone_settings_are_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_status:
        train.main(["--backbone.d-model", "0", "--out-dir", str(tmp_path / "run")])
    assert exit_status.value.code == 2
    assert "d_model and n_layers must be positive" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_unknown_dataset_and_backbone(tmp_path, tiny_dataset, capsys):
    assert "replica/hopper/nothing-v0" in error_of(
        capsys, ["--dataset", "replica/hopper/nothing-v0", "--out-dir", str(tmp_path / "run")]
    )
    assert not (tmp_path / "run").exists()
    with pytest.raises(SystemExit) as exit_status:
        train.main(["backbone:xlstm"])
    assert exit_status.value.code == 2


def test_out_dir_holding_another_run_is_left_alone(tmp_path, tiny_dataset, capsys):
    run_dir = run(tmp_path / "run", tiny_dataset, "--steps", "2", "--eval-episodes", "0")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    message = error_of(
        capsys, ["--dataset", tiny_dataset, "--out-dir", str(run_dir), "--steps", "2"]
    )
    assert "already holds files" in message
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_resume_refuses_changed_settings_and_broken_checkpoints(tmp_path, tiny_dataset, capsys):
    run_dir = run(tmp_path / "run", tiny_dataset, "--steps", "2", "--eval-episodes", "0")
    assert "--batch-size: saved 4, given 8" in error_of(
        capsys, ["--resume", str(run_dir), "--batch-size", "8"]
    )
    assert "--backbone.d-model: saved 16, given 32" in error_of(
        capsys, ["--resume", str(run_dir), "--backbone.d-model", "32"]
    )
    checkpoint = run_dir / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    assert "unreadable checkpoint" in error_of(capsys, ["--resume", str(run_dir), "--steps", "4"])
