"""evaluate.py pools only runs that differ in their seed alone; anything else is a group."""

import json
import shutil

import matplotlib.pyplot as plt
import pytest
import torch

import scoring
from scoring import EvaluationReport
from scoring.grouping import group_runs, seed_record
from tests.helpers.evaluation_runs import make_run, run_cli


def report_of(tmp_path, capsys, *runs, chart: bool = False) -> tuple[dict, str]:
    out = tmp_path / "out"
    options = ["--chart", out / "eval.png"] if chart else []
    run_cli(
        *runs,
        "--episodes",
        2,
        "--target-returns",
        3600,
        900,
        "--json",
        out / "e.json",
        "--device",
        "cpu",
        *options,
    )
    return json.loads((out / "e.json").read_text()), capsys.readouterr().out


def test_other_backbone_and_other_settings_are_separate_groups(tmp_path, capsys, short_episodes):
    usual = {"learning_rate": 1e-4}
    min_gru = [make_run(tmp_path / f"gru{seed}", seed, settings=usual) for seed in (0, 1)]
    transformer = make_run(tmp_path / "transformer", 0, backbone="transformer", settings=usual)
    faster = make_run(tmp_path / "fast", 0, settings={"learning_rate": 3e-4})
    longer = make_run(tmp_path / "longer", 2, step=9, settings=usual)
    report, printed = report_of(tmp_path, capsys, *min_gru, transformer, faster, longer)

    labels = [group["label"] for group in report["groups"]]
    assert labels == [
        "min-gru (learning_rate 0.0001, trained_steps 7)",
        "transformer (learning_rate 0.0001, trained_steps 7)",
        "min-gru (learning_rate 0.0003, trained_steps 7)",
        "min-gru (learning_rate 0.0001, trained_steps 9)",
    ]
    assert [group["runs"] for group in report["groups"]] == [[0, 1], [2], [3], [4]]
    assert [run["group"] for run in report["runs"]] == [0, 0, 1, 2, 3]
    assert [run["training_seed"] for run in report["runs"]] == [0, 1, 0, 0, 2]
    assert all(len(run["results"][0]["returns"]) == 2 for run in report["runs"])
    pooled = report["groups"][0]
    assert all("t-interval" in t["summary"]["method"] for t in pooled["targets"])
    assert all("1 degrees of freedom" in t["summary"]["method"] for t in pooled["targets"])
    assert all(t["summary"]["ci_low"] is not None for t in pooled["targets"])
    assert all(t["summary"]["ci_low"] is None for g in report["groups"][1:] for t in g["targets"])
    rows = [line for line in printed.splitlines() if " recurrent " in line]
    assert len(rows) == 4 * 2  # one row per group and target
    assert "transformer" in printed and "learning_rate 0.0003" in printed


def test_a_report_reads_back_as_the_types_it_was_written_from(tmp_path, capsys, short_episodes):
    runs = [make_run(tmp_path / f"seed{seed}", seed) for seed in (0, 1)]
    report, _ = report_of(tmp_path, capsys, *runs)
    assert len(report["groups"]) == 1 and report["groups"][0]["label"] == "min-gru"
    typed = EvaluationReport.from_json(report)
    assert json.loads(json.dumps(typed.to_json())) == report
    assert typed.groups[0].targets[0].summary.count == 2
    assert typed.target_returns == (3600.0, 900.0)


def test_an_evaluation_written_before_schema_versions_still_loads():
    """Version 1: summaries as normalized_score_mean / normalized_score_std / ci95."""
    result = {"target_return": 3600.0, "returns": [10.0, 30.0], "lengths": [5, 7]}
    runs = [
        {
            "checkpoint": f"runs/{seed}/checkpoint.pt",
            "step": 7,
            "backbone": "min-gru",
            "training_seed": seed,
            "group": 0,
            "env_seeds": [seed, seed + 1],
            "results": [result | {"normalized_scores": scores, "normalized_score_mean": 0.0}],
        }
        for seed, scores in ((0, [10.0, 20.0]), (1, [30.0, 50.0]))
    ]
    version_1 = {
        "dataset": "replica/hopper/mini-v0",
        "d4rl_counterpart": None,
        "replica": True,
        "env_id": "Hopper-v5",
        "gymnasium_version": "1.4.0",
        "mujoco_version": "4.0.0",
        "backbones": ["min-gru"],
        "mode": "recurrent",
        "episodes": 2,
        "seed": None,
        "env_seeds": None,
        "normalization": {"ref_min": 0.0, "ref_max": 1.0, "source": "d4rl", "note": "n"},
        "dataset_score": None,
        "aggregation": "2 runs (seeds): ...",
        "targets": [{"target_return": 3600.0, "normalized_score_mean": 27.5, "ci95": [0, 1]}],
        "groups": [
            {
                "label": "min-gru",
                "backbone": "min-gru",
                "differences": {},
                "runs": [0, 1],
                "aggregation": "2 runs (seeds): ...",
                "targets": [{"target_return": 3600.0, "normalized_score_mean": 27.5}],
            }
        ],
        "runs": runs,
        "published": [],
    }
    report = EvaluationReport.from_json(version_1)
    assert report.runs[1].results[0].summary.mean == 40.0  # from the episodes it holds
    assert report.groups[0].targets[0].summary.mean == 27.5
    assert report.groups[0].targets[0].summary.count == 2


