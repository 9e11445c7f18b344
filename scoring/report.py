"""Rolling runs out for every target return and gathering the scores into one report (a dict
that is also the JSON evaluate.py writes): every run on its own, and each group of runs that
differ only in their seed aggregated."""

import dataclasses

import gymnasium
import mujoco
from rich.console import Console

from envs import (
    default_target_returns,
    evaluate_model,
    normalization_note,
    normalized_score,
    reference_returns,
)
from envs.evaluation import Mode
from scoring.grouping import group_runs
from scoring.published_scores import d4rl_counterpart, is_replica, published_scores
from scoring.runs import Run
from scoring.statistics import summarize


def evaluate_runs(
    runs: list[Run],
    *,
    episodes: int,
    target_returns: tuple[float, ...] | None,
    mode: Mode,
    seed: int | None,
    console: Console,
) -> dict:
    """Every run rolled out at every target return; env i of a run is reset with seed + i, or
    with the run's own training seed + i when `seed` is None."""
    dataset = runs[0].payload["dataset"]
    env_id = dataset["env_id"]
    references = reference_returns(env_id, dataset["ref_min_score"], dataset["ref_max_score"])
    targets = target_returns or default_target_returns(env_id)
    groups = group_runs([run.record for run in runs])
    group_of = {index: number for number, group in enumerate(groups) for index in group.runs}
    run_reports = [
        {
            "checkpoint": str(run.checkpoint),
            "step": run.payload["step"],
            "backbone": run.backbone,
            "training_seed": run.training_seed,
            "group": group_of[index],
            "results": [],
        }
        for index, run in enumerate(runs)
    ]
    scores_by_target, env_seeds = [], None  # [target][run] -> (episodes,) normalised scores
    for target in targets:
        per_run_scores = []
        for run, report in zip(runs, run_reports, strict=True):
            stats = evaluate_model(
                run.model,
                env_id=env_id,
                target_return=target,
                episodes=episodes,
                mode=mode,
                seed=run.training_seed if seed is None else seed,
            )
            env_seeds = report["env_seeds"] = stats.env_seeds.tolist()
            scores = normalized_score(stats.returns, references.ref_min, references.ref_max)
            per_run_scores.append(scores)
            report["results"].append(
                {
                    "target_return": target,
                    "returns": stats.returns.tolist(),
                    "lengths": stats.lengths.tolist(),
                    "normalized_scores": scores.tolist(),
                    "normalized_score_mean": scores.mean(),
                    "normalized_score_std": scores.std(),
                }
            )
            console.print(
                f"{run.checkpoint}  target {target:g}: score {scores.mean():.1f} ± "
                f"{scores.std():.1f}, return {stats.returns.mean():.0f}, "
                f"length {stats.lengths.mean():.0f}",
                soft_wrap=True,
            )
        scores_by_target.append(per_run_scores)
    group_reports = [
        {
            "label": group.label,
            "backbone": group.backbone,
            "differences": group.differences,
            "runs": list(group.runs),
            "aggregation": _aggregation(len(group.runs)),
            "targets": [
                {
                    "target_return": target,
                    **summarize([per_run_scores[index] for index in group.runs]),
                }
                for target, per_run_scores in zip(targets, scores_by_target, strict=True)
            ],
        }
        for group in groups
    ]

    return {
        "dataset": dataset["id"],
        "d4rl_counterpart": d4rl_counterpart(dataset["id"]),
        "replica": is_replica(dataset["id"]),
        "env_id": env_id,
        "gymnasium_version": gymnasium.__version__,
        "mujoco_version": mujoco.__version__,
        "backbones": sorted({run.backbone for run in runs}),
        "mode": mode,
        "episodes": episodes,
        "seed": seed,
        "env_seeds": env_seeds if seed is not None else None,  # else per run
        "normalization": {
            "ref_min": references.ref_min,
            "ref_max": references.ref_max,
            "source": references.source,
            "note": normalization_note(references.source, env_id),
        },
        "dataset_score": _dataset_score(dataset, references),
        "aggregation": (
            group_reports[0]["aggregation"]
            if len(groups) == 1
            else f"{len(groups)} groups of runs that differ in more than their seed, each "
            "aggregated over its own runs (groups[].aggregation); targets is null: each group's "
            "summaries are in groups[].targets"
        ),
        "targets": group_reports[0]["targets"] if len(groups) == 1 else None,
        "groups": group_reports,
        "runs": run_reports,
        "published": [dataclasses.asdict(score) for score in published_scores(dataset["id"])],
    }


def _dataset_score(dataset: dict, references) -> dict | None:
    """The mean episode of the training data (the behaviour policies), normalised as the runs'
    scores; None for checkpoints that do not record it."""
    mean_return = dataset.get("mean_episode_return")
    if mean_return is None:
        return None
    score = normalized_score(mean_return, references.ref_min, references.ref_max)
    return {"mean_episode_return": mean_return, "normalized_score": float(score)}


def _aggregation(runs: int) -> str:
    if runs == 1:
        return "one run: mean and std over its episodes"
    return (
        f"{runs} runs (seeds): mean and std (ddof=1) of the per-run mean scores; ci95 from the "
        f"t-distribution with {runs - 1} degrees of freedom over the per-run means"
    )
