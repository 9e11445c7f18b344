"""The training loop: sample windows, step the optimiser, log, evaluate, checkpoint."""

import dataclasses
import math
import sys
import time
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from datasets import WindowSampler, load_dataset
from envs.normalization import ReferenceReturns, reference_returns
from envs.target_returns import default_target_returns
from infra.checkpoint_files import save_checkpoint
from infra.cpu_threads import ThreadsForFreeCores
from infra.device import resolve_device
from infra.errors import UsageError
from infra.progress import ProgressDisplay
from training.checkpointing import dataset_summary, recorded_threads
from training.config import Args, args_to_dict, validate
from training.errors import Interrupted, NonFiniteLoss
from training.evaluation_clips import EvaluationClips
from training.interrupts import StopRequests
from training.members import Members
from training.periodic_evaluation import PeriodicEvaluation
from training.run_folder import open_run_folder
from training.single_model import SingleModel
from training.validation import BEST_CHECKPOINT_NAME, Validation


def train(args: Args) -> Path:
    """Train (or, with args.resume, continue) one run; returns its folder. With args.seeds the
    run trains one member per seed, as one batched computation.

    SIGINT/SIGTERM finish the current step, write a checkpoint and raise Interrupted."""
    validate(args)
    device = resolve_device(args.device)  # before anything is written
    dataset = load_dataset(args.dataset)
    run_dir, lock, checkpoint = open_run_folder(args)
    with lock:
        if checkpoint is not None and checkpoint["dataset"]["env_id"] != dataset.env_id:
            env_id = checkpoint["dataset"]["env_id"]
            raise UsageError(f"--resume {run_dir}: checkpoint is for {env_id}")
        train_in(run_dir, checkpoint, args, dataset, device)
    return run_dir


def train_in(run_dir: Path, checkpoint: dict | None, args: Args, dataset, device) -> None:
    """The loop, in a run folder this process holds the lock of.

    Seeding happens where the randomness is drawn, from args.seed (or each of args.seeds): the
    trainee seeds torch before building each model (initial weights; then a single model's
    dropout; members draw theirs from generators seeded with (seed, step)) and owns the CPU
    generators its windows come from, saved in checkpoints so that they resume anywhere;
    evaluation resets env i with seed + i. Nothing reads numpy's global generator."""
    validation = Validation(args, dataset, device, run_dir)  # held-out episodes, --val-fraction
    training_set = validation.training_set
    sampler = WindowSampler(
        training_set, args.context_length, device=device, from_episode_start=args.from_episode_start
    )
    trainee = (SingleModel if args.seeds is None else Members)(args, training_set, sampler, device)
    start = 0
    if checkpoint is not None:
        start = trainee.restore(checkpoint, str(run_dir / "checkpoint.pt"))
    validation.resume(start)
    if validation.note and start == 0:  # once per run
        print(f"note: {validation.note}", file=sys.stderr)
    evaluation = periodic_evaluation(args, dataset, device)
    writer = SummaryWriter(run_dir, purge_step=start + 1 if start else None)  # drop lost steps
    if start == 0:
        log_settings(writer, args)
    try:
        step, scalars = run_steps(
            run_dir,
            args,
            trainee,
            start,
            summary=dataset_summary(dataset),
            device=device,
            evaluation=evaluation,
            cpu_threads=ThreadsForFreeCores(recorded_threads(checkpoint), adapt=args.adapt_threads),
            clips=evaluation_clips(args, dataset),
            validation=validation,
            writer=writer,
        )
        evaluation.drain(writer, wait=True)
        final = {**evaluation.latest, **validation.latest, **scalars}
        log_hyperparameters(writer, args, final, step)
    finally:
        evaluation.close()
        writer.close()


def periodic_evaluation(args: Args, dataset, device) -> PeriodicEvaluation:
    """Evaluation during training: in a background process where asked (or, by default, when
    training runs on CUDA), else in this process between steps."""
    background = args.eval_process == "background" or (
        args.eval_process == "auto" and device.type == "cuda"
    )
    return PeriodicEvaluation(
        background,
        env_id=dataset.env_id,
        env_kwargs=dataset.env_kwargs,
        targets=run_targets(args, dataset),
        episodes=args.eval_episodes,
        mode=args.eval_mode,
        seed=args.seed,
        references=dataset_references(dataset),
    )


def run_targets(args: Args, dataset) -> tuple[float, ...]:
    """The returns evaluations during training ask for: --target-returns, else the env's
    defaults (a memory task's: its expert's return)."""
    return args.target_returns or default_target_returns(dataset.env_id, dataset.ref_max_score)


def dataset_references(dataset) -> ReferenceReturns:
    """The returns that normalise the dataset's scores (its stored ones, else D4RL's)."""
    return reference_returns(dataset.env_id, dataset.ref_min_score, dataset.ref_max_score)


def evaluation_clips(args: Args, dataset) -> EvaluationClips:
    """A filmed episode logged to TensorBoard every args.video_every steps (0: never)."""
    return EvaluationClips(
        args.video_every,
        env_id=dataset.env_id,
        env_kwargs=dataset.env_kwargs,
        targets=run_targets(args, dataset),
        mode=args.eval_mode,
        seed=args.seed,
        references=dataset_references(dataset),
    )


def log_settings(writer: SummaryWriter, args: Args) -> None:
    """Every setting as a markdown table, under TensorBoard's text tab (as CleanRL does)."""
    rows = "\n".join(f"|{k}|{v}|" for k, v in args_to_dict(args).items())
    writer.add_text("config", f"|setting|value|\n|-|-|\n{rows}")


