"""Rolling runs out for every target return and gathering the scores into one EvaluationReport:
every run on its own, and each group of runs that differ only in their seed aggregated."""

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
from scoring.results import (
    DatasetScore,
    EvaluationReport,
    GroupSummary,
    Normalization,
    RunEvaluation,
    TargetResult,
    TargetSummary,
)
from scoring.runs import TrainedModel
from scoring.statistics import over_episodes, summarize
from scoring.videos import VideoRequest, film_for, save_clips


def evaluate_runs(
    runs: list[TrainedModel],
    *,
    episodes: int,
    target_returns: tuple[float, ...] | None,
    mode: Mode,
    seed: int | None,
    console: Console,
    env_id: str | None = None,
    env_kwargs: dict | None = None,
    videos: VideoRequest | None = None,
) -> EvaluationReport:
    """Every run rolled out at every target return; env i of a run is reset with seed + i, or
    with the run's own training seed + i when `seed` is None. `env_id` replaces the training
    data's env, `env_kwargs` override its keywords (a memory task at another delay: length
    generalisation). `videos`: film the first episodes of every run at every target
    (scoring.videos)."""
    dataset = runs[0].payload["dataset"]
    env_id = env_id or dataset["env_id"]
    trained_env_kwargs = dataset.get("env_kwargs", {})
    rollout_env_kwargs = trained_env_kwargs | (env_kwargs or {})
    references = reference_returns(env_id, dataset["ref_min_score"], dataset["ref_max_score"])
    targets = target_returns or default_target_returns(env_id, dataset["ref_max_score"])
    groups = group_runs([run.record for run in runs])
    group_of = {index: number for number, group in enumerate(groups) for index in group.runs}

    evaluations = []
    for index, run in enumerate(runs):
        results, env_seeds = [], ()
        for target in targets:
            film = film_for(videos)
            stats = evaluate_model(
                run.model,
                env_id=env_id,
                target_return=target,
                episodes=episodes,
                mode=mode,
                seed=run.training_seed if seed is None else seed,
                env_kwargs=rollout_env_kwargs,
                film=film,
            )
            env_seeds = tuple(stats.env_seeds.tolist())
            scores = normalized_score(stats.returns, references.ref_min, references.ref_max)
            summary = over_episodes(scores)
            successes = None if stats.successes is None else tuple(stats.successes.tolist())
            results.append(
                TargetResult(
                    target,
                    tuple(stats.returns.tolist()),
                    tuple(stats.lengths.tolist()),
                    tuple(scores.tolist()),
                    summary,
                    successes=successes,
                    success_rate=stats.success_rate,
                    videos=save_clips(
                        film,
                        videos,
                        run_name=run.name,
                        backbone=run.backbone,
                        target=target,
                        references=references,
                        console=console,
                    ),
                )
            )
            success = "" if successes is None else f", success {stats.success_rate:.2f}"
            console.print(
                f"{run.checkpoint}  target {target:g}: score {summary.mean:.1f} ± "
                f"{summary.std:.1f}, return {stats.returns.mean():.0f}, "
                f"length {stats.lengths.mean():.0f}{success}",
                soft_wrap=True,
            )
        evaluations.append(
            RunEvaluation(
                str(run.checkpoint),
                run.payload["step"],
                run.backbone,
                run.training_seed,
                group_of[index],
                env_seeds,
                tuple(results),
            )
        )

    group_summaries = tuple(_group_summary(group, evaluations, targets) for group in groups)
    return EvaluationReport(
        dataset=dataset["id"],
        d4rl_counterpart=d4rl_counterpart(dataset["id"]),
        replica=is_replica(dataset["id"]),
        env_id=env_id,
        env_kwargs=rollout_env_kwargs,
        trained_env_kwargs=trained_env_kwargs,
        gymnasium_version=gymnasium.__version__,
        mujoco_version=mujoco.__version__,
        backbones=tuple(sorted({run.backbone for run in runs})),
        mode=mode,
        episodes=episodes,
        seed=seed,
        normalization=Normalization(
            references.ref_min,
            references.ref_max,
            references.source,
            normalization_note(references.source, env_id),
        ),
        dataset_score=_dataset_score(dataset, references),
        groups=group_summaries,
        runs=tuple(evaluations),
        published=published_scores(dataset["id"]),
    )


def _group_summary(group, evaluations: list[RunEvaluation], targets) -> GroupSummary:
    """The group's runs aggregated at each target (scoring.statistics.summarize)."""
    summaries = []
    for number, target in enumerate(targets):
        results = [evaluations[index].results[number] for index in group.runs]
        per_run_scores = [result.normalized_scores for result in results]
        success_rate = None
        if all(result.successes is not None for result in results):
            success_rate = summarize([list(map(float, result.successes)) for result in results])
        summaries.append(TargetSummary(target, summarize(per_run_scores), success_rate))
    return GroupSummary(
        group.label, group.backbone, group.differences, group.runs, tuple(summaries)
    )


def _dataset_score(dataset: dict, references) -> DatasetScore | None:
    """The mean episode of the training data (the behaviour policies), normalised as the runs'
    scores; None for checkpoints that do not record it."""
    mean_return = dataset.get("mean_episode_return")
    if mean_return is None:
        return None
    score = normalized_score(mean_return, references.ref_min, references.ref_max)
    return DatasetScore(mean_return, float(score))
