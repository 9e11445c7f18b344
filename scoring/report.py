"""Rolling runs out for every target return and gathering the scores into one report (a dict
that is also the JSON evaluate.py writes)."""

import gymnasium
import mujoco
from rich.console import Console

from envs import (
    d4rl_counterpart,
    default_target_returns,
    evaluate_model,
    is_replica,
    normalized_score,
    published_scores,
    reference_returns,
)
from envs.evaluation import Mode
from scoring.runs import Run
from scoring.statistics import summarize


def evaluate_runs(
    runs: list[Run],
    *,
    episodes: int,
    target_returns: tuple[float, ...] | None,
    mode: Mode,
    seed: int,
    console: Console,
) -> dict:
    dataset = runs[0].payload["dataset"]
    env_id = dataset["env_id"]
    references = reference_returns(env_id, dataset["ref_min_score"], dataset["ref_max_score"])
    targets = target_returns or default_target_returns(env_id)
    run_reports = [
        {
            "checkpoint": str(run.checkpoint),
            "step": run.payload["step"],
            "backbone": run.backbone,
            "training_seed": run.payload["config"].get("seed"),
            "results": [],
        }
        for run in runs
    ]
    summaries, env_seeds = [], None
    for target in targets:
        per_run_scores = []
        for run, report in zip(runs, run_reports, strict=True):
            stats = evaluate_model(
                run.model,
                env_id=env_id,
                target_return=target,
                episodes=episodes,
                mode=mode,
                seed=seed,
            )
            env_seeds = stats.env_seeds.tolist()
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
        summaries.append({"target_return": target, **summarize(per_run_scores)})

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
        "env_seeds": env_seeds,
        "normalization": {
            "ref_min": references.ref_min,
            "ref_max": references.ref_max,
            "source": references.source,
            "note": normalization_note(references.source, env_id),
        },
        "aggregation": (
            "one run: mean and std over its episodes"
            if len(runs) == 1
            else f"{len(runs)} runs: mean and std (ddof=1) of the per-run mean scores; ci95 from "
            f"the t-distribution with {len(runs) - 1} degrees of freedom over the per-run means"
        ),
        "targets": summaries,
        "runs": run_reports,
        "published": [
            {"method": score.method, "mean": score.mean, "std": score.std, "source": score.source}
            for score in published_scores(dataset["id"])
        ],
    }


def normalization_note(source: str, env_id: str) -> str:
    if source == "d4rl":
        return (
            f"D4RL's reference returns were measured on old Gym v2/v3 environments: on {env_id}"
            " the normalised scores are an approximation."
        )
    return (
        "Normalised with the dataset's own reference returns; the published scores use D4RL's"
        " (measured on old Gym v2/v3 environments)."
    )
