"""train.py when things go wrong: signals, logs without a terminal, kills mid-write, resume edges,
bad devices and checkpoints, and what TensorBoard keeps."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
import training.single_model
from agents.checkpoint import load_model
from datasets import load_dataset
from infra.checkpoint_files import load_checkpoint, save_checkpoint
from infra.locks import acquire_lock
from tests.helpers.paths import REPOSITORY
from tests.helpers.training_runs import TINY, error_of, run


def events_of(run_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return events


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_finishes_the_step_and_writes_a_checkpoint(tmp_path, tiny_dataset, stop_signal):
    run_dir = tmp_path / "run"
    command = [sys.executable, "train.py", "--dataset", tiny_dataset, "--out-dir", str(run_dir)]
    command += [*TINY, "--steps", "100000", "--eval-episodes", "0", "--checkpoint-every", "100000"]
    process = subprocess.Popen(
        command,
        cwd=REPOSITORY,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(run_dir.glob("events.out.tfevents.*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # some steps in, far from a checkpoint
    process.send_signal(stop_signal)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 128 + stop_signal
    step = load_checkpoint(run_dir / "checkpoint.pt")["step"]
    assert 0 < step < 100000
    assert stderr.strip().splitlines()[-1] == (
        f"interrupted at step {step}; continue with: python train.py --resume {run_dir}"
    )
    assert "Traceback" not in stderr
    logged = [e.step for e in events_of(run_dir).Scalars("losses/action_mse")]
    assert logged[-1] == step  # TensorBoard closed after the last step was logged


def test_without_a_terminal_progress_is_printed_as_lines(tmp_path, tiny_dataset, capsys):
    run(tmp_path / "run", tiny_dataset, "--steps", "4", "--eval-episodes", "0", "--log-every", "2")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("run: ")]
    # A line each tenth of the run (here every step), the loss from its first logged step on.
    assert [line.split()[1] for line in lines] == ["1/4", "2/4", "3/4", "4/4"]
    assert all("steps/s" in line and "ETA" in line for line in lines)
    assert all(", loss " in line for line in lines[1:])


def test_resume_removes_leftovers_of_killed_writes(tmp_path, tiny_dataset):
    run_dir = run(tmp_path / "run", tiny_dataset, "--steps", "2", "--eval-episodes", "0")
    leftover = run_dir / ".checkpoint.pt.abc123.tmp"
    leftover.write_bytes(b"half a checkpoint")
    assert train.main(["--resume", str(run_dir), "--steps", "3"]) == 0
    assert not leftover.exists()
    assert load_checkpoint(run_dir / "checkpoint.pt")["step"] == 3


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_refused_before_anything_is_written(tmp_path, tiny_dataset, capsys):
    out_dir = tmp_path / "run"
    message = error_of(
        capsys, ["--dataset", tiny_dataset, "--out-dir", str(out_dir), "--device", "cuda"]
    )
    assert "no CUDA device" in message
    assert not out_dir.exists()


def test_resume_edges(tmp_path, tiny_dataset, capsys):
    run_dir = run(tmp_path / "run", tiny_dataset, "--steps", "4", "--eval-episodes", "0")
    assert "at step 4, beyond --steps 2" in error_of(
        capsys, ["--resume", str(run_dir), "--steps", "2"]
    )
    assert train.main(["--resume", str(run_dir), "--steps", "6"]) == 0
    assert json.loads((run_dir / "config.json").read_text())["steps"] == 6  # not stale
    assert "backbone: saved min-gru, given s4" in error_of(
        capsys, ["backbone:s4", "--resume", str(run_dir), "--steps", "8"]
    )


def test_checkpoint_whose_weights_do_not_fit_its_config(tmp_path, tiny_dataset, capsys):
    run_dir = run(tmp_path / "run", tiny_dataset, "--steps", "2", "--eval-episodes", "0")
    payload = load_checkpoint(run_dir / "checkpoint.pt")
    del payload["model"]["state_dict"]["action_head.0.bias"]
    save_checkpoint(run_dir / "checkpoint.pt", payload)
    message = error_of(capsys, ["--resume", str(run_dir), "--steps", "4"])
    assert "weights do not match its model description" in message
    assert message.endswith(")") and "action_head.0.bias" in message


def test_a_sampler_state_from_another_kind_of_generator_is_one_line(tmp_path, tiny_dataset, capsys):
    run_dir = run(tmp_path / "run", tiny_dataset, "--steps", "2", "--eval-episodes", "0")
    payload = load_checkpoint(run_dir / "checkpoint.pt")
    payload["rng"]["samplers"] = [torch.zeros(16, dtype=torch.uint8)]  # a CUDA generator's size
    save_checkpoint(run_dir / "checkpoint.pt", payload)
    assert "cannot resume from it" in error_of(capsys, ["--resume", str(run_dir), "--steps", "4"])


def test_resume_uses_the_optimizer_flags_of_the_device_it_runs_on(tmp_path, tiny_dataset):
    run_dir = run(tmp_path / "run", tiny_dataset, "--steps", "2", "--eval-episodes", "0")
    payload = load_checkpoint(run_dir / "checkpoint.pt")
    for group in payload["optimizer"]["param_groups"]:  # as a checkpoint written on CUDA
        group["fused"] = True
    save_checkpoint(run_dir / "checkpoint.pt", payload)
    assert train.main(["--resume", str(run_dir), "--steps", "3"]) == 0
    groups = load_checkpoint(run_dir / "checkpoint.pt")["optimizer"]["param_groups"]
    assert all(not group["fused"] for group in groups)


def test_a_diverging_loss_stops_the_run_in_one_line(tmp_path, tiny_dataset, capsys, monkeypatch):
    def nan_loss(model, batch):
        prediction = model(batch.returns_to_go, batch.observations, batch.actions, batch.timesteps)
        return prediction.sum() * float("nan")

    monkeypatch.setattr(training.single_model, "masked_action_loss", nan_loss)
    capsys.readouterr()
    out_dir = tmp_path / "run"
    argv = [*TINY, "--dataset", tiny_dataset, "--out-dir", str(out_dir), "--steps", "3"]
    assert train.main([*argv, "--eval-episodes", "0"]) == 1
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("error: ") and "losses/action_mse is nan at step 1" in message
    assert "no checkpoint was written before it" in message  # and none claimed
    assert not (out_dir / "checkpoint.pt").exists()  # no non-finite state is saved


@pytest.mark.parametrize(
    "flags, window",
    [
        (["--context-length", "30"], 90),
        (["--context-length", "30", "--layout", "stacked"], 30),
        (["--context-length", "30", "--backbone.window", "12"], 12),
    ],
)
def test_the_transformer_window_follows_the_context(tmp_path, tiny_dataset, flags, window):
    out_dir = tmp_path / "run"
    argv = ["backbone:transformer", "--dataset", tiny_dataset, "--out-dir", str(out_dir)]
    argv += ["--backbone.d-model", "16", "--backbone.n-layers", "1", "--batch-size", "2"]
    assert train.main([*argv, "--steps", "1", "--eval-episodes", "0", *flags]) == 0
    model = load_model(load_checkpoint(out_dir / "checkpoint.pt"))
    assert model.backbone.blocks[0].mixer.window == window


@pytest.mark.parametrize("process", ["inline", "background"])
def test_evaluations_land_at_their_steps_and_hparams_are_logged(
    tmp_path, tiny_dataset, short_episodes, process
):
    flags = ["--steps", "4", "--eval-episodes", "1", "--eval-every", "2"]
    flags += ["--target-returns", "1000", "--eval-process", process]
    run_dir = run(tmp_path / "run", tiny_dataset, *flags)
    events = events_of(run_dir)
    assert [e.step for e in events.Scalars("eval/normalized_score_1000")] == [2, 4]
    scalars = set(events.Tags()["scalars"])
    readme_scalars = {"losses/action_mse", "charts/learning_rate", "charts/steps_per_second"}
    assert readme_scalars | {"hparams/normalized_score_1000", "hparams/final_action_mse"} <= scalars
    assert "_hparams_/experiment" in events.PluginTagToContent("hparams")
    final = events.Scalars("hparams/normalized_score_1000")[-1]
    assert final.value == events.Scalars("eval/normalized_score_1000")[-1].value and final.step == 4


def test_a_second_writer_of_a_run_folder_is_refused(tmp_path, tiny_dataset, capsys):
    run_dir = run(tmp_path / "run", tiny_dataset, "--steps", "2", "--eval-episodes", "0")
    before = (run_dir / "checkpoint.pt").read_bytes()
    with acquire_lock(run_dir / ".lock", "a run folder in use"):  # as another train.py would
        message = error_of(capsys, ["--resume", str(run_dir), "--steps", "4"])
    assert f"another process is using run folder {run_dir}" in message
    assert (run_dir / "checkpoint.pt").read_bytes() == before
    assert train.main(["--resume", str(run_dir), "--steps", "4"]) == 0  # free again


def test_checkpoints_carry_the_behaviour_data_level(tmp_path, tiny_dataset):
    run_dir = run(tmp_path / "run", tiny_dataset, "--steps", "1", "--eval-episodes", "0")
    dataset = load_dataset(tiny_dataset)
    episode_returns = np.add.reduceat(dataset.rewards.astype(np.float64), dataset.episode_starts)
    saved = load_checkpoint(run_dir / "checkpoint.pt")["dataset"]["mean_episode_return"]
    assert saved == pytest.approx(episode_returns.mean(), rel=1e-5)  # what the chart marks
