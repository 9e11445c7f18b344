"""The suite report of a memory task, from a results folder written by hand: success-rate tables
(at the training delay and at 3x it), CSV rows and the success-against-delay chart."""

import csv
import dataclasses
import io

import numpy as np

import benchmark
from infra.atomic_files import write_json
from scoring import EvaluationReport, RunEvaluation, TargetResult, over_episodes
from scoring.results import GroupSummary, Normalization, TargetSummary
from suite.results_folder import ResultsFolder, eval_path, longer_delay_path
from suite.spec import load_preset, resolve

# (dataset, row) -> successes of each seed's four episodes
SUCCESSES = {
    ("memory/cue-reach-d10/mixed-v0", "min-gru"): [(1, 1, 1, 1), (1, 1, 1, 0)],
    ("memory/cue-reach-d10/mixed-v0", "transformer@K20"): [(1, 1, 1, 1), (1, 1, 1, 1)],
    ("memory/cue-reach-d30/mixed-v0", "min-gru"): [(1, 1, 1, 0), (1, 1, 0, 0)],
    ("memory/cue-reach-d30/mixed-v0", "transformer@K20"): [(0, 1, 0, 0), (0, 0, 0, 1)],
}


def evaluation(dataset: str, backbone: str, seed: int, successes, delay: int) -> EvaluationReport:
    scores = tuple(100.0 * s for s in successes)
    rate = float(np.mean(successes))
    result = TargetResult(-2.0, scores, (55,) * 4, scores, over_episodes(scores),
                          tuple(map(bool, successes)), rate)  # fmt: skip
    run = RunEvaluation("checkpoint.pt", 300, backbone, seed, 0, (seed,), (result,))
    target = TargetSummary(-2.0, over_episodes(scores), over_episodes(list(map(float, successes))))
    group = GroupSummary(backbone, backbone, {}, (0,), (target,))
    trained = int(dataset.split("-d")[1].split("/")[0])
    return EvaluationReport(
        dataset, None, False, "CueReach-v0", {"delay": delay}, {"delay": trained}, "1", "1",
        (backbone,), "recurrent", 4, None, Normalization(-4.0, -2.0, "dataset", "by hand"), None,
        (group,), (run,), (),
    )  # fmt: skip


def test_the_report_shows_success_per_row_and_delay(tmp_path):
    datasets = ("memory/cue-reach-d10/mixed-v0", "memory/cue-reach-d30/mixed-v0")
    suite = resolve(
        dataclasses.replace(
            load_preset("memory-smoke"), datasets=datasets, seeds=(0, 1), test_delay_factor=3
        )
    )
    results = ResultsFolder(tmp_path / "results")
    results.write_suite(suite)
    for (dataset, backbone), per_seed in SUCCESSES.items():
        delay = int(dataset.split("-d")[1].split("/")[0])
        for seed, successes in zip(suite.seeds, per_seed, strict=True):
            run_dir = results.run_dir(suite.unit_name(dataset, backbone, (seed,)))
            run_dir.mkdir(parents=True)
            own = evaluation(dataset, backbone, seed, successes, delay)
            write_json(eval_path(run_dir, "recurrent"), own.to_json())
            longer = evaluation(dataset, backbone, seed, (0, 0, 0, 1), 3 * delay)
            write_json(longer_delay_path(run_dir, "recurrent", 3), longer.to_json())
    assert benchmark.main(["report", str(results.root)]) == 0
    markdown = (results.root / "report.md").read_text()
    assert "## Success rate (memory tasks), last checkpoint, recurrent rollouts" in markdown
    assert "## Success rate, trained at delay D, tested at 3D, recurrent rollouts" in markdown
    d30 = next(line for line in markdown.splitlines() if line.startswith("| memory/cue-reach-d30"))
    assert "62.5%" in d30 and "25.0%" in d30  # min-gru (0.75 + 0.5) / 2, transformer@K20
    rows = list(csv.DictReader(io.StringIO((results.root / "report.csv").read_text())))
    success = [r for r in rows if r["score"] == "success" and r["method"] == "transformer@K20"]
    assert sorted(float(r["mean"]) for r in success) == [0.25, 1.0]
    assert {float(r["mean"]) for r in rows if r["score"] == "longer_delay"} == {0.25}
    assert (results.root / "memory-success.png").stat().st_size > 0
