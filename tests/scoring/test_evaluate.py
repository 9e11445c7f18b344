"""evaluate.py: scores, aggregation over runs, outputs, and refusal of bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import evaluate
import scoring
from envs.normalization import D4RL_REFERENCE_RETURNS
from tests.helpers.evaluation_runs import make_run, run_cli


def test_several_runs_are_aggregated_over_their_means(tmp_path, capsys, short_episodes):
    runs = [make_run(tmp_path / f"seed{seed}", seed) for seed in range(3)]
    out = tmp_path / "out"
    run_cli(
        *runs,
        "--episodes",
        2,
        "--target-returns",
        3600,
        900,
        "--seed",
        5,
        "--json",
        out / "eval.json",
        "--chart",
        out / "eval.png",
        "--device",
        "cpu",
    )
    report = json.loads((out / "eval.json").read_text())
    assert (out / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["eval.json", "eval.png"]  # no temporaries

    assert report["schema_version"] == 2
    assert report["env_id"] == "Hopper-v5" and report["gymnasium_version"]
    assert report["mode"] == "recurrent" and report["seed"] == 5
    assert all(run["env_seeds"] == [5, 6] for run in report["runs"])
    assert report["d4rl_counterpart"] == "hopper-medium-v2" and report["replica"]
    ref_min, ref_max = D4RL_REFERENCE_RETURNS["Hopper-v5"]
    [group] = report["groups"]
    for index, target in enumerate([3600.0, 900.0]):
        results = [run["results"][index] for run in report["runs"]]
        assert all(r["target_return"] == target and len(r["returns"]) == 2 for r in results)
        assert all(len(r["lengths"]) == 2 for r in results)
        run_means = [100 * (np.mean(r["returns"]) - ref_min) / (ref_max - ref_min) for r in results]
        summary = group["targets"][index]["summary"]
        assert summary["mean"] == pytest.approx(np.mean(run_means))
        assert summary["std"] == pytest.approx(np.std(run_means, ddof=1))
        half_width = 4.302653 * np.std(run_means, ddof=1) / math.sqrt(3)  # t(0.975, 2 dof)
        low, high = summary["ci_low"], summary["ci_high"]
        assert (low, high) == pytest.approx(
            (np.mean(run_means) - half_width, np.mean(run_means) + half_width), rel=1e-5
        )
        assert summary["count"] == 3 and "95% t-interval" in summary["method"]
    assert [run["step"] for run in report["runs"]] == [7, 7, 7]
    assert [run["training_seed"] for run in report["runs"]] == [0, 1, 2]
    printed = capsys.readouterr().out
    assert "published, on D4RL data" in printed and "DT (CORL, last)" in printed
    assert "approximation" in printed


def test_one_checkpoint_file_reports_the_spread_over_episodes(tmp_path, capsys, short_episodes):
    run = make_run(tmp_path / "run", 0, ref_scores=(0.0, 1000.0))
    run_cli(
        run / "checkpoint.pt", "--episodes", 3, "--mode", "windowed", "--json", tmp_path / "e.json"
    )
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["normalization"]["source"] == "dataset"
    [group] = report["groups"]
    assert [target["target_return"] for target in group["targets"]] == [3600.0, 1800.0]
    for target, result in zip(group["targets"], report["runs"][0]["results"], strict=True):
        scores = np.array(result["returns"]) / 10.0  # (return - 0) / (1000 - 0) * 100
        summary = target["summary"]
        assert summary["mean"] == pytest.approx(scores.mean())
        assert summary["std"] == pytest.approx(scores.std())
        assert summary["ci_low"] is None and summary == result["summary"]
    assert "std over episodes" in capsys.readouterr().out


@pytest.mark.parametrize(
    "df, expected", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (60, 2.0003)]
)
def test_t_critical_95(df, expected):
    assert scoring.t_critical_95(df) == pytest.approx(expected, abs=2e-4)


def corrupt(path: Path) -> None:
    path.write_bytes(b"not a checkpoint at all" * 10)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no such run folder"),
        ("empty folder", "no such checkpoint file"),
        ("corrupted", "unreadable checkpoint"),
        ("truncated", "unreadable checkpoint"),
        ("other environment", "must share their environment"),
        ("nan target", "--target-returns must be finite"),
        ("zero episodes", "--episodes must be positive"),
        ("negative episodes", "--episodes must be positive"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, case, message):
    hopper = make_run(tmp_path / "hopper", 0)
    runs, options = [hopper], ["--episodes", 1]
    if case == "missing":
        runs = [tmp_path / "nowhere"]
    elif case == "empty folder":
        (tmp_path / "empty").mkdir()
        runs = [tmp_path / "empty"]
    elif case == "corrupted":
        corrupt(hopper / "checkpoint.pt")
    elif case == "truncated":
        truncate(hopper / "checkpoint.pt")
    elif case == "other environment":
        runs.append(make_run(tmp_path / "walker", 1, env_id="Walker2d-v5"))
    elif case == "nan target":
        options += ["--target-returns", "nan"]
    else:
        options = ["--episodes", 0 if case == "zero episodes" else -3]
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        run_cli(*runs, *options, "--json", out / "e.json", "--chart", out / "e.png")
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err.strip()
    assert stderr.startswith("error: ") and message in stderr and "\n" not in stderr
    assert not out.exists()


def test_an_output_that_cannot_be_written_is_refused_before_any_rollout(tmp_path, capsys):
    hopper = make_run(tmp_path / "hopper", 0)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        run_cli(hopper, "--episodes", 1, "--chart", tmp_path / "a-file" / "e.png")
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err.strip()
    assert (
        stderr
        == f"error: --chart {tmp_path}/a-file/e.png: {tmp_path}/a-file is a file, not a folder"
    )


def test_a_chart_that_fails_loses_neither_the_json_nor_the_table(
    tmp_path, capsys, monkeypatch, short_episodes
):
    hopper = make_run(tmp_path / "hopper", 0)
    rollouts = evaluate.evaluate_runs

    def rollouts_then_the_chart_folder_taken(*args, **kwargs):
        (tmp_path / "charts").write_text("")  # the chart's folder became a file meanwhile
        return rollouts(*args, **kwargs)

    monkeypatch.setattr(evaluate, "evaluate_runs", rollouts_then_the_chart_folder_taken)
    chart, results = tmp_path / "charts" / "e.png", tmp_path / "e.json"
    with pytest.raises(SystemExit) as exit_info:
        run_cli(hopper, "--episodes", 1, "--json", results, "--chart", chart)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines()[-1].startswith(f"error: --chart {chart}: cannot")
    assert json.loads(results.read_text())["runs"]  # written before the chart
    assert "Hopper" in captured.out  # and the table printed
