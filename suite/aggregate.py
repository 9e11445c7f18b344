"""From the run folders of a suite to its numbers, as the field reports them.

A run's score is its mean D4RL-normalised score over the evaluation episodes at the first target
return (the env's highest by default, the one CORL reports). Per cell (dataset × backbone ×
mode), two scores, always labelled:
- last: the final checkpoint, evaluated with `final_eval_episodes` episodes (the headline);
- best: the best of the periodic evaluations during training (TensorBoard
  eval/normalized_score_<target>, `eval_episodes` episodes each, in the first mode), chosen by
  score; or, in a suite with keep_best_val, the checkpoint of lowest validation loss, evaluated
  as the last (first mode), chosen without looking at any score.
Over seeds: mean and 95% t-interval (scoring.statistics.over_runs). Over the suite: IQM and mean
with stratified-bootstrap 95% CIs, and performance profiles, from rliable (Agarwal et al. 2021)."""

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rliable import library as rly
from rliable import metrics
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from scoring import ScoreSummary, over_runs
from suite.results_folder import (
    eval_path,
    first_target_score,
    first_target_success,
    longer_delay_path,
    read_evaluation,
    read_evaluation_file,
)
from suite.spec import Suite

KINDS = ("last", "best")
PROFILE_THRESHOLDS = np.linspace(0.0, 120.0, 49)  # normalised score tau, every 2.5
# rliable's authors (Agarwal et al. 2021) report that stratified-bootstrap intervals over few
# runs per task cover less than their nominal 95%: below this many, the report says so.
BOOTSTRAP_MIN_RUNS_PER_TASK = 5


@dataclass(frozen=True)
class SeedScores:
    """A cell's score of one kind (last or best) over the seeds that have one."""

    seeds: tuple[int, ...]
    scores: tuple[float, ...]
    summary: ScoreSummary | None
    """None when no seed has a score (every run failed or is unfinished)."""


@dataclass(frozen=True)
class Cell:
    dataset: str
    backbone: str
    mode: str
    last: SeedScores
    best: SeedScores
    success: SeedScores
    """Memory tasks: the last checkpoint's success rate in [0, 1] (summary None elsewhere)."""
    longer_delay: SeedScores
    """Memory tasks with test_delay_factor: the success rate at that multiple of the delay
    (first mode only)."""


@dataclass(frozen=True)
class IntervalEstimate:
    """A suite-wide aggregate of one backbone (rliable) and its 95% stratified-bootstrap CI."""

    value: float
    ci_low: float
    ci_high: float


def periodic_scores(run_dir: Path, target: float, member: int | None) -> list[tuple[int, float]]:
    """(step, score) of each periodic evaluation during training, from TensorBoard (of the
    member with training seed `member`, in a run of several seeds)."""
    if not run_dir.is_dir():
        return []
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    tag = f"eval/normalized_score_{target:g}" + ("" if member is None else f"/seed_{member}")
    if tag not in events.Tags()["scalars"]:
        return []
    return [(event.step, event.value) for event in events.Scalars(tag)]


def run_scores(suite: Suite, runs_root: Path) -> tuple[dict, dict, dict]:
    """{(dataset, backbone, seed, mode): {"last": score or None, "best": score or None}},
    {(dataset, backbone, seed): [(step, score), ...]} (the learning curves), and
    {dataset: the EvaluationReport of one of its finished runs} (its environment, its
    normalisation)."""
    scores, curves, evaluated = {}, {}, {}
    for dataset, backbone, seed in suite.runs():
        name, index = suite.unit_of(dataset, backbone, seed)
        run_dir = runs_root / name
        reports = {
            mode: read_evaluation(run_dir, mode)
            for mode in suite.eval_modes
            if eval_path(run_dir, mode).is_file()
        }
        curve = []
        if reports:  # a finished run: its scored target is the evaluation's first
            first = next(iter(reports.values()))
            evaluated.setdefault(dataset, first)
            curve = periodic_scores(
                run_dir, first.target_returns[0], seed if suite.seeds_together else None
            )
        curves[dataset, backbone, seed] = curve
        for mode in suite.eval_modes:
            last = first_target_score(reports[mode], index) if mode in reports else None
            success = first_target_success(reports[mode], index) if mode in reports else None
            # Periodic evaluations ran in the first mode only (the last of them at the end).
            best = None
            if mode == suite.eval_modes[0] and last is not None:
                best = best_score(suite, run_dir, mode, index, curve)
            longer = None
            longer_path = longer_delay_path(run_dir, mode, suite.test_delay_factor or 0)
            if mode == suite.eval_modes[0] and longer_path.is_file():
                longer = first_target_success(read_evaluation_file(longer_path), index)
            scores[dataset, backbone, seed, mode] = {
                "last": last,
                "best": best,
                "success": success,
                "longer_delay": longer,
            }
    return scores, curves, evaluated


