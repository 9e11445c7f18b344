"""Bad input is one line and exit status 2 on every command line; anything else is a bug and
keeps its traceback. A checkpoint that would run code is refused as possibly unsafe wherever a
checkpoint is read."""

import pytest
import torch

import evaluate
import train
import training.loop
from infra.checkpoint_files import load_checkpoint
from tests.helpers.evaluation_runs import make_run
from tests.helpers.training_runs import TINY
from tests.helpers.unsafe_pickles import RunsAShellCommand


def plant_a_shell_command(checkpoint) -> None:
    """The checkpoint as it was, plus an object whose unpickling calls os.system."""
    payload = load_checkpoint(checkpoint) | {"hook": RunsAShellCommand()}
    torch.save(payload, checkpoint)


def one_line_error(capsys) -> str:
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1, error
    return error


def test_evaluate_refuses_a_checkpoint_that_would_run_a_command(tmp_path, capfd):
    run = make_run(tmp_path / "run", 0)
    plant_a_shell_command(run / "checkpoint.pt")
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(run), "--episodes", "1"])
    assert exit_info.value.code == 2
    captured = capfd.readouterr()  # the file descriptors: a shell command would print there
    assert "this ran" not in captured.out
    error = captured.err
    assert error.startswith("error: ") and error.count("\n") == 1, error
    assert "refused" in error and "possibly unsafe" in error and "system" in error
    assert "weights_only" not in error and "corrupted" not in error


def test_resuming_refuses_a_checkpoint_that_would_run_a_command(tmp_path, tiny_dataset, capsys):
    run_dir = tmp_path / "run"
    argv = ["--dataset", tiny_dataset, "--out-dir", str(run_dir), *TINY, "--eval-episodes", "0"]
    assert train.main([*argv, "--steps", "2"]) == 0
    plant_a_shell_command(run_dir / "checkpoint.pt")
    capsys.readouterr()
    assert train.main(["--resume", str(run_dir), "--steps", "3"]) == 2
    error = one_line_error(capsys)
    assert "refused" in error and "possibly unsafe" in error
    assert "will likely succeed" not in error


def test_a_value_error_that_is_a_bug_keeps_its_traceback(tmp_path, tiny_dataset, monkeypatch):
    """train.py once turned every ValueError into 'bad input', exit 2, its trace lost."""

    def broken(*args, **kwargs):
        raise ValueError("an internal shape mismatch")

    monkeypatch.setattr(training.loop, "train_in", broken)
    argv = ["--dataset", tiny_dataset, "--out-dir", str(tmp_path / "run"), *TINY]
    with pytest.raises(ValueError, match="internal shape mismatch"):
        train.main(argv)
