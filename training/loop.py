"""The training loop: sample windows, step the optimiser, log, evaluate, checkpoint."""

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from agents.checkpoint import save_checkpoint
from agents.device import resolve_device
from datasets import WindowSampler, load_dataset
from envs import reference_returns
from envs.target_returns import default_target_returns
from training.checkpointing import dataset_summary, restore, training_payload
from training.config import Args, args_to_dict, validate
from training.errors import Interrupted, NonFiniteLoss, UsageError
from training.interrupts import StopRequests
from training.objective import build_model, masked_action_loss
from training.optimization import make_optimizer, make_scheduler, optimization_step
from training.periodic_evaluation import PeriodicEvaluation
from training.progress import TrainingProgress
from training.run_folder import new_run_folder, remove_leftovers, resumed_checkpoint


def train(args: Args) -> Path:
    """Train (or, with args.resume, continue) one run; returns its folder.

    SIGINT/SIGTERM finish the current step, write a checkpoint and raise Interrupted."""
    validate(args)
    device = resolve_device(args.device)  # before anything is written
    dataset = load_dataset(args.dataset)
    if args.resume is None:
        run_dir, checkpoint = new_run_folder(args), None
    else:
        run_dir = args.resume
        remove_leftovers(run_dir)
        checkpoint = resumed_checkpoint(args)
    if checkpoint is not None and checkpoint["dataset"]["env_id"] != dataset.env_id:
        raise UsageError(f"--resume {run_dir}: checkpoint is for {checkpoint['dataset']['env_id']}")

    # Seeding: one block, as CleanRL. The sampler draws from its own CPU generator, saved in
    # checkpoints (a CPU generator's state resumes on any device).
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = build_model(args, dataset).to(device)
    sampler = WindowSampler(
        dataset, args.context_length, device=device, from_episode_start=args.from_episode_start
    )
    generator = torch.Generator().manual_seed(args.seed)
    optimizer = make_optimizer(model, args, device)
    scheduler = make_scheduler(optimizer, args)
    start = 0
    if checkpoint is not None:
        where = str(run_dir / "checkpoint.pt")
        start = restore(checkpoint, where, model, optimizer, scheduler, generator)
    # On CUDA, CUDA graphs: a DT-size step is hundreds of small kernels, bound by launches.
    compile_mode = "reduce-overhead" if device.type == "cuda" else None
    trained_model = torch.compile(model, mode=compile_mode) if args.compile else model

    references = reference_returns(dataset.env_id, dataset.ref_min_score, dataset.ref_max_score)
    background = args.eval_process == "background" or (
        args.eval_process == "auto" and device.type == "cuda"
    )
    evaluation = PeriodicEvaluation(
        background,
        env_id=dataset.env_id,
        targets=args.target_returns or default_target_returns(dataset.env_id),
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
        config = args_to_dict(args)
        payload = training_payload(model, optimizer, scheduler, generator, step, config, summary)
        save_checkpoint(run_dir / "checkpoint.pt", payload)

    def check_finite(loss: torch.Tensor, step: int) -> float:
        value = loss.item()
        if not math.isfinite(value):
            raise NonFiniteLoss(
                f"{run_dir}: the loss is {value} at step {step}; checkpoint.pt keeps the last "
                "finite state (try a lower --learning-rate)"
            )
        return value

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    model.train()
    step, loss = start, None
    try:
        with StopRequests() as stop, TrainingProgress(run_dir.name, args.steps, start) as progress:
            window_start = time.perf_counter()
            for step in range(start + 1, args.steps + 1):
                batch = sampler.sample(args.batch_size, generator)
                with autocast:
                    loss = masked_action_loss(trained_model, batch)
                optimization_step(model, optimizer, scheduler, loss, args.grad_clip)

                if step % args.log_every == 0:  # the only host synchronisation of the loop
                    elapsed = time.perf_counter() - window_start
                    value = check_finite(loss, step)
                    writer.add_scalar("losses/action_mse", value, step)
                    writer.add_scalar("charts/learning_rate", scheduler.get_last_lr()[0], step)
                    writer.add_scalar("charts/steps_per_second", args.log_every / elapsed, step)
                    progress.report(step, value, args.log_every / elapsed)
                    evaluation.drain(writer)
                    window_start = time.perf_counter()
                if args.eval_episodes > 0 and (step % args.eval_every == 0 or step == args.steps):
                    evaluation.submit(model, step)
                    evaluation.drain(writer)
                stopping = stop.signal_number is not None
                if step % args.checkpoint_every == 0 or step == args.steps or stopping:
                    check_finite(loss, step)
                    writer.flush()
                    write_checkpoint(step)
                progress.advance(step)
                if stopping:
                    evaluation.drain(writer, wait=True)
                    raise Interrupted(step, run_dir, stop.signal_number)
        evaluation.drain(writer, wait=True)
        log_hyperparameters(writer, args, evaluation.latest, loss, step)
    finally:
        evaluation.close()
        writer.close()
    return run_dir


def log_hyperparameters(writer: SummaryWriter, args: Args, scores: dict, loss, step: int) -> None:
    """The settings and the final metrics, for TensorBoard's HParams tab (which takes numbers,
    strings and booleans only)."""
    settings = args_to_dict(dataclasses.replace(args, resume=None, out_dir=None))
    backbone = settings.pop("backbone")
    settings["backbone"] = backbone["type"]
    settings.update({f"backbone.{k}": v for k, v in backbone["params"].items()})
    hparams = {
        name: value if isinstance(value, int | float | str | bool) else str(value)
        for name, value in settings.items()
    }
    metrics = {f"hparams/{tag.removeprefix('eval/')}": value for tag, value in scores.items()}
    if loss is not None:
        metrics["hparams/final_action_mse"] = loss.item()
    writer.add_hparams(hparams, metrics, run_name=".", global_step=step)