def run_steps(
    run_dir: Path,
    args: Args,
    trainee: SingleModel | Members,
    start: int,
    *,
    summary: dict,
    device: torch.device,
    evaluation: PeriodicEvaluation,
    cpu_threads: ThreadsForFreeCores,
    clips: EvaluationClips,
    validation: Validation,
    writer: SummaryWriter,
) -> tuple[int, dict[str, float]]:
    """Steps start + 1 to args.steps: optimise, then log, evaluate, validate and checkpoint as
    often as args say. Returns the last step and its loss scalars. SIGINT/SIGTERM finish the current
    step, write a checkpoint and raise Interrupted."""
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    trainee.train()
    step, scalars = start, {}
    progress = ProgressDisplay(run_dir.name, args.steps, completed=start)
    # fewer threads while other processes keep cores busy (a resumed run: as it started)
    with StopRequests() as stop, progress, cpu_threads:
        window_start = time.perf_counter()
        for step in range(start + 1, args.steps + 1):
            cpu_threads.adjust()
            with autocast:
                loss = trainee.loss(step)
            trainee.optimize(loss)

            if step % args.log_every == 0:  # the only host synchronisation of the loop
                steps_per_second = args.log_every / (time.perf_counter() - window_start)
                scalars = log_losses(writer, run_dir, trainee, loss, step, steps_per_second)
                progress.update(step, f"loss {scalars['losses/action_mse']:.4f}")
                evaluation.drain(writer)
                window_start = time.perf_counter()
            if args.eval_episodes > 0 and (step % args.eval_every == 0 or step == args.steps):
                evaluation.submit(trainee.models(), step)
                evaluation.drain(writer)
            if clips.due(step):
                clips.log(trainee.models(), step, writer)
            if validation.due(step):
                improved = validation.record(trainee.models(), step, writer)
                if improved and args.keep_best_val:  # the lowest held-out loss so far
                    write_checkpoint(
                        run_dir / BEST_CHECKPOINT_NAME, trainee, step, args, summary, cpu_threads
                    )
            stopping = stop.signal_number is not None
            if step % args.checkpoint_every == 0 or step == args.steps or stopping:
                scalars = checked_scalars(run_dir, trainee, loss, step)
                writer.flush()
                write_checkpoint(
                    run_dir / "checkpoint.pt", trainee, step, args, summary, cpu_threads
                )
            progress.update(step)
            if stopping:
                evaluation.drain(writer, wait=True)
                raise Interrupted(step, run_dir, stop.signal_number)
    return step, scalars


def write_checkpoint(
    path: Path,
    trainee: SingleModel | Members,
    step: int,
    args: Args,
    summary: dict,
    cpu_threads: ThreadsForFreeCores,
) -> None:
    """The trainee at `step`, with every setting, the dataset's summary and the thread count
    (which --resume reuses, for the same sums in the same order), written atomically."""
    config = args_to_dict(args)
    payload = trainee.payload(step, config=config, dataset=summary, cpu_threads=cpu_threads.count)
    save_checkpoint(path, payload)


def log_losses(
    writer: SummaryWriter,
    run_dir: Path,
    trainee: SingleModel | Members,
    loss: torch.Tensor,
    step: int,
    steps_per_second: float,
) -> dict[str, float]:
    """The loss scalars (checked finite), the learning rate and the speed, at `step`."""
    scalars = checked_scalars(run_dir, trainee, loss, step)
    for tag, value in scalars.items():
        writer.add_scalar(tag, value, step)
    writer.add_scalar("charts/learning_rate", trainee.scheduler.get_last_lr()[0], step)
    writer.add_scalar("charts/steps_per_second", steps_per_second, step)
    return scalars


def checked_scalars(
    run_dir: Path, trainee: SingleModel | Members, loss: torch.Tensor, step: int
) -> dict[str, float]:
    """The loss as scalars by tag. Raises NonFiniteLoss if one is not finite; the check comes
    before every checkpoint, so the one on disk keeps the last finite state."""
    scalars = trainee.loss_scalars(loss)
    for tag, value in scalars.items():
        if not math.isfinite(value):
            kept = "checkpoint.pt keeps the last finite state"
            if not (run_dir / "checkpoint.pt").exists():
                kept = "no checkpoint was written before it"
            raise NonFiniteLoss(
                f"{run_dir}: {tag} is {value} at step {step}; {kept} (try a lower --learning-rate)"
            )
    return scalars


def log_hyperparameters(writer: SummaryWriter, args: Args, final: dict, step: int) -> None:
    """The settings and the final metrics (means over members), for TensorBoard's HParams tab
    (which takes numbers, strings and booleans only)."""
    settings = args_to_dict(dataclasses.replace(args, resume=None, out_dir=None))
    backbone = settings.pop("backbone")
    settings["backbone"] = backbone["type"]
    settings.update({f"backbone.{k}": v for k, v in backbone["params"].items()})
    hparams = {
        name: value if isinstance(value, int | float | str | bool) else str(value)
        for name, value in settings.items()
    }
    names = {"losses/action_mse": "hparams/final_action_mse"}
    metrics = {
        names.get(tag, "hparams/" + tag.removeprefix("eval/")): value
        for tag, value in final.items()
        if "/seed_" not in tag and (tag.startswith("eval/") or tag in names)
    }
    writer.add_hparams(hparams, metrics, run_name=".", global_step=step)
