"""One run of a suite, in a worker process or a Ray task: train (or resume, or skip when done),
then evaluate in every mode not yet evaluated. Both steps go through train.py's and evaluate.py's
own modules, so a suite's run is an ordinary run folder.

Re-running a task is safe: it continues from whatever the folder holds."""

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console

import training
from infra.device import resolve_device
from infra.error_text import first_line
from scoring import evaluate_runs, load_runs
from suite.results_folder import (
    FAILED_FILE,
    eval_path,
    first_target_score,
    read_evaluation,
    trained_steps,
    write_json,
)
from training import errors

# Interrupted is raised by the training loop after it checkpoints on SIGINT/SIGTERM; a loop
# without that handler lets KeyboardInterrupt through instead.
INTERRUPTIONS = tuple(
    error for error in (getattr(errors, "Interrupted", None), KeyboardInterrupt) if error
)


@dataclass(frozen=True)
class RunTask:
    name: str
    run_dir: Path
    args: dict  # training.args_to_dict of the run's Args
    eval_modes: tuple[str, ...]
    eval_episodes: int
    threads: int


@dataclass(frozen=True)
class RunOutcome:
    name: str
    status: str  # "finished", "failed" or "interrupted"
    error: str | None = None
    score: float | None = None  # the last checkpoint's score, first mode, first target
    train_seconds: float = 0.0
    evaluate_seconds: float = 0.0


def run_one(task: RunTask, events=None) -> RunOutcome:
    """Train and evaluate one run; `events.put(...)` (a queue) hears when it starts."""
    torch.set_num_threads(task.threads)
    if events is not None:
        events.put(("started", task.name))
    (task.run_dir / FAILED_FILE).unlink(missing_ok=True)  # a failed run is tried again
    train_seconds = evaluate_seconds = 0.0
    try:
        start = time.perf_counter()
        train_or_resume(task)
        train_seconds = time.perf_counter() - start
        scores = []
        for mode in task.eval_modes:
            start = time.perf_counter()
            scores.append(evaluate_once(task, mode))
            evaluate_seconds += time.perf_counter() - start
    except INTERRUPTIONS:
        return RunOutcome(task.name, "interrupted")
    except Exception as error:  # noqa: BLE001 (any failure ends this run only, with its line)
        line = f"{type(error).__name__}: {first_line(str(error))}"
        task.run_dir.mkdir(parents=True, exist_ok=True)  # it may have failed before training
        write_json(task.run_dir / FAILED_FILE, {"error": line})
        return RunOutcome(task.name, "failed", error=line)
    return RunOutcome(task.name, "finished", None, scores[0], train_seconds, evaluate_seconds)


def train_or_resume(task: RunTask) -> None:
    args = training.args_from_dict(task.args)
    done = trained_steps(task.run_dir)
    if done == args.steps:
        return
    if done == 0:
        # Killed before its first checkpoint: nothing to keep, and stale TensorBoard events
        # would repeat steps.
        shutil.rmtree(task.run_dir, ignore_errors=True)
        training.train(args)
        return
    saved = training.args_from_dict(json.loads((task.run_dir / "config.json").read_text()))
    training.train(
        dataclasses.replace(saved, resume=task.run_dir, steps=args.steps, device=args.device)
    )


def evaluate_once(task: RunTask, mode: str) -> float:
    """Evaluate the final checkpoint in `mode` (once: a saved evaluation is read back)."""
    path = eval_path(task.run_dir, mode)
    if not path.is_file():
        args = training.args_from_dict(task.args)
        report = evaluate_runs(
            load_runs((task.run_dir,), resolve_device(args.device)),
            episodes=task.eval_episodes,
            target_returns=args.target_returns,
            mode=mode,
            seed=None,  # each model's env seeds from its training seed
            console=Console(quiet=True),
        )
        write_json(path, report.to_json())
    return first_target_score(read_evaluation(task.run_dir, mode))
