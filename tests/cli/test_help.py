"""`--help` of train.py, evaluate.py and the dataset builder: a description, each default said
once, the required runs shown as required, and a usage line without this machine's paths."""

import pytest

import evaluate
import export
import train
from datasets import build
from tests.helpers.paths import REPOSITORY


def help_text(main, monkeypatch, capsys) -> str:
    # Narrow enough that tyro does not set panels side by side (train.py's options and its
    # backbone's), which would put two defaults on one line.
    monkeypatch.setenv("COLUMNS", "120")
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "main, usage, description",
    [
        (
            evaluate.main,
            "usage: python evaluate.py [-h] [OPTIONS] RUN [RUN ...]",
            "Roll trained decision models out and report D4RL-normalised scores",
        ),
        (
            build.main,
            "usage: python -m datasets.build [-h] [OPTIONS]",
            "Build a Minari dataset from behaviour policies",
        ),
        (
            train.main,
            "usage: python train.py [-h] [OPTIONS] [{backbone:min-gru,",
            "Train a decision model with any registered backbone on one offline dataset.",
        ),
        (
            export.main,
            "usage: python export.py [-h] [OPTIONS] RUN",
            "Export a trained policy as one environment step with its recurrent state",
        ),
    ],
)
def test_help_reads_as_written(main, usage, description, monkeypatch, capsys):
    text = help_text(main, monkeypatch, capsys)
    lines = text.splitlines()
    assert lines[0].startswith(usage) and str(REPOSITORY) not in text
    assert description in text
    assert [line for line in lines if line.count("(default:") > 1] == []


def test_evaluate_marks_its_runs_required(monkeypatch, capsys):
    text = help_text(evaluate.main, monkeypatch, capsys)
    positional = text.split("positional arguments")[1].split("options")[0]
    assert "RUN [RUN ...]" in positional and "(required)" in positional
    assert "(default:" not in positional
