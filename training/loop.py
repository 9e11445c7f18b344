"""The training loop: sample windows, step the optimiser, log, evaluate, checkpoint."""

import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.utils.tensorboard import SummaryWriter

from agents.checkpoint import model_payload, save_checkpoint
from agents.device import resolve_device
from datasets import OfflineDataset, WindowSampler, load_dataset
from envs import evaluate_model, normalized_score, reference_returns
from envs.target_returns import default_target_returns
from training.config import Args, args_to_dict, validate
from training.errors import UsageError
from training.objective import build_model, masked_action_loss
from training.optimization import make_optimizer, make_scheduler, optimization_step
from training.run_folder import prepare_run_folder


def evaluate(model, args: Args, dataset: OfflineDataset, writer: SummaryWriter, step: int) -> None:
    references = reference_returns(dataset.env_id, dataset.ref_min_score, dataset.ref_max_score)
    targets = args.target_returns or default_target_returns(dataset.env_id)
    for target in targets:
        stats = evaluate_model(
            model,
            env_id=dataset.env_id,
            target_return=target,
            episodes=args.eval_episodes,
            mode=args.eval_mode,
            seed=args.seed,
        )
        scores = normalized_score(stats.returns, references.ref_min, references.ref_max)
        writer.add_scalar(f"eval/normalized_score_{target:g}", scores.mean(), step)
        writer.add_scalar(f"eval/return_{target:g}", stats.returns.mean(), step)
        writer.add_scalar(f"eval/episode_length_{target:g}", stats.lengths.mean(), step)


def train(args: Args) -> Path:
    """Train (or, with args.resume, continue) one run; returns its folder."""
    validate(args)
    dataset = load_dataset(args.dataset)
    run_dir, checkpoint = prepare_run_folder(args)
    if checkpoint is not None and checkpoint["dataset"]["env_id"] != dataset.env_id:
        raise UsageError(f"--resume {run_dir}: checkpoint is for {checkpoint['dataset']['env_id']}")
    device = resolve_device(args.device)

    # Seeding: one block, as CleanRL. The sampler has its own generator, saved in checkpoints.
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = build_model(args, dataset).to(device)
    sampler = WindowSampler(
        dataset, args.context_length, device=device, from_episode_start=args.from_episode_start
    )
    generator = torch.Generator(device=device).manual_seed(args.seed)
    optimizer = make_optimizer(model, args, device)
    scheduler = make_scheduler(optimizer, args)
    start = 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"]["state_dict"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        generator.set_state(checkpoint["rng"]["sampler"])
        if device.type == "cuda" and "cuda" in checkpoint["rng"]:
            torch.cuda.set_rng_state(checkpoint["rng"]["cuda"])
        start = checkpoint["step"]
    trained_model = torch.compile(model) if args.compile else model

    writer = SummaryWriter(run_dir, purge_step=start + 1 if start else None)  # drop lost steps
    if start == 0:
        rows = "\n".join(f"|{k}|{v}|" for k, v in args_to_dict(args).items())
        writer.add_text("config", f"|setting|value|\n|-|-|\n{rows}")

    def write_checkpoint(step: int) -> None:
        rng = {"torch": torch.get_rng_state(), "sampler": generator.get_state()}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state()
        payload = {
            "model": model_payload(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng,
            "step": step,
            "config": args_to_dict(args),
            "dataset": {
                "id": dataset.dataset_id,
                "env_id": dataset.env_id,
                "ref_min_score": dataset.ref_min_score,
                "ref_max_score": dataset.ref_max_score,
            },
        }
        save_checkpoint(run_dir / "checkpoint.pt", payload)

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    model.train()
    progress = Progress(
        TextColumn(f"[bold]{run_dir.name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeRemainingColumn(),
        disable=not sys.stderr.isatty(),
    )
    with progress:
        task = progress.add_task("train", total=args.steps, completed=start, loss="-")
        window_start = time.perf_counter()
        for step in range(start + 1, args.steps + 1):
            batch = sampler.sample(args.batch_size, generator)
            with autocast:
                loss = masked_action_loss(trained_model, batch)
            optimization_step(model, optimizer, scheduler, loss, args.grad_clip)

            if step % args.log_every == 0:  # the only host synchronisation of the loop
                elapsed = time.perf_counter() - window_start
                writer.add_scalar("losses/action_mse", loss.item(), step)
                writer.add_scalar("charts/learning_rate", scheduler.get_last_lr()[0], step)
                writer.add_scalar("charts/steps_per_second", args.log_every / elapsed, step)
                progress.update(task, loss=f"{loss.item():.4f}")
                window_start = time.perf_counter()
            if args.eval_episodes > 0 and (step % args.eval_every == 0 or step == args.steps):
                evaluate(model, args, dataset, writer, step)
                model.train()
            if step % args.checkpoint_every == 0 or step == args.steps:
                writer.flush()
                write_checkpoint(step)
            progress.update(task, completed=step)
    writer.close()
    return run_dir
