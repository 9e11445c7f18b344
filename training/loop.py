"""The training loop: sample windows, step the optimiser, log, evaluate, checkpoint."""

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from datasets import WindowSampler, load_dataset
from envs import reference_returns
from envs.target_returns import default_target_returns
from infra.checkpoint_files import save_checkpoint
from infra.cpu_threads import ThreadsForFreeCores
from infra.device import resolve_device
from infra.errors import UsageError
from infra.progress import ProgressDisplay
from training.checkpointing import dataset_summary
from training.config import Args, args_to_dict, validate
from training.errors import Interrupted, NonFiniteLoss
from training.interrupts import StopRequests
from training.members import Members
from training.periodic_evaluation import PeriodicEvaluation
from training.run_folder import open_run_folder
from training.single_model import SingleModel


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
    """The loop, in a run folder this process holds the lock of."""
    # Seeding: one block, as CleanRL; each model's own seeding happens where it is built. The
    # windows come from CPU generators, saved in checkpoints (their state resumes anywhere).
    np.random.seed(args.seed)
    sampler = WindowSampler(
        dataset, args.context_length, device=device, from_episode_start=args.from_episode_start
    )
    trainee = (SingleModel if args.seeds is None else Members)(args, dataset, sampler, device)
    start = 0
    if checkpoint is not None:
        start = trainee.restore(checkpoint, str(run_dir / "checkpoint.pt"))

    references = reference_returns(dataset.env_id, dataset.ref_min_score, dataset.ref_max_score)
    background = args.eval_process == "background" or (
        args.eval_process == "auto" and device.type == "cuda"
    )
    evaluation = PeriodicEvaluation(
        background,
        env_id=dataset.env_id,
        env_kwargs=dataset.env_kwargs,
        targets=args.target_returns
        or default_target_returns(dataset.env_id, dataset.ref_max_score),
        episodes=args.eval_episodes,
        mode=args.eval_mode,
        seed=args.seed,
        references=references,
    )
    writer = SummaryWriter(run_dir, purge_step=start + 1 if start else None)  # drop lost steps
    if start == 0:
        rows = "\n".join(f"|{k}|{v}|" for k, v in args_to_dict(args).items())
        writer.add_text("config", f"|setting|value|\n|-|-|\n{rows}")
    summary = dataset_summary(dataset)

    def write_checkpoint(step: int) -> None:
        payload = trainee.payload(step, config=args_to_dict(args), dataset=summary)
        save_checkpoint(run_dir / "checkpoint.pt", payload)

    def checked(loss: torch.Tensor, step: int) -> dict[str, float]:
        scalars = trainee.loss_scalars(loss)
        for tag, value in scalars.items():
            if not math.isfinite(value):
                raise NonFiniteLoss(
                    f"{run_dir}: {tag} is {value} at step {step}; checkpoint.pt keeps the last "
                    "finite state (try a lower --learning-rate)"
                )
        return scalars

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    trainee.train()
    step, scalars = start, {}
    try:
        progress = ProgressDisplay(run_dir.name, args.steps, completed=start)
        # fewer threads while other processes keep cores busy
        with StopRequests() as stop, progress, ThreadsForFreeCores() as cpu_threads:
            window_start = time.perf_counter()
            for step in range(start + 1, args.steps + 1):
                cpu_threads.adjust()
                with autocast:
                    loss = trainee.loss(step)
                trainee.optimize(loss)

                if step % args.log_every == 0:  # the only host synchronisation of the loop
                    steps_per_second = args.log_every / (time.perf_counter() - window_start)
                    scalars = checked(loss, step)
                    for tag, value in scalars.items():
                        writer.add_scalar(tag, value, step)
                    learning_rate = trainee.scheduler.get_last_lr()[0]
                    writer.add_scalar("charts/learning_rate", learning_rate, step)
                    writer.add_scalar("charts/steps_per_second", steps_per_second, step)
                    progress.update(step, f"loss {scalars['losses/action_mse']:.4f}")
                    evaluation.drain(writer)
                    window_start = time.perf_counter()
                if args.eval_episodes > 0 and (step % args.eval_every == 0 or step == args.steps):
                    evaluation.submit(trainee.models(), step)
                    evaluation.drain(writer)
                stopping = stop.signal_number is not None
                if step % args.checkpoint_every == 0 or step == args.steps or stopping:
                    scalars = checked(loss, step)
                    writer.flush()
                    write_checkpoint(step)
                progress.update(step)
                if stopping:
                    evaluation.drain(writer, wait=True)
                    raise Interrupted(step, run_dir, stop.signal_number)
        evaluation.drain(writer, wait=True)
        log_hyperparameters(writer, args, {**evaluation.latest, **scalars}, step)
    finally:
        evaluation.close()
        writer.close()


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
