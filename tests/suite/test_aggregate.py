"""The suite's numbers against hand-computed values, on fixed synthetic per-run scores, and the
published column beside a replica dataset."""

import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.text import Text

import benchmark
from infra.atomic_files import write_json
from scoring import EvaluationReport, RunEvaluation, TargetResult, over_episodes
from scoring.results import GroupSummary, Normalization, TargetSummary
from suite import aggregate
from suite.results_folder import ResultsFolder, eval_path
from suite.spec import Suite, resolve

T_975_2_DOF = 4.302653  # Student's t, 97.5% quantile, 2 degrees of freedom

SUITE = Suite(
    name="synthetic",
    datasets=("replica/hopper/medium-v0", "replica/walker2d/medium-v0"),
    backbones=("min-gru", "transformer"),
    seeds=(0, 1, 2),
    eval_modes=("recurrent",),
    bootstrap_reps=500,
)
# (dataset index, backbone) -> per-seed scores
SCORES = {
    (0, "min-gru"): [50.0, 60.0, 70.0],
    (1, "min-gru"): [10.0, 20.0, 90.0],
    (0, "transformer"): [40.0, 40.0, 40.0],
    (1, "transformer"): [30.0, 0.0, 60.0],
}


def synthetic_scores() -> dict:
    return {
        (SUITE.datasets[d], backbone, seed, "recurrent"): {"last": scores[seed], "best": None}
        for (d, backbone), scores in SCORES.items()
        for seed in SUITE.seeds
    }


def test_cell_mean_and_t_interval_over_seeds():
    cells = {(c.dataset, c.backbone): c for c in aggregate.cells(SUITE, synthetic_scores())}
    last = cells["replica/hopper/medium-v0", "min-gru"].last
    half_width = T_975_2_DOF * 10.0 / math.sqrt(3)  # std (ddof 1) of 50, 60, 70 is 10
    assert last.summary.mean == pytest.approx(60.0)
    interval = (last.summary.ci_low, last.summary.ci_high)
    assert interval == pytest.approx((60 - half_width, 60 + half_width))
    assert last.scores == (50.0, 60.0, 70.0) and last.seeds == (0, 1, 2)
    assert "95% t-interval" in last.summary.method
    assert cells["replica/hopper/medium-v0", "transformer"].last.summary.ci_low == 40.0
    assert cells["replica/hopper/medium-v0", "min-gru"].best.summary is None


def test_iqm_and_mean_across_the_suite_come_from_rliable():
    matrices = aggregate.score_matrices(SUITE, synthetic_scores(), "recurrent", "last")
    assert matrices["min-gru"].shape == (3, 2)  # seeds × datasets
    result = aggregate.suite_aggregates(matrices, SUITE.bootstrap_reps)
    # IQM: the middle half of the 6 runs' scores (sorted 10 20 50 60 70 90; 25% trimmed from each
    # end = 1.5 scores: scipy trims 1, so the mean of 20 50 60 70).
    assert result["min-gru"]["iqm"].value == pytest.approx(np.mean([20, 50, 60, 70]))
    assert result["min-gru"]["mean"].value == pytest.approx(np.mean([50, 60, 70, 10, 20, 90]))
    assert result["transformer"]["mean"].value == pytest.approx(35.0)
    for metrics in result.values():
        for value in metrics.values():
            assert value.ci_low <= value.value <= value.ci_high
    assert aggregate.suite_aggregates(matrices, SUITE.bootstrap_reps) == result  # seeded


def test_a_backbone_with_a_missing_run_is_left_out_of_the_suite_aggregates():
    scores = synthetic_scores()
    scores["replica/walker2d/medium-v0", "transformer", 2, "recurrent"]["last"] = None
    assert list(aggregate.score_matrices(SUITE, scores, "recurrent", "last")) == ["min-gru"]


