"""Roll trained decision models out and report D4RL-normalised scores beside published ones.

    python evaluate.py runs/x --episodes 100 --json runs/x/eval.json --chart runs/x/eval.png
    python evaluate.py runs/seed0 runs/seed1 runs/seed2    # several seeds: mean and 95% CI
    python evaluate.py runs/cue-reach-d30 --env-kwargs delay=90   # a memory task, 3x the delay

Each run folder's checkpoint.pt (or a checkpoint file given directly) is rolled out for every
target return; nothing about training needs to be given.
"""

import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro
from rich.console import Console

from envs.evaluation import Mode
from envs.make import check_env_kwargs, env_id_for, is_memory_env
from infra.atomic_files import atomic_write
from infra.device import resolve_device
from infra.errors import InputError, UsageError
from scoring import evaluate_runs, load_runs, print_table, render_chart
from scoring.videos import VideoRequest, usable
from training.validation import held_out_line, held_out_losses


@dataclass(frozen=True)
class EvaluationArgs:
    runs: Annotated[
        tyro.conf.Positional[tuple[Path, ...]],
        tyro.conf.arg(metavar="RUN [RUN ...]", help_behavior_hint="(required)"),
    ]
    """Run folders (their checkpoint.pt) or checkpoint files, all of one dataset.
    Runs that differ only in their seed are aggregated (mean and 95% confidence interval).
    Runs that differ in other settings are reported as separate groups."""
    episodes: int = 100
    """Episodes per run and target return."""
    target_returns: Annotated[
        tuple[float, ...] | None,
        tyro.conf.arg(
            help_behavior_hint="(default: CORL's for the env, e.g. 3600 1800 for Hopper)"
        ),
    ] = None
    """Returns to condition on."""
    mode: Mode = "recurrent"
    """How the model is rolled out.
    recurrent: carry the backbone state step by step (O(1) per step).
    windowed: re-run the model over the last K steps at every step (as Decision Transformer)."""
    seed: int = 0
    """Environment seeds: env i of the vector env is reset with seed + i."""
    json: Path | None = None
    """Write per-episode returns and lengths and the normalised scores here."""
    chart: Path | None = None
    """Write a PNG chart here: normalised score per target, published scores as lines."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where the model runs (auto: CUDA when available)."""
    video: Annotated[Path | None, tyro.conf.arg(metavar="DIR")] = None
    """Write an MP4 of the first episode at each target return into this folder (pip install
    '.[video]'; MUJOCO_GL=egl, else osmesa). Scores are those of the same rollout unfilmed."""
    video_episodes: int = 1
    """With --video: film the first episode of this many envs at each target return."""
    no_env: bool = False
    """Report each checkpoint's action loss on its run's held-out episodes (train.py
    --val-fraction) instead of rolling it out: no environment is made."""
    env: str | None = None
    """Roll out in this env instead of the training data's (e.g. Hopper-v5 for v4 data)."""
    env_kwargs: Annotated[tuple[str, ...], tyro.conf.arg(metavar="KEY=VALUE ...")] = ()
    """Memory tasks: keywords the env is made with, over the training data's (delay=90 rolls a
    model trained at delay 30 out at 3x its delay: length generalisation)."""


def validate(args: EvaluationArgs) -> None:
    if not args.runs:
        raise UsageError("give at least one run folder or checkpoint file")
    if args.episodes <= 0:
        raise UsageError(f"--episodes must be positive, got {args.episodes}")
    if args.video_episodes <= 0:
        raise UsageError(f"--video-episodes must be positive, got {args.video_episodes}")
    if args.target_returns is not None and not all(map(math.isfinite, args.target_returns)):
        raise UsageError(f"--target-returns must be finite numbers, got {args.target_returns}")
    if args.target_returns == ():
        raise UsageError("--target-returns needs at least one value")
    for flag, output in (("--json", args.json), ("--chart", args.chart)):
        if output is not None:
            check_writable(flag, output)
    parse_env_kwargs(args.env_kwargs)


def check_writable(flag: str, path: Path) -> None:
    """Before any rollout, without writing anything: the file's nearest existing folder is a
    folder this process may write in (the missing ones below it are made when writing)."""
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file path")
    existing = next(folder for folder in path.parents if folder.exists())
    if not existing.is_dir():
        raise UsageError(f"{flag} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: the folder {existing} is not writable")


def json_bytes(payload) -> bytes:
    """`payload` as indented JSON, as every JSON this toolkit writes."""
    return (json.dumps(payload, indent=2) + "\n").encode()


def write_output(flag: str, path: Path, content: bytes) -> None:
    """`content` written atomically; a failure is one line and exit 2."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as file:
            file.write(content)
    except OSError as error:
        print(f"error: {flag} {path}: cannot write it: {error.strerror}", file=sys.stderr)
        sys.exit(2)


def parse_env_kwargs(pairs: tuple[str, ...]) -> dict:
    """("delay=90",) -> {"delay": 90}: each value read as JSON (a number), else kept as text."""
    env_kwargs = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key:
            raise UsageError(f"--env-kwargs takes KEY=VALUE pairs, got {pair!r}")
        try:
            env_kwargs[key] = json.loads(text)
        except json.JSONDecodeError:
            env_kwargs[key] = text
    return env_kwargs


def check_rollout_env(runs, env: str | None, env_kwargs: dict) -> str:
    """The env the runs are rolled out in (the training data's unless `env`), checked to be of the
    same kind (a memory task or not) and to take `env_kwargs`; UsageError otherwise."""
    trained = runs[0].payload["dataset"]["env_id"]
    try:
        rollout_env = trained if env is None else env_id_for(env)
        if is_memory_env(trained) != is_memory_env(rollout_env):
            kind = "a memory task" if is_memory_env(trained) else "a locomotion task"
            raise UsageError(
                f"--env {env}: the runs were trained on {kind} ({trained}); evaluate them in "
                f"{'a memory task' if is_memory_env(trained) else 'a locomotion env'} too"
            )
        check_env_kwargs(rollout_env, env_kwargs)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return rollout_env


def main(argv: list[str] | None = None) -> None:
    args = tyro.cli(
        EvaluationArgs, args=argv, prog="python evaluate.py", description=__doc__.split("\n\n")[0]
    )
    # Piped into a file or log, the table need not fit an 80-column terminal.
    console = Console(width=None if sys.stdout.isatty() else 120)
    try:
        validate(args)
        device = resolve_device(args.device)
        runs = load_runs(args.runs, device)
        held_out = held_out_losses(runs, device) if args.no_env else None
        if held_out is None:
            env_kwargs = parse_env_kwargs(args.env_kwargs)
            env_id = check_rollout_env(runs, args.env, env_kwargs)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    if held_out is not None:
        print("\n".join(map(held_out_line, held_out)))
        if args.json is not None:
            write_output("--json", args.json, json_bytes({"held_out": held_out}))
        return
    log = Console(stderr=True)
    videos = usable(VideoRequest(args.video, args.video_episodes), log) if args.video else None
    report = evaluate_runs(
        runs,
        episodes=args.episodes,
        target_returns=args.target_returns,
        mode=args.mode,
        seed=args.seed,
        console=log,
        videos=videos,
        env_id=env_id,
        env_kwargs=env_kwargs,
    )
    # The results first: a chart that cannot be drawn or written loses none of them.
    if args.json is not None:
        write_output("--json", args.json, json_bytes(report.to_json()))
    print_table(report, console)
    if args.chart is not None:
        write_output("--chart", args.chart, render_chart(report))


if __name__ == "__main__":
    main()