def error_of(capsys, *runs) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(*runs, "--episodes", 1)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1
    return error


def test_the_same_run_twice_is_refused(tmp_path, capsys):
    run = make_run(tmp_path / "run", 0)
    error = error_of(capsys, run, tmp_path / "." / "run" / "checkpoint.pt")
    assert f"{(run / 'checkpoint.pt').resolve()} is given twice" in error


def test_copies_of_one_seed_are_refused_naming_both(tmp_path, capsys):
    first = make_run(tmp_path / "first", 0)
    copy = shutil.copytree(first, tmp_path / "copy")
    error = error_of(capsys, first, copy)
    assert str(first / "checkpoint.pt") in error and str(copy / "checkpoint.pt") in error
    assert "same settings and seed 0" in error


def test_records_of_one_checkpoint_with_other_seeds_are_one_group(tmp_path):
    # A run folder that trained several seeds in one process gives one record per seed.
    payload = torch.load(make_run(tmp_path / "run", 0) / "checkpoint.pt", weights_only=True)
    records = [seed_record(tmp_path / "run" / "checkpoint.pt", payload, seed) for seed in (0, 1)]
    [group] = group_runs(records)
    assert group.runs == (0, 1) and group.label == "min-gru"


def test_chart_shows_random_expert_and_the_training_data(tmp_path, capsys, short_episodes):
    runs = [
        make_run(tmp_path / f"seed{seed}", seed, ref_scores=(0.0, 1000.0), mean_episode_return=800)
        for seed in (0, 1)
    ]
    other = make_run(tmp_path / "other", 0, ref_scores=(0.0, 1000.0), step=9)
    report, _ = report_of(tmp_path, capsys, *runs, other)
    assert report["dataset_score"] == {"mean_episode_return": 800, "normalized_score": 80.0}

    figures = []
    close = plt.close
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plt, "close", lambda figure: figures.append(figure))
        scoring.render_chart(EvaluationReport.from_json(report))
    [axes] = figures[0].axes
    close(figures[0])
    levels = {line.get_ydata()[0] for line in axes.get_lines() if len(set(line.get_ydata())) == 1}
    assert {0.0, 100.0, 80.0} <= levels
    low, high = axes.get_ylim()
    assert low < 0 and high > 100
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert "training data, mean episode: 80.0" in legend
    assert sum("min-gru" in text for text in legend) == 2  # one series per group
    assert "2 episodes per run and target" in axes.get_title()
    assert "recurrent" in axes.get_title()

    report["dataset_score"] = None  # a checkpoint that does not record it: no such line
    assert scoring.render_chart(EvaluationReport.from_json(report))[:4] == b"\x89PNG"


def test_published_scores_are_told_apart_at_the_target_they_were_published_for(
    tmp_path, capsys, short_episodes, monkeypatch
):
    run = make_run(tmp_path / "run", 0)  # replica/hopper/medium-v0: six published scores
    report, _ = report_of(tmp_path, capsys, run)  # targets 3600 (published at) and 900
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    scoring.render_chart(EvaluationReport.from_json(report))
    [axes] = figures[0].axes
    published = [c for c in axes.containers if "published" in c.get_label()]
    assert len(published) == 6 and all("target 3600" in c.get_label() for c in published)
    assert len({c.lines[0].get_marker() for c in published}) == 6  # a marker of its own each
    # In the slot of target 3600 (x = 0), right of the runs' points; not at 900 (x = 1).
    assert all(0 < x < 0.5 for c in published for x in c.lines[0].get_xdata())
    plt.close(figures[0])
