"""Roll trained decision models out and report D4RL-normalised scores beside published ones.

    python evaluate.py runs/x --episodes 100 --json runs/x/eval.json --chart runs/x/eval.png
    python evaluate.py runs/seed0 runs/seed1 runs/seed2    # several seeds: mean and 95% CI

Each run folder's checkpoint.pt (or a checkpoint file given directly) is rolled out for every
target return; nothing about training needs to be given.
"""

import io
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import gymnasium
import mujoco
import numpy as np
import torch
import tyro
from rich import box
from rich.console import Console
from rich.table import Table

from agents.atomic_file import atomic_write
from agents.checkpoint import CheckpointError, load_checkpoint, load_model
from agents.device import resolve_device
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


@dataclass(frozen=True)
class Args:
    runs: tyro.conf.Positional[tuple[Path, ...]]
    """Run folders (their checkpoint.pt) or checkpoint files; several runs (seeds) of one dataset
    are aggregated into a mean and 95% confidence interval."""
    episodes: int = 100
    """Episodes per run and target return."""
    target_returns: tuple[float, ...] | None = None
    """Returns to condition on (default: CORL's for the environment, e.g. 3600 1800 for Hopper)."""
    mode: Mode = "recurrent"
    """recurrent: carry the backbone state step by step (O(1) per step). windowed: re-run the
    model over the last context-length steps at every step (as Decision Transformer)."""
    seed: int = 0
    """Environment seeds: env i of the vector env is reset with seed + i."""
    json: Path | None = None
    """Write per-episode returns and lengths and the normalised scores here."""
    chart: Path | None = None
    """Write a PNG chart here: normalised score per target, published scores as lines."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where the model runs (auto: CUDA when available)."""


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit status 2."""


@dataclass(frozen=True)
class Run:
    checkpoint: Path
    payload: dict
    model: torch.nn.Module

    @property
    def backbone(self) -> str:
        return self.payload["model"]["spec"]["backbone"]["type"]


def validate(args: Args) -> None:
    if not args.runs:
        raise UsageError("give at least one run folder or checkpoint file")
    if args.episodes <= 0:
        raise UsageError(f"--episodes must be positive, got {args.episodes}")
    if args.target_returns is not None and not all(map(math.isfinite, args.target_returns)):
        raise UsageError(f"--target-returns must be finite numbers, got {args.target_returns}")
    if args.target_returns == ():
        raise UsageError("--target-returns needs at least one value")
    for output in (args.json, args.chart):
        if output is not None and output.is_dir():
            raise UsageError(f"{output} is a folder; give a file path")


def load_run(path: Path, device: str) -> Run:
    if not path.exists():
        raise UsageError(f"{path}: no such run folder or checkpoint")
    checkpoint = path / "checkpoint.pt" if path.is_dir() else path
    try:
        payload = load_checkpoint(checkpoint)
        model = load_model(payload, device)
    except CheckpointError as error:
        raise UsageError(str(error)) from None
    for key in ("dataset", "config", "step"):
        if key not in payload:
            raise UsageError(
                f"{checkpoint}: no {key!r} entry (not a checkpoint written by train.py)"
            )
    return Run(checkpoint, payload, model)


def load_runs(paths: tuple[Path, ...], device: str) -> list[Run]:
    """Every run, checked to be of the same environment and dataset before any rollout."""
    runs = [load_run(path, device) for path in paths]
    first = runs[0]
    for run in runs[1:]:
        for key in ("env_id", "id"):
            if run.payload["dataset"][key] != first.payload["dataset"][key]:
                raise UsageError(
                    f"{run.checkpoint} is for {run.payload['dataset'][key]} but {first.checkpoint}"
                    f" is for {first.payload['dataset'][key]}: runs evaluated together must share"
                    " their environment and dataset"
                )
    return runs


def t_critical_95(df: int) -> float:
    """The 97.5% quantile of Student's t-distribution with `df` degrees of freedom (the factor of
    a two-sided 95% confidence interval), by integrating its density numerically."""
    x = np.linspace(0.0, 64.0, 640_001)  # the quantile is at most 12.71 (df = 1)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    density = np.exp(log_norm - (df + 1) / 2 * np.log1p(x**2 / df))
    trapezoids = (density[1:] + density[:-1]) / 2 * x[1]  # (n - 1,) mass between grid points
    mass_from_zero = np.concatenate([[0.0], np.cumsum(trapezoids)])
    return float(np.interp(0.475, mass_from_zero, x))


def summarize(per_run_scores: list[np.ndarray]) -> dict:
    """One target's normalised score: over episodes for one run, over run means for several."""
    if len(per_run_scores) == 1:
        scores = per_run_scores[0]
        return {
            "normalized_score_mean": scores.mean(),
            "normalized_score_std": scores.std(),
            "ci95": None,
        }
    run_means = np.array([scores.mean() for scores in per_run_scores])
    mean, std = run_means.mean(), run_means.std(ddof=1)
    half_width = t_critical_95(len(run_means) - 1) * std / math.sqrt(len(run_means))
    return {
        "normalized_score_mean": mean,
        "normalized_score_std": std,
        "ci95": [mean - half_width, mean + half_width],
    }


