"""One run of a suite, in a worker process or a Ray task: train (or resume, or skip when done),
then evaluate in every mode not yet evaluated. Both steps go through train.py's and evaluate.py's
own modules, so a suite's run is an ordinary run folder.

Re-running a task is safe: it continues from whatever the folder holds, after waiting for any
process still writing it (a run of a killed suite stopping, or the attempt before a retry)."""

import dataclasses
import json
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console

import training
from infra.atomic_files import write_json
from infra.device import resolve_device
from infra.error_text import first_line
from infra.locks import lock_holder
from scoring import evaluate_runs, load_runs
from suite.results_folder import (
    best_val_checkpoint,
    clear_failure,
    eval_path,
    first_target_score,
    longer_delay_path,
    read_evaluation,
    record_failure,
    set_aside_earlier_attempt,
    trained_steps,
)
from training import errors
from training.run_folder import LOCK_NAME

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
    test_delay_factor: int | None = None
    """Memory tasks: also evaluate (first mode) at this multiple of the training delay."""


@dataclass(frozen=True)
class RunOutcome:
    name: str
    status: str  # "finished", "failed" or "interrupted"
    error: str | None = None
    score: float | None = None  # the last checkpoint's score, first mode, first target
    train_seconds: float = 0.0
    evaluate_seconds: float = 0.0


def run_one(task: RunTask, events=None, where: str = "") -> RunOutcome:
    """Train and evaluate one run. `events.put(...)` (a queue) hears when it starts, `where`
    (e.g. "on node ..., "), and from which step."""
    torch.set_num_threads(task.threads)
    train_seconds = evaluate_seconds = 0.0
    try:
        wait_while_held(task, events)
        done = trained_steps(task.run_dir)
        if events is not None:
            events.put(("started", task.name, f"{where}from step {done}"))
        clear_failure(task.run_dir)  # a failed run is tried again
        start = time.perf_counter()
        train_or_resume(task, done)
        train_seconds = time.perf_counter() - start
        scores = []
        for mode in task.eval_modes:
            start = time.perf_counter()
            scores.append(evaluate_once(task, mode))
            evaluate_seconds += time.perf_counter() - start
        if task.args.get("keep_best_val") and best_val_checkpoint(task.run_dir) is not None:
            evaluate_once(task, task.eval_modes[0], best_val=True)
        if task.test_delay_factor is not None:
            start = time.perf_counter()
            evaluate_at_longer_delay(task, task.eval_modes[0], task.test_delay_factor)
            evaluate_seconds += time.perf_counter() - start
    except INTERRUPTIONS:
        return RunOutcome(task.name, "interrupted")
    except Exception as error:  # noqa: BLE001 (any failure ends this run only, with its line)
        line = f"{type(error).__name__}: {first_line(str(error))}"
        record_failure(task.run_dir, line, traceback.format_exc())
        return RunOutcome(task.name, "failed", error=line)
    clear_failure(task.run_dir)  # recorded meanwhile by a suite that gave up on this process
    return RunOutcome(task.name, "finished", None, scores[0], train_seconds, evaluate_seconds)


def wait_while_held(task: RunTask, events=None, poll_seconds: float = 0.5) -> None:
    """Wait while another live process holds the run folder's lock: it is writing this run
    (it stops, or finishes, on its own), and training beside it would fail on the lock."""
    holder = lock_holder(task.run_dir / LOCK_NAME)
    if holder is None:
        return
    if events is not None:
        events.put(("waiting", task.name, f"for pid {holder}, which is still writing it"))
    while lock_holder(task.run_dir / LOCK_NAME) is not None:
        time.sleep(poll_seconds)


def train_or_resume(task: RunTask, done: int) -> None:
    """Train from step `done` (the run's last checkpoint; 0 for none) to the task's steps."""
    args = training.args_from_dict(task.args)
    if done == args.steps:
        return
    if done == 0:
        # Killed before its first checkpoint: its TensorBoard events would repeat steps, so it
        # starts in an empty folder; what the earlier attempt left is renamed, never deleted.
        set_aside_earlier_attempt(task.run_dir)
        training.train(args)
        return
    saved = training.args_from_dict(json.loads((task.run_dir / "config.json").read_text()))
    training.train(
        dataclasses.replace(saved, resume=task.run_dir, steps=args.steps, device=args.device)
    )


def evaluate_once(task: RunTask, mode: str, best_val: bool = False) -> float:
    """Evaluate the final checkpoint in `mode` (once: a saved evaluation is read back); with
    `best_val`, the checkpoint of lowest validation loss, with as many episodes."""
    path = eval_path(task.run_dir, mode, best_val)
    if not path.is_file():
        checkpoint = best_val_checkpoint(task.run_dir) if best_val else task.run_dir
        write_json(path, _evaluation(task, mode, _load(task, checkpoint)).to_json())
    return first_target_score(read_evaluation(task.run_dir, mode, best_val))


def evaluate_at_longer_delay(task: RunTask, mode: str, factor: int) -> None:
    """A memory-task run's final checkpoint at `factor` times its training delay (once); nothing
    for other tasks."""
    path = longer_delay_path(task.run_dir, mode, factor)
    if not path.is_file():
        runs = _load(task, task.run_dir)
        delay = runs[0].payload["dataset"].get("env_kwargs", {}).get("delay")
        if delay is None:
            return
        write_json(path, _evaluation(task, mode, runs, {"delay": factor * delay}).to_json())


def _load(task: RunTask, checkpoint: Path):
    """The run(s) at `checkpoint` (a run folder or a checkpoint file), on the task's device."""
    return load_runs((checkpoint,), resolve_device(training.args_from_dict(task.args).device))


def _evaluation(task: RunTask, mode: str, runs, env_kwargs: dict | None = None):
    """The evaluation of the loaded `runs`, in the training data's env or with `env_kwargs` over
    its keywords."""
    return evaluate_runs(
        runs,
        episodes=task.eval_episodes,
        target_returns=training.args_from_dict(task.args).target_returns,
        mode=mode,
        seed=None,  # each model's env seeds from its training seed
        console=Console(quiet=True),
        env_kwargs=env_kwargs,
    )
