"""A suite never deletes a run folder it cannot read: the run is reported as failed, with what
the user can do, and every file in the folder stays as it was."""

import os

import pytest
import torch

import benchmark
from infra.checkpoint_files import load_checkpoint
from suite.results_folder import ResultsFolder
from suite.spec import load_preset, resolve
from suite.worker import RunTask, run_one
from training import args_to_dict

DATASET = "replica/hopper/mini-v0"


class RunsAShellCommand:
    """What a crafted checkpoint holds: unpickling it would call os.system."""

    def __reduce__(self):
        return os.system, ("echo this ran",)


@pytest.fixture
def finished_run(tmp_path) -> tuple[ResultsFolder, RunTask]:
    """A results folder with one run of the smoke suite trained and evaluated."""
    suite = resolve(load_preset("smoke"))
    results = ResultsFolder(tmp_path / "results")
    results.write_suite(suite)
    name = suite.unit_name(DATASET, "min-gru", (0,))
    args = suite.training_args(DATASET, "min-gru", (0,), results.run_dir(name))
    task = RunTask(
        name, results.run_dir(name), args_to_dict(args) | {"steps": 4}, ("recurrent",), 1, 1
    )
    assert run_one(task).status == "finished"
    return results, task


def damaged(path, damage: str) -> None:
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:4000])
    else:
        torch.save(load_checkpoint(path) | {"hook": RunsAShellCommand()}, path)


@pytest.mark.parametrize("damage", ["truncated", "crafted"])
def test_a_run_with_an_unreadable_checkpoint_is_kept_and_reported(finished_run, damage, capfd):
    results, task = finished_run
    damaged(task.run_dir / "checkpoint.pt", damage)
    (task.run_dir / "NOTES.txt").write_text("the user's own notes")
    before = {p.name: p.read_bytes() for p in task.run_dir.iterdir()}

    outcome = run_one(task)
    assert outcome.status == "failed"
    assert "\n" not in outcome.error and "the run folder is kept" in outcome.error
    assert f"mv {task.run_dir} {task.run_dir}.unreadable" in outcome.error
    after = {p.name: p.read_bytes() for p in task.run_dir.iterdir()}
    assert after.pop("failed.json")
    assert after == before  # the evaluation, the events and the user's file, untouched
    assert "this ran" not in capfd.readouterr().out

    assert benchmark.main(["report", str(results.root)]) == 1  # non-zero until the user decides
    assert "run(s) failed" in capfd.readouterr().err


def test_files_of_a_run_without_a_checkpoint_are_set_aside_not_deleted(finished_run):
    results, task = finished_run
    (task.run_dir / "checkpoint.pt").unlink()
    (task.run_dir / "NOTES.txt").write_text("the user's own notes")
    before = {p.name: p.read_bytes() for p in task.run_dir.iterdir()}

    assert run_one(task).status == "finished"
    (aside,) = task.run_dir.parent.glob(f"{task.name}.set-aside-*")
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == before
    assert load_checkpoint(task.run_dir / "checkpoint.pt")["step"] == 4