def evaluate_runs(runs: list[Run], args: Args, console: Console) -> dict:
    dataset = runs[0].payload["dataset"]
    env_id = dataset["env_id"]
    references = reference_returns(env_id, dataset["ref_min_score"], dataset["ref_max_score"])
    targets = args.target_returns or default_target_returns(env_id)
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
                episodes=args.episodes,
                mode=args.mode,
                seed=args.seed,
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
        "mode": args.mode,
        "episodes": args.episodes,
        "seed": args.seed,
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


def print_table(report: dict, console: Console) -> None:
    several_runs = len(report["runs"]) > 1
    table = Table(
        title=f"D4RL-normalised scores ({report['env_id']})",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
    )
    for column in ("dataset", "backbone", "mode"):
        table.add_column(column, no_wrap=True)
    for column in ("target", "score") + (("95% CI",) if several_runs else ()):
        table.add_column(column, justify="right", no_wrap=True)
    for summary in report["targets"]:
        interval = ["{:.1f} to {:.1f}".format(*summary["ci95"])] if several_runs else []
        table.add_row(
            report["dataset"],
            ", ".join(report["backbones"]),
            report["mode"],
            f"{summary['target_return']:g}",
            f"{summary['normalized_score_mean']:.1f} ± {summary['normalized_score_std']:.1f}",
            *interval,
        )
    table.add_section()
    label = "published*" if report["replica"] else "published"
    for published in report["published"]:
        spread = "" if published["std"] is None else f" ± {published['std']:.1f}"
        interval = [""] if several_runs else []
        score = f"{published['mean']:.1f}{spread}"
        table.add_row(report["d4rl_counterpart"], published["method"], label, "", score, *interval)
    console.print(table)
    if report["published"] and report["replica"]:
        console.print(f"* published, on D4RL data: {report['dataset']} is this toolkit's replica.")
    spread = "the std over runs of their mean" if several_runs else "the std over episodes"
    console.print(f"± is {spread}. {report['normalization']['note']}")
    if not report["published"]:
        counterpart = report["d4rl_counterpart"] or "no D4RL counterpart"
        console.print(f"No published scores to compare with ({report['dataset']}: {counterpart}).")


def render_chart(report: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = report["targets"]
    means = [summary["normalized_score_mean"] for summary in targets]
    if targets[0]["ci95"] is None:
        errors, error_label = (
            [summary["normalized_score_std"] for summary in targets],
            "± std over episodes",
        )
    else:
        errors = [summary["ci95"][1] - summary["normalized_score_mean"] for summary in targets]
        error_label = f"95% CI over {len(report['runs'])} runs"
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    positions = np.arange(len(targets))
    axes.errorbar(
        positions,
        means,
        yerr=errors,
        fmt="o",
        capsize=6,
        color="black",
        label=f"{', '.join(report['backbones'])}, {report['mode']} ({error_label})",
    )
    for published, color in zip(report["published"], plt.cm.tab10.colors, strict=False):
        axes.axhline(
            published["mean"],
            linestyle="--",
            linewidth=1,
            color=color,
            label=f"{published['method']}: {published['mean']:.1f}",
        )
    axes.set_xticks(positions, [f"{summary['target_return']:g}" for summary in targets])
    axes.set_xlim(-0.5, len(targets) - 0.5)
    axes.set_xlabel("target return")
    axes.set_ylabel("D4RL-normalised score")
    title = f"{report['dataset']} ({report['env_id']})"
    if report["published"]:
        title += f"\ndashed: published, on the D4RL data of {report['d4rl_counterpart']}"
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=7, loc="best")
    if report["normalization"]["source"] == "d4rl":
        figure.text(
            0.01, 0.01, "D4RL reference returns (old Gym) on v5 envs: approximate", fontsize=6
        )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> None:
    args = tyro.cli(Args, args=argv)
    # Piped into a file or log, the table need not fit an 80-column terminal.
    console = Console(width=None if sys.stdout.isatty() else 120)
    try:
        validate(args)
        device = resolve_device(args.device)
        runs = load_runs(args.runs, device)
    except (UsageError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    report = evaluate_runs(runs, args, Console(stderr=True))
    # Everything is rendered before anything is written.
    outputs: list[tuple[Path, bytes]] = []
    if args.json is not None:
        outputs.append((args.json, json.dumps(report, indent=2).encode()))
    if args.chart is not None:
        outputs.append((args.chart, render_chart(report)))
    for path, content in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as file:
            file.write(content)
    print_table(report, console)


if __name__ == "__main__":
    main()