def best_score(suite: Suite, run_dir: Path, mode: str, index: int, curve) -> float | None:
    """The run's "best" score: its best-validation checkpoint's (keep_best_val), else the best
    periodic evaluation's; None when it has none."""
    if suite.keep_best_val:
        path = eval_path(run_dir, mode, best_val=True)
        return (
            first_target_score(read_evaluation(run_dir, mode, True), index)
            if path.is_file()
            else None
        )
    return max((value for _, value in curve), default=None)


def seed_scores(seeds: list[int], scores: list[float]) -> SeedScores:
    """Mean and 95% t-interval over the seeds that have a score (an interval needs two)."""
    summary = over_runs(scores) if scores else None
    return SeedScores(tuple(seeds), tuple(scores), summary)


def cells(suite: Suite, scores: dict) -> list[Cell]:
    rows = []
    for dataset in suite.datasets:
        for backbone in suite.backbones:
            for mode in suite.eval_modes:
                kinds = {}
                for kind in (*KINDS, "success", "longer_delay"):
                    pairs = [
                        (seed, scores[dataset, backbone, seed, mode].get(kind))
                        for seed in suite.seeds
                    ]
                    present = [(seed, score) for seed, score in pairs if score is not None]
                    kinds[kind] = seed_scores([s for s, _ in present], [v for _, v in present])
                rows.append(Cell(dataset, backbone, mode, **kinds))
    return rows


def score_matrices(suite: Suite, scores: dict, mode: str, kind: str) -> dict:
    """{backbone: (seeds × datasets) array} for the backbones with every run scored: rliable
    needs complete matrices."""
    matrices = {}
    for backbone in suite.backbones:
        matrix = [
            [scores[dataset, backbone, seed, mode][kind] for dataset in suite.datasets]
            for seed in suite.seeds
        ]
        if all(score is not None for row in matrix for score in row):
            matrices[backbone] = np.array(matrix, dtype=np.float64)
    return matrices


def _iqm_and_mean(matrix: np.ndarray) -> np.ndarray:
    return np.array([metrics.aggregate_iqm(matrix), metrics.aggregate_mean(matrix)])


def suite_aggregates(matrices: dict, reps: int) -> dict[str, dict[str, IntervalEstimate]]:
    """{backbone: {"iqm": ..., "mean": ...}} over all runs and datasets, with stratified-bootstrap
    95% CIs (rliable)."""
    if not matrices:
        return {}
    with seeded_numpy():
        points, intervals = rly.get_interval_estimates(matrices, _iqm_and_mean, reps=reps)
    return {
        backbone: {
            metric: IntervalEstimate(
                float(points[backbone][index]),
                float(intervals[backbone][0][index]),
                float(intervals[backbone][1][index]),
            )
            for index, metric in enumerate(("iqm", "mean"))
        }
        for backbone in matrices
    }


def statistics_caveats(runs_per_task: int, tasks: int) -> list[str]:
    """What the suite-wide intervals and aggregates cannot say with this many runs."""
    caveats = []
    if runs_per_task < BOOTSTRAP_MIN_RUNS_PER_TASK:
        caveats.append(
            f"With {runs_per_task} run(s) per dataset, the bootstrap intervals understate the "
            "uncertainty: rliable's authors (Agarwal et al. 2021) report that they cover less "
            f"than 95% with fewer than about {BOOTSTRAP_MIN_RUNS_PER_TASK} runs per task; the "
            "per-cell t-intervals are the wider, safer reading."
        )
    if runs_per_task * tasks < 4:
        caveats.append(
            f"With {runs_per_task * tasks} score(s) per backbone the IQM trims nothing (it drops "
            "a quarter of the scores at each end, rounded down): it equals the mean."
        )
    return caveats


def performance_profiles(matrices: dict, reps: int) -> tuple[dict, dict]:
    """Fraction of runs scoring above each threshold in PROFILE_THRESHOLDS, with CIs (rliable)."""
    with seeded_numpy():
        return rly.create_performance_profile(matrices, PROFILE_THRESHOLDS, reps=reps)


@contextlib.contextmanager
def seeded_numpy(seed: int = 0):
    """The same report from the same scores: rliable 1.2 resamples with numpy's global RNG
    (its `random_state` argument does not reach the resampling), so seed that for the call and
    restore it afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)
