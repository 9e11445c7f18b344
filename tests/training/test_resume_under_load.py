"""A run killed and resumed while the machine's load changes ends with the same weights as one
never stopped: its thread count is chosen once at its start and the resumed run takes it again
from the checkpoint (infra.cpu_threads, fed here with load readings by hand)."""

import pytest
import torch

import infra.cpu_threads
import train
from infra.checkpoint_files import load_checkpoint
from infra.cpu_threads import ThreadsForFreeCores

TINY = ["--backbone.d-model", "16", "--backbone.n-layers", "1", "--batch-size", "4"]
TINY += ["--context-length", "5", "--warmup-steps", "2", "--log-every", "1"]
STEPS, CHECKPOINT_EVERY, KILLED_AT = 24, 10, 16


class Killed(BaseException):
    """Stands for a kill -9: the process stops mid-run, past its last checkpoint."""


class ChangingLoad:
    """Two cores; the other processes' load while a run reads it at its start (`at_start`)
    and during its steps (alternating busy and idle), and the thread count of every step."""

    def __init__(self, monkeypatch):
        self.now = self.machine = 0.0
        self.at_start, self.step_counts, self.kill_at = 0.0, [], None
        monkeypatch.setattr(infra.cpu_threads, "clock", lambda: self.now)
        monkeypatch.setattr(infra.cpu_threads, "pause", self.pause)
        monkeypatch.setattr(infra.cpu_threads, "machine_busy_seconds", lambda: self.machine)
        monkeypatch.setattr(infra.cpu_threads, "own_busy_seconds", lambda: 0.0)
        monkeypatch.setattr(infra.cpu_threads.os, "sched_getaffinity", lambda _: {0, 1})
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        adjust = ThreadsForFreeCores.adjust

        def step(threads: ThreadsForFreeCores) -> None:
            self.now += 1.0
            self.machine += 2.0 if len(self.step_counts) % 7 < 3 else 0.0  # others come and go
            adjust(threads)
            self.step_counts.append(torch.get_num_threads())
            if len(self.step_counts) == self.kill_at:
                raise Killed

        monkeypatch.setattr(ThreadsForFreeCores, "adjust", step)

    def pause(self, seconds: float) -> None:
        self.now += seconds
        self.machine += seconds * self.at_start


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow  # three short training runs: about 15 s
def test_kill_and_resume_under_changing_load_gives_identical_weights(
    tmp_path, tiny_dataset, monkeypatch, two_threads
):
    load = ChangingLoad(monkeypatch)
    flags = [*TINY, "--dataset", tiny_dataset, "--steps", str(STEPS), "--eval-episodes", "0"]
    flags += ["--checkpoint-every", str(CHECKPOINT_EVERY), "--seed", "3"]
    assert train.main([*flags, "--out-dir", str(tmp_path / "whole")]) == 0
    assert set(load.step_counts) == {2}  # idle at its start: both cores, all along

    load.step_counts, load.kill_at = [], KILLED_AT
    with pytest.raises(Killed):
        train.main([*flags, "--out-dir", str(tmp_path / "killed")])
    killed = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    assert killed["step"] == CHECKPOINT_EVERY and killed["cpu_threads"] == 2

    load.step_counts, load.kill_at, load.at_start = [], None, 2.0  # busy when it resumes
    assert train.main(["--resume", str(tmp_path / "killed")]) == 0
    assert set(load.step_counts) == {2}  # the recorded count, not the one cores allow now

    whole = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")
    resumed = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    assert resumed["step"] == STEPS
    for name, tensor in whole["model"]["state_dict"].items():
        assert torch.equal(tensor, resumed["model"]["state_dict"][name]), name


def test_adapting_threads_follow_the_load_during_the_run(
    tmp_path, tiny_dataset, monkeypatch, two_threads
):
    load = ChangingLoad(monkeypatch)
    flags = [*TINY, "--dataset", tiny_dataset, "--steps", "10", "--eval-episodes", "0"]
    assert train.main([*flags, "--adapt-threads", "--out-dir", str(tmp_path / "run")]) == 0
    assert set(load.step_counts) == {1, 2}