def evaluation_of(score: float, seed: int) -> EvaluationReport:
    """A finished run's evaluation whose first target scores `score` (its one episode)."""
    summary = over_episodes([score])
    result = TargetResult(3600.0, (score,), (1000,), (score,), summary)
    run = RunEvaluation("checkpoint.pt", 20, "min-gru", seed, 0, (seed,), (result,))
    group = GroupSummary("min-gru", "min-gru", {}, (0,), (TargetSummary(3600.0, summary),))
    normalization = Normalization(0.0, 100.0, "dataset", "scores normalised by hand")
    return EvaluationReport(
        "replica/hopper/medium-v0", None, True, "Hopper-v5", {}, {}, "1", "1", ("min-gru",),
        "recurrent", 1, None, normalization, None, (group,), (run,), (),
    )  # fmt: skip


def test_report_puts_published_scores_beside_replica_datasets(tmp_path):
    """A results folder written by hand (finished runs' evaluation files only)."""
    suite = resolve(SUITE)
    results = ResultsFolder(tmp_path / "results")
    results.write_suite(suite)
    for (d, backbone), scores in SCORES.items():
        for seed, score in zip(suite.seeds, scores, strict=True):
            run_dir = results.run_dir(suite.unit_name(suite.datasets[d], backbone, (seed,)))
            run_dir.mkdir(parents=True)
            write_json(eval_path(run_dir, "recurrent"), evaluation_of(score, seed).to_json())
    assert benchmark.main(["report", str(results.root)]) == 0
    report = json.loads((results.root / "report.json").read_text())
    published = report["published"]["replica/hopper/medium-v0"]
    assert published["label"] == "published, on D4RL data"
    assert published["d4rl_counterpart"] == "hopper-medium-v2"
    assert {"DT (CORL, last)", "minGRU (paper)"} <= {s["method"] for s in published["scores"]}
    markdown = (results.root / "report.md").read_text()
    assert "| dataset | min-gru | transformer | DT (CORL, last)† |" in markdown
    row = "| replica/hopper/medium-v0 (Hopper-v5) | 60.0 ± 24.8 | 40.0 ± 0.0 | 65.1 ± 1.6 |"
    assert row in markdown
    assert "published, on D4RL data" in markdown
    walker_row = next(line for line in markdown.splitlines() if "walker2d" in line)
    assert walker_row.endswith("n/a | n/a |")  # minLSTM/minGRU: only hopper-medium is known
    assert "65.1" in (results.root / "report.tex").read_text()
    assert "DT (CORL, last)" in (results.root / "report.csv").read_text()


def figure_texts(render, monkeypatch) -> list[str]:
    """Every text a figure drawn by `render()` shows (titles, labels, annotations)."""
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", figures.append)
    render()
    texts = [text.get_text() for text in figures[0].findobj(Text)]
    close(figures[0])
    return texts


def test_charts_with_nothing_to_show_say_why(tmp_path, monkeypatch):
    """Every run failed: the report's charts say so instead of coming out blank."""
    from suite import plots
    from suite.pipeline import write_report

    suite = resolve(SUITE)
    results = ResultsFolder(tmp_path / "results")
    results.write_suite(suite)
    for dataset, backbone, seeds in suite.units():
        run_dir = results.run_dir(suite.unit_name(dataset, backbone, seeds))
        run_dir.mkdir(parents=True)
        write_json(run_dir / "failed.json", {"error": "RuntimeError: out of memory"})
    report = write_report(results)
    assert (results.root / "profile-recurrent.png").read_bytes()[:4] == b"\x89PNG"
    texts = figure_texts(lambda: plots.scores_chart(report), monkeypatch)
    assert sum("6 of 6 runs failed" in text for text in texts) == 2  # one panel per dataset
    reason = plots.no_complete_backbone(report)
    assert "12 run(s) failed" in reason
    texts = figure_texts(lambda: plots.empty_chart("Across datasets", reason), monkeypatch)
    assert reason in texts
